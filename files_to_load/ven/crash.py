# What went wrong, told where it helps: an exception's traceback printed
# straight to a stream (the console), never built up as one string first (on
# a short, fragmented heap that string is often what fails).
#
#   crash.print_trace(e)                 # the traceback, on stderr
#   crash.kind(e) == crash.kind(before)  # the same failure again? (say it once)

import sys


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
