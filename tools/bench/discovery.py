"""Discovery latency: the firmware's mDNS discovery vs python-zeroconf's ServiceBrowser.

Time from the start of a browse to a usable base URL (URL plus an address to
connect to), 20 times each, against the same python-zeroconf advertiser in the
same run. The browsers run on a second simulated host (tools.netns.PeerHost, a
veth pair away from the advertiser) in one worker process that alternates
them: the firmware code (files_to_load/ven/discovery.py through the host
stand-ins, a fresh Locator and socket each time) and python-zeroconf (a fresh
Zeroconf instance each time, so nothing is answered from its cache; its
start-up is not timed, only ServiceBrowser until a complete ServiceInfo).
A second worker repeats the firmware runs with UDP 5353 taken (one-shot mode).

Figures: discovery_median_s, discovery_max_s, zeroconf_median_s, zeroconf_max_s,
discovery_oneshot_median_s, discovery_oneshot_max_s.

    python -m tools.bench --only discovery
    python -m tools.bench.discovery --worker N --ip ADDR [--hold-5353]   (what run() starts)
"""
import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import threading
import time

REPETITIONS = 20
SERVICE_TYPE = "_openadr3._tcp.local."
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _firmware_once(ip, vtn_cfg):
    from ven import discovery

    async def once():
        t0 = time.monotonic()
        loc = discovery.Locator(ip, vtn_cfg)
        try:
            vtn = await loc.get()
            elapsed = time.monotonic() - t0
        finally:
            loc.close()
        assert vtn.base_url and vtn.connect_host, vtn
        return elapsed

    return asyncio.run(once())


def _zeroconf_once(ip):
    from zeroconf import IPVersion, ServiceBrowser, ServiceListener, Zeroconf

    zc = Zeroconf(interfaces=[ip], ip_version=IPVersion.V4Only)
    found = threading.Event()
    names = []

    class Listener(ServiceListener):
        def add_service(self, zc, type_, name):
            names.append(name)
            found.set()

        def update_service(self, zc, type_, name):
            pass

        def remove_service(self, zc, type_, name):
            pass

    try:
        t0 = time.monotonic()
        browser = ServiceBrowser(zc, SERVICE_TYPE, Listener())
        try:
            if not found.wait(10):
                raise RuntimeError("python-zeroconf found nothing in 10 s")
            info = zc.get_service_info(SERVICE_TYPE, names[0], timeout=3000)
            props = dict((k.decode(), (v or b"").decode()) for k, v in info.properties.items())
            url = props.get("local_url") or "http://%s:%d/%s" % (info.server.rstrip("."), info.port,
                                                                   props.get("base_path", ""))
            address = info.parsed_addresses()[0]
            elapsed = time.monotonic() - t0
        finally:
            browser.cancel()
    finally:
        zc.close()
    assert url and address
    return elapsed


def worker(n, ip, hold, zeroconf_too):
    holder = None
    if hold:
        holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        holder.bind(("0.0.0.0", 5353))
    from tools.hostsim import sim
    sim.install(ip)
    from ven import config
    with open(sim.DEFAULTS) as f:
        vtn_cfg = config.merge(json.load(f), {})["vtn"]
    out = {"discovery": [], "zeroconf": []}
    for _ in range(n):
        out["discovery"].append(_firmware_once(ip, vtn_cfg))
        time.sleep(0.2)
        if zeroconf_too:
            out["zeroconf"].append(_zeroconf_once(ip))
            time.sleep(0.2)
    if holder is not None:
        holder.close()
    return out


def _figures(prefix, values):
    return {prefix + "_median_s": round(statistics.median(values), 4), prefix + "_max_s": round(max(values), 4)}


def run(args=None):
    from tools import netns
    from tools.mdns_advertiser import Advertiser
    if not netns.inside():
        print("bench discovery: no private network namespace; skipped", file=sys.stderr)
        return {}
    figures = {}
    with netns.PeerHost() as peer:
        adv = Advertiser(peer.here)
        try:
            adv.add("Bench VTN", 8080, "http_url", host="benchvtn")
            for hold, zc_too in ((False, True), (True, False)):
                argv = [sys.executable, "-m", "tools.bench.discovery", "--worker", str(REPETITIONS),
                        "--ip", peer.there] + (["--hold-5353"] if hold else []) + ([] if zc_too else ["--no-zeroconf"])
                proc = peer.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)
                if proc.returncode != 0:
                    raise RuntimeError("discovery bench worker failed:\n" + proc.stderr[-3000:])
                times = json.loads(proc.stdout.strip().splitlines()[-1])
                if hold:
                    figures.update(_figures("discovery_oneshot", times["discovery"]))
                else:
                    figures.update(_figures("discovery", times["discovery"]))
                    figures.update(_figures("zeroconf", times["zeroconf"]))
        finally:
            adv.close()
    return figures


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.bench.discovery")
    p.add_argument("--worker", type=int, required=True, help="repetitions")
    p.add_argument("--ip", required=True)
    p.add_argument("--hold-5353", action="store_true")
    p.add_argument("--no-zeroconf", action="store_true")
    args = p.parse_args(argv)
    print(json.dumps(worker(args.worker, args.ip, args.hold_5353, not args.no_zeroconf)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
