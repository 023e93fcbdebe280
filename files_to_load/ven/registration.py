# VEN registration: find or create this VEN (venName) and one resource per
# output channel on the VTN, and remember their IDs on the flash so a reboot
# finds them again instead of creating duplicates.
#
# The IDs file (STATE_PATH) is one JSON line {"v": 1, "vtn": base URL,
# "ven_name": ..., "ven_id": ..., "resources": {channel: id}} then the checksum
# trailer of ven.store, which writes it atomically. IDs stored for another VTN
# or venName are not used. Stored IDs are checked once per start (GET by id); a
# VEN or resource the VTN no longer has is looked up by name, then created.
#
# A file that fails a check is moved to STATE_PATH.bad with one log line and
# registration goes on as if no IDs were stored. So is the file of older
# firmware (no version, no checksum), on purpose: looking the VEN and its
# resources up by name finds the same objects again, so dropping it creates
# nothing twice and costs a few GETs once, after the upgrade.
#
# Registration is not needed to follow prices: when the VTN refuses it (a
# tariff VTN without /vens, 403), the loop logs it and tries again after a
# back-off that doubles up to retry_max_s.
#
#   reg = Registration(cfg)
#   await reg.ensure(client, log)       # True once registered with this client's VTN
#   reg.ven_id, reg.resources

import json
import time

from ven import retry, store
from ven.openadr import VtnError
from ven.url import quote

STATE_PATH = "ven_state.json"
STATE_VERSION = 1


def _parse(r):
    data = json.loads(r.line())
    if not isinstance(data, dict) or data.get("v") != STATE_VERSION:
        raise ValueError("not a version %d IDs file" % STATE_VERSION)
    res = data.get("resources")
    if not (isinstance(data.get("vtn"), str) and isinstance(data.get("ven_name"), str)
            and isinstance(data.get("ven_id"), str) and isinstance(res, dict)
            and all(isinstance(res[k], str) for k in res)):
        raise ValueError("a field of the wrong type")
    return data


class VenRequests:
    """The VEN and resource requests over a VtnClient (3.1.0: /vens, /resources;
    3.0.1 nests the resources under their VEN). Here, not in ven.openadr: they
    are only needed while registering, and this module is let go after."""

    def __init__(self, client):
        self.c = client

    async def _find(self, path, params, key, name, extra=None):
        for item in await self.c._list(path, params, ("id", key, "venID")):
            if (item.get(key) == name and isinstance(item.get("id"), str)
                    and (extra is None or item.get("venID", extra) == extra)):
                return item
        return None

    async def find_ven(self, name, filtered=True):
        """The VEN named name (asking the VTN to filter by name unless filtered=False), or None."""
        return await self._find("/vens", [("venName", name)] if filtered else [], "venName", name)

    async def get_object(self, path):
        """GET one object; None if the VTN says 404."""
        resp = await self.c.call("GET", path, ok=(200, 404))
        if resp.status == 404:
            return None
        try:
            obj = json.loads(resp.body)
        except ValueError as e:
            raise VtnError("GET %s: invalid JSON (%s)" % (self.c.url(path), e))
        return obj if isinstance(obj, dict) else None

    async def _create(self, path, obj):
        resp = await self.c.call("POST", path, obj=obj, ok=(200, 201))
        try:
            made = json.loads(resp.body)
        except ValueError as e:
            raise VtnError("POST %s: invalid JSON (%s)" % (self.c.url(path), e))
        if not isinstance(made, dict) or not isinstance(made.get("id"), str):
            raise VtnError("POST %s: the answer has no id" % self.c.url(path))
        return made

    async def create_ven(self, name):
        await self.c.ensure_version()
        if self.c.version == "3.0":
            return await self._create("/vens", {"venName": name})
        return await self._create("/vens", {"objectType": "VEN_VEN_REQUEST", "venName": name})

    def _resources_path(self, ven_id):
        if self.c.version == "3.0":
            return "/vens/%s/resources" % quote(ven_id)
        return "/resources"

    async def find_resource(self, ven_id, name):
        await self.c.ensure_version()
        params = [("resourceName", name)]
        if self.c.version != "3.0":
            params.append(("venID", ven_id))
        return await self._find(self._resources_path(ven_id), params, "resourceName", name, ven_id)

    async def get_resource(self, ven_id, resource_id):
        await self.c.ensure_version()
        return await self.get_object("%s/%s" % (self._resources_path(ven_id), quote(resource_id)))

    async def create_resource(self, ven_id, name):
        await self.c.ensure_version()
        body = {"resourceName": name, "venID": ven_id}
        if self.c.version != "3.0":
            body["objectType"] = "VEN_RESOURCE_REQUEST"
        return await self._create(self._resources_path(ven_id), body)


class Registration:
    def __init__(self, cfg, path=STATE_PATH, clock=time.time, requests=VenRequests):
        self.requests = requests  # client -> the VEN/resource requests (tests give stand-ins)
        self.name = cfg["vtn"]["ven_name"]
        self.channels = [ch["name"] for ch in cfg["outputs"]]
        self.retry_max_s = cfg["vtn"]["retry_max_s"]
        self.path = path
        self.clock = clock
        self.ven_id = None  # type: str | None
        self.resources = {}  # type: dict[str, str]
        self.done_for = None  # the client registered with
        self.failures = 0
        self.next_try = 0  # type: int | float

    def _stored(self, base_url, log):
        data = store.load(self.path, _parse, log)
        if data is None or data["vtn"] != base_url or data["ven_name"] != self.name:
            return None, {}
        return data["ven_id"], data["resources"]

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
            wait = retry.delay(self.failures + 2, self.retry_max_s)
            self.next_try = self.clock() + wait
            if log is not None:
                log.warning("VEN registration failed (prices are still followed); next try in %d s: %s", wait, e)
            return False
        self.done_for = client
        self.failures = 0
        return True

    async def _register(self, vtn, log):
        client = self.requests(vtn)
        stored_id, stored = self._stored(vtn.base_url, log)
        ven_id = stored_id
        if ven_id is not None:
            ven = await client.get_object("/vens/%s" % ven_id)
            if ven is None or ven.get("venName") != self.name:
                ven_id, stored = None, {}
        if ven_id is None:
            ven = await client.find_ven(self.name)
            if ven is None:
                try:
                    ven = await client.create_ven(self.name)
                except VtnError as e:
                    # 409: it exists, but the name filter did not show it: look at every VEN.
                    if e.status != 409:
                        raise
                    ven = await client.find_ven(self.name, filtered=False)
                    if ven is None:
                        raise
                else:
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
        if ven_id != stored_id or resources != stored:
            data = {"v": STATE_VERSION, "vtn": vtn.base_url, "ven_name": self.name,
                    "ven_id": ven_id, "resources": resources}
            try:
                store.write_atomic(self.path, [(json.dumps(data) + "\n").encode("utf-8")])
            except OSError as e:
                if log is not None:
                    log.warning("cannot store the VEN IDs in %s: %s", self.path, e)
