"""UDP scan (-sU). UDP has no handshake: an open port may answer with data or
stay silent, a closed port makes the target's kernel send ICMP port
unreachable.

How the probe looks
    A UDP datagram to the port. nmap sends a protocol payload for well-known
    services (a DNS query to 53, an SNMP get to 161, ...) so that open
    services answer, and an empty datagram elsewhere.

State table (nmap reference guide, "UDP scan")

    response                                     state           reason
    any UDP datagram from the port               open            udp-response
    ICMP port unreachable (3/3, v6 1/4) from the target
                                                 closed          port-unreach
    ICMP port unreachable from another host      filtered        port-unreach
    ICMP unreachable 0,1,2,9,10,13               filtered        the ICMP error's reason
    ICMP time exceeded                           filtered        time-exceeded
    nothing, after retries                       open|filtered   no-response

    Silence is not "open": it is what a firewall that drops the probe, and an
    open service that ignores an empty datagram, both look like.
"""
from ..model import Reason, State, Technique
from .base import (FROM_TARGET, ICMP, ICMP_PORT_UNREACH, ICMP_TIME_EXCEEDED, ICMP_UNREACH, NONE, PROTO, SILENT_OPEN,
                   TTL, UDP_, LabRow, register)

ICMP_PORT_UNREACH_ELSEWHERE = "icmp-port-unreach-elsewhere"  # from a router, not from the target

UDP_TABLE = {
    UDP_: (State.OPEN, Reason.UDP_RESPONSE),
    ICMP_PORT_UNREACH: (State.CLOSED, Reason.PORT_UNREACH),
    ICMP_PORT_UNREACH_ELSEWHERE: (State.FILTERED, Reason.PORT_UNREACH),
    ICMP_UNREACH: (State.FILTERED, None),
    ICMP_TIME_EXCEEDED: (State.FILTERED, None),
    NONE: (State.OPEN_FILTERED, Reason.NO_RESPONSE),
}


def _udp_refine(kind, resp, ex):
    if kind == ICMP_PORT_UNREACH and resp.src != ex.target:
        return ICMP_PORT_UNREACH_ELSEWHERE
    return kind


# The lab's listener answers every datagram (live/listener.py).
UDP = register(Technique.UDP, "udp", None, "-sU", UDP_TABLE, reads={PROTO, ICMP, FROM_TARGET, TTL}, later=SILENT_OPEN,
               title="UDP scan", title_zh="UDP 扫描", live=True, lab=LabRow(5, "UDP", UDP_),
               refine=_udp_refine)
