"""ven.mainloop.output_loop on a simulated board (in process, real time):
duty changes land on the interval boundary, the loop sleeps until the next
boundary instead of ticking, a new schedule or a clock change re-plans at
once, outputs stay at fail-safe until the clock is valid, ramps step.

Every wait is bounded; timing tolerances are the issue's goal (50 ms).
"""
import asyncio
import json
import math
import os

from tests.host.field_support import NO_NTP, stop
from tests.host.simboard import board  # noqa: F401 (pytest fixture)
from tools.hostsim import clock as simclock
from tools.hostsim import machine as simmachine
from ven import config, isotime

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The 50 ms goal is a benchmark figure (make bench: boundary_late_ms_*);
# here the bound only proves the change comes on the boundary, not at the next
# 30 s re-check or poll, with room for a loaded 2-core CI machine.
LATE_MS = 400
PIN = 4


def channels(**extra):
    ch = {"name": "load", "pin": PIN, "price_low": 0, "price_high": 10, "duty_at_low": 0, "duty_at_high": 65000,
          "failsafe_duty": 111}
    ch.update(extra)
    with open(os.path.join(REPO, "configs", "default.json")) as f:
        return config.merge(json.load(f), {"outputs": [ch]})["outputs"]


def price_event(start, prices, step_s=1, ident="e1"):
    return {"id": ident, "programID": "p", "intervalPeriod": {"start": isotime.format_datetime(start),
                                                              "duration": "PT%dS" % step_s},
            "intervals": [{"id": i, "payloads": [{"type": "PRICE", "values": [p]}]} for i, p in enumerate(prices)]}


def build(events, now):
    from ven import schedule
    b = schedule.Builder(("PRICE",), now)
    for ev in events:
        b.add_event(ev)
    return b.finish()


def pwm_changes():
    return [(t, d) for (t, pin, d) in simmachine.PWM_LOG if pin == PIN]


async def start_loop(sched, chans=None, clock_cfg=NO_NTP):
    from ven import clock, mainloop
    from ven.outputs import Outputs
    st = mainloop.State()
    st.schedule = sched
    st.clock = clock.Clock(clock_cfg, on_change=st.changed.set)
    outs = Outputs(chans or channels())
    calls = [0]
    apply = outs.apply

    def counted(values, now_ms=None):
        calls[0] += 1
        return apply(values, now_ms)

    outs.apply = counted
    task = asyncio.create_task(mainloop.output_loop(outs, st))
    return st, outs, task, calls


async def until(cond, timeout_s):
    deadline = simclock.real_time() + timeout_s
    while not cond() and simclock.real_time() < deadline:
        await asyncio.sleep(0.005)
    return cond()


def test_duty_changes_on_each_boundary_and_loop_sleeps_in_between(board):
    async def go():
        first = math.ceil(simclock.real_time()) + 1
        prices = [1, 2, 3, 4]
        st, outs, task, calls = await start_loop(build([price_event(first, prices)], first - 1))
        await until(lambda: len(pwm_changes()) >= 1 + len(prices) + 1, len(prices) + 3)
        await stop(task)
        return first, prices, calls[0]

    first, prices, n_calls = asyncio.run(go())
    changes = pwm_changes()
    # Power-on fail-safe, one change per boundary, fail-safe again after the last interval.
    assert [d for _, d in changes] == [111] + [p * 6500 for p in prices] + [111], changes
    for k, (t, d) in enumerate(changes[1:]):
        late_ms = (t - (first + k)) * 1000
        assert 0 <= late_ms <= LATE_MS, (k, late_ms)
    # Asleep between boundaries: a handful of wake-ups, not a tick every few ms.
    assert n_calls <= 2 * (len(prices) + 2), n_calls


def test_new_schedule_is_applied_at_once(board):
    async def go():
        now = int(simclock.real_time())
        from ven import schedule
        st, outs, task, _ = await start_loop(schedule.Schedule())
        await asyncio.sleep(0.3)
        assert pwm_changes()[-1][1] == 111
        st.schedule = build([price_event(now - 5, [7], step_s=3600)], now)
        t_set = simclock.real_time()
        st.changed.set()
        ok = await until(lambda: pwm_changes()[-1][1] == 45500, 2)
        await stop(task)
        return ok, t_set

    ok, t_set = asyncio.run(go())
    assert ok
    assert (pwm_changes()[-1][0] - t_set) * 1000 <= LATE_MS


def test_failsafe_until_the_clock_is_valid_and_status_says_why(board):
    board.unset_wall()

    async def go():
        now = int(simclock.real_time())
        st, outs, task, _ = await start_loop(build([price_event(now - 5, [3], step_s=3600)], now))
        await asyncio.sleep(0.3)
        held = (pwm_changes()[-1][1], st.outputs_reason, repr(st), st.clock.status())
        t_set = simclock.real_time()
        st.clock.set_time(int(simclock.real_time() * 1000), "test")
        ok = await until(lambda: pwm_changes()[-1][1] == 19500, 2)
        await stop(task)
        return held, ok, t_set, st.outputs_reason

    (duty, reason, text, status), ok, t_set, reason_after = asyncio.run(go())
    assert duty == 111
    assert reason.startswith("clock not valid") and "2000-01-01" in reason, reason
    assert "held at fail-safe: clock not valid" in text
    assert status.startswith("NOT valid")
    assert ok and reason_after is None
    assert (pwm_changes()[-1][0] - t_set) * 1000 <= LATE_MS


def test_clock_jump_replans_the_next_wake_up(board):
    async def go():
        now = int(simclock.real_time())
        boundary = now + 120  # far beyond the loop's 30 s cap on a sleep
        ev = price_event(now - 10, [1, 2], step_s=boundary - (now - 10))
        st, outs, task, _ = await start_loop(build([ev], now))
        await asyncio.sleep(0.3)
        before = pwm_changes()[-1][1]
        # The clock steps to 200 ms before the boundary (e.g. NTP after drift).
        st.clock.set_time((boundary * 1000) - 200, "test")
        t_step = simclock.real_time()
        ok = await until(lambda: pwm_changes()[-1][1] == 13000, 3)
        await stop(task)
        return before, ok, t_step

    before, ok, t_step = asyncio.run(go())
    assert before == 6500
    assert ok
    late_ms = (pwm_changes()[-1][0] - t_step) * 1000 - 200
    assert -LATE_MS <= late_ms <= LATE_MS, late_ms


def test_ramp_limit_steps_towards_the_new_duty(board):
    async def go():
        first = math.ceil(simclock.real_time()) + 1
        chans = channels(ramp_limit_per_s=65000)  # full scale in 1 s: 4 steps of 250 ms
        st, outs, task, _ = await start_loop(build([price_event(first, [0, 10], step_s=2)], first - 1), chans)
        await until(lambda: pwm_changes() and pwm_changes()[-1][1] == 65000, 5)
        await stop(task)
        return first

    first = asyncio.run(go())
    duties = [d for t, d in pwm_changes() if t >= first + 2 - 0.01]
    assert duties[-1] == 65000
    assert len(duties) >= 3, duties  # intermediate steps, not one jump
    assert duties == sorted(duties)
    steps = [t for t, d in pwm_changes() if t >= first + 2 - 0.01]
    assert (steps[0] - (first + 2)) * 1000 <= LATE_MS  # the first step is on the boundary


def test_each_channel_follows_its_own_payload_type(board):
    # A PRICE channel and one driven by an alert (a private type, text values: "present").
    async def go():
        now = int(simclock.real_time())
        with open(os.path.join(REPO, "configs", "default.json")) as f:
            chans = config.merge(json.load(f), {"outputs": [
                {"name": "load", "pin": PIN, "price_low": 0, "price_high": 10, "duty_at_low": 0,
                 "duty_at_high": 65000, "failsafe_duty": 111},
                {"name": "siren", "pin": 13, "payload_type": "ALERT_GRID_EMERGENCY",
                 "tiers": [[0, 0], [1, 65535]], "failsafe_duty": 0}]})["outputs"]
        alert = {"id": "alert", "intervalPeriod": {"start": "0001-01-01", "duration": "P9999Y"},
                 "intervals": [{"id": 0, "payloads": [{"type": "ALERT_GRID_EMERGENCY",
                                                       "values": ["The grid is under emergency conditions"]}]}]}
        from ven import schedule
        b = schedule.Builder(("ALERT_GRID_EMERGENCY", "PRICE"), now)
        b.add_event(price_event(now - 5, [4], step_s=3600))
        b.add_event(alert)
        st, outs, task, _ = await start_loop(b.finish(), chans)
        ok = await until(lambda: simmachine.PWMS[13].duty_u16() == 65535 and simmachine.PWMS[PIN].duty_u16() == 26000, 2)
        await stop(task)
        return ok

    assert asyncio.run(go())


def test_the_meter_records_what_the_load_got_for_setpoint_reports(board):
    # What mainloop._send_reports passes as applied(): each channel's meter. An
    # interval spent half at fail-safe (failsafe_duty 0) and half at full duty reports
    # ~50 % SETPOINT and state NORMAL (fail-safe); an inverted channel reports the load's duty.
    from ven.outputs import Outputs
    from ven.reports import Reporter
    from ven.schedule import Builder
    t0 = int(simclock.real_time()) + 10  # the meter's times go forward only: intervals ahead
    chans = channels(failsafe_duty=0)
    chans.append(dict(chans[0], name="inverted", pin=13, invert=True))
    outs = Outputs(chans)  # at fail-safe (duty 0) from now on
    for c in outs.channels:
        c.set_value(10, t0 * 1000 + 5000)     # full duty (65000) half-way through interval 0
        c.set_value(0, t0 * 1000 + 10000)     # duty 0 for interval 1
    assert simmachine.PWMS[13].duty_u16() == 65535  # the pin of the inverted channel (load at 0)
    b = Builder(("PRICE",), t0 - 1)
    ev = price_event(t0, [10, 0], step_s=10)
    ev["reportDescriptors"] = [{"payloadType": "SETPOINT", "startInterval": 0, "numIntervals": 1, "repeat": -1},
                               {"payloadType": "OPERATING_STATE", "startInterval": 0, "numIntervals": 1,
                                "repeat": -1}]
    b.add_event(ev)
    r = Reporter("ven-7", chans)
    r.update(b.reports, t0 - 1)

    def applied(ci, start, end):
        return outs.channels[ci].meter.summary(start, end)
    got = {}
    while True:
        due = r.due(t0 + 25, "3.1", applied, None)  # one report per descriptor at a time
        if not due:
            break
        for key, report in due:
            body = json.loads(b"".join(report.pieces())) if hasattr(report, "pieces") else report
            got[(body["payloadDescriptors"][0]["payloadType"], body["resources"][0]["intervals"][0]["id"])] = [
                res["intervals"][0]["payloads"][0]["values"][0] for res in body["resources"]]
            r.sent(key)
    half = round(65000 / 2 * 1000 / 65535) / 10
    assert got == {("SETPOINT", 0): [half, half], ("OPERATING_STATE", 0): ["NORMAL", "NORMAL"],
                   ("SETPOINT", 1): [0.0, 0.0], ("OPERATING_STATE", 1): ["IDLE_NORMAL", "IDLE_NORMAL"]}
