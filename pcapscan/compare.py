"""Two scans side by side: how they were made and what each concluded.

    comparison = compare("scapy-syn.pcap", "nmap-syn.pcap")   # two captures
    comparison = compare("both.pcap")                          # two sessions of one capture

Library code: reads the captures with analysis.analyze_capture_full, describes
each chosen scan session (a `Side`: probes and retransmissions and their
timing, inter-probe gaps, duration, flags, window, TCP options, TTL, IP ID
pattern, source-port strategy, sequence numbers, UDP payloads, who sent each
RST, port order, the per-port states, and the tool that most likely sent
it), then lines the two up field by field and port by port. Every port whose
states differ gets a sentence saying what each scan saw and why that reads
differently. Rendering is report/compare_report.py's job.

Who sent a RST: a raw-socket scanner (nmap -sS, scapy, hping3, masscan,
zmap) has no socket behind its SYN, so when a SYN/ACK comes back the
scanner's *kernel* answers it with a bare RST: window 0, seq = the SYN/ACK's
acknowledgment number, no ACK flag (RFC 793). Any other RST from the
scanner (scapy's hand-made R or RA, masscan's own RST) was sent by the
*tool*. After a completed handshake (connect()), the RST that closes the
socket is the kernel's too.
"""
from __future__ import annotations

import gc
import os
import statistics
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Optional, Union

from .analysis import analyze_capture_full, client_conversation
from .errors import InputError, UsageError
from .exchanges import probe_class
from .fingerprint import NMAP_UDP_PAYLOAD_PORTS, initial_ttl, options_text, values_text
from .gcpause import no_cyclic_gc
from .kernel import is_kernel_rst, synacks
from .messages import MESSAGES, T, render
from .model import ACK, RST, Exchange, Packet, Scan, State, Technique
from .progress import report
from .techniques import REGISTRY, response_kind
from .verify import IDENTITY_FIELDS, SEQ_FIELDS, SEQ_NEAR, WIDER

PathLike = Union[str, "os.PathLike[str]"]

RESPONSE_WORDS = {
    "syn-ack": "SYN/ACK", "syn": "a bare SYN", "rst": "RST", "udp": "a UDP answer",
    "icmp-port-unreach": "ICMP port unreachable", "icmp-unreach": "ICMP unreachable",
    "icmp-time-exceeded": "ICMP time exceeded",
}


# -- one side ------------------------------------------------------------------------


@dataclass(frozen=True)
class RstInfo:
    """A RST the scanner sent after an answer, and who sent it."""

    frame: int
    proto: str
    port: int
    sender: str  # "kernel", "kernel (connect)" or "tool"
    text: str  # flags, window, seq as seen


RETRIES_SHOWN = 10  # nmap's default --max-retries: every retry of an nmap scan's port is listed


@dataclass(frozen=True)
class PortSide:
    """One port of one scan."""

    proto: str
    port: int
    technique: str
    state: str
    reason: str
    probes: int
    retry_offsets: tuple  # seconds after the first try, one per retransmission
    start: float  # first try, seconds after the session's first probe
    answers: tuple  # (kind word, frame) per response
    payloads: tuple  # UDP payload bytes per probe
    handshake: bool
    rsts: tuple  # RstInfo
    exchange: Optional[Exchange] = field(repr=False, compare=False)  # None: a port described by its shape
    first_frame: int = field(default=0, repr=False, compare=False)  # its first probe's

    @property
    def key(self) -> tuple:
        return (self.proto, self.port)

    @property
    def answer_text(self) -> str:
        if not self.answers:
            return "no answer"
        words = []
        for kind, frame in self.answers:
            words.append(f"{RESPONSE_WORDS.get(kind, kind)} (frame {frame})")
        return ", ".join(words)

    @property
    def retry_text(self) -> str:
        """The first RETRIES_SHOWN retries' offsets, then how many more: a port
        probed hundreds of times (hping3 at a steady rate, a scan script in a
        loop) takes one cell, not a page (--format json keeps every one)."""
        shown = ", ".join(f"+{t:.2f}s" for t in self.retry_offsets[:RETRIES_SHOWN]) or "-"
        more = len(self.retry_offsets) - RETRIES_SHOWN
        return shown + (f" (+{more} more)" if more > 0 else "")


@dataclass(frozen=True)
class Side:
    """One scan session, described field by field."""

    label: str  # "A" or "B"
    capture: str
    session: int  # 1-based, in the capture's order
    sessions: int  # how many the capture holds
    scan: Scan = field(repr=False)
    tool: str
    tool_confidence: float
    tool_evidence: tuple
    fields: dict  # field name -> text (see FIELDS)
    ports: dict  # (proto, port) -> PortSide
    order: tuple  # ports in the order of their first probe
    start: float
    duration: float
    probe_count: int
    retransmissions: int
    gaps: tuple  # seconds between consecutive first tries
    rsts: tuple
    udp_payloads: dict  # port -> the distinct payload sizes sent to it
    remake: Optional[Callable] = field(default=None, repr=False, compare=False)  # PortSide -> its Exchange

    def exchange(self, p: PortSide) -> Exchange:
        """The Exchange of one of its ports (one described by its shape replayed when asked)."""
        return p.exchange if p.exchange is not None or self.remake is None else self.remake(p)

    @property
    def title(self) -> str:
        s = self.scan
        return (f"{self.label}: {self.capture} (session {self.session} of {self.sessions}): {s.scanner} -> "
                f"{s.target}, {s.technique.value} scan of {len(s.ports)} port(s)")


FIELDS = ("tool", "technique", "probes", "retransmissions", "duration", "inter-probe gap", "flags", "window",
          "TCP options", "TTL", "IP ID", "source port", "sequence number", "UDP payload", "handshake",
          "RST sent by", "port order", "states")


def _secs(t: float) -> str:
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 0.001:
        return f"{t * 1000:.1f} ms"
    return f"{t * 1e6:.0f} µs"


def ttl_pattern(ttls: list) -> str:
    """The probes' TTLs (in frame order), in words."""
    if not ttls:
        return "-"
    distinct = sorted(set(ttls))
    if len(distinct) == 1:
        hops = initial_ttl(ttls[0]) - ttls[0]
        return f"{ttls[0]} on every probe" + (f" (initial {initial_ttl(ttls[0])})" if 0 < hops <= 16 else "")
    return f"varies per probe: {len(distinct)} values, {distinct[0]}-{distinct[-1]}"


def ipid_pattern(ip_version: int, ids: list, masscan: list) -> str:
    """The probes' IP IDs (in frame order), in words; `masscan`: per probe, whether it is a TCP
    probe whose IP ID is masscan's (destination ^ port ^ seq) & 0xffff."""
    if not ids:
        return "-"
    if ip_version == 6:
        return "none (IPv6 has no IP ID)"
    if len(set(ids)) == 1:
        return f"{ids[0]} on every probe"
    if all(masscan):
        return "(destination ^ port ^ seq) & 0xffff: masscan's"
    steps = [(b - a) % 65536 for a, b in zip(ids, ids[1:])]
    if steps and sum(1 for s in steps if 0 < s <= 16) >= 0.8 * len(steps):
        return f"incrementing from {ids[0]}"
    return f"random ({len(set(ids))} values for {len(ids)} probes)"


@lru_cache(maxsize=None)  # a session's one target, asked of every probe
def _addr_int(addr: str) -> int:
    import ipaddress

    return int(ipaddress.ip_address(addr))


def sport_pattern(sports: list, retry_sports: list) -> str:
    """The source ports of the first tries and of the retransmissions (each in frame order), in words."""
    if not sports:
        return "-"
    counts = Counter(sports)
    base, n = counts.most_common(1)[0]
    retry_ports = sorted(set(retry_sports) - {base})
    if len(sports) >= 2 and n >= 0.8 * len(sports):
        text = f"one port for the scan ({base})"
        if retry_ports:
            text += f", retries from {values_text(retry_ports, 3)}"
        elif retry_sports:
            text += ", retries from the same port"
        return text
    if len(sports) == 1:
        text = f"{base}"
        if retry_sports:
            text += f", retries from {values_text(retry_ports, 3)}" if retry_ports else ", retries from the same port"
        return text
    steps = [b - a for a, b in zip(sports, sports[1:])]
    if steps and sum(1 for s in steps if s == 1) >= 0.8 * len(steps):
        return f"incrementing by one from {sports[0]}"
    if len(counts) == len(sports):
        return f"a new port per probe ({values_text(sports, 3)})"
    return f"{len(counts)} ports ({values_text(sports, 3)})"


def seq_pattern(tcp_first: list) -> str:
    """The (flags, seq, ack) of the TCP first tries (in frame order), in words."""
    if not tcp_first:
        return "-"
    uses_ack = all(flags & ACK for flags, _seq, _ack in tcp_first)
    keys = [(ack if uses_ack else seq) for _flags, seq, ack in tcp_first]
    word = "ack" if uses_ack else "seq"
    value, n = Counter(keys).most_common(1)[0]
    if len(tcp_first) >= 2 and n >= 0.8 * len(tcp_first):
        return f"{word} {value} on every first try" if value else f"{word} 0 on every probe"
    if len(tcp_first) == 1:
        return f"{word} {keys[0]}"
    return f"new per probe ({len(set(keys))} values)"


def port_order(order) -> str:
    ports = [p for _proto, p in order]
    if len(ports) < 2:
        return ", ".join(map(str, ports)) or "-"
    head = ", ".join(map(str, ports[:6])) + (", ..." if len(ports) > 6 else "")
    if ports == sorted(ports):
        return f"ascending ({head})"
    if ports == sorted(ports, reverse=True):
        return f"descending ({head})"
    return f"shuffled ({head})"


def classify_rst(pkt: Packet, ex: Exchange) -> RstInfo:
    text = f"flags {pkt.flag_text}, window {pkt.window}, seq {pkt.seq}, TTL {pkt.ttl}"
    if ex.completed_handshake:
        sender = "kernel (connect)"
    elif is_kernel_rst(pkt, synacks(ex)):
        sender = "kernel"
    else:
        sender = "tool"
    return RstInfo(frame=pkt.frame, proto=ex.proto, port=ex.port, sender=sender, text=text)


# What describe reads of each probe, one column each (_probe_rows, _Shaped.probe_rows).
PROBE_COLUMNS = ("frame", "ts", "proto", "kind", "window", "opts", "ttl", "ip_id", "masscan", "sport", "seq", "ack",
                 "flags", "first", "retry", "ip_version")


def _probe_rows(ex: Exchange) -> list:
    """A row of PROBE_COLUMNS per probe of an exchange."""
    retries = {id(p) for p in _retries(ex)}
    rows = []
    for i, p in enumerate(ex.probes):
        tcp = p.proto == "tcp"
        rows.append((p.frame, p.ts, p.proto, probe_class(p) or p.flag_text, p.window, _opts(p) if tcp else None,
                     p.ttl, p.ip_id, tcp and p.ip_id == (_addr_int(p.dst) ^ p.dport ^ p.seq) & 0xFFFF, p.sport,
                     p.seq, p.ack, p.flags, i == 0, id(p) in retries, p.ip_version))
    return rows


def _port_side(pr, technique: str, start: float) -> PortSide:
    """The PortSide of a port with its Exchange."""
    ex = pr.exchange
    port_rsts = tuple(classify_rst(f, ex) for f in ex.followups if f.proto == "tcp" and f.flags & RST)
    answers = tuple((response_kind(r) or r.proto, r.frame) for r in ex.responses)
    return PortSide(proto=pr.proto, port=pr.port, technique=technique, state=pr.state.value,
                    reason=pr.verdict.reason.value, probes=len(ex.probes),
                    retry_offsets=tuple(p.ts - ex.probes[0].ts for p in _retries(ex)), start=ex.probes[0].ts - start,
                    answers=answers, payloads=tuple(p.payload_len for p in ex.probes if p.proto == "udp"),
                    handshake=ex.completed_handshake, rsts=port_rsts, exchange=ex, first_frame=ex.probes[0].frame)


def describe(label: str, capture: str, scans: list, index: int, shaped: "Optional[_Shaped]" = None) -> Side:
    """A Side for session `index` (0-based) of a capture's scans. Every port
    with an Exchange is described from it; with `shaped`, the ports the fast
    path classified in bulk are described by their shape (_Shaped)."""
    scan = scans[index]
    bulk = shaped.session(scan) if shaped is not None else None
    real = bulk.real if bulk is not None else list(enumerate(scan.ports))  # (row, PortResult with Exchange)
    exchanges = [pr.exchange for _row, pr in real]
    rows = [r for ex in exchanges for r in _probe_rows(ex)]
    if bulk is not None:
        rows += bulk.probe_rows()
    rows.sort(key=lambda r: r[0])
    col = dict(zip(PROBE_COLUMNS, zip(*rows))) if rows else {k: () for k in PROBE_COLUMNS}
    start = col["ts"][0] if rows else 0.0
    ends = [p.ts for ex in exchanges for p in ex.probes + ex.responses + ex.followups]
    if bulk is not None:
        ends += bulk.ends()
    last = max(ends or [start])
    technique = scan.technique.value
    sides = {row: _port_side(pr, technique, start) for row, pr in real}
    if bulk is not None:
        sides.update(bulk.port_sides(technique, start))
    ports, rsts, udp_payloads = {}, [], {}
    for row in sorted(sides):
        ps = sides[row]
        ports[(ps.proto, ps.port)] = ps
        rsts.extend(ps.rsts)
        if ps.proto == "udp":
            udp_payloads[ps.port] = tuple(sorted(set(ps.payloads)))
    order = tuple(sorted(ports, key=lambda k: ports[k].first_frame))
    first = [i for i, f in enumerate(col["first"]) if f]
    retries = [i for i, r in enumerate(col["retry"]) if r]
    tcp = [i for i, proto in enumerate(col["proto"]) if proto == "tcp"]
    gaps = tuple(col["ts"][b] - col["ts"][a] for a, b in zip(first, first[1:]))
    tool = scan.tool
    f = {}
    f["tool"] = f"{tool.name} ({tool.confidence:.2f})" if tool is not None else "-"
    f["technique"] = scan.technique.value + (f" (flags {scan.probe_flags or 'none'})" if scan.probe_flags is not None
                                             else "")
    f["probes"] = f"{len(rows)} to {len(ports)} port(s)"
    f["retransmissions"] = _retransmission_text(ports)
    f["duration"] = _secs(last - start)
    f["inter-probe gap"] = (f"median {_secs(statistics.median(gaps))} (min {_secs(min(gaps))}, "
                            f"max {_secs(max(gaps))})" if gaps else "-")
    f["flags"] = values_text(col["kind"]) if rows else "-"
    f["window"] = values_text([col["window"][i] for i in tcp]) if tcp else "-"
    f["TCP options"] = values_text([col["opts"][i] for i in tcp], 3) if tcp else "-"
    f["TTL"] = ttl_pattern(list(col["ttl"]))
    f["IP ID"] = ipid_pattern(col["ip_version"][0] if rows else 0, list(col["ip_id"]), list(col["masscan"]))
    f["source port"] = sport_pattern([col["sport"][i] for i in first], [col["sport"][i] for i in retries])
    f["sequence number"] = seq_pattern([(col["flags"][i], col["seq"][i], col["ack"][i]) for i in first
                                        if col["proto"][i] == "tcp"])
    f["UDP payload"] = _payload_text(udp_payloads)
    f["handshake"] = _handshake_text(ports)
    f["RST sent by"] = _rst_text(rsts)
    f["port order"] = port_order(order)
    f["states"] = ", ".join(f"{state} {n}" for state, n in Counter(p.state for p in ports.values()).most_common())
    return Side(label=label, capture=capture, session=index + 1, sessions=len(scans), scan=scan,
                tool=tool.name if tool else "unknown", tool_confidence=tool.confidence if tool else 0.0,
                tool_evidence=tuple(tool.evidence) if tool else (), fields=f, ports=ports, order=order,
                start=start, duration=last - start, probe_count=len(rows), retransmissions=len(retries),
                gaps=gaps, rsts=tuple(rsts), udp_payloads=udp_payloads,
                remake=bulk.exchange if bulk is not None else None)


def _probes_after_an_answer(side) -> int:
    """Probes sent to a port after it had answered: a script run twice, not a
    tool's retransmission (nmap retries only what went unanswered)."""
    n = 0
    for p in side.ports.values():
        ex = p.exchange
        if ex is not None and ex.responses:
            first = min(r.frame for r in ex.responses)
            n += sum(1 for q in ex.probes if q.frame > first)
    return n


def _retries(ex: Exchange) -> list:
    """Retransmissions: later probes like the first. A UDP probe with another
    payload (nmap sends two to port 53) is a second question, not a retry."""
    first = ex.probes[0]
    return [p for p in ex.probes[1:] if p.proto != "udp" or p.payload_len == first.payload_len]


def _opts(p: Packet) -> str:
    text = options_text(p.options)
    return text + (f" (mss {p.mss})" if p.mss and p.options == (2,) else "")


def _retransmission_text(ports: dict) -> str:
    retried = [p for p in ports.values() if p.retry_offsets]
    if not retried:
        return "none"
    total = sum(len(p.retry_offsets) for p in retried)
    offsets = [t for p in retried for t in p.retry_offsets]
    shown = ", ".join(f"{p.port}/{p.proto} {p.retry_text}" for p in retried[:3])
    more = f" (+{len(retried) - 3} ports)" if len(retried) > 3 else ""
    return f"{total} on {len(retried)} port(s), median +{statistics.median(offsets):.2f}s: {shown}{more}"


def _payload_text(payloads: dict) -> str:
    if not payloads:
        return "-"
    loaded = {port: [n for n in lens if n] for port, lens in payloads.items()}
    loaded = {port: lens for port, lens in loaded.items() if lens}
    if not loaded:
        return "empty datagrams"
    words = {port: "+".join(map(str, lens)) + " bytes" for port, lens in sorted(loaded.items())}
    if len(loaded) == len(payloads) and len(set(words.values())) == 1:
        return f"every datagram: {next(iter(words.values()))}"
    shown = ", ".join(f"{port}: {w}" for port, w in list(words.items())[:4])
    more = f" (+{len(words) - 4} ports)" if len(words) > 4 else ""
    return f"{shown}{more}" + ("; other ports empty" if len(loaded) < len(payloads) else "")


def _handshake_text(ports: dict) -> str:
    done = [p for p in ports.values() if p.handshake]
    synacked = [p for p in ports.values() if any(k == "syn-ack" for k, _ in p.answers)]
    if done:
        return f"completed on {', '.join(str(p.port) for p in done[:5])} (ACK after the SYN/ACK: connect())"
    if synacked:
        return "never completed: the SYN/ACK was reset or left unanswered"
    return "- (no SYN/ACK)"


def _rst_text(rsts) -> str:
    if not rsts:
        return "none"
    counts = Counter(r.sender for r in rsts)
    return "; ".join(f"{sender}: {n}" for sender, n in counts.most_common())


# -- the comparison ----------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRow:
    name: str
    a: str
    b: str

    @property
    def same(self) -> bool:
        return self.a == self.b


# How two states of one port stand to each other. A wide state stands for
# several (verify.WIDER: open|filtered is open or filtered); two readings that
# can both be true of one port are consistent, not a disagreement.
SAME, CONSISTENT, DISAGREE, ONE_SIDED = "same", "consistent", "disagree", "one-sided"


@lru_cache(maxsize=None)  # a few states, asked of every port again and again
def _stands_for(state: str) -> frozenset:
    s = State(state)
    return WIDER.get(s, frozenset({s}))


@lru_cache(maxsize=None)
def state_relation(a: str, b: str) -> str:
    """SAME, CONSISTENT (some port state gives both readings: open against
    open|filtered) or DISAGREE (none does: open against closed)."""
    if a == b:
        return SAME
    return CONSISTENT if _stands_for(a) & _stands_for(b) else DISAGREE


@dataclass(frozen=True)
class PortRow:
    proto: str
    port: int
    a: Optional[PortSide]
    b: Optional[PortSide]
    explanation: str = ""

    @property
    def shared(self) -> bool:
        return self.a is not None and self.b is not None

    @property
    def relation(self) -> str:
        return state_relation(self.a.state, self.b.state) if self.shared else ONE_SIDED

    @property
    def agree(self) -> bool:
        """The same state on both sides."""
        return self.relation == SAME


@dataclass(frozen=True)
class Comparison:
    a: Side
    b: Side
    fields: tuple  # FieldRow
    ports: tuple  # PortRow, sorted by (proto, port)
    notes: tuple  # what a teacher would point out, one sentence each

    @property
    def disagreements(self) -> tuple:
        """Ports both scans probed and read in contradiction (open against closed)."""
        return tuple(r for r in self.ports if r.relation == DISAGREE)

    @property
    def consistent(self) -> tuple:
        """Ports read differently but compatibly: one technique's wide state
        (open|filtered) holds the other's narrower one (open)."""
        return tuple(r for r in self.ports if r.relation == CONSISTENT)

    @property
    def one_sided(self) -> tuple:
        """Ports only one of the scans probed."""
        return tuple(r for r in self.ports if not r.shared)


def _load(path: PathLike, progress=None) -> tuple:
    """(summary, scans) as `pcapscan analyze` lists them: a big capture by the
    fast path, whose bulk ports carry no Exchange (_whole makes the two
    compared sessions whole), a small one by the ordinary path."""
    from .fastpath import analyze_capture_auto

    summary, scans, _more = analyze_capture_auto(path, fast="auto", progress=progress,
                                                 parallel=(os.cpu_count() or 1) > 1)
    gc.collect()  # the fast path's columns left in cycles, freed while the heap is small (GC is paused)
    every = scans
    scans = [s for s in scans if not client_conversation(s)]  # as analyze and verify list them
    if not scans:
        if every:  # a client's own traffic only: say so, not "no probes"
            raise InputError(f"{path}: no scan sessions found (only a client's own traffic: "
                             f"{len(every)} lone attempt(s) or datagram exchange(s) that no scanner sent)")
        raise InputError(f"{path}: no scan sessions found (no probes in the capture)")
    return summary, scans


def _whole(path: PathLike, scans: list, indexes: list, progress=None) -> list:
    """`scans` with the sessions at `indexes` whole (every port's Exchange,
    fastpath.subset.whole_sessions, in bounded memory); where that does not
    hold, the ordinary path, whole."""
    if all(p.exchange is not None for i in indexes for p in scans[i].ports):
        return scans
    from .fastpath.subset import NotWhole, whole_sessions

    try:
        return whole_sessions(path, scans, indexes, progress)[0]
    except NotWhole:
        _summary, every, _more = analyze_capture_full(path, progress=progress)
        return [s for s in every if not client_conversation(s)]


def _prepare(path: PathLike, scans: list, indexes: list, progress=None) -> tuple:
    """(scans, _Shaped or None): the sessions at `indexes` ready to describe:
    their ports classified in bulk by their shape (_Shaped), or, where that
    does not hold, the sessions made whole (_whole)."""
    from .fastpath.subset import NotWhole, bulk_rows

    if not any(len(bulk_rows(scans[i])) for i in indexes):
        return scans, None
    try:
        return scans, _Shaped(path, [scans[i] for i in indexes], progress)
    except NotWhole:
        return _whole(path, scans, indexes, progress), None


@dataclass(frozen=True)
class _Shape:
    """What the representative of a shape says of every port of that shape."""

    kind: str  # the probe's, as describe words it
    opts: Optional[str]  # the probe's TCP options, as describe words them
    ip_version: int
    answer: Optional[str]  # the kind of its answer; None: no answer
    state: str
    reason: str
    probes: int
    handshake: bool


class _Shaped:
    """The ports some sessions of a big capture had classified in bulk,
    described without making the sessions whole (issue 17): the packets
    between each session's scanner and target read again as columns (only
    the frames the bulk ports span), each bulk port found there as its own
    probe row and at most one answer row (fastpath.subset.BulkPorts), the ports grouped by the shape of those two
    rows (fastpath.subset.pair_shapes: alike in every field but
    verify.IDENTITY_FIELDS, which describe reads of every port from its own
    columns), and one representative of each shape replayed by the engine:
    what describe makes of its exchange (the probe's kind and options, the
    answer's kind, state and reason) holds for every port of its shape. A
    shape whose representative is more than its probe and its answer (a
    retry, a follow-up, a handshake) has each of its ports replayed instead.
    NotWhole (BulkPorts) where the rows are not each port's own."""

    def __init__(self, path: PathLike, scans: list, progress=None):
        import numpy as np

        from .fastpath.columns import first_index
        from .fastpath.subset import BulkPorts, pair_shapes

        self.bulk = bp = BulkPorts(path, scans, progress, own_frames=True)
        report(progress, "classifying")
        self.sessions = {}  # id(scan) -> _ShapedSession
        for s in scans:
            rows_b, first, second = bp.pairs(s)
            if not len(rows_b):
                continue
            pt = s.ports
            rframe = pt.rframe[rows_b]
            ids, n = pair_shapes(bp.between.cols, first, second, [pt.state[rows_b], pt.reason[rows_b], rframe >= 0],
                                 IDENTITY_FIELDS, SEQ_FIELDS, SEQ_NEAR)
            shapes = [_shape_of(bp.replayed(s, int(rows_b[j]))[0]) for j in first_index(ids, n).tolist()]
            plain = np.array([sh is not None for sh in shapes], bool)[ids]
            real = dict(pt.objects)  # the engine's ports, and those of shapes that are not a probe and its answer
            real.update((row, bp.replayed(s, row)[0]) for row in rows_b[~plain].tolist())
            self.sessions[id(s)] = _ShapedSession(self, s, sorted(real.items()), rows_b[plain], first[plain],
                                                  second[plain], ids[plain], shapes)

    def session(self, scan) -> "Optional[_ShapedSession]":
        return self.sessions.get(id(scan))


def _shape_of(rep) -> Optional[_Shape]:
    """The _Shape a representative's PortResult stands for; None where its
    exchange is more than one probe and the answer its verdict names."""
    ex = rep.exchange
    if len(ex.probes) != 1 or ex.followups or ex.completed_handshake \
            or tuple(r.frame for r in ex.responses) != tuple(rep.verdict.response_frames):
        return None
    p = ex.probes[0]
    return _Shape(kind=probe_class(p) or p.flag_text, opts=_opts(p) if p.proto == "tcp" else None,
                  ip_version=p.ip_version, answer=(response_kind(ex.responses[0]) or ex.responses[0].proto)
                  if ex.responses else None, state=rep.state.value, reason=rep.verdict.reason.value,
                  probes=len(ex.probes), handshake=ex.completed_handshake)


class _ShapedSession:
    """One session of a _Shaped: its ports with an Exchange (`real`: (row,
    PortResult)), and its bulk ports described by shape: each one's values
    read off the columns of its probe and answer rows."""

    def __init__(self, shaped: _Shaped, scan, real: list, rows, first, second, ids, shapes: list):
        self.shaped, self.scan, self.real = shaped, scan, real
        self.rows, self.first, self.second, self.ids, self.shapes = rows, first, second, ids, shapes
        self._row_of = None

    def probe_rows(self) -> list:
        """A row of PROBE_COLUMNS per bulk port's probe."""
        import numpy as np

        c, first, shapes = self.shaped.bulk.between.cols, self.first, self.shapes
        ids = self.ids.tolist()
        udp = self.scan.ports.udp[self.rows]
        ip_id, dport, seq = (getattr(c, k)[first].astype(np.int64) for k in ("ip_id", "dport", "seq"))
        # masscan's IP ID, (destination ^ port ^ seq) & 0xffff, of a TCP probe; the destination is the target
        target = _addr_int(self.scan.target) & 0xFFFF
        masscan = (~udp & (ip_id == (target ^ dport ^ seq) & 0xFFFF)).tolist()
        n = len(ids)
        return list(zip(c.frame[first].tolist(), c.ts[first].tolist(), ["udp" if u else "tcp" for u in udp.tolist()],
                        [shapes[u].kind for u in ids], c.window[first].tolist(), [shapes[u].opts for u in ids],
                        c.ttl[first].tolist(), ip_id.tolist(), masscan, c.sport[first].tolist(), seq.tolist(),
                        c.ack[first].tolist(), c.flags[first].tolist(), [True] * n, [False] * n,
                        [shapes[u].ip_version for u in ids]))

    def ends(self) -> list:
        """The times of the bulk ports' probes and answers."""
        ts = self.shaped.bulk.between.cols.ts
        answered = self.scan.ports.rframe[self.rows] >= 0
        return ts[self.first].tolist() + ts[self.second[answered]].tolist()

    def port_sides(self, technique: str, start: float) -> dict:
        """row -> PortSide of every bulk port."""
        c, pt, rows = self.shaped.bulk.between.cols, self.scan.ports, self.rows
        out = {}
        for row, u, frame, ts, rf, port, udp, payload in zip(
                rows.tolist(), self.ids.tolist(), c.frame[self.first].tolist(), c.ts[self.first].tolist(),
                pt.rframe[rows].tolist(), pt.port[rows].tolist(), pt.udp[rows].tolist(),
                c.payload[self.first].tolist()):
            sh = self.shapes[u]
            out[row] = PortSide(proto="udp" if udp else "tcp", port=port, technique=technique, state=sh.state,
                                reason=sh.reason, probes=sh.probes, retry_offsets=(), start=ts - start,
                                answers=((sh.answer, rf),) if rf >= 0 else (), payloads=(payload,) if udp else (),
                                handshake=sh.handshake, rsts=(), exchange=None, first_frame=frame)
        return out

    def exchange(self, p: PortSide) -> Exchange:
        """The Exchange of a bulk port, its two rows replayed (the timeline plot draws a few)."""
        if self._row_of is None:
            pt = self.scan.ports
            self._row_of = {("udp" if u else "tcp", port): row for row, u, port in
                            zip(self.rows.tolist(), pt.udp[self.rows].tolist(), pt.port[self.rows].tolist())}
        return self.shaped.bulk.replayed(self.scan, self._row_of[p.key])[0].exchange


def _pick(scans: list, session: Optional[int], path: PathLike, what: str) -> int:
    if session is not None:
        if not 1 <= session <= len(scans):
            raise UsageError(f"{what} {session}: {path} holds {len(scans)} scan session(s)")
        return session - 1
    return max(range(len(scans)), key=lambda i: (_size(scans[i]), -i))


def _size(scan) -> int:
    """Probes of a session (read off the verdicts: the fast path's bulk ports carry no Exchange)."""
    return sum(len(p.verdict.probe_frames) for p in scan.ports)


def _two_scanners(scans: list) -> tuple:
    """The sessions to compare in one capture: the two largest sessions of
    different tools against the same target (the lab's question: the
    student's scapy scan against nmap's), each at least a quarter the size of
    the largest session; else the largest and the next largest against its
    target (a connection of the scanner's browser to some web server, refused
    or unanswered, reads as a connect scan of one port: no match for a second
    scan of the lab's target), or of any target when it has no other."""
    def tool(s):
        return s.tool.name if s.tool is not None else "unknown"

    largest = max(_size(s) for s in scans)
    # both sides a real scan: a tool's stray connection or two beside a big scan is no comparison
    pairs = [(i, j) for i in range(len(scans)) for j in range(i + 1, len(scans))
             if scans[i].target == scans[j].target and tool(scans[i]) != tool(scans[j])
             and 4 * min(_size(scans[i]), _size(scans[j])) >= largest]
    if not pairs:
        first = max(range(len(scans)), key=lambda i: (_size(scans[i]), -i))
        others = [i for i in range(len(scans)) if i != first]
        others = [i for i in others if scans[i].target == scans[first].target] or others
        return tuple(sorted((first, max(others, key=lambda i: (_size(scans[i]), -i)))))
    return max(pairs, key=lambda ij: (min(_size(scans[ij[0]]), _size(scans[ij[1]])),
                                      _size(scans[ij[0]]) + _size(scans[ij[1]]), -ij[0], -ij[1]))


def compare(capture_a: PathLike, capture_b: Optional[PathLike] = None, *, session_a: Optional[int] = None,
            session_b: Optional[int] = None, progress=None) -> Comparison:
    """Compare two captures (the largest session of each unless told), or,
    with one capture, two of its sessions (the two largest unless told).
    Sessions are numbered from 1 in the order `pcapscan analyze` lists them.
    `progress` (pcapscan/progress.py) hears of reading each capture."""
    with no_cyclic_gc():  # two sessions' Packets, Exchanges and PortSides: 100,000s of objects (gcpause.py)
        return _compare(capture_a, capture_b, session_a, session_b, progress)


def _compare(capture_a, capture_b, session_a, session_b, progress) -> Comparison:
    summary_a, scans_a = _load(capture_a, progress)
    warnings = list(summary_a.warnings)
    if capture_b is None:
        path_b, scans_b = capture_a, scans_a
        if len(scans_a) < 2:
            raise UsageError(f"{capture_a} holds one scan session; give a second capture to compare with")
        if session_a is None and session_b is None:
            ia, ib = _two_scanners(scans_a)
        else:
            ia = _pick(scans_a, session_a, capture_a, "--session-a") if session_a is not None else None
            ib = _pick(scans_a, session_b, capture_a, "--session-b") if session_b is not None else None
            rest = [i for i in range(len(scans_a)) if i not in (ia, ib)]
            ia = rest.pop(0) if ia is None else ia
            ib = rest.pop(0) if ib is None else ib
        if ia == ib:
            raise UsageError("--session-a and --session-b name the same session")
    else:
        path_b = capture_b
        summary_b, scans_b = _load(capture_b, progress)
        warnings += summary_b.warnings
        ia = _pick(scans_a, session_a, capture_a, "--session-a")
        ib = _pick(scans_b, session_b, capture_b, "--session-b")
    if capture_b is None:
        scans_a, shaped_a = _prepare(capture_a, scans_a, [ia, ib], progress)
        scans_b, shaped_b = scans_a, shaped_a
    else:
        scans_a, shaped_a = _prepare(capture_a, scans_a, [ia], progress)
        scans_b, shaped_b = _prepare(capture_b, scans_b, [ib], progress)
    report(progress, "comparing")
    a = describe("A", str(capture_a), scans_a, ia, shaped_a)
    b = describe("B", str(path_b), scans_b, ib, shaped_b)
    return build(a, b)


def build(a: Side, b: Side) -> Comparison:
    fields = tuple(FieldRow(name, a.fields.get(name, "-"), b.fields.get(name, "-")) for name in FIELDS)
    keys = sorted(set(a.ports) | set(b.ports))
    rows = []
    for key in keys:
        pa, pb = a.ports.get(key), b.ports.get(key)
        row = PortRow(key[0], key[1], pa, pb)
        if not row.agree:
            row = PortRow(key[0], key[1], pa, pb, explain(pa, pb))
        rows.append(row)
    return Comparison(a=a, b=b, fields=fields, ports=tuple(rows), notes=tuple(notes(a, b)))


# -- explaining -------------------------------------------------------------------------


def _kinds(p: PortSide) -> tuple:
    return tuple(sorted({k for k, _ in p.answers}))


def _saw(label: str, p: PortSide) -> str:
    tries = f"{p.probes} probe{'s' if p.probes != 1 else ''}"
    return f"{label} ({p.technique}) sent {tries} and got {p.answer_text}: {p.state} ({p.reason})"


def explain(pa: Optional[PortSide], pb: Optional[PortSide]) -> str:
    """Why two scans disagree on one port, in one or two sentences."""
    if pa is None or pb is None:
        only, p = ("A", pa) if pb is None else ("B", pb)
        return f"only {only} probed {p.port}/{p.proto} ({p.state}, {p.reason})."
    what = f"{_saw('A', pa)}; {_saw('B', pb)}."
    if state_relation(pa.state, pb.state) == CONSISTENT:
        return f"{what} {_why_consistent(pa, pb)}"
    ka, kb = _kinds(pa), _kinds(pb)
    if ka == kb and ka:
        words = " and ".join(RESPONSE_WORDS.get(k, k) for k in ka)
        if pa.technique != pb.technique:
            why = ""
            if "connect" in (pa.technique, pb.technique) and "icmp-port-unreach" in ka:
                why = (" connect() sees no packet, only the socket error the kernel makes of the ICMP message: "
                       "ECONNREFUSED, the same error a RST gives, hence closed.")
            return (f"{what} Both got {words}: a {pa.technique} scan reads that as {pa.state}, "
                    f"a {pb.technique} scan as {pb.state}.{why}")
        return f"{what} The answers are alike; the verdicts differ by which answer came first."
    if bool(ka) != bool(kb):
        got, silent = (("A", pa), ("B", pb)) if ka else (("B", pb), ("A", pa))
        (gl, gp), (sl, sp) = got, silent
        cause = _payload_cause(gl, gp, sl, sp)
        if cause:
            return f"{what} {cause}."
        if sp.probes < gp.probes:
            return (f"{what} {sl} sent fewer probes ({sp.probes} against {gp.probes}): without retransmissions "
                    f"one lost packet reads as silence.")
        return (f"{what} The target answered {gl}'s probe but not {sl}'s: a firewall rule matching the probes' "
                f"fields, rate limiting, or loss.")
    if pa.technique != pb.technique:
        return (f"{what} The two techniques ask different questions ({pa.technique} vs {pb.technique}), "
                f"and the target answered each differently.{_rfc793_deviation(pa, pb)}")
    return (f"{what} The target answered the two scans differently: its state changed between them, or a "
            f"firewall treats the probes differently (TTL, window, options, source port).")


def _payload_cause(gl: str, gp: PortSide, sl: str, sp: PortSide) -> str:
    """Why a UDP port answered side gl (gp) and not side sl (sp), when only one
    of them carried a payload; "" otherwise."""
    if gp.proto != "udp" or (max(gp.payloads or (0,)) > 0) == (max(sp.payloads or (0,)) > 0):
        return ""
    loaded = gp if max(gp.payloads or (0,)) else sp
    ll, el = (gl, sl) if loaded is gp else (sl, gl)
    cause = (f"{ll}'s datagram carried {max(loaded.payloads)} bytes of payload and {el}'s was empty: "
             f"a UDP service answers only a request it understands")
    if loaded is gp and gp.port in NMAP_UDP_PAYLOAD_PORTS:
        cause += " (nmap sends such payloads to well-known ports)"
    return cause


# Techniques whose probe carries none of SYN, RST, ACK: RFC 793 (page 65)
# has an open (LISTEN) port drop it, so only a closed port answers.
_RFC793_SILENT = frozenset({"fin", "xmas", "null"})
_RFC793_TEXT = ("RFC 793, page 65: a segment without SYN, RST or ACK that reaches a listening port is dropped; "
                "only a closed port answers RST")
# Maimon's FIN/ACK carries ACK, which RFC 793 has a listening port reset;
# BSD-derived stacks drop it instead (Uriel Maimon, Phrack 49).
_MAIMON_TEXT = ("a Maimon probe (FIN/ACK) carries ACK, which RFC 793 has a listening port answer with RST; "
                "only BSD-derived stacks drop it on an open port (Uriel Maimon's observation)")


def _textbook(technique: str) -> str:
    """"FIN scan: RST means closed; ...": the technique's state table in the words verify uses, or ""."""
    try:
        spec = REGISTRY.get(Technique(technique))
    except ValueError:
        spec = None
    key = f"textbook.{spec.textbook_key}" if spec is not None else ""
    return f"{spec.title}: {render(T(key), 'en')}" if key in MESSAGES else ""


def _words(states) -> str:
    return " or ".join(s.value for s in State if s in states)  # in nmap's order: open, closed, filtered


def _why_consistent(pa: PortSide, pb: PortSide) -> str:
    """Why two different readings of one port are both right (state_relation
    CONSISTENT), from the two techniques' textbook lines."""
    common = _stands_for(pa.state) & _stands_for(pb.state)
    (nl, narrow), (wl, wide) = sorted((("A", pa), ("B", pb)), key=lambda lp: len(_stands_for(lp[1].state)))
    books = [b for b in dict.fromkeys((_textbook(wide.technique), _textbook(narrow.technique))) if b]
    book = ("Textbook: " + " ".join(b if b.endswith(".") else b + "." for b in books)) if books else ""
    if len(_stands_for(narrow.state)) > 1:  # two wide states: together they narrow it down
        return (f"Consistent, not a contradiction: {nl}'s {narrow.state} stands for "
                f"{_words(_stands_for(narrow.state))} and {wl}'s {wide.state} for {_words(_stands_for(wide.state))}; "
                f"together they say {_words(common)}. {book}").rstrip()
    out = [f"Consistent, not a contradiction: {wl}'s {wide.state} stands for {_words(_stands_for(wide.state))}, "
           f"and {nl}'s {narrow.state} is one of them."]
    said = (f"the {narrow.technique} scan's answer ({narrow.answer_text}) says {narrow.state}" if narrow.answers
            else f"to the {narrow.technique} scan the same silence means {narrow.state}")
    if narrow.state == "open" and wide.technique in _RFC793_SILENT:
        probe = render(T(f"probe.{wide.technique}"), "en")
        out.append(f"An open port ignores {probe} ({_RFC793_TEXT}), so {wide.state} is what the "
                   f"{wide.technique} scan must show for it; {said}.")
    elif narrow.state == "open" and wide.technique == "maimon":
        out.append(f"The target dropped the probe as an open port of a BSD-derived stack does ({_MAIMON_TEXT}), "
                   f"so {wide.state} is what the maimon scan shows for it; {said}.")
    elif narrow.state == "open" and wide.technique == "udp":
        cause = _payload_cause(nl, narrow, wl, wide) if narrow.answers and not wide.answers else ""
        out.append(f"{cause[0].upper()}{cause[1:]}; silence from an open UDP port reads {wide.state}, and {said}."
                   if cause else f"An open UDP port answers only a request its service understands, so its "
                                 f"silence reads {wide.state}; {said}.")
    elif f"why.{wide.state}" in MESSAGES:
        out.append(f"To the {wide.technique} scan {render(T(f'why.{wide.state}'), 'en')}, while {said}.")
    if book:
        out.append(book)
    return " ".join(out)


def _rfc793_deviation(pa: PortSide, pb: PortSide) -> str:
    """An open port read closed by a FIN/NULL/Xmas or Maimon scan: why."""
    for opened, reset in ((pa, pb), (pb, pa)):
        if opened.state != "open" or reset.state != "closed":
            continue
        if reset.technique in _RFC793_SILENT:
            return (f" {_RFC793_TEXT[0].upper()}{_RFC793_TEXT[1:]}: a stack that resets an open port too departs "
                    f"from it (Windows and some embedded stacks reset every port; `pcapscan verify` names this "
                    f"rfc793-deviation). Trust the {opened.technique} scan.")
        if reset.technique == "maimon":
            return (f" Most stacks reset an open port too: {_MAIMON_TEXT}. On this target the maimon scan cannot "
                    f"tell open from closed; trust the {opened.technique} scan.")
    return ""


def notes(a: Side, b: Side) -> list:
    """The differences a network-security teacher would point out."""
    out = []
    if a.tool != b.tool:
        out.append(f"A looks like {a.tool} ({a.tool_confidence:.2f}) and B like {b.tool} ({b.tool_confidence:.2f}): "
                   f"A's {_first_evidence(a)}; B's {_first_evidence(b)}.")
    shape = [name for name in ("window", "TCP options", "TTL", "source port", "sequence number", "IP ID")
             if a.fields[name] != b.fields[name] and "-" not in (a.fields[name], b.fields[name])]
    if shape:
        out.append("Probes built differently: " + "; ".join(
            f"{name} A {a.fields[name]}, B {b.fields[name]}" for name in shape) + ".")
    kernel_sides = [s for s in (a, b) if any(r.sender == "kernel" for r in s.rsts)]
    if kernel_sides:
        who = "both A and B" if len(kernel_sides) == 2 else kernel_sides[0].label
        r = next(r for r in kernel_sides[0].rsts if r.sender == "kernel")
        out.append(f"In {who} the scanner's kernel reset the SYN/ACK (e.g. {kernel_sides[0].label} frame {r.frame}, "
                   f"port {r.port}: a bare RST, window 0, seq = the SYN/ACK's ack): the raw SYN had no socket "
                   f"behind it, so the kernel refused the connection the target offered.")
    for s in (a, b):
        tool = [r for r in s.rsts if r.sender == "tool"]
        if tool:
            out.append(f"In {s.label} the tool sent its own RST as well (frame {tool[0].frame}, {tool[0].text}), "
                       f"built by hand rather than by the kernel.")
        done = [p for p in s.ports.values() if p.handshake]
        if done:
            out.append(f"{s.label} completed the TCP handshake on port {done[0].port} (the ACK after the SYN/ACK): "
                       f"a real connect(), which the target's application sees and may log.")
    a_done = any(p.handshake for p in a.ports.values())
    b_done = any(p.handshake for p in b.ports.values())
    if a_done != b_done:
        yes, no = (a, b) if a_done else (b, a)
        if any(k == "syn-ack" for p in no.ports.values() for k, _ in p.answers):
            out.append(f"{no.label} got a SYN/ACK too but never completed the handshake: a half-open scan, "
                       f"whatever its author called it; {yes.label} did complete it.")
    if a.retransmissions != b.retransmissions:
        more, less = (a, b) if a.retransmissions > b.retransmissions else (b, a)
        offsets = [t for p in more.ports.values() for t in p.retry_offsets]
        when = f" {statistics.median(offsets):.2f} s after the first try" if offsets else ""
        again = _probes_after_an_answer(more)
        did = f"sent {more.retransmissions} probe(s) again" if again else \
            f"retransmitted {more.retransmissions} unanswered probe(s)"
        rerun = f", {again} of them to a port that had already answered: a second run, not retransmissions" \
            if again else ""
        out.append(f"{more.label} {did}{when}"
                   f" ({more.fields['source port']}){rerun}; {less.label} sent "
                   f"{'each probe once' if not less.retransmissions else f'{less.retransmissions} retransmission(s)'}"
                   f", so a single lost packet can turn a port filtered there.")
    pa, pb = a.fields["UDP payload"], b.fields["UDP payload"]
    if pa != pb and "-" not in (pa, pb):
        out.append(f"UDP payloads: A {pa}; B {pb}. Many UDP services stay silent unless the request makes sense "
                   f"to them, so a payload can make the difference between open and open|filtered.")
    if a.fields["port order"].split(" ")[0] != b.fields["port order"].split(" ")[0]:
        out.append(f"Port order: A {a.fields['port order']}; B {b.fields['port order']}.")
    out.append(f"Timing: A took {a.fields['duration']} (gaps {a.fields['inter-probe gap']}); "
               f"B took {b.fields['duration']} (gaps {b.fields['inter-probe gap']}).")
    shared = set(a.ports) & set(b.ports)
    relations = Counter(state_relation(a.ports[key].state, b.ports[key].state) for key in shared)
    n_dis, n_fit = relations[DISAGREE], relations[CONSISTENT]
    n_one = len(set(a.ports) ^ set(b.ports))
    fit = (f"; {n_fit} port(s) read differently but consistently (one technique's wide state holds the other's "
           f"narrower one): see the consistent readings" if n_fit else "")
    if not shared:
        out.append("The two scans probed no port in common.")
    elif not n_dis and not n_fit:
        out.append("The two scans agree on the state of every port both probed.")
    elif not n_dis:
        out.append(f"The two scans contradict each other on no port{fit}.")
    else:
        out.append(f"The scans disagree on {n_dis} of the {len(shared)} port(s) both probed: see the "
                   f"disagreements{fit}.")
    if n_one:
        out.append(f"{n_one} port(s) were probed by only one of the scans.")
    return out


def _first_evidence(s: Side) -> str:
    ev = [e for e in s.tool_evidence if not e.startswith("against:")][:2]
    return "; ".join(ev) if ev else "fields fit no known tool"


__all__ = ["compare", "Comparison", "Side", "PortSide", "PortRow", "FieldRow", "RstInfo", "FIELDS", "explain",
           "describe", "build", "state_relation", "SAME", "CONSISTENT", "DISAGREE", "ONE_SIDED"]
