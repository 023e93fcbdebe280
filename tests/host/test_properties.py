"""Property tests (hypothesis, CPython only) of the device-independent modules.

isotime against datetime, schedule against a brute-force reference built from
the event definitions, txt and config.parse_json against arbitrary input.
Examples are derandomized and nothing is written to a database, so a CI run
is repeatable; HYPOTHESIS_PROFILE=ven-thorough explores more.
"""
import datetime
import json
import math
import os
from fractions import Fraction

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ven import isotime, schedule
from ven.config import _Syntax, parse_json
from ven.txt import parse_txt, split_txt_rdata

settings.register_profile("ven-ci", max_examples=250, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ven-thorough", max_examples=5000, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
# Per test, not settings.load_profile(): that would change every other module's hypothesis too.
PROFILE = settings.get_profile("ven-thorough" if os.environ.get("HYPOTHESIS_PROFILE") == "ven-thorough" else "ven-ci")

UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)


# --------------------------------------------------------------------------
# isotime

def utc_text(dt):
    # Not strftime: glibc's %Y does not pad years below 1000.
    u = dt.astimezone(UTC)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (u.year, u.month, u.day, u.hour, u.minute, u.second)


def unix(dt):
    """Exact Unix seconds of an aware datetime, fraction dropped (floor)."""
    return (dt.replace(microsecond=0) - EPOCH) // datetime.timedelta(seconds=1)


@st.composite
def rfc3339(draw):
    """(text, aware datetime) with random offset, separator, fraction and zone spelling."""
    naive = draw(st.datetimes(min_value=datetime.datetime(1970, 1, 1),
                              max_value=datetime.datetime(2200, 12, 31, 23, 59, 59, 999999)))
    minutes = draw(st.integers(-14 * 60, 14 * 60))
    dt = naive.replace(tzinfo=datetime.timezone(datetime.timedelta(minutes=minutes)))
    text = "%04d-%02d-%02d%s%02d:%02d:%02d" % (dt.year, dt.month, dt.day, draw(st.sampled_from("Tt ")),
                                                dt.hour, dt.minute, dt.second)
    digits = draw(st.integers(0, 9))
    if digits:
        # Any number of fraction digits; only the whole seconds count.
        frac = "%06d" % dt.microsecond + "".join(draw(st.lists(st.sampled_from("0123456789"),
                                                               min_size=3, max_size=3)))
        text += draw(st.sampled_from(".,")) + frac[:digits]
    else:
        dt = dt.replace(microsecond=0)
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    if minutes == 0 and draw(st.booleans()):
        text += draw(st.sampled_from("Zz"))
    elif mm == 0 and draw(st.booleans()):
        text += "%s%02d" % (sign, hh)
    else:
        text += "%s%02d%s%02d" % (sign, hh, draw(st.sampled_from([":", ""])), mm)
    return text, dt


@PROFILE
@given(rfc3339())
def test_parse_datetime_agrees_with_datetime(case):
    text, dt = case
    assert isotime.parse_datetime(text) == unix(dt)


@PROFILE
@given(rfc3339())
def test_format_of_parse_is_the_utc_form(case):
    text, dt = case
    assert isotime.format_datetime(isotime.parse_datetime(text)) == \
        utc_text(dt)


@PROFILE
@given(st.integers(-62135596800 + 86400 * 366, 253402300799))  # 0001-01-02 .. 9999-12-31 (datetime's range)
def test_parse_of_format_round_trips(t):
    s = isotime.format_datetime(t)
    assert s == utc_text(EPOCH + datetime.timedelta(seconds=t))
    if not s.startswith("0001-01-01"):  # that date is OpenADR's "now" marker
        assert isotime.parse_datetime(s) == t


@PROFILE
@given(st.integers(-10 ** 9, 10 ** 9))
def test_days_from_civil_inverts_civil_from_days(z):
    y, m, d = isotime.civil_from_days(z)
    assert 1 <= m <= 12 and 1 <= d <= 31
    assert isotime.days_from_civil(y, m, d) == z


@PROFILE
@given(st.dates())
def test_civil_days_agree_with_date(day):
    z = (day - datetime.date(1970, 1, 1)).days
    assert isotime.days_from_civil(day.year, day.month, day.day) == z
    assert isotime.civil_from_days(z) == (day.year, day.month, day.day)


_DATE_UNIT = {"Y": 365 * 86400, "M": 30 * 86400, "W": 7 * 86400, "D": 86400}
_TIME_UNIT = {"H": 3600, "M": 60, "S": 1}


@st.composite
def durations(draw):
    """(text, seconds): random components, each maybe fractional, reference by Fraction."""
    def number():
        whole = draw(st.integers(0, 500))
        if draw(st.integers(0, 4)) == 0:
            frac = draw(st.text("0123456789", min_size=1, max_size=4))
            value = Fraction(whole) + Fraction(int(frac), 10 ** len(frac))
            return "%d%s%s" % (whole, draw(st.sampled_from(".,")), frac), value
        return str(whole), Fraction(whole)

    text, total = "", 0
    date_units = draw(st.sampled_from([["W"], ["Y", "M", "D"], ["D"], []]))
    for unit in date_units:
        if draw(st.booleans()) or unit == date_units[-1]:
            t, v = number()
            text += t + unit
            total += math.floor(v * _DATE_UNIT[unit])  # each component truncated to whole seconds
    time_part = ""
    for unit in "HMS":
        if draw(st.booleans()):
            t, v = number()
            time_part += t + unit
            total += math.floor(v * _TIME_UNIT[unit])
    if time_part:
        text += "T" + time_part
    assume(text)
    sign = draw(st.sampled_from(["", "+", "-"]))
    text = sign + "P" + text
    if draw(st.booleans()):
        text = text.lower()
    return text, -total if sign == "-" else total


@PROFILE
@given(durations())
def test_parse_duration_agrees_with_reference(case):
    text, seconds = case
    assert isotime.parse_duration(text) == seconds


@PROFILE
@given(st.integers(9999, 10 ** 6), st.sampled_from(["", "+", "-"]))
def test_huge_years_are_infinite(years, sign):
    got = isotime.parse_duration("%sP%dY" % (sign, years))
    assert got == (-isotime.INFINITE if sign == "-" else isotime.INFINITE)


@PROFILE
@given(st.one_of(st.text(max_size=40), st.text("0123456789-+:.,TtZzPYMWDHS ", max_size=40),
                 rfc3339().map(lambda c: c[0][:-1])))
def test_parsers_raise_only_value_error(text):
    for parse in (isotime.parse_datetime, isotime.parse_duration):
        try:
            result = parse(text)
        except ValueError:
            continue
        assert isinstance(result, int)


# --------------------------------------------------------------------------
# schedule: random events against a brute-force reference

BASE = 1_800_000_000  # 2027-01-15: every time below is BASE + a small offset
NOW_TEXT = "0001-01-01T00:00:00Z"
NO_PRIORITY = 2 ** 30
PRICE = "PRICE"


def iso_duration(seconds, style):
    if style == 0 or seconds == 0:
        return "PT%dS" % seconds
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "PT" + (("%dH" % h) if h else "") + (("%dM" % m) if m else "") + (("%dS" % s) if s else "")


def stamp(offset):
    return NOW_TEXT if offset == "now" else isotime.format_datetime(BASE + offset)


# An interval's value: a number, or one of the ways an interval carries no usable PRICE.
NO_VALUE = ("none-payloads", "other-type", "empty-values", "bool", "nan", "string")


@st.composite
def interval_specs(draw, ident):
    return {
        "id": ident,
        "start": draw(st.one_of(st.none(), st.none(), st.none(), st.integers(0, 150), st.just("now"))),
        "duration": draw(st.one_of(st.none(), st.none(), st.integers(0, 40))),
        "value": draw(st.one_of(st.integers(-5, 50), st.floats(-5, 50, allow_nan=False),
                                st.sampled_from(NO_VALUE))),
        "style": draw(st.integers(0, 1)),
    }


@st.composite
def event_specs(draw):
    n = draw(st.integers(1, 4))
    return {
        # Mostly well-formed; now and then "start now" or a missing start/duration.
        "start": draw(st.sampled_from(["offset"] * 6 + ["now", None]).flatmap(
            lambda k: st.integers(0, 120) if k == "offset" else st.just(k))),
        "duration": draw(st.sampled_from(["len"] * 7 + [None]).flatmap(
            lambda k: st.integers(0, 40) if k == "len" else st.just(None))),
        "intervals": [draw(interval_specs(k)) for k in range(n)],
        "order": draw(st.permutations(list(range(n)))),
        "priority": draw(st.sampled_from([None, 0, 1, 2, 3, 2 ** 31, -1, True])),
        "modified": draw(st.one_of(st.none(), st.integers(0, 10))),
        "style": draw(st.integers(0, 1)),
    }


def payloads_of(value):
    if value == "none-payloads":
        return None
    if value == "other-type":
        return [{"type": "GHG", "values": [400]}]
    if value == "empty-values":
        return [{"type": PRICE, "values": []}]
    if value == "bool":
        return [{"type": PRICE, "values": [True]}]
    if value == "nan":
        return [{"type": PRICE, "values": [float("nan")]}]
    if value == "string":
        return [{"type": PRICE, "values": ["0.3"]}]
    return [{"type": "USAGE", "values": [1]}, {"type": PRICE, "values": [value, 99]}]


def period_of(start, duration, style):
    p = {}
    if start is not None:
        p["start"] = stamp(start)
    if duration is not None:
        p["duration"] = iso_duration(duration, style)
    return p or None


def event_dict(spec, index):
    ev = {"id": "ev%d" % index, "programID": "p1", "intervals": []}
    period = period_of(spec["start"], spec["duration"], spec["style"])
    if period:
        ev["intervalPeriod"] = period
    if spec["priority"] is not None:
        ev["priority"] = spec["priority"]
    if spec["modified"] is not None:
        ev["modificationDateTime"] = stamp(spec["modified"])
    for k in spec["order"]:
        iv = spec["intervals"][k]
        d = {"id": iv["id"]}
        payloads = payloads_of(iv["value"])
        if payloads is not None:
            d["payloads"] = payloads
        own = period_of(iv["start"], iv["duration"], iv["style"])
        if own:
            d["intervalPeriod"] = own
        ev["intervals"].append(d)
    return ev


def reference_slots(specs, now):
    """(start, end, value, rank) per schedule.py's header rules, from the specs alone;
    events that cannot be placed are counted, not scheduled."""
    def at(offset):
        return now if offset == "now" else BASE + offset

    slots, bad = [], 0
    for spec in specs:
        prio = spec["priority"]
        if prio is None or prio is True or prio < 0:
            prio = NO_PRIORITY
        rank = (prio, -(BASE + spec["modified"]) if spec["modified"] is not None else 0)
        ev_start = None if spec["start"] is None else at(spec["start"])
        mine, prev_end = [], None
        for iv in spec["intervals"]:  # generated in id order
            if iv["start"] is not None:
                start = at(iv["start"])
            else:
                start = prev_end if prev_end is not None else ev_start
            duration = iv["duration"] if iv["duration"] is not None else spec["duration"]
            if start is None or duration is None:
                mine = None
                break
            prev_end = start + duration
            if not isinstance(iv["value"], str) and duration > 0:
                mine.append((start, start + duration, iv["value"], rank))
        if mine is None:
            bad += 1
        else:
            slots.extend(mine)
    return slots, bad


def reference_values(slots, t):
    """Values of the best-ranked slots covering t (a set: equal ranks tie)."""
    covering = [s for s in slots if s[0] <= t < s[1]]
    if not covering:
        return {None}
    best = min(s[3] for s in covering)
    return {s[2] for s in covering if s[3] == best}


@PROFILE
@given(st.lists(event_specs(), min_size=0, max_size=6), st.integers(0, 150),
       st.lists(st.integers(-10, 250), max_size=10))
def test_schedule_matches_brute_force(specs, now_offset, extra_times):
    now = BASE + now_offset
    events = [event_dict(s, i) for i, s in enumerate(specs)]
    slots, errors = schedule.build(events, PRICE, now)
    ref, bad = reference_slots(specs, now)
    assert len(errors) == bad
    assert sorted(slots, key=repr) == sorted(ref, key=repr)
    assert [s[0] for s in slots] == sorted(s[0] for s in slots)
    bounds = sorted({b for s in ref for b in (s[0], s[1])})
    times = set(BASE + x for x in extra_times) | {now}
    for b in bounds:
        times.update((b - 1, b, b + 1))
    for t in sorted(times):
        got = schedule.value_at(slots, t)
        assert got in reference_values(ref, t), (t - BASE, got)
        later = [b for b in bounds if b > t]
        assert schedule.next_change(slots, t) == (later[0] if later else None)


@PROFILE
@given(st.lists(event_specs(), min_size=1, max_size=6), st.integers(0, 150))
def test_distinct_ranks_give_a_unique_winner(specs, now_offset):
    # With every event's rank distinct and intervals not overlapping within an
    # event, the reference has one winner everywhere: value_at must be it.
    for i, s in enumerate(specs):
        s["priority"], s["modified"] = i % 3, i
        for iv in s["intervals"]:
            iv["start"] = None  # consecutive intervals never overlap each other
    if specs[0]["start"] is None:
        specs[0]["start"] = 0
    now = BASE + now_offset
    slots, _ = schedule.build([event_dict(s, i) for i, s in enumerate(specs)], PRICE, now)
    ref, _ = reference_slots(specs, now)
    for t in sorted({b + d for s in ref for b in (s[0], s[1]) for d in (-1, 0, 1)}):
        values = reference_values(ref, t)
        assert len(values) == 1
        assert schedule.value_at(slots, t) in values


# --------------------------------------------------------------------------
# txt: whatever comes over the LAN never raises

TXT_KEYS = {"version", "base_path", "local_url", "program_names", "requires_auth", "openapi_url", "flags"}
txt_entry = st.one_of(st.binary(max_size=40), st.text(max_size=40), st.none(), st.integers(),
                      st.builds(lambda k, v: "%s=%s" % (k, v),
                                st.sampled_from(["version", "BASE_PATH", "local_url", "program_names",
                                                 "Requires_Auth", "openapi_url", "x"]),
                                st.text(max_size=20)),
                      st.sampled_from(["requires_auth", "=", "=x", " = "]))


@PROFILE
@given(st.one_of(st.none(), st.lists(txt_entry, max_size=12)))
def test_parse_txt_never_raises(entries):
    info = parse_txt(entries)
    assert set(info) == TXT_KEYS
    assert info["requires_auth"] in (True, False, None)
    assert all(isinstance(n, str) and n and n == n.strip() for n in info["program_names"])
    assert isinstance(info["base_path"], str) and not info["base_path"].startswith("/")
    assert not info["base_path"].endswith("/")
    for k in ("version", "local_url", "openapi_url"):
        assert info[k] is None or isinstance(info[k], str)


@PROFILE
@given(st.binary(max_size=300))
def test_split_txt_rdata_never_raises(rdata):
    for data in (rdata, bytearray(rdata), memoryview(rdata)):
        out = split_txt_rdata(data)
        assert all(isinstance(s, str) and s for s in out)
    # And what it returns parses.
    parse_txt(split_txt_rdata(rdata))


@PROFILE
@given(st.lists(st.text(min_size=1, max_size=60).filter(lambda s: len(s.encode("utf-8")) <= 255), max_size=10))
def test_split_txt_rdata_round_trips(strings):
    rdata = b"".join(bytes([len(s.encode("utf-8"))]) + s.encode("utf-8") for s in strings)
    assert split_txt_rdata(rdata) == strings
    # A truncated record loses only its last string.
    if strings:
        assert split_txt_rdata(rdata[:-1]) == strings[:-1]


# --------------------------------------------------------------------------
# config.parse_json: strict JSON, same values as json.loads

def strict_loads(text):
    """CPython's json.loads without its NaN/Infinity extension: RFC 8259 JSON."""
    def reject(name):
        raise ValueError("not JSON: %s" % name)
    return json.loads(text, parse_constant=reject)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10 ** 20, 10 ** 20)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=15)

dumps_options = st.fixed_dictionaries({
    "indent": st.sampled_from([None, 0, 2, "\t"]),
    "ensure_ascii": st.booleans(),
    "sort_keys": st.booleans(),
    "separators": st.sampled_from([None, (",", ":"), (" , ", " : ")]),
})


def token_kinds(text):
    """Per character of valid JSON: 's' inside a string literal (quotes excluded),
    'n' inside a number, '.' structure (brackets, commas, colons, quotes, literals, space)."""
    kinds = []
    i = 0
    in_string = False
    while i < len(text):
        c = text[i]
        if in_string:
            if c == "\\":
                kinds += ["s", "s"]
                i += 2
                continue
            if c == '"':
                in_string = False
                kinds.append(".")
            else:
                kinds.append("s")
        elif c == '"':
            in_string = True
            kinds.append(".")
        else:
            kinds.append("n" if c in "-+0123456789.eE" else ".")
        i += 1
    return kinds


@PROFILE
@given(json_values, dumps_options)
def test_parse_json_accepts_what_json_dumps_writes(value, options):
    text = json.dumps(value, **options)
    assert parse_json(text) == strict_loads(text)
    assert parse_json(" \n\t" + text + "\r\n ") == strict_loads(text)


@PROFILE
@given(json_values.filter(lambda v: isinstance(v, (list, dict))), dumps_options, st.data())
def test_parse_json_on_single_character_deletions(value, options, data):
    text = json.dumps(value, **options)
    kinds = token_kinds(text)
    for i in data.draw(st.lists(st.integers(0, len(text) - 1), min_size=1, max_size=8, unique=True)):
        broken = text[:i] + text[i + 1:]
        try:
            expected = strict_loads(broken)
        except ValueError:
            expected = ValueError
        try:
            got = parse_json(broken)
        except ValueError:
            got = ValueError
        # parse_json never rejects what strict JSON accepts, and agrees on the value.
        if expected is not ValueError:
            assert got == expected, (broken, got, expected)
        # The syntax check alone (all MicroPython has) catches every broken
        # structure: a lost comma, colon, bracket, quote or literal letter.
        # Inside numbers and string escapes it is lenient ("05", "2.", "\u41").
        elif kinds[i] == ".":
            try:
                _Syntax(broken).check()
            except ValueError:
                continue
            raise AssertionError("syntax check accepted %r (deleted %r at %d)" % (broken, text[i], i))


@PROFILE
@given(st.text(max_size=60))
def test_parse_json_raises_only_value_error(text):
    try:
        parse_json(text)
    except (ValueError, RecursionError):
        pass
