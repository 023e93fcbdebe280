"""ven.netup on a simulated board (tools/hostsim/network.py, in process, real time):
boot.py and the main loop both start the link without connecting Wi-Fi twice
while it associates (the ESP32 raises "Wifi Internal Error" then); the watcher
follows a Wi-Fi drop (reconnects with a doubling back-off, one log line per
change), an Ethernet cable out and in, and a new DHCP address (`changed` each
time); the host name reaches Ethernet too; the board variant picks the
Ethernet clock pin. The last test runs the same Link on real MicroPython with
the board stand-ins of tools/mpboard/onboard (address from a file).

Every wait is bounded and waits for a condition; the watcher's period and
back-off are shortened through its parameters.
"""
import asyncio
import json
import logging
import os
import runpy
import shutil
import subprocess
import time

import pytest

from tests.host.field_support import defaults, stop, until
from tests.host.simboard import board  # noqa: F401 (pytest fixture)
from tests.mpboard.test_firmware_on_micropython import available
from tools.hostsim import network as simnetwork
from tools.mpboard.run import executable
from ven import config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIRMWARE = os.path.join(REPO, "files_to_load")
ONBOARD = os.path.join(REPO, "tools", "mpboard", "onboard")
ADDR = "10.0.0.5"
LINK_DELAY_S = 0.02   # a simulated association / link-up takes this long
PERIOD_MS = 10        # the watcher's period in these tests
WIFI = {"interface": "wifi", "wifi_ssid": "site", "wifi_password": "secret"}


def cfg(network=None, **top):
    device = dict(top)
    if network:
        device["network"] = network
    return config.merge(defaults(), device)


@pytest.fixture
def net(board, monkeypatch):
    from ven import netup
    simnetwork.reset(ip=ADDR, link_delay_s=LINK_DELAY_S)
    monkeypatch.setattr(netup, "_asked", False)  # a fresh boot
    yield simnetwork
    simnetwork.reset()


def link_for(c, log=None, retry_ms=(100, 400)):
    from ven import netup
    link = netup.Link(c["network"], c["board"], log)
    link.RETRY_MIN_MS, link.RETRY_MAX_MS = retry_ms
    return link


async def next_change(link, timeout_s=5):
    await asyncio.wait_for(link.changed.wait(), timeout_s)
    link.changed.clear()
    return link.ip


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.DEBUG, logger="test.netup")
    return logging.getLogger("test.netup")


def lines(caplog):
    # What an operator sees: INFO and above.
    return [r.getMessage() for r in caplog.records if r.name == "test.netup" and r.levelno >= logging.INFO]


# -- starting: boot.py, then the main loop ---------------------------------------------


def test_wifi_start_while_associating_does_not_connect_again(net):
    c = cfg(WIFI)
    link_for(c).start()                      # boot.py
    wlan = net.WLAN(net.STA_IF)
    assert wlan.status() == net.STAT_CONNECTING
    link_for(c).start()                      # the main loop, while the board still associates
    from ven import netup
    netup._asked = False                     # even without knowing boot.py asked (a soft reset):
    link_for(c).start()                      # status() says it is associating
    assert len(wlan.connects) == 1 and wlan.refused == []


def test_boot_py_then_main_loop_start_is_safe(net, tmp_path, monkeypatch, capsys):
    os.makedirs(tmp_path / "config")
    shutil.copyfile(os.path.join(REPO, "configs", "default.json"), tmp_path / "config" / "default.json")
    with open(tmp_path / "config" / "device.json", "w") as f:
        json.dump({"network": WIFI}, f)
    monkeypatch.chdir(tmp_path)
    runpy.run_path(os.path.join(FIRMWARE, "boot.py"), run_name="__main__")
    assert "boot:" not in capsys.readouterr().out
    wlan = net.WLAN(net.STA_IF)
    assert len(wlan.connects) == 1
    c = config.load()
    from ven import netup
    link = netup.Link(c["network"], c["board"]).start()   # the main loop, at once
    assert len(wlan.connects) == 1 and wlan.refused == []
    assert asyncio.run(link.wait_ip(5)) == ADDR


def test_start_survives_a_refused_connect(net):
    # After a soft reset the ESP32 may still be retrying an old connection and
    # report the last failure (201, not CONNECTING): connect() is refused; start() goes on.
    net.set_link(False)
    wlan = net.WLAN(net.STA_IF)
    wlan.active(True)
    wlan.connect("site", "secret")           # the firmware keeps retrying by itself
    start = time.monotonic()
    while wlan.status() != net.STAT_NO_AP_FOUND:
        assert time.monotonic() - start < 5
        time.sleep(LINK_DELAY_S / 4)
    link = link_for(cfg(WIFI)).start()
    assert len(wlan.refused) == 1 and link.ip is None


def test_ethernet_start_twice_and_hostname_before_activation(net):
    assert net.hostname() == "espressif"
    c = cfg({"hostname": "plant-7"})
    link_for(c).start()
    link_for(c).start()                      # boot.py, then the main loop: one shared LAN, still active
    lan = net.LAN()
    assert lan.active() and lan.hostname == "plant-7"
    assert asyncio.run(link_for(c).start().wait_ip(5)) == ADDR


def test_wifi_hostname(net):
    link_for(cfg(dict(WIFI, hostname="plant-8"))).start()
    assert net.WLAN(net.STA_IF).hostname == "plant-8"


def test_board_variant_sets_the_ethernet_clock_pin(net):
    from machine import Pin
    link_for(cfg()).start()                  # default: ESP32-POE (WROOM), unchanged
    kw = net.LAN().kwargs
    assert (kw["ref_clk"].id, kw["ref_clk_mode"]) == (17, Pin.OUT)
    assert (kw["mdc"].id, kw["mdio"].id, kw["power"].id, kw["phy_addr"], kw["phy_type"]) == (
        23, 18, 12, 0, net.PHY_LAN8720)
    net.reset(ip=ADDR, link_delay_s=LINK_DELAY_S)
    link_for(cfg(board="ESP32-POE-ISO-WROVER")).start()
    kw = net.LAN().kwargs
    assert (kw["ref_clk"].id, kw["ref_clk_mode"]) == (0, Pin.OUT)


def test_ethernet_that_does_not_start_names_the_board_key(net, monkeypatch):
    from ven import netup

    def fails(self, on=None):
        raise OSError("ethernet enable failed")

    monkeypatch.setattr(net.LAN, "active", fails)
    with pytest.raises(netup.NetworkError) as e:
        link_for(cfg(board="ESP32-POE-ISO-WROVER")).start()
    assert str(e.value) == ("ethernet did not start (ethernet enable failed); is key 'board' "
                            "(Ethernet clock on GPIO0) your board?"), str(e.value)


def test_ethernet_that_did_not_start_is_started_again_with_backoff(net, monkeypatch, log, caplog):
    # A PHY that fails to answer at power-on (or for a while) is no reason to give up:
    # watch() switches the interface on again on the back-off, and the address follows.
    from ven import netup
    real = net.LAN.active
    tries = []

    def flaky(self, on=None):
        if on and len(tries) < 3:
            tries.append(time.monotonic())
            raise OSError("ethernet enable failed")
        return real(self, on) if on is not None else real(self)

    monkeypatch.setattr(net.LAN, "active", flaky)
    link = link_for(cfg(), log, (100, 400))
    with pytest.raises(netup.NetworkError):
        link.start()
    assert link.poll() is None and link.nic is None

    async def go():
        task = asyncio.create_task(link.watch(PERIOD_MS))
        try:
            with pytest.raises(netup.NetworkError) as e:
                await link.wait_ip(0.05)
            assert "ethernet not started" in str(e.value)
            return await link.wait_ip(5)
        finally:
            await stop(task)

    assert asyncio.run(go()) == ADDR
    gaps = [b - a for a, b in zip(tries, tries[1:])]
    assert len(tries) == 3 and gaps[0] >= 0.09 and gaps[1] >= 0.19, gaps  # backing off
    # One line per attempt (the back-off in whole seconds: 0 at these test speeds), then up.
    retry = ("ethernet did not start (ethernet enable failed); is key 'board' (Ethernet clock on GPIO17) "
             "your board?; trying again in 0 s")
    assert lines(caplog) == [retry, retry, "network: ethernet started",
                             "network: address %s (was None)" % ADDR], lines(caplog)


def test_wait_ip_times_out_with_the_status(net):
    from ven import netup
    net.set_link(False)
    link = link_for(cfg()).start()
    with pytest.raises(netup.NetworkError) as e:
        asyncio.run(link.wait_ip(0.1))
    assert "ethernet status 4" in str(e.value) and "cable" in str(e.value)


# -- following the link ---------------------------------------------------------------


def test_wifi_drop_reconnects_with_growing_backoff(net, log, caplog):
    wlan = net.WLAN(net.STA_IF)

    async def go():
        link = link_for(cfg(WIFI), log, (100, 400)).start()
        task = asyncio.create_task(link.watch(PERIOD_MS))
        try:
            assert await link.wait_ip(5) == ADDR
            link.changed.clear()
            n0 = len(wlan.connects)
            net.set_link(False)                           # the access point goes away
            assert await next_change(link) is None
            await until(lambda: len(wlan.connects) >= n0 + 5, 10)
            net.set_link(True)
            assert await next_change(link) == ADDR
            return link, wlan.connects[n0:]
        finally:
            await stop(task)

    link, tries = asyncio.run(go())
    gaps = [b - a for a, b in zip(tries, tries[1:])]
    # 100 ms after the drop, then 200, 400, 400 (the cap), ... apart; never while associating.
    assert gaps[0] >= 0.19 and gaps[1] >= 0.39 and gaps[2] >= 0.39 and gaps[3] >= 0.39, gaps
    assert gaps[3] < 0.7, gaps                                # capped: not 800 ms
    assert wlan.refused == []
    # One line per change of state, however many attempts the outage took.
    assert lines(caplog) == ["network: address %s (was None)" % ADDR,
                             "network: address %s lost (wifi status 200); reconnecting" % ADDR,
                             "network: address %s (was None)" % ADDR], lines(caplog)


def test_ethernet_cable_out_and_in(net, log, caplog):
    async def go():
        link = link_for(cfg(), log).start()
        task = asyncio.create_task(link.watch(PERIOD_MS))
        try:
            assert await link.wait_ip(5) == ADDR
            link.changed.clear()
            net.set_link(False)
            assert await next_change(link) is None
            net.set_link(True)
            assert await next_change(link) == ADDR
        finally:
            await stop(task)

    asyncio.run(go())
    assert lines(caplog) == ["network: address %s (was None)" % ADDR,
                             "network: address %s lost (ethernet status 4)" % ADDR,
                             "network: address %s (was None)" % ADDR], lines(caplog)


def test_new_dhcp_address_sets_changed(net, log, caplog):
    async def go():
        link = link_for(cfg(WIFI), log).start()
        task = asyncio.create_task(link.watch(PERIOD_MS))
        try:
            assert await link.wait_ip(5) == ADDR
            link.changed.clear()
            net.set_address("10.0.0.77")
            assert await next_change(link) == "10.0.0.77"
        finally:
            await stop(task)

    asyncio.run(go())
    assert lines(caplog)[-1] == "network: address 10.0.0.77 (was %s)" % ADDR


# -- the same Link on real MicroPython ------------------------------------------------

MP_SCRIPT = r'''
import sys
sys.path[:0] = [ONBOARD, FIRMWARE]
import asyncio, os
from ven import netup

NET = {"interface": "ethernet", "wifi_ssid": "", "wifi_password": "", "hostname": "plant-9"}


def put(ip):
    if ip is None:
        os.remove(IP_FILE)
    else:
        with open(IP_FILE, "w") as f:
            f.write(ip)


async def main():
    import network
    link = netup.Link(NET, "ESP32-POE-ISO-WROVER").start()
    task = asyncio.create_task(link.watch(10))
    seen = [await link.wait_ip(5)]
    for ip in ("10.0.0.8", None, "10.0.0.9"):
        link.changed.clear()
        put(ip)
        await asyncio.wait_for(link.changed.wait(), 5)
        seen.append(link.ip)
    task.cancel()
    print("SEEN", seen, network.hostname())

asyncio.run(main())
'''


def test_link_on_micropython(tmp_path):
    micropython = executable(available("pypi"))
    ip_file = str(tmp_path / "ip")
    with open(ip_file, "w") as f:
        f.write(ADDR)
    settings = str(tmp_path / "board.json")
    with open(settings, "w") as f:
        json.dump({"ip_file": ip_file, "link_delay_ms": 20}, f)
    script = tmp_path / "link.py"
    script.write_text("ONBOARD = %r\nFIRMWARE = %r\nIP_FILE = %r\n" % (ONBOARD, FIRMWARE, ip_file) + MP_SCRIPT)
    r = subprocess.run([micropython, str(script)], env=dict(os.environ, MPBOARD=settings),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SEEN ['%s', '10.0.0.8', None, '10.0.0.9'] plant-9" % ADDR in r.stdout, r.stdout


def test_new_address_rebuilds_discovery(net, monkeypatch):
    from ven import clock, discovery, mainloop, netup
    made = []

    class FakeLocator:
        def __init__(self, ip, vtn_cfg, log):
            self.ip, self.closed = ip, False
            made.append(self)

        async def get(self):
            await asyncio.sleep(3600)

        def close(self):
            self.closed = True

    monkeypatch.setattr(discovery, "Locator", FakeLocator)
    c = cfg()

    async def go():
        st = mainloop.State()
        st.clock = clock.Clock(c["clock"], on_change=st.changed.set)
        link = netup.Link(c["network"], c["board"]).start()
        tasks = [asyncio.create_task(link.watch(PERIOD_MS)),
                 asyncio.create_task(mainloop.supervise(
                     "controller", lambda: mainloop.controller(c, link, st, ("PRICE",)), st))]
        try:
            await until(lambda: len(made) == 1)
            assert made[0].ip == ADDR
            net.set_address("10.0.0.77")                       # a new DHCP lease
            await until(lambda: len(made) == 2)
            assert made[0].closed and made[1].ip == "10.0.0.77" and st.ip == "10.0.0.77"
            net.set_link(False)                                # cable out
            await until(lambda: made[1].closed)
            assert st.ip is None and len(made) == 2
            net.set_link(True)                                 # and back in
            await until(lambda: len(made) == 3)
            assert made[2].ip == "10.0.0.77" and not made[2].closed
        finally:
            for t in tasks:
                await stop(t)
        assert made[2].closed

    asyncio.run(go())
