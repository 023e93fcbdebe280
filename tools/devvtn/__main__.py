"""Command line of the development VTN; see tools/devvtn/__init__.py."""

import argparse
import ipaddress
import os
import signal
import sys
import threading

from tools.devvtn.advertise import Advertiser, hostname_from_instance
from tools.devvtn.app import DEFAULT_BASE_PATH, VtnApp
from tools.devvtn.faults import parse_cli_rule
from tools.devvtn.quirks import QUIRKS, check_name
from tools.devvtn.scenario import ScenarioStore
from tools.devvtn.server import DevVtnServer

# The spec is served at /openapi.yaml only where this checkout has it next door.
DEFAULT_OPENAPI = os.environ.get("OPENADR_OPENAPI_FILE",
                                 "/work/shared/spec/3.1.0/openadr3.yaml")
RELOAD_CHECK_S = 0.5


def _ipv4(text):
    try:
        addr = ipaddress.IPv4Address(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not an IPv4 address" % text)
    if addr.is_unspecified:
        # Binding everywhere would also answer on real interfaces: say where.
        raise argparse.ArgumentTypeError("give one address to bind, not 0.0.0.0")
    return str(addr)


def _port(text):
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("port %d is outside 0..65535" % port)
    return port


def _fault(text):
    try:
        return parse_cli_rule(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def _quirk(text):
    try:
        return check_name(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m tools.devvtn",
                                description="Development OpenADR 3.1.0 VTN (HTTP, in memory).")
    p.add_argument("--scenario", required=True, help="scenario JSON file (re-read when it changes)")
    p.add_argument("--host", required=True, type=_ipv4, help="IPv4 address to bind and advertise")
    p.add_argument("--port", required=True, type=_port, help="TCP port (0: any free port)")
    p.add_argument("--no-advertise", action="store_true", help="do not publish over mDNS")
    p.add_argument("--name", default="Dev VTN", help="DNS-SD instance name (default: Dev VTN)")
    p.add_argument("--hostname", help="SRV target label, <hostname>.local. (default: from --name)")
    p.add_argument("--base-path", default=DEFAULT_BASE_PATH, help="default: " + DEFAULT_BASE_PATH)
    p.add_argument("--openapi-file", default=DEFAULT_OPENAPI,
                   help="YAML served at /openapi.yaml when it exists")
    p.add_argument("--fault", action="append", type=_fault, default=[], metavar="K=V[,K=V]",
                   help="fault rule for the whole run (see tools/devvtn/faults.py); repeatable")
    p.add_argument("--quirk", action="append", type=_quirk, default=[], metavar="NAME",
                   help="imitate a real VTN's quirk for the whole run (see tools/devvtn/quirks.py; "
                        "the scenario's \"quirks\" switches win); repeatable; one of: " + ", ".join(QUIRKS))
    p.add_argument("--quiet", action="store_true", help="no per-request log on stderr")
    p.add_argument("--tls-dir", metavar="DIR",
                   help="serve HTTPS with a CA and server certificate generated at start (for the "
                        "SRV host name .local, the bind address and localhost); the CA goes to DIR/ca.pem")
    p.add_argument("--spec-version", choices=("3.1.0", "3.0.1"), default="3.1.0",
                   help="API shape to serve (default 3.1.0); 3.0.1 has no /auth/server and nests resources")
    p.add_argument("--record", metavar="PATH", help="append every request and answer to PATH as JSON lines")
    p.add_argument("--no-gzip", action="store_true", help="never gzip responses")
    return p.parse_args(argv)


def tls_context(tls_dir, names):
    """Server SSLContext from a fresh CA; writes tls_dir/ca.pem for clients."""
    import ssl

    import trustme
    os.makedirs(tls_dir, exist_ok=True)
    ca = trustme.CA(organization_name="OpenADR dev VTN")
    cert = ca.issue_cert(*names)
    ca.cert_pem.write_to_path(os.path.join(tls_dir, "ca.pem"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # the Definition: TLS 1.2 or later
    cert.configure_cert(ctx)
    return ctx


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    # Installed first: a SIGTERM during the mDNS probing must still end cleanly.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        store = ScenarioStore(args.scenario)
    except (OSError, ValueError) as e:
        print("devvtn: cannot load scenario: %s" % e, file=sys.stderr)
        return 2
    openapi = args.openapi_file if args.openapi_file and os.path.isfile(args.openapi_file) else None
    hostname = args.hostname or hostname_from_instance(args.name)
    scheme = "https" if args.tls_dir else "http"
    ctx = None
    if args.tls_dir:
        ctx = tls_context(args.tls_dir, [hostname + ".local", args.host, "localhost"])
    vtn = VtnApp(store, args.base_path, openapi, scheme=scheme, api_version=args.spec_version,
                 quirks=args.quirk)
    try:
        server = DevVtnServer((args.host, args.port), vtn, args.fault, args.quiet, ctx, args.record,
                              not args.no_gzip)
    except OSError as e:
        print("devvtn: cannot listen on %s:%d: %s" % (args.host, args.port, e), file=sys.stderr)
        return 1
    # A short poll interval keeps shutdown() quick after SIGTERM.
    serving = threading.Thread(target=server.serve_forever, args=(0.1,), name="http", daemon=True)
    serving.start()

    advertiser = None
    try:
        if not args.no_advertise and not stop.is_set():
            advertiser = Advertiser(args.host, server.port, args.name, hostname, vtn.base_path, scheme,
                                    args.spec_version)
            scenario = store.current()
            name = advertiser.start(scenario.program_names, scenario.requires_auth,
                                    "srv_instance_target" in vtn.quirks(scenario))
            print("devvtn: advertised %s -> %s:%d" % (name, advertiser.target, server.port),
                  file=sys.stderr, flush=True)
        if not stop.is_set():
            base = "/" + vtn.base_path if vtn.base_path else ""
            print("devvtn ready %s://%s:%d%s" % (scheme, args.host, server.port, base), flush=True)
        while not stop.wait(RELOAD_CHECK_S):
            # Poll the file here too, so the TXT record follows it without requests.
            store.refresh()
            if advertiser is not None:
                scenario = store.current()
                try:
                    if advertiser.update(scenario.program_names, scenario.requires_auth,
                                         "srv_instance_target" in vtn.quirks(scenario)):
                        print("devvtn: advertisement updated: SRV target %s, TXT %s"
                              % (advertiser.target, advertiser.properties), file=sys.stderr, flush=True)
                except ValueError as e:
                    print("devvtn: TXT not updated: %s" % e, file=sys.stderr, flush=True)
    finally:
        # Goodbye first, so VENs drop the service before the port goes away.
        if advertiser is not None:
            advertiser.close()
        server.shutdown()
        server.server_close()
    print("devvtn: stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
