"""Renderers of a VerifyResult: table (terminal text with ASCII ladders),
markdown (Mermaid ladders), html (SVG ladders, one self-contained page) and
json. No judging happens here: the findings and their words come from
verify.py and messages.py.

Which ladders are drawn (`ladders`): "auto" draws every port a finding
names, and every port of a capture with at most AUTO_ALL_PORTS of them;
"all" every checked port; "none" none.
"""
from __future__ import annotations

import json
import re
import textwrap
from collections import Counter
from html import escape

from tabulate import tabulate
from wcwidth import wcswidth

from .. import messages
from ..messages import label
from . import ladder
from .jsonfmt import to_dict
from .rows import capture_facts, capture_line

FORMATS = ("table", "markdown", "html", "json")
LADDER_MODES = ("auto", "all", "none")
AUTO_ALL_PORTS = 4
MAX_PORT_ROWS = 20  # beyond this a capture's port list is summarised by state


def render(result, fmt: str = "table", ladders: str = "auto") -> str:
    return {"table": render_table, "markdown": render_markdown, "html": render_html,
            "json": lambda r, ladders="auto": render_json(r)}[fmt](result, ladders=ladders)


# -- shared views ----------------------------------------------------------------

def _captures(result):
    """[(CaptureSummary, findings, ports, claims)] in capture order, readable
    captures only: the CLI tells the unreadable ones on stderr."""
    out = []
    for c in result.analysis.captures:
        if c.error:
            continue
        findings = [f for f in result.findings if f.capture == c.path]
        ports = _ports_of(result.ports, c.path)
        claims = [(text, source) for path, text, source in result.claims if path == c.path]
        out.append((c, findings, ports, claims))
    return out


def _ports_of(ports, capture: str):
    """The checked ports of one capture. A big capture's (verify.CheckedPorts) are
    made only when read: its `of` and `column` read them without making them."""
    of = getattr(ports, "of", None)
    return of(capture) if of is not None else [p for p in ports if p.capture == capture]


def _column(items, name: str) -> list:
    column = getattr(items, "column", None)
    return column(name) if column is not None else [getattr(x, name) for x in items]


def _capture_verdict(c, findings) -> str:
    return "violates" if any(f.severity == "error" for f in findings) else "conforms"


def _counts(findings, lang) -> str:
    n = Counter(f.severity for f in findings)
    return label("counts", lang, errors=n["error"], warnings=n["warning"], infos=n["info"])


def _notes(findings, port) -> dict:
    notes: dict = {}
    for f in findings:
        if f.session is not None and f.session != port.session:
            continue  # another scan of the same port in the capture
        if (f.scanner, f.target, f.proto, f.port) == (port.scanner, port.target, port.proto, port.port) or (
                f.port is None and f.proto == port.proto and f.scanner == port.scanner and f.target == port.target):
            for frame in f.frames:
                notes.setdefault(frame, []).append((f.rule, f.severity))
    return notes


SUMMARISE_FROM = 10  # a rule raised more often than this in one capture is summarised in text output
FIRST_SHOWN = 3  # ... its first findings shown in full


def _shown(findings):
    """(findings shown in full, summaries): a rule with more than
    SUMMARISE_FROM findings in a capture (one kernel-rst note per open port
    of every session) shows its first FIRST_SHOWN and one summary line,
    (rule, severity, ports, sessions, shown, more). JSON keeps them all."""
    groups: dict = {}
    for f in findings:
        groups.setdefault((f.rule, f.severity), []).append(f)
    shown, summaries = [], []
    big = {key for key, fs in groups.items() if len(fs) > SUMMARISE_FROM}
    for key, fs in groups.items():
        if key in big:
            ports = {(f.scanner, f.target, f.proto, f.port) for f in fs}
            sessions = {f.session if f.session is not None else (f.scanner, f.target) for f in fs}
            summaries.append((key[0], key[1], len(ports), len(sessions), FIRST_SHOWN, len(fs) - FIRST_SHOWN))
    seen: dict = {}
    for f in findings:
        key = (f.rule, f.severity)
        seen[key] = seen.get(key, 0) + 1
        if key not in big or seen[key] <= FIRST_SHOWN:
            shown.append(f)
    return shown, summaries


def _summary_text(summary, lang) -> str:
    rule, _severity, ports, sessions, shown, more = summary
    return label("summary", lang, rule=rule, ports=ports, sessions=sessions, shown=shown, more=more)


def _ladder_ports(findings, ports, mode):
    if mode == "none":
        return []
    if mode == "all" or len(ports) <= AUTO_ALL_PORTS:
        return ports
    named = {(f.scanner, f.target, f.proto, f.port, f.session) for f in findings}
    numbers = {key[3] for key in named}
    rows_where = getattr(ports, "rows_where", None)  # verify.CheckedPorts: read off its columns
    at = rows_where("port", numbers) if rows_where is not None else \
        [i for i, port in enumerate(_column(ports, "port")) if port in numbers]  # the few a finding may name
    keys = [_column([ports[i] for i in at], k) for k in ("scanner", "target", "proto", "port", "session")]
    return [ports[i] for i, (scanner, target, proto, port, session) in zip(at, zip(*keys))
            if (scanner, target, proto, port, session) in named or (scanner, target, proto, port, None) in named]


def _port_rows(ports, lang):
    rows = [[p.scanner, p.target, p.technique, f"{p.port}/{p.proto}", p.state, p.reason,
             p.claim or label("inferred", lang)] for p in ports]
    headers = [label(k, lang) for k in ("scanner", "target", "technique", "port", "state", "reason", "claim")]
    if _several_sessions(ports):  # the capture holds several scans: say which each row is
        rows = [[_session_text(p, lang)] + r for p, r in zip(ports, rows)]
        headers = [label("session", lang)] + headers
    return headers, rows


def _several_sessions(items) -> bool:
    return len({session for session in _column(items, "session") if session is not None}) > 1


def _session_text(x, lang: str = "en") -> str:
    if x.session is None:
        return "-"
    tool = messages.LABELS[lang].get(f"tool.{x.tool}", x.tool)  # tools keep their names; "unknown" is a word
    return f"{x.session}{_paren(tool, lang)}" if x.tool else str(x.session)


def _state_summary(ports, lang: str = "en") -> str:
    """"4000 ports: 2992 closed, 1008 open|filtered", when there are too many to list."""
    n = Counter(_column(ports, "state"))
    counts = label("comma", lang).join(f"{count} {state}" for state, count in n.most_common())
    return label("ports.summary", lang, n=len(ports), counts=counts)


# Chinese text may break between any two Chinese characters, but a Latin word,
# number, file name or flag (a run of other characters) is never split, and no
# line starts with closing punctuation.
_TOKENS = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef“”‘’…—]|[^\s\u3000-\u303f\u3400-\u9fff\uff00-\uffef“”‘’…—]+|\s+")
_NO_LINE_START = set("，。；：、！？）」”’…)")
_NO_LINE_END = set("（「“‘(")


def _wrap(text: str, lang: str, indent: str = "      ", width: int = 100) -> str:
    """Wrap for a terminal: by words in English; by display columns in Chinese
    (a Chinese character is two columns wide: wcwidth)."""
    if lang != "zh":
        return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent)
    room = width - len(indent)
    lines, cur = [], ""
    for tok in _TOKENS.findall(text):
        if cur and wcswidth(cur + tok) > room and not tok.isspace() and tok[0] not in _NO_LINE_START:
            carry = cur[-1] if cur[-1] in _NO_LINE_END else ""  # an opening bracket goes with what it opens
            lines.append(cur[:len(cur) - len(carry)].rstrip())
            cur = carry
        if cur or not tok.isspace():
            cur += tok
    lines.append(cur.rstrip())
    return "\n".join(indent + line for line in lines)


def _claim_list(claims, lang: str, quote: str = "") -> str:
    """claim (source), ...: a source is a file name (intended.toml) or says where the claim came from."""
    return label("comma", lang).join(
        label("claim.item", lang, claim=f"{quote}{t}{quote}", source=messages.LABELS[lang].get(f"source.{s}", s))
        for t, s in claims)


def _paren(text: str, lang: str) -> str:
    return f"（{text}）" if lang == "zh" else f" ({text})"


def _ladder_what(p, lang: str) -> str:
    return f"{p.technique}{label('colon', lang)}{p.state}{label('comma', lang)}{p.reason}"


def _where(f) -> str:
    return f"{f.port}/{f.proto}" if f.port is not None else (f.proto or "-")


# -- table (terminal) -------------------------------------------------------------

def render_table(result, ladders: str = "auto") -> str:
    lang = result.lang
    if not _captures(result):
        return ""
    out = [label("title.line", lang, title=label("title", lang), verdict=label(result.verdict, lang),
                 counts=_counts(result.findings, lang)), ""]
    for c, findings, ports, claims in _captures(result):
        out.append(label("capture.verdict", lang, line=capture_line(c, lang),
                         verdict=label(_capture_verdict(c, findings), lang)))
        if claims:
            out.append("  " + label("claims.line", lang, claims=label("claims", lang), list=_claim_list(claims, lang)))
        elif c.packets:
            out.append(f"  {label('no-claim', lang)}")
        if ports and len(ports) <= MAX_PORT_ROWS:
            headers, rows = _port_rows(ports, lang)
            out.append(textwrap.indent(tabulate(rows, headers=headers, tablefmt="simple"), "  "))
        elif ports:
            out.append(f"  {_state_summary(ports, lang)}")
        out.append("")
        several = _several_sessions(ports)
        shown, summaries = _shown(findings)
        for f in shown:
            sev = messages.severity_word(f.severity, lang)
            frames = messages.frames_text(f.frames, lang) if f.frames else ""
            session = f"  {label('session', lang)} {_session_text(f, lang)}" if several and f.session is not None else ""
            out.append(f"  {sev.upper() if lang == 'en' else sev}  {f.rule}  {_where(f)}{session}  {frames}".rstrip())
            out.append(_wrap(f.message, lang))
        for sm in summaries:
            sev = messages.severity_word(sm[1], lang)
            out.append(f"  {sev.upper() if lang == 'en' else sev}  {_summary_text(sm, lang)}")
        if not findings and c.packets:
            out.append(f"  {label('no-findings', lang)}")
        for p in _ladder_ports(shown, ports, ladders):
            out.append("")
            out.append("  " + label("ladder.title", lang, ladder=label("ladder", lang), port=f"{p.port}/{p.proto}",
                                    what=_ladder_what(p, lang)))
            out.append(textwrap.indent(ladder.text(p.packets, p.scanner, p.target, _notes(findings, p),
                                                   headings=ladder.headings(lang)), "  "))
        out.append("")
    return "\n".join(out)


# -- markdown -------------------------------------------------------------------

def _md_cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(result, ladders: str = "auto") -> str:
    lang = result.lang
    if not _captures(result):
        return ""
    out = [f"# {label('title', lang)}{label('colon', lang)}{label(result.verdict, lang)}", "",
           _counts(result.findings, lang), ""]
    summary = [[_md_cell(c.path), label(_capture_verdict(c, fs), lang), _md_cell(_counts(fs, lang))]
               for c, fs, _, _ in _captures(result)]
    out += [tabulate(summary, headers=[label("capture", lang), label("verdict", lang), label("findings", lang)],
                     tablefmt="github"), ""]
    for c, findings, ports, claims in _captures(result):
        out += [f"## {c.path}", "",
                label("capture.verdict", lang, line=capture_facts(c, lang),
                      verdict=f"**{label(_capture_verdict(c, findings), lang)}**"), ""]
        if claims:
            out += [label("claims.line", lang, claims=label("claims", lang), list=_claim_list(claims, lang, "`")), ""]
        elif c.packets:
            out += [label("no-claim", lang), ""]
        if ports and len(ports) <= MAX_PORT_ROWS:
            headers, rows = _port_rows(ports, lang)
            out += [tabulate([[_md_cell(x) for x in r] for r in rows], headers=headers, tablefmt="github"), ""]
        elif ports:
            out += [_state_summary(ports, lang), ""]
        out += [f"### {label('findings', lang)}", ""]
        shown, summaries = _shown(findings)
        for f in shown:
            frames = _paren(messages.frames_text(f.frames, lang), lang) if f.frames else ""
            out.append(f"- **{messages.severity_word(f.severity, lang)}** `{f.rule}` {_where(f)}{frames}"
                       f"{label('colon', lang)}{f.message}")
        for sm in summaries:
            out.append(f"- **{messages.severity_word(sm[1], lang)}** {_md_cell(_summary_text(sm, lang))}")
        if not findings:
            out.append(f"- {label('no-findings', lang)}")
        out.append("")
        drawn = _ladder_ports(shown, ports, ladders)
        if drawn:
            out += [f"### {label('ladders', lang)}", ""]
        for p in drawn:
            out += [f"#### {p.port}/{p.proto}{_paren(_md_cell(_ladder_what(p, lang)), lang)}", "", "```mermaid",
                    ladder.mermaid(p.packets, p.scanner, p.target, _notes(findings, p), ladder.headings(lang)),
                    "```", ""]
    return "\n".join(out)


# -- html -------------------------------------------------------------------------

_CSS = """body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}
.error{color:#c0392b}.warning{color:#d68910}.info{color:#2e86c1}.conforms{color:#1e8449}.violates{color:#c0392b}
li{margin:.4em 0}code{background:#f4f4f4;padding:0 3px}"""


def _html_table(headers, rows) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(x))}</td>" for x in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(result, ladders: str = "auto") -> str:
    lang = result.lang
    if not _captures(result):
        return ""
    title = f"{label('title', lang)}{label('colon', lang)}{label(result.verdict, lang)}"
    out = [f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{escape(title)}</title>'
           f"<style>{_CSS}</style></head><body>",
           f'<h1>{escape(label("title", lang) + label("colon", lang))}<span class="{result.verdict}">'
           f'{escape(label(result.verdict, lang))}'
           f"</span></h1><p>{escape(_counts(result.findings, lang))}</p>"]
    for c, findings, ports, claims in _captures(result):
        verdict = _capture_verdict(c, findings)
        out.append(f'<h2>{escape(c.path)}</h2><p>{escape(capture_facts(c, lang) + label("colon", lang))}'
                   f'<b class="{verdict}">{escape(label(verdict, lang))}</b></p>')
        if claims:
            out.append(f"<p>{escape(label('claims', lang) + label('colon', lang))}"
                       + escape(_claim_list(claims, lang)) + "</p>")
        elif c.packets:
            out.append(f"<p>{escape(label('no-claim', lang))}</p>")
        if ports and len(ports) <= MAX_PORT_ROWS:
            out.append(_html_table(*_port_rows(ports, lang)))
        elif ports:
            out.append(f"<p>{escape(_state_summary(ports, lang))}</p>")
        out.append("<ul>")
        shown, summaries = _shown(findings)
        for f in shown:
            frames = escape(_paren(messages.frames_text(f.frames, lang), lang)) if f.frames else ""
            out.append(f'<li><b class="{f.severity}">{escape(messages.severity_word(f.severity, lang))}</b> '
                       f"<code>{escape(f.rule)}</code> {escape(_where(f))}{frames}"
                       f"{escape(label('colon', lang))}{escape(f.message)}</li>")
        for sm in summaries:
            out.append(f'<li><b class="{sm[1]}">{escape(messages.severity_word(sm[1], lang))}</b> '
                       f"{escape(_summary_text(sm, lang))}</li>")
        if not findings:
            out.append(f"<li>{escape(label('no-findings', lang))}</li>")
        out.append("</ul>")
        for p in _ladder_ports(shown, ports, ladders):
            out.append(f"<h3>{escape(f'{p.port}/{p.proto}' + _paren(_ladder_what(p, lang), lang))}</h3>")
            out.append(ladder.svg(p.packets, p.scanner, p.target, _notes(findings, p), ladder.headings(lang)))
    out.append("</body></html>\n")
    return "\n".join(out)


# -- json -------------------------------------------------------------------------

def finding_dict(f) -> dict:
    return {"rule": f.rule, "severity": f.severity, "capture": f.capture, "scanner": f.scanner, "target": f.target,
            "proto": f.proto, "port": f.port, "frames": list(f.frames), "message": f.message,
            "session": f.session, "tool": f.tool}


def to_verify_dict(result) -> dict:
    return {
        "verdict": result.verdict,
        "findings": [finding_dict(f) for f in result.findings],
        "claims": [{"capture": c, "claim": t, "source": s} for c, t, s in result.claims],
        "analysis": to_dict(result.analysis),
    }


def render_json(result) -> str:
    return json.dumps(to_verify_dict(result), indent=2, ensure_ascii=False) + "\n"


_ANALYSIS_MARK = "\x00pcapscan-analysis\x00"


def write_json(result, fh, progress=None) -> None:
    """render_json's very text, written piece by piece: the analysis (every
    port of every scan) streamed as analyze's JSON is (report/stream.py),
    indented one level deeper, never held whole."""
    from dataclasses import replace

    from . import stream

    analysis = result.analysis
    light = replace(analysis, scans=tuple(replace(s, ports=()) for s in analysis.scans))
    if json.dumps(to_dict(light)) != json.dumps(to_dict(light), ensure_ascii=False):
        fh.write(render_json(result))  # analyze's JSON escapes what verify's writes as it is
        return
    d = to_verify_dict(replace(result, analysis=light))
    d["analysis"] = _ANALYSIS_MARK
    text = json.dumps(d, indent=2, ensure_ascii=False) + "\n"
    at = text.index(json.dumps(_ANALYSIS_MARK))
    fh.write(text[:at])
    nested = _Nested(fh)
    stream.write_json(analysis, nested, progress)
    nested.close()
    fh.write(text[at + len(json.dumps(_ANALYSIS_MARK)):])


class _Nested:
    """A JSON text written one level deeper (json.dumps' indent 2), its final newline dropped."""

    def __init__(self, fh):
        self.fh = fh
        self.pending = False

    def write(self, text: str) -> None:
        if not text:
            return
        if self.pending:
            self.fh.write("\n  ")
        self.pending = text.endswith("\n")
        if self.pending:
            text = text[:-1]
        self.fh.write(text.replace("\n", "\n  "))

    def close(self) -> None:
        self.pending = False
