#!/usr/bin/env python3
"""Make the golden captures of the rest of nmap's probes: host discovery,
IP protocol scan, SCTP INIT/COOKIE-ECHO, idle scan, version and OS
detection, IPv4 and IPv6. Real nmap runs recorded with tcpdump next to
nmap's own XML, in a throwaway namespace lab, as scripts/make_golden.py does
for the nine TCP/UDP techniques.

    sudo python3 scripts/make_golden_more.py                      # all runs -> captures/golden/more/
    sudo python3 scripts/make_golden_more.py --runs ping-arp,sctp-init --out /tmp/g

The lab is make_golden.py's (pcapscan/live/netns.py: scanner and target
namespaces joined by a veth pair, no route out) plus, inside the target
namespace, a bridge that also holds a third namespace, the idle-scan zombie:

    [scan] 198.18.0.1 ==veth== br0 [tgt] 198.18.0.2, 198.18.0.3 ==veth== [zmb] 198.18.0.4
           2001:2::1                    2001:2::2, 2001:2::3                   2001:2::4

198.18.0.5-6 and 2001:2::5-6 are absent (host discovery finds them down).
Scapy responders (scripts/lab_responders.py) stand in for what this kernel
lacks: an SCTP endpoint on the target and a zombie with a global IP ID.
Nothing outside the lab namespaces is scanned; nmap always gets -n, and
every target is checked to lie in 198.18.0.0/15 or 2001:2::/48.
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import select
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pcapscan.errors import PcapscanError, SafetyRefusal  # noqa: E402
from pcapscan.live.netns import (  # noqa: E402
    LAB_NET4, LAB_NET6, SCANNER, TARGET, Lab, LabError, in_lab_range, list_netns, require_tools,
)

DEFAULT_OUT = REPO / "captures" / "golden" / "more"
RESPONDERS = REPO / "scripts" / "lab_responders.py"

T2, T3, Z, D5, D6 = "198.18.0.2", "198.18.0.3", "198.18.0.4", "198.18.0.5", "198.18.0.6"
T2_6, T3_6, Z6, D5_6, D6_6 = "2001:2::2", "2001:2::3", "2001:2::4", "2001:2::5", "2001:2::6"
SWEEP4 = [T2, T3, Z, D5, D6]
SWEEP6 = [T2_6, T3_6, Z6, D5_6]
SCTP_PORTS = "80-85"  # 80 open, 81 closed, 82 drop, 83 admin-prohibited, 84 kernel, 85 open (simple)
PROTOCOLS = "1,2,4,6,17,41,47,50,132,136,255"
PROTOCOLS6 = "4,6,17,41,47,50,58,132,136"

# name -> nmap arguments (-n, --reason, -T4 and -oX are added). Targets last.
RUNS = {
    "ping-arp": ["-sn", "-v", *SWEEP4],
    "ping-echo": ["-sn", "-v", "--send-ip", "-PE", *SWEEP4],
    "ping-timestamp": ["-sn", "-v", "--send-ip", "-PP", *SWEEP4],
    "ping-mask": ["-sn", "-v", "--send-ip", "-PM", *SWEEP4],
    "ping-syn": ["-sn", "-v", "--send-ip", "-PS80,443", *SWEEP4],
    "ping-ack": ["-sn", "-v", "--send-ip", "-PA80", *SWEEP4],
    "ping-udp": ["-sn", "-v", "--send-ip", "-PU54,53", *SWEEP4],
    "ping-default": ["-sn", "-v", "--send-ip", *SWEEP4],
    "ping-nd": ["-6", "-sn", "-v", *SWEEP6],
    "ping-echo6": ["-6", "-sn", "-v", "--send-ip", "-PE", *SWEEP6],
    "ping-syn6": ["-6", "-sn", "-v", "--send-ip", "-PS80", "-PA81", *SWEEP6],
    "ipproto": ["-Pn", "-sO", "-p", PROTOCOLS, T2],
    "ipproto6": ["-6", "-Pn", "-sO", "-p", PROTOCOLS6, T2_6],
    "sctp-init": ["-Pn", "-sY", "-p", SCTP_PORTS, T2],
    "sctp-cookie": ["-Pn", "-sZ", "-p", SCTP_PORTS, T2],
    "sctp-init6": ["-6", "-Pn", "-sY", "-p", SCTP_PORTS, T2_6],
    "sctp-cookie6": ["-6", "-Pn", "-sZ", "-p", SCTP_PORTS, T2_6],
    "idle": ["-Pn", "-sI", f"{Z}:80", "-p", "80-84", T2],
    "syn-discovery": ["-v", "-sS", "-p", "80-84", T2, D5],
    "version": ["-Pn", "-sS", "-sV", "-p", "80-84", T2],
    "os": ["-Pn", "-O", "-p", "80-84", T2],
    "version6": ["-6", "-Pn", "-sS", "-sV", "-p", "80-84", T2_6],
    "os6": ["-6", "-Pn", "-O", "-p", "80-84", T2_6],
}

# The target's firewall (nftables, inet family): what each port or protocol does.
TARGET_NFT = f"""
table inet pcapscan_more
delete table inet pcapscan_more
table inet pcapscan_more {{
  chain input {{
    type filter hook input priority 0; policy accept;
    sctp dport {{ 80, 81, 85 }} drop
    sctp dport 82 drop
    sctp dport 83 reject with icmpx type admin-prohibited
    tcp dport 82 drop
    tcp dport 83 reject with icmpx type admin-prohibited
    tcp dport 84 reject with icmpx type port-unreachable
    meta l4proto 41 drop
    meta l4proto 47 reject with icmpx type admin-prohibited
    ip daddr {T3} icmp type echo-request drop
    ip6 daddr {T3_6} icmpv6 type echo-request drop
    ip daddr {T3} tcp dport 80 drop
    ip daddr {T3} udp dport 53 drop
  }}
}}
"""
ZOMBIE_NFT = """
table inet pcapscan_zombie
delete table inet pcapscan_zombie
table inet pcapscan_zombie {
  chain input {
    type filter hook input priority 0; policy accept;
    meta l4proto tcp drop
  }
}
"""

PLAN = [
    ("target 198.18.0.2, 198.18.0.3 (2001:2::2, ::3)", "tcp 80", "listener (accept, close); .3 drops it"),
    ("", "tcp 81", "nothing listens (kernel RST)"),
    ("", "tcp 82 / 83 / 84", "nft drop / reject admin-prohibited / reject port-unreachable"),
    ("", "udp 53 / 54", "responder (answers 9 bytes; .3 drops it) / nothing listens (ICMP port unreachable)"),
    ("", "sctp 80", "scapy: INIT -> INIT-ACK, COOKIE-ECHO dropped (a listening endpoint)"),
    ("", "sctp 81", "scapy: ABORT to everything (closed)"),
    ("", "sctp 82 / 83", "nft drop / reject admin-prohibited"),
    ("", "sctp 84", "left to the kernel, which has no SCTP: ICMP protocol unreachable "
                    "(ICMPv6 parameter problem, unrecognized next header)"),
    ("", "sctp 85", "scapy: INIT -> INIT-ACK, everything else ABORT"),
    ("", "IP protocol 41 / 47", "nft drop / reject admin-prohibited; other unknown protocols: "
                                "the kernel's protocol unreachable"),
    ("", "ICMP echo", "answered on .2, dropped on .3 (IPv6 likewise); timestamp answered by the kernel; "
                      "address mask answered on .2 by scapy"),
    ("zombie 198.18.0.4 (2001:2::4)", "tcp", "scapy: RST to every segment, IP ID +1 each (global)"),
    ("198.18.0.5, .6, 2001:2::5, ::6", "-", "absent"),
]


class MoreLab:
    """make_golden.py's Lab, plus a bridge in the target namespace, a second
    target address, a zombie namespace on the bridge, firewall rules and the
    scapy responders. up() builds everything; down() removes everything."""

    def __init__(self, verbose: bool = False):
        self.lab = Lab(verbose=verbose)
        self.zombie_ns = f"{self.lab.prefix}-zmb"
        self.zombie_if = f"{self.lab.prefix}-z"
        self.zombie_peer = f"{self.lab.prefix}-zb"
        self._zombie_made = False
        self._procs: list[subprocess.Popen] = []

    def up(self) -> "MoreLab":
        lab = self.lab
        for addr in SWEEP4 + SWEEP6 + [Z6, D6_6]:
            if not in_lab_range(addr):
                raise SafetyRefusal(f"{addr} is outside {LAB_NET4} / {LAB_NET6}")
        lab.up()
        t = lab.target_ns
        run = lab._run
        try:
            run(["ip", "-n", t, "link", "add", "br0", "type", "bridge"])
            lab._sysctl(t, "net.ipv6.conf.br0.accept_dad", 0)
            run(["ip", "-n", t, "addr", "flush", "dev", lab.target_if])
            run(["ip", "-n", t, "link", "set", lab.target_if, "master", "br0"])
            for a in (f"{T2}/24", f"{T3}/24"):
                run(["ip", "-n", t, "addr", "add", a, "dev", "br0"])
            for a in (f"{T2_6}/64", f"{T3_6}/64"):
                run(["ip", "-n", t, "addr", "add", a, "dev", "br0", "nodad"])
            if self.zombie_ns in set(list_netns()):
                raise LabError(f"network namespace {self.zombie_ns} already exists")
            run(["ip", "netns", "add", self.zombie_ns])
            self._zombie_made = True
            run(["ip", "link", "add", self.zombie_if, "address", "02:00:c6:12:00:04", "netns", self.zombie_ns,
                 "type", "veth", "peer", "name", self.zombie_peer, "netns", t])
            run(["ip", "-n", t, "link", "set", self.zombie_peer, "master", "br0"])
            z = self.zombie_ns
            run(["ip", "-n", z, "link", "set", "lo", "up"])
            lab.exec(z, ["sysctl", "-q", "-w", f"net.ipv6.conf.{self.zombie_if}.accept_dad=0"])
            run(["ip", "-n", z, "addr", "add", f"{Z}/24", "dev", self.zombie_if])
            run(["ip", "-n", z, "addr", "add", f"{Z6}/64", "dev", self.zombie_if, "nodad"])
            for ns, ifname in ((t, self.zombie_peer), (t, "br0"), (z, self.zombie_if)):
                run(["ip", "-n", ns, "link", "set", ifname, "up"])
            lab.exec(z, ["sysctl", "-q", "-w", "net.ipv4.icmp_ratelimit=0"])
            lab.exec(z, ["sysctl", "-q", "-w", "net.ipv6.icmp.ratelimit=0"])
            lab.check_isolated()
            lab.start_listeners((80,), (53,))
            lab.exec(TARGET, ["nft", "-f", "-"], input=TARGET_NFT)
            lab.exec(z, ["nft", "-f", "-"], input=ZOMBIE_NFT)
            self._responder(TARGET, ["sctp", "--iface", "br0", "--open", "80", "--open-simple", "85",
                                     "--closed", "81", "--addrmask", T2])
            self._responder(z, ["zombie", "--iface", self.zombie_if, "--addr", Z])
            time.sleep(1.0)  # bridge ports forwarding, v6 addresses usable
        except BaseException:
            self.down()
            raise
        return self

    def _responder(self, ns: str, argv: list[str]) -> None:
        proc = self.lab.popen(ns, [sys.executable, str(RESPONDERS), *argv], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
        self._procs.append(proc)
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("ready"):
            raise LabError(f"responder {argv[0]} did not start: {line.strip() or 'timeout'} "
                           f"{proc.stderr.read() if proc.poll() is not None else ''}")

    def down(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for f in (proc.stdout, proc.stderr):
                if f is not None:
                    f.close()
        self._procs.clear()
        if self._zombie_made:
            pids = subprocess.run(["ip", "netns", "pids", self.zombie_ns], capture_output=True,
                                  text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError, PermissionError):
                    pass
            subprocess.run(["ip", "netns", "del", self.zombie_ns], capture_output=True)
            self._zombie_made = False
        self.lab.down()

    def flush_neighbours(self) -> None:
        self.lab.flush_neighbours()
        if self._zombie_made:
            self.lab._run(["ip", "-n", self.zombie_ns, "neigh", "flush", "all"], check=False)


def nmap_argv(run: str, xml_name: str) -> list[str]:
    args = list(RUNS[run])
    for a in args:
        if a[0].isdigit() or ":" in a:
            host = a.split(":")[0] if a.count(":") == 1 else a
            try:
                ip = ipaddress.ip_address(host)
            except ValueError:
                continue
            if not in_lab_range(str(ip)):
                raise SafetyRefusal(f"refusing to scan {ip}: outside {LAB_NET4} / {LAB_NET6}")
    return ["nmap", "-n", "--reason", "-T4", *args[:-_targets(args)], "-oX", xml_name, *args[-_targets(args):]]


def _targets(args: list[str]) -> int:
    n = 0
    for a in reversed(args):
        try:
            ipaddress.ip_address(a)
        except ValueError:
            break
        n += 1
    return n


def outside_lab_packets(pcap: Path) -> int:
    """Packets of `pcap` that are neither ARP nor lab-range IP nor link-local/multicast IPv6."""
    bpf = f"not (arp or net {LAB_NET4} or net {LAB_NET6} or net fe80::/10 or net ff00::/8 or ip6 src ::)"
    proc = subprocess.run(["tcpdump", "-nr", str(pcap), bpf], capture_output=True, text=True)
    return len([line for line in proc.stdout.splitlines() if line.strip()])


def do_run(mlab: MoreLab, run: str, out: Path) -> None:
    lab = mlab.lab
    pcap, xml = out / f"{run}.pcap", out / f"{run}.xml"
    for f in (pcap, xml):
        f.unlink(missing_ok=True)
    argv = nmap_argv(run, xml.name)
    print(f"[{run}] {' '.join(argv)}", flush=True)
    ok = False
    try:
        mlab.flush_neighbours()
        rec = lab.recorder(pcap, bpf="").start()
        try:
            time.sleep(0.2)
            t0 = time.monotonic()
            proc = lab.exec(SCANNER, argv, check=False, timeout=900, cwd=out)
            took = time.monotonic() - t0
            time.sleep(0.5)
        finally:
            rec.stop()
        if proc.returncode != 0 or not xml.exists():
            raise LabError(f"nmap failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
        stray = outside_lab_packets(pcap)
        if stray:
            raise LabError(f"{pcap} holds {stray} packets outside the lab ranges")
        print(f"[{run}] {took:.1f}s, {rec.packets} packets", flush=True)
        print(f"[{run}]   {summary(xml)}", flush=True)
        ok = True
    finally:
        if not ok:
            for f in (pcap, xml):
                f.unlink(missing_ok=True)


def summary(xml: Path) -> str:
    root = ET.parse(xml).getroot()
    parts = []
    for host in root.iter("host"):
        st = host.find("status")
        addr = host.find("address").get("addr")
        ports = [f"{p.get('portid')}/{p.get('protocol')}={p.find('state').get('state')}"
                 f"({p.find('state').get('reason')})" for p in host.iter("port")]
        parts.append(f"{addr} {st.get('state')}({st.get('reason')}) " + " ".join(ports))
    return "; ".join(parts)


def write_readme(out: Path) -> Path:
    rows, version = [], "?"
    for run in RUNS:
        xml = out / f"{run}.xml"
        if not xml.exists() or not (out / f"{run}.pcap").exists():
            continue
        root = ET.parse(xml).getroot()
        version = root.get("version", version)
        rows.append(f"| `{run}` | `{root.get('args', '')}` | {summary(xml).replace('|', chr(92) + '|')} |")
    plan = "\n".join(f"| {who} | {what} | {does} |" for who, what, does in PLAN)
    text = f"""# Golden captures: discovery, IP protocol, SCTP, idle, version and OS detection

Real nmap {version} runs, recorded with tcpdump on the scanner's veth, next to
the XML nmap wrote (`-oX`) during the same run. pcapscan must reproduce from
each `.pcap` every host's status and every port's state and reason in its
`.xml` (tests/test_golden_more.py).

## Lab

Made by `scripts/make_golden_more.py`: make_golden.py's two namespaces
(pcapscan/live/netns.py) plus a bridge in the target namespace holding a
third, the idle-scan zombie. Scanner 198.18.0.1 / 2001:2::1; target
198.18.0.2 and 198.18.0.3 / 2001:2::2 and ::3 (one stack, one MAC);
zombie 198.18.0.4 / 2001:2::4; .5, .6 / ::5, ::6 absent. Scapy responders
(`scripts/lab_responders.py`) stand in for what the kernel lacks: SCTP
(this kernel has none) and a zombie with a global, incremental IP ID.
Neighbour caches are flushed before each run; tcpdump records everything on
the scanner's veth.

| host | port / protocol | behaviour |
|---|---|---|
{plan}

## Files

| run | nmap command | nmap's verdicts (host status (reason) ports) |
|---|---|---|
{chr(10).join(rows)}

## Regenerate

    sudo python3 scripts/make_golden_more.py                   # everything
    sudo python3 scripts/make_golden_more.py --runs idle,os    # a subset

Needs root, iproute2, nftables, tcpdump, nmap and scapy.
"""
    path = out / "README.md"
    path.write_text(text)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--runs", default="all", help="comma list of: " + ", ".join(RUNS) + "; or all")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    runs = list(RUNS) if args.runs == "all" else [r.strip() for r in args.runs.split(",") if r.strip()]
    for r in runs:
        if r not in RUNS:
            raise SystemExit(f"unknown run {r!r}; choose from {', '.join(RUNS)}")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda s, f: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        require_tools(("ip", "nft", "tcpdump", "nmap"))
        args.out.mkdir(parents=True, exist_ok=True)
        mlab = MoreLab(verbose=args.verbose)
        try:
            mlab.up()
            for run in runs:
                do_run(mlab, run, args.out)
        finally:
            saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
            try:
                mlab.down()
            finally:
                for sig, handler in saved.items():
                    signal.signal(sig, handler)
            print("lab removed", flush=True)
        if not args.no_readme:
            print(f"wrote {write_readme(args.out)}")
        return 0
    except PcapscanError as exc:
        print(f"make_golden_more: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("make_golden_more: interrupted; lab removed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
