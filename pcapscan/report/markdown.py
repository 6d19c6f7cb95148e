"""Markdown: the table output with GitHub pipe tables."""
from tabulate import tabulate

from .collapse import not_shown_line, rows_and_hidden
from .rows import (HOST_HEADERS, capture_line, discovery_title, frames_text, host_row, other_line, port_row,
                   probing_line, scan_title)


def render(result) -> str:
    out = ["# pcapscan analysis", ""]
    for c in result.captures:
        out.append(f"## {c.path}")
        out.append("")
        out.append(capture_line(c)[len(c.path) + 2:])
        if other_line(c):
            out.append(f"- {other_line(c).strip()}")
        for w in c.warnings:
            out.append(f"- warning: {w}")
        out.append("")
        for d in (d for d in getattr(result, "discoveries", ()) if d.capture == c.path):
            out.append(f"### {discovery_title(d)}")
            out.append("")
            out.append(tabulate([[str(x).replace("|", "\\|") for x in host_row(h)] for h in d.hosts],
                                headers=HOST_HEADERS, tablefmt="github"))
            out.append("")
        for p in (p for p in getattr(result, "probings", ()) if p.capture == c.path):
            out.append(f"- {probing_line(p)}: {p.evidence}.")
            out.append("")
        for scan in (s for s in result.scans if s.capture == c.path):
            out.append(f"### {scan_title(scan)}")
            out.append("")
            out.append(f"Technique: {scan.technique_evidence}.")
            out.append("")
            if scan.zombie is not None:
                out.append(f"Zombie: {scan.zombie}.")
                out.append("")
            if scan.tool is not None:
                out.append(f"Tool: {scan.tool.name} ({scan.tool.confidence:.2f}).")
                out.append("")
            shown, hidden = rows_and_hidden(scan.ports)  # nmap's "Not shown: ..." for big states, as the table
            if hidden:
                out.append(f"{not_shown_line(hidden)}.".replace("|", "\\|"))
                out.append("")
            rows = [[f"{r['port']}/{r['proto']}", r["state"].replace("|", "\\|"), r["reason"],
                     r["reason_ttl"] or "-", frames_text(r)]
                    for r in (port_row(scan, p) for p in shown)]
            if rows:
                out.append(tabulate(rows, headers=["port", "state", "reason", "ttl", "frames (probe -> response)"],
                                    tablefmt="github"))
                out.append("")
    return "\n".join(out)
