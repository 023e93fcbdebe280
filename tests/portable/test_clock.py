# Portable: runs on CPython (pytest) and on the MicroPython VM (tests/mpvm).
# The pure parts of ven.clock: SNTP packets and server entries. The socket and
# RTC parts are exercised on the host (tests/host/test_clock.py).
import unittest

from ven import clock
from ven.sntp import parse as sntp_parse, request as sntp_request, split_server
from ven.isotime import parse_datetime

NONCE = b"\x01\x02\x03\x04\x05\x06\x07\x08"
T = parse_datetime("2026-11-22T10:00:00Z")


def reply(unix_s, frac=0, li=0, mode=4, stratum=2, nonce=NONCE):
    pkt = bytearray(48)
    pkt[0] = (li << 6) | (4 << 3) | mode
    pkt[1] = stratum
    pkt[24:32] = nonce
    pkt[40:44] = ((unix_s + 2208988800) & 0xFFFFFFFF).to_bytes(4, "big")
    pkt[44:48] = frac.to_bytes(4, "big")
    return bytes(pkt)


class SntpTest(unittest.TestCase):
    def test_request_is_a_v4_client_packet_carrying_the_nonce(self):
        pkt = sntp_request(NONCE)
        self.assertEqual(len(pkt), 48)
        self.assertEqual(pkt[0], 0x23)
        self.assertEqual(bytes(pkt[40:48]), NONCE)
        self.assertEqual(bytes(pkt[1:40]), bytes(39))

    def test_parse_time_fraction_and_half_round_trip(self):
        self.assertEqual(sntp_parse(reply(T), NONCE), T * 1000)
        self.assertEqual(sntp_parse(reply(T, frac=0x80000000), NONCE), T * 1000 + 500)
        self.assertEqual(sntp_parse(reply(T), NONCE, rtt_ms=80), T * 1000 + 40)

    def test_ntp_era_1(self):
        after_2036 = parse_datetime("2040-01-01T00:00:00Z")
        self.assertEqual(sntp_parse(reply(after_2036), NONCE), after_2036 * 1000)

    def test_rejects_unusable_replies(self):
        for data, why in ((reply(T)[:40], "short"), (reply(T, mode=3), "mode"),
                          (reply(T, nonce=b"xxxxxxxx"), "another request"), (reply(T, li=3), "synchronised"),
                          (reply(T, stratum=0), "synchronised"), (reply(T, stratum=16), "synchronised"),
                          (reply(-2208988800), "without a time")):
            with self.assertRaises(ValueError) as cm:
                sntp_parse(data, NONCE)
            self.assertTrue(why in str(cm.exception), (why, str(cm.exception)))

    def test_server_entries(self):
        self.assertEqual(split_server("pool.ntp.org"), ("pool.ntp.org", 123))
        self.assertEqual(split_server("127.0.0.40:12300"), ("127.0.0.40", 12300))
        self.assertEqual(split_server("ntp:x"), ("ntp:x", 123))

    def test_floor_is_2025(self):
        self.assertEqual(clock.FLOOR, parse_datetime("2025-01-01T00:00:00Z"))


if __name__ == "__main__":
    unittest.main()
