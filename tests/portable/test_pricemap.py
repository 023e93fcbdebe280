# Portable: runs on CPython (pytest) and on the MicroPython VM (tests/mpvm).
import unittest

from ven.pricemap import duty_for

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


if __name__ == "__main__":
    unittest.main()
