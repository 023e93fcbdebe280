"""Discovery never fails quietly, and every URL of a VTN is offered in order.

Each case runs the firmware's discovery (files_to_load/ven/discovery.py on
CPython, through the host-simulation stand-ins) in a child process, because
the stand-ins are process-wide: this file is also the child's script
(`python THIS_FILE CASE ARG_JSON`), which prints one `RESULT {json}` line.
The candidate cases run the child on a second simulated host
(tools.netns.PeerHost) against a python-zeroconf advertiser here, over real
multicast; the others hand the Locator datagrams through a real UDP socket
with MemoryError injected, or through a stand-in socket.
"""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

if __name__ != "__main__":  # not in the child: importing tests.conftest would enter another namespace
    import pytest

    from tests.conftest import needs_netns
    from tools.mdns_advertiser import Advertiser

    pytestmark = needs_netns
    pytest.importorskip("zeroconf")


def run_child(case, arg, peer=None, timeout=60):
    argv = [sys.executable, os.path.abspath(__file__), case, json.dumps(arg)]
    if peer is not None:
        argv = peer.argv(argv)
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    out = json.loads(line[len("RESULT "):])
    out["stderr"] = proc.stderr
    return out


# ---------------------------------------------------------------------------
# Every candidate URL, in order (real multicast, the VEN on the peer host).

def test_candidates_name_then_ip_walked_in_order_and_rewound_by_failed(peer):
    adv = Advertiser(peer.here)
    try:
        # local_url names the IP, the SRV target resolves: the name first, then the IP.
        adv.add("Two Way VTN", 8201, "ip_in_url", host="twoway")
        r = run_child("candidates", {"ip": peer.there, "instance": "Two Way VTN"}, peer)
    finally:
        adv.close()
    name_url = ["http://twoway.local:8201/openadr3/3.1.0", peer.here]
    ip_url = ["http://%s:8201/openadr3/3.1.0" % peer.here, None]
    assert r["candidates"] == [name_url, ip_url], r
    # next_candidate() walks them in order and says when none is left.
    assert r["walk"] == [name_url, ip_url] and r["again"] is False, r
    # failed() starts the VTN again at its first URL; chosen again (the only
    # one), it is the same object, still at its first URL.
    assert r["after_failed"] == name_url and r["same_object"] is True and r["rechosen"] == name_url, r
    assert "Traceback" not in r["log"]


def test_preferred_name_without_an_address_leaves_the_ip_candidate(peer):
    adv = Advertiser(peer.here)
    try:
        # The SRV target never answers an A question: only the IP URL is a candidate.
        adv.add("Nameless VTN", 8202, "ip_only", host="nameless")
        r = run_child("candidates", {"ip": peer.there, "instance": "Nameless VTN"}, peer)
    finally:
        adv.close()
    ip_url = ["http://%s:8202/openadr3/3.1.0" % peer.here, None]
    assert r["candidates"] == [ip_url] and r["walk"] == [ip_url] and r["again"] is False, r
    assert r["asked_a"] >= 1, r  # the name was asked for before it was given up


def case_candidates(arg):
    import asyncio
    from tools.hostsim import sim
    sim.install(arg["ip"])
    from ven import discovery
    cfg, log, records = _setup({"instance_names": [arg["instance"]], "discovery_timeout_s": 5})
    loc = discovery.Locator(arg["ip"], cfg["vtn"], log)
    asked = []
    real_ask = loc._ask

    def ask(questions, unicast, now):
        asked.extend([q[1] for q in questions])
        real_ask(questions, unicast, now)

    loc._ask = ask
    out = {}

    async def main():
        vtn = await loc.get()
        out["candidates"] = [list(c) for c in vtn.candidates]
        walk = [[vtn.base_url, vtn.connect_host]]
        while vtn.next_candidate():
            walk.append([vtn.base_url, vtn.connect_host])
        out["walk"] = walk
        out["again"] = vtn.next_candidate()
        loc.failed(vtn, "no answer")
        out["after_failed"] = [vtn.base_url, vtn.connect_host]
        again = await loc.get()
        out["same_object"] = again is vtn
        out["rechosen"] = [again.base_url, again.connect_host]
        loc.close()

    asyncio.run(main())
    out["asked_a"] = asked.count(1)
    out["log"] = "\n".join([r[1] for r in records])
    return out


# ---------------------------------------------------------------------------
# MemoryError while receiving: the datagram is dropped, the next one is read.

def test_receive_memory_error_drops_that_datagram_logs_once_and_goes_on():
    r = run_child("memory", {})
    assert r["recvfrom_sizes"] and set(r["recvfrom_sizes"]) == {r["recv_size"]}, r
    assert r["recv_size"] <= 1500, r  # one Ethernet frame, not mdns_client's 1700
    assert r["same_buffer"], r  # every datagram lands in the one buffer allocated with the socket
    # The packet behind the failed one was read in the same pass ...
    assert r["after_first"] == ["vtn b._openadr3._tcp.local"], r
    assert r["after_second"] == ["vtn b._openadr3._tcp.local", "vtn c._openadr3._tcp.local"], r
    # ... and the dropped one is taken in when it comes again.
    assert "vtn a._openadr3._tcp.local" in r["after_third"], r
    assert r["no_memory"] == 2, r
    warnings = [rec[1] for rec in r["records"] if "lack of memory" in rec[1]]
    assert warnings == ["mDNS: 1 packet(s) dropped so far for lack of memory (MemoryError receiving or parsing "
                        "one: the heap is short or fragmented)"], r
    assert "2 packet(s) dropped for lack of memory" in r["error"], r
    assert "3 service(s) not usable (VTN B: version 3.1.0 does not match vtn.version_prefix 9" in r["error"], r


class _Flaky:
    """The real socket, with MemoryError injected after a datagram was read (where
    the firmware copies its bytes out of the receive buffer)."""

    def __init__(self, sock):
        self.sock = sock
        self.fail = 0
        self.sizes = []

    def readinto(self, buf):
        self.sizes.append(len(buf))
        n = self.sock.readinto(buf)
        if self.fail:
            self.fail -= 1
            raise MemoryError("memory allocation failed, allocating %d bytes" % n)
        return n

    def __getattr__(self, name):
        return getattr(self.sock, name)


def case_memory(arg):
    import asyncio
    import select
    import socket
    import time
    from tools.hostsim import sim
    sim.install("127.0.0.1")
    from ven import discovery
    from ven.mdns_query import RECV_SIZE, MdnsSocket
    cfg, log, records = _setup({"version_prefix": "9"}, 0.3)
    m = MdnsSocket("127.0.0.1")
    port = m.sock.getsockname()[1]
    flaky = m.sock = _Flaky(m.sock)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sender.bind(("127.0.0.2", 5353))  # responses come from port 5353
    loc = discovery.Locator("127.0.0.1", cfg["vtn"], log, sock=m)
    buf = m.buf
    packets = {name: _response("VTN " + name.upper(), 8000 + i, name + ".local.", ["version=3.1.0"], "10.1.2.%d" % i)
               for i, name in enumerate("abc")}

    def deliver(names, fail):
        # The Locator's own questions loop back to its socket: read them first,
        # so the failure hits the datagram meant.
        while select.select([flaky.sock], [], [], 0)[0]:
            flaky.sock.recvfrom(9000)
        flaky.fail = fail
        for name in names:
            sender.sendto(packets[name], ("127.0.0.1", port))
        time.sleep(0.05)
        loc.step(time.ticks_ms())
        return sorted(loc.cache.services)

    out = {"after_first": deliver("ab", 1), "after_second": deliver("ac", 1), "after_third": deliver("a", 0)}

    async def main():
        try:
            await loc.get()
        except discovery.DiscoveryError as e:
            out["error"] = str(e)
        loc.close()

    asyncio.run(main())
    sender.close()
    out.update(no_memory=m.no_memory, recv_size=RECV_SIZE, recvfrom_sizes=flaky.sizes, same_buffer=m.buf is buf,
               records=records)
    return out


# ---------------------------------------------------------------------------
# An exception inside the discovery task: logged once with its cause, the task goes on.

def test_step_exception_logged_once_with_its_cause_and_the_task_goes_on():
    r = run_child("step_error", {})
    errors = [rec for rec in r["records"] if rec[0] == "ERROR"]
    assert len(errors) == 1, r
    assert errors[0][1].startswith("mDNS discovery pass failed: RuntimeError('no buffer for you'); going on"), r
    # The traceback, where it was raised, printed straight to the console (no big string built).
    assert r["stderr"].count("Traceback") == 1 and "in receive" in r["stderr"], r
    assert r["failing_calls"] >= 3, r  # it kept trying, with back-off
    assert "discovery failing: RuntimeError('no buffer for you')" in r["error_failing"], r
    # Once the cause is gone, the task runs on as before.
    assert r["calls_after"] > r["failing_calls"] + 3, r
    assert r["error_after"].endswith("within 0.3 s: no answer"), r


class _StandInSocket:
    shared = True
    bind_error = None
    no_memory = 0

    def __init__(self, packets=()):
        self.queue = list(packets)
        self.calls = 0
        self.broken = False

    def receive(self, limit):
        self.calls += 1
        if self.broken:
            raise RuntimeError("no buffer for you")
        out, self.queue = self.queue[:limit], self.queue[limit:]
        return out

    def ask(self, questions, unicast=False):
        return True

    def close(self):
        pass


def case_step_error(arg):
    import asyncio
    from tools.hostsim import sim
    sim.install("10.1.2.200")
    from ven import discovery
    discovery._ERROR_WAIT_MS = 20  # 1 s on the device; here the back-off is only shortened
    discovery._ERROR_WAIT_MAX_MS = 80
    cfg, log, records = _setup({}, 0.3)
    sock = _StandInSocket()
    sock.broken = True
    loc = discovery.Locator("10.1.2.200", cfg["vtn"], log, sock=sock)
    out = {}

    async def main():
        for key in ("error_failing", "error_after"):
            try:
                await loc.get()
            except discovery.DiscoveryError as e:
                out[key] = str(e)
            if sock.broken:
                out["failing_calls"] = sock.calls
                sock.broken = False
        out["calls_after"] = sock.calls
        loc.close()

    asyncio.run(main())
    out["records"] = records
    return out


# ---------------------------------------------------------------------------
# What a DiscoveryError says.

def test_discovery_error_names_what_was_heard():
    r = run_child("seen", {})
    assert r["silence"] == "no usable _openadr3._tcp.local service within 0.3 s: no answer", r
    assert r["others"] == "no usable _openadr3._tcp.local service within 0.3 s: " \
                          "no _openadr3._tcp.local service in 1 packet(s)", r
    assert r["bad"] == ("no usable _openadr3._tcp.local service within 0.3 s: 1 service(s) not usable "
                        "(Odd VTN: no valid host name in its SRV target or local_url); 1 malformed packet(s)"), r


def case_seen(arg):
    import asyncio
    from tools.hostsim import sim
    sim.install("10.1.2.200")
    from ven import discovery
    cfg, log, records = _setup({}, 0.3)
    other = _response("Printer", 631, "printer.local.", ["rp=ipp"], "10.1.2.9", "_ipp._tcp.local.")
    # The instance name as SRV target and no local_url: no URL can be made.
    odd = _response("Odd VTN", 8080, "Odd VTN._openadr3._tcp.local.", ["version=3.1.0"], None)
    garbage = b"\x00\x00\x84\x00\x00\x00\x00\x01\x00\x00\x00\x00\x09_openadr3\x04_tcp\x05local\x00\x00\x0c\x00"
    out = {}

    async def main():
        for key, packets in (("silence", []), ("others", [other]), ("bad", [odd, garbage])):
            loc = discovery.Locator("10.1.2.200", cfg["vtn"], log,
                                    sock=_StandInSocket([(p, ("10.1.2.9", 5353)) for p in packets]))
            try:
                await loc.get()
            except discovery.DiscoveryError as e:
                out[key] = str(e)
            loc.close()

    asyncio.run(main())
    return out


# ---------------------------------------------------------------------------
# The child's helpers.

def _setup(vtn, timeout_s=None):
    import logging
    from ven import config
    from tools.hostsim import sim
    with open(sim.DEFAULTS) as f:
        cfg = config.merge(json.load(f), {"vtn": vtn})
    if timeout_s is not None:
        cfg["vtn"]["discovery_timeout_s"] = timeout_s  # shorter than the config allows (whole seconds)
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            text = ""
            if record.exc_info:
                text = logging.Formatter().formatException(record.exc_info)
            records.append((record.levelname, record.getMessage(), text))

    log = logging.getLogger("robust")
    log.addHandler(Keep())
    log.setLevel(logging.DEBUG)
    log.propagate = False
    return cfg, log, records


def _response(instance, port, server, txt, address, service="_openadr3._tcp.local."):
    """One mDNS response with PTR, SRV, TXT (and A), built by python-zeroconf."""
    import socket
    from zeroconf import DNSOutgoing, ServiceInfo
    from zeroconf.const import _FLAGS_AA, _FLAGS_QR_RESPONSE
    from tools.mdns_advertiser import lp
    info = ServiceInfo(service, "%s.%s" % (instance, service), port=port, server=server, properties=lp(*txt),
                       addresses=[socket.inet_aton(address)] if address else [])
    o = DNSOutgoing(_FLAGS_QR_RESPONSE | _FLAGS_AA)
    for r in [info.dns_pointer(), info.dns_service(), info.dns_text()] + info.dns_addresses():
        o.add_answer_at_time(r, 0)
    return o.packets()[0]


def child(case, arg):
    sys.path.insert(0, REPO)
    result = globals()["case_" + case](arg)
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(child(sys.argv[1], json.loads(sys.argv[2])))
