"""HTTP/1.1 transport of the development VTN: stdlib ThreadingHTTPServer, plain or TLS.

Persistent connections, every body framed by Content-Length (or chunked when a
fault asks for it), gzip when the client accepts it, one line per request on
stderr. Fault rules (faults.py) are applied here, between the VTN logic
(app.py) and the socket, so the logic never needs to know about them.

TLS (tls_context): the handshake runs in the connection's own thread with a
time limit, so a client that never completes it holds up nobody; a failed
handshake (e.g. a client that does not trust our CA) is logged.

The etag quirk (quirks.py) is HTTP semantics, so it lives here too
(conditional): ETag and Last-Modified on GET answers of objects, 304 Not
Modified for a client whose copy is current. A 304 goes out without body and
without framing headers (RFC 7230 section 3.3: a Content-Length would have to
be the 200's length), whatever the fault rules say about bodies.

Recording (record_path): one JSON line per answered request, with what was
asked and answered (bodies as text, before gzip and faults), so tests can
check every exchange against the OpenADR models and the OpenAPI file. Each
line also holds the request's conditional headers ("if_none_match",
"if_modified_since") and the answer's validators ("etag", "last_modified"),
null when absent.
"""

import datetime
import email.utils
import gzip
import hashlib
import http.server
import json
import socket
import ssl
import sys
import threading
import time

from tools.devvtn.app import Request, Response, problem
from tools.devvtn.faults import Injector

MAX_REQUEST_BODY = 1 << 20
IDLE_TIMEOUT_S = 30  # drop idle keep-alive connections so threads do not pile up
HANDSHAKE_TIMEOUT_S = 10
GZIP_MIN_BYTES = 256  # smaller bodies go out as they are


def _not_modified(headers, etag, last_modified):
    """Does the client (lower-case request headers) hold the current answer? RFC 7232."""
    tags = headers.get("if-none-match")
    if tags is not None:
        # Weak comparison (section 3.2); If-Modified-Since is then ignored (section 6).
        for tag in tags.split(","):
            tag = tag.strip()
            if tag == "*" or (tag[2:] if tag.startswith("W/") else tag) == etag:
                return True
        return False
    since = headers.get("if-modified-since")
    if since is None:
        return False
    try:
        when = email.utils.parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False  # an invalid date is ignored (section 3.3)
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)  # "-0000": UTC all the same
    return when.timestamp() >= int(last_modified)


def conditional(req, response):
    """The etag quirk on one answer: validators added, or a 304 in its place."""
    if response.last_modified is None or response.status != 200:
        return response
    etag = '"%s"' % hashlib.sha256(response.body).hexdigest()[:32]
    validators = [("ETag", etag), ("Last-Modified", email.utils.formatdate(response.last_modified, usegmt=True))]
    if req.method == "GET" and _not_modified(req.headers, etag, response.last_modified):
        return Response(304, b"", None, validators)
    response.headers += validators
    return response


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "devvtn/1"
    timeout = IDLE_TIMEOUT_S

    def do_GET(self):
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self, string_status):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return None, problem(501, "chunked request bodies are not supported", None, string_status)
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return None, problem(400, "bad Content-Length", None, string_status)
        if length < 0 or length > MAX_REQUEST_BODY:
            return None, problem(413, "request body too large", None, string_status)
        return self.rfile.read(length), None

    def _serve(self):
        vtn = self.server.vtn
        self._note = ""
        scenario = vtn.store.current()
        quirks = vtn.quirks(scenario)
        body, error = self._read_body("string_status" in quirks)
        if error is not None:
            # The rest of the request is unread: this connection cannot be reused.
            self.close_connection = True
            self._send(error, None)
            return
        req = Request(self.command, self.path, dict(self.headers.items()), body,
                      "%s:%d" % self.server.server_address[:2])
        rel = vtn.relative_path(req.path)
        effect = self.server.injector.effect(
            req.method, req.path if rel is None else rel, scenario.faults, scenario.generation)
        if effect:
            self._note = "fault " + "; ".join(effect.names)
        if effect.close:
            self.close_connection = True
            self._note = "closed without answer"
            self.log_request("-")
            return
        if effect.delay:
            time.sleep(effect.delay)
        if effect.status is not None:
            response = problem(effect.status, "injected fault", None, "string_status" in quirks)
        else:
            response = vtn.handle(req, scenario)
            if "etag" in quirks:
                response = conditional(req, response)
        self.server.record(req, rel, response)
        if effect.invalid_json:
            response.body = response.body[:len(response.body) // 2] or b"{"
        self._send(response, effect)

    def _send(self, response, effect):
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        if response.status == 304:
            # No body, so no Content-Length, Transfer-Encoding or Content-Encoding
            # either, and nothing for body faults (chunked, invalid_json, body_delay).
            self.end_headers()
            return
        chunked = effect is not None and effect.chunked
        if (self.server.gzip and len(response.body) >= GZIP_MIN_BYTES
                and "gzip" in self.headers.get("Accept-Encoding", "").lower()):
            response.body = gzip.compress(response.body)
            self.send_header("Content-Encoding", "gzip")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if effect is not None and effect.body_delay:
            self.wfile.flush()
            time.sleep(effect.body_delay)
        if self.command == "HEAD":
            return
        if not chunked:
            self.wfile.write(response.body)
            return
        body, size = response.body, effect.chunk_size
        for start in range(0, len(body), size):
            piece = body[start:start + size]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            # Flush each chunk so a client really sees them arrive separately.
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def log_request(self, code="-", size="-"):
        if self.server.quiet:
            return
        effect = getattr(self, "_note", "")
        sys.stderr.write("devvtn: %s %s %s -> %s%s\n" % (
            self.client_address[0], self.command, self.path, code,
            " (%s)" % effect if effect else ""))
        sys.stderr.flush()

    def log_message(self, format, *args):
        if not self.server.quiet:
            sys.stderr.write("devvtn: %s %s\n" % (self.client_address[0], format % args))
            sys.stderr.flush()


class DevVtnServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # A request stuck in an injected delay must not hold up shutdown.
    block_on_close = False
    address_family = socket.AF_INET

    def __init__(self, address, vtn, cli_faults=(), quiet=False, tls_context=None, record_path=None,
                 gzip_ok=True):
        self.vtn = vtn
        self.injector = Injector(cli_faults)
        self.quiet = quiet
        self.tls_context = tls_context
        self.gzip = gzip_ok
        self._record = open(record_path, "a") if record_path else None
        self._record_lock = threading.Lock()
        super().__init__(address, Handler)

    def finish_request(self, request, client_address):
        if self.tls_context is None:
            return super().finish_request(request, client_address)
        request.settimeout(HANDSHAKE_TIMEOUT_S)
        try:
            tls = self.tls_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            sys.stderr.write("devvtn: %s TLS handshake failed: %s\n" % (client_address[0], e))
            sys.stderr.flush()
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()

    def record(self, req, rel, response):
        if self._record is None:
            return
        validators = dict(response.headers)
        line = {"t": round(time.time(), 3), "method": req.method, "path": req.path, "rel": rel,
                "query": req.query, "content_type": req.headers.get("content-type"),
                "authorization": req.headers.get("authorization", "")[:6].strip() or None,
                "if_none_match": req.headers.get("if-none-match"),
                "if_modified_since": req.headers.get("if-modified-since"),
                "body": req.body.decode("utf-8", "replace"), "status": response.status,
                "response_type": response.content_type, "response": response.body.decode("utf-8", "replace"),
                "etag": validators.get("ETag"), "last_modified": validators.get("Last-Modified")}
        with self._record_lock:
            self._record.write(json.dumps(line) + "\n")
            self._record.flush()

    def server_close(self):
        super().server_close()
        if self._record is not None:
            self._record.close()
            self._record = None

    def handle_error(self, request, client_address):
        # A client that gives up mid-answer (timeouts under test) is routine here.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            if not self.quiet:
                sys.stderr.write("devvtn: %s connection dropped: %s\n" % (client_address[0], exc))
            return
        super().handle_error(request, client_address)

    @property
    def port(self):
        return self.server_address[1]
