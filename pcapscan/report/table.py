"""Terminal table (tabulate): per capture a summary line, per scan a table.
Warnings and errors are not repeated here: the CLI writes them to stderr."""
from numbers import Integral

from tabulate import tabulate

from .collapse import hosts_and_hidden, not_shown_hosts_line, not_shown_line, rows_and_hidden
from ..messages import label, render as say
from .rows import (capture_line, discovery_title, frames_text, host_headers, host_row, other_line, port_headers,
                   port_row, probing_line, scan_title, tool_text)

HEADERS = port_headers("en")


def render(result, fmt: str = "simple", lang: str = "en") -> str:
    """The table report; `lang` words its headings and sentences (nmap's state
    and reason tokens stay as nmap prints them)."""
    def line(key, text):  # "  technique: ..." / "  扫描技术：..."
        return f"  {label(key, lang)}{label('colon', lang)}{text}"

    out = []
    for c in result.captures:
        if c.error:
            continue  # the CLI says it on stderr; stdout keeps the results
        out.append(capture_line(c, lang))
        if other_line(c, lang):
            out.append(other_line(c, lang))
        scans = [s for s in result.scans if s.capture == c.path]
        discoveries = [d for d in getattr(result, "discoveries", ()) if d.capture == c.path]
        probings = [p for p in getattr(result, "probings", ()) if p.capture == c.path]
        if not scans and not discoveries and not probings and not c.error and c.packets:
            out.append("  " + label("analyze.no-probes", lang))
        for d in discoveries:
            out.append("")
            out.append(discovery_title(d, lang))
            shown, hidden = hosts_and_hidden(d.hosts)  # a sweep's down hosts, summed up as nmap does
            if hidden:
                out.append(f"  {not_shown_hosts_line(hidden, lang)}")
            if shown:  # no table of headers alone
                out.append(tabulate([host_row(h) for h in shown], headers=host_headers(lang), tablefmt=fmt))
        for p in probings:
            out.append("")
            out.append(probing_line(p, lang))
            out.append(line("analyze.evidence", say(p.evidence, lang)))
        for scan in scans:
            out.append("")
            out.append(scan_title(scan, lang))
            out.append(line("analyze.technique", say(scan.technique_evidence, lang)))
            if scan.zombie is not None:
                out.append(line("analyze.zombie", scan.zombie))
            if scan.tool is not None:
                out.append(line("analyze.tool", tool_text(scan.tool, lang)))
            shown, hidden = rows_and_hidden(scan.ports)  # nmap's "Not shown: ..." for big states
            if hidden:
                out.append(f"  {not_shown_line(hidden, lang)}")
            rows = []
            for p in shown:
                r = port_row(scan, p)
                rows.append([f"{r['port']}/{r['proto']}", r["state"], r["reason"], r["reason_ttl"] or "-",
                             frames_text(r)])
            if rows:  # every port collapsed: the "Not shown" line says it all
                out.append(_port_table(rows, fmt, port_headers(lang)))
        out.append("")
    return "\n".join(out)


def _port_table(rows, fmt: str, headers=HEADERS) -> str:
    """tabulate of port rows, its column types told rather than guessed: guessing
    reads every cell as a number first, most of the time of a report of many
    scans. Only the TTL column can be numeric (right-aligned, as tabulate
    aligns a column of numbers); the others are text (left-aligned)."""
    ttl = "right" if rows and all(isinstance(r[3], Integral) and not isinstance(r[3], bool) for r in rows) else "left"
    return tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True,
                    colalign=("left", "left", "left", ttl, "left"))
