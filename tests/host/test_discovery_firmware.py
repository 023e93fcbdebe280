"""The whole host-simulated firmware finding, skipping and following VTNs.

The firmware runs on a second simulated host (a nested network namespace behind a
veth pair, tools.netns.PeerHost); dev VTNs and python-zeroconf advertisers run
here. Checks what only the full loop shows: a VTN that does not answer HTTP is
skipped for the next candidate, and a VTN that leaves and comes back elsewhere
is followed without a reboot, both while prices keep driving the outputs.
"""
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import needs_netns
from tests.host.test_e2e import assert_follows_prices, device_config, scenario_dict, write_scenario
from tools.devvtn.launch import DevVtn
from tools.hostsim import launch
from tools.mdns_advertiser import Advertiser

pytestmark = needs_netns

pytest.importorskip("zeroconf")

HOLD_5353 = ("import socket, sys, time\n"
             "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
             "s.bind(('0.0.0.0', 5353))  # exclusive, like the stock firmware's own responder\n"
             "print('held', flush=True)\n"
             "sys.stdin.read()\n")


def closed_port(ip):
    s = socket.socket()
    s.bind((ip, 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there: connections are refused at once
    return port


def test_unreachable_vtn_skipped_with_port_5353_taken(peer, tmp_path):
    start = int(time.time()) + 2
    sc = tmp_path / "scenario.json"
    write_scenario(sc, scenario_dict(start))
    holder = peer.popen([sys.executable, "-c", HOLD_5353], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"held"
        with DevVtn(sc, peer.here, advertise=False, log_path=str(tmp_path / "vtn.log")) as vtn:
            adv = Advertiser(peer.here)
            try:
                # Alpha comes first by the default rule (instance name) but refuses connections.
                dead = closed_port(peer.here)
                adv.add("Alpha VTN", dead, "http_url", host="alpha")
                adv.add("Beta VTN", vtn.port, "http_url", host="beta")
                result = launch.run(device_config(), seconds=8, ip=peer.there, workdir=str(tmp_path),
                                    wrap=peer.argv([]))
            finally:
                adv.close()
    finally:
        holder.stdin.close()
        holder.wait(5)
    log = result.log
    assert result.code == 0, log[-3000:]
    assert "port 5353 is taken" in log, log[-3000:]
    assert "VTN Alpha VTN found by mDNS: http://alpha.local:%d/openadr3/3.1.0" % dead in log, log[-3000:]
    assert ("VTN Beta VTN found by mDNS: http://beta.local:%d/openadr3/3.1.0 (connect to %s); replaces Alpha VTN "
            "(unreachable" % (vtn.port, peer.here)) in log, log[-3000:]
    assert_follows_prices(result, start)
    assert "Traceback" not in log


def test_vtn_leaving_and_coming_back_on_a_new_port_is_followed(peer, tmp_path):
    start = int(time.time()) + 2
    sc = tmp_path / "scenario.json"
    write_scenario(sc, scenario_dict(start))
    log1, log2 = str(tmp_path / "vtn1.log"), str(tmp_path / "vtn2.log")
    with DevVtn(sc, peer.here, advertise=False, log_path=log1) as vtn1, \
            DevVtn(sc, peer.here, advertise=False, log_path=log2) as vtn2:
        adv = Advertiser(peer.here)
        moved = threading.Event()

        def move():
            # The VTN says goodbye and comes back on another port (a restart).
            adv.remove("Site VTN")
            adv.add("Site VTN", vtn2.port, "http_url", host="site")
            moved.set()

        timer = threading.Timer(3.5, move)
        try:
            adv.add("Site VTN", vtn1.port, "http_url", host="site")
            timer.start()
            result = launch.run(device_config(watch_interval_s=1), seconds=9, ip=peer.there,
                                workdir=str(tmp_path), wrap=peer.argv([]))
        finally:
            timer.cancel()
            adv.close()
    log = result.log
    assert result.code == 0, log[-3000:]
    assert moved.is_set()
    assert "VTN Site VTN found by mDNS: http://site.local:%d/openadr3/3.1.0" % vtn1.port in log, log[-3000:]
    # Depending on timing the goodbye shows as the VTN lost then found again,
    # or (new SRV within the goodbye's last second) as a move.
    assert "http://site.local:%d/openadr3/3.1.0 (connect to %s)" % (vtn2.port, peer.here) in log, log[-3000:]
    assert "reboot" not in log.lower() and "Traceback" not in log
    with open(log2) as f:
        assert "/openadr3/3.1.0/programs" in f.read()  # polled the VTN at its new place
    assert_follows_prices(result, start)
