"""`warren directory`, beer2beer side (beer2beer.md), written from the spec:
§6 exchanges byte for byte, every request kind and every KO reason, persistent
connections with pipelined requests, registration lifetime and the keep-alive
window with test-short settings, paging and record-boundary cuts, the §4.7
score order, the course FIND that sees beer2beer files, kill -9 under load,
and bad input (truncated frames, stalled frames, bad encoding, non-request
types, 2,000 silent connections)."""

import os
import socket
import struct
import threading
import time

from conftest import free_port, ipp2p, next_ipv4, request, wait_until
from test_directory import Directory, login as course_login

REGISTER, LOGIN, KEEP_ALIVE, LOGOUT, SHOW_PEERS, BROWSE_PEER, SEARCH_FILE, \
    DOWNLOAD_FILE, REGISTER_UPDATE, REGISTER_APPEND = range(1, 11)

def hexdump(text):
    """Bytes of a hex dump as the spec prints it (offset, hex, ASCII)."""
    out = b""
    for line in text.strip().splitlines():
        out += bytes.fromhex(line[6:54])
    return out


# §6: REGISTER of alice / s3cret with hello.txt ("hello world\n"): the
# 3-field line and its md5 annotation, 141 bytes of payload, copied from the
# spec's dump.
SPEC_REGISTER = hexdump("""
0000  8d 00 01 00 61 6c 69 63 65 0a 73 33 63 72 65 74  ....alice.s3cret
0010  0a 68 65 6c 6c 6f 2e 74 78 74 7c 31 32 7c 32 32  .hello.txt|12|22
0020  35 39 36 33 36 33 62 33 64 65 34 30 62 30 36 66  596363b3de40b06f
0030  39 38 31 66 62 38 35 64 38 32 33 31 32 65 38 63  981fb85d82312e8c
0040  30 65 64 35 31 31 0a 32 32 35 39 36 33 36 33 62  0ed511.22596363b
0050  33 64 65 34 30 62 30 36 66 39 38 31 66 62 38 35  3de40b06f981fb85
0060  64 38 32 33 31 32 65 38 63 30 65 64 35 31 31 7c  d82312e8c0ed511|
0070  36 66 35 39 30 32 61 63 32 33 37 30 32 34 62 64  6f5902ac237024bd
0080  64 30 63 31 37 36 63 62 39 33 30 36 33 64 63 34  d0c176cb93063dc4
0090  0a                                               .
""")
SPEC_REGISTER_OK = hexdump("""
0000  0e 00 65 00 52 45 47 49 53 54 45 52 5f 4f 4b 0a  ..e.REGISTER_OK.
0010  34 32                                            42
""")
SPEC_REGISTER_KO = hexdump("""
0000  1b 00 c9 00 52 45 47 49 53 54 45 52 5f 4b 4f 0a  ....REGISTER_KO.
0010  75 73 65 72 20 6e 61 6d 65 20 74 61 6b 65 6e     user name taken
""")
SHA = "22596363b3de40b06f981fb85d82312e8c0ed511"
MD5 = "6f5902ac237024bdd0c176cb93063dc4"
FAST = ("--pbkdf2-iterations", "1000", "--search-rate", "0")


def frame(type_, payload):
    return struct.pack("<HH", len(payload), type_) + payload


def sha(n):
    return "%040x" % n


def md5(n):
    return "%032x" % n


class Conn:
    """One persistent beer2beer connection."""

    def __init__(self, addr, src=None, timeout=10.0):
        host, port = addr.rsplit(":", 1)
        self.s = socket.socket()
        self.s.settimeout(timeout)
        if src is not None:
            self.s.bind((src, 0))
        self.s.connect((host, int(port)))

    def send(self, type_, payload):
        self.s.sendall(frame(type_, payload))

    def _read(self, n):
        b = b""
        while len(b) < n:
            x = self.s.recv(n - len(b))
            if not x:
                raise EOFError("closed after %d of %d bytes" % (len(b), n))
            b += x
        return b

    def recv_raw(self):
        head = self._read(4)
        n, _ = struct.unpack("<HH", head)
        return head + self._read(n)

    def recv(self):
        raw = self.recv_raw()
        return struct.unpack("<H", raw[2:4])[0], raw[4:]

    def req(self, type_, payload):
        self.send(type_, payload)
        return self.recv()

    def closed_without_reply(self, timeout=5.0):
        self.s.settimeout(timeout)
        try:
            return self.s.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.s.close()


def start(tmp_path, *args):
    d = Directory(str(tmp_path), *args).start()

    def up():
        try:
            socket.create_connection((d.ip, d.b2b_port), 1).close()
            return True
        except OSError:
            return False
    wait_until(up, 20, "beer2beer listener")
    return d


def files_payload(files):
    """File lines as warren clients send them: name|size|sha1 + annotation."""
    out = b""
    for name, size, s1, m5 in files:
        out += b"%s|%d|%s\n" % (name, size, s1.encode())
        if m5:
            out += b"%s|%s\n" % (s1.encode(), m5.encode())
    return out


def register(c, user, pwd, files=()):
    t, p = c.req(REGISTER, b"%s\n%s\n" % (user, pwd) + files_payload(files))
    assert t == 101 and p.startswith(b"REGISTER_OK\n"), (t, p)
    return int(p.split(b"\n")[1])


def do_login(c, user, pwd, id_, ip=b"127.0.0.1", port=3000):
    assert c.req(LOGIN, b"%s\n%s\n%d\n%s\n%d\n" % (user, pwd, id_, ip, port)) == \
        (102, b"LOGIN_OK")


def rec_len(recs):
    """Bytes of the shortest of these records."""
    return min(sum(len(x) + 1 for x in r) for r in recs)


def records(payload, per):
    lines = payload.split(b"\n")
    assert lines[-1] == b"", payload[-100:]
    body = lines[1:-1]
    assert len(body) % per == 0, (len(body), per)
    return [body[i:i + per] for i in range(0, len(body), per)]


# ---------------------------------------------------------------- §6


def test_spec_examples_byte_for_byte(tmp_path):
    d = start(tmp_path, *FAST)
    try:
        c = Conn(d.b2b_addr)
        # 41 registrations first, pipelined, so that the example's is id 42.
        c.s.sendall(b"".join(frame(REGISTER, b"user%d\npw\n" % i) for i in range(41)))
        for i in range(41):
            assert c.recv() == (101, b"REGISTER_OK\n%d" % (i + 1))
        c.s.sendall(SPEC_REGISTER)
        assert c.recv_raw() == SPEC_REGISTER_OK
        # The name is alice's now: another password gets the §6 KO.
        c.send(REGISTER, b"alice\nn0t-it\n")
        assert c.recv_raw() == SPEC_REGISTER_KO
        exchanges = [
            ((34, 2), b"alice\ns3cret\n42\n192.168.1.10\n3000\n", (8, 102), b"LOGIN_OK"),
            ((3, 3), b"42\n", (13, 103), b"KEEP_ALIVE_OK"),
            ((6, 7), b"hello\n", (96, 107),
             b"SEARCH_FILE_OK\nhello.txt\n12\n" + SHA.encode() + b"\nalice\n42\n192.168.1.10\n3000\n"),
            ((41, 8), SHA.encode() + b"\n", (131, 108),
             b"DOWNLOAD_FILE_OK\nhello.txt\n12\n" + SHA.encode()
             + b"\nalice\n42\n192.168.1.10\n3000\n" + MD5.encode() + b"\n"),
            ((16, 4), b"alice\ns3cret\n42\n", (9, 103), b"LOGOUT_OK"),
        ]
        for (qlen, qtype), q, (rlen, rtype), r in exchanges:
            assert len(q) == qlen
            c.send(qtype, q)
            assert c.recv_raw() == struct.pack("<HH", rlen, rtype) + r
        # The older 4-field form is 100 bytes and registers the same file;
        # alice's password again, so her name takes a second registration.
        four = b"alice\ns3cret\nhello.txt|12|%s|%s\n" % (SHA.encode(), MD5.encode())
        assert len(four) == 100
        c.send(REGISTER, four)
        assert c.recv_raw() == frame(101, b"REGISTER_OK\n43")
        do_login(c, b"alice", b"s3cret", 43, b"10.1.2.3", 4000)
        t, p = c.req(DOWNLOAD_FILE, SHA.encode() + b"\n")
        assert p == b"DOWNLOAD_FILE_OK\nhello.txt\n12\n" + SHA.encode() + \
            b"\nalice\n43\n10.1.2.3\n4000\n" + MD5.encode() + b"\n"
        c.close()
    finally:
        d.stop()


# ----------------------------------------------------- every kind, every KO


def ko(req, reason):
    names = {REGISTER: b"REGISTER", LOGIN: b"LOGIN", KEEP_ALIVE: b"KEEP_ALIVE",
             LOGOUT: b"LOGOUT", SHOW_PEERS: b"SHOW_PEERS", BROWSE_PEER: b"BROWSE_PEER",
             SEARCH_FILE: b"SEARCH_FILE", DOWNLOAD_FILE: b"DOWNLOAD_FILE",
             REGISTER_UPDATE: b"REGISTER_UPDATE", REGISTER_APPEND: b"REGISTER_APPEND"}
    code = 203 if req == LOGOUT else 200 + req
    return code, names[req] + b"_KO\n" + reason


def test_every_request_and_every_failure(tmp_path):
    d = start(tmp_path, *FAST, "--files-per-registration", "3",
              "--max-registrations", "4")
    try:
        c = Conn(d.b2b_addr)
        f1 = (b"one.txt", 1, sha(1), md5(1))
        f2 = (b"two.txt", 2, sha(2), None)
        a = register(c, b"ann", b"pw", [f1, f2])
        cases = [
            # REGISTER
            (REGISTER, b"ann\n", ko(REGISTER, b"malformed request")),
            (REGISTER, b"ann\npw\nok.txt|1|%s\nno file line\n" % sha(3).encode(),
             ko(REGISTER, b"bad file line 4")),
            (REGISTER, b"ann\npw\nok.txt|1|%s\n%s|%s\n" % (sha(3).encode(), sha(4).encode(),
                                                       md5(4).encode()),
             ko(REGISTER, b"bad file line 4")),
            (REGISTER, b"ann\nother\n", ko(REGISTER, b"user name taken")),
            (REGISTER, b"zed\npw\n" + files_payload([(b"f%d" % i, 1, sha(10 + i), None)
                                                    for i in range(4)]),
             ko(REGISTER, b"too many files")),
            (REGISTER, b"an\xffn\npw\n", ko(REGISTER, b"bad encoding")),
            (REGISTER, b"zed\npw\nh\xc3(llo.txt|1|%s\n" % sha(5).encode(),
             ko(REGISTER, b"bad encoding")),
            # LOGIN
            (LOGIN, b"ann\npw\n", ko(LOGIN, b"malformed request")),
            (LOGIN, b"ann\npw\n%d\n999.1.1.1\n" % a, ko(LOGIN, b"malformed request")),
            (LOGIN, b"ann\nbad\n%d\n" % a, ko(LOGIN, b"bad user or password")),
            (LOGIN, b"bob\npw\n%d\n" % a, ko(LOGIN, b"bad user or password")),
            (LOGIN, b"ann\npw\n999\n", ko(LOGIN, b"unknown id")),
            # KEEP_ALIVE: never logged in, unknown, malformed.
            (KEEP_ALIVE, b"%d\n" % a, ko(KEEP_ALIVE, b"not logged in")),
            (KEEP_ALIVE, b"999\n", ko(KEEP_ALIVE, b"not logged in")),
            (KEEP_ALIVE, b"0\n", ko(KEEP_ALIVE, b"malformed request")),
            # LOGOUT
            (LOGOUT, b"ann\n", ko(LOGOUT, b"malformed request")),
            (LOGOUT, b"ann\nbad\n%d\n" % a, ko(LOGOUT, b"bad user or password")),
            (LOGOUT, b"ann\npw\n999\n", ko(LOGOUT, b"unknown id")),
            (LOGOUT, b"nobody\npw\n", ko(LOGOUT, b"bad user or password")),
            (LOGOUT, b"ann\npw\n%d\n" % a, (103, b"LOGOUT_OK")),  # offline: still OK
            # SHOW_PEERS
            (SHOW_PEERS, b"sometimes\n", ko(SHOW_PEERS, b"bad filter")),
            (SHOW_PEERS, b"all\nx\n", ko(SHOW_PEERS, b"malformed request")),
            # BROWSE_PEER
            (BROWSE_PEER, b"999\n", ko(BROWSE_PEER, b"unknown peer")),
            (BROWSE_PEER, b"x\n", ko(BROWSE_PEER, b"malformed request")),
            (BROWSE_PEER, b"%d\n" % a,
             (106, b"BROWSE_PEER_OK\none.txt\n1\n%s\ntwo.txt\n2\n%s\n" % (sha(1).encode(),
                                                                       sha(2).encode()))),
            # SEARCH_FILE
            (SEARCH_FILE, b"", ko(SEARCH_FILE, b"empty query")),
            (SEARCH_FILE, b" \t \n", ko(SEARCH_FILE, b"empty query")),
            (SEARCH_FILE, b" ".join([b"w"] * 33) + b"\n", ko(SEARCH_FILE, b"too many words")),
            (SEARCH_FILE, b"x" * 256 + b"\n", ko(SEARCH_FILE, b"malformed request")),
            (SEARCH_FILE, b"one\n", (107, b"SEARCH_FILE_OK\n")),  # ann is offline
            # DOWNLOAD_FILE
            (DOWNLOAD_FILE, b"xyz\n", ko(DOWNLOAD_FILE, b"bad sha1")),
            (DOWNLOAD_FILE, b"", ko(DOWNLOAD_FILE, b"bad sha1")),
            (DOWNLOAD_FILE, sha(1).encode() + b"\n", (108, b"DOWNLOAD_FILE_OK\n")),
            # REGISTER_UPDATE
            (REGISTER_UPDATE, b"ann\nbad\n%d\n" % a, ko(REGISTER_UPDATE, b"bad user or password")),
            (REGISTER_UPDATE, b"ann\npw\n999\n", ko(REGISTER_UPDATE, b"unknown id")),
            (REGISTER_UPDATE, b"ann\npw\n%d\nbroken\n" % a, ko(REGISTER_UPDATE, b"bad file line 4")),
            (REGISTER_UPDATE, b"ann\npw\n%d\n" % a + files_payload(
                [(b"f%d" % i, 1, sha(20 + i), None) for i in range(4)]),
             ko(REGISTER_UPDATE, b"too many files")),
            # REGISTER_APPEND
            (REGISTER_APPEND, b"ann\nbad\n%d\n" % a, ko(REGISTER_APPEND, b"bad user or password")),
            (REGISTER_APPEND, b"ann\npw\n999\n", ko(REGISTER_APPEND, b"unknown id")),
            (REGISTER_APPEND, b"ann\npw\n%d\n%s|%s\n" % (a, sha(9).encode(), md5(9).encode()),
             ko(REGISTER_APPEND, b"bad file line 4")),
            (REGISTER_APPEND, b"ann\npw\n%d\n" % a + files_payload(
                [(b"g%d" % i, 1, sha(30 + i), None) for i in range(2)]),
             ko(REGISTER_APPEND, b"too many files")),  # 2 + 2 > 3
        ]
        for type_, payload, want in cases:
            assert c.req(type_, payload) == want, (type_, payload[:60])
        # Failed requests changed nothing: ann still has exactly f1, f2.
        assert c.req(BROWSE_PEER, b"%d\n" % a)[1].count(b"\n") == 1 + 6
        # The OK side of UPDATE and APPEND, with the md5 annotation kept.
        assert c.req(REGISTER_APPEND, b"ann\npw\n%d\n" % a + files_payload(
            [(b"three.txt", 3, sha(3), md5(3))])) == (110, b"REGISTER_APPEND_OK\n%d" % a)
        do_login(c, b"ann", b"pw", a, b"10.0.0.1", 3001)
        assert c.req(DOWNLOAD_FILE, sha(3).encode() + b"\n")[1].endswith(md5(3).encode() + b"\n")
        assert c.req(REGISTER_UPDATE, b"ann\npw\n%d\n" % a + files_payload(
            [(b"only.txt", 7, sha(7), None)])) == (109, b"REGISTER_UPDATE_OK\n%d" % a)
        assert c.req(BROWSE_PEER, b"%d\n" % a) == \
            (106, b"BROWSE_PEER_OK\nonly.txt\n7\n%s\n" % sha(7).encode())
        # UPDATE keeps status, ip and port: still online at 10.0.0.1:3001.
        assert c.req(SHOW_PEERS, b"online\n") == \
            (105, b"SHOW_PEERS_OK\n%d\nann\nonline\n10.0.0.1\n3001\n" % a)
        # An empty file line list is valid; the holder has no md5 line.
        assert c.req(DOWNLOAD_FILE, sha(7).encode() + b"\n") == \
            (108, b"DOWNLOAD_FILE_OK\nonly.txt\n7\n%s\nann\n%d\n10.0.0.1\n3001\n\n"
             % (sha(7).encode(), a))
        # LOGIN without port uses the default peer port; without ip, the
        # source address of the connection.
        assert c.req(LOGIN, b"ann\npw\n%d\n10.0.0.2\n" % a) == (102, b"LOGIN_OK")
        assert c.req(SHOW_PEERS, b"")[1].endswith(b"10.0.0.2\n3000\n")
        src = next_ipv4()
        k = Conn(d.b2b_addr, src=src)
        assert k.req(LOGIN, b"ann\npw\n%d\n" % a) == (102, b"LOGIN_OK")
        k.close()
        assert c.req(SHOW_PEERS, b"")[1].endswith(b"%s\n3000\n" % src.encode())
        # The two-line LOGOUT logs out every registration of the name.
        a2 = register(c, b"ann", b"pw")
        do_login(c, b"ann", b"pw", a2)
        assert len(records(c.req(SHOW_PEERS, b"online\n")[1], 5)) == 2
        assert c.req(LOGOUT, b"ann\npw\n") == (103, b"LOGOUT_OK")
        assert c.req(SHOW_PEERS, b"online\n") == (105, b"SHOW_PEERS_OK\n")
        # Server full at 4 live registrations.
        register(c, b"cat", b"pw")
        register(c, b"dog", b"pw")
        assert c.req(REGISTER, b"eel\npw\n") == ko(REGISTER, b"server full")
        c.close()
    finally:
        d.stop()


def test_pipelined_requests_answered_in_order(tmp_path):
    d = start(tmp_path, *FAST)
    try:
        c = Conn(d.b2b_addr)
        reqs = [frame(REGISTER, b"pipe\npw\nsong.mp3|5|%s\n%s|%s\n" % (
                    sha(1).encode(), sha(1).encode(), md5(1).encode())),
                frame(LOGIN, b"pipe\npw\n1\n10.9.9.9\n3333\n"),
                frame(KEEP_ALIVE, b"2\n"),
                frame(SEARCH_FILE, b"song\n"),
                frame(SHOW_PEERS, b"online\n"),
                frame(LOGIN, b"pipe\nwrong\n1\n"),
                frame(DOWNLOAD_FILE, sha(1).encode() + b"\n"),
                frame(BROWSE_PEER, b"1\n"),
                frame(LOGOUT, b"pipe\npw\n1\n"),
                frame(SEARCH_FILE, b"song\n")]
        c.s.sendall(b"".join(reqs))
        got = [c.recv() for _ in reqs]
        assert [t for t, _ in got] == [101, 102, 203, 107, 105, 202, 108, 106, 103, 107]
        assert got[3][1].count(b"\n") == 8
        assert got[6][1].endswith(md5(1).encode() + b"\n")
        assert got[9][1] == b"SEARCH_FILE_OK\n"
        # Closing the connection does not change the status (§5).
        do_login(c, b"pipe", b"pw", 1)
        c.close()
        c = Conn(d.b2b_addr)
        assert c.req(SHOW_PEERS, b"online\n")[1].count(b"\n") == 6
        c.close()
    finally:
        d.stop()


# ------------------------------------------------- lifetime and keep-alive


def test_expiry_lifetime_and_sweep(tmp_path):
    d = start(tmp_path, *FAST, "--registration-ttl", "1.5", "--sweep-interval", "0.3")
    try:
        c = Conn(d.b2b_addr)
        t0 = time.monotonic()
        old = register(c, b"old", b"pw", [(b"old.txt", 1, sha(1), md5(1))])
        kept = register(c, b"kept", b"pw", [(b"kept.txt", 1, sha(2), md5(2))])
        do_login(c, b"old", b"pw", old)
        time.sleep(max(0, t0 + 1.0 - time.monotonic()))
        do_login(c, b"kept", b"pw", kept)      # a LOGIN pushes the expiry
        time.sleep(max(0, t0 + 2.0 - time.monotonic()))
        # old expired (1.5 s after its REGISTER and LOGIN): invisible.
        assert c.req(LOGIN, b"old\npw\n%d\n" % old) == ko(LOGIN, b"unknown id")
        assert c.req(KEEP_ALIVE, b"%d\n" % old) == ko(KEEP_ALIVE, b"not logged in")
        assert c.req(BROWSE_PEER, b"%d\n" % old) == ko(BROWSE_PEER, b"unknown peer")
        assert c.req(LOGOUT, b"old\npw\n%d\n" % old) == ko(LOGOUT, b"unknown id")
        assert c.req(REGISTER_UPDATE, b"old\npw\n%d\n" % old) == \
            ko(REGISTER_UPDATE, b"unknown id")
        assert c.req(DOWNLOAD_FILE, sha(1).encode() + b"\n") == (108, b"DOWNLOAD_FILE_OK\n")
        peers = records(c.req(SHOW_PEERS, b"all\n")[1], 5)
        assert [p[0] for p in peers] == [b"%d" % kept]
        # The name is free again, for another password; ids keep growing.
        again = register(c, b"old", b"new-password")
        assert again > kept
        wait_until(lambda: "expired registration" in d.read_log(), 10, "the sweeper")
        c.close()
    finally:
        d.stop()


def test_keepalive_keeps_online_silence_goes_offline(tmp_path):
    d = start(tmp_path, *FAST, "--keepalive", "1", "--keepalive-grace", "0.5")
    try:
        c = Conn(d.b2b_addr)
        talker = register(c, b"talker", b"pw", [(b"talk.txt", 1, sha(1), md5(1))])
        silent = register(c, b"silent", b"pw", [(b"quiet talk.txt", 1, sha(2), md5(2))])
        do_login(c, b"talker", b"pw", talker)
        do_login(c, b"silent", b"pw", silent)
        assert len(records(c.req(SHOW_PEERS, b"online\n")[1], 5)) == 2
        # KEEP_ALIVE from another source address is not accepted.
        other = Conn(d.b2b_addr, src=next_ipv4())
        assert other.req(KEEP_ALIVE, b"%d\n" % talker) == ko(KEEP_ALIVE, b"not logged in")
        other.close()
        t_end = time.monotonic() + 2.5
        while time.monotonic() < t_end:
            # Each KEEP_ALIVE on a connection of its own, as warren sends it.
            k = Conn(d.b2b_addr)
            assert k.req(KEEP_ALIVE, b"%d\n" % talker) == (103, b"KEEP_ALIVE_OK")
            k.close()
            time.sleep(0.4)
        online = records(c.req(SHOW_PEERS, b"online\n")[1], 5)
        assert [p[:3] for p in online] == [[b"%d" % talker, b"talker", b"online"]]
        offline = records(c.req(SHOW_PEERS, b"offline\n")[1], 5)
        assert [p[:3] for p in offline] == [[b"%d" % silent, b"silent", b"offline"]]
        # Offline holders are not searched nor offered for download.
        hits = records(c.req(SEARCH_FILE, b"talk\n")[1], 7)
        assert [h[0] for h in hits] == [b"talk.txt"]
        assert c.req(DOWNLOAD_FILE, sha(2).encode() + b"\n") == (108, b"DOWNLOAD_FILE_OK\n")
        assert c.req(KEEP_ALIVE, b"%d\n" % silent) == ko(KEEP_ALIVE, b"not logged in")
        # Its LOGIN brings it back.
        do_login(c, b"silent", b"pw", silent)
        assert len(records(c.req(SEARCH_FILE, b"talk\n")[1], 7)) == 2
        c.close()
    finally:
        d.stop()


def test_taken_name_and_concurrent_registers(tmp_path):
    d = start(tmp_path, *FAST)
    try:
        c = Conn(d.b2b_addr)
        first = register(c, b"neo", b"same")
        second = register(c, b"neo", b"same")          # same password: OK
        assert second > first
        assert c.req(REGISTER, b"neo\ndifferent\n") == ko(REGISTER, b"user name taken")
        # Both registrations answer LOGIN with the one password.
        do_login(c, b"neo", b"same", first)
        do_login(c, b"neo", b"same", second)
        # Two clients racing for a free name with different passwords:
        # exactly one wins; with the same password both do.
        for pwds, wins in (((b"p1", b"p2"), 1), ((b"p3", b"p3"), 2)):
            user = b"race%d" % wins
            conns = [Conn(d.b2b_addr) for _ in pwds]
            for k, p in zip(conns, pwds):
                k.send(REGISTER, b"%s\n%s\n" % (user, p))
            got = [k.recv() for k in conns]
            assert sum(t == 101 for t, _ in got) == wins, got
            assert all(t == 101 or (t, p) == ko(REGISTER, b"user name taken")
                       for t, p in got)
            for k in conns:
                k.close()
        c.close()
    finally:
        d.stop()


# ------------------------------------------------------------ paging, order


def test_paging_and_record_boundary_cuts(tmp_path):
    d = start(tmp_path, *FAST)
    try:
        c = Conn(d.b2b_addr)
        # SHOW_PEERS: ascending user_id, offset skips records.
        ids = [register(c, b"peer%d" % i, b"pw") for i in range(5)]
        do_login(c, b"peer1", b"pw", ids[1], b"10.0.0.1", 4001)
        recs = records(c.req(SHOW_PEERS, b"all\n2\n")[1], 5)
        assert recs == [[b"%d" % i, b"peer%d" % (i - 1), b"offline", b"", b""]
                        for i in ids[2:]]
        assert c.req(SHOW_PEERS, b"all\n5\n") == (105, b"SHOW_PEERS_OK\n")
        assert records(c.req(SHOW_PEERS, b"online\n")[1], 5) == \
            [[b"%d" % ids[1], b"peer1", b"online", b"10.0.0.1", b"4001"]]
        assert len(records(c.req(SHOW_PEERS, b"offline\n1\n")[1], 5)) == 3
        # BROWSE_PEER: 600 files with 250-byte names, sent as REGISTER +
        # REGISTER_APPENDs, come back in whole records of at most 65535
        # bytes, sorted by filename, until a page has no record.
        names = sorted(b"%03d-" % ((i * 7) % 600) + b"long" * 62 + b"xyz" for i in range(600))
        assert all(len(n) == 255 for n in names)
        files = [(n, i, sha(1000 + i), md5(i)) for i, n in enumerate(names)]
        user = b"big" * 20
        big = register(c, user, b"pw", files[:150])
        for k in range(150, 600, 150):
            assert c.req(REGISTER_APPEND, b"%s\npw\n%d\n" % (user, big) + files_payload(
                files[k:k + 150]))[0] == 110
        got, pages = [], 0
        while True:
            t, p = c.req(BROWSE_PEER, b"%d\n%d\n" % (big, len(got)))
            assert t == 106 and len(p) <= 65535
            recs = records(p, 3)
            if not recs:
                break
            # Cut at a record boundary: one more would not have fitted.
            assert len(got) + len(recs) == 600 or len(p) + rec_len(recs) > 65535
            got += recs
            pages += 1
        assert [r[0] for r in got] == names and pages == 3
        # SEARCH_FILE: the same long names, online: fewer than 200 whole
        # records fit in 65535 bytes.
        do_login(c, user, b"pw", big)
        t, p = c.req(SEARCH_FILE, b"long\n")
        hits = records(p, 7)
        assert 150 < len(hits) < 200 and len(p) + rec_len(hits) > 65535
        # Short names: at most 200 records (search_results).
        small = register(c, b"small", b"pw", [(b"cap-%03d.txt" % i, 1, sha(5000 + i), None)
                                              for i in range(250)])
        do_login(c, b"small", b"pw", small)
        assert len(records(c.req(SEARCH_FILE, b"cap\n")[1], 7)) == 200
        c.close()
    finally:
        d.stop()


def test_search_file_score_order(tmp_path):
    d = start(tmp_path, *FAST)
    try:
        c = Conn(d.b2b_addr)
        amy = register(c, b"amy", b"pw", [(b"beer beer.txt", 1, sha(1), None),
                                          (b"Beer Song.mp3", 2, sha(2), None),
                                          (b"aaaaa.bin", 3, sha(3), None)])
        bob = register(c, b"bob", b"pw", [(b"beer beer.txt", 1, sha(1), None),
                                          (b"BEER-beer-beer.ogg", 4, sha(4), None),
                                          (b"song.mp3", 5, sha(5), None),
                                          (b"aa-aa-aa.bin", 6, sha(6), None)])
        off = register(c, b"off", b"pw", [(b"beer beer beer beer.txt", 7, sha(7), None)])
        do_login(c, b"bob", b"pw", bob, b"10.0.0.2", 3002)
        do_login(c, b"amy", b"pw", amy, b"10.0.0.1", 3001)
        assert off > bob > amy

        def order(q):
            return [(h[0], int(h[4])) for h in records(c.req(SEARCH_FILE, q)[1], 7)]
        # score: ogg 3; "Beer Song" 2, "beer beer" 2 (bytewise 'B' < 'b',
        # then user_id); "song.mp3" 1. The offline registration is absent.
        assert order(b"beer song\n") == [
            (b"BEER-beer-beer.ogg", bob), (b"Beer Song.mp3", amy),
            (b"beer beer.txt", amy), (b"beer beer.txt", bob), (b"song.mp3", bob)]
        # A repeated word counts again: ogg 1+3+3, "beer beer" 0+2+2,
        # "Beer Song" 1+1+1, "song.mp3" 1.
        assert order(b"SONG beer BEER\n") == [
            (b"BEER-beer-beer.ogg", bob), (b"beer beer.txt", amy),
            (b"beer beer.txt", bob), (b"Beer Song.mp3", amy), (b"song.mp3", bob)]
        # Non-overlapping occurrences: "aa" is 2 in "aaaaa", 3 in "aa-aa-aa".
        assert order(b"aa\n") == [(b"aa-aa-aa.bin", bob), (b"aaaaa.bin", amy)]
        # The record carries the holder's address and port.
        h = [r for r in records(c.req(SEARCH_FILE, b"song.mp3\n")[1], 7) if r[3] == b"bob"]
        assert h == [[b"song.mp3", b"5", sha(5).encode(), b"bob", b"%d" % bob,
                      b"10.0.0.2", b"3002"]]
        c.close()
    finally:
        d.stop()


# ------------------------------------------------------------ cross-protocol


def test_course_find_sees_beer2beer_files(tmp_path):
    d = start(tmp_path, *FAST)
    try:
        c = Conn(d.b2b_addr)
        a = register(c, b"alice", b"pw", [(b"Annual_Report.pdf", 10, sha(1), md5(1)),
                                          (b"no-md5-report.pdf", 11, sha(2), None)])
        b = register(c, b"six", b"pw", [(b"annual report.pdf", 12, sha(3), md5(1)),
                                        (b"six-report.txt", 13, sha(4), md5(4))])
        do_login(c, b"alice", b"pw", a, b"192.168.1.10", 3000)
        do_login(c, b"six", b"pw", b, b"2001:db8::7", 6000)
        # A course peer publishes the same md5 under another name.
        peer_ip = next_ipv4()
        s = course_login(d, peer_ip, 5000)
        assert d.req(b"ADDF" + s + md5(1).encode() + b"course report.pdf".ljust(100)) == b"AADD001"
        afin = d.req(b"FIND" + s + b"report".ljust(20))
        # Two md5s: md5(1) with three copies (course owner, alice, six)
        # under the course index's name for it, then six's file.
        assert afin[:7] == b"AFIN002", afin[:200]
        assert afin[7:142] == md5(1).encode() + b"course report.pdf".ljust(100) + b"003"
        copies = sorted(afin[142 + 60 * i:202 + 60 * i] for i in range(3))
        assert copies == sorted([ipp2p(peer_ip) + b"05000",
                                 ipp2p("192.168.1.10") + b"03000",
                                 ipp2p(None, "2001:db8::7") + b"06000"])
        rest = afin[322:]
        assert rest == md5(4).encode() + b"six-report.txt".ljust(100) + b"001" + \
            ipp2p(None, "2001:db8::7") + b"06000"
        # Offline beer2beer holders are not offered.
        assert c.req(LOGOUT, b"six\npw\n") == (103, b"LOGOUT_OK")
        afin = d.req(b"FIND" + s + b"six-report".ljust(20))
        assert afin == b"AFIN000"
        # SEARCH_FILE does not list course files (they have no sha1).
        assert [h[0] for h in records(c.req(SEARCH_FILE, b"report\n")[1], 7)] == \
            [b"Annual_Report.pdf", b"no-md5-report.pdf"]
        c.close()
    finally:
        d.stop()


# ------------------------------------------------------------ durability


def test_kill_9_under_load_loses_nothing_acknowledged(tmp_path):
    d = start(tmp_path, *FAST)
    acked = {}          # id -> (user, files)
    appended = {}       # id -> extra files acknowledged
    sent = {}           # id -> extra files sent, maybe not acknowledged
    stop = threading.Event()
    errors = []

    def load(k):
        try:
            c = Conn(d.b2b_addr)
            i = 0
            while not stop.is_set():
                user = b"load%d-%d" % (k, i)
                files = [(b"%s-%d.dat" % (user, j), j, sha(k * 10 ** 6 + i * 10 + j), md5(j))
                         for j in range(3)]
                id_ = register(c, user, b"pw-" + user, files)
                acked[id_] = (user, files)
                extra = [(b"%s-extra.dat" % user, 9, sha(k * 10 ** 6 + i * 10 + 9), None)]
                sent[id_] = extra       # may be committed before the kill
                t, _ = c.req(REGISTER_APPEND, b"%s\npw-%s\n%d\n" % (user, user, id_)
                             + files_payload(extra))
                assert t == 110
                appended[id_] = extra
                do_login(c, user, b"pw-" + user, id_, b"10.0.%d.%d" % (k, i % 250), 3000 + k)
                i += 1
        except (EOFError, OSError):
            pass
        except AssertionError as e:
            errors.append(e)
    threads = [threading.Thread(target=load, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: len(acked) >= 60, 20, "registrations under load")
    d.proc.kill()
    d.proc.wait()
    stop.set()
    for t in threads:
        t.join(10)
    assert not errors, errors
    d.start()
    def b2b_up():
        try:
            socket.create_connection((d.ip, d.b2b_port), 1).close()
            return True
        except OSError:
            return False   # not listening yet (the course port may be first)
    wait_until(b2b_up, 20, "beer2beer listener")
    try:
        c = Conn(d.b2b_addr)
        peers = set()
        off = 0
        while True:
            recs = records(c.req(SHOW_PEERS, b"all\n%d\n" % off)[1], 5)
            if not recs:
                break
            peers.update(int(r[0]) for r in recs)
            off += len(recs)
        assert set(acked) <= peers
        for id_, (user, files) in acked.items():
            # Everything acknowledged is back; an APPEND in flight at the
            # kill may or may not be.
            want = set(f[0] for f in files + appended.get(id_, []))
            maybe = set(f[0] for f in sent.get(id_, []))
            got = set(r[0] for r in records(c.req(BROWSE_PEER, b"%d\n" % id_)[1], 3))
            assert want <= got <= want | maybe, (id_, got, want)
        # The password records came back too: LOGIN verifies.
        for id_, (user, _) in list(acked.items())[:10]:
            do_login(c, user, b"pw-" + user, id_)
        assert register(c, b"after", b"pw") > max(acked)
        c.close()
    finally:
        d.stop()


# ------------------------------------------------------------ bad input


def test_bad_input_and_limits(tmp_path):
    d = start(tmp_path, *FAST, "--b2b-frame-timeout", "1", "--b2b-idle-timeout", "2",
              "--max-b2b-connections", "256")
    try:
        good = Conn(d.b2b_addr, src=next_ipv4())
        register(good, b"good", b"pw", [(b"still here.txt", 1, sha(1), md5(1))])
        # Types 0, 11 and a response code: closed without a reply.
        for t in (0, 11, 101, 65535):
            k = Conn(d.b2b_addr)
            k.send(t, b"x\n")
            assert k.closed_without_reply(), t
            k.close()
        # Truncated frames: a header alone, half a header, half a payload.
        for raw in (b"\x05\x00", struct.pack("<HH", 10, REGISTER),
                    struct.pack("<HH", 10, REGISTER) + b"abc"):
            k = Conn(d.b2b_addr)
            k.s.sendall(raw)
            k.close()
        # A header saying 65535 bytes, 10 bytes of them, then silence:
        # closed after the frame deadline; others are served meanwhile.
        stalled = Conn(d.b2b_addr)
        t0 = time.monotonic()
        stalled.s.sendall(struct.pack("<HH", 65535, REGISTER) + b"0123456789")
        assert good.req(SEARCH_FILE, b"still\n")[0] == 107
        assert stalled.closed_without_reply(10)
        assert 0.8 < time.monotonic() - t0 < 5
        # A frame dribbled byte by byte stays within the deadline it got.
        slow = Conn(d.b2b_addr)
        t0 = time.monotonic()
        payload = frame(SHOW_PEERS, b"all\n")
        try:
            for ch in payload[:-1]:
                slow.s.sendall(bytes([ch]))
                time.sleep(0.2)
        except OSError:
            pass
        assert slow.closed_without_reply(5)
        assert time.monotonic() - t0 < 2
        # An idle connection is closed after the idle timeout.
        idle = Conn(d.b2b_addr)
        t0 = time.monotonic()
        assert idle.closed_without_reply(10)
        assert 1.5 < time.monotonic() - t0 < 6
        good.close()        # idle as long: closed too
        good = Conn(d.b2b_addr, src=next_ipv4())
        # Invalid UTF-8 in a filename: KO bad encoding, connection open.
        assert good.req(REGISTER, b"enc\npw\n\xff\xfe.txt|1|%s\n" % sha(2).encode()) == \
            ko(REGISTER, b"bad encoding")
        assert good.req(REGISTER_APPEND, b"good\npw\n1\nok\xc0\xaf.txt|1|%s\n" % sha(3).encode()) \
            == ko(REGISTER_APPEND, b"bad encoding")
        # 2,000 connections that send nothing, from one address: the rest
        # are refused at once (32 per address); another client is served.
        src = next_ipv4()
        socks = []
        try:
            for _ in range(2000):
                s = socket.socket()
                s.bind((src, 0))
                s.setblocking(False)
                try:
                    s.connect((d.ip, d.b2b_port))
                except BlockingIOError:
                    pass
                socks.append(s)
            time.sleep(0.2)
            t0 = time.monotonic()
            other = Conn(d.b2b_addr, src=next_ipv4())
            assert other.req(SEARCH_FILE, b"still\n")[0] == 107
            assert other.req(REGISTER, b"other\npw\n")[0] == 101
            assert time.monotonic() - t0 < 5
            other.close()
        finally:
            for s in socks:
                s.close()
        assert d.proc.poll() is None
        good.close()
    finally:
        d.stop()


def test_password_hashing_never_blocks_the_loop(tmp_path):
    # 500,000 iterations: about 2.5 times the spec's minimum per hash.
    d = start(tmp_path, "--pbkdf2-iterations", "500000", "--search-rate", "0")
    try:
        conns = [Conn(d.b2b_addr, timeout=60) for _ in range(6)]
        t0 = time.monotonic()
        for i, k in enumerate(conns):
            k.send(REGISTER, b"slow%d\npw\n" % i)
        # While six hashes queue for four slots, queries are answered.
        q = Conn(d.b2b_addr)
        tq = time.monotonic()
        assert q.req(SHOW_PEERS, b"")[0] == 105
        query_s = time.monotonic() - tq
        got = [k.recv() for k in conns]
        hashing_s = time.monotonic() - t0
        assert all(t == 101 for t, _ in got), got
        assert query_s < hashing_s / 2, (query_s, hashing_s)
        q.close()
        for k in conns:
            k.close()
    finally:
        d.stop()
