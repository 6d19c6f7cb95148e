"""The fast path's bulk decoder (fastpath/columns.decode_batch) against
decode_frame, field by field, on every record of the suite's captures: a
record it decodes itself must give the very Packet decode_frame gives, and
every other record must be one decode_frame reads itself (given back as
decode_frame's Packet), or one it refuses or finds no IP in."""
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

import pcapbuild as pb

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


LANES = ["with-lane", "pure-lane", "general-only"]


@pytest.mark.parametrize("lane", LANES)
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_bulk_decoder_gives_decode_frames_packets(path, lane, monkeypatch):
    if lane == "general-only":  # every record through the general bulk decoder, not the common shape's
        monkeypatch.setattr(columns, "_lane", lambda b, status: None)
    elif lane == "pure-lane":  # the common shape by numpy, not by pcapscan.cnative (where built)
        monkeypatch.setenv("PCAPSCAN_PURE", "1")
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


def _shapes():
    """IP packets of every shape the two decoders must agree on, the odd ones included."""
    S, T, S6, T6 = "198.18.0.1", "198.18.0.2", "2001:db8::1", "2001:db8::2"
    syn = pb.ipv4_tcp(S, T, 40000, 80, 0x02, seq=7, window=1024, options=pb.MSS_1460)
    return [
        syn, pb.ipv4_tcp(T, S, 80, 40000, 0x12, seq=9, ack=8, window=64240, payload=b"hi"),
        pb.ipv4_tcp(S, T, 40000, 81, 0x29, options=b"\x01\x01\x08\x0a" + bytes(8) + b"\x03\x03\x07"),
        pb.ipv4_udp(S, T, 53, 161, b"x" * 30), pb.ipv4(S, T, 17, pb.udp_header(53, 162, b"abc", length=3)),
        pb.ipv4(S, T, 17, pb.udp_header(53, 163, b"abc", length=900)),
        pb.ipv4(S, T, 6, pb.tcp_header(40000, 82, 0x02, data_offset=4)),  # impossible data offset
        pb.ipv4(S, T, 6, pb.tcp_header(40000, 83, 0x02), ihl=6, options=b"\x01\x01\x01\x01"),  # IP options
        pb.ipv4(S, T, 6, pb.tcp_header(40000, 84, 0x02), total_length=0),  # segmentation offload
        pb.ipv4(S, T, 6, pb.tcp_header(40000, 85, 0x02) + b"pad", total_length=44),  # shorter than captured
        pb.ipv4(S, T, 6, b"\x00" * 16, frag_offset=3),  # a later fragment
        pb.ipv4(S, T, 6, pb.tcp_header(40000, 86, 0x02), mf=True),  # a first fragment: read
        pb.ipv4_icmp_unreach(T, S, 3, syn[:28]), pb.ipv4(S, T, 132, bytes(16)),
        pb.ipv6_tcp(S6, T6, 40000, 80, 0x02, options=pb.MSS_1460), pb.ipv6_udp(T6, S6, 53, 40000, b"q"),
        pb.ipv6(S6, T6, 0, pb.tcp_header(40000, 87, 0x02), ext=b"\x06\x00" + bytes(6), upper=6),  # hop-by-hop
        pb.ipv6(S6, "ff02::1", 17, pb.udp_header(5353, 5353, b"m")),
        syn[:30], syn[:45],  # cut short inside IP, inside TCP
    ]


def _crafted():
    """{name: pcap bytes}: the shapes above under every link layer the decoders read, VLAN tags,
    MPLS, 802.3 and ARP among them."""
    shapes = _shapes()
    arp = bytes.fromhex("0001080006040001") + pb.SRC_MAC + bytes([198, 18, 0, 1]) + bytes(6) + bytes([198, 18, 0, 2])
    ether = [pb.ether(ip) for ip in shapes] + [pb.ether(ip, vlan=5) for ip in shapes[:4]] + [
        pb.ether(shapes[0], vlan=[(0x88A8, 1), 7]), pb.ether(b"\x00\x01\x41\x00" + shapes[0], ethertype=0x8847),
        pb.ether(b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + shapes[0], ethertype=len(shapes[0]) + 8),
        pb.ether(arp, ethertype=0x0806), pb.ether(b"\x00" * 20, ethertype=0x88CC), pb.ether(shapes[0])[:12]]
    return {
        "ethernet": pb.pcap_bytes(ether),
        "sll": pb.pcap_bytes([pb.sll(ip) for ip in shapes] + [pb.sll(arp, protocol=0x0806)], linktype=113),
        "sll2": pb.pcap_bytes([pb.sll2(ip) for ip in shapes] + [pb.sll2(shapes[0], protocol=0x8100)[:10]],
                              linktype=276),
        "null-le": pb.pcap_bytes([pb.null(ip) for ip in shapes] + [pb.null(shapes[0], family=7)], linktype=0),
        "null-be": pb.pcap_bytes([pb.null(ip, byteorder=">") for ip in shapes], linktype=0),
        "loop": pb.pcap_bytes([pb.loop(ip) for ip in shapes] + [pb.loop(shapes[0], family=24)], linktype=108),
        "raw": pb.pcap_bytes(shapes + [b"\x50" + shapes[0][1:]], linktype=101),
        "ipv4": pb.pcap_bytes([ip for ip in shapes if ip[0] >> 4 == 4], linktype=228),
        "ipv6": pb.pcap_bytes([ip for ip in shapes if ip[0] >> 4 == 6], linktype=229),
        "pcapng-two-interfaces": pb.pcapng_bytes(interfaces=((1, None), (113, 9)), packets=[
            (i % 2, 10.0 + i, pb.ether(ip) if i % 2 == 0 else pb.sll(ip)) for i, ip in enumerate(shapes)]),
    }


@pytest.mark.parametrize("lane", LANES)
@pytest.mark.parametrize("name", sorted(_crafted()))
def test_bulk_decoder_on_every_link_layer_and_odd_shape(name, lane, tmp_path, monkeypatch):
    path = tmp_path / (name + (".pcapng" if name.startswith("pcapng") else ".pcap"))
    path.write_bytes(_crafted()[name])
    test_bulk_decoder_gives_decode_frames_packets(path, lane, monkeypatch)
    bulk, _slow, _stats = _bulk(path, chunk_bytes=4096)
    assert bulk  # the bulk decoder took part


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
