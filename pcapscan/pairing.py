"""Pairing for the probes that are not port probes: ARP and neighbour
discovery, ICMP queries (echo, timestamp, address mask; ICMPv6 echo) and the
unsolicited SYN/ACKs an idle scan sends its zombie.

Mechanism only, like exchanges.py (which follows TCP, UDP, SCTP and IP
protocol flows): this module says which packet asks and which answers; the
policy modules (techniques/discovery.py, idle.py, detection.py) say what it
means. It yields the same `model.Exchange` records:

    proto "arp"   scanner = the asker (sender protocol address), target = the
                  address asked about, port 0. A reply answers when it comes
                  from the asked address to the asker (RFC 826): paired by
                  address, never by MAC, since some hosts answer to broadcast.
    proto "nd"    ICMPv6 neighbour solicitation (135) for `nd_target`, and the
                  advertisement (136) for the same target back to the asker.
    proto "icmp", "icmp6"
                  requests 8, 13, 17 (ICMPv6 128), port = the request type;
                  a reply (0, 14, 18; ICMPv6 129) answers the request of the
                  same identifier between the same hosts (nmap's
                  icmp_probe_match). Exchanges are grouped per (scanner,
                  target, type, code, IP length), so a retry with a new
                  identifier joins its first try, and nmap's OS-detection
                  echoes (odd codes and sizes) stay apart.
    proto "tcp" with SYN/ACK probes
                  a SYN/ACK that answers no SYN seen in the capture (the
                  replay engine's `has_flow`), and the RST that answers it
                  (seq = the SYN/ACK's ack): an idle scan's zombie probes.

Gratuitous ARP (sender = target) and duplicate-address detection (ND from
::) ask nobody and are left out.
"""
from __future__ import annotations

from .model import ACK, RST, SYN, Exchange, Packet

ICMP_REPLY_OF = {"icmp": {0: 8, 14: 13, 18: 17}, "icmp6": {129: 128}}
ICMP_REQUESTS = {"icmp": frozenset((8, 13, 17)), "icmp6": frozenset((128,))}
ARP_REQUEST, ARP_REPLY = 1, 2
ND_SOLICIT, ND_ADVERT = 135, 136


class _Group:
    __slots__ = ("probes", "responses")

    def __init__(self) -> None:
        self.probes: list = []
        self.responses: list = []


class QueryEngine:
    """Feed packets in capture order (before the replay engine sees them, so
    `flows` still tells a SYN/ACK that answers a SYN from one that does not);
    collect `exchanges()` at the end."""

    def __init__(self, flows=None) -> None:
        self._flows = flows  # exchanges.ReplayEngine, or None: every SYN/ACK is a candidate
        self._groups: dict = {}  # group key -> _Group, in order of first probe
        self._pending: dict = {}  # answer key -> group key
        self._synacks: dict = {}  # (zombie, zport, scanner, sport) -> group key

    def _group(self, gkey) -> _Group:
        grp = self._groups.get(gkey)
        if grp is None:
            grp = self._groups[gkey] = _Group()
        return grp

    def feed(self, pkt: Packet) -> None:
        proto = pkt.proto
        if proto == "tcp" and not pkt.flags & SYN and not (pkt.flags & RST and self._synacks):
            return  # the common case, first: nothing here for this module
        if proto == "arp":
            self._arp(pkt)
        elif proto in ICMP_REQUESTS and pkt.quoted is None:
            if pkt.icmp_type in (ND_SOLICIT, ND_ADVERT) and proto == "icmp6":
                self._nd(pkt)
            else:
                self._icmp(pkt)
        elif proto == "tcp" and pkt.flags & (SYN | ACK) == (SYN | ACK) and not pkt.flags & RST:
            self._synack(pkt)
        elif proto == "tcp" and pkt.flags & RST and self._synacks:
            gkey = self._synacks.get((pkt.src, pkt.sport, pkt.dst, pkt.dport))
            if gkey is not None:
                grp = self._groups[gkey]
                if any(p.ack == pkt.seq for p in grp.probes):
                    grp.responses.append(pkt)

    def _arp(self, pkt: Packet) -> None:
        if pkt.src == pkt.dst or pkt.src == "0.0.0.0":
            return  # gratuitous ARP, or an ARP probe (RFC 5227): no question to anyone
        if pkt.icmp_type == ARP_REQUEST:
            gkey = ("arp", pkt.src, pkt.dst, 0)
            self._group(gkey).probes.append(pkt)
        elif pkt.icmp_type == ARP_REPLY:
            grp = self._groups.get(("arp", pkt.dst, pkt.src, 0))
            if grp is not None:
                grp.responses.append(pkt)

    def _nd(self, pkt: Packet) -> None:
        if pkt.nd_target is None or pkt.src == "::":
            return
        if pkt.icmp_type == ND_SOLICIT:
            self._group(("nd", pkt.src, pkt.nd_target, 0)).probes.append(pkt)
        else:
            grp = self._groups.get(("nd", pkt.dst, pkt.nd_target, 0))
            if grp is not None:
                grp.responses.append(pkt)

    def _icmp(self, pkt: Packet) -> None:
        if pkt.icmp_id is None:
            return
        proto = pkt.proto
        if pkt.icmp_type in ICMP_REQUESTS[proto]:
            gkey = (proto, pkt.src, pkt.dst, pkt.icmp_type, pkt.icmp_code, pkt.length)
            self._group(gkey).probes.append(pkt)
            self._pending[(proto, pkt.src, pkt.dst, pkt.icmp_id, pkt.icmp_type)] = gkey
            return
        request = ICMP_REPLY_OF[proto].get(pkt.icmp_type)
        if request is None:
            return
        gkey = self._pending.get((proto, pkt.dst, pkt.src, pkt.icmp_id, request))
        if gkey is not None:
            self._groups[gkey].responses.append(pkt)

    def _synack(self, pkt: Packet) -> None:
        if self._flows is not None and self._flows.has_flow(("tcp", pkt.dst, pkt.dport, pkt.src, pkt.sport)):
            return  # it answers a SYN: a handshake, not a probe
        gkey = ("tcp", pkt.src, pkt.dst, pkt.dport)
        self._group(gkey).probes.append(pkt)
        self._synacks[(pkt.dst, pkt.dport, pkt.src, pkt.sport)] = gkey

    def exchanges(self) -> list[Exchange]:
        out = []
        for gkey, grp in self._groups.items():
            if gkey[0] == "tcp" and self._flows is not None:  # a SYN/ACK a later-written SYN took
                grp.probes = [p for p in grp.probes if not self._flows.answered_early(p)]
            if not grp.probes:
                continue
            proto, scanner, target = gkey[0], gkey[1], gkey[2]
            port = gkey[3] if proto in ("icmp", "icmp6", "tcp") else 0
            out.append(Exchange(scanner=scanner, target=target, proto=proto, port=port,
                                probes=tuple(grp.probes), responses=tuple(grp.responses)))
        return out
