"""make firmware: the Olimex ESP32-POE MicroPython image with the VEN frozen in.

    .venv/bin/python -m tools.build_firmware [--dry-run] [--mode auto|container|idf]
                                            [--allow-other-idf] [--out build/firmware]
    make firmware [FIRMWARE_ARGS=--dry-run]

The ESP32-POE (no PSRAM, ~112 KB Python heap) cannot hold the app imported
from .py or .mpy files: it must be frozen into the image, where its bytecode
runs from flash. This builds MicroPython v1.27.0 (a clone of the tag, checked
against the tag's commit) for MicroPython's own OLIMEX_ESP32_POE board with
firmware/manifest.py (the port's own frozen modules + firmware/app_manifest.py:
ven, mdns_client, logging), with the ESP-IDF its official images use (v5.5.1),
either in Espressif's container image (docker or podman) or with a local
ESP-IDF (IDF_PATH; another version is refused unless --allow-other-idf or
FIRMWARE_ALLOW_OTHER_IDF=1). --mode auto takes IDF_PATH when it is set, else
a container engine (CONTAINER_ENGINE, else docker, else podman).

The result is <out>/firmware.bin (flash it at 0x1000) and <out>/firmware.txt
(versions and sha256). --dry-run prints every step's exact commands and runs
nothing. Every command has a time limit; none asks questions.
"""
import argparse
import datetime
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys

from tools.stage_device_libs import sha256_of

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "build", "firmware")
MANIFEST = os.path.join(REPO, "firmware", "manifest.py")

MICROPYTHON_URL = "https://github.com/micropython/micropython.git"
MICROPYTHON_TAG = "v1.27.0"
# The commit the tag names ("all: Bump version to 1.27.0."): a moved tag is refused.
MICROPYTHON_COMMIT = "78ff170de9e32c79db6e64d3e33d2bd60002bdcd"
BOARD = "OLIMEX_ESP32_POE"
# MicroPython 1.27.0 recommends ESP-IDF v5.5.1 (ports/esp32/README.md), pins it in
# ports/esp32/lockfiles/dependencies.lock.esp32 and builds its official images with it.
IDF_VERSION = "v5.5.1"
# The other versions ports/esp32/README.md of v1.27.0 lists as supported.
IDF_SUPPORTED = ("v5.2", "v5.2.2", "v5.3", "v5.4", "v5.4.1", "v5.4.2", "v5.5.1")
# Fully qualified, so podman never asks which registry to use.
IDF_IMAGE = "docker.io/espressif/idf:" + IDF_VERSION
ALLOW_ENV = "FIRMWARE_ALLOW_OTHER_IDF"
ENGINE_ENV = "CONTAINER_ENGINE"
ENGINES = ("docker", "podman")

# Seconds. The first build compiles all of ESP-IDF; the image is a few GB.
TIMEOUT = {
    "engine-info": 60,
    "pull": 1800,
    "idf-version": 120,
    "clone": 900,
    "rev-parse": 30,
    "submodules": 1200,
    "stage": 600,
    "mpy-cross": 600,
    "build": 3600,
    "inspect": 60,
}

MISSING = ("make firmware needs ESP-IDF {} and found neither a container engine (docker or\n"
           "podman on PATH) nor a local ESP-IDF (IDF_PATH is not set).".format(IDF_VERSION))
WAYS = """\
Either:
  1. install Docker or Podman: the build then runs in Espressif's image
     {image} (pulled on first use, a few GB), or
  2. install ESP-IDF {idf} and set IDF_PATH to it (or source its export.sh):
       git clone -b {idf} --recursive https://github.com/espressif/esp-idf.git
       ./esp-idf/install.sh esp32
     (https://docs.espressif.com/projects/esp-idf/en/{idf}/esp32/get-started/)
Then run `make firmware` again.""".format(idf=IDF_VERSION, image=IDF_IMAGE)


class FirmwareError(Exception):
    """The build cannot go on; the text says why and what to do."""


def _q(argv):
    return " ".join(shlex.quote(a) for a in argv)


def _inside(path, folder):
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


# --- the build environment ------------------------------------------------

def idf_version(idf_path):
    """The version of the ESP-IDF at idf_path ("v5.5.1"), from tools/cmake/version.cmake."""
    path = os.path.join(idf_path, "tools", "cmake", "version.cmake")
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise FirmwareError("IDF_PATH={} is not an ESP-IDF: {} is missing".format(idf_path, path))
    parts = dict(re.findall(r"set\(\s*IDF_VERSION_(MAJOR|MINOR|PATCH)\s+(\d+)\s*\)", text))
    if set(parts) != {"MAJOR", "MINOR", "PATCH"}:
        raise FirmwareError("cannot read the ESP-IDF version from {}".format(path))
    return "v{MAJOR}.{MINOR}.{PATCH}".format(**parts)


def find_engine(env):
    """The container engine's executable, or None. CONTAINER_ENGINE picks one."""
    wanted = env.get(ENGINE_ENV)
    if wanted:
        found = shutil.which(wanted, path=env.get("PATH"))
        if not found:
            raise FirmwareError("{}={} is not an executable on PATH".format(ENGINE_ENV, wanted))
        return found
    for name in ENGINES:
        found = shutil.which(name, path=env.get("PATH"))
        if found:
            return found
    return None


class Environment:
    """Where the ESP-IDF commands run: in the container image or with a local ESP-IDF."""

    def __init__(self, mode, engine=None, idf_path=None, idf=IDF_VERSION, note=""):
        self.mode = mode            # "container" | "idf"
        self.engine = engine        # executable of docker/podman
        self.idf_path = idf_path    # local ESP-IDF
        self.idf = idf              # its version
        self.note = note            # said before the plan (dry run without an engine)

    def describe(self):
        if self.mode == "container":
            return "ESP-IDF {} in container {} ({})".format(self.idf, IDF_IMAGE, os.path.basename(self.engine))
        return "local ESP-IDF {} at {}".format(self.idf, self.idf_path)

    def wrap(self, name, argv, mounts):
        """argv run with ESP-IDF's tools on PATH (the image's entrypoint or export.sh)."""
        if self.mode == "idf":
            export = shlex.quote(os.path.join(self.idf_path, "export.sh"))
            return ["bash", "-c", ". {} > /dev/null && exec {}".format(export, _q(argv))]
        cmd = [self.engine, "run", "--rm", "--name", "ven-firmware-" + name]
        if os.path.basename(self.engine).startswith("podman"):
            cmd.append("--userns=keep-id")   # rootless podman: files stay the user's
        else:
            cmd += ["-u", "{}:{}".format(os.getuid(), os.getgid())]
        cmd += ["-e", "HOME=/tmp"]           # git and the component manager write there
        for path in mounts:                  # same paths inside: FROZEN_MANIFEST etc. hold
            cmd += ["-v", "{0}:{0}".format(path)]
        return cmd + ["-w", REPO, IDF_IMAGE] + list(argv)


def choose_environment(mode, env, allow_other_idf=False, dry_run=False):
    idf_path = env.get("IDF_PATH") or None
    if mode == "auto" and idf_path:
        mode = "idf"
    engine = find_engine(env) if mode in ("auto", "container") else None
    if mode == "auto":
        mode = "container" if engine else None
    if mode is None:
        if not dry_run:
            raise FirmwareError(MISSING + " " + WAYS)
        return Environment("container", engine=ENGINES[0], note=(
            "neither docker/podman nor IDF_PATH found: showing the container way; a real run stops here"))
    if mode == "container":
        if not engine:
            raise FirmwareError("--mode container: no container engine (docker or podman) on PATH. " + WAYS)
        return Environment("container", engine=engine)
    if not idf_path:
        raise FirmwareError("--mode idf: IDF_PATH is not set. " + WAYS)
    idf_path = os.path.abspath(idf_path)
    found = idf_version(idf_path)
    if found != IDF_VERSION:
        if not allow_other_idf:
            raise FirmwareError(
                "the ESP-IDF at IDF_PATH={} is {}, but this image is pinned to {} (what MicroPython {}'s "
                "official ESP32 images use). Either check out {} there (git checkout {} && git submodule "
                "update --init --recursive && ./install.sh esp32), build in the container (--mode container), "
                "or build with {} anyway: --allow-other-idf or {}=1 (MicroPython {} supports {})."
                .format(idf_path, found, IDF_VERSION, MICROPYTHON_TAG, IDF_VERSION, IDF_VERSION, found,
                        ALLOW_ENV, MICROPYTHON_TAG, ", ".join(IDF_SUPPORTED)))
        note = "ESP-IDF {} instead of the pinned {} (allowed by --allow-other-idf / {})".format(
            found, IDF_VERSION, ALLOW_ENV)
        if found not in IDF_SUPPORTED:
            note += "; MicroPython {} does not list it as supported".format(MICROPYTHON_TAG)
        return Environment("idf", idf_path=idf_path, idf=found, note=note)
    return Environment("idf", idf_path=idf_path, idf=found)


# --- the plan -------------------------------------------------------------

class Command:
    def __init__(self, argv, timeout, key, container=None, cwd=None):
        self.argv = argv
        self.timeout = timeout
        self.key = key              # what it does (run() treats some specially)
        self.container = container  # container name to remove after a timeout
        self.cwd = cwd


class Plan:
    """The steps of one build, in order: (title, [Command])."""

    def __init__(self, environment, out=DEFAULT_OUT, python=sys.executable):
        self.env = environment
        self.out = os.path.abspath(out)
        self.micropython = os.path.join(self.out, "micropython")
        self.port = os.path.join(self.micropython, "ports", "esp32")
        self.build_dir = os.path.join(self.port, "build-" + BOARD)
        self.image = os.path.join(self.out, "firmware.bin")
        self.info = os.path.join(self.out, "firmware.txt")
        mounts = [REPO] + ([] if _inside(self.out, REPO) else [self.out])
        env = self.env

        def idf(name, argv, key):
            return Command(env.wrap(name, argv, mounts), TIMEOUT[key], key,
                           container="ven-firmware-" + name if env.mode == "container" else None)

        if env.mode == "container":
            check = [Command([env.engine, "info"], TIMEOUT["engine-info"], "engine-info"),
                     Command([env.engine, "pull", IDF_IMAGE], TIMEOUT["pull"], "pull")]
            mpy_cross = idf("mpy-cross", ["make", "-C", os.path.join(self.micropython, "mpy-cross")], "mpy-cross")
        else:
            check = [Command(env.wrap("check", ["idf.py", "--version"], mounts), TIMEOUT["idf-version"], "idf-version")]
            mpy_cross = Command(["make", "-C", os.path.join(self.micropython, "mpy-cross")],
                                TIMEOUT["mpy-cross"], "mpy-cross")
        make_port = ["make", "-C", self.port, "BOARD=" + BOARD]
        self.steps = [
            ("check the build environment: " + env.describe(), check),
            ("fetch MicroPython {} ({}) into {}".format(MICROPYTHON_TAG, MICROPYTHON_COMMIT, self.micropython), [
                Command(["git", "-c", "advice.detachedHead=false", "clone", "--depth", "1",
                         "--branch", MICROPYTHON_TAG, MICROPYTHON_URL, self.micropython], TIMEOUT["clone"], "clone"),
                Command(["git", "-C", self.micropython, "rev-parse", "HEAD"], TIMEOUT["rev-parse"], "rev-parse"),
            ]),
            ("the submodules the esp32 port needs", [idf("submodules", make_port + ["submodules"], "submodules")]),
            ("stage the device libraries (build/device_lib: mdns_client)", [
                Command([python, "-m", "tools.stage_device_libs"], TIMEOUT["stage"], "stage", cwd=REPO)]),
            ("build mpy-cross", [mpy_cross]),
            ("build the image with firmware/manifest.py frozen in", [
                idf("build", make_port + ["FROZEN_MANIFEST=" + MANIFEST], "build")]),
        ]

    def lines(self):
        """The dry-run text: a comment per step, then its exact commands."""
        out = ["# make firmware: MicroPython {} ({}), board {}, {}".format(
            MICROPYTHON_TAG, MICROPYTHON_COMMIT, BOARD, self.env.describe())]
        if self.env.note:
            out.append("# note: " + self.env.note)
        total = len(self.steps) + 1
        for n, (title, commands) in enumerate(self.steps, 1):
            out.append("# {}/{} {}".format(n, total, title))
            for c in commands:
                if c.key == "clone":
                    out.append("# (skipped when {} already holds {})".format(self.micropython, MICROPYTHON_COMMIT))
                comment = {"rev-parse": "must print " + MICROPYTHON_COMMIT, "stage": "in " + REPO}.get(c.key)
                out.append(_q(c.argv) + ("   # " + comment if comment else ""))
        out.append("# {}/{} copy {} to {} and write {} (versions, sha256)".format(
            total, total, os.path.join(self.build_dir, "firmware.bin"), self.image, self.info))
        return out


# --- running it -----------------------------------------------------------

def _run(cmd, capture=False):
    """Run one command within its time limit; returns (exit status, output if captured)."""
    print("+ " + _q(cmd.argv), file=sys.stderr, flush=True)
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
    try:
        proc = subprocess.Popen(cmd.argv, cwd=cmd.cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE if capture else None, start_new_session=True)
    except OSError as e:
        raise FirmwareError("cannot run {}: {}".format(cmd.argv[0], e))
    try:
        output, _ = proc.communicate(timeout=cmd.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if cmd.container:
            # Killing the client leaves the container running.
            subprocess.run([cmd.argv[0], "rm", "-f", cmd.container], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        raise FirmwareError("timed out after {} s: {}".format(cmd.timeout, _q(cmd.argv)))
    return proc.returncode, (output.decode("utf-8", "replace").strip() if capture else "")


def _capture(argv, timeout=30):
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.decode("utf-8", "replace").strip() if r.returncode == 0 else None


def clone_commit(path):
    """The commit checked out at path, or None when it is no git checkout of its own."""
    if not os.path.exists(os.path.join(path, ".git")):
        return None
    return _capture(["git", "-C", path, "rev-parse", "HEAD"])


HINTS = {
    "engine-info": "the container engine does not answer: start it (e.g. `sudo systemctl start docker`), "
                   "or use a local ESP-IDF (IDF_PATH, --mode idf)",
    "pull": "could not pull {}: check the network, or use a local ESP-IDF (IDF_PATH, --mode idf)".format(IDF_IMAGE),
    "idf-version": "the ESP-IDF at IDF_PATH does not work: run its install.sh esp32 (once), then try again",
    "clone": "could not clone {} from {}: check the network".format(MICROPYTHON_TAG, MICROPYTHON_URL),
    "stage": "staging needs PyPI (pip download micropython-mdns): run `make setup` with internet access",
    "submodules": "fetching the port's submodules needs github.com",
    "build": "see the ESP-IDF output above; if the build folder came from another ESP-IDF, remove it: rm -rf {}",
}


def run(plan):
    total = len(plan.steps) + 1
    for n, (title, commands) in enumerate(plan.steps, 1):
        print("==> {}/{} {}".format(n, total, title), file=sys.stderr, flush=True)
        for cmd in commands:
            if cmd.key == "clone" and os.path.exists(plan.micropython):
                head = clone_commit(plan.micropython)
                if head != MICROPYTHON_COMMIT:
                    raise FirmwareError("{} exists but is not MicroPython {} ({}; found {}): remove it and run "
                                        "again".format(plan.micropython, MICROPYTHON_TAG, MICROPYTHON_COMMIT,
                                                       head or "no git checkout"))
                print("    already there", file=sys.stderr)
                continue
            if cmd.key == "clone":
                os.makedirs(os.path.dirname(plan.micropython), exist_ok=True)
            try:
                status, output = _run(cmd, capture=cmd.key in ("rev-parse", "engine-info"))
            except FirmwareError:
                if cmd.key == "clone":
                    shutil.rmtree(plan.micropython, ignore_errors=True)
                raise
            if status != 0:
                if cmd.key == "clone":
                    shutil.rmtree(plan.micropython, ignore_errors=True)
                hint = HINTS.get(cmd.key, "").format(plan.build_dir)
                raise FirmwareError("step {}/{} ({}) failed: {} exited with {}{}".format(
                    n, total, title, _q(cmd.argv), status, "\n" + hint if hint else ""))
            if cmd.key == "rev-parse" and output != MICROPYTHON_COMMIT:
                raise FirmwareError("MicroPython tag {} is at {}, not the pinned {}: refusing to build; "
                                    "remove {}".format(MICROPYTHON_TAG, output, MICROPYTHON_COMMIT, plan.micropython))
    print("==> {}/{} result".format(total, total), file=sys.stderr, flush=True)
    return finish(plan)


def sdkconfig_idf_version(path):
    """The ESP-IDF version an sdkconfig was generated by ("v5.5.1"), or None."""
    try:
        with open(path) as f:
            head = f.read(600)
    except OSError:
        return None
    m = re.search(r"\(ESP-IDF\)\s+v?(\d+\.\d+(?:\.\d+)?)", head)
    return "v" + m.group(1) if m else None


def finish(plan, describe=None, now=None):
    """Copy the image to <out>/firmware.bin and write <out>/firmware.txt; returns the text."""
    built = os.path.join(plan.build_dir, "firmware.bin")
    if not os.path.isfile(built):
        raise FirmwareError("the build left no {}".format(built))
    idf = sdkconfig_idf_version(os.path.join(plan.build_dir, "sdkconfig")) or plan.env.idf
    if idf != plan.env.idf:
        raise FirmwareError("the image was built with ESP-IDF {} (its sdkconfig says so), expected {}; remove {} "
                            "and build again".format(idf, plan.env.idf, plan.build_dir))
    if plan.env.mode == "container":
        digest = _capture([plan.env.engine, "image", "inspect", "--format", "{{index .RepoDigests 0}}", IDF_IMAGE],
                          timeout=TIMEOUT["inspect"])
        where = "container {}{}".format(IDF_IMAGE, " ({})".format(digest) if digest else "")
    else:
        where = "local ESP-IDF at {}".format(plan.env.idf_path)
    if describe is None:
        describe = _capture(["git", "-C", REPO, "describe", "--always", "--dirty", "--tags"]) or "unknown"
    now = now or datetime.datetime.now(datetime.timezone.utc)
    os.makedirs(plan.out, exist_ok=True)
    tmp = plan.image + ".tmp"
    shutil.copyfile(built, tmp)
    os.replace(tmp, plan.image)
    text = "\n".join([
        "# Olimex ESP32-POE MicroPython image with the OpenADR 3 VEN frozen in (make firmware).",
        "# Flash: esptool --chip esp32 -p PORT -b 460800 write-flash -z 0x1000 firmware.bin",
        "file: firmware.bin",
        "sha256: " + sha256_of(plan.image),
        "size: {}".format(os.path.getsize(plan.image)),
        "flash_offset: 0x1000",
        "board: " + BOARD,
        "micropython: {} {}".format(MICROPYTHON_TAG, MICROPYTHON_COMMIT),
        "esp_idf: " + idf,
        "built_with: " + where,
        "manifest: firmware/manifest.py (the port's boards/manifest.py + firmware/app_manifest.py)",
        "app: " + describe,
        "built: " + now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    ]) + "\n"
    with open(plan.info + ".tmp", "w") as f:
        f.write(text)
    os.replace(plan.info + ".tmp", plan.info)
    return text


def main(argv=None, env=None):
    p = argparse.ArgumentParser(prog="python -m tools.build_firmware", description=__doc__.split("\n\n")[0])
    p.add_argument("--dry-run", action="store_true", help="print each step's commands, run nothing")
    p.add_argument("--mode", choices=("auto", "container", "idf"), default="auto",
                   help="where ESP-IDF runs (default auto: IDF_PATH if set, else docker/podman)")
    p.add_argument("--allow-other-idf", action="store_true",
                   help="build with a local ESP-IDF other than {} (also {}=1)".format(IDF_VERSION, ALLOW_ENV))
    p.add_argument("--out", default=DEFAULT_OUT, help="output folder (default build/firmware)")
    args = p.parse_args(argv)
    env = os.environ if env is None else env
    allow = args.allow_other_idf or env.get(ALLOW_ENV, "") not in ("", "0")
    try:
        plan = Plan(choose_environment(args.mode, env, allow, args.dry_run), args.out)
        if args.dry_run:
            print("\n".join(plan.lines()))
            return 0
        if plan.env.note:
            print("build_firmware: note: " + plan.env.note, file=sys.stderr)
        text = run(plan)
    except FirmwareError as e:
        print("build_firmware: {}".format(e), file=sys.stderr)
        return 1
    print(text, end="")
    print("build_firmware: wrote {} and {}".format(plan.image, plan.info), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
