# Which VTN: the record the main loop polls (one VTN, the URLs it may be reached
# at), and for a configured URL that needs no mDNS the locator that just gives
# it (ven.discovery.Locator, with everything mDNS, is loaded only when needed).
#
#   if needs_mdns(cfg["vtn"]): loc = ven.discovery.Locator(ip, cfg["vtn"], log)
#   else: loc = StaticLocator(cfg["vtn"]["url"])
#   vtn = await loc.get(); vtn.base_url, vtn.connect_host, vtn.next_candidate()

import asyncio

from ven import txt
from ven.url import local_host


class DiscoveryError(Exception):
    pass


class Vtn:
    # One VTN and the URLs it may be reached at (see the top of this file).
    def __init__(self, name, candidates, target, port, txt_info, source, key=None):
        self.name = name
        self.candidates = candidates  # [(base_url, connect_host), ...], best first
        self.target = target
        self.port = port
        self.txt = txt_info
        self.source = source  # "mdns" or "config"
        self.key = key or source  # the DNS-SD service name for "mdns"
        self.rewind()

    def rewind(self):
        """Back to the first candidate."""
        self.pos = 0
        self.base_url, self.connect_host = self.candidates[0]

    def next_candidate(self):
        """Move to the next candidate URL: True, or False when none is left."""
        if self.pos + 1 >= len(self.candidates):
            return False
        self.pos += 1
        self.base_url, self.connect_host = self.candidates[self.pos]
        return True

    def same(self, other):
        """The same service with the same candidates (the position aside)."""
        return other is not None and (self.source, self.key, self.candidates) == (
            other.source, other.key, other.candidates)

    def __repr__(self):
        return "<Vtn %s %s via %s (%s, %d/%d)>" % (self.name, self.base_url, self.connect_host, self.source,
                                                  self.pos + 1, len(self.candidates))


def static_vtn(url):
    return Vtn("configured", [(url.rstrip("/"), None)], None, None, txt.parse_txt(()), "config")


def needs_mdns(vtn_cfg):
    """True unless the VTN is a configured URL whose host needs no mDNS (not .local)."""
    mode = vtn_cfg["discovery_mode"]
    url = vtn_cfg["url"]
    return mode in ("local", "local_then_static") or not url or local_host(url) is not None


class StaticLocator:
    """The configured vtn.url, with the interface of ven.discovery.Locator."""

    def __init__(self, url):
        self.vtn = static_vtn(url)

    async def get(self):
        return self.vtn

    def failed(self, vtn, reason=""):
        vtn.rewind()

    async def wait_change(self, timeout_s):
        await asyncio.sleep(timeout_s)
        return False

    def close(self):
        pass
