"""Fixtures of the upload tests: a sandbox copy of the repository and simulated
boards on ptys (tools/replboard), stopped and checked for simulator errors at
the end of each test."""
import os

import pytest

from tests.deploy import support
from tools.replboard import board as replboard


def _need(path, what):
    if not os.path.exists(path):
        pytest.skip("%s missing (%s): run `make setup`" % (path, what))


@pytest.fixture
def sandbox(tmp_path):
    _need(os.path.join(support.DEVICE_LIB, "mdns_client", "__init__.py"), "staged device libraries")
    # logging comes from the mip index (internet) or ../shared's MicroPython tarball.
    _need(os.path.join(support.DEVICE_LIB, "logging.py"), "micropython-lib logging, staged")
    return support.make_sandbox(str(tmp_path / "repo"))


@pytest.fixture
def make_board(tmp_path):
    _need(os.path.join(support.REPO, ".venv", "bin", "micropython"), "the MicroPython unix port")
    boards = []

    def make(name="flash", **kw):
        b = replboard.Board(str(tmp_path / name), **kw)
        boards.append(b)
        return b.start()
    yield make
    for b in boards:
        b.stop()
    for b in boards:
        assert not b.errors, "the simulated board itself failed:\n" + "\n".join(b.errors)
