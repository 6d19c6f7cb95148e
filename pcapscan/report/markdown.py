"""Markdown: the table output with GitHub pipe tables."""
from tabulate import tabulate

from .rows import capture_line, frames_text, port_row, scan_title


def render(result) -> str:
    out = ["# pcapscan analysis", ""]
    for c in result.captures:
        out.append(f"## {c.path}")
        out.append("")
        out.append(capture_line(c)[len(c.path) + 2:])
        for w in c.warnings:
            out.append(f"- warning: {w}")
        out.append("")
        for scan in (s for s in result.scans if s.capture == c.path):
            out.append(f"### {scan_title(scan)}")
            out.append("")
            out.append(f"Technique: {scan.technique_evidence}.")
            out.append("")
            if scan.tool is not None:
                out.append(f"Tool: {scan.tool.name} ({scan.tool.confidence:.2f}).")
                out.append("")
            rows = [[f"{r['port']}/{r['proto']}", r["state"].replace("|", "\\|"), r["reason"],
                     r["reason_ttl"] or "-", frames_text(r)]
                    for r in (port_row(scan, p) for p in scan.ports)]
            out.append(tabulate(rows, headers=["port", "state", "reason", "ttl", "frames (probe -> response)"],
                                tablefmt="github"))
            out.append("")
    return "\n".join(out)
