# A minimal asyncio HTTP/1.1 client for the VTN's REST API.
#
# One request per connection (Connection: close), Content-Length, chunked or
# read-to-close bodies, a body size limit, and a deadline on every await that
# touches the network: connect, each read, and the request as a whole (the
# device's asyncio streams have no timeouts of their own).
#
#   resp = await http_client.request("GET", url, timeout_s=10, max_body=65536,
#                                    connect_host="192.0.2.7")
#   resp.status, resp.headers["content-type"], resp.body

import asyncio

from ven.url import split_url

_MAX_LINE = 4096
_MAX_HEADERS = 64


class HTTPError(Exception):
    """Transport or protocol failure (not an HTTP error status: those are returned)."""


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body


async def _line(reader, timeout_s):
    line = await asyncio.wait_for(reader.readline(), timeout_s)
    if len(line) > _MAX_LINE:
        raise HTTPError("header line longer than %d bytes" % _MAX_LINE)
    return line


async def _exactly(reader, n, timeout_s):
    buf = b""
    while len(buf) < n:
        chunk = await asyncio.wait_for(reader.read(n - len(buf)), timeout_s)
        if not chunk:
            raise HTTPError("connection closed %d bytes before the end of the body" % (n - len(buf)))
        buf += chunk
    return buf


async def _read_head(reader, timeout_s):
    status_line = await _line(reader, timeout_s)
    if not status_line:
        raise HTTPError("connection closed before the status line")
    parts = status_line.decode("latin-1").strip().split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise HTTPError("bad status line %r" % status_line[:80])
    headers = {}  # type: dict[str, str]
    while True:
        line = await _line(reader, timeout_s)
        if line in (b"\r\n", b"\n"):
            break
        if not line:
            raise HTTPError("connection closed inside the headers")
        if len(headers) >= _MAX_HEADERS:
            raise HTTPError("more than %d headers" % _MAX_HEADERS)
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), (parts[2] if len(parts) > 2 else ""), headers


async def _read_chunked(reader, timeout_s, max_body):
    body = b""
    while True:
        size_line = await _line(reader, timeout_s)
        try:
            size = int(size_line.split(b";")[0].strip(), 16)
        except ValueError:
            raise HTTPError("bad chunk size %r" % size_line[:40])
        if size == 0:
            # Trailers, if any, end with an empty line.
            while True:
                t = await _line(reader, timeout_s)
                if t in (b"\r\n", b"\n", b""):
                    return body
        if len(body) + size > max_body:
            raise HTTPError("body larger than %d bytes" % max_body)
        body += await _exactly(reader, size, timeout_s)
        await _line(reader, timeout_s)  # CRLF after each chunk


async def _read_to_close(reader, timeout_s, max_body):
    body = b""
    while True:
        chunk = await asyncio.wait_for(reader.read(2048), timeout_s)
        if not chunk:
            return body
        body += chunk
        if len(body) > max_body:
            raise HTTPError("body larger than %d bytes" % max_body)


async def _exchange(method, url, headers, body, timeout_s, max_body, connect_host):
    scheme, host, port, path = split_url(url)
    if scheme != "http":
        raise HTTPError("https is not supported yet: %s" % url)
    target = connect_host or host
    reader, writer = await asyncio.wait_for(asyncio.open_connection(target, port), timeout_s)
    try:
        host_header = host if port == 80 else "%s:%d" % (host, port)
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: " + host_header,
                 "Connection: close", "Accept: application/json", "User-Agent: openadr3-ven-esp32"]
        for k in headers or {}:
            lines.append("%s: %s" % (k, headers[k]))
        if body is not None:
            lines.append("Content-Length: %d" % len(body))
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
        if body is not None:
            writer.write(body)
        await asyncio.wait_for(writer.drain(), timeout_s)
        status, reason, resp_headers = await _read_head(reader, timeout_s)
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            data = b""
        elif "chunked" in resp_headers.get("transfer-encoding", "").lower():
            data = await _read_chunked(reader, timeout_s, max_body)
        elif "content-length" in resp_headers:
            try:
                n = int(resp_headers["content-length"])
            except ValueError:
                raise HTTPError("bad Content-Length %r" % resp_headers["content-length"])
            if n < 0 or n > max_body:
                raise HTTPError("body of %d bytes exceeds the %d byte limit" % (n, max_body))
            data = await _exactly(reader, n, timeout_s)
        else:
            data = await _read_to_close(reader, timeout_s, max_body)
        return Response(status, reason, resp_headers, data)
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1)
        except (OSError, asyncio.TimeoutError):
            pass


async def request(method, url, headers=None, body=None, timeout_s=10, max_body=65536, connect_host=None):
    """Send one request and return a Response; raise HTTPError on transport failure.

    timeout_s bounds each network step; the whole exchange is bounded by three
    times that. connect_host, when given, is the address to connect to while
    the URL's host still goes into the Host header (e.g. an IP from mDNS).
    """
    try:
        return await asyncio.wait_for(
            _exchange(method, url, headers, body, timeout_s, max_body, connect_host), 3 * timeout_s)
    except asyncio.TimeoutError:
        raise HTTPError("%s %s: timed out" % (method, url))
    except OSError as e:
        raise HTTPError("%s %s: %s" % (method, url, e))
