"""Run the host-simulated firmware as a subprocess and collect what it did.

    result = run(config_dict, seconds=8, ip="127.0.0.3", workdir=tmp)
    result.code, result.events (list of dicts), result.log (its stderr)

The child inherits this process's network namespace (see tools.netns).
"""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Result:
    def __init__(self, code, events, log, elapsed_limit):
        self.code = code
        self.events = events
        self.log = log
        self.elapsed_limit = elapsed_limit

    def channel(self, name):
        return [e for e in self.events if e["channel"] == name]


def run(config, seconds, ip, workdir, button_at=None, python=sys.executable, grace_s=20, rtc_unset=False,
        wrap=()):
    """Run for `seconds` (or until the button stops it); bounded by seconds + grace_s.

    rtc_unset: the board clock starts at 2000-01-01 (see tools.hostsim.clock).
    wrap: argv prefix, e.g. tools.netns.PeerHost.argv([]) to run on a peer host.
    """
    cfg_path = os.path.join(workdir, "device.json")
    with open(cfg_path, "w") as f:
        json.dump(config, f)
    events_path = os.path.join(workdir, "events.jsonl")
    log_path = os.path.join(workdir, "hostsim.log")
    argv = [python, "-m", "tools.hostsim", "--config", cfg_path, "--seconds", str(seconds),
            "--events-out", events_path, "--ip", ip, "--flash", os.path.join(workdir, "flash")]
    if button_at is not None:
        argv += ["--button-at", str(button_at)]
    if rtc_unset:
        argv.append("--rtc-unset")
    argv = list(wrap) + argv
    with open(log_path, "wb") as log:
        proc = subprocess.run(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=seconds + grace_s)
    events = []
    if os.path.exists(events_path):
        with open(events_path) as f:
            events = [json.loads(line) for line in f if line.strip()]
    with open(log_path) as f:
        text = f.read()
    return Result(proc.returncode, events, text, seconds + grace_s)
