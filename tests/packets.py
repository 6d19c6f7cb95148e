"""Tiny Packet fixtures: exchanges written as the ladder a user would draw."""
from pcapscan.model import Packet, Quoted

SCANNER, TARGET, ROUTER = "198.18.0.1", "198.18.0.2", "198.18.0.254"
FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20}


def flags(letters: str) -> int:
    return sum(FLAGS[c] for c in letters)


def tcp(frame, flag_letters, sport=40000, dport=80, src=SCANNER, dst=TARGET, seq=1000, ack=0, window=1024,
        ttl=64, options=(2,), payload=0, ts=None):
    return Packet(frame=frame, ts=ts if ts is not None else frame * 0.2, src=src, dst=dst, proto="tcp",
                  ttl=ttl, ip_id=frame, length=40 + payload, sport=sport, dport=dport,
                  flags=flags(flag_letters), seq=seq, ack=ack, window=window, options=tuple(options),
                  payload_len=payload, ip_proto=6)


def udp(frame, sport=40000, dport=53, src=SCANNER, dst=TARGET, payload=0, ttl=64, ts=None):
    return Packet(frame=frame, ts=ts if ts is not None else frame * 0.2, src=src, dst=dst, proto="udp",
                  ttl=ttl, ip_id=frame, length=28 + payload, sport=sport, dport=dport, payload_len=payload,
                  ip_proto=17)


def icmp_unreach(frame, code, probe, src=TARGET, ttl=64, icmp_type=None, v6=False):
    if icmp_type is None:
        icmp_type = 1 if v6 else 3
    q = Quoted(src=probe.src, dst=probe.dst, proto=probe.proto, sport=probe.sport, dport=probe.dport,
               seq=probe.seq if probe.proto == "tcp" else None)
    return Packet(frame=frame, ts=frame * 0.2, src=src, dst=probe.src, proto="icmp6" if v6 else "icmp",
                  ttl=ttl, ip_id=frame, length=56, icmp_type=icmp_type, icmp_code=code, quoted=q,
                  ip_proto=58 if v6 else 1)


def reply_to(frame, probe, flag_letters, window=0, ttl=64, seq=None):
    """The target's TCP answer to `probe`, numbered as RFC 793 says."""
    if "A" in flag_letters:
        ack = (probe.seq + probe.seg_len) % (1 << 32)
        return tcp(frame, flag_letters, sport=probe.dport, dport=probe.sport, src=probe.dst, dst=probe.src,
                   seq=seq if seq is not None else 5000, ack=ack, window=window, ttl=ttl, options=())
    return tcp(frame, flag_letters, sport=probe.dport, dport=probe.sport, src=probe.dst, dst=probe.src,
               seq=probe.ack, ack=0, window=window, ttl=ttl, options=())


# --- the probe families beyond TCP/UDP (test_more_techniques.py) ----------------------------

SCANNER6, TARGET6 = "2001:2::1", "2001:2::2"
ICMP_REQUEST_REPLY = {8: 0, 13: 14, 17: 18, 128: 129}


def arp(frame, op, src=SCANNER, dst=TARGET, ts=None):
    """ARP as pcapscan reads it: src/dst are the sender/target protocol addresses, icmp_type the op."""
    return Packet(frame=frame, ts=ts if ts is not None else frame * 0.2, src=src, dst=dst, proto="arp",
                  length=28, icmp_type=op)


def nd(frame, icmp_type, target, src=SCANNER6, dst=None, ts=None):
    """ICMPv6 neighbour solicitation (135) or advertisement (136) for `target`."""
    if dst is None:
        dst = "ff02::1:ff00:" + target.rsplit(":", 1)[1] if icmp_type == 135 else SCANNER6
    return Packet(frame=frame, ts=ts if ts is not None else frame * 0.2, src=src, dst=dst, proto="icmp6",
                  ip_version=6, ttl=255, length=72, icmp_type=icmp_type, icmp_code=0, ip_proto=58, nd_target=target)


def icmp_query(frame, icmp_type, ident=0x1234, seq=0, src=SCANNER, dst=TARGET, code=0, ttl=64, length=28, v6=False):
    return Packet(frame=frame, ts=frame * 0.2, src=src, dst=dst, proto="icmp6" if v6 else "icmp",
                  ip_version=6 if v6 else 4, ttl=ttl, ip_id=frame, length=length, icmp_type=icmp_type,
                  icmp_code=code, ip_proto=58 if v6 else 1, icmp_id=ident, icmp_seq=seq)


def icmp_reply(frame, request, ttl=64):
    return icmp_query(frame, ICMP_REQUEST_REPLY[request.icmp_type], ident=request.icmp_id, seq=request.icmp_seq,
                      src=request.dst, dst=request.src, ttl=ttl, length=request.length,
                      v6=request.proto == "icmp6")


def sctp(frame, chunk, sport=40000, dport=80, vtag=0, init_tag=0, src=SCANNER, dst=TARGET, ttl=64, ts=None):
    """An SCTP packet: chunk 1 INIT, 2 INIT-ACK, 6 ABORT, 10 COOKIE-ECHO; seq = vtag, ack = initiate tag."""
    return Packet(frame=frame, ts=ts if ts is not None else frame * 0.2, src=src, dst=dst, proto="sctp", ttl=ttl,
                  ip_id=frame, length=52, sport=sport, dport=dport, seq=vtag, ack=init_tag, payload_len=20,
                  ip_proto=132, chunk_type=chunk)


def sctp_answer(frame, probe, chunk, ttl=64):
    """The target's answer, tagged as RFC 4960 says: INIT's initiate tag, else the probe's own tag."""
    tag = probe.ack if probe.chunk_type == 1 else probe.seq
    return sctp(frame, chunk, sport=probe.dport, dport=probe.sport, vtag=tag, src=probe.dst, dst=probe.src, ttl=ttl)


def ip_raw(frame, proto, src=SCANNER, dst=TARGET, payload=0, ttl=64, ts=None):
    """A packet of another IP protocol: nmap -sO's probe is a bare header (payload 0)."""
    return Packet(frame=frame, ts=ts if ts is not None else frame * 0.2, src=src, dst=dst, proto="ip", ttl=ttl,
                  ip_id=frame, length=20 + payload, payload_len=payload, ip_proto=proto)


def icmp_error(frame, icmp_type, code, probe, src=TARGET, ttl=64, v6=False):
    """An ICMP/ICMPv6 error quoting any probe (TCP, UDP, SCTP or a bare protocol)."""
    name = probe.proto if probe.proto != "ip" else str(probe.ip_proto)
    q = Quoted(src=probe.src, dst=probe.dst, proto=name, sport=probe.sport, dport=probe.dport,
               seq=probe.seq if probe.proto in ("tcp", "sctp") else None)
    return Packet(frame=frame, ts=frame * 0.2, src=src, dst=probe.src, proto="icmp6" if v6 else "icmp",
                  ip_version=6 if v6 else 4, ttl=ttl, ip_id=frame, length=56, icmp_type=icmp_type, icmp_code=code,
                  quoted=q, ip_proto=58 if v6 else 1)
