"""Upload limits against raw course.md clients: requests beyond the upload
slots wait in a bounded queue (served in order, Busy when the queue is full
or the wait is too long), and one rate limit paces every upload."""

import hashlib
import os
import socket
import subprocess
import time

from conftest import WARREN, make_file, recv_all, wait_until

MiB = 1024 * 1024
BUSY = b"Busy: too many transfers, try again later."


def connect(node, timeout=30):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((node.ip, node.port))
    return s


read_all = recv_all


def aret_body(data):
    """The file bytes of a complete ARET reply (asserts its framing)."""
    assert data[:4] == b"ARET", data[:80]
    n = int(data[4:10])
    off, body = 10, bytearray()
    for _ in range(n):
        ln = int(data[off:off + 5])
        body += data[off + 5:off + 5 + ln]
        off += 5 + ln
    assert off == len(data), "trailing bytes after the reply"
    return bytes(body)


def uploads(node):
    return node.status()["uploads"]


def source(net, files, **kw):
    """A node sharing files {name: size}; returns (node, {name: md5})."""
    n = net.node("src", **kw)
    md5s = {}
    for i, (name, size) in enumerate(sorted(files.items())):
        md5s[name] = make_file(os.path.join(n.share, name), size, seed=i + 1)
    wait_until(lambda: n.status()["library"]["files"] == len(files), 60, "files hashed")
    return n, md5s


def hold_slot(node, md5):
    """A client that asks for a big file and stops reading: its upload
    keeps the slot while the socket buffers are full."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.settimeout(30)
    s.connect((node.ip, node.port))
    s.sendall(b"RETR" + md5.encode())
    assert s.recv(4096).startswith(b"ARET")
    wait_until(lambda: uploads(node)["active"] == 1, 10, "the slot taken")
    return s


def still_silent(s, seconds=0.5):
    s.settimeout(seconds)
    try:
        got = s.recv(1)
    except socket.timeout:
        return True
    finally:
        s.settimeout(30)
    raise AssertionError("expected silence, got %r" % got)


def test_queued_requests_are_served_in_turn(net):
    n, md5 = source(net, {"big.bin": 16 * MiB, "a.bin": 3 * MiB + 17, "b.bin": 1 * MiB},
                    args=["--upload-slots", "1", "--upload-queue", "2"])
    st = uploads(n)
    assert st["queue_max"] == 2 and st["queued"] == 0 and st["queued_total"] == 0
    hog = hold_slot(n, md5["big.bin"])

    # A waiter that leaves is dropped from the queue at once.
    gone = connect(n)
    gone.sendall(b"RETR" + md5["b.bin"].encode())
    wait_until(lambda: uploads(n)["queued"] == 1, 10, "first waiter queued")
    gone.close()
    wait_until(lambda: uploads(n)["queued"] == 0, 10, "leaver dropped")

    w1 = connect(n)
    w1.sendall(b"RETR" + md5["a.bin"].encode())
    wait_until(lambda: uploads(n)["queued"] == 1, 10, "w1 queued")
    w2 = connect(n)
    w2.sendall(b"RETR" + md5["b.bin"].encode())
    wait_until(lambda: uploads(n)["queued"] == 2, 10, "w2 queued")
    assert still_silent(w1) and still_silent(w2)

    # The queue is full: Busy at once. HASH never waits.
    t0 = time.monotonic()
    s = connect(n)
    s.sendall(b"RETR" + md5["a.bin"].encode())
    assert read_all(s) == BUSY
    s.close()
    assert time.monotonic() - t0 < 5
    s = connect(n)
    s.sendall(b"HASH" + md5["a.bin"].encode())
    assert read_all(s).startswith(b"AHAS")
    s.close()

    st = uploads(n)
    assert st["queued"] == 2 and st["busy"] == 1 and st["active"] == 1
    assert st["queued_total"] == 3

    # The slot frees when the first client leaves: the waiters are served,
    # whole and in order.
    hog.close()
    body1 = aret_body(read_all(w1))
    assert hashlib.md5(body1).hexdigest() == md5["a.bin"]
    body2 = aret_body(read_all(w2))
    assert hashlib.md5(body2).hexdigest() == md5["b.bin"]
    w1.close()
    w2.close()
    wait_until(lambda: uploads(n)["active"] == 0, 10, "uploads done")
    st = uploads(n)
    assert st["queued"] == 0 and st["completed"] == 2 and st["busy"] == 1


def test_queued_request_gets_busy_when_its_wait_is_over(net):
    n, md5 = source(net, {"f.bin": 2 * MiB},
                    args=["--upload-slots", "1", "--upload-queue", "4",
                          "--upload-queue-timeout", "1"],
                    env={"WARREN_TEST_FAULTS": "stall"})
    hog = connect(n)
    hog.sendall(b"RETR" + md5["f.bin"].encode())
    assert hog.recv(10) == b"ARET000512"  # the stall fault: head only
    wait_until(lambda: uploads(n)["active"] == 1, 10)
    t0 = time.monotonic()
    s = connect(n)
    s.sendall(b"RETR" + md5["f.bin"].encode())
    wait_until(lambda: uploads(n)["queued"] == 1, 10, "request queued")
    assert read_all(s) == BUSY
    waited = time.monotonic() - t0
    s.close()
    assert 0.5 < waited < 10, waited
    st = uploads(n)
    assert st["queued"] == 0 and st["busy"] == 1 and st["queued_total"] == 1
    assert st["active"] == 1
    hog.close()
    wait_until(lambda: uploads(n)["active"] == 0, 10)


def test_upload_rate_is_limited(net):
    limit = 2 * MiB
    size = 16 * MiB
    n, md5 = source(net, {"f.bin": size}, args=["--upload-rate", "2M"])
    s = connect(n)
    s.sendall(b"RETR" + md5["f.bin"].encode())
    data = bytearray()
    samples = []  # (time, bytes received so far)
    t0 = time.monotonic()
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        data += b
        samples.append((time.monotonic() - t0, len(data)))
    s.close()

    def received_at(t):
        got = 0
        for when, total in samples:
            if when > t:
                break
            got = total
        return got

    # A 5 s window in the middle (the whole transfer takes about 8 s).
    rate = (received_at(6.5) - received_at(1.5)) / 5.0
    assert 0.85 * limit <= rate <= 1.10 * limit, "%.0f B/s for a limit of %d" % (rate, limit)
    assert hashlib.md5(aret_body(bytes(data))).hexdigest() == md5["f.bin"]
    wait_until(lambda: uploads(n)["completed"] == 1, 10)


def run_node_flags(tmp_path, *flags):
    d = str(tmp_path)
    cmd = [WARREN, "node", "--listen", "127.0.0.1:0", "--share", os.path.join(d, "share"),
           "--data-dir", os.path.join(d, "data"), "--socket", os.path.join(d, "ctl.sock")]
    return subprocess.run(cmd + list(flags), capture_output=True, text=True, timeout=30)


def test_bad_limit_values_are_usage_errors(tmp_path):
    for flag, value, key in (("--upload-rate", "abc", "upload_rate"),
                             ("--upload-rate", "2X", "upload_rate"),
                             ("--upload-rate", "100", "upload_rate"),
                             ("--upload-queue", "-1", "upload_queue"),
                             ("--upload-queue", "x", "upload_queue"),
                             ("--upload-queue-timeout", "30", "upload_queue_timeout"),
                             ("--upload-queue-timeout", "0", "upload_queue_timeout")):
        p = run_node_flags(tmp_path, flag, value)
        assert p.returncode == 2, (flag, value, p.returncode, p.stderr)
        assert key in p.stderr and value in p.stderr, (flag, value, p.stderr)
    # The same settings from the INI file.
    conf = tmp_path / "warren.conf"
    conf.write_text("[node]\nupload_rate = 1.5M\n")
    p = run_node_flags(tmp_path, "--config", str(conf))
    assert p.returncode == 2 and "upload_rate" in p.stderr, p.stderr


def test_stop_while_uploads_wait_for_the_rate_and_the_queue(net):
    """A node stopped with a paced upload and a queued request exits
    cleanly (the fixture checks the exit status and sanitizer reports), and
    both peers see the connection end."""
    n, md5 = source(net, {"f.bin": 1 * MiB},
                    args=["--upload-slots", "1", "--upload-queue", "2", "--upload-rate", "16K"])
    paced = connect(n)
    paced.sendall(b"RETR" + md5["f.bin"].encode())
    assert paced.recv(4096).startswith(b"ARET")
    waiting = connect(n)
    waiting.sendall(b"RETR" + md5["f.bin"].encode())
    wait_until(lambda: uploads(n)["queued"] == 1, 10, "request queued")
    assert n.stop() == 0
    got = read_all(paced)
    assert len(got) < 1 * MiB  # cut short by the stop, not finished
    assert read_all(waiting) == b""
    paced.close()
    waiting.close()


def test_paced_writes_keep_the_chunk_framing(net):
    """Under a low rate a part goes out in several writes; with a chunk
    size that does not divide the part size, chunks also straddle parts.
    The reply must still be exactly the ARET/AREP of course.md."""
    size = 2 * MiB + 3
    n, md5 = source(net, {"f.bin": size},
                    args=["--chunk-size", "5000", "--upload-rate", "1M"])
    with open(os.path.join(n.share, "f.bin"), "rb") as f:
        data = f.read()
    s = connect(n)
    s.sendall(b"RETR" + md5["f.bin"].encode())
    out = read_all(s)
    s.close()
    assert out[:10] == b"ARET%06d" % ((size + 4999) // 5000)
    assert aret_body(out) == data
    lens = []
    off = 10
    while off < len(out):
        ln = int(out[off:off + 5])
        lens.append(ln)
        off += 5 + ln
    assert lens == [5000] * (size // 5000) + [size % 5000]
    part = 262144
    s = connect(n)
    s.sendall(b"RETP" + md5["f.bin"].encode() + b"00000001")
    out = read_all(s)
    s.close()
    assert out[:10] == b"AREP%06d" % ((part + 4999) // 5000)
    assert aret_body(b"ARET" + out[4:]) == data[part:2 * part]
