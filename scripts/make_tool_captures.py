#!/usr/bin/env python3
"""Record the same small target scanned by different tools (nmap, scapy,
hping3, masscan, zmap, pcapscan's own scanner), inside a throwaway two-namespace lab, for pcapscan's
fingerprint and compare tests.

    sudo python3 scripts/make_tool_captures.py                 # all runs -> captures/tools/
    sudo python3 scripts/make_tool_captures.py --runs nmap-syn,scapy-syn --out /tmp/t

Each run <name> writes <name>.pcap (tcpdump on the scanner's veth, filtered
to the two lab hosts), then README.md in the output directory is rewritten
as a table of file, tool and command. The target is the golden-capture port
plan (pcapscan/live/netns.py): TCP 80 open, 81 closed, 82 dropped, 83
admin-prohibited, 84 port-unreachable; UDP 53 open (answers), 54 closed, 55
dropped, 56 admin-prohibited, 57 port-unreachable.

Safety: every tool runs in the scanner namespace, which has one veth and no
route beyond the lab prefixes. The tools that bring their own packet engine
(masscan, zmap) are also given the lab veth, the lab source address, the
target's veth MAC as their router MAC and the lab target as their only
target, at a low rate; zmap gets an allow-list holding only that address.
Every capture is checked to hold nothing but lab addresses. nmap always
gets -n.
"""
from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pcapscan.errors import PcapscanError, SafetyRefusal  # noqa: E402
from pcapscan.live.netns import (  # noqa: E402
    GOLDEN_PLAN, LAB_NET4, LAB_NET6, SCANNER, Lab, LabError, in_lab_range, require_tools,
)

DEFAULT_OUT = REPO / "captures" / "tools"
TCP_PORTS = "80-84"
UDP_PORTS = "53-57"

# tool -> Debian package (scapy comes from PyPI: `pip install scapy`)
PACKAGES = {"nmap": "nmap", "hping3": "hping3", "masscan": "masscan", "zmap": "zmap"}

# scapy scripts, run with this Python inside the scanner namespace. {dst}
# is the lab target. Defaults first: nothing but dst, dport and flags set.
SCAPY_DEFAULT_SYN = """
from scapy.all import IP, TCP, conf, sr
conf.verb = 0
ans, unans = sr(IP(dst="{dst}")/TCP(dport=[80, 81, 82, 83, 84], flags="S"), timeout=2)
for snd, rcv in ans:
    print(snd.dport, rcv.summary())
for snd in unans:
    print(snd.dport, "no answer")
"""
SCAPY_DEFAULT_UDP = """
from scapy.all import IP, UDP, conf, sr
conf.verb = 0
ans, unans = sr(IP(dst="{dst}")/UDP(dport=[53, 54, 55, 56, 57]), timeout=2)
for snd, rcv in ans:
    print(snd.dport, rcv.summary())
for snd in unans:
    print(snd.dport, "no answer")
"""
# The course lab's style (shared/seeds/001): one sr1() per port, then a RST
# ("R", stealth) or RST/ACK ("AR", its "connect") sent by hand after a SYN/ACK.
SCAPY_SEEDS_TCP = """
from scapy.all import ICMP, IP, TCP, conf, sr, sr1
conf.verb = 0
dst_ip = "{dst}"
for dst_port in (80, 81, 82, 83, 84):
    resp = sr1(IP(dst=dst_ip)/TCP(dport=dst_port, flags="S"), timeout=1)
    if resp is None:
        print(dst_port, "Filtered")
    elif resp.haslayer(TCP):
        if resp.getlayer(TCP).flags == 0x12:
            send_ret = sr(IP(dst=dst_ip)/TCP(dport=dst_port, flags="{reply}"), timeout=1)
            print(dst_port, "Open")
        elif resp.getlayer(TCP).flags == 0x14:
            print(dst_port, "Closed")
    elif resp.haslayer(ICMP):
        if int(resp.getlayer(ICMP).type) == 3 and int(resp.getlayer(ICMP).code) in [1, 2, 3, 9, 10, 13]:
            print(dst_port, "Filtered")
"""
SCAPY_SEEDS_UDP = """
from scapy.all import DNS, ICMP, IP, UDP, conf, sr1
conf.verb = 0
dst_ip = "{dst}"
for dst_port in (53, 54, 55, 56, 57):
    resp = sr1(IP(dst=dst_ip)/UDP(dport=dst_port)/DNS(opcode=2), timeout=1)
    if resp is None:
        print(dst_port, "Open|Filtered")
    elif resp.haslayer(UDP):
        print(dst_port, "Open")
    elif resp.haslayer(ICMP):
        print(dst_port, "Closed" if int(resp.getlayer(ICMP).code) == 3 else "Filtered")
"""


@dataclass(frozen=True)
class Run:
    name: str
    tool: str
    what: str  # a few words for the README
    argv: Callable[["Context"], list[str]]
    shown: Callable[["Context"], str]  # the command as the README shows it
    wait: float = 0.5  # seconds to keep recording after the tool exits


@dataclass
class Context:
    lab: Lab
    tmp: Path

    @property
    def dst(self) -> str:
        return self.lab.target_addr4

    def scapy(self, name: str, source: str) -> list[str]:
        path = self.tmp / f"{name}.py"
        path.write_text(source.format(dst=self.dst, reply="R" if name.endswith("syn") else "AR"))
        return [sys.executable, str(path)]

    def adapter(self) -> list[str]:
        lab = self.lab
        return ["--adapter", lab.scanner_if, "--adapter-ip", lab.scanner_addr4, "--adapter-mac", lab.scanner_mac,
                "--router-mac", lab.target_mac]

    def zmap(self, extra: list[str], port: int) -> list[str]:
        lab = self.lab
        allow = self.tmp / "zmap-allow.txt"
        allow.write_text(f"{self.dst}/32\n")
        block = self.tmp / "zmap-block.txt"  # zmap's default blocklist holds 198.18.0.0/15 itself
        block.write_text("")
        return ["zmap", "-i", lab.scanner_if, "-S", lab.scanner_addr4, "--source-mac", lab.scanner_mac,
                "-G", lab.target_mac, "-w", str(allow), "-b", str(block), "-n", "1", "-r", "10", "-c", "2",
                "-p", str(port), "-q", "-o", "-", *extra, f"{self.dst}/32"]


def _nmap(*args: str) -> Callable[[Context], list[str]]:
    return lambda c: ["nmap", "-n", "-Pn", "--reason", "-T4", *args, c.dst]


def _scapy(name: str, source: str) -> tuple:
    return (lambda c: c.scapy(name, source),
            lambda c: f"python3 <script {name}.py in make_tool_captures.py>")


def _pcapscan(technique: str, ports: str) -> tuple:
    """pcapscan's own live scanner, from this checkout (PYTHONPATH), as `pcapscan scan` runs it."""
    return (lambda c: ["env", f"PYTHONPATH={REPO}", sys.executable, "-m", "pcapscan.cli", "scan", c.dst, "-p", ports,
                       "--technique", technique, "--timeout", "0.5"],
            lambda c: f"pcapscan scan {c.dst} -p {ports} --technique {technique} --timeout 0.5")


def _masscan(ports: str) -> Callable[[Context], list[str]]:
    return lambda c: ["masscan", c.dst, "-p", ports, "--rate", "20", "--wait", "2", *c.adapter()]


def _zmap_two(extra: list[str], ports: tuple) -> Callable[[Context], list[str]]:
    """zmap scans one port per run: run it once per port (sh -c, sequentially)."""
    def build(c: Context) -> list[str]:
        cmds = [" ".join(c.zmap(extra, p)) for p in ports]
        return ["sh", "-c", " && ".join(cmds)]
    return build


def _shown(argv_fn: Callable[[Context], list[str]]) -> Callable[[Context], str]:
    def show(c: Context) -> str:
        text = " ".join(argv_fn(c))
        return text.replace(str(c.tmp) + "/", "")
    return show


RUNS: list[Run] = []


def _add(name, tool, what, argv, shown=None, wait=0.5):
    RUNS.append(Run(name, tool, what, argv, shown or _shown(argv), wait))


_add("nmap-syn", "nmap", "nmap SYN scan (raw socket)", _nmap("-sS", "-p", TCP_PORTS))
_add("nmap-udp", "nmap", "nmap UDP scan (payloads for known ports)", _nmap("-sU", "-p", UDP_PORTS))
_add("scapy-syn", "scapy", "scapy SYN with every default (sport 20, seq 0, window 8192)",
     *_scapy("scapy-syn", SCAPY_DEFAULT_SYN))
_add("scapy-udp", "scapy", "scapy UDP with every default (sport 53)", *_scapy("scapy-udp", SCAPY_DEFAULT_UDP))
_add("scapy-seeds-syn", "scapy", "course-lab style: sr1() per port, R after SYN/ACK",
     *_scapy("scapy-seeds-syn", SCAPY_SEEDS_TCP))
_add("scapy-seeds-connect", "scapy", "course-lab style 'connect': sr1() per port, RST/ACK after SYN/ACK",
     *_scapy("scapy-seeds-connect", SCAPY_SEEDS_TCP))
_add("scapy-seeds-udp", "scapy", "course-lab style UDP: sr1() with a DNS payload per port",
     *_scapy("scapy-seeds-udp", SCAPY_SEEDS_UDP))
_add("hping3-syn", "hping3", "hping3 SYNs, destination port incremented per packet",
     lambda c: ["hping3", "-n", "-S", "-p", "++80", "-c", "5", "-i", "u200000", c.dst], wait=1.0)
_add("hping3-udp", "hping3", "hping3 UDP, destination port incremented per packet",
     lambda c: ["hping3", "-n", "-2", "-p", "++53", "-c", "5", "-i", "u200000", c.dst], wait=1.0)
_add("masscan-syn", "masscan", "masscan SYN scan", _masscan(TCP_PORTS))
_add("masscan-udp", "masscan", "masscan UDP scan", _masscan("U:" + UDP_PORTS))
_add("zmap-syn", "zmap", "zmap tcp_synscan, ports 80 and 81 (one zmap run per port)",
     _zmap_two([], (80, 81)))
_add("zmap-udp", "zmap", "zmap udp module, port 53 and 54 (one zmap run per port)",
     _zmap_two(["-M", "udp", "--probe-args=text:pcapscan"], (53, 54)))

_add("pcapscan-syn", "pcapscan", "pcapscan's live SYN scan (scapy-built probes, raw socket)",
     *_pcapscan("syn", TCP_PORTS), wait=1.0)
_add("pcapscan-udp", "pcapscan", "pcapscan's live UDP scan (payloads for known ports)",
     *_pcapscan("udp", UDP_PORTS), wait=1.0)

RUN_NAMES = [r.name for r in RUNS]


def outside_lab_packets(pcap: Path) -> int:
    """How many packets of `pcap` involve neither lab range (should be 0)."""
    bpf = f"not (net {LAB_NET4} or net {LAB_NET6}) and not arp"
    proc = subprocess.run(["tcpdump", "-nr", str(pcap), bpf], capture_output=True, text=True)
    return len([line for line in proc.stdout.splitlines() if line.strip()])


def foreign_arp(pcap: Path) -> int:
    """ARP packets naming an address outside the lab (a tool resolving a router elsewhere)."""
    proc = subprocess.run(["tcpdump", "-nr", str(pcap), "arp"], capture_output=True, text=True)
    bad = 0
    for line in proc.stdout.splitlines():
        words = [w.strip(",") for w in line.split()]
        addrs = [w for w in words if w.count(".") == 3 and w.replace(".", "").isdigit()]
        bad += any(not in_lab_range(a) for a in addrs)
    return bad


def do_run(lab: Lab, run: Run, out: Path, ctx: Context) -> dict:
    pcap = out / f"{run.name}.pcap"
    pcap.unlink(missing_ok=True)
    if not in_lab_range(ctx.dst):  # belt and braces: Lab already refuses this
        raise SafetyRefusal(f"refusing to scan {ctx.dst}")
    argv = run.argv(ctx)
    tool = argv[0] if argv[0] != "sh" else run.tool
    if run.tool not in ("scapy", "pcapscan") and shutil.which(tool) is None:
        print(f"[{run.name}] skipped: {tool} is not installed (apt-get install {PACKAGES.get(tool, tool)})")
        return {"run": run, "status": f"skipped: {tool} not installed"}
    print(f"[{run.name}] {run.shown(ctx)}", flush=True)
    ok = False
    try:
        lab.flush_neighbours()
        rec = lab.recorder(pcap).start()
        try:
            time.sleep(0.2)
            t0 = time.monotonic()
            proc = lab.exec(SCANNER, argv, check=False, timeout=120)
            took = time.monotonic() - t0
            time.sleep(run.wait)
        finally:
            rec.stop()
        output = (proc.stdout + proc.stderr).strip()
        if proc.returncode != 0:
            raise LabError(f"{run.tool} failed ({proc.returncode}): {output[-800:]}")
        stray, arp = outside_lab_packets(pcap), foreign_arp(pcap)
        if stray or arp:
            raise LabError(f"{pcap} holds {stray} packets and {arp} ARP packets outside the lab ranges")
        print(f"[{run.name}] {took:.1f}s, {rec.packets} packets, {pcap.stat().st_size} B", flush=True)
        for line in output.splitlines()[-8:]:
            print(f"[{run.name}]   {line}", flush=True)
        ok = True
        return {"run": run, "status": "ok", "packets": rec.packets, "command": run.shown(ctx)}
    finally:
        if not ok:
            pcap.unlink(missing_ok=True)


def tool_versions() -> dict:
    out = {}
    for tool, argv in {"nmap": ["nmap", "--version"], "hping3": ["hping3", "--version"],
                       "masscan": ["masscan", "--version"], "zmap": ["zmap", "--version"]}.items():
        if shutil.which(tool) is None:
            continue
        p = subprocess.run(argv, capture_output=True, text=True)
        lines = [ln.strip() for ln in (p.stdout + p.stderr).splitlines() if ln.strip()]
        out[tool] = lines[0] if lines else "?"
    try:
        import scapy

        out["scapy"] = f"scapy {scapy.__version__}"
    except ImportError:
        pass
    return out


def write_readme(out: Path, results: list[dict], bpf: str) -> Path:
    old = {}
    readme = out / "README.md"
    if readme.exists():  # keep the rows of runs not redone this time
        for line in readme.read_text().splitlines():
            if line.startswith("| `") and ".pcap`" in line:
                old[line.split("`")[1]] = line
    for r in results:
        if r["status"] == "ok":
            old[f"{r['run'].name}.pcap"] = (f"| `{r['run'].name}.pcap` | {r['run'].tool} | {r['run'].what} | "
                                            f"`{r['command']}` |")
    rows = [old[f"{n}.pcap"] for n in RUN_NAMES if f"{n}.pcap" in old and (out / f"{n}.pcap").exists()]
    versions = "; ".join(tool_versions().values())
    scripts = "\n\n".join(f"{name}:\n\n" + textwrap.indent(src.strip(), "    ") for name, src in (
        ("`scapy-syn.py`", SCAPY_DEFAULT_SYN), ("`scapy-udp.py`", SCAPY_DEFAULT_UDP),
        ("`scapy-seeds-syn.py` and `scapy-seeds-connect.py` (`{reply}` is R and AR)", SCAPY_SEEDS_TCP),
        ("`scapy-seeds-udp.py`", SCAPY_SEEDS_UDP)))
    text = f"""# Tool captures

The same lab target scanned by different tools, for `pcapscan analyze`'s
tool fingerprint and for `pcapscan compare`. Made by
`scripts/make_tool_captures.py` with `pcapscan/live/netns.py` (the lab of
captures/golden: scanner 198.18.0.1, target 198.18.0.2, one veth pair, no
other route). Tools: {versions}.

Target port plan: TCP 80 open (listener), 81 closed (kernel RST), 82 nft
drop, 83 nft reject admin-prohibited, 84 nft reject port-unreachable; UDP 53
open (a responder answering every datagram), 54 closed, 55 drop, 56
admin-prohibited, 57 port-unreachable. tcpdump runs on the scanner's veth
with the filter `{bpf}`.

| file | tool | what | command (inside the scanner namespace) |
|---|---|---|---|
{chr(10).join(rows)}

masscan and zmap are given the lab veth (`--adapter`, `-i`), the lab source
address and MAC, the target's veth MAC as their router MAC, a rate of 10-20
packets/s and the lab target as their only target; zmap's default blocklist
holds 198.18.0.0/15 itself, so it gets an allow-list of 198.18.0.2/32 and an
empty blocklist. zmap 2.1 scans one port per run, so its captures hold two
runs.

## Things to know

- The scanner's kernel has no socket behind a raw-packet probe, so it
  answers every SYN/ACK with a bare RST (window 0, seq = the SYN/ACK's ack):
  nmap, scapy, hping3, masscan and zmap captures all show it. scapy's course
  scripts add their own R or RA after it; masscan adds its own RST too.
- hping3's scan mode (`hping3 --scan 80-84 -S`) is not recorded: Debian's
  hping3 3.a2.ds2-10 aborts in it with "buffer overflow detected" (glibc's
  fortify check) after printing its results.
- The scapy scripts:

{textwrap.indent(scripts, "  ")}

## Regenerate

    sudo python3 scripts/make_tool_captures.py                      # everything
    sudo python3 scripts/make_tool_captures.py --runs zmap-syn      # a subset
    apt-get install nmap hping3 masscan zmap tcpdump nftables; pip install scapy
"""
    readme.write_text(text)
    return readme


class Interrupted(Exception):
    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupted(signum, _frame):
    raise Interrupted(signum)


def parse_runs(text: str) -> list[Run]:
    if text in ("", "all"):
        return list(RUNS)
    wanted = [t.strip() for t in text.split(",") if t.strip()]
    by_name = {r.name: r for r in RUNS}
    out = []
    for name in wanted:
        matches = [by_name[name]] if name in by_name else [r for r in RUNS if r.tool == name]
        if not matches:
            raise SystemExit(f"unknown run {name!r}; choose from {', '.join(RUN_NAMES)}, a tool name, or all")
        out += matches
    return list(dict.fromkeys(out))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    ap.add_argument("--runs", default="all", help="comma list of runs or tools: " + ", ".join(RUN_NAMES))
    ap.add_argument("-v", "--verbose", action="store_true", help="print every lab command")
    args = ap.parse_args(argv)
    runs = parse_runs(args.runs)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupted)
    results: list[dict] = []
    try:
        require_tools(("ip", "nft", "tcpdump"))
        args.out.mkdir(parents=True, exist_ok=True)
        lab = Lab(verbose=args.verbose, ipv6=False)
        with tempfile.TemporaryDirectory(prefix="pcapscan-tools-") as tmp:
            try:
                lab.up()
                lab.setup_plan(GOLDEN_PLAN)
                ctx = Context(lab, Path(tmp))
                for run in runs:
                    try:
                        results.append(do_run(lab, run, args.out, ctx))
                    except LabError as exc:  # one tool failing does not stop the others
                        print(f"[{run.name}] FAILED: {exc}", file=sys.stderr, flush=True)
                        results.append({"run": run, "status": f"failed: {exc}"})
            finally:
                saved = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
                try:
                    lab.down()
                finally:
                    for s, h in saved.items():
                        signal.signal(s, h)
                print(f"lab removed ({lab.scanner_ns}, {lab.target_ns})", flush=True)
        print(f"wrote {write_readme(args.out, results, lab.bpf())}")
        failed = [r for r in results if r["status"] != "ok"]
        for r in failed:
            print(f"  {r['run'].name}: {r['status']}")
        return 1 if failed else 0
    except PcapscanError as exc:
        print(f"make_tool_captures: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("make_tool_captures: interrupted; lab removed", file=sys.stderr)
        return 130
    except Interrupted as exc:
        print(f"make_tool_captures: interrupted ({exc}); lab removed", file=sys.stderr)
        return 128 + exc.signum


if __name__ == "__main__":
    sys.exit(main())
