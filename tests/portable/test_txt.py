# Portable: runs on CPython (pytest) and on the MicroPython VM (tests/mpvm).
import unittest

from ven.txt import base_url, parse_txt, split_txt_rdata, txt_from_mapping

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


class RdataTest(unittest.TestCase):
    def test_split(self):
        self.assertEqual(split_txt_rdata(b"\x0bversion=3.1\x05hello"), ["version=3.1", "hello"])

    def test_bad_utf8_and_truncation_skipped(self):
        self.assertEqual(split_txt_rdata(b"\x02\xff\xfe\x03a=b\x09trunc"), ["a=b"])
        self.assertEqual(split_txt_rdata(b""), [])
        self.assertEqual(split_txt_rdata(b"\x00\x00"), [])


if __name__ == "__main__":
    unittest.main()
