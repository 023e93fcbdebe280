# main.py of the BUT1 reaction benchmark (tools/bench/button_reaction.py), on the
# real MicroPython VM: the firmware as deployed, with one hook. When the VEN
# enters the state named by the board setting "bench_state", BUT1's interrupt
# fires (its handler is called, as the pin's IRQ would), and the time until the
# main loop acts on the press (Button.wait_pressed returns) is printed:
#   BUTTON-REACTION <state> <microseconds>
import time

import _board
import ven.mainloop
from ven import button

STATE = _board.get("bench_state")
_btn = []
_at = []


def _press(state):
    # Once, the first time the VEN is in the state measured.
    if state == STATE and _btn and not _at:
        _at.append(time.ticks_us())
        _btn[0]._pressed(_btn[0].pin)


_init = button.Button.__init__


def _button_init(self, pin):
    _init(self, pin)
    _btn.append(self)


button.Button.__init__ = _button_init
_wait = button.Button.wait_pressed


async def _wait_pressed(self):
    await _wait(self)
    print("BUTTON-REACTION %s %d" % (STATE, time.ticks_diff(time.ticks_us(), _at[0]) if _at else -1))


button.Button.wait_pressed = _wait_pressed


def _hook(obj, name, state, is_async=False):
    f = getattr(obj, name)
    if is_async:
        async def w(*a, **k):
            _press(state)
            return await f(*a, **k)
    else:
        def w(*a, **k):
            _press(state)
            return f(*a, **k)
    setattr(obj, name, w)


if STATE == "discovery":
    from ven import discovery
    _hook(discovery.Locator, "step", "discovery")
elif STATE == "tls":
    from ven import http_client
    _hook(http_client.Session, "_open", "tls", True)
elif STATE == "body":
    from ven import eventstream
    _hook(eventstream.EventReducer, "feed", "body")
elif STATE == "save":
    # The first atomic write is the schedule of the first good poll (ven.schedule_file).
    from ven import store
    _hook(store, "write_atomic", "save")
elif STATE == "dns":
    import socket
    _lookup = socket.getaddrinfo

    def _no_dns(host, *args):
        # A name (the NTP server's) is looked up: press, then fail at once as the
        # ESP32 does without a DNS server. This host's resolver is never asked
        # (a resolver daemon on a Unix socket would reach past the namespace).
        if host[:1].isdigit():
            return _lookup(host, *args)
        _press("dns")
        raise OSError(-202)

    socket.getaddrinfo = _no_dns
elif STATE == "backoff":
    from ven import retry
    _hook(retry, "delay", "backoff")

ven.mainloop.main()
