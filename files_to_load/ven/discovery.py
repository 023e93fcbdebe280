# Finding the site's VTN by DNS-SD over mDNS and keeping track of it
# (OpenADR 3.1.0 Definition, "Discovery and Configuration of Local VTNs").
#
# The main loop asks a Locator which VTN to use now (ven.vtn.StaticLocator for
# a configured URL that needs no mDNS: then nothing of this file is loaded):
#
#   loc = discovery.Locator(ip, cfg["vtn"], log)
#   vtn = await loc.get()            # base_url, connect_host, txt, source
#   vtn.next_candidate()             # no answer at all: its next URL (True), or none left (False)
#   loc.failed(vtn, "timed out")     # every URL failed: another VTN, if any, comes first
#   await loc.wait_change(60)        # sleeps; returns early when the VTN changes
#   loc.close()
#
# One VTN may be reachable at several URLs: vtn.candidates is
# [(base_url, connect_host), ...], best first (ven.txt.base_urls: its .local
# name, then the IP its local_url names); vtn.base_url and vtn.connect_host
# are the one in use (connect_host: the address to connect to, None = the URL's
# host). The contract with the loop:
# - A poll that gets no answer at all (nothing came back over HTTP): call
#   vtn.next_candidate() and, if it returns True, retry at once with the new
#   base_url/connect_host (a new client: the Host header changes).
# - Only when it returns False, call loc.failed(vtn, reason): the VTN comes
#   last for a while and its position goes back to the first candidate.
# - Re-choosing keeps the object (and its position) while the VTN and its
#   candidate list stay the same (vtn.same()); a new list (moved, address heard)
#   gives a new Vtn at its first candidate, which wait_change() reports.
# - get() raises DiscoveryError saying what was heard (no answer, services
#   ignored and why, malformed packets, packets dropped for lack of memory).
#
# vtn.discovery_mode says where the VTN comes from: "auto" (the configured
# vtn.url if set, else mDNS), "local" (mDNS only), "local_then_static" (mDNS,
# and vtn.url while no local VTN answers), "static" (vtn.url only).
#
# For mDNS one task owns the socket (ven.mdns_query). It browses
# <vtn.service>.local (PTR; the first question asks for a unicast answer),
# asks for whatever SRV, TXT or A record a response left out, keeps what it
# heard in a small bounded cache (TTLs, goodbyes, cache-flush), re-confirms the
# chosen VTN every vtn.watch_interval_s and chooses again (ven.choose) whenever
# the cache changes: a goodbye, silence, a new address or port, a preferred VTN
# appearing, or a VTN the main loop reported unreachable. Every change is logged.
# Nothing a packet contains can raise out of the receive path. A configured
# URL naming a .local host is resolved by the same socket (an A question),
# never by the firmware's blocking resolver. An error inside the task (a bug,
# or MemoryError) is logged once per cause, and the task goes on with back-off.

import asyncio
import time

from micropython import const

from mdns_client.constants import TYPE_A, TYPE_PTR, TYPE_SRV, TYPE_TXT

from ven import choose, crash, retry
from ven.mdns_cache import MAX_SERVICES, Cache, expired
from ven.mdns_query import MdnsSocket, labels
from ven.url import local_host, valid_host
from ven.vtn import DiscoveryError, Vtn, static_vtn  # noqa: F401 - DiscoveryError: get() raises it

_PACKETS_PER_TICK = const(16)  # per pass, so a flood cannot starve the loop
# RFC 6762: the same question is not asked twice within a second (5.2, 7.3);
# continuous browsing doubles its interval up to an hour (5.2).
_REASK_MS = const(1000)
_BROWSE_FIRST_MS = const(1000)
_BROWSE_MAX_MS = const(3600000)
# Questions for what a response left out: after a moment (the rest may be on
# its way), at most this many times per service.
_FOLLOW_UP_MS = const(20)
_MAX_FOLLOW_UPS = const(5)
# The chosen VTN is re-asked every watch interval; this many questions a
# second apart without an answer mean it is gone.
_VERIFY_TRIES = const(3)
_VERIFY_GAP_MS = const(1000)
# A VTN reported unreachable comes last for this long (or until it moves).
_PENALTY_MS = const(300000)
# The task looks at the socket this often while answers are due, else slower.
_FAST_S = 0.005
_SLOW_S = 0.1
_FAST_FOR_MS = const(1500)
# After a failed pass the task waits 1 s, doubling up to a minute.
_ERROR_WAIT_MS = const(1000)
_ERROR_WAIT_MAX_MS = const(60000)
# Packets dropped for lack of memory are logged at most this often.
_NO_MEMORY_LOG_MS = const(600000)


class Locator:
    """Which VTN to use now; see the top of this file."""

    def __init__(self, local_ip, vtn_cfg, log=None, sock=None):
        self.local_ip = local_ip
        self.cfg = vtn_cfg
        self.log = log
        mode = vtn_cfg["discovery_mode"]
        url = vtn_cfg["url"]
        self.static = static_vtn(url) if url else None
        self.mdns = mode in ("local", "local_then_static") or (mode == "auto" and not url)
        self.fallback = mode == "local_then_static" and self.static is not None
        self.prefs = choose.prefs(vtn_cfg)
        self.watch_ms = int(vtn_cfg["watch_interval_s"] * 1000)
        self.current = None
        self._given = None
        self._changed = asyncio.Event()
        self.cache = Cache(vtn_cfg["service"], self.prefs["instance_names"])
        # A configured http://name.local/... URL gets its address from mDNS
        # too, never from the firmware's blocking resolver.
        self._static_host = local_host(url) if url else None
        self.cache.extra_host = self._static_host
        self._static_asked = None
        self._static_asks = 0
        self._static_tried = False
        self._sock = sock
        self._task = None
        self._failed = {}           # Vtn key -> ticks when reported unreachable
        self._static_ok = False     # local discovery timed out once: fallback allowed
        self._refused = {}          # key -> why it is not acceptable (logged once)
        self.received = 0           # datagrams read
        self._no_memory = 0         # packets dropped for lack of memory, as last logged
        self._no_memory_at = None
        self._error = None          # repr of the last error of a pass, as logged
        self._failing = 0           # passes failed in a row
        self._dirty = False
        self._recheck_at = None
        self._first_query = True
        self._browse_at = time.ticks_ms()
        self._browse_gap = _BROWSE_FIRST_MS
        self._last_browse = None
        self._fast_until = self._browse_at

    # -- what the main loop calls ---------------------------------------------

    async def get(self):
        """The VTN to use; waits up to vtn.discovery_timeout_s for mDNS answers.

        Raises DiscoveryError when none answered in time (and no fallback URL
        is configured), OSError when no mDNS socket could be opened.
        """
        if not self.mdns:
            if self._static_host is None:
                self._set(self.static, time.ticks_ms(), "")
            elif self.current is None:
                await self._resolve_configured()
        else:
            if self._task is None:
                self._start()
            if self.current is None:
                self._browse_soon(time.ticks_ms())
                timeout_s = self.cfg["discovery_timeout_s"]
                await self._wait_current(timeout_s)
                if self.current is None:
                    if not self.fallback:
                        raise DiscoveryError("no usable %s.local service within %s s: %s" % (
                            self.cfg["service"], timeout_s, self.seen()))
                    self._static_ok = True
                    self._choose(time.ticks_ms(), "none answered within %s s" % timeout_s)
        self._given = self.current
        return self.current

    def failed(self, vtn, reason=""):
        """The main loop could not use vtn at any of its URLs: another VTN comes
        first for a while; vtn itself starts again at its first URL."""
        if vtn is None:
            return
        vtn.rewind()
        if self._task is None:
            return
        now = time.ticks_ms()
        if vtn.source == "config":
            self._static_asked = None  # has its .local name moved? ask now
        for k in list(self._failed):
            if time.ticks_diff(now, self._failed[k]) >= _PENALTY_MS or len(self._failed) > MAX_SERVICES:
                del self._failed[k]
        self._failed[vtn.key] = now
        s = self.cache.services.get(vtn.key)
        if s is not None:
            s.verify_at = now  # has it moved or gone? ask now
        self._browse_soon(now)
        self._choose(now, "unreachable: %s" % reason if reason else "unreachable")

    async def wait_change(self, timeout_s):
        """Sleep up to timeout_s; return True early once the VTN differs from what get() gave."""
        if self.current is not self._given:
            return True
        self._changed.clear()
        try:
            await asyncio.wait_for(self._changed.wait(), timeout_s)
        except asyncio.TimeoutError:
            pass
        return self.current is not self._given

    def close(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def _wait_current(self, timeout_s):
        deadline = time.ticks_add(time.ticks_ms(), int(timeout_s * 1000))
        while self.current is None:
            left = time.ticks_diff(deadline, time.ticks_ms())
            if left <= 0:
                return
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left / 1000)
            except asyncio.TimeoutError:
                pass

    async def _resolve_configured(self):
        if self._task is None:
            self._start()
        timeout_s = self.cfg["discovery_timeout_s"]
        await self._wait_current(timeout_s)
        if self.current is None:
            self._static_tried = True
            if self.log:
                self.log.warning("%s did not answer over mDNS within %s s; the firmware's resolver will try it",
                                 self._static_host, timeout_s)
            self._set(self._static_now(), time.ticks_ms(), "")

    def _static_now(self):
        # The configured VTN, with the latest mDNS address of its .local host
        # (the last one known stays when it expires).
        host = self._static_host
        v = self.static
        if host is not None and v is not None:
            ip = self.cache.ip_of(host)
            if ip is not None and ip != v.connect_host:
                self.static = v = Vtn(v.name, [(v.base_url, ip)], host, None, v.txt, "config")
        return v

    # -- the mDNS task ----------------------------------------------------------

    def _start(self):
        if self._sock is None:
            self._sock = MdnsSocket(self.local_ip)
        if self.log:
            if not self.mdns:
                self.log.info("mDNS: resolving %s (from vtn.url)", self._static_host)
            elif self._sock.shared:
                self.log.info("mDNS: browsing %s.local on port 5353", self.cfg["service"])
            else:
                self.log.info("mDNS: port 5353 is taken (%s; the firmware's own responder?): "
                              "using one-shot queries from an ephemeral port", self._sock.bind_error)
        self._task = asyncio.create_task(self._run())

    async def _run(self):
        while True:
            now = time.ticks_ms()
            try:
                self.step(now)
                self._failing = 0
            except Exception as e:  # a bug or MemoryError here must not end discovery for good
                self._failing += 1
                wait_ms = retry.delay(self._failing, _ERROR_WAIT_MAX_MS, _ERROR_WAIT_MS)
                self._step_failed(e, wait_ms)
                await asyncio.sleep(wait_ms / 1000)
            fast = time.ticks_diff(self._fast_until, now) > 0
            await asyncio.sleep(_FAST_S if fast else _SLOW_S)

    def _step_failed(self, e, wait_ms):
        # Logged once per cause (with the traceback where logging can give
        # one); the same error again only lengthens the wait.
        try:
            text = repr(e)
            if crash.kind(e) != self._error:
                self._error = crash.kind(e)
                if self.log:
                    self.log.error("mDNS discovery pass failed: %s; going on, next pass in %d s", text,
                                   wait_ms // 1000)
                    crash.print_trace(e)
        except Exception:  # MemoryError while logging: the task must go on all the same
            pass

    def step(self, now):
        """One pass of the task: read what arrived, expire, ask, choose."""
        for data, addr in self._sock.receive(_PACKETS_PER_TICK):
            self.received += 1
            self.handle_datagram(data, addr, now)
        lost = self._sock.no_memory + self.cache.no_memory
        if lost != self._no_memory and (self._no_memory_at is None or time.ticks_diff(
                now, self._no_memory_at) >= _NO_MEMORY_LOG_MS):
            self._no_memory = lost
            self._no_memory_at = now
            if self.log:
                self.log.warning("mDNS: %d packet(s) dropped so far for lack of memory (MemoryError "
                                 "receiving or parsing one: the heap is short or fragmented)", lost)
        if self.cache.expire(now):
            self._dirty = True
        if self.mdns:
            self._verify(now)
            self._browse(now)
            self._follow_up(now)
        if self._static_host is not None:
            self._ask_static(now)
        if self._dirty or (self._recheck_at is not None and expired(self._recheck_at, now)):
            self._choose(now, "")

    def seen(self):
        """What discovery has heard, for a DiscoveryError: why no service is usable."""
        c = self.cache
        out = []
        for k in c.services:
            s = c.services[k]
            out.append("%s: %s" % (s.instance, self._refused.get(k) or s.why or "incomplete"))
        if out:
            out[0] = "%d service(s) not usable (%s" % (len(out), out[0])
            out[-1] += ")"
        elif self.received:
            out.append("no %s.local service in %d packet(s)" % (self.cfg["service"], self.received))
        else:
            out.append("no answer")
        if c.bad_packets:
            out.append("%d malformed packet(s)" % c.bad_packets)
        lost = self._sock.no_memory + c.no_memory if self._sock else c.no_memory
        if lost:
            out.append("%d packet(s) dropped for lack of memory" % lost)
        if self._failing:
            out.append("discovery failing: %s" % self._error)
        return "; ".join(out)

    def handle_datagram(self, data, addr, now):
        """One received datagram, exactly as the task hands it over; never raises."""
        if self.cache.feed(data, addr, now):
            self._dirty = True

    def _ask(self, questions, unicast, now):
        self._sock.ask(questions, unicast)
        self._fast_until = time.ticks_add(now, _FAST_FOR_MS)

    def _browse_soon(self, now):
        # A fresh browse (first question QU again), but never two within a second.
        self._first_query = True
        self._browse_gap = _BROWSE_FIRST_MS
        at = now
        if self._last_browse is not None and time.ticks_diff(now, self._last_browse) < _REASK_MS:
            at = time.ticks_add(self._last_browse, _REASK_MS)
        if time.ticks_diff(self._browse_at, at) > 0:
            self._browse_at = at

    def _browse(self, now):
        # Continuous querying, RFC 6762 section 5.2: intervals double up to an hour.
        if not expired(self._browse_at, now):
            return
        self._ask([(self.cache.type_labels, TYPE_PTR)], self._first_query, now)
        self._first_query = False
        self._last_browse = now
        self._browse_at = time.ticks_add(now, self._browse_gap)
        self._browse_gap = min(self._browse_gap * 2, _BROWSE_MAX_MS)

    def _follow_up(self, now):
        for k in self.cache.services:
            s = self.cache.services[k]
            if s.asks >= _MAX_FOLLOW_UPS or time.ticks_diff(now, s.first) < _FOLLOW_UP_MS:
                continue
            if s.asked is not None and time.ticks_diff(now, s.asked) < _REASK_MS:
                continue
            qs = []
            if s.srv is None:
                qs.append((s.qname, TYPE_SRV))
            if s.txt is None:
                qs.append((s.qname, TYPE_TXT))
            for host in (s.srv[3] if s.srv else None, s.url_host):
                if host and host not in self.cache.hosts and valid_host(host):
                    qs.append((labels(host), TYPE_A))
            if qs:
                s.asked = now
                s.asks += 1
                self._ask(qs, True, now)

    def _ask_static(self, now):
        # Every second while unresolved (a few times), then every watch interval.
        resolved = self.cache.ip_of(self._static_host) is not None
        if resolved:
            self._static_asks = 0
        if self._static_asked is not None:
            quick = not resolved and self._static_asks < _MAX_FOLLOW_UPS
            if time.ticks_diff(now, self._static_asked) < (_REASK_MS if quick else self.watch_ms):
                return
        self._static_asked = now
        self._static_asks += 1
        self._ask([(labels(self._static_host), TYPE_A)], True, now)

    def _verify(self, now):
        # Is the chosen VTN still there? Ask for its SRV, TXT and address every
        # watch interval (sooner if its SRV TTL runs out first); no answer to
        # _VERIFY_TRIES questions means it is gone (it may have left without a
        # goodbye, and one-shot mode never hears goodbyes).
        v = self.current
        if v is None or v.source != "mdns":
            return
        s = self.cache.services.get(v.key)
        if s is None:
            return
        if s.verify_at is None:
            s.verify_at = time.ticks_add(s.heard, min(self.watch_ms, s.srv_ttl_ms * 4 // 5))
        if not expired(s.verify_at, now):
            return
        if s.tries >= _VERIFY_TRIES:
            self.cache.drop(s.key, "no answer to %d queries" % s.tries)
            self._dirty = True
            return
        qs = [(s.qname, TYPE_SRV), (s.qname, TYPE_TXT)]
        for host in (s.srv[3] if s.srv else None, s.url_host):
            if host and valid_host(host):
                qs.append((labels(host), TYPE_A))
        self._ask(qs, s.tries == 0, now)
        s.tries += 1
        s.verify_at = time.ticks_add(now, _VERIFY_GAP_MS)

    # -- choosing -------------------------------------------------------------------

    def _is_failed(self, key, now):
        t = self._failed.get(key)
        return t is not None and time.ticks_diff(now, t) < _PENALTY_MS

    def _choose(self, now, reason):
        self._dirty = False
        self._recheck_at = None
        for k in self.cache.moved:
            self._failed.pop(k, None)  # it moved: worth another try
        self.cache.moved.clear()
        if not self.mdns:
            v = self._static_now()
            if v is not None and (v.connect_host is not None or self._static_tried):
                self._set(v, now, "moved")
            return
        cands = []
        vtns = []
        for k in self.cache.services:
            s = self.cache.services[k]
            found, again = self.cache.usable(s, now, self.cfg["default_scheme"])
            if again is not None and (self._recheck_at is None or time.ticks_diff(self._recheck_at, again) > 0):
                self._recheck_at = again
            if found is None:
                continue
            v = Vtn(s.instance, found[0], s.srv[3], s.srv[2], found[1], "mdns", k)
            cand = {"instance": s.instance, "priority": s.srv[0], "weight": s.srv[1], "txt": v.txt,
                    "failed": self._is_failed(k, now), "key": k}
            if choose.rank(cand, self.prefs) is None:
                self._refuse(k, cand)
                continue
            self._refused.pop(k, None)
            cands.append(cand)
            vtns.append(v)
        for k in list(self._refused):
            if k not in self.cache.services:
                del self._refused[k]
        i = choose.best(cands, self.prefs)
        old = self.current
        if i is not None and old is not None:
            # Stay with a VTN that still works unless the configuration prefers
            # another (ven.choose: allow-list place, program, version); the
            # tie-breaks only decide when a choice has to be made, so a newcomer
            # with a "smaller" name (or a spoofed one) does not take over.
            top = choose.rank(cands[i], self.prefs)[:choose.PREFERENCE]
            for j in range(len(cands)):
                if cands[j]["key"] == old.key and not cands[j]["failed"] and (
                        top >= choose.rank(cands[j], self.prefs)[:choose.PREFERENCE]):
                    i = j
        new = vtns[i] if i is not None else None
        if self.fallback and self._static_ok and (new is None or cands[i]["failed"]):
            if new is None or not self._is_failed("config", now):
                new = self._static_now()
        if old is not None and old.source == "mdns" and old.key in self.cache.gone:
            reason = self.cache.gone[old.key][1]
        elif old is not None and new is not None and old.key == new.key:
            reason = "moved"
        elif not reason:
            reason = "preferred"
        for k in self.cache.gone:
            if self.log and (old is None or k != old.key):
                self.log.debug("mDNS: %s left (%s)", self.cache.gone[k][0], self.cache.gone[k][1])
        self.cache.gone.clear()
        self._set(new, now, reason)

    def _refuse(self, key, cand):
        if key in self._refused:
            return
        why = self._refused[key] = choose.why_not(cand, self.prefs)
        if self.log:
            self.log.info("VTN %s ignored: %s", cand["instance"], why)

    def _set(self, new, now, reason):
        old = self.current
        if new is not None and old is not None and new.same(old):
            old.txt = new.txt
            return
        if new is None and old is None:
            return
        self.current = new
        self._changed.set()
        self.cache.keep = new.key if new is not None and new.source == "mdns" else None
        if new is not None and new.source == "mdns":
            s = self.cache.services.get(new.key)
            if s is not None:
                s.tries = 0
                s.verify_at = time.ticks_add(now, self.watch_ms)
        if new is None:
            self._browse_soon(now)
        log = self.log
        if log is None:
            return
        if new is None:
            if old is not None:
                log.warning("VTN %s lost (%s); looking for another", old.name, reason)
        elif old is not None and old.key == new.key:
            log.warning("VTN %s moved: %s (connect to %s), was %s (connect to %s)", new.name, new.base_url,
                        new.connect_host, old.base_url, old.connect_host)
        elif new.source == "config":
            if self.mdns:
                log.warning("no usable local VTN (%s): using the configured URL %s (connect to %s)", reason,
                            new.base_url, new.connect_host)
            else:
                log.info("VTN from the configuration: %s (connect to %s)", new.base_url, new.connect_host)
        elif old is None:
            log.info("VTN %s found by mDNS: %s (connect to %s)", new.name, new.base_url, new.connect_host)
        else:
            log.warning("VTN %s found by mDNS: %s (connect to %s); replaces %s (%s)", new.name, new.base_url,
                        new.connect_host, old.name, reason)
