# The ESP32 port's socket API on the MicroPython unix port, for the
# real-MicroPython board simulation (tools/mpboard/onboard/board.py). Never goes onto a
# device. The unix port wants raw sockaddr bytes where the ESP32 takes
# ("ip", port) tuples (UDP bind, sendto, connect), answers recvfrom with a
# sockaddr instead of a tuple, and has no IPPROTO_IP. Datagram sockets are
# wrapped to translate; stream sockets (asyncio, TLS) are the port's own.
import io

import usocket as _s
from usocket import *  # noqa: F401,F403 - every name of the port's module

IPPROTO_IP = 0
_FILENO = 10  # MP_STREAM_GET_FILENO: select.poll() asks the wrapper for its fd


def _sockaddr(addr):
    if isinstance(addr, tuple):
        return _s.getaddrinfo(addr[0], addr[1])[0][-1]
    return addr


def _tuple(addr):
    a = _s.sockaddr(addr)
    return ("%d.%d.%d.%d" % tuple(a[1]), a[2])


class _Datagram(io.IOBase):
    def __init__(self, af, kind, proto):
        self.s = _s.socket(af, kind, proto)

    def ioctl(self, req, arg):
        return self.s.fileno() if req == _FILENO else -22

    def bind(self, addr):
        self.s.bind(_sockaddr(addr))

    def connect(self, addr):
        self.s.connect(_sockaddr(addr))

    def sendto(self, data, addr):
        return self.s.sendto(data, _sockaddr(addr))

    def send(self, data):
        return self.s.send(data)

    def recvfrom(self, n):
        data, addr = self.s.recvfrom(n)
        return data, _tuple(addr)

    def recv(self, n):
        return self.s.recv(n)

    def readinto(self, buf):
        return self.s.readinto(buf)

    def setsockopt(self, level, opt, value):
        self.s.setsockopt(level, opt, value)

    def setblocking(self, flag):
        self.s.setblocking(flag)

    def settimeout(self, t):
        self.s.settimeout(t)

    def fileno(self):
        return self.s.fileno()

    def close(self):
        self.s.close()


def socket(af=AF_INET, kind=SOCK_STREAM, proto=0):  # noqa: F405
    if kind == SOCK_DGRAM:  # noqa: F405
        return _Datagram(af, kind, proto)
    return _s.socket(af, kind, proto)
