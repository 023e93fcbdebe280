# Portable: runs on CPython (pytest) and on the MicroPython VM (tests/mpvm).
#
# ven.reports.Reporter on synthetic interval windows (schedule.Intervals) and a
# fake applied/planned: when each report of a reportDescriptor falls due and
# what it covers (startInterval, numIntervals, historical, frequency, repeat as
# the OpenADR 3.1.0 Definition and User Guide 7.5 say; see reports.py), what
# its body holds per API version, and what comes from what the outputs did.
import json
import unittest

import tmpfiles

from ven import isotime
from ven.meter import FAILSAFE, IDLE, RUNNING, Meter
from ven.reports import MAX_EVENTS, Reporter
from ven.schedule import GAP, Intervals

T0 = 1767225600  # 2026-01-01T00:00:00Z
STEP = 10
IDS = [100, 101, 102, 103]
PRICES = [0.1, 0.2, 0.3, 0.4]
# What the load got in each interval (load duty, meter state), by channel.
APPLIED = [[(65535, RUNNING), (49151, RUNNING), (32768, RUNNING), (0, IDLE)],
           [(0, FAILSAFE), (0, IDLE), (65535, RUNNING), (65535, RUNNING)],
           [(0, IDLE)] * 4]
CHANNELS = [{"name": "heater", "payload_type": "PRICE"}, {"name": "charger", "payload_type": "PRICE"},
            {"name": "fan", "payload_type": "SIMPLE"}]


def intervals(*descriptors, eid="ev", n=4, period=0, until=None, values=True, program="prog-1"):
    vals = {"PRICE": PRICES[:n]} if values else {}
    return Intervals(eid, program, "2025-12-31T00:00:00Z", list(descriptors), T0, period, until, n, IDS[:n],
                     [k * STEP for k in range(n)], [(k + 1) * STEP for k in range(n)], None, vals)


class Fake:
    """applied() and planned() as the loop passes them; records the calls."""

    def __init__(self, known=True):
        self.known = known  # False: the meter has nothing for that time (e.g. the board was off)
        self.applied_calls = []
        self.planned_calls = []

    def applied(self, ci, start, end):
        self.applied_calls.append((ci, start, end))
        k = (start - T0) // STEP % 4
        return APPLIED[ci][k] if self.known else None

    def planned(self, ci, t):
        self.planned_calls.append((ci, t))
        return 65535 - 16384 * ((t - T0) // STEP % 4)


def as_body(report):
    """A due report's JSON body as an object (a Report writes itself in pieces)."""
    if hasattr(report, "pieces"):
        return json.loads(b"".join(report.pieces()))
    return report


def run(r, fake, start, end, version="3.1", step=1):
    """Every report the Reporter makes from start to end (checked every step s): [(t, body)]."""
    out = []
    t = start
    while t <= end:
        while True:
            due = r.due(t, version, fake.applied, fake.planned)
            if not due:
                break
            for key, report in due:
                out.append((t, as_body(report)))
                r.sent(key)
        t += step
    return out


def distinct(calls):
    # A report may be written more than once (to count its length, then to send it).
    out = []
    for c in calls:
        if c not in out:
            out.append(c)
    return out


def covered(body, resource=0):
    return [iv["id"] for iv in body["resources"][resource]["intervals"]]


def values(body, resource=0):
    return [iv["payloads"][0]["values"][0] for iv in body["resources"][resource]["intervals"]]


def kind(body):
    return body["payloadDescriptors"][0]["payloadType"]


class WhenTest(unittest.TestCase):
    def reports(self, desc, seen=T0 - 5, **kw):
        r = Reporter("ven-7", CHANNELS[:1])
        r.update([intervals(desc, **kw)], seen)
        return [(t - T0, covered(b)) for t, b in run(r, Fake(), seen, T0 + 100)]

    def test_defaults_one_report_of_every_interval_after_the_last(self):
        # startInterval -1 (historical: the last), numIntervals -1 (all), repeat 1.
        self.assertEqual(self.reports({"payloadType": "SETPOINT"}), [(40, IDS)])

    def test_one_report_per_interval(self):
        desc = {"payloadType": "SETPOINT", "startInterval": 0, "numIntervals": 1, "repeat": -1}
        self.assertEqual(self.reports(desc), [(10, [100]), (20, [101]), (30, [102]), (40, [103])])
        # frequency 1 says the same; without a repeat there is one report only.
        desc["frequency"] = 1
        self.assertEqual(self.reports(desc), [(10, [100]), (20, [101]), (30, [102]), (40, [103])])
        del desc["repeat"]
        self.assertEqual(self.reports(desc), [(10, [100])])

    def test_frequency_one_without_a_start_is_not_per_interval(self):
        # The old reading of {"frequency": 1, "repeat": -1}: under the Definition it
        # starts on the last interval and covers all of them, once (no interval follows).
        self.assertEqual(self.reports({"payloadType": "SETPOINT", "frequency": 1, "repeat": -1}), [(40, IDS)])

    def test_every_second_interval_covering_two(self):
        desc = {"payloadType": "SETPOINT", "startInterval": 1, "numIntervals": 2, "frequency": 2, "repeat": -1}
        self.assertEqual(self.reports(desc), [(20, [100, 101]), (40, [102, 103])])

    def test_frequency_defaults_to_num_intervals_and_zero_is_one(self):
        desc = {"payloadType": "SETPOINT", "startInterval": 1, "numIntervals": 2, "repeat": -1}
        self.assertEqual(self.reports(desc), [(20, [100, 101]), (40, [102, 103])])
        desc["frequency"] = 0  # "ad hoc": every interval
        self.assertEqual(self.reports(desc), [(20, [100, 101]), (30, [101, 102]), (40, [102, 103])])

    def test_num_intervals_all_up_to_the_start_interval(self):
        desc = {"payloadType": "SETPOINT", "startInterval": 2}
        self.assertEqual(self.reports(desc), [(30, [100, 101, 102])])

    def test_repeat_counts_reports(self):
        desc = {"payloadType": "SETPOINT", "startInterval": 0, "numIntervals": 1, "repeat": 2}
        self.assertEqual(self.reports(desc), [(10, [100]), (20, [101])])

    def test_forecast_is_sent_when_its_first_interval_begins(self):
        # historical false: from startInterval (default: the first) on, numIntervals (default: the rest).
        self.assertEqual(self.reports({"payloadType": "SETPOINT", "historical": False}), [(0, IDS)])
        desc = {"payloadType": "SETPOINT", "historical": False, "startInterval": 1, "numIntervals": 2}
        self.assertEqual(self.reports(desc), [(10, [101, 102])])
        desc["repeat"] = -1
        self.assertEqual(self.reports(desc), [(10, [101, 102]), (30, [103])])

    def test_repeats_go_on_through_a_looping_event(self):
        # Two 10 s intervals repeating every 20 s (event.duration longer than their span) for 60 s.
        desc = {"payloadType": "SETPOINT", "startInterval": 0, "numIntervals": 1, "repeat": -1}
        got = self.reports(desc, n=2, period=20, until=T0 + 60)
        self.assertEqual(got, [(10, [100]), (20, [101]), (30, [100]), (40, [101]), (50, [100]), (60, [101])])
        desc = {"payloadType": "SETPOINT", "startInterval": 1, "numIntervals": 2, "repeat": 2}
        self.assertEqual(self.reports(desc, n=2, period=20, until=None), [(20, [100, 101]), (40, [100, 101])])

    def test_what_fell_due_before_the_ven_saw_the_event_is_not_sent(self):
        desc = {"payloadType": "SETPOINT", "startInterval": 0, "numIntervals": 1, "repeat": -1}
        self.assertEqual(self.reports(desc, seen=T0 + 25), [(30, [102]), (40, [103])])
        self.assertEqual(self.reports({"payloadType": "SETPOINT"}, seen=T0 + 41), [])


class KeptTest(unittest.TestCase):
    def test_a_report_is_kept_until_sent_even_after_the_event_left_the_list(self):
        r = Reporter("ven-7", CHANNELS[:1])
        fake = Fake()
        r.update([intervals({"payloadType": "SETPOINT"})], T0 - 5)
        self.assertEqual(r.next_due(T0), T0 + 40)
        self.assertEqual(r.due(T0 + 39, "3.1", fake.applied, fake.planned), [])
        # The event is over: the VTN (active=true) no longer lists it.
        r.update([], T0 + 41)
        first = r.due(T0 + 41, "3.1", fake.applied, fake.planned)
        self.assertEqual(len(first), 1)
        # Not taken by the VTN (not sent): due again, the same report.
        r.update([], T0 + 50)
        again = r.due(T0 + 50, "3.1", fake.applied, fake.planned)
        self.assertEqual([as_body(b) for _, b in again], [as_body(b) for _, b in first])
        r.sent(again[0][0])
        r.sent(again[0][0])  # a second acknowledgement moves nothing
        self.assertEqual(r.due(T0 + 51, "3.1", fake.applied, fake.planned), [])
        self.assertIsNone(r.next_due(T0 + 51))
        r.update([], T0 + 52)
        self.assertEqual((r.plans, r.sources), ({}, {}))

    def test_at_most_max_events_are_tracked(self):
        log = tmpfiles.Log()
        r = Reporter("ven-7", CHANNELS[:1], log)
        desc = {"payloadType": "SETPOINT", "startInterval": 0, "numIntervals": 1, "repeat": -1}
        r.update([intervals(desc, eid="e%d" % i) for i in range(MAX_EVENTS + 2)], T0 - 5)
        self.assertEqual(len(r.sources), MAX_EVENTS)
        self.assertEqual(len([x for x in log.lines if "dropped" in x]), 2)


class BodyTest(unittest.TestCase):
    def bodies(self, descs, version="3.1", channels=CHANNELS, fake=None, **kw):
        r = Reporter("ven-7", channels)
        r.update([intervals(*descs, **kw)], T0 - 5)
        return run(r, fake or Fake(), T0 - 5, T0 + 45, version)

    def test_setpoint_is_what_the_outputs_did_per_channel(self):
        fake = Fake()
        (t, body), = self.bodies([{"payloadType": "SETPOINT"}], fake=fake)
        self.assertEqual(t, T0 + 40)
        # Channels on the event's payload type (PRICE); the SIMPLE fan is not driven by it.
        self.assertEqual([res["resourceName"] for res in body["resources"]], ["heater", "charger"])
        self.assertEqual(values(body, 0), [100.0, 75.0, 50.0, 0.0])
        self.assertEqual(values(body, 1), [0.0, 0.0, 100.0, 100.0])
        self.assertEqual(distinct(fake.applied_calls)[:4], [(0, T0 + k * STEP, T0 + (k + 1) * STEP) for k in range(4)])
        first = body["resources"][0]["intervals"][0]
        self.assertEqual(first["intervalPeriod"], {"start": isotime.format_datetime(T0), "duration": "PT10S"})
        self.assertEqual(body["payloadDescriptors"], [{"objectType": "REPORT_PAYLOAD_DESCRIPTOR",
                                                       "payloadType": "SETPOINT", "readingType": "MEAN",
                                                       "units": "PERCENT"}])
        self.assertEqual((body["eventID"], body["clientName"]), ("ev", "ven-7"))
        self.assertEqual(body["reportName"], "ven-7 ev SETPOINT 100-103")

    def test_operating_state_from_the_meter_state(self):
        (t, body), = self.bodies([{"payloadType": "OPERATING_STATE"}])
        self.assertEqual(values(body, 0), ["RUNNING_NORMAL"] * 3 + ["IDLE_NORMAL"])
        self.assertEqual(values(body, 1), ["NORMAL", "IDLE_NORMAL", "RUNNING_NORMAL", "RUNNING_NORMAL"])
        self.assertEqual(body["payloadDescriptors"][0]["readingType"], "DIRECT_READ")

    def test_the_channels_payload_type_acknowledges_the_events_values(self):
        desc = {"payloadType": "PRICE", "startInterval": 1, "numIntervals": 2, "frequency": 2, "repeat": -1}
        got = self.bodies([desc])
        self.assertEqual([covered(b) for _, b in got], [[100, 101], [102, 103]])
        self.assertEqual([values(b) for _, b in got], [[0.1, 0.2], [0.3, 0.4]])

    def test_a_forecast_is_the_planned_duty(self):
        fake = Fake()
        (t, body), = self.bodies([{"payloadType": "SETPOINT", "historical": False}], fake=fake)
        self.assertEqual(t, T0)
        self.assertEqual(values(body, 0), [100.0, 75.0, 50.0, 25.0])
        self.assertEqual(fake.applied_calls, [])
        self.assertEqual(distinct(fake.planned_calls)[:4], [(0, T0 + 5 + k * STEP) for k in range(4)])
        self.assertEqual(body["payloadDescriptors"][0]["readingType"], "FORECAST")

    def test_program_id_only_in_3_0_bodies(self):
        (_, body31), = self.bodies([{"payloadType": "SETPOINT"}], version="3.1")
        (_, body30), = self.bodies([{"payloadType": "SETPOINT"}], version="3.0")
        self.assertFalse("programID" in body31)
        self.assertEqual(body30["programID"], "prog-1")
        del body30["programID"]
        self.assertEqual(body30, body31)

    def test_a_report_only_event_is_reported_by_every_channel(self):
        (_, body), = self.bodies([{"payloadType": "SETPOINT"}], values=False)
        self.assertEqual([res["resourceName"] for res in body["resources"]], ["heater", "charger", "fan"])

    def test_intervals_without_data_are_left_out_and_a_report_without_any_is_skipped(self):
        log = tmpfiles.Log()
        r = Reporter("ven-7", CHANNELS[:1], log)
        r.update([intervals({"payloadType": "SETPOINT"})], T0 - 5)
        self.assertEqual(run(r, Fake(known=False), T0 - 5, T0 + 45), [])
        self.assertEqual(len([x for x in log.lines if "no data" in x]), 1)
        self.assertIsNone(r.next_due(T0 + 45))
        # A price the event does not give for an interval is not acknowledged.
        src = intervals({"payloadType": "PRICE"})
        src.values["PRICE"] = [0.1, GAP, 0.3, 0.4]
        r = Reporter("ven-7", CHANNELS[:1])
        r.update([src], T0 - 5)
        (_, body), = run(r, Fake(), T0 - 5, T0 + 45)
        self.assertEqual(covered(body), [100, 102, 103])

    def test_unproducible_types_are_said_once_per_event(self):
        log = tmpfiles.Log()
        r = Reporter("ven-7", CHANNELS, log)
        descs = [{"payloadType": "USAGE"}, {"payloadType": "SETPOINT"}, {"payloadType": "USAGE", "repeat": 2},
                 {"payloadType": "DEMAND"}, {"nothing": 1}]
        for now in (T0 - 5, T0 - 4, T0 - 3):
            r.update([intervals(*descs)], now)
        said = [x for x in log.lines if "cannot produce" in x]
        self.assertEqual(len(said), 1)
        self.assertIn("USAGE, DEMAND", said[0])
        self.assertEqual(sorted(r.plans), [("ev", 1)])
        r.update([intervals(*descs, eid="other")], T0 - 2)
        self.assertEqual(len([x for x in log.lines if "cannot produce" in x]), 2)


class MeteredTest(unittest.TestCase):
    def test_setpoint_counts_fail_safe_time(self):
        # Interval 0 spent half at fail-safe (duty 0), half at full duty: ~50 %.
        m = Meter()
        m.record(T0 * 1000 - 3000, 0, failsafe=True)
        m.record(T0 * 1000 + 5000, 65535)
        m.record(T0 * 1000 + 10000, 65535)
        m.record(T0 * 1000 + 20000, 0)
        channel = [{"name": "heater", "payload_type": "PRICE"}]

        def applied(ci, start, end):
            return m.summary(start, end)

        r = Reporter("ven-7", channel)
        r.update([intervals({"payloadType": "SETPOINT", "startInterval": 0, "numIntervals": 1, "repeat": 2},
                            {"payloadType": "OPERATING_STATE", "startInterval": 0, "numIntervals": 1,
                             "repeat": 2})], T0 - 5)
        got = []
        for now in (T0 + 10, T0 + 20):
            for key, report in r.due(now, "3.1", applied, None):
                got.append((kind(as_body(report)), values(as_body(report))))
                r.sent(key)
        self.assertEqual(got, [("SETPOINT", [50.0]), ("OPERATING_STATE", ["NORMAL"]),
                               ("SETPOINT", [100.0]), ("OPERATING_STATE", ["RUNNING_NORMAL"])])


if __name__ == "__main__":
    unittest.main()
