"""What `pcapscan grade` concludes, as data: a finding, a cell's grade, a
capture's report, a student's grade, the class's gradebook (frozen
dataclasses, rendered by report/grade_report.py and report/grade_html.py)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .rubric import Rubric

OK, AMBIGUOUS, MISMATCH, MISSING, NO_EVIDENCE = "ok", "ambiguous", "mismatch", "missing", "no-evidence"
VERDICTS = (OK, AMBIGUOUS, MISMATCH, MISSING, NO_EVIDENCE)


# -- the gradebook ------------------------------------------------------------------------

@dataclass(frozen=True)
class GradeFinding:
    """A finding as a student's feedback shows it: verify's (or grade's own)
    rule, severity and explanation, where, and what it cost."""

    rule: str
    severity: str
    message: str
    file: Optional[str] = None  # relative to the student's folder
    proto: Optional[str] = None
    port: Optional[int] = None
    frames: tuple = ()
    penalty: float = 0.0


@dataclass(frozen=True)
class CellGrade:
    technique: str
    state: str
    verdict: str  # ok, ambiguous, mismatch, missing, no-evidence
    points: float
    max: float
    file: Optional[str] = None
    claim: str = ""  # how the file is named, as grade read it ("unlabelled" when it says nothing)
    observed_technique: Optional[str] = None
    observed_state: Optional[str] = None
    port: Optional[str] = None  # "80/tcp": the exchange the verdict rests on
    reasons: tuple = ()  # short lines: where the evidence is, technique, state, what cost points
    problem: str = ""  # one short line for the summary, "" when the cell is ok and costs nothing
    findings: tuple = ()  # GradeFinding

    @property
    def key(self) -> str:
        return f"{self.technique}:{self.state}"


@dataclass(frozen=True)
class CaptureReport:
    file: str
    claim: str  # "connect × open", "xmas/fin/null × closed", "unlabelled"
    claim_source: str
    shows: str
    packets: int
    used_for: tuple  # cell keys
    notes: tuple  # short lines
    digest: Optional[str] = None
    error: Optional[str] = None


@dataclass(frozen=True)
class StudentGrade:
    id: str
    path: str
    points: float
    max: float
    cells: tuple  # CellGrade, in rubric order
    captures: tuple  # CaptureReport
    findings: tuple = ()  # student-level GradeFindings: duplicates, unreadable files, claims.toml

    def count(self, verdict: str) -> int:
        return sum(1 for c in self.cells if c.verdict == verdict)

    @property
    def problems(self) -> tuple:
        return tuple(c for c in self.cells if c.problem)

    @property
    def clean(self) -> bool:
        return all(c.verdict == OK and not c.problem for c in self.cells) and not any(
            f.severity in ("error", "warning") for f in self.findings)


@dataclass(frozen=True)
class Gradebook:
    submissions: str
    rubric: Rubric
    lang: str
    students: tuple  # StudentGrade, by id
    files: int = 0  # capture files read
    jobs: int = 1  # worker processes used (1: none)
    # capture path (student folder joined with the file) -> the verify.CheckedPorts grade kept of a big
    # capture (submissions.FileResult.checked): its ladders are drawn from them, the capture not read again
    ladders: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def cells(self) -> tuple:
        return tuple(c.key for c in self.rubric.cells)

    @property
    def clean(self) -> bool:
        """True when every student shows every cell, ok, and nothing is flagged."""
        return all(s.clean for s in self.students)
