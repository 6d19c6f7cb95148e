"""Progress of long work, phase by phase (mechanism only: the CLI draws it).

Library code that may run long takes an optional callback and calls it as

    progress(done, total, count, phase)

`phase` names what runs now (PHASES); `done` of `total` is how far it got
(bytes for reading, packets for pairing, rows for the phases in between,
ports for writing); total 0 means "cannot tell how long": a phase that
only says it has begun. `count` is what the phase has gone through so far
(packets read, exchanges, sessions), for the display. Phases come in the
order they run; a new phase ends the one before. Callers that only know
the older three arguments get phase "reading" by default.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

# The phases, in the order they run (a progress line's words for each, in
# English and Chinese: messages.PROGRESS_WORDS).
PHASES = (
    "reading",  # the capture's records, decoded (the fast path's flow table too)
    "pairing",  # probes and answers, through the replay engine
    "assembling",  # flows sorted into scan sessions
    "routing",  # the fast path: the engine's groups, the routing policies
    "fingerprinting",  # each session's ports and tool
    # the same two, a big capture's blocks read again from it (fastpath/feed.Rereader)
    "assembling-reread",
    "fingerprinting-reread",
    "classifying",  # the ordinary path: every exchange's technique and state
    "rereading",  # the packets of some sessions: verify's rules, compare's exchanges
    "checking-shapes",  # verify: a big capture's bulk ports, the rules once per shape (counted in ports)
    "checking",  # verify: the textbook's rules, each over every port
    "comparing",  # compare: the two sessions side by side
    "writing",  # the rendering, to its file
    "captures",  # several captures: how many are done
    "grading",  # grade: each student's cells from the files' readings
)

EVERY = 1 << 16  # packets or rows between two reports of a loop


def report(progress: Optional[Callable], phase: str, done: int = 0, total: int = 0, count: int = 0) -> None:
    """progress(done, total, count, phase), when there is a callback."""
    if progress is not None:
        progress(done, total, count, phase)


class Ticker:
    """A phase's reports: its start, then at most one per `seconds` (the
    loop calls it every EVERY items or so), then its end."""

    def __init__(self, progress: Optional[Callable], phase: str, total: int, seconds: float = 0.2):
        self.progress, self.phase, self.total = progress, phase, total
        self.seconds = seconds
        self.last = 0.0
        report(progress, phase, 0, total)

    def __call__(self, done: int, count: int = 0) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if now - self.last >= self.seconds:
            self.last = now
            self.progress(done, self.total, count or done, self.phase)

    def end(self, count: int = 0) -> None:
        report(self.progress, self.phase, self.total, self.total, count or self.total)
