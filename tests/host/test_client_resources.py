"""Resources of the firmware's VTN client: paging, duplicates, targets, VEN and resource
registration that survives a reboot, reports whose interval IDs match the event's,
and a 3.0.1-shaped server. Dev VTN over HTTPS with auth; every exchange checked
against the openadr3 models and the OpenAPI file of the server's version."""
import json
import zlib

import pytest

from tests.host import openadr_check
from tests.host.client_support import (FUTURE, client, cycle, run, scenario, start_vtn, switchable, vtn_cfg)
from tests.host.test_http_client import RawServer
from ven import eventstream, isotime, pricemap, schedule
from ven.openadr import Collector, Dedup, VtnClient
from ven.registration import Registration
from ven.reports import Reporter, interval_windows

ADDR = "127.0.0.64"
ADDR_301 = "127.0.0.65"
CHANNELS = [{"name": "heater", "payload_type": "PRICE", "price_low": 0.1, "price_high": 0.4,
             "duty_at_low": 65535, "duty_at_high": 0, "failsafe_duty": 0},
            {"name": "charger", "payload_type": "PRICE", "price_low": 0.1, "price_high": 0.3,
             "duty_at_low": 0, "duty_at_high": 60000, "failsafe_duty": 1234}]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    vtn = start_vtn(tmp_path_factory.mktemp("res"), scenario(events=150), ADDR)
    try:
        yield vtn
    finally:
        vtn.stop()


@pytest.fixture
def vtn(server):
    yield from switchable(server, scenario(events=150))


def new(vtn):
    return vtn.records()[vtn.mark:]


def test_150_events_come_in_3_pages(vtn):
    c = client(vtn.url, vtn_cfg(vtn))

    async def events(c):
        return await c.events("1")
    evs, = run(cycle(c, events))
    assert len(evs) == 151 and len(set(e["id"] for e in evs)) == 151  # event "1" + 150
    pages = [r for r in new(vtn) if r["rel"] == "/events"]
    # Three full pages of 50 (+ the price event), then the short page that ends it.
    assert [(p["query"]["skip"], p["query"]["limit"], len(json.loads(p["response"]))) for p in pages] == [
        (["0"], ["50"], 50), (["50"], ["50"], 50), (["100"], ["50"], 50), (["150"], ["50"], 1)]
    assert all(p["query"]["active"] == ["true"] and p["query"]["programID"] == ["1"] for p in pages)
    openadr_check.check_records(new(vtn))


def test_paging_streams_into_the_reducer_page_by_page(vtn):
    # The loop's path: each page's body goes to ven.eventstream, which counts the events.
    c = client(vtn.url, vtn_cfg(vtn))
    builder = Dedup(schedule.Builder(["PRICE"], isotime.parse_datetime(FUTURE)))

    async def stream(c):
        await c.events_into("1", eventstream.EventReducer(builder))
    run(cycle(c, stream))
    assert builder.events == 151
    assert len([r for r in new(vtn) if r["rel"] == "/events"]) == 4


def test_targets_are_sent_and_honoured(vtn):
    doc = scenario()
    doc["programs"].append({"id": "2", "programName": "fleet", "targets": ["group-a", "group-b"]})
    doc["events"].append({"id": "t1", "programID": "2", "targets": ["group-a"], "intervalPeriod": {
        "start": FUTURE, "duration": "PT1H"}, "intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [1]}]}]})
    vtn.use(doc)
    c = client(vtn.url, vtn_cfg(vtn, targets=["group-a"]))

    async def both(c):
        return await c.programs(), await c.events("2")
    (progs, evs), = run(cycle(c, both))
    assert [p["id"] for p in progs] == ["1", "2"] and progs[1]["targets"] == ["group-a"]  # group-b hidden
    assert [e["id"] for e in evs] == ["t1"]
    assert all(r["query"].get("targets") == ["group-a"] for r in new(vtn) if r["rel"] in ("/programs", "/events"))
    openadr_check.check_records(new(vtn))


def event_page(*ids, stamp="2026-01-01T00:00:00Z"):
    return [{"id": i, "programID": "1", "modificationDateTime": stamp, "createdDateTime": stamp,
             "objectType": "EVENT", "intervalPeriod": {"start": FUTURE, "duration": "PT1H"},
             "intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [0.2]}]}]} for i in ids]


def test_duplicate_events_in_a_page_count_once():
    body = json.dumps(event_page("a", "b", "a", "c", "b")).encode()
    reply = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async def go():
        results = []
        for path in ("collector", "reducer"):
            async with RawServer(reply) as srv:
                c = VtnClient("http://127.0.0.1:%d/openadr3/3.1.0" % srv.port,
                              vtn_cfg(client_id="", client_secret=""))
                if path == "collector":
                    results.append([e["id"] for e in await c.events("1")])
                else:
                    builder = Dedup(schedule.Builder(["PRICE"], 0))
                    await c.events_into("1", eventstream.EventReducer(builder))
                    results.append((builder.events, builder.dropped))
                await c.end()
        return results
    ids, (built, dropped) = run(go())
    assert ids == ["a", "b", "c"]
    assert (built, dropped) == (3, 2)


def test_unchanged_events_are_kept_from_the_last_poll():
    first = Collector()
    first.feed(json.dumps(event_page("a", "b")).encode())
    first.finish()
    prev = first.by_id()
    again = Collector(prev)
    again.feed(json.dumps(event_page("a", "b")).encode())
    again.finish()
    assert [e is prev[e["id"]] for e in again.result()] == [True, True] and not again.changed
    changed = Collector(prev)
    changed.feed(json.dumps(event_page("a") + event_page("b", stamp="2026-01-02T00:00:00Z")).encode())
    changed.finish()
    assert changed.result()[0] is prev["a"] and changed.result()[1] is not prev["b"] and changed.changed
    gone = Collector(prev)
    gone.feed(json.dumps(event_page("a")).encode())
    gone.finish()
    gone.result()
    assert gone.changed


def reg_cfg(path_name="ven-7"):
    return {"vtn": {"ven_name": path_name, "retry_max_s": 60}, "network": {"hostname": "x"},
            "outputs": [{"name": "heater"}, {"name": "charger"}]}


def test_registration_finds_or_creates_and_survives_a_reboot(vtn, tmp_path):
    ids = str(tmp_path / "ven_state.json")
    c = client(vtn.url, vtn_cfg(vtn))
    reg = Registration(reg_cfg(), ids)

    async def ensure(c):
        return await reg.ensure(c)
    assert run(cycle(c, ensure)) == [True]
    first = (reg.ven_id, dict(reg.resources))
    posts = [r["rel"] for r in new(vtn) if r["method"] == "POST" and r["rel"] != "/auth/token"]
    assert posts == ["/vens", "/resources", "/resources"]
    created = [json.loads(r["body"]) for r in new(vtn) if r["method"] == "POST" and r["rel"] != "/auth/token"]
    assert created[0] == {"objectType": "VEN_VEN_REQUEST", "venName": "ven-7"}
    assert created[1] == {"resourceName": "heater", "venID": first[0], "objectType": "VEN_RESOURCE_REQUEST"}
    openadr_check.check_records(new(vtn))
    with open(ids, "rb") as f:
        saved = f.read()
    # One JSON line (version 1) and the CRC-32 trailer of ven.store.
    head, trailer = saved.split(b"\n", 1)
    assert json.loads(head) == {"v": 1, "vtn": vtn.url, "ven_name": "ven-7", "ven_id": first[0], "resources": first[1]}
    assert trailer == b"%08x\n" % zlib.crc32(head + b"\n")
    # Reboot: a new client and registration with the stored IDs checks them, creates nothing.
    vtn.mark = len(vtn.records())
    reg = Registration(reg_cfg(), ids)
    c = client(vtn.url, vtn_cfg(vtn))
    run(cycle(c, ensure))
    assert (reg.ven_id, reg.resources) == first
    assert [r["method"] for r in new(vtn) if r["rel"] not in ("/auth/server", "/auth/token")] == ["GET"] * 3
    # IDs file lost: found by name, still nothing created.
    import os
    os.remove(ids)
    vtn.mark = len(vtn.records())
    reg = Registration(reg_cfg(), ids)
    run(cycle(client(vtn.url, vtn_cfg(vtn)), ensure))
    assert (reg.ven_id, reg.resources) == first
    assert [r for r in new(vtn) if r["method"] == "POST" and r["rel"] != "/auth/token"] == []


def report_event(start, n=4, step=10, **desc):
    d = {"payloadType": "SETPOINT"}
    d.update(desc)
    return {"id": "1", "programID": "1", "eventName": "prices with reports",
            "intervalPeriod": {"start": isotime.format_datetime(start), "duration": "PT%dS" % step},
            "payloadDescriptors": [{"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "PRICE",
                                    "units": "KWH", "currency": "USD"}],
            "reportDescriptors": [d, {"payloadType": "PRICE", "frequency": 2, "repeat": -1},
                                  {"payloadType": "OPERATING_STATE", "frequency": 1, "repeat": 2},
                                  {"payloadType": "USAGE"}],
            "intervals": [{"id": 100 + i, "payloads": [{"type": "PRICE", "values": [0.1 + i / 10]}]}
                          for i in range(n)]}


def level(channel, t):
    ev = report_event(1000)
    for iid, s, e in interval_windows(ev):
        if s <= t < e:
            v = 0.1 + (iid - 100) / 10
            return v, pricemap.duty_for(v, channel)
    return None, pricemap.duty_for(None, channel)


def test_report_cadence_and_interval_ids():
    ev = report_event(1000)  # intervals 100..103 over 1000..1040
    r = Reporter("ven-7", CHANNELS)
    assert r.unproducible(ev) == ["USAGE"]
    sent = []

    def step(now):
        for key, rep in r.due([ev], now, level):
            sent.append((now, rep["payloadDescriptors"][0]["payloadType"],
                         [[iv["id"] for iv in res["intervals"]] for res in rep["resources"]], rep))
            r.sent(key)
    for now in range(995, 1050, 5):
        step(now)
    kinds = [(t, k, ids[0]) for t, k, ids, _ in sent]
    assert kinds == [
        (1010, "OPERATING_STATE", [100]), (1020, "PRICE", [100, 101]), (1020, "OPERATING_STATE", [101]),
        (1040, "SETPOINT", [100, 101, 102, 103]), (1040, "PRICE", [102, 103])]
    setpoint = [rep for t, k, ids, rep in sent if k == "SETPOINT"][0]
    assert [res["resourceName"] for res in setpoint["resources"]] == ["heater", "charger"]
    heater = setpoint["resources"][0]["intervals"]
    # Interval 100: price 0.1 -> heater full (100 %); 103: 0.4 -> off.
    assert [iv["payloads"][0]["values"][0] for iv in heater] == [100.0, 66.7, 33.3, 0.0]
    assert heater[0]["intervalPeriod"] == {"start": isotime.format_datetime(1000), "duration": "PT10S"}
    price = [rep for t, k, ids, rep in sent if k == "PRICE"][0]
    assert price["resources"][0]["intervals"][1]["payloads"] == [{"type": "PRICE", "values": [0.2]}]
    state = [rep for t, k, ids, rep in sent if k == "OPERATING_STATE"][0]
    assert state["resources"][0]["intervals"][0]["payloads"][0]["values"] == ["RUNNING_NORMAL"]
    assert state["resources"][1]["intervals"][0]["payloads"][0]["values"] == ["IDLE_NORMAL"]  # charger at 0
    assert r.next_due([ev], 1050) is None
    # Not acknowledged by the VTN: due again next time.
    r2 = Reporter("ven-7", CHANNELS)
    assert r2.due([ev], 995, level) == []  # first seen before it started
    assert len(r2.due([ev], 1045, level)) == 3 and len(r2.due([ev], 1046, level)) == 3
    # A VEN that first sees the event after it ended reports nothing of it (it did not control it).
    assert Reporter("ven-7", CHANNELS).due([ev], 1045, level) == []


def test_reports_land_on_the_vtn_with_matching_interval_ids(vtn):
    start = isotime.now() - 100
    doc = scenario()
    ev = report_event(start, step=10)
    doc["events"] = [ev]
    vtn.use(doc)
    c = client(vtn.url, vtn_cfg(vtn))
    r = Reporter("ven-7", CHANNELS)
    r.state[("1", 0)] = {"next": 0, "sent": 0, "seen": start}  # as if seen before the event started

    async def post(c):
        n = 0
        for key, rep in r.due([ev], isotime.now(), level):
            await c.post_report(rep)
            r.sent(key)
            n += 1
        return n
    # Seen before it started: every descriptor but the one-report-per-interval kinds reports.
    r.state[("1", 1)] = {"next": 0, "sent": 0, "seen": start}
    assert run(cycle(c, post))[0] >= 2
    posted = [json.loads(x["body"]) for x in new(vtn) if x["rel"] == "/reports"]
    assert all(x["status"] == 201 for x in new(vtn) if x["rel"] == "/reports")
    event_ids = set(i["id"] for i in ev["intervals"])
    for rep in posted:
        assert rep["eventID"] == "1" and rep["clientName"] == "ven-7"
        for res in rep["resources"]:
            assert set(iv["id"] for iv in res["intervals"]) <= event_ids
    setpoint = [p for p in posted if p["payloadDescriptors"][0]["payloadType"] == "SETPOINT"][0]
    assert [iv["id"] for iv in setpoint["resources"][0]["intervals"]] == [100, 101, 102, 103]
    openadr_check.check_records(new(vtn))


@pytest.fixture(scope="module")
def vtn301(tmp_path_factory):
    d = tmp_path_factory.mktemp("v301")
    doc = scenario(events=2)
    doc["events"][0]["reportDescriptors"] = [{"payloadType": "PRICE"}]
    server = start_vtn(d, doc, ADDR_301, extra=["--spec-version", "3.0.1", "--base-path", "openadr3/3.0.1"])
    try:
        yield server
    finally:
        server.stop()


def test_a_3_0_1_server_works(vtn301, tmp_path):
    c = client(vtn301.url, vtn_cfg(vtn301, targets=["group-a"]))
    reg = Registration(reg_cfg(), str(tmp_path / "ids.json"))

    async def everything(c):
        progs = await c.programs()
        evs = await c.events("1")
        ok = await reg.ensure(c)
        rep = await c.post_report({"programID": "1", "eventID": "1", "clientName": "ven-7", "resources": [
            {"resourceName": "heater", "intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [0.2]}]}]}]})
        return progs, evs, ok, rep
    (progs, evs, ok, rep), = run(cycle(c, everything))
    assert c.version == "3.0" and c.token_url.endswith("/openadr3/3.0.1/auth/token")
    assert progs and len(evs) == 3 and ok and rep["id"]
    recs = vtn301.records()
    assert ("GET", "/auth/server", 404) in [(r["method"], r["rel"], r["status"]) for r in recs]
    # No 3.1-only parameters went to the 3.0.1 server (it would have said 400).
    assert all("active" not in r["query"] and "targets" not in r["query"] for r in recs)
    assert [r["rel"] for r in recs if r["method"] == "POST" and r["rel"] != "/auth/token"] == [
        "/vens", "/vens/%s/resources" % reg.ven_id, "/vens/%s/resources" % reg.ven_id, "/reports"]
    assert json.loads([r for r in recs if r["rel"] == "/vens" and r["method"] == "POST"][0]["body"]) == {
        "venName": "ven-7"}
    openadr_check.check_records([r for r in recs if r["rel"] != "/auth/server"], "3.0.1")
