# Portable: runs on CPython (pytest) and on the MicroPython VM (tests/mpvm).
#
# Table-driven from the OpenADR 3.1.0 User Guide's examples (section 7 and 8),
# copied here as data so the tests do not need the spec folder.
import array
import binascii
import json
import os
import unittest

import tmpfiles
from schedule_help import build, next_change, value_at
from ven import isotime, schedule, schedule_file, store
from ven.isotime import parse_datetime

H = 3600
D = 86400
T0 = parse_datetime("2026-11-22T00:00:00Z")
UG = parse_datetime("2023-02-10T00:00:00Z")  # the User Guide's examples start here
NOW_31 = "0001-01-01T00:00:00"
NOW_30 = "0000-00-00"


def price_event(prices, start="2026-11-22T00:00:00Z", step="PT1H", typ="PRICE", **extra):
    # step: the event intervalPeriod.duration; event fields (e.g. "duration") go in extra.
    ev = {"id": "e1", "programID": "p1", "intervalPeriod": {"start": start, "duration": step},
          "intervals": [{"id": i, "payloads": [{"type": typ, "values": [p]}]} for i, p in enumerate(prices)]}
    for k in extra:
        ev[k] = extra[k]
    return ev


# --- The User Guide's examples -------------------------------------------------

UG_7_2_MINIMAL = {
    "createdDateTime": "14:13:26", "eventName": "simplePriceEvent", "id": "0",
    "intervalPeriod": {"duration": "PT1H", "start": "2023-02-10T00:00:00.000Z"},
    "intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [0.17]}]}],
    "objectType": "EVENT", "programID": "0"}

UG_7_3_MULTI_VALUE = {
    "eventName": "multiPriceEvent", "programID": "44",
    "payloadDescriptors": [{"payloadType": "PRICE", "units": "KWH", "currency": "USD"}],
    "intervals": [{"id": 0, "intervalPeriod": {"start": "2025-06-25T00:00:00.000Z", "duration": "PT3H"},
                   "payloads": [{"type": "PRICE", "values": [0.17, 0.03, 0.11]}]}]}

UG_7_4_VARIABLE = {
    "eventName": "variableIntervalsEvent", "programID": "44",
    "intervalPeriod": {"start": "2023-02-10T00:00:00.000Z", "duration": "PT1H"},
    "intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [0.17]}]},
                  {"id": 1, "intervalPeriod": {"duration": "PT2H"},
                   "payloads": [{"type": "PRICE", "values": [0.22]}]}]}

UG_7_6_DESCRIPTORS = {
    "eventName": "payloadDescriptorsEvent", "programID": "44",
    "intervalPeriod": {"start": "2023-02-10T00:00:00.000Z", "duration": "PT1H"},
    "payloadDescriptors": [{"payloadType": "PRICE", "units": "KWH", "currency": "USD"}, {"payloadType": "GHG"}],
    "intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [0.17]}, {"type": "GHG", "values": [0.03]}]}]}

UG_8_1_ALERT = {
    "eventName": "alertEvent", "programID": "44",
    "intervalPeriod": {"start": "2025-03-14T00:00:00.000Z", "duration": "PT4H"},
    "intervals": [{"id": 0, "payloads": [{"type": "ALERT_GRID_EMERGENCY",
                                          "values": ["The grid is currently under emergency conditions"]}]}]}

UG_8_2_SIMPLE = {
    "eventName": "simpleEvent", "programID": "44",
    "intervalPeriod": {"start": "2025-03-14T00:00:00.000Z", "duration": "PT4H"},
    "payloadDescriptors": [{"payloadType": "SIMPLE"}],
    "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}]}

UG_8_3_PRICING = {
    "eventName": "pricingEvent", "programID": "44",
    "intervalPeriod": {"start": "2023-02-10T00:00:00.000Z", "duration": "PT1H"},
    "reportDescriptors": [{"payloadType": "USAGE", "readingType": "DIRECT_READ", "units": "KWH",
                           "startInterval": -1, "numIntervals": -1, "historical": True,
                           "frequency": -1, "repeat": 1}],
    "payloadDescriptors": [{"payloadType": "PRICE", "units": "KWH", "currency": "USD"}],
    "intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [0.17]}]},
                  {"id": 1, "payloads": [{"type": "PRICE", "values": [0.03]}]}]}


def alert_now(start=NOW_31, **extra):
    ev = dict(UG_8_1_ALERT)
    ev["id"] = "alert"
    ev["intervalPeriod"] = {"start": start, "duration": "P9999Y"}
    for k in extra:
        ev[k] = extra[k]
    return ev


# Each case: (name, events, payload type, now, [(time, expected value), ...]).
CASES = [
    ("7.2 minimal price event", [UG_7_2_MINIMAL], "PRICE", UG,
     [(UG - 1, None), (UG, 0.17), (UG + H - 1, 0.17), (UG + H, None)]),
    ("7.3 multi-valued payload splits the interval", [UG_7_3_MULTI_VALUE], "PRICE",
     parse_datetime("2025-06-25T00:00:00Z"),
     [(parse_datetime("2025-06-25T00:00:00Z"), 0.17), (parse_datetime("2025-06-25T00:59:59Z"), 0.17),
      (parse_datetime("2025-06-25T01:00:00Z"), 0.03), (parse_datetime("2025-06-25T02:30:00Z"), 0.11),
      (parse_datetime("2025-06-25T03:00:00Z"), None)]),
    ("7.4 variable duration intervals", [UG_7_4_VARIABLE], "PRICE", UG,
     [(UG, 0.17), (UG + H, 0.22), (UG + 3 * H - 1, 0.22), (UG + 3 * H, None)]),
    ("7.6 payloadDescriptors: PRICE", [UG_7_6_DESCRIPTORS], "PRICE", UG, [(UG, 0.17), (UG + H, None)]),
    ("7.6 payloadDescriptors: GHG", [UG_7_6_DESCRIPTORS], "GHG", UG, [(UG, 0.03)]),
    ("8.1 alert: a string value means present", [UG_8_1_ALERT], "ALERT_GRID_EMERGENCY",
     parse_datetime("2025-03-14T00:00:00Z"),
     [(parse_datetime("2025-03-14T03:59:59Z"), 1), (parse_datetime("2025-03-14T04:00:00Z"), None)]),
    ("8.1 alert now with P9999Y (3.1 start)", [alert_now()], "ALERT_GRID_EMERGENCY", T0,
     [(T0 - 1, None), (T0, 1), (T0 + 365 * D * 50, 1)]),
    ("8.1 alert now with P9999Y (3.0 start)", [alert_now(NOW_30)], "ALERT_GRID_EMERGENCY", T0,
     [(T0, 1), (T0 + 365 * D * 50, 1)]),
    ("8.2 SIMPLE level", [UG_8_2_SIMPLE], "SIMPLE", parse_datetime("2025-03-14T00:00:00Z"),
     [(parse_datetime("2025-03-14T01:00:00Z"), 1), (parse_datetime("2025-03-14T04:00:00Z"), None)]),
    ("8.3 pricing event: intervals follow each other", [UG_8_3_PRICING], "PRICE", UG,
     [(UG, 0.17), (UG + H, 0.03), (UG + 2 * H, None)]),
    ("7.3 'do it now': read at 6 am, the 6th interval applies",
     [price_event([0.1 + h for h in range(25)])], "PRICE", T0 + 6 * H + 5,
     [(T0 + 6 * H + 5, 6.1), (T0 + 24 * H, 24.1)]),
    ("7.3 event.duration P7D repeats a day of prices for a week",
     [price_event([h for h in range(24)], **{"duration": "P7D"})], "PRICE", T0,
     [(T0 + 5 * H, 5), (T0 + D + 5 * H, 5), (T0 + 6 * D + 23 * H, 23), (T0 + 7 * D - 1, 23), (T0 + 7 * D, None)]),
    ("7.3 event.duration P9999Y repeats for ever",
     [price_event([h for h in range(24)], **{"duration": "P9999Y"})], "PRICE", T0,
     [(T0 + 400 * D + 7 * H, 7), (T0 + 3650 * D + 23 * H + 59, 23)]),
    ("7.3 event.duration P12H truncates",
     [price_event([h for h in range(24)], **{"duration": "P12H"})], "PRICE", T0,
     [(T0 + 11 * H, 11), (T0 + 12 * H, None), (T0 + 20 * H, None)]),
]


class UserGuideTest(unittest.TestCase):
    def test_cases(self):
        for name, events, typ, now, expect in CASES:
            b = schedule.Builder((typ,), now)
            for ev in events:
                b.add_event(ev)
            sched = b.finish()
            self.assertEqual(b.errors, [], name)
            for t, want in expect:
                got = sched.value_at(typ, t)
                if want is None or got is None:
                    self.assertEqual(got, want, "%s at %+d s: %r" % (name, t - now, got))
                else:
                    self.assertAlmostEqual(got, want, 5, "%s at %+d s: %r" % (name, t - now, got))

    def test_units_from_payload_descriptors(self):
        b = schedule.Builder(("PRICE", "GHG", "SIMPLE"), UG)
        for ev in (UG_7_6_DESCRIPTORS, UG_8_2_SIMPLE):
            b.add_event(ev)
        self.assertEqual(b.finish().units, {"PRICE": "USD/KWH"})
        # Program-level descriptors are the default for its events.
        b = schedule.Builder(("PRICE",), UG)
        b.program({"programName": "p", "payloadDescriptors": [{"payloadType": "PRICE", "units": "KWH",
                                                              "currency": "EUR"}]})
        b.add_event(UG_7_2_MINIMAL)
        self.assertEqual(b.finish().units, {"PRICE": "EUR/KWH"})

    def test_several_types_at_once(self):
        b = schedule.Builder(("PRICE", "GHG"), UG)
        b.add_event(UG_7_6_DESCRIPTORS)
        sched = b.finish()
        self.assertAlmostEqual(sched.value_at("PRICE", UG), 0.17, 5)
        self.assertAlmostEqual(sched.value_at("GHG", UG), 0.03, 5)
        self.assertEqual(sched.value_at("EXPORT_PRICE", UG), None)


class PriorityTest(unittest.TestCase):
    def test_lower_priority_number_wins_and_gaps_let_others_through(self):
        base = price_event([1] * 4, priority=1)
        urgent = price_event([9], start="2026-11-22T01:00:00Z", priority=0)
        urgent["id"] = "e2"
        sched, errors = build([base, urgent], "PRICE", T0)
        self.assertEqual(errors, [])
        self.assertEqual(value_at(sched, T0), 1)
        self.assertEqual(value_at(sched, T0 + H), 9)
        self.assertEqual(value_at(sched, T0 + 2 * H), 1)
        self.assertEqual(next_change(sched, T0), T0 + H)
        self.assertEqual(next_change(sched, T0 + H), T0 + 2 * H)

    def test_no_priority_is_lowest(self):
        plain = price_event([5])
        low = price_event([6], priority=7)
        low["id"] = "e2"
        for order in ([plain, low], [low, plain]):
            sched, _ = build(order, "PRICE", T0)
            self.assertEqual(value_at(sched, T0), 6)

    def test_ties_go_to_the_latest_modification(self):
        old = price_event([2], priority=1, modificationDateTime="2026-11-20T00:00:00Z")
        new = price_event([3], priority=1, modificationDateTime="2026-11-21T00:00:00Z")
        new["id"] = "e2"
        for order in ([new, old], [old, new]):
            sched, _ = build(order, "PRICE", T0)
            self.assertEqual(value_at(sched, T0), 3)


class CancellationTest(unittest.TestCase):
    def test_start_now_with_pt0s_cancels_even_explicit_intervals(self):
        ev = price_event([4, 5], start=NOW_31, step="PT0S", priority=0)
        ev["intervals"][0]["intervalPeriod"] = {"start": "2026-11-22T00:00:00Z", "duration": "PT1H"}
        other = price_event([1, 1])
        other["id"] = "e2"
        b = schedule.Builder(("PRICE",), T0)
        b.add_event(ev)
        b.add_event(other)
        sched = b.finish()
        self.assertEqual(b.cancelled, 1)
        self.assertEqual(sched.value_at("PRICE", T0), 1)

    def test_deleted_event_is_gone_from_the_next_schedule(self):
        a = price_event([1], priority=0)
        b = price_event([2], priority=1)
        b["id"] = "e2"
        first, _ = build([a, b], "PRICE", T0)
        second, _ = build([b], "PRICE", T0)
        self.assertEqual(value_at(first, T0), 1)
        self.assertEqual(value_at(second, T0), 2)
        self.assertTrue(first != second)

    def test_event_duration_zero_cancels(self):
        sched, errors = build([price_event([1], **{"duration": "PT0S"})], "PRICE", T0)
        self.assertEqual((errors, value_at(sched, T0)), ([], None))


class TimingTest(unittest.TestCase):
    def test_intervals_follow_in_list_order_not_by_id(self):
        ev = price_event([1, 2, 3])
        ev["intervals"].reverse()  # ids 2, 1, 0: ids are "not a sequence number"
        sched, _ = build([ev], "PRICE", T0)
        self.assertEqual([value_at(sched, T0 + h * H) for h in range(3)], [3, 2, 1])

    def test_interval_overrides_and_following(self):
        ev = price_event([1, 2, 3])
        ev["intervals"][1]["intervalPeriod"] = {"start": "2026-11-22T05:00:00Z", "duration": "PT30M"}
        sched, _ = build([ev], "PRICE", T0)
        got = [value_at(sched, T0 + x) for x in (0, H, 5 * H, 5 * H + 1800, 6 * H + 1799, 6 * H + 1800)]
        self.assertEqual(got, [1, None, 2, 3, 3, None])

    def test_now_start_of_an_interval_follows_the_previous(self):
        ev = price_event([1, 2])
        ev["intervals"][1]["intervalPeriod"] = {"start": NOW_31}
        sched, _ = build([ev], "PRICE", T0)
        self.assertEqual(value_at(sched, T0 + H), 2)

    def test_first_interval_now_without_event_period_is_do_it_now(self):
        ev = {"id": "x", "intervals": [{"id": 0, "intervalPeriod": {"start": NOW_31, "duration": "PT1H"},
                                        "payloads": [{"type": "PRICE", "values": [7]}]}]}
        now = T0 + 1234
        sched, errors = build([ev], "PRICE", now)
        self.assertEqual(errors, [])
        self.assertEqual([value_at(sched, t) for t in (now - 1, now, now + H - 1, now + H)],
                         [None, 7, 7, None])

    def test_later_interval_wins_where_intervals_overlap(self):
        ev = price_event([1, 2])
        ev["intervals"][1]["intervalPeriod"] = {"start": "2026-11-22T00:30:00Z", "duration": "PT10M"}
        sched, _ = build([ev], "PRICE", T0)
        got = [value_at(sched, T0 + x) for x in (0, 1799, 1800, 2399, 2400, 3599, 3600)]
        self.assertEqual(got, [1, 1, 2, 2, 1, 1, None])

    def test_gaps_and_next_change(self):
        ev = price_event([1, 2])
        ev["intervals"][1]["intervalPeriod"] = {"start": "2026-11-22T02:00:00Z"}
        sched, _ = build([ev], "PRICE", T0)
        self.assertEqual(next_change(sched, T0 - 100), T0)
        self.assertEqual(next_change(sched, T0), T0 + H)
        self.assertEqual(value_at(sched, T0 + H), None)
        self.assertEqual(next_change(sched, T0 + H), T0 + 2 * H)
        self.assertEqual(next_change(sched, T0 + 3 * H), None)

    def test_boundaries_without_a_change_are_harmless(self):
        sched, _ = build([price_event([1, 1, 1, 2])], "PRICE", T0)
        self.assertEqual([value_at(sched, T0 + h * H) for h in range(5)], [1, 1, 1, 2, None])
        self.assertTrue(T0 < next_change(sched, T0) <= T0 + 3 * H)
        # Intervals with periods of their own take the general path, which merges equal neighbours.
        ev = price_event([1, 1, 1, 2])
        ev["intervals"][1]["intervalPeriod"] = {"duration": "PT1H"}
        sched, _ = build([ev], "PRICE", T0)
        self.assertEqual([value_at(sched, T0 + h * H) for h in range(5)], [1, 1, 1, 2, None])
        self.assertEqual(next_change(sched, T0), T0 + 3 * H)
        self.assertEqual(len(sched.tracks["PRICE"][0].t), 3)

    def test_plain_and_walked_paths_agree(self):
        # Plain events (all intervals following, one value each) take a short cut;
        # the same event with a redundant interval duration takes the general path.
        cases = [[1, 2, 3, 4], [1, None, 3], [[1, 2], 3, 4]]
        for prices in cases:
            ev = price_event([0] * len(prices))
            for i, p in enumerate(prices):
                if p is None:
                    ev["intervals"][i]["payloads"] = [{"type": "GHG", "values": [5]}]
                else:
                    ev["intervals"][i]["payloads"][0]["values"] = p if isinstance(p, list) else [p]
            plain, _ = build([ev], "PRICE", T0)
            ev["intervals"][0]["intervalPeriod"] = {"duration": "PT1H"}
            walked, _ = build([ev], "PRICE", T0)
            for t in range(T0 - 10, T0 + 5 * H, 600):
                self.assertEqual(value_at(plain, t), value_at(walked, t), (prices, t - T0))

    def test_start_now_is_kept_across_polls(self):
        ev = price_event([5], start=NOW_31, step="PT1H", modificationDateTime="2026-11-21T00:00:00Z")
        first = schedule.Builder(("PRICE",), T0)
        first.add_event(ev)
        s1 = first.finish()
        again = schedule.Builder(("PRICE",), T0 + 600, anchors=s1.anchors)
        again.add_event(ev)
        s2 = again.finish()
        self.assertTrue(s1 == s2)
        self.assertEqual(s2.value_at("PRICE", T0 + H - 1), 5)
        self.assertEqual(s2.value_at("PRICE", T0 + H), None)
        # A modified event is a new one: "now" is when it was seen again.
        ev["modificationDateTime"] = "2026-11-22T00:05:00Z"
        third = schedule.Builder(("PRICE",), T0 + 600, anchors=s2.anchors)
        third.add_event(ev)
        self.assertEqual(third.finish().value_at("PRICE", T0 + H), 5)

    def test_randomize_start_is_deterministic_per_ven_and_bounded(self):
        ev = price_event([1, 2, 3], start="2026-11-22T01:00:00Z", step="PT1H")
        ev["intervalPeriod"]["randomizeStart"] = "PT10M"
        shifts = []
        for seed in ("ven-a", "ven-b", "ven-c", "ven-d"):
            s1, _ = build([ev], "PRICE", T0, seed)
            s2, _ = build([ev], "PRICE", T0 + 60, seed)
            self.assertTrue(s1 == s2, "same VEN, same event: same shift at every poll")
            start = next_change(s1, T0)
            shift = start - (T0 + H)
            self.assertTrue(-600 <= shift <= 600, shift)
            # Following intervals move by the same amount.
            self.assertEqual(next_change(s1, start), start + H)
            self.assertEqual(value_at(s1, start + H), 2)
            shifts.append(shift)
        self.assertTrue(len(set(shifts)) > 1, "different VENs should spread: %r" % shifts)

    def test_infinite_interval_then_nothing_follows(self):
        ev = price_event([1, 2], step="P9999Y")
        sched, errors = build([ev], "PRICE", T0)
        self.assertEqual(errors, [])
        self.assertEqual(value_at(sched, T0 + 1000 * D), 1)
        self.assertEqual(next_change(sched, T0), None)

    def test_past_events_are_dropped(self):
        sched, _ = build([price_event([1, 2])], "PRICE", T0 + 3 * H)
        self.assertEqual(sched.tracks, {})


class BadInputTest(unittest.TestCase):
    def test_bad_events_skipped_with_reason(self):
        good = price_event([1])
        no_intervals = {"id": "bad1", "intervalPeriod": {"start": "2026-11-22T00:00:00Z", "duration": "PT1H"},
                        "intervals": []}
        bad_time = price_event([2], start="yesterday")
        bad_time["id"] = "bad2"
        no_period = {"id": "bad3", "intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [3]}]}]}
        bad_iv = price_event([4])
        bad_iv["id"] = "bad4"
        bad_iv["intervals"][0]["intervalPeriod"] = {"duration": "soon"}
        sched, errors = build([no_intervals, good, bad_time, no_period, "junk", None, bad_iv], "PRICE", T0)
        self.assertEqual(value_at(sched, T0), 1)
        self.assertEqual(len(errors), 6)
        self.assertTrue("bad1" in errors[0] and "no intervals" in errors[0], errors[0])
        self.assertTrue("bad2" in errors[1], errors[1])
        self.assertTrue("bad3" in errors[2] and "no start" in errors[2], errors[2])
        self.assertTrue("bad4" in errors[5] and "interval 0" in errors[5], errors[5])

    def test_odd_values_ignored(self):
        ev = price_event(["0.2", True, None])
        ev["intervals"].append({"id": 9, "payloads": [{"type": "PRICE", "values": []}]})
        ev["intervals"].append({"id": 10, "payloads": [{"type": "PRICE"}, "junk"]})
        ev["intervals"].append({"id": 11, "payloads": [{"type": "PRICE", "values": [float("nan")]}]})
        ev["intervals"].append("junk")
        sched, errors = build([ev], "PRICE", T0)
        self.assertEqual(sched.tracks, {})
        self.assertEqual(errors, [])

    def test_invalid_value_in_a_packed_list_leaves_a_gap(self):
        ev = price_event([0])
        ev["intervals"][0]["payloads"][0]["values"] = [1, "x", 3]
        ev["intervalPeriod"]["duration"] = "PT3H"
        sched, _ = build([ev], "PRICE", T0)
        self.assertEqual([value_at(sched, T0 + h * H) for h in range(4)], [1, None, 3, None])


class CompactTest(unittest.TestCase):
    def test_a_week_of_quarter_hours_is_two_arrays(self):
        import array
        ev = price_event([(i % 40) / 100 for i in range(672)], step="PT15M")
        sched, _ = build([ev], "PRICE", T0)
        tr = sched.tracks["PRICE"][0]
        self.assertTrue(isinstance(tr.t, array.array) and isinstance(tr.v, array.array))
        # One offset and one value per interval, plus the end.
        self.assertEqual((len(tr.t), len(tr.v)), (673, 673))
        self.assertEqual(len(bytes(tr.t)), 4 * 673)
        self.assertEqual(len(bytes(tr.v)), len(bytes(array.array(schedule.VALUE_TYPE, [0.0]))) * 673)
        self.assertEqual(value_at(sched, T0 + 671 * 900), (671 % 40) / 100)


def good_header():
    # A file as save() writes it (values as doubles: load converts them where floats are single).
    return {"v": schedule.FILE_VERSION, "vt": "d", "saved": T0, "units": {"PRICE": "USD/KWH"},
            "anchors": {"a1": [None, T0], "a2": ["2026-01-01T00:00:00Z", T0 - H]},
            "tracks": [["PRICE", T0, T0 + D, 0, 1, T0 - D, "e1", 3], ["PRICE", T0, None, H, None, 0, None, 1]]}


def good_arrays():
    return [array.array("i", [0, H, 2 * H]), array.array("d", [0.25, -1.5, schedule.GAP]),
            array.array("i", [0]), array.array("d", [7.0])]


def set_field(head, where, value):
    # where: a header key, or an index into the first track's entry.
    if isinstance(where, int):
        head["tracks"][0][where] = value
    else:
        head[where] = value


class PersistenceTest(unittest.TestCase):
    def setUp(self):
        self.dir = tmpfiles.make()
        self.path = self.dir + "/schedule.bin"

    def tearDown(self):
        tmpfiles.remove(self.dir)

    def craft(self, where=None, value=None, arrays=None, line=None):
        """A file with a valid checksum (so the other checks are what is tried) and one field changed."""
        head = good_header()
        if where is not None:
            set_field(head, where, value)
        if line is None:
            line = (json.dumps(head) + "\n").encode("utf-8")
        store.write_atomic(self.path, [line] + (good_arrays() if arrays is None else arrays))

    def assert_set_aside(self, why="", case=None):
        """Damaged: load gives no schedule, the file goes to .bad as it was, with one log line."""
        data = tmpfiles.read(self.path)
        log = tmpfiles.Log()
        self.assertEqual(schedule_file.load(self.path, log), None, case)
        self.assertFalse(tmpfiles.exists(self.path), case)
        self.assertEqual(tmpfiles.read(self.path + ".bad"), data, case)
        self.assertEqual(len(log.lines), 1, (case, log.lines))
        line = log.lines[0]
        self.assertTrue(line.startswith(self.path + " not usable ("), (case, line))
        self.assertTrue(why in line and line.endswith("moved to %s.bad; starting without it" % self.path),
                        (case, why, line))

    def test_save_and_load_round_trip(self):
        b = schedule.Builder(("PRICE", "GHG"), T0)
        b.add_event(price_event([0.1, 0.2, 0.3], **{"duration": "P7D", "priority": 2}))
        b.add_event(alert_now(**{"intervals": [{"id": 0, "payloads": [{"type": "GHG", "values": [400]}]}]}))
        b.add_event(UG_7_3_MULTI_VALUE)
        sched = b.finish()
        schedule_file.save(sched, self.path, now=T0)
        log = tmpfiles.Log()
        back = schedule_file.load(self.path, log)
        self.assertEqual(log.lines, [])
        self.assertTrue(back == sched)
        self.assertEqual(back.saved, T0)
        self.assertEqual(back.anchors, sched.anchors)
        self.assertEqual(back.units, sched.units)
        for typ in sched.tracks:
            for a, b in zip(back.tracks[typ], sched.tracks[typ]):
                self.assertEqual((a.until, a.period, a.priority, a.modified, a.event_id),
                                 (b.until, b.period, b.priority, b.modified, b.event_id))
        for t in (T0, T0 + H, T0 + 5 * D + 2 * H, T0 + 8 * D):
            self.assertEqual(back.value_at("PRICE", t), sched.value_at("PRICE", t))
            self.assertEqual(back.value_at("GHG", t), sched.value_at("GHG", t))
            self.assertEqual(back.next_change(t), sched.next_change(t))
        # Saved again, the same bytes: nothing was lost or changed on the way.
        first = tmpfiles.read(self.path)
        schedule_file.save(back, self.path, now=T0)
        self.assertEqual(tmpfiles.read(self.path), first)

    def test_file_layout_header_arrays_checksum(self):
        sched, _ = build([price_event([1, 2, 3])], "PRICE", T0)
        schedule_file.save(sched, self.path, now=T0)
        data = tmpfiles.read(self.path)
        nl = data.index(b"\n")
        head = json.loads(data[:nl])
        self.assertEqual((head["v"], head["vt"], head["saved"]), (2, schedule.VALUE_TYPE, T0))
        tr = sched.tracks["PRICE"][0]
        self.assertEqual(head["tracks"], [["PRICE", tr.base, tr.until, tr.period, tr.priority, tr.modified, "e1", 4]])
        body = data[:nl + 1] + bytes(tr.t) + bytes(tr.v)
        self.assertEqual(data, body + b"%08x\n" % binascii.crc32(body))

    def test_a_crafted_good_file_loads(self):
        # The base of the damaged files below is itself fine.
        self.craft()
        sched = schedule_file.load(self.path)
        self.assertEqual((sched.value_at("PRICE", T0), sched.value_at("PRICE", T0 + H)), (0.25, -1.5))
        self.assertEqual(sched.value_at("PRICE", T0 + 2 * H), 7.0)  # the second track shows through the gap
        self.assertEqual(sched.anchors, {"a1": (None, T0), "a2": ("2026-01-01T00:00:00Z", T0 - H)})
        self.assertEqual(sched.tracks["PRICE"][1].event_id, None)

    def test_no_file_is_no_schedule_without_a_word(self):
        log = tmpfiles.Log()
        self.assertEqual(schedule_file.load(self.path, log), None)
        self.assertEqual(log.lines, [])

    def test_a_huge_count_fails_before_allocating(self):
        # 2**31-1 breakpoints would be 24 GB of arrays: refused from the file's size at once.
        for n in (2 ** 31 - 1, 2 ** 40, 2 ** 24, 5):  # the file holds 4 in all
            self.craft(7, n)
            self.assert_set_aside("truncated", n)

    def test_times_stored_as_text(self):
        # base, until, period, priority, modified as "123" would kill the output task later.
        for where in (1, 2, 3, 4, 5, "saved"):
            self.craft(where, "123")
            self.assert_set_aside("", where)
        self.craft("anchors", {"a1": [None, "123"]})
        self.assert_set_aside("anchor of a1", "anchor")

    def test_numbers_out_of_range_or_of_the_wrong_kind(self):
        for where, value in ((1, 1.5), (1, True), (1, 2 ** 50), (2, -2 ** 45), (3, -1), (3, 2 ** 31),
                             (4, -1), (4, False), (5, None), (7, 0), (7, -1), (7, 2.0), ("saved", 2 ** 45)):
            self.craft(where, value)
            self.assert_set_aside("", (where, value))

    def test_flipped_value_bytes(self):
        sched, _ = build([price_event([0.1, 0.2, 0.3])], "PRICE", T0)
        schedule_file.save(sched, self.path)
        good = tmpfiles.read(self.path)
        size = len(bytes(schedule.array.array(schedule.VALUE_TYPE, [0.0])))
        first_value = good.index(b"\n") + 1 + 4 * 4
        for at, bit in ((first_value + size - 1, 0x40), (first_value + size - 2, 0x10), (first_value, 0x01)):
            data = bytearray(good)
            data[at] ^= bit  # 0x40 in the top byte: 0.1 -> about 1e-155 or 1e+154 (double), beyond 2**127
            tmpfiles.write(self.path, data)
            self.assert_set_aside("", at)
        # A valid checksum and an absurd value: the value check alone refuses it.
        for bad in (1.3e181, float("inf"), float("-inf"), float("nan"), -2.0 ** 127 * 1.5):
            self.craft(arrays=[array.array("i", [0, H, 2 * H]), array.array("d", [0.25, bad, 1.0]),
                               array.array("i", [0]), array.array("d", [7.0])])
            self.assert_set_aside("track 0: value", bad)

    def test_flipped_low_byte_is_caught_by_the_checksum(self):
        sched, _ = build([price_event([0.1, 0.2, 0.3])], "PRICE", T0)
        schedule_file.save(sched, self.path)
        data = bytearray(tmpfiles.read(self.path))
        data[data.index(b"\n") + 1 + 4 * 4] ^= 0x01  # the last mantissa bit of 0.1: still a fine price
        tmpfiles.write(self.path, data)
        self.assert_set_aside("checksum mismatch")

    def test_truncated(self):
        sched, _ = build([price_event([1, 2, 3])], "PRICE", T0)
        schedule_file.save(sched, self.path)
        good = tmpfiles.read(self.path)
        nl = good.index(b"\n")
        for n in (1, nl // 2, nl, nl + 1, nl + 3, nl + 17, len(good) - 9, len(good) - 5, len(good) - 1):
            tmpfiles.write(self.path, good[:n])
            self.assert_set_aside("", n)

    def test_garbage_and_non_json_headers(self):
        for line in (b"garbage\n", b"\xff\xfe\x00\x01\n", b"[1, 2]\n", b"null\n", b"{}\n", b'{"v": 2\n', b"\n"):
            self.craft(line=line)
            self.assert_set_aside("", line)
        tmpfiles.write(self.path, b"\x00" * 300)  # no line at all, no checksum
        self.assert_set_aside("no first line")

    def test_unknown_versions(self):
        for v in (1, 3, 99, "2", None):
            self.craft("v", v)
            self.assert_set_aside("version", v)
        # A file of the firmware before checksums (version 1, no trailer).
        head = good_header()
        head["v"] = 1
        with open(self.path, "wb") as f:
            f.write((json.dumps(head) + "\n").encode())
            for a in good_arrays():
                f.write(a)
        self.assert_set_aside("version 1, not 2")

    def test_header_fields_missing_or_of_the_wrong_type(self):
        cases = (("tracks", {}), ("tracks", "x"), ("tracks", None), ("tracks", [["PRICE"]]),
                 ("vt", "q"), ("vt", None), ("units", []), ("units", {"PRICE": 5}), ("units", None),
                 ("anchors", []), ("anchors", {"a1": [None]}), ("anchors", {"a1": [5, T0]}),
                 ("anchors", {"a1": "x"}), ("anchors", {"a1": [None, T0, 1]}), ("anchors", None),
                 (0, 5), (0, None), (6, 5), (6, ["x"]))
        for where, value in cases:
            self.craft(where, value)
            self.assert_set_aside("", (where, value))
        for entry in (["PRICE", T0, None, 0, None, 0, None], ["PRICE", T0, None, 0, None, 0, None, 3, 0],
                      {"typ": "PRICE"}, "PRICE"):
            head = good_header()
            head["tracks"][0] = entry
            self.craft(line=(json.dumps(head) + "\n").encode())
            self.assert_set_aside("track 0", entry)
        self.craft("vt", "q")
        self.assert_set_aside("value type 'q'")
        for key in ("vt", "units", "anchors", "tracks"):
            head = good_header()
            del head[key]
            self.craft(line=(json.dumps(head) + "\n").encode())
            self.assert_set_aside("", key)

    def test_breakpoints_out_of_order(self):
        for t in ([0, 2 * H, H], [-1, H, 2 * H], [0, H, schedule.FOREVER]):
            self.craft(arrays=[array.array("i", t), array.array("d", [1.0, 2.0, 3.0]),
                               array.array("i", [0]), array.array("d", [7.0])])
            self.assert_set_aside("track 0: breakpoints", t)

    def test_trailing_junk_after_a_valid_file(self):
        sched, _ = build([price_event([1, 2, 3])], "PRICE", T0)
        schedule_file.save(sched, self.path)
        good = tmpfiles.read(self.path)
        for junk in (b"x", b"\n", b"0" * 9, b"\x00" * 100, good):
            tmpfiles.write(self.path, good + junk)
            self.assert_set_aside("", junk)

    def test_empty_file(self):
        tmpfiles.write(self.path, b"")
        self.assert_set_aside("empty")

    def test_an_older_bad_file_is_replaced(self):
        tmpfiles.write(self.path + ".bad", b"an older damaged schedule")
        tmpfiles.write(self.path, b"newer garbage\n")
        self.assert_set_aside("")

    def test_ids_the_file_cannot_keep_are_saved_as_text(self):
        # A VTN's non-string event id is kept as text; an anchor JSON cannot hold is left out.
        tr = schedule.Track(T0, array.array("i", [0]), array.array(schedule.VALUE_TYPE, [1.0]), event_id=5)
        sched = schedule.Schedule({"PRICE": [tr]}, {5: (None, T0), "e2": (7, T0), "e3": ("x", T0)})
        schedule_file.save(sched, self.path)
        back = schedule_file.load(self.path)
        self.assertEqual(back.tracks["PRICE"][0].event_id, "5")
        self.assertEqual(back.anchors, {"e3": ("x", T0)})

    def test_a_write_that_fails_half_way_leaves_the_old_file(self):
        sched, _ = build([price_event([1, 2])], "PRICE", T0)
        schedule_file.save(sched, self.path)

        def parts():
            yield b"{half a header"
            raise OSError(28, "no space left")

        with self.assertRaises(OSError):
            store.write_atomic(self.path, parts())
        self.assertTrue(schedule_file.load(self.path) == sched)
        self.assertEqual(os.listdir(self.dir), ["schedule.bin"])

    def test_replacing_keeps_no_temporary_file(self):
        for prices in ([1], [2, 3]):
            sched, _ = build([price_event(prices)], "PRICE", T0)
            schedule_file.save(sched, self.path)
        self.assertEqual(value_at(schedule_file.load(self.path), T0 + H), 3)
        self.assertEqual(os.listdir(self.dir), ["schedule.bin"])


class ReportIntervalsTest(unittest.TestCase):
    # The windows the builder keeps for reports: shared with the track for plain
    # events (nothing copied), own arrays otherwise; ids only when they are not 0..n-1.
    def build(self, event):
        b = schedule.Builder(("PRICE",), T0)
        b.add_event(event)
        b.finish()
        return b.reports

    def event(self, ids=None, own_periods=False):
        ivs = []
        for k in range(4):
            iv = {"id": k if ids is None else ids[k], "payloads": [{"type": "PRICE", "values": [0.1 * (k + 1)]}]}
            if own_periods:
                iv["intervalPeriod"] = {"start": isotime.format_datetime(T0 + k * 2 * H), "duration": "PT1H"}
            ivs.append(iv)
        return {"id": "ev", "programID": "p", "intervalPeriod": {"start": isotime.format_datetime(T0), "duration": "PT1H"},
                "reportDescriptors": [{"payloadType": "PRICE"}], "intervals": ivs}

    def test_plain_event_shares_the_track(self):
        rep, = self.build(self.event())
        self.assertEqual((rep.n, rep.ids, rep.starts, rep.step), (4, None, None, H))
        self.assertEqual([rep.window(u) for u in range(5)], [(0, T0, T0 + H), (1, T0 + H, T0 + 2 * H),
                                                             (2, T0 + 2 * H, T0 + 3 * H), (3, T0 + 3 * H, T0 + 4 * H), None])
        self.assertAlmostEqual(rep.values["PRICE"][2], 0.3, places=5)

    def test_ids_kept_only_when_not_the_list_index(self):
        rep, = self.build(self.event(ids=[10, 11, 12, 13]))
        self.assertEqual(list(rep.ids), [10, 11, 12, 13])
        self.assertEqual(rep.window(3)[0], 13)

    def test_own_periods_get_window_arrays(self):
        rep, = self.build(self.event(own_periods=True))
        self.assertEqual(rep.step, None)
        self.assertEqual([rep.window(u)[1:] for u in range(4)], [(T0 + 2 * k * H, T0 + (2 * k + 1) * H) for k in range(4)])


if __name__ == "__main__":
    unittest.main()
