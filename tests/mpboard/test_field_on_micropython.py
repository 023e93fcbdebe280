"""Surviving the field (issue 9) with the whole firmware on real MicroPython:
boot.py then main.py, unchanged, on a simulated ESP32-POE (tools/mpboard), in
this session's private network namespace (tests/conftest.py).

- a boot loop (watchdog resets before any good run) starts in safe mode: outputs
  at fail-safe, the network up, the VEN not started, the reason said and in the
  state; a power-on after that starts normally; BUT1 held at power-on: safe mode;
- the watchdog (tools/mpboard's WDT writes its starts and feeds to a log) starts
  with watchdog_s, is fed every 5 s while the VEN runs and gets the REPL's 25 h
  after BUT1; watchdog_s 0 starts none;
- a crash record left by the last run is printed at the next start and moved
  to crash.last;
- a new DHCP address (setting "ip_file") rebuilds discovery on it, and polling
  goes on;
- a BUT1 press already released again, made while the board is busy (setting
  up just after start; the first TLS handshake), still stops the VEN.

Runs on the 32-bit 1.27.0 VM with the app frozen in ("frozen") and on the
64-bit VM from PyPI ("pypi"); the boot loop also with the app as .mpy files
("mpy", where ven.safemode is imported from the filesystem and dropped again).
Every wait is on a condition with a deadline.
"""
import json
import os
import re
import time

import pytest

from tests.conftest import needs_netns
from tests.host.client_support import write
from tests.host.field_support import REPL_MS
from tests.mpboard.test_firmware_on_micropython import available
from tools.devvtn.launch import DevVtn
from tools.mpboard.run import Board
from tools.mpboard.scenario import CHANNEL, day_scenario, device_config

pytestmark = needs_netns

HEAP = {"mpy": "192k", "frozen": "96k", "pypi": "512k"}
FAILSAFE = 1234
CHANNEL_FS = dict(CHANNEL, failsafe_duty=FAILSAFE)
# After main.py returns: what ven.mainloop.state and the link say at the REPL.
AT_REPL = ("import ven.mainloop, network\n"
           "print('STATE', repr(ven.mainloop.state))\n"
           "print('LAN active', network.LAN().active())\n")
_addr = [0]


def addresses(n=2):
    """Fresh addresses per test (no stale mDNS from an earlier one)."""
    _addr[0] += n
    return ["127.0.4.%d" % (_addr[0] - n + 1 + i) for i in range(n)]


def fixture_for(kinds):
    @pytest.fixture(params=kinds)
    def kind(request):
        return available(request.param)
    return kind


kind = fixture_for(("frozen", "pypi"))
loop_kind = fixture_for(("mpy", "frozen", "pypi"))


@pytest.fixture
def vtn(tmp_path):
    started = []

    def start(host, name="Field VTN"):
        path = tmp_path / "scenario.json"
        write(path, day_scenario(int(time.time()) + 600, reports=False))
        v = DevVtn(path, host, advertise=True, name=name, tls_dir=str(tmp_path / "tls"),
                   record=str(tmp_path / "record.jsonl"), log_path=str(tmp_path / "vtn.log"))
        v.start()
        started.append(v)
        return v

    yield start
    for v in started:
        v.stop()


def no_vtn_config(ip, **top):
    # A configured VTN where nothing listens: every poll fails at once, no run is ever good.
    cfg = {"vtn": {"url": "http://%s:1/openadr3/3.1.0" % ip, "retry_max_s": 2, "poll_interval_s": 2},
           "outputs": [CHANNEL_FS], "clock": {"ntp_servers": []}}
    cfg.update(top)
    return cfg


def boots(board):
    with open(board.settings["rtc_memory"], "rb") as f:
        return f.read()


def duties(board):
    return [p[2] for p in board.pwm()]


def test_a_boot_loop_starts_in_safe_mode_and_a_power_on_starts_normally(loop_kind, tmp_path):
    ip, = addresses(1)
    board = Board(tmp_path / "board", loop_kind, ip, no_vtn_config(ip), HEAP[loop_kind], settings={"then": AT_REPL})
    for n in (1, 2, 3):
        with board.start(reset_cause=3):  # after a watchdog reset
            board.wait_for(r"network up: ", 20)  # running, polling (and failing): never a good run
            assert boots(board) == b"ven-boots:%d" % n
            assert board.wdt()[0][0] == "start" and board.wdt()[0][2] == 60000
        # killed: as the watchdog would reset a board stuck there
    board.start(reset_cause=3)
    assert board.wait_exit(20) == 0  # main() returned: the REPL
    log = board.log()
    assert re.search(r"SAFE MODE: 3 starts in a row without a good run .*The outputs stay at fail-safe", log), log
    assert "OpenADR 3 VEN starting" not in log and "network up" not in log and "Traceback" not in log, log
    assert duties(board) == [FAILSAFE]  # at fail-safe from the start, never changed
    assert "STATE <State SAFE MODE (3 starts in a row without a good run" in log, log
    assert "LAN active True" in log, log  # the network is up for a look
    assert [w[0::2] for w in board.wdt()] == [("start", REPL_MS)]  # the REPL keeps 25 h
    assert boots(board) == b"ven-boots:4"
    # Power-on (RTC memory gone with the power): a normal start.
    with board.start(reset_cause=1):
        board.wait_for(r"OpenADR 3 VEN starting", 20)
        board.wait_for(r"network up: ", 20)
        assert boots(board) == b"ven-boots:1" and "SAFE MODE" not in board.log()


def test_but1_held_at_power_on_starts_in_safe_mode(kind, tmp_path):
    ip, = addresses(1)
    board = Board(tmp_path / "board", kind, ip, no_vtn_config(ip), HEAP[kind], settings={"then": AT_REPL})
    board.start(reset_cause=1, held=True)
    assert board.wait_exit(20) == 0
    log = board.log()
    assert "SAFE MODE: BUT1 was held at start" in log and "OpenADR 3 VEN starting" not in log, log
    assert "STATE <State SAFE MODE (BUT1 was held at start)" in log, log
    assert duties(board) == [FAILSAFE]


def test_watchdog_crash_record_and_a_press_just_after_start(kind, tmp_path):
    from ven import crash
    ip, = addresses(1)
    board = Board(tmp_path / "board", kind, ip, no_vtn_config(ip), HEAP[kind], settings={"then": AT_REPL})
    board.deploy()
    # The last run's crash record, written by the firmware's own code (on CPython) onto the flash.
    here = os.getcwd()
    os.chdir(board.flash)
    try:
        try:
            raise RuntimeError("planted by the test")
        except RuntimeError as e:
            crash.record(e, "task controller", 4321)
    finally:
        os.chdir(here)
    with board.start(reset_cause=3):
        board.wait_for(r"the last run ended in a crash", 20)
        # Fed every 5 s while both paths go on.
        board.wait_until(lambda: len([w for w in board.wdt() if w[0] == "feed"]) >= 2, 20, "two feeds")
        board.press(hold=False)
        assert board.wait_exit(20) == 0
    log = board.log()
    assert re.search(r"the last run ended in a crash.*\n.*task controller failed at .*4321 s after the start", log), log
    assert "RuntimeError: planted by the test" in log
    assert "last crash:\ntask controller failed at" in log  # ven.mainloop.state shows it
    assert not os.path.exists(os.path.join(board.flash, crash.PATH))
    with open(os.path.join(board.flash, crash.SEEN), "rb") as f:
        assert b"RuntimeError: planted by the test" in f.read()
    wdt = board.wdt()
    assert wdt[0][0::2] == ("start", 60000) and wdt[-1][0::2] == ("start", REPL_MS), wdt
    feeds = [w[1] for w in wdt if w[0] == "feed"]
    gaps = [b - a for a, b in zip([wdt[0][1]] + feeds, feeds)]
    assert gaps and all(4500 <= g <= 6500 for g in gaps), gaps
    assert "BUT1 pressed" in log and duties(board)[-1] == FAILSAFE
    # Next start: nothing new to say. watchdog_s 0, and BUT1 pressed (and let go) while the
    # VEN is still setting up (its tasks not started yet): still honoured, no watchdog ever.
    with open(os.path.join(board.flash, "config", "device.json"), "w") as f:
        json.dump(no_vtn_config(ip, watchdog_s=0), f)
    with board.start(reset_cause=1):
        board.wait_for(r"clock ", 20)
        board.press(hold=False)
        assert board.wait_exit(20) == 0
    log = board.log()
    assert "the last run ended in a crash" not in log and "BUT1 pressed" in log, log
    assert board.wdt() == []
    assert "watchdog=off" in log  # the state at the REPL


def test_a_new_dhcp_address_rebuilds_discovery_and_polling_goes_on(kind, vtn, tmp_path):
    vtn_ip, old, new = addresses(3)
    server = vtn(vtn_ip)
    ip_file = str(tmp_path / "lease")
    with open(ip_file, "w") as f:
        f.write(old)
    cfg = device_config(server.ca_pem())
    cfg["outputs"] = [CHANNEL_FS]
    board = Board(tmp_path / "board", kind, old, cfg, HEAP[kind], settings={"ip_file": ip_file})

    def polls():
        return len([r for r in server.records() if r["rel"] == "/programs"])

    with board.start():
        board.wait_for(r"network up: %s" % re.escape(old), 20)
        board.wait_for(r"VTN Field VTN found by mDNS", 20)
        board.wait_for(r"schedule updated", 30)
        with open(ip_file + ".tmp", "w") as f:
            f.write(new)
        os.rename(ip_file + ".tmp", ip_file)  # a new lease
        board.wait_for(r"network: address %s \(was %s\)" % (re.escape(new), re.escape(old)), 10)
        board.wait_for(r"network up: %s" % re.escape(new), 10)
        board.wait_for(r"VTN Field VTN found by mDNS", 20, count=2)
        after = polls()
        board.wait_until(lambda: polls() >= after + 2, 30, "polls after the new address")
        assert board.running()
        board.press()
        assert board.wait_exit(20) == 0
    log = board.log()
    tail = log[log.index("network up: " + new):]
    assert "mDNS: browsing _openadr3._tcp.local on port 5353" in tail, tail  # discovery again, on the new address
    assert log.count("mDNS: browsing _openadr3._tcp.local") == 2, log
    assert "Traceback" not in log and "failed (restarting it)" not in log, log[-3000:]


def test_a_press_during_the_first_tls_handshake_stops_the_ven(kind, vtn, tmp_path):
    vtn_ip, ip = addresses(2)
    server = vtn(vtn_ip)
    cfg = device_config(server.ca_pem())
    cfg["outputs"] = [CHANNEL_FS]
    board = Board(tmp_path / "board", kind, ip, cfg, HEAP[kind])
    with board.start():
        board.wait_for(r"VTN Field VTN found by mDNS", 20)
        board.press(hold=False)  # the next step: the TLS handshake for the token
        assert board.wait_exit(20) == 0
    log = board.log()
    assert "BUT1 pressed: stopping the VEN" in log and "Traceback" not in log, log[-3000:]
    assert duties(board)[-1] == FAILSAFE
