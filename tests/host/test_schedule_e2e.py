"""End to end (host-simulated firmware in a subprocess, dev VTN, loopback SNTP
server, all inside the session's private network namespace): the clock gates
the outputs, the HTTP Date fallback, a reboot without network resumes the
saved schedule, and a cancelled or deleted event stops applying at once.
Every run is bounded in time; the few timers only change what a server says.
"""
import os
import threading
import time

import pytest

from tests.conftest import needs_netns
from tests.host.test_e2e import assert_follows_prices, price_at, scenario_dict, write_scenario
from tools.devvtn.launch import DevVtn
from tools.hostsim import launch
from tools.hostsim.sntp import SntpServer

pytestmark = needs_netns

CHANNELS = [{"name": "heater", "pin": 4, "price_low": 0.1, "price_high": 0.4},
            {"name": "charger", "pin": 13, "price_low": 0.1, "price_high": 0.3,
             "duty_at_low": 0, "duty_at_high": 60000, "failsafe_duty": 1234}]


def device_config(url, clock=None):
    cfg = {"vtn": {"url": url, "poll_interval_s": 1, "retry_max_s": 2}, "outputs": CHANNELS,
           "clock": {"ntp_servers": []}}
    if clock:
        cfg["clock"].update(clock)
    return cfg


def later(delay, fn, *args):
    t = threading.Timer(delay, fn, args)
    t.daemon = True
    t.start()
    return t


def priced(result):
    return [e for e in result.events if e["price"] is not None]


def test_outputs_stay_failsafe_until_ntp_sets_the_clock(tmp_path):
    start = int(time.time())
    sc = tmp_path / "scenario.json"
    write_scenario(sc, scenario_dict(start))
    with SntpServer("127.0.0.44", enabled=False) as ntp, \
            DevVtn(sc, "127.0.0.45", advertise=False, log_path=str(tmp_path / "vtn.log")) as vtn:
        cfg = device_config(vtn.url, {"ntp_servers": ["127.0.0.44:%d" % ntp.port], "ntp_timeout_ms": 300,
                                      "http_date_fallback": False})
        enabled_at = []
        timer = later(2.0, lambda: (enabled_at.append(time.time()), setattr(ntp, "enabled", True)))
        try:
            result = launch.run(cfg, seconds=7, ip="127.0.0.46", workdir=str(tmp_path), rtc_unset=True)
        finally:
            timer.cancel()
    assert result.code == 0, result.log[-3000:]
    assert "outputs at fail-safe: clock not valid" in result.log, result.log[-3000:]
    assert "2000-01-01" in result.log
    assert "not polling until the clock is valid" in result.log
    assert "clock set from NTP 127.0.0.44" in result.log, result.log[-3000:]
    changes = priced(result)
    assert changes, result.log[-3000:]
    # Nothing but fail-safe before the clock could be known, then the prices on time.
    assert min(e["t"] for e in changes) > enabled_at[0]
    assert min(e["t"] for e in changes) < enabled_at[0] + 2.5
    assert_follows_prices(result, start)


def test_vtn_date_header_sets_the_clock_without_ntp(tmp_path):
    start = int(time.time())
    sc = tmp_path / "scenario.json"
    write_scenario(sc, scenario_dict(start))
    with DevVtn(sc, "127.0.0.47", advertise=False, log_path=str(tmp_path / "vtn.log")) as vtn:
        result = launch.run(device_config(vtn.url), seconds=6, ip="127.0.0.48", workdir=str(tmp_path),
                            rtc_unset=True)
    assert result.code == 0, result.log[-3000:]
    assert "outputs at fail-safe: clock not valid" in result.log
    assert "clock set from HTTP Date of the VTN" in result.log, result.log[-3000:]
    # Set from whole-second Date headers (asked until one turns over): within a
    # few hundredths of a second, so a change may land a little early too.
    changes = priced(result)
    assert len(set(e["price"] for e in changes)) >= 2, result.log[-3000:]
    for e in changes:
        assert e["price"] in (price_at(start, e["t"] + 0.2), price_at(start, e["t"] - 1.0)), (e, start)


def test_reboot_without_network_resumes_the_saved_schedule(tmp_path):
    start = int(time.time())
    sc = tmp_path / "scenario.json"
    write_scenario(sc, scenario_dict(start))
    with DevVtn(sc, "127.0.0.49", advertise=False, log_path=str(tmp_path / "vtn.log")) as vtn:
        url = vtn.url
        first = launch.run(device_config(url), seconds=2.5, ip="127.0.0.50", workdir=str(tmp_path))
    assert first.code == 0, first.log[-3000:]
    assert "PRICE (USD/KWH)" in first.log, first.log[-3000:]  # units from payloadDescriptors
    assert os.path.exists(tmp_path / "flash" / "schedule.bin")
    # The VTN is gone; the board restarts with the same flash.
    second = launch.run(device_config(url), seconds=5, ip="127.0.0.50", workdir=str(tmp_path))
    assert second.code == 0, second.log[-3000:]
    assert "resuming the schedule saved at" in second.log, second.log[-3000:]
    assert "keeping the last schedule" in second.log
    changes = assert_follows_prices(second, start)
    assert len(set(e["price"] for e in changes)) >= 2  # it kept following boundaries offline


@pytest.mark.parametrize("how", ["cancelled", "deleted"])
def test_cancelled_or_deleted_event_stops_applying_at_once(tmp_path, how):
    start = int(time.time())
    sc = tmp_path / "scenario.json"
    scenario = scenario_dict(start, prices=[0.2] * 30)
    write_scenario(sc, scenario)
    stopped = scenario_dict(start, prices=[0.2] * 30)
    if how == "cancelled":
        # User Guide 7.9: start "now" and PT0S.
        stopped["events"][0]["intervalPeriod"] = {"start": "0001-01-01", "duration": "PT0S"}
    else:
        stopped["events"] = []
    with DevVtn(sc, "127.0.0.51", advertise=False, log_path=str(tmp_path / "vtn.log")) as vtn:
        changed_at = []
        timer = later(2.5, lambda: (write_scenario(sc, stopped), changed_at.append(time.time())))
        try:
            result = launch.run(device_config(vtn.url), seconds=6, ip="127.0.0.52", workdir=str(tmp_path))
        finally:
            timer.cancel()
    assert result.code == 0, result.log[-3000:]
    heater = result.channel("heater")
    on = [e for e in heater if e["price"] == 0.2]
    assert on and on[0]["t"] < changed_at[0], result.log[-3000:]
    off = [e for e in heater if e["price"] is None and e["t"] > changed_at[0]]
    assert off, result.log[-3000:]
    # One poll interval (1 s) plus the poll itself, while the event had a minute to run.
    assert off[0]["t"] - changed_at[0] < 2.0, (off[0], changed_at)
