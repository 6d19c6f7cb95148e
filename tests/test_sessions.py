"""Scan sessions (pcapscan/sessions.py): one tool's run against one target.

The split on tiny columns, then the lab captures made the course's way
(captures/mixed, scripts/make_mixed_captures.py): the seeds' scapy scan and
then nmap's scan of the same ports in one capture, and nmap -sS, -sF, -sU in
a row with a client's own traffic between. nmap's session must equal nmap's
own -oX of that run, port for port; the scapy session must read as the
textbook (nmap's golden scan of the same lab plan) says."""
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from test_golden import nmap_ports
from pcapscan.analysis import analyze
from pcapscan.cli import main
from pcapscan.sessions import NEVER_HEARD, PACE_FACTOR, RUN_GAP, split_runs

ROOT = Path(__file__).resolve().parents[1]
MIXED = ROOT / "captures" / "mixed"
GOLDEN = ROOT / "captures" / "golden"
SCAPY_WINDOW, NMAP_WINDOW = 8192, 1024


# -- the split, on columns ----------------------------------------------------------------------

def runs(rows):
    """rows: (pair, window, options, ttl, ts) of probes of one kind, each to its own port, never answered."""
    cols = list(zip(*rows))
    n = len(rows)
    return split_runs(cols[0], [2] * n, cols[1], cols[2], cols[3], cols[4], range(n), range(1, n + 1),
                      [NEVER_HEARD] * n).tolist()


def test_a_new_signature_after_the_last_probe_is_a_new_run():
    scapy = [(0, SCAPY_WINDOW, 0, 64, t) for t in (0.0, 10.0, 20.0)]
    nmap = [(0, NMAP_WINDOW, 1, ttl, t) for ttl, t in ((44, 22.0), (51, 22.001), (37, 23.1))]
    assert runs(scapy + nmap) == [0, 0, 0, 1, 1, 1]


def test_nmaps_random_ttl_is_one_band_and_another_pair_its_own_count():
    rows = [(0, NMAP_WINDOW, 1, ttl, t / 100) for t, ttl in enumerate(range(37, 60))] + [(1, NMAP_WINDOW, 1, 50, 0.5)]
    assert runs(rows) == [0] * 23 + [0]


def test_a_long_silence_starts_the_same_scan_again():
    rows = [(0, SCAPY_WINDOW, 0, 64, 0.0), (0, SCAPY_WINDOW, 0, 64, 1.0),
            (0, SCAPY_WINDOW, 0, 64, 2 * RUN_GAP + 5)]
    assert runs(rows) == [0, 0, 1]


def test_a_scan_paced_slower_than_the_gap_is_one_run():
    """nmap -T0 waits five minutes between probes: its own rhythm, not a scan started
    again each time; a pause PACE_FACTOR times longer than that rhythm is one."""
    pace = 300.0
    slow = [(0, NMAP_WINDOW, 1, 50, i * pace) for i in range(5)]
    assert runs(slow) == [0] * 5
    again = slow + [(0, NMAP_WINDOW, 1, 50, 4 * pace + (PACE_FACTOR + 1) * pace + i * pace) for i in range(3)]
    assert runs(again) == [0] * 5 + [1] * 3
    # a pause only a little longer than the rhythm around it is still the rhythm
    assert runs([(0, SCAPY_WINDOW, 0, 64, t) for t in (0.0, 40.0, 80.0, 130.0, 170.0)]) == [0] * 5
    # but one port probed again and again, 40 s apart (each nmap run's discovery SYN to 443), keeps none
    n = 4
    lone = split_runs([0] * n, [2] * n, [NMAP_WINDOW] * n, [1] * n, [50] * n, [40.0 * i for i in range(n)],
                      [443] * n, range(n), [NEVER_HEARD] * n).tolist()
    assert lone == [0, 1, 2, 3]


def attempts(rows):
    """rows: (port, heard: the frame the target answered in, or None) of one tool's
    attempts, a tenth of a second apart; each attempt's probe is frame 10 * its index."""
    n = len(rows)
    heard = [NEVER_HEARD if h is None else h for _port, h in rows]
    return split_runs([0] * n, [2] * n, [NMAP_WINDOW] * n, [1] * n, [50] * n, [i / 10 for i in range(n)],
                      [port for port, _h in rows], [10 * i for i in range(n)], heard).tolist()


def test_the_same_ports_probed_again_after_their_answers_are_a_new_run():
    """nmap run twice a few seconds apart: nmap never probes again a port that
    answered, so two ports in a row probed again after their answers start a run."""
    first = [(80, 1), (81, 11), (82, None), (83, 31)]
    assert attempts(first + [(80, 41), (81, 51), (82, None), (83, None)]) == [0] * 4 + [1] * 4
    # a third time: a third run
    assert attempts(first + first + first)[::4] == [0, 1, 2]


def test_probing_one_answered_port_again_starts_nothing():
    # nmap's discovery SYN to 443 answered, then the scan probes 443 among the others
    assert attempts([(443, 1), (22, 11), (443, 21), (80, 31), (8080, 41)]) == [0] * 5
    # hping3 at a steady rate on one port, every probe answered
    assert attempts([(80, 10 * i + 1) for i in range(6)]) == [0] * 6


def test_retries_of_silent_ports_and_late_answers_stay_in_the_run():
    # 82 and 83 unanswered, retried: nmap's retransmissions
    assert attempts([(80, 1), (81, 11), (82, None), (83, None), (82, None), (83, None)]) == [0] * 6
    # answers that came after the retries were sent (frames 45 and 46): not probed again after an answer
    assert attempts([(80, 45), (81, 46), (80, None), (81, None)]) == [0] * 4


def test_interleaved_signatures_are_one_run():
    """A tool that varies a field per probe (older nmap: one of four windows) is still one run."""
    rows = [(0, w, 1, 50, i * 0.01) for i, w in enumerate([1024, 2048, 3072, 4096] * 5)]
    assert set(runs(rows)) == {0}


def test_runs_are_numbered_by_first_probe_whatever_the_row_order():
    rows = [(0, NMAP_WINDOW, 1, 50, 40.0), (0, SCAPY_WINDOW, 0, 64, 1.0), (0, NMAP_WINDOW, 1, 50, 40.5)]
    assert runs(rows) == [1, 0, 1]


# -- the course's lab: scapy, then nmap, in one capture --------------------------------------------

MIXED_CASES = {  # capture -> (the scapy session's technique, nmap's technique, golden textbook capture)
    "mixed-syn": ("syn", "syn", "syn"),
    "mixed-connect": ("syn", "connect", "syn"),  # the seed's "connect" never completes the handshake
    "mixed-xmas": ("xmas", "xmas", "xmas"),
    "mixed-fin": ("fin", "fin", "fin"),
    "mixed-null": ("null", "null", "null"),
    "mixed-udp": ("udp", "udp", "udp"),
}


def verdicts(scan):
    return {(p.proto, p.port): (p.state.value, p.verdict.reason.value, p.verdict.reason_ttl) for p in scan.ports}


@pytest.mark.parametrize("name", sorted(MIXED_CASES))
def test_scapy_then_nmap_are_two_sessions_each_read_right(name):
    scapy_tech, nmap_tech, textbook = MIXED_CASES[name]
    result = analyze(MIXED / f"{name}.pcap")
    assert [s.technique.value for s in result.scans] == [scapy_tech, nmap_tech]
    scapy, nmap = result.scans
    assert scapy.tool.name == "scapy"
    assert nmap.tool.name == ("os-connect" if nmap_tech == "connect" else "nmap")  # -sT is the OS's connect()
    assert verdicts(nmap) == nmap_ports(MIXED / f"{name}.1.xml")
    # the scapy probes read as the textbook says: nmap's golden scan of the same lab plan
    assert {k: v[:2] for k, v in verdicts(scapy).items()} == \
        {k: v[:2] for k, v in nmap_ports(GOLDEN / f"{textbook}.xml").items()}
    # no port of one session holds a frame of the other
    last_scapy = max(f for p in scapy.ports for f in p.verdict.probe_frames + p.verdict.response_frames)
    first_nmap = min(f for p in nmap.ports for f in p.verdict.probe_frames)
    assert last_scapy < first_nmap
    assert not result.probings  # nmap -sT's connect() is a connect scan, not version detection


def test_nmap_runs_in_a_row_with_a_clients_traffic_between():
    result = analyze(MIXED / "nmap-series.pcap")
    assert [s.technique.value for s in result.scans] == ["syn", "fin", "udp"]
    for n, scan in enumerate(result.scans, 1):
        assert scan.tool.name == "nmap"
        assert verdicts(scan) == nmap_ports(MIXED / f"nmap-series.{n}.xml")
    assert not result.probings  # the client's HTTP request to the port nmap scanned is not -sV
    c = result.captures[0]
    assert c.other_connections == 3 and c.other_packets > 10  # two HTTP connections, one UDP question


@pytest.mark.parametrize("fast", [False, True])
def test_the_fast_path_splits_the_same_sessions(fast):
    for path in sorted(MIXED.glob("*.pcap")):
        result = analyze(path, fast=fast)
        assert len(result.scans) >= 2, path


# -- the commands on a mixed capture ---------------------------------------------------------------

def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_analyze_lists_each_run_and_the_other_traffic():
    r = run("analyze", MIXED / "nmap-series.pcap")
    assert r.exit_code == 0, r.output
    assert r.stdout.count("198.18.0.1 -> 198.18.0.2:") == 3
    assert "other traffic: " in r.stdout and "in 3 connection(s)" in r.stdout
    doc = json.loads(run("analyze", MIXED / "nmap-series.pcap", "--format", "json").stdout)
    assert doc["captures"][0]["other"]["connections"] == 3


def test_verify_reports_per_session():
    r = run("verify", MIXED / "mixed-xmas.pcap", "--claim", "xmas:open:80", "--format", "json")
    findings = [f for f in json.loads(r.stdout)["findings"] if f["rule"] == "state-overclaim"]
    assert sorted((f["session"], f["tool"]) for f in findings) == [(1, "scapy"), (2, "nmap")]
    table = run("verify", MIXED / "mixed-xmas.pcap", "--claim", "xmas:open:80").stdout
    assert "session 1 (scapy)" in table and "session 2 (nmap)" in table


def test_compare_one_capture_puts_the_students_scan_beside_nmaps():
    r = run("compare", MIXED / "mixed-udp.pcap", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert (doc["a"]["tool"]["name"], doc["b"]["tool"]["name"]) == ("scapy", "nmap")


def test_grade_grades_the_students_scanner_and_shows_nmap_as_reference(tmp_path):
    alice = tmp_path / "class" / "alice"
    alice.mkdir(parents=True)
    shutil.copy(MIXED / "mixed-connect.pcap", alice / "connect_open.pcap")
    shutil.copy(MIXED / "mixed-xmas.pcap", alice / "xmas_closed.pcap")
    r = run("grade", tmp_path / "class", "-o", tmp_path / "out", "--format", "json")
    doc = json.loads(r.stdout)
    cells = {(c["technique"], c["state"]): c for c in doc["students"][0]["cells"]}
    # the scapy "connect" never completed the handshake: nmap's -sT in the same file earns it nothing
    assert cells[("connect", "open")]["verdict"] == "mismatch"
    feedback = (tmp_path / "out" / "alice.md").read_text()
    assert "reference: nmap in the same capture saw 81/tcp closed" in feedback


def test_a_named_udp_technique_makes_a_sockets_datagrams_probes(tmp_path):
    """A student's UDP scan written with socket.sendto, answered by the service: other
    traffic by default, read as probes once `-t udp` or a UDP claim names the technique."""
    import pcapbuild as pb

    query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x00\x00\x01\x00\x01"
    path = tmp_path / "udp_open.pcap"
    path.write_bytes(pb.pcap_bytes([pb.ether(pb.ipv4_udp("198.18.0.1", "198.18.0.2", 51234, 53, query, ip_id=4321)),
                                    pb.ether(pb.ipv4_udp("198.18.0.2", "198.18.0.1", 53, 51234, query, ip_id=99))]))
    assert "no scan probes found" in run("analyze", path).stdout
    assert "53/udp  open" in run("analyze", path, "-t", "udp").stdout
    checked = json.loads(run("verify", path, "--claim", "udp:open", "--format", "json").stdout)
    assert checked["verdict"] == "conforms"
    assert [s["technique"] for s in checked["analysis"]["scans"]] == ["udp"]
    named = json.loads(run("verify", path, "--claims-from-names", "--format", "json").stdout)
    assert named["verdict"] == "conforms" and named["analysis"]["scans"]


def test_run_spans_one_integer_key_and_the_wide_fallback_agree():
    from pcapscan.sessions import run_spans

    rows = [(5, 2, 0, 1.0, 80), (5, 2, 0, 3.0, 81), (5, 2, 0, 2.0, 80), (5, 2, 1, 50.0, 80), (7, 256, 0, 9.0, 53)]
    narrow = run_spans(*zip(*rows))
    assert narrow == {(5, 2, 0): (1.0, 3.0, 2), (5, 2, 1): (50.0, 50.0, 1), (7, 256, 0): (9.0, 9.0, 1)}
    wide = run_spans(*zip(*[(p, k, r + (1 << 16), t, port) for p, k, r, t, port in rows]))
    assert {(p, k, r - (1 << 16)): v for (p, k, r), v in wide.items()} == narrow


def test_run_spans_ports_counted_alike_for_few_runs_and_many():
    """run_spans counts each run's distinct ports in a table when the runs are few and
    by sorting when they are many: both are the count of a set, per run."""
    import numpy as np

    from pcapscan.sessions import run_spans

    rng = np.random.default_rng(3)
    for runs, n in ((3, 2000), (400, 3000)):  # 400 runs: past the table's size, sorted
        pair, run = rng.integers(0, 5, n), rng.integers(0, runs, n)
        kind, ts, port = np.full(n, 2), rng.random(n) * 100, rng.integers(0, 65536, n) % rng.integers(1, 300, n)
        got = run_spans(pair, kind, run, ts, port)
        want: dict = {}
        for p, r, t, pt in zip(pair.tolist(), run.tolist(), ts.tolist(), port.tolist()):
            first, last, ports = want.get((p, 2, r), (t, t, set()))
            want[(p, 2, r)] = (min(first, t), max(last, t), ports | {pt})
        assert got == {k: (f, la, len(ps)) for k, (f, la, ps) in want.items()}


def test_segment_ids_are_the_running_count_of_starts():
    import numpy as np

    from pcapscan.sessions import segment_ids

    rng = np.random.default_rng(11)
    for n, p in ((1, 0.5), (7, 0.5), (5000, 0.001), (5000, 0.9)):
        new = rng.random(n) < p
        new[0] = True
        got = segment_ids(new)
        assert got.dtype == np.int64 and (got == np.cumsum(new) - 1).all()


def test_run_spans_whatever_the_row_order():
    """Rows in key order (a block of one session's run: taken as they stand) or shuffled: the same spans,
    in the same key order."""
    import numpy as np

    from pcapscan.sessions import run_spans

    rng = np.random.default_rng(12)
    n = 3000
    pair, run = np.sort(rng.integers(0, 3, n)), np.zeros(n, np.int64)
    run[n // 2:] = 1
    kind, ts, port = np.full(n, 2), rng.random(n) * 100, rng.integers(0, 65536, n)
    in_order = run_spans(pair, kind, run, ts, port)
    shuffled = rng.permutation(n)
    again = run_spans(pair[shuffled], kind[shuffled], run[shuffled], ts[shuffled], port[shuffled])
    assert list(in_order.items()) == list(again.items())
    assert len(in_order) == len(set(zip(pair.tolist(), run.tolist()))) == 4


def test_the_same_ports_probed_again_whatever_the_row_order():
    """Rule 3 reads each attempt's frame and answer where the sorted rows came from: rows given
    in any order get the runs of their own."""
    import numpy as np

    rows = [(80, 1), (81, 11), (82, None), (83, 31)] * 3 + [(90 + i, None) for i in range(5)]
    n = len(rows)
    cols = [np.zeros(n, np.int64), np.full(n, 2), np.full(n, NMAP_WINDOW), np.ones(n, np.int64), np.full(n, 50),
            np.arange(n) / 10, np.array([port for port, _h in rows]), 10 * np.arange(n),
            np.array([NEVER_HEARD if h is None else h + 40 * (i // 4) for i, (_p, h) in enumerate(rows)])]
    want = split_runs(*cols)
    assert want.tolist() == [0] * 4 + [1] * 4 + [2] * 9
    rng = np.random.default_rng(13)
    for _ in range(20):
        shuffled = rng.permutation(n)
        assert (split_runs(*[c[shuffled] for c in cols]) == want[shuffled]).all()


# -- the rules on whole captures, both paths ---------------------------------------------------------

SCANNER, TARGET = "198.18.0.1", "198.18.0.2"


def _nmap_syn_run(t0, sport, seq, answers):
    """nmap-like SYN probes (window 1024, MSS, TTL 37-59 band) to the ports of
    `answers` (port -> "SA", "R" or None), each answered a millisecond later."""
    from pcapbuild import MSS_1460, ether, ipv4_tcp

    out = []
    for i, (port, answer) in enumerate(answers.items()):
        t = t0 + i * 0.01
        out.append((t, ether(ipv4_tcp(SCANNER, TARGET, sport, port, 0x02, seq=seq, window=1024, ttl=44,
                                      options=MSS_1460))))
        if answer:
            flags = {"SA": 0x12, "R": 0x14}[answer]
            out.append((t + 0.001, ether(ipv4_tcp(TARGET, SCANNER, port, sport, flags, seq=7, ack=seq + 1,
                                                  window=0 if answer == "R" else 64240))))
    return out


def _capture(tmp_path, records):
    from pcapbuild import pcap_bytes

    path = tmp_path / "runs.pcap"
    path.write_bytes(pcap_bytes(records))
    return path


@pytest.mark.parametrize("fast", [False, True])
def test_nmap_run_twice_seconds_apart_is_two_sessions(tmp_path, fast):
    """The second run finds port 80 silent (a firewall rule added between the two):
    one session would have read it open from the first run's SYN/ACK."""
    ports = {80: "SA", 81: "R", 82: None, 83: "R"}
    second = {**ports, 80: None}
    path = _capture(tmp_path, _nmap_syn_run(0.0, 33846, 1000, ports) + _nmap_syn_run(5.0, 34846, 2000, second))
    result = analyze(path, fast=fast)
    assert [len(s.ports) for s in result.scans] == [4, 4]
    assert [verdicts(s)[("tcp", 80)][:2] for s in result.scans] == [("open", "syn-ack"), ("filtered", "no-response")]


@pytest.mark.parametrize("fast", [False, True])
def test_a_scan_paced_five_minutes_a_probe_is_one_session(tmp_path, fast):
    records = []
    for i, port in enumerate((21, 22, 23, 25, 80)):
        records += _nmap_syn_run(300.0 * i, 40000, 1000, {port: "R"})
    result = analyze(_capture(tmp_path, records), fast=fast)
    assert [len(s.ports) for s in result.scans] == [5]


@pytest.mark.parametrize("fast", [False, True])
def test_a_named_technique_keeps_each_session_apart(fast):
    """analyze -t fin on nmap's -sS then -sF: both read as FIN scans, still two
    sessions (a port's verdict never mixes the SYN run's probes with the FIN run's)."""
    from pcapscan.model import Technique

    result = analyze(MIXED / "nmap-series.pcap", technique=Technique.FIN, fast=fast)
    tcp = [s for s in result.scans if s.ports[0].proto == "tcp"]
    assert [s.technique.value for s in tcp] == ["fin", "fin"]
    for scan in tcp:
        flags = {p.flags for port in scan.ports for p in port.exchange.probes}
        assert len(flags) == 1  # one probe kind per session
