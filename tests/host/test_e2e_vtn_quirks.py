"""End to end (host-simulated firmware, dev VTN, in the session's private network
namespace) against quirks of real VTNs (tools/devvtn/quirks.py) and for reports:
- a VTN that ignores the programID parameter: events of a program the VEN does not
  follow never reach the schedule;
- conditional polling (ETag / Last-Modified): unchanged polls cost 304s without bodies
  and change nothing; a changed event is picked up at the next poll;
- a report that falls due after its event ended (and left the VTN's active list) is
  still sent, with what the outputs did.
Every exchange is checked against the openadr3 models and the OpenAPI file."""
import json
import os
import time

from tests.conftest import needs_netns
from tests.host import openadr_check
from tests.host.test_client_e2e import conforming
from tests.host.test_e2e import CHANNELS, PRICES, assert_follows_prices, device_config, scenario_dict, write_scenario
from tests.host.test_schedule_e2e import later
from tools.devvtn.launch import DevVtn
from tools.hostsim import launch
from ven.isotime import format_datetime
from ven.pricemap import load_duty

pytestmark = needs_netns

OTHER_PRICE = 0.99


def test_events_of_a_program_not_followed_never_reach_the_schedule(tmp_path):
    # ignore_program_filter: GET /events?programID=prog1 also answers the events of
    # "other", here one that would win everywhere (priority 0) if it got in.
    start = int(time.time()) + 1
    doc = scenario_dict(start)
    doc["programs"].append({"id": "prog2", "programName": "other"})
    doc["events"].append({"id": "ev2", "programID": "prog2", "priority": 0, "intervalPeriod": {
        "start": format_datetime(start - 60), "duration": "PT1H"}, "intervals": [
        {"id": 0, "payloads": [{"type": "PRICE", "values": [OTHER_PRICE]}]}]})
    sc = tmp_path / "scenario.json"
    write_scenario(sc, doc)
    with DevVtn(sc, "127.0.0.73", quirks=["ignore_program_filter"], record=str(tmp_path / "record.jsonl"),
                log_path=str(tmp_path / "vtn.log")) as vtn:
        result = launch.run(device_config(url=vtn.url, program_names=["local"]), seconds=5, ip="127.0.0.74",
                            workdir=str(tmp_path))
        recs = vtn.records()
    assert result.code == 0, result.log[-3000:]
    asked = [r for r in recs if r["rel"] == "/events"]
    assert asked and all(r["query"]["programID"] == ["prog1"] for r in asked)
    # The VTN did send the other program's event ...
    assert all("ev2" in [e["id"] for e in json.loads(r["response"])] for r in asked)
    # ... and it never applied: only the followed program's prices.
    assert OTHER_PRICE not in [e["price"] for e in result.events]
    assert_follows_prices(result, start)
    assert "schedule updated: 1 program(s), 1 event(s)" in result.log
    assert "Traceback" not in result.log


def test_conditional_polls_cost_304s_and_a_change_is_picked_up(tmp_path):
    start = int(time.time()) + 1
    changed_prices = PRICES[:4] + [0.35] * (len(PRICES) - 4)
    sc = tmp_path / "scenario.json"
    write_scenario(sc, conforming(scenario_dict(start)))
    with DevVtn(sc, "127.0.0.75", quirks=["etag"], record=str(tmp_path / "record.jsonl"),
                log_path=str(tmp_path / "vtn.log")) as vtn:
        changed_at = []
        timer = later(4.0, lambda: (write_scenario(sc, conforming(scenario_dict(start, prices=changed_prices))),
                                    changed_at.append(time.time())))
        try:
            result = launch.run(device_config(url=vtn.url), seconds=9.5, ip="127.0.0.76", workdir=str(tmp_path))
        finally:
            timer.cancel()
        recs = vtn.records()
    assert result.code == 0, result.log[-3000:]
    polled = [r for r in recs if r["rel"] in ("/programs", "/events")]
    assert polled[0]["if_none_match"] is None and polled[0]["status"] == 200
    before = [r for r in polled if r["t"] < changed_at[0]]
    after = [r for r in polled if r["t"] > changed_at[0] + 0.1]
    # Unchanged polls: the validators went back and the VTN answered 304, without a body.
    unchanged = [r for r in before[2:] if r["rel"] == "/events"]
    assert len(unchanged) >= 2 and all(r["if_none_match"] and r["status"] == 304 for r in unchanged), before
    assert all(r["response"] == "" for r in polled if r["status"] == 304)
    sent = sum(len(r["response"]) for r in polled)
    assert sent < len(polled) / 2 * len(polled[1]["response"])  # far less than full answers every time
    # The change came as a 200 to a conditional request, then 304s again.
    events_after = [r for r in after if r["rel"] == "/events"]
    assert events_after[0]["status"] == 200 and events_after[0]["if_none_match"]
    assert [r["status"] for r in events_after[1:]].count(304) >= 1
    # "schedule updated" once at the start and once for the change, never for a 304.
    assert result.log.count("schedule updated") == 2, result.log[-3000:]
    # Interval 4 (from start + 8 s) has the changed price; it holds on to the end.
    late = [e for e in result.events if e["price"] is not None and e["t"] > start + 7.5]
    assert late and all(e["price"] == 0.35 for e in late), result.events
    early = [e for e in result.events if e["price"] is not None and e["t"] < changed_at[0]]
    assert early and all(e["price"] == PRICES[int((e["t"] - start) // 2)] or
                         e["price"] == PRICES[int((e["t"] - 1 - start) // 2)] for e in early)
    openadr_check.check_records([r for r in recs if r["status"] != 304])
    assert "Traceback" not in result.log


def test_a_report_due_after_its_event_ended_and_left_the_list_is_still_sent(tmp_path):
    # Three 1 s intervals; the default reportDescriptor: one SETPOINT report of all of
    # them, due when the last one ends. Polls are 30 s apart, so the one poll after the
    # first is the one the report asks for (a second after it fell due): by then the
    # event is over and the VTN (active=true) no longer lists it.
    start = int(time.time()) + 2
    prices = [0.1, 0.25, 0.4]
    doc = conforming(scenario_dict(start, prices=prices))
    ev = doc["events"][0]
    ev["intervalPeriod"]["duration"] = "PT1S"
    ev["reportDescriptors"] = [{"payloadType": "SETPOINT"}]
    sc = tmp_path / "scenario.json"
    write_scenario(sc, doc)
    with DevVtn(sc, "127.0.0.77", record=str(tmp_path / "record.jsonl"), log_path=str(tmp_path / "vtn.log")) as vtn:
        result = launch.run(device_config(url=vtn.url, ven_name="e2e-ven", poll_interval_s=30), seconds=7.5,
                            ip="127.0.0.78", workdir=str(tmp_path))
        recs = vtn.records()
    assert result.code == 0, result.log[-3000:]
    events = [(r["t"], [e["id"] for e in json.loads(r["response"])]) for r in recs if r["rel"] == "/events"]
    assert [ids for _, ids in events] == [["ev1"], []], events
    reports = [r for r in recs if r["rel"] == "/reports"]
    assert len(reports) == 1 and reports[0]["status"] == 201, result.log[-3000:]
    assert events[0][0] < start <= start + 3 <= events[1][0] < reports[0]["t"]
    body = json.loads(reports[0]["body"])
    assert "programID" not in body and body["eventID"] == "ev1" and body["clientName"] == "e2e-ven"
    with open(os.path.join(launch.REPO, "configs", "default.json")) as f:
        defaults = json.load(f)["channel_defaults"]
    for res in body["resources"]:
        ch = dict(defaults)
        ch.update([c for c in CHANNELS if c["name"] == res["resourceName"]][0])
        assert [iv["id"] for iv in res["intervals"]] == [0, 1, 2]
        # What the outputs did, time-weighted: the mapped duty of each interval's price
        # (it changes a few ms after each boundary).
        for iv, price in zip(res["intervals"], prices):
            want = load_duty(price, ch) * 100 / 65535
            assert abs(iv["payloads"][0]["values"][0] - want) < 2.0, (res["resourceName"], iv, want)
    assert "report sent" in result.log
    openadr_check.check_records(recs)
    assert "Traceback" not in result.log
