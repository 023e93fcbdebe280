"""`make demo` must keep working: a short day, discovery over mDNS, lines printed, plot written."""
import os
import subprocess
import sys

from tests.conftest import REPO, needs_netns


@needs_netns
def test_demo_runs_a_compressed_day(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tools.demo", "--day-seconds", "12", "--out", str(tmp_path)],
                         cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
                         stdin=subprocess.DEVNULL)
    text = out.stdout.decode()
    assert out.returncode == 0, text
    assert "advertised over mDNS" in text
    assert "found by mDNS" in text
    price_lines = [line for line in text.splitlines() if " $/kWh " in line]
    assert len(price_lines) >= 5, text
    # The SETPOINT reports the VTN took match what the outputs did (the demo checks it, <= 2 %).
    assert [line for line in text.splitlines() if line.startswith("report: ")], text
    png = tmp_path / "demo.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
