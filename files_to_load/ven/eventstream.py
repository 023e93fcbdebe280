# Incremental reducers for the VTN's list bodies: a JSON array fed in chunks as
# they arrive from the socket, reduced element by element. They never hold the
# body, only the element (or, for events, the interval) being read.
#
#   reducer = ItemReducer(take)          # any list: take(obj) per element
#   reducer = EventReducer(builder)      # GET /events, into a schedule.Builder
#   for each page: reducer.feed(chunk) ... ; n = reducer.finish()
#
# ItemReducer parses each element on its own (json.loads of its bytes) and
# hands it to take(), which keeps what it needs: memory is bounded by the
# largest element, not the page. EventReducer goes one level deeper: an event's
# fields come one by one (only the ones in _WANTED are parsed) and its intervals
# one at a time, so not even one event's interval list is ever held.
#
# finish() ends one body (one page) and returns how many elements it held, so
# a pager knows a short page was the last; the reducer then takes the next
# body. This is the sink protocol of ven.openadr (VtnClient.pages): after
# finish(), `count` is the page's elements and `new` those not dropped as
# duplicates (a builder wrapped in openadr.Dedup counts `dropped`; a take()
# returning False counts as dropped), so a server that ignores skip stops the
# paging. Malformed JSON raises ValueError from feed() or
# finish(); an event half read is dropped, the caller discards the builder.

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

# Event fields the schedule (and the reports) need; every other field is skipped unread.
_WANTED = (b"id", b"programID", b"eventName", b"priority", b"modificationDateTime", b"duration",
           b"intervalPeriod", b"payloadDescriptors", b"reportDescriptors")

_SKIP = 0
_FIELD = 1
_INTERVAL = 2
_ITEM = 3

_NAMES = ("before the array", "between events", "after an event", "after the array", "in an event",
          "in a key", "after a key", "before a value", "after a value", "in the intervals",
          "after an interval", "inside a value")



class _ArrayReducer:
    # The outer array and the scanning of one JSON value; subclasses decide
    # what an element is (_element) and what a scanned value means (_value).

    def __init__(self, max_value_bytes=MAX_VALUE_BYTES):
        self.max_value = max_value_bytes
        self.count = 0       # elements in the current (or last finished) body
        self.new = 0         # of those, not dropped as duplicates
        self.total = 0       # elements in every body so far
        self.bytes = 0
        self._reset()

    def _dropped_so_far(self):
        return 0

    def _element(self, c):
        # At the first byte of an element; returns the bytes consumed (subclasses).
        raise NotImplementedError

    def _value(self, kind, value):
        # A scanned value, parsed (None when too big); subclasses.
        raise NotImplementedError

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

    def _abort(self):
        pass

    def _fail(self, what):
        self._abort()
        self._reset()
        raise ValueError("list body: %s" % what)

    def finish(self):
        """End of one body; returns the number of elements it held."""
        if self.state != _END:
            where = _NAMES[self.state]
            self._fail("ended %s (truncated or not a JSON array)" % where)
        n = self.count
        self.new = n - (self._dropped_so_far() - self._dropped)
        self._reset()
        return n

    def _done_element(self):
        self.count += 1
        self.total += 1
        self.state = _AFTER

    def feed(self, chunk, i=0, n=None):
        """Body bytes chunk[i:n]; the chunk may be reused by the caller once this returns."""
        if not isinstance(chunk, (bytes, bytearray)):
            chunk = bytes(chunk)
        if n is None:
            n = len(chunk)
        self.bytes += n - i
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
            if state == _ELEM and not (c == 93 and self.first):
                i += self._element(c)
                continue
            if state == _TOP:
                if c != 91:
                    self._fail("expected a JSON array, got %r" % chr(c))
                self.count = 0
                self._dropped = self._dropped_so_far()
                self.state = _ELEM
                self.first = True
            elif state == _ELEM:  # ] right after [
                self.state = _END
            elif state == _AFTER:
                if c == 44:
                    self.state = _ELEM
                    self.first = False
                elif c == 93:
                    self.state = _END
                else:
                    self._fail("expected ',' or ']' between elements")
            elif state == _END:
                self._fail("text after the array")
            else:
                i += self._event_byte(state, c)
                continue
            i += 1

    def _event_byte(self, state, c):
        self._fail("unexpected %r" % chr(c))
        return 1

    def _keystr(self, buf, i, n):
        return n

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
                    j = buf.find(b'"', i, n)
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
        value = None
        if not self.too_big:
            try:
                value = json.loads(data)
            except ValueError as e:
                self._fail("invalid JSON in %s (%s)" % (self._what(kind), e))
                return
        self._value(kind, value)

    def _what(self, kind):
        return "an element"


class ItemReducer(_ArrayReducer):
    """Any JSON array: take(element) for each element, parsed on its own.

    take() returns False for an element it drops as a duplicate (counted out of
    `new`). An element larger than max_value_bytes is skipped and counted in
    `too_large`."""

    def __init__(self, take, max_value_bytes=MAX_VALUE_BYTES):
        self.take = take
        self.dropped = 0
        self.too_large = 0
        super().__init__(max_value_bytes)

    def _dropped_so_far(self):
        return self.dropped

    def _element(self, c):
        self.kind = _ITEM
        self.ret = _AFTER
        self._begin_scan(c)
        return 0

    def _value(self, kind, value):
        if self.too_big:
            self.too_large += 1
        elif self.take(value) is False:
            self.dropped += 1
        self._done_element()


class EventReducer(_ArrayReducer):
    """GET /events bodies into a schedule.Builder, field by field: see the module comment."""

    def __init__(self, builder, max_value_bytes=MAX_VALUE_BYTES):
        self.builder = builder
        super().__init__(max_value_bytes)

    def _dropped_so_far(self):
        return getattr(self.builder, "dropped", 0)

    def _abort(self):
        self.builder.abort_event()

    def _what(self, kind):
        return bytes(self.key).decode("utf-8") if kind == _FIELD else "interval"

    def _element(self, c):
        if c != 123:
            self._fail("expected an event object, got %r" % chr(c))
        self.builder.begin_event()
        self.state = _KEY
        self.first = True
        return 1

    def _event_byte(self, state, c):
        # One byte of structure inside an event (whitespace already skipped);
        # returns the bytes consumed (0 when a value starts there: it is scanned).
        if state == _VALUE:
            return self._start_value(c)
        if state == _IVELEM:
            if c == 93 and self.first:  # ] of "intervals": []
                self.state = _EVAFTER
                return 1
            self.kind = _INTERVAL
            self.ret = _IVAFTER
            self._begin_scan(c)
            return 0
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
        elif state == _IVAFTER:
            if c == 44:
                self.state = _IVELEM
                self.first = False
            elif c == 93:
                self.state = _EVAFTER
            else:
                self._fail("expected ',' or ']' in the intervals")
        return 1

    def _end_event(self):
        self.builder.end_event()
        self._done_element()

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

    def _value(self, kind, value):
        if self.too_big:
            self.builder.fail_event("%s larger than %d bytes" % (self._what(kind), self.max_value))
        elif kind == _FIELD:
            self.builder.event_field(bytes(self.key).decode("utf-8"), value)
        else:
            self.builder.interval(value)
