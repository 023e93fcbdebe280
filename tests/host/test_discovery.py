"""The firmware's mDNS discovery against python-zeroconf advertisers, over real multicast.

The VEN side is tools.discover (files_to_load/ven/discovery.py on CPython via the
host-simulation stand-ins) running on a second simulated host: a nested network
namespace joined to this test session's namespace by a veth pair
(tools.netns.PeerHost). The advertisers (tools.mdns_advertiser) run here, on the
pair's near address. Being on separate hosts matters: UDP 5353 is the VEN's own,
so the "stock firmware holds 5353" case can be made by binding it exclusively on
the peer. Every wait is on a JSON line from the probe, with a deadline.
"""
import json
import os
import random
import select
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, needs_netns
from tools.mdns_advertiser import SERVICE_TYPE, Advertiser, UnicastOnlyResponder, txt_rdata

pytestmark = needs_netns

zeroconf = pytest.importorskip("zeroconf")


@pytest.fixture
def adv(peer):
    a = Advertiser(peer.here)
    try:
        yield a
    finally:
        a.close()


class Probe:
    """tools.discover on the peer host; its JSON lines read as they come."""

    def __init__(self, peer, tmp_path, seconds=10, hold=False, exit_on_first=False, **vtn):
        vtn.setdefault("discovery_timeout_s", 3)
        vtn.setdefault("default_scheme", "http")  # for URLs built from SRV + base_path
        argv = [sys.executable, "-m", "tools.discover", "--ip", peer.there, "--seconds", str(seconds),
                "--stdin-stop"]
        for k, v in vtn.items():
            argv += ["--set", "vtn.%s=%s" % (k, json.dumps(v))]
        if hold:
            argv.append("--hold-5353")
        if exit_on_first:
            argv.append("--exit-on-first")
        self.log_path = str(tmp_path / ("probe-%d.log" % time.monotonic_ns()))
        self.limit = seconds + 10
        with open(self.log_path, "wb") as log:
            self.proc = peer.popen(argv, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        self.lines = []
        self._buf = b""

    def _read(self, deadline):
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return False
        data = os.read(fd, 65536)
        if not data:
            return False
        self._buf += data
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            self.lines.append(json.loads(line))
        return True

    def wait(self, pred, timeout, what):
        """The first line (not yet returned) for which pred is true."""
        deadline = time.monotonic() + timeout
        seen = getattr(self, "_seen", 0)
        while True:
            while seen < len(self.lines):
                line = self.lines[seen]
                seen += 1
                if pred(line):
                    self._seen = seen
                    return line
            if time.monotonic() >= deadline or not self._read(deadline):
                pytest.fail("no %s within %.1f s; lines %r\nlog:\n%s" % (what, timeout, self.lines, self.log()[-3000:]))

    def vtn(self, timeout=5, **match):
        def ok(line):
            return line["event"] == "vtn" and all([line.get(k) == v for k, v in match.items()])
        return self.wait(ok, timeout, "vtn line matching %r" % (match,))

    def finish(self):
        """Stop (stdin closed) and return (all lines, log text)."""
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        deadline = time.monotonic() + self.limit
        while self._read(deadline):
            pass
        self.proc.wait(max(1.0, deadline - time.monotonic()))
        self.proc.stdout.close()
        return self.lines, self.log()

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class Sniffer:
    """Records the questions the peer (the VEN) sends, as seen on this host."""

    def __init__(self, here, there):
        self.there = there
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self.sock.bind(("", 5353))
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                             socket.inet_aton("224.0.0.251") + socket.inet_aton(here))
        self.queries = []  # (monotonic time, source port, [(name, type, qu), ...])

    def drain(self):
        while select.select([self.sock], [], [], 0)[0]:
            data, addr = self.sock.recvfrom(9000)
            if addr[0] != self.there:
                continue
            msg = zeroconf.DNSIncoming(data)
            if msg.valid and msg.is_query():
                self.queries.append((time.monotonic(), addr[1],
                                     [(q.name.lower(), q.type, q.unique) for q in msg.questions]))
        return self.queries

    def close(self):
        self.sock.close()


def run_probe(peer, tmp_path, **kw):
    """The first VTN (or give-up) the probe reports, its final counters and its log."""
    p = Probe(peer, tmp_path, exit_on_first=True, **kw)
    try:
        p.wait(lambda line: line["event"] in ("vtn", "error"), kw.get("seconds", 10), "vtn or error line")
        lines, log = p.finish()
    finally:
        p.kill()
    return [line for line in lines if line["event"] in ("vtn", "error")], [
        line for line in lines if line["event"] == "done"][-1], log


def test_spec_txt_found_at_once_first_query_asks_unicast(peer, adv, tmp_path):
    port = 8443
    adv.add("Spec VTN", port, "spec", host="myvtn")
    sniff = Sniffer(peer.here, peer.there)
    try:
        p = Probe(peer, tmp_path, seconds=5)
        first = p.vtn(name="Spec VTN")
        # The first browse is answered straight away (QU), well before the
        # second one, which goes out a second later.
        assert first["t"] < 0.9, first
        assert first["base_url"] == "https://myvtn.local:%d/openadr3/3.1.0" % port
        assert first["connect_host"] == peer.here  # the .local name, resolved by mDNS
        assert first["shared"] is True
        t = first["txt"]
        assert (t["version"], t["base_path"], t["program_names"], t["requires_auth"]) == (
            "3.1.0", "openadr3/3.1.0", ["local"], False)
        assert t["openapi_url"] == "https://myvtn.local:%d/openapi.yaml" % port
        deadline = time.monotonic() + 5
        browses = []
        while len(browses) < 2 and time.monotonic() < deadline:
            select.select([sniff.sock], [], [], 0.1)
            browses = [q for q in sniff.drain() if ("_openadr3._tcp.local.", 12) in [x[:2] for x in q[2]]]
        lines, log = p.finish()
    finally:
        sniff.close()
    assert len(browses) >= 2, sniff.queries
    (t0, sport0, qs0), (t1, sport1, qs1) = browses[0], browses[1]
    assert sport0 == 5353 and qs0 == [("_openadr3._tcp.local.", 12, True)]  # QU bit set
    assert ("_openadr3._tcp.local.", 12, False) in qs1  # then a plain (QM) question
    assert t1 - t0 >= 0.9  # RFC 6762 5.2: at least a second between the first two
    assert "Traceback" not in log


VARIANTS = [
    # variant, expected base URL (PORT, IP filled in), connect to the VTN's address?, TXT checks
    ("http_url", "http://h-http-url.local:PORT/openadr3/3.1.0", True, {"requires_auth": False}),
    ("missing_keys", "http://h-missing-keys.local:PORT", True, {"version": "3.1.0", "requires_auth": None}),
    ("no_txt", "http://h-no-txt.local:PORT", True, {"version": None, "program_names": []}),
    ("odd_case", "http://h-odd-case.local:PORT/openadr3/3.1.0", True,
     {"version": "3.1.0", "requires_auth": True, "program_names": ["local"], "base_path": "openadr3/3.1.0"}),
    ("bare_flags", "http://h-bare-flags.local:PORT/openadr3/3.1.0", True,
     {"requires_auth": True, "flags": ["experimental", "requires_auth"]}),
    ("version_3_1", "http://h-version-3-1.local:PORT/openadr3/3.1.0", True, {"version": "3.1"}),
    ("version_3_0_1", "http://h-version-3-0-1.local:PORT/openadr3/3.1.0", True, {"version": "3.0.1"}),
    # local_url names an IP, the SRV target resolves: the .local name wins.
    ("ip_in_url", "http://h-ip-in-url.local:PORT/openadr3/3.1.0", True, {}),
    # local_url names an IP and the target has no address record: the IP it is.
    ("ip_only", "http://IP:PORT/openadr3/3.1.0", False, {}),
]


def test_txt_variants(peer, adv, tmp_path):
    ports = {}
    for i, (variant, _, _, _) in enumerate(VARIANTS + [("version_2", None, None, None)]):
        ports[variant] = 9000 + i
        adv.add("V " + variant, ports[variant], variant, host="h-" + variant.replace("_", "-"))
    for variant, url, by_name, checks in VARIANTS:
        found, done, log = run_probe(peer, tmp_path, seconds=6, instance_names=["v " + variant])
        assert [f["event"] for f in found] == ["vtn"], (variant, found, log[-2000:])
        v = found[0]
        assert v["base_url"] == url.replace("PORT", str(ports[variant])).replace("IP", peer.here), (variant, v)
        assert v["connect_host"] == (peer.here if by_name else None), (variant, v)
        for k, want in checks.items():
            assert v["txt"][k] == want, (variant, k, v["txt"])
        assert done["services"] == 1  # the allow-list keeps the others out of the cache
        assert "Traceback" not in log
    # A VTN for OpenADR 2 is never used (vtn.version_prefix "3" by default), and the log says why.
    found, done, log = run_probe(peer, tmp_path, seconds=6, instance_names=["v version_2"],
                                 discovery_timeout_s=2)
    assert [f["event"] for f in found] == ["error"], found
    assert "VTN V version_2 ignored: version 2.0b does not match vtn.version_prefix 3" in log, log[-2000:]
    # ... and the error says so, rather than that nothing answered.
    assert found[0]["error"] == ("no usable _openadr3._tcp.local service within 2 s: 1 service(s) not usable "
                                 "(V version_2: version 2.0b does not match vtn.version_prefix 3)"), found


def _register_raw(adv, info):
    # Advertiser.add without its variants: a ServiceInfo exactly as given.
    import asyncio
    asyncio.run_coroutine_threadsafe(adv.zc.async_register_service(info, cooperating_responders=True),
                                     adv.zc.loop).result(10)
    adv.infos[info.name[:-len(".%s" % SERVICE_TYPE)]] = info


@pytest.mark.parametrize("with_address", [False, True], ids=["no-A-record", "A-record-for-the-instance-name"])
def test_instance_name_as_srv_target_uses_the_ip_local_url_at_once(peer, adv, tmp_path, with_address):
    # A real VTN's advertisement: SRV target "<instance>._openadr3._tcp.local." (spaces,
    # underscores: not a host name) and local_url naming its IP. The instance name
    # never goes into a URL (its Host header broke the VTN's token URL), even when
    # some responder answers an A question for it.
    instance, port = "OpenADR3 VTN %d" % with_address, 8120 + with_address
    name = "%s.%s" % (instance, SERVICE_TYPE)
    if with_address:
        _register_raw(adv, zeroconf.ServiceInfo(
            SERVICE_TYPE, name, port=port, server=name, addresses=[socket.inet_aton(peer.here)],
            properties=txt_rdata("srv_instance_target", "unused", port, peer.here)))
    else:
        info = adv.add(instance, port, "srv_instance_target")
        assert info.server == name
    sniff = Sniffer(peer.here, peer.there)
    try:
        found, done, log = run_probe(peer, tmp_path, seconds=6, instance_names=[instance])
        queries = sniff.drain()
    finally:
        sniff.close()
    assert [f["event"] for f in found] == ["vtn"], (found, log[-2000:])
    v = found[0]
    assert (v["base_url"], v["connect_host"]) == ("http://%s:%d/openadr3/3.1.0" % (peer.here, port), None), v
    # At once: no waiting for an address of a name that cannot be a host's.
    assert v["t"] < 0.9, v
    assert "_openadr3._tcp.local:" not in log and "Traceback" not in log, log[-2000:]
    asked = [q[:2] for _, _, qs in queries for q in qs]
    assert (name.lower(), 1) not in asked, asked  # and never asked for one


def test_port_5353_taken_falls_back_to_one_shot_queries(peer, adv, tmp_path):
    adv.add("Busy VTN", 8080, "http_url", host="busyvtn")
    sniff = Sniffer(peer.here, peer.there)
    try:
        found, done, log = run_probe(peer, tmp_path, seconds=6, hold=True)
        queries = sniff.drain()
    finally:
        sniff.close()
    assert [f["event"] for f in found] == ["vtn"], (found, log[-2000:])
    v = found[0]
    assert v["shared"] is False and done["shared"] is False
    assert v["base_url"] == "http://busyvtn.local:8080/openadr3/3.1.0" and v["connect_host"] == peer.here
    assert v["t"] < 0.9, v  # answered by unicast at once, no waiting for a re-query
    assert "port 5353 is taken" in log and "one-shot" in log
    # The questions left from an ephemeral port, the first with the QU bit.
    assert queries and queries[0][1] != 5353 and queries[0][2][0][2] is True, queries


@pytest.mark.parametrize("hold", [False, True], ids=["shared-5353", "one-shot"])
def test_responder_that_answers_only_by_unicast(peer, tmp_path, hold):
    responder = UnicastOnlyResponder(peer.here)
    try:
        responder.add("Quiet VTN", 8081, "http_url", host="quietvtn")
        found, done, log = run_probe(peer, tmp_path, seconds=6, hold=hold)
    finally:
        responder.close()
    assert [f["event"] for f in found] == ["vtn"], (found, log[-2000:])
    assert found[0]["base_url"] == "http://quietvtn.local:8081/openadr3/3.1.0"
    assert found[0]["connect_host"] == peer.here
    assert responder.answered >= 1


def test_two_vtns_choice_by_config_or_rule(peer, adv, tmp_path):
    adv.add("Beta VTN", 8082, "http_url", host="beta", programs=["beta-prices"])
    adv.add("Alpha VTN", 8083, "version_3_0_1", host="alpha", programs=["alpha-prices"])
    cases = [
        ({}, "Alpha VTN"),                                   # rule: by instance name
        ({"instance_names": ["BETA vtn", "Alpha VTN"]}, "Beta VTN"),
        ({"program_names": ["beta-prices"]}, "Beta VTN"),
        ({"version_prefix": "3.1"}, "Beta VTN"),
    ]
    for vtn_cfg, want in cases:
        found, done, log = run_probe(peer, tmp_path, seconds=6, **vtn_cfg)
        assert [f.get("name") for f in found] == [want], (vtn_cfg, found, log[-2000:])
        assert done["services"] == 2
    found, done, log = run_probe(peer, tmp_path, seconds=6, program_names=["gamma"], discovery_timeout_s=2)
    assert [f["event"] for f in found] == ["error"], found
    assert "2 service(s) not usable (" in found[0]["error"], found
    assert "Alpha VTN: offers none of vtn.program_names (it lists alpha-prices)" in found[0]["error"], found
    assert "Beta VTN: offers none of vtn.program_names (it lists beta-prices)" in found[0]["error"], found
    assert "VTN Alpha VTN ignored: offers none of vtn.program_names" in log
    assert "VTN Beta VTN ignored: offers none of vtn.program_names" in log


def test_configured_local_url_resolved_over_mdns_without_browsing(peer, adv, tmp_path):
    # The user typed the VTN's .local URL: its address comes from mDNS, not from
    # the firmware's blocking resolver, and nothing is browsed.
    adv.add("Typed VTN", 8085, "http_url", host="typedvtn")
    url = "http://typedvtn.local:8085/openadr3/3.1.0"
    sniff = Sniffer(peer.here, peer.there)
    try:
        found, done, log = run_probe(peer, tmp_path, seconds=6, url=url)
        queries = sniff.drain()
    finally:
        sniff.close()
    assert [f["event"] for f in found] == ["vtn"], (found, log[-2000:])
    assert (found[0]["source"], found[0]["base_url"], found[0]["connect_host"]) == ("config", url, peer.here)
    asked = [q[:2] for _, _, qs in queries for q in qs]
    assert ("typedvtn.local.", 1) in asked and ("_openadr3._tcp.local.", 12) not in asked, asked


def test_local_then_static_falls_back_and_returns_to_a_local_vtn(peer, adv, tmp_path):
    url = "http://192.0.2.10:8080/openadr3/3.1.0"
    p = Probe(peer, tmp_path, seconds=15, discovery_mode="local_then_static", url=url, discovery_timeout_s=1)
    try:
        first = p.vtn(source="config", base_url=url, timeout=4)
        assert first["t"] >= 0.9  # mDNS had its chance first
        adv.add("Late VTN", 8086, "http_url", host="latevtn")  # announced: heard at once
        p.vtn(source="mdns", name="Late VTN", timeout=4)
        lines, log = p.finish()
    finally:
        p.kill()
    assert "no usable local VTN (none answered within 1 s): using the configured URL " + url in log, log[-2000:]
    assert "VTN Late VTN found by mDNS: http://latevtn.local:8086/openadr3/3.1.0" in log
    assert "replaces configured" in log


def test_goodbye_readvertise_and_move_are_followed(peer, adv, tmp_path):
    adv.add("Moving VTN", 8090, "http_url", host="mover")
    p = Probe(peer, tmp_path, seconds=20, watch_interval_s=1)
    try:
        p.vtn(name="Moving VTN", base_url="http://mover.local:8090/openadr3/3.1.0")
        adv.remove("Moving VTN")  # goodbye: TTL 0, gone one second later (RFC 6762 10.1)
        p.vtn(name=None, timeout=4)
        adv.add("Moving VTN", 8091, "http_url", host="mover")
        p.vtn(name="Moving VTN", base_url="http://mover.local:8091/openadr3/3.1.0", timeout=4)
        # A move without a goodbye: new SRV and TXT announced with cache-flush.
        adv.update("Moving VTN", port=8092, variant="http_url", host="mover")
        p.vtn(name="Moving VTN", base_url="http://mover.local:8092/openadr3/3.1.0", timeout=4)
        lines, log = p.finish()
    finally:
        p.kill()
    assert "VTN Moving VTN lost (goodbye)" in log, log[-3000:]
    assert "VTN Moving VTN moved: http://mover.local:8092/openadr3/3.1.0" in log, log[-3000:]
    assert "Traceback" not in log


def test_one_shot_mode_notices_a_move_and_silence(peer, tmp_path):
    # The advertiser is a separate process, so it can die without a goodbye.
    adv = subprocess.Popen([sys.executable, "-m", "tools.mdns_advertiser", "--ip", peer.here, "--instance",
                            "Fragile VTN", "--port", "8100", "--host", "fragile"], cwd=REPO,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    p = None
    try:
        assert adv.stdout.readline().strip() == b"ready"
        p = Probe(peer, tmp_path, seconds=25, hold=True, watch_interval_s=1)
        p.vtn(name="Fragile VTN", base_url="http://fragile.local:8100/openadr3/3.1.0", shared=False)
        # One-shot mode hears no announcements: the move shows in the answer to
        # the next re-query (every watch_interval_s).
        adv.stdin.write(b"port 8101\n")
        adv.stdin.flush()
        assert adv.stdout.readline().strip() == b"ok port"
        p.vtn(name="Fragile VTN", base_url="http://fragile.local:8101/openadr3/3.1.0", timeout=4)
        t_kill = time.monotonic()
        adv.kill()  # silence: no goodbye
        p.vtn(name=None, timeout=8)
        silent_for = time.monotonic() - t_kill
        lines, log = p.finish()
    finally:
        if p is not None:
            p.kill()
        if adv.poll() is None:
            adv.kill()
        adv.wait(5)
    assert silent_for < 6.5, silent_for  # watch interval + 3 unanswered questions
    assert "VTN Fragile VTN lost (no answer to 3 queries)" in log, log[-3000:]
    assert "moved" in log


def _malformed(packet, rng):
    """Hostile variations of a valid response."""
    b = bytearray(packet)
    kind = rng.randrange(6)
    if kind == 0:  # flip bytes
        for _ in range(rng.randrange(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == 1:  # truncate
        del b[rng.randrange(12, len(b)):]
    elif kind == 2:  # compression pointer loops to itself / forward
        i = rng.randrange(12, len(b) - 1)
        b[i:i + 2] = bytes([0xC0 | (i >> 8), i & 0xFF]) if rng.random() < 0.5 else b"\xc0\xff"
    elif kind == 3:  # absurd record counts
        b[6:12] = bytes([rng.randrange(256) for _ in range(6)])
    elif kind == 4:  # random bytes with a response header
        b = bytearray(b"\x00\x00\x84\x00") + bytearray(rng.randrange(256) for _ in range(rng.randrange(8, 400)))
    else:  # splice two parts
        j = rng.randrange(12, len(b))
        b = b[:j] + b[rng.randrange(12, len(b)):]
    return bytes(b)


def test_garbage_on_the_wire_does_not_stop_discovery(peer, adv, tmp_path):
    info = adv.add("Sturdy VTN", 8110, "spec", host="sturdy")
    out = zeroconf.DNSOutgoing(zeroconf.const._FLAGS_QR_RESPONSE | zeroconf.const._FLAGS_AA)
    for r in [info.dns_pointer(), info.dns_service(), info.dns_text()] + info.dns_addresses():
        out.add_answer_at_time(r, 0)
    valid = out.packets()[0]
    # The allow-list keeps garbage-named services out; garbage about this one
    # (other ports, TXT, addresses, goodbyes) is fair game and gets corrected
    # by the next announcement.
    p = Probe(peer, tmp_path, seconds=20, watch_interval_s=1, instance_names=["Sturdy VTN"])
    blaster = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        p.vtn(name="Sturdy VTN")
        blaster.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blaster.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        blaster.bind((peer.here, 5353))  # from port 5353, or they would be dropped unread
        rng = random.Random(3)
        for i in range(600):
            blaster.sendto(_malformed(valid, rng), (peer.there, 5353))
            if i % 50 == 0:
                time.sleep(0.01)  # let the receive loop keep up rather than overflow the socket buffer
        adv.update("Sturdy VTN", port=8111, variant="spec", host="sturdy")
        p.vtn(name="Sturdy VTN", base_url="https://sturdy.local:8111/openadr3/3.1.0", timeout=4)
        lines, log = p.finish()
    finally:
        blaster.close()
        p.kill()
    done = [line for line in lines if line["event"] == "done"][-1]
    assert done["bad_packets"] > 100, done
    assert done["services"] <= 8 and done["hosts"] <= 8
    assert "Traceback" not in log and "discovery pass failed" not in log, log[-3000:]
