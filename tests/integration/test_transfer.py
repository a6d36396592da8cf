"""Files move between two real nodes with RETR, MD5 checked; failures are
reported clearly and never leave a renamed bad file."""

import os
import socket
import threading

import pytest

from conftest import ScriptedPeer, chunked, make_file, md5_file, wait_until

MiB = 1024 * 1024


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 10 * MiB, 100 * MiB])
def test_sizes_move_with_md5_checked(net, size):
    src = net.node("src")
    md5 = make_file(os.path.join(src.share, "f.bin"), size, seed=size)
    wait_until(lambda: src.status()["library"]["files"] == 1, 60, "file hashed")
    dst = net.node("dst")
    out = dst.cli("get", md5, "--from", src.addr, "--name", "f.bin", check=0)
    assert "MD5 verified" in out.stdout
    got = os.path.join(dst.share, "f.bin")
    assert os.path.getsize(got) == size
    assert md5_file(got) == md5
    assert not [f for f in os.listdir(dst.share) if f.endswith(".part")]
    st = src.status()["uploads"]
    # one HASH, then one RETP per 256 KiB part
    assert st["hash_served"] == 1 and st["failed"] == 0
    assert st["completed"] == (size + 262143) // 262144


def test_ipv6_loopback(net):
    src = net.node("src6", ip="::1")
    md5 = make_file(os.path.join(src.share, "six.bin"), 300000, seed=6)
    wait_until(lambda: src.status()["library"]["files"] == 1, 30)
    dst = net.node("dst6", ip="::1")
    dst.cli("get", md5, "--from", src.addr, "--name", "six.bin", check=0)
    assert md5_file(os.path.join(dst.share, "six.bin")) == md5


def test_unknown_md5_is_a_clear_error(net):
    src = net.node("src")
    dst = net.node("dst")
    p = dst.cli("get", "0" * 32, "--from", src.addr, check=1)
    assert "does not have" in p.stderr and "not available" in p.stderr
    assert os.listdir(dst.share) == []


def test_unreachable_peer(net):
    dst = net.node("dst")
    # Nobody listens on this port of dst's own address.
    p = dst.cli("get", "a" * 32, "--from", "%s:9" % dst.ip, check=1)
    assert "cannot reach" in p.stderr and "refused" in p.stderr


def test_bad_md5_argument_is_usage_or_failure(net):
    dst = net.node("dst")
    p = dst.cli("get", "xyz", "--from", "127.0.0.1:1", check=1)
    assert "not an MD5" in p.stderr
    # Without --from the node uses what searches found: nothing here.
    p = dst.cli("get", "a" * 32, check=1)
    assert "no source known" in p.stderr


def test_peer_closing_mid_transfer(net):
    """Every part request dies mid-part: the source is retried with
    backoff, the CLI says so and leaves the download to the node, and no
    file is ever renamed into place."""
    src = net.node("src", env={"WARREN_TEST_FAULTS": "close_after=100000"})
    md5 = make_file(os.path.join(src.share, "big.bin"), 3 * MiB, seed=3)
    wait_until(lambda: src.status()["library"]["files"] == 1, 30)
    assert src.status()["test_faults"] == "close_after=100000"
    dst = net.node("dst")
    p = dst.cli("get", md5, "--from", src.addr, "--name", "big.bin", check=1)
    assert "closed the connection early" in p.stderr
    assert "keeps retrying" in p.stderr
    assert [f for f in os.listdir(dst.share) if not f.endswith(".part")] == []
    d = dst.call("downloads")["result"]["downloads"][0]
    assert d["state"] == "waiting" and d["parts_done"] == 0
    assert d["source_list"][0]["state"] == "backoff"


def test_scripted_peer_truncated_aret(net):
    """A peer that speaks only RETR (it closes on HASH, as existing peers
    do) and then stops mid-reply."""
    dst = net.node("dst")
    data = os.urandom(10000)
    import hashlib
    md5 = hashlib.md5(data).hexdigest()
    # ARET announcing 3 chunks, then only 1.5 of them.
    reply = b"ARET000003" + b"04096" + data[:4096] + b"04096" + data[4096:6000]
    peer = ScriptedPeer(dst.ip, on_retr=lambda m: reply)
    p = dst.cli("get", md5, "--from", peer.addr, "--name", "t.bin", check=1)
    peer.close()
    assert peer.requests[0] == b"HASH" + md5.encode()
    assert b"RETR" + md5.encode() in peer.requests
    assert "closed the connection early" in p.stderr
    assert [f for f in os.listdir(dst.share) if not f.endswith(".part")] == []


def test_scripted_peer_exact_aret(net):
    """The spec's §10.4 shape: 10000 bytes as 4096 + 4096 + 1808."""
    dst = net.node("dst")
    data = os.urandom(10000)
    import hashlib
    md5 = hashlib.md5(data).hexdigest()
    reply = (b"ARET000003" + b"04096" + data[:4096] + b"04096" + data[4096:8192]
             + b"01808" + data[8192:])
    assert len(reply) == 10025
    peer = ScriptedPeer(dst.ip, on_retr=lambda m: reply)
    dst.cli("get", md5, "--from", peer.addr, "--name", "Annual_Report.pdf", check=0)
    peer.close()
    with open(os.path.join(dst.share, "Annual_Report.pdf"), "rb") as f:
        assert f.read() == data


def test_md5_mismatch_kept_aside_never_renamed(net):
    """A RETR-only peer sends the wrong bytes: no part list can catch it,
    the whole-file MD5 does; the data is kept aside, never renamed over
    the good file that has the same name."""
    dst = net.node("dst")
    want = os.urandom(700000)
    import hashlib
    md5 = hashlib.md5(want).hexdigest()
    wrong = bytearray(want)
    wrong[400000] ^= 1
    peer = ScriptedPeer(dst.ip, on_retr=lambda m: chunked(b"ARET", bytes(wrong)))
    good = os.path.join(dst.share, "doc.bin")
    with open(good, "wb") as f:
        f.write(b"precious")
    p = dst.cli("get", md5, "--from", peer.addr, "--name", "doc.bin", check=1)
    peer.close()
    assert "MD5 mismatch" in p.stderr
    with open(good, "rb") as f:
        assert f.read() == b"precious"
    assert "doc.bin.bad.part" in os.listdir(dst.share)


def test_corrupt_part_from_warren_source_is_caught_by_sha1(net):
    """A warren source that corrupts a part: the part's SHA-1 catches it,
    the source is banned, and with no other source the download fails
    without renaming anything."""
    src = net.node("src", env={"WARREN_TEST_FAULTS": "corrupt_part=1"})
    md5 = make_file(os.path.join(src.share, "doc.bin"), 700000, seed=9)
    wait_until(lambda: src.status()["library"]["files"] == 1, 30)
    dst = net.node("dst")
    p = dst.cli("get", md5, "--from", src.addr, "--name", "doc.bin", check=1)
    assert "wrong SHA-1" in p.stderr
    assert "doc.bin" not in os.listdir(dst.share)
    d = dst.call("downloads")["result"]["downloads"][0]
    assert d["state"] == "failed"
    assert d["source_list"][0]["state"] == "banned"
    assert d["source_list"][0]["bad_parts"] == 1


def test_name_with_dotdot_stays_in_download_folder(net, tmp_path):
    src = net.node("src")
    md5 = make_file(os.path.join(src.share, "x.bin"), 5000, seed=5)
    wait_until(lambda: src.status()["library"]["files"] == 1, 30)
    dst = net.node("dst")
    outdir = tmp_path / "dl" / "inner"
    outdir.mkdir(parents=True)
    dst.cli("get", md5, "--from", src.addr, "--name", "../../escape.txt", "-o", str(outdir), check=0)
    files = os.listdir(outdir)
    assert len(files) == 1 and "/" not in files[0]
    assert md5_file(os.path.join(outdir, files[0])) == md5
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "dl" / "escape.txt").exists()
    for bad in ["..", ".", "a/b\\c\x01d"]:
        p = dst.cli("get", md5, "--from", src.addr, "--name", bad, "-o", str(outdir), check=0)
        assert p.returncode == 0
    names = sorted(os.listdir(outdir))
    assert all("/" not in n and n not in (".", "..") for n in names)
    assert md5 in names  # "." and ".." became the md5
    assert "a_b_c_d" in names


def test_existing_name_gets_a_number(net):
    src = net.node("src")
    md5 = make_file(os.path.join(src.share, "r.txt"), 1234, seed=1)
    wait_until(lambda: src.status()["library"]["files"] == 1, 30)
    dst = net.node("dst")
    for _ in range(2):
        dst.cli("get", md5, "--from", src.addr, "--name", "r.txt", check=0)
    assert sorted(os.listdir(dst.share)) == ["r (1).txt", "r.txt"]


def test_background_get_and_downloads_listing(net):
    src = net.node("src")
    md5 = make_file(os.path.join(src.share, "bg.bin"), 2 * MiB, seed=2)
    wait_until(lambda: src.status()["library"]["files"] == 1, 30)
    dst = net.node("dst")
    p = dst.cli("get", md5, "--from", src.addr, "--name", "bg.bin", "--background", check=0)
    assert "started" in p.stdout

    def done():
        r = dst.call("downloads")["result"]["downloads"]
        return r and r[0]["state"] == "done" and r[0]

    d = wait_until(done, 30, "background download")
    assert d["md5"] == md5 and d["bytes"] == 2 * MiB
    assert md5_file(os.path.join(dst.share, "bg.bin")) == md5
    out = dst.cli("downloads", check=0).stdout
    assert "done" in out and "bg.bin" in out


def test_get_json_streams_events(net):
    src = net.node("src")
    md5 = make_file(os.path.join(src.share, "j.bin"), 3 * MiB, seed=4)
    wait_until(lambda: src.status()["library"]["files"] == 1, 30)
    dst = net.node("dst")
    p = dst.cli("get", md5, "--from", src.addr, "--json", check=0)
    import json
    msgs = [json.loads(l) for l in p.stdout.splitlines()]
    assert msgs[0]["event"] == "started"
    assert msgs[-1]["done"] and msgs[-1]["ok"]
    assert msgs[-1]["result"]["download"]["state"] == "done"
