"""Shared simulated-board clock: seconds since the simulated power-on."""
import time

_T0 = time.monotonic()


def uptime():
    return time.monotonic() - _T0


def reset():
    global _T0
    _T0 = time.monotonic()
