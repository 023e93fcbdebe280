# Portable: runs on CPython (pytest) and on the MicroPython VM (tests/mpvm).
import unittest

from ven.pricemap import duty_for, ramp

CHEAP_IS_ON = {"price_low": 0.1, "price_high": 0.4, "duty_at_low": 65535, "duty_at_high": 0, "failsafe_duty": 1000}
CHEAP_IS_OFF = {"price_low": 10, "price_high": 20, "duty_at_low": 0, "duty_at_high": 60000, "failsafe_duty": 0}


class PriceMapTest(unittest.TestCase):
    def test_linear_between_bounds(self):
        self.assertEqual(duty_for(0.25, CHEAP_IS_ON), 32768)
        self.assertEqual(duty_for(15, CHEAP_IS_OFF), 30000)
        self.assertEqual(duty_for(12, CHEAP_IS_OFF), 12000)

    def test_bounds_and_clamping(self):
        self.assertEqual(duty_for(0.1, CHEAP_IS_ON), 65535)
        self.assertEqual(duty_for(0.4, CHEAP_IS_ON), 0)
        self.assertEqual(duty_for(-5, CHEAP_IS_ON), 65535)
        self.assertEqual(duty_for(99, CHEAP_IS_ON), 0)
        self.assertEqual(duty_for(25, CHEAP_IS_OFF), 60000)

    def test_failsafe_when_no_valid_price(self):
        self.assertEqual(duty_for(None, CHEAP_IS_ON), 1000)
        self.assertEqual(duty_for("0.2", CHEAP_IS_ON), 1000)
        self.assertEqual(duty_for(True, CHEAP_IS_ON), 1000)
        self.assertEqual(duty_for(float("nan"), CHEAP_IS_ON), 1000)

    def test_monotonic_and_in_range(self):
        last = 65535
        for i in range(0, 101):
            d = duty_for(0.05 + i * 0.004, CHEAP_IS_ON)
            self.assertTrue(0 <= d <= 65535)
            self.assertTrue(d <= last)
            last = d


    def test_range_given_high_to_low(self):
        backwards = {"price_low": 0.4, "price_high": 0.1, "duty_at_low": 0, "duty_at_high": 65535, "failsafe_duty": 0}
        self.assertEqual(duty_for(0.25, backwards), duty_for(0.25, CHEAP_IS_ON))
        self.assertEqual(duty_for(0.05, backwards), 65535)


def channel(**kw):
    ch = dict(CHEAP_IS_ON)
    ch.update(kw)
    return ch


SIMPLE_LEVELS = [[0, 65535], [1, 40000], [2, 10000], [3, 0]]


class TiersTest(unittest.TestCase):
    def test_simple_levels(self):
        ch = channel(tiers=SIMPLE_LEVELS)
        self.assertEqual([duty_for(v, ch) for v in (0, 1, 2, 3, 4, -1)], [65535, 40000, 10000, 0, 0, 65535])

    def test_price_steps(self):
        ch = channel(tiers=[[0, 65535], [0.15, 30000], [0.3, 0]])
        self.assertEqual([duty_for(p, ch) for p in (0.05, 0.149, 0.15, 0.2999, 0.3, 9)],
                         [65535, 65535, 30000, 30000, 0, 0])
        self.assertEqual(duty_for(None, ch), 1000)


class BoundsAndInvertTest(unittest.TestCase):
    def test_min_and_max_duty_bound_the_mapping_not_the_failsafe(self):
        ch = channel(min_duty=5000, max_duty=60000, failsafe_duty=0)
        self.assertEqual(duty_for(0.0, ch), 60000)
        self.assertEqual(duty_for(1.0, ch), 5000)
        self.assertEqual(duty_for(0.25, ch), 32768)
        self.assertEqual(duty_for(None, ch), 0)

    def test_invert_drives_an_active_low_load(self):
        ch = channel(invert=True, failsafe_duty=0)
        self.assertEqual(duty_for(0.0, ch), 0)
        self.assertEqual(duty_for(1.0, ch), 65535)
        self.assertEqual(duty_for(None, ch), 65535)  # the load is off, as configured
        self.assertEqual(duty_for(0.25, ch), 65535 - 32768)
        self.assertEqual(duty_for(2, channel(invert=True, tiers=SIMPLE_LEVELS)), 65535 - 10000)


class RampTest(unittest.TestCase):
    def test_steps_towards_target_at_the_limit(self):
        self.assertEqual(ramp(0, 65535, 6553, 1000), 6553)
        self.assertEqual(ramp(6553, 65535, 6553, 500), 6553 + 3276)
        self.assertEqual(ramp(60000, 65535, 6553, 1000), 65535)
        self.assertEqual(ramp(40000, 0, 10000, 250), 37500)
        self.assertEqual(ramp(5, 0, 10000, 1000), 0)

    def test_no_limit_or_no_time(self):
        self.assertEqual(ramp(0, 65535, 0, 1000), 65535)
        self.assertEqual(ramp(None, 100, 10, 1000), 100)
        self.assertEqual(ramp(0, 100, 10, 0), 1)  # always some progress

    def test_reaches_target_in_expected_steps(self):
        d, steps = 0, 0
        while d != 65535:
            d = ramp(d, 65535, 16384, 250)
            steps += 1
        self.assertEqual(steps, 16)


if __name__ == "__main__":
    unittest.main()
