"""`warren introducer`, the bootstrap server of the Chord ring (chord.md §2):
byte-exact exchanges written from the spec, every introducer row of §5,
the JOIN upsert and its answer, persistence across SIGTERM and kill -9,
liveness checks, deadlines and bounded connections."""

import os
import select
import signal
import socket
import sqlite3
import subprocess
import time

from conftest import WARREN, free_port, next_ipv4, request, split_addr, wait_until

N1 = b"c18d70378a501332d44491b30c826156b30fcc90"
N2 = b"53f5ff6630002b87390834acfa0e33e0676a8622"
N3 = b"4f3ad5732ccf9068fcfff6ed0276b0672b7eec00"
MALFORMED = b"422 MALFORMED 0\r\n"
OK0 = b"200 OK 0\r\n"


class Introducer:
    def __init__(self, tmp, *args, listen=None):
        if listen is None:
            self.ip = next_ipv4()
            self.port = free_port(self.ip)
            listen = "%s:%d" % (self.ip, self.port)
        else:
            self.ip, self.port = split_addr(listen)
        self.addr = listen
        self.data = os.path.join(tmp, "intro")
        self.db = os.path.join(self.data, "introducer.db")
        self.log_path = os.path.join(tmp, "introducer.log")
        self.args = list(args)
        self.proc = None

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [WARREN, "introducer", "--listen", self.addr, "--data-dir", self.data,
             "--log-level", "debug"] + self.args, stdout=log, stderr=subprocess.STDOUT)

        def up():
            assert self.proc.poll() is None, self.read_log()
            try:
                socket.create_connection((self.ip, self.port), 1).close()
                return True
            except OSError:
                return False
        wait_until(up, 20, "introducer listening")
        return self

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def req(self, msg, src=None, timeout=5.0):
        """One request, the whole answer: the server must close after it."""
        return request(self.addr, msg, src_ip=src, timeout=timeout)

    def join(self, peer_id, ip, port=7495):
        r = self.req(b"JOIN %s %s %d\r\n" % (peer_id, ip.encode(), port))
        return parse(r)

    def set_seen(self, values):
        """Set last_seen of rows (rowid -> Unix seconds), as if those nodes
        had joined at those times."""
        with sqlite3.connect(self.db, timeout=10) as c:
            for rowid, seen in values.items():
                c.execute("UPDATE peers SET last_seen = ? WHERE rowid = ?", (seen, rowid))
        c.close()

    def rows(self):
        with sqlite3.connect(self.db, timeout=10) as c:
            r = c.execute("SELECT rowid, peer_id, ip, port, failures FROM peers "
                          "ORDER BY rowid").fetchall()
        c.close()
        return r

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(20) == 0
        self.check_log()

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def check_log(self):
        log = self.read_log()
        assert "AddressSanitizer" not in log and "runtime error:" not in log, log[-4000:]
        assert "LeakSanitizer" not in log, log[-4000:]


def parse(resp):
    """Status line and data lines of a whole answer; checks LEN."""
    head, _, data = resp.partition(b"\r\n")
    code, *msg, length = head.split(b" ")
    assert int(length) == len(data), resp
    lines = data.split(b"\r\n")
    assert lines[-1] == b""
    return int(code), b" ".join(msg), lines[:-1]


def test_section4_exchanges_byte_exact(tmp_path):
    it = Introducer(str(tmp_path)).start()
    try:
        # N1 and N2 are already registered (in the same second).
        assert it.req(b"JOIN " + N1 + b" 192.168.1.10 7495\r\n") == OK0
        assert it.req(b"JOIN " + N2 + b" 192.168.1.11 7495\r\n") == \
            b"200 OK 62\r\n1," + N1 + b",192.168.1.10,7495\r\n"
        it.set_seen({1: 1700000000, 2: 1700000000})
        # N3 joins.
        assert it.req(b"JOIN " + N3 + b" 192.168.1.12 7495\r\n") == (
            b"200 OK 124\r\n"
            b"1," + N1 + b",192.168.1.10,7495\r\n"
            b"2," + N2 + b",192.168.1.11,7495\r\n")
        assert it.req(b"DELETE " + N3 + b"\r\n") == OK0
        assert it.req(b"FOO a b c\r\n") == b"404 OPERATION UNKNOWN 0\r\n"
        # N3 is gone: N1 sees N2 only.
        assert it.join(N1, "192.168.1.10") == (200, b"OK", [b"2," + N2 + b",192.168.1.11,7495"])
        # DELETE of nothing, and with extra arguments (ignored).
        assert it.req(b"DELETE " + N3 + b"\r\n") == OK0
        assert it.req(b"DELETE " + N2 + b" extra args 1 2 3\r\n") == OK0
        assert [r[1] for r in it.rows()] == [N1.decode()]
    finally:
        it.stop()


def test_section5_introducer_rows(tmp_path):
    it = Introducer(str(tmp_path)).start()
    try:
        assert it.join(b"keep", "10.9.9.9", 9000)[0] == 200
        before = it.rows()
        bad = [
            # wrong argument counts
            b"JOIN\r\n", b"JOIN a\r\n", b"JOIN a 10.0.0.1 1 2\r\n", b"DELETE\r\n",
            b"DELETE   \r\n",
            b"JOIN " + b" x" * 100 + b"\r\n",
            # invalid peer_id, address, port
            b"JOIN a,b 10.0.0.1 7495\r\n", b"JOIN " + b"p" * 65 + b" 10.0.0.1 7495\r\n",
            b"JOIN caf\xc3\xa9 10.0.0.1 7495\r\n",
            b"JOIN a 10.0.0 7495\r\n", b"JOIN a 256.0.0.1 7495\r\n", b"JOIN a host 7495\r\n",
            b"JOIN a 0.0.0.0 7495\r\n", b"JOIN a :: 7495\r\n", b"JOIN a [::1] 7495\r\n",
            b"JOIN a 10.0.0.1 0\r\n", b"JOIN a 10.0.0.1 65536\r\n", b"JOIN a 10.0.0.1 x\r\n",
            b"JOIN a 10.0.0.1 -1\r\n",
            # not a line: empty, control bytes
            b"\r\n", b"   \r\n", b"JOIN a\t10.0.0.1 7495\r\n", b"JOIN a 10.0.0.1 7495\r\r\n",
            b"JOIN a\x0010.0.0.1 7495\r\n",
        ]
        for msg in bad:
            assert it.req(msg) == MALFORMED, msg
        # no state change
        assert it.rows() == before
        # unknown ops, including node ops and other case
        for msg in [b"PING\r\n", b"PING \r\n", b"join a 10.0.0.1 7495\r\n",
                    b"GET_SUCCESSORS\r\n", b"X\n", b"\xff\xfe\r\n"]:
            assert it.req(msg) == b"404 OPERATION UNKNOWN 0\r\n", msg
        # No line end within 512 bytes: 422 and close.
        assert it.req(b"J" * 600) == MALFORMED
        assert it.req(b"JOIN " + b"a" * 600 + b"\r\n") == MALFORMED
        assert it.req(b"DELETE " + b"d" * 505) == MALFORMED         # 512, no LF
        assert it.req(b"DELETE " + b"d" * 503 + b"\r\n") == OK0     # 512 with CRLF
        assert it.req(b"DELETE " + b"d" * 504 + b"\n") == OK0       # 512 with LF
        assert it.req(b"DELETE " + b"d" * 504 + b"\r\n") == MALFORMED  # 513
        # Tolerated forms: bare LF, runs of spaces, trailing space.
        assert it.req(b"JOIN  tol   10.0.0.2  7000 \n")[:7] == b"200 OK "
        assert ("tol", "10.0.0.2", 7000) in [r[1:4] for r in it.rows()]
        assert it.req(b"DELETE tol \r\n") == OK0
        assert it.rows() == before
        # One request per connection: the second line is not served.
        assert it.req(b"DELETE keep\r\nDELETE keep\r\n") == OK0
        assert it.rows() == []
        assert it.req(b"JOIN k 10.0.0.3 1\r\nDELETE k\r\n") == OK0
        assert [r[1] for r in it.rows()] == ["k"]
        assert it.proc.poll() is None
    finally:
        it.stop()


def test_join_forms_upsert_order_and_limit(tmp_path):
    it = Introducer(str(tmp_path)).start()
    try:
        # The older two-argument form registers port 7495.
        assert it.req(b"JOIN 7 10.0.0.7\r\n") == OK0
        assert it.join(b"x", "10.0.0.8")[2] == [b"1,7,10.0.0.7,7495"]
        # Addresses are stored in canonical form: one node, one row.
        code, _, lines = it.join(b"v6", "FD00:0:0::0020", 7495)
        assert code == 200 and len(lines) == 2
        assert it.join(b"v6b", "fd00::20")[0] == 200
        assert it.rows()[2][:4] == (3, "v6b", "fd00::20", 7495) and len(it.rows()) == 3
        assert it.join(b"leading", "010.000.000.009", 7)[0] == 200
        assert ("leading", "10.0.0.9", 7) in [r[1:4] for r in it.rows()]
        # Same ip and port, new id: the row is replaced (rowid kept).
        assert it.req(b"JOIN 7new 10.0.0.7 7495\r\n")[:6] == b"200 OK"
        assert [r[:4] for r in it.rows() if r[2] == "10.0.0.7"] == [(1, "7new", "10.0.0.7", 7495)]
        assert it.req(b"DELETE 7\r\n") == OK0
        assert len(it.rows()) == 4
        # Another port on the same address is another node.
        assert it.join(b"7new", "10.0.0.7", 7496)[0] == 200
        assert len(it.rows()) == 5

        # At most 5 other rows, most recently seen first, then by rowid;
        # never the joiner's own row.
        for i in range(6):
            it.join(b"n%d" % i, "10.1.0.%d" % (i + 1))
        rows = it.rows()
        assert len(rows) == 11
        seen = {r[0]: 1700000000 for r in rows}
        by_id = {r[1]: r[0] for r in rows}
        seen[by_id["n0"]] = 1700000500
        seen[by_id["n3"]] = 1700000400
        seen[by_id["n1"]] = 1700000300
        seen[1] = 1700000300               # two rows tie at 300 ...
        seen[by_id["x"]] = 1700000200
        it.set_seen(seen)
        ties = sorted([by_id["n1"], 1])
        code, _, lines = it.join(b"n5", "10.1.0.6")   # n5 is now the newest
        assert code == 200 and len(lines) == 5
        names = [l.split(b",")[1] for l in lines]
        rowids = [int(l.split(b",")[0]) for l in lines]
        assert names[:2] == [b"n0", b"n3"]
        assert rowids[2:4] == ties                    # ... ordered by rowid
        assert names[4] == b"x"
        assert b"n5" not in names
        # Everyone else sees n5 first now.
        assert it.join(b"n0", "10.1.0.1")[2][0].split(b",")[1] == b"n5"
        # The list is empty for a joiner that is alone.
        for r in it.rows():
            it.req(b"DELETE %s\r\n" % r[1].encode())
        assert it.req(b"JOIN alone 10.2.0.1 7495\r\n") == OK0
        assert it.req(b"JOIN alone 10.2.0.1 7495\r\n") == OK0   # own row never
    finally:
        it.stop()


def test_table_survives_sigterm_and_kill_9(tmp_path):
    it = Introducer(str(tmp_path)).start()
    for i in range(20):
        assert it.join(b"%040x" % i, "10.3.0.%d" % (i + 1))[0] == 200
    assert it.req(b"DELETE %040x\r\n" % 0) == OK0
    it.stop()
    it.start()
    try:
        assert len(it.rows()) == 19
        code, _, lines = it.join(b"%040x" % 1, "10.3.0.2")
        assert code == 200 and len(lines) == 5
        # Answered means committed: kill -9 right after the answers.
        assert it.join(b"late", "10.3.1.1")[0] == 200
        assert it.req(b"DELETE %040x\r\n" % 2) == OK0
        it.kill9()
        it.start()
        ids = [r[1] for r in it.rows()]
        assert "late" in ids and "%040x" % 2 not in ids and len(ids) == 19
        # Rowids are never reused after a delete.
        assert it.join(b"newest", "10.3.2.1")[0] == 200
        assert max(r[0] for r in it.rows()) == 22
    finally:
        it.stop()


class Listener:
    """A ring node that accepts connections and keeps what it is sent."""

    def __init__(self, ip):
        import threading
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind((ip, 0))
        self.srv.listen(16)
        self.srv.settimeout(0.1)
        self.ip, self.port = ip, self.srv.getsockname()[1]
        self.got = []
        self.times = []
        self.running = True
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while self.running:
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                c.settimeout(3)
                data = b""
                while not data.endswith(b"\n"):
                    b = c.recv(64)
                    if not b:
                        break
                    data += b
                self.got.append(data)
                self.times.append(time.monotonic())
                c.sendall(b"ERROR unknown command\n")   # another ring's answer
            except OSError:
                pass
            finally:
                c.close()

    def close(self):
        self.running = False
        self.srv.close()
        self.t.join(5)


def test_liveness_checks(tmp_path):
    it = Introducer(str(tmp_path), "--check-interval", "0.2", "--check-after", "0.5",
                    "--check-timeout", "0.5", "--max-failures", "3").start()
    alive = Listener(next_ipv4())
    try:
        dead_ip = next_ipv4()
        dead_port = free_port(dead_ip)                     # nobody listens there
        assert it.join(b"alive", alive.ip, alive.port)[0] == 200
        assert it.join(b"dead", dead_ip, dead_port)[0] == 200
        t0 = time.monotonic()

        def dead_gone():
            return "dead" not in [r[1] for r in it.rows()]
        wait_until(dead_gone, 15, "the dead row removed")
        # Three failed checks at least one round apart, after 0.5 s of silence.
        assert time.monotonic() - t0 >= 0.5 + 2 * 0.2
        assert "removed after 3 failed checks" in it.read_log()
        # The node that accepts is checked with PING and kept.
        wait_until(lambda: alive.got, 10, "a check of the live node")
        assert alive.got[0] == b"PING\r\n"
        time.sleep(1.0)
        rows = it.rows()
        assert [r[1] for r in rows] == ["alive"] and rows[0][4] == 0
        # The live row is not checked again before check_after (0.5 s),
        # although a round runs every 0.2 s.
        gaps = [b - a for a, b in zip(alive.times, alive.times[1:])]
        assert gaps and min(gaps) >= 0.35, gaps
        # A node that stops listening goes as well.
        alive.close()
        wait_until(lambda: it.rows() == [], 15, "the stopped node removed")
    finally:
        alive.close()
        it.stop()


def test_rows_not_seen_for_expire_after_are_deleted(tmp_path):
    it = Introducer(str(tmp_path), "--check-interval", "0.2", "--expire-after", "1",
                    "--check-after", "3600").start()
    try:
        assert it.join(b"old", "10.4.0.1")[0] == 200
        assert it.join(b"new", "10.4.0.2")[0] == 200
        it.set_seen({1: int(time.time()) - 5})
        wait_until(lambda: [r[1] for r in it.rows()] == ["new"], 10, "the old row expired")
        wait_until(lambda: it.rows() == [], 10, "the new row expired too")
        assert it.join(b"again", "10.4.0.2")[0] == 200
    finally:
        it.stop()


def closed_within(s, timeout):
    """True if the peer closes s (EOF or reset) within timeout, without
    sending a byte first."""
    r, _, _ = select.select([s], [], [], timeout)
    if not r:
        return False
    try:
        return s.recv(1) == b""
    except ConnectionError:
        return True


def test_request_deadline(tmp_path):
    it = Introducer(str(tmp_path), "--request-timeout", "1").start()
    try:
        t0 = time.monotonic()
        silent = socket.create_connection((it.ip, it.port), 5)
        partial = socket.create_connection((it.ip, it.port), 5)
        partial.sendall(b"JOIN a 10.0.0.1")
        # A client that sends a byte every 0.2 s, never a line end: the
        # deadline runs from accept, so it is closed after 1 s all the same.
        slow = socket.create_connection((it.ip, it.port), 5)
        closed_at = None
        while closed_at is None and time.monotonic() - t0 < 4:
            try:
                slow.sendall(b"D")
                if closed_within(slow, 0.2):
                    closed_at = time.monotonic() - t0
            except ConnectionError:
                closed_at = time.monotonic() - t0
        assert closed_at is not None and 0.9 <= closed_at < 2.5, closed_at
        assert closed_within(silent, 1)
        assert closed_within(partial, 1)
        for s in (silent, partial, slow):
            s.close()
        # Requests are served as before.
        assert it.req(b"JOIN a 10.0.0.1 1\r\n") == OK0
    finally:
        it.stop()


def open_idle(ip, port, n, src):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind((src, 0))
        s.setblocking(False)
        s.connect_ex((ip, port))
        socks.append(s)
    return socks


def count_closed(socks, timeout):
    """How many of socks the server closes within timeout."""
    closed = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [s for s in socks if s not in closed]
        if not left:
            break
        r, _, _ = select.select(left, [], [], 0.1)
        for s in r:
            try:
                if s.recv(1) == b"":
                    closed.add(s)
            except (ConnectionError, BlockingIOError):
                closed.add(s)
    return len(closed)


def try_req(it, msg):
    """The answer, or None when the connection is closed at once (the
    introducer is at its connection limit)."""
    try:
        return it.req(msg)
    except ConnectionError:
        return None


def test_200_connections_at_once(tmp_path):
    it = Introducer(str(tmp_path), "--request-timeout", "3").start()
    socks = []
    try:
        # 200 idle connections from one address: one address may hold a
        # quarter of the 128 slots; the rest are accepted and closed.
        flood = next_ipv4()
        socks = open_idle(it.ip, it.port, 200, flood)
        assert count_closed(socks, 1.5) >= 200 - 32
        # Another address is served at once.
        t0 = time.monotonic()
        assert it.req(b"JOIN other 10.5.0.1 1\r\n", src=next_ipv4()) == OK0
        assert time.monotonic() - t0 < 2
        for s in socks:
            s.close()
        time.sleep(0.5)  # the introducer sees those closes
        # 200 from eight addresses: 128 held, the rest closed at once;
        # once the idle ones are gone, requests are served again.
        socks = []
        for _ in range(8):
            socks += open_idle(it.ip, it.port, 25, next_ipv4())
        n = count_closed(socks, 1.0)
        assert 200 - 128 <= n <= 200 - 120, n
        for s in socks:
            s.close()
        socks = []
        wait_until(lambda: try_req(it, b"DELETE other\r\n") == OK0, 10, "served again")
        assert it.proc.poll() is None
    finally:
        for s in socks:
            s.close()
        it.stop()


def test_dual_stack_and_config_file(tmp_path):
    port = free_port("::", socket.AF_INET6)   # free for both families
    conf = tmp_path / "warren.conf"
    conf.write_text("[node]\nshare = /nowhere\n\n[introducer]\nlisten = [::]:%d\n"
                    "max_connections = 64\n" % port)
    it = Introducer(str(tmp_path), listen="[::1]:%d" % port)
    log = open(it.log_path, "ab")
    it.proc = subprocess.Popen([WARREN, "introducer", "--config", str(conf), "--data-dir",
                                it.data, "--log-level", "debug"],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        def up():
            assert it.proc.poll() is None, it.read_log()
            try:
                socket.create_connection(("::1", port), 1).close()
                return True
            except OSError:
                return False
        wait_until(up, 20, "introducer on [::]")
        # The file's [::] listens on both families.
        assert request("[::1]:%d" % port, b"JOIN six fd00::1 7495\r\n") == OK0
        line = b"1,six,fd00::1,7495\r\n"
        assert request("127.0.0.1:%d" % port, b"JOIN four 127.0.0.1 7495\r\n") == \
            b"200 OK %d\r\n" % len(line) + line
        # A bad setting is a usage error.
        bad = subprocess.run([WARREN, "introducer", "--check-interval", "0"],
                             capture_output=True, text=True, timeout=10)
        assert bad.returncode == 2 and "check_interval" in bad.stderr
    finally:
        it.stop()
