# ven.store: atomic writes that end with a CRC-32 trailer, and checked reads
# that move a damaged file aside (one log line) instead of ever raising.
# Runs on CPython and on the MicroPython VM.
import array
import binascii
import os
import unittest

import tmpfiles
from ven import store


def parse(r):
    # What write_good wrote: a line, then two ints.
    head = r.line()
    a = array.array("i", [0, 0])
    r.readinto(a, 8)
    return head, list(a)


class StoreTest(unittest.TestCase):
    def setUp(self):
        self.dir = tmpfiles.make()
        self.path = self.dir + "/state.bin"
        self.log = tmpfiles.Log()

    def tearDown(self):
        tmpfiles.remove(self.dir)

    def write_good(self):
        store.write_atomic(self.path, [b'{"a": 1}\n', array.array("i", [7, 8])])
        return tmpfiles.read(self.path)

    def assert_set_aside(self, data, why):
        """Not usable: None, the file moved to .bad as it was, one log line naming the cause."""
        self.assertEqual(store.load(self.path, parse, self.log), None)
        self.assertFalse(tmpfiles.exists(self.path))
        self.assertEqual(tmpfiles.read(self.path + ".bad"), data)
        self.assertEqual(len(self.log.lines), 1, self.log.lines)
        line = self.log.lines[0]
        self.assertTrue(self.path in line and why in line and "moved to %s.bad" % self.path in line, line)
        self.assertTrue("starting without it" in line, line)

    def test_the_trailer_is_the_crc_of_everything_before_it(self):
        data = self.write_good()
        body = b'{"a": 1}\n' + bytes(array.array("i", [7, 8]))
        self.assertEqual(data, body + b"%08x\n" % binascii.crc32(body))
        self.assertFalse(tmpfiles.exists(self.path + ".tmp"))

    def test_a_good_file_reads_back_and_stays(self):
        self.write_good()
        self.assertEqual(store.load(self.path, parse, self.log), (b'{"a": 1}\n', [7, 8]))
        self.assertEqual(self.log.lines, [])
        self.assertTrue(tmpfiles.exists(self.path))

    def test_no_file_is_none_without_a_word(self):
        self.assertEqual(store.load(self.path, parse, self.log), None)
        self.assertEqual(self.log.lines, [])
        self.assertFalse(tmpfiles.exists(self.path + ".bad"))

    def test_a_flipped_byte_fails_the_checksum(self):
        data = self.write_good()
        bad = data[:10] + bytes([data[10] ^ 1]) + data[11:]
        tmpfiles.write(self.path, bad)
        self.assert_set_aside(bad, "checksum mismatch")

    def test_bytes_after_the_data_are_junk(self):
        data = self.write_good() + b"x"
        tmpfiles.write(self.path, data)
        self.assert_set_aside(data, "junk")

    def test_empty_file(self):
        tmpfiles.write(self.path, b"")
        self.assert_set_aside(b"", "empty")

    def test_truncated_anywhere(self):
        good = self.write_good()
        for n in (1, 5, 9, 10, 15, len(good) - 1):
            self.log = tmpfiles.Log()
            tmpfiles.write(self.path, good[:n])
            self.assert_set_aside(good[:n], "")

    def test_a_file_without_a_trailer(self):
        # As older firmware wrote ven_state.json: one JSON object, no newline, no checksum.
        data = b'{"vtn": "https://vtn.example/openadr3/3.1.0", "ven_name": "ven-7", "ven_id": "1"}'
        tmpfiles.write(self.path, data)
        self.assert_set_aside(data, "older firmware")

    def test_reads_are_bounded_by_the_file_size_before_allocating(self):
        self.write_good()
        wanted = []

        def parse(r):
            r.line()
            wanted.append(r.left)
            r.need(2 ** 31 - 1)  # never reached: raises first
            wanted.append("allocated")
        self.assertEqual(store.load(self.path, parse, self.log), None)
        self.assertEqual(wanted, [8])
        self.assertTrue("truncated" in self.log.lines[0], self.log.lines)

    def test_a_first_line_longer_than_the_limit(self):
        store.write_atomic(self.path, [b"x" * (store.MAX_LINE + 10) + b"\n"])
        self.assert_set_aside(tmpfiles.read(self.path), "no first line")

    def test_any_error_while_parsing_sets_the_file_aside(self):
        # Whatever the damage makes the parser raise, the caller gets None.
        for exc in (TypeError("x"), KeyError("k"), IndexError("i"), ValueError("bad field")):
            self.log = tmpfiles.Log()
            data = self.write_good()

            def parse(r, exc=exc):
                raise exc
            self.assertEqual(store.load(self.path, parse, self.log), None)
            self.assertEqual(tmpfiles.read(self.path + ".bad"), data)
            self.assertEqual(len(self.log.lines), 1)

    def test_no_memory_to_read_it_keeps_the_file(self):
        # A MemoryError is the heap's state, not the file's: start without it, keep it for later.
        data = self.write_good()

        def parse(r):
            raise MemoryError()
        self.assertEqual(store.load(self.path, parse, self.log), None)
        self.assertEqual(tmpfiles.read(self.path), data)
        self.assertTrue("not enough memory" in self.log.lines[0] and "file kept" in self.log.lines[0], self.log.lines)

    def test_a_long_first_line_is_read_in_small_pieces(self):
        store.write_atomic(self.path, [b"y" * 3000 + b"\n"])
        self.assertEqual(store.load(self.path, lambda r: r.line(), self.log), b"y" * 3000 + b"\n")

    def test_the_checksum_is_checked_before_the_value_is_returned(self):
        data = self.write_good()
        digit = b"1" if data[-2:-1] == b"0" else b"0"
        tmpfiles.write(self.path, data[:-2] + digit + b"\n")  # the trailer's last digit changed
        parsed = []

        def parse(r):
            parsed.append(r.line())
            r.readinto(array.array("i", [0, 0]), 8)
            return "value"
        self.assertEqual(store.load(self.path, parse, self.log), None)
        self.assertEqual(len(parsed), 1)
        self.assertTrue("checksum mismatch" in self.log.lines[0])

    def test_an_older_bad_file_is_replaced(self):
        tmpfiles.write(self.path + ".bad", b"older")
        tmpfiles.write(self.path, b"newer damage\n")
        self.assert_set_aside(b"newer damage\n", "")

    def test_without_a_logger(self):
        tmpfiles.write(self.path, b"junk")
        self.assertEqual(store.load(self.path, parse), None)
        self.assertTrue(tmpfiles.exists(self.path + ".bad"))

    def test_the_log_line(self):
        def parse(r):
            raise ValueError("a reason")
        self.write_good()
        self.assertEqual(store.load(self.path, parse, self.log), None)
        self.assertEqual(os.listdir(self.dir), ["state.bin.bad"])
        self.assertEqual(self.log.lines, ["%s not usable (a reason): moved to %s.bad; starting without it"
                                          % (self.path, self.path)])

    def test_a_write_that_fails_half_way_leaves_the_old_file(self):
        data = self.write_good()

        def parts():
            yield b"{half a header"
            raise OSError(28, "no space left")
        with self.assertRaises(OSError):
            store.write_atomic(self.path, parts())
        self.assertEqual(tmpfiles.read(self.path), data)
        self.assertEqual(os.listdir(self.dir), ["state.bin"])


if __name__ == "__main__":
    unittest.main()
