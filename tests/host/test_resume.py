"""ven.mainloop._resume at boot: a good schedule.bin is resumed; a damaged one never
stops the start (no exception), is moved to schedule.bin.bad and logged once, and
the VEN starts with an empty schedule. In process, on the simulated board."""
import array
import json
import logging

import pytest

from tests.host.simboard import board  # noqa: F401 (pytest fixture)
from ven import schedule, schedule_file, store

T0 = 1795305600  # 2026-11-22T00:00:00Z


def good_schedule():
    tr = schedule.Track(T0, array.array("i", [0, 3600]), array.array(schedule.VALUE_TYPE, [0.25, schedule.GAP]),
                        event_id="e1")
    return schedule.Schedule({"PRICE": [tr]}, {}, {"PRICE": "USD/KWH"})


def header_line(**change):
    head = {"v": schedule.FILE_VERSION, "vt": "d", "saved": T0, "units": {}, "anchors": {},
            "tracks": [["PRICE", T0, None, 0, None, 0, "e1", 2]]}
    head.update(change)
    return (json.dumps(head) + "\n").encode()


ARRAYS = [array.array("i", [0, 3600]), array.array("d", [0.25, schedule.GAP])]


def damaged(path, how):
    if how == "huge count":
        store.write_atomic(path, [header_line(tracks=[["PRICE", T0, None, 0, None, 0, "e1", 2 ** 31 - 1]])] + ARRAYS)
    elif how == "base as text":
        store.write_atomic(path, [header_line(tracks=[["PRICE", "123", None, 0, None, 0, "e1", 2]])] + ARRAYS)
    elif how == "period as text":
        store.write_atomic(path, [header_line(tracks=[["PRICE", T0, None, "123", None, 0, "e1", 2]])] + ARRAYS)
    elif how == "flipped value":
        schedule_file.save(good_schedule(), path, T0)
        with open(path, "rb") as f:
            data = bytearray(f.read())
        data[data.index(b"\n") + 1 + 8 + 7] ^= 0x40  # the top byte of the first value
        with open(path, "wb") as f:
            f.write(data)
    elif how == "garbage":
        with open(path, "wb") as f:
            f.write(b"\x00garbage" * 50)


@pytest.fixture
def resume(board, tmp_path, monkeypatch, caplog):
    from ven import mainloop
    path = str(tmp_path / "schedule.bin")
    monkeypatch.setattr(mainloop, "SCHEDULE_PATH", path)
    caplog.set_level(logging.INFO, logger="ven")

    def run():
        st = mainloop.State()
        mainloop._resume(st)
        return st, [r for r in caplog.records if r.name == "ven"]
    return path, run


def test_a_good_file_is_resumed(resume):
    path, run = resume
    schedule_file.save(good_schedule(), path, T0)
    st, records = run()
    assert st.schedule == good_schedule() and st.schedule.saved == T0
    assert [r.levelname for r in records] == ["INFO"]
    assert "resuming the schedule saved at 2026-11-22T00:00:00Z" in records[0].getMessage()


def test_no_file_starts_empty_without_a_word(resume):
    path, run = resume
    st, records = run()
    assert st.schedule == schedule.Schedule() and records == []


@pytest.mark.parametrize("how", ["huge count", "base as text", "period as text", "flipped value", "garbage"])
def test_a_damaged_file_never_stops_the_start(resume, how):
    path, run = resume
    damaged(path, how)
    with open(path, "rb") as f:
        data = f.read()
    st, records = run()  # no exception
    assert st.schedule == schedule.Schedule()
    assert [r.levelname for r in records] == ["WARNING"]
    text = records[0].getMessage()
    assert text.startswith(path + " not usable (") and text.endswith(
        "moved to %s.bad; starting without it" % path), text
    with open(path + ".bad", "rb") as f:
        assert f.read() == data
    # The next boot finds no file and says nothing more.
    st, again = run()
    assert again == records and st.schedule == schedule.Schedule()
