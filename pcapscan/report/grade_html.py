"""HTML pages of a Gradebook (grade.py): `index.html`, the class at a
glance (students x rubric cells, a colour per verdict, sortable by points
with a little inline script), and one feedback page per student, the
Markdown feedback's content with a ladder diagram (SVG) of the exchange each
cell rests on. Every page is self-contained: no file or network fetch.

No judging happens here: verdicts, points and words come from grade.py and
grade_report.py. The ladders are drawn from the packets `ports_of(path)`
gives for a capture (the CLI passes verify's CheckedPorts: the students'
captures are read again, only to draw them); without it, no ladders.
"""
from __future__ import annotations

import os
import re
from html import escape
from typing import Optional

from .. import messages
from ..errors import PcapscanError
from . import ladder
from .grade_report import VERDICT_ORDER, VERDICT_WORDS, finding_where_cost, rubric_name

INDEX = "index.html"
# cell background per verdict: green, amber, red, grey, pale orange
COLORS = {"ok": "#a9dfbf", "ambiguous": "#f9e79f", "mismatch": "#f1948a", "missing": "#d5d8dc",
          "no-evidence": "#f8c471"}


_CSS = """body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}
th.sortable{cursor:pointer;text-decoration:underline dotted}th[aria-sort=ascending]::after{content:" \\25B2"}
th[aria-sort=descending]::after{content:" \\25BC"}
td.cell,th.cellhead{text-align:center;white-space:nowrap;font-size:.85em}
td.cell a{color:#222;text-decoration:none;display:block}
td.num{text-align:right}.legend span{display:inline-block;padding:2px 8px;margin-right:6px;border:1px solid #bbb}
""" + "".join(f".v-{v}{{background:{c}}}" for v, c in COLORS.items())

_SORT_JS = """document.querySelectorAll("th.sortable").forEach(function(th){
 th.addEventListener("click",function(){
  var table=th.closest("table"),body=table.tBodies[0],col=th.cellIndex,numeric=th.dataset.type==="number";
  var down=th.getAttribute("aria-sort")!=="descending";
  table.querySelectorAll("th.sortable").forEach(function(o){o.removeAttribute("aria-sort")});
  th.setAttribute("aria-sort",down?"descending":"ascending");
  var rows=Array.prototype.slice.call(body.rows);
  rows.sort(function(a,b){
   var x=a.cells[col].dataset.value,y=b.cells[col].dataset.value;
   var c=numeric?parseFloat(x)-parseFloat(y):x.localeCompare(y);
   return down?-c:c;});
  rows.forEach(function(r){body.appendChild(r)});
 });
});"""


def _l(key: str, lang: str, **params) -> str:
    return messages.label(f"grade-html.{key}", lang, **params)


def _f(key: str, lang: str, **params) -> str:
    return messages.label(f"grade-report.{key}", lang, **params)


def _n(x: float) -> str:
    return f"{x:g}"


def _page(title: str, lang: str, body: list, script: str = "") -> str:
    return (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body)
            + (f"\n<script>{script}</script>" if script else "") + "\n</body></html>\n")


def cell_anchor(key: str) -> str:
    """The id of a cell's section in a feedback page: "syn:open" -> "cell-syn-open"."""
    return "cell-" + re.sub(r"[^\w-]+", "-", key).strip("-")


def _legend(lang: str) -> str:
    words = VERDICT_WORDS[lang]
    return (f'<p class="legend">{escape(_l("legend", lang) + _f("colon", lang))}'
            + "".join(f'<span class="v-{v}">{escape(words[v])}</span>' for v in VERDICT_ORDER) + "</p>")


def render_index(gradebook, pages: list) -> str:
    """The class page; `pages[i]` is the feedback page (a file name) of student i."""
    lang = gradebook.lang
    words = VERDICT_WORDS[lang]
    head = [f'<th class="sortable" data-type="text">{escape(_f("student", lang))}</th>',
            f'<th class="sortable" data-type="number" id="points">{escape(_f("points", lang))}</th>']
    head += [f'<th class="cellhead">{"<br>".join(escape(part) for part in key.split(":", 1))}</th>'
             for key in gradebook.cells]
    rows = []
    for s, page in zip(gradebook.students, pages):
        by_key = {c.key: c for c in s.cells}
        tds = [f'<td data-value="{escape(s.id)}"><a href="{escape(page)}">{escape(s.id)}</a></td>',
               f'<td class="num" data-value="{_n(s.points)}">{_n(s.points)}/{_n(s.max)}</td>']
        for key in gradebook.cells:
            c = by_key.get(key)
            if c is None:
                tds.append("<td></td>")
                continue
            tip = c.problem or words[c.verdict]
            tds.append(f'<td class="cell v-{c.verdict}" title="{escape(tip)}"><a href="{escape(page)}#'
                       f'{cell_anchor(key)}">{escape(words[c.verdict])}<br>{_n(c.points)}/{_n(c.max)}</a></td>')
        rows.append("<tr>" + "".join(tds) + "</tr>")
    title = _l("index.title", lang)
    summary = _l("students", lang, students=len(gradebook.students), cells=len(gradebook.cells),
                 max=_n(gradebook.rubric.max), rubric=rubric_name(gradebook))
    body = [f"<h1>{escape(title)}</h1>",
            f"<p>{escape(summary)} · {escape(_l('sort', lang))}</p>",
            _legend(lang),
            f'<table id="matrix"><thead><tr>{"".join(head)}</tr></thead><tbody>', *rows, "</tbody></table>"]
    return _page(title, lang, body, _SORT_JS)


class PortsOf:
    """Where ladders get their packets: `ports_of(path)` gives the CheckedPorts
    (verify.py) of a capture, asked once per capture; () when it cannot be read."""

    def __init__(self, ports_of=None, wanted: Optional[dict] = None):
        self.ports_of = ports_of
        self.wanted = wanted  # path -> {(proto, port number text)} that ladders draw; None: every port kept
        self.seen: dict = {}

    def __call__(self, path: str) -> tuple:
        if self.ports_of is None:
            return ()
        if path not in self.seen:
            keep = None if self.wanted is None else self.wanted.get(path, set())
            try:  # only what a ladder draws is kept: a big capture has 100,000s of checked ports
                self.seen[path] = tuple(p for p in self.ports_of(path)
                                        if keep is None or (p.proto, str(p.port)) in keep)
            except PcapscanError:
                self.seen[path] = ()
        return self.seen[path]


def _cell_port(student, cell) -> Optional[tuple]:
    """(capture path, proto, port number text) of the exchange a cell rests on, or None."""
    if not cell.file or not cell.port or "/" not in cell.port:
        return None
    number, proto = cell.port.split("/", 1)
    return os.path.join(student.path, cell.file), proto, number


def _ladder(student, cell, ports_of: PortsOf, lang: str = "en") -> str:
    """The SVG ladder of the exchange a cell rests on, "" when there is none to draw."""
    where = _cell_port(student, cell)
    if where is None:
        return ""
    path, proto, number = where
    ports = [p for p in ports_of(path) if p.proto == proto and str(p.port) == number]
    if not ports:
        return ""
    port = next((p for p in ports if p.technique == cell.observed_technique), ports[0])
    notes: dict = {}
    for f in cell.findings:
        for frame in f.frames:
            notes.setdefault(frame, []).append((f.rule, f.severity))
    return ladder.svg(port.packets, port.scanner, port.target, notes, ladder.headings(lang))


def _finding_li(f, lang: str) -> str:
    where, cost = finding_where_cost(f, lang)
    where_text = _f("finding.where", lang, where=_f("where.sep", lang).join(where)) if where else ""
    return (f"<li><b>{escape(messages.severity_word(f.severity, lang))}</b> <code>{escape(f.rule)}</code>"
            + escape(where_text + _f("comma", lang) + cost + _f("colon", lang) + f.message) + "</li>")


def _table(headers: list, rows: list) -> str:
    """Cells are given as HTML (escaped by the caller)."""
    return ("<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{x}</td>" for x in r) + "</tr>" for r in rows) + "</table>")


def render_feedback(student, gradebook, ports_of: PortsOf = None) -> str:
    """One student's feedback page: the Markdown feedback's sections, each
    cell with its ladder diagram."""
    lang = gradebook.lang
    words = VERDICT_WORDS[lang]
    ports_of = ports_of or PortsOf()
    title = _f("feedback.title", lang, id=student.id)
    score = _f("feedback.score", lang, points=_n(student.points), max=_n(student.max)).strip("*")
    body = [f'<p><a href="{INDEX}">← {escape(_l("back", lang))}</a></p>', f"<h1>{escape(title)}</h1>",
            f"<p><b>{escape(score)}</b> · "
            + " · ".join(f'<span class="v-{v}">{student.count(v)} {escape(words[v])}</span>' for v in VERDICT_ORDER)
            + "</p>", f"<p>{escape(_f('feedback.rubric', lang, rubric=rubric_name(gradebook)))}</p>",
            f"<h2>{escape(_f('fix', lang))}</h2>"]
    problems = [c for c in student.cells if c.problem]
    body.append("<ul>" + "".join(
        f'<li><a href="#{cell_anchor(c.key)}"><b>{escape(c.technique)} × {escape(c.state)}</b></a>'
        + escape(_f("paren", lang, text=f"{words[c.verdict]}{_f('comma', lang)}{_n(c.points)}/{_n(c.max)}")
                 + _f("colon", lang) + c.problem) + "</li>" for c in problems)
        + "</ul>" if problems else f"<p>{escape(_f('none', lang))}</p>")

    body.append(f"<h2>{escape(_f('cells', lang))}</h2>")
    drawn: dict = {}  # SVG -> the cell anchor where it is drawn
    for c in student.cells:
        shows = " ".join(x for x in (c.observed_technique, c.port, c.observed_state) if x) or "-"
        body.append(f'<h3 id="{cell_anchor(c.key)}"><span class="v-{c.verdict}">{escape(c.technique)} × '
                    f"{escape(c.state + _f('colon', lang) + words[c.verdict] + _f('comma', lang))}"
                    f"{_n(c.points)}/{_n(c.max)}</span></h3>")
        body.append(_table([_f("capture", lang), _f("shows", lang)], [[escape(c.file or "-"), escape(shows)]]))
        if c.reasons:
            body.append("<ul>" + "".join(f"<li>{escape(r)}</li>" for r in c.reasons) + "</ul>")
        if c.findings:
            body.append("<ul>" + "".join(_finding_li(f, lang) for f in c.findings) + "</ul>")
        drawing = _ladder(student, c, ports_of, lang)
        caption = escape(_l("ladder", lang, port=c.port, file=c.file))
        if drawing in drawn:  # the same exchange, the same findings: drawn once, linked after
            body.append(f'<p><a href="#{drawn[drawing]}">{caption}</a></p>')
        elif drawing:
            drawn[drawing] = cell_anchor(c.key)
            body.append(f"<p>{caption}</p>")
            body.append(drawing)

    body.append(f"<h2>{escape(_f('captures', lang))}</h2>")
    body.append(_table(
        [_f(k, lang) for k in ("capture", "named", "shows", "used", "notes")],
        [[escape(cap.file), escape(cap.claim), escape(cap.shows), escape(", ".join(cap.used_for) or "-"),
          "<br>".join(escape(n) for n in cap.notes)] for cap in student.captures]))
    if student.findings:
        body += [f"<h2>{escape(_f('submission', lang))}</h2>",
                 "<ul>" + "".join(_finding_li(f, lang) for f in student.findings) + "</ul>"]
    return _page(title, lang, body)


def write(gradebook, out_dir, feedback_paths: list, ports_of=None) -> str:
    """Write index.html and one feedback page per student beside its
    Markdown feedback (`feedback_paths`, in student order, from
    grade_report.write); return the path of index.html."""
    pages, taken = [], {INDEX}
    for p in feedback_paths:
        page, n = os.path.splitext(os.path.basename(p))[0] + ".html", 2
        while page.lower() in taken:  # a student called "index"
            page, n = f"{os.path.splitext(os.path.basename(p))[0]}-{n}.html", n + 1
        taken.add(page.lower())
        pages.append(page)
    wanted: dict = {}
    for s in gradebook.students:
        for where in filter(None, (_cell_port(s, c) for c in s.cells)):
            wanted.setdefault(where[0], set()).add(where[1:])
    ports_of = PortsOf(ports_of, wanted)
    for s, page in zip(gradebook.students, pages):
        with open(os.path.join(out_dir, page), "w", encoding="utf-8") as fh:
            fh.write(render_feedback(s, gradebook, ports_of))
    index = os.path.join(out_dir, INDEX)
    with open(index, "w", encoding="utf-8") as fh:
        fh.write(render_index(gradebook, pages))
    return index


def wrote_line(gradebook, index: str) -> str:
    return _l("wrote", gradebook.lang, path=index)
