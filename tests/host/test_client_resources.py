"""Resources of the firmware's VTN client: paging, duplicates, targets, VEN and resource
registration that survives a reboot (and a VTN that answers a name conflict with []),
reports whose interval IDs match the event's, and a 3.0.1-shaped server. Dev VTN over
HTTPS with auth; every exchange checked against the openadr3 models and the OpenAPI
file of the server's version."""
import json
import zlib

import pytest

from tests.host import openadr_check
from tests.host.client_support import (FUTURE, LogCapture, client, cycle, events, run, scenario, serving, start_vtn,
                                       switchable, vtn_cfg)
from tests.host.test_http_client import RawServer
from tests.portable import schedule_help
from ven import eventstream, isotime, schedule
from ven.meter import IDLE, RUNNING
from ven.openadr import Dedup, VtnClient
from ven.registration import Registration, VenRequests
from ven.reports import Reporter

ADDR = "127.0.0.64"
ADDR_301 = "127.0.0.65"
CHANNELS = [{"name": "heater", "payload_type": "PRICE", "price_low": 0.1, "price_high": 0.4,
             "duty_at_low": 65535, "duty_at_high": 0, "failsafe_duty": 0},
            {"name": "charger", "payload_type": "PRICE", "price_low": 0.1, "price_high": 0.3,
             "duty_at_low": 0, "duty_at_high": 60000, "failsafe_duty": 1234}]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from serving(tmp_path_factory.mktemp("res"), scenario(events=150), ADDR)


@pytest.fixture
def vtn(server):
    yield from switchable(server, scenario(events=150))


def new(vtn):
    return vtn.records()[vtn.mark:]


def test_150_events_come_in_3_pages(vtn):
    c = client(vtn.url, vtn_cfg(vtn))

    async def events_1(c):
        return await events(c, "1")
    evs, = run(cycle(c, events_1))
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
        return await c.programs(), await events(c, "2")
    (progs, evs), = run(cycle(c, both))
    assert [p["id"] for p in progs] == ["1", "2"]
    answered = json.loads([r for r in new(vtn) if r["rel"] == "/programs"][0]["response"])
    assert answered[1]["targets"] == ["group-a"]  # group-b hidden
    assert progs[1] == {"id": "2", "programName": "fleet"}  # only what the VEN uses is kept
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
        async with RawServer(reply) as srv:
            c = VtnClient("http://127.0.0.1:%d/openadr3/3.1.0" % srv.port, vtn_cfg(client_id="", client_secret=""))
            builder = Dedup(schedule.Builder(["PRICE"], 0))
            builder.program_id = "1"
            await c.events_into("1", eventstream.EventReducer(builder))
            await c.end()
            return builder
    builder = run(go())
    assert (builder.events, builder.dropped, builder.other) == (3, 2, 0)
    assert schedule_help.events(builder.finish()) == ["a", "b", "c"]


def test_events_of_other_programs_are_dropped():
    # Some VTNs ignore programID (the reference implementation): what they send of
    # other programs never reaches the schedule. An event without programID is kept.
    page = event_page("a", "b", "c", "d")
    page[1]["programID"] = "2"
    page[3]["programID"] = "3"
    del page[2]["programID"]
    builder = Dedup(schedule.Builder(["PRICE"], 0))
    builder.program_id = "1"
    reducer = eventstream.EventReducer(builder)
    reducer.feed(json.dumps(page).encode())
    assert reducer.finish() == 4
    assert (builder.events, builder.other, builder.dropped, reducer.new) == (2, 2, 0, 4)
    assert schedule_help.events(builder.finish()) == ["a", "c"]
    # The other program's events dropped in one page do not count as seen for the next.
    builder.program_id = "2"
    reducer.feed(json.dumps(page[1:2]).encode())
    reducer.finish()
    assert builder.events == 3 and sorted(schedule_help.events(builder.finish())) == ["a", "b", "c"]


def test_space_timestamps_are_read(vtn):
    # space_timestamps: "2026-06-01 00:00:00" (no T, no zone). Overlapping events of one
    # priority go by the later modificationDateTime, so the stamps must be read, not skipped.
    doc = scenario()
    doc["events"] = event_page("old", "new")
    doc["events"][0]["modificationDateTime"] = "2026-01-01T00:00:00Z"
    doc["events"][1]["modificationDateTime"] = "2026-06-01T00:00:00Z"
    doc["events"][1]["intervals"][0]["payloads"][0]["values"] = [0.9]
    for ev in doc["events"]:
        for k in ("objectType", "createdDateTime"):
            del ev[k]
    doc["quirks"] = {"space_timestamps": True}
    vtn.use(doc)
    now = isotime.parse_datetime(FUTURE)
    builder = Dedup(schedule.Builder(["PRICE"], now))

    async def poll(c):
        programs = await c.programs()
        await c.events_into("1", eventstream.EventReducer(builder))
        return programs
    programs, = run(cycle(client(vtn.url, vtn_cfg(vtn)), poll))
    answered = json.loads([r for r in new(vtn) if r["rel"] == "/events"][0]["response"])
    assert [e["modificationDateTime"] for e in answered] == ["2026-01-01 00:00:00", "2026-06-01 00:00:00"]
    assert programs and builder.errors == []
    assert builder.finish().value_at("PRICE", now + 60) == 0.9


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


def test_a_conflict_answered_with_an_empty_list_looks_at_every_ven(vtn, tmp_path):
    # conflict_empty_list: 409 with the body [] (not a problem). Another client owns the
    # name, so the VTN shows it to nobody else: the VEN looks without the name filter,
    # finds nothing, and says the VTN's 409 (prices are still followed).
    doc = scenario()
    doc["auth"]["clients"]["someone-else"] = "pw"
    doc["quirks"] = {"conflict_empty_list": True}
    vtn.use(doc)
    other = client(vtn.url, vtn_cfg(vtn, client_id="someone-else", client_secret="pw"))

    async def take_the_name(c):
        return await VenRequests(c).create_ven("ven-taken")
    run(cycle(other, take_the_name))
    vtn.mark = len(vtn.records())
    log = LogCapture()
    reg = Registration(reg_cfg("ven-taken"), str(tmp_path / "ids.json"))

    async def ensure(c):
        return await reg.ensure(c, log.logger)
    assert run(cycle(client(vtn.url, vtn_cfg(vtn)), ensure)) == [False]
    vens = [(r["method"], r["query"].get("venName"), r["status"], r["response"]) for r in new(vtn) if r["rel"] == "/vens"]
    assert [v[:3] for v in vens] == [("GET", ["ven-taken"], 200), ("POST", None, 409), ("GET", None, 200)]
    assert vens[1][3] == "[]"
    warning, = [m for m in log.lines("WARNING") if "registration failed" in m]
    assert "POST %s/vens: HTTP 409" % vtn.url in warning and warning.count("POST ") == 1


def test_a_conflict_the_name_filter_hid_is_resolved_without_it():
    # A VTN whose venName filter misses the VEN it then says exists (409, body []):
    # the VEN is found among all VENs and nothing is created twice.
    def answer(status, obj):
        body = json.dumps(obj).encode()
        return b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (
            status, len(body), body)

    async def reply(writer, srv):
        head = srv.requests[-1][0].decode()
        line = head.split("\r\n")[0]
        if line.startswith("GET /openadr3/3.1.0/vens?venName="):
            out = answer(200, [])
        elif line.startswith("POST /openadr3/3.1.0/vens "):
            out = answer(409, [])
        elif line.startswith("GET /openadr3/3.1.0/vens?"):
            out = answer(200, [{"id": "v-1", "venName": "other"}, {"id": "v-9", "venName": "ven-7"}])
        elif line.startswith("GET /openadr3/3.1.0/resources?resourceName=heater"):
            out = answer(200, [{"id": "r-1", "resourceName": "heater", "venID": "v-9"}])
        elif line.startswith("GET /openadr3/3.1.0/resources?resourceName=charger"):
            out = answer(200, [{"id": "r-2", "resourceName": "charger", "venID": "v-9"}])
        else:
            out = answer(500, {"title": "unexpected " + line})
        writer.write(out)
        await writer.drain()

    async def go(path):
        async with RawServer(reply) as srv:
            c = VtnClient("http://127.0.0.1:%d/openadr3/3.1.0" % srv.port, vtn_cfg(client_id="", client_secret=""))
            reg = Registration(reg_cfg(), path)
            ok = await reg.ensure(c)
            await c.end()
            return ok, reg, [h.decode().split("\r\n")[0].split(" ")[:2] for h, _ in srv.requests]
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        ok, reg, lines = run(go(d + "/ids.json"))
    assert ok and (reg.ven_id, reg.resources) == ("v-9", {"heater": "r-1", "charger": "r-2"})
    assert [m for m, _ in lines] == ["GET", "POST", "GET", "GET", "GET"]  # one POST: the refused one
    assert lines[2][1] == "/openadr3/3.1.0/vens?skip=0&limit=50"


def report_event(start, n=4, step=10):
    return {"id": "1", "programID": "1", "eventName": "prices with reports",
            "intervalPeriod": {"start": isotime.format_datetime(start), "duration": "PT%dS" % step},
            "payloadDescriptors": [{"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "PRICE",
                                    "units": "KWH", "currency": "USD"}],
            # One SETPOINT per interval; PRICE every second interval covering two; one
            # OPERATING_STATE of every interval after the last (the defaults); USAGE: not producible.
            "reportDescriptors": [{"payloadType": "SETPOINT", "startInterval": 0, "numIntervals": 1,
                                   "repeat": -1},
                                  {"payloadType": "PRICE", "startInterval": 1, "numIntervals": 2,
                                   "frequency": 2, "repeat": -1},
                                  {"payloadType": "OPERATING_STATE"},
                                  {"payloadType": "USAGE"}],
            "intervals": [{"id": 100 + i, "payloads": [{"type": "PRICE", "values": [round(0.1 + i / 10, 1)]}]}
                          for i in range(n)]}


def report_sources(ev, now):
    # What the loop hands the Reporter after a poll: the events' interval windows.
    b = schedule.Builder(("PRICE",), now)
    b.add_event(ev)
    return b.reports


def applied(ci, start, end):
    # What the outputs did: the heater at 100 %, the charger idle.
    return (65535, RUNNING) if ci == 0 else (0, IDLE)


def post_due(r, version):
    """A poll cycle's report step (mainloop._send_reports): every due report, acknowledged."""
    async def post(c):
        bodies = []
        while True:
            due = r.due(isotime.now(), version, applied, None)
            if not due:
                return bodies
            for key, report in due:
                await c.post_report(report)
                r.sent(key)
                bodies.append(json.loads(b"".join(report.pieces())) if hasattr(report, "pieces") else report)
    return post


def test_reports_land_on_the_vtn_with_matching_interval_ids(vtn):
    start = isotime.now() - 100  # over 60 s ago: the VTN (active=true) lists it no more
    doc = scenario()
    ev = report_event(start, step=10)
    doc["events"] = [ev]
    vtn.use(doc)
    log = LogCapture()
    r = Reporter("ven-7", CHANNELS, log.logger)
    r.update(report_sources(ev, start - 1), start - 1)  # seen before it started
    assert [m for m in log.lines("WARNING") if "USAGE" in m and "cannot produce" in m]
    c = client(vtn.url, vtn_cfg(vtn))
    posted, = run(cycle(c, post_due(r, "3.1")))
    kinds = [(p["payloadDescriptors"][0]["payloadType"], [iv["id"] for iv in p["resources"][0]["intervals"]])
             for p in posted]
    assert sorted(kinds) == sorted([("SETPOINT", [100]), ("SETPOINT", [101]), ("SETPOINT", [102]),
                                    ("SETPOINT", [103]), ("PRICE", [100, 101]), ("PRICE", [102, 103]),
                                    ("OPERATING_STATE", [100, 101, 102, 103])])
    recs = [x for x in new(vtn) if x["rel"] == "/reports"]
    assert len(recs) == 7 and all(x["status"] == 201 for x in recs)
    for rep in posted:
        assert rep["eventID"] == "1" and rep["clientName"] == "ven-7"
        assert "programID" not in rep  # 3.1.0 dropped it from reports
        assert [res["resourceName"] for res in rep["resources"]] == ["heater", "charger"]
    setpoints = [p for p in posted if p["payloadDescriptors"][0]["payloadType"] == "SETPOINT"]
    assert [p["resources"][1]["intervals"][0]["payloads"][0]["values"] for p in setpoints] == [[0.0]] * 4
    prices = [p for p in posted if p["payloadDescriptors"][0]["payloadType"] == "PRICE"]
    assert [iv["payloads"][0]["values"] for iv in prices[1]["resources"][0]["intervals"]] == [[0.3], [0.4]]
    state = [p for p in posted if p["payloadDescriptors"][0]["payloadType"] == "OPERATING_STATE"][0]
    assert [iv["payloads"][0]["values"] for iv in state["resources"][0]["intervals"]] == [["RUNNING_NORMAL"]] * 4
    openadr_check.check_records(new(vtn))
    assert r.next_due(isotime.now()) is None and r.due(isotime.now(), "3.1", applied, None) == []


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
    # A report of an event that is over, from the Reporter: 3.0.1 wants its programID.
    start = isotime.now() - 100
    r = Reporter("ven-7", CHANNELS)
    r.update(report_sources(report_event(start), start - 1), start - 1)

    async def everything(c):
        progs = await c.programs()
        evs = await events(c, "1")
        ok = await reg.ensure(c)
        posted = await post_due(r, c.version)(c)
        return progs, evs, ok, posted
    (progs, evs, ok, posted), = run(cycle(c, everything))
    assert c.version == "3.0" and c.token_url.endswith("/openadr3/3.0.1/auth/token")
    assert progs and len(evs) == 3 and ok and len(posted) == 7
    assert all(p["programID"] == "1" for p in posted)
    recs = vtn301.records()
    assert ("GET", "/auth/server", 404) in [(r["method"], r["rel"], r["status"]) for r in recs]
    # No 3.1-only parameters went to the 3.0.1 server (it would have said 400).
    assert all("active" not in r["query"] and "targets" not in r["query"] for r in recs)
    assert [r["rel"] for r in recs if r["method"] == "POST" and r["rel"] != "/auth/token"] == [
        "/vens", "/vens/%s/resources" % reg.ven_id, "/vens/%s/resources" % reg.ven_id] + ["/reports"] * 7
    assert all(r["status"] == 201 for r in recs if r["rel"] == "/reports")
    assert json.loads([r for r in recs if r["rel"] == "/vens" and r["method"] == "POST"][0]["body"]) == {
        "venName": "ven-7"}
    openadr_check.check_records([r for r in recs if r["rel"] != "/auth/server"], "3.0.1")
