"""The napster overlay (course directory protocol) against `warren
directory`: publish, search, download, DREG, the downloader becoming a
source, liveness, directory restarts."""

import os
import shutil

from conftest import make_file, md5_file, request, wait_until
from test_directory import Directory

FAST = ("--napster-check-interval", "0.5", "--napster-retry-max", "0.5",
        "--connect-timeout", "1")


def nstat(node):
    ov = node.status()["overlays"]
    assert ov and ov[0]["name"] == "napster", ov
    return ov[0]


def napster_node(net, name, d, *extra):
    n = net.node(name, start=False)
    n.args += ["--overlay", "napster", "--directory", d.addr] + list(FAST) + list(extra)
    n.start()
    return n


def search(node, term):
    c = node.ctl()
    try:
        msgs = c.events("search", term=term)
    finally:
        c.close()
    assert msgs[-1]["ok"], msgs[-1]
    return [m["hit"] for m in msgs if m.get("event") == "hit"]


def test_publish_search_download_dreg_and_second_source(net, tmp_path):
    d = Directory(str(tmp_path), "--probe-interval", "1", "--probe-fails", "2",
                  "--connect-timeout", "1", "--search-rate", "0").start()
    try:
        nodes = [napster_node(net, "n%d" % i, d) for i in range(3)]
        md5s = [make_file(os.path.join(n.share, "report-%d.pdf" % i), 300000 + i, seed=i)
                for i, n in enumerate(nodes)]
        wait_until(lambda: all(nstat(n)["files"] == 1 for n in nodes), 20, "ADDF")
        # Every node finds the others' files with their address and port.
        for i, n in enumerate(nodes):
            hits = search(n, "REPORT")
            assert sorted((h["md5"], h["source"]["label"]) for h in hits) == \
                sorted((md5s[j], nodes[j].addr) for j in range(3) if j != i)
        # n0 downloads n1's file: MD5 checked, DREG counted, and n0 is
        # now a second source.
        nodes[0].cli("get", md5s[1], check=0)
        assert md5_file(os.path.join(nodes[0].share, "report-1.pdf")) == md5s[1]
        wait_until(lambda: nstat(nodes[0])["counters"]["dreg"] == 1, 20, "DREG")
        wait_until(lambda: sorted(h["source"]["label"] for h in search(nodes[2], "report-1"))
                   == sorted([nodes[0].addr, nodes[1].addr]), 20, "second source")
        # kill -9 n1: probed and dropped; its files leave the directory.
        nodes[1].kill()
        wait_until(lambda: [h["source"]["label"] for h in search(nodes[2], "report-1")]
                   == [nodes[0].addr], 20, "n1 dropped")
        assert search(nodes[2], "report-1.pdf")  # the copy on n0 stays
    finally:
        d.stop()


def test_directory_restart_keeps_everything_and_forgetting_is_repaired(net, tmp_path):
    d = Directory(str(tmp_path), "--probe-interval", "3600").start()
    try:
        a = napster_node(net, "a", d)
        b = napster_node(net, "b", d)
        md5 = make_file(os.path.join(a.share, "holiday.mp4"), 5000, seed=3)
        wait_until(lambda: nstat(a)["files"] == 1, 20, "ADDF")
        session = nstat(a)["session"]
        # kill -9 and restart: the session and the file are still there.
        d.proc.kill()
        d.proc.wait()
        d.start()
        wait_until(lambda: [h["md5"] for h in search(b, "holiday")] == [md5], 20,
                   "found after the restart")
        assert nstat(a)["session"] == session
        # A directory that lost its database: the nodes log in again and
        # publish again by themselves.
        d.stop()
        shutil.rmtree(d.data)
        d.start()
        wait_until(lambda: nstat(a)["session"] != session and nstat(a)["state"] == "ready",
                   20, "a logged in again")
        wait_until(lambda: [h["md5"] for h in search(b, "holiday")] == [md5], 20,
                   "published again")
    finally:
        d.stop()


def test_node_logs_out_on_clean_stop(net, tmp_path):
    d = Directory(str(tmp_path)).start()
    try:
        a = napster_node(net, "a", d)
        make_file(os.path.join(a.share, "x.bin"), 1000, seed=1)
        wait_until(lambda: nstat(a)["files"] == 1, 20, "ADDF")
        sid = nstat(a)["session"].encode()
        assert a.stop() == 0
        # LOGO was sent: the session is gone.
        wait_until(lambda: request(d.addr, b"FIND" + sid + b"x".ljust(20)) ==
                   b"Unauthorized: unknown SessionID.", 10, "LOGO")
    finally:
        d.stop()


def test_search_logs_in_again_at_once_after_the_directory_returns(net, tmp_path):
    """A node waiting out a long backoff (the directory was down) does not
    make the user wait: a search tries the login again at once and runs
    when it succeeds; while the directory is down it fails with why."""
    d = Directory(str(tmp_path), "--probe-interval", "3600").start()
    try:
        a = napster_node(net, "a", d)
        b = napster_node(net, "b", d, "--napster-retry-max", "600")
        md5 = make_file(os.path.join(a.share, "comeback.ogg"), 4000, seed=9)
        wait_until(lambda: nstat(a)["files"] == 1, 20, "ADDF")
        d.stop()
        wait_until(lambda: nstat(b)["state"] == "waiting", 20, "b notices")
        c = b.ctl()
        try:
            msgs = c.events("search", term="comeback")
        finally:
            c.close()
        assert msgs[-1]["ok"] and msgs[-1]["result"]["hits"] == 0, msgs[-1]
        err = msgs[-1]["result"]["overlays"][0]["error"]
        assert "not logged in at the directory" in err and "refused" in err, err
        d.start()
        hits = search(b, "comeback")
        assert [h["md5"] for h in hits] == [md5]
        assert nstat(b)["state"] == "ready"
    finally:
        d.stop()
