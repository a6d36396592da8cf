#!/usr/bin/env python3
"""warren's main job, on this machine: a small network of all four
overlays, each process on its own 127.x.y.z address, and files found and
downloaded through each of them, MD5-checked.

  directory  D         the napster directory (course directory protocol)
  introducer I         the chord introducer (chord.md section 2)
  napster    N1, N2    log in to D, publish, search, download
  gnutella   G1-G2-G3  a line of neighbours; queries flood along it
  kazaa      S; K1,K2  a supernode and two peers that log in to it
  chord      C1,C2,C3  a ring joined through I; the file index in the ring
  all four   M         one node in napster, gnutella, kazaa and chord

N2, G3, K2 and C3 share a file of their own each, and the same 4 MiB file
warren-common.bin. In each overlay one node searches and downloads the
other's file; then M searches every overlay at once, finds
warren-common.bin through all four, and downloads it with parts from
several of them.

Everything lives in a temporary run folder (removed at the end unless
--keep, or when something failed). Every process started here is stopped
on exit, on error and on Ctrl-C/SIGTERM, and the script checks that none is
left. Exit status 0 only when every check passed.

Python 3 standard library only. Usually run through scripts/demo, which
installs the packages and builds the release binary first.
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BIN = os.path.join(ROOT, ".build", "release", "warren")

MiB = 1 << 20
COMMON = "warren-common.bin"
STARTUP_TIMEOUT = 90.0  # network up (sanitizer builds on a busy machine)
STEP_TIMEOUT = 60.0  # one search + download
# chord timers of a demo ring: tenths of seconds (defaults: 5 s to 10 min)
CHORD_FAST = ["--chord-stabilize-interval", "0.3", "--chord-fix-fingers-interval", "0.1",
              "--chord-check-predecessor-interval", "1", "--chord-lone-retry-interval", "1",
              "--chord-introducer-refresh-interval", "5"]


class DemoError(Exception):
    """A failed check: a sentence for people, and the processes whose logs
    explain it."""

    def __init__(self, msg, procs=()):
        super().__init__(msg)
        self.procs = [p for p in procs if p is not None]


# --------------------------------------------------------------- helpers


def md5_file(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        while True:
            b = f.read(MiB)
            if not b:
                return h.hexdigest()
            h.update(b)


def write_sample(path, size):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    return md5_file(path)


class Addresses:
    """A fresh loopback address per process: 127.A.B.n, with A.B from our
    pid (A >= 201, apart from the integration tests' 127.1-200.x.x)."""

    def __init__(self):
        pid = os.getpid()
        self.a = 201 + pid % 54
        self.b = 1 + (pid // 54) % 250
        self.n = 0

    def next(self):
        self.n += 1
        return "127.%d.%d.%d" % (self.a, self.b, self.n)


def free_port(ip, taken=()):
    """A port the kernel considers free on ip (not one of taken)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((ip, 0))
            port = s.getsockname()[1]
        if port not in taken:
            return port
    raise DemoError("no free port on %s" % ip)


def tcp_up(ip, port):
    try:
        socket.create_connection((ip, port), 1).close()
        return True
    except OSError:
        return False


def _child_setup():
    """In the child before exec: its own process group (Ctrl-C reaches
    only this script, which stops everyone in order), and SIGKILL if this
    script dies without cleaning up (Linux prctl PR_SET_PDEATHSIG)."""
    os.setpgid(0, 0)
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
    except Exception:  # not Linux: the cleanup below still stops everyone
        pass


class Ctl:
    """A JSON-lines client of a node's control socket (docs/control-api.md)."""

    def __init__(self, path, timeout=STEP_TIMEOUT):
        self.buf = b""
        self.next_id = 1
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
            hello = self.recv()
        except BaseException:
            self.sock.close()
            raise
        if hello.get("event") != "hello" or hello.get("proto") != 1:
            self.sock.close()
            raise OSError("unexpected greeting %r" % hello)

    def close(self):
        self.sock.close()

    def recv(self):
        while b"\n" not in self.buf:
            b = self.sock.recv(1 << 20)
            if not b:
                raise EOFError("the node closed its control socket")
            self.buf += b
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def events(self, op, **kw):
        """Send a request; every message for it, the final one last."""
        req = {"op": op, "id": self.next_id}
        self.next_id += 1
        req.update(kw)
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        out = []
        while True:
            m = self.recv()
            if m.get("id") != req["id"]:
                continue
            out.append(m)
            if m.get("done"):
                return out


# ------------------------------------------------------------- processes


class Proc:
    """One process of the demo: a node, the directory or the introducer."""

    def __init__(self, demo, name, kind, ip, port=None):
        self.demo = demo
        self.name = name
        self.kind = kind
        self.ip = ip
        self.port = port or free_port(ip)
        self.addr = "%s:%d" % (ip, self.port)
        self.dir = os.path.join(demo.run, name)
        self.share = os.path.join(self.dir, "share")
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "ctl.sock")
        self.log_path = os.path.join(self.dir, "log")
        self.args = []
        self.popen = None
        self.expect_files = 0
        os.makedirs(self.share if kind == "node" else self.dir, exist_ok=True)

    def command(self):
        w = self.demo.bin
        if self.kind == "node":
            return [w, "node", "--config", self.demo.empty_conf, "--listen", self.addr,
                    "--share", self.share, "--data-dir", self.data, "--socket", self.sock,
                    "--log-level", "info"] + self.args
        return [w, self.kind, "--listen", self.addr, "--data-dir", self.data,
                "--log-level", "info"] + self.args

    def start(self):
        with open(self.log_path, "ab") as log:
            env = dict(os.environ)
            env.pop("WARREN_TEST_FAULTS", None)  # tests only
            try:
                self.popen = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, env=env,
                                              stdout=log, stderr=subprocess.STDOUT,
                                              cwd=self.dir, preexec_fn=_child_setup)
            except OSError as e:
                raise DemoError("cannot run %s: %s" % (self.demo.bin, e))
        self.demo.procs.append(self)
        return self

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def check_alive(self):
        if self.popen is not None and self.popen.poll() is not None:
            raise DemoError("%s (%s) exited with status %s" %
                            (self.name, self.kind, self.popen.returncode), [self])

    def log_tail(self, n=20):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return ["(no log)"]
        return lines[-n:] or ["(empty log)"]

    def listening(self):
        self.check_alive()
        if self.kind != "node":
            return tcp_up(self.ip, self.port)
        if not os.path.exists(self.sock):
            return False
        try:
            Ctl(self.sock, timeout=5).close()
            return True
        except (OSError, EOFError, ValueError):
            return False

    # control socket

    def call(self, op, **kw):
        self.check_alive()
        try:
            c = Ctl(self.sock)
            try:
                return c.events(op, **kw)
            finally:
                c.close()
        except (OSError, EOFError, ValueError) as e:
            self.check_alive()
            raise DemoError("%s: control socket, op %s: %s" % (self.name, op, e), [self])

    def result(self, op, **kw):
        final = self.call(op, **kw)[-1]
        if not final.get("ok"):
            raise DemoError("%s: %s failed: %s" % (self.name, op, final.get("error")), [self])
        return final["result"]

    def overlay(self, status, name):
        for ov in status.get("overlays") or []:
            if ov.get("name") == name:
                return ov
        raise DemoError("%s has not joined %s: %r" % (self.name, name, status.get("overlays")),
                        [self])


# ------------------------------------------------------------------ demo


class Demo:
    def __init__(self, opts):
        self.bin = os.path.abspath(opts.bin)
        self.opts = opts
        self.procs = []
        self.addrs = Addresses()
        self.rows = []
        self.run = None

    # set-up ------------------------------------------------------------

    def has(self, *helpargs, needle=None):
        p = subprocess.run([self.bin, "help"] + list(helpargs), capture_output=True,
                           text=True, timeout=30)
        return p.returncode == 0 and (needle is None or needle in p.stdout)

    def make_run_folder(self):
        if self.opts.run_dir:
            self.run = os.path.abspath(self.opts.run_dir)
            os.makedirs(self.run, exist_ok=True)
            if os.listdir(self.run):
                raise DemoError("run folder %s is not empty" % self.run)
        else:
            self.run = tempfile.mkdtemp(prefix="warren-demo.")
        # A control socket path must fit in sun_path (108 bytes).
        if len(os.path.join(self.run, "XX", "ctl.sock")) > 100:
            raise DemoError("run folder path too long for a Unix socket: %s" % self.run)
        # An empty config file: a user's warren.conf must not change the demo.
        self.empty_conf = os.path.join(self.run, "empty.conf")
        open(self.empty_conf, "w").close()

    def wait(self, what, checks, timeout, procs):
        """Poll until every check (name -> callable returning True or a
        string saying what is missing) is true; every process in procs
        must stay alive. Returns the seconds it took."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        pending = list(checks.items())
        while pending:
            for p in procs:
                p.check_alive()
            # one control request per round: the first check not yet met
            if pending[0][1]() is True:
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                why, names = [], set()
                for key, check in pending:
                    v = check()
                    if v is not True:
                        why.append("%s: %s" % (key, v))
                        names.add(key.split(":")[0])
                raise DemoError("timed out after %.0f s waiting for %s:\n  %s" %
                                (timeout, what, "\n  ".join(why)),
                                [p for p in procs if p.name in names] or procs)
            time.sleep(0.1)
        return time.monotonic() - t0

    # the network ---------------------------------------------------------

    def start_servers(self):
        d = self.directory = Proc(self, "D", "directory", self.addrs.next())
        if self.has("directory", needle="b2b_listen"):
            # its beer2beer port too, on its own address (default [::]:8888)
            d.args += ["--b2b-listen", "%s:%d" % (d.ip, free_port(d.ip, {d.port}))]
        d.start()
        self.introducer = Proc(self, "I", "introducer", self.addrs.next()).start()
        s = self.supernode = Proc(self, "S", "node", self.addrs.next())
        s.args = ["--overlay", "kazaa", "--kazaa-role", "supernode",
                  "--kazaa-find-window", "1"]
        s.start()
        servers = [p for p in (d, self.introducer, s) if p]
        self.wait("the directory, the introducer and the supernode to listen",
                  {p.name: p.listening for p in servers}, 30, servers)

    def build_nodes(self):
        ip = self.addrs.next
        D, S, I = self.directory, self.supernode, self.introducer
        n1, n2 = Proc(self, "N1", "node", ip()), Proc(self, "N2", "node", ip())
        g1, g2, g3 = (Proc(self, "G%d" % i, "node", ip()) for i in (1, 2, 3))
        k1, k2 = Proc(self, "K1", "node", ip()), Proc(self, "K2", "node", ip())
        c1, c2, c3 = (Proc(self, "C%d" % i, "node", ip()) for i in (1, 2, 3))
        m = Proc(self, "M", "node", ip())
        m_gnut = free_port(m.ip, {m.port})
        m_kazaa = free_port(m.ip, {m.port, m_gnut})
        m_chord = free_port(m.ip, {m.port, m_gnut, m_kazaa})

        for n in (n1, n2):
            n.args = ["--overlay", "napster", "--directory", D.addr]
        # a line G1 - G2 - G3; min_neighbours 0 keeps it a line (no NEAR
        # discovery of other neighbours); liveness checked every second
        gnut = ["--overlay", "gnutella", "--gnutella-min-neighbours", "0",
                "--gnutella-discovery-interval", "1"]
        g1.args = gnut + ["--neighbour", g2.addr]
        g2.args = gnut + ["--neighbour", g1.addr, "--neighbour", g3.addr]
        g3.args = gnut + ["--neighbour", g2.addr]
        for k in (k1, k2):
            k.args = ["--overlay", "kazaa", "--kazaa-known", S.addr,
                      "--kazaa-supe-window", "0.5"]
        # chord: the ring port beside the main port, timers in tenths of
        # seconds instead of the defaults' seconds and minutes
        for c in (c1, c2, c3):
            c.ring = free_port(c.ip, {c.port})
            c.args = ["--overlay", "chord", "--chord-listen", "%s:%d" % (c.ip, c.ring)]
        for c in (c1, c2, c3, m):
            c.args += ["--chord-introducer", I.addr] + CHORD_FAST
        # M: napster on the main port, the others on their own
        m.args = ["--overlay", "napster,gnutella,kazaa,chord",
                  "--directory", D.addr,
                  "--neighbour", g1.addr, "--gnutella-min-neighbours", "0",
                  "--gnutella-discovery-interval", "1",
                  "--gnutella-listen", "%s:%d" % (m.ip, m_gnut),
                  "--kazaa-known", S.addr, "--kazaa-supe-window", "0.5",
                  "--kazaa-listen", "%s:%d" % (m.ip, m_kazaa),
                  "--chord-listen", "%s:%d" % (m.ip, m_chord)] + m.args
        self.n1, self.n2, self.g1, self.g2, self.g3 = n1, n2, g1, g2, g3
        self.k1, self.k2, self.m = k1, k2, m
        self.c1, self.c2, self.c3 = c1, c2, c3
        self.nodes = [n1, n2, g1, g2, g3, k1, k2, c1, c2, c3, m]

        # sample files: one of its own on N2, G3, K2 and C3, and the same
        # 4 MiB file on all four
        self.samples = {
            "napster": (n2, "Annual_Report.pdf", 300 * 1024, "report"),
            "gnutella": (g3, "Holiday_Video.mp4", 2 * MiB, "holiday"),
            "kazaa": (k2, "debian-12-netinst.iso", 1 * MiB, "netinst"),
            "chord": (c3, "Lecture_Notes_Chord.pdf", 512 * 1024, "lecture notes"),
        }
        self.md5 = {}
        for ov, (node, name, size, _) in self.samples.items():
            self.md5[ov] = write_sample(os.path.join(node.share, name), size)
            node.expect_files = 2
        common = os.path.join(n2.share, COMMON)
        self.md5[COMMON] = write_sample(common, 4 * MiB)
        for node in (g3, k2, c3):
            shutil.copyfile(common, os.path.join(node.share, COMMON))

    def start_nodes(self):
        for n in self.nodes:
            n.start()
        everyone = self.procs
        checks = {}
        for n in self.nodes + [self.supernode]:
            checks[n.name + ":library"] = self._library_ready(n)
        for n in (self.n1, self.n2, self.m):
            checks[n.name + ":napster"] = self._napster_ready(n)
        for n in (self.k1, self.k2, self.m):
            checks[n.name + ":kazaa"] = self._kazaa_joined(n)
        checks["S:kazaa index"] = self._supernode_has(2)
        for n in (self.g1, self.g2, self.g3, self.m):
            checks[n.name + ":gnutella"] = self._neighbours_up(n)
        checks["C1:chord ring"] = self._ring_consistent([self.c1, self.c2, self.c3, self.m])
        checks["C3:chord index"] = self._published(self.c3)
        return self.wait("the network", checks, STARTUP_TIMEOUT, everyone)

    def _library_ready(self, n):
        def f():
            if not n.listening():
                return "control socket not up yet"
            lib = n.result("status")["library"]
            if lib["ready"] and lib["files"] == n.expect_files:
                return True
            return "library ready=%s files=%s (want %d)" % (lib["ready"], lib["files"],
                                                          n.expect_files)
        return f

    def _napster_ready(self, n):
        def f():
            st = n.overlay(n.result("status"), "napster")
            if st["state"] == "ready" and st["files"] == n.expect_files:
                return True
            return "napster state=%s files=%s error=%r" % (st["state"], st["files"],
                                                         st.get("error"))
        return f

    def _kazaa_joined(self, n):
        def f():
            st = n.overlay(n.result("status"), "kazaa")
            if st.get("state") == "joined" and st.get("supernode") == self.supernode.addr:
                return True
            return "kazaa state=%s supernode=%s" % (st.get("state"), st.get("supernode"))
        return f

    def _supernode_has(self, files):
        def f():
            s = self.supernode
            st = s.overlay(s.result("status"), "kazaa")
            idx = st.get("index") or {}
            if idx.get("files") == files:
                return True
            return "supernode index %r (want %d files)" % (idx, files)
        return f

    def _ring_consistent(self, members):
        """Every member joined, each one's successor the next id clockwise
        and its predecessor the one before (chord.md section 3.2)."""
        def f():
            st = {n.name: n.overlay(n.result("status"), "chord") for n in members}
            if any(x["state"] != "joined" for x in st.values()):
                return "ring states %s" % {k: x["state"] for k, x in st.items()}
            ring = sorted(st.values(), key=lambda x: x["id"])
            for i, x in enumerate(ring):
                succ = x["successors"][0]["id"] if x["successors"] else None
                pred = (x.get("predecessor") or {}).get("id")
                if succ != ring[(i + 1) % len(ring)]["id"] or pred != ring[i - 1]["id"]:
                    return "ring not consistent yet at %s" % x["addr"]
            return True
        return f

    def _published(self, n):
        def f():
            st = n.overlay(n.result("status"), "chord")["counters"]
            if (st.get("published_keys", 0) > 0 and st.get("publish_queued") == 0 and
                    st.get("publish_running") == 0):
                return True
            return "chord publication: %d keys published, %s queued" % (
                st.get("published_keys", 0), st.get("publish_queued"))
        return f

    def _neighbours_up(self, n):
        def f():
            for ov in n.result("peers")["overlays"]:
                if ov["name"] == "gnutella":
                    conf = [p for p in ov["peers"] if p.get("origin") == "configured"]
                    if conf and all(p["state"] == "up" for p in conf):
                        return True
                    return "gnutella neighbours %s" % ", ".join(
                        "%s %s" % (p["label"], p["state"]) for p in conf)
            return "no gnutella overlay in peers"
        return f

    # searches and downloads ----------------------------------------------

    def search(self, node, term, want, procs, overlay=None, window=2.0):
        """Search from node until the hits satisfy want(hits) (a few tries,
        the window growing); returns (hits, final result, tries)."""
        for tries in range(1, 4):
            kw = {"term": term, "window": window * tries}
            if overlay:
                kw["overlay"] = overlay
            msgs = node.call("search", **kw)
            final = msgs[-1]
            if not final.get("ok"):
                raise DemoError("%s: search %r failed: %s" % (node.name, term, final.get("error")),
                                procs)
            hits = [m["hit"] for m in msgs if m.get("event") == "hit"]
            errors = [o for o in final["result"].get("overlays", []) if o.get("error")]
            if want(hits) and not errors:
                return hits, final["result"], tries
        raise DemoError("%s: search %r: %d hits %s, overlays %s" % (
            node.name, term, len(hits),
            [(h["overlay"], h["name"], h["source"]["label"]) for h in hits],
            final["result"].get("overlays")), procs)

    def get(self, node, md5, procs):
        """get without `from`: the node uses the holders its search found.
        Returns the final download object, after checking the file."""
        final = node.call("get", md5=md5)[-1]
        if not final.get("ok"):
            raise DemoError("%s: get %s failed: %s" % (node.name, md5, final.get("error")), procs)
        d = final["result"]["download"]
        if d.get("state") != "done":
            raise DemoError("%s: download of %s ended %s: %s" %
                            (node.name, md5, d.get("state"), d.get("error")), procs)
        got = md5_file(d["path"])
        if got != md5:
            raise DemoError("%s: %s on disk has MD5 %s, the source's is %s" %
                            (node.name, d["path"], got, md5), procs)
        return d

    def overlay_round(self, overlay, searcher, extra_procs):
        holder, name, size, term = self.samples[overlay]
        md5 = self.md5[overlay]
        procs = [searcher, holder] + extra_procs
        t0 = time.monotonic()

        def found(hits):
            return any(h["md5"] == md5 and h["source"]["label"] == holder.addr and
                       h["overlay"] == overlay for h in hits)
        hits, _, tries = self.search(searcher, term, found, procs, overlay=overlay)
        d = self.get(searcher, md5, procs)
        dt = time.monotonic() - t0
        self.rows.append((overlay, "%s -> %s" % (holder.name, searcher.name), term,
                          len(hits), "ok", dt))
        print("  %-8s %s searched %r: %d hit(s)%s; got %s from %s (%s), MD5 %s ok" % (
            overlay, searcher.name, term, len(hits),
            " after %d tries" % tries if tries > 1 else "",
            os.path.basename(d["path"]), holder.name, holder.addr, md5))

    def name_of(self, label):
        for p in self.procs:
            if p.addr == label:
                return p.name
        return label

    def merged_round(self):
        m, md5 = self.m, self.md5[COMMON]
        procs = [m, self.n2, self.g3, self.k2, self.directory, self.supernode,
                 self.g1, self.g2]
        t0 = time.monotonic()

        procs += [self.c3, self.introducer]

        def four(hits):
            mine = [h for h in hits if h["md5"] == md5]
            return (len({h["overlay"] for h in mine}) == 4 and
                    len({h["source"]["label"] for h in mine}) >= 4)
        hits, res, tries = self.search(m, "warren-common", four, procs)
        mine = sorted((h for h in hits if h["md5"] == md5), key=lambda h: h["overlay"])
        via = {h["source"]["label"]: h["overlay"] for h in mine}
        d = self.get(m, md5, procs)
        # Which holders sent verified parts, and through which overlay M
        # found them.
        downloads = m.result("downloads")["downloads"]
        dl = [x for x in downloads if x.get("id") == d.get("id")]
        if not dl:
            raise DemoError("M: download %s is not in `downloads`" % d.get("id"), procs)
        sl = dl[-1].get("source_list") or []
        used = [s for s in sl if (s.get("good_parts") or 0) > 0]
        used_ovs = {via[s["label"]] for s in used if s["label"] in via}
        parts = ", ".join("%d from %s (%s)" % (s["good_parts"], self.name_of(s["label"]),
                                               via.get(s["label"], "?")) for s in used)
        if len({s["label"] for s in used}) < 2 or len(used_ovs) < 2:
            raise DemoError("M: the parts of %s came from %s only (source_list %s)" %
                            (COMMON, parts or "nobody", sl), procs)
        dt = time.monotonic() - t0
        self.rows.append(("merged", "%s -> M" % "+".join(
            self.name_of(h["source"]["label"]) for h in mine), "warren-common",
            len(mine), "ok", dt))
        print("  %-8s M searched %r in all its overlays: %d hits%s, one MD5 %s:" % (
            "merged", "warren-common", len(mine),
            " after %d tries" % tries if tries > 1 else "", md5))
        for h in mine:
            print("             through %-8s  %-3s %s" % (
                h["overlay"], self.name_of(h["source"]["label"]), h["source"]["label"]))
        print("           got %s (%d parts): %s; MD5 ok" % (COMMON, dl[-1].get("parts", 0), parts))
        return res

    # the whole scenario ---------------------------------------------------

    def scenario(self):
        t_start = time.monotonic()
        print("warren demo: %s" % self.bin)
        print("run folder: %s" % self.run)
        self.start_servers()
        print("  directory  D  %s" % self.directory.addr)
        print("  introducer I  %s (chord bootstrap)" % self.introducer.addr)
        print("  kazaa      S  %s (supernode)" % self.supernode.addr)
        self.build_nodes()
        took = self.start_nodes()
        n = self
        print("  napster    N1 %s, N2 %s" % (n.n1.addr, n.n2.addr))
        print("  gnutella   G1 %s - G2 %s - G3 %s" % (n.g1.addr, n.g2.addr, n.g3.addr))
        print("  kazaa      K1 %s, K2 %s -> S" % (n.k1.addr, n.k2.addr))
        print("  chord      C1 %s, C2 %s, C3 %s (ring ports %d, %d, %d)" % (
            n.c1.addr, n.c2.addr, n.c3.addr, n.c1.ring, n.c2.ring, n.c3.ring))
        print("  all four   M  %s (napster; gnutella -> G1; kazaa -> S; chord ring)" % n.m.addr)
        print("network up in %.1f s: napster nodes logged in and published, kazaa peers "
              "joined, gnutella neighbours up, chord ring of 4 consistent" % took)
        print()
        self.overlay_round("napster", self.n1, [self.directory])
        self.overlay_round("gnutella", self.g1, [self.g2])
        self.overlay_round("kazaa", self.k1, [self.supernode])
        self.overlay_round("chord", self.c1, [self.c2, self.introducer])
        self.merged_round()
        self.total = time.monotonic() - t_start

    def summary(self):
        print()
        print("%-8s  %-18s  %-14s  %4s  %-4s  %5s" %
              ("overlay", "nodes", "search term", "hits", "MD5", "secs"))
        for ov, who, term, hits, ok, dt in self.rows:
            print("%-8s  %-18s  %-14s  %4d  %-4s  %5.1f" % (ov, who, term, hits, ok, dt))
        print()
        sock = self.m.sock
        if self.opts.hold:
            print("try the CLI on M (every node runs until Ctrl-C):")
            for cmd in ("search -S %s --window 2 warren-common" % sock, "get -S %s 1" % sock,
                        "status -S %s" % sock, "peers -S %s" % sock):
                print("  %s %s" % (self.bin, cmd))
        else:
            print("try the CLI by hand: scripts/demo --hold keeps this network up until "
                  "Ctrl-C and prints M's socket for `warren search -S SOCKET warren-common`"
                  " (--keep leaves the logs)")

    # cleanup ----------------------------------------------------------------

    def stop_all(self):
        """SIGTERM the nodes, then the servers (napster and kazaa peers log
        out first); SIGKILL what does not stop. Returns problems found."""
        problems = []
        nodes = [p for p in self.procs if p.kind == "node" and p is not getattr(
            self, "supernode", None)]
        waves = [nodes, [p for p in self.procs if p not in nodes]]
        for wave in waves:
            live = [p for p in wave if p.alive()]
            for p in live:
                try:
                    os.killpg(p.popen.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 20
            for p in live:
                try:
                    p.popen.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    problems.append("%s did not stop within 20 s after SIGTERM; killed" % p.name)
                    try:
                        os.killpg(p.popen.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    p.popen.wait()
        for p in self.procs:
            try:
                os.killpg(p.popen.pid, signal.SIGKILL)  # anything left in its group
            except (ProcessLookupError, PermissionError):
                pass
            rc = p.popen.returncode
            if rc != 0:
                problems.append("%s (%s) exited with status %s" % (p.name, p.kind, rc))
            tail = "\n".join(p.log_tail(100000))
            if ("AddressSanitizer" in tail or "runtime error:" in tail or
                    "LeakSanitizer" in tail):
                problems.append("%s: sanitizer report in its log" % p.name)
        return problems

    def leftovers(self):
        """PIDs of processes, other than this one, whose command line names
        the run folder."""
        if not self.run:
            return []
        me = os.getpid()
        found = []
        needle = self.run.encode()
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == me:
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if needle in f.read():
                        found.append(int(pid))
            except OSError:
                pass
        return found


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=DEFAULT_BIN,
                    help="the warren binary (default: %(default)s)")
    ap.add_argument("--keep", action="store_true",
                    help="leave the run folder (logs, shares, databases) for inspection")
    ap.add_argument("--hold", action="store_true",
                    help="after the checks, keep the nodes running until Ctrl-C "
                         "(to try the CLI on them)")
    ap.add_argument("--run-dir", metavar="DIR",
                    help="use DIR (new or empty) as the run folder instead of a "
                         "temporary one")
    opts = ap.parse_args(argv)
    if not (os.path.isfile(opts.bin) and os.access(opts.bin, os.X_OK)):
        print("demo: no warren binary at %s (build it, or give --bin)" % opts.bin,
              file=sys.stderr)
        return 2

    def on_signal(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name, signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    demo = Demo(opts)
    rc = 0
    failure = None
    try:
        demo.make_run_folder()
        demo.scenario()
        demo.summary()
        if opts.hold:
            print("holding; Ctrl-C stops every node")
            while all(p.alive() for p in demo.procs):
                time.sleep(0.5)
            for p in demo.procs:
                p.check_alive()
    except DemoError as e:
        failure = e
        rc = 1
    except KeyboardInterrupt as e:
        name, num = e.args if len(e.args) == 2 else ("SIGINT", signal.SIGINT)
        if opts.hold and getattr(demo, "total", None):
            print("\nstopping every process")
        else:
            print("\ndemo: interrupted (%s); stopping every process" % name, file=sys.stderr)
            rc = 128 + int(num)
    except Exception as e:  # a bug here, or an answer we did not expect
        import traceback
        traceback.print_exc()
        failure = DemoError("unexpected %s: %s" % (type(e).__name__, e), [])
        rc = 1
    finally:
        # Stop everyone; a second Ctrl-C must not cut this short.
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        problems = demo.stop_all()
        left = demo.leftovers()
        if left:
            problems.append("processes left running (now killed): %s" % left)
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    if failure is not None:
        sys.stdout.flush()
        print("\ndemo: FAILED: %s" % failure, file=sys.stderr)
        shown = failure.procs or [p for p in demo.procs if p.popen.returncode not in (0, None)]
        for p in shown:
            print("--- last lines of %s's log (%s):" % (p.name, p.log_path), file=sys.stderr)
            for line in p.log_tail():
                print("    " + line, file=sys.stderr)
    if failure is not None:
        problems = [x for x in problems if x != str(failure)]
    if problems:
        print("demo: FAILED at shutdown:\n  " + "\n  ".join(problems), file=sys.stderr)
        if rc == 0:
            rc = 1
    if rc == 0:
        print("all processes stopped cleanly; total %.1f s" % demo.total)
        print("all MD5s verified")
    if demo.run and os.path.isdir(demo.run):
        if opts.keep or rc == 1:
            print("run folder kept: %s" % demo.run, file=sys.stderr if rc else sys.stdout)
        else:
            shutil.rmtree(demo.run, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
