"""How long `pcapscan grade` takes on a class holding one big capture
(issue 17): one student with CAPTURE (a whole `nmap -p-` recording, e.g.
/work/benchdata/bench-1.3m.pcap) named syn_scan.pcap beside two small
golden captures (connect_open.pcap, xmas_closed.pcap), against `pcapscan
analyze CAPTURE` (the ratio issue 17 asks for: within 5x). With --before
DIR (a checkout of the code without the change, its compiled helper
built), both trees run alternately, round by round, each in its own
process under /usr/bin/time: wall, CPU (user + system) and peak memory.

    python benchmarks/bench_grade_big.py /work/benchdata/bench-1.3m.pcap
    python benchmarks/bench_grade_big.py /work/benchdata/bench-5m.pcap --before /tmp/main --rounds 3

Prints each run and the medians; the gradebooks of the two trees are
compared byte for byte (they must be the same).
"""
from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "captures" / "golden"


def make_class(root: Path, capture: Path) -> Path:
    alice = root / "alice"
    alice.mkdir(parents=True)
    os.symlink(capture.resolve(), alice / "syn_scan.pcap")
    shutil.copy(GOLDEN / "connect.pcap", alice / "connect_open.pcap")
    shutil.copy(GOLDEN / "xmas.pcap", alice / "xmas_closed.pcap")
    return root


def timed(tree: Path, args: list) -> tuple:
    """(wall s, CPU s, peak MiB) of `python -m pcapscan.cli ARGS` with `tree` first on the path."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    with tempfile.NamedTemporaryFile("r") as out:
        subprocess.run(["/usr/bin/time", "-o", out.name, "-f", "%e %U %S %M", sys.executable, "-m", "pcapscan.cli",
                        *args], cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall, user, system, peak = out.read().split()[-4:]
    return float(wall), float(user) + float(system), int(peak) / 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("capture", type=Path)
    ap.add_argument("--before", type=Path, help="a tree without the change: run alternately with this one")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # each run printed as it ends, also into a file
    trees = {"this": ROOT} | ({"before": args.before} if args.before else {})
    for tree in trees.values():  # as `pip install .` leaves them (this machine may set PYTHONDONTWRITEBYTECODE)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "pcapscan")], check=True)
    runs = {(name, cmd): [] for name in trees for cmd in ("grade", "analyze")}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cls = make_class(tmp / "class", args.capture)
        print(f"class: {cls} (alice: syn_scan.pcap -> {args.capture}, two small captures); "
              f"load average {os.getloadavg()[0]:.2f}")
        for r in range(args.rounds):
            for name, tree in trees.items():
                got = timed(tree, ["grade", str(cls), "-o", str(tmp / f"{name}-{r}"), "-j", "1"])
                runs[name, "grade"].append(got)
                print(f"round {r + 1} {name:6} grade   {got[0]:7.2f} s wall {got[1]:7.2f} s CPU {got[2]:6.0f} MiB")
            for name, tree in trees.items():
                got = timed(tree, ["analyze", str(args.capture)])
                runs[name, "analyze"].append(got)
                print(f"round {r + 1} {name:6} analyze {got[0]:7.2f} s wall {got[1]:7.2f} s CPU {got[2]:6.0f} MiB")
        if args.before:
            out = [tmp / f"{name}-0" for name in trees]
            same = filecmp.dircmp(*out)
            print("gradebooks: " + ("the same" if not (same.diff_files or same.left_only or same.right_only)
                                    else f"DIFFERENT: {same.diff_files + same.left_only + same.right_only}"))
    for (name, cmd), got in runs.items():
        wall, cpu, peak = (statistics.median(g[i] for g in got) for i in range(3))
        print(f"median {name:6} {cmd:7} {wall:7.2f} s wall {cpu:7.2f} s CPU {peak:6.0f} MiB")
    for name in trees:
        grade_wall = statistics.median(g[0] for g in runs[name, "grade"])
        analyze_wall = statistics.median(g[0] for g in runs[name, "analyze"])
        print(f"{name}: grade / analyze = {grade_wall / analyze_wall:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
