"""The download engine: parts from several sources at once, every part
checked, bad sources banned, dead sources retried, resume after kill -9,
mixed warren and RETR-only sources, rate limits, pause/resume/cancel."""

import hashlib
import os
import time

from conftest import (PART, ScriptedPeer, ahas, chunked, make_file, md5_file,
                      wait_until)

MiB = 1024 * 1024


def read(path):
    with open(path, "rb") as f:
        return f.read()


def downloads(node):
    return node.call("downloads")["result"]["downloads"]


def the_download(node):
    ds = downloads(node)
    assert len(ds) == 1, ds
    return ds[0]


def sources_by_label(d):
    return {s["label"]: s for s in d["source_list"]}


def test_four_sources_one_corrupt_one_dying(net):
    size = 64 * MiB
    data_path = os.path.join(net.tmp, "orig.bin")
    md5 = make_file(data_path, size, seed=64)
    data = read(data_path)
    # Three warren sources, slowed so there is time to kill one mid-way.
    srcs = []
    for i in range(3):
        n = net.node("src%d" % i, start=False, args=["--upload-rate", "12M"])
        os.link(data_path, os.path.join(n.share, "big.bin"))
        n.start()
        srcs.append(n)
    for n in srcs:
        wait_until(lambda: n.status()["library"]["files"] == 1, 60)
    # A fourth source that knows the right part list but corrupts parts.
    def bad_part(md5_, p):
        part = bytearray(data[p * PART:(p + 1) * PART])
        part[100] ^= 1
        return chunked(b"AREP", bytes(part))

    corrupt = ScriptedPeer(srcs[0].ip.rsplit(".", 1)[0] + ".253",
                           on_hash=lambda m: ahas(data), on_retp=bad_part)
    dst = net.node("dst")
    froms = []
    for n in srcs:
        froms += ["--from", n.addr]
    froms += ["--from", corrupt.addr]
    p = dst.cli("get", md5, "--name", "big.bin", "--background", *froms, check=0)
    assert "started" in p.stdout
    # Kill one source once a quarter of the file is in.
    wait_until(lambda: the_download(dst)["parts_done"] >= 64, 60, "a quarter")
    srcs[2].kill()
    d = wait_until(lambda: (lambda x: x if x["state"] in ("done", "failed") else None)(
        the_download(dst)), 120, "download end")
    corrupt.close()
    assert d["state"] == "done", d
    assert md5_file(os.path.join(dst.share, "big.bin")) == md5
    by = sources_by_label(d)
    bad = by[corrupt.addr]
    assert bad["state"] == "banned" and bad["bad_parts"] >= 1
    assert by[srcs[2].addr]["state"] in ("backoff", "idle", "active")
    assert by[srcs[0].addr]["good_parts"] > 0 and by[srcs[1].addr]["good_parts"] > 0
    # Only bad or interrupted parts were fetched twice: the corrupt
    # source's parts (at most the 2 it had in flight) and the parts the
    # killed source had in flight (at most 2).
    total = sum(s["fetched"] for s in d["source_list"])
    assert total == d["fetched"]
    assert size <= total <= size + 4 * PART, (total - size) / PART


def test_resume_after_kill9(net):
    size = 32 * MiB
    src = net.node("src", start=False, args=["--upload-rate", "6M"])
    md5 = make_file(os.path.join(src.share, "r.bin"), size, seed=32)
    src.start()
    dst = net.node("dst")
    dst.cli("get", md5, "--from", src.addr, "--name", "r.bin", "--background", check=0)
    wait_until(lambda: the_download(dst)["parts_done"] >= 48, 60, "40%")
    dst.kill()
    fetched_before_kill_at_least = 48 * PART
    dst.expect_exit = 0
    dst.start()
    d = the_download(dst)
    assert d["state"] in ("checking", "receiving"), d
    d = wait_until(lambda: (lambda x: x if x["state"] == "done" else None)(the_download(dst)),
                   120, "resumed download done")
    assert md5_file(os.path.join(dst.share, "r.bin")) == md5
    # After the restart only what was missing came again.
    second_run = sum(s["fetched"] for s in d["source_list"])
    assert second_run <= size - fetched_before_kill_at_least + 2 * PART
    assert d["fetched"] < size + 2 * PART
    assert "resumed" in dst.read_log()


def test_mixed_warren_and_retr_only_sources(net):
    size = 3 * MiB + 12345
    src = net.node("src")
    md5 = make_file(os.path.join(src.share, "m.bin"), size, seed=7)
    wait_until(lambda: src.status()["library"]["files"] == 1, 30)
    data = read(os.path.join(src.share, "m.bin"))
    old = ScriptedPeer(src.ip.rsplit(".", 1)[0] + ".254",
                       on_retr=lambda m: chunked(b"ARET", data))
    dst = net.node("dst")
    dst.cli("get", md5, "--from", old.addr, "--from", src.addr, "--name", "m.bin", check=0)
    old.close()
    assert md5_file(os.path.join(dst.share, "m.bin")) == md5
    d = the_download(dst)
    by = sources_by_label(d)
    assert by[old.addr]["protocol"] == "retr"
    assert by[src.addr]["protocol"] == "retp"


def test_retr_only_source_alone_then_dies_falls_back(net):
    """Two RETR-only peers; the first dies mid-file: the whole file comes
    from the second, correct."""
    data = os.urandom(2 * MiB)
    md5 = hashlib.md5(data).hexdigest()
    base = "127.%d.%d" % (os.getpid() % 200 + 1, 240)
    dying = ScriptedPeer(base + ".1", on_retr=lambda m: chunked(b"ARET", data)[:700000])
    good = ScriptedPeer(base + ".2", on_retr=lambda m: chunked(b"ARET", data))
    dst = net.node("dst")
    dst.cli("get", md5, "--from", dying.addr, "--from", good.addr, "--name", "x.bin",
            "--wait", check=0)
    dying.close()
    good.close()
    assert read(os.path.join(dst.share, "x.bin")) == data


def test_no_working_source_waits_then_recovers(net):
    src = net.node("src", start=False, args=["--retry-min", "0.2", "--retry-max", "1"])
    md5 = make_file(os.path.join(src.share, "w.bin"), 1 * MiB, seed=11)
    dst = net.node("dst", args=["--retry-min", "0.2", "--retry-max", "0.5"])
    p = dst.cli("get", md5, "--from", src.addr, "--name", "w.bin", check=1)
    assert "keeps retrying" in p.stderr and "cannot reach" in p.stderr
    d = the_download(dst)
    assert d["state"] == "waiting" and "cannot reach" in d["waiting_for"]
    out = dst.cli("downloads", check=0).stdout
    assert "waiting" in out and "retry in" in out
    src.start()  # the source comes up: the download finishes by itself
    wait_until(lambda: the_download(dst)["state"] == "done", 30, "recovered")
    assert md5_file(os.path.join(dst.share, "w.bin")) == md5


def test_download_rate_limit(net):
    size = 24 * MiB
    src = net.node("src")
    md5 = make_file(os.path.join(src.share, "rl.bin"), size, seed=5)
    wait_until(lambda: src.status()["library"]["files"] == 1, 30)
    dst = net.node("dst", args=["--download-rate", "2M"])
    dst.cli("get", md5, "--from", src.addr, "--name", "rl.bin", "--background", check=0)
    wait_until(lambda: the_download(dst)["fetched"] >= 2 * MiB, 30)
    t0, b0 = time.monotonic(), the_download(dst)["fetched"]
    time.sleep(5)  # the measurement window itself, not synchronisation
    t1, b1 = time.monotonic(), the_download(dst)["fetched"]
    rate = (b1 - b0) / (t1 - t0)
    assert 0.9 * 2 * MiB <= rate <= 1.1 * 2 * MiB, rate / MiB
    dst.cli("cancel", str(the_download(dst)["id"]), check=0)


def test_pause_resume_cancel(net):
    src = net.node("src", args=["--upload-rate", "4M"])
    md5 = make_file(os.path.join(src.share, "p.bin"), 16 * MiB, seed=12)
    wait_until(lambda: src.status()["library"]["files"] == 1, 30)
    dst = net.node("dst")
    dst.cli("get", md5, "--from", src.addr, "--name", "p.bin", "--background", check=0)
    did = str(the_download(dst)["id"])
    wait_until(lambda: the_download(dst)["parts_done"] >= 4, 30)
    assert "paused" in dst.cli("pause", did, check=0).stdout
    done_at_pause = the_download(dst)["parts_done"]
    # Paused stays paused across a restart.
    assert dst.stop() == 0
    dst.start()
    d = wait_until(lambda: (lambda x: x if x["state"] == "paused" else None)(the_download(dst)), 30)
    assert d["parts_done"] >= done_at_pause - 2
    did = str(d["id"])
    dst.cli("resume", did, check=0)
    wait_until(lambda: the_download(dst)["state"] == "done", 60)
    assert md5_file(os.path.join(dst.share, "p.bin")) == md5
    # cancel: the .part goes away
    md5b = make_file(os.path.join(src.share, "q.bin"), 16 * MiB, seed=13)
    wait_until(lambda: any(f["md5"] == md5b for f in src.call("share.ls")["result"]["files"]), 30)
    dst.cli("get", md5b, "--from", src.addr, "--name", "q.bin", "--background", check=0)
    qd = [x for x in downloads(dst) if x["md5"] == md5b][0]
    wait_until(lambda: [x for x in downloads(dst) if x["md5"] == md5b][0]["parts_done"] >= 2, 30)
    dst.cli("cancel", str(qd["id"]), check=0)
    wait_until(lambda: not [f for f in os.listdir(dst.share) if f.startswith("q.bin")], 10)
    assert dst.cli("cancel", str(qd["id"])).returncode == 1
    assert dst.cli("pause", "999").returncode == 1
    assert dst.cli("pause", "x").returncode == 2
