"""Renderers of a Gradebook (grade.py): the terminal table, JSON, the
gradebook CSV (one row per student, one column per cell) and one Markdown
feedback file per student. No judging happens here: verdicts, points,
reasons and the words of the findings come from grade.py (and verify's
messages.py), in the gradebook's language.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re

from tabulate import tabulate

from .. import messages

FORMATS = ("table", "json")

VERDICT_WORDS = {
    "en": {"ok": "ok", "ambiguous": "ambiguous", "mismatch": "mismatch", "missing": "missing",
           "no-evidence": "no evidence"},
    "zh": {"ok": "符合", "ambiguous": "证据不足", "mismatch": "不符", "missing": "缺失", "no-evidence": "无证据"},
}
VERDICT_ORDER = ("ok", "ambiguous", "mismatch", "missing", "no-evidence")


# The default rubric's name (rubric.py), as a Chinese report names it; a rubric of one's own keeps its name.
RUBRIC_NAMES_ZH = {"port scanning with scapy (the seeds' lab)": "用 scapy 编写端口扫描器"}


def _l(key: str, lang: str, **params) -> str:
    return messages.label(f"grade-report.{key}", lang, **params)


def rubric_name(gradebook) -> str:
    name = gradebook.rubric.name
    return RUBRIC_NAMES_ZH.get(name, name) if gradebook.lang == "zh" else name


def _n(x: float) -> str:
    return f"{x:g}"


def render(gradebook, fmt: str = "table") -> str:
    return {"table": render_table, "json": render_json}[fmt](gradebook)


# -- JSON ---------------------------------------------------------------------------

def to_dict(gradebook) -> dict:
    return {
        "rubric": {"name": gradebook.rubric.name, "source": gradebook.rubric.source, "max": gradebook.rubric.max,
                   "cells": list(gradebook.cells)},
        "students": [{
            "id": s.id, "points": s.points, "max": s.max,
            "verdicts": {v: s.count(v) for v in VERDICT_ORDER},
            "cells": [{
                "technique": c.technique, "state": c.state, "file": c.file,
                "observed_technique": c.observed_technique, "observed_state": c.observed_state,
                "verdict": c.verdict, "points": c.points, "max": c.max, "port": c.port, "claim": c.claim,
                "problem": c.problem, "reasons": list(c.reasons),
                "findings": [_finding(f) for f in c.findings],
            } for c in s.cells],
            "captures": [{
                "file": cap.file, "claim": cap.claim, "claim_source": cap.claim_source, "shows": cap.shows,
                "packets": cap.packets, "used_for": list(cap.used_for), "notes": list(cap.notes),
                "digest": cap.digest, "error": cap.error,
            } for cap in s.captures],
            "findings": [_finding(f) for f in s.findings],
        } for s in gradebook.students],
    }


def _finding(f) -> dict:
    return {"rule": f.rule, "severity": f.severity, "file": f.file, "proto": f.proto, "port": f.port,
            "frames": list(f.frames), "penalty": f.penalty, "message": f.message}


def render_json(gradebook) -> str:
    return json.dumps(to_dict(gradebook), indent=2, ensure_ascii=False) + "\n"


# -- the terminal table ------------------------------------------------------------

def render_table(gradebook) -> str:
    lang = gradebook.lang
    words = VERDICT_WORDS[lang]
    out = [_l("title", lang, students=len(gradebook.students), cells=len(gradebook.cells),
              max=_n(gradebook.rubric.max), rubric=rubric_name(gradebook)), ""]
    rows = [[s.id, f"{_n(s.points)}/{_n(s.max)}", *[s.count(v) for v in VERDICT_ORDER]]
            for s in gradebook.students]
    out.append(tabulate(rows, headers=[_l("student", lang), _l("points", lang), *[words[v] for v in VERDICT_ORDER]],
                        disable_numparse=True))
    for s in gradebook.students:
        out += ["", f"{s.id}  {_n(s.points)}/{_n(s.max)}"]
        problems = [[f"{c.technique} × {c.state}", words[c.verdict], f"{_n(c.points)}/{_n(c.max)}", c.problem]
                    for c in s.cells if c.problem]
        if problems:  # tabulate pads by display width (wcwidth): a Chinese character takes two columns
            table = tabulate(problems, tablefmt="plain", colalign=("left", "left", "right", "left"),
                             disable_numparse=True)
            out += ["  " + line for line in table.splitlines()]
        for f in s.findings:
            out.append(_l("student.finding", lang, severity=messages.severity_word(f.severity, lang), rule=f.rule,
                          file=f.file or "").rstrip("：: "))
        if not problems and not s.findings:
            out.append("  " + _l("none", lang))
    return "\n".join(out) + "\n"


# -- the gradebook CSV ------------------------------------------------------------------

def render_csv(gradebook) -> str:
    """One row per student: id, points, max, one column of points per cell."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "points", "max", *gradebook.cells])
    for s in gradebook.students:
        by_key = {c.key: c for c in s.cells}
        writer.writerow([s.id, _n(s.points), _n(s.max), *[_n(by_key[k].points) for k in gradebook.cells]])
    return buf.getvalue()


# -- one Markdown feedback file per student -------------------------------------------------

def _md(text) -> str:
    """A Markdown table cell: pipes escaped, lines joined with <br>."""
    if text is None:
        return ""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def render_feedback(student, gradebook) -> str:
    lang = gradebook.lang
    words = VERDICT_WORDS[lang]
    out = [f"# {_l('feedback.title', lang, id=student.id)}", "",
           _l("feedback.score", lang, points=_n(student.points), max=_n(student.max)) + " · " +
           " · ".join(f"{student.count(v)} {words[v]}" for v in VERDICT_ORDER), "",
           _l("feedback.rubric", lang, rubric=rubric_name(gradebook)), ""]

    out += [f"## {_l('fix', lang)}", ""]
    problems = [c for c in student.cells if c.problem]
    if problems:
        out += [_l("fix.item", lang, cell=f"{c.technique} × {c.state}", verdict=words[c.verdict],
                   points=f"{_n(c.points)}/{_n(c.max)}", problem=c.problem) for c in problems]
    else:
        out.append(_l("none", lang))
    out.append("")

    out += [f"## {_l('cells', lang)}", "",
            f"| {_l('technique', lang)} | {_l('state', lang)} | {_l('capture', lang)} | {_l('shows', lang)} | "
            f"{_l('verdict', lang)} | {_l('points', lang)} | {_l('reasons', lang)} |",
            "|---|---|---|---|---|---|---|"]
    for c in student.cells:
        shows = " ".join(x for x in (c.observed_technique, c.port, c.observed_state) if x)
        reasons = "<br>".join(_md(r) for r in c.reasons)
        out.append(f"| {c.technique} | {c.state} | {_md(c.file or '-')} | {_md(shows or '-')} | "
                   f"{words[c.verdict]} | {_n(c.points)}/{_n(c.max)} | {reasons} |")
    out.append("")

    out += [f"## {_l('captures', lang)}", "",
            f"| {_l('capture', lang)} | {_l('named', lang)} | {_l('shows', lang)} | {_l('used', lang)} | "
            f"{_l('notes', lang)} |", "|---|---|---|---|---|"]
    for cap in student.captures:
        used = ", ".join(cap.used_for) or _l("none.used", lang)
        out.append(f"| {_md(cap.file)} | {_md(cap.claim)} | {_md(cap.shows)} | {_md(used)} | "
                   f"{'<br>'.join(_md(n) for n in cap.notes)} |")
    out.append("")

    out += [f"## {_l('findings', lang)}", ""]
    if student.findings:
        out += [f"### {_l('submission', lang)}", ""]
        out += [_finding_md(f, lang) for f in student.findings]
        out.append("")
    any_cell = False
    for c in student.cells:
        if not c.findings:
            continue
        any_cell = True
        out += [_l("cell.heading", lang, cell=f"{c.technique} × {c.state}", file=c.file), ""]
        out += [_finding_md(f, lang) for f in c.findings]
        out.append("")
    if not any_cell and not student.findings:
        out += [_l("no-findings", lang), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def finding_where_cost(f, lang: str) -> tuple:
    """(["80/tcp", "frames 6, 7"], "costs 0.5") of a GradeFinding, for every feedback format."""
    where = []
    if f.port is not None:
        where.append(f"{f.port}/{f.proto}" if f.proto else str(f.port))
    if f.frames:
        where.append(messages.frames_text(f.frames, lang))
    return where, _l("penalty", lang, points=_n(f.penalty)) if f.penalty else _l("free", lang)


def _finding_md(f, lang: str) -> str:
    where, cost = finding_where_cost(f, lang)
    where_text = _l("finding.where", lang, where=_l("where.sep", lang).join(where)) if where else ""
    return _l("finding.head", lang, severity=messages.severity_word(f.severity, lang), rule=f.rule,
              where=where_text, cost=cost, message=f.message)


def feedback_name(student_id: str) -> str:
    """The feedback file of a student: its id made safe as a file name."""
    safe = re.sub(r"[^\w.\-]+", "_", student_id, flags=re.UNICODE).strip("._") or "student"
    return f"{safe}.md"


def write(gradebook, out_dir) -> list:
    """Write gradebook.csv and one feedback file per student in out_dir
    (created if needed); return the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    csv_path = os.path.join(out_dir, "gradebook.csv")
    with open(csv_path, "w", encoding="utf-8", newline="") as fh:
        fh.write(render_csv(gradebook))
    paths.append(csv_path)
    taken = set()
    for s in gradebook.students:
        name = feedback_name(s.id)
        stem, n = name[:-3], 2
        while name.lower() in taken:  # two ids that make the same file name
            name, n = f"{stem}-{n}.md", n + 1
        taken.add(name.lower())
        path = os.path.join(out_dir, name)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(render_feedback(s, gradebook))
        paths.append(path)
    return paths


def wrote_line(gradebook, paths: list, out_dir) -> str:
    return _l("wrote", gradebook.lang, csv=paths[0], n=len(paths) - 1, dir=out_dir)
