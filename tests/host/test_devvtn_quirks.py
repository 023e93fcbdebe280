"""The dev VTN's switches for real VTNs' quirks (tools/devvtn/quirks.py): for each one,
the quirk with the switch on and the normal answer with it off, switched by the
scenario (hot reload) and by --quirk; unknown names are refused.

REST quirks are checked in-process (VtnApp), the transport ones (etag, 304 framing,
string status of injected faults, recording) through the subprocess on loopback, and
srv_instance_target with raw mDNS questions inside the session's private network
namespace (tests/conftest.py).
"""

import email.utils
import http.client
import json
import re
import select
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import needs_netns
from tests.host.test_devvtn import (BASE, FORM, REPO, FakeClock, base_scenario, call, form, make_app,
                                    raw_get, write_json)
from tools.devvtn import quirks
from tools.devvtn.launch import DevVtn
from tools.devvtn.periods import parse_datetime
from tools.devvtn.scenario import ScenarioError, build

SPACE_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
RFC3339_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def with_quirks(**switches):
    doc = base_scenario()
    if switches:
        doc["quirks"] = switches
    return doc


def ven_request(name="v"):
    return json.dumps({"objectType": "VEN_VEN_REQUEST", "venName": name}).encode()


# --------------------------------------------------------------------------
# Names and switching


def test_quirk_names_are_checked():
    for bad, words in (({"nope": True}, "unknown quirk 'nope' (known: srv_instance_target, "),
                       ({"etag": "yes"}, "quirk 'etag' must be true or false"),
                       (["etag"], "'quirks' must be an object")):
        with pytest.raises(ScenarioError) as info:
            build({"quirks": bad}, where="s.json")
        assert str(info.value).startswith("s.json: ") and words in str(info.value), info.value
    assert build({"quirks": {"etag": True, "string_status": False}}).quirks == {
        "etag": True, "string_status": False}
    assert build({}).quirks == {}
    # The scenario's switches over the command line's, both ways.
    assert quirks.active(["etag", "string_status"], {"etag": False, "space_timestamps": True}) == {
        "string_status", "space_timestamps"}
    assert quirks.active([], {}) == frozenset()


def test_unknown_quirk_on_the_command_line_or_in_the_scenario_exits_2(tmp_path):
    path = tmp_path / "s.json"
    write_json(path, base_scenario())
    argv = [sys.executable, "-m", "tools.devvtn", "--scenario", str(path), "--host", "127.0.0.1",
            "--port", "0", "--no-advertise"]
    proc = subprocess.run(argv + ["--quirk", "etags"], cwd=REPO, capture_output=True, text=True, timeout=20)
    assert proc.returncode == 2 and "unknown quirk 'etags' (known: " in proc.stderr, proc.stderr
    write_json(path, with_quirks(etags=True))
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=20)
    assert proc.returncode == 2 and "unknown quirk 'etags'" in proc.stderr, proc.stderr


def test_scenario_reload_switches_quirks_on_and_off(tmp_path):
    app, path = make_app(tmp_path, base_scenario())
    assert call(app, "GET", BASE + "/nope")[1]["status"] == 404
    write_json(path, with_quirks(string_status=True))
    assert call(app, "GET", BASE + "/nope")[1]["status"] == "404"
    write_json(path, with_quirks(string_status=False))
    assert call(app, "GET", BASE + "/nope")[1]["status"] == 404
    # A reload with an unknown name keeps the scenario (and quirks) in effect before it.
    write_json(path, with_quirks(string_status=True))
    assert call(app, "GET", BASE + "/nope")[1]["status"] == "404"
    logged = []
    app.store._log = logged.append
    write_json(path, with_quirks(string_status=False, bogus=True))
    assert call(app, "GET", BASE + "/nope")[1]["status"] == "404"
    assert len(logged) == 1 and "not reloaded" in logged[0] and "unknown quirk 'bogus'" in logged[0], logged


# --------------------------------------------------------------------------
# REST quirks, in-process


def test_hostless_token_url(tmp_path):
    app, path = make_app(tmp_path, base_scenario())
    host = {"Host": "vtn.local:8080"}
    assert call(app, "GET", BASE + "/auth/server", headers=host)[1] == {
        "tokenURL": "http://vtn.local:8080/openadr3/3.1.0/auth/token"}
    write_json(path, with_quirks(hostless_token_url=True))
    assert call(app, "GET", BASE + "/auth/server", headers=host)[1] == {
        "tokenURL": "http:///openadr3/3.1.0/auth/token"}


def test_ignore_program_filter(tmp_path):
    app, path = make_app(tmp_path, base_scenario())
    assert [e["id"] for e in call(app, "GET", BASE + "/events?programID=1")[1]] == ["1"]
    assert call(app, "GET", BASE + "/events?programID=nope")[1] == []
    write_json(path, with_quirks(ignore_program_filter=True))
    every = call(app, "GET", BASE + "/events")[1]
    assert call(app, "GET", BASE + "/events?programID=1")[1] == every
    assert call(app, "GET", BASE + "/events?programID=nope")[1] == every
    assert {e["programID"] for e in every} == {"1", "3"}
    # Paging still applies.
    assert [e["id"] for e in call(app, "GET", BASE + "/events?programID=3&skip=2&limit=2")[1]] == ["p01", "p02"]


def test_space_timestamps(tmp_path):
    clock = FakeClock(parse_datetime("2026-12-01T20:39:42Z"))
    app, path = make_app(tmp_path, base_scenario(), clock)
    _, event, _ = call(app, "GET", BASE + "/events/1")
    assert event["createdDateTime"] == event["modificationDateTime"] == "2026-12-01T20:39:42Z"
    write_json(path, with_quirks(space_timestamps=True))
    _, event, _ = call(app, "GET", BASE + "/events/1")
    assert event["createdDateTime"] == event["modificationDateTime"] == "2026-12-01 20:39:42"
    assert RFC3339_STAMP.match(event["intervalPeriod"]["start"])  # only the object's own stamps
    _, programs, _ = call(app, "GET", BASE + "/programs")
    assert all(SPACE_STAMP.match(p[k]) for p in programs for k in ("createdDateTime", "modificationDateTime"))
    status, ven, _ = call(app, "POST", BASE + "/vens", ven_request())
    assert status == 201 and ven["createdDateTime"] == "2026-12-01 20:39:42"
    assert call(app, "GET", BASE + "/vens/" + ven["id"])[1]["modificationDateTime"] == "2026-12-01 20:39:42"
    # Stored as RFC 3339 all the same: switched off, they read normally again.
    write_json(path, base_scenario())
    assert call(app, "GET", BASE + "/vens/" + ven["id"])[1]["modificationDateTime"] == "2026-12-01T20:39:42Z"


def test_string_status(tmp_path):
    doc = base_scenario()
    doc["auth"] = {"clients": {"a": "b"}, "reject_status": 403}
    app, path = make_app(tmp_path, doc)
    checks = (("GET", BASE + "/nope", b"", None, 404), ("GET", BASE + "/events?limit=99", b"", None, 400),
              ("DELETE", BASE + "/events/1", b"", None, 405),
              ("POST", BASE + "/auth/token", form(grant_type="client_credentials", client_id="a", client_secret="x"),
               FORM, 403))
    for method, target, body, headers, status in checks:
        got, problem, resp = call(app, method, target, body, headers)
        assert got == status and problem["status"] == status, target
    doc["quirks"] = {"string_status": True}
    write_json(path, doc)
    for method, target, body, headers, status in checks:
        got, problem, resp = call(app, method, target, body, headers)
        assert got == status and problem["status"] == str(status), target
        assert resp.content_type == "application/problem+json" and problem["title"]


def test_conflict_empty_list(tmp_path):
    app, path = make_app(tmp_path, base_scenario())
    _, ven, _ = call(app, "POST", BASE + "/vens", ven_request())
    resource = json.dumps({"objectType": "VEN_RESOURCE_REQUEST", "resourceName": "r", "venID": ven["id"]}).encode()
    assert call(app, "POST", BASE + "/resources", resource)[0] == 201
    for target, body in (("/vens", ven_request()), ("/resources", resource)):
        status, problem, resp = call(app, "POST", BASE + target, body)
        assert status == 409 and problem["status"] == 409 and resp.content_type == "application/problem+json"
    write_json(path, with_quirks(conflict_empty_list=True))
    for target, body in (("/vens", ven_request()), ("/resources", resource)):
        status, answer, resp = call(app, "POST", BASE + target, body)
        assert status == 409 and answer == [] and resp.body == b"[]" and resp.content_type == "application/json"
    # Other errors keep their problem body.
    assert call(app, "POST", BASE + "/vens", b"{")[1]["status"] == 400


def test_etag_last_modified_source(tmp_path):
    clock = FakeClock(parse_datetime("2026-03-01T00:00:00Z"))
    app, path = make_app(tmp_path, base_scenario(), clock)
    assert call(app, "GET", BASE + "/programs")[2].last_modified is None
    clock.t += 100
    write_json(path, with_quirks(etag=True))  # loaded at +100; objects keep their stamps
    assert call(app, "GET", BASE + "/programs")[2].last_modified == clock.t - 100
    assert call(app, "GET", BASE + "/events?programID=nope")[2].last_modified == clock.t  # none: load time
    clock.t += 100
    doc = with_quirks(etag=True, space_timestamps=True)
    doc["events"][0]["intervals"][0]["payloads"][0]["values"] = [9.0]
    write_json(path, doc)  # event 1 changed at +200
    assert call(app, "GET", BASE + "/events")[2].last_modified == clock.t
    assert call(app, "GET", BASE + "/events/p00")[2].last_modified == clock.t - 200
    # Only GET answers of objects.
    assert call(app, "GET", BASE + "/auth/server")[2].last_modified is None
    assert call(app, "POST", BASE + "/vens", ven_request())[2].last_modified is None
    assert call(app, "GET", BASE + "/nope")[2].last_modified is None


# --------------------------------------------------------------------------
# Through HTTP: etag and 304 framing, injected faults, recording


@pytest.fixture(scope="module")
def vtn(tmp_path_factory):
    d = tmp_path_factory.mktemp("quirks")
    path = d / "scenario.json"
    write_json(path, base_scenario())
    server = DevVtn(path, "127.0.0.1", log_path=str(d / "devvtn.log"), record=str(d / "record.jsonl"))
    server.start()
    server.scenario_path = path
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def use(vtn):
    """Swap in a scenario document; the plain one is put back afterwards."""
    def swap(doc):
        write_json(vtn.scenario_path, doc)
    try:
        yield swap
    finally:
        write_json(vtn.scenario_path, base_scenario())


def request(port, path, headers=None, conn=None, method="GET"):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        if own:
            conn.close()


def raw_exchange(port, requests):
    """Send several requests on one connection at once; every byte that comes back
    until the server closes (the last request says Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        for n, (path, headers) in enumerate(requests):
            lines = ["GET %s HTTP/1.1" % path, "Host: x"] + ["%s: %s" % kv for kv in headers.items()]
            if n == len(requests) - 1:
                lines.append("Connection: close")
            s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def test_etag_off_sends_no_validators_and_ignores_conditions(vtn, use):
    use(base_scenario())
    status, headers, body = request(vtn.port, BASE + "/events")
    assert status == 200 and "ETag" not in headers and "Last-Modified" not in headers
    status, headers, again = request(vtn.port, BASE + "/events", {
        "If-None-Match": "*", "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"})
    assert status == 200 and again == body


def test_etag_on_validators_and_304(vtn, use):
    use(with_quirks(etag=True))
    status, headers, body = request(vtn.port, BASE + "/programs")
    etag, last_modified = headers["ETag"], headers["Last-Modified"]
    assert status == 200 and re.match(r'^"[0-9a-f]{32}"$', etag), headers
    newest = max(parse_datetime(p["modificationDateTime"]) for p in json.loads(body))
    assert last_modified == email.utils.formatdate(newest, usegmt=True)
    older = email.utils.formatdate(newest - 1, usegmt=True)
    cases = (({"If-None-Match": etag}, 304), ({"If-None-Match": "W/" + etag}, 304),
             ({"If-None-Match": '"other", ' + etag}, 304), ({"If-None-Match": "*"}, 304),
             ({"If-None-Match": '"other"'}, 200),
             ({"If-Modified-Since": last_modified}, 304),
             ({"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}, 304),
             ({"If-Modified-Since": older}, 200), ({"If-Modified-Since": "yesterday"}, 200),
             # If-None-Match decides alone when both are given (RFC 7232 section 6).
             ({"If-None-Match": '"other"', "If-Modified-Since": last_modified}, 200),
             ({"If-None-Match": etag, "If-Modified-Since": older}, 304))
    for conditions, want in cases:
        status, headers, answer = request(vtn.port, BASE + "/programs", conditions)
        assert status == want, conditions
        assert headers["ETag"] == etag and headers["Last-Modified"] == last_modified, conditions
        if want == 304:
            assert answer == b"" and "Content-Length" not in headers and "Content-Type" not in headers
        else:
            assert answer == body
    # A different answer has another ETag: a stale copy gets the body.
    status, headers, _ = request(vtn.port, BASE + "/events/1", {"If-None-Match": etag})
    assert status == 200 and headers["ETag"] != etag
    # No validators where there are no objects, and errors stay errors.
    status, headers, _ = request(vtn.port, BASE + "/auth/server", {"If-None-Match": "*"})
    assert status == 200 and "ETag" not in headers
    status, headers, _ = request(vtn.port, BASE + "/nope", {"If-None-Match": "*"})
    assert status == 404 and "ETag" not in headers
    # The scenario changes the body: the old ETag no longer matches.
    doc = with_quirks(etag=True)
    doc["programs"][0]["programName"] = "renamed"
    use(doc)
    status, headers, answer = request(vtn.port, BASE + "/programs", {"If-None-Match": etag})
    assert status == 200 and headers["ETag"] != etag and b"renamed" in answer


def test_304_framing_keeps_the_connection_usable(vtn, use):
    use(with_quirks(etag=True))
    _, headers, body = request(vtn.port, BASE + "/events/1")
    etag = headers["ETag"]
    # A 304 between two 200s on one connection: the second 200 parses only if the
    # 304 carried no body and no framing that promises one.
    conditional = {"If-None-Match": etag, "Accept-Encoding": "gzip"}
    data = raw_exchange(vtn.port, [(BASE + "/events/1", {}), (BASE + "/events/1", conditional),
                                   (BASE + "/events/1", {})])
    first, _, rest = data.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 ") and rest.startswith(body)
    rest = rest[len(body):]
    second, _, rest = rest.partition(b"\r\n\r\n")
    assert second.startswith(b"HTTP/1.1 304 "), second
    for name in (b"content-length", b"transfer-encoding", b"content-encoding", b"content-type"):
        assert name not in second.lower(), second
    assert b"etag: " + etag.encode() in second.lower()
    third, _, rest = rest.partition(b"\r\n\r\n")
    assert third.startswith(b"HTTP/1.1 200 ") and rest == body, (third, rest[:100])


@pytest.mark.parametrize("rule", [{"chunked": True, "chunk_size": 16}, {"invalid_json": True},
                                  {"body_delay": 3}])
def test_304_ignores_body_faults(vtn, use, rule):
    doc = with_quirks(etag=True)
    use(doc)
    _, headers, body = request(vtn.port, BASE + "/events/1")
    doc["faults"] = [dict(rule, path="/events")]
    use(doc)
    started = time.monotonic()
    head, rest = raw_get_conditional(vtn.port, BASE + "/events/1", headers["ETag"])
    assert head.startswith("HTTP/1.1 304 ") and rest == b"", (head, rest)
    assert "Transfer-Encoding" not in head and "Content-Length" not in head
    assert time.monotonic() - started < 3  # no body_delay either
    # The rule still shapes full answers.
    if "chunked" in rule:
        assert "Transfer-Encoding: chunked" in raw_get(vtn.port, BASE + "/events/1")[0]


def raw_get_conditional(port, path, etag):
    data = raw_exchange(port, [(path, {"If-None-Match": etag})])
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), rest


def test_string_status_of_injected_faults(vtn, use):
    use(dict(base_scenario(), faults=[{"path": "/events", "status": 503}]))
    status, _, body = request(vtn.port, BASE + "/events")
    assert status == 503 and json.loads(body)["status"] == 503
    use(dict(with_quirks(string_status=True), faults=[{"path": "/events", "status": 503}]))
    status, headers, body = request(vtn.port, BASE + "/events")
    assert status == 503 and json.loads(body)["status"] == "503"
    assert headers["Content-Type"] == "application/problem+json"
    # Transport errors too (a chunked request body is refused).
    conn = http.client.HTTPConnection("127.0.0.1", vtn.port, timeout=5)
    try:
        conn.request("POST", BASE + "/vens", body=iter([b"{}"]), encode_chunked=True,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 501 and json.loads(resp.read())["status"] == "501"
    finally:
        conn.close()


def test_record_keeps_conditional_headers(vtn, use):
    use(with_quirks(etag=True))
    mark = len(vtn.records())
    _, headers, _ = request(vtn.port, BASE + "/programs")
    since = headers["Last-Modified"]
    request(vtn.port, BASE + "/programs", {"If-None-Match": headers["ETag"]})
    request(vtn.port, BASE + "/programs", {"If-Modified-Since": since})
    use(base_scenario())
    request(vtn.port, BASE + "/programs", {"If-None-Match": headers["ETag"]})
    recs = vtn.records()[mark:]
    assert [(r["status"], r["if_none_match"], r["if_modified_since"]) for r in recs] == [
        (200, None, None), (304, headers["ETag"], None), (304, None, since), (200, headers["ETag"], None)]
    assert [r["etag"] for r in recs] == [headers["ETag"]] * 3 + [None]
    assert [r["last_modified"] for r in recs] == [since] * 3 + [None]
    assert recs[1]["response"] == "" and recs[1]["response_type"] is None
    assert json.loads(recs[0]["response"]) == json.loads(recs[3]["response"])


def test_cli_quirks_and_scenario_override(tmp_path):
    path = tmp_path / "s.json"
    write_json(path, base_scenario())
    server = DevVtn(path, "127.0.0.1", log_path=str(tmp_path / "log"),
                    quirks=["etag", "string_status", "ignore_program_filter"]).start()
    try:
        status, headers, _ = request(server.port, BASE + "/programs", {"If-None-Match": "*"})
        assert status == 304 and headers["ETag"]
        assert json.loads(request(server.port, BASE + "/nope")[2])["status"] == "404"
        assert len(json.loads(request(server.port, BASE + "/events?programID=1")[2])) == 50
        # The scenario switches one of them off, and another on; the rest stay as the CLI says.
        write_json(path, with_quirks(etag=False, hostless_token_url=True))
        status, headers, _ = request(server.port, BASE + "/programs", {"If-None-Match": "*"})
        assert status == 200 and "ETag" not in headers
        assert json.loads(request(server.port, BASE + "/nope")[2])["status"] == "404"
        assert json.loads(request(server.port, BASE + "/auth/server")[2])["tokenURL"] == \
            "http:///openadr3/3.1.0/auth/token"
        # Without the key the command line's value is back.
        write_json(path, base_scenario())
        assert request(server.port, BASE + "/programs", {"If-None-Match": "*"})[0] == 304
    finally:
        assert server.stop() == 0


# --------------------------------------------------------------------------
# srv_instance_target, over raw mDNS in the private network namespace

VTN_ADDR = "127.0.0.81"
ASKER_ADDR = "127.0.0.82"
INSTANCE = "OpenADR3 VTN"


def mdns_ask(questions, timeout=3.0):
    """One legacy-unicast mDNS query from ASKER_ADDR (RFC 6762 section 6.7: the
    responder answers this port directly); the records of the first response."""
    from zeroconf import DNSIncoming, DNSOutgoing, DNSQuestion
    from zeroconf.const import _CLASS_IN, _FLAGS_QR_QUERY
    out = DNSOutgoing(_FLAGS_QR_QUERY)
    for name, qtype in questions:
        out.add_question(DNSQuestion(name, qtype, _CLASS_IN))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ASKER_ADDR, 0))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ASKER_ADDR))
        for packet in out.packets():
            s.sendto(packet, ("224.0.0.251", 5353))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([s], [], [], left)[0]:
                pytest.fail("no mDNS answer to %r within %.1f s" % (questions, timeout))
            data, addr = s.recvfrom(9000)
            msg = DNSIncoming(data)
            if msg.valid and not msg.is_query():
                return msg.answers()


def advertised(fullname):
    """(SRV target, TXT as a dict, A records of any name) from one query for SRV, TXT and
    the A record of both possible targets."""
    from zeroconf import DNSAddress, DNSService, DNSText
    from zeroconf.const import _TYPE_A, _TYPE_SRV, _TYPE_TXT
    records = mdns_ask([(fullname, _TYPE_SRV), (fullname, _TYPE_TXT), (fullname, _TYPE_A),
                        ("openadr3-vtn.local.", _TYPE_A)])
    srv = [r for r in records if isinstance(r, DNSService) and r.name == fullname]
    txt = [r for r in records if isinstance(r, DNSText) and r.name == fullname]
    assert len(srv) == 1 and len(txt) == 1, records
    items, raw = {}, txt[0].text
    while raw:
        item, raw = raw[1:1 + raw[0]].decode(), raw[1 + raw[0]:]
        key, _, value = item.partition("=")
        items[key] = value
    addresses = {(r.name, socket.inet_ntoa(r.address)) for r in records if isinstance(r, DNSAddress)}
    return srv[0].server, items, addresses


def wait_for_log(path, text, count, timeout=10.0):
    """Bounded wait until text appears count times in the dev VTN's log."""
    deadline = time.monotonic() + timeout
    while True:
        with open(path) as f:
            log = f.read()
        if log.count(text) >= count:
            return log
        if time.monotonic() >= deadline:
            pytest.fail("%r not logged %d times within %.1f s:\n%s" % (text, count, timeout, log[-2000:]))
        time.sleep(0.05)


@needs_netns
def test_srv_instance_target_on_the_wire(tmp_path):
    pytest.importorskip("zeroconf")
    path = tmp_path / "s.json"
    log = str(tmp_path / "devvtn.log")
    write_json(path, base_scenario())
    fullname = INSTANCE + "._openadr3._tcp.local."
    with DevVtn(path, VTN_ADDR, advertise=True, name=INSTANCE, log_path=log,
                quirks=["srv_instance_target"]) as server:
        origin = "http://%s:%d" % (VTN_ADDR, server.port)
        target, txt, addresses = advertised(fullname)
        assert target == fullname and addresses == set(), (target, addresses)
        assert txt["local_url"] == origin + BASE and txt["openapi_url"] == origin + "/openapi.yaml", txt
        assert txt["base_path"] == BASE.strip("/") and txt["version"] == "3.1.0"
        assert "advertised %s -> %s:" % (fullname, fullname) in wait_for_log(log, "advertised ", 1)
        # The scenario switches it off: a host name with its address, URLs by name.
        write_json(path, with_quirks(srv_instance_target=False))
        wait_for_log(log, "advertisement updated", 1)
        target, txt, addresses = advertised(fullname)
        assert target == "openadr3-vtn.local." and addresses == {("openadr3-vtn.local.", VTN_ADDR)}
        assert txt["local_url"] == "http://openadr3-vtn.local:%d%s" % (server.port, BASE)
        # ... and back on (the command line's value once the scenario is silent).
        write_json(path, base_scenario())
        wait_for_log(log, "advertisement updated", 2)
        target, txt, addresses = advertised(fullname)
        assert target == fullname and addresses == set() and txt["local_url"] == origin + BASE
        # The REST side is the same VTN, reached by the IP local_url names.
        conn = http.client.HTTPConnection(VTN_ADDR, server.port, timeout=5)
        try:
            conn.request("GET", BASE + "/programs")
            assert conn.getresponse().status == 200
        finally:
            conn.close()
    assert server.proc.returncode == 0


def test_txt_properties_by_ip():
    from tools.devvtn.advertise import txt_properties
    props = txt_properties("dev-vtn", 8080, "openadr3/3.1.0", ["a"], False, "https", url_host="192.0.2.7")
    assert props["local_url"] == "https://192.0.2.7:8080/openadr3/3.1.0"
    assert props["openapi_url"] == "https://192.0.2.7:8080/openapi.yaml"


def test_mdns_advertiser_variant():
    pytest.importorskip("zeroconf")
    from tools.mdns_advertiser import service_info
    info = service_info("OpenADR3 VTN", 8080, "srv_instance_target", "vtn", "192.0.2.7")
    assert info.server == "OpenADR3 VTN._openadr3._tcp.local." and info.addresses == []
    assert info.properties[b"local_url"] == b"http://192.0.2.7:8080/openadr3/3.1.0"
    assert service_info("V", 1, "ip_only", "vtn", "192.0.2.7").server == "vtn.local."
