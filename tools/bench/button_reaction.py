"""How soon BUT1 is acted on, in each state of the VEN, on the 32-bit MicroPython
1.27.0 VM with the app frozen in (tools/mpboard), against the dev VTN (HTTPS,
OAuth2, mDNS) in this bench's private namespace.

For each state the board runs tools/bench/onboard_button.py as main.py: the
unchanged firmware with one hook that fires BUT1's interrupt handler (as the
pin's IRQ would) when the VEN enters the state, and prints the time until the
main loop acts on the press. States: discovery (an mDNS pass), dns (a blocking
name lookup: an NTP server given by name), tls (a connection and its TLS
handshake), body (reading and reducing a 672-interval GET /events body), save
(writing schedule.bin), backoff (waiting after a failed poll). Each state is
run RUNS times; button_reaction_ms_<state> is the worst. The press itself is
latched by the interrupt (never lost); what is measured is the loop's delay.
The VM is not an ESP32 (a faster CPU, and the unix port's DNS and TLS): the
figures say which steps hold the loop, not the board's milliseconds.
"""
import json
import os
import re
import shutil
import tempfile
import time

from tools.mpboard import vm
from tools.mpboard.run import Board
from tools.mpboard.scenario import CLIENT_ID, SECRET, day_scenario, device_config

STATES = ("discovery", "dns", "tls", "body", "save", "backoff")
RUNS = 3
_HERE = os.path.dirname(os.path.abspath(__file__))
_RX = re.compile(r"BUTTON-REACTION (\w+) (-?\d+)")
_host = [60]


def _scenario(state):
    doc = day_scenario(int(time.time()) + 3600, reports=False)
    if state == "body":
        ev = doc["events"][0]
        ev["intervals"] = [{"id": i, "payloads": [{"type": "PRICE", "values": [0.1 + (i % 9) / 100]}]}
                           for i in range(672)]
    if state == "backoff":
        doc["faults"] = [{"path": "/events", "status": 503}]
    return doc


def reaction_us(state, workdir):
    """One run: the microseconds from BUT1's interrupt to the loop acting on it."""
    from tools.devvtn.launch import DevVtn
    _host[0] = _host[0] + 2 if _host[0] < 250 else 62
    vtn_ip, board_ip = "127.0.4.%d" % _host[0], "127.0.4.%d" % (_host[0] + 1)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    path = os.path.join(workdir, "scenario.json")
    with open(path, "w") as f:
        json.dump(_scenario(state), f)
    vtn = DevVtn(path, vtn_ip, advertise=True, name="Button VTN", tls_dir=os.path.join(workdir, "tls"),
                 log_path=os.path.join(workdir, "vtn.log"))
    vtn.start()
    extra = {"max_body_bytes": 200000}
    cfg = device_config(vtn.ca_pem(), CLIENT_ID, SECRET, **extra)
    if state == "dns":
        # A name, never an address: looked up by a stand-in on the board (onboard_button.py).
        cfg["clock"] = {"ntp_servers": ["ntp.invalid"]}
    board = Board(os.path.join(workdir, "board"), "frozen", board_ip, cfg, "256k",
                  settings={"bench_state": state})
    try:
        board.deploy()
        shutil.copyfile(os.path.join(_HERE, "onboard_button.py"), os.path.join(board.flash, "main.py"))
        board.start()
        found = board.wait_for(_RX.pattern, 60)
        board.wait_exit(30)
    finally:
        board.kill()
        vtn.stop()
    us = int(found[0][1])
    if us < 0:
        raise RuntimeError("%s: the state was never entered:\n%s" % (state, board.log()[-2000:]))
    return us


def run(args):
    from tools import netns
    if not netns.inside():
        raise RuntimeError("button_reaction needs the private network namespace of tools.bench")
    try:
        vm.build("app")
    except vm.Unavailable as e:
        print("bench button_reaction: skipped: %s" % e)
        return {"button_reaction_skipped": str(e)}
    figures = {}
    work = tempfile.mkdtemp(prefix="ven-button-")
    try:
        for state in STATES:
            worst = 0
            for i in range(RUNS):
                worst = max(worst, reaction_us(state, os.path.join(work, "%s-%d" % (state, i))))
            figures["button_reaction_ms_" + state] = round(worst / 1000, 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures
