# Portable: runs on CPython (pytest) and on the MicroPython VM (tests/mpvm).
import unittest

from ven.txt import base_url, base_urls, is_ip, parse_txt, split_txt_rdata, txt_from_mapping, version_matches

SPEC = ["version=3.1.0", "base_path=openadr3/3.1.0", "local_url=https://myvtn.local:883/openadr3/3.1.0",
        "program_names=local", "requires_auth=False", "openapi_url=https://myvtn.local:883/openapi.yaml"]


class ParseTxtTest(unittest.TestCase):
    def test_spec_example(self):
        info = parse_txt(SPEC)
        self.assertEqual(info["version"], "3.1.0")
        self.assertEqual(info["base_path"], "openadr3/3.1.0")
        self.assertEqual(info["local_url"], "https://myvtn.local:883/openadr3/3.1.0")
        self.assertEqual(info["program_names"], ["local"])
        self.assertEqual(info["requires_auth"], False)
        self.assertEqual(info["openapi_url"], "https://myvtn.local:883/openapi.yaml")

    def test_case_insensitive_keys_first_wins(self):
        info = parse_txt(["VERSION=3.1", "Base_Path=/openadr3/3.1.0/", "version=9"])
        self.assertEqual(info["version"], "3.1")
        self.assertEqual(info["base_path"], "openadr3/3.1.0")

    def test_requires_auth_spellings(self):
        for text, want in (("True", True), ("true", True), ("1", True), ("yes", True), ("False", False),
                           ("false", False), ("0", False), ("no", False), ("maybe", None), ("", None)):
            self.assertEqual(parse_txt(["requires_auth=" + text])["requires_auth"], want)
        self.assertEqual(parse_txt(["requires_auth"])["requires_auth"], True)
        self.assertEqual(parse_txt([])["requires_auth"], None)

    def test_bare_flags_and_program_list(self):
        info = parse_txt(["Experimental", "program_names=a, ,b,,c ", "=novalue", ""])
        self.assertEqual(info["program_names"], ["a", "b", "c"])
        self.assertTrue("experimental" in info["flags"])

    def test_nothing_breaks_it(self):
        for junk in (None, [], [None, 5, b"\xff\xfe", b"version=3.0.1"], ["a=b=c", "local_url=not a url"]):
            info = parse_txt(junk)
            self.assertTrue(isinstance(info["program_names"], list))
        self.assertEqual(parse_txt([b"version=3.0.1"])["version"], "3.0.1")
        self.assertEqual(parse_txt(["a=b=c"])["flags"], set())

    def test_mapping_form(self):
        self.assertEqual(parse_txt(txt_from_mapping({"version": ["3.1.0"], "program_names": "x,y"}))["program_names"], ["x", "y"])


class BaseUrlTest(unittest.TestCase):
    def test_local_url_preferred(self):
        self.assertEqual(base_url(parse_txt(SPEC), "other.local.", 1, "http"), "https://myvtn.local:883/openadr3/3.1.0")

    def test_built_from_srv(self):
        info = parse_txt(["base_path=/openadr3/3.1.0/"])
        self.assertEqual(base_url(info, "myvtn.local.", 8080, "http"), "http://myvtn.local:8080/openadr3/3.1.0")
        self.assertEqual(base_url(parse_txt([]), "myvtn.local.", 8080, "https"), "https://myvtn.local:8080")

    def test_bad_local_url_falls_back(self):
        info = parse_txt(["local_url=ftp://x", "base_path=api"])
        self.assertEqual(base_url(info, "v.local", 80, "http"), "http://v.local/api")
        self.assertEqual(base_url(info, "", 0, "http"), None)


class NamePreferenceTest(unittest.TestCase):
    # Spec: a VEN SHOULD favour the VTN's .local hostname over its IP address.
    def test_ip_literal_in_local_url_comes_after_the_srv_name(self):
        info = parse_txt(["local_url=http://192.168.1.42:8080/openadr3/3.1.0"])
        self.assertEqual(base_urls(info, "myvtn.local.", 8080, "https"),
                         ["http://myvtn.local:8080/openadr3/3.1.0", "http://192.168.1.42:8080/openadr3/3.1.0"])
        self.assertEqual(base_url(info, "myvtn.local.", 8080, "https"), "http://myvtn.local:8080/openadr3/3.1.0")
        # Without a name to prefer, the IP URL is all there is.
        self.assertEqual(base_urls(info, "", 0, "http"), ["http://192.168.1.42:8080/openadr3/3.1.0"])
        v6 = parse_txt(["local_url=https://[fe80::1]:883/api"])
        self.assertEqual(base_urls(v6, "v.local", 883, "http"), ["https://v.local:883/api", "https://[fe80::1]:883/api"])

    def test_named_local_url_is_kept_and_srv_url_built(self):
        info = parse_txt(["local_url=http://other.local:81/x/"])
        self.assertEqual(base_urls(info, "myvtn.local.", 8080, "https"), ["http://other.local:81/x"])
        self.assertEqual(base_urls(parse_txt(["base_path=a/b"]), "myvtn.local.", 443, "https"),
                         ["https://myvtn.local/a/b"])
        self.assertEqual(base_urls(parse_txt([]), "", 0, "http"), [])

    def test_no_local_url_builds_from_a_valid_target_only(self):
        info = parse_txt(["base_path=openadr3/3.1.0"])
        self.assertEqual(base_urls(info, "myvtn.local.", 8080, "http"), ["http://myvtn.local:8080/openadr3/3.1.0"])
        self.assertEqual(base_urls(info, "OpenADR3 VTN._openadr3._tcp.local.", 8080, "http"), [])
        self.assertEqual(base_urls(info, "my_vtn.local", 8080, "http"), [])

    def test_is_ip(self):
        for host in ("192.168.1.42", "10.0.0.1", "fe80::1", "::1"):
            self.assertTrue(is_ip(host), host)
        for host in ("myvtn.local", "1.2.3", "1.2.3.256", "a.b.c.d", "vtn", ""):
            self.assertFalse(is_ip(host), host)


class HostNameTest(unittest.TestCase):
    # A real VTN put its DNS-SD instance name in the SRV target and its IP in
    # local_url: an instance name is not a host name and never goes into a URL.
    IP_URL = "local_url=http://192.168.1.42:8080/openadr3/3.1.0"

    def test_instance_name_target_leaves_the_ip_local_url(self):
        info = parse_txt(["version=3.1.0", "base_path=openadr3/3.1.0", self.IP_URL])
        for target in ("OpenADR3 VTN._openadr3._tcp.local.", "openadr3 vtn._openadr3._tcp.local",
                       "vtn._openadr3._tcp.local", "my_vtn.local", "-vtn.local", "a..local", "x" * 64 + ".local"):
            self.assertEqual(base_urls(info, target, 8080, "http"), ["http://192.168.1.42:8080/openadr3/3.1.0"],
                             target)

    def test_name_then_ip(self):
        info = parse_txt([self.IP_URL])
        self.assertEqual(base_urls(info, "my-vtn.local.", 8080, "http"),
                         ["http://my-vtn.local:8080/openadr3/3.1.0", "http://192.168.1.42:8080/openadr3/3.1.0"])

    def test_local_url_with_an_invalid_host_is_not_used(self):
        for bad in ("http://OpenADR3 VTN._openadr3._tcp.local:8080/openadr3/3.1.0",
                    "http://my_vtn.local:8080/openadr3/3.1.0", "http://vtn..local/x", "http://1.2.3.999/x"):
            info = parse_txt(["local_url=" + bad, "base_path=openadr3/3.1.0"])
            self.assertEqual(base_urls(info, "myvtn.local.", 8443, "https"), ["https://myvtn.local:8443/openadr3/3.1.0"],
                             bad)
            self.assertEqual(base_urls(info, "OpenADR3 VTN._openadr3._tcp.local.", 8443, "https"), [], bad)
            self.assertEqual(base_url(info, "", 0, "https"), None)


class VersionTest(unittest.TestCase):
    def test_prefix_matches_by_component(self):
        for version, prefix in (("3.1.0", "3.1"), ("3.1", "3.1"), ("3.1.2", "3.1"), ("3.0.1", "3"), ("3.1.0", "3"),
                                ("v3.1.0", "3.1"), ("3.1.0", "3.1.0"), (" 3.1 ", "3.1."), ("2.0b", "")):
            self.assertTrue(version_matches(version, prefix), (version, prefix))
        for version, prefix in (("3.10", "3.1"), ("3.0.1", "3.1"), ("2.0b", "3"), ("3", "3.1"), ("31", "3")):
            self.assertFalse(version_matches(version, prefix), (version, prefix))

    def test_missing_version_is_unknown(self):
        self.assertEqual(version_matches(None, "3"), None)
        self.assertEqual(version_matches("", "3"), None)
        self.assertEqual(version_matches(None, ""), True)
        self.assertEqual(version_matches(parse_txt(["version"])["version"], "3"), None)


class RdataTest(unittest.TestCase):
    def test_split(self):
        self.assertEqual(split_txt_rdata(b"\x0bversion=3.1\x05hello"), ["version=3.1", "hello"])

    def test_bad_utf8_and_truncation_skipped(self):
        self.assertEqual(split_txt_rdata(b"\x02\xff\xfe\x03a=b\x09trunc"), ["a=b"])
        self.assertEqual(split_txt_rdata(b""), [])
        self.assertEqual(split_txt_rdata(b"\x00\x00"), [])


if __name__ == "__main__":
    unittest.main()
