"""The development VTN scenario and device config the real-MicroPython runs use
(tests/mpboard, tools/bench/mp_heap.py): a program "tariff" with one event of
96 x 15 min prices, OAuth2 required, and the board's config for it.

    doc = day_scenario(boundary, reports=True)   # interval 40 starts at `boundary` (Unix s)
    cfg = device_config(ca_pem, CLIENT_ID, SECRET)
"""
import sys
import os

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "files_to_load"))
from ven.isotime import format_datetime  # noqa: E402

CLIENT_ID, SECRET = "mp-ven", "s3cret"
INTERVAL_S = 900
BEFORE = 40  # the interval that starts at the boundary
CHANNEL = {"name": "heater", "pin": 4, "price_low": 0.1, "price_high": 0.4}


def price(i):
    return round(0.1 + 0.03 * (i % 10), 2)


def day_event(boundary, reports=True):
    """96 x 15 min price intervals; interval BEFORE starts at `boundary` (Unix s)."""
    start = boundary - BEFORE * INTERVAL_S
    ev = {"id": "ev96", "programID": "p1", "eventName": "day", "createdDateTime": format_datetime(start),
          "modificationDateTime": format_datetime(start),
          "intervalPeriod": {"start": format_datetime(start), "duration": "PT15M"},
          "payloadDescriptors": [{"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "PRICE",
                                  "units": "KWH", "currency": "EUR"}],
          "intervals": [{"id": i, "payloads": [{"type": "PRICE", "values": [price(i)]}]} for i in range(96)]}
    if reports:
        # One SETPOINT and one PRICE report per interval, each at the end of its interval.
        ev["reportDescriptors"] = [{"payloadType": t, "startInterval": 0, "numIntervals": 1, "frequency": 1,
                                    "repeat": -1} for t in ("SETPOINT", "PRICE")]
    return ev


def day_scenario(boundary, reports=True, faults=None):
    doc = {"programs": [{"id": "p1", "programName": "tariff"}], "events": [day_event(boundary, reports)],
           "auth": {"required": True, "clients": {CLIENT_ID: SECRET}, "token_lifetime": 3600}}
    if faults:
        doc["faults"] = faults
    return doc


def device_config(ca_pem, client_id=CLIENT_ID, secret=SECRET, **vtn):
    v = {"client_id": client_id, "client_secret": secret, "ca_pem": ca_pem, "ven_name": "mp-ven",
         "poll_interval_s": 1, "retry_max_s": 2, "discovery_timeout_s": 5, "http_timeout_s": 5}
    v.update(vtn)
    return {"vtn": v, "outputs": [CHANNEL], "clock": {"ntp_servers": []}}
