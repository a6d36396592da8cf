"""The node's main port against raw, byte-exact course.md frames: RETR,
HASH, RETP, malformed requests, busy slots, files changing mid-upload."""

import hashlib
import os
import socket
import time

from conftest import make_file, wait_until

MiB = 1024 * 1024
PART = 262144


def connect(node, timeout=10):
    fam = socket.AF_INET6 if ":" in node.ip else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((node.ip, node.port))
    return s


def exchange(node, req, timeout=10):
    """Send req in one write; read until the node closes."""
    s = connect(node, timeout)
    s.sendall(req)
    out = b""
    while True:
        try:
            b = s.recv(1 << 20)
        except socket.timeout:
            break
        if not b:
            break
        out += b
    s.close()
    return out


def parse_chunked(kind, data):
    assert data[:4] == kind, data[:80]
    n = int(data[4:10])
    off, body, lens = 10, bytearray(), []
    for _ in range(n):
        ln = int(data[off:off + 5])
        lens.append(ln)
        body += data[off + 5:off + 5 + ln]
        off += 5 + ln
    assert off == len(data), "trailing bytes after the reply"
    return bytes(body), lens


def shared(net, size, seed=0, name="f.bin", **kw):
    n = net.node("src", **kw)
    md5 = make_file(os.path.join(n.share, name), size, seed)
    wait_until(lambda: n.status()["library"]["files"] == 1, 30)
    with open(os.path.join(n.share, name), "rb") as f:
        data = f.read()
    return n, md5, data


def test_retr_byte_exact_chunks(net):
    n, md5, data = shared(net, 10000)
    out = exchange(n, b"RETR" + md5.encode())
    assert out[:10] == b"ARET000003"
    body, lens = parse_chunked(b"ARET", out)
    assert lens == [4096, 4096, 1808] and body == data
    assert len(out) == 10025


def test_retr_upper_case_md5_accepted(net):
    n, md5, data = shared(net, 5000)
    body, _ = parse_chunked(b"ARET", exchange(n, b"RETR" + md5.upper().encode()))
    assert body == data


def test_retr_empty_file(net):
    n, md5, _ = shared(net, 0)
    assert exchange(n, b"RETR" + md5.encode()) == b"ARET000000"


def test_retr_unknown(net):
    n = net.node("src")
    out = exchange(n, b"RETR" + b"0" * 32)
    assert out == b"Sorry, the requested file is not available from this peer."


def test_hash_and_retp(net):
    n, md5, data = shared(net, 600000)
    out = exchange(n, b"HASH" + md5.encode())
    assert out[:28] == b"AHAS0000600000262144" + b"00000003"
    assert len(out) == 148
    for i in range(3):
        part = data[i * PART:(i + 1) * PART]
        assert out[28 + 40 * i:68 + 40 * i] == hashlib.sha1(part).hexdigest().encode()
    # the last part: 75712 bytes = 18 x 4096 + 1984
    out = exchange(n, b"RETP" + md5.encode() + b"00000002")
    body, lens = parse_chunked(b"AREP", out)
    assert lens == [4096] * 18 + [1984] and body == data[2 * PART:]
    assert len(out) == 75817
    out = exchange(n, b"RETP" + md5.encode() + b"00000000")
    body, lens = parse_chunked(b"AREP", out)
    assert body == data[:PART] and len(lens) == 64 and len(out) == 262474
    # part out of range
    out = exchange(n, b"RETP" + md5.encode() + b"00000003")
    assert out.startswith(b"Invalid request")


def test_malformed_requests(net):
    n, md5, _ = shared(net, 100, args=["--request-timeout", "1"])
    # one byte too many
    assert exchange(n, b"RETR" + md5.encode() + b"X") == \
        b"Invalid request: wrong length or malformed field."
    # a stray newline
    assert exchange(n, b"RETR" + md5.encode() + b"\n").startswith(b"Invalid request")
    # not hex
    assert exchange(n, b"RETR" + b"g" * 32).startswith(b"Invalid request")
    # bad part number
    assert exchange(n, b"RETP" + md5.encode() + b"0000000x").startswith(b"Invalid request")
    # unknown kind: closed without a word
    assert exchange(n, b"ZZZZ" + b"0" * 32) == b""
    assert exchange(n, b"retr" + md5.encode()) == b""
    # too short: closed when the request deadline passes
    t0 = time.monotonic()
    assert exchange(n, b"RETR0123", timeout=15) == b""
    assert time.monotonic() - t0 < 10
    # binary garbage
    assert exchange(n, bytes(range(256))) == b""
    st = n.status()["requests"]
    assert st["malformed"] >= 4 and st["unknown"] >= 3 and st["timeouts"] >= 1
    # still serving
    body, _ = parse_chunked(b"ARET", exchange(n, b"RETR" + md5.encode()))
    assert len(body) == 100


def test_busy_beyond_upload_slots(net):
    n, md5, data = shared(net, 2 * MiB, args=["--upload-slots", "1", "--upload-queue", "0"],
                          env={"WARREN_TEST_FAULTS": "stall"})
    hog = connect(n)
    hog.sendall(b"RETR" + md5.encode())
    assert hog.recv(10) == b"ARET000512"  # the stall fault sends the head only
    wait_until(lambda: n.status()["uploads"]["active"] == 1, 10)
    out = exchange(n, b"RETR" + md5.encode())
    assert out == b"Busy: too many transfers, try again later."
    assert n.status()["uploads"]["busy"] == 1
    hog.close()
    wait_until(lambda: n.status()["uploads"]["active"] == 0, 10)


def test_file_changed_during_upload_is_never_sent_mixed(net):
    size = 64 * MiB
    n, md5, data = shared(net, size)
    path = os.path.join(n.share, "f.bin")
    s = connect(n, timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(b"RETR" + md5.encode())
    first = s.recv(4096)  # start, then stop reading: the upload blocks
    assert first.startswith(b"ARET")
    wait_until(lambda: n.status()["uploads"]["active"] == 1, 10)
    # Change the end of the file in place (same size) while it is blocked.
    with open(path, "r+b") as f:
        f.seek(size - 3 * PART)
        f.write(os.urandom(2 * PART))
    got = bytearray(first)
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        got += b
    s.close()
    # The reply stops before the changed part: never a complete ARET.
    total = 10 + (size // 4096) * 5 + size
    assert len(got) < total
    body = bytearray()
    off = 10
    while off + 5 <= len(got):
        ln = int(got[off:off + 5])
        body += got[off + 5:off + 5 + ln]
        off += 5 + ln
    assert body == data[:len(body)], "bytes sent do not match the original file"
    wait_until(lambda: n.status()["uploads"]["changed"] >= 1, 10)
    # The library rehashes the new content and serves it whole.
    new_md5 = hashlib.md5(open(path, "rb").read()).hexdigest()
    wait_until(lambda: any(f["md5"] == new_md5 for f in
                           n.call("share.ls")["result"]["files"]), 60, "rehash")


def test_dual_stack_wildcard_serves_ipv4_and_ipv6(net):
    """`[::]` is one dual-stack listener (course.md §2.4): peers that pick
    IPv4 or IPv6 at random both reach the node."""
    n, md5, data = shared(net, 9000, ip="::")
    for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect((host, n.port))
        s.sendall(b"RETR" + md5.encode())
        out = bytearray()
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
        s.close()
        body, _ = parse_chunked(b"ARET", bytes(out))
        assert body == data
