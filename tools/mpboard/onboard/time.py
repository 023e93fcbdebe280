# Stand-in for the ESP32 port's `time` on the MicroPython unix port: the board's
# clock counts from 2000-01-01 (the unix port counts from 1970) and can be set
# through machine.RTC().datetime(), or start unset at 2000-01-01 like an ESP32
# after power-on ("rtc_unset" in the board settings). ticks_* and sleeps are
# the real ones. Never goes onto a device.
import utime as _t

from _board import get

_EPOCH_2000 = 946684800
# Board clock = real clock + _offset_ns (ns); with rtc_unset it starts at 2000-01-01.
_offset_ns = (-_t.time_ns() + _EPOCH_2000 * 1000000000) if get("rtc_unset") else 0

ticks_ms = _t.ticks_ms
ticks_us = _t.ticks_us
ticks_cpu = _t.ticks_cpu
ticks_add = _t.ticks_add
ticks_diff = _t.ticks_diff
sleep = _t.sleep
sleep_ms = _t.sleep_ms
sleep_us = _t.sleep_us


def time_ns():
    return _t.time_ns() + _offset_ns - _EPOCH_2000 * 1000000000


def time():
    return time_ns() // 1000000000


def gmtime(secs=None):
    return _t.gmtime((time() if secs is None else secs) + _EPOCH_2000)


localtime = gmtime


def mktime(tup):
    return _t.mktime(tup) - _EPOCH_2000


def set_board_ns(unix_ns):
    # machine.RTC().datetime(...) lands here: the board clock reads unix_ns now.
    global _offset_ns
    _offset_ns = unix_ns - _t.time_ns()
