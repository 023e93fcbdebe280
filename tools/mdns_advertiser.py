"""Test advertisers for `_openadr3._tcp`, built on python-zeroconf.

`Advertiser` is a normal python-zeroconf responder (probing skipped) that
publishes VTN services with the TXT variants a real site may show (VARIANTS),
says goodbye, and moves services to a new port or address. `UnicastOnlyResponder`
answers queries by unicast only: it never multicasts, never announces and
never sends goodbyes, like some embedded responders.

    adv = Advertiser("10.254.7.1")
    adv.add("My VTN", 8080, "spec", host="myvtn")     # TXT of the Definition's example
    adv.remove("My VTN")                                # goodbye (TTL 0)
    adv.add("My VTN", 8081, "http_url", host="myvtn")   # re-advertised on a new port
    adv.close()

    python -m tools.mdns_advertiser --ip ADDR --instance NAME --port N [--variant V]
        [--host LABEL] [--unicast-only]
prints "ready" and serves until stdin closes or SIGTERM; on stdin, "goodbye",
"port N" (move) and "quit" are understood. Run it inside a private network
namespace (tools.netns): it multicasts on ADDR's interface.
"""
import argparse
import asyncio
import select
import socket
import sys
import threading

SERVICE_TYPE = "_openadr3._tcp.local."
BASE_PATH = "openadr3/3.1.0"


def lp(*items):
    """Raw TXT rdata: each string prefixed by its length."""
    out = b""
    for s in items:
        b = s.encode("utf-8") if isinstance(s, str) else s
        out += bytes([len(b)]) + b
    return out


def _spec(host, port, ip, scheme="https", version="3.1.0"):
    origin = "%s://%s.local:%d" % (scheme, host, port)
    return ["version=" + version, "base_path=" + BASE_PATH, "local_url=%s/%s" % (origin, BASE_PATH),
            "program_names=local", "requires_auth=False", "openapi_url=%s/openapi.yaml" % origin]


# name -> (function of host label, port, address) giving the TXT strings,
# and whether the SRV target gets an address record.
VARIANTS = {
    # The Definition's example, https local_url and all six keys.
    "spec": (lambda h, p, ip: _spec(h, p, ip), True),
    "http_url": (lambda h, p, ip: _spec(h, p, ip, "http"), True),
    "version_3_1": (lambda h, p, ip: _spec(h, p, ip, "http", "3.1"), True),
    "version_3_0_1": (lambda h, p, ip: _spec(h, p, ip, "http", "3.0.1"), True),
    "version_2": (lambda h, p, ip: _spec(h, p, ip, "http", "2.0b"), True),
    # Only a version: the URL comes from the SRV record alone.
    "missing_keys": (lambda h, p, ip: ["version=3.1.0"], True),
    "no_txt": (lambda h, p, ip: [], True),
    "odd_case": (lambda h, p, ip: ["VERSION=3.1.0", "Base_Path=/%s/" % BASE_PATH, "Program_Names=,local,,",
                                   "Requires_Auth=TRUE", "LOCAL_URL=http://%s.local:%d/%s" % (h, p, BASE_PATH)], True),
    "bare_flags": (lambda h, p, ip: ["version=3.1.0", "base_path=" + BASE_PATH, "requires_auth", "experimental"], True),
    # local_url names an IP: the SRV target's .local name is preferred when it resolves ...
    "ip_in_url": (lambda h, p, ip: ["version=3.1.0", "local_url=http://%s:%d/%s" % (ip, p, BASE_PATH)], True),
    # ... and the IP is used when the target has no address record at all.
    "ip_only": (lambda h, p, ip: ["version=3.1.0", "local_url=http://%s:%d/%s" % (ip, p, BASE_PATH)], False),
    # A real VTN's quirk: the SRV target is the instance name itself (INSTANCE_TARGET),
    # with no address record, and the URLs name the IP.
    "srv_instance_target": (lambda h, p, ip: ["version=3.1.0", "base_path=" + BASE_PATH,
                                              "local_url=http://%s:%d/%s" % (ip, p, BASE_PATH),
                                              "program_names=local", "requires_auth=False",
                                              "openapi_url=http://%s:%d/openapi.yaml" % (ip, p)], False),
}
# Variants whose SRV target is "<instance>._openadr3._tcp.local." rather than "<host>.local.".
INSTANCE_TARGET = ("srv_instance_target",)


def txt_rdata(variant, host, port, ip, programs=None):
    make, _ = VARIANTS[variant]
    items = make(host, port, ip)
    if programs is not None:
        items = [i for i in items if not i.lower().startswith("program_names=")]
        items.append("program_names=" + ",".join(programs))
    return lp(*items)


def service_info(instance, port, variant, host, ip, programs=None, priority=0, weight=0, txt=None):
    from zeroconf import ServiceInfo
    with_address = VARIANTS[variant][1] if variant else True
    name = "%s.%s" % (instance, SERVICE_TYPE)
    return ServiceInfo(SERVICE_TYPE, name, port=port, priority=priority,
                       weight=weight, server=name if variant in INSTANCE_TARGET else "%s.local." % host,
                       properties=txt if txt is not None else txt_rdata(variant, host, port, ip, programs),
                       addresses=[socket.inet_aton(ip)] if with_address else [])


class Advertiser:
    """A python-zeroconf responder on one IPv4 address only."""

    def __init__(self, ip):
        from zeroconf import IPVersion, Zeroconf
        self.ip = ip
        self.zc = Zeroconf(interfaces=[ip], ip_version=IPVersion.V4Only)
        self.infos = {}
        self._announcing = {}

    def add(self, instance, port, variant="http_url", host="vtn", programs=None, priority=0, weight=0,
            address=None, txt=None):
        info = service_info(instance, port, variant, host, address or self.ip, programs, priority, weight, txt)
        # No probing (these tests own the namespace), and no waiting for the
        # three announcements, which go out in the background.
        self._announcing[instance] = asyncio.run_coroutine_threadsafe(
            self.zc.async_register_service(info, cooperating_responders=True), self.zc.loop).result(10)
        self.infos[instance] = info
        return info

    def _settle(self, instance):
        # Let the registration's announcements finish first: one sent after a
        # goodbye would bring the service back.
        task = self._announcing.pop(instance, None)
        if task is not None:
            async def wait():
                await task
            asyncio.run_coroutine_threadsafe(wait(), self.zc.loop).result(10)

    def remove(self, instance):
        """Goodbye: the service's records with TTL 0."""
        self._settle(instance)
        self.zc.unregister_service(self.infos.pop(instance))

    def update(self, instance, port=None, address=None, variant="http_url", host="vtn", programs=None):
        """Re-announce with a new port and/or address (cache-flush records)."""
        self._settle(instance)
        old = self.infos[instance]
        info = service_info(instance, port or old.port, variant, host, address or self.ip, programs,
                            old.priority, old.weight)
        self.zc.update_service(info)
        self.infos[instance] = info
        return info

    def close(self):
        self.zc.close()  # goodbyes for whatever is still registered


class UnicastOnlyResponder:
    """Answers questions about its services by unicast to the asker; nothing else."""

    def __init__(self, ip):
        self.ip = ip
        self.infos = []
        self.answered = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self.sock.bind(("", 5353))
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                             socket.inet_aton("224.0.0.251") + socket.inet_aton(ip))
        self._stop_r, self._stop_w = socket.socketpair()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def add(self, instance, port, variant="http_url", host="vtn", programs=None):
        self.infos.append(service_info(instance, port, variant, host, self.ip, programs))

    def _answers(self, question):
        from zeroconf.const import _TYPE_A, _TYPE_ANY, _TYPE_PTR, _TYPE_SRV, _TYPE_TXT
        name = question.name.lower()
        t = question.type
        out = []
        for info in self.infos:
            if name == SERVICE_TYPE.lower() and t in (_TYPE_PTR, _TYPE_ANY):
                out += [info.dns_pointer(), info.dns_service(), info.dns_text()] + info.dns_addresses()
            elif name == info.name.lower() and t in (_TYPE_SRV, _TYPE_TXT, _TYPE_ANY):
                out += [info.dns_service(), info.dns_text()] + info.dns_addresses()
            elif info.server and name == info.server.lower() and t in (_TYPE_A, _TYPE_ANY):
                out += info.dns_addresses()
        return out

    def _serve(self):
        from zeroconf import DNSIncoming, DNSOutgoing
        from zeroconf.const import _FLAGS_AA, _FLAGS_QR_RESPONSE
        while True:
            ready, _, _ = select.select([self.sock, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            data, addr = self.sock.recvfrom(9000)
            msg = DNSIncoming(data)
            if not msg.valid or not msg.is_query():
                continue
            out = DNSOutgoing(_FLAGS_QR_RESPONSE | _FLAGS_AA, False, msg.id)
            answers = []
            for q in msg.questions:
                for r in self._answers(q):
                    if r not in answers:
                        answers.append(r)
                if addr[1] != 5353:
                    out.add_question(q)  # legacy unicast: repeat the question (RFC 6762 6.7)
            if not answers:
                continue
            for r in answers:
                out.add_answer_at_time(r, 0)
            for packet in out.packets():
                self.sock.sendto(packet, addr)
            self.answered += 1

    def close(self):
        self._stop_w.send(b"x")
        self.thread.join(5)
        self.sock.close()
        self._stop_r.close()
        self._stop_w.close()


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.mdns_advertiser")
    p.add_argument("--ip", required=True)
    p.add_argument("--instance", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--variant", default="http_url", choices=sorted(VARIANTS))
    p.add_argument("--host", default="vtn", help="SRV target label (<host>.local.)")
    p.add_argument("--unicast-only", action="store_true")
    args = p.parse_args(argv)
    if args.unicast_only:
        adv = UnicastOnlyResponder(args.ip)
        adv.add(args.instance, args.port, args.variant, args.host)
    else:
        adv = Advertiser(args.ip)
        adv.add(args.instance, args.port, args.variant, args.host)
    print("ready", flush=True)
    try:
        for line in sys.stdin:
            cmd = line.split()
            if not cmd:
                continue
            if cmd[0] == "quit":
                break
            if cmd[0] == "goodbye" and not args.unicast_only:
                adv.remove(args.instance)
            elif cmd[0] == "port" and not args.unicast_only:
                adv.update(args.instance, port=int(cmd[1]), variant=args.variant, host=args.host)
            print("ok " + cmd[0], flush=True)
    finally:
        adv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
