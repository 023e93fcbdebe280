"""Stand-in for MicroPython's `machine` module on the ESP32 (host simulation only).

Behaves like the ESP32 port where the firmware can observe it (argument
ranges, input-only pins, PWM duty scale) and records what the firmware did:
`PWM_LOG` holds (unix_time, pin, duty_u16) for every duty change (host clock),
`WDT_LOG` ("start", monotonic time, timeout_ms) / ("feed", monotonic time) for the watchdog.
RTC().datetime(...) sets the simulated board clock (tools.hostsim.clock).
"""
import calendar
import time

from tools.hostsim import clock

PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5

PWM_LOG = []        # (unix time, pin number, duty_u16) for every change
PWMS = {}           # pin number -> the live PWM object
WDT_LOG = []        # ("start", monotonic s, timeout ms) | ("feed", monotonic s)
BUTTON_PIN = 34
_button_at = None   # simulated uptime (s) when BUT1 goes low, or None
_button_until = None  # simulated uptime (s) when it is released again, or None (held)
_button_irq = None  # (pin, handler) BUT1's interrupt calls, once the firmware set one
_reset_cause = PWRON_RESET
_INPUT_ONLY = (34, 35, 36, 37, 38, 39)


def press_button_at(seconds, release_at=None):
    """BUT1 goes low at `seconds` of simulated uptime (and high again at release_at)."""
    global _button_at, _button_until
    _button_at = seconds
    _button_until = release_at
    if _button_irq is not None:
        _interrupt(*_button_irq)


def _interrupt(pin, handler):
    # The board calls handler from an interrupt at the press; here a timer thread
    # does (the firmware's handler only sets an asyncio.ThreadSafeFlag).
    if _button_at is not None:
        import threading
        t = threading.Timer(max(0.0, _button_at - clock.uptime()), handler, (pin,))
        t.daemon = True
        t.start()


class Pin:
    IN, OUT, OPEN_DRAIN = 1, 3, 7
    PULL_UP, PULL_DOWN = 1, 2
    IRQ_FALLING, IRQ_RISING = 2, 1

    def __init__(self, id, mode=None, pull=None, value=None):
        if not isinstance(id, int) or not 0 <= id <= 39:
            raise ValueError("invalid pin")
        if id in _INPUT_ONLY and (mode == Pin.OUT or pull is not None):
            raise ValueError("pin %d is input-only and has no pull resistors" % id)
        self.id = id
        self.mode = mode
        self._level = 1 if value is None else int(bool(value))

    def value(self, v=None):
        if v is not None:
            self._level = int(bool(v))
            return None
        if self.id == BUTTON_PIN:
            # External pull-up: high until the simulated press.
            up = clock.uptime()
            down = _button_at is not None and up >= _button_at
            return 0 if down and (_button_until is None or up < _button_until) else 1
        return self._level

    def __call__(self, v=None):
        return self.value(v)

    def irq(self, handler=None, trigger=None):
        # BUT1's handler is called at the press set by press_button_at (before or after this).
        global _button_irq
        if self.id == BUTTON_PIN and handler is not None:
            _button_irq = (self, handler)
            _interrupt(self, handler)
        return None

    def __repr__(self):
        return "Pin(%d)" % self.id


class PWM:
    def __init__(self, dest, freq=None, duty_u16=None, duty_ns=None, invert=False):
        pin = dest.id if isinstance(dest, Pin) else int(dest)
        if pin in _INPUT_ONLY:
            raise ValueError("pin %d cannot do PWM" % pin)
        self.pin = pin
        self._freq = 5000
        self._duty = 0
        PWMS[pin] = self
        if freq is not None:
            self.freq(freq)
        if duty_u16 is not None:
            self.duty_u16(duty_u16)

    def freq(self, value=None):
        if value is None:
            return self._freq
        if not 1 <= value <= 40000000:
            raise ValueError("frequency must be from 1Hz to 40MHz")
        self._freq = value

    def duty_u16(self, value=None):
        if value is None:
            return self._duty
        if not isinstance(value, int) or not 0 <= value <= 65535:
            raise ValueError("duty_u16 must be from 0 to 65535")
        if value != self._duty or not [r for r in PWM_LOG if r[1] == self.pin]:
            PWM_LOG.append((clock.real_time(), self.pin, value))
        self._duty = value

    def deinit(self):
        PWMS.pop(self.pin, None)


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.fed = time.monotonic()
        WDT_LOG.append(("start", self.fed, timeout))

    def feed(self):
        self.fed = time.monotonic()
        WDT_LOG.append(("feed", self.fed))


class RTC:
    _memory = b""

    def datetime(self, value=None):
        # ESP32 order: (year, month, day, weekday, hours, minutes, seconds, microseconds).
        if value is not None:
            y, mo, d, _wd, h, mi, s, us = value
            clock.set_wall(calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) + us / 1e6)
            return None
        now = clock.wall()
        t = time.gmtime(now)
        return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_wday, t.tm_hour, t.tm_min, t.tm_sec, int(now % 1 * 1e6))

    def memory(self, data=None):
        if data is None:
            return RTC._memory
        if len(data) > 2048:
            raise ValueError("RTC memory is 2 KB")
        RTC._memory = bytes(data)


def reset_cause():
    return _reset_cause


def reset():
    raise SystemExit("machine.reset()")


def soft_reset():
    raise SystemExit("machine.soft_reset()")


def unique_id():
    return b"\x24\x0a\xc4\x00\x00\x01"


def freq(value=None):
    return 240000000 if value is None else None


def idle():
    time.sleep(0)
