"""Type-check the device files against the ESP32 port's own API (micropython-esp32-stubs).

This is the layer that notices a `machine.PWM` method that does not exist on the ESP32,
or a wrong argument type to `machine.Pin`, before a board ever sees the code.

How it is wired, and why:
- micropython-esp32-stubs installs top-level `.pyi` files (machine, network, time, ...)
  into site-packages, where mypy does not look for them. They are copied into a temporary
  folder that goes on `mypy_path`.
- micropython-stdlib-stubs ships a reduced typeshed (`stdlib/`): it becomes mypy's
  `custom_typeshed_dir`, so CPython's stdlib stubs (whose `time` has no `ticks_ms` and whose
  `asyncio` has no `sleep_ms`) never hide the MicroPython ones.
- That reduced typeshed lacks `asyncio/futures.pyi`; a one-line stand-in is written so
  `await asyncio.wait_for(coro, t)` keeps the coroutine's result type.
- `check_untyped_defs`: device code is mostly unannotated, and mypy skips the bodies of
  unannotated functions unless told otherwise.
- The copied stubs have errors of their own; those are not ours to fix, so the stub
  modules get `ignore_errors`.
- mdns_client and micropython-lib's logging (third-party, staged in build/device_lib by
  `make setup`) are analysed for their types but their own errors are silenced; where
  logging is not staged, a missing import of it is tolerated.

Two self-tests run the same configuration over scratch code: one must report the planted
mistakes, one must accept correct MicroPython idioms, so this check cannot pass vacuously.
"""

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FILES_TO_LOAD = REPO / "files_to_load"
DEVICE_LIB = REPO / "build" / "device_lib"

DEVICE_FILES = sorted(p.relative_to(FILES_TO_LOAD).as_posix() for p in FILES_TO_LOAD.rglob("*.py"))

# Imports that may legitimately have no stub: micropython-lib packages installed with mip.
MISSING_IMPORTS_OK = ("logging",)

# "path:line: error: message  [code]" and the same for notes, as printed by mypy.
MYPY_LINE = re.compile(
    r"^(?P<path>[^:\n]+\.pyi?):(?P<line>\d+): (?P<kind>error|note): (?P<msg>.*)$"
)


def _copy_dist(dist_name, dest_for):
    """Copy the .pyi files (and typeshed's VERSIONS) of an installed distribution.

    dest_for(relative_path) returns the destination folder root for that file.
    """
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{dist_name} is not installed in this interpreter: run `make setup`")
    copied = 0
    for rel in dist.files or ():
        rel_s = str(rel)
        if not (rel_s.endswith(".pyi") or rel_s.endswith("/VERSIONS")):
            continue
        dest = dest_for(rel_s) / rel_s
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dist.locate_file(rel), dest)
        copied += 1
    assert copied, f"{dist_name} installed no stub files"


def _stub_modules(stub_dir):
    """Module patterns for every stub on mypy_path, for the ignore_errors section."""
    names = []
    for entry in sorted(stub_dir.iterdir()):
        if entry.is_dir():
            names.append(entry.name + ".*")
            names.append(entry.name)
        elif entry.suffix == ".pyi":
            names.append(entry.stem)
    return names


def _write_config(root):
    """Build the stub tree and mypy config under root; return the config path."""
    typeshed = root / "typeshed"
    stubs = root / "stubs"
    # stdlib/ and stubs/ of micropython-stdlib-stubs form a typeshed tree; its
    # _mpy_shed helper package is imported by the ESP32 stubs, so it sits beside them.
    _copy_dist(
        "micropython-stdlib-stubs",
        lambda rel: typeshed if rel.startswith(("stdlib/", "stubs/")) else stubs,
    )
    _copy_dist("micropython-esp32-stubs", lambda rel: stubs)
    # micropython-stdlib-stubs 1.29.0.post2 imports `asyncio.futures` but does not ship it;
    # unresolved, `Future` becomes Any and `await asyncio.wait_for(...)` loses its result
    # type. Its own `_asyncio` keeps a minimal `_Future` base for exactly this module.
    futures = typeshed / "stdlib" / "asyncio" / "futures.pyi"
    if not futures.exists():
        futures.write_text("from _asyncio import _Future as Future\n")

    mypy_path = [str(stubs)]
    lines = [
        "[mypy]",
        f"custom_typeshed_dir = {typeshed}",
        "no_site_packages = True",
        "check_untyped_defs = True",
        "explicit_package_bases = True",
        # A targeted `# type: ignore[code]` that no longer matches anything is reported.
        "warn_unused_ignores = True",
        "show_error_codes = True",
        "show_column_numbers = False",
        "pretty = False",
        f"cache_dir = {root / 'cache'}",
        "",
        "[mypy-" + ",".join(_stub_modules(stubs)) + "]",
        "ignore_errors = True",
        "",
        "[mypy-" + ",".join(m for n in MISSING_IMPORTS_OK for m in (n, n + ".*")) + "]",
        "ignore_missing_imports = True",
        "",
    ]
    if (DEVICE_LIB / "mdns_client").is_dir():
        mypy_path.append(str(DEVICE_LIB))
        # Third-party code staged beside it (micropython-lib logging too): its types, not its errors.
        lines += ["[mypy-mdns_client,mdns_client.*,logging]", "follow_imports = silent", ""]
    else:
        lines += ["[mypy-mdns_client,mdns_client.*]", "ignore_missing_imports = True", ""]
    lines.insert(1, "mypy_path = " + os.pathsep.join(mypy_path))
    config = root / "mypy.ini"
    config.write_text("\n".join(lines))
    return config


def run_mypy(config, cwd, files):
    """Run mypy from cwd over files (relative to cwd); return (returncode, output, by_file)."""
    env = dict(os.environ)
    env.pop("MYPYPATH", None)  # the config says exactly where stubs come from
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config), *files],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = proc.stdout + proc.stderr
    by_file = {}
    for line in output.splitlines():
        m = MYPY_LINE.match(line)
        if m and m.group("kind") == "error":
            by_file.setdefault(Path(m.group("path")).as_posix(), []).append(line)
    return proc.returncode, output, by_file


@pytest.fixture(scope="module")
def mypy_config(tmp_path_factory):
    return _write_config(tmp_path_factory.mktemp("esp32_stubs"))


@pytest.fixture(scope="module")
def device_check(mypy_config):
    if not DEVICE_FILES:
        pytest.fail("files_to_load/ holds no .py files to type-check")
    return run_mypy(mypy_config, FILES_TO_LOAD, DEVICE_FILES)


@pytest.mark.parametrize(
    "rel", DEVICE_FILES or [pytest.param(None, marks=pytest.mark.skip(reason="no device files"))]
)
def test_device_file_types(device_check, rel):
    _, output, by_file = device_check
    errors = by_file.get(rel, [])
    assert not errors, f"mypy (ESP32 stubs) rejects files_to_load/{rel}:\n" + "\n".join(errors)


def test_mypy_run_is_clean(device_check):
    """Errors outside the checked files (config, stubs, crashes) must not slip by."""
    code, output, by_file = device_check
    stray = {path: errs for path, errs in by_file.items() if path not in DEVICE_FILES}
    assert not stray, "mypy errors outside files_to_load:\n" + output
    if not by_file:
        assert code == 0, "mypy failed without a file error:\n" + output


BAD_DEVICE_CODE = '''
import time
from machine import PWM, Pin


def drive(pin_no):
    # Unannotated on purpose: the check must look inside untyped functions too.
    pwm = PWM(Pin(pin_no, Pin.OUT), freq=1000, duty_u16=0)
    pwm.duty_percent(50)
    Pin(pin_no, "out")
    return time.ticks_since(0)
'''

GOOD_DEVICE_CODE = '''
import asyncio
import time

import machine
import network
from machine import PWM, Pin
from micropython import const

_FREQ = const(1000)


def drive(pin_no, level):
    pwm = PWM(Pin(pin_no, Pin.OUT), freq=_FREQ, duty_u16=0)
    pwm.duty_u16(level)
    pwm.freq(_FREQ)
    button = Pin(34, Pin.IN)
    start = time.ticks_ms()
    deadline = time.ticks_add(start, 500)
    return button.value(), time.ticks_diff(deadline, time.ticks_ms()), time.gmtime(0)[0]


async def tick(wdt):
    wdt.feed()
    await asyncio.sleep_ms(10)
    await asyncio.wait_for(asyncio.sleep(0), 1)


def start():
    # The stubs lack the ESP32 keywords of LAN: one targeted ignore, as the firmware does.
    lan = network.LAN(  # type: ignore[call-arg]
        mdc=Pin(23), mdio=Pin(18), power=Pin(12), phy_type=network.PHY_LAN8720,
        phy_addr=0, ref_clk=Pin(17), ref_clk_mode=Pin.OUT,
    )
    lan.active(True)
    return lan.ifconfig(), machine.WDT(timeout=8000), machine.reset_cause()
'''


def test_planted_mistakes_are_reported(mypy_config, tmp_path):
    (tmp_path / "ven").mkdir()
    (tmp_path / "ven" / "bad.py").write_text(textwrap.dedent(BAD_DEVICE_CODE))
    code, output, by_file = run_mypy(mypy_config, tmp_path, ["ven/bad.py"])
    errors = "\n".join(by_file.get("ven/bad.py", []))
    assert code == 1, output
    assert '"PWM" has no attribute "duty_percent"' in errors, output
    assert 'Argument 2 to "Pin" has incompatible type "str"' in errors, output
    # Proves `time` comes from the MicroPython stubs: CPython's has no ticks_* at all,
    # so the message would differ, and the good-code test would fail on ticks_ms.
    assert 'Module has no attribute "ticks_since"' in errors, output


WAIT_FOR_CODE = '''
import asyncio


async def _number() -> int:
    return 1


async def use():
    n = await asyncio.wait_for(_number(), 1)
    return n + "x"
'''


def test_wait_for_keeps_result_type(mypy_config, tmp_path):
    """Guards the asyncio.futures stand-in: without it the result is Any, the bug unseen."""
    (tmp_path / "ven").mkdir()
    (tmp_path / "ven" / "wf.py").write_text(textwrap.dedent(WAIT_FOR_CODE))
    code, output, by_file = run_mypy(mypy_config, tmp_path, ["ven/wf.py"])
    assert 'Unsupported operand types for + ("int" and "str")' in output, output


def test_correct_micropython_idioms_pass(mypy_config, tmp_path):
    (tmp_path / "ven").mkdir()
    (tmp_path / "ven" / "good.py").write_text(textwrap.dedent(GOOD_DEVICE_CODE))
    code, output, _ = run_mypy(mypy_config, tmp_path, ["ven/good.py"])
    assert code == 0, output
