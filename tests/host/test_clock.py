"""ven.clock on a simulated board (in process): the SNTP client against a
loopback SNTP server, setting the board clock, validity, and the VTN's HTTP
Date header as the fallback. Servers listen on 127.0.0.4x inside the test
session's private network namespace; every wait is bounded.
"""
import asyncio
import email.utils

import pytest

from tests.conftest import needs_netns
from tests.host.simboard import board  # noqa: F401 (pytest fixture)
from tools.hostsim import clock as simclock
from tools.hostsim.sntp import SntpServer

pytestmark = needs_netns

HOST = "127.0.0.41"
HTTP_HOST = "127.0.0.42"


def clock_cfg(servers=(), fallback=False, timeout_ms=300):
    return {"ntp_servers": list(servers), "ntp_interval_s": 3600, "ntp_timeout_ms": timeout_ms,
            "http_date_fallback": fallback}


class Vtn:
    def __init__(self, base_url, connect_host=None):
        self.base_url = base_url
        self.connect_host = connect_host


class DateServer:
    """Answers every request with `status` and a Date header offset_s from the host clock."""

    def __init__(self, status=401, offset_s=0, date=True):
        self.status = status
        self.offset_s = offset_s
        self.date = date
        self.requests = []

    async def handle(self, reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        self.requests.append(head.split(b"\r\n")[0])
        lines = [b"HTTP/1.1 %d Unauthorized" % self.status, b"Content-Length: 0", b"Connection: close"]
        if self.date:
            lines.append(b"Date: " + email.utils.formatdate(simclock.real_time() + self.offset_s,
                                                            usegmt=True).encode())
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n")
        await writer.drain()
        writer.close()

    async def __aenter__(self):
        self.server = await asyncio.start_server(self.handle, HTTP_HOST, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        self.url = "http://vtn.example:%d/openadr3/3.1.0" % self.port
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        await self.server.wait_closed()


def test_sntp_query_gets_the_time(board):
    from ven import sntp
    with SntpServer(HOST) as ntp:
        before = simclock.real_time()
        got = asyncio.run(sntp.query("%s:%d" % (HOST, ntp.port), 1000))
        after = simclock.real_time()
        assert ntp.answered == 1
    # The answer is the server's clock at some instant of the exchange (the
    # half round trip added): it lies within the exchange, however loaded the machine.
    assert before - 0.005 <= got / 1000 <= after + 0.005


def test_sntp_query_times_out_without_blocking_the_loop(board):
    from ven import sntp

    async def go():
        ticks = [0]

        async def ticker():
            while True:
                await asyncio.sleep(0.01)
                ticks[0] += 1

        t = asyncio.create_task(ticker())
        t0 = simclock.real_time()
        with pytest.raises(ValueError) as e:
            await sntp.query("%s:%d" % (HOST, ntp.port), 400)
        elapsed = simclock.real_time() - t0
        t.cancel()
        return e.value, elapsed, ticks[0]

    with SntpServer(HOST, enabled=False) as ntp:
        err, elapsed, ticks = asyncio.run(go())
        assert ntp.requests == 1
    assert "no SNTP answer within 400 ms" in str(err)
    assert 0.35 < elapsed < 0.8
    assert ticks >= 20  # the ticker kept running while we waited for the answer


def test_unset_board_clock_is_invalid_until_ntp_sets_it(board):
    from ven.clock import Clock
    board.unset_wall()
    changes = []
    with SntpServer(HOST, enabled=False) as silent, SntpServer("127.0.0.43") as good:
        clk = Clock(clock_cfg(["%s:%d" % (HOST, silent.port), "127.0.0.43:%d" % good.port]),
                    on_change=lambda: changes.append(1))
        assert not clk.valid
        assert "2000-01-01" in clk.reason and "NTP" in clk.reason
        assert clk.status().startswith("NOT valid")
        assert asyncio.run(clk.sync_ntp())
    assert clk.valid and clk.source == "NTP 127.0.0.43:%d" % good.port
    assert changes == [1]
    # The board clock (what time.time() reads on the board) is now the real time.
    from ven import isotime
    assert abs(isotime.now_ms() / 1000 - simclock.real_time()) < 0.1
    assert "timeout" not in clk.status() and clk.status().startswith("valid (NTP")


def test_valid_clock_at_start_and_small_steps_do_not_replan(board):
    from ven.clock import Clock
    changes = []
    with SntpServer(HOST, offset_s=0.05) as ntp:
        clk = Clock(clock_cfg(["%s:%d" % (HOST, ntp.port)]), on_change=lambda: changes.append(1))
        assert clk.valid and "board clock" in clk.source
        assert asyncio.run(clk.sync_ntp())
    assert changes == []  # a 50 ms correction is drift, not a jump


def test_big_step_notifies(board):
    from ven.clock import Clock
    changes = []
    with SntpServer(HOST, offset_s=30) as ntp:
        clk = Clock(clock_cfg(["%s:%d" % (HOST, ntp.port)]), on_change=lambda: changes.append(1))
        assert asyncio.run(clk.sync_ntp())
    assert changes == [1]


def test_http_date_header_sets_an_invalid_clock(board):
    from ven.clock import Clock
    board.unset_wall()
    clk = Clock(clock_cfg(fallback=True))
    assert "Date header" in clk.reason
    assert clk.note_http_date("Sun, 06 Nov 1994 08:49:37 GMT")
    assert clk.valid and clk.source == "HTTP Date of the VTN"
    # Garbage is ignored; a better source is not overridden by a Date header.
    assert not clk.note_http_date("garbage")
    clk.set_time(int(simclock.real_time() * 1000), "NTP x")
    assert not clk.note_http_date("Sun, 06 Nov 1994 08:49:37 GMT")
    assert clk.source == "NTP x"


def test_http_date_off_when_disabled(board):
    from ven.clock import Clock
    board.unset_wall()
    clk = Clock(clock_cfg(fallback=False))
    assert not clk.note_http_date("Sun, 06 Nov 1994 08:49:37 GMT")
    assert not clk.valid
    assert "nothing" in clk.reason


def test_run_falls_back_to_the_vtn_date_header(board):
    from ven import isotime
    from ven.clock import Clock
    board.unset_wall()

    async def go():
        async with DateServer(status=401) as srv:
            with SntpServer(HOST, enabled=False) as ntp:
                clk = Clock(clock_cfg(["%s:%d" % (HOST, ntp.port)], fallback=True))
                task = asyncio.create_task(clk.run(lambda: Vtn(srv.url, HTTP_HOST)))
                try:
                    await asyncio.wait_for(clk.wait_valid(), 5)
                finally:
                    task.cancel()
            return clk, srv.requests

    clk, requests = asyncio.run(go())
    assert clk.valid and clk.source == "HTTP Date of the VTN"
    assert requests and requests[0].startswith(b"HEAD /openadr3/3.1.0/programs ")
    # Asked until the Date turned over: about the spacing of two answers, not +-0.5 s.
    assert 2 <= len(requests) <= 13
    assert abs(isotime.now_ms() / 1000 - simclock.real_time()) < 0.25


def test_run_without_a_vtn_or_date_keeps_trying(board):
    from ven.clock import Clock
    board.unset_wall()

    async def go():
        async with DateServer(date=False) as srv:
            clk = Clock(clock_cfg(fallback=True))
            assert not await clk.http_date(Vtn(srv.url, HTTP_HOST))
            return clk

    clk = asyncio.run(go())
    assert not clk.valid
    assert "no usable Date header" in clk.status()


def test_run_syncs_at_start_and_again_every_interval(board):
    from ven.clock import Clock

    async def go():
        with SntpServer(HOST) as ntp:
            clk = Clock(clock_cfg(["%s:%d" % (HOST, ntp.port)]))
            clk.interval_s = 0.3  # the config insists on >= 60 s; the loop does not care
            task = asyncio.create_task(clk.run())
            deadline = simclock.real_time() + 3
            while ntp.answered < 3 and simclock.real_time() < deadline:
                await asyncio.sleep(0.02)
            task.cancel()
            return ntp.answered, clk

    answered, clk = asyncio.run(go())
    assert answered >= 3
    assert clk.source.startswith("NTP ")


def http_date(offset_s=0.0):
    return email.utils.formatdate(simclock.real_time() + offset_s, usegmt=True)


def test_a_verified_date_corrects_a_clock_no_ntp_keeps(board):
    from ven import isotime
    from ven.clock import Clock
    changes = []
    clk = Clock(clock_cfg(fallback=True), on_change=lambda: changes.append(1))
    assert clk.valid and clk.source.startswith("board clock")
    # Unverified (plain http, or TLS unchecked): nothing once the clock is valid.
    assert not clk.note_http_date(http_date(30), verified=False)
    assert not clk.note_http_date(http_date(30))
    assert abs(isotime.now() - simclock.real_time()) < 2 and changes == []
    # Verified (https, certificate checked): the board clock was 30 s off; now it is right.
    assert clk.note_http_date(http_date(30), verified=True)
    assert clk.source == "HTTP Date of the VTN" and changes == [1]
    assert abs(isotime.now_ms() / 1000 - (simclock.real_time() + 30)) < 1.5
    # Within the Date's own precision: left alone.
    assert not clk.note_http_date(http_date(30.5), verified=True)
    # Set from HTTP before: verified Dates keep correcting it.
    assert clk.note_http_date(http_date(-20), verified=True)
    assert abs(isotime.now_ms() / 1000 - (simclock.real_time() - 20)) < 1.5


def test_a_verified_date_never_overrides_ntp(board):
    from ven import isotime
    from ven.clock import Clock
    clk = Clock(clock_cfg(fallback=True))
    clk.set_time(int(simclock.real_time() * 1000), "NTP x")
    assert not clk.note_http_date(http_date(300), verified=True)
    assert clk.source == "NTP x" and abs(isotime.now() - simclock.real_time()) < 2


class KeepAliveDateServer(DateServer):
    """Answers every request on a connection (kept alive) with 401 and a Date; counts connections."""

    def __init__(self):
        self.connections = 0
        self.requests = []

    async def handle(self, reader, writer):
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head.split(b"\r\n")[0])
                writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nDate: %s\r\n\r\n"
                             % http_date().encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def test_date_probes_share_one_connection(board):
    from ven import isotime
    from ven.clock import Clock
    board.unset_wall()

    async def go():
        async with KeepAliveDateServer() as srv:
            clk = Clock(clock_cfg(fallback=True))
            assert await clk.http_date(Vtn(srv.url, HTTP_HOST))
            return clk, srv

    clk, srv = asyncio.run(go())
    assert clk.valid and 2 <= len(srv.requests) <= 13
    assert all(r.startswith(b"HEAD /openadr3/3.1.0/programs ") for r in srv.requests)
    assert srv.connections == 1  # one connection (one TLS handshake on the board) for every HEAD
    assert abs(isotime.now_ms() / 1000 - simclock.real_time()) < 0.25


def test_date_probes_run_only_while_the_clock_is_invalid(board):
    from ven.clock import Clock

    async def probes(clk, seconds):
        async with KeepAliveDateServer() as srv:
            task = asyncio.create_task(clk.run(lambda: Vtn(srv.url, HTTP_HOST)))
            try:
                await asyncio.wait_for(clk.wait_valid(), 5)
                n = len(srv.requests)
                await asyncio.sleep(seconds)
                return n, len(srv.requests)
            finally:
                task.cancel()

    # Valid from the start (board clock), NTP failing: no HEAD at all.
    clk = Clock(clock_cfg(["%s:%d" % (HOST, 9)], fallback=True, timeout_ms=50))
    clk.interval_s = 0.2
    assert asyncio.run(probes(clk, 0.8)) == (0, 0)
    # Not valid: probes until the Date sets it, then none, however often run() loops.
    board.unset_wall()
    clk = Clock(clock_cfg(fallback=True))
    clk.interval_s = 0.2
    n, later = asyncio.run(probes(clk, 0.8))
    assert n >= 2 and later == n
