"""ven.registration's IDs file (ven_state.json): written by ven.store with a version
and a checksum; a damaged file, or one of older firmware, is moved aside with one
log line and registration goes on as if no IDs were stored (found again by name,
nothing created twice). A stand-in VTN client: no network."""
import asyncio
import json
import zlib

import pytest

from ven import store
from ven.registration import STATE_VERSION, Registration, _parse

URL = "https://vtn.example/openadr3/3.1.0"
CFG = {"vtn": {"ven_name": "ven-7", "retry_max_s": 60}, "network": {"hostname": "x"},
       "outputs": [{"name": "heater"}, {"name": "charger"}]}


class FakeVtn:
    """The VtnClient calls registration makes, over dicts; .calls records them."""

    def __init__(self, base_url=URL):
        self.base_url = base_url
        self.vens = {}
        self.resources = {}
        self.calls = []

    async def get_object(self, path):
        self.calls.append(("get", path))
        return self.vens.get(path.rsplit("/", 1)[1])

    async def find_ven(self, name):
        self.calls.append(("find_ven", name))
        return next((v for v in self.vens.values() if v["venName"] == name), None)

    async def create_ven(self, name):
        self.calls.append(("create_ven", name))
        ven = {"id": "ven%d" % len(self.vens), "venName": name}
        self.vens[ven["id"]] = ven
        return ven

    async def get_resource(self, ven_id, rid):
        self.calls.append(("get_resource", rid))
        return self.resources.get(rid)

    async def find_resource(self, ven_id, name):
        self.calls.append(("find_resource", name))
        return next((r for r in self.resources.values() if r["resourceName"] == name and r["venID"] == ven_id), None)

    async def create_resource(self, ven_id, name):
        self.calls.append(("create_resource", name))
        res = {"id": "res%d" % len(self.resources), "resourceName": name, "venID": ven_id}
        self.resources[res["id"]] = res
        return res


class Log:
    def __init__(self):
        self.lines = []

    def warning(self, fmt, *args):
        self.lines.append(("warning", fmt % args))

    def info(self, fmt, *args):
        self.lines.append(("info", fmt % args))


def register(path, vtn, log=None):
    reg = Registration(CFG, str(path), requests=lambda c: c)
    assert asyncio.run(reg.ensure(vtn, log)) is True
    return reg


@pytest.fixture
def registered(tmp_path):
    """A VTN that knows this VEN, and the IDs file the first registration wrote."""
    vtn = FakeVtn()
    path = tmp_path / "ven_state.json"
    reg = register(path, vtn)
    vtn.calls.clear()
    return vtn, path, (reg.ven_id, reg.resources)


def written(path):
    data = path.read_bytes()
    line, trailer = data.split(b"\n", 1)
    return json.loads(line), trailer, data


def test_the_ids_file_has_a_version_and_a_checksum(registered):
    vtn, path, (ven_id, resources) = registered
    head, trailer, data = written(path)
    assert head == {"v": STATE_VERSION, "vtn": URL, "ven_name": "ven-7", "ven_id": ven_id, "resources": resources}
    assert trailer == b"%08x\n" % zlib.crc32(data[:-9])
    assert resources == {"heater": "res0", "charger": "res1"}


def test_a_reboot_uses_the_stored_ids(registered):
    vtn, path, ids = registered
    before = path.read_bytes()
    log = Log()
    reg = register(path, vtn, log)
    assert (reg.ven_id, reg.resources) == ids
    assert vtn.calls == [("get", "/vens/ven0"), ("get_resource", "res0"), ("get_resource", "res1")]
    assert log.lines == [] and path.read_bytes() == before


def craft(**change):
    head = {"v": STATE_VERSION, "vtn": URL, "ven_name": "ven-7", "ven_id": "ven0",
            "resources": {"heater": "res0", "charger": "res1"}}
    head.update(change)
    return json.dumps(head).encode() + b"\n"


def flip(data, at):
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


DAMAGE = {
    # name: (what to do to a good file's bytes, text expected in the log line)
    "flipped byte": (lambda d: flip(d, 40), "checksum mismatch"),
    "flipped trailer": (lambda d: flip(d, len(d) - 3), "checksum mismatch"),
    "truncated": (lambda d: d[:len(d) // 2], "older firmware"),
    "truncated trailer": (lambda d: d[:-4], ""),
    "trailing junk": (lambda d: d + b"junk", "junk"),
    "empty": (lambda d: b"", "empty"),
    "garbage": (lambda d: b"\x00\xff garbage \x01" * 20, ""),
    "not json": (lambda d: b"{not json\n" + b"%08x\n" % zlib.crc32(b"{not json\n"), ""),
}
# Written with a valid checksum: the field checks are what refuse them.
CRAFTED = {
    "no version": json.dumps({"vtn": URL, "ven_name": "ven-7", "ven_id": "ven0", "resources": {}}).encode() + b"\n",
    "version 2": craft(v=2),
    "a list": b'["ven0"]\n',
    "ven_id a number": craft(ven_id=5),
    "ven_id missing": craft(ven_id=None),
    "resources a list": craft(resources=["res0"]),
    "resource id a number": craft(resources={"heater": 7}),
    "vtn missing": craft(vtn=None),
}


def assert_found_by_name_after_one_line(vtn, path, ids, damaged, log, why):
    assert (vtn.calls[0], vtn.calls[-2:]) == (("find_ven", "ven-7"), [("find_resource", "heater"),
                                                                      ("find_resource", "charger")])
    assert not [c for c in vtn.calls if c[0].startswith("create")]  # nothing registered twice
    bad = path.parent / (path.name + ".bad")
    assert bad.read_bytes() == damaged
    warnings = [text for level, text in log.lines if level == "warning"]
    assert len(warnings) == 1, log.lines
    assert warnings[0].startswith("%s not usable (" % path) and why in warnings[0], warnings[0]
    assert warnings[0].endswith("moved to %s; starting without it" % bad)
    # A fresh, good file replaced it.
    assert store.load(str(path), _parse) == {"v": STATE_VERSION, "vtn": URL, "ven_name": "ven-7",
                                             "ven_id": ids[0], "resources": ids[1]}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_ids_file_is_set_aside_and_the_ven_found_by_name(registered, damage):
    vtn, path, ids = registered
    how, why = DAMAGE[damage]
    damaged = how(path.read_bytes())
    path.write_bytes(damaged)
    log = Log()
    reg = register(path, vtn, log)
    assert (reg.ven_id, reg.resources) == ids
    assert_found_by_name_after_one_line(vtn, path, ids, damaged, log, why)


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_ids_of_the_wrong_type_or_version_are_set_aside(registered, case):
    vtn, path, ids = registered
    store.write_atomic(str(path), [CRAFTED[case]])
    damaged = path.read_bytes()
    log = Log()
    reg = register(path, vtn, log)
    assert (reg.ven_id, reg.resources) == ids
    assert_found_by_name_after_one_line(vtn, path, ids, damaged, log, "")


def test_the_file_of_older_firmware_is_dropped_and_nothing_created_twice(registered):
    # What the firmware before checksums wrote: one JSON object, no newline, no version.
    vtn, path, ids = registered
    old = json.dumps({"vtn": URL, "ven_name": "ven-7", "ven_id": ids[0], "resources": ids[1]}).encode()
    path.write_bytes(old)
    log = Log()
    reg = register(path, vtn, log)
    assert (reg.ven_id, reg.resources) == ids
    assert_found_by_name_after_one_line(vtn, path, ids, old, log, "written by older firmware")


def test_ids_of_another_vtn_are_not_used_but_not_damaged(registered):
    vtn, path, ids = registered
    store.write_atomic(str(path), [craft(vtn="https://other.example/openadr3/3.1.0")])
    log = Log()
    reg = register(path, vtn, log)
    assert (reg.ven_id, reg.resources) == ids and vtn.calls[0] == ("find_ven", "ven-7")
    assert log.lines == [] and not (path.parent / (path.name + ".bad")).exists()
    assert written(path)[0]["vtn"] == URL


def test_a_file_that_cannot_be_written_is_only_a_warning(tmp_path):
    log = Log()
    reg = register(tmp_path / "no-such-folder" / "ven_state.json", FakeVtn(), log)
    assert reg.ven_id == "ven0"
    assert [level for level, text in log.lines if "cannot store the VEN IDs" in text] == ["warning"]
