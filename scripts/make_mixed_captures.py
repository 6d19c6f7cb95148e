#!/usr/bin/env python3
"""Record captures that hold several scans of one target, the way the
course's lab asks for them: the student's scapy scan (the seeds' code),
then nmap's scan of the same ports, in ONE capture; and nmap -sS, -sF and
-sU in a row with a client's own connections (an HTTP request, a UDP
question answered by the service) between them.

    sudo python3 scripts/make_mixed_captures.py            # -> captures/mixed/
    sudo python3 scripts/make_mixed_captures.py --runs mixed-xmas

Each nmap run also writes its own -oX beside the capture
(<capture>.<n>.xml, n counting nmap's runs in that capture): the tests hold
pcapscan's verdicts for nmap's session to nmap's own, and those for the
scapy session to the textbook. The scripts run only inside the lab's scanner
namespace (no route but the lab's 198.18.0.0/24); nmap always gets -n.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pcapscan.errors import PcapscanError  # noqa: E402
from pcapscan.live.netns import GOLDEN_PLAN, SCANNER, Lab, in_lab_range, require_tools  # noqa: E402

SEEDS = REPO / "scripts" / "seeds"
DEFAULT_OUT = REPO / "captures" / "mixed"
TCP_PORTS = "80,81,82,83,84"
UDP_PORTS = "53,54,55,56,57"
PAUSE = 2.0  # between one run and the next, as a student types the next command

# A client's own traffic between scans: an HTTP request to the open port (the
# scanner host talks, so it is ordinary traffic) and a UDP question answered
# by the service (an ordinary socket, not a scanner).
CLIENT = ("import socket,sys\n"
          "t=sys.argv[1]\n"
          "s=socket.create_connection((t,80),timeout=3); s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n"
          "try:\n s.recv(100)\nexcept OSError:\n pass\n"
          "s.close()\n"
          "u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.settimeout(3); u.sendto(b'hello',(t,53))\n"
          "try:\n u.recvfrom(100)\nexcept OSError:\n pass\n")


def nmap(flag: str, ports: str):
    return ("nmap", ["-n", "-Pn", "--reason", "-T4", flag, "-p", ports])


def seed(script: str, ports: str, *extra: str):
    return ("seed", [str(SEEDS / script), "--ports", ports, *extra])


# name -> the commands run one after another while one tcpdump records
RUNS = {
    "mixed-syn": [seed("seed001_stealth_scan.py", TCP_PORTS), nmap("-sS", TCP_PORTS)],
    "mixed-connect": [seed("seed001_connect_scan.py", TCP_PORTS), nmap("-sT", TCP_PORTS)],
    "mixed-xmas": [seed("seed001_inverse_scan.py", TCP_PORTS, "--flags", "FPU"), nmap("-sX", TCP_PORTS)],
    "mixed-fin": [seed("seed001_inverse_scan.py", TCP_PORTS, "--flags", "F"), nmap("-sF", TCP_PORTS)],
    "mixed-null": [seed("seed001_inverse_scan.py", TCP_PORTS, "--flags", ""), nmap("-sN", TCP_PORTS)],
    "mixed-udp": [seed("seed001_udp_scan.py", UDP_PORTS), nmap("-sU", UDP_PORTS)],
    "nmap-series": [nmap("-sS", TCP_PORTS), ("client", []), nmap("-sF", TCP_PORTS), ("client", []),
                    nmap("-sU", UDP_PORTS)],
}


def record(lab: Lab, out: Path, name: str, steps: list) -> None:
    target = lab.target_addr4
    lab.flush_neighbours()
    rec = lab.recorder(out / f"{name}.pcap")
    rec.start()
    try:
        time.sleep(0.3)
        n = 0
        for i, (kind, args) in enumerate(steps):
            if i:
                time.sleep(PAUSE)
            if kind == "nmap":
                n += 1
                argv = ["nmap", *args, "-oX", str(out / f"{name}.{n}.xml"), target]
            elif kind == "seed":
                argv = [sys.executable, *args[:1], "--target", target, *args[1:]]
            else:
                argv = [sys.executable, "-c", CLIENT, target]
            lab.exec(SCANNER, argv, cwd=str(SEEDS), timeout=600)
        time.sleep(1.0)  # late packets: retransmitted SYN/ACKs, the kernel's RSTs
    finally:
        rec.stop()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--runs", help="comma-separated subset of: " + ", ".join(RUNS))
    args = ap.parse_args(argv)
    names = args.runs.split(",") if args.runs else list(RUNS)
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        ap.error(f"unknown run(s): {', '.join(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        require_tools(("ip", "nft", "tcpdump", "nmap"))
        with Lab(ipv6=False) as lab:
            if not in_lab_range(lab.target_addr4):
                raise PcapscanError(f"refusing to scan {lab.target_addr4}: outside the lab ranges")
            lab.setup_plan(GOLDEN_PLAN)
            for name in names:
                record(lab, args.out, name, RUNS[name])
                print(f"{name}: {args.out / (name + '.pcap')}", file=sys.stderr)
    except (PcapscanError, OSError) as exc:
        print(f"make_mixed_captures: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
