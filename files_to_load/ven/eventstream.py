# Incremental reducer for the body of GET /events: a JSON array of events fed
# in chunks as they arrive from the socket, reduced event by event into a
# schedule.Builder. It never holds the body, nor one event's interval list:
# only the interval being read (parsed with json.loads once complete) and the
# small event fields the schedule needs. Everything else is skipped unread.
#
#   reducer = EventReducer(builder)
#   for each page: reducer.feed(chunk) ... ; n = reducer.finish()
#
# finish() ends one body (one page) and returns how many events it held, so a
# pager knows a short page was the last; the reducer then takes the next body.
# This is the sink protocol of ven.openadr (VtnClient.events_into): after
# finish(), `count` is the page's events and `new` those the builder did not
# drop as duplicates (a builder wrapped in openadr.Dedup counts `dropped`),
# so a server that ignores skip stops the paging.
# Malformed JSON raises EventStreamError (a ValueError) from feed() or finish();
# the builder's half-read event is dropped, the caller discards the builder.

import json

# Largest single interval or event field kept for json.loads: a bigger one
# (e.g. thousands of packed values) skips its event with a reason.
MAX_VALUE_BYTES = 16384
_MAX_KEY = 64

# Where we are in [ {event}, ... ]:
_TOP = 0        # before the opening [
_ELEM = 1       # expecting an event object (or ] right after [)
_AFTER = 2      # after an event: , or ]
_END = 3        # after the closing ]: only whitespace
_KEY = 4        # in an event: a key or }
_KEYSTR = 5     # inside a key
_COLON = 6
_VALUE = 7      # the first byte of a value
_EVAFTER = 8    # after a value in an event: , or }
_IVELEM = 9     # in "intervals": an interval or ]
_IVAFTER = 10   # after an interval: , or ]
_SCAN = 11      # reading (capturing or skipping) one JSON value

# Event fields the schedule needs; every other field is skipped unread.
_WANTED = (b"id", b"eventName", b"priority", b"modificationDateTime", b"duration",
           b"intervalPeriod", b"payloadDescriptors")

_SKIP = 0
_FIELD = 1
_INTERVAL = 2

_NAMES = ("before the array", "between events", "after an event", "after the array", "in an event",
          "in a key", "after a key", "before a value", "after a value", "in the intervals",
          "after an interval", "inside a value")


class EventStreamError(ValueError):
    pass


class EventReducer:
    """feed(bytes) / finish(): see the module comment."""

    def __init__(self, builder, max_value_bytes=MAX_VALUE_BYTES):
        self.builder = builder
        self.max_value = max_value_bytes
        self.count = 0       # events in the current (or last finished) body
        self.new = 0         # of those, not dropped by the builder as duplicates
        self.total = 0       # events in every body so far
        self.bytes = 0
        self._reset()

    def _reset(self):
        self._dropped = 0
        self.state = _TOP
        self.first = True
        self.key = bytearray()
        self.key_long = False
        self.kind = _SKIP
        self.ret = _TOP
        self.cap = None  # type: bytearray | None
        self.too_big = False
        self.depth = 0
        self.in_str = False
        self.esc = False
        self.scalar = False

    def _fail(self, what):
        self.builder.abort_event()
        self._reset()
        raise EventStreamError("events body: %s" % what)

    def finish(self):
        """End of one body; returns the number of events it held."""
        if self.state != _END:
            where = _NAMES[self.state]
            self._fail("ended %s (truncated or not a JSON array of events)" % where)
        n = self.count
        self.new = n - (getattr(self.builder, "dropped", 0) - self._dropped)
        self._reset()
        return n

    def feed(self, chunk):
        if not isinstance(chunk, (bytes, bytearray)):
            chunk = bytes(chunk)
        self.bytes += len(chunk)
        n = len(chunk)
        i = 0
        while i < n:
            state = self.state
            if state == _SCAN:
                i = self._scan(chunk, i, n)
                continue
            if state == _KEYSTR:
                i = self._keystr(chunk, i, n)
                continue
            c = chunk[i]
            if c == 32 or c == 10 or c == 13 or c == 9:
                i += 1
                continue
            if state == _VALUE:
                i += self._start_value(c)
                continue
            if state == _IVELEM and not (c == 93 and self.first):
                self.kind = _INTERVAL
                self.ret = _IVAFTER
                self._begin_scan(c)
                continue
            i += 1
            if state == _KEY:
                if c == 34:  # "
                    self.key = bytearray()
                    self.key_long = False
                    self.esc = False
                    self.state = _KEYSTR
                elif c == 125 and self.first:  # } of an empty event
                    self._end_event()
                else:
                    self._fail("expected a key in an event, got %r" % chr(c))
            elif state == _COLON:
                if c != 58:
                    self._fail("expected ':' after a key")
                self.state = _VALUE
            elif state == _EVAFTER:
                if c == 44:
                    self.state = _KEY
                    self.first = False
                elif c == 125:
                    self._end_event()
                else:
                    self._fail("expected ',' or '}' in an event")
            elif state == _IVELEM:  # ] of "intervals": []
                self.state = _EVAFTER
            elif state == _IVAFTER:
                if c == 44:
                    self.state = _IVELEM
                    self.first = False
                elif c == 93:
                    self.state = _EVAFTER
                else:
                    self._fail("expected ',' or ']' in the intervals")
            elif state == _ELEM:
                if c == 123:
                    self.builder.begin_event()
                    self.state = _KEY
                    self.first = True
                elif c == 93 and self.first:
                    self.state = _END
                else:
                    self._fail("expected an event object, got %r" % chr(c))
            elif state == _AFTER:
                if c == 44:
                    self.state = _ELEM
                    self.first = False
                elif c == 93:
                    self.state = _END
                else:
                    self._fail("expected ',' or ']' between events")
            elif state == _TOP:
                if c != 91:
                    self._fail("expected a JSON array of events, got %r" % chr(c))
                self.count = 0
                self._dropped = getattr(self.builder, "dropped", 0)
                self.state = _ELEM
                self.first = True
            else:  # _END
                self._fail("text after the array")

    def _end_event(self):
        self.builder.end_event()
        self.count += 1
        self.total += 1
        self.state = _AFTER

    def _keystr(self, buf, i, n):
        # Keys are short: byte by byte. One with escapes keeps its raw bytes and
        # so never matches a wanted name, which is fine: none has any.
        key = self.key
        while i < n:
            c = buf[i]
            i += 1
            if self.esc:
                self.esc = False
            elif c == 92:
                self.esc = True
            elif c == 34:
                self.state = _COLON
                return i
            if len(key) < _MAX_KEY:
                key.append(c)
            else:
                self.key_long = True
        return i

    def _start_value(self, c):
        # At the first byte of an event field's value; returns the bytes consumed.
        key = self.key
        if self.key_long:
            self.kind = _SKIP
        elif key == b"intervals" and c == 91:
            self.state = _IVELEM
            self.first = True
            return 1
        else:
            self.kind = _FIELD if key in _WANTED else _SKIP
        self.ret = _EVAFTER
        self._begin_scan(c)
        return 0

    def _begin_scan(self, c):
        self.state = _SCAN
        self.depth = 0
        self.in_str = False
        self.esc = False
        self.scalar = c not in (123, 91, 34)
        # A value that ends in the chunk it started in is parsed from one slice;
        # only one cut by a chunk boundary is gathered in self.cap.
        self.cap = None
        self.too_big = False

    def _scan(self, buf, i, n):
        start = i
        done = False
        if self.scalar:
            while i < n:
                c = buf[i]
                if c == 44 or c == 125 or c == 93 or c == 32 or c == 10 or c == 13 or c == 9:
                    done = True
                    break
                i += 1
        else:
            depth = self.depth
            in_str = self.in_str
            esc = self.esc
            while i < n:
                if in_str:
                    if esc:
                        esc = False
                        i += 1
                        continue
                    j = buf.find(b'"', i)
                    k = buf.find(b"\\", i, n if j < 0 else j)
                    if k >= 0:
                        esc = True
                        i = k + 1
                        continue
                    if j < 0:
                        i = n
                        break
                    i = j + 1
                    in_str = False
                    if depth == 0:
                        done = True
                        break
                    continue
                c = buf[i]
                i += 1
                if c == 34:
                    in_str = True
                elif c == 123 or c == 91:
                    depth += 1
                elif c == 125 or c == 93:
                    depth -= 1
                    if depth <= 0:
                        done = True
                        break
            self.depth = depth
            self.in_str = in_str
            self.esc = esc
        if self.kind == _SKIP or self.too_big:
            if done:
                self._value_done(None)
            return i
        cap = self.cap
        if (len(cap) if cap is not None else 0) + (i - start) > self.max_value:
            self.too_big = True
            self.cap = None
            if done:
                self._value_done(None)
            return i
        if done and cap is None:
            self._value_done(buf[start:i])
            return i
        if cap is None:
            self.cap = bytearray(buf[start:i])
        else:
            cap.extend(buf[start:i])
        if done:
            self._value_done(self.cap)
        return i

    def _value_done(self, data):
        kind = self.kind
        self.cap = None
        self.state = self.ret
        if kind == _SKIP:
            return
        key = bytes(self.key).decode("utf-8") if kind == _FIELD else "interval"
        if self.too_big:
            self.builder.fail_event("%s larger than %d bytes" % (key, self.max_value))
            return
        try:
            value = json.loads(data)
        except ValueError as e:
            self._fail("invalid JSON in %s (%s)" % (key, e))
            return
        if kind == _FIELD:
            self.builder.event_field(key, value)
        else:
            self.builder.interval(value)
