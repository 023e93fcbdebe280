"""Shared helpers of the upload tests: a sandbox copy of the repository (so a test
may edit files_to_load/ and configs/), running load_files.sh in it, and
comparing the simulated board's flash with what was staged."""
import json
import os
import re
import shutil
import signal
import subprocess
import threading

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEVICE_LIB = os.path.join(REPO, "build", "device_lib")
MPREMOTE = os.path.join(REPO, ".venv", "bin", "mpremote")
AMPY = os.path.join(REPO, ".venv", "bin", "ampy")
# What an upload manages on the board (tools/deploy/scripts.py).
MANAGED = ("boot.py", "main.py", "ven/", "lib/", "config/", ".upload/")
TIMEOUT_S = 120
PROGRESS = re.compile(r"^load_files\.sh:     \[ *\d+/\d+\] (\S+) \(")


def make_sandbox(dest):
    """A copy of what load_files.sh needs; .venv is the real one (linked)."""
    os.makedirs(dest)
    shutil.copy2(os.path.join(REPO, "load_files.sh"), dest)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "device.json", "*.pem")
    shutil.copytree(os.path.join(REPO, "files_to_load"), os.path.join(dest, "files_to_load"), ignore=ignore)
    shutil.copytree(os.path.join(REPO, "configs"), os.path.join(dest, "configs"), ignore=ignore)
    os.makedirs(os.path.join(dest, "tools"))
    for name in ("__init__.py", "stage_device_libs.py"):
        shutil.copy2(os.path.join(REPO, "tools", name), os.path.join(dest, "tools", name))
    shutil.copytree(os.path.join(REPO, "tools", "deploy"), os.path.join(dest, "tools", "deploy"), ignore=ignore)
    os.makedirs(os.path.join(dest, "build"))
    shutil.copytree(DEVICE_LIB, os.path.join(dest, "build", "device_lib"))
    os.symlink(os.path.join(REPO, ".venv"), os.path.join(dest, ".venv"))
    return dest


def env_for(extra=None):
    env = dict(os.environ)
    for k in ("PORT", "VEN_PORT", "VEN_LIST_PORTS_FROM", "DEPLOY_DIR", "MPREMOTE", "AMPY", "MPY_CROSS", "AMPY_PORT"):
        env.pop(k, None)
    env.update(extra or {})
    return env


class Run:
    """load_files.sh running in a sandbox; its output read line by line."""

    def __init__(self, sandbox, args, env=None):
        self.lines = []
        self.proc = subprocess.Popen(
            [os.path.join(sandbox, "load_files.sh")] + list(args), cwd=sandbox, env=env_for(env),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)  # its own process group, as a terminal's foreground job
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def ctrl_c(self):
        """What Ctrl-C in the terminal does: SIGINT to the whole job."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def finish(self, timeout=TIMEOUT_S):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise AssertionError("load_files.sh did not finish:\n" + self.text)
        self._reader.join(10)
        return rc

    @property
    def text(self):
        with self._cond:
            return "\n".join(self.lines)

    def progress(self):
        """The files it reported as sent ("    [ n/N] path (size)"), in order."""
        return [m.group(1) for m in map(PROGRESS.match, self.lines) if m]


def load_files(sandbox, *args, env=None, timeout=TIMEOUT_S):
    run = Run(sandbox, args, env)
    rc = run.finish(timeout)
    return rc, run


def flash_files(flash, prefixes=MANAGED):
    """{board path: bytes} of the managed files on the simulated board."""
    out = {}
    for root, _dirs, files in os.walk(flash):
        for name in files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, flash).replace(os.sep, "/")
            if rel.startswith(prefixes) or rel in prefixes:
                with open(path, "rb") as f:
                    out[rel] = f.read()
    return out


def staged_files(sandbox, deploy_dir):
    """{board path: bytes}: the staged tree plus configs/device.json, as the board should hold them."""
    out = flash_files(deploy_dir, ("",))
    device = os.path.join(sandbox, "configs", "device.json")
    if os.path.exists(device):
        with open(device, "rb") as f:
            out["config/device.json"] = f.read()
    return out


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)


def frozen_image(dest, sandbox, modules=("ven", "mdns_client", "logging")):
    """A folder with what an image from `make firmware` has frozen in."""
    os.makedirs(dest)
    if "ven" in modules:
        shutil.copytree(os.path.join(sandbox, "files_to_load", "ven"), os.path.join(dest, "ven"),
                        ignore=shutil.ignore_patterns("__pycache__"))
    if "mdns_client" in modules:
        shutil.copytree(os.path.join(DEVICE_LIB, "mdns_client"), os.path.join(dest, "mdns_client"))
    if "logging" in modules:
        shutil.copy2(os.path.join(DEVICE_LIB, "logging.py"), os.path.join(dest, "logging.py"))
    return dest
