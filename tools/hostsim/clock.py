"""Shared simulated-board clocks.

uptime(): seconds since the simulated power-on (monotonic).
The wall clock (what the firmware's time.time() reads once sim.install() ran):
the host's clock by default, as on a board whose RTC was set before a soft
reset; with unset_wall() it starts at 2000-01-01T00:00:00Z at power-on, as an
ESP32 without a battery-backed RTC does, until machine.RTC().datetime(...)
sets it. real_time() is always the host's clock (used for recordings).
"""
import time

_T0 = time.monotonic()
_real_time = time.time
_real_time_ns = time.time_ns
_wall_offset_ns = 0
_EPOCH_2000_NS = 946684800 * 1000000000


def uptime():
    return time.monotonic() - _T0


def reset():
    global _T0
    _T0 = time.monotonic()


def real_time():
    return _real_time()


def wall_ns():
    return _real_time_ns() + _wall_offset_ns


def wall():
    return wall_ns() / 1e9


def set_wall(unix_s):
    """The board's clock now reads unix_s (a float) and runs on from there."""
    global _wall_offset_ns
    _wall_offset_ns = int(unix_s * 1e9) - _real_time_ns()


def unset_wall():
    """Power-on without a set RTC: the clock reads 2000-01-01 plus the uptime."""
    global _wall_offset_ns
    _wall_offset_ns = _EPOCH_2000_NS + int(uptime() * 1e9) - _real_time_ns()


def wall_is_host():
    return _wall_offset_ns == 0


def use_host_wall():
    """The board clock reads the host's clock again (tests restore this)."""
    global _wall_offset_ns
    _wall_offset_ns = 0
