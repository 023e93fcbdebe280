# Portable: runs on CPython (pytest) and on the MicroPython VM (tests/mpvm).
import unittest

from ven.url import URLError, is_ip, join, make_base_url, quote, split_url, valid_host


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


class ValidHostTest(unittest.TestCase):
    # RFC 952/1123 host names: what may go into a URL and its Host header.
    def test_valid_names(self):
        for host in ("vtn", "vtn.local", "vtn.local.", "my-vtn.local", "MyVTN.Local", "1vtn.local", "a.b.c.d.e",
                     "x" * 63 + ".local", ("a" * 61 + ".") * 4 + "a"):
            self.assertTrue(valid_host(host), host)
        self.assertEqual(len(("a" * 61 + ".") * 4 + "a"), 249)
        self.assertTrue(valid_host("a." * 126 + "b"))                        # 253 characters
        self.assertTrue(valid_host("a." * 126 + "b."))                       # and a trailing dot

    def test_invalid_names(self):
        for host in ("", None, 5, b"vtn.local",
                     "OpenADR3 VTN._openadr3._tcp.local", "openadr3 vtn._openadr3._tcp.local.",  # instance names
                     "vtn._openadr3._tcp.local", "my_vtn.local", "_openadr3._tcp.local",       # underscores
                     "my vtn.local", "vtn.local ", " vtn",                                     # spaces
                     "a..b", ".vtn", "vtn..", ".", "..",                                       # empty labels
                     "x" * 64 + ".local", "vtn." + "x" * 64,                                   # 64-char labels
                     "a." * 126 + "bc",                                                        # 254 characters
                     "-vtn.local", "vtn-.local", "vtn.-local", "vtn.local-", "-",              # hyphens at the ends
                     "vtn.local:8080", "vtn/x", "vtn@x", "vtn%2e.local", "v\u00e9n.local", "vtn\x00.local",
                     "123", "1.2.3", "1.2.3.256", "10.0.0.1.5"):                                # numeric last label
            self.assertFalse(valid_host(host), repr(host))

    def test_ip_literals(self):
        for host in ("192.168.1.42", "10.0.0.1", "0.0.0.0", "fe80::1", "::1", "::ffff:10.0.0.1", "FE80::A"):
            self.assertTrue(is_ip(host), host)
            self.assertTrue(valid_host(host), host)
        for host in ("fe80::1%eth0", "g::1", "1:2", "[fe80::1]", "fe80:: 1"):
            self.assertFalse(valid_host(host), host)
        self.assertFalse(is_ip("vtn.local"))

    def test_hosts_of_split_urls(self):
        self.assertTrue(valid_host(split_url("http://[fe80::1]:8443/x")[1]))
        self.assertFalse(valid_host(split_url("http://OpenADR3 VTN._openadr3._tcp.local:8080/x")[1]))


if __name__ == "__main__":
    unittest.main()
