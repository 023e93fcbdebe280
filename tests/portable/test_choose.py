# Portable: runs on CPython (pytest) and on the MicroPython VM (tests/mpvm).
import unittest

from ven.choose import best, prefs, rank, why_not
from ven.txt import parse_txt


def cand(instance, txt=(), priority=0, weight=0, failed=False):
    return {"instance": instance, "priority": priority, "weight": weight, "txt": parse_txt(list(txt)),
            "failed": failed, "key": instance.lower() + "._openadr3._tcp.local"}


def cfg(**kw):
    c = {"instance_names": [], "program_names": [], "version_prefix": "3"}
    c.update(kw)
    return prefs(c)


def pick(cands, **kw):
    i = best(cands, cfg(**kw))
    return None if i is None else cands[i]["instance"]


class ChooseTest(unittest.TestCase):
    def test_default_rule_is_deterministic(self):
        a = cand("Beta VTN", ["version=3.1.0"])
        b = cand("alpha VTN", ["version=3.1.0"])
        self.assertEqual(pick([a, b]), "alpha VTN")
        self.assertEqual(pick([b, a]), "alpha VTN")
        self.assertEqual(pick([]), None)

    def test_srv_priority_then_weight(self):
        a = cand("A", priority=10)
        b = cand("B", priority=0, weight=1)
        c = cand("C", priority=0, weight=5)
        self.assertEqual(pick([a, b, c]), "C")
        self.assertEqual(pick([a, b]), "B")

    def test_allow_list_order_and_exclusion(self):
        a = cand("Alpha VTN")
        b = cand("Beta VTN")
        self.assertEqual(pick([a, b], instance_names=["beta vtn", "Alpha VTN"]), "Beta VTN")
        self.assertEqual(pick([a], instance_names=["Beta VTN"]), None)
        self.assertTrue("instance_names" in why_not(a, cfg(instance_names=["Beta VTN"])))

    def test_required_program(self):
        lists_it = cand("Z", ["program_names=other,local"])
        silent = cand("A")
        others = cand("B", ["program_names=other"])
        self.assertEqual(pick([silent, lists_it, others], program_names=["local"]), "Z")
        self.assertEqual(pick([silent, others], program_names=["local"]), "A")
        self.assertEqual(pick([others], program_names=["local"]), None)
        self.assertTrue("program_names" in why_not(others, cfg(program_names=["local"])))
        # No program configured: what the VTN lists does not matter.
        self.assertEqual(pick([others, lists_it]), "B")

    def test_version_prefix(self):
        old = cand("A", ["version=3.0.1"])
        new = cand("B", ["version=3.1"])
        unknown = cand("C")
        legacy = cand("0", ["version=2.0b"])
        self.assertEqual(pick([old, new, unknown, legacy], version_prefix="3.1"), "B")
        self.assertEqual(pick([old, new, unknown, legacy]), "A")
        self.assertEqual(pick([unknown, legacy]), "C")
        self.assertEqual(pick([legacy]), None)
        self.assertEqual(pick([legacy], version_prefix=""), "0")
        self.assertTrue("version" in why_not(legacy, cfg()))
        self.assertEqual(why_not(old, cfg()), "")

    def test_unreachable_goes_last_but_stays_usable(self):
        a = cand("A", failed=True)
        b = cand("B")
        self.assertEqual(pick([a, b]), "B")
        self.assertEqual(pick([a]), "A")
        self.assertTrue(rank(a, cfg()) > rank(b, cfg()))

    def test_odd_txt_never_breaks_ranking(self):
        weird = {"instance": "W", "txt": None}
        self.assertEqual(best([weird], cfg()), 0)
        self.assertEqual(best([weird], cfg(program_names=["x"], instance_names=["w"])), 0)


if __name__ == "__main__":
    unittest.main()
