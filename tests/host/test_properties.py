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

from ven import isotime
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


# The schedule's brute-force property tests live in test_schedule_reference.py (issue 5 rules).

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
