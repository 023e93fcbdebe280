"""Staging of micropython-mdns, load_files.sh and the firmware helpers.

Nothing here downloads or opens a serial port: staging is exercised with a
synthetic sdist, the real staged copy (from `make setup`) is only inspected,
and the shell scripts run in --dry-run mode with a stand-in mpremote that
records any call (uploads to a simulated board: tests/deploy/).
"""

import io
import os
import shlex
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tools import stage_device_libs as sdl  # noqa: E402

STAGED = Path(sdl.DEFAULT_DEST)
LOAD_FILES = REPO / "load_files.sh"
FLASH = REPO / "firmware" / "flash.sh"
FAKE_PORT = "/dev/ttyVEN-TEST"


def need_staged():
    if not sdl.is_staged(str(STAGED)):
        pytest.skip("build/device_lib is not staged: run `make setup` (tests never download)")


# --- a synthetic sdist, so staging logic is tested without the network ----

def make_sdist(path, files=sdl.EXPECTED_FILES, extra=()):
    """Write a tar.gz shaped like micropython_mdns-1.8.0.tar.gz."""
    with tarfile.open(path, "w:gz") as tar:
        def add(name, data=b"# stand-in\n", kind=tarfile.REGTYPE, link=""):
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = link
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        add("micropython_mdns-1.8.0/setup.py")
        add("micropython_mdns-1.8.0/PKG-INFO")
        for rel in files:
            add("micropython_mdns-1.8.0/mdns_client/" + rel, ("# " + rel + "\n").encode())
        for args in extra:
            add(*args)
    return path


def test_extract_takes_only_the_package(tmp_path):
    archive = make_sdist(
        tmp_path / "sdist.tar.gz",
        extra=[
            ("micropython_mdns-1.8.0/mdns_client/../../escaped.py",),
            ("/abs/mdns_client/absolute.py",),
            ("micropython_mdns-1.8.0/mdns_client/__pycache__/client.cpython-311.pyc",),
            ("micropython_mdns-1.8.0/mdns_client/link.py", b"", tarfile.SYMTYPE, "/etc/passwd"),
            ("micropython_mdns-1.8.0/other_pkg/mod.py",),
        ],
    )
    out = tmp_path / "out"
    written = sdl.extract_package(str(archive), str(out))
    # Only what the firmware imports, unmodified, under an __init__ that imports nothing.
    assert written == sorted(sdl.DEVICE_MODULES + ("__init__.py",))
    found = sorted(str(p.relative_to(out / "mdns_client")) for p in out.rglob("*") if p.is_file())
    assert found == written
    assert (out / "mdns_client" / "parser.py").read_text() == "# parser.py\n"
    assert (out / "mdns_client" / "__init__.py").read_text() == sdl.INIT_TEXT
    assert "import" not in "".join(line for line in sdl.INIT_TEXT.splitlines() if not line.startswith("#"))
    assert not (out / "mdns_client" / "client.py").exists()
    assert not (tmp_path / "escaped.py").exists()
    assert not list(tmp_path.rglob("escaped.py"))


def test_extract_rejects_an_incomplete_sdist(tmp_path):
    archive = make_sdist(tmp_path / "sdist.tar.gz", files=sdl.EXPECTED_FILES[:-1])
    with pytest.raises(sdl.StageError, match="txt_discovery.py"):
        sdl.extract_package(str(archive), str(tmp_path / "out"))


def test_stage_is_idempotent_and_checks_the_hash(tmp_path, monkeypatch):
    archive = make_sdist(tmp_path / "micropython_mdns-1.8.0.tar.gz")
    monkeypatch.setattr(sdl, "SDIST_SHA256", sdl.sha256_of(str(archive)))
    calls = []

    def fake_download(workdir):
        calls.append(workdir)
        target = os.path.join(workdir, archive.name)
        with open(archive, "rb") as src, open(target, "wb") as dst:
            dst.write(src.read())
        return target

    dest = tmp_path / "device_lib"
    assert "staged" in sdl.stage(str(dest), download=fake_download)
    assert len(calls) == 1
    assert sdl.is_staged(str(dest))
    assert (dest / sdl.MARKER).read_text() == sdl.marker_text()
    assert sorted(p.name for p in dest.iterdir()) == sorted([sdl.MARKER, "mdns_client"])

    assert "already staged" in sdl.stage(str(dest), download=fake_download)
    assert len(calls) == 1

    # A file gone missing means not staged: it is fetched again.
    (dest / "mdns_client" / "util.py").unlink()
    assert not sdl.is_staged(str(dest))
    sdl.stage(str(dest), download=fake_download)
    assert len(calls) == 2 and sdl.is_staged(str(dest))

    # Bytes other than the pinned ones are refused; the staged copy stays.
    monkeypatch.setattr(sdl, "SDIST_SHA256", "0" * 64)
    with pytest.raises(sdl.StageError, match="sha256"):
        sdl.stage(str(dest), force=True, download=fake_download)
    assert (dest / "mdns_client" / "parser.py").exists()
    assert sorted(p.name for p in dest.iterdir()) == sorted([sdl.MARKER, "mdns_client"])


def test_logging_is_staged_from_the_first_source_with_the_pinned_bytes(tmp_path, monkeypatch):
    good = b"# logging stand-in\n"
    monkeypatch.setattr(sdl, "LOGGING_SHA256", __import__("hashlib").sha256(good).hexdigest())
    calls = []

    def offline():
        calls.append("index")
        raise OSError("no route to micropython.org")

    def tampered():
        calls.append("tampered")
        return b"# something else\n"

    def beside():
        calls.append("tarball")
        return good

    dest = tmp_path / "device_lib"
    text = sdl.stage_logging(str(dest), sources=[("index", offline), ("mirror", tampered), ("tarball", beside)])
    assert "staged logging" in text and "tarball" in text
    assert calls == ["index", "tampered", "tarball"]
    assert (dest / "logging.py").read_bytes() == good and sdl.logging_staged(str(dest))
    assert "already staged" in sdl.stage_logging(str(dest), sources=[("index", offline)])
    # Nowhere to get it: a warning naming each problem and the way out, nothing half-written.
    empty = tmp_path / "empty"
    text = sdl.stage_logging(str(empty), sources=[("index", offline), ("mirror", tampered)])
    assert text.startswith("WARNING") and "no route" in text and "sha256" in text and "mip install logging" in text
    assert not (empty / "logging.py").exists()


def test_staged_logging_is_the_pinned_release():
    if not sdl.logging_staged(str(STAGED)):
        pytest.skip("logging is not staged (no internet and no ../shared tarball at make setup)")
    assert sdl.sha256_of(str(STAGED / "logging.py")) == sdl.LOGGING_SHA256


def test_main_reports_failure_without_traceback(tmp_path, monkeypatch, capsys):
    def broken_download(workdir):
        raise sdl.StageError("no network here")

    monkeypatch.setattr(sdl, "download_sdist", broken_download)
    assert sdl.main(["--dest", str(tmp_path / "d")]) == 1
    assert "no network here" in capsys.readouterr().err


# --- the real staged copy (make setup) ------------------------------------

def test_staged_mdns_client_is_complete():
    need_staged()
    pkg = STAGED / "mdns_client"
    assert sdl.missing_files(str(pkg)) == []
    assert sorted(p.name for p in pkg.iterdir()) == sorted(sdl.DEVICE_MODULES + ("__init__.py",))
    assert "micropython-mdns==1.8.0" in (STAGED / sdl.MARKER).read_text()
    # The library's known "UTF-8" call is staged as published, not patched.
    assert '.encode("UTF-8")' in (pkg / "util.py").read_text()


def test_staged_copy_is_reused_without_download():
    need_staged()

    def no_download(workdir):
        raise AssertionError("must not download when already staged")

    assert "already staged" in sdl.stage(str(STAGED), download=no_download)


# --- load_files.sh and firmware/flash.sh ----------------------------------
# (Uploads to a simulated board, the port rules and make flash: tests/deploy/.)

def test_scripts_parse():
    for script in (LOAD_FILES, FLASH):
        subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)


@pytest.fixture
def fake_mpremote(tmp_path):
    """An mpremote stand-in that records being called (it never should be)."""
    called = tmp_path / "mpremote-was-called"
    tool = tmp_path / "fake-mpremote"
    tool.write_text("#!/bin/sh\necho \"$@\" >> '{}'\nexit 1\n".format(called))
    tool.chmod(0o755)
    return tool, called


def dry_run(tmp_path, fake_mpremote, *args):
    tool, called = fake_mpremote
    deploy = tmp_path / "deploy"
    env = dict(os.environ, MPREMOTE=str(tool), DEPLOY_DIR=str(deploy))
    for k in ("PORT", "VEN_PORT", "VEN_LIST_PORTS_FROM"):
        env.pop(k, None)
    result = subprocess.run(
        ["bash", str(LOAD_FILES), "--dry-run", "--tool", "mpremote", *args, FAKE_PORT],
        cwd=str(REPO), env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert not called.exists(), "dry run called mpremote: " + called.read_text()
    commands = [shlex.split(line) for line in result.stdout.splitlines() if line.strip()]
    for cmd in commands:
        assert cmd[:3] == [str(tool), "connect", FAKE_PORT], cmd
    return [cmd[3:] for cmd in commands], result.stderr, deploy


def sent(cmds):
    """(PC file, board file) of every `fs cp` in the commands."""
    return [(cmd[i + 2], cmd[i + 3]) for cmd in cmds for i, word in enumerate(cmd) if word == "cp"]


def test_dry_run_prints_the_upload(tmp_path, fake_mpremote):
    need_staged()
    cmds, err, deploy = dry_run(tmp_path, fake_mpremote, "--source")
    scripts_dir = str(deploy) + "-scripts"
    assert cmds[0] == ["run", os.path.join(scripts_dir, "probe.py")]      # read the board
    assert cmds[1][0] == "exec" and "/.upload" in cmds[1][1]               # staging folders
    assert cmds[-2] == ["run", os.path.join(scripts_dir, "commit.py")]    # switch into place
    assert cmds[-1] == ["reset"]
    pairs = sent(cmds)
    assert (str(deploy / "ven" / "config.py"), ":/.upload/ven/config.py") in pairs
    assert (str(deploy / "lib" / "mdns_client" / "parser.py"), ":/.upload/lib/mdns_client/parser.py") in pairs
    assert (str(deploy / "config" / "default.json"), ":/.upload/config/default.json") in pairs
    assert not any("mip" in word for cmd in cmds for word in cmd)        # nothing from the internet
    # The assembled tree is exactly what the device gets.
    assert (deploy / "config" / "default.json").read_bytes() == (REPO / "configs" / "default.json").read_bytes()
    assert (deploy / "ven" / "__init__.py").is_file()
    assert not list(deploy.rglob("__pycache__"))
    if sdl.logging_staged(str(STAGED)):
        assert (deploy / "lib" / "logging.py").read_bytes() == (STAGED / "logging.py").read_bytes()
    # The user's secrets go straight from configs/, never into build/.
    assert not (deploy / "config" / "device.json").exists()
    if (REPO / "configs" / "device.json").exists():
        assert (str(REPO / "configs" / "device.json"), ":/.upload/config/device.json") in pairs
    else:
        assert "configs/device.json is missing" in err


def test_dry_run_mpy_uploads_compiled_modules(tmp_path, fake_mpremote):
    need_staged()
    cmds, _, deploy = dry_run(tmp_path, fake_mpremote, "--mpy")
    assert (deploy / "ven" / "__init__.mpy").is_file()
    assert (deploy / "lib" / "mdns_client" / "parser.mpy").is_file()
    assert not list((deploy / "ven").rglob("*.py"))
    assert not list((deploy / "lib").rglob("*.py"))
    assert (deploy / "main.py").is_file() and (deploy / "boot.py").is_file()
    assert (deploy / "ven" / "__init__.mpy").read_bytes()[:2] == b"M\x06"  # .mpy v6
    assert (str(deploy / "ven" / "config.mpy"), ":/.upload/ven/config.mpy") in sent(cmds)


def test_dry_run_frozen_uploads_only_startup_and_config(tmp_path, fake_mpremote):
    cmds, _, deploy = dry_run(tmp_path, fake_mpremote, "--frozen")
    assert sorted(p.name for p in deploy.iterdir()) == sorted(["boot.py", "main.py", "config"])
    assert not any(board.startswith(":/.upload/ven") for _, board in sent(cmds))
    assert cmds[-1] == ["reset"]


def test_unknown_option_is_refused():
    result = subprocess.run(["bash", str(LOAD_FILES), "--bogus"], cwd=str(REPO),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "unrecognized arguments: --bogus" in result.stderr


def test_flash_dry_run(tmp_path):
    env = dict(os.environ, ESPTOOL="esptool")
    env.pop("VEN_PORT", None)
    result = subprocess.run(["bash", str(FLASH), "--dry-run", "fw.bin", FAKE_PORT],
                            env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "esptool --chip esp32 -p {} erase-flash".format(FAKE_PORT),
        "esptool --chip esp32 -p {} -b 460800 write-flash -z 0x1000 fw.bin".format(FAKE_PORT),
    ]


# firmware/manifest.py is resolved with MicroPython's own tools/manifestfile.py
# in tests/test_firmware_image.py.
