"""The chord overlay (chord.md §3): the node protocol byte for byte against
a warren node (§4 exchanges with configured ids, the §5 rows of bad input),
a client that survives lying nodes (LEN that lies, a 302 loop, an endless
chain of 302s), then real rings of `warren node` processes joined through
`warren introducer`: every node finds a file of another by keyword and
downloads it with its MD5 checked, a quarter of the ring is killed with
kill -9 and the ring repairs itself and still answers, and a restarted
introducer still knows the ring."""

import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import threading
import time

from conftest import (WARREN, free_port, make_file, md5_file, next_ipv4, recv_all, request,
                      wait_until)
from test_introducer import Introducer

# chord.md §4
N1 = "c18d70378a501332d44491b30c826156b30fcc90"
N2 = "53f5ff6630002b87390834acfa0e33e0676a8622"
N3 = "4f3ad5732ccf9068fcfff6ed0276b0672b7eec00"
N4 = "f0a576a168acfd15f3cd1e4308e90b73a9f1ca8e"
N5 = "21f1e6a9ee7ccede4cb270bbe1d579158191390c"
REPORT = "a27297bde9732f2e73fbc06db2611764e3ad9855"
REC_Q3 = "2f05ced2f204c9f916bfc714e630b7cf 600320 192.168.1.11 3000 Q3 report.pdf"
REC_ANNUAL = "0f53217fc7c8e7f89e8a8558e64a7083 10000 192.168.1.10 3000 Annual_Report.pdf"

BAD_REQUEST = b"400 BAD REQUEST 0\r\n"
MALFORMED = b"422 MALFORMED 0\r\n"
OK0 = b"200 OK 0\r\n"

# Timers of a test ring: seconds, not minutes.
FAST = ["--chord-stabilize-interval", "0.3", "--chord-fix-fingers-interval", "0.1",
        "--chord-check-predecessor-interval", "0.5", "--chord-lone-retry-interval", "1",
        "--chord-timeout", "1", "--chord-lookup-timeout", "10",
        "--chord-introducer-refresh-interval", "2", "--connect-timeout", "1"]


def sha1(s):
    return hashlib.sha1(s.encode()).hexdigest()


def chord_req(addr, line, timeout=5.0):
    """One request line to a ring port; the whole answer (the server
    closes after it)."""
    if isinstance(line, str):
        line = line.encode()
    if not line.endswith(b"\n"):
        line += b"\r\n"
    return request("%s:%d" % addr, line, timeout=timeout)


def parse(resp):
    """(code, msg, data lines) of a whole answer; checks LEN."""
    head, _, data = resp.partition(b"\r\n")
    code, *msg, length = head.split(b" ")
    assert int(length) == len(data), resp
    lines = data.split(b"\r\n")
    assert lines[-1] == b"", resp
    return int(code), b" ".join(msg).decode(), [x.decode() for x in lines[:-1]]


def answer(code, msg, lines=()):
    data = b"".join(x.encode() + b"\r\n" for x in lines)
    return b"%d %s %d\r\n" % (code, msg.encode(), len(data)) + data


def ring_ids(addr):
    """GET_PREDECESSOR and GET_SUCCESSORS of a node: (pred triple or None,
    [successor triples])."""
    c, _, p = parse(chord_req(addr, "GET_PREDECESSOR"))
    c2, _, s = parse(chord_req(addr, "GET_SUCCESSORS"))
    assert c2 == 200 and s, s
    return (p[0] if c == 200 else None), s


class ScriptedChord:
    """A chord node written from chord.md: each request line is answered
    with handler(line) (bytes), or the connection is closed without a word
    (None). Every line is recorded."""

    def __init__(self, node_id, handler=None, ip=None):
        self.ip = ip or next_ipv4()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind((self.ip, 0))
        self.srv.listen(64)
        self.srv.settimeout(0.2)
        self.port = self.srv.getsockname()[1]
        self.id = node_id
        self.triple = "%s %s %d" % (node_id, self.ip, self.port)
        self.handler = handler or self.default
        self.lines = []
        self.running = True
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def default(self, line):
        op = line.split(" ")[0]
        if op in ("PING", "NOTIFY", "PUT"):
            return OK0
        if op == "GET_PREDECESSOR":
            return b"404 NONE 0\r\n"
        if op in ("GET_SUCCESSORS", "FIND_SUCCESSOR"):
            return answer(200, "OK", [self.triple])
        if op in ("TRANSFER_KEYS", "LIST"):
            return answer(200, "OK")
        if op == "GET":
            return b"404 NOT FOUND 0\r\n"
        return BAD_REQUEST

    def run(self):
        while self.running:
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            c.settimeout(5)
            buf = b""
            while b"\n" not in buf and len(buf) < 600:
                b = c.recv(600)
                if not b:
                    return
                buf += b
            line = buf.split(b"\n")[0].rstrip(b"\r").decode()
            self.lines.append(line)
            reply = self.handler(line)
            if reply:
                c.sendall(reply)
        except OSError:
            pass
        finally:
            c.close()

    def ops(self, op):
        return [x for x in self.lines if x.split(" ")[0] == op]

    def close(self):
        self.running = False
        self.srv.close()
        self.t.join(5)


def two_ports(ip):
    a = free_port(ip)
    while True:
        b = free_port(ip)
        if b != a:
            return a, b


def chord_node(net, name=None, introducer=None, bootstrap=None, node_id=None,
               extra=(), start=True, fast=True):
    """A `warren node` in the chord overlay on a fresh 127.x address; its
    ring address is n.ring (ip, port)."""
    ip = next_ipv4()
    main, ring = two_ports(ip)
    args = ["--overlay", "chord", "--chord-listen", "%s:%d" % (ip, ring)]
    if fast:
        args += FAST
    if introducer is not None:
        args += ["--chord-introducer", introducer.addr]
    if bootstrap is not None:
        args += ["--chord-bootstrap", "%s:%d" % bootstrap]
    if node_id is not None:
        args += ["--chord-id", node_id]
    args += list(extra)
    n = net.node(name, ip=ip, port=main, args=args, start=False)
    n.ring = (ip, ring)
    n.ring_id = node_id or sha1("%s:%d" % (ip, ring))
    if start:
        n.start()
    return n


def chord_status(n):
    for o in n.status()["overlays"]:
        if o["name"] == "chord":
            return o
    raise AssertionError("no chord overlay in status")


def triple(n):
    return "%s %s %d" % (n.ring_id, n.ring[0], n.ring[1])


# ------------------------------------------------------------ §4 exchanges


def test_section4_node_exchanges_byte_exact(net):
    """A warren node with N3's id, whose successor is N2 and predecessor
    N5 (scripted nodes), answers the §4 exchanges byte for byte."""
    n2 = ScriptedChord(N2)
    n5 = ScriptedChord(N5)
    try:
        w = chord_node(net, "n3", bootstrap=(n2.ip, n2.port), node_id=N3,
                       extra=["--chord-republish-interval", "600"])
        ring = w.ring
        wait_until(lambda: chord_status(w)["state"] == "joined", 10, "N3 joined through N2")
        # N5 says it is N3's predecessor.
        assert chord_req(ring, "NOTIFY %s" % n5.triple) == OK0
        assert parse(chord_req(ring, "GET_PREDECESSOR")) == (200, "OK", [n5.triple])
        assert chord_req(ring, "GET_PREDECESSOR") == answer(200, "OK", [n5.triple])
        # The joiner asked N2 for its predecessor and notified it.
        wait_until(lambda: n2.ops("NOTIFY"), 10, "NOTIFY at N2")
        assert n2.ops("NOTIFY")[0] == "NOTIFY " + triple(w)
        assert n2.ops("GET_PREDECESSOR")
        # Iterative lookup of `report`: N3 names N2 (302, §4).
        assert chord_req(ring, "FIND_SUCCESSOR " + REPORT) == answer(302, "NEXT", [n2.triple])
        # id in (N3, N2]: N2; id in (N5, N3]: N3 itself (§3.3 steps 2-3).
        assert chord_req(ring, "FIND_SUCCESSOR " + N2) == answer(200, "OK", [n2.triple])
        assert chord_req(ring, "FIND_SUCCESSOR " + N3.upper()) == answer(200, "OK", [triple(w)])
        assert chord_req(ring, "FIND_SUCCESSOR 3" + "0" * 39) == answer(200, "OK", [triple(w)])
        # Ring state.
        assert chord_req(ring, "GET_SUCCESSORS") == answer(200, "OK", [n2.triple])
        assert chord_req(ring, "PING\r\n") == OK0
        assert chord_req(ring, "PING \r\n") == OK0
        assert chord_req(ring, "PING\n") == OK0
        # PUT / GET of the §4 records (the last refreshed comes first).
        assert chord_req(ring, "PUT %s %s\r\n" % (REPORT, REC_Q3)) == OK0
        assert len(b"PUT %s %s\r\n" % (REPORT.encode(), REC_Q3.encode())) == 118
        assert chord_req(ring, "PUT %s %s" % (REPORT, REC_ANNUAL)) == OK0
        assert chord_req(ring, "GET " + REPORT) == (
            b"200 OK 149\r\n" + REC_ANNUAL.encode() + b"\r\n" + REC_Q3.encode() + b"\r\n")
        assert chord_req(ring, "GET " + "0" * 40) == b"404 NOT FOUND 0\r\n"
        # Refreshing Q3 makes it the newest; its size and name change.
        assert chord_req(ring, "PUT %s %s" % (REPORT, REC_Q3.replace("600320", "600321"))) == OK0
        assert parse(chord_req(ring, "GET " + REPORT))[2] == [
            REC_Q3.replace("600320", "600321"), REC_ANNUAL]
        # TRANSFER_KEYS (N5, N3]: nothing; (N2, N1]: the two records.
        assert chord_req(ring, "TRANSFER_KEYS %s %s" % (N5, N3)) == b"200 OK 0\r\n"
        code, msg, lines = parse(chord_req(ring, "TRANSFER_KEYS %s %s" % (N2, N1)))
        assert (code, msg, len(lines)) == (200, "OK", 2)
        for line in lines:
            m = re.fullmatch(r"(\w{40}) (\d+) (.*)", line)
            assert m and m.group(1) == REPORT and 1700 <= int(m.group(2)) <= 1800, line
        assert [re.fullmatch(r"\w{40} \d+ (.*)", x).group(1) for x in lines] == \
            [REC_ANNUAL, REC_Q3.replace("600320", "600321")]  # sorted by md5
        # LIST: N3 is responsible for (N5, N3]: not for `report`.
        assert chord_req(ring, "LIST") == b"200 OK 0\r\n"
    finally:
        n2.close()
        n5.close()


def test_list_pages_with_cursor(net):
    """LIST of a lone node: everything, 500 lines a page, sorted by (key,
    md5, ip, port), a cursor "<key>,<md5>,<ip>,<port>" of the last line."""
    w = chord_node(net)
    ring = w.ring
    wait_until(lambda: chord_status(w)["state"] == "alone", 10, "alone")
    want = []
    for i in range(620):
        key = sha1("k%d" % (i % 7))
        md5 = hashlib.md5(b"%d" % i).hexdigest()
        rec = "%s %d 10.0.%d.%d %d file %d.txt" % (md5, i, i // 250, i % 250 + 1, 3000 + i % 3, i)
        assert chord_req(ring, "PUT %s %s" % (key, rec)) == OK0
        want.append((key, md5, "10.0.%d.%d" % (i // 250, i % 250 + 1), 3000 + i % 3, rec))
    want.sort(key=lambda x: (x[0], x[1], x[2], x[3]))
    resp = chord_req(ring, "LIST")
    head = resp.split(b"\r\n")[0].decode()
    m = re.fullmatch(r"200 MORE (\S+) (\d+)", head)
    assert m, head
    cursor = m.group(1)
    data = resp[len(head) + 2:]
    assert int(m.group(2)) == len(data)
    lines = data.decode().split("\r\n")[:-1]
    assert len(lines) == 500
    last = want[499]
    assert cursor == "%s,%s,%s,%d" % last[:4]
    got = [re.fullmatch(r"(\w{40}) \d+ (.*)", x).groups() for x in lines]
    assert got == [(k, r) for k, _, _, _, r in want[:500]]
    code, msg, rest = parse(chord_req(ring, "LIST " + cursor))
    assert (code, msg) == (200, "OK")
    assert [re.fullmatch(r"(\w{40}) \d+ (.*)", x).groups() for x in rest] == \
        [(k, r) for k, _, _, _, r in want[500:]]
    # The same pages through TRANSFER_KEYS of the whole ring (x, x].
    resp2 = chord_req(ring, "TRANSFER_KEYS %s %s" % (N1, N1))
    assert resp2.split(b"\r\n")[0] == resp.split(b"\r\n")[0]
    # A cursor that is not one.
    assert chord_req(ring, "LIST nope") == MALFORMED
    assert chord_req(ring, "LIST " + "a" * 201) == MALFORMED


# ------------------------------------------------------------- §5 bad input


def test_section5_bad_requests(net):
    w = chord_node(net, extra=["--chord-max-records", "2", "--chord-request-timeout", "1"])
    ring = w.ring
    good = "PUT %s %s" % (REPORT, REC_Q3)
    assert chord_req(ring, good) == OK0
    rows = [
        # unknown ops, and the introducer's ops at a node
        (b"FOO a b c\r\n", BAD_REQUEST),
        (b"ping\r\n", BAD_REQUEST),
        (b"JOIN %s 10.0.0.1 7495\r\n" % N1.encode(), BAD_REQUEST),
        (b"DELETE %s\r\n" % N1.encode(), BAD_REQUEST),
        # wrong argument counts
        (b"PING x\r\n", BAD_REQUEST),
        (b"FIND_SUCCESSOR\r\n", BAD_REQUEST),
        (b"FIND_SUCCESSOR %s %s\r\n" % (N1.encode(), N2.encode()), BAD_REQUEST),
        (b"GET_PREDECESSOR x\r\n", BAD_REQUEST),
        (b"GET_SUCCESSORS 1 2\r\n", BAD_REQUEST),
        (b"NOTIFY %s 10.0.0.1\r\n" % N1.encode(), BAD_REQUEST),
        (b"PUT %s a b c d\r\n" % REPORT.encode(), BAD_REQUEST),
        (b"GET\r\n", BAD_REQUEST),
        (b"LIST a b\r\n", BAD_REQUEST),
        (b"TRANSFER_KEYS %s\r\n" % N1.encode(), BAD_REQUEST),
        # bad ids, addresses, ports, md5s, sizes, names, cursors
        (b"FIND_SUCCESSOR 1234\r\n", MALFORMED),
        (b"FIND_SUCCESSOR " + b"g" * 40 + b"\r\n", MALFORMED),
        (b"FIND_SUCCESSOR " + b"a" * 41 + b"\r\n", MALFORMED),
        (b"GET " + b"a" * 39 + b"\r\n", MALFORMED),
        (b"NOTIFY %s 10.0.0.256 7495\r\n" % N1.encode(), MALFORMED),
        (b"NOTIFY %s 10.0.0.1 0\r\n" % N1.encode(), MALFORMED),
        (b"NOTIFY %s 10.0.0.1 65536\r\n" % N1.encode(), MALFORMED),
        (b"NOTIFY %s 0.0.0.0 7495\r\n" % N1.encode(), MALFORMED),
        (b"NOTIFY xyz 10.0.0.1 7495\r\n", MALFORMED),
        (b"PUT %s %s\r\n" % (b"x" * 40, REC_Q3.encode()), MALFORMED),
        (b"PUT %s %s\r\n" % (REPORT.encode(), REC_Q3.replace("2f05", "zz05").encode()), MALFORMED),
        (b"PUT %s %s\r\n" % (REPORT.encode(), REC_Q3.replace("600320", "-1").encode()), MALFORMED),
        (b"PUT %s %s\r\n" % (REPORT.encode(), REC_Q3.replace("600320", "1" * 21).encode()), MALFORMED),
        (b"PUT %s %s\r\n" % (REPORT.encode(), REC_Q3.replace(" 3000 ", " 70000 ").encode()), MALFORMED),
        (b"PUT %s %s\r\n" % (REPORT.encode(), REC_Q3.replace("192.168.1.11", "host").encode()), MALFORMED),
        (b"PUT %s %s\r\n" % (REPORT.encode(), REC_Q3.replace("Q3 report.pdf", "n" * 101).encode()), MALFORMED),
        (b"PUT %s %s\tx\r\n" % (REPORT.encode(), REC_Q3.encode()), MALFORMED),
        (b"TRANSFER_KEYS %s zz\r\n" % N1.encode(), MALFORMED),
        (b"TRANSFER_KEYS %s %s a,b,c,d\r\n" % (N1.encode(), N2.encode()), MALFORMED),
        # a stray CR, a NUL, a line of spaces
        (b"PI\rNG\r\n", MALFORMED),
        (b"PING\x00\r\n", MALFORMED),
        (b"   \r\n", MALFORMED),
    ]
    for req, want in rows:
        assert request("%s:%d" % ring, req) == want, req
    # No line end within 512 bytes: 422 and close.
    assert request("%s:%d" % ring, b"PING" + b" " * 600) == MALFORMED
    assert request("%s:%d" % ring, b"A" * 512 + b"\n") == MALFORMED
    assert request("%s:%d" % ring, b"A" * 511 + b"\n") == BAD_REQUEST  # 512 with its end
    # No complete line within the request deadline (1 s here): a close
    # without a word.
    t0 = time.monotonic()
    assert request("%s:%d" % ring, b"PIN", timeout=10) == b""
    assert 0.8 < time.monotonic() - t0 < 5
    # Full store: 500, nothing evicted; a refresh still works.
    assert chord_req(ring, "PUT %s %s" % (REPORT, REC_ANNUAL)) == OK0
    assert chord_req(ring, "PUT %s %s" % (N1, REC_ANNUAL)) == b"500 STORAGE FULL 0\r\n"
    assert chord_req(ring, good) == OK0
    assert parse(chord_req(ring, "GET " + REPORT))[2] == [REC_Q3, REC_ANNUAL]
    # Nothing above changed the stored records, and the node runs.
    assert chord_req(ring, "PING") == OK0
    st = chord_status(w)
    assert st["records"] == 2
    assert st["counters"]["bad_requests"] >= len(rows)
    assert st["counters"]["store_full"] == 1


def lying_bootstrap(reply):
    """A scripted ring node whose answers to FIND_SUCCESSOR are reply."""
    def handler(line):
        if line.startswith("FIND_SUCCESSOR"):
            return reply
        return OK0
    return ScriptedChord(N1, handler)


def test_client_rejects_lying_replies(net):
    """Replies that break §1/§5 make the request fail: the joiner does not
    take the lying node's word and starts a ring of its own."""
    node = "%s 127.0.0.1 7495" % N2
    lies = [
        b"200 OK 999\r\n" + node.encode() + b"\r\n",        # LEN too long: EOF first
        b"200 OK 10\r\n" + node.encode() + b"\r\n",         # LEN inside a line
        b"200 OK " + b"9" * 300 + b"\r\n",                  # status line over 256
        b"200 OK 2000000\r\n",                              # LEN over 1 MiB
        b"200 OK 602\r\n" + b"a" * 600 + b"\r\n",           # data line over 512
        b"2x0 OK 0\r\n",                                    # bad code
        b"200 OK 3\r\n\r\n\r\n",                            # empty data lines
        b"302 NEXT 0\r\n",                                  # a 302 naming nobody
        b"200 OK 7\r\nhello\r\n",                           # not a node triple
        None,                                               # close without a word
    ]
    scripted = [lying_bootstrap(r) for r in lies]
    try:
        nodes = [chord_node(net, bootstrap=(s.ip, s.port), extra=["--chord-timeout", "2"])
                 for s in scripted]
        for n, s in zip(nodes, scripted):
            wait_until(lambda: chord_status(n)["state"] == "alone", 15,
                       "%s alone after a lying bootstrap" % n.addr)
            assert s.ops("FIND_SUCCESSOR"), s.lines
            st = chord_status(n)
            assert st["successors"] == [] and st["counters"]["lookups_failed"] >= 1
            assert chord_req(n.ring, "PING") == OK0
        # A node that accepts and never answers: the 2 s deadline.
        silent = socket.socket()
        silent.bind((next_ipv4(), 0))
        silent.listen(8)
        try:
            t0 = time.monotonic()
            n = chord_node(net, bootstrap=silent.getsockname(), extra=["--chord-timeout", "2"])
            wait_until(lambda: chord_status(n)["state"] == "alone", 15, "alone after a silent node")
            assert time.monotonic() - t0 < 12
            assert chord_status(n)["counters"]["timeouts"] >= 1
        finally:
            silent.close()
    finally:
        for s in scripted:
            s.close()


def test_lookup_loops_and_chains_are_bounded(net):
    """A 302 loop (A names B, B names A) ends when the candidates are
    visited; an endless chain of new nodes that each make progress ends
    at 32 hops. The node then runs alone, and answers."""
    me_ip = next_ipv4()
    _, me_port = two_ports(me_ip)
    me = sha1("%s:%d" % (me_ip, me_port))
    me_int = int(me, 16)

    def between(frac):
        # An id a fraction of the way from me + 1 around the ring to me.
        return "%040x" % ((me_int + 1 + int(frac * (2 ** 160 - 2))) % 2 ** 160)

    a_id, b_id = between(0.25), between(0.5)
    a = ScriptedChord(a_id)
    b = ScriptedChord(b_id)
    a.handler = lambda line: (answer(302, "NEXT", [b.triple]) if line.startswith("FIND")
                              else OK0)
    b.handler = lambda line: (answer(302, "NEXT", [a.triple, b.triple]) if line.startswith("FIND")
                              else OK0)
    # The chain: 40 listeners; each names the next with an id closer to
    # the target (so each is progress), for ever.
    chain = []
    for i in range(40):
        chain.append(ScriptedChord(between(0.1 + 0.85 * (1 - 0.5 ** (i + 1)))))
    for i, s in enumerate(chain):
        nxt = chain[min(i + 1, len(chain) - 1)]
        s.handler = (lambda nxt: lambda line: answer(302, "NEXT", [nxt.triple])
                     if line.startswith("FIND") else OK0)(nxt)
    try:
        n = net.node(ip=me_ip, args=["--overlay", "chord", "--chord-listen",
                                     "%s:%d" % (me_ip, me_port),
                                     "--chord-bootstrap", "%s:%d" % (a.ip, a.port)] + FAST,
                     start=False)
        n.ring = (me_ip, me_port)
        n.start()
        wait_until(lambda: chord_status(n)["state"] == "alone", 15, "alone after the loop")
        assert len(a.ops("FIND_SUCCESSOR")) == 1 and len(b.ops("FIND_SUCCESSOR")) == 1
        assert a.ops("FIND_SUCCESSOR")[0] == "FIND_SUCCESSOR " + me
        n.stop()
        # The same target id, so that every hop of the chain is progress.
        m = chord_node(net, bootstrap=(chain[0].ip, chain[0].port), node_id=me)
        wait_until(lambda: chord_status(m)["state"] == "alone", 15, "alone after the chain")
        asked = sum(len(s.ops("FIND_SUCCESSOR")) for s in chain)
        assert asked == 33, asked  # the entry, then 32 hops
        assert chord_status(m)["counters"]["lookups_failed"] >= 1
        assert chord_req(m.ring, "PING") == OK0
    finally:
        for s in [a, b] + chain:
            s.close()


# ------------------------------------------------------------------- rings


def start_all(nodes):
    """Start node processes together, then wait for each."""
    import subprocess
    for n in nodes:
        n.log = open(n.log_path, "ab")
        cmd = [WARREN, "node", "--listen", n.addr, "--share", n.share, "--data-dir", n.data,
               "--socket", n.sock, "--log-level", "debug"] + n.args
        n.proc = subprocess.Popen(cmd, stdout=n.log, stderr=subprocess.STDOUT, env=n.env)
    for n in nodes:
        wait_until(lambda: n._socket_up(), 30, "control socket of %s" % n.addr)


def ring_consistent(nodes):
    """Every live node's successor is the next live id and its predecessor
    the previous one (so successor(predecessor(n)) = n for all)."""
    by_id = sorted(nodes, key=lambda n: n.ring_id)
    for i, n in enumerate(by_id):
        try:
            pred, succ = ring_ids(n.ring)
        except (OSError, AssertionError):
            return False
        want_succ = by_id[(i + 1) % len(by_id)]
        want_pred = by_id[i - 1]
        if len(by_id) == 1:
            if succ[0].split()[0] != n.ring_id:
                return False
            continue
        if succ[0] != triple(want_succ) or pred != triple(want_pred):
            return False
    return True


def ring_dump(nodes):
    """Each node's view of the ring, for a failure message."""
    rows = []
    for n in sorted(nodes, key=lambda n: n.ring_id):
        try:
            pred, succ = ring_ids(n.ring)
            view = "pred %s succ %s" % ((pred or "-").split(" ")[0][:8],
                                        ",".join(x.split(" ")[0][:8] for x in succ))
        except (OSError, AssertionError) as e:
            view = "unreachable: %s" % e
        rows.append("%s %s" % (n.ring_id[:8], view))
    return "\n".join(rows)


def wait_ring(nodes, timeout, what):
    """Wait until the ring of nodes is consistent; on a time-out, say how
    each node saw it."""
    try:
        wait_until(lambda: ring_consistent(nodes), timeout, what)
    except AssertionError as e:
        raise AssertionError("%s\n%s" % (e, ring_dump(nodes))) from None


def search_hits(n, term, timeout=30):
    c = n.ctl(timeout)
    try:
        evs = c.events("search", term=term, overlay="chord")
    finally:
        c.close()
    assert evs[-1]["ok"], evs[-1]
    return [e["hit"] for e in evs if e.get("event") == "hit"]


def search_many(n, terms, timeout=60):
    """Run searches on one control connection, 8 at a time: {term: hits}
    (None for a search that ended with an error)."""
    c = n.ctl(timeout)
    out = {}
    try:
        pending = {}
        todo = list(terms)
        while todo or pending:
            while todo and len(pending) < 8:
                t = todo.pop()
                pending[c.send({"op": "search", "term": t, "overlay": "chord"})] = t
                out[t] = []
            m = c.recv()
            t = pending.get(m.get("id"))
            if t is None:
                continue
            if m.get("event") == "hit":
                out[t].append(m["hit"])
            elif m.get("event") == "overlay_done" and m.get("error"):
                out[t] = None
            if m.get("done"):
                del pending[m["id"]]
    finally:
        c.close()
    return out


def ring_of(net, tmp, size):
    it = Introducer(str(tmp)).start()
    nodes = [chord_node(net, "r%02d" % i, introducer=it, start=False) for i in range(size)]
    t0 = time.monotonic()
    start_all(nodes)
    wait_ring(nodes, 60, "a consistent ring of %d" % size)
    return it, nodes, time.monotonic() - t0


def share_files(nodes, tmp, size=20000):
    """One file per node, named with a word of its own: {node: (word,
    name, md5)}."""
    files = {}
    for i, n in enumerate(nodes):
        word = "zeta%03dq" % i
        name = "Ring %s part_%d.bin" % (word, i)
        path = os.path.join(str(tmp), name)
        md5 = make_file(path, size + i, seed=i)
        shutil.copy(path, os.path.join(n.share, name))
        files[n] = (word, name, md5)
    return files


def test_ring_search_download_kill_and_introducer_restart(net, tmp_path):
    size = int(os.environ.get("WARREN_CHORD_RING", "32"))
    it, nodes, formed = ring_of(net, tmp_path, size)
    try:
        print("ring of %d consistent after %.1f s" % (size, formed))
        files = share_files(nodes, tmp_path)
        # Every node finds the file of the next node by keyword...
        def all_found():
            for i, n in enumerate(nodes):
                word, name, md5 = files[nodes[(i + 1) % size]]
                hits = search_hits(n, word)
                if not any(h["md5"] == md5 and h["size"] == os.path.getsize(
                        os.path.join(nodes[(i + 1) % size].share, name)) for h in hits):
                    return False
            return True
        wait_until(all_found, 60, "every file found by keyword")
        # ... and downloads it with `warren get` (MD5 checked).
        for i, n in enumerate(nodes):
            holder = nodes[(i + 1) % size]
            word, name, md5 = files[holder]
            hits = search_hits(n, "ring " + word)
            assert [h["source"]["label"] for h in hits if h["md5"] == md5] == [holder.addr]
            n.cli("get", md5, "--wait", check=0, timeout=120)
            got = os.path.join(n.share, name)
            wait_until(lambda: os.path.exists(got), 30, "download of %s" % name)
            assert md5_file(got) == md5
        # Every key is found from every node: each node looks up 8
        # random files (keyword and md5 searches).
        rnd = random.Random(7)
        for n in nodes:
            picks = rnd.sample(list(files.values()), min(8, size))
            res = search_many(n, [w for w, _, _ in picks] + [m for _, _, m in picks])
            for w, _, m in picks:
                assert res[w] and any(h["md5"] == m for h in res[w]), (n.addr, w, res[w])
                assert res[m] and all(h["md5"] == m for h in res[m]), (n.addr, m, res[m])
        # The ring walk (empty query) lists every file, each holder once.
        walked = search_hits(nodes[0], "*")
        assert sorted(set(h["md5"] for h in walked)) == sorted(m for _, _, m in files.values())
        assert len(walked) == len(set((h["md5"], h["source"]["label"]) for h in walked))

        # kill -9 a quarter of the ring at once.
        dead = rnd.sample(nodes, size // 4)
        for n in dead:
            n.proc.send_signal(signal.SIGKILL)
        for n in dead:
            n.proc.wait()
            n.expect_exit = None
        live = [n for n in nodes if n not in dead]
        t0 = time.monotonic()
        wait_ring(live, 60, "ring repaired after kill -9")
        print("ring of %d repaired in %.1f s" % (len(live), time.monotonic() - t0))
        # Lookups of the stored keys: >= 99 % succeed.
        ok = total = 0
        for n in live:
            picks = rnd.sample(list(files.values()), min(8, size))
            res = search_many(n, [w for w, _, _ in picks])
            for w, _, m in picks:
                total += 1
                ok += bool(res[w]) and any(h["md5"] == m for h in res[w])
        print("lookups after kill -9: %d/%d" % (ok, total))
        assert ok >= 0.99 * total, (ok, total)
        st = [chord_status(n) for n in live]
        assert all(s["state"] == "joined" for s in st)
        assert all(s["finger_fill"] >= 1 for s in st)

        # The introducer restarted keeps its table: new nodes join the
        # ring through it while lookups run, and a killed node restarted
        # at its old address joins again.
        it.stop()
        it.start()
        late = [chord_node(net, "late%d" % i, introducer=it, start=False) for i in range(2)]
        revived = dead[0]
        revived.expect_exit = 0
        errors = []

        def joiners():
            try:
                start_all(late)
                revived.start()
            except Exception as e:  # reported by the main thread
                errors.append(e)
        t = threading.Thread(target=joiners)
        t.start()
        ok = total = 0
        while t.is_alive() or total < 64:
            n = rnd.choice(live)
            picks = rnd.sample(list(files.values()), 4)
            res = search_many(n, [w for w, _, _ in picks])
            for w, _, m in picks:
                total += 1
                ok += bool(res[w]) and any(h["md5"] == m for h in res[w])
        t.join()
        assert not errors, errors
        print("lookups while nodes joined: %d/%d" % (ok, total))
        assert ok >= 0.99 * total, (ok, total)
        live += late + [revived]
        wait_until(lambda: all(chord_status(n)["state"] == "joined" for n in late + [revived]),
                   20, "late nodes joined")
        wait_ring(live, 60, "ring with the late nodes")
        for n in late + [revived]:
            word, name, md5 = files[live[0]]
            wait_until(lambda: any(h["md5"] == md5 for h in search_hits(n, word)), 30,
                       "%s finds a file" % n.addr)
    finally:
        it.stop()


def test_graceful_leave_hands_keys_to_the_successor(net, tmp_path):
    """With r = 1 every record lives on one node only. A node stopped
    cleanly hands its records to its successor, so its keys are still
    found; a node killed with kill -9 takes its keys with it (until the
    holder republishes), which shows the hand-over is what keeps them."""
    it = Introducer(str(tmp_path)).start()
    try:
        nodes = [chord_node(net, "h%d" % i, introducer=it, start=False,
                            extra=["--chord-successors", "1"]) for i in range(5)]
        start_all(nodes)
        wait_ring(nodes, 60, "a consistent ring of 5")
        by_id = sorted(nodes, key=lambda n: n.ring_id)

        def responsible(key):
            return next((n for n in by_id if n.ring_id >= key), by_id[0])

        holder = nodes[0]

        def after(n):
            return by_id[(by_id.index(n) + 1) % len(by_id)]

        def before(n):
            return by_id[by_id.index(n) - 1]
        # Two keywords held by two different nodes, neither the holder nor
        # its neighbours, the crashed one not the successor that takes the
        # hand-over. (A holder that lost both neighbours would be alone,
        # join again and republish everything, the crashed node's keys
        # included: r = 1 leaves no other way back.)
        near = (holder, before(holder), after(holder))
        far = [n for n in by_id if n not in near]  # two neighbours
        graceful = next(n for n in far if after(n) not in far)
        crashed = next(n for n in far if n is not graceful)
        owners = (graceful, crashed)
        words = [None, None]
        for i in range(200000):
            w = "leave%06dx" % i
            o = responsible(sha1(w))
            if o in owners and words[owners.index(o)] is None:
                words[owners.index(o)] = w
            if all(words):
                break
        assert all(words), "no keyword for each of two arcs"
        name = "Handover %s %s.bin" % tuple(words)
        path = os.path.join(str(tmp_path), name)
        md5 = make_file(path, 30000, seed=5)
        # UPLOAD of the original client: `warren share add` copies the file
        # into the shared folder and the ring publishes it.
        out = holder.cli("share", "add", path, check=0).stdout
        assert md5 in out and name in out, out
        asker = next(n for n in nodes if n not in (holder, graceful, crashed))
        for w in words:
            wait_until(lambda: any(h["md5"] == md5 for h in search_hits(asker, w)),
                       30, "%s found" % w)
        # `warren ls` lists the holder's own files; `ls --all` walks the
        # ring (LIST at every node) and numbers the rows for `get N`.
        own = holder.cli("ls", "--json", check=0).stdout
        assert md5 in own and name in own
        p = asker.cli("ls", "--all", "--overlay", "chord", check=0)
        rows = [l for l in p.stdout.splitlines() if md5[:8] in l]
        assert len(rows) == 1 and name in rows[0] and rows[0].split()[0] == "1", p.stdout
        assert "1 file" in p.stdout, p.stdout
        js = asker.cli("ls", "--all", "--json", check=0).stdout.splitlines()
        hits = [json.loads(l) for l in js if '"hit"' in l]
        assert {h["hit"]["md5"] for h in hits} == {md5}, js
        assert asker.cli("ls", "--all", "stray").returncode == 2
        # Each record is on its responsible node only.
        for w, owner in zip(words, owners):
            code, _, recs = parse(chord_req(owner.ring, "GET " + sha1(w)))
            assert code == 200 and recs[0].split(" ")[0] == md5
            others = [n for n in nodes if n is not owner]
            assert all(parse(chord_req(n.ring, "GET " + sha1(w)))[0] == 404 for n in others)

        # The holder's early republish round (six stabilize intervals
        # after joining) must be over before the crash, or it puts the
        # crashed node's record on its heir; the next round is 10 min off.
        def settled(n):
            c = chord_status(n)["counters"]
            return (c["republish_rounds"] >= 1 and c["republish_queued"] == 0
                    and c["publish_queued"] == 0 and c["publish_running"] == 0)
        wait_until(lambda: settled(holder), 30, "the holder's first republish round")
        assert graceful.stop() == 0
        assert "handed to" in graceful.read_log()
        crashed.kill()
        live = [n for n in nodes if n not in (graceful, crashed)]
        wait_ring(live, 60, "ring repaired")
        assert any(h["md5"] == md5 for h in search_hits(asker, words[0]))
        # The crashed node's keyword is gone with it (republish is 10 min).
        assert search_hits(asker, words[1]) == []
        # The file itself still downloads through the handed-over key.
        asker.cli("get", md5, "--wait", check=0, timeout=120)
        assert md5_file(os.path.join(asker.share, name)) == md5
    finally:
        it.stop()


def test_node_cut_off_from_the_ring_joins_again(net, tmp_path):
    """With r = 1, X's fingers and successor list all name B (X's
    fingers span less than B's arc) and its predecessor is A. When A and B
    die at once, X has nobody left, and no live node points at X: C and D
    close a ring of two without it. X must notice it is alone and join
    again through the introducer, as a node that started alone does."""
    ids = {name: "%02x" % top + "0" * 38 for name, top in
           (("A", 0x18), ("X", 0x20), ("B", 0xA8), ("C", 0xC0), ("D", 0xE8))}
    it = Introducer(str(tmp_path)).start()
    try:
        nodes = {k: chord_node(net, "cut" + k, introducer=it, node_id=v, start=False,
                               extra=["--chord-successors", "1"])
                 for k, v in ids.items()}
        start_all(list(nodes.values()))
        wait_ring(list(nodes.values()), 60, "a consistent ring of 5")
        # Fingers settled: X's all name B; nobody's but A's and B's name X.
        x = nodes["X"]

        def fingers_settled():
            return all(chord_status(n)["finger_fill"] >= 1 for n in nodes.values())
        wait_until(fingers_settled, 30, "fingers filled")
        nodes["A"].kill()
        nodes["B"].kill()
        live = [nodes[k] for k in ("X", "C", "D")]
        wait_ring(live, 30, "X back in the ring with C and D")
        assert "joined the ring" in x.read_log().split("the successor failed")[-1]
    finally:
        it.stop()


def test_ring_port_serves_files_like_the_main_port(net, tmp_path):
    """Every overlay port of a node serves RETR, RETP and HASH (issue 8),
    the ring port too: a connection whose first bytes are a course
    transfer request is answered as on the main port, byte for byte; chord
    lines on the same port are still chord, including ops that start
    with the same letters."""
    n = chord_node(net, "files", start=False)
    md5 = make_file(os.path.join(n.share, "ring served.bin"), 700000, seed=3)
    n.start()
    wait_until(lambda: md5 in n.cli("share", "ls", "--json", check=0).stdout, 30,
               "the file hashed")
    ring = "%s:%d" % n.ring
    for msg in (b"RETR" + md5.encode(), b"HASH" + md5.encode(),
                b"RETP" + md5.encode() + b"00000002", b"RETR" + b"0" * 32):
        want = request(n.addr, msg)
        got = request(ring, msg)
        assert got == want and len(got) >= 4, (msg, got[:40], want[:40])
    assert request(ring, b"RETR" + md5.encode())[:4] == b"ARET"
    assert request(ring, b"HASH" + md5.encode())[:4] == b"AHAS"
    # A request split after its kind is still a transfer.
    with socket.create_connection(n.ring, 5) as c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.sendall(b"RETR")
        time.sleep(0.05)  # to send two segments; nothing waits on it
        c.sendall(md5.encode())
        c.settimeout(10)
        assert recv_all(c) == request(n.addr, b"RETR" + md5.encode())
    # Chord lines are still chord.
    assert chord_req(n.ring, "PING") == b"200 OK 0\r\n"
    assert chord_req(n.ring, "RETR") == b"400 BAD REQUEST 0\r\n"
    assert chord_req(n.ring, "HASHING " + md5) == b"400 BAD REQUEST 0\r\n"
    assert chord_req(n.ring, "RETRX") == b"400 BAD REQUEST 0\r\n"
    st = chord_status(n)["counters"]
    assert st["transfers"] == 7, st
    # A malformed transfer request gets the course answer, not a chord one.
    assert request(ring, b"RETP" + md5.encode() + b"0000000z") == \
        request(n.addr, b"RETP" + md5.encode() + b"0000000z")
