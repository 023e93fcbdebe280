"""The memory goal of issue 5 as a test, on the real MicroPython VM: reducing
GET /events of 672 x 15 min intervals into the compact schedule takes at most
48 KB of heap and at most a quarter of what json.loads of the same body
takes (method: tools/bench/memory.py). Skipped without node."""
import shutil

import pytest

from tools.bench import memory

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: the VM runs under Node")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("heap")
    for name in ("vm_heap.py", "eventbody.py"):
        shutil.copy("%s/tools/bench/%s" % (memory.REPO, name), str(d))
    return str(d)


def test_672_intervals_fit_the_budget(workdir):
    _, _, stream = memory.vm_cycle(workdir, "stream", 672, 900, memory.START_HEAP)
    _, _, naive = memory.vm_cycle(workdir, "naive", 672, 900, memory.START_HEAP)
    assert stream["ok"] and naive["ok"]
    assert stream["peak"] <= 48 * 1024, stream
    assert stream["peak"] <= 0.25 * naive["peak"], (stream, naive)

