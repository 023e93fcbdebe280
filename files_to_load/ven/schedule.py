# OpenADR 3 events -> a schedule of values per payload type. Device-independent.
#
# An event has an intervalPeriod (start, duration) and a list of intervals, each
# with an id, an optional intervalPeriod of its own and payloads
# [{"type": "PRICE", "values": [0.23]}]. An interval without its own start
# follows the previous one; the first starts at the event's start. A schedule
# is a sorted list of slots (start, end, value, rank); where slots overlap the
# lowest rank wins (rank = event priority, lower is more important, then the
# later modificationDateTime).
#
#   slots = schedule.build(events, "PRICE", now)
#   price = schedule.value_at(slots, now)          # None if no slot covers now
#   t = schedule.next_change(slots, now)           # next boundary, or None

from ven import isotime

# Events without a priority rank below every explicit one (spec: lowest priority).
_NO_PRIORITY = 1 << 30


class EventError(ValueError):
    pass


def _period(obj, what):
    p = obj.get("intervalPeriod") if isinstance(obj, dict) else None
    if p is None:
        return None, None
    if not isinstance(p, dict):
        raise EventError("%s: intervalPeriod must be an object" % what)
    start = p.get("start")
    dur = p.get("duration")
    try:
        start = isotime.parse_datetime(start) if start is not None else None
        dur = isotime.parse_duration(dur) if dur is not None else None
    except ValueError as e:
        raise EventError("%s: %s" % (what, e))
    return start, dur


def _value(interval, payload_type):
    for payload in interval.get("payloads") or ():
        if not isinstance(payload, dict) or payload.get("type") != payload_type:
            continue
        values = payload.get("values")
        if isinstance(values, list) and values:
            v = values[0]
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v:
                return v
    return None


def _sort_key(interval):
    i = interval.get("id") if isinstance(interval, dict) else None
    return i if isinstance(i, int) and not isinstance(i, bool) else 0


def event_slots(event, payload_type, now):
    """Slots (start, end, value, rank) of one event for payload_type.

    Raises EventError for an event that cannot be scheduled at all.
    """
    if not isinstance(event, dict):
        raise EventError("event must be an object")
    what = "event %s" % event.get("id")
    ev_start, ev_dur = _period(event, what)
    intervals = event.get("intervals")
    if not isinstance(intervals, list) or not intervals:
        raise EventError("%s: no intervals" % what)
    prio = event.get("priority")
    if not isinstance(prio, int) or isinstance(prio, bool) or prio < 0:
        prio = _NO_PRIORITY
    modified = event.get("modificationDateTime")
    try:
        modified = isotime.parse_datetime(modified) if modified else 0
    except ValueError:
        modified = 0
    # Lower rank wins: priority first, then the most recently modified event.
    rank = (prio, -modified)
    slots = []
    prev_end = None
    for iv in sorted([i for i in intervals if isinstance(i, dict)], key=_sort_key):
        start, dur = _period(iv, "%s interval %s" % (what, iv.get("id")))
        if start is None:
            start = prev_end if prev_end is not None else ev_start
        if dur is None:
            dur = ev_dur
        if start is None or dur is None:
            raise EventError("%s: interval %s has no start or duration" % (what, iv.get("id")))
        if start == isotime.NOW:
            start = now
        end = start + dur
        prev_end = end
        value = _value(iv, payload_type)
        if value is not None and dur > 0:
            slots.append((start, end, value, rank))
    return slots


def build(events, payload_type, now):
    """All events -> (slots sorted by start, list of error strings for skipped events)."""
    slots = []
    errors = []
    for ev in events:
        try:
            slots.extend(event_slots(ev, payload_type, now))
        except EventError as e:
            errors.append(str(e))
    slots.sort(key=lambda s: s[0])
    return slots, errors


def value_at(slots, t):
    """The winning value at time t, or None when no slot covers t."""
    best = None
    for s in slots:
        if s[0] > t:
            break
        if t < s[1] and (best is None or s[3] < best[3]):
            best = s
    return None if best is None else best[2]


def next_change(slots, t):
    """The earliest slot boundary after t, or None if nothing changes any more."""
    nxt = None
    for s in slots:
        for b in (s[0], s[1]):
            if b > t and (nxt is None or b < nxt):
                nxt = b
    return nxt
