"""Fault injection rules of the development VTN.

A rule is a JSON object; it comes from the scenario's "faults" list (re-read
with the scenario, so a test can switch faults on and off mid-run) or from a
`--fault key=value,key=value` command-line flag (active for the whole run).

Which requests a rule hits:
    path         prefix of the path below the base path, e.g. "/events" hits
                 /events and /events/7 but not /eventsX; paths outside the base
                 path ("/openapi.yaml") are matched whole. Default: every path.
    method       "GET", "POST", ... Default: every method.
    times        hit only the first N matching requests (counted per rule; a
                 scenario reload restarts the count). Default: every request.

What it does (several matching rules combine):
    status       answer with this HTTP status and a problem+json body
                 instead of the real answer (e.g. 500, 503, 401).
    invalid_json send a body that is not valid JSON (the real body cut in half).
    delay        seconds to wait before sending the status line.
    body_delay   seconds to wait between the headers and the body.
    chunked      send the body with Transfer-Encoding: chunked ...
    chunk_size   ... in chunks of this many bytes (default 64).
    close        close the connection without answering at all.

Examples:
    "faults": [{"path": "/events", "status": 500, "times": 2},
               {"path": "/programs", "invalid_json": true},
               {"delay": 1.5}, {"chunked": true, "chunk_size": 7}]
    --fault path=/events,status=500   --fault chunked=true,chunk_size=7
"""

import json
import threading

_KEYS = {
    "path": str, "method": str, "times": int,
    "status": int, "invalid_json": bool, "delay": (int, float),
    "body_delay": (int, float), "chunked": bool, "chunk_size": int, "close": bool,
}


def check_rule(rule):
    """Raise ValueError unless rule is a well-formed fault rule."""
    if not isinstance(rule, dict):
        raise ValueError("a fault rule must be an object, not %r" % (rule,))
    for key, value in rule.items():
        kind = _KEYS.get(key)
        if kind is None:
            raise ValueError("unknown fault key %r (known: %s)" % (key, ", ".join(sorted(_KEYS))))
        # bool is an int in Python: reject true where a number is meant and vice versa.
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
            raise ValueError("fault key %r has a bad value %r" % (key, value))
    if "status" in rule and not 100 <= rule["status"] <= 599:
        raise ValueError("fault status %r is not an HTTP status" % rule["status"])
    if rule.get("chunk_size", 1) < 1 or rule.get("times", 0) < 0:
        raise ValueError("fault chunk_size must be >= 1 and times >= 0: %r" % (rule,))
    if rule.get("delay", 0) < 0 or rule.get("body_delay", 0) < 0:
        raise ValueError("fault delays must be >= 0: %r" % (rule,))


def parse_cli_rule(text):
    """'path=/events,status=500' -> {"path": "/events", "status": 500}."""
    rule = {}
    for item in text.split(","):
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not key or not eq:
            raise ValueError("fault %r: expected key=value[,key=value...]" % text)
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw  # plain strings such as paths need no quotes
        rule[key] = value
    check_rule(rule)
    return rule


class Effect:
    """What to do to one response; the merge of every rule that hit the request."""

    def __init__(self):
        self.status = None
        self.invalid_json = False
        self.delay = 0.0
        self.body_delay = 0.0
        self.chunked = False
        self.chunk_size = 64
        self.close = False
        self.names = []

    def add(self, rule):
        if self.status is None and "status" in rule:
            self.status = rule["status"]
        self.invalid_json = self.invalid_json or rule.get("invalid_json", False)
        self.delay = max(self.delay, float(rule.get("delay", 0)))
        self.body_delay = max(self.body_delay, float(rule.get("body_delay", 0)))
        if rule.get("chunked"):
            self.chunked = True
            self.chunk_size = rule.get("chunk_size", self.chunk_size)
        self.close = self.close or rule.get("close", False)
        self.names.append(",".join("%s=%s" % kv for kv in rule.items()))

    def __bool__(self):
        return bool(self.names)


def _hits(rule, method, path):
    if "method" in rule and rule["method"].upper() != method:
        return False
    prefix = rule.get("path", "").rstrip("/")
    return not prefix or path == prefix or path.startswith(prefix + "/")


class Injector:
    """Chooses the effect for each request from command-line and scenario rules."""

    def __init__(self, cli_rules=()):
        self._cli = list(cli_rules)
        self._counts = {}
        self._lock = threading.Lock()

    def effect(self, method, path, scenario_rules, generation):
        effect = Effect()
        sources = [("cli", self._cli), (generation, scenario_rules)]
        with self._lock:
            for source, rules in sources:
                for index, rule in enumerate(rules):
                    if not _hits(rule, method, path):
                        continue
                    key = (source, index)
                    used = self._counts.get(key, 0)
                    if "times" in rule and used >= rule["times"]:
                        continue
                    self._counts[key] = used + 1
                    effect.add(rule)
        return effect
