#!/usr/bin/env python3
"""The fast path's steps after reading (issue 17), two source trees side by side.

    python3 benchmarks/bench_after_reading.py --before /tmp/main-tree [--capture bench-5m.pcap] [--rounds 5]

Each round runs both trees, alternately (the machine is shared: its speed
drifts over minutes), twice:

* one process (`analyze_capture_fast(parallel=False)`): the CPU seconds of the
  complex flows' replay (Assembler.run's step 1), the simple flows grouped by
  session and the sorting out (step 2, every block in this one process), read
  at the fast path's own phase marks (workers.debug) to the microsecond;
* the command itself (`pcapscan analyze CAPTURE`, two processes), under GNU
  time: its wall clock, user and system seconds, and the wall clock of the
  same steps from PCAPSCAN_FAST_DEBUG's phase lines (to the hundredth).

Medians of the rounds are printed; each tree's modules should be
byte-compiled and its compiled helpers built (setup.py build_ext --inplace).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

# one process: the phase marks of the fast path, in CPU and wall seconds
PHASES = r"""
import sys, time
from pcapscan.fastpath import scans
marks = {}
def mark(what):
    marks[what] = (time.process_time(), time.perf_counter())
scans.debug = mark
scans.analyze_capture_fast(sys.argv[1], parallel=False)
steps = (("replay", "read", "complex flows replayed"), ("grouping", "complex flows replayed", "simple flows in sessions"),
         ("sorting out", "simple flows in sessions", "simple flows sorted out"))
print(";".join(f"{name}={marks[b][0] - marks[a][0]:.4f}" for name, a, b in steps))
"""
STEP_LINES = (("replay wall", " read", "complex flows replayed"),
              ("grouping wall", "complex flows replayed", "simple flows in sessions"),
              ("sorting out wall", "simple flows in sessions", "simple flows sorted out"))


def one_process(tree: Path, capture: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PHASES, capture], cwd=tree, env=dict(os.environ, PYTHONPATH=str(tree)),
                         capture_output=True, text=True, check=True).stdout.strip().split(";")
    return {f"{k} cpu (one process)": float(v) for k, v in (w.split("=") for w in out)}


def command(tree: Path, capture: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), PCAPSCAN_FAST_DEBUG="1")
    got = subprocess.run(["/usr/bin/time", "-f", "TIME %e %U %S", sys.executable, "-m", "pcapscan.cli", "analyze",
                          capture], cwd=tree, env=env, capture_output=True, text=True, check=True).stderr
    at = {}
    for line in got.splitlines():
        if line.startswith("fastpath:"):
            at.setdefault(line.split("MiB", 1)[1].strip(), float(line.split()[1].rstrip("s")))
        elif line.startswith("TIME"):
            wall, user, system = (float(x) for x in line.split()[1:])
    out = {name: at[b] - at[a.strip()] for name, a, b in STEP_LINES}
    out.update({"command wall": wall, "command user+sys": user + system})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, required=True, help="the other source tree (e.g. main's, git archive)")
    ap.add_argument("--after", type=Path, default=HERE, help="this tree by default")
    ap.add_argument("--capture", default="/work/benchdata/bench-5m.pcap")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    results: dict = {"before": {}, "after": {}}
    for r in range(args.rounds):
        for name, tree in (("before", args.before), ("after", args.after)):
            for k, v in {**one_process(tree, args.capture), **command(tree, args.capture)}.items():
                results[name].setdefault(k, []).append(v)
        print(f"round {r + 1} of {args.rounds} done", file=sys.stderr)
    print(f"{args.capture}, {args.rounds} rounds, medians (range): before {args.before}, after {args.after}")
    for k in results["before"]:
        b, a = results["before"][k], results["after"][k]
        print(f"  {k:34s} {statistics.median(b):7.3f} ({min(b):.3f}-{max(b):.3f})  ->  "
              f"{statistics.median(a):7.3f} ({min(a):.3f}-{max(a):.3f})")


if __name__ == "__main__":
    main()
