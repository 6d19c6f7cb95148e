"""pcapscan.capture: containers, link layers, IP/TCP/UDP/ICMP decoding, and
every kind of bad input, on tiny handcrafted captures (tests/pcapbuild.py),
then on the real captures in ../shared/captures checked against tshark."""
from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pcapbuild import (  # noqa: E402
    MSS_1460,
    block,
    epb,
    ether,
    gzipped,
    icmp6_unreach,
    idb,
    ipv4,
    ipv4_icmp,
    ipv4_icmp_unreach,
    ipv4_tcp,
    ipv4_udp,
    ipv6,
    ipv6_tcp,
    ipv6_udp,
    loop,
    null,
    pb,
    pcap_bytes,
    pcapng_bytes,
    shb,
    sll,
    sll2,
    spb,
    tcp_header,
    udp_header,
)

from pcapscan import errors  # noqa: E402
from pcapscan.capture import ReadStats, decode_frame, read_packets  # noqa: E402
from pcapscan.capture.decode import NOT_IP  # noqa: E402
from pcapscan.model import Quoted  # noqa: E402

SCANNER, TARGET = "192.0.2.1", "192.0.2.2"
SCANNER6, TARGET6 = "2001:db8::1", "2001:db8::2"
SYN, RST, ACK, FIN, PSH, URG = 0x02, 0x04, 0x10, 0x01, 0x08, 0x20

SYN_PROBE = ipv4_tcp(SCANNER, TARGET, 40000, 80, SYN, seq=1000, options=MSS_1460, ip_id=7)
UDP_PROBE = ipv4_udp(SCANNER, TARGET, 40000, 53, payload=b"\x00" * 12)


def write(tmp_path, content: bytes, name="cap.pcap") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def read(path):
    stats = ReadStats(str(path))
    return list(read_packets(path, stats)), stats


def read_bytes(tmp_path, content: bytes, name="cap.pcap"):
    return read(write(tmp_path, content, name))


def decode(data: bytes, linktype=1, frame=1, ts=0.0):
    return decode_frame(linktype, data, frame, ts)


# --- pcap containers ------------------------------------------------------------


@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True], ids=["usec", "nsec"])
def test_pcap_each_resolution_and_byte_order(tmp_path, byteorder, nano):
    frames = [(1700000000.25, ether(SYN_PROBE)), (1700000001.5, ether(UDP_PROBE))]
    pkts, stats = read_bytes(tmp_path, pcap_bytes(frames, nano=nano, byteorder=byteorder))
    assert [(p.frame, p.proto) for p in pkts] == [(1, "tcp"), (2, "udp")]
    assert [p.ts for p in pkts] == [1700000000.25, 1700000001.5]
    assert (stats.packets, stats.skipped, stats.warnings) == (2, 0, [])
    assert stats.link_types == {"ethernet"}


def test_pcap_nanosecond_timestamp_keeps_sub_microsecond_digits(tmp_path):
    content = pcap_bytes([(0, ether(SYN_PROBE))], nano=True)
    content = content[:28] + struct.pack("<I", 123456789) + content[32:]  # ts_frac = .123456789
    pkts, _ = read_bytes(tmp_path, content)
    assert pkts[0].ts == pytest.approx(0.123456789, abs=1e-12)


@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_modified_pcap_has_24_byte_record_headers(tmp_path, byteorder):
    content = pcap_bytes([ether(SYN_PROBE), ether(UDP_PROBE)], modified=True, byteorder=byteorder)
    pkts, stats = read_bytes(tmp_path, content)
    assert [(p.frame, p.proto, p.dport) for p in pkts] == [(1, "tcp", 80), (2, "udp", 53)]
    assert stats.warnings == []


def test_pcap_link_type_upper_bits_are_fcs_information(tmp_path):
    linktype = 1 | 0x10000000 | (2 << 29)  # ethernet, F bit set, FCS of 2 16-bit words
    pkts, stats = read_bytes(tmp_path, pcap_bytes([ether(SYN_PROBE) + b"\xde\xad\xbe\xef"], linktype=linktype))
    assert [p.proto for p in pkts] == ["tcp"]
    assert pkts[0].payload_len == 0  # the FCS is not payload: lengths follow the IP header
    assert stats.link_types == {"ethernet"}


def test_empty_pcap_yields_nothing_and_no_warning(tmp_path):
    pkts, stats = read_bytes(tmp_path, pcap_bytes([]))
    assert pkts == [] and stats.packets == 0 and stats.warnings == [] and not stats.truncated


def test_read_packets_streams_lazily(tmp_path):
    path = write(tmp_path, pcap_bytes([ether(SYN_PROBE)] * 3))
    stats = ReadStats(str(path))
    it = read_packets(path, stats)
    assert stats.packets == 0
    next(it)
    assert stats.packets == 1
    assert len(list(it)) == 2 and stats.packets == 3


def test_read_packets_without_stats(tmp_path):
    assert len(list(read_packets(write(tmp_path, pcap_bytes([ether(SYN_PROBE)]))))) == 1


# --- pcapng containers ------------------------------------------------------------


def test_pcapng_two_interfaces_with_their_own_link_type_and_resolution(tmp_path):
    content = pcapng_bytes(
        interfaces=[(1, None), (101, 9)],  # ethernet in microseconds, raw IP in nanoseconds
        packets=[(0, 1.5, ether(SYN_PROBE)), (1, 2.000000001, UDP_PROBE), (0, 3.25, ether(UDP_PROBE))],
    )
    pkts, stats = read_bytes(tmp_path, content, "cap.pcapng")
    assert [(p.frame, p.proto) for p in pkts] == [(1, "tcp"), (2, "udp"), (3, "udp")]
    assert [p.ts for p in pkts] == [1.5, pytest.approx(2.000000001, abs=1e-12), 3.25]
    assert stats.link_types == {"ethernet", "raw"}
    assert stats.warnings == []


def test_pcapng_power_of_two_resolution_and_offset(tmp_path):
    content = shb() + idb(1, tsresol=0x80 | 10, tsoffset=1000) + epb(0, 1.5, ether(SYN_PROBE), tsresol=0x80 | 10)
    pkts, _ = read_bytes(tmp_path, content, "cap.pcapng")
    assert pkts[0].ts == 1001.5


def test_pcapng_big_endian(tmp_path):
    content = pcapng_bytes([(1, 6)], [(0, 5.0, ether(SYN_PROBE))], byteorder=">")
    pkts, stats = read_bytes(tmp_path, content, "cap.pcapng")
    assert [(p.proto, p.ts, p.seq) for p in pkts] == [("tcp", 5.0, 1000)]


def test_pcapng_non_packet_blocks_are_skipped_and_not_numbered(tmp_path):
    nrb = block(4, struct.pack("<HH", 0, 0))
    isb = block(5, struct.pack("<III", 0, 0, 0))
    custom = block(0xBAD, struct.pack("<I", 32473) + b"vendor data")
    content = pcapng_bytes([(1, None)], [nrb, (0, 1.0, ether(SYN_PROBE)), isb, custom, (0, 2.0, ether(UDP_PROBE))])
    pkts, stats = read_bytes(tmp_path, content, "cap.pcapng")
    assert [(p.frame, p.proto) for p in pkts] == [(1, "tcp"), (2, "udp")]
    assert (stats.packets, stats.warnings) == (2, [])


def test_pcapng_simple_and_obsolete_packet_blocks(tmp_path):
    content = pcapng_bytes([(1, None)], [spb(ether(SYN_PROBE)), pb(0, 7.0, ether(UDP_PROBE))])
    pkts, stats = read_bytes(tmp_path, content, "cap.pcapng")
    assert [(p.frame, p.proto, p.ts) for p in pkts] == [(1, "tcp", 0.0), (2, "udp", 7.0)]


def test_pcapng_simple_packet_block_is_cut_to_snaplen(tmp_path):
    content = shb() + idb(1, snaplen=54) + spb(ether(SYN_PROBE))  # 14 + 20 + 20: MSS option cut off
    pkts, _ = read_bytes(tmp_path, content, "cap.pcapng")
    assert pkts[0].proto == "tcp" and pkts[0].options == () and pkts[0].payload_len == 0


def test_pcapng_new_section_resets_interfaces_and_may_change_byte_order(tmp_path):
    content = (
        pcapng_bytes([(1, None)], [(0, 1.0, ether(SYN_PROBE))])
        + pcapng_bytes([(101, None)], [(0, 2.0, UDP_PROBE)], byteorder=">")
        + epb(1, 3.0, UDP_PROBE, byteorder=">")  # interface 1 belonged to no section here
    )
    pkts, stats = read_bytes(tmp_path, content, "cap.pcapng")
    assert [(p.frame, p.proto) for p in pkts] == [(1, "tcp"), (2, "udp")]
    assert (stats.packets, stats.skipped) == (3, 1)
    assert len(stats.warnings) == 1 and "interface 1" in stats.warnings[0]


def test_pcapng_undeclared_interface_skips_its_records_with_one_warning(tmp_path):
    content = pcapng_bytes(
        [(1, None)], [(0, 1.0, ether(SYN_PROBE)), epb(3, 2.0, ether(SYN_PROBE)), epb(3, 3.0, ether(SYN_PROBE))]
    )
    pkts, stats = read_bytes(tmp_path, content, "cap.pcapng")
    assert [p.frame for p in pkts] == [1]
    assert (stats.packets, stats.skipped) == (3, 2)
    assert stats.warnings == [
        "2 records (first: record 2) refer to interface 3, which no interface description block declares; skipped"
    ]


@pytest.mark.parametrize("container", ["pcap", "pcapng"])
def test_gzip_of_either_container(tmp_path, container):
    if container == "pcap":
        content = pcap_bytes([ether(SYN_PROBE), ether(UDP_PROBE)])
    else:
        content = pcapng_bytes([(1, None)], [(0, 1.0, ether(SYN_PROBE)), (0, 2.0, ether(UDP_PROBE))])
    pkts, stats = read_bytes(tmp_path, gzipped(content), f"cap.{container}.gz")
    assert [p.proto for p in pkts] == ["tcp", "udp"] and stats.warnings == []


# --- link layers ---------------------------------------------------------------------

LINK_CASES = {
    "ethernet": (1, ether(SYN_PROBE)),
    "ethernet-vlan": (1, ether(SYN_PROBE, vlan=100)),
    "ethernet-qinq": (1, ether(SYN_PROBE, vlan=[(0x88A8, 10), (0x8100, 20)])),
    "ethernet-qinq-9100": (1, ether(SYN_PROBE, vlan=[(0x9100, 10), (0x8100, 20)])),
    "ethernet-three-tags": (1, ether(SYN_PROBE, vlan=[(0x88A8, 1), (0x8100, 2), (0x8100, 3)])),
    "ethernet-five-tags": (1, ether(SYN_PROBE, vlan=[1, 2, 3, 4, 5])),
    "linux-sll": (113, sll(SYN_PROBE)),
    "linux-sll-vlan": (113, sll(b"\x00\x64\x08\x00" + SYN_PROBE, protocol=0x8100)),
    "linux-sll2": (276, sll2(SYN_PROBE)),
    "raw-101": (101, SYN_PROBE),
    "raw-12": (12, SYN_PROBE),
    "raw-14": (14, SYN_PROBE),
    "ipv4-228": (228, SYN_PROBE),
    "null-little-endian": (0, null(SYN_PROBE, byteorder="<")),
    "null-big-endian": (0, null(SYN_PROBE, byteorder=">")),
    "loop-108": (108, loop(SYN_PROBE)),
    # dpkt.ethernet unwraps the rare encapsulations:
    "ethernet-mpls": (1, ether(struct.pack("!I", (16 << 12) | 0x100 | 64) + SYN_PROBE, ethertype=0x8847)),
    "ethernet-pppoe": (
        1,
        ether(struct.pack("!BBHHH", 0x11, 0, 1, len(SYN_PROBE) + 2, 0x0021) + SYN_PROBE, ethertype=0x8864),
    ),
}


@pytest.mark.parametrize("linktype,frame", LINK_CASES.values(), ids=LINK_CASES.keys())
def test_each_link_type_decodes_ipv4(linktype, frame):
    pkt = decode(frame, linktype)
    assert pkt is not None
    assert (pkt.src, pkt.dst, pkt.proto, pkt.sport, pkt.dport, pkt.flags, pkt.seq) == (
        SCANNER, TARGET, "tcp", 40000, 80, SYN, 1000,
    )  # fmt: skip


SYN6 = ipv6_tcp(SCANNER6, TARGET6, 40000, 443, SYN, seq=77)
LINK6_CASES = {
    "ethernet": (1, ether(SYN6)),
    "ethernet-vlan": (1, ether(SYN6, vlan=5)),
    "linux-sll": (113, sll(SYN6)),
    "linux-sll2": (276, sll2(SYN6)),
    "raw-101": (101, SYN6),
    "ipv6-229": (229, SYN6),
    "null-af24": (0, null(SYN6, family=24)),
    "null-af28": (0, null(SYN6, family=28)),
    "null-af30-big-endian": (0, null(SYN6, family=30, byteorder=">")),
    "loop-af24": (108, loop(SYN6, family=24)),
}


@pytest.mark.parametrize("linktype,frame", LINK6_CASES.values(), ids=LINK6_CASES.keys())
def test_each_link_type_decodes_ipv6(linktype, frame):
    pkt = decode(frame, linktype)
    assert (pkt.src, pkt.dst, pkt.proto, pkt.ip_version, pkt.dport, pkt.seq) == (SCANNER6, TARGET6, "tcp", 6, 443, 77)


def test_dpkt_ethernet_alone_gives_up_on_long_vlan_stacks():
    """One reason Ethernet is walked by hand: dpkt unwraps a few tags only."""
    import dpkt

    frame = LINK_CASES["ethernet-five-tags"][1]
    assert not isinstance(dpkt.ethernet.Ethernet(frame).data, dpkt.ip.IP)
    assert decode(frame).proto == "tcp"


def test_more_than_sixteen_vlan_tags_is_skipped():
    assert decode(ether(SYN_PROBE, vlan=list(range(1, 18)))) is None
    assert decode(ether(SYN_PROBE, vlan=list(range(1, 17)))).proto == "tcp"


@pytest.mark.parametrize(
    "linktype,frame",
    [
        (1, ether(b"\x00\x01\x08\x00\x06\x04\x00\x01" + b"\x00" * 20, ethertype=0x0806)),  # ARP
        (1, ether(b"\x42\x42\x03" + b"\x00" * 35, ethertype=38)),  # STP over 802.3/LLC
        (0, null(SYN_PROBE, family=7)),
    ],
    ids=["arp", "stp", "null-unknown-family"],
)  # fmt: skip
def test_well_formed_frames_without_ip_are_not_ip_not_damage(linktype, frame):
    assert decode(frame, linktype) is NOT_IP


@pytest.mark.parametrize(
    "linktype,frame",
    [
        (1, ether(SYN_PROBE, ethertype=0x86DD)),  # says IPv6, holds IPv4
        (228, SYN6),
        (229, SYN_PROBE),
        (101, b"\x10" + SYN_PROBE[1:]),
        (113, b"\x00" * 10),
    ],
    ids=["ethertype-mismatch", "ipv4-linktype-v6", "ipv6-linktype-v4", "raw-version-1", "sll-short"],
)  # fmt: skip
def test_frames_that_do_not_decode_are_skipped(linktype, frame):
    assert decode(frame, linktype) is None


def test_unsupported_link_type_gives_one_warning_with_count(tmp_path):
    pkts, stats = read_bytes(tmp_path, pcap_bytes([SYN_PROBE] * 3, linktype=147))
    assert pkts == []
    assert (stats.packets, stats.skipped) == (3, 3)
    assert stats.warnings == ["link type 147 is not supported; 3 records skipped"]
    assert stats.link_types == {"link type 147"}


def test_unsupported_link_type_on_one_pcapng_interface(tmp_path):
    content = pcapng_bytes([(1, None), (147, None)], [(0, 1.0, ether(SYN_PROBE)), (1, 2.0, b"xx"), (0, 3.0, ether(SYN_PROBE))])
    pkts, stats = read_bytes(tmp_path, content, "cap.pcapng")
    assert [p.frame for p in pkts] == [1, 3]
    assert stats.warnings == ["link type 147 is not supported; 1 record skipped"]


def test_arp_and_garbage_among_good_frames_are_counted_not_fatal(tmp_path):
    arp = ether(b"\x00\x01\x08\x00\x06\x04\x00\x01" + b"\x00" * 20, ethertype=0x0806)
    frames = [ether(SYN_PROBE), arp, b"\xff" * 7, ether(b"\x45\x00garbage"), ether(UDP_PROBE)]
    pkts, stats = read_bytes(tmp_path, pcap_bytes(frames))
    assert [(p.frame, p.proto) for p in pkts] == [(1, "tcp"), (5, "udp")]
    assert (stats.packets, stats.skipped, stats.non_ip, stats.warnings) == (5, 2, 1, [])


# --- IPv4 / TCP / UDP ------------------------------------------------------------------


def test_ipv4_tcp_fields():
    probe = ipv4_tcp(
        SCANNER, TARGET, 40000, 8080, SYN | ACK | PSH, seq=0xFFFFFFFE, ack=12345, window=29200, ttl=53,
        options=MSS_1460 + b"\x04\x02\x08\x0a" + b"\x00" * 8 + b"\x01\x03\x03\x07", payload=b"hello", ip_id=4242,
    )  # fmt: skip
    pkt = decode(ether(probe), frame=9, ts=1.25)
    assert (pkt.frame, pkt.ts, pkt.ip_version, pkt.ttl, pkt.ip_id, pkt.ip_proto) == (9, 1.25, 4, 53, 4242, 6)
    assert (pkt.sport, pkt.dport, pkt.flags, pkt.seq, pkt.ack, pkt.window) == (
        40000, 8080, SYN | ACK | PSH, 0xFFFFFFFE, 12345, 29200,
    )  # fmt: skip
    assert pkt.options == (2, 4, 8, 1, 3) and pkt.mss == 1460
    assert (pkt.length, pkt.payload_len) == (20 + 40 + 5, 5)
    assert pkt.icmp_type is None and pkt.quoted is None


def test_tcp_all_eight_flag_bits_and_eol_ends_options():
    pkt = decode(ipv4_tcp(SCANNER, TARGET, 1, 2, 0xFF, options=b"\x01\x01\x00\x02\x04\x05\xb4"), 101)
    assert pkt.flags == 0xFF
    assert pkt.options == (1, 1, 0) and pkt.mss is None  # EOL ends the list: the MSS after it is padding


def test_tcp_without_options():
    pkt = decode(ipv4_tcp(TARGET, SCANNER, 80, 40000, RST | ACK, ack=1001, window=0), 101)
    assert (pkt.options, pkt.mss, pkt.flags, pkt.window) == ((), None, RST | ACK, 0)


def test_tcp_malformed_option_length_stops_option_parsing():
    pkt = decode(ipv4_tcp(SCANNER, TARGET, 1, 2, SYN, options=b"\x02\x04\x05\xb4\x08\x01\x01\x01"), 101)
    assert pkt.options == (2, 8) and pkt.mss == 1460


def test_payload_length_follows_ip_length_not_snaplen():
    full = ether(ipv4_tcp(TARGET, SCANNER, 80, 40000, ACK | PSH, payload=b"x" * 1000))
    pkt = decode(full[:54 + 100])  # snaplen cut the payload
    assert (pkt.payload_len, pkt.length) == (1000, 1040)


def test_ethernet_padding_is_not_payload():
    pkt = decode(ether(ipv4_udp(SCANNER, TARGET, 40000, 53)) + b"\x00" * 18)  # empty UDP, padded to 60 bytes
    rst = decode(ether(ipv4_tcp(TARGET, SCANNER, 80, 40000, RST)) + b"\x00" * 6)
    assert pkt.payload_len == 0 and rst.payload_len == 0


def test_tcp_segmentation_offload_zero_total_length_uses_captured_length():
    packet = bytearray(ipv4_tcp(SCANNER, TARGET, 1, 2, ACK, payload=b"y" * 3000))
    packet[2:4] = b"\x00\x00"
    pkt = decode(bytes(packet), 101)
    assert (pkt.proto, pkt.payload_len) == ("tcp", 3000)


def test_bad_checksums_are_not_a_reason_to_skip():
    packet = bytearray(SYN_PROBE)
    packet[10:12] = b"\xde\xad"  # IP header checksum
    packet[36:38] = b"\xbe\xef"  # TCP checksum
    assert decode(bytes(packet), 101).proto == "tcp"


def test_ipv4_udp_fields():
    pkt = decode(ether(ipv4_udp(SCANNER, TARGET, 5353, 161, payload=b"q" * 30, ttl=1, ip_id=9)))
    assert (pkt.proto, pkt.sport, pkt.dport, pkt.payload_len, pkt.ttl, pkt.ip_id, pkt.length, pkt.ip_proto) == (
        "udp", 5353, 161, 30, 1, 9, 58, 17,
    )  # fmt: skip


def test_udp_length_field_is_bounded_by_the_ip_length():
    lying = ipv4(SCANNER, TARGET, 17, udp_header(1, 2, b"abcd", length=5000))
    assert decode(lying, 101).payload_len == 4
    short = ipv4(SCANNER, TARGET, 17, udp_header(1, 2, b"abcd", length=3))
    assert decode(short, 101).payload_len == 4


def test_ipv4_options_are_stepped_over():
    pkt = decode(ipv4(SCANNER, TARGET, 6, tcp_header(1, 2, SYN, seq=5), ihl=6, options=b"\x01\x01\x01\x00"), 101)
    assert (pkt.proto, pkt.seq) == ("tcp", 5)


def test_ipv4_fragments():
    segment = tcp_header(1, 80, SYN, seq=3)
    first = ipv4(SCANNER, TARGET, 6, segment, mf=True)
    later = ipv4(SCANNER, TARGET, 6, b"z" * 16, frag_offset=3)
    assert (decode(first, 101).proto, decode(first, 101).dport) == ("tcp", 80)
    pkt = decode(later, 101)
    assert (pkt.proto, pkt.ip_proto, pkt.sport, pkt.length) == ("ip", 6, 0, 36)


def test_other_ip_protocols_are_proto_ip():
    pkt = decode(ipv4(SCANNER, "224.0.0.22", 2, b"\x22\x00\xfa\x02" + b"\x00" * 4), 101)  # IGMP
    assert (pkt.proto, pkt.ip_proto) == ("ip", 2)


@pytest.mark.parametrize(
    "packet",
    [
        ipv4(SCANNER, TARGET, 6, tcp_header(1, 2, SYN), ihl=4),
        ipv4(SCANNER, TARGET, 6, tcp_header(1, 2, SYN), ihl=0),
        ipv4(SCANNER, TARGET, 6, tcp_header(1, 2, SYN, data_offset=4)),
        ipv4(SCANNER, TARGET, 6, tcp_header(1, 2, SYN, data_offset=0)),
        ipv4(SCANNER, TARGET, 6, tcp_header(1, 2, SYN), ihl=15),  # header longer than the packet
        ipv4(SCANNER, TARGET, 6, tcp_header(1, 2, SYN), total_length=12),  # total < header
        ipv4(SCANNER, TARGET, 6, tcp_header(1, 2, SYN))[:30],  # TCP header cut short
        ipv4(SCANNER, TARGET, 17, udp_header(1, 2))[:25],
        ipv4(SCANNER, TARGET, 1, b"\x08"),
        SYN_PROBE[:12],
        b"",
    ],
    ids=["ihl-4", "ihl-0", "tcp-doff-4", "tcp-doff-0", "ihl-beyond-data", "total-below-ihl", "tcp-cut",
         "udp-cut", "icmp-cut", "ip-cut", "empty"],
)  # fmt: skip
def test_impossible_headers_are_skipped(packet):
    assert decode(packet, 101) is None
    assert decode(ether(packet)) is None


def test_decode_never_raises_on_random_or_mutated_input():
    rng = random.Random(1234)
    seeds = [ether(SYN_PROBE), ether(SYN6), ether(ipv4_icmp_unreach(TARGET, SCANNER, 3, UDP_PROBE[:28]))]
    for linktype in (0, 1, 12, 101, 108, 113, 228, 229, 276, 147):
        for _ in range(300):
            data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 90)))
            decode(data, linktype)
        for seed in seeds:
            for _ in range(100):
                data = bytearray(seed)
                for _ in range(rng.randrange(1, 6)):
                    data[rng.randrange(len(data))] = rng.getrandbits(8)
                decode(bytes(data[: rng.randrange(len(data) + 1)]), linktype)


# --- IPv6 ------------------------------------------------------------------------------


def test_ipv6_tcp_fields():
    pkt = decode(ether(ipv6_tcp(SCANNER6, TARGET6, 40000, 22, SYN, seq=9, hlim=57, options=MSS_1460, payload=b"ab")))
    assert (pkt.ip_version, pkt.src, pkt.dst, pkt.ttl, pkt.ip_id, pkt.ip_proto) == (6, SCANNER6, TARGET6, 57, 0, 6)
    assert (pkt.proto, pkt.dport, pkt.mss, pkt.payload_len, pkt.length) == ("tcp", 22, 1460, 2, 40 + 24 + 2)


def test_ipv6_udp_fields():
    pkt = decode(ipv6_udp(SCANNER6, TARGET6, 40000, 547, payload=b"x" * 10), 229)
    assert (pkt.proto, pkt.sport, pkt.dport, pkt.payload_len, pkt.length) == ("udp", 40000, 547, 10, 58)


def test_ipv6_extension_headers_are_walked():
    segment = tcp_header(40000, 25, SYN, seq=1)
    hop_by_hop = bytes([60, 0]) + b"\x01\x04\x00\x00\x00\x00"  # next: destination options; PadN
    dest_opts = bytes([43, 0]) + b"\x01\x04\x00\x00\x00\x00"  # next: routing
    routing = bytes([44, 0, 0, 0]) + b"\x00" * 4  # next: fragment
    fragment = bytes([6, 0]) + struct.pack("!HI", 0x0001, 99)  # offset 0, more fragments: the first
    pkt = decode(ipv6(SCANNER6, TARGET6, 0, segment, ext=hop_by_hop + dest_opts + routing + fragment, upper=6), 229)
    assert (pkt.proto, pkt.ip_proto, pkt.dport, pkt.payload_len, pkt.length) == ("tcp", 6, 25, 0, 40 + 32 + 20)


def test_ipv6_later_fragment_is_proto_ip():
    fragment = bytes([17, 0]) + struct.pack("!HI", 185 << 3, 99)
    pkt = decode(ipv6(SCANNER6, TARGET6, 44, b"w" * 24, ext=fragment), 229)
    assert (pkt.proto, pkt.ip_proto, pkt.sport) == ("ip", 17, 0)


def test_ipv6_extension_header_beyond_the_data_is_skipped():
    assert decode(ipv6(SCANNER6, TARGET6, 0, b"", ext=bytes([6, 30]) + b"\x00" * 6), 229) is None


# --- ICMP and ICMPv6 quotes ---------------------------------------------------------


def test_icmp_port_unreachable_quoting_a_truncated_udp_probe():
    reply = ipv4_icmp_unreach(TARGET, SCANNER, 3, UDP_PROBE[:28], ttl=63)  # IP header + 8 bytes
    pkt = decode(ether(reply))
    assert (pkt.proto, pkt.icmp_type, pkt.icmp_code, pkt.ttl, pkt.ip_proto) == ("icmp", 3, 3, 63, 1)
    assert pkt.quoted == Quoted(SCANNER, TARGET, "udp", 40000, 53, None)
    assert pkt.sport == 0 and pkt.payload_len == 0


def test_icmp_quoting_a_tcp_probe_gives_its_sequence_number():
    pkt = decode(ether(ipv4_icmp_unreach("198.51.100.1", SCANNER, 13, SYN_PROBE[:28])))
    assert pkt.quoted == Quoted(SCANNER, TARGET, "tcp", 40000, 80, 1000)


def test_icmp_time_exceeded_with_a_full_quote():
    pkt = decode(ether(ipv4_icmp("198.51.100.1", SCANNER, 11, 0, b"\x00" * 4 + SYN_PROBE)))
    assert (pkt.icmp_type, pkt.quoted.dport, pkt.quoted.seq) == (11, 80, 1000)


def test_icmp_quote_too_short_for_ports_or_seq():
    four = decode(ipv4_icmp_unreach(TARGET, SCANNER, 3, SYN_PROBE[:24]), 101)
    assert four.quoted == Quoted(SCANNER, TARGET, "tcp", 40000, 80, None)
    none = decode(ipv4_icmp_unreach(TARGET, SCANNER, 3, SYN_PROBE[:22]), 101)
    assert none.quoted == Quoted(SCANNER, TARGET, "tcp", 0, 0, None)


def test_icmp_quote_with_options_in_the_quoted_ip_header():
    probe = ipv4(SCANNER, TARGET, 17, udp_header(40001, 161), ihl=6, options=b"\x01" * 4)
    pkt = decode(ipv4_icmp_unreach(TARGET, SCANNER, 3, probe), 101)
    assert (pkt.quoted.proto, pkt.quoted.sport, pkt.quoted.dport) == ("udp", 40001, 161)


@pytest.mark.parametrize(
    "quote",
    [SYN_PROBE[:19], b"\x44" + SYN_PROBE[1:28], b"\x65" + SYN_PROBE[1:28], b""],
    ids=["shorter-than-ip-header", "ihl-4", "version-6", "empty"],
)
def test_icmp_error_with_a_bad_quote_keeps_the_icmp_packet(quote):
    pkt = decode(ipv4_icmp_unreach(TARGET, SCANNER, 3, quote), 101)
    assert (pkt.proto, pkt.icmp_type, pkt.quoted) == ("icmp", 3, None)


def test_icmp_quote_of_other_protocols_has_no_ports():
    ping = ipv4_icmp(SCANNER, TARGET, 8, 0, b"\x12\x34\x00\x01")
    pkt = decode(ipv4_icmp_unreach(TARGET, SCANNER, 1, ping[:28]), 101)
    assert pkt.quoted == Quoted(SCANNER, TARGET, "icmp")
    gre = ipv4(SCANNER, TARGET, 47, b"\x00" * 8)
    assert decode(ipv4_icmp_unreach(TARGET, SCANNER, 2, gre), 101).quoted.proto == "47"


def test_icmp_echo_has_no_quote():
    pkt = decode(ether(ipv4_icmp(SCANNER, TARGET, 8, 0, b"\x12\x34\x00\x01" + b"ping")))
    assert (pkt.proto, pkt.icmp_type, pkt.icmp_code, pkt.quoted) == ("icmp", 8, 0, None)


def test_icmp6_unreachable_quoting_a_tcp_probe():
    probe = ipv6_tcp(SCANNER6, TARGET6, 40000, 443, SYN, seq=0xDEADBEEF)
    pkt = decode(ether(icmp6_unreach(TARGET6, SCANNER6, 4, probe[:48])))
    assert (pkt.proto, pkt.ip_version, pkt.icmp_type, pkt.icmp_code, pkt.ip_proto) == ("icmp6", 6, 1, 4, 58)
    assert pkt.quoted == Quoted(SCANNER6, TARGET6, "tcp", 40000, 443, 0xDEADBEEF)


def test_icmp6_quote_with_extension_headers():
    probe = ipv6(SCANNER6, TARGET6, 60, udp_header(40000, 53), ext=bytes([17, 0]) + b"\x01\x04\x00\x00\x00\x00", upper=17)
    pkt = decode(icmp6_unreach(TARGET6, SCANNER6, 4, probe), 229)
    assert pkt.quoted == Quoted(SCANNER6, TARGET6, "udp", 40000, 53, None)


def test_icmp6_quote_cut_inside_an_extension_header():
    probe = ipv6(SCANNER6, TARGET6, 60, udp_header(40000, 53), ext=bytes([17, 2]) + b"\x00" * 22, upper=17)
    pkt = decode(icmp6_unreach(TARGET6, SCANNER6, 4, probe[:48]), 229)
    assert pkt.quoted == Quoted(SCANNER6, TARGET6, "60")


def test_icmp6_echo_and_neighbor_solicitation_have_no_quote():
    echo = decode(ipv6(SCANNER6, TARGET6, 58, struct.pack("!BBHHH", 128, 0, 0, 1, 1)), 229)
    ns = decode(ipv6(SCANNER6, "ff02::1:ff00:2", 58, struct.pack("!BBHI", 135, 0, 0, 0) + b"\x00" * 16), 229)
    assert (echo.proto, echo.icmp_type, echo.quoted) == ("icmp6", 128, None)
    assert (ns.icmp_type, ns.quoted) == (135, None)


# --- bad input --------------------------------------------------------------------------


def test_missing_path(tmp_path):
    path = tmp_path / "nope.pcap"
    with pytest.raises(errors.CaptureNotFound, match=r"^capture not found: .*nope\.pcap$"):
        read_packets(path, ReadStats(str(path)))


def test_directory(tmp_path):
    with pytest.raises(errors.InputError, match="is a directory, not a capture"):
        read_packets(tmp_path)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path):
    path = write(tmp_path, pcap_bytes([]))
    path.chmod(0)
    with pytest.raises(errors.InputError, match="cannot read"):
        read_packets(path)


def test_zero_byte_file(tmp_path):
    with pytest.raises(errors.NotACapture, match=r"cap\.pcap is not a capture \(empty file\)"):
        read_packets(write(tmp_path, b""))


def test_text_file(tmp_path):
    path = write(tmp_path, b"Hello, this is not a capture\n", "notes.pcap")
    with pytest.raises(errors.NotACapture) as exc:
        read_packets(path)
    assert str(exc.value) == f"{path} is not a pcap or pcapng capture (starts with 0x48656c6c)"
    assert "\n" not in str(exc.value)


def test_file_shorter_than_a_magic(tmp_path):
    with pytest.raises(errors.NotACapture, match=r"starts with 0xd4c3\)"):
        read_packets(write(tmp_path, b"\xd4\xc3"))


def test_gzip_of_something_else(tmp_path):
    with pytest.raises(errors.NotACapture, match="gzip-compressed but not a pcap or pcapng"):
        read_packets(write(tmp_path, gzipped(b"just text in here"), "x.gz"))


def test_damaged_gzip_header(tmp_path):
    with pytest.raises(errors.NotACapture, match="damaged gzip"):
        read_packets(write(tmp_path, b"\x1f\x8b\x08\x00garbagegarbage", "x.gz"))


def test_pcap_header_cut_short(tmp_path):
    with pytest.raises(errors.NotACapture, match="header is cut short"):
        read_packets(write(tmp_path, pcap_bytes([])[:20]))


def test_pcapng_section_header_damaged(tmp_path):
    content = bytearray(pcapng_bytes())
    content[8:12] = b"\x00\x00\x00\x00"  # byte-order magic
    with pytest.raises(errors.NotACapture, match="byte-order magic"):
        read_packets(write(tmp_path, bytes(content), "cap.pcapng"))


def test_errors_are_raised_before_iteration_starts(tmp_path):
    with pytest.raises(errors.NotACapture):
        read_packets(write(tmp_path, b"x" * 100))  # no next() needed


def test_truncated_last_record_keeps_the_good_packets(tmp_path):
    content = pcap_bytes([ether(SYN_PROBE), ether(UDP_PROBE), ether(SYN_PROBE)])
    pkts, stats = read_bytes(tmp_path, content[:-20])
    assert [p.frame for p in pkts] == [1, 2]
    assert stats.packets == 2 and stats.truncated
    assert stats.warnings == [
        f"record 3 is truncated (the file ends {16 + len(ether(SYN_PROBE)) - 20} bytes into it); results cover records 1-2"
    ]


def test_truncated_inside_a_record_header(tmp_path):
    pkts, stats = read_bytes(tmp_path, pcap_bytes([ether(SYN_PROBE), ether(SYN_PROBE)])[: 24 + 16 + 58 + 5])
    assert len(pkts) == 1
    assert stats.warnings == [
        "record 2 is truncated (the file ends 5 bytes into it, inside its header); results cover record 1"
    ]


def test_truncated_first_record(tmp_path):
    pkts, stats = read_bytes(tmp_path, pcap_bytes([ether(SYN_PROBE)])[:-1])
    assert pkts == [] and stats.warnings[0].endswith("; no records could be read")


def test_truncated_gzip_stream_keeps_the_packets_before(tmp_path):
    rng = random.Random(7)  # incompressible payloads, so the cut lands late in the stream
    frames = [ether(ipv4_udp(SCANNER, TARGET, 40000, i, payload=rng.randbytes(200))) for i in range(1, 41)]
    content = gzipped(pcap_bytes(frames))
    pkts, stats = read_bytes(tmp_path, content[: len(content) // 2], "cut.pcap.gz")
    assert 5 < len(pkts) < 40
    assert [p.dport for p in pkts] == list(range(1, len(pkts) + 1))
    assert stats.truncated and len(stats.warnings) == 1
    assert "gzip stream" in stats.warnings[0] and f"records 1-{len(pkts)}" in stats.warnings[0]


def test_gzip_stream_missing_only_its_trailer(tmp_path):
    content = gzipped(pcap_bytes([ether(SYN_PROBE)] * 3))
    pkts, stats = read_bytes(tmp_path, content[:-8], "cut.pcap.gz")
    assert len(pkts) == 3 and stats.warnings == ["the gzip stream ends early, after record 3; results cover records 1-3"]


def test_gzip_data_damaged_mid_stream_is_a_warning_not_an_error(tmp_path):
    rng = random.Random(3)
    frames = [ether(ipv4_udp(SCANNER, TARGET, 40000, i, payload=rng.randbytes(1000))) for i in range(1, 200)]
    content = bytearray(gzipped(pcap_bytes(frames)))
    for i in range(len(content) // 2, len(content) // 2 + 200):
        content[i] ^= 0x55
    pkts, stats = read_bytes(tmp_path, bytes(content), "damaged.pcap.gz")
    # Damaged deflate data may inflate to garbage (then a record header looks
    # corrupt) or fail to inflate or fail its CRC: any way, a warning and a stop.
    assert stats.truncated and len(stats.warnings) == 1
    assert f"results cover records 1-{stats.packets}" in stats.warnings[0]
    assert [p.dport for p in pkts[:50]] == list(range(1, 51))


def test_record_length_of_4_gigabytes_is_refused_quickly(tmp_path):
    content = bytearray(pcap_bytes([ether(SYN_PROBE), ether(SYN_PROBE)]))
    second = 24 + 16 + len(ether(SYN_PROBE))
    content[second + 8 : second + 12] = struct.pack("<I", 0xFFFFFFFF)
    start = time.monotonic()
    pkts, stats = read_bytes(tmp_path, bytes(content))
    assert time.monotonic() - start < 1
    assert len(pkts) == 1 and stats.truncated
    assert stats.warnings[0].startswith("record 2 is corrupt (its header claims 4294967295 captured bytes")


@pytest.mark.parametrize("length", [0, 8, 30, 0x7FFFFFF0, 0xFFFFFFFC])
def test_pcapng_impossible_block_length_stops_with_a_warning(tmp_path, length):
    bad = struct.pack("<II", 6, length) + b"\x00" * 40
    content = pcapng_bytes([(1, None)], [(0, 1.0, ether(SYN_PROBE)), bad, (0, 2.0, ether(SYN_PROBE))])
    start = time.monotonic()
    pkts, stats = read_bytes(tmp_path, content, "cap.pcapng")
    assert time.monotonic() - start < 1
    assert [p.frame for p in pkts] == [1]
    assert stats.truncated and len(stats.warnings) == 1
    assert stats.warnings[0].startswith("record 2 (pcapng block at byte ")
    assert stats.warnings[0].endswith("; results cover record 1")


def test_pcapng_block_length_larger_than_the_gzip_stream(tmp_path):
    bad = struct.pack("<II", 6, 0x00100000) + b"\x00" * 40  # 1 MiB: fine for a block, but the stream ends
    content = gzipped(pcapng_bytes([(1, None)], [(0, 1.0, ether(SYN_PROBE)), bad]))
    pkts, stats = read_bytes(tmp_path, content, "cap.pcapng.gz")
    assert len(pkts) == 1 and stats.truncated
    assert "corrupt" in stats.warnings[0] or "truncated" in stats.warnings[0]


def test_pcapng_truncated_last_block(tmp_path):
    content = pcapng_bytes([(1, None)], [(0, 1.0, ether(SYN_PROBE)), (0, 2.0, ether(UDP_PROBE))])
    pkts, stats = read_bytes(tmp_path, content[:-10], "cap.pcapng")
    assert [p.frame for p in pkts] == [1]
    assert stats.warnings[0].startswith("record 2 (pcapng block at byte ")
    assert stats.warnings[0].endswith(
        "is truncated or corrupt (block length 88, but the file ends 78 bytes into it); results cover record 1"
    )


def test_pcapng_gzip_truncated_last_block(tmp_path):
    content = pcapng_bytes([(1, None)], [(0, 1.0, ether(SYN_PROBE)), (0, 2.0, ether(UDP_PROBE))])[:-10]
    pkts, stats = read_bytes(tmp_path, gzipped(content), "cap.pcapng.gz")
    assert [p.frame for p in pkts] == [1]
    assert stats.warnings == [
        "record 2 (pcapng block at byte 140) is truncated (the gzip stream ends 78 bytes into it); "
        "results cover record 1"
    ]


def test_pcapng_trailing_length_mismatch(tmp_path):
    good = epb(0, 1.0, ether(SYN_PROBE))
    bad = good[:-4] + struct.pack("<I", len(good) + 4)
    pkts, stats = read_bytes(tmp_path, pcapng_bytes([(1, None)], [good, bad]), "cap.pcapng")
    assert len(pkts) == 1 and "length fields disagree" in stats.warnings[0]


def test_pcapng_captured_length_beyond_its_block(tmp_path):
    bad = epb(0, 1.0, ether(SYN_PROBE), captured_len=5000)
    pkts, stats = read_bytes(tmp_path, pcapng_bytes([(1, None)], [(0, 1.0, ether(SYN_PROBE)), bad]), "cap.pcapng")
    assert len(pkts) == 1 and "do not fit" in stats.warnings[0]


def test_pcapng_empty_section_yields_nothing(tmp_path):
    pkts, stats = read_bytes(tmp_path, shb(), "cap.pcapng")
    assert pkts == [] and stats.warnings == []


# --- real captures, checked against tshark ------------------------------------------

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "captures"
REAL = sorted(
    p for sub in ("scans", "students") if (SHARED / sub).is_dir() for p in (SHARED / sub).rglob("*") if p.is_file()
    and p.suffix in (".pcap", ".pcapng", ".cap", ".gz")
)  # fmt: skip
TSHARK = shutil.which("tshark")


def _tshark(path: Path) -> dict:
    """frame number -> (protocols, tcp/udp fields) as tshark sees it, IP
    reassembly off so fragments are dissected like ours."""
    fields = ["frame.number", "frame.protocols", "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.seq_raw",
              "tcp.ack_raw", "tcp.window_size_value", "tcp.len", "udp.srcport", "udp.dstport"]  # fmt: skip
    cmd = [TSHARK, "-n", "-r", str(path), "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
           "-T", "fields", "-E", "occurrence=f"]  # fmt: skip
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        cols = line.split("\t")
        rows[int(cols[0])] = cols[1:]
    return rows


@pytest.mark.skipif(not REAL, reason=f"{SHARED} is absent")
@pytest.mark.parametrize("path", REAL, ids=[str(p.relative_to(SHARED)) for p in REAL] if REAL else None)
def test_real_capture_matches_tshark(path):
    pkts, stats = read(path)
    if path.stat().st_size > 24:
        assert stats.packets > 0 and pkts
    assert stats.warnings == []
    assert [p.frame for p in pkts] == sorted({p.frame for p in pkts})
    if TSHARK is None:
        pytest.skip("tshark is not installed")
    rows = _tshark(path)
    assert stats.packets == len(rows)
    ours = {p.frame: p for p in pkts}
    # tshark's `tcp` filter also matches ICMP errors, since it dissects the
    # TCP header they quote: leave those out and compare the rest frame by frame.
    for proto in ("tcp", "udp"):
        theirs = {n for n, c in rows.items() if proto in c[0].split(":") and not {"icmp", "icmpv6"} & set(c[0].split(":"))}
        assert theirs == {n for n, p in ours.items() if p.proto == proto}, proto
    for n, p in ours.items():
        c = rows[n]
        if p.proto == "tcp":
            expected = (int(c[1]), int(c[2]), int(c[3], 16) & 0xFF, int(c[4]), int(c[5]), int(c[6]), int(c[7]))
            assert (p.sport, p.dport, p.flags, p.seq, p.ack, p.window, p.payload_len) == expected, n
        elif p.proto == "udp":
            assert (p.sport, p.dport) == (int(c[8]), int(c[9])), n
        elif p.quoted is not None and p.quoted.proto == "udp" and p.quoted.sport:
            assert (p.quoted.sport, p.quoted.dport) == (int(c[8]), int(c[9])), n
