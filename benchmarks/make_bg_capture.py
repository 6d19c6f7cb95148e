#!/usr/bin/env python3
"""A big capture of ordinary traffic with two scans hidden in it: what an
analyst feeds pcapscan, and where most flows are COMPLEX (more than a probe
and an answer), so the fast path replays them through the engine.

    python3 benchmarks/make_bg_capture.py --packets 1000000 --out /work/benchdata/s1-bg-1m.pcap

Synthetic and deterministic (--seed): no root, no network. What it holds:

- clients 10.20.0.10-59 open TLS-like connections to servers 10.30.x.y port
  443 (a few to 80): handshake with Linux-like SYN options, a client hello
  and a request from the client, the server's certificate and response
  (several full segments, acknowledged), keep-alive probes (one byte below
  the window, answered by an ACK), FIN both ways and the last ACK;
- DNS queries (UDP, a fresh source port each) to the resolver 10.20.0.1 and
  its answers;
- a few long-lived connections (SSH-like, to port 22) open from the first
  packet to the last, a small exchange now and then;
- in the middle, an nmap-like SYN scan of 1000 ports from 10.66.0.5 to
  10.30.9.9 (source port fixed, RST/ACK from closed ports, SYN/ACK from 22,
  80, 443 and the scanner's RST, ten silent ports probed twice) and a UDP
  scan of 100 ports (ICMP port unreachable quoting the probe, an answer from
  53, five silent ports probed twice), interleaved with the traffic.

Checksums are left zero (pcapscan does not check them). Records are written
in time order, Ethernet link type, microsecond pcap.
"""
from __future__ import annotations

import argparse
import random
import socket
import struct

SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10
ETH = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00"
SYN_OPTS = b"\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x00\x01\x03\x03\x07"  # MSS SACK TS NOP WS
SYNACK_OPTS = b"\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x00\x00\x02\x00\x00\x00\x01\x01\x03\x03\x07"
NMAP_OPTS = b"\x02\x04\x05\xb4"
SCANNER, TARGET = "10.66.0.5", "10.30.9.9"
RESOLVER = "10.20.0.1"


def ip4(a: str) -> bytes:
    return socket.inet_aton(a)


class Writer:
    def __init__(self, fh):
        self.fh = fh
        self.n = 0
        self.ts = 1_700_000_000.0
        self.ip_id = 0
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

    def _ip(self, src: bytes, dst: bytes, proto: int, body: bytes, ttl: int = 64) -> bytes:
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), self.ip_id, 0x4000, ttl, proto, 0,
                           src, dst) + body

    def record(self, frame: bytes, gap: float) -> None:
        self.ts += gap
        sec = int(self.ts)
        self.fh.write(struct.pack("<IIII", sec, int((self.ts - sec) * 1e6), len(frame), len(frame)) + frame)
        self.n += 1

    def tcp(self, src, dst, sport, dport, flags, seq, ack, data=b"", win=64240, opts=b"", ttl=64, gap=0.0002):
        hl = (20 + len(opts)) // 4
        seg = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, hl << 4, flags, win,
                          0, 0) + opts + data
        self.record(ETH + self._ip(src, dst, 6, seg, ttl), gap)

    def udp(self, src, dst, sport, dport, data=b"", ttl=64, gap=0.0002):
        self.record(ETH + self._ip(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data, ttl),
                    gap)

    def icmp_unreach(self, src, dst, quoted_ip: bytes, ttl=64, gap=0.0002):
        self.record(ETH + self._ip(src, dst, 1, struct.pack("!BBHI", 3, 3, 0, 0) + quoted_ip[:28], ttl), gap)


def connection(w: Writer, rnd: random.Random, cli: bytes, srv: bytes, sport: int, dport: int):
    """One TLS-like connection, a packet per step (a generator: connections interleave)."""
    c, s = rnd.randrange(1 << 32), rnd.randrange(1 << 32)
    w.tcp(cli, srv, sport, dport, SYN, c, 0, opts=SYN_OPTS); yield
    w.tcp(srv, cli, dport, sport, SYN | ACK, s, c + 1, opts=SYNACK_OPTS, win=65160); yield
    c += 1
    s += 1
    w.tcp(cli, srv, sport, dport, ACK, c, s, win=502); yield
    for _ in range(rnd.randint(1, 3)):  # requests (the first one a client hello) and responses
        req = rnd.randint(200, 600)
        w.tcp(cli, srv, sport, dport, PSH | ACK, c, s, b"\x16\x03\x01" + b"q" * (req - 3), win=502); yield
        c += req
        for k in range(rnd.randint(1, 6)):
            size = 1448 if k < 5 else rnd.randint(100, 1448)
            w.tcp(srv, cli, dport, sport, ACK | (PSH if k == 5 else 0), s, c, b"r" * size, win=509); yield
            s += size
            if k % 2:
                w.tcp(cli, srv, sport, dport, ACK, c, s, win=501); yield
        w.tcp(cli, srv, sport, dport, ACK, c, s, win=501); yield
    for _ in range(rnd.randint(0, 3)):  # keep-alive: one byte below the window, answered by an ACK
        w.tcp(cli, srv, sport, dport, ACK, c - 1, s, win=501, gap=0.002); yield
        w.tcp(srv, cli, dport, sport, ACK, s, c, win=509); yield
    w.tcp(cli, srv, sport, dport, FIN | ACK, c, s, win=501); yield
    w.tcp(srv, cli, dport, sport, FIN | ACK, s, c + 1, win=509); yield
    w.tcp(cli, srv, sport, dport, ACK, c + 1, s + 1, win=501)


def dns(w: Writer, rnd: random.Random, cli: bytes, sport: int):
    qid = rnd.randrange(1 << 16)
    name = b"\x03www\x07example\x03com\x00\x00\x01\x00\x01"
    w.udp(cli, ip4(RESOLVER), sport, 53, struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name); yield
    w.udp(ip4(RESOLVER), cli, 53, sport, struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + name +
          b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\x5d\xb8\xd8\x22", gap=0.003)


def long_lived(w: Writer, rnd: random.Random, cli: bytes, srv: bytes, sport: int):
    """An SSH-like connection: open early, a keystroke and its echo now and then, never closed."""
    c, s = rnd.randrange(1 << 32), rnd.randrange(1 << 32)
    w.tcp(cli, srv, sport, 22, SYN, c, 0, opts=SYN_OPTS); yield
    w.tcp(srv, cli, 22, sport, SYN | ACK, s, c + 1, opts=SYNACK_OPTS); yield
    c, s = c + 1, s + 1
    w.tcp(cli, srv, sport, 22, ACK, c, s); yield
    while True:
        w.tcp(cli, srv, sport, 22, PSH | ACK, c, s, b"k" * 36); yield
        c += 36
        w.tcp(srv, cli, 22, sport, PSH | ACK, s, c, b"e" * 36); yield
        s += 36
        w.tcp(cli, srv, sport, 22, ACK, c, s); yield


def syn_scan(w: Writer, rnd: random.Random):
    sc, tg = ip4(SCANNER), ip4(TARGET)
    seq, sport = 0x5A5A0000, 41000
    ports = list(range(1, 1001))
    rnd.shuffle(ports)
    silent = set(ports[100:110])
    for p in ports:
        w.tcp(sc, tg, sport, p, SYN, seq, 0, win=1024, opts=NMAP_OPTS, ttl=49, gap=0.00003); yield
        if p in silent:
            continue
        if p in (22, 80, 443):
            w.tcp(tg, sc, p, sport, SYN | ACK, 0x1000 * p, seq + 1, opts=b"\x02\x04\x05\xb4", gap=0.00003); yield
            w.tcp(sc, tg, sport, p, RST, seq + 1, 0, win=0, gap=0.00003); yield
        else:
            w.tcp(tg, sc, p, sport, RST | ACK, 0, seq + 1, win=0, gap=0.00003); yield
    for p in sorted(silent):  # the retry
        w.tcp(sc, tg, sport, p, SYN, seq, 0, win=1024, opts=NMAP_OPTS, ttl=49, gap=0.00003); yield


def udp_scan(w: Writer, rnd: random.Random):
    sc, tg = ip4(SCANNER), ip4(TARGET)
    sport = 41001
    ports = list(range(1, 101))
    rnd.shuffle(ports)
    silent = set(ports[:5]) - {53}
    for p in ports:
        probe = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0x1234, 0, 49, 17, 0, sc, tg) + \
            struct.pack("!HHHH", sport, p, 8, 0)
        w.udp(sc, tg, sport, p, ttl=49, gap=0.0001); yield
        if p == 53:
            w.udp(tg, sc, 53, sport, b"\x00" * 12, gap=0.0001); yield
        elif p not in silent:
            w.icmp_unreach(tg, sc, probe, gap=0.0001); yield
    for p in sorted(silent):
        w.udp(sc, tg, sport, p, ttl=49, gap=0.0001); yield


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--concurrent", type=int, default=40, help="connections open at once")
    a = ap.parse_args(argv)
    rnd = random.Random(a.seed)
    clients = [ip4("10.20.0.%d" % i) for i in range(10, 60)]
    servers = [ip4("10.30.%d.%d" % (i // 250, 1 + i % 250)) for i in range(400)]
    next_port = {c: 32768 for c in clients}

    def fresh_port(cli):
        p = next_port[cli]
        next_port[cli] = 32768 + (p - 32768 + 1) % 28000  # Linux's ephemeral range
        return p

    with open(a.out, "wb") as fh:
        w = Writer(fh)
        lasting = [long_lived(w, rnd, clients[i], servers[i], fresh_port(clients[i])) for i in range(4)]
        active: list = []
        scans_started = False
        while w.n < a.packets:
            if rnd.random() < 0.005:
                next(rnd.choice(lasting))
                continue
            if not scans_started and w.n >= a.packets // 2:
                active += [syn_scan(w, rnd), udp_scan(w, rnd)]
                scans_started = True
            while len(active) < a.concurrent:
                cli = rnd.choice(clients)
                if rnd.random() < 0.3:
                    active.append(dns(w, rnd, cli, fresh_port(cli)))
                else:
                    active.append(connection(w, rnd, cli, rnd.choice(servers), fresh_port(cli),
                                             80 if rnd.random() < 0.1 else 443))
            i = rnd.randrange(len(active))
            try:
                next(active[i])
            except StopIteration:
                active[i] = active[-1]
                active.pop()
    print(f"{a.out}: {w.n} packets")


if __name__ == "__main__":
    main()
