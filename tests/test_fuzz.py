"""The fuzz harness (fuzz/fuzz_capture.py, docs/fuzzing.md): a short
coverage-guided run, bounded in time, and every crash the campaigns found,
minimized, as a regression test.

The contract the harness checks: for any bytes, analyzing them as a capture
and rendering the result in every format either succeeds or raises
pcapscan.errors.PcapscanError; nothing else escapes.
"""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "fuzz" / "fuzz_capture.py"
REGRESSIONS = ROOT / "tests" / "fuzz_regressions"
HAVE_ATHERIS = importlib.util.find_spec("atheris") is not None


def _harness():
    spec = importlib.util.spec_from_file_location("fuzz_capture", HARNESS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def harness():
    module = _harness()
    yield module
    module._cleanup()


@pytest.mark.skipif(not HAVE_ATHERIS, reason="atheris is not installed (pip install -e '.[test]')")
def test_short_fuzz_run(tmp_path):
    """A few thousand executions from the project's captures and the crafted
    seeds, stopped after 20 s at most: no crash, no timeout, no leak of
    anything but PcapscanError."""
    corpus, artifacts = tmp_path / "corpus", tmp_path / "artifacts"
    artifacts.mkdir()
    cmd = [
        sys.executable, str(HARNESS), f"--corpus={corpus}", "-runs=3000", "-max_total_time=20", "-seed=1",
        "-timeout=10", "-rss_limit_mb=1536", f"-artifact_prefix={artifacts}/", "-print_final_stats=1",
    ]  # fmt: skip
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    log = "\n".join(line for line in proc.stderr.splitlines() if not line.startswith("INFO: Instrumenting"))
    assert proc.returncode == 0, log[-4000:]
    assert re.search(r"^Done \d+ runs in \d+ second", log, re.M), log[-4000:]
    assert not list(artifacts.iterdir()), log[-4000:]
    executed = int(re.search(r"stat::number_of_executed_units: *(\d+)", log).group(1))
    assert executed >= 500, log[-2000:]  # it did fuzz, not only load the seeds
    assert sorted(p.name for p in corpus.iterdir() if p.name.startswith("crafted-"))  # the seeds were written
    assert time.monotonic() - start < 120


def test_crafted_seeds_analyze_cleanly(harness, tmp_path):
    """The tiny seeds cover each container, link type and answer kind, and
    each one yields a scan (they are well formed, so the fuzzer starts deep)."""
    from pcapscan.analysis import analyze_capture

    seeds = harness.crafted_seeds()
    assert len(seeds) >= 15
    for name, data in seeds.items():
        harness.run_one(data)
        if data.startswith(harness.GZIP_PREFIX):
            continue
        path = tmp_path / name
        path.write_bytes(data)
        summary, scans = analyze_capture(path)
        assert scans, name
        assert summary.skipped == (1 if name == "pcapng-undeclared-interface" else 0), name


def test_run_one_lets_only_pcapscan_errors_out(harness):
    from pcapscan.errors import NotACapture

    for data in (b"", b"not a capture at all", b"\x1f\x8b\x08", b"\xd4\xc3\xb2\xa1\x02\x00"):
        harness.run_one(data)  # PcapscanError inside: swallowed, as the contract allows
    with pytest.raises(NotACapture):
        from pcapscan.analysis import analyze_capture

        path = Path(harness._scratch_path())
        path.write_bytes(b"junk")
        analyze_capture(path)


REPRODUCERS = sorted(REGRESSIONS.glob("*")) if REGRESSIONS.is_dir() else []


@pytest.mark.parametrize("path", REPRODUCERS, ids=[p.name for p in REPRODUCERS])
def test_fuzz_regression(harness, path):
    """Each minimized crash reproducer runs through the whole harness again."""
    data = path.read_bytes()
    assert len(data) <= 4096, "reproducers are minimized"
    start = time.monotonic()
    harness.run_one(data)
    assert time.monotonic() - start < 10


def test_far_future_timestamp_renders_as_nmap_xml(tmp_path):
    """Found by the campaign: a pcapng if_tsoffset of 2^62 s put a packet past
    the year 9999 and time.ctime() raised OSError in the nmap-xml renderer.
    The scan is still rendered; the unshowable time text is left empty."""
    from pcapscan.analysis import analyze

    from pcapscan.report import render

    path = tmp_path / "far.pcapng"
    path.write_bytes((REGRESSIONS / "nmapxml-ctime-far-future-timestamp.pcapng").read_bytes())
    result = analyze(path)
    assert result.scans and result.scans[0].first_ts > 4e18
    xml = render(result, "nmap-xml")
    assert 'startstr=""' in xml and 'timestr=""' in xml and 'portid="443"' in xml
