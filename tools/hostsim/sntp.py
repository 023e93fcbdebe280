"""A minimal SNTP server for tests and benchmarks (host only): answers client
requests with the host's real clock (plus offset_s), in a background thread.

    with SntpServer("127.0.0.40", port=12300) as ntp:
        ...                     # config: "clock": {"ntp_servers": ["127.0.0.40:12300"]}
        ntp.enabled = False     # stop answering (requests are still counted)
        ntp.requests            # how many requests arrived

Bind it to a loopback address inside the test's network namespace.
"""
import socket
import struct
import threading

from tools.hostsim.clock import real_time

NTP_1970 = 2208988800


def ntp_timestamp(t):
    secs = int(t)
    frac = int((t - secs) * (1 << 32)) & 0xFFFFFFFF
    return struct.pack("!II", (secs + NTP_1970) & 0xFFFFFFFF, frac)


class SntpServer:
    def __init__(self, host, port=0, offset_s=0.0, stratum=2, enabled=True):
        self.host = host
        self.offset_s = offset_s
        self.stratum = stratum
        self.enabled = enabled
        self.requests = 0
        self.answered = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, port))
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(2)
        self._sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, addr = self._sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            self.requests += 1
            if not self.enabled or len(data) < 48 or data[0] & 7 != 3:
                continue
            now = real_time() + self.offset_s
            reply = bytearray(48)
            reply[0] = (0 << 6) | (4 << 3) | 4  # no leap warning, v4, server
            reply[1] = self.stratum
            reply[2] = data[2]
            reply[3] = 0xEC  # precision ~ 2**-20 s
            reply[12:16] = b"LOCL"
            reply[16:24] = ntp_timestamp(now)        # reference
            reply[24:32] = data[40:48]               # originate = the client's transmit
            reply[32:40] = ntp_timestamp(now)        # receive
            reply[40:48] = ntp_timestamp(real_time() + self.offset_s)  # transmit
            try:
                self._sock.sendto(bytes(reply), addr)
                self.answered += 1
            except OSError:
                pass
