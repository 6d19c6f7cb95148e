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

from typing import Callable, Iterable, Optional

import numpy as np

from ..capture import ReadStats
from .columns import AddressBook, OptionBook, Reader, decode_batch
from .flows import packets_from_rows


def packets_between(path, pairs: Iterable[tuple], progress: Optional[Callable] = None) -> tuple:
    """(ReadStats, [Packet] in frame order) of the packets between each
    (address, address) pair, either way."""
    stats = ReadStats(str(path))
    addrs, options = AddressBook(), OptionBook()
    texts = {a for pair in pairs for a in pair}
    want = [(addrs.id_of(a), addrs.id_of(b)) for a, b in pairs]  # a few: compared one by one
    text_pairs = {frozenset(p) for p in pairs}
    reader = Reader(path, stats, use_jit=False)
    size = reader.cap.size or 0
    out = []
    for batch in reader.batches():
        dec, slow, _ts = decode_batch(batch, addrs, options, stats, reader.unknown)
        got = []
        if dec is not None and len(dec.frame):
            hit = np.zeros(len(dec.frame), bool)
            for a, b in want:
                hit |= ((dec.src == a) & (dec.dst == b)) | ((dec.src == b) & (dec.dst == a))
            rows = np.nonzero(hit)[0]
            got = packets_from_rows(dec, rows, addrs, options) if len(rows) else []
        for pkt in slow:
            if frozenset((pkt.src, pkt.dst)) in text_pairs or (pkt.quoted is not None and (
                    pkt.src in texts or pkt.dst in texts)):
                got.append(pkt)
        got.sort(key=lambda p: p.frame)
        out += got
        if progress is not None and len(batch.off):
            progress(batch.base + int(batch.off[-1] + batch.incl[-1]), size, stats.packets, "rereading")
    return stats, out


class NotWhole(Exception):
    """A session whose exchanges the packets between its addresses do not rebuild as its verdicts name them."""


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
