"""The Gnutella overlay (course.md §3 and §6) on loopback: real nodes, each
on its own 127.x address, and scripted peers written from the spec alone
that check every answer byte for byte."""

import collections
import os
import secrets
import socket
import threading
import time

from conftest import (Collector, free_port, ipp2p, make_file, md5_file, next_ipv4,
                      oneshot, request, split_addr, wait_until)


def gnut_args(neighbours, *extra):
    args = ["--overlay", "gnutella"]
    for a in neighbours:
        args += ["--neighbour", a]
    return args + list(extra)


def gstat(node):
    """The node's gnutella status object."""
    ov = node.status()["overlays"]
    assert ov and ov[0]["name"] == "gnutella", ov
    return ov[0]


def counters(nodes):
    return [gstat(n)["counters"] for n in nodes]


def settled(nodes):
    """Counters of every node, once two snapshots in a row agree."""
    last = [None]

    def same():
        now = counters(nodes)
        ok = now == last[0]
        last[0] = now
        return ok
    wait_until(same, 20, "counters to settle")
    return last[0]


def search(node, term, **kw):
    c = node.ctl()
    try:
        msgs = c.events("search", term=term, **kw)
    finally:
        c.close()
    final = msgs[-1]
    assert final["ok"], final
    return [m["hit"] for m in msgs if m.get("event") == "hit"], final["result"]


def ring_with_chords(net, n=12, extra=()):
    """n nodes on a ring, plus a chord from each node to the opposite one:
    every node has three configured neighbours."""
    nodes = [net.node("g%02d" % i, start=False) for i in range(n)]
    edges = set()
    for i in range(n):
        edges.add(frozenset((i, (i + 1) % n)))
        edges.add(frozenset((i, (i + n // 2) % n)))
    adj = collections.defaultdict(set)
    for e in edges:
        a, b = tuple(e)
        adj[a].add(b)
        adj[b].add(a)
    for i, node in enumerate(nodes):
        node.args += gnut_args([nodes[j].addr for j in sorted(adj[i])], *extra)
    for node in nodes:
        node.start()

    def all_up():
        for node in nodes:
            peers = node.call("peers")["result"]["overlays"][0]["peers"]
            if any(p["state"] != "up" for p in peers if p["origin"] == "configured"):
                return False
        return True
    # Neighbours that were not started yet when a node first tried them
    # come back with the next NEAR round.
    wait_until(all_up, 30, "every configured neighbour up")
    return nodes, adj


def bfs(adj, src):
    dist = {src: 0}
    todo = collections.deque([src])
    while todo:
        u = todo.popleft()
        for v in adj[u]:
            if v not in dist:
                dist[v] = dist[u] + 1
                todo.append(v)
    return dist


# ---------------------------------------------------------------------------
# Real networks


def test_ring_far_file_found_downloaded_ttl_and_pktid_once(net):
    # min_neighbours 0: the graph stays exactly the ring with chords (no
    # neighbour learned while the others start), so hop counts are known.
    nodes, adj = ring_with_chords(
        net, extra=("--gnutella-min-neighbours", "0", "--gnutella-discovery-interval", "1"))
    dist = bfs(adj, 0)
    far = max(dist, key=dist.get)
    assert dist[far] == 3
    md5 = make_file(os.path.join(nodes[far].share, "Far_Away_Report.pdf"), 700000, seed=4)
    wait_until(lambda: gstat(nodes[far]) and nodes[far].status()["library"]["files"] == 1,
               20, "far node to list its file")

    # A TTL of 2 does not reach distance 3; each node within 2 hops
    # handles the query exactly once, the others never see it.
    before = settled(nodes)
    hits, res = search(nodes[0], "away", ttl=dist[far] - 1, window=1.5)
    assert hits == [] and res["hits"] == 0
    after = settled(nodes)
    for i, (b, a) in enumerate(zip(before, after)):
        want = 1 if 0 < dist[i] <= dist[far] - 1 else 0
        assert a["quer_handled"] - b["quer_handled"] == want, (i, dist[i], b, a)

    # The default TTL (5) reaches it: one hit, from the right node.
    before = after
    hits, res = search(nodes[0], "AWAY", window=2)
    assert len(hits) == 1, hits
    h = hits[0]
    assert h["md5"] == md5 and h["name"] == "Far_Away_Report.pdf"
    assert h["overlay"] == "gnutella" and h["source"]["label"] == nodes[far].addr
    assert res["files"] == 1
    after = settled(nodes)
    rx = handled = dropped = 0
    for i, (b, a) in enumerate(zip(before, after)):
        d = {k: a[k] - b[k] for k in a}
        # every node but the originator handles the Pktid exactly once
        assert d["quer_handled"] == (0 if i == 0 else 1), (i, d)
        rx += d["quer_received"]
        handled += d["quer_handled"]
        dropped += d["quer_dup_dropped"] + d["quer_own_dropped"] + d["quer_rate_dropped"]
    assert rx == handled + dropped
    # Every copy sent was received: the originator's 3, plus the forwards.
    assert rx == 3 + sum(a["quer_forwarded"] - b["quer_forwarded"]
                         for b, a in zip(before, after))
    assert after[far]["aque_sent"] - before[far]["aque_sent"] == 1

    # `get MD5` uses the hit's source; the MD5 is checked.
    p = nodes[0].cli("get", md5, check=0)
    assert "MD5 verified" in p.stdout
    assert md5_file(os.path.join(nodes[0].share, "Far_Away_Report.pdf")) == md5


def test_killing_two_nodes_leaves_everyone_min_neighbours(net):
    nodes, adj = ring_with_chords(
        net, extra=("--gnutella-discovery-interval", "0.5", "--gnutella-fail-limit", "2",
                    "--connect-timeout", "1"))
    dead = {4, 5}
    for i in dead:
        nodes[i].kill()
    dead_labels = {nodes[i].addr for i in dead}
    alive = [n for i, n in enumerate(nodes) if i not in dead]

    def recovered():
        for n in alive:
            peers = n.call("peers")["result"]["overlays"][0]["peers"]
            up = [p for p in peers if p["state"] == "up"]
            if any(p["label"] in dead_labels for p in up):
                return False
            if len(up) < 3:
                return False
        return True
    wait_until(recovered, 40, "every live node to have >= 3 live neighbours")
    # The nodes that lost a neighbour learned new ones through NEAR.
    learned = sum(gstat(n)["counters"]["learned"] for n in alive)
    assert learned >= 4
    # And the network still works: a file two nodes away is found.
    md5 = make_file(os.path.join(alive[6].share, "after_the_storm.bin"), 5000, seed=9)
    wait_until(lambda: alive[6].status()["library"]["files"] == 1, 20, "library")
    hits, _ = search(alive[0], "storm", window=2)
    assert [h["md5"] for h in hits] == [md5]


def test_ipv6_only_line(net):
    def v6node(name):
        return net.node(name, ip="::1", port=free_port("::1", socket.AF_INET6), start=False)
    a, b, c = v6node("a"), v6node("b"), v6node("c")
    a.args += gnut_args([b.addr])
    b.args += gnut_args([a.addr, c.addr])
    c.args += gnut_args([b.addr])
    for n in (a, b, c):
        n.start()
    md5 = make_file(os.path.join(c.share, "ipv6 only.dat"), 300000, seed=6)
    wait_until(lambda: c.status()["library"]["files"] == 1, 20, "library")
    st = gstat(a)
    # No IPv4 to advertise: 000.000.000.000 and the IPv6 address.
    assert st["ipp2p"] == ipp2p(None, "::1").decode()
    hits, _ = search(a, "only", window=2)
    assert len(hits) == 1 and hits[0]["md5"] == md5
    assert hits[0]["source"]["label"] == c.addr
    a.cli("get", md5, check=0)
    assert md5_file(os.path.join(a.share, "ipv6 only.dat")) == md5


# ---------------------------------------------------------------------------
# Byte-exact exchanges with scripted peers (course.md §6 and §10.2)


def pktid():
    return secrets.token_hex(8).upper().encode()


def flood(kind, pid, origin_ip, origin_port, ttl, term=None):
    m = kind + pid + ipp2p(origin_ip) + b"%05d" % origin_port + ttl
    if term is not None:
        m += term.ljust(20)
    return m


class Rig:
    """A warren node W sharing Annual_Report.pdf, whose only neighbour is a
    scripted collector N; P is a scripted originator collecting answers on
    a temporary port, as existing peers do."""

    def __init__(self, net, *extra):
        self.n_ip, self.p_ip = next_ipv4(), next_ipv4()
        self.N = Collector(self.n_ip)
        self.P = Collector(self.p_ip)
        self.w = net.node("w", start=False)
        self.w.args += gnut_args([self.N.addr], "--gnutella-discovery-interval", "3600",
                                 "--gnutella-min-neighbours", "1", *extra)
        self.data = os.urandom(10000)
        with open(os.path.join(self.w.share, "Annual_Report.pdf"), "wb") as f:
            f.write(self.data)
        self.md5 = md5_file(os.path.join(self.w.share, "Annual_Report.pdf"))
        self.w.start()
        wait_until(lambda: self.w.status()["library"]["files"] == 1, 20, "library")
        self.w_ip, self.w_port = split_addr(self.w.addr)
        self.w_id = ipp2p(self.w_ip) + b"%05d" % self.w_port
        # The NEAR round at start reached N: byte-exact, TTL 03.
        near = self.N.wait(lambda m: m[:4] == b"NEAR", what="start-up NEAR")[0]
        assert len(near) == 82 and near[20:75] == ipp2p(self.w_ip)
        assert near[75:80] == b"%05d" % self.w_port and near[80:82] == b"03"

    def counters(self):
        return gstat(self.w)["counters"]

    def send(self, msg, src=None):
        oneshot(self.w.addr, msg, src_ip=src or self.p_ip)

    def close(self):
        self.N.close()
        self.P.close()


def test_scripted_near_quer_retr_byte_exact(net):
    r = Rig(net)
    try:
        # NEAR -> ANEA to the originator's IPP2P:PP2P, and forwarded with
        # only the TTL changed (§10.2).
        pid = pktid()
        near = flood(b"NEAR", pid, r.p_ip, r.P.port, b"03")
        r.send(near)
        anea = r.P.wait(lambda m: m[4:20] == pid, what="ANEA")
        assert anea == [b"ANEA" + pid + r.w_id]
        fwd = r.N.wait(lambda m: m[4:20] == pid, what="forwarded NEAR")
        assert fwd == [near[:80] + b"02"]

        # QUER -> one AQUE per matching file, name padded to 100 bytes.
        pid = pktid()
        quer = flood(b"QUER", pid, r.p_ip, r.P.port, b"05", b"report")
        r.send(quer)
        aque = r.P.wait(lambda m: m[4:20] == pid, what="AQUE")
        assert aque == [b"AQUE" + pid + r.w_id + r.md5.encode() +
                        b"Annual_Report.pdf".ljust(100)]
        assert len(aque[0]) == 212
        assert r.N.wait(lambda m: m[4:20] == pid) == [quer[:80] + b"04" + quer[82:]]

        # Tolerated forms: %term%, another case, space-padded TTL.
        pid = pktid()
        r.send(flood(b"QUER", pid, r.p_ip, r.P.port, b" 5", b"%ANNUAL_R%"))
        assert len(r.P.wait(lambda m: m[4:20] == pid)) == 1
        # Nothing matches: no AQUE; the query is still forwarded.
        pid = pktid()
        r.send(flood(b"QUER", pid, r.p_ip, r.P.port, b"05", b"holiday"))
        r.N.wait(lambda m: m[4:20] == pid)
        assert r.P.take(lambda m: m[4:20] == pid) == []

        # TTL 00 and 01: answered whatever the TTL, not forwarded.
        # TTL 50 and 99: forwarded with the cap (10).
        for ttl, fwd_ttl in ((b"00", None), (b"01", None), (b"50", b"10"), (b"99", b"10")):
            c0 = r.counters()
            pid = pktid()
            r.send(flood(b"QUER", pid, r.p_ip, r.P.port, ttl, b"annual"))
            assert len(r.P.wait(lambda m: m[4:20] == pid)) == 1
            wait_until(lambda: r.counters()["quer_handled"] == c0["quer_handled"] + 1, 10)
            c1 = r.counters()
            if fwd_ttl is None:
                assert c1["forwarded"] == c0["forwarded"], ttl
            else:
                assert r.N.wait(lambda m: m[4:20] == pid)[0][80:82] == fwd_ttl

        # The same Pktid again: dropped, no second AQUE.
        c0 = r.counters()
        r.send(quer)
        wait_until(lambda: r.counters()["dup_dropped"] == c0["dup_dropped"] + 1, 10)
        assert r.counters()["aque_sent"] == c0["aque_sent"]

        # Never forwarded back to the originator (N's address and port in
        # IPP2P:PP2P), nor to the neighbour that delivered it (N's IP).
        for origin, src in (((r.n_ip, r.N.port), r.p_ip), ((r.p_ip, r.P.port), r.n_ip)):
            c0 = r.counters()
            pid = pktid()
            r.send(flood(b"QUER", pid, origin[0], origin[1], b"05", b"report"), src=src)
            wait_until(lambda: r.counters()["quer_handled"] == c0["quer_handled"] + 1, 10)
            assert r.counters()["forwarded"] == c0["forwarded"], (origin, src)

        # RETR on the same port: ARET, byte-exact chunking (§8, §10.4).
        reply = request(r.w.addr, b"RETR" + r.md5.encode())
        assert reply[:4] == b"ARET" and int(reply[4:10]) == 3
        off, data = 10, b""
        for want in (4096, 4096, 1808):
            assert reply[off:off + 5] == b"%05d" % want
            data += reply[off + 5:off + 5 + want]
            off += 5 + want
        assert off == len(reply) and data == r.data
    finally:
        r.close()


def test_scripted_answers_become_hits_and_own_pktids_are_dropped(net):
    r = Rig(net)
    try:
        c = r.w.ctl()
        rid = c.send({"op": "search", "term": "holiday", "window": 3})
        quer = r.N.wait(lambda m: m[:4] == b"QUER", what="W's QUER")[0]
        assert len(quer) == 102 and quer[20:80] == r.w_id and quer[80:82] == b"05"
        assert quer[82:102] == b"holiday".ljust(20)
        pid = quer[4:20]
        assert all(ch in b"0123456789ABCDEF" for ch in pid)
        # The query comes back to W (a loop): W drops its own Pktid.
        c0 = r.counters()
        r.send(quer, src=r.n_ip)
        wait_until(lambda: r.counters()["own_dropped"] == c0["own_dropped"] + 1, 10)
        # P2 answers W with the AQUE of §10.2 (twice: de-duplicated), and
        # with an ANEA, which is not an answer to a QUER.
        p2 = ipp2p("10.0.0.2", "2001:db8::2") + b"06000"
        hol = b"e2c78d5e95c4fc1ec8841be424e905d6"
        aque = b"AQUE" + pid + p2 + hol + b"Holiday_Video.mp4".ljust(100)
        oneshot(r.w.addr, aque, src_ip=r.n_ip)
        oneshot(r.w.addr, aque, src_ip=r.n_ip)
        oneshot(r.w.addr, b"ANEA" + pid + p2, src_ip=r.n_ip)
        # An AQUE for a Pktid W never sent is dropped.
        oneshot(r.w.addr, b"AQUE" + pktid() + p2 + hol + b"x".ljust(100), src_ip=r.n_ip)
        msgs = []
        while True:
            m = c.recv()
            if m.get("id") != rid:
                continue
            msgs.append(m)
            if m.get("done"):
                break
        c.close()
        hits = [m["hit"] for m in msgs if m.get("event") == "hit"]
        assert len(hits) == 1, hits
        assert hits[0]["md5"] == hol.decode() and hits[0]["name"] == "Holiday_Video.mp4"
        # 010.000.000.002 is decimal ten (§2.5), IPv4 half first.
        assert hits[0]["source"]["addrs"] == ["10.0.0.2:6000", "[2001:db8::2]:6000"]
        st = r.counters()
        assert st["answers_unmatched"] >= 2 and st["aque_received"] == 3
    finally:
        r.close()


# ---------------------------------------------------------------------------
# Bad input


def test_bad_floods_are_closed_without_answer_or_state_change(net):
    r = Rig(net)
    try:
        good = flood(b"QUER", pktid(), r.p_ip, r.P.port, b"05", b"report")
        bad = [
            good[:101],                                   # one byte short
            good + b"\n",                                 # a stray newline
            good[:80] + b"ab" + good[82:],                # TTL not digits
            good[:20] + b"x" * 55 + good[75:],            # IPP2P garbage
            good[:75] + b"00000" + good[80:],             # port 0
            good[:75] + b"70000" + good[80:],             # port > 65535
            b"XXXX" + good[4:],                           # unknown kind
            b"quer" + good[4:],                           # kinds are case-sensitive
            flood(b"NEAR", pktid(), r.p_ip, r.P.port, b"03") + b"0",
        ]
        def refused():
            rq = r.w.status()["requests"]
            return rq["malformed"] + rq["unknown"] + rq["truncated"]
        r0 = refused()
        c0 = r.counters()
        for m in bad:
            try:
                r.send(m)
            except OSError:
                pass
        wait_until(lambda: refused() - r0 == len(bad), 15, "every bad message refused")
        c1 = r.counters()
        assert c1["quer_received"] == c0["quer_received"]
        assert c1["near_received"] == c0["near_received"]
        assert r.P.take() == []
        # The Pktid of a refused message is not burnt: the valid one is
        # handled afterwards.
        r.send(good)
        assert len(r.P.wait(lambda m: m[4:20] == good[4:20])) == 1
    finally:
        r.close()


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_query_flood_from_one_peer_is_rate_limited(net):
    """10,000 QUERs as fast as four threads can send them from one IP:
    the node stays up with bounded memory, handles no more than its rate
    allows, and still answers another peer meanwhile."""
    r = Rig(net, "--gnutella-flood-rate", "50", "--gnutella-flood-burst", "100")
    q_ip = next_ipv4()
    try:
        rss0 = vm_rss_kib(r.w.proc.pid)
        todo = list(range(10000))
        lock = threading.Lock()
        sent = [0]
        probe = {}

        def blast():
            while True:
                with lock:
                    if not todo:
                        return
                    i = todo.pop()
                m = flood(b"QUER", pktid(), r.p_ip, r.P.port, b"05", b"report")
                try:
                    oneshot(r.w.addr, m, src_ip=r.p_ip, timeout=5)
                except OSError:
                    continue
                with lock:
                    sent[0] += 1
                if i == 5000:
                    # Halfway through, another peer asks.
                    probe["pid"] = pktid()
                    r.send(flood(b"QUER", probe["pid"], r.p_ip, r.P.port, b"05",
                                 b"report"), src=q_ip)
        t0 = time.monotonic()
        threads = [threading.Thread(target=blast) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        assert len(r.P.wait(lambda m: m[4:20] == probe["pid"], timeout=15)) == 1
        c = r.counters()
        assert sent[0] > 9000, sent
        assert c["rate_dropped"] > 0
        # At most the burst plus the rate over the flood, plus the probe.
        assert c["quer_handled"] <= 100 + 50 * (elapsed + 2) + 1, (c, elapsed)
        assert vm_rss_kib(r.w.proc.pid) - rss0 < 64 * 1024
        assert r.w.proc.poll() is None
    finally:
        r.close()


def test_search_adds_holders_to_a_waiting_download(net):
    a = net.node("a", start=False)
    c = net.node("c", start=False)
    a.args += gnut_args([c.addr], "--gnutella-min-neighbours", "0")
    c.args += gnut_args([a.addr], "--gnutella-min-neighbours", "0")
    a.start()
    c.start()
    md5 = make_file(os.path.join(c.share, "rescue.bin"), 200000, seed=11)
    wait_until(lambda: c.status()["library"]["files"] == 1, 20, "library")
    # A download whose only source is dead waits...
    dead = "%s:%d" % (next_ipv4(), 9)
    r = a.call("get", md5=md5, name="rescue.bin", background=True, **{"from": [dead]})
    assert r["ok"], r
    wait_until(lambda: a.call("downloads")["result"]["downloads"][0]["state"] == "waiting",
               20, "waiting")
    # ... until a search finds a holder: it joins the download.
    search(a, "rescue", window=1)
    wait_until(lambda: a.call("downloads")["result"]["downloads"][0]["state"] == "done",
               30, "done")
    assert md5_file(os.path.join(a.share, "rescue.bin")) == md5
