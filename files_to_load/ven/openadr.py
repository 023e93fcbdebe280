# OpenADR 3 REST client: the requests a VEN makes to its VTN (3.1.0, and
# 3.0.1 servers where it is cheap).
#
# Transport: https verified against the configured CA (ven.tlsconf) unless
# vtn.tls_insecure, which is logged as a warning at every connection. Plain
# http only when the user configured it (vtn.url "http://..." or
# vtn.default_scheme "http"); a discovered http URL is refused otherwise.
# Credentials and tokens go over plain http only with vtn.tls_insecure too.
# One keep-alive connection per poll cycle: begin() ... end().
#
# Auth (ven.auth): token URL from GET /auth/server (3.0.1 servers have none:
# {base}/auth/token), form-encoded client credentials, refresh before
# expiry, on 401 drop the token, fetch a new one and retry once.
#
# Every failure becomes a VtnError that says which request failed and why
# (transport, HTTP status with the server's problem text, a redirect, or a
# body that is not the JSON asked for), so the loop can log it once and keep
# the last good schedule. VtnError.quiet: nothing was sent (a rejected
# credential is still backing off); the loop need not log it again.
#
# Paging: GET /programs and GET /events?programID=..&skip=..&limit=.. go page
# by page (limit 50, the schema's maximum) until a page holds fewer items.
# Each page's body streams into a sink; the sink protocol is
#
#     sink.feed(chunk: bytes)  body bytes of one page (one JSON array), in order
#     sink.finish()            that page's body is complete
#     sink.count               after finish(): items in that page, duplicates included
#     sink.new                 (optional) after finish(): items in that page not seen in
#                              earlier pages; 0 stops paging (a server ignoring skip)
#
# Pages are separate JSON documents: after finish() the next feed() starts a
# new array. A sink may raise ValueError for a body it cannot use; that
# becomes a VtnError. Collector below is the built-in sink (json.loads per
# page); an incremental reducer can take its place (VtnClient.events_into).
# Duplicates: Collector keeps the first (or newer) object per id; for a
# reducer that feeds a schedule builder event by event, wrap the builder in
# Dedup. Events carrying reportDescriptors are kept aside for
# report_events() (behind a reducer: only the pages that mention them are
# fetched again, into a Collector).
#
#   vtn = VtnClient("https://vtn.local:8443/openadr3/3.1.0", cfg["vtn"], connect_host="192.0.2.7")
#   await vtn.begin()
#   programs = await vtn.programs()
#   events = await vtn.events(programs[0]["id"])         # paged, deduplicated by id
#   await vtn.end()

import json
import time

from ven import auth, http_client, tlsconf
from ven.url import join, quote, split_url, URLError

PAGE_LIMIT = 50   # the schema's maximum for limit
MAX_PAGES = 40    # bounds a paging loop against a server that never ends


class VtnError(Exception):
    def __init__(self, text, quiet=False):
        super().__init__(text)
        self.quiet = quiet


def problem_text(body):
    """The server's words from a problem (RFC 7807) or authError body, else raw text.

    status may be a string (some servers); anything unparsable gives the first
    bytes of the body.
    """
    try:
        p = json.loads(body)
    except ValueError:
        return body[:120].decode("utf-8", "replace") if isinstance(body, bytes) else ""
    if not isinstance(p, dict):
        return ""
    parts = []
    for k in ("title", "detail", "error", "error_description"):
        v = p.get(k)
        if v:
            parts.append(str(v))
    return ": ".join(parts)


def _version_hint(base_url, txt):
    """'3.0' or '3.1' from the TXT version or the base path; None if unknown."""
    v = (txt or {}).get("version") if isinstance(txt, dict) else None
    if isinstance(v, str) and v:
        v = v.lower().lstrip("v")
        if v.startswith("3.0"):
            return "3.0"
        if v.startswith("3."):
            return "3.1"
    path = base_url.split("//", 1)[-1]
    if "/3.0" in path:
        return "3.0"
    if "/3.1" in path:
        return "3.1"
    return None


class Collector:
    """Built-in sink: JSON array pages -> objects, deduplicated by id.

    previous: {id: object} from the last poll; an object whose
    modificationDateTime did not change is taken from there (the parsed copy
    is dropped at once), and `changed` tells whether anything differs.
    """

    def __init__(self, previous=None):
        self.previous = previous or {}
        self.items = []  # type: list[dict]
        self.index = {}  # type: dict[str, int]
        self.buf = []  # type: list[bytes]
        self.count = 0
        self.new = 0
        self.duplicates = 0
        self.changed = False

    def feed(self, chunk):
        self.buf.append(chunk)

    def finish(self):
        data = b"".join(self.buf)
        self.buf = []
        page = json.loads(data)
        if not isinstance(page, list):
            raise ValueError("expected a JSON array, got %s" % type(page).__name__)
        self.count = len(page)
        self.new = 0
        for item in page:
            if isinstance(item, dict):
                self._add(item)

    def _add(self, item):
        oid = item.get("id")
        if not isinstance(oid, str):
            self.items.append(item)
            self.new += 1
            self.changed = True
            return
        at = self.index.get(oid)
        if at is not None:
            # A duplicate (same page or an overlap between pages): keep the newer.
            self.duplicates += 1
            if str(item.get("modificationDateTime", "")) > str(self.items[at].get("modificationDateTime", "")):
                self.items[at] = item
            return
        old = self.previous.get(oid)
        stamp = item.get("modificationDateTime")
        if old is not None and stamp is not None and old.get("modificationDateTime") == stamp:
            item = old
        else:
            self.changed = True
        self.index[oid] = len(self.items)
        self.items.append(item)
        self.new += 1

    def by_id(self):
        out = {}
        for item in self.items:
            if isinstance(item.get("id"), str):
                out[item["id"]] = item
        return out

    def result(self):
        """The objects; `changed` also covers objects that disappeared."""
        if len(self.index) != len([k for k in self.previous]) or self.changed:
            self.changed = True
        else:
            for k in self.previous:
                if k not in self.index:
                    self.changed = True
        return self.items


_REPORT_KEY = b'"reportDescriptors"'


class _Watch:
    # Passes page bytes on to a sink and notes (by skip) the pages whose bytes
    # mention reportDescriptors, looking across chunk boundaries.
    def __init__(self, sink):
        self.sink = sink
        self.at = 0
        self.tail = b""
        self.hit = False
        self.hits = []  # type: list[int]

    @property
    def count(self):
        return self.sink.count

    @property
    def new(self):
        return getattr(self.sink, "new", 1)

    def feed(self, chunk):
        self.sink.feed(chunk)
        if not self.hit:
            self.hit = _REPORT_KEY in self.tail + chunk
            self.tail = chunk[-(len(_REPORT_KEY) - 1):]

    def finish(self):
        self.sink.finish()
        if self.hit:
            self.hits.append(self.at)
        self.hit = False
        self.tail = b""


class Dedup:
    """Wraps a schedule builder fed event by event (ven.eventstream): an event
    whose id was seen before (a duplicate in a page, or an overlap between
    pages) is dropped, the first one is kept."""

    def __init__(self, builder):
        self.builder = builder
        self.seen = set()
        self.dropped = 0
        self._skip = False
        self._id = None

    def __getattr__(self, name):
        return getattr(self.builder, name)

    def begin_event(self):
        self._skip = False
        self._id = None
        self.builder.begin_event()

    def event_field(self, key, value):
        if self._skip:
            return
        if key == "id" and isinstance(value, str):
            if value in self.seen:
                self._skip = True
                self.dropped += 1
                self.builder.abort_event()
                return
            self._id = value
        self.builder.event_field(key, value)

    def interval(self, iv):
        if not self._skip:
            self.builder.interval(iv)

    def fail_event(self, reason):
        if not self._skip:
            self.builder.fail_event(reason)

    def end_event(self):
        if self._skip:
            self._skip = False
            return
        if self._id is not None:
            self.seen.add(self._id)
        self.builder.end_event()

    def add_event(self, event):
        oid = event.get("id") if isinstance(event, dict) else None
        if isinstance(oid, str):
            if oid in self.seen:
                self.dropped += 1
                return
            self.seen.add(oid)
        self.builder.add_event(event)


class VtnClient:
    def __init__(self, base_url, vtn_cfg, connect_host=None, txt=None, source="config", log=None,
                 clock=time.time, ssl_ctx=None):
        self.base_url = base_url.rstrip("/")
        self.connect_host = connect_host
        self.log = log
        self.timeout_s = vtn_cfg["http_timeout_s"]
        self.max_body = vtn_cfg["max_body_bytes"]
        self.insecure = bool(vtn_cfg.get("tls_insecure", False))
        self.targets = list(vtn_cfg.get("targets", []))
        self.page_limit = PAGE_LIMIT
        self.setup_error = None  # type: str | None
        self.version = _version_hint(self.base_url, txt)
        self.token_url = None  # type: str | None
        self.auth_server_checked = False
        self.reported = {}  # type: dict[str, dict]
        self.vtn = None  # the discovery result this client serves (set by the loop)
        requires_auth = txt.get("requires_auth") if isinstance(txt, dict) else None
        self.auth = auth.Auth(vtn_cfg, requires_auth, clock)
        scheme, host = "", ""
        try:
            scheme, host = split_url(self.base_url)[:2]
        except URLError as e:
            self.setup_error = str(e)
        self.host = host
        if scheme == "http" and source != "config" and vtn_cfg.get("default_scheme") != "http":
            self.setup_error = ("VTN %s offers plain http only; refusing it (set vtn.default_scheme to "
                                "\"http\" to allow plain http)" % self.base_url)
        if scheme == "https" and ssl_ctx is None and self.setup_error is None:
            try:
                ssl_ctx = tlsconf.client_context(tlsconf.load_ca(vtn_cfg), self.insecure)
            except tlsconf.TLSConfigError as e:
                self.setup_error = str(e)
        self.session = http_client.Session(self.timeout_s, self.max_body, ssl_ctx, self._on_connect)

    # --- transport ---

    def _on_connect(self, scheme, host, port, target):
        if scheme == "https" and self.insecure and self.log is not None:
            self.log.warning("TLS to %s:%d is NOT verified (vtn.tls_insecure is on)", host, port)

    async def begin(self):
        """Start a poll cycle (its requests share one kept-alive connection)."""
        self.reported = {}

    async def end(self):
        await self.session.close()

    def url(self, path, params=None):
        query = ""
        if params:
            pairs = params if isinstance(params, list) else [(k, params[k]) for k in params]
            query = "?" + "&".join(["%s=%s" % (k, quote(v)) for k, v in pairs])
        return join(self.base_url, path) + query

    def _connect_for(self, url):
        try:
            host = split_url(url)[1]
        except URLError:
            return None
        return self.connect_host if host.lower() == self.host.lower() else None

    def _may_send_secrets(self, url):
        return url.lower().startswith("https://") or self.insecure

    async def _send(self, method, url, body=None, ctype=None, sink=None, with_token=True):
        if self.setup_error is not None:
            raise VtnError(self.setup_error)
        headers = {}
        if ctype:
            headers["Content-Type"] = ctype
        if with_token and self.auth.token is not None:
            if not self._may_send_secrets(url):
                raise VtnError("refusing to send the access token over plain http to %s "
                               "(use https, or set vtn.tls_insecure)" % url)
            headers.update(self.auth.header())
        try:
            return await self.session.request(method, url, headers, body, sink, self._connect_for(url))
        except http_client.HTTPError as e:
            raise VtnError("%s %s: %s" % (method, url, e))
        except URLError as e:
            raise VtnError("%s %s: %s" % (method, url, e))
        except ValueError as e:
            # The sink could not use the body (invalid JSON, not an array, ...).
            text = str(e)
            if not text.startswith("expected"):
                text = "invalid JSON (%s)" % text
            raise VtnError("%s %s: %s" % (method, url, text))

    # --- auth ---

    async def _auth_server(self):
        """GET /auth/server once: the token URL and, by its absence, a 3.0.1 server."""
        if self.auth_server_checked:
            return
        url = join(self.base_url, "/auth/server")
        resp = await self._send("GET", url, with_token=False)
        if resp.status == 200:
            try:
                info = json.loads(resp.body)
            except ValueError:
                info = None
            token_url = info.get("tokenURL") if isinstance(info, dict) else None
            if not isinstance(token_url, str) or not token_url:
                raise VtnError("GET %s: no tokenURL in %s" % (url, resp.body[:80]))
            if token_url.startswith("/"):
                scheme, host, port = split_url(self.base_url)[:3]
                token_url = "%s://%s:%d%s" % (scheme, host, port, token_url)
            elif "://" not in token_url:
                token_url = join(self.base_url, token_url)
            self.token_url = token_url
            if self.version is None:
                self.version = "3.1"
        elif resp.status in (404, 405, 501):
            # OpenADR 3.0.1 has no /auth/server; its token endpoint is {base}/auth/token.
            self.token_url = join(self.base_url, "/auth/token")
            if self.version is None:
                self.version = "3.0"
        else:
            raise VtnError("GET %s: HTTP %d %s %s" % (url, resp.status, resp.reason, problem_text(resp.body)))
        self.auth_server_checked = True

    async def _authorize(self):
        if not self.auth.needs_token():
            return
        try:
            self.auth.check_blocked()
        except auth.AuthError as e:
            raise VtnError(str(e), quiet=True)
        await self._auth_server()
        url = self.token_url or join(self.base_url, "/auth/token")
        if not self._may_send_secrets(url):
            raise VtnError("refusing to send credentials over plain http to %s (use https, or set "
                           "vtn.tls_insecure)" % url)
        resp = await self._send("POST", url, self.auth.form(), "application/x-www-form-urlencoded",
                                with_token=False)
        try:
            obj = json.loads(resp.body)
        except ValueError:
            obj = None
        if resp.status == 200:
            try:
                self.auth.accept(obj)
            except auth.AuthError as e:
                raise VtnError("POST %s: %s" % (url, self.auth.reject(resp.status, str(e))))
            if self.log is not None:
                self.log.info("access token obtained from %s", url)
            return
        if resp.status in (400, 401, 403):
            raise VtnError("POST %s: %s" % (url, self.auth.reject(resp.status, auth.error_text(obj, resp.body))))
        raise VtnError("POST %s: HTTP %d %s %s" % (url, resp.status, resp.reason, problem_text(resp.body)))

    async def ensure_version(self):
        if self.version is None:
            await self._auth_server()
        return self.version

    # --- requests ---

    async def call(self, method, path, params=None, obj=None, sink=None, ok=(200,)):
        """One API request with auth; returns the Response or raises VtnError."""
        url = self.url(path, params)
        await self._authorize()
        body = json.dumps(obj).encode("utf-8") if obj is not None else None
        ctype = "application/json" if body is not None else None
        resp = await self._send(method, url, body, ctype, sink)
        if resp.status == 401 and self.auth.enabled:
            # Expired or revoked: one new token, one retry.
            self.auth.drop()
            await self._authorize()
            resp = await self._send(method, url, body, ctype, sink)
        if resp.status in ok:
            return resp
        if 300 <= resp.status < 400:
            raise VtnError("%s %s: HTTP %d redirect to %s not followed (configure the new URL)" % (
                method, url, resp.status, resp.headers.get("location", "?")))
        hint = ""
        if resp.status == 401 and not self.auth.enabled:
            hint = " (the VTN wants a token: set vtn.client_id and vtn.client_secret)"
        raise VtnError("%s %s: HTTP %d %s %s%s" % (method, url, resp.status, resp.reason,
                                                  problem_text(resp.body), hint))

    async def get_json(self, path, params=None):
        resp = await self.call("GET", path, params)
        try:
            return json.loads(resp.body)
        except ValueError as e:
            raise VtnError("GET %s: invalid JSON (%s)" % (self.url(path, params), e))

    async def pages(self, path, params, sink):
        """GET path page by page into sink until a short page. Returns the pages read."""
        skip = 0
        for n in range(MAX_PAGES):
            if hasattr(sink, "at"):
                sink.at = skip
            await self.call("GET", path, list(params) + [("skip", skip), ("limit", self.page_limit)], sink=sink)
            got = sink.count
            if got < self.page_limit or getattr(sink, "new", 1) == 0:
                return n + 1
            skip += got
        if self.log is not None:
            self.log.warning("GET %s: stopped after %d pages", path, MAX_PAGES)
        return MAX_PAGES

    def _target_params(self):
        # 3.1 names targets directly; 3.0.1's targetType/targetValues model differs: none sent.
        if self.version == "3.0":
            return []
        return [("targets", t) for t in self.targets]

    async def programs(self, previous=None):
        await self.ensure_version()
        c = Collector(previous)
        await self.pages("/programs", self._target_params(), c)
        return c.result()

    async def events_into(self, program_id, sink):
        """Every event of one program, paged, into sink (see the header).

        Events carrying reportDescriptors are kept aside for report_events():
        from the Collector itself, or, behind another sink that keeps nothing,
        by fetching again only the pages whose bytes mention reportDescriptors.
        """
        await self.ensure_version()
        params = [("programID", program_id)] + self._target_params()
        if self.version != "3.0":
            params.append(("active", "true"))
        if isinstance(sink, Collector):
            await self.pages("/events", params, sink)
            self._keep_reported(sink.items)
            return
        watch = _Watch(sink)
        await self.pages("/events", params, watch)
        for skip in watch.hits:
            c = Collector()
            await self.call("GET", "/events", params + [("skip", skip), ("limit", self.page_limit)], sink=c)
            self._keep_reported(c.result())

    def _keep_reported(self, events):
        for ev in events:
            if ev.get("reportDescriptors") and isinstance(ev.get("id"), str):
                self.reported[ev["id"]] = ev

    def report_events(self):
        """Events of this poll cycle that ask for reports."""
        return [self.reported[k] for k in self.reported]

    async def events(self, program_id, previous=None):
        c = Collector(previous)
        await self.events_into(program_id, c)
        return c.result()

    # --- VEN registration (ven.registration) and reports (ven.reports) ---

    async def _first(self, path, params, match):
        c = Collector()
        await self.pages(path, params, c)
        for item in c.result():
            if match(item):
                return item
        return None

    async def find_ven(self, name):
        return await self._first("/vens", [("venName", name)], lambda v: v.get("venName") == name)

    async def get_object(self, path):
        """GET one object; None if the VTN says 404."""
        resp = await self.call("GET", path, ok=(200, 404))
        if resp.status == 404:
            return None
        try:
            obj = json.loads(resp.body)
        except ValueError as e:
            raise VtnError("GET %s: invalid JSON (%s)" % (path, e))
        return obj if isinstance(obj, dict) else None

    async def _create(self, path, obj):
        resp = await self.call("POST", path, obj=obj, ok=(200, 201))
        try:
            made = json.loads(resp.body)
        except ValueError as e:
            raise VtnError("POST %s: invalid JSON (%s)" % (path, e))
        if not isinstance(made, dict) or not isinstance(made.get("id"), str):
            raise VtnError("POST %s: the answer has no id" % path)
        return made

    async def create_ven(self, name):
        await self.ensure_version()
        if self.version == "3.0":
            return await self._create("/vens", {"venName": name})
        return await self._create("/vens", {"objectType": "VEN_VEN_REQUEST", "venName": name})

    def _resources_path(self, ven_id):
        if self.version == "3.0":
            return "/vens/%s/resources" % quote(ven_id)
        return "/resources"

    async def find_resource(self, ven_id, name):
        await self.ensure_version()
        params = [("resourceName", name)]
        if self.version != "3.0":
            params.append(("venID", ven_id))
        return await self._first(self._resources_path(ven_id), params,
                                 lambda r: r.get("resourceName") == name and r.get("venID", ven_id) == ven_id)

    async def get_resource(self, ven_id, resource_id):
        await self.ensure_version()
        return await self.get_object("%s/%s" % (self._resources_path(ven_id), quote(resource_id)))

    async def create_resource(self, ven_id, name):
        await self.ensure_version()
        body = {"resourceName": name, "venID": ven_id}
        if self.version != "3.0":
            body["objectType"] = "VEN_RESOURCE_REQUEST"
        return await self._create(self._resources_path(ven_id), body)

    async def post_report(self, report):
        return await self._create("/reports", report)


def select_programs(programs, wanted_names):
    """Programs whose programName is in wanted_names; all of them if the list is empty."""
    if not wanted_names:
        return programs
    return [p for p in programs if p.get("programName") in wanted_names]
