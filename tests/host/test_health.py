"""ven.health (issue 9, item 2) on a simulated board in process: the hardware
watchdog (tools/hostsim machine.WDT, which logs starts and feeds) is fed only
while both the poll path and the output path beat within their gaps; a stuck
path is logged once when it stops the feeding and once when it goes on; the
uptime survives the ticks wrap; on_good() is called once, after a good poll and
GOOD_AFTER_S up; for_repl() gives the REPL 25 h only when a watchdog runs;
watchdog_s 0 starts none. ven.mainloop.main() sets the REPL's 25 h after BUT1
and after Ctrl-C, not after a crash (the watchdog then resets the board).

The feeding period (FEED_S) and GOOD_AFTER_S are shortened by monkeypatch; gaps
are whole seconds (a path is late once it is more than its gap behind).
"""
import asyncio
import logging
import time

import pytest

from tests.host.field_support import REPL_MS, field, stop, until, wdt_feeds, wdt_starts  # noqa: F401 (fixture)
from tests.host.simboard import board  # noqa: F401 (fixture)
from tools.hostsim import sim

LOG = "test.health"


@pytest.fixture
def fast(board, monkeypatch, caplog):  # noqa: F811 (board: the simboard fixture)
    from ven import health
    monkeypatch.setattr(health, "FEED_S", 0.05)
    caplog.set_level(logging.DEBUG, logger=LOG)
    return health


def said(caplog):
    return [r.getMessage() for r in caplog.records if r.name == LOG]


def test_fed_only_while_both_paths_beat_within_their_gaps(fast, caplog):
    h = fast.Health(60, 0, logging.getLogger(LOG))
    h.gaps["outputs"] = 0  # both paths: late after 1 s without a beat
    beating = {"poll": True, "outputs": True}

    async def beater():
        while True:
            for path in beating:
                if beating[path]:
                    h.beat(path)
            await asyncio.sleep(0.02)

    async def feeds_stop_then_go_on(path):
        beating[path] = False
        stopped = time.monotonic()
        await until(lambda: h.stuck == path, 3, "%s stuck" % path)
        assert time.monotonic() - stopped >= 1.0  # not before its gap
        n = len(wdt_feeds())
        await asyncio.sleep(0.5)
        assert len(wdt_feeds()) == n, "fed while the %s path is stuck" % path
        assert max(wdt_feeds()) < stopped + 1.1
        beating[path] = True
        await until(lambda: len(wdt_feeds()) > n + 2, 2, "feeding again")
        assert h.stuck is None

    async def go():
        tasks = [asyncio.create_task(beater()), asyncio.create_task(h.run())]
        try:
            await until(lambda: len(wdt_feeds()) >= 5, 2, "feeding")
            assert wdt_starts() == [60000] and h.stuck is None
            await feeds_stop_then_go_on("poll")
            await feeds_stop_then_go_on("outputs")
            # Both paths on: fed every FEED_S.
            await asyncio.sleep(0.3)
            feeds = wdt_feeds()[-4:]
            assert max(b - a for a, b in zip(feeds, feeds[1:])) < 0.05 + 0.2
        finally:
            for t in tasks:
                await stop(t)

    asyncio.run(go())
    assert said(caplog) == [
        "no progress on the poll path for 1 s: the watchdog will reset the board",
        "the poll path goes on again: feeding the watchdog",
        "no progress on the outputs path for 1 s: the watchdog will reset the board",
        "the outputs path goes on again: feeding the watchdog"]
    assert wdt_starts() == [60000]  # started once; never set to the REPL's 25 h while running


def test_without_a_watchdog_a_stuck_path_is_still_said_once(fast, caplog):
    h = fast.Health(0, 0, logging.getLogger(LOG))

    async def go():
        task = asyncio.create_task(h.run())
        try:
            h.beat("outputs")
            await until(lambda: h.stuck == "poll", 3, "poll stuck")
            await asyncio.sleep(0.3)
        finally:
            await stop(task)

    asyncio.run(go())
    assert said(caplog) == ["no progress on the poll path for 1 s"]
    assert wdt_starts() == [] and h.wdt is None


def test_uptime_survives_the_ticks_wrap(fast, monkeypatch):
    # ticks_ms wraps every 2**30 ms (12.4 days): the board's ticks stand-in, driven by the
    # test, starts 3 s before a wrap and runs 25 days in steps of 6 hours.
    now = [sim.TICKS_PERIOD - 3000]
    monkeypatch.setattr(time, "ticks_ms", lambda: now[0] & (sim.TICKS_PERIOD - 1))
    monkeypatch.setattr(fast, "FEED_S", 0.001)
    h = fast.Health(0, 3600)
    step_ms = 6 * 3600 * 1000
    seen = []

    async def go():
        task = asyncio.create_task(h.run())
        try:
            for _ in range(100):
                now[0] += step_ms + 7  # not whole seconds: the remainders add up too
                await asyncio.sleep(0.004)
                seen.append(h.uptime())
            await asyncio.sleep(0.01)
        finally:
            await stop(task)

    asyncio.run(go())
    assert h.uptime() == (100 * (step_ms + 7)) // 1000  # 25 days and 0.7 s, past two wraps
    assert seen == sorted(seen) and seen[0] >= step_ms // 1000


def test_on_good_once_after_a_good_poll_and_good_after_s_up(fast, monkeypatch):
    monkeypatch.setattr(fast, "GOOD_AFTER_S", 1)
    polled = [False]
    good = []
    h = fast.Health(0, 3600)

    async def go():
        task = asyncio.create_task(h.run(lambda: polled[0], lambda: good.append(time.monotonic())))
        try:
            await asyncio.sleep(1.3)
            assert good == [] and not h.good  # up long enough, but no good poll yet
            polled[0] = True
            t = time.monotonic()
            await until(lambda: good, 1, "on_good")
            assert good[0] - t < 0.2
            await asyncio.sleep(0.3)
        finally:
            await stop(task)

    asyncio.run(go())
    assert len(good) == 1 and h.good


def test_on_good_not_before_good_after_s(fast, monkeypatch):
    monkeypatch.setattr(fast, "GOOD_AFTER_S", 1)
    good = []
    h = fast.Health(0, 3600)

    async def go():
        t0 = time.monotonic()
        task = asyncio.create_task(h.run(lambda: True, lambda: good.append(time.monotonic() - t0)))
        try:
            await until(lambda: good, 3, "on_good")
        finally:
            await stop(task)

    asyncio.run(go())
    assert len(good) == 1 and 1.0 <= good[0] < 1.5, good


def test_for_repl_gives_25_hours_only_when_a_watchdog_runs(fast):
    off = fast.Health(0, 3600)
    on = fast.Health(60, 3600)

    async def go():
        tasks = [asyncio.create_task(off.run()), asyncio.create_task(on.run())]
        await asyncio.sleep(0.1)
        for t in tasks:
            await stop(t)

    asyncio.run(go())
    assert wdt_starts() == [60000] and off.wdt is None  # watchdog_s 0 starts none
    off.for_repl()
    assert wdt_starts() == [60000]
    on.for_repl()
    assert wdt_starts() == [60000, REPL_MS] == [60000, 90000000]


# -- main(): the REPL keeps 25 h after BUT1 and Ctrl-C, not after a crash -----------------


def _main_with(field, monkeypatch, ending):  # noqa: F811 (field: fixture)
    from ven import mainloop
    from tools.hostsim import machine as simmachine
    field.flash(watchdog_s=60)

    async def run(cfg, outputs, st):
        st.health.wdt = simmachine.WDT(timeout=st.health.watchdog_s * 1000)  # as Health.run does
        if ending is not None:
            raise ending

    monkeypatch.setattr(mainloop, "run", run)
    mainloop.main()


def test_main_after_but1_sets_the_watchdog_for_the_repl(field, monkeypatch):  # noqa: F811
    _main_with(field, monkeypatch, None)
    assert wdt_starts() == [60000, REPL_MS]


def test_main_after_ctrl_c_sets_the_watchdog_for_the_repl(field, monkeypatch):  # noqa: F811
    with pytest.raises(KeyboardInterrupt):
        _main_with(field, monkeypatch, KeyboardInterrupt())
    assert wdt_starts() == [60000, REPL_MS]


def test_main_after_a_crash_leaves_the_watchdog_to_reset_the_board(field, monkeypatch):  # noqa: F811
    with pytest.raises(RuntimeError):
        _main_with(field, monkeypatch, RuntimeError("boom"))
    assert wdt_starts() == [60000]


def test_a_crash_before_the_watchdog_ran_starts_it(field, monkeypatch):  # noqa: F811
    # The VEN ends on an exception before Health.run started the watchdog (a MemoryError
    # while setting up): it is started then, so the board resets and tries again.
    from ven import mainloop
    field.flash(watchdog_s=60)

    async def run(cfg, outputs, st):
        raise MemoryError

    monkeypatch.setattr(mainloop, "run", run)
    with pytest.raises(MemoryError):
        mainloop.main()
    assert wdt_starts() == [60000]


def test_main_with_watchdog_s_0_starts_none(field, monkeypatch):  # noqa: F811
    from ven import mainloop

    async def run(cfg, outputs, st):
        await asyncio.wait_for(st.health.run(), 0.2)

    field.flash(watchdog_s=0)
    monkeypatch.setattr(mainloop, "run", run)
    with pytest.raises(asyncio.TimeoutError):
        mainloop.main()
    assert wdt_starts() == []
