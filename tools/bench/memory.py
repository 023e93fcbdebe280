"""Heap needed to turn GET /events into the compact schedule, on the real
MicroPython VM (1.27, WebAssembly port, tests/mpvm/run_portable.mjs).

For events of 24 x 1 h, 96 x 15 min and 672 x 15 min (tools/bench/eventbody.py)
two ways are measured with tools/bench/vm_heap.py:
- stream: the body arrives in 1 KB reads and goes through
  ven.eventstream.EventReducer into ven.schedule.Builder (what the firmware does);
- naive:  the whole body, then json.loads of it (body and object tree at once).

Method (see vm_heap.py): this VM collects garbage only when Python yields to
JS (at each await between reads, as a board can collect between socket reads)
and never inside a run of Python code, so between two awaits the heap only
fills. heap_peak_bytes_N is the most it held just before an await during the
cycle, minus what was in use after the awaits outside it (interpreter,
modules): the heap the cycle needs for its live data and its garbage, which
a board would collect sooner, so an upper bound. Values are kept as
single-precision floats, as on the ESP32. The VM starts with a 16 KB heap and
heap_total_after_bytes_N / naive_heap_total_after_bytes_N give the
micropython.mem_info() "total" the heap grew to by the end of the run; that
figure includes compiling the script and the ven modules from source (which
a board spares with .mpy files) and grows in doublings, so it is coarse.
parse_ms_N: time spent parsing and reducing on the VM (waits between reads left
out), for both ways.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile

from tools.bench import eventbody

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HARNESS = os.path.join(REPO, "tests", "mpvm", "run_portable.mjs")
SIZES = ((24, 3600), (96, 900), (672, 900))
CHUNK = 1024
START_HEAP = 16 * 1024
TIMEOUT_S = 60
_TOTAL = re.compile(r"GC: total: (\d+), used: (\d+)")


class VmError(RuntimeError):
    pass


def vm_cycle(workdir, mode, n, step, heap, chunk=CHUNK):
    """One VM run; returns (heap total before the cycle, after it, the MPVM-HEAP dict)."""
    proc = subprocess.run(["node", HARNESS, "--heap", str(heap), "--file", os.path.join(workdir, "vm_heap.py"),
                           "--", mode, str(n), str(step), str(chunk)],
                          cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S)
    totals = [int(m.group(1)) for m in _TOTAL.finditer(proc.stdout)]
    info = None
    for line in proc.stdout.splitlines():
        if line.startswith("MPVM-HEAP "):
            info = json.loads(line[len("MPVM-HEAP "):])
    if proc.returncode != 0 or info is None or len(totals) != 2 or not info["ok"]:
        raise VmError("vm_heap %s %d failed (exit %d):\n%s%s" % (mode, n, proc.returncode, proc.stdout[-2000:],
                                                                  proc.stderr[-2000:]))
    return totals[0], totals[1], info


def run(args):
    if shutil.which("node") is None:
        print("bench memory: node is not installed; skipped")
        return {}
    figures = {}
    workdir = tempfile.mkdtemp(prefix="ven-bench-heap-")
    try:
        for name in ("vm_heap.py", "eventbody.py"):
            shutil.copy(os.path.join(REPO, "tools", "bench", name), workdir)
        for n, step in SIZES:
            for mode, prefix in (("stream", ""), ("naive", "naive_")):
                _, total, info = vm_cycle(workdir, mode, n, step, START_HEAP)
                figures["%sheap_peak_bytes_%d" % (prefix, n)] = info["peak"]
                figures["%sheap_total_after_bytes_%d" % (prefix, n)] = total
                _, _, info = vm_cycle(workdir, mode, n, step, 4 * 1024 * 1024)
                figures["%sparse_ms_%d" % (prefix, n)] = info["ms"]
            figures["body_bytes_%d" % n] = eventbody.size(n, step)
        figures["heap_peak_ratio_672"] = round(figures["heap_peak_bytes_672"] / figures["naive_heap_peak_bytes_672"], 3)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return figures
