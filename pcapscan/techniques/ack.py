"""The ACK family: ACK scan (-sA) and window scan (-sW). Both send a bare
ACK, which every RFC 793 stack answers with RST whether the port is open or
closed; they map firewall rules, not services.

How the probe looks
    ACK only (scapy flags "A"), no payload. The answering RST takes its
    sequence number from the probe's acknowledgment number (RFC 793).
    ack and window probes are identical on the wire: pcapscan reports "ack"
    unless the user asks for `--technique window`.

ACK scan state table (nmap reference guide, "TCP ACK scan")

    response                          state        reason
    RST                               unfiltered   reset
    ICMP unreachable 0,1,2,3,9,10,13  filtered     the ICMP error's reason
    nothing, after retries            filtered     no-response

Window scan state table (nmap reference guide, "TCP Window scan")

    response                          state        reason
    RST with a non-zero window        open         reset
    RST with window 0                 closed       reset
    ICMP unreachable 0,1,2,3,9,10,13  filtered     the ICMP error's reason
    nothing, after retries            filtered     no-response

    Most current stacks (Linux included) send window 0 on every RST, so a
    window scan of them reads every unfiltered port closed.
"""
from ..model import Reason, State, Technique
from .base import (CLOSED_MAY_CHANGE, FLAGS, ICMP, ICMP_PORT_UNREACH, ICMP_TIME_EXCEEDED, ICMP_UNREACH, NONE, PROTO,
                   RST_, TTL, WINDOW_NONZERO, LabRow, register)

RST_NONZERO_WINDOW = "rst-window"  # window scan only: a RST whose window is not 0

ACK_TABLE = {
    RST_: (State.UNFILTERED, Reason.RESET),
    ICMP_UNREACH: (State.FILTERED, None),
    ICMP_PORT_UNREACH: (State.FILTERED, None),
    ICMP_TIME_EXCEEDED: (State.FILTERED, None),
    NONE: (State.FILTERED, Reason.NO_RESPONSE),
}

WINDOW_TABLE = {
    RST_NONZERO_WINDOW: (State.OPEN, Reason.RESET),
    RST_: (State.CLOSED, Reason.RESET),
    ICMP_UNREACH: (State.FILTERED, None),
    ICMP_PORT_UNREACH: (State.FILTERED, None),
    ICMP_TIME_EXCEEDED: (State.FILTERED, None),
    NONE: (State.FILTERED, Reason.NO_RESPONSE),
}


def _window_refine(kind, resp, _ex):
    return RST_NONZERO_WINDOW if kind == RST_ and resp.window else kind


ACK = register(Technique.ACK, "tcp", "A", "-sA", ACK_TABLE, reads={PROTO, FLAGS, ICMP, TTL},
               later=CLOSED_MAY_CHANGE, title="ACK scan", title_zh="ACK 扫描", live=True,
               lab=LabRow(6, "TCP ACK", RST_))

# Window probes are ACK probes: read so only when asked (--technique window).
WINDOW = register(Technique.WINDOW, "tcp", "A", "-sW", WINDOW_TABLE, reads={PROTO, FLAGS, WINDOW_NONZERO, ICMP, TTL},
                  later=CLOSED_MAY_CHANGE, title="Window scan", title_zh="Window 扫描", inferred=False, live=True,
                  lab=LabRow(7, "TCP Window", RST_), refine=_window_refine)
