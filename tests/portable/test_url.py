# Portable: runs on CPython (pytest) and on the MicroPython VM (tests/mpvm).
import unittest

from ven.url import URLError, join, make_base_url, quote, split_url


class UrlTest(unittest.TestCase):
    def test_split(self):
        self.assertEqual(split_url("http://vtn.local:8080/openadr3/3.1.0"), ("http", "vtn.local", 8080, "/openadr3/3.1.0"))
        self.assertEqual(split_url("HTTPS://10.0.0.1"), ("https", "10.0.0.1", 443, "/"))
        self.assertEqual(split_url("http://h/a?b=1"), ("http", "h", 80, "/a?b=1"))
        self.assertEqual(split_url("http://[fe80::1]:8443/x"), ("http", "fe80::1", 8443, "/x"))

    def test_split_rejects(self):
        for bad in ("ftp://h/", "vtn.local:8080", "http://", "http://h:0/", "http://h:99999/", "http://h:x/",
                    "http://user:pw@h/", None):
            with self.assertRaises(URLError):
                split_url(bad)

    def test_make_base_url_slashes(self):
        self.assertEqual(make_base_url("http", "myvtn.local.", 883, "/openadr3/3.1.0/"), "http://myvtn.local:883/openadr3/3.1.0")
        self.assertEqual(make_base_url("http", "myvtn.local", 883, "openadr3/3.1.0"), "http://myvtn.local:883/openadr3/3.1.0")
        self.assertEqual(make_base_url("https", "h", 443, ""), "https://h")
        self.assertEqual(make_base_url("http", "h", 80, None), "http://h")
        self.assertEqual(make_base_url("http", "fe80::1", 8080, "x"), "http://[fe80::1]:8080/x")

    def test_join_and_quote(self):
        self.assertEqual(join("http://h/base/", "/events"), "http://h/base/events")
        self.assertEqual(join("http://h/base", "events"), "http://h/base/events")
        self.assertEqual(quote("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9")
        self.assertEqual(quote("Prog-1_x.~"), "Prog-1_x.~")


if __name__ == "__main__":
    unittest.main()
