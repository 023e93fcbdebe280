# Portable: runs on CPython (pytest) and on the MicroPython VM (tests/mpvm).
#
# The streaming reducer must give exactly the schedule that json.loads + the
# dict path gives, wherever the network happens to cut the body into chunks.
import json
import unittest

import schedule_help
from ven import schedule
from ven.eventstream import EventReducer, ItemReducer
from ven.isotime import parse_datetime

T0 = parse_datetime("2026-11-22T00:00:00Z")
H = 3600
TYPES = ("PRICE", "GHG", "SIMPLE")

# Hand-written, with what a real VTN may send: fields in any order (intervals
# before intervalPeriod and priority), escapes and non-ASCII text in skipped
# fields and in keys, nested arrays, numbers at the end of objects, whitespace.
TRICKY = b"""[
 {"intervals": [ {"id": 0, "payloads": [{"type": "PRICE", "values": [0.5, 1e-1]},
                                        {"type": "GHG", "values": [400]}]},
                 {"payloads":[{"values":[7],"type":"PRICE"}],"id":1,"intervalPeriod":{"duration":"PT30M"}} ],
   "eventName": "caf\xc3\xa9 \\"quoted\\" \\\\ [not an array] {nor an object}",
   "targets": [{"type": "GROUP", "values": ["a", ["b", {"c": "]}"}]]}],
   "odd\\"key": 1,
   "intervalPeriod": {"start": "2026-11-22T00:00:00Z", "duration": "PT2H"},
   "priority": 1, "id": "ev-1", "modificationDateTime": "2026-11-20T00:00:00Z",
   "reportDescriptors": null, "flag": true, "ratio": -12.5e+2},
 {"id":"ev-2","programID":"p","priority":0,"intervalPeriod":{"start":"2026-11-22T01:00:00Z","duration":"PT15M"},
  "intervals":[{"id":0,"payloads":[{"type":"SIMPLE","values":[2]}]},{"id":1,"payloads":[{"type":"PRICE","values":[9]}]}]},
 {"id": "empty-intervals", "intervals": []},
 {}
]"""


def reference(body, types=TYPES, now=T0):
    b = schedule.Builder(types, now)
    for ev in json.loads(body):
        b.add_event(ev)
    return b.finish(), b.errors


def streamed(chunks, types=TYPES, now=T0):
    b = schedule.Builder(types, now)
    r = EventReducer(b)
    for c in chunks:
        r.feed(c)
    n = r.finish()
    return b.finish(), b.errors, n


def got_price_at(sched, t):
    return sched.value_at("PRICE", t)


def split_every(body, size):
    return [body[i:i + size] for i in range(0, len(body), size)]


def day_event(n, step_s, start=T0, ident="big"):
    ev = {"id": ident, "programID": "p1", "objectType": "EVENT", "createdDateTime": "2026-11-21T12:00:00Z",
          "modificationDateTime": "2026-11-21T12:00:00Z", "priority": 0,
          "payloadDescriptors": [{"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "PRICE",
                                  "units": "KWH", "currency": "USD"}],
          "intervalPeriod": {"start": "2026-11-22T00:00:00Z", "duration": "PT%dS" % step_s},
          "intervals": [{"id": i, "payloads": [{"type": "PRICE", "values": [(i * 37 % 100) / 100]}]}
                        for i in range(n)]}
    return ev


class StreamTest(unittest.TestCase):
    def test_tricky_body_matches_json_loads(self):
        want, want_errors = reference(TRICKY)
        self.assertEqual(len(want.tracks["PRICE"]), 2)
        self.assertEqual(got_price_at(want, T0 + H + 900), 9)
        got, errors, n = streamed([TRICKY])
        self.assertEqual(n, 4)
        self.assertTrue(got == want)
        self.assertEqual(errors, want_errors)
        self.assertEqual(len(errors), 2)  # the event without intervals and the empty object
        self.assertEqual(got.value_at("PRICE", T0 + 3600), 0.1)
        self.assertEqual(got.value_at("PRICE", T0 + 2 * H + 1799), 7)
        self.assertEqual(got.value_at("SIMPLE", T0 + H), 2)

    def test_every_split_point(self):
        want, want_errors = reference(TRICKY)
        for cut in range(1, len(TRICKY)):
            got, errors, n = streamed([TRICKY[:cut], TRICKY[cut:]])
            self.assertTrue(got == want, "cut at %d" % cut)
            self.assertEqual((errors, n), (want_errors, 4), "cut at %d" % cut)

    def test_byte_by_byte_and_other_chunk_sizes(self):
        want, _ = reference(TRICKY)
        for size in (1, 2, 3, 5, 64):
            got, _, _ = streamed(split_every(TRICKY, size))
            self.assertTrue(got == want, "chunks of %d" % size)

    def test_large_event_in_network_sized_chunks(self):
        body = json.dumps([day_event(96, 900), day_event(24, 3600, ident="hourly")]).encode("utf-8")
        want, _ = reference(body, ("PRICE",))
        for size in (536, 1024, 1460):
            got, errors, n = streamed(split_every(body, size), ("PRICE",))
            self.assertEqual((errors, n), ([], 2))
            self.assertTrue(got == want)
        self.assertEqual(got.value_at("PRICE", T0 + 95 * 900), (95 * 37 % 100) / 100)

    def test_accepts_memoryview_and_bytearray_chunks(self):
        want, _ = reference(TRICKY)
        got, _, _ = streamed([bytearray(TRICKY[:100]), memoryview(TRICKY)[100:]])
        self.assertTrue(got == want)

    def test_pages(self):
        b = schedule.Builder(("PRICE",), T0)
        r = EventReducer(b)
        pages = [[day_event(4, 3600, ident="a"), day_event(4, 3600, ident="b")], [day_event(2, 3600, ident="c")], []]
        counts = []
        for page in pages:
            for chunk in split_every(json.dumps(page).encode("utf-8"), 50):
                r.feed(chunk)
            counts.append(r.finish())
        self.assertEqual(counts, [2, 1, 0])
        self.assertEqual(r.total, 3)
        self.assertEqual(len(b.finish().tracks["PRICE"]), 3)

    def test_malformed_bodies_raise(self):
        for body in (b"", b"[", b'[{"id": "x"', b'{"title": "Not Found", "status": 404}', b"[1, 2]",
                     b'[{"id": "x"}] trailing', b'[{"id" "x"}]', b'[{"id": "x",}]', b'[{"id": "x"} {"id": "y"}]',
                     b'[{"intervals": [{"id": 0, "payloads": [}]}]', b'[{"intervals": [1 2]}]', b"null"):
            b = schedule.Builder(("PRICE",), T0)
            r = EventReducer(b)
            with self.assertRaises(ValueError):
                r.feed(body)
                r.finish()
            # The reducer is ready for the next body after an error.
            r.feed(b"[]")
            self.assertEqual(r.finish(), 0)

    def test_oversized_interval_skips_its_event_only(self):
        big = day_event(1, 3600, ident="big")
        big["intervals"][0]["payloads"][0]["values"] = [0.1] * 400
        body = json.dumps([big, day_event(2, 3600, ident="fine")]).encode("utf-8")
        b = schedule.Builder(("PRICE",), T0)
        r = EventReducer(b, max_value_bytes=1000)
        for chunk in split_every(body, 300):
            r.feed(chunk)
        self.assertEqual(r.finish(), 2)
        sched = b.finish()
        self.assertEqual(len(b.errors), 1)
        self.assertTrue("big" in b.errors[0] and "larger than 1000 bytes" in b.errors[0], b.errors)
        self.assertEqual(schedule_help.events(sched), ["fine"])

    def test_new_counts_what_a_deduplicating_builder_kept(self):
        class Dropping:
            # Like ven.openadr.Dedup: drops events whose id it has seen.
            def __init__(self, builder):
                self.builder = builder
                self.seen = []
                self.dropped = 0
                self.skip = False

            def begin_event(self):
                self.skip = False
                self.builder.begin_event()

            def event_field(self, key, value):
                if key == "id" and value in self.seen:
                    self.skip = True
                    self.dropped += 1
                    self.builder.abort_event()
                elif not self.skip:
                    if key == "id":
                        self.seen.append(value)
                    self.builder.event_field(key, value)

            def interval(self, iv):
                if not self.skip:
                    self.builder.interval(iv)

            def end_event(self):
                if not self.skip:
                    self.builder.end_event()

            def abort_event(self):
                self.builder.abort_event()

            def fail_event(self, reason):
                self.builder.fail_event(reason)

        b = schedule.Builder(("PRICE",), T0)
        r = EventReducer(Dropping(b))
        page = json.dumps([day_event(2, 3600, ident="a"), day_event(2, 3600, ident="b")]).encode("utf-8")
        r.feed(page)
        self.assertEqual((r.finish(), r.new), (2, 2))
        r.feed(page)  # a server ignoring skip sends the same page again
        self.assertEqual((r.finish(), r.new), (2, 0))
        self.assertEqual(b.events, 2)

    def test_counts_events_for_the_pager(self):
        b = schedule.Builder(("PRICE",), T0)
        r = EventReducer(b)
        r.feed(json.dumps([day_event(1, 60, ident=str(i)) for i in range(7)]).encode("utf-8"))
        self.assertEqual(r.finish(), 7)
        self.assertEqual(b.events, 7)


class ItemReducerTest(unittest.TestCase):
    BODY = (b'[{"id": "a", "programName": "caf\xc3\xa9 \\"x\\" ]}", "big": [1, [2, {"k": "}"}]]},'
            b' 7, "s", null, [1, 2], {"id": "b"}]')

    def test_every_element_parsed_on_its_own_wherever_the_body_is_cut(self):
        want = json.loads(self.BODY)
        for size in (1, 2, 3, 7, 64, len(self.BODY)):
            got = []
            r = ItemReducer(got.append)
            for c in split_every(self.BODY, size):
                r.feed(c)
            self.assertEqual(r.finish(), len(want))
            self.assertEqual(got, want)
            self.assertEqual(r.new, len(want))

    def test_pages_and_empty_arrays(self):
        got = []
        r = ItemReducer(got.append)
        for body in (b"[]", b' [ {"id": 1} ] ', b"[2,3]"):
            r.feed(body)
            got.append(r.finish())
        self.assertEqual(got, [0, {"id": 1}, 1, 2, 3, 2])
        self.assertEqual(r.total, 3)

    def test_a_dropped_element_is_counted_out_of_new(self):
        seen = set()

        def take(obj):
            if obj["id"] in seen:
                return False
            seen.add(obj["id"])
        r = ItemReducer(take)
        r.feed(b'[{"id": 1}, {"id": 2}, {"id": 1}]')
        self.assertEqual((r.finish(), r.new), (3, 2))
        r.feed(b'[{"id": 1}, {"id": 2}]')
        self.assertEqual((r.finish(), r.new), (2, 0))

    def test_an_element_too_large_is_skipped_and_counted(self):
        got = []
        r = ItemReducer(got.append, max_value_bytes=20)
        r.feed(b'[{"id": 1}, {"id": 2, "pad": "' + b"x" * 40 + b'"}, {"id": 3}]')
        self.assertEqual(r.finish(), 3)
        self.assertEqual(got, [{"id": 1}, {"id": 3}])
        self.assertEqual(r.too_large, 1)

    def test_malformed_bodies_raise(self):
        for body in (b'{"id": 1}', b'[{"id": 1} {"id": 2}]', b'[{"id": 1}', b'[1] x', b'[{"a": tru}]'):
            r = ItemReducer(lambda obj: None)
            with self.assertRaises(ValueError):
                r.feed(body)
                r.finish()


if __name__ == "__main__":
    unittest.main()
