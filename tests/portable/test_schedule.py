# Portable: runs on CPython (pytest) and on the MicroPython VM (tests/mpvm).
import unittest

from ven import schedule
from ven.isotime import parse_datetime

T0 = parse_datetime("2026-11-22T00:00:00Z")
H = 3600


def price_event(prices, start="2026-11-22T00:00:00Z", duration="PT1H", **extra):
    ev = {"id": "e1", "programID": "p1", "intervalPeriod": {"start": start, "duration": duration},
          "intervals": [{"id": i, "payloads": [{"type": "PRICE", "values": [p]}]} for i, p in enumerate(prices)]}
    for k in extra:
        ev[k] = extra[k]
    return ev


class ScheduleTest(unittest.TestCase):
    def test_hourly_prices_for_a_day(self):
        prices = [0.1 + 0.01 * h for h in range(24)]
        slots, errors = schedule.build([price_event(prices)], "PRICE", T0)
        self.assertEqual(errors, [])
        self.assertEqual(len(slots), 24)
        for h in range(24):
            self.assertEqual(schedule.value_at(slots, T0 + h * H), prices[h])
            self.assertEqual(schedule.value_at(slots, T0 + h * H + H - 1), prices[h])
        self.assertEqual(schedule.value_at(slots, T0 - 1), None)
        self.assertEqual(schedule.value_at(slots, T0 + 24 * H), None)

    def test_next_change(self):
        slots, _ = schedule.build([price_event([1, 2])], "PRICE", T0)
        self.assertEqual(schedule.next_change(slots, T0 - 100), T0)
        self.assertEqual(schedule.next_change(slots, T0), T0 + H)
        self.assertEqual(schedule.next_change(slots, T0 + H + 5), T0 + 2 * H)
        self.assertEqual(schedule.next_change(slots, T0 + 2 * H), None)

    def test_interval_overrides_and_following(self):
        ev = price_event([1, 2, 3])
        ev["intervals"][1]["intervalPeriod"] = {"start": "2026-11-22T05:00:00Z", "duration": "PT30M"}
        slots, _ = schedule.build([ev], "PRICE", T0)
        self.assertEqual([(s[0] - T0, s[1] - T0, s[2]) for s in slots],
                         [(0, H, 1), (5 * H, 5 * H + 1800, 2), (5 * H + 1800, 6 * H + 1800, 3)])

    def test_intervals_ordered_by_id(self):
        ev = price_event([1, 2])
        ev["intervals"].reverse()
        slots, _ = schedule.build([ev], "PRICE", T0)
        self.assertEqual(schedule.value_at(slots, T0), 1)

    def test_start_now(self):
        now = T0 + 1234
        slots, _ = schedule.build([price_event([7], start="0001-01-01T00:00:00Z")], "PRICE", now)
        self.assertEqual(schedule.value_at(slots, now), 7)
        self.assertEqual(schedule.value_at(slots, now - 1), None)

    def test_other_payload_types_ignored(self):
        ev = price_event([1])
        ev["intervals"][0]["payloads"].insert(0, {"type": "GHG", "values": [500]})
        slots, _ = schedule.build([ev], "PRICE", T0)
        self.assertEqual(schedule.value_at(slots, T0), 1)
        slots, _ = schedule.build([ev], "GHG", T0)
        self.assertEqual(schedule.value_at(slots, T0), 500)
        slots, _ = schedule.build([ev], "EXPORT_PRICE", T0)
        self.assertEqual(slots, [])

    def test_priority_wins_then_latest_modification(self):
        base = price_event([1] * 4)
        urgent = price_event([9], start="2026-11-22T01:00:00Z", priority=0)
        urgent["id"] = "e2"
        slots, _ = schedule.build([base, urgent], "PRICE", T0)
        self.assertEqual(schedule.value_at(slots, T0), 1)
        self.assertEqual(schedule.value_at(slots, T0 + H), 9)
        self.assertEqual(schedule.value_at(slots, T0 + 2 * H), 1)
        old = price_event([2], priority=1, modificationDateTime="2026-11-20T00:00:00Z")
        new = price_event([3], priority=1, modificationDateTime="2026-11-21T00:00:00Z")
        slots, _ = schedule.build([new, old], "PRICE", T0)
        self.assertEqual(schedule.value_at(slots, T0), 3)
        slots, _ = schedule.build([old, new], "PRICE", T0)
        self.assertEqual(schedule.value_at(slots, T0), 3)

    def test_bad_events_skipped_with_reason(self):
        good = price_event([1])
        no_intervals = {"id": "bad1", "intervalPeriod": {"start": "2026-11-22T00:00:00Z", "duration": "PT1H"}, "intervals": []}
        bad_time = price_event([2], start="yesterday")
        bad_time["id"] = "bad2"
        no_period = {"id": "bad3", "intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [3]}]}]}
        slots, errors = schedule.build([no_intervals, good, bad_time, no_period, "junk", None], "PRICE", T0)
        self.assertEqual(schedule.value_at(slots, T0), 1)
        self.assertEqual(len(errors), 5)
        self.assertTrue("bad1" in errors[0] and "no intervals" in errors[0])
        self.assertTrue("bad2" in errors[1])

    def test_odd_values_ignored(self):
        ev = price_event(["0.2", True, None])
        ev["intervals"].append({"id": 9, "payloads": [{"type": "PRICE", "values": []}]})
        ev["intervals"].append({"id": 10, "payloads": [{"type": "PRICE"}, "junk"]})
        slots, errors = schedule.build([ev], "PRICE", T0)
        self.assertEqual(slots, [])
        self.assertEqual(errors, [])


if __name__ == "__main__":
    unittest.main()
