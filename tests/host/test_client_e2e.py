"""End to end on the real path: the host-simulated firmware finds the dev VTN over mDNS,
verifies its certificate (CA from the device config), gets a token, registers its
VEN and resources, follows the prices and posts the reports the event asks for.
Every exchange is checked against the openadr3 models and the OpenAPI file."""
import json
import os
import time

from tests.conftest import needs_netns
from tests.host import openadr_check
from tests.host.client_support import CLIENT_ID, SECRET, write
from tests.host.test_e2e import CHANNELS, assert_follows_prices, device_config, scenario_dict
from tools.devvtn.launch import DevVtn
from tools.hostsim import launch

pytestmark = needs_netns

AUTH = {"required": True, "clients": {CLIENT_ID: SECRET}, "token_lifetime": 3600}


def conforming(doc):
    # test_e2e's scenario leaves out the objectType the schema requires in payloadDescriptors.
    for ev in doc["events"]:
        for d in ev.get("payloadDescriptors") or ():
            d.setdefault("objectType", "EVENT_PAYLOAD_DESCRIPTOR")
    return doc


def secure_config(**vtn):
    cfg = device_config(default_scheme="https", client_id=CLIENT_ID, client_secret=SECRET, ven_name="e2e-ven")
    cfg["vtn"].update(vtn)
    return cfg


def test_https_auth_mdns_registration_and_reports(tmp_path):
    start = int(time.time()) + 3
    doc = conforming(scenario_dict(start))
    doc["auth"] = AUTH
    # One SETPOINT per interval (startInterval 0, numIntervals 1, as often as there are
    # intervals), one PRICE acknowledgement of every two intervals after the second of them.
    doc["events"][0]["reportDescriptors"] = [
        {"payloadType": "SETPOINT", "startInterval": 0, "numIntervals": 1, "frequency": 1, "repeat": -1},
        {"payloadType": "PRICE", "startInterval": 1, "numIntervals": 2, "frequency": 2, "repeat": -1}]
    sc = tmp_path / "scenario.json"
    write(sc, doc)
    with DevVtn(sc, "127.0.0.66", advertise=True, name="Secure VTN", tls_dir=str(tmp_path / "tls"),
                record=str(tmp_path / "record.jsonl"), log_path=str(tmp_path / "vtn.log")) as vtn:
        cfg = secure_config(ca_pem=vtn.ca_pem())
        result = launch.run(cfg, seconds=11, ip="127.0.0.67", workdir=str(tmp_path))
        first_log = result.log
        # A reboot (same flash): the stored IDs are used, nothing is created twice.
        again = launch.run(cfg, seconds=4, ip="127.0.0.67", workdir=str(tmp_path))
        recs = vtn.records()
    assert result.code == 0 and again.code == 0, first_log[-3000:]
    assert "found by mDNS: https://secure-vtn.local:" in first_log, first_log[-3000:]
    assert "access token obtained" in first_log
    assert_follows_prices(result, start)
    assert "Traceback" not in first_log + again.log
    openadr_check.check_records(recs)
    posts = [r["rel"] for r in recs if r["method"] == "POST"]
    assert posts.count("/vens") == 1 and posts.count("/resources") == len(CHANNELS), posts
    assert all(r["authorization"] == "Bearer" for r in recs if r["rel"] not in ("/auth/server", "/auth/token"))
    reports = [json.loads(r["body"]) for r in recs if r["rel"] == "/reports" and r["status"] == 201]
    setpoints = [p for p in reports if p["payloadDescriptors"][0]["payloadType"] == "SETPOINT"]
    assert len(setpoints) >= 3, first_log[-3000:]
    interval_ids = set(i["id"] for i in doc["events"][0]["intervals"])
    reported = []
    for rep in reports:
        assert rep["eventID"] == "ev1" and rep["clientName"] == "e2e-ven"
        assert sorted(res["resourceName"] for res in rep["resources"]) == sorted(c["name"] for c in CHANNELS)
        for res in rep["resources"]:
            assert set(iv["id"] for iv in res["intervals"]) <= interval_ids
        if rep in setpoints:
            reported += [iv["id"] for iv in rep["resources"][0]["intervals"]]
    assert reported == sorted(set(reported))  # each interval reported once, in order
    # The first run reports from the first interval on, each in turn; after the reboot an
    # interval that ended while no VEN ran (or in the second it started) is not reported.
    first_run = first_log.count("report sent: e2e-ven ev1 SETPOINT")
    assert first_run >= 3 and reported[:first_run] == list(range(first_run)), (reported, first_run)
    prices = [p for p in reports if p["payloadDescriptors"][0]["payloadType"] == "PRICE"]
    assert prices and all(len(res["intervals"]) == 2 for p in prices for res in p["resources"])
    assert "report sent" in first_log


def test_ca_file_on_flash_static_https_url_and_a_wrong_ca(tmp_path):
    start = int(time.time())
    doc = scenario_dict(start)
    doc["auth"] = AUTH
    sc = tmp_path / "scenario.json"
    write(sc, doc)
    with DevVtn(sc, "127.0.0.68", tls_dir=str(tmp_path / "tls"), record=str(tmp_path / "record.jsonl"),
                log_path=str(tmp_path / "vtn.log")) as vtn:
        good = tmp_path / "good"
        os.makedirs(good / "flash" / "config")
        with open(good / "flash" / "config" / "vtn-ca.pem", "w") as f:
            f.write(vtn.ca_pem())
        result = launch.run(secure_config(url=vtn.url, ca_file="config/vtn-ca.pem"), seconds=4,
                            ip="127.0.0.69", workdir=str(good))
        assert result.code == 0, result.log[-3000:]
        assert_follows_prices(result, start)
        mark = len(vtn.records())
        import trustme
        bad = tmp_path / "bad"
        os.makedirs(bad)
        wrong = launch.run(secure_config(url=vtn.url, ca_pem=trustme.CA().cert_pem.bytes().decode()),
                           seconds=3, ip="127.0.0.69", workdir=str(bad))
        assert vtn.records()[mark:] == []  # refused at the handshake: no credentials, no request
    assert wrong.code == 0
    assert "certificate verify failed" in wrong.log.lower(), wrong.log[-3000:]
    assert [e for e in wrong.events if e["price"] is not None] == []  # stays at fail-safe
