"""files_to_load/ven/openadr.py (VtnClient, select_programs) against raw servers
on loopback and against the development VTN (tools/devvtn) on 127.0.0.31.

The raw servers (from test_http_client) pin down exactly what goes over the
wire and what a misbehaving VTN sends back; the dev VTN checks the same calls
against a real OpenADR 3.1.0 REST implementation.
"""
import json
import socket

import pytest

from tests.host.client_support import events
from tests.host.test_http_client import HOST, RawServer, header, run
from tools.devvtn import make_scenario
from tools.devvtn.launch import DevVtn
from ven.openadr import VtnClient, VtnError, select_programs

BASE_PATH = "/openadr3/3.1.0"
VTN_CFG = {"http_timeout_s": 2, "max_body_bytes": 65536}
DEVVTN_ADDR = "127.0.0.31"


def answer(status, body, content_type="application/json", reason=None):
    if not isinstance(body, bytes):
        body = json.dumps(body).encode("utf-8")
    reason = reason or {200: "OK", 404: "Not Found", 500: "Internal Server Error",
                        503: "Service Unavailable"}[status]
    return (b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
            % (status, reason.encode(), content_type.encode(), len(body))) + body


def call(reply, method, *args, base_path=BASE_PATH, cfg=None):
    """VtnClient(...).method(*args) against a RawServer -> (request head, result or VtnError).
    method "events" is client_support.events (the events as whole dicts).

    The URL names the VTN as vtn.local (as discovery would) and connects to
    the loopback address, so the Host header is checked on the way.
    """
    async def go():
        async with RawServer(reply) as srv:
            vtn = VtnClient("http://vtn.local:%d%s" % (srv.port, base_path), cfg or VTN_CFG,
                            connect_host=HOST)
            try:
                if method == "events":
                    result = await events(vtn, *args)
                else:
                    result = await getattr(vtn, method)(*args)
            except VtnError as e:
                result = e
            (head, _), = srv.requests
            assert header(head, "host") == "vtn.local:%d" % srv.port
            return head.decode("latin-1").split("\r\n")[0], result
    return run(go())


def expect_error(result, *fragments):
    assert isinstance(result, VtnError), "expected VtnError, got %r" % (result,)
    for f in fragments:
        assert f in str(result), (f, str(result))


# --------------------------------------------------------------------------
# Raw server: the wire and the failure modes

PROGRAMS = [{"id": "1", "programName": "day-prices"}, {"id": "2", "programName": "fleet"}]


PAGE = "skip=0&limit=50"


def test_programs_request_and_result():
    line, result = call(answer(200, PROGRAMS), "programs")
    assert line == "GET %s/programs?%s HTTP/1.1" % (BASE_PATH, PAGE)
    assert result == PROGRAMS


def test_programs_keep_only_what_the_ven_uses():
    # Lists are reduced element by element and projected: a program's targets,
    # intervals or attributes are never kept.
    big = [dict(PROGRAMS[0], targets=["a"], intervalPeriod={"start": "2026-01-01T00:00:00Z"},
                payloadDescriptors=[{"payloadType": "PRICE", "units": "KWH"}], attributes=[{"x": 1}])]
    _, result = call(answer(200, big), "programs")
    assert result == [{"id": "1", "programName": "day-prices",
                       "payloadDescriptors": [{"payloadType": "PRICE", "units": "KWH"}]}]


def test_base_url_with_trailing_slash_gives_one_slash():
    line, result = call(answer(200, []), "programs", base_path=BASE_PATH + "/")
    assert line == "GET %s/programs?%s HTTP/1.1" % (BASE_PATH, PAGE)
    assert result == []


def test_events_query_is_percent_encoded():
    line, result = call(answer(200, [{"id": "e1", "programID": "a b&c/\u00fc=?"}]), "events", "a b&c/\u00fc=?")
    # A 3.1 server (base path) also gets active=true; one short page ends the paging.
    assert line == "GET %s/events?programID=a%%20b%%26c%%2F%%C3%%BC%%3D%%3F&active=true&%s HTTP/1.1" % (
        BASE_PATH, PAGE)
    assert result == [{"id": "e1", "programID": "a b&c/\u00fc=?"}]


def test_events_plain_id_unchanged():
    line, _ = call(answer(200, []), "events", "Prog-1_x.y~z")
    assert line == "GET %s/events?programID=Prog-1_x.y~z&active=true&%s HTTP/1.1" % (BASE_PATH, PAGE)


def test_non_object_items_are_dropped():
    body = [{"id": "1"}, 5, "two", None, [{"id": "nested"}], True, {"id": "2"}]
    _, result = call(answer(200, body), "programs")
    assert result == [{"id": "1"}, {"id": "2"}]


def test_duplicate_programs_count_once():
    body = [{"id": "1", "programName": "a"}, {"id": "2"}, {"id": "1", "programName": "b"}]
    _, result = call(answer(200, body), "programs")
    assert result == [{"id": "1", "programName": "a"}, {"id": "2"}]


def test_problem_json_error_names_status_title_and_detail():
    problem = {"type": "about:blank", "title": "Internal Server Error", "status": "500",
               "detail": "database unreachable"}
    _, err = call(answer(500, problem, "application/problem+json"), "programs")
    expect_error(err, "GET http://vtn.local:", "/programs", "500", "Internal Server Error",
                 "database unreachable")
    assert err.status == 500 and not err.quiet


def test_problem_with_title_only():
    _, err = call(answer(503, {"title": "Try later"}, "application/problem+json"), "events", "1")
    expect_error(err, "503", "Try later")


def test_plain_text_error_body_is_quoted():
    _, err = call(answer(404, b"no such thing here", "text/plain"), "programs")
    expect_error(err, "404", "Not Found", "no such thing here")


def test_error_body_that_is_json_but_not_an_object():
    _, err = call(answer(500, [1, 2]), "programs")
    expect_error(err, "HTTP 500")


def test_undecodable_error_body_does_not_raise_something_else():
    _, err = call(answer(500, b"\xff\xfe broken \x80", "text/plain"), "programs")
    expect_error(err, "500", "broken")


@pytest.mark.parametrize("body,fragment", [
    (b"[{\"id\": \"1\"", "list body: ended inside a value"),
    (b"", "list body: ended before the array"),
    (b"<html>oops</html>", "expected a JSON array, got '<'"),
    (b"\xff\xfe", "expected a JSON array"),
    (b"[{\"id\": \"1\",}]", "invalid JSON in an element"),
    (b"[{\"id\": \"1\"} {\"id\": \"2\"}]", "expected ',' or ']' between elements"),
    (b"[] []", "text after the array")], ids=["cut", "empty", "html", "not-utf8", "bad-element", "no-comma", "two"])
def test_invalid_json(body, fragment):
    # The streamed list's own words, behind the request named once.
    _, err = call(answer(200, body), "programs")
    expect_error(err, fragment, "/programs")
    assert str(err).startswith("GET http://vtn.local:") and str(err).count("http://") == 1


@pytest.mark.parametrize("body,first", [({"programs": PROGRAMS}, "{"), ("programs", '"'), (42, "4"), (None, "n")],
                         ids=["dict", "str", "int", "null"])
def test_json_that_is_not_an_array(body, first):
    _, err = call(answer(200, body), "programs")
    expect_error(err, "expected a JSON array, got %r" % first)


def test_transport_error_becomes_vtn_error():
    _, err = call(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n[]", "programs")
    expect_error(err, "GET http://vtn.local:", "/programs", "before the end")


def test_body_over_the_configured_limit():
    big = [{"id": str(i), "programName": "p" * 50} for i in range(100)]
    _, err = call(answer(200, big), "programs", cfg={"http_timeout_s": 2, "max_body_bytes": 1024})
    expect_error(err, "1024")


def test_connection_refused_becomes_vtn_error():
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    vtn = VtnClient("http://%s:%d%s" % (HOST, port, BASE_PATH), VTN_CFG)
    with pytest.raises(VtnError, match="GET http://127.0.0.1:%d%s/programs" % (port, BASE_PATH)) as info:
        run(vtn.programs())
    assert str(info.value).count("GET ") == 1 and info.value.status is None  # no answer at all


@pytest.mark.parametrize("reply,method,cause", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n[]", "programs", "before the end"),
    (b"NOT HTTP\r\n\r\n", "programs", "bad status line"),
    (b"", "programs", "before the status line"),
    (answer(500, {"title": "Oops", "status": "500"}, "application/problem+json"), "programs", "HTTP 500"),
    (answer(200, b"[{\"id\": 1,}]"), "programs", "invalid JSON"),
    (answer(200, b"[1]"), "events_into", "expected an event object"),
    (answer(200, b"[{\"id\": \"1\", \"intervals\": [}]"), "events_into", "list body"),
    (b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\n[]", "programs", "Content-Encoding"),
], ids=["truncated", "status-line", "closed", "500", "bad-element", "not-an-event", "cut-event", "encoding"])
def test_a_failed_request_is_named_once(reply, method, cause):
    # "GET <url>: <cause>": never "GET <url>: GET <url>: ...", whichever layer failed.
    from ven import eventstream, schedule
    from ven.openadr import Dedup
    if method == "events_into":
        _, err = call(reply, method, "1", eventstream.EventReducer(Dedup(schedule.Builder(("PRICE",), 0))))
    else:
        _, err = call(reply, method)
    expect_error(err, cause)
    text = str(err)
    assert text.startswith("GET http://vtn.local:") and text.count("GET ") == 1 and text.count("http://") == 1, text


def test_a_timeout_is_named_once():
    async def silent(writer, srv):
        await srv.hold()
    _, err = call(silent, "programs", cfg={"http_timeout_s": 0.3, "max_body_bytes": 65536})
    expect_error(err, "timed out")
    assert str(err).count("GET ") == 1 and str(err).count("http://") == 1


# --------------------------------------------------------------------------
# select_programs


def test_select_programs():
    progs = [{"id": "1", "programName": "a"}, {"id": "2", "programName": "b"}, {"id": "3"},
             {"id": "4", "programName": "a"}]
    assert select_programs(progs, []) == progs
    assert select_programs(progs, None) == progs
    assert select_programs(progs, ["a"]) == [progs[0], progs[3]]
    assert select_programs(progs, ["b", "zzz"]) == [progs[1]]
    assert select_programs(progs, ["zzz"]) == []
    assert select_programs([], ["a"]) == []


# --------------------------------------------------------------------------
# Dev VTN


@pytest.fixture(scope="module")
def devvtn(tmp_path_factory):
    d = tmp_path_factory.mktemp("devvtn")
    doc = make_scenario.make("2099-03-01T00:00:00Z", 3600, 4, "day-prices")
    doc["programs"].append({"id": "fleet-2", "programName": "fleet"})
    doc["events"].append({"id": "f1", "programID": "fleet-2", "priority": 1,
                          "intervalPeriod": {"start": "2099-03-01T00:00:00Z", "duration": "PT1H"},
                          "intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [0.5]}]}]})
    doc["events"].append({"id": "f2", "programID": "fleet-2",
                          "intervalPeriod": {"start": "2099-03-01T01:00:00Z", "duration": "PT1H"},
                          "intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [0.6]}]}]})
    # Programs come back chunked in 7-byte pieces: a real server's chunked framing.
    doc["faults"] = [{"path": "/programs", "chunked": True, "chunk_size": 7}]
    path = d / "scenario.json"
    make_scenario.write(str(path), doc)
    with DevVtn(path, DEVVTN_ADDR, log_path=str(d / "devvtn.log")) as vtn:
        yield vtn


def test_devvtn_programs_and_events(devvtn):
    async def go():
        vtn = VtnClient(devvtn.url, VTN_CFG)
        programs = await vtn.programs()
        fleet = select_programs(programs, ["fleet"])
        return programs, fleet, await events(vtn, "1"), await events(vtn, fleet[0]["id"])
    programs, fleet, day_events, fleet_events = run(go())
    assert [p["programName"] for p in programs] == ["day-prices", "fleet"]
    assert [p["id"] for p in fleet] == ["fleet-2"]
    assert [e["id"] for e in day_events] == ["1"]
    assert len(day_events[0]["intervals"]) == 4
    assert [e["id"] for e in fleet_events] == ["f1", "f2"]
    assert all(e["programID"] == "fleet-2" for e in fleet_events)


def test_devvtn_connect_host(devvtn):
    url = devvtn.url.replace(DEVVTN_ADDR, "vtn.local")
    vtn = VtnClient(url, VTN_CFG, connect_host=DEVVTN_ADDR)
    assert [e["id"] for e in run(events(vtn, "fleet-2"))] == ["f1", "f2"]


@pytest.mark.parametrize("program_id", ["no-such-program", "a b&programID=1", "\u00fc"])
def test_devvtn_unknown_or_odd_program_id_has_no_events(devvtn, program_id):
    # The whole id, encoded, reaches the server as one value: no events leak in.
    assert run(events(VtnClient(devvtn.url, VTN_CFG), program_id)) == []


def test_devvtn_not_found_problem(devvtn):
    vtn = VtnClient(devvtn.url + "/nowhere", VTN_CFG)
    with pytest.raises(VtnError) as info:
        run(vtn.programs())
    text = str(info.value)
    assert "HTTP 404" in text and "Not Found" in text and "no such resource" in text
