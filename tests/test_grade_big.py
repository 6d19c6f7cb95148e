"""grade on big captures: a capture the fast path takes is read through it,
its sessions read off the fast path's columns (submissions._read_shaped)
or, where those may not stand for every exchange, made whole a group of
sessions at a time (submissions.GROUP_PORTS, fastpath.subset), and only
the ports grade can choose kept: the same gradebook as the ordinary path,
which reads every packet into memory."""
from pathlib import Path

import pytest

from pcapbuild import ether, ipv4_tcp, pcap_bytes
from test_fastpath import CASES, S, T, big_scan

from pcapscan import fastpath, submissions
from pcapscan import verify as verify_mod
from pcapscan.fastpath import subset
from pcapscan.grade import grade
from pcapscan.model import Technique
from pcapscan.report.grade_report import render_json

STUDENTS = Path(__file__).resolve().parents[1].parent / "shared" / "captures" / "students"
S2 = "198.18.0.7"  # a second scanner: its sessions another pair, so another group when groups are small


def both(monkeypatch, root, group_ports, shaped=False):
    """(ordinary gradebook, big-capture gradebook, the groups of (scanner, target) pairs made whole);
    `shaped`: read off the fast path's columns where they stand for every exchange (both.shaped: the
    captures read so), else every big capture made whole group by group."""
    ordinary = grade(root, jobs=1)
    monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)  # every capture big
    monkeypatch.setattr(submissions, "GROUP_PORTS", group_ports)
    both.shaped = []
    real_shaped = submissions._read_shaped

    def read_shaped(path, *a):
        got = real_shaped(path, *a) if shaped else None
        if got is not None:
            both.shaped.append(Path(path).name)
        return got

    monkeypatch.setattr(submissions, "_read_shaped", read_shaped)
    groups = []
    real = subset.Between.between

    def spy(self, pairs):
        groups.append(sorted(pairs))
        return real(self, pairs)

    monkeypatch.setattr(subset.Between, "between", spy)
    checked = []  # (capture, how verify checked its bulk ports, the claims of each reading)
    real_each, real_whole = verify_mod.verify_each, subset.whole_sessions

    def each(path, claim_sets, *a, **k):
        checked.append((Path(path).name, [], [tuple(str(c) for c in cs) for cs in claim_sets]))
        return real_each(path, claim_sets, *a, **k)

    def whole(*a, **k):
        if checked:
            checked[-1][1].append("whole")
        return real_whole(*a, **k)

    monkeypatch.setattr(verify_mod, "verify_each", each)
    monkeypatch.setattr(subset, "whole_sessions", whole)
    fast = grade(root, jobs=1)
    monkeypatch.undo()
    both.checked = checked
    return ordinary, fast, groups


def second_scanner(ports, t0=0.5, sport=41000):
    """A SYN scan of `ports` from S2 (RST/ACK from every port)."""
    from pcapbuild import MSS_1460

    recs = []
    for i, port in enumerate(ports):
        t = t0 + i * 0.002
        recs.append((t, ether(ipv4_tcp(S2, T, sport, port, 0x02, seq=1000, window=1024, ttl=44, options=MSS_1460))))
        recs.append((t + 0.001, ether(ipv4_tcp(T, S2, port, sport, 0x14, seq=0, ack=1001))))
    return recs


def crafted_class(root: Path) -> Path:
    """Two students: SYN scans of 600 ports (two scanners), nmap's scan beside a
    scapy one, and the fast path's crafted cases (retries, ICMP errors, UDP,
    duplicates, strays, ordinary traffic, VLAN and IPv6, DHCP and NTP)."""
    files = {
        "ann/syn_open.pcap": big_scan(ports=range(1, 600), open_ports=(22, 80, 443)) + CASES["icmp-unreachable"]()[-4:],
        "ann/syn_closed.pcap": CASES["same-scan-again"](),
        "ann/connect_filtered.pcap": CASES["retry-other-sport"](),
        "ann/two-tools.pcap": CASES["two-tools-one-target"](),
        "ann/udp_open.pcap": CASES["udp"](),
        "bob/steal/open.pcap": [],
        "bob/unlabelled.pcap": CASES["duplicates"]() + CASES["stray"]()[-2:],
        "bob/syn_filtered.pcap": CASES["ordinary-traffic"]() + CASES["vlan-and-v6"]()[-4:],
        "bob/xmas_closed.pcap": CASES["dhcp-and-ntp"](),
    }
    scans = big_scan(ports=range(1, 300), open_ports=(80,))
    files["bob/steal/open.pcap"] = sorted(scans + second_scanner(range(1, 300)) + [
        (20.0, ether(ipv4_tcp(S, T, 20, 80, 0x02, seq=0, window=8192, ip_id=1))),
        (20.001, ether(ipv4_tcp(T, S, 80, 20, 0x12, seq=5, ack=1, window=64240)))], key=lambda r: r[0])
    for rel, recs in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pcap_bytes(recs))
    return root


@pytest.mark.parametrize("group_ports,shaped", [(1, False), (250_000, False), (1, True)],
                         ids=["a-group-per-pair", "one-group", "shaped"])
def test_crafted_big_captures_grade_the_same(monkeypatch, tmp_path, group_ports, shaped):
    root = crafted_class(tmp_path / "class")
    ordinary, fast, groups = both(monkeypatch, root, group_ports, shaped)
    assert groups, "no capture took the big path"
    if shaped:  # the big scans off the columns; what the fast path routes apart (DHCP and NTP...) group by group
        assert {"syn_open.pcap", "open.pcap"} <= set(both.shaped), both.shaped
        assert len(both.shaped) < 9
    elif group_ports == 1:  # the two scanners of bob/steal/open.pcap made whole apart
        assert [(S, T)] in groups and [(S2, T)] in groups
    assert render_json(fast) == render_json(ordinary)
    assert fast == ordinary
    assert {f.rule for s in fast.students for c in s.cells for f in c.findings} >= {"reset-flags", "handshake-incomplete"}
    # one verify reading per big capture for every technique, its bulk ports checked by shape under each
    # claim: a claimed reading that judged otherwise than the ordinary path would change the gradebook
    by_file = {name: (how, sets) for name, how, sets in both.checked}
    assert len(by_file) == len(both.checked)
    how, sets = by_file["syn_open.pcap"]
    assert how == [] and sets == [(), ("connect",), ("syn",)]  # () for the ladders
    assert by_file["connect_filtered.pcap"][0] == []


@pytest.mark.parametrize("shaped", [False, True], ids=["groups", "shaped"])
def test_real_students_grade_the_same_through_the_big_path(monkeypatch, shaped):
    if not STUDENTS.is_dir():
        pytest.skip(f"{STUDENTS} is absent (the shared captures live beside the checkout)")
    ordinary, fast, groups = both(monkeypatch, STUDENTS, 1, shaped)
    if shaped:
        assert len(both.shaped) > 10
    else:
        assert len(groups) > 10
    assert fast == ordinary


def test_a_big_capture_keeps_only_the_ports_grade_can_choose(monkeypatch, tmp_path):
    """600 ports of one scan: the ordinary reading keeps each port, the big one
    the first of each kind grade chooses from (closed, open: one each here)."""
    path = tmp_path / "syn.pcap"
    path.write_bytes(pcap_bytes(big_scan(ports=range(1, 601), open_ports=(22, 80, 443))))
    task = (str(path), ("syn",), (), "en")
    ordinary = submissions.read_submission(task).reading(Technique.SYN)
    monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)
    big = submissions.read_submission(task)
    reading = big.reading(Technique.SYN)
    assert len(ordinary.ports) == 600
    assert [(p.port, p.state.value) for p in reading.ports] == [(1, "closed"), (22, "open")]
    assert len(big.showings) == 600  # what the capture shows stays whole
    assert reading.findings == ordinary.findings


def test_the_class_pages_are_the_same_and_big_captures_are_not_read_again_for_ladders(monkeypatch, tmp_path):
    """pcapscan grade writes the same gradebook, feedback and HTML pages (ladders
    included) either way; a big capture's ladders come from grade's own verify
    reading (Gradebook.ladders), not from a verify of it again."""
    from click.testing import CliRunner

    from pcapscan.cli import main

    root = crafted_class(tmp_path / "class")

    def run(out):
        result = CliRunner().invoke(main, ["grade", str(root), "-o", str(out), "-j", "1"])
        assert result.exit_code in (0, 1), result.output
        return {p.name: p.read_bytes() for p in sorted(out.iterdir())}

    ordinary = run(tmp_path / "ordinary")
    monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)
    again = []
    real_verify = verify_mod.verify
    monkeypatch.setattr(verify_mod, "verify", lambda path, *a, **k: again.append(Path(path).name) or
                        real_verify(path, *a, **k))
    big = run(tmp_path / "big")
    monkeypatch.undo()
    assert set(big) == set(ordinary) and "index.html" in big
    for name in ordinary:
        assert big[name] == ordinary[name], name
    assert b"<svg" in big["ann.html"] and b"<svg" in big["bob.html"]
    assert "syn_open.pcap" not in again and "open.pcap" not in again


def test_a_reading_of_whole_sessions_is_build_scans_reading(monkeypatch, tmp_path):
    """submissions._as_inferred (a technique's reading of whole inferred
    sessions, not grouped again) gives what build_scans' forced technique
    gives, on the crafted class and the real students: the same sessions,
    ports, verdicts and tools; sessions of another technique reclassified."""
    from pcapscan.analysis import build_scans

    real = submissions._as_inferred
    seen = {"same": 0, "reclassified": 0}

    def held(inferred, fitting, tech):
        got = real(inferred, fitting, tech)
        if got is not None:
            want = build_scans("x", fitting, tech)
            assert [(s.scanner, s.target, s.technique, s.tool, s.first_ts, s.last_ts, s.probe_flags, s.ports)
                    for s in got] == [(s.scanner, s.target, s.technique, s.tool, s.first_ts, s.last_ts,
                                       s.probe_flags, s.ports) for s in want]
            for s in got:
                seen["same" if any(s is x for x in inferred) else "reclassified"] += 1
        return got

    monkeypatch.setattr(submissions, "_as_inferred", held)
    grade(crafted_class(tmp_path / "class"), jobs=1)
    if STUDENTS.is_dir():
        grade(STUDENTS, jobs=1)
    assert seen["same"] >= 10 and seen["reclassified"] >= 10
