"""End to end: the dev VTN and the host-simulated firmware over real mDNS.

Both run inside this test session's private network namespace (tests/conftest.py)
on their own 127.0.0.x addresses, so the multicast is real but never leaves the
namespace. Every run is bounded in time; waits are on process exit, not sleeps.
"""
import json
import os
import time

import pytest

from tests.conftest import needs_netns
from tools.devvtn.launch import DevVtn
from tools.hostsim import launch
from ven.isotime import format_datetime
from ven.pricemap import duty_for

pytestmark = needs_netns

INTERVAL_S = 2
PRICES = [0.08, 0.12, 0.18, 0.25, 0.33, 0.41, 0.30, 0.22, 0.15, 0.10, 0.09, 0.08]
CHANNELS = [{"name": "heater", "pin": 4, "price_low": 0.1, "price_high": 0.4},
            {"name": "charger", "pin": 13, "price_low": 0.1, "price_high": 0.3,
             "duty_at_low": 0, "duty_at_high": 60000, "failsafe_duty": 1234}]


def scenario_dict(start, prices=PRICES, faults=None, intervals=True):
    ev = {"id": "ev1", "programID": "prog1", "eventName": "prices",
          "intervalPeriod": {"start": format_datetime(start), "duration": "PT%dS" % INTERVAL_S},
          "payloadDescriptors": [{"payloadType": "PRICE", "units": "KWH", "currency": "USD"}],
          "intervals": [{"id": i, "payloads": [{"type": "PRICE", "values": [p]}]} for i, p in enumerate(prices)]
          if intervals else []}
    sc = {"programs": [{"id": "prog1", "programName": "local"}], "events": [ev]}
    if faults:
        sc["faults"] = faults
    return sc


def write_scenario(path, sc):
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(sc, f)
    os.replace(tmp, str(path))


def device_config(**vtn):
    # These runs use a plain-http dev VTN: the user has to allow plain http for a
    # discovered VTN explicitly (HTTPS + auth end to end: tests/host/test_client_e2e.py).
    v = {"poll_interval_s": 1, "discovery_timeout_s": 5, "retry_max_s": 2, "default_scheme": "http"}
    v.update(vtn)
    return {"vtn": v, "outputs": CHANNELS}


def price_at(start, t):
    i = int((t - start) // INTERVAL_S)
    return PRICES[i] if 0 <= i < len(PRICES) else None


def assert_follows_prices(result, start, channels=CHANNELS):
    """Every change the firmware made sets the mapped duty of the interval's price."""
    priced = [e for e in result.events if e["price"] is not None]
    assert priced, "no priced output change; log:\n" + result.log[-3000:]
    by_name = dict([(c["name"], c) for c in channels])
    defaults = json.load(open(os.path.join(launch.REPO, "configs", "default.json")))["channel_defaults"]
    for e in priced:
        ch = dict(defaults)
        ch.update(by_name[e["channel"]])
        assert e["duty_u16"] == duty_for(e["price"], ch), e
        # Changes land at or after a boundary (within 1 s even on a loaded machine; intervals are 2 s).
        assert e["price"] in (price_at(start, e["t"]), price_at(start, e["t"] - 1.0)), (e, start)
    return priced


def test_discovers_vtn_by_mdns_and_drives_pwm_from_price(tmp_path):
    start = int(time.time()) + 2
    sc = tmp_path / "scenario.json"
    write_scenario(sc, scenario_dict(start))
    with DevVtn(sc, "127.0.0.2", advertise=True, name="E2E VTN", log_path=str(tmp_path / "vtn.log")):
        result = launch.run(device_config(), seconds=9, ip="127.0.0.3", workdir=str(tmp_path))
    assert result.code == 0, result.log[-3000:]
    # Found by mDNS: the device config has no VTN URL and the log says so.
    assert "VTN E2E VTN found by mDNS" in result.log, result.log[-3000:]
    priced = assert_follows_prices(result, start)
    # Several intervals were followed on both channels, on time.
    assert len(set([e["price"] for e in priced])) >= 3
    assert set([e["channel"] for e in priced]) == set(["heater", "charger"])
    # The first record per channel is the fail-safe duty at power-on; the last is
    # fail-safe again after the stop.
    assert result.channel("charger")[0]["duty_u16"] == 1234
    assert result.channel("charger")[-1]["duty_u16"] == 1234
    assert result.channel("heater")[-1]["price"] is None


def test_static_url_skips_discovery(tmp_path):
    start = int(time.time())
    sc = tmp_path / "scenario.json"
    write_scenario(sc, scenario_dict(start))
    with DevVtn(sc, "127.0.0.4", advertise=False, log_path=str(tmp_path / "vtn.log")) as vtn:
        result = launch.run(device_config(url=vtn.url), seconds=4, ip="127.0.0.5", workdir=str(tmp_path))
    assert result.code == 0, result.log[-3000:]
    assert "found by mDNS" not in result.log
    assert_follows_prices(result, start)


def test_button_stops_the_app_cleanly(tmp_path):
    start = int(time.time())
    sc = tmp_path / "scenario.json"
    write_scenario(sc, scenario_dict(start))
    with DevVtn(sc, "127.0.0.6", advertise=False, log_path=str(tmp_path / "vtn.log")) as vtn:
        t0 = time.monotonic()
        result = launch.run(device_config(url=vtn.url), seconds=60, ip="127.0.0.7",
                            workdir=str(tmp_path), button_at=3)
        elapsed = time.monotonic() - t0
    assert result.code == 0, result.log[-3000:]
    assert elapsed < 30, "the button did not stop the firmware"
    assert "BUT1 pressed" in result.log
    assert result.channel("charger")[-1]["duty_u16"] == 1234
    assert "Traceback" not in result.log


@pytest.mark.parametrize("fault", [{"path": "/events", "status": 500}, {"path": "/events", "invalid_json": True},
                                   {"path": "/programs", "close": True}])
def test_broken_server_keeps_last_good_schedule(tmp_path, fault):
    start = int(time.time())
    sc = tmp_path / "scenario.json"
    write_scenario(sc, scenario_dict(start))
    with DevVtn(sc, "127.0.0.8", advertise=False, log_path=str(tmp_path / "vtn.log")) as vtn:
        cfg = device_config(url=vtn.url)
        # Break the server after the firmware's first good poll: the file is
        # re-read by the VTN, the firmware keeps following what it had.
        import threading
        breaker = threading.Timer(2.5, write_scenario, (sc, scenario_dict(start, faults=[fault])))
        breaker.start()
        try:
            result = launch.run(cfg, seconds=9, ip="127.0.0.9", workdir=str(tmp_path))
        finally:
            breaker.cancel()
    assert result.code == 0, result.log[-3000:]
    assert "keeping the last schedule" in result.log, result.log[-3000:]
    priced = assert_follows_prices(result, start)
    # Prices kept changing on interval boundaries long after the server broke.
    assert max([e["t"] for e in priced]) > start + 6
    assert "Traceback" not in result.log


def test_event_without_intervals_leaves_failsafe_and_loop_running(tmp_path):
    start = int(time.time())
    sc = tmp_path / "scenario.json"
    write_scenario(sc, scenario_dict(start, intervals=False))
    with DevVtn(sc, "127.0.0.10", advertise=False, log_path=str(tmp_path / "vtn.log")) as vtn:
        import threading
        fixer = threading.Timer(3, write_scenario, (sc, scenario_dict(start)))
        fixer.start()
        try:
            result = launch.run(device_config(url=vtn.url), seconds=7, ip="127.0.0.11", workdir=str(tmp_path))
        finally:
            fixer.cancel()
    assert result.code == 0, result.log[-3000:]
    assert "no intervals" in result.log
    # While the event had no intervals the outputs stayed at fail-safe ...
    assert result.channel("charger")[0]["duty_u16"] == 1234
    # ... and once the VTN served a good event the loop picked it up.
    assert_follows_prices(result, start)
