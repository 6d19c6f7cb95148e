#!/usr/bin/env python3
"""analyze's fast path phase by phase (issue 17), this tree against another, alternately.

    python3 benchmarks/bench_phases.py --before /tmp/main-tree [--capture PATH] [--rounds 5]

Each round runs, with each tree's code in turn (the machine is shared: its
speed drifts over minutes, so the trees alternate and medians are compared):

* the fast path in one process (analyze_capture_fast(parallel=False)), its
  phase marks (workers.debug) taken to the microsecond: each phase's CPU
  seconds, all of its work in this one process, the figure noise moves least;
* the command itself (`python3 -m pcapscan.cli analyze CAPTURE`, the table,
  two processes) under GNU time with PCAPSCAN_FAST_DEBUG=1: the whole run's
  wall clock, CPU (user + sys of every process), peak memory (largest
  process) and minor page faults; each phase's wall clock; while reading,
  the keying process's CPU and the decoding child's.

The phases are the fast path's own (fastpath/scans.py, Assembler.run):
reading, the complex flows' replay, grouping the simple flows by session,
sorting out, routing, building. Both trees should be byte-compiled
(python3 -m compileall -q pcapscan) and have their compiled helper built
(python3 setup.py build_ext --inplace -q), or the first run pays for it.
The table's output of both trees is compared too (exit status 1 if it differs).
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEBUG = re.compile(r"fastpath:\s+([\d.]+)s\s+cpu\s+([\d.]+)s\s+peak\s+\d+ MiB\s+(.*)")
CHILD = "decoding child: read and sent"
# (phase, the mark it starts at, the mark it ends at)
PHASES = (("reading", "start", "read"), ("replay", "read", "complex flows replayed"),
          ("grouping", "complex flows replayed", "simple flows in sessions"),
          ("sorting out", "simple flows in sessions", "simple flows sorted out"),
          ("routing", "simple flows sorted out", "routed"), ("building", "routed", "scans built"))
ONE_PROCESS = r"""
import sys, time
from pcapscan.fastpath import scans
marks = {}
scans.debug = lambda what: marks.setdefault(what, time.process_time())
scans.analyze_capture_fast(sys.argv[1], parallel=False)
print(repr(marks))
"""


def one_process(tree: Path, capture: str) -> dict:
    got = subprocess.run([sys.executable, "-c", ONE_PROCESS, capture], cwd=tree,
                         env=dict(os.environ, PYTHONPATH=str(tree)), capture_output=True, text=True, check=True)
    marks = eval(got.stdout.strip().splitlines()[-1])  # noqa: S307 (our own child's repr of a dict of floats)
    return {f"{name} cpu1": marks[b] - marks[a] for name, a, b in PHASES}


def command(tree: Path, capture: str, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), PCAPSCAN_FAST_DEBUG="1")
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        with open(out, "wb") as fh:
            err = subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", "%e %U %S %M %R", sys.executable, "-m",
                                  "pcapscan.cli", "analyze", capture], cwd=tree, env=env, stdout=fh,
                                 stderr=subprocess.PIPE, text=True, check=True).stderr
        wall, user, sys_, peak, faults = tf.read().split()[-5:]
    at = {}
    for line in err.splitlines():
        m = DEBUG.match(line)
        if m:
            at.setdefault(m.group(3), (float(m.group(1)), float(m.group(2))))
    row = {"wall": float(wall), "cpu": float(user) + float(sys_), "peak_mib": int(peak) / 1024,
           "faults": int(faults)}
    row.update({f"{name} wall": at[b][0] - at[a][0] for name, a, b in PHASES if a in at and b in at})
    row["reading cpu (keying)"] = at["read"][1] - at["start"][1]
    row["reading cpu (child)"] = at[CHILD][1] if CHILD in at else float("nan")
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, type=Path, help="the other tree (e.g. git archive of main)")
    ap.add_argument("--capture", default="/work/benchdata/bench-5m.pcap")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    trees = {"before": args.before.resolve(), "now": ROOT}
    got: dict = {name: {} for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, tree in trees.items():
                row = {**command(tree, args.capture, Path(tmp) / f"{name}.txt"), **one_process(tree, args.capture)}
                for k, v in row.items():
                    got[name].setdefault(k, []).append(v)
            print(f"round {r + 1} of {args.rounds}: wall {got['before']['wall'][-1]:.2f} -> "
                  f"{got['now']['wall'][-1]:.2f} s", file=sys.stderr, flush=True)
        same = (Path(tmp) / "before.txt").read_bytes() == (Path(tmp) / "now.txt").read_bytes()
    print(f"{args.capture}, {args.rounds} rounds alternated, medians (range); the table's output the same: {same}")
    print(f"before: {trees['before']}; now: {trees['now']}\n")
    print("| measure | before | now |")
    print("|---|---:|---:|")
    for k in got["before"]:
        b, n = got["before"][k], got["now"].get(k, [float("nan")])
        print(f"| {k} | {statistics.median(b):.3f} ({min(b):.3f}-{max(b):.3f}) | "
              f"{statistics.median(n):.3f} ({min(n):.3f}-{max(n):.3f}) |")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
