"""The ladder diagram of one exchange, the way the seeds' Wireshark
screenshots show a handshake: the scanner on the left, the target on the
right, one arrow a packet, labelled with its flags, numbers and frame.

Three drawings of the same rows: `text` for a terminal (ASCII, fixed
width), `mermaid` (a sequenceDiagram for Markdown) and `svg` (for HTML).
`rows` is the renderer-neutral part: what each arrow says.
"""
from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Iterable, Mapping, Optional

from ..model import ACK, RST, SYN, Packet, flag_letters

MAX_ARROWS = 16  # a port probed 50 times draws its first 16 packets and says how many more


@dataclass(frozen=True)
class Arrow:
    frame: int
    rightward: bool  # scanner -> target
    label: str  # "S seq=0", "SA seq=350709245 ack=1", "ICMP 3/13 admin-prohibited"
    sport: str  # scanner-side port ("" for ICMP)
    dport: str  # target-side port
    dt: float  # seconds since the ladder's first packet
    note: str = ""  # rule ids citing this frame
    severity: str = ""  # the worst severity among them


_ICMP4_NAMES = {(3, 0): "net-unreach", (3, 1): "host-unreach", (3, 2): "proto-unreach", (3, 3): "port-unreach",
                (3, 9): "net-prohibited", (3, 10): "host-prohibited", (3, 13): "admin-prohibited",
                (11, 0): "ttl-exceeded"}
_ICMP6_NAMES = {(1, 0): "no-route", (1, 1): "admin-prohibited", (1, 3): "addr-unreach", (1, 4): "port-unreach",
                (3, 0): "hop-limit-exceeded"}


def packet_label(pkt: Packet, scanner: str) -> str:
    if pkt.proto == "tcp":
        flags = flag_letters(pkt.flags) or "none"
        parts = [flags, f"seq={pkt.seq}"]
        if pkt.flags & ACK:
            parts.append(f"ack={pkt.ack}")
        if pkt.flags & RST or pkt.flags & SYN:
            parts.append(f"win={pkt.window}")
        if pkt.payload_len:
            parts.append(f"len={pkt.payload_len}")
        return " ".join(parts)
    if pkt.proto == "udp":
        return f"UDP len={pkt.payload_len}"  # in the words of the TCP labels (seq=, win=): no language
    v6 = pkt.proto == "icmp6"
    text = f"{'ICMPv6' if v6 else 'ICMP'} {pkt.icmp_type}/{pkt.icmp_code}"
    name = (_ICMP6_NAMES if v6 else _ICMP4_NAMES).get((pkt.icmp_type, pkt.icmp_code))
    if name:
        text += f" {name}"
    return text


_SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


def rows(packets: Iterable[Packet], scanner: str, notes: Optional[Mapping[int, list]] = None) -> list:
    """Arrows for the packets, in capture order. `notes`: frame -> [(rule, severity)]."""
    notes = notes or {}
    packets = sorted(packets, key=lambda p: p.frame)
    t0 = packets[0].ts if packets else 0.0
    out = []
    for p in packets:
        right = p.src == scanner
        if p.proto in ("tcp", "udp"):
            sport, dport = (p.sport, p.dport) if right else (p.dport, p.sport)
        else:
            sport = dport = ""
        cited = notes.get(p.frame, [])
        worst = min((s for _, s in cited), key=lambda s: _SEVERITY_RANK.get(s, 3), default="")
        label = packet_label(p, scanner)
        if not right and p.proto not in ("tcp", "udp") and p.quoted is not None and p.src != p.quoted.dst:
            label += f" from {p.src}"
        out.append(Arrow(frame=p.frame, rightward=right, label=label, sport=str(sport), dport=str(dport),
                         dt=p.ts - t0, note=", ".join(dict.fromkeys(r for r, _ in cited)), severity=worst))
    return out


HEADINGS = {"frame": "frame", "time": "time", "scanner": "scanner", "target": "target",
            "more": "... {n} more packet(s)"}


def headings(lang: str) -> dict:
    """HEADINGS in `lang`, from messages.LABELS (for the `headings` of text, mermaid, svg)."""
    from ..messages import LABELS

    return {k: LABELS[lang][k] for k in HEADINGS}


def _pad(text: str, width: int, right: bool = False) -> str:
    """Pad to a display width: a Chinese heading takes two columns a character."""
    from wcwidth import wcswidth

    gap = " " * max(0, width - wcswidth(text))
    return gap + text if right else text + gap


def text(packets, scanner: str, target: str, notes=None, width: int = 46, headings=None) -> str:
    """An ASCII ladder:

         frame     time  scanner 198.18.0.1          target 198.18.0.2
             5   +0.000  40000 --- S seq=0 -------------> 80
             6   +0.001  40000 <-- SA seq=5000 ack=1 ---- 80

    `headings` words the header row in another language (the keys of HEADINGS).
    """
    h = {**HEADINGS, **(headings or {})}
    arrows = rows(packets, scanner, notes)
    shown, more = arrows[:MAX_ARROWS], len(arrows) - MAX_ARROWS
    head = (f"{_pad(h['frame'], 7, True)} {_pad(h['time'], 8, True)}  "
            f"{_pad(h['scanner'] + ' ' + scanner, width + 6)} {h['target']} {target}")
    lines = [head]
    for a in shown:
        body = f" {a.label} "
        if a.rightward:
            arrow = "--" + body + "-" * max(1, width - len(body) - 3) + ">"
        else:
            arrow = "<" + "-" * max(1, width - len(body) - 3) + body + "--"
        note = f"  [{a.note}]" if a.note else ""
        lines.append(f"{a.frame:>7} {'+%.3f' % a.dt:>8}  {a.sport:>5} {arrow} {a.dport:<5}{note}".rstrip())
    if more > 0:
        lines.append(f"{'':>7} {'':>8}  " + h["more"].format(n=more))
    return "\n".join(lines)


def _mermaid_text(s: str) -> str:
    # ";" ends a statement and "#" starts an entity code in Mermaid.
    return s.replace(";", ",").replace("#", "no. ")


def mermaid(packets, scanner: str, target: str, notes=None, headings=None) -> str:
    h = {**HEADINGS, **(headings or {})}
    arrows = rows(packets, scanner, notes)
    lines = ["sequenceDiagram", f"    participant S as {h['scanner']} {scanner}",
             f"    participant T as {h['target']} {target}"]
    for a in arrows[:MAX_ARROWS]:
        ports = f"{a.sport}→{a.dport}" if a.rightward else f"{a.dport}→{a.sport}"
        ports = ports if a.sport else ""
        msg = _mermaid_text(f"[{a.frame}] {a.label} {ports}".rstrip())
        lines.append(f"    {'S->>T' if a.rightward else 'T-->>S'}: {msg}")
        if a.note:
            lines.append(f"    Note {'left of S' if a.rightward else 'right of T'}: {_mermaid_text(a.note)}")
    more = len(arrows) - MAX_ARROWS
    if more > 0:
        lines.append(f"    Note over S,T: {_mermaid_text(h['more'].format(n=more))}")
    return "\n".join(lines)


_COLORS = {"error": "#c0392b", "warning": "#d68910", "info": "#2e86c1", "": "#333333"}


def svg(packets, scanner: str, target: str, notes=None, headings=None) -> str:
    """A self-contained SVG ladder (no script, no external style)."""
    h = {**HEADINGS, **(headings or {})}
    arrows = rows(packets, scanner, notes)
    shown, more = arrows[:MAX_ARROWS], len(arrows) - MAX_ARROWS
    left, right, top, step = 150, 530, 48, 34
    height = top + step * (len(shown) + (1 if more > 0 else 0)) + 16
    width = max(700, right + 60 + 8 * max((len(a.note) for a in shown), default=0))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="monospace" font-size="12" role="img" aria-label="ladder diagram">',
           "<defs>" + "".join(
               f'<marker id="a{i}" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto">'
               f'<path d="M0,0 L10,4 L0,8 z" fill="{c}"/></marker>' for i, c in enumerate(_COLORS.values())) +
           "</defs>",
           f'<text x="{left}" y="16" text-anchor="middle" font-weight="bold">{escape(h["scanner"])} {escape(scanner)}</text>',
           f'<text x="{right}" y="16" text-anchor="middle" font-weight="bold">{escape(h["target"])} {escape(target)}</text>',
           f'<line x1="{left}" y1="24" x2="{left}" y2="{height - 8}" stroke="#999"/>',
           f'<line x1="{right}" y1="24" x2="{right}" y2="{height - 8}" stroke="#999"/>']
    marker = {sev: i for i, sev in enumerate(_COLORS)}
    for i, a in enumerate(shown):
        y = top + i * step
        color = _COLORS.get(a.severity, _COLORS[""])
        x1, x2 = (left, right) if a.rightward else (right, left)
        out.append(f'<text x="8" y="{y + 4}" fill="#666">#{a.frame} +{a.dt:.3f}s</text>')
        out.append(f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{color}" stroke-width="1.5" '
                   f'marker-end="url(#a{marker.get(a.severity, 3)})"/>')
        out.append(f'<text x="{(left + right) // 2}" y="{y - 5}" text-anchor="middle" fill="{color}">'
                   f'{escape(a.label)}</text>')
        if a.sport:
            out.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" fill="#666">{escape(a.sport)}</text>')
            out.append(f'<text x="{right + 6}" y="{y + 14}" fill="#666">{escape(a.dport)}</text>')
        if a.note:
            out.append(f'<text x="{right + 50}" y="{y + 4}" fill="{color}">{escape(a.note)}</text>')
    if more > 0:
        out.append(f'<text x="{(left + right) // 2}" y="{top + len(shown) * step}" text-anchor="middle" '
                   f'fill="#666">{escape(h["more"].format(n=more))}</text>')
    out.append("</svg>")
    return "\n".join(out)
