"""End to end with hostile or sparse TXT records, advertised by python-zeroconf.

The HTTP side is a dev VTN without its own advertisement; a separate
python-zeroconf responder in this (namespaced) test process publishes the
service with the TXT bytes under test. The firmware must still find the VTN
and follow its prices, or at least keep running at fail-safe.
"""
import socket
import time

import pytest

from tests.conftest import needs_netns
from tests.host.test_e2e import assert_follows_prices, device_config, scenario_dict, write_scenario
from tools.devvtn.launch import DevVtn
from tools.hostsim import launch

pytestmark = needs_netns

zeroconf = pytest.importorskip("zeroconf")


def advertise(txt_bytes, vtn_ip, port, responder_ip, name):
    zc = zeroconf.Zeroconf(interfaces=[responder_ip])
    info = zeroconf.ServiceInfo("_openadr3._tcp.local.", name + "._openadr3._tcp.local.",
                                addresses=[socket.inet_aton(vtn_ip)], port=port,
                                properties=txt_bytes, server="oddvtn.local.")
    zc.register_service(info)
    return zc, info


def run_with_txt(tmp_path, txt_bytes, addr_base):
    start = int(time.time()) + 1
    sc = tmp_path / "scenario.json"
    write_scenario(sc, scenario_dict(start))
    vtn_ip, responder_ip, ven_ip = ("127.0.0.%d" % (addr_base + i) for i in range(3))
    with DevVtn(sc, vtn_ip, advertise=False, log_path=str(tmp_path / "vtn.log")) as vtn:
        zc, info = advertise(txt_bytes, vtn_ip, vtn.port, responder_ip, "Odd VTN %d" % addr_base)
        try:
            result = launch.run(device_config(), seconds=7, ip=ven_ip, workdir=str(tmp_path))
        finally:
            zc.unregister_service(info)
            zc.close()
    return start, result


def lp(*items):
    # Raw TXT rdata: each string prefixed by its length.
    return b"".join([bytes([len(s)]) + s for s in items])


def test_malformed_txt_still_discovers_via_srv(tmp_path):
    txt = lp(b"VERSION=3.1", b"Base_Path=/openadr3/3.1.0/", b"\xff\xfe\xfd", b"requires_auth",
             b"local_url=not a url", b"program_names=,local,,") + b"\x20truncated"
    start, result = run_with_txt(tmp_path, txt, 20)
    assert result.code == 0, result.log[-3000:]
    assert "found by mDNS: http://oddvtn.local:" in result.log, result.log[-3000:]
    assert "/openadr3/3.1.0" in result.log
    assert_follows_prices(result, start)
    assert "Traceback" not in result.log


def test_missing_txt_keys_use_defaults(tmp_path):
    # No base_path, no local_url: the VTN serves under /openadr3/3.1.0, so the
    # default URL (root) gets 404s; the loop must keep running at fail-safe.
    start, result = run_with_txt(tmp_path, lp(b"junk"), 30)
    assert result.code == 0, result.log[-3000:]
    assert "found by mDNS: http://oddvtn.local:" in result.log, result.log[-3000:]
    assert "HTTP 404" in result.log
    assert [e for e in result.events if e["price"] is not None] == []
    assert result.channel("charger")[-1]["duty_u16"] == 1234
    assert "Traceback" not in result.log
