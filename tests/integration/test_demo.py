"""scripts/demo.py, the README's main job, as CI runs it: all four
overlays, a search and an MD5-checked download in each, a merged search
through all of them by the node that joined the four, and no process left
behind, also when the demo is interrupted."""

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
    for ov in ("napster", "gnutella", "kazaa", "chord"):
        assert any(l.split()[:1] == [ov] and "MD5" in l and "ok" in l
                   for l in out.splitlines()), (ov, msg)
        assert "through %-8s" % ov in out, (ov, msg)
    assert "M searched 'warren-common' in all its overlays: 4 hits" in out, msg
    assert not left, "processes left: %s\n%s" % (left, msg)
    assert not os.path.exists(run), "run folder not removed\n" + msg


def test_demo_interrupted_stops_everything(tmp_path):
    """Ctrl-C while the network is up: every process stops, status 130."""
    run = str(tmp_path / "run")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "scripts", "demo.py"),
                          "--bin", WARREN, "--run-dir", run],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen = []
    try:
        for line in p.stdout:
            seen.append(line)
            if line.startswith("network up"):
                break
        assert pgrep(run), "no demo process running:\n" + "".join(seen)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    msg = "".join(seen) + out + err
    assert p.returncode == 128 + signal.SIGINT, msg
    assert "interrupted (SIGINT)" in err, msg
    assert pgrep(run) == [], msg
