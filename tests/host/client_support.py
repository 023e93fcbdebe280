"""Helpers for the client tests (tests/host/test_client_*.py): a dev VTN over HTTPS
with auth and a request record, and the firmware's VtnClient on this event loop."""
import asyncio
import json
import logging
import os

from tools.devvtn import make_scenario
from tools.devvtn.launch import DevVtn
from ven.openadr import VtnClient

LIMIT_S = 20  # hard limit on one test's event loop
FUTURE = "2099-03-01T00:00:00Z"  # events that have not transpired (active=true keeps them)
CLIENT_ID = "ven-1"
SECRET = "s3cr et&=/+"  # characters that must be form-encoded


def scenario(events=0, auth=True, lifetime=3600, **auth_extra):
    """Program "1" with a 4-interval price event "1", plus `events` more events."""
    doc = make_scenario.make(FUTURE, 3600, 4, "day-prices")
    for n in range(events):
        doc["events"].append({"id": "e%03d" % n, "programID": "1", "intervalPeriod": {
            "start": FUTURE, "duration": "PT1H"}, "intervals": [{"id": 0, "payloads": [
                {"type": "PRICE", "values": [round(0.1 + n / 1000, 4)]}]}]})
    if auth:
        doc["auth"] = dict({"required": True, "clients": {CLIENT_ID: SECRET}, "token_lifetime": lifetime},
                           **auth_extra)
    return doc


def write(path, doc):
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, str(path))


def start_vtn(tmp_path, doc, host, tls=True, extra=()):
    """A running DevVtn (call .stop()) with .scenario_path; records every exchange."""
    path = tmp_path / "scenario.json"
    write(path, doc)
    vtn = DevVtn(path, host, tls_dir=str(tmp_path / "tls") if tls else None,
                 record=str(tmp_path / "record.jsonl"), log_path=str(tmp_path / "vtn.log"), extra=list(extra))
    vtn.start()
    vtn.scenario_path = path
    return vtn


def serving(tmp_path, doc, host, tls=True, extra=()):
    """Body of a module fixture: start_vtn(...), stopped when the module is done."""
    vtn = start_vtn(tmp_path, doc, host, tls, extra)
    try:
        yield vtn
    finally:
        vtn.stop()


def switchable(server, reset_doc, initial_doc=None):
    """Body of a per-test fixture over a module's VTN: server.use(doc) swaps the
    scenario and marks where this test's records start; reset_doc is put back after."""
    def use(doc):
        write(server.scenario_path, doc)
        server.mark = len(server.records())
    server.use = use
    if initial_doc is not None:
        use(initial_doc)
    else:
        server.mark = len(server.records())
    yield server
    write(server.scenario_path, reset_doc)


def vtn_cfg(vtn=None, **over):
    cfg = {"http_timeout_s": 3, "max_body_bytes": 200000, "client_id": CLIENT_ID, "client_secret": SECRET,
           "retry_max_s": 300, "default_scheme": "https", "tls_insecure": False, "ca_pem": "", "ca_file": "",
           "targets": [], "scope": ""}
    if vtn is not None and vtn.ca_path:
        cfg["ca_pem"] = vtn.ca_pem()
    cfg.update(over)
    return cfg


class FakeClock:
    def __init__(self, t=1000000.0):
        self.t = t

    def __call__(self):
        return self.t


class LogCapture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []
        self.logger = logging.getLogger("ven.test.%d" % id(self))
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False
        self.logger.addHandler(self)

    def emit(self, record):
        self.records.append((record.levelname, record.getMessage()))

    def lines(self, level=None):
        return [m for lv, m in self.records if level is None or lv == level]


def client(url, cfg, **kw):
    return VtnClient(url, cfg, **kw)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, LIMIT_S))


async def cycle(c, *calls):
    """One poll cycle: begin, the calls (coroutine functions of the client), end."""
    await c.begin()
    try:
        out = []
        for fn in calls:
            out.append(await fn(c))
        return out
    finally:
        await c.end()


def paths(records, method=None):
    return [(r["method"], r["rel"]) for r in records if method is None or r["method"] == method]


def event_sink():
    """(events, sink): a sink for VtnClient.events_into/pages that keeps every
    element as a whole dict (tests only: the firmware reduces events into a
    schedule). Non-objects are left out; an id seen before counts as a duplicate."""
    from ven.eventstream import ItemReducer
    out = []
    seen = set()

    def take(obj):
        if not isinstance(obj, dict):
            return None
        oid = obj.get("id")
        if oid is not None:
            if oid in seen:
                return False
            seen.add(oid)
        out.append(obj)
    return out, ItemReducer(take, max_value_bytes=1 << 20)


async def events(c, program_id, conditional=False):
    """Every event of one program as full dicts, paged like the firmware asks for them."""
    out, sink = event_sink()
    await c.events_into(program_id, sink, conditional)
    return out
