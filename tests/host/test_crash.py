"""The crash record (issue 9, item 4) on a simulated board in process:
ven.crash.record writes the last unexpected exception (traceback, where, reset
cause, uptime, time) to crash.txt, bounded to crash.MAX bytes and atomically
(ven.store: a temporary file renamed over the old one, a CRC trailer);
crash.last() returns it once and keeps it as crash.last; ven.mainloop.main()
logs it at the next start and shows it in the state; an exception escaping
run() is logged with its traceback, recorded and re-raised (the watchdog then
resets the board).
"""
import logging
import os

import pytest

from tests.host.field_support import FAILSAFE_DUTY, duties, field  # noqa: F401 (fixture)
from tests.host.simboard import board  # noqa: F401 (fixture)
from tools.hostsim import machine as simmachine

TRAILER = 9  # ven.store: CRC-32 as 8 hex digits and "\n"


def raised(e):
    try:
        raise e
    except BaseException as caught:  # noqa: BLE001
        return caught


def deep(n):
    if n == 0:
        raise KeyError("x" * 3000)
    deep(n - 1)


def test_record_is_bounded_and_keeps_the_head_and_the_end_of_the_traceback(field, monkeypatch):
    from ven import crash
    monkeypatch.setattr(simmachine, "_reset_cause", simmachine.WDT_RESET)
    try:
        deep(40)
    except KeyError as e:
        crash.record(e, "task controller", 123456)
    data = open(crash.PATH, "rb").read()
    assert len(data) <= crash.MAX + TRAILER, len(data)
    text = crash.last()
    assert text is not None and len(text.encode()) <= crash.MAX
    head = text.splitlines()[0]
    assert head.startswith("task controller failed at 20") and head.endswith(
        ", 123456 s after the start (this start: wdt reset)"), head
    assert text.rstrip().endswith("x" * 100 + "'"), text[-200:]  # the exception itself, at the end


def test_a_short_record_is_whole(field):
    from ven import crash
    crash.record(raised(ValueError("bad value")), "the VEN", 7)
    text = crash.last()
    assert "Traceback (most recent call last)" in text and "ValueError: bad value" in text
    assert ", 7 s after the start (this start: pwron reset)" in text


def test_last_returns_it_once_then_keeps_it_as_crash_last(field):
    from ven import crash
    crash.record(raised(RuntimeError("first")), "task outputs", 1)
    text = crash.last()
    assert "RuntimeError: first" in text
    assert not os.path.exists(crash.PATH) and os.path.exists(crash.SEEN)
    with open(crash.SEEN, "rb") as f:
        assert text.encode() in f.read()
    assert crash.last() is None  # said once
    crash.record(raised(RuntimeError("second")), "task outputs", 2)
    assert "RuntimeError: second" in crash.last()  # the newer replaces the kept one
    with open(crash.SEEN, "rb") as f:
        assert b"second" in f.read()


def test_record_is_atomic(field, monkeypatch):
    # A failure mid-write (the flash full, a reset) leaves the last whole record.
    from ven import crash, store
    crash.record(raised(RuntimeError("whole")), "task clock", 1)
    before = open(crash.PATH, "rb").read()

    def full(*args):
        raise OSError(28, "ENOSPC")

    with monkeypatch.context() as m:
        m.setattr(store, "crc32", full)  # fails after the first bytes went out
        crash.record(raised(RuntimeError("cut short")), "task clock", 2)  # never raises
    assert open(crash.PATH, "rb").read() == before and not os.path.exists(crash.PATH + ".tmp")
    # A reset in the middle of a write leaves a .tmp beside the old record: never read.
    with open(crash.PATH + ".tmp", "wb") as f:
        f.write(b"task clock failed at 20")
    assert "RuntimeError: whole" in crash.last()


def test_a_damaged_record_is_moved_aside(field, caplog):
    from ven import crash
    crash.record(raised(RuntimeError("whole")), "task clock", 1)
    data = open(crash.PATH, "rb").read()
    with open(crash.PATH, "wb") as f:
        f.write(data[:-20])  # truncated
    assert crash.last(logging.getLogger("test.crash")) is None
    assert os.path.exists(crash.PATH + ".bad") and not os.path.exists(crash.PATH)
    assert "crash.txt not usable" in caplog.text


def test_record_without_memory_for_the_traceback_keeps_the_exception(field, monkeypatch):
    from ven import crash

    def no_memory(e, stream=None):
        raise MemoryError()

    monkeypatch.setattr(crash, "print_trace", no_memory)
    crash.record(raised(OSError(113, "EHOSTUNREACH")), "task network", 3)
    text = crash.last()
    assert text.splitlines()[1] == "OSError(113, 'EHOSTUNREACH')", text


def test_main_logs_the_last_record_at_start_and_the_state_shows_it(field, monkeypatch, caplog):
    from ven import crash, mainloop
    caplog.set_level(logging.DEBUG)
    field.flash()
    crash.record(raised(ZeroDivisionError("division by zero")), "task outputs", 42)
    seen = []

    async def run(cfg, outputs, st):
        seen.append(repr(st))

    monkeypatch.setattr(mainloop, "run", run)
    mainloop.main()
    st = mainloop.state
    assert st.crash.startswith("task outputs failed at ") and "ZeroDivisionError: division by zero" in st.crash
    said = [r.getMessage() for r in caplog.records if "the last run ended in a crash" in r.getMessage()]
    assert len(said) == 1 and "ZeroDivisionError: division by zero" in said[0]
    assert "\nlast crash:\ntask outputs failed at " in seen[0]
    assert os.path.exists(crash.SEEN) and not os.path.exists(crash.PATH)
    # The next start has nothing new to say.
    caplog.clear()
    mainloop.main()
    assert mainloop.state.crash is None and "the last run ended in a crash" not in caplog.text


def test_an_exception_escaping_run_is_recorded_and_re_raised(field, monkeypatch, caplog, capsys):
    from ven import crash, mainloop
    caplog.set_level(logging.DEBUG)
    field.flash()

    async def run(cfg, outputs, st):
        outputs.apply({"PRICE": 5.0})
        raise RuntimeError("escaped")

    monkeypatch.setattr(mainloop, "run", run)
    with pytest.raises(RuntimeError, match="escaped"):
        mainloop.main()
    assert "the VEN stopped: RuntimeError('escaped')" in caplog.text
    assert capsys.readouterr().err.count("RuntimeError: escaped") == 1
    assert duties()[-1] == FAILSAFE_DUTY  # the outputs at fail-safe on the way out
    text = crash.last()
    assert text.startswith("the VEN failed at ") and "RuntimeError: escaped" in text


def test_record_never_raises_without_memory(field, monkeypatch):
    # Called right after a MemoryError: no heap even for the head line. Nothing is written,
    # nothing raised (the supervisor goes on; the console has the traceback already).
    from ven import crash, isotime

    def no_memory(*args):
        raise MemoryError()

    monkeypatch.setattr(isotime, "format_datetime", no_memory)
    crash.record(raised(MemoryError()), "task controller", 5)
    assert not os.path.exists(crash.PATH)
