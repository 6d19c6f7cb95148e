#!/usr/bin/env python3
"""One process versus a local Dask cluster (docs/distributed.md): wall time of
`pcapscan analyze -f json` on the benchmark captures, with the JSON of every
--dask run checked byte for byte against the run without it.

    python3 benchmarks/bench_dask.py                      # bench-5m.pcap, and 4 x bench-1m.pcap
    python3 benchmarks/bench_dask.py --skip-slow         # without the one-process ordinary path (minutes)

Needs benchmarks/data/bench-5m.pcap and bench-1m.pcap (make_bench_capture.py
writes them) and `pip install 'pcapscan[dask]'`. Prints a Markdown table
and the machine it ran on.
"""
from __future__ import annotations

import argparse
import filecmp
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = 0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0
    return f"nproc {os.cpu_count()}, {cpu}, {mem:.0f} GiB RAM, Python {platform.python_version()}, load {load:.1f} at start"


def timed(args: list, out: Path) -> float:
    t = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "pcapscan.cli", "analyze", *args, "-f", "json", "-o", str(out)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.monotonic() - t
    if res.returncode not in (0, 2):
        raise SystemExit(f"pcapscan failed: {res.stderr}")
    return took


def slow_path(path: Path, out: Path) -> float:
    """One process on the ordinary (non-fast) path, as the library's analyze(fast=False)."""
    code = ("import sys; from pcapscan.analysis import analyze; from pcapscan.report.stream import write; "
            "r = analyze([sys.argv[1]], fast=False, jobs=1); write(r, 'json', open(sys.argv[2], 'w'))")
    t = time.monotonic()
    subprocess.run([sys.executable, "-c", code, str(path), str(out)], check=True)
    return time.monotonic() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-slow", action="store_true", help="leave out the one-process ordinary path")
    opts = ap.parse_args()
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    big, small = DATA / "bench-5m.pcap", DATA / "bench-1m.pcap"
    rows = []
    print(machine(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if big.exists():
            plain = tmp / "big-plain.json"
            rows.append(("bench-5m.pcap (1 file)", "one process, fast path (default)", timed([str(big)], plain), ""))
            if not opts.skip_slow:
                slow = tmp / "big-slow.json"
                took = slow_path(big, slow)
                rows.append(("bench-5m.pcap (1 file)", "one process, ordinary path", took,
                             "same JSON" if filecmp.cmp(plain, slow, shallow=False) else "JSON DIFFERS"))
            for flags, how in (([], "one task (the default)"), (["--dask-split"], "--dask-split: chunks")):
                out = tmp / "big-dask.json"
                took = timed([str(big), "--dask", "local", *flags], out)
                rows.append(("bench-5m.pcap (1 file)", f"--dask local ({workers} workers), {how}", took,
                             "same JSON" if filecmp.cmp(plain, out, shallow=False) else "JSON DIFFERS"))
        if small.exists():
            copies = []
            for i in range(4):
                link = tmp / f"copy{i}-bench-1m.pcap"
                link.symlink_to(small)
                copies.append(str(link))
            plain = tmp / "many-plain.json"
            rows.append(("4 x bench-1m.pcap", "one process per core (default -j), fast path", timed(copies, plain), ""))
            out = tmp / "many-dask.json"
            took = timed([*copies, "--dask", "local"], out)
            rows.append(("4 x bench-1m.pcap", f"--dask local ({workers} workers), one task per file", took,
                         "same JSON" if filecmp.cmp(plain, out, shallow=False) else "JSON DIFFERS"))
    print("| captures | run | wall time | JSON |")
    print("| --- | --- | ---: | --- |")
    for what, how, took, same in rows:
        print(f"| {what} | {how} | {took:.1f} s | {same} |")


if __name__ == "__main__":
    main()
