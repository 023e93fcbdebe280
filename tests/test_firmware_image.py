"""make firmware (tools/build_firmware.py) and the image's freezing manifest.

Nothing here needs Docker, ESP-IDF or the network:
- the build's steps are checked in --dry-run mode, with stand-in `docker` and a
  stand-in ESP-IDF folder (export.sh, tools/idf.py, tools/cmake/version.cmake)
  that record any call (none may happen), so the mode chosen never depends on
  this machine;
- the real run is only started where it must stop before doing anything
  (no engine and no IDF, an engine that does not answer, a wrong IDF version,
  a stale MicroPython folder);
- firmware/manifest.py is resolved with MicroPython 1.27.0's own
  tools/manifestfile.py against ports/esp32, as the ESP32 build does, from the
  source tarball beside the checkout (tools.mpboard.vm.source_tree(); skipped
  with the reason when ../shared is absent).
"""
import hashlib
import importlib.util
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.host.test_stage_device_libs import need_staged  # noqa: E402
from tools import build_firmware as bf  # noqa: E402
from tools import stage_device_libs as sdl  # noqa: E402
from tools.mpboard import vm  # noqa: E402

# The pins, spelled out: changing one must change this test too.
MP_TAG = "v1.27.0"
MP_COMMIT = "78ff170de9e32c79db6e64d3e33d2bd60002bdcd"
MP_URL = "https://github.com/micropython/micropython.git"
IDF = "v5.5.1"
IMAGE = "docker.io/espressif/idf:v5.5.1"
BOARD = "OLIMEX_ESP32_POE"
MANIFEST = REPO / "firmware" / "manifest.py"
STAGED = REPO / "build" / "device_lib"

STEP_TITLES = [
    "check the build environment",
    "fetch MicroPython v1.27.0 (78ff170de9e32c79db6e64d3e33d2bd60002bdcd)",
    "the submodules the esp32 port needs",
    "stage the device libraries",
    "build mpy-cross",
    "build the image with firmware/manifest.py frozen in",
    "copy ",
]


def test_pins_match_micropython_1_27_0():
    assert (bf.MICROPYTHON_TAG, bf.MICROPYTHON_COMMIT, bf.MICROPYTHON_URL) == (MP_TAG, MP_COMMIT, MP_URL)
    assert (bf.IDF_VERSION, bf.IDF_IMAGE, bf.BOARD) == (IDF, IMAGE, BOARD)


def test_pinned_idf_is_the_one_micropython_1_27_0_names():
    """ports/esp32/README.md recommends it; the component lockfile pins it (CI builds with it)."""
    tree = source_tree()
    readme = Path(tree, "ports", "esp32", "README.md").read_text()
    assert "recommended version of ESP-IDF for MicroPython is {}".format(IDF) in readme
    lock = Path(tree, "ports", "esp32", "lockfiles", "dependencies.lock.esp32").read_text()
    assert "  idf:\n    source:\n      type: idf\n    version: {}\n".format(IDF[1:]) in lock
    assert Path(tree, "ports", "esp32", "boards", BOARD, "mpconfigboard.cmake").is_file()


# --- stand-ins for the build environment ------------------------------------

def write_tool(path, log):
    """An executable that records its arguments and fails (nothing may call it in a dry run)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\necho \"$0 $*\" >> '{}'\nexit 1\n".format(log))
    path.chmod(0o755)
    return path


@pytest.fixture
def stand_ins(tmp_path):
    """bin/docker and an ESP-IDF folder at v5.5.1, all recording calls to calls.log."""
    log = tmp_path / "calls.log"
    docker = write_tool(tmp_path / "bin" / "docker", log)
    idf = tmp_path / "esp-idf"
    write_tool(idf / "export.sh", log)
    write_tool(idf / "tools" / "idf.py", log)
    set_idf_version(idf, "5.5.1")
    (tmp_path / "empty").mkdir()
    return {"log": log, "docker": docker, "bin": docker.parent, "idf": idf, "empty": tmp_path / "empty",
            "out": tmp_path / "out"}


def set_idf_version(idf, version):
    major, minor, patch = version.split(".")
    (idf / "tools" / "cmake").mkdir(parents=True, exist_ok=True)
    (idf / "tools" / "cmake" / "version.cmake").write_text(
        "set(IDF_VERSION_MAJOR {})\nset(IDF_VERSION_MINOR {})\nset(IDF_VERSION_PATCH {})\n\n"
        "set(ENV{{IDF_VERSION}} \"${{IDF_VERSION_MAJOR}}.${{IDF_VERSION_MINOR}}.${{IDF_VERSION_PATCH}}\")\n"
        .format(major, minor, patch))


def build_firmware(s, *args, path=None, idf=False, extra_env=None):
    """Run `python -m tools.build_firmware` with only the stand-ins (or nothing) on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("IDF_PATH", bf.ENGINE_ENV, bf.ALLOW_ENV)}
    env["PATH"] = str(path if path is not None else s["bin"])
    if idf:
        env["IDF_PATH"] = str(s["idf"])
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "tools.build_firmware", "--out", str(s["out"])] + list(args),
                          cwd=str(REPO), env=env, capture_output=True, text=True, timeout=60)


def parse_dry_run(stdout):
    """(step comments "N/7 title", commands as argv lists) of a dry run, in order."""
    steps, commands = [], []
    for line in stdout.splitlines():
        if line.startswith("# ") and line[2:3].isdigit():
            steps.append(line[2:])
        elif line.strip() and not line.startswith("#"):
            commands.append(shlex.split(line, comments=True))
    return steps, commands


def assert_steps_in_order(steps):
    assert len(steps) == len(STEP_TITLES), steps
    for n, (step, title) in enumerate(zip(steps, STEP_TITLES), 1):
        assert step.startswith("{}/{} {}".format(n, len(STEP_TITLES), title)), step


def common_commands(out):
    mp = str(out / "micropython")
    return mp, [
        ["git", "-c", "advice.detachedHead=false", "clone", "--depth", "1", "--branch", MP_TAG, MP_URL, mp],
        ["git", "-C", mp, "rev-parse", "HEAD"],
    ]


def test_dry_run_container_mode(stand_ins):
    s = stand_ins
    r = build_firmware(s, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert not s["log"].exists(), "a dry run called: " + s["log"].read_text()
    steps, commands = parse_dry_run(r.stdout)
    assert_steps_in_order(steps)
    assert "ESP-IDF v5.5.1 in container docker.io/espressif/idf:v5.5.1 (docker)" in r.stdout.splitlines()[0]

    out, repo, docker = s["out"], str(REPO), str(s["docker"])
    mp, fetch = common_commands(out)
    port = mp + "/ports/esp32"
    run = [docker, "run", "--rm", "--name"]
    opts = ["-u", "{}:{}".format(os.getuid(), os.getgid()), "-e", "HOME=/tmp",
            "-v", "{0}:{0}".format(repo), "-v", "{0}:{0}".format(out), "-w", repo, IMAGE]
    assert commands == [
        [docker, "info"],
        [docker, "pull", IMAGE],
        *fetch,
        run + ["ven-firmware-submodules"] + opts + ["make", "-C", port, "BOARD=" + BOARD, "submodules"],
        [sys.executable, "-m", "tools.stage_device_libs"],
        run + ["ven-firmware-mpy-cross"] + opts + ["make", "-C", mp + "/mpy-cross"],
        run + ["ven-firmware-build"] + opts + ["make", "-C", port, "BOARD=" + BOARD,
                                               "FROZEN_MANIFEST=" + str(MANIFEST)],
    ]
    assert "{}/build-{}/firmware.bin to {}".format(port, BOARD, out / "firmware.bin") in steps[-1]
    assert str(out / "firmware.txt") in steps[-1]
    assert not out.exists()


def test_dry_run_idf_mode(stand_ins):
    """IDF_PATH set: the local ESP-IDF is used even with docker on PATH."""
    s = stand_ins
    r = build_firmware(s, "--dry-run", idf=True)
    assert r.returncode == 0, r.stderr
    assert not s["log"].exists(), "a dry run called: " + s["log"].read_text()
    steps, commands = parse_dry_run(r.stdout)
    assert_steps_in_order(steps)
    assert "local ESP-IDF v5.5.1 at {}".format(s["idf"]) in r.stdout.splitlines()[0]

    mp, fetch = common_commands(s["out"])
    port = mp + "/ports/esp32"

    def in_idf(*argv):
        return ["bash", "-c", ". {}/export.sh > /dev/null && exec {}".format(s["idf"], " ".join(argv))]

    assert commands == [
        in_idf("idf.py", "--version"),
        *fetch,
        in_idf("make", "-C", port, "BOARD=" + BOARD, "submodules"),
        [sys.executable, "-m", "tools.stage_device_libs"],
        ["make", "-C", mp + "/mpy-cross"],
        in_idf("make", "-C", port, "BOARD=" + BOARD, "FROZEN_MANIFEST=" + str(MANIFEST)),
    ]
    assert not any(str(s["docker"]) in c for cmd in commands for c in cmd)


def test_mode_flag_overrides_the_automatic_choice(stand_ins):
    s = stand_ins
    r = build_firmware(s, "--dry-run", "--mode", "container", idf=True)
    assert r.returncode == 0, r.stderr
    assert parse_dry_run(r.stdout)[1][0] == [str(s["docker"]), "info"]
    r = build_firmware(s, "--dry-run", "--mode", "idf")  # no IDF_PATH
    assert r.returncode == 1 and "IDF_PATH is not set" in r.stderr


def test_a_wrong_idf_version_is_refused(stand_ins):
    s = stand_ins
    set_idf_version(s["idf"], "5.4.2")
    for args in (["--dry-run"], []):
        r = build_firmware(s, *args, idf=True)
        assert r.returncode == 1
        assert r.stdout == ""
        assert "is v5.4.2, but this image is pinned to v5.5.1" in r.stderr
        assert "--mode container" in r.stderr and "--allow-other-idf" in r.stderr and bf.ALLOW_ENV in r.stderr
    assert not s["log"].exists() and not s["out"].exists()
    # Allowed on request (flag or variable), and said so.
    for args, extra in ((["--allow-other-idf"], None), ([], {bf.ALLOW_ENV: "1"})):
        r = build_firmware(s, "--dry-run", *args, idf=True, extra_env=extra)
        assert r.returncode == 0, r.stderr
        assert "local ESP-IDF v5.4.2" in r.stdout
        assert "# note: ESP-IDF v5.4.2 instead of the pinned v5.5.1" in r.stdout
    assert not s["log"].exists()


def test_not_an_idf_folder_is_refused(stand_ins):
    s = stand_ins
    (s["idf"] / "tools" / "cmake" / "version.cmake").unlink()
    r = build_firmware(s, "--dry-run", idf=True)
    assert r.returncode == 1 and "is not an ESP-IDF" in r.stderr


def test_no_engine_and_no_idf_says_what_is_missing(stand_ins):
    s = stand_ins
    r = build_firmware(s, path=s["empty"])
    assert r.returncode == 1
    assert "found neither a container engine (docker or" in r.stderr and "IDF_PATH is not set" in r.stderr
    # The two ways to get one, with the pinned versions.
    assert "install Docker or Podman" in r.stderr and IMAGE in r.stderr
    assert "install ESP-IDF v5.5.1 and set IDF_PATH" in r.stderr
    assert "git clone -b v5.5.1 --recursive https://github.com/espressif/esp-idf.git" in r.stderr
    assert not s["out"].exists()
    # A dry run still shows the container way, and says a real run would stop.
    r = build_firmware(s, "--dry-run", path=s["empty"])
    assert r.returncode == 0, r.stderr
    assert "# note: neither docker/podman nor IDF_PATH found" in r.stdout
    assert_steps_in_order(parse_dry_run(r.stdout)[0])


def test_an_engine_that_does_not_answer_stops_the_build_first(stand_ins):
    s = stand_ins
    r = build_firmware(s)  # the stand-in docker fails every call
    assert r.returncode == 1
    assert s["log"].read_text().split("\n")[:-1] == ["{} info".format(s["docker"])]
    assert "step 1/7" in r.stderr and "does not answer" in r.stderr and "IDF_PATH" in r.stderr
    assert not s["out"].exists()


def test_a_stale_micropython_folder_is_refused(stand_ins, tmp_path):
    s = stand_ins
    s["docker"].write_text("#!/bin/sh\necho \"$0 $*\" >> '{}'\nexit 0\n".format(s["log"]))
    (s["out"] / "micropython").mkdir(parents=True)
    env_path = "{}:{}".format(s["bin"], os.environ.get("PATH", ""))  # git is needed here
    r = build_firmware(s, path=env_path)
    assert r.returncode == 1
    assert "micropython exists but is not MicroPython v1.27.0" in r.stderr and "remove it" in r.stderr
    assert [line.split()[1] for line in s["log"].read_text().splitlines()] == ["info", "pull"]


def test_finish_copies_the_image_and_records_versions(tmp_path):
    env = bf.Environment("idf", idf_path="/opt/esp-idf", idf=IDF)
    plan = bf.Plan(env, out=str(tmp_path / "out"))
    build = Path(plan.build_dir)
    build.mkdir(parents=True)
    image = b"\xe9" + bytes(range(256)) * 40
    (build / "firmware.bin").write_bytes(image)
    (build / "sdkconfig").write_text("#\n# Automatically generated file. DO NOT EDIT.\n"
                                     "# Espressif IoT Development Framework (ESP-IDF) 5.5.1 Project Configuration\n#\n")
    import datetime
    text = bf.finish(plan, describe="abc1234-dirty",
                     now=datetime.datetime(2026, 12, 2, 10, 0, 0, tzinfo=datetime.timezone.utc))
    out = tmp_path / "out"
    assert (out / "firmware.bin").read_bytes() == image
    assert (out / "firmware.txt").read_text() == text
    fields = dict(line.split(": ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert fields == {
        "file": "firmware.bin",
        "sha256": hashlib.sha256(image).hexdigest(),
        "size": str(len(image)),
        "flash_offset": "0x1000",
        "board": BOARD,
        "micropython": "{} {}".format(MP_TAG, MP_COMMIT),
        "esp_idf": IDF,
        "built_with": "local ESP-IDF at /opt/esp-idf",
        "manifest": "firmware/manifest.py (the port's boards/manifest.py + firmware/app_manifest.py)",
        "app": "abc1234-dirty",
        "built": "2026-12-02T10:00:00Z",
    }
    # An image from another ESP-IDF than the one checked is not passed off as pinned.
    (build / "sdkconfig").write_text("# Espressif IoT Development Framework (ESP-IDF) 5.4.2 Project Configuration\n")
    with pytest.raises(bf.FirmwareError, match="ESP-IDF v5.4.2"):
        bf.finish(plan, describe="x")


# --- the manifest, resolved by MicroPython's own tools/manifestfile.py ------

def source_tree():
    try:
        return vm.source_tree()
    except vm.Unavailable as e:
        pytest.skip(str(e))


def manifestfile(tree):
    spec = importlib.util.spec_from_file_location("mp_manifestfile", os.path.join(tree, "tools", "manifestfile.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def frozen(tree, port, board_dir, manifest):
    """{target path: (source file, opt)} that MicroPython's build would freeze for a manifest."""
    mf = manifestfile(tree)
    variables = {
        "MPY_DIR": tree,
        "MPY_LIB_DIR": os.path.join(tree, "lib", "micropython-lib"),
        "PORT_DIR": os.path.join(tree, "ports", port),
        "BOARD_DIR": os.path.join(tree, "ports", port, board_dir),
    }
    m = mf.ManifestFile(mf.MODE_FREEZE, variables)
    m.execute(str(manifest))
    result = {}
    for f in m.files():
        assert f.target_path not in result, "frozen twice: " + f.target_path
        assert f.kind == mf.KIND_FREEZE_AS_MPY, f  # compiled to bytecode, never frozen as text
        result[f.target_path] = (os.path.realpath(f.full_path), f.opt)
    return result


def esp32(tree, manifest):
    return frozen(tree, "esp32", "boards/" + BOARD, manifest)


# What MicroPython's own ESP32 images freeze ($(PORT_DIR)/boards/manifest.py of v1.27.0).
FROM_THE_PORT = {
    # ports/esp32/modules
    "_boot.py", "apa106.py", "espnow.py", "flashbdev.py", "inisetup.py", "machine.py",
    # extmod/asyncio
    "asyncio/__init__.py", "asyncio/core.py", "asyncio/event.py", "asyncio/funcs.py", "asyncio/lock.py",
    "asyncio/stream.py", "uasyncio.py",
    # micropython-lib: bundle-networking and the port's other require()s
    "mip/__init__.py", "ntptime.py", "requests/__init__.py", "ssl.py", "urequests.py", "webrepl.py",
    "webrepl_setup.py", "aioespnow.py", "dht.py", "ds18x20.py", "neopixel.py", "onewire.py",
    "umqtt/robust.py", "umqtt/simple.py", "upysh.py",
}


def test_manifest_is_the_port_manifest_plus_the_app_manifest():
    """firmware/manifest.py adds nothing of its own: the port's list, then app_manifest.py."""
    ns = {"calls": []}
    api = {name: (lambda *a, _n=name, **kw: ns["calls"].append((_n, a, kw)))
           for name in ("include", "require", "package", "module", "freeze", "metadata")}
    exec(compile(MANIFEST.read_text(), str(MANIFEST), "exec"), api)
    assert ns["calls"] == [("include", ("$(PORT_DIR)/boards/manifest.py",), {}),
                           ("include", ("app_manifest.py",), {})]


def test_esp32_image_freezes_exactly_the_port_modules_and_the_app():
    tree = source_tree()
    need_staged()
    files = esp32(tree, MANIFEST)
    port = esp32(tree, "$(PORT_DIR)/boards/manifest.py")
    assert set(port) == FROM_THE_PORT
    assert {t: files[t] for t in port} == port  # the port's own, unchanged
    for target, (path, _) in port.items():
        assert path.startswith(os.path.realpath(tree) + os.sep), (target, path)

    app = {t: v for t, v in files.items() if t not in port}
    ven = REPO / "files_to_load" / "ven"
    expected = {"ven/" + p.relative_to(ven).as_posix(): str(p.resolve())
                for p in ven.rglob("*.py") if "__pycache__" not in p.parts}
    lib = STAGED / "mdns_client"
    expected.update({"mdns_client/" + p.name: str(p.resolve()) for p in lib.glob("*.py")})
    logging = Path(tree, "lib", "micropython-lib", "python-stdlib", "logging", "logging.py")
    expected["logging.py"] = str(logging.resolve())
    assert {t: path for t, (path, _) in app.items()} == expected

    # The staged mdns_client is the pinned module list; logging the pinned release.
    assert sorted(p.name for p in lib.glob("*.py")) == sorted(sdl.DEVICE_MODULES + ("__init__.py",))
    assert sdl.sha256_of(str(logging)) == sdl.LOGGING_SHA256
    # Nothing else of files_to_load: boot.py and main.py stay on the filesystem.
    to_load = str((REPO / "files_to_load").resolve()) + os.sep
    assert all(path.startswith(str(ven.resolve()) + os.sep) for path, _ in files.values() if path.startswith(to_load))
    assert not {"boot.py", "main.py"} & set(files)


def test_test_vm_freezes_the_same_app():
    """tools/mpboard/onboard/manifest_app.py (32-bit unix VM) and the ESP32 image share the package list."""
    tree = source_tree()
    need_staged()
    onboard = REPO / "tools" / "mpboard" / "onboard"

    def unix(manifest):
        return frozen(tree, "unix", "variants/standard", manifest)

    vm_files, vm_board = unix(onboard / "manifest_app.py"), unix(onboard / "manifest_board.py")
    vm_app = {t: v for t, v in vm_files.items() if t not in vm_board}
    esp_files = esp32(tree, MANIFEST)
    esp_app = {t: v for t, v in esp_files.items() if t not in esp32(tree, "$(PORT_DIR)/boards/manifest.py")}
    assert vm_app == esp_app  # same files, same targets, same optimisation level
    assert {"logging.py", "mdns_client/__init__.py", "ven/__init__.py", "ven/mainloop.py"} <= set(vm_app)
