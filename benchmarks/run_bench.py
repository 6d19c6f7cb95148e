#!/usr/bin/env python3
"""Benchmark pcapscan against its two peers on the same capture, in one run.

    python3 benchmarks/run_bench.py                      # bench-5m.pcap (built first if missing)
    python3 benchmarks/run_bench.py --doubling           # also the 10M capture: does memory double?
    python3 benchmarks/run_bench.py --write-docs         # and rewrite the table in docs/performance.md

Each command runs alone, one after the other, under GNU time (wall clock and
peak resident memory of the process). pcapscan's table run is repeated
(--repeat, default 3) between its peers' runs: before tshark, between
tshark and the dpkt loop, after the dpkt loop. The machine's speed drifts
over minutes (a shared VM), and each peer runs for minutes while pcapscan
runs for seconds: the median of pcapscan's runs spread over the same span
is its fair counterpart (every run is listed; memory is the worst run's).
pcapscan forks a second process, so each pcapscan command runs once more,
not timed, while the proportional set size of its whole process tree is
sampled: the "all processes" column (for the peers, one process each, it
is their peak resident memory again).

    pcapscan analyze FILE -o OUT            (table, as a user runs it)
    pcapscan analyze FILE -f json -o OUT    (every port's verdict)
    tshark -r FILE -T fields -e ip.src -e ip.dst -e tcp.srcport -e tcp.dstport -e tcp.flags
    a plain dpkt loop decoding every packet (Ethernet, IP, TCP/UDP), reading the same fields

pcapscan is byte-compiled first, as `pip install` leaves it (compile_package),
and a last line times the start-up: a 10-packet capture, median of 5 runs.

A table of packets per second, wall time and peak memory is printed,
with pcapscan's speed as a multiple of each peer's. Targets (issue 7):
pcapscan at least 20x tshark and 10x the dpkt loop; under 500 MiB for the
5M capture, and less than twice that for the 10M one.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = HERE / "data"
DOC = REPO / "docs" / "performance.md"

DPKT_LOOP = r'''
import sys, dpkt
n = 0
with open(sys.argv[1], "rb") as fh:
    for ts, buf in dpkt.pcap.Reader(fh):
        eth = dpkt.ethernet.Ethernet(buf)
        ip = eth.data
        if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
            l4 = ip.data
            if isinstance(l4, dpkt.tcp.TCP):
                fields = (ip.src, ip.dst, l4.sport, l4.dport, l4.flags)
            elif isinstance(l4, dpkt.udp.UDP):
                fields = (ip.src, ip.dst, l4.sport, l4.dport)
        n += 1
print(n)
'''


def capture(packets: int) -> Path:
    path = DATA / f"bench-{packets / 1e6:g}m.pcap"
    if not path.exists():
        subprocess.run([sys.executable, str(HERE / "make_bench_capture.py"), "--packets", str(packets),
                        "--out", str(path)], check=True)
    return path


def count_packets(path: Path) -> int:
    import struct

    n = 0
    with open(path, "rb") as fh:
        fh.read(24)
        while True:
            head = fh.read(16)
            if len(head) < 16:
                return n
            fh.seek(struct.unpack("<I", head[8:12])[0], 1)
            n += 1


def _tree(pid: int) -> list:
    """pid and all its descendants (Linux /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except OSError:
            pass
    return out


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def timed(argv: list, stdout=subprocess.DEVNULL, sample: bool = False) -> tuple:
    """(wall seconds, peak MiB, peak MiB of all its processes together or None)
    of one command: wall clock and peak resident memory by GNU time (for a
    command that forks, that is its largest process); with `sample`, the sum,
    by sampling the proportional set size (shared pages split between the
    processes sharing them) of the whole process tree every 20 ms. Sampling
    slows the command down (reading smaps walks its page tables under its
    memory lock: pcapscan took 4.3-5.0 s sampled, 3.8-4.2 s not), so a run
    is either timed or sampled, never both."""
    import threading
    import time

    gnu_time = shutil.which("time") or "/usr/bin/time"
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        proc = subprocess.Popen([gnu_time, "-o", tf.name, "-f", "%e %M"] + argv, stdout=stdout,
                                stderr=subprocess.PIPE, text=True)
        peak = [0]

        def sample_pss():
            while proc.poll() is None:
                peak[0] = max(peak[0], sum(_pss_kib(p) for p in _tree(proc.pid)[1:]))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample_pss, daemon=True) if sample else None
        if sampler:
            sampler.start()
        _out, err = proc.communicate()
        if sampler:
            sampler.join()
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err[-2000:]}")
        wall, kib = tf.read().split()[-2:]
    return float(wall), int(kib) / 1024, (peak[0] / 1024 if sample else None)


def machine() -> str:
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), {mem} RAM, Python {platform.python_version()}, {platform.system()}"


def versions() -> str:
    out = []
    try:
        tshark = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        out.append(tshark.strip())
    except (OSError, IndexError):
        pass
    import dpkt
    import numpy

    out.append(f"dpkt {dpkt.__version__}, numpy {numpy.__version__}")
    try:
        import numba

        out.append(f"numba {numba.__version__} (used from {1 << 30 >> 20} MiB captures on)")
    except ImportError:
        out.append("numba not installed")
    return "; ".join(out)


def compile_package() -> None:
    """Byte-compile pcapscan as `pip install` does: an editable install, or an
    environment with PYTHONDONTWRITEBYTECODE set (this machine's), would
    otherwise compile every module from source at every start."""
    import pcapscan

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(pcapscan.__file__).parent)], check=True)


def startup(pcapscan: list, source: Path, out_dir: Path, runs: int = 5) -> str:
    """A line on the start-up target: `pcapscan analyze` of a 10-packet capture
    (the first ten of `source`), the median of `runs` runs."""
    small = out_dir / "ten.pcap"
    with open(source, "rb") as src, open(small, "wb") as dst:
        import struct

        dst.write(src.read(24))
        for _ in range(10):
            head = src.read(16)
            dst.write(head + src.read(struct.unpack("<I", head[8:12])[0]))
    walls = sorted(timed(pcapscan + ["analyze", str(small), "-o", str(out_dir / "ten.txt")])[0] for _ in range(runs))
    return (f"Start-up: `pcapscan analyze` of a 10-packet capture, median of {runs} runs: {statistics.median(walls):.2f} s "
            f"({', '.join(f'{w:.2f}' for w in walls)} s).")


def run(args) -> str:
    pcapscan = [sys.executable, "-m", "pcapscan.cli"]
    compile_package()
    files = [capture(5_000_000)] + ([capture(10_000_000)] if args.doubling else [])
    rows = []
    out_dir = Path(tempfile.mkdtemp(prefix="pcapscan-bench-"))
    env_note = []
    for path in files:
        packets = count_packets(path)
        size = path.stat().st_size / 2**20
        label = f"{path.name} ({packets:,} packets, {size:.0f} MiB)"
        ours = (OURS, pcapscan + ["analyze", str(path), "-o", str(out_dir / "out.txt")])
        runs = [ours, ("pcapscan analyze -f json", pcapscan + ["analyze", str(path), "-f", "json", "-o",
                                                               str(out_dir / "out.json")])]
        if path == files[0] or args.peers_on_all:
            peers = []
            if shutil.which("tshark"):
                peers.append(("tshark -T fields (5 fields)", ["tshark", "-r", str(path), "-T", "fields", "-e", "ip.src",
                                                              "-e", "ip.dst", "-e", "tcp.srcport", "-e", "tcp.dstport",
                                                              "-e", "tcp.flags"]))
            peers.append(("dpkt loop (decode every packet)", [sys.executable, "-c", DPKT_LOOP, str(path)]))
            # pcapscan again after each peer (and between them), up to --repeat runs in all
            for i, peer in enumerate(peers):
                runs.append(peer)
                if i + 2 <= args.repeat:
                    runs.append(ours)
            runs += [ours] * max(0, args.repeat - 1 - len(peers))
        for name, argv in runs:
            print(f"running {name} on {path.name} ... (load average {os.getloadavg()[0]:.2f})", file=sys.stderr,
                  flush=True)
            wall, peak, _ = timed(argv)
            rows.append((label, name, packets, wall, peak, peak))  # one process: all of it
        # pcapscan forks: its processes' memory together, each command once more, sampled (not timed)
        pss = {}
        for name, argv in dict(runs).items():
            if name.startswith("pcapscan"):
                print(f"sampling the memory of {name} on {path.name} ...", file=sys.stderr, flush=True)
                pss[name] = timed(argv, sample=True)[2]
        rows = [r if r[0] != label or r[1] not in pss else (*r[:5], pss[r[1]]) for r in rows]
        env_note.append(label)
    start = startup(pcapscan, files[0], out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    return table(rows) + "\n\n" + start


OURS = "pcapscan analyze (table)"


def _merged_ours(items) -> list:
    """The repeated runs of pcapscan's table as one row: the median wall time
    (every run named), the worst memory; the other rows as they are."""
    mine = [it for it in items if it[0] == OURS]
    median = statistics.median(w for _n, _p, w, _m, _t in mine)
    name = OURS if len(mine) == 1 else (f"{OURS}, median of {len(mine)} runs "
                                        f"({', '.join(f'{w:.2f}' for _n, _p, w, _m, _t in mine)} s)")
    row = (name, mine[0][1], median, max(m for *_r, m, _t in mine), max(t for *_r, t in mine))
    out = [row]
    out += [it for it in items if it[0] != OURS]
    return out


def table(rows) -> str:
    lines = ["| capture | program | wall s | packets/s | peak MiB (largest process) | peak MiB (all processes) "
             "| pcapscan (table) is ... faster |",
             "|---|---|---:|---:|---:|---:|---:|"]
    by_capture: dict = {}
    for label, name, packets, wall, peak, total in rows:
        by_capture.setdefault(label, []).append((name, packets, wall, peak, total))
    mem = []
    for label, items in by_capture.items():
        items = _merged_ours(items)
        ours = items[0][2]
        mem.append((label, items[0][3], items[0][4]))
        for name, packets, wall, peak, total in items:
            ratio = "" if name.startswith("pcapscan") else f"{wall / ours:.1f}x"
            lines.append(f"| {label} | {name} | {wall:.2f} | {packets / wall:,.0f} | {peak:.0f} | {total:.0f} "
                         f"| {ratio} |")
    if len(mem) == 2:
        lines.append("")
        lines.append(f"Peak memory, 10M vs 5M packets: {mem[1][1]:.0f} / {mem[0][1]:.0f} MiB = "
                     f"{mem[1][1] / mem[0][1]:.2f}x largest process, {mem[1][2]:.0f} / {mem[0][2]:.0f} MiB = "
                     f"{mem[1][2] / mem[0][2]:.2f}x all processes (doubling the capture must not double it).")
    return "\n".join(lines)


def write_docs(text: str, marker: str = "bench") -> None:
    """`text` between the <!-- MARKER:start/end --> comments of docs/performance.md."""
    doc = DOC.read_text() if DOC.exists() else ""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    block = f"{start}\nMachine: {machine()}.\nTools: {versions()}.\n\n{text}\n{end}"
    if start in doc and end in doc:
        doc = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _m: block, doc, flags=re.S)
    else:
        doc += "\n" + block + "\n"
    DOC.write_text(doc)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--doubling", action="store_true", help="also the 10M-packet capture (memory doubling check)")
    ap.add_argument("--peers-on-all", action="store_true", help="run tshark and dpkt on the 10M capture too")
    ap.add_argument("--write-docs", action="store_true", help=f"rewrite the table in {DOC.relative_to(REPO)}")
    ap.add_argument("--repeat", type=int, default=3, metavar="N",
                    help="runs of pcapscan's table on the 5M capture, spread between its peers' (default 3)")
    args = ap.parse_args(argv)
    text = run(args)
    print(f"Machine: {machine()}\nTools: {versions()}\n")
    print(text)
    if args.write_docs:
        write_docs(text)
        print(f"\nwrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
