"""The body of GET /events for the benchmarks: one price event of n intervals,
as a VTN serves it (server fields, payloadDescriptors, json.dumps spacing).

Portable (CPython and MicroPython): the memory benchmark imports it on the
MicroPython VM too, and prices are formatted from integers, so both produce
the very same bytes.

    b"".join(parts(672, 900)) -> the body; size(672, 900) -> its length
"""

START = "2026-11-22T00:00:00Z"


def price_text(i):
    # Deterministic, varied, 4 decimals: 0.0500 .. 0.4499
    return "0.%04d" % (500 + (i * 3779) % 4000)


def parts(n, step_s, ident="bench"):
    """The body as pieces: a head, one piece per interval, a tail."""
    yield ('[{"id": "%s", "programID": "1", "eventName": "prices %d x %d s", "priority": 0, '
           '"objectType": "EVENT", "createdDateTime": "2026-11-21T12:00:00Z", '
           '"modificationDateTime": "2026-11-21T12:00:00Z", '
           '"payloadDescriptors": [{"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "PRICE", '
           '"units": "KWH", "currency": "USD"}], '
           '"intervalPeriod": {"start": "%s", "duration": "PT%dS"}, "intervals": ['
           % (ident, n, step_s, START, step_s)).encode("utf-8")
    for i in range(n):
        yield ('%s{"id": %d, "payloads": [{"type": "PRICE", "values": [%s]}]}'
               % (", " if i else "", i, price_text(i))).encode("utf-8")
    yield b"]}]"


def size(n, step_s):
    total = 0
    for p in parts(n, step_s):
        total += len(p)
    return total
