"""Fuzzing the discovery's packet path with hypothesis: malformed DNS packets.

What is driven is Locator.step(), the body of the firmware's mDNS task: it
reads datagrams (here from a stand-in socket), feeds them to the cache
(micropython-mdns's parser underneath), expires records, asks follow-up
questions (packed by micropython-mdns, as on the device) and chooses a VTN.
Every example must leave it running (no exception out of step()), the cache
within its bounds, and the memory the firmware code holds must not grow with
the number of packets (tracemalloc, filtered to files_to_load/ and mdns_client).

The hypothesis run happens in a child process (this file as a script) because
the MicroPython stand-ins it installs are process-wide.
"""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = 400  # per phase; two phases


def test_malformed_packets_never_stop_the_loop_and_memory_stays_bounded():
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), str(EXAMPLES)], cwd=REPO,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["steps"] >= 2 * EXAMPLES
    assert result["bad_packets"] > 0 and result["accepted"] > 0, result  # both paths were exercised
    # Memory held by firmware code after twice the packets: no growth beyond noise.
    assert result["held_after_2"] <= result["held_after_1"] + 8192, result
    assert result["held_after_2"] < 64 * 1024, result
    assert result["real_vtn_found_after"], result


# ---------------------------------------------------------------------------
# The child process.

def _seeds():
    """Valid responses about _openadr3._tcp, built by python-zeroconf."""
    import socket
    from zeroconf import DNSOutgoing, ServiceInfo
    from zeroconf.const import _FLAGS_AA, _FLAGS_QR_RESPONSE
    out = []
    for i, props in enumerate([b"\x0bversion=3.1\x0frequires_auth\x00", b"",
                               b"\x2blocal_url=http://10.1.2.3:8080/openadr3/3.1.0"]):
        info = ServiceInfo("_openadr3._tcp.local.", "VTN %d._openadr3._tcp.local." % i, port=8000 + i,
                           properties=props, server="vtn%d.local." % i,
                           addresses=[socket.inet_aton("10.1.2.%d" % (i + 3))])
        for ttl in (None, 0):
            o = DNSOutgoing(_FLAGS_QR_RESPONSE | _FLAGS_AA)
            for r in [info.dns_pointer(ttl), info.dns_service(ttl), info.dns_text(ttl)] + info.dns_addresses(
                    override_ttl=ttl):
                o.add_answer_at_time(r, 0)
            out.append(o.packets()[0])
    return out


def _strategies(seeds):
    from hypothesis import strategies as st

    def mutate(args):
        seed, edits, cut, splice = args
        b = bytearray(seed)
        for pos, val in edits:
            b[pos % len(b)] = val
        if splice is not None:
            i, j = splice[0] % len(b), splice[1] % len(b)
            b = b[:i] + b[j:]
        return bytes(b[:cut])

    mutated = st.tuples(st.sampled_from(seeds),
                        st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=10),
                        st.integers(0, 2000),
                        st.none() | st.tuples(st.integers(0, 2000), st.integers(0, 2000))).map(mutate)

    def pointer_loop(args):
        seed, at = args
        b = bytearray(seed)
        i = 12 + at % (len(b) - 13)
        b[i:i + 2] = bytes([0xC0 | (i >> 8), i & 0xFF])  # a name that points at itself
        return bytes(b)

    looped = st.tuples(st.sampled_from(seeds), st.integers(0, 2000)).map(pointer_loop)
    header = st.binary(min_size=2, max_size=2).map(lambda t: t + b"\x84\x00")
    # Random bytes that still name the service type, so they get past the
    # cache's cheap relevance check into the parser.
    raw = st.tuples(header, st.binary(max_size=300), st.binary(max_size=300)).map(
        lambda hb: hb[0] + hb[1] + b"\x09_openadr3" + hb[2])

    def record(args):
        name, rtype, ttl, rdata = args
        return name + bytes([rtype >> 8, rtype & 0xFF, 0x80, 0x01]) + ttl.to_bytes(4, "big") + \
            len(rdata).to_bytes(2, "big") + rdata

    names = st.sampled_from([b"\x09_openadr3\x04_tcp\x05local\x00", b"\x03vtn\x05local\x00", b"\xc0\x0c",
                             b"\x01x\xc0\x0c", b"\x3f" + b"a" * 63 + b"\x00", b"\x05V\xffTN\x09_openadr3\x04_tcp\x05local\x00"])
    records = st.lists(st.tuples(names, st.sampled_from([1, 12, 16, 33, 28, 255, 47]),
                                 st.integers(0, 2 ** 32 - 1), st.binary(max_size=80)).map(record),
                       min_size=1, max_size=6)
    structured = st.tuples(st.integers(0, 6), records).map(
        lambda nr: b"\x00\x00\x84\x00\x00\x00" + bytes([0, nr[0], 0, 0, 0, 0]) + b"".join(nr[1]))
    return st.one_of(mutated, looped, raw, structured, st.sampled_from(seeds))


class _FakeSocket:
    """Stands in for ven.mdns_query.MdnsSocket: datagrams in, questions packed and kept."""

    def __init__(self):
        from ven.mdns_query import query_packet
        self.pack = query_packet
        self.shared = True
        self.bind_error = None
        self.no_memory = 0
        self.queue = []
        self.sent = 0

    def receive(self, limit):
        out, self.queue = self.queue[:limit], self.queue[limit:]
        return out

    def ask(self, questions, unicast=False):
        self.pack(questions, unicast)  # the same packing as on the device; must not raise
        self.sent += 1
        return True

    def close(self):
        pass


def child(examples):
    import gc
    import logging
    import time
    import tracemalloc

    sys.path.insert(0, REPO)
    from tools.hostsim import sim
    sim.install("10.1.2.200")
    from hypothesis import HealthCheck, given, seed, settings
    from hypothesis import strategies as st
    from ven import config, discovery, mdns_cache

    with open(sim.DEFAULTS) as f:
        cfg = config.merge(json.load(f), {"vtn": {"watch_interval_s": 1}})
    seeds = _seeds()
    packets = _strategies(seeds)

    class Check(logging.Handler):
        def emit(self, record):
            record.getMessage()  # formatting must work whatever the names hold

    log = logging.getLogger("fuzz")
    log.addHandler(Check())
    log.setLevel(logging.DEBUG)
    log.propagate = False
    sock = _FakeSocket()
    loc = discovery.Locator("10.1.2.200", cfg["vtn"], log, sock=sock)
    clock = [time.ticks_ms()]
    stats = {"steps": 0}

    def one(batch, advance_ms):
        clock[0] = time.ticks_add(clock[0], advance_ms)
        for data in batch:
            sock.queue.append((data, ("10.1.2.9", 5353)))
        while sock.queue:
            loc.step(clock[0])  # raises = the firmware's task would log and stall: a failure
            stats["steps"] += 1
        c = loc.cache
        assert len(c.services) <= mdns_cache.MAX_SERVICES
        assert len(c.hosts) <= mdns_cache.MAX_HOSTS
        assert all([len(v) <= mdns_cache.MAX_IPS for v in c.hosts.values()])
        assert len(c.gone) <= mdns_cache.MAX_SERVICES and len(loc._refused) <= mdns_cache.MAX_SERVICES
        assert len(loc._failed) <= mdns_cache.MAX_SERVICES + 1
        if loc.current is not None and loc.current.source == "mdns":
            loc.failed(loc.current, "fuzz")  # exercise the unreachable path too

    def phase(n):
        @seed(n)
        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.lists(packets, min_size=1, max_size=6), st.integers(0, 40000))
        def run(batch, advance_ms):
            one(batch, advance_ms)
        run()

    def held():
        gc.collect()
        snap = tracemalloc.take_snapshot().filter_traces([
            tracemalloc.Filter(True, "*files_to_load/ven/*"),
            tracemalloc.Filter(True, "*mdns_client/*")])
        return sum([s.size for s in snap.statistics("filename")])

    tracemalloc.start()
    phase(1)
    held_1 = held()
    phase(2)
    held_2 = held()
    tracemalloc.stop()
    # Still working: a real VTN's announcement is taken in after all that.
    one([seeds[0]], 10)
    found = "vtn 0._openadr3._tcp.local" in loc.cache.services
    print(json.dumps({"steps": stats["steps"], "bad_packets": loc.cache.bad_packets,
                      "accepted": sock.sent, "held_after_1": held_1, "held_after_2": held_2,
                      "real_vtn_found_after": found}))
    return 0


if __name__ == "__main__":
    sys.exit(child(int(sys.argv[1])))
