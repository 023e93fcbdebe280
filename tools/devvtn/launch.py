"""Start the development VTN as a subprocess and wait until it serves.

    with DevVtn(scenario_path, "127.0.0.2", advertise=True, log_path=log) as vtn:
        vtn.url   # http://127.0.0.2:PORT/openadr3/3.1.0

    with DevVtn(scenario_path, "127.0.0.2", tls_dir=tmp, record=tmp + "/rec.jsonl") as vtn:
        vtn.url, vtn.ca_path, vtn.ca_pem()   # https://..., the generated CA

    with DevVtn(scenario_path, "127.0.0.2", quirks=["etag", "string_status"]) as vtn:
        ...   # a real VTN's quirks for the whole run (tools/devvtn/quirks.py)

Every wait is bounded. The child inherits this process's network namespace,
so call tools.netns.enter() (or run under `python -m tools.netns --`) before
starting an advertising VTN.
"""

import os
import select
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
READY = "devvtn ready "


class DevVtnError(RuntimeError):
    pass


class DevVtn:
    def __init__(self, scenario, host, port=0, advertise=False, name=None, extra=(),
                 log_path=None, ready_timeout=10.0, python=sys.executable, tls_dir=None, record=None,
                 quirks=()):
        self.argv = [python, "-m", "tools.devvtn", "--scenario", str(scenario),
                     "--host", host, "--port", str(port)]
        if not advertise:
            self.argv.append("--no-advertise")
        if name:
            self.argv += ["--name", name]
        self.ca_path = None
        if tls_dir:
            self.argv += ["--tls-dir", str(tls_dir)]
            self.ca_path = os.path.join(str(tls_dir), "ca.pem")
        self.record_path = str(record) if record else None
        if record:
            self.argv += ["--record", str(record)]
        for quirk in quirks:
            self.argv += ["--quirk", quirk]
        self.argv += list(extra)
        self.log_path = log_path
        self.ready_timeout = ready_timeout
        self.proc = None
        self.url = None
        self.port = None

    def start(self):
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            # stderr goes to a file: an unread pipe would stall the server once full.
            self.proc = subprocess.Popen(self.argv, cwd=REPO, stdout=subprocess.PIPE,
                                         stderr=log, stdin=subprocess.DEVNULL)
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        line = self._read_ready()
        self.url = line[len(READY):].strip()
        self.port = int(self.url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        return self

    def _read_ready(self):
        deadline = time.monotonic() + self.ready_timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            data = os.read(fd, 4096)
            if not data:
                break
            buf += data
            for line in buf.decode("utf-8", "replace").splitlines():
                if line.startswith(READY):
                    return line
        self.stop()
        raise DevVtnError("dev VTN not ready within %.1f s (exit %s); output %r; log %s"
                          % (self.ready_timeout, self.proc.returncode, buf, self.log_path))

    def ca_pem(self):
        """The generated CA certificate (PEM text), for a VEN's vtn.ca_pem."""
        with open(self.ca_path) as f:
            return f.read()

    def records(self):
        """Every exchange recorded so far (with record=PATH), oldest first."""
        import json
        if not self.record_path or not os.path.exists(self.record_path):
            return []
        with open(self.record_path) as f:
            return [json.loads(line) for line in f if line.endswith("\n")]

    def stop(self, timeout=5.0):
        """SIGTERM, wait (bounded), SIGKILL if needed. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
