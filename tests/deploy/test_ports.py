"""Which port load_files.sh and flash.sh use: an argument, else VEN_PORT, else the
one known USB serial adapter (several: listed and asked for; an unrelated PORT
ignored). The machine's ports are replaced by a list (VEN_LIST_PORTS_FROM)."""
import io
import json
import os
import subprocess

import pytest

from tests.deploy import support
from tools.deploy import ports

CH340 = {"device": "/dev/ttyUSB0", "vid": "1a86", "pid": "7523", "description": "USB Serial"}
CP210X = {"device": "/dev/ttyUSB1", "vid": 0x10C4, "pid": 0xEA60, "description": "CP2102 USB to UART"}
ESP_USB = {"device": "/dev/ttyACM0", "vid": "303a", "pid": "1001", "description": "USB JTAG/serial debug unit"}
BUILTIN = {"device": "/dev/ttyS0", "vid": None, "pid": None, "description": "n/a"}
MODEM = {"device": "/dev/ttyACM1", "vid": "1199", "pid": "9071", "description": "LTE modem"}


@pytest.fixture
def listing(tmp_path):
    def make(*found):
        path = tmp_path / "ports.json"
        path.write_text(json.dumps(list(found)))
        return {ports.TEST_LIST_ENV: str(path)}
    return make


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_one_known_adapter_is_used(listing):
    env = listing(BUILTIN, MODEM, CH340)
    assert ports.find(env=env) == ("/dev/ttyUSB0", "found: /dev/ttyUSB0 (CH340, 1a86:7523)")


def test_an_argument_wins_then_ven_port_and_port_is_ignored(listing):
    env = dict(listing(CH340, CP210X), VEN_PORT="/dev/ttyVEN", PORT="8080")
    assert ports.find("/dev/ttyARG", env=env) == ("/dev/ttyARG", "given")
    assert ports.find(env=env) == ("/dev/ttyVEN", "from VEN_PORT")
    env = dict(listing(CP210X), PORT="8080")
    assert ports.find(env=env)[0] == "/dev/ttyUSB1"


def test_several_are_listed_and_asked_for(listing):
    env = listing(CH340, BUILTIN, ESP_USB)
    with pytest.raises(ports.PortError) as e:
        ports.find(env=env)                                   # nobody at a terminal
    text = str(e.value)
    assert "1) /dev/ttyUSB0 (CH340, 1a86:7523)" in text and "2) /dev/ttyACM0 (ESP32 USB serial/JTAG, 303a:1001)" in text
    assert "ttyS0" not in text and "VEN_PORT=" in text
    err = io.StringIO()
    device, how = ports.find(env=env, ask=lambda found: ports.ask_at_terminal(found, Terminal("7\n2\n"), err))
    assert device == "/dev/ttyACM0" and how.startswith("chosen")
    assert err.getvalue().count("Which one? [1-2]") == 2      # a wrong answer asks again
    assert ports.ask_at_terminal(ports.list_ports(env), io.StringIO("1\n")) is None   # not a terminal


def test_none_found_says_what_was_seen(listing):
    with pytest.raises(ports.PortError) as e:
        ports.find(env=listing(BUILTIN, MODEM))
    text = str(e.value)
    assert "no ESP32 board found" in text and "/dev/ttyACM1 (LTE modem, 1199:9071)" in text
    assert "data cable" in text and ports.TROUBLESHOOT in text
    assert ports.find(env=listing(BUILTIN), placeholder="PORT") == ("PORT", "none found")


def test_the_ports_cli_lists_and_prints(listing):
    env = support.env_for(listing(CH340, BUILTIN))
    r = subprocess.run([support.REPO + "/.venv/bin/python", "-m", "tools.deploy.ports", "--list"], cwd=support.REPO,
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.stdout.splitlines() == ["* /dev/ttyUSB0 (CH340, 1a86:7523)", "  /dev/ttyS0 (unknown adapter, no USB id)"]
    r = subprocess.run([support.REPO + "/.venv/bin/python", "-m", "tools.deploy.ports"], cwd=support.REPO,
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "/dev/ttyUSB0\n"


def test_load_files_follows_the_rules(sandbox, listing, make_board):
    env = dict(listing(CH340, BUILTIN), PORT="8080")
    rc, run = support.load_files(sandbox, "--dry-run", env=env)
    assert rc == 0, run.text
    assert "/dev/ttyUSB0 (found: /dev/ttyUSB0 (CH340, 1a86:7523))" in run.text
    assert "the PORT variable, '8080', is not used" in run.text
    assert " connect /dev/ttyUSB0 " in run.text and "8080 " not in run.text.replace("'8080'", "")

    # Several adapters and nobody to ask: the list, and nothing sent anywhere.
    board = make_board()
    board.wait_idle()
    rc, run = support.load_files(sandbox, env=dict(listing(CH340, ESP_USB)))
    assert rc == 1 and "several ESP32 serial adapters are connected" in run.text, run.text
    assert "failed in step 2" in run.text
    # The port given wins over everything.
    rc, run = support.load_files(sandbox, "--tool", "mpremote", "--mpy", board.port,
                                 env=dict(listing(CH340, ESP_USB), VEN_PORT="/dev/ttyNOPE"))
    assert rc == 0, run.text
    assert "%s (given)" % board.port in run.text


def test_a_port_that_does_not_exist_is_named(sandbox):
    rc, run = support.load_files(sandbox, "/dev/ttyUSB-unplugged")
    assert rc == 1 and "/dev/ttyUSB-unplugged does not exist" in run.text and "--list-ports" in run.text
    assert not os.path.exists("/dev/ttyUSB-unplugged")
