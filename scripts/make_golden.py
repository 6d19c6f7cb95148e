#!/usr/bin/env python3
"""Make pcapscan's golden captures: real nmap scans recorded with tcpdump,
next to nmap's own XML, inside a throwaway two-namespace lab.

    sudo python3 scripts/make_golden.py                      # all runs -> captures/golden/
    sudo python3 scripts/make_golden.py --techniques syn,udp6 --out /tmp/g

For each run <name> it writes <name>.pcap (tcpdump on the scanner's veth,
filtered to the two lab hosts) and <name>.xml (nmap -oX), overwriting older
files, then rewrites README.md in the output directory from the XML files
present there. Nothing outside the lab namespaces is scanned (see
pcapscan/live/netns.py); nmap always gets -n.
"""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pcapscan.live.netns import (  # noqa: E402
    GOLDEN_PLAN, LAB_NET4, LAB_NET6, SCANNER, Lab, LabError, PortPlan, in_lab_range, require_tools,
)
from pcapscan.errors import PcapscanError, SafetyRefusal  # noqa: E402
from pcapscan.techniques import REGISTRY, live_techniques  # noqa: E402

TECHNIQUES = {t.value: REGISTRY[t].nmap_option for t in live_techniques()}  # name -> nmap scan-type flag
# Every technique against IPv4 ("syn") and IPv6 ("syn6").
RUNS = list(TECHNIQUES) + [f"{t}6" for t in TECHNIQUES]
DEFAULT_OUT = REPO / "captures" / "golden"


def port_spec(ports: list[int]) -> str:
    """80-84 for a contiguous run, else a comma list."""
    ports = sorted(ports)
    if len(ports) > 1 and ports == list(range(ports[0], ports[-1] + 1)):
        return f"{ports[0]}-{ports[-1]}"
    return ",".join(map(str, ports))


def nmap_argv(run: str, lab: Lab, plan: PortPlan, xml_path: Path) -> list[str]:
    tech = run[:-1] if run.endswith("6") else run
    v6 = run.endswith("6")
    target = lab.target_addr6 if v6 else lab.target_addr4
    if not in_lab_range(target):  # belt and braces: Lab already refuses this
        raise SafetyRefusal(f"refusing to scan {target}: outside {LAB_NET4} / {LAB_NET6}")
    argv = ["nmap", "-n", "-Pn", "--reason", "-T4"] + (["-6"] if v6 else [])
    if tech == "udp":
        argv += ["-sU", "-p", "U:" + port_spec(plan.ports("udp"))]
    else:
        argv += [TECHNIQUES[tech], "-p", port_spec(plan.ports("tcp"))]
    # nmap runs with cwd = the output directory, so its XML records "-oX <run>.xml"
    return argv + ["-oX", xml_path.name, target]


def read_ports(xml_path: Path) -> list[dict]:
    """[{proto, port, state, reason, reason_ttl}] from an nmap XML file."""
    root = ET.parse(xml_path).getroot()
    out = []
    for port in root.iter("port"):
        st = port.find("state")
        out.append({"proto": port.get("protocol"), "port": int(port.get("portid")),
                    "state": st.get("state"), "reason": st.get("reason"), "reason_ttl": st.get("reason_ttl")})
    # nmap folds nothing with 5 ports, but be safe about <extraports>
    for extra in root.iter("extraports"):
        for r in extra.iter("extrareasons"):
            out.append({"proto": r.get("proto", "?"), "port": r.get("ports", "?"), "state": extra.get("state"),
                        "reason": r.get("reason"), "reason_ttl": None})
    return out


def outside_lab_packets(pcap: Path) -> int:
    """How many packets of `pcap` involve neither lab range (should be 0)."""
    bpf = f"not (net {LAB_NET4} or net {LAB_NET6})"
    proc = subprocess.run(["tcpdump", "-nr", str(pcap), bpf], capture_output=True, text=True)
    return len([line for line in proc.stdout.splitlines() if line.strip()])


def do_run(lab: Lab, run: str, out: Path, plan: PortPlan) -> None:
    pcap, xml = out / f"{run}.pcap", out / f"{run}.xml"
    for f in (pcap, xml):
        f.unlink(missing_ok=True)
    argv = nmap_argv(run, lab, plan, xml)
    print(f"[{run}] {' '.join(argv)}", flush=True)
    ok = False
    try:
        lab.flush_neighbours()  # every capture starts with ARP/ND resolution
        rec = lab.recorder(pcap).start()
        try:
            time.sleep(0.2)
            t0 = time.monotonic()
            proc = lab.exec(SCANNER, argv, check=False, timeout=600, cwd=out)
            took = time.monotonic() - t0
            time.sleep(0.5)  # let late answers arrive before the recorder stops
        finally:
            rec.stop()
        if proc.returncode != 0 or not xml.exists():
            raise LabError(f"nmap failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
        stray = outside_lab_packets(pcap)
        if stray:
            raise LabError(f"{pcap} holds {stray} packets outside the lab ranges")
        ports = read_ports(xml)
        summary = "  ".join(f"{p['port']}/{p['proto']}={p['state']}({p['reason']})" for p in ports)
        print(f"[{run}] {took:.1f}s, {rec.packets} packets, pcap {pcap.stat().st_size} B, "
              f"xml {xml.stat().st_size} B", flush=True)
        print(f"[{run}]   {summary}", flush=True)
        ok = True
    finally:
        if not ok:  # never leave a pcap without its XML, or the reverse
            for f in (pcap, xml):
                f.unlink(missing_ok=True)


def write_readme(out: Path, plan: PortPlan, bpf: str) -> Path:
    rows, version = [], "?"
    for run in RUNS:
        xml = out / f"{run}.xml"
        if not xml.exists() or not (out / f"{run}.pcap").exists():
            continue
        root = ET.parse(xml).getroot()
        version = root.get("version", version)
        args = root.get("args", "")
        args = args.replace(str(xml), f"{run}.xml")
        states = ", ".join(f"{p['port']} {p['state']} ({p['reason']})" for p in read_ports(xml))
        states = states.replace("|", "\\|")  # open|filtered inside a Markdown table
        rows.append(f"| `{run}.pcap` / `{run}.xml` | `{args}` | {states} |")
    plan_rows = [f"| {proto} | {port} | {what} |" for proto, port, what in plan.describe()]
    text = f"""# Golden captures

Real nmap {version} scans, recorded with tcpdump, next to the XML nmap wrote
(`-oX`) during the same run. pcapscan must reproduce from each `.pcap` the
per-port state and reason in its `.xml`. The XML holds start times and
durations; only the port verdicts matter.

## Lab

Made by `scripts/make_golden.py` with `pcapscan/live/netns.py`: two network
namespaces joined by one veth pair, nothing else (no default route).
Scanner 198.18.0.1/24 and 2001:2::1/64, target 198.18.0.2/24 and
2001:2::2/64 (benchmarking ranges 198.18.0.0/15 and 2001:2::/48), MACs
02:00:c6:12:00:01 and 02:00:c6:12:00:02. The target has ICMP rate limits
off (`net.ipv4.icmp_ratelimit=0`, `net.ipv6.icmp.ratelimit=0`). Neighbour
caches are flushed before each run, so each capture starts with ARP or ND.
tcpdump (`-U --immediate-mode`, default snap length) runs on the scanner's
veth with the filter

    {bpf}

## Port plan (target)

Firewall: nftables table `inet pcapscan`, input chain, policy accept.

| proto | port | target behaviour |
|---|---|---|
{chr(10).join(plan_rows)}

## Files

Commands are as nmap recorded them (run inside the scanner namespace);
states and reasons are nmap's (`--reason`).

| files | nmap command | nmap's verdicts |
|---|---|---|
{chr(10).join(rows)}

## Things to know (observed with nmap 7.93 on Linux)

- Raw-packet scans (-sS/-sF/-sX/-sN/-sA/-sW/-sM/-sU) start with two ARP
  (or ND) exchanges: the kernel's and nmap's own. Connect scans (-sT) show
  the scanner kernel's full handshakes and the target's FIN from port 80.
- -sT sees socket errors, not packets: ICMP port-unreachable becomes
  `closed (conn-refused)`, like a RST; admin-prohibited becomes
  `filtered (host-unreach)` over IPv4 (EHOSTUNREACH) but
  `filtered (admin-prohibited)` over IPv6 (EACCES). Over IPv6 the kernel
  retransmits the SYN once after either ICMPv6 error before giving up.
- Linux answers -sW and -sM probes to an open port with a RST of window 0,
  so nmap says `closed (reset)` for port 80 there.
- In -sU runs the scanner kernel answers the responder's replies with ICMP
  port-unreachable (nmap's raw probes had no socket behind them).
- Silent ports get one retransmission about 1.1 s after the first probe.

## Regenerate

    sudo python3 scripts/make_golden.py                        # everything, into captures/golden/
    sudo python3 scripts/make_golden.py --techniques syn,udp6  # a subset
    sudo python3 scripts/make_golden.py --out /tmp/golden      # elsewhere

Needs root, iproute2, nftables, tcpdump and nmap. Re-running overwrites
files of the same name and rewrites this README from the XML files present.
"""
    path = out / "README.md"
    path.write_text(text)
    return path


def parse_runs(text: str) -> list[str]:
    if text in ("all", ""):
        return list(RUNS)
    runs = []
    for name in (t.strip() for t in text.split(",")):
        if name == "all4":
            runs += list(TECHNIQUES)
        elif name == "all6":
            runs += [f"{t}6" for t in TECHNIQUES]
        elif name in RUNS:
            runs.append(name)
        elif name:
            raise SystemExit(f"unknown technique {name!r}; choose from {', '.join(RUNS)}, all, all4, all6")
    return list(dict.fromkeys(runs))


class Interrupted(Exception):
    """SIGTERM or SIGHUP arrived (SIGINT raises KeyboardInterrupt)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupted(signum, _frame):
    raise Interrupted(signum)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    ap.add_argument("--techniques", default="all",
                    help="comma list of runs: " + ", ".join(RUNS) + "; or all (default), all4, all6")
    ap.add_argument("--no-readme", action="store_true", help="do not rewrite OUT/README.md")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every lab command")
    args = ap.parse_args(argv)
    runs = parse_runs(args.techniques)

    # Turn signals into exceptions so the finally below always removes the lab.
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupted)
    try:
        require_tools(("ip", "nft", "tcpdump", "nmap"))
        args.out.mkdir(parents=True, exist_ok=True)
        lab = Lab(verbose=args.verbose)
        try:
            print(f"lab: {lab.scanner_ns} ({lab.scanner_addr4}, {lab.scanner_addr6}) <-> "
                  f"{lab.target_ns} ({lab.target_addr4}, {lab.target_addr6})", flush=True)
            lab.up()
            lab.setup_plan(GOLDEN_PLAN)
            print("target: " + "; ".join(f"{port}/{proto} {what}" for proto, port, what in GOLDEN_PLAN.describe()),
                  flush=True)
            for run in runs:
                do_run(lab, run, args.out, GOLDEN_PLAN)
        finally:
            # a second Ctrl-C must not cut the cleanup short
            saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
            try:
                lab.down()
            finally:
                for sig, handler in saved.items():
                    signal.signal(sig, handler)
            print(f"lab removed ({lab.scanner_ns}, {lab.target_ns})", flush=True)
        if not args.no_readme:
            print(f"wrote {write_readme(args.out, GOLDEN_PLAN, lab.bpf())}")
        print(f"done: {len(runs)} runs into {args.out}")
        return 0
    except PcapscanError as exc:
        print(f"make_golden: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("make_golden: interrupted (SIGINT); lab removed, partial run deleted", file=sys.stderr)
        return 130
    except Interrupted as exc:
        print(f"make_golden: interrupted ({exc}); lab removed, partial run deleted", file=sys.stderr)
        return 128 + exc.signum


if __name__ == "__main__":
    sys.exit(main())
