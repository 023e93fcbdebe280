# The VEN's mDNS socket: questions out, responses in (RFC 6762), on both
# MicroPython firmwares the ESP32-POE may run.
#
# Firmware without a built-in mDNS responder (the micropython-mdns images):
# the socket binds UDP 5353 and joins 224.0.0.251, so it also hears
# announcements and goodbyes; questions go out from port 5353. The stock ESP32
# firmware's own responder holds 5353 once Wi-Fi is up, and the bind fails
# (EADDRINUSE): the socket then takes an ephemeral port and every question is
# a one-shot query, which responders answer by unicast straight to that port
# (RFC 6762 sections 5.1 and 6.7). Announcements are not heard in that mode,
# so the caller re-asks to notice changes.
#
# Packets are built and parsed by micropython-mdns (mdns_client.structs,
# mdns_client.parser); names are passed as lists of label bytes, so the
# library never has to encode text itself.
#
#   s = MdnsSocket("192.168.1.20")        # s.shared: True if 5353 was bound
#   s.ask([(labels(b"_openadr3._tcp.local"), TYPE_PTR)], unicast=True)
#   for data, addr in s.receive(16): ...
#   s.no_memory                           # datagrams dropped for lack of heap
#   s.close()

import select
import socket

from micropython import const

from mdns_client.constants import CLASS_IN, MDNS_ADDR, MDNS_PORT
from mdns_client.structs import DNSQuestion, DNSQuestionWrapper

# Every datagram is read into one buffer of this size, allocated with the
# socket (recvfrom would allocate a fresh block this big per datagram, which a
# fragmented heap often does not have; MicroPython has no recvfrom_into, so the
# sender's address is not known: see Cache.feed). Only the bytes received are
# copied out. An mDNS packet on the LAN fits one frame: RFC 6762 section 17
# keeps responses within the interface MTU, 1500 on Ethernet and Wi-Fi, so
# 1472 bytes of UDP payload. Larger ones (up to 9000, fragmented) do not reach
# the ESP32's lwIP, which does not reassemble IPv4 (ESP-IDF's default); on a
# host they arrive cut short and count as malformed.
RECV_SIZE = const(1472)

# RFC 6762 section 5.4: the top bit of a question's class asks for a unicast
# response ("QU"). Responders then answer at once instead of after their
# multicast aggregation delay.
QU = 0x8000


def labels(name):
    """'a.b.local' (str or bytes) -> [b'a', b'b', b'local']."""
    if isinstance(name, str):
        name = name.encode("utf-8")
    return [p for p in name.split(b".") if p]


def query_packet(questions, unicast=False):
    """One query packet asking questions [(labels, type), ...]."""
    cls = CLASS_IN | QU if unicast else CLASS_IN
    return DNSQuestionWrapper(questions=[DNSQuestion(q[0], q[1], cls) for q in questions]).to_bytes()


def _membership(local_ip):
    group = bytes([int(x) for x in MDNS_ADDR.split(".")])
    return group + bytes([int(x) for x in local_ip.split(".")])


class MdnsSocket:
    def __init__(self, local_ip):
        self.local_ip = local_ip
        self.shared = True
        self.bind_error = None  # why 5353 could not be bound, when it could not
        self.send_errors = 0
        self.no_memory = 0      # datagrams dropped because no buffer could be allocated
        self.buf = bytearray(RECV_SIZE)
        self.sock = None
        self._open()
        self._poller = select.poll()
        self._poller.register(self.sock, select.POLLIN)

    def _open(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("0.0.0.0", MDNS_PORT))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, _membership(self.local_ip))
        except OSError as e:
            # Any failure here (EADDRINUSE from the stock firmware's responder,
            # or a stack that refuses the group) leaves one-shot queries.
            sock.close()
            self.shared = False
            self.bind_error = e
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((self.local_ip, 0))
            except OSError:
                sock.close()
                raise
        sock.setblocking(False)
        self.sock = sock

    def ask(self, questions, unicast=False):
        """Send one query with questions [(labels, type), ...]. Returns False if it
        could not be sent (no route, no buffer): the caller asks again later."""
        packet = query_packet(questions, unicast)
        sock = self.sock
        if sock is None:
            return False
        try:
            sock.sendto(packet, (MDNS_ADDR, MDNS_PORT))
        except OSError:
            self.send_errors += 1
            return False
        return True

    def receive(self, limit):
        """Yields up to limit waiting datagrams, one at a time, as (data, None); never
        blocks. Each is a copy of just its bytes, so one is live at a time."""
        sock = self.sock
        for _ in range(limit):
            if sock is None or not self._poller.poll(0):
                return
            try:
                n = sock.readinto(self.buf)
                if not n:
                    return
                data = bytes(memoryview(self.buf)[:n])
            except OSError:
                return
            except MemoryError:
                # No heap block for the copy: that datagram is lost (it has been
                # read, so the next one can be). Counted; the caller logs it.
                self.no_memory += 1
                continue
            yield data, None

    def close(self):
        if self.sock is not None:
            try:
                self._poller.unregister(self.sock)
            except (OSError, KeyError, ValueError):
                pass
            self.sock.close()
            self.sock = None
