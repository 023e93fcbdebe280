# OpenADR 3 events -> a compact schedule of values per payload type. Device-independent.
#
# Events arrive one at a time (from ven.eventstream while the body streams in,
# or as dicts) and go into a Builder, which keeps each event's intervals in
# `array`s until the event is complete (its fields may come in any order) and
# then resolves it into one Track per payload type. A Schedule is the tracks of
# all events; it answers "what value now?" and "when does anything change?".
#
#   b = schedule.Builder(("PRICE",), now, seed="ven-1234")
#   b.add_event(event_dict)              # or EventReducer(b).feed(chunk) ...
#   sched = b.finish()                   # b.errors: events skipped, with reasons
#   sched.value_at("PRICE", t)           # None if no interval covers t
#   sched.next_change(t)                 # next boundary after t (Unix s), or None
#   (saved to and loaded from the flash by ven.schedule_file)
#
# Rules (OpenADR 3.1.0 User Guide section 7, openadr3.yaml):
# - event.intervalPeriod gives the default start/duration of the intervals; an
#   interval's own intervalPeriod overrides it. An interval without a start (or
#   with the "now" start 0001-01-01 / 0000-00-00) follows the previous interval
#   in list order (interval ids are "not a sequence number"); the first one
#   starts at the event's start. An event start of "now" is the moment this VEN
#   first saw the event (kept per event id and modificationDateTime, so polling
#   does not move it); a "now" start of the first interval without an event
#   intervalPeriod is the same.
# - Where intervals of one event overlap, the later one in the list wins.
# - PRICE, EXPORT_PRICE and GHG payloads with several values split their
#   interval evenly (integer seconds); other types use their first value.
#   Values must be numbers for those three; for other types booleans count as
#   1/0 and a string (e.g. an alert's text) as 1: "present".
# - event.duration truncates the intervals (from the first interval's start) or,
#   when longer than their span, repeats them with the span as period; P9999Y
#   repeats for ever.
# - randomizeStart shifts starts by a deterministic draw in [-R, +R] seconds
#   from this VEN's seed and the event id: the same shift at every poll. An
#   interval's own randomizeStart (PT0S included) replaces the shift from that
#   interval on; following intervals move with the one before them.
# - Overlapping events: lower `priority` wins (0 highest; none = lowest), then
#   the later modificationDateTime, then the event the VTN listed first. An
#   event whose own interval has no value at t lets the next one through.
# - An event with start "now" and duration PT0S is cancelled: it has no values.
#   A deleted event is simply absent from the next poll's schedule.
#
# Representation (the memory budget is ~100 KB of heap for everything): a Track
# holds breakpoints as offsets in seconds from its base in array("i") and
# values in array("f") where floats are single precision (ESP32), array("d")
# elsewhere, so nothing is lost on any port: 8 bytes per interval on the board.
# Timestamps stay Unix seconds (int) in the API; only offsets go into arrays,
# so they fit 32 bits for 68 years from the event's start whatever the port's
# epoch. FOREVER marks "open-ended". GAP marks "no value" (finite, so arrays
# compare and persist byte for byte).

import array

from ven import isotime

GAP = -float(1 << 127)  # exact in single precision; made at run time (a frozen float constant keeps 16 digits)
VALUE_TYPE = "f" if (1.0 + 2.0 ** -30) == 1.0 else "d"
FOREVER = 0x7FFFFFFF
PACKED_TYPES = ("PRICE", "EXPORT_PRICE", "GHG")
# Events without a priority rank below every explicit one (spec: lowest priority).
NO_PRIORITY = None
MAX_ERRORS = 16
FILE_VERSION = 2  # schedule.bin layout: see ven.schedule_file

# Raw interval periods are kept in array("i"): explicit starts as offsets from
# the event's first explicit start, durations clamped to _INF_D (= infinite).
# Sentinels stay small ints so reading them allocates nothing on the ESP32,
# whose small ints end at 2**30 (Unix seconds are already beyond that).
_UNSET = -(1 << 30)
_NOWV = _UNSET + 1
_INF_D = 0x7FFFFFFF
_FIELDS = ("id", "programID", "eventName", "priority", "modificationDateTime", "duration",
           "intervalPeriod", "payloadDescriptors", "reportDescriptors")
_I32 = 0x7FFFFFFF


class EventError(ValueError):
    pass


def _bisect_right(a, x):
    lo = 0
    hi = len(a)
    while lo < hi:
        mid = (lo + hi) >> 1
        if x < a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _bisect_left(a, x):
    lo = 0
    hi = len(a)
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _same_array(a, b):
    # MicroPython cannot compare float arrays with ==; their bytes compare everywhere.
    return len(a) == len(b) and bytes(a) == bytes(b)


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and v != GAP


def _level(v):
    # Values of a non-price payload type: numbers as they are, flags as 1/0, text as "present".
    if _number(v):
        return v
    if isinstance(v, bool):
        return 1 if v else 0
    if isinstance(v, str):
        return 1
    return GAP


def _draw(seed, key, limit):
    """Deterministic integer in [-limit, limit] from seed and key (32-bit FNV-1a)."""
    h = 0x811C9DC5
    for c in ("%s|%s" % (seed, key)).encode("utf-8"):
        h = ((h ^ c) * 0x01000193) & 0xFFFFFFFF
    return h % (2 * limit + 1) - limit


def _units(descriptors, typ):
    if not isinstance(descriptors, list):
        return None
    for d in descriptors:
        if isinstance(d, dict) and d.get("payloadType") == typ:
            parts = [str(d[k]) for k in ("currency", "units") if isinstance(d.get(k), str) and d.get(k)]
            return "/".join(parts) or None
    return None


class Track:
    """One event's values of one payload type.

    Piece k covers [base + t[k], base + t[k+1]) (the last one is open-ended) with
    value v[k] (GAP = none). With a period the pieces repeat from base every
    `period` seconds; nothing applies before base or from `until` on.
    """

    def __init__(self, base, t, v, until=None, period=0, priority=NO_PRIORITY, modified=0, event_id=None):
        self.base = base
        self.t = t
        self.v = v
        self.until = until
        self.period = period
        self.priority = priority
        self.modified = modified
        self.event_id = event_id

    def value_at(self, t):
        if t < self.base or (self.until is not None and t >= self.until):
            return None
        rel = t - self.base
        if self.period:
            rel %= self.period
        k = _bisect_right(self.t, rel) - 1
        if k < 0:
            return None
        v = self.v[k]
        return None if v == GAP else v

    def next_boundary(self, t):
        """The first piece boundary after t (Unix s), or None."""
        if t < self.base:
            return self.base
        if self.until is not None and t >= self.until:
            return None
        rel = t - self.base
        cycle = self.base
        if self.period:
            n = rel // self.period
            cycle += n * self.period
            rel -= n * self.period
        k = _bisect_right(self.t, rel)
        if k < len(self.t):
            b = cycle + self.t[k]
        elif self.period:
            b = cycle + self.period
        else:
            b = None
        if self.until is not None and (b is None or b > self.until):
            b = self.until
        return b

    def end(self):
        """When this track stops applying for good (Unix s), or None (never)."""
        if self.until is not None:
            return self.until
        if self.period or not len(self.t) or self.v[len(self.v) - 1] != GAP:
            return None
        return self.base + self.t[len(self.t) - 1]

    def __eq__(self, other):
        return (isinstance(other, Track) and self.base == other.base and self.until == other.until
                and self.period == other.period and self.priority == other.priority
                and self.modified == other.modified and self.event_id == other.event_id
                and _same_array(self.t, other.t) and _same_array(self.v, other.v))

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        return "<Track event=%s base=%s pieces=%d period=%s until=%s prio=%s>" % (
            self.event_id, self.base, len(self.t), self.period, self.until, self.priority)


class _TrackBuilder:
    # Pieces of one event and payload type, overlaid in interval order (later
    # wins). Arrays are allocated once for the expected count and written in
    # place (array.append grows 8 items at a time: copies and garbage).
    def __init__(self, capacity):
        self.t = array.array("i", range(capacity))
        self.v = array.array(VALUE_TYPE, range(capacity))
        self.m = 0              # breakpoints in use
        self.tail_gap = False   # the last breakpoint ends the last piece (GAP)
        self.prev_v = None      # the value before that terminator

    def _push(self, t, v):
        m = self.m
        if m < len(self.t):
            self.t[m] = t
            self.v[m] = v
        else:
            self.t.append(t)
            self.v.append(v)
        self.m = m + 1

    def put(self, s, e, v):
        T = self.t
        m = self.m
        if m == 0 or (self.tail_gap and s >= T[m - 1]):
            # After everything so far: the usual case of intervals in time order.
            if m and s == T[m - 1]:
                if m > 1 and self.prev_v == v:
                    # Same value as the piece before: that piece just gets longer.
                    if e < FOREVER:
                        T[m - 1] = e
                    else:
                        self.m = m - 1
                        self.tail_gap = False
                    return
                self.v[m - 1] = v
            else:
                self._push(s, v)
            self.prev_v = v
            self.tail_gap = e < FOREVER
            if self.tail_gap:
                self._push(e, GAP)
            return
        self._overlay(s, e, v)

    def _overlay(self, s, e, v):
        # Overlap or out of order (rare): replace the breakpoints in [s, e] by this piece.
        T = self.t
        V = self.v
        n = self.m
        if len(T) > n:
            T[n:] = array.array("i")
            V[n:] = array.array(VALUE_TYPE)
        i0 = _bisect_left(T, s)
        i1 = _bisect_right(T, e) if e < FOREVER else n
        before = V[i0 - 1] if i0 > 0 else GAP
        after = V[i1 - 1] if i1 > 0 else GAP
        nt = array.array("i")
        nv = array.array(VALUE_TYPE)
        if before != v:
            nt.append(s)
            nv.append(v)
        if e < FOREVER and after != v:
            nt.append(e)
            nv.append(after)
        T[i0:i1] = nt
        V[i0:i1] = nv
        n = self.m = len(T)
        self.tail_gap = n > 0 and V[n - 1] == GAP
        self.prev_v = V[n - 2] if n > 1 else None

    def arrays(self):
        """The breakpoints and values, in arrays of exactly the size used."""
        if len(self.t) == self.m:
            return self.t, self.v
        return self.t[:self.m], self.v[:self.m]


def _room(typecode, k):
    # k items of scratch space, allocated once (range: no list in between).
    if typecode == "H" and k > 65536:
        return array.array(typecode, [0] * k)
    return array.array(typecode, range(k))


class _Column:
    # An array filled by appending, grown by doubling: array.append grows 8
    # items at a time, each time copying (and leaving as garbage) the old array.
    def __init__(self, typecode):
        self.tc = typecode
        self.a = _room(typecode, 8)
        self.n = 0

    def add(self, x):
        a = self.a
        n = self.n
        if n == len(a):
            a.extend(_room(self.tc, n))
        a[n] = x
        self.n = n + 1


class _Event:
    # One event as it arrives: fields, and its intervals in raw form (explicit
    # periods and the values of each wanted payload type), resolved at the end.
    def __init__(self, types):
        self.fields = {}  # type: dict
        self.n = 0
        self.counts = {}  # type: dict
        self.values = {}  # type: dict
        for t in types:
            self.counts[t] = _Column("H")
            self.values[t] = _Column(VALUE_TYPE)
        self.ids = None  # interval ids (for reports), kept once one is not its list index
        self.p_ref = None  # type: int | None
        self.p_start = None  # type: _Column | None
        self.p_dur = None  # type: _Column | None
        self.p_rand = None  # type: dict | None
        self.error = None  # type: str | None

    def _column(self, k):
        col = _Column("i")
        for _ in range(k):
            col.add(_UNSET)
        return col

    def interval(self, iv):
        if self.error is not None:
            return
        if not isinstance(iv, dict):
            return  # not an interval at all: ignored, like the old list filter
        k = self.n
        self.n = k + 1
        iid = iv.get("id")
        if not isinstance(iid, int) or isinstance(iid, bool) or not -_I32 <= iid <= _I32:
            iid = k  # a report needs some id: its place in the list
        if self.ids is not None:
            self.ids.add(iid)
        elif iid != k:
            self.ids = self._column(0)
            for j in range(k):
                self.ids.add(j)
            self.ids.add(iid)
        p = iv.get("intervalPeriod")
        if p is not None:
            what = "interval %s" % iv.get("id")
            try:
                start, dur, rand = _period(p)
            except EventError as e:
                self.error = "%s: %s" % (what, e)
                return
            if dur is not None and dur < 0:
                self.error = "%s: negative duration" % what
                return
            if start is not None:
                if self.p_start is None:
                    self.p_start = self._column(k)
                if start == isotime.NOW:
                    self.p_start.add(_NOWV)
                else:
                    if self.p_ref is None:
                        self.p_ref = start
                    off = start - self.p_ref
                    if not -FOREVER < off < FOREVER:
                        self.error = "%s: start more than 68 years from the others" % what
                        return
                    self.p_start.add(off)
            if dur is not None:
                if self.p_dur is None:
                    self.p_dur = self._column(k)
                self.p_dur.add(min(dur, _INF_D))
            if rand is not None:
                if self.p_rand is None:
                    self.p_rand = {}
                self.p_rand[k] = rand
        if self.p_start is not None and self.p_start.n == k:
            self.p_start.add(_UNSET)
        if self.p_dur is not None and self.p_dur.n == k:
            self.p_dur.add(_UNSET)
        payloads = iv.get("payloads")
        for typ in self.counts:
            vals = None
            if isinstance(payloads, list):
                for pl in payloads:
                    if isinstance(pl, dict) and pl.get("type") == typ:
                        vals = pl.get("values")
                        break
            count = 0
            out = self.values[typ]
            if isinstance(vals, list) and vals:
                if typ in PACKED_TYPES and len(vals) == 1:
                    x = vals[0]
                    if _number(x):
                        count = 1
                        out.add(x)
                elif typ in PACKED_TYPES:
                    good = 0
                    for x in vals:
                        if _number(x):
                            good += 1
                    if good:
                        count = min(len(vals), 65535)
                        for x in vals[:count]:
                            out.add(x if _number(x) else GAP)
                else:
                    x = _level(vals[0])
                    if x != GAP:
                        count = 1
                        out.add(x)
            self.counts[typ].add(count)


def _period(p):
    """intervalPeriod -> (start or NOW or None, duration or None, randomizeStart seconds or None)."""
    if not isinstance(p, dict):
        raise EventError("intervalPeriod must be an object")
    start = p.get("start")
    dur = p.get("duration")
    rand = p.get("randomizeStart")
    try:
        start = isotime.parse_datetime(start) if start is not None else None
        dur = isotime.parse_duration(dur) if dur is not None else None
        rand = abs(isotime.parse_duration(rand)) if rand is not None else None
    except ValueError as e:
        raise EventError(str(e))
    # More than a day of randomisation is a server mistake; keep it bounded.
    return start, dur, (min(rand, 86400) if rand is not None else None)


class Schedule:
    """The tracks of all events, per payload type, best rank first."""

    def __init__(self, tracks=None, anchors=None, units=None, saved=None):
        self.tracks = tracks if tracks is not None else {}  # type: dict
        self.anchors = anchors if anchors is not None else {}  # type: dict
        self.units = units if units is not None else {}  # type: dict
        self.saved = saved  # Unix time it was persisted (when loaded from a file)

    def value_at(self, typ, t):
        for tr in self.tracks.get(typ, ()):
            v = tr.value_at(t)
            if v is not None:
                return v
        return None

    def source_at(self, typ, t):
        """The track (event) that gives typ its value at t, or None."""
        for tr in self.tracks.get(typ, ()):
            if tr.value_at(t) is not None:
                return tr
        return None

    def next_change(self, t):
        nxt = None
        for typ in self.tracks:
            for tr in self.tracks[typ]:
                b = tr.next_boundary(t)
                if b is not None and (nxt is None or b < nxt):
                    nxt = b
        return nxt

    def __eq__(self, other):
        if not isinstance(other, Schedule) or self.units != other.units:
            return False
        if sorted(self.tracks) != sorted(other.tracks):
            return False
        for typ in self.tracks:
            a = self.tracks[typ]
            b = other.tracks[typ]
            if len(a) != len(b):
                return False
            for i in range(len(a)):
                if a[i] != b[i]:
                    return False
        return True

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        return "<Schedule %s>" % ", ".join(["%s: %d event(s)" % (t, len(self.tracks[t])) for t in sorted(self.tracks)])


class Intervals:
    """An event that asks for reports (ven.reports): its n interval windows, in
    list order, as offsets (s) from `base` (starts/ends arrays, or every `step`
    s one after the other when starts is None), repeating every `period` s (0:
    once) until `until` (None: no end); the interval ids (None: 0..n-1); and per
    payload type the first value of each interval (GAP: none). Plain events
    share the arrays of their schedule track: nothing is copied for reports."""

    def __init__(self, event_id, program_id, modified, descriptors, base, period, until, n, ids, starts, ends,
                 step, values):
        self.event_id = event_id
        self.program_id = program_id
        self.modified = modified
        self.descriptors = descriptors
        self.base = base
        self.period = period
        self.until = until
        self.n = n
        self.ids = ids
        self.starts = starts
        self.ends = ends
        self.step = step
        self.values = values

    def window(self, u):
        """(interval id, start, end) of unrolled interval u (u >= n: the next cycles), or None."""
        n = self.n
        if not n:
            return None
        cycle, k = divmod(u, n)
        if cycle and not self.period:
            return None
        off = self.base + cycle * self.period
        if self.starts is None:
            s = off + k * self.step
            e = s + self.step
        else:
            s = off + self.starts[k]
            e = off + self.ends[k]
        if self.until is not None and s >= self.until:
            return None
        if self.until is not None and e > self.until:
            e = self.until
        return (k if self.ids is None else self.ids[k]), s, e


class Builder:
    """Reduces events, one at a time, into a Schedule for the payload types wanted."""

    def __init__(self, types, now, seed="", anchors=None):
        self.types = tuple(types)
        self.now = now
        self.seed = seed
        self.old_anchors = anchors or {}
        self.anchors = {}  # type: dict
        self.tracks = {}  # type: dict
        for t in self.types:
            self.tracks[t] = []
        self.units = {}  # type: dict
        self.program_units = {}  # type: dict
        self.errors = []  # type: list
        self.reports = []  # type: list  # Intervals of the events that ask for reports
        self.events = 0
        self.intervals = 0
        self.cancelled = 0
        self._ev = None  # type: _Event | None
        self._order = 0

    def program(self, program):
        """Program-level payloadDescriptors are the defaults for its events' units."""
        if isinstance(program, dict):
            for t in self.types:
                u = _units(program.get("payloadDescriptors"), t)
                if u is not None:
                    self.program_units[t] = u

    def begin_event(self):
        self._ev = _Event(self.types)

    def event_field(self, key, value):
        if self._ev is not None and key in _FIELDS:
            self._ev.fields[key] = value

    def interval(self, iv):
        if self._ev is not None:
            self._ev.interval(iv)

    def fail_event(self, reason):
        if self._ev is not None and self._ev.error is None:
            self._ev.error = reason

    def abort_event(self):
        self._ev = None

    def end_event(self):
        ev = self._ev
        self._ev = None
        if ev is None:
            return
        self.events += 1
        self.intervals += ev.n
        try:
            self._resolve(ev)
        except EventError as e:
            self._error("event %s: %s" % (ev.fields.get("id"), e))

    def add_event(self, event):
        """The whole event as a dict (already parsed JSON)."""
        if not isinstance(event, dict):
            self.events += 1
            self._error("event must be an object, got %s" % type(event).__name__)
            return
        self.begin_event()
        for k in event:
            if k != "intervals":
                self.event_field(k, event[k])
        ivs = event.get("intervals")
        if isinstance(ivs, list):
            for iv in ivs:
                self.interval(iv)
        self.end_event()

    def _error(self, text):
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(text)

    def _resolve(self, ev):
        f = ev.fields
        if ev.error is not None:
            raise EventError(ev.error)
        eid = f.get("id")
        ev_start, ev_dur, ev_rand = (None, None, None)
        if f.get("intervalPeriod") is not None:
            ev_start, ev_dur, ev_rand = _period(f.get("intervalPeriod"))
        if ev_dur is not None and ev_dur < 0:
            raise EventError("negative duration")
        modified_text = f.get("modificationDateTime")
        try:
            modified = isotime.parse_datetime(modified_text) if modified_text else 0
        except ValueError:
            modified = 0
        prio = f.get("priority")
        if not isinstance(prio, int) or isinstance(prio, bool) or prio < 0:
            prio = NO_PRIORITY
        # Lower number first; no (or an invalid) priority after every number.
        rank = (1, 0) if prio is None else (0, prio)
        total = None
        if f.get("duration") is not None:
            try:
                total = isotime.parse_duration(f.get("duration"))
            except ValueError as e:
                raise EventError(str(e))
        if ev_start == isotime.NOW and ev_dur == 0:
            # User Guide 7.9: start "now" with PT0S is how an event is cancelled.
            self.cancelled += 1
            return
        if ev.n == 0:
            raise EventError("no intervals")
        first_now = ev.p_start is not None and ev.p_start.a[0] == _NOWV
        if ev_start == isotime.NOW or (ev_start is None and first_now):
            ev_start = self._anchor(eid, modified_text)
        shift = _draw(self.seed, eid, ev_rand) if ev_rand else 0
        # Times are worked out as offsets from `ref` (small ints: no allocation per
        # interval on the ESP32), absolute only for the few figures kept.
        ref = ev_start if ev_start is not None else ev.p_ref
        if ref is None:
            raise EventError("interval 0 has no start (and the event no intervalPeriod)")
        delta = ev.p_ref - ref if ev.p_ref is not None else 0
        if not -FOREVER < delta < FOREVER:
            raise EventError("interval starts more than 68 years from the event's start")
        rel_start = None if ev_start is None else 0
        # Pass 1: where the intervals lie (span), and that every one can be placed.
        span = [None, None]

        def extent(k, s, e):
            if span[0] is None or s < span[0]:
                span[0] = s
            if span[1] is None or e > span[1]:
                span[1] = e

        self._walk(ev, eid, rel_start, ev_dur, shift, delta, extent)
        lo = span[0]
        hi = span[1]
        if lo is None or hi is None:
            raise EventError("no intervals")
        base = ref + lo
        span_s = hi - lo  # may be a big (infinite) figure
        until = None
        period = 0
        if total is not None:
            if total < isotime.INFINITE:
                until = base + max(0, total)
            if 0 < span_s < FOREVER and total > span_s:
                period = span_s
        if until is not None and until <= base:
            self.cancelled += 1
            return
        # Pass 2: the pieces of each payload type.
        # Plain events (every interval follows the previous for the event's
        # duration) need no walk: offsets are a range, values the raw column.
        plain = (ev.p_start is None and ev.p_dur is None and ev.p_rand is None and ev_dur is not None
                 and 0 < ev_dur and (ev.n + 1) * ev_dur < FOREVER)
        shared = {}  # payload type -> the plain track's values (one per interval), for reports
        for typ in self.types:
            counts = ev.counts[typ].a
            pieces = 0
            ones = True  # one value in every interval
            for k in range(ev.n):
                c = counts[k]
                pieces += c
                if c != 1:
                    ones = False
            if not pieces:
                continue
            if plain and ones:
                col = ev.values[typ]
                col.add(GAP)
                t = array.array("i", range(0, (ev.n + 1) * ev_dur, ev_dur))
                v = col.a if len(col.a) == col.n else col.a[:col.n]
                self._add_track(typ, rank, modified, Track(base, t, v, until, period, prio, modified, eid), f)
                shared[typ] = v
                continue
            tb = _TrackBuilder(pieces + 1)
            vals = ev.values[typ].a
            pos = [0]

            def emit(k, s, e, counts=counts, vals=vals, tb=tb, pos=pos):
                c = counts[k]
                if not c:
                    return
                i = pos[0]
                pos[0] = i + c
                if c == 1:
                    if e > s and s - lo < FOREVER:
                        tb.put(s - lo, min(e - lo, FOREVER), vals[i])
                    return
                d = e - s
                for j in range(c):
                    v = vals[i + j]
                    a = s + d * j // c - lo
                    b = s + d * (j + 1) // c - lo
                    if v == GAP or b <= a or a >= FOREVER:
                        continue
                    tb.put(a, min(b, FOREVER), v)

            self._walk(ev, eid, rel_start, ev_dur, shift, delta, emit)
            if tb.m:
                t, v = tb.arrays()
                self._add_track(typ, rank, modified, Track(base, t, v, until, period, prio, modified, eid), f)
        descs = f.get("reportDescriptors")
        if isinstance(descs, list) and descs and isinstance(eid, str):
            self._intervals(ev, eid, f, descs, rel_start, ev_dur, plain, shift, delta, lo, base, period, until,
                            shared)

    def _intervals(self, ev, eid, f, descs, rel_start, ev_dur, plain, shift, delta, lo, base, period, until, shared):
        # An event that asks for reports: its interval windows and first values, for ven.reports.
        # A plain event (every interval follows the previous one) needs no window arrays.
        n = ev.n
        starts = ends = None
        step = ev_dur if plain else None
        if not plain:
            starts = array.array("i", range(n))
            ends = array.array("i", range(n))

            def put(k, s, e):
                starts[k] = min(s - lo, FOREVER)
                ends[k] = min(e - lo, FOREVER)
            self._walk(ev, eid, rel_start, ev_dur, shift, delta, put)
        values = {}
        for typ in self.types:
            if typ in shared:
                values[typ] = shared[typ]
                continue
            counts = ev.counts[typ].a
            vals = ev.values[typ].a
            first = array.array(VALUE_TYPE, range(n))
            i = 0
            any_value = False
            for k in range(n):
                c = counts[k]
                first[k] = vals[i] if c else GAP  # type: ignore[assignment]  # an array of VALUE_TYPE
                any_value = any_value or c > 0
                i += c
            if any_value:
                values[typ] = first
        ids = None
        if ev.ids is not None:
            ids = ev.ids.a if len(ev.ids.a) == n else ev.ids.a[:n]
        self.reports.append(Intervals(eid, f.get("programID"), f.get("modificationDateTime"), descs, base,
                                      period, until, n, ids, starts, ends, step, values))

    def _add_track(self, typ, rank, modified, track, fields):
        self.tracks[typ].append((rank, -modified, self._order, track))
        self._order += 1
        if typ not in self.units:
            u = _units(fields.get("payloadDescriptors"), typ)
            if u is None:
                u = self.program_units.get(typ)
            if u is not None:
                self.units[typ] = u

    def _anchor(self, eid, modified_text):
        # "Now" is when this VEN first saw this version of the event.
        old = self.old_anchors.get(eid) if eid is not None else None
        anchor = old[1] if old is not None and old[0] == modified_text else self.now
        if eid is not None:
            self.anchors[eid] = (modified_text, anchor)
        return anchor

    def _walk(self, ev, eid, ev_start, ev_dur, shift, delta, emit):
        # Every interval's (start, end) as offsets from the event's reference
        # time, in list order; ev_start is the event's start offset (or None).
        prev_end = None
        ps = ev.p_start.a if ev.p_start is not None else None
        pd = ev.p_dur.a if ev.p_dur is not None else None
        pr = ev.p_rand
        for k in range(ev.n):
            if pr is not None and k in pr:
                # An interval's own randomizeStart replaces the shift from here on.
                shift = _draw(self.seed, "%s#%d" % (eid, k), pr[k]) if pr[k] else 0
            s = ps[k] if ps is not None else _UNSET
            if s == _UNSET or s == _NOWV:
                if prev_end is not None:
                    s = prev_end
                elif ev_start is not None:
                    s = ev_start + shift
                else:
                    raise EventError("interval %d has no start (and the event no intervalPeriod)" % k)
            else:
                s += delta + shift
            d = pd[k] if pd is not None else _UNSET
            if d == _UNSET:
                d = ev_dur
            elif d == _INF_D:
                d = isotime.INFINITE
            if d is None:
                raise EventError("interval %d has no duration (and the event no intervalPeriod)" % k)
            prev_end = s + d
            emit(k, s, prev_end)

    def finish(self):
        """The Schedule of everything added; tracks that ended before `now` are dropped."""
        tracks = {}
        for typ in self.types:
            ranked = self.tracks[typ]
            ranked.sort(key=lambda r: (r[0], r[1], r[2]))
            live = []
            for r in ranked:
                end = r[3].end()
                if end is None or self.now is None or end > self.now:
                    live.append(r[3])
            if live:
                tracks[typ] = live
        return Schedule(tracks, self.anchors, self.units)
