"""Markdown: the table output with GitHub pipe tables."""
from tabulate import tabulate

from ..messages import label, render as say
from .collapse import not_shown_line, rows_and_hidden
from .rows import (capture_line, discovery_title, frames_text, host_headers, host_row, other_line, port_headers,
                   port_row, probing_line, scan_title, tool_text)


def render(result, lang: str = "en") -> str:
    colon, stop = label("colon", lang), label("analyze.stop", lang)
    out = [f"# {label('analyze.title', lang)}", ""]
    for c in result.captures:
        out.append(f"## {c.path}")
        out.append("")
        out.append(capture_line(c, lang)[len(c.path) + len(colon):])
        if other_line(c, lang):
            out.append(f"- {other_line(c, lang).strip()}")
        for w in c.warnings if lang == "en" or c.packets else ():  # an empty capture: its line says so
            out.append(f"- {label('analyze.warning', lang)}{colon}{say(w, lang)}")
        out.append("")
        for d in (d for d in getattr(result, "discoveries", ()) if d.capture == c.path):
            out.append(f"### {discovery_title(d, lang)}")
            out.append("")
            out.append(tabulate([[str(x).replace("|", "\\|") for x in host_row(h)] for h in d.hosts],
                                headers=host_headers(lang), tablefmt="github"))
            out.append("")
        for p in (p for p in getattr(result, "probings", ()) if p.capture == c.path):
            out.append(f"- {probing_line(p, lang)}{colon}{say(p.evidence, lang)}{stop}")
            out.append("")
        for scan in (s for s in result.scans if s.capture == c.path):
            out.append(f"### {scan_title(scan, lang)}")
            out.append("")
            out.append(f"{label('analyze.Technique', lang)}{colon}{say(scan.technique_evidence, lang)}{stop}")
            out.append("")
            if scan.zombie is not None:
                out.append(f"{label('analyze.Zombie', lang)}{colon}{scan.zombie}{stop}")
                out.append("")
            if scan.tool is not None:
                out.append(f"{label('analyze.Tool', lang)}{colon}{tool_text(scan.tool, lang)}{stop}")
                out.append("")
            shown, hidden = rows_and_hidden(scan.ports)  # nmap's "Not shown: ..." for big states, as the table
            if hidden:
                out.append(f"{not_shown_line(hidden, lang)}{stop}".replace("|", "\\|"))
                out.append("")
            rows = [[f"{r['port']}/{r['proto']}", r["state"].replace("|", "\\|"), r["reason"],
                     r["reason_ttl"] or "-", frames_text(r)]
                    for r in (port_row(scan, p) for p in shown)]
            if rows:
                out.append(tabulate(rows, headers=port_headers(lang), tablefmt="github"))
                out.append("")
    return "\n".join(out)
