"""A simulated ESP32 running MicroPython, on a serial line (a pty), for tests of
the upload tools (host side; never goes onto a device).

    from tools.replboard import Board
    with Board(flash_dir) as board:          # powered on: boot.py, then main.py
        subprocess.run(["mpremote", "connect", board.port, "ls"])
        board.wait_for(lambda: "VEN starting" in board.text(), 10)

What mpremote, ampy or a terminal sees on board.port is the byte protocol of
MicroPython's REPL as shared/runtime/pyexec.c and ports/esp32/main.c (1.27)
speak it: the friendly REPL (echo, backspace, continuation lines, Ctrl-C,
Ctrl-D soft reset, Ctrl-E paste mode), the raw REPL (Ctrl-A; "OK", output,
\\x04, error, \\x04, ">"), raw paste (\\x05A\\x01, "R\\x01", a 128-byte
flow-control window; "R\\x00" for other commands; raw_paste=False answers like a
firmware without it), Ctrl-C that interrupts running code only, and resets: a
soft reset (Ctrl-D at an empty prompt, SystemExit, machine.soft_reset()) prints
"MPY: soft reboot" and runs boot.py, and main.py only when the friendly REPL
was active; a hard reset (machine.reset(), reset(), power-on) prints the ROM's
lines and runs boot.py then main.py. Bytes that arrive while code runs wait
for the next prompt, as in the board's UART buffer.

The code runs on the real MicroPython unix port (.venv/bin/micropython), one
process per boot, through tools/replboard/agent.py, with the board's sys.path
('', '.frozen', '/lib'), its filesystem at "/" (the flash folder, by a VFS) and
the stand-ins of tools/mpboard/onboard for machine, network, socket and time.
`frozen` is a folder of modules the simulated image has built in (after
'.frozen', hidden from listings). The network link never comes up unless the
settings say otherwise (and name lookups fail), so a VEN on this board only
waits for it and sends nothing.

Limits: code cannot read the serial line (sys.stdin is the agent's command
pipe); raw paste is compiled after the last byte, not while it arrives; no
auto-indent, history or cursor keys at the friendly REPL; the flash never
fills up; the pty has no baud rate and no DTR/RTS (esptool cannot use it).
"""
import json
import os
import pathlib
import pty
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import tty

from tools.mpboard import vm as mpvm

HERE = os.path.dirname(os.path.abspath(__file__))
AGENT = os.path.join(HERE, "agent.py")
ONBOARD = mpvm.ONBOARD
# MICROPY_REPL_STDIN_BUFFER_MAX (256 on the ESP32) / 2.
WINDOW = 128
BOARD_NAME = "Olimex ESP32 ETH with ESP32"
ROM_LINES = {
    "power": b"ets Jul 29 2019 12:21:46\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n",
    "hard": b"ets Jul 29 2019 12:21:46\r\n\r\nrst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n",
    "button": b"ets Jul 29 2019 12:21:46\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n",
}
COMPOUND = (b"if", b"while", b"for", b"try", b"with", b"def", b"class", b"async")
INPUT_PHASES = ("friendly", "paste", "raw", "rawpaste")
HARD_RESET_CODE = 101  # tools/mpboard/onboard/machine.py: machine.reset()


def continue_with_input(src):
    """py/repl.c mp_repl_continue_with_input: does the friendly REPL want another line?"""
    if not src:
        return False
    first = src.split(b"\n", 1)[0]
    compound = src[:1] == b"@" or any(
        first.startswith(k) and (len(first) == len(k) or not (chr(first[len(k)]).isalnum() or first[len(k)] == 95))
        for k in COMPOUND)
    paren = brack = brace = 0
    quote = None  # b"'", b'"', b"'''", b'"""'
    i = 0
    while i < len(src):
        c = src[i:i + 1]
        if c in (b"'", b'"'):
            if (quote is None or quote == c * 3) and src[i:i + 3] == c * 3:
                quote = None if quote == c * 3 else c * 3
                i += 2
            elif quote is None or quote == c:
                quote = None if quote == c else c
        elif c == b"\\" and src[i + 1:i + 2] in (b"'", b'"', b"\\"):
            if quote is not None:
                i += 1
        elif quote is None:
            paren += (c == b"(") - (c == b")")
            brack += (c == b"[") - (c == b"]")
            brace += (c == b"{") - (c == b"}")
        i += 1
    if quote in (b"'''", b'"""'):
        return True
    if (paren > 0 or brack > 0 or brace > 0) and quote is None:
        return True
    if src.endswith(b"\\"):
        return True
    return compound and not src.endswith(b"\n")


class BoardError(RuntimeError):
    pass


class Board:
    def __init__(self, flash, frozen=None, raw_paste=True, settings=None, vm=None):
        self.flash = os.path.abspath(flash)
        os.makedirs(self.flash, exist_ok=True)
        self.frozen = os.path.abspath(frozen) if frozen else None
        self.raw_paste = raw_paste
        self.vm = vm or mpvm.pypi()  # the unix port from PyPI (tools/requirements-host.txt)
        self._workdir = tempfile.mkdtemp(prefix="replboard-")
        # No network: the link never comes up and name lookups fail, so a VEN
        # just waits for it (settings={"network": True, "ip": ...} for a link).
        self._settings = {"link_delay_ms": 10 ** 9, "network": False}
        self._settings.update(settings or {})
        # What the test thread may look at (under _cond).
        self._cond = threading.Condition()
        self._transcript = bytearray()   # everything the board sent, heard or not
        self.received = bytearray()      # everything it got on the serial line
        # ("boot", kind, n) kind: power, button, hard, soft; ("running", "boot.py"|"main.py", n);
        # ("ran", what, "ok"|"absent"|"exception"|"exit", n, traceback or exit code);
        # ("exec", how); ("interrupt", what); ("connected",); ("disconnected",); ("held",);
        # ("vm-died", status); ("loop-error", traceback)
        self.events = []
        self.errors = []                 # exceptions in the simulator itself (a test should fail)
        self.boots = 0
        self._boot_marks = {}
        self.port = None
        # Loop-thread state.
        self._master = None
        self._connected = False
        self._outq = bytearray()
        self._pending = bytearray()
        self._pumping = False
        self._requests = []
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._child = None
        self._status_buf = b""
        self._cr = False
        self.mode = "friendly"
        self.phase = "off"
        self._running = None
        self._line = bytearray()
        self._cont = bytearray()
        self._esc = 0
        self._window = 0
        self._version = "MicroPython"
        self._thread = None
        self._stop = False
        self._hold_when = None
        self.held = threading.Event()

    # --- the test's side ----------------------------------------------------

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        """Plug the board in (a new pty) and power it on."""
        self._open_pty()
        self._thread = threading.Thread(target=self._loop, name="replboard", daemon=True)
        self._thread.start()
        self._call(lambda: self._boot("power"))
        return self

    def stop(self):
        """Power off and unplug for good."""
        if self._thread is None:
            return
        self._call(self._power_off)
        self._stop = True
        os.write(self._wake_w, b"x")
        self._thread.join(10)
        self._thread = None
        if self._master is not None:
            os.close(self._master)
            self._master = None
        os.close(self._wake_r)
        os.close(self._wake_w)
        shutil.rmtree(self._workdir, ignore_errors=True)

    def reset(self):
        """Press the board's reset button (EN): a hard reset."""
        self._call(lambda: self._boot("button"))

    def unplug(self):
        """Pull the USB cable: the port disappears and the board loses power."""
        def go():
            self._power_off()
            if self._master is not None:
                os.close(self._master)
                self._master = None
            self._connected = False
            self._outq.clear()
        self._call(go)

    def plug(self):
        """Plug the cable back in: a new port (board.port) and a power-on boot."""
        def go():
            self._open_pty()
            self._boot("power")
        self._call(go)
        return self.port

    def hold_when(self, predicate):
        """Stop answering (stop reading the serial line, as a board stuck in a
        long call) once predicate() holds after a command has run; board.held
        is set then. For tests that interrupt an upload at a known point."""
        def go():
            self._hold_when = predicate
        self._call(go)

    def release(self):
        """Read the serial line again (see hold_when)."""
        def go():
            self._hold_when = None
            self.held.clear()
            self._pump()
        self._call(go)

    def text(self, since=0):
        """What the board has sent since transcript position `since`, as text."""
        with self._cond:
            return self._transcript[since:].decode("utf-8", "replace")

    def flash_path(self, rel):
        """The host path of a board path (pathlib.Path)."""
        return pathlib.Path(self.flash, rel.lstrip("/"))

    def text_of_boot(self, n):
        """What the board sent from the start of boot number n to the next boot."""
        with self._cond:
            end = self._boot_marks.get(n + 1, len(self._transcript))
            return self._transcript[self._boot_marks[n]:end].decode("utf-8", "replace")

    def mark(self):
        with self._cond:
            return len(self._transcript)

    def wait_for(self, predicate, timeout):
        """Wait until predicate() holds (checked whenever the board does something)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BoardError("timed out after %ss; the board said:\n%s" % (
                        timeout, self._transcript[-3000:].decode("utf-8", "replace")))
                self._cond.wait(left)

    def wait_idle(self, timeout=10):
        """Wait until the board sits at a prompt with nothing left to read."""
        self.wait_for(lambda: self.phase in INPUT_PHASES and not self._pending, timeout)

    def main_started(self, after=0):
        """The number of the latest boot after boot `after` that has started main.py, or None."""
        with self._cond:
            runs = [e[2] for e in self.events if e[0] == "running" and e[1] == "main.py" and e[2] > after]
        return runs[-1] if runs else None

    def wait_main_started(self, after=0, timeout=10):
        """Wait until a boot after boot number `after` has started main.py; its number."""
        self.wait_for(lambda: self.main_started(after) is not None, timeout)
        return self.main_started(after)

    # --- loop thread --------------------------------------------------------

    def _call(self, fn, timeout=15):
        done = threading.Event()
        box = []

        def run():
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - handed back to the caller
                box.append(e)
            done.set()
        with self._cond:
            self._requests.append(run)
        os.write(self._wake_w, b"x")
        if not done.wait(timeout):
            raise BoardError("the board's loop did not answer")
        if box:
            raise box[0]

    def _event(self, *e):
        with self._cond:
            self.events.append(e)
            self._cond.notify_all()

    def _open_pty(self):
        master, slave = pty.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        os.close(slave)  # the settings stay with the pty while the master is open
        os.set_blocking(master, False)
        self._master = master
        self._connected = False

    def _loop(self):
        while not self._stop:
            try:
                self._once()
            except Exception:  # noqa: BLE001 - kept for the test (board.errors), the board goes on
                import traceback
                text = traceback.format_exc()
                self.errors.append(text)
                self._event("loop-error", text)

    def _once(self):
        fds = {self._wake_r: "wake"}
        if self._child is not None:
            fds[self._child.stdout.fileno()] = "stdout"
            fds[self._status_r] = "status"
        if self._master is not None and self._connected:
            fds[self._master] = "tty"
        poller = select.poll()
        for fd, what in fds.items():
            mask = select.POLLIN
            if what == "tty":
                mask = (0 if self.held.is_set() else select.POLLIN) | (select.POLLOUT if self._outq else 0)
            poller.register(fd, mask)
        # While nobody has the port open the pty reports a hang-up at once,
        # so look for a new user every 10 ms instead of waiting on it.
        ready = poller.poll(None if self._connected or self._master is None else 10)
        if self._master is not None and not self._connected:
            self._check_connect()
        child = self._child
        for fd, ev in ready:
            what = fds.get(fd)
            if what in ("stdout", "status") and self._child is not child:
                continue  # that VM is gone (a reset while handling this batch)
            if what == "wake":
                self._drain_wake()
            elif what == "stdout":
                self._read_stdout()
            elif what == "status":
                self._read_status()
            elif what == "tty" and self._master is not None and self._connected:
                self._service_tty(ev)

    def _drain_wake(self):
        try:
            os.read(self._wake_r, 1024)
        except BlockingIOError:
            pass
        with self._cond:
            requests, self._requests = self._requests, []
        for run in requests:
            run()

    def _check_connect(self):
        p = select.poll()
        p.register(self._master, select.POLLIN)
        ev = 0
        for _fd, e in p.poll(0):
            ev |= e
        if not ev & select.POLLHUP:
            self._connected = True
            self._event("connected")
        if ev & select.POLLIN:
            self._read_tty()  # with a hang-up: from a user that has already closed the port

    def _service_tty(self, ev):
        if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
            self._read_tty()
        if ev & (select.POLLHUP | select.POLLERR):
            self._disconnect()
        elif ev & select.POLLOUT:
            self._write_tty()

    def _disconnect(self):
        self._connected = False
        self._outq.clear()  # a UART with nobody listening: the bytes are gone
        self._event("disconnected")

    def _read_tty(self):
        # Everything there is: after the user closes the port, what it wrote
        # before is still readable, then reads fail with EIO.
        while self._master is not None:
            try:
                data = os.read(self._master, 4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if not data:
                return
            self._feed(data)

    def _write_tty(self):
        try:
            n = os.write(self._master, bytes(self._outq[:4096]))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._disconnect()
            return
        del self._outq[:n]

    def _out(self, data):
        if not data:
            return
        with self._cond:
            self._transcript += data
            self._cond.notify_all()
        if self._connected and self._master is not None:
            self._outq += data
            self._write_tty()

    def _cook(self, data):
        # The board's print() ends lines with \r\n.
        out = bytearray()
        for b in data:
            if b == 10 and not self._cr:
                out += b"\r"
            out.append(b)
            self._cr = b == 13
        return bytes(out)

    # --- the VM ---------------------------------------------------------------

    def _start_vm(self):
        status_r, status_w = os.pipe()
        settings = dict(self._settings, flash=self.flash, frozen=self.frozen, onboard=ONBOARD,
                        status_fd=status_w)
        path = os.path.join(self._workdir, "board.json")
        with open(path, "w") as f:
            json.dump(settings, f)
        env = dict(os.environ, MPBOARD=path)
        self._child = subprocess.Popen(
            [self.vm, AGENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(status_w,), env=env, cwd=self._workdir, start_new_session=True)
        os.close(status_w)
        self._status_r = status_r
        os.set_blocking(status_r, False)
        os.set_blocking(self._child.stdout.fileno(), False)
        self._status_buf = b""
        self._cr = False

    def _kill_vm(self):
        child, self._child = self._child, None
        if child is None:
            return
        try:
            child.kill()
        except ProcessLookupError:
            pass
        child.wait()
        child.stdout.close()
        try:
            child.stdin.close()
        except BrokenPipeError:
            pass
        os.close(self._status_r)

    def _send(self, kind, payload):
        self._child.stdin.write(b"%s%08d" % (kind, len(payload)) + payload)
        self._child.stdin.flush()

    def _read_stdout(self):
        try:
            data = os.read(self._child.stdout.fileno(), 65536)
        except (BlockingIOError, InterruptedError):
            return
        if data:
            self._out(self._cook(data))
        elif data == b"":
            # The VM has ended: what it reported last comes first.
            self._read_status()

    def _vm_died(self):
        rc = self._child.returncode
        self._kill_vm()
        self._out(b"\r\n[replboard: the MicroPython VM ended (exit status %d)]\r\n" % rc)
        self.phase = "off"
        self._event("vm-died", rc)

    def _read_status(self):
        try:
            data = os.read(self._status_r, 65536)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            self._drain_stdout()
            if self._child is not None:
                self._child.wait()
                self._vm_died()
            return
        self._status_buf += data
        child = self._child
        while len(self._status_buf) >= 9 and self._child is child:
            n = int(self._status_buf[1:9])
            if len(self._status_buf) < 9 + n:
                break
            kind, payload = self._status_buf[:1], self._status_buf[9:9 + n]
            self._status_buf = self._status_buf[9 + n:]
            # All the output of the command is in the stdout pipe by now.
            self._drain_stdout()
            self._on_status(kind.decode(), payload.decode("utf-8", "replace"))

    def _drain_stdout(self):
        while self._child is not None:
            try:
                more = os.read(self._child.stdout.fileno(), 65536)
            except (BlockingIOError, InterruptedError):
                return
            if not more:
                return
            self._out(self._cook(more))

    # --- boots and resets -----------------------------------------------------

    def _power_off(self):
        self._kill_vm()
        self.phase = "off"
        self._pending.clear()

    def _boot(self, kind):
        """kind: "power", "button", "hard" (machine.reset()) or "soft"."""
        self._kill_vm()
        if kind != "soft":
            self._pending.clear()  # the UART's buffer does not survive a reset
            self.mode = "friendly"
            self._out(ROM_LINES[kind])
        else:
            self._out(b"MPY: soft reboot\r\n")
        self._line = bytearray()
        self._cont = bytearray()
        with self._cond:
            self.boots += 1
            self._boot_marks[self.boots] = len(self._transcript) - len(ROM_LINES.get(kind, b"MPY: soft reboot\r\n"))
        self._event("boot", kind, self.boots)
        self.phase = "starting"
        self._running = "hello"
        self._start_vm()

    def _run_file(self, name):
        self.phase = "running"
        self._running = name
        self._event("running", name, self.boots)
        self._send(b"F", name.encode())

    def _prompt(self):
        self._running = None
        if self.mode == "raw":
            self.phase = "raw"
            self._line = bytearray()
            self._out(b"raw REPL; CTRL-B to exit\r\n>")
        else:
            self._banner()
        self._pump()

    def _banner(self):
        self.phase = "friendly"
        self._line = bytearray()
        self._cont = bytearray()
        self._out(("%s; %s\r\nType \"help()\" for more information.\r\n>>> " % (
            self._version, BOARD_NAME)).encode())

    def _on_status(self, kind, payload):
        running = self._running
        if running == "hello":
            self._version = "MicroPython %s (replboard, unix port)" % payload
            self._run_file("boot.py")
            return
        status = {"O": "ok", "N": "absent", "E": "exception", "Q": "exit"}[kind]
        self._event("ran", running, status, self.boots, payload)
        if kind == "Q":
            # machine.reset() resets at once; any other SystemExit ends the code
            # first (the raw REPL's two EOFs), then soft-resets.
            if payload == str(HARD_RESET_CODE):
                self._boot("hard")
                return
            if running in ("raw", "rawpaste"):
                self._out(b"\x04\x04")
            self._boot("soft")
            return
        tb = self._cook(payload.encode()) if kind == "E" else b""
        if running in ("boot.py", "main.py"):
            self._out(tb)
            if running == "boot.py" and kind != "E" and self.mode == "friendly":
                self._run_file("main.py")
                return
            self._prompt()
        elif running in ("raw", "rawpaste"):
            self._out(b"\x04" + tb + b"\x04>")
            self.phase = "raw"
            self._running = None
            self._line = bytearray()
            self._pump()
        else:  # friendly, paste
            self._out(tb + b">>> ")
            self.phase = "friendly"
            self._running = None
            self._line = bytearray()
            self._cont = bytearray()
            self._pump()

    def _exec(self, how, src):
        # how: "raw", "rawpaste", "friendly" (one statement) or "paste".
        self.phase = "running"
        self._running = how
        self._event("exec", how)
        self._send(b"S" if how == "friendly" else b"X", bytes(src))

    def _interrupt(self):
        self._event("interrupt", self._running)
        try:
            os.killpg(self._child.pid, signal.SIGINT)
        except (ProcessLookupError, AttributeError):
            pass

    # --- the REPL ---------------------------------------------------------------

    def _feed(self, data):
        with self._cond:
            self.received += data
        for b in data:
            if self.phase == "off":
                continue
            if b == 3 and self.phase == "running" and self._child is not None:
                self._interrupt()  # Ctrl-C while code runs: never reaches the buffer
                continue
            self._pending.append(b)
        self._pump()

    def _pump(self):
        # The REPL reads what waits in the buffer for as long as it is at a prompt.
        if self._hold_when is not None and not self.held.is_set() and self._hold_when():
            self.held.set()
            self._event("held")
        if self._pumping or self.held.is_set():
            return  # a prompt printed while handling a byte: the loop below goes on
        self._pumping = True
        try:
            while self._pending and self.phase in INPUT_PHASES:
                b = self._pending[0]
                del self._pending[0]
                if self.phase == "friendly":
                    self._friendly(b)
                elif self.phase == "paste":
                    self._paste(b)
                elif self.phase == "raw":
                    self._raw(b)
                else:
                    self._rawpaste(b)
        finally:
            self._pumping = False
        with self._cond:
            self._cond.notify_all()

    def _friendly(self, b):
        if self._esc:  # skip an escape sequence (cursor keys): ESC [ ... final byte
            self._esc = 2 if (self._esc == 1 and b == 0x5B) else (0 if self._esc == 1 or 0x40 <= b <= 0x7E else 2)
            return
        empty = not self._line and not self._cont
        if b == 0x1B:
            self._esc = 1
        elif b == 1 and empty:
            self.mode = "raw"
            self._out(b"\r\n")
            self._prompt()
        elif b == 2 and empty:
            self._out(b"\r\n")
            self._banner()
        elif b == 3:
            self._out(b"\r\n>>> ")
            self._line = bytearray()
            self._cont = bytearray()
        elif b == 4:
            if self._cont:
                self._exec("friendly", self._cont + self._line)
            elif not self._line:
                self._out(b"\r\n")
                self._boot("soft")
        elif b == 5 and empty:
            self.phase = "paste"
            self._line = bytearray()
            self._out(b"\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ")
        elif b in (8, 127):
            if self._line:
                self._line.pop()
                self._out(b"\x08 \x08")
        elif b == 13:
            self._out(b"\r\n")
            src = bytes(self._cont + self._line)
            if not src:
                self._out(b">>> ")
            elif continue_with_input(src):
                self._cont = bytearray(src + b"\n")
                self._line = bytearray()
                self._out(b"... ")
            else:
                self._exec("friendly", src)
        elif b >= 32:
            self._line.append(b)
            self._out(bytes([b]))

    def _paste(self, b):
        if b == 3:
            self._out(b"\r\n>>> ")
            self.phase = "friendly"
            self._line = bytearray()
        elif b == 4:
            self._out(b"\r\n")
            self._exec("paste", self._line)
        else:
            self._line.append(b)
            self._out(b"\r\n=== " if b == 13 else bytes([b]))

    def _raw(self, b):
        if b == 1:
            if self.raw_paste and len(self._line) == 2 and self._line[0] == 5:
                if self._line[1] == ord("A"):
                    self._out(b"R\x01" + bytes([WINDOW & 0xFF, WINDOW >> 8]) + b"\x01")
                    self.phase = "rawpaste"
                    self._window = WINDOW
                    self._line = bytearray()
                else:
                    self._out(b"R\x00>")  # a command this firmware does not know
                    self._line = bytearray()
                return
            self._line = bytearray()
            self._out(b"raw REPL; CTRL-B to exit\r\n>")
        elif b == 2:
            self._out(b"\r\n")
            self.mode = "friendly"
            self._banner()
        elif b == 3:
            self._line = bytearray()
        elif b == 4:
            self._out(b"OK")
            if not self._line:
                self._out(b"\r\n")
                self._boot("soft")
            else:
                self._exec("raw", self._line)
        else:
            self._line.append(b)

    def _rawpaste(self, b):
        if b == 3:
            # Ctrl-C while the code arrives: the compiler stops with KeyboardInterrupt.
            self._out(b"\x04\x04KeyboardInterrupt: \r\n\x04>")
            self.phase = "raw"
            self._line = bytearray()
        elif b == 4:
            self._out(b"\x04")
            self._exec("rawpaste", self._line)
        else:
            self._line.append(b)
            self._window -= 1
            if self._window == 0:
                self._out(b"\x01")
                self._window = WINDOW
