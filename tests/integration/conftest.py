"""Shared fixtures for warren's integration tests.

Every test gets its own temporary folder and starts real `warren node`
processes, each on its own 127.0.0.x address with its own control socket
and data folder. They are driven through the CLI and the control socket
(JSON lines). Every wait is bounded; every process is stopped in teardown,
and a node that does not exit cleanly (non-zero status, sanitizer report)
fails the test.
"""

import hashlib
import itertools
import json
import os
import signal
import socket
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WARREN = os.environ.get("WARREN_BIN", os.path.join(ROOT, "build", "warren"))

# A fresh address for every node in this run: 127.<pid-based>.<n>.
_addr_counter = itertools.count(2)
_addr_base = 1 + os.getpid() % 200


def next_ipv4():
    n = next(_addr_counter)
    return "127.%d.%d.%d" % (_addr_base, n // 250, 1 + n % 250)


def free_port(host="127.0.0.1", family=socket.AF_INET):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def md5_file(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def make_file(path, size, seed=0):
    """Write size pseudo-random bytes (reproducible per seed)."""
    block = hashlib.sha256(b"warren%d" % seed).digest() * 2048  # 64 KiB
    with open(path, "wb") as f:
        left = size
        i = 0
        while left > 0:
            chunk = block[: min(left, len(block))]
            # vary every block so parts differ
            f.write(bytes([i & 0xFF]) + chunk[1:])
            left -= len(chunk)
            i += 1
    return md5_file(path)


def wait_until(pred, timeout=10.0, what="condition"):
    """Poll pred() until it returns a true value or timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(0.02)


class Ctl:
    """A JSON-lines client of a node's control socket."""

    def __init__(self, path, timeout=30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 1
        hello = self.recv()
        assert hello.get("event") == "hello" and hello.get("proto") == 1, hello

    def close(self):
        self.sock.close()

    def send(self, obj):
        obj = dict(obj)
        obj["id"] = self.next_id
        self.next_id += 1
        self.sock.sendall(json.dumps(obj).encode() + b"\n")
        return obj["id"]

    def recv(self):
        while b"\n" not in self.buf:
            b = self.sock.recv(1 << 20)
            if not b:
                raise EOFError("node closed the control socket")
            self.buf += b
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, op, **kw):
        """Send a request and return its final reply."""
        req = {"op": op}
        req.update(kw)
        rid = self.send(req)
        while True:
            m = self.recv()
            if m.get("id") == rid and m.get("done"):
                return m

    def events(self, op, **kw):
        """Send a request and return every message for it, final one last."""
        req = {"op": op}
        req.update(kw)
        rid = self.send(req)
        out = []
        while True:
            m = self.recv()
            if m.get("id") != rid:
                continue
            out.append(m)
            if m.get("done"):
                return out


class Node:
    """One `warren node` process."""

    def __init__(self, tmp, name, ip=None, port=None, env=None, args=(), share=None):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.share = share or os.path.join(self.dir, "share")
        os.makedirs(self.share, exist_ok=True)
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "ctl.sock")
        self.ip = ip or next_ipv4()
        if port is None:
            fam = socket.AF_INET6 if ":" in self.ip else socket.AF_INET
            port = free_port(self.ip, fam)
        self.port = port
        self.addr = ("[%s]:%d" if ":" in self.ip else "%s:%d") % (self.ip, port)
        self.env = dict(os.environ)
        self.env.pop("WARREN_TEST_FAULTS", None)
        self.env.update(env or {})
        self.args = list(args)
        self.proc = None
        self.log_path = os.path.join(self.dir, "node.log")
        self.expect_exit = 0

    def start(self, wait_ready=True):
        self.log = open(self.log_path, "ab")
        cmd = [WARREN, "node", "--listen", self.addr, "--share", self.share,
               "--data-dir", self.data, "--socket", self.sock,
               "--log-level", "debug"] + self.args
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        wait_until(lambda: self._socket_up(), 20, "control socket of %s" % self.addr)
        if wait_ready:
            wait_until(lambda: self.status()["library"]["ready"], 60, "library ready on %s" % self.addr)
        return self

    def _socket_up(self):
        if self.proc.poll() is not None:
            raise AssertionError("node %s exited with %s:\n%s" % (self.addr, self.proc.returncode, self.read_log()))
        if not os.path.exists(self.sock):
            return False
        try:
            Ctl(self.sock, timeout=5).close()
            return True
        except OSError:
            return False

    def ctl(self, timeout=60.0):
        return Ctl(self.sock, timeout)

    def call(self, op, **kw):
        c = self.ctl()
        try:
            return c.call(op, **kw)
        finally:
            c.close()

    def status(self):
        r = self.call("status")
        assert r["ok"], r
        return r["result"]

    def cli(self, *args, check=None, timeout=300):
        """Run `warren ARGS --socket SOCK` and return the CompletedProcess."""
        p = subprocess.run([WARREN] + list(args) + ["--socket", self.sock],
                           capture_output=True, text=True, timeout=timeout, env=self.env)
        if check is not None:
            assert p.returncode == check, "warren %s -> %d\nstdout:%s\nstderr:%s" % (
                " ".join(args), p.returncode, p.stdout, p.stderr)
        return p

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("node %s did not stop within %ds:\n%s" % (self.addr, timeout, self.read_log()[-4000:]))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.expect_exit = None


@pytest.fixture
def net(tmp_path):
    """Factory of nodes for one test; stops them all and checks clean exit."""
    nodes = []

    class Net:
        tmp = str(tmp_path)

        def node(self, name=None, start=True, **kw):
            n = Node(self.tmp, name or "n%d" % len(nodes), **kw)
            nodes.append(n)
            if start:
                n.start()
            return n

    yield Net()
    errors = []
    for n in nodes:
        rc = n.stop()
        log = n.read_log()
        if n.expect_exit is not None and rc != n.expect_exit:
            errors.append("node %s exited with %s" % (n.addr, rc))
        if "ERROR: AddressSanitizer" in log or "runtime error:" in log or "LeakSanitizer" in log:
            errors.append("sanitizer report from node %s:\n%s" % (n.addr, log[-6000:]))
    assert not errors, "\n".join(errors)


PART = 262144


def chunked(kind, data, chunk=4096):
    """An ARET/AREP reply for data, chunked as course.md §8."""
    out = bytearray(kind + b"%06d" % ((len(data) + chunk - 1) // chunk))
    for off in range(0, len(data), chunk):
        piece = data[off:off + chunk]
        out += b"%05d" % len(piece) + piece
    return bytes(out)


def ahas(data, lenpart=PART):
    """The AHAS reply describing data (course.md §9.1)."""
    n = (len(data) + lenpart - 1) // lenpart
    out = bytearray(b"AHAS%010d%06d%08d" % (len(data), lenpart, n))
    for i in range(n):
        out += hashlib.sha1(data[i * lenpart:(i + 1) * lenpart]).hexdigest().encode()
    return bytes(out)


class ScriptedPeer:
    """A course-protocol peer written from course.md, for tests: accepts
    connections, reads one request (HASH/RETR 36 bytes, RETP 44), and
    answers with what the handler returns (bytes), or closes without a word
    (None), like existing peers do for kinds they do not know."""

    def __init__(self, ip, on_retr=None, on_hash=None, on_retp=None):
        import threading
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        self.srv = socket.socket(fam, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind((ip, 0))
        self.srv.listen(16)
        self.srv.settimeout(0.2)
        port = self.srv.getsockname()[1]
        self.addr = ("[%s]:%d" if ":" in ip else "%s:%d") % (ip, port)
        self.on = {b"RETR": on_retr, b"HASH": on_hash, b"RETP": on_retp}
        self.requests = []
        self.running = True
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def _read(self, c, n):
        b = b""
        while len(b) < n:
            x = c.recv(n - len(b))
            if not x:
                break
            b += x
        return b

    def run(self):
        while self.running:
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                c.settimeout(10)
                req = self._read(c, 4)
                req += self._read(c, 40 if req == b"RETP" else 32)
                self.requests.append(req)
                h = self.on.get(req[:4])
                reply = None
                if h is not None:
                    arg = int(req[36:44]) if req[:4] == b"RETP" else None
                    reply = h(req[4:36].decode()) if arg is None else h(req[4:36].decode(), arg)
                if reply:
                    c.sendall(reply)
            except OSError:
                pass
            finally:
                c.close()

    def close(self):
        self.running = False
        self.srv.close()
        self.t.join(5)


def ipp2p(ipv4, ipv6=None):
    """The 55-byte IPP2P of course.md §2.5 (canonical form)."""
    import ipaddress
    if ipv4 is None:
        v4 = b"000.000.000.000"
    else:
        v4 = b".".join(b"%03d" % int(o) for o in ipv4.split("."))
    if ipv6 is None:
        ipv6 = "::ffff:" + (ipv4 or "0.0.0.0")
    v6 = ipaddress.IPv6Address(ipv6).exploded.encode()
    out = v4 + b"|" + v6
    assert len(out) == 55
    return out


def split_addr(addr):
    """"1.2.3.4:5" or "[::1]:5" -> (host, port)."""
    host, port = addr.rsplit(":", 1)
    return host.strip("[]"), int(port)


def connect(addr, src_ip=None, timeout=10.0):
    """A TCP connection to "host:port" ("[v6]:port"), from src_ip."""
    host, port = split_addr(addr)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        if src_ip is not None:
            s.bind((src_ip, 0))
        s.connect((host, port))
    except OSError:
        s.close()
        raise
    return s


def recv_all(s, limit=1 << 30):
    """Read s until the peer closes (or limit bytes)."""
    out = bytearray()
    while len(out) < limit:
        b = s.recv(1 << 20)
        if not b:
            break
        out += b
    return bytes(out)


def oneshot(addr, msg, src_ip=None, timeout=5.0):
    """Course.md's O model: connect (from src_ip), one write, close."""
    with connect(addr, src_ip, timeout) as s:
        s.sendall(msg)


def request(addr, msg, src_ip=None, timeout=10.0, limit=1 << 24):
    """An R exchange: connect, one write, read the reply until EOF."""
    with connect(addr, src_ip, timeout) as s:
        s.sendall(msg)
        return recv_all(s, limit)


class Collector:
    """A listener that takes one-shot messages (ANEA, AQUE, forwarded
    NEAR/QUER...): every accepted connection is read to EOF and kept, with
    the address it came from."""

    def __init__(self, ip, port=0):
        import threading
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        self.ip = ip
        self.srv = socket.socket(fam, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind((ip, port))
        self.srv.listen(128)
        self.srv.settimeout(0.2)
        self.port = self.srv.getsockname()[1]
        self.addr = ("[%s]:%d" if ":" in ip else "%s:%d") % (ip, self.port)
        self.msgs = []  # (bytes, (host, port))
        self.lock = threading.Lock()
        self.running = True
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while self.running:
            try:
                c, peer = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            data = b""
            try:
                c.settimeout(5)
                while len(data) < 4096:
                    b = c.recv(4096)
                    if not b:
                        break
                    data += b
            except OSError:
                pass
            finally:
                c.close()
            with self.lock:
                self.msgs.append((data, peer))

    def take(self, pred=lambda m: True):
        """Messages matching pred (bytes -> bool), removed from the list."""
        with self.lock:
            got = [m for m, _ in self.msgs if pred(m)]
            self.msgs = [(m, p) for m, p in self.msgs if not pred(m)]
        return got

    def wait(self, pred, n=1, timeout=10.0, what="messages"):
        got = []

        def ready():
            got.extend(self.take(pred))
            return len(got) >= n
        wait_until(ready, timeout, "%d %s at %s (have %d)" % (n, what, self.addr, len(got)))
        return got

    def close(self):
        self.running = False
        self.srv.close()
        self.t.join(5)
