"""Safe mode (issue 9, item 3) on a simulated board in process: the boot counter
in RTC memory (tools/hostsim machine.RTC().memory(), kept across starts as
across soft and watchdog resets) counts every start, starts anew after a
power-on reset and is cleared by a good run; after LIMIT starts in a row
without one, or with BUT1 held, ven.mainloop.main() starts in safe mode:
outputs at fail-safe, the network link up, the VEN's run() never entered, the
reason on the console and in repr(ven.mainloop.state); a watchdog left running
by the last start is set to the REPL's 25 h.
"""
import logging

import pytest

from tests.host.field_support import FAILSAFE_DUTY, REPL_MS, duties, field, wdt_starts  # noqa: F401 (fixture)
from tests.host.simboard import board  # noqa: F401 (fixture)
from tools.hostsim import clock as simclock
from tools.hostsim import machine as simmachine
from tools.hostsim import network as simnetwork


def boots():
    return bytes(simmachine.RTC().memory())


def start(monkeypatch, cause, held=False):
    from ven import safemode
    monkeypatch.setattr(simmachine, "_reset_cause", cause)
    return safemode.check(held)


def test_every_start_counts_and_the_fourth_in_a_row_is_safe(board, monkeypatch):  # noqa: F811
    assert start(monkeypatch, simmachine.PWRON_RESET) is None and boots() == b"ven-boots:1"
    assert start(monkeypatch, simmachine.WDT_RESET) is None and boots() == b"ven-boots:2"
    assert start(monkeypatch, simmachine.SOFT_RESET) is None and boots() == b"ven-boots:3"
    why = start(monkeypatch, simmachine.HARD_RESET)  # a panic resets "hard"
    assert why.startswith("3 starts in a row without a good run") and boots() == b"ven-boots:4", why
    assert "ven.safemode.clear()" in why
    assert start(monkeypatch, simmachine.WDT_RESET).startswith("4 starts in a row")  # stays safe


def test_a_power_on_reset_counts_anew(board, monkeypatch):  # noqa: F811
    simmachine.RTC().memory(b"ven-boots:9")
    assert start(monkeypatch, simmachine.PWRON_RESET) is None and boots() == b"ven-boots:1"


def test_other_rtc_memory_content_counts_as_none(board, monkeypatch):  # noqa: F811
    for junk in (b"", b"ven-boots:", b"ven-boots:x1", b"\xff" * 40, b"other program's data"):
        simmachine.RTC().memory(junk)
        assert start(monkeypatch, simmachine.WDT_RESET) is None and boots() == b"ven-boots:1", junk


def test_but1_held_at_start(board, monkeypatch):  # noqa: F811
    assert start(monkeypatch, simmachine.PWRON_RESET, held=True) == "BUT1 was held at start"
    assert boots() == b"ven-boots:1"


def test_clear_makes_the_next_start_normal(board, monkeypatch):  # noqa: F811
    from ven import safemode
    simmachine.RTC().memory(b"ven-boots:7")
    safemode.clear()
    assert boots() == b"ven-boots:0"
    assert start(monkeypatch, simmachine.WDT_RESET) is None and boots() == b"ven-boots:1"


def test_a_good_run_clears_the_counter(board):  # noqa: F811
    from ven import mainloop
    simmachine.RTC().memory(b"ven-boots:3")
    mainloop._good()
    assert boots() == b"ven-boots:0"


# -- main() in safe mode ---------------------------------------------------------------


def safe_main(field, monkeypatch, caplog, **cfg):  # noqa: F811
    from ven import mainloop
    caplog.set_level(logging.DEBUG)
    field.flash(**cfg)
    entered = []

    async def run(*args):
        entered.append(args)

    monkeypatch.setattr(mainloop, "run", run)
    assert mainloop.main() is None  # returns: to the REPL
    assert entered == [], "the VEN started in safe mode"
    st = mainloop.state
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith("SAFE MODE: "), errors
    assert duties() == [FAILSAFE_DUTY]  # set at start, never changed
    assert st.outputs.status() == {"load": (None, FAILSAFE_DUTY)}
    lan = simnetwork.LAN._shared
    assert lan is not None and lan.active() and lan.kwargs["phy_type"] == simnetwork.PHY_LAN8720
    assert lan.isconnected() or lan.status() == 1  # up, or coming up
    return st, errors[0]


def test_main_after_a_boot_loop_starts_in_safe_mode(field, monkeypatch, caplog):  # noqa: F811
    monkeypatch.setattr(simmachine, "_reset_cause", simmachine.WDT_RESET)
    simmachine.RTC().memory(b"ven-boots:3")
    st, said = safe_main(field, monkeypatch, caplog, watchdog_s=60)
    assert "3 starts in a row without a good run" in said
    assert st.safe_mode.startswith("3 starts in a row") and st.safe_mode in said
    text = repr(st)
    assert text.startswith("<State SAFE MODE (3 starts in a row") and "'load': (None, %d)" % FAILSAFE_DUTY in text
    assert "last crash:" not in text  # there was none
    # The watchdog the last start left running (it cannot be stopped) now gives the REPL 25 h.
    assert wdt_starts() == [REPL_MS]
    assert boots() == b"ven-boots:4"


def test_main_with_but1_held_at_power_on_starts_in_safe_mode(field, monkeypatch, caplog):  # noqa: F811
    simmachine.press_button_at(simclock.uptime())  # down from power-on
    st, said = safe_main(field, monkeypatch, caplog, watchdog_s=0)
    assert st.safe_mode == "BUT1 was held at start" and "SAFE MODE: BUT1 was held at start" in said
    assert "SAFE MODE (BUT1 was held at start)" in repr(st)
    assert wdt_starts() == []  # watchdog_s 0: none is started


def test_main_starts_the_ven_below_the_limit(field, monkeypatch, caplog):  # noqa: F811
    from ven import mainloop
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(simmachine, "_reset_cause", simmachine.WDT_RESET)
    simmachine.RTC().memory(b"ven-boots:2")
    field.flash()
    entered = []

    async def run(cfg, outputs, st):
        entered.append((st, boots()))

    monkeypatch.setattr(mainloop, "run", run)
    mainloop.main()  # run() returns: BUT1 stopped the VEN
    assert len(entered) == 1 and entered[0][0].safe_mode is None and entered[0][1] == b"ven-boots:3"
    assert "SAFE MODE" not in caplog.text and "SAFE MODE" not in repr(entered[0][0])
    # Someone stopped it at the board: those starts were no boot loop.
    assert boots() == b"ven-boots:0"


class Reset(BaseException):
    """The board resetting in the middle of a run (the process just ends)."""


@pytest.mark.parametrize("stop", ["button", "ctrl-c"])
def test_a_stop_at_the_board_clears_the_counter(field, monkeypatch, stop):  # noqa: F811
    # Deploys on a bench without a VTN (mpremote stops the VEN with Ctrl-C, then resets
    # the board) never add up to safe mode.
    from ven import mainloop
    field.flash()

    async def run(cfg, outputs, st):
        if stop == "ctrl-c":
            raise KeyboardInterrupt

    monkeypatch.setattr(mainloop, "run", run)
    for n in range(2 * 3):
        monkeypatch.setattr(simmachine, "_reset_cause", simmachine.HARD_RESET)  # mpremote reset
        try:
            mainloop.main()
        except KeyboardInterrupt:
            assert stop == "ctrl-c"
        assert mainloop.state.safe_mode is None and boots() == b"ven-boots:0", n


@pytest.mark.parametrize("cause", [simmachine.WDT_RESET, simmachine.SOFT_RESET])
def test_the_counter_survives_soft_and_watchdog_resets_through_main(field, monkeypatch, caplog, cause):  # noqa: F811
    # Four starts of main() in a row, each ending before a good run: the fourth is safe.
    from ven import mainloop
    field.flash()
    entered = []

    async def run(cfg, outputs, st):
        entered.append(st)
        raise Reset  # the watchdog (or a soft reset) ends the run: nobody stopped it

    monkeypatch.setattr(mainloop, "run", run)
    monkeypatch.setattr(simmachine, "_reset_cause", simmachine.PWRON_RESET)
    for n in range(4):
        try:
            mainloop.main()
        except Reset:
            pass
        monkeypatch.setattr(simmachine, "_reset_cause", cause)
    assert len(entered) == 3 and mainloop.state.safe_mode.startswith("3 starts in a row")


def test_safe_mode_with_a_network_that_does_not_start_keeps_the_repl(field, monkeypatch, caplog):  # noqa: F811
    # Safe mode is where a board with a broken PHY (or the wrong `board` key) ends up: the
    # watchdog the last start left running must still give the REPL its 25 h, and main() says why.
    from ven import mainloop

    def no_phy(self, on=None):
        raise OSError(116, "ETIMEDOUT")

    monkeypatch.setattr(simnetwork.LAN, "active", no_phy)
    monkeypatch.setattr(simmachine, "_reset_cause", simmachine.WDT_RESET)
    simmachine.RTC().memory(b"ven-boots:3")
    caplog.set_level(logging.DEBUG)
    field.flash(watchdog_s=60)
    mainloop.main()
    assert wdt_starts() == [REPL_MS]
    assert mainloop.state.safe_mode.startswith("3 starts in a row") and duties() == [FAILSAFE_DUTY]
    assert "ethernet did not start ([Errno 116] ETIMEDOUT)" in caplog.text
