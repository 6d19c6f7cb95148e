#!/usr/bin/env python3
"""Build the benchmark captures: a real nmap full-range SYN scan recorded in
the project's namespace lab, replicated offline to millions of packets, with
ordinary traffic (TCP connections carrying data, DNS-like UDP) mixed in.

    sudo python3 benchmarks/make_bench_capture.py              # record (once) + bench-5m.pcap
    python3 benchmarks/make_bench_capture.py --packets 10000000 --out benchmarks/data/bench-10m.pcap

Step 1 (needs root, iproute2, nftables, tcpdump, nmap; skipped when the
recording exists): `nmap -n -Pn -sS -p- -T4 --reason` from the lab's scanner
198.18.0.1 to its target 198.18.0.2 (a few open, dropped and rejected ports),
recorded with tcpdump on the scanner's veth -> benchmarks/data/lab-syn-full.pcap
(and nmap's XML beside it). Nothing outside the lab namespaces is scanned
(pcapscan/live/netns.py); nmap always gets -n.

Step 2 (no root): the recording is copied again and again, each copy with its
own scanner address from 198.19.0.0/16 (inside the benchmarking range
198.18.0.0/15; rewritten in the IP header and in the packet an ICMP error
quotes; checksums are not fixed: pcapscan does not check them) and shifted
in time to follow the previous copy, until the capture holds --packets
records. About 0.5% of the records are ordinary traffic: TCP connections
from 198.18.1.0/24 clients carrying data both ways, and DNS-like UDP queries
and answers. Generated captures go to benchmarks/data/ (git-ignored).
"""
from __future__ import annotations

import argparse
import random
import struct
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = HERE / "data"
RECORDING = DATA / "lab-syn-full.pcap"
sys.path.insert(0, str(REPO))

ORDINARY_SHARE = 0.005  # of all records
SCANNER4 = bytes([198, 18, 0, 1])
TARGET4 = bytes([198, 18, 0, 2])


# -- step 1: record a real nmap scan in the lab ------------------------------------------


def record(out: Path) -> None:
    from pcapscan.live.netns import SCANNER, Lab, PortPlan, in_lab_range, require_tools

    require_tools(("ip", "nft", "tcpdump", "nmap"))
    plan = PortPlan(tcp_open=(22, 80, 443, 8080), tcp_closed=(81,), tcp_drop=(82, 6000), tcp_admin=(83,),
                    tcp_unreach=(84,), udp_open=(53,), udp_closed=(54,), udp_drop=(55,), udp_admin=(56,),
                    udp_unreach=(57,))
    out.parent.mkdir(parents=True, exist_ok=True)
    with Lab(ipv6=False) as lab:
        lab.setup_plan(plan)
        target = lab.target_addr4
        if not in_lab_range(target):
            raise SystemExit(f"refusing to scan {target}")
        xml = out.with_suffix(".xml")
        argv = ["nmap", "-n", "-Pn", "-sS", "-p-", "-T4", "--max-rate", "3000", "--reason", "-oX", str(xml), target]
        print("lab:", " ".join(argv), flush=True)
        lab.flush_neighbours()
        rec = lab.recorder(out).start()
        try:
            time.sleep(0.2)
            t0 = time.monotonic()
            proc = lab.exec(SCANNER, argv, check=False, timeout=1800)
            print(f"nmap took {time.monotonic() - t0:.1f} s (exit {proc.returncode})", flush=True)
            time.sleep(0.5)
        finally:
            rec.stop()
        if proc.returncode != 0:
            out.unlink(missing_ok=True)
            raise SystemExit(f"nmap failed: {proc.stderr}")
        print(f"recorded {rec.packets} packets -> {out}", flush=True)


# -- step 2: replicate ---------------------------------------------------------------------


def read_pcap(path: Path):
    """(global header, [(ts, frame bytes)]) of a little-endian microsecond pcap."""
    data = path.read_bytes()
    magic = struct.unpack_from("<I", data)[0]
    if magic != 0xA1B2C3D4:
        raise SystemExit(f"{path}: expected a little-endian microsecond pcap")
    header, pos, recs = data[:24], 24, []
    while pos + 16 <= len(data):
        sec, usec, incl, _orig = struct.unpack_from("<IIII", data, pos)
        recs.append((sec + usec / 1e6, data[pos + 16: pos + 16 + incl]))
        pos += 16 + incl
    return header, recs


def _csum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _eth_ipv4(src: bytes, dst: bytes, proto: int, l4: bytes, ip_id: int, ttl: int = 64) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ip_id, 0x4000, ttl, proto, 0, src, dst)
    hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
    return b"\x02\x00\xc6\x12\x00\x02\x02\x00\xc6\x12\x00\x01\x08\x00" + hdr + l4


def _tcp(sport, dport, seq, ack, flags, payload=b"", window=64240, options=b""):
    off = (20 + len(options)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, window, 0, 0) + options + payload


def ordinary_traffic(rng: random.Random, count: int, t0: float, span: float) -> list:
    """About `count` records of ordinary traffic: TCP connections carrying
    data (a client fetching, a server answering in segments) and DNS-like UDP."""
    out = []
    server = bytes([198, 18, 0, 2])
    n = 0
    conn = 0
    while n < count:
        ts = t0 + rng.random() * span
        client = bytes([198, 18, 1, 1 + conn % 200])
        if conn % 3 == 2:  # DNS-like: query and answer
            sport = 20000 + rng.randrange(40000)
            q = struct.pack("!HHHHHH", rng.randrange(65536), 0x0100, 1, 0, 0, 0) + b"\x07example\x03lab\x00\x00\x01\x00\x01"
            a = q[:2] + b"\x81\x80" + q[4:6] + b"\x00\x01" + q[8:] + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc6\x12\x00\x02"
            out.append((ts, _eth_ipv4(client, server, 17, struct.pack("!HHHH", sport, 53, 8 + len(q), 0) + q, conn & 0xFFFF)))
            out.append((ts + 0.0004, _eth_ipv4(server, client, 17, struct.pack("!HHHH", 53, sport, 8 + len(a), 0) + a,
                                               (conn + 7) & 0xFFFF)))
            n += 2
        else:  # a TCP connection with data both ways
            sport, dport = 30000 + rng.randrange(30000), 8080
            cs, ss = rng.randrange(1 << 32), rng.randrange(1 << 32)
            mss = b"\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x00\x01\x03\x03\x07"
            seq = [(client, server, _tcp(sport, dport, cs, 0, 0x02, options=mss)),
                   (server, client, _tcp(dport, sport, ss, cs + 1, 0x12, options=mss)),
                   (client, server, _tcp(sport, dport, cs + 1, ss + 1, 0x10))]
            req = b"GET /data HTTP/1.1\r\nHost: lab\r\n\r\n"
            seq.append((client, server, _tcp(sport, dport, cs + 1, ss + 1, 0x18, req)))
            cs2, ss2 = cs + 1 + len(req), ss + 1
            for _ in range(rng.randrange(4, 40)):
                body = bytes(rng.randrange(256) for _ in range(rng.choice((200, 536, 1200))))
                seq.append((server, client, _tcp(dport, sport, ss2 & 0xFFFFFFFF, cs2 & 0xFFFFFFFF, 0x18, body)))
                ss2 += len(body)
                seq.append((client, server, _tcp(sport, dport, cs2 & 0xFFFFFFFF, ss2 & 0xFFFFFFFF, 0x10)))
            seq.append((client, server, _tcp(sport, dport, cs2 & 0xFFFFFFFF, ss2 & 0xFFFFFFFF, 0x11)))
            seq.append((server, client, _tcp(dport, sport, ss2 & 0xFFFFFFFF, (cs2 + 1) & 0xFFFFFFFF, 0x11)))
            seq.append((client, server, _tcp(sport, dport, (cs2 + 1) & 0xFFFFFFFF, (ss2 + 1) & 0xFFFFFFFF, 0x10)))
            for i, (s, d, l4) in enumerate(seq):
                out.append((ts + i * 0.0002, _eth_ipv4(s, d, 6, l4, (conn * 64 + i) & 0xFFFF)))
            n += len(seq)
        conn += 1
    return out


def _stamp(t: float, n: int) -> bytes:
    usec = int(round(t * 1e6))
    return struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, n, n)


def _patch(frame: bytes, new: bytes) -> bytes:
    """The frame with the lab scanner's IPv4 address replaced by `new`
    (IP source/destination; the quoted packet of an ICMP error)."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return frame
    b = bytearray(frame)
    for at in (26, 30):
        if b[at:at + 4] == SCANNER4:
            b[at:at + 4] = new
    if b[23] == 1 and len(b) >= 62:  # ICMP: the quoted IP header starts at 14 + ihl + 8
        q = 14 + ((b[14] & 0xF) << 2) + 8
        for at in (q + 12, q + 16):
            if b[at:at + 4] == SCANNER4:
                b[at:at + 4] = new
    return bytes(b)


def replicate(recording: Path, out: Path, packets: int, seed: int = 7) -> None:
    header, base = read_pcap(recording)
    rng = random.Random(seed)
    base_t0 = base[0][0]
    span = base[-1][0] - base_t0 + 1.0
    n_ordinary = int(packets * ORDINARY_SHARE)
    copies_needed = -(-(packets - n_ordinary) // len(base))
    written = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    ordinary = ordinary_traffic(rng, n_ordinary, base_t0, span * copies_needed)
    ordinary.sort(key=lambda r: r[0])
    oi = 0
    t_start = time.monotonic()
    with open(out, "wb", buffering=1 << 22) as fh:
        fh.write(header)
        for copy in range(copies_needed):
            addr = bytes([198, 19, copy >> 8 & 0xFF, (copy & 0xFF) or 1]) if copy else SCANNER4
            shift = copy * span
            chunk = []
            for ts, frame in base:
                if written >= packets:
                    break
                t = ts + shift
                while oi < len(ordinary) and ordinary[oi][0] <= t and written < packets:
                    ots, of = ordinary[oi]
                    chunk.append(_stamp(ots, len(of)) + of)
                    oi += 1
                    written += 1
                if written >= packets:
                    break
                f = _patch(frame, addr) if copy else frame
                chunk.append(_stamp(t, len(f)) + f)
                written += 1
            fh.write(b"".join(chunk))
            print(f"\rcopy {copy + 1}/{copies_needed}: {written} records", end="", flush=True)
        while oi < len(ordinary) and written < packets:
            ots, of = ordinary[oi]
            fh.write(_stamp(ots, len(of)) + of)
            oi += 1
            written += 1
    print(f"\nwrote {written} records ({out.stat().st_size / 2**20:.0f} MiB) to {out} "
          f"in {time.monotonic() - t_start:.0f} s", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=5_000_000, help="records in the capture (default 5,000,000)")
    ap.add_argument("--out", type=Path, help="default benchmarks/data/bench-<N>m.pcap")
    ap.add_argument("--recording", type=Path, default=RECORDING, help=f"the lab recording (default {RECORDING})")
    ap.add_argument("--rerecord", action="store_true", help="record the lab scan again even if it exists")
    args = ap.parse_args(argv)
    if args.rerecord or not args.recording.exists():
        record(args.recording)
    out = args.out or DATA / f"bench-{args.packets / 1e6:g}m.pcap"
    replicate(args.recording, out, args.packets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
