"""What the seed scripts share: arguments, the lab-range guard, and the loop
that runs a seed's scan function on each port.

The seeds' code scans one hard-coded host and port; here the host and ports
are arguments, and each port's output is preceded by a line "== port N" so
that scripts/make_seed_captures.py can tell which port a conclusion is for.
Where a seed's code would crash (getlayer(TCP).type on an ICMP answer), the
loop prints "!! <exception>" and goes on with the next port instead of
stopping the run: the packets on the wire are the same.

Only the lab ranges are allowed as targets (198.18.0.0/15, 2001:2::/48):
these scripts send raw packets and must only ever run inside the namespace
lab (pcapscan/live/netns.py).
"""
import argparse
import ipaddress
import sys

LAB_NETS = (ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("2001:2::/48"))


def run(scan, description: str, default_ports: str = "80") -> None:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--target", default="198.18.0.2", help="lab address to scan (198.18.0.0/15 only)")
    ap.add_argument("--ports", default=default_ports, help="comma-separated ports, scanned one after another")
    args = ap.parse_args()
    addr = ipaddress.ip_address(args.target)
    if not any(addr in net for net in LAB_NETS):
        sys.exit(f"refusing to scan {args.target}: outside the lab ranges {', '.join(map(str, LAB_NETS))}")
    for port in (int(p) for p in args.ports.split(",") if p.strip()):
        print(f"== port {port}", flush=True)
        try:
            scan(args.target, port)
        except Exception as exc:  # noqa: BLE001  (the seed's own bug, reported and survived)
            print(f"!! {type(exc).__name__}: {exc}", flush=True)
        sys.stdout.flush()
