#!/usr/bin/env python3
"""analyze's reading phase (issue 17), this tree against another, alternately.

    python3 benchmarks/bench_reading.py --before /tmp/main-tree [--capture PATH] [--rounds 5]

Each round runs `python3 -m pcapscan.cli analyze CAPTURE` (the table) once
with each tree's code, under GNU time, with PCAPSCAN_FAST_DEBUG=1, and reads:
the whole run's wall clock, CPU (user + sys of every process) and peak
memory (largest process), minor page faults; the reading phase's wall clock
and this process's CPU in it ("start" to "read"), and the decoding child's
CPU ("decoding child: read and sent"). The machine is shared: the trees
alternate, and medians are compared. Both trees should be byte-compiled
(python3 -m compileall -q pcapscan) and have their compiled helper built
(python3 setup.py build_ext --inplace -q), or the first run pays for it.
The table's output of both trees is compared too.
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
FIELDS = ("wall", "cpu", "peak_mib", "faults", "read_wall", "read_cpu", "child_cpu")


def run(tree: Path, capture: str, out: Path) -> dict:
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        env = dict(os.environ, PYTHONPATH=str(tree), PCAPSCAN_FAST_DEBUG="1")
        with open(out, "wb") as fh:
            err = subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", "%e %U %S %M %R", sys.executable, "-m",
                                  "pcapscan.cli", "analyze", capture], cwd=tree, env=env, stdout=fh,
                                 stderr=subprocess.PIPE, text=True, check=True).stderr
        wall, user, sys_, peak, faults = tf.read().split()[-5:]
    phases = {}
    for line in err.splitlines():
        m = DEBUG.match(line)
        if m:
            phases.setdefault(m.group(3), (float(m.group(1)), float(m.group(2))))
    start, read = phases["start"], phases["read"]
    return {"wall": float(wall), "cpu": float(user) + float(sys_), "peak_mib": int(peak) / 1024, "faults": int(faults),
            "read_wall": read[0] - start[0], "read_cpu": read[1] - start[1],
            "child_cpu": phases.get("decoding child: read and sent", (0, float("nan")))[1]}


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
