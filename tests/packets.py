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
