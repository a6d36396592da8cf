"""The napster overlay over a beer2beer index server (beer2beer.md), client
side. First against a scripted server written from the spec alone: the
frames the node sends are checked byte for byte (REGISTER with md5
annotations, LOGIN with ip and port, KEEP_ALIVE timing, REGISTER_UPDATE
after a restart, REGISTER_APPEND batches, LOGOUT), and the answers it gets
(seven- and six-line SEARCH_FILE records, DOWNLOAD_FILE md5s, a legacy
server that never answers) become what a user sees. Then end to end
against `warren directory` with beer2beer and course-protocol nodes."""

import hashlib
import json
import os
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import WARREN, free_port, make_file, md5_file, next_ipv4, wait_until

REGISTER, LOGIN, KEEP_ALIVE, LOGOUT, SHOW_PEERS, BROWSE_PEER, SEARCH_FILE, \
    DOWNLOAD_FILE, REGISTER_UPDATE, REGISTER_APPEND = range(1, 11)
NEVER_ANSWERED_BY_LEGACY = {KEEP_ALIVE, SHOW_PEERS, BROWSE_PEER, DOWNLOAD_FILE,
                            REGISTER_APPEND}

PASSWORD = "s3cret-Pw0rd"

# beer2beer.md §6: REGISTER of alice / s3cret with hello.txt ("hello world\n").
SPEC_REGISTER = bytes.fromhex(
    "8d000100616c6963650a73336372"
    "65740a68656c6c6f2e7478747c31327c3232"
    "3539363336336233646534306230366639"
    "3831666238356438323331326538633065"
    "643531310a3232353936333633623364"
    "6534306230366639383166623835643832"
    "3331326538633065643531317c366635"
    "3930326163323337303234626464306331"
    "3736636239333036336463340a")
HELLO_SHA1 = "22596363b3de40b06f981fb85d82312e8c0ed511"
HELLO_MD5 = "6f5902ac237024bdd0c176cb93063dc4"


def frame(type_, payload):
    return struct.pack("<HH", len(payload), type_) + payload


def sha1_file(path):
    with open(path, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


class B2BServer:
    """A beer2beer index server scripted from the spec: every frame it
    receives is recorded as (connection number, type, payload, time); the
    handler returns (type, payload) or None. None is what existing servers
    do for requests they do not know (§1): no answer, and nothing more is
    answered on that connection, which stays open."""

    def __init__(self, ip=None, port=0, legacy=False, next_id=42):
        self.ip = ip or next_ipv4()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind((self.ip, port))
        self.srv.listen(64)
        self.srv.settimeout(0.2)
        self.port = self.srv.getsockname()[1]
        self.addr = "%s:%d" % (self.ip, self.port)
        self.legacy = legacy
        self.next_id = next_id
        self.known_ids = set()
        self.frames = []
        self.search = {}     # query -> SEARCH_FILE_OK payload after the name
        self.downloads = {}  # sha1 -> DOWNLOAD_FILE_OK records
        self.override = {}   # type -> function(payload) -> (type, payload) or None
        self.lock = threading.Lock()
        self.conns = []
        self.nconn = 0
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
            self.nconn += 1
            self.conns.append(c)
            threading.Thread(target=self.serve, args=(c, self.nconn), daemon=True).start()

    def _read(self, c, n):
        b = b""
        while len(b) < n:
            x = c.recv(n - len(b))
            if not x:
                return None
            b += x
        return b

    def serve(self, c, num):
        try:
            c.settimeout(60)
            while self.running:
                head = self._read(c, 4)
                if head is None:
                    return
                ln, type_ = struct.unpack("<HH", head)
                payload = self._read(c, ln) if ln else b""
                if payload is None:
                    return
                with self.lock:
                    self.frames.append((num, type_, payload, time.monotonic()))
                reply = self.answer(type_, payload)
                if reply is None:
                    # Dead connection: never another answer (§1).
                    while self.running and c.recv(65536):
                        pass
                    return
                c.sendall(frame(*reply))
        except OSError:
            pass

    def answer(self, type_, payload):
        if type_ in self.override:
            return self.override[type_](payload)
        if self.legacy and type_ in NEVER_ANSWERED_BY_LEGACY:
            return None
        lines = payload.split(b"\n")
        if type_ == REGISTER:
            i = self.next_id
            self.next_id += 1
            self.known_ids.add(i)
            return 101, b"REGISTER_OK\n%d" % i
        if type_ == LOGIN:
            return 102, b"LOGIN_OK"
        if type_ == KEEP_ALIVE:
            return 103, b"KEEP_ALIVE_OK"
        if type_ == LOGOUT:
            return 103, b"LOGOUT_OK"
        if type_ == SEARCH_FILE:
            return 107, b"SEARCH_FILE_OK\n" + self.search.get(lines[0], b"")
        if type_ == DOWNLOAD_FILE:
            return 108, b"DOWNLOAD_FILE_OK\n" + self.downloads.get(lines[0].decode(), b"")
        if type_ == REGISTER_UPDATE:
            if int(lines[2]) not in self.known_ids:
                return None if self.legacy else (209, b"REGISTER_UPDATE_KO\nunknown id")
            return 109, b"REGISTER_UPDATE_OK\n" + lines[2]
        if type_ == REGISTER_APPEND:
            return 110, b"REGISTER_APPEND_OK\n" + lines[2]
        return None

    def of(self, type_):
        with self.lock:
            return [f for f in self.frames if f[1] == type_]

    def payloads(self, type_):
        return [f[2] for f in self.of(type_)]

    def wait(self, type_, n=1, timeout=15):
        return wait_until(lambda: len(self.of(type_)) >= n and self.of(type_),
                          timeout, "%d frames of type %d at %s" % (n, type_, self.addr))

    def close(self):
        self.running = False
        self.srv.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.t.join(5)


def password_file(tmp, pw=PASSWORD, mode=0o600, name="pw"):
    p = os.path.join(str(tmp), name)
    with open(p, "w") as f:
        f.write(pw + "\n")
    os.chmod(p, mode)
    return p


def b2b_node(net, name, server_addr, pwfile, user="alice", start=True,
             keepalive="240", timeout="1", files=()):
    n = net.node(name, start=False)
    for fname, content in files:
        with open(os.path.join(n.share, fname), "wb") as f:
            f.write(content)
    n.args += ["--overlay", "napster", "--directory-b2b", server_addr,
               "--user", user, "--password-file", pwfile,
               "--napster-keepalive-interval", keepalive,
               "--napster-timeout", timeout, "--napster-retry-max", "0.5",
               "--connect-timeout", "1"]
    if start:
        n.start()
    return n


def nstat(node):
    ov = node.status()["overlays"]
    assert ov and ov[0]["name"] == "napster", ov
    return ov[0]


def search(node, term):
    """Hits and the overlay's done error (None when fine)."""
    c = node.ctl()
    try:
        msgs = c.events("search", term=term)
    finally:
        c.close()
    assert msgs[-1]["ok"], msgs[-1]
    legs = msgs[-1]["result"]["overlays"]
    return [m["hit"] for m in msgs if m.get("event") == "hit"], legs[0]["error"]


def no_password_in_log(node):
    assert PASSWORD not in node.read_log()


def file_lines(payload, skip):
    """The file lines and annotations of a file-list payload."""
    return payload.split(b"\n")[skip:-1]


# ---------------------------------------------------------------- scripted


def test_register_login_keepalive_logout_byte_exact(net, tmp_path):
    srv = B2BServer()
    try:
        pw = password_file(tmp_path, "s3cret")
        n = b2b_node(net, "a", srv.addr, pw, keepalive="0.5",
                     files=[("hello.txt", b"hello world\n")])
        srv.wait(LOGIN)
        # REGISTER exactly as §6 shows it: file line, then its annotation.
        reg = srv.of(REGISTER)
        assert len(reg) == 1
        assert frame(REGISTER, reg[0][2]) == SPEC_REGISTER
        # LOGIN with the id, the ip and the port the node serves on.
        login = srv.payloads(LOGIN)[0]
        assert login == b"alice\ns3cret\n42\n%s\n%d\n" % (n.ip.encode(), n.port)
        wait_until(lambda: nstat(n)["state"] == "ready" and nstat(n)["online"], 10, "ready")
        # KEEP_ALIVE every 0.5 s, each on a connection of its own.
        kas = srv.wait(KEEP_ALIVE, 4)
        assert all(f[2] == b"42\n" for f in kas)
        assert len({f[0] for f in kas}) == len(kas)
        gaps = [b[3] - a[3] for a, b in zip(kas, kas[1:])]
        assert all(0.3 < g < 1.5 for g in gaps), gaps
        st = nstat(n)
        assert st["protocol"] == "beer2beer" and st["id"] == 42 and st["user"] == "alice"
        assert st["files"] == 1 and st["legacy"] is False and st["server"] == "warren"
        assert st["counters"]["keepalives"] >= 3
        peers = n.call("peers")["result"]
        assert "beer2beer" in json.dumps(peers)
        # The id is kept for the next start.
        with open(os.path.join(n.data, "napster-b2b.json")) as f:
            assert json.load(f)["id"] == 42
        # LOGOUT on a clean stop.
        assert n.stop() == 0
        assert srv.payloads(LOGOUT) == [b"alice\ns3cret\n42\n"]
        # Every request went on a connection of its own (§1).
        nums = [f[0] for f in srv.frames]
        assert len(nums) == len(set(nums))
        # A restart reuses the id: REGISTER_UPDATE with the list, then LOGIN.
        before = len(srv.frames)
        n.start()
        srv.wait(LOGIN, 2)
        types = [f[1] for f in srv.frames[before:]]
        assert types[:2] == [REGISTER_UPDATE, LOGIN], types
        assert srv.of(REGISTER_UPDATE)[0][2] == (
            b"alice\ns3cret\n42\nhello.txt|12|%s\n%s|%s\n" % (
                HELLO_SHA1.encode(), HELLO_SHA1.encode(), HELLO_MD5.encode()))
        assert len(srv.of(REGISTER)) == 1
        wait_until(lambda: nstat(n)["state"] == "ready", 10, "ready again")
    finally:
        srv.close()


def test_restart_at_a_server_that_forgot_the_id_registers_again(net, tmp_path):
    pw = password_file(tmp_path)
    srv = B2BServer()
    try:
        n = b2b_node(net, "a", srv.addr, pw, files=[("a.bin", b"a" * 1000)])
        wait_until(lambda: nstat(n)["state"] == "ready", 10, "ready")
        assert nstat(n)["id"] == 42
        assert n.stop() == 0
    finally:
        srv.close()
    # A warren server without that id: KO unknown id -> REGISTER.
    ip, port = srv.ip, srv.port
    srv = B2BServer(ip, port, next_id=77)
    try:
        n.start()
        wait_until(lambda: nstat(n)["state"] == "ready" and nstat(n)["id"] == 77, 10, "id 77")
        assert [f[1] for f in srv.frames[:3]] == [REGISTER_UPDATE, REGISTER, LOGIN]
        assert n.stop() == 0
    finally:
        srv.close()
    # An existing server never answers REGISTER_UPDATE of an unknown id:
    # after the deadline, REGISTER.
    srv = B2BServer(ip, port, legacy=True, next_id=90)
    try:
        n.start()
        wait_until(lambda: nstat(n)["state"] == "ready" and nstat(n)["id"] == 90, 15, "id 90")
        assert [f[1] for f in srv.frames[:3]] == [REGISTER_UPDATE, REGISTER, LOGIN]
        no_password_in_log(n)
    finally:
        srv.close()


def test_legacy_server_gets_no_keepalive_and_searches_say_why(net, tmp_path):
    pw = password_file(tmp_path)
    srv = B2BServer(legacy=True)
    other = next_ipv4()
    # Old layout: six lines per record, no peer_port (§4.7).
    srv.search[b"song"] = (
        b"song.mp3\n4000\n%s\nbob\n7\n%s\n" % (b"1" * 40, other.encode()) +
        b"song.mp3\n4000\n%s\ncarol\n8\n%s\n" % (b"1" * 40, next_ipv4().encode()) +
        b"other song.ogg\n5000\n%s\ncarol\n8\n%s\n" % (b"2" * 40, other.encode()))
    try:
        n = b2b_node(net, "a", srv.addr, pw, keepalive="0.5",
                     files=[("x.bin", b"x" * 100)])
        srv.wait(KEEP_ALIVE)
        wait_until(lambda: nstat(n)["legacy"], 10, "marked legacy")
        assert "legacy" in n.read_log()
        st = nstat(n)
        assert st["server"] == "legacy" and st["counters"]["timeouts"] >= 1
        # No more KEEP_ALIVE; a LOGIN each period instead, which it answers.
        logins = len(srv.of(LOGIN))
        time.sleep(2)
        assert len(srv.of(KEEP_ALIVE)) == 1
        assert len(srv.of(LOGIN)) >= logins + 2
        # A search: the six-line records are read (2 files), no
        # DOWNLOAD_FILE is sent, and the user is told why nothing can be
        # fetched.
        hits, err = search(n, "song")
        assert hits == []
        assert "legacy" in err and "2 files" in err, err
        assert srv.of(DOWNLOAD_FILE) == []
        # A new file: no REGISTER_APPEND to a legacy server, the whole list
        # with REGISTER_UPDATE, then LOGIN (it re-created us offline).
        with open(os.path.join(n.share, "y.bin"), "wb") as f:
            f.write(b"y" * 200)
        up = srv.wait(REGISTER_UPDATE)
        assert srv.of(REGISTER_APPEND) == []
        lines = file_lines(up[0][2], 3)
        assert sorted(l.split(b"|")[0] for l in lines if l.count(b"|") == 2) == [b"x.bin", b"y.bin"]
        wait_until(lambda: any(f[1] == LOGIN and f[3] > up[0][3] for f in srv.frames), 10,
                   "LOGIN after REGISTER_UPDATE")
        no_password_in_log(n)
    finally:
        srv.close()


def test_search_download_file_md5s_become_hits(net, tmp_path):
    pw = password_file(tmp_path)
    srv = B2BServer()
    try:
        n = b2b_node(net, "a", srv.addr, pw, files=[("mine.txt", b"mine" * 10)])
        wait_until(lambda: nstat(n)["state"] == "ready", 10, "ready")
        p1, p2, p3 = next_ipv4(), next_ipv4(), next_ipv4()
        sa, sb, sc = "a" * 40, "b" * 40, "c" * 40
        ma, ma2, mb = "1" * 32, "2" * 32, "3" * 32
        mine = sha1_file(os.path.join(n.share, "mine.txt"))

        def rec(name, size, sha, user, uid, ip, port, md5=None):
            r = b"%s\n%d\n%s\n%s\n%d\n%s\n%d\n" % (name, size, sha.encode(), user, uid,
                                                  ip.encode(), port)
            return r if md5 is None else r + md5.encode() + b"\n"
        srv.search[b"report"] = (
            rec(b"report.pdf", 1000, sa, b"bob", 7, p1, 4001) +
            rec(b"Report.pdf", 1000, sa, b"carol", 8, p2, 4002) +
            rec(b"report-b.pdf", 2000, sb, b"dave", 9, p3, 4003) +
            rec(b"report c.pdf", 3000, sc, b"erin", 10, p3, 4003) +
            # ours (user_id 42): never a hit, never followed
            rec(b"report-mine.pdf", 40, mine, b"alice", 42, n.ip, n.port) +
            # offline at an existing server: ip None, dropped (§4.7)
            b"report-x.pdf\n1\n%s\nzed\n11\nNone\n3000\n" % (b"d" * 40))
        srv.downloads[sa] = (rec(b"report.pdf", 1000, sa, b"bob", 7, p1, 4001, ma) +
                             rec(b"Report.pdf", 1000, sa, b"carol", 8, p2, 4002, ma2))
        srv.downloads[sb] = rec(b"report-b.pdf", 2000, sb, b"dave", 9, p3, 4003, mb)
        srv.downloads[sc] = rec(b"report c.pdf", 3000, sc, b"erin", 10, p3, 4003, "")
        hits, err = search(n, "report")
        assert err is None
        got = sorted((h["md5"], h["name"], h["size"], h["source"]["label"]) for h in hits)
        assert got == sorted([(ma, "report.pdf", 1000, "%s:4001" % p1),
                              (ma2, "Report.pdf", 1000, "%s:4002" % p2),
                              (mb, "report-b.pdf", 2000, "%s:4003" % p3)])
        assert all(h["overlay"] == "napster" for h in hits)
        # One DOWNLOAD_FILE per distinct sha1 found, ours excluded.
        assert sorted(srv.payloads(DOWNLOAD_FILE)) == sorted(
            [s.encode() + b"\n" for s in (sa, sb, sc)])
        assert srv.payloads(SEARCH_FILE) == [b"report\n"]
        # Only holders without an md5: nothing fetchable, and it says so.
        srv.search[b"nomd5"] = rec(b"nomd5.bin", 5, sc, b"erin", 10, p3, 4003)
        hits, err = search(n, "nomd5")
        assert hits == [] and "no md5" in err, err
        # A KO from the server is shown.
        srv.override[SEARCH_FILE] = lambda p: (207, b"SEARCH_FILE_KO\ntoo many words")
        hits, err = search(n, "x")
        assert hits == [] and "too many words" in err, err
        # Too many words never leave the node.
        c = n.ctl()
        try:
            r = c.call("search", term=" ".join(["w"] * 33))
        finally:
            c.close()
        assert not r["ok"] and "words" in json.dumps(r), r
    finally:
        srv.close()


def test_library_changes_are_batched_appends_and_updates(net, tmp_path):
    pw = password_file(tmp_path)
    srv = B2BServer()
    try:
        n = b2b_node(net, "a", srv.addr, pw, files=[("first.bin", b"1" * 100)])
        wait_until(lambda: nstat(n)["state"] == "ready" and nstat(n)["files"] == 1, 10, "ready")
        logins = len(srv.of(LOGIN))
        md5s = {}
        for i in range(3):
            md5s["new-%d.bin" % i] = make_file(os.path.join(n.share, "new-%d.bin" % i), 5000 + i, seed=i)
        ap = srv.wait(REGISTER_APPEND)
        wait_until(lambda: nstat(n)["files"] == 4, 10, "4 files")
        # One request for the burst: three file lines, each with its
        # annotation on the next line.
        assert len(srv.of(REGISTER_APPEND)) == 1
        lines = file_lines(ap[0][2], 3)
        assert ap[0][2].startswith(b"alice\n%s\n42\n" % PASSWORD.encode())
        assert len(lines) == 6
        for fl, an in zip(lines[0::2], lines[1::2]):
            name, size, sha = fl.decode().split("|")
            p = os.path.join(n.share, name)
            assert int(size) == os.path.getsize(p) and sha == sha1_file(p)
            assert an.decode() == "%s|%s" % (sha, md5s[name])
        # The server answered REGISTER_APPEND: it is a warren server, so
        # no LOGIN follows.
        assert nstat(n)["server"] == "warren"
        # A removal: REGISTER_UPDATE with the whole list, no LOGIN after
        # it at a server known to be warren.
        os.unlink(os.path.join(n.share, "new-1.bin"))
        up = srv.wait(REGISTER_UPDATE)
        names = sorted(l.split(b"|")[0] for l in file_lines(up[0][2], 3) if l.count(b"|") == 2)
        assert names == [b"first.bin", b"new-0.bin", b"new-2.bin"]
        wait_until(lambda: nstat(n)["files"] == 3, 10, "3 files")
        time.sleep(0.5)
        assert len(srv.of(LOGIN)) == logins
    finally:
        srv.close()


@pytest.mark.parametrize("legacy", [False, True], ids=["warren", "legacy"])
def test_long_list_is_split_into_register_and_appends(net, tmp_path, legacy):
    pw = password_file(tmp_path)
    srv = B2BServer(legacy=legacy)
    try:
        n = net.node("a", start=False)
        names = []
        for i in range(450):
            name = "%04d-" % i + "long-name-" * 20 + ".bin"
            names.append(name)
            with open(os.path.join(n.share, name), "wb") as f:
                f.write(b"%d" % i)
        n.args += ["--overlay", "napster", "--directory-b2b", srv.addr, "--user", "alice",
                   "--password-file", pw, "--napster-timeout", "1"]
        n.start()
        if legacy:
            # The first REGISTER_APPEND goes unanswered: the server is
            # legacy, the first frame's files stay, the user is warned,
            # and the node logs in all the same.
            wait_until(lambda: nstat(n)["legacy"] and nstat(n)["online"], 20, "legacy, online")
            assert "were not indexed" in n.read_log()
        else:
            wait_until(lambda: nstat(n)["state"] == "ready" and nstat(n)["files"] == 450, 20,
                       "450 files")
        frames = [f for f in srv.frames if f[1] in (REGISTER, REGISTER_APPEND)]
        assert [f[1] for f in frames][0] == REGISTER
        assert len(frames) == 2 if legacy else len(frames) >= 3
        assert all(f[1] == REGISTER_APPEND for f in frames[1:])
        if legacy:
            first = file_lines(frames[0][2], 2)
            assert 0 < len(first) // 2 < 450 and nstat(n)["files"] == len(first) // 2
            return
        got = []
        for f in frames:
            assert len(f[2]) <= 65535
            lines = file_lines(f[2], 2 if f[1] == REGISTER else 3)
            # Every file line is followed by its annotation, in the same frame.
            assert len(lines) % 2 == 0
            for fl, an in zip(lines[0::2], lines[1::2]):
                assert fl.count(b"|") == 2 and an.count(b"|") == 1
                assert fl.split(b"|")[2] == an.split(b"|")[0]
                got.append(fl.split(b"|")[0].decode())
        assert sorted(got) == sorted(names)
        assert srv.of(LOGIN)[0][3] > frames[-1][3]
    finally:
        srv.close()


def test_keepalive_refused_means_login_again(net, tmp_path):
    pw = password_file(tmp_path)
    srv = B2BServer()
    srv.override[KEEP_ALIVE] = lambda p: (203, b"KEEP_ALIVE_KO\nnot logged in")
    try:
        n = b2b_node(net, "a", srv.addr, pw, keepalive="0.5")
        srv.wait(KEEP_ALIVE)
        srv.wait(LOGIN, 2)
        assert nstat(n)["legacy"] is False
    finally:
        srv.close()


def test_server_down_and_back(net, tmp_path):
    pw = password_file(tmp_path)
    srv = B2BServer()
    try:
        n = b2b_node(net, "a", srv.addr, pw, keepalive="0.3")
        srv.wait(KEEP_ALIVE)
    finally:
        srv.close()
    # Unreachable: no longer online, and status says why.
    wait_until(lambda: not nstat(n)["online"] and nstat(n)["state"] == "waiting"
               and "LOGIN" in nstat(n)["error"], 10, "offline")
    assert nstat(n)["legacy"] is False
    srv = B2BServer(srv.ip, srv.port)
    try:
        srv.wait(LOGIN)
        wait_until(lambda: nstat(n)["online"] and nstat(n)["error"] == "", 10, "back online")
        srv.wait(KEEP_ALIVE)
    finally:
        srv.close()


def test_wrong_password_and_bad_configurations(net, tmp_path):
    srv = B2BServer()
    srv.override[REGISTER] = lambda p: (201, b"REGISTER_KO\nuser name taken")
    try:
        n = b2b_node(net, "a", srv.addr, password_file(tmp_path))
        wait_until(lambda: "user name taken" in nstat(n)["error"], 10, "error in status")
        assert nstat(n)["state"] == "waiting" and not nstat(n)["online"]
        # It keeps trying, with backoff.
        srv.wait(REGISTER, 2)
        no_password_in_log(n)
    finally:
        srv.close()

    def refused(*args):
        data = os.path.join(str(tmp_path), "bad-data")
        ip = next_ipv4()
        p = subprocess.run(
            [WARREN, "node", "--listen", "%s:%d" % (ip, free_port(ip)),
             "--share", str(tmp_path), "--data-dir", data,
             "--socket", os.path.join(data, "s.sock"), "--overlay", "napster"] + list(args),
            capture_output=True, text=True, timeout=30)
        assert p.returncode != 0
        return p.stdout + p.stderr
    # A password file others can read.
    out = refused("--directory-b2b", "127.0.0.1:1", "--user", "alice", "--password-file",
                  password_file(tmp_path, mode=0o644, name="open-pw"))
    assert "chmod 600" in out and PASSWORD not in out, out
    # Both backends at once.
    out = refused("--directory-b2b", "127.0.0.1:1", "--directory", "127.0.0.1:2",
                  "--user", "alice", "--password-file", password_file(tmp_path, name="pw2"))
    assert "--directory-b2b" in out and "only one" in out, out
    # No user.
    out = refused("--directory-b2b", "127.0.0.1:1")
    assert "--user" in out, out
    out = refused("--directory-b2b", "127.0.0.1:1", "--user", "has space",
                  "--password-file", password_file(tmp_path, name="pw3"))
    assert "user" in out, out


# -------------------------------------------------------------- end to end


def directory_has_b2b():
    p = subprocess.run([WARREN, "help", "directory"], capture_output=True, text=True)
    return "b2b_listen" in p.stdout + p.stderr


needs_b2b_directory = pytest.mark.skipif(
    not directory_has_b2b(),
    reason="`warren directory` has no beer2beer listener (no b2b_listen in "
           "`warren help directory`)")


def b2b_directory(tmp_path):
    from test_directory import Directory
    # Fewer PBKDF2 iterations: every LOGIN, KEEP_ALIVE-free request with a
    # password costs one hash, and ASan builds are slow.
    return Directory(str(tmp_path), "--pbkdf2-iterations", "1000", "--search-rate", "0",
                     "--probe-interval", "3600").start()


def labels(hits):
    return sorted((h["md5"], h["source"]["label"]) for h in hits)


@needs_b2b_directory
def test_end_to_end_with_warren_directory(net, tmp_path):
    d = b2b_directory(tmp_path)
    try:
        a = b2b_node(net, "a", d.b2b_addr, password_file(tmp_path, "alice-pw", name="pa"),
                     user="alice", keepalive="0.5", timeout="10")
        b = b2b_node(net, "b", d.b2b_addr, password_file(tmp_path, "bob-pw", name="pb"),
                     user="bob", keepalive="0.5", timeout="10")
        md5a = make_file(os.path.join(a.share, "alpha-report.pdf"), 300000, seed=1)
        md5b = make_file(os.path.join(b.share, "beta-report.pdf"), 200000, seed=2)
        for n in (a, b):
            wait_until(lambda: nstat(n)["files"] == 1 and nstat(n)["online"], 20, "published")
        # The additions went as REGISTER_APPEND, which a warren server
        # answers; KEEP_ALIVE from the node's own address is accepted.
        wait_until(lambda: nstat(a)["counters"]["keepalives"] >= 2, 10, "keep-alives")
        assert nstat(a)["server"] == "warren" and nstat(a)["counters"]["appends"] == 1
        # Each finds the other's file with the address and port its LOGIN
        # gave, the size, and the md5 DOWNLOAD_FILE gave.
        hits, err = search(a, "report")
        assert err is None and labels(hits) == [(md5b, b.addr)]
        assert hits[0]["name"] == "beta-report.pdf" and hits[0]["size"] == 200000
        hits, err = search(b, "REPORT")
        assert err is None and labels(hits) == [(md5a, a.addr)]
        # a downloads b's file (course transfer, MD5 checked) and becomes a
        # second source: it lands in the share and goes out as an append.
        a.cli("get", md5b, check=0)
        assert md5_file(os.path.join(a.share, "beta-report.pdf")) == md5b
        wait_until(lambda: nstat(a)["files"] == 2, 20, "the download published")
        c = b2b_node(net, "c", d.b2b_addr, password_file(tmp_path, "carol-pw", name="pc"),
                     user="carol", timeout="10")
        wait_until(lambda: nstat(c)["online"], 20, "c online")
        wait_until(lambda: labels(search(c, "beta")[0]) ==
                   sorted([(md5b, a.addr), (md5b, b.addr)]), 20, "a as a second source")
        assert labels(search(c, "alpha")[0]) == [(md5a, a.addr)]
        c.cli("get", md5a, check=0)
        assert md5_file(os.path.join(c.share, "alpha-report.pdf")) == md5a
        # A restart keeps the id: REGISTER_UPDATE, no new registration.
        ida = nstat(a)["id"]
        assert a.stop() == 0
        # LOGOUT: a is offline, so its files are not found any more.
        wait_until(lambda: labels(search(c, "alpha")[0]) == [], 10, "a logged out")
        a.start()
        wait_until(lambda: nstat(a)["online"] and nstat(a)["id"] == ida, 20, "a back")
        assert nstat(a)["counters"]["registers"] == 0 and nstat(a)["counters"]["updates"] == 1
        wait_until(lambda: labels(search(c, "alpha")[0]) == [(md5a, a.addr)], 10, "a found again")
        # The wrong password for a taken name: a clear error in status.
        e = b2b_node(net, "e", d.b2b_addr, password_file(tmp_path, "not-alice", name="pe"),
                     user="alice", timeout="10")
        wait_until(lambda: "user name taken" in nstat(e)["error"], 20, "wrong password")
        assert not nstat(e)["online"] and nstat(e)["id"] is None
        for n in (a, b, c, e):
            assert "alice-pw" not in n.read_log() and "not-alice" not in n.read_log()
    finally:
        d.stop()


@needs_b2b_directory
def test_course_node_finds_and_fetches_beer2beer_files(net, tmp_path):
    from test_napster import napster_node
    d = b2b_directory(tmp_path)
    try:
        a = b2b_node(net, "a", d.b2b_addr, password_file(tmp_path, "alice-pw", name="pa"),
                     user="alice", timeout="10")
        c = napster_node(net, "c", d)
        md5a = make_file(os.path.join(a.share, "alpha-report.pdf"), 300000, seed=1)
        md5c = make_file(os.path.join(c.share, "gamma-report.pdf"), 100000, seed=3)
        wait_until(lambda: nstat(a)["files"] == 1 and nstat(c)["files"] == 1, 20, "published")
        # beer2beer records need a sha1, which course-protocol files do not
        # have: a beer2beer node sees only beer2beer files.
        hits, err = search(a, "report")
        assert md5c not in [h["md5"] for h in hits]
        # The course node finds the beer2beer node's file with its address
        # and port, and fetches it with the course transfer.
        wait_until(lambda: labels(node_hits(c, "report")) == [(md5a, a.addr)], 10,
                   "course FIND sees beer2beer files")
        c.cli("get", md5a, check=0)
        assert md5_file(os.path.join(c.share, "alpha-report.pdf")) == md5a
    finally:
        d.stop()


def node_hits(node, term):
    c = node.ctl()
    try:
        msgs = c.events("search", term=term)
    finally:
        c.close()
    return [m["hit"] for m in msgs if m.get("event") == "hit"]
