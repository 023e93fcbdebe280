# Conveniences for the schedule tests (not device code): one payload type at a
# time, from event dicts. Runs on CPython and on the MicroPython VM.
from ven import schedule


def build(events, payload_type, now, seed=""):
    """(Schedule, errors) of `events` (dicts) for one payload type."""
    b = schedule.Builder((payload_type,), now, seed)
    for ev in events:
        b.add_event(ev)
    return b.finish(), b.errors


def value_at(sched, t, payload_type=None):
    if payload_type is None:
        types = list(sched.tracks)
        payload_type = types[0] if types else None
    return sched.value_at(payload_type, t) if payload_type is not None else None


def next_change(sched, t):
    return sched.next_change(t)


def events(sched):
    """The event ids the schedule holds, in the order of its tracks."""
    ids = []
    for typ in sched.tracks:
        for tr in sched.tracks[typ]:
            if tr.event_id not in ids:
                ids.append(tr.event_id)
    return ids
