"""Stand-in for MicroPython's `network` module (host simulation only).

WLAN and LAN report the simulated board's address (the namespace address
given to tools.hostsim) once "connected": a short, fixed while after
LAN.active(True) or WLAN.connect(), like a real link coming up.

As on the ESP32 port (MicroPython 1.24 - 1.28):
- LAN() and WLAN(STA_IF) are one shared object each; LAN() keeps the keyword
  arguments of its first call (`kwargs`) and ignores later ones.
- The host name (network.hostname) is taken by LAN.active(True) and by
  WLAN.connect(): each records it in `.hostname`.
- WLAN.connect() while the station is associating or connected raises
  OSError("Wifi Internal Error") (recorded in `.refused`; accepted calls in
  `.connects`, monotonic times).
- A lost or failed Wi-Fi connection is retried by the firmware itself, unless
  config(reconnects=0); status() then gives the reason (200 beacon timeout,
  201 no AP found); 201 is reported even while a new attempt is in flight.
- LAN.status(): 0 initialized, 1 started, 3 connected, 4 disconnected, 5 got IP.

Tests drive the network with set_address(ip) (a new DHCP lease),
set_link(False) / set_link(True) (cable out / in, access point gone / back) and
reset() (everything as at import, the shared objects forgotten).
"""
import time

STA_IF, AP_IF = 0, 1
PHY_LAN8720, PHY_IP101, PHY_RTL8201, PHY_DP83848, PHY_KSZ8041 = 0, 1, 2, 3, 4
STAT_IDLE, STAT_CONNECTING, STAT_GOT_IP = 1000, 1001, 1010
STAT_BEACON_TIMEOUT, STAT_NO_AP_FOUND, STAT_WRONG_PASSWORD = 200, 201, 202

_ip = "127.0.0.1"
_link_delay_s = 0.2
_hostname = "espressif"
_link = True          # cable in / access point in reach
_link_since = 0.0     # monotonic time the link last came back


def set_address(ip):
    global _ip
    _ip = ip


def set_link(up):
    global _link, _link_since
    if up and not _link:
        _link_since = time.monotonic()
    _link = bool(up)


def reset(ip="127.0.0.1", link_delay_s=0.2):
    global _ip, _link_delay_s, _hostname, _link, _link_since
    _ip, _link_delay_s, _hostname, _link, _link_since = ip, link_delay_s, "espressif", True, 0.0
    WLAN._shared.clear()
    LAN._shared = None


def hostname(name=None):
    global _hostname
    if name is None:
        return _hostname
    _hostname = name


class _Interface:
    def __init__(self):
        self._active_since = None
        self.hostname = None

    def active(self, on=None):
        if on is None:
            return self._active_since is not None
        if on and self._active_since is None:
            self._active_since = time.monotonic()
        elif not on:
            self._active_since = None

    def _up(self):
        raise NotImplementedError

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
            obj = cls._shared[interface_id] = super().__new__(cls)
            _Interface.__init__(obj)
            obj._requested = False     # connect() asked (the firmware's connect_requested)
            obj._attempt_at = None     # monotonic start of the association in flight
            obj._connected = False
            obj._reason = 0
            obj._retry = True          # the firmware retries by itself (reconnects=-1, its default)
            obj.connects = []
            obj.refused = []
        return cls._shared[interface_id]

    def __init__(self, interface_id=STA_IF):
        pass

    def _step(self):
        now = time.monotonic()
        if self._connected and not _link:
            self._connected, self._reason = False, STAT_BEACON_TIMEOUT
            if self._retry:
                self._attempt_at = now
        if self._attempt_at is not None and now - self._attempt_at >= _link_delay_s:
            if _link:
                self._connected, self._reason, self._attempt_at = True, 0, None
            else:
                self._reason = STAT_NO_AP_FOUND
                self._attempt_at = now if self._retry else None

    def active(self, on=None):
        if on is not None and not on:
            self._requested, self._attempt_at, self._connected = False, None, False
        return super().active(on)

    def config(self, *args, **kwargs):
        if "reconnects" in kwargs:
            # -1: for ever; 0: never (n > 0 retries are not simulated: treated as for ever).
            self._retry = kwargs["reconnects"] != 0
        return super().config(*args)

    def connect(self, ssid=None, key=None, **kwargs):
        if not self.active():
            raise OSError("Wifi Not Started")
        self._step()
        if self._connected or self._attempt_at is not None:
            self.refused.append(time.monotonic())
            raise OSError("Wifi Internal Error")
        self.hostname = _hostname
        self._requested = True
        self._attempt_at = time.monotonic()
        self.connects.append(self._attempt_at)

    def _up(self):
        self._step()
        return self._active_since is not None and self._connected

    def disconnect(self):
        self._requested, self._attempt_at, self._connected, self._reason = False, None, False, 0

    def status(self, param=None):
        self._step()
        if self._connected:
            return STAT_GOT_IP
        if self._reason == STAT_NO_AP_FOUND:
            return self._reason
        if self._requested and self._attempt_at is not None:
            return STAT_CONNECTING
        return self._reason or STAT_IDLE

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

    def active(self, on=None):
        if on and self._active_since is None:
            self.hostname = _hostname  # the ESP32 port names the interface when it starts it
        return super().active(on)

    def _up(self):
        if self._active_since is None or not _link:
            return False
        return time.monotonic() - max(self._active_since, _link_since) >= _link_delay_s

    def status(self):
        if self._active_since is None:
            return 0
        if not _link:
            return 4
        return 5 if self._up() else 1
