#!/usr/bin/env python3
"""Replicate a classic pcap capture one copy after the other, as issue 17 did
with a real nmap null scan (the brief's "4.27M-packet capture"):

    python3 benchmarks/replicate.py SRC --copies 500 --out /work/benchdata/s5-null-4.27m.pcap
    python3 benchmarks/replicate.py SRC --packets 1000000 --out /work/benchdata/s5-null-1m.pcap
    python3 benchmarks/replicate.py SRC --packets 5000000 --out /work/benchdata/s10-null-5m.pcap

Every copy keeps the records' bytes (addresses and ports included) and order;
only the timestamps move: copy k is shifted by k times the capture's span
(latest minus earliest timestamp, plus one microsecond), so time goes on and a
capture's own out-of-order records stay out of order in every copy. With
--packets the last copy is cut short at that many records.
"""
from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

MAGICS = {b"\xd4\xc3\xb2\xa1": ("<", 1_000_000), b"\xa1\xb2\xc3\xd4": (">", 1_000_000),
          b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000), b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000)}


def read_records(data: bytes):
    """(header, [(seconds, fraction, rest of record header + body)], endian, units per second)."""
    endian, units = MAGICS[data[:4]]
    hdr = struct.Struct(endian + "IIII")
    out, pos = [], 24
    while pos + 16 <= len(data):
        sec, frac, incl, orig = hdr.unpack_from(data, pos)
        out.append((sec, frac, data[pos + 8:pos + 16 + incl]))
        pos += 16 + incl
    return data[:24], out, endian, units


def replicate(src: Path, out: Path, copies: int | None, packets: int | None) -> int:
    head, recs, endian, units = read_records(src.read_bytes())
    stamps = [sec * units + frac for sec, frac, _ in recs]
    span = max(stamps) - min(stamps) + units // 1_000_000
    ts = struct.Struct(endian + "II")
    if packets is None:
        packets = copies * len(recs)
    written = 0
    with out.open("wb") as fh:
        fh.write(head)
        k = 0
        while written < packets:
            shift = k * span
            chunk = []
            for stamp, (_, _, rest) in zip(stamps, recs):
                if written >= packets:
                    break
                t = stamp + shift
                chunk.append(ts.pack(t // units, t % units))
                chunk.append(rest)
                written += 1
            fh.write(b"".join(chunk))
            k += 1
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--copies", type=int)
    group.add_argument("--packets", type=int)
    args = ap.parse_args(argv)
    n = replicate(args.src, args.out, args.copies, args.packets)
    print(f"{n} packets -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
