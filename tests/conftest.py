"""Test session set-up.

The whole pytest process moves into a private user + network namespace before
any test runs (tools.netns), so every socket a test opens, multicast included,
can only reach a fresh loopback: nothing goes to the machine's real
interfaces. Where the kernel forbids user namespaces, tests that need the
network skip with the reason (`needs_netns`).
"""
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Last: the staged folder also holds micropython-lib's logging.py for the board,
# which must not shadow CPython's own logging here.
sys.path.append(os.path.join(REPO, "build", "device_lib"))
sys.path.insert(0, os.path.join(REPO, "files_to_load"))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tools import netns  # noqa: E402
from tools.hostsim.sim import patch_streams  # noqa: E402

# The firmware's HTTP client reads with MicroPython's StreamReader.readinto().
patch_streams()

NETNS_ERROR = None
try:
    netns.enter()
except netns.NamespaceUnavailable as e:
    NETNS_ERROR = str(e)

needs_netns = pytest.mark.skipif(NETNS_ERROR is not None, reason="private network namespace unavailable: %s" % NETNS_ERROR)


@pytest.fixture(scope="module")
def peer():
    """A second simulated host: a nested network namespace joined by a veth pair (tools.netns.PeerHost)."""
    if NETNS_ERROR is not None:
        pytest.skip(NETNS_ERROR)
    try:
        host = netns.PeerHost().start()
    except netns.NamespaceUnavailable as e:
        pytest.skip(str(e))
    try:
        yield host
    finally:
        host.stop()
