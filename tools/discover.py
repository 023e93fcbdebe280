"""python -m tools.discover --ip ADDR [--config PATH] [--set vtn.KEY=JSON ...] [--seconds N]
                          [--hold-5353] [--exit-on-first] [--stdin-stop]

Runs the firmware's own discovery (files_to_load/ven/discovery.py) on CPython
through the host-simulation stand-ins, without the rest of the VEN, and prints
one JSON line per event on stdout (log lines go to stderr):

    {"t": 0.012, "event": "vtn", "name": "My VTN", "base_url": "...", "connect_host": "...",
     "source": "mdns", "txt": {...}, "shared": true}       every change of the chosen VTN
    {"t": 7.1, "event": "vtn", "name": null}               the VTN left and nothing replaced it
    {"t": 5.0, "event": "error", "error": "..."}           get() gave up (DiscoveryError)
    {"t": 9.0, "event": "done", "bad_packets": 0, "services": 2, "shared": true, ...}

"shared" is true when discovery bound UDP 5353, false when it fell back to
one-shot queries from an ephemeral port.

--hold-5353 first binds UDP 5353 exclusively (no SO_REUSEADDR), as the stock
ESP32 firmware's own mDNS responder does, so discovery must fall back to
one-shot queries. Run it inside a private network namespace (tools.netns).
Exit status 0, or 2 for a rejected configuration.
"""
import argparse
import asyncio
import json
import logging
import socket
import sys
import threading
import time

from tools.hostsim import sim


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m tools.discover")
    p.add_argument("--ip", required=True, help="this (simulated) board's IPv4 address")
    p.add_argument("--config", help="device config JSON merged over configs/default.json")
    p.add_argument("--set", action="append", default=[], metavar="vtn.KEY=JSON",
                   help="override one vtn key, e.g. --set vtn.watch_interval_s=1")
    p.add_argument("--seconds", type=float, default=10, help="stop after this long (default 10)")
    p.add_argument("--hold-5353", action="store_true", help="hold UDP 5353 like the stock firmware")
    p.add_argument("--exit-on-first", action="store_true", help="stop at the first VTN found")
    p.add_argument("--stdin-stop", action="store_true", help="also stop when stdin closes")
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


def load_config(args):
    from ven import config
    with open(sim.DEFAULTS) as f:
        defaults = json.load(f)
    device = {}
    if args.config:
        with open(args.config) as f:
            device = json.load(f)
    for item in args.set:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        device.setdefault(section, {})[name] = json.loads(value)
    return config.merge(defaults, device, args.config or "--set")


def vtn_line(vtn):
    if vtn is None:
        return {"event": "vtn", "name": None}
    info = dict(vtn.txt)
    info["flags"] = sorted(info["flags"])
    return {"event": "vtn", "name": vtn.name, "base_url": vtn.base_url, "connect_host": vtn.connect_host,
            "source": vtn.source, "txt": info}


async def follow(loc, exit_on_first, emit, done):
    """Emit every change of the chosen VTN, like the main loop sees them."""
    from ven import discovery
    shown = None
    while True:
        try:
            vtn = await loc.get()
        except discovery.DiscoveryError as e:
            emit({"event": "error", "error": str(e)})
            continue
        if vtn is not shown:
            line = vtn_line(vtn)
            line["shared"] = loc._sock.shared if loc._sock else None
            emit(line)
            shown = vtn
            if exit_on_first:
                done.set()
                return
        await loc.wait_change(3600)
        if loc.current is None and shown is not None:
            emit(vtn_line(None))
            shown = None


async def watch(ip, vtn_cfg, seconds, exit_on_first, stdin_stop, emit, log):
    from ven import discovery
    loc = discovery.Locator(ip, vtn_cfg, log)
    done = asyncio.Event()
    if stdin_stop:
        loop = asyncio.get_running_loop()

        def read_stdin():
            for _ in sys.stdin:
                pass
            try:
                loop.call_soon_threadsafe(done.set)
            except RuntimeError:
                pass  # the run already ended (and closed its loop)

        threading.Thread(target=read_stdin, daemon=True).start()
    task = asyncio.create_task(follow(loc, exit_on_first, emit, done))
    try:
        await asyncio.wait_for(done.wait(), seconds)
    except asyncio.TimeoutError:
        pass
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        cache = loc.cache
        emit({"event": "done", "bad_packets": cache.bad_packets, "bad_records": cache.bad_records,
              "dropped": cache.dropped, "services": len(cache.services), "hosts": len(cache.hosts),
              "shared": loc._sock.shared if loc._sock else None})
        loc.close()


def main(argv=None):
    args = parse_args(argv)
    holder = None
    if args.hold_5353:
        # Exclusive, like the firmware's own responder: a later bind fails with EADDRINUSE.
        holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        holder.bind(("0.0.0.0", 5353))
    sim.install(args.ip)
    logging.basicConfig(level=getattr(logging, args.log_level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from ven import config
    try:
        cfg = load_config(args)
    except config.ConfigError as e:
        print("CONFIG ERROR:", e, file=sys.stderr)
        return 2
    t0 = time.monotonic()

    def emit(line):
        line = dict(line)
        line["t"] = round(time.monotonic() - t0, 4)
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()

    try:
        asyncio.run(watch(args.ip, cfg["vtn"], args.seconds, args.exit_on_first, args.stdin_stop, emit,
                          logging.getLogger("ven")))
    finally:
        if holder is not None:
            holder.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
