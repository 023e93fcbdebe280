"""load_files.sh, run as a user runs it, with mpremote and with ampy, against the
simulated board on a pty (tools/replboard) that runs what it receives on the
real MicroPython unix port. Every test works in a sandbox copy of the
repository, offline (this session's private network namespace), and checks the
board's files byte for byte against what was staged, and that the board then
boots the VEN."""
import os
import shutil

import pytest

from tests.deploy import support
from tests.deploy.support import Run, flash_files, load_files, staged_files, write_json

VEN_STARTED = "OpenADR 3 VEN starting"
DEVICE = {"vtn": {"url": "http://192.0.2.10:8080/openadr3/3.1.0", "client_id": "ven-1", "client_secret": "s3cret"}}
PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUJ0stand+in+for+a+test==\n-----END CERTIFICATE-----\n"


def deploy_dir(sandbox):
    return os.path.join(sandbox, "build", "deploy")


def assert_board_has_what_was_staged(board, sandbox):
    assert flash_files(board.flash) == staged_files(sandbox, deploy_dir(sandbox))


def assert_boots_the_ven(board, after):
    """After boot number `after`, the board boots and main.py starts the VEN."""
    n = board.wait_main_started(after, timeout=20)
    board.wait_for(lambda: VEN_STARTED in board.text_of_boot(n) or "Traceback" in board.text_of_boot(n)
                   or "CONFIG ERROR" in board.text_of_boot(n), 20)
    text = board.text_of_boot(n)
    assert VEN_STARTED in text and "Traceback" not in text, text
    return n


def touch(sandbox, rel, line="_CHANGED = 1\n"):
    with open(os.path.join(sandbox, "files_to_load", rel), "a") as f:
        f.write(line)


def put_by_hand(sandbox, flash):
    """The app and its libraries copied straight onto the board's flash (no upload)."""
    shutil.copytree(os.path.join(sandbox, "files_to_load"), flash, dirs_exist_ok=True)
    shutil.copytree(os.path.join(support.DEVICE_LIB, "mdns_client"), os.path.join(flash, "lib", "mdns_client"))
    shutil.copy2(os.path.join(support.DEVICE_LIB, "logging.py"), os.path.join(flash, "lib"))


def arrived_in_staging(sandbox, files):
    """Board paths whose new bytes already wait in /.upload (sent before the upload was cut short)."""
    staged = staged_files(sandbox, deploy_dir(sandbox))
    return [p[len(".upload/"):] for p, data in files.items()
            if p.startswith(".upload/") and staged.get(p[len(".upload/"):]) == data]


def upload(sandbox, board, *args, expect=0):
    boots = board.boots
    rc, run = load_files(sandbox, *(args + (board.port,)))
    assert rc == expect, run.text
    if expect == 0:
        assert_board_has_what_was_staged(board, sandbox)
        assert_boots_the_ven(board, boots)
    return run


def test_mpremote_full_then_incremental_upload(sandbox, make_board):
    write_json(os.path.join(sandbox, "configs", "device.json"), DEVICE)
    with open(os.path.join(sandbox, "files_to_load", "ven", "unused_extra.py"), "w") as f:
        f.write("X = 1\n")
    board = make_board()
    run = upload(sandbox, board, "--tool", "mpremote", "--source")
    assert "with mpremote 1.29.0" in run.text
    staged = staged_files(sandbox, deploy_dir(sandbox))
    assert sorted(run.progress()) == sorted(staged)
    assert "config/device.json" in staged and "lib/logging.py" in staged
    # The secrets never pass through build/.
    assert not os.path.exists(os.path.join(deploy_dir(sandbox), "config", "device.json"))

    # One module changed, one deleted: only the change is sent, the deleted one goes.
    touch(sandbox, "ven/pricemap.py")
    os.remove(os.path.join(sandbox, "files_to_load", "ven", "unused_extra.py"))
    run = upload(sandbox, board, "--tool", "mpremote", "--source")
    assert run.progress() == ["ven/pricemap.py"]
    assert "ven/unused_extra.py" in run.text and not (board.flash_path("ven/unused_extra.py")).exists()

    # Nothing changed: nothing sent, the board restarted all the same.
    run = upload(sandbox, board, "--tool", "mpremote", "--source")
    assert run.progress() == [] and "every file is up to date" in run.text


def test_ampy_gives_the_same_board_as_mpremote(sandbox, make_board):
    write_json(os.path.join(sandbox, "configs", "device.json"), DEVICE)
    by_mpremote = make_board("a")
    by_ampy = make_board("b")
    upload(sandbox, by_mpremote, "--tool", "mpremote", "--mpy")
    run = upload(sandbox, by_ampy, "--tool", "ampy", "--mpy")
    assert "with ampy, version 1.1.0" in run.text
    assert flash_files(by_ampy.flash) == flash_files(by_mpremote.flash)
    assert flash_files(by_ampy.flash)["ven/config.mpy"][:2] == b"M\x06"
    assert sorted(run.progress()) == sorted(staged_files(sandbox, deploy_dir(sandbox)))

    touch(sandbox, "ven/outputs.py")
    run = upload(sandbox, by_ampy, "--tool", "ampy", "--mpy")
    assert run.progress() == ["ven/outputs.mpy"]
    assert b"mip" not in bytes(by_ampy.received)


def test_offline_without_the_libraries_staged(sandbox, make_board):
    # `make setup` without internet and without the MicroPython tarball: nothing staged.
    lib = os.path.join(sandbox, "build", "device_lib")
    for name in ("logging.py", ".logging.version", ".micropython-mdns.version"):
        os.remove(os.path.join(lib, name))
    shutil.rmtree(os.path.join(lib, "mdns_client"))
    board = make_board()
    # An old app on the board, without the libraries: refused before anything changes.
    shutil.copytree(os.path.join(sandbox, "files_to_load", "ven"), str(board.flash_path("ven")))
    shutil.copy2(os.path.join(sandbox, "files_to_load", "main.py"), board.flash)
    before = flash_files(board.flash, ("",))
    rc, run = load_files(sandbox, "--tool", "mpremote", "--mpy", board.port)
    assert rc == 1, run.text
    assert "the board has no `logging` module" in run.text
    assert "make setup" in run.text and "mip install logging" in run.text
    assert "Nothing on the board was changed." in run.text
    assert flash_files(board.flash, ("",)) == before
    os.makedirs(str(board.flash_path("lib")))
    shutil.copy2(os.path.join(support.DEVICE_LIB, "logging.py"), str(board.flash_path("lib")))
    rc, run = load_files(sandbox, "--tool", "mpremote", "--mpy", board.port)
    assert rc == 1 and "the board has no `mdns_client` package" in run.text, run.text
    assert b"mip" not in bytes(board.received)

    # A board that has them keeps them.
    shutil.copytree(os.path.join(support.DEVICE_LIB, "mdns_client"), str(board.flash_path("lib/mdns_client")))
    kept = {p: b for p, b in flash_files(board.flash).items() if p.startswith("lib/")}
    boots = board.boots
    rc, run = load_files(sandbox, "--tool", "ampy", "--mpy", board.port)
    assert rc == 0, run.text
    assert "logging is not staged on this PC; the board's own is kept (/lib/logging.py)" in run.text
    assert "mdns_client is not staged on this PC; the board's own is kept (/lib/mdns_client/__init__.py)" in run.text
    files = flash_files(board.flash)
    assert {p: b for p, b in files.items() if p.startswith("lib/")} == kept
    assert {p: b for p, b in files.items() if not p.startswith("lib/")} == staged_files(sandbox, deploy_dir(sandbox))
    assert_boots_the_ven(board, boots)


def test_ctrl_c_during_an_mpremote_upload_then_rerun(sandbox, make_board):
    board = make_board()
    upload(sandbox, board, "--tool", "mpremote", "--source")
    old_app = flash_files(board.flash)
    changed = ["ven/pricemap.py", "ven/outputs.py", "ven/txt.py", "ven/url.py", "ven/store.py", "ven/isotime.py"]
    for rel in changed:
        touch(sandbox, rel)
    staging = os.path.join(board.flash, ".upload", "ven")
    board.hold_when(lambda: os.path.isdir(staging) and len(os.listdir(staging)) >= 4)
    run = Run(sandbox, ["--tool", "mpremote", "--source", board.port])
    assert board.held.wait(support.TIMEOUT_S), run.text
    run.ctrl_c()
    assert run.finish() == 130, run.text
    board.release()
    assert "interrupted in step 5" in run.text and "still has its old app" in run.text
    assert "./load_files.sh --tool mpremote --source %s" % board.port in run.text
    # The app is the old one, byte for byte; the new files wait in /.upload.
    now = flash_files(board.flash)
    assert {p: b for p, b in now.items() if not p.startswith(".upload/")} == old_app
    assert len([p for p in now if p.startswith(".upload/")]) >= 3
    boots = board.boots
    board.reset()
    assert_boots_the_ven(board, boots)

    arrived = arrived_in_staging(sandbox, now)
    assert len(arrived) >= 3
    run = upload(sandbox, board, "--tool", "mpremote", "--source")
    assert set(run.progress()) == set(changed) - set(arrived)       # what had arrived is not sent again


def test_cable_pulled_during_an_ampy_upload_then_rerun(sandbox, make_board):
    board = make_board()
    upload(sandbox, board, "--tool", "mpremote", "--mpy")
    old_app = flash_files(board.flash)
    for rel in os.listdir(os.path.join(sandbox, "files_to_load", "ven")):
        if rel.endswith(".py"):
            touch(sandbox, "ven/" + rel, "CHANGED = 1\n")
    staging = os.path.join(board.flash, ".upload", "ven")
    board.hold_when(lambda: os.path.isdir(staging) and len(os.listdir(staging)) >= 3)
    run = Run(sandbox, ["--tool", "ampy", "--mpy", board.port])
    assert board.held.wait(support.TIMEOUT_S), run.text
    board.unplug()
    assert run.finish() == 1, run.text
    board.release()
    assert "failed in step 5" in run.text and "still has its old app" in run.text
    boots = board.boots
    board.plug()                                          # a new port, a power-on boot
    assert_boots_the_ven(board, boots)
    now = flash_files(board.flash)
    assert {p: b for p, b in now.items() if not p.startswith(".upload/")} == old_app
    arrived = arrived_in_staging(sandbox, now)
    assert len(arrived) >= 2

    run = upload(sandbox, board, "--tool", "ampy", "--mpy")
    assert run.progress() and not set(run.progress()) & set(arrived)   # what had arrived is not sent again


@pytest.mark.parametrize("device_json", [
    '{"vtn": {"pol_interval_s": 30}}',
    '{"network": {"interface": "wifi"}}',
    '{"vtn": {"poll_interval_s": 30 "url": ""}}',
], ids=["unknown-key", "missing-ssid", "syntax"])
def test_a_bad_config_sends_nothing_and_says_what_the_board_would(sandbox, make_board, device_json):
    with open(os.path.join(sandbox, "configs", "device.json"), "w") as f:
        f.write(device_json)
    board = make_board()
    board.wait_idle()
    rc, run = load_files(sandbox, "--tool", "mpremote", board.port)
    assert rc == 1, run.text
    said = [ln for ln in run.lines if ln.startswith("CONFIG ERROR: ")]
    assert len(said) == 1, run.text
    assert "failed in step 1" in run.text
    assert bytes(board.received) == b"" and ("connected",) not in board.events

    # The same files on a board: its own first words.
    flash = board.flash
    put_by_hand(sandbox, flash)
    os.makedirs(os.path.join(flash, "config"))
    shutil.copy2(os.path.join(sandbox, "configs", "default.json"), os.path.join(flash, "config"))
    shutil.copy2(os.path.join(sandbox, "configs", "device.json"), os.path.join(flash, "config"))
    boots = board.boots
    board.reset()
    n = board.wait_main_started(boots)
    board.wait_for(lambda: "CONFIG ERROR" in board.text_of_boot(n) and ">>> " in board.text_of_boot(n), 20)
    on_board = [ln for ln in board.text_of_boot(n).splitlines() if ln.startswith("CONFIG ERROR: ")]
    assert on_board == said


def test_a_missing_device_json_removes_nothing_and_says_what_the_board_keeps(sandbox, make_board):
    device = os.path.join(sandbox, "configs", "device.json")
    write_json(device, DEVICE)
    board = make_board()
    upload(sandbox, board, "--tool", "mpremote", "--mpy")
    with open(device, "rb") as f:
        secrets = f.read()
    os.remove(device)
    boots = board.boots
    rc, run = load_files(sandbox, "--tool", "mpremote", "--mpy", board.port)
    assert rc == 0, run.text
    assert "the board keeps its own config/device.json" in run.text
    assert board.flash_path("config/device.json").read_bytes() == secrets
    assert_boots_the_ven(board, boots)

    fresh = make_board("fresh")
    rc, run = load_files(sandbox, "--tool", "mpremote", "--mpy", fresh.port)
    assert rc == 0, run.text
    assert "the board has none: it will run on configs/default.json alone" in run.text
    assert "defaults only: ESP32-POE, ethernet; VTN found by mDNS" in run.text
    assert not fresh.flash_path("config/device.json").exists()


def test_the_ca_file_goes_with_the_config(sandbox, make_board):
    configs = os.path.join(sandbox, "configs")
    write_json(os.path.join(configs, "device.json"),
               {"vtn": {"url": "https://192.0.2.10/openadr3/3.1.0", "ca_file": "config/vtn-ca.pem"}})
    board = make_board()
    board.wait_idle()
    rc, run = load_files(sandbox, "--tool", "mpremote", "--mpy", board.port)
    assert rc == 1 and "configs/vtn-ca.pem does not exist" in run.text, run.text
    assert bytes(board.received) == b""
    with open(os.path.join(configs, "vtn-ca.pem"), "w") as f:
        f.write(PEM)
    run = upload(sandbox, board, "--tool", "mpremote", "--mpy")
    assert "CA certificate configs/vtn-ca.pem goes to /config/vtn-ca.pem" in run.text
    assert board.flash_path("config/vtn-ca.pem").read_text() == PEM


def test_frozen_image_upload_removes_the_copy_it_would_hide(sandbox, make_board, tmp_path):
    image = support.frozen_image(str(tmp_path / "image"), sandbox)
    board = make_board(frozen=image)
    # What an earlier plain upload left: a filesystem copy of the app, which
    # would come before the frozen one.
    flash = board.flash
    put_by_hand(sandbox, flash)
    with open(os.path.join(flash, "ven_state.json"), "w") as f:
        f.write('{"ven_id": "kept"}')       # the app's own data: never touched

    before = flash_files(flash, ("",))
    rc, run = load_files(sandbox, "--tool", "mpremote", "--source", board.port)
    assert rc == 1 and "has the app frozen in" in run.text and "use --frozen" in run.text, run.text
    assert flash_files(flash, ("",)) == before

    run = upload(sandbox, board, "--tool", "ampy")      # no mode: chosen from the image
    assert "mode --frozen (the image has the app frozen in)" in run.text
    assert sorted(flash_files(flash)) == ["boot.py", "config/default.json", "main.py"]
    assert not os.path.exists(os.path.join(flash, "ven"))
    assert os.listdir(os.path.join(flash, "lib")) == []
    assert (tmp_path / "flash" / "ven_state.json").read_text() == '{"ven_id": "kept"}'


def test_a_library_the_image_has_is_not_uploaded(sandbox, make_board, tmp_path):
    # Like the micropython-mdns images: mdns_client (and here logging) frozen in, not the app.
    image = support.frozen_image(str(tmp_path / "image"), sandbox, modules=("mdns_client", "logging"))
    board = make_board(frozen=image)
    stale = board.flash_path("lib/mdns_client")
    shutil.copytree(os.path.join(support.DEVICE_LIB, "mdns_client"), str(stale))
    run = upload(sandbox, board)                        # no tool, no mode: mpremote, --mpy
    assert "with mpremote" in run.text and "mode --mpy (a stock image)" in run.text
    assert "mdns_client, logging: the image's own (frozen in) is used" in run.text
    files = flash_files(board.flash)
    assert not [p for p in files if p.startswith("lib/")] and not stale.exists()
    assert "ven/mainloop.mpy" in files
