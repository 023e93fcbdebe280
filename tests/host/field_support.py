"""Shared set-up of the field tests (supervision, health, safe mode, crash record,
BUT1: tests/host/test_supervision.py and the others named in their docstrings):
a simulated board in process (tests/host/simboard.py) with a device filesystem
in a temporary folder (the cwd, as on the board), the network stand-in at a
fixed address and a config whose VTN refuses every connection (no VTN is
needed to see the tasks fail and restart).

    from tests.host.field_support import field  # noqa: F401 (pytest fixture)
    from tests.host.simboard import board  # noqa: F401 (the fixture field uses)

    def test_x(field):
        cfg = field.cfg()            # merged config (defaults + DEVICE)
        field.flash()                # config/ written to the cwd for ven.mainloop.main()
"""
import asyncio
import json
import os
import time

import pytest

from tools.hostsim import machine as simmachine
from tools.hostsim import network as simnetwork

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADDR = "10.0.0.5"
PIN = 4
FAILSAFE_DUTY = 111
CHANNEL = {"name": "load", "pin": PIN, "price_low": 0, "price_high": 10, "duty_at_low": 0, "duty_at_high": 65000,
           "failsafe_duty": FAILSAFE_DUTY}
NO_NTP = {"ntp_servers": [], "ntp_interval_s": 3600, "ntp_timeout_ms": 500, "http_date_fallback": False}
# Nothing listens on port 1: every poll fails at once (a VtnError, logged as a warning).
DEVICE = {"vtn": {"url": "http://127.0.0.1:1/openadr3/3.1.0", "retry_max_s": 2, "poll_interval_s": 2},
          "outputs": [CHANNEL], "clock": NO_NTP, "watchdog_s": 0}
REPL_MS = 25 * 3600 * 1000


def defaults():
    with open(os.path.join(REPO, "configs", "default.json")) as f:
        return json.load(f)


def device(**top):
    d = json.loads(json.dumps(DEVICE))
    d.update(top)
    return d


def duties(pin=PIN):
    return [d for (_t, p, d) in simmachine.PWM_LOG if p == pin]


def wdt_starts():
    return [e[2] for e in simmachine.WDT_LOG if e[0] == "start"]


def wdt_feeds():
    return [e[1] for e in simmachine.WDT_LOG if e[0] == "feed"]


async def until(cond, timeout_s=5, what="condition"):
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "%s not met within %s s" % (what, timeout_s)
        await asyncio.sleep(0.01)


async def stop(task):
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


class Field:
    def __init__(self, path):
        self.path = path

    def cfg(self, **top):
        from ven import config
        return config.merge(defaults(), device(**top))

    def flash(self, **top):
        """config/default.json and config/device.json in the cwd (the board's /), for main()."""
        os.makedirs(os.path.join(self.path, "config"), exist_ok=True)
        with open(os.path.join(self.path, "config", "default.json"), "w") as f:
            json.dump(defaults(), f)
        with open(os.path.join(self.path, "config", "device.json"), "w") as f:
            json.dump(device(**top), f)


@pytest.fixture
def field(board, tmp_path, monkeypatch):
    from ven import mainloop, netup
    monkeypatch.chdir(tmp_path)
    simnetwork.reset(ip=ADDR, link_delay_s=0.02)
    monkeypatch.setattr(netup, "_asked", False)
    monkeypatch.setattr(mainloop, "state", None)
    yield Field(str(tmp_path))
    simnetwork.reset()
