"""Private network namespaces for tests, demos and benchmarks.

Everything that multicasts (mDNS) or serves HTTP on the host runs inside a
network namespace that this module creates, where the only interface is a
fresh loopback with multicast routed to it. Nothing can reach the machine's
real interfaces from there.

Two ways to use it:

    python -m tools.netns -- CMD ARGS...   # run CMD inside a new namespace
    tools.netns.enter()                    # move this (single-threaded) process

Inside the namespace, use distinct 127.0.0.x addresses per simulated host
(micropython-mdns ignores packets whose source equals its own address).
"""

import ctypes
import os
import subprocess
import sys

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000

# Set in the environment of every process inside a namespace made here, so
# nested calls (make demo -> pytest -> ...) do not try to nest namespaces.
MARK = "OPENADR_VEN_NETNS"


class NamespaceUnavailable(RuntimeError):
    pass


def inside():
    return os.environ.get(MARK) == "1"


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _setup_loopback():
    for cmd in (
        ["ip", "link", "set", "lo", "up"],
        ["ip", "link", "set", "lo", "multicast", "on"],
        ["ip", "route", "add", "224.0.0.0/4", "dev", "lo"],
    ):
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def enter():
    """Move this process into a new user + network namespace with multicast on lo.

    Must be called before the process starts any thread. Raises
    NamespaceUnavailable with the reason when the kernel refuses.
    """
    if inside():
        return
    uid, gid = os.getuid(), os.getgid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NamespaceUnavailable(
            "cannot create a private network namespace (unshare: %s); "
            "unprivileged user namespaces may be disabled "
            "(sysctl kernel.unprivileged_userns_clone / user.max_user_namespaces)"
            % os.strerror(err)
        )
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", "0 %d 1" % uid)
    _write("/proc/self/gid_map", "0 %d 1" % gid)
    try:
        _setup_loopback()
    except (OSError, subprocess.CalledProcessError) as e:
        raise NamespaceUnavailable("cannot configure loopback in the namespace: %s" % e)
    os.environ[MARK] = "1"


def available():
    """True if a private namespace can be made here (checked in a child process)."""
    if inside():
        return True
    probe = subprocess.run(
        [sys.executable, "-m", "tools.netns", "--", "true"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    return probe.returncode == 0


def main(argv):
    if not argv or argv[0] != "--" or len(argv) < 2:
        print("usage: python -m tools.netns -- CMD [ARGS...]", file=sys.stderr)
        return 2
    try:
        enter()
    except NamespaceUnavailable as e:
        print("netns: %s" % e, file=sys.stderr)
        return 3
    os.execvp(argv[1], argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
