# Stand-in for the ESP32 port's `machine` on the MicroPython unix port, for the
# real-MicroPython board simulation (tools/mpboard/onboard/board.py). Never goes onto a
# device. What the firmware can observe behaves as on the ESP32 (input-only
# pins, duty_u16 range, RTC calendar fields); what it does is written to files
# named in the board settings (_board.py):
#   pwm_log   one line per duty change: "<unix time> <pin> <duty_u16>"
#   button    BUT1 (GPIO34) reads low while this file exists; each byte added to
#             the file named by "presses" is one press, which the pin's
#             interrupt handler (Pin.irq) is called for, even a press shorter
#             than a step that keeps the loop busy (latched, as on the board)
import os
import time
import utime

import _board

PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5
_INPUT_ONLY = (34, 35, 36, 37, 38, 39)


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


class Pin:
    IN, OUT, OPEN_DRAIN = 1, 3, 7
    PULL_UP, PULL_DOWN = 1, 2
    IRQ_FALLING, IRQ_RISING = 2, 1

    def __init__(self, id, mode=-1, pull=-1, value=None):
        if not isinstance(id, int) or not 0 <= id <= 39:
            raise ValueError("invalid pin")
        if id in _INPUT_ONLY and (mode == Pin.OUT or pull not in (-1, None)):
            raise ValueError("pin can only be input")
        self.id = id
        self._level = 1 if value is None else int(bool(value))

    def value(self, v=None):
        if v is not None:
            self._level = int(bool(v))
            return None
        if self.id == 34:
            # External pull-up: high unless the test "holds" the button.
            path = _board.get("button")
            return 0 if path and _exists(path) else 1
        return self._level

    def __call__(self, v=None):
        return self.value(v)

    def irq(self, handler=None, trigger=3):
        # The board calls handler from an interrupt; here a task watches the presses file.
        if self.id == 34 and handler is not None and _board.get("presses"):
            import asyncio
            # Armed now: a press before the task first runs (the loop busy) is not lost.
            path = _board.get("presses")
            asyncio.create_task(_presses(self, handler, path, _size(path)))


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return 0


async def _presses(pin, handler, path, seen):
    import asyncio
    while True:
        await asyncio.sleep_ms(5)
        n = _size(path)
        while seen < n:
            seen += 1
            handler(pin)


class PWM:
    def __init__(self, dest, freq=5000, duty_u16=None, invert=False):
        pin = dest.id if isinstance(dest, Pin) else dest
        if pin in _INPUT_ONLY:
            raise ValueError("pin can only be input")
        self.pin = pin
        self._freq = 5000
        self._duty = None
        self.freq(freq)
        self.duty_u16(0 if duty_u16 is None else duty_u16)

    def freq(self, value=None):
        if value is None:
            return self._freq
        if not 1 <= value <= 40000000:
            raise ValueError("frequency must be from 1Hz to 40MHz")
        self._freq = value

    def duty_u16(self, value=None):
        if value is None:
            return self._duty
        if not 0 <= value <= 65535:
            raise ValueError("duty_u16 must be from 0 to 65535")
        if value != self._duty:
            _board.append_line("pwm_log", "%d %d %d" % (utime.time_ns() // 1000000, self.pin, value))
        self._duty = value

    def deinit(self):
        pass


class WDT:
    # The test harness is the watchdog's hardware: it reads "wdt_log" (a line
    # per start and feed) and resets the board when a feed is late.
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        _board.append_line("wdt_log", "start %d %d" % (utime.time_ns() // 1000000, timeout))

    def feed(self):
        _board.append_line("wdt_log", "feed %d" % (utime.time_ns() // 1000000))


def _days_from_civil(y, m, d):
    # Days from 1970-01-01 (proleptic Gregorian); time.mktime would use the host's zone.
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


class RTC:
    def datetime(self, value=None):
        # ESP32 order: (year, month, day, weekday, hours, minutes, seconds, microseconds).
        if value is None:
            ns = time.time_ns()
            t = time.gmtime(ns // 1000000000)
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], (ns // 1000) % 1000000)
        y, mo, d, _wd, h, mi, s, us = value
        secs = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
        time.set_board_ns(secs * 1000000000 + us * 1000)

    def memory(self, data=None):
        # Kept in a file (setting "rtc_memory"): it outlives soft and watchdog resets, as on the board.
        path = _board.get("rtc_memory")
        if data is None:
            try:
                with open(path, "rb") as f:
                    return f.read()
            except (OSError, TypeError):
                return b""
        if len(data) > 2048:
            raise ValueError("RTC memory is 2 KB")
        if path:
            with open(path, "wb") as f:
                f.write(data)


def reset_cause():
    return _board.get("reset_cause", PWRON_RESET)


def reset():
    raise SystemExit(101)


def soft_reset():
    raise SystemExit(102)


def unique_id():
    return b"\x24\x0a\xc4\x00\x00\x01"


def freq(value=None):
    return 240000000


def idle():
    time.sleep_ms(1)
