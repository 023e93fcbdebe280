"""Stand-in for MicroPython's `network` module (host simulation only).

WLAN and LAN report the simulated board's address (the namespace address
given to tools.hostsim) once "connected", a short, fixed while after
activation, like a real link coming up.
"""
import time

STA_IF, AP_IF = 0, 1
PHY_LAN8720, PHY_IP101, PHY_RTL8201, PHY_DP83848, PHY_KSZ8041 = 0, 1, 2, 3, 4
STAT_IDLE, STAT_CONNECTING, STAT_GOT_IP = 1000, 1001, 1010

_ip = "127.0.0.1"
_link_delay_s = 0.2
_hostname = "espressif"


def set_address(ip):
    global _ip
    _ip = ip


def hostname(name=None):
    global _hostname
    if name is None:
        return _hostname
    _hostname = name


class _Interface:
    def __init__(self):
        self._active_since = None
        self._connect_called = False

    def active(self, on=None):
        if on is None:
            return self._active_since is not None
        if on and self._active_since is None:
            self._active_since = time.monotonic()
        elif not on:
            self._active_since = None

    def _up(self):
        return self._active_since is not None and time.monotonic() - self._active_since >= _link_delay_s

    def isconnected(self):
        return self._up()

    def ifconfig(self, config=None):
        if config is not None:
            raise OSError("static addressing is not simulated")
        ip = _ip if self._up() else "0.0.0.0"
        return (ip, "255.0.0.0", "0.0.0.0", "0.0.0.0")

    def ipconfig(self, key):
        if key == "addr4":
            return (self.ifconfig()[0], self.ifconfig()[1])
        raise ValueError(key)

    def config(self, *args, **kwargs):
        if args == ("mac",):
            return b"\x24\x0a\xc4\x00\x00\x01"
        return None


class WLAN(_Interface):
    _shared = {}

    def __new__(cls, interface_id=STA_IF):
        # Like the firmware: one object per interface.
        if interface_id not in cls._shared:
            cls._shared[interface_id] = super().__new__(cls)
            _Interface.__init__(cls._shared[interface_id])
        return cls._shared[interface_id]

    def __init__(self, interface_id=STA_IF):
        pass

    def connect(self, ssid=None, key=None, **kwargs):
        if not self.active():
            raise OSError("Wifi Not Started")
        self._connect_called = True

    def isconnected(self):
        return self._connect_called and self._up()

    def disconnect(self):
        self._connect_called = False

    def status(self, param=None):
        return STAT_GOT_IP if self.isconnected() else STAT_CONNECTING

    def scan(self):
        return []


class LAN(_Interface):
    _shared = None

    def __new__(cls, *args, **kwargs):
        # network.LAN() returns one shared object; later calls ignore their arguments.
        if cls._shared is None:
            cls._shared = super().__new__(cls)
            _Interface.__init__(cls._shared)
            cls._shared.kwargs = kwargs
        return cls._shared

    def __init__(self, *args, **kwargs):
        pass

    def status(self):
        return 5 if self._up() else 1
