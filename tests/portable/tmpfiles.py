"""Scratch files for the portable tests, on CPython and on the MicroPython VM.

A fresh folder per test (CPython: a temporary folder, as tests may run side by
side in one checkout; the VM: a folder under its own writable "/"), and a
stand-in logger that keeps each line.

    d = tmpfiles.make(); ...; tmpfiles.remove(d)
"""
import os


def make():
    try:
        import tempfile
    except ImportError:  # the MicroPython VM: a filesystem of its own
        n = 0
        while True:
            path = "/scratch%d" % n
            try:
                os.mkdir(path)
                return path
            except OSError:
                n += 1
    return tempfile.mkdtemp(prefix="ven-test-")


def remove(path):
    for name in os.listdir(path):
        os.remove(path + "/" + name)
    os.rmdir(path)


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


class Log:
    """Stands in for a logging.Logger: .lines holds each line logged."""

    def __init__(self):
        self.lines = []

    def warning(self, fmt, *args):
        self.lines.append(fmt % args)

    info = warning
    error = warning
