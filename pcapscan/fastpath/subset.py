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
            progress(batch.base + int(batch.off[-1] + batch.incl[-1]), size, stats.packets, "reading")
    return stats, out
