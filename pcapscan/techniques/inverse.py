"""The inverse-mapping family: FIN (-sF), Xmas (-sX), NULL (-sN) and Maimon
(-sM). They rely on RFC 793 (page 65): a segment without SYN, RST or ACK
that reaches a CLOSED port is answered with RST; one reaching a LISTEN port
is silently dropped. So an answer proves "closed" and silence proves nothing
more than "open or filtered".

How the probes look
    fin     FIN                  (scapy flags "F")
    xmas    FIN, PSH, URG        ("FPU": lit up like a Christmas tree)
    null    no flag at all       ("")
    maimon  FIN and ACK          ("FA"; Uriel Maimon's observation that many
            BSD stacks drop FIN/ACK on open ports instead of resetting)

State table (nmap reference guide, "TCP FIN, NULL, and Xmas scans", "TCP Maimon scan")

    response                          state           reason
    RST or RST/ACK                    closed          reset
    ICMP unreachable 0,1,2,3,9,10,13  filtered        the ICMP error's reason
    ICMP time exceeded                filtered        time-exceeded
    nothing, after retries            open|filtered   no-response

    Silence is never "open": a filter that drops the probe looks exactly like
    an open port. Windows and some other stacks answer RST on open ports too,
    so on them every port reads closed (verify's rfc793-deviation).
"""
from ..model import Reason, State, Technique
from .base import (FLAGS, ICMP, ICMP_PORT_UNREACH, ICMP_TIME_EXCEEDED, ICMP_UNREACH, NONE, PROTO, RST_, SILENT_OPEN, TTL,
                   LabRow, register)

INVERSE_TABLE = {
    RST_: (State.CLOSED, Reason.RESET),
    ICMP_UNREACH: (State.FILTERED, None),
    ICMP_PORT_UNREACH: (State.FILTERED, None),
    ICMP_TIME_EXCEEDED: (State.FILTERED, None),
    NONE: (State.OPEN_FILTERED, Reason.NO_RESPONSE),
}

# FIN, Xmas and NULL share one textbook (messages.py "textbook.inverse"): RFC 793's inverse mapping.
_READS = {PROTO, FLAGS, ICMP, TTL}
FIN = register(Technique.FIN, "tcp", "F", "-sF", INVERSE_TABLE, reads=_READS, later=SILENT_OPEN, title="FIN scan",
               title_zh="FIN 扫描", textbook_key="inverse", live=True, lab=LabRow(3, "TCP FIN", NONE))
XMAS = register(Technique.XMAS, "tcp", "FPU", "-sX", INVERSE_TABLE, reads=_READS, later=SILENT_OPEN,
                title="Xmas scan", title_zh="Xmas 扫描", aliases=("christmas", "christmas tree", "xmas tree", "x-mas", "xmass", "chrismas"),
                names_zh=("圣诞树", "圣诞"), textbook_key="inverse", live=True, lab=LabRow(2, "TCP Xmas", NONE))
NULL = register(Technique.NULL, "tcp", "", "-sN", INVERSE_TABLE, reads=_READS, later=SILENT_OPEN, title="NULL scan",
                title_zh="NULL 扫描", aliases=("nul",), textbook_key="inverse", live=True, 
                lab=LabRow(4, "TCP NULL", NONE))
# Linux, like most stacks, resets a FIN/ACK on a listening port too.
MAIMON = register(Technique.MAIMON, "tcp", "FA", "-sM", INVERSE_TABLE, reads=_READS, later=SILENT_OPEN,
                  title="Maimon scan", title_zh="Maimon 扫描", live=True, lab=LabRow(8, "TCP Maimon", RST_))
