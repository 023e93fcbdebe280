"""python -m tools.bench [--only NAME ...] [--out build/bench.json]

Runs the benchmarks listed in tools/bench/__init__.py and merges their figures
into build/bench.json (keys from benchmarks not run this time are kept).
"""
import argparse
import importlib
import json
import os
import sys
import time

from tools import netns
from tools.bench import BENCHMARKS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.bench")
    p.add_argument("--only", nargs="*", help="run only these benchmark modules")
    p.add_argument("--out", default=os.path.join(REPO, "build", "bench.json"))
    args = p.parse_args(argv)
    # Everything that touches the network runs in a private namespace.
    try:
        netns.enter()
    except netns.NamespaceUnavailable as e:
        print("bench: %s; network benchmarks will be skipped" % e, file=sys.stderr)
    figures = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            figures = json.load(f)
    names = args.only or BENCHMARKS
    for name in names:
        mod = importlib.import_module("tools.bench." + name)
        t0 = time.monotonic()
        print("bench: %s ..." % name, flush=True)
        result = mod.run(args)
        figures.update(result)
        for k in sorted(result):
            print("  %-32s %s" % (k, result[k]), flush=True)
        print("bench: %s done in %.1f s" % (name, time.monotonic() - t0), flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(figures, f, indent=2, sort_keys=True)
    print("bench: figures in %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
