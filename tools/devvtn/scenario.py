"""Scenario files of the development VTN: loading, server-side fields, hot reload.

A scenario is one JSON object:

    {
      "programs": [ {OpenADR 3 program}, ... ],
      "events":   [ {OpenADR 3 event}, ... ],
      "auth":     {"required": false, "clients": {"ven-1": "secret"},
                   "token_lifetime": 3600},            (optional)
      "faults":   [ {fault rule}, ... ]                (optional, see faults.py)
      "quirks":   {"etag": true, ...}                  (optional, see quirks.py)
    }

Programs and events are written as a VTN would return them; the fields a VTN
provisions itself (id, createdDateTime, modificationDateTime, objectType) may
be left out and are filled in here (a missing id becomes the object's
position in its list, "1", "2", ...). An event without programID gets the id of
the only program when there is exactly one.

ScenarioStore re-reads the file when it changes (inode, size or mtime), so a
test or the demo can swap prices while the server runs. Write the new file to
a temporary name and os.replace() it over the old one: a half-written file
fails to parse and is ignored until the next change (the old scenario stays).
Objects whose content did not change keep their timestamps across a reload;
changed or new ones get modificationDateTime = now, so a VEN can spot changes.
"""

import copy
import datetime
import json
import os
import re
import sys
import threading
import time

from tools.devvtn.faults import check_rule
from tools.devvtn.quirks import check_switches

OBJECT_ID = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
SERVER_FIELDS = ("id", "createdDateTime", "modificationDateTime", "objectType")


class ScenarioError(ValueError):
    pass


def rfc3339(ts):
    """Epoch seconds -> 'YYYY-MM-DDTHH:MM:SSZ' (UTC, whole seconds)."""
    return datetime.datetime.fromtimestamp(int(ts), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


class Scenario:
    """One loaded scenario: immutable by convention, replaced as a whole on reload."""

    def __init__(self, programs, events, auth, faults, quirks=None, loaded_at=0.0):
        self.programs = programs
        self.events = events
        self.auth = auth
        self.faults = faults
        # {quirk name: on}; combined with the command line's by quirks.active().
        self.quirks = quirks or {}
        # Epoch seconds of this load: Last-Modified of answers without objects (etag quirk).
        self.loaded_at = loaded_at
        # Which load of the file this is (ScenarioStore); restarts fault "times" counts.
        self.generation = 0

    @property
    def program_names(self):
        return [p["programName"] for p in self.programs]

    @property
    def requires_auth(self):
        return bool(self.auth.get("required"))

    def program(self, object_id):
        return _by_id(self.programs, object_id)

    def event(self, object_id):
        return _by_id(self.events, object_id)


def _by_id(objects, object_id):
    for obj in objects:
        if obj["id"] == object_id:
            return obj
    return None


def _objects(doc, key, where):
    items = doc.get(key, [])
    if not isinstance(items, list) or not all(isinstance(o, dict) for o in items):
        raise ScenarioError("%s: %r must be a list of objects" % (where, key))
    return items


def _fill(objects, object_type, previous, now, where):
    """Copy objects and add the server-side fields; keep timestamps of unchanged ones."""
    out = []
    seen = set()
    for index, src in enumerate(objects):
        obj = copy.deepcopy(src)
        object_id = str(obj.get("id", index + 1))
        if not OBJECT_ID.match(object_id):
            raise ScenarioError("%s: %s id %r is not a valid objectID" % (where, object_type, object_id))
        if object_id in seen:
            raise ScenarioError("%s: duplicate %s id %r" % (where, object_type, object_id))
        seen.add(object_id)
        obj["id"] = object_id
        obj.setdefault("objectType", object_type)
        old = previous.get(object_id)
        if old is not None and old[0] == src:
            # Unchanged since the last load: a VEN must not see a new modification time.
            stamps = old[1]
        else:
            created = old[1][0] if old is not None else rfc3339(now)
            stamps = (created, rfc3339(now))
        obj.setdefault("createdDateTime", stamps[0])
        obj.setdefault("modificationDateTime", stamps[1])
        out.append(obj)
    return out


def build(doc, previous=None, now=None, where="scenario"):
    """Parsed JSON document -> Scenario. previous: {(kind, id): (source, stamps)}."""
    if not isinstance(doc, dict):
        raise ScenarioError("%s: top level must be a JSON object" % where)
    previous = previous or {}
    now = time.time() if now is None else now
    programs_src = _objects(doc, "programs", where)
    events_src = _objects(doc, "events", where)
    for p in programs_src:
        name = p.get("programName")
        if not isinstance(name, str) or not name:
            raise ScenarioError("%s: every program needs a programName" % where)
    programs = _fill(programs_src, "PROGRAM",
                     {k[1]: v for k, v in previous.items() if k[0] == "PROGRAM"}, now, where)
    events = _fill(events_src, "EVENT",
                   {k[1]: v for k, v in previous.items() if k[0] == "EVENT"}, now, where)
    for e in events:
        if "programID" not in e:
            if len(programs) != 1:
                raise ScenarioError("%s: event %r has no programID" % (where, e["id"]))
            e["programID"] = programs[0]["id"]
    auth = doc.get("auth", {})
    if not isinstance(auth, dict):
        raise ScenarioError("%s: 'auth' must be an object" % where)
    clients = auth.get("clients", {})
    if not isinstance(clients, dict):
        raise ScenarioError("%s: auth.clients must map client_id to client_secret" % where)
    faults = doc.get("faults", [])
    if not isinstance(faults, list) or not all(isinstance(f, dict) for f in faults):
        raise ScenarioError("%s: 'faults' must be a list of objects" % where)
    for rule in faults:
        try:
            check_rule(rule)
        except ValueError as e:
            raise ScenarioError("%s: %s" % (where, e))
    quirks = doc.get("quirks", {})
    try:
        check_switches(quirks)
    except ValueError as e:
        raise ScenarioError("%s: %s" % (where, e))
    return Scenario(programs, events, auth, faults, dict(quirks), now)


def _sources(doc, scenario):
    """The stamps memory for the next reload: (kind, id) -> (source object, stamps)."""
    memory = {}
    for kind, key, objects in (("PROGRAM", "programs", scenario.programs),
                               ("EVENT", "events", scenario.events)):
        for src, obj in zip(doc.get(key, []), objects):
            memory[(kind, obj["id"])] = (src, (obj["createdDateTime"], obj["modificationDateTime"]))
    return memory


def load(path, now=None):
    with open(path, "rb") as f:
        return build(json.loads(f.read().decode("utf-8")), now=now, where=path)


class ScenarioStore:
    """The current scenario of a running server, re-read when the file changes."""

    def __init__(self, path, clock=time.time, log=None):
        self.path = path
        self._clock = clock
        self._log = log or (lambda msg: print("devvtn: " + msg, file=sys.stderr, flush=True))
        self._lock = threading.Lock()
        self._memory = {}
        self._stamp = None
        self._scenario = None
        self.generation = 0
        # The first load must succeed: a broken scenario at start is a usage error.
        self._load(self._file_stamp())

    def _file_stamp(self):
        st = os.stat(self.path)
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _load(self, stamp):
        with open(self.path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
        scenario = build(doc, self._memory, self._clock(), self.path)
        self._memory = _sources(doc, scenario)
        self.generation += 1
        scenario.generation = self.generation
        self._scenario = scenario
        self._stamp = stamp

    def refresh(self):
        """Reload if the file changed. Returns True when a new scenario took effect."""
        with self._lock:
            try:
                stamp = self._file_stamp()
            except OSError as e:
                self._log("scenario %s unreadable, keeping the old one: %s" % (self.path, e))
                return False
            if stamp == self._stamp:
                return False
            try:
                self._load(stamp)
            except (OSError, ValueError) as e:
                # Remember the stamp so a broken file is reported once, not per request.
                self._stamp = stamp
                self._log("scenario %s not reloaded, keeping the old one: %s" % (self.path, e))
                return False
            self._log("scenario %s reloaded (generation %d)" % (self.path, self.generation))
            return True

    def current(self):
        self.refresh()
        with self._lock:
            return self._scenario
