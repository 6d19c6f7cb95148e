"""Which tool sent a scan session: policy, from the probes' own fields.

    guess = identify(exchanges)      # ToolGuess(name, confidence, evidence)

Every tool builds its probes its own way, and the fields show it: nmap's raw
probes take a random TTL from 37-59, a window of 1024 and MSS as the SYN's
only option, one source port for a whole scan (retries from nearby ports)
and one sequence number for every first try; an operating system's
connect() puts SACK, timestamps and window scaling on its SYN and a new
ephemeral port on each connection; masscan sends TTL 255, window 1024 and an
IP ID of (destination address ^ port ^ seq); zmap TTL 255, window 65535 and
IP ID 54321; scapy, left to its defaults, source port 20 (TCP) or 53 (UDP),
window 8192, sequence number 0 and IP ID 1; hping3 window 512, a non-zero
acknowledgment number without the ACK flag and a source port that grows by
one per packet; unicornscan (its default profile) TTL 255, window 4128 and
MSS alone; pcapscan's own scanner marks its raw probes with IP ID and window
0x7063 ("pc").

Each tool is a `Signature`: a list of `Clue`s, declared as data below. A
clue is a test of one field with a weight; the test says whether the session
shows the trait, in a sentence naming the field and the value seen, or that
it cannot tell (too few probes, no SYN, IPv6 has no IP ID, ...). A
signature's score is the weight of its clues that hold over the weight of
those that could be told; its confidence is that score, scaled down while
the weight behind it is small. The best signature with enough weight behind
it names the tool; with none, the guess is `unknown` and its evidence lists
the fields observed. A name never comes without the sentences that support
it; the sentences against it come too, marked "against:".
"""
from __future__ import annotations

import functools
import ipaddress
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import numpy as np

from .kernel import OS_SYN_OPTION_KINDS, is_kernel_rst
from .model import ACK, RST, SYN, TCP_BASE_FLAGS, Exchange, flag_letters
from .speedups import compiled

TOOL_NAMES = ("nmap", "os-connect", "masscan", "zmap", "scapy", "hping3", "unicornscan", "pcapscan", "unknown")
# The names that are no scanner: an operating system's own stack, or no signature at all.
# A session any other tool sent is a scan even of one port (scans.client_conversation reads ToolGuess.is_scanner).
NOT_SCANNERS = ("os-connect", "unknown")

# A signature needs this much clue weight behind it to name a tool at all,
# and its confidence reaches its score only from FULL_WEIGHT on.
MIN_WEIGHT = 3.0
MIN_SCORE = 0.5
FULL_WEIGHT = 6.0

OPTION_NAMES = {0: "eol", 1: "nop", 2: "mss", 3: "wscale", 4: "sackOK", 5: "sack", 8: "TS", 19: "md5"}
INITIAL_TTLS = (32, 64, 128, 255)
NMAP_TTL_RANGE = (37, 59)  # nmap: each raw probe's TTL is random in 37..59
NMAP_WINDOWS = (1024, 2048, 3072, 4096)  # 7.x: 1024; older versions picked among these
# Windows operating systems put on a connect()'s SYN (Linux 64240/29200/64800/65160/
# 14600/5840, BSD and macOS 65535/16384, Windows 64240/8192/65535).
OS_WINDOWS = (64240, 29200, 64800, 65160, 65535, 14600, 5840, 16384, 8192, 42340, 43690, 32768)
# nmap OS detection (-O) probes: (window, TCP option kinds), nmap book "TCP/IP
# fingerprinting methods": SEQ 1-6, ECN and T2-T7.
NMAP_OS_PROBES = {
    (1, (3, 1, 2, 8, 4)): "SEQ1", (63, (2, 3, 4, 8, 0)): "SEQ2", (4, (8, 1, 1, 3, 1, 2)): "SEQ3",
    (4, (4, 8, 3, 0)): "SEQ4", (16, (2, 4, 8, 3, 0)): "SEQ5", (512, (2, 4, 8)): "SEQ6",
    (3, (3, 1, 2, 4, 1, 1)): "ECN", (128, (3, 1, 2, 8, 4)): "T2", (256, (3, 1, 2, 8, 4)): "T3",
    (1024, (3, 1, 2, 8, 4)): "T4", (31337, (3, 1, 2, 8, 4)): "T5", (32768, (3, 1, 2, 8, 4)): "T6",
    (65535, (3, 1, 2, 8, 4)): "T7",
}
NMAP_U1_IP_ID = 0x1042  # nmap OS detection's UDP probe: 300 bytes of 'C', IP ID 0x1042
# UDP ports nmap 7.93 sends a protocol payload to (nmap-payloads); other ports get an empty datagram.
NMAP_UDP_PAYLOAD_PORTS = frozenset(
    [7, 53, 67, 69, 80, 111, 123, 135, 137, 161, 177, 260, 389, 427, 443, 500, 520, 623, 626, 853, 1194, 1604,
     1645, 1701, 1812, 1900, 2049, 2123, 2152, 2302, 3283, 3386, 3391, 3401, 3478, 3784, 4045, 4433, 4500, 4665,
     4666, 4672, 4740, 5349, 5351, 5353, 5632, 5683, 5684, 5868, 6429, 6481, 6514, 6636, 7777, 8232, 8767, 9987,
     10001, 10080, 10161, 10162, 11211, 12346, 12446, 12546, 12646, 12746, 12846, 12946, 13046, 17185, 26198,
     27444, 31337, 34555, 44400, 48899, 64738]
    + list(range(1025, 1200)) + list(range(26000, 26005)) + list(range(27015, 27031))
    + list(range(27910, 27915)) + list(range(27960, 27965)) + list(range(30720, 30725))
    + list(range(32768, 65536)))  # ONCRPC to every high port
SCAPY_SPORT = {"tcp": 20, "udp": 53}
# pcapscan's own raw probes (`pcapscan scan`, live/scanner.py) carry this IP ID (IPv4) and TCP window,
# "pc" in ASCII, so that pcapscan tells its own traffic from a scapy script's (whose defaults it
# otherwise keeps: TTL 64, no TCP options).
PCAPSCAN_IP_ID = 0x7063
PCAPSCAN_WINDOW = 0x7063


@dataclass(frozen=True, slots=True)
class ToolGuess:
    """The most likely tool for a scan session, how sure, and why."""

    name: str  # one of TOOL_NAMES
    confidence: float  # 0.0-1.0
    evidence: tuple = ()  # sentences naming fields and values

    def to_dict(self) -> dict:
        return {"name": self.name, "confidence": self.confidence, "evidence": list(self.evidence)}

    @property
    def is_scanner(self) -> bool:
        return self.name not in NOT_SCANNERS

    @property
    def label(self) -> str:
        return f"{self.name} ({self.confidence:.2f})"


# -- what the probes show: columns ------------------------------------------------------
#
# The clues read a session's probes as numpy columns, one per field, so that one
# implementation serves a session of five exchanges (built here from Exchange
# objects: Observed.of) and one of millions of probes (built by the fast path
# from its own tables: fastpath/fprint.py). Columns may keep narrow integer types
# (uint8 TTLs, uint16 ports...); a clue widens them where its arithmetic could overflow.

FIELDS = (
    "frame",  # capture frame number: the columns are in frame order
    "tcp", "udp",  # the probe's protocol (neither: SCTP, another IP protocol)
    "ttl", "ip_id", "window", "flags", "seq", "ack", "sport", "dport",
    "opt",  # the TCP option layout's id in Observed.options
    "mss",  # the MSS option's value; -1 without one
    "payload",  # TCP/UDP payload bytes
    "dst16",  # the destination address's low 16 bits (masscan's IP ID formula)
    "ex",  # the exchange the probe belongs to: 0..n-1
)


class Cols:
    """Columns (FIELDS) of one group of packets, sorted by frame. `base` maps
    a field to its column, `idx` (None: all) selects and orders its rows; a
    field is gathered the first time a clue reads it."""

    def __init__(self, base=None, idx=None, **cols):
        if base is None:
            base = {k: np.asarray(cols[k]) for k in FIELDS}
            frame = base["frame"]
            idx = None if _is_sorted(frame) else np.argsort(frame, kind="stable")
        self._base = base
        self._idx = idx
        self._n = len(base["frame"]) if idx is None else len(idx)

    def __getattr__(self, name):
        if name not in FIELDS:
            raise AttributeError(name)
        col = self._base[name]
        if self._idx is not None:
            col = col[self._idx]
        self.__dict__[name] = col
        return col

    def __len__(self):
        return self._n

    def take(self, mask) -> "Cols":
        """The rows where mask holds; the same mask again (several clues take
        the TCP first tries, say) gives the same Cols, whose gathered columns
        and their counts (_counts) are then shared."""
        mask = np.asarray(mask, bool)
        if mask.all():  # every row (the TCP probes of an all-TCP scan): these very columns
            return self
        memo = self.__dict__.setdefault("_takes", {})
        key = np.packbits(mask).tobytes()
        got = memo.get(key)
        if got is None:
            sel = np.nonzero(mask)[0]
            idx = sel if self._idx is None else self._idx[sel]
            got = memo[key] = Cols(self._base, idx)
        return got


def _is_sorted(a: np.ndarray) -> bool:
    return len(a) < 2 or bool((a[1:] >= a[:-1]).all())


def _address_low16(text: str) -> int:
    return int(ipaddress.ip_address(text)) & 0xFFFF


def packet_columns(pkts: list, ex_ids: list, option_id: Callable[[tuple], int]) -> dict:
    """The FIELDS columns of Packets (`ex_ids`: each one's exchange; `option_id`: a layout's id)."""
    if not pkts:
        return {k: np.zeros(0, bool if k in ("tcp", "udp") else np.int64) for k in FIELDS}
    low16: dict = {}
    layouts: dict = {}
    for p in pkts:
        if p.dst not in low16:
            low16[p.dst] = _address_low16(p.dst)
        if p.options not in layouts:
            layouts[p.options] = option_id(p.options)
    i64 = np.int64
    return {
        "frame": np.array([p.frame for p in pkts], i64),
        "tcp": np.array([p.proto == "tcp" for p in pkts], bool),
        "udp": np.array([p.proto == "udp" for p in pkts], bool),
        "ttl": np.array([p.ttl for p in pkts], i64),
        "ip_id": np.array([p.ip_id for p in pkts], i64),
        "window": np.array([p.window for p in pkts], i64),
        "flags": np.array([p.flags for p in pkts], i64),
        "seq": np.array([p.seq for p in pkts], i64),
        "ack": np.array([p.ack for p in pkts], i64),
        "sport": np.array([p.sport for p in pkts], i64),
        "dport": np.array([p.dport for p in pkts], i64),
        "opt": np.array([layouts[p.options] for p in pkts], i64),
        "mss": np.array([-1 if p.mss is None else p.mss for p in pkts], i64),
        "payload": np.array([p.payload_len for p in pkts], i64),
        "dst16": np.array([low16[p.dst] for p in pkts], i64),
        "ex": np.asarray(ex_ids, i64),
    }


def is_synack(p) -> bool:
    return p.proto == "tcp" and bool(p.flags & SYN) and bool(p.flags & ACK)


@dataclass
class ExchangePackets:
    """The packets of Exchange objects sorted out for Observed: every probe
    (with its exchange's number, from `first_id` on), which of them are first
    tries and which retries, and the few packets clues read one by one."""

    probes: list
    ids: list  # per probe: its exchange's number
    first: list  # rows of probes: each exchange's first try
    retries: list  # rows of probes: the others
    followups: list  # in frame order
    synacks: list
    completed: list  # per exchange

    @classmethod
    def of(cls, exchanges: Iterable[Exchange], first_id: int = 0) -> "ExchangePackets":
        probes, ids, first, retries, followups, synacks, completed = [], [], [], [], [], [], []
        for j, ex in enumerate((ex for ex in exchanges if ex.probes), first_id):
            n = len(probes)
            first.append(n)
            retries += range(n + 1, n + len(ex.probes))
            probes += ex.probes
            ids += [j] * len(ex.probes)
            followups += ex.followups
            synacks += [r for r in ex.responses if is_synack(r)]
            completed.append(ex.completed_handshake)
        followups.sort(key=lambda p: p.frame)
        return cls(probes, ids, first, retries, followups, synacks, completed)

    def columns(self, option_id: Callable[[tuple], int]) -> list:
        """The FIELDS columns of probes, first tries and retries."""
        every = packet_columns(self.probes, self.ids, option_id)
        first, retries = np.array(self.first, np.int64), np.array(self.retries, np.int64)
        return [every, {k: v[first] for k, v in every.items()}, {k: v[retries] for k, v in every.items()}]

    def earliest(self):
        """The first probe (in frame order), or None."""
        return min(self.probes, key=lambda p: p.frame) if self.probes else None


class Observed:
    """A session's packets, sorted out once for every clue: its probes, each
    exchange's first try and its retries as columns (Cols); the few packets
    two clues read one by one (what the scanner sent after an answer, the
    SYN/ACKs that may explain it) as Packets."""

    def __init__(self, probes: Cols, first: Cols, retries: Cols, followups: list, synacks: list,
                 n_synacks: int, completed: np.ndarray, options: list, ip_version: int):
        self.probes, self.first, self.retries = probes, first, retries
        self.followups = followups  # Packets the scanner sent after an answer, in frame order
        self.synacks = synacks  # the SYN/ACK Packets those may answer (a kernel's RST)
        self.n_synacks = n_synacks  # SYN/ACK answers in the session
        self.completed = completed  # per exchange: the scanner completed the handshake
        self.options = options  # option layout id -> tuple of kinds
        self.ip_version = ip_version  # of the first probe
        self.tcp = probes.take(probes.tcp)
        self.udp = probes.take(probes.udp)
        self.syns = self.tcp.take((self.tcp.flags & SYN) > 0)
        self.clues: dict = {}  # a clue several signatures share is read once

    @classmethod
    def of(cls, exchanges: Iterable[Exchange]) -> "Observed":
        pk = ExchangePackets.of(exchanges)
        option_ids = {(): 0}
        cols = [Cols(**c) for c in pk.columns(lambda kinds: option_ids.setdefault(kinds, len(option_ids)))]
        if not pk.retries:  # every probe a first try: one Cols (its columns gathered and counted once)
            cols[1] = cols[0]
        earliest = pk.earliest()
        return cls(*cols, pk.followups, pk.synacks, len(pk.synacks), np.array(pk.completed, bool), list(option_ids),
                   earliest.ip_version if earliest else 4)

    @functools.cached_property
    def kinds(self) -> frozenset:
        """Probe kinds: TCP flag letters ("S", "F", "FPU", "", "A", ...) or "udp"."""
        f = self.first
        out = {"udp"} if f.udp.any() else set()
        flags = f.flags[~f.udp] if out else f.flags
        for v in most_common(flags)[0].tolist():  # each value once (most probes' at one comparison)
            out.add(flag_letters(v & TCP_BASE_FLAGS))
        return frozenset(out)

    @functools.cached_property
    def window_layouts(self) -> np.ndarray:
        """Per TCP probe: its window and its option layout's id as one number, window * 2**20 + id."""
        tcp = self.tcp
        return tcp.window.astype(np.int64) * (1 << 20) + tcp.opt

    @functools.cached_property
    def os_probe_exchanges(self) -> np.ndarray:
        """Per exchange: one of its TCP probes has the window and options of an nmap OS-detection probe."""
        out = np.zeros(len(self.completed), bool)
        ids = {kinds: i for i, kinds in enumerate(self.options)}
        ref = [w * (1 << 20) + ids[kinds] for w, kinds in NMAP_OS_PROBES if kinds in ids]
        tcp = self.tcp
        if ref and len(tcp):
            keys = self.window_layouts
            seen = _counts(keys)[0]  # the pairs the probes show (nmap_os_probes reads them too): looked up first
            found = seen[np.isin(seen, np.array(ref, np.int64))]
            if len(found):
                out[tcp.ex[np.isin(keys, found)]] = True
        return out

    @functools.cached_property
    def without_os_probes(self) -> "Observed":
        """The session less nmap's OS-detection probes, whose windows and options are their own."""
        os_ex = self.os_probe_exchanges
        if not os_ex.any():
            return self
        keep = ~os_ex
        sel = lambda c: c.take(keep[c.ex])  # noqa: E731
        return Observed(sel(self.probes), sel(self.first), sel(self.retries), self.followups, self.synacks,
                        self.n_synacks, self.completed, self.options, self.ip_version)


# -- counting, as collections.Counter does -----------------------------------------------
#
# Sentences list values most common first, ties in order of first appearance
# (Counter.most_common). The columns of one session are counted once (_counts).

_COUNTED: dict = {}  # id(column) -> (column, counts), while one session is read


def _counts(values: np.ndarray):
    """(values most common first, ties by first appearance; their counts)."""
    got = _COUNTED.get(id(values))
    if got is not None and got[0] is values:
        return got[1]
    res = most_common(values)
    _COUNTED[id(values)] = (values, res)
    return res


def _by_count_then_first(first: np.ndarray, cnt: np.ndarray, n: int) -> np.ndarray:
    """np.lexsort((first, -cnt)) for distinct first rows below n, without a comparison
    sort: a counting sort by first row, then a stable radix sort by count."""
    slot = np.full(n, -1, np.int64)
    slot[first] = np.arange(len(first))
    by_first = slot[slot >= 0]
    c = cnt[by_first]
    top = int(c.max())
    key = (top - c).astype(np.uint16) if top < (1 << 16) else -c
    return by_first[np.argsort(key, kind="stable")]


def most_common(values: np.ndarray):
    """collections.Counter(values).most_common() of a column, as two columns: the
    values most common first, ties by first appearance; their counts."""
    n = len(values)
    if not n:
        return values[:0], np.zeros(0, np.int64)
    # most columns of a scan hold one value on most rows (a constant TTL, window,
    # sequence number, source port...): that of the first row, counted by one
    # comparison, the few others counted apart. It appears first, so it goes
    # before the others of the same count.
    other = values != values[0]
    m = int(np.count_nonzero(other))
    if m <= n // 2:
        u, c = most_common(values[other])
        at = int(np.count_nonzero(c > n - m))  # c is non-increasing
        return (np.concatenate([u[:at], values[:1], u[at:]]),
                np.concatenate([c[:at], np.array([n - m], np.int64), c[at:]]))
    native = compiled()
    if native is not None and values.dtype.kind in "biu":  # one pass (cnative.c); below, its pure twin
        rows, cnt = native.count_values(np.ascontiguousarray(values))
        return values[np.frombuffer(rows, np.int64)], np.frombuffer(cnt, np.int64)
    lo, hi = int(values.min()), int(values.max())
    if lo >= 0 and hi < (1 << 17):  # small numbers: counted, not sorted
        cnt = np.bincount(values, minlength=hi + 1)
        first = np.full(hi + 1, n, np.int64)
        rows = np.arange(n)
        np.minimum.at(first, values, rows)
        # the distinct values in order of first appearance, read off the column itself
        uniq = values[first[values] == rows]
        c = cnt[uniq]
        top = int(c.max())
        if top != int(c.min()):  # a stable sort by count (radix, on narrow keys) keeps ties by first
            key = (top - c).astype(np.uint8 if top < (1 << 8) else np.uint16) if top < (1 << 16) else -c
            order = np.argsort(key, kind="stable")
            uniq, c = uniq[order], c[order]
        return uniq, c
    uniq, first, cnt = np.unique(values, return_index=True, return_counts=True)
    order = _by_count_then_first(first, cnt, n)
    return uniq[order], cnt[order]


def _in_order(values: np.ndarray) -> np.ndarray:
    """The distinct values in order of first appearance."""
    n = len(values)
    if n < 64:
        return np.array(list(dict.fromkeys(values.tolist())), values.dtype)
    other = values != values[0]  # the first row's value on most rows: the others apart (see most_common)
    m = int(np.count_nonzero(other))
    if m <= n // 2:
        return np.concatenate([values[:1], _in_order(values[other])])
    uniq, first = np.unique(values, return_index=True)
    return uniq[np.argsort(first, kind="stable")]


def _as_set(values: np.ndarray) -> set:
    """set(values.tolist()), built from the distinct values in order of first
    appearance: the same table, so the same iteration order, for less work."""
    return set(values.tolist() if len(values) < 64 else _in_order(values).tolist())


# a column at least this long of small non-negative numbers has its head counted by value (most_common_head)
HEAD_MIN_ROWS = 1024


def _by_value(values: np.ndarray) -> bool:
    """Whether most_common_head counts the column by value: long, of uint8 or uint16."""
    return len(values) >= HEAD_MIN_ROWS and values.dtype.kind == "u" and values.dtype.itemsize <= 2


def most_common_head(values: np.ndarray, limit: int) -> tuple:
    """most_common(values)'s first `limit` values (a list) and how many distinct values
    there are. A long column of small non-negative numbers (uint8, uint16: TTLs, IP IDs,
    ports, windows) is counted by value and only its head put in order, not every one of
    its thousands of values (a random IP ID); any other column, by most_common."""
    if not _by_value(values):
        vals = most_common(values)[0]
        return vals[:limit].tolist(), len(vals)
    cnt = np.bincount(values)
    distinct = int(np.count_nonzero(cnt))
    k = min(limit, distinct)
    if not k:
        return [], distinct
    kth = int(np.partition(cnt, len(cnt) - k)[len(cnt) - k])  # the k-th largest count (k <= distinct: not 0)
    # fewer than k values counted more: each in place by its count, then its first row
    above = np.flatnonzero(cnt > kth).tolist()
    head = sorted(above, key=lambda v: (-int(cnt[v]), int(np.argmax(values == v))))
    # then the first to appear of those counted kth times (at least k - len(above) of them),
    # looked for in ever longer stretches of rows from the top
    need = k - len(head)
    got: dict = {}
    lo, size = 0, 256
    while len(got) < need:
        rows = values[lo:lo + size]
        got.update(dict.fromkeys(rows[cnt[rows] == kth].tolist()))
        lo, size = lo + size, size * 2
    return head + list(got)[:need], distinct


def _head(values: np.ndarray, limit: int) -> tuple:
    """(the `limit` most common values, a list; how many distinct values): off the column's
    counts where a clue counted it already (_counts), else by most_common_head where that
    spares ordering a long column's every value, else counted (and kept) by _counts."""
    got = _COUNTED.get(id(values))
    if got is None or got[0] is not values:
        if _by_value(values):
            return most_common_head(values, limit)
        vals = _counts(values)[0]
    else:
        vals = got[1][0]
    return vals[:limit].tolist(), len(vals)


def _distinct(values: np.ndarray) -> int:
    return _head(values, 0)[1]


def _most_common_share(values: np.ndarray) -> tuple:
    if not len(values):
        return None, 0.0
    vals, cnt = _counts(values)
    return vals[0].item(), int(cnt[0]) / len(values)


def _bases(values: np.ndarray, share: float = 0.1, most: int = 3) -> tuple:
    """The few values (at most `most`, each on >= `share` of `values`) that
    most of `values` take, and the share they cover: one per run of a tool
    that keeps a value for a whole scan, when a session holds several runs."""
    vals, cnt = _counts(values)
    if len(values) < 10:  # too few to tell several runs from no pattern: one value must do
        most = 1
    top = list(zip(vals[:most].tolist(), cnt[:most].tolist()))
    bases = [v for v, c in top if c >= share * len(values)]
    covered = sum(c for v, c in top if v in bases) / len(values) if len(values) else 0.0
    return bases, covered


# -- wording helpers --------------------------------------------------------------


def options_text(kinds: tuple) -> str:
    return ",".join(OPTION_NAMES.get(k, str(k)) for k in kinds) if kinds else "none"


def _values(values: np.ndarray, limit: int = 4) -> str:
    """'1024' for one value, '37, 41, 52 (+3 more)' for many (most common first)."""
    head, distinct = _head(values, limit)
    return _shown([str(v) for v in head], distinct)


def values_text(values: Iterable, limit: int = 4) -> str:
    """_values of Python values: '1024' for one value, '37, 41, 52 (+3 more)' for many (most common
    first; a set in its iteration order)."""
    counts = Counter(values)
    return _shown([str(v) for v, _ in counts.most_common(limit)], len(counts))


def _shown(shown: list, total: int) -> str:
    more = total - len(shown)
    return ", ".join(shown) + (f" (+{more} more)" if more > 0 else "")


def every_text(n: int) -> str:
    n = int(n)
    return "the only probe" if n == 1 else "both probes" if n == 2 else f"all {n} probes"


def initial_ttl(ttl: int) -> int:
    return next((t for t in INITIAL_TTLS if ttl <= t), 255)


def ttl_words(ttl: int) -> str:
    start = initial_ttl(ttl)
    hops = start - ttl
    return f"TTL {ttl}" + (f" (initial {start}, {hops} hop{'s' if hops > 1 else ''} away)" if 0 < hops <= 16 else "")


def _one_ttl(obs: "Observed"):
    """The TTL of every probe, or None when it varies."""
    ttls = _counts(obs.probes.ttl)[0]
    return int(ttls[0]) if len(ttls) == 1 else None


# -- clue tests: (Observed, arg) -> None (cannot tell) or (holds, sentence) ------------

Result = Optional[tuple]


def ttl_random_range(obs: Observed, rng: tuple) -> Result:
    if obs.ip_version != 4 or not len(obs.probes):
        return None
    lo, hi = rng
    col = obs.probes.ttl  # shown as itself; read by its counts (shared with the other TTL clues)
    vals, cnt = _counts(col)
    ttls = vals.astype(np.int64)  # each TTL the probes carry, once; cnt[i] of them carry ttls[i]
    # Captured up to 16 hops away the range slides down; other traffic of the
    # same host may share the session, so most probes, not all, must fit.
    win = (ttls >= lo - 16) & (ttls <= hi)
    base = int(ttls[win].max()) if win.any() else int(ttls.max())  # the highest inside, else the highest
    fit = win & (np.abs(ttls - base) <= hi - lo)
    inside = ttls[fit]
    n_inside = int(cnt[fit].sum())
    share = n_inside / len(col)
    distinct = len(inside)
    if len(obs.first) >= 3:
        if distinct >= 2 and share >= 0.9:
            text = (f"TTL varies per probe: {distinct} values from {inside.min()} to {inside.max()} "
                    f"(nmap gives each raw probe a random TTL in {lo}-{hi})")
            if share < 1:
                other = values_text(_as_set(col) - set(inside.tolist()), 2)
                text += f"; {len(col) - n_inside} other packets of this host carry TTL {other}"
            return True, text
        if len(vals) == 1:
            return False, f"TTL {col[0]} on {every_text(len(col))} (nmap's raw probes take a random TTL in {lo}-{hi})"
        return False, f"TTLs {_values(col)} (not nmap's random {lo}-{hi})"
    if share == 1 and ((ttls >= lo) & (ttls <= hi)).all():
        return True, (f"TTL {_values(col)}: inside nmap's random range {lo}-{hi}, "
                      f"no operating system's initial TTL")
    return False, f"TTL {_values(col)} (nmap's raw probes take a random TTL in {lo}-{hi})"


def ttl_constant(obs: Observed, initial: int) -> Result:
    if not len(obs.probes):
        return None
    ttl = _one_ttl(obs)
    if ttl is not None:
        holds = initial_ttl(ttl) == initial and initial - ttl <= 16
        return holds, f"{ttl_words(ttl)} on {every_text(len(obs.probes))}"
    return False, f"TTL varies per probe ({_values(obs.probes.ttl)})"


def ttl_os_default(obs: Observed, _arg=None) -> Result:
    if not len(obs.probes):
        return None
    ttl = _one_ttl(obs)
    if ttl is not None:
        holds = initial_ttl(ttl) in (64, 128, 255) and initial_ttl(ttl) - ttl <= 16
        return holds, f"{ttl_words(ttl)} on {every_text(len(obs.probes))}, an operating system's default"
    return False, f"TTL varies per probe ({_values(obs.probes.ttl)}): no kernel does that"


def window_in(obs: Observed, windows: tuple) -> Result:
    tcp = obs.tcp
    if not len(tcp):
        return None
    seen = tcp.window
    holds = bool(np.isin(_counts(seen)[0], np.array(windows)).all())
    return holds, f"TCP window {_values(seen)} on {every_text(len(tcp)) if _distinct(seen) == 1 else 'the probes'}"


def window_os(obs: Observed, _arg=None) -> Result:
    syns = obs.syns
    if not len(syns):
        return None
    seen = _counts(syns.window)[0]
    holds = len(seen) == 1 and int(seen[0]) in OS_WINDOWS
    return holds, f"SYN window {_values(syns.window)}" + (", a common operating-system window" if holds else "")


def syn_options(obs: Observed, kinds: tuple) -> Result:
    syns = obs.syns
    if not len(syns):
        return None
    seen = {obs.options[i] for i in _counts(syns.opt)[0].tolist()}
    holds = seen == {tuple(kinds)}
    what = options_text(next(iter(seen))) if len(seen) == 1 else "; ".join(sorted(options_text(s) for s in seen))
    mss = syns.mss[syns.mss > 0]  # 0 and none left out
    extra = f" (mss {values_text(set(_in_order(mss).tolist()))})" if len(mss) and holds else ""
    return holds, f"SYN options: {what}{extra}"


def no_options(obs: Observed, _arg=None) -> Result:
    tcp = obs.tcp
    if not len(tcp):
        return None
    empty = np.array([not kinds for kinds in obs.options])[tcp.opt]
    if empty.all():
        return True, f"no TCP options on {every_text(len(tcp))}"
    first = int(tcp.opt[~empty][0])
    return False, f"TCP options {options_text(obs.options[first])} on {int((~empty).sum())} of {len(tcp)} probes"


def os_syn_options(obs: Observed, _arg=None) -> Result:
    syns = obs.syns
    if not len(syns):
        return None
    layout_id, share = _most_common_share(syns.opt)
    layout = obs.options[layout_id]
    if share >= 0.9 and set(layout) & OS_SYN_OPTION_KINDS:
        return True, (f"SYN options {options_text(layout)}: an operating system's connect() "
                      f"(SACK/timestamps/window scale)")
    layouts = _distinct(syns.opt)
    if layouts > 1:
        return False, f"SYN options vary per probe ({layouts} layouts): a kernel puts the same options on every SYN"
    return False, f"SYN options {options_text(layout)}: no SACK/timestamps/window scale"


def nmap_os_probes(obs: Observed, _arg=None) -> Result:
    """A bonus clue: only counted when it holds."""
    hits = set()
    tcp = obs.tcp
    if len(tcp):
        keys, _ = _counts(obs.window_layouts)
        for w, o in zip((keys >> 20).tolist(), (keys & ((1 << 20) - 1)).tolist()):
            name = NMAP_OS_PROBES.get((w, obs.options[o]))
            if name is not None:
                hits.add(name)
    u = obs.udp
    if len(u) and ((u.ip_id == NMAP_U1_IP_ID) & (u.payload == 300)).any():
        hits.add("U1")
    if not hits:
        return None
    return True, (f"nmap OS-detection probes (-O): the window/option shapes of {', '.join(sorted(hits))} "
                  f"(e.g. SEQ1: window 1, options wscale,nop,mss,TS,sackOK; U1: 300 bytes, IP ID 0x1042)")


def nmap_window(obs: Observed, windows: tuple) -> Result:
    return window_in(obs.without_os_probes, windows)


def nmap_syn_options(obs: Observed, kinds: tuple) -> Result:
    return syn_options(obs.without_os_probes, kinds)


def ipid_varies(obs: Observed, _arg=None) -> Result:
    """A kernel never repeats a non-zero IP ID on packet after packet."""
    if obs.ip_version != 4 or len(obs.probes) < 2:
        return None
    ids = obs.probes.ip_id
    value, share = _most_common_share(ids)
    if share >= 0.8 and value != 0:
        return False, f"IP ID {value} on {round(share * 100)}% of {len(ids)} probes: no kernel repeats an IP ID"
    return True, f"IP ID {'0 (DF set)' if value == 0 and share >= 0.8 else f'{_distinct(ids)} values'} " \
                 f"for {len(ids)} packets"


def one_sport_nearby_retries(obs: Observed, _arg=None) -> Result:
    first = obs.first
    if len(first) < 2:
        if len(first) and len(obs.retries):
            base = int(first.sport[0])
            d = obs.retries.sport.astype(np.int64, copy=False) - base
            near = obs.retries.sport[(d > 0) & (d <= 64)]
            if len(near):
                return True, f"source port {base}, retry from the nearby port {near[0]} (nmap's retry pattern)"
        return None
    sports = first.sport
    bases, covered = _bases(sports)
    if not bases or covered < 0.9:
        return False, f"{_distinct(sports)} source ports for {len(first)} first tries ({_values(sports, 3)}): " \
                      f"nmap uses one per scan"
    text = f"source port {', '.join(map(str, bases))} for {round(covered * 100)}% of {len(first)} first tries"
    if len(bases) > 1:
        text += f" (one per scan run: {len(bases)} runs)"
    retried = np.sort(_counts(obs.retries.sport.astype(np.int64, copy=False))[0])
    retry_ports = retried[~np.isin(retried, np.array(bases, np.int64))]
    if len(retry_ports):
        d = retry_ports[:, None] - np.array(bases, np.int64)[None, :]
        near = retry_ports[((d > 0) & (d <= 64)).any(axis=1)]
        text += f", retries from {_values(near if len(near) else retry_ports, 3)}"
        if len(near):
            text += " (nearby ports: nmap's retry pattern)"
    return True, text


def one_sport(obs: Observed, _arg=None) -> Result:
    if len(obs.probes) < 2:
        return None
    sports = _counts(obs.probes.sport)[0]
    if len(sports) == 1:
        return True, f"source port {sports[0]} on {every_text(len(obs.probes))}"
    return False, f"source ports {_values(obs.probes.sport)}"


def sport_is(obs: Observed, by_proto: dict) -> Result:
    f = obs.first
    sel = np.zeros(len(f), bool)
    for proto in ("tcp", "udp"):
        if proto in by_proto:
            sel |= getattr(f, proto)
    first = f.take(sel)
    if not len(first):
        return None
    present = [proto for proto in ("tcp", "udp") if getattr(first, proto).any()]
    want = " / ".join(f"{by_proto[proto]} for {proto.upper()}" for proto in present)
    holds = bool((first.sport == np.where(first.udp, by_proto.get("udp", -1), by_proto.get("tcp", -1))).all())
    seen = _values(first.sport)
    if holds:
        return True, f"source port {seen} on every first try: scapy's default ({want})"
    return False, f"source port {seen} (scapy's default is {want})"


def sport_incrementing(obs: Observed, _arg=None) -> Result:
    probes = obs.probes
    if len(probes) < 3:
        return None
    sp = probes.sport.astype(np.int64, copy=False)
    share = int((np.diff(sp) == 1).sum()) / (len(sp) - 1)
    if share >= 0.8:
        return True, f"source port grows by one per probe ({', '.join(map(str, sp[:3].tolist()))}, ...)"
    return False, f"source ports {_values(probes.sport, 3)} do not grow by one per probe"


def sport_per_connection(obs: Observed, _arg=None) -> Result:
    """A kernel: a new ephemeral port per connect(), retransmissions on the same port."""
    first = obs.first
    if len(first) >= 2:
        distinct = _distinct(first.sport)
        holds = distinct >= 0.9 * len(first) and bool((first.sport >= 1024).all())
        return holds, (f"{distinct} source ports for {len(first)} connections"
                       + (" (a new ephemeral port per connect())" if holds else ""))
    if len(first) and len(obs.retries):
        same = bool((obs.retries.sport == first.sport[0]).all())
        return same, (f"retransmissions from the same source port {first.sport[0]}, as a kernel does" if same
                      else f"retransmissions from other source ports than {first.sport[0]}")
    return None


def same_first_seq(obs: Observed, _arg=None) -> Result:
    firsts = obs.first.take(obs.first.tcp)
    if len(firsts) < 2:
        return None
    has_ack = (firsts.flags & ACK) > 0
    if has_ack.all() or not has_ack.any():  # one column: itself, its counts shared with other clues
        keys = firsts.ack if has_ack.all() else firsts.seq
    else:
        keys = np.where(has_ack, firsts.ack, firsts.seq)
    field = "acknowledgment number" if has_ack.all() else "sequence number"
    bases, covered = _bases(keys)
    if bases and covered >= 0.8 and 0 not in bases:
        return True, (f"{field} {', '.join(map(str, bases))} on {round(covered * 100)}% of {len(firsts)} first "
                      f"tries (one per scan, as nmap does)")
    if bases == [0]:
        return False, f"{field} 0 on the first tries"
    return False, f"{field}s differ per probe ({_distinct(keys)} values for {len(firsts)} first tries)"


def seq_random(obs: Observed, _arg=None) -> Result:
    f = obs.first
    firsts = f.take(f.tcp & ((f.flags & ACK) == 0))
    if len(firsts) < 2:
        return None
    distinct = _distinct(firsts.seq)
    holds = distinct == len(firsts) and not (firsts.seq == 0).any()
    return holds, f"{distinct} sequence numbers for {len(firsts)} first tries" + (" (new per probe)" if holds else "")


def seq_ack_zero(obs: Observed, _arg=None) -> Result:
    tcp = obs.tcp
    if not len(tcp):
        return None
    if ((tcp.seq == 0) & (tcp.ack == 0)).all():
        return True, f"sequence number 0 and acknowledgment number 0 on {every_text(len(tcp))}"
    return False, f"sequence numbers {_values(tcp.seq, 3)}"


def ack_without_flag(obs: Observed, _arg=None) -> Result:
    noack = obs.tcp.take((obs.tcp.flags & ACK) == 0)
    if not len(noack):
        return None
    odd = noack.ack[noack.ack != 0]
    if len(odd) >= 0.8 * len(noack):
        return True, (f"acknowledgment number non-zero without the ACK flag on {len(odd)} of {len(noack)} probes "
                      f"(e.g. {odd[0]})")
    return False, "acknowledgment number 0 on probes without the ACK flag"


def ipid_is(obs: Observed, value: int) -> Result:
    if obs.ip_version != 4 or not len(obs.probes):
        return None
    ids = obs.probes.ip_id
    if (ids == value).all():
        return True, f"IP ID {value} on {every_text(len(ids))}"
    return False, f"IP ID {_values(ids, 3)}"


def masscan_ipid(obs: Observed, _arg=None) -> Result:
    firsts = obs.first.take(obs.first.tcp)
    if obs.ip_version != 4 or not len(firsts):
        return None
    wide = lambda c: c.astype(np.int64, copy=False)  # noqa: E731
    want = (wide(firsts.dst16) ^ wide(firsts.dport) ^ wide(firsts.seq)) & 0xFFFF
    if (firsts.ip_id == want).all():
        return True, (f"IP ID = (destination address ^ port ^ sequence number) & 0xffff on {every_text(len(firsts))} "
                      f"(masscan's formula; e.g. IP ID {firsts.ip_id[0]})")
    return False, "IP ID does not follow masscan's (address ^ port ^ seq) formula"


def masscan_rst(obs: Observed, _arg=None) -> Result:
    if not obs.n_synacks:
        return None
    own = [f for f in obs.followups if f.flags & RST and not is_kernel_rst(f, obs.synacks) and f.ttl >= 200]
    if own:
        f = own[0]
        return True, (f"its own RST after the SYN/ACK (frame {f.frame}): TTL {f.ttl}, window {f.window}, "
                      f"besides the kernel's")
    return False, "no RST of its own after the SYN/ACK"


def handshake_completed(obs: Observed, _arg=None) -> Result:
    if not obs.n_synacks:
        return None
    done = int(obs.completed.sum())
    if done:
        return True, f"the handshake was completed (ACK) on {done} port(s), as connect() does"
    return False, "SYN/ACKs were never acknowledged: no connect() behind the SYNs"


def udp_known_payloads(obs: Observed, _arg=None) -> Result:
    udp = obs.first.take(obs.first.udp)
    loaded = udp.take(udp.payload > 0)
    if not len(loaded) or len(loaded) == len(udp):
        return None
    holds = bool(np.isin(loaded.dport, _NMAP_UDP_PAYLOAD_PORTS).all())
    where = ", ".join(f"{p}: {n} bytes" for p, n in zip(loaded.dport[:3].tolist(), loaded.payload[:3].tolist()))
    return holds, (f"UDP payload only to well-known service ports ({where}), empty datagrams elsewhere" if holds
                   else f"UDP payload to ports without a known service ({where})")


_NMAP_UDP_PAYLOAD_PORTS = np.array(sorted(NMAP_UDP_PAYLOAD_PORTS), np.int64)


def udp_payload(obs: Observed, _arg=None) -> Result:
    udp = obs.udp
    if not len(udp):
        return None
    loaded = int((udp.payload > 0).sum())
    if loaded == len(udp):
        return True, f"every datagram carries application data ({_values(udp.payload, 3)} bytes)"
    return False, f"{len(udp) - loaded} of {len(udp)} datagrams are empty"


def udp_empty(obs: Observed, _arg=None) -> Result:
    udp = obs.udp
    if not len(udp):
        return None
    if (udp.payload == 0).all():
        return True, f"empty UDP datagrams ({every_text(len(udp))})"
    return False, f"UDP payload {_values(udp.payload, 3)} bytes"


# -- signatures, as data -----------------------------------------------------------

ANY = None


@dataclass(frozen=True)
class Clue:
    test: Callable[[Observed, object], Result]
    arg: object = None
    weight: float = 1.0
    bonus: bool = False  # counted only when it holds

    @functools.cached_property
    def key(self) -> tuple:
        """What a session's reading of this clue is kept under: clues of the same test
        and argument (in several signatures) read it once."""
        return self.test, type(self.arg), repr(self.arg)


@dataclass(frozen=True)
class Signature:
    name: str
    clues: tuple
    kinds: Optional[frozenset] = ANY  # probe kinds the tool sends; None: any

    @functools.cached_property
    def weight(self) -> float:
        """The weight of all its clues."""
        return sum(c.weight for c in self.clues)


SIGNATURES = (
    Signature("nmap", (
        Clue(ttl_random_range, NMAP_TTL_RANGE, 3),
        Clue(nmap_window, NMAP_WINDOWS, 2),
        Clue(nmap_syn_options, (2,), 2),
        Clue(one_sport_nearby_retries, None, 2),
        Clue(same_first_seq, None, 2),
        Clue(udp_known_payloads, None, 1),
        Clue(nmap_os_probes, None, 4, bonus=True),
    )),
    Signature("os-connect", (
        Clue(os_syn_options, None, 3),
        Clue(window_os, None, 1),
        Clue(sport_per_connection, None, 2),
        Clue(ttl_os_default, None, 1),
        Clue(handshake_completed, None, 2),
        Clue(seq_random, None, 1),
        Clue(udp_payload, None, 2),
        Clue(ipid_varies, None, 2),
    ), kinds=frozenset({"S", "udp"})),
    Signature("masscan", (
        Clue(ttl_constant, 255, 2),
        Clue(window_in, (1024,), 2),
        Clue(no_options, None, 1),
        Clue(masscan_ipid, None, 4),
        Clue(one_sport, None, 2),
        Clue(masscan_rst, None, 2),
        Clue(seq_random, None, 1),
        Clue(udp_known_payloads, None, 1),
    ), kinds=frozenset({"S", "udp"})),
    Signature("zmap", (
        Clue(ttl_constant, 255, 2),
        Clue(window_in, (65535,), 2),
        Clue(no_options, None, 1),
        Clue(ipid_is, 54321, 4),
        Clue(seq_random, None, 1),
    ), kinds=frozenset({"S", "udp"})),
    Signature("scapy", (
        Clue(sport_is, SCAPY_SPORT, 3, bonus=True),  # scripts often pick their own (RandShort())
        Clue(window_in, (8192,), 2),
        Clue(seq_ack_zero, None, 2),
        Clue(ipid_is, 1, 4),
        Clue(no_options, None, 1),
        Clue(ttl_constant, 64, 1),
    )),
    Signature("hping3", (
        Clue(window_in, (512,), 3),
        Clue(ack_without_flag, None, 3),
        Clue(sport_incrementing, None, 3),
        Clue(no_options, None, 1),
        Clue(udp_empty, None, 1),
        Clue(ttl_constant, 64, 1),
    )),
    Signature("unicornscan", (
        Clue(ttl_constant, 255, 2),
        Clue(window_in, (4128,), 3),
        Clue(syn_options, (2,), 1),
    )),
    # Its marks weigh more than all its other clues together: without them (IPv6 UDP has
    # neither) or against them, the rest never names pcapscan.
    Signature("pcapscan", (
        Clue(ipid_is, PCAPSCAN_IP_ID, 6),
        Clue(window_in, (PCAPSCAN_WINDOW,), 6),
        Clue(one_sport, None, 1),  # one reserved source port for the scan, retries included
        Clue(seq_random, None, 1),
        Clue(no_options, None, 1),
        Clue(ttl_constant, 64, 1),
    )),
)


@dataclass(frozen=True)
class Score:
    name: str
    score: float  # weight that holds / weight that could be told
    weight: float  # weight that holds
    confidence: float
    support: tuple  # sentences that hold
    against: tuple  # sentences that do not


_UNREAD = object()


def _read(clue: Clue, obs: Observed) -> Result:
    key = clue.key
    got = obs.clues.get(key, _UNREAD)
    if got is _UNREAD:
        got = obs.clues[key] = clue.test(obs, clue.arg)
    return got


def score(sig: Signature, obs: Observed, beat: Optional[float] = None) -> Optional[Score]:
    """The signature's Score on the session, None where it cannot tell (or the probe kinds
    are not its). With `beat` (the confidence a fitting signature has reached), None too as
    soon as the clues read so far show it cannot reach that confidence: the rest are left
    unread. Its clues are then read cheapest first, as far as can be told: those the session
    has read already (for other signatures), then those whose test it has read with another
    argument (their columns gathered and counted), then the rest; its sentences stay in the
    order of its clues."""
    if sig.kinds is not None and not obs.kinds <= sig.kinds:
        return None
    clues = sig.clues
    res: list = [_UNREAD] * len(clues)
    got = told = 0.0
    if beat is None:
        order = range(len(clues))
    else:
        read = obs.clues
        tests = {key[0] for key in read}
        order = sorted(range(len(clues)), key=lambda i: (clues[i].key not in read, clues[i].test not in tests))
        rest = sig.weight
    for i in order:
        clue = clues[i]
        res[i] = r = _read(clue, obs)
        if r is not None:
            if r[0]:
                got += clue.weight
                told += clue.weight
            elif not clue.bonus:
                told += clue.weight
        if beat is not None:
            rest -= clue.weight
            if _reach(got + rest, told + rest) + 0.005 < beat - 1e-9:
                return None  # even every clue left holding rounds below `beat`
    if told == 0:
        return None
    support = tuple(r[1] for r in res if r is not None and r[0])
    against = tuple(r[1] for c, r in zip(clues, res) if r is not None and not r[0] and not c.bonus)
    return Score(sig.name, got / told, got, round(_reach(got, told), 2), support, against)


def _reach(got: float, told: float) -> float:
    """A signature's confidence before rounding: its score, scaled down while the weight behind it is small."""
    return got / told * min(1.0, got / FULL_WEIGHT) if told else 0.0


def _fits(s: Score) -> bool:
    """Enough weight behind a signature, and enough of it holding, to name its tool."""
    return s.weight >= MIN_WEIGHT and s.score >= MIN_SCORE


def _ranked(obs: Observed, prune: bool = True) -> list:
    """The signatures' Scores, best first. With `prune`, a signature that cannot outrank the
    best fitting one read before it is left out (its clues not all read): the first fitting
    Score is the same, and with none fitting nothing is left out."""
    out = []
    beat = None
    for sig in SIGNATURES:
        s = score(sig, obs, beat if prune else None)
        if s is None:
            continue
        out.append(s)
        if prune and _fits(s) and (beat is None or s.confidence > beat):
            beat = s.confidence
    out.sort(key=lambda s: (s.confidence, s.weight), reverse=True)
    return out


def scores(exchanges: Iterable[Exchange]) -> list[Score]:
    """Every applicable signature's score, best first."""
    _COUNTED.clear()
    try:
        return _ranked(Observed.of(exchanges), prune=False)
    finally:
        _COUNTED.clear()


def identify(exchanges: Iterable[Exchange]) -> ToolGuess:
    """The most likely tool behind one scan session's exchanges, with evidence."""
    return identify_observed(Observed.of(exchanges))


def identify_observed(obs: Observed, prune: bool = True) -> ToolGuess:
    """identify, for a session already in columns (the fast path builds them from its own tables).
    `prune=False` reads every clue of every signature that applies (_ranked): the same guess, slower."""
    _COUNTED.clear()
    try:
        return _identify(obs, prune)
    finally:
        _COUNTED.clear()


def _identify(obs: Observed, prune: bool) -> ToolGuess:
    if not len(obs.probes):
        return ToolGuess("unknown", 0.0, ("no probes to read",))
    ranked = _ranked(obs, prune)
    fit = [s for s in ranked if _fits(s)]
    if fit:
        best = fit[0]
        evidence = best.support + tuple(f"against: {a}" for a in best.against)
        return ToolGuess(best.name, best.confidence, evidence)
    evidence = observed_fields(obs)
    if ranked and ranked[0].weight > 0:
        evidence += (f"closest signature: {ranked[0].name} ({ranked[0].confidence:.2f}), not enough to name it",)
    return ToolGuess("unknown", 0.0, evidence)


def observed_fields(obs: Observed) -> tuple:
    """What the probes show, field by field, for a session no signature fits."""
    probes = obs.probes
    out = []
    ttls = probes.ttl
    out.append(f"TTL {ttls[0]} on {every_text(len(ttls))}" if _distinct(ttls) == 1 else f"TTL varies: {_values(ttls)}")
    tcp = obs.tcp
    if len(tcp):
        out.append(f"TCP window {_values(tcp.window)}")
        layouts = _counts(tcp.opt)[0]  # one text per layout: counted by id
        out.append("TCP options " + _shown([options_text(obs.options[o]) for o in layouts[:3].tolist()], len(layouts)))
        firsts = obs.first.take(obs.first.tcp)
        seqs = _counts(firsts.seq)[0]
        out.append(f"sequence number {seqs[0]} on every first try" if len(seqs) == 1
                   else f"{len(seqs)} sequence numbers for {len(firsts)} first tries")
    udp = obs.udp
    if len(udp):
        out.append(f"UDP payload {_values(udp.payload, 3)} bytes")
    sports = probes.sport
    out.append(f"source port {sports[0]} on {every_text(len(sports))}" if _distinct(sports) == 1
               else f"{_distinct(sports)} source ports for {len(sports)} probes ({_values(sports, 3)})")
    if obs.ip_version == 4:
        ids = probes.ip_id
        out.append(f"IP ID {ids[0]} on {every_text(len(ids))}" if _distinct(ids) == 1
                   else f"IP ID {_distinct(ids)} values for {len(ids)} probes")
    return tuple(out)


__all__ = ["ToolGuess", "identify", "identify_observed", "scores", "SIGNATURES", "TOOL_NAMES", "NOT_SCANNERS", "Observed", "Cols",
           "FIELDS", "ExchangePackets", "packet_columns", "options_text", "initial_ttl"]
