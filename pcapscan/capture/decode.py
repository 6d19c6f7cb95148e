"""Decode one captured frame (link layer, IP, TCP/UDP/ICMP/ICMPv6) into a
`model.Packet`.

`decode_frame(linktype, data, frame, ts)` is a pure function: it returns a
Packet, or None for anything that is not a decodable IPv4/IPv6 packet (ARP,
STP, garbage, headers cut short, impossible header lengths). It never raises.

Header layouts come from dpkt's declarations (`dpkt.ip.IP.__hdr_fmt__` and
friends), compiled once into `struct.Struct`s and read with `unpack_from`.
The common path (Ethernet/VLAN, Linux cooked v1/v2, loopback, raw IP) is
parsed by hand: building dpkt objects costs about 10x more per packet, since
dpkt decodes every layer into objects, and dpkt stops after two VLAN tags.
The rare Ethernet encapsulations (MPLS, PPPoE, 802.3 LLC/SNAP, Cisco ISL) are
handed to `dpkt.ethernet.Ethernet`, which knows them.

ICMP and ICMPv6 errors quote the offending packet, usually only its IP header
plus 8 bytes, which dpkt refuses to parse; the quote is read by hand.
Checksums are never verified (captures taken at the sender carry offloaded,
i.e. wrong, checksums).
"""
from __future__ import annotations

import struct
from socket import AF_INET, AF_INET6, inet_ntop
from typing import Optional

import dpkt
import dpkt.ethernet
import dpkt.icmp
import dpkt.icmp6
import dpkt.ip
import dpkt.ip6
import dpkt.sll
import dpkt.sll2
import dpkt.tcp
import dpkt.udp

from ..model import Packet, Quoted

__all__ = ["decode_frame", "decode_arp", "LINKTYPE_NAMES", "linktype_name", "next_layer", "family_version"]

# --- link types -------------------------------------------------------------

LINKTYPE_NULL = 0  # BSD loopback: 4-byte address family, host byte order
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_BSD12 = 12  # DLT_RAW as some BSDs write it
LINKTYPE_RAW_BSD14 = 14  # DLT_RAW as OpenBSD writes it
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108  # OpenBSD loopback: address family in network byte order
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

LINKTYPE_NAMES = {
    LINKTYPE_NULL: "null",
    LINKTYPE_ETHERNET: "ethernet",
    LINKTYPE_RAW_BSD12: "raw",
    LINKTYPE_RAW_BSD14: "raw",
    LINKTYPE_RAW: "raw",
    LINKTYPE_LOOP: "loop",
    LINKTYPE_LINUX_SLL: "linux-sll",
    LINKTYPE_IPV4: "ipv4",
    LINKTYPE_IPV6: "ipv6",
    LINKTYPE_LINUX_SLL2: "linux-sll2",
}


def linktype_name(linktype: int) -> str:
    """'ethernet', 'linux-sll', ... or 'link type 147' for one we do not decode."""
    return LINKTYPE_NAMES.get(linktype) or f"link type {linktype}"


# --- header layouts, as dpkt declares them ----------------------------------


class Header:
    """A header as dpkt declares it (`__hdr__`): each field's offset and
    struct format, its size, and a compiled struct of the whole. The fast
    path's bulk decoder (fastpath/columns.py) derives its numpy layouts from
    these too."""

    def __init__(self, cls):
        self.struct = struct.Struct(cls.__hdr_fmt__)
        self.size = self.struct.size
        self.fields: dict = {}  # name -> (offset, struct format)
        at = 0
        for name, fmt, _default in cls.__hdr__:
            self.fields[name] = (at, fmt)
            at += struct.calcsize(">" + fmt)

    def at(self, name: str) -> int:
        return self.fields[name][0]


ETH = Header(dpkt.ethernet.Ethernet)  # dst, src, type: 14 bytes
SLL = Header(dpkt.sll.SLL)  # 16 bytes, the ethertype in its last 2
SLL2 = Header(dpkt.sll2.SLL2)  # 20 bytes, the ethertype in its first 2
IP4 = Header(dpkt.ip.IP)  # _v_hl, tos, len, id, _flags_offset, ttl, p, sum, src, dst: 20 bytes
IP6 = Header(dpkt.ip6.IP6)  # _v_fc_flow, plen, nxt, hlim, src, dst: 40 bytes
TCP = Header(dpkt.tcp.TCP)  # sport, dport, seq, ack, _off_flags, win, sum, urp: 20 bytes
UDP = Header(dpkt.udp.UDP)  # sport, dport, ulen, sum: 8 bytes
LOOPBACK_HDR_LEN = 4  # the address family, a 32-bit word

_IP4 = IP4.struct
_IP6 = IP6.struct
_TCP = TCP.struct
_UDP = UDP.struct
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_PORTS = struct.Struct(">HH")
_PORTS_SEQ = struct.Struct(">HHI")

_ETH_HDR_LEN = ETH.size
_SLL_HDR_LEN = SLL.size
_SLL2_HDR_LEN = SLL2.size
_ETH_TYPE_AT, _SLL_TYPE_AT, _SLL2_TYPE_AT = ETH.at("type"), SLL.at("ethtype"), SLL2.at("ethtype")
_VLAN_TAG_LEN = dpkt.ethernet.VLANtag8021Q.__hdr_len__  # 4
_MAX_VLAN_TAGS = 16

ETH_TYPE_IP = dpkt.ethernet.ETH_TYPE_IP
ETH_TYPE_IP6 = dpkt.ethernet.ETH_TYPE_IP6
_VLAN_TPIDS = frozenset(
    (
        dpkt.ethernet.ETH_TYPE_8021Q,  # 0x8100
        dpkt.ethernet.ETH_TYPE_8021AD,  # 0x88a8
        dpkt.ethernet.ETH_TYPE_QINQ1,  # 0x9100
        dpkt.ethernet.ETH_TYPE_QINQ2,  # 0x9200
    )
)
# Ethernet encapsulations that dpkt.ethernet unwraps for us (rare: slow path).
_DPKT_ETHERTYPES = frozenset(
    (
        dpkt.ethernet.ETH_TYPE_MPLS,
        dpkt.ethernet.ETH_TYPE_MPLS_MCAST,
        dpkt.ethernet.ETH_TYPE_PPPoE,
    )
)

# Address families in loopback headers (tcpdump's LINKTYPE_NULL page).
_AF_INET_BSD = 2
_AF_INET6_BSD = frozenset((24, 28, 30))  # NetBSD/OpenBSD, FreeBSD, Darwin


P_ICMP = dpkt.ip.IP_PROTO_ICMP  # 1
P_TCP = dpkt.ip.IP_PROTO_TCP  # 6
P_UDP = dpkt.ip.IP_PROTO_UDP  # 17
P_ICMP6 = dpkt.ip.IP_PROTO_ICMP6  # 58
_V6_EXT_SIMPLE = frozenset(
    (dpkt.ip.IP_PROTO_HOPOPTS, dpkt.ip.IP_PROTO_ROUTING, dpkt.ip.IP_PROTO_DSTOPTS)  # 0, 43, 60
)
_V6_FRAGMENT = dpkt.ip.IP_PROTO_FRAGMENT  # 44
_V6_AH = dpkt.ip.IP_PROTO_AH  # 51: length in 4-byte units
_MAX_V6_EXT = 16

_ICMP4_ERRORS = frozenset(
    (
        dpkt.icmp.ICMP_UNREACH,  # 3
        dpkt.icmp.ICMP_SRCQUENCH,  # 4
        dpkt.icmp.ICMP_REDIRECT,  # 5
        dpkt.icmp.ICMP_TIMEXCEED,  # 11
        dpkt.icmp.ICMP_PARAMPROB,  # 12
    )
)
_ICMP6_ERRORS = frozenset(
    (
        dpkt.icmp6.ICMP6_DST_UNREACH,  # 1
        dpkt.icmp6.ICMP6_PACKET_TOO_BIG,  # 2
        dpkt.icmp6.ICMP6_TIME_EXCEEDED,  # 3
        dpkt.icmp6.ICMP6_PARAM_PROB,  # 4
    )
)
_ICMP_ERROR_HDR_LEN = 8  # type, code, checksum, 4 bytes unused/mtu/pointer/gateway

P_SCTP = 132
_SCTP_HDR_LEN = 12  # ports, verification tag, checksum; the first chunk follows
_SCTP_INIT_CHUNKS = frozenset((1, 2))  # INIT, INIT-ACK: their initiate tag follows the chunk header
# ICMP query messages whose identifier and sequence number pcapscan reads:
# echo, timestamp and address-mask requests and replies (RFC 792, 950); ICMPv6 echo (RFC 4443).
_ICMP4_QUERIES = frozenset((0, 8, 13, 14, 17, 18))
_ICMP6_QUERIES = frozenset((128, 129))
_ND_TYPES = frozenset((135, 136))  # ICMPv6 neighbour solicitation, advertisement (RFC 4861)
_ND_ADVERTISEMENT = 136

_QUOTED_PROTO_NAMES = {P_TCP: "tcp", P_UDP: "udp", P_ICMP: "icmp", P_ICMP6: "icmp6", P_SCTP: "sctp"}

# --- what follows a link header: the rules both decoders read ----------------
# decode_frame follows them packet by packet; the fast path's bulk decoder
# evaluates them once per distinct type field of a batch and hands every
# record they send to VLAN or UNWRAP to decode_frame.

VLAN = "vlan"  # VLAN tags: the ethertype again after each
UNWRAP = "unwrap"  # an encapsulation dpkt unwraps: MPLS, PPPoE, an 802.3 length (LLC/SNAP, Cisco ISL)
ETH_MAX_LENGTH_FIELD = 1500  # a type field this small is an 802.3 length


def next_layer(etype: int, unwrap: bool):
    """What an ethertype leads to: 4 or 6 (IP of that version), VLAN,
    UNWRAP (only where `unwrap`: Ethernet's own type field), or NOT_IP."""
    if etype == ETH_TYPE_IP:
        return 4
    if etype == ETH_TYPE_IP6:
        return 6
    if etype in _VLAN_TPIDS:
        return VLAN
    if unwrap and (etype in _DPKT_ETHERTYPES or etype <= ETH_MAX_LENGTH_FIELD):
        return UNWRAP
    return NOT_IP


def loopback_family(word_le: int) -> int:
    """A BSD loopback header's address family from its 4 bytes read
    little-endian: it is in the capturing host's byte order, either."""
    return word_le if word_le <= 0xFFFF else int.from_bytes(word_le.to_bytes(4, "little"), "big")


def family_version(af: int):
    """4 or 6 for a loopback header's address family, else NOT_IP."""
    if af == _AF_INET_BSD:
        return 4
    if af in _AF_INET6_BSD:
        return 6
    return NOT_IP


# IP payloads the bulk decoder reads itself: TCP and UDP, not a later fragment,
# after an IPv6 header with no extension headers. ICMP (its quotes), SCTP, other
# protocols, fragments and extension headers go through decode_frame.
BULK_PROTOS = (P_TCP, P_UDP)
IP4_OFFSET_MASK = dpkt.ip.IP_OFFMASK  # the fragment offset in _flags_offset: nonzero in a later fragment

# --- address text, cached (scans involve few addresses; share the strings) ---

_NAME_CACHE_MAX = 1 << 16
_names4: dict = {}
_names6: dict = {}


def _ntop4(raw: bytes) -> str:
    name = _names4.get(raw)
    if name is None:
        name = inet_ntop(AF_INET, raw)
        if len(_names4) < _NAME_CACHE_MAX:
            _names4[raw] = name
    return name


def _ntop6(raw: bytes) -> str:
    name = _names6.get(raw)
    if name is None:
        name = inet_ntop(AF_INET6, raw)
        if len(_names6) < _NAME_CACHE_MAX:
            _names6[raw] = name
    return name



class _NotIP:
    """The answer for a frame that decodes fine but carries no IP (ARP, LLDP)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_IP"


NOT_IP = _NotIP()

# --- link layers: each returns (ip_version, buffer, offset) or None ----------


def _ethertype(data: bytes, etype: int, off: int, unwrap: bool = False):
    """Resolve an ethertype at `off`, stepping over any VLAN tags (next_layer's rules)."""
    tags = 0
    nxt = next_layer(etype, unwrap)
    while nxt is VLAN:
        tags += 1
        if tags > _MAX_VLAN_TAGS:
            return None
        etype = (data[off + 2] << 8) | data[off + 3]
        off += _VLAN_TAG_LEN
        nxt = next_layer(etype, False)
    if nxt is UNWRAP:
        return _via_dpkt(dpkt.ethernet.Ethernet, data)
    if nxt is NOT_IP:
        return NOT_IP  # ARP, LLDP, ...
    return nxt, data, off


def _link_ethernet(data: bytes):
    return _ethertype(data, (data[_ETH_TYPE_AT] << 8) | data[_ETH_TYPE_AT + 1], _ETH_HDR_LEN, unwrap=True)


def _link_sll(data: bytes):
    if len(data) < _SLL_HDR_LEN:
        return None
    return _ethertype(data, (data[_SLL_TYPE_AT] << 8) | data[_SLL_TYPE_AT + 1], _SLL_HDR_LEN)


def _link_sll2(data: bytes):
    if len(data) < _SLL2_HDR_LEN:
        return None
    return _ethertype(data, (data[_SLL2_TYPE_AT] << 8) | data[_SLL2_TYPE_AT + 1], _SLL2_HDR_LEN)


def _family(af: int, data: bytes):
    version = family_version(af)
    return NOT_IP if version is NOT_IP else (version, data, LOOPBACK_HDR_LEN)


def _link_null(data: bytes):
    # Host byte order of the machine that captured: accept either.
    if len(data) < LOOPBACK_HDR_LEN:
        return None
    return _family(loopback_family(int.from_bytes(data[:4], "little")), data)


def _link_loop(data: bytes):
    if len(data) < LOOPBACK_HDR_LEN:
        return None
    return _family(int.from_bytes(data[:4], "big"), data)


def _link_raw(data: bytes):
    version = data[0] >> 4
    if version == 4 or version == 6:
        return version, data, 0
    return None


def _link_ipv4(data: bytes):
    return 4, data, 0


def _link_ipv6(data: bytes):
    return 6, data, 0


def _via_dpkt(cls, data: bytes):
    """Slow path: let dpkt peel an unusual encapsulation, then re-serialise
    the IP packet it finds (dpkt gives no offsets)."""
    try:
        layer = cls(data)
        for _ in range(8):
            layer = layer.data
            if isinstance(layer, dpkt.ip.IP):
                return 4, bytes(layer), 0
            if isinstance(layer, dpkt.ip6.IP6):
                return 6, bytes(layer), 0
            if not isinstance(layer, dpkt.Packet):
                return NOT_IP  # dpkt decoded it, and found no IP inside (STP, CDP...)
    except Exception:  # dpkt raises many kinds on odd input: never let them out
        return None
    return None


_LINK = {
    LINKTYPE_NULL: _link_null,
    LINKTYPE_ETHERNET: _link_ethernet,
    LINKTYPE_RAW_BSD12: _link_raw,
    LINKTYPE_RAW_BSD14: _link_raw,
    LINKTYPE_RAW: _link_raw,
    LINKTYPE_LOOP: _link_loop,
    LINKTYPE_LINUX_SLL: _link_sll,
    LINKTYPE_IPV4: _link_ipv4,
    LINKTYPE_IPV6: _link_ipv6,
    LINKTYPE_LINUX_SLL2: _link_sll2,
}


# --- ARP (not IP: decoded only on request, see containers.read_packets) ------

ETH_TYPE_ARP = dpkt.ethernet.ETH_TYPE_ARP  # 0x0806
_ARP_ETH_IP = struct.Struct(">HHBBH6s4s6s4s")  # RFC 826 for Ethernet/IPv4: 28 bytes


def _arp_offset(linktype: int, data: bytes) -> Optional[int]:
    """Where the ARP message starts in a frame, or None when it is no ARP."""
    if linktype == LINKTYPE_ETHERNET:
        etype, off = (data[_ETH_TYPE_AT] << 8) | data[_ETH_TYPE_AT + 1], _ETH_HDR_LEN
    elif linktype == LINKTYPE_LINUX_SLL:
        etype, off = (data[_SLL_TYPE_AT] << 8) | data[_SLL_TYPE_AT + 1], _SLL_HDR_LEN
    elif linktype == LINKTYPE_LINUX_SLL2:
        etype, off = (data[_SLL2_TYPE_AT] << 8) | data[_SLL2_TYPE_AT + 1], _SLL2_HDR_LEN
    else:
        return None
    tags = 0
    while etype in _VLAN_TPIDS and tags < _MAX_VLAN_TAGS:
        etype = (data[off + 2] << 8) | data[off + 3]
        off += _VLAN_TAG_LEN
        tags += 1
    return off if etype == ETH_TYPE_ARP else None


def decode_arp(linktype: int, data: bytes, frame: int, ts: float) -> Optional[Packet]:
    """An Ethernet/IPv4 ARP request or reply as a Packet (proto "arp": src and
    dst are the sender and target protocol addresses, icmp_type the
    operation), or None for anything else. Never raises."""
    try:
        off = _arp_offset(linktype, data)
        if off is None:
            return None
        htype, ptype, hlen, plen, op, sha, spa, _tha, tpa = _ARP_ETH_IP.unpack_from(data, off)
    except (struct.error, IndexError):
        return None
    if htype != 1 or ptype != ETH_TYPE_IP or hlen != 6 or plen != 4:
        return None
    return Packet(frame, ts, _ntop4(spa), _ntop4(tpa), "arp", 4, 0, 0, 28, icmp_type=op, hw=mac_text(sha))


def mac_text(raw: bytes) -> str:
    """A MAC address as nmap writes it: upper-case hex, colons."""
    return ":".join(f"{b:02X}" for b in raw)


def _nd_target_lla(buf, at: int, end: int):
    """The target link-layer address option (RFC 4861 4.6.1, type 2) among
    the options of a neighbour advertisement, from `at` to `end`; None."""
    while at + 2 <= end:
        kind, units = buf[at], buf[at + 1]
        if units == 0:
            return None  # a zero-length option: RFC 4861 says drop the packet
        if kind == 2 and units == 1 and at + 8 <= end:
            return mac_text(bytes(buf[at + 2 : at + 8]))
        at += 8 * units
    return None


# --- the entry point --------------------------------------------------------


def decode_frame(linktype: int, data: bytes, frame: int, ts: float):
    """Decode one captured frame into a Packet; NOT_IP for a well-formed frame
    that carries something else (ARP, LLDP), None when it does not decode."""
    link = _LINK.get(linktype)
    if link is None:
        return None
    try:
        found = link(data)
        if found is None or found is NOT_IP:
            return found
        version, buf, off = found
        if version == 4:
            return _ipv4(buf, off, frame, ts)
        return _ipv6(buf, off, frame, ts)
    except (struct.error, IndexError, ValueError):
        return None  # a header cut short or otherwise impossible


# --- network layer ----------------------------------------------------------


def _ipv4(buf: bytes, off: int, frame: int, ts: float) -> Optional[Packet]:
    vhl, _tos, total, ip_id, frag, ttl, proto, _sum, src, dst = _IP4.unpack_from(buf, off)
    if vhl >> 4 != 4:
        return None
    ihl = (vhl & 0x0F) << 2
    if ihl < 20:
        return None
    captured = len(buf)
    l4 = off + ihl
    if l4 > captured:
        return None
    if total == 0:  # TCP segmentation offload: the kernel leaves it to the NIC
        total = captured - off
    elif total < ihl:
        return None
    end = off + total
    if end > captured:  # snaplen cut it; below, lengths still follow the IP header
        end = captured
    src = _names4.get(src) or _ntop4(src)
    dst = _names4.get(dst) or _ntop4(dst)
    if frag & IP4_OFFSET_MASK:  # a later fragment: no transport header here
        return Packet(frame, ts, src, dst, "ip", 4, ttl, ip_id, total, ip_proto=proto)
    return _transport(buf, l4, end, total - ihl, proto, frame, ts, src, dst, 4, ttl, ip_id, total)


def _ipv6(buf: bytes, off: int, frame: int, ts: float) -> Optional[Packet]:
    vfl, plen, nxt, hlim, src, dst = _IP6.unpack_from(buf, off)
    if vfl >> 28 != 6:
        return None
    captured = len(buf)
    l4 = off + 40
    if plen == 0:  # jumbogram or segmentation offload: trust what was captured
        plen = captured - l4
    end = l4 + plen
    if end > captured:
        end = captured
    src = _names6.get(src) or _ntop6(src)
    dst = _names6.get(dst) or _ntop6(dst)
    walked = _walk_v6(buf, nxt, l4, end)
    if walked is None:
        return None
    proto, upper, later_fragment = walked
    length = plen + 40
    if later_fragment:
        return Packet(frame, ts, src, dst, "ip", 6, hlim, 0, length, ip_proto=proto)
    return _transport(buf, upper, end, plen - (upper - l4), proto, frame, ts, src, dst, 6, hlim, 0, length)


def _walk_v6(buf: bytes, nxt: int, i: int, end: int):
    """Step over IPv6 extension headers: (upper protocol, its offset,
    is-a-later-fragment), or None when a header runs past `end`."""
    for _ in range(_MAX_V6_EXT):
        if nxt in _V6_EXT_SIMPLE:
            if i + 2 > end:
                return None
            nxt, i = buf[i], i + ((buf[i + 1] + 1) << 3)
        elif nxt == _V6_FRAGMENT:
            if i + 8 > end:
                return None
            nxt, offset = buf[i], _U16.unpack_from(buf, i + 2)[0] >> 3
            i += 8
            if offset:
                return nxt, i, True
        elif nxt == _V6_AH:
            if i + 2 > end:
                return None
            nxt, i = buf[i], i + ((buf[i + 1] + 2) << 2)
        else:
            break
    else:
        return None  # absurdly many extension headers
    if i > end:
        return None
    return nxt, i, False


# --- transport layer --------------------------------------------------------


def _transport(buf, l4, end, l4_len, proto, frame, ts, src, dst, version, ttl, ip_id, length):
    """`l4_len` is the transport length the IP header implies; `end` is where
    the usable captured bytes stop."""
    if proto == P_TCP:
        if l4 + 20 > end:
            return None
        sport, dport, seq, ack, off_flags, window, _sum, _urp = _TCP.unpack_from(buf, l4)
        doff = (off_flags >> 12) << 2
        if doff < 20:
            return None
        if doff == 20:
            options, mss = (), None
        else:
            opt_end = l4 + doff
            options, mss = tcp_options(buf, l4 + 20, opt_end if opt_end < end else end)
        payload = l4_len - doff
        return Packet(
            frame, ts, src, dst, "tcp", version, ttl, ip_id, length,
            sport, dport, off_flags & 0xFF, seq, ack, window, options, mss,
            payload if payload > 0 else 0, None, None, None, P_TCP,
        )  # fmt: skip
    if proto == P_UDP:
        if l4 + 8 > end:
            return None
        sport, dport, ulen, _sum = _UDP.unpack_from(buf, l4)
        avail = l4_len - 8
        payload = ulen - 8 if ulen >= 8 and ulen - 8 < avail else avail
        return Packet(
            frame, ts, src, dst, "udp", version, ttl, ip_id, length, sport, dport,
            payload_len=payload if payload > 0 else 0, ip_proto=P_UDP,
        )  # fmt: skip
    if proto == P_ICMP:
        if l4 + 4 > end:
            return None
        icmp_type = buf[l4]
        quoted = _quote_v4(buf, l4 + _ICMP_ERROR_HDR_LEN, end) if icmp_type in _ICMP4_ERRORS else None
        ident = seq = None
        if icmp_type in _ICMP4_QUERIES and l4 + 8 <= end:
            ident, seq = _PORTS.unpack_from(buf, l4 + 4)
        return Packet(
            frame, ts, src, dst, "icmp", version, ttl, ip_id, length,
            icmp_type=icmp_type, icmp_code=buf[l4 + 1], quoted=quoted, ip_proto=P_ICMP,
            icmp_id=ident, icmp_seq=seq,
        )  # fmt: skip
    if proto == P_ICMP6:
        if l4 + 4 > end:
            return None
        icmp_type = buf[l4]
        quoted = _quote_v6(buf, l4 + _ICMP_ERROR_HDR_LEN, end) if icmp_type in _ICMP6_ERRORS else None
        ident = seq = nd_target = hw = None
        if icmp_type in _ICMP6_QUERIES and l4 + 8 <= end:
            ident, seq = _PORTS.unpack_from(buf, l4 + 4)
        elif icmp_type in _ND_TYPES and l4 + 24 <= end:
            nd_target = _ntop6(buf[l4 + 8 : l4 + 24])
            if icmp_type == _ND_ADVERTISEMENT:
                hw = _nd_target_lla(buf, l4 + 24, end)
        return Packet(
            frame, ts, src, dst, "icmp6", version, ttl, ip_id, length,
            icmp_type=icmp_type, icmp_code=buf[l4 + 1], quoted=quoted, ip_proto=P_ICMP6,
            icmp_id=ident, icmp_seq=seq, nd_target=nd_target, hw=hw,
        )  # fmt: skip
    if proto == P_SCTP and l4 + _SCTP_HDR_LEN <= end:
        sport, dport, vtag = _PORTS_SEQ.unpack_from(buf, l4)
        chunk = l4 + _SCTP_HDR_LEN
        chunk_type = buf[chunk] if chunk < end else None
        init_tag = _U32.unpack_from(buf, chunk + 4)[0] if chunk_type in _SCTP_INIT_CHUNKS and chunk + 8 <= end else 0
        return Packet(
            frame, ts, src, dst, "sctp", version, ttl, ip_id, length, sport, dport, seq=vtag, ack=init_tag,
            payload_len=max(0, l4_len - _SCTP_HDR_LEN), ip_proto=P_SCTP, chunk_type=chunk_type,
        )  # fmt: skip
    return Packet(frame, ts, src, dst, "ip", version, ttl, ip_id, length, payload_len=max(0, l4_len), ip_proto=proto)


def tcp_options(buf: bytes, i: int, end: int):
    """Option kinds in wire order (NOP included; EOL included and ends the
    list) and the MSS value. Stops quietly at a malformed option."""
    kinds = []
    mss = None
    while i < end:
        kind = buf[i]
        kinds.append(kind)
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= end:
            break
        size = buf[i + 1]
        if size < 2:
            break
        if kind == 2 and size == 4 and i + 4 <= end:
            mss = (buf[i + 2] << 8) | buf[i + 3]
        i += size
    return tuple(kinds), mss


# --- the packet an ICMP error quotes ----------------------------------------


def _quoted_l4(buf: bytes, i: int, end: int, proto: int, src: str, dst: str, fragment: bool) -> Quoted:
    name = _QUOTED_PROTO_NAMES.get(proto) or str(proto)
    if fragment or (proto != P_TCP and proto != P_UDP and proto != P_SCTP) or i + 4 > end:
        return Quoted(src, dst, name)
    if (proto == P_TCP or proto == P_SCTP) and i + 8 <= end:  # SCTP: seq is the verification tag
        sport, dport, seq = _PORTS_SEQ.unpack_from(buf, i)
        return Quoted(src, dst, name, sport, dport, seq)
    sport, dport = _PORTS.unpack_from(buf, i)
    return Quoted(src, dst, name, sport, dport)


def _quote_v4(buf: bytes, i: int, end: int) -> Optional[Quoted]:
    if i + 20 > end:
        return None
    vhl = buf[i]
    ihl = (vhl & 0x0F) << 2
    if vhl >> 4 != 4 or ihl < 20:
        return None
    src = _ntop4(buf[i + 12 : i + 16])
    dst = _ntop4(buf[i + 16 : i + 20])
    fragment = bool(_U16.unpack_from(buf, i + IP4.at("_flags_offset"))[0] & IP4_OFFSET_MASK)
    return _quoted_l4(buf, i + ihl, end, buf[i + 9], src, dst, fragment)


def _quote_v6(buf: bytes, i: int, end: int) -> Optional[Quoted]:
    if i + 40 > end or buf[i] >> 4 != 6:
        return None
    src = _ntop6(buf[i + 8 : i + 24])
    dst = _ntop6(buf[i + 24 : i + 40])
    nxt = buf[i + 6]
    walked = _walk_v6(buf, nxt, i + 40, end)
    if walked is None:  # the quote stops inside an extension header
        return Quoted(src, dst, _QUOTED_PROTO_NAMES.get(nxt) or str(nxt))
    proto, upper, later_fragment = walked
    return _quoted_l4(buf, upper, end, proto, src, dst, later_fragment)
