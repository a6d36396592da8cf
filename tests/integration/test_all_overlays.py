"""One node in all four overlays (issue 8): node M joins napster, gnutella,
kazaa and chord at once, each on its own port, with one peer in each
overlay that holds the same file. `warren search` on M merges the four
hits into one row with every source and overlay; `--overlay` limits it;
`--json` streams one event per hit and a summary; `warren get N` downloads
the result with parts from holders found through several overlays, which
`warren downloads --json` shows; RETR is served on every port of M."""

import json
import os
import shutil
import socket

from conftest import free_port, make_file, md5_file, next_ipv4, wait_until
from test_chord import FAST as CHORD_FAST, Introducer
from test_directory import Directory

OVERLAYS = ["chord", "gnutella", "kazaa", "napster"]
NAME = "Shared_Everywhere.bin"


def ports(ip, n):
    out = []
    while len(out) < n:
        p = free_port(ip)
        if p not in out:
            out.append(p)
    return out


def overlay_status(node, name):
    for o in node.status()["overlays"]:
        if o["name"] == name:
            return o
    raise AssertionError("%s not joined: %s" % (name, node.status()["overlays"]))


def test_one_node_in_four_overlays_merged_search_and_download(net, tmp_path):
    d = Directory(str(tmp_path)).start()
    it = Introducer(str(tmp_path)).start()
    try:
        src = os.path.join(str(tmp_path), NAME)
        md5 = make_file(src, 3 * 1024 * 1024 + 123, seed=11)

        # One holder per overlay.
        s = net.node("S", start=False)
        s.args += ["--overlay", "kazaa", "--kazaa-role", "supernode",
                   "--kazaa-find-window", "1", "--connect-timeout", "1"]
        s.start()
        nap = net.node("N", start=False)
        nap.args += ["--overlay", "napster", "--directory", d.addr]
        gnu = net.node("G", start=False)
        gnu.args += ["--overlay", "gnutella", "--gnutella-min-neighbours", "0"]
        kaz = net.node("K", start=False)
        kaz.args += ["--overlay", "kazaa", "--kazaa-known", s.addr,
                     "--kazaa-supe-window", "0.5"]
        cho = net.node("C", start=False)
        cho_ring = ports(cho.ip, 2)
        cho_ring = [p for p in cho_ring if p != cho.port][0]
        cho.args += ["--overlay", "chord", "--chord-listen", "%s:%d" % (cho.ip, cho_ring),
                     "--chord-introducer", it.addr] + CHORD_FAST
        holders = {"napster": nap, "gnutella": gnu, "kazaa": kaz, "chord": cho}
        for h in holders.values():
            shutil.copy(src, os.path.join(h.share, NAME))

        # M: napster on the main port, the three others on their own.
        ip = next_ipv4()
        main, pg, pk, pc = ports(ip, 4)
        m = net.node("M", ip=ip, port=main, start=False)
        m.args += ["--overlay", "napster,gnutella,kazaa,chord",
                   "--directory", d.addr,
                   "--gnutella-listen", "%s:%d" % (ip, pg), "--neighbour", gnu.addr,
                   "--gnutella-min-neighbours", "0",
                   "--kazaa-listen", "%s:%d" % (ip, pk), "--kazaa-known", s.addr,
                   "--kazaa-supe-window", "0.5",
                   "--chord-listen", "%s:%d" % (ip, pc),
                   "--chord-introducer", it.addr] + CHORD_FAST
        gnu.args += ["--neighbour", "%s:%d" % (ip, pg)]
        for n in (nap, gnu, kaz, cho, m):
            n.start()

        # Every overlay of M is healthy.
        wait_until(lambda: overlay_status(m, "napster")["state"] == "ready", 30, "napster")
        wait_until(lambda: overlay_status(m, "kazaa").get("state") == "joined", 30, "kazaa")
        wait_until(lambda: overlay_status(kaz, "kazaa").get("state") == "joined", 30,
                   "kazaa peer")
        wait_until(lambda: overlay_status(m, "chord")["state"] == "joined", 30, "chord")
        wait_until(lambda: overlay_status(cho, "chord")["state"] == "joined", 30,
                   "chord peer")
        st = m.status()
        assert sorted(o["name"] for o in st["overlays"]) == OVERLAYS

        # The same file through all four: one row, four sources.
        def merged():
            p = m.cli("search", "--long", "--window", "2", "shared_everywhere", check=0)
            rows = [l for l in p.stdout.splitlines() if md5 in l]
            return rows if rows and rows[0].split()[3] == "4" else False
        rows = None

        def found():
            nonlocal rows
            rows = merged()
            return bool(rows)
        wait_until(found, 60, "one row with four sources")
        assert len(rows) == 1, rows
        cols = rows[0].split()
        assert cols[0] == "1" and cols[1] == md5, rows
        assert cols[2] == str(os.path.getsize(src)), rows
        assert cols[4] == ",".join(OVERLAYS), rows
        assert rows[0].endswith(NAME), rows

        # --json: a hit event per holder, then the node's summary.
        p = m.cli("search", "--json", "--window", "2", "shared_everywhere", check=0)
        msgs = [json.loads(l) for l in p.stdout.splitlines()]
        hits = [x["hit"] for x in msgs if x.get("event") == "hit"]
        assert {h["overlay"] for h in hits} == set(OVERLAYS), hits
        assert {h["source"]["label"] for h in hits} == {h.addr for h in holders.values()}
        assert msgs[-1].get("done") and msgs[-1]["ok"], msgs[-1]
        done = [x for x in msgs if x.get("event") == "overlay_done"]
        assert sorted(x["overlay"] for x in done) == OVERLAYS, done

        # --overlay limits the search to one overlay.
        for ov in OVERLAYS:
            p = m.cli("search", "--long", "--window", "2", "--overlay", ov,
                      "shared_everywhere", check=0)
            row = [l for l in p.stdout.splitlines() if md5 in l]
            assert len(row) == 1 and row[0].split()[3] == "1", (ov, p.stdout)
            assert row[0].split()[4] == ov, (ov, p.stdout)

        # Result 1 of the merged search, from every source it found.
        m.cli("search", "--window", "2", "shared_everywhere", check=0)
        m.cli("get", "1", check=0, timeout=120)
        got = os.path.join(m.share, NAME)
        assert md5_file(got) == md5
        dl = json.loads(m.cli("downloads", "--json", check=0).stdout)["downloads"]
        mine = [x for x in dl if x["md5"] == md5]
        assert mine and mine[-1]["state"] == "done", dl
        used = [s for s in mine[-1]["source_list"] if s["good_parts"] > 0]
        via = {h.addr: ov for ov, h in holders.items()}
        assert len({via[s["label"]] for s in used}) >= 2, mine[-1]["source_list"]
        for s in mine[-1]["source_list"]:
            assert s["overlays"] == [via[s["label"]]], s
        text = m.cli("downloads", check=0).stdout
        for ov, h in holders.items():
            assert any(h.addr in l and "via " + ov in l for l in text.splitlines()), text

        # RETR is served on every port of M, not only the main one (M
        # shares the file once its library has hashed the download).
        wait_until(lambda: md5 in m.cli("share", "ls", "--json", check=0).stdout, 30,
                   "M shares the file")
        for port in (main, pg, pk, pc):
            with socket.create_connection((ip, port), 5) as c:
                c.sendall(b"RETR" + md5.encode())
                c.settimeout(10)
                head = b""
                while len(head) < 10:
                    b = c.recv(10 - len(head))
                    if not b:
                        break
                    head += b
            assert head[:4] == b"ARET", (port, head)
    finally:
        it.stop()
        d.stop()
