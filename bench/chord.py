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

Writes bench/out/chord.txt (the table) and, if gnuplot is installed,
bench/out/chord-hops.png (hops against N). A measurement, not a test: it
fails only if a run did not complete.
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


def plot(results):
    """bench/out/chord-hops.png with gnuplot, if it is installed."""
    if shutil.which("gnuplot") is None:
        return None
    data = os.path.join(OUT, "chord-hops.dat")
    png = os.path.join(OUT, "chord-hops.png")
    with open(data, "w") as f:
        f.write("# N mean p99 half_log2_n\n")
        for r in results:
            f.write("%d %f %d %f\n" % (r["nodes"], r["lookups"]["hops_mean"],
                                       r["lookups"]["hops_p99"],
                                       r["half_log2_n"]))
    script = """
set terminal png size 800,500
set output '%s'
set title 'warren chord: lookup hops against ring size'
set xlabel 'nodes N'
set ylabel 'hops'
set logscale x 2
set key left top
set grid
plot '%s' using 1:2 with linespoints title 'mean hops', \\
     '%s' using 1:3 with linespoints title 'p99 hops', \\
     0.5*log(x)/log(2) with lines title '1/2 log2 N', \\
     0.5*log(x)/log(2) + 0.5 with lines dashtype 2 title 'goal: 1/2 log2 N + 0.5'
""" % (png, data, data)
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
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
    png = plot(results)
    if png:
        say.text("plot: %s" % os.path.relpath(png, ROOT))
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
