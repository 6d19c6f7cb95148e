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
from .messages import MESSAGES, Said, T, said
from .model import ACK, RST, Exchange, Packet, Scan, State, Technique, Text
from .progress import report
from .techniques import REGISTRY, response_kind
from .verify import IDENTITY_FIELDS, SEQ_FIELDS, SEQ_NEAR, WIDER

PathLike = Union[str, "os.PathLike[str]"]

# compare's sentences are messages.py's "compare.*" templates, handed back as
# messages.Said: their English wherever a string is read (JSON, tests), said
# again in Chinese by report/compare_report.py.


def _join(items: list, key: str = "compare.list") -> Said:
    """items said one after the other, joined by the template `key` ("{head}, {tail}")."""
    out = items[0]
    for item in items[1:]:
        out = said(key, head=out, tail=item)
    return out


@lru_cache(maxsize=None)  # words without parameters, said for every port again and again
def _word(key: str) -> Said:
    return said(key)


def answer_word(kind: str):
    """An answer's kind ("syn-ack", "icmp-port-unreach", ...) in words."""
    key = f"compare.answer.{kind}"
    return _word(key) if key in MESSAGES else kind


def technique_word(technique: str) -> Said:
    """A technique's value ("syn") as compare says it: itself in English, its title in Chinese."""
    return _word(f"compare.technique.{technique}")


def _values(values, limit: int = 4):
    """fingerprint.values_text's words, its "(+3 more)" said in either language."""
    counts = Counter(values)
    shown = values_text([v for v, _n in counts.most_common(limit)], limit)
    more = len(counts) - limit
    return said("compare.values.more", shown=shown, more=more) if more > 0 else shown


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
    def answer_text(self) -> Said:
        if not self.answers:
            return _word("compare.no-answer")
        return _join([said("compare.answer", what=answer_word(kind), frame=frame) for kind, frame in self.answers])

    @property
    def retry_text(self) -> str:
        """The first RETRIES_SHOWN retries' offsets, then how many more: a port
        probed hundreds of times (hping3 at a steady rate, a scan script in a
        loop) takes one cell, not a page (--format json keeps every one)."""
        if not self.retry_offsets:
            return "-"
        shown = _join([said("compare.retry", t=f"{t:.2f}") for t in self.retry_offsets[:RETRIES_SHOWN]])
        more = len(self.retry_offsets) - RETRIES_SHOWN
        return said("compare.values.more", shown=shown, more=more) if more > 0 else shown


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
    def title(self) -> Said:
        s = self.scan
        return said("compare.title", label=self.label, capture=self.capture, session=self.session,
                    sessions=self.sessions, scanner=s.scanner, target=s.target,
                    technique=technique_word(s.technique.value), n=len(s.ports))


FIELDS = ("tool", "technique", "probes", "retransmissions", "duration", "inter-probe gap", "flags", "window",
          "TCP options", "TTL", "IP ID", "source port", "sequence number", "UDP payload", "handshake",
          "RST sent by", "port order", "states")


def _secs(t: float) -> Said:
    if t >= 1:
        return said("compare.s", t=f"{t:.2f}")
    if t >= 0.001:
        return said("compare.ms", t=f"{t * 1000:.1f}")
    return said("compare.us", t=f"{t * 1e6:.0f}")


def ttl_pattern(ttls: list) -> str:
    """The probes' TTLs (in frame order), in words."""
    if not ttls:
        return "-"
    distinct = sorted(set(ttls))
    if len(distinct) == 1:
        hops = initial_ttl(ttls[0]) - ttls[0]
        return said("compare.ttl.every", ttl=ttls[0],
                    initial=said("compare.ttl.initial", ttl=initial_ttl(ttls[0])) if 0 < hops <= 16 else "")
    return said("compare.ttl.varies", n=len(distinct), low=distinct[0], high=distinct[-1])


def ipid_pattern(ip_version: int, ids: list, masscan: list) -> str:
    """The probes' IP IDs (in frame order), in words; `masscan`: per probe, whether it is a TCP
    probe whose IP ID is masscan's (destination ^ port ^ seq) & 0xffff."""
    if not ids:
        return "-"
    if ip_version == 6:
        return said("compare.ipid.v6")
    if len(set(ids)) == 1:
        return said("compare.ipid.every", id=ids[0])
    if all(masscan):
        return said("compare.ipid.masscan")
    steps = [(b - a) % 65536 for a, b in zip(ids, ids[1:])]
    if steps and sum(1 for s in steps if 0 < s <= 16) >= 0.8 * len(steps):
        return said("compare.ipid.incrementing", id=ids[0])
    return said("compare.ipid.random", n=len(set(ids)), probes=len(ids))


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
    retries = (said("compare.sport.retries", ports=_values(retry_ports, 3)) if retry_ports else
               said("compare.sport.retries.same") if retry_sports else "")
    if len(sports) >= 2 and n >= 0.8 * len(sports):
        return said("compare.sport.one", port=base, retries=retries)
    if len(sports) == 1:
        return said("compare.sport.single", port=base, retries=retries)
    steps = [b - a for a, b in zip(sports, sports[1:])]
    if steps and sum(1 for s in steps if s == 1) >= 0.8 * len(steps):
        return said("compare.sport.incrementing", port=sports[0])
    if len(counts) == len(sports):
        return said("compare.sport.new", ports=_values(sports, 3))
    return said("compare.sport.some", n=len(counts), ports=_values(sports, 3))


def seq_pattern(tcp_first: list) -> str:
    """The (flags, seq, ack) of the TCP first tries (in frame order), in words."""
    if not tcp_first:
        return "-"
    uses_ack = all(flags & ACK for flags, _seq, _ack in tcp_first)
    keys = [(ack if uses_ack else seq) for _flags, seq, ack in tcp_first]
    word = "ack" if uses_ack else "seq"
    value, n = Counter(keys).most_common(1)[0]
    if len(tcp_first) >= 2 and n >= 0.8 * len(tcp_first):
        return said("compare.seq.every-first", word=word, value=value) if value else said("compare.seq.zero", word=word)
    if len(tcp_first) == 1:
        return said("compare.seq.one", word=word, value=keys[0])
    return said("compare.seq.new", n=len(set(keys)))


def port_order(order) -> str:
    ports = [p for _proto, p in order]
    if len(ports) < 2:
        return ", ".join(map(str, ports)) or "-"
    head = ", ".join(map(str, ports[:6])) + (", ..." if len(ports) > 6 else "")
    if ports == sorted(ports):
        return said("compare.order.ascending", ports=head)
    if ports == sorted(ports, reverse=True):
        return said("compare.order.descending", ports=head)
    return said("compare.order.shuffled", ports=head)


def classify_rst(pkt: Packet, ex: Exchange) -> RstInfo:
    text = said("compare.rst", flags=pkt.flag_text, window=pkt.window, seq=pkt.seq, ttl=pkt.ttl)
    if ex.completed_handshake:
        sender = "kernel (connect)"
    elif is_kernel_rst(pkt, synacks(ex)):
        sender = "kernel"
    else:
        sender = "tool"
    return RstInfo(frame=pkt.frame, proto=ex.proto, port=ex.port, sender=sender, text=text)


# What describe reads of each probe, one column each (_probe_rows, _ShapedSession.probe_columns).
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


def _probe_columns(rows: list, bulk: "Optional[_ShapedSession]") -> dict:
    """PROBE_COLUMNS name -> an array of its values, every probe's in frame
    order: `rows` (of the ports with an Exchange, _probe_rows) and the bulk
    ports' columns (_ShapedSession.probe_columns); kind, opts and proto
    arrays of objects. Arrays, not a tuple per probe: a port that never
    answered is probed hundreds of times."""
    import numpy as np

    mine = dict(zip(PROBE_COLUMNS, map(list, zip(*rows)))) if rows else {k: [] for k in PROBE_COLUMNS}
    theirs = bulk.probe_columns() if bulk is not None else {}
    frames = np.array(mine["frame"], np.int64)
    if theirs:
        frames = np.concatenate([frames, theirs["frame"].astype(np.int64)])
    order = np.argsort(frames, kind="stable")
    out = {}
    for k in PROBE_COLUMNS:
        if k in ("kind", "opts", "proto"):
            got = np.empty(len(mine[k]), object)  # strings, None
            got[:] = mine.pop(k)
        else:
            got = np.array(mine.pop(k), np.float64 if k == "ts" else bool if k in ("masscan", "first", "retry")
                           else np.int64)
        if theirs:
            got = np.concatenate([got, theirs.pop(k)])
        out[k] = got[order]
    return out


def describe(label: str, capture: str, scans: list, index: int, shaped: "Optional[_Shaped]" = None) -> Side:
    """A Side for session `index` (0-based) of a capture's scans. Every port
    with an Exchange is described from it; with `shaped`, the ports the fast
    path classified in bulk are described by their shape (_Shaped)."""
    import numpy as np

    scan = scans[index]
    bulk = shaped.session(scan) if shaped is not None else None
    real = bulk.real if bulk is not None else list(enumerate(scan.ports))  # (row, PortResult with Exchange)
    exchanges = [pr.exchange for _row, pr in real]
    col = _probe_columns([r for ex in exchanges for r in _probe_rows(ex)], bulk)
    n_rows = len(col["frame"])
    start = col["ts"].min().item() if n_rows else 0.0  # not the first frame's: records can go back in time
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
    first, retries, tcp = col["first"], col["retry"], col["proto"] == "tcp"
    gaps = tuple(np.diff(np.sort(col["ts"][first])).tolist())  # in time, never negative (an out-of-order capture)
    tool = scan.tool
    f = {}
    f["tool"] = said("analyze.tool", name=tool.name, confidence=f"{tool.confidence:.2f}") if tool is not None else "-"
    f["technique"] = (said("compare.technique.flags", technique=technique_word(scan.technique.value),
                           flags=scan.probe_flags or "none") if scan.probe_flags is not None
                      else technique_word(scan.technique.value))
    f["probes"] = said("compare.probes", n=n_rows, ports=len(ports))
    f["retransmissions"] = _retransmission_text(ports)
    f["duration"] = _secs(last - start)
    f["inter-probe gap"] = (said("compare.gap", median=_secs(statistics.median(gaps)), low=_secs(min(gaps)),
                                 high=_secs(max(gaps))) if gaps else "-")
    f["flags"] = _values(col["kind"].tolist()) if n_rows else "-"
    f["window"] = _values(col["window"][tcp].tolist()) if tcp.any() else "-"
    f["TCP options"] = _values(col["opts"][tcp].tolist(), 3) if tcp.any() else "-"
    f["TTL"] = ttl_pattern(col["ttl"].tolist())
    f["IP ID"] = ipid_pattern(int(col["ip_version"][0]) if n_rows else 0, col["ip_id"].tolist(),
                              col["masscan"].tolist())
    f["source port"] = sport_pattern(col["sport"][first].tolist(), col["sport"][retries].tolist())
    tcp_first = first & tcp
    f["sequence number"] = seq_pattern(list(zip(*(col[k][tcp_first].tolist() for k in ("flags", "seq", "ack")))))
    f["UDP payload"] = _payload_text(udp_payloads)
    f["handshake"] = _handshake_text(ports)
    f["RST sent by"] = _rst_text(rsts)
    f["port order"] = port_order(order)
    states = Counter(p.state for p in ports.values()).most_common()
    f["states"] = _join([said("compare.state.count", state=state, n=n) for state, n in states]) if states else ""
    return Side(label=label, capture=capture, session=index + 1, sessions=len(scans), scan=scan,
                tool=tool.name if tool else "unknown", tool_confidence=tool.confidence if tool else 0.0,
                tool_evidence=tuple(tool.evidence) if tool else (), fields=f, ports=ports, order=order,
                start=start, duration=last - start, probe_count=n_rows, retransmissions=int(retries.sum()),
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
        return said("compare.none")
    total = sum(len(p.retry_offsets) for p in retried)
    offsets = [t for p in retried for t in p.retry_offsets]
    shown = _join([said("compare.retransmissions.port", port=p.port, proto=p.proto, retries=p.retry_text)
                   for p in retried[:3]])
    more = said("compare.more-ports", n=len(retried) - 3) if len(retried) > 3 else ""
    return said("compare.retransmissions", total=total, ports=len(retried),
                median=f"{statistics.median(offsets):.2f}", shown=shown, more=more)


def _payload_text(payloads: dict) -> str:
    if not payloads:
        return "-"
    loaded = {port: [n for n in lens if n] for port, lens in payloads.items()}
    loaded = {port: lens for port, lens in loaded.items() if lens}
    if not loaded:
        return said("compare.payload.empty")
    words = {port: said("compare.payload.bytes", sizes="+".join(map(str, lens)))
             for port, lens in sorted(loaded.items())}
    if len(loaded) == len(payloads) and len(set(words.values())) == 1:
        return said("compare.payload.every", size=next(iter(words.values())))
    shown = _join([said("compare.payload.port", port=port, size=w) for port, w in list(words.items())[:4]])
    if len(words) > 4:
        shown = said("compare.then", head=shown, tail=said("compare.more-ports", n=len(words) - 4))
    return said("compare.payload.others-empty", shown=shown) if len(loaded) < len(payloads) else shown


def _handshake_text(ports: dict) -> str:
    done = [p for p in ports.values() if p.handshake]
    synacked = [p for p in ports.values() if any(k == "syn-ack" for k, _ in p.answers)]
    if done:
        return said("compare.handshake.completed", ports=_join([str(p.port) for p in done[:5]]))
    if synacked:
        return said("compare.handshake.never")
    return said("compare.handshake.none")


def _rst_text(rsts) -> str:
    if not rsts:
        return said("compare.none")
    counts = Counter(r.sender for r in rsts)
    return _join([said("compare.count", what=said(f"compare.sender.{sender}"), n=n)
                  for sender, n in counts.most_common()], "compare.semi")


# -- the comparison ----------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRow:
    name: str
    a: str
    b: str

    @property
    def same(self) -> bool:
        return same_pattern(self.a, self.b)


# What a pattern's words say of one run only: how many values it drew, the
# first few of them, where a count started. Two scans built the same way (two
# nmap runs: random IP IDs, a new source port per probe) differ in these, so
# fields are compared without them (same_pattern); a constant (TTL 64 against
# 128, IP ID 1 on every probe) is how a probe is built and stays compared.
RUN_SPECIFIC = {
    "compare.ipid.random": ("n", "probes"), "compare.ipid.incrementing": ("id",),
    "compare.ttl.varies": ("n", "low", "high"), "compare.seq.new": ("n",),
    "compare.sport.new": ("ports",), "compare.sport.some": ("n", "ports"), "compare.sport.incrementing": ("port",),
    "compare.sport.retries": ("ports",),
    "compare.order.ascending": ("ports",), "compare.order.descending": ("ports",), "compare.order.shuffled": ("ports",),
}


def pattern_of(words):
    """A field's words as the pattern they name: the template and its parameters but
    RUN_SPECIFIC's (words written without a template: themselves)."""
    text = words.text if isinstance(words, Said) else words
    if not isinstance(text, Text):
        return str(words)
    skip = RUN_SPECIFIC.get(text.key, ())
    return text.key, tuple((k, pattern_of(v)) for k, v in text.params if k not in skip)


def same_pattern(a, b) -> bool:
    """Whether two fields' words name one pattern (RUN_SPECIFIC aside)."""
    return a == b or pattern_of(a) == pattern_of(b)


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
            raise InputError(said("compare.error.client-only", path=path, n=len(every)))
        raise InputError(said("compare.error.no-probes", path=path))
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
    retry, a follow-up, a handshake) has each of its ports replayed instead;
    but a port that never answered, probed again (PortTable.more: its retries
    handed on as columns), is described so too, its number of probes in the
    shape key and its retries read off their own rows (BulkPorts reopened:
    found by their frames among the other runs' packets of that port).
    NotWhole (BulkPorts) where the rows are not each port's own."""

    def __init__(self, path: PathLike, scans: list, progress=None):
        import numpy as np

        from .fastpath.columns import first_index
        from .fastpath.subset import BulkPorts, pair_shapes

        # a port that never answered, probed again (PortTable.more: its retries handed on as columns) shares its
        # port with its own retries and often with other runs' flows: found by every probe's frame (reopened),
        # the packets between the pairs read whole (its retries may lie past the other bulk ports' frames)
        again = any(getattr(s.ports, "more", None) for s in scans)
        self.bulk = bp = BulkPorts(path, scans, progress, own_frames=not again, reopened=again)
        report(progress, "classifying")
        self.sessions = {}  # id(scan) -> _ShapedSession
        for s in scans:
            rows_b, first, second = bp.pairs(s)
            if not len(rows_b):
                continue
            pt = s.ports
            rframe = pt.rframe[rows_b]
            probes, alike = self._probes(s, rows_b, first)
            ids, n = pair_shapes(bp.between.cols, first, second, [pt.state[rows_b], pt.reason[rows_b], rframe >= 0,
                                                                  probes, alike], IDENTITY_FIELDS, SEQ_FIELDS, SEQ_NEAR)
            shapes = [_shape_of(bp.replayed(s, int(rows_b[j]))[0]) for j in first_index(ids, n).tolist()]
            plain = np.array([sh is not None for sh in shapes], bool)[ids] & alike
            real = dict(pt.objects)  # the engine's ports, and those of shapes that are not a probe and its answer
            real.update((row, bp.replayed(s, row)[0]) for row in rows_b[~plain].tolist())
            self.sessions[id(s)] = _ShapedSession(self, s, sorted(real.items()), rows_b[plain], first[plain],
                                                  second[plain], ids[plain], shapes)

    def _probes(self, s, rows_b, first) -> tuple:
        """(each bulk row's number of probes (PortTable.probe_counts), whether its probes after the
        first are alike the first in everything its shape stands for: flags, options, payload),
        rows probed again read off BulkPorts.probes_again."""
        import numpy as np

        c = self.bulk.between.cols
        again = self.bulk.probes_again.get(id(s), {})
        probes = s.ports.probe_counts(rows_b)
        alike = np.ones(len(rows_b), bool)
        if again:
            for j, row in enumerate(rows_b.tolist()):
                got = again.get(row)
                if got is None:
                    continue
                f = first[j]
                alike[j] = got[0] == f and all((getattr(c, k)[got] == getattr(c, k)[f]).all()
                                               for k in ("udp", "flags", "opt", "mss", "payload"))
        return probes, alike

    def session(self, scan) -> "Optional[_ShapedSession]":
        return self.sessions.get(id(scan))


def _shape_of(rep) -> Optional[_Shape]:
    """The _Shape a representative's PortResult stands for; None where its
    exchange is more than one probe and the answer its verdict names."""
    ex = rep.exchange
    if ex.followups or ex.completed_handshake or (len(ex.probes) > 1 and ex.responses) \
            or tuple(r.frame for r in ex.responses) != tuple(rep.verdict.response_frames):
        return None
    p = ex.probes[0]
    if len(ex.probes) > 1 and (len(_retries(ex)) != len(ex.probes) - 1  # a port that never answered, probed again:
                               or any(probe_class(q) != probe_class(p) or q.proto != p.proto  # retries like its first
                                      or (q.proto == "tcp" and _opts(q) != _opts(p)) for q in ex.probes[1:])):
        return None
    return _Shape(kind=probe_class(p) or p.flag_text, opts=_opts(p) if p.proto == "tcp" else None,
                  ip_version=p.ip_version, answer=(response_kind(ex.responses[0]) or ex.responses[0].proto)
                  if ex.responses else None, state=rep.state.value, reason=rep.verdict.reason.value,
                  probes=len(ex.probes), handshake=ex.completed_handshake)


class _ShapedSession:
    """One session of a _Shaped: its ports with an Exchange (`real`: (row,
    PortResult)), and its bulk ports described by shape: each one's values
    read off the columns of its probe and answer rows."""

    def __init__(self, shaped: _Shaped, scan, real: list, rows, first, second, ids, shapes: list):
        import numpy as np

        self.shaped, self.scan, self.real = shaped, scan, real
        self.rows, self.first, self.second, self.ids, self.shapes = rows, first, second, ids, shapes
        self._row_of = None
        # the retries of the ports probed again (BulkPorts.probes_again), rows of between.cols: (row's index
        # among `rows`, retry row) each, in the order of `rows`
        again = shaped.bulk.probes_again.get(id(scan), {})
        retries = [(j, r) for j, row in enumerate(rows.tolist()) if row in again for r in again[row][1:].tolist()]
        self.retry_of = np.array([j for j, _r in retries], np.int64)
        self.retry_rows = np.array([r for _j, r in retries], np.int64)

    def probe_columns(self) -> dict:
        """PROBE_COLUMNS name -> its values (an array or a list), a value per bulk port's probe (its retries'
        too), the first probes, then the retries."""
        import numpy as np

        c, shapes = self.shaped.bulk.between.cols, self.shapes
        at = np.concatenate([self.first, self.retry_rows])
        ids = np.concatenate([self.ids, self.ids[self.retry_of]])
        udp = self.scan.ports.udp[self.rows]
        udp = np.concatenate([udp, udp[self.retry_of]])
        ip_id, dport, seq = (getattr(c, k)[at].astype(np.int64) for k in ("ip_id", "dport", "seq"))
        # masscan's IP ID, (destination ^ port ^ seq) & 0xffff, of a TCP probe; the destination is the target
        target = _addr_int(self.scan.target) & 0xFFFF
        first = np.zeros(len(at), bool)
        first[:len(self.first)] = True

        def of_shape(name):
            return np.array([getattr(sh, name) if sh is not None else None for sh in shapes], object)[ids]

        return {"frame": c.frame[at], "ts": c.ts[at], "proto": np.where(udp, "udp", "tcp").astype(object),
                "kind": of_shape("kind"), "window": c.window[at], "opts": of_shape("opts"), "ttl": c.ttl[at],
                "ip_id": ip_id, "masscan": ~udp & (ip_id == (target ^ dport ^ seq) & 0xFFFF), "sport": c.sport[at],
                "seq": seq, "ack": c.ack[at], "flags": c.flags[at], "first": first, "retry": ~first,
                "ip_version": of_shape("ip_version")}

    def ends(self) -> list:
        """The latest of the bulk ports' probes (their retries' too) and answers, if any."""
        import numpy as np

        ts = self.shaped.bulk.between.cols.ts
        answered = self.scan.ports.rframe[self.rows] >= 0
        every = np.concatenate([ts[self.first], ts[self.retry_rows], ts[self.second[answered]]])
        return [every.max().item()] if len(every) else []

    def port_sides(self, technique: str, start: float) -> dict:
        """row -> PortSide of every bulk port."""
        c, pt, rows = self.shaped.bulk.between.cols, self.scan.ports, self.rows
        offsets = [[] for _ in range(len(rows))]  # each port's retries, seconds after its first probe
        for j, t in zip(self.retry_of.tolist(), (c.ts[self.retry_rows] - c.ts[self.first[self.retry_of]]).tolist()):
            offsets[j].append(t)
        out = {}
        for row, u, frame, ts, rf, port, udp, payload, after in zip(
                rows.tolist(), self.ids.tolist(), c.frame[self.first].tolist(), c.ts[self.first].tolist(),
                pt.rframe[rows].tolist(), pt.port[rows].tolist(), pt.udp[rows].tolist(),
                c.payload[self.first].tolist(), offsets):
            sh = self.shapes[u]
            out[row] = PortSide(proto="udp" if udp else "tcp", port=port, technique=technique, state=sh.state,
                                reason=sh.reason, probes=sh.probes, retry_offsets=tuple(after), start=ts - start,
                                answers=((sh.answer, rf),) if rf >= 0 else (),
                                payloads=(payload,) * sh.probes if udp else (), handshake=sh.handshake, rsts=(),
                                exchange=None, first_frame=frame)
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
            raise UsageError(said("compare.error.no-session", option=what, session=session, path=path, n=len(scans)))
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
            raise UsageError(said("compare.error.one-session", path=capture_a))
        if session_a is None and session_b is None:
            ia, ib = _two_scanners(scans_a)
        else:
            ia = _pick(scans_a, session_a, capture_a, "--session-a") if session_a is not None else None
            ib = _pick(scans_a, session_b, capture_a, "--session-b") if session_b is not None else None
            rest = [i for i in range(len(scans_a)) if i not in (ia, ib)]
            ia = rest.pop(0) if ia is None else ia
            ib = rest.pop(0) if ib is None else ib
        if ia == ib:
            raise UsageError(said("compare.error.same-session"))
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


def _saw(label: str, p: PortSide) -> Said:
    return said("compare.saw", side=label, technique=p.technique, n=p.probes, s="s" if p.probes != 1 else "",
                answers=p.answer_text, state=p.state, reason=p.reason)


def explain(pa: Optional[PortSide], pb: Optional[PortSide]) -> Said:
    """Why two scans disagree on one port, in one or two sentences."""
    if pa is None or pb is None:
        only, p = ("A", pa) if pb is None else ("B", pb)
        return said("compare.only", side=only, port=p.port, proto=p.proto, state=p.state, reason=p.reason)
    what = said("compare.saw.both", a=_saw("A", pa), b=_saw("B", pb))
    if state_relation(pa.state, pb.state) == CONSISTENT:
        return said("compare.explained", what=what, why=_why_consistent(pa, pb))
    ka, kb = _kinds(pa), _kinds(pb)
    if ka == kb and ka:
        words = _join([answer_word(k) for k in ka], "compare.and")
        if pa.technique != pb.technique:
            why = ""
            if "connect" in (pa.technique, pb.technique) and "icmp-port-unreach" in ka:
                why = _word("compare.econnrefused")
            return said("compare.same-answers.techniques", what=what, answers=words, ta=technique_word(pa.technique),
                        sa=pa.state, tb=technique_word(pb.technique), sb=pb.state, why=why)
        return said("compare.same-answers", what=what)
    if bool(ka) != bool(kb):
        got, silent = (("A", pa), ("B", pb)) if ka else (("B", pb), ("A", pa))
        (gl, gp), (sl, sp) = got, silent
        cause = _payload_cause(gl, gp, sl, sp)
        if cause:
            return said("compare.cause", what=what, cause=cause)
        if sp.probes < gp.probes:
            return said("compare.fewer-probes", what=what, silent=sl, sn=sp.probes, gn=gp.probes)
        return said("compare.one-answered", what=what, got=gl, silent=sl)
    if pa.technique != pb.technique:
        return said("compare.techniques-differ", what=what, ta=pa.technique, tb=pb.technique,
                    rfc=_rfc793_deviation(pa, pb))
    return said("compare.answered-differently", what=what)


def _payload_cause(gl: str, gp: PortSide, sl: str, sp: PortSide):
    """Why a UDP port answered side gl (gp) and not side sl (sp), when only one
    of them carried a payload; "" otherwise."""
    if gp.proto != "udp" or (max(gp.payloads or (0,)) > 0) == (max(sp.payloads or (0,)) > 0):
        return ""
    loaded = gp if max(gp.payloads or (0,)) else sp
    ll, el = (gl, sl) if loaded is gp else (sl, gl)
    nmap = said("compare.payload-cause.nmap") if loaded is gp and gp.port in NMAP_UDP_PAYLOAD_PORTS else ""
    return said("compare.payload-cause", loaded=ll, n=max(loaded.payloads), empty=el, nmap=nmap)


# Techniques whose probe carries none of SYN, RST, ACK: RFC 793 (page 65)
# has an open (LISTEN) port drop it, so only a closed port answers.
_RFC793_SILENT = frozenset({"fin", "xmas", "null"})
# (compare.rfc793 in messages.py)
# Maimon's FIN/ACK carries ACK, which RFC 793 has a listening port reset;
# BSD-derived stacks drop it instead (Uriel Maimon, Phrack 49: compare.maimon).


@lru_cache(maxsize=None)  # a technique's textbook line, asked of every port it explains
def _textbook(technique: str):
    """"FIN scan: RST means closed; ...": the technique's state table in the words verify uses, or ""."""
    try:
        spec = REGISTRY.get(Technique(technique))
    except ValueError:
        spec = None
    key = f"textbook.{spec.textbook_key}" if spec is not None else ""
    return said("compare.textbook", title=Technique(technique), textbook=T(key)) if key in MESSAGES else ""


def _words(states) -> Said:
    return _join([s.value for s in State if s in states], "compare.or")  # in nmap's order: open, closed, filtered


def _why_consistent(pa: PortSide, pb: PortSide) -> str:
    """Why two different readings of one port are both right (state_relation
    CONSISTENT), from the two techniques' textbook lines."""
    common = _stands_for(pa.state) & _stands_for(pb.state)
    (nl, narrow), (wl, wide) = sorted((("A", pa), ("B", pb)), key=lambda lp: len(_stands_for(lp[1].state)))
    books = [b for b in dict.fromkeys((_textbook(wide.technique), _textbook(narrow.technique))) if b]
    # every textbook line ends with its full stop (messages.py's textbook.*)
    book = said("compare.textbooks", books=_join(books, "compare.space")) if books else ""
    if len(_stands_for(narrow.state)) > 1:  # two wide states: together they narrow it down
        both = said("compare.consistent.both-wide", nl=nl, ns=narrow.state, nw=_words(_stands_for(narrow.state)),
                    wl=wl, ws=wide.state, ww=_words(_stands_for(wide.state)), common=_words(common))
        return said("compare.space", head=both, tail=book) if book else both
    out = [said("compare.consistent", wl=wl, ws=wide.state, ww=_words(_stands_for(wide.state)), nl=nl,
                ns=narrow.state)]
    saw = (said("compare.said.answer", technique=technique_word(narrow.technique), answers=narrow.answer_text,
                state=narrow.state) if narrow.answers
           else said("compare.said.silence", technique=technique_word(narrow.technique), state=narrow.state))
    if narrow.state == "open" and wide.technique in _RFC793_SILENT:
        out.append(said("compare.consistent.rfc793", probe=T(f"probe.{wide.technique}"), rfc=_word("compare.rfc793"),
                        ws=wide.state, wt=technique_word(wide.technique), said=saw))
    elif narrow.state == "open" and wide.technique == "maimon":
        out.append(said("compare.consistent.maimon", maimon=_word("compare.maimon"), ws=wide.state, said=saw))
    elif narrow.state == "open" and wide.technique == "udp":
        cause = _payload_cause(nl, narrow, wl, wide) if narrow.answers and not wide.answers else ""
        out.append(said("compare.consistent.udp-cause", cause=cause, ws=wide.state, said=saw) if cause
                   else said("compare.consistent.udp", ws=wide.state, said=saw))
    elif f"why.{wide.state}" in MESSAGES:
        out.append(said("compare.consistent.why", wt=technique_word(wide.technique), why=T(f"why.{wide.state}"),
                        said=saw))
    if book:
        out.append(book)
    return _join(out, "compare.space")


def _rfc793_deviation(pa: PortSide, pb: PortSide) -> str:
    """An open port read closed by a FIN/NULL/Xmas or Maimon scan: why."""
    for opened, reset in ((pa, pb), (pb, pa)):
        if opened.state != "open" or reset.state != "closed":
            continue
        if reset.technique in _RFC793_SILENT:
            return said("compare.deviation.rfc793", rfc=_word("compare.rfc793"),
                        technique=technique_word(opened.technique))
        if reset.technique == "maimon":
            return said("compare.deviation.maimon", maimon=_word("compare.maimon"),
                        technique=technique_word(opened.technique))
    return ""


def notes(a: Side, b: Side) -> list:
    """The differences a network-security teacher would point out."""
    out = []
    if a.tool != b.tool:
        out.append(said("compare.note.tools", at=a.tool, ac=f"{a.tool_confidence:.2f}", bt=b.tool,
                        bc=f"{b.tool_confidence:.2f}", ae=_first_evidence(a), be=_first_evidence(b)))
    shape = [name for name in ("window", "TCP options", "TTL", "source port", "sequence number", "IP ID")
             if not same_pattern(a.fields[name], b.fields[name]) and "-" not in (a.fields[name], b.fields[name])]
    if shape:
        out.append(said("compare.note.built", items=_join([
            said("compare.note.built.item", name=said(f"compare.field.{name}"), a=a.fields[name], b=b.fields[name])
            for name in shape], "compare.semi")))
    kernel_sides = [s for s in (a, b) if any(r.sender == "kernel" for r in s.rsts)]
    if kernel_sides:
        who = said("compare.note.kernel.both") if len(kernel_sides) == 2 else kernel_sides[0].label
        r = next(r for r in kernel_sides[0].rsts if r.sender == "kernel")
        out.append(said("compare.note.kernel", who=who, side=kernel_sides[0].label, frame=r.frame, port=r.port))
    for s in (a, b):
        tool = [r for r in s.rsts if r.sender == "tool"]
        if tool:
            out.append(said("compare.note.tool-rst", side=s.label, frame=tool[0].frame, text=tool[0].text))
        done = [p for p in s.ports.values() if p.handshake]
        if done:
            out.append(said("compare.note.handshake", side=s.label, port=done[0].port))
    a_done = any(p.handshake for p in a.ports.values())
    b_done = any(p.handshake for p in b.ports.values())
    if a_done != b_done:
        yes, no = (a, b) if a_done else (b, a)
        if any(k == "syn-ack" for p in no.ports.values() for k, _ in p.answers):
            out.append(said("compare.note.half-open", no=no.label, yes=yes.label))
    if a.retransmissions != b.retransmissions:
        more, less = (a, b) if a.retransmissions > b.retransmissions else (b, a)
        offsets = [t for p in more.ports.values() for t in p.retry_offsets]
        when = said("compare.note.retries.when", t=f"{statistics.median(offsets):.2f}") if offsets else ""
        again = _probes_after_an_answer(more)
        did = said("compare.note.retries.again", n=more.retransmissions) if again else \
            said("compare.note.retries.unanswered", n=more.retransmissions)
        rerun = said("compare.note.retries.rerun", n=again) if again else ""
        less_did = said("compare.note.retries.some", n=less.retransmissions) if less.retransmissions else \
            said("compare.note.retries.once")
        out.append(said("compare.note.retries", more=more.label, did=did, when=when, sport=more.fields["source port"],
                        rerun=rerun, less=less.label, less_did=less_did))
    pa, pb = a.fields["UDP payload"], b.fields["UDP payload"]
    if pa != pb and "-" not in (pa, pb):
        out.append(said("compare.note.payloads", a=pa, b=pb))
    if not same_pattern(a.fields["port order"], b.fields["port order"]):
        out.append(said("compare.note.order", a=a.fields["port order"], b=b.fields["port order"]))
    out.append(said("compare.note.timing", ad=a.fields["duration"], ag=a.fields["inter-probe gap"],
                    bd=b.fields["duration"], bg=b.fields["inter-probe gap"]))
    shared = set(a.ports) & set(b.ports)
    relations = Counter(state_relation(a.ports[key].state, b.ports[key].state) for key in shared)
    n_dis, n_fit = relations[DISAGREE], relations[CONSISTENT]
    n_one = len(set(a.ports) ^ set(b.ports))
    fit = said("compare.note.fit", n=n_fit) if n_fit else ""
    if not shared:
        out.append(said("compare.note.none-shared"))
    elif not n_dis and not n_fit:
        out.append(said("compare.note.agree"))
    elif not n_dis:
        out.append(said("compare.note.no-contradiction", fit=fit))
    else:
        out.append(said("compare.note.disagree", n=n_dis, shared=len(shared), fit=fit))
    if n_one:
        out.append(said("compare.note.one-sided", n=n_one))
    return out


def _first_evidence(s: Side):
    ev = [e for e in s.tool_evidence if not e.startswith("against:")][:2]
    return "; ".join(ev) if ev else said("compare.note.no-evidence")


__all__ = ["compare", "Comparison", "Side", "PortSide", "PortRow", "FieldRow", "RstInfo", "FIELDS", "explain",
           "describe", "build", "state_relation", "SAME", "CONSISTENT", "DISAGREE", "ONE_SIDED"]
