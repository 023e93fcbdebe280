# The application: one asyncio loop wiring network -> discovery -> client ->
# schedule -> outputs, plus the BUT1 watcher. No protocol logic lives here.
#
# From main.py:   import ven.mainloop; ven.mainloop.main()
# At the REPL:    ven.mainloop.state   (VTN, last poll, last error, outputs)
#
# Pressing BUT1 (or Ctrl-C) stops every task, puts the outputs at their
# fail-safe duty and returns to the REPL.

import asyncio
import logging
import sys

from ven import config, discovery, isotime, netup, schedule
from ven.button import Button
from ven.openadr import VtnClient, VtnError, select_programs
from ven.outputs import Outputs

log = logging.getLogger("ven")

_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING,
           "ERROR": logging.ERROR, "CRITICAL": logging.CRITICAL}
# After this many failed polls in a row a discovered VTN is looked for again.
_REDISCOVER_AFTER = 3
# The output task re-checks the clock at least this often (s), so a clock that
# is set late (NTP) or jumps is noticed.
_MAX_SLEEP_S = 30


class State:
    """What the firmware knows now; inspect it at the REPL as ven.mainloop.state."""

    def __init__(self):
        self.ip = None
        self.vtn = None
        self.slots = {}          # payload type -> schedule slots
        self.last_poll = None    # Unix time of the last good poll
        self.last_error = None
        self.changed = asyncio.Event()
        self.outputs = None

    def __repr__(self):
        return "<State ip=%s vtn=%r last_poll=%s last_error=%r outputs=%r>" % (
            self.ip, self.vtn, self.last_poll, self.last_error,
            self.outputs.status() if self.outputs else None)


state = None


def _backoff(failures, cap_s):
    return min(cap_s, 2 ** min(failures, 10))


async def _locate(cfg, st):
    vtn_cfg = cfg["vtn"]
    if vtn_cfg["url"]:
        return discovery.static_vtn(vtn_cfg["url"])
    failures = 0
    while True:
        try:
            vtn = await discovery.find_vtn(st.ip, vtn_cfg, log)
            log.info("VTN %s found by mDNS: %s (connect to %s)", vtn.name, vtn.base_url, vtn.connect_host)
            return vtn
        except (discovery.DiscoveryError, OSError) as e:
            failures += 1
            st.last_error = "discovery: %s" % e
            wait = _backoff(failures, vtn_cfg["retry_max_s"])
            log.warning("discovery failed (%s); retrying in %d s", e, wait)
            await asyncio.sleep(wait)


async def _poll(client, cfg, types, now):
    programs = select_programs(await client.programs(), cfg["vtn"]["program_names"])
    if not programs:
        raise VtnError("no program named %s on the VTN" % (cfg["vtn"]["program_names"] or "anything"))
    events = []
    for p in programs:
        if "id" in p:
            events.extend(await client.events(p["id"]))
    slots = {}
    for typ in types:
        slots[typ], errors = schedule.build(events, typ, now)
        for err in errors:
            log.warning("event skipped: %s", err)
    return slots, len(programs), len(events)


async def controller(cfg, nic, st, types):
    """Connect, find the VTN, poll it forever; a failed poll keeps the last schedule."""
    vtn_cfg = cfg["vtn"]
    while st.ip is None:
        try:
            st.ip = await netup.wait_ip(nic, cfg["network"]["connect_timeout_s"])
        except netup.NetworkError as e:
            st.last_error = str(e)
            log.warning("%s; still waiting", e)
    log.info("network up: %s", st.ip)
    failures = 0
    while True:
        if st.vtn is None:
            st.vtn = await _locate(cfg, st)
        client = VtnClient(st.vtn.base_url, vtn_cfg, st.vtn.connect_host)
        try:
            slots, n_programs, n_events = await _poll(client, cfg, types, isotime.now())
        except VtnError as e:
            failures += 1
            st.last_error = str(e)
            log.warning("poll %d failed, keeping the last schedule: %s", failures, e)
            if failures >= _REDISCOVER_AFTER and st.vtn.source == "mdns":
                log.warning("VTN %s unreachable %d times: discovering again", st.vtn.name, failures)
                st.vtn = None
            await asyncio.sleep(_backoff(failures, min(vtn_cfg["retry_max_s"], vtn_cfg["poll_interval_s"])))
            continue
        failures = 0
        st.last_error = None
        st.last_poll = isotime.now()
        if slots != st.slots:
            log.info("schedule updated: %d program(s), %d event(s)", n_programs, n_events)
            st.slots = slots
            st.changed.set()
        await asyncio.sleep(vtn_cfg["poll_interval_s"])


async def output_loop(outputs, st):
    """Apply the schedule now, then sleep until the next boundary or a new schedule."""
    while True:
        t = isotime.now()
        values = {}
        nxt = None
        for typ in st.slots:
            slots = st.slots[typ]
            values[typ] = schedule.value_at(slots, t)
            b = schedule.next_change(slots, t)
            if b is not None and (nxt is None or b < nxt):
                nxt = b
        outputs.apply(values)
        wait_s = _MAX_SLEEP_S
        if nxt is not None:
            wait_s = min(wait_s, max(0, nxt * 1000 - isotime.now_ms()) / 1000)
        st.changed.clear()
        try:
            await asyncio.wait_for(st.changed.wait(), wait_s)
        except asyncio.TimeoutError:
            pass


async def run(cfg, outputs, st):
    nic = netup.start(cfg["network"])
    button = Button(cfg["button"]["pin"], cfg["button"]["poll_ms"])
    types = outputs.payload_types()
    tasks = [asyncio.create_task(controller(cfg, nic, st, types)),
             asyncio.create_task(output_loop(outputs, st))]
    try:
        await button.wait_pressed()
        log.warning("BUT1 pressed: stopping the VEN; outputs go to fail-safe")
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass


def main():
    global state
    try:
        cfg = config.load()
    except config.ConfigError as e:
        # No traceback: the message names the file, the key and the fix.
        print("CONFIG ERROR:", e)
        return
    logging.basicConfig(level=_LEVELS[cfg["log_level"]])
    log.info("OpenADR 3 VEN starting; %d output channel(s)", len(cfg["outputs"]))
    state = State()
    outputs = Outputs(cfg["outputs"])
    state.outputs = outputs
    try:
        asyncio.run(run(cfg, outputs, state))
    finally:
        outputs.failsafe()
        log.info("VEN stopped at %s", isotime.format_datetime(isotime.now()))
        if sys.implementation.name == "micropython":
            # MicroPython keeps asyncio state across runs at the REPL; start fresh next time.
            asyncio.new_event_loop()
