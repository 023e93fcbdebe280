# Portable: runs on CPython (pytest) and on the MicroPython VM (tests/mpvm).
import unittest

from ven import isotime
from ven.isotime import INFINITE, NOW, format_datetime, parse_datetime, parse_duration


class DateTimeTest(unittest.TestCase):
    def test_utc_z(self):
        self.assertEqual(parse_datetime("2026-11-22T10:00:00Z"), 1795341600)
        self.assertEqual(parse_datetime("1970-01-01T00:00:00Z"), 0)
        self.assertEqual(parse_datetime("2000-01-01T00:00:00Z"), 946684800)

    def test_offsets(self):
        self.assertEqual(parse_datetime("2026-11-22T11:30:00+01:30"), 1795341600)
        self.assertEqual(parse_datetime("2026-11-22T02:00:00-08:00"), 1795341600)
        self.assertEqual(parse_datetime("2026-11-22T10:00:00+00:00"), 1795341600)
        self.assertEqual(parse_datetime("2026-11-22T11:00:00+0100"), 1795341600)

    def test_fraction_and_lowercase(self):
        self.assertEqual(parse_datetime("2026-11-22t10:00:00.999z"), 1795341600)
        self.assertEqual(parse_datetime("2026-11-22T10:00:00.123456+00:00"), 1795341600)

    def test_no_offset_is_utc_and_date_only(self):
        self.assertEqual(parse_datetime("2026-11-22T10:00:00"), 1795341600)
        self.assertEqual(parse_datetime("2026-11-22"), 1795305600)
        self.assertEqual(parse_datetime("2026-11-22T10:00Z"), 1795341600)

    def test_leap_years(self):
        self.assertEqual(parse_datetime("2024-02-29T00:00:00Z"), 1709164800)
        self.assertEqual(parse_datetime("2000-03-01T00:00:00Z"), 951868800)
        with self.assertRaises(ValueError):
            parse_datetime("2026-02-29T00:00:00Z")
        with self.assertRaises(ValueError):
            parse_datetime("1900-02-29T00:00:00Z")

    def test_now_markers(self):
        self.assertEqual(parse_datetime("0001-01-01"), NOW)
        self.assertEqual(parse_datetime("0001-01-01T00:00:00Z"), NOW)
        self.assertEqual(parse_datetime("0000-00-00"), NOW)

    def test_rejects_garbage(self):
        for bad in ("", "2026", "2026-13-01T00:00:00Z", "2026-11-22T25:00:00Z", "2026-11-22X10:00:00Z",
                    "2026-11-22T10:00:00+1", "tomorrow", "2026-11-22T10:00:00Zjunk"):
            with self.assertRaises(ValueError):
                parse_datetime(bad)
        with self.assertRaises(ValueError):
            parse_datetime(None)
        with self.assertRaises(ValueError):
            parse_datetime(12345)

    def test_format_round_trip(self):
        for t in (0, 946684800, 1709164800, 1795341600, 4102444799):
            self.assertEqual(parse_datetime(format_datetime(t)), t)
        self.assertEqual(format_datetime(1795341600), "2026-11-22T10:00:00Z")


class DurationTest(unittest.TestCase):
    def test_time_units(self):
        self.assertEqual(parse_duration("PT1H"), 3600)
        self.assertEqual(parse_duration("PT15M"), 900)
        self.assertEqual(parse_duration("PT30S"), 30)
        self.assertEqual(parse_duration("PT1H30M15S"), 5415)
        self.assertEqual(parse_duration("PT0S"), 0)

    def test_date_units(self):
        self.assertEqual(parse_duration("P1D"), 86400)
        self.assertEqual(parse_duration("P7D"), 604800)
        self.assertEqual(parse_duration("P1W"), 604800)
        self.assertEqual(parse_duration("P1DT12H"), 129600)
        self.assertEqual(parse_duration("P1M"), 30 * 86400)
        self.assertEqual(parse_duration("P1Y"), 365 * 86400)

    def test_fractions_and_sign(self):
        self.assertEqual(parse_duration("PT0.5M"), 30)
        self.assertEqual(parse_duration("PT1.5H"), 5400)
        self.assertEqual(parse_duration("PT2.9S"), 2)
        self.assertEqual(parse_duration("-PT1H"), -3600)
        self.assertEqual(parse_duration("pt1h"), 3600)

    def test_infinite(self):
        self.assertEqual(parse_duration("P9999Y"), INFINITE)
        self.assertTrue(parse_datetime("2026-11-22T10:00:00Z") + INFINITE > parse_datetime("9999-12-31T23:59:59Z"))

    def test_rejects_garbage(self):
        for bad in ("", "P", "PT", "1H", "PT1D", "PTM", "P1DT", "P1Y2", "PT1H1H1", "PT-1H", "PT1H1H", "P1D1Y",
                    "PT1S1M", "P1M1M", "PT1.2.3S", "PT.S", "P1DT2H3D"):
            with self.assertRaises(ValueError):
                parse_duration(bad)
        with self.assertRaises(ValueError):
            parse_duration(3600)


    def test_order_and_week(self):
        self.assertEqual(parse_duration("P1Y2M3W4DT5H6M7S"),
                         365 * 86400 + 60 * 86400 + 21 * 86400 + 4 * 86400 + 5 * 3600 + 6 * 60 + 7)
        self.assertEqual(parse_duration("+PT1M"), 60)

    def test_user_guide_spelling_without_t(self):
        # The User Guide's event.duration example says "P12H".
        self.assertEqual(parse_duration("P12H"), 12 * 3600)
        self.assertEqual(parse_duration("P1D12H"), 36 * 3600)
        self.assertEqual(parse_duration("P1M"), 30 * 86400)  # M before T stays months

    def test_negative_infinite(self):
        self.assertEqual(parse_duration("-P9999Y"), -INFINITE)
        self.assertEqual(parse_duration("P10000Y"), INFINITE)


class HttpDateTest(unittest.TestCase):
    def test_three_formats(self):
        for text in ("Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"):
            self.assertEqual(isotime.parse_http_date(text), 784111777, text)
        self.assertEqual(isotime.parse_http_date("Thu, 01 Jan 2026 00:00:00 GMT"), parse_datetime("2026-01-01"))

    def test_rejects_garbage(self):
        for bad in ("", "yesterday", "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
                    "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Nov 1994 08:49 GMT", None, 17):
            with self.assertRaises(ValueError):
                isotime.parse_http_date(bad)


class CalendarTest(unittest.TestCase):
    def test_civil_from_unix_with_weekday(self):
        self.assertEqual(isotime.civil_from_unix(0), (1970, 1, 1, 0, 0, 0, 3))  # a Thursday
        self.assertEqual(isotime.civil_from_unix(parse_datetime("2026-11-22T10:11:12Z")), (2026, 11, 22, 10, 11, 12, 6))
        self.assertEqual(isotime.civil_from_unix(946684800)[6], 5)  # 2000-01-01, a Saturday

    def test_epoch_offset(self):
        self.assertEqual(isotime.epoch_offset(2000), 946684800)
        self.assertEqual(isotime.epoch_offset(1970), 0)
        # This port's offset matches its own gmtime: Unix 0 is 1970-01-01 everywhere.
        import time
        self.assertEqual(isotime.epoch_offset(time.gmtime(0)[0]), isotime._EPOCH_OFFSET)


class ClockTest(unittest.TestCase):
    def test_now_is_unix_seconds_on_every_port(self):
        # 2024-01-01 .. 2100-01-01: the host and VM clocks are real.
        self.assertTrue(1704067200 < isotime.now() < 4102444800)
        self.assertTrue(abs(isotime.now_ms() // 1000 - isotime.now()) <= 1)


if __name__ == "__main__":
    unittest.main()
