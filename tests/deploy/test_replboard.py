"""Self-tests of the simulated board (tools/replboard): byte for byte what
MicroPython's pyexec.c and the ESP32's main.c send, so that a broken simulator
cannot make the upload tests pass. Each wait is on the board's output with a
deadline."""
import os
import select
import subprocess
import time

import pytest

from tests.deploy import support

BANNER_END = b'Type "help()" for more information.\r\n>>> '
RAW = b"raw REPL; CTRL-B to exit\r\n>"


class Term:
    """A bare serial terminal on the board's pty."""

    def __init__(self, port):
        self.fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
        self.buf = b""

    def send(self, data):
        os.write(self.fd, data)

    def expect(self, pattern, timeout=10):
        """Everything up to and including pattern."""
        deadline = time.monotonic() + timeout
        while pattern not in self.buf:
            left = deadline - time.monotonic()
            assert left > 0, "waited for %r, got %r" % (pattern, self.buf)
            if select.select([self.fd], [], [], left)[0]:
                self.buf += os.read(self.fd, 4096)
        i = self.buf.index(pattern) + len(pattern)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exchange(self, data, pattern, timeout=10):
        self.send(data)
        return self.expect(pattern, timeout)

    def close(self):
        os.close(self.fd)


@pytest.fixture
def scripts_board(make_board, tmp_path):
    """A board whose boot.py and main.py say that they ran; main.py returns."""
    def make(main='print("MAIN")\n', **kw):
        flash = tmp_path / "flash"
        flash.mkdir(exist_ok=True)
        (flash / "boot.py").write_text('print("BOOT")\n')
        (flash / "main.py").write_text(main)
        return make_board("flash", **kw)
    return make


def at_prompt(board):
    board.wait_idle()
    term = Term(board.port)
    term.send(b"\r")
    term.expect(b">>> ")
    return term


def test_friendly_repl_echoes_evaluates_and_continues_lines(scripts_board):
    board = scripts_board()
    term = at_prompt(board)
    assert term.exchange(b"1+2\r", b">>> ") == b"1+2\r\n3\r\n>>> "
    assert term.exchange(b"for i in range(2):\r", b"... ") == b"for i in range(2):\r\n... "
    assert term.exchange(b"  print(i)\r", b"... ") == b"  print(i)\r\n... "
    assert term.exchange(b"\r", b">>> ") == b"\r\n0\r\n1\r\n>>> "
    assert term.exchange(b"ab\x08c\r", b">>> ").startswith(b"ab\x08 \x08c\r\n")
    assert term.exchange(b"import sys; sys.path\r", b">>> ") == (
        b"import sys; sys.path\r\n['', '.frozen', '/lib']\r\n>>> ")
    term.close()


def test_ctrl_c_interrupts_running_code_only(scripts_board):
    board = scripts_board(main='import time\nprint("MAIN")\nwhile True:\n    time.sleep_ms(20)\n')
    n = board.wait_main_started()
    board.wait_for(lambda: "MAIN\r\n" in board.text_of_boot(n), 10)
    term = Term(board.port)
    out = term.exchange(b"\x03", BANNER_END)
    assert out.startswith(b"Traceback (most recent call last):\r\n  File \"main.py\", line ")
    assert b"KeyboardInterrupt: \r\nMicroPython " in out
    # At the prompt Ctrl-C only starts a new line.
    assert term.exchange(b"x = 5\x03", b">>> ") == b"x = 5\r\n>>> "
    assert term.exchange(b"x\r", b">>> ") == b"x\r\nTraceback (most recent call last):\r\n" \
        b'  File "<stdin>", line 1, in <module>\r\nNameError: name \'x\' isn\'t defined\r\n>>> '
    term.close()


def test_soft_reset_runs_main_after_the_friendly_repl_not_after_the_raw_one(scripts_board):
    board = scripts_board()
    first = board.wait_main_started()
    term = at_prompt(board)
    out = term.exchange(b"\x04", BANNER_END)
    assert out.startswith(b"\r\nMPY: soft reboot\r\nBOOT\r\nMAIN\r\nMicroPython ")
    board.wait_main_started(first)
    boots = board.boots
    assert term.exchange(b"\x01", RAW) == b"\r\n" + RAW
    assert term.exchange(b"\x04", RAW) == b"OK\r\nMPY: soft reboot\r\nBOOT\r\n" + RAW
    assert board.boots == boots + 1 and board.main_started(boots) is None
    # Ctrl-B: back to the friendly REPL.
    assert term.exchange(b"\x02", BANNER_END).startswith(b"\r\nMicroPython ")
    term.close()


def test_raw_repl_answers_ok_output_eof_error_eof_prompt(scripts_board):
    board = scripts_board()
    term = at_prompt(board)
    term.exchange(b"\x01", RAW)
    assert term.exchange(b"print(1)\x04", b">") == b"OK1\r\n\x04\x04>"
    assert term.exchange(b"1/0\x04", b"\x04>") == (
        b'OK\x04Traceback (most recent call last):\r\n  File "<stdin>", line 1, in <module>\r\n'
        b"ZeroDivisionError: divide by zero\r\n\x04>")
    # Ctrl-C clears a line being typed; Ctrl-A starts the raw REPL over.
    assert term.exchange(b"print(2)\x03print(3)\x04", b">") == b"OK3\r\n\x04\x04>"
    assert term.exchange(b"junk\x01", RAW) == RAW
    # SystemExit is a soft reset: the raw REPL comes back after boot.py.
    assert term.exchange(b"import sys; sys.exit()\x04", RAW) == b"OK\x04\x04MPY: soft reboot\r\nBOOT\r\n" + RAW
    term.close()


def test_raw_paste_window_and_refusals(scripts_board):
    board = scripts_board()
    term = at_prompt(board)
    term.exchange(b"\x01", RAW)
    assert term.exchange(b"\x05A\x01", b"\x80\x00\x01") == b"R\x01\x80\x00\x01"
    code = b"#" * 299 + b"\nprint('pasted')\n"
    term.send(code[:128])
    assert term.expect(b"\x01") == b"\x01"          # a new 128-byte window after each 128 bytes
    term.send(code[128:256])
    assert term.expect(b"\x01") == b"\x01"
    term.send(code[256:] + b"\x04")
    assert term.expect(b">") == b"\x04pasted\r\n\x04\x04>"
    # A command other than "A": refused with R\x00.
    assert term.exchange(b"\x05B\x01", b">") == b"R\x00>"
    # Ctrl-C while the code arrives ends it as a KeyboardInterrupt.
    term.exchange(b"\x05A\x01", b"\x80\x00\x01")
    assert term.exchange(b"print(1)\x03", b"\x04>") == b"\x04\x04KeyboardInterrupt: \r\n\x04>"
    term.close()


def test_without_raw_paste_mpremote_falls_back_to_the_raw_repl(scripts_board):
    board = scripts_board(raw_paste=False)
    term = at_prompt(board)
    term.exchange(b"\x01", RAW)
    # A firmware without raw paste takes \x05A as line content and \x01 as "raw REPL".
    assert term.exchange(b"\x05A\x01", RAW) == RAW
    term.close()
    r = subprocess.run([support.MPREMOTE, "connect", board.port, "exec", "print(6 * 7)"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "42", r
    assert b"\x05A\x01" in bytes(board.received)


def test_the_flash_folder_is_the_boards_filesystem(make_board, tmp_path):
    frozen = tmp_path / "image"
    (frozen / "imgmod").mkdir(parents=True)
    (frozen / "imgmod" / "__init__.py").write_text("WHERE = 'image'\n")
    board = make_board("flash", frozen=str(frozen))
    board.wait_idle()
    src = tmp_path / "x.py"
    src.write_bytes(b"X = 1\n" * 100)
    code = ("import os, hashlib, binascii\n"
            "os.rename('/lib/x.py', '/lib/y.py')\n"
            "os.chdir('lib'); print(os.getcwd(), os.listdir(), os.listdir('/')); os.chdir('..')\n"
            "import imgmod; print(imgmod.WHERE)\n"
            "print(os.stat('/lib')[0], os.stat('/lib/y.py')[6], os.statvfs('/')[0])\n")
    r = subprocess.run([support.MPREMOTE, "connect", board.port, "fs", "mkdir", ":lib", "+", "fs", "cp", str(src),
                        ":lib/x.py", "+", "exec", code, "+", "fs", "sha256sum", ":lib/y.py"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert "/lib ['y.py'] ['lib']" in lines          # the image's folder is in no listing
    assert "image" in lines
    assert "16384 600 4096" in lines
    import hashlib
    assert hashlib.sha256(src.read_bytes()).hexdigest() in lines
    assert sorted(os.listdir(tmp_path / "flash")) == ["lib"]
    assert (tmp_path / "flash" / "lib" / "y.py").read_bytes() == src.read_bytes()


def test_resets_and_the_cable(scripts_board):
    board = scripts_board()
    first = board.wait_main_started()
    r = subprocess.run([support.MPREMOTE, "connect", board.port, "reset"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r
    second = board.wait_main_started(first)          # machine.reset(): boot.py and main.py again
    assert ("boot", "hard", second) in board.events
    old = board.port
    board.unplug()
    assert not os.path.exists(old) and board.phase == "off"      # the port is gone with the cable
    port = board.plug()
    third = board.wait_main_started(second)
    assert ("boot", "power", third) in board.events
    term = at_prompt(board)
    assert term.exchange(b"print('again')\r", b">>> ").endswith(b"again\r\n>>> ")
    term.close()
    assert port == board.port


def test_ampy_file_commands(scripts_board, tmp_path):
    # ampy 1.1.0: Ctrl-C twice, raw REPL, soft reset, 32-byte writes, chdir-walking rmdir.
    board = scripts_board()
    board.wait_idle()
    tree = tmp_path / "pkg"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.py").write_bytes(bytes(range(256)) * 3)
    (tree / "sub" / "b.txt").write_text("b\n")

    def ampy(*args):
        r = subprocess.run([support.AMPY, "--port", board.port] + list(args), capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r
        return r.stdout
    ampy("put", str(tree), "pkg")
    assert ampy("ls", "-r", "pkg").split() == ["/pkg/a.py", "/pkg/sub/b.txt"]
    assert (tmp_path / "flash" / "pkg" / "a.py").read_bytes() == (tree / "a.py").read_bytes()
    ampy("mkdir", "--exists-okay", "pkg")
    ampy("rmdir", "pkg")
    assert not (tmp_path / "flash" / "pkg").exists()
    assert board.main_started(board.boots - 1) is None   # every ampy command soft-reset into the raw REPL
