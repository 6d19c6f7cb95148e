"""Terminal table (tabulate): per capture a summary line, per scan a table.
Warnings and errors are not repeated here: the CLI writes them to stderr."""
from tabulate import tabulate

from .rows import capture_line, frames_text, port_row, scan_title

HEADERS = ["port", "state", "reason", "ttl", "frames (probe -> response)"]


def render(result, fmt: str = "simple") -> str:
    out = []
    for c in result.captures:
        if c.error:
            continue  # the CLI says it on stderr; stdout keeps the results
        out.append(capture_line(c))
        scans = [s for s in result.scans if s.capture == c.path]
        if not scans and not c.error and c.packets:
            out.append("  no scan probes found")
        for scan in scans:
            out.append("")
            out.append(scan_title(scan))
            out.append(f"  technique: {scan.technique_evidence}")
            if scan.tool is not None:
                out.append(f"  tool: {scan.tool.name} ({scan.tool.confidence:.2f})")
            rows = []
            for p in scan.ports:
                r = port_row(scan, p)
                rows.append([f"{r['port']}/{r['proto']}", r["state"], r["reason"], r["reason_ttl"] or "-",
                             frames_text(r)])
            out.append(tabulate(rows, headers=HEADERS, tablefmt=fmt))
        out.append("")
    return "\n".join(out)
