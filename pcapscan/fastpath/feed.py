"""The capture into the flow table, batch by batch: read and decoded here
(read_here), or decoded in a forked child while this process keys the flows
(read_forked, over fastpath/workers.py's pipe); and the records read again
by their offset afterwards (RecordReader).
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import replace

import numpy as np

from .columns import V6_BASE, AddressBook, NeedSlowPath, OptionBook, decode_batch
from .flows import PacketFacts
from .workers import CHILD_MMAP_THRESHOLD, ChildFailed, SharedRing, debug, fork_child, roomy_heap, send, tame_malloc


class RecordReader:
    """Records of a capture again, by the stream offset of their data
    (decompressed offsets for gzip): (link type, timestamp, data), the
    timestamp computed as the ordinary reader computes it."""

    def __init__(self, path: str, cap):
        self.path = path
        self.fh = None
        self.kind = cap.kind
        self.order = "<" if cap.byteorder == "<" else ">"
        self.hlen = cap.hlen
        self.divisor = cap.divisor
        self.linktype = cap.linktype
        self.interfaces = list(cap.interfaces)

    def _at(self, offset: int, n: int) -> bytes:
        if self.fh is not None and self.pid != os.getpid():  # a forked child: its own file offset
            self.fh = None
        if self.fh is None:
            self.pid = os.getpid()
            raw = open(self.path, "rb")
            if raw.read(2) == b"\x1f\x8b":
                import gzip

                raw.seek(0)
                self.fh = gzip.GzipFile(fileobj=raw, mode="rb")
            else:
                self.fh = raw
        self.fh.seek(offset)
        return self.fh.read(n)

    def __call__(self, offset: int):
        from ..capture.containers import PCAP_TIMES, PCAPNG_EPB, pcap_time, pcapng_time

        if self.kind == "pcap":
            sec, frac, incl = PCAP_TIMES.order(self.order).unpack(self._at(offset - self.hlen, PCAP_TIMES.size))
            return self.linktype, pcap_time(sec, frac, self.divisor), self._at(offset, incl)
        # an enhanced packet block's fields end where its packet starts
        iface, high, low, incl, _orig = PCAPNG_EPB.order(self.order).unpack(self._at(offset - PCAPNG_EPB.size,
                                                                                     PCAPNG_EPB.size))
        linktype, divisor, toff, _snaplen = self.interfaces[iface]
        return linktype, pcapng_time((high << 32) | low, divisor, toff), self._at(offset, incl)

    def close(self):
        if self.fh is not None:
            self.fh.close()


class Rereader:
    """Records of a capture decoded again, by frame number, in bulk: the same
    walk and the same decoder (decode_batch, with the flow table's own address
    and option books, so the same ids) as the first reading. Each run of wanted
    frames is read from the nearest mark at or before it (`marks`: frames and
    stream offsets of records' data, kept while reading: flows.FlowTable's
    lean mode); frames further apart than REREAD_GAP are reached by a seek."""

    def __init__(self, path: str, info, use_jit: bool, addrs: AddressBook, options: OptionBook, marks: list,
                 packets: int):
        from ..capture.containers import PCAPNG_BLOCK_HEAD, PCAPNG_EPB

        self.path, self.info, self.use_jit = path, info, use_jit
        self.addrs, self.options = addrs, options
        self.mark_frames = np.concatenate([m[0] for m in marks]) if marks else np.zeros(0, np.int64)
        head = info.hlen if info.kind == "pcap" else PCAPNG_EPB.size + PCAPNG_BLOCK_HEAD.size
        self.mark_starts = (np.concatenate([m[1] for m in marks]) if marks else np.zeros(0, np.int64)) - head
        self.record_bytes = max(1, info.size // max(1, packets)) if info.size else 256  # on average

    def __call__(self, frames: np.ndarray):
        """Decoded columns of the records `frames` (ascending, distinct, each one the first
        reading decoded in bulk), in frame order, batch by batch."""
        from ..capture import ReadStats
        from .columns import Reader

        if not len(frames):
            return
        stats = ReadStats(self.path)
        reader = Reader(self.path, stats, use_jit=self.use_jit)
        if reader.cap.kind == "pcapng":
            reader.cap.interfaces[:] = self.info.interfaces
        try:
            yield from self._decoded(reader, stats, frames)
        finally:
            reader.close()

    def _decoded(self, reader, stats, frames: np.ndarray):
        from .columns import CHUNK_BYTES, Batch

        def decode(b, frame, fileoff):  # each record is decoded on its own: any of them, in any batch
            dec, _slow, _ts = decode_batch(b, self.addrs, self.options, stats, reader.unknown)
            if dec is not None and len(dec.frame):
                at = dec.frame  # (b.frame0 is 0)
                dec.frame, dec.fileoff = frame[at], fileoff[at]
                return dec
            return None

        few: list = []  # records read from sparse runs, gathered into one batch
        few_bytes = 0

        def gathered():  # the records gathered so far, decoded as one batch (if any); then none again
            nonlocal few_bytes
            few_bytes = 0
            if not few:
                return
            raw = b"".join(r[0] for r in few)
            incl = np.array([len(r[0]) for r in few], np.int64)
            b = Batch(buf=np.frombuffer(raw, np.uint8), raw=raw, base=0, frame0=0, off=np.r_[0, np.cumsum(incl)[:-1]],
                      incl=incl, linktype=np.array([r[1] for r in few], np.int32),
                      ts=np.array([r[2] for r in few], np.float64))
            dec = decode(b, np.array([r[3] for r in few], np.int64), np.array([r[4] for r in few], np.int64))
            few.clear()
            if dec is not None:
                yield dec

        cut = np.flatnonzero(np.diff(frames) > REREAD_GAP) + 1
        for lo, hi in zip(np.r_[0, cut].tolist(), np.r_[cut, len(frames)].tolist()):
            first, last = int(frames[lo]), int(frames[hi - 1])
            m = int(np.searchsorted(self.mark_frames, first, side="right")) - 1
            start = int(self.mark_frames[m])
            reader.chunk_bytes = int(min(CHUNK_BYTES, (last - start + 16) * self.record_bytes + (64 << 10)))
            want = frames[lo:hi]
            for batch in reader.batches_from(int(self.mark_starts[m]), start):
                n = len(batch.off)
                sel = want[np.searchsorted(want, batch.frame0):np.searchsorted(want, batch.frame0 + n)] - batch.frame0
                if FEW_MAX * len(sel) >= n:  # most of the batch: decoded where it is
                    yield from gathered()
                    part = replace(batch, frame0=0, off=batch.off[sel], incl=batch.incl[sel],
                                   linktype=batch.linktype[sel], ts=batch.ts[sel])
                    dec = decode(part, batch.frame0 + sel, batch.base + part.off)
                    if dec is not None:
                        yield dec
                else:
                    for i in sel.tolist():
                        o, ln = int(batch.off[i]), int(batch.incl[i])
                        few.append((batch.raw[o:o + ln], int(batch.linktype[i]), float(batch.ts[i]),
                                    batch.frame0 + i, batch.base + o))
                        few_bytes += ln
                if batch.frame0 + n > last:
                    break
            if few_bytes >= CHUNK_BYTES:
                yield from gathered()
        yield from gathered()


FEW_MAX = 16  # a batch of which at most 1/FEW_MAX is wanted: its records gathered with others'
REREAD_GAP = 4096  # wanted frames further apart: a seek to the next mark, not a reading through


def capinfo(cap):
    """What RecordReader needs of a capture (after reading: pcapng interfaces grow)."""
    from types import SimpleNamespace

    return SimpleNamespace(kind=cap.kind, byteorder=cap.byteorder, hlen=cap.record_layout.size,
                           divisor=cap.divisor, linktype=cap.linktype, interfaces=list(cap.interfaces),
                           size=cap.size)


def _decoded(reader, stats, addrs, options):
    """(Decoded, slow Packets, batch) per batch of the capture. Timestamps
    may go backwards: the engine tells a copy by its own flow's packets
    (a window in time and in frames, exchanges._is_duplicate), so flows
    replay apart from each other whatever the clock did."""
    for batch in reader.batches():
        dec, slow, _ip_ts = decode_batch(batch, addrs, options, stats, reader.unknown)
        yield dec, slow, batch


def _batch_end(batch) -> int:
    return batch.base + int(batch.off[-1] + batch.incl[-1]) if len(batch.off) else 0


def _reserve(table, size: int, packets: int, done: int) -> None:
    """Room in the flow table for a flow per packet of the capture, by the first batch's record size."""
    if packets and done and size:
        table.reserve(min(int(size / (done / packets) * 1.05) + 1024, 1 << 32), size)


def read_here(reader, stats, table, progress) -> None:
    size = reader.cap.size
    for dec, slow, batch in _decoded(reader, stats, table.addrs, table.options):
        if stats.packets == len(batch.off):
            _reserve(table, size, stats.packets, _batch_end(batch))
        table.feed(dec, slow)
        if progress is not None:
            progress(_batch_end(batch), size, stats.packets, "reading")


# Decoded columns sent between processes in the narrowest type that holds every value a
# decoder gives them (the flow table reads them the same in either type).
_NARROW = {"frame": np.uint32, "ip_id": np.uint16, "length": np.uint32, "sport": np.uint16,
           "dport": np.uint16, "flags": np.uint8, "seq": np.uint32, "ack": np.uint32, "window": np.uint16,
           "mss": np.int32, "payload": np.uint32}


def _narrow(dec):
    if dec is None or not len(dec.frame):
        return dec
    if dec.frame[-1] >= 1 << 32:
        return dec  # (the flow table declines 2**32 records and more itself)
    for k, t in _NARROW.items():
        setattr(dec, k, getattr(dec, k).astype(t, copy=False))
    return dec


RING_BUFFERS = 4  # batches in the shared buffers at once (read_forked): one keyed, the next ones waiting


def read_forked(reader, stats, table, progress):
    """Decode in a forked child, key flows here, batch by batch over a pipe (the
    columns in buffers shared with the child: workers.SharedRing).
    The child has its own address and option books: their new entries come
    with each batch and are mapped to this process's ids (which the flow
    table may have extended meanwhile, from packets decode_frame read). The
    child also works out each batch's PacketFacts (what the flow table reads
    of a packet whatever its flow holds), used here unless an address id
    had to be mapped."""
    size = reader.cap.size
    # the batches' columns, in buffers shared with the child: a batch's narrowed columns and
    # its PacketFacts take about 80 bytes a record, and a record of a chunk at least 58 (UDP
    # over IPv4, pcap); a buffer's pages are the system's only once written
    ring = SharedRing(RING_BUFFERS, reader.chunk_bytes * 3 // 2 + (64 << 10))

    def decode_and_send(tx):  # in the child
        ring.child_side()
        tame_malloc(CHILD_MMAP_THRESHOLD)
        reader.map_chunks()  # (a file cut short while mapped ends the child: the parent reads again itself)
        addrs, options = AddressBook(), OptionBook()
        groups: dict = {}  # (PacketFacts's)
        n_opt, n_v6 = 1, 0
        for dec, slow, batch in _decoded(reader, stats, addrs, options):
            new_opt, new_v6 = options.tuples[n_opt:], addrs.v6_raw[n_v6:]
            n_opt, n_v6 = len(options.tuples), len(addrs.v6_raw)
            facts = PacketFacts(dec, addrs, groups) if dec is not None and len(dec.frame) else None
            ring.send(tx, ("batch", _narrow(dec), slow, new_opt, new_v6, (_batch_end(batch), size, stats.packets),
                           facts))
        send(tx, ("end", stats, capinfo(reader.cap)))
        debug("decoding child: read and sent")

    try:
        pid, rx = fork_child(decode_and_send)
    except BaseException:
        ring.close()
        raise
    ring.parent_side()
    addrs, options = table.addrs, table.options
    v6_map = np.zeros(0, np.int64)
    opt_map = np.zeros(1, np.int64)  # the child's option id -> ours
    first = True
    # received here, between two batches: a message is a few hundred bytes (its arrays are in the
    # shared buffers), which a receiving thread only made this one wait for the GIL
    heap = contextlib.ExitStack()
    ended = False  # the child's last word heard (or its end)
    try:
        while True:
            try:
                msg, slot = ring.recv(rx)
            except (EOFError, OSError):
                ended = True
                raise ChildFailed("the decoding process ended early") from None
            ended = msg[0] != "batch"
            if msg[0] == "batch":
                _, dec, slow, new_opt, new_v6, prog, facts = msg
                if new_opt:
                    opt_map = np.r_[opt_map, [options.id_of(o) for o in new_opt]]
                if new_v6:
                    v6_map = np.r_[v6_map, [addrs.id_of_raw(b) for b in new_v6]]
                if dec is not None:
                    if len(opt_map) > 1 and (opt_map != np.arange(len(opt_map))).any():
                        dec.opt = opt_map[dec.opt].astype(np.int32)
                    if len(v6_map) and (v6_map != V6_BASE + np.arange(len(v6_map))).any():
                        for col in ("src", "dst"):
                            c = getattr(dec, col)
                            six = c >= V6_BASE
                            if six.any():
                                c = c.copy()
                                c[six] = v6_map[c[six] - V6_BASE]
                                setattr(dec, col, c)
                                facts = None  # (the child's address ids: worked out again here)
                if first:
                    _reserve(table, size, prog[2], prog[0])
                    # then each batch's arrays and temporaries reuse the last one's heap (mapped
                    # afresh they cost their pages' faults and zeroing); the table's columns are mapped
                    heap.enter_context(roomy_heap())
                    first = False
                table.feed(dec, slow, facts)  # (which keeps copies of what it keeps)
                del msg, dec, facts
                ring.release(slot)
                if progress is not None:
                    progress(*prog, "reading")
            elif msg[0] == "end":
                _, stats, info = msg
                return info, stats
            elif msg[0] == "slow":
                raise NeedSlowPath(msg[1])
            else:
                raise msg[1]
    finally:
        heap.close()
        if not ended:  # this process failed first: its child is stopped
            import signal

            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        os.close(rx)
        ring.close()
        reader.close()
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
