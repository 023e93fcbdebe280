# Reports the VTN asks for in an event's reportDescriptors (device-independent).
#
# What this VEN reports, per output channel (resourceName = channel name), for
# event intervals (the report interval carries the event interval's id and
# period, so the VTN can match them):
#   SETPOINT         the load's duty in percent (0..100): what the output really
#                    did, time-weighted over the interval, fail-safe time
#                    included (ven.meter); for a forecast, the planned duty
#   OPERATING_STATE  the state held longest in the interval: RUNNING_NORMAL
#                    (duty > 0), IDLE_NORMAL (duty 0), NORMAL (at fail-safe:
#                    no DR directive followed)
#   <payload type>   the channel's own payload type (PRICE, SIMPLE, ...): the
#                    event's value for that interval, as an acknowledgement
# Other payload types cannot be produced: said once per event. A channel
# reports for an event whose intervals carry its payload type (or, for a
# report-only event without payloads, always).
#
# When (OpenADR 3.1.0 Definition, reportDescriptor; User Guide 7.5; defaults
# in brackets): report k (k = 0, 1, ...; at most `repeat` [1], -1 = no limit)
# is generated on interval a = startInterval + k * frequency, counting
# intervals from 0 and on through the repeats of a looping event.
# startInterval [-1] is the last interval (historical) or the first
# (forecast); frequency [-1] is numIntervals, 0 ("ad hoc") is taken as 1.
# historical [true]: the report covers the numIntervals [-1: all] intervals up
# to and including a, and is sent once a has ended. historical false (a
# forecast): the numIntervals intervals from a on, sent when a begins.
# Reports that fell due before the VEN first saw the event are not sent (it
# did not control those intervals). A due report is kept, with the event's
# intervals, until the VTN took it, even after the event is over and no longer
# listed by the VTN (events are polled with active=true).
#
#   r = Reporter(ven_name, cfg["outputs"], log)
#   r.update(builder.reports, now)                    # after every good poll
#   for key, report in r.due(now, version, applied, planned):
#       await client.post_report(report); r.sent(key)   # report.pieces(): its JSON body
#   r.next_due(now)                                   # when to look again, or None
#     applied(channel index, start, end) -> (mean load duty, meter state) or None
#     planned(channel index, t) -> load duty the schedule gives at t

import json

from ven import isotime
from ven.meter import FAILSAFE, IDLE, RUNNING
from ven.pricemap import DUTY_MAX
from ven.schedule import GAP

REPORTABLE = ("SETPOINT", "OPERATING_STATE")
MAX_EVENTS = 8  # events whose reports are tracked at once
_STATES = ("NORMAL", "IDLE_NORMAL", "RUNNING_NORMAL")


def _int(d, key, default):
    v = d.get(key, default)
    return v if isinstance(v, int) and not isinstance(v, bool) else default


class _Plan:
    # One reportDescriptor of one event: its timing, and the next report to make.
    def __init__(self, desc, n, seen):
        self.type = desc["payloadType"]
        self.hist = desc.get("historical", True) is not False
        s = _int(desc, "startInterval", -1)
        if s < 0:
            s = n - 1 if self.hist else 0
        self.start = s
        num = _int(desc, "numIntervals", -1)
        if num < 0:
            num = s + 1 if self.hist else max(1, n - s)
        self.num = num
        f = _int(desc, "frequency", -1)
        self.every = num if f < 0 else max(1, f)
        self.repeat = _int(desc, "repeat", 1)
        self.k = 0
        self.seen = seen

    def span(self, k, src):
        """(first, last unrolled interval, due time) of report k, or None if there is none."""
        if 0 <= self.repeat <= k:
            return None
        a = self.start + k * self.every
        w = src.window(a)
        if w is None:
            return None
        if self.hist:
            return max(0, a - self.num + 1), a, w[2]
        return a, a + self.num - 1, w[1]


class Reporter:
    def __init__(self, ven_name, channels, log=None):
        self.ven_name = ven_name
        self.channels = channels
        self.log = log
        self.sources = {}  # event id -> schedule.Intervals
        self.plans = {}  # (event id, descriptor index) -> _Plan

    def producible(self, payload_type):
        if payload_type in REPORTABLE:
            return True
        for c in self.channels:
            if c["payload_type"] == payload_type:
                return True
        return False

    def update(self, sources, now):
        """The events of a good poll that ask for reports (schedule.Builder.reports)."""
        for src in sources:
            eid = src.event_id
            old = self.sources.get(eid)
            if old is not None:
                if old.modified is None or old.modified != src.modified:
                    self.sources[eid] = src  # changed: its new intervals (the plans stay)
                continue  # unchanged: the arrays already kept stay, the new ones go
            self.sources[eid] = src
            skipped = []
            for i in range(len(src.descriptors)):
                desc = src.descriptors[i]
                typ = desc.get("payloadType") if isinstance(desc, dict) else None
                if not isinstance(typ, str) or not self.producible(typ):
                    if typ not in skipped:
                        skipped.append(typ)
                    continue
                plan = _Plan(desc, src.n, now)
                # What fell due before this VEN saw the event is not reported.
                while True:
                    sp = plan.span(plan.k, src)
                    if sp is None or sp[2] > now:
                        break
                    plan.k += 1
                self.plans[(eid, i)] = plan
            if skipped and self.log is not None:
                self.log.warning("event %s asks for %s reports, which this VEN cannot produce (it reports %s)",
                                 eid, ", ".join([str(t) for t in skipped]), ", ".join(self._kinds()))
        self._forget(now)

    def _kinds(self):
        out = list(REPORTABLE)
        for c in self.channels:
            if c["payload_type"] not in out:
                out.append(c["payload_type"])
        return out

    def _forget(self, now):
        # Plans with nothing left to report go, then their events; at most MAX_EVENTS stay.
        for key in list(self.plans):
            src = self.sources.get(key[0])
            if src is None or self.plans[key].span(self.plans[key].k, src) is None:
                del self.plans[key]
        live = [key[0] for key in self.plans]
        for eid in list(self.sources):
            if eid not in live:
                del self.sources[eid]
        while len(self.sources) > MAX_EVENTS:
            oldest = None
            for eid in self.sources:
                if oldest is None or self._last(eid) < self._last(oldest):
                    oldest = eid
            self._drop(oldest, "more than %d events want reports" % MAX_EVENTS)

    def _last(self, eid):
        best = None
        for key in self.plans:
            if key[0] == eid:
                sp = self.plans[key].span(self.plans[key].k, self.sources[eid])
                if sp is not None and (best is None or sp[2] > best):
                    best = sp[2]
        return best or 0

    def _drop(self, eid, why):
        for key in list(self.plans):
            if key[0] == eid:
                del self.plans[key]
        self.sources.pop(eid, None)
        if self.log is not None:
            self.log.warning("reports of event %s dropped: %s", eid, why)

    def due(self, now, version, applied, planned):
        """[(key, Report)] for every report that is due now (Report.pieces() is its JSON body)."""
        out = []
        for key in self.plans:
            plan = self.plans[key]
            src = self.sources[key[0]]
            sp = plan.span(plan.k, src)
            if sp is None or sp[2] > now:
                continue
            report = Report(self, src, plan, sp[0], sp[1], version, applied, planned)
            if not report.has_data():
                # Nothing known to report (e.g. the board was off): skip it, say so once.
                if self.log is not None:
                    self.log.warning("no data for the %s report %d of event %s: skipped", plan.type, plan.k, key[0])
                plan.k += 1
                continue
            out.append(((key, plan.k), report))
        return out

    def sent(self, key):
        plan = self.plans.get(key[0])
        if plan is not None and plan.k == key[1]:
            plan.k += 1

    def next_due(self, now):
        """When the next report falls due (Unix s; may be now), or None."""
        best = None
        for key in self.plans:
            plan = self.plans[key]
            sp = plan.span(plan.k, self.sources[key[0]])
            if sp is not None and (best is None or sp[2] < best):
                best = sp[2]
        return best


def _json(obj):
    return json.dumps(obj).encode("utf-8")


class Report:
    """One report, written as it is sent: its body is produced in pieces (one
    interval each), twice (once to count its length), never held whole: a
    report of 96 intervals would be ~10 KB of text and more as objects."""

    def __init__(self, reporter, src, plan, first, last, version, applied, planned):
        self.reporter = reporter
        self.src = src
        self.plan = plan
        self.first = first
        self.last = last
        self.version = version
        self.applied = applied
        self.planned = planned
        w0 = src.window(first)
        w1 = src.window(last) or w0
        if w1 is None:
            w1 = w0 = src.window(plan.start + plan.k * plan.every)
        self.name = "%s %s %s %s-%s" % (reporter.ven_name, src.event_id, plan.type, w0[0], w1[0])

    def _channels(self):
        typ = self.plan.type
        values = self.src.values
        for ci in range(len(self.reporter.channels)):
            ptype = self.reporter.channels[ci]["payload_type"]
            if (typ in REPORTABLE or typ == ptype) and (not values or ptype in values):
                yield ci

    def _intervals(self, ci):
        # (interval id, start, end, value) of each interval this report has a value for.
        src = self.src
        for u in range(self.first, self.last + 1):
            w = src.window(u)
            if w is None:
                continue
            v = self._value(ci, u, w[1], w[2])
            if v is not None:
                yield w[0], w[1], w[2], v

    def _value(self, ci, u, s, e):
        typ = self.plan.type
        if typ not in REPORTABLE:
            vals = self.src.values.get(typ)
            v = vals[u % self.src.n] if vals is not None else GAP
            return None if v == GAP else v
        if self.plan.hist:
            got = self.applied(ci, s, e)
            if got is None:
                return None
            duty, state = got
        else:
            duty = self.planned(ci, (s + e) // 2)
            state = FAILSAFE if duty is None else (IDLE if not duty else RUNNING)
        if typ == "SETPOINT":
            return None if duty is None else round(duty * 1000 / DUTY_MAX) / 10
        return _STATES[state]

    def has_data(self):
        for ci in self._channels():
            for _ in self._intervals(ci):
                return True
        return False

    def pieces(self):
        """The report's JSON body, in pieces of bytes."""
        typ = self.plan.type
        # SETPOINT is the mean over the interval; a forecast is a forecast.
        reading = "FORECAST" if not self.plan.hist else ("MEAN" if typ == "SETPOINT" else "DIRECT_READ")
        descriptor = {"objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": typ, "readingType": reading}
        if typ == "SETPOINT":
            descriptor["units"] = "PERCENT"
        head = {"eventID": self.src.event_id, "clientName": self.reporter.ven_name, "reportName": self.name,
                "payloadDescriptors": [descriptor]}
        if self.version == "3.0":
            # 3.0.1 requires the program (3.1.0 dropped the field).
            head["programID"] = self.src.program_id
        yield _json(head)[:-1] + b', "resources": ['
        sep = b""
        for ci in self._channels():
            first = True
            for iid, s, e, v in self._intervals(ci):
                if first:
                    yield sep + b'{"resourceName": ' + _json(self.reporter.channels[ci]["name"]) + b', "intervals": ['
                    sep = b", "
                else:
                    yield b", "
                first = False
                yield _json({"id": iid, "intervalPeriod": {"start": isotime.format_datetime(s), "duration":
                                                              "PT%dS" % (e - s)}, "payloads": [{"type": typ, "values": [v]}]})
            if not first:
                yield b"]}"
        yield b"]}"
