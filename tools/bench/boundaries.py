"""How late the outputs change at interval boundaries, in the host simulation.

The unmodified firmware (tools.hostsim, a subprocess) follows a price event
of 1-second intervals served by the development VTN (tools.devvtn, static URL,
inside the benchmark's private network namespace). For 20 boundaries the
lateness is the time from the boundary to the output change the firmware
recorded (tools.hostsim's recorder: the PWM duty read back, host clock).

Figures: boundary_late_ms_median, boundary_late_ms_max (goal <= 50 ms),
boundary_late_ms_min (never negative: a change before its boundary is a bug),
boundaries_measured.
"""
import json
import os
import statistics
import tempfile
import time

from tools.devvtn.launch import DevVtn
from tools.hostsim import launch

BOUNDARIES = 20
LEAD_S = 3  # boot, first poll
VTN_ADDR = "127.0.0.60"
BOARD_ADDR = "127.0.0.61"


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def price(k):
    return round(0.1 + 0.01 * k, 2)  # every interval differs: every boundary changes the duty


def scenario(start, n):
    ev = {"id": "bench", "programID": "p1", "eventName": "1 s prices",
          "intervalPeriod": {"start": rfc3339(start), "duration": "PT1S"},
          "payloadDescriptors": [{"payloadType": "PRICE", "units": "KWH", "currency": "USD"}],
          "intervals": [{"id": k, "payloads": [{"type": "PRICE", "values": [price(k)]}]} for k in range(n)]}
    return {"programs": [{"id": "p1", "programName": "bench"}], "events": [ev]}


def lateness(events, start, boundaries):
    """ms from each boundary start+k (k = 1..boundaries) to the change it caused."""
    late = []
    for k in range(1, boundaries + 1):
        b = start + k
        hits = [e["t"] for e in events if e["price"] == price(k) and e["t"] >= b - 0.5]
        if hits:
            late.append((min(hits) - b) * 1000)
    return late


def run(args):
    workdir = tempfile.mkdtemp(prefix="ven-bench-boundaries-")
    start = int(time.time()) + LEAD_S
    n = BOUNDARIES + 2
    path = os.path.join(workdir, "scenario.json")
    with open(path, "w") as f:
        json.dump(scenario(start, n), f)
    config = {"vtn": {"poll_interval_s": 60}, "clock": {"ntp_servers": []},
              "outputs": [{"name": "load", "pin": 4, "price_low": 0.0, "price_high": 1.0}]}
    with DevVtn(path, VTN_ADDR, advertise=False, log_path=os.path.join(workdir, "vtn.log")) as vtn:
        config["vtn"]["url"] = vtn.url
        seconds = start + n + 1 - time.time()
        result = launch.run(config, seconds=seconds, ip=BOARD_ADDR, workdir=workdir)
    late = lateness(result.events, start, BOUNDARIES)
    if result.code != 0 or len(late) < BOUNDARIES:
        raise RuntimeError("boundaries: %d of %d boundaries seen (exit %d); log:\n%s"
                           % (len(late), BOUNDARIES, result.code, result.log[-3000:]))
    return {"boundary_late_ms_median": round(statistics.median(late), 1),
            "boundary_late_ms_max": round(max(late), 1),
            "boundary_late_ms_min": round(min(late), 1),
            "boundaries_measured": len(late)}
