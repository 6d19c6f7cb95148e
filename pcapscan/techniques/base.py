"""Shared policy for every technique: how a response is named, how an ICMP
error becomes one of nmap's reasons, how nmap lets a later answer change an
earlier verdict, and the table-driven classifier.

A classifier is a pure function Exchange -> Verdict. Each technique module
declares its state table as data (response kind -> state, reason) and
documents it where it is defined; `table_classifier` turns a table into a
classifier. The registry maps each Technique to its TechniqueSpec, so the
capture analyzer and the live scanner call the very same code.

Sources: nmap 7.93 scan_engine_raw.cc get_pcap_result() (answers to raw
probes), scan_engine.cc ultrascan_port_pspec_update() (later answers),
portreasons.cc icmpv4_to_reason()/icmpv6_to_reason() (reason words).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Optional

from ..exchanges import answers
from ..model import ACK, RST, SYN, Exchange, Packet, Reason, State, Technique, Verdict

# Response kinds: the words the state tables are written in.
SYN_ACK = "syn-ack"  # SYN and ACK set
SYN_ONLY = "syn"  # a SYN without ACK answering a SYN (split handshake)
RST_ = "rst"  # RST set (with or without ACK)
UDP_ = "udp"  # any UDP datagram back from the probed port
ICMP_PORT_UNREACH = "icmp-port-unreach"  # ICMP 3/3, ICMPv6 1/4
ICMP_UNREACH = "icmp-unreach"  # the other unreachable codes nmap reads as filtered
ICMP_TIME_EXCEEDED = "icmp-time-exceeded"  # ICMP 11 (nmap drops ICMPv6 time exceeded)
NONE = "none"  # no answer to any try
INIT_ACK_ = "init-ack"  # SCTP INIT-ACK
ABORT_ = "abort"  # SCTP ABORT
SCTP_OTHER = "sctp-other"  # any other SCTP chunk: nmap passes it over

# ICMPv4 type 3 codes nmap reads (reference guide: "ICMP unreachable error
# (type 3, code 0, 1, 2, 3, 9, 10, or 13)"); other codes (fragmentation
# needed, source route failed, ...) say nothing about the port: ignored.
ICMP4_UNREACH_REASONS = {
    0: Reason.NET_UNREACH,
    1: Reason.HOST_UNREACH,
    2: Reason.PROTO_UNREACH,
    3: Reason.PORT_UNREACH,
    9: Reason.NET_PROHIBITED,
    10: Reason.HOST_PROHIBITED,
    13: Reason.ADMIN_PROHIBITED,
}
# ICMPv6 destination unreachable (type 1) codes, RFC 4443 3.1, in nmap's words.
ICMP6_UNREACH_REASONS = {
    0: Reason.NO_ROUTE,
    1: Reason.ADMIN_PROHIBITED,
    2: Reason.BEYOND_SCOPE,
    3: Reason.HOST_UNREACH,
    4: Reason.PORT_UNREACH,
    5: Reason.ADMIN_PROHIBITED,  # source address failed ingress/egress policy
    6: Reason.REJECT_ROUTE,
}


def icmp_reason(resp: Packet) -> Optional[Reason]:
    """nmap's reason word for an ICMP/ICMPv6 error, or None if nmap ignores it."""
    if resp.proto == "icmp":
        if resp.icmp_type == 3:
            return ICMP4_UNREACH_REASONS.get(resp.icmp_code)
        if resp.icmp_type == 11:
            return Reason.TIME_EXCEEDED
    elif resp.proto == "icmp6":
        if resp.icmp_type == 1:
            return ICMP6_UNREACH_REASONS.get(resp.icmp_code)
        if resp.icmp_type == 4 and resp.icmp_code == 1:
            return Reason.PARAM_PROBLEM  # unrecognized next header: nmap's filtered
    return None


# nmap's icmpv4_to_reason / icmpv6_to_reason (portreasons.cc) for any ICMP
# message, errors and replies alike: what nmap -sO and host discovery say.
_ICMP4_OTHER_REASONS = {0: Reason.ECHO_REPLY, 4: Reason.SOURCE_QUENCH, 11: Reason.TIME_EXCEEDED,
                        14: Reason.TIMESTAMP_REPLY, 18: Reason.ADDRESSMASK_REPLY}
_ICMP6_OTHER_REASONS = {129: Reason.ECHO_REPLY, 4: Reason.PARAM_PROBLEM, 3: Reason.TIME_EXCEEDED}


def icmp_any_reason(resp: Packet) -> Reason:
    """nmap's icmp_to_reason: the reason word for any ICMP/ICMPv6 message."""
    if resp.proto == "icmp":
        if resp.icmp_type == 3:
            return ICMP4_UNREACH_REASONS.get(resp.icmp_code, Reason.DEST_UNREACH)
        return _ICMP4_OTHER_REASONS.get(resp.icmp_type, Reason.UNKNOWN_RESPONSE)
    if resp.proto == "icmp6":
        if resp.icmp_type == 1:
            return ICMP6_UNREACH_REASONS.get(resp.icmp_code, Reason.DEST_UNREACH)
        return _ICMP6_OTHER_REASONS.get(resp.icmp_type, Reason.UNKNOWN_RESPONSE)
    return Reason.UNKNOWN_RESPONSE


def response_kind(resp: Packet) -> Optional[str]:
    """Name a response in the words of the state tables; None: says nothing."""
    if resp.proto == "tcp":
        if resp.flags & RST:
            return RST_
        if resp.flags & SYN:
            return SYN_ACK if resp.flags & ACK else SYN_ONLY
        return None
    if resp.proto == "udp":
        return UDP_
    if resp.proto == "sctp":
        return {2: INIT_ACK_, 6: ABORT_}.get(resp.chunk_type, SCTP_OTHER)
    reason = icmp_reason(resp)
    if reason is None:
        return None
    if reason is Reason.TIME_EXCEEDED:
        return ICMP_TIME_EXCEEDED
    if reason is Reason.PORT_UNREACH:
        return ICMP_PORT_UNREACH
    return ICMP_UNREACH


# Techniques in which silence means open|filtered: nmap lets a later answer
# override "open" in them, and never lets one turn "filtered" into "open".
_SILENT_OPEN = frozenset({Technique.FIN, Technique.NULL, Technique.XMAS, Technique.MAIMON, Technique.UDP,
                          Technique.IPPROTO})
_CLOSED_MAY_CHANGE = frozenset({Technique.SYN, Technique.ACK, Technique.WINDOW, Technique.CONNECT,
                                Technique.SCTP_INIT, Technique.SCTP_COOKIE_ECHO})


def later_answer_wins(technique: Technique, old: State, new: State) -> bool:
    """nmap's rule (ultrascan_port_pspec_update) when a second answer arrives."""
    if old is State.OPEN:
        return technique in _SILENT_OPEN
    if old is State.CLOSED:
        return technique in _CLOSED_MAY_CHANGE and new is not State.FILTERED
    if old is State.FILTERED:
        return not (new is State.OPEN and technique in _SILENT_OPEN)
    if old is State.UNFILTERED:
        return new in (State.OPEN, State.CLOSED)
    return True


def answered_once(ex: Exchange):
    """Responses in capture order, each paired with the newest earlier probe
    it answers that no earlier response took: nmap counts one answer per
    probe (a SYN/ACK the target retransmits answers nothing new)."""
    taken = set()
    for resp in ex.responses:
        for i in range(len(ex.probes) - 1, -1, -1):
            probe = ex.probes[i]
            if i not in taken and probe.frame < resp.frame and answers(probe, resp):
                taken.add(i)
                yield resp
                break


Row = tuple  # (State, Reason | None): None means "the ICMP error's own reason"
Classifier = Callable[[Exchange], Verdict]


def table_classifier(technique: Technique, table: Mapping[str, Row], refine: Optional[Callable] = None,
                     reason_of: Callable = icmp_reason, keeps_ttl: bool = True,
                     kind_of: Optional[Callable] = None) -> Classifier:
    """A classifier that reads the answers the table has a row for.

    Answers without a row (an ICMP "fragmentation needed", a bare ACK) are
    passed over. The first answer sets the state; a later one may change it
    only as `later_answer_wins` allows, but (as in nmap) always sets the
    reason and TTL. With no meaningful answer the NONE row applies. `refine`
    may rewrite (kind, response, exchange) into another row key; `kind_of`
    (response, exchange) replaces response_kind for tables in other words.
    """

    def classify(ex: Exchange) -> Verdict:
        state = reason = None
        ttl = 0
        for resp in answered_once(ex):
            kind = response_kind(resp) if kind_of is None else kind_of(resp, ex)
            if kind is not None and refine is not None:
                kind = refine(kind, resp, ex)
            row = table.get(kind) if kind is not None else None
            if row is None:
                continue
            new_state, new_reason = row
            if state is None or later_answer_wins(technique, state, new_state):
                state = new_state
            reason, ttl = new_reason or reason_of(resp), resp.ttl if keeps_ttl else 0
        if state is None:
            state, reason = table[NONE]
        return Verdict(state=state, reason=reason, reason_ttl=ttl,
                       probe_frames=tuple(p.frame for p in ex.probes),
                       response_frames=tuple(r.frame for r in ex.responses))

    return classify


@dataclass(frozen=True)
class TechniqueSpec:
    """A technique: its probe, its state table, its classifier, its textbook line."""

    technique: Technique
    proto: str  # "tcp" or "udp"
    probe_flags: Optional[str]  # scapy flag letters of the probe ("S", "FPU", "" ...), None for UDP
    nmap_option: str
    table: Mapping[str, Row]
    classify: Classifier
    textbook: str


REGISTRY: dict = {}


def register(technique: Technique, proto: str, probe_flags: Optional[str], nmap_option: str,
             table: Mapping[str, Row], textbook: str, **classifier_options) -> TechniqueSpec:
    spec = TechniqueSpec(technique=technique, proto=proto, probe_flags=probe_flags, nmap_option=nmap_option,
                         table=table, classify=table_classifier(technique, table, **classifier_options),
                         textbook=textbook)
    REGISTRY[technique] = spec
    return spec


def classify(technique: Technique, ex: Exchange) -> Verdict:
    """The one entry point both the analyzer and the live scanner use."""
    return REGISTRY[Technique(technique)].classify(ex)


# -- other names --------------------------------------------------------------------
# What people call a technique besides its own name (Technique value) and its
# nmap option (-sS): textbook words, Chinese, common misspellings. The one
# vocabulary every command reads claims with (pcapscan/claims.py); words are
# compared without case, separators, "tcp" or "scan".
ALIASES: Mapping[Technique, tuple] = {
    Technique.SYN: ("stealth", "stealthy", "steal", "syn stealth", "half-open", "half connect", "half",
                    "半开", "半连接", "隐蔽", "秘密"),
    Technique.CONNECT: ("tcp connect", "full connect", "full-open", "full", "conn", "connection", "connet",
                        "全连接", "连接"),
    Technique.XMAS: ("christmas", "christmas tree", "xmas tree", "x-mas", "xmass", "chrismas", "圣诞树", "圣诞"),
    Technique.NULL: ("nul",),
    Technique.SCTP_INIT: ("sctp init",),
    Technique.SCTP_COOKIE_ECHO: ("sctp cookie echo", "cookie echo"),
    Technique.IPPROTO: ("ip protocol", "ip proto"),
    Technique.IDLE: ("zombie",),
}
