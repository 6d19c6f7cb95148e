"""fingerprint.py reads less of a session and gives the same guess: a signature that
cannot outrank the best fitting one read before it is left unread (fingerprint._ranked's
pruning), and a long narrow column's few most common values are found without ordering
every value (most_common_head). Each held to the full reading on real sessions, both
paths (the engine's Exchange objects and the fast path's flow-table columns)."""
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pcapscan import fingerprint
from pcapscan.analysis import analyze_capture_full
from pcapscan.fastpath import scans as fast_scans
from pcapscan.fastpath.columns import NeedSlowPath
from pcapscan.fingerprint import SIGNATURES, Observed, identify_observed, most_common_head

ROOT = Path(__file__).resolve().parents[1]
OWN_CAPTURES = sorted(p for p in (ROOT / "captures").rglob("*") if p.suffix in (".pcap", ".pcapng", ".gz"))


class Spy:
    """Stands in for fingerprint.identify_observed: each session read pruned, then read in
    full on a fresh copy of its columns; the two guesses must be equal."""

    def __init__(self):
        self.sessions = self.pruned = 0

    def __call__(self, obs: Observed, prune: bool = True):
        fresh = Observed(obs.probes, obs.first, obs.retries, obs.followups, obs.synacks, obs.n_synacks,
                         obs.completed, obs.options, obs.ip_version)
        got = identify_observed(obs, prune)
        full = identify_observed(fresh, prune=False)
        assert got == full  # name, confidence and every evidence sentence
        self.sessions += 1
        self.pruned += len(obs.clues) < len(fresh.clues)
        return got


def read_both_ways(monkeypatch, paths) -> Spy:
    spy = Spy()
    monkeypatch.setattr(fingerprint, "identify_observed", spy)
    for path in paths:
        analyze_capture_full(path)  # the ordinary path: Observed.of(exchanges)
        try:  # the fast path's columns, for every session however small
            fast_scans.analyze_capture_fast(path, None, fp_objects_max=0)
        except NeedSlowPath:
            pass
    return spy


def test_pruned_guess_is_the_full_reading_on_own_captures(monkeypatch):
    spy = read_both_ways(monkeypatch, OWN_CAPTURES)
    assert spy.sessions >= 150
    assert spy.pruned >= spy.sessions // 2  # pruning leaves clues unread on most sessions


def test_pruned_guess_is_the_full_reading_on_shared_captures(monkeypatch, shared_captures):
    files = sorted(p for p in shared_captures.rglob("*") if p.suffix in (".pcap", ".pcapng", ".gz"))
    spy = read_both_ways(monkeypatch, files)
    assert spy.sessions >= 100
    assert spy.pruned > 0


def test_an_nmap_session_leaves_the_other_tools_mostly_unread():
    capture = ROOT / "captures" / "tools" / "nmap-syn.pcap"
    _summary, scans, _more = analyze_capture_full(capture)
    exchanges = [p.exchange for p in max(scans, key=lambda s: len(s.ports)).ports]
    obs = Observed.of(exchanges)
    guess = identify_observed(obs)
    assert guess.name == "nmap" and guess.confidence == 1.0
    read = {key[0] for key in obs.clues}
    nmaps = {c.test for c in SIGNATURES[0].clues}
    assert nmaps <= read  # the winner read in full
    # after a confidence of 1.0, every other signature stops at its first clue that fails
    assert fingerprint.ipid_varies not in read and fingerprint.masscan_ipid not in read
    full = Observed.of(exchanges)
    assert identify_observed(full, prune=False) == guess
    assert len(obs.clues) < len(full.clues)


def columns():
    rng = np.random.default_rng(17)
    for n in (1024, 1500, 4096, 70000):
        yield rng.integers(0, 65536, n).astype(np.uint16)  # a random IP ID: every value a handful of times
        yield rng.integers(0, 7, n).astype(np.uint8)  # few values, counts tied or close
        yield np.where(rng.random(n) < 0.9, 1024, rng.integers(0, 300, n)).astype(np.uint16)  # one dominates
        yield np.repeat(rng.integers(0, 1000, 4), n // 4 + 1)[:n].astype(np.uint16)  # long runs, tied counts
        yield np.r_[np.full(n - 3, 9), [3, 2, 1]].astype(np.uint8)  # the ties at the end
        yield (rng.integers(0, 3, n) * 1000).astype(np.uint16)
    yield rng.integers(0, 65536, 500).astype(np.uint16)  # short: most_common itself
    yield rng.integers(-5, 5, 3000)  # signed, wide: most_common itself


@pytest.mark.parametrize("limit", [0, 1, 3, 4, 10])
def test_most_common_head_is_counter_most_common(limit):
    for values in columns():
        want = Counter(values.tolist()).most_common()
        assert most_common_head(values, limit) == ([v for v, _ in want[:limit]], len(want))
