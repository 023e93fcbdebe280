# Safe mode: a board that keeps resetting before it gets anywhere, or whose
# BUT1 is held at power-on, starts with its outputs at fail-safe, the network
# up and the VEN not started, and says why (ven.mainloop.state too).
#
# A boot counter in RTC memory survives soft and watchdog resets (and a
# reset after a crash), not a power cut. Every start of the VEN counts; a good
# run (ven.health: a good poll, a while up) clears it. After LIMIT starts in a
# row without one, the next start is in safe mode. Loaded at start only.
#
#   why = safemode.check(button_held)   # None: start the VEN; else the reason
#   safemode.clear()                     # at the REPL: the next start is normal

import machine

from ven.health import GOOD_AFTER_S

LIMIT = 3
_TAG = b"ven-boots:"


def _count():
    data = bytes(machine.RTC().memory())
    if data.startswith(_TAG) and data[len(_TAG):].isdigit():
        return int(data[len(_TAG):])
    return 0


def _store(n):
    machine.RTC().memory(_TAG + b"%d" % n)


def check(button_held):
    """Count this start; the reason for safe mode, or None to start the VEN."""
    if machine.reset_cause() == machine.PWRON_RESET:
        n = 0  # RTC memory does not outlive a power cut; start counting anew
    else:
        n = _count()
    n += 1
    _store(n)
    if button_held:
        return "BUT1 was held at start"
    if n > LIMIT:
        return ("%d starts in a row without a good run (a good poll and %d s up): see the last crash; "
                "fix it, then ven.safemode.clear() and machine.reset(), or power-cycle" % (n - 1, GOOD_AFTER_S))
    return None


def clear():
    """The next start is a normal one (a good run, or by hand at the REPL)."""
    _store(0)
