#!/usr/bin/env python3
"""analyze's building phase (issue 17: the scans built block by block, their
fingerprints), this tree against another, alternately.

    python3 benchmarks/bench_building.py --before /tmp/main-tree [--capture PATH] [--rounds 5]

Each round runs, with each tree's code in turn:
- the fast path in one process (analyze_capture_fast(parallel=False)) with
  PCAPSCAN_FAST_DEBUG=1, and reads the building phase's CPU ("routed" to
  "scans built": every block's scans, in this one process);
- `python3 -m pcapscan.cli analyze CAPTURE` (the table) under GNU time with
  PCAPSCAN_FAST_DEBUG=1: the whole run's wall clock, CPU (user + sys of every
  process) and peak memory (largest process), and the building phase's wall
  clock (two processes, fork_map).
The machine is shared: the trees alternate, and medians are compared; the
phase's CPU in one process moves least with the noise. Both trees should be
byte-compiled (python3 -m compileall -q pcapscan) and have their compiled
helper built (python3 setup.py build_ext --inplace -q). The table's output of
both trees is compared too.
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
FIELDS = ("build_cpu1", "build_wall", "wall", "cpu", "peak_mib")
ONE_PROCESS = "import sys; from pcapscan.fastpath.scans import analyze_capture_fast as a; a(sys.argv[1], parallel=False)"


def phases(err: str) -> dict:
    out = {}
    for line in err.splitlines():
        m = DEBUG.match(line)
        if m:
            out.setdefault(m.group(3), (float(m.group(1)), float(m.group(2))))
    return out


def run(tree: Path, capture: str, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), PCAPSCAN_FAST_DEBUG="1")
    one = phases(subprocess.run([sys.executable, "-c", ONE_PROCESS, capture], cwd=tree, env=env,
                                capture_output=True, text=True, check=True).stderr)
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        with open(out, "wb") as fh:
            err = subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", "%e %U %S %M", sys.executable, "-m",
                                  "pcapscan.cli", "analyze", capture], cwd=tree, env=env, stdout=fh,
                                 stderr=subprocess.PIPE, text=True, check=True).stderr
        wall, user, sys_, peak = tf.read().split()[-4:]
    two = phases(err)
    return {"build_cpu1": one["scans built"][1] - one["routed"][1],
            "build_wall": two["scans built"][0] - two["routed"][0],
            "wall": float(wall), "cpu": float(user) + float(sys_), "peak_mib": int(peak) / 1024}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, type=Path, help="the other tree (e.g. git archive of main)")
    ap.add_argument("--capture", default="/work/benchdata/bench-5m.pcap")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    trees = {"before": args.before.resolve(), "now": ROOT}
    got: dict = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, tree in trees.items():
                row = run(tree, args.capture, Path(tmp) / f"{name}.txt")
                got[name].append(row)
                print(f"round {r + 1} {name:6s} " + "  ".join(f"{k} {row[k]:.2f}" for k in FIELDS), flush=True)
        same = (Path(tmp) / "before.txt").read_bytes() == (Path(tmp) / "now.txt").read_bytes()
    print(f"\n{args.capture}, {args.rounds} rounds alternated, medians (the table's output the same: {same})")
    print("| tree | " + " | ".join(FIELDS) + " |")
    print("|---|" + "---:|" * len(FIELDS))
    for name, rows in got.items():
        print(f"| {name} | " + " | ".join(f"{statistics.median(r[k] for r in rows):.2f}" for k in FIELDS) + " |")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
