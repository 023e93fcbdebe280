# VEN registration: find or create this VEN (venName) and one resource per
# output channel on the VTN, and remember their IDs on the flash so a reboot
# finds them again instead of creating duplicates.
#
# The IDs file (STATE_PATH) holds {"vtn": base URL, "ven_name": ..., "ven_id":
# ..., "resources": {channel: id}}; it is written to a temporary name and
# renamed over the old one (littlefs). IDs stored for another VTN or venName
# are not used. Stored IDs are checked once per start (GET by id); a VEN or
# resource the VTN no longer has is looked up by name, then created.
#
# Registration is not needed to follow prices: when the VTN refuses it (a
# tariff VTN without /vens, 403), the loop logs it and tries again after a
# back-off that doubles up to retry_max_s.
#
#   reg = Registration(cfg)
#   await reg.ensure(client, log)       # True once registered with this client's VTN
#   reg.ven_id, reg.resources

import json
import os
import time

from ven.openadr import VtnError

STATE_PATH = "ven_state.json"


def _read(path):
    try:
        with open(path) as f:
            data = json.loads(f.read())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(data))
    try:
        os.remove(path)  # MicroPython's rename does not replace on every port
    except OSError:
        pass
    os.rename(tmp, path)


def ven_name(cfg):
    """vtn.ven_name, else the network host name."""
    return cfg["vtn"].get("ven_name") or cfg["network"].get("hostname") or "openadr-ven"


class Registration:
    def __init__(self, cfg, path=STATE_PATH, clock=time.time):
        self.name = ven_name(cfg)
        self.channels = [ch["name"] for ch in cfg["outputs"]]
        self.retry_max_s = cfg["vtn"]["retry_max_s"]
        self.path = path
        self.clock = clock
        self.ven_id = None  # type: str | None
        self.resources = {}  # type: dict[str, str]
        self.done_for = None  # the client registered with
        self.failures = 0
        self.next_try = 0  # type: int | float

    def _stored(self, base_url):
        data = _read(self.path)
        if data.get("vtn") != base_url or data.get("ven_name") != self.name:
            return None, {}
        res = data.get("resources")
        return data.get("ven_id"), (res if isinstance(res, dict) else {})

    async def ensure(self, client, log=None):
        """Register with client's VTN if not done yet. Never raises VtnError."""
        if self.done_for is client:
            return True
        if self.clock() < self.next_try:
            return False
        try:
            await self._register(client, log)
        except VtnError as e:
            self.failures += 1
            wait = min(self.retry_max_s, 2 ** min(self.failures + 2, 12))
            self.next_try = self.clock() + wait
            if log is not None:
                log.warning("VEN registration failed (prices are still followed); next try in %d s: %s", wait, e)
            return False
        self.done_for = client
        self.failures = 0
        return True

    async def _register(self, client, log):
        ven_id, stored = self._stored(client.base_url)
        if ven_id is not None:
            ven = await client.get_object("/vens/%s" % ven_id)
            if ven is None or ven.get("venName") != self.name:
                ven_id, stored = None, {}
        if ven_id is None:
            ven = await client.find_ven(self.name)
            if ven is None:
                ven = await client.create_ven(self.name)
                if log is not None:
                    log.info("VEN %r created on the VTN: id %s", self.name, ven["id"])
            ven_id = ven["id"]
        resources = {}
        for name in self.channels:
            rid = stored.get(name)
            if rid is not None and await client.get_resource(ven_id, rid) is None:
                rid = None
            if rid is None:
                found = await client.find_resource(ven_id, name)
                if found is None:
                    found = await client.create_resource(ven_id, name)
                    if log is not None:
                        log.info("resource %r created on the VTN: id %s", name, found["id"])
                rid = found["id"]
            resources[name] = rid
        self.ven_id = ven_id
        self.resources = resources
        if ven_id != self._stored(client.base_url)[0] or resources != stored:
            try:
                _write(self.path, {"vtn": client.base_url, "ven_name": self.name,
                                   "ven_id": ven_id, "resources": resources})
            except OSError as e:
                if log is not None:
                    log.warning("cannot store the VEN IDs in %s: %s", self.path, e)
