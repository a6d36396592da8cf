"""Kazaa FIND latency benchmark, a mode of bench/run (`bench/run --only
kazaa`; a plain `bench/run` runs it too). See docs/benchmarks.md.

5 `warren node --overlay kazaa --kazaa-role supernode` processes, each a
friend of the 4 others. Each indexes 500 files published by scripted
children: this module logs in 5 children per supernode with LOGI and
sends 100 ADFF one-shots for each, speaking the course protocol itself
(course.md §7.1), so no file is needed on disk. 20 names of child 0 are the
same on every supernode (common-NNN.dat, same md5), the rest are unique
(bench-sS-cC-fNNN.dat).

FIND is then timed at the wire, from sending the 40 bytes of FIND to a
supernode until the last byte of its AFIN is read (by its counts), for a
selective term (one file on another supernode), a common term (one md5,
a copy on every supernode) and a broad term (every file): the supernode
answers only when its find window is over, so this is done for each
window measured, with fresh supernodes. Every AFIN is checked against the
published index. Around it: the same searches from a real `warren node`
peer joined to supernode 0 (control socket `search`), and searches from
supernode 0's own control socket, whose hits stream as the friends' AQUEs
arrive: their t_ms says how long the answers take to come in.

bench/run passes itself in as `h`: this module uses its Node, BenchError,
next_ip, free_port, task_cpu, median and POLL_S, and starts processes only
through h.Node, so that bench/run's cleanup() stops them on any exit.
"""

import hashlib
import math
import os
import selectors
import socket
import time

SUPERNODES = 5
CHILDREN = 5          # scripted children per supernode
FILES = 100           # files each child publishes
COMMON = 20           # of child 0's files, the same on every supernode
START_S = 60.0        # longest wait for the nodes to start and be ready
IO_S = 10.0           # deadline of one LOGI or ADFF exchange
FIND_S = 30.0         # deadline of one FIND (course.md §7.4)
FINDS = 10            # FINDs per term and window, at the wire
PEER_SEARCHES = 3     # searches per term from the warren peer
ARRIVAL_WINDOW_S = 1.0  # window of supernode 0's own searches
ARRIVAL_SEARCHES = 3  # searches per term from supernode 0 itself
MAX_ANSWERS = 100     # the node's default max_answers (AQUEs per QUER)
KINDS = ("selective", "common", "broad")
IDLE_S = 1.0          # supernodes' idle CPU measured over this, subtracted
# (find window s, extra supernode flags, peer searches, searches from
# supernode 0): the default window, a short one, and the short one again
# with room for every friend's AQUE connections (see docs/benchmarks.md).
CONFIGS = ((3.0, (), True, False), (0.5, (), True, False),
           (0.5, ("--max-connections", "1024"), False, True))
LABELS = {"selective": "selective (1 md5, 1 copy)",
          "common": "common (1 md5, 5 copies)",
          "broad": "broad \".dat\" (all)"}


class WireError(Exception):
    pass


# ---- the course protocol, client side ---------------------------------------


def ipp2p(ip):
    """IPP2P[55] of an IPv4 address: 3-digit octets, '|', the fully
    expanded IPv4-mapped IPv6 form (course.md §2.4, §2.5)."""
    o = [int(x) for x in ip.split(".")]
    return ("%03d.%03d.%03d.%03d|" % tuple(o) +
            "0000:0000:0000:0000:0000:ffff:%02x%02x:%02x%02x" % tuple(o))


def parse_ipp2p(b):
    """The IPv4 half of an IPP2P, parsed as decimal."""
    v4 = b.decode("ascii").split("|")[0].strip()
    return ".".join(str(int(x)) for x in v4.split("."))


def addr_of(s):
    ip, port = s.rsplit(":", 1)
    return ip, int(port)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        b = sock.recv(n - len(buf))
        if not b:
            raise WireError("connection closed after %d of %d bytes"
                            % (len(buf), n))
        buf += b
    return buf


def logi(sn, ip, port):
    """LOGI at supernode sn ("ip:port") as ip:port; returns the SessionID."""
    msg = b"LOGI" + ipp2p(ip).encode() + b"%05d" % port
    assert len(msg) == 64
    with socket.create_connection(addr_of(sn), IO_S) as s:
        s.sendall(msg)
        r = recv_exact(s, 20)
    if r[:4] != b"ALGI" or r[4:] == b"0" * 16:
        raise WireError("LOGI at %s refused: %r" % (sn, r))
    return r[4:]


def adff(sn, session, md5, name):
    """One ADFF one-shot (one write); then wait for the supernode to close,
    which it does once it has read the 152 bytes: that paces the sends so
    that no more than one connection is open at a time."""
    msg = b"ADFF" + session + md5.encode() + name.encode().ljust(100)
    assert len(msg) == 152
    with socket.create_connection(addr_of(sn), IO_S) as s:
        s.sendall(msg)
        if s.recv(64):
            raise WireError("ADFF at %s got a reply" % sn)


def find_msg(session, term):
    msg = b"FIND" + session + term.encode().ljust(20)
    assert len(msg) == 40
    return msg


def parse_afin(buf):
    """AFIN by its counts (course.md §5.2). Returns (entries, length) once
    buf holds it all, else None; entries = [(md5, name, [(ip, port)])]."""
    if len(buf) < 7:
        return None
    if buf[:4] != b"AFIN":
        raise WireError("reply is not AFIN: %r" % buf[:200])
    n = int(buf[4:7])
    off, entries = 7, []
    for _ in range(n):
        if len(buf) < off + 135:
            return None
        md5 = buf[off:off + 32].decode()
        name = buf[off + 32:off + 132].decode().strip(" \0")
        nc = int(buf[off + 132:off + 135])
        off += 135
        if len(buf) < off + 60 * nc:
            return None
        copies = []
        for _ in range(nc):
            copies.append((parse_ipp2p(buf[off:off + 55]),
                           int(buf[off + 55:off + 60])))
            off += 60
        entries.append((md5, name, copies))
    return entries, off


def run_finds(jobs, gap):
    """Send the FINDs of jobs [(supernode, session, term)] and read their
    AFINs in one thread (selectors). gap None: one after the other; else a
    FIND starts every gap seconds, whatever is still open. Returns
    [(seconds from FIND sent to the last AFIN byte read, entries)]."""
    sel = selectors.DefaultSelector()
    out = [None] * len(jobs)
    t_first = time.perf_counter()
    nxt, left = 0, len(jobs)
    try:
        while left:
            now = time.perf_counter()
            due = nxt < len(jobs) and (
                (gap is None and not sel.get_map()) or
                (gap is not None and now >= t_first + nxt * gap))
            if due:
                sn, session, term = jobs[nxt]
                s = socket.create_connection(addr_of(sn), IO_S)
                t0 = time.perf_counter()
                s.sendall(find_msg(session, term))
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ, [nxt, t0, b""])
                nxt += 1
                continue
            wait = 1.0
            if gap is not None and nxt < len(jobs):
                wait = max(0.0, t_first + nxt * gap - now)
            for key, _ev in sel.select(wait):
                st = key.data
                b = key.fileobj.recv(1 << 20)
                t = time.perf_counter()
                if not b:
                    raise WireError("FIND %r: closed after %d bytes: %r" % (
                        jobs[st[0]][2], len(st[2]), st[2][:200]))
                st[2] += b
                got = parse_afin(st[2])
                if got is None:
                    continue
                if got[1] != len(st[2]):
                    raise WireError("FIND %r: %d bytes after the AFIN" % (
                        jobs[st[0]][2], len(st[2]) - got[1]))
                out[st[0]] = (t - st[1], got[0])
                sel.unregister(key.fileobj)
                key.fileobj.close()
                left -= 1
            for key in list(sel.get_map().values()):
                if time.perf_counter() - key.data[1] > FIND_S:
                    raise WireError("FIND %r: no complete AFIN in %.0f s" % (
                        jobs[key.data[0]][2], FIND_S))
    finally:
        for key in list(sel.get_map().values()):
            key.fileobj.close()
        sel.close()
    return out


# ---- the published index ----------------------------------------------------


def file_md5(name):
    return hashlib.md5(name.encode()).hexdigest()


def child_files(s, c):
    """[(md5, name)] that child c of supernode s publishes."""
    out = []
    for f in range(FILES):
        if c == 0 and f < COMMON:
            name = "common-%03d.dat" % f
        else:
            name = "bench-s%d-c%d-f%03d.dat" % (s, c, f)
        out.append((file_md5(name), name))
    return out


class Child:
    """A scripted child: an address nobody connects to, a session."""

    def __init__(self, h, s, c):
        self.s, self.c = s, c
        self.ip = h.next_ip()
        self.port = h.free_port(self.ip)
        self.session = None
        self.files = child_files(s, c)

    def publish(self, sn):
        self.session = logi(sn, self.ip, self.port)
        for md5, name in self.files:
            adff(sn, self.session, md5, name)


def expected(children, term, max_answers, origin):
    """What the AFIN of a FIND for term at supernode origin should hold:
    ({md5: set of owners} of every match, copies expected). A friend sends
    at most max_answers AQUEs, so for a broad term only the count of
    copies is known, not which."""
    owners, per_sn = {}, [0] * SUPERNODES
    for ch in children:
        for md5, name in ch.files:
            if term.lower() in name.lower():
                owners.setdefault(md5, set()).add((ch.ip, ch.port))
                per_sn[ch.s] += 1
    copies = sum(n if s == origin else min(n, max_answers)
                 for s, n in enumerate(per_sn))
    return owners, copies


def check_afin(entries, owners, copies, names, what):
    """Raise WireError unless every entry and copy is one published."""
    seen = set()
    for md5, name, cs in entries:
        if md5 not in owners:
            raise WireError("%s: md5 %s (%r) was not published" % (
                what, md5, name))
        if names.get(md5) != name:
            raise WireError("%s: md5 %s named %r, published as %r" % (
                what, md5, name, names.get(md5)))
        if md5 in seen:
            raise WireError("%s: md5 %s listed twice" % (what, md5))
        seen.add(md5)
        for c in cs:
            if c not in owners[md5]:
                raise WireError("%s: %s has copy %s:%d, not an owner" % (
                    what, name, c[0], c[1]))
        if len(set(cs)) != len(cs):
            raise WireError("%s: %s lists a copy twice" % (what, name))
    got = sum(len(cs) for _m, _n, cs in entries)
    if len(entries) < 999 and got > copies:
        raise WireError("%s: %d copies, at most %d expected" % (
            what, got, copies))
    return got


# ---- the nodes --------------------------------------------------------------


def overlay_status(h, node, ctl):
    if node.proc.poll() is not None:
        raise h.BenchError("node %s exited with %s:\n%s" % (
            node.addr, node.proc.returncode, node.tail()))
    try:
        st = ctl.call("status")
    except (OSError, h.BenchError) as e:
        raise h.BenchError("status of %s: %s\n%s" % (node.addr, e,
                                                     node.tail()))
    for ov in st.get("overlays") or ():
        if ov.get("name") == "kazaa":
            return ov
    raise h.BenchError("node %s has no kazaa overlay: %r" % (node.addr, st))


def wait_for(h, node, ctl, ready, what):
    deadline = time.monotonic() + START_S
    while True:
        ov = overlay_status(h, node, ctl)
        if ready(ov):
            return ov
        if time.monotonic() > deadline:
            raise h.BenchError("%s: %s not reached in %.0f s: %r\n%s" % (
                node.addr, what, START_S, ov, node.tail()))
        time.sleep(h.POLL_S)


def search(h, node, ctl, term, window=None):
    """A control-socket search; returns (hit events, final result)."""
    kw = {"term": term, "overlay": "kazaa"}
    if window is not None:
        kw["window"] = window
    rid = ctl.send("search", **kw)
    hits = []
    try:
        while True:
            m = ctl.recv()
            if m.get("id") != rid:
                continue
            if m.get("event") == "hit":
                hits.append(m["hit"])
            if m.get("done"):
                break
    except OSError as e:
        raise h.BenchError("search on %s: %s\n%s" % (node.addr, e,
                                                     node.tail()))
    if not m.get("ok"):
        raise h.BenchError("search %r on %s failed: %s\n%s" % (
            term, node.addr, m.get("error"), node.tail()))
    return hits, m["result"]


def sn_cpu(h, sns):
    return sum(h.task_cpu(n.proc.pid) for n in sns)


def p90(xs):
    """Nearest-rank 90th percentile."""
    xs = sorted(xs)
    return xs[max(0, math.ceil(0.9 * len(xs)) - 1)]


def term_for(kind, i):
    """The i-th term of a kind. Selective terms name one file of a child of
    supernodes 1-4 (never of supernode 0, the one asked), a different one
    each time; common terms one of the names on every supernode."""
    if kind == "selective":
        return "s%d-c%d-f%03d" % (1 + i % (SUPERNODES - 1),
                                  1 + i % (CHILDREN - 1), (7 * i) % FILES)
    if kind == "common":
        return "common-%03d" % (i % COMMON)
    return ".dat"


def counters_sum(ovs, key):
    return sum(ov["counters"][key] for ov in ovs)


def start_supernodes(h, warren, work, tag, window, sn_extra):
    extra = ("--overlay", "kazaa", "--kazaa-role", "supernode",
             "--kazaa-find-window", "%g" % window,
             "--kazaa-probe-interval", "3600",
             "--kazaa-friends-interval", "3600",
             "--rescan-interval", "3600") + tuple(sn_extra)
    sns = []
    for i in range(SUPERNODES):
        share = os.path.join(work, "kz-%s-share-s%d" % (tag, i))
        os.makedirs(share)
        sns.append(h.Node(warren, work, "kz-%s-s%d" % (tag, i), share,
                          extra))
    for i, n in enumerate(sns):
        for j, m in enumerate(sns):
            if i != j:
                n.cmd += ["--kazaa-friend", m.addr]
    for n in sns:
        n.start()
    return sns


def one_config(h, warren, work, tag, window, sn_extra, peers, arrivals,
               gap):
    """Fresh supernodes with this find window; returns (figures, nodes),
    the nodes still running (the caller stops them)."""
    res = {"window": window, "extra": " ".join(sn_extra), "anomalies": []}
    ctls = []
    t_start = time.perf_counter()
    sns = start_supernodes(h, warren, work, tag, window, sn_extra)
    nodes = list(sns)
    try:
        for n in sns:
            ctl = n.connect()
            ctls.append(ctl)
            n.wait_hashed(ctl, 0, START_S)
            wait_for(h, n, ctl, lambda ov: ov.get("role") == "supernode",
                     "role supernode")

        # -- the index, by scripted children
        children = [Child(h, s, c) for s in range(SUPERNODES)
                    for c in range(CHILDREN)]
        t0 = time.perf_counter()
        for ch in children:
            ch.publish(sns[ch.s].addr)
        want = CHILDREN * FILES
        for n, ctl in zip(sns, ctls):
            wait_for(h, n, ctl, lambda ov: ov["index"]["files"] == want and
                     ov["index"]["links"] == want and
                     ov["index"]["children"] == CHILDREN,
                     "%d files of %d children indexed" % (want, CHILDREN))
        res["publish_s"] = time.perf_counter() - t0
        names = {md5: name for ch in children for md5, name in ch.files}
        where = {"%s:%d" % (ch.ip, ch.port): ch.s for ch in children}

        # -- the warren peer, joined to supernode 0
        pshare = os.path.join(work, "kz-%s-share-peer" % tag)
        os.makedirs(pshare)
        peer = h.Node(warren, work, "kz-%s-peer" % tag, pshare, (
            "--overlay", "kazaa", "--kazaa-known", sns[0].addr,
            "--kazaa-supe-window", "0.5", "--rescan-interval", "3600"))
        nodes.insert(0, peer)  # stopped first: it logs out of supernode 0
        peer.start()
        pctl = peer.connect()
        ctls.append(pctl)
        peer.wait_hashed(pctl, 0, START_S)
        pov = wait_for(h, peer, pctl, lambda ov: ov.get("state") == "joined",
                       "joined")
        if pov.get("supernode") != sns[0].addr:
            raise h.BenchError("the peer joined %r, not supernode 0 (%s)"
                               % (pov.get("supernode"), sns[0].addr))
        res["ready_s"] = time.perf_counter() - t_start

        # -- FIND at the wire, at supernode 0, as its child 0
        sess = children[0].session
        run_finds([(sns[0].addr, sess, term_for(k, 999)) for k in KINDS],
                  gap)  # not counted: the first of each kind
        c0, t0 = sn_cpu(h, sns), time.perf_counter()
        time.sleep(IDLE_S)
        idle = (sn_cpu(h, sns) - c0) / (time.perf_counter() - t0)
        res["idle_ms_s"] = 1000 * idle
        ov0 = [overlay_status(h, n, c) for n, c in zip(sns, ctls)]
        res["kinds"] = {}
        for kind in KINDS:
            jobs = [(sns[0].addr, sess, term_for(kind, i))
                    for i in range(FINDS)]
            c0, cf = sn_cpu(h, sns[:1]), sn_cpu(h, sns[1:])
            t0 = time.perf_counter()
            got = run_finds(jobs, gap)
            wall = time.perf_counter() - t0
            c0 = sn_cpu(h, sns[:1]) - c0 - wall * idle / SUPERNODES
            cf = sn_cpu(h, sns[1:]) - cf - wall * idle * (SUPERNODES - 1) \
                / SUPERNODES
            r = {"term": jobs[0][2], "lat": [], "entries": [], "copies": 0,
                 "expected": 0, "cpu0": c0 / FINDS, "cpuf": cf / FINDS}
            for (_sn, _s, term), (t, entries) in zip(jobs, got):
                owners, copies = expected(children, term, MAX_ANSWERS, 0)
                n = check_afin(entries, owners, copies, names,
                               "FIND %r at supernode 0" % term)
                r["lat"].append(t)
                r["entries"].append(len(entries))
                r["copies"] += n
                r["expected"] += copies
            res["kinds"][kind] = r
        ov1 = [overlay_status(h, n, c) for n, c in zip(sns, ctls)]
        res["aque_sent"] = counters_sum(ov1[1:], "answers_sent") - \
            counters_sum(ov0[1:], "answers_sent")
        res["aque_recv"] = ov1[0]["counters"]["aque_received"] - \
            ov0[0]["counters"]["aque_received"]

        # -- the same from the warren peer (control socket `search`)
        res["peer"] = {}
        for kind in KINDS if peers else ():
            el, nh, exp = [], 0, 0
            for i in range(PEER_SEARCHES):
                term = term_for(kind, 100 + i)
                _hits, r = search(h, peer, pctl, term)
                el.append(r["elapsed_ms"] / 1000.0)
                nh += r["hits"]
                exp += expected(children, term, MAX_ANSWERS, 0)[1]
            res["peer"][kind] = {"el": el, "hits": nh, "expected": exp}

        # -- the answers' arrival: supernode 0's own searches stream a hit
        #    as each friend's AQUE comes in (t_ms from the search's start)
        if arrivals:
            res["arrival"] = {}
            for kind in KINDS:
                first, last, nh, exp, el = [], [], 0, 0, []
                for i in range(ARRIVAL_SEARCHES):
                    term = term_for(kind, 200 + i)
                    hits, r = search(h, sns[0], ctls[0], term,
                                     ARRIVAL_WINDOW_S)
                    remote = [x["t_ms"] for x in hits
                              if where.get(x["source"]["label"], 0) != 0]
                    if remote:
                        first.append(min(remote))
                        last.append(max(remote))
                    nh += len(hits)
                    exp += expected(children, term, MAX_ANSWERS, 0)[1]
                    el.append(r["elapsed_ms"])
                res["arrival"][kind] = {"first": first, "last": last,
                                        "hits": nh, "expected": exp,
                                        "el": el}

        # -- what the counters say
        #    since the warm-up FINDs (at start-up some SUPEs and QUERs
        #    find a friend not listening yet: connection refused)
        ovs = [overlay_status(h, n, c) for n, c in zip(sns, ctls)]
        for i, (ov, o0) in enumerate(zip(ovs, ov0)):
            for k in ("rate_dropped", "answers_dropped", "answers_unmatched",
                      "oneshot_failed", "oneshot_dropped",
                      "children_dropped"):
                d = ov["counters"][k] - o0["counters"][k]
                if d:
                    res["anomalies"].append("supernode %d: %s = %d" % (
                        i, k, d))
        for kind, r in res["kinds"].items():
            if r["copies"] < r["expected"]:
                res["anomalies"].append(
                    "FIND %s: %d of %d copies in the AFINs" % (
                        kind, r["copies"], r["expected"]))
        for kind, r in res["peer"].items():
            if r["hits"] != r["expected"]:
                res["anomalies"].append(
                    "peer search %s: %d hits of %d" % (kind, r["hits"],
                                                       r["expected"]))
        if res["aque_recv"] != res["aque_sent"]:
            res["anomalies"].append(
                "during the FINDs the friends sent %d AQUEs (answers_sent), "
                "supernode 0 received %d (aque_received)"
                % (res["aque_sent"], res["aque_recv"]))
    except WireError as e:
        raise h.BenchError("kazaa, find window %g s: %s\nsupernode 0 log:\n%s"
                           % (window, e, sns[0].tail()))
    finally:
        for c in ctls:
            c.close()
    return res, nodes


def bench_kazaa(h, warren, work, say, configs=CONFIGS):
    say("Kazaa FIND latency: %d supernodes, each a friend of the %d others, "
        "each indexing %d files (%d scripted children x %d ADFF)"
        % (SUPERNODES, SUPERNODES - 1, CHILDREN * FILES, CHILDREN, FILES))
    say.text("children are scripted (LOGI, then one ADFF one-shot per file, "
             "course.md 7.1), each with its own 127.x address; %d names are "
             "the same on every supernode (common-NNN.dat, same md5), the "
             "others unique (bench-sS-cC-fNNN.dat)"
             % COMMON)
    say.text("FIND is sent at the wire to supernode 0 as one of its "
             "children, timed from sending its 40 bytes to reading the last "
             "byte of the AFIN (by its counts); every AFIN is checked against "
             "what was published. %d FINDs per term, one started every "
             "window/2.5 s (at most 3 open at once, the work of one never "
             "at the same moment as another's)" % FINDS)
    say.text("terms: selective = one file of a child of another supernode "
             "(a different one each FIND); common = one common-NNN (a copy "
             "on each of the 5 supernodes); broad = \".dat\" (every file: "
             "500 local + at most max_answers = %d AQUEs from each friend)"
             % MAX_ANSWERS)
    say.text("peer: a `warren node` peer joined to supernode 0, control "
             "socket `search`, elapsed_ms of the reply; arrival: supernode "
             "0's own `search` (window %g s), whose hits stream as the "
             "friends' AQUEs come in: t_ms of the first and last hit from "
             "another supernode's child" % ARRIVAL_WINDOW_S)
    say.text("existing supernodes of the course answer FIND after a fixed "
             "20 s window; goal: < 1 s on loopback")
    say()
    results = []
    for n, (window, extra, peers, arrivals) in enumerate(configs):
        tag = "%d" % n
        res, nodes = one_config(h, warren, work, tag, window, extra, peers,
                                arrivals, window / 2.5)
        for node in nodes:
            node.stop()
        results.append(res)

    say("  %-28s %8s %7s %7s %7s %9s %8s %7s" % (
        "find window, term", "FIND s", "p90", "max", "entries",
        "copies", "CPU ms", "peer s"))
    for res in results:
        head = "find window %g s%s" % (res["window"], " (default)"
                                       if res["window"] == 3.0 and
                                       not res["extra"] else "")
        if res["extra"]:
            head += ", supernodes %s" % res["extra"]
        say("  %s" % head)
        for kind in KINDS:
            r = res["kinds"][kind]
            p = res["peer"].get(kind)
            say("    %-26s %8.3f %7.3f %7.3f %7d %9s %8s %7s" % (
                LABELS[kind], h.median(r["lat"]), p90(r["lat"]),
                max(r["lat"]), int(h.median(r["entries"])),
                "%d/%d" % (r["copies"], r["expected"]),
                "%.1f+%.1f" % (1000 * r["cpu0"], 1000 * r["cpuf"]),
                "%.3f" % h.median(p["el"]) if p else "-"))
    say()
    say.text("FIND s: median over the FINDs, p90 and max the same; entries: "
             "md5s in the median AFIN; copies: in all the AFINs / what the "
             "index and max_answers allow; CPU ms: per FIND, supernode 0 + "
             "its 4 friends together (scheduler counters, their idle CPU "
             "subtracted); peer s: the peer's search, median of %d"
             % PEER_SEARCHES)
    for res in results:
        if "arrival" not in res:
            continue
        say("  arrival of the friends' answers at supernode 0, find window "
            "%g s%s:" % (res["window"], ", " + res["extra"]
                         if res["extra"] else ""))
        for kind in KINDS:
            a = res["arrival"][kind]
            say("    %-26s first %s ms, last %s ms after the search began; "
                "hits %d/%d" % (kind, "/".join("%d" % x for x in a["first"]),
                                "/".join("%d" % x for x in a["last"]),
                                a["hits"], a["expected"]))
    say()
    say("  context:")
    for res in results:
        med = max(h.median(res["kinds"][k]["lat"]) for k in KINDS)
        say.note("goal < 1 s, window %g s%s" % (
            res["window"], " +conns" if res["extra"] else ""),
            "slowest term's median %.3f s: %s; %.0fx faster than 20 s" % (
                med, "met" if med < 1.0 else "NOT met", 20.0 / med))
    for res in results:
        say.note("AQUEs, window %g s%s" % (
            res["window"], " +conns" if res["extra"] else ""),
            "friends sent %d during the FINDs, supernode 0 received %d; "
            "started and indexed in %.1f s (ADFF %.1f s); idle CPU "
            "%.2f ms/s" % (res["aque_sent"], res["aque_recv"],
                           res["ready_s"], res["publish_s"],
                           res["idle_ms_s"]))
    anomalies = [(res, a) for res in results for a in res["anomalies"]]
    if anomalies:
        say.note("ANOMALIES", "%d (not a failure of the bench; see "
                 "docs/benchmarks.md)" % len(anomalies))
        for res, a in anomalies:
            say.text("window %g s%s: %s" % (res["window"], ", " +
                                           res["extra"] if res["extra"]
                                           else "", a))
    else:
        say.note("consistency", "every AFIN held every copy expected; "
                 "every AQUE sent was received")
    return results
