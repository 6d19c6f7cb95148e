"""Columnar reading: a capture streamed in chunks on record boundaries, each
chunk's records decoded in bulk with numpy into columns of the fields the
replay engine reads.

The common shapes (Ethernet, Linux cooked v1/v2, loopback, raw IP; IPv4,
IPv6 without extension headers; TCP and UDP) are decoded here, following
capture/decode.py field for field: its header declarations give every
offset, its rules (next_layer, family_version, BULK_PROTOS) which records
are read here. Every other record (ICMP, fragments, VLAN tags, IPv6
extension headers, MPLS...) is marked SLOW and decoded one by one by
`decode_frame` itself, so nothing unusual is ever decoded twice over. The
record walk follows capture/containers.py's per-record rules and words.

Anything this reader does not reproduce exactly (a damaged pcapng, a gzip
stream cut short, a new pcapng section, undeclared interfaces) raises
NeedSlowPath: the caller analyzes the capture with the ordinary reader
instead. Timestamps out of order are no reason to (feed._decoded).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from socket import AF_INET, AF_INET6, inet_ntop

import numpy as np

from ..capture import containers as C
from ..capture import decode as D
from ..capture.decode import LINKTYPE_NAMES, NOT_IP, tcp_options, decode_arp, decode_frame, linktype_name
from ..speedups import compiled
from .walk import walkers

CHUNK_BYTES = 4 << 20  # bytes read per chunk (8 MiB measured slower with two processes: their batches compete for the shared L3)
MAX_RECORDS = (CHUNK_BYTES + C.MAX_RECORD_LEN) // 16 + 1  # records walked per batch at most: a whole chunk

# Record status after the bulk decode.
FAST, SLOW, NONIP, BAD = 0, 1, 2, 3
V6_BASE = 1 << 32  # address ids: IPv4 addresses are their own value, IPv6 ones V6_BASE + n


class NeedSlowPath(Exception):
    """The capture needs the ordinary, packet-by-packet path (the reason is the message)."""


@dataclass
class Batch:
    """Records walked from one buffer: where each record's bytes are."""

    buf: np.ndarray  # uint8 view of the buffer
    raw: bytes  # the same bytes, for decode_frame
    base: int  # stream offset of buf[0]
    frame0: int  # frame number of the first record
    off: np.ndarray  # int64 offsets of record data in buf
    incl: np.ndarray  # int64 captured lengths
    linktype: np.ndarray  # int32 link type per record (-1: undeclared interface)
    ts: np.ndarray  # float64 timestamps, exactly as the ordinary reader computes them


class AddressBook:
    """Address ids and their text. IPv4: the address as an integer; IPv6: V6_BASE + n."""

    def __init__(self):
        self.v6: dict = {}  # 16 bytes -> id
        self.v6_raw: list = []
        self._text: dict = {}
        self._ids: dict = {}  # text -> id, of the texts asked for

    def v6_ids(self, rows: np.ndarray) -> np.ndarray:
        """ids of an (n, 16) uint8 array of IPv6 addresses."""
        if not len(rows):
            return np.zeros(0, np.int64)
        flat = np.ascontiguousarray(rows).view(np.dtype((np.void, 16))).ravel()
        uniq, inv = np.unique(flat, return_inverse=True)
        ids = np.empty(len(uniq), np.int64)
        for i, u in enumerate(uniq):
            b = u.tobytes()
            got = self.v6.get(b)
            if got is None:
                got = self.v6[b] = V6_BASE + len(self.v6_raw)
                self.v6_raw.append(b)
            ids[i] = got
        return ids[inv.ravel()]

    def id_of_raw(self, b: bytes) -> int:
        """The id of an IPv6 address given as its 16 bytes, made if new."""
        got = self.v6.get(b)
        if got is None:
            got = self.v6[b] = V6_BASE + len(self.v6_raw)
            self.v6_raw.append(b)
        return got

    def id_of(self, text: str) -> int:
        got = self._ids.get(text)
        if got is None:
            got = self._ids[text] = self._id_of(text)
        return got

    def _id_of(self, text: str) -> int:
        if ":" in text:
            from socket import inet_pton

            b = inet_pton(AF_INET6, text)
            got = self.v6.get(b)
            if got is None:
                got = self.v6[b] = V6_BASE + len(self.v6_raw)
                self.v6_raw.append(b)
            return got
        a, b, c, d = (int(x) for x in text.split("."))
        return (a << 24) | (b << 16) | (c << 8) | d

    def text(self, addr_id: int) -> str:
        addr_id = int(addr_id)
        t = self._text.get(addr_id)
        if t is None:
            if addr_id >= V6_BASE:
                t = inet_ntop(AF_INET6, self.v6_raw[addr_id - V6_BASE])
            else:
                t = inet_ntop(AF_INET, addr_id.to_bytes(4, "big"))
            self._text[addr_id] = t
        return t


class OptionBook:
    """TCP option layouts (tuples of kinds) <-> small ids; id 0 is ()."""

    def __init__(self):
        self.ids: dict = {(): 0}
        self.tuples: list = [()]

    def id_of(self, kinds: tuple) -> int:
        got = self.ids.get(kinds)
        if got is None:
            got = self.ids[kinds] = len(self.tuples)
            self.tuples.append(kinds)
        return got


# --- streaming records -------------------------------------------------------------------


class Reader:
    """Stream a capture's records in batches. Fills `stats` as the ordinary reader does."""

    def __init__(self, path, stats: C.ReadStats, use_jit: bool = True, chunk_bytes: int = CHUNK_BYTES):
        self.path = os.fspath(path)
        self.stats = stats
        self.cap = C.open_capture(self.path)
        if self.cap.compressed:  # its bomb check and re-reading by offset are the ordinary reader's
            self.cap.close()
            raise NeedSlowPath("a gzip-compressed capture")
        self.chunk_bytes = chunk_bytes
        self.walk_pcap, self.walk_pcapng, self.want_bytes = walkers(use_jit)
        self.count = 0  # records so far
        self.stream_pos = self.cap.pos  # stream offset of the next unread byte
        self.seen_linktypes: set = set()
        self.unknown: dict = {}
        self.mapped = False  # chunks read (copied) from the file, or mapped (map_chunks)

    def close(self):
        self.cap.close()

    def map_chunks(self) -> None:
        """Chunks mapped from the file (mmap), not read into memory: no copy of
        each chunk out of the page cache, and no joining of one chunk's unwalked
        end to the next. A plain file only (its size known). A file cut shorter
        while mapped ends the process (SIGBUS): the decoding child maps
        (feed.read_forked), whose death its parent answers by reading the
        capture again itself."""
        self.mapped = self.cap.size is not None and not self.cap.compressed

    def _read(self, n: int) -> bytes:
        try:
            return self.cap.file.read(n)
        except C.GZIP_DAMAGE as exc:
            raise NeedSlowPath(f"damaged gzip stream ({exc})") from None

    def _chunk(self, raw, pos: int) -> tuple:
        """The next chunk to walk: what is left of the last one (`raw` from `pos`)
        and up to chunk_bytes more of the stream, as (bytes, stream offset of its
        first byte, where its unwalked bytes start, end of stream)."""
        if not self.mapped:
            tail = raw[pos:]
            data = self._read(self.chunk_bytes)
            base = self.stream_pos - len(tail)
            self.stream_pos += len(data)
            return (tail + data if tail else data), base, 0, not data
        import mmap

        start = self.stream_pos - (len(raw) - pos)
        size = self.cap.size
        if self.stream_pos >= size:  # (a file that grows is read on, as read() would)
            size = self.cap.size = max(size, os.fstat(self.cap.file.fileno()).st_size)
        end = min(self.stream_pos + self.chunk_bytes, size)
        eof = end == self.stream_pos
        base = start - start % mmap.ALLOCATIONGRANULARITY
        if end == base:
            self.stream_pos = end
            return b"", base, 0, eof
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)  # its pages mapped at once, not fault by fault
        try:
            mapped = mmap.mmap(self.cap.file.fileno(), end - base, flags, mmap.PROT_READ, offset=base)
        except (OSError, ValueError):  # a file system that does not map: read from here on
            self.mapped = False
            self.cap.file.seek(start)
            self.stream_pos = start
            return self._chunk(b"", 0)
        self.stream_pos = end
        return mapped, base, start - base, eof

    def batches(self):
        try:
            if self.cap.kind == "pcap":
                yield from self._pcap()
            else:
                yield from self._pcapng()
        finally:
            self.close()
        self.stats.warnings.extend(C.unsupported_link_type_warnings(self.unknown))

    def batches_from(self, offset: int, frame: int):
        """Batches from the record that starts at stream `offset`, numbered from
        `frame` (reading again: fastpath/feed.Rereader; the caller stops)."""
        self.cap.file.seek(offset)
        self.stream_pos = offset
        self.count = frame - 1
        return self._pcap() if self.cap.kind == "pcap" else self._pcapng()

    def _note_linktypes(self, linktypes):
        for lt in linktypes:
            lt = int(lt)
            if lt not in self.seen_linktypes:
                self.seen_linktypes.add(lt)
                if lt != C.UNDECLARED:
                    self.stats.link_types.add(linktype_name(lt))

    def _pcap(self):
        cap = self.cap
        hlen = cap.record_layout.size
        big = cap.byteorder == ">"
        divisor = cap.divisor
        linktype = cap.linktype
        out = [np.empty(MAX_RECORDS, np.int64) for _ in range(2)] + [np.empty(MAX_RECORDS, np.uint32) for _ in range(2)]
        raw, pos = b"", 0
        while True:
            raw, base, pos, eof = self._chunk(raw, pos)
            buf = np.frombuffer(raw, np.uint8)
            src = raw if self.want_bytes else buf
            while True:
                n, new_pos, status, bad = self.walk_pcap(src, pos, hlen, big, C.MAX_RECORD_LEN, *out)
                if n:
                    off, incl = out[0][:n].copy(), out[1][:n].copy()  # (the times are new arrays already)
                    ts = C.pcap_time(out[2][:n].astype(np.float64), out[3][:n].astype(np.float64), divisor)
                    lt = np.full(n, linktype, np.int32)
                    yield self._batch(buf, raw, base, off, incl, lt, ts)
                pos = new_pos
                if status == 1:
                    self._stop(C.corrupt_record_text(self.count + 1, bad))
                    return
                if n < MAX_RECORDS:
                    break
            if eof:
                rest = len(raw) - pos
                if rest:
                    self._stop(C.truncated_record_text(self.count + 1, cap.ends(rest), rest < hlen))
                return

    def _stop(self, msg: str):
        self.stats.truncated = True
        self.stats.warnings.append(C.damage_warning(msg, self.count))

    def _pcapng(self):
        cap = self.cap
        big = cap.byteorder == ">"
        order = cap.byteorder
        ifaces = cap.interfaces
        out = [np.empty(MAX_RECORDS, np.int64) for _ in range(2)] + [np.empty(MAX_RECORDS, np.uint32) for _ in range(3)]
        raw, pos = b"", 0
        while True:
            raw, base, pos, eof = self._chunk(raw, pos)
            buf = np.frombuffer(raw, np.uint8)
            src = raw if self.want_bytes else buf
            while True:
                n, new_pos, status = self.walk_pcapng(src, pos, big, len(ifaces), C.MAX_PACKET_BLOCK_LEN, *out)
                if n:
                    off, incl, iface, high, low = (a[:n].copy() for a in out)
                    yield self._batch(buf, raw, base, off, incl, *self._ng_time(iface, high, low, ifaces))
                pos = new_pos
                if status == 1:
                    raise NeedSlowPath("a damaged pcapng block")
                if status == 2:
                    head = C.PCAPNG_BLOCK_HEAD.size
                    if pos + head > len(raw):
                        break
                    btype, blen = C.PCAPNG_BLOCK_HEAD.order(order).unpack_from(raw, pos)
                    if btype != C.BT_IDB:  # SHB, SPB, PB, or an undeclared interface
                        raise NeedSlowPath("a pcapng block the fast reader leaves to the ordinary one")
                    if C.impossible_block_length(blen) or blen > C.MAX_HEADER_BLOCK_LEN:
                        raise NeedSlowPath("a damaged pcapng interface block")
                    if pos + blen > len(raw):
                        break
                    if int.from_bytes(raw[pos + blen - 4:pos + blen], "big" if big else "little") != blen:
                        raise NeedSlowPath("a damaged pcapng interface block")
                    if len(ifaces) >= C.MAX_INTERFACES:  # the ordinary reader stops there with a warning
                        raise NeedSlowPath("too many pcapng interface blocks")
                    try:
                        ifaces.append(cap.interface_block(raw[pos + head:pos + blen], blen - C.PCAPNG_MIN_BLOCK, order))
                    except C.ReadStop:
                        raise NeedSlowPath("a damaged pcapng interface block") from None
                    pos += blen
                    continue
                if n < MAX_RECORDS:
                    break
            if eof:
                if pos < len(raw):
                    raise NeedSlowPath("the capture ends inside a pcapng block")
                return

    @staticmethod
    def _ng_time(iface, high, low, ifaces):
        lts = np.array([i[0] for i in ifaces], np.int32)
        divs = [i[1] for i in ifaces]
        offs = [i[2] for i in ifaces]
        ticks = (high.astype(np.uint64) << np.uint64(32)) | low.astype(np.uint64)
        lt = lts[iface.astype(np.int64)]
        exact = bool((ticks < (1 << 53)).all()) and all(d < (1 << 53) and abs(o) < (1 << 53) for d, o in zip(divs, offs))
        if exact:
            div = np.array(divs, np.float64)[iface.astype(np.int64)]
            ofs = np.array(offs, np.float64)[iface.astype(np.int64)]
            ts = C.pcapng_time(ticks.astype(np.float64), div, ofs)
        else:  # nanosecond ticks past 2**53: Python's exact int / int, record by record
            ts = np.array([C.pcapng_time(t, divs[i], offs[i]) for t, i in zip(ticks.tolist(), iface.tolist())],
                          np.float64)
        return lt, ts

    def _batch(self, buf, raw, base, off, incl, lt, ts) -> Batch:
        b = Batch(buf=buf, raw=raw, base=base, frame0=self.count + 1, off=off, incl=incl, linktype=lt, ts=ts)
        self._note_linktypes(distinct(lt))
        self.count += len(off)
        self.stats.packets += len(off)
        return b


def distinct(values: np.ndarray) -> list:
    """np.unique(values).tolist(), without a sort where every value is the first (a pcap's link type)."""
    if len(values) and (values == values[0]).all():
        return [values[0].item()]
    return np.unique(values).tolist()


# --- bulk decoding ---------------------------------------------------------------------------

# Every offset, header length and "which records are read here" rule below is capture/decode.py's:
# its dpkt header declarations (D.ETH, D.IP4, D.TCP...) and its routing rules (D.next_layer,
# D.family_version, D.BULK_PROTOS), evaluated here on columns.
_ETH, _SLL, _SLL2, _NULL, _LOOP = D.LINKTYPE_ETHERNET, D.LINKTYPE_LINUX_SLL, D.LINKTYPE_LINUX_SLL2, D.LINKTYPE_NULL, \
    D.LINKTYPE_LOOP
_IPV4, _IPV6 = D.LINKTYPE_IPV4, D.LINKTYPE_IPV6
_RAW = (D.LINKTYPE_RAW_BSD12, D.LINKTYPE_RAW_BSD14, D.LINKTYPE_RAW)
_V4, _V6, _T, _U = D.IP4.at, D.IP6.at, D.TCP.at, D.UDP.at  # field offsets in each header


def _routed(values: np.ndarray, rule) -> tuple:
    """(IP version per record, 0 for none; status per record) of the records' link type field
    values by `rule` (value -> 4, 6, NOT_IP, or another layer decode_frame reads: SLOW),
    evaluated once per distinct value."""
    uniq, inv = np.unique(values, return_inverse=True)
    ver, status = np.zeros(len(uniq), np.int8), np.full(len(uniq), SLOW, np.int8)
    for j, v in enumerate(uniq.tolist()):
        nxt = rule(v)
        if nxt is NOT_IP:
            status[j] = NONIP
        elif nxt == 4 or nxt == 6:
            ver[j], status[j] = nxt, FAST
    return ver[inv.ravel()], status[inv.ravel()]


def _be16(buf, i):
    return (buf[i].astype(np.int64) << 8) | buf[i + 1]


def _be32(buf, i):
    return ((buf[i].astype(np.int64) << 24) | (buf[i + 1].astype(np.int64) << 16)
            | (buf[i + 2].astype(np.int64) << 8) | buf[i + 3])


def _le32(buf, i):
    return ((buf[i + 3].astype(np.int64) << 24) | (buf[i + 2].astype(np.int64) << 16)
            | (buf[i + 1].astype(np.int64) << 8) | buf[i])


@dataclass
class Decoded:
    """Columns of the FAST records of a batch (TCP or UDP over IPv4/IPv6), in frame order."""

    frame: np.ndarray
    ts: np.ndarray
    fileoff: np.ndarray  # stream offset of the record's data
    src: np.ndarray  # address ids
    dst: np.ndarray
    udp: np.ndarray  # bool: UDP (else TCP)
    ttl: np.ndarray
    ip_id: np.ndarray
    length: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    flags: np.ndarray
    seq: np.ndarray
    ack: np.ndarray
    window: np.ndarray
    opt: np.ndarray  # option layout ids
    mss: np.ndarray  # -1: none
    payload: np.ndarray


def decode_batch(b: Batch, addrs: AddressBook, options: OptionBook, stats: C.ReadStats, unknown: dict):
    """(Decoded FAST rows, [Packet] of SLOW records in frame order, ts of every decoded record)."""
    n = len(b.off)
    buf, off, incl = b.buf, b.off, b.incl
    status = np.full(n, BAD, np.int8)
    l3 = np.zeros(n, np.int64)
    ver = np.zeros(n, np.int8)
    lt = b.linktype
    end_rec = off + incl
    lane = _lane(b, status)  # Ethernet, IPv4 without options, TCP or UDP: read from a matrix of headers
    # -- link layers --
    for linktype in distinct(lt):
        sel = np.nonzero((lt == linktype) & (status == BAD))[0]
        if linktype not in LINKTYPE_NAMES:
            if linktype != C.UNDECLARED:
                unknown[linktype] = unknown.get(linktype, 0) + len(sel)
            continue  # BAD: skipped
        if linktype in (_ETH, _SLL, _SLL2):
            hdr = {_ETH: D.ETH, _SLL: D.SLL, _SLL2: D.SLL2}[linktype]
            s = sel[incl[sel] >= hdr.size]
            at = hdr.at("type" if linktype == _ETH else "ethtype")
            unwrap = linktype == _ETH  # MPLS, PPPoE, 802.3: decode_frame (SLOW)
            ver[s], status[s] = _routed(_be16(buf, off[s] + at), lambda et: D.next_layer(et, unwrap))
            l3[s] = off[s] + hdr.size
        elif linktype in (_NULL, _LOOP):
            s = sel[incl[sel] >= D.LOOPBACK_HDR_LEN]
            if linktype == _NULL:  # in the capturing host's byte order: read little-endian, then decided
                rule = lambda word: D.family_version(D.loopback_family(word))  # noqa: E731
                word = _le32(buf, off[s])
            else:
                rule, word = D.family_version, _be32(buf, off[s])
            ver[s], status[s] = _routed(word, rule)
            l3[s] = off[s] + D.LOOPBACK_HDR_LEN
        elif linktype in _RAW:
            ok = incl[sel] >= 1
            s = sel[ok]
            v = buf[off[s]] >> 4
            v4, v6 = v == 4, v == 6
            ver[s[v4]], ver[s[v6]] = 4, 6
            l3[s] = off[s]
            status[s[v4 | v6]] = FAST
        elif linktype in (_IPV4, _IPV6):
            ver[sel] = 4 if linktype == _IPV4 else 6
            l3[sel] = off[sel]
            status[sel] = FAST
    # -- IPv4 --
    idx4 = np.nonzero((status == FAST) & (ver == 4))[0]
    idx6 = np.nonzero((status == FAST) & (ver == 6))[0]
    cols = []
    if len(idx4):
        cols.append(_ipv4(buf, idx4, l3[idx4], end_rec[idx4], status))
    if len(idx6):
        cols.append(_ipv6(buf, idx6, l3[idx6], end_rec[idx6], status, addrs))
    # transport for both (a part left without rows is dropped: merged, it would cost a scatter of every column)
    parts = [c for c in cols if c is not None and len(c["idx"])]
    if lane is not None:
        parts.append(_lane_options(lane, b, options))
    generic = [c for c in parts if "sport" not in c]
    done = [c for c in parts if "sport" in c]
    if generic:
        keys = generic[0].keys()
        t = {k: np.concatenate([p[k] for p in generic]) for k in keys}
        order = np.argsort(t["idx"], kind="stable")
        t = {k: v[order] for k, v in t.items()}
        done.append(_transport(buf, t, status, options))
    if len(done) > 1:  # merged in record order: each part's rows (in order already) scattered to their places
        keys = done[0].keys()
        total = sum(len(p["idx"]) for p in done)
        places = []
        for i, p in enumerate(done):
            at = np.arange(len(p["idx"]))
            for j, q in enumerate(done):
                if j != i:
                    at += np.searchsorted(q["idx"], p["idx"])
            places.append(at)
        dec = {}
        for k in keys:
            col = np.empty(total, np.result_type(*[p[k] for p in done]))
            for p, at in zip(done, places):
                col[at] = p[k]
            dec[k] = col
    else:
        dec = done[0] if done else None
    stats.non_ip += int((status == NONIP).sum())
    # -- the rest, one by one, exactly as the ordinary reader does --
    slow = []
    for i in np.nonzero(status == SLOW)[0].tolist():
        o, ln = int(off[i]), int(incl[i])
        pkt = decode_frame(int(lt[i]), b.raw[o:o + ln], b.frame0 + i, float(b.ts[i]))
        if pkt is None:
            status[i] = BAD
        elif pkt is NOT_IP:
            status[i] = NONIP
            stats.non_ip += 1
        else:
            slow.append(pkt)
    stats.skipped += int((status == BAD).sum())
    # ARP requests and replies: Packets for the query engine (still counted as not IP)
    for i in np.nonzero(status == NONIP)[0].tolist():
        o, ln = int(off[i]), int(incl[i])
        pkt = decode_arp(int(lt[i]), b.raw[o:o + ln], b.frame0 + i, float(b.ts[i]))
        if pkt is not None:
            slow.append(pkt)
    slow.sort(key=lambda p: p.frame)
    fed = (status == FAST) | (status == SLOW)
    fed[[p.frame - b.frame0 for p in slow]] = True  # ARP too
    ip_ts = b.ts[fed]
    if dec is not None:
        fi = dec.pop("idx")
        if len(fi) == n:  # every record (fi is 0..n-1): the batch's own columns
            fi = slice(None)
            frame = np.arange(b.frame0, b.frame0 + n)
        else:
            frame = b.frame0 + fi
        fast = Decoded(frame=frame, ts=b.ts[fi], fileoff=b.base + off[fi], **dec)
    else:
        fast = None
    return fast, slow, ip_ts


LANE_MAX_LAYOUTS = 4096  # distinct option bytes parsed one by one; more are parsed in bulk
# The common shape: Ethernet, a 20-byte IPv4 header (no options), TCP or UDP.
_L3 = D.ETH.size  # where its IPv4 header starts
_L4 = _L3 + D.IP4.size  # ... and its TCP or UDP header
_OPT = _L4 + D.TCP.size  # ... and TCP's options
_LANE_VHL = (4 << 4) | (D.IP4.size >> 2)  # IPv4, a 20-byte header
MAX_TCP_OPTIONS = 40  # bytes: a TCP header is at most 60
OPTION_ROW = -(-(MAX_TCP_OPTIONS + 1) // 8) * 8  # the options' length byte and bytes, in whole 64-bit words
LANE_WIDTH = _OPT + MAX_TCP_OPTIONS + 2  # 96, and a little more

_NP_FORMATS = {"B": "u1", "H": ">u2", "I": ">u4", "4s": ">u4"}  # struct format -> numpy (addresses as integers)


def _lane_field(name, hdr, field, at, byte=None):
    """(name, numpy format, offset in the row) of a header field of the common shape; `byte`:
    one byte of it (TCP's data offset and flags share a 16-bit field)."""
    offset, fmt = hdr.fields[field]
    if byte is not None:
        return name, "u1", at + offset + byte
    return name, _NP_FORMATS[fmt], at + offset


# The fields of the common shape's first LANE_WIDTH bytes, read straight from the gathered rows;
# fields overlap where TCP and UDP differ.
_LANE_FIELDS = [
    _lane_field("eth", D.ETH, "type", 0),
    *(_lane_field(name, D.IP4, field, _L3) for name, field in (
        ("vhl", "_v_hl"), ("total", "len"), ("ip_id", "id"), ("frag", "_flags_offset"), ("ttl", "ttl"),
        ("proto", "p"), ("src", "src"), ("dst", "dst"))),
    *(_lane_field(name, D.TCP, field, _L4) for name, field in (
        ("sport", "sport"), ("dport", "dport"), ("seq", "seq"), ("ack", "ack"), ("window", "win"))),
    _lane_field("doff", D.TCP, "_off_flags", _L4, byte=0),
    _lane_field("flags", D.TCP, "_off_flags", _L4, byte=1),
    _lane_field("ulen", D.UDP, "ulen", _L4),
]
_LANE = np.dtype({"names": [f[0] for f in _LANE_FIELDS], "formats": [f[1] for f in _LANE_FIELDS],
                  "offsets": [f[2] for f in _LANE_FIELDS], "itemsize": LANE_WIDTH})


def gather_rows(buf: np.ndarray, at: np.ndarray, width: int) -> np.ndarray:
    """(len(at), width) uint8: the `width` bytes from each offset of `buf`,
    zeros past its end; one memcpy per row."""
    limit = len(buf) - width  # the last offset with `width` bytes after it
    if limit < 0:
        buf = np.concatenate([buf, np.zeros(width, np.uint8)])
        limit = len(buf) - width
    # rows of `width` bytes starting at every byte (a view, not a copy: padding the whole
    # buffer instead cost more than the gathering); the last few rows are mended after
    rows = np.ndarray((limit + 1,), np.dtype((np.void, width)), buf, 0, (1,))
    out = rows[np.minimum(at, limit)].view(np.uint8).reshape(len(at), width)
    for i in np.nonzero(at > limit)[0].tolist():
        a = int(at[i])
        k = max(0, len(buf) - a)
        out[i, :k] = buf[a:a + k]
        out[i, k:] = 0
    return out


# What lane_decode (pcapscan/cnative.c) is told, derived from the declarations above: each field's
# (offset in the row, size), the rules of the common shape, and the columns it writes.
_LANE_SIZES = {"u1": 1, ">u2": 2, ">u4": 4}
_LANE_ORDER = ("eth", "vhl", "total", "ip_id", "frag", "ttl", "proto", "src", "dst", "sport", "dport", "seq", "ack",
               "window", "doff", "flags", "ulen")
_LANE_AT = tuple((off, _LANE_SIZES[fmt]) for off, fmt in ((f[2], f[1]) for f in sorted(
    _LANE_FIELDS, key=lambda f: _LANE_ORDER.index(f[0]))))
_LANE_RULES = (_ETH, _L3, _L4, D.IP4.size, D.TCP.size, D.UDP.size, _LANE_VHL, D.ETH_TYPE_IP, D.IP4_OFFSET_MASK,
               D.P_TCP, FAST, LANE_WIDTH, OPTION_ROW)
# the lane's columns: Decoded's (in the types the decoding child sends them: feed._NARROW), then
# the TCP data offset and the option bytes inside the capture, which _lane_options reads
_LANE_OUT = {"idx": np.int64, "src": np.int64, "dst": np.int64, "udp": np.bool_, "ttl": np.uint8, "ip_id": np.uint16,
             "length": np.uint32, "sport": np.uint16, "dport": np.uint16, "flags": np.uint8, "seq": np.uint32,
             "ack": np.uint32, "window": np.uint16, "payload": np.uint32, "doff": np.uint8, "olen": np.uint8}


def _lane(b: Batch, status):
    """The records of the common shape (see _lane_py), compiled where
    pcapscan.cnative is built: the same columns, in narrower types."""
    native = compiled()
    if native is None:
        return _lane_py(b, status)
    n = len(b.off)
    out = {k: np.empty(n, t) for k, t in _LANE_OUT.items()}
    rows = np.empty((n, OPTION_ROW), np.uint8)  # (only the rows of TCP records with options are written)
    k = native.lane_decode(b.buf, b.off, b.incl, b.linktype, status, _LANE_AT, _LANE_RULES, bytes(D.BULK_PROTOS),
                           (*out.values(), rows))
    if not k:
        return None
    return dict({name: col[:k] for name, col in out.items()}, option_rows=rows)


def _lane_py(b: Batch, status):
    """The records of the common shape, decoded from one matrix of their first
    LANE_WIDTH bytes: Ethernet, IPv4 with a 20-byte header, not a fragment,
    TCP or UDP whose header fits. They become FAST here; the others are left
    (BAD) for the general decoding below. Their columns (_LANE_OUT's, in
    int64 mostly), the options aside (_lane_options)."""
    off, incl = b.off, b.incl
    cand = np.nonzero((b.linktype == _ETH) & (incl >= _L4 + D.UDP.size))[0]
    if not len(cand):
        return None
    # the bytes that rule most other records out (ARP, IPv6, ICMP, IP options), read first: the rest
    # of the rows then pass (no copy of a subset)
    at, buf = off[cand], b.buf
    et = D.ETH.at("type")
    pre = (buf[at + et] == D.ETH_TYPE_IP >> 8) & (buf[at + et + 1] == D.ETH_TYPE_IP & 0xFF)
    pre &= buf[at + _L3] == _LANE_VHL
    pre &= np.isin(buf[at + _L3 + _V4("p")], D.BULK_PROTOS)
    if not pre.all():
        cand = cand[pre]
        if not len(cand):
            return None
    m = gather_rows(b.buf, off[cand], LANE_WIDTH)
    whole = m.view(_LANE).ravel()
    f = whole
    ok = (f["eth"] == D.ETH_TYPE_IP) & (f["vhl"] == _LANE_VHL) & ((f["frag"] & D.IP4_OFFSET_MASK) == 0)
    proto = f["proto"]
    tcp = proto == D.P_TCP
    ok &= np.isin(proto, D.BULK_PROTOS)
    cap = incl[cand] - _L3
    total = f["total"].astype(np.int64)
    total = np.where(total == 0, cap, total)
    ok &= total >= D.IP4.size
    end = np.minimum(total, cap) + _L3  # relative to the record
    ok &= np.where(tcp, end >= _L4 + D.TCP.size, end >= _L4 + D.UDP.size)
    doff = (f["doff"] >> 4).astype(np.int64) << 2
    ok &= ~tcp | (doff >= D.TCP.size)
    if ok.all():
        idx = cand
    else:
        rows = np.nonzero(ok)[0]
        if not len(rows):
            return None
        total, end, tcp, doff = total[rows], end[rows], tcp[rows], doff[rows]
        idx = cand[rows]
        f = {k: whole[k][rows] for k in _LANE.names}
    status[idx] = FAST
    n = len(tcp)
    l4_len = total - D.IP4.size
    i64 = np.int64
    zero = np.zeros(n, i64)
    if tcp.all():
        seq, ack, window, flags = (f[k].astype(i64) for k in ("seq", "ack", "window", "flags"))
    else:
        seq, ack, window, flags = (np.where(tcp, f[k].astype(i64), zero) for k in ("seq", "ack", "window", "flags"))
    udp_pay = _udp_payload(f["ulen"].astype(i64), l4_len)
    payload = np.maximum(np.where(tcp, l4_len - doff, udp_pay), 0)
    olen = np.where(tcp & (doff > D.TCP.size), np.minimum(doff + _L4, end) - _OPT, 0)  # option bytes inside the capture
    return {"idx": idx, "src": f["src"].astype(i64), "dst": f["dst"].astype(i64), "udp": ~tcp, "ttl": f["ttl"].copy(),
            "ip_id": f["ip_id"].astype(i64), "length": total, "sport": f["sport"].astype(i64),
            "dport": f["dport"].astype(i64), "flags": flags, "seq": seq, "ack": ack, "window": window,
            "payload": payload, "doff": doff, "olen": olen}


def _lane_options(lane: dict, b: Batch, options: OptionBook) -> dict:
    """The lane's columns (_lane) with its TCP options read: layout ids and MSS."""
    doff, olen = lane.pop("doff"), lane.pop("olen")
    option_rows = lane.pop("option_rows", None)  # read by the compiled lane already
    tcp = ~lane["udp"]
    n = len(tcp)
    opt = np.zeros(n, np.int32)
    mss = np.full(n, -1, np.int64)
    wo = np.nonzero(tcp & (doff > D.TCP.size))[0]
    if len(wo):
        olen = olen[wo].astype(np.int64)
        width = OPTION_ROW  # their length, then the bytes (then zeros: whole 64-bit words)
        if option_rows is not None:
            block = option_rows[:len(wo)]
        else:
            block = _option_rows(b.buf, b.off[lane["idx"][wo]], olen)
        flat = block.view(np.dtype((np.void, width))).ravel()
        # np.unique(flat, return_index=True, return_inverse=True), sorting only the rows
        # unlike the first (a scan's probes share one layout), compared as 64-bit words
        words = block.view(np.uint64)
        differ = words[:, 0] != words[0, 0]
        for j in range(1, words.shape[1]):
            differ |= words[:, j] != words[0, j]
        rest = np.flatnonzero(differ)
        if not len(rest):
            uniq, first, inv = flat[:1], np.zeros(1, np.int64), np.zeros(len(flat), np.int64)
        else:
            u_r, f_r, i_r = np.unique(flat[rest], return_index=True, return_inverse=True)
            cand_rows = np.r_[0, rest[f_r]]
            uniq, at_u = np.unique(flat[cand_rows], return_index=True)
            first = cand_rows[at_u]
            where = np.empty(len(cand_rows), np.int64)
            where[at_u] = np.arange(len(uniq))
            inv = np.full(len(flat), where[0], np.int64)
            inv[rest] = where[1 + i_r.ravel()]
        if len(uniq) <= LANE_MAX_LAYOUTS:
            u_opt = np.empty(len(uniq), np.int32)
            u_mss = np.empty(len(uniq), np.int64)
            for j, fr in enumerate(first.tolist()):
                raw = block[fr].tobytes()
                kinds, value = tcp_options(raw, 1, 1 + int(block[fr][0]))
                u_opt[j] = options.id_of(kinds)
                u_mss[j] = -1 if value is None else value
            opt[wo], mss[wo] = u_opt[inv], u_mss[inv]
        else:  # many layouts (timestamps differ per packet): parsed in bulk
            at = b.off[lane["idx"][wo]]
            opt[wo], mss[wo] = _options(b.buf, at + _OPT, at + _OPT + olen, options)
    lane["opt"], lane["mss"] = opt, mss
    return lane


def _option_rows(buf: np.ndarray, at: np.ndarray, olen: np.ndarray) -> np.ndarray:
    """The option rows of TCP records of the common shape whose data start at `at`, with
    `olen` option bytes inside the capture: (len(at), OPTION_ROW) uint8, the length, the
    bytes (zeros past the buffer), then zeros. (The compiled lane writes them as it goes.)"""
    width = OPTION_ROW
    block = gather_rows(buf, at + _OPT - 1, width)
    block[:, 0] = olen
    # the bytes past the options: zeros, by slices (few lengths, 0 to 40: counted, not sorted)
    lengths = np.flatnonzero(np.bincount(olen, minlength=width)).tolist()
    block[:, lengths[-1] + 1:] = 0
    for u in lengths[:-1]:
        block[olen == u, u + 1:lengths[-1] + 1] = 0
    return block


def _ipv4(buf, idx, l3, end_rec, status):
    cap = end_rec - l3
    ok = cap >= D.IP4.size
    bad = idx[~ok]
    status[bad] = BAD
    idx, l3, end_rec, cap = idx[ok], l3[ok], end_rec[ok], cap[ok]
    vhl = buf[l3 + _V4("_v_hl")].astype(np.int64)
    ihl = (vhl & 0x0F) << 2
    total = _be16(buf, l3 + _V4("len"))
    ok = ((vhl >> 4) == 4) & (ihl >= D.IP4.size) & (l3 + ihl <= end_rec)
    total = np.where(total == 0, cap, total)
    ok &= total >= ihl
    status[idx[~ok]] = BAD
    idx, l3, end_rec, cap, ihl, total = idx[ok], l3[ok], end_rec[ok], cap[ok], ihl[ok], total[ok]
    frag = _be16(buf, l3 + _V4("_flags_offset")) & D.IP4_OFFSET_MASK
    proto = buf[l3 + _V4("p")]
    fast = (frag == 0) & np.isin(proto, D.BULK_PROTOS)
    status[idx[~fast]] = SLOW
    idx, l3, end_rec, ihl, total, proto = idx[fast], l3[fast], end_rec[fast], ihl[fast], total[fast], proto[fast]
    return {
        "idx": idx, "l4": l3 + ihl, "end": np.minimum(l3 + total, end_rec), "l4_len": total - ihl,
        "proto": proto, "ttl": buf[l3 + _V4("ttl")], "ip_id": _be16(buf, l3 + _V4("id")), "length": total,
        "src": _be32(buf, l3 + _V4("src")), "dst": _be32(buf, l3 + _V4("dst")),
    }


def _ipv6(buf, idx, l3, end_rec, status, addrs: AddressBook):
    cap = end_rec - l3
    ok = cap >= D.IP6.size
    status[idx[~ok]] = BAD
    idx, l3, end_rec = idx[ok], l3[ok], end_rec[ok]
    ok = (buf[l3] >> 4) == 6
    status[idx[~ok]] = BAD
    idx, l3, end_rec = idx[ok], l3[ok], end_rec[ok]
    plen = _be16(buf, l3 + _V6("plen"))
    l4 = l3 + D.IP6.size
    plen = np.where(plen == 0, end_rec - l4, plen)
    nxt = buf[l3 + _V6("nxt")]
    fast = np.isin(nxt, D.BULK_PROTOS)  # extension headers: decode_frame
    status[idx[~fast]] = SLOW
    idx, l3, end_rec, plen, l4, nxt = idx[fast], l3[fast], end_rec[fast], plen[fast], l4[fast], nxt[fast]
    if not len(idx):
        return None
    rows_s = buf[l3[:, None] + _V6("src") + np.arange(16)]
    rows_d = buf[l3[:, None] + _V6("dst") + np.arange(16)]
    return {
        "idx": idx, "l4": l4, "end": np.minimum(l4 + plen, end_rec), "l4_len": plen,
        "proto": nxt, "ttl": buf[l3 + _V6("hlim")], "ip_id": np.zeros(len(idx), np.int64), "length": plen + D.IP6.size,
        "src": addrs.v6_ids(rows_s), "dst": addrs.v6_ids(rows_d),
    }


def _transport(buf, t, status, options: OptionBook):
    idx, l4, end, l4_len, proto = t["idx"], t["l4"], t["end"], t["l4_len"], t["proto"]
    tcp = proto == D.P_TCP
    need = np.where(tcp, D.TCP.size, D.UDP.size)
    ok = l4 + need <= end
    off_flags = np.zeros(len(idx), np.int64)
    safe = np.where(ok & tcp, l4, 0)
    off_flags[ok & tcp] = _be16(buf, safe[ok & tcp] + _T("_off_flags"))
    doff = (off_flags >> 12) << 2
    ok &= ~tcp | (doff >= D.TCP.size)
    status[idx[~ok]] = BAD
    keep = np.nonzero(ok)[0]
    idx, l4, end, l4_len, tcp, doff, off_flags = idx[keep], l4[keep], end[keep], l4_len[keep], tcp[keep], doff[keep], off_flags[keep]
    m = len(idx)
    sport = _be16(buf, l4 + _T("sport"))
    dport = _be16(buf, l4 + _T("dport"))
    ti = np.nonzero(tcp)[0]
    ui = np.nonzero(~tcp)[0]
    seq = np.zeros(m, np.int64)
    ack = np.zeros(m, np.int64)
    window = np.zeros(m, np.int64)
    flags = np.zeros(m, np.int64)
    opt = np.zeros(m, np.int32)
    mss = np.full(m, -1, np.int64)
    payload = np.zeros(m, np.int64)
    if len(ti):
        p = l4[ti]
        seq[ti] = _be32(buf, p + _T("seq"))
        ack[ti] = _be32(buf, p + _T("ack"))
        window[ti] = _be16(buf, p + _T("win"))
        flags[ti] = off_flags[ti] & 0xFF
        payload[ti] = np.maximum(l4_len[ti] - doff[ti], 0)
        wo = ti[doff[ti] > D.TCP.size]
        if len(wo):
            opt[wo], mss[wo] = _options(buf, l4[wo] + D.TCP.size, np.minimum(l4[wo] + doff[wo], end[wo]), options)
    if len(ui):
        payload[ui] = np.maximum(_udp_payload(_be16(buf, l4[ui] + _U("ulen")), l4_len[ui]), 0)
    return {"idx": idx, "src": t["src"][keep], "dst": t["dst"][keep], "udp": ~tcp, "ttl": t["ttl"][keep],
            "ip_id": t["ip_id"][keep], "length": t["length"][keep], "sport": sport, "dport": dport, "flags": flags,
            "seq": seq, "ack": ack, "window": window, "opt": opt, "mss": mss, "payload": payload}


def _udp_payload(ulen, l4_len):
    """decode_frame's UDP payload length: the header's length where it is possible, else what the IP header leaves."""
    avail = l4_len - D.UDP.size
    return np.where((ulen >= D.UDP.size) & (ulen - D.UDP.size < avail), ulen - D.UDP.size, avail)


def _options(buf, start, stop, options: OptionBook):
    """decode.tcp_options in bulk: layout ids and MSS (-1: none). Layouts
    longer than 40 kinds (impossible in 40 bytes) fall back to the original."""
    m = len(start)
    i = start.copy()
    active = i < stop
    kinds = np.full((m, 41), -1, np.int16)
    count = np.zeros(m, np.int64)
    mss = np.full(m, -1, np.int64)
    rows = np.arange(m)
    for step in range(41):
        if not active.any():
            break
        a = np.nonzero(active)[0]
        k = buf[i[a]].astype(np.int64)
        kinds[a, step] = k
        count[a] += 1
        eol = k == 0
        nop = k == 1
        rest = ~(eol | nop)
        i[a[nop]] += 1
        r = a[rest]
        has_len = i[r] + 1 < stop[r]
        stop_now = r[~has_len]
        r = r[has_len]
        size = buf[i[r] + 1].astype(np.int64)
        good = size >= 2
        r_bad = r[~good]
        r, size = r[good], size[good]
        kr = kinds[r, step]
        is_mss = (kr == 2) & (size == 4) & (i[r] + 4 <= stop[r])
        mr = r[is_mss]
        mss[mr] = _be16(buf, i[mr] + 2)
        i[r] += size
        active[a[eol]] = False
        active[stop_now] = False
        active[r_bad] = False
        active &= i < stop
    del rows
    flat = np.ascontiguousarray(kinds).view(np.dtype((np.void, kinds.shape[1] * 2))).ravel()
    uniq, first, inv = np.unique(flat, return_index=True, return_inverse=True)
    ids = np.empty(len(uniq), np.int32)
    for j, f in enumerate(first.tolist()):
        row = kinds[f]
        ids[j] = options.id_of(tuple(int(x) for x in row[row >= 0]))
    return ids[inv.ravel()], mss


def pack_columns(cols) -> tuple:
    """(packed, span): int columns packed into one int64 column, equal rows
    alike and in lexicographic order, values 0..span-1; (None, 0) where their
    ranges do not fit in 62 bits together. Each column is read twice (its
    range) and, unless it holds one value only (which tells no rows apart),
    summed in place: no temporary column."""
    packed = None
    span = 1
    for c in cols:
        lo, hi = int(c.min()), int(c.max())
        width = hi - lo + 1
        if span * width >= (1 << 62):
            return None, 0
        if width == 1:
            continue
        if packed is None:
            packed = c.astype(np.int64)
        else:  # packed * width + (c - lo), in place
            packed *= width
            packed += c
        packed -= lo
        span *= width
    if packed is None:  # every column of one value: one row alike
        packed = np.zeros(len(cols[0]) if cols else 0, np.int64)
    return packed, span


def fits(values: np.ndarray, dtype) -> bool:
    """Do all of `values` (integers) fit the integer type `dtype`? Their own
    type says so, or their range does."""
    if not len(values) or np.can_cast(values.dtype, dtype):
        return True
    info = np.iinfo(dtype)
    if values.dtype.kind == "u" and info.min == 0:  # (no value below zero: only the highest asked)
        return int(values.max()) <= info.max
    return info.min <= int(values.min()) and int(values.max()) <= info.max


def dense_ids(cols) -> tuple:
    """(ids, n): equal rows of the int columns get equal ids, numbered in sorted
    row order; by packing the columns into one int64 when their ranges allow
    (then hashed by the compiled helper where the distinct values are few,
    else counted or sorted), else by a lexicographic sort."""
    cols = [np.asarray(c) for c in cols]
    cols = [c.astype(np.int64) if c.dtype == np.uint64 else c for c in cols]  # in-place sums below take the rest
    m = len(cols[0]) if cols else 0
    if m == 0:
        return np.zeros(0, np.int64), 0
    packed, span = pack_columns(cols)
    if span == 1:  # every row alike
        return packed, 1
    if packed is not None:
        native = compiled()
        if native is not None and (span > (1 << 16) or 16 * m < span):  # (a few rows: hashed, not a table of span)
            ids = np.empty(m, np.int64)
            n = native.dense_ids(packed, ids, max(4096, m >> 3))
            if n >= 0:
                return ids, n
        if span <= max(4 * m, min(1 << 20, 32 * m)):  # a small range: counted, not sorted (a few rows: sorted)
            present = np.bincount(packed, minlength=span) > 0
            mapping = np.cumsum(present) - 1
            return mapping[packed], int(mapping[-1]) + 1
        uniq, inv = np.unique(packed, return_inverse=True)
        return inv.ravel().astype(np.int64), len(uniq)
    cols = [c.astype(np.int64, copy=False) for c in cols]
    order = np.lexsort(cols[::-1])
    diff = np.zeros(m, bool)
    diff[0] = True
    for c in cols:
        cs = c[order]
        diff[1:] |= cs[1:] != cs[:-1]
    ranks = np.cumsum(diff) - 1
    ids = np.empty(m, np.int64)
    ids[order] = ranks
    return ids, int(ranks[-1]) + 1


def group_rows(keys: np.ndarray, n: int, kept: int) -> tuple:
    """(the rows of int32 `keys` with a key (0..n-1; -1: none), grouped by key, keys
    ascending, each key's rows ascending, as int32; the rows of each key). `kept`: how
    many rows have a key. A counting sort (cnative.group_rows) where compiled; its
    twin sorts (stably: a row's place among its key's is its order)."""
    keys = np.ascontiguousarray(keys, np.int32)
    out, counts = np.empty(kept, np.int32), np.empty(n, np.int64)
    native = compiled()
    if native is not None and native.group_rows(keys, out, counts) == 0:
        return out, counts
    rows = np.flatnonzero(keys >= 0)
    small = n <= (1 << 16)  # numpy sorts 16-bit integers by radix: O(n)
    k = keys[rows]
    order = np.argsort(k.astype(np.uint16) if small else k, kind="stable")
    return rows[order].astype(np.int32), np.bincount(k, minlength=n).astype(np.int64)


def insertion_slots(base: np.ndarray, new: np.ndarray, side: str = "left") -> tuple:
    """Sorted `new` values merged into sorted `base` as np.insert lays them out
    (with side="right", after base values equal to them): (their rows in the
    merged array, a mask of the rows that keep base's values, in order)."""
    slots = np.searchsorted(base, new, side=side) + np.arange(len(new))
    keep = np.ones(len(base) + len(new), bool)
    keep[slots] = False
    return slots, keep


def merge_rows(base: np.ndarray, new, slots: np.ndarray, keep: np.ndarray, dtype) -> np.ndarray:
    """A column of `dtype` holding `new`'s values at rows `slots` (ascending) and
    `base`'s, in order, at the others (`keep`: their mask), as insertion_slots
    lays them out. Where the new rows are few, base is copied around them in
    slices rather than through the mask."""
    out = np.empty(len(keep), dtype)
    if len(slots) <= 64:
        at = 0
        for j, slot in enumerate(slots.tolist()):
            out[at:slot] = base[at - j:slot - j]
            at = slot + 1
        out[at:] = base[at - len(slots):]
    else:
        out[keep] = base
    out[slots] = new
    return out


def first_index(ids: np.ndarray, n: int) -> np.ndarray:
    """For ids from dense_ids: the first row of each id."""
    first = np.full(n, len(ids), np.int64)
    np.minimum.at(first, ids, np.arange(len(ids)))
    return first


def range_rows(lo: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The rows lo[i], lo[i] + 1, ..., lo[i] + n[i] - 1 of every range i, one after the other."""
    return np.arange(int(n.sum())) + np.repeat(lo - np.r_[0, np.cumsum(n)[:-1]], n)
