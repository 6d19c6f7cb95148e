"""From a capture to scans: read (capture/), replay (exchanges.py), then the
policy of techniques/: which technique each exchange belongs to and what
each port's state is. This is the function the CLI's `analyze` calls."""
from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import replace
from typing import Iterable, Optional, Union

from .capture import ReadStats, read_packets
from .claims import parse_technique
from .errors import InputError
from .exchanges import ReplayEngine
from .fingerprint import identify
from .model import AnalysisResult, CaptureSummary, Exchange, PortResult, Reason, Scan, Technique
from .pairing import QueryEngine
from .techniques import REGISTRY, fallback_spec, infer_technique, probe_key

PathLike = Union[str, "os.PathLike[str]"]


def analyze(path_or_paths, technique: Optional[Union[str, Technique]] = None, *, fast=False, jobs: int = 1,
            progress=None) -> AnalysisResult:
    """Analyze one capture (errors raise) or several (errors are collected in
    `result.errors` and the good captures still give their results).

    `fast` (True, or "auto": big captures only) takes the columnar fast path
    (pcapscan/fastpath; same verdicts, ports classified in bulk carry no
    Exchange); `jobs` > 1 (None: every core) analyzes captures in parallel;
    `progress(done, total, packets)` hears of bytes read (one capture) or
    captures done (several)."""
    forced = _parse_technique(technique)
    single = isinstance(path_or_paths, (str, os.PathLike))
    paths = [path_or_paths] if single else list(path_or_paths)
    if fast or jobs != 1:
        outcome = _fast_outcomes(paths, forced, fast, jobs, progress)
    else:
        def outcome(i):
            return analyze_capture_full(paths[i], forced)
    return gather(paths, single, outcome)


def gather(paths, single: bool, outcome) -> AnalysisResult:
    """The AnalysisResult of `paths`, where outcome(i) gives capture i's
    (summary, scans, more) or raises its InputError: raised again for a
    single capture, collected in `errors` for several (the others go on).
    Shared by every way of running the captures (here, fastpath, cluster)."""
    captures, scans, errors = [], [], []
    discoveries, probings = [], []
    for i, path in enumerate(paths):
        try:
            summary, found, more = outcome(i)
        except InputError as exc:
            if single:
                raise
            errors.append(str(exc))
            captures.append(CaptureSummary(path=str(path), error=str(exc)))
            continue
        captures.append(summary)
        scans.extend(s for s in found if not client_conversation(s))
        discoveries.extend(more.discoveries)
        probings.extend(more.probings)
    return AnalysisResult(captures=tuple(captures), scans=tuple(scans), errors=tuple(errors),
                          discoveries=tuple(discoveries), probings=tuple(probings))


def client_conversation(scan) -> bool:
    """A "UDP scan" of one or two ports sent from an operating system's sockets
    (fingerprint.py: os-connect) and answered with data on every port: a
    client's DNS, NTP, QUIC or mDNS conversation in the background of a
    capture, not a scan. A scanner's UDP probes (nmap, scapy, ...) fingerprint
    otherwise, and an unanswered one proves nothing either way: both stay."""
    tool = scan.tool
    return (scan.technique is Technique.UDP and 0 < len(scan.ports) <= 2 and tool is not None
            and tool.name == "os-connect" and all(p.verdict.reason is Reason.UDP_RESPONSE for p in scan.ports))


def _fast_outcomes(paths, forced, fast, jobs, progress):
    """outcome(i): capture i's (summary, scans, more), or its InputError raised (fastpath.analyze_many)."""
    from .fastpath import analyze_many

    results = analyze_many(paths, forced, fast=fast, jobs=jobs, progress=progress)

    def outcome(i):
        if results[i][0] == "error":
            raise results[i][1]
        return results[i][1:]

    return outcome


def _parse_technique(technique) -> Optional[Technique]:
    """The technique to force (analyze -t), read as every command reads technique names."""
    if technique is None or isinstance(technique, Technique):
        return technique
    return parse_technique(technique)


def analyze_capture(path: PathLike, forced: Optional[Technique] = None) -> tuple[CaptureSummary, list[Scan]]:
    summary, scans, _more = analyze_capture_full(path, forced)
    return summary, scans


class More:
    """What a capture holds beyond its scan sessions: host discovery and version/OS detection."""

    def __init__(self, discoveries=(), probings=()):
        self.discoveries, self.probings = list(discoveries), list(probings)


def analyze_capture_full(path: PathLike, forced: Optional[Technique] = None) -> tuple[CaptureSummary, list[Scan], More]:
    from . import families

    stats = ReadStats(str(path))
    engine = ReplayEngine()
    queries = QueryEngine(engine)  # ARP, ND, ICMP queries, zombie probes (pairing.py)
    for pkt in read_packets(str(path), stats, arp=True):
        queries.feed(pkt)  # first: it asks the engine whether a SYN/ACK answers a SYN already seen
        engine.feed(pkt)
    exchanges = engine.exchanges()
    duplicates = engine.stats.duplicates
    ordinary, query_exchanges = engine.ordinary_exchanges(), queries.exchanges()
    del engine, queries  # its per-flow state (hundreds of MB for a scan of a million ports) is no longer needed
    return capture_result(path, forced, stats, duplicates, exchanges, query_exchanges, ordinary)


def capture_result(path: PathLike, forced: Optional[Technique], stats: ReadStats, duplicates: int, exchanges,
                   query_exchanges, ordinary) -> tuple[CaptureSummary, list[Scan], More]:
    """A capture's replayed exchanges -> (summary, scans, more): the part of
    analyze_capture_full after the replay, shared with the Dask path
    (cluster.py), which replays a huge capture in pieces on several workers."""
    from . import families

    summary = capture_summary(path, stats, duplicates)
    routed = families.route(str(path), exchanges, query_exchanges, ordinary)
    scans = build_scans(str(path), routed.port_exchanges, forced) + routed.idle_scans
    scans.sort(key=lambda s: min(p.exchange.probes[0].frame for p in s.ports))
    more = More(families.discoveries(str(path), routed, scans), routed.probings)
    return summary, scans, more


def capture_summary(path: PathLike, stats: ReadStats, duplicates: int) -> CaptureSummary:
    """What reading a capture came to, "no packets" said where there were none
    (every path that reads a capture: here, the fast path, Dask)."""
    warnings = list(stats.warnings)
    if stats.packets == 0:
        warnings.append("no packets: the capture holds a header and no packet records")
    return CaptureSummary(
        path=str(path), packets=stats.packets, skipped=stats.skipped, non_ip=stats.non_ip, duplicates=duplicates,
        warnings=tuple(warnings), link_types=tuple(sorted(stats.link_types)))


def build_scans(capture: str, exchanges: Iterable[Exchange], forced: Optional[Technique] = None) -> list[Scan]:
    """Group exchanges into scan sessions (scanner, target, technique) and classify every port."""
    inferred = [(ex, *infer_technique(ex)) for ex in exchanges]
    inferred = _smooth_syn_sessions(inferred)

    groups: dict = defaultdict(list)
    evidence: dict = {}
    for ex, tech, why, _behavioural in inferred:
        flags = probe_key(ex) if tech is Technique.UNKNOWN else None
        if forced is not None and REGISTRY[forced].proto == ex.proto:
            why = f"forced by --technique {forced.value} ({why})"
            tech, flags = forced, None
        key = (ex.scanner, ex.target, tech, flags)
        groups[key].append(ex)
        evidence.setdefault(key, why)

    scans = []
    for (scanner, target, tech, flags), exs in groups.items():
        spec = fallback_spec(flags) if tech is Technique.UNKNOWN else REGISTRY[tech]
        ports = [PortResult(proto=ex.proto, port=ex.port, verdict=spec.classify(ex), exchange=ex)
                 for ex in _merge_same_port(exs)]
        ports.sort(key=lambda p: (p.proto, p.port))
        frames = [p for ex in exs for p in ex.probes]
        scans.append(Scan(
            capture=capture, scanner=scanner, target=target, technique=tech, ports=tuple(ports),
            probe_flags=flags, technique_evidence=evidence[(scanner, target, tech, flags)],
            first_ts=min(p.ts for p in frames), last_ts=max(p.ts for p in frames), tool=identify(exs)))
    scans.sort(key=lambda s: min(p.exchange.probes[0].frame for p in s.ports))
    return scans


def _smooth_syn_sessions(inferred):
    """A SYN exchange decided only by its fingerprint follows what the same
    scanner's behaviour showed for SYNs built the same way (same options),
    towards the same target: one scan session is one technique."""
    decided = {}
    for ex, tech, why, behavioural in inferred:
        if behavioural and tech in (Technique.SYN, Technique.CONNECT):
            decided.setdefault((ex.scanner, ex.target, ex.probes[0].options), (tech, why))
    out = []
    for ex, tech, why, behavioural in inferred:
        if not behavioural and tech in (Technique.SYN, Technique.CONNECT):
            seen = decided.get((ex.scanner, ex.target, ex.probes[0].options))
            if seen is not None:
                tech, why = seen[0], f"{seen[1]} on another port of this session"
        out.append((ex, tech, why, behavioural))
    return out


def _merge_same_port(exs: list[Exchange]) -> list[Exchange]:
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
