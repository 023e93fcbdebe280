# Stand-in for the ESP32 port's `network` on the MicroPython unix port, for the
# real-MicroPython board simulation (tools/mpboard/onboard/board.py). Never goes onto a
# device. LAN and WLAN report the board's address (setting "ip") once
# "connected", a moment (setting "link_delay_ms", default 200) after activation
# or connect(), as a real link does. With setting "ip_file" the address is that
# file's content and no file means no link (a test edits it: new lease, cable out).
# LAN() and WLAN(STA_IF) return one shared object each; WLAN.connect() while
# associating or connected raises OSError("Wifi Internal Error") like the ESP32.
import time

import _board

STA_IF, AP_IF = 0, 1
PHY_LAN8720 = 0
STAT_IDLE, STAT_CONNECTING, STAT_GOT_IP = 1000, 1001, 1010
_hostname = ["espressif"]


def hostname(name=None):
    if name is None:
        return _hostname[0]
    _hostname[0] = name


def _addr():
    path = _board.get("ip_file")
    if path is None:
        return _board.get("ip", "127.0.0.1")
    try:
        with open(path) as f:
            return f.read().strip() or None
    except OSError:
        return None


class _Nic:
    def __init__(self):
        self._since = None
        self._connect_called = True

    def active(self, on=None):
        if on is None:
            return self._since is not None
        if on and self._since is None:
            self._since = time.ticks_ms()
        elif not on:
            self._since = None

    def _settled(self):
        return (self._since is not None
                and time.ticks_diff(time.ticks_ms(), self._since) >= _board.get("link_delay_ms", 200))

    def isconnected(self):
        return self._connect_called and self._settled() and _addr() is not None

    def ifconfig(self, config=None):
        ip = _addr() if self.isconnected() else None
        return (ip or "0.0.0.0", "255.0.0.0", "0.0.0.0", "0.0.0.0")

    def ipconfig(self, key):
        return self.ifconfig()[:2]

    def config(self, *args, **kwargs):
        return b"\x24\x0a\xc4\x00\x00\x01" if args == ("mac",) else None


class _Wlan(_Nic):
    def __init__(self):
        super().__init__()
        self._connect_called = False

    def connect(self, ssid=None, key=None, **kwargs):
        if self._since is None:
            raise OSError("Wifi Not Started")
        if self._connect_called and (self.isconnected() or not self._settled()):
            raise OSError("Wifi Internal Error")
        self._connect_called = True
        self._since = time.ticks_ms()  # an attempt lasts link_delay_ms

    def disconnect(self):
        self._connect_called = False

    def status(self, param=None):
        if self.isconnected():
            return STAT_GOT_IP
        return STAT_CONNECTING if self._connect_called and not self._settled() else STAT_IDLE


class _Lan(_Nic):
    def status(self):
        # 5 got IP, 4 disconnected (cable out), 1 started
        return 5 if self.isconnected() else (4 if self._since is not None and _addr() is None else 1)


_wlan = None
_lan = None


def WLAN(interface_id=STA_IF):
    global _wlan
    if _wlan is None:
        _wlan = _Wlan()
    return _wlan


def LAN(*args, **kwargs):
    global _lan
    if _lan is None:
        _lan = _Lan()
    return _lan
