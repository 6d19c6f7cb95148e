"""The handshake family: SYN ("stealth", half-open, nmap -sS) and connect
(full open, nmap -sT). Both send a SYN; they differ in what the scanner does
after a SYN/ACK.

How the probe looks
    A TCP segment with only SYN set. nmap's raw SYN carries one option (MSS)
    and window 1024; an operating system's connect() carries its own options
    (MSS, SACK permitted, timestamps, window scale); scapy's carries none.

SYN scan state table (nmap reference guide, "TCP SYN scan")

    response                          state      reason
    SYN/ACK                           open       syn-ack
    SYN without ACK (split handshake) open       syn-ack
    RST or RST/ACK                    closed     reset
    ICMP unreachable 0,1,2,3,9,10,13  filtered   net-unreach, host-unreach, ... admin-prohibited
    ICMP time exceeded                filtered   time-exceeded
    nothing, after retries            filtered   no-response

    The scanner answers a SYN/ACK with RST (the tool's, or its kernel's when a
    raw socket sent the SYN), never with the ACK that completes the handshake.

Connect scan state table (nmap -sT reads connect()'s result, so an ICMP
error reaches it as the errno the scanner's kernel makes of it: Linux's
icmp_err_convert / icmpv6_err_convert, then nmap's handleConnectResult)

    response                          errno          state      reason
    SYN/ACK (handshake completed)     0              open       syn-ack
    RST                               ECONNREFUSED   closed     conn-refused
    ICMP port unreachable (3/3, v6 1/4) ECONNREFUSED closed     conn-refused
    ICMP 3/0, 3/6, 3/9, 3/11; v6 1/0  ENETUNREACH    filtered   net-unreach
    ICMP 3/1, 3/10, 3/12-15, 11; v6 1/2, 1/3
                                      EHOSTUNREACH   filtered   host-unreach
    ICMP 3/2                          ENOPROTOOPT    filtered   proto-unreach
    ICMPv6 1/1, 1/5, 1/6              EACCES         filtered   admin-prohibited
    nothing, after retries            ETIMEDOUT      filtered   no-response

    So a target that rejects with "admin-prohibited" (3/13) reads
    "filtered, host-unreach" to nmap -sT, and one that rejects with
    port-unreachable reads "closed". nmap records reason_ttl 0 for -sT: it
    never sees the packet, only the errno.

    The scanner completes the handshake with ACK, then closes (RST/ACK or FIN).
"""
from ..model import Reason, State, Technique
from .base import (CLOSED_MAY_CHANGE, FLAGS, ICMP, ICMP_PORT_UNREACH, ICMP_TIME_EXCEEDED, ICMP_UNREACH, NONE, PROTO,
                   RST_, SYN_ACK, SYN_ONLY, TTL, LabRow, register)

SYN_TABLE = {
    SYN_ACK: (State.OPEN, Reason.SYN_ACK),
    SYN_ONLY: (State.OPEN, Reason.SYN),
    RST_: (State.CLOSED, Reason.RESET),
    ICMP_UNREACH: (State.FILTERED, None),
    ICMP_PORT_UNREACH: (State.FILTERED, None),
    ICMP_TIME_EXCEEDED: (State.FILTERED, None),
    NONE: (State.FILTERED, Reason.NO_RESPONSE),
}

CONNECT_TABLE = {
    SYN_ACK: (State.OPEN, Reason.SYN_ACK),
    SYN_ONLY: (State.OPEN, Reason.SYN_ACK),
    RST_: (State.CLOSED, Reason.CONN_REFUSED),
    ICMP_PORT_UNREACH: (State.CLOSED, Reason.CONN_REFUSED),
    ICMP_UNREACH: (State.FILTERED, None),
    ICMP_TIME_EXCEEDED: (State.FILTERED, None),
    NONE: (State.FILTERED, Reason.NO_RESPONSE),
}

# The errno a Linux connect() returns for an ICMP error, as nmap words it.
_CONNECT_ICMP4 = {0: Reason.NET_UNREACH, 1: Reason.HOST_UNREACH, 2: Reason.PROTO_UNREACH, 6: Reason.NET_UNREACH,
                  9: Reason.NET_UNREACH, 10: Reason.HOST_UNREACH, 11: Reason.NET_UNREACH,
                  12: Reason.HOST_UNREACH, 13: Reason.HOST_UNREACH, 14: Reason.HOST_UNREACH,
                  15: Reason.HOST_UNREACH}
_CONNECT_ICMP6 = {0: Reason.NET_UNREACH, 1: Reason.ADMIN_PROHIBITED, 2: Reason.HOST_UNREACH,
                  3: Reason.HOST_UNREACH, 5: Reason.ADMIN_PROHIBITED, 6: Reason.ADMIN_PROHIBITED}


def connect_reason(resp):
    if resp.proto == "icmp":
        return Reason.HOST_UNREACH if resp.icmp_type == 11 else _CONNECT_ICMP4.get(resp.icmp_code)
    return _CONNECT_ICMP6.get(resp.icmp_code)


SYN = register(
    Technique.SYN, "tcp", "S", "-sS", SYN_TABLE, reads={PROTO, FLAGS, ICMP, TTL}, later=CLOSED_MAY_CHANGE,
    title="SYN scan", title_zh="SYN 扫描（半开扫描）",
    aliases=("stealth", "syn stealth", "stealthy", "steal", "half-open", "half connect", "half"),
    names_zh=("半开", "半连接", "隐蔽", "秘密"), live=True, lab=LabRow(1, "TCP stealth / SYN", SYN_ACK))

# A SYN probe is read as SYN until the scanner's behaviour or its options say connect (techniques/__init__.py).
CONNECT = register(
    Technique.CONNECT, "tcp", "S", "-sT", CONNECT_TABLE, reads={PROTO, FLAGS, ICMP}, later=CLOSED_MAY_CHANGE,
    title="TCP connect scan", title_zh="TCP connect 扫描（全连接扫描）",
    aliases=("tcp connect", "full connect", "full-open", "full", "conn", "connection", "connet"), names_zh=("全连接", "连接"),
    inferred=False, live=True, os_connect=True, lab=LabRow(0, "TCP connect", SYN_ACK),
    reason_of=connect_reason, keeps_ttl=False)
