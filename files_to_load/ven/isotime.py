# RFC 3339 date-times and ISO 8601 durations as integer seconds.
#
# Everything here is device-independent and works on integers only: the ESP32
# has single-precision floats (about 2 minutes of resolution at today's epoch
# seconds), so a float timestamp would be wrong. All timestamps are Unix
# seconds (1970 epoch) on every port; `now()` converts from the ESP32's 2000
# epoch. `re` on MicroPython lacks {m,n} and named groups, so parsing is by hand.
#
#   parse_datetime("2026-11-22T10:00:00Z")  -> 1795341600
#   parse_duration("PT15M")                 -> 900
#   format_datetime(1795341600)             -> "2026-11-22T10:00:00Z"

import time

# Durations of P9999Y (OpenADR's "infinite") or more come back as INFINITE, so that
# start + INFINITE is later than any real timestamp (about 34,000 years).
INFINITE = 1 << 40
# OpenADR "start now" markers: 3.1 uses 0001-01-01, 3.0 used 0000-00-00.
NOW = -1

_EPOCH_2000 = 946684800  # Unix seconds at 2000-01-01T00:00:00Z


def epoch_offset(epoch_year):
    """Seconds to add to a port's time.time() for Unix time: the ESP32 counts from 2000."""
    return _EPOCH_2000 if epoch_year == 2000 else 0


_EPOCH_OFFSET = epoch_offset(time.gmtime(0)[0])



def now():
    """Current Unix time in whole seconds, whatever the port's epoch."""
    return int(time.time()) + _EPOCH_OFFSET


def now_ms():
    """Current Unix time in milliseconds (for sleeping until a boundary)."""
    return time.time_ns() // 1000000 + _EPOCH_OFFSET * 1000


def days_from_civil(y, m, d):
    # Howard Hinnant's algorithm: exact proleptic Gregorian day count from 1970-01-01.
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z):
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


def _digits(s, start, count, what):
    part = s[start:start + count]
    if len(part) != count or not part.isdigit():
        raise ValueError("bad %s in %r" % (what, s))
    return int(part)


def _days_in_month(y, m):
    if m == 2:
        return 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28
    return 30 if m in (4, 6, 9, 11) else 31


def parse_datetime(s):
    """RFC 3339 date-time -> Unix seconds (int), or NOW for OpenADR's "now" markers.

    Accepts 'T' or 't' or ' ' as separator, 'Z'/'z' or +hh:mm/-hh:mm offsets,
    fractional seconds (truncated), and a bare date (midnight UTC). A missing
    offset is read as UTC: real servers omit it, and UTC is what OpenADR uses.
    """
    if not isinstance(s, str):
        raise ValueError("date-time must be a string, got %r" % (s,))
    s = s.strip()
    if s.startswith("0001-01-01") or s.startswith("0000-00-00"):
        return NOW
    y = _digits(s, 0, 4, "year")
    if s[4:5] != "-" or s[7:8] != "-":
        raise ValueError("bad date in %r" % s)
    mo = _digits(s, 5, 2, "month")
    d = _digits(s, 8, 2, "day")
    if not 1 <= mo <= 12 or not 1 <= d <= _days_in_month(y, mo):
        raise ValueError("date out of range in %r" % s)
    secs = days_from_civil(y, mo, d) * 86400
    if len(s) == 10:
        return secs
    if s[10] not in "Tt ":
        raise ValueError("bad date/time separator in %r" % s)
    h = _digits(s, 11, 2, "hour")
    mi = _digits(s, 14, 2, "minute")
    if s[13:14] != ":":
        raise ValueError("bad time in %r" % s)
    i = 16
    sec = 0
    if s[16:17] == ":":
        sec = _digits(s, 17, 2, "second")
        i = 19
        if s[i:i + 1] in (".", ","):
            i += 1
            while i < len(s) and s[i].isdigit():
                i += 1
    if h > 23 or mi > 59 or sec > 60:
        raise ValueError("time out of range in %r" % s)
    # A leap second (:60) is folded onto the next second, as POSIX time does.
    secs += h * 3600 + mi * 60 + sec
    tz = s[i:]
    if tz in ("", "Z", "z"):
        return secs
    if tz[0] not in "+-" or len(tz) not in (3, 5, 6):
        raise ValueError("bad UTC offset in %r" % s)
    oh = _digits(tz, 1, 2, "offset hours")
    om = 0
    if len(tz) > 3:
        om = _digits(tz, len(tz) - 2, 2, "offset minutes")
    off = oh * 3600 + om * 60
    return secs - off if tz[0] == "+" else secs + off


# Calendar units have no fixed length; OpenADR uses them for "a day", "a week" and
# P9999Y. Years and months are taken as 365 and 30 days here (the User Guide
# advises against months for exactly this reason).
_DATE_UNITS = {"Y": 365 * 86400, "M": 30 * 86400, "W": 7 * 86400, "D": 86400}
_TIME_UNITS = {"H": 3600, "M": 60, "S": 1}
# ISO 8601 order: each unit at most once, in this order (the spec's pattern also
# allows W beside Y and M).
_DATE_ORDER = "YMWD"
_TIME_ORDER = "HMS"


def parse_duration(s):
    """ISO 8601 duration -> seconds (int, may be negative); P9999Y or more -> INFINITE.

    Any component may carry a fraction ("PT0.5M" = 30 s, "PT2.9S" = 2 s): each
    component is truncated to whole seconds. Hours or seconds without the T
    ("P12H") are accepted as the User Guide writes them.
    """
    if not isinstance(s, str):
        raise ValueError("duration must be a string, got %r" % (s,))
    s = s.strip().upper()
    sign = 1
    if s[:1] in ("-", "+"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s[:1] != "P" or len(s) < 2:
        raise ValueError("duration must start with P: %r" % s)
    total = 0
    years = 0
    in_time = False
    num = ""
    seen = False
    time_seen = False
    pos = 0  # index into the unit order: units must come in order, once each
    for c in s[1:]:
        if c.isdigit() or c in ".,":
            num += c
            continue
        if c == "T":
            if in_time or num:
                raise ValueError("misplaced T in %r" % s)
            in_time = True
            pos = 0
            continue
        if not in_time and c in "HS":
            # "P12H" is not ISO 8601, but the User Guide itself writes it (event.duration
            # example); H and S cannot mean anything else, so read them as "PT12H".
            in_time = True
            pos = 0
        order = _TIME_ORDER if in_time else _DATE_ORDER
        k = order.find(c, pos)
        if k < 0 or not num or num in (".", ","):
            raise ValueError("bad duration %r" % s)
        pos = k + 1
        unit = (_TIME_UNITS if in_time else _DATE_UNITS)[c]
        whole, _, frac = num.replace(",", ".").partition(".")
        if "." in frac or (frac and not frac.isdigit()) or (whole and not whole.isdigit()):
            raise ValueError("bad number in %r" % s)
        value = int(whole or "0")
        if frac and unit > 1:
            # Fractions of a unit in whole seconds (e.g. PT0.5M = 30 s).
            total += int(frac) * unit // (10 ** len(frac))
        if c == "Y" and not in_time:
            years += value
        total += value * unit
        num = ""
        seen = True
        time_seen = in_time
    if num or not seen or (in_time and not time_seen):
        raise ValueError("bad duration %r" % s)
    if years >= 9999:
        return INFINITE if sign > 0 else -INFINITE
    return sign * total


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def parse_http_date(s):
    """HTTP Date header (RFC 9110 IMF-fixdate, also the obsolete RFC 850 and asctime
    forms) -> Unix seconds. Raises ValueError.

        parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") -> 784111777
    """
    if not isinstance(s, str):
        raise ValueError("HTTP date must be a string, got %r" % (s,))
    parts = s.replace(",", " ").replace("-", " ").split()
    # IMF-fixdate: Sun 06 Nov 1994 08:49:37 GMT; RFC 850: Sunday 06 Nov 94 08:49:37 GMT;
    # asctime: Sun Nov 6 08:49:37 1994
    try:
        if len(parts) == 5 and parts[1].lower() in _MONTHS:
            mon, day, hms, year = parts[1], parts[2], parts[3], parts[4]
        elif len(parts) == 6 and parts[5].upper() in ("GMT", "UTC", "Z"):
            day, mon, year, hms = parts[1], parts[2], parts[3], parts[4]
        else:
            raise ValueError("bad HTTP date %r" % s)
        m = _MONTHS.index(mon.lower()) + 1
        y = int(year)
        if len(year) == 2:
            # RFC 9110 5.6.7: a two-digit year more than 50 years ahead is in the past.
            y += 2000 if y < 70 else 1900
        d = int(day)
        hh, mm, ss = hms.split(":")
        h, mi, sec = int(hh), int(mm), int(ss)
    except ValueError:
        raise ValueError("bad HTTP date %r" % s)
    if not (1 <= d <= _days_in_month(y, m) and 0 <= h <= 23 and 0 <= mi <= 59 and 0 <= sec <= 60):
        raise ValueError("HTTP date out of range %r" % s)
    return days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + sec


def civil_from_unix(t):
    """Unix seconds -> (year, month, day, hour, minute, second, weekday 0=Monday)."""
    days, rem = divmod(int(t), 86400)
    y, m, d = civil_from_days(days)
    # 1970-01-01 was a Thursday (3 when Monday is 0).
    return y, m, d, rem // 3600, rem // 60 % 60, rem % 60, (days + 3) % 7


def format_datetime(t):
    """Unix seconds -> 'YYYY-MM-DDThh:mm:ssZ'."""
    days, rem = divmod(int(t), 86400)
    y, m, d = civil_from_days(days)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, m, d, rem // 3600, rem // 60 % 60, rem % 60)
