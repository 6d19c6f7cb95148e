"""Renderers for `pcapscan compare`: a Comparison in, text out (table,
markdown, json), and a timeline plot written as SVG by hand. No analysis
happens here (compare.py does it). Table and markdown speak English or
Chinese (messages.py's "compare.*" words); json stays English, and so does
the plot."""
from __future__ import annotations

import json
from collections import Counter
from xml.sax.saxutils import escape

from tabulate import tabulate

from ..gcpause import no_cyclic_gc
from ..messages import T, label, render as render_words
from .collapse import COLLAPSE_MIN

FORMATS = ("table", "markdown", "json")
WRAP = 48  # column width for the field table in terminal and markdown output


def render(comparison, fmt: str = "table", lang: str = "en") -> str:
    with no_cyclic_gc():  # a row per port, beside the two sessions' Exchanges: full collections walk them all
        if fmt == "json":  # a machine format: English whatever the language
            return json.dumps(to_dict(comparison), indent=2, ensure_ascii=False) + "\n"
        if fmt == "markdown":
            return _markdown(comparison, lang)
        return _table(comparison, lang)


# -- json ------------------------------------------------------------------------------


def _port_dict(p) -> dict:
    if p is None:
        return None
    return {"technique": p.technique, "state": p.state, "reason": p.reason, "probes": p.probes,
            "retries": [round(t, 6) for t in p.retry_offsets], "start": round(p.start, 6),
            "answers": [{"kind": k, "frame": f} for k, f in p.answers], "udp_payloads": list(p.payloads),
            "handshake": p.handshake,
            "rsts": [{"frame": r.frame, "sender": r.sender, "packet": r.text} for r in p.rsts]}


def _side_dict(s) -> dict:
    return {"capture": s.capture, "session": s.session, "sessions": s.sessions, "scanner": s.scan.scanner,
            "target": s.scan.target, "technique": s.scan.technique.value,
            "tool": {"name": s.tool, "confidence": s.tool_confidence, "evidence": list(s.tool_evidence)},
            "start": s.start, "duration": round(s.duration, 6), "probes": s.probe_count,
            "retransmissions": s.retransmissions, "gaps": {"median": _median(s.gaps), "min": min(s.gaps, default=None),
                                                          "max": max(s.gaps, default=None)},
            "port_order": [f"{port}/{proto}" for proto, port in s.order], "fields": dict(s.fields)}


def _median(values):
    values = sorted(values)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def to_dict(c) -> dict:
    return {
        "a": _side_dict(c.a), "b": _side_dict(c.b),
        "fields": [{"field": f.name, "a": f.a, "b": f.b, "same": f.same} for f in c.fields],
        "ports": [{"proto": r.proto, "port": r.port, "agree": r.agree, "relation": r.relation,
                   "a": _port_dict(r.a), "b": _port_dict(r.b),
                   **({"explanation": r.explanation} if r.explanation else {})} for r in c.ports],
        "disagreements": [{"proto": r.proto, "port": r.port, "a": r.a.state, "b": r.b.state,
                           "explanation": r.explanation} for r in c.disagreements],
        "consistent": [{"proto": r.proto, "port": r.port, "a": r.a.state, "b": r.b.state,
                        "explanation": r.explanation} for r in c.consistent],
        "only_one": [{"proto": r.proto, "port": r.port, "side": "a" if r.a is not None else "b",
                      "state": (r.a or r.b).state} for r in c.one_sided],
        "notes": list(c.notes),
    }


# -- table and markdown -------------------------------------------------------------------


def say(words, lang: str) -> str:
    """compare.py's words (messages.Said) in the language asked: in English
    what they already are (rendering again a page of explanations costs)."""
    return str(words) if lang == "en" else render_words(words, lang)


def _cell(p, lang: str = "en") -> str:
    if p is None:
        return "-"
    retries = label("compare.cell.retries", lang, retries=say(p.retry_text, lang)) if p.retry_offsets else ""
    return label("compare.cell", lang, state=p.state, reason=p.reason, probes=p.probes, retries=retries)


def _field_rows(c, mark: str, lang: str):
    return [[(mark if not f.same else "") + render_words(T(f"compare.field.{f.name}"), lang), say(f.a, lang),
             say(f.b, lang)] for f in c.fields]


def _agree(relation: str, lang: str) -> str:
    """The "agree" column: the same state (yes), two readings both true of one port (consistent), a
    contradiction (NO), one side only (-)."""
    return label(f"compare.agree.{relation}", lang)


# Explained ports, by section (its heading: LABELS' compare.<section>), in this order.
SECTIONS = ("disagreements", "consistent", "one_sided")


# Relations whose ports may be summed up: nothing to explain port by port.
SUMMED = ("same", "one-sided")


def _port_rows(c, lang: str = "en"):
    """(rows to list, "Not shown: ..." or None, the PortRows summed up). As
    analyze does after nmap (report/collapse.py), ports read alike (both scans
    the same way, or one scan only) are summed up once more than COLLAPSE_MIN
    of them read one way: two -p- scans that agree on 64,000 closed ports list
    the few that matter. --format json keeps every port."""
    cells = [(r, _cell(r.a, lang), _cell(r.b, lang)) for r in c.ports]
    alike = Counter((r.relation, r.proto, a, b) for r, a, b in cells if r.relation in SUMMED)
    hidden = {k: n for k, n in alike.items() if n >= COLLAPSE_MIN}
    rows, summed = [], set()
    for r, a, b in cells:
        if r.relation in SUMMED and (r.relation, r.proto, a, b) in hidden:
            summed.add(id(r))
        else:
            rows.append([f"{r.port}/{r.proto}", a, b, _agree(r.relation, lang)])
    if not hidden:
        return rows, None, summed
    parts = []
    for (relation, proto, a, b), n in sorted(hidden.items(), key=lambda kv: -kv[1]):
        if relation == "one-sided":
            parts.append(label("compare.not-shown.a", lang, n=n, proto=proto, cell=a) if b == "-" else
                         label("compare.not-shown.b", lang, n=n, proto=proto, cell=b))
        else:
            parts.append(label("compare.not-shown.same", lang, n=n, proto=proto, cell=a) if a == b else
                         label("compare.not-shown.both", lang, n=n, proto=proto, a=a, b=b))
    return rows, label("compare.not-shown", lang, parts=label("compare.sep", lang).join(parts)), summed


def _section(c, attr: str, summed: set) -> tuple:
    """(the section's PortRows to explain one by one, how many are summed up in "Not shown")."""
    rows = getattr(c, attr)
    mine = [r for r in rows if id(r) not in summed]
    return mine, len(rows) - len(mine)


def simple_table(rows: list, headers: list) -> str:
    """tabulate(rows, headers, tablefmt="simple") for cells of one-line ASCII
    text, every column left-aligned: the same text, written directly (a
    compare of 65,535 ports has 65,535 rows; tabulate looks at each cell
    again and again: 2.6 s, this 0.05 s). tests/test_compare.py holds it to
    tabulate."""
    widths = [len(h) + 2 for h in headers]  # tabulate's minimum: the header and two spaces
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def _table(c, lang: str = "en") -> str:
    colon = label("compare.colon", lang)
    out = [say(c.a.title, lang), say(c.b.title, lang), ""]
    out.append(tabulate(_field_rows(c, "* ", lang), headers=[label("compare.field", lang), "A", "B"],
                        tablefmt="simple", maxcolwidths=[None, WRAP, WRAP]))
    if any(not f.same for f in c.fields):
        out.append(label("compare.differ", lang))
    out.append("")
    rows, not_shown, summed = _port_rows(c, lang)
    if not_shown:
        out += [not_shown, ""]
    headers = [label("compare.port", lang), "A", "B", label("compare.agree", lang)]
    # simple_table counts characters; Chinese takes two columns a character: tabulate measures display width
    out.append(simple_table(rows, headers) if lang == "en" else
               tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
    for attr in SECTIONS:
        mine, more = _section(c, attr, summed)
        if mine or more:
            out += ["", label(f"compare.{attr}", lang) + label("compare.end", lang)]
            out += [f"  {r.port}/{r.proto}{colon}{say(r.explanation, lang)}" for r in mine]
            if more:
                out.append("  " + label("compare.summed", lang, more=more))
    out.append("")
    out.append(label("compare.notes", lang) + label("compare.end", lang))
    out += [f"  - {say(n, lang)}" for n in c.notes]
    out.append("")
    return "\n".join(out)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|")


def _markdown(c, lang: str = "en") -> str:
    colon = label("compare.colon", lang)
    out = [f"# {label('compare.title', lang)}", "", f"- **{_md(say(c.a.title, lang))}**",
           f"- **{_md(say(c.b.title, lang))}**", "", f"## {label('compare.made', lang)}", ""]
    rows = [[_md(n), _md(a), _md(b)] for n, a, b in _field_rows(c, "**≠** ", lang)]
    out.append(tabulate(rows, headers=[label("compare.field", lang), "A", "B"], tablefmt="github"))
    out += ["", f"## {label('compare.ports', lang)}", ""]
    rows, not_shown, summed = _port_rows(c, lang)
    if not_shown:
        out += [_md(not_shown), ""]
    out.append(tabulate([[_md(x) for x in row] for row in rows],
                        headers=[label("compare.port", lang), "A", "B", label("compare.agree", lang)],
                        tablefmt="github", disable_numparse=True))  # every cell is text: no number to look for
    for attr in SECTIONS:
        mine, more = _section(c, attr, summed)
        if mine or more:
            out += ["", f"## {label(f'compare.{attr}', lang)}", ""]
            out += [f"- **{r.port}/{r.proto}**{colon}{_md(say(r.explanation, lang))}" for r in mine]
            if more:
                out.append("- " + label("compare.summed", lang, more=more))
    out += ["", f"## {label('compare.notes', lang)}", ""]
    out += [f"- {_md(say(n, lang))}" for n in c.notes]
    out.append("")
    return "\n".join(out)


# -- the timeline plot ---------------------------------------------------------------------

COLOURS = {"probe": "#1f5fbf", "retry": "#1f5fbf", "syn-ack": "#2a9d3a", "rst": "#d62828", "udp": "#7b2cbf",
           "icmp-port-unreach": "#f77f00", "icmp-unreach": "#f77f00", "icmp-time-exceeded": "#f77f00",
           "syn": "#2a9d3a", "kernel": "#6c757d", "tool": "#111111", "kernel (connect)": "#6c757d",
           "ack": "#2a9d3a"}
MAX_ROWS = 40
ROW_H, LEFT, RIGHT, TOP, PANEL_GAP, WIDTH = 24, 90, 96, 56, 48, 980


def svg(c) -> str:
    """Probes and answers over time, one panel per scan, one row per port."""
    rows = _plot_ports(c)
    span, step = _ticks(max(c.a.duration, c.b.duration, 1e-4) * 1.02)
    plot_w = WIDTH - LEFT - RIGHT
    panel_h = len(rows) * ROW_H + 28
    height = TOP + 2 * panel_h + PANEL_GAP + 90
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">',
             f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
             f'<text x="{LEFT}" y="22" font-size="15" font-weight="bold">pcapscan compare: probes and answers '
             f'over time</text>']
    hidden = len(set(c.a.ports) | set(c.b.ports)) - len(rows)
    if hidden > 0:
        parts.append(f'<text x="{LEFT}" y="38" fill="#555">{hidden} more port(s) not drawn '
                     f'(disagreements and the first probed come first)</text>')
    y0 = TOP
    for side in (c.a, c.b):
        parts += _panel(side, rows, y0, span, step, plot_w)
        y0 += panel_h + PANEL_GAP
    parts += _legend(y0 - PANEL_GAP + 30)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _plot_ports(c) -> list:
    keys = sorted(set(c.a.ports) | set(c.b.ports))
    if len(keys) <= MAX_ROWS:
        return keys
    first = [r for r in c.disagreements + c.consistent + c.one_sided][:MAX_ROWS]
    chosen = [(r.proto, r.port) for r in first]
    for key in list(c.a.order) + list(c.b.order):
        if len(chosen) >= MAX_ROWS:
            break
        if key not in chosen:
            chosen.append(key)
    return sorted(chosen)


def _x(t: float, span: float, plot_w: float) -> float:
    return LEFT + max(0.0, min(1.0, t / span)) * plot_w


def _ticks(span: float) -> tuple:
    """A round axis length and tick step (1, 2 or 5 times a power of ten), at most 6 steps."""
    import math

    power = 10 ** math.floor(math.log10(span / 5))
    for mult in (1, 2, 5, 10):
        step = mult * power
        if span / step <= 6:
            return math.ceil(span / step - 1e-9) * step, step
    return span, span / 5


def _panel(side, rows, y0, span, step, plot_w) -> list:
    title = (f"{side.label}: {side.capture} — {side.tool} ({side.tool_confidence:.2f}), "
             f"{side.scan.technique.value} scan, {side.fields['duration']}")
    out = [f'<text x="{LEFT}" y="{y0 - 6}" font-weight="bold">{escape(title)}</text>']
    h = len(rows) * ROW_H
    out.append(f'<rect x="{LEFT}" y="{y0}" width="{plot_w}" height="{h}" fill="#fafafa" stroke="#ccc"/>')
    for i in range(int(round(span / step)) + 1):  # time axis
        t = step * i
        x = _x(t, span, plot_w)
        out.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + h}" stroke="#e3e3e3"/>')
        out.append(f'<text x="{x:.1f}" y="{y0 + h + 14}" text-anchor="middle" fill="#555">{_t(t)}</text>')
    for i, key in enumerate(rows):
        y = y0 + i * ROW_H + ROW_H / 2
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{key[1]}/{key[0]}</text>')
        p = side.ports.get(key)
        if p is None:
            out.append(f'<text x="{LEFT + 6}" y="{y + 4:.1f}" fill="#999">not probed</text>')
            continue
        ex = side.exchange(p)  # a port described by its shape: replayed now
        if i:
            out.append(f'<line x1="{LEFT}" y1="{y - ROW_H / 2:.1f}" x2="{LEFT + plot_w}" y2="{y - ROW_H / 2:.1f}" '
                       f'stroke="#eee"/>')
        for j, probe in enumerate(ex.probes):
            x = _x(probe.ts - side.start, span, plot_w)
            fill = COLOURS["probe"] if j == 0 else "white"
            tip = f"probe frame {probe.frame}, {probe.flag_text or probe.proto}, TTL {probe.ttl}"
            out.append(f'<circle cx="{x:.1f}" cy="{y - 6:.1f}" r="4" fill="{fill}" stroke="{COLOURS["probe"]}">'
                       f'<title>{escape(tip)}'
                       f'</title></circle>')
        for resp, (kind, frame) in zip(ex.responses, p.answers):
            x = _x(resp.ts - side.start, span, plot_w)
            colour = COLOURS.get(kind, "#444")
            out.append(f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="{colour}">'
                       f'<title>{escape(f"answer frame {frame}: {kind}")}</title></rect>')
        for r in p.rsts:
            f = next((f for f in ex.followups if f.frame == r.frame), None)
            if f is None:
                continue
            x = _x(f.ts - side.start, span, plot_w)
            colour = COLOURS.get(r.sender, "#111")
            yr = y + 6
            out.append(f'<path d="M{x - 4:.1f},{yr - 4:.1f} L{x + 4:.1f},{yr + 4:.1f} M{x - 4:.1f},{yr + 4:.1f} '
                       f'L{x + 4:.1f},{yr - 4:.1f}" stroke="{colour}" stroke-width="2">'
                       f'<title>{escape(f"RST frame {r.frame} by the {r.sender}: {r.text}")}</title></path>')
        for f in ex.followups:  # the scanner's ACK that completes a handshake
            if f.flags & 0x10 and not f.flags & 0x06:
                x, yr = _x(f.ts - side.start, span, plot_w), y + 6
                out.append(f'<path d="M{x - 4:.1f},{yr:.1f} L{x + 4:.1f},{yr:.1f} M{x:.1f},{yr - 4:.1f} '
                           f'L{x:.1f},{yr + 4:.1f}" stroke="{COLOURS["ack"]}" stroke-width="2">'
                           f'<title>{escape(f"ACK frame {f.frame}: the handshake completed")}</title></path>')
        state_x = LEFT + plot_w + 6
        out.append(f'<text x="{state_x}" y="{y + 4:.1f}" font-size="9" fill="#333">{escape(p.state)}</text>')
    return out


def _t(t: float) -> str:
    if t == 0:
        return "0"
    if t >= 1:
        return f"{t:.2f} s"
    return f"{t * 1000:.1f} ms"


def _legend(y) -> list:
    items = [("circle", COLOURS["probe"], "probe (hollow: retransmission)"), ("rect", COLOURS["syn-ack"], "SYN/ACK"),
             ("rect", COLOURS["rst"], "RST"), ("rect", COLOURS["icmp-unreach"], "ICMP error"),
             ("rect", COLOURS["udp"], "UDP answer"), ("x", COLOURS["kernel"], "RST by the scanner's kernel"),
             ("x", COLOURS["tool"], "RST by the tool"), ("+", COLOURS["ack"], "handshake ACK")]
    out, x = [], LEFT
    for shape, colour, name in items:
        if x + 12 + 6.2 * len(name) > WIDTH - 10:
            x, y = LEFT, y + 20
        if shape == "circle":
            out.append(f'<circle cx="{x + 4}" cy="{y}" r="4" fill="{colour}"/>')
        elif shape == "rect":
            out.append(f'<rect x="{x}" y="{y - 4}" width="8" height="8" fill="{colour}"/>')
        elif shape == "+":
            out.append(f'<path d="M{x},{y} L{x + 8},{y} M{x + 4},{y - 4} L{x + 4},{y + 4}" stroke="{colour}" '
                       f'stroke-width="2"/>')
        else:
            out.append(f'<path d="M{x},{y - 4} L{x + 8},{y + 4} M{x},{y + 4} L{x + 8},{y - 4}" stroke="{colour}" '
                       f'stroke-width="2"/>')
        out.append(f'<text x="{x + 12}" y="{y + 4}">{escape(name)}</text>')
        x += 12 + 6.2 * len(name) + 22
    return out
