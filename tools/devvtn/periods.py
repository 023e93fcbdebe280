"""RFC 3339 times and ISO 8601 durations of OpenADR 3 events, for the `active` filter.

Host-side and approximate on purpose: a year counts 365 days and a month 30,
which only matters for events that last months; "P9999Y" means forever.
"""

import datetime
import re

# The duration pattern of the OpenADR 3.1.0 schema (components/schemas/duration).
_DURATION = re.compile(
    r"^(-?)P(?=\d|T\d)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)([DW]))?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")

# The User Guide's "start is now" marker.
_NOW_START = "0001-01-01"


def parse_duration(text):
    """'PT1H' -> 3600.0 seconds. Raises ValueError on anything else."""
    m = _DURATION.match(text or "")
    if not m:
        raise ValueError("not an ISO 8601 duration: %r" % (text,))
    sign, years, months, days, unit, hours, minutes, seconds = m.groups()
    total = (int(years or 0) * 365 + int(months or 0) * 30) * 86400.0
    total += int(days or 0) * (7 if unit == "W" else 1) * 86400.0
    total += int(hours or 0) * 3600.0 + int(minutes or 0) * 60.0 + float(seconds or 0)
    return -total if sign else total


def parse_datetime(text):
    """RFC 3339 -> epoch seconds (float). Naive times are taken as UTC."""
    dt = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp()


def event_end(event):
    """Epoch seconds when the event's last interval ends, or None if open or unknown."""
    period = event.get("intervalPeriod") or {}
    try:
        if str(period.get("start", "")).startswith(_NOW_START):
            return None
        if event.get("duration") and period.get("start"):
            return parse_datetime(period["start"]) + parse_duration(event["duration"])
        end = None
        for index, interval in enumerate(event.get("intervals") or ()):
            own = interval.get("intervalPeriod") or {}
            length = parse_duration(own.get("duration") or period.get("duration") or "PT0S")
            if own.get("start"):
                if str(own["start"]).startswith(_NOW_START):
                    return None
                start = parse_datetime(own["start"])
            elif period.get("start"):
                # Intervals without their own period follow one another (User Guide).
                start = parse_datetime(period["start"]) + index * length
            else:
                return None
            end = start + length if end is None else max(end, start + length)
        return end
    except (ValueError, TypeError, OverflowError):
        # A malformed period is the VEN's problem to report, not a reason to hide it.
        return None
