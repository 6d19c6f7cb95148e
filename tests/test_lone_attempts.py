"""A client's lone attempts on one port are no scan (scans.client_conversation):
a browser's SYN refused or unanswered, a handshake cut at the capture's end,
a keep-alive's lone ACK. They were each listed as a one-port "connect scan"
(or "syn scan", "ack scan"); now they are other traffic, said so in one
line, and a scanner's own one-port scan (scapy's, nmap's) stays."""
from __future__ import annotations

import json

from click.testing import CliRunner

import pcapbuild as pb
from pcapscan.analysis import analyze
from pcapscan.cli import main
from pcapscan.fastpath import scans as fast_scans
from pcapscan.report import jsonfmt
from test_zh_output import english_left

SCANNER, TARGET = "198.18.0.1", "198.18.0.2"
CLIENT = "198.18.0.5"
# Linux connect()'s SYN: MSS, SACK permitted, timestamps, NOP, window scale 7
OS_SYN = bytes.fromhex("020405b40402080a0012d68700000000") + bytes.fromhex("01030307")


def _os_syn(dst, sport, dport, ip_id, seq=0x1234567):
    return pb.ipv4_tcp(CLIENT, dst, sport, dport, 0x02, seq=seq, window=64240, options=OS_SYN, ip_id=ip_id)


def _nmap_syn(dport):
    return pb.ipv4_tcp(SCANNER, TARGET, 40000, dport, 0x02, seq=1000, window=1024, ttl=44, options=pb.MSS_1460,
                       ip_id=7)


def _back(src, dst, sport, dport, flags, seq, ack, window=0):
    return pb.ipv4_tcp(src, dst, sport, dport, flags, seq=seq, ack=ack, window=window)


def capture(tmp_path, background=True):
    """nmap's SYN scan of three ports, scapy's SYN to one port (source port 20,
    window 8192, no options) and, with `background`, a client's lone attempts:
    a SYN refused (RST/ACK), a SYN unanswered and retried, a lone ACK to a
    third server, and a handshake whose rest is beyond the capture's end."""
    recs = [(1.0, _nmap_syn(22)), (1.001, _back(TARGET, SCANNER, 22, 40000, 0x12, 5000, 1001, 64240)),
            (1.002, pb.ipv4_tcp(SCANNER, TARGET, 40000, 22, 0x04, seq=1001, ttl=44)),
            (1.003, _nmap_syn(23)), (1.004, _back(TARGET, SCANNER, 23, 40000, 0x14, 0, 1001)),
            (1.005, _nmap_syn(24)), (1.006, _back(TARGET, SCANNER, 24, 40000, 0x14, 0, 1001)),
            (2.0, pb.ipv4_tcp(SCANNER, TARGET, 20, 80, 0x02, seq=0, window=8192, ip_id=1)),
            (2.001, _back(TARGET, SCANNER, 80, 20, 0x14, 0, 1))]
    if background:
        recs += [
            (3.0, _os_syn("198.18.7.1", 51000, 443, 100)),  # refused
            (3.001, _back("198.18.7.1", CLIENT, 443, 51000, 0x14, 0, 0x1234568)),
            (3.2, _os_syn("198.18.7.2", 51002, 443, 200)),  # unanswered, retried
            (4.2, _os_syn("198.18.7.2", 51002, 443, 201)),
            (4.5, pb.ipv4_tcp(CLIENT, "198.18.7.3", 51003, 5228, 0x10, seq=77, ack=99, window=2048, ip_id=300)),
            (5.0, _os_syn("198.18.7.4", 51004, 80, 400)),  # cut at the capture's end: SYN, SYN/ACK, ACK
            (5.001, _back("198.18.7.4", CLIENT, 80, 51004, 0x12, 9000, 0x1234568, 65160)),
            (5.002, pb.ipv4_tcp(CLIENT, "198.18.7.4", 51004, 80, 0x10, seq=0x1234568, ack=9001, window=502,
                                ip_id=401))]
    path = tmp_path / ("with-background.pcap" if background else "scans-only.pcap")
    path.write_bytes(pb.pcap_bytes([(ts, pb.ether(ip)) for ts, ip in sorted(recs, key=lambda r: r[0])]))
    return path


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _sessions(doc):
    return sorted((s["scanner"], s["target"], s["technique"], len(s["ports"])) for s in doc["scans"])


SCANS = [(SCANNER, TARGET, "syn", 1), (SCANNER, TARGET, "syn", 3)]


def test_a_clients_lone_attempts_are_other_traffic_not_one_port_scans(tmp_path):
    path = capture(tmp_path)
    r = run("analyze", path, "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert _sessions(doc) == SCANS  # nmap's three ports and scapy's one, not the client's four
    # probes and answers counted (scans.scan_packets), as for a client's datagrams: not the cut handshake's ACK
    assert doc["captures"][0]["other"] == {"connections": 4, "packets": 7, "attempts": 4}
    table = run("analyze", path)
    assert table.exit_code == 0 and table.stderr == ""
    assert f"{CLIENT} ->" not in table.stdout
    assert ("other traffic: 7 packets in 4 connection(s): established connections, data, a client's own "
            "datagrams; not scan probes; 4 of them lone attempt(s) on one port, by no scanner "
            "(`-t NAME` reads them as scans)") in table.stdout
    zh = run("analyze", path, "--lang", "zh").stdout
    assert "其中 4 个是对单个端口的零星连接尝试" in zh and english_left(zh) == set()


def test_without_lone_attempts_the_other_traffic_line_is_unchanged(tmp_path):
    path = capture(tmp_path, background=False)
    r = run("analyze", path)
    assert r.exit_code == 0 and "other traffic" not in r.stdout
    assert _sessions(json.loads(run("analyze", path, "--format", "json").stdout)) == SCANS


def test_naming_a_tcp_technique_reads_the_lone_attempts_as_scans(tmp_path):
    """-t connect: a student's connect() scanner of one port is read after all."""
    path = capture(tmp_path)
    doc = json.loads(run("analyze", path, "-t", "connect", "--format", "json").stdout)
    assert [s for s in _sessions(doc) if s[0] == CLIENT] == [
        (CLIENT, "198.18.7.1", "connect", 1), (CLIENT, "198.18.7.2", "connect", 1),
        (CLIENT, "198.18.7.3", "connect", 1), (CLIENT, "198.18.7.4", "connect", 1)]
    assert "other" not in doc["captures"][0] or doc["captures"][0]["other"]["connections"] == 0
    assert "lone attempt" not in run("analyze", path, "-t", "connect").stdout


def test_verify_with_a_connect_claim_checks_a_one_port_connect(tmp_path):
    """A claim names the technique without forcing it: the lone attempt is then a session to check."""
    path = capture(tmp_path)
    plain = json.loads(run("verify", path, "--format", "json").stdout)
    claimed = json.loads(run("verify", path, "--claim", "connect:closed", "--format", "json").stdout)
    targets = lambda doc: {s["target"] for s in doc["analysis"]["scans"]}  # noqa: E731
    assert "198.18.7.1" not in targets(plain)
    assert "198.18.7.1" in targets(claimed)


def test_the_fast_path_sets_the_same_attempts_aside(tmp_path):
    path = capture(tmp_path)
    slow = analyze(path)
    fast = analyze(path, fast=True)
    assert jsonfmt.render(fast) == jsonfmt.render(slow)
    assert fast.captures[0].other_attempts == slow.captures[0].other_attempts == 4
    # the fast path did read it (no fallback to the ordinary one)
    _summary, found, _more = fast_scans.analyze_capture_fast(path)
    assert len(found) == 6


def test_a_capture_of_lone_attempts_only_says_so_in_verify_and_compare(tmp_path):
    """Nothing but a browser's refused SYN: verify's no-probe warning names the
    client's traffic (not a recorder on the wrong interface) and how to read it
    as probes; compare's error says why no session is there."""
    path = tmp_path / "browser.pcap"
    recs = [(3.0, _os_syn("198.18.7.1", 51000, 443, 100)),
            (3.001, _back("198.18.7.1", CLIENT, 443, 51000, 0x14, 0, 0x1234568))]
    path.write_bytes(pb.pcap_bytes([(ts, pb.ether(ip)) for ts, ip in recs]))
    r = run("verify", path)
    assert r.exit_code == 0
    words = " ".join(r.stdout.split())
    assert "WARNING no-probe" in words
    assert "2 packets and only ordinary traffic (1 connection(s), 1 of them lone attempts on one port" in words
    assert "`--claim connect`" in words and "another interface" not in words
    zh = run("verify", "--lang", "zh", path).stdout
    assert "只有普通流量" in zh and english_left(zh) == set()
    claimed = run("verify", path, "--claim", "connect:closed")
    assert claimed.exit_code == 0 and "no findings" in claimed.stdout and "conn-refused" in claimed.stdout
    c = run("compare", path)
    assert c.exit_code == 2 and c.stdout == ""
    assert c.stderr == (f"pcapscan: {path}: no scan sessions found (only a client's own traffic: 1 lone attempt(s) "
                        "or datagram exchange(s) that no scanner sent)\n")


def test_grade_reads_a_students_one_port_connect_by_its_file_name(tmp_path):
    """A student whose connect scan is the OS's connect() to one port: the file
    name claims connect, so the attempt is the student's scan and is graded,
    not set aside as a client's traffic."""
    student = tmp_path / "class" / "alice"
    student.mkdir(parents=True)
    recs = [(3.0, pb.ipv4_tcp(SCANNER, TARGET, 51000, 80, 0x02, seq=0x1234567, window=64240, options=OS_SYN,
                              ip_id=100)),
            (3.001, _back(TARGET, SCANNER, 80, 51000, 0x14, 0, 0x1234568))]
    (student / "connect_closed.pcap").write_bytes(pb.pcap_bytes([(ts, pb.ether(ip)) for ts, ip in recs]))
    r = run("grade", tmp_path / "class", "-o", tmp_path / "out", "-f", "json")
    (alice,) = json.loads(r.stdout)["students"]
    (cell,) = [c for c in alice["cells"] if (c["technique"], c["state"]) == ("connect", "closed")]
    assert (cell["verdict"], cell["observed_technique"], cell["port"]) == ("ok", "connect", "80/tcp")
    # the same packets named for nothing are a client's attempt: analyze lists no scan
    assert "lone attempt(s)" in run("analyze", student / "connect_closed.pcap").stdout


def test_the_names_of_no_scanner_are_the_fingerprints_own():
    from pcapscan.fingerprint import NOT_SCANNERS, TOOL_NAMES, ToolGuess

    assert set(NOT_SCANNERS) < set(TOOL_NAMES)
    assert [ToolGuess(n, 1.0).is_scanner for n in ("scapy", "nmap", "os-connect", "unknown")] == [True, True, False, False]
