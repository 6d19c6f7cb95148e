"""Some scan sessions of a big capture, whole: every packet between given
address pairs picked out by the fast reader in bulk, then replayed by the
ordinary engine and analysed by the ordinary code (analysis.capture_result).

For commands that need every port's Exchange (compare) of a few sessions of
a capture too big to replay whole: the capture is decoded in columns (as
the fast path reads it) and only the packets between the sessions'
scanner and target (either way), the ICMP errors either of them sends or
receives, and their ARP, become Packet objects. Everything a session's
exchanges are made of passes between those two addresses, so its scan comes
out as the ordinary path builds it.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Callable, Iterable, Optional

import numpy as np

from ..capture import ReadStats
from ..model import RST
from .columns import AddressBook, OptionBook, Reader, decode_batch, dense_ids
from .flows import ROW_FIELDS, packets_from_rows


class NotWhole(Exception):
    """A session whose exchanges the packets between its addresses do not rebuild as its verdicts name them."""


# the columns a Packet is made of (flows.ROW_FIELDS), kept for the rows between the pairs in types as
# narrow as their values (decode_batch's are int64)
_NARROW = {"frame": np.uint32, "ts": np.float64, "src": np.int64, "dst": np.int64, "udp": bool, "ttl": np.uint8,
           "ip_id": np.uint16, "length": np.uint32, "sport": np.uint16, "dport": np.uint16, "flags": np.uint16,
           "seq": np.uint32, "ack": np.uint32, "window": np.uint16, "opt": np.int32, "mss": np.int32,
           "payload": np.uint32}
_KEPT = {k: _NARROW[k] for k in ROW_FIELDS}


class Between:
    """The packets between some (address, address) pairs of a capture, either
    way, read once: the bulk decoder's rows as columns (`cols`, frame order),
    the records only decode_frame reads as Packets (`slow`: ICMP errors either
    address sends or receives, and the rest between the pairs). Packets of
    rows are made when asked (packets()). With `frames` (first, last), only
    the records of those frames are decoded and kept, and reading stops
    after the last."""

    def __init__(self, path, pairs: Iterable[tuple], progress: Optional[Callable] = None,
                 frames: Optional[tuple] = None):
        self.stats = stats = ReadStats(str(path))
        self.addrs, self.options = addrs, options = AddressBook(), OptionBook()
        pairs = list(pairs)
        texts = {a for pair in pairs for a in pair}
        self._pairs = pick = _PairCodes([(addrs.id_of(a), addrs.id_of(b)) for a, b in pairs])
        text_pairs = {frozenset(p) for p in pairs}
        reader = Reader(path, stats, use_jit=False)
        size = reader.cap.size or 0
        # room for every record the file could hold (a pcap record of IPv4 and UDP, raw: 44 bytes): pages
        # never written cost nothing, and the rows are written in place, batch by batch, never joined
        room = size // 44 + 1 if size else 1 << 16
        cols = {k: np.zeros(room, dtype) for k, dtype in _KEPT.items()}
        n = 0
        self.slow = []
        lo, hi = frames if frames is not None else (0, float("inf"))
        for batch in reader.batches():
            if batch.frame0 > hi:
                break
            dec, slow, _ts = (None, [], None) if batch.frame0 + len(batch.off) <= lo else \
                decode_batch(batch, addrs, options, stats, reader.unknown)  # before the frames: walked only
            if frames is not None and dec is not None:
                at = (dec.frame >= lo) & (dec.frame <= hi)
                if not at.all():
                    dec = SimpleNamespace(**{k: getattr(dec, k)[at] for k in _KEPT})
                slow = [pkt for pkt in slow if lo <= pkt.frame <= hi]
            if dec is not None and len(dec.frame):
                rows = np.nonzero(pick.of(dec.src, dec.dst) >= 0)[0]
                if len(rows):
                    if dec.frame[-1] >= 1 << 32:
                        raise NotWhole("more than 2**32 records")
                    if n + len(rows) > room:  # a file that grew as it was read: twice the room
                        room = 2 * (n + len(rows))
                        for k, col in cols.items():
                            cols[k] = np.zeros(room, col.dtype)
                            cols[k][:n] = col[:n]
                    every = len(rows) == len(dec.frame)  # all of the batch (a capture of the pairs only): copied whole
                    for k in _KEPT:
                        cols[k][n:n + len(rows)] = getattr(dec, k) if every else getattr(dec, k)[rows]
                    n += len(rows)
            self.slow += [pkt for pkt in slow if _slow_between(pkt, texts, text_pairs)]
            if progress is not None and len(batch.off):
                progress(batch.base + int(batch.off[-1] + batch.incl[-1]), size, stats.packets, "rereading")
        self.cols = SimpleNamespace(**{k: col[:n] for k, col in cols.items()})

    def __len__(self) -> int:
        return len(self.cols.frame)

    def packets(self, rows=None) -> list:
        """Packets of `rows` (in their order); None: of every row and slow record, in frame order."""
        if rows is not None:
            return packets_from_rows(self.cols, np.asarray(rows, np.int64), self.addrs, self.options)
        out = packets_from_rows(self.cols, np.arange(len(self)), self.addrs, self.options) + self.slow
        out.sort(key=lambda p: p.frame)
        return out

    def between(self, pairs: Iterable[tuple]) -> list:
        """[Packet] in frame order between some of the pairs read (either
        way): what packets_between(path, pairs) reads, without reading again."""
        c = self.cols
        pairs = list(pairs)
        hit = np.zeros(len(c.frame), bool)
        for a, b in pairs:
            ia, ib = self.addrs.id_of(a), self.addrs.id_of(b)
            hit |= ((c.src == ia) & (c.dst == ib)) | ((c.src == ib) & (c.dst == ia))
        texts, text_pairs = {a for pair in pairs for a in pair}, {frozenset(p) for p in pairs}
        out = self.packets(np.nonzero(hit)[0]) + [pkt for pkt in self.slow if _slow_between(pkt, texts, text_pairs)]
        out.sort(key=lambda p: p.frame)
        return out

    def port_keys(self, scanner: str, target: str) -> tuple:
        """(rows, keys) of the rows between `scanner` and `target`: each keyed
        udp * 65536 + the target's port (the destination port of what the
        scanner sends, the source port of what the target sends), as
        exchanges.port_flows keys them when `target` scans no port of `scanner`."""
        return self.port_keys_of([(scanner, target)])[(scanner, target)]

    def port_keys_of(self, pairs: list) -> dict:
        """{(scanner, target): port_keys(scanner, target)} of several pairs:
        every row's pair found once, not every row compared once per pair."""
        c = self.cols
        ids = {pair: (self.addrs.id_of(pair[0]), self.addrs.id_of(pair[1])) for pair in pairs}
        code = np.empty(len(c.src), np.int64)
        step = 1 << 20
        for at in range(0, len(code), step):  # in slices: the searches' arrays stay small
            code[at:at + step] = self._pairs.of(c.src[at:at + step], c.dst[at:at + step])
        order = np.argsort(code, kind="stable")  # each pair's rows in frame order
        code = code[order]
        out = {}
        for pair, (s, t) in ids.items():
            mine = int(self._pairs.of(np.array([s], np.int64), np.array([t], np.int64))[0])
            rows = order[np.searchsorted(code, mine, "left"):np.searchsorted(code, mine, "right")] if mine >= 0 \
                else np.zeros(0, np.int64)
            out_ = c.src[rows] == s
            port = np.where(out_, c.dport[rows], c.sport[rows]).astype(np.int64)
            out[pair] = (rows, c.udp[rows].astype(np.int64) * 65536 + port)
        return out


class _PairCodes:
    """Which of some (address id, address id) pairs rows are between, either
    way: a code per pair, found for every row by two binary searches however
    many pairs there are (a capture of 39 sessions compared each row 39 times)."""

    def __init__(self, pairs: list):
        self.addrs = np.unique(np.array([a for pair in pairs for a in pair], np.int64))
        k = len(self.addrs)
        ends = np.searchsorted(self.addrs, np.array(pairs, np.int64).reshape(-1, 2)) if pairs else np.zeros((0, 2))
        self.codes = np.unique(ends.min(axis=1) * k + ends.max(axis=1)).astype(np.int64)

    def of(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Each row's pair code (the same either way), -1 where it is between no pair."""
        k = len(self.addrs)
        if not k or not len(src):
            return np.full(len(src), -1, np.int64)
        i = np.minimum(np.searchsorted(self.addrs, src), k - 1)
        j = np.minimum(np.searchsorted(self.addrs, dst), k - 1)
        code = np.minimum(i, j) * k + np.maximum(i, j)
        at = np.minimum(np.searchsorted(self.codes, code), len(self.codes) - 1)
        known = (self.addrs[i] == src) & (self.addrs[j] == dst) & (self.codes[at] == code)
        return np.where(known, code, -1)


def _slow_between(pkt, texts: set, text_pairs: set) -> bool:
    """Is a record decode_frame read (not the bulk decoder) one of the pairs'
    (either way), or an ICMP error one of their addresses sends or receives?"""
    return frozenset((pkt.src, pkt.dst)) in text_pairs or (
        pkt.quoted is not None and (pkt.src in texts or pkt.dst in texts))


def bulk_rows(scan):
    """Rows of a fast-path scan's ports (PortTable) classified in bulk (no Exchange), as an array; () if none."""
    ports = scan.ports
    objects = getattr(ports, "objects", None)
    if objects is None or len(objects) == len(ports):
        return ()
    bulk = np.ones(len(ports), bool)
    bulk[list(objects)] = False
    return np.nonzero(bulk)[0]


class BulkKeys:
    """The (scanner, target, proto, port) keys of bulk ports, as
    exchanges.port_flows asks for them (`key in keys`), read off the scans'
    columns."""

    def __init__(self, scans: list, bulk: dict):
        self.codes: dict = {}
        for s in scans:
            rows = bulk[id(s)]
            if len(rows):
                code = s.ports.udp[rows].astype(np.int64) * 65536 + s.ports.port[rows]
                self.codes[(s.scanner, s.target)] = np.sort(np.r_[self.codes.get((s.scanner, s.target), []), code])

    def __bool__(self) -> bool:
        return bool(self.codes)

    def __contains__(self, key) -> bool:
        scanner, target, proto, port = key
        codes = self.codes.get((scanner, target))
        if codes is None or proto not in ("tcp", "udp"):
            return False
        code = (proto == "udp") * 65536 + port
        at = int(np.searchsorted(codes, code))
        return at < len(codes) and int(codes[at]) == code


class BulkPorts:
    """The ports some fast-path scans classified in bulk, each found among
    the packets between its scanner and target (a Between, read once) as
    its own probe row and at most one answer row, without making any
    session whole: verify checks them by shape, compare describes them so.
    NotWhole where a bulk port's packets are not its one probe and at most
    one answer (a port probed again, a copy, an ICMP error or a record the
    bulk decoder left quoting it, a target that scans its scanner), or a
    row does not replay as its verdict names it (`replayed`).

    `reopened`: a bulk port may share its port with other rows (a flow the
    scanner reopened: the fast path split it where the engine starts a new
    connection, flows.FlowTable._reopened; a scan run again from other
    source ports), for a caller that reads the other rows itself (verify:
    `key_rows`, `replayed`'s packets) or none of them (compare, where a port
    that never answered was probed again: `probes_again`). Its own rows are then its probe, at
    the frame its verdict names, and the row right after it among the port's
    rows where the target sent that; the port's next row, if any, the
    scanner's; and no RST of the scanner on that port (a reset from another
    source port would be given to the latest probe before it: verify's loose
    resets), else NotWhole.

    `own_frames`: read only the frames from the first bulk probe to the last
    bulk probe or answer, for a caller that reads nothing of a bulk port but
    its own probe and answer (compare), not the packets around it (verify's
    rules do): that no other packet anywhere in the capture shares their flow
    (a copy, a retry from the same port, an ICMP error quoting them) the fast
    path saw when it classified them in bulk, and the checks above then hold
    within those frames."""

    def __init__(self, path, scans: list, progress: Optional[Callable] = None, own_frames: bool = False,
                 reopened: bool = False):
        from ..exchanges import port_flows

        pairs = {(s.scanner, s.target) for s in scans}
        if any(a == b or (b, a) in pairs for a, b in pairs):
            raise NotWhole("a target scans its scanner")  # port_flows would key some packets the other way
        self.bulk = {id(s): bulk_rows(s) for s in scans}  # id(scan) -> its bulk rows
        if not reopened and any(getattr(s.ports, "more", None) for s in scans):  # (own_frames could miss the other probes)
            raise NotWhole("a bulk port was probed more than once")
        frames = None
        if own_frames:
            bulk = [(s.ports.pframe[r], s.ports.rframe[r]) for s in scans for r in [self.bulk[id(s)]] if len(r)]
            frames = (min(int(p.min()) for p, _r in bulk), max(int(max(p.max(), r.max())) for p, r in bulk)) \
                if bulk else None
        self.between = b = Between(path, pairs, progress, frames)
        self.rows: dict = {}  # id(scan) -> (probe row, answer row or -1) per port of its table; -1: not bulk
        self.reopened = reopened
        self.shared: dict = {}  # id(scan) -> per port of its table: does its port hold rows not its own
        self.probes_again: dict = {}  # id(scan) -> {bulk row probed more than once (PortTable.more): its probes' rows}
        self._port_packets: dict = {}  # (scanner, target, a shared port's first row) -> its Packets, a few kept
        self._keyed: dict = {}
        self._resets: dict = {}  # (scanner, target) -> the ports the scanner sent a RST to (reopened)
        # where each row is in its pair's keyed rows (reopened), -1: none
        self._at = np.full(len(b) if reopened else 0, -1, np.int32 if len(b) < 1 << 31 else np.int64)
        for pair, (rows, keys) in b.port_keys_of(sorted(pairs)).items():  # every pair's at once
            order = np.argsort(keys, kind="stable")
            self._keyed[pair] = got = (rows[order].astype(self._at.dtype), keys[order].astype(np.int32))
            if reopened:
                rows, keys = got
                self._at[rows] = np.arange(len(rows), dtype=self._at.dtype)
                target = b.addrs.id_of(pair[1])
                rst = (b.cols.src[rows] != target) & ~b.cols.udp[rows] & (b.cols.flags[rows] & RST != 0)
                self._resets[pair] = np.unique(keys[rst])
        if port_flows(b.slow, BulkKeys(scans, self.bulk)):
            raise NotWhole("an ICMP error or a record the bulk decoder left quotes a bulk port")
        for s in scans:
            self._own_rows(s)
        self._at = None  # (its own rows found: a row per packet between the pairs, freed)

    def keyed(self, scanner: str, target: str) -> tuple:
        """(rows, keys) of Between.port_keys, sorted by key, each key's rows in frame order."""
        got = self._keyed.get((scanner, target))
        if got is None:
            rows, keys = self.between.port_keys(scanner, target)
            order = np.argsort(keys, kind="stable")
            got = self._keyed[(scanner, target)] = (rows[order], keys[order].astype(np.int32))
        return got

    def _own_rows(self, s) -> None:
        rows_b = np.asarray(self.bulk[id(s)], np.int64)
        if not len(rows_b):
            return
        b, pt = self.between, s.ports
        rows, keys = self.keyed(s.scanner, s.target)
        code = (pt.udp[rows_b].astype(np.int64) * 65536 + pt.port[rows_b]).astype(keys.dtype)  # keys' type: no copy
        lo, hi = np.searchsorted(keys, code, "left"), np.searchsorted(keys, code, "right")
        count = hi - lo
        target = b.addrs.id_of(s.target)
        frame = b.cols.frame
        if not self.reopened:
            first = rows[np.minimum(lo, len(rows) - 1)] if len(rows) else np.full(len(lo), -1)
            second = np.where(count == 2, rows[np.minimum(lo + 1, len(rows) - 1)] if len(rows) else -1, -1)
            rframe = pt.rframe[rows_b]
            ok = (count >= 1) & (count <= 2) & (frame[first] == pt.pframe[rows_b]) & \
                ((rframe < 0) | ((count == 2) & (frame[second] == rframe))) & \
                ((count == 1) | (b.cols.src[second] == target))
            shared = np.zeros(len(rows_b), bool)
        else:
            first, second, ok = self._own_of_shared(s, rows, keys, code, lo, hi, target)
            again = self.probes_again.get(id(s), {})
            own = 1 + (second >= 0)
            if again:
                own += np.array([len(again.get(r, ())) - (r in again) for r in rows_b.tolist()], np.int64)
            shared = count > own
        if not ok.all():
            raise NotWhole(f"a bulk port of {s.scanner} -> {s.target} shares its packets")
        firsts = np.full(len(pt), -1, np.int64)
        seconds = np.full(len(pt), -1, np.int64)
        firsts[rows_b], seconds[rows_b] = first, second
        self.rows[id(s)] = (firsts, seconds)
        if shared.any():
            self.shared[id(s)] = at = np.zeros(len(pt), bool)
            at[rows_b] = shared

    def _own_of_shared(self, s, rows, keys, code, lo, hi, target) -> tuple:
        """(probe rows, second rows or -1, ok) of bulk ports whose port may hold other rows
        (`reopened`): each port's probe row found by its frame (the rows are in frame order),
        its second row the next of its port where the target sent it."""
        b, pt = self.between, s.ports
        rows_b = np.asarray(self.bulk[id(s)], np.int64)
        c = b.cols
        n = len(c.frame)
        pframe = pt.pframe[rows_b].astype(np.int64)
        if not n or not len(rows) or pframe.max() >= 1 << 32:
            return np.full(len(rows_b), -1), np.full(len(rows_b), -1), np.zeros(len(rows_b), bool)
        probe, i_ok, ok = self._at_frames(pframe, rows, keys, code)
        first = np.where(ok, probe, -1)
        nxt = np.minimum(i_ok + 1, len(rows) - 1)
        from_target = ok & (i_ok + 1 < hi) & (c.src[rows[nxt]] == target)
        second = np.where(from_target, rows[nxt], -1)
        rframe = pt.rframe[rows_b]
        ok &= (rframe < 0) | (from_target & (c.frame[np.maximum(second, 0)] == rframe))
        # the row after its own ones, if any, the scanner's (a probe that reopens the port)
        after = np.minimum(np.where(from_target, i_ok + 2, i_ok + 1), len(rows))
        later = ok & (after < hi)
        ok &= ~later | (c.src[rows[np.minimum(after, len(rows) - 1)]] != target)
        ok &= ~np.isin(code, self._resets.get((s.scanner, s.target), code[:0]))  # no RST of the scanner on the port
        more = getattr(pt, "more", None)
        if more:
            ok &= self._probes_again(s, rows_b, rows, keys, code, more, target)
            second[np.isin(rows_b, np.fromiter(more, np.int64, len(more)))] = -1
        return first, second, ok

    def _at_frames(self, frames: np.ndarray, rows, keys, code) -> tuple:
        """(the row of each of `frames` among between.cols, its place among its pair's keyed rows
        `rows`/`keys` (0 where not found), found: that row is there and of port `code`)."""
        c = self.between.cols
        row = np.minimum(np.searchsorted(c.frame, frames.astype(c.frame.dtype)), len(c.frame) - 1)
        i = self._at[row].astype(np.int64)
        i_ok = np.maximum(i, 0)
        return row, i_ok, (c.frame[row] == frames) & (i >= 0) & (rows[i_ok] == row) & (keys[i_ok] == code)

    def _probes_again(self, s, rows_b, rows, keys, code, more: dict, target) -> np.ndarray:
        """ok per bulk row of scan `s`: a row probed more than once (PortTable.more: a port that
        never answered, its probes again handed on as columns) is silent, and every probe of it
        is a row of its port; those rows kept (probes_again) for `replayed`."""
        c = self.between.cols
        ok = np.ones(len(rows_b), bool)
        at = {int(r): j for j, r in enumerate(rows_b.tolist())}
        mine = self.probes_again.setdefault(id(s), {})
        for row, frames in more.items():
            j = at.get(int(row))
            if j is None:
                continue
            frames = np.asarray(frames, np.int64)
            if s.ports.rframe[row] >= 0 or frames.max() >= 1 << 32:
                ok[j] = False
                continue
            got, i_ok, found = self._at_frames(frames, rows, keys, code[j])
            ok[j] = bool(found.all())
            last = int(i_ok[-1]) + 1  # the port's row after its last probe, if any: the scanner's
            if ok[j] and last < len(rows) and keys[last] == code[j] and c.src[rows[last]] == target:
                ok[j] = False
            mine[int(row)] = got.astype(np.int64)
        return ok

    def key_rows(self, scan, row: int):
        """The rows of bulk row `row`'s port between its scanner and target (its own and, where
        the port is shared, every other), in frame order."""
        rows, keys = self.keyed(scan.scanner, scan.target)
        pt = scan.ports
        code = int(pt.udp[row]) * 65536 + int(pt.port[row])
        return rows[np.searchsorted(keys, code, "left"):np.searchsorted(keys, code, "right")].astype(np.int64)

    def pairs(self, scan) -> tuple:
        """(bulk rows, their probe rows, their answer rows or -1) of `scan`, rows of between.cols."""
        rows_b = np.asarray(self.bulk[id(scan)], np.int64)
        if not len(rows_b):
            return rows_b, rows_b, rows_b
        firsts, seconds = self.rows[id(scan)]
        return rows_b, firsts[rows_b], seconds[rows_b]

    def replayed(self, scan, row: int) -> tuple:
        """(PortResult, its packets) of bulk row `row` of `scan`: its probe and
        answer replayed by the engine, held to the frames and port its verdict
        names; the packets of its port where it shares that (`reopened`)."""
        from ..exchanges import ReplayEngine
        from ..model import PortResult
        from ..scans import merge_same_port

        firsts, seconds = self.rows[id(scan)]
        again = self.probes_again.get(id(scan), {}).get(row)
        own = again.tolist() if again is not None else [r for r in (int(firsts[row]), int(seconds[row])) if r >= 0]
        shared = self.shared.get(id(scan))
        if shared is not None and shared[row]:  # its port's every packet, its own among them
            everyone = self.key_rows(scan, row)
            at = (scan.scanner, scan.target, int(everyone[0]))
            pkts = self._port_packets.get(at)
            if pkts is None:  # made once for the ports of many sessions (each shape's first is often one port)
                if len(self._port_packets) >= 64:
                    self._port_packets.clear()
                pkts = self._port_packets[at] = self.between.packets(everyone)
            mine = [pkts[int(np.searchsorted(everyone, r))] for r in own]  # rows: in frame order, so sorted
        else:
            pkts = mine = self.between.packets(own)
        engine = ReplayEngine()
        for p in mine:
            engine.feed(p)
        merged = merge_same_port(engine.exchanges())
        pr = scan.ports[row]
        if len(merged) != 1 or tuple(p.frame for p in merged[0].probes) != tuple(pr.verdict.probe_frames) \
                or (merged[0].proto, merged[0].port) != (pr.proto, pr.port):
            raise NotWhole(f"{pr.port}/{pr.proto} of {scan.scanner} -> {scan.target}")
        return PortResult(proto=pr.proto, port=pr.port, verdict=pr.verdict, exchange=merged[0]), pkts


def pair_shapes(cols, first: np.ndarray, second: np.ndarray, extra: list, identity, seq_fields, near: int) -> tuple:
    """(ids, n): equal ids for pairs of rows of `cols` (`second` -1: none)
    that are alike in every column but the `identity` ones, and in `extra`
    (per pair); the `seq_fields` of both rows (and 0) compared only by their
    differences modulo 2**32, and those only up to `near` either way (farther
    is "far"). See verify.IDENTITY_FIELDS for why that is the key."""
    has = second >= 0
    s = np.where(has, second, 0)
    key = list(extra) + [has]
    for name in _KEPT:
        if name in identity or name in ("src", "dst"):
            continue
        col = getattr(cols, name)
        key += [col[first], np.where(has, col[s], -1)]
    key += [np.where(has, getattr(cols, a)[s] == getattr(cols, b)[first], False)
            for a, b in (("src", "src"), ("sport", "dport"), ("dport", "sport"))]
    seqs = [getattr(cols, f)[first].astype(np.int64) for f in seq_fields] + \
        [np.where(has, getattr(cols, f)[s].astype(np.int64), 0) for f in seq_fields] + [np.zeros(len(first), np.int64)]
    far = 1 << 33
    for i in range(len(seqs)):
        for j in range(i + 1, len(seqs)):
            d = (seqs[i] - seqs[j]) % (1 << 32)
            d = np.where(d >= 1 << 31, d - (1 << 32), d)
            key.append(np.where(np.abs(d) <= near, d, far))
    return dense_ids(key)


def packets_between(path, pairs: Iterable[tuple], progress: Optional[Callable] = None) -> tuple:
    """(ReadStats, [Packet] in frame order) of the packets between each
    (address, address) pair, either way."""
    got = Between(path, pairs, progress)
    return got.stats, got.packets()


def whole_sessions(path, scans: list, indexes: Iterable[int], progress: Optional[Callable] = None,
                   keep_packets: bool = False) -> tuple:
    """(scans with the sessions at `indexes` whole, [Packet] or None): every
    port of those sessions given its Exchange. Where the fast path classified
    ports in bulk (no Exchange), the packets between each session's scanner
    and target are read again (packets_between) and replayed by the engine,
    and each port gets the exchange whose probes are the frames its verdict
    names: its verdict, the session's technique and tool stay the fast
    path's, which are the ordinary path's. NotWhole where that does not
    hold. With `keep_packets`, the packets between every session of
    `indexes` come back too (read even when all were whole already)."""
    from dataclasses import replace

    from ..exchanges import ReplayEngine
    from ..model import PortResult
    from ..progress import EVERY, Ticker, report
    from ..scans import merge_same_port

    indexes = list(dict.fromkeys(indexes))
    need = [i for i in indexes if any(p.exchange is None for p in scans[i].ports)]
    if not need and not keep_packets:
        return list(scans), None
    pairs = {(scans[i].scanner, scans[i].target) for i in (indexes if keep_packets else need)}
    _stats, packets = packets_between(path, pairs, progress)
    out = list(scans)
    if not need:
        return out, packets
    engine = ReplayEngine()
    tick = Ticker(progress, "pairing", len(packets))
    for lo in range(0, len(packets), EVERY):
        for p in packets[lo:lo + EVERY]:
            engine.feed(p)
        tick(min(lo + EVERY, len(packets)))
    tick.end()
    by_frame = {ex.probes[0].frame: ex for ex in engine.exchanges()}
    del engine
    report(progress, "classifying")
    for i in need:
        scan = scans[i]
        ports = []
        for pr in scan.ports:
            frames = pr.verdict.probe_frames
            found = [by_frame[f] for f in frames if f in by_frame]
            merged = merge_same_port(found) if found else []
            if len(merged) != 1 or tuple(p.frame for p in merged[0].probes) != tuple(frames) \
                    or (merged[0].proto, merged[0].port) != (pr.proto, pr.port):
                raise NotWhole(f"{pr.port}/{pr.proto} of {scan.scanner} -> {scan.target}")
            ports.append(PortResult(proto=pr.proto, port=pr.port, verdict=pr.verdict, exchange=merged[0]))
        out[i] = replace(scan, ports=tuple(ports))
    return out, (packets if keep_packets else None)
