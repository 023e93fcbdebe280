"""Check recorded VEN <-> VTN exchanges against OpenADR 3: the third-party `openadr3`
package's models (PyPI, pinned in tools/requirements-host.txt) and, where the spec is
present (../shared/spec), the OpenAPI file itself with openapi-core.

    check_records(vtn.records(), "3.1.0")   # raises AssertionError naming the exchange

What is checked, per exchange recorded by the dev VTN (tools/devvtn --record):
- request bodies the VEN sends (POST /vens, /resources, /reports) against
  openadr3's raw models, and every request (path, query, body) against the
  OpenAPI operation;
- every 2xx body the VTN returns against openadr3's raw models (and coerced
  into its typed entities), and every response against the OpenAPI file.

Known defects of the published 3.1.0 YAML are patched before validating, each
named below; without the patches no server could ever conform:
- BlVenRequest.targets has `default: 'null          -'` (a stray dash): not an
  array, so openapi-core refuses the whole file;
- ven = objectMetadata (objectType VEN) AND BlVenRequest (objectType
  BL_VEN_REQUEST): no object satisfies both; likewise resource/RESOURCE. The
  enum is widened to accept the objectMetadata value;
- discriminators on objectType without a mapping (program.payloadDescriptors)
  make validators look for a schema named after the value
  ('#/components/schemas/EVENT_PAYLOAD_DESCRIPTOR'), which does not exist:
  they are dropped, the anyOf/oneOf they sit on still applies;
- error responses are declared as application/json only; a problem body is
  application/problem+json (RFC 7807), so that media type is checked with the
  same schema.
Requests without a token (a non-authenticating VTN, the spec's own exception)
skip the OpenAPI security requirement, nothing else.
"""
import json
import os
import warnings

import pytest

# openapi-core does not validate oauth2 security schemes and says so per request.
warnings.filterwarnings("ignore", "Unsupported scheme type")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC_ROOT = os.environ.get("OPENADR_SPEC_DIR") or os.path.join(os.path.dirname(REPO), "shared", "spec")
HOST = "https://vtn.test"

openadr3_raw = pytest.importorskip("openadr3.entities.raw")
openadr3 = pytest.importorskip("openadr3")

_APIS = {}


def _fix_spec(node):
    if isinstance(node, dict):
        if isinstance(node.get("default"), str) and node["default"].startswith("null "):
            node["default"] = None
        disc = node.get("discriminator")
        if isinstance(disc, dict) and "mapping" not in disc:
            del node["discriminator"]
        for v in node.values():
            _fix_spec(v)
    elif isinstance(node, list):
        for v in node:
            _fix_spec(v)


def spec_path(version):
    path = os.path.join(SPEC_ROOT, version, "openadr3.yaml")
    return path if os.path.isfile(path) else None


def openapi(version):
    """openapi-core OpenAPI object for the version (patched, see above), or None if absent."""
    if version in _APIS:
        return _APIS[version]
    path = spec_path(version)
    api = None
    if path is not None:
        import yaml
        from openapi_core import OpenAPI
        with open(path) as f:
            doc = yaml.safe_load(f)
        _fix_spec(doc)
        schemas = doc["components"]["schemas"]
        for name, meta in (("BlVenRequest", "VEN"), ("BlResourceRequest", "RESOURCE"),
                           ("ven", "VEN"), ("resource", "RESOURCE")):
            enum = schemas.get(name, {}).get("properties", {}).get("objectType", {}).get("enum")
            if enum is not None and meta not in enum:
                enum.append(meta)
        for resp in doc["components"].get("responses", {}).values():
            content = resp.get("content", {})
            if "application/json" in content:
                content.setdefault("application/problem+json", content["application/json"])
        for item in doc["paths"].values():
            for op in item.values():
                if not isinstance(op, dict):
                    continue
                for resp in op.get("responses", {}).values():
                    content = resp.get("content", {}) if isinstance(resp, dict) else {}
                    if "application/json" in content:
                        content.setdefault("application/problem+json", content["application/json"])
        base = "openadr3/%s" % version
        doc["servers"] = [{"url": "%s/%s" % (HOST, base)}]
        api = OpenAPI.from_dict(doc)
    _APIS[version] = api
    return api


# Request bodies by (method, path below the base) -> openadr3 raw model.
_REQUEST_MODELS = {("POST", "/vens"): "RawVen", ("POST", "/reports"): "RawReport"}
# 2xx answers by the first path segment -> openadr3 raw model.
_RESPONSE_MODELS = {"programs": "RawProgram", "events": "RawEvent", "vens": "RawVen",
                    "resources": "RawResource", "reports": "RawReport"}


def _model(name, obj, what):
    cls = getattr(openadr3_raw, name)
    try:
        cls.model_validate(obj)
    except Exception as e:  # pydantic.ValidationError; any failure is the finding
        raise AssertionError("%s: not a valid openadr3 %s: %s\n%r" % (what, name, e, obj))


def check_models(rec):
    rel = rec["rel"] or ""
    parts = [p for p in rel.split("/") if p]
    what = "%s %s -> %s" % (rec["method"], rec["path"], rec["status"])
    if rec["method"] == "POST" and rec["body"] and rec["content_type"] == "application/json":
        body = json.loads(rec["body"])
        if parts == ["resources"] or (len(parts) == 3 and parts[2] == "resources"):
            _model("RawResource", dict(body, venID=body.get("venID") or parts[1]), what + " request")
        elif (rec["method"], "/" + "/".join(parts)) in _REQUEST_MODELS:
            _model(_REQUEST_MODELS[(rec["method"], "/" + "/".join(parts))], body, what + " request")
    if not 200 <= rec["status"] < 300 or not parts:
        return
    key = parts[2] if len(parts) >= 3 and parts[2] == "resources" else parts[0]
    name = _RESPONSE_MODELS.get(key)
    if name is None:
        return
    data = json.loads(rec["response"])
    for obj in (data if isinstance(data, list) else [data]):
        _model(name, obj, what + " answer")
        try:
            openadr3.coerce(obj)
        except Exception as e:
            raise AssertionError("%s answer: openadr3.coerce fails: %s\n%r" % (what, e, obj))


def check_openapi(rec, version):
    api = openapi(version)
    if api is None:
        return False
    from openapi_core.testing import MockRequest, MockResponse
    from openapi_core.validation.request.exceptions import SecurityValidationError
    args = []
    for k, values in rec["query"].items():
        for v in values:
            args.append((k, v))
    headers = {"Authorization": "Bearer x"} if rec["authorization"] == "Bearer" else {}
    req = MockRequest(HOST, rec["method"].lower(), rec["path"], args=args, headers=headers,
                      data=rec["body"].encode("utf-8"), content_type=rec["content_type"] or "application/json")
    what = "%s %s?%s -> %s" % (rec["method"], rec["path"], rec["query"], rec["status"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        _validate(api, req, headers, what, version, rec)
    return True


def _validate(api, req, headers, what, version, rec):
    from openapi_core.testing import MockResponse
    from openapi_core.validation.request.exceptions import SecurityValidationError
    try:
        api.validate_request(req)
    except SecurityValidationError:
        if headers:
            raise
    except Exception as e:
        raise AssertionError("%s: request does not conform to the OpenAPI %s file: %r %s" % (
            what, version, e, getattr(e, "__cause__", "")))
    resp = MockResponse(rec["response"].encode("utf-8"), status_code=rec["status"],
                        content_type=rec["response_type"])
    try:
        api.validate_response(req, resp)
    except Exception as e:
        raise AssertionError("%s: answer does not conform to the OpenAPI %s file: %r %s\n%s" % (
            what, version, e, getattr(e, "__cause__", ""), rec["response"][:500]))


def check_records(records, version="3.1.0", openapi_too=True):
    """Every recorded exchange against the models (and the OpenAPI file if present).
    Returns how many were checked against the OpenAPI file."""
    assert records, "nothing was recorded"
    n = 0
    for rec in records:
        check_models(rec)
        if openapi_too and check_openapi(rec, version):
            n += 1
    return n
