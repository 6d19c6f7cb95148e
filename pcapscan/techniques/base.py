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

from ..exchanges import answers, answers_from_before
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


# How nmap lets a second answer change the state the first one set
# (ultrascan_port_pspec_update): each spec names its rule.
SILENT_OPEN = "silent-open"  # silence means open|filtered: a later answer overrides "open", never turns "filtered" "open"
CLOSED_MAY_CHANGE = "closed-may-change"  # "closed" gives way to a later answer that is not "filtered"
FIRST_STAYS = "first-stays"  # neither: "open" and "closed" stay


def later_answer_wins(rule: str, old: State, new: State) -> bool:
    """nmap's rule (ultrascan_port_pspec_update) when a second answer arrives."""
    if old is State.OPEN:
        return rule == SILENT_OPEN
    if old is State.CLOSED:
        return rule == CLOSED_MAY_CHANGE and new is not State.FILTERED
    if old is State.FILTERED:
        return not (new is State.OPEN and rule == SILENT_OPEN)
    if old is State.UNFILTERED:
        return new in (State.OPEN, State.CLOSED)
    return True


def answered_once(ex: Exchange):
    """Responses in capture order, each paired with the newest earlier probe
    it answers that no earlier response took: nmap counts one answer per
    probe (a SYN/ACK the target retransmits answers nothing new). An answer
    written before its probe but stamped after it (the replay engine kept it
    for the probe: exchanges.EARLY_ANSWER_FRAMES) answers the first such
    probe when no earlier one takes it."""
    taken = set()
    probes = ex.probes
    for resp in ex.responses:
        pick = next((i for i in range(len(probes) - 1, -1, -1)
                     if i not in taken and probes[i].frame < resp.frame and answers(probes[i], resp)), None)
        if pick is None:
            pick = next((i for i, probe in enumerate(probes)
                         if i not in taken and answers_from_before(probe, resp)), None)
        if pick is not None:
            taken.add(pick)
            yield resp


Row = tuple  # (State, Reason | None): None means "the ICMP error's own reason"
Classifier = Callable[[Exchange], Verdict]


def table_classifier(later: str, table: Mapping[str, Row], refine: Optional[Callable] = None,
                     reason_of: Callable = icmp_reason, keeps_ttl: bool = True,
                     kind_of: Optional[Callable] = None) -> Classifier:
    """A classifier that reads the answers the table has a row for.

    Answers without a row (an ICMP "fragmentation needed", a bare ACK) are
    passed over. The first answer sets the state; a later one may change it
    only as `later_answer_wins` allows under rule `later`, but (as in nmap)
    always sets the reason and TTL. With no meaningful answer the NONE row applies. `refine`
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
            if state is None or later_answer_wins(later, state, new_state):
                state = new_state
            reason, ttl = new_reason or reason_of(resp), resp.ttl if keeps_ttl else 0
        if state is None:
            state, reason = table[NONE]
        return Verdict(state=state, reason=reason, reason_ttl=ttl,
                       probe_frames=tuple(p.frame for p in ex.probes),
                       response_frames=tuple(r.frame for r in ex.responses))

    return classify


# -- what a classifier reads of a response ---------------------------------------------

# The response fields a classifier may read, as TechniqueSpec.reads names
# them. Which probe a response answers (exchanges.answers: ports, sequence
# numbers, tags) is pairing, done before any classifier runs, and read by
# every one. The fast path keys its bulk classification on the declared
# fields (fastpath/shapes.py); tests/test_response_fields.py perturbs every
# other field of real exchanges and shows that no verdict moves.
PROTO = "proto"  # what answered: TCP, UDP, SCTP, ICMP or ICMPv6
FLAGS = "flags"  # TCP flags
WINDOW_NONZERO = "window!=0"  # whether the TCP window is 0 (its value says nothing more)
ICMP = "icmp"  # ICMP/ICMPv6 type and code
FROM_TARGET = "from-target"  # the target itself sent it, not a router on the way
CHUNK = "chunk"  # SCTP: the first chunk's type
TTL = "ttl"  # copied into the verdict as nmap's reason TTL; decides nothing
RESPONSE_FIELDS = (PROTO, FLAGS, WINDOW_NONZERO, ICMP, FROM_TARGET, CHUNK, TTL)


def response_fields(pkt: Packet, ex: Exchange) -> dict:
    """The declared fields of a response, as its classifier sees them."""
    return {PROTO: pkt.proto, FLAGS: pkt.flags, WINDOW_NONZERO: pkt.window != 0,
            ICMP: (pkt.icmp_type, pkt.icmp_code), FROM_TARGET: pkt.src == ex.target, CHUNK: pkt.chunk_type,
            TTL: pkt.ttl}


@dataclass(frozen=True)
class LabRow:
    """A technique's row in the lab's summary table (live/labrun.py), where a
    Linux victim has a port in each lab state. What each cell should read is
    the technique's own table applied to what the victim sends: the lab knows
    what its closed and firewalled ports send; the technique says what a
    port with a listener answers its probe."""

    row: int  # the row's place: the seeds' six techniques first
    title: str  # the row's label, in the seeds' words ("TCP stealth / SYN"); the nmap option follows it
    listening_answer: str  # what a Linux port with a listener answers the probe, in the table's words


@dataclass(frozen=True)
class TechniqueSpec:
    """A technique, described once: everything else reads it from here.

    Names: `title`/`title_zh` are how reports name it ("SYN scan", "SYN
    扫描（半开扫描）"); `aliases` are the other English words people use for it
    ("stealth", "half-open"; claims.py compares them without case, separators,
    "tcp" or "scan"), besides its own value and nmap option letters ("ss");
    `names_zh` the Chinese ones ("半开", "隐蔽"). claims.py matches all of them.
    """

    technique: Technique
    proto: str  # "tcp", "udp", "sctp" or "ip"
    probe_flags: Optional[str]  # scapy flag letters of the probe ("S", "FPU", "" ...); SCTP: the chunk; None for UDP, IP
    nmap_option: str  # "-sS"
    table: Mapping[str, Row]  # response kind -> (state, reason), documented in the technique's module
    classify: Classifier
    reads: frozenset  # RESPONSE_FIELDS the classifier reads
    later: str  # nmap's rule when a second answer comes: SILENT_OPEN, CLOSED_MAY_CHANGE or FIRST_STAYS
    title: str
    title_zh: str
    aliases: tuple = ()
    names_zh: tuple = ()
    textbook_key: str = ""  # messages.py's "textbook.<key>": the state table in words
    inferred: bool = True  # read from its probe alone; False: only by behaviour or --technique (connect, window, idle)
    live: bool = False  # `pcapscan scan` sends it (and `--technique` offers it)
    os_connect: bool = False  # the probe is the scanning OS's connect() (nmap -sT), not a crafted packet
    lab: Optional[LabRow] = None  # its row in the lab's summary table (live/labrun.py); None: not in the lab

    @property
    def probe_class(self) -> str:
        """exchanges.probe_class of its probes: the flag letters, "udp", the SCTP chunk, "ip"."""
        return self.probe_flags if self.probe_flags is not None else self.proto

    @property
    def nmap_letters(self) -> str:
        """Its nmap option without the dash, lowercase: "ss"."""
        return self.nmap_option.lstrip("-").lower()


REGISTRY: dict = {}


def register(technique: Technique, proto: str, probe_flags: Optional[str], nmap_option: str,
             table: Mapping[str, Row], *, reads, title: str, title_zh: str, later: str, aliases=(), names_zh=(),
             textbook_key: Optional[str] = None, inferred: bool = True, live: bool = False,
             os_connect: bool = False, lab: Optional[LabRow] = None, **classifier_options) -> TechniqueSpec:
    reads = frozenset(reads)
    unknown = reads - set(RESPONSE_FIELDS)
    if unknown:
        raise ValueError(f"{technique}: no such response field {sorted(unknown)} (base.RESPONSE_FIELDS)")
    if (TTL in reads) != classifier_options.get("keeps_ttl", True):
        raise ValueError(f"{technique}: reads TTL exactly when its verdicts keep the answer's TTL")
    spec = TechniqueSpec(technique=technique, proto=proto, probe_flags=probe_flags, nmap_option=nmap_option,
                         table=table, classify=table_classifier(later, table, **classifier_options), reads=reads, later=later,
                         title=title, title_zh=title_zh, aliases=tuple(aliases), names_zh=tuple(names_zh),
                         textbook_key=textbook_key or technique.value, inferred=inferred, live=live,
                         os_connect=os_connect, lab=lab)
    REGISTRY[technique] = spec
    return spec


def classify(technique: Technique, ex: Exchange) -> Verdict:
    """The one entry point both the analyzer and the live scanner use."""
    return REGISTRY[Technique(technique)].classify(ex)
