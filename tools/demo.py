"""make demo: a day of prices, from a VTN found over mDNS to PWM duty, on this PC.

    .venv/bin/python -m tools.demo [--day-seconds 48] [--out build/demo]

Inside a private network namespace (tools.netns) it starts the development VTN
on 127.0.0.2, advertised as _openadr3._tcp with a 24-interval price curve, and
runs the unmodified firmware (host simulation) on 127.0.0.3. The firmware's
config has no VTN URL: it must find the VTN by mDNS. One line is printed per
output change, the run stops by itself after the day, and a plot of price and
duty goes to <out>/demo.png. --day-seconds compresses the day (86400 = real time).
The event asks for a SETPOINT report every 4 intervals (startInterval 3,
numIntervals 4, frequency 4): what the outputs really did, time-weighted over
each interval. The reports the VTN received are printed, drawn over the duty
curves, and checked against the duty the firmware applied (mean over each
interval from the output log): the demo fails if they differ by more than 2 %.

Where user namespaces are not allowed it says so and runs against a static
VTN URL on 127.0.0.1 instead (no multicast at all).
"""
import argparse
import json
import os
import subprocess
import sys
import time

from tools import netns

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHANNELS = [
    {"name": "water_heater", "pin": 4, "price_low": 0.10, "price_high": 0.40,
     "duty_at_low": 65535, "duty_at_high": 0, "failsafe_duty": 0},
    {"name": "ev_charger", "pin": 13, "price_low": 0.12, "price_high": 0.30,
     "duty_at_low": 65535, "duty_at_high": 6554, "failsafe_duty": 16384},
]
INTERVALS = 24
DEMO_CLIENT = ("demo-ven", "demo-secret")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__.split("\n\n")[1])
    p.add_argument("--day-seconds", type=float, default=48, help="length of the simulated day (default 48 s)")
    p.add_argument("--out", default=os.path.join(REPO, "build", "demo"), help="output folder")
    p.add_argument("--static", action="store_true", help="skip mDNS: static VTN URL on 127.0.0.1")
    return p.parse_args(argv)


def _percent(duty):
    return "%3d%%" % round(duty * 100 / 65535)


class ChangePrinter:
    """Follows the events file and prints one line per change (all channels)."""

    def __init__(self, path, names):
        self.path = path
        self.names = names
        self.pos = 0
        self.state = dict([(n, None) for n in names])
        self.pending = {}
        self.pending_t = None
        self.price = None
        self.lines = 0

    def _flush(self):
        if self.pending_t is None:
            return
        self.state.update(self.pending)
        stamp = time.strftime("%H:%M:%S", time.localtime(self.pending_t)) + ".%02d" % (int(self.pending_t * 100) % 100)
        price = "  fail-safe " if self.price is None else "%6.3f $/kWh" % self.price
        cols = []
        for n in self.names:
            d = self.state[n]
            cols.append("%s %5s %s" % (n, "-" if d is None else d, "" if d is None else _percent(d)))
        print("%s  price %s  |  %s" % (stamp, price, "  |  ".join(cols)), flush=True)
        self.lines += 1
        self.pending = {}
        self.pending_t = None

    def poll(self):
        if not os.path.exists(self.path):
            return
        with open(self.path) as f:
            f.seek(self.pos)
            while True:
                line = f.readline()
                if not line.endswith("\n"):
                    break
                self.pos = f.tell()
                e = json.loads(line)
                if self.pending_t is not None and e["t"] - self.pending_t > 0.05:
                    self._flush()
                self.pending_t = e["t"] if self.pending_t is None else self.pending_t
                self.pending[e["channel"]] = e["duty_u16"]
                self.price = e["price"]

    def close(self):
        self.poll()
        self._flush()


def reports_from(record_path):
    """[(resource, interval id, start, end, percent)] of every SETPOINT report the VTN took."""
    from ven.isotime import parse_datetime, parse_duration
    out = []
    if not os.path.exists(record_path):
        return out
    for line in open(record_path):
        r = json.loads(line)
        if r["method"] != "POST" or r["rel"] != "/reports" or r["status"] not in (200, 201):
            continue
        body = json.loads(r["body"])
        for res in body["resources"]:
            for iv in res["intervals"]:
                s = parse_datetime(iv["intervalPeriod"]["start"])
                out.append((res["resourceName"], iv["id"], s, s + parse_duration(iv["intervalPeriod"]["duration"]),
                            iv["payloads"][0]["values"][0]))
    return out


def applied_percent(events, name, start, end):
    """The duty (%) the firmware gave channel `name` from start to end, time-weighted (output log)."""
    pts = [(e["t"], e["duty_u16"]) for e in events if e["channel"] == name]
    total = 0.0
    for i, (t, duty) in enumerate(pts):
        nxt = pts[i + 1][0] if i + 1 < len(pts) else end
        a, b = max(t, start), min(nxt, end)
        if b > a:
            total += (b - a) * duty
    return total * 100 / 65535 / (end - start)


def plot(events, scenario, png_path, names, reports=()):
    """events: the output log's records (events.jsonl)."""
    if not events:
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = events[0]["t"]
    fig, (ax_p, ax_d) = plt.subplots(2, 1, sharex=True, figsize=(10, 6))
    ev = scenario["events"][0]
    from ven.isotime import parse_datetime, parse_duration
    start = parse_datetime(ev["intervalPeriod"]["start"])
    step = parse_duration(ev["intervalPeriod"]["duration"])
    xs, ys = [], []
    for i, iv in enumerate(ev["intervals"]):
        xs += [start + i * step - t0, start + (i + 1) * step - t0]
        ys += [iv["payloads"][0]["values"][0]] * 2
    ax_p.plot(xs, ys, color="tab:orange", label="VTN price (scenario)")
    seen = [(e["t"] - t0, e["price"]) for e in events if e["channel"] == names[0]]
    ax_p.scatter([s[0] for s in seen if s[1] is not None], [s[1] for s in seen if s[1] is not None],
                 s=12, color="black", zorder=3, label="price applied by the firmware")
    ax_p.set_ylabel("price ($/kWh)")
    ax_p.legend(loc="upper left", fontsize=8)
    end = max(e["t"] for e in events) - t0
    for n in names:
        pts = [(e["t"] - t0, e["duty_u16"] * 100 / 65535) for e in events if e["channel"] == n]
        xs = [p[0] for p in pts] + [end]
        ys = [p[1] for p in pts] + [pts[-1][1]]
        ax_d.step(xs, ys, where="post", label=n)
    for n, color in zip(names, ("tab:blue", "tab:orange")):
        mine = [r for r in reports if r[0] == n]
        for i, (_, _, a, b, pct) in enumerate(mine):
            ax_d.hlines(pct, a - t0, b - t0, colors=color, linestyles="dashed", linewidth=2.5,
                        label=("%s: SETPOINT report (VTN)" % n) if i == 0 else None)
    ax_d.set_ylabel("PWM duty (%)")
    ax_d.set_xlabel("seconds since power-on (host simulation)")
    ax_d.set_ylim(-5, 105)
    ax_d.legend(loc="upper left", fontsize=8)
    fig.suptitle("OpenADR 3 VEN (ESP32-POE firmware, host simulation): price -> PWM duty")
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    return True


def run(args):
    from tools.devvtn.launch import DevVtn

    os.makedirs(args.out, exist_ok=True)
    static = args.static
    vtn_ip, ven_ip = ("127.0.0.1", "127.0.0.1") if static else ("127.0.0.2", "127.0.0.3")
    interval = max(1, int(round(args.day_seconds / INTERVALS)))
    scenario_path = os.path.join(args.out, "scenario.json")
    # Start the day a few seconds out: discovery and the first poll come first.
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(time.time()) + 6))
    subprocess.run([sys.executable, "-m", "tools.devvtn.make_scenario", "--out", scenario_path,
                    "--start", start, "--interval-seconds", str(interval), "--intervals", str(INTERVALS),
                    "--program-name", "local"], cwd=REPO, check=True)
    scenario = json.load(open(scenario_path))
    # The real path: HTTPS with a CA the dev VTN generates, OAuth2 client credentials,
    # and a report of the output levels per interval (interval IDs as in the event).
    scenario["auth"] = {"required": True, "clients": {DEMO_CLIENT[0]: DEMO_CLIENT[1]}, "token_lifetime": 600}
    scenario["events"][0]["reportDescriptors"] = [{"payloadType": "SETPOINT", "startInterval": 3, "numIntervals": 4,
                                                   "frequency": 4, "repeat": -1}]
    with open(scenario_path, "w") as f:
        json.dump(scenario, f, indent=1)
    events_path = os.path.join(args.out, "events.jsonl")
    log_path = os.path.join(args.out, "firmware.log")
    names = [c["name"] for c in CHANNELS]
    seconds = 8 + interval * INTERVALS + 2
    print("demo: dev VTN on %s (%s, HTTPS + OAuth2), firmware on %s; a %d-interval day of %d s each; stops after %d s"
          % (vtn_ip, "static URL, no mDNS" if static else "advertised over mDNS", ven_ip, INTERVALS, interval, seconds))
    record_path = os.path.join(args.out, "record.jsonl")
    if os.path.exists(record_path):
        os.remove(record_path)
    with DevVtn(scenario_path, vtn_ip, advertise=not static, name="Demo VTN", record=record_path,
                log_path=os.path.join(args.out, "vtn.log"), tls_dir=os.path.join(args.out, "tls")) as vtn:
        # The device config carries the generated CA (on a board: vtn.ca_file on the flash).
        vtn_cfg = {"poll_interval_s": max(2, interval), "discovery_timeout_s": 10, "ca_pem": vtn.ca_pem(),
                   "client_id": DEMO_CLIENT[0], "client_secret": DEMO_CLIENT[1], "ven_name": "demo-ven"}
        if static:
            vtn_cfg["url"] = vtn.url
        device = {"vtn": vtn_cfg, "outputs": CHANNELS}
        cfg_path = os.path.join(args.out, "device.json")
        with open(cfg_path, "w") as f:
            json.dump(device, f, indent=2)
        if os.path.exists(events_path):
            os.remove(events_path)
        printer = ChangePrinter(events_path, names)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "tools.hostsim", "--config", cfg_path,
                                     "--seconds", str(seconds), "--events-out", events_path, "--ip", ven_ip,
                                     "--flash", os.path.join(args.out, "flash")],
                                    cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            deadline = time.monotonic() + seconds + 30
            try:
                while proc.poll() is None and time.monotonic() < deadline:
                    printer.poll()
                    time.sleep(0.1)
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
        printer.close()
    log_text = open(log_path).read()
    for line in log_text.splitlines():
        if "found by mDNS" in line or "network up" in line or "access token" in line or "report sent" in line:
            print("firmware: " + line)
    png = os.path.join(args.out, "demo.png")
    sys.path.insert(0, os.path.join(REPO, "files_to_load"))
    reports = reports_from(record_path)
    events = [json.loads(line) for line in open(events_path) if line.strip()] if os.path.exists(events_path) else []
    worst = 0.0
    for name, iid, a, b, pct in reports:
        mine = applied_percent(events, name, a, b)
        worst = max(worst, abs(mine - pct))
        print("report: %-12s interval %2s  %s + %3d s  SETPOINT %5.1f %%   (output log: %5.1f %%)"
              % (name, iid, time.strftime("%H:%M:%S", time.localtime(a)), b - a, pct, mine))
    plotted = plot(events, scenario, png, names, reports)
    print("demo: %d output changes printed; %d report interval(s), largest difference from the output log "
          "%.1f %%; firmware exit %d; log %s; plot %s" % (printer.lines, len(reports), worst, proc.returncode,
                                                        log_path, png if plotted else "(no data)"))
    return 0 if proc.returncode == 0 and plotted and reports and worst <= 2.0 else 1


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not args.static and not netns.inside():
        try:
            netns.enter()
        except netns.NamespaceUnavailable as e:
            print("demo: %s\ndemo: user namespaces are not allowed here, so no private network for mDNS; "
                  "running with a static VTN URL on 127.0.0.1 instead" % e)
            args.static = True
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
