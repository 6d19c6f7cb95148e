"""`pcapscan compare`: the differences a teacher points out between lab
scans of the same target (nmap's raw SYN against scapy's defaults, kernel
RSTs, nmap's retries and UDP payloads, connect scans that do and do not
complete the handshake), every state disagreement named and explained, and
the CLI's outputs, plot and exit codes."""
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from pcapscan.cli import main
from pcapscan.compare import CONSISTENT, DISAGREE, FIELDS, SAME, PortSide, compare, explain, state_relation
from pcapscan.errors import InputError, UsageError
from pcapscan.report.compare_report import render, svg

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "captures" / "tools"
GOLDEN = ROOT / "captures" / "golden"


def t(name):
    return str(TOOLS / name)


def g(name):
    return str(GOLDEN / name)


def field(c, name):
    row = next(f for f in c.fields if f.name == name)
    return row.a, row.b


def run(*args):
    return CliRunner().invoke(main, ["compare", *args])


def test_nmap_raw_syn_against_scapy_defaults():
    c = compare(t("nmap-syn.pcap"), t("scapy-syn.pcap"))
    assert (c.a.tool, c.b.tool) == ("nmap", "scapy")
    assert field(c, "window") == ("1024", "8192")
    assert field(c, "TCP options") == ("mss (mss 1460)", "none")
    a_ttl, b_ttl = field(c, "TTL")
    assert a_ttl.startswith("varies per probe") and b_ttl == "64 on every probe"
    assert field(c, "IP ID")[1] == "1 on every probe"
    assert field(c, "source port")[1] == "one port for the scan (20)"
    assert field(c, "sequence number")[1] == "seq 0 on every probe"
    assert field(c, "sequence number")[0].endswith("on every first try")
    assert field(c, "port order")[1].startswith("ascending")
    assert [f.name for f in c.fields] == list(FIELDS)
    # same target, same verdicts
    assert not c.disagreements and not c.one_sided
    assert {r.port: r.a.state for r in c.ports} == {80: "open", 81: "closed", 82: "filtered", 83: "filtered",
                                                     84: "filtered"}
    text = " ".join(c.notes)
    assert "A looks like nmap" in text and "B like scapy" in text
    assert "agree on the state of every port" in text


def test_kernel_rsts_and_the_tools_own():
    c = compare(t("nmap-syn.pcap"), t("scapy-seeds-syn.pcap"))
    assert [r.sender for r in c.a.rsts] == ["kernel"]  # nmap leaves the RST to the kernel
    assert sorted(r.sender for r in c.b.rsts) == ["kernel", "tool"]  # the seeds' script adds its own R
    tool_rst = next(r for r in c.b.rsts if r.sender == "tool")
    assert "flags R" in tool_rst.text and "window 8192" in tool_rst.text and "seq 0" in tool_rst.text
    kernel_rst = next(r for r in c.a.rsts if r.sender == "kernel")
    assert "window 0" in kernel_rst.text and kernel_rst.port == 80
    text = " ".join(c.notes)
    assert "In both A and B the scanner's kernel reset the SYN/ACK" in text
    assert "In B the tool sent its own RST as well" in text
    m = compare(t("masscan-syn.pcap"), t("zmap-syn.pcap"))
    assert {r.sender for r in m.a.rsts} == {"kernel", "tool"}  # masscan's own RST: window 1200, TTL 255
    assert any("window 1200" in r.text and "TTL 255" in r.text for r in m.a.rsts if r.sender == "tool")


def test_nmap_retries_timing_and_order():
    c = compare(t("nmap-syn.pcap"), t("scapy-syn.pcap"))
    dropped = c.a.ports[("tcp", 82)]
    assert dropped.probes == 2 and len(dropped.retry_offsets) == 1
    assert 0.9 < dropped.retry_offsets[0] < 1.5  # nmap's retransmission about 1.1 s later
    assert c.b.ports[("tcp", 82)].probes == 1 and not c.b.ports[("tcp", 82)].retry_offsets
    assert c.a.retransmissions == 1 and c.b.retransmissions == 0
    assert "retries from" in field(c, "source port")[0]  # from a nearby source port
    assert any("A retransmitted 1 unanswered probe" in n and "B sent each probe once" in n for n in c.notes)
    assert c.a.duration > 0.9 and c.b.duration < 0.5
    assert len(c.a.gaps) == 4 and len(c.b.gaps) == 4


def test_nmap_udp_payloads_against_empty_datagrams():
    c = compare(t("nmap-udp.pcap"), t("scapy-udp.pcap"))
    a, b = field(c, "UDP payload")
    assert a == "53: 12+30 bytes; other ports empty"  # nmap's two DNS payloads to port 53
    assert b == "empty datagrams"
    assert c.a.ports[("udp", 53)].payloads == (12, 30)
    # a second payload is a second question, not a retransmission
    assert not c.a.ports[("udp", 53)].retry_offsets
    assert c.a.ports[("udp", 55)].retry_offsets  # the silent port is retried
    assert any(n.startswith("UDP payloads: A 53: 12+30 bytes") for n in c.notes)
    assert (c.a.tool, c.b.tool) == ("nmap", "scapy")


def test_connect_that_completes_the_handshake_against_one_that_does_not():
    c = compare(g("connect.pcap"), t("scapy-seeds-connect.pcap"))
    assert c.a.ports[("tcp", 80)].handshake and not c.b.ports[("tcp", 80)].handshake
    a, b = field(c, "handshake")
    assert a.startswith("completed on 80") and b.startswith("never completed")
    assert field(c, "RST sent by") == ("kernel (connect): 1", "kernel: 1; tool: 1")
    text = " ".join(c.notes)
    assert "A completed the TCP handshake on port 80" in text
    assert "B got a SYN/ACK too but never completed the handshake: a half-open scan" in text
    assert (c.a.tool, c.b.tool) == ("os-connect", "scapy")
    # port 84 answers with ICMP port unreachable: connect() reads it as closed, a raw SYN as filtered
    (row,) = c.disagreements
    assert (row.proto, row.port, row.a.state, row.b.state) == ("tcp", 84, "closed", "filtered")
    assert "Both got ICMP port unreachable" in row.explanation and "ECONNREFUSED" in row.explanation


def test_same_answers_read_by_two_techniques():
    c = compare(g("syn.pcap"), g("connect.pcap"))
    assert [(r.port, r.a.state, r.b.state) for r in c.disagreements] == [(84, "filtered", "closed")]
    assert "a syn scan reads that as filtered, a connect scan as closed" in c.disagreements[0].explanation
    assert "disagree on 1 of the 5 port(s)" in " ".join(c.notes)


@pytest.mark.parametrize("a, b, relation", [
    ("open", "open", SAME), ("open", "open|filtered", CONSISTENT), ("filtered", "open|filtered", CONSISTENT),
    ("open", "unfiltered", CONSISTENT), ("closed", "unfiltered", CONSISTENT), ("closed", "closed|filtered", CONSISTENT),
    ("open|filtered", "unfiltered", CONSISTENT), ("open", "closed", DISAGREE), ("closed", "open|filtered", DISAGREE),
    ("filtered", "unfiltered", DISAGREE), ("open", "filtered", DISAGREE), ("filtered", "closed", DISAGREE)])
def test_state_relation(a, b, relation):
    assert state_relation(a, b) == state_relation(b, a) == relation


def test_syn_against_fin_is_consistent_not_a_disagreement():
    # the golden target: 80 open, 81 closed, 82 dropped, 83 admin-prohibited, 84 port-unreachable
    c = compare(g("syn.pcap"), g("fin.pcap"))
    assert not c.disagreements
    assert [(r.port, r.a.state, r.b.state) for r in c.consistent] == [(80, "open", "open|filtered"),
                                                                      (82, "filtered", "open|filtered")]
    open80, drop82 = (r.explanation for r in c.consistent)
    assert "Consistent, not a contradiction: B's open|filtered stands for open or filtered, and A's open" in open80
    assert "An open port ignores a TCP segment with only FIN set (RFC 793" in open80
    assert "the syn scan's answer (SYN/ACK (frame 6)) says open" in open80
    assert "Textbook: FIN scan: RST means closed; no answer means open|filtered" in open80
    assert "firewall rule" not in open80  # the old, wrong lesson
    assert "to the syn scan the same silence means filtered" in drop82
    text = render(c, "table")
    assert "Consistent readings:" in text and "Disagreements:" not in text
    assert "80/tcp  open (syn-ack); 1 probe(s)" in text and text.count(" consistent\n") == 2
    assert "contradict each other on no port; 2 port(s) read differently but consistently" in " ".join(c.notes)
    assert "## Consistent readings" in render(c, "markdown")
    d = json.loads(render(c, "json"))
    assert [p["port"] for p in d["consistent"]] == [80, 82] and d["disagreements"] == []
    assert {p["port"]: p["relation"] for p in d["ports"]} == {80: "consistent", 81: "same", 82: "consistent",
                                                              83: "same", 84: "same"}


@pytest.mark.parametrize("inverse", ["null.pcap", "xmas.pcap"])
def test_null_and_xmas_against_syn_are_consistent(inverse):
    c = compare(g(inverse), g("syn.pcap"))
    assert not c.disagreements and [r.port for r in c.consistent] == [80, 82]
    assert "RFC 793" in c.consistent[0].explanation


def test_ack_scan_unfiltered_is_consistent_with_open_and_closed():
    c = compare(g("syn.pcap"), g("ack.pcap"))
    assert not c.disagreements
    assert [(r.port, r.a.state, r.b.state) for r in c.consistent] == [(80, "open", "unfiltered"),
                                                                      (81, "closed", "unfiltered")]
    assert "answers an ACK probe with RST whether the port is open or closed" in c.consistent[0].explanation
    # two wide states narrow each other down: FIN's silence and ACK's RST leave only open
    c = compare(g("fin.pcap"), g("ack.pcap"))
    row = next(r for r in c.consistent if r.port == 80)
    assert "together they say open" in row.explanation


def test_maimon_against_syn_still_disagrees_and_says_why():
    # Linux resets a FIN/ACK on an open port, as RFC 793 says of any ACK-bearing segment: a contradiction
    c = compare(g("maimon.pcap"), g("syn.pcap"))
    (row,) = c.disagreements
    assert (row.port, row.a.state, row.b.state) == (80, "closed", "open")
    assert "BSD-derived stacks" in row.explanation and "trust the syn scan" in row.explanation
    assert [r.port for r in c.consistent] == [82]


def test_ports_probed_by_one_scan_only():
    c = compare(t("masscan-syn.pcap"), t("zmap-syn.pcap"))
    assert [r.port for r in c.one_sided] == [82, 83, 84]
    assert not c.disagreements
    assert all(r.explanation.startswith("only A probed") for r in c.one_sided)


def _side(port, proto, state, reason, probes, answers=(), payloads=(), technique="udp"):
    return PortSide(proto=proto, port=port, technique=technique, state=state, reason=reason, probes=probes,
                    retry_offsets=tuple(1.1 * i for i in range(1, probes)), start=0.0, answers=answers,
                    payloads=payloads, handshake=False, rsts=(), exchange=None)


def test_silence_against_an_answer_is_explained():
    # nmap's DNS payload drew an answer; an empty datagram drew none
    a = _side(53, "udp", "open", "udp-response", 1, answers=(("udp", 7),), payloads=(12,))
    b = _side(53, "udp", "open|filtered", "no-response", 1, payloads=(0,))
    text = explain(a, b)
    assert "Consistent, not a contradiction" in text  # open|filtered holds open
    assert "A's datagram carried 12 bytes of payload and B's was empty" in text
    assert "nmap sends such payloads to well-known ports" in text
    # a contradiction (open against filtered) explained by the payload too
    text = explain(a, _side(53, "udp", "filtered", "no-response", 1, payloads=(0,)))
    assert "Consistent" not in text and "A's datagram carried 12 bytes of payload" in text
    # one try against two: silence after a single probe
    a = _side(82, "tcp", "filtered", "no-response", 1, technique="syn")
    b = _side(82, "tcp", "closed", "reset", 2, answers=(("rst", 9),), technique="syn")
    assert "A sent fewer probes (1 against 2)" in explain(a, b)
    # both answered, differently
    a = _side(80, "tcp", "open", "syn-ack", 1, answers=(("syn-ack", 6),), technique="syn")
    b = _side(80, "tcp", "closed", "reset", 1, answers=(("rst", 6),), technique="syn")
    assert "answered the two scans differently" in explain(a, b)


def test_two_sessions_of_one_capture(shared_captures):
    path = shared_captures / "scans" / "AustinA+PortScanDetector__null-scan.pcap"
    c = compare(path)
    assert (c.a.session, c.b.session, c.a.sessions) == (1, 2, 4)  # four null scans; the DHCP renewal is no scan
    assert c.a.scan.target != c.b.scan.target
    c = compare(path, session_a=4, session_b=2)
    assert (c.a.session, c.b.session) == (4, 2)
    assert c.a.tool == c.b.tool == "nmap"


def test_library_errors():
    with pytest.raises(UsageError):
        compare(t("nmap-syn.pcap"))  # one session: nothing to compare it with
    with pytest.raises(UsageError):
        compare(t("nmap-syn.pcap"), t("scapy-syn.pcap"), session_a=2)
    with pytest.raises(InputError):
        compare("/nonexistent/a.pcap", t("scapy-syn.pcap"))


# -- the CLI -------------------------------------------------------------------------------


def test_cli_table():
    r = run(g("syn.pcap"), g("connect.pcap"))
    assert r.exit_code == 0, r.output
    assert r.stderr == ""
    out = r.stdout
    assert out.startswith("A: ") and "\nB: " in out
    assert "Disagreements:" in out and "84/tcp:" in out
    assert "* window" in out and "Notes:" in out


def test_cli_markdown_and_json():
    r = run(t("nmap-syn.pcap"), t("scapy-seeds-connect.pcap"), "-f", "markdown")
    assert r.exit_code == 0 and r.stderr == ""
    assert r.stdout.startswith("# pcapscan compare") and "## Notes" in r.stdout and "| **≠** window" in r.stdout
    r = run(g("connect.pcap"), t("scapy-seeds-connect.pcap"), "--format", "json")
    assert r.exit_code == 0 and r.stderr == ""
    d = json.loads(r.stdout)
    assert set(d) == {"a", "b", "fields", "ports", "disagreements", "consistent", "only_one", "notes"}
    assert d["a"]["tool"]["name"] == "os-connect" and d["b"]["tool"]["name"] == "scapy"
    assert d["disagreements"][0]["port"] == 84 and d["disagreements"][0]["explanation"]
    port80 = next(p for p in d["ports"] if p["port"] == 80)
    assert port80["a"]["handshake"] is True and port80["b"]["handshake"] is False
    assert {r["sender"] for r in port80["b"]["rsts"]} == {"kernel", "tool"}


def test_cli_output_file_and_plot(tmp_path):
    out, plot = tmp_path / "cmp.md", tmp_path / "timeline.svg"
    r = run(t("nmap-syn.pcap"), t("scapy-syn.pcap"), "-f", "markdown", "-o", str(out), "--plot", str(plot))
    assert r.exit_code == 0 and r.stdout == "" and r.stderr == ""
    assert out.read_text().startswith("# pcapscan compare")
    root = ET.parse(plot).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = plot.read_text()
    assert "nmap-syn.pcap" in text and "scapy-syn.pcap" in text
    assert "RST frame" in text and "by the kernel" in text  # the kernel's RST is drawn
    assert text.count("<circle") >= 11  # 6 + 5 probes, plus the legend


def test_svg_caps_rows_on_big_scans(shared_captures):
    c = compare(shared_captures / "scans" / "AustinA+PortScanDetector__null-scan.pcap")
    text = svg(c)
    ET.fromstring(text)
    assert "more port(s) not drawn" in text
    assert len(render(c, "table")) > 0


def test_cli_bad_plot_path_prints_nothing(tmp_path):
    r = run(g("syn.pcap"), g("fin.pcap"), "--plot", str(tmp_path / "no" / "such" / "dir" / "t.svg"))
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith("pcapscan: ") and "t.svg" in r.stderr and r.stderr.count("\n") == 1
    out = tmp_path / "cmp.txt"
    r = run(g("syn.pcap"), g("fin.pcap"), "-o", str(out), "--plot", str(tmp_path / "missing" / "t.svg"))
    assert r.exit_code == 2 and r.stdout == "" and not (out.exists() and out.read_text())


def test_cli_errors():
    r = run("/nonexistent/a.pcap", t("scapy-syn.pcap"))
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith("pcapscan: ") and "/nonexistent/a.pcap" in r.stderr
    r = run(t("nmap-syn.pcap"))
    assert r.exit_code == 2 and r.stdout == "" and "one scan session" in r.stderr
    r = run(t("nmap-syn.pcap"), t("scapy-syn.pcap"), "--session-b", "3")
    assert r.exit_code == 2 and "--session-b 3" in r.stderr
    r = run(t("nmap-syn.pcap"), t("scapy-syn.pcap"), "--session-a", "0")
    assert r.exit_code == 2 and r.stdout == ""
    r = run(t("nmap-syn.pcap"), t("scapy-syn.pcap"), "-f", "csv")
    assert r.exit_code == 2 and r.stdout == ""


@pytest.mark.parametrize("rows", [
    [],
    [["80/tcp", "open (syn-ack); 1 probe(s)", "-", "yes"]],
    [["80/tcp", "open (syn-ack); 1 probe(s)", "open|filtered (no-response); 2 probe(s), retries +1.00s", "consistent"],
     ["65535/udp", "-", "closed (port-unreach); 1 probe(s)", "-"], ["7/tcp", "x", "y", "NO"]],
    [["1/tcp", "a", "b", "yes"], ["22/tcp", "a long cell, wider than its header", "", "-"]],
])
def test_the_port_table_is_tabulates_simple_table(rows):
    """compare writes its port table itself (tabulate takes seconds on 65,535 ports): the same text."""
    from tabulate import tabulate

    from pcapscan.report.compare_report import simple_table

    headers = ["port", "A", "B", "agree"]
    assert simple_table(rows, headers) == tabulate(rows, headers=headers, tablefmt="simple")


def test_a_port_probed_hundreds_of_times_takes_one_cell(tmp_path):
    """hping3-like: one port probed every second, 300 times, unanswered. The
    table and Markdown name the first ten retries and how many more (nmap's
    own retries, at most ten, stay listed whole); JSON keeps every one."""
    from pcapbuild import ether, ipv4_tcp, pcap_bytes

    probes = [(1000.0 + i, ether(ipv4_tcp("198.18.0.1", "198.18.0.2", 2000, 80, 0x02, seq=7))) for i in range(300)]
    flood = tmp_path / "flood.pcap"
    flood.write_bytes(pcap_bytes(probes))
    r = run(t("nmap-syn.pcap"), str(flood))
    assert r.exit_code == 0, r.output
    row = next(line for line in r.stdout.splitlines() if line.startswith("80/tcp"))
    assert len(row) < 250  # was 3,000 characters
    assert "300 probe(s), retries +1.00s, +2.00s" in row and "+10.00s (+289 more)" in row and "+11.00s" not in row
    retransmissions = field(compare(t("nmap-syn.pcap"), str(flood)), "retransmissions")[1]
    assert retransmissions.startswith("299 on 1 port(s), median +150.00s: 80/tcp +1.00s, +2.00s")
    assert retransmissions.endswith("+10.00s (+289 more)")
    md = run(t("nmap-syn.pcap"), str(flood), "-f", "markdown").stdout
    assert "+10.00s (+289 more)" in md and "+11.00s" not in md
    ports = json.loads(run(t("nmap-syn.pcap"), str(flood), "-f", "json").stdout)["ports"]
    (port,) = [p for p in ports if p["port"] == 80]
    assert len(port["b"]["retries"]) == 299
    # an nmap port's retries, fewer than eleven, are listed whole
    few = _side(82, "tcp", "filtered", "no-response", 11, technique="syn")
    assert few.retry_text == ", ".join(f"+{1.1 * i:.2f}s" for i in range(1, 11))


def test_a_capture_whose_records_go_back_in_time_has_the_same_timing(tmp_path):
    """Two probes' records swapped (a merged or multi-queue capture): the gaps are between
    probes in time, as in the capture in order, never negative; the start is the earliest probe."""
    from pcapbuild import ether, ipv4_tcp, pcap_bytes

    recs = [(1.0 + 0.01 * i, ether(ipv4_tcp("198.18.0.1", "198.18.0.2", 40000, port, 0x02, seq=7)))
            for i, port in enumerate(range(1, 41))]
    ordered, swapped = tmp_path / "ordered.pcap", tmp_path / "swapped.pcap"
    ordered.write_bytes(pcap_bytes(recs))
    recs[0], recs[30] = recs[30], recs[0]
    swapped.write_bytes(pcap_bytes(recs))
    c = compare(str(ordered), str(swapped))
    assert field(c, "inter-probe gap") == ("median 10.0 ms (min 10.0 ms, max 10.0 ms)",) * 2
    assert field(c, "duration")[0] == field(c, "duration")[1]
    assert min(c.b.gaps) > 0 and c.b.start == c.a.start == 1.0


def test_one_capture_a_stray_connection_beside_the_lab_scans(shared_captures, tmp_path):
    """A student's capture (scapy SYN, Xmas, FIN, NULL, UDP scans of one
    target) with the scanner's browser in it: a SYN to a web server, tried
    three times, unanswered, reads as a connect scan of one port. compare
    without sessions pairs the largest scan with the next largest of the same
    target, not with that connection."""
    import dpkt

    from pcapbuild import ether, ipv4_tcp, pcap_bytes

    student = shared_captures / "students" / "2022-ns-public-Leaf5323" / "chap0x05" / "pcap" / "scanDump.pcap"
    with open(student, "rb") as fh:
        records = [(ts, bytes(buf)) for ts, buf in dpkt.pcap.Reader(fh)]
    os_options = b"\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x00\x01\x03\x03\x07"
    browser = ether(ipv4_tcp("192.168.56.254", "93.184.216.98", 51112, 443, 0x02, seq=2000, window=64240,
                             options=os_options))
    records += [(records[0][0] + 4 + 2 ** k, browser) for k in range(3)]
    capture = tmp_path / "scans-and-browser.pcap"
    capture.write_bytes(pcap_bytes(sorted(records, key=lambda r: r[0])))
    c = compare(capture)
    assert c.a.sessions == 6 and (c.a.session, c.b.session) == (1, 3)  # the SYN script ran twice: sessions 1 and 2
    assert c.a.scan.target == c.b.scan.target == "192.168.56.113"
    assert (c.a.scan.technique.value, c.b.scan.technique.value) == ("syn", "xmas")
    every = [compare(capture, session_a=n, session_b=1 if n > 1 else 2).a.scan.target for n in range(1, 7)]
    assert "93.184.216.98" not in every


def test_probes_sent_again_after_an_answer_are_no_retransmissions(shared_captures):
    """A student's script run twice: 22/tcp and 8080/tcp answered, then
    probed again. That is a second session now (sessions.py, rule 3), so the
    first keeps only 8000/tcp's second probe, on the same flow, a
    retransmission of an unanswered one; nmap's retries keep their words."""
    student = shared_captures / "students" / "2022-ns-public-Leaf5323" / "chap0x05" / "pcap" / "scanDump.pcap"
    c = compare(student, session_a=1, session_b=2)
    assert (c.a.scan.technique.value, c.b.scan.technique.value) == ("syn", "syn")
    assert [p.port for p in c.b.scan.ports] == [22, 8080]
    (note,) = [n for n in c.notes if " again " in n or "retransmitted" in n]
    assert note.startswith("A retransmitted 1 unanswered probe(s) 44.10 s after the first try")
    assert "already answered" not in note
    (note,) = [n for n in compare(t("nmap-syn.pcap"), t("scapy-syn.pcap")).notes if "retransmitted" in n]
    assert note.startswith("A retransmitted 1 unanswered probe(s) 1.10 s after the first try") and "again" not in note


def test_two_random_ip_id_patterns_are_one_pattern_whatever_they_drew():
    """Two nmap runs draw other random IP IDs, other source ports, other counts of values:
    one pattern (no "*" in the table, no "built differently"); constants stay compared."""
    from pcapscan.compare import FieldRow, ipid_pattern, same_pattern, sport_pattern, ttl_pattern

    random_a = ipid_pattern(4, [5, 900, 77, 3000], [False] * 4)
    random_b = ipid_pattern(4, [11, 4000, 23], [False] * 3)
    assert random_a != random_b and same_pattern(random_a, random_b)
    assert FieldRow("IP ID", random_a, random_b).same
    assert same_pattern(ttl_pattern([37, 44, 59]), ttl_pattern([40, 51]))
    assert same_pattern(sport_pattern([40001, 52113, 33017], []), sport_pattern([61000, 45678, 39999], []))
    # a constant is how the probe is built: IP ID 1 against 2, TTL 64 against 128, random against constant
    assert not same_pattern(ipid_pattern(4, [1, 1, 1], [False] * 3), ipid_pattern(4, [2, 2, 2], [False] * 3))
    assert not same_pattern(ttl_pattern([64, 64]), ttl_pattern([128, 128]))
    assert not same_pattern(random_a, ipid_pattern(4, [1, 1, 1], [False] * 3))
    assert not FieldRow("IP ID", random_a, "-").same
