# The VEN's own SNTP client (RFC 4330): one 48-byte request on a non-blocking
# UDP socket, the answer awaited from asyncio and checked against the request,
# so the button and the outputs stay responsive (ntptime.settime() blocks for
# up to a second). Loaded by ven.clock for each synchronisation, then let go.
#
#   unix_ms = await sntp.query("192.0.2.1", timeout_ms=1000)   # or "host:port"

import asyncio
import errno
import time

NTP_PORT = 123
_NTP_1970 = 2208988800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01


def split_server(entry):
    """"host" or "host:port" -> (host, port)."""
    host, sep, port = entry.rpartition(":")
    if sep and port.isdigit() and host:
        return host, int(port)
    return entry, NTP_PORT


def request(nonce):
    """A 48-byte SNTP client request (v4, mode 3) whose transmit timestamp is `nonce` (8 bytes)."""
    pkt = bytearray(48)
    pkt[0] = 0x23  # LI 0, version 4, mode 3 (client)
    pkt[40:48] = nonce
    return pkt


def parse(data, nonce, rtt_ms=0):
    """Unix time in ms from a server reply to request(nonce); ValueError if unusable."""
    if len(data) < 48:
        raise ValueError("short SNTP reply (%d bytes)" % len(data))
    li = data[0] >> 6
    mode = data[0] & 7
    stratum = data[1]
    if mode != 4:
        raise ValueError("not an SNTP server reply (mode %d)" % mode)
    if bytes(data[24:32]) != bytes(nonce):
        raise ValueError("SNTP reply to another request")
    if li == 3 or stratum == 0 or stratum > 15:
        raise ValueError("SNTP server not synchronised (leap %d, stratum %d)" % (li, stratum))
    secs = int.from_bytes(data[40:44], "big")
    frac = int.from_bytes(data[44:48], "big")
    if secs == 0 and frac == 0:
        raise ValueError("SNTP reply without a time")
    if secs < 0x80000000:
        secs += 0x100000000  # NTP era 1 (from 2036-02-07)
    return (secs - _NTP_1970) * 1000 + ((frac * 1000) >> 32) + rtt_ms // 2


async def query(entry, timeout_ms=1000):
    """Ask one SNTP server ("host" or "host:port"); returns Unix time in ms.
    Raises ValueError (a useless answer, none in time) or OSError."""
    import os
    import socket
    host, port = split_server(entry)
    addr = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)[0][-1]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setblocking(False)
        nonce = os.urandom(8)
        t0 = time.ticks_ms()
        s.sendto(request(nonce), addr)
        while True:
            try:
                data = s.recv(96)
            except OSError as e:
                if e.errno != errno.EAGAIN:  # EAGAIN: nothing yet
                    raise
            else:
                try:
                    return parse(data, nonce, time.ticks_diff(time.ticks_ms(), t0))
                except ValueError as e:
                    if "another request" not in str(e):
                        raise
            if time.ticks_diff(time.ticks_ms(), t0) >= timeout_ms:
                raise ValueError("no SNTP answer within %d ms" % timeout_ms)
            await asyncio.sleep(0.01)
    finally:
        s.close()
