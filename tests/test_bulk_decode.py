"""The fast path's bulk decoder (fastpath/columns.decode_batch) against
decode_frame, field by field, on every record of the suite's captures: a
record it decodes itself must give the very Packet decode_frame gives, and
every other record must be one decode_frame reads itself (given back as
decode_frame's Packet), or one it refuses or finds no IP in."""
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from pcapscan.capture import containers as C
from pcapscan.capture.decode import NOT_IP, decode_arp, decode_frame
from pcapscan.fastpath import columns
from pcapscan.fastpath.flows import packets_from_rows

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "captures"  # real scans and student submissions, when present
CAPTURES = sorted(p for p in (ROOT / "captures").rglob("*") if p.suffix in (".pcap", ".pcapng")) + \
    sorted(p for p in SHARED.rglob("*") if p.is_file() and p.suffix in (".pcap", ".pcapng"))


def _ordinary(path):
    """decode_frame's answer for every record, by frame number (ARP decoded as the fast path asks)."""
    out = {}
    counts = {"packets": 0, "skipped": 0, "non_ip": 0}
    for frame, (linktype, ts, data) in enumerate(C.open_capture(path).records(C.ReadStats(str(path))), 1):
        got = decode_frame(linktype, data, frame, ts) if linktype in C.LINKTYPE_NAMES else None
        counts["packets"] += 1
        counts["skipped"] += got is None
        if got is NOT_IP:
            counts["non_ip"] += 1
            got = decode_arp(linktype, data, frame, ts) or NOT_IP
        out[frame] = got
    return out, counts


def _bulk(path, chunk_bytes):
    """(Packets of the rows decoded in bulk, Packets decode_frame was left, stats) by frame number."""
    stats = C.ReadStats(str(path))
    reader = columns.Reader(path, stats, use_jit=False, chunk_bytes=chunk_bytes)
    addrs, options = columns.AddressBook(), columns.OptionBook()
    bulk, slow = {}, {}
    for batch in reader.batches():
        fast, rest, _ts = columns.decode_batch(batch, addrs, options, stats, reader.unknown)
        if fast is not None:
            for pkt in packets_from_rows(fast, np.arange(len(fast.frame)), addrs, options):
                bulk[pkt.frame] = pkt
        slow.update((p.frame, p) for p in rest)
    return bulk, slow, stats


def _differences(a, b) -> dict:
    return {f.name: (getattr(a, f.name), getattr(b, f.name)) for f in fields(a)
            if getattr(a, f.name) != getattr(b, f.name)}


def test_suite_has_captures_to_decode():
    assert len([p for p in CAPTURES if ROOT in p.parents]) >= 40


@pytest.mark.parametrize("lane", [True, False], ids=["with-lane", "general-only"])
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_bulk_decoder_gives_decode_frames_packets(path, lane, monkeypatch):
    if not lane:  # every record through the general bulk decoder, not the common shape's matrix
        monkeypatch.setattr(columns, "_lane", lambda b, status: None)
    want, want_stats = _ordinary(path)
    try:
        bulk, slow, stats = _bulk(path, chunk_bytes=4096)
    except columns.NeedSlowPath:
        pytest.skip("the fast reader leaves this capture to the ordinary one")
    assert not set(bulk) & set(slow)
    for frame, pkt in bulk.items():
        ref = want[frame]
        assert ref is not None and ref is not NOT_IP, f"frame {frame}: decoded in bulk, refused one by one"
        assert pkt == ref, f"frame {frame}: {_differences(pkt, ref)}"
    for frame, pkt in slow.items():
        assert pkt == want[frame]
    left = {f: p for f, p in want.items() if f not in bulk and f not in slow}
    assert all(p is None or p is NOT_IP for p in left.values()), sorted(f for f, p in left.items() if p)[:5]
    assert {"packets": stats.packets, "skipped": stats.skipped, "non_ip": stats.non_ip} == want_stats


def test_the_suite_decodes_most_records_in_bulk():
    """The comparison above means something: most of the suite's records take the bulk decoder."""
    bulk_n = total = 0
    for path in CAPTURES:
        try:
            bulk, _slow, stats = _bulk(path, chunk_bytes=1 << 20)
        except columns.NeedSlowPath:
            continue
        bulk_n += len(bulk)
        total += stats.packets
    assert total > 1000 and bulk_n > total // 2
