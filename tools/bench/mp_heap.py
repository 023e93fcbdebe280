"""The whole firmware's heap on the 32-bit MicroPython 1.27.0 VM (tools/mpboard).

For each deploy kind (app frozen into the image; app as -O3 .mpy files on the
board's filesystem) the smallest `-X heapsize` at which the unchanged firmware
(boot.py, main.py) runs CYCLES clean poll cycles: mDNS discovery, HTTPS with CA
verification, OAuth2, registration, a 96 x 15 min price event whose boundary
falls inside the run (outputs follow it), and the SETPOINT and PRICE reports it
asks for; then BUT1 stops it. "Clean": every poll answered, the reports sent,
nothing failed (no "failed", MemoryError or traceback in the output), exit 0.
Found by bisection to STEP bytes, then confirmed by CONFIRM more clean runs
(stepping up while one fails). Also the heap each module keeps once imported
(-O3 .mpy, the leaves first so that each is charged for itself).

Figures: frozen_min_heap_bytes, mpy_min_heap_bytes, import_heap_module_<name>,
import_heap_mpy_total_bytes, import_heap_frozen_total_bytes. The board has
about 112 KB of heap in all (no PSRAM); the frozen app's goal is 64 KB. The
VM's stand-ins for machine, network and socket (frozen, but their classes and
functions are objects on the heap; C on the ESP32) take standin_heap_bytes of
it; <kind>_min_heap_bytes_without_standins is the figure less that. Runs vary
by a few KB (the heap's fragmentation follows the timing of the tasks), so the
bisection's result is confirmed by CONFIRM more clean runs.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time

from tools.mpboard import vm
from tools.mpboard.run import Board, deploy

CYCLES = 10
STEP = 2048
CONFIRM = 2
RANGES = {"frozen": (24 * 1024, 256 * 1024), "mpy": (48 * 1024, 512 * 1024)}
_FAILED = ("failed", "MemoryError", "Traceback", "not enough memory")


def _scenario(boundary):
    from tools.mpboard.scenario import day_scenario
    return day_scenario(boundary, reports=True)


_HOST = [10]  # last address used: every run gets fresh ones (no stale mDNS)


def clean_run(kind, heap, workdir, static=False):
    """(True, why) if the firmware ran CYCLES clean poll cycles in `heap` bytes."""
    from tools.devvtn.launch import DevVtn
    from tools.mpboard.scenario import CLIENT_ID, SECRET, device_config
    _HOST[0] = _HOST[0] + 2 if _HOST[0] < 250 else 12
    host = _HOST
    vtn_ip, board_ip = "127.0.2.%d" % host[0], "127.0.2.%d" % (host[0] + 1)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    path = os.path.join(workdir, "scenario.json")
    with open(path, "w") as f:
        json.dump(_scenario(int(time.time()) + 6), f)
    vtn = DevVtn(path, vtn_ip, advertise=True, name="Bench VTN", tls_dir=os.path.join(workdir, "tls"),
                 record=os.path.join(workdir, "record.jsonl"), log_path=os.path.join(workdir, "vtn.log"))
    vtn.start()
    # static: the VTN's URL configured (by address), no mDNS at all.
    extra = {"url": vtn.url, "discovery_mode": "static"} if static else {}
    board = Board(os.path.join(workdir, "board"), kind, board_ip,
                  device_config(vtn.ca_pem(), CLIENT_ID, SECRET, **extra), heap)
    try:
        board.start()
        deadline = time.monotonic() + 40 + 2 * CYCLES
        while time.monotonic() < deadline and board.running():
            recs = vtn.records()
            polls = [r for r in recs if r["rel"] == "/events" and r["status"] == 200]
            reports = [r for r in recs if r["rel"] == "/reports" and r["status"] == 201]
            if len(polls) >= CYCLES and len(reports) >= 2:
                break
            time.sleep(0.2)
        board.press()
        code = board.proc.wait(30)
    except subprocess.TimeoutExpired:
        board.kill()
        code = None
    finally:
        board.kill()
        vtn.stop()
    log = board.log()
    recs = vtn.records()
    polls = len([r for r in recs if r["rel"] == "/events" and r["status"] == 200])
    reports = len([r for r in recs if r["rel"] == "/reports" and r["status"] == 201])
    bad = [w for w in _FAILED if w in log]
    ok = code == 0 and polls >= CYCLES and reports >= 2 and not bad
    return ok, "exit %s, %d polls, %d reports%s" % (code, polls, reports, (", " + "/".join(bad)) if bad else "")


def min_heap(kind, workdir, log=print):
    lo, hi = RANGES[kind]
    ok, why = clean_run(kind, hi, workdir)
    if not ok:
        raise RuntimeError("%s: not clean even with %d bytes of heap (%s)" % (kind, hi, why))
    while hi - lo > STEP:
        mid = (lo + hi) // 2 // 1024 * 1024
        ok, why = clean_run(kind, mid, workdir)
        log("  %s heap %6d: %s (%s)" % (kind, mid, "clean" if ok else "FAILS", why))
        if ok:
            hi = mid
        else:
            lo = mid
    confirmed = 0
    while confirmed < CONFIRM and hi <= RANGES[kind][1]:
        ok, why = clean_run(kind, hi, workdir)
        log("  %s heap %6d: %s (%s), confirming" % (kind, hi, "clean" if ok else "FAILS", why))
        if ok:
            confirmed += 1
        else:
            hi += STEP
            confirmed = 0
    if hi > RANGES[kind][1]:
        raise RuntimeError("%s: no clean run confirmed up to %d bytes of heap" % (kind, RANGES[kind][1]))
    return hi


_IMPORT = r'''
import gc, sys
sys.path[:] = [".frozen", HERE]
import asyncio
# asyncio loads its parts on first use: load them now, so no module is charged for them.
import asyncio.event, asyncio.funcs, asyncio.lock, asyncio.stream
gc.collect()
standin = gc.mem_alloc()
import _board, time, machine, network, socket
gc.collect()
standin = gc.mem_alloc() - standin  # the stand-ins' classes: C on the board, no heap
sys.path[:] = ["", ".frozen", "lib"]
import os
os.chdir(FLASH)
sizes = {}
gc.collect()
base = gc.mem_alloc()
for name in MODULES:
    gc.collect()
    before = gc.mem_alloc()
    __import__(name)
    gc.collect()
    sizes[name] = gc.mem_alloc() - before
gc.collect()
print("IMPORT-HEAP", json.dumps({"total": gc.mem_alloc() - base, "modules": sizes, "standin": standin}))
'''


def _deps(path):
    # The ven modules and libraries a module imports at its top level (static: ast).
    import ast
    out = []
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + ["%s.%s" % (node.module, a.name) for a in node.names]
        for n in names:
            if n.startswith(("ven.", "mdns_client.")) or n == "logging":
                out.append(n)
    return out


def _modules():
    """Every module of the app and its libraries, each after what it imports (so
    that each is charged for itself only): logging, mdns_client, then ven.*."""
    ven_dir = os.path.join(vm.REPO, "files_to_load", "ven")
    lib_dir = os.path.join(vm.REPO, "build", "device_lib")
    paths = {"logging": os.path.join(lib_dir, "logging.py")}
    for f in sorted(os.listdir(os.path.join(lib_dir, "mdns_client"))):
        if f.endswith(".py") and f != "__init__.py":
            paths["mdns_client." + f[:-3]] = os.path.join(lib_dir, "mdns_client", f)
    for f in sorted(os.listdir(ven_dir)):
        if f.endswith(".py") and f != "__init__.py":
            paths["ven." + f[:-3]] = os.path.join(ven_dir, f)
    order = ["ven"]
    seen = set(order)

    def visit(name):
        if name in seen or name not in paths:
            return
        seen.add(name)
        for dep in _deps(paths[name]):
            visit(dep)
        order.append(name)
    for name in sorted(paths):
        visit(name)
    return order


def import_heap(kind, workdir):
    flash = os.path.join(workdir, "flash")
    deploy(flash, kind, {})
    exe = vm.build("app" if kind == "frozen" else "board")
    script = os.path.join(workdir, "import_heap.py")
    with open(script, "w") as f:
        f.write("import json\nHERE = %r\nFLASH = %r\nMODULES = %r\n" % (vm.ONBOARD, flash, _modules()) + _IMPORT)
    out = subprocess.run([exe, "-X", "heapsize=1m", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=60, env=dict(os.environ, MPBOARD=""))
    text = out.stdout.decode("utf-8", "replace")
    for line in text.splitlines():
        if line.startswith("IMPORT-HEAP "):
            return json.loads(line[len("IMPORT-HEAP "):])
    raise RuntimeError("import heap measurement failed:\n" + text[-2000:])


def run(args):
    from tools import netns
    if not netns.inside():
        raise RuntimeError("mp_heap needs the private network namespace of tools.bench")
    figures = {}
    work = tempfile.mkdtemp(prefix="ven-mp-heap-")
    try:
        try:
            vm.build("app")
        except vm.Unavailable as e:
            print("bench mp_heap: skipped: %s" % e)
            return {"mp_heap_skipped": str(e)}
        for kind in ("frozen", "mpy"):
            data = import_heap(kind, os.path.join(work, "import-" + kind))
            figures["import_heap_%s_total_bytes" % kind] = data["total"]
            if kind == "frozen":
                figures["standin_heap_bytes"] = data["standin"]
            if kind == "mpy":
                for name, size in data["modules"].items():
                    figures["import_heap_module_" + name] = size
        for kind in ("frozen", "mpy"):
            figures["%s_min_heap_bytes" % kind] = min_heap(kind, os.path.join(work, kind))
            # What the firmware itself needs: the VM's stand-ins for machine, network and
            # socket keep their classes on the heap; on the ESP32 those modules are C.
            figures["%s_min_heap_bytes_without_standins" % kind] = (
                figures["%s_min_heap_bytes" % kind] - figures["standin_heap_bytes"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures
