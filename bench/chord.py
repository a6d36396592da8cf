#!/usr/bin/env python3
"""Chord ring benchmark, a mode of bench/run (`bench/run --only chord`), or
on its own: `bench/chord.py [--bin build/warren] [--sizes 64,256,1024]`.

For each ring size N, `warren lab chord` runs N chord nodes in one process
(one event loop, each node on its own 127.x address), grows the ring
through nodes already in it, waits until every successor and predecessor
is right and 99 % of the fingers are, then measures:

- lookups of random ids from random nodes: right when they name the true
  successor (the lab knows every node); mean and p99 hops (302 answers
  followed) against 1/2 log2 N, the reference of the Chord paper (goal:
  mean <= 1/2 log2 N + 0.5);
- requests sent per node per second at rest, with the default timers
  (stabilize 5 s, fix_fingers 1 s, check_predecessor 10 s);
- 25 % of the nodes stopped at once: lookups at once (before the ring has
  noticed), the time until the ring is consistent again, and lookups then.

Writes bench/out/chord.txt (the table), bench/out/chord-hops.dat and .gp
(the hops and a gnuplot script) and, if gnuplot is installed (scripts/setup
installs gnuplot-nox), bench/out/chord-hops.png (hops against N). A
measurement, not a test: it fails only if a run did not complete.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out")

# Timers while the ring forms and repairs (stabilize, fix_fingers,
# check_predecessor, seconds): slower for big rings, so that one event
# loop carrying every node is never the bottleneck.
TIMERS = {64: (1, 0.5, 2), 256: (1, 0.5, 2), 1024: (2, 1, 4)}
LOOKUPS = 2000
KILL_PCT = 25
REST_S = 20


def lab(warren, n, base, seed, say):
    stab, fix, pred = TIMERS.get(n, (2, 1, 4))
    cmd = [warren, "lab", "chord", "--nodes", str(n), "--base", base,
           "--lookups", str(LOOKUPS), "--kill", str(KILL_PCT),
           "--stabilize", str(stab), "--fix-fingers", str(fix),
           "--check-predecessor", str(pred), "--rest", str(REST_S),
           "--settle", "600", "--seed", str(seed), "--json"]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        raise RuntimeError("warren lab chord --nodes %d failed:\n%s"
                           % (n, p.stderr[-2000:]))
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r["wall_s"] = time.monotonic() - t0
    r["timers"] = (stab, fix, pred)
    say("  N=%d done in %.0f s" % (n, r["wall_s"]))
    return r


def table(results):
    head = ("N", "1/2log2N", "hops mean", "p99", "max", "mean-ref",
            "right", "killed", "right at once", "repaired", "right then",
            "then mean", "req/node/s at rest")
    rows = []
    for r in results:
        a, b, c = r["lookups"], r["after_kill"], r["repaired_lookups"]
        rows.append((
            "%d" % r["nodes"], "%.2f" % r["half_log2_n"],
            "%.2f" % a["hops_mean"], "%d" % a["hops_p99"],
            "%d" % a["hops_max"],
            "%+.2f" % (a["hops_mean"] - r["half_log2_n"]),
            "%.1f %%" % (100 * a["success"]), "%d" % r["killed"],
            "%.1f %%" % (100 * b["success"]),
            ("%.1f s" % (r["repair_ms"] / 1000)) if r["repaired"] else "no",
            "%.1f %%" % (100 * c["success"]), "%.2f" % c["hops_mean"],
            "%.2f" % r["rest"]["sent_per_node_per_s"]))
    width = [max(len(h), *(len(row[i]) for row in rows))
             for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, width))]
    for row in rows:
        lines.append("  ".join(x.rjust(w) for x, w in zip(row, width)))
    return lines


GNUPLOT = r"""# written by bench/chord.py: lookup hops against N (run in bench/out)
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
    set terminal pngcairo size 800,500 font ",11"
} else {
    set terminal png size 800,500
}
set output '%(png)s'
set title "warren chord: lookup hops against ring size\n(warren lab chord, %(lookups)d lookups of random ids per N)"
set xlabel 'nodes in the ring, N (log2 scale)'
set ylabel 'hops (302 answers followed)'
set logscale x 2
set xrange [%(xmin)g:%(xmax)g]
set xtics (%(xtics)s)
set yrange [0:%(ymax)d]
set key right bottom box opaque
set grid
plot '%(dat)s' using 1:2 with linespoints lw 2 pt 7 title 'mean hops', \
     '%(dat)s' using 1:3 with linespoints lw 2 pt 5 title 'p99 hops', \
     0.5*log(x)/log(2) with lines lw 1 lc 'black' title '1/2 log2 N (Chord paper)', \
     0.5*log(x)/log(2) + 0.5 with lines lw 1 dt 2 lc 'dark-red' title 'goal: mean <= 1/2 log2 N + 0.5'
"""


def plot(results, say):
    """bench/out/chord-hops.{dat,gp,png}: the figures, the gnuplot script
    and, if gnuplot is installed (scripts/setup installs gnuplot-nox), the
    plot. Never fails the bench: a note instead of the PNG."""
    dat = os.path.join(OUT, "chord-hops.dat")
    gp = os.path.join(OUT, "chord-hops.gp")
    png = os.path.join(OUT, "chord-hops.png")
    ns = [r["nodes"] for r in results]
    with open(dat, "w") as f:
        f.write("# N hops_mean hops_p99 hops_max half_log2_n\n")
        for r in results:
            a = r["lookups"]
            f.write("%d %.4f %d %d %.4f\n" % (r["nodes"], a["hops_mean"],
                                              a["hops_p99"], a["hops_max"],
                                              r["half_log2_n"]))
    with open(gp, "w") as f:
        f.write(GNUPLOT % {
            "png": os.path.basename(png), "dat": os.path.basename(dat),
            "lookups": LOOKUPS, "xmin": min(ns) / 1.4, "xmax": max(ns) * 1.4,
            "ymax": max(r["lookups"]["hops_p99"] for r in results) + 1,
            "xtics": ", ".join(str(n) for n in ns)})
    if shutil.which("gnuplot") is None:
        say.text("plot: skipped, gnuplot is not installed (scripts/setup "
                 "installs gnuplot-nox; then: cd %s && gnuplot %s)"
                 % (os.path.relpath(OUT, ROOT), os.path.basename(gp)))
        return None
    try:
        p = subprocess.run(["gnuplot", os.path.basename(gp)], cwd=OUT,
                           capture_output=True, text=True, timeout=60)
        err = p.stderr.strip()[-500:] if p.returncode != 0 else None
    except (OSError, subprocess.SubprocessError) as e:
        err = str(e)
    if err is not None:
        say.text("plot: gnuplot failed, no PNG: %s" % err)
        return None
    say.text("plot: %s (gnuplot %s)" % (os.path.relpath(png, ROOT),
                                         os.path.relpath(gp, ROOT)))
    return png


def bench_chord(h, warren, work, say, sizes=(64, 256, 1024), seed=1):
    """bench/run's entry point (h is bench/run; unused but for symmetry)."""
    say("Chord ring in one process (warren lab chord): %s nodes; %d "
        "lookups per measurement, %d %% stopped at once, rest window %d s"
        % (", ".join(str(n) for n in sizes), LOOKUPS, KILL_PCT, REST_S))
    say.text("a lookup is right when it names the true successor of a "
             "random id (the lab knows every node); hops = 302 answers "
             "followed; reference: 1/2 log2 N (Chord paper), goal mean <= "
             "reference + 0.5; at rest: requests sent per node per second "
             "with the default timers (5 s, 1 s, 10 s); timers while the "
             "ring forms and repairs: %s"
             % ", ".join("N=%d: %g/%g/%g s" % ((n,) + TIMERS.get(n, (2, 1, 4)))
                         for n in sizes))
    results = []
    for i, n in enumerate(sizes):
        # Disjoint address blocks, so a ring's leftovers never meet the next.
        base = "127.%d.0.1" % (60 + 8 * i)
        results.append(lab(warren, n, base, seed, say))
    say()
    for line in table(results):
        say(line)
    for r in results:
        say.text("N=%d: consistent %.1f s after the first node started, "
                 "%.1f %% of the fingers right at %.1f s; the ring repaired "
                 "itself %s after %d nodes stopped"
                 % (r["nodes"], r["consistent_ms"] / 1000,
                    100 * r["fingers_right"], r["settled_ms"] / 1000,
                    ("in %.1f s" % (r["repair_ms"] / 1000)) if r["repaired"]
                    else "NOT (settle timeout)", r["killed"]))
    plot(results, say)
    with open(os.path.join(OUT, "chord.json"), "w") as f:
        json.dump(results, f, indent=1)
    return results


class Report:
    """Lines to stdout and to a file (bench/run has its own)."""

    def __init__(self):
        self.lines = []

    def __call__(self, line=""):
        print(line, flush=True)
        self.lines.append(line)

    def text(self, s):
        import textwrap
        for line in textwrap.wrap(s, 76, initial_indent="  ",
                                  subsequent_indent="  "):
            self(line)

    def save(self, path):
        with open(path, "w") as f:
            f.write("\n".join(self.lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "warren"),
                    help="warren binary (default build/warren)")
    ap.add_argument("--sizes", default="64,256,1024",
                    help="ring sizes (default 64,256,1024)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    sizes = tuple(int(x) for x in args.sizes.split(","))
    os.makedirs(OUT, exist_ok=True)
    say = Report()
    say("warren chord benchmark, %s, binary %s"
        % (time.strftime("%Y-%m-%d %H:%M:%S %z"), args.bin))
    try:
        bench_chord(None, os.path.abspath(args.bin), None, say, sizes,
                    args.seed)
    except (RuntimeError, subprocess.SubprocessError, OSError) as e:
        say("bench: %s" % e)
        return 1
    finally:
        say.save(os.path.join(OUT, "chord.txt"))
    print("(saved to %s)" % os.path.relpath(os.path.join(OUT, "chord.txt")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
