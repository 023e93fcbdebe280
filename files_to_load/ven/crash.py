# What went wrong, told where it helps: an exception's traceback printed
# straight to a stream (the console), never built up as one string first (on
# a short, fragmented heap that string is often what fails); and the crash
# record: the last unexpected exception with its traceback, the reset cause,
# the uptime and the time, in a small file (at most MAX bytes, written
# atomically with a checksum by ven.store), printed at the next start and kept
# in ven.mainloop.state.crash.
#
#   crash.print_trace(e)                 # the traceback, on stderr
#   crash.kind(e) == crash.kind(before)  # the same failure again? (say it once)
#   crash.record(e, "task controller", uptime_s)
#   text = crash.last()                  # at start: the record of the last run, or None

import sys

PATH = "crash.txt"
SEEN = "crash.last"  # the record once printed at a start
MAX = 1536


def print_trace(e, stream=None):
    """The traceback of e, written to stream (sys.stderr) as it is formatted."""
    stream = stream or sys.stderr
    try:
        if hasattr(sys, "print_exception"):
            sys.print_exception(e, stream)  # MicroPython
        else:
            import traceback  # type: ignore[import-not-found]  # CPython (host simulation) only
            traceback.print_exception(type(e), e, e.__traceback__, file=stream)
    except MemoryError:
        stream.write("(no memory left to print the traceback of %r)\n" % (e,))


def kind(e):
    """What makes two failures "the same" for the log: the text, but for a
    MemoryError only its type (the size it failed on varies from one to the next)."""
    return "MemoryError" if isinstance(e, MemoryError) else repr(e)


def _cause():
    try:
        import machine
        c = machine.reset_cause()
        for name in ("PWRON", "HARD", "WDT", "DEEPSLEEP", "SOFT"):
            if getattr(machine, name + "_RESET", None) == c:
                return name.lower()
        return str(c)
    except (ImportError, AttributeError):
        return "?"


def record(e, where, uptime_s):
    """Write the crash record of e (where: what failed). Never raises but KeyboardInterrupt."""
    from ven import isotime, store
    try:
        try:
            import io
            buf = io.StringIO()
            print_trace(e, buf)
            trace = buf.getvalue()
            buf = None
        except MemoryError:
            trace = repr(e) + "\n"
        head = "%s failed at %s, %d s after the start (this start: %s reset)\n" % (
            where, isotime.format_datetime(isotime.now()), uptime_s, _cause())
        store.write_atomic(PATH, [(head + trace[-(MAX - len(head)):]).encode("utf-8")])
    except (OSError, MemoryError):
        pass  # the console has it already (called right after a MemoryError: maybe no heap even for the head)


def _text(r):
    data = bytearray(r.left)
    r.readinto(data, r.left)
    return bytes(data).decode("utf-8")


def last(log=None):
    """The crash record left by the last run (then kept as SEEN), or None."""
    from ven import store
    text = store.load(PATH, _text, log)
    if text is not None:
        try:
            store.move(PATH, SEEN)
        except OSError:
            pass
    return text
