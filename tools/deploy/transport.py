"""mpremote and ampy, driven the same way: run a script on the board, send files
into the board's staging folder, hard-reset the board.

Both are run as the user would run them (their command lines are printed by
--dry-run); their output streams through, and progress lines are made from it:
mpremote prints "cp SRC :DEST" as it starts each file, the ampy send scripts
print "@@SENT N PATH" on the board as each file is written.
"""
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

from tools.deploy import scripts

TOOLS = ("mpremote", "ampy")


class ToolError(Exception):
    def __init__(self, message, output=""):
        super().__init__(message)
        self.output = output


def find_tool(name, repo, env=None):
    """Path of a tool: $MPREMOTE/$AMPY, else .venv/bin/NAME (make setup), else PATH; or None."""
    env = os.environ if env is None else env
    if env.get(name.upper()):
        return env[name.upper()]
    local = os.path.join(repo, ".venv", "bin", name)
    if os.access(local, os.X_OK):
        return local
    return shutil.which(name)


def quote(argv):
    return " ".join(shlex.quote(a) for a in argv)


class Tool:
    name = None

    def __init__(self, exe, port, workdir, echo=None, dry_run=False):
        self.exe = exe
        self.port = port
        self.workdir = workdir
        self.echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
        self.dry_run = dry_run
        self.proc = None

    def version(self):
        try:
            r = subprocess.run([self.exe, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            return "%s (its version cannot be read: %s)" % (self.name, e)
        return r.stdout.strip().splitlines()[-1] if r.stdout.strip() else self.name

    def _run(self, argv, on_line=None, quiet=False):
        """Run the tool; every output line goes to on_line (if it returns False, or
        without on_line, it is shown). Returns the whole output."""
        if self.dry_run:
            print(quote(argv), flush=True)
            return ""
        env = dict(os.environ, PYTHONUNBUFFERED="1")  # its lines as they come, for the progress
        try:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env, cwd=self.workdir)
        except OSError as e:
            raise ToolError("%s cannot be run: %s" % (argv[0], e))
        lines = []
        try:
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                lines.append(line)
                handled = on_line(line) if on_line else False
                if not handled and not quiet and line.strip():
                    self.echo("    " + line)
            rc = self.proc.wait()
        finally:
            self.stop()
            self.proc.stdout.close()
            self.proc = None
        out = "\n".join(lines)
        if rc != 0:
            raise ToolError("%s exited with status %d" % (os.path.basename(argv[0]), rc), out)
        return out

    def _script_file(self, text, name):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_argv(self, path):
        return self.base() + ["run", path]  # the same for mpremote and ampy

    def run_script(self, text, name, on_line=None, quiet=True):
        return self._run(self.run_argv(self._script_file(text, name)), on_line, quiet)

    def stop(self):
        """Wait for a running tool to end (it got the same Ctrl-C), killing it after 5 s."""
        p = self.proc
        if p is None or p.poll() is not None:
            return
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Mpremote(Tool):
    name = "mpremote"

    def base(self):
        return [self.exe, "connect", self.port]

    def send(self, items, stage_dirs, progress):
        # One session: the folders, then each file with `fs cp` (-f: the PC has
        # compared hashes already).
        argv = self.base() + ["exec", scripts.mkdirs(["/" + d for d in stage_dirs])]
        where = {}
        for n, item in enumerate(items, 1):
            dest = ":" + scripts.STAGE + "/" + item.path
            argv += ["+", "fs", "cp", "-f", item.local, dest]
            where[dest] = (n, item)

        def on_line(line):
            if line.startswith("cp "):
                dest = line.rsplit(" ", 1)[-1]
                if dest in where:
                    progress(*where[dest])
                    return True
            return False
        self._run(argv, on_line)

    def reset(self):
        self._run(self.base() + ["reset"])

    def reset_argv(self):
        return quote(self.base() + ["reset"])


class Ampy(Tool):
    name = "ampy"

    def base(self):
        return [self.exe, "--port", self.port]

    def send(self, items, stage_dirs, progress, compress=True, budget=scripts.SCRIPT_BUDGET):
        # configs/device.json holds secrets: sent with `ampy put` from configs/,
        # so that no script with its contents is written to disk.
        secret = [i for i in items if i.path == "config/device.json"]
        rest = [i for i in items if i.path != "config/device.json"]
        number = {i.path: n for n, i in enumerate(items, 1)}
        by_path = {i.path: i for i in items}

        def on_line(line):
            parts = line.split(" ")
            if len(parts) == 3 and parts[0] == "@@SENT" and parts[2] in by_path:
                progress(int(parts[1]), by_path[parts[2]])
                return True
            return False
        files = []
        for item in rest:
            with open(item.local, "rb") as f:
                files.append((item.path, f.read(), number[item.path]))
        batches = scripts.send_batches(files, compress, budget)
        for k, text in enumerate(batches, 1):
            self.run_script(text, "send-%d.py" % k, on_line, quiet=False)
        for item in secret:
            self.run_script(scripts.mkdirs([scripts.STAGE, scripts.STAGE + "/config"]), "mkdirs.py")
            self._run(self.base() + ["put", item.local, scripts.STAGE + "/" + item.path])
            progress(number[item.path], item)

    def reset(self):
        self._run(self.base() + ["reset", "--hard"], quiet=True)

    def reset_argv(self):
        return quote(self.base() + ["reset", "--hard"])


def make(name, exe, port, workdir, dry_run=False):
    return {"mpremote": Mpremote, "ampy": Ampy}[name](exe, port, workdir, dry_run=dry_run)


def scratch_dir(base=None):
    return tempfile.mkdtemp(prefix="ven-upload-", dir=base)
