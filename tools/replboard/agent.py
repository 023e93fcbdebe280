# The MicroPython side of the pty board (tools/replboard/board.py): runs on the
# MicroPython unix port, one process per boot of the simulated ESP32 (a soft or
# hard reset starts a fresh one, as the board starts a fresh VM). It never goes
# onto a device.
#
#   MPBOARD=settings.json micropython agent.py
#
# settings.json (also read by the board stand-ins of tools/mpboard/onboard):
#   "flash":   host folder that is the board's filesystem (its "/")
#   "frozen":  host folder whose modules the simulated image has built in, or null
#   "onboard": tools/mpboard/onboard (machine, network, socket, time stand-ins)
#   "status_fd": the pipe this process reports on
#   "network": true lets name lookups through (default: the board has no link)
#
# The host sends commands on stdin, each a kind byte, an 8-digit length and the
# payload: "F" run a file (boot.py, main.py) if it exists, "X" execute source as
# a file (raw REPL, raw paste, paste mode), "S" one friendly-REPL statement.
# Everything the code prints goes to stdout (stderr is the same pipe, as both
# are the UART on the board). When a command ends, one status goes to the
# status pipe in the same framing: "O" ok, "N" no such file, "E" exception
# (payload: the traceback as the board prints it), "Q" SystemExit (payload: its
# code). "H" (payload: the version) says the VM is ready.
#
# The board's paths are mapped into the flash folder by a VFS written in Python
# and mounted at "/", the way the ESP32 mounts its littlefs there. The image's
# frozen modules (settings "frozen") are served under FROZEN_SIM, a path that no
# listing shows, placed after ".frozen" on sys.path.
import sys

FROZEN_SIM = "/.image-frozen"


def _setup_stand_ins():
    # As tools/mpboard/onboard/board.py: the port's own asyncio first, then the
    # stand-ins, which stay in sys.modules once the flash replaces "/".
    import json
    import os

    with open(os.getenv("MPBOARD")) as f:
        settings = json.load(f)
    sys.path[:] = [".frozen", settings["onboard"]]
    import asyncio  # noqa: F401
    import _board  # noqa: F401
    import time  # noqa: F401
    import machine  # noqa: F401
    import network  # noqa: F401
    import socket
    if not settings.get("network", False):
        # The board has no network link (board.py: it never comes up), and on the
        # ESP32 a name lookup then fails at once; here it would ask the host's DNS.
        def getaddrinfo(*args, **kwargs):
            raise OSError(-202)
        socket.getaddrinfo = getaddrinfo
    return settings


_settings = _setup_stand_ins()

import io  # noqa: E402
import os  # noqa: E402
import vfs  # noqa: E402

_S_IFDIR = 0x4000
_S_IFREG = 0x8000


class FlashVfs:
    """The board's filesystem: board paths ("/lib/x.py", "x.py" relative to the
    current folder) on a host folder, with littlefs-like stat results."""

    def __init__(self, root, frozen):
        self.root = root.rstrip("/")
        self.frozen = frozen.rstrip("/") if frozen else None
        self.cwd = "/"
        # Without a root of its own VfsPosix takes host paths as they are (its
        # rooted form shares one path buffer between rename's two arguments).
        self.host = vfs.VfsPosix()

    def _abs(self, path):
        if not path.startswith("/"):
            path = self.cwd.rstrip("/") + "/" + path
        parts = []
        for p in path.split("/"):
            if p == "" or p == ".":
                continue
            if p == "..":
                if parts:
                    parts.pop()
            else:
                parts.append(p)
        return "/" + "/".join(parts)

    def _host(self, path):
        path = self._abs(path)
        if self.frozen and (path == FROZEN_SIM or path.startswith(FROZEN_SIM + "/")):
            return self.frozen + path[len(FROZEN_SIM):]
        return self.root + (path if path != "/" else "")

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def chdir(self, path):
        path = self._abs(path)
        if not self.stat(path)[0] & _S_IFDIR:
            raise OSError(20)  # ENOTDIR
        self.cwd = path

    def getcwd(self):
        return self.cwd

    def ilistdir(self, path):
        host = self._host(path)
        for entry in self.host.ilistdir(host):
            name = entry[0]
            kind = entry[1]
            size = 0
            if not kind & _S_IFDIR:
                size = self.host.stat(host + "/" + name)[6]
            yield (name, kind, 0, size)

    def stat(self, path):
        st = self.host.stat(self._host(path))
        is_dir = st[0] & _S_IFDIR
        mode = _S_IFDIR if is_dir else _S_IFREG
        return (mode, 0, 0, 0, 0, 0, 0 if is_dir else st[6], st[8], st[8], st[8])

    def statvfs(self, path):
        # A 4 MB board's littlefs partition: 512 blocks of 4 KB.
        total = 512
        used = self._blocks(self.root)
        free = max(0, total - used)
        return (4096, 4096, total, free, free, 0, 0, 0, 0, 255)

    def _blocks(self, host):
        n = 1
        for entry in self.host.ilistdir(host):
            sub = host + "/" + entry[0]
            if entry[1] & _S_IFDIR:
                n += self._blocks(sub)
            else:
                n += 1 + self.host.stat(sub)[6] // 4096
        return n

    def open(self, path, mode):
        return self.host.open(self._host(path), mode)

    def mkdir(self, path):
        self.host.mkdir(self._host(path))

    def rmdir(self, path):
        self.host.rmdir(self._host(path))

    def remove(self, path):
        self.host.remove(self._host(path))

    def rename(self, old, new):
        self.host.rename(self._host(old), self._host(new))


_status = open(_settings["status_fd"], "wb")
_commands = sys.stdin.buffer


def _send(kind, payload=b""):
    if isinstance(payload, str):
        payload = payload.encode()
    _status.write(b"%s%08d" % (kind, len(payload)) + payload)


_interrupted = [False]


def _read(n, started):
    # A Ctrl-C (SIGINT) that lands while a command is arriving is kept for that
    # command, which then ends as interrupted before it starts; one that lands
    # before any of it came was for code that had already ended.
    buf = b""
    while len(buf) < n:
        try:
            chunk = _commands.read(n - len(buf))
        except KeyboardInterrupt:
            if buf or started:
                _interrupted[0] = True
            continue
        if not chunk:
            raise SystemExit(0)  # the host is gone
        buf += chunk
    return buf


def _traceback(e):
    s = io.StringIO()
    sys.print_exception(e, s)
    # Drop this file's own frames: on the board the REPL is C code.
    me = '"' + __file__ + '"' if "__file__" in globals() else None
    lines = [ln for ln in s.getvalue().split("\n") if not (me and me in ln)]
    return "\n".join(lines)


def _exists(name):
    try:
        return not os.stat(name)[0] & _S_IFDIR
    except OSError:
        return False


def _run(kind, payload, g):
    try:
        try:
            if kind == b"F":
                name = payload.decode()
                if not _exists(name):
                    return b"N", b""
                with open(name) as f:
                    src = f.read()
                code = compile(src, name, "exec")
                src = None
            else:
                code = compile(payload, "<stdin>", "single" if kind == b"S" else "exec")
            payload = None
            exec(code, g)
            return b"O", b""
        except SystemExit as e:
            code = e.args[0] if e.args else 0
            return b"Q", str(code if isinstance(code, int) else 1)
        except BaseException as e:  # noqa: BLE001 - reported as the board would print it
            return b"E", _traceback(e)
    except KeyboardInterrupt:
        # A second Ctrl-C while the first was being reported.
        return b"E", "KeyboardInterrupt: \n"


def main():
    vfs.umount("/")
    vfs.mount(FlashVfs(_settings["flash"], _settings.get("frozen")), "/")
    os.chdir("/")
    # The ESP32's sys.path: the filesystem root, frozen modules, /lib.
    sys.path[:] = ["", ".frozen"] + ([FROZEN_SIM] if _settings.get("frozen") else []) + ["/lib"]
    g = {"__name__": "__main__"}
    v = sys.implementation.version
    _send(b"H", "v%d.%d.%d%s" % (v[0], v[1], v[2], "-" + v[3] if len(v) > 3 and v[3] else ""))
    while True:
        try:
            _interrupted[0] = False
            head = _read(9, False)
            payload = _read(int(head[1:]), True)
        except KeyboardInterrupt:
            continue
        if _interrupted[0]:
            status = (b"E", "KeyboardInterrupt: \n")
        else:
            status = _run(head[:1], payload, g)
        payload = None
        while True:
            try:
                _send(*status)
                break
            except KeyboardInterrupt:
                pass


main()
