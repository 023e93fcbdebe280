# The application: one asyncio loop wiring network -> discovery -> client ->
# schedule -> outputs, plus the BUT1 watcher. No protocol logic lives here.
#
# From main.py:   import ven.mainloop; ven.mainloop.main()
# At the REPL:    ven.mainloop.state   (VTN, last poll, last error, outputs, tasks)
#
# Every long-running task runs under supervise(): an unexpected exception
# (a bug, a MemoryError) is logged once with its traceback, counted in
# state.tasks, and the task starts again after a back-off; while the output
# task is down the outputs are at fail-safe. A failed poll (VTN error, no
# memory, anything) keeps the last good schedule and is retried with back-off.
# Pressing BUT1 (or Ctrl-C) stops every task, puts the outputs at their
# fail-safe duty and returns to the REPL.

import asyncio
import gc
import logging
import sys
import time

import ven
from ven import clock, crash, eventstream, health, isotime, netup, pricemap, retry, schedule
from ven.button import Button
from ven.openadr import Dedup, VtnClient, VtnError, select_programs
from ven.outputs import RAMP_STEP_MS, Outputs
from ven.vtn import DiscoveryError, StaticLocator, needs_mdns

log = logging.getLogger("ven")

_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING,
           "ERROR": logging.ERROR, "CRITICAL": logging.CRITICAL}
# After this many failed polls in a row a VTN is reported to discovery as
# unreachable, so another candidate (if any) is tried.
_REDISCOVER_AFTER = 3
# The output task re-checks the clock at least this often (s), so a clock that
# is set late (NTP) or jumps is noticed.
_MAX_SLEEP_S = 30
# A wake-up this far (ms) from where the ticks say it should be is a clock jump.
_JUMP_MS = 2000
# A supervised task that ran this long before failing starts its back-off anew.
_STABLE_MS = 300000
# The last schedule, so a reboot without network resumes it (ven.schedule.save).
SCHEDULE_PATH = "schedule.bin"


class State:
    """What the firmware knows now; inspect it at the REPL as ven.mainloop.state."""

    def __init__(self):
        self.ip = None
        self.vtn = None
        self.schedule = schedule.Schedule()
        self.last_poll = None    # Unix time of the last good poll
        self.last_error = None
        self.changed = asyncio.Event()   # new schedule or clock set: re-plan the outputs
        self.outputs = None
        self.clock = None        # ven.clock.Clock
        self.outputs_reason = None  # why the outputs are held at fail-safe, if they are
        self.tasks = {}          # name -> [state, restarts, last error]
        self.ssl_ctx = None      # the one TLS context (CA loaded once), shared by every client
        self.health = health.Health(0, 3600)  # progress, watchdog, uptime (main() sets it up)
        self.crash = None        # the crash record the last run left, if any (ven.crash)
        self.safe_mode = None    # why the VEN did not start, in safe mode

    def __repr__(self):
        if self.safe_mode:
            return "<State SAFE MODE (%s) outputs=%r%s>" % (
                self.safe_mode, self.outputs.status() if self.outputs else None,
                ("\nlast crash:\n" + self.crash) if self.crash else "")
        return ("<State ip=%s vtn=%r last_poll=%s last_error=%r clock=%s schedule=%r outputs=%r%s tasks=%r "
                "uptime=%s watchdog=%s%s>") % (
            self.ip, self.vtn, self.last_poll, self.last_error,
            self.clock.status() if self.clock else None, self.schedule,
            self.outputs.status() if self.outputs else None,
            (" held at fail-safe: " + self.outputs_reason) if self.outputs_reason else "", self.tasks,
            self.health.uptime(),
            ("stuck: " + self.health.stuck if self.health.stuck else "fed") if self.health.wdt else "off", ("\nlast crash:\n" + self.crash) if self.crash else "")


state = None


async def _register(client, cfg, reg):
    """Register with client's VTN (ven.registration, loaded for it); returns the
    Registration to keep (backing off), or None once registered."""
    if reg is None:
        from ven.registration import Registration
        reg = Registration(cfg)
    if await reg.ensure(client, log):
        ven.forget("ven.registration")
        return None
    return reg


async def supervise(name, run, st, on_down=None):
    """Run `run()` (a coroutine function) for ever, restarting it after an unexpected exception."""
    health = ["running", 0, None]  # type: list
    st.tasks[name] = health
    failures = 0
    said = None  # the last failure logged in full
    while True:
        started = time.ticks_ms()
        health[0] = "running"
        try:
            await run()
            health[0] = "done"
            return
        except Exception as e:  # noqa: BLE001 - any failure of a task is logged and survived
            health[1] += 1
            text = "MemoryError"  # if the heap cannot hold even its text
            try:
                # Right after a MemoryError saying it may fail the same way: the
                # restart (and the fail-safe) must not depend on it.
                text = repr(e)
                if crash.kind(e) != said:
                    log.error("task %s failed (restarting it): %s", name, text)
                    crash.print_trace(e)
                    crash.record(e, "task " + name, st.health.uptime())
                    said = crash.kind(e)
            except MemoryError:
                pass
            health[2] = text
        health[0] = "restarting"
        if on_down is not None:
            on_down()
        failures = 1 if time.ticks_diff(time.ticks_ms(), started) > _STABLE_MS else failures + 1
        gc.collect()
        await asyncio.sleep(retry.delay(failures, 60))


async def _locate(locator, cfg, st):
    # The VTN to use now (configured URL or mDNS, see ven.discovery, which logs
    # every change); waits with back-off while there is none, waking at once
    # when discovery finds one.
    failures = 0
    while True:
        st.health.beat("poll")
        try:
            return await locator.get()
        except (DiscoveryError, OSError) as e:
            failures += 1
            st.last_error = "discovery: %s" % e
            wait = retry.delay(failures, cfg["vtn"]["retry_max_s"])
            log.warning("discovery failed (%s); retrying in %d s", e, wait)
            await locator.wait_change(wait)


def _seed():
    # randomizeStart draws are per VEN: the board's unique id (its MAC).
    try:
        import machine
        return "".join(["%02x" % b for b in machine.unique_id()])
    except (ImportError, AttributeError):
        return ""


async def _poll(client, cfg, types, now, st, conditional):
    """Programs, then each program's events reduced into a new schedule.Builder
    (the schedule in force stays until a poll is complete). Returns
    (builder, programs), or (None, programs) when the VTN said nothing changed."""
    # Programs by name: the configured list, else the VTN's TXT program_names, else all.
    names = cfg["vtn"]["program_names"] or (st.vtn.txt.get("program_names") if st.vtn and st.vtn.txt else None)
    fresh = client.fresh
    programs = select_programs(await client.programs(conditional), names)
    if not programs:
        raise VtnError("no program named %s on the VTN" % (names or "anything"))
    unchanged = client.unchanged
    # Duplicate events, and events of other programs (VTNs that ignore the
    # programID parameter), reach the schedule once / not at all.
    builder = Dedup(schedule.Builder(types, now, _seed(), st.schedule.anchors))
    reducer = eventstream.EventReducer(builder)
    for p in programs:
        builder.program(p)
        if isinstance(p.get("id"), str):
            builder.program_id = p["id"]
            await client.events_into(p["id"], reducer, conditional)
    if client.unchanged > unchanged:
        if client.fresh == fresh:
            return None, programs  # the programs and every page of events as they were
        # Some pages changed, some did not (and their events were not sent), or the
        # programs changed (one may be gone, its events still in force): ask again plainly.
        return await _poll(client, cfg, types, now, st, False)
    return builder.builder, programs


def _adopt(st, sched, n_programs, n_events):
    """A schedule from a good poll: use it, say what it means, persist it, re-plan the outputs."""
    if sched == st.schedule:
        st.schedule.anchors = sched.anchors
        return
    st.schedule = sched
    log.info("schedule updated: %d program(s), %d event(s)", n_programs, n_events)
    now = isotime.now()
    nxt = sched.next_change(now)
    for typ in sorted(sched.tracks):
        src = sched.source_at(typ, now)
        log.info("  %s (%s): %d event(s) apply; now %s%s; next change %s", typ, sched.units.get(typ, "no units given"),
                 len(sched.tracks[typ]), sched.value_at(typ, now), (" from event %s" % src.event_id) if src else "",
                 isotime.format_datetime(nxt) if nxt is not None else "none")
    from ven import schedule_file
    try:
        schedule_file.save(sched, SCHEDULE_PATH, now)
    except OSError as e:
        log.warning("could not save the schedule (%s): a reboot without network would start empty", e)
    finally:
        ven.forget("ven.schedule_file")
    st.changed.set()


def _resume(st):
    # The schedule saved by the last good poll: outputs follow it (once the clock is valid) with no network.
    # load never raises: a damaged file is moved aside with one log line and the VEN starts without it.
    from ven import schedule_file
    saved = schedule_file.load(SCHEDULE_PATH, log)
    ven.forget("ven.schedule_file")
    if saved is not None:
        st.schedule = saved
        log.info("resuming the schedule saved at %s: %r",
                 isotime.format_datetime(saved.saved) if saved.saved else "an unknown time", saved)


async def _send_reports(client, reporter, st):
    """POST the reports that are due; returns when the next one falls due (Unix s) or None."""
    outs = st.outputs.channels

    def applied(ci, start, end):
        return outs[ci].meter.summary(start, end)

    def planned(ci, t):
        ch = outs[ci].cfg
        return pricemap.load_duty(st.schedule.value_at(ch["payload_type"], t), ch)

    for key, report in reporter.due(isotime.now(), client.version, applied, planned):
        try:
            await client.post_report(report)
        except VtnError as e:
            log.warning("report %s not accepted, will retry: %s", report.name, e)
            continue
        reporter.sent(key)
        log.info("report sent: %s", report.name)
    return reporter.next_due(isotime.now())


def _client(vtn, vtn_cfg, st):
    # One client per VTN URL: it keeps the token, the API version and the validators.
    client = VtnClient(vtn.base_url, vtn_cfg, vtn.connect_host, vtn.txt, vtn.source, log,
                       ssl_ctx=st.ssl_ctx, on_date=st.clock.note_http_date)
    client.vtn = vtn
    return client


async def controller(cfg, link, st, types):
    """Wait for an address, then find the VTN and poll it on that address (_serve); when the
    address goes or changes, discovery is closed and starts again on the new one."""
    while True:
        st.ip = None
        while st.ip is None:
            st.health.beat("poll")
            try:
                st.ip = await link.wait_ip(cfg["network"]["connect_timeout_s"])
            except netup.NetworkError as e:
                st.last_error = str(e)
                log.warning("%s; still waiting", e)
        log.info("network up: %s", st.ip)
        link.changed.clear()
        serve = asyncio.create_task(_serve(cfg, st, types, link))
        try:
            while link.ip == st.ip and not serve.done():
                await link.changed.wait()
                link.changed.clear()
        finally:
            serve.cancel()
        try:
            await serve  # re-raises what ended it, so supervise() restarts the controller
        except asyncio.CancelledError:
            pass  # the address went or changed (netup logged it): discovery starts again on the new one


async def _serve(cfg, st, types, link):
    """Find the VTN on st.ip and poll it for ever; a failed poll keeps the last schedule."""
    vtn_cfg = cfg["vtn"]
    # Discovery keeps watching in its own task; a VTN change wakes the waits below.
    # A configured URL that needs no mDNS loads nothing of mDNS.
    if needs_mdns(vtn_cfg):
        from ven import discovery
        locator = discovery.Locator(st.ip, vtn_cfg, log)
    else:
        locator = StaticLocator(vtn_cfg["url"])  # type: ignore[assignment]  # same interface
    client = None
    registered = None  # the client registered with
    registration = None  # while registering (ven.registration loaded)
    reporter = None  # once an event asks for reports (ven.reports loaded)
    try:
        failures = 0
        answered = False
        unexpected = None  # the last unexpected failure, logged in full once
        while True:
            st.health.beat("poll")
            vtn = await _locate(locator, cfg, st)
            if vtn is not st.vtn:
                st.vtn = vtn
                failures = 0
                answered = False
            if not st.clock.valid:
                # "Now", do-it-now events and their anchors need the real time.
                log.warning("not polling until the clock is valid: %s", st.clock.reason)
                while not st.clock.valid:
                    st.health.beat("poll")  # waiting is progress
                    try:
                        await asyncio.wait_for(st.clock.wait_valid(), 30)
                    except asyncio.TimeoutError:
                        pass
            if client is None or not vtn.same(client.vtn) or (client.base_url, client.connect_host) != (
                    vtn.base_url, vtn.connect_host):
                client = _client(vtn, vtn_cfg, st)
            await client.begin()
            try:
                builder, programs = await _poll(client, cfg, types, isotime.now(), st, True)
                if builder is not None:
                    for err in builder.errors:
                        log.warning("event skipped: %s", err)
                    _adopt(st, builder.finish(), len(programs), builder.events)
                    if builder.reports and reporter is None:
                        from ven.reports import Reporter
                        reporter = Reporter(vtn_cfg["ven_name"], cfg["outputs"], log)
                    if reporter is not None:
                        reporter.update(builder.reports, isotime.now())
                builder = None
                if registered is not client:
                    registration = await _register(client, cfg, registration)
                    if registration is None:
                        registered = client
                report_due = await _send_reports(client, reporter, st) if reporter is not None else None
            except Exception as e:  # noqa: BLE001 - a poll may fail any way; the last schedule stays
                builder = None
                failures += 1
                st.last_error = str(e) or repr(e)
                # Pages that answered 200 in this poll were not adopted: a 304 to them is no "unchanged".
                client.validators = {}
                await client.end()
                if isinstance(e, VtnError):
                    # quiet: a rejected credential still backing off; it was logged when it happened.
                    (log.debug if e.quiet else log.warning)("poll %d failed, keeping the last schedule: %s", failures, e)
                    tried = vtn.base_url
                    if client.answers == 0 and not e.quiet and vtn.next_candidate():
                        # No answer at all there: the VTN's next address, at once.
                        log.warning("VTN %s did not answer at %s; trying %s (connect to %s)", vtn.name, tried,
                                    vtn.base_url, vtn.connect_host)
                        continue
                    # A VTN that never answered is skipped at once, one that did after a few failures.
                    if not answered or failures >= _REDISCOVER_AFTER:
                        locator.failed(vtn, str(e))
                else:
                    # Not the VTN's doing (no memory, a bug): where it happened, once; then one line.
                    gc.collect()
                    if crash.kind(e) != unexpected:
                        unexpected = crash.kind(e)
                        log.error("poll %d failed, keeping the last schedule (%d bytes free): %r", failures,
                                  gc.mem_free(), e)
                        crash.print_trace(e)
                    else:
                        log.warning("poll %d failed, keeping the last schedule: %r", failures, e)
                await locator.wait_change(retry.delay(failures, min(vtn_cfg["retry_max_s"], vtn_cfg["poll_interval_s"])))
                continue
            finally:
                await client.end()
            if failures:
                log.info("polling again after %d failure(s)", failures)
            failures = 0
            answered = True
            st.last_error = None
            st.last_poll = isotime.now()
            wait_s = vtn_cfg["poll_interval_s"]
            if report_due is not None:
                # Poll again (and report) right after the next report falls due.
                wait_s = max(1, min(wait_s, report_due - isotime.now() + 1))
            await locator.wait_change(wait_s)
    finally:
        locator.close()
        link.changed.set()  # wakes the controller however this ended


async def output_loop(outputs, st):
    """Apply the schedule now, then sleep until the next boundary (or ramp step), a
    new schedule or a clock change. Fail-safe while the clock is not valid."""
    types = outputs.payload_types()
    held = None
    while True:
        st.health.beat("outputs")
        st.changed.clear()
        now_ms = isotime.now_ms()
        wait_ms = _MAX_SLEEP_S * 1000
        if not st.clock.check():
            reason = "clock not valid: " + st.clock.reason
            if reason != held:
                log.warning("outputs at fail-safe: %s", reason)
            held = reason
            st.outputs_reason = reason
            outputs.failsafe()
        else:
            if held is not None:
                log.info("clock valid (%s): outputs follow the schedule", st.clock.source)
                held = None
            st.outputs_reason = None
            t = now_ms // 1000
            values = {}
            for typ in types:
                values[typ] = st.schedule.value_at(typ, t)
            if outputs.apply(values, now_ms):
                wait_ms = RAMP_STEP_MS
            nxt = st.schedule.next_change(t)
            if nxt is not None:
                wait_ms = min(wait_ms, nxt * 1000 - now_ms)
        wait_ms = max(0, wait_ms)
        t0 = time.ticks_ms()
        try:
            await asyncio.wait_for(st.changed.wait(), wait_ms / 1000)
        except asyncio.TimeoutError:
            pass
        # Woken far from where the ticks say: the wall clock stepped. The next
        # round plans from the new time (our own clock changes also set st.changed).
        jump = isotime.now_ms() - now_ms - time.ticks_diff(time.ticks_ms(), t0)
        if jump > _JUMP_MS or jump < -_JUMP_MS:
            log.warning("clock jumped by %+d s: re-planning", jump // 1000)


def _good():
    # A good run: the next reset starts counting again (ven.safemode).
    from ven import safemode
    safemode.clear()
    ven.forget("ven.safemode")


async def run(cfg, outputs, st):
    link = netup.Link(cfg["network"], cfg["board"], log)
    try:
        link.start()
    except netup.NetworkError as e:
        # The outputs keep to their fail-safe or saved schedule; the network task tries again.
        log.error("%s; trying again", e)
    button = Button(cfg["button"]["pin"])
    types = outputs.payload_types()
    st.clock = clock.Clock(cfg["clock"], on_change=st.changed.set, vtn_timeout_s=cfg["vtn"]["http_timeout_s"])
    log.info("clock %s", st.clock.status())
    from ven import tlsconf
    try:
        # Made once, early, while the heap still has room in one piece for it.
        st.ssl_ctx = tlsconf.client_context(tlsconf.load_ca(cfg["vtn"]), cfg["vtn"]["tls_insecure"])
        cfg["vtn"]["ca_pem"] = ""  # in the context now; the text would only hold heap
    except tlsconf.TLSConfigError:
        pass  # an https VTN then says why (VtnClient.setup_error); plain http needs none
    ven.forget("ven.tlsconf")
    _resume(st)

    def failsafe():
        st.outputs_reason = "the output task is restarting"
        outputs.failsafe()

    tasks = [asyncio.create_task(supervise("health", lambda: st.health.run(lambda: st.last_poll is not None, _good), st)),
             asyncio.create_task(supervise("network", link.watch, st)),
             asyncio.create_task(supervise("controller", lambda: controller(cfg, link, st, types), st)),
             asyncio.create_task(supervise("outputs", lambda: output_loop(outputs, st), st, failsafe)),
             asyncio.create_task(supervise("clock", lambda: st.clock.run(lambda: st.vtn), st))]
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


def _config():
    # Read once at start; its module (the schema checks, the strict JSON parser) then goes.
    from ven import config
    try:
        return config.load()
    except config.ConfigError as e:
        # No traceback: the message names the file, the key and the fix.
        print("CONFIG ERROR:", e)
        return None
    finally:
        ven.forget("ven.config")


def _poll_gap_s(cfg):
    # The longest the poll path may go without a beat: its longest wait, plus time for a poll.
    v = cfg["vtn"]
    return max(v["poll_interval_s"], v["retry_max_s"], v["discovery_timeout_s"],
               cfg["network"]["connect_timeout_s"], 30) + 600


def _safe_mode(cfg, st, why):
    # Outputs at fail-safe (they start there), the network up for a look, no VEN.
    log.error("SAFE MODE: %s. The outputs stay at fail-safe, the network comes up, the VEN does not start. "
              "ven.mainloop.state says it again.", why)
    st.safe_mode = why
    if cfg["watchdog_s"]:
        health.for_repl()  # a watchdog left running by the last start must not reset the REPL
    try:
        netup.Link(cfg["network"], cfg["board"], log).start()
    except netup.NetworkError as e:  # a broken PHY, a wrong `board` key: said, the REPL stays
        log.error("%s", e)


def main():
    global state
    # Collect after every 1/16 of the heap allocated (4-7 KB on the ESP32-POE),
    # not only when an allocation fails: garbage then never spreads over the
    # whole heap between the VEN's long-lived objects, which leaves the free
    # space in larger pieces (the heap needed for a poll drops by ~15 %).
    gc.threshold(max(4096, (gc.mem_free() + gc.mem_alloc()) // 16))
    cfg = _config()
    if cfg is None:
        return
    logging.basicConfig(level=_LEVELS[cfg["log_level"]])
    state = st = State()
    outputs = Outputs(cfg["outputs"])  # at their fail-safe duty
    st.outputs = outputs
    st.crash = crash.last(log)
    if st.crash:
        log.warning("the last run ended in a crash (kept in crash.last, and ven.mainloop.state):\n%s",
                    st.crash.rstrip())
    from machine import Pin
    from ven import safemode
    why = safemode.check(Pin(cfg["button"]["pin"], Pin.IN).value() == 0)
    ven.forget("ven.safemode")
    if why:
        _safe_mode(cfg, st, why)
        return
    log.info("OpenADR 3 VEN starting; %d output channel(s)", len(cfg["outputs"]))
    st.health = health.Health(cfg["watchdog_s"], _poll_gap_s(cfg), log)
    stopped = False
    try:
        asyncio.run(run(cfg, outputs, st))
        stopped = True  # BUT1
    except KeyboardInterrupt:
        stopped = True  # Ctrl-C (mpremote, ampy, a user at the REPL)
        raise
    except Exception as e:  # noqa: BLE001 - recorded, then on to the watchdog / the REPL
        log.error("the VEN stopped: %r", e)
        crash.print_trace(e)
        crash.record(e, "the VEN", st.health.uptime())
        # Unattended, the VEN must come back: the watchdog (started now if this came
        # before it was) resets the board, and safe mode ends a loop of such starts.
        st.health.arm()
        raise
    finally:
        outputs.failsafe()
        log.info("VEN stopped at %s", isotime.format_datetime(isotime.now()))
        if stopped:
            # The REPL must stay usable for uploads: the watchdog cannot be stopped.
            st.health.for_repl()
            # Someone is at the board (BUT1, Ctrl-C: an upload, a look): the starts so
            # far were no boot loop, so deploys on a bench without a VTN never add up.
            _good()
        if sys.implementation.name == "micropython":
            # MicroPython keeps asyncio state across runs at the REPL; start fresh next time.
            asyncio.new_event_loop()
