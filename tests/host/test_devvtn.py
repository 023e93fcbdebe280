"""Development VTN (tools/devvtn): REST logic in-process, HTTP and faults through a
subprocess on loopback, mDNS inside a private network namespace.

Run as a script (`python tests/host/test_devvtn.py mdns-probe DIR`) it performs
the mDNS round trip and prints the findings as JSON: that is how the test runs
it in a fresh namespace when pytest itself is not inside one.
"""

import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import pytest  # noqa: E402

import tools.netns  # noqa: E402
from tools.devvtn import faults, make_scenario, periods  # noqa: E402
from tools.devvtn.advertise import hostname_from_instance, txt_properties  # noqa: E402
from tools.devvtn.app import Request, VtnApp  # noqa: E402
from tools.devvtn.launch import DevVtn  # noqa: E402
from tools.devvtn.scenario import ScenarioError, ScenarioStore, build, load  # noqa: E402

BASE = "/openadr3/3.1.0"
START = "2026-03-01T00:00:00Z"
SPEC = "/work/shared/spec/3.1.0/openadr3.yaml"
TXT_KEYS = {"version", "base_path", "local_url", "program_names", "requires_auth", "openapi_url"}


def base_scenario():
    """Day prices (program 1, event 1), a targeted program 2, 60 events of program 3."""
    doc = make_scenario.make(START, 2, 24, "day-prices")
    doc["programs"].append({"id": "2", "programName": "fleet", "targets": ["group-a", "group-b"]})
    doc["programs"].append({"id": "3", "programName": "paging"})
    for n in range(60):
        doc["events"].append({"id": "p%02d" % n, "programID": "3", "intervals": []})
    return doc


def write_json(path, doc):
    # Replace atomically, as the dev VTN expects of anyone swapping its scenario.
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, str(path))


# --------------------------------------------------------------------------
# In-process: scenario loading, REST logic, faults, TXT, generator


class FakeClock:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


def make_app(tmp_path, doc, clock=None, openapi_file=None):
    path = tmp_path / "scenario.json"
    write_json(path, doc)
    clock = clock or FakeClock(periods.parse_datetime(START) + 60)
    return VtnApp(ScenarioStore(str(path), clock, log=lambda m: None), openapi_file=openapi_file,
                  clock=clock), path


def call(app, method, target, body=b"", headers=None):
    resp = app.handle(Request(method, target, headers, body, "127.0.0.1:8080"))
    return resp.status, json.loads(resp.body.decode("utf-8")), resp


def test_server_fields_filled_and_kept(tmp_path):
    app, _ = make_app(tmp_path, base_scenario())
    status, programs, resp = call(app, "GET", BASE + "/programs")
    assert status == 200 and resp.content_type == "application/json"
    p = programs[0]
    for key in ("id", "createdDateTime", "modificationDateTime", "objectType", "programName"):
        assert key in p
    assert p["objectType"] == "PROGRAM" and p["createdDateTime"].endswith("Z")
    status, event, _ = call(app, "GET", BASE + "/events/1")
    assert status == 200 and event["objectType"] == "EVENT" and event["programID"] == "1"
    assert len(event["intervals"]) == 24
    assert event["intervals"][0]["payloads"][0]["type"] == "PRICE"


def test_reload_updates_only_changed_objects(tmp_path):
    clock = FakeClock(1000000)
    doc = base_scenario()
    app, path = make_app(tmp_path, doc, clock)
    _, before, _ = call(app, "GET", BASE + "/events/1")
    clock.t += 3600
    doc["events"][0]["intervals"][0]["payloads"][0]["values"] = [9.99]
    write_json(path, doc)
    _, after, _ = call(app, "GET", BASE + "/events/1")
    assert after["intervals"][0]["payloads"][0]["values"] == [9.99]
    assert after["createdDateTime"] == before["createdDateTime"]
    assert after["modificationDateTime"] > before["modificationDateTime"]
    _, prog, _ = call(app, "GET", BASE + "/programs/1")
    assert prog["modificationDateTime"] == before["modificationDateTime"]  # unchanged object


def test_broken_reload_keeps_old_scenario(tmp_path):
    app, path = make_app(tmp_path, base_scenario())
    with open(path, "w") as f:
        f.write('{"programs": [')
    status, programs, _ = call(app, "GET", BASE + "/programs")
    assert status == 200 and [p["id"] for p in programs] == ["1", "3"]


def test_scenario_validation():
    with pytest.raises(ScenarioError):
        build({"programs": [{"id": "1"}]})  # no programName
    with pytest.raises(ScenarioError):
        build({"programs": [{"programName": "a", "id": "x/y"}]})
    with pytest.raises(ScenarioError):
        build({"programs": [{"programName": "a"}, {"programName": "b"}], "events": [{}]})
    with pytest.raises(ScenarioError):
        build({"faults": [{"status": "500"}]})
    s = build({"programs": [{"programName": "a"}], "events": [{"intervals": []}]})
    assert s.events[0]["programID"] == s.programs[0]["id"] == "1"


def test_paging_and_filters(tmp_path):
    app, _ = make_app(tmp_path, base_scenario())
    _, events, _ = call(app, "GET", BASE + "/events")
    assert len(events) == 50  # default limit
    _, rest, _ = call(app, "GET", BASE + "/events?skip=50")
    assert len(rest) == 11
    _, page, _ = call(app, "GET", BASE + "/events?programID=3&skip=2&limit=3")
    assert [e["id"] for e in page] == ["p02", "p03", "p04"]
    _, none, _ = call(app, "GET", BASE + "/events?programID=nope")
    assert none == []
    _, zero, _ = call(app, "GET", BASE + "/programs?limit=0")
    assert zero == []
    for bad in ("limit=51", "limit=-1", "skip=-1", "skip=x", "limit=1&limit=2"):
        status, body, resp = call(app, "GET", BASE + "/events?" + bad)
        assert status == 400 and body["status"] == 400, bad
        assert resp.content_type == "application/problem+json"


def test_targets_and_hiding(tmp_path):
    app, _ = make_app(tmp_path, base_scenario())
    _, plain, _ = call(app, "GET", BASE + "/programs")
    assert [p["id"] for p in plain] == ["1", "3"]
    _, targeted, _ = call(app, "GET", BASE + "/programs?targets=group-a&targets=other")
    assert [p["id"] for p in targeted] == ["1", "2", "3"]
    assert targeted[1]["targets"] == ["group-a"]  # group-b stays hidden
    status, _, _ = call(app, "GET", BASE + "/programs/2")
    assert status == 404
    status, prog, _ = call(app, "GET", BASE + "/programs/2?targets=group-b")
    assert status == 200 and prog["targets"] == ["group-b"]


def test_active_filter(tmp_path):
    doc = base_scenario()
    # Event 1: 24 intervals of 2 s from START. Event "old" ended an hour before START.
    doc["events"].append({"id": "old", "programID": "1", "intervalPeriod": {
        "start": "2026-02-28T22:00:00Z", "duration": "PT1H"}, "intervals": [{"id": 0, "payloads": []}]})
    clock = FakeClock(periods.parse_datetime(START) + 30)
    app, _ = make_app(tmp_path, doc, clock)
    _, active, _ = call(app, "GET", BASE + "/events?programID=1&active=true")
    assert [e["id"] for e in active] == ["1"]
    _, all_events, _ = call(app, "GET", BASE + "/events?programID=1&active=false")
    assert [e["id"] for e in all_events] == ["1", "old"]
    clock.t += 60  # past the 48 s of event 1
    _, active, _ = call(app, "GET", BASE + "/events?programID=1&active=true")
    assert active == []


def test_periods():
    assert periods.parse_duration("PT1H") == 3600
    assert periods.parse_duration("P1DT0.5S") == 86400.5
    assert periods.parse_duration("P2W") == 14 * 86400
    with pytest.raises(ValueError):
        periods.parse_duration("1H")
    assert periods.parse_datetime("1970-01-01T00:01:00Z") == 60
    assert periods.event_end({"intervalPeriod": {"start": "0001-01-01", "duration": "PT1H"},
                              "intervals": [{"id": 0, "payloads": []}]}) is None


def test_not_found_and_method_problems(tmp_path):
    app, _ = make_app(tmp_path, base_scenario())
    for target in ("/nope", BASE + "/nope", BASE + "/events/zzz", BASE + "/programs/1/x"):
        status, body, resp = call(app, "GET", target)
        assert status == 404 and body["status"] == 404 and body["title"] == "Not Found", target
        assert resp.content_type == "application/problem+json"
    status, body, resp = call(app, "DELETE", BASE + "/events/1")
    assert status == 405 and ("Allow", "GET") in resp.headers
    status, _, _ = call(app, "GET", "/openapi.yaml")  # no file configured
    assert status == 404


def form(**fields):
    return ("&".join("%s=%s" % kv for kv in fields.items())).encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_auth_endpoints_and_enforcement(tmp_path):
    doc = base_scenario()
    doc["auth"] = {"required": True, "clients": {"ven-1": "s3cret"}, "token_lifetime": 60}
    clock = FakeClock(1000000)
    app, _ = make_app(tmp_path, doc, clock)
    status, info, _ = call(app, "GET", BASE + "/auth/server", headers={"Host": "vtn.local:8080"})
    assert status == 200 and info == {"tokenURL": "http://vtn.local:8080" + BASE + "/auth/token"}
    status, body, resp = call(app, "GET", BASE + "/events")
    assert status == 401 and body["status"] == 401
    assert any(h[0] == "WWW-Authenticate" for h in resp.headers)
    status, err, _ = call(app, "POST", BASE + "/auth/token", form(
        grant_type="client_credentials", client_id="ven-1", client_secret="wrong"), FORM)
    assert status == 401 and err["error"] == "invalid_client"
    status, err, _ = call(app, "POST", BASE + "/auth/token", form(
        grant_type="password", client_id="ven-1", client_secret="s3cret"), FORM)
    assert status == 400 and err["error"] == "unsupported_grant_type"
    status, tok, _ = call(app, "POST", BASE + "/auth/token", form(
        grant_type="client_credentials", client_id="ven-1", client_secret="s3cret"), FORM)
    assert status == 200 and tok["token_type"] == "Bearer" and tok["expires_in"] == 60
    bearer = {"Authorization": "Bearer " + tok["access_token"]}
    status, events, _ = call(app, "GET", BASE + "/events?programID=1", headers=bearer)
    assert status == 200 and len(events) == 1
    basic = {"Authorization": "Basic " + base64.b64encode(b"ven-1:s3cret").decode()}
    basic.update(FORM)
    status, _, _ = call(app, "POST", BASE + "/auth/token", b"grant_type=client_credentials", basic)
    assert status == 200
    clock.t += 61
    status, _, _ = call(app, "GET", BASE + "/events", headers=bearer)
    assert status == 401  # expired


def test_ven_resource_and_report_endpoints(tmp_path):
    doc = base_scenario()
    doc["auth"] = {"required": True, "clients": {"ven-1": "s", "ven-2": "t"}}
    app, _ = make_app(tmp_path, doc, FakeClock(1000000))
    tokens = {}
    for cid, secret in (("ven-1", "s"), ("ven-2", "t")):
        _, tok, _ = call(app, "POST", BASE + "/auth/token", form(
            grant_type="client_credentials", client_id=cid, client_secret=secret), FORM)
        tokens[cid] = {"Authorization": "Bearer " + tok["access_token"], "Content-Type": "application/json"}
    one = tokens["ven-1"]
    status, body, _ = call(app, "POST", BASE + "/vens", json.dumps({"venName": "v"}).encode(), one)
    assert status == 400 and "VEN_VEN_REQUEST" in body["detail"]
    status, ven, _ = call(app, "POST", BASE + "/vens", json.dumps(
        {"objectType": "VEN_VEN_REQUEST", "venName": "v"}).encode(), one)
    assert status == 201 and ven["objectType"] == "VEN" and ven["clientID"] == "ven-1"
    status, _, _ = call(app, "POST", BASE + "/vens", json.dumps(
        {"objectType": "VEN_VEN_REQUEST", "venName": "v"}).encode(), one)
    assert status == 409
    assert call(app, "GET", BASE + "/vens?venName=v", headers=one)[1] == [ven]
    assert call(app, "GET", BASE + "/vens", headers=tokens["ven-2"])[1] == []  # privacy
    status, res, _ = call(app, "POST", BASE + "/resources", json.dumps(
        {"objectType": "VEN_RESOURCE_REQUEST", "resourceName": "heater", "venID": ven["id"]}).encode(), one)
    assert status == 201 and res["venID"] == ven["id"]
    assert call(app, "GET", BASE + "/resources?venID=%s&resourceName=heater" % ven["id"], headers=one)[1] == [res]
    assert call(app, "GET", BASE + "/resources/" + res["id"], headers=one)[1] == res
    report = {"eventID": "1", "clientName": "v", "resources": [
        {"resourceName": "heater", "intervals": [{"id": 0, "payloads": [{"type": "SETPOINT", "values": [50]}]}]}]}
    status, made, _ = call(app, "POST", BASE + "/reports", json.dumps(report).encode(), one)
    assert status == 201 and made["objectType"] == "REPORT" and made["clientID"] == "ven-1"
    assert call(app, "POST", BASE + "/reports", json.dumps(dict(report, eventID="nope")).encode(), one)[0] == 400
    assert call(app, "GET", BASE + "/reports?eventID=1", headers=one)[1] == [made]
    assert [r["id"] for r in app.objects("REPORT")] == [made["id"]]


def test_301_shape(tmp_path):
    path = tmp_path / "scenario.json"
    write_json(path, base_scenario())
    app = VtnApp(ScenarioStore(str(path), FakeClock(1000000), log=lambda m: None), "openadr3/3.0.1",
                 clock=FakeClock(1000000), api_version="3.0.1")
    base = "/openadr3/3.0.1"
    assert call(app, "GET", base + "/auth/server")[0] == 404
    assert call(app, "GET", base + "/events?active=true")[0] == 400
    assert call(app, "GET", base + "/events?targets=a")[0] == 400
    status, ven, _ = call(app, "POST", base + "/vens", json.dumps({"venName": "v"}).encode())
    assert status == 201 and "clientID" not in ven
    assert call(app, "POST", base + "/vens", json.dumps(
        {"objectType": "VEN_VEN_REQUEST", "venName": "w"}).encode())[0] == 400
    status, res, _ = call(app, "POST", base + "/vens/%s/resources" % ven["id"], json.dumps(
        {"resourceName": "heater"}).encode())
    assert status == 201 and res["venID"] == ven["id"]
    assert call(app, "GET", base + "/vens/%s/resources/%s" % (ven["id"], res["id"]))[1] == res
    assert call(app, "POST", base + "/reports", json.dumps(
        {"eventID": "1", "clientName": "v", "resources": []}).encode())[0] == 400  # 3.0.1 needs programID


def test_odd_token_answers(tmp_path):
    doc = base_scenario()
    doc["auth"] = {"required": True, "clients": {"a": "b"}, "omit_expires_in": True, "scope": ["x", "y"],
                   "reject_status": 403, "token_url": "https://elsewhere.example/token"}
    app, _ = make_app(tmp_path, doc)
    assert call(app, "GET", BASE + "/auth/server")[1] == {"tokenURL": "https://elsewhere.example/token"}
    status, tok, _ = call(app, "POST", BASE + "/auth/token", form(
        grant_type="client_credentials", client_id="a", client_secret="b"), FORM)
    assert status == 200 and "expires_in" not in tok and tok["scope"] == ["x", "y"]
    status, body, resp = call(app, "POST", BASE + "/auth/token", form(
        grant_type="client_credentials", client_id="a", client_secret="no"), FORM)
    assert status == 403 and resp.content_type == "application/problem+json" and body["status"] == 403


def test_fault_rules():
    assert faults.parse_cli_rule("path=/events,status=500") == {"path": "/events", "status": 500}
    assert faults.parse_cli_rule("chunked=true,chunk_size=7") == {"chunked": True, "chunk_size": 7}
    for bad in ("status", "status=5000", "bogus=1", "chunked=1", "delay=-1"):
        with pytest.raises(ValueError):
            faults.parse_cli_rule(bad)
    inj = faults.Injector([{"path": "/events", "status": 500, "times": 1}])
    rules = [{"path": "/events/", "delay": 0.5, "method": "GET"}, {"chunked": True}]
    e = inj.effect("GET", "/events/1", rules, 1)
    assert e.status == 500 and e.delay == 0.5 and e.chunked
    e = inj.effect("GET", "/events", rules, 1)
    assert e.status is None and e.delay == 0.5
    e = inj.effect("GET", "/eventsX", rules, 1)
    assert e.delay == 0 and e.chunked
    assert not inj.effect("GET", "/x", [], 1)


def test_txt_properties():
    assert hostname_from_instance("Dev VTN") == "dev-vtn"
    assert hostname_from_instance("!!!") == "devvtn"
    props = txt_properties("dev-vtn", 8080, "openadr3/3.1.0", ["a", "b"], False)
    assert set(props) == TXT_KEYS
    assert props["local_url"] == "http://dev-vtn.local:8080/openadr3/3.1.0"
    assert props["openapi_url"] == "http://dev-vtn.local:8080/openapi.yaml"
    assert props["program_names"] == "a,b" and props["requires_auth"] == "False"
    with pytest.raises(ValueError):
        txt_properties("h", 1, "b", ["x" * 300], True)


def check_day_prices(doc, interval_seconds):
    assert [p["programName"] for p in doc["programs"]] == ["day-prices"]
    event = doc["events"][0]
    assert event["programID"] == doc["programs"][0]["id"]
    assert event["intervalPeriod"]["duration"] == "PT%dS" % interval_seconds
    desc = event["payloadDescriptors"][0]
    assert (desc["payloadType"], desc["currency"], desc["units"]) == ("PRICE", "USD", "KWH")
    prices = [i["payloads"][0]["values"][0] for i in event["intervals"]]
    assert [i["id"] for i in event["intervals"]] == list(range(24))
    assert min(prices) == 0.08 and max(prices) == 0.42
    night, morning, midday, evening = prices[3], max(prices[6:10]), prices[13], max(prices[16:21])
    assert night < morning > midday < evening
    assert prices.index(max(prices)) in range(17, 21)
    return event


def test_make_scenario_cli(tmp_path):
    out = tmp_path / "s.json"
    before = time.time()
    subprocess.run([sys.executable, "-m", "tools.devvtn.make_scenario", "--out", str(out),
                    "--start", "now", "--interval-seconds", "2"], cwd=REPO, check=True, timeout=20)
    doc = json.loads(out.read_text())
    event = check_day_prices(doc, 2)
    start = event["intervalPeriod"]["start"]
    assert start.endswith("Z") and len(start) == 20
    assert before - 1 <= periods.parse_datetime(start) <= time.time() + 1
    load(str(out))  # the server accepts it
    assert make_scenario.parse_start("2026-05-01T02:00:00+02:00") == "2026-05-01T00:00:00Z"
    assert len(make_scenario.resample(make_scenario.DAY_CURVE, 96)) == 96


def test_committed_example_scenario():
    path = os.path.join(REPO, "tools", "devvtn", "scenarios", "day_prices.json")
    with open(path) as f:
        check_day_prices(json.load(f), 3600)
    assert load(path).program_names == ["day-prices"]


# --------------------------------------------------------------------------
# Subprocess on loopback, HTTP only (--no-advertise)


@pytest.fixture(scope="module")
def vtn(tmp_path_factory):
    d = tmp_path_factory.mktemp("devvtn")
    path = d / "scenario.json"
    write_json(path, base_scenario())
    server = DevVtn(path, "127.0.0.1", log_path=str(d / "devvtn.log"),
                    extra=["--openapi-file", SPEC])
    server.start()
    server.scenario_path = path
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def faulty(vtn):
    """Swap a scenario with faults in; restore the plain one afterwards."""
    def swap(rules):
        doc = base_scenario()
        doc["faults"] = rules
        write_json(vtn.scenario_path, doc)
    try:
        yield swap
    finally:
        write_json(vtn.scenario_path, base_scenario())


def get(server, path, timeout=5.0, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        if own:
            conn.close()


def test_http_endpoints_keep_alive(vtn):
    assert vtn.url == "http://127.0.0.1:%d%s" % (vtn.port, BASE)
    conn = http.client.HTTPConnection("127.0.0.1", vtn.port, timeout=5)
    try:
        status, headers, body = get(vtn, BASE + "/programs", conn=conn)
        assert status == 200 and dict(headers)["Content-Length"] == str(len(body))
        assert [p["programName"] for p in json.loads(body)] == ["day-prices", "paging"]
        # Same connection again: HTTP/1.1 persistent connections work.
        status, _, body = get(vtn, BASE + "/events?programID=1", conn=conn)
        assert status == 200 and json.loads(body)[0]["id"] == "1"
        status, headers, body = get(vtn, BASE + "/nope", conn=conn)
        assert status == 404 and dict(headers)["Content-Type"] == "application/problem+json"
        assert json.loads(body)["status"] == 404
        status, _, body = get(vtn, BASE + "/events?skip=50", conn=conn)
        assert status == 200 and len(json.loads(body)) == 11
    finally:
        conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", vtn.port, timeout=5)
    try:
        conn.request("POST", BASE + "/auth/token", form(
            grant_type="client_credentials", client_id="x", client_secret="y"), FORM)
        resp = conn.getresponse()
        token = json.loads(resp.read())
        assert resp.status == 200 and token["token_type"] == "Bearer" and token["access_token"]
    finally:
        conn.close()


def test_openapi_served_when_spec_present(vtn):
    if not os.path.isfile(SPEC):
        pytest.skip("OpenADR spec not present here")
    status, headers, body = get(vtn, "/openapi.yaml")
    assert status == 200 and body.startswith(b"openapi:")


def test_hot_swap_changes_prices(vtn, faulty):
    doc = base_scenario()
    doc["events"][0]["intervals"][5]["payloads"][0]["values"] = [1.23]
    write_json(vtn.scenario_path, doc)
    _, _, body = get(vtn, BASE + "/events/1")
    assert json.loads(body)["intervals"][5]["payloads"][0]["values"] == [1.23]


def test_fault_status_and_times(vtn, faulty):
    faulty([{"path": "/events", "status": 500}, {"path": "/programs", "status": 503, "times": 1}])
    status, headers, body = get(vtn, BASE + "/events?programID=1")
    assert status == 500 and json.loads(body)["status"] == 500
    assert get(vtn, BASE + "/programs")[0] == 503
    assert get(vtn, BASE + "/programs")[0] == 200  # times=1 used up
    assert get(vtn, BASE + "/events/1")[0] == 500  # prefix match


def test_fault_invalid_json(vtn, faulty):
    faulty([{"path": "/events", "invalid_json": True}])
    status, headers, body = get(vtn, BASE + "/events")
    assert status == 200 and dict(headers)["Content-Length"] == str(len(body))
    with pytest.raises(ValueError):
        json.loads(body)


def test_fault_delays(vtn, faulty):
    faulty([{"path": "/programs", "delay": 0.4}, {"path": "/events", "body_delay": 3}])
    t0 = time.monotonic()
    assert get(vtn, BASE + "/programs")[0] == 200
    assert time.monotonic() - t0 >= 0.4
    conn = http.client.HTTPConnection("127.0.0.1", vtn.port, timeout=0.3)
    try:
        conn.request("GET", BASE + "/events")
        resp = conn.getresponse()  # headers arrive at once ...
        assert resp.status == 200
        with pytest.raises(socket.timeout):
            resp.read()  # ... the body does not
    finally:
        conn.close()


def test_fault_close(vtn, faulty):
    faulty([{"path": "/events", "close": True}])
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        get(vtn, BASE + "/events")


def raw_get(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        data = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


def test_fault_chunked(vtn, faulty):
    _, plain = raw_get(vtn.port, BASE + "/events/1")
    faulty([{"path": "/events", "chunked": True, "chunk_size": 100}])
    head, body = raw_get(vtn.port, BASE + "/events/1")
    assert "Transfer-Encoding: chunked" in head and "Content-Length" not in head
    sizes, joined = [], b""
    while True:
        line, _, body = body.partition(b"\r\n")
        size = int(line, 16)
        sizes.append(size)
        if size == 0:
            break
        joined, body = joined + body[:size], body[size + 2:]
    assert joined == plain and len(sizes) > 3 and sizes[0] == 100
    # And a standard client decodes it.
    status, _, body = get(vtn, BASE + "/events/1")
    assert status == 200 and body == plain


def test_cli_fault_flag_and_clean_exit(tmp_path):
    path = tmp_path / "s.json"
    write_json(path, base_scenario())
    log = tmp_path / "log"
    server = DevVtn(path, "127.0.0.1", log_path=str(log),
                    extra=["--fault", "path=/events,status=502"]).start()
    try:
        assert get(server, BASE + "/events")[0] == 502
        assert get(server, BASE + "/programs")[0] == 200
    finally:
        rc = server.stop()
    assert rc == 0
    assert "devvtn: stopped" in log.read_text()


def test_bad_scenario_exits_2(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"programs": [{"id": "1"}]}')
    proc = subprocess.run([sys.executable, "-m", "tools.devvtn", "--scenario", str(path),
                           "--host", "127.0.0.1", "--port", "0", "--no-advertise"],
                          cwd=REPO, capture_output=True, text=True, timeout=20)
    assert proc.returncode == 2 and "programName" in proc.stderr


# --------------------------------------------------------------------------
# mDNS inside a private network namespace

VTN_ADDR = "127.0.0.52"
BROWSER_ADDR = "127.0.0.53"


def mdns_probe(workdir):
    """Start an advertising dev VTN and look at it with python-zeroconf from another
    address. Must run inside a namespace. Returns what it saw, as plain data."""
    from zeroconf import IPVersion, ServiceBrowser, ServiceStateChange, Zeroconf

    from tools.devvtn.advertise import SERVICE_TYPE
    assert tools.netns.inside(), "mdns_probe must run inside a private network namespace"
    instance = "Devvtn Test %d" % os.getpid()
    fullname = "%s.%s" % (instance, SERVICE_TYPE)
    path = os.path.join(workdir, "mdns_scenario.json")
    write_json(path, base_scenario())
    seen = {"added": threading.Event(), "updated": threading.Event(), "removed": threading.Event()}

    def on_change(zeroconf, service_type, name, state_change):
        if name != fullname:
            return
        if state_change is ServiceStateChange.Added:
            seen["added"].set()
        elif state_change is ServiceStateChange.Updated:
            seen["updated"].set()
        elif state_change is ServiceStateChange.Removed:
            seen["removed"].set()

    out = {}
    server = DevVtn(path, VTN_ADDR, advertise=True, name=instance,
                    log_path=os.path.join(workdir, "mdns_devvtn.log"))
    zc = Zeroconf(interfaces=[BROWSER_ADDR], ip_version=IPVersion.V4Only)
    browser = None
    try:
        server.start()
        browser = ServiceBrowser(zc, SERVICE_TYPE, handlers=[on_change])
        t0 = time.monotonic()
        out["added"] = seen["added"].wait(5)
        out["browse_s"] = time.monotonic() - t0
        info = zc.get_service_info(SERVICE_TYPE, fullname, timeout=3000)
        if info is not None:
            out["txt"] = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
            out["addresses"] = info.parsed_addresses()
            out["port"] = info.port
            out["server"] = info.server
        out["http_port"] = server.port
        out["expected_host"] = hostname_from_instance(instance) + ".local."
        conn = http.client.HTTPConnection(VTN_ADDR, server.port, timeout=5)
        try:
            conn.request("GET", BASE + "/programs")
            out["http_status"] = conn.getresponse().status
        finally:
            conn.close()
        # A new program list in the scenario must reach the TXT record.
        doc = base_scenario()
        doc["programs"][0]["programName"] = "night-saver"
        write_json(path, doc)
        out["updated"] = seen["updated"].wait(5)
        info = zc.get_service_info(SERVICE_TYPE, fullname, timeout=3000)
        out["program_names_after"] = info and info.properties.get(b"program_names", b"").decode()
        out["exit"] = server.stop()
        out["removed"] = seen["removed"].wait(3)
    finally:
        if browser is not None:
            browser.cancel()
        zc.close()
        server.stop()
    return out


def test_mdns_advertisement(tmp_path):
    if tools.netns.inside():
        out = mdns_probe(str(tmp_path))
    else:
        if not tools.netns.available():
            pytest.skip("no private network namespace available here")
        proc = subprocess.run(
            [sys.executable, "-m", "tools.netns", "--", sys.executable, os.path.abspath(__file__),
             "mdns-probe", str(tmp_path)],
            cwd=REPO, capture_output=True, text=True, timeout=40)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["added"], out
    txt = out["txt"]
    assert set(txt) == TXT_KEYS, txt
    host = out["expected_host"]
    port = out["http_port"]
    assert txt["version"] == "3.1.0" and txt["base_path"] == "openadr3/3.1.0"
    assert txt["local_url"] == "http://%s:%d/openadr3/3.1.0" % (host.rstrip("."), port)
    assert txt["openapi_url"] == "http://%s:%d/openapi.yaml" % (host.rstrip("."), port)
    assert txt["program_names"] == "day-prices,fleet,paging"
    assert txt["requires_auth"] == "False"
    assert out["addresses"] == [VTN_ADDR] and out["port"] == port and out["server"] == host
    assert out["http_status"] == 200
    assert out["updated"] and out["program_names_after"] == "night-saver,fleet,paging"
    assert out["exit"] == 0 and out["removed"], out


if __name__ == "__main__":
    if sys.argv[1:2] == ["mdns-probe"]:
        print(json.dumps(mdns_probe(sys.argv[2])), flush=True)
    else:
        print("usage: test_devvtn.py mdns-probe WORKDIR", file=sys.stderr)
        sys.exit(2)
