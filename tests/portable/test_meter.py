# Portable: runs on CPython (pytest) and on the MicroPython VM (tests/mpvm).
#
# ven.meter.Meter: what an output really did, for reports. A ring of the last
# changes; time-weighted mean duty and the state held longest over a window.
import unittest

from ven.meter import FAILSAFE, IDLE, RUNNING, SIZE, Meter

T0_MS = 1767225600000  # 2026-01-01T00:00:00Z: far beyond 32 bits, as Unix ms always are
T0 = T0_MS // 1000
FULL = 65535


class SummaryTest(unittest.TestCase):
    def test_nothing_recorded_or_an_empty_window(self):
        m = Meter()
        self.assertIsNone(m.summary(T0, T0 + 10))
        m.record(T0_MS, 100)
        self.assertIsNone(m.summary(T0 + 10, T0 + 10))
        self.assertIsNone(m.summary(T0 + 10, T0 + 5))

    def test_time_weighted_mean(self):
        m = Meter()
        m.record(T0_MS, 0)
        m.record(T0_MS + 2500, FULL)       # a quarter of the window at 0 ...
        m.record(T0_MS + 7500, 1000)       # ... half at full duty, a quarter at 1000
        self.assertEqual(m.summary(T0, T0 + 10), ((FULL * 5000 + 1000 * 2500) // 10000, RUNNING))
        # The last change holds on to the window's end.
        self.assertEqual(m.summary(T0 + 100, T0 + 200), (1000, RUNNING))
        self.assertEqual(m.summary(T0, T0 + 2), (0, IDLE))

    def test_state_held_longest(self):
        m = Meter()
        m.record(T0_MS, 0)
        m.record(T0_MS + 6000, FULL)
        self.assertEqual(m.summary(T0, T0 + 10)[1], IDLE)
        self.assertEqual(m.summary(T0 + 3, T0 + 10)[1], RUNNING)

    def test_fail_safe_time_counts_with_its_duty(self):
        m = Meter()
        m.record(T0_MS - 1000, 0, failsafe=True)
        m.record(T0_MS + 5000, FULL)
        self.assertEqual(m.summary(T0, T0 + 10), (FULL // 2, FAILSAFE))  # a tie goes to fail-safe
        m = Meter()
        m.record(T0_MS, 30000, failsafe=True)  # a fail-safe duty that is not 0
        m.record(T0_MS + 7000, 0)
        self.assertEqual(m.summary(T0, T0 + 10), (30000 * 7 // 10, FAILSAFE))

    def test_same_duty_in_and_out_of_fail_safe_are_two_states(self):
        m = Meter()
        m.record(T0_MS, 0, failsafe=True)
        m.record(T0_MS + 3000, 0)
        m.record(T0_MS + 4000, 0)  # no change: not a new entry
        self.assertEqual(m.n, 2)
        self.assertEqual(m.summary(T0 + 3, T0 + 10), (0, IDLE))

    def test_a_window_before_the_oldest_entry_is_unknown(self):
        m = Meter()
        m.record(T0_MS + 5000, FULL)
        self.assertIsNone(m.summary(T0 - 10, T0 + 5))
        # Partly known: the unknown part is left out of the mean, not counted as 0.
        self.assertEqual(m.summary(T0, T0 + 10), (FULL, RUNNING))

    def test_the_clock_going_back_keeps_the_order(self):
        m = Meter()
        m.record(T0_MS + 5000, FULL)
        m.record(T0_MS + 1000, 0)  # earlier than the last entry: taken as at the same time
        self.assertEqual(m.summary(T0, T0 + 10), (0, IDLE))


class RingTest(unittest.TestCase):
    def test_overflow_drops_the_oldest(self):
        m = Meter(size=4)
        for k in range(6):
            m.record(T0_MS + k * 1000, 100 * (k + 1))
        self.assertEqual(m.n, 4)
        # Entries at 2..5 s are left: before that nothing is known.
        self.assertIsNone(m.summary(T0, T0 + 2))
        self.assertEqual(m.summary(T0, T0 + 3), (300, RUNNING))
        self.assertEqual(m.summary(T0 + 2, T0 + 6), ((300 + 400 + 500 + 600) // 4, RUNNING))

    def test_default_size_wraps_many_times(self):
        m = Meter()
        for k in range(SIZE * 3 + 5):
            m.record(T0_MS + k * 1000, k % 2 * FULL)
        self.assertEqual(m.n, SIZE)
        last = T0 + SIZE * 3 + 4
        self.assertEqual(m.summary(last - 10, last), (FULL // 2, IDLE))
        self.assertIsNone(m.summary(T0, last - SIZE))


class RebaseTest(unittest.TestCase):
    def test_offsets_stay_in_32_bits_across_weeks(self):
        m = Meter()
        m.record(T0_MS, 100)
        m.record(T0_MS + 3600000, 200)
        day = 86400000
        # 30 days later: beyond 2**31 ms from the first entry; the base moves forward.
        m.record(T0_MS + 30 * day, 300)
        for k in range(m.n):
            self.assertTrue(0 <= m.t[m._at(k)] < 2 ** 31)
        self.assertEqual(m.summary(T0 + 30 * 86400, T0 + 30 * 86400 + 10), (300, RUNNING))
        # What lies before the new base is dropped: unknown now.
        self.assertIsNone(m.summary(T0, T0 + 3600))
        m.record(T0_MS + 30 * day + 5000, 400)
        self.assertEqual(m.summary(T0 + 30 * 86400, T0 + 30 * 86400 + 10), (350, RUNNING))

    def test_the_entry_in_force_at_the_new_base_is_kept(self):
        # A load held at one duty for weeks, then a change: the weeks before the
        # change are still known (the duty in force), so a report of an interval
        # that ends at the change is not "no data".
        m = Meter()
        m.record(T0_MS, 0, failsafe=True)
        m.record(T0_MS + 60000, 20000)
        later = T0_MS + 40 * 86400000
        m.record(later, FULL)
        self.assertEqual(m.summary(later // 1000 - 3600, later // 1000), (20000, RUNNING))
        self.assertEqual(m.summary(later // 1000 - 10, later // 1000 + 10), ((20000 + FULL) // 2, RUNNING))
        for k in range(m.n):
            self.assertTrue(0 <= m.t[m._at(k)] < 2 ** 31)


if __name__ == "__main__":
    unittest.main()
