#!/usr/bin/env python3
"""Big captures in every command (issue 17), measured side by side in one run.

    python3 benchmarks/bench_big.py                    # every row below
    python3 benchmarks/bench_big.py --only ooo          # the out-of-order rows only
    python3 benchmarks/bench_big.py --write-docs        # and rewrite its table in docs/performance.md

The capture: benchmarks/data/bench-1.3m.pcap, the lab's real
`nmap -sS -p-` recording copied 10 times (make_bench_capture.py --packets
1288751: 10 scan sessions of 65,535 ports, 0.5% ordinary traffic). From it:

* bench-1.3m-ooo60.pcap: the same records in the same order, 60 of their
  timestamps (spread over the capture) moved 1 s back;
* bench-1.3m-ooo1pct.pcap: 1% of them (12,887) moved back by 0.1 to 3 s;
* bench-1.3m-shuffled.pcap: every timestamp drawn at random (not in time
  order at all).

Each command runs under GNU time (wall clock, peak resident memory of the
largest process). Rows that are compared (sorted vs out of order, pcapscan
vs tshark) run alternately, --repeat times each, and their medians are
compared: the machine is shared, and its speed drifts over minutes. The
out-of-order captures' JSON is checked against the sorted capture's (the
same verdicts; scan start/end times aside, which moved probes may change).
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run_bench import compile_package, timed, write_docs  # noqa: E402

DATA = HERE / "data"
BASE = DATA / "bench-1.3m.pcap"
PACKETS = 1_288_751


def base_capture() -> Path:
    if not BASE.exists():
        subprocess.run([sys.executable, str(HERE / "make_bench_capture.py"), "--packets", str(PACKETS),
                        "--out", str(BASE)], check=True)
    return BASE


def record_offsets(path: Path) -> list:
    """Offsets of every record header of a little-endian microsecond pcap."""
    data = path.read_bytes()
    out, pos = [], 24
    while pos + 16 <= len(data):
        out.append(pos)
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
    return out


def moved(src: Path, dst: Path, pick, seed: int = 17) -> int:
    """dst: src with the timestamps of the records `pick(rng, n)` chooses
    replaced as (index, new_ts_fn(old_ts)) says; returns how many moved."""
    if dst.exists():
        return -1
    data = bytearray(src.read_bytes())
    offs = record_offsets(src)
    rng = random.Random(seed)
    n = 0
    for i, fn in pick(rng, len(offs)):
        at = offs[i]
        sec, usec = struct.unpack_from("<II", data, at)
        ts = fn(sec + usec / 1e6)
        sec = int(ts)
        struct.pack_into("<II", data, at, sec, int(round((ts - sec) * 1e6)) % 1_000_000)
        n += 1
    dst.write_bytes(bytes(data))
    return n


def variants(base: Path) -> dict:
    out = {}
    out["ooo60"] = DATA / "bench-1.3m-ooo60.pcap"
    moved(base, out["ooo60"], lambda rng, n: [(i, lambda t: t - 1.0) for i in sorted(rng.sample(range(n), 60))])
    out["ooo1pct"] = DATA / "bench-1.3m-ooo1pct.pcap"
    moved(base, out["ooo1pct"], lambda rng, n: [(i, (lambda d: lambda t: t - d)(rng.uniform(0.1, 3.0)))
                                                 for i in sorted(rng.sample(range(n), n // 100))])
    out["shuffled"] = DATA / "bench-1.3m-shuffled.pcap"
    moved(base, out["shuffled"], lambda rng, n: [(i, (lambda v: lambda t: v)(1_700_000_000 + rng.uniform(0, 600)))
                                                  for i in range(n)])
    return out


def verdicts(path: Path, capture: Path) -> dict:
    """The analyze JSON at `path`, of `capture`: the capture named X, the
    scans' start and end left out (a probe stamped earlier starts its scan
    earlier), and the fast path's note on a fallback."""
    d = json.loads(path.read_text().replace(json.dumps(str(capture))[1:-1], "X"))
    for c in d["captures"]:
        c["warnings"] = [w for w in c["warnings"] if "packet by packet" not in w]
    for s in d["scans"]:
        s.pop("start"), s.pop("end")
    for s in d["discovery"]:
        s.pop("start"), s.pop("end")
    return d


def alternate(rows: dict, repeat: int) -> dict:
    """name -> [(wall, peak MiB)], the commands run in turn, `repeat` rounds."""
    out = {name: [] for name in rows}
    for r in range(repeat):
        for name, argv in rows.items():
            print(f"  round {r + 1}: {name}", file=sys.stderr, flush=True)
            wall, peak, _ = timed(argv)
            out[name].append((wall, peak))
    return out


def med(runs) -> float:
    return statistics.median(w for w, _ in runs)


def fmt_runs(runs) -> str:
    return ", ".join(f"{w:.2f}" for w, _ in runs)


def run(args) -> str:
    py = [sys.executable, "-m", "pcapscan.cli"]
    compile_package()
    base = base_capture()
    var = variants(base)
    tmp = Path(tempfile.mkdtemp(prefix="pcapscan-bigbench-"))
    lines = ["| capture | command | wall s (median; runs) | peak MiB | vs |", "|---|---|---:|---:|---|"]
    notes = []

    def row(capture, command, runs, vs=""):
        lines.append(f"| {capture} | {command} | {med(runs):.2f} ({fmt_runs(runs)}) | "
                     f"{max(m for _, m in runs):.0f} | {vs} |")

    # -P: python -m would put the working directory (this tree) before PYTHONPATH
    before = ["env", f"PYTHONPATH={args.before}", sys.executable, "-P", "-m", "pcapscan.cli"] if args.before else None
    if args.only in (None, "ooo"):
        print("out of order ...", file=sys.stderr)
        outs = {k: tmp / f"{k}.json" for k in ("sorted", "ooo60", "ooo1pct")}
        cmds = {"sorted": py + ["analyze", str(base), "-f", "json", "-o", str(outs["sorted"])],
                "ooo60": py + ["analyze", str(var["ooo60"]), "-f", "json", "-o", str(outs["ooo60"])],
                "ooo1pct": py + ["analyze", str(var["ooo1pct"]), "-f", "json", "-o", str(outs["ooo1pct"])]}
        res = alternate(cmds, args.repeat)
        want = verdicts(outs["sorted"], base)
        same = {k: verdicts(outs[k], var[k]) == want for k in ("ooo60", "ooo1pct")}
        row(base.name, "analyze -f json (in time order)", res["sorted"])
        for k, label in (("ooo60", "60 timestamps 1 s back"), ("ooo1pct", "1% of timestamps 0.1-3 s back")):
            row(f"{var[k].name} ({label})", "analyze -f json", res[k],
                f"{med(res[k]) / med(res['sorted']):.2f}x the sorted; verdicts "
                f"{'identical' if same[k] else 'DIFFERENT'}")
        if before:
            wall, peak, _ = timed(before + ["analyze", str(var["ooo60"]), "-f", "json", "-o", str(tmp / "b.json")])
            lines.append(f"| {var['ooo60'].name} | analyze -f json, before (commit {args.before_label}) | "
                         f"{wall:.2f} | {peak:.0f} | {wall / med(res['sorted']):.1f}x the sorted capture now |")
        shuf = tmp / "shuffled.json"
        wall, peak, _ = timed(py + ["analyze", str(var["shuffled"]), "-f", "json", "-o", str(shuf)])
        same = verdicts(shuf, var["shuffled"]) == want
        lines.append(f"| {var['shuffled'].name} (every timestamp at random) | analyze -f json | {wall:.2f} | "
                     f"{peak:.0f} | verdicts {'identical' if same else 'DIFFERENT'} |")
    if args.only in (None, "commands"):
        print("verify, compare ...", file=sys.stderr)
        cmds = {"analyze": py + ["analyze", str(base), "-o", str(tmp / "a.txt")],
                "verify": py + ["verify", str(base), "-o", str(tmp / "v.txt")],
                "compare": py + ["compare", str(base), "-a", "1", "-b", "2", "-o", str(tmp / "c.txt")]}
        if before:
            cmds.update({f"{k}, before ({args.before_label})": before + v[3:] for k, v in list(cmds.items())})
        if args.verify_timeout:
            cmds = {k: ["timeout", str(args.verify_timeout)] + v if k != "analyze" else v for k, v in cmds.items()}
        res = {}
        for name, argv in cmds.items():
            print(f"  {name}", file=sys.stderr, flush=True)
            try:
                res[name] = [timed(argv)[:2]]
            except SystemExit as exc:
                notes.append(f"{name}: {str(exc)[:200]}")
        for name in res:
            ref = "analyze" if "before" not in name else f"analyze, before ({args.before_label})"
            vs = "" if name == ref or ref not in res else f"{med(res[name]) / med(res[ref]):.1f}x {ref}"
            row(base.name, name, res[name], vs)
    if args.only in (None, "output"):
        print("JSON and CSV against tshark ...", file=sys.stderr)
        cmds = {"table": py + ["analyze", str(base), "-o", str(tmp / "o.txt")],
                "json": py + ["analyze", str(base), "-f", "json", "-o", str(tmp / "o.json")],
                "csv": py + ["analyze", str(base), "-f", "csv", "-o", str(tmp / "o.csv")]}
        # the pure Python/numpy twins of the compiled helpers (pcapscan/speedups.py)
        pure = ["env", "PCAPSCAN_PURE=1"] + py
        cmds["json, pure Python"] = pure + ["analyze", str(base), "-f", "json", "-o", str(tmp / "p.json")]
        if before:
            for fmt in ("table", "json", "csv"):
                cmds[f"{fmt}, before"] = before + ["analyze", str(base), "-f", fmt, "-o", str(tmp / f"b.{fmt}")]
        if shutil.which("tshark"):
            cmds["tshark"] = ["tshark", "-r", str(base), "-T", "fields", "-e", "ip.src", "-e", "ip.dst",
                              "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.flags"]
        res = alternate(cmds, args.repeat)
        for name in [k for k in cmds if k != "tshark"]:
            vs = f"tshark is {med(res['tshark']) / med(res[name]):.1f}x slower" if "tshark" in res else ""
            row(base.name, f"analyze -f {name}", res[name], vs)
        if "tshark" in res:
            row(base.name, "tshark -T fields (5 fields)", res["tshark"])
    shutil.rmtree(tmp, ignore_errors=True)
    return "\n".join(lines + ([""] + notes if notes else []))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=["ooo", "commands", "output"], help="one group of rows")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of the alternated rows (default 3)")
    ap.add_argument("--verify-timeout", type=int, default=0, metavar="S", help="stop verify/compare after S s")
    ap.add_argument("--before", metavar="DIR", help="also run the commands with PYTHONPATH=DIR (the code before)")
    ap.add_argument("--before-label", default="main", help="what --before is called in the table")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    text = run(args)
    print(text)
    if args.write_docs:
        write_docs(text, "bigbench")
    return 0


if __name__ == "__main__":
    sys.exit(main())
