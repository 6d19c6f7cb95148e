"""A synthetic class for `pcapscan grade`: students x 18 small captures cut
from the project's golden nmap captures (captures/golden), for the tests and
benchmarks/bench_grade.py.

Each cell's capture is the golden capture of its technique cut down to the
packets of one port (80/tcp open, 81/tcp closed, 83/tcp filtered by an
admin-prohibited reject or 82/tcp by a drop; 53/udp open, 54/udp closed,
56/udp admin-prohibited), its timestamps moved so that no two students hand
in the same packets. Students name their files in different styles, and
some hand in the problems a real class does: an empty file, a garbage file,
a missing cell, a file copied from another student.
"""
from __future__ import annotations

import struct
from pathlib import Path

from pcapscan.capture import read_packets

GOLDEN = Path(__file__).resolve().parents[1] / "captures" / "golden"
TECHNIQUES = ("connect", "syn", "xmas", "fin", "null", "udp")
STATES = ("open", "closed", "filtered")
PORTS = {"tcp": {"open": 80, "closed": 81, "filtered": 83}, "udp": {"open": 53, "closed": 54, "filtered": 56}}
STYLES = (
    lambda t, s: f"{t}_{s}.pcap",
    lambda t, s: f"{t.upper()}-{s.upper()}.pcap",
    lambda t, s: f"tcp{t.capitalize()}Scan-{s}.pcap" if t != "udp" else f"udp-{s}.cap",
    lambda t, s: f"{ {'syn': 'steal', 'xmas': 'christmas'}.get(t, t)}/"
                 f"{ {'closed': 'closd', 'filtered': 'filterd'}.get(s, s)}.pcap",
    lambda t, s: f"{t}扫描_{ {'open': '开放', 'closed': '关闭', 'filtered': '过滤'}[s]}.pcap",
)


def _records(path: Path) -> tuple:
    """(file header, [(ts_sec, ts_frac, incl, orig, data)], byte order) of a pcap."""
    raw = path.read_bytes()
    order = "<" if raw[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    out, i = [], 24
    while i + 16 <= len(raw):
        sec, frac, incl, orig = struct.unpack(order + "IIII", raw[i:i + 16])
        out.append((sec, frac, incl, orig, raw[i + 16:i + 16 + incl]))
        i += 16 + incl
    return raw[:24], out, order


def cut(technique: str, state: str, drop_port: bool = False) -> tuple:
    """(header, records, order): the golden capture of `technique` cut to one port."""
    proto = "udp" if technique == "udp" else "tcp"
    port = PORTS[proto][state]
    if drop_port and proto == "tcp" and state == "filtered":
        port = 82  # dropped: silence
    path = GOLDEN / f"{technique}.pcap"
    header, records, order = _records(path)
    keep = set()
    for pkt in read_packets(str(path)):
        ports = {pkt.sport, pkt.dport} if pkt.proto == proto else set()
        quoted = pkt.quoted is not None and pkt.quoted.proto == proto and pkt.quoted.dport == port
        if port in ports or quoted:
            keep.add(pkt.frame)
    return header, [r for n, r in enumerate(records, 1) if n in keep], order


def write(path: Path, header: bytes, records: list, order: str, shift: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = [header]
    for sec, frac, incl, orig, data in records:
        out.append(struct.pack(order + "IIII", sec + shift, frac, incl, orig) + data)
    path.write_bytes(b"".join(out))


def make_class(root, students: int = 100) -> Path:
    """Write `students` folders of 18 captures each under root; return root.
    Every tenth student (from the fourth) hands in an empty file for
    null/open, from the sixth a garbage file for fin/closed, from the
    eighth the previous student's syn/open capture, from the tenth no
    udp/filtered capture at all."""
    root = Path(root)
    cuts = {(t, s, d): cut(t, s, d) for t in TECHNIQUES for s in STATES for d in (False, True)}
    for i in range(students):
        sid = f"student{i:03d}"
        style = STYLES[i % len(STYLES)]
        for j, (t, s) in enumerate((t, s) for t in TECHNIQUES for s in STATES):
            path = root / sid / "lab" / style(t, s)
            header, records, order = cuts[(t, s, i % 2 == 1)]
            if i % 10 == 3 and (t, s) == ("null", "open"):
                write(path, header, [], order)
            elif i % 10 == 5 and (t, s) == ("fin", "closed"):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"this is not a capture\n" * 20)
            elif i % 10 == 7 and (t, s) == ("syn", "open"):
                write(path, header, records, order, shift=(i - 1) * 86400 + j)  # what student i-1 handed in
            elif i % 10 == 9 and (t, s) == ("udp", "filtered"):
                continue
            else:
                write(path, header, records, order, shift=i * 86400 + j)
    return root
