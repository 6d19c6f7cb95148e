"""The SCTP family: INIT scan (-sY, SCTP's half-open scan) and COOKIE-ECHO
scan (-sZ). SCTP (RFC 4960) opens an association with a four-way handshake:
INIT, INIT-ACK, COOKIE-ECHO, COOKIE-ACK.

How the probes look
    INIT         common header verification tag 0; the INIT chunk carries the
                 sender's initiate tag, which every answer must carry back.
    COOKIE-ECHO  a random verification tag and a cookie the target never
                 issued. A listening endpoint drops it (RFC 4960 5.1.5, bad
                 cookie); a closed port answers ABORT with the tag reflected
                 (T bit set, 8.4 item 8).
    nmap matches SCTP answers by ports only, ICMP errors by ports and tag;
    pcapscan pairs answers by ports and tag (exchanges.answers).

INIT scan state table (nmap 7.93 scan_engine_raw.cc get_pcap_result)

    response                          state      reason
    INIT-ACK                          open       init-ack
    ABORT                             closed     abort
    ICMP unreachable 0,1,2,3,9,10,13  filtered   the ICMP error's reason
    (ICMPv6 1/x, 4/1)                            (a kernel without SCTP sends 3/2 proto-unreach,
                                                  ICMPv6 4/1 param-problem)
    ICMP time exceeded                filtered   time-exceeded
    nothing, after retries            filtered   no-response

COOKIE-ECHO scan state table

    response                          state           reason
    ABORT                             closed          abort
    ICMP unreachable 0,1,2,3,9,10,13  filtered        the ICMP error's reason
    ICMP time exceeded                filtered        time-exceeded
    nothing, after retries            open|filtered   no-response

    INIT-ACK or any other chunk answering COOKIE-ECHO: passed over, as nmap does.
"""
from ..model import Reason, State, Technique
from .base import (ABORT_, CHUNK, CLOSED_MAY_CHANGE, ICMP, ICMP_PORT_UNREACH, ICMP_TIME_EXCEEDED, ICMP_UNREACH,
                   INIT_ACK_, NONE, PROTO, TTL, register)

INIT_TABLE = {
    INIT_ACK_: (State.OPEN, Reason.INIT_ACK),
    ABORT_: (State.CLOSED, Reason.ABORT),
    ICMP_UNREACH: (State.FILTERED, None),
    ICMP_PORT_UNREACH: (State.FILTERED, None),
    ICMP_TIME_EXCEEDED: (State.FILTERED, None),
    NONE: (State.FILTERED, Reason.NO_RESPONSE),
}

COOKIE_ECHO_TABLE = {
    ABORT_: (State.CLOSED, Reason.ABORT),
    ICMP_UNREACH: (State.FILTERED, None),
    ICMP_PORT_UNREACH: (State.FILTERED, None),
    ICMP_TIME_EXCEEDED: (State.FILTERED, None),
    NONE: (State.OPEN_FILTERED, Reason.NO_RESPONSE),
}

SCTP_INIT = register(Technique.SCTP_INIT, "sctp", "init", "-sY", INIT_TABLE, reads={PROTO, CHUNK, ICMP, TTL},
                     later=CLOSED_MAY_CHANGE, title="SCTP INIT scan", title_zh="SCTP INIT 扫描",
                     aliases=("sctp init",))

SCTP_COOKIE_ECHO = register(Technique.SCTP_COOKIE_ECHO, "sctp", "cookie-echo", "-sZ", COOKIE_ECHO_TABLE,
                            reads={PROTO, CHUNK, ICMP, TTL}, later=CLOSED_MAY_CHANGE, title="SCTP COOKIE-ECHO scan",
                            title_zh="SCTP COOKIE-ECHO 扫描", aliases=("sctp cookie echo", "cookie echo"))
