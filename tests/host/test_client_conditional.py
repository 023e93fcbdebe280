"""Conditional polling (ven.openadr validators, ven.mainloop._poll) against the dev VTN's
etag quirk: the second poll sends If-None-Match / If-Modified-Since from the last
answers; when every page says 304 the poll keeps the schedule in force (no new
builder, no bodies); a changed event after a 304 is picked up; when one program's
events changed and another's did not, the poll asks again without conditions (it
never kept the unchanged pages' events). Without the quirk: plain 200s, nothing sent
conditionally. The loop's own _poll on a real client; the board's modules on the
host stand-ins (tests/host/simboard.py)."""
import copy

import pytest

from tests.host.client_support import client, run, scenario, serving, switchable, vtn_cfg
from tests.host.field_support import defaults, stop
from tests.host.simboard import board  # noqa: F401 (pytest fixture)
from tests.portable import schedule_help
from ven import isotime

ADDR = "127.0.0.71"


def two_programs(price=0.3, fleet_price=0.5, etag=True):
    doc = scenario(auth=False)
    doc["programs"].append({"id": "2", "programName": "fleet"})
    ev = doc["events"][0]
    ev["intervals"][0]["payloads"][0]["values"] = [price]
    doc["events"].append({"id": "f1", "programID": "2", "priority": 5, "intervalPeriod": {
        "start": ev["intervalPeriod"]["start"], "duration": "PT1H"}, "intervals": [
        {"id": 0, "payloads": [{"type": "PRICE", "values": [fleet_price]}]}]})
    doc["quirks"] = {"etag": etag}
    return doc


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from serving(tmp_path_factory.mktemp("cond"), two_programs(), ADDR, tls=False)


@pytest.fixture
def vtn(server):
    yield from switchable(server, two_programs(), two_programs())


def since(vtn, mark):
    return [r for r in vtn.records()[mark:] if r["rel"] in ("/programs", "/events")]


class Poller:
    """The loop's poll (mainloop._poll) with one client, as _serve runs it."""

    def __init__(self, vtn, names=()):
        from ven import mainloop
        self.mainloop = mainloop
        self.vtn = vtn
        self.client = client(vtn.url, vtn_cfg(client_id="", client_secret=""))
        self.cfg = {"vtn": {"program_names": list(names)}}
        self.st = mainloop.State()
        self.now = isotime.parse_datetime(self.start())

    def start(self):
        import json
        with open(str(self.vtn.scenario_path)) as f:
            return json.load(f)["events"][0]["intervalPeriod"]["start"]

    def poll(self):
        """One poll: (builder or None, the /programs and /events exchanges it made)."""
        mark = len(self.vtn.records())

        async def go():
            await self.client.begin()
            try:
                return await self.mainloop._poll(self.client, self.cfg, ("PRICE",), self.now, self.st, True)
            finally:
                await self.client.end()
        builder, _ = run(go())
        if builder is not None:
            self.st.schedule = builder.finish()
        return builder, since(self.vtn, mark)

    def price(self):
        return self.st.schedule.value_at("PRICE", self.now + 60)


def statuses(recs):
    return [(r["rel"], r["query"].get("programID", [None])[0], r["status"]) for r in recs]


def test_unchanged_polls_send_validators_and_keep_the_schedule(board, vtn):
    p = Poller(vtn)
    first, recs1 = p.poll()
    assert first is not None and p.price() == 0.3
    assert statuses(recs1) == [("/programs", None, 200), ("/events", "1", 200), ("/events", "2", 200)]
    assert all(r["if_none_match"] is None and r["etag"] for r in recs1)
    kept = p.st.schedule
    for _ in range(2):
        again, recs = p.poll()
        assert again is None and p.st.schedule is kept  # nothing to rebuild
        assert statuses(recs) == [("/programs", None, 304), ("/events", "1", 304), ("/events", "2", 304)]
        # The validators of the last 200 to the same URL went back.
        assert [r["if_none_match"] for r in recs] == [r["etag"] for r in recs1]
        assert [r["if_modified_since"] for r in recs] == [r["last_modified"] for r in recs1]
        assert sum(len(r["response"]) for r in recs) == 0 < sum(len(r["response"]) for r in recs1)
    assert (p.client.fresh, p.client.unchanged) == (0, 3)


def test_a_change_after_304s_is_picked_up(board, vtn):
    doc = two_programs()
    del doc["programs"][1]
    del doc["events"][1]
    vtn.use(doc)
    p = Poller(vtn)
    p.poll()
    assert p.poll()[0] is None
    changed = copy.deepcopy(doc)
    changed["events"][0]["intervals"][0]["payloads"][0]["values"] = [0.7]
    vtn.use(changed)
    builder, recs = p.poll()
    assert builder is not None and p.price() == 0.7
    assert statuses(recs) == [("/programs", None, 304), ("/events", "1", 200)]
    assert recs[1]["if_none_match"] is not None  # asked conditionally, answered in full
    again, recs = p.poll()
    assert again is None and statuses(recs) == [("/programs", None, 304), ("/events", "1", 304)]


def test_one_program_changed_another_not_asks_again_plainly(board, vtn):
    p = Poller(vtn)
    p.poll()
    assert p.price() == 0.3
    vtn.use(two_programs(price=0.8))  # program 1's event changes, program 2's does not
    builder, recs = p.poll()
    assert builder is not None and p.price() == 0.8
    assert statuses(recs) == [("/programs", None, 304), ("/events", "1", 200), ("/events", "2", 304),
                              ("/programs", None, 200), ("/events", "1", 200), ("/events", "2", 200)]
    assert [r["if_none_match"] is not None for r in recs] == [True] * 3 + [False] * 3
    # Both programs' events are in the schedule again (the 304 page's too).
    assert sorted(schedule_help.events(p.st.schedule)) == ["1", "f1"]
    assert p.poll()[0] is None


def test_without_etags_every_poll_is_a_plain_200(board, vtn):
    vtn.use(two_programs(etag=False))
    p = Poller(vtn)
    for _ in range(3):
        builder, recs = p.poll()
        assert builder is not None and p.price() == 0.3
        assert statuses(recs) == [("/programs", None, 200), ("/events", "1", 200), ("/events", "2", 200)]
        assert all(r["if_none_match"] is None and r["if_modified_since"] is None and r["etag"] is None
                   for r in recs)
    assert p.client.validators == {} and p.client.unchanged == 0


def test_unchanged_programs_are_the_last_answers(board, vtn):
    # A 304 on /programs has no body: the list of the last full answer stands for it.
    p = Poller(vtn)
    p.poll()
    again, recs = p.poll()
    assert again is None and recs[0]["status"] == 304
    programs = run(p.client.programs(True))
    assert [x["id"] for x in programs] == ["1", "2"] and p.client.unchanged >= 1


def test_a_program_gone_with_its_events_leaves_the_schedule(board, vtn):
    # The program list changed but the remaining program's events did not (304): the
    # schedule in force still holds the gone program's events, so the poll asks again.
    p = Poller(vtn)
    p.poll()
    assert sorted(schedule_help.events(p.st.schedule)) == ["1", "f1"]
    doc = two_programs()
    del doc["programs"][1]
    del doc["events"][1]
    vtn.use(doc)
    builder, recs = p.poll()
    assert builder is not None and schedule_help.events(p.st.schedule) == ["1"]
    assert statuses(recs) == [("/programs", None, 200), ("/events", "1", 304),
                              ("/programs", None, 200), ("/events", "1", 200)]
    assert p.poll()[0] is None


def test_validators_of_a_failed_poll_are_not_trusted(board, vtn, tmp_path, monkeypatch):
    # The loop itself (_serve): a poll gets a changed event (200, new validators) and
    # then fails (no memory for the schedule). The schedule in force is the old one, so
    # the next poll must not take a 304 for "unchanged": it asks plainly and adopts it.
    import asyncio

    from ven import clock, config, mainloop, schedule
    from ven.outputs import Outputs
    monkeypatch.chdir(tmp_path)  # ven_state.json, schedule.bin
    doc = two_programs()
    del doc["programs"][1]
    del doc["events"][1]
    vtn.use(doc)
    cfg = config.merge(defaults(), {
        "vtn": {"url": vtn.url, "discovery_mode": "static", "poll_interval_s": 1, "retry_max_s": 2},
        "clock": {"ntp_servers": []},
        "outputs": [{"name": "load", "pin": 4, "price_low": 0, "price_high": 1}]})
    at = isotime.parse_datetime(doc["events"][0]["intervalPeriod"]["start"]) + 60
    armed = []
    failed = []
    finish = schedule.Builder.finish

    def finish_or_fail(self):
        if armed:
            armed.pop()
            failed.append(1)
            raise MemoryError("no memory for the schedule (test)")
        return finish(self)
    monkeypatch.setattr(schedule.Builder, "finish", finish_or_fail)

    class Link:
        def __init__(self):
            self.changed = asyncio.Event()

    async def until(cond, timeout_s):
        for _ in range(int(timeout_s / 0.05)):
            if cond():
                return True
            await asyncio.sleep(0.05)
        return cond()

    async def go():
        st = mainloop.State()
        st.ip = "127.0.0.1"
        st.clock = clock.Clock(cfg["clock"])
        st.outputs = Outputs(cfg["outputs"])
        task = asyncio.create_task(mainloop._serve(cfg, st, ("PRICE",), Link()))
        try:
            assert await until(lambda: st.schedule.value_at("PRICE", at) == 0.3, 5)
            mark = len(vtn.records())
            assert await until(lambda: any(r["status"] == 304 for r in vtn.records()[mark:]), 5)
            changed = copy.deepcopy(doc)
            changed["events"][0]["intervals"][0]["payloads"][0]["values"] = [0.8]
            armed.append(1)
            vtn.use(changed)
            assert await until(lambda: failed, 5)
            picked = await until(lambda: st.schedule.value_at("PRICE", at) == 0.8, 6)
            return picked, st.schedule.value_at("PRICE", at)
        finally:
            await stop(task)
    picked, value = asyncio.run(asyncio.wait_for(go(), 30))
    assert picked, "the changed event was never adopted (price still %s)" % value
