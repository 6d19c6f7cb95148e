"""analyze(): captures to an AnalysisResult, by the way that suits them: the
ordinary path (scans.py), the columnar fast path for big captures
(fastpath/), several captures in parallel. This is the function the CLI's
`analyze` calls; the ordinary path's parts are re-exported here for callers
that name them."""
from __future__ import annotations

import os
from dataclasses import replace
from typing import Optional, Union

from .claims import parse_technique
from .errors import InputError, words
from .model import AnalysisResult, CaptureSummary, Technique
from .scans import (More, analyze_capture, analyze_capture_full, build_scans, capture_result,  # noqa: F401
                    capture_summary, client_conversation, lone_attempt, merge_same_port, scan_packets)

def analyze(path_or_paths, technique: Optional[Union[str, Technique]] = None, *, fast=False, jobs: int = 1,
            progress=None, named=()) -> AnalysisResult:
    """Analyze one capture (errors raise) or several (errors are collected in
    `result.errors` and the good captures still give their results).

    `fast` (True, or "auto": big captures only) takes the columnar fast path
    (pcapscan/fastpath; same verdicts, ports classified in bulk carry no
    Exchange); `jobs` > 1 (None: every core) analyzes captures in parallel;
    `progress(done, total, packets)` hears of bytes read (one capture) or
    captures done (several); `named`: techniques the user names without
    forcing them (verify's claims), so a client's own traffic of their
    protocol is read as probes (scans.client_conversation)."""
    forced = forced_technique(technique)
    single = isinstance(path_or_paths, (str, os.PathLike))
    paths = [path_or_paths] if single else list(path_or_paths)
    if fast or jobs != 1:
        outcome = _fast_outcomes(paths, forced, fast, jobs, progress)
    else:
        def outcome(i):
            return analyze_capture_full(paths[i], forced, progress=progress if single else None)
    return gather(paths, single, outcome, (forced, *named) if forced is not None else tuple(named))


def gather(paths, single: bool, outcome, forced=None) -> AnalysisResult:
    """The AnalysisResult of `paths`, where outcome(i) gives capture i's
    (summary, scans, more) or raises its InputError: raised again for a
    single capture, collected in `errors` for several (the others go on).
    A client's own conversations (scans.client_conversation) are counted as
    other traffic, unless `forced` (one technique or several) names a technique of their protocol.
    Shared by every way of running the captures (here, fastpath, cluster)."""
    captures, scans, errors = [], [], []
    discoveries, probings = [], []
    for i, path in enumerate(paths):
        try:
            summary, found, more = outcome(i)
        except InputError as exc:
            if single:
                raise
            errors.append(words(exc))
            captures.append(CaptureSummary(path=str(path), error=words(exc)))
            continue
        talk = [s for s in found if client_conversation(s, forced)]
        if talk:
            summary = replace(summary, other_connections=summary.other_connections + sum(len(s.ports) for s in talk),
                              other_packets=summary.other_packets + sum(scan_packets(s) for s in talk),
                              other_attempts=summary.other_attempts + sum(map(lone_attempt, talk)))
        captures.append(summary)
        scans.extend(s for s in found if not client_conversation(s, forced))
        discoveries.extend(more.discoveries)
        probings.extend(more.probings)
    return AnalysisResult(captures=tuple(captures), scans=tuple(scans), errors=tuple(errors),
                          discoveries=tuple(discoveries), probings=tuple(probings))


def _fast_outcomes(paths, forced, fast, jobs, progress):
    """outcome(i): capture i's (summary, scans, more), or its InputError raised (fastpath.analyze_many)."""
    from .fastpath import analyze_many

    results = analyze_many(paths, forced, fast=fast, jobs=jobs, progress=progress)

    def outcome(i):
        if results[i][0] == "error":
            raise results[i][1]
        return results[i][1:]

    return outcome


def forced_technique(technique) -> Optional[Technique]:
    """The technique to force (analyze -t), read as every command reads technique names."""
    if technique is None or isinstance(technique, Technique):
        return technique
    return parse_technique(technique)


