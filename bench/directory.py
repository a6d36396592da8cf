"""Directory benchmark, a mode of bench/run (`bench/run --only directory`;
not part of a plain `bench/run`, it takes about 10 minutes with the issue's
sizes). See docs/benchmarks.md.

One `warren directory` (release build, fresh data folder, its own 127.x
address, --search-rate 0) is loaded by bench/dirload.c, a C load generator
speaking the course protocol through src/wire/course.h: LOGI of N sessions,
ADDF of F files spread over them, then FIND from C concurrent clients for T
seconds, every AFIN parsed by its counts and checked against what was
published. Then, in the same run, the same terms are searched in the same
directory.db (opened read-only, the directory idle) by one Python loop with
a plain FTS5 trigram query and one with LIKE '%term%', both LIMIT
max_results (100). The directory's RSS is read from /proc after loading
and after the search; the database's size from the disk.

bench/run passes itself in as `h`: this module uses its spawn, reap,
proc_cpu, next_ip, free_port, wait_listen, BenchError, ROOT and BUILD, and
starts processes only through h.spawn, so that bench/run's cleanup() stops
them on any exit.
"""

import os
import sqlite3
import statistics
import subprocess
import sys
import threading
import time

MAX_RESULTS = 100   # the directory's max_results default: md5s per AFIN
UNLOADED_S = 5      # the 1-client FIND run (service time, context)
CLASSES = ("selective", "medium", "broad")
START_S = 30.0


def add_args(ap):
    """The directory benchmark's options (bench/run's parser)."""
    ap.add_argument("--dir-sessions", type=int, default=10000,
                    help="directory: logged-in sessions (default 10000)")
    ap.add_argument("--dir-files", type=int, default=1000000,
                    help="directory: files published with ADDF "
                    "(default 1000000)")
    ap.add_argument("--dir-clients", type=int, default=64,
                    help="directory: concurrent clients (default 64)")
    ap.add_argument("--dir-seconds", type=int, default=20,
                    help="directory: seconds of FIND, and of each "
                    "reference loop (default 20)")


# ---- processes ---------------------------------------------------------------


def build_dirload(h):
    """bench/dirload of the working tree, in .build/bench (configured
    like bench/run's build; only built when asked for, never installed).
    Measuring another revision's directory (--rev, --bin) uses the
    working tree's load generator."""
    if not os.path.exists(os.path.join(h.BUILD, "build.ninja")):
        subprocess.run(["meson", "setup", h.BUILD, "-Dbuildtype=release"],
                       cwd=h.ROOT, check=True, stdout=subprocess.DEVNULL)
    p = subprocess.run(["ninja", "-C", h.BUILD, "dirload"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if p.returncode != 0:
        raise h.BenchError("cannot build dirload:\n%s" % p.stdout[-3000:])
    return os.path.join(h.BUILD, "dirload")


def status_kib(pid):
    """(VmRSS, VmHWM) of a live process, in KiB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k = line.split(":", 1)[0]
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(line.split()[1])
    return out.get("VmRSS", -1), out.get("VmHWM", -1)


def tail(path, n=3000):
    try:
        with open(path, "rb") as f:
            return f.read()[-n:].decode(errors="replace")
    except OSError:
        return ""


class Directory:
    def __init__(self, h, warren, work):
        self.h = h
        self.dir = os.path.join(work, "directory")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.dir)
        self.ip = h.next_ip()
        self.port = h.free_port(self.ip)
        b2b = h.free_port(self.ip)
        while b2b == self.port:
            b2b = h.free_port(self.ip)
        self.addr = "%s:%d" % (self.ip, self.port)
        self.log_path = os.path.join(self.dir, "directory.log")
        # Probes pushed out of the run: the load generator's sessions do
        # not listen on their PP2P, and would be dropped after 3 probes.
        self.cmd = [warren, "directory", "--listen", self.addr,
                    "--b2b-listen", "%s:%d" % (self.ip, b2b),
                    "--data-dir", self.data, "--search-rate", "0",
                    "--probe-interval", "86400", "--log-level", "warn"]
        self.log = open(self.log_path, "ab")
        self.proc = h.spawn(self.cmd, stdout=self.log,
                            stderr=subprocess.STDOUT)
        h.wait_listen(self.port, self.proc, START_S)

    def alive(self):
        if self.proc.poll() is not None:
            raise self.h.BenchError("the directory exited with %s:\n%s" % (
                self.proc.returncode, tail(self.log_path)))

    def cpu(self):
        return self.h.proc_cpu(self.proc.pid)

    def rss(self):
        return status_kib(self.proc.pid)

    def db_bytes(self):
        total = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                total += os.path.getsize(os.path.join(
                    self.data, "directory.db" + suffix))
            except OSError:
                pass
        return total

    def stop(self):
        rc = self.h.reap(self.proc, 30.0)
        self.log.close()
        if rc != 0:
            raise self.h.BenchError("the directory exited with %s:\n%s" % (
                rc, tail(self.log_path)))


def run_dirload(h, d, cmd):
    """Run dirload while watching the directory; its stderr (progress,
    first errors) goes to ours. Returns {record: {key: value}} from its
    stdout, class records under "class:NAME"."""
    p = h.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True)
    errs = []

    def pump():
        for line in p.stderr:
            errs.append(line)
            sys.stderr.write("  " + line)
            sys.stderr.flush()

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    try:
        while p.poll() is None:
            if d.proc.poll() is not None:
                h.reap(p)
                d.alive()
            time.sleep(0.2)
    finally:
        if p.poll() is None:
            h.reap(p)
    out = p.stdout.read()
    t.join(5)
    rc = h.reap(p)
    recs = {}
    for line in out.splitlines():
        words = line.split()
        if not words:
            continue
        kv = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        key = words[0] + (":" + kv["name"] if words[0] == "class" else "")
        recs[key] = kv
    if rc != 0:
        raise h.BenchError("dirload failed (exit %s): %s\n%s%s" % (
            rc, " ".join(cmd[1:2]), out, "".join(errs[-20:])))
    return recs


# ---- the reference loops -----------------------------------------------------

FTS_SQL = ("SELECT f.md5, f.name FROM files_fts "
           "JOIN files AS f ON f.id = files_fts.rowid "
           "WHERE files_fts MATCH ?1 LIMIT ?2")
# The directory's own answer set: matches in name order (index.c sorts FTS
# candidates by name, or walks the name index for very broad terms).
FTS_ORDER_SQL = ("SELECT f.md5, f.name FROM files_fts "
                 "JOIN files AS f ON f.id = files_fts.rowid "
                 "WHERE files_fts MATCH ?1 "
                 "ORDER BY f.name COLLATE NOCASE, f.md5 LIMIT ?2")
LIKE_SQL = ("SELECT md5, name FROM files "
            "WHERE name LIKE ?1 ESCAPE '\\' LIMIT ?2")


def fts_arg(term):
    return '"%s"' % term.replace('"', '""')


def like_arg(term):
    esc = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "%" + esc + "%"


def ref_loop(db, sql, arg, terms, seconds, counts):
    """Query the terms for `seconds`, classes in turn (each class's terms
    in order, round and round). Returns (latencies s, per class latencies,
    rows-count mismatches). counts: term -> expected rows."""
    by_cls = {c: [t for c_, t in terms if c_ == c] for c in CLASSES}
    by_cls = {c: v for c, v in by_cls.items() if v}
    idx = {c: 0 for c in by_cls}
    lat, per = [], {c: [] for c in by_cls}
    wrong = []
    order = list(by_cls)
    k = 0
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        c = order[k % len(order)]
        k += 1
        term = by_cls[c][idx[c] % len(by_cls[c])]
        idx[c] += 1
        t0 = time.perf_counter()
        rows = db.execute(sql, (arg(term), MAX_RESULTS)).fetchall()
        dt = time.perf_counter() - t0
        lat.append(dt)
        per[c].append(dt)
        if term in counts and len(rows) != counts[term]:
            wrong.append((term, len(rows), counts[term]))
    return lat, per, wrong


def pct(xs, p):
    """Nearest-rank percentile."""
    if not xs:
        return 0.0
    s = sorted(xs)
    k = max(1, min(len(s), -(-len(s) * p // 100)))
    return s[int(k) - 1]


# ---- the benchmark -------------------------------------------------------


def bench_directory(h, warren, work, say, args):
    n_sess, n_files = args.dir_sessions, args.dir_files
    clients, secs = args.dir_clients, args.dir_seconds
    if n_sess < 1 or n_files < 0 or clients < 1 or secs < 1:
        raise h.BenchError("--dir-sessions, --dir-clients and "
                           "--dir-seconds must be at least 1")
    dirload = build_dirload(h)
    ver = sqlite3.connect(":memory:")
    try:
        ver.execute("CREATE VIRTUAL TABLE t USING fts5(x, "
                    "tokenize='trigram')")
    except sqlite3.Error as e:
        raise h.BenchError("Python's SQLite %s has no FTS5 trigram: %s"
                           % (sqlite3.sqlite_version, e))
    ver.close()

    say("Directory: %d sessions, %d files (%.0f each), FIND from %d "
        "clients for %d s" % (n_sess, n_files, n_files / n_sess, clients,
                              secs))
    say.text("warren directory (release, fresh data folder, --search-rate "
             "0, --probe-interval 86400, --log-level warn) loaded by "
             "bench/dirload (C, libuv, src/wire codec) over loopback: one "
             "request per connection, at most %d connections open, "
             "latency from connect to the last byte of the reply parsed by "
             "its counts" % clients)
    say.text("every AFIN is checked: each md5 was published, its name is "
             "the one published and contains the term, its copy is its "
             "session's address; the entry count of each term must equal "
             "min(%d, names matching) as counted with FTS5 below"
             % MAX_RESULTS)
    say.text("terms of 3-10 characters from the names' vocabulary, in "
             "three classes taken in turn: selective (rare made-up "
             "words), medium (words of rank 20-600), broad (extensions, "
             "years, the most common words); some in upper case")
    say.text("reference: the same directory.db opened read-only from "
             "Python's sqlite3 (SQLite %s, the library warren links), the "
             "directory idle, one loop per query kind, LIMIT %d, the same "
             "terms, classes in turn, %d s each; (c), context: (a) in "
             "name order, the set the directory answers"
             % (sqlite3.sqlite_version, MAX_RESULTS, secs))
    say()

    d = Directory(h, warren, work)
    terms_path = os.path.join(d.dir, "terms.tsv")
    common = ["--connect", d.addr, "--sessions", str(n_sess),
              "--files", str(n_files)]
    c0 = d.cpu()
    load = run_dirload(h, d, [dirload, "load"] + common +
                       ["--clients", str(clients)])
    cpu_load = d.cpu() - c0
    rss_load = d.rss()
    db_load = d.db_bytes()

    c0 = d.cpu()
    srch = run_dirload(h, d, [dirload, "search"] + common +
                       ["--clients", str(clients), "--seconds", str(secs),
                        "--terms-out", terms_path])
    cpu_search = d.cpu() - c0
    rss_search = d.rss()
    one = run_dirload(h, d, [dirload, "search"] + common +
                      ["--clients", "1", "--seconds", str(UNLOADED_S)])

    # The reference loops, the directory idle.
    terms, seen = [], {}
    with open(terms_path) as f:
        for line in f:
            cls, term, entries, _n = line.rstrip("\n").split("\t")
            terms.append((cls, term))
            if int(entries) >= 0:
                seen[term] = int(entries)
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(
        d.data, "directory.db"), uri=True, check_same_thread=False)
    nrows = db.execute("SELECT (SELECT count(*) FROM sessions), "
                       "(SELECT count(*) FROM files), "
                       "(SELECT count(*) FROM owners)").fetchone()
    matches = {}
    for _c, term in terms:
        matches[term] = db.execute(
            "SELECT count(*) FROM files_fts WHERE files_fts MATCH ?",
            (fts_arg(term),)).fetchone()[0]
    want = {t: min(MAX_RESULTS, m) for t, m in matches.items()}
    fts = ref_loop(db, FTS_SQL, fts_arg, terms, secs, want)
    like = ref_loop(db, LIKE_SQL, like_arg, terms, secs, want)
    fts_o = ref_loop(db, FTS_ORDER_SQL, fts_arg, terms, secs, want)
    sizes = None
    try:
        sizes = db.execute("SELECT name, sum(pgsize) FROM dbstat "
                           "GROUP BY name ORDER BY 2 DESC").fetchall()
    except sqlite3.Error:
        pass
    db.close()
    d.alive()
    d.stop()

    # ---- report
    def ms(x):
        return "%9.2f" % x

    def row(name, n, rate, p50, p99, mx):
        say("  %-34s %8s %9s %s %s %s" % (name, n, rate, ms(p50), ms(p99),
                                          ms(mx)))

    def drow(name, r):
        row(name, r["n"], "%.0f" % float(r["rate"]), float(r["p50_ms"]),
            float(r["p99_ms"]), float(r["max_ms"]))

    def refrow(name, lat):
        tot = sum(lat)
        row(name, len(lat), "%.0f" % (len(lat) / tot if tot else 0),
            pct(lat, 50) * 1e3, pct(lat, 99) * 1e3, max(lat or [0]) * 1e3)

    say("  %-34s %8s %9s %9s %9s %9s" % ("", "n", "per s", "p50 ms",
                                          "p99 ms", "max ms"))
    drow("LOGI, %d clients" % clients, load["logins"])
    drow("ADDF, %d clients" % clients, load["addf"])
    drow("FIND, %d clients, %d s" % (clients, secs), srch["search"])
    for c in CLASSES:
        r = srch.get("class:" + c)
        if r:
            row("  %s (%s terms)" % (c, r["terms"]), r["n"], "",
                float(r["p50_ms"]), float(r["p99_ms"]), float(r["max_ms"]))
    refrow("(a) FTS5 trigram MATCH, 1 loop", fts[0])
    for c in CLASSES:
        if fts[1].get(c):
            refrow("  " + c, fts[1][c])
    refrow("(b) LIKE '%term%', 1 loop", like[0])
    for c in CLASSES:
        if like[1].get(c):
            refrow("  " + c, like[1][c])
    f_rate = float(srch["search"]["rate"])
    fts_rate = len(fts[0]) / sum(fts[0]) if fts[0] else 0
    like_rate = len(like[0]) / sum(like[0]) if like[0] else 0
    if fts_rate:
        say.ratio("ratio FIND/s / (a) queries/s", f_rate / fts_rate)
    if like_rate:
        say.ratio("ratio FIND/s / (b) queries/s", f_rate / like_rate)
    say()
    say("  context:")
    refrow("(c) as (a), ORDER BY name, 1 loop", fts_o[0])
    for c in CLASSES:
        if fts_o[1].get(c):
            refrow("  " + c, fts_o[1][c])
    drow("FIND, 1 client, %d s" % UNLOADED_S, one["search"])
    for c in CLASSES:
        r = one.get("class:" + c)
        if r:
            row("  " + c, r["n"], "", float(r["p50_ms"]),
                float(r["p99_ms"]), float(r["max_ms"]))
    for c in CLASSES:
        m = [matches[t] for cl, t in terms if cl == c]
        if m:
            say.note("names matching a %s term" % c,
                     "median %d, min %d, max %d (%d terms)" % (
                         statistics.median(m), min(m), max(m), len(m)))
    n_ok = int(load["addf"]["n"]) + int(load["logins"]["n"])
    say.note("directory CPU, load", "%.1f s, %.3f ms per LOGI/ADDF"
             % (cpu_load, 1e3 * cpu_load / max(1, n_ok)))
    n_find = int(srch["search"]["n"])
    say.note("directory CPU, FIND (%d clients)" % clients,
             "%.1f s in %.1f s, %.3f ms per FIND"
             % (cpu_search, float(srch["search"]["wall_s"]),
                1e3 * cpu_search / max(1, n_find)))
    say.note("dirload CPU, load / FIND", "%s s / %s s" % (
        load["load"]["cpu_s"], srch["afin"]["cpu_s"]))
    say.note("AFIN read (%d clients)" % clients, "%s md5 entries, %s "
             "copies" % (srch["afin"]["entries"], srch["afin"]["copies"]))
    say.note("directory RSS after load", "%.1f MiB (VmHWM %.1f MiB)"
             % (rss_load[0] / 1024, rss_load[1] / 1024))
    say.note("directory RSS after FIND", "%.1f MiB (VmHWM %.1f MiB)"
             % (rss_search[0] / 1024, rss_search[1] / 1024))
    say.note("directory.db on disk", "%.1f MiB after load, %.1f MiB at "
             "the end (with -wal, -shm)" % (db_load / 2**20,
                                             d.db_bytes() / 2**20))
    if sizes:
        say.note("  by table and index", ", ".join(
            "%s %.0f" % (n, b / 2**20) for n, b in sizes[:8]
            if b >= 2**20) + " MiB")
    say.note("rows: sessions, files, owners", "%d, %d, %d" % nrows)

    # ---- checks: something broke if these fail
    bad = []
    if nrows[0] != n_sess or nrows[1] != n_files or nrows[2] != n_files:
        bad.append("the database holds %d sessions, %d files, %d owners; "
                   "expected %d, %d, %d" % (nrows + (n_sess, n_files,
                                                      n_files)))
    for term, entries in seen.items():
        if entries != want[term]:
            bad.append("FIND '%s': %d md5s in the AFIN, FTS5 counts %d "
                       "matching names (max_results %d)"
                       % (term, entries, matches[term], MAX_RESULTS))
    for name, r in (("FTS5", fts), ("LIKE", like), ("FTS5 ordered", fts_o)):
        for term, got, exp in r[2][:5]:
            bad.append("%s '%s': %d rows, expected %d" % (name, term, got,
                                                           exp))
    if bad:
        raise h.BenchError("directory benchmark: wrong results:\n  " +
                           "\n  ".join(bad[:20]))
