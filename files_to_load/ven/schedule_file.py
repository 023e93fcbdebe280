# The saved schedule (schedule.bin): a reboot without network resumes it.
# Loaded by the main loop to save a new schedule or resume one at start, then
# let go (its checks are cold code).
#
#   schedule_file.save(sched, "schedule.bin", now)
#   sched = schedule_file.load("schedule.bin", log)    # None: no usable file
#
# Format (FILE_VERSION 2): one JSON header line, then each
# track's arrays as raw bytes (little-endian, as on the ESP32 and every host this
# runs on), then the checksum trailer of ven.store. Written to a temporary file
# and renamed over the old one, so a reset mid-write leaves the previous schedule
# intact. Header: {"v": 2, "vt": "f"|"d", "saved": Unix s|null, "units": {type:
# text}, "anchors": {event id: [modificationDateTime|null, Unix s]}, "tracks":
# [[type, base, until|null, period, priority|null, modified, event id|null, n]]}
# and per track n offsets ("i") then n values ("vt"). load() checks every field,
# every count against the bytes left and every value before anything is used.

import array
import json

from ven import schedule, store
from ven.schedule import FILE_VERSION, FOREVER, GAP, Schedule, Track


_SIZES = {"i": 4, "f": 4, "d": 8}
_TMAX = 1 << 42  # |Unix seconds| beyond any real time (start + isotime.INFINITE included)
_VMAX = float(1 << 127)  # values lie in (-_VMAX, _VMAX), or are GAP (exact in single precision)


def _header(sched, now):
    VALUE_TYPE = schedule.VALUE_TYPE
    tracks = []
    for typ in sorted(sched.tracks):
        for tr in sched.tracks[typ]:
            eid = tr.event_id
            if eid is not None and not isinstance(eid, str):
                eid = str(eid)  # a VTN's non-string id: the file keeps text
            tracks.append([typ, tr.base, tr.until, tr.period, tr.priority, tr.modified, eid, len(tr.t)])
    anchors = {}
    for k in sched.anchors:
        a = sched.anchors[k]
        if isinstance(k, str) and (a[0] is None or isinstance(a[0], str)):
            anchors[k] = list(a)
    return {"v": FILE_VERSION, "vt": VALUE_TYPE, "saved": now, "units": sched.units,
            "anchors": anchors, "tracks": tracks}


def save(sched, path, now=None):
    """Write sched to path (atomically, with its checksum)."""
    def parts():
        yield (json.dumps(_header(sched, now)) + "\n").encode("utf-8")
        for typ in sorted(sched.tracks):
            for tr in sched.tracks[typ]:
                yield tr.t
                yield tr.v

    store.write_atomic(path, parts())


def _time(x, lo=-_TMAX, hi=_TMAX):
    return isinstance(x, int) and not isinstance(x, bool) and lo <= x < hi


def _check(ok, what):
    if not ok:
        raise ValueError(what)


def _read_array(r, typecode, n):
    a = array.array(typecode, range(n))  # then overwritten in place
    r.readinto(a, _SIZES[typecode] * n)
    return a


def _parse(r):
    head = json.loads(r.line())
    _check(isinstance(head, dict), "header is not an object")
    _check(head.get("v") == FILE_VERSION, "version %r, not %d" % (head.get("v"), FILE_VERSION))
    vt = head.get("vt")
    saved = head.get("saved")
    units = head.get("units")
    anchors = head.get("anchors")
    entries = head.get("tracks")
    _check(vt == "f" or vt == "d", "value type %r" % (vt,))
    _check(saved is None or _time(saved), "saved time %r" % (saved,))
    _check(isinstance(units, dict), "units not an object")
    for k in units:
        if not isinstance(units[k], str):
            raise ValueError("units of %s not text" % k)
    _check(isinstance(anchors, dict), "anchors not an object")
    for k in anchors:
        a = anchors[k]
        if not (isinstance(a, list) and len(a) == 2 and (a[0] is None or isinstance(a[0], str)) and _time(a[1])):
            raise ValueError("anchor of %s malformed" % k)
        anchors[k] = (a[0], a[1])
    _check(isinstance(entries, list), "tracks not a list")
    tracks = {}  # type: dict
    for i in range(len(entries)):
        e = entries[i]
        what = "track %d" % i
        _check(isinstance(e, list) and len(e) == 8, what + ": not 8 fields")
        typ, base, until, period, prio, modified, eid, n = e
        _check(isinstance(typ, str) and _time(base) and (until is None or _time(until)) and _time(period, 0, FOREVER)
               and (prio is None or _time(prio, 0)) and _time(modified) and (eid is None or isinstance(eid, str))
               and _time(n, 1), what + ": a field of the wrong type or range")
        r.need(n * (4 + _SIZES[vt]))  # before allocating: a count the file cannot hold fails here
        t = _read_array(r, "i", n)
        prev = 0
        for x in t:
            if not prev <= x < FOREVER:
                raise ValueError(what + ": breakpoints out of order")
            prev = x
        v = _read_array(r, vt, n)
        if vt != schedule.VALUE_TYPE:
            v = array.array(schedule.VALUE_TYPE, v)
        for x in v:
            if not (x == GAP or -_VMAX < x < _VMAX):
                raise ValueError(what + ": value %r" % x)
        tracks.setdefault(typ, []).append(Track(base, t, v, until, period, prio, modified, eid))
    return Schedule(tracks, anchors, units, saved)


def load(path, log=None):
    """The Schedule saved at path, or None if there is none or it is not usable
    (then it is moved to path + ".bad" with one line to log: ven.store.load)."""
    return store.load(path, _parse, log)
