"""The flow table of the fast path: every TCP/UDP flow of a capture, in both
directions, keyed by one 64-bit integer, with the first two packets of each
flow kept as compact rows.

All of the replay engine's state is per flow (exchanges.py): a flow's
packets are paired among themselves, an ICMP error joins the flow it
quotes, and the duplicate test compares packets of one flow direction. So a
flow whose packets are exactly "a probe, then nothing or one packet back"
can be replayed without the engine: its outcome is a function of those two
packets. Every other flow is COMPLEX: all its packets, in capture order, go
through the engine itself (exchanges.ReplayEngine), as do ICMP errors,
fragments and anything decode_frame had to read. Where the scanner reopens
a flow (exchanges.reopens: the engine starts a new connection there), a new
flow starts for the same key (FlowTable._reopened). Where a flow is the
scanner's probe again and again with nothing back (a silent port's retries:
one connection of the engine's), its first probe stays a simple flow's and
the others are kept as columns (FlowTable.take_retries, Retries).
"""
from __future__ import annotations

import bisect
import contextlib
import functools

import numpy as np

from ..exchanges import (DUPLICATE_WINDOW, ICMP_ERROR_TYPES, SERVICE_PORT_PAIRS, is_group_address, midstream,
                         never_probes, reopens, shows_connection, tcp_answers)
from ..capture.decode import P_TCP, P_UDP
from ..model import SYN, TCP_BASE_FLAGS, Packet, records
from ..speedups import compiled
from .columns import (V6_BASE, AddressBook, Decoded, OptionBook, dense_ids, first_index, fits, insertion_slots,
                      range_rows)
from .workers import trim_malloc

# flow state bits
COMPLEX, SDIR, N1, N2, PROBE_OK, ANS_OK, ANS_DATA, ANS_WIN = 1, 2, 4, 8, 16, 32, 64, 128

_SERVICE_KEYS = np.array(sorted(a << 16 | b for a, b in SERVICE_PORT_PAIRS), np.int64)


def _service_pair(sport: np.ndarray, dport: np.ndarray) -> np.ndarray:
    """exchanges.SERVICE_PORT_PAIRS, in bulk: left to the engine, which drops them."""
    return np.isin(sport.astype(np.int64) << 16 | dport.astype(np.int64), _SERVICE_KEYS)


RECENT_MIN = 1 << 18  # recent keys before the two levels merge (at least; see lookup): each merge copies the old level
BLOOM_BITS = 24  # 16 MiB: one byte per slot of the old keys' hash map
TIME_MARK = 256  # the latest timestamp is kept every this many packets (FlowTable._answer_time)
MARK_EVERY = 256  # lean: a bulk record's frame and offset kept every this many, where reading again starts
INDEX_RESERVE_MAX = 1 << 23  # flows the compiled index makes room for at once, at most (64 MiB of slots)


def _hash(keys: np.ndarray) -> np.ndarray:
    return ((keys * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - BLOOM_BITS)).astype(np.int64)


def _stable_order(keys: np.ndarray) -> np.ndarray:
    """np.argsort(keys, kind="stable") of flow keys, by radix: numpy sorts
    16-bit integers by counting (O(n)), so three stable passes (the two ports,
    then pair and protocol) beat one comparison sort of 64-bit keys by half."""
    if len(keys) < 4096:
        return np.argsort(keys, kind="stable")
    order = np.argsort((keys & np.uint64(0xFFFF)).astype(np.uint16), kind="stable")
    k = keys[order]
    step = np.argsort(((k >> np.uint64(16)) & np.uint64(0xFFFF)).astype(np.uint16), kind="stable")
    order, k = order[step], k[step]
    top = k >> np.uint64(32)  # pair id * 4 + udp
    top = top.astype(np.uint16) if int(top.max()) < (1 << 16) else top
    return order[np.argsort(top, kind="stable")]


def _ranked(first: np.ndarray, m: int) -> np.ndarray:
    """np.argsort(first) for distinct values below m: a counting sort."""
    slot = np.full(m, -1, np.int64)
    slot[first] = np.arange(len(first))
    return slot[slot >= 0]


def _merged(keys: np.ndarray, ids: np.ndarray, new_keys: np.ndarray, new_ids: np.ndarray):
    """(keys, ids) with the sorted new keys (none of them in keys) and their ids merged in:
    np.insert's result, one insertion mask shared by both columns (a quarter faster)."""
    new_at, old_at = insertion_slots(keys, new_keys)
    n = len(old_at)
    out_keys, out_ids = np.empty(n, keys.dtype), np.empty(n, ids.dtype)
    out_keys[new_at], out_ids[new_at] = new_keys, new_ids
    out_keys[old_at], out_ids[old_at] = keys, ids
    return out_keys, out_ids


def key_parts(src, sport, dst, dport, udp) -> tuple:
    """A batch's flow keys but for their address pairs, which the flow table numbers
    (FlowTable.keys): (key: udp << 32 | the lower endpoint's port << 16 | the higher
    one's, uint64; dirb: 1 where the source is the higher endpoint, uint8; head: the
    rows whose (lower, higher) address pair differs from the row before's, and those
    addresses, head_lo and head_hi). One compiled pass (cnative.flow_keys) where built."""
    native = compiled()
    m = len(src)
    if native is not None and m:
        key, dirb = np.empty(m, np.uint64), np.empty(m, np.uint8)
        head, head_lo, head_hi = np.empty(m, np.int64), np.empty(m, np.int64), np.empty(m, np.int64)
        h = native.flow_keys(np.ascontiguousarray(src, np.int64), np.ascontiguousarray(sport, np.uint16),
                             np.ascontiguousarray(dst, np.int64), np.ascontiguousarray(dport, np.uint16),
                             np.ascontiguousarray(udp, np.bool_), key, dirb, head, head_lo, head_hi)
        return key, dirb, head[:h], head_lo[:h], head_hi[:h]
    s_lo = (src < dst) | ((src == dst) & (sport <= dport))
    lo_a = np.where(s_lo, src, dst).astype(np.int64)
    hi_a = np.where(s_lo, dst, src).astype(np.int64)
    lo_p = np.where(s_lo, sport, dport).astype(np.uint64)
    hi_p = np.where(s_lo, dport, sport).astype(np.uint64)
    key = (np.asarray(udp).astype(np.uint64) << np.uint64(32)) | (lo_p << np.uint64(16)) | hi_p
    # a batch's rows come in runs of one address pair (a scan's probes and answers)
    head = np.flatnonzero(np.r_[True, (lo_a[1:] != lo_a[:-1]) | (hi_a[1:] != hi_a[:-1])]) if m else \
        np.zeros(0, np.int64)
    return key, (~s_lo).astype(np.uint8), head, lo_a[head], hi_a[head]


def group_ids(ids: np.ndarray, addrs: AddressBook, known: dict) -> np.ndarray:
    """exchanges.is_group_address of a few address ids, each asked once (`known`:
    address id -> the answer, kept between batches)."""
    look = np.empty(len(ids), bool)
    for j, a in enumerate(ids.tolist()):
        got = known.get(a)
        if got is None:
            got = known[a] = is_group_address(addrs.text(a))
        look[j] = got
    return look


class PacketFacts:
    """What the flow table reads of each packet of a batch whatever its flow holds:
    its key but for the address pair (key_parts: `key`, and the runs of one pair,
    `head`, `head_lo`, `head_hi`) and, in `bits`, the state bits it gives its flow as
    the flow's first packet (SDIR: the source is the higher endpoint; PROBE_OK: it
    may open an exchange) or as its answer (ANS_DATA, ANS_WIN). Worked out where the
    batch is decoded (the decoding child: feed.read_forked) or by FlowTable.feed;
    address ids as the AddressBook it was worked out with numbers them."""

    __slots__ = ("key", "head", "head_lo", "head_hi", "bits")

    def __init__(self, d: Decoded, addrs: AddressBook, groups: dict):
        self.key, dirb, self.head, self.head_lo, self.head_hi = key_parts(d.src, d.sport, d.dst, d.dport, d.udp)
        tcp = ~d.udp
        ok = ~(tcp & never_probes(d.flags, d.payload))
        # group_dst by the address pairs' runs: a packet's destination is its pair's lower
        # address where it comes from the higher (dirb), else the higher
        g_lo, g_hi = group_ids(self.head_lo, addrs, groups), group_ids(self.head_hi, addrs, groups)
        if g_lo.any() or g_hi.any():
            runs = np.diff(np.r_[self.head, len(dirb)])
            ok &= ~np.where(dirb > 0, np.repeat(g_lo, runs), np.repeat(g_hi, runs))
        u = np.flatnonzero(d.udp)  # (a TCP scan has none)
        if len(u):
            ok[u] &= ~_service_pair(d.sport[u], d.dport[u])
        bits = dirb * np.uint8(SDIR)
        bits |= ok.view(np.uint8) * np.uint8(PROBE_OK)
        bits |= (tcp & (d.payload > 0)).view(np.uint8) * np.uint8(ANS_DATA)
        bits |= (d.window > 0).view(np.uint8) * np.uint8(ANS_WIN)
        self.bits = bits

    def __reduce__(self):  # sent between processes as its arrays
        return _facts, (self.key, self.head, self.head_lo, self.head_hi, self.bits)


def _facts(*arrays) -> PacketFacts:
    f = PacketFacts.__new__(PacketFacts)
    f.key, f.head, f.head_lo, f.head_hi, f.bits = arrays
    return f


def flow_places(fid: np.ndarray, rank: np.ndarray, state: np.ndarray) -> tuple:
    """Each packet's place in its flow (`g`: 0 the probe, 1 the answer, 2 and more: complex),
    from its flow's state bits (N1, N2: the packets it had before the batch) and `rank` (its
    flow's earlier packets in the batch); whether its flow was COMPLEX; and the rows of the
    flows' first packets and second ones (of flows not COMPLEX) and of every later one:
    (g, was_complex, i0, i1, many). One compiled pass (cnative.flow_places) where built."""
    native = compiled()
    m = len(fid)
    if native is not None and rank.dtype == np.uint8:
        g, was_complex = np.empty(m, np.uint8), np.empty(m, np.bool_)
        i0, i1, many = np.empty(m, np.int64), np.empty(m, np.int64), np.empty(m, np.int64)
        k0, k1, k2 = native.flow_places(np.ascontiguousarray(fid, np.int64), rank, state, N1, N2, COMPLEX, g,
                                        was_complex, i0, i1, many)
        return g, was_complex, i0[:k0], i1[:k1], many[:k2]
    sf = state[fid]
    g = ((sf & N1) > 0).astype(np.int64) + ((sf & N2) > 0) + rank
    was_complex = (sf & COMPLEX) > 0
    return (g, was_complex, *rows_by_place(g, was_complex))


def rows_by_place(g: np.ndarray, was_complex: np.ndarray) -> tuple:
    """flow_places' rows of first, second and later packets, from `g` and `was_complex`."""
    return (np.nonzero((g == 0) & ~was_complex)[0], np.nonzero((g == 1) & ~was_complex)[0],
            np.nonzero(g >= 2)[0])


ANSWER_TEST = ("flags", "seq", "ack", "payload")  # what `answered` reads of the probe


def answered(probe: dict, d: Decoded, rows: np.ndarray) -> np.ndarray:
    """Whether rows `rows` of `d` answer their flows' probes (`probe`: ANSWER_TEST's columns, one row each)."""
    p = {k: v.astype(np.int64) for k, v in probe.items()}
    # a UDP probe's flow answered at all is answered (exchanges.answers); TCP: the exact test
    return d.udp[rows] | tcp_answers(p["flags"], p["seq"], p["ack"], p["payload"], d.flags[rows], d.seq[rows],
                                     d.ack[rows])


class LoadedRows:
    """Where flows are among the flows `fids` (ascending) of a load (FlowTable.loaded):
    a map over their range (4 bytes a flow of it) unless that is much wider (a block
    of sessions is many flows of a stretch), else a search. Shared by the load's
    columns, which are mostly read for the same flows one after the other: the
    last answer is kept (the flow ids it was for are kept alive with it)."""

    def __init__(self, fids: np.ndarray):
        self.fids = fids
        self.lo = int(fids[0]) if len(fids) else 0
        span = int(fids[-1]) - self.lo + 1 if len(fids) else 0
        self.row = None
        if len(fids) and span <= max(16 * len(fids), 1 << 20):
            self.row = np.full(span, -1, np.int32)
            self.row[fids - self.lo] = np.arange(len(fids), dtype=np.int32)
        self.last = (None, None)

    def __call__(self, fids):
        asked, rows = self.last
        if asked is fids:
            return rows
        if self.row is not None:
            rows = self.row[np.asarray(fids, np.int64) - self.lo]
        else:
            rows = np.searchsorted(self.fids, fids)
        self.last = (fids, rows)
        return rows


class Loaded:
    """A column's values for some flows only, indexed by flow id as the whole
    column is (FlowTable.loaded); `rows` (a LoadedRows) finds them."""

    __slots__ = ("values", "rows")

    def __init__(self, values: np.ndarray, rows: LoadedRows):
        self.values, self.rows = values, rows

    @property
    def dtype(self):
        return self.values.dtype

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, fids):
        return self.values[self.rows(fids)]

    def __setitem__(self, fids, values):
        self.values[self.rows(fids)] = values


class Grow:
    """A growable column. One that starts `narrow` (a narrower type than its
    `dtype`) takes its full type once a value does not fit (put)."""

    __slots__ = ("a", "n", "fill", "wide", "written")

    def __init__(self, dtype, fill=0, narrow=None):
        self.a = np.full(1024, fill, narrow or dtype)
        self.n = 0
        self.fill = fill
        self.wide = np.dtype(dtype)
        self.written = False  # a value other than zero (see put)

    def put(self, at, values: np.ndarray) -> None:
        """self.a[at] = values, in the full type first where they do not fit
        the narrow one. Zeros are not written into a zeroed column that has
        held nothing else: its pages stay untouched, which costs no memory
        (a probe column a scan never sets, such as a SYN's ack or payload)."""
        if not self.written:
            if self.fill == 0 and not values.any():
                return
            self.written = True
        self.widen_for(values)
        self.a[at] = values

    def widen_for(self, values: np.ndarray) -> None:
        """The full type, from now on, if `values` do not fit the narrow one."""
        a = self.a
        if a.dtype != self.wide and not fits(values, a.dtype):
            wide = np.zeros(len(a), self.wide) if self.fill == 0 else np.full(len(a), self.fill, self.wide)
            wide[: self.n] = a[: self.n]
            self.a = wide

    def resize(self, n: int) -> None:
        if n > len(self.a):
            size = max(n, 2 * len(self.a))
            if self.fill == 0:  # zeroed pages are not resident until written: doubling costs no memory
                new = np.zeros(size, self.a.dtype)
            else:
                new = np.full(size, self.fill, self.a.dtype)
            new[: self.n] = self.a[: self.n]
            self.a = new
        self.n = n

    @property
    def v(self) -> np.ndarray:
        return self.a[: self.n]


# The first packet of every flow, whole (it becomes a Packet again when needed), and what the
# classifiers read of the second (the rest of it is read again from the capture when needed).
PROBE_COLS = {"frame": np.uint32, "ts": np.float64, "ttl": np.uint8, "flags": np.uint8, "ip_id": np.uint16,
              "length": np.uint32, "seq": np.uint32, "ack": np.uint32, "window": np.uint16, "opt": np.uint16,
              "mss": np.int32, "payload": np.uint32}
ANSWER_COLS = {"frame": np.uint32, "fileoff": np.int64, "ttl": np.uint8, "flags": np.uint8}
# ... kept narrower while every value fits (Grow.put): an IP length, a payload, an MSS rarely need more
PROBE_NARROW = {"length": np.uint16, "payload": np.uint16, "mss": np.int16}
# A TCP/UDP packet's columns, as Decoded and the flow table (PROBE_COLS, endpoints) name them:
# addresses as AddressBook ids, options as OptionBook ids, mss -1 for none.
ROW_FIELDS = ("frame", "ts", "src", "dst", "udp", "ttl", "ip_id", "length", "sport", "dport", "flags", "seq", "ack",
              "window", "opt", "mss", "payload")
# The rows of COMPLEX flows the flow columns do not hold (RowStore): a probe's columns and its endpoints;
# address ids narrower while they are IPv4 ones (columns.V6_BASE)
ENDPOINT_COLS = {"src": np.int64, "dst": np.int64, "udp": np.bool_, "sport": np.uint16, "dport": np.uint16}
ROW_COLS = {k: PROBE_COLS.get(k) or ENDPOINT_COLS[k] for k in ROW_FIELDS}
ROW_NARROW = dict(PROBE_NARROW, src=np.uint32, dst=np.uint32)
REPLAY_CHUNK = 1 << 16  # packets of complex flows made at a time for the engine (FlowTable.complex_packets)
TRIM_EVERY = 32 << 20  # bytes of kept rows released between two malloc trims (RowStore.release)


class RowStore:
    """Rows of decoded columns (ROW_FIELDS), appended batch by batch in frame
    order and kept as columns (ROW_COLS, narrower where a batch's values fit
    ROW_NARROW: about 45 bytes a row, where a Packet takes 300-450) until
    `packets` makes Packets of a range of them; `release` lets go of the
    batches whose rows were all made (a Packet then lives as long as the
    engine keeps it, the columns no longer)."""

    def __init__(self):
        self.parts: list = []  # one dict of columns per batch appended; None once released
        self.starts = [0]  # the first row of each part, then the end
        self._frame = Grow(np.uint32)  # every row's frame, for merging by frame (4 bytes a row)
        self._released = 0  # the parts before this one are released
        self._freed = 0  # bytes of parts released since malloc last gave memory back

    @property
    def n(self) -> int:
        return self.starts[-1]

    @property
    def frame(self) -> np.ndarray:
        return self._frame.v

    def append(self, d: Decoded, rows: np.ndarray, fids: np.ndarray) -> None:
        """Rows `rows` of `d`, of flows `fids` (one each)."""
        part = {k: _narrowest(getattr(d, k)[rows], t, ROW_NARROW.get(k)) for k, t in ROW_COLS.items()}
        part["fid"] = fids.astype(np.int32)  # flow ids are int32 (FlowTable._lookup_native)
        self._add(part)

    def _add(self, part: dict) -> None:
        n0, n = self.n, self.n + len(part["fid"])
        self._frame.resize(n)
        self._frame.a[n0:n] = part["frame"]
        self.parts.append(part)
        self.starts.append(n)

    def of_flows(self, flows: np.ndarray) -> dict:
        """The columns (ROW_COLS and "fid") of the rows of flows where `flows` (a boolean per flow id)
        holds, in frame order. Before any release."""
        got: dict = {k: [] for k in (*ROW_COLS, "fid")}
        for part in self.parts:
            sel = flows[part["fid"]]
            if sel.any():
                for k, col in got.items():
                    col.append(part[k][sel])
        return {k: np.concatenate(v) if v else np.zeros(0, ROW_COLS.get(k, np.int32)) for k, v in got.items()}

    def drop_flows(self, flows: np.ndarray) -> None:
        """Lets go of the rows of flows where `flows` (a boolean per flow id) holds. Before any release."""
        parts, self.parts, self.starts, self._frame = self.parts, [], [0], Grow(np.uint32)
        for part in parts:
            sel = flows[part["fid"]]
            self._add({k: v[~sel] for k, v in part.items()} if sel.any() else part)

    def packets(self, lo: int, hi: int, addrs: AddressBook, options: OptionBook) -> list:
        """Packets of rows lo..hi-1, as decode_frame makes them."""
        if hi <= lo:
            return []
        i = bisect.bisect_right(self.starts, lo) - 1
        pieces: dict = {k: [] for k in ROW_COLS}
        while lo < hi:
            part, first = self.parts[i], self.starts[i]
            a, b = lo - first, min(hi, self.starts[i + 1]) - first
            for k, got in pieces.items():
                got.append(part[k][a:b])
            lo, i = first + b, i + 1
        return make_packets({k: v[0] if len(v) == 1 else np.concatenate(v) for k, v in pieces.items()}, addrs,
                            options)

    def release(self, upto: int) -> None:
        """The rows before `upto` will not be asked for again: the parts that hold only such rows go."""
        while self._released < len(self.parts) and self.starts[self._released + 1] <= upto:
            self._freed += sum(c.nbytes for c in self.parts[self._released].values())
            self.parts[self._released] = None
            self._released += 1
        if self._freed >= TRIM_EVERY:  # a batch's columns are small arrays from the heap, kept by malloc when freed:
            trim_malloc()  # given back, so that the engine's Packets do not come on top of them
            self._freed = 0


class Retries:
    """The probes a scanner sent again on flows that heard nothing back
    (FlowTable.take_retries), as columns (ROW_COLS and "fid"), sorted by flow
    and frame: about 50 bytes a probe, where the engine kept a Packet."""

    def __init__(self, cols: dict):
        self.cols = cols  # each flow's rows together, in frame order
        fid = cols["fid"]
        head = np.flatnonzero(np.r_[True, fid[1:] != fid[:-1]]) if len(fid) else np.zeros(0, np.int64)
        self.fids = fid[head].astype(np.int64)  # ascending
        self.start = np.r_[head, len(fid)].astype(np.int64)

    @classmethod
    def none(cls) -> "Retries":
        return cls({**{k: np.zeros(0, t) for k, t in ROW_COLS.items()}, "fid": np.zeros(0, np.int32)})

    def __len__(self) -> int:
        return len(self.cols["fid"])

    def counts(self, fids: np.ndarray) -> np.ndarray:
        """How many probes again each of flows `fids` has."""
        at, hit = self._find(fids)
        out = np.zeros(len(at), np.int64)
        out[hit] = self.start[at[hit] + 1] - self.start[at[hit]]
        return out

    def rows_of(self, fids: np.ndarray):
        """(rows of the columns, the index in `fids` of each row's flow) of flows `fids`: each
        flow's rows together, in frame order, flows in the order of `fids`."""
        at, hit = self._find(fids)
        lo, hi = self.start[at[hit]], self.start[at[hit] + 1]
        n = hi - lo
        return range_rows(lo, n), np.repeat(np.flatnonzero(hit), n)

    def _find(self, fids: np.ndarray):
        fids = np.asarray(fids, np.int64)
        at = np.searchsorted(self.fids, fids)
        hit = at < len(self.fids)
        hit[hit] = self.fids[at[hit]] == fids[hit]
        return at, hit


def _narrowest(values: np.ndarray, wide, narrow) -> np.ndarray:
    """values in the `narrow` type when they all fit it, else in the `wide` one."""
    if narrow is not None and fits(values, narrow):
        return values.astype(narrow, copy=False)
    return values.astype(wide, copy=False)


class FlowTable:
    """Every TCP/UDP flow of a capture as columns, fed batch by batch.

    A flow is keyed by its canonical 64-bit key (keys(): address pair id, UDP
    bit, both ports, lower endpoint first) and gets a flow id in order of
    first appearance (a key the scanner reopened: several flows, the newest
    found by it; `newest`, `prev`). Per flow it keeps the state bits (COMPLEX, SDIR, N1, N2,
    PROBE_OK, ANS_OK, ANS_DATA, ANS_WIN: what the first two packets were), the
    first packet whole (PROBE_COLS: it becomes a model.Packet again when
    needed) and what the classifiers read of the second (ANSWER_COLS). A flow
    with a third packet, a packet the bulk decoder could not read, or an
    ICMP error quoting it is COMPLEX: its other packets are kept, those
    decode_frame read as Packets (`slow_pkts`), the bulk-decoded ones as
    columns (`rows`, a RowStore), and all of them are replayed by the
    ordinary engine (complex_packets, Assembler step 1). Address pairs are
    numbered too (pair_id); sessions() gives each flow's (pair, direction)
    number, which scans group by."""

    def __init__(self, addrs: AddressBook, options: OptionBook, lean: bool = False):
        self.addrs = addrs
        # lean: while reading, only keys, states and the first two packets' frames are kept; the
        # other columns of some flows are filled by reading their records again (loaded), and
        # the answer test (ANS_OK) waits for that
        self.lean = lean
        self.marks: list = []  # lean: (frames, stream offsets) of every MARK_EVERY-th bulk record
        self.reread = None  # lean, after reading: frames -> Decoded columns of those records (feed.Rereader)
        self.options = options
        self.pairs: dict = {}  # (lo address id, hi address id) -> pair id
        self.pair_lo = Grow(np.int64)
        self.pair_hi = Grow(np.int64)
        native = compiled()
        self.index = native.FlowIndex() if native is not None else None  # else two sorted levels:
        self.skeys = np.zeros(0, np.uint64)  # sorted keys
        self.sids = np.zeros(0, np.int32)  # flow id of each sorted key
        self.rkeys = np.zeros(0, np.uint64)  # the recent level (see lookup)
        self.rids = np.zeros(0, np.int32)
        self.bloom = np.zeros(1 << BLOOM_BITS if self.index is None else 0, np.uint8)
        self._rank = None
        self.n = 0
        self.key = Grow(np.uint64)
        self.state = Grow(np.uint8)
        self.probe = {k: Grow(t, narrow=PROBE_NARROW.get(k)) for k, t in PROBE_COLS.items()}
        self.answer = {k: Grow(t) for k, t in ANSWER_COLS.items()}
        self.slow_pkts: list = []  # decode_frame's Packets of COMPLEX flows, in frame order
        self._slow_flows: list = []  # the flows of those Packets (arrays of flow ids)
        self.retries = Retries.none()  # probes again on flows that heard nothing back (take_retries)
        self.rows = RowStore()  # the other rows of COMPLEX flows the columns do not hold, in frame order
        self._group: dict = {}  # address id -> is a group address (group_ids, for PacketFacts)
        # One batch's working state, from lookup through _feed_fast to _keep_unstored (see feed):
        self._order = None  # lookup's stable order of the batch's keys (a flow's packets together, in capture order)
        self._fid = None  # the flow id of each packet of the batch
        self._n_before = 0  # flows before the batch's lookup
        self._roots = None  # the batch's packets' keys' first flows (lookup)
        # A key the scanner reopened (_reopened): several flows, one after the other. Made at the first:
        self.newest = None  # a key's first flow -> its newest flow + 1 (0: itself), a Grow
        self.prev = None  # a flow -> the one before it on its key + 1 (0: the key's first), a Grow
        # the latest timestamp up to every TIME_MARK-th packet (and each batch's last), by frame: a bound
        # on the time of an answer of an earlier batch (_answer_time)
        self._time_marks: list = []  # [(frames, latest timestamps)] per batch
        self._latest = -np.inf
        self._stored = None  # which of them the columns hold (the first or the second packet of their flow)

    def reserve(self, flows: int, stream_bytes: int | None = None) -> None:
        """Room for this many flows: zeroed pages cost no memory until written,
        and the columns need not grow (copied) again and again. Answers' offsets
        take 4 bytes, not 8, in a stream of `stream_bytes` below 4 GiB. The
        compiled key index takes its room too (at most INDEX_RESERVE_MAX flows):
        slots it would otherwise fill up to 70% before rehashing every key."""
        if stream_bytes is not None and stream_bytes < 1 << 32 and self.n == 0:
            self.answer["fileoff"] = Grow(np.uint32)
        for g in (self.key, self.state, *self.probe.values(), *self.answer.values()):
            if flows > len(g.a):
                new = np.zeros(flows, g.a.dtype) if g.fill == 0 else np.full(flows, g.fill, g.a.dtype)
                new[: g.n] = g.a[: g.n]
                g.a = new
        if self.index is not None:  # sized once: growing rehashes every key, and a sparser map probes less
            self.index.reserve(min(flows, INDEX_RESERVE_MAX), self.key.a)

    # -- keys --------------------------------------------------------------------------

    def _run_pair_ids(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """The pair ids of runs' address pairs (lo, hi), made if new (in ascending pair order)."""
        inv, nu = dense_ids([lo, hi])
        first = first_index(inv, nu)
        ids = np.empty(nu, np.int64)
        for i, (a, b) in enumerate(zip(lo[first].tolist(), hi[first].tolist())):
            got = self.pairs.get((a, b))
            if got is None:
                got = self.pairs[(a, b)] = len(self.pairs)
                if got >= 1 << 30:
                    from .columns import NeedSlowPath

                    raise NeedSlowPath("more than 2**30 address pairs")
                self.pair_lo.resize(got + 1)
                self.pair_hi.resize(got + 1)
                self.pair_lo.a[got], self.pair_hi.a[got] = a, b
            ids[i] = got
        return ids[inv]

    def pair_id(self, a: int, b: int) -> int:
        """The pair id of two address ids (lo, hi), made if new."""
        key = (a, b) if a <= b else (b, a)
        got = self.pairs.get(key)
        if got is None:
            got = self.pairs[key] = len(self.pairs)
            self.pair_lo.resize(got + 1)
            self.pair_hi.resize(got + 1)
            self.pair_lo.a[got], self.pair_hi.a[got] = key
        return got

    def session_of(self, scanner: int, target: int) -> int:
        """A (scanner, target) address pair as one small number: 2 * pair id + (scanner is the higher)."""
        return 2 * self.pair_id(scanner, target) + int(scanner > target)

    def sessions(self, fids: np.ndarray) -> np.ndarray:
        """session_of(scanner, target) of flows, the scanner sending their first packet."""
        return self.sessions_of(self.key.a[fids], self.state.a[fids])

    def sessions_of(self, key: np.ndarray, state: np.ndarray) -> np.ndarray:
        """sessions() of flows given by their keys and states (gathered already)."""
        pid = (key >> np.uint64(34)).view(np.int64)  # below 2**30: the same numbers; worked on in place
        differ = self.pair_lo.v != self.pair_hi.v  # per pair (few): two addresses, not one
        hi = (state & SDIR) > 0
        hi &= differ[pid]
        pid <<= 1
        pid += hi
        return pid

    def session_addrs(self, sess: np.ndarray):
        """(scanner ids, target ids) of sessions."""
        pid = sess // 2
        hi = (sess % 2) == 1
        lo_a, hi_a = self.pair_lo.a[pid], self.pair_hi.a[pid]
        return np.where(hi, hi_a, lo_a), np.where(hi, lo_a, hi_a)

    def keys(self, src, sport, dst, dport, udp):
        """(canonical 64-bit key, direction: 1 when the source is the higher endpoint)."""
        key, dirb, head, head_lo, head_hi = key_parts(src, sport, dst, dport, udp)
        return self._keyed(key, head, head_lo, head_hi, len(src)), dirb

    def _keyed(self, key, head, head_lo, head_hi, m: int) -> np.ndarray:
        """Keys (key_parts') with their address pairs' ids, the pairs numbered if new."""
        pid = self._run_pair_ids(head_lo, head_hi).astype(np.uint64) << np.uint64(34)
        return key | np.repeat(pid, np.diff(np.r_[head, m]))

    def lookup(self, keys: np.ndarray, create: bool = True) -> np.ndarray:
        """Flow ids of keys (-1 for unknown ones when not `create`); new flows
        are numbered in order of first appearance. A key the scanner reopened
        (see _reopened) gives its newest flow."""
        self._n_before = self.n
        fid = self._lookup_keys(keys, create)
        self._roots = fid  # the key's first flow, which the index holds
        if self.newest is not None:
            self.newest.resize(self.n)
            self.prev.resize(self.n)
            newer = self.newest.a[np.maximum(fid, 0)]
            fid = np.where((newer > 0) & (fid >= 0), newer.astype(np.int64) - 1, fid)
        return fid

    def _lookup_keys(self, keys: np.ndarray, create: bool) -> np.ndarray:
        """Flow ids of keys, each key's first flow (see lookup).

        Two sorted levels: the recent keys (small, where a scan's answers find
        their probes) and the old ones, merged together now and then; a byte
        map of key hashes tells most new keys absent from the old level
        without a search. Compiled (cnative.FlowIndex, where built): one hash
        map of flow ids, the same ids."""
        if self.index is not None:
            return self._lookup_native(keys, create)
        self._rank = None
        m = len(keys)
        order = _stable_order(keys)  # searched in sorted order: far fewer cache misses
        ks = keys[order]
        fs = np.full(m, -1, np.int64)  # flow ids, in sorted order
        pos = np.searchsorted(self.rkeys, ks)
        found = pos < len(self.rkeys)
        found[found] = self.rkeys[pos[found]] == ks[found]
        fs[found] = self.rids[pos[found]]
        miss = np.nonzero(~found)[0]
        if len(miss) and len(self.skeys):
            mk = ks[miss]
            maybe = self.bloom[_hash(mk)] > 0
            miss_m, mk = miss[maybe], mk[maybe]
            pos = np.searchsorted(self.skeys, mk)
            hit = pos < len(self.skeys)
            hit[hit] = self.skeys[pos[hit]] == mk[hit]
            fs[miss_m[hit]] = self.sids[pos[hit]]
        fid = np.empty(m, np.int64)
        self._order = order
        new = fs < 0
        if not create or not new.any():
            fid[order] = fs
            return fid
        nk = ks[new]
        start = np.r_[True, nk[1:] != nk[:-1]]
        uk = nk[start]
        first = order[new][start]  # the stable sort put each key's first appearance first
        by_first = _ranked(first, m)
        ids_sorted = np.empty(len(uk), np.int64)
        ids_sorted[by_first] = self.n + np.arange(len(uk))
        fs[new] = ids_sorted[np.cumsum(start) - 1]
        fid[order] = fs
        order = by_first
        n0 = self.n
        self.n += len(uk)
        self.key.resize(self.n)
        self.key.a[n0:self.n] = uk[order]
        for g in (self.state, *self.probe.values(), *self.answer.values()):
            g.resize(self.n)
        self.state.a[n0:self.n] = 0
        self.rkeys, self.rids = _merged(self.rkeys, self.rids, uk, ids_sorted.astype(np.int32))
        if len(self.rkeys) > max(RECENT_MIN, len(self.skeys) // 8):
            self._merge()
        return fid

    def _lookup_native(self, keys: np.ndarray, create: bool) -> np.ndarray:
        m, n0 = len(keys), self.n
        if n0 + m >= (1 << 31) - 1:  # flow ids are int32 (the sorted levels' too)
            from .columns import NeedSlowPath

            raise NeedSlowPath("more than 2**31 flows")
        if create:
            self.key.resize(n0 + m)  # room for every key being new; cut to the flows made below
        fid = np.empty(m, np.int64)
        self._rank = np.empty(m, np.uint8)
        n = self.index.lookup(np.ascontiguousarray(keys, np.uint64), self.key.a, n0, create, fid, self._rank)
        self.key.resize(n)
        if n > n0:
            self.n = n
            for g in (self.state, *self.probe.values(), *self.answer.values()):
                g.resize(n)
            self.state.a[n0:n] = 0
        return fid

    def _batch_rank(self, fid: np.ndarray) -> np.ndarray:
        """For each packet of the batch just looked up, how many earlier packets
        of the batch its flow had (the compiled lookup counts up to 2, all _feed_fast tells apart)."""
        if self._rank is not None:
            return self._rank
        m = len(fid)
        order = self._order  # by key, stably: packets of a flow together, in capture order
        sf = fid[order]
        grp_start = np.maximum.accumulate(np.where(np.r_[True, sf[1:] != sf[:-1]], np.arange(m), 0))
        rank = np.empty(m, np.int64)
        rank[order] = np.arange(m) - grp_start
        return rank

    def done_reading(self) -> None:
        """No more lookups: the key index goes (12 bytes a flow and more)."""
        self.index = None
        self.skeys, self.sids = np.zeros(0, np.uint64), np.zeros(0, np.int32)
        self.rkeys, self.rids = np.zeros(0, np.uint64), np.zeros(0, np.int32)
        self.bloom = np.zeros(0, np.uint8)

    def _merge(self) -> None:
        """The recent level into the old one."""
        self.skeys, self.sids = _merged(self.skeys, self.sids, self.rkeys, self.rids)
        self.bloom[_hash(self.rkeys)] = 1
        self.rkeys = np.zeros(0, np.uint64)
        self.rids = np.zeros(0, np.int32)

    # -- one batch -----------------------------------------------------------------------

    def feed(self, d: Decoded, slow: list, facts: PacketFacts | None = None) -> None:
        """One batch: its bulk-decoded rows `d` (keyed, their first two packets per flow kept in
        the columns), then the Packets decode_frame read (`slow`: their flows become COMPLEX),
        then the rows of COMPLEX flows the columns do not hold, into `rows` for the engine.
        `facts`: d's PacketFacts, worked out already with this table's address ids (else here)."""
        if d is not None and len(d.frame):
            self._feed_fast(d, facts if facts is not None else PacketFacts(d, self.addrs, self._group))
            if self.lean:
                self._mark(d)
            elif self.prev is not None:
                self._late_on_new(d)
        if slow:
            self._feed_slow(slow)
        if d is not None and len(d.frame):
            self._keep_unstored(d)

    def _feed_fast(self, d: Decoded, facts: PacketFacts) -> None:
        if d.frame[-1] >= 1 << 32 or len(self.options.tuples) >= 1 << 16:
            from .columns import NeedSlowPath

            raise NeedSlowPath("more than 2**32 records, or 2**16 TCP option layouts")
        m = len(d.frame)
        fid = self.lookup(self._keyed(facts.key, facts.head, facts.head_lo, facts.head_hi, m))
        dirb = ((facts.bits & SDIR) > 0).view(np.uint8)
        rank = self._batch_rank(fid)  # of each packet among its flow's packets in this batch
        g, was_complex, i0, i1, many = flow_places(fid, rank, self.state.a)
        if not self.lean:  # a key the scanner reopened: its new flows (the columns may have grown)
            split = self._reopened(d, facts, dirb, fid, g, was_complex)
            if split[0] is not fid:
                fid, g, was_complex = split
                i0, i1, many = rows_by_place(g, was_complex)
        st = self.state.a
        self._stored = np.zeros(m, bool)
        # -- first packets: the probe --
        if len(i0):
            f0 = fid[i0]
            # new flows are numbered in order of first appearance: their probes' rows
            # usually fill one range of the columns, written as a slice
            lo, hi = int(f0[0]), int(f0[-1]) + 1
            at = slice(lo, hi) if hi - lo == len(f0) and (np.diff(f0) == 1).all() else f0
            if self.lean:  # the frame, and each narrow column's type as a whole reading would leave it
                self.probe["frame"].put(at, d.frame[i0])
                for k in PROBE_NARROW:
                    self.probe[k].widen_for(getattr(d, k)[i0])
            else:
                for k, col in self.probe.items():
                    col.put(at, getattr(d, k)[i0])
            pb = facts.bits[i0]
            bits = N1 | (pb & (SDIR | PROBE_OK)) | np.where(pb & PROBE_OK, 0, COMPLEX).astype(np.uint8)
            st[f0] |= bits
            self._stored[i0] = True
        # -- second packets: the answer, when it comes back --
        if len(i1):
            f1 = fid[i1]
            sdir = ((st[f1] & SDIR) > 0).astype(np.uint8)
            back = (dirb[i1] != sdir) & ((st[f1] & COMPLEX) == 0)
            a = i1[back]
            fa = f1[back]
            st[f1[~back]] |= COMPLEX
            if len(a):
                self.answer["frame"].a[fa] = d.frame[a]
                bits = N2 | (facts.bits[a] & (ANS_DATA | ANS_WIN))
                if not self.lean:  # (lean: when the flow is loaded)
                    for k, col in self.answer.items():
                        col.a[fa] = getattr(d, k)[a]
                    probe = {k: self.probe[k].a[fa] for k in ANSWER_TEST}
                    bits |= answered(probe, d, a).view(np.uint8) * np.uint8(ANS_OK)
                st[fa] |= bits
                self._stored[a] = True
        # -- anything more makes the flow complex --
        if len(many):
            st[fid[many]] |= COMPLEX
        self._fid = fid

    # -- a key reopened: several flows ------------------------------------------------------

    def _reopened(self, d: Decoded, facts: PacketFacts, dirb, fid, g, was_complex):
        """(fid, g, was_complex) of the batch's packets, where the scanner
        reopened a simple flow: a new flow for the same key, as the engine
        starts a new connection (exchanges.reopens). So a scan run again from
        one source port (nmap's -g, scapy's fixed sport, a capture replayed)
        stays probe-and-answer flows classified in bulk. `g`: each packet's
        place in its flow (0 the probe, 1 the answer, 2 and more: complex);
        `facts`: the batch's PacketFacts.

        A flow is split at its third packet only where its first two are a
        probe and an answer back, and the third is from the scanner and
        reopens it by the engine's rule; the new flow is split again the same
        way, however many times within the batch. And only where nothing the
        engine replays across them can differ: the new probe is more than
        exchanges.DUPLICATE_WINDOW after the old one and the old answer more
        than that before it (no copy of an earlier packet of the key; no
        answer stamped after the probe it would go to, exchanges'
        _take_from_before); what comes later on a new flow stamped before its
        probe, or a packet decode_frame read on the key, gives the whole key
        to the engine (_demote). Not in a lean table (no probe columns)."""
        ts = d.ts
        if ts[0] >= self._latest and (ts[1:] >= ts[:-1]).all():  # in time order (most captures): their own
            latest = ts
        else:
            latest = np.maximum.accumulate(ts)
            np.maximum(latest, self._latest, out=latest)
        at = np.arange(TIME_MARK - 1, len(latest) + TIME_MARK - 1, TIME_MARK)
        at[-1] = len(latest) - 1
        self._time_marks.append((d.frame[at].astype(np.int64), latest[at]))
        self._latest = float(latest[-1])
        del latest
        cand = np.flatnonzero((g == 2) & ~was_complex & ~d.udp)  # where a flow's first split would be
        if len(cand):  # ... by the rule whatever the flow holds (the kernel's RST after a SYN/ACK: never)
            flags = d.flags[cand].astype(np.int64)
            cand = cand[reopens(flags, ~never_probes(flags, d.payload[cand]), False, True, False)]
        if not len(cand):
            return fid, g, was_complex
        # the packets of those flows, each flow's together in capture order
        rows = np.flatnonzero(np.isin(fid, np.unique(fid[cand])))
        rows = rows[np.argsort(fid[rows], kind="stable")]
        f = fid[rows]
        n = len(rows)
        head = np.r_[True, f[1:] != f[:-1]]
        grp = np.cumsum(head) - 1
        st = self.state.a[f]
        at = np.arange(n) - np.flatnonzero(head)[grp]  # place among the flow's packets of the batch
        gg = ((st & N1) > 0).astype(np.int64) + ((st & N2) > 0) + at
        # at each even place from 2 on (c): the flow's probe two places before (a), its answer (b),
        # each in the batch or in the columns
        c = np.flatnonzero((gg >= 2) & (gg % 2 == 0))
        rc, fc = rows[c], f[c]
        a_here, b_here = at[c] >= 2, at[c] >= 1
        ra, rb = rows[np.where(a_here, c - 2, c)], rows[np.where(b_here, c - 1, c)]
        p, sc = self.probe, st[c]

        def a_col(name):
            return np.where(a_here, getattr(d, name)[ra], p[name].a[fc]).astype(np.int64)

        a_flags, a_ts = a_col("flags"), np.where(a_here, d.ts[ra], p["ts"].a[fc])
        a_dir = np.where(a_here, dirb[ra], (sc & SDIR) > 0)
        # (a probe kept: its state's PROBE_OK; one in the batch: its PacketFacts', the same rule)
        a_ok = ((np.where(a_here, facts.bits[ra], sc) & PROBE_OK) > 0) & ~self._midstream(a_flags, a_col("window"),
                                                                                         a_col("opt"))
        b_flags = np.where(b_here, d.flags[rb], self.answer["flags"].a[fc]).astype(np.int64)
        b_back = np.where(b_here, dirb[rb] != a_dir, True)  # (an answer kept is back, or its flow is complex)
        b_ok = np.where(b_here, tcp_answers(a_flags, a_col("seq"), a_col("ack"), a_col("payload"), d.flags[rb],
                                            d.seq[rb], d.ack[rb]), (sc & ANS_OK) > 0)
        b_data = np.where(b_here, d.payload[rb] > 0, (sc & ANS_DATA) > 0)
        b_ts = np.where(b_here, d.ts[rb], self._answer_time(fc))
        c_flags, c_ts = d.flags[rc].astype(np.int64), d.ts[rc]
        c_probe = ~never_probes(c_flags, d.payload[rc]) & ~self._midstream(c_flags, d.window[rc], d.opt[rc])
        same = (a_flags & TCP_BASE_FLAGS) == (c_flags & TCP_BASE_FLAGS)
        split = a_ok & b_back & (dirb[rc] == a_dir) & \
            reopens(c_flags, c_probe, same, b_ok, shows_connection(a_flags, b_flags, b_data)) & \
            (c_ts - a_ts > DUPLICATE_WINDOW) & (b_ts < c_ts - DUPLICATE_WINDOW)
        # each flow is split at its even places up to the first that does not split
        stop = np.full(grp[-1] + 1, np.iinfo(np.int64).max)
        np.minimum.at(stop, grp[c[~split]], gg[c[~split]])
        gen = np.where(gg >= 2, np.minimum(gg, stop[grp] - 1) // 2, 0)  # new flows before each packet
        if not gen.any():
            return fid, g, was_complex
        return self._split(fid, g, was_complex, rows, grp, gg, gen)

    def _split(self, fid, g, was_complex, rows, grp, gg, gen):
        """_reopened's new flows: `rows` (the batch's packets of the flows split, each flow's
        together; `grp` numbers those flows, `gg` is each packet's place in its flow before
        the split, `gen` how many new flows start before it). The flows new in this batch,
        the keys' and these, are numbered together in order of first appearance."""
        fid, g, was_complex = fid.copy(), g.copy(), was_complex.copy()
        roots = self._roots.copy()
        lo, n0 = self._n_before, self.n
        first = np.flatnonzero((gen >= 1) & (gg == 2 * gen))  # each new flow's probe, as (flow, gen) ascend
        new_keys = np.flatnonzero((fid >= lo) & (g == 0))  # the first packet of each key new in the batch
        ids = np.empty(len(new_keys) + len(first), np.int64)
        ids[np.argsort(np.r_[new_keys, rows[first]], kind="stable")] = lo + np.arange(len(ids))
        key_ids, new_ids = ids[:len(new_keys)], ids[len(new_keys):]
        self._grow_to(n0 + len(first))
        moved = np.flatnonzero(key_ids != np.arange(lo, n0))
        if len(moved):  # the keys' flows numbered after some new flow: renumbered
            keys = self.key.a[lo:n0].copy()
            self.key.a[key_ids] = keys
            self._repoint(keys[moved], lo + moved, key_ids[moved])
            for col in (fid, roots):
                new = col >= lo
                col[new] = key_ids[col[new] - lo]
        base = fid[rows[np.flatnonzero(np.r_[True, grp[1:] != grp[:-1]])]]  # each split flow's flow before
        root = roots[rows[np.flatnonzero(np.r_[True, grp[1:] != grp[:-1]])]]
        of = grp[first]
        self.key.a[new_ids] = self.key.a[base[of]]
        self.prev.a[new_ids] = np.where(gen[first] == 1, base[of], np.r_[-1, new_ids[:-1]]) + 1
        last = np.r_[of[1:] != of[:-1], True]
        self.newest.a[root[of[last]]] = new_ids[last] + 1
        later = np.flatnonzero(gen >= 1)
        fid[rows[later]] = new_ids[np.searchsorted(of, grp[later]) + gen[later] - 1]
        g[rows] = gg - 2 * gen
        was_complex[rows[later]] = False
        return fid, g, was_complex

    def _grow_to(self, n: int) -> None:
        """Room for flows up to n (the new ones' state zero), the columns of reopened keys made if not yet."""
        if self.newest is None:
            self.newest, self.prev = Grow(np.int32), Grow(np.int32)
        n0 = self.n
        for col in (self.key, self.state, *self.probe.values(), *self.answer.values(), self.newest, self.prev):
            col.resize(n)
        self.state.a[n0:n] = 0
        self.n = n

    def _repoint(self, keys: np.ndarray, old: np.ndarray, new: np.ndarray) -> None:
        """The index gives flow `new` for `keys`, which gave `old`."""
        if self.index is not None:
            self.index.repoint(np.ascontiguousarray(keys, np.uint64), np.ascontiguousarray(old, np.int64),
                               np.ascontiguousarray(new, np.int64))
            return
        for level, ids in ((self.rkeys, self.rids), (self.skeys, self.sids)):
            if len(level):
                pos = np.minimum(np.searchsorted(level, keys), len(level) - 1)
                hit = level[pos] == keys
                ids[pos[hit]] = new[hit]

    def _answer_time(self, fids: np.ndarray) -> np.ndarray:
        """A bound above the timestamp of the answers of flows `fids` (kept, of earlier batches):
        the latest timestamp up to the first time mark at or after each (exact in time order
        where it is the answer's own frame; within TIME_MARK packets after it otherwise)."""
        if len(self._time_marks) > 1:
            self._time_marks = [tuple(np.concatenate(c) for c in zip(*self._time_marks))]
        frames, latest = self._time_marks[0]
        at = np.searchsorted(frames, self.answer["frame"].a[fids].astype(np.int64))
        return latest[np.minimum(at, len(frames) - 1)]

    def _midstream(self, flags, window, opt) -> np.ndarray:
        """exchanges.midstream of segments, asked once per distinct (window, options) without SYN."""
        out = np.zeros(len(flags), bool)
        sel = np.flatnonzero((flags & SYN) == 0)
        if len(sel):
            uniq, inv = np.unique(window[sel].astype(np.int64) << 16 | opt[sel], return_inverse=True)
            tuples = self.options.tuples
            out[sel] = np.array([midstream(0, u >> 16, tuples[u & 0xFFFF]) for u in uniq.tolist()], bool)[inv.ravel()]
        return out

    def _late_on_new(self, d: Decoded) -> None:
        """A packet of a reopened key's new flow stamped before that flow's probe: the key's to the engine."""
        fid = self._fid
        late = (self.prev.a[fid] > 0) & (d.ts < self.probe["ts"].a[fid])
        if late.any():
            self._demote(fid[late])

    def _demote(self, fids) -> None:
        """Every flow of the keys of flows `fids` COMPLEX: the engine replays them all, as one flow."""
        prev = self.prev.a
        f = np.unique(np.asarray(fids, np.int64))
        while True:  # back to each key's first flow
            p = prev[f]
            if not (p > 0).any():
                break
            f = np.where(p > 0, p.astype(np.int64) - 1, f)
        newer = self.newest.a[f]
        f = np.where(newer > 0, newer.astype(np.int64) - 1, f)
        while len(f):  # from the newest back
            self.state.a[f] |= COMPLEX
            p = prev[f]
            f = p[p > 0].astype(np.int64) - 1

    # -- lean: columns read again ------------------------------------------------------------

    def _mark(self, d: Decoded) -> None:
        self.marks.append((d.frame[::MARK_EVERY].astype(np.int64), d.fileoff[::MARK_EVERY].astype(np.int64)))

    @contextlib.contextmanager
    def loaded(self, fids: np.ndarray):
        """While inside: the probe and answer columns of flows `fids` hold what a whole
        reading would have left there. A lean table's are read again, into columns of
        those flows only (Loaded), the whole ones back afterwards."""
        if not self.lean:
            yield
            return
        fids = np.asarray(fids, np.int64)
        if len(fids) > 1 and not (fids[1:] > fids[:-1]).all():
            fids = np.unique(fids)
        rows = LoadedRows(fids)
        cols = [*self.probe.values(), *self.answer.values()]
        whole = [(g.a, g.written) for g in cols]
        try:
            for g in cols:
                g.a = Loaded(g.a[fids] if g.written or g is self.answer["frame"] else
                             np.zeros(len(fids), g.a.dtype), rows)
            self._load(fids)
            yield
        finally:
            for g, (a, written) in zip(cols, whole):
                g.a, g.written = a, written

    def _load(self, fids: np.ndarray) -> None:
        """The columns (Loaded, of flows `fids`) of a lean table: each flow's first two packets
        decoded again, and whether the second answers the first (ANS_OK, the state's bit)."""
        st = self.state.a[fids]
        pf, af = fids[(st & N1) > 0], fids[(st & N2) > 0]
        frames = np.r_[self.probe["frame"].a[pf], self.answer["frame"].a[af]].astype(np.int64)
        owner = np.r_[pf, af]
        where = self.probe["frame"].a.rows(owner)  # each record's flow's row in the Loaded columns
        is_answer = np.r_[np.zeros(len(pf), bool), np.ones(len(af), bool)]
        order = np.argsort(frames, kind="stable")
        frames, owner, where, is_answer = frames[order], owner[order], where[order], is_answer[order]
        probe = [(k, g.a.values) for k, g in self.probe.items() if k != "frame"]  # (the frames are there)
        answer = [(k, g.a.values) for k, g in self.answer.items() if k != "frame"]
        found = 0
        for d in self.reread(frames):  # in frame order: a flow's probe before its answer
            at = np.searchsorted(frames, d.frame)
            ans = is_answer[at]
            p_rows, a_rows = np.flatnonzero(~ans), np.flatnonzero(ans)
            p_at, a_at = where[at[p_rows]], where[at[a_rows]]
            for k, values in probe:
                values[p_at] = getattr(d, k)[p_rows]
            for k, values in answer:
                values[a_at] = getattr(d, k)[a_rows]
            ok = answered({k: self.probe[k].a.values[a_at] for k in ANSWER_TEST}, d, a_rows)
            self.state.a[owner[at[a_rows[ok]]]] |= ANS_OK
            found += len(d.frame)
        if found != len(frames):
            from .columns import NeedSlowPath

            raise NeedSlowPath("a record read again was not where the first reading found it")

    def _feed_slow(self, slow: list) -> None:
        st = self.state
        flows = []
        for pkt in slow:
            proto = pkt.proto
            if proto in ("tcp", "udp"):
                fid = self._flow_of(proto, pkt.src, pkt.sport, pkt.dst, pkt.dport, create=True)
                self.state.a[fid] |= COMPLEX
                flows.append(fid)
            elif proto in ICMP_ERROR_TYPES and pkt.quoted is not None and pkt.icmp_type in ICMP_ERROR_TYPES[proto]:
                q = pkt.quoted
                if q.proto in ("tcp", "udp"):
                    # its flow goes to the engine even when the probe is not seen yet: the
                    # engine pairs an error written before its probe (exchanges.EARLY_ANSWER_FRAMES)
                    fid = self._flow_of(q.proto, q.src, q.sport, q.dst, q.dport, create=True)
                    st.a[fid] |= COMPLEX
                    flows.append(fid)
            self.slow_pkts.append(pkt)
        if flows:
            self._slow_flows.append(np.array(flows, np.int64))
        if self.prev is not None and flows:  # a reopened key's (whichever of its flows it is of): all to the engine
            flows = np.array(flows, np.int64)
            self._demote(flows[self.prev.a[flows] > 0])

    def _flow_of(self, proto, src, sport, dst, dport, create):
        a = np.array([self.addrs.id_of(src)], np.int64)
        b = np.array([self.addrs.id_of(dst)], np.int64)
        key, _ = self.keys(a, np.array([sport], np.int64), b, np.array([dport], np.int64),
                           np.array([proto == "udp"]))
        return int(self.lookup(key, create=create)[0])

    def _keep_unstored(self, d: Decoded) -> None:
        fid = self._fid
        # every row _feed_fast did not store is a COMPLEX flow's: its flow was already, or the row
        # made it so (a third packet and more, a second one not back); nothing clears the bit while
        # reading (take_retries comes after), so no state is looked up again here
        rows = np.flatnonzero(~self._stored)
        if len(rows):
            self.rows.append(d, rows, fid[rows])

    # -- probes again, nothing back: columns, not the engine's ----------------------------

    def take_retries(self) -> None:
        """The COMPLEX flows whose packets are all the scanner's probe again
        and nothing back (a port that never answers, probed again from one
        source port: a scan run again, nmap's retries) made simple: the first
        probe stays in the probe columns, the others go from the kept rows to
        `retries`. The engine keeps such a flow as one connection of many
        probes (a probe of the connection's kind on a flow that heard nothing
        does not reopen it, exchanges.reopens, and is a retransmission:
        ReplayEngine._from_scanner); the assembly makes that exchange from
        the columns. Only where nothing else the engine does could differ:
        each packet more than exchanges.DUPLICATE_WINDOW after the one before
        (no copy), TCP probes of the first one's flags (the same probe_class)
        without data, none midstream, no packet decode_frame read or ICMP
        error on the flow, not a reopened key's. Not in a lean table. Once,
        after reading, before complex_packets."""
        if self.lean or not self.rows.n:
            return
        st = self.state.v
        cand = (st & (COMPLEX | N1 | N2 | PROBE_OK)) == (COMPLEX | N1 | PROBE_OK)
        if self.prev is not None:
            cand &= (self.prev.v == 0) & (self.newest.v == 0)
        for f in self._slow_flows:
            cand[f] = False
        if not cand.any():
            return
        r = self.rows.of_flows(cand)
        fid = r["fid"].astype(np.int64)
        order = np.argsort(fid, kind="stable")  # each flow's rows together, in frame order
        r = {k: v[order] for k, v in r.items()}
        fid = fid[order]
        s, sp, t, tp, _udp = self.endpoints(fid)
        ok = (r["src"] == s) & (r["sport"] == sp) & (r["dst"] == t) & (r["dport"] == tp)
        p = self.probe
        flags = r["flags"].astype(np.int64)
        first_flags = p["flags"].a[fid].astype(np.int64)
        tcp = ~r["udp"]
        ok &= ~tcp | (((flags & TCP_BASE_FLAGS) == (first_flags & TCP_BASE_FLAGS)) & (r["payload"] == 0) &
                      ~self._midstream(flags, r["window"], r["opt"]))
        head = np.r_[True, fid[1:] != fid[:-1]] if len(fid) else np.zeros(0, bool)
        before = np.where(head, p["ts"].a[fid], np.r_[-np.inf, r["ts"][:-1]])
        ok &= r["ts"] - before > DUPLICATE_WINDOW  # so no packet of the flow is a copy of another
        flows = fid[head]
        first_mid = tcp[head] & self._midstream(first_flags[head], p["window"].a[flows], p["opt"].a[flows])
        take = np.zeros(len(st), bool)
        take[flows[~first_mid]] = True
        take[fid[~ok]] = False
        keep = take[fid]
        self.retries = Retries({k: v[keep] for k, v in r.items()})
        self.rows.drop_flows(take)
        self.state.a[np.flatnonzero(take)] &= np.uint8(0xFF ^ COMPLEX)

    # -- the engine's packets ------------------------------------------------------------

    def complex_count(self) -> int:
        """How many packets complex_packets yields."""
        st = self.state.v
        cx = st[(st & COMPLEX) > 0]
        return len(self.slow_pkts) + self.rows.n + int(((cx & N1) > 0).sum()) + int(((cx & N2) > 0).sum())

    def complex_packets(self, records, chunk: int = REPLAY_CHUNK):
        """Every packet of the COMPLEX flows, in frame order, as lists of
        Packets made `chunk` or so at a time (a few times that at most): the
        slow Packets, the kept rows, and each flow's first packet (probe
        columns) and second (read again from the capture by `records`, as
        answer_packets does). Four sources each in frame order, merged a
        frame range at a time; a Packet lives as long as its consumer keeps
        it. The store goes as it is read: call once."""
        st = self.state.v
        cx = np.nonzero(st & COMPLEX)[0]
        pf = cx[(st[cx] & N1) > 0]
        pf = pf[np.argsort(self.probe["frame"].a[pf], kind="stable")]
        af = cx[(st[cx] & N2) > 0]
        af = af[np.argsort(self.answer["frame"].a[af], kind="stable")]
        del cx
        slow, rows = self.slow_pkts, self.rows
        self.slow_pkts, self.rows = [], RowStore()
        slow.sort(key=lambda p: p.frame)  # in frame order already, batch after batch: a check in O(n)
        frames = [np.array([p.frame for p in slow], np.int64), rows.frame, self.probe["frame"].a[pf],
                  self.answer["frame"].a[af]]
        make = [lambda lo, hi: slow[lo:hi], lambda lo, hi: rows.packets(lo, hi, self.addrs, self.options),
                lambda lo, hi: self.probe_packets(pf[lo:hi]), lambda lo, hi: self.answer_packets(af[lo:hi], records)]
        at = [0, 0, 0, 0]
        while True:
            # up to the smallest frame `chunk` packets ahead in any source: at most `chunk` from each
            ahead = [int(f[a + chunk]) for f, a in zip(frames, at) if a + chunk < len(f)]
            part_frames, part = [], []
            for i, (f, a) in enumerate(zip(frames, at)):
                b = int(np.searchsorted(f, min(ahead))) if ahead else len(f)
                if b > a:
                    part_frames.append(f[a:b])
                    part.extend(make[i](a, b))
                    if i == 0:
                        slow[a:b] = [None] * (b - a)  # the consumer's alone from now on
                    elif i == 1:
                        rows.release(b)
                    at[i] = b
            if not part:
                trim_malloc()  # what the rows and the chunks' lists took from the heap, back before what comes next
                return
            if len(part_frames) > 1:
                part = list(map(part.__getitem__, np.argsort(np.concatenate(part_frames), kind="stable").tolist()))
            yield part

    # -- Packets -------------------------------------------------------------------------

    def packets_from_rows(self, d: Decoded, rows: np.ndarray) -> list:
        return packets_from_rows(d, rows, self.addrs, self.options)

    def endpoints(self, fids: np.ndarray):
        """(scanner id, scanner port, target id, target port, udp) of flows, the
        scanner being the sender of the flow's first packet."""
        key = self.key.a[fids]
        pid = (key >> np.uint64(34)).astype(np.int64)
        udp = ((key >> np.uint64(32)) & np.uint64(1)).astype(bool)
        lo_p = ((key >> np.uint64(16)) & np.uint64(0xFFFF)).astype(np.int64)
        hi_p = (key & np.uint64(0xFFFF)).astype(np.int64)
        lo_a, hi_a = self.pair_lo.a[pid], self.pair_hi.a[pid]
        sdir = (self.state.a[fids] & SDIR) > 0
        return (np.where(sdir, hi_a, lo_a), np.where(sdir, hi_p, lo_p), np.where(sdir, lo_a, hi_a),
                np.where(sdir, lo_p, hi_p), udp)

    def probe_packets(self, fids: np.ndarray) -> list:
        """The first packet of each flow, as a Packet."""
        if not len(fids):
            return []
        s, sp, t, tp, udp = self.endpoints(fids)
        cols = {k: c.a[fids] for k, c in self.probe.items()}
        cols.update(src=s, sport=sp.astype(np.uint16), dst=t, dport=tp.astype(np.uint16), udp=udp)
        return make_packets(cols, self.addrs, self.options)

    def answer_packets(self, fids: np.ndarray, records) -> list:
        """The second packet of each flow, decoded again from the capture
        (`records(offset)`: (link type, timestamp, data) of the record there)."""
        from ..capture.decode import decode_frame

        frames = self.answer["frame"].a[fids].tolist()
        offs = self.answer["fileoff"].a[fids]
        order = np.argsort(offs, kind="stable").tolist()
        offs = offs.tolist()
        out = [None] * len(order)
        for i in order:
            lt, ts, data = records(offs[i])
            out[i] = decode_frame(lt, data, frames[i], ts)
        return out


def packets_from_rows(d: Decoded, rows: np.ndarray, addrs: AddressBook, options: OptionBook) -> list:
    """Packets of rows of decoded columns."""
    return make_packets({k: getattr(d, k)[rows] for k in ROW_FIELDS}, addrs, options)


@functools.cache
def _ints16() -> np.ndarray:
    return np.arange(1 << 16).astype(object)


def listed(values: np.ndarray, repeats: bool = False) -> list:
    """values.tolist(), where a 16-bit column (ports, IP id, window) gives one
    shared int object per value instead of one per packet: the engine holds
    every complex flow's Packets, and these values repeat from packet to packet.
    So do a scan's sequence and acknowledgment numbers (`repeats`: a fixed
    seq in every probe, every RST acknowledging it): shared too when a sample
    shows them repeating (64 bytes a Packet on a replicated scan), else left
    alone (a connection's numbers are its own: np.unique would cost 10x tolist)."""
    if values.dtype == np.uint16:
        return _ints16()[values].tolist()
    if repeats and len(values) > 64:
        sample = np.sort(values[:: max(1, len(values) // 1024)])
        # its distinct values counted on the sorted sample: np.unique's check for masked arrays would
        # import numpy.ma (10 ms) while the complex flows are replayed, this process alone at work
        if 2 * (1 + int(np.count_nonzero(sample[1:] != sample[:-1]))) <= len(sample):
            uniq, inv = np.unique(values, return_inverse=True)
            shared = np.empty(len(uniq), object)
            shared[:] = uniq.tolist()
            return shared[inv.ravel()].tolist()
    return values.tolist()


# The columns of ROW_FIELDS listed() shares values of when they repeat
REPEATING = frozenset(("seq", "ack", "mss", "length", "payload"))


# A Packet's protocol name by the udp column
_PROTO_NAMES = np.array(["tcp", "udp"], object)


def make_packets(cols: dict, addrs: AddressBook, options: OptionBook) -> list:
    """Packets of rows of named columns (ROW_FIELDS -> numpy arrays of one length): what
    decode_frame makes of the same TCP or UDP packet (a UDP one has no TCP fields: flags, seq,
    ack, window 0, no options, no MSS). Each field listed in one go (`listed`) and the Packets
    made in one batch (model.records)."""
    n = len(cols["frame"])
    if not n:
        return []
    udp = np.asarray(cols["udp"], bool)
    tcp_only = not udp.any()

    def field(k):  # a column as Packets hold it: a TCP field of a UDP packet is 0
        c = cols[k]
        return listed(c if tcp_only or k not in _TCP_ONLY else np.where(udp, 0, c), k in REPEATING)

    src, dst = cols["src"].tolist(), cols["dst"].tolist()
    text = addrs.text
    names = {a: text(a) for a in set(src).union(dst)}  # each address's text, made once
    mss = cols["mss"]
    no_mss = mss < 0 if tcp_only else udp | (mss < 0)
    if no_mss.any():
        m = np.empty(n, object)
        m[:] = listed(mss, True)
        m[no_mss] = None
        mss = m.tolist()
    else:
        mss = listed(mss, True)
    opt = cols["opt"] if tcp_only else np.where(udp, 0, cols["opt"])  # (OptionBook's id 0 is no options)
    return records(Packet, {
        "frame": field("frame"), "ts": field("ts"), "src": list(map(names.__getitem__, src)),
        "dst": list(map(names.__getitem__, dst)), "proto": _PROTO_NAMES[udp.astype(np.intp)].tolist(),
        "ip_version": np.where(cols["src"] >= V6_BASE, 6, 4).tolist(), "ttl": field("ttl"), "ip_id": field("ip_id"),
        "length": field("length"), "sport": field("sport"), "dport": field("dport"), "flags": field("flags"),
        "seq": field("seq"), "ack": field("ack"), "window": field("window"),
        "options": list(map(options.tuples.__getitem__, opt.tolist())), "mss": mss, "payload_len": field("payload"),
        "ip_proto": np.where(udp, P_UDP, P_TCP).tolist()})


_TCP_ONLY = frozenset(("flags", "seq", "ack", "window"))  # ROW_FIELDS a UDP packet has none of
