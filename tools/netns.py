"""Private network namespaces for tests, demos and benchmarks.

Everything that multicasts (mDNS) or serves HTTP on the host runs inside a
network namespace that this module creates, where the only interface is a
fresh loopback with multicast routed to it. Nothing can reach the machine's
real interfaces from there.

Two ways to use it:

    python -m tools.netns -- CMD ARGS...   # run CMD inside a new namespace
    tools.netns.enter()                    # move this (single-threaded) process
    with tools.netns.PeerHost() as peer:   # a second host behind a veth pair

Inside the namespace, use distinct 127.0.0.x addresses per simulated host
(micropython-mdns ignores packets whose source equals its own address).
"""

import ctypes
import os
import subprocess
import sys
import time

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


class PeerHost:
    """A second simulated host: a nested network namespace joined to this one
    by a veth pair, for what one namespace cannot show (e.g. a VEN that must
    find UDP 5353 taken while the VTN's responder holds it too).

        with PeerHost() as peer:          # call inside a namespace made here
            peer.here, peer.there         # 10.254.N.1 (this side), 10.254.N.2 (peer)
            proc = peer.popen([sys.executable, "-m", "tools.discover", "--ip", peer.there])

    Both ends have multicast on; the peer routes 224.0.0.0/4 to its end and
    brings its own loopback up. A process here reaches the peer through
    `here` (e.g. python-zeroconf with interfaces=[peer.here]). Everything is
    torn down with the holder process (the veth pair goes with its namespace).
    """

    _count = 0

    def __init__(self, index=None, timeout=10.0):
        if index is None:
            PeerHost._count += 1
            index = (os.getpid() + PeerHost._count) % 200 + 20
        self.index = index
        self.here = "10.254.%d.1" % index
        self.there = "10.254.%d.2" % index
        self.here_if = "vp%da" % index
        self.there_if = "vp%db" % index
        self.timeout = timeout
        self.holder = None

    def _ip(self, *args, inside=False):
        cmd = ["ip"] + list(args)
        if inside:
            cmd = ["nsenter", "-t", str(self.holder.pid), "-n", "--"] + cmd
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=self.timeout)

    def start(self):
        if not inside():
            raise NamespaceUnavailable("PeerHost needs a private namespace first (tools.netns.enter())")
        # The holder keeps the nested namespace alive; `unshare -n` needs no
        # privilege beyond the user namespace this process already is root in.
        self.holder = subprocess.Popen(["unshare", "-n", "--", "sleep", "3600"],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        try:
            self._wait_for_namespace()
            self._ip("link", "add", self.here_if, "type", "veth", "peer", "name", self.there_if,
                     "netns", str(self.holder.pid))
            self._ip("addr", "add", self.here + "/24", "dev", self.here_if)
            self._ip("link", "set", self.here_if, "multicast", "on", "up")
            self._ip("link", "set", "lo", "up", inside=True)
            self._ip("addr", "add", self.there + "/24", "dev", self.there_if, inside=True)
            self._ip("link", "set", self.there_if, "multicast", "on", "up", inside=True)
            self._ip("route", "add", "224.0.0.0/4", "dev", self.there_if, inside=True)
        except (OSError, subprocess.SubprocessError) as e:
            self.stop()
            err = getattr(e, "stderr", b"") or b""
            raise NamespaceUnavailable("cannot set up a peer namespace: %s %s" % (e, err.decode("utf-8", "replace")))
        return self

    def _wait_for_namespace(self):
        # unshare(1) switches namespaces before it execs sleep: wait until the
        # holder's namespace differs from ours (bounded).
        mine = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            try:
                if os.readlink("/proc/%d/ns/net" % self.holder.pid) != mine:
                    return
            except OSError:
                pass
            if self.holder.poll() is not None:
                break
            time.sleep(0.005)
        raise NamespaceUnavailable("the peer namespace did not come up (unshare exit %s)" % self.holder.poll())

    def argv(self, argv):
        """argv wrapped to run inside the peer namespace."""
        return ["nsenter", "-t", str(self.holder.pid), "-n", "--"] + list(argv)

    def popen(self, argv, **kwargs):
        return subprocess.Popen(self.argv(argv), **kwargs)

    def run(self, argv, **kwargs):
        return subprocess.run(self.argv(argv), **kwargs)

    def stop(self):
        if self.holder is not None and self.holder.poll() is None:
            self.holder.kill()
            self.holder.wait(self.timeout)
        self.holder = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


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
