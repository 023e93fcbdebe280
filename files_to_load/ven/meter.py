# What an output channel really did, for reports (device-independent).
#
# A Meter keeps the channel's last SIZE changes of (time, load duty, fail-safe)
# in a ring of two int arrays (8 bytes a change, allocated once), and answers
# "what did the load get from start to end": the time-weighted mean duty and
# the state it spent longest in (fail-safe, idle at duty 0, running). Times are
# Unix milliseconds kept as offsets from a base, moved forward when they would
# leave 32 bits (about 12 days stay): changes before the new base are dropped,
# but the one still in force there. Time before the oldest change kept is
# unknown and left out of the mean; a window with nothing known gives None.
#
#   m = Meter()
#   m.record(now_ms, duty, failsafe=False)      # at every change of the output
#   m.summary(start_s, end_s)   # -> (mean duty, FAILSAFE | IDLE | RUNNING) or None

import array

FAILSAFE = 0
IDLE = 1
RUNNING = 2
SIZE = 64
_FS = 0x10000  # the fail-safe flag, above any duty_u16
_SPAN = 0x7FFFFFFF


class Meter:
    def __init__(self, size=SIZE):
        self.t = array.array("i", range(size))  # ms after self.base
        self.d = array.array("i", range(size))  # load duty, | _FS at fail-safe
        self.head = 0  # the oldest entry
        self.n = 0
        self.base = None

    def _at(self, i):
        return (self.head + i) % len(self.t)

    def record(self, t_ms, duty, failsafe=False):
        code = duty | _FS if failsafe else duty
        n = self.n
        if n and self.d[self._at(n - 1)] == code:
            return
        if self.base is None:
            self.base = t_ms
        off = t_ms - self.base
        if n and off < self.t[self._at(n - 1)]:
            off = self.t[self._at(n - 1)]  # the clock went back: keep the order
        if off > _SPAN or off < 0:
            self._rebase(t_ms)
            off = t_ms - self.base
            n = self.n
        if n == len(self.t):
            self.head = self._at(1)  # full: the oldest goes
            n -= 1
        k = self._at(n)
        self.t[k] = off
        self.d[k] = code
        self.n = n + 1

    def _rebase(self, t_ms):
        new = t_ms - _SPAN // 2
        kept = 0
        for i in range(self.n):
            k = self._at(i)
            off = self.base + self.t[k] - new
            # The last entry before the new base is still in force there: kept, at the base.
            if off >= 0 or i + 1 == self.n or self.base + self.t[self._at(i + 1)] > new:
                j = self._at(kept)
                self.t[j] = max(off, 0)
                self.d[j] = self.d[k]
                kept += 1
        self.base = new
        self.n = kept

    def summary(self, start_s, end_s):
        """(mean load duty, state held longest) from start_s to end_s (Unix s), or None."""
        if self.base is None or end_s <= start_s:
            return None
        lo = start_s * 1000 - self.base
        hi = end_s * 1000 - self.base
        total = 0
        weighted = 0
        times = [0, 0, 0]
        n = self.n
        for i in range(n):
            a = max(self.t[self._at(i)], lo)
            b = min(self.t[self._at(i + 1)] if i + 1 < n else hi, hi)
            if b <= a:
                continue
            code = self.d[self._at(i)]
            span = b - a
            total += span
            if code & _FS:
                weighted += (code ^ _FS) * span
                times[FAILSAFE] += span
            else:
                weighted += code * span
                times[RUNNING if code else IDLE] += span
        if not total:
            return None
        state = FAILSAFE
        for s in (IDLE, RUNNING):
            if times[s] > times[state]:
                state = s
        return weighted // total, state
