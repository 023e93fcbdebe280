"""The discovery's packet path on the real MicroPython 1.27 VM (WebAssembly, Node).

CPython tests exercise the logic; this one checks that the device code itself
(ven.discovery, ven.mdns_cache, ven.choose, ven.txt and micropython-mdns's
parser) runs on MicroPython: a generated script feeds valid python-zeroconf
responses and hundreds of malformed ones through Locator.step() (a stand-in
socket, since this VM has none), and reports the VTN it chose and the heap in
use (gc.mem_alloc) after each round, which must not grow (this port's collector
frees only after a yield to JS, so the script awaits before each gc.collect()).

The staged micropython-mdns sources are embedded into the script at test time
(into a temporary file, never into the repo); the VM writes them to /lib.
"""
import json
import os
import random
import shutil
import subprocess

import pytest

from tests.host.test_discovery import _malformed
from tests.host.test_discovery_fuzz import _seeds

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HARNESS = os.path.join(REPO, "tests", "mpvm", "run_portable.mjs")
MDNS_LIB = os.path.join(REPO, "build", "device_lib", "mdns_client")
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed: the MicroPython VM runs under Node")

pytest.importorskip("zeroconf")

SCRIPT = r'''
import gc, json, os, sys, time, asyncio
sys.modules["uasyncio"] = asyncio  # the ESP32 firmware has the alias, this VM not

def mkdirs(path):
    cur = ""
    for part in path.split("/"):
        if part:
            cur += "/" + part
            try:
                os.mkdir(cur)
            except OSError:
                pass

for rel in LIB:
    mkdirs("/lib/" + rel.rsplit("/", 1)[0])
    with open("/lib/" + rel, "w") as f:
        f.write(LIB[rel])
sys.path.insert(0, "/lib")


class _NoNet:  # this port has no socket/select; the Locator gets a stand-in socket
    pass


_select = _NoNet()
_select.select = _select.poll = None  # names mdns_client and ven.mdns_query import
_select.POLLIN = 1
sys.modules["socket"] = _NoNet()
sys.modules["select"] = _select

from ven import config, discovery, mdns_cache
from ven.mdns_query import query_packet

with open("/config/default.json") as f:
    cfg = config.merge(json.loads(f.read()), {})


class Sock:
    shared = True
    bind_error = None
    no_memory = 0

    def __init__(self):
        self.queue = []
        self.sent = 0

    def receive(self, limit):
        out = self.queue[:limit]
        self.queue = self.queue[limit:]
        return out

    def ask(self, questions, unicast=False):
        query_packet(questions, unicast)
        self.sent += 1
        return True

    def close(self):
        pass


sock = Sock()
loc = discovery.Locator("10.1.2.200", cfg["vtn"], None, sock=sock)
now = time.ticks_ms()
heap = []
for rnd in range(3):
    for hexdata in GARBAGE:
        sock.queue.append((bytes.fromhex(hexdata), ("10.1.2.9", 5353)))
        now = time.ticks_add(now, 7)
        while sock.queue:
            loc.step(now)
    for hexdata in VALID:
        sock.queue.append((bytes.fromhex(hexdata), ("10.1.2.9", 5353)))
    now = time.ticks_add(now, 2000)
    loc.step(now)
    # This port's collector frees only once control has gone back to JS.
    await asyncio.sleep(0)
    gc.collect()
    heap.append(gc.mem_alloc())
c = loc.cache
v = loc.current
print("RESULT " + json.dumps({
    "vtn": None if v is None else [v.name, v.base_url, v.connect_host],
    "heap": heap, "bad_packets": c.bad_packets, "services": len(c.services), "hosts": len(c.hosts),
    "sent": sock.sent}))
'''


def test_packet_path_runs_on_micropython(tmp_path):
    if not os.path.isdir(MDNS_LIB):
        pytest.fail("build/device_lib/mdns_client is missing: run `make setup`")
    lib = {}
    for root, _, files in os.walk(MDNS_LIB):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                with open(path) as f:
                    lib[os.path.relpath(path, os.path.dirname(MDNS_LIB)).replace(os.sep, "/")] = f.read()
    seeds = _seeds()
    rng = random.Random(11)
    garbage = [_malformed(seeds[rng.randrange(len(seeds))], rng).hex() for _ in range(300)]
    valid = [seeds[0].hex()]  # "VTN 0", version 3.1, address 10.1.2.3, port 8000
    script = tmp_path / "discovery_on_mpvm.py"
    script.write_text("LIB = %r\nGARBAGE = %r\nVALID = %r\n" % (lib, garbage, valid) + SCRIPT)
    proc = subprocess.run([NODE, HARNESS, "--heap", "2m", "--file", str(script)], cwd=REPO,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT "):])
    assert result["vtn"] is not None, result
    assert result["vtn"][2] == "10.1.2.3" and ":8000" in result["vtn"][1], result
    assert result["bad_packets"] > 50 and result["services"] <= 8 and result["hosts"] <= 8, result
    # The heap held after each round of 300 bad packets does not grow.
    assert result["heap"][2] <= result["heap"][0] + 4096, result
