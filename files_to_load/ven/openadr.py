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
# Paging: GET /programs, /events, /vens, /resources go page by page (limit 50,
# the schema's maximum) until a page holds fewer items. Each page's body streams
# into a sink (ven.eventstream: ItemReducer for any list, one element at a time;
# EventReducer for events into the schedule), so a page is never held whole:
#
#     sink.feed(buf, start, end)  body bytes buf[start:end] of one page (one JSON
#                              array), in order; buf is reused after the call
#     sink.finish()            that page's body is complete; returns its count
#     sink.count               after finish(): items in that page, duplicates included
#     sink.new                 after finish(): items not seen in earlier pages;
#                              0 stops paging (a server ignoring skip)
#
# A sink raises ValueError for a body it cannot use; that becomes a VtnError.
# Lists of programs, VENs and resources keep only the fields the VEN uses
# (_Keep). Events are filtered by the program they were asked for (Dedup): some
# VTNs ignore the programID query parameter.
#
# Conditional polling: with conditional=True a GET sends If-None-Match /
# If-Modified-Since from the last good answer to the same URL and takes 304 as
# "unchanged" (the page's count is remembered). `fresh` and `unchanged` count
# the 200 and 304 answers since begin(): all 304 means nothing changed; a mix
# means the caller has to ask again without conditions (it has not kept the
# unchanged pages' data).
#
# Clock: on_date(value, verified) is called with every response's Date header;
# verified is True for https with certificate checking on.
#
#   vtn = VtnClient("https://vtn.local:8443/openadr3/3.1.0", cfg["vtn"], connect_host="192.0.2.7")
#   await vtn.begin()
#   programs = await vtn.programs()                       # [{"id", "programName", "payloadDescriptors"}]
#   await vtn.events_into(programs[0]["id"], EventReducer(builder))
#   await vtn.end()

import json
import time

from ven import auth, http_client
from ven.eventstream import ItemReducer
from ven.url import join, quote, split_url, URLError, valid_host

PAGE_LIMIT = 50   # the schema's maximum for limit
MAX_PAGES = 40    # bounds a paging loop against a server that never ends
# What the VEN uses of a program (units: payloadDescriptors).
_PROGRAM_FIELDS = ("id", "programName", "payloadDescriptors")


class VtnError(Exception):
    """quiet: nothing was sent (a rejected credential still backing off).
    status: the HTTP status the VTN answered, or None when it did not answer
    at all (transport failure: the next candidate address is worth a try)."""

    def __init__(self, text, quiet=False, status=None):
        super().__init__(text)
        self.quiet = quiet
        self.status = status


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


def _keep(fields):
    """A take() for ItemReducer: objects projected onto `fields`, deduplicated by id (first kept)."""
    out = []
    seen = set()

    def take(obj):
        if not isinstance(obj, dict):
            return None
        oid = obj.get("id")
        if oid is not None:
            if oid in seen:
                return False
            seen.add(oid)
        small = {}
        for k in fields:
            if k in obj:
                small[k] = obj[k]
        out.append(small)
    return out, take


class Dedup:
    """Wraps a schedule builder fed event by event (ven.eventstream): an event
    whose id was seen before (a duplicate in a page, or an overlap between
    pages) is dropped, the first one is kept; with program_id set, an event of
    another program is dropped too (counted in `other`): some VTNs ignore the
    programID query parameter. An event without programID is kept."""

    def __init__(self, builder):
        self.builder = builder
        self.program_id = None
        self.seen = set()
        self.dropped = 0
        self.other = 0
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
                self._drop()
                self.dropped += 1
                return
            self._id = value
        elif key == "programID" and self.program_id is not None and value != self.program_id:
            self._drop()
            self.other += 1
            return
        self.builder.event_field(key, value)

    def _drop(self):
        self._skip = True
        self.builder.abort_event()

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


class VtnClient:
    def __init__(self, base_url, vtn_cfg, connect_host=None, txt=None, source="config", log=None,
                 clock=time.time, ssl_ctx=None, on_date=None):
        self.base_url = base_url.rstrip("/")
        self.connect_host = connect_host
        self.log = log
        self.on_date = on_date
        self.timeout_s = vtn_cfg["http_timeout_s"]
        self.max_body = vtn_cfg["max_body_bytes"]
        self.insecure = bool(vtn_cfg.get("tls_insecure", False))
        self.targets = list(vtn_cfg.get("targets", []))
        self.page_limit = PAGE_LIMIT
        self.setup_error = None  # type: str | None
        self.version = _version_hint(self.base_url, txt)
        self.token_url = None  # type: str | None
        self.auth_server_checked = False
        self.vtn = None  # the discovery result this client serves (set by the loop)
        self.validators = {}  # type: dict  # url -> (ETag, Last-Modified, count) of the last 200
        self.fresh = 0      # 200 answers to conditional GETs since begin()
        self.unchanged = 0  # 304 answers since begin()
        self.answers = 0    # responses of any status since begin() (0: the VTN never answered)
        self._programs = None  # the last full answer of programs(), for a 304
        requires_auth = txt.get("requires_auth") if isinstance(txt, dict) else None
        self.auth = auth.Auth(vtn_cfg, requires_auth, clock)
        scheme, host = "", ""
        try:
            scheme, host = split_url(self.base_url)[:2]
            if not valid_host(host):
                raise URLError("%r is not a valid host name" % host)
        except URLError as e:
            self.setup_error = "VTN URL %s: %s" % (self.base_url, e)
        self.host = host
        self.verified = scheme == "https" and not self.insecure
        if scheme == "http" and source != "config" and vtn_cfg.get("default_scheme") != "http":
            self.setup_error = ("VTN %s offers plain http only; refusing it (set vtn.default_scheme to "
                                "\"http\" to allow plain http)" % self.base_url)
        if scheme == "https" and ssl_ctx is None and self.setup_error is None:
            from ven import tlsconf  # the loop gives its one context; loaded only without it
            try:
                ssl_ctx = tlsconf.client_context(tlsconf.load_ca(vtn_cfg), self.insecure)
            except tlsconf.TLSConfigError as e:
                self.setup_error = str(e)
        self.session = http_client.Session(self.timeout_s, self.max_body, ssl_ctx, self._on_connect,
                                           gzip=bool(vtn_cfg.get("gzip", False)))

    # --- transport ---

    def _on_connect(self, scheme, host, port, target):
        if scheme == "https" and self.insecure and self.log is not None:
            self.log.warning("TLS to %s:%d is NOT verified (vtn.tls_insecure is on)", host, port)

    async def begin(self):
        """Start a poll cycle (its requests share one kept-alive connection)."""
        self.fresh = 0
        self.unchanged = 0
        self.answers = 0

    async def end(self):
        await self.session.close()

    def url(self, path, params=None):
        query = ""
        if params:
            query = "?" + "&".join(["%s=%s" % (k, quote(v)) for k, v in params])
        return join(self.base_url, path) + query

    def _connect_for(self, url):
        try:
            host = split_url(url)[1]
        except URLError:
            return None
        return self.connect_host if host.lower() == self.host.lower() else None

    def _may_send_secrets(self, url):
        return url.lower().startswith("https://") or self.insecure

    async def _send(self, method, url, body=None, ctype=None, sink=None, with_token=True, headers=None):
        # One exchange; every failure becomes a VtnError that names the request once, with its cause.
        if self.setup_error is not None:
            raise VtnError(self.setup_error)
        headers = headers or {}
        if ctype:
            headers["Content-Type"] = ctype
        if with_token and self.auth.token is not None:
            if not self._may_send_secrets(url):
                raise VtnError("refusing to send the access token over plain http to %s "
                               "(use https, or set vtn.tls_insecure)" % url)
            headers.update(self.auth.header())
        try:
            resp = await self.session.request(method, url, headers, body, sink, self._connect_for(url))
        except http_client.HTTPError as e:
            raise VtnError("%s %s: %s" % (method, url, e))
        except http_client.BodyError as e:
            text = str(e)
            if not text.startswith("expected") and not text.startswith("list body"):
                text = "invalid JSON (%s)" % text
            raise VtnError("%s %s: %s" % (method, url, text))
        except URLError as e:
            raise VtnError("%s %s: %s" % (method, url, e))
        self.answers += 1
        if self.on_date is not None and "date" in resp.headers:
            self.on_date(resp.headers["date"], self.verified and url.startswith("https://"))
        return resp

    # --- auth ---

    def _fallback_token_url(self, why):
        url = join(self.base_url, "/auth/token")
        if self.log is not None:
            self.log.warning("%s; using %s as the token endpoint", why, url)
        return url

    async def _auth_server(self):
        """GET /auth/server once: the token URL and, by its absence, a 3.0.1 server.

        A VTN without it (3.0.1: 404), one that wants a token for it (401/403),
        or one announcing a token URL without a usable host gets {base}/auth/token,
        with one warning. A token URL on another host is used as it is: its TLS
        is checked like the VTN's own (same CA, its host name).
        """
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
                token_url = self._fallback_token_url("GET %s: no tokenURL in the answer" % url)
            elif token_url.startswith("/"):
                scheme, host, port = split_url(self.base_url)[:3]
                token_url = "%s://%s:%d%s" % (scheme, host, port, token_url)
            elif "://" not in token_url:
                token_url = join(self.base_url, token_url)
            try:
                if not valid_host(split_url(token_url)[1]):
                    raise URLError("no valid host")
            except URLError:
                token_url = self._fallback_token_url("GET %s: tokenURL %r has no usable host" % (url, token_url))
            self.token_url = token_url
            if self.version is None:
                self.version = "3.1"
        elif resp.status in (401, 403, 404, 405, 501):
            # 3.0.1 has no /auth/server (404/405/501); a VTN may also protect it (401/403).
            self.token_url = self._fallback_token_url("GET %s: HTTP %d" % (url, resp.status))
            if self.version is None and resp.status != 401 and resp.status != 403:
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

    async def call(self, method, path, params=None, obj=None, sink=None, ok=(200,), conditional=False):
        """One API request with auth; returns the Response or raises VtnError.

        conditional: send the validators of the last 200 to this URL; a 304
        then counts in `unchanged` (and is returned), a 200 in `fresh`."""
        url = self.url(path, params)
        await self._authorize()
        body = None
        if obj is not None:
            # An object that writes itself in pieces (ven.reports.Report), or plain JSON.
            body = obj.pieces if hasattr(obj, "pieces") else json.dumps(obj).encode("utf-8")
        ctype = "application/json" if body is not None else None
        headers = None
        if conditional:
            ok = ok + (304,)
            v = self.validators.get(url)
            if v is not None:
                headers = {}
                if v[0]:
                    headers["If-None-Match"] = v[0]
                if v[1]:
                    headers["If-Modified-Since"] = v[1]
        resp = await self._send(method, url, body, ctype, sink, headers=headers and dict(headers))
        if resp.status == 401 and self.auth.enabled:
            # Expired or revoked: one new token, one retry.
            self.auth.drop()
            await self._authorize()
            resp = await self._send(method, url, body, ctype, sink, headers=headers and dict(headers))
        if resp.status in ok:
            if conditional:
                self._note(url, resp, sink)
            return resp
        if 300 <= resp.status < 400:
            raise VtnError("%s %s: HTTP %d redirect to %s not followed (configure the new URL)" % (
                method, url, resp.status, resp.headers.get("location", "?")))
        hint = ""
        if resp.status == 401 and not self.auth.enabled:
            hint = " (the VTN wants a token: set vtn.client_id and vtn.client_secret)"
        raise VtnError("%s %s: HTTP %d %s %s%s" % (method, url, resp.status, resp.reason,
                                                  problem_text(resp.body), hint), status=resp.status)

    def _note(self, url, resp, sink):
        if resp.status == 304:
            self.unchanged += 1
            return
        self.fresh += 1
        tag = resp.headers.get("etag")
        stamp = resp.headers.get("last-modified")
        if tag or stamp:
            self.validators[url] = (tag, stamp, getattr(sink, "count", 0))
        else:
            self.validators.pop(url, None)

    async def pages(self, path, params, sink, conditional=False):
        """GET path page by page into sink until a short page. Returns the pages read."""
        skip = 0
        for n in range(MAX_PAGES):
            resp = await self.call("GET", path, params + [("skip", skip), ("limit", self.page_limit)], sink=sink,
                                   conditional=conditional)
            if resp.status == 304:
                # Unchanged: as many items as last time (the sink saw none of them).
                got = self.validators.get(self.url(path, params + [("skip", skip), ("limit", self.page_limit)]),
                                          (None, None, 0))[2]
                new = got
            else:
                got = sink.count
                new = sink.new
            if got < self.page_limit or new == 0:
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

    async def _list(self, path, params, fields, conditional=False):
        out, take = _keep(fields)
        await self.pages(path, params, ItemReducer(take), conditional)
        return out

    async def programs(self, conditional=False):
        """The VTN's programs, each reduced to what the VEN uses. conditional: when
        every page is unchanged (304), the list of the last full answer."""
        await self.ensure_version()
        fresh, unchanged = self.fresh, self.unchanged
        got = await self._list("/programs", self._target_params(), _PROGRAM_FIELDS, conditional)
        if self.unchanged > unchanged:
            if self.fresh == fresh and self._programs is not None:
                return self._programs
            # Some pages changed, some did not (their programs were not sent): all again, plainly.
            got = await self._list("/programs", self._target_params(), _PROGRAM_FIELDS)
        self._programs = got
        return got

    async def events_into(self, program_id, sink, conditional=False):
        """Every event of one program, paged, into sink (see the header). 3.1 VTNs
        are asked for active events only: those not yet over."""
        await self.ensure_version()
        params = [("programID", program_id)] + self._target_params()
        if self.version != "3.0":
            params.append(("active", "true"))
        await self.pages("/events", params, sink, conditional)

    # --- reports (ven.reports); VEN registration is ven.registration's ---

    async def post_report(self, report):
        """POST a report (anything call() takes as obj); the VTN's copy of it is not read."""
        await self.call("POST", "/reports", obj=report, sink=_Discard(), ok=(200, 201))


class _Discard:
    # A sink for answers the VEN does not need (a report echoed back can be long).
    count = 0
    new = 0

    def feed(self, buf, start, end):
        pass

    def finish(self):
        return 0


def select_programs(programs, wanted_names):
    """Programs whose programName is in wanted_names; all of them if the list is empty."""
    if not wanted_names:
        return programs
    return [p for p in programs if p.get("programName") in wanted_names]
