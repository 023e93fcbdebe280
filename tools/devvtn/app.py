"""OpenADR 3.1.0 VTN logic of the development VTN, independent of the transport.

VtnApp.handle(Request) -> Response. server.py turns HTTP into Requests and
Responses into bytes (and injects faults); nothing here touches sockets, so
HTTPS, paging of more collections or reports slot in as routes or transport.

Implemented (as a VEN sees a VTN):
    GET  {base}/programs          targets, skip, limit
    GET  {base}/programs/{id}
    GET  {base}/events            programID, targets, active, skip, limit
    GET  {base}/events/{id}
    GET  {base}/vens              venName, skip, limit (a client sees its own VENs)
    POST {base}/vens              VEN_VEN_REQUEST; 409 if the venName exists
    GET  {base}/vens/{id}
    GET  {base}/resources         venID, resourceName, skip, limit
    POST {base}/resources         VEN_RESOURCE_REQUEST; 409 if the name exists for that VEN
    GET  {base}/resources/{id}
    GET  {base}/reports           eventID, clientName, skip, limit
    POST {base}/reports           reportRequest (eventID must exist)
    GET  {base}/reports/{id}
    GET  {base}/auth/server       {"tokenURL": ...}
    POST {base}/auth/token        client credentials (form body or HTTP Basic)
    GET  /openapi.yaml            the spec, when the file is available

api_version "3.0.1" serves the 3.0.1 shape instead: no /auth/server, VEN
resources under /vens/{id}/resources, no objectType in VEN/resource requests,
reports need programID, and the 3.1-only query parameters (active, targets)
are refused with 400 so a client that sends them is caught.

Scenario "auth" options beyond required/clients/token_lifetime (for testing
clients against odd token endpoints): "omit_expires_in": true, "scope":
"a b" or ["a", "b"] (returned as given), "reject_status": 400/401/403 (403
answers with a problem body instead of an authError), "token_url": a
tokenURL to announce instead of our own /auth/token.

Quirks of real VTNs (quirks.py) applied here: hostless_token_url,
ignore_program_filter, space_timestamps, string_status, conflict_empty_list;
for etag, GET answers of objects carry `last_modified` for server.py.

Targets follow the 3.1.0 read_targets rules in simplified form: an object
without targets is visible to everyone; one with targets only to requests
naming at least one of them, and it shows only the requested targets.
When the scenario says auth.required, every {base} route except /auth/*
needs "Authorization: Bearer <token from /auth/token>".
"""

import base64
import binascii
import datetime
import http
import json
import secrets
import threading
import time
import urllib.parse

from tools.devvtn import quirks as quirks_mod
from tools.devvtn.periods import event_end, parse_datetime
from tools.devvtn.scenario import rfc3339

DEFAULT_BASE_PATH = "openadr3/3.1.0"
MAX_LIMIT = 50  # the schema's maximum for limit; also the default
JSON = "application/json"
PROBLEM = "application/problem+json"
# Routes (first path segment) whose GET answers are objects or lists of them.
OBJECT_ROUTES = ("programs", "events", "vens", "resources", "reports")
OBJECT_TIMESTAMPS = ("createdDateTime", "modificationDateTime")


class Request:
    def __init__(self, method, target, headers=None, body=b"", authority=""):
        self.method = method.upper()
        parts = urllib.parse.urlsplit(target)
        self.path = urllib.parse.unquote(parts.path) or "/"
        self.query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        # Header names are case-insensitive: keep them lower case.
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.body = body
        # host:port the client reached us on, for absolute URLs (tokenURL).
        self.authority = self.headers.get("host") or authority
        # Who sent it (the client_id behind its token, or "anonymous"); set by VtnApp.
        self.client_id = "anonymous"
        # The route pattern that matched, e.g. ("events", "*"), and the quirks in
        # effect (quirks.py); set by VtnApp.
        self.route = None
        self.quirks = frozenset()


class Response:
    def __init__(self, status, body=b"", content_type=JSON, headers=None, obj=None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = list(headers or [])
        # The JSON value the body encodes (json_response), for quirks that rewrite it.
        self.obj = obj
        # Epoch seconds for Last-Modified (etag quirk): set on GET answers of objects.
        self.last_modified = None


def json_response(obj, status=200):
    return Response(status, json.dumps(obj).encode("utf-8"), obj=obj)


def problem(status, detail, headers=None, string_status=False):
    body = {"type": "about:blank", "title": http.HTTPStatus(status).phrase,
            # string_status quirk: "500" where RFC 7807 has the number.
            "status": str(status) if string_status else status, "detail": detail}
    return Response(status, json.dumps(body).encode("utf-8"), PROBLEM, headers)


class HTTPProblem(Exception):
    """Raised by a route to answer with a problem body (built by VtnApp.handle)."""

    def __init__(self, status, detail, headers=None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


def _auth_error(status, error, description):
    # RFC 6749 section 5.2 errors are not problem bodies (schema authError).
    return json_response({"error": error, "error_description": description}, status)


def _one(query, name):
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise HTTPProblem(400, "query parameter %r given %d times" % (name, len(values)))
    return values[0]


def _int_param(query, name, default, low, high):
    raw = _one(query, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HTTPProblem(400, "query parameter %s=%r is not an integer" % (name, raw))
    if value < low or (high is not None and value > high):
        raise HTTPProblem(400, "query parameter %s=%d is outside %d..%s" % (name, value, low, high))
    return value


def _page(query, objects):
    skip = _int_param(query, "skip", 0, 0, None)
    limit = _int_param(query, "limit", MAX_LIMIT, 0, MAX_LIMIT)
    return objects[skip:skip + limit]


def _visible(obj, wanted):
    """The object as a client asking for targets `wanted` may see it, or None."""
    targets = obj.get("targets")
    if not targets:
        return obj
    shown = [t for t in targets if t in wanted]
    if not shown:
        return None
    if len(shown) == len(targets):
        return obj
    # Target hiding: never reveal targets the client did not name.
    return dict(obj, targets=shown)


def _filter_targets(query, objects):
    wanted = set(query.get("targets", ()))
    out = []
    for obj in objects:
        seen = _visible(obj, wanted)
        if seen is not None:
            out.append(seen)
    return out


def _space_timestamps(obj):
    """The space_timestamps quirk: '2026-12-01T20:39:42Z' -> '2026-12-01 20:39:42' in
    the objects' own timestamps (not in intervals or periods)."""
    if isinstance(obj, list):
        return [_space_timestamps(o) for o in obj]
    if not isinstance(obj, dict):
        return obj
    out = dict(obj)
    for key in OBJECT_TIMESTAMPS:
        value = out.get(key)
        if isinstance(value, str):
            try:
                stamp = parse_datetime(value)
            except ValueError:
                continue  # a scenario's own odd value goes out as written
            out[key] = datetime.datetime.fromtimestamp(int(stamp), datetime.timezone.utc).strftime(
                "%Y-%m-%d %H:%M:%S")
    return out


def _newest(obj, fallback):
    """Epoch seconds of the newest modificationDateTime in an answer, else fallback."""
    newest = None
    for o in obj if isinstance(obj, list) else [obj]:
        try:
            stamp = parse_datetime(o["modificationDateTime"])
        except (KeyError, TypeError, ValueError):
            continue
        newest = stamp if newest is None else max(newest, stamp)
    return fallback if newest is None else newest


def _flag(query, name):
    raw = _one(query, name)
    if raw is None:
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise HTTPProblem(400, "query parameter %s=%r is not a boolean" % (name, raw))


class VtnApp:
    # (path segments below the base path, "*" = an object id) -> {method: handler name}
    _COMMON_ROUTES = (
        (("programs",), {"GET": "search_programs"}),
        (("programs", "*"), {"GET": "get_program"}),
        (("events",), {"GET": "search_events"}),
        (("events", "*"), {"GET": "get_event"}),
        (("vens",), {"GET": "search_vens", "POST": "create_ven"}),
        (("vens", "*"), {"GET": "get_ven"}),
        (("reports",), {"GET": "search_reports", "POST": "create_report"}),
        (("reports", "*"), {"GET": "get_report"}),
        (("auth", "token"), {"POST": "auth_token"}),
    )
    ROUTES = _COMMON_ROUTES + (
        (("resources",), {"GET": "search_resources", "POST": "create_resource"}),
        (("resources", "*"), {"GET": "get_resource"}),
        (("auth", "server"), {"GET": "auth_server"}),
    )
    # 3.0.1: resources nested under their VEN, no /auth/server.
    ROUTES_301 = _COMMON_ROUTES + (
        (("vens", "*", "resources"), {"GET": "search_resources", "POST": "create_resource"}),
        (("vens", "*", "resources", "*"), {"GET": "get_ven_resource"}),
    )
    # Routes a client must reach before it has a token.
    OPEN_ROUTES = (("auth", "server"), ("auth", "token"))

    def __init__(self, store, base_path=DEFAULT_BASE_PATH, openapi_file=None,
                 scheme="http", clock=time.time, api_version="3.1.0", quirks=()):
        self.store = store
        # Quirks switched on for the whole run (--quirk); the scenario's switch over them.
        self.cli_quirks = frozenset(quirks_mod.check_name(q) for q in quirks)
        self.base_path = base_path.strip("/")
        self.openapi_file = openapi_file
        self.scheme = scheme
        self.clock = clock
        self.api_version = api_version
        self.v301 = api_version.startswith("3.0")
        self._tokens = {}
        self._tokens_lock = threading.Lock()
        # Objects VENs create live here, across scenario reloads.
        self._objects = {"VEN": [], "RESOURCE": [], "REPORT": []}
        self._objects_lock = threading.Lock()
        self._next_id = 1

    def relative_path(self, path):
        """'/openadr3/3.1.0/events' -> '/events'; None when outside the base path."""
        base = "/" + self.base_path if self.base_path else ""
        if path == base:
            return "/"
        if path.startswith(base + "/"):
            return path[len(base):]
        return None

    def quirks(self, scenario):
        """The quirks in effect for a request answered from this scenario."""
        return quirks_mod.active(self.cli_quirks, scenario.quirks)

    def handle(self, req, scenario=None):
        scenario = scenario or self.store.current()
        quirks = req.quirks = self.quirks(scenario)
        try:
            response = self._dispatch(req, scenario)
        except HTTPProblem as e:
            if e.status == 409 and "conflict_empty_list" in quirks:
                return json_response([], 409)
            return problem(e.status, e.detail, e.headers, "string_status" in quirks)
        if response.obj is None:
            return response
        if ("etag" in quirks and req.method == "GET" and response.status == 200
                and req.route and req.route[0] in OBJECT_ROUTES):
            # Before space_timestamps rewrites the times it is computed from.
            response.last_modified = _newest(response.obj, scenario.loaded_at)
        if "space_timestamps" in quirks:
            response.body = json.dumps(_space_timestamps(response.obj)).encode("utf-8")
        return response

    def _dispatch(self, req, scenario):
        rel = self.relative_path(req.path)
        if rel is None:
            if req.path == "/openapi.yaml" and req.method == "GET":
                return self.openapi()
            raise HTTPProblem(404, "no such resource: %s" % req.path)
        parts = tuple(p for p in rel.split("/") if p)
        if self.v301:
            for name in ("active", "targets"):
                if name in req.query:
                    raise HTTPProblem(400, "query parameter %r is not part of OpenADR 3.0.1" % name)
        for pattern, methods in (self.ROUTES_301 if self.v301 else self.ROUTES):
            if len(pattern) != len(parts):
                continue
            if not all(p == "*" or p == s for p, s in zip(pattern, parts)):
                continue
            name = methods.get(req.method)
            if name is None:
                raise HTTPProblem(405, "%s is not supported on %s" % (req.method, req.path),
                                  [("Allow", ", ".join(sorted(methods)))])
            req.client_id = self._client_of(req, scenario.requires_auth and pattern not in self.OPEN_ROUTES)
            req.route = pattern
            ids = [s for p, s in zip(pattern, parts) if p == "*"]
            return getattr(self, name)(req, scenario, *ids)
        raise HTTPProblem(404, "no such resource: %s" % req.path)

    # --- programs and events ---

    def search_programs(self, req, scenario):
        return json_response(_page(req.query, _filter_targets(req.query, scenario.programs)))

    def get_program(self, req, scenario, object_id):
        return self._get_one(req, scenario.program(object_id), "program", object_id)

    def search_events(self, req, scenario):
        events = scenario.events
        # ignore_program_filter quirk: like the reference implementation, never look at it.
        program_id = None if "ignore_program_filter" in req.quirks else _one(req.query, "programID")
        if program_id is not None:
            events = [e for e in events if e.get("programID") == program_id]
        if _flag(req.query, "active"):
            now = self.clock()
            events = [e for e in events if (event_end(e) or now + 1) > now]
        return json_response(_page(req.query, _filter_targets(req.query, events)))

    def get_event(self, req, scenario, object_id):
        return self._get_one(req, scenario.event(object_id), "event", object_id)

    def _get_one(self, req, obj, kind, object_id):
        if obj is not None:
            obj = _visible(obj, set(req.query.get("targets", ())))
        if obj is None:
            raise HTTPProblem(404, "no %s with id %r" % (kind, object_id))
        return json_response(obj)

    # --- VEN objects: vens, resources, reports ---

    def _body(self, req):
        try:
            obj = json.loads(req.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise HTTPProblem(400, "request body is not JSON")
        if not isinstance(obj, dict):
            raise HTTPProblem(400, "request body must be a JSON object")
        return obj

    def _store(self, kind, obj, client_id):
        now = rfc3339(self.clock())
        with self._objects_lock:
            obj = dict(obj)
            obj.update({"id": "%s-%d" % (kind.lower(), self._next_id), "createdDateTime": now,
                        "modificationDateTime": now, "objectType": kind})
            if not self.v301 or kind == "REPORT":
                obj["clientID"] = client_id
            self._next_id += 1
            self._objects[kind].append(obj)
            return obj

    def _own(self, kind, req):
        # Object privacy: a client sees the VEN objects it created.
        with self._objects_lock:
            return [o for o in self._objects[kind] if o.get("clientID", req.client_id) == req.client_id]

    def _one_of(self, kind, req, object_id):
        for o in self._own(kind, req):
            if o["id"] == object_id:
                return json_response(o)
        raise HTTPProblem(404, "no %s with id %r" % (kind.lower(), object_id))

    @staticmethod
    def _name(obj, key):
        value = obj.get(key)
        if not isinstance(value, str) or not 1 <= len(value) <= 128:
            raise HTTPProblem(400, "%s must be a string of 1..128 characters" % key)
        return value

    def search_vens(self, req, scenario):
        vens = self._own("VEN", req)
        name = _one(req.query, "venName")
        if name is not None:
            vens = [v for v in vens if v["venName"] == name]
        return json_response(_page(req.query, vens))

    def create_ven(self, req, scenario):
        body = self._body(req)
        name = self._name(body, "venName")
        kind = body.get("objectType")
        if self.v301:
            if kind not in (None, "VEN"):
                raise HTTPProblem(400, "objectType %r is not a 3.0.1 ven objectType" % kind)
            ven = {"venName": name}
        else:
            if kind != "VEN_VEN_REQUEST":
                raise HTTPProblem(400, "a VEN creates itself with objectType VEN_VEN_REQUEST, got %r" % kind)
            ven = {"venName": name}
        if body.get("attributes") is not None:
            ven["attributes"] = body["attributes"]
        with self._objects_lock:
            if any(v["venName"] == name for v in self._objects["VEN"]):
                raise HTTPProblem(409, "a ven named %r exists" % name)
        return json_response(self._store("VEN", ven, req.client_id), 201)

    def get_ven(self, req, scenario, ven_id):
        return self._one_of("VEN", req, ven_id)

    def search_resources(self, req, scenario, ven_id=None):
        res = self._own("RESOURCE", req)
        ven_id = ven_id or _one(req.query, "venID")
        if ven_id is not None:
            res = [r for r in res if r["venID"] == ven_id]
        name = _one(req.query, "resourceName")
        if name is not None:
            res = [r for r in res if r["resourceName"] == name]
        return json_response(_page(req.query, res))

    def create_resource(self, req, scenario, ven_id=None):
        body = self._body(req)
        name = self._name(body, "resourceName")
        if self.v301:
            if body.get("objectType") not in (None, "RESOURCE"):
                raise HTTPProblem(400, "objectType %r is not a 3.0.1 resource objectType" % body.get("objectType"))
        else:
            if body.get("objectType") != "VEN_RESOURCE_REQUEST":
                raise HTTPProblem(400, "a VEN creates resources with objectType VEN_RESOURCE_REQUEST")
            ven_id = self._name(body, "venID")
        if not any(v["id"] == ven_id for v in self._own("VEN", req)):
            raise HTTPProblem(404 if self.v301 else 400, "no ven with id %r" % ven_id)
        with self._objects_lock:
            if any(r["venID"] == ven_id and r["resourceName"] == name for r in self._objects["RESOURCE"]):
                raise HTTPProblem(409, "ven %s already has a resource named %r" % (ven_id, name))
        return json_response(self._store("RESOURCE", {"resourceName": name, "venID": ven_id}, req.client_id), 201)

    def get_resource(self, req, scenario, resource_id):
        return self._one_of("RESOURCE", req, resource_id)

    def get_ven_resource(self, req, scenario, ven_id, resource_id):
        for r in self._own("RESOURCE", req):
            if r["id"] == resource_id and r["venID"] == ven_id:
                return json_response(r)
        raise HTTPProblem(404, "no resource with id %r" % resource_id)

    def search_reports(self, req, scenario):
        reports = self._own("REPORT", req)
        for key in ("eventID", "clientName", "programID"):
            value = _one(req.query, key)
            if value is not None:
                reports = [r for r in reports if r.get(key) == value]
        return json_response(_page(req.query, reports))

    def create_report(self, req, scenario):
        body = self._body(req)
        event_id = self._name(body, "eventID")
        self._name(body, "clientName")
        if scenario.event(event_id) is None:
            raise HTTPProblem(400, "no event with id %r" % event_id)
        if self.v301:
            self._name(body, "programID")
        resources = body.get("resources")
        if not isinstance(resources, list) or not all(
                isinstance(r, dict) and isinstance(r.get("resourceName"), str) and isinstance(r.get("intervals"), list)
                for r in resources):
            raise HTTPProblem(400, "resources must be a list of {resourceName, intervals}")
        for key in ("id", "createdDateTime", "modificationDateTime", "objectType", "clientID"):
            body.pop(key, None)  # the VTN provisions these
        return json_response(self._store("REPORT", body, req.client_id), 201)

    def get_report(self, req, scenario, report_id):
        return self._one_of("REPORT", req, report_id)

    def objects(self, kind):
        """Snapshot of the VEN-created objects of one kind (tests, the demo)."""
        with self._objects_lock:
            return [dict(o) for o in self._objects[kind]]

    # --- auth ---

    def auth_server(self, req, scenario):
        if scenario.auth.get("token_url"):
            return json_response({"tokenURL": scenario.auth["token_url"]})
        base = "/" + self.base_path if self.base_path else ""
        # hostless_token_url quirk: a VTN that takes the host from a broken Host header.
        host = "" if "hostless_token_url" in req.quirks else req.authority
        url = "%s://%s%s/auth/token" % (self.scheme, host, base)
        return json_response({"tokenURL": url})

    def _client_of(self, req, required):
        """The client ID behind the request's token; raises 401 when required and missing."""
        if required:
            return self._check_token(req)
        auth = req.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            with self._tokens_lock:
                entry = self._tokens.get(auth[7:].strip())
            if entry is not None:
                return entry[0]
        return "anonymous"

    def _credentials(self, req):
        auth = req.headers.get("authorization", "")
        if auth[:6].lower() == "basic ":
            try:
                pair = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None, None
            client_id, _, secret = pair.partition(":")
            return urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)
        return None, None

    def auth_token(self, req, scenario):
        ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return _auth_error(400, "invalid_request",
                               "body must be application/x-www-form-urlencoded")
        try:
            form = urllib.parse.parse_qs(req.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return _auth_error(400, "invalid_request", "body is not UTF-8")
        form = {k: v[0] for k, v in form.items()}
        if form.get("grant_type") != "client_credentials":
            return _auth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
        client_id, secret = self._credentials(req)
        client_id = form.get("client_id", client_id)
        secret = form.get("client_secret", secret)
        if not client_id or not secret:
            return _auth_error(400, "invalid_request", "client_id and client_secret are required")
        clients = scenario.auth.get("clients") or {}
        # No clients listed: any credentials will do (a development convenience).
        if clients and clients.get(client_id) != secret:
            status = int(scenario.auth.get("reject_status", 401))
            if status == 403:
                raise HTTPProblem(403, "client %r is not allowed here" % client_id)
            return _auth_error(status, "invalid_client", "unknown client_id or wrong client_secret")
        lifetime = int(scenario.auth.get("token_lifetime", 3600))
        token = secrets.token_urlsafe(24)
        with self._tokens_lock:
            now = self.clock()
            # Forget expired tokens so a long run does not grow without bound.
            for old in [t for t, (_, exp) in self._tokens.items() if exp <= now]:
                del self._tokens[old]
            self._tokens[token] = (client_id, now + lifetime)
        answer = {"access_token": token, "token_type": "Bearer"}
        if not scenario.auth.get("omit_expires_in"):
            answer["expires_in"] = lifetime
        if scenario.auth.get("scope") is not None:
            answer["scope"] = scenario.auth["scope"]
        return json_response(answer)

    def _check_token(self, req):
        auth = req.headers.get("authorization", "")
        challenge = [("WWW-Authenticate", 'Bearer realm="devvtn"')]
        if auth[:7].lower() != "bearer ":
            raise HTTPProblem(401, "this VTN requires a Bearer token from /auth/token", challenge)
        with self._tokens_lock:
            entry = self._tokens.get(auth[7:].strip())
        if entry is None or entry[1] <= self.clock():
            raise HTTPProblem(401, "unknown or expired access token", challenge)
        return entry[0]

    # --- outside the base path ---

    def openapi(self):
        if not self.openapi_file:
            raise HTTPProblem(404, "no OpenAPI file configured")
        try:
            with open(self.openapi_file, "rb") as f:
                return Response(200, f.read(), "application/yaml")
        except OSError:
            raise HTTPProblem(404, "OpenAPI file not available here")
