# Finding the site's VTN with DNS-SD over mDNS (OpenADR 3.1.0 Definition,
# "Discovery and Configuration of Local VTNs"), using micropython-mdns.
#
# Browses `_openadr3._tcp.local`, follows PTR -> SRV -> A and TXT, and turns
# the answer into a Vtn: base URL (local_url from TXT, else SRV target, port
# and base_path), the address to connect to (the A record when the URL names
# the SRV target), and the parsed TXT metadata. The browse is bounded in time
# and its socket is always closed.
#
#   vtn = await discovery.find_vtn("192.168.1.20", cfg["vtn"])
#   vtn.base_url, vtn.connect_host, vtn.txt["requires_auth"]

import asyncio
import time

from mdns_client import Client
from mdns_client.constants import CLASS_IN, TYPE_TXT
from mdns_client.service_discovery.txt_discovery import TXTServiceDiscovery
from mdns_client.structs import DNSQuestion

from ven import txt
from ven.url import split_url, URLError

_REQUERY_MS = 1000
_POLL_MS = 50


class DiscoveryError(Exception):
    pass


class Vtn:
    def __init__(self, name, base_url, connect_host, target, port, txt_info, source):
        self.name = name
        self.base_url = base_url
        self.connect_host = connect_host
        self.target = target
        self.port = port
        self.txt = txt_info
        self.source = source  # "mdns" or "config"

    def __repr__(self):
        return "<Vtn %s %s via %s (%s)>" % (self.name, self.base_url, self.connect_host, self.source)


class _Client(Client):
    # micropython-mdns 1.8.0 closes the socket in stop() while its receive task
    # may be between a yield and select(), which then fails on None. Here stop()
    # only asks the receive task to end, and the task closes the socket itself.
    _consuming = False

    async def consume(self):
        self._consuming = True
        try:
            await super().consume()
        finally:
            self._consuming = False
            self._close_socket()

    def stop(self):
        self.stopped = True
        if not self._consuming:
            self._close_socket()


class _Discovery(TXTServiceDiscovery):
    # The library keeps only 'key=value' TXT entries, decodes without guarding
    # against bad UTF-8, and keys are case-sensitive. Keep the raw strings
    # instead and leave their meaning to ven.txt.
    def _on_txt_record(self, record):
        targets = self._records_by_target.get(record.name.lower())
        if not targets:
            return
        entries = txt.split_txt_rdata(record.rdata)
        for service in targets:
            service.txt_raw = entries
            service.txt_records = {}


def static_vtn(url):
    return Vtn("configured", url.rstrip("/"), None, None, None, txt.parse_txt(()), "config")


def _host_is(a, b):
    return a.rstrip(".").lower() == b.rstrip(".").lower()


def _to_vtn(service, default_scheme):
    info = txt.parse_txt(getattr(service, "txt_raw", ()))
    ips = sorted(service.ips)
    url = txt.base_url(info, service.target, service.port, default_scheme)
    if url is None and ips:
        url = txt.base_url(info, ips[0], service.port, default_scheme)
    if url is None:
        return None
    host = split_url(url)[1]
    connect = None
    if ips and (_host_is(host, service.target) or host.lower().endswith(".local")):
        # The spec prefers the .local name; we connect to the address mDNS gave
        # for it and keep the name for the Host header.
        connect = ips[0]
    name = service.name.split(".")[0]
    return Vtn(name, url, connect, service.target.rstrip("."), service.port, info, "mdns")


def _usable(service, need_txt):
    return service.port and service.ips and (service.txt_records is not None or not need_txt)


async def find_vtn(local_ip, vtn_cfg, log=None):
    """Browse for VTNs for up to vtn_cfg['discovery_timeout_s'] seconds; return the chosen Vtn.

    Raises DiscoveryError if no usable VTN answered in time. Among several
    VTNs the instance names are sorted and the first one whose TXT lists a
    wanted program (if any are configured) is taken.
    """
    protocol, service_type = vtn_cfg["service"].split(".")
    client = _Client(local_ip)
    sd = _Discovery(client)
    timeout_ms = int(vtn_cfg["discovery_timeout_s"] * 1000)
    start = time.ticks_ms()
    deadline = time.ticks_add(start, timeout_ms)
    # Past half the time, settle for a service whose TXT record never came.
    settle = time.ticks_add(start, timeout_ms // 2)
    next_query = start
    try:
        while time.ticks_diff(deadline, time.ticks_ms()) > 0:
            now = time.ticks_ms()
            if time.ticks_diff(now, next_query) >= 0:
                await sd.query(protocol, service_type)
                for s in sd.current(protocol, service_type):
                    if s.port and s.txt_records is None:
                        await client.send_question(DNSQuestion(s.name, TYPE_TXT, CLASS_IN))
                next_query = time.ticks_add(now, _REQUERY_MS)
            need_txt = time.ticks_diff(settle, now) > 0
            found = [s for s in sd.current(protocol, service_type) if _usable(s, need_txt)]
            chosen = _choose(found, vtn_cfg, vtn_cfg["default_scheme"], log)
            if chosen is not None:
                return chosen
            await asyncio.sleep(_POLL_MS / 1000)
        raise DiscoveryError("no %s.local service answered within %s s" % (vtn_cfg["service"], vtn_cfg["discovery_timeout_s"]))
    finally:
        sd.stop()
        client.stop()


def _choose(services, vtn_cfg, default_scheme, log):
    wanted = vtn_cfg["program_names"]
    vtns = []
    for s in sorted(services, key=lambda s: s.name.lower()):
        try:
            v = _to_vtn(s, default_scheme)
        except URLError as e:
            v = None
            if log:
                log.warning("VTN %s: unusable URL (%s); skipped", s.name, e)
        if v is not None:
            vtns.append(v)
    if not vtns:
        return None
    if wanted:
        for v in vtns:
            names = v.txt["program_names"]
            if not names or [n for n in names if n in wanted]:
                return v
    return vtns[0]
