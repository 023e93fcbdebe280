# Runs on the MicroPython VM (tests/mpvm/run_portable.mjs --file): one poll's
# worth of GET /events, reduced to the compact schedule, and the heap it took.
#
#   vm_heap.py MODE N STEP_S CHUNK     MODE: stream | naive
#
# stream: the body arrives in CHUNK-byte reads (from a file standing in for
#         the socket; each read is a new bytes object, as a socket read is)
#         and each goes to ven.eventstream.EventReducer, with an await between
#         reads as in the real client.
# naive:  the whole body is read (as a whole-body HTTP client holds it), then
#         json.loads: the body and the object tree are live at once.
# This VM collects garbage only when Python yields to JS (at an await), never
# inside a run of Python code, so between two awaits the heap only fills: what
# it holds then is gc.mem_alloc() just before the next await. "peak" is the
# largest such figure during the cycle, minus the least in use after any
# await ("low": the interpreter, modules and what the cycle keeps): the heap
# the cycle needs for its live data and garbage, an upper bound of a board's.
# Prints MPVM-HEAP {...} and micropython.mem_info() before and after the cycle
# (its "total" is the heap the whole run grew to, setup and compiling included).
import asyncio
import gc
import json
import sys
import time

import micropython

import eventbody
from ven import eventstream, schedule

mode = sys.argv[1]
n = int(sys.argv[2])
step = int(sys.argv[3])
chunk = int(sys.argv[4])
NOW = 1795305600  # 2026-11-22T00:00:00Z, the events' start
# Values as the ESP32 keeps them (single precision); the VM's floats are double.
schedule.VALUE_TYPE = "f"
low = [1 << 30]


async def settle():
    # Yield to JS (the VM collects garbage then) and note what stays in use.
    # Twice: a stale pointer left on the VM's stacks can spare a block from one
    # collection (the collector is conservative), rarely from two.
    await asyncio.sleep_ms(0)
    await asyncio.sleep_ms(0)
    used = gc.mem_alloc()
    low[0] = min(low[0], used)
    return used


f = open("/body.json", "wb")
written = 0
for part in eventbody.parts(n, step):
    f.write(part)
    written += 1
    if written % 8 == 0:
        await settle()  # noqa: F704 (top-level await: the VM runs this as a coroutine)
f.close()
part = None
for _ in range(3):
    await settle()  # noqa: F704
low[0] = 1 << 30
base = await settle()  # noqa: F704
micropython.mem_info()
peak = base
busy = 0  # ms spent parsing and reducing, the waits for "the network" left out
if mode == "stream":
    b = schedule.Builder(("PRICE",), NOW)
    r = eventstream.EventReducer(b)
    f = open("/body.json", "rb")
    while True:
        data = f.read(chunk)
        if not data:
            break
        t0 = time.ticks_us()
        r.feed(data)
        busy += time.ticks_diff(time.ticks_us(), t0)
        data = None
        peak = max(peak, gc.mem_alloc())
        await settle()  # noqa: F704
    f.close()
    t0 = time.ticks_us()
    events = r.finish()
    result = b.finish()
    busy += time.ticks_diff(time.ticks_us(), t0)
    ok = b.errors == [] and events == 1 and result.value_at("PRICE", NOW) is not None
else:
    f = open("/body.json", "rb")
    body = f.read()
    f.close()
    peak = max(peak, gc.mem_alloc())
    await settle()  # noqa: F704
    t0 = time.ticks_us()
    result = json.loads(body)
    busy += time.ticks_diff(time.ticks_us(), t0)
    ok = len(result[0]["intervals"]) == n
peak = max(peak, gc.mem_alloc())
kept = await settle() - base  # noqa: F704
micropython.mem_info()
print("MPVM-HEAP " + json.dumps({"mode": mode, "n": n, "ok": ok, "ms": busy // 1000, "base": base, "low": low[0],
                                 "kept": kept, "peak": peak - min(low[0], base)}))
