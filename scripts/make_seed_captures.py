#!/usr/bin/env python3
"""Record the seeds' scan scripts (scripts/seeds/) in the namespace lab, so
that `pcapscan verify` can be tested on exactly the traffic the seeds' code
makes, mistakes included.

    sudo python3 scripts/make_seed_captures.py               # every run -> captures/seeds/
    sudo python3 scripts/make_seed_captures.py --runs seed001-stealth,tutorial-connect
    sudo python3 scripts/make_seed_captures.py --out /tmp/seeds

For each run <name> it writes <name>.pcap (tcpdump on the scanner's veth,
filtered to the two lab hosts). Then, from what the scripts printed and
from the lab's port plan, it writes two claim files for `pcapscan verify
--expect`:

    printed.toml   what each script concluded, port by port (a port on which
                   it printed nothing, or crashed, has no claim)
    intended.toml  what the lab meant each port to be (80 open, 81 closed,
                   82-84 filtered; UDP 53 open, 54 closed, 55-57 filtered):
                   what a report like seed 001 claims

and a README.md with the port plan, the runs and verify's findings on each.
The scripts run only inside the lab's scanner namespace (no route but the
lab's 198.18.0.0/24); their targets are checked against 198.18.0.0/15 by
the scripts themselves and by pcapscan.live.netns.Lab. nmap always gets -n.
"""
from __future__ import annotations

import argparse
import re
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pcapscan.errors import PcapscanError, SafetyRefusal  # noqa: E402
from pcapscan.live.netns import SCANNER, TARGET, Lab, PortPlan, in_lab_range, require_tools  # noqa: E402

SEEDS = REPO / "scripts" / "seeds"
DEFAULT_OUT = REPO / "captures" / "seeds"

# The lab plan: the golden plan, except that 84/tcp is rejected with a TCP
# reset (what "ufw reject" does to TCP) instead of ICMP port-unreachable.
PLAN = PortPlan(tcp_unreach=(), udp_unreach=(57,))
TCP_PORTS = [80, 81, 82, 83, 84]
UDP_PORTS = [53, 54, 55, 56, 57]
TCP_RESET_PORT = 84
INTENDED = {80: "open", 81: "closed", 82: "filtered", 83: "filtered", 84: "filtered",
            53: "open", 54: "closed", 55: "filtered", 56: "filtered", 57: "filtered"}
PLAN_WORDS = {80: "listener (accept, close)", 81: "nothing listens (kernel RST)", 82: "nft drop",
              83: "nft reject with icmpx type admin-prohibited", 84: "nft reject with tcp reset",
              53: "responder (answers every datagram)", 54: "nothing listens (kernel ICMP port-unreachable)",
              55: "nft drop", 56: "nft reject with icmpx type admin-prohibited",
              57: "nft reject with icmpx type port-unreachable"}

# name -> (script, extra arguments, ports, technique the script means)
RUNS = {
    "seed000-syn": ("seed000_syn_scan.py", [], TCP_PORTS, "syn"),
    "seed000-connect": ("seed000_connect_scan.py", [], TCP_PORTS, "connect"),
    "seed000-null": ("seed000_inverse_scan.py", ["--flags", ""], TCP_PORTS, "null"),
    "seed000-fin": ("seed000_inverse_scan.py", ["--flags", "F"], TCP_PORTS, "fin"),
    "seed000-xmas": ("seed000_inverse_scan.py", ["--flags", "FUP"], TCP_PORTS, "xmas"),
    "seed001-connect": ("seed001_connect_scan.py", [], TCP_PORTS, "connect"),
    "seed001-stealth": ("seed001_stealth_scan.py", [], TCP_PORTS, "syn"),
    "seed001-xmas": ("seed001_inverse_scan.py", ["--flags", "FPU"], TCP_PORTS, "xmas"),
    "seed001-fin": ("seed001_inverse_scan.py", ["--flags", "F"], TCP_PORTS, "fin"),
    "seed001-null": ("seed001_inverse_scan.py", ["--flags", ""], TCP_PORTS, "null"),
    "seed001-udp": ("seed001_udp_scan.py", [], UDP_PORTS, "udp"),
    "seed001-udp-principle": ("seed001_udp_principle.py", [], UDP_PORTS, "udp"),
    "tutorial-connect": ("tutorial_connect_scan.py", [], TCP_PORTS, "connect"),
}
# A target whose port 80 answers RST to any segment without SYN, RST or ACK
# (what Windows does), scanned by nmap: the SYN scan shows 80 open, the Xmas
# scan reads it closed (rfc793-deviation).
WINDOWS_LIKE = {"windows-like-syn": "-sS", "windows-like-xmas": "-sX"}
WINDOWS_LIKE_RULE = "tcp dport 80 tcp flags & (syn | rst | ack) == 0 reject with tcp reset"


def state_of(text: str):
    """The state a script's output line names, or None."""
    t = re.sub(r"\x1b\[[0-9;]*m", "", text).lower()
    if re.search(r"open\s*[|/]\s*filtered", t):
        return "open|filtered"
    for word in ("closed", "filtered", "open"):
        if re.search(rf"\b{word}\b", t):
            return word
    return None


def parse_output(stdout: str) -> dict:
    """port -> (state or None, the lines printed for it)."""
    out, port = {}, None
    for line in stdout.splitlines():
        m = re.match(r"== port (\d+)", line)
        if m:
            port = int(m.group(1))
            out[port] = (None, [])
            continue
        if port is None or not line.strip():
            continue
        state, lines = out[port]
        lines.append(line.strip())
        if state is None and not line.startswith("!!"):
            state = state_of(line)
        out[port] = (state, lines)
    return out


def _said(lines: list) -> list:
    """A script's conclusions and crashes, without scapy's progress chatter and colours."""
    clean = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in lines]
    return [line for line in clean if line.startswith("!!") or state_of(line)]


def record(lab: Lab, path: Path, argv: list, cwd: Path) -> str:
    lab.flush_neighbours()
    rec = lab.recorder(path)
    rec.start()
    try:
        time.sleep(0.3)
        proc = lab.exec(SCANNER, argv, cwd=str(cwd), timeout=600)
        time.sleep(1.0)  # late packets: retransmitted SYN/ACKs, the kernel's RSTs
    finally:
        rec.stop()
    return proc.stdout


def claims_toml(entries: dict, header: str) -> str:
    lines = [header, ""]
    for name, (claims, note) in entries.items():
        lines += ["[[capture]]", f'path = "{name}.pcap"']
        if note:
            lines.append(f"# {note}")
        lines.append("claims = [" + ", ".join(f'"{c}"' for c in claims) + "]")
        lines.append("")
    return "\n".join(lines)


def write_readme(out: Path, printed: dict, outputs: dict) -> None:
    from pcapscan.verify import verify

    lines = ["# Seed captures", "",
             "The seeds' scan scripts (`scripts/seeds/`: the demo code of seed 000, the lab report code of seed 001,",
             "and the scapy tutorial seed 001 cites), run in the namespace lab by `scripts/make_seed_captures.py`",
             "while tcpdump recorded the scanner's veth. They are test fixtures for `pcapscan verify`",
             "(tests/test_verify.py): verify must name each mistake of the scripts in their own traffic.", "",
             "## Lab", "", "Scanner 198.18.0.1, target 198.18.0.2 (two network namespaces, one veth pair).", "",
             "| proto | port | target behaviour | intended state |", "|---|---|---|---|"]
    for port in TCP_PORTS + UDP_PORTS:
        proto = "tcp" if port in TCP_PORTS else "udp"
        lines.append(f"| {proto} | {port} | {PLAN_WORDS[port]} | {INTENDED[port]} |")
    lines += ["", "`printed.toml`: what each script concluded, port by port (as `--expect` claims);",
              "`intended.toml`: what the lab meant each port to be, with the script's technique:",
              "what a report like seed 001's claims. `windows-like-*.pcap`: nmap -sS / -sX against a",
              f"target that also answers `{WINDOWS_LIKE_RULE}` (a Windows-like stack on port 80).", "",
              "## Runs", "", "| capture | script | printed, per port | verify --expect intended.toml |",
              "|---|---|---|---|"]
    intended = out / "intended.toml"
    for name in list(RUNS) + list(WINDOWS_LIKE):
        pcap = out / f"{name}.pcap"
        if not pcap.exists():
            continue
        if name in RUNS:
            script = "`" + " ".join([RUNS[name][0]] + [shlex.quote(a) for a in RUNS[name][1]]) + "`"
            said = "; ".join(f"{p}: {' / '.join(_said(ls)) or '(nothing)'}"
                             for p, (_, ls) in outputs.get(name, {}).items())
            findings = verify([str(pcap)], expectations=str(intended)).findings
        else:
            script = f"`nmap -n {WINDOWS_LIKE[name]} -p 80,81`"
            said = ""
            pair = [str(out / f"{n}.pcap") for n in WINDOWS_LIKE if (out / f"{n}.pcap").exists()]
            findings = [f for f in verify(pair).findings if f.capture == str(pcap)]
        rules = Counter(f"{f.rule} ({f.severity})" for f in findings)
        found = ", ".join(f"{r} x{n}" if n > 1 else r for r, n in rules.items()) or "none"
        lines.append(f"| {name}.pcap | {script} | {said.replace('|', '/')} | {found} |")
    lines += ["", "Regenerate (root, iproute2, nftables, tcpdump, nmap, scapy):", "",
              "    sudo python3 scripts/make_seed_captures.py", ""]
    (out / "README.md").write_text("\n".join(lines))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--runs", help="comma-separated subset of: " + ", ".join(list(RUNS) + list(WINDOWS_LIKE)))
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    names = args.runs.split(",") if args.runs else list(RUNS) + list(WINDOWS_LIKE)
    unknown = [n for n in names if n not in RUNS and n not in WINDOWS_LIKE]
    if unknown:
        ap.error(f"unknown run(s): {', '.join(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        require_tools(("ip", "nft", "tcpdump", "nmap"))
        outputs = {}
        with Lab(ipv6=False, verbose=args.verbose) as lab:
            target = lab.target_addr4
            if not in_lab_range(target):
                raise SafetyRefusal(f"refusing to scan {target}: outside the lab ranges")
            lab.start_listeners(PLAN.tcp_open, PLAN.udp_open)
            base = PLAN.rules()

            def firewall(extra=()):
                lab.apply_firewall(base)
                for rule in (f"tcp dport {TCP_RESET_PORT} reject with tcp reset", *extra):
                    lab.exec(TARGET, ["nft", "add", "rule", "inet", "pcapscan", "input", *rule.split()])

            firewall()
            for name in names:
                if name in RUNS:
                    script, extra, ports, _tech = RUNS[name]
                    argv = [sys.executable, str(SEEDS / script), "--target", target,
                            "--ports", ",".join(map(str, ports)), *extra]
                    stdout = record(lab, args.out / f"{name}.pcap", argv, SEEDS)
                    outputs[name] = parse_output(stdout)
                else:
                    firewall((WINDOWS_LIKE_RULE,))
                    argv = ["nmap", "-n", "-Pn", "--reason", "-T4", WINDOWS_LIKE[name], "-p", "80,81", target]
                    record(lab, args.out / f"{name}.pcap", argv, args.out)
                    firewall()
                print(f"{name}: {args.out / (name + '.pcap')}", file=sys.stderr)
    except (PcapscanError, OSError) as exc:
        print(f"make_seed_captures: {exc}", file=sys.stderr)
        return 2

    printed, intended = {}, {}
    for name, said in outputs.items():
        tech = RUNS[name][3]
        claims = [f"{tech}:{state}:{port}" for port, (state, _) in said.items() if state]
        silent = [str(p) for p, (state, _) in said.items() if not state]
        printed[name] = (claims, f"printed nothing (or crashed) for port(s) {', '.join(silent)}" if silent else "")
        intended[name] = ([f"{tech}:{INTENDED[p]}:{p}" for p in RUNS[name][2]], "")
    if set(outputs) == set(RUNS):  # only a complete set of runs rewrites the claim files and README
        (args.out / "printed.toml").write_text(claims_toml(
            printed, "# What each seed script printed, port by port, as claims (make_seed_captures.py)."))
        (args.out / "intended.toml").write_text(claims_toml(
            intended, "# What the lab meant each port to be, with the script's technique (make_seed_captures.py)."))
        write_readme(args.out, printed, outputs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
