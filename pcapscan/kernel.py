"""What an operating system's TCP stack sends by itself, as opposed to what a
scanning tool crafts: the options it puts on a connect()'s SYN, and the RST
it answers a SYN/ACK with when none of its sockets asked for one (RFC 793,
"Reset Generation": the raw-socket scanner's own kernel does this after
nmap -sS or scapy sent the SYN).

fingerprint, compare, verify and techniques ask these questions here, so
that one packet is given one sender wherever it is shown.
"""
from __future__ import annotations

from typing import Iterable

from .model import ACK, RST, SYN, TCP_BASE_FLAGS, Exchange, Packet

# Options an operating system puts on the SYN of a connect(): window scale,
# SACK permitted, timestamps. nmap's raw SYN carries MSS alone, scapy's none.
OS_SYN_OPTION_KINDS = frozenset({3, 4, 8})


def synacks(ex: Exchange) -> list:
    """The SYN/ACKs among an exchange's responses: what a kernel RST answers."""
    return [r for r in ex.responses if r.proto == "tcp" and r.flags & SYN and r.flags & ACK]


def is_kernel_rst(pkt: Packet, answered: Iterable[Packet]) -> bool:
    """Is `pkt` a kernel's answer to one of the SYN/ACKs `answered`, for
    which it has no socket? Linux sends a bare RST (no ACK), window 0, no
    payload, from the port the SYN/ACK went to and to the port it came from,
    with seq = the SYN/ACK's acknowledgment number (RFC 793: a reset for a
    segment that carries ACK takes its seq from SEG.ACK)."""
    if pkt.flags & TCP_BASE_FLAGS != RST or pkt.window != 0 or pkt.payload_len:
        return False
    return any(pkt.seq == sa.ack and pkt.sport == sa.dport and pkt.dport == sa.sport for sa in answered)
