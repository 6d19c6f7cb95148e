"""pcapscan grade: grade a class's lab submissions from their captures.

Policy only: what a submission shows, cell by cell (technique x port
state), and what that is worth under a rubric (rubric.py). The packets are
read and paired by analysis.py, checked against the textbook by verify.py;
report/grade_report.py renders the Gradebook. Nothing here prints.

    grade(submissions_dir, rubric=None, lang="en", jobs=None) -> Gradebook

Each top-level folder of `submissions_dir` is one student. Captures are
found anywhere inside it by their content (pcap, pcapng, gzip of either),
whatever they are called; files with a capture's extension that cannot be
read are reported. What a capture claims to show comes from its file and
folder names, read leniently (claims.read_name, as verify reads them), or
from a `claims.toml` beside it (verify's --expect format), which overrides
the names.

Evidence first. Every capture is read on its own packets, once per
technique its probes fit. A cell is satisfied by the capture that really
shows it, wherever it is and whatever it is called; a capture named for a
cell competes for it even when it shows something else, so that what it
does show is reported. Candidates rank by verdict (ok, ambiguous, mismatch,
no-evidence), then by how the capture is named (for this cell, for this
technique or state only, unlabelled, for another cell).

Finding and reading the captures is submissions.py (the per-file work,
read_submission, runs in a process pool for classes larger than
POOL_THRESHOLD files); the results are gradebook.py's; grade's sentences are
in messages.py (keys "grade.*").
"""
from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Optional

from . import messages
from .errors import InputError, UsageError
from .messages import Frames, T
from .model import State, Technique
from .progress import Ticker, report
from .report.collapse import states_line
from .rubric import PORT_NOT_PROBED, STATE_NOT_SHOWN, Rubric, default_rubric, load_rubric
from .techniques import REGISTRY
from .gradebook import (AMBIGUOUS, MISMATCH, MISSING, NO_EVIDENCE, OK, VERDICTS, CaptureReport, CellGrade,  # noqa: F401
                        GradeFinding, Gradebook, StudentGrade)
from .submissions import (CLAIMS_FILE, FileResult, PortReading, Submission, discover, packet_digest,  # noqa: F401
                          read_submission, sniff)

POOL_THRESHOLD = 64  # fewer files than this are read in this process: a pool's start-up would cost more
# A finding that shows the scanner is not doing the technique it is read as.
CONTRADICTIONS = {Technique.CONNECT: ("handshake-incomplete", Technique.SYN),
                  Technique.SYN: ("handshake-completed", Technique.CONNECT)}
# Traffic that is a host's own business, not a scan: DNS, NTP, DHCP, NetBIOS, SSDP, mDNS, LLMNR.
SERVICE_UDP_PORTS = frozenset({53, 67, 68, 123, 137, 138, 1900, 5353, 5355})


# -- grade --------------------------------------------------------------------------------

def grade(submissions_dir, rubric=None, lang: str = "en", jobs: Optional[int] = None, dask=None,
          progress=None) -> Gradebook:
    """Grade every student folder of `submissions_dir`. `rubric`: a Rubric, a
    path to a rubric TOML, or None for the default (the seeds' lab). `jobs`:
    worker processes (default: every core this process may use; 1: none).
    `dask`: a dask.distributed Client: the files are read on its cluster
    instead (cluster.py; same gradebook). `progress` (progress.py): the
    files read ("captures"), a big capture's own phases as it is read and
    verified (in this process), then the students graded ("grading").
    Problems of a student's files are reported in that student's grade;
    only a bad argument (missing folder, bad rubric, bad language) raises."""
    if lang not in messages.LANGS:
        raise UsageError(f"unknown language {lang!r} (use {', '.join(messages.LANGS)})")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise UsageError(f"--jobs must be a whole number >= 1 (got {jobs!r})")
    if rubric is None:
        rubric = default_rubric()
    elif not isinstance(rubric, Rubric):
        rubric = load_rubric(rubric)
    root = Path(submissions_dir)
    if not root.exists():
        raise InputError(f"{submissions_dir}: no such folder")
    if not root.is_dir():
        raise InputError(f"{submissions_dir}: not a folder (SUBMISSIONS holds one folder per student)")
    try:
        ids = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    except OSError as exc:
        raise InputError(f"{submissions_dir}: cannot list it: {exc.strerror or exc}") from None
    if not ids:
        raise InputError(f"{submissions_dir}: no student folder in it (one folder per student)")

    found = {sid: discover(root / sid) for sid in ids}
    techniques = tuple(t.value for t in rubric.techniques)
    tasks = []
    for sid in ids:
        for sub in found[sid][0]:
            claimed = tuple(dict.fromkeys((t.value, c.port) for c in sub.claims for t in c.techniques
                                          if t in REGISTRY))
            tasks.append((sub.path, techniques, claimed, lang))
    workers = _workers(jobs, len(tasks))
    if dask is not None:
        from . import cluster

        outcomes = cluster.run_in_order(dask, read_submission, tasks, cluster.Progress())
    else:
        outcomes = _run(tasks, workers, progress)
    results = dict(zip((t[0] for t in tasks), outcomes))
    ticker = Ticker(progress, "grading", len(ids))

    owners = defaultdict(list)  # digest -> [(student, rel)]
    for sid in ids:
        for sub in found[sid][0]:
            digest = results[sub.path].digest
            if digest:
                owners[digest].append((sid, sub.rel))
    students = []
    for i, sid in enumerate(ids):
        students.append(_grade_student(sid, root / sid, found[sid][0], found[sid][1], results, owners, rubric, lang))
        ticker(i + 1)
    students = tuple(students)
    ticker.end()
    ladders = {os.path.join(str(root / sid), sub.rel): results[sub.path].checked
               for sid in ids for sub in found[sid][0] if results[sub.path].checked is not None}
    return Gradebook(submissions=str(submissions_dir), rubric=rubric, lang=lang, students=students,
                     files=len(tasks), jobs=workers, ladders=ladders)


def _workers(jobs: Optional[int], files: int) -> int:
    if jobs is None:
        try:
            jobs = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            jobs = os.cpu_count() or 1
        if files < POOL_THRESHOLD:
            return 1
    return max(1, min(jobs, files))


def _run(tasks: list, workers: int, progress=None) -> list:
    """Each task's FileResult, in order; progress: the files done of all
    ("captures"), and in this process a big capture's own phases between."""
    from concurrent.futures import ProcessPoolExecutor
    from contextlib import ExitStack

    report(progress, "captures", 0, len(tasks))
    out = []
    with ExitStack() as stack:
        if workers <= 1 or len(tasks) <= 1:
            each = (read_submission(t, progress) for t in tasks)
        else:
            pool = stack.enter_context(ProcessPoolExecutor(max_workers=workers))
            each = pool.map(read_submission, tasks, chunksize=max(1, math.ceil(len(tasks) / (workers * 4))))
        for got in each:
            out.append(got)
            report(progress, "captures", len(out), len(tasks))
    return out


# -- one student ----------------------------------------------------------------------------

_VERDICT_RANK = {OK: 0, AMBIGUOUS: 1, MISMATCH: 2, NO_EVIDENCE: 3}
_CLAIM_RANK = {"exact": 0, "partial": 1, "unlabelled": 2, "other": 3}
_REL_RANK = {"match": 0, "overclaim": 1, "underclaim": 1, "reject": 2, "mismatch": 3}


@dataclass
class _Ctx:
    sid: str
    rubric: Rubric
    lang: str
    pairs: dict  # path -> (scanner, target) of its scan, or None
    main: Optional[tuple]
    lab_ports: dict  # proto -> (ports, captures counted)
    shared: dict  # path -> [(other student, rel)]
    results: dict
    names: dict = field(default_factory=dict)  # path -> how the student's texts name the file


@dataclass
class _Candidate:
    sub: Submission
    rank: str
    verdict: str
    points: float
    tech_ok: bool = False
    observed_technique: Optional[Technique] = None
    observed_state: Optional[State] = None
    port: Optional[PortReading] = None
    reasons: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    problem: str = ""

    def key(self):
        return (_VERDICT_RANK[self.verdict], _CLAIM_RANK[self.rank], -self.points, self.sub.rel)


def _grade_student(sid, sdir, subs, notes, results, owners, rubric, lang) -> StudentGrade:
    mine = {s.path: results[s.path] for s in subs}
    main = _main_pair(mine.values())
    pairs = {path: _scan_pair(fr, main) for path, fr in mine.items()}
    ctx = _Ctx(sid, rubric, lang, pairs, main, _lab_ports(mine, pairs), {}, results)
    base = Counter(PurePosixPath(s.rel).name for s in subs)
    ctx.names = {s.path: PurePosixPath(s.rel).name if base[PurePosixPath(s.rel).name] == 1 else s.rel for s in subs}
    for s in subs:
        digest = mine[s.path].digest
        if digest:
            ctx.shared[s.path] = [(o, rel) for o, rel in owners[digest] if o != sid]

    cells, used = [], defaultdict(list)
    for spec in rubric.cells:
        cands = [c for c in (_candidate(s, mine[s.path], spec, ctx) for s in subs) if c is not None]
        if not cands:
            cells.append(CellGrade(spec.technique.value, spec.state.value, MISSING, 0.0, spec.max,
                                   reasons=(_say("cell.missing", lang, technique=spec.technique, state=spec.state),),
                                   problem=_say("problem.missing", lang)))
            continue
        best = min(cands, key=_Candidate.key)
        used[best.sub.path].append(spec.key)
        cells.append(_cell(spec, best, ctx))

    student_findings = [GradeFinding("claims-file", "warning", _say("note.claims-file", lang, error=msg))
                        for _rule, msg in notes]
    captures = []
    for s in subs:
        fr = mine[s.path]
        report, extra = _capture_report(s, fr, spec_cells=rubric.cells, used=used[s.path], ctx=ctx)
        captures.append(report)
        student_findings += extra
    points = round(sum(c.points for c in cells), 2)
    return StudentGrade(id=sid, path=str(sdir), points=points, max=rubric.max, cells=tuple(cells),
                        captures=tuple(captures), findings=tuple(student_findings))


def _main_pair(results) -> Optional[tuple]:
    """The scanner and target of the student's scans: the pair seen in the most
    captures (then with the most exchanges), leaving out hosts' own service
    traffic (DNS, NTP, DHCP...) and multicast."""
    files, exchanges = Counter(), Counter()
    for fr in results:
        for pair, shows in _pairs(fr).items():
            if not _service(pair, shows):
                files[pair] += 1
                exchanges[pair] += len(shows)
    if not files:  # nothing but service traffic: then that is what was scanned
        for fr in results:
            for pair, shows in _pairs(fr).items():
                files[pair] += 1
                exchanges[pair] += len(shows)
    if not files:
        return None
    return max(files, key=lambda p: (files[p], exchanges[p], p))


def _pairs(fr: FileResult) -> dict:
    out = defaultdict(list)
    for s in fr.showings:
        out[(s.scanner, s.target)].append(s)
    return out


def _service(pair, shows) -> bool:
    target = pair[1]
    if target.startswith(("224.", "239.", "ff0")) or target.endswith(".255"):
        return True
    return all(s.proto == "udp" and s.port in SERVICE_UDP_PORTS for s in shows) and any(
        s.technique is Technique.UDP for s in shows) and not _looks_scanned(shows)


def _looks_scanned(shows) -> bool:
    return len({s.port for s in shows}) > 2


def _scan_pair(fr: FileResult, main) -> Optional[tuple]:
    pairs = _pairs(fr)
    if main in pairs:
        return main
    own = [(len(v), p) for p, v in pairs.items() if not _service(p, v)] or [(len(v), p) for p, v in pairs.items()]
    return max(own)[1] if own else None


def _lab_ports(mine: dict, pairs: dict) -> dict:
    """proto -> (ports most of the student's captures probe, how many captures):
    a capture that leaves one out never probed it."""
    out = {}
    for proto in ("tcp", "udp"):
        counts, n = Counter(), 0
        for path, fr in mine.items():
            ports = {s.port for s in fr.showings if (s.scanner, s.target) == pairs[path] and s.proto == proto}
            if ports:
                n += 1
                counts.update(ports)
        if n >= 3:
            need = max(2, math.ceil(0.75 * n))
            out[proto] = (tuple(sorted(p for p, c in counts.items() if c >= need)), n)
    return out


def _claim_rank(claims: tuple, tech: Technique, state: State) -> str:
    if not claims or all(c.empty for c in claims):
        return "unlabelled"
    if any(tech in c.techniques and c.state is state for c in claims):
        return "exact"

    def loose(c):
        wide = c.state is not None and state in _WIDER.get(c.state, ())
        return (tech in c.techniques and (c.state is None or wide)) or (not c.techniques and c.state is state)

    return "partial" if any(loose(c) for c in claims) else "other"


_WIDER = {State.OPEN_FILTERED: (State.OPEN, State.FILTERED), State.CLOSED_FILTERED: (State.CLOSED, State.FILTERED)}


def _candidate(sub: Submission, fr: FileResult, spec, ctx: _Ctx) -> Optional[_Candidate]:
    from .verify import relation

    tech, state, lang = spec.technique, spec.state, ctx.lang
    rank = _claim_rank(sub.claims, tech, state)
    pair = ctx.pairs[sub.path]
    # named for this technique: then an empty file, or one without its probes, is still this cell's candidate
    named = rank in ("exact", "partial") and any(tech in c.techniques for c in sub.claims)
    name = ctx.names[sub.path]
    if fr.error is not None or fr.packets == 0 or pair is None:
        if not named:
            return None
        key = "unreadable" if fr.error else "empty" if fr.packets == 0 else "noprobe"
        reasons = [_source_line(sub, rank, ctx),
                   _say(f"cell.no-evidence.{key}", lang, file=name, error=fr.error, packets=fr.packets)]
        return _Candidate(sub, rank, NO_EVIDENCE, 0.0, reasons=reasons,
                          findings=_no_evidence_findings(sub, fr, key, lang),
                          problem=_say(f"problem.{key}", lang, file=name))
    reading = fr.reading(tech)
    if not named and (reading is None or (rank == "other" and all(p.state is not state for p in reading.ports))):
        return None  # quick: nothing here for this cell
    source = _source_line(sub, rank, ctx)
    ports = [p for p in (reading.ports if reading else ()) if (p.scanner, p.target) == pair]
    findings = [f for f in (reading.findings if reading else ()) if f.scanner in (None, pair[0])
                and f.target in (None, pair[1])]
    if not ports:
        if not named:
            return None
        return _wrong_technique(sub, fr, rank, spec, pair, findings, source, ctx)
    contra_rule, contra_tech = CONTRADICTIONS.get(tech, (None, None))
    contradicted = [f for f in findings if f.rule == contra_rule]
    if rank in ("unlabelled", "other") and tech in CONTRADICTIONS and not contradicted:
        # SYN and connect probes look alike: evidence from a capture not named
        # for this technique counts when the analyzer reads that technique itself.
        seen = {(s.proto, s.port) for s in fr.showings if s.technique is tech and (s.scanner, s.target) == pair}
        ports = [p for p in ports if (p.proto, p.port) in seen]
        if not ports:
            return None
    definite = {(s.proto, s.port): s.state for s in fr.showings
                if (s.scanner, s.target) == pair and s.technique in CONTRADICTIONS}
    # A big capture's readings keep only the ports this choice can make (submissions._compact):
    # it may read a port's pair, state, reason and showings, then its number, nothing else.
    port = min(ports, key=lambda p: (_REL_RANK[relation(state, p.state, p.reason)],
                                     definite.get((p.proto, p.port)) is not state, p.port))
    rel = relation(state, port.state, port.reason)
    tech_ok = not contradicted
    verdict = OK if tech_ok and rel == "match" else AMBIGUOUS if tech_ok and rel == "overclaim" else MISMATCH
    if rank == "other" and verdict != OK:
        return None
    if rank in ("partial", "unlabelled") and verdict == MISMATCH:
        # not named for this cell: a wrong state is no attempt at it; a wrong technique is
        # only when named for it, or when the scanner tried the handshake (an ACK after SYN/ACK)
        if tech_ok or not (named or (tech is Technique.CONNECT and reading.attempted)):
            return None
    cand = _Candidate(sub, rank, verdict, 0.0, tech_ok=tech_ok, port=port,
                      observed_technique=tech if tech_ok else contra_tech, observed_state=port.state)
    # verify's state findings word the student's claim; a capture whose name claims no
    # state (or another) is told what it shows and what the cell needed instead.
    stated = any(c.state is state for c in sub.claims)
    explain = {s: (rule, sev, msg) for s, rule, sev, msg in port.explain}
    if state in explain and stated:
        rule, sev, msg = explain[state]
        findings = [_Finding(rule, sev, port, msg)] + findings
    elif state in explain:
        findings = [_state_not_shown(tech, state, port, rel, lang)] + findings
    missing = _unprobed(fr, pair, REGISTRY[tech].proto, ctx)
    if missing:
        findings.append(_unprobed_finding(sub, fr, pair, REGISTRY[tech].proto, missing, ctx))
    gfs = _to_grade_findings(findings, sub.rel, ctx.rubric, spec.conformance_points if tech_ok else 0.0)
    # points
    tech_pts = spec.technique_points if tech_ok else 0.0
    share = {"match": 1.0, "overclaim": ctx.rubric.ambiguous}.get(rel, 0.0)
    state_pts = spec.state_points * share
    cost = sum(f.penalty for f in gfs)
    conf_pts = max(0.0, spec.conformance_points - cost) if tech_ok else 0.0
    cand.points = round(tech_pts + state_pts + conf_pts, 2)
    cand.findings = gfs
    port_text = f"{port.port}/{port.proto}"
    reasons = [source]
    if tech_ok:
        reasons.append(_say("why.technique.ok", lang, technique=tech, points=_pts(tech_pts)))
    else:
        reasons.append(_say(f"why.technique.contradicted.{tech.value}", lang, frames=_frames(contradicted)))
    state_key = {"match": "ok", "overclaim": "loose", "reject": "reject"}.get(rel, "mismatch")
    if not stated and state_key != "ok":
        state_key = "loose.unclaimed" if state_key == "loose" else "mismatch.unclaimed"
    reasons.append(_say(f"why.state.{state_key}", lang, port=port_text, evidence=port.evidence, state=port.state,
                        claimed=state, points=_pts(state_pts)))
    ref = next((r for r in reading.reference if (r.proto, r.port) == (port.proto, port.port)), None)
    if ref is not None:
        reasons.append(_say("why.reference", lang, port=port_text, state=ref.state, evidence=ref.evidence))
    charged = [(f.rule, f.penalty) for f in gfs if f.penalty]
    for rule, penalty in charged:
        reasons.append(_say("why.penalty", lang, rule=rule, points=_pts(penalty)))
    cand.reasons = reasons
    if not tech_ok:
        cand.problem = _say(f"problem.contradicted.{tech.value}", lang, file=ctx.names[sub.path])
    elif rel != "match" and not stated:
        key = "problem.loose.unclaimed" if rel == "overclaim" else "problem.state.unclaimed"
        cand.problem = _say(key, lang, file=name, claimed=state, state=port.state, port=port_text)
    elif rel == "overclaim":
        cand.problem = _say("problem.loose", lang, file=ctx.names[sub.path], claimed=state, state=port.state)
    elif rel == "reject":
        cand.problem = _say("problem.reject", lang, file=ctx.names[sub.path], state=port.state)
    elif rel != "match":
        cand.problem = _say("problem.state", lang, file=name, claimed=state, state=port.state, port=port_text)
    if missing:
        ports_text = _say("list", lang).join(f"{p}/{REGISTRY[tech].proto}" for p in missing)
        cand.problem = (cand.problem + _say("sep", lang) + _say("problem.unprobed.more", lang, ports=ports_text)
                        if cand.problem
                        else _say("problem.unprobed", lang, ports=ports_text, file=ctx.names[sub.path]))
    elif not cand.problem and charged:
        cand.problem = _say("problem.penalties", lang, file=ctx.names[sub.path],
                            rules=_say("list", lang).join(_say("penalty.item", lang, rule=r, points=_pts(p))
                                                          for r, p in charged))
    return cand


def _state_not_shown(tech: Technique, cell: State, port: PortReading, rel: str, lang: str) -> "_Finding":
    """A capture counted for a cell its name does not claim: what it shows, what the cell needed."""
    from .verify import textbook_words

    common = dict(technique=tech, textbook=textbook_words(tech), port=f"{port.port}/{port.proto}",
                  evidence=port.evidence, state=port.state, cell=cell)
    if rel == "overclaim":
        msg = _say("finding.state-not-shown.loose", lang, why=T(f"why.{port.state.value}"), **common)
    else:
        msg = _say("finding.state-not-shown", lang, **common)
    return _Finding(STATE_NOT_SHOWN, "warning", port, msg)


def _wrong_technique(sub, fr, rank, spec, pair, findings, source, ctx) -> _Candidate:
    """A capture named for this technique holds none of its probes."""
    tech, lang = spec.technique, ctx.lang
    shows = [s for s in fr.showings if (s.scanner, s.target) == pair]
    actual = Counter(s.technique for s in shows).most_common(1)[0][0] if shows else None
    best = min(shows, key=lambda s: (s.state is not spec.state, s.port)) if shows else None
    gfs = _to_grade_findings(findings, sub.rel, ctx.rubric, 0.0)
    reasons = [source, _say("why.technique.wrong", lang, technique=tech, expected=T(f"probe.{tech.value}"),
                            actual=actual or Technique.UNKNOWN, shows=_shows(fr, pair, lang)),
               _say("why.state.none", lang, technique=tech)]
    return _Candidate(sub, rank, MISMATCH, 0.0, observed_technique=actual,
                      observed_state=best.state if best else None, reasons=reasons, findings=gfs,
                      problem=_say("problem.wrong-probe", lang, file=ctx.names[sub.path], technique=tech,
                                   actual=actual or Technique.UNKNOWN))


@dataclass(frozen=True)
class _Finding:
    """A grade-made finding in the shape of verify.Finding (the fields grade reads)."""

    rule: str
    severity: str
    port_reading: Optional[PortReading]
    message: str
    frames: tuple = ()
    proto: Optional[str] = None
    port: Optional[int] = None
    scanner: Optional[str] = None
    target: Optional[str] = None

    def __post_init__(self):
        p = self.port_reading
        if p is not None:
            object.__setattr__(self, "frames", self.frames or p.frames)
            object.__setattr__(self, "proto", p.proto)
            object.__setattr__(self, "port", p.port)


def _to_grade_findings(findings, rel: str, rubric: Rubric, budget: float = 0.0) -> list:
    """GradeFindings, each with what it really cost: a rule's penalty is taken
    once per cell (on its first finding), from what is left of `budget` (the
    cell's conformance points; 0 when the technique is wrong)."""
    out, seen, charged = [], set(), set()
    for f in findings:
        cost = 0.0
        if f.rule not in charged:
            charged.add(f.rule)
            cost = min(rubric.penalty(f.rule), budget)
            budget -= cost
        g = GradeFinding(f.rule, f.severity, f.message, rel, f.proto, f.port, tuple(f.frames), round(cost, 2))
        key = replace(g, penalty=0.0)
        if key not in seen:
            seen.add(key)
            out.append(g)
    return out


def _unprobed(fr: FileResult, pair, proto: str, ctx: _Ctx) -> tuple:
    lab = ctx.lab_ports.get(proto)
    if not lab:
        return ()
    probed = {s.port for s in fr.showings if (s.scanner, s.target) == pair and s.proto == proto}
    if not probed:
        return ()
    return tuple(p for p in lab[0] if p not in probed)


def _unprobed_finding(sub, fr, pair, proto, missing, ctx) -> _Finding:
    probed = sorted({s.port for s in fr.showings if (s.scanner, s.target) == pair and s.proto == proto})
    lab, n = ctx.lab_ports[proto]
    msg = _say("finding.port-not-probed", ctx.lang, proto=proto.upper(), n=n,
               ports=_say("list", ctx.lang).join(f"{p}/{proto}" for p in lab),
               missing=_say("list", ctx.lang).join(f"{p}/{proto}" for p in missing),
               probed=_say("list", ctx.lang).join(f"{p}/{proto}" for p in probed), file=ctx.names[sub.path])
    return _Finding(PORT_NOT_PROBED, "warning", None, msg, proto=proto, port=missing[0])


def _no_evidence_findings(sub, fr, key, lang) -> list:
    if key == "empty":
        return [GradeFinding("empty-capture", "error", messages.render(T("empty-capture"), lang), sub.rel)]
    if key == "unreadable":
        return [GradeFinding("unreadable-capture", "error", _say("finding.unreadable", lang, error=fr.error),
                             sub.rel)]
    return [GradeFinding("no-probe", "error", messages.render(T("no-probe.unclaimed", packets=fr.packets), lang),
                         sub.rel)]


def _cell(spec, best: _Candidate, ctx: _Ctx) -> CellGrade:
    lang = ctx.lang
    points, reasons, problem = best.points, list(best.reasons), best.problem
    others = ctx.shared.get(best.sub.path) or []
    if others and ctx.rubric.duplicates == "zero" and points:
        points = 0.0
        reasons.append(_say("why.duplicate.zero", lang, others=_others(others)))
        extra = _say("problem.duplicate", lang, file=ctx.names[best.sub.path])
        problem = problem + _say("sep", lang) + extra if problem else extra
    port = f"{best.port.port}/{best.port.proto}" if best.port else None
    return CellGrade(
        technique=spec.technique.value, state=spec.state.value, verdict=best.verdict, points=points, max=spec.max,
        file=best.sub.rel, claim=_claim_text(best.sub.claims, lang), observed_technique=_value(best.observed_technique),
        observed_state=_value(best.observed_state), port=port, reasons=tuple(r for r in reasons if r),
        problem=problem, findings=tuple(best.findings))


def _value(x) -> Optional[str]:
    return x.value if x is not None else None


def _capture_report(sub: Submission, fr: FileResult, spec_cells, used, ctx: _Ctx) -> tuple:
    """(CaptureReport, student-level findings) of one file."""
    lang = ctx.lang
    pair = ctx.pairs[sub.path]
    notes, extra = [], []
    if fr.error is not None:
        notes.append(_say("note.unreadable", lang, error=fr.error))
        extra.append(GradeFinding("unreadable-capture", "error", _say("finding.unreadable", lang, error=fr.error),
                                  sub.rel))
        shows = _say("shows.unreadable", lang)
    elif fr.packets == 0:
        notes.append(_say("note.empty", lang))
        shows = _say("shows.empty", lang)
    elif pair is None:
        notes.append(_say("note.noprobe", lang, packets=fr.packets))
        shows = _say("shows.noprobe", lang, packets=fr.packets)
    else:
        shows = _shows(fr, pair, lang)
        if ctx.main is not None and pair != ctx.main:
            notes.append(_say("note.other-pair", lang, scanner=pair[0], target=pair[1], main_scanner=ctx.main[0],
                              main_target=ctx.main[1]))
        others = [(p, v) for p, v in _pairs(fr).items() if p != pair]
        if others:
            what = "; ".join(f"{p[0]} → {p[1]} " + ", ".join(f"{s.port}/{s.proto}" for s in v[:3])
                             for p, v in others[:3])
            notes.append(_say("note.background", lang, what=what))
        if not sub.claims or all(c.empty for c in sub.claims):
            notes.append(_say("note.unlabelled", lang, shows=shows))
        else:
            wrong = []
            for claim in sub.claims:
                for tech in claim.techniques:
                    for spec in spec_cells:
                        if spec.technique is tech and claim.state is spec.state:
                            cand = _candidate(sub, fr, spec, ctx)
                            if cand is None or cand.verdict == MISMATCH:
                                wrong.append(spec.key)
            if wrong:
                notes.append(_say("note.mislabelled", lang, claim=_claim_text(sub.claims, lang), shows=shows))
        for proto in ("tcp", "udp"):
            missing = _unprobed(fr, pair, proto, ctx)
            if missing:
                notes.append(_say("problem.unprobed", lang, ports=_say("list", lang).join(f"{p}/{proto}" for p in missing),
                                  file=ctx.names[sub.path]))
        if not used:
            notes.append(_say("note.unused", lang))
    notes += [_say("note.warning", lang, warning=w) for w in fr.warnings]
    others = ctx.shared.get(sub.path) or []
    if others:
        notes.append(_say("note.duplicate", lang, others=_others(others)))
        extra.append(GradeFinding("duplicate-submission", "warning",
                                  _say("finding.duplicate", lang, file=ctx.names[sub.path],
                                       others=_others(others)), sub.rel))
    source = sub.claims[0].source if sub.claims else ""
    report = CaptureReport(file=sub.rel, claim=_claim_text(sub.claims, lang), claim_source=source, shows=shows,
                           packets=fr.packets, used_for=tuple(used), notes=tuple(notes), digest=fr.digest,
                           error=fr.error)
    return report, extra


def _shows(fr: FileResult, pair, lang: str) -> str:
    by_tech = defaultdict(dict)  # a port read alike by two sessions of one technique (a script run twice): once
    for s in fr.showings:
        if (s.scanner, s.target) == pair:
            by_tech[s.technique].setdefault((s.proto, s.port, s.state), s)
    by_tech = {tech: list(seen.values()) for tech, seen in by_tech.items()}
    parts = []
    for tech, shows in by_tech.items():
        ports = states_line(shows, comma=_say("list", lang), colon=_say("colon", lang))
        parts.append(_say("shows.item", lang, technique=tech, ports=ports))
    return _say("sep", lang).join(parts) if parts else _say("shows.noprobe", lang, packets=fr.packets)


def _claim_text(claims: tuple, lang: str) -> str:
    texts = [c.text(lang) for c in claims if not c.empty or c.port is not None]
    return _say("sep", lang).join(texts) if texts else _say("unlabelled", lang)


def _source_line(sub: Submission, rank: str, ctx: _Ctx) -> str:
    name, lang = ctx.names[sub.path], ctx.lang
    if rank == "unlabelled":
        return _say("src.unlabelled", lang, file=name)
    key = "src.toml" if sub.claims and sub.claims[0].source == CLAIMS_FILE else "src.named"
    return _say(key, lang, file=name, claim=_claim_text(sub.claims, lang))


def _others(others: list) -> str:
    return ", ".join(f"{sid}/{rel}" for sid, rel in others)


def _frames(findings) -> Frames:
    return Frames(tuple(n for f in findings for n in f.frames[:3]))


def _pts(x: float) -> str:
    return f"{x:g}"


# -- words ---------------------------------------------------------------------------------


def _say(key: str, lang: str, **params) -> str:
    """One of grade's sentences (messages.py, keys "grade.*") in `lang`."""
    return messages.render(T(f"grade.{key}", **{k: "" if v is None else v for k, v in params.items()}), lang)


__all__ = ["grade", "Gradebook", "StudentGrade", "CellGrade", "CaptureReport", "GradeFinding", "discover", "sniff", "packet_digest", "read_submission", "VERDICTS",
           "POOL_THRESHOLD"]
