"""Clients that half-close: they send their request, shut down their sending
side (shutdown(SHUT_WR), as `nc -N` and `socat` do) and only then read the
answer. Course.md R requests (directory, RETR/HASH on a node, a kazaa
supernode's FIND) and beer2beer frames (answered on the loop or on the
thread pool, pipelined) still get their whole answer, whether the FIN rides
in the request's own segment or comes on its own. A client that half-closes
with nothing sent, or inside a request, is closed without an answer and
leaves nothing behind: connection limits of 2 prove that each such
connection is gone before the next one comes."""

import hashlib
import os
import socket
import struct

import pytest

from conftest import connect, ipp2p, make_file, next_ipv4, oneshot, recv_all, wait_until
from test_directory import Directory, login as course_login
from test_directory_b2b import (FAST, KEEP_ALIVE, LOGIN, REGISTER, SEARCH_FILE,
                                SHOW_PEERS, frame, start)
from test_kazaa import kstat, supernode
from test_upload_limits import BUSY, aret_body, hold_slot, uploads

MiB = 1024 * 1024
REP = b"0f53217fc7c8e7f89e8a8558e64a7083"


def half_close(addr, data, src=None, one_segment=False, timeout=15.0):
    """Connect (from src), send data, shut down the sending side, then read
    until the server closes. With one_segment the FIN rides in the data's
    own segment (TCP_CORK holds the data until shutdown tacks the FIN on).
    Returns every byte received; a reset is an error."""
    with connect(addr, src, timeout) as s:
        if one_segment:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        if data:
            s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        return recv_all(s)


def b2b_frames(raw):
    """Split a byte string into beer2beer frames: [(type, payload)]."""
    out = []
    while raw:
        assert len(raw) >= 4, raw
        n, t = struct.unpack("<HH", raw[:4])
        assert len(raw) >= 4 + n, "truncated frame: %r" % raw
        out.append((t, raw[4:4 + n]))
        raw = raw[4 + n:]
    return out


# ------------------------------------------------------------ beer2beer


@pytest.mark.parametrize("one_segment", [False, True])
def test_b2b_answers_a_half_closed_client(tmp_path, one_segment):
    # The real password cost (200000 PBKDF2 rounds): REGISTER and LOGIN are
    # still on the thread pool when the FIN arrives.
    d = start(tmp_path, "--search-rate", "0")
    try:
        # A REGISTER alone, answered from the pool.
        got = half_close(d.b2b_addr, frame(REGISTER, b"ann\npw\n"),
                         one_segment=one_segment)
        assert b2b_frames(got) == [(101, b"REGISTER_OK\n1")]
        # A LOGIN alone (pool, password check).
        got = half_close(d.b2b_addr, frame(LOGIN, b"ann\npw\n1\n10.0.0.1\n3000\n"),
                         one_segment=one_segment)
        assert b2b_frames(got) == [(102, b"LOGIN_OK")]
        # A query answered on the loop.
        got = half_close(d.b2b_addr, frame(SHOW_PEERS, b""), one_segment=one_segment)
        assert b2b_frames(got) == [(105, b"SHOW_PEERS_OK\n1\nann\nonline\n10.0.0.1\n3000\n")]
        # Several frames, then the FIN: every one answered, in order, then
        # the close. The pool's and the loop's answers alternate.
        pipeline = (frame(REGISTER, b"bob\npw\n")
                    + frame(SEARCH_FILE, b"nothing\n")
                    + frame(LOGIN, b"bob\npw\n2\n10.0.0.2\n3001\n")
                    + frame(KEEP_ALIVE, b"2\n")
                    + frame(LOGIN, b"bob\nwrong\n2\n10.0.0.2\n3001\n"))
        got = half_close(d.b2b_addr, pipeline, one_segment=one_segment)
        assert b2b_frames(got) == [
            (101, b"REGISTER_OK\n2"),
            (107, b"SEARCH_FILE_OK\n"),
            (102, b"LOGIN_OK"),
            (103, b"KEEP_ALIVE_OK"),
            (202, b"LOGIN_KO\nbad user or password"),
        ]
    finally:
        d.stop()


def test_b2b_half_close_without_a_whole_frame_is_closed_and_freed(tmp_path):
    # 16 connections at most, 2 from one address: a connection kept after
    # its client's FIN would lock this address out after two of them.
    d = start(tmp_path, *FAST, "--max-b2b-connections", "16")
    src = next_ipv4()
    try:
        whole = frame(REGISTER, b"carol\npw\n")
        for i in range(6):
            # Nothing sent.
            assert half_close(d.b2b_addr, b"", src=src) == b""
            # Inside the header, inside the payload.
            assert half_close(d.b2b_addr, whole[:3], src=src) == b""
            assert half_close(d.b2b_addr, whole[:-1], src=src,
                              one_segment=bool(i % 2)) == b""
            # A whole frame, then part of the next: the first is answered,
            # the partial one is not.
            got = half_close(d.b2b_addr, frame(SHOW_PEERS, b"") + whole[:6], src=src)
            assert b2b_frames(got) == [(105, b"SHOW_PEERS_OK\n")]
        # None of it registered anything; the address is served as before.
        got = half_close(d.b2b_addr, whole, src=src)
        assert b2b_frames(got) == [(101, b"REGISTER_OK\n1")]
    finally:
        d.stop()


# ---------------------------------------------------- course directory


@pytest.mark.parametrize("one_segment", [False, True])
def test_directory_answers_a_half_closed_client(tmp_path, one_segment):
    d = Directory(str(tmp_path)).start()
    try:
        p = next_ipv4()
        algi = half_close(d.addr, b"LOGI" + ipp2p(p) + b"03000", src=p,
                          one_segment=one_segment)
        assert algi[:4] == b"ALGI" and len(algi) == 20 and algi[4:] != b"0" * 16, algi
        sid = algi[4:]
        assert half_close(d.addr, b"ADDF" + sid + REP + b"Annual_Report.pdf".ljust(100),
                          one_segment=one_segment) == b"AADD001"
        # FIND is answered from the thread pool.
        afin = half_close(d.addr, b"FIND" + sid + b"report".ljust(20),
                          one_segment=one_segment)
        assert afin == (b"AFIN001" + REP + b"Annual_Report.pdf".ljust(100) + b"001"
                        + ipp2p(p) + b"03000")
        assert half_close(d.addr, b"FIND" + sid + b"nothing".ljust(20),
                          one_segment=one_segment) == b"AFIN000"
        assert half_close(d.addr, b"DREG" + sid + REP,
                          one_segment=one_segment) == b"ADRE00001"
        assert half_close(d.addr, b"LOGO" + sid, one_segment=one_segment) == b"ALGO001"
    finally:
        d.stop()


def test_directory_half_close_before_a_whole_request_is_closed_and_freed(tmp_path):
    # Two connections at most: one kept after its FIN shows at once.
    d = Directory(str(tmp_path), "--max-connections", "2").start()
    try:
        p = next_ipv4()
        logi = b"LOGI" + ipp2p(p) + b"03000"
        for i in range(6):
            assert half_close(d.addr, b"") == b""
            assert half_close(d.addr, logi[:2]) == b""
            assert half_close(d.addr, logi[:-1], one_segment=bool(i % 2)) == b""
        sid = course_login(d, p)
        assert d.req(b"FIND" + sid + b"x".ljust(20)) == b"AFIN000"
    finally:
        d.stop()


# ------------------------------------------------------------ node: RETR


def test_retr_to_a_half_closed_client_is_whole(net):
    n = net.node("src")
    md5 = make_file(os.path.join(n.share, "f.bin"), 3 * MiB + 123, seed=7)
    wait_until(lambda: n.status()["library"]["files"] == 1, 60, "file hashed")
    for one_segment in (False, True):
        body = aret_body(half_close(n.addr, b"RETR" + md5.encode(),
                                    one_segment=one_segment, timeout=30))
        assert len(body) == 3 * MiB + 123
        assert hashlib.md5(body).hexdigest() == md5
    ahas = half_close(n.addr, b"HASH" + md5.encode())
    assert ahas[:4] == b"AHAS" and len(ahas) == 4 + 10 + 6 + 8 + 13 * 40
    # An unknown md5 gets its sentence, not a silent close.
    assert half_close(n.addr, b"RETR" + b"0" * 32).startswith(b"Sorry")
    wait_until(lambda: uploads(n)["active"] == 0, 10, "uploads over")
    st = uploads(n)
    assert st["completed"] == 2 and st["failed"] == 0 and st["hash_served"] == 1
    # A request cut short by the FIN is closed without a word.
    before = n.status()["requests"]["truncated"]
    assert half_close(n.addr, b"RETR" + md5.encode()[:10]) == b""
    assert half_close(n.addr, b"") == b""
    wait_until(lambda: n.status()["requests"]["truncated"] == before + 1, 10,
               "truncated request counted")


def test_half_closed_client_that_stops_reading_meets_the_idle_deadline(net):
    n = net.node("src", args=["--idle-timeout", "1"])
    md5 = make_file(os.path.join(n.share, "big.bin"), 16 * MiB, seed=8)
    wait_until(lambda: n.status()["library"]["files"] == 1, 60, "file hashed")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.settimeout(30)
    try:
        s.connect((n.ip, n.port))
        s.sendall(b"RETR" + md5.encode())
        s.shutdown(socket.SHUT_WR)
        assert s.recv(10).startswith(b"ARET")
        # It reads no more: the upload stalls and the deadline ends it.
        wait_until(lambda: uploads(n)["failed"] == 1, 15, "stalled upload dropped")
        assert uploads(n)["active"] == 0
    finally:
        s.close()


def test_queued_retr_that_half_closes_gets_busy_at_once(net):
    n = net.node("src", args=["--upload-slots", "1", "--upload-queue", "4"])
    md5s = [make_file(os.path.join(n.share, "f%d.bin" % i), size, seed=10 + i)
            for i, size in enumerate((16 * MiB, MiB))]
    wait_until(lambda: n.status()["library"]["files"] == 2, 60, "files hashed")
    hog = hold_slot(n, md5s[0])
    try:
        # Whether it left or waits half-closed, it does not keep a place in
        # the queue, and a client that waits has an answer to act on.
        assert half_close(n.addr, b"RETR" + md5s[1].encode()) == BUSY
        st = uploads(n)
        assert st["queued"] == 0 and st["queued_total"] == 1 and st["active"] == 1
    finally:
        hog.close()
    wait_until(lambda: uploads(n)["active"] == 0, 10, "the hog's upload over")
    body = aret_body(half_close(n.addr, b"RETR" + md5s[1].encode()))
    assert hashlib.md5(body).hexdigest() == md5s[1]


# ------------------------------------------------------ kazaa supernode


def test_kazaa_find_from_a_half_closed_client(net):
    sn = supernode(net, "s")
    me = next_ipv4()
    me_id = ipp2p(me) + b"03000"
    algi = half_close(sn.addr, b"LOGI" + me_id, src=me)
    assert algi[:4] == b"ALGI" and algi[4:] != b"0" * 16, algi
    sid = algi[4:]
    oneshot(sn.addr, b"ADFF" + sid + REP + b"Annual_Report.pdf".ljust(100))
    wait_until(lambda: kstat(sn)["index"]["files"] == 1, 10, "ADFF")
    # The FIND is held for the collection window; the FIN does not end it.
    for one_segment in (False, True):
        afin = half_close(sn.addr, b"FIND" + sid + b"report".ljust(20),
                          one_segment=one_segment)
        assert afin == b"AFIN001" + REP + b"Annual_Report.pdf".ljust(100) + b"001" + me_id
