"""Routing a capture's exchanges to the probe families beyond the nine
TCP/UDP port scans, in an order that lets each claim its own probes before
the port-scan grouping sees them (policy; each family's rules live in its
module under techniques/):

1. OS and version detection (techniques/detection.py): nmap -O's and -sV's
   probes, labelled and kept out of the port scans.
2. Idle scans (techniques/idle.py): SYNs spoofed from a zombie, read through
   the zombie's IP IDs.
3. IP protocol scans (techniques/ipproto.py): one exchange per protocol.
4. Host discovery (techniques/discovery.py): ping probes come out of the
   port scans; the verdict per host is made once the scanners are known.

What is left (TCP, UDP, SCTP and the gathered protocol exchanges) goes to
analysis.build_scans as before.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .sessions import exchange_spans
from .techniques import detection, discovery, idle, ipproto


@dataclass
class Routed:
    port_exchanges: list  # for analysis.build_scans
    idle_scans: list = field(default_factory=list)  # model.Scan, already classified
    probings: list = field(default_factory=list)  # model.Probing
    pings: list = field(default_factory=list)  # TCP/UDP/SCTP exchanges that are host-discovery probes
    queries: list = field(default_factory=list)  # ARP, ND, ICMP query exchanges left for discovery


def route(capture: str, exchanges, queries, ordinary, spans=None) -> Routed:
    """`spans`: sessions.run_spans of every scan run (the fast path passes those of its bulk
    flows too); by default computed from `exchanges`."""
    exchanges = list(exchanges)
    if spans is None:
        spans = exchange_spans(exchanges)
    probings, exchanges, queries = detection.recognise(capture, exchanges, list(queries), list(ordinary))
    idle_scans, exchanges, queries = idle.idle_scans(capture, exchanges, queries)
    protocols, exchanges, queries = ipproto.assemble(exchanges, queries)
    pings, exchanges = discovery.split_pings(exchanges, queries, spans)
    return Routed(port_exchanges=exchanges + protocols, idle_scans=idle_scans, probings=probings, pings=pings,
                  queries=[q for q in queries if q.proto in ("arp", "nd", "icmp", "icmp6")])


def discoveries(capture: str, routed: Routed, scans) -> list:
    scanners = {s.scanner for s in scans}
    return discovery.discover(capture, routed.pings, routed.queries, scanners)
