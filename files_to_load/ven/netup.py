# Network bring-up on the ESP32-POE: Ethernet (LAN8720) or Wi-Fi, from config.
#
# start() only switches the interface on and returns at once, so boot.py can
# call it without delaying the REPL; wait_ip() is the coroutine that waits,
# with a deadline, for an address.
#
#   nic = netup.start(cfg["network"])
#   ip = await netup.wait_ip(nic, cfg["network"]["connect_timeout_s"])

import asyncio
import time

import network
from machine import Pin


class NetworkError(Exception):
    pass


def _ethernet():
    # ESP32-POE (WROOM): MDC 23, MDIO 18, PHY power 12, RMII clock out on 17, PHY address 0.
    lan = network.LAN(mdc=Pin(23), mdio=Pin(18), power=Pin(12),  # type: ignore[call-arg]  # ESP32 port keywords missing from the stubs
                      phy_type=network.PHY_LAN8720, phy_addr=0,
                      ref_clk=Pin(17), ref_clk_mode=Pin.OUT)
    lan.active(True)
    return lan


def _wifi(net_cfg):
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if net_cfg["hostname"]:
        try:
            network.hostname(net_cfg["hostname"])
        except (AttributeError, ValueError, OSError):
            pass  # older firmware: keep the default name
    if not wlan.isconnected():
        wlan.connect(net_cfg["wifi_ssid"], net_cfg["wifi_password"])
    return wlan


def start(net_cfg):
    """Activate the configured interface without waiting for a link or address."""
    if net_cfg["interface"] == "ethernet":
        return _ethernet()
    return _wifi(net_cfg)


def address(nic):
    """The interface's IPv4 address, or None while it has none."""
    if not nic.isconnected():
        return None
    ip = nic.ifconfig()[0]
    return None if ip in ("", "0.0.0.0") else ip


async def wait_ip(nic, timeout_s):
    deadline = time.ticks_add(time.ticks_ms(), int(timeout_s * 1000))
    while True:
        ip = address(nic)
        if ip:
            return ip
        if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
            raise NetworkError("no IP address after %s s (check cable / Wi-Fi credentials)" % timeout_s)
        await asyncio.sleep(0.1)
