"""Write a development VTN scenario: one program, one event of day prices.

    python -m tools.devvtn.make_scenario --out PATH [--start ISO|now]
        [--interval-seconds 3600] [--intervals 24] [--program-name day-prices] [--curve day]

The event's intervalPeriod starts at --start (RFC 3339, UTC, "Z"; "now" is the
current second, the default) and lasts PT<S>S per interval. Each interval has
one PRICE payload in USD/KWH. The "day" curve is a typical retail day:
cheap at night, a morning peak, a midday solar dip, the highest price in the
evening. With --intervals other than 24 the curve is resampled over one day,
so a compressed demo day (e.g. 2 s intervals) keeps the same shape.

The file is replaced atomically, so a running dev VTN can pick it up mid-run.
"""

import argparse
import datetime
import json
import os
import sys

# USD/kWh for hours 0..23 (UTC hour-of-day of the scenario, not local time).
DAY_CURVE = (
    0.09, 0.08, 0.08, 0.08, 0.08, 0.10,   # 00-05 night
    0.16, 0.28, 0.32, 0.24, 0.18, 0.14,   # 06-11 morning peak, then falling
    0.12, 0.12, 0.14, 0.18, 0.26, 0.36,   # 12-17 midday dip, evening ramp
    0.42, 0.40, 0.31, 0.20, 0.14, 0.11,   # 18-23 evening peak, late fall
)
CURVES = {"day": DAY_CURVE}

PRICE_DESCRIPTOR = {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "PRICE",
                    "units": "KWH", "currency": "USD"}


def resample(curve, n):
    """n values spread evenly over the cycle `curve` describes (linear interpolation)."""
    out = []
    size = len(curve)
    for k in range(n):
        pos = k * size / n
        i = int(pos)
        frac = pos - i
        value = curve[i] * (1 - frac) + curve[(i + 1) % size] * frac
        out.append(round(value, 4))
    return out


def parse_start(text, now=None):
    """'now' or an ISO 8601/RFC 3339 time -> 'YYYY-MM-DDTHH:MM:SSZ' (UTC)."""
    if text == "now":
        dt = now or datetime.datetime.now(datetime.timezone.utc)
    else:
        dt = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def make(start, interval_seconds=3600, intervals=24, program_name="day-prices", curve="day"):
    """The scenario as a dict: program "1" and its price event "1"."""
    prices = resample(CURVES[curve], intervals)
    program = {
        "id": "1",
        "programName": program_name,
        "payloadDescriptors": [dict(PRICE_DESCRIPTOR)],
    }
    event = {
        "id": "1",
        "programID": "1",
        "eventName": "%s %s" % (program_name, start[:10]),
        "priority": 0,
        "payloadDescriptors": [dict(PRICE_DESCRIPTOR)],
        "intervalPeriod": {"start": start, "duration": "PT%dS" % interval_seconds},
        "intervals": [{"id": k, "payloads": [{"type": "PRICE", "values": [p]}]}
                      for k, p in enumerate(prices)],
    }
    return {"programs": [program], "events": [event]}


def write(path, scenario):
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(scenario, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.devvtn.make_scenario",
                                description="Write a day-price scenario for the dev VTN.")
    p.add_argument("--out", required=True)
    p.add_argument("--start", default="now", help="RFC 3339 time or 'now' (default)")
    p.add_argument("--interval-seconds", type=int, default=3600)
    p.add_argument("--intervals", type=int, default=24)
    p.add_argument("--program-name", default="day-prices")
    p.add_argument("--curve", choices=sorted(CURVES), default="day")
    args = p.parse_args(argv)
    if args.interval_seconds < 1 or args.intervals < 1:
        p.error("--interval-seconds and --intervals must be >= 1")
    if "," in args.program_name:
        p.error("--program-name must not contain a comma (TXT program_names is a comma list)")
    try:
        start = parse_start(args.start)
    except ValueError as e:
        p.error("--start: %s" % e)
    write(args.out, make(start, args.interval_seconds, args.intervals, args.program_name, args.curve))
    return 0


if __name__ == "__main__":
    sys.exit(main())
