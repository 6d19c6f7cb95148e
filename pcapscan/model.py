"""The vocabulary of pcapscan: states, techniques, reasons, and the records
that flow from the capture reader (Packet) through the replay engine
(Exchange) to the classifiers (Verdict) and out to the renderers (Scan).

Everything here is plain data: enums and frozen dataclasses, no behaviour
beyond small derived properties. Mechanism (capture/, exchanges.py), policy
(techniques/, verify.py) and rendering (report/) all speak these types.
"""
from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from enum import Enum
from itertools import repeat
from typing import Optional

from .speedups import compiled


class State(str, Enum):
    """nmap's six port states (nmap reference guide, "Port Scanning Basics")."""

    OPEN = "open"
    CLOSED = "closed"
    FILTERED = "filtered"
    UNFILTERED = "unfiltered"
    OPEN_FILTERED = "open|filtered"
    CLOSED_FILTERED = "closed|filtered"

    def __str__(self) -> str:  # so f-strings and tabulate print "open", not "State.OPEN"
        return self.value


class Technique(str, Enum):
    """Scan techniques, named as nmap's -s letters are in its XML scaninfo."""

    SYN = "syn"  # -sS
    CONNECT = "connect"  # -sT
    FIN = "fin"  # -sF
    XMAS = "xmas"  # -sX
    NULL = "null"  # -sN
    ACK = "ack"  # -sA
    WINDOW = "window"  # -sW
    MAIMON = "maimon"  # -sM
    UDP = "udp"  # -sU
    SCTP_INIT = "sctpinit"  # -sY
    SCTP_COOKIE_ECHO = "sctpcookieecho"  # -sZ
    IPPROTO = "ipproto"  # -sO: "ports" are IP protocol numbers
    IDLE = "idle"  # -sI: spoofed SYNs, read from a zombie's IP IDs
    UNKNOWN = "unknown"  # probes whose flags fit no technique

    def __str__(self) -> str:
        return self.value


class Reason(str, Enum):
    """nmap's --reason words (nmap's reason.cc), for the verdicts we produce."""

    SYN_ACK = "syn-ack"
    RESET = "reset"
    CONN_REFUSED = "conn-refused"
    NO_RESPONSE = "no-response"
    UDP_RESPONSE = "udp-response"
    NET_UNREACH = "net-unreach"
    HOST_UNREACH = "host-unreach"
    PROTO_UNREACH = "proto-unreach"
    PORT_UNREACH = "port-unreach"
    NET_PROHIBITED = "net-prohibited"
    HOST_PROHIBITED = "host-prohibited"
    ADMIN_PROHIBITED = "admin-prohibited"
    TIME_EXCEEDED = "time-exceeded"
    DEST_UNREACH = "dest-unreach"
    NO_ROUTE = "no-route"  # ICMPv6 1/0
    BEYOND_SCOPE = "beyond-scope"  # ICMPv6 1/2
    REJECT_ROUTE = "reject-route"  # ICMPv6 1/6
    PARAM_PROBLEM = "param-problem"  # ICMPv6 4
    SYN = "split-handshake-syn"  # a bare SYN answering a SYN (split handshake)
    USER_SET = "user-set"
    # Host discovery, IP protocol, SCTP and idle scans (nmap's portreasons.cc).
    ARP_RESPONSE = "arp-response"
    ND_RESPONSE = "nd-response"
    ECHO_REPLY = "echo-reply"
    TIMESTAMP_REPLY = "timestamp-reply"
    ADDRESSMASK_REPLY = "addressmask-reply"
    PROTO_RESPONSE = "proto-response"
    INIT_ACK = "init-ack"
    ABORT = "abort"
    IPID_CHANGE = "ipid-change"
    NO_IPID_CHANGE = "no-ipid-change"
    SOURCE_QUENCH = "source-quench"
    UNKNOWN_RESPONSE = "unknown-response"

    def __str__(self) -> str:
        return self.value


class HostState(str, Enum):
    """nmap's host states (host discovery, -sn)."""

    UP = "up"
    DOWN = "down"

    def __str__(self) -> str:
        return self.value


# TCP flag bits, as on the wire.
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
TCP_BASE_FLAGS = FIN | SYN | RST | PSH | ACK | URG  # what a segment is; ECE/CWR are congestion marks
_FLAG_LETTERS = ((FIN, "F"), (SYN, "S"), (RST, "R"), (PSH, "P"), (ACK, "A"), (URG, "U"), (ECE, "E"), (CWR, "C"))


def _letters(flags: int) -> str:
    return "".join(letter for bit, letter in _FLAG_LETTERS if flags & bit)


_LETTERS_OF = tuple(_letters(f) for f in range(256))  # every byte's letters, made once


def flag_letters(flags: int) -> str:
    """scapy-style flag letters: 0x12 -> 'SA', 0x29 -> 'FPU', 0 -> '' (shown as 'none' by renderers)."""
    return _LETTERS_OF[flags & 0xFF]


@dataclass(frozen=True, slots=True)
class Quoted:
    """The offending packet an ICMP/ICMPv6 error quotes (its IP header plus >= 8 bytes)."""

    src: str
    dst: str
    proto: str  # "tcp", "udp", or another protocol name/number as text
    sport: int = 0
    dport: int = 0
    seq: Optional[int] = None  # TCP only, when the quote is long enough


@dataclass(frozen=True, slots=True)
class Packet:
    """One decoded IP packet of a capture, reduced to what scan analysis needs.

    `frame` is 1-based, the number Wireshark shows, so users can find it.
    `proto` is "tcp", "udp", "icmp" (v4), "icmp6", "sctp", "arp" or "ip"
    (any other IP protocol: `ip_proto` says which, `payload_len` how many
    bytes follow the IP header(s)).

    SCTP reuses the TCP fields: `seq` is the common header's verification
    tag, `ack` the initiate tag of an INIT or INIT-ACK chunk (0 otherwise),
    `chunk_type` the first chunk's type. An ARP frame (read only when asked,
    see capture.read_packets) is a Packet with proto "arp": `src`/`dst` are
    the sender and target protocol (IPv4) addresses, `icmp_type` the ARP
    operation (1 request, 2 reply), `ip_version` 4 and TTL 0.
    """

    frame: int
    ts: float
    src: str
    dst: str
    proto: str
    ip_version: int = 4
    ttl: int = 0
    ip_id: int = 0
    length: int = 0  # IP total length as captured
    sport: int = 0
    dport: int = 0
    flags: int = 0
    seq: int = 0
    ack: int = 0
    window: int = 0
    options: tuple = ()  # TCP option kinds in wire order, e.g. (2, 4, 8, 1, 3)
    mss: Optional[int] = None
    payload_len: int = 0  # TCP/UDP payload bytes
    icmp_type: Optional[int] = None
    icmp_code: Optional[int] = None
    quoted: Optional[Quoted] = None  # set on ICMP errors that quote a packet
    ip_proto: int = 0  # the IP protocol number (6, 17, 1, 58, ...)
    # Beyond TCP/UDP (docs/techniques.md, "Host discovery" and after):
    icmp_id: Optional[int] = None  # ICMP/ICMPv6 echo, timestamp, address-mask: the identifier
    icmp_seq: Optional[int] = None  # ... and the sequence number
    nd_target: Optional[str] = None  # ICMPv6 neighbour solicitation/advertisement: the target address
    chunk_type: Optional[int] = None  # SCTP: the first chunk's type (1 INIT, 2 INIT-ACK, 6 ABORT, 10 COOKIE-ECHO)
    hw: Optional[str] = None  # ARP: the sender's MAC; ND advertisement: the target's (as nmap writes it, 02:00:C6:...)

    @property
    def flag_text(self) -> str:
        return flag_letters(self.flags)

    @property
    def seg_len(self) -> int:
        """TCP sequence space the segment consumes (SYN and FIN count one each)."""
        return seg_len(self.flags, self.payload_len)


def records(cls, columns: dict) -> list:
    """[cls(**row) for each row of `columns`] (field name -> a list of values, all of one length; a
    field not named takes its default): the same objects, made at a fraction of the cost for a
    frozen, slotted dataclass such as Packet (the fast path makes every packet of a big capture's
    complex flows so). Its generated __init__ sets each field through object.__setattr__, the
    class refusing its own: 3.2 us for Packet's 24 fields; the slots' descriptors set them in 1.6
    (_maker), or in 0.15 compiled (cnative.records, where built: speedups.py)."""
    n = len(next(iter(columns.values()))) if columns else 0
    if not n:
        return []
    values = []  # a list: a column; else every record's value (a dataclass's defaults are never lists)
    for f in fields(cls):
        if f.name in columns:
            col = columns[f.name]
            values.append(col if type(col) is list else list(col))
            if len(values[-1]) != n:
                raise ValueError(f"records: {cls.__name__}.{f.name}'s column is not {n} long")
        elif f.default is not MISSING and f.init:
            values.append(f.default)
        else:
            raise TypeError(f"records: {cls.__name__}.{f.name} needs a column")
    make = _maker(cls)
    native = compiled()
    if native is not None and make is not cls:
        return native.records(cls, tuple(getattr(cls, f.name) for f in fields(cls)), tuple(values), n)
    return list(map(make, *(v if type(v) is list else repeat(v) for v in values)))


_MAKERS: dict = {}


def _maker(cls):
    """records' constructor of `cls`: every field's value, positionally in field order, set by its
    slot's descriptor on an instance the generated __init__ never ran on (as dataclasses writes
    __init__: one function, compiled once per class; cnative.records' twin); the class itself
    where its __init__ does more (no slots: a __dict__ to fill; a __post_init__)."""
    got = _MAKERS.get(cls)
    if got is None:
        if "__slots__" not in cls.__dict__ or hasattr(cls, "__post_init__"):
            got = cls
        else:
            names = [f.name for f in fields(cls)]
            src = (f"def make({', '.join(names)}):\n    p = new(cls)\n"
                   + "".join(f"    set_{n}(p, {n})\n" for n in names) + "    return p\n")
            scope = {"new": object.__new__, "cls": cls, **{f"set_{n}": getattr(cls, n).__set__ for n in names}}
            exec(src, scope)
            got = scope["make"]
        _MAKERS[cls] = got
    return got


def seg_len(flags, payload_len):
    """TCP sequence space a segment consumes (SYN and FIN count one each), on
    numbers or on numpy columns alike (the fast path's)."""
    return payload_len + ((flags & SYN) != 0) + ((flags & FIN) != 0)


@dataclass(frozen=True, slots=True)
class Exchange:
    """All that happened between one scanner and one target port.

    `probes` are the scanner's probes (first try and retransmissions, from
    whatever source port). `responses` are the target's (or a router's)
    answers that pair with one of them, in capture order. `followups` are what
    the scanner sent on the same connection after an answer (the ACK that
    completes a handshake, a RST, its kernel's RST). `stray` are packets from
    the target port that matched by ports but failed the exact
    sequence/acknowledgment test: kept so verify can explain them.
    """

    scanner: str
    target: str
    proto: str  # "tcp", "udp", "sctp"; "ip" (port = protocol number); pairing.py adds "arp", "nd", "icmp", "icmp6"
    port: int
    probes: tuple  # tuple[Packet, ...]
    responses: tuple = ()  # tuple[Packet, ...]
    followups: tuple = ()
    stray: tuple = ()
    completed_handshake: bool = False  # the scanner ACKed a SYN/ACK: a real connect()
    run: int = 0  # which run of this scanner against this target (sessions.py): 0, 1, ... by first probe

    @property
    def probe_flags(self) -> int:
        return self.probes[0].flags if self.probes else 0


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a scanner concludes from one exchange, in nmap's words."""

    state: State
    reason: Reason
    reason_ttl: int = 0
    probe_frames: tuple = ()
    response_frames: tuple = ()


@dataclass(frozen=True, slots=True)
class PortResult:
    proto: str
    port: int
    verdict: Verdict
    exchange: Exchange

    @property
    def state(self) -> State:
        return self.verdict.state


@dataclass(frozen=True)
class Text:
    """Words to be rendered later in some language: a template key of
    messages.py's catalogue and its parameters. Policy code (techniques/,
    scans.py) says why with a Text and never writes English itself; the
    reports render it (messages.render) in the language asked."""

    key: str
    params: tuple = ()  # sorted (name, value) pairs, so Texts compare and hash

    @classmethod
    def of(cls, key: str, **params) -> "Text":
        return cls(key, tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items())))

    def get(self, name: str, default=None):
        return dict(self.params).get(name, default)


@dataclass(frozen=True, slots=True)
class Scan:
    """One scan session: one scanner, one target, one technique."""

    capture: str
    scanner: str
    target: str
    technique: Technique
    ports: tuple  # tuple[PortResult, ...], sorted by (proto, port)
    probe_flags: Optional[str] = None  # the flag letters, when technique is UNKNOWN
    technique_evidence: object = ""  # a Text: why this technique was inferred (JSON: its English)
    first_ts: float = 0.0
    last_ts: float = 0.0
    tool: Optional[object] = None  # fingerprint.ToolGuess: the tool that most likely sent the probes
    zombie: Optional[str] = None  # idle scan: the zombie whose IP IDs were read ("addr:port")


@dataclass(frozen=True, slots=True)
class HostResult:
    """What host discovery concluded about one address, in nmap's words."""

    address: str
    state: HostState
    reason: Reason
    reason_ttl: int = 0
    probe_frames: tuple = ()
    response_frames: tuple = ()
    method: str = ""  # the probe that decided: "arp", "nd", "icmp-echo", "tcp-syn/80", ...
    mac: Optional[str] = None  # the address's MAC, from an ARP reply or ND advertisement in the capture


@dataclass(frozen=True, slots=True)
class Discovery:
    """One host-discovery session (a ping sweep): one scanner, many targets."""

    capture: str
    scanner: str
    hosts: tuple  # tuple[HostResult, ...], in address order
    methods: tuple = ()  # the kinds of probe sent: ("arp",), ("icmp-echo", "tcp-syn/443", ...)
    evidence: object = ""  # a Text
    first_ts: float = 0.0
    last_ts: float = 0.0


@dataclass(frozen=True, slots=True)
class Probing:
    """Probes that are not a port scan: nmap's version detection (-sV) and OS
    detection (-O), recognised and kept out of the port-scan sessions."""

    capture: str
    scanner: str
    target: str
    kind: str  # "version-detection" or "os-detection"
    probes: tuple  # names of the probes seen: "connect 80/tcp", "SEQ1", "T2", "IE1", "U1" ...
    frames: tuple  # the scanner's frames
    evidence: object = ""  # a Text
    first_ts: float = 0.0
    last_ts: float = 0.0
    tool: Optional[object] = None  # fingerprint.ToolGuess from its TCP/UDP probes, as for a Scan


@dataclass(frozen=True, slots=True)
class CaptureSummary:
    path: str
    packets: int = 0
    skipped: int = 0  # records that did not decode (damaged, cut short, unsupported link type)
    non_ip: int = 0  # well-formed frames that carry no IP (ARP, LLDP, STP)
    duplicates: int = 0  # the same packet seen twice (capture on "any", bridges)
    warnings: tuple = ()
    link_types: tuple = ()
    error: Optional[str] = None  # set when the file could not be read at all
    # Ordinary traffic beside the scans (exchanges.py's not-a-probe rules; a client's
    # own UDP conversations, scans.client_conversation): counted, never a scan session.
    other_connections: int = 0
    other_packets: int = 0
    other_attempts: int = 0  # ... of them, lone attempts on one TCP port (scans.lone_attempt): no scan


@dataclass(frozen=True)
class AnalysisResult:
    captures: tuple = ()
    scans: tuple = ()
    errors: tuple = field(default=())  # one line per capture that could not be read
    discoveries: tuple = ()  # tuple[Discovery, ...]: host discovery (ping) sessions
    probings: tuple = ()  # tuple[Probing, ...]: version and OS detection
