"""The whole firmware on real MicroPython: boot.py then main.py, unchanged, on a
simulated ESP32-POE (tools/mpboard), against the development VTN inside this
session's private network namespace (tests/conftest.py).

Each test runs on three deployments (tools/mpboard/run.py): the 32-bit
MicroPython 1.27.0 VM with the app as .mpy files ("mpy") and frozen in
("frozen"), and the 64-bit unix port from PyPI ("pypi"). The 32-bit VM is built
from ../shared (skipped with the reason when that is absent). Heaps are the
board's: the frozen app must run in HEAP["frozen"], the .mpy app in HEAP["mpy"].

Every wait is on a condition with a deadline (the board's output, the VTN's
record of requests, the PWM log); nothing sleeps a fixed time.
"""
import json
import struct
import time

import pytest

from tests.conftest import needs_netns
from tests.host.client_support import write
from tools.devvtn.launch import DevVtn
from tools.mpboard import vm
from tools.mpboard.run import Board
from tools.mpboard.scenario import CHANNEL, day_scenario, device_config, price
from ven.pricemap import duty_for

pytestmark = needs_netns

KINDS = ("mpy", "frozen", "pypi")
# Heaps with room to spare over what make bench measures (frozen ~64 KB, .mpy
# ~160 KB; tests/mpboard/test_memory_on_micropython.py guards the frozen figure),
# and for the 64-bit VM's larger objects (about 1.45x).
HEAP = {"mpy": "192k", "frozen": "96k", "pypi": "512k"}
_addr = [20]


def addresses():
    """A fresh (VTN, board) address pair per test: no stale mDNS from an earlier one."""
    _addr[0] += 2
    return "127.0.1.%d" % _addr[0], "127.0.1.%d" % (_addr[0] + 1)


def scenario(boundary, faults=None):
    return day_scenario(boundary, reports=True, faults=faults)


def duty(value):
    with open(vm.os.path.join(vm.REPO, "configs", "default.json")) as f:
        ch = json.load(f)["channel_defaults"]
    ch.update(CHANNEL)
    if value is not None:
        value = struct.unpack("f", struct.pack("f", value))[0]  # the board keeps single-precision values
    return duty_for(value, ch)


def available(kind):
    """kind, if its VM can be had here; else the test is skipped saying why."""
    try:
        from tools.mpboard.run import executable
        executable(kind)
    except vm.Unavailable as e:
        pytest.skip(str(e))
    return kind


@pytest.fixture(params=KINDS)
def kind(request):
    return available(request.param)


@pytest.fixture
def vtn(tmp_path):
    """Start a dev VTN (HTTPS, OAuth2, advertised over mDNS) on a scenario; stopped after the test."""
    started = []

    def start(doc, host, name="MP VTN"):
        path = tmp_path / "scenario.json"
        write(path, doc)
        v = DevVtn(path, host, advertise=True, name=name, tls_dir=str(tmp_path / "tls"),
                   record=str(tmp_path / "record.jsonl"), log_path=str(tmp_path / "vtn.log"))
        v.start()
        v.scenario_path = path
        started.append(v)
        return v

    yield start
    for v in started:
        v.stop()


def posts(server, rel):
    return [r for r in server.records() if r["method"] == "POST" and r["rel"] == rel]


def test_discovers_polls_registers_reports_follows_boundaries_and_stops(kind, vtn, tmp_path):
    vtn_ip, board_ip = addresses()
    boundary = int(time.time()) + 8
    server = vtn(scenario(boundary), vtn_ip)
    board = Board(tmp_path / "board", kind, board_ip, device_config(server.ca_pem()), HEAP[kind])
    with board.start():
        board.wait_for(r"VTN MP VTN found by mDNS: https://mp-vtn\.local:\d+/openadr3/3\.1\.0", 20)
        board.wait_for("access token obtained from https://mp-vtn.local", 20)
        board.wait_for(r"schedule updated: 1 program\(s\), 1 event\(s\)", 20)
        board.wait_for(r"resource 'heater' created on the VTN", 20)
        # The interval before the boundary, then the next one on time.
        board.wait_until(lambda: [p for p in board.pwm() if p[2] == duty(price(39))], 20, "the current price's duty")
        board.wait_until(lambda: [p for p in board.pwm() if p[2] == duty(price(40))], 30, "the next interval's duty")
        changed = [p for p in board.pwm() if p[2] == duty(price(40))][0]
        assert boundary * 1000 <= changed[0] < boundary * 1000 + 1500, (changed, boundary)
        # The interval that ended at the boundary is reported (SETPOINT, one interval per report).
        board.wait_until(lambda: [r for r in posts(server, "/reports") if r["status"] == 201], 30, "a report")
        board.press()
        assert board.wait_exit(15) == 0
    log = board.log()
    assert "BUT1 pressed" in log and "Traceback" not in log, log[-3000:]
    assert board.pwm()[-1][2] == duty(None)  # fail-safe after the stop
    assert len(posts(server, "/vens")) == 1 and len(posts(server, "/resources")) == 1
    report = json.loads([r for r in posts(server, "/reports") if r["status"] == 201][0]["body"])
    assert report["eventID"] == "ev96" and report["resources"][0]["intervals"][0]["id"] == 39, report


def test_server_errors_keep_the_last_schedule(kind, vtn, tmp_path):
    vtn_ip, board_ip = addresses()
    boundary = int(time.time()) + 600  # interval 39 now, for the whole test
    server = vtn(scenario(boundary), vtn_ip)
    board = Board(tmp_path / "board", kind, board_ip, device_config(server.ca_pem()), HEAP[kind])
    good = duty(price(39))
    with board.start():
        board.wait_until(lambda: board.pwm() and board.pwm()[-1][2] == good, 30, "the first good poll")
        # A VTN answering 500, then a garbage body: logged, the schedule stays.
        write(server.scenario_path, scenario(boundary, [{"path": "/events", "status": 500}]))
        board.wait_for(r"poll \d+ failed, keeping the last schedule: .*HTTP 500", 20)
        write(server.scenario_path, scenario(boundary, [{"path": "/events", "invalid_json": True}]))
        board.wait_for(r"poll \d+ failed, keeping the last schedule: .*(JSON|events body)", 20)
        write(server.scenario_path, scenario(boundary))
        board.wait_for("polling again", 20)
        # The VTN gone altogether.
        server.stop()
        board.wait_for(r"poll \d+ failed, keeping the last schedule", 30, count=3)
        assert board.running() and board.pwm()[-1][2] == good
        board.press()
        assert board.wait_exit(20) == 0
    log = board.log()
    assert "Traceback" not in log and "MemoryError" not in log, log[-4000:]


def test_wrong_ca_is_refused_and_said(kind, vtn, tmp_path):
    import trustme
    vtn_ip, board_ip = addresses()
    server = vtn(scenario(int(time.time()) + 3600), vtn_ip)
    other_ca = trustme.CA().cert_pem.bytes().decode()
    board = Board(tmp_path / "board", kind, board_ip, device_config(other_ca), HEAP[kind])
    with board.start():
        board.wait_for(r"poll \d+ failed.*(certificate|verif)", 30, count=2)
        assert board.running()
        board.press()
        assert board.wait_exit(20) == 0
    log = board.log()
    assert "invalid JSON" not in log and "Traceback" not in log, log[-3000:]
    assert [r for r in server.records() if r["rel"] != "/auth/server"] == []  # no credentials went out
    assert all(p[2] == duty(None) for p in board.pwm())  # never left fail-safe
