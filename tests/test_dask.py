"""`--dask`: analyze and grade on a Dask cluster give what one process gives
(issue 8, docs/distributed.md). One local cluster of two worker processes
serves the whole module; the test that kills a worker comes last."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pcapbuild as pb
import pytest
from click.testing import CliRunner

from pcapscan import analysis
from pcapscan.capture import ReadStats, open_capture
from pcapscan.cli import main
from pcapscan.report.stream import write

try:
    import distributed  # noqa: F401
    from dask.distributed import Client, LocalCluster

    HAVE_DASK = True
except ImportError:
    HAVE_DASK = False

needs_dask = pytest.mark.skipif(not HAVE_DASK, reason="dask[distributed] is not installed (pip install 'pcapscan[dask]')")

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "captures"
STUDENTS = SHARED / "students"


def suite_captures() -> list:
    """Every capture of the suite: golden, tools, seeds, and shared/captures when present."""
    found = []
    for base in (ROOT / "captures" / "golden", ROOT / "captures" / "tools", ROOT / "captures" / "seeds", SHARED):
        if base.is_dir():
            found += sorted(p for p in base.rglob("*") if p.is_file() and ".pcap" in p.name)
    return [str(p) for p in found]


def as_json(result) -> str:
    out = io.StringIO()
    write(result, "json", out)
    return out.getvalue()


def records_of(path) -> list:
    """(linktype, ts, data) of every record of a capture."""
    cap = open_capture(path)
    return list(cap.records(ReadStats(str(path))))


@pytest.fixture(scope="module")
def client():
    if not HAVE_DASK:
        pytest.skip("dask[distributed] is not installed (pip install 'pcapscan[dask]')")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as lc:
        with Client(lc) as c:
            yield c


def _cluster():
    from pcapscan import cluster

    return cluster


# -- without --dask nothing changes ---------------------------------------------------------------


def test_no_dask_import_without_the_flag(tmp_path):
    """analyze and grade without --dask never import Dask (nor pcapscan.cluster)."""
    golden = sorted(str(p) for p in (ROOT / "captures" / "golden").glob("*.pcap"))[:3]
    script = f"""
import sys
from pcapscan.cli import main
for args in ({[*golden, '-f', 'json', '-o', str(tmp_path / 'a.json')]!r},
             {[golden[0], '-f', 'json', '-o', str(tmp_path / 'b.json')]!r}):
    try:
        main(['analyze', *args], standalone_mode=False)
    except SystemExit:
        pass
if {str(STUDENTS)!r} and __import__('os').path.isdir({str(STUDENTS)!r}):
    try:
        main(['grade', {str(STUDENTS)!r}, '-o', {str(tmp_path / 'g')!r}, '-f', 'json'], standalone_mode=False)
    except SystemExit:
        pass
bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed') or m == 'pcapscan.cluster')
print('IMPORTED', bad)
print('WROTE', sorted(p.name for p in __import__('pathlib').Path({str(tmp_path)!r}).iterdir()))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "IMPORTED []" in out.stdout, out.stdout
    assert "WROTE ['a.json', 'b.json'" in out.stdout, out.stdout


def test_without_dask_installed_the_flag_says_how_to_get_it(monkeypatch):
    """--dask with no Dask installed: one line naming the extra, exit 2."""
    import builtins

    real = builtins.__import__

    def no_dask(name, *args, **kwargs):
        if name.split(".")[0] in ("dask", "distributed"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    golden = str(ROOT / "captures" / "golden" / "syn.pcap")
    res = CliRunner().invoke(main, ["analyze", golden, "--dask", "local"])
    assert res.exit_code == 2
    assert "pcapscan[dask]" in res.output


# -- the same JSON on the cluster ------------------------------------------------------------------


@needs_dask
def test_cli_json_equal_for_every_capture(client, tmp_path):
    """`analyze --dask ADDRESS` over the whole suite writes the JSON `analyze` writes."""
    files = suite_captures()
    assert len(files) > 30
    plain, dask = tmp_path / "plain.json", tmp_path / "dask.json"
    runner = CliRunner()
    a = runner.invoke(main, ["analyze", *files, "-f", "json", "-o", str(plain)])
    b = runner.invoke(main, ["analyze", *files, "-f", "json", "-o", str(dask), "--dask", client.scheduler.address])
    assert a.exit_code == b.exit_code, (a.output, b.output)
    assert plain.read_text() == dask.read_text()
    assert "dashboard" in b.output


@needs_dask
def test_chunked_json_equal_for_every_capture(client):
    """Every capture split into tiny chunks (7 records, or a few dozen chunks for
    the bigger ones), so that chunk ends fall inside exchanges: the same JSON."""
    cluster = _cluster()
    differ, split = [], 0
    for path in suite_captures():
        ref = analysis.analyze([path])
        packets = ref.captures[0].packets
        size = max(7, packets // 24)
        plan, _why = cluster.plan_chunks(path, size)
        split += plan is not None and len(plan.chunks) > 1
        got = cluster.analyze(client, [path], chunk_records=size)
        if as_json(got) != as_json(ref):
            differ.append(path)
    assert not differ
    assert split > 30


def test_the_library_leaves_the_callers_collector_as_it_was(client):
    """cluster.analyze pauses cyclic collection while it builds the result and no
    longer: nothing stays frozen, and collection is on again, in the caller's process
    (the CLI alone freezes what is alive, at its exit)."""
    import gc

    gc.unfreeze()
    gc.enable()
    got = _cluster().analyze(client, [str(ROOT / "captures" / "golden" / "syn.pcap")])
    assert got.captures[0].packets > 0
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()


def _write_pcap(path, records, linktype=1, **kw):
    path.write_bytes(pb.pcap_bytes([(ts, data) for ts, data in records], linktype=linktype, **kw))
    return str(path)


def _golden_records(name):
    return [(ts, data) for _lt, ts, data in records_of(ROOT / "captures" / "golden" / name)]


def _check_equal(client, path, chunk_records=5, **kw):
    ref = analysis.analyze([path])
    got = _cluster().analyze(client, [path], chunk_records=chunk_records, **kw)
    assert as_json(got) == as_json(ref)
    return ref


@needs_dask
def test_timestamps_backwards_replay_as_one_partition(client, tmp_path):
    """Two captures merged with the second's clock behind: the duplicate memory
    is not per flow then, so the packets replay as one partition. Same JSON."""
    cluster = _cluster()
    a, b = _golden_records("syn.pcap"), _golden_records("udp.pcap")
    shift = a[0][0] - b[-1][0] - 100.0
    path = _write_pcap(tmp_path / "merged.pcap", a + [(ts + shift, d) for ts, d in b])
    _check_equal(client, path)
    plan, _ = cluster.plan_chunks(path, 5)
    metas = {j: cluster.extract_chunk(path, plan.header, c, 4)[0] for j, c in enumerate(plan.chunks)}
    assert not cluster._flows_apart(metas)
    plain = _write_pcap(tmp_path / "plain.pcap", a)
    plan, _ = cluster.plan_chunks(plain, 5)
    metas = {j: cluster.extract_chunk(plain, plan.header, c, 4)[0] for j, c in enumerate(plan.chunks)}
    assert cluster._flows_apart(metas)


@needs_dask
def test_every_packet_twice_counts_the_same_duplicates(client, tmp_path):
    recs = _golden_records("connect.pcap")
    twice = [r for ts, d in recs for r in ((ts, d), (ts + 0.000001, d))]
    ref = _check_equal(client, _write_pcap(tmp_path / "twice.pcap", twice))
    assert ref.captures[0].duplicates == len(recs)


@needs_dask
def test_dense_capture_beyond_the_duplicate_memory(client, tmp_path):
    """More packets within one duplicate window than the engine remembers: one partition."""
    from pcapscan.exchanges import RECENT_MAX

    n = RECENT_MAX + 600
    recs = []
    for i in range(n):
        recs.append((1000.0 + i * 1e-7, pb.ether(pb.ipv4_tcp("198.18.0.1", "198.18.0.2", 40000 + i % 7, 1 + i % 60000,
                                                            0x02, seq=i))))
    path = _write_pcap(tmp_path / "dense.pcap", recs)
    _check_equal(client, path, chunk_records=3000)
    cluster = _cluster()
    plan, _ = cluster.plan_chunks(path, 3000)
    metas = {j: cluster.extract_chunk(path, plan.header, c, 4)[0] for j, c in enumerate(plan.chunks)}
    assert not cluster._flows_apart(metas)


@needs_dask
def test_pcapng_sections_and_interfaces_across_chunks(client, tmp_path):
    """Chunks start inside a section whose interfaces (and byte order) came before them."""
    a, b = _golden_records("syn.pcap"), _golden_records("fin.pcap")
    first = pb.pcapng_bytes(interfaces=((1, None), (1, 9)),
                            packets=[(i % 2, ts, d) for i, (ts, d) in enumerate(a)])
    second = pb.pcapng_bytes(interfaces=((101, 6), (1, None)), byteorder=">",
                             packets=[(1, ts, d) for ts, d in b])
    path = tmp_path / "two-sections.pcapng"
    path.write_bytes(first + second)
    _check_equal(client, str(path), chunk_records=3)


@needs_dask
def test_gzip_and_damaged_captures_are_read_as_one_task(client, tmp_path):
    cluster = _cluster()
    data = (ROOT / "captures" / "golden" / "syn.pcap").read_bytes()
    gz = tmp_path / "syn.pcap.gz"
    gz.write_bytes(pb.gzipped(data))
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-7])
    assert cluster.plan_chunks(str(gz), 5) == (None, "gzip-compressed: a gzip stream cannot be split")
    assert cluster.plan_chunks(str(cut), 5)[0] is None
    notes = []
    for path in (str(gz), str(cut)):
        ref = analysis.analyze([path])
        got = cluster.analyze(client, [path], split_min_bytes=0, log=notes.append)
        assert as_json(got) == as_json(ref)
    assert any("gzip stream cannot be split" in n for n in notes)
    assert analysis.analyze([str(cut)]).captures[0].warnings  # the warning came through the one task


@needs_dask
def test_a_bad_file_among_good_ones(client, tmp_path):
    """A missing file and a non-capture are reported as without --dask; the others still come out."""
    junk = tmp_path / "notes.pcap"
    junk.write_text("not a capture\n")
    files = [str(ROOT / "captures" / "golden" / "syn.pcap"), str(tmp_path / "missing.pcap"), str(junk),
             str(ROOT / "captures" / "golden" / "udp.pcap")]
    ref = analysis.analyze(files)
    got = _cluster().analyze(client, files, chunk_records=5)
    assert as_json(got) == as_json(ref)
    assert len(got.errors) == 2 and len(got.scans) >= 2
    runner = CliRunner()
    a = runner.invoke(main, ["analyze", *files, "-f", "json"])
    b = runner.invoke(main, ["analyze", *files, "-f", "json", "--dask", client.scheduler.address])
    assert a.exit_code == b.exit_code == 2
    assert json.loads(a.stdout) == json.loads(b.stdout)
    with pytest.raises(Exception) as one:
        analysis.analyze(files[1])
    with pytest.raises(type(one.value)) as other:
        _cluster().analyze(client, files[1])
    assert str(one.value) == str(other.value)


@needs_dask
def test_grade_equal_with_and_without_dask(client, tmp_path):
    if not STUDENTS.is_dir():
        pytest.skip(f"{STUDENTS} is absent (CI has it beside the checkout)")
    runner = CliRunner()
    a = runner.invoke(main, ["grade", str(STUDENTS), "-o", str(tmp_path / "a"), "-f", "json"])
    b = runner.invoke(main, ["grade", str(STUDENTS), "-o", str(tmp_path / "b"), "-f", "json",
                             "--dask", client.scheduler.address])
    assert a.exit_code == b.exit_code
    assert json.loads(a.stdout) == json.loads(b.stdout)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_unreachable_scheduler_is_one_line_and_exit_2(monkeypatch):
    if not HAVE_DASK:
        pytest.skip("dask[distributed] is not installed")
    monkeypatch.setattr(_cluster(), "CONNECT_TIMEOUT", "1s")
    golden = str(ROOT / "captures" / "golden" / "syn.pcap")
    res = CliRunner().invoke(main, ["analyze", golden, "--dask", "tcp://127.0.0.1:9"])
    assert res.exit_code == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in res.output


# -- a worker dies mid-run: a retry, not the result (last: the cluster restarts a worker) -------------


def _synthetic_scan(path, scanners=12, ports=1500):
    """SYN scans from several scanners, each port answered by a RST/ACK or a SYN/ACK."""
    recs, ts = [], 1_700_000_000.0
    for s in range(scanners):
        scanner = f"198.18.{1 + s}.1"
        for port in range(1, ports + 1):
            seq = 1000 + port
            recs.append((ts, pb.ether(pb.ipv4_tcp(scanner, "198.18.0.2", 40000 + s, port, 0x02, seq=seq,
                                                  options=pb.MSS_1460))))
            flags = 0x12 if port % 97 == 0 else 0x14  # SYN/ACK or RST/ACK
            recs.append((ts + 0.0002, pb.ether(pb.ipv4_tcp("198.18.0.2", scanner, port, 40000 + s, flags,
                                                           seq=7, ack=seq + 1))))
            ts += 0.001
    return _write_pcap(path, recs)


@needs_dask
def test_a_worker_killed_mid_run_costs_a_retry_not_the_result(client, tmp_path):
    cluster = _cluster()
    path = _synthetic_scan(tmp_path / "many.pcap")
    ref = as_json(analysis.analyze([path]))
    pids = client.run(os.getpid)
    box = {}

    def run():
        try:
            box["result"] = cluster.analyze(client, [path], chunk_records=1500, partitions=2)
        except BaseException as exc:  # noqa: BLE001 - reported below
            box["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and worker.is_alive() and time.monotonic() < deadline:
        busy = [addr for addr, tasks in client.processing().items() if tasks and addr in pids]
        if busy:
            killed = pids[busy[0]]
            os.kill(killed, signal.SIGKILL)
            break
        time.sleep(0.02)
    worker.join(600)
    assert killed is not None, "no task was seen running on a worker"
    assert "error" not in box, box.get("error")
    assert as_json(box["result"]) == ref
    assert killed not in client.run(os.getpid).values()



@needs_dask
def test_a_capture_is_one_task_unless_a_split_is_asked_for(client, tmp_path, monkeypatch):
    """One worker's fast path beat a split wherever measured (docs/distributed.md): by
    default a capture is one task; --dask-split splits big ones, with the same JSON."""
    cluster = _cluster()
    golden = str(ROOT / "captures" / "golden" / "udp.pcap")
    notes = {"whole": [], "split": []}
    whole = cluster.analyze(client, [golden], chunk_bytes=600, log=notes["whole"].append)
    split = cluster.analyze(client, [golden], chunk_bytes=600, split_min_bytes=0, log=notes["split"].append)
    assert not any("split into" in n for n in notes["whole"])
    assert any("split into" in n for n in notes["split"])
    assert as_json(whole) == as_json(split) == as_json(analysis.analyze([golden]))

    seen = []
    real = cluster.analyze
    monkeypatch.setattr(cluster, "analyze", lambda *a, **kw: seen.append(kw["split_min_bytes"]) or real(*a, **kw))
    for extra in ([], ["--dask-split"]):
        res = CliRunner().invoke(main, ["analyze", golden, "-f", "json", "-o", str(tmp_path / "out.json"),
                                        "--dask", client.scheduler.address, *extra])
        assert res.exit_code == 0, res.output
    assert seen == [-1, cluster.SPLIT_MIN_BYTES]


def test_dask_split_without_dask_is_a_usage_error():
    res = CliRunner().invoke(main, ["analyze", str(ROOT / "captures" / "golden" / "syn.pcap"), "--dask-split"])
    assert res.exit_code == 2
    assert "give --dask too" in res.stderr
