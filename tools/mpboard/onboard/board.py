# A simulated ESP32-POE on the MicroPython unix port: runs the unchanged firmware
# (boot.py, then main.py) from a folder standing in for the board's filesystem,
# with the board's sys.path and stand-ins for what the unix port lacks or does
# differently (machine, network, socket, time: this folder). Never goes onto a
# device.
#
#   MPBOARD=board.json micropython [-X heapsize=N] tools/mpboard/onboard/board.py
#
# board.json: {"flash": folder (the board's /), "ip": "127.0.0.3",
#   "pwm_log": file, "button": file (BUT1 held while it exists),
#   "rtc_unset": false, "main": true (run main.py after boot.py),
#   "then": Python source run after main.py returns, as typed at the REPL}
# The exit status is 0 when main.py returns, 101/102 for machine.reset() /
# machine.soft_reset(); an exception ends it with a traceback and status 1.
import sys

# The stand-ins come from this folder; everything else as on the board.
_here = sys.argv[0].rpartition("/")[0] or "."
sys.path[:] = [".frozen", _here]
import asyncio  # noqa: E402,F401 - the port's own (frozen), before the socket stand-in exists
import _board  # noqa: E402
import time  # noqa: E402,F401 - the stand-ins, registered in sys.modules before the firmware runs
import machine  # noqa: E402,F401
import network  # noqa: E402,F401
import socket  # noqa: E402,F401
import os  # noqa: E402

os.chdir(_board.get("flash", "."))
# The ESP32's sys.path: the filesystem root, frozen modules, /lib.
sys.path[:] = ["", ".frozen", "lib"]
# The ESP32's floats are single precision, so the schedule keeps its values in
# array("f") (4 bytes each); this port's doubles would choose "d" (8 bytes).
# Values and heap as on the board.
import ven.schedule  # noqa: E402

ven.schedule.VALUE_TYPE = "f"


def _run(name):
    # As the board runs boot.py and main.py: compiled from source, in a fresh __main__.
    with open(name) as f:
        code = f.read()
    exec(code, {"__name__": "__main__"})
    code = None


_run("boot.py")
if _board.get("main", True):
    _run("main.py")
if _board.get("then"):
    exec(_board.get("then"), {"__name__": "__main__"})
