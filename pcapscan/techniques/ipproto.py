"""IP protocol scan (-sO): which IP protocols (TCP, ICMP, IGMP, GRE, ...) a
host speaks. Not a port scan: its "ports" are protocol numbers 0-255, and
nmap's XML writes them as <port protocol="ip" portid="N">.

How the probes look (nmap 7.93 build_protoscan_packet)
    Most protocols get a bare IP header and nothing after it (exchanges.py
    follows them as "ip" flows, one per protocol number). Six get a real
    header of their own: TCP (6) an ACK to port 80, UDP (17) a datagram to
    port 40125, SCTP (132) an INIT to port 80, ICMP (1) an echo request,
    IGMP (2) an 8-byte membership query, ICMPv6 (58) an echo request. Those
    are followed by the TCP/UDP/SCTP engine and by pairing.py; `assemble`
    gathers them back into the session by their shape, within the time the
    bare-header probes span.

State table (nmap 7.93 scan_engine_raw.cc get_pcap_result, prot_scan)

    response (from the target unless said)           state           reason
    any packet of the probed protocol                 open            proto-response
    protocol 1 (ICMP): any ICMP message after
      the echo request (nmap's "protoscanicmphack")   open            echo-reply, or that message's reason
    ICMP port unreachable (3/3; ICMPv6 1/4)           open            port-unreach
    ICMPv6 parameter problem, erroneous field (4/0)   open            param-problem
    ICMP protocol unreachable (3/2)                   closed          proto-unreach
    ICMPv6 parameter problem, next header (4/1)       closed          param-problem
    3/2, 3/3 or 4/1 from another host                 filtered        the error's reason
    ICMP unreachable 0,1,9,10,13 (ICMPv6 1/0-3,5,6)   filtered        the error's reason
    ICMP time exceeded                                filtered        time-exceeded
    nothing, after retries                            open|filtered   no-response

    A later answer may change the state as in a UDP scan (silence means
    open|filtered, so a later answer wins, but never turns filtered to open).

    Protocols 1 and 58 follow nmap's reading of its capture, which comes after
    each burst of probes, so a message that arrived a moment (BURST_SLACK)
    before the echo request is read while the request is outstanding. ICMP
    (1) is open from the first ICMP message of the target from then on, with
    the reason of the message that ends that read (the first one that answers
    some probe, maybe itself: nmap's "protoscanicmphack" reads the last packet
    it saw); ICMPv6 (58) is open, proto-response, from the first ICMPv6
    message of the target to the scanner from the session's first probe on
    (in the lab, the neighbour advertisement that let the scan start).
"""
from __future__ import annotations

from dataclasses import replace

from ..model import Exchange, Reason, State, Technique, Verdict
from .base import (FROM_TARGET, ICMP, ICMP_TIME_EXCEEDED, ICMP_UNREACH, NONE, PROTO, REGISTRY, SILENT_OPEN, TTL,
                   icmp_any_reason, register)

PROTO_RESPONSE_ = "proto-response"  # a packet of the probed protocol
ICMP_ANY = "icmp-any"  # protocol 1: any ICMP message from the target
PORT_UNREACH_TARGET = "port-unreach-target"  # 3/3, ICMPv6 1/4, from the target
PARAM_FIELD = "param-problem-field"  # ICMPv6 4/0
PROTO_UNREACH_TARGET = "proto-unreach-target"  # 3/2, ICMPv6 4/1, from the target
UNREACH_ELSEWHERE = "unreach-elsewhere"  # 3/2, 3/3, ICMPv6 1/4, 4/1 from another host

IPPROTO_TABLE = {
    PROTO_RESPONSE_: (State.OPEN, Reason.PROTO_RESPONSE),
    ICMP_ANY: (State.OPEN, None),
    PORT_UNREACH_TARGET: (State.OPEN, None),
    PARAM_FIELD: (State.OPEN, None),
    PROTO_UNREACH_TARGET: (State.CLOSED, None),
    UNREACH_ELSEWHERE: (State.FILTERED, None),
    ICMP_UNREACH: (State.FILTERED, None),
    ICMP_TIME_EXCEEDED: (State.FILTERED, None),
    NONE: (State.OPEN_FILTERED, Reason.NO_RESPONSE),
}

_FILTERED4 = frozenset((0, 1, 9, 10, 13))
_FILTERED6 = frozenset((0, 1, 2, 3, 5, 6))

# nmap's probes for the protocols that get a header of their own.
TCP_PROBE_PORT, UDP_PROBE_PORT, SCTP_PROBE_PORT = 80, 40125, 80
# How far around the bare-header probes their companions may lie.
COMPANION_SLACK = 2.0
# How long before the session's first probe a target's ICMPv6 message may still be read after it (s).
BURST_SLACK = 0.010


def _kind(resp, ex: Exchange):
    """A response in the words of IPPROTO_TABLE; None: nmap passes it over."""
    from_target = resp.src == ex.target
    if resp.quoted is not None:
        t, c = resp.icmp_type, resp.icmp_code
        if resp.proto == "icmp":
            if t == 11:
                return ICMP_TIME_EXCEEDED
            if t != 3:
                return None
            if c in (2, 3):
                if not from_target:
                    return UNREACH_ELSEWHERE
                return PROTO_UNREACH_TARGET if c == 2 else PORT_UNREACH_TARGET
            return ICMP_UNREACH if c in _FILTERED4 else None
        if t == 1:
            if c == 4:
                return PORT_UNREACH_TARGET if from_target else UNREACH_ELSEWHERE
            return ICMP_UNREACH if c in _FILTERED6 else None
        if t == 4:
            if c == 0:
                return PARAM_FIELD
            if c == 1:
                return PROTO_UNREACH_TARGET if from_target else UNREACH_ELSEWHERE
        return None
    if ex.port == 1 and resp.proto == "icmp":
        return ICMP_ANY
    return PROTO_RESPONSE_


_IPPROTO = register(Technique.IPPROTO, "ip", None, "-sO", IPPROTO_TABLE, reads={PROTO, ICMP, FROM_TARGET, TTL},
                    later=SILENT_OPEN, title="IP protocol scan", title_zh="IP 协议扫描",
                    aliases=("ip protocol", "ip proto"),
                    kind_of=_kind, reason_of=icmp_any_reason)


def _classify(ex: Exchange) -> Verdict:
    """IPPROTO's table, with protocols 1 and 58 read as `assemble` gathered them."""
    if ex.port in (1, 58) and ex.responses and ex.probes[0].proto in ("icmp", "icmp6"):
        resp = ex.responses[0]
        if ex.port == 1:
            state, reason = State.OPEN, icmp_any_reason(ex.responses[-1])
            resp = ex.responses[-1]
        else:
            state, reason = IPPROTO_TABLE[PROTO_RESPONSE_]
        return Verdict(state=state, reason=reason, reason_ttl=resp.ttl,
                       probe_frames=tuple(p.frame for p in ex.probes),
                       response_frames=tuple(r.frame for r in ex.responses))
    return _IPPROTO.classify(ex)


IPPROTO = REGISTRY[Technique.IPPROTO] = replace(_IPPROTO, classify=_classify)


def _companion(ex: Exchange) -> int | None:
    """The protocol number nmap -sO probes with this exchange, if it has -sO's shape."""
    first = ex.probes[0]
    if ex.proto == "tcp" and ex.port == TCP_PROBE_PORT and first.flags & 0x17 == 0x10:
        return 6
    if ex.proto == "udp" and ex.port == UDP_PROBE_PORT:
        return 17
    if ex.proto == "sctp" and ex.port == SCTP_PROBE_PORT and first.chunk_type == 1:
        return 132
    if ex.proto == "icmp" and ex.port == 8 and first.length <= 28:
        return 1
    if ex.proto == "icmp6" and ex.port == 128 and first.length <= 48:
        return 58
    return None


def assemble(exchanges: list, queries: list) -> tuple[list, list, list]:
    """Gather each -sO session's probes into one exchange per protocol number.

    Returns (protocol exchanges, the other exchanges, the other query
    exchanges): the first are Exchanges of proto "ip" whose port is the
    protocol number, ready for IPPROTO's classifier."""
    spans: dict = {}
    for ex in exchanges:
        if ex.proto == "ip":
            key = (ex.scanner, ex.target)
            lo, hi = spans.get(key, (float("inf"), float("-inf")))
            spans[key] = (min(lo, ex.probes[0].ts), max(hi, ex.probes[-1].ts))
    if not spans:
        return [], list(exchanges), list(queries)
    protocol: dict = {}
    rest, rest_q = [], []
    for source, out in ((exchanges, rest), (queries, rest_q)):
        for ex in source:
            span = spans.get((ex.scanner, ex.target))
            num = ex.port if ex.proto == "ip" else (_companion(ex) if span else None)
            if num is None or (ex.proto != "ip" and not span[0] - COMPANION_SLACK <= ex.probes[0].ts
                               <= span[1] + COMPANION_SLACK):
                out.append(ex)
                continue
            protocol.setdefault((ex.scanner, ex.target, num), []).append(ex)
    # ICMP messages from each target to its scanner, for the rules of protocols 1 and 58:
    # replies, errors (and which of them answer a probe), neighbour advertisements.
    icmp_from: dict = {}
    answering: set = set()
    for (scanner, target, _num), exs in protocol.items():
        for ex in exs:
            for r in ex.responses:
                if r.proto in ("icmp", "icmp6") and r.src == target:
                    icmp_from.setdefault((scanner, target), {})[r.frame] = r
                answering.add(r.frame)
    for q in queries:
        if q.proto == "nd" and (q.scanner, q.target) in spans:
            for r in q.responses:
                if r.dst == q.scanner:
                    icmp_from.setdefault((q.scanner, q.target), {})[r.frame] = r
    out = []
    for (scanner, target, num), exs in protocol.items():
        probes = tuple(sorted((p for ex in exs for p in ex.probes), key=lambda p: p.frame))
        responses = tuple(sorted((r for ex in exs for r in ex.responses), key=lambda p: p.frame))
        heard = [r for _f, r in sorted(icmp_from.get((scanner, target), {}).items())]
        if num == 1 and probes:
            start = probes[0].ts - BURST_SLACK
            later = [r for r in heard if r.proto == "icmp" and r.ts >= start]
            ends = [r for r in later if r.frame in answering and r.quoted is not None]
            responses = (later[0], ends[0]) if later and ends else tuple(later[:1])
        elif num == 58 and probes:
            start = spans[(scanner, target)][0] - BURST_SLACK
            responses = tuple([r for r in heard if r.proto == "icmp6" and r.ts >= start][:1])
        out.append(Exchange(scanner=scanner, target=target, proto="ip", port=num, probes=probes,
                            responses=responses))
    return out, rest, rest_q
