"""Which serial port the board is on, for load_files.sh and firmware/flash.sh.

    .venv/bin/python -m tools.deploy.ports [PORT]        # prints the port, or says why not
    .venv/bin/python -m tools.deploy.ports --list        # every serial port, known adapters marked

The rules, in order:
1. a port given as an argument;
2. the environment variable VEN_PORT (this project's; an unrelated PORT is ignored);
3. the one USB serial adapter of a known kind (table KNOWN: the CH340/CH9102 of
   the Olimex boards, CP210x, FTDI, the ESP32's own USB); with several, the list,
   and a question when someone is at the terminal, an error naming them otherwise.

For tests only: VEN_LIST_PORTS_FROM=FILE makes the ports those of FILE, a JSON
list of {"device", "vid", "pid", "description"} (vid/pid as numbers or hex
strings) instead of the machine's (pyserial's serial.tools.list_ports).
"""
import json
import os
import sys

# USB VID:PID of the serial adapters ESP32 boards carry.
KNOWN = {
    (0x1A86, 0x7523): "CH340",
    (0x1A86, 0x55D4): "CH9102 (CH340 family)",
    (0x10C4, 0xEA60): "CP210x",
    (0x0403, 0x6001): "FTDI FT232R",
    (0x0403, 0x6010): "FTDI FT2232",
    (0x0403, 0x6014): "FTDI FT232H",
    (0x0403, 0x6015): "FTDI FT-X",
    (0x303A, 0x1001): "ESP32 USB serial/JTAG",
}
ENV = "VEN_PORT"
TEST_LIST_ENV = "VEN_LIST_PORTS_FROM"
TROUBLESHOOT = "docs/troubleshoot.md#no-serial-port-is-found"


class PortError(Exception):
    """No port could be chosen; the text says what was found and what to do."""


class Port:
    def __init__(self, device, vid=None, pid=None, description=""):
        self.device = device
        self.vid = vid
        self.pid = pid
        self.description = description or ""

    @property
    def kind(self):
        return KNOWN.get((self.vid, self.pid))

    def label(self):
        ids = "%04x:%04x" % (self.vid, self.pid) if self.vid is not None and self.pid is not None else "no USB id"
        what = self.kind or (self.description if self.description not in ("", "n/a") else "unknown adapter")
        return "%s (%s, %s)" % (self.device, what, ids)


def _num(v):
    if v is None or isinstance(v, int):
        return v
    return int(str(v), 16)


def list_ports(env=None):
    """Every serial port of this machine (or of the test file), as Port objects."""
    env = os.environ if env is None else env
    path = env.get(TEST_LIST_ENV)
    if path:
        with open(path) as f:
            return [Port(p["device"], _num(p.get("vid")), _num(p.get("pid")), p.get("description", ""))
                    for p in json.load(f)]
    try:
        from serial.tools import list_ports as lp
    except ImportError:
        raise PortError("pyserial is not installed here, so ports cannot be listed: run `make setup` "
                        "(it installs it into .venv) or give the port, e.g. ./load_files.sh /dev/ttyUSB0")
    return [Port(p.device, p.vid, p.pid, p.description) for p in sorted(lp.comports(), key=lambda p: p.device)]


def find(arg=None, env=None, ask=None, placeholder=None):
    """(device, how it was chosen). ask(ports) picks one of several (None: nobody to ask).
    With placeholder, that name stands in when no port is found (a dry run)."""
    env = os.environ if env is None else env
    if arg:
        return arg, "given"
    if env.get(ENV):
        return env[ENV], "from %s" % ENV
    try:
        ports = list_ports(env)
    except PortError:
        if placeholder:
            return placeholder, "none found"
        raise
    known = [p for p in ports if p.kind]
    if len(known) == 1:
        return known[0].device, "found: " + known[0].label()
    if placeholder:
        return placeholder, "none found" if not known else "several found"
    if not known:
        others = "".join("\n  %s" % p.label() for p in ports) or " none"
        raise PortError(
            "no ESP32 board found: no serial adapter of a known kind (CH340/CH9102, CP210x, FTDI, ESP32 USB) "
            "is connected. Serial ports seen:%s\nPlug the board in with a data cable, or give the port: "
            "./load_files.sh /dev/ttyUSB0 (or VEN_PORT=/dev/ttyUSB0 make deploy). See %s" % (others, TROUBLESHOOT))
    if ask is not None:
        chosen = ask(known)
        if chosen is not None:
            return chosen.device, "chosen: " + chosen.label()
    raise PortError(
        "several ESP32 serial adapters are connected:%s\nSay which one: ./load_files.sh %s "
        "(or VEN_PORT=%s make deploy)" % ("".join("\n  %d) %s" % (i + 1, p.label()) for i, p in enumerate(known)),
                                          known[0].device, known[0].device))


def ask_at_terminal(ports, stdin=None, stderr=None):
    """Ask which port, when a person is at the terminal (stdin is a tty); else None."""
    stdin = stdin or sys.stdin
    stderr = stderr or sys.stderr
    if not stdin.isatty():
        return None
    stderr.write("Several ESP32 serial adapters are connected:\n")
    for i, p in enumerate(ports):
        stderr.write("  %d) %s\n" % (i + 1, p.label()))
    while True:
        stderr.write("Which one? [1-%d] " % len(ports))
        stderr.flush()
        line = stdin.readline()
        if not line:
            return None
        line = line.strip()
        if line.isdigit() and 1 <= int(line) <= len(ports):
            return ports[int(line) - 1]


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(prog="python -m tools.deploy.ports", description=__doc__.splitlines()[0])
    ap.add_argument("port", nargs="?", help="use this port (the rules end here)")
    ap.add_argument("--list", action="store_true", help="list every serial port and exit")
    ap.add_argument("--placeholder", help="print this instead of failing when no port is found (dry runs)")
    args = ap.parse_args(argv)
    try:
        if args.list:
            for p in list_ports():
                print(("* " if p.kind else "  ") + p.label())
            return 0
        device, how = find(args.port, ask=ask_at_terminal, placeholder=args.placeholder)
    except PortError as e:
        print("port: %s" % e, file=sys.stderr)
        return 1
    if how.startswith(("found", "chosen")):
        print("port: %s" % how, file=sys.stderr)
    print(device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
