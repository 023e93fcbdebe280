# Reports the VTN asks for in an event's reportDescriptors (device-independent).
#
# What this VEN can report, per output channel (one resource per channel,
# resourceName = channel name), for each event interval:
#   SETPOINT         the output level: duty in percent of full (0..100)
#   OPERATING_STATE  "RUNNING_NORMAL" (duty > 0), "IDLE_NORMAL" (duty 0), or
#                    "NORMAL" when no value was known (fail-safe)
#   <payload type>   the channel's own payload type (PRICE, SIMPLE, ...): the
#                    event's value for that interval, as an acknowledgement
# Other payload types are not produced (logged once per event by the caller).
# Channels report for an event when their payload type is among the event's
# interval payloads. Each report interval carries the event interval's id and
# period, so the VTN can match them.
#
# Cadence (reportDescriptor, spec defaults in brackets): intervals from
# startInterval [-1: the first] are reported in batches of `frequency`
# intervals [-1: numIntervals, -1: all], each batch once its last interval has
# ended; at most `repeat` reports [1; -1: no limit]. Only intervals that ended
# after the VEN first saw the event are reported (it did not control the
# earlier ones). historical=false (forecasts) and aggregate=true are reported
# the same way, per resource. A batch counts as sent only after the VTN took it.
#
#   r = Reporter(ven_name, cfg["outputs"])
#   for key, report in r.due(events, now, level):     # level(channel_cfg, t) -> (value, duty)
#       await client.post_report(report); r.sent(key)
#   r.next_due(events, now)                            # when to look again, or None

from ven import isotime

REPORTABLE = ("SETPOINT", "OPERATING_STATE")
_DUTY_MAX = 65535


def interval_windows(event):
    """[(interval id, start, end)] in Unix seconds, in interval order; [] if unknown."""
    period = event.get("intervalPeriod") or {}
    out = []
    try:
        start = isotime.parse_datetime(period["start"]) if period.get("start") else None
        default_dur = isotime.parse_duration(period["duration"]) if period.get("duration") else None
        for iv in event.get("intervals") or ():
            own = iv.get("intervalPeriod") or {}
            s = isotime.parse_datetime(own["start"]) if own.get("start") else start
            d = isotime.parse_duration(own["duration"]) if own.get("duration") else default_dur
            if s is None or d is None or not isinstance(iv.get("id"), int):
                return []
            out.append((iv["id"], s, s + d))
            start = s + d  # an interval without its own start follows the previous one
    except (ValueError, TypeError, KeyError):
        return []
    return out


def _event_value(event, interval_id, payload_type):
    for iv in event.get("intervals") or ():
        if iv.get("id") != interval_id:
            continue
        for p in iv.get("payloads") or ():
            if isinstance(p, dict) and p.get("type") == payload_type and p.get("values"):
                return p["values"][0]
    return None


def _event_types(event):
    types = []
    for iv in event.get("intervals") or ():
        for p in iv.get("payloads") or ():
            if isinstance(p, dict) and p.get("type") not in types:
                types.append(p.get("type"))
    return types


def _int(d, key, default):
    v = d.get(key, default)
    return v if isinstance(v, int) and not isinstance(v, bool) else default


class Reporter:
    def __init__(self, ven_name, channels):
        self.ven_name = ven_name
        self.channels = channels
        self.state = {}  # type: dict
        self.pending = {}  # type: dict

    def producible(self, payload_type):
        return payload_type in REPORTABLE or payload_type in [c["payload_type"] for c in self.channels]

    def _plan(self, event, index, desc, now):
        """(key, state, batch of windows) for the next report of one descriptor, or None."""
        key = (event.get("id"), index)
        st = self.state.get(key)
        if st is None:
            st = {"next": max(0, _int(desc, "startInterval", -1)), "sent": 0, "seen": now}
            self.state[key] = st
        repeat = _int(desc, "repeat", 1)
        if repeat >= 0 and st["sent"] >= repeat:
            return key, st, None
        windows = interval_windows(event)
        # Skip what ended before we knew of the event.
        while st["next"] < len(windows) and windows[st["next"]][2] <= st["seen"]:
            st["next"] += 1
        left = len(windows) - st["next"]
        if left <= 0:
            return key, st, None
        size = _int(desc, "frequency", -1)
        if size <= 0:
            size = _int(desc, "numIntervals", -1)
        if size <= 0 or size > left:
            size = left
        return key, st, windows[st["next"]:st["next"] + size]

    def _batches(self, events, now):
        # (event, descriptor, key, state, batch) for each report this VEN can produce.
        for event in events:
            descs = event.get("reportDescriptors")
            if not isinstance(descs, list) or not isinstance(event.get("id"), str):
                continue
            for index, desc in enumerate(descs):
                if not isinstance(desc, dict) or not self.producible(desc.get("payloadType")):
                    continue
                key, st, batch = self._plan(event, index, desc, now)
                yield event, desc, key, st, batch

    def due(self, events, now, level):
        """[(key, report body)] for every batch whose last interval has ended."""
        out = []
        for event, desc, key, st, batch in self._batches(events, now):
            if batch and batch[-1][2] <= now:
                report = self._report(event, desc, batch, level)
                if report is not None:
                    self.pending[key] = len(batch)
                    out.append((key, report))
        return out

    def sent(self, key):
        st = self.state.get(key)
        n = self.pending.pop(key, 0)
        if st is not None and n:
            st["next"] += n
            st["sent"] += 1

    def next_due(self, events, now):
        """The earliest end of a pending batch (Unix s), or None."""
        best = None
        for _event, _desc, _key, _st, batch in self._batches(events, now):
            if batch:
                t = batch[-1][2]
                best = t if best is None or t < best else best
        return best

    def unproducible(self, event):
        """Payload types an event asks for that this VEN cannot report."""
        out = []
        for desc in event.get("reportDescriptors") or ():
            t = desc.get("payloadType") if isinstance(desc, dict) else None
            if t is not None and not self.producible(t) and t not in out:
                out.append(t)
        return out

    def _report(self, event, desc, batch, level):
        typ = desc["payloadType"]
        types = _event_types(event)
        resources = []
        for ch in self.channels:
            if ch["payload_type"] not in types:
                continue
            if typ not in REPORTABLE and typ != ch["payload_type"]:
                continue
            intervals = []
            for iid, start, end in batch:
                if typ in REPORTABLE:
                    value, duty = level(ch, (start + end) // 2)
                    if typ == "SETPOINT":
                        v = round(duty * 1000 / _DUTY_MAX) / 10
                    elif value is None:
                        v = "NORMAL"
                    else:
                        v = "RUNNING_NORMAL" if duty > 0 else "IDLE_NORMAL"
                else:
                    v = _event_value(event, iid, typ)
                    if v is None:
                        continue
                intervals.append({"id": iid, "intervalPeriod": {
                    "start": isotime.format_datetime(start), "duration": "PT%dS" % (end - start)},
                    "payloads": [{"type": typ, "values": [v]}]})
            if intervals:
                resources.append({"resourceName": ch["name"], "intervals": intervals})
        if not resources:
            return None
        descriptor = {"objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": typ, "readingType": "DIRECT_READ"}
        if typ == "SETPOINT":
            descriptor["units"] = "PERCENT"
        return {"programID": event.get("programID"), "eventID": event["id"], "clientName": self.ven_name,
                "reportName": "%s %s %s %d-%d" % (self.ven_name, event["id"], typ, batch[0][0], batch[-1][0]),
                "payloadDescriptors": [descriptor], "resources": resources}
