# What the VEN heard over mDNS about one DNS-SD service type: a small cache of
# services (PTR -> SRV, TXT) and host addresses (A), fed with raw datagrams.
#
# Bounded (anyone on the LAN may send anything and the heap is ~100 KB): at most
# MAX_SERVICES services, MAX_HOSTS hosts with MAX_IPS addresses each. feed()
# never raises: a malformed packet or record is counted and dropped. Records
# follow RFC 6762: TTLs (a goodbye, TTL 0, keeps a record one more second),
# cache-flush (a new address replaces those heard more than a second before),
# responses only from port 5353. Packets are parsed by micropython-mdns
# (mdns_client.parser, with compression loops refused); what TXT means is
# ven.txt's business.
#
#   cache = Cache("_openadr3._tcp")
#   changed = cache.feed(data, addr, time.ticks_ms())
#   (candidates, info), again = cache.usable(cache.services[key], now, "http")
#   # candidates: [(base_url, connect_host), ...], best first; else s.why says why not

import struct
import time

from micropython import const

from mdns_client.constants import TYPE_A, TYPE_PTR, TYPE_SRV, TYPE_TXT
from mdns_client.parser import PacketParser
from mdns_client.util import bytes_to_name_list

from ven import txt
from ven.mdns_query import labels
from ven.url import is_ip, local_host, split_url, URLError, valid_host

MAX_SERVICES = const(8)
MAX_HOSTS = const(8)
MAX_IPS = const(4)
_MAX_NAME = const(255)
_MAX_TTL_S = const(86400)      # keeps ticks_add within its range
_GOODBYE_MS = const(1000)      # RFC 6762 10.1
_FLUSH_MS = const(1000)        # RFC 6762 10.2
# A response usually carries SRV, TXT and A together; a service is used
# without TXT, or through its SRV target's address instead of local_url's
# host, only after waiting this long for them.
_TXT_WAIT_MS = const(1500)
_ADDR_WAIT_MS = const(1000)
_INCOMPLETE_MS = const(30000)  # a PTR whose SRV never comes is forgotten


class _Parser(PacketParser):
    # micropython-mdns follows name compression pointers wherever they point,
    # so a pointer loop recurses until the stack gives out: costly on the
    # ESP32 for every such packet anyone sends. Here each pointer must point
    # before where the name (or its previous jump target) began, so every
    # name ends after at most one jump per earlier byte.
    _floor = None

    def _parse_name(self):
        top = self._floor is None
        if top:
            self._floor = self.index
        try:
            return super()._parse_name()
        finally:
            if top:
                self._floor = None

    def _parse_repeat_name(self):
        target = struct.unpack_from("!H", self.buffer, self.index)[0] & 0x3FFF
        floor = self._floor
        if floor is None or target >= floor:
            raise ValueError("DNS name compression pointer does not point backwards")
        self._floor = target
        return super()._parse_repeat_name()


class Service:
    # One DNS-SD instance of the browsed type, as heard so far.
    def __init__(self, key, qname, instance, now):
        self.key = key              # full service name, lower case
        self.qname = qname          # its labels (bytes), for questions
        self.instance = instance
        self.first = now
        self.ptr_until = None       # ticks; None when no PTR was heard
        self.srv = None             # (priority, weight, port, target)
        self.srv_until = now
        self.srv_ttl_ms = 0
        self.since = now            # when srv took its current value
        self.heard = now            # last SRV answer
        self.txt = None             # ven.txt.parse_txt() result
        self.url_host = None        # .local host of local_url, if any
        self.bye = False
        self.asked = None           # ticks of the last follow-up question
        self.asks = 0
        self.verify_at = None       # ticks of the next liveness question
        self.tries = 0
        self.why = None             # why usable() found nothing, for the log


def expired(until, now):
    return time.ticks_diff(now, until) >= 0


def until(ttl, now):
    if ttl <= 0:
        return time.ticks_add(now, _GOODBYE_MS)
    return time.ticks_add(now, min(ttl, _MAX_TTL_S) * 1000)


class Cache:
    """What was heard about one service type; bounded, and feed() never raises."""

    def __init__(self, service_type, allow=()):
        self.type_name = service_type.lower().rstrip(".") + ".local"
        self.allow = allow          # instance names (lower case) worth keeping; empty: all
        self.type_labels = labels(self.type_name)
        self.services = {}          # key -> Service
        self.hosts = {}             # host name -> [[ip, until, heard], ...]
        self.gone = {}              # key -> (instance, reason), since the last choice
        self.moved = {}             # key -> True: SRV or address changed
        self.keep = None            # key never evicted (the chosen VTN)
        self.extra_host = None      # a host wanted anyway (the configured URL's)
        self._needles = None        # label bytes a relevant packet must contain
        self.bad_packets = 0
        self.bad_records = 0
        self.dropped = 0
        self.no_memory = 0          # packets not parsed for lack of heap

    def feed(self, data, addr, now):
        """One datagram from addr. Returns True if something that matters changed."""
        try:
            if addr is not None and addr[1] != 5353:
                # RFC 6762 section 11: responses come from port 5353 (the board's
                # socket reads without the sender's address: addr None).
                return False
            # Responses only (QR set), standard opcode, no error code (RFC 6762 18.3, 18.11).
            if len(data) < 12 or not data[2] & 0x80 or data[2] & 0x78 or data[3] & 0x0F:
                return False
            if not self._relevant(data):
                return False
            packet = _Parser(data).parse()
        except MemoryError:  # the heap's state, not the packet's fault
            self.no_memory += 1
            return False
        except Exception:  # malformed: compression loops, truncation, bad UTF-8, ...
            self.bad_packets += 1
            return False
        changed = False
        # PTR before SRV before TXT before A, so one packet can introduce a
        # service together with its address.
        for kind in (TYPE_PTR, TYPE_SRV, TYPE_TXT, TYPE_A):
            for r in packet.records:
                if r.record_type != kind:
                    continue
                try:
                    if self._record(r, now):
                        changed = True
                except Exception:  # e.g. a short SRV, a name that is not UTF-8
                    self.bad_records += 1
        return changed

    def _relevant(self, data):
        # A busy LAN carries plenty of mDNS about other things, and parsing is
        # the costly part on the device. The first occurrence of a name is
        # never compressed, so a packet about our service type or a host we
        # want holds that label literally (case aside).
        needles = self._needles
        if needles is None:
            names = [self.type_labels[0]]
            for k in self.services:
                s = self.services[k]
                for host in (s.srv[3] if s.srv else None, s.url_host):
                    if host:
                        names.append(host.split(".")[0].encode("utf-8"))
            if self.extra_host:
                names.append(self.extra_host.split(".")[0].encode("utf-8"))
            needles = self._needles = [bytes([len(n)]) + n.lower() for n in names if 0 < len(n) < 64]
        data = data.lower()
        for n in needles:
            if n in data:
                return True
        return False

    def _record(self, r, now):
        name = r.name.lower()
        if len(name) > _MAX_NAME:
            return False
        ttl = r.time_to_live
        kind = r.record_type
        if kind == TYPE_PTR:
            return self._ptr(name, r.rdata, ttl, now)
        s = self.services.get(name)
        if kind == TYPE_SRV:
            return self._srv(s, name, r.rdata, ttl, now)
        if kind == TYPE_TXT:
            return s is not None and ttl > 0 and self._txt(s, r.rdata)
        return self._a(name, r.rdata, ttl, now)

    def _add(self, key, qname, instance, now):
        if self.allow and instance.lower() not in self.allow:
            return None
        if len(self.services) >= MAX_SERVICES:
            # Full: make room by dropping an incomplete, then the least recently
            # heard service, never the chosen one.
            victim = None
            for k in self.services:
                v = self.services[k]
                if k == self.keep:
                    continue
                if victim is None or (v.srv is None) > (victim.srv is None) or (
                        (v.srv is None) == (victim.srv is None) and time.ticks_diff(victim.heard, v.heard) > 0):
                    victim = v
            if victim is None:
                return None
            del self.services[victim.key]
            self.dropped += 1
            self._needles = None
        s = Service(key, qname, instance, now)
        self.services[key] = s
        return s

    def _ptr(self, name, rdata, ttl, now):
        if name != self.type_name:
            return False
        parts = bytes_to_name_list(rdata)
        if len(parts) != len(self.type_labels) + 1 or not parts[0]:
            return False
        key = ".".join(parts).lower()
        if len(key) > _MAX_NAME or not key.endswith("." + self.type_name):
            return False
        s = self.services.get(key)
        added = False
        if s is None:
            if ttl == 0:
                return False
            s = self._add(key, [p.encode("utf-8") for p in parts], parts[0], now)
            if s is None:
                return False
            added = True
        s.ptr_until = until(ttl, now)
        s.bye = ttl == 0
        return added

    def _srv(self, s, name, rdata, ttl, now):
        if len(rdata) < 7:
            return False
        prio, weight, port = struct.unpack_from("!HHH", rdata, 0)
        target = ".".join(bytes_to_name_list(rdata[6:])).lower()
        if s is None:
            # An SRV without a PTR first (an answer to someone's SRV question).
            if ttl == 0 or not name.endswith("." + self.type_name) or len(name) == len(self.type_name) + 1:
                return False
            s = self._add(name, labels(name), name[:-len(self.type_name) - 1], now)
            if s is None:
                return False
        if ttl == 0:
            if s.srv is not None and s.srv[2] == port and s.srv[3] == target:
                s.srv_until = until(0, now)
                s.bye = True
            return False
        if not port or not target or len(target) > _MAX_NAME:
            return False
        new = (prio, weight, port, target)
        old = s.srv
        if old is None or old[3] != target:
            self._needles = None
        s.srv = new
        s.srv_until = until(ttl, now)
        s.srv_ttl_ms = min(ttl, _MAX_TTL_S) * 1000
        s.heard = now
        s.bye = False
        s.tries = 0
        s.verify_at = None
        s.asks = 0
        if old == new:
            return False
        s.since = now
        if old is not None:
            self.moved[s.key] = True
        return True

    def _txt(self, s, rdata):
        info = txt.parse_txt(txt.split_txt_rdata(rdata))
        if info == s.txt:
            return False
        s.txt = info
        url_host = local_host(info["local_url"]) if info["local_url"] else None
        if url_host != s.url_host:
            s.url_host = url_host
            self._needles = None
        return True

    def wanted_host(self, name):
        if name == self.extra_host:
            return True
        for k in self.services:
            s = self.services[k]
            if (s.srv is not None and s.srv[3] == name) or s.url_host == name:
                return True
        return False

    def _a(self, name, rdata, ttl, now):
        if len(rdata) != 4 or not self.wanted_host(name):
            return False
        ip = "%d.%d.%d.%d" % (rdata[0], rdata[1], rdata[2], rdata[3])
        entries = self.hosts.get(name)
        if entries is None:
            if ttl == 0 or len(self.hosts) >= MAX_HOSTS:
                return False
            entries = []
        found = None
        for e in entries:
            if e[0] == ip:
                found = e
        if ttl == 0:
            if found is not None:
                found[1] = until(0, now)
            return False
        # An address record is unique to its host: addresses heard more than a
        # second before this one are stale (cache-flush, RFC 6762 10.2; applied
        # also to unicast answers, which carry no flush bit).
        keep = []
        changed = False
        for e in entries:
            if e is found or time.ticks_diff(now, e[2]) < _FLUSH_MS:
                keep.append(e)
            else:
                changed = True
        if found is None:
            keep.append([ip, until(ttl, now), now])
            if len(keep) > MAX_IPS:
                keep.pop(0)
            changed = True
        else:
            found[1] = until(ttl, now)
            found[2] = now
        self.hosts[name] = keep
        if changed:
            for k in self.services:
                s = self.services[k]
                if s.srv is not None and (s.srv[3] == name or s.url_host == name):
                    self.moved[k] = True
        return changed

    def ip_of(self, host):
        """The most recently heard address of host, or None."""
        best = None
        for e in self.hosts.get(host, ()):
            if best is None or time.ticks_diff(e[2], best[2]) > 0:
                best = e
        return best[0] if best is not None else None

    def drop(self, key, reason):
        s = self.services.pop(key, None)
        if s is not None:
            self._needles = None
            if len(self.gone) >= MAX_SERVICES:
                self.gone.clear()
            self.gone[key] = (s.instance, reason)

    def expire(self, now):
        """Forget what outlived its TTL. Returns True if anything went."""
        changed = False
        for key in list(self.services):
            s = self.services[key]
            if (s.ptr_until is not None and expired(s.ptr_until, now)) or (
                    s.srv is not None and expired(s.srv_until, now)):
                self.drop(key, "goodbye" if s.bye else "its records expired")
                changed = True
            elif s.srv is None and time.ticks_diff(now, s.first) >= _INCOMPLETE_MS:
                self.drop(key, "no SRV record")
                changed = True
        for name in list(self.hosts):
            entries = self.hosts[name]
            live = [e for e in entries if not expired(e[1], now)]
            if not live or not self.wanted_host(name):
                del self.hosts[name]
                changed = True
            elif len(live) != len(entries):
                self.hosts[name] = live
                changed = True
        return changed

    def usable(self, s, now, scheme):
        """(([(base_url, connect_host), ...], txt_info), None) when s can be used
        now, best URL first; else (None, ticks when to look again, or None to
        wait for news), and s.why says what is missing."""
        s.why = "no SRV record"
        if s.srv is None:
            return None, None
        settle = time.ticks_add(s.since, _TXT_WAIT_MS)
        s.why = "waiting for its TXT record"
        if s.txt is None and not expired(settle, now):
            return None, settle
        prio, weight, port, target = s.srv
        info = s.txt or txt.parse_txt(())
        settle = time.ticks_add(s.since, _ADDR_WAIT_MS)
        urls = txt.base_urls(info, target, port, scheme)
        s.why = "no address for its .local name" if urls else "no valid host name in its SRV target or local_url"
        out = []
        for url in urls:
            host = split_url(url)[1].rstrip(".").lower()  # base_urls gives valid URLs only
            if is_ip(host) or not host.endswith(".local"):
                # An address literal, or an ordinary DNS name for the firmware's resolver.
                out.append((url, None))
                continue
            ip = self.ip_of(host)
            if ip is None:
                if not expired(settle, now):
                    return None, settle  # the preferred name's address may be on its way
                if host != target:
                    # local_url's name does not resolve: the SRV target's address.
                    ip = self.ip_of(target)
            if ip is not None:
                out.append((url, ip))
        if not out:
            return None, None
        s.why = None
        return (out, info), None
