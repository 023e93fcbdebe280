"""Property tests (hypothesis, CPython): the compact schedule against a
brute-force reference written from the rules (ven/schedule.py header, User
Guide section 7) with plain lists, no arrays, no merging, no binary search.

For random events - default and per-interval periods, "now" starts, gaps and
overlaps, packed values, event.duration truncating or repeating, P9999Y,
randomizeStart, priorities and modification times, cancellations, junk - the
value at every instant probed equals the reference's, and nothing changes
between t and next_change(t). The streamed path (EventReducer fed the JSON in
random chunks) must build the very same schedule as the dict path.
Examples are derandomized; HYPOTHESIS_PROFILE=ven-thorough explores more.
"""
import json
import math
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.portable import schedule_help
from ven import isotime, schedule, schedule_file
from ven.eventstream import EventReducer

settings.register_profile("schedule-ci", max_examples=300, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("schedule-thorough", max_examples=5000, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
PROFILE = settings.get_profile("schedule-thorough" if os.environ.get("HYPOTHESIS_PROFILE") == "ven-thorough"
                               else "schedule-ci")

BASE = 1_800_000_000
NOW_TEXT = "0001-01-01T00:00:00Z"
INF = isotime.INFINITE
FOREVER = schedule.FOREVER
SEED = "ven-under-test"
TYPES = ("PRICE", "ALERT")
PACKED = ("PRICE", "EXPORT_PRICE", "GHG")


# --- generating events ---------------------------------------------------------

def stamp(offset):
    return NOW_TEXT if offset == "now" else isotime.format_datetime(BASE + offset)


def dur_text(d):
    return "P9999Y" if d == "inf" else "PT%dS" % d


offsets = st.integers(0, 150)
near = st.integers(0, 40)  # event starts close together, so events overlap often
durations = st.one_of(st.integers(0, 40), st.integers(1, 40), st.just("inf"))
prices = st.one_of(st.integers(-5, 50), st.floats(-5, 50, allow_nan=False), st.just("x"), st.just(True),
                   st.just(None))


@st.composite
def periods(draw, starts, start_odds, duration_odds):
    # *_odds: one in N leaves that field out.
    p = {}
    if draw(st.integers(0, start_odds - 1)):
        p["start"] = stamp(draw(starts))
    if draw(st.integers(0, duration_odds - 1)):
        p["duration"] = dur_text(draw(durations))
    if draw(st.integers(0, 5)) == 0:
        p["randomizeStart"] = "PT%dS" % draw(st.integers(0, 20))
    return p


@st.composite
def intervals(draw):
    iv = {"id": draw(st.integers(0, 9))}
    if draw(st.integers(0, 2)) == 0:
        iv["intervalPeriod"] = draw(periods(st.one_of(offsets, st.just("now")), 2, 2))
    payloads = []
    if draw(st.integers(0, 5)):
        payloads.append({"type": "PRICE", "values": draw(st.lists(prices, min_size=0, max_size=3))})
    if draw(st.integers(0, 3)) == 0:
        payloads.insert(draw(st.integers(0, len(payloads))),
                        {"type": "ALERT", "values": [draw(st.sampled_from(["grid emergency", False, 2, True]))]})
    if draw(st.integers(0, 4)) == 0:
        payloads.append({"type": "GHG", "values": [1]})
    iv["payloads"] = payloads
    return iv


@st.composite
def events(draw, index):
    ev = {"id": "ev%d" % index, "programID": "p1"}
    if draw(st.integers(0, 7)):
        ev["intervalPeriod"] = draw(periods(st.one_of(near, near, offsets, st.just("now")), 10, 10))
    if draw(st.integers(0, 3)) == 0:
        ev["duration"] = dur_text(draw(st.one_of(st.integers(0, 200), st.just("inf"))))
    # Mostly the same priority, so ties (decided by modificationDateTime) are common.
    prio = draw(st.sampled_from([None, 1, 1, 1, 1, 0, 2, -1, True, 2 ** 31]))
    if prio is not None:
        ev["priority"] = prio
    if draw(st.integers(0, 3)):
        ev["modificationDateTime"] = stamp(draw(st.integers(0, 5)))
    ev["intervals"] = draw(st.lists(intervals(), min_size=1, max_size=5))
    if draw(st.integers(0, 15)) == 0:
        ev["intervals"] = []
    if draw(st.integers(0, 15)) == 0:
        ev["intervals"].append("junk")
    if draw(st.integers(0, 12)) == 0:
        ev["intervalPeriod"] = {"start": "0001-01-01", "duration": "PT0S"}  # cancelled
    return ev


event_lists = st.integers(0, 5).flatmap(lambda n: st.tuples(*[events(i) for i in range(n)]))


# --- the reference ---------------------------------------------------------------

class Bad(Exception):
    pass


def parse_period(p):
    if p is None:
        return None, None, None
    start = p.get("start")
    if start is not None:
        start = isotime.parse_datetime(start)
    d = p.get("duration")
    d = isotime.parse_duration(d) if d is not None else None
    r = p.get("randomizeStart")
    r = abs(isotime.parse_duration(r)) if r is not None else None
    return start, d, r


def good_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)


def values_of(iv, typ):
    for pl in iv.get("payloads") or []:
        if isinstance(pl, dict) and pl.get("type") == typ:
            vals = pl.get("values")
            if not isinstance(vals, list) or not vals:
                return []
            if typ in PACKED:
                if not any(good_number(v) for v in vals):
                    return []
                return [v if good_number(v) else None for v in vals]
            v = vals[0]
            if good_number(v):
                return [v]
            if isinstance(v, bool):
                return [1 if v else 0]
            if isinstance(v, str):
                return [1]
            return []
    return []


def reference_event(ev, now):
    """(rank key, pieces by type [(s, e, value, order)], S, until, period) or None if it has no values;
    raises Bad for an event the builder must skip."""
    ev_start, ev_dur, ev_rand = parse_period(ev.get("intervalPeriod"))
    if ev_dur is not None and ev_dur < 0:
        raise Bad
    prio = ev.get("priority")
    if not isinstance(prio, int) or isinstance(prio, bool) or prio < 0:
        prio = None
    mod = ev.get("modificationDateTime")
    mod = isotime.parse_datetime(mod) if mod else 0
    total = isotime.parse_duration(ev["duration"]) if "duration" in ev else None
    if ev_start == isotime.NOW and ev_dur == 0:
        return None
    ivs = [iv for iv in ev.get("intervals") or [] if isinstance(iv, dict)]
    if not ivs:
        raise Bad
    first = parse_period(ivs[0].get("intervalPeriod"))[0]
    if ev_start == isotime.NOW or (ev_start is None and first == isotime.NOW):
        ev_start = now
    shift = schedule._draw(SEED, ev["id"], ev_rand) if ev_rand else 0
    placed = []
    prev_end = None
    for k, iv in enumerate(ivs):
        s, d, r = parse_period(iv.get("intervalPeriod"))
        if r is not None:
            shift = schedule._draw(SEED, "%s#%d" % (ev["id"], k), r) if r else 0
        if s is None or s == isotime.NOW:
            if prev_end is not None:
                s = prev_end
            elif ev_start is not None:
                s = ev_start + shift
            else:
                raise Bad
        else:
            s += shift
        if d is None:
            d = ev_dur
        if d is None or d < 0:
            raise Bad
        prev_end = s + d
        placed.append((k, iv, s, s + d))
    S = min(p[2] for p in placed)
    L = max(p[3] for p in placed)
    until, period = None, 0
    if total is not None:
        if total < INF:
            until = S + max(0, total)
        if S < L < S + FOREVER and S + total > L:
            period = L - S
    if until is not None and until <= S:
        return None
    pieces = {}
    for typ in TYPES:
        out = []
        for k, iv, s, e in placed:
            vals = values_of(iv, typ)
            c = len(vals)
            for j, v in enumerate(vals):
                a, b = s + (e - s) * j // c, s + (e - s) * (j + 1) // c
                if v is None or b <= a or a - S >= FOREVER:
                    continue
                out.append((a, b if b - S < FOREVER else None, v, k))
        pieces[typ] = out
    rank = ((1, 0) if prio is None else (0, prio), -mod)
    return rank, pieces, S, until, period


def reference(evs, now):
    table, bad = [], 0
    for i, ev in enumerate(evs):
        try:
            r = reference_event(ev, now)
        except (Bad, ValueError):
            bad += 1
            continue
        if r is not None:
            table.append((r[0], i) + r[1:])
    table.sort(key=lambda r: (r[0], r[1]))
    return table, bad


def ended(pieces, S, until, period, now):
    if until is not None:
        return until <= now
    if period or not pieces:
        return not pieces
    if any(p[1] is None for p in pieces):
        return False
    return max(p[1] for p in pieces) <= now


def ref_value(table, typ, t, now):
    for rank, i, pieces, S, until, period in table:
        mine = pieces[typ]
        if not mine or ended(mine, S, until, period, now):
            continue
        if t < S or (until is not None and t >= until):
            continue
        u = S + (t - S) % period if period else t
        best = None
        for a, b, v, k in mine:
            if a <= u and (b is None or u < b):
                if best is None or k >= best[1]:
                    best = (v, k)
        if best is not None:
            return best[0]
    return None


def probe_times(table, extra):
    times = set(BASE + x for x in extra)
    for rank, i, pieces, S, until, period in table:
        for typ in TYPES:
            for a, b, v, k in pieces[typ]:
                for x in (a, b):
                    if x is None:
                        continue
                    for cycle in (range(4) if period else (0,)):
                        for d in (-1, 0, 1):
                            times.add(x + cycle * period + d)
        if until is not None:
            times.update((until - 1, until, until + 1))
    return sorted(times)


def build(evs, now):
    b = schedule.Builder(TYPES, now, SEED)
    for ev in evs:
        b.add_event(ev)
    return b.finish(), b.errors


# --- the properties ----------------------------------------------------------------

@PROFILE
@given(event_lists, st.integers(0, 150), st.lists(st.integers(-20, 600), max_size=12))
def test_value_at_any_instant_equals_the_brute_force_reference(evs, now_offset, extra):
    now = BASE + now_offset
    sched, errors = build(evs, now)
    table, bad = reference(evs, now)
    assert len(errors) == bad
    for t in probe_times(table, extra):
        for typ in TYPES:
            assert sched.value_at(typ, t) == ref_value(table, typ, t, now), (typ, t - BASE)


@PROFILE
@given(event_lists, st.integers(0, 150), st.lists(st.integers(-20, 600), min_size=1, max_size=8))
def test_nothing_changes_before_next_change(evs, now_offset, starts):
    now = BASE + now_offset
    sched, _ = build(evs, now)
    table, _ = reference(evs, now)
    for x in starts:
        t = BASE + x
        nxt = sched.next_change(t)
        assert nxt is None or nxt > t
        end = min(nxt if nxt is not None else t + 2000, t + 2000)
        here = [ref_value(table, typ, t, now) for typ in TYPES]
        for probe in sorted({t + 1, (t + end) // 2, end - 1}):
            if t < probe < end:
                assert [ref_value(table, typ, probe, now) for typ in TYPES] == here, (x, probe - t)


@PROFILE
@given(event_lists, st.integers(0, 150), st.lists(st.integers(1, 400), min_size=0, max_size=20))
def test_streamed_reduction_equals_the_dict_path(evs, now_offset, cuts):
    now = BASE + now_offset
    want, want_errors = build(evs, now)
    body = json.dumps(list(evs)).encode("utf-8")
    points = sorted(set(c * len(body) // 401 for c in cuts) | {0, len(body)})
    b = schedule.Builder(TYPES, now, SEED)
    r = EventReducer(b)
    for lo, hi in zip(points, points[1:]):
        r.feed(body[lo:hi])
    assert r.finish() == len(evs)
    assert b.finish() == want
    assert b.errors == want_errors


@PROFILE
@given(event_lists, st.integers(0, 150))
def test_persisted_schedule_is_the_same(evs, now_offset):
    import tempfile
    now = BASE + now_offset
    sched, _ = build(evs, now)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "schedule.bin")
        schedule_file.save(sched, path, now)
        back = schedule_file.load(path)
    assert back == sched
    assert back.anchors == sched.anchors
