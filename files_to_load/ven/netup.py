# The network link of the ESP32-POE: Ethernet (LAN8720) or Wi-Fi, from config,
# followed for as long as the VEN runs.
#
# start() switches the interface on and returns at once; boot.py calls it so the
# link comes up while main.py starts, and calling it again later is safe: it
# never calls WLAN.connect() while the board is connected or associating (the
# ESP32 answers that with "OSError: Wifi Internal Error"). watch() is a task of
# its own: it reads the address every second, reconnects Wi-Fi after a drop
# with a back-off doubling up to a cap, switches on an interface that did not
# start (a PHY that failed to answer) with the same back-off, and sets
# `changed` whenever the address appears, goes or changes (cable out and in, a
# new DHCP lease).
#
#   link = netup.Link(cfg["network"], cfg["board"], log).start()
#   watcher = asyncio.create_task(link.watch())
#   ip = await link.wait_ip(cfg["network"]["connect_timeout_s"])  # NetworkError on timeout
#   await link.changed.wait(); link.changed.clear()                # then link.ip: new address or None

import asyncio
import time

import network
from machine import Pin

from ven import retry

# The LAN8720's RMII clock: GPIO17 out on the WROOM boards; the WROVER's PSRAM
# takes GPIO16/17, so there it is GPIO0 (config.BOARDS lists the boards).
_CLOCK_PIN_WROVER = 0
_CLOCK_PIN = 17

# WLAN.connect() was called this boot: start() leaves the rest to watch(). (boot.py's
# Link and the main loop's are two objects, and the ESP32 keeps an old failure
# reason in status() during a new attempt: status() alone cannot say "associating".)
_asked = False


class NetworkError(Exception):
    pass


class Link:
    # Wi-Fi reconnect back-off (ms): doubles from the first to the second (ven.retry).
    RETRY_MIN_MS = 4000
    RETRY_MAX_MS = 120000

    def __init__(self, net_cfg, board="ESP32-POE", log=None):
        self.cfg = net_cfg
        self.wifi = net_cfg["interface"] == "wifi"
        self.clock_pin = _CLOCK_PIN_WROVER if board.endswith("WROVER") else _CLOCK_PIN
        self.log = log
        self.ip = None
        self.nic = None  # until start() succeeds
        self.changed = asyncio.Event()

    def start(self):
        """Switch the interface on (Wi-Fi: and ask it to connect); never waits."""
        if self.cfg["hostname"]:
            try:
                # Before active(): the ESP32 gives Ethernet its name there, Wi-Fi at connect().
                network.hostname(self.cfg["hostname"])
            except (AttributeError, ValueError, OSError):
                pass  # older firmware: keep the default name
        try:
            # LAN(): one shared object, later calls ignore their arguments; active(True) again is safe from 1.24.
            nic = network.WLAN(network.STA_IF) if self.wifi else \
                network.LAN(mdc=Pin(23), mdio=Pin(18), power=Pin(12),  # type: ignore[call-arg]  # ESP32 port keywords missing from the stubs
                            phy_type=network.PHY_LAN8720, phy_addr=0, ref_clk=Pin(self.clock_pin), ref_clk_mode=Pin.OUT)
            nic.active(True)
            self.nic = nic  # only once on: watch() starts it again until then
        except OSError as e:
            # A PHY that does not answer is often a clock on the wrong pin: the other board variant.
            raise NetworkError("%s did not start (%s)%s" % (self.cfg["interface"], e, "" if self.wifi else
                               "; is key 'board' (Ethernet clock on GPIO%d) your board?" % self.clock_pin))
        if self.wifi and not _asked and not nic.isconnected() and nic.status() != network.STAT_CONNECTING:
            self._connect()
        return self

    def _connect(self):
        global _asked
        nic = network.WLAN(network.STA_IF)
        if not _asked:
            try:
                # The firmware's own immediate retries off (it keeps this across soft resets):
                # reconnecting is watch()'s, with back-off, so no attempt of the firmware's is in flight.
                nic.config(reconnects=0)
            except (OSError, ValueError, TypeError):
                pass
        _asked = True
        try:
            nic.connect(self.cfg["wifi_ssid"], self.cfg["wifi_password"])
        except OSError as e:  # refused (still associating?): the next try comes after the back-off
            if self.log:
                self.log.debug("Wi-Fi connect: %s", e)

    def poll(self):
        """The address now (None without one); sets `changed` and logs one line when it differs."""
        nic = self.nic
        if nic is None:  # not started yet: never had an address
            return None
        ip = nic.ifconfig()[0] if nic.isconnected() else None
        if ip == "0.0.0.0":
            ip = None
        old = self.ip
        if ip != old:
            self.ip = ip
            self.changed.set()
            if self.log:
                if ip:
                    self.log.info("network: address %s (was %s)", ip, old)
                else:
                    self.log.warning("network: address %s lost (%s status %s)%s", old, self.cfg["interface"],
                                     nic.status(), "; reconnecting" if self.wifi else "")
        return ip

    async def wait_ip(self, timeout_s):
        """The address as soon as there is one; NetworkError after timeout_s without."""
        deadline = time.ticks_add(time.ticks_ms(), int(timeout_s * 1000))
        while not self.poll():
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise NetworkError("no IP address after %s s (%s %s; check the cable or the Wi-Fi settings)" % (
                    timeout_s, self.cfg["interface"],
                    "not started" if self.nic is None else "status %s" % self.nic.status()))
            await asyncio.sleep_ms(100)
        return self.ip

    async def watch(self, period_ms=1000):
        """Follow the link for ever (run it as a task). Wi-Fi without an address gets connect()
        RETRY_MIN_MS after it was last up (or this started), then after a back-off doubling up to
        RETRY_MAX_MS; never while status() says it is associating. An interface that did not
        start is switched on again on the same back-off."""
        tries = 0  # attempts in a row since the link was last up
        due = time.ticks_add(time.ticks_ms(), self.RETRY_MIN_MS)
        while True:
            now = time.ticks_ms()
            if self.nic is None:
                if time.ticks_diff(now, due) >= 0:
                    try:
                        self.start()
                        if self.log:
                            self.log.info("network: %s started", self.cfg["interface"])
                    except NetworkError as e:
                        tries += 1
                        if self.log:
                            self.log.warning("%s; trying again in %d s", e, self._wait(tries) // 1000)
                    due = time.ticks_add(now, self._wait(tries))
            elif self.poll() or not self.wifi:
                tries = 0
                due = time.ticks_add(now, self.RETRY_MIN_MS)
            elif time.ticks_diff(now, due) >= 0:
                if self.nic.status() != network.STAT_CONNECTING:
                    self._connect()
                    tries += 1
                due = time.ticks_add(now, self._wait(tries))
            await asyncio.sleep_ms(period_ms)

    def _wait(self, tries):
        # ms until the next attempt after `tries` in a row: RETRY_MIN_MS, then doubling.
        return retry.delay(tries + 1, self.RETRY_MAX_MS, self.RETRY_MIN_MS)


def start(net_cfg, board="ESP32-POE"):
    """A Link switched on (boot.py: the interface comes up while main.py starts)."""
    return Link(net_cfg, board).start()
