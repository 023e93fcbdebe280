"""Supervision (issue 9, item 1) on a simulated board in process, real time:
ven.mainloop.run() with its five tasks (health, network, controller, outputs,
clock), an exception injected into each. The failure is logged once with its
traceback (on stderr, by ven.crash.print_trace), recorded (crash.txt), the task
starts again after its back-off and ven.mainloop.state.tasks shows
[state, restarts, last error]; the other tasks go on. While the output task is
down the outputs are at fail-safe, and back on the schedule once it restarts.
The same failure again is not logged in full again; a MemoryError of another
size is the same failure.

The supervisor's back-off is ven.retry's (2 s after a first failure); here it is
scaled down tenfold through mainloop.retry, and every wait is on a condition
with a deadline.
"""
import asyncio
import logging
import time
import types

import pytest

from tests.host import field_support
from tests.host.field_support import FAILSAFE_DUTY, duties, field, stop, until  # noqa: F401 (fixture)
from tests.host.simboard import board  # noqa: F401 (fixture field uses)
from ven import isotime

SCALE = 0.1
PRICE = 5.0
SCHEDULED = 32500  # duty for PRICE on field_support.CHANNEL (0..10 -> 0..65000)


@pytest.fixture
def backoff(monkeypatch):
    """mainloop's back-offs, ten times shorter; the asked (failures, cap) recorded."""
    from ven import mainloop, retry
    asked = []

    def delay(failures, cap_s):
        asked.append((failures, cap_s))
        return retry.delay(failures, cap_s) * SCALE

    monkeypatch.setattr(mainloop, "retry", types.SimpleNamespace(delay=delay))
    return asked


def flat_schedule(price=PRICE):
    from ven import schedule
    now = isotime.now()
    b = schedule.Builder(("PRICE",), now)
    b.add_event({"id": "e1", "programID": "p", "intervalPeriod": {
        "start": isotime.format_datetime(now - 60), "duration": "PT1H"},
        "intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [price]}]}]})
    return b.finish()


def fail_first(monkeypatch, owner, name, errors):
    """owner.name (a coroutine function) raises errors[i] on its i-th call, then runs as it was.
    Returns the monotonic times of the calls."""
    orig = getattr(owner, name)
    calls = []

    async def wrapper(*args, **kwargs):
        calls.append(time.monotonic())
        if len(calls) <= len(errors):
            await asyncio.sleep(0.05)  # a moment into the run, as a real failure
            raise errors[len(calls) - 1]
        return await orig(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


def start_run(field, st=None):
    from ven import mainloop
    from ven.outputs import Outputs
    cfg = field.cfg()
    st = st or mainloop.State()
    mainloop.state = st
    outputs = Outputs(cfg["outputs"])
    st.outputs = outputs
    task = asyncio.create_task(mainloop.run(cfg, outputs, st))
    return cfg, st, outputs, task


def logged(caplog, text):
    return [r for r in caplog.records if text in r.getMessage()]


def where(name):
    # The task and the injection point inside it (a coroutine function it awaits).
    from ven import clock, health, mainloop, netup
    return {"health": (health.Health, "run"), "network": (netup.Link, "watch"),
            "controller": (mainloop, "_locate"), "clock": (clock.Clock, "run"),
            "outputs": (mainloop, "output_loop")}[name]


@pytest.mark.parametrize("name", ["health", "network", "controller", "outputs", "clock"])
def test_an_exception_in_each_task_is_logged_recorded_and_the_task_restarts(field, backoff, monkeypatch, caplog,
                                                                            capsys, name):
    from ven import crash
    caplog.set_level(logging.DEBUG)
    owner, attr = where(name)
    calls = fail_first(monkeypatch, owner, attr, [RuntimeError("injected into " + name)])
    text = "RuntimeError('injected into %s')" % name

    async def go():
        _cfg, st, _outputs, task = start_run(field)
        try:
            await until(lambda: st.tasks.get(name, [None])[0] == "restarting", 5, "the failure")
            failed = time.monotonic()
            assert st.tasks[name] == ["restarting", 1, text]
            await until(lambda: len(calls) == 2, 5, "the restart")
            assert calls[1] - failed >= 2 * SCALE - 0.05  # not before its back-off (2 s, scaled)
            await until(lambda: st.tasks[name][0] == "running", 1, "running again")
            await asyncio.sleep(0.3)  # it stays up
            assert st.tasks[name] == ["running", 1, text]
            for other in set(st.tasks) - {name}:
                assert st.tasks[other] == ["running", 0, None], st.tasks  # the others never stopped
            assert "'%s': ['running', 1, \"%s\"]" % (name, text) in repr(st)
        finally:
            await stop(task)

    asyncio.run(go())
    assert (1, 60) in backoff  # the supervisor's first back-off: ven.retry's 2 s
    err = capsys.readouterr().err
    assert err.count("Traceback (most recent call last)") == 1, err
    assert err.count("RuntimeError: injected into " + name) == 1, err
    said = logged(caplog, "task %s failed (restarting it): %s" % (name, text))
    assert len(said) == 1 and said[0].levelno == logging.ERROR
    record = crash.last()
    assert record.startswith("task %s failed at " % name), record
    assert "RuntimeError: injected into %s" % name in record and "(this start: pwron reset)" in record, record


def test_outputs_at_failsafe_while_the_output_task_is_down_then_back_on_the_schedule(field, backoff, caplog, capsys):
    from ven import mainloop
    caplog.set_level(logging.DEBUG)
    st = mainloop.State()
    st.schedule = flat_schedule()
    armed = [False]
    applied = []

    async def go():
        _cfg, st_, outputs, task = start_run(field, st)
        apply = outputs.apply

        def flaky(values, now_ms=None):
            applied.append(time.monotonic())
            if armed[0]:
                armed[0] = False
                raise ValueError("injected into apply")
            return apply(values, now_ms)

        outputs.apply = flaky
        try:
            await until(lambda: duties() and duties()[-1] == SCHEDULED, 5, "the schedule's duty")
            assert st.outputs_reason is None
            armed[0] = True
            st.changed.set()  # re-plan now: the output task fails
            await until(lambda: st.tasks["outputs"][0] == "restarting", 2, "the failure")
            failed = time.monotonic()
            assert duties()[-1] == FAILSAFE_DUTY and st.outputs_reason == "the output task is restarting"
            assert "held at fail-safe: the output task is restarting" in repr(st)
            await until(lambda: duties()[-1] == SCHEDULED, 3, "the schedule's duty again")
            assert time.monotonic() - failed >= 2 * SCALE - 0.05
            assert st.tasks["outputs"] == ["running", 1, "ValueError('injected into apply')"]
            assert st.outputs_reason is None
        finally:
            await stop(task)

    asyncio.run(go())
    assert duties() == [FAILSAFE_DUTY, SCHEDULED, FAILSAFE_DUTY, SCHEDULED]
    assert capsys.readouterr().err.count("ValueError: injected into apply") == 1


def test_the_same_failure_again_is_not_logged_in_full_again(field, backoff, monkeypatch, caplog, capsys):
    from ven import clock, crash
    caplog.set_level(logging.DEBUG)
    # Three MemoryErrors of different sizes (one failure), then another kind of failure.
    errors = [MemoryError("memory allocation failed, allocating %d bytes" % n) for n in (4096, 512, 10240)]
    errors.append(OSError(12, "ENOMEM"))
    calls = fail_first(monkeypatch, clock.Clock, "run", errors)

    async def go():
        _cfg, st, _outputs, task = start_run(field)
        try:
            await until(lambda: len(calls) == 5, 10, "four failures and restarts")
            await until(lambda: st.tasks["clock"][0] == "running", 1, "running again")
            assert st.tasks["clock"] == ["running", 4, "OSError(12, 'ENOMEM')"]
            # The back-off grew with each failure in a row, and the restarts kept to it.
            gaps = [b - a for a, b in zip(calls, calls[1:])]
            for i, gap in enumerate(gaps):
                assert gap >= 2 ** (i + 1) * SCALE, gaps
        finally:
            await stop(task)

    asyncio.run(go())
    assert [a for a in backoff if a[1] == 60] == [(1, 60), (2, 60), (3, 60), (4, 60)]
    err = capsys.readouterr().err
    assert err.count("Traceback (most recent call last)") == 2, err  # the MemoryError once, the OSError once
    assert err.count("MemoryError: memory allocation failed") == 1 and "allocating 4096 bytes" in err, err
    assert "OSError: [Errno 12] ENOMEM" in err
    said = [r.getMessage() for r in caplog.records if "task clock failed" in r.getMessage()]
    assert said == ["task clock failed (restarting it): MemoryError('memory allocation failed, allocating 4096 bytes')",
                    "task clock failed (restarting it): OSError(12, 'ENOMEM')"], said
    assert "OSError: [Errno 12] ENOMEM" in crash.last()  # the record: the last failure said in full


def test_but1_stops_every_task_with_outputs_at_failsafe(field, backoff, caplog):
    # Stopping: the press ends run(); every supervised task is cancelled, none restarts.
    from tools.hostsim import clock as simclock
    from tools.hostsim import machine as simmachine
    from ven import mainloop
    caplog.set_level(logging.DEBUG)
    st = mainloop.State()
    st.schedule = flat_schedule()
    simmachine.press_button_at(simclock.uptime() + 0.6)

    async def go():
        _cfg, st_, _outputs, task = start_run(field, st)
        await until(lambda: duties() and duties()[-1] == SCHEDULED, 5, "the schedule's duty")
        await asyncio.wait_for(task, 2)
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    left = asyncio.run(go())
    assert left == []
    assert logged(caplog, "BUT1 pressed: stopping the VEN")
    assert [t for t, s in st.tasks.items() if s[1]] == []  # no task failed on the way out


def test_no_memory_to_log_a_failure_still_restarts_the_task(field, backoff, monkeypatch, caplog, capsys):
    # A MemoryError leaves little heap: the supervisor's own log line may fail the same way.
    # The task is still counted, the outputs still go to fail-safe and the task restarts.
    from ven import mainloop
    caplog.set_level(logging.DEBUG)
    st = mainloop.State()
    st.schedule = flat_schedule()
    calls = fail_first(monkeypatch, mainloop, "output_loop", [MemoryError(), MemoryError()])
    error = mainloop.log.error
    refused = []

    def no_memory_once(*args):
        if not refused:
            refused.append(args)
            raise MemoryError()
        error(*args)

    monkeypatch.setattr(mainloop.log, "error", no_memory_once)

    async def go():
        _cfg, st_, _outputs, task = start_run(field, st)
        try:
            await until(lambda: st.tasks.get("outputs", [None])[0] == "restarting", 3, "the first failure")
            assert duties()[-1] == FAILSAFE_DUTY and st.tasks["outputs"][1] == 1
            await until(lambda: len(calls) == 3, 3, "two restarts")
            await until(lambda: duties()[-1] == SCHEDULED, 3, "the schedule's duty")
            assert st.tasks["outputs"] == ["running", 2, "MemoryError()"]
        finally:
            await stop(task)

    asyncio.run(go())
    assert len(refused) == 1
    # The first time could not be said: the second time is, in full.
    assert len(logged(caplog, "task outputs failed (restarting it): MemoryError()")) == 1
    assert capsys.readouterr().err.count("Traceback (most recent call last)") == 1


def test_an_interface_that_does_not_start_is_no_crash(field, monkeypatch, caplog):
    # A PHY that does not answer at start (a slow power-up, or the wrong `board` key):
    # run() goes on with the outputs on their schedule, the network task switches the
    # interface on again with back-off, and the address comes once it starts.
    from tools.hostsim import network as simnetwork
    from ven import mainloop, netup
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(netup.Link, "RETRY_MIN_MS", 100)
    real = simnetwork.LAN.active
    tries = []

    def flaky(self, on=None):
        if on and len(tries) < 2:
            tries.append(on)
            raise OSError(116, "ETIMEDOUT")
        return real(self, on) if on is not None else real(self)

    monkeypatch.setattr(simnetwork.LAN, "active", flaky)
    st = mainloop.State()
    st.schedule = flat_schedule()

    async def go():
        _cfg, st_, _outputs, task = start_run(field, st)
        try:
            await until(lambda: duties() and duties()[-1] == SCHEDULED, 5, "the schedule's duty")
            await until(lambda: st.ip == field_support.ADDR, 10, "the address")
            assert not task.done()
        finally:
            await stop(task)

    asyncio.run(go())
    assert len(tries) == 2
    assert logged(caplog, "ethernet did not start ([Errno 116] ETIMEDOUT); is key 'board'")
    assert logged(caplog, "network: ethernet started")
    assert st.tasks["network"][1] == 0 and not logged(caplog, "the VEN stopped")
