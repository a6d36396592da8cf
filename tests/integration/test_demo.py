"""scripts/demo.py, the README's main job, as CI runs it: every overlay
that exists today, a search and an MD5-checked download in each, a merged
search through all of them, and no process left behind."""

import os
import signal
import subprocess
import sys
import time

from conftest import ROOT, WARREN


def pgrep(pattern):
    """PIDs of the processes whose command line contains pattern."""
    p = subprocess.run(["pgrep", "-f", "--", pattern], capture_output=True, text=True)
    return sorted(int(x) for x in p.stdout.split())


def test_demo_every_overlay_md5s_verified_nothing_left(tmp_path):
    # Every process the demo starts has the run folder on its command line.
    run = str(tmp_path / "run")
    before = pgrep(run)
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "scripts", "demo.py"),
                          "--bin", WARREN, "--run-dir", run],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGTERM)  # the demo stops its processes
        out, err = p.communicate(timeout=60)
        raise AssertionError("demo still running after 120 s:\n%s\n%s" % (out, err))
    took = time.monotonic() - t0
    left = [pid for pid in pgrep(run) if pid not in before]
    msg = "demo exited %d after %.1f s\nstdout:\n%s\nstderr:\n%s" % (p.returncode, took, out, err)
    assert p.returncode == 0, msg
    assert "all MD5s verified" in out, msg
    assert not left, "processes left: %s\n%s" % (left, msg)
    assert not os.path.exists(run), "run folder not removed\n" + msg
