"""Run the device-independent tests on real MicroPython (1.27, WebAssembly port, Node).

The same tests/portable/test_*.py modules that pytest runs on CPython run here on the
VM through tests/mpvm/run_portable.mjs, one pytest test per module, each in a fresh VM.
Every device file (and the staged third-party libraries) is also compiled by the VM's
own compiler, which is the target release (mpy-cross on the host is newer).

Needs `node` (skipped with a reason if absent) and tests/mpvm/node_modules from `npm ci`
(`make setup`; missing tests/mpvm/node_modules is a failure, not a skip).
"""

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HARNESS = REPO / "tests" / "mpvm" / "run_portable.mjs"
PORTABLE = REPO / "tests" / "portable"
FILES_TO_LOAD = REPO / "files_to_load"
DEVICE_LIB = REPO / "build" / "device_lib"
VM_PACKAGE = REPO / "tests" / "mpvm" / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"
NODE = shutil.which("node")
TIMEOUT_S = 120

pytestmark = pytest.mark.skipif(
    NODE is None, reason="node is not installed: the MicroPython VM runs under Node"
)

PORTABLE_MODULES = sorted(PORTABLE.glob("test_*.py"))


def _py_files(root):
    if not root.is_dir():
        return []
    return sorted(
        p.relative_to(REPO).as_posix() for p in root.rglob("*.py") if "__pycache__" not in p.parts
    )


DEVICE_FILES = _py_files(FILES_TO_LOAD)
LIB_FILES = _py_files(DEVICE_LIB)


def run_harness(*args):
    """Run the Node harness from the repo root; return (returncode, output, results)."""
    if not VM_PACKAGE.is_dir():
        pytest.fail(f"{VM_PACKAGE.relative_to(REPO)} missing: run `make setup` (npm ci)")
    proc = subprocess.run(
        [NODE, str(HARNESS), *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    output = proc.stdout + proc.stderr
    results = {}
    for line in proc.stdout.splitlines():
        tag, _, payload = line.partition(" ")
        if tag in ("MPVM-RESULT", "MPVM-COMPILE"):
            results.setdefault(tag, []).append(json.loads(payload))
    return proc.returncode, output, results


def test_portable_tests_exist():
    assert PORTABLE_MODULES, "no tests/portable/test_*.py: nothing would run on MicroPython"


@pytest.mark.parametrize("module", PORTABLE_MODULES, ids=lambda p: p.name)
def test_portable_module_on_micropython(module):
    code, output, results = run_harness(module)
    assert "MPVM-RESULT" in results, f"harness gave no result line:\n{output}"
    total = results["MPVM-RESULT"][-1]
    assert code == 0 and not total["failed"], f"{module.name} fails on MicroPython:\n{output}"
    assert total["run"] > 0, f"{module.name} ran no tests on MicroPython:\n{output}"


@pytest.fixture(scope="module")
def vm_compile():
    files = DEVICE_FILES + LIB_FILES
    if not files:
        return {}
    code, output, results = run_harness("--compile", *files)
    by_file = {r["file"]: r for r in results.get("MPVM-COMPILE", [])}
    assert set(by_file) == set(files), f"harness did not report every file:\n{output}"
    return by_file


@pytest.mark.parametrize("rel", DEVICE_FILES + LIB_FILES)
def test_compiles_on_micropython(vm_compile, rel):
    r = vm_compile[rel]
    assert r["ok"], f"MicroPython 1.27 rejects {rel}:\n{r['error']}"


# Self-tests of the harness on scratch code, so a broken harness cannot report success.

def _scratch(tmp_path, tests):
    ven = tmp_path / "ven"
    ven.mkdir()
    (ven / "__init__.py").write_text("")
    (ven / "calc.py").write_text("def double(x):\n    return 2 * x\n")
    tdir = tmp_path / "portable"
    tdir.mkdir()
    paths = []
    for name, body in tests.items():
        path = tdir / name
        path.write_text(textwrap.dedent(body))
        paths.append(path)
    return ven, paths


def test_harness_counts_passes_failures_and_errors(tmp_path):
    ven, (good, bad) = _scratch(
        tmp_path,
        {
            "test_good.py": """
                import unittest
                from ven import calc

                class T(unittest.TestCase):
                    def test_double(self):
                        self.assertEqual(calc.double(2), 4)

                    @unittest.skip("shows up as skipped")
                    def test_skipped(self):
                        pass
            """,
            "test_bad.py": """
                import unittest
                from ven import calc

                class T(unittest.TestCase):
                    def test_wrong(self):
                        self.assertEqual(calc.double(2), 5)

                    def test_raises(self):
                        {}["missing"]
            """,
        },
    )
    code, output, results = run_harness("--ven", ven, good)
    assert code == 0, output
    total = results["MPVM-RESULT"][-1]
    assert (total["run"], total["skipped"]) == (2, 1), output

    code, output, results = run_harness("--ven", ven, good, bad)
    total = results["MPVM-RESULT"][-1]
    assert code == 1, output
    counts = (total["modules"], total["run"], total["failures"], total["errors"])
    assert counts == (2, 4, 1, 1), output
    assert len(total["failed"]) == 1 and total["failed"][0].endswith("test_bad.py"), output


def test_harness_fails_on_import_error_and_empty_module(tmp_path):
    ven, (broken, empty) = _scratch(
        tmp_path,
        {
            "test_broken.py": "import socket  # absent from this port\n",
            "test_empty.py": "import unittest\n",
        },
    )
    for path in (broken, empty):
        code, output, results = run_harness("--ven", ven, path)
        assert code == 1, output
        assert results["MPVM-RESULT"][-1]["failed"], output


def test_harness_runs_a_script_with_ven_on_path(tmp_path):
    ven, _ = _scratch(tmp_path, {})
    script = tmp_path / "probe.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, asyncio, micropython
            from ven import calc

            async def main():
                await asyncio.sleep_ms(1)
                print("double", calc.double(21), sys.implementation.name)
                micropython.mem_info()

            await main()
            sys.exit(int(sys.argv[1]))
            """
        )
    )
    code, output, _ = run_harness("--ven", ven, "--heap", "64k", "--file", script, "--", "3")
    assert code == 3, output
    assert "double 42 micropython" in output and "GC: total:" in output, output
