"""The Kazaa overlay (course.md §3 and §7) on loopback: real supernodes and
peers, each on its own 127.x address, and scripted peers and supernodes
written from the spec alone that check every exchange byte for byte."""

import os
import secrets
import socket
import threading
import time

from conftest import (Collector, ipp2p, make_file, md5_file, next_ipv4, oneshot,
                      request, split_addr, wait_until)

FAST = ("--kazaa-supe-window", "0.5", "--kazaa-check-interval", "0.5",
        "--kazaa-find-window", "1", "--connect-timeout", "1")


def kstat(node):
    ov = node.status()["overlays"]
    assert ov and ov[0]["name"] == "kazaa", ov
    return ov[0]


def supernode(net, name, friends=(), *extra, start=True):
    n = net.node(name, start=False)
    n.args += ["--overlay", "kazaa", "--kazaa-role", "supernode"] + list(FAST) + list(extra)
    for f in friends:
        n.args += ["--kazaa-friend", f]
    if start:
        n.start()
    return n


def peer(net, name, known, *extra):
    n = net.node(name, start=False)
    n.args += ["--overlay", "kazaa"] + list(FAST) + list(extra)
    for k in known:
        n.args += ["--kazaa-known", k]
    n.start()
    return n


def joined(node, sn=None):
    st = kstat(node)
    return st["state"] == "joined" and (sn is None or st["supernode"] == sn.addr)


def search(node, term, **kw):
    c = node.ctl()
    try:
        msgs = c.events("search", term=term, **kw)
    finally:
        c.close()
    final = msgs[-1]
    assert final["ok"], final
    return [m["hit"] for m in msgs if m.get("event") == "hit"]


def three_by_four(net):
    """3 supernodes, friends of each other, with 4 peers each."""
    sns = [supernode(net, "s%d" % i, start=False) for i in range(3)]
    for i, s in enumerate(sns):
        for j, t in enumerate(sns):
            if i != j:
                s.args += ["--kazaa-friend", t.addr]
    for s in sns:
        s.start()
    peers = []
    for i, s in enumerate(sns):
        for j in range(4):
            peers.append(peer(net, "p%d%d" % (i, j), [s.addr]))
    for idx, p in enumerate(peers):
        wait_until(lambda: joined(p, sns[idx // 4]), 20, "peer %s joined" % p.addr)
    return sns, peers


def test_three_supernodes_every_copy_found_multi_source_download(net):
    sns, peers = three_by_four(net)
    # The same file on a peer of s1 and a peer of s2; another file on s0.
    big = os.path.join(peers[4].share, "Holiday_Video.mp4")
    md5 = make_file(big, 4 << 20, seed=21)
    with open(big, "rb") as f, open(os.path.join(peers[9].share, "holiday_video.mp4"), "wb") as g:
        g.write(f.read())
    make_file(os.path.join(peers[1].share, "notes.txt"), 1000, seed=22)
    wait_until(lambda: kstat(sns[1])["index"]["files"] == 1 and
               kstat(sns[2])["index"]["files"] == 1, 20, "ADFF at s1 and s2")

    hits = search(peers[0], "VIDEO")
    assert {h["md5"] for h in hits} == {md5}
    assert sorted(h["source"]["label"] for h in hits) == sorted([peers[4].addr, peers[9].addr])
    # One peer of s0 downloads from both copies at once.
    peers[0].cli("get", md5, check=0)
    # Named as one of the holders names it.
    got = [f for f in os.listdir(peers[0].share) if f.lower() == "holiday_video.mp4"]
    assert len(got) == 1 and md5_file(os.path.join(peers[0].share, got[0])) == md5
    d = peers[0].call("downloads")["result"]["downloads"][0]
    used = [s for s in d["source_list"] if s["good_parts"] > 0]
    assert len(used) == 2, d["source_list"]

    # A supernode searches too: its own children's files and its friends'.
    hits = search(sns[2], "notes")
    assert [h["source"]["label"] for h in hits] == [peers[1].addr]


def test_supernode_killed_peers_rehome_and_files_come_back(net):
    sns, peers = three_by_four(net)
    md5 = make_file(os.path.join(peers[5].share, "survivor.bin"), 20000, seed=5)
    wait_until(lambda: kstat(sns[1])["index"]["files"] == 1, 20, "ADFF at s1")
    assert [h["md5"] for h in search(peers[0], "survivor")] == [md5]
    t0 = time.monotonic()
    sns[1].kill()
    orphans = peers[4:8]
    wait_until(lambda: all(kstat(p)["state"] == "joined" and
                           kstat(p)["supernode"] in (sns[0].addr, sns[2].addr)
                           for p in orphans), 30, "the peers of s1 to re-home")
    wait_until(lambda: [h["md5"] for h in search(peers[0], "survivor")] == [md5], 30,
               "the file found again")
    assert time.monotonic() - t0 < 30
    assert sum(kstat(p)["counters"]["rejoins"] for p in orphans) == 4


def test_auto_role_elects_one_supernode(net):
    nodes = [net.node("a%d" % i, start=False) for i in range(4)]
    for n in nodes:
        n.args += ["--overlay", "kazaa", "--kazaa-role", "auto",
                   "--kazaa-promote-after", "2", "--kazaa-friends-interval", "0.5"] + list(FAST)
        for m in nodes:
            if m is not n:
                n.args += ["--kazaa-known", m.addr]
    for n in nodes:
        n.start()

    def elected():
        st = [kstat(n) for n in nodes]
        sn = [n for n, s in zip(nodes, st) if s["role"] == "supernode"]
        if len(sn) != 1:
            return None
        others = [s for s in st if s["role"] == "peer"]
        if all(s["state"] == "joined" and s["supernode"] == sn[0].addr for s in others):
            return sn[0]
        return None
    sn = wait_until(elected, 30, "one supernode, every other node joined to it")
    assert kstat(sn)["index"]["children"] == 3


# ---------------------------------------------------------------------------
# A scripted peer drives a warren supernode (course.md §7.1, §10.3)


def pktid():
    return secrets.token_hex(8).upper().encode()


def test_scripted_peer_drives_supernode_byte_exact(net):
    sn = supernode(net, "s")
    s_ip, s_port = split_addr(sn.addr)
    s_id = ipp2p(s_ip) + b"%05d" % s_port
    own_md5 = make_file(os.path.join(sn.share, "Holiday_Video_own.mp4"), 3000, seed=1)
    wait_until(lambda: sn.status()["library"]["files"] == 1, 20, "library")
    me_ip = next_ipv4()
    me = Collector(me_ip)
    try:
        me_id = ipp2p(me_ip) + b"%05d" % me.port
        # SUPE -> ASUP on a new connection, own IPP2P and main port.
        pid = pktid()
        oneshot(sn.addr, b"SUPE" + pid + me_id + b"04", src_ip=me_ip)
        assert me.wait(lambda m: m[4:20] == pid) == [b"ASUP" + pid + s_id]
        # LOGI -> ALGI SessionID; again -> the same SessionID.
        algi = request(sn.addr, b"LOGI" + me_id, src_ip=me_ip)
        assert len(algi) == 20 and algi[:4] == b"ALGI" and algi[4:] != b"0" * 16
        assert request(sn.addr, b"LOGI" + me_id, src_ip=me_ip) == algi
        sid = algi[4:]
        hol = b"e2c78d5e95c4fc1ec8841be424e905d6"
        rep = b"0f53217fc7c8e7f89e8a8558e64a7083"
        oneshot(sn.addr, b"ADFF" + sid + hol + b"Holiday_Video.mp4".ljust(100))
        oneshot(sn.addr, b"ADFF" + sid + rep + b"Annual_Report.pdf".ljust(100))
        wait_until(lambda: kstat(sn)["index"]["files"] == 2, 10, "two ADFF")
        # FIND -> AFIN: its own file and ours, sorted by name, then close.
        afin = request(sn.addr, b"FIND" + sid + b"video".ljust(20), timeout=10)
        own = own_md5.encode() + b"Holiday_Video_own.mp4".ljust(100) + b"001" + s_id
        mine = hol + b"Holiday_Video.mp4".ljust(100) + b"001" + me_id
        assert afin == b"AFIN002" + mine + own
        assert len(afin) == 7 + 2 * (135 + 60)
        # DEFF removes exactly that file; the other stays.
        oneshot(sn.addr, b"DEFF" + sid + hol)
        wait_until(lambda: kstat(sn)["index"]["files"] == 1, 10, "DEFF")
        assert request(sn.addr, b"FIND" + sid + b"video".ljust(20)) == b"AFIN001" + own
        # LOGO -> ALGO with #delete = files it still had (1); then dead.
        assert request(sn.addr, b"LOGO" + sid) == b"ALGO001"
        assert request(sn.addr, b"LOGO" + sid) == b"Unauthorized: unknown SessionID."
        assert request(sn.addr, b"FIND" + sid + b"video".ljust(20)) == \
            b"Unauthorized: unknown SessionID."
        assert kstat(sn)["index"]["files"] == 0
    finally:
        me.close()


def test_friend_quer_gets_one_aque_per_owner_and_is_forwarded(net):
    f_ip = next_ipv4()
    friend = Collector(f_ip)
    sn = supernode(net, "s", [friend.addr])
    try:
        s_ip, s_port = split_addr(sn.addr)
        # Two scripted children with the same file.
        kids = []
        for _ in range(2):
            ip = next_ipv4()
            kid_id = ipp2p(ip) + b"%05d" % 6000
            sid = request(sn.addr, b"LOGI" + kid_id, src_ip=ip)[4:]
            oneshot(sn.addr, b"ADFF" + sid + b"e2c78d5e95c4fc1ec8841be424e905d6" +
                    b"Holiday_Video.mp4".ljust(100))
            kids.append(kid_id)
        wait_until(lambda: kstat(sn)["index"]["links"] == 2, 10, "ADFF")
        # A friend's QUER (from its own address) -> AQUE per owner, to the
        # originator; forwarded to other friends only (none here).
        o_ip = next_ipv4()
        origin = Collector(o_ip)
        try:
            pid = pktid()
            q = b"QUER" + pid + ipp2p(o_ip) + b"%05d" % origin.port + b"05" + b"video".ljust(20)
            oneshot(sn.addr, q, src_ip=f_ip)
            got = origin.wait(lambda m: m[4:20] == pid, n=2)
            want = {b"AQUE" + pid + k + b"e2c78d5e95c4fc1ec8841be424e905d6" +
                    b"Holiday_Video.mp4".ljust(100) for k in kids}
            assert set(got) == want
            c = kstat(sn)["counters"]
            assert c["forwarded"] == 0  # the friend delivered it
            # The same Pktid again: dropped (warren keeps a QUER cache).
            oneshot(sn.addr, q, src_ip=f_ip)
            wait_until(lambda: kstat(sn)["counters"]["dup_dropped"] == c["dup_dropped"] + 1, 10)
            # From another address: forwarded to the friend, TTL 04.
            pid = pktid()
            q = b"QUER" + pid + ipp2p(o_ip) + b"%05d" % origin.port + b"05" + b"video".ljust(20)
            oneshot(sn.addr, q, src_ip=o_ip)
            assert friend.wait(lambda m: m[:4] == b"QUER" and m[4:20] == pid) == \
                [q[:80] + b"04" + q[82:]]
        finally:
            origin.close()
    finally:
        friend.close()


# ---------------------------------------------------------------------------
# A scripted supernode drives a warren peer


class ScriptedSupernode:
    """Answers SUPE with ASUP, LOGI with ALGI, FIND with a scripted AFIN
    (never closing, like existing supernodes), LOGO with ALGO; records
    every message."""

    def __init__(self, ip, afin=b"AFIN000", algi=b"ALGI7C1E0A93D2F4B658"):
        fam = socket.AF_INET
        self.ip = ip
        self.srv = socket.socket(fam, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind((ip, 0))
        self.srv.listen(64)
        self.srv.settimeout(0.2)
        self.port = self.srv.getsockname()[1]
        self.addr = "%s:%d" % (ip, self.port)
        self.id = ipp2p(ip) + b"%05d" % self.port
        self.afin = afin
        self.algi = algi
        self.msgs = []
        self.held = []
        self.running = True
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def read(self, c, n):
        b = b""
        while len(b) < n:
            x = c.recv(n - len(b))
            if not x:
                break
            b += x
        return b

    def run(self):
        lens = {b"SUPE": 82, b"LOGI": 64, b"ADFF": 152, b"DEFF": 52, b"LOGO": 20, b"FIND": 40}
        while self.running:
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                c.settimeout(5)
                kind = self.read(c, 4)
                m = kind + self.read(c, lens.get(kind, 0) - 4)
                self.msgs.append(m)
                if kind == b"SUPE":
                    c.close()
                    origin = m[20:75]
                    v4 = ".".join(str(int(o)) for o in origin[:15].split(b"."))
                    oneshot("%s:%d" % (v4, int(m[75:80])), b"ASUP" + m[4:20] + self.id)
                    continue
                if kind == b"LOGI":
                    c.sendall(self.algi)
                elif kind == b"FIND":
                    c.sendall(self.afin)
                    self.held.append(c)  # never closed, like existing ones
                    continue
                elif kind == b"LOGO":
                    c.sendall(b"ALGO001")
            except OSError:
                pass
            c.close()

    def kinds(self, kind):
        return [m for m in self.msgs if m[:4] == kind]

    def close(self):
        self.running = False
        self.srv.close()
        for c in self.held:
            c.close()
        self.t.join(5)


def test_scripted_supernode_drives_warren_peer(net):
    p2 = ipp2p("10.0.0.2", "2001:db8::2") + b"06000"
    hol = b"e2c78d5e95c4fc1ec8841be424e905d6"
    afin = (b"AFIN001" + hol + b"holiday_video.mp4".ljust(100) + b"002" + p2 +
            ipp2p("172.16.1.2", "fc00::1:2") + b"3000 ")  # §12.7: port padded
    s = ScriptedSupernode(next_ipv4(), afin=afin)
    try:
        p = net.node("p", start=False)
        md5 = make_file(os.path.join(p.share, "Annual_Report.pdf"), 10000, seed=3)
        p.args += ["--overlay", "kazaa", "--kazaa-known", s.addr] + list(FAST)
        p.start()
        wait_until(lambda: joined(p), 20, "peer joined the scripted supernode")
        ip, port = split_addr(p.addr)
        me = ipp2p(ip) + b"%05d" % port
        supe = s.kinds(b"SUPE")[0]
        assert len(supe) == 82 and supe[20:80] == me and supe[80:82] == b"04"
        assert s.kinds(b"LOGI") == [b"LOGI" + me]
        wait_until(lambda: s.kinds(b"ADFF"), 10, "ADFF")
        assert s.kinds(b"ADFF") == [b"ADFF7C1E0A93D2F4B658" + md5.encode() +
                                    b"Annual_Report.pdf".ljust(100)]
        # FIND: AFIN parsed by its counts, without waiting for EOF.
        t0 = time.monotonic()
        hits = search(p, "video")
        assert time.monotonic() - t0 < 10
        assert s.kinds(b"FIND") == [b"FIND7C1E0A93D2F4B658" + b"video".ljust(20)]
        assert sorted(h["source"]["label"] for h in hits) == ["10.0.0.2:6000", "172.16.1.2:3000"]
        assert all(h["md5"] == hol.decode() and h["name"] == "holiday_video.mp4" for h in hits)
        # LOGO on a clean stop.
        assert p.stop() == 0
        assert s.kinds(b"LOGO") == [b"LOGO7C1E0A93D2F4B658"]
    finally:
        s.close()


# ---------------------------------------------------------------------------
# Bad input


def test_supernode_bad_input(net):
    sn = supernode(net, "s", (), "--kazaa-max-children", "50")
    ip = next_ipv4()
    me = ipp2p(ip)
    try:
        # Unknown session: ADFF/DEFF ignored, FIND/LOGO refused.
        oneshot(sn.addr, b"ADFF" + b"X" * 16 + b"e2c78d5e95c4fc1ec8841be424e905d6" +
                b"x".ljust(100))
        oneshot(sn.addr, b"DEFF" + b"X" * 16 + b"e2c78d5e95c4fc1ec8841be424e905d6")
        assert request(sn.addr, b"FIND" + b"X" * 16 + b"x".ljust(20)) == \
            b"Unauthorized: unknown SessionID."
        sid = request(sn.addr, b"LOGI" + me + b"06000", src_ip=ip)[4:]
        # ADFF with a bad md5 or an empty name: nothing stored.
        oneshot(sn.addr, b"ADFF" + sid + b"z" * 32 + b"x".ljust(100))
        oneshot(sn.addr, b"ADFF" + sid + b"e2c78d5e95c4fc1ec8841be424e905d6" + b" " * 100)
        wait_until(lambda: sn.status()["requests"]["malformed"] >= 2, 10, "refused")
        assert kstat(sn)["index"]["files"] == 0
        # A LOGI one byte too long: the refused-login reply (§11).
        assert request(sn.addr, b"LOGI" + me + b"060000") == b"ALGI" + b"0" * 16
        # 1000 LOGI from one address: one session per port, the table
        # is bounded, the rest refused with zeros.
        ids = set()
        refused = 0
        for port in range(1, 1001):
            r = request(sn.addr, b"LOGI" + me + b"%05d" % port, src_ip=ip)
            if r == b"ALGI" + b"0" * 16:
                refused += 1
            else:
                ids.add(r)
        assert kstat(sn)["index"]["children"] == 50
        assert len(ids) == 49 and refused == 951  # + the session above
        assert sn.proc.poll() is None
    finally:
        pass


def test_peer_survives_lying_afin(net):
    hol = b"e2c78d5e95c4fc1ec8841be424e905d6"
    p2 = ipp2p("10.0.0.2") + b"06000"
    # Says 5 md5s; sends one good entry, then garbage, then closes.
    afin = b"AFIN005" + hol + b"a.mp4".ljust(100) + b"001" + p2 + b"zz" * 40
    s = ScriptedSupernode(next_ipv4(), afin=afin)
    try:
        p = net.node("p", start=False)
        p.args += ["--overlay", "kazaa", "--kazaa-known", s.addr] + list(FAST)
        p.start()
        wait_until(lambda: joined(p), 20, "joined")
        c = p.ctl()
        msgs = c.events("search", term="mp4")
        c.close()
        hits = [m["hit"] for m in msgs if m.get("event") == "hit"]
        assert [h["source"]["label"] for h in hits] == ["10.0.0.2:6000"]
        assert p.proc.poll() is None
    finally:
        s.close()


def test_library_changes_follow_and_dead_children_are_dropped(net):
    sn = supernode(net, "s", (), "--kazaa-probe-interval", "0.5",
                   "--kazaa-probe-fails", "2")
    p = peer(net, "p", [sn.addr])
    q = peer(net, "q", [sn.addr])
    wait_until(lambda: joined(p, sn) and joined(q, sn), 20, "joined")
    # A file added to the shared folder is published (ADFF), a file
    # removed is withdrawn (DEFF).
    md5 = make_file(os.path.join(p.share, "late_arrival.txt"), 4000, seed=8)
    wait_until(lambda: [h["md5"] for h in search(q, "late")] == [md5], 20, "ADFF")
    os.unlink(os.path.join(p.share, "late_arrival.txt"))
    wait_until(lambda: kstat(sn)["index"]["files"] == 0, 20, "DEFF")
    assert search(q, "late") == []
    # A peer that dies without LOGO is probed and dropped with its files.
    make_file(os.path.join(q.share, "orphan.bin"), 3000, seed=9)
    wait_until(lambda: kstat(sn)["index"]["files"] == 1, 20, "ADFF of q")
    q.kill()
    wait_until(lambda: kstat(sn)["index"]["children"] == 1 and
               kstat(sn)["index"]["files"] == 0, 20, "the dead child dropped")
    assert kstat(sn)["counters"]["children_dropped"] == 1


def test_concurrent_finds_do_not_mix(net):
    sn = supernode(net, "s", (), "--kazaa-find-window", "1.5")
    sids = []
    for name, md5 in ((b"alpha.txt", b"a" * 32), (b"beta.txt", b"b" * 32)):
        ip = next_ipv4()
        sid = request(sn.addr, b"LOGI" + ipp2p(ip) + b"06000", src_ip=ip)[4:]
        oneshot(sn.addr, b"ADFF" + sid + md5 + name.ljust(100))
        sids.append(sid)
    wait_until(lambda: kstat(sn)["index"]["files"] == 2, 10, "ADFF")
    out = {}

    def find(i, term):
        out[i] = request(sn.addr, b"FIND" + sids[i] + term.ljust(20), timeout=10)
    ts = [threading.Thread(target=find, args=(0, b"alpha")),
          threading.Thread(target=find, args=(1, b"beta"))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert out[0][:7] == b"AFIN001" and out[0][7:39] == b"a" * 32
    assert out[1][:7] == b"AFIN001" and out[1][7:39] == b"b" * 32
