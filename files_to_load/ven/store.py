# The files the VEN keeps on its flash (schedule.bin, ven_state.json): written
# atomically, ending with a checksum, and read back so that a damaged file
# never stops the VEN.
#
# Layout: the content (a JSON line, then raw bytes if any), then a trailer of
# 9 bytes: the CRC-32 of everything before it as 8 lowercase hex digits, "\n".
# write_atomic writes to PATH.tmp, closes (flushes) it and renames it over
# PATH: littlefs renames atomically, so after a reset mid-write PATH holds
# either the old or the new content, never half of one.
#
#   store.write_atomic("schedule.bin", [b'{"v": 2}\n', some_array])
#   store.load("schedule.bin", parse, log)   # parse(reader) -> value, or None
#
# load never raises: a file that fails any check (size, parse, checksum) is
# moved to PATH.bad (replacing an older one) with one log line, and the
# caller goes on as if there were no file.

import os
from binascii import crc32

MAX_LINE = 16384  # longest first line read (allocated up front on MicroPython)
_END = 9  # the trailer


def write_atomic(path, parts):
    """Write every bytes-like object of `parts`, then the checksum, to path, atomically."""
    tmp = path + ".tmp"
    f = open(tmp, "wb")
    crc = 0
    try:
        for p in parts:
            f.write(p)
            crc = crc32(p, crc)
        f.write(b"%08x\n" % crc)
    except BaseException:
        f.close()
        _remove(tmp)
        raise
    f.close()
    move(tmp, path)


def move(src, dst):
    """Rename src over dst (littlefs replaces atomically; FAT refuses: two steps)."""
    try:
        os.rename(src, dst)
    except OSError:
        _remove(dst)
        os.rename(src, dst)


class Reader:
    """A file of write_atomic read back: every read bounded by the bytes left, checksummed."""

    def __init__(self, f, size):
        self.f = f
        self.left = size - _END  # bytes before the trailer
        self.crc = 0
        if self.left < 1:
            raise ValueError("empty" if size == 0 else "%d bytes: truncated" % size)

    def need(self, n):
        # Call before allocating n bytes for what comes next.
        if n > self.left:
            raise ValueError("truncated: %d bytes wanted, %d left" % (n, self.left))

    def line(self):
        # In small pieces: MicroPython's readline(n) allocates n bytes up front.
        b = b""
        while not b.endswith(b"\n"):
            n = min(self.left - len(b), MAX_LINE - len(b), 256)
            piece = self.f.readline(n) if n > 0 else b""
            if not piece:
                raise ValueError("no first line (truncated, or written by older firmware)")
            b += piece
        self._took(b, len(b))
        return b

    def readinto(self, buf, n):
        self.need(n)
        if self.f.readinto(buf) != n:
            raise ValueError("truncated")
        self._took(buf, n)

    def _took(self, b, n):
        self.left -= n
        self.crc = crc32(b, self.crc)

    def end(self):
        if self.left:
            raise ValueError("%d bytes of junk after the data" % self.left)
        if self.f.read(_END) != b"%08x\n" % self.crc:
            raise ValueError("checksum mismatch")


def load(path, parse, log=None):
    """parse(Reader) of the file at path; None if there is none or it is not usable."""
    try:
        size = os.stat(path)[6]
    except OSError:
        return None
    f = None
    try:
        f = open(path, "rb")
        r = Reader(f, size)
        value = parse(r)
        r.end()  # the checksum, before anything is used
        return value
    except MemoryError:
        # Not the file's fault: keep it for the next start.
        if log is not None:
            log.warning("%s: not enough memory to read it now; starting without it (file kept)", path)
        return None
    except Exception as e:  # whatever is wrong with the file must not stop the VEN
        why = str(e) if isinstance(e, ValueError) else repr(e)
    finally:
        if f is not None:
            f.close()
    # Moved aside (kept for a look, never read again), replacing an older one.
    bad = path + ".bad"
    try:
        move(path, bad)
    except OSError:
        _remove(path)
    if log is not None:
        log.warning("%s not usable (%s): moved to %s; starting without it", path, why, bad)
    return None


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass
