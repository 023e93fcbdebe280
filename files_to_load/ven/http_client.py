# A small asyncio HTTP/1.1 client for the VTN's REST API, over TLS or plain TCP.
#
# - TLS: the caller passes an ssl context (ven.tlsconf builds a verified one);
#   the URL's host goes into server_hostname (SNI and certificate check) even
#   when we connect to an address found by mDNS (connect_host).
# - Keep-alive: a Session keeps one connection open and reuses it while the
#   requests go to the same origin (one poll cycle); request() is one-shot.
# - Bodies: Content-Length, chunked or read-to-close; a size limit in every
#   framing. gzip only when the caller asks for it (Session(gzip=True)) and the
#   firmware has `deflate`: its decompressor takes a 32 KB window from the heap,
#   which the ESP32-POE (no PSRAM) often does not have in one piece.
# - Errors: HTTPError says what went wrong (not which request: the caller
#   knows). A TLS certificate that fails verification arrives as ValueError on
#   MicroPython (as OSError/SSLError on CPython): both become HTTPError. A sink
#   that cannot use the body raises BodyError (its .error is what the sink
#   raised). Header bytes that are not UTF-8 are kept as "?", never raised on.
# - A deadline on every await that touches the network (connect, each read,
#   each write) and on the request as a whole: the device's streams have none.
# - Redirects and error statuses are returned, never followed or raised.
# - A request body is bytes, or a function returning an iterator of bytes
#   pieces (called twice: once for Content-Length, once to send them), so a
#   large body is never held whole.
#
#   resp = await http_client.request("GET", url, timeout_s=10, max_body=65536,
#                                    connect_host="192.0.2.7", ssl_ctx=ctx)
#   resp.status, resp.headers["content-type"], resp.body
#
#   s = http_client.Session(timeout_s=10, max_body=65536, ssl_ctx=ctx)
#   r1 = await s.request("GET", url1, connect_host=ip)
#   r2 = await s.request("GET", url2, connect_host=ip, sink=reducer)   # same connection
#   await s.close()
#
# Sink: with `sink`, a 2xx body is not kept: its bytes (de-chunked and
# decompressed) go to sink.feed(buf, start, end) as they arrive (a span of a
# buffer that is reused right after the call) and sink.finish() is
# called once the body is complete; Response.body is then b"". Bodies of
# other statuses are always kept in Response.body (problem details to log).

import asyncio

from ven.url import split_url

try:
    import deflate as _deflate  # MicroPython >= 1.23
except ImportError:
    _deflate = None  # type: ignore[assignment]  # no gzip then

_MAX_LINE = 4096
_MAX_HEADERS = 64
_READ = 512  # bytes per read, into the session buffer (TLS records come in pieces)
_USER_AGENT = "openadr3-ven-esp32"


class HTTPError(Exception):
    """Transport or protocol failure (not an HTTP error status: those are returned)."""


class BodyError(Exception):
    """The sink refused the body (e.g. invalid JSON); .error is what it raised."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case names
        self.body = body


class _Reader:
    # Reads into the session's one buffer (no allocation per read: on the
    # board's fragmented heap a fresh 1 KB block is often not there), with our
    # own line limit (MicroPython's readline() has none). Body bytes are handed
    # on as spans of that buffer: (reader.buf, reader.at, reader.at + n).
    def __init__(self, stream, timeout_s, buf):
        self.stream = stream
        self.timeout_s = timeout_s
        self.buf = buf
        self.start = 0
        self.end = 0
        self.at = 0
        self.got_any = False

    async def _fill(self):
        # Only when empty: what was read before has been handed on.
        while True:
            n = await asyncio.wait_for(self.stream.readinto(self.buf), self.timeout_s)
            if n is not None:
                break  # None: TLS had no application data yet
        self.start = 0
        self.end = n
        if n:
            self.got_any = True
        return n > 0

    def pending(self):
        return self.end > self.start

    async def line(self):
        part = b""
        while True:
            if self.start == self.end and not await self._fill():
                return part
            i = self.buf.find(b"\n", self.start, self.end)
            stop = self.end if i < 0 else i + 1
            part += self.buf[self.start:stop]
            self.start = stop
            if len(part) > _MAX_LINE:
                raise HTTPError("header line longer than %d bytes" % _MAX_LINE)
            if i >= 0:
                return part

    async def span(self, n):
        """Up to n bytes at self.buf[self.at:self.at + result]; 0 at the end of the stream."""
        if self.start == self.end and not await self._fill():
            return 0
        k = min(n, self.end - self.start)
        self.at = self.start
        self.start += k
        return k


class _Body:
    # Where body bytes go: a list, or the caller's sink. Counts against the limit.
    def __init__(self, max_body, sink):
        self.max_body = max_body
        self.sink = sink
        self.parts = []  # type: list[bytes]
        self.n = 0

    def feed(self, buf, start, end):
        self.n += end - start
        if self.n > self.max_body:
            raise HTTPError("body larger than %d bytes" % self.max_body)
        if self.sink is not None:
            try:
                self.sink.feed(buf, start, end)
            except ValueError as e:
                raise BodyError(e)
        else:
            self.parts.append(bytes(buf[start:end]))

    def data(self):
        return b"".join(self.parts)


async def _exactly(reader, n, out):
    left = n
    while left > 0:
        k = await reader.span(left)
        if not k:
            raise HTTPError("connection closed %d bytes before the end of the body" % left)
        out.feed(reader.buf, reader.at, reader.at + k)
        left -= k


def _chunk_size(line):
    text = line.split(b";")[0].strip()
    # int(x, 16) would also take "-5", "+5" or "0x5": only hex digits are valid.
    if not text or [c for c in text if c not in b"0123456789abcdefABCDEF"]:
        raise HTTPError("bad chunk size %r" % line[:40])
    return int(text, 16)


async def _read_chunked(reader, out):
    while True:
        size = _chunk_size(await reader.line())
        if size == 0:
            # Trailers, if any, end with an empty line.
            while True:
                t = await reader.line()
                if t in (b"\r\n", b"\n", b""):
                    return
        if out.n + size > out.max_body:
            raise HTTPError("body larger than %d bytes" % out.max_body)
        await _exactly(reader, size, out)
        await reader.line()  # CRLF after each chunk


async def _read_to_close(reader, out):
    while True:
        k = await reader.span(_READ)
        if not k:
            return
        out.feed(reader.buf, reader.at, reader.at + k)


def _text(line):
    # Header bytes as text: UTF-8, or with every non-ASCII byte as "?" (never
    # "latin-1": MicroPython mis-decodes it, and from 1.29 refuses the name).
    try:
        return line.decode("utf-8")
    except UnicodeError:
        return bytes([b if b < 128 else 63 for b in line]).decode("utf-8")


async def _read_head(reader):
    status_line = await reader.line()
    if not status_line:
        raise HTTPError("connection closed before the status line")
    parts = _text(status_line).strip().split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise HTTPError("bad status line %r" % status_line[:80])
    headers = {}  # type: dict[str, str]
    while True:
        line = await reader.line()
        if line in (b"\r\n", b"\n"):
            break
        if not line:
            raise HTTPError("connection closed inside the headers")
        if len(headers) >= _MAX_HEADERS:
            raise HTTPError("more than %d headers" % _MAX_HEADERS)
        name, sep, value = _text(line).partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return parts[0], int(parts[1]), (parts[2] if len(parts) > 2 else ""), headers


def _gunzip(data, out):
    # DeflateIO reads a whole stream: the compressed body is complete here
    # (bounded by max_body) and comes out in small pieces, each counted.
    import io
    if _deflate is None:
        raise HTTPError("gzip body but no deflate module")
    try:
        d = _deflate.DeflateIO(io.BytesIO(data), _deflate.GZIP)
        while True:
            piece = d.read(_READ)
            if not piece:
                return
            out.feed(piece, 0, len(piece))
    except MemoryError:
        raise HTTPError("no memory to decompress a gzip body")
    except (OSError, ValueError, EOFError) as e:
        raise HTTPError("bad gzip body: %s" % e)


async def _read_body(reader, method, status, headers, out):
    """Read the body into out. Returns True if the connection can be reused."""
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return True
    coding = headers.get("content-encoding", "identity").lower()
    if coding not in ("identity", "gzip"):
        raise HTTPError("unsupported Content-Encoding %r" % coding)
    target = out
    if coding == "gzip":
        target = _Body(out.max_body, None)
    reusable = True
    if "chunked" in headers.get("transfer-encoding", "").lower():
        await _read_chunked(reader, target)
    elif "content-length" in headers:
        try:
            n = int(headers["content-length"])
        except ValueError:
            raise HTTPError("bad Content-Length %r" % headers["content-length"])
        if n < 0 or n > out.max_body:
            raise HTTPError("body of %d bytes exceeds the %d byte limit" % (n, out.max_body))
        await _exactly(reader, n, target)
    else:
        await _read_to_close(reader, target)
        reusable = False
    if coding == "gzip":
        _gunzip(target.data(), out)
    return reusable


class _Conn:
    def __init__(self, key, reader, writer, timeout_s, buf):
        self.key = key
        self.reader = _Reader(reader, timeout_s, buf)
        self.writer = writer
        self.used = 0

    async def close(self):
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 1)
        except (OSError, asyncio.TimeoutError):
            pass


class Session:
    """At most one open connection, reused while requests go to the same place.

    ssl_ctx is used for https URLs (required for them). on_connect(scheme,
    host, port, target), when given, is called before every new connection
    (the caller logs unverified TLS there).
    """

    def __init__(self, timeout_s=10, max_body=65536, ssl_ctx=None, on_connect=None, keep_alive=True, gzip=False):
        self.timeout_s = timeout_s
        self.max_body = max_body
        self.ssl_ctx = ssl_ctx
        self.on_connect = on_connect
        self.keep_alive = keep_alive
        self.gzip = gzip and _deflate is not None
        self.buf = bytearray(_READ)  # every read of this session lands here
        self.conn = None  # type: _Conn | None
        self.connections = 0  # opened so far (tests count reuse with it)

    async def close(self):
        conn = self.conn
        self.conn = None
        if conn is not None:
            await conn.close()

    async def _open(self, scheme, host, port, target):
        if scheme == "https" and self.ssl_ctx is None:
            raise HTTPError("https needs a TLS context")
        if self.on_connect is not None:
            self.on_connect(scheme, host, port, target)
        self.connections += 1
        if scheme == "https":
            coro = asyncio.open_connection(target, port, ssl=self.ssl_ctx, server_hostname=host)
        else:
            coro = asyncio.open_connection(target, port)
        reader, writer = await asyncio.wait_for(coro, self.timeout_s)
        return _Conn((scheme, host, port, target), reader, writer, self.timeout_s, self.buf)

    def _head(self, method, host, port, path, headers, body, default_port):
        host_header = host if port == default_port else "%s:%d" % (host, port)
        if ":" in host:
            host_header = "[%s]" % host if port == default_port else "[%s]:%d" % (host, port)
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: " + host_header,
                 "Connection: " + ("keep-alive" if self.keep_alive else "close"),
                 "Accept: application/json", "User-Agent: " + _USER_AGENT]
        if self.gzip:
            lines.append("Accept-Encoding: gzip")
        for k in headers or {}:
            lines.append("%s: %s" % (k, headers[k]))
        if body is not None:
            n = 0
            if callable(body):
                for p in body():
                    n += len(p)
            else:
                n = len(body)
            lines.append("Content-Length: %d" % n)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    async def _exchange(self, conn, method, head, body, sink):
        conn.used += 1
        conn.reader.got_any = conn.reader.pending()
        conn.writer.write(head)
        if callable(body):
            # A body made piece by piece (a long report): each piece sent before the next is made.
            for p in body():
                conn.writer.write(p)
                await asyncio.wait_for(conn.writer.drain(), self.timeout_s)
        elif body:
            conn.writer.write(body)
        await asyncio.wait_for(conn.writer.drain(), self.timeout_s)
        version, status, reason, headers = await _read_head(conn.reader)
        out = _Body(self.max_body, sink if 200 <= status < 300 else None)
        reusable = await _read_body(conn.reader, method, status, headers, out)
        if out.sink is not None and status != 304:
            try:
                sink.finish()
            except ValueError as e:
                raise BodyError(e)
        if headers.get("connection", "").lower() == "close" or version == "HTTP/1.0":
            reusable = False
        return Response(status, reason, headers, out.data()), reusable

    async def _request(self, method, url, headers, body, sink, connect_host):
        scheme, host, port, path = split_url(url)
        key = (scheme, host, port, connect_host or host)
        head = self._head(method, host, port, path, headers, body, 443 if scheme == "https" else 80)
        conn = self.conn
        if conn is not None and conn.key != key:
            self.conn = None
            await conn.close()
            conn = None
        reused = conn is not None
        if conn is None:
            conn = await self._open(scheme, host, port, connect_host or host)
        self.conn = None  # until the exchange is known to have ended cleanly
        try:
            try:
                resp, reusable = await self._exchange(conn, method, head, body, sink)
            except (HTTPError, OSError) as e:
                # A kept-alive connection the server closed meanwhile answers
                # nothing at all: try once more on a fresh one.
                if not reused or conn.reader.got_any:
                    raise
                await conn.close()
                conn = await self._open(scheme, host, port, connect_host or host)
                resp, reusable = await self._exchange(conn, method, head, body, sink)
        except BaseException:
            await conn.close()
            raise
        if reusable and self.keep_alive:
            self.conn = conn
        else:
            await conn.close()
        return resp

    async def request(self, method, url, headers=None, body=None, sink=None, connect_host=None):
        """Send one request and return a Response; raise HTTPError on transport failure.

        timeout_s bounds each network step; the whole exchange is bounded by
        three times that. connect_host, when given, is the address to connect
        to while the URL's host still goes into the Host header and the TLS
        server name (e.g. an IP from mDNS).
        """
        try:
            return await asyncio.wait_for(
                self._request(method, url, headers, body, sink, connect_host), 3 * self.timeout_s)
        except asyncio.TimeoutError:
            raise HTTPError("timed out")
        except OSError as e:
            raise HTTPError(str(e) or repr(e))
        except ValueError as e:
            # mbedtls on MicroPython: a certificate that fails verification (the
            # sink's own ValueErrors arrive as BodyError, untouched here).
            raise HTTPError("TLS: %s" % " ".join(str(e).split()))


async def request(method, url, headers=None, body=None, timeout_s=10, max_body=65536, connect_host=None,
                  ssl_ctx=None, sink=None):
    """One request on its own connection (Connection: close); see Session.request."""
    s = Session(timeout_s, max_body, ssl_ctx, keep_alive=False)
    try:
        return await s.request(method, url, headers, body, sink, connect_host)
    finally:
        await s.close()
