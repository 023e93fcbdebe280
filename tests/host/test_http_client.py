"""files_to_load/ven/http_client.py against raw in-process servers on loopback.

Each server answers with exact bytes (or a small coroutine that writes them at
its own pace), so every framing, limit and failure of HTTP/1.1 that the
client handles is reproduced byte for byte. Every test runs its own event
loop under a hard limit; the servers hold connections open only until the
test ends (`RawServer.release`), never longer than HOLD_S.
"""
import asyncio
import socket
import time

import pytest

from tests.conftest import NETNS_ERROR
from ven import http_client
from ven.http_client import HTTPError

HOST = "127.0.0.1"
T = 0.3            # per-step client timeout in the timing tests
HOLD_S = 5.0       # longest a server keeps a connection open
TEST_LIMIT_S = 10  # hard limit on one test's event loop


class RawServer:
    """Accepts connections, records each request, answers with `reply`.

    reply is bytes (written, then the connection is closed) or a coroutine
    function reply(writer, server) that writes what it likes; the connection
    is closed when it returns.
    """

    def __init__(self, reply, host=HOST, port=0):
        self.reply = reply
        self.host = host
        self.port = port
        self.requests = []  # (head bytes, body bytes) in arrival order
        self.release = None
        self.server = None
        self._tasks = []

    async def __aenter__(self):
        self.release = asyncio.Event()
        self.server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        self.release.set()
        self.server.close()
        await asyncio.wait_for(self.server.wait_closed(), 2)
        if self._tasks:
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 2)

    def url(self, path="/", host=None):
        return "http://%s:%d%s" % (host or self.host, self.port, path)

    async def hold(self):
        """Keep the connection open until the test is over (bounded)."""
        try:
            await asyncio.wait_for(self.release.wait(), HOLD_S)
        except asyncio.TimeoutError:
            pass

    async def _serve(self, reader, writer):
        self._tasks.append(asyncio.current_task())
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
            length = header(head, "content-length")
            body = await asyncio.wait_for(reader.readexactly(int(length)), 2) if length else b""
            self.requests.append((head, body))
            if callable(self.reply):
                await self.reply(writer, self)
            else:
                writer.write(self.reply)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            # The client gave up first: that is what several tests provoke;
            # they assert on the client's side.
            pass
        finally:
            writer.close()


def header(head, name):
    """Value of header `name` in a raw request head, or None."""
    for line in head.decode("latin-1").split("\r\n")[1:]:
        k, sep, v = line.partition(":")
        if sep and k.strip().lower() == name:
            return v.strip()
    return None


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TEST_LIMIT_S))


def fetch(reply, path="/", method="GET", url_host=None, **kw):
    """One request to a fresh RawServer -> (server, Response or HTTPError, seconds)."""
    async def go():
        async with RawServer(reply) as srv:
            t0 = time.monotonic()
            try:
                result = await http_client.request(method, srv.url(path, url_host), **kw)
            except HTTPError as e:
                result = e
            return srv, result, time.monotonic() - t0
    return run(go())


def then_hold(data):
    """Reply `data`, then keep the connection open. A client that waited for more
    would time out (HTTPError "timed out"), so a Response proves it stopped by itself."""
    async def reply(writer, srv):
        writer.write(data)
        await writer.drain()
        await srv.hold()
    return reply


def ok_head(*headers):
    return ("HTTP/1.1 200 OK\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode()


def chunked(*chunks, ext=b"", trailers=b""):
    out = b""
    for c in chunks:
        out += b"%x%s\r\n%s\r\n" % (len(c), ext, c)
    return out + b"0\r\n" + trailers + b"\r\n"


def expect_error(result, *fragments):
    assert isinstance(result, HTTPError), "expected HTTPError, got %r" % (result,)
    for f in fragments:
        assert f in str(result), (f, str(result))


# --------------------------------------------------------------------------
# Bodies


def test_content_length_body_stops_at_length():
    body = b'[{"id": "1"}]'
    srv, resp, _ = fetch(then_hold(ok_head("Content-Type: application/json",
                                           "Content-Length: %d" % len(body)) + body + b"extra"),
                         timeout_s=T)
    assert (resp.status, resp.reason, resp.body) == (200, "OK", body)
    assert resp.headers["content-type"] == "application/json"


def test_chunked_body_with_extensions_and_trailers():
    parts = [b'[{"id"', b': "1"}', b", ", b'{"id": "2"}]']
    wire = chunked(*parts, ext=b";name=value", trailers=b"X-Checksum: abc\r\nX-More: 1\r\n")
    srv, resp, _ = fetch(then_hold(ok_head("Transfer-Encoding: Chunked") + wire), timeout_s=T)
    assert resp.status == 200
    assert resp.body == b"".join(parts)


def test_chunked_wins_over_content_length():
    wire = chunked(b"abc", b"defgh")
    srv, resp, _ = fetch(ok_head("Content-Length: 3", "Transfer-Encoding: chunked") + wire)
    assert resp.body == b"abcdefgh"


def test_chunked_sizes_are_hex():
    data = bytes(range(256)) * 2  # 0x200 bytes in one chunk
    srv, resp, _ = fetch(ok_head("Transfer-Encoding: chunked") + b"200\r\n" + data + b"\r\n0\r\n\r\n")
    assert resp.body == data


def test_read_to_close_body():
    async def reply(writer, srv):
        for piece in (ok_head("Content-Type: application/json"), b"[1,", b" 2,", b" 3]"):
            writer.write(piece)
            await writer.drain()
    srv, resp, _ = fetch(reply)
    assert resp.body == b"[1, 2, 3]"


@pytest.mark.parametrize("status", [204, 304, 101])
def test_no_body_statuses_do_not_wait_for_a_body(status):
    wire = b"HTTP/1.1 %d Whatever\r\nContent-Length: 10\r\n\r\n" % status
    srv, resp, _ = fetch(then_hold(wire), timeout_s=T)
    assert (resp.status, resp.body) == (status, b"")


def test_head_request_has_no_body():
    srv, resp, _ = fetch(then_hold(ok_head("Content-Length: 100")), method="HEAD", timeout_s=T)
    assert (resp.status, resp.body) == (200, b"")


def test_error_status_is_returned_not_raised():
    body = b'{"title": "Not Found"}'
    srv, resp, _ = fetch(b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    assert (resp.status, resp.reason, resp.body) == (404, "Not Found", body)


def test_headers_lowercased_and_stripped_status_without_reason():
    srv, resp, _ = fetch(b"HTTP/1.1 200\r\nX-Mixed-Case:   spaced value  \r\nno colon here\r\n"
                         b"Content-Length: 0\r\n\r\n")
    assert resp.status == 200 and resp.reason == ""
    assert resp.headers["x-mixed-case"] == "spaced value"
    assert "no colon here" not in resp.headers


# --------------------------------------------------------------------------
# Size limits: exactly max_body passes in every framing, one byte more fails.

LIMIT = 1000


def _cl(n):
    return ok_head("Content-Length: %d" % n) + b"x" * n


def _chunks(n):
    # Small chunks, so the limit is crossed in the middle of the stream.
    data = b"x" * n
    return ok_head("Transfer-Encoding: chunked") + chunked(*[data[i:i + 300] for i in range(0, n, 300)])


def _close(n):
    return ok_head() + b"x" * n


@pytest.mark.parametrize("framing", [_cl, _chunks, _close], ids=["content-length", "chunked", "to-close"])
def test_body_of_exactly_max_body_is_accepted(framing):
    srv, resp, _ = fetch(framing(LIMIT), max_body=LIMIT)
    assert resp.body == b"x" * LIMIT


@pytest.mark.parametrize("framing", [_cl, _chunks, _close], ids=["content-length", "chunked", "to-close"])
def test_body_larger_than_max_body_is_an_error(framing):
    srv, resp, _ = fetch(framing(LIMIT + 1), max_body=LIMIT)
    expect_error(resp, "%d" % LIMIT)


def test_announced_huge_chunk_fails_before_reading_it():
    srv, resp, _ = fetch(then_hold(ok_head("Transfer-Encoding: chunked") + b"ffffffffffff\r\nxx"),
                         max_body=LIMIT, timeout_s=T)
    expect_error(resp, "larger than")


def test_announced_huge_content_length_fails_before_reading_it():
    srv, resp, _ = fetch(then_hold(ok_head("Content-Length: 99999999999")), max_body=LIMIT, timeout_s=T)
    expect_error(resp, "exceeds")


@pytest.mark.parametrize("value,fragment", [(b"abc", "Content-Length"), (b"", "Content-Length"),
                                            (b"-1", "-1")])
def test_bad_content_length(value, fragment):
    srv, resp, _ = fetch(b"HTTP/1.1 200 OK\r\nContent-Length: " + value + b"\r\n\r\nxyz")
    expect_error(resp, fragment)


# --------------------------------------------------------------------------
# Truncation and malformed responses


def test_truncated_content_length_body():
    srv, resp, _ = fetch(ok_head("Content-Length: 100") + b"y" * 50)
    expect_error(resp, "50 bytes before the end")


def test_truncated_chunk():
    srv, resp, _ = fetch(ok_head("Transfer-Encoding: chunked") + b"a\r\nhello")
    expect_error(resp, "before the end")


def test_chunked_closed_before_last_chunk():
    srv, resp, _ = fetch(ok_head("Transfer-Encoding: chunked") + b"5\r\nhello\r\n")
    expect_error(resp, "chunk size")


def test_bad_chunk_size():
    srv, resp, _ = fetch(ok_head("Transfer-Encoding: chunked") + b"zz\r\nhello\r\n0\r\n\r\n")
    expect_error(resp, "bad chunk size")


@pytest.mark.parametrize("size", [b"-5", b"+5", b"0x5", b" "])
def test_chunk_size_that_is_not_plain_hex(size):
    # Was a bug: int("-5", 16) is -5, and the body silently came back empty.
    srv, resp, _ = fetch(ok_head("Transfer-Encoding: chunked") + size + b"\r\nhello\r\n0\r\n\r\n")
    expect_error(resp, "chunk size")


@pytest.mark.parametrize("wire", [
    b"",                                   # closed at once
    b"hello\r\n\r\n",
    b"HTTX/1.1 200 OK\r\n\r\n",
    b"HTTP/1.1 abc OK\r\n\r\n",
    b"HTTP/1.1\r\n\r\n",
    b"\r\n",
], ids=["closed", "garbage", "protocol", "status-not-number", "no-status", "empty-line"])
def test_bad_status_line(wire):
    srv, resp, _ = fetch(wire)
    expect_error(resp, "status line")


def test_closed_inside_headers():
    srv, resp, _ = fetch(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n")
    expect_error(resp, "inside the headers")


def test_64_headers_are_fine_65_are_too_many():
    many = ["X-H%d: v" % i for i in range(63)] + ["Content-Length: 2"]
    srv, resp, _ = fetch(ok_head(*many) + b"ok")
    assert resp.body == b"ok" and len(resp.headers) == 64
    srv, resp, _ = fetch(ok_head("X-Extra: 1", *many) + b"ok")
    expect_error(resp, "more than 64 headers")


def test_overlong_header_line():
    srv, resp, _ = fetch(ok_head("X-Long: " + "a" * 5000, "Content-Length: 0"))
    expect_error(resp, "longer than 4096")


def test_overlong_status_line():
    srv, resp, _ = fetch(b"HTTP/1.1 200 " + b"O" * 5000 + b"\r\n\r\n")
    expect_error(resp, "longer than 4096")


def test_header_line_beyond_stream_limit():
    # Was a bug: CPython's readline() raised ValueError past 64 KiB (and
    # MicroPython's has no limit at all); lines are now read with our own limit.
    srv, resp, _ = fetch(ok_head("X-Huge: " + "a" * 70000, "Content-Length: 0"))
    expect_error(resp, "longer than 4096")


def test_https_without_a_tls_context_is_refused_without_connecting():
    async def go():
        return await http_client.request("GET", "https://127.0.0.1:1/x", timeout_s=T)
    with pytest.raises(HTTPError, match="https needs a TLS context"):
        run(go())


# --------------------------------------------------------------------------
# Timeouts: every wait is bounded by timeout_s, the whole exchange by 3 x timeout_s.


def test_server_that_never_answers():
    async def silent(writer, srv):
        await srv.hold()
    srv, resp, took = fetch(silent, timeout_s=T)
    expect_error(resp, "timed out")
    assert T * 0.9 <= took < T + 1.0


def test_server_that_stops_mid_body():
    srv, resp, took = fetch(then_hold(ok_head("Content-Length: 100") + b"z" * 10), timeout_s=T)
    expect_error(resp, "timed out")
    assert T * 0.9 <= took < T + 1.0


def test_dripping_server_hits_the_request_deadline():
    # Each byte comes well within timeout_s, so only the 3 x timeout_s deadline can stop it.
    async def drip(writer, srv):
        writer.write(ok_head("Content-Length: 1000"))
        for _ in range(int(HOLD_S / (T / 4))):
            if srv.release.is_set():
                return
            writer.write(b"d")
            await writer.drain()
            await asyncio.sleep(T / 4)
    srv, resp, took = fetch(drip, timeout_s=T)
    expect_error(resp, "timed out")
    assert 3 * T * 0.95 <= took < 3 * T + 1.0


def test_connection_refused():
    # A port that was just free: nothing listens on it in this namespace.
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()

    async def go():
        with pytest.raises(HTTPError) as info:
            await http_client.request("GET", "http://%s:%d/programs" % (HOST, port), timeout_s=T)
        return info.value
    err = run(go())
    # The cause only: the caller (ven.openadr) names the request, once.
    assert "refused" in str(err).lower() or "111" in str(err)
    assert "GET" not in str(err) and "/programs" not in str(err)
    assert "timed out" not in str(err)


def test_tls_verification_value_error_is_said_as_tls(monkeypatch):
    # MicroPython's ssl raises ValueError for a certificate that fails verification.
    async def refuse(*args, **kw):
        raise ValueError("invalid cert\n  (verify failed)")
    monkeypatch.setattr(http_client.asyncio, "open_connection", refuse)

    async def go():
        with pytest.raises(HTTPError) as info:
            await http_client.request("GET", "https://vtn.example/programs", timeout_s=T, ssl_ctx=object())
        return info.value
    err = run(go())
    assert str(err) == "TLS: invalid cert (verify failed)"


def test_a_sinks_value_error_arrives_as_body_error():
    class Refusing:
        def feed(self, buf, start, end):
            raise ValueError("not what I wanted")

        def finish(self):
            pass
    async def go():
        async with RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]") as srv:
            with pytest.raises(http_client.BodyError) as info:
                await http_client.request("GET", srv.url("/programs"), timeout_s=T, sink=Refusing())
            return info.value
    err = run(go())
    assert str(err) == "not what I wanted" and isinstance(err.error, ValueError)


# --------------------------------------------------------------------------
# What the client sends


def _request_lines(srv):
    (head, body), = srv.requests
    return head.decode("latin-1").split("\r\n"), body


def test_request_line_and_headers():
    srv, resp, _ = fetch(_cl(2), path="/openadr3/3.1.0/events?programID=a%20b&limit=5")
    lines, body = _request_lines(srv)
    assert lines[0] == "GET /openadr3/3.1.0/events?programID=a%20b&limit=5 HTTP/1.1"
    head = srv.requests[0][0]
    assert header(head, "host") == "%s:%d" % (HOST, srv.port)
    assert header(head, "connection").lower() == "close"
    assert header(head, "user-agent")
    assert header(head, "content-length") is None  # no body, no length
    assert body == b""


def test_url_without_path_requests_root():
    async def go():
        async with RawServer(_cl(0)) as srv:
            await http_client.request("GET", "http://%s:%d" % (HOST, srv.port))
            return srv
    srv = run(go())
    assert _request_lines(srv)[0][0] == "GET / HTTP/1.1"


def test_connect_host_keeps_the_name_in_the_host_header():
    srv, resp, _ = fetch(_cl(2), path="/openadr3/3.1.0/programs", url_host="vtn.local", connect_host=HOST)
    assert resp.status == 200
    assert header(srv.requests[0][0], "host") == "vtn.local:%d" % srv.port


@pytest.mark.skipif(NETNS_ERROR is not None, reason="needs the private namespace to bind port 80")
def test_host_header_omits_default_port():
    async def go():
        try:
            srv = RawServer(_cl(0), port=80)
            await srv.__aenter__()
        except PermissionError:
            return None
        try:
            await http_client.request("GET", "http://vtn.local/x", connect_host=HOST)
        finally:
            await srv.__aexit__(None, None, None)
        return srv
    srv = run(go())
    if srv is None:
        pytest.skip("cannot bind port 80 here")
    assert header(srv.requests[0][0], "host") == "vtn.local"


def test_post_sends_body_with_content_length_and_extra_headers():
    payload = b'{"clientID": "ven-1", "secret": "s3cr\xc3\xa9t"}'
    srv, resp, _ = fetch(_cl(0), path="/auth/token", method="POST", body=payload,
                         headers={"Content-Type": "application/json", "X-Trace": "42"})
    lines, body = _request_lines(srv)
    head = srv.requests[0][0]
    assert lines[0] == "POST /auth/token HTTP/1.1"
    assert header(head, "content-length") == str(len(payload))
    assert header(head, "content-type") == "application/json"
    assert header(head, "x-trace") == "42"
    assert body == payload


def test_post_with_empty_body_sends_zero_length():
    srv, resp, _ = fetch(_cl(0), method="POST", body=b"")
    assert header(srv.requests[0][0], "content-length") == "0"
