"""In-process simulated board for host tests of device modules that need
`machine` or the MicroPython time functions (ven.outputs, ven.clock,
ven.mainloop): the tools.hostsim stand-ins, installed with monkeypatch so
nothing leaks into other tests. Use it as a fixture:

    from tests.host.simboard import board  # noqa: F401 (pytest fixture)

    def test_x(board):
        board.unset_wall()    # the board clock reads 2000-01-01 until set
"""
import asyncio
import builtins
import gc
import sys
import time
import typing

import pytest

from tools.hostsim import clock as simclock
from tools.hostsim import machine as simmachine
from tools.hostsim import micropython as simmicropython
from tools.hostsim import network as simnetwork
from tools.hostsim import sim


@pytest.fixture
def board(monkeypatch):
    monkeypatch.setitem(sys.modules, "machine", simmachine)
    monkeypatch.setitem(sys.modules, "network", simnetwork)
    monkeypatch.setitem(sys.modules, "micropython", simmicropython)
    monkeypatch.setitem(sys.modules, "uasyncio", asyncio)
    monkeypatch.setattr(asyncio, "sleep_ms", sim._sleep_ms, raising=False)
    monkeypatch.setattr(asyncio, "ThreadSafeFlag", sim.ThreadSafeFlag, raising=False)
    monkeypatch.setattr(gc, "mem_free", sim.mem_free, raising=False)
    monkeypatch.setattr(gc, "mem_alloc", sim.mem_alloc, raising=False)
    monkeypatch.setattr(gc, "threshold", sim.threshold, raising=False)
    for name, fn in (("ticks_ms", sim.ticks_ms), ("ticks_us", sim.ticks_us), ("ticks_add", sim.ticks_add),
                     ("ticks_diff", sim.ticks_diff), ("time", simclock.wall), ("time_ns", simclock.wall_ns)):
        monkeypatch.setattr(time, name, fn, raising=False)
    # micropython-mdns (imported with ven.mainloop) evaluates typing names at import time.
    for name in ("List", "Dict", "Optional", "Iterable", "Callable", "Awaitable", "Tuple", "Union", "Set", "Any"):
        monkeypatch.setattr(builtins, name, getattr(typing, name), raising=False)
    simmachine.PWM_LOG.clear()
    simmachine.PWMS.clear()
    simmachine.WDT_LOG.clear()
    # A powered-on board, BUT1 up, empty RTC memory (tests change these through monkeypatch).
    monkeypatch.setattr(simmachine, "_button_at", None)
    monkeypatch.setattr(simmachine, "_button_until", None)
    monkeypatch.setattr(simmachine, "_button_irq", None)
    monkeypatch.setattr(simmachine, "_reset_cause", simmachine.PWRON_RESET)
    monkeypatch.setattr(simmachine.RTC, "_memory", b"")
    simclock.use_host_wall()
    yield simclock
    simclock.use_host_wall()
