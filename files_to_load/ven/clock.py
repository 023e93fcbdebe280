# The wall clock: is it valid, and keeping it right.
#
# The ESP32-POE has no battery-backed RTC: after power-on the clock reads
# 2000-01-01; after a soft, watchdog or panic reset it keeps the time it was
# set to. So a reading at or after FLOOR (2025-01-01) means the clock was set
# since power-on (by us before a reset, or by hand), and is taken as valid.
# Otherwise the outputs stay at fail-safe until one of these sets it:
# - SNTP: our own client on a non-blocking UDP socket (one 48-byte request,
#   polled from asyncio), so the button and the outputs stay responsive; the
#   servers in clock.ntp_servers ("host" or "host:port") are tried in turn, at
#   start and every clock.ntp_interval_s. Only the DNS lookup of a server name
#   blocks (the firmware's getaddrinfo); use an IP address to avoid even that.
# - the VTN's HTTP Date header (sites without NTP): the Date of every verified
#   response (https with the certificate checked) keeps the clock right
#   (note_http_date, +-0.5 s) while NTP does not. While the clock is not valid
#   (no certificate can be checked then: its dates are in "the future") and
#   NTP fails, HEAD requests to the VTN on one unverified connection, ~100 ms
#   apart, until its Date turns to the next second, place the time to about
#   0.1 s; nothing is sent that needs trust. Once valid, no more probes.
# Whenever the clock is set or steps, on_change() is called so the output loop
# re-plans its next wake-up at once.
#
#   clk = Clock(cfg["clock"], on_change=state.changed.set)
#   clk.valid, clk.source, clk.reason, clk.status()
#   asyncio.create_task(clk.run(lambda: state.vtn))

import asyncio
import logging
import time

import ven
from ven import isotime, retry

log = logging.getLogger("ven.clock")

FLOOR = 1735689600  # 2025-01-01T00:00:00Z
# Steps smaller than this are drift corrections, not worth a re-plan.
_STEP_NOTICE_MS = 500
# HEAD requests, ~100 ms apart, to see the VTN's Date header turn to the next second.
DATE_PROBES = 12


def set_rtc(unix_ms):
    """Set the board's clock to unix_ms (machine.RTC takes calendar fields: epoch-proof)."""
    import machine
    y, mo, d, h, mi, s, wd = isotime.civil_from_unix(unix_ms // 1000)
    machine.RTC().datetime((y, mo, d, wd + 1, h, mi, s, (unix_ms % 1000) * 1000))


class Clock:
    def __init__(self, cfg, on_change=None, vtn_timeout_s=10):
        self.servers = list(cfg["ntp_servers"])
        self.interval_s = cfg["ntp_interval_s"]
        self.timeout_ms = cfg["ntp_timeout_ms"]
        self.http_fallback = cfg["http_date_fallback"]
        self.on_change = on_change
        self.vtn_timeout_s = vtn_timeout_s
        self.valid = False
        self.source = None  # type: str | None
        self.reason = "not checked yet"
        self.last_sync = None  # type: int | None
        self.last_error = None  # type: str | None
        self._valid_event = None  # type: asyncio.Event | None
        self.check()

    def check(self):
        t = isotime.now()
        if t >= FLOOR:
            if not self.valid:
                self.valid = True
                self.source = "board clock (set before this start)"
                self.reason = ""
                if self._valid_event is not None:
                    self._valid_event.set()
        else:
            self.valid = False
            self.reason = "the board clock reads %s (not set since power-on); waiting for %s" % (
                isotime.format_datetime(t), self._sources())
        return self.valid

    def _sources(self):
        ways = []
        if self.servers:
            ways.append("NTP (%s)" % ", ".join(self.servers))
        if self.http_fallback:
            ways.append("the VTN's Date header")
        return " or ".join(ways) or "nothing: no NTP server configured and clock.http_date_fallback is off"

    def status(self):
        if not self.valid:
            return "NOT valid: %s%s" % (self.reason, ("; last error: %s" % self.last_error) if self.last_error else "")
        if self.last_sync is None:
            return "valid (%s)" % self.source
        return "valid (%s, %d s ago)" % (self.source, isotime.now() - self.last_sync)

    def set_time(self, unix_ms, source):
        """Set the clock from a trusted source; notifies on_change if it stepped or became valid."""
        step = unix_ms - isotime.now_ms()
        set_rtc(unix_ms)
        was_valid = self.valid
        self.valid = True
        self.source = source
        self.reason = ""
        self.last_sync = unix_ms // 1000
        self.last_error = None
        if not was_valid or abs(step) >= _STEP_NOTICE_MS:
            log.info("clock set from %s: %s (step %+d ms)", source, isotime.format_datetime(unix_ms // 1000), step)
            if self.on_change is not None:
                self.on_change()
        if self._valid_event is not None:
            self._valid_event.set()

    async def wait_valid(self):
        if self.valid:
            return
        if self._valid_event is None:
            self._valid_event = asyncio.Event()
        await self._valid_event.wait()

    def _date_wanted(self):
        # A Date header may set the clock while nothing better (NTP) has.
        return self.http_fallback and (not self.valid or not (self.source or "").startswith("NTP"))

    def note_http_date(self, value, verified=False):
        """A Date header seen on a VTN response: sets the clock (to +-0.5 s) unless a
        better source did; an unverified one only while the clock is not valid."""
        if not value or not self._date_wanted() or (self.valid and not verified):
            return False
        try:
            t = isotime.parse_http_date(value)
        except ValueError:
            return False
        # Whole seconds only: the middle of that second is the best guess.
        if self.valid and abs(t * 1000 + 500 - isotime.now_ms()) < 2000:
            return False
        self.set_time(t * 1000 + 500, "HTTP Date of the VTN")
        return True

    async def sync_ntp(self):
        """Try each server once; True when one of them set the clock."""
        from ven import sntp  # loaded for the exchange (hourly), then let go
        try:
            for entry in self.servers:
                try:
                    unix_ms = await sntp.query(entry, self.timeout_ms)
                except (ValueError, OSError) as e:
                    self.last_error = "NTP %s: %s" % (entry, e)
                    log.warning("clock: %s", self.last_error)
                    continue
                self.set_time(unix_ms, "NTP " + entry)
                return True
            return False
        finally:
            ven.forget("ven.sntp")

    async def http_date(self, vtn):
        """Set the clock from the VTN's Date header (HEAD /programs; any status will do).

        A Date has whole seconds: asking again every ~100 ms until it turns over
        places the second's start to about the spacing of two answers, instead
        of +-0.5 s (at most DATE_PROBES requests, once, while the clock is unset).
        """
        if not self._date_wanted():
            return False
        from ven import http_client
        ssl_ctx = None
        if vtn.base_url.startswith("https://"):
            from ven import tlsconf
            # Nothing is sent and only the Date is read; while the clock is unset
            # no certificate's validity period could be checked anyway.
            ssl_ctx = tlsconf.client_context(None, True)
        # One connection (one TLS session) for every probe.
        session = http_client.Session(self.vtn_timeout_s, 1024, ssl_ctx)
        try:
            prev = await self._head_date(session, vtn)
            if prev is None:
                return False
            for _ in range(DATE_PROBES):
                await asyncio.sleep(0.1)
                cur = await self._head_date(session, vtn)
                if cur is None:
                    break
                if cur[0] != prev[0]:
                    # The second cur[0] began between the two answers: take the middle.
                    since = time.ticks_diff(time.ticks_ms(), cur[1])
                    self.set_time(cur[0] * 1000 + time.ticks_diff(cur[1], prev[1]) // 2 + since,
                                  "HTTP Date of the VTN")
                    return True
                prev = cur
        finally:
            await session.close()
        since = time.ticks_diff(time.ticks_ms(), prev[1])
        self.set_time(prev[0] * 1000 + 500 + since, "HTTP Date of the VTN")
        return True

    async def _head_date(self, session, vtn):
        # (Date in Unix seconds, ticks_ms when the answer came) or None (last_error says why).
        from ven import http_client
        from ven.url import join
        try:
            resp = await session.request("HEAD", join(vtn.base_url, "/programs"), connect_host=vtn.connect_host)
        except http_client.HTTPError as e:
            self.last_error = "HTTP Date from %s: %s" % (vtn.base_url, e)
            log.warning("clock: %s", self.last_error)
            return None
        got = time.ticks_ms()
        try:
            return isotime.parse_http_date(resp.headers.get("date")), got
        except ValueError:
            self.last_error = "the VTN sent no usable Date header"
            return None

    async def run(self, get_vtn=None):
        """Keep the clock right for ever: NTP now and every interval, HTTP Date as the fallback."""
        failures = 0
        while True:
            ok = await self.sync_ntp() if self.servers else False
            if not ok and self.http_fallback and not self.valid:
                vtn = get_vtn() if get_vtn is not None else None
                if vtn is not None:
                    ok = await self.http_date(vtn)
            if ok:
                failures = 0
                wait = self.interval_s
            else:
                failures += 1
                # Back off towards the interval; retry within a minute while the clock is unknown.
                wait = retry.delay(failures, self.interval_s)
                if not self.valid:
                    wait = min(wait, 60)
            await asyncio.sleep(wait)
