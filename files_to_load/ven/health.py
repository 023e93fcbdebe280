# Is the VEN making progress? The hardware watchdog, fed only while it is.
#
# The poll path (the controller: polling, waiting for the network, the clock
# or a VTN, backing off) and the output path (the output task, which wakes at
# least every 30 s) each call beat() as they go round. Every FEED_S this task
# feeds machine.WDT only if both beat within their allowed gaps; a path stuck
# longer (a hung await, a task that died for good) stops the feeding, said
# once, and the watchdog resets the board after `watchdog_s` (key
# "watchdog_s"; 0: no watchdog). It also keeps the uptime (ticks wrap every
# 12.4 days on the ESP32) and tells when the run counts as good (a good poll
# and GOOD_AFTER_S up): then the safe mode's boot counter is cleared.
#
# The ESP32's watchdog cannot be stopped and keeps running across a soft
# reset. So when BUT1 or Ctrl-C stops the VEN, for_repl() sets it to
# REPL_HOURS: the REPL (mpremote, ampy) stays usable that long; then the board
# resets and the VEN starts again, as after a power cut.
#
#   h = Health(cfg["watchdog_s"], poll_gap_s)
#   h.beat("poll"); h.beat("outputs")
#   asyncio.create_task(h.run(on_good))
#   h.for_repl()

import asyncio
import time

FEED_S = 5
OUTPUT_GAP_S = 90  # the output task wakes at least every 30 s
GOOD_AFTER_S = 120
REPL_HOURS = 25


class Health:
    def __init__(self, watchdog_s, poll_gap_s, log=None):
        self.watchdog_s = watchdog_s
        self.gaps = {"poll": poll_gap_s, "outputs": OUTPUT_GAP_S}
        self.log = log
        now = time.ticks_ms()
        self.beats = {"poll": now, "outputs": now}
        self.up_s = 0
        self._ticks = now
        self.wdt = None
        self.stuck = None  # the path that stopped the feeding, while it does
        self.good = False  # this run has counted as good

    def beat(self, path):
        self.beats[path] = time.ticks_ms()

    def uptime(self):
        """Seconds since start (the task adds them up: ticks_ms wraps)."""
        return self.up_s + time.ticks_diff(time.ticks_ms(), self._ticks) // 1000

    def _stuck(self, now):
        for path in self.beats:
            late = time.ticks_diff(now, self.beats[path]) // 1000
            if late > self.gaps[path]:
                return path, late
        return None

    async def run(self, polled=None, on_good=None):
        """For ever: uptime, progress, the watchdog; on_good() once when the run is good.
        polled() tells whether a good poll happened yet."""
        self.arm()
        while True:
            await asyncio.sleep(FEED_S)
            now = time.ticks_ms()
            gone = time.ticks_diff(now, self._ticks)
            self.up_s += gone // 1000
            self._ticks = time.ticks_add(now, -(gone % 1000))
            stuck = self._stuck(now)
            if stuck is None:
                if self.wdt is not None:
                    self.wdt.feed()
                if self.stuck is not None and self.log is not None:
                    self.log.warning("the %s path goes on again: feeding the watchdog", self.stuck)
                self.stuck = None
            elif self.stuck != stuck[0]:
                self.stuck = stuck[0]
                if self.log is not None:
                    self.log.error("no progress on the %s path for %d s%s", stuck[0], stuck[1],
                                   ": the watchdog will reset the board" if self.wdt is not None else "")
            if not self.good and polled is not None and polled() and self.uptime() >= GOOD_AFTER_S:
                self.good = True
                if on_good is not None:
                    on_good()

    def arm(self):
        """Start the watchdog (if configured and not yet running): from now on it must be fed."""
        if self.watchdog_s and self.wdt is None:
            from machine import WDT
            self.wdt = WDT(timeout=self.watchdog_s * 1000)

    def for_repl(self):
        """The VEN stops for the REPL: the watchdog (if it runs) gives it REPL_HOURS."""
        if self.wdt is not None:
            for_repl()


def for_repl():
    """Set the watchdog (running, or started now: it cannot be stopped) to REPL_HOURS."""
    from machine import WDT
    WDT(timeout=REPL_HOURS * 3600 * 1000)
