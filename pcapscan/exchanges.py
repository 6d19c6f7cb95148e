"""The capture-replay engine: pairing probes with their responses.

Mechanism only: this module decides which packets are probes, which answer
them and which follow them; it never decides a port state (techniques/ does)
and never renders anything (report/ does).

How pairing works, after scapy's hashret/answers:

1. A cheap key that is the same in both directions. Every TCP/UDP packet is
   looked up under its own flow key (proto, src, sport, dst, dport) and the
   reverse one; an ICMP error is looked up under the flow key of the packet it
   quotes. A dict lookup, never all packets against all packets.
2. An exact test. A TCP answer must acknowledge the probe the way RFC 793
   says a peer does: a SYN/ACK or RST/ACK acknowledges probe.seq + seg_len; a
   RST to a probe that carried ACK has seq == probe.ack; an ICMP error quotes
   the probe's sequence number. Packets that match the key but fail the test
   are kept apart as `stray` (verify explains them), never taken as answers.
3. An explicit list of unanswered probes: an exchange with no responses.

A *connection* here is one (scanner, source port) -> (target, port) flow. An
*exchange* gathers the connections of one scanner to one target port with one
kind of probe, so retransmissions from nearby source ports land together.
Connections in which the scanner sends payload are ordinary traffic (a client
talking), not probes, and are dropped from the results (counted in
`EngineStats.ordinary`). A server's banner after a connect() does not count:
the scanner said nothing. Flows first seen in the middle (a SYN/ACK, data)
are ordinary too, and so is a flow no SYN opened on which the target sends
data.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Optional

from .fingerprint import NMAP_OS_PROBES
from .model import ACK, RST, SYN, TCP_BASE_FLAGS, Exchange, Packet, flag_letters, seg_len
from .sessions import NEVER_HEARD, runs_of_probes

_MOD32 = 1 << 32
# UDP services whose client and server ports are both fixed by the protocol:
# DHCP (68 <-> 67), DHCPv6 (546 <-> 547), NTP between servers (123), NetBIOS
# name and datagram services (137, 138). Scanners draw their source port
# (nmap, masscan, zmap at random; scapy 53), so such a datagram is the host's
# own service traffic (a DHCP renewal during a student's lab), not a probe.
SERVICE_PORT_PAIRS = frozenset(((68, 67), (67, 68), (546, 547), (547, 546), (123, 123), (137, 137), (138, 138)))

# Two copies of one packet closer together than this are one packet seen twice
# (capture on "any", a bridge, a mirror port). Real retransmissions, by nmap
# or by a kernel, come at least ~100 ms apart.
DUPLICATE_WINDOW = 0.010
# ... and within this many frames of the copy before it: a copy comes within
# a few packets of the first. Counted in frames, not by how many packets the
# window holds, the rule is one flow's own business whatever the timestamps
# do (a clock step back, records written out of time order): whether a
# packet is a copy depends only on the packets with its own fields, so flows
# replay apart from each other (the fast path, Dask partitions) alike.
RECENT_MAX = 16384
# An answer written to the capture before its probe (several NIC queues, a
# capture on "any", files merged by concatenation: the timestamps say the
# probe came first, the records do not) waits this many frames for it: a
# RST, a SYN/ACK or an ICMP error whose flow no probe has opened yet is
# kept, and the probe it answers (exactly, and stamped no later than it)
# takes it when it comes (answers_from_before). A kept SYN/ACK that no
# probe takes becomes what it always was (a connection that began before
# the capture) as soon as another packet of its flow comes, or when it is
# forgotten. Counted in frames, like RECENT_MAX, so each flow's pairing is
# its own business and flows replayed apart (the fast path) pair alike.
EARLY_ANSWER_FRAMES = RECENT_MAX

ICMP_ERROR_TYPES = {"icmp": {3, 4, 5, 11, 12}, "icmp6": {1, 2, 3, 4}}

# Flows the engine follows: TCP, UDP and SCTP by ports; any other IP
# protocol ("ip") by its protocol number, as nmap -sO probes it.
FLOW_PROTOS = frozenset(("tcp", "udp", "sctp", "ip"))
# SCTP chunks that open an exchange (nmap -sY, -sZ); INIT-ACK, ABORT... only answer.
SCTP_PROBE_CHUNKS = {1: "init", 10: "cookie-echo"}
SCTP_INIT = 1
# An IP-protocol probe carries no payload beyond its protocol's smallest
# header (nmap's are empty but for IGMP's 8-byte query): more is traffic.
IP_PROBE_MAX_PAYLOAD = 8


def flow_key(pkt: Packet) -> tuple:
    """(proto, src, sport, dst, dport); for "ip", the protocol number in both port places."""
    if pkt.proto == "ip":
        return ("ip", pkt.src, pkt.ip_proto, pkt.dst, pkt.ip_proto)
    return (pkt.proto, pkt.src, pkt.sport, pkt.dst, pkt.dport)


def quoted_key(q) -> tuple:
    """The flow key of the packet an ICMP error quotes."""
    if q.proto.isdigit():
        num = int(q.proto)
        return ("ip", q.src, num, q.dst, num)
    return (q.proto, q.src, q.sport, q.dst, q.dport)


def probe_class(pkt: Packet) -> Optional[str]:
    """What kind of probe a packet is, or None when it cannot open an exchange.

    TCP probes are named by their base flags ("S", "F", "FPU", "", "A", "FA",
    ...); UDP datagrams are "udp". A RST, or a SYN/ACK, never starts an
    exchange: both are answers whose question we did not see.
    """
    if pkt.proto == "udp":
        return None if (pkt.sport, pkt.dport) in SERVICE_PORT_PAIRS else "udp"
    if pkt.proto == "sctp":
        return SCTP_PROBE_CHUNKS.get(pkt.chunk_type)
    if pkt.proto == "ip":
        return "ip" if pkt.payload_len <= IP_PROBE_MAX_PAYLOAD else None
    if pkt.proto != "tcp":
        return None
    base = pkt.flags & TCP_BASE_FLAGS
    if never_probes(base, pkt.payload_len):
        return None
    if midstream(base, pkt.window, pkt.options):
        return None
    return flag_letters(base)


def never_probes(flags, payload_len):
    """A TCP segment that cannot open an exchange whatever else it carries:
    a RST or a SYN/ACK (answers whose question we did not see), or data
    without SYN (the middle of a connection we joined late). On numbers or
    on numpy columns alike: the fast path evaluates it on its flow columns."""
    base = flags & TCP_BASE_FLAGS
    return ((base & RST) != 0) | (((base & SYN) != 0) & ((base & ACK) != 0)) | ((payload_len > 0) & ((base & SYN) == 0))


def midstream(flags: int, window: int, options: tuple) -> bool:
    """Is a TCP segment without SYN that carries timestamps the middle of a
    connection (a browser's late ACK, a keep-alive) rather than a probe?
    Operating systems put the timestamp option on every segment of a
    connection that negotiated it; scanners' ACK/FIN/NULL/Xmas probes carry
    no options, except nmap's OS-detection probes, which keep their shapes."""
    return not flags & SYN and 8 in options and (window, options) not in NMAP_OS_PROBES


def shows_connection(probe_flags, answer_flags, answer_payload):
    """Does the target's TCP segment on a probe's flow show an established
    connection (ordinary traffic) rather than answer a probe? Data on a flow
    no bare SYN opened; or anything but a RST to a probe without SYN: RFC 793
    has a port without a connection answer those with RST or not at all, so
    an ACK back (a keep-alive answered) means a connection exists. On numbers
    or on numpy columns alike (the fast path's flow table asks it per batch)."""
    base = probe_flags & TCP_BASE_FLAGS
    return ((answer_payload > 0) & (base != SYN)) | (((base & SYN) == 0) & ((answer_flags & RST) == 0))


def reopens(flags, is_probe, same_kind, heard, carried_data):
    """Does a scanner's TCP segment start a new connection on a flow already
    seen? A script with a fixed source port (scapy's default 20, or sport=N)
    reuses one flow for every probe: a probe (`is_probe`: probe_class is not
    None) without ACK that comes after the flow was answered or followed up
    (`heard`), or that is of another kind than the flow's first probe, is a
    new probe, not part of the old connection (an ACK completing a handshake,
    a FIN/ACK closing one, a RST are not); nor is anything on a flow that
    turned out to be ordinary traffic (`carried_data`). On numbers or on numpy
    columns alike: the engine asks it per packet (_reopens), the fast path's
    flow table per batch, where it starts a new flow for the same key."""
    return (carried_data ^ True) & ((flags & ACK) == 0) & is_probe & ((same_kind ^ True) | heard)


def answers(probe: Packet, resp: Packet) -> bool:
    """The exact test: does `resp` (from the target) answer `probe`?"""
    if probe.proto == "udp":
        return resp.proto == "udp" or resp.quoted is not None
    if probe.proto == "ip":  # nmap -sO: any packet of the probed protocol, or an error quoting the probe
        return resp.quoted is not None or resp.ip_proto == probe.ip_proto
    if probe.proto in ("icmp", "icmp6"):  # queries: pairing.py matched identifiers; -sO takes any ICMP
        return resp.proto == probe.proto
    if probe.proto == "sctp":
        if resp.quoted is not None:
            return resp.quoted.seq is None or resp.quoted.seq == probe.seq
        # RFC 4960 8.4/8.5: an answer to INIT carries its initiate tag; to anything else, the probe's own tag.
        return resp.proto == "sctp" and resp.seq == (probe.ack if probe.chunk_type == SCTP_INIT else probe.seq)
    if resp.quoted is not None:
        q = resp.quoted
        return q.seq is None or q.seq == probe.seq
    return bool(tcp_answers(probe.flags, probe.seq, probe.ack, probe.payload_len, resp.flags, resp.seq, resp.ack))


def answers_from_before(probe: Packet, resp: Packet) -> bool:
    """Does `resp`, written to the capture before `probe` but stamped no
    earlier, answer it (see EARLY_ANSWER_FRAMES)?"""
    return resp.frame < probe.frame and resp.ts >= probe.ts and answers(probe, resp)


def reversed_key(key: tuple) -> tuple:
    """The flow key (proto, src, sport, dst, dport) of the other direction."""
    return (key[0], key[3], key[4], key[1], key[2])


def tcp_answers(probe_flags, probe_seq, probe_ack, probe_payload, resp_flags, resp_seq, resp_ack):
    """The exact test for a TCP segment of the target's on a probe's own flow,
    as RFC 793 has a peer answer: a RST to a probe that carries ACK (and no
    SYN) takes its seq from the probe's ack; any other answer must carry ACK
    and acknowledge the probe's seq plus its segment length. On numbers or on
    numpy columns alike: `answers` asks it per packet, the fast path's flow
    table (fastpath/flows.py) once per batch of answers."""
    acks = ((probe_flags & ACK) != 0) & ((probe_flags & SYN) == 0)
    by_ack = ((resp_flags & RST) != 0) & (resp_seq == probe_ack)
    by_seq = ((resp_flags & ACK) != 0) & (resp_ack == (probe_seq + seg_len(probe_flags, probe_payload)) % _MOD32)
    return (acks & by_ack) | ((acks ^ True) & by_seq)


@dataclass(slots=True)
class _Connection:
    """One flow from one scanner source port to one target port.

    Small, since a scan of many hosts leaves a million of them open: slots, and
    each packet list is the shared empty tuple until its first packet."""

    kind: str  # probe_class of its first packet
    probes: list | tuple = ()
    responses: list | tuple = ()
    followups: list | tuple = ()
    stray: list | tuple = ()
    later: int = 0  # target packets after the answer (conversation, not evidence)
    late: list | tuple = ()  # ... those of them shaped as answers (RST, SYN): a reopening probe's, if written first
    carried_data: bool = False
    ignored: int = 0  # packets seen after it turned out to be ordinary traffic


@dataclass
class EngineStats:
    duplicates: int = 0
    ordinary: int = 0  # connections that carried data: ordinary traffic, not probes
    orphan_answers: int = 0  # ICMP errors / answers whose probe is not in the capture


@dataclass
class OtherTraffic:
    """How much ordinary traffic a capture holds beside its probes. Data
    connections a SYN opened are kept by first frame (`syn_data`): version
    detection (techniques/detection.py) may claim them as its probes."""

    connections: int = 0
    packets: int = 0
    syn_data: dict = field(default_factory=dict)  # first frame -> packets

    def add(self, connections: int, packets: int, syn_frame: Optional[int] = None) -> None:
        self.connections += connections
        self.packets += packets
        if syn_frame is not None:
            self.syn_data[syn_frame] = packets

    def merge(self, other: "OtherTraffic") -> "OtherTraffic":
        self.add(other.connections, other.packets)
        self.syn_data.update(other.syn_data)
        return self

    def without(self, frames) -> tuple:
        """(connections, packets) once the SYN-opened data connections starting at `frames` are
        counted elsewhere (as version detection's probes)."""
        claimed = [n for f, n in self.syn_data.items() if f in frames]
        return self.connections - len(claimed), self.packets - sum(claimed)


class ReplayEngine:
    """Feed packets in capture order; collect `exchanges()` at the end."""

    def __init__(self) -> None:
        self._conns: dict = {}  # (proto, scanner, sport, target, dport) -> _Connection
        self._order: list = []  # (key, connection) in order of first probe; a reused key recurs
        self._recent: dict = {}  # duplicate-detection key -> (frame of its last copy, ts of the first)
        self._recent_q: deque = deque()  # (frame, key), in frame order
        self._midflow: list = []  # connections first seen in the middle: ordinary traffic from the start
        self._early: dict = {}  # flow key of a probe not seen yet -> [its answers seen first (RST, ICMP error)]
        self._early_q: deque = deque()  # (frame, flow key) of those answers, in frame order
        self._early_synacks: set = set()  # flow keys among them holding a SYN/ACK
        self._paired_early: set = set()  # frames of SYN/ACKs a probe written after them took
        self.stats = EngineStats()

    # -- mechanism -------------------------------------------------------------

    def _is_duplicate(self, pkt: Packet) -> bool:
        key = (pkt.src, pkt.dst, pkt.proto, pkt.ip_id, pkt.sport, pkt.dport, pkt.seq, pkt.ack,
               pkt.flags, pkt.length, pkt.icmp_type, pkt.icmp_code, pkt.quoted, pkt.icmp_id, pkt.icmp_seq,
               pkt.ip_proto, pkt.chunk_type)
        q = self._recent_q
        # Remember the last RECENT_MAX frames only (bounded memory whatever
        # the timestamps do); the window is then tested either way in time.
        oldest = pkt.frame - RECENT_MAX
        while q and (q[0][0] < oldest or len(q) > RECENT_MAX):
            old_frame, old = q.popleft()
            got = self._recent.get(old)
            if got is not None and got[0] == old_frame:  # not seen again since
                del self._recent[old]
        seen = self._recent.get(key)
        if seen is not None and abs(pkt.ts - seen[1]) <= DUPLICATE_WINDOW:
            # remembered RECENT_MAX frames from this copy on, still timed from the first
            self._recent[key] = (pkt.frame, seen[1])
            q.append((pkt.frame, key))
            return True
        self._recent[key] = (pkt.frame, pkt.ts)
        q.append((pkt.frame, key))
        return False

    def _keep_early(self, key: tuple, pkt: Packet) -> None:
        """An answer whose probe (flow `key`) has not been seen: kept for EARLY_ANSWER_FRAMES frames."""
        if _synack(pkt):
            self._early_synacks.add(key)
        kept = self._early.get(key)
        if kept is None:
            kept = self._early[key] = deque()
        kept.append(pkt)  # in frame order, as the queue: the oldest of a key goes first
        self._early_q.append((pkt.frame, key))

    def _forget_early(self, before: int) -> None:
        """Answers kept since before frame `before` will meet no probe: what they would have been."""
        q = self._early_q
        while q and q[0][0] < before:
            frame, key = q.popleft()
            kept = self._early.get(key)
            if not kept or kept[0].frame != frame:
                continue  # a probe took it already
            if _synack(kept[0]):
                self._synacks_before_capture(key)
                continue
            self.stats.orphan_answers += kept.popleft().quoted is not None
            if not kept:
                del self._early[key]

    def _synacks_before_capture(self, key: tuple) -> None:
        """The kept SYN/ACKs of flow `key` answer no probe: a connection that
        began before the capture, followed as ordinary traffic from here on."""
        self._early_synacks.discard(key)
        kept = self._early.pop(key, ())
        synacks = [p for p in kept if _synack(p)]
        rest = deque(p for p in kept if not _synack(p))
        if rest:
            self._early[key] = rest
        own = reversed_key(key)  # the SYN/ACK's own direction
        if own not in self._conns:
            self._conns[own] = _Connection(kind="?", carried_data=True, ignored=len(synacks))

    def _takes_early_synack(self, key: tuple, pkt: Packet) -> bool:
        """Is scanner packet `pkt` the probe a kept SYN/ACK of its flow answers?"""
        return probe_class(pkt) is not None and any(
            _synack(a) and answers_from_before(pkt, a) for a in self._early[key])

    def answered_early(self, pkt: Packet) -> bool:
        """Did a probe written after this SYN/ACK take it (see EARLY_ANSWER_FRAMES)? Then it is
        no idle scan's zombie probe (pairing.QueryEngine), though no SYN was seen before it."""
        return pkt.frame in self._paired_early

    def _answered_early(self, conn: _Connection, key: tuple, probe: Packet) -> None:
        """A new probe's answers written before it (see EARLY_ANSWER_FRAMES)."""
        self._early_synacks.discard(key)
        for ans in self._early.pop(key, ()):
            if answers_from_before(probe, ans):
                if _synack(ans):
                    self._paired_early.add(ans.frame)
                self._from_target(conn, ans)
            else:
                self.stats.orphan_answers += ans.quoted is not None

    def feed(self, pkt: Packet) -> None:
        if self._is_duplicate(pkt):
            self.stats.duplicates += 1
            return
        if self._early_q:
            self._forget_early(pkt.frame - EARLY_ANSWER_FRAMES)
        proto = pkt.proto
        if proto in FLOW_PROTOS:
            fwd = (proto, pkt.src, pkt.sport, pkt.dst, pkt.dport) if proto != "ip" else flow_key(pkt)
            if self._early_synacks:  # a SYN/ACK kept for its probe: is this it, or another packet?
                rev = reversed_key(fwd)
                if rev in self._early_synacks:
                    self._synacks_before_capture(rev)
                elif fwd in self._early_synacks and not self._takes_early_synack(fwd, pkt):
                    self._synacks_before_capture(fwd)
            conn = self._conns.get(fwd)
            if conn is not None and not _reopens(conn, pkt):
                self._from_scanner(conn, pkt)
                return
            back = self._conns.get(reversed_key(fwd)) if conn is None else None
            if back is not None:
                self._from_target(back, pkt)
                return
            kind = probe_class(pkt)
            if kind is None:
                if proto == "tcp" and pkt.flags & (RST | SYN):
                    # a RST or SYN/ACK: an answer whose probe may be written after it
                    self._keep_early(reversed_key(fwd), pkt)
                elif proto == "tcp":
                    # Data of a connection that began before the capture:
                    # remember the flow as ordinary traffic, so its next
                    # bare ACK is not taken for an ACK-scan probe.
                    conn = self._conns[fwd] = _Connection(kind="?", carried_data=True, ignored=1)
                    self._midflow.append(conn)
                return
            if is_group_address(pkt.dst):
                return
            old, conn = conn, _Connection(kind=kind, probes=[pkt])
            self._conns[fwd] = conn
            self._order.append((fwd, conn))
            if fwd in self._early:
                self._answered_early(conn, fwd, pkt)
            if old is not None and (old.responses or old.late):
                _take_from_before(old, conn, pkt)
        elif proto in ICMP_ERROR_TYPES and pkt.quoted is not None and pkt.icmp_type in ICMP_ERROR_TYPES[proto]:
            key = quoted_key(pkt.quoted)
            conn = self._conns.get(key)
            if conn is None:
                self._keep_early(key, pkt)
                return
            self._from_target(conn, pkt)

    def _from_scanner(self, conn: _Connection, pkt: Packet) -> None:
        if conn.carried_data:
            conn.ignored += 1
            return
        if pkt.payload_len and pkt.proto == "tcp":
            conn.carried_data = True
        if pkt.proto == "udp" or (not conn.responses and probe_class(pkt) == conn.kind):
            conn.probes.append(pkt)  # a retransmission on the same source port
        elif conn.followups:
            conn.followups.append(pkt)
        else:
            conn.followups = [pkt]

    def _from_target(self, conn: _Connection, pkt: Packet) -> None:
        if conn.carried_data:
            conn.ignored += 1
            return
        if pkt.proto == "tcp" and conn.probes and shows_connection(conn.probes[0].flags, pkt.flags, pkt.payload_len):
            conn.carried_data = True  # the target answers as a connection does: mid-connection traffic
            conn.ignored += 1
            return
        if conn.followups:
            conn.later += 1  # talk after the scanner's reply is conversation, not an answer
            if pkt.proto == "tcp" and pkt.flags & (RST | SYN):  # unless a probe written after it reopens the flow
                if conn.late:
                    conn.late.append(pkt)
                else:
                    conn.late = [pkt]
            return
        for probe in reversed(conn.probes):
            if answers(probe, pkt):
                if conn.responses:
                    conn.responses.append(pkt)
                else:
                    conn.responses = [pkt]
                return
        if conn.stray:
            conn.stray.append(pkt)
        else:
            conn.stray = [pkt]

    def has_flow(self, key: tuple) -> bool:
        """Has a probe (or traffic) been seen on this flow key (see flow_key)?"""
        return key in self._conns

    def ordinary_exchanges(self) -> list[Exchange]:
        """The connections a scanner opened with a SYN and then talked on (left
        out of exchanges()): what version detection (nmap -sV) looks like."""
        out = []
        for key, conn in self._order:
            if conn.carried_data and conn.kind == "S" and conn.probes:
                proto, scanner, _sport, target, port = key
                out.append(Exchange(scanner=scanner, target=target, proto=proto, port=port,
                                    probes=tuple(conn.probes), responses=tuple(conn.responses),
                                    followups=tuple(conn.followups), completed_handshake=_completed_handshake(conn)))
        return out

    # -- results ---------------------------------------------------------------

    def other_traffic(self) -> "OtherTraffic":
        """Ordinary traffic: connections that carried data or showed themselves
        established, and those first seen mid-flow."""
        other = OtherTraffic()
        for c in [c for _key, c in self._order if c.carried_data] + self._midflow:
            n = len(c.probes) + len(c.responses) + len(c.followups) + len(c.stray) + c.later + c.ignored
            other.add(1, n, c.probes[0].frame if c.kind == "S" and c.probes else None)
        return other

    def flow_keys(self) -> list:
        """The flow key (proto, scanner, sport, target, port) of every connection followed."""
        return [key for key, _conn in self._order]

    def probe_connections(self) -> list:
        """The scan connections (ordinary traffic left out), in order of first
        probe: what sessions.py splits into runs."""
        return [conn for _key, conn in self._order if not conn.carried_data]

    def adopt(self, exchanges: Iterable[Exchange]) -> None:
        """Take one-connection exchanges paired elsewhere (the fast path's bulk
        flows that turned out to need the engine's grouping, with every probe
        again of theirs) as connections of this engine, in frame order with its own."""
        added = []
        for ex in exchanges:
            p = ex.probes[0]
            conn = _Connection(kind=probe_class(p), probes=list(ex.probes), responses=list(ex.responses) or (),
                               stray=list(ex.stray) or ())
            added.append(((p.proto, p.src, p.sport, p.dst, p.dport), conn))
        self._order = sorted(self._order + added, key=lambda kc: kc[1].probes[0].frame)

    def exchanges(self, runs: Optional[list] = None) -> list[Exchange]:
        """Exchanges in order of their first probe; ordinary traffic left out.

        `runs`: the run (sessions.py) of each of probe_connections(); by
        default split here from those connections alone."""
        self._forget_early(float("inf"))  # answers still waiting: no probe came
        conns = [(key, conn) for key, conn in self._order if not conn.carried_data]
        self.stats.ordinary += len(self._order) - len(conns)
        if runs is None:
            runs = runs_of_probes([conn.probes[0] for _key, conn in conns], [first_heard(c) for _key, c in conns])
        groups: dict = {}
        for (key, conn), run in zip(conns, runs):
            proto, scanner, _sport, target, port = key
            completed = _completed_handshake(conn)
            # Connections of different runs (sessions.py), that behave differently (a
            # connect() next to a raw SYN to the same port) or are built differently
            # never share an exchange.
            gkey = (scanner, target, proto, port, conn.kind, completed, conn.probes[0].options, run)
            groups.setdefault(gkey, []).append(conn)
        result = []
        for (scanner, target, proto, port, _kind, completed, _opts, run), conns in groups.items():
            result.append(Exchange(
                scanner=scanner, target=target, proto=proto, port=port, completed_handshake=completed,
                probes=_merge(c.probes for c in conns),
                responses=_merge(c.responses for c in conns),
                followups=_merge(c.followups for c in conns),
                stray=_merge(c.stray for c in conns), run=run,
            ))
        return result


def _take_from_before(old: _Connection, conn: _Connection, probe: Packet) -> None:
    """A probe reopening a flow (a fixed source port, a scan run again) takes
    the target's packets the old connection got that were written before it
    but stamped after it, within EARLY_ANSWER_FRAMES, and answer it: its
    answers, written first (several NIC queues, `-i any`). Stamped strictly
    after: a capture in time order moves nothing."""
    for field in ("responses", "late"):
        moved, kept = [], []
        for p in getattr(old, field):
            mine = p.ts > probe.ts and probe.frame - p.frame <= EARLY_ANSWER_FRAMES and answers_from_before(probe, p)
            (moved if mine else kept).append(p)
        if moved:
            setattr(old, field, kept or ())
            if field == "late":
                old.later -= len(moved)
            conn.responses = sorted([*conn.responses, *moved], key=lambda p: p.frame)


def first_heard(conn: _Connection) -> int:
    """The frame of the first packet the target's port itself sent back on a
    scan connection (TCP or UDP, an answer or not; an ICMP error is no final
    word: a connect() tries again after one), sessions.NEVER_HEARD if none:
    what sessions.split_runs reads to tell a scan run again over ports that
    answered."""
    frames = [p.frame for p in (*conn.responses, *conn.stray) if p.proto in ("tcp", "udp")]
    return min(frames) if frames else NEVER_HEARD


def _synack(pkt: Packet) -> bool:
    return pkt.proto == "tcp" and pkt.flags & (SYN | RST) == SYN


def _reopens(conn: _Connection, pkt: Packet) -> bool:
    """Does this scanner packet start a new connection on a flow already seen (see reopens)?"""
    if pkt.proto != "tcp" or conn.carried_data or pkt.flags & ACK:
        return False  # what reopens() says without asking probe_class (asked of every packet of a connection)
    kind = probe_class(pkt)
    return bool(reopens(pkt.flags, kind is not None, kind == conn.kind, bool(conn.responses or conn.followups), False))


def _completed_handshake(conn: _Connection) -> bool:
    """Did the scanner answer a SYN/ACK with the ACK that completes the
    handshake, in that order? Read in frame order: an ACK that comes after the
    scanner's own RST (a scapy "connect" whose kernel reset the connection
    first) reaches a connection that is gone, and the target answers it with
    RST: no handshake was completed."""
    synacks = [r for r in conn.responses if r.proto == "tcp" and r.flags & SYN and r.flags & ACK]
    if not synacks:
        return False
    wanted = {(r.seq + 1) % _MOD32 for r in synacks}
    for f in conn.followups:  # in frame order
        if f.flags & RST:
            return False
        if f.flags & ACK and not f.flags & SYN and f.ack in wanted:
            return True
    return False


def _merge(lists: Iterable[list]) -> tuple:
    lists = [lst for lst in lists if lst]
    if len(lists) <= 1:  # the common case, a million times in a big scan: already in frame order
        return tuple(lists[0]) if lists else ()
    out = [p for lst in lists for p in lst]
    out.sort(key=lambda p: p.frame)
    return tuple(out)


def is_group_address(addr: str) -> bool:
    """Multicast and broadcast destinations are announcements, not scan targets."""
    if ":" in addr:
        return addr.lower().startswith("ff")
    first = int(addr.split(".", 1)[0])
    return 224 <= first <= 239 or addr == "255.255.255.255" or addr.endswith(".255")


def replay(packets: Iterable[Packet]) -> tuple[list[Exchange], EngineStats]:
    engine = ReplayEngine()
    for pkt in packets:
        engine.feed(pkt)
    return engine.exchanges(), engine.stats


def port_flows(packets: Iterable[Packet], keys) -> dict:
    """(scanner, target, proto, port) -> [Packet]: every packet between a
    scanner and a target port, any source port, both ways, plus the ICMP
    errors quoting them, for the keys in `keys` (anything with `in`): what
    verify's ladder draws and what pairing leaves out (a RST from another
    source port), and what tells a port the fast path classified in bulk
    from one with more packets than its own (fastpath.subset.BulkPorts)."""
    out: dict = {}  # only the keys with packets
    if not keys:
        return out
    for pkt in packets:
        if pkt.proto in ("tcp", "udp"):
            k = (pkt.src, pkt.dst, pkt.proto, pkt.dport)
            if k not in keys:
                k = (pkt.dst, pkt.src, pkt.proto, pkt.sport)
            if k in keys:
                out.setdefault(k, []).append(pkt)
        elif pkt.quoted is not None:
            q = pkt.quoted
            k = (q.src, q.dst, q.proto, q.dport)
            if k in keys and pkt.dst == q.src:
                out.setdefault(k, []).append(pkt)
    return out
