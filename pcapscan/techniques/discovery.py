"""Host discovery (nmap -sn, and the ping phase before any scan without
-Pn): is each address up or down, and why, in nmap's words.

How the probes look
    arp          ARP request for the address (-PR; nmap's default for a
                 target on the scanner's own Ethernet, even with -Pn)
    nd           ICMPv6 neighbour solicitation (the same, over IPv6)
    icmp-echo, icmp-timestamp, icmp-mask, icmp6-echo
                 ICMP echo (8; -PE), timestamp (13; -PP), address-mask (17;
                 -PM) requests; ICMPv6 echo (128)
    tcp-syn/P, tcp-ack/P, udp/P, sctp-init/P
                 -PS, -PA, -PU, -PY probes to port P. A TCP/UDP/SCTP
                 exchange counts as a ping when it is nmap's default SYN/443
                 or ACK/80 ping going out with ICMP pings to the same host
                 (the default set: echo + SYN/443 + ACK/80 + timestamp), or when the scanner sent the very same set of at
                 most PING_SPECS kinds of TCP/UDP/SCTP probe to each of at
                 least PING_TARGETS hosts and nothing else (a -PS/-PA/-PU
                 sweep) whose probes fingerprint as nmap's (a masscan or
                 zmap sweep of one port stays a port scan). So `nmap -sS -p 80,443` of three hosts with --send-ip
                 -Pn and nothing else reads as a ping sweep: on the wire the
                 two are the same.

With --send-ip (or off the LAN) the scanner's kernel resolves each address
with ARP/ND before the IP probe leaves: when IP pings went to an address, its
ARP/ND exchange is resolution, not the ping, and the verdict comes from the
IP pings. An address whose resolution failed never saw an IP ping: its ARP
requests were the only probes, and it is down.

State table (nmap 7.93 scan_engine_raw.cc get_ping_pcap_result, get_arp_result,
get_ns_result; the first decisive answer settles the host, as in nmap)

    answer                                            state   reason
    ARP reply from the address                        up      arp-response (TTL 0)
    ICMPv6 neighbour advertisement for it             up      nd-response (TTL 0)
    ICMP echo / timestamp / address-mask reply        up      echo-reply / timestamp-reply / addressmask-reply
    TCP SYN/ACK                                       up      syn-ack
    TCP RST                                           up      reset
    UDP datagram back                                 up      udp-response
    SCTP INIT-ACK / ABORT                             up      init-ack / abort
    ICMP unreachable from the address itself          up      port-unreach, proto-unreach, ...
    ICMP unreachable from another host (a router)     down    host-unreach, net-unreach, ...
    ICMP time exceeded, source quench, param problem  (passed over)
    nothing, after retries                            down    no-response
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Iterable

from ..model import ACK, RST, SYN, Discovery, Exchange, HostResult, HostState, Reason, Text
from ..sessions import exchange_spans, kind_of
from .base import icmp_any_reason

PING_SPECS = 4  # at most this many kinds of TCP/UDP/SCTP probe ...
PING_TARGETS = 3  # ... sent to at least this many hosts, and nothing else: a ping sweep
ICMP_COMPANION_WINDOW = 1.0  # s: nmap's default TCP pings this close to an ICMP ping of the same host
DEFAULT_TCP_PINGS = frozenset(("tcp-syn/443", "tcp-ack/80"))  # nmap's default: -PE -PS443 -PA80 -PP
TIMING_PING_SCAN_PORTS = 10  # a scan at least this wide that a lone SYN/443 or ACK/80 falls inside: a timing ping

ICMP_METHODS = {("icmp", 8): "icmp-echo", ("icmp", 13): "icmp-timestamp", ("icmp", 17): "icmp-mask",
                ("icmp6", 128): "icmp6-echo"}
_UNREACH = {"icmp": 3, "icmp6": 1}


def method_of(ex: Exchange) -> str:
    if ex.proto in ("arp", "nd"):
        return ex.proto
    if ex.proto in ("icmp", "icmp6"):
        return ICMP_METHODS.get((ex.proto, ex.port), f"{ex.proto}-{ex.port}")
    first = ex.probes[0]
    if ex.proto == "tcp":
        kind = "syn" if first.flags & SYN else "ack" if first.flags & ACK else "tcp"
        return f"tcp-{kind}/{ex.port}"
    if ex.proto == "sctp":
        return f"sctp-init/{ex.port}"
    return f"{ex.proto}/{ex.port}"


def icmp_ping_times(queries: Iterable[Exchange]) -> dict:
    """(scanner, target) -> the times of every ICMP query sent to the target
    (each run of nmap pings again: every probe counts, not only the first)."""
    times: dict = defaultdict(list)
    for q in queries:
        if q.proto in ("icmp", "icmp6"):
            times[(q.scanner, q.target)].extend(p.ts for p in q.probes)
    return times


def split_pings(exchanges: Iterable[Exchange], queries: Iterable[Exchange], spans=None) -> tuple[list, list]:
    """(ping exchanges among the TCP/UDP/SCTP ones, the rest), by the rules in the module docstring.
    `spans`: sessions.run_spans of every scan run, keyed ((scanner, target), kind, run)
    (families.route passes them); by default computed from `exchanges`."""
    exchanges = list(exchanges)
    icmp_times = icmp_ping_times(queries)
    if spans is None:
        spans = exchange_spans(exchanges)
    by_pair: dict = defaultdict(list)
    for (pair, kind, run), span in spans.items():
        by_pair[pair].append((kind, run, *span))
    pings, rest = [], []
    by_scanner: dict = defaultdict(list)
    for ex in exchanges:
        if ex.proto not in ("tcp", "udp", "sctp"):
            rest.append(ex)
            continue
        times = icmp_times.get((ex.scanner, ex.target)) if method_of(ex) in DEFAULT_TCP_PINGS else None
        # the first probe beside an ICMP ping, and none far from every ICMP ping (a later
        # probe of the port scan to the same port joined the exchange as a retry)
        if times and any(abs(ex.probes[0].ts - t) <= ICMP_COMPANION_WINDOW for t in times) \
                and all(min(abs(p.ts - t) for t in times) <= 10 * ICMP_COMPANION_WINDOW for p in ex.probes):
            pings.append(ex)
        elif method_of(ex) in DEFAULT_TCP_PINGS and _timing_ping(ex, by_pair[(ex.scanner, ex.target)]):
            pings.append(ex)
        else:
            by_scanner[ex.scanner].append(ex)
    for scanner, exs in by_scanner.items():
        per_target: dict = defaultdict(set)
        for ex in exs:
            per_target[ex.target].add(method_of(ex))
        spec_sets = {frozenset(v) for v in per_target.values()}
        if len(spec_sets) == 1 and len(next(iter(spec_sets))) <= PING_SPECS and len(per_target) >= PING_TARGETS \
                and _sent_by_nmap(exs):
            pings.extend(exs)
        else:
            rest.extend(exs)
    return pings, rest


def _timing_ping(ex: Exchange, runs: list) -> bool:
    """nmap's timing pings (scan_engine.cc, sendPingProbe): during a long scan
    nmap probes the host now and then with a probe that got an answer before,
    a SYN/443 or ACK/80 alone in its run, inside the time span of a scan of
    another kind (a UDP scan, say) of many ports to the same host."""
    kind = kind_of(ex.probes[0])
    own = next((r for r in runs if r[0] == kind and r[1] == ex.run), None)
    if own is None or own[4] != 1:
        return False
    t0, t1 = ex.probes[0].ts, ex.probes[-1].ts
    return any(k != kind and n >= TIMING_PING_SCAN_PORTS and first <= t0 and t1 <= last
               for k, _run, first, last, n in runs)


def _sent_by_nmap(exs) -> bool:
    """Only nmap's host discovery is read back here: a sweep of a port or two
    over many hosts by masscan, zmap or a script is a port scan, and keeps
    its per-port verdicts."""
    from ..fingerprint import identify

    return identify(exs).name == "nmap"


def _event(resp, ex: Exchange):
    """(state, reason) an answer decides, or None when nmap passes it over."""
    if resp.proto in ("icmp", "icmp6"):
        if resp.quoted is None:
            return HostState.UP, icmp_any_reason(resp)
        if resp.icmp_type != _UNREACH[resp.proto]:
            return None
        return (HostState.UP if resp.src == ex.target else HostState.DOWN), icmp_any_reason(resp)
    if resp.proto == "tcp":
        if resp.flags & RST:
            return HostState.UP, Reason.RESET
        if resp.flags & (SYN | ACK) == (SYN | ACK):
            return HostState.UP, Reason.SYN_ACK
        return None
    if resp.proto == "udp":
        return HostState.UP, Reason.UDP_RESPONSE
    if resp.proto == "sctp":
        return HostState.UP, {2: Reason.INIT_ACK, 6: Reason.ABORT}.get(resp.chunk_type, Reason.UNKNOWN_RESPONSE)
    return None


def host_result(target: str, pings: list, resolution: list) -> HostResult:
    """One address's verdict from its IP pings, or (without any) its ARP/ND exchanges."""
    if pings:
        answers = sorted(((r, ex) for ex in pings for r in ex.responses), key=lambda x: x[0].frame)
        probes = tuple(sorted(p.frame for ex in pings for p in ex.probes))
        for resp, ex in answers:
            decided = _event(resp, ex)
            if decided is not None:
                return HostResult(target, decided[0], decided[1], resp.ttl, probes, (resp.frame,), method_of(ex))
        return HostResult(target, HostState.DOWN, Reason.NO_RESPONSE, 0, probes, (), "+".join(
            sorted({method_of(ex) for ex in pings})))
    probes = tuple(sorted(p.frame for ex in resolution for p in ex.probes))
    replies = sorted((r for ex in resolution for r in ex.responses), key=lambda r: r.frame)
    method = resolution[0].proto
    if replies:
        reason = Reason.ARP_RESPONSE if method == "arp" else Reason.ND_RESPONSE
        return HostResult(target, HostState.UP, reason, 0, probes, (replies[0].frame,), method)
    return HostResult(target, HostState.DOWN, Reason.NO_RESPONSE, 0, probes, (), method)


def link_addresses(resolution: list) -> dict:
    """address -> MAC, as ARP replies and ND advertisements announced it (the
    first announcement; nmap shows the MAC it resolved the address to)."""
    macs: dict = {}
    for q in resolution:
        for resp in q.responses:
            if resp.hw is not None:
                macs.setdefault(resp.src if resp.proto == "arp" else resp.nd_target, resp.hw)
    return macs


def discover(capture: str, pings: list, queries: list, scanners: set) -> list[Discovery]:
    """One Discovery per scanner: every address it pinged or resolved.

    `scanners` are the hosts known to scan (port-scan sessions, pings); ARP
    and ND exchanges count only when one of them asks. With none known (an
    ARP-only sweep), the host that asks about the most addresses is the
    scanner."""
    icmp = [q for q in queries if q.proto in ("icmp", "icmp6")]
    resolution = [q for q in queries if q.proto in ("arp", "nd")]
    known = set(scanners) | {ex.scanner for ex in pings} | {q.scanner for q in icmp}
    if not known and resolution:
        asked: dict = defaultdict(set)
        for q in resolution:
            asked[q.scanner].add(q.target)
        known = {max(asked, key=lambda a: (len(asked[a]), -min(q.probes[0].frame for q in resolution
                                                               if q.scanner == a)))}
    ip_pings: dict = defaultdict(list)
    for ex in list(pings) + icmp:
        ip_pings[(ex.scanner, ex.target)].append(ex)
    resolved: dict = defaultdict(list)
    for q in resolution:
        if q.scanner in known and q.target not in known:
            resolved[(q.scanner, q.target)].append(q)
    macs = link_addresses(resolution)
    out = []
    for scanner in sorted(known):
        targets = {t for (s, t) in list(ip_pings) + list(resolved) if s == scanner}
        if not targets:
            continue
        hosts, methods, frames = [], set(), []
        for target in sorted(targets, key=_addr_key):
            exs = ip_pings.get((scanner, target), [])
            res = resolved.get((scanner, target), [])
            hosts.append(replace(host_result(target, exs, res), mac=macs.get(target)))
            methods.update(method_of(ex) for ex in (exs or res))
            frames.extend(p for ex in (exs or res) for p in ex.probes)
        up = sum(h.state is HostState.UP for h in hosts)
        evidence = Text.of("discovery.evidence", n=len(hosts), methods=", ".join(sorted(methods)), up=up,
                           down=len(hosts) - up)
        out.append(Discovery(capture=capture, scanner=scanner, hosts=tuple(hosts), methods=tuple(sorted(methods)),
                             evidence=evidence, first_ts=min(p.ts for p in frames),
                             last_ts=max(p.ts for p in frames)))
    return out


def _addr_key(addr: str):
    import ipaddress

    ip = ipaddress.ip_address(addr)
    return (ip.version, int(ip))
