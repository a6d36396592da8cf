"""Gnutella flooding benchmark, a mode of bench/run (`bench/run --only
gnutella`; a plain `bench/run` runs it too). See docs/benchmarks.md.

N `warren node --overlay gnutella` processes on a seeded random d-regular
graph (neighbours configured on both ends of every edge; NEAR discovery
kept out of the way). Searches are sent on the control socket of chosen
originators, one at a time; for each, the gnutella counters of every node
are read before and after (once the flood has died down) and the hits are
compared with what BFS distances in the graph say a TTL should reach.

bench/run passes itself in as `h`: this module uses its Node, Ctl,
BenchError, task_cpu, median and POLL_S, and starts processes only through
h.Node, so that bench/run's cleanup() stops them on any exit.
"""

import collections
import os
import random
import subprocess
import time

# Terms searched. Every node shares "bench-<i>.dat" (matched by "bench");
# COMMON_HOLDERS nodes also share the same "common.dat".
COMMON_HOLDERS = 10
TERMS = ("bench", "common")
WINDOW_S = 5.0      # search window; the hits are in long before it ends
SETTLE_S = 15.0     # longest wait for a flood to die down
START_S = 60.0      # longest wait for the nodes to start and settle
IDLE_SWEEPS = 20    # status sweeps timed alone, to subtract their CPU

SUM_KEYS = ("forwarded", "quer_received", "quer_handled", "dup_dropped",
            "own_dropped", "rate_dropped", "forward_dropped", "aque_sent",
            "aque_received", "answers_dropped", "answers_unmatched",
            "oneshot_failed", "oneshot_dropped")


# ---- graph ------------------------------------------------------------------


def regular_graph(n, d, rng, max_tries=100000):
    """A random simple connected d-regular graph on n vertices by the
    pairing (configuration) model, drawn again until simple and connected.
    Returns (sorted edge list, adjacency lists, tries)."""
    if n * d % 2 or not 0 < d < n:
        raise ValueError("no %d-regular graph on %d vertices" % (d, n))
    for tries in range(1, max_tries + 1):
        stubs = [v for v in range(n) for _ in range(d)]
        rng.shuffle(stubs)
        edges = set()
        for a, b in zip(stubs[0::2], stubs[1::2]):
            e = (min(a, b), max(a, b))
            if a == b or e in edges:
                break
            edges.add(e)
        else:
            adj = [[] for _ in range(n)]
            for a, b in sorted(edges):
                adj[a].append(b)
                adj[b].append(a)
            if -1 not in bfs(adj, 0):
                return sorted(edges), adj, tries
    raise ValueError("no simple connected graph in %d tries" % max_tries)


def bfs(adj, src):
    """Hop distance from src to every vertex (-1: unreachable)."""
    dist = [-1] * len(adj)
    dist[src] = 0
    todo = collections.deque([src])
    while todo:
        v = todo.popleft()
        for w in adj[v]:
            if dist[w] < 0:
                dist[w] = dist[v] + 1
                todo.append(w)
    return dist


# ---- the nodes' counters ----------------------------------------------------


def gnutella_status(h, node, ctl):
    """The gnutella counters of one node, with its one-shot queue."""
    if node.proc.poll() is not None:
        raise h.BenchError("node %s exited with %s:\n%s" % (
            node.addr, node.proc.returncode, node.tail()))
    try:
        st = ctl.call("status")
    except (OSError, h.BenchError) as e:
        raise h.BenchError("status of %s: %s\n%s" % (node.addr, e,
                                                     node.tail()))
    for ov in st.get("overlays") or ():
        if ov.get("name") == "gnutella":
            c = dict(ov["counters"])
            c["active"] = ov["oneshot_active"] + ov["oneshot_queued"]
            c["nb"] = ov["neighbours"]
            return c
    raise h.BenchError("node %s has no gnutella overlay: %r" % (node.addr,
                                                                st))


SWEEPS = [0]  # snapshots taken, to tell the polling's CPU from the floods'


def snapshot(h, nodes, ctls):
    SWEEPS[0] += 1
    return [gnutella_status(h, n, c) for n, c in zip(nodes, ctls)]


def delta(after, before, key):
    return [a[key] - b[key] for a, b in zip(after, before)]


def in_flight(after, before):
    """Messages written by a node and not yet counted by their receiver,
    plus the one-shots still queued or connecting."""
    sent = sum(delta(after, before, "oneshot_sent"))
    got = sum(sum(delta(after, before, k)) for k in (
        "quer_received", "aque_received", "near_received", "anea_received"))
    return sent - got + sum(a["active"] for a in after)


def settle(h, nodes, ctls, before, ready=lambda s: True, timeout=SETTLE_S):
    """Poll every node's counters until the traffic started since `before`
    is over: nothing queued or in flight, and two sweeps in a row equal.
    Returns (snapshot, True) or, after timeout, (last snapshot, False)."""
    deadline = time.monotonic() + timeout
    prev = None
    while True:
        time.sleep(h.POLL_S)
        cur = snapshot(h, nodes, ctls)
        if ready(cur) and in_flight(cur, before) == 0 and cur == prev:
            return cur, True
        if time.monotonic() > deadline:
            return cur, False
        prev = cur


# ---- one query --------------------------------------------------------------


def run_query(h, nodes, ctls, before, orig, term, ttl):
    """Start a search of term with ttl on node orig and wait for its flood
    to die down. Returns (counters after, settled, open search) where the
    open search is (Ctl, request id) whose hits are read by finish_query."""
    search = h.Ctl(nodes[orig].sock)
    rid = search.send("search", term=term, ttl=ttl, window=WINDOW_S,
                      overlay="gnutella")
    started = before[orig]["searches"]
    after, ok = settle(h, nodes, ctls, before,
                       lambda s: s[orig]["searches"] > started)
    return after, ok, (search, rid)


def finish_query(h, node, search):
    """Read an open search to its final reply. Returns the hit events."""
    ctl, rid = search
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
    finally:
        ctl.close()
    if not m.get("ok"):
        raise h.BenchError("search on %s failed: %s" % (node.addr,
                                                        m.get("error")))
    return hits


# ---- the benchmark ----------------------------------------------------------


def bench_gnutella(h, warren, work, say, n=50, degree=4, ttls=(2, 3, 4, 5, 8),
                   queries=10, seed=1):
    rng = random.Random(seed)
    edges, adj, tries = regular_graph(n, degree, rng)
    dist = [bfs(adj, v) for v in range(n)]
    diameter = max(max(d) for d in dist)
    origs = rng.sample(range(n), min(queries, n))
    common = set(rng.sample(range(n), min(COMMON_HOLDERS, n)))
    holders = {"bench": set(range(n)), "common": common}
    e = len(edges)
    tree = 2 * e - (n - 1)

    say("Gnutella flooding: %d nodes on a random %d-regular graph (seed %d, "
        "pairing model, %d draw%s), E = %d edges, 2E = %d, diameter %d"
        % (n, degree, seed, tries, "" if tries == 1 else "s", e, 2 * e,
           diameter))
    per_hop = collections.Counter(x for o in origs for x in dist[o])
    say.text("nodes at distance 1, 2, 3...  from an originator (mean over "
             "the %d originators): %s" % (len(origs), ", ".join(
                 "%.1f" % (per_hop[k] / len(origs))
                 for k in range(1, diameter + 1))))
    say.text("every node shares bench-<i>.dat (term \"bench\": one match on "
             "every node); %d nodes also share the same common.dat (term "
             "\"common\")" % len(common))
    say.text("%d originators, the same for every row, one search at a time "
             "(control socket `search`, window %.0f s); before and after "
             "each, the gnutella counters of all %d nodes are read; after = "
             "once nothing is queued or in flight and two sweeps in a row "
             "are equal" % (len(origs), WINDOW_S, n))
    say.text("msgs: QUER copies sent = the originator's own sends + the sum "
             "of `forwarded`; dups: sum of `dup_dropped` + `own_dropped`; "
             "reached: nodes whose `quer_handled` went up, next to the "
             "nodes within TTL hops (BFS); hits: hit events at the "
             "originator, next to the holders within TTL hops; first/last: "
             "median over the queries of the first and last hit's t_ms")
    say.text("a flood that reaches every node sends 2E - (N - 1) = %d "
             "copies: each edge carries the query both ways, except the "
             "N - 1 edges by which a node first got it" % tree)
    say()

    # -- start the nodes
    t_start = time.perf_counter()
    shares = []
    for i in range(n):
        share = os.path.join(work, "gnut-share-%02d" % i)
        os.makedirs(share)
        with open(os.path.join(share, "bench-%02d.dat" % i), "wb") as f:
            f.write(b"bench file %d\n" % i)
        if i in common:
            with open(os.path.join(share, "common.dat"), "wb") as f:
                f.write(b"common file\n")
        shares.append(share)
    extra = ("--overlay", "gnutella", "--gnutella-min-neighbours", "0",
             "--gnutella-discovery-interval", "3600",
             "--gnutella-near-ttl", "1", "--gnutella-flood-rate", "0",
             "--rescan-interval", "3600")
    nodes = [h.Node(warren, work, "gnut-%02d" % i, shares[i], extra)
             for i in range(n)]
    for a, b in edges:
        nodes[a].cmd += ["--neighbour", nodes[b].addr]
        nodes[b].cmd += ["--neighbour", nodes[a].addr]
    index = {node.addr: i for i, node in enumerate(nodes)}
    ctls = []
    try:
        for node in nodes:
            node.start()
        for i, node in enumerate(nodes):
            ctl = node.connect()
            ctls.append(ctl)
            node.wait_hashed(ctl, 2 if i in common else 1, START_S)

        def neighbours_set(snap):
            return all(c["nb"]["up"] + c["nb"]["unknown"] == degree
                       and c["nb"]["down"] == 0 for c in snap)

        zero = [collections.defaultdict(int) for _ in nodes]
        base, ok = settle(h, nodes, ctls, zero, neighbours_set, START_S)
        if not ok:
            raise h.BenchError("the nodes did not settle after start: %r"
                               % [c["nb"] for c in base])
        t_ready = time.perf_counter() - t_start

        # What the status polling costs the nodes, on its own.
        cpu0 = nodes_cpu(h, nodes)
        for _ in range(IDLE_SWEEPS):
            snapshot(h, nodes, ctls)
        cpu_sweep = (nodes_cpu(h, nodes) - cpu0) / IDLE_SWEEPS

        cpu0 = nodes_cpu(h, nodes)
        sweeps0 = SWEEPS[0]

        # -- the queries
        rows = []
        anomalies = []
        pending = []
        t_q = time.perf_counter()
        for term in TERMS:
            for ttl in ttls:
                recs = []
                for o in origs:
                    before = base
                    base, ok, search = run_query(h, nodes, ctls, before, o,
                                                 term, ttl)
                    rec = measure(before, base, o, term, ttl, dist, adj,
                                  holders[term], anomalies)
                    if not ok:
                        anomalies.append(
                            "%s ttl %d from node %d: counters did not "
                            "settle in %.0f s (in flight: %d)" % (
                                term, ttl, o, SETTLE_S,
                                in_flight(base, before)))
                    pending.append((rec, search))
                    recs.append(rec)
                rows.append((term, ttl, recs))
        t_q = time.perf_counter() - t_q
        cpu = nodes_cpu(h, nodes) - cpu0
        sweeps = SWEEPS[0] - sweeps0
        for rec, search in pending:
            hits = finish_query(h, nodes[rec["orig"]], search)
            check_hits(rec, hits, index, anomalies)
        final = snapshot(h, nodes, ctls)
        learned = sum(c["learned"] + c["lost"] for c in final)
        if learned:
            anomalies.append("neighbours learned or lost during the run: "
                             "%d" % learned)
    finally:
        for c in ctls:
            c.close()
    stop_all(nodes)  # on an error, bench/run's cleanup() stops them

    # -- the table
    for term in TERMS:
        say("  term \"%s\": %s" % (term, "a match on every node"
                                   if term == "bench" else
                                   "common.dat on %d nodes" % len(common)))
        say("  %3s %6s %6s %5s %5s %6s %13s %15s %8s %8s" % (
            "TTL", "msgs", "msgs/E", "dups", "AQUE", "recv", "reached/BFS",
            "hits/expected", "first ms", "last ms"))
        for t, ttl, recs in rows:
            if t != term:
                continue
            first = [r["first"] for r in recs if r["first"] is not None]
            last = [r["last"] for r in recs if r["last"] is not None]
            say("  %3d %6.1f %6.2f %5.1f %5.1f %6.1f %13s %15s %8s %8s" % (
                ttl, mean(r["msgs"] for r in recs),
                mean(r["msgs"] for r in recs) / e,
                mean(r["dups"] for r in recs),
                mean(r["aque"] for r in recs),
                mean(r["recv"] for r in recs),
                "%.1f/%.1f" % (mean(r["reached"] for r in recs),
                               mean(r["ball"] for r in recs)),
                "%d/%d" % (sum(r["found"] for r in recs),
                           sum(r["expected"] for r in recs)),
                "%.0f" % h.median(first) if first else "-",
                "%.0f" % h.median(last) if last else "-"))
        say()
    nq = sum(len(recs) for _t, _l, recs in rows)
    say("  context:")
    say.note("queries", "%d in %.1f s (%.0f ms each, polling included); "
             "nodes started and settled in %.1f s" % (nq, t_q,
                                                      1000 * t_q / nq,
                                                      t_ready))
    poll = cpu_sweep * sweeps
    onesh = sum(r["msgs_all"] for _t, _l, recs in rows for r in recs)
    say.note("CPU s of all nodes, queries", "%.2f s = %.1f ms per query, "
             "of which status polling ~%.1f ms (%.1f sweeps of %d nodes a "
             "query, %.2f ms a sweep on idle nodes)" % (
                 cpu, 1000 * cpu / nq, 1000 * poll / nq, sweeps / nq, n,
                 1000 * cpu_sweep))
    say.note("CPU s per message", "~%.0f us, both ends: (CPU - polling) / "
             "%d one-shot messages (QUER and AQUE), %.0f a query"
             % (1e6 * (cpu - poll) / max(onesh, 1), onesh, onesh / nq))
    missed = collections.Counter()
    for _t, ttl, recs in rows:
        for r in recs:
            missed.update("at distance = TTL" if x == ttl else
                          "closer than TTL" for x in r["missed"])
    say.note("within TTL, not reached", ", ".join(
        "%d %s" % (missed[k], k) for k in sorted(missed))
        + " (all queries; see reached/BFS)" if missed else "none")
    if anomalies:
        say.note("ANOMALIES", "%d (not a failure of the bench; see below)"
                 % len(anomalies))
        for a in anomalies[:40]:
            say.text(a)
        if len(anomalies) > 40:
            say.text("... and %d more" % (len(anomalies) - 40))
    else:
        say.note("consistency", "every copy sent was received; every hit "
                 "came from a node that handled the query, within TTL; "
                 "every reached holder gave its hit")


def stop_all(nodes):
    """SIGTERM every node at once, then wait for each: Node.stop() alone
    would stop them one by one, and a second SIGTERM to a node that is
    already stopping makes it exit at once (-15)."""
    for node in nodes:
        if node.proc.poll() is None:
            node.proc.terminate()
    for node in nodes:
        try:
            node.proc.wait(30)
        except subprocess.TimeoutExpired:
            pass  # Node.stop() kills it and says so
        node.stop()


def nodes_cpu(h, nodes):
    return sum(h.task_cpu(node.proc.pid) for node in nodes)


def mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs) if xs else 0.0


def measure(before, after, o, term, ttl, dist, adj, holders, anomalies):
    """The figures of one query from the counters before and after."""
    d = {k: delta(after, before, k) for k in SUM_KEYS + (
        "oneshot_sent", "anea_sent")}
    own_sends = (d["oneshot_sent"][o] + d["oneshot_failed"][o]
                 + d["oneshot_dropped"][o] - d["forwarded"][o]
                 - d["aque_sent"][o] - d["anea_sent"][o])
    reached = {v for v, x in enumerate(d["quer_handled"]) if x > 0}
    ball = {v for v, x in enumerate(dist[o]) if 0 < x <= ttl}
    rec = {
        "orig": o, "term": term, "ttl": ttl,
        "msgs": own_sends + sum(d["forwarded"]),
        "recv": sum(d["quer_received"]),
        "dups": sum(d["dup_dropped"]) + sum(d["own_dropped"]),
        "aque": sum(d["aque_sent"]),
        "reached": len(reached), "ball": len(ball),
        "reached_set": reached,
        "missed": [dist[o][v] for v in sorted(ball - reached)],
        "msgs_all": sum(d["oneshot_sent"]),
        "expected_set": holders & ball,
        "expected": len(holders & ball),
        "found": 0, "first": None, "last": None,
    }
    what = "%s ttl %d from node %d" % (term, ttl, o)
    for k in ("rate_dropped", "forward_dropped", "answers_dropped",
              "answers_unmatched", "oneshot_failed", "oneshot_dropped"):
        if sum(d[k]):
            anomalies.append("%s: %s = %d" % (what, k, sum(d[k])))
    if rec["recv"] != rec["msgs"]:
        anomalies.append("%s: %d QUER copies sent, %d received"
                         % (what, rec["msgs"], rec["recv"]))
    if max(d["quer_handled"]) > 1:
        anomalies.append("%s: a node handled it %d times" % (
            what, max(d["quer_handled"])))
    # A node within TTL hops is missed when each of its neighbours one hop
    # nearer the originator got its first copy over a longer path, with a
    # TTL too low to pass on: it then forwards nothing. A neighbour that
    # did forward must have sent it a copy.
    for v in sorted(ball - reached):
        fwd = [u for u in adj[v] if d["forwarded"][u] > 0 or u == o]
        if fwd:
            anomalies.append("%s: node %d (distance %d) not reached though "
                             "its neighbours %s passed the query on"
                             % (what, v, dist[o][v], fwd))
    if reached - ball:
        anomalies.append("%s: reached nodes beyond TTL hops: %s" % (
            what, sorted(reached - ball)))
    if rec["recv"] != rec["reached"] + rec["dups"]:
        anomalies.append("%s: received %d != handled %d + dups %d" % (
            what, rec["recv"], rec["reached"], rec["dups"]))
    return rec


def check_hits(rec, hits, index, anomalies):
    """Hits against the holders the query reached and BFS expects."""
    what = "%s ttl %d from node %d" % (rec["term"], rec["ttl"], rec["orig"])
    got = set()
    for hit in hits:
        src = [index.get(a) for a in hit["source"]["addrs"]]
        src = [v for v in src if v is not None]
        if not src:
            anomalies.append("%s: hit from an unknown holder %r"
                             % (what, hit["source"]))
            continue
        got.add(src[0])
    rec["found"] = len(hits)
    if hits:
        ts = [hit["t_ms"] for hit in hits]
        rec["first"], rec["last"] = min(ts), max(ts)
    want = rec["expected_set"]
    if got - want:
        anomalies.append("%s: hits from nodes not expected: %s"
                         % (what, sorted(got - want)))
    lost = (want & rec["reached_set"]) - got
    if lost:
        anomalies.append("%s: holders that handled the query but gave no "
                         "hit: %s" % (what, sorted(lost)))
    if len(got) != len(hits):
        anomalies.append("%s: %d hits from %d distinct holders"
                         % (what, len(hits), len(got)))
