# The simulated board's settings for the MicroPython stand-ins (machine, network,
# socket, time), read once from the JSON file named by $MPBOARD. Runs on the
# MicroPython unix port only; see tools/mpboard/onboard/board.py.
import json
import os

_path = os.getenv("MPBOARD")
settings = {}
if _path:
    with open(_path) as _f:
        settings = json.load(_f)


def get(key, default=None):
    return settings.get(key, default)


def append_line(key, text):
    # One line to the file named by setting `key` (the test reads it as it grows).
    path = settings.get(key)
    if path:
        with open(path, "a") as f:
            f.write(text + "\n")
