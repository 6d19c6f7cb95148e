"""From a capture to scan sessions, the ordinary way: read (capture/),
replay (exchanges.py), split into runs (sessions.py), then the policy of
techniques/: which technique each exchange belongs to and what each port's
state is. The fast path (fastpath/) and the Dask path (cluster.py) reuse the
parts after the replay; analysis.analyze chooses among them."""
from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import replace
from typing import Iterable, Optional, Union

from .capture import ReadStats, read_packets
from .exchanges import OtherTraffic, ReplayEngine
from .fingerprint import identify
from .messages import said
from .model import CaptureSummary, Exchange, PortResult, Scan, Technique, Text
from .pairing import QueryEngine
from .techniques import REGISTRY, fallback_spec, infer_technique, probe_key

PathLike = Union[str, "os.PathLike[str]"]


def client_conversation(scan, forced=None) -> bool:
    """Is a scan session really a client's own traffic, counted as other traffic?

    - A "UDP scan" sent from an operating system's own sockets (fingerprint.py:
      os-connect): a client's DNS, NTP, QUIC, mDNS, SSDP or NetBIOS traffic in
      the background of a capture. Scanners' UDP probes (nmap, scapy, ...)
      fingerprint otherwise and stay.
    - A TCP "scan" of one port that no scanner's fingerprint names (an OS's
      connect(), or no tool at all): a browser's SYN refused or unanswered, a
      connection cut at the capture's end (its handshake's rest not recorded),
      a keep-alive's lone ACK. One attempt on one port is a connection that
      failed, not a scan: a scan looks at several ports (Zeek's scan.zeek
      waits for 15 failed ones) or is built by a scanner (nmap, scapy, ...),
      whose one-port scans stay.

    When the user names a technique of the session's protocol (`forced`: one
    Technique or several, `-t udp`, a claim), the packets are read as probes
    all the same: a student's scanner built on socket.sendto or connect() is
    then graded."""
    named = (forced,) if isinstance(forced, Technique) else tuple(forced or ())
    tool = scan.tool
    if tool is None or tool.is_scanner:
        return False
    if scan.technique is Technique.UDP:
        return tool.name == "os-connect" and not any(REGISTRY[t].proto == "udp" for t in named)
    return lone_attempt(scan) and not any(REGISTRY[t].proto == "tcp" for t in named)


def lone_attempt(scan) -> bool:
    """A session of one TCP port (no idle scan): one connection attempt, however often retried."""
    return len(scan.ports) == 1 and scan.ports[0].proto == "tcp" and scan.zombie is None


def scan_packets(scan) -> int:
    """How many packets a scan session's ports hold: probes and answers."""
    n = 0
    for p in scan.ports:
        if p.exchange is not None:
            n += len(p.exchange.probes) + len(p.exchange.responses)
        else:
            n += len(p.verdict.probe_frames) + len(p.verdict.response_frames)
    return n


def analyze_capture(path: PathLike, forced: Optional[Technique] = None) -> tuple[CaptureSummary, list[Scan]]:
    summary, scans, _more = analyze_capture_full(path, forced)
    return summary, scans


class More:
    """What a capture holds beyond its scan sessions: host discovery and version/OS detection."""

    def __init__(self, discoveries=(), probings=()):
        self.discoveries, self.probings = list(discoveries), list(probings)


def analyze_capture_full(path: PathLike, forced: Optional[Technique] = None,
                         progress=None) -> tuple[CaptureSummary, list[Scan], More]:
    """`progress` (pcapscan/progress.py) hears of reading and pairing, then of classifying."""
    stats = ReadStats(str(path))
    engine = ReplayEngine()
    queries = QueryEngine(engine)  # ARP, ND, ICMP queries, zombie probes (pairing.py)
    for pkt in read_packets(str(path), stats, arp=True, progress=progress):
        queries.feed(pkt)  # first: it asks the engine whether a SYN/ACK answers a SYN already seen
        engine.feed(pkt)
    exchanges = engine.exchanges()
    duplicates = engine.stats.duplicates
    ordinary, query_exchanges = engine.ordinary_exchanges(), queries.exchanges()
    other = engine.other_traffic()
    del engine, queries  # its per-flow state (hundreds of MB for a scan of a million ports) is no longer needed
    if progress is not None:
        progress(0, 0, len(exchanges), "classifying")
    return capture_result(path, forced, stats, duplicates, exchanges, query_exchanges, ordinary, other)


def capture_result(path: PathLike, forced: Optional[Technique], stats: ReadStats, duplicates: int, exchanges,
                   query_exchanges, ordinary, other: Optional[OtherTraffic] = None
                   ) -> tuple[CaptureSummary, list[Scan], More]:
    """A capture's replayed exchanges -> (summary, scans, more): the part of
    analyze_capture_full after the replay, shared with the Dask path
    (cluster.py), which replays a huge capture in pieces on several workers."""
    from . import families

    routed = families.route(str(path), exchanges, query_exchanges, ordinary)
    summary = capture_summary(path, stats, duplicates, other_beside(other or OtherTraffic(), routed.probings))
    scans = build_scans(str(path), routed.port_exchanges, forced) + routed.idle_scans
    scans.sort(key=lambda s: min(p.exchange.probes[0].frame for p in s.ports))
    more = More(families.discoveries(str(path), routed, scans), routed.probings)
    return summary, scans, more


def other_beside(other: OtherTraffic, probings) -> tuple:
    """(connections, packets) of ordinary traffic, less the data connections
    that version detection read as its probes (every path that reads a capture)."""
    return other.without({f for p in probings for f in p.frames})


def capture_summary(path: PathLike, stats: ReadStats, duplicates: int, other=(0, 0)) -> CaptureSummary:
    """What reading a capture came to, "no packets" said where there were none
    (every path that reads a capture: here, the fast path, Dask)."""
    warnings = list(stats.warnings)
    if stats.packets == 0:
        warnings.append(said("read.no-packets"))
    return CaptureSummary(
        path=str(path), packets=stats.packets, skipped=stats.skipped, non_ip=stats.non_ip, duplicates=duplicates,
        warnings=tuple(warnings), link_types=tuple(sorted(stats.link_types)),
        other_connections=other[0], other_packets=other[1])


def build_scans(capture: str, exchanges: Iterable[Exchange], forced: Optional[Technique] = None) -> list[Scan]:
    """Group exchanges into scan sessions (scanner, target, technique, run:
    sessions.py) and classify every port."""
    inferred = [(ex, *infer_technique(ex)) for ex in exchanges]
    inferred = _smooth_syn_sessions(inferred)

    groups: dict = defaultdict(list)
    evidence: dict = {}
    for ex, tech, why, _behavioural in inferred:
        flags = probe_key(ex) if tech is Technique.UNKNOWN else None
        # a technique named by the user reads every session as it says, each session still
        # apart: runs are numbered per probe kind, so the kind read stays in the key
        read = (tech, flags)
        if forced is not None and REGISTRY[forced].proto == ex.proto:
            why = Text.of("inferred.forced", technique=forced.value, why=why)
            tech, flags = forced, None
        key = (ex.scanner, ex.target, tech, flags, ex.run, read)
        groups[key].append(ex)
        evidence.setdefault(key, why)

    scans = []
    for (scanner, target, tech, flags, run, read), exs in groups.items():
        spec = fallback_spec(flags) if tech is Technique.UNKNOWN else REGISTRY[tech]
        ports = [PortResult(proto=ex.proto, port=ex.port, verdict=spec.classify(ex), exchange=ex)
                 for ex in merge_same_port(exs)]
        ports.sort(key=lambda p: (p.proto, p.port))
        frames = [p for ex in exs for p in ex.probes]
        scans.append(Scan(
            capture=capture, scanner=scanner, target=target, technique=tech, ports=tuple(ports),
            probe_flags=flags, technique_evidence=evidence[(scanner, target, tech, flags, run, read)],
            first_ts=min(p.ts for p in frames), last_ts=max(p.ts for p in frames), tool=identify(exs)))
    scans.sort(key=lambda s: min(p.exchange.probes[0].frame for p in s.ports))
    return scans


def _smooth_syn_sessions(inferred):
    """A SYN exchange decided only by its fingerprint follows what the same
    scanner's behaviour showed for SYNs built the same way (same options),
    towards the same target in the same run: one scan session is one technique."""
    decided = {}
    for ex, tech, why, behavioural in inferred:
        if behavioural and tech in (Technique.SYN, Technique.CONNECT):
            decided.setdefault((ex.scanner, ex.target, ex.probes[0].options, ex.run), (tech, why))
    out = []
    for ex, tech, why, behavioural in inferred:
        if not behavioural and tech in (Technique.SYN, Technique.CONNECT):
            seen = decided.get((ex.scanner, ex.target, ex.probes[0].options, ex.run))
            if seen is not None:
                tech, why = seen[0], Text.of("inferred.smoothed", why=seen[1])
        out.append((ex, tech, why, behavioural))
    return out


def merge_same_port(exs: list[Exchange]) -> list[Exchange]:
    by_port: dict = {}
    for ex in exs:
        key = (ex.proto, ex.port)
        if key not in by_port:
            by_port[key] = ex
            continue
        old = by_port[key]
        merged = lambda a, b: tuple(sorted(a + b, key=lambda p: p.frame))  # noqa: E731
        by_port[key] = replace(
            old, probes=merged(old.probes, ex.probes), responses=merged(old.responses, ex.responses),
            followups=merged(old.followups, ex.followups), stray=merged(old.stray, ex.stray),
            completed_handshake=old.completed_handshake or ex.completed_handshake)
    return list(by_port.values())
