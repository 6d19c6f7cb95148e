"""The fast path of `analyze`: columnar reading, flows replayed in bulk,
scans assembled from columns (docs/performance.md).

    summary, scans, more = analyze_capture_auto(path, forced, fast="auto")

Same results as analysis.analyze_capture_full, which it falls back to for
small captures (below FAST_MIN_BYTES the fixed cost of numpy would not pay
off) and for captures the fast reader leaves to the ordinary one
(columns.NeedSlowPath). numpy is imported only once a capture is big enough;
numba, when installed (`pip install pcapscan[fast]`), only above
JIT_MIN_BYTES, where compiling (or loading the compiled) record walker
takes less time than it saves.

Results of the fast path keep per-port verdicts in columns
(scans.PortTable): a port classified in bulk has no Exchange (exchange is
None). Library callers who need every port's packets (verify, compare) use
the ordinary path, the default of analysis.analyze.
"""
from __future__ import annotations

import os
from typing import Callable, Optional

FAST_MIN_BYTES = 4 << 20  # captures this big or bigger take the fast path under fast="auto"
JIT_MIN_BYTES = 1 << 30  # ... and the compiled record walker (numba, if installed) from this size on


def wants_fast(path, fast) -> bool:
    if fast is True:
        return True
    if not fast:
        return False
    return _big_file(path) and _gzipped(path) is False


def _big_file(path) -> bool:
    """A regular file of FAST_MIN_BYTES or more."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    import stat

    return stat.S_ISREG(st.st_mode) and st.st_size >= FAST_MIN_BYTES


def _gzipped(path) -> Optional[bool]:
    """gzip: reading a packet again means inflating the stream again: the ordinary path (None: unreadable)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == b"\x1f\x8b"
    except OSError:
        return None


def analyze_capture_auto(path, forced=None, fast="auto", progress: Optional[Callable] = None, parallel: bool = False):
    """(CaptureSummary, [Scan], analysis.More) by the fast path when `fast`
    (True, or "auto" for big regular files), else by the ordinary one.
    `parallel`: the fast path may use a second process (every core on one capture)."""
    from ..scans import analyze_capture_full

    if wants_fast(path, fast):
        try:
            from .columns import NeedSlowPath
            from .scans import analyze_capture_fast
        except ImportError:  # no numpy: the ordinary path
            return analyze_capture_full(path, forced, progress=progress)

        try:
            size = os.stat(path).st_size
        except OSError:
            size = 0
        try:
            return analyze_capture_fast(path, forced, progress=progress, use_jit=size >= JIT_MIN_BYTES,
                                        parallel=parallel)
        except NeedSlowPath as exc:
            # said on stderr with the capture's warnings: the ordinary path takes far longer
            from dataclasses import replace

            from ..messages import slow_path_note

            summary, scans, more = analyze_capture_full(path, forced, progress=progress)
            return replace(summary, warnings=summary.warnings + (slow_path_note(str(exc)),)), scans, more
    summary, scans, more = analyze_capture_full(path, forced, progress=progress)
    if fast == "auto" and _big_file(path) and _gzipped(path):  # said, as above: 50 times as long, 10 times the memory
        from dataclasses import replace

        from ..messages import said

        summary = replace(summary, warnings=summary.warnings + (said("read.gzip-slow"),))
    return summary, scans, more


def _one(args):
    """Worker: ("ok", summary, scans, more) or ("error", message)."""
    from ..errors import InputError

    path, forced, fast = args
    try:
        return ("ok", *analyze_capture_auto(path, forced, fast))
    except InputError as exc:
        return ("error", exc)


def analyze_many(paths, forced=None, fast="auto", jobs: Optional[int] = None, progress: Optional[Callable] = None):
    """[("ok", summary, scans, more) | ("error", exc)] per path, in input order,
    with `jobs` worker processes (None: every core; no pool for one file).
    `progress(done, total, count, phase)` (pcapscan/progress.py): the phases
    of the one capture, or captures done (phase "captures")."""
    from ..errors import InputError

    paths = list(paths)
    jobs = jobs or os.cpu_count() or 1
    cores = jobs  # for one capture: how many processes it may use
    jobs = min(jobs, len(paths))
    if len(paths) == 1:
        try:
            return [("ok", *analyze_capture_auto(paths[0], forced, fast,
                                                 progress=progress,
                                                 parallel=cores > 1))]
        except InputError as exc:
            return [("error", exc)]
    on_done = (lambda done, total: progress(done, total, done, "captures")) if progress else None
    if jobs <= 1:
        out = []
        for p in paths:
            out.append(_one((p, forced, fast)))
            if on_done:
                on_done(len(out), len(paths))
        return out
    from concurrent.futures import ProcessPoolExecutor

    out = [None] * len(paths)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_one, (p, forced, fast)): i for i, p in enumerate(paths)}
        from concurrent.futures import as_completed

        done = 0
        for fut in as_completed(futures):
            out[futures[fut]] = fut.result()
            done += 1
            if on_done:
                on_done(done, len(paths))
    return out
