"""pcapscan verify: hold every probe/response exchange of a capture against
the textbook behaviour of its technique, and name each departure.

Policy only. The captures are read and paired by analysis.py and
exchanges.py (mechanism); this module decides what is wrong with what they
show; report/verify_report.py renders the result. Nothing here prints.

What is checked against what
    A *claim* (`--claim TECHNIQUE:STATE[:PORT]`, an `--expect` TOML file, or
    a file name with `claims_from_names`) says what a capture is meant to
    show. The exchanges whose probes fit the claimed technique are
    classified with that technique's state table and compared with the
    claimed state. Exchanges no claim covers are checked against the
    textbook of the technique pcapscan infers for them, and so is every
    capture that has no claim at all.

Rules
    Each rule is a small pure function registered in RULES under a stable id,
    with one of three scopes: "port" (one exchange, under the technique it is
    checked as), "capture" (one capture and its claims), "set" (every capture
    of the run, for rules that compare captures). A rule yields Hits; its
    docstring says what the textbook says and what the rule looks for, and
    docs/verify.md shows each with example output. The words of every
    finding are data in messages.py, in English and Chinese.
"""
from __future__ import annotations

import bisect
import gc
import inspect
import os
from dataclasses import dataclass, replace
from collections.abc import Mapping
from typing import Callable, Iterable, Optional, Sequence

from . import messages
from .analysis import analyze, build_scans
from .claims import Claim, load_expectations, parse_claim, read_name
from .capture import ReadStats, read_packets
from .errors import InputError, UsageError
from .exchanges import ReplayEngine, port_flows as _flows  # the one keying of packets to ports
from .fingerprint import NMAP_WINDOWS
from .gcpause import cyclic_gc, no_cyclic_gc
from .kernel import OS_SYN_OPTION_KINDS, is_kernel_rst, synacks as synacks_of
from .messages import Frames, T, Text
from .model import (ACK, RST, SYN, AnalysisResult, CaptureSummary, Exchange, Packet, PortResult, Reason,
                    Scan, State, TCP_BASE_FLAGS, Technique, flag_letters)
from .progress import Ticker
from .techniques import REGISTRY, fallback_spec, infer_technique, probe_key
from .techniques.base import icmp_reason

ERROR, WARNING, INFO = "error", "warning", "info"
SEVERITIES = (ERROR, WARNING, INFO)
CONFORMS, VIOLATES = "conforms", "violates"

_MOD32 = 1 << 32
# The techniques that read RFC 793's inverse mapping (silence: open|filtered; RST: closed).
INVERSE = frozenset(t for t, spec in REGISTRY.items() if spec.textbook_key == "inverse")


# -- what the rules look at ----------------------------------------------------

@dataclass(frozen=True, slots=True)
class PortCase:
    """One exchange (scanner -> target port) under the technique it is checked as."""

    capture: str
    scan: Scan
    result: PortResult
    claim: Optional[Claim]
    packets: tuple  # every packet between scanner and target port (both ways, any source port, ICMP errors)
    loose_resets: tuple  # scanner RSTs to this port from a source port no probe used

    @property
    def ex(self) -> Exchange:
        return self.result.exchange

    @property
    def technique(self) -> Technique:
        return self.scan.technique

    @property
    def where(self) -> tuple:
        return (self.ex.scanner, self.ex.target, self.ex.proto, self.ex.port)


@dataclass(frozen=True)
class ClaimCase:
    capture: str
    claim: Claim
    ports: tuple  # PortCases under the claimed technique (fitting probes, the claimed port)
    others: tuple  # PortResults to the claimed port (or anywhere) whose probes do not fit


@dataclass(frozen=True)
class CaptureCase:
    summary: CaptureSummary
    claims: tuple
    claim_cases: tuple
    ports: tuple  # every PortCase checked: claimed ones and the inferred rest
    inferred: tuple  # the analysis' own scans of this capture
    elsewhere: tuple = ()  # what else the analysis found: "host-discovery", "os-detection", "version-detection"

    @property
    def capture(self) -> str:
        return self.summary.path


@dataclass(frozen=True, slots=True)
class Hit:
    """What a rule found: severity, message (a Text), frames, where (or None)."""

    severity: str
    text: Text
    frames: tuple = ()
    where: Optional[tuple] = None  # (scanner, target, proto, port)
    capture: Optional[str] = None  # set-scope rules say which capture


@dataclass(frozen=True)
class Rule:
    id: str
    scope: str  # "port", "capture" or "set"
    check: Callable
    doc: str
    needs: frozenset = frozenset()  # port rules: parts (PORT_PARTS) without any of which the rule finds nothing


RULES: dict = {}

# What a port case may show beside its probes and their plain answers, named for
# the port rules' `needs`. Most ports of a big scan show none of them (a probe and
# its RST/ACK, or silence), and skip every rule that needs one: the rules run on
# the few ports that can break them, not once per port each.
PORT_PARTS = frozenset({"followups", "loose-resets", "synack", "icmp", "completed-handshake"})


def _port_parts(pc: PortCase) -> frozenset:
    """The PORT_PARTS present in a port case."""
    if type(pc) is BulkPortCase:
        return pc.shape.parts
    ex = pc.result.exchange
    parts = []
    if ex.followups:
        parts.append("followups")
    if pc.loose_resets:
        parts.append("loose-resets")
    if ex.completed_handshake:
        parts.append("completed-handshake")
    for r in ex.responses:
        if r.proto == "tcp":
            if r.flags & SYN and r.flags & ACK:
                parts.append("synack")
        elif r.proto in ("icmp", "icmp6"):
            parts.append("icmp")
    return frozenset(parts) if parts else _NO_PARTS


_NO_PARTS = frozenset()


def ports_where(ports, keep: Callable) -> Iterable:
    """The port cases of `ports` (a CaptureCase's) for which `keep(technique,
    parts)` holds, in order: a capture or set rule says there which ports its
    check can find anything on (by the technique a port is checked as and its
    PORT_PARTS), and reads only those. A capture checked by shape asks `keep`
    once per shape and never makes the BulkPortCases it leaves out."""
    select = getattr(ports, "select", None)
    if select is not None:
        return select(keep)
    return (pc for pc in ports if keep(pc.technique, _port_parts(pc)))


def targets_where(ports, keep: Callable, state: State) -> set:
    """{(target, port)} of the port cases ports_where(ports, keep) yields whose
    verdict is `state`; a capture checked by shape reads its BulkPortCases'
    off their scans' columns, none made."""
    of = getattr(ports, "targets_where", None)
    if of is not None:
        return of(keep, state)
    return {(pc.where[1], pc.where[3]) for pc in ports_where(ports, keep) if _state(pc) is state}


def _state(pc) -> State:
    """A port case's state; a BulkPortCase's read off its scan's column (its PortCase not made)."""
    return pc.state if type(pc) is BulkPortCase else pc.result.state


def rule(rule_id: str, scope: str, needs: Iterable = ()):
    """Register a rule function under a stable id. `needs` (port rules): the
    PORT_PARTS a port case must all show for the rule to find anything there;
    the rule is not run on the others (tests/test_verify_parts.py holds every
    rule to it on real and synthetic captures)."""
    needs = frozenset(needs)
    if needs - PORT_PARTS or (needs and scope != "port"):
        raise ValueError(f"rule {rule_id}: needs {sorted(needs)} (port rules only, of {sorted(PORT_PARTS)})")

    def register(fn):
        RULES[rule_id] = Rule(rule_id, scope, fn, inspect.cleandoc(fn.__doc__ or ""), needs)
        return fn

    return register


# -- small readings of packets ---------------------------------------------------

def _flags_name(flags: int) -> Text:
    letters = flag_letters(flags & TCP_BASE_FLAGS)
    if not letters:
        return T("flags.none")
    names = {"F": "FIN", "S": "SYN", "R": "RST", "P": "PSH", "A": "ACK", "U": "URG"}
    order = "SFRPAU"  # SYN/ACK, RST/ACK, FIN/PSH/URG, as people say them
    return T("flags", flags="/".join(names[c] for c in sorted(letters, key=order.index)))


def _probe_name(ex: Exchange) -> Text:
    return T("udp-datagram") if ex.proto == "udp" else _flags_name(ex.probe_flags)


def _crafted(scan: Scan, probe: Packet) -> bool:
    """Did a script (scapy) build this probe, rather than nmap or an operating
    system? The fingerprint of the scan says so when it is sure; otherwise the
    probe itself: neither nmap's windows nor an OS's SYN options (scapy's
    default window is 8192, with no options)."""
    tool = getattr(scan, "tool", None)
    if tool is not None and tool.confidence >= 0.5 and tool.name != "unknown":
        return tool.name == "scapy"
    return probe.window not in NMAP_WINDOWS and not set(probe.options) & OS_SYN_OPTION_KINDS


def _answer_text(resp: Packet, target: str) -> Text:
    if resp.proto == "tcp":
        return _flags_name(resp.flags)
    if resp.proto == "udp":
        return T("udp-reply")
    reason = icmp_reason(resp)
    params = dict(type=resp.icmp_type, code=resp.icmp_code, reason=reason.value if reason else "ignored by nmap")
    if resp.src != target:
        return T("icmp.from", src=resp.src, **params)
    return T("icmp", **params)


def answer_evidence(pc_result: PortResult, target: str) -> Text:
    """What decided the verdict: the answer (or the silence), with frame numbers."""
    ex = pc_result.exchange
    decisive = [r for r in ex.responses if r.proto != "tcp" or r.flags & (RST | SYN)]
    decisive = [r for r in decisive if r.proto in ("tcp", "udp") or icmp_reason(r) is not None]
    if decisive:
        last = decisive[-1]
        return T("evidence.answer", what=_answer_text(last, target), frames=Frames((last.frame,)))
    frames = Frames(tuple(p.frame for p in ex.probes))
    return T("evidence.silence.retries" if len(ex.probes) > 1 else "evidence.silence", frames=frames)


def port_words(proto: str, port: int) -> Text:
    return T("port", port=port, proto=proto)


def textbook_words(tech: Technique) -> Text:
    return T(f"textbook.{REGISTRY[tech].textbook_key}")


# -- port rules ----------------------------------------------------------------

@rule("kernel-rst", "port", needs={"followups", "synack"})
def kernel_rst(pc: PortCase):
    """The textbook SYN scan resets the half-open connection after a SYN/ACK.
    When the SYN came from a raw socket (nmap -sS, scapy), the scanner's own
    kernel does it: a bare RST, window 0, sequence number equal to the
    SYN/ACK's acknowledgment, before or instead of the tool's own packet.
    `info` for a SYN scan, where the textbook allows it; for a claimed
    connect scan it is told as part of handshake-incomplete instead."""
    if pc.technique is not Technique.SYN or pc.ex.proto != "tcp":
        return
    synacks = synacks_of(pc.ex)
    for f in pc.ex.followups:
        if is_kernel_rst(f, synacks):
            sa = next(s for s in synacks if s.ack == f.seq)
            yield Hit(INFO, T("kernel-rst", rst=Frames((f.frame,)), synack=Frames((sa.frame,)), seq=f.seq),
                      (sa.frame, f.frame), pc.where)
            return


@rule("handshake-incomplete", "port", needs={"synack"})
def handshake_incomplete(pc: PortCase):
    """A TCP connect scan (nmap -sT) completes the three-way handshake: SYN,
    SYN/ACK, then the scanner's ACK. Fires on an exchange checked as a connect
    scan (claimed or inferred) in which the target answered SYN/ACK and the
    scanner never sent the ACK that completes the handshake, and tells what it
    did instead: its kernel's RST, a RST/ACK ("AR") from the script, an ACK
    with the wrong acknowledgment number, nothing. This is what most
    students' scapy "connect scans" really are."""
    ex = pc.ex
    if pc.technique is not Technique.CONNECT or ex.proto != "tcp" or ex.completed_handshake:
        return
    synacks = synacks_of(ex)
    if not synacks:
        return
    sa = synacks[0]
    probe_ports = {p.sport for p in ex.probes}
    after, frames, kernel_reset = [], [sa.frame], False
    # what the scanner sent after the SYN/ACK, up to its next probe: its own, or another
    # session's (another tool's SYN to this port later in the capture)
    next_probe = min((p.frame for p in pc.packets if p.src == ex.scanner and p.frame > sa.frame and p.proto == "tcp"
                      and p.flags & (SYN | ACK | RST) == SYN), default=float("inf"))
    later = [p for p in pc.packets if p.src == ex.scanner and sa.frame < p.frame < next_probe and p.proto == "tcp"]
    for p in later[:4]:
        f = Frames((p.frame,))
        if is_kernel_rst(p, synacks):
            after.append(T("after.kernel-rst", frames=f))
            kernel_reset = True
        elif p.flags & RST:
            key = "after.rst" if p.sport in probe_ports else "after.rst-other-port"
            after.append(T(key, flags=_flags_name(p.flags), frames=f, sport=p.sport))
        elif p.flags & ACK and not p.flags & SYN and p.sport == sa.dport:
            expected = (sa.seq + 1) % _MOD32
            if p.ack != expected:
                after.append(T("after.bad-ack", frames=f, ack=p.ack, expected=expected))
            elif kernel_reset:
                after.append(T("after.late-ack", frames=f))
                gone = next((r for r in pc.packets if r.src == ex.target and r.frame > p.frame and r.proto == "tcp"
                             and r.flags & RST and r.dport == p.sport), None)
                if gone is not None:
                    after.append(T("after.target-rst", frames=Frames((gone.frame,))))
                    frames.append(gone.frame)
            else:
                after.append(T("after.other", flags=_flags_name(p.flags), frames=f))
        else:
            after.append(T("after.other", flags=_flags_name(p.flags), frames=f))
        frames.append(p.frame)
    if not after:
        after.append(T("after.nothing"))
    yield Hit(ERROR, T("handshake-incomplete", synack=Frames((sa.frame,)), after=after), tuple(frames), pc.where)


@rule("handshake-completed", "port", needs={"completed-handshake"})
def handshake_completed(pc: PortCase):
    """A SYN ("stealth", half-open) scan never completes the handshake: the
    scanner answers a SYN/ACK with RST. Fires when an exchange claimed as a
    SYN scan shows the scanner's ACK completing the handshake: the capture is
    a connect scan (the seeds' summary table claims a full handshake for both
    scans)."""
    if pc.claim is None or pc.technique is not Technique.SYN or not pc.ex.completed_handshake:
        return
    synacks = {(s.seq + 1) % _MOD32 for s in synacks_of(pc.ex)}
    ack = next((f for f in pc.ex.followups if f.flags & ACK and not f.flags & (SYN | RST) and f.ack in synacks), None)
    frames = (ack.frame,) if ack else ()
    yield Hit(ERROR, T("handshake-completed", frames=Frames(frames)), frames, pc.where)


@rule("rst-port-mismatch", "port", needs={"loose-resets"})
def rst_port_mismatch(pc: PortCase):
    """A scanner that aborts a connection sends its RST (or RST/ACK) from the
    connection's source port (RFC 793: a reset belongs to a connection).
    Fires on every RST the scanner sends to the probed port from a source
    port on which it sent that port nothing else: it belongs to no
    connection (a script that draws a new random source port per packet)."""
    for r in pc.loose_resets:
        ports = sorted({p.sport for p in pc.ex.probes})
        yield Hit(WARNING, T("rst-port-mismatch", flags=_flags_name(r.flags), frames=Frames((r.frame,)),
                             sport=r.sport, probe_ports=", ".join(map(str, ports))),
                  (pc.ex.probes[0].frame, r.frame), pc.where)


@rule("rst-out-of-window", "port", needs={"synack", "followups"})
def rst_out_of_window(pc: PortCase):
    """RFC 793 (and RFC 5961) accept a RST only if its sequence number is the
    one the receiver expects: after a SYN/ACK, the SYN/ACK's acknowledgment.
    Fires on a RST the scanner sends on the probe's own connection after a
    SYN/ACK with any other sequence number (scapy's default seq=0, as in the
    seeds' demo): the target drops it, and only the kernel's RST closes the
    half-open connection."""
    ex = pc.ex
    if ex.proto != "tcp":
        return
    synacks = synacks_of(ex)
    if not synacks:
        return
    valid = {sa.ack for sa in synacks}
    for f in ex.followups:
        if f.flags & RST and f.seq not in valid and f.frame > synacks[0].frame:
            sa = [s for s in synacks if s.frame < f.frame][-1]  # the SYN/ACK this RST means to answer
            yield Hit(WARNING, T("rst-out-of-window", synack=Frames((sa.frame,)), expected=sa.ack,
                                 flags=_flags_name(f.flags), frames=Frames((f.frame,)), seq=f.seq),
                      (sa.frame, f.frame), pc.where)


@rule("reset-flags", "port")
def reset_flags(pc: PortCase):
    """RFC 793 "Reset Generation": a RST answering a segment that carries ACK
    takes its sequence number from SEG.ACK and has no ACK flag (bare RST); one
    answering a segment without ACK has sequence number 0, the ACK flag, and
    acknowledges SEG.SEQ + SEG.LEN (RST/ACK). Fires on a target's RST to a
    probe that breaks this (wrong flags or numbers), including the resets
    pcapscan set aside as stray because they fail the exact answer test."""
    ex = pc.ex
    if ex.proto != "tcp":
        return
    for r in sorted(ex.responses + ex.stray, key=lambda p: p.frame):
        if r.proto != "tcp" or not r.flags & RST or r.src != ex.target:
            continue
        earlier = [p for p in ex.probes if p.frame < r.frame]
        if not earlier:
            continue
        probe = next((p for p in reversed(earlier) if p.sport == r.dport), earlier[-1])
        problems = []
        if probe.flags & ACK:
            if r.flags & ACK:
                problems.append(T("problem.ack-set"))
            if r.seq != probe.ack:
                problems.append(T("problem.bad-seq", seq=r.seq, expected=probe.ack))
        else:
            expected = (probe.seq + probe.seg_len) % _MOD32
            if not r.flags & ACK:
                problems.append(T("problem.no-ack", expected=expected))
            elif r.ack != expected:
                problems.append(T("problem.bad-ack", ack=r.ack, expected=expected))
            if r.seq != 0:
                problems.append(T("problem.seq-not-zero", seq=r.seq))
        if problems:
            yield Hit(WARNING, T("reset-flags", flags=_flags_name(r.flags), frames=Frames((r.frame,)),
                                 probe_flags=_flags_name(probe.flags), probe=Frames((probe.frame,)),
                                 problem=problems, counted=T("counted.no" if r in ex.stray else "counted.yes")),
                      (probe.frame, r.frame), pc.where)


@rule("icmp-ignored", "port", needs={"icmp"})
def icmp_ignored(pc: PortCase):
    """The textbook reads an ICMP unreachable error (type 3, codes 1, 2, 3, 9,
    10, 13) answering a TCP probe as filtered. The seeds' demo code never
    reports it: it nests the ICMP check under the haslayer(TCP) branch, or
    reads getlayer(TCP).type. Fires when an ICMP error answers a TCP probe
    that a scapy script crafted (the scan's tool fingerprint, or a probe
    with neither nmap's nor an operating system's shape), so such a
    script's output for this port is missing or a crash. Info, not a
    warning: the capture shows the answer, not whether the script read it
    (pcapscan's own scapy scanner does)."""
    ex = pc.ex
    if ex.proto != "tcp" or not ex.probes or not _crafted(pc.scan, ex.probes[0]):
        return
    icmp = next((r for r in ex.responses if r.proto in ("icmp", "icmp6") and icmp_reason(r) is not None), None)
    if icmp is None:
        return
    probe = next((p for p in reversed(ex.probes) if p.frame < icmp.frame), ex.probes[0])
    yield Hit(INFO, T("icmp-ignored", icmp=_answer_text(icmp, ex.target), frames=Frames((icmp.frame,)),
                         probe_flags=_flags_name(probe.flags), probe=Frames((probe.frame,)),
                         state=pc.result.state),
              (probe.frame, icmp.frame), pc.where)


# -- capture rules -------------------------------------------------------------

@rule("empty-capture", "capture")
def empty_capture(cc: CaptureCase):
    """A capture that shows a scan holds packets. Fires on a readable capture
    file with no packet record at all (a header only)."""
    if cc.summary.error is None and cc.summary.packets == 0:
        yield Hit(ERROR, T("empty-capture"))


@rule("no-probe", "capture")
def no_probe(cc: CaptureCase):
    """A claim about a port needs probes to that port; any verification needs
    probes. Fires (error) when a claim names a port no probe went to, or when
    a claimed capture holds no probe at all; and (warning) when an unclaimed
    capture with packets holds no scan probe (saying so where all it holds is
    a client's own traffic, scans.client_conversation), or (info) only probes of
    another family (host discovery, OS or version detection)."""
    if cc.summary.error is not None or cc.summary.packets == 0:
        return
    probed = sorted(_probed(cc.inferred))
    if not cc.claims:
        if not probed and cc.elsewhere:  # a ping sweep, say: nothing of a port scan to hold to its textbook
            yield Hit(INFO, T("no-probe.elsewhere", packets=cc.summary.packets,
                              found=[T(f"family.{kind}") for kind in cc.elsewhere]))
        elif not probed and cc.summary.other_connections:  # a client's traffic only: no recorder to blame
            yield Hit(WARNING, T("no-probe.other", packets=cc.summary.packets,
                                 connections=cc.summary.other_connections, attempts=cc.summary.other_attempts))
        elif not probed:
            yield Hit(WARNING, T("no-probe.unclaimed", packets=cc.summary.packets))
        return
    for case in cc.claim_cases:
        if case.ports or case.others:
            continue
        claim = case.claim
        if not probed:
            yield Hit(ERROR, T("no-probe.any", claim=str(claim), packets=cc.summary.packets))
        elif claim.port is not None:
            ports = [port_words(proto, port) for proto, port in probed[:6]]
            seen = T("seen.ports", ports=", ".join(f"{port}/{proto}" for proto, port in probed[:6])
                     + (" ..." if len(probed) > 6 else "")) if ports else T("seen.none")
            yield Hit(ERROR, T("no-probe.port", claim=str(claim), port=port_words(claim.proto, claim.port),
                               seen=seen), where=(None, None, claim.proto, claim.port))


@rule("probe-flags-mismatch", "capture")
def probe_flags_mismatch(cc: CaptureCase):
    """Each technique has one probe shape (SYN; FIN; FIN/PSH/URG; no flags;
    ACK; FIN/ACK; a UDP datagram). Fires (error) when the probes to the
    claimed port, or anywhere for a claim without port, never fit the claimed
    technique (a "NULL scan" that sends SYN, an "ACK scan" labelled FIN); and
    (warning) on probes whose flags fit no technique at all."""
    for case in cc.claim_cases:
        if case.ports or not case.others:
            continue
        claim = case.claim
        by_shape: dict = {}
        for pr in case.others:
            by_shape.setdefault(probe_key(pr.exchange), []).append(pr)
        for shape, prs in by_shape.items():
            ex = prs[0].exchange
            actual = infer_technique(ex)[0]
            frames = tuple(p.frame for pr in prs for p in pr.exchange.probes[:2])[:8]
            where = T("where.port", port=port_words(ex.proto, claim.port)) if claim.port is not None \
                else T("where.any")
            yield Hit(ERROR, T("probe-flags-mismatch", technique=claim.technique,
                               expected=T(f"probe.{claim.technique.value}"), where=where,
                               got=_probe_name(ex), frames=Frames(frames), actual=actual),
                      frames, (ex.scanner, ex.target, ex.proto, claim.port))
    for pc in ports_where(cc.ports, lambda technique, _parts: technique is Technique.UNKNOWN):
        if pc.claim is None and pc.result is pc.scan.ports[0]:
            frames = tuple(p.exchange.probes[0].frame for p in pc.scan.ports)[:8]
            fallback = fallback_spec(pc.scan.probe_flags or "").technique
            yield Hit(WARNING, T("probe-flags-mismatch.unknown", frames=Frames(frames), got=_probe_name(pc.ex),
                                 fallback=fallback), frames, (pc.ex.scanner, pc.ex.target, pc.ex.proto, None))


# Wide states and the narrower ones they stand for.
WIDER = {
    State.OPEN_FILTERED: frozenset({State.OPEN, State.FILTERED}),
    State.CLOSED_FILTERED: frozenset({State.CLOSED, State.FILTERED}),
    State.UNFILTERED: frozenset({State.OPEN, State.CLOSED}),
}
_REJECT_REASONS = frozenset({Reason.RESET, Reason.CONN_REFUSED, Reason.PORT_UNREACH})


def relation(claimed: State, got: State, reason: Optional[Reason] = None) -> str:
    """How a claimed state stands to the state the packets support:
    "match", "overclaim" (narrower than the evidence), "underclaim" (wider),
    "reject" (filtered claimed, closed read off a RST/port-unreachable) or
    "mismatch"."""
    if claimed is got:
        return "match"
    if claimed is State.FILTERED and got is State.CLOSED and reason in _REJECT_REASONS:
        return "reject"
    if claimed in WIDER.get(got, ()):
        return "overclaim"
    if got in WIDER.get(claimed, ()):
        return "underclaim"
    return "mismatch"


def _claim_relations(case: ClaimCase) -> list:
    """[(PortCase, relation)] to report for a claim: none if some port bears the
    claim out exactly; the underclaims if that is the best there is; else all."""
    if case.claim.state is None:  # a name that names a technique only: nothing to hold the state to
        return []
    rels = [(pc, relation(case.claim.state, pc.result.state, pc.result.verdict.reason)) for pc in case.ports]
    kinds = {r for _, r in rels}
    if "match" in kinds:
        return []
    if "underclaim" in kinds:
        return [(pc, r) for pc, r in rels if r == "underclaim"]
    return rels


def _state_hits(cc: CaptureCase, wanted: str, severity: str, key: str):
    for case in cc.claim_cases:
        for pc, rel in _claim_relations(case):
            if rel != wanted:
                continue
            got = pc.result.state
            params = dict(technique=pc.technique, textbook=textbook_words(pc.technique),
                          port=port_words(pc.ex.proto, pc.ex.port), evidence=answer_evidence(pc.result, pc.ex.target),
                          state=got, claimed=case.claim.state)
            if rel == "overclaim":
                params["why"] = T(f"why.{got.value}")
            frames = pc.result.verdict.probe_frames[:4] + pc.result.verdict.response_frames[:4]
            yield Hit(severity, T(key, **params), tuple(sorted(frames)), pc.where)


@rule("state-mismatch", "capture")
def state_mismatch(cc: CaptureCase):
    """The claimed state must be the one the technique's state table gives
    for the packets. Fires (error) when it is a different state altogether
    (claimed open, the target answered RST)."""
    yield from _state_hits(cc, "mismatch", ERROR, "state-mismatch")


@rule("state-overclaim", "capture")
def state_overclaim(cc: CaptureCase):
    """Silence supports only a wide state: open|filtered for FIN/NULL/Xmas/
    Maimon/UDP, and an ACK scan's RST only unfiltered. Fires (error) when the
    claim is narrower than the evidence: open or filtered from silence,
    open or closed from an ACK scan."""
    yield from _state_hits(cc, "overclaim", ERROR, "state-overclaim")


@rule("state-underclaim", "capture")
def state_underclaim(cc: CaptureCase):
    """The converse (info): the claim is true but wider than the evidence
    (open|filtered claimed, the port answered)."""
    yield from _state_hits(cc, "underclaim", INFO, "state-underclaim")


@rule("filter-simulated-as-reject", "capture")
def filter_simulated_as_reject(cc: CaptureCase):
    """A filtered port is one a firewall silences (drop) or answers with an
    ICMP unreachable error. Fires (error) when a port claimed filtered reads
    closed because the rule answers with RST or ICMP port unreachable (a
    reject rule imitates a closed port); and (info) on every ICMP port
    unreachable answering a TCP probe, which only a firewall sends and which
    a connect scan reads as closed where a SYN scan reads filtered."""
    for case in cc.claim_cases:
        for pc, rel in _claim_relations(case):
            if rel == "reject":
                frames = tuple(sorted(pc.result.verdict.probe_frames[:2] + pc.result.verdict.response_frames[:2]))
                yield Hit(ERROR, T("filter-simulated-as-reject", port=port_words(pc.ex.proto, pc.ex.port),
                                   evidence=answer_evidence(pc.result, pc.ex.target), technique=pc.technique,
                                   state=pc.result.state), frames, pc.where)
    for pc in ports_where(cc.ports, lambda _technique, parts: "icmp" in parts):  # no ICMP answer: no unreachable
        if pc.ex.proto != "tcp":
            continue
        if pc.claim is not None and pc.claim.state is State.FILTERED and pc.result.state is State.CLOSED:
            continue  # told above, as an error
        unreach = next((r for r in pc.ex.responses if icmp_reason(r) is Reason.PORT_UNREACH), None)
        if unreach is not None:
            yield Hit(INFO, T("filter-simulated-as-reject.tcp-icmp", frames=Frames((unreach.frame,))),
                      (unreach.frame,), pc.where)


# -- set rules -----------------------------------------------------------------

@rule("rfc793-deviation", "set")
def rfc793_deviation(cases: list):
    """RFC 793 (p. 65): a segment without SYN, RST or ACK reaching a LISTEN
    port is dropped; only closed ports answer RST. Fires when a target
    answers RST to a FIN/NULL/Xmas probe on a port that a SYN or connect
    probe in the same set of captures shows open (a Windows-like stack).
    Each SYN/connect answer is evidence for its moment (SYN/ACK: open, RST:
    closed) and the one nearest in time is used, so a port the lab opened
    and closed between runs is not mistaken for a deviation."""
    # Only the ports an inverse probe found closed can deviate: their evidence alone is gathered.
    # (A port checked by shape is read off its scan's columns, its packets not read: _state, where.)
    inverse = lambda technique, _parts: technique in INVERSE  # noqa: E731
    wanted = {where for cc in cases for where in targets_where(cc.ports, inverse, State.CLOSED)}
    if not wanted:
        return
    evidence: dict = {}  # (target, port) -> [(ts, open?, PortCase, frame)]
    for cc in cases:
        for pc in ports_where(cc.ports, lambda technique, _parts: technique in (Technique.SYN, Technique.CONNECT)):
            if pc.ex.proto == "tcp" and (pc.ex.target, pc.ex.port) in wanted:
                for r in pc.ex.responses:
                    if r.proto == "tcp" and r.flags & (SYN | RST):
                        opened = bool(r.flags & SYN)
                        evidence.setdefault((pc.ex.target, pc.ex.port), []).append((r.ts, opened, pc, r.frame))
    if not evidence:
        return
    for cc in cases:
        for pc in ports_where(cc.ports, inverse):
            if _state(pc) is not State.CLOSED:
                continue
            seen = evidence.get((pc.where[1], pc.where[3]))
            if not seen:
                continue
            rst = next((r for r in pc.ex.responses if r.proto == "tcp" and r.flags & RST), None)
            if rst is None:
                continue
            _ts, opened, syn_case, frame = min(seen, key=lambda e: abs(e[0] - rst.ts))
            if not opened:
                continue
            yield Hit(WARNING, T("rfc793-deviation", target=pc.ex.target, probe_flags=_probe_name(pc.ex),
                                 port=port_words("tcp", pc.ex.port), frames=Frames((rst.frame,)),
                                 open_technique=syn_case.technique, open_capture=os.path.basename(syn_case.capture),
                                 open_frames=Frames((frame,)), technique=pc.technique),
                      (pc.ex.probes[0].frame, rst.frame), pc.where, cc.capture)


# -- the result ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    severity: str
    capture: str
    scanner: Optional[str]
    target: Optional[str]
    proto: Optional[str]
    port: Optional[int]
    frames: tuple
    message: str
    session: Optional[int] = None  # the scan session (1, 2, ... in the capture) its frames belong to
    tool: str = ""  # the tool that sent that session


@dataclass(frozen=True, slots=True)
class CheckedPort:
    """A renderer-neutral view of one checked exchange, for ladder diagrams."""

    capture: str
    scanner: str
    target: str
    proto: str
    port: int
    technique: str
    state: str
    reason: str
    claim: str  # "" when checked against the inferred technique
    packets: tuple  # Packets in capture order
    session: Optional[int] = None  # the scan session (1, 2, ... in the capture) it belongs to
    tool: str = ""  # the tool that sent that session


@dataclass(frozen=True)
class VerifyResult:
    findings: tuple
    analysis: AnalysisResult
    verdict: str  # "conforms" or "violates"
    ports: tuple = ()  # CheckedPort, in capture then port order
    claims: tuple = ()  # (capture, claim text, source)
    lang: str = "en"
    warnings: tuple = ()  # about the claims themselves (an --expect glob matching nothing), for the CLI's stderr

    @property
    def errors(self) -> tuple:
        return tuple(f for f in self.findings if f.severity == ERROR)


def verify(paths, claims: Iterable = (), expectations=None, lang: str = "en",
           claims_from_names: bool = False, progress=None) -> VerifyResult:
    """Verify captures against their claims, or against the textbook of their
    inferred techniques. `paths`: one path (unreadable: InputError raised) or
    several (unreadable ones listed in result.analysis.errors). `claims`:
    Claims or "TECHNIQUE:STATE[:PORT]" strings, for every capture.
    `expectations`: a TOML path or an Expectations; with no paths, the
    captures it names are verified. `progress` (pcapscan/progress.py)
    hears of reading, classifying, reading again and checking."""
    with no_cyclic_gc():  # millions of per-port objects on a big capture (gcpause.py)
        return next(_verify(paths, [claims], expectations, lang, claims_from_names, progress))


def verify_each(path, claim_sets: Iterable, lang: str = "en", progress=None, ports_at=None):
    """Yield verify(path, claims=claims, lang=lang) for each claims of
    `claim_sets`, in order: the same results, the capture read and analysed
    once for a run of them, not once each (grade asks for one claim per
    technique, and for none to draw its ladders), and each result made only
    when the one before is taken (a big capture's checked ports are many).
    A UDP technique named changes the analysis itself (_forced): a run ends
    where a set names one and the set before does not, or the other way.
    `ports_at`: per claim set, the (proto, port)s whose checked ports its
    result lists (checked_at's, in the same order; the others never made:
    grade reads a few of a big capture's millions, or none), or None for
    every port; None: every port of every set."""
    sets = [tuple(c if isinstance(c, Claim) else parse_claim(c) for c in claims) for claims in claim_sets]
    keys = [None] * len(sets) if ports_at is None else [None if k is None else set(k) for k in ports_at]
    if len(keys) != len(sets):
        raise UsageError(f"ports_at names {len(keys)} sets of ports for {len(sets)} claim sets")
    with no_cyclic_gc():
        at = 0
        while at < len(sets):
            end = at + 1
            while end < len(sets) and _forced(sets[end]) == _forced(sets[at]):
                end += 1
            yield from _verify(path, sets[at:end], None, lang, False, progress, keys[at:end])
            at = end


def _forced(named) -> Optional[Technique]:
    """The technique analyze is told: a UDP technique the user names makes a
    client's own datagrams (socket.sendto) probes: they are then checked, not
    left out as other traffic (scans.client_conversation)."""
    return Technique.UDP if any(REGISTRY[t].proto == "udp" for c in named for t in c.techniques) else None


def _verify(paths, claim_sets: list, expectations, lang: str, claims_from_names: bool, progress, ports_at=None):
    """Yield the VerifyResult of each set of claims (the capture read and
    analysed once); `ports_at`: verify_each's, one per set."""
    if lang not in messages.LANGS:
        raise UsageError(f"unknown language {lang!r} (use {', '.join(messages.LANGS)})")
    claim_sets = [tuple(c if isinstance(c, Claim) else parse_claim(c) for c in claims) for claims in claim_sets]
    expect = load_expectations(expectations) if isinstance(expectations, (str, os.PathLike)) else expectations
    single = isinstance(paths, (str, os.PathLike))
    path_list = [paths] if single else list(dict.fromkeys(str(p) for p in paths))
    if not path_list and expect is not None:
        path_list = expect.captures()
    if not path_list:
        unmatched = expect.unmatched([]) if expect is not None else []
        raise UsageError("no capture to verify" + (f": in {expect.source}, " + ", ".join(map(repr, unmatched))
                                                   + " match no file" if unmatched else ""))
    named = [c for claims in claim_sets for c in claims]
    named += [c for p in path_list for c in (expect.claims_for(p) if expect is not None else ())]
    if claims_from_names:
        named += [read_name(os.path.basename(p)) for p in path_list]
    forced = _forced(named)
    # big captures by the fast path: their ports checked by shape (_Shapes), or their sessions made whole
    with cyclic_gc():  # the fast path leaves its columns in cycles: freed as it goes, while the heap is small
        analysis = analyze(paths if single else path_list, technique=forced, progress=progress, fast="auto",
                           jobs=None if single else 1, named=tuple({t for c in named for t in c.techniques}))
        gc.collect()
    claims_of_sets = []  # per claim set: {capture: claims}
    for claims in claim_sets:
        claims_of = {}
        for summary in analysis.captures:
            capture_claims = list(claims)
            if expect is not None:
                capture_claims += expect.claims_for(summary.path)
            if claims_from_names and not capture_claims:
                name = read_name(os.path.basename(summary.path))  # the file name: folders say where, not what
                if not name.empty:
                    capture_claims.append(name)
            claims_of[summary.path] = tuple(capture_claims)
        claims_of_sets.append(claims_of)
    analysis, read_flows, shaped = _whole_analysis(analysis, progress, claims_of_sets)
    if analysis is None:  # a session the fast path's verdicts and the packets do not rebuild alike
        analysis = analyze(paths if single else path_list, technique=forced, progress=progress)

    sessions = session_of_frames(analysis.scans)  # every set's: one analysis
    for k, claims_of in enumerate(claims_of_sets):
        cases = []
        for summary in analysis.captures:
            scans = [s for s in analysis.scans if s.capture == summary.path]
            if summary.path in shaped:
                case = shaped[summary.path][k]
            else:
                case = _capture_case(summary, scans, claims_of[summary.path], read_flows)
            cases.append(replace(case, elsewhere=_elsewhere(analysis, summary.path)))
        result = _result(cases, analysis, lang, progress, sessions, None if ports_at is None else ports_at[k])
        if expect is not None:
            unmatched = expect.unmatched([c.path for c in analysis.captures])
            result = replace(result, warnings=tuple(messages.said("expect.unmatched", source=str(expect.source),
                                                                  pattern=repr(pattern)) for pattern in unmatched))
        for capture in shaped:
            shaped[capture][k] = None  # this set's cases done with: freed while the next set's result is made
        yield result
        del result, cases


def _whole_analysis(analysis: AnalysisResult, progress=None, claims_of_sets=({},)) -> tuple:
    """(analysis with every port's Exchange, read_flows(path, keys), {path:
    [CaptureCase per claim set]}): a big capture checked by shape (_Shapes:
    its bulk ports keep no Exchange) under each set of claims; another big
    capture's sessions made whole from the packets between their addresses,
    read once (fastpath.subset.whole_sessions), which then also give the
    rules their flows; other captures' flows read again as ever. (None,
    read_flows, {}) where a session does not come out whole."""
    from .fastpath.subset import NotWhole, bulk_rows, whole_sessions

    scans, packets_of, shaped = list(analysis.scans), {}, {}
    for c in analysis.captures:
        at = [i for i, s in enumerate(scans) if s.capture == c.path]
        if c.error is not None or not any(len(bulk_rows(scans[i])) for i in at):
            continue
        # a claimed state of every port: whole (_Shapes._claimed says why), not tried by shape first
        whole = any(claim.state is not None and claim.port is None
                    for claims_of in claims_of_sets for claim in claims_of.get(c.path, ()))
        try:
            if whole:
                raise NotWhole("a claimed state of every port")
            mine = [scans[i] for i in at]
            shapes = _Shapes(c.path, mine, progress)
            shaped[c.path] = [shapes.capture_case(c, mine, claims_of.get(c.path, ())) for claims_of in claims_of_sets]
            continue
        except NotWhole:
            pass  # made whole, below
        try:
            scans, packets_of[c.path] = whole_sessions(c.path, scans, at, progress, keep_packets=True)
        except NotWhole:
            return None, lambda p, k: _file_flows(p, k, progress), {}
    uses = {path: len(claims_of_sets) for path in packets_of}

    def read_flows(path, keys):
        if path in packets_of:
            uses[path] -= 1
            return _flows(packets_of.pop(path) if not uses[path] else packets_of[path], keys)
        return _file_flows(path, keys, progress)

    return replace(analysis, scans=tuple(scans)), read_flows, shaped


def verify_packets(packets: Iterable[Packet], claims: Iterable = (), capture: str = "<packets>",
                   lang: str = "en") -> VerifyResult:
    """verify() for packets already in memory (tests, a live scan that just
    recorded them): the same rules, one capture named `capture`."""
    if lang not in messages.LANGS:
        raise UsageError(f"unknown language {lang!r} (use {', '.join(messages.LANGS)})")
    packets = list(packets)
    engine = ReplayEngine()
    for pkt in packets:
        engine.feed(pkt)
    scans = build_scans(capture, engine.exchanges())
    summary = CaptureSummary(path=capture, packets=len(packets), duplicates=engine.stats.duplicates)
    analysis = AnalysisResult(captures=(summary,), scans=tuple(scans))
    claims = tuple(c if isinstance(c, Claim) else parse_claim(c) for c in claims)
    case = _capture_case(summary, scans, claims, lambda _path, keys: _flows(packets, keys))
    return _result([case], analysis, lang)


def _result(cases: list, analysis: AnalysisResult, lang: str, progress=None, sessions=None,
            ports_at=None) -> VerifyResult:
    """`sessions`: session_of_frames(analysis.scans), made here if None;
    `ports_at`: the (proto, port)s of the checked ports listed, None for every one."""
    hits = []  # (capture, rule id, Hit)
    tick = Ticker(progress, "checking", len(RULES), seconds=0.0)
    # every port rule found nothing on a BulkPortCase's shape: the rules run on the others
    real = [cc.ports.real() if isinstance(cc.ports, _CasePorts) else cc.ports for cc in cases]
    parts = [[_port_parts(pc) for pc in pcs] for pcs in real]  # once per port, for every port rule
    for i, r in enumerate(RULES.values()):
        tick(i)
        if r.scope == "port":
            needs = r.needs
            hits += [(cc.capture, r.id, h) for cc, pcs, shown in zip(cases, real, parts)
                     for pc, has in zip(pcs, shown) if needs <= has for h in r.check(pc)]
        elif r.scope == "capture":
            hits += [(cc.capture, r.id, h) for cc in cases for h in r.check(cc)]
        else:
            hits += [(h.capture, r.id, h) for h in r.check(cases)]
    tick.end()
    if sessions is None:
        sessions = session_of_frames(analysis.scans)
    findings = _findings(hits, lang, [cc.capture for cc in cases], sessions)
    verdict = VIOLATES if any(f.severity == ERROR for f in findings) else CONFORMS
    return VerifyResult(findings=findings, analysis=analysis, verdict=verdict, ports=_checked_ports(cases, sessions, ports_at),
                        claims=tuple((cc.capture, str(c), c.source) for cc in cases for c in cc.claims), lang=lang)


def session_of_frames(scans) -> dict:
    """capture -> {frame: (session number, tool)}: which scan session (numbered
    from 1 in each capture, in the order analyze lists them) each probe and
    answer belongs to (the first session that names a frame keeps it)."""
    from .fastpath.subset import bulk_rows

    out: dict = {}
    count: dict = {}
    for scan in scans:
        n = count[scan.capture] = count.get(scan.capture, 0) + 1
        tool = scan.tool.name if scan.tool is not None else ""
        frames = out.get(scan.capture)
        if frames is None:
            frames = out[scan.capture] = FrameSessions()
        ports = scan.ports
        rows = bulk_rows(scan)
        if len(rows):  # a fast-path scan's bulk rows: their frames off the columns (no Exchange)
            rf = ports.rframe[rows]
            frames.add_bulk(n, tool, ports.pframe[rows], rf[rf >= 0])
            ports = ports.objects.values()
        own = frames.own
        for p in ports:
            ex = p.exchange
            mine = [q.frame for q in ex.probes + ex.responses + ex.followups] if ex is not None else \
                list(p.verdict.probe_frames + p.verdict.response_frames)
            for frame in mine:
                own.setdefault(frame, (n, tool))
    return out


class FrameSessions(Mapping):
    """frame -> (session number, tool) of one capture: a dict of the frames of
    exchanges, and the frames of bulk rows as sorted columns (a big capture's
    millions of frames never a dict)."""

    def __init__(self):
        self.own: dict = {}
        self.bulk: list = []  # (session number, tool, frames)
        self._sorted = None

    def add_bulk(self, n: int, tool: str, *frames) -> None:
        import numpy as np

        self.bulk.append((n, tool, _frame_column(np.concatenate([np.asarray(f, np.int64) for f in frames]))))
        self._sorted = None

    def _columns(self):
        import numpy as np

        if self._sorted is None and all(f.dtype == np.uint32 for _n, _t, f in self.bulk):
            # (frame, session) as one number, sorted in place: a frame's first its lowest session; the
            # stable argsort's indices below would take twice this memory (millions of frames)
            key = np.concatenate([f.astype(np.uint64) << np.uint64(32) | np.uint64(n) for n, _t, f in self.bulk]
                                 ) if self.bulk else np.zeros(0, np.uint64)
            key.sort()
            halves = key.view(np.uint32).reshape(-1, 2)
            frame, session = (halves[:, 1], halves[:, 0]) if np.little_endian else (halves[:, 0], halves[:, 1])
            first = np.ones(len(key), bool)
            np.not_equal(frame[1:], frame[:-1], out=first[1:])
            self._sorted = (frame[first], session[first].astype(np.int32), {n: t for n, t, _f in self.bulk})
        if self._sorted is None:  # frames beyond 32 bits
            bulk = sorted(self.bulk, key=lambda b: b[0])  # by session: sorted stably by frame, the first first
            frames = np.concatenate([f for _n, _t, f in bulk]) if bulk else np.zeros(0, np.int64)
            order = np.argsort(frames, kind="stable")
            frames = frames[order]
            first = np.r_[True, frames[1:] != frames[:-1]] if len(frames) else np.zeros(0, bool)
            frames, at = frames[first], order[first]  # each frame once, where its first session put it
            del order, first
            ends = np.cumsum([len(f) for _n, _t, f in bulk], dtype=np.int64)
            ns = np.array([n for n, _t, _f in bulk], np.int32)[np.searchsorted(ends, at, "right")] if bulk \
                else np.zeros(0, np.int32)
            self._sorted = (frames, ns, {n: t for n, t, _f in self.bulk})
        return self._sorted

    def _bulk_get(self, frame):
        import numpy as np

        frames, ns, tools = self._columns()
        if frames.dtype == np.uint32 and not 0 <= frame < 1 << 32:
            return None
        at = int(np.searchsorted(frames, frames.dtype.type(frame)))  # as the column (else it is copied)
        if at < len(frames) and int(frames[at]) == frame:
            n = int(ns[at])
            return (n, tools[n])
        return None

    def __getitem__(self, frame):
        got = self.own.get(frame)
        if self.bulk:
            other = self._bulk_get(frame)
            if other is not None and (got is None or other[0] < got[0]):
                got = other
        if got is None:
            raise KeyError(frame)
        return got

    def __contains__(self, frame) -> bool:
        return frame in self.own or (bool(self.bulk) and self._bulk_get(frame) is not None)

    def __iter__(self):
        keys = dict.fromkeys(self.own)
        if self.bulk:
            keys.update(dict.fromkeys(self._columns()[0].tolist()))
        return iter(keys)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def many(self, frames) -> tuple:
        """(session numbers, -1 for none; {session number: tool}) of an array of frames."""
        import numpy as np

        frames = np.asarray(frames, np.int64)
        bf, bn, tools = self._columns()
        tools = dict(tools)
        if len(bf):
            q = frames if bf.dtype == np.int64 or not len(frames) or frames.min() < 0 or frames.max() >= 1 << 32 \
                else frames.astype(np.uint32)  # as the column: searchsorted would copy the column to the query's type
            at = np.minimum(np.searchsorted(bf, q), len(bf) - 1)
            n = np.where(bf[at] == q, bn[at], -1).astype(np.int64)
            del q, at
        else:
            n = np.full(len(frames), -1, np.int64)
        if self.own:
            keys = np.array(list(self.own), np.int64)
            for i in np.nonzero(np.isin(frames, keys))[0].tolist():
                n_own, tool = self.own[int(frames[i])]
                if n[i] < 0 or n_own < n[i]:
                    n[i] = n_own
                    tools[n_own] = tool
        return n, tools


def _frame_column(frames):
    """An int64 array of frame numbers, as uint32 where they fit (half the memory of millions)."""
    import numpy as np

    if len(frames) and frames.min() >= 0 and frames.max() < 1 << 32:
        return frames.astype(np.uint32)
    return frames


def _session(sessions: dict, capture: str, frames) -> tuple:
    """(session, tool) of the first of `frames` that belongs to a session, or (None, "")."""
    mine = sessions.get(capture, {})
    return next((mine[f] for f in frames if f in mine), (None, ""))


def _findings(hits, lang: str, order: list, sessions: dict) -> tuple:
    rank = {c: i for i, c in enumerate(order)}
    seen, out = set(), []
    for capture, rule_id, h in hits:
        scanner, target, proto, port = h.where or (None, None, None, None)
        frames = tuple(sorted(set(h.frames)))
        session, tool = _session(sessions, capture, frames) if h.where else (None, "")
        f = Finding(rule=rule_id, severity=h.severity, capture=capture, scanner=scanner, target=target,
                    proto=proto, port=port, frames=frames,
                    message=messages.render(h.text, lang), session=session, tool=tool)
        if f not in seen:
            seen.add(f)
            out.append(f)
    out.sort(key=lambda f: (rank.get(f.capture, 0), SEVERITIES.index(f.severity), f.port if f.port is not None
                            else -1, f.frames[:1], f.rule))
    return tuple(out)


def _checked_ports(cases, sessions: dict, at=None):
    """The CheckedPorts of every case, in capture then (session, proto, port,
    first probe) order: a tuple, or a CheckedPorts where ports were checked by
    shape. `at`: only those at these (proto, port)s (None: every one)."""
    out, bulk = [], []
    for cc in cases:
        mine = sessions.get(cc.capture, {})
        keyed = []  # (sort key, (session, tool), PortCase): each port's session looked up once
        shaped = cc.ports.bulk() if isinstance(cc.ports, _CasePorts) else []
        real = cc.ports.real() if shaped else cc.ports
        if at is not None:
            shaped = _bulk_at(shaped, at)
            real = [pc for pc in real if (pc.result.exchange.proto, pc.result.exchange.port) in at]
        for pc in real:
            ex = pc.result.exchange
            first = ex.probes[0].frame
            session_tool = mine.get(first, (None, ""))
            keyed.append(((session_tool[0] or 0, ex.proto, ex.port, first), session_tool, pc))
        if not shaped:
            keyed.sort(key=lambda k: k[0])
            out += [_checked_port(cc.capture, pc, session, tool) for _key, (session, tool), pc in keyed]
            continue
        bulk.append((len(out), _BulkChecked(cc.capture, shaped, mine, [(k, _checked_port(cc.capture, pc, *st))
                                                                       for k, st, pc in keyed])))
    return CheckedPorts(out, bulk) if bulk else tuple(out)


def _bulk_at(shaped: list, at) -> list:
    """_CasePorts.bulk()'s (scan, rows, shapes, [_ShapeOf]) of the rows at the (proto, port)s `at`."""
    import numpy as np

    out = []
    for scan, rows, shape, clean in shaped:
        udp, port = scan.ports.udp[rows], scan.ports.port[rows]
        keep = np.zeros(len(rows), bool)
        for proto in ("tcp", "udp"):
            numbers = np.array(sorted(n for p, n in at if p == proto and n is not None), np.int64)
            keep |= (udp == (proto == "udp")) & np.isin(port, numbers)
        if keep.any():
            out.append((scan, rows[keep], shape[keep], clean))
    return out


def _checked_port(capture: str, pc: PortCase, session, tool: str) -> CheckedPort:
    v = pc.result.verdict
    ex = pc.result.exchange
    # _value_: the member's value, read directly (Enum's .value property costs a call per read)
    return CheckedPort(capture=capture, scanner=ex.scanner, target=ex.target, proto=ex.proto, port=ex.port,
                       technique=pc.scan.technique._value_, state=v.state._value_, reason=v.reason._value_,
                       claim=str(pc.claim) if pc.claim else "", packets=_ladder_packets(pc), session=session,
                       tool=tool)


def _ladder_packets(pc: PortCase) -> tuple:
    """What a port's ladder draws: the packets of the connections its probes
    opened (the scanner's source ports of its probes and of the RSTs pairing
    left out, both ways, and the ICMP errors quoting them), not another
    connection the scanner had open to that port meanwhile (the student's SSH
    session to the lab's target while it scanned port 22: a thousand packets
    before the scan's own). The rules read every packet (PortCase.packets)."""
    ex = pc.result.exchange
    ports = {p.sport for p in ex.probes} | {r.sport for r in pc.loose_resets}

    def scanner_port(p) -> int:
        if p.quoted is not None and p.proto not in ("tcp", "udp"):
            return p.quoted.sport
        return p.sport if p.src == ex.scanner else p.dport

    mine = tuple(p for p in pc.packets if scanner_port(p) in ports)
    return mine if len(mine) < len(pc.packets) else pc.packets


class _BulkChecked:
    """One capture's checked ports where some were checked by shape: in
    _checked_ports' order, as columns; the CheckedPorts of the others
    (`real`) and BulkCheckedPorts made when read."""

    def __init__(self, capture: str, shaped: list, mine: dict, real: list):
        import numpy as np

        self.capture = capture
        self.real = [cp for _k, cp in real]
        self.scans = [scan for scan, _rows, _k, _clean in shaped]
        self.clean = [clean for _scan, _rows, _k, clean in shaped]
        self.rows = np.concatenate([rows for _scan, rows, _k, _clean in shaped])
        self.shape = np.concatenate([k for _scan, _rows, k, _clean in shaped])
        col = {k: np.concatenate([getattr(scan.ports, k)[rows] for scan, rows, _k, _clean in shaped])
               for k in ("udp", "port", "pframe", "state", "reason")}
        self.scan_of = np.concatenate([np.full(len(rows), i, np.int32) for i, (_s, rows, _k, _c) in enumerate(shaped)])
        if not isinstance(mine, FrameSessions):
            plain, mine = mine, FrameSessions()
            mine.own.update(plain)
        session, tool_of = mine.many(col["pframe"])
        tools = {"": 0}
        code = {n: tools.setdefault(t, len(tools)) for n, t in tool_of.items()}
        lut = np.zeros(max(code, default=0) + 2, np.int32)
        for n, c in code.items():
            lut[n] = c
        tool = lut[session]  # session -1: the last slot, tool ""
        self.tools = list(tools)
        # sorted as _checked_ports sorts: (session or 0, proto, port, first probe frame), stably
        protos = sorted({"udp", "tcp"} | {k[1] for k, _cp in real})
        rank = {p: i for i, p in enumerate(protos)}
        n_r = len(real)
        # each key as narrow as its values (sessions, protocols and ports are small numbers): millions of rows
        keys = [np.r_[np.array([k[0] for k, _cp in real], np.int64), np.maximum(session, 0)].astype(np.int32),
                np.r_[np.array([rank[k[1]] for k, _cp in real], np.int8),
                      np.where(col["udp"], rank["udp"], rank["tcp"]).astype(np.int8)],
                np.r_[np.array([k[2] for k, _cp in real], np.int32), col["port"].astype(np.int32)],
                np.r_[np.array([k[3] for k, _cp in real], np.int64), col["pframe"].astype(np.int64)]]
        order = np.lexsort(keys[::-1])
        del keys
        self.order = order  # entry -> index: < n_r a real one, else n_r + bulk index
        self.n_real = n_r
        self.col, self.session, self.tool = col, session, tool

    def __len__(self) -> int:
        return len(self.order)

    def get(self, i: int):
        j = int(self.order[i]) - self.n_real
        if j < 0:
            return self.real[j + self.n_real]
        states, reasons = list(State), list(Reason)
        c = self.col
        session = int(self.session[j])
        pc = BulkPortCase(self.clean[self.scan_of[j]][self.shape[j]], int(self.rows[j]))
        return BulkCheckedPort(pc, "udp" if c["udp"][j] else "tcp", int(c["port"][j]),
                               states[c["state"][j]]._value_, reasons[c["reason"][j]]._value_,
                               None if session < 0 else session, self.tools[self.tool[j]])

    def rows_where_port(self, values) -> list:
        import numpy as np

        j = self.order - self.n_real
        bulk = j >= 0
        port = np.full(len(j), -1, np.int64)
        port[bulk] = self.col["port"][j[bulk]]
        for i in np.nonzero(~bulk)[0].tolist():
            port[i] = self.real[int(j[i]) + self.n_real].port
        numbers = np.array(sorted(v for v in values if v is not None), np.int64)  # a capture rule's: no port
        return np.nonzero(np.isin(port, numbers))[0].tolist()

    def column(self, name: str) -> list:
        import numpy as np

        j = self.order - self.n_real
        bulk = j >= 0
        jb = j[bulk]
        c = self.col

        def pick(table, codes):  # table[code] of each code, as a list (the few distinct values shared)
            return np.array(table + [None], object)[codes].tolist()

        if name == "proto":
            values = pick(["tcp", "udp"], c["udp"][jb].astype(np.intp))
        elif name == "port":
            values = c["port"][jb].tolist()
        elif name in ("state", "reason"):
            values = pick([m._value_ for m in (State if name == "state" else Reason)], c[name][jb].astype(np.intp))
        elif name == "session":
            session = self.session[jb]
            values = np.where(session < 0, None, session.astype(object)).tolist()
        elif name == "tool":
            values = pick(self.tools, self.tool[jb].astype(np.intp))
        elif name == "capture":
            values = [self.capture] * len(jb)
        elif name in ("scanner", "target", "technique"):
            values = pick([s.technique._value_ if name == "technique" else getattr(s, name) for s in self.scans],
                          self.scan_of[jb].astype(np.intp))
        elif name == "claim":
            values = pick([str(clean[0].claim) if clean and clean[0].claim else "" for clean in self.clean],
                          self.scan_of[jb].astype(np.intp))
        else:  # packets: made port by port
            values = [getattr(self.get(int(i)), name) for i in np.nonzero(bulk)[0].tolist()]
            if len(jb) == len(j):
                return values
            it = iter(values)
            return [next(it) if b else getattr(self.real[k + self.n_real], name)
                    for b, k in zip(bulk.tolist(), j.tolist())]
        if not len(jb) == len(j):  # scalars merged as objects (a tuple would be broadcast)
            out = np.empty(len(j), object)
            out[bulk] = values
            out[~bulk] = [getattr(self.real[k + self.n_real], name) for k in j[~bulk].tolist()]
            return out.tolist()
        return values


class _Parts(Sequence):
    """A sequence made of parts laid end to end, each `_item(part, i)` read."""

    def __init__(self, parts: list, lengths: list):
        self.parts, self.starts, n = parts, [], 0
        for length in lengths:
            self.starts.append(n)
            n += length
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(i)
        k = bisect.bisect_right(self.starts, i) - 1
        return self._item(self.parts[k], i - self.starts[k])


class CheckedPorts(_Parts):
    """VerifyResult.ports where ports were checked by shape: CheckedPorts,
    and BulkCheckedPorts made when read; `of(capture)` and `column(name)`
    read them without making them (verify_report)."""

    def __init__(self, plain: list, bulk: list):
        # parts in order: runs of plain CheckedPorts and each big capture's _BulkChecked
        parts, at = [], 0
        for pos, b in bulk:
            if pos > at:
                parts.append(plain[at:pos])
            parts.append(b)
            at = pos
        if at < len(plain):
            parts.append(plain[at:])
        super().__init__(parts, [len(p) for p in parts])

    @staticmethod
    def _item(part, i: int):
        return part.get(i) if isinstance(part, _BulkChecked) else part[i]

    def of(self, capture: str):
        mine = [p for p in self.parts if isinstance(p, _BulkChecked) and p.capture == capture]
        if mine:
            return CheckedPorts([], [(0, mine[0])])
        return [cp for p in self.parts if not isinstance(p, _BulkChecked) for cp in p if cp.capture == capture]

    def rows_where(self, name: str, values) -> list:
        """The indexes of the ports whose `name` is one of `values` (ports: read off the columns)."""
        out = []
        for start, p in zip(self.starts, self.parts):
            if isinstance(p, _BulkChecked) and name == "port":
                out += [start + i for i in p.rows_where_port(values)]
            else:
                values = set(values)
                out += [start + i for i, v in enumerate(p.column(name) if isinstance(p, _BulkChecked)
                                                        else [getattr(cp, name) for cp in p]) if v in values]
        return out

    def column(self, name: str) -> list:
        out = []
        for p in self.parts:
            out += p.column(name) if isinstance(p, _BulkChecked) else [getattr(cp, name) for cp in p]
        return out


def checked_at(ports, keys) -> tuple:
    """The CheckedPorts of `ports` (VerifyResult.ports) at the (proto, port)
    `keys`, in order, as plain CheckedPorts (their packets read): a few of a
    big capture's, to keep or send elsewhere."""
    keys = set(keys)
    rows_where = getattr(ports, "rows_where", None)  # CheckedPorts: found off its columns
    at = rows_where("port", {port for _proto, port in keys}) if rows_where is not None else range(len(ports))
    out = []
    for i in at:
        p = ports[i]
        if (p.proto, p.port) in keys:
            out.append(p if type(p) is CheckedPort else
                       CheckedPort(**{name: getattr(p, name) for name in CheckedPort.__dataclass_fields__}))
    return tuple(out)


# -- building the cases (reading the capture again for what pairing leaves out) ----

def fits(ex: Exchange, technique: Technique) -> bool:
    """Do the exchange's probes have the shape of the technique's probe?"""
    spec = REGISTRY[technique]
    if spec.proto != ex.proto:
        return False
    return probe_key(ex) == spec.probe_class


def _elsewhere(analysis: AnalysisResult, capture: str) -> tuple:
    """The families other than port scans that the analysis found in a capture."""
    kinds = ["host-discovery"] if any(d.capture == capture for d in analysis.discoveries) else []
    kinds += sorted({p.kind for p in analysis.probings if p.capture == capture})
    return tuple(kinds)


def _one_technique_each(claims: tuple, scans: list) -> tuple:
    """Claims of one technique each: a claim of several ("xfn") split; a
    name's claim of a state alone taken for each technique the capture shows."""
    out = []
    for c in claims:
        if c.techniques:
            out += c.split()
        elif c.state is not None:
            shown = dict.fromkeys(s.technique for s in scans if s.technique in REGISTRY)
            out += [Claim(t, c.state, c.port, c.source) for t in shown]
    return tuple(dict.fromkeys(out))


def _capture_case(summary: CaptureSummary, scans: list, claims: tuple, read_flows: Callable) -> CaptureCase:
    claims = _one_technique_each(claims, scans)
    if summary.error is not None or summary.packets == 0:
        return CaptureCase(summary, claims, (), (), tuple(scans))
    port_results = [(s, p) for s in scans for p in s.ports]
    keys = {(p.exchange.scanner, p.exchange.target, p.proto, p.port) for _, p in port_results}
    flows = read_flows(summary.path, keys)
    loose = _loose_resets(flows, [p for _, p in port_results])

    def port_case(scan, pr, claim):
        key = (pr.exchange.scanner, pr.exchange.target, pr.proto, pr.port)
        mine = tuple(r for r in loose.get(key, ()) if id(r[0]) in _probe_ids(pr.exchange))
        return PortCase(summary.path, scan, pr, claim, tuple(flows.get(key, ())), tuple(r[1] for r in mine))

    covered, claim_cases, ports = set(), [], []
    for claim in claims:
        candidates = [(s, p) for s, p in port_results if claim.port is None or p.port == claim.port]
        fitting = [p.exchange for s, p in candidates if fits(p.exchange, claim.technique)]
        others = tuple(p for s, p in candidates if not fits(p.exchange, claim.technique))
        covered.update(id(p.exchange) for s, p in candidates if fits(p.exchange, claim.technique))
        claimed_scans = build_scans(summary.path, fitting, claim.technique) if fitting else []
        pcs = tuple(port_case(s, p, claim) for s in claimed_scans for p in s.ports)
        claim_cases.append(ClaimCase(summary.path, claim, pcs, others))
        ports.extend(pcs)
    ports.extend(port_case(s, p, None) for s, p in port_results if id(p.exchange) not in covered)
    return CaptureCase(summary, claims, tuple(claim_cases), tuple(ports), tuple(scans))


def _probe_ids(ex: Exchange) -> set:
    return {id(p) for p in ex.probes}


def _file_flows(path: str, keys: set, progress=None) -> dict:
    """_flows of a capture file, read a second time: the analysis kept only
    the exchanges, and a scan capture is small next to the cost of keeping it all."""
    again = None if progress is None else lambda d, t, c, _phase: progress(d, t, c, "rereading")

    def readable():
        try:
            yield from read_packets(path, ReadStats(path), progress=again)
        except InputError:
            return  # the analysis already read what could be read and said why it stopped

    return _flows(readable(), keys)


def _loose_resets(flows: dict, results: list) -> dict:
    """key -> [(probe it follows, RST)]: scanner RSTs to a probed port from a
    source port on which the scanner sent that port nothing else, each given
    to the latest probe before it."""
    probes: dict = {}
    for pr in results:
        ex = pr.exchange
        probes.setdefault((ex.scanner, ex.target, ex.proto, ex.port), []).extend(ex.probes)
    out: dict = {}
    for key, pkts in flows.items():
        if key[2] != "tcp":
            continue
        mine = sorted(probes.get(key, ()), key=lambda p: p.frame)
        # Source ports of every connection the scanner opened to this port,
        # probes or not (nmap -O's SYNs, a -sV connect()): their RSTs are theirs.
        sports = {p.sport for p in mine} | {p.sport for p in pkts
                                           if p.src == key[0] and p.proto == "tcp" and not p.flags & RST}
        for pkt in pkts:
            if pkt.src == key[0] and pkt.proto == "tcp" and pkt.flags & RST and pkt.sport not in sports:
                before = [p for p in mine if p.frame < pkt.frame]
                if before:
                    out.setdefault(key, []).append((before[-1], pkt))
    return out


# -- big captures: ports classified in bulk, checked by their shape -----------------

# What no port rule reads of a packet but to name it (its frame, a number in a
# message): two ports classified in bulk (a probe, and nothing or one packet back)
# whose packets are alike in every other field, and whose sequence numbers
# relate alike (each compared with the others and with 0 by their difference,
# up to SEQ_NEAR either way: rules compare them by small offsets, RFC 793's
# SEG.SEQ + SEG.LEN, never by value), break the same port rules. So each port
# rule runs once per shape, on a real representative; a shape where one finds
# anything has all its ports checked one by one
# (tests/test_verify_shapes.py holds every rule to it).
IDENTITY_FIELDS = frozenset({"frame", "ts", "ttl", "ip_id", "sport", "dport", "seq", "ack"})
SEQ_FIELDS = ("seq", "ack")
SEQ_NEAR = 1 << 17


class BulkPortCase:
    """The PortCase of a port the fast path classified in bulk and no port
    rule finds anything on (its shape's representative showed it). Its
    packets and Exchange are read again only when a capture or set rule
    asks for them (`case`). Millions of them: two slots, the rest shared
    by the ports of its scan and shape (`_ShapeOf`)."""

    __slots__ = ("shape", "row")
    loose_resets = ()

    def __init__(self, shape, row: int):
        self.shape, self.row = shape, row

    @property
    def case(self) -> PortCase:
        return self.shape.shapes.made_case(self.shape, self.row)

    @property
    def claim(self) -> Optional[Claim]:
        return self.shape.claim

    def __getattr__(self, name: str):
        if name in ("capture", "scan", "parts"):  # its shape's
            return getattr(self.shape, name)
        if name in ("shape", "row"):
            raise AttributeError(name)
        return getattr(self.case, name)  # result, packets, ex ...: the PortCase's, made when asked

    @property
    def technique(self) -> Technique:
        return self.shape.scan.technique

    @property
    def proto(self) -> str:
        return "udp" if self.scan.ports.udp[self.row] else "tcp"

    @property
    def port(self) -> int:
        return int(self.scan.ports.port[self.row])

    @property
    def first_frame(self) -> int:
        return int(self.scan.ports.pframe[self.row])

    @property
    def state(self) -> State:
        """Its verdict's state (result.state), off its scan's column."""
        from .fastpath.scans import STATES

        return STATES[self.scan.ports.state[self.row]]

    @property
    def where(self) -> tuple:
        return (self.scan.scanner, self.scan.target, self.proto, self.port)


class BulkCheckedPort:
    """A CheckedPort of a BulkPortCase: the same fields, its packets read when asked."""

    __slots__ = ("capture", "scanner", "target", "proto", "port", "technique", "state", "reason", "claim",
                 "session", "tool", "_pc")

    def __init__(self, pc: BulkPortCase, proto: str, port: int, state: str, reason: str, session, tool: str):
        scan = pc.scan
        self.capture, self.scanner, self.target, self.proto, self.port = \
            pc.capture, scan.scanner, scan.target, proto, port
        self.technique, self.state, self.reason = scan.technique._value_, state, reason
        self.claim = str(pc.claim) if pc.claim else ""
        self.session, self.tool, self._pc = session, tool, pc

    @property
    def packets(self) -> tuple:
        return _ladder_packets(self._pc.case)  # as a CheckedPort's (its port's other packets left out)


@dataclass(frozen=True)
class _ShapeOf:
    """What the BulkPortCases of one scan and shape share: the scan they are
    read as (`scan`: the fast path's `source`, or a claim's reading of it)
    and the claim they are checked under."""

    capture: str
    scan: Scan
    parts: frozenset
    shapes: "_Shapes"
    source: Optional[Scan] = None  # the fast path's scan whose rows they are (None: `scan`)
    claim: Optional[Claim] = None


class _Shapes:
    """A big capture's port cases without making every session whole: the
    packets between each session's scanner and target read once as columns
    (fastpath.subset.Between); the engine's ports (PortTable objects) get
    their packets and loose resets as ever; the ports classified in bulk
    are checked by shape (IDENTITY_FIELDS), under no claim or under a
    claim (capture_case). NotWhole where a bulk port's packets are not its
    one probe and at most one answer, or a representative does not replay
    as its verdict names it, or a claim would read a session otherwise than
    as the fast path's scans cut it (_claimed)."""

    def __init__(self, path: str, scans: list, progress=None):
        import numpy as np

        from .fastpath.columns import first_index
        from .fastpath.subset import BulkPorts, NotWhole, bulk_rows, pair_shapes
        from .progress import Ticker

        self.path = path
        if any(s.technique is Technique.UNKNOWN for s in scans if len(bulk_rows(s))):
            raise NotWhole("a bulk scan of unknown technique")  # probe-flags-mismatch reads all of its ports
        # each bulk port's own probe and answer rows; a port it shares (a flow the scanner reopened): its every packet
        self.bulk_ports = bp = BulkPorts(path, scans, progress, reopened=True)
        self.between = b = bp.between
        # the engine's ports: their packets (_flows) and loose resets, from those rows and the slow records
        real = [(s, p) for s in scans for p in (s.ports.objects.values() if hasattr(s.ports, "objects") else s.ports)]
        real_keys = {(p.exchange.scanner, p.exchange.target, p.proto, p.port) for _s, p in real}
        pick = []
        for pair in {(s.scanner, s.target) for s in scans}:
            rows, keys = bp.keyed(*pair)
            codes = [int(p == "udp") * 65536 + port for sc, tg, p, port in real_keys if (sc, tg) == pair]
            if codes:
                pick.append(rows[np.isin(keys, np.array(codes, np.int64))])
        pkts = _reusing(b, np.sort(np.concatenate(pick)), real) if pick else []
        pkts = sorted(pkts + b.slow, key=lambda p: p.frame)
        self.flows = _flows(pkts, real_keys)
        self.loose = _loose_resets(self.flows, [p for _s, p in real])
        del pkts
        self.cases = {}  # id(scan) -> (each row's shape: -1 for none, [_ShapeOf], {row: PortCase of a bulk row})
        self.shapes = []  # (scan, its bulk rows, their shape ids)
        self.groups = {}  # id(scan) -> (its bulk rows, their shape ids, each shape's representative row)
        self.made = {}  # (id(scan read as), row, claim) -> the PortCase of a BulkPortCase, once asked for
        self.readings = {}  # (id(scan), claim) -> _reading's, once made
        tick = Ticker(progress, "checking-shapes", sum(len(r) for r in bp.bulk.values()))
        done = 0
        for s in scans:
            rows_b, first, second = bp.pairs(s)
            if not len(rows_b):
                continue
            pt = s.ports
            # (no port rule finds anything on probes without an answer, however many: their number is in the key all the same)
            extra = [pt.state[rows_b], pt.reason[rows_b], pt.rframe[rows_b] >= 0, pt.probe_counts(rows_b)]
            ids, n = pair_shapes(b.cols, first, second, extra, IDENTITY_FIELDS, SEQ_FIELDS, SEQ_NEAR)
            self.shapes.append((s, rows_b, ids))
            self.groups[id(s)] = (rows_b, ids, rows_b[first_index(ids, n)])
            self.cases[id(s)] = self._reading(s, s, None)
            done += len(rows_b)
            tick(done)
        tick.end()

    def _reading(self, source, scan, claim) -> tuple:
        """(each row's shape among the clean ones, -1 for none; [_ShapeOf];
        {row: PortCase}) of the bulk rows of `source` read as `scan` under
        `claim`: every port rule run once per shape, on its representative;
        the rows of a shape where one finds anything made PortCases one by one."""
        import numpy as np

        key = (id(scan), claim)
        if key in self.readings:
            return self.readings[key]
        rows_b, ids, reps = self.groups[id(source)]
        shape_of = np.full(len(source.ports), -1, np.int32)
        clean, real = [], {}
        u_shape = np.full(len(reps), -1, np.int32)
        for u, row in enumerate(reps.tolist()):
            pc = self.port_case(source, row, scan, claim)
            parts = _port_parts(pc)
            if not any(True for r in RULES.values() if r.scope == "port" and r.needs <= parts for _h in r.check(pc)):
                u_shape[u] = len(clean)
                clean.append(_ShapeOf(self.path, scan, parts, self, source, claim))
        shape_of[rows_b] = u_shape[ids]
        for row in rows_b[u_shape[ids] < 0].tolist():  # a representative found something: one by one
            real[row] = self.port_case(source, row, scan, claim)
        self.readings[key] = got = (shape_of, clean, real)
        return got

    def made_case(self, shape: _ShapeOf, row: int) -> PortCase:
        """port_case of a BulkPortCase, made once."""
        key = (id(shape.scan), row, shape.claim)
        got = self.made.get(key)
        if got is None:
            got = self.made[key] = self.port_case(shape.source or shape.scan, row, shape.scan, shape.claim)
        return got

    def port_case(self, scan, row: int, read_as=None, claim=None) -> PortCase:
        """The real PortCase of a bulk port of `scan`: its packets replayed by
        the engine; under a claim, read as the claim's scan `read_as` (its
        technique's table classifies it, as build_scans' forced technique does)."""
        result, pkts = self.bulk_ports.replayed(scan, row)
        read_as = read_as or scan
        if read_as.technique is not scan.technique:
            result = replace(result, verdict=REGISTRY[read_as.technique].classify(result.exchange))
        key = (scan.scanner, scan.target, result.proto, result.port)
        flows = _flows(pkts, {key})
        loose = _loose_resets(flows, [result])
        mine = tuple(r[1] for r in loose.get(key, ()) if id(r[0]) in _probe_ids(result.exchange))
        return PortCase(self.path, read_as, result, claim, tuple(flows.get(key, ())), mine)

    def case_of(self, scan, row: int):
        """The PortCase or BulkPortCase of a bulk row."""
        shape_of, clean, real = self.cases[id(scan)]
        k = int(shape_of[row])
        return real[row] if k < 0 else BulkPortCase(clean[k], row)

    def _engine_case(self, summary: CaptureSummary, scan, pr, claim=None) -> PortCase:
        """The PortCase of a port the engine built (its Exchange at hand)."""
        key = (pr.exchange.scanner, pr.exchange.target, pr.proto, pr.port)
        mine = tuple(r for r in self.loose.get(key, ()) if id(r[0]) in _probe_ids(pr.exchange))
        return PortCase(summary.path, scan, pr, claim, tuple(self.flows.get(key, ())), tuple(r[1] for r in mine))

    def _part(self, summary: CaptureSummary, s, rows=None) -> tuple:
        """A _CasePorts part: the rows (all: None) of scan `s` under no claim."""
        import numpy as np

        objects = getattr(s.ports, "objects", None)
        shape_of, clean, real = self.cases.get(id(s), (np.full(len(s.ports), -1, np.int32), [], {}))
        real = dict(real)
        for i, pr in (objects.items() if objects is not None else enumerate(s.ports)):
            real[i] = self._engine_case(summary, s, pr)
        return (s, np.arange(len(s.ports)) if rows is None else rows, shape_of, clean, real)

    def capture_case(self, summary: CaptureSummary, scans: list, claims: tuple = ()) -> CaptureCase:
        """The CaptureCase of the capture under `claims` (as _capture_case
        makes it of whole sessions)."""
        import numpy as np

        claims = _one_technique_each(claims, scans)
        covered = {id(s): np.zeros(len(s.ports), bool) for s in scans}
        claim_cases, claimed = [], []
        for claim in claims:
            pcs, others = self._claimed(summary, scans, claim, covered)
            claim_cases.append(ClaimCase(summary.path, claim, pcs, others))
            claimed += pcs.parts
        parts = claimed + [self._part(summary, s, np.nonzero(~covered[id(s)])[0]) for s in scans]
        return CaptureCase(summary, claims, tuple(claim_cases), _CasePorts(parts), tuple(scans))

    def _fit(self, s, tech: Technique):
        """Each row of scan `s`: do its probes fit `tech` (verify.fits)? A bulk
        row's probe is its shape's (the probe's flags and protocol are in the key)."""
        import numpy as np

        out = np.zeros(len(s.ports), bool)
        objects = getattr(s.ports, "objects", None)
        for i, pr in (objects.items() if objects is not None else enumerate(s.ports)):
            out[i] = fits(pr.exchange, tech)
        if id(s) in self.groups:
            rows_b, ids, reps = self.groups[id(s)]
            fit_u = np.array([fits(self.port_case(s, row).result.exchange, tech) for row in reps.tolist()], bool)
            out[rows_b] = fit_u[ids]
        return out

    def _claimed(self, summary: CaptureSummary, scans: list, claim: Claim, covered: dict) -> tuple:
        """(the claim's port cases as a _CasePorts, the candidates whose probes
        do not fit: a _Others) as _capture_case reads them: the fitting
        exchanges (of the claimed port, or all) read again as the claimed
        technique by build_scans. A claimed port's few exchanges are made and
        read so, exactly. A claim of every port reads a whole fast-path scan
        as the technique (its tool, ports and order stay; each bulk shape is
        classified once: a classifier reads no field outside the shape key)
        where build_scans would group that scan's exchanges alone: so every
        port of a scan with bulk rows must fit or none, and no two scans
        with bulk rows of one scanner and target, told apart only by their
        techniques, may fit (build_scans' forced technique would merge their
        runs: a scan keeps no run number); else NotWhole."""
        import numpy as np

        from .fastpath.subset import NotWhole

        tech = claim.technique
        others = []
        if claim.port is None and claim.state is not None:
            # the state rules hold every claimed port's verdict and evidence (its Exchange) to the claim
            raise NotWhole("a claimed state of every port")
        if claim.port is not None:
            fitting, packets = [], {}
            for s in scans:
                port = _port_column(s)
                fit = self._fit(s, tech) & (port == claim.port)
                for row in np.nonzero(port == claim.port)[0].tolist():
                    pr = s.ports[row]
                    if pr.exchange is None:  # a bulk row: its one probe and answer replayed
                        pc = self.port_case(s, row)
                        pr = pc.result
                        packets[pc.where] = (pc.packets, pc.loose_resets)
                    (fitting if fit[row] else others).append(pr)
                covered[id(s)] |= fit
            read = build_scans(summary.path, [pr.exchange for pr in fitting], tech) if fitting else []
            pcs = []
            for c in read:
                for pr in c.ports:
                    ex = pr.exchange
                    key = (ex.scanner, ex.target, pr.proto, pr.port)
                    if key in packets:
                        pkts, loose = packets[key]
                        pcs.append(PortCase(summary.path, c, pr, claim, tuple(pkts), tuple(loose)))
                    else:
                        pcs.append(self._engine_case(summary, c, pr, claim))
            return _CasePorts([pcs] if pcs else []), _Others([others])
        fit = {id(s): self._fit(s, tech) for s in scans}
        fitting = [s for s in scans if fit[id(s)].any()]
        for s in fitting:
            if id(s) in self.groups and not fit[id(s)].all():
                raise NotWhole(f"a claim of {tech.value} fits some ports of a session, not all")
        bulky = [s for s in fitting if id(s) in self.groups]
        for s in bulky:
            if any(o is not s and (o.scanner, o.target) == (s.scanner, s.target) and o.technique is not s.technique
                   for o in fitting):
                raise NotWhole(f"two sessions of {s.scanner} -> {s.target} read as one {tech.value} scan")
        engine = [s for s in fitting if id(s) not in self.groups]
        read = build_scans(summary.path, [pr.exchange for s in engine for pr, f in zip(s.ports, fit[id(s)].tolist())
                                          if f], tech) if engine else []
        ordered = [(_first_frame(c), [self._engine_case(summary, c, pr, claim) for pr in c.ports]) for c in read]
        for s in bulky:
            c = self._read_as(s, tech)
            shape_of, clean, real = self._reading(s, c, claim)
            real = dict(real)
            for i, pr in c.ports.objects.items():
                real[i] = self._engine_case(summary, c, pr, claim)
            ordered.append((_first_frame(s), (c, np.arange(len(s.ports)), shape_of, clean, real)))
        ordered.sort(key=lambda o: o[0])  # as build_scans orders its sessions
        for s in fitting:
            covered[id(s)] |= fit[id(s)]
        others = [(s, self._part(summary, s, np.nonzero(~fit[id(s)])[0])) for s in scans if not fit[id(s)].all()]
        return _CasePorts([part for _first, part in ordered]), _Others(others, self)

    def _read_as(self, s, tech: Technique):
        """Scan `s` with bulk rows read as `tech`, as build_scans' forced
        technique reads its exchanges: each engine port classified by tech's
        table, each bulk shape once (its representative), its rows given that
        state and reason (and the answer's TTL where the verdict keeps one)."""
        import numpy as np

        from .fastpath.scans import REASONS, STATES, PortTable

        if tech is s.technique:
            return s
        spec = REGISTRY[tech]
        pt = s.ports
        rows_b, ids, reps = self.groups[id(s)]
        _rows, _first, answer = self.bulk_ports.pairs(s)  # each bulk row's answer row (-1: none), as rows_b
        verdicts = [spec.classify(self.port_case(s, row).result.exchange) for row in reps.tolist()]
        state, reason, ttl = pt.state.copy(), pt.reason.copy(), pt.ttl.copy()
        state[rows_b] = np.array([STATES.index(v.state) for v in verdicts], state.dtype)[ids]
        reason[rows_b] = np.array([REASONS.index(v.reason) for v in verdicts], reason.dtype)[ids]
        keeps = np.array([v.reason_ttl != 0 for v in verdicts], bool)[ids]
        ttl[rows_b] = np.where(keeps & (answer >= 0), self.between.cols.ttl[np.maximum(answer, 0)], 0)
        objects = {i: replace(pr, verdict=spec.classify(pr.exchange)) for i, pr in pt.objects.items()}
        table = PortTable(pt.udp, pt.port, state, reason, ttl, pt.pframe, pt.rframe, objects)
        return replace(s, technique=tech, ports=table,
                       technique_evidence=Text.of("inferred.forced", technique=tech.value, why=s.technique_evidence))


def _reusing(between, rows, real: list) -> list:
    """The Packets of `rows` of a Between (frame order), each the engine's own
    where it is a packet of one of the `real` ports' exchanges (a port that
    never answers: hundreds of retries, held once, not made again)."""
    import numpy as np

    have = [q for _s, p in real for ex in (p.exchange,) for q in ex.probes + ex.responses + ex.followups + ex.stray]
    if not have:
        return between.packets(rows)
    frames = np.array([q.frame for q in have], np.int64)
    order = np.argsort(frames, kind="stable")
    frames = frames[order]
    wanted = between.cols.frame[rows].astype(np.int64)
    at = np.minimum(np.searchsorted(frames, wanted), len(frames) - 1)
    known = frames[at] == wanted
    made = iter(between.packets(rows[~known]))
    return [have[int(order[i])] if k else next(made) for i, k in zip(at.tolist(), known.tolist())]


def _port_column(s):
    """The port numbers of a scan's rows, as an array."""
    import numpy as np

    port = getattr(s.ports, "port", None)
    return np.asarray(port if port is not None else [pr.port for pr in s.ports], np.int64)


def _first_frame(s) -> int:
    """A scan's first probe frame (build_scans orders sessions by it)."""
    objects = getattr(s.ports, "objects", None)
    if objects is None:
        return min(p.exchange.probes[0].frame for p in s.ports)
    from .fastpath.subset import bulk_rows

    rows = bulk_rows(s)
    firsts = [p.exchange.probes[0].frame for p in objects.values()]
    if len(rows):
        firsts.append(int(s.ports.pframe[rows].min()))
    return min(firsts)


class _CasePorts(_Parts):
    """CaptureCase.ports of a capture checked by shape: PortCases, and
    BulkPortCases made as they are read (millions: kept as each row's
    shape, never as objects)."""

    def __init__(self, parts: list):
        # parts: [PortCase, ...], or (scan, its rows in order, each row's shape or -1, [_ShapeOf], {row: PortCase})
        super().__init__(parts, [len(p) if isinstance(p, list) else len(p[1]) for p in parts])

    def __iter__(self):
        for p in self.parts:
            if isinstance(p, list):
                yield from p
                continue
            _scan, rows, shape_of, clean, real = p
            for row, k in zip(rows.tolist(), shape_of[rows].tolist()):
                yield real[row] if k < 0 else BulkPortCase(clean[k], row)

    def select(self, keep: Callable):
        """ports_where's walk: each shape's BulkPortCases kept or left out as
        one (`keep` asked of its scan's technique and its parts), the
        PortCases one by one."""
        import numpy as np

        for p in self.parts:
            if isinstance(p, list):
                yield from (pc for pc in p if keep(pc.technique, _port_parts(pc)))
                continue
            _scan, rows, shape_of, clean, real = p
            ok = np.array([bool(keep(s.scan.technique, s.parts)) for s in clean] + [True], bool)  # -1: a PortCase
            k = shape_of[rows]
            take = ok[k]
            for row, kk in zip(rows[take].tolist(), k[take].tolist()):
                if kk >= 0:
                    yield BulkPortCase(clean[kk], row)
                elif keep(real[row].technique, _port_parts(real[row])):
                    yield real[row]

    def targets_where(self, keep: Callable, state: State) -> set:
        """verify.targets_where's set: each shape kept or left out as one, its
        rows' ports and states read off its scan's columns."""
        import numpy as np

        from .fastpath.scans import STATES

        out = set()
        for p in self.parts:
            if isinstance(p, list):
                out.update(targets_where(p, keep, state))
                continue
            scan, rows, shape_of, clean, real = p  # `scan`: the one its shapes are read as
            ok = np.array([bool(keep(s.scan.technique, s.parts)) for s in clean] + [False], bool)  # -1: below
            k = shape_of[rows]
            take = rows[ok[k] & (scan.ports.state[rows] == STATES.index(state))]
            out.update((scan.target, port) for port in np.unique(scan.ports.port[take]).tolist())
            out.update(targets_where([real[row] for row in rows[k < 0].tolist()], keep, state))
        return out

    @staticmethod
    def _item(part, i: int):
        if isinstance(part, list):
            return part[i]
        _scan, rows, shape_of, clean, real = part
        row = int(rows[i])
        k = int(shape_of[row])
        return real[row] if k < 0 else BulkPortCase(clean[k], row)

    def real(self) -> list:
        """The PortCases (not BulkPortCases), in order."""
        import numpy as np

        out = []
        for p in self.parts:
            if isinstance(p, list):
                out += p
                continue
            _scan, rows, _shape_of, _clean, real = p
            keys = np.array(sorted(real), np.int64)
            out += [real[row] for row in keys[np.isin(keys, rows)].tolist()]
        return out

    def bulk(self) -> list:
        """(scan, rows, their shapes, [_ShapeOf]) of the BulkPortCases, scan by scan."""
        out = []
        for p in self.parts:
            if isinstance(p, list):
                continue
            scan, rows, shape_of, clean, _real = p
            rows = rows[shape_of[rows] >= 0]
            if len(rows):
                out.append((scan, rows, shape_of[rows], clean))
        return out


class _Others(_Parts):
    """ClaimCase.others of a capture checked by shape: the PortResults whose
    probes do not fit the claim, each with its Exchange, made when read (only
    probe-flags-mismatch reads them, and only where no port fits)."""

    def __init__(self, parts: list, shapes: Optional[_Shapes] = None):
        # parts: [PortResult, ...], or (scan, a _CasePorts part of its rows under no claim)
        self.shapes = shapes
        super().__init__(parts, [len(p) if isinstance(p, list) else len(p[1][1]) for p in parts])

    def _item(self, part, i: int):
        if isinstance(part, list):
            return part[i]
        scan, (_s, rows, _shape_of, _clean, real) = part
        row = int(rows[i])
        pc = real.get(row)
        return pc.result if pc is not None else self.shapes.port_case(scan, row).result


def _probed(scans) -> set:
    """(proto, port) of every port of the scans; a fast-path scan's bulk rows read off its columns."""
    out = set()
    for s in scans:
        ports = s.ports
        objects = getattr(ports, "objects", None)
        if objects is None:
            out.update((p.proto, p.port) for p in ports)
            continue
        from .fastpath.subset import bulk_rows

        rows = bulk_rows(s)
        if len(rows):
            import numpy as np

            code = np.unique(ports.udp[rows].astype(np.int64) * 65536 + ports.port[rows])
            out.update(zip(["udp" if c >= 65536 else "tcp" for c in code.tolist()], (code % 65536).tolist()))
        out.update((p.proto, p.port) for p in objects.values())
    return out


__all__ = ["verify", "verify_each", "verify_packets", "checked_at", "VerifyResult", "Finding", "RULES", "SEVERITIES", "CheckedPort", "relation", "fits"]
