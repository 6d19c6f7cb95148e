"""Craft tiny capture files byte by byte, for tests.

Frames:     ipv4_tcp / ipv4_udp / ipv4_icmp / ipv4_icmp_unreach,
            ipv6_tcp / ipv6_udp / icmp6_unreach, and the lower-level
            ipv4(...) / ipv6(...) / tcp_header(...) / udp_header(...)
Link layer: ether(ip, vlan=...), sll(ip), sll2(ip), null(ip), loop(ip)
Containers: pcap_bytes(records, ...), pcapng_bytes(interfaces, packets, ...),
            and raw pcapng blocks (shb, idb, epb, spb, pb, block) to break.

Checksums are computed (IPv4 header, TCP, UDP, ICMP, ICMPv6) so the
frames also look right in Wireshark.
"""
from __future__ import annotations

import gzip
import socket
import struct

__all__ = [
    "ether", "sll", "sll2", "null", "loop",
    "ipv4", "ipv6", "tcp_header", "udp_header",
    "ipv4_tcp", "ipv4_udp", "ipv4_icmp", "ipv4_icmp_unreach", "ipv6_tcp", "ipv6_udp", "icmp6_unreach",
    "pcap_bytes", "pcapng_bytes", "shb", "idb", "epb", "spb", "pb", "block", "gzipped",
    "MSS_1460",
]  # fmt: skip

MSS_1460 = b"\x02\x04\x05\xb4"  # TCP option: MSS 1460
SRC_MAC = bytes.fromhex("020000000001")
DST_MAC = bytes.fromhex("020000000002")


# --- checksums ---


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _v4(addr: str) -> bytes:
    return socket.inet_pton(socket.AF_INET, addr)


def _v6(addr: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, addr)


def _with_checksum(segment: bytes, at: int, pseudo: bytes) -> bytes:
    csum = _checksum(pseudo + segment)
    return segment[:at] + struct.pack("!H", csum) + segment[at + 2 :]


# --- transport headers ---


def tcp_header(sport, dport, flags, seq=0, ack=0, window=1024, options=b"", payload=b"", data_offset=None):
    """A TCP segment (header + payload) with a zero checksum; `options` is
    padded to 4 bytes with EOL; `data_offset` (in words) overrides the real one."""
    options += b"\x00" * (-len(options) % 4)
    doff = data_offset if data_offset is not None else 5 + len(options) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, window, 0, 0) + options + payload


def udp_header(sport, dport, payload=b"", length=None):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload) if length is None else length, 0) + payload


# --- IP ---


def ipv4(src, dst, proto, payload, ttl=64, ip_id=1, ihl=5, options=b"", total_length=None, frag_offset=0, mf=False):
    """An IPv4 packet; the TCP/UDP/ICMP checksum inside `payload` is filled
    in when its field is zero. `ihl` and `total_length` may be set to lie."""
    s, d = _v4(src), _v4(dst)
    if not frag_offset:
        pseudo = s + d + struct.pack("!BBH", 0, proto, len(payload))
        if proto == 6 and len(payload) >= 20 and payload[16:18] == b"\0\0":
            payload = _with_checksum(payload, 16, pseudo)
        elif proto == 17 and len(payload) >= 8 and payload[6:8] == b"\0\0":
            payload = _with_checksum(payload, 6, pseudo)
        elif proto == 1 and len(payload) >= 4 and payload[2:4] == b"\0\0":
            payload = _with_checksum(payload, 2, b"")
    options += b"\x00" * (-len(options) % 4)
    header_len = 20 + len(options)
    total = header_len + len(payload) if total_length is None else total_length
    frag = (0x2000 if mf else 0) | (frag_offset & 0x1FFF)
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, ip_id, frag, ttl, proto, 0, s, d) + options
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return header + payload


def ipv6(src, dst, nxt, payload, hlim=64, ext=b"", upper=None):
    """An IPv6 packet. `ext` is raw extension-header bytes placed before the
    payload (then `nxt` names the first of them and `upper` the transport
    protocol, for the checksum)."""
    s, d = _v6(src), _v6(dst)
    upper = nxt if upper is None else upper
    pseudo = s + d + struct.pack("!I3xB", len(payload), upper)
    at = {6: 16, 17: 6, 58: 2}.get(upper)
    if at is not None and len(payload) >= at + 2 and payload[at : at + 2] == b"\0\0":
        payload = _with_checksum(payload, at, pseudo)
    body = ext + payload
    return struct.pack("!IHBB16s16s", 0x60000000, len(body), nxt, hlim, s, d) + body


def ipv4_tcp(src, dst, sport, dport, flags, seq=0, ack=0, window=1024, ttl=64, options=b"", payload=b"", ip_id=1):
    return ipv4(src, dst, 6, tcp_header(sport, dport, flags, seq, ack, window, options, payload), ttl=ttl, ip_id=ip_id)


def ipv4_udp(src, dst, sport, dport, payload=b"", ttl=64, ip_id=1):
    return ipv4(src, dst, 17, udp_header(sport, dport, payload), ttl=ttl, ip_id=ip_id)


def ipv4_icmp(src, dst, icmp_type, code, body=b"\x00\x00\x00\x00", ttl=64, ip_id=1):
    """An ICMP message: `body` is what follows type, code and checksum."""
    return ipv4(src, dst, 1, struct.pack("!BBH", icmp_type, code, 0) + body, ttl=ttl, ip_id=ip_id)


def ipv4_icmp_unreach(src, dst, code, quoted_ip_bytes, ttl=64, ip_id=1):
    """Destination unreachable (type 3) quoting `quoted_ip_bytes` (pass
    probe[:28] for the usual IP header + 8 bytes)."""
    return ipv4_icmp(src, dst, 3, code, b"\x00\x00\x00\x00" + quoted_ip_bytes, ttl=ttl, ip_id=ip_id)


def ipv6_tcp(src, dst, sport, dport, flags, seq=0, ack=0, window=1024, hlim=64, options=b"", payload=b""):
    return ipv6(src, dst, 6, tcp_header(sport, dport, flags, seq, ack, window, options, payload), hlim=hlim)


def ipv6_udp(src, dst, sport, dport, payload=b"", hlim=64):
    return ipv6(src, dst, 17, udp_header(sport, dport, payload), hlim=hlim)


def icmp6_unreach(src, dst, code, quoted_ip_bytes, hlim=64, icmp_type=1):
    """ICMPv6 destination unreachable (type 1) quoting `quoted_ip_bytes`."""
    return ipv6(src, dst, 58, struct.pack("!BBHI", icmp_type, code, 0, 0) + quoted_ip_bytes, hlim=hlim)


# --- link layers ---


def _ethertype_of(ip: bytes) -> int:
    return 0x86DD if ip[:1] and ip[0] >> 4 == 6 else 0x0800


def ether(ip_bytes, vlan=None, ethertype=None, src=SRC_MAC, dst=DST_MAC):
    """An Ethernet II frame. `vlan`: a VLAN id (one 802.1Q tag) or a list of
    tags, each a VLAN id (TPID 0x8100) or a (tpid, vid) pair, outermost first."""
    etype = _ethertype_of(ip_bytes) if ethertype is None else ethertype
    if vlan is None:
        tags = []
    elif isinstance(vlan, int):
        tags = [(0x8100, vlan)]
    else:
        tags = [t if isinstance(t, tuple) else (0x8100, t) for t in vlan]
    out = dst + src
    for tpid, vid in tags:
        out += struct.pack("!HH", tpid, vid & 0x0FFF)
    return out + struct.pack("!H", etype) + ip_bytes


def sll(ip_bytes, protocol=None, packet_type=0):
    """Linux cooked capture v1 (link type 113)."""
    proto = _ethertype_of(ip_bytes) if protocol is None else protocol
    return struct.pack("!HHH8sH", packet_type, 1, 6, SRC_MAC + b"\0\0", proto) + ip_bytes


def sll2(ip_bytes, protocol=None, ifindex=2, packet_type=0):
    """Linux cooked capture v2 (link type 276)."""
    proto = _ethertype_of(ip_bytes) if protocol is None else protocol
    return struct.pack("!HHiHBB8s", proto, 0, ifindex, 1, packet_type, 6, SRC_MAC + b"\0\0") + ip_bytes


def null(ip_bytes, family=None, byteorder="<"):
    """BSD loopback (link type 0): address family in the capturing host's byte order."""
    fam = (2 if ip_bytes[0] >> 4 == 4 else 30) if family is None else family
    return struct.pack(byteorder + "I", fam) + ip_bytes


def loop(ip_bytes, family=None):
    """OpenBSD loopback (link type 108): address family in network byte order."""
    return null(ip_bytes, family, ">")


# --- pcap ---


def pcap_bytes(records, linktype=1, nano=False, byteorder="<", modified=False, snaplen=65535, version=(2, 4)):
    """A pcap file. Each record is `data` or `(ts, data)` or
    `(ts, data, orig_len)`; ts defaults to the record's index in seconds."""
    if modified:
        magic = 0xA1B2CD34
    else:
        magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(byteorder + "IHHiIII", magic, version[0], version[1], 0, 0, snaplen, linktype)]
    for i, rec in enumerate(records, 1):
        if isinstance(rec, (bytes, bytearray)):
            ts, data, orig = float(i), bytes(rec), len(rec)
        else:
            ts, data = rec[0], rec[1]
            orig = rec[2] if len(rec) > 2 else len(data)
        sec = int(ts)
        frac = round((ts - sec) * (1e9 if nano else 1e6))
        out.append(struct.pack(byteorder + "IIII", sec, frac, len(data), orig))
        if modified:
            out.append(struct.pack(byteorder + "IHBx", 1, 0x0800, 0))
        out.append(data)
    return b"".join(out)


# --- pcapng ---


def _pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def _options(options, byteorder):
    if not options:
        return b""
    out = b""
    for code, value in options:
        out += struct.pack(byteorder + "HH", code, len(value)) + _pad4(value)
    return out + struct.pack(byteorder + "HH", 0, 0)


def block(btype, body, byteorder="<", total_length=None):
    """A raw pcapng block; `total_length` may lie (both copies)."""
    body = _pad4(body)
    blen = 12 + len(body) if total_length is None else total_length
    return struct.pack(byteorder + "II", btype, blen) + body + struct.pack(byteorder + "I", blen)


def shb(byteorder="<", options=()):
    body = struct.pack(byteorder + "IHHq", 0x1A2B3C4D, 1, 0, -1) + _options(options, byteorder)
    return block(0x0A0D0D0A, body, byteorder)


def idb(linktype=1, tsresol=None, snaplen=262144, tsoffset=None, byteorder="<"):
    """Interface description; `tsresol` is the raw if_tsresol byte
    (6 = microseconds, 9 = nanoseconds, 0x80|n = 2^-n), None for the default."""
    options = []
    if tsresol is not None:
        options.append((9, bytes([tsresol])))
    if tsoffset is not None:
        options.append((14, struct.pack(byteorder + "q", tsoffset)))
    return block(1, struct.pack(byteorder + "HHI", linktype, 0, snaplen) + _options(options, byteorder), byteorder)


def _units(ts, tsresol):
    if tsresol is None:
        per_second = 10**6
    elif tsresol & 0x80:
        per_second = 2 ** (tsresol & 0x7F)
    else:
        per_second = 10**tsresol
    return round(ts * per_second)


def epb(iface, ts, data, tsresol=None, byteorder="<", orig_len=None, captured_len=None):
    units = _units(ts, tsresol)
    body = struct.pack(
        byteorder + "IIIII",
        iface, units >> 32, units & 0xFFFFFFFF,
        len(data) if captured_len is None else captured_len,
        len(data) if orig_len is None else orig_len,
    ) + _pad4(data)  # fmt: skip
    return block(6, body, byteorder)


def spb(data, byteorder="<", orig_len=None):
    return block(3, struct.pack(byteorder + "I", len(data) if orig_len is None else orig_len) + _pad4(data), byteorder)


def pb(iface, ts, data, tsresol=None, byteorder="<"):
    """The obsolete Packet Block (type 2)."""
    units = _units(ts, tsresol)
    body = struct.pack(byteorder + "HHIIII", iface, 0, units >> 32, units & 0xFFFFFFFF, len(data), len(data))
    return block(2, body + _pad4(data), byteorder)


def pcapng_bytes(interfaces=((1, None),), packets=(), byteorder="<"):
    """A one-section pcapng file. `interfaces`: (linktype, tsresol) pairs
    (tsresol as in idb()); `packets`: (iface, ts, data) EPBs, or raw block
    bytes (from block(), spb(), ...) inserted as they are."""
    out = [shb(byteorder)]
    resol = {}
    for i, (linktype, tsresol) in enumerate(interfaces):
        resol[i] = tsresol
        out.append(idb(linktype, tsresol, byteorder=byteorder))
    for pkt in packets:
        if isinstance(pkt, (bytes, bytearray)):
            out.append(bytes(pkt))
        else:
            iface, ts, data = pkt
            out.append(epb(iface, ts, data, resol.get(iface), byteorder))
    return b"".join(out)


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)
