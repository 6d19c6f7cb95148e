"""Progress, phase by phase (pcapscan/progress.py): every long phase of
every path reports, and the terminal's bar names each one and never sits
at 100% of a finished phase while the next runs unnamed."""
import io
import re

import pytest
from click.testing import CliRunner

from pcapbuild import pcap_bytes
from test_fastpath import big_scan, hard  # noqa: F401 - the fixture

from pcapscan import cli, fastpath
from pcapscan.analysis import analyze, analyze_capture_full
from pcapscan.capture import containers
from pcapscan.fastpath import scans
from pcapscan.report import stream


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, done, total, count=0, phase="reading"):
        self.calls.append((phase, done, total, count))

    def phases(self) -> list:
        out = []
        for phase, *_ in self.calls:
            if not out or out[-1] != phase:
                out.append(phase)
        return out

    def of(self, phase) -> list:
        return [c[1:] for c in self.calls if c[0] == phase]


def two_sessions(tmp_path):
    path = tmp_path / "scan.pcap"
    path.write_bytes(pcap_bytes(big_scan(ports=range(1, 300)) + big_scan(t0=9.0, ports=range(1, 200), sport=40001)
                                + [(20.0 + i, rec[1]) for i, rec in enumerate(big_scan(sport=40002)[:6])]))
    return path


def assert_phase_runs_to_its_end(rec, phase):
    got = rec.of(phase)
    assert got, f"no {phase} reported"
    dones = [d for d, _t, _c in got]
    assert dones == sorted(dones) and got[-1][0] == got[-1][1] > 0, got


@pytest.mark.parametrize("parallel", [False, True])
def test_fast_path_reports_every_phase(tmp_path, hard, parallel):  # noqa: F811
    path = two_sessions(tmp_path)
    rec = Recorder()
    scans.analyze_capture_fast(path, use_jit=False, progress=rec, parallel=parallel, **hard)
    assert rec.phases() == ["reading", "pairing", "assembling", "routing", "fingerprinting"]
    for phase in ("reading", "pairing", "assembling", "fingerprinting"):
        assert_phase_runs_to_its_end(rec, phase)
    assert rec.of("reading")[-1][1] == path.stat().st_size
    packets = len(big_scan(ports=range(1, 300))) + len(big_scan(t0=9.0, ports=range(1, 200))) + 6
    assert rec.of("reading")[-1][2] == packets
    assert len(rec.of("assembling")) >= 3  # one report per block of sessions, as they are done


def test_ordinary_path_reports_reading_then_classifying(tmp_path, monkeypatch):
    monkeypatch.setattr(containers, "PROGRESS_EVERY", 64)
    path = two_sessions(tmp_path)
    rec = Recorder()
    analyze_capture_full(path, progress=rec)
    assert rec.phases() == ["reading", "classifying"]
    reads = rec.of("reading")
    assert len(reads) >= 10 and all(0 < d <= t == path.stat().st_size for d, t, _c in reads)
    # the exchanges it classifies: one per port and session (the scan run again 9 s later over the
    # ports that answered is a second session: 299 + 199, and 3 for the third)
    assert rec.of("classifying")[0][2] == 501


def test_fallback_reports_its_phases_and_says_why(tmp_path, monkeypatch):
    """A capture the fast path declines: the ordinary path's phases, and a warning that says so."""
    path = two_sessions(tmp_path)

    def decline(*_a, **_k):
        raise scans.NeedSlowPath("a reason")

    monkeypatch.setattr(scans, "analyze_capture_fast", decline)
    rec = Recorder()
    summary, _scans, _more = fastpath.analyze_capture_auto(path, fast=True, progress=rec)
    assert rec.phases()[-1] == "classifying"
    assert any("not by the fast path (a reason)" in w for w in summary.warnings)


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_writing_reports_ports(tmp_path, fmt):
    path = two_sessions(tmp_path)
    result = analyze(path, fast=True)
    rec = Recorder()
    out = io.StringIO()
    stream.write(result, fmt, out, progress=rec)
    assert rec.phases() == ["writing"]
    if fmt != "table":
        assert_phase_runs_to_its_end(rec, "writing")
        assert rec.of("writing")[-1][1] == sum(len(s.ports) for s in result.scans)


# -- the terminal's bar ------------------------------------------------------------------------------


def frames_of(text: str) -> list:
    """The successive states of a redrawn line."""
    return [f for f in re.split(r"\r\x1b\[K", text) if f]


def phase_labels(frames) -> list:
    """The phases a redrawn line named, in order, each once per run."""
    labels = []
    for f in frames:
        label = f.split(" [")[0].split(":")[0]
        if not labels or labels[-1] != label:
            labels.append(label)
    return labels


def on_a_terminal(monkeypatch) -> None:
    """The CLI's bar drawn as on a terminal, from the first byte and the first moment."""
    monkeypatch.setattr(cli.ProgressBar, "MIN_BYTES", 0)
    monkeypatch.setattr(cli.ProgressBar, "MIN_SECONDS", 0)
    real = cli.ProgressBar
    monkeypatch.setattr(cli, "ProgressBar", lambda *a, **k: real(*a, tty=True, **k))


def test_bar_names_each_phase_and_moves_on(monkeypatch):
    out = io.StringIO()
    bar = cli.ProgressBar(1, stream=out, tty=True, size=1 << 40)
    monkeypatch.setattr(bar, "MIN_SECONDS", 0)
    bar(50, 100, 1000, "reading")
    bar(100, 100, 2000, "reading")
    bar(0, 10, 0, "pairing")
    bar(10, 10, 10, "pairing")
    bar(0, 0, 55, "classifying")
    bar.close()
    frames = frames_of(out.getvalue())
    assert frames[0].startswith("reading [") and "50%" in frames[0] and "1,000 packets" in frames[0]
    assert frames[1].startswith("reading [") and "100%" in frames[1]
    assert frames[2].startswith("pairing [") and "0 of 10 packets" in frames[2]
    assert frames[-1].startswith("classifying: 55 exchanges")
    assert "s left" not in frames[1]  # nothing left of the phase: no "0 s left"
    assert out.getvalue().endswith("\r\x1b[K")  # the line is cleared at the end


def test_bar_redraws_a_long_phase_that_cannot_tell_its_length(monkeypatch):
    import time

    out = io.StringIO()
    bar = cli.ProgressBar(1, stream=out, tty=True, size=1 << 40)
    monkeypatch.setattr(bar, "MIN_SECONDS", 0)
    bar(0, 0, 7, "classifying")
    time.sleep(2.3)
    bar.close()
    frames = frames_of(out.getvalue())
    assert len(frames) >= 3 and frames[-1].startswith("classifying: 7 exchanges, 2 s so far"), frames


def test_bar_silent_when_not_a_terminal_or_small():
    out = io.StringIO()
    for bar in (cli.ProgressBar(1, stream=out, tty=False, size=1 << 40),
                cli.ProgressBar(1, stream=out, tty=True, size=1000)):
        bar(50, 100, 10, "reading")
        bar(0, 0, 10, "classifying")
        bar.close()
    assert out.getvalue() == ""


def test_cli_analyze_on_a_terminal_shows_every_phase(tmp_path, monkeypatch):
    """The command as a user runs it, stderr a (fake) terminal, the fast path taken."""
    path = two_sessions(tmp_path)
    monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)
    on_a_terminal(monkeypatch)
    for fmt in ("json", "table"):
        res = CliRunner().invoke(cli.main, ["analyze", str(path), "-f", fmt, "-o",
                                                            str(tmp_path / f"out.{fmt}")])
        assert res.exit_code == 0, res.stderr
        frames = frames_of(res.stderr)
        labels = phase_labels(frames)
        assert labels == ["reading", "pairing", "assembling", "grouping, routing", "classifying, fingerprinting",
                          "writing"], labels
        # a phase at 100% is followed by the next phase's line (or the end), never left standing
        for a, b in zip(frames, frames[1:]):
            if "100%" in a:
                assert b.split(" [")[0] != a.split(" [")[0] or "100%" in b


def test_verify_and_compare_report_their_phases(tmp_path, monkeypatch):
    from pcapscan.compare import compare
    from pcapscan.verify import verify

    monkeypatch.setattr(containers, "PROGRESS_EVERY", 64)
    path = two_sessions(tmp_path)
    rec = Recorder()
    verify(path, progress=rec)
    assert rec.phases() == ["reading", "classifying", "rereading", "checking"]
    assert_phase_runs_to_its_end(rec, "checking")
    rec = Recorder()
    compare(path, path, progress=rec)
    assert rec.phases() == ["reading", "classifying", "reading", "classifying", "comparing"]


def test_verify_and_compare_of_big_captures_report_every_phase(tmp_path, monkeypatch):
    """Through the fast path, then verify's bulk ports checked and compare's described by shape
    (fastpath.subset): each phase named."""
    from pcapscan.compare import compare
    from pcapscan.verify import RULES, verify

    monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)
    path = two_sessions(tmp_path)
    rec = Recorder()
    verify(path, progress=rec)
    assert rec.phases() == ["reading", "pairing", "assembling", "routing", "fingerprinting", "rereading",
                            "checking-shapes", "checking"]
    assert rec.of("rereading")[-1][:2] == (path.stat().st_size, path.stat().st_size)
    # the bulk ports are counted in ports, the rules after them in rules: two phases, two units
    assert rec.of("checking-shapes")[-1][1] > len(RULES) and rec.of("checking")[-1][1] == len(RULES)
    rec = Recorder()
    compare(path, path, progress=rec)
    once = ["reading", "pairing", "assembling", "routing", "fingerprinting"]
    assert rec.phases() == once + once + ["rereading", "classifying", "rereading", "classifying", "comparing"]


def test_bar_tells_no_rate_before_half_a_second(monkeypatch):
    out = io.StringIO()
    bar = cli.ProgressBar(1, stream=out, tty=True, size=1 << 40)
    monkeypatch.setattr(bar, "MIN_SECONDS", 0)
    bar(0, 0, 5, "fingerprinting")
    bar(10, 100, 57_902, "rereading")
    bar.close()
    frame = frames_of(out.getvalue())[-1]
    assert frame.startswith("reading again [") and frame.endswith("57,902 packets"), frame


def test_cli_annotate_on_a_terminal_shows_verify_then_writing(tmp_path, monkeypatch):
    """annotate runs verify, then words the comments and writes the copy: both named on the bar."""
    path = two_sessions(tmp_path)
    monkeypatch.setattr(containers, "PROGRESS_EVERY", 64)
    on_a_terminal(monkeypatch)
    res = CliRunner().invoke(cli.main, ["annotate", str(path), "-o", str(tmp_path / "out.pcapng")])
    assert res.exit_code == 0, res.stderr
    labels = phase_labels(frames_of(res.stderr))
    assert labels[0] == "reading" and labels[-1] == "writing" and "checking" in labels, labels
    assert res.stderr.endswith("\r\x1b[K")  # the bar is gone before the summary line


# -- grade ------------------------------------------------------------------------------------------


def class_with_a_big_capture(tmp_path):
    """One student: a capture taken as big (FAST_MIN_BYTES set to 1 by the tests) and a lab capture."""
    import shutil
    from pathlib import Path

    alice = tmp_path / "class" / "alice"
    alice.mkdir(parents=True)
    (alice / "syn_scan.pcap").write_bytes(two_sessions(tmp_path).read_bytes())
    shutil.copy(Path(__file__).resolve().parents[1] / "captures" / "golden" / "xmas.pcap", alice / "xmas_closed.pcap")
    return alice.parent


def test_grade_reports_the_files_a_big_captures_phases_and_the_students(tmp_path, monkeypatch):
    from pcapscan.grade import grade

    monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)
    rec = Recorder()
    grade(class_with_a_big_capture(tmp_path), jobs=1, progress=rec)
    phases = rec.phases()
    assert phases[0] == "captures" and phases[-2:] == ["captures", "grading"], phases
    # between the files: each big capture read, read again where grade finds its ports, verified
    assert {"reading", "fingerprinting", "rereading", "checking"} <= set(phases), phases
    assert [d for d, _t, _c in rec.of("captures")] == [0, 1, 2] and rec.of("captures")[-1][1] == 2
    assert_phase_runs_to_its_end(rec, "grading")


def test_cli_grade_on_a_terminal_names_every_phase_then_clears_the_line(tmp_path, monkeypatch):
    root = class_with_a_big_capture(tmp_path)
    monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)
    on_a_terminal(monkeypatch)
    res = CliRunner().invoke(cli.main, ["grade", str(root), "-o", str(tmp_path / "grades"), "-j", "1"])
    assert res.exit_code in (0, 1), res.stderr
    bar, _, after = res.stderr.partition("pcapscan: wrote")
    labels = phase_labels(frames_of(bar))
    assert labels[0] == "captures" and labels[-2:] == ["grading", "writing"], labels
    assert "reading" in labels and "checking" in labels, labels
    assert bar.endswith("\r\x1b[K") and after  # the bar gone before the lines about the files written
    assert "\x1b[K" not in res.stdout and "alice" in res.stdout
