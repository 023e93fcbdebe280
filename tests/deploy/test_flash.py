"""make flash / firmware/flash.sh in dry-run mode: which image, which port, which
esptool commands (nothing is run against a device)."""
import json
import os
import subprocess

from tests.deploy import support

FLASH = os.path.join(support.REPO, "firmware", "flash.sh")


def esp32_image(path):
    path.write_bytes(b"\xe9" + bytes(255))
    return str(path)


def run(argv, env=None, cwd=support.REPO):
    return subprocess.run(argv, cwd=cwd, env=support.env_for(dict(env or {}, ESPTOOL="esptool")),
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_flash_sh_erases_then_writes_at_0x1000(tmp_path):
    fw = esp32_image(tmp_path / "fw.bin")
    r = run(["bash", FLASH, "--dry-run", fw, "/dev/ttyVEN-TEST"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "esptool --chip esp32 -p /dev/ttyVEN-TEST erase-flash",
        "esptool --chip esp32 -p /dev/ttyVEN-TEST -b 460800 write-flash -z 0x1000 %s" % fw,
    ]


def test_make_flash_dry_run_finds_the_port_and_defaults_to_the_built_image(tmp_path):
    ports = tmp_path / "ports.json"
    ports.write_text(json.dumps([{"device": "/dev/ttyUSB7", "vid": "1a86", "pid": "7523"},
                                 {"device": "/dev/ttyS0"}]))
    make = ["make", "-s", "-o", ".venv/.stamp", "flash", "DRY_RUN=1"]
    r = run(make, env={"VEN_LIST_PORTS_FROM": str(ports), "PORT": "8080"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == [
        "esptool --chip esp32 -p /dev/ttyUSB7 erase-flash",
        "esptool --chip esp32 -p /dev/ttyUSB7 -b 460800 write-flash -z 0x1000 build/firmware/firmware.bin",
    ]
    fw = esp32_image(tmp_path / "other.bin")
    r = run(make + ["FIRMWARE=" + fw, "VEN_PORT=/dev/ttyGIVEN"], env={"VEN_LIST_PORTS_FROM": str(ports)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[1].endswith("-p /dev/ttyGIVEN -b 460800 write-flash -z 0x1000 %s" % fw)


def test_flash_refuses_a_file_that_is_not_an_esp32_image_and_explains_a_missing_one(tmp_path):
    bad = tmp_path / "firmware.uf2.bin"
    bad.write_bytes(b"UF2\n" + bytes(100))
    r = run(["bash", FLASH, str(bad), "/dev/ttyVEN-TEST"])
    assert r.returncode == 1 and "is not an ESP32 image" in r.stderr and r.stdout == ""
    sandbox = tmp_path / "repo"
    (sandbox / "firmware").mkdir(parents=True)
    (sandbox / "firmware" / "flash.sh").write_bytes(open(FLASH, "rb").read())
    r = run(["bash", str(sandbox / "firmware" / "flash.sh"), "/dev/ttyVEN-TEST"], cwd=str(sandbox))
    assert r.returncode == 1 and "make firmware" in r.stderr and "FIRMWARE=" in r.stderr, r.stderr
