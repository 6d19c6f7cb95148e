"""`pcapscan analyze` driven through click's CliRunner: every format, every
error message, exit codes, stdout and stderr checked apart."""
import csv
import gzip
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from pcapscan.cli import main

import pcapbuild as pb

GOLDEN = Path(__file__).resolve().parents[1] / "captures" / "golden"
SYN = str(GOLDEN / "syn.pcap")
NMAP_SYN_STATES = {80: "open", 81: "closed", 82: "filtered", 83: "filtered", 84: "filtered"}


def run(*args):
    return CliRunner().invoke(main, ["analyze", *args])


def test_table_names_every_port_with_state_reason_and_frames():
    r = run(SYN)
    assert r.exit_code == 0 and r.stderr == ""
    assert "198.18.0.1 -> 198.18.0.2: syn scan, 5 port(s)" in r.stdout
    line80 = next(line for line in r.stdout.splitlines() if line.startswith("80/tcp"))
    assert line80.split()[:4] == ["80/tcp", "open", "syn-ack", "64"]
    assert "->" in line80


def test_json_has_the_documented_shape():
    r = run(SYN, "--format", "json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["captures"][0]["path"] == SYN and doc["captures"][0]["packets"] > 0
    scan = doc["scans"][0]
    assert (scan["scanner"], scan["target"], scan["technique"]) == ("198.18.0.1", "198.18.0.2", "syn")
    ports = {p["port"]: p for p in scan["ports"]}
    assert {p: v["state"] for p, v in ports.items()} == NMAP_SYN_STATES
    assert set(ports[80]) >= {"proto", "port", "state", "reason", "reason_ttl", "probe_frames", "response_frames"}
    assert ports[80]["reason"] == "syn-ack" and ports[80]["reason_ttl"] == 64
    assert ports[82]["response_frames"] == [] and len(ports[82]["probe_frames"]) == 2  # nmap retried once


def test_csv_has_one_row_per_port():
    r = run(SYN, "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert {int(row["port"]): row["state"] for row in rows} == NMAP_SYN_STATES


def test_markdown_is_a_pipe_table():
    r = run(SYN, "-f", "markdown")
    assert r.exit_code == 0
    assert "| 80/tcp" in r.stdout and "| open" in r.stdout


def test_nmap_xml_parses_and_carries_states(tmp_path):
    out = tmp_path / "result.xml"
    r = run(SYN, "-f", "nmap-xml", "-o", str(out))
    assert r.exit_code == 0 and r.stdout == ""
    root = ET.parse(out).getroot()
    assert root.tag == "nmaprun" and root.find("scaninfo").get("type") == "syn"
    states = {int(p.get("portid")): p.find("state").get("state") for p in root.iter("port")}
    assert states == NMAP_SYN_STATES


def test_technique_window_reinterprets_ack_probes():
    r = run(str(GOLDEN / "ack.pcap"), "--technique", "window", "-f", "json")
    scan = json.loads(r.stdout)["scans"][0]
    assert scan["technique"] == "window" and "forced" in scan["technique_evidence"]
    assert {p["port"]: p["state"] for p in scan["ports"]}[81] == "closed"


def test_gzip_compressed_capture_reads_the_same(tmp_path):
    gz = tmp_path / "syn.pcap.gz"
    gz.write_bytes(gzip.compress(Path(SYN).read_bytes()))
    plain, packed = run(SYN, "-f", "csv"), run(str(gz), "-f", "csv")
    assert plain.stdout.replace(SYN, "X") == packed.stdout.replace(str(gz), "X")


def test_not_a_capture_is_one_line_and_status_2(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("this is not a capture\n")
    r = run(str(text))
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "not a pcap or pcapng capture" in r.stderr


def test_missing_file_and_directory_are_named(tmp_path):
    r = run(str(tmp_path / "nope.pcap"))
    assert r.exit_code == 2 and "capture not found" in r.stderr and "Traceback" not in r.stderr
    r = run(str(tmp_path))
    assert r.exit_code == 2 and "is a directory" in r.stderr


def test_empty_capture_says_no_packets_and_succeeds(tmp_path):
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(pb.pcap_bytes([]))
    r = run(str(empty))
    assert r.exit_code == 0 and "no packets" in r.stdout
    doc = json.loads(run(str(empty), "-f", "json").stdout)
    assert doc["captures"][0]["packets"] == 0 and doc["scans"] == []


def test_truncated_capture_keeps_results_and_warns_with_the_record(tmp_path):
    data = Path(SYN).read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-10])
    r = run(str(cut), "-f", "json")
    assert r.exit_code == 0
    assert "warning" in r.stderr and "truncated" in r.stderr and "record" in r.stderr
    doc = json.loads(r.stdout)
    assert doc["captures"][0]["warnings"] and doc["scans"][0]["ports"]


def test_a_bad_file_does_not_cost_the_good_ones(tmp_path):
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"\x00" * 40)
    r = run(str(bad), SYN, "-f", "csv")
    assert r.exit_code == 2
    assert "bad.pcap" in r.stderr and "syn.pcap" not in r.stderr
    assert len(list(csv.DictReader(io.StringIO(r.stdout)))) == 5


def test_undecodable_packet_is_skipped_and_counted(tmp_path):
    good = pb.ether(pb.ipv4_tcp("198.18.0.1", "198.18.0.2", 40000, 80, 0x02, seq=5))
    garbage = b"\x02" * 6 + b"\x01" * 6 + b"\x08\x00" + b"\x45\x00\x00"  # IPv4 cut after 3 bytes
    cap = tmp_path / "mixed.pcap"
    cap.write_bytes(pb.pcap_bytes([(1.0, garbage), (1.1, good)]))
    doc = json.loads(run(str(cap), "-f", "json").stdout)
    assert doc["captures"][0]["skipped"] == 1
    assert doc["scans"][0]["ports"][0]["probe_frames"] == [2]


def test_unknown_option_value_is_a_usage_error():
    r = run(SYN, "--format", "yaml")
    assert r.exit_code == 2 and "yaml" in r.stderr


def test_library_api_returns_objects():
    import pcapscan

    result = pcapscan.analyze(SYN)
    assert {p.port: p.state.value for s in result.scans for p in s.ports} == NMAP_SYN_STATES
    with pytest.raises(pcapscan.errors.PcapscanError):
        pcapscan.analyze("/nonexistent/capture.pcap")


def test_the_analyze_path_never_imports_scapy():
    code = ("import sys; from click.testing import CliRunner; from pcapscan.cli import main; "
            f"r = CliRunner().invoke(main, ['analyze', {SYN!r}]); "
            "print(r.exit_code, 'scapy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0", "False"]


def test_analyze_leaves_its_objects_to_the_os_at_exit():
    """analyze freezes the objects still alive once the interpreter exits (its last
    collection would walk them all), once however often it ran, and not before: a
    longer-lived process keeps its GC."""
    code = ("import atexit, gc; from click.testing import CliRunner; from pcapscan.cli import main; "
            "calls = []; freeze = gc.freeze; gc.freeze = lambda: (calls.append(1), freeze())[1]; "
            "atexit.register(lambda: print('at exit', len(calls), gc.get_freeze_count() > 0)); "  # runs last: LIFO
            f"r = CliRunner().invoke(main, ['analyze', {SYN!r}]); "
            f"r = CliRunner().invoke(main, ['analyze', '-f', 'json', {SYN!r}]); "
            "print(r.exit_code, 'now', len(calls), gc.get_freeze_count() > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0", "now", "0", "False", "at", "exit", "1", "True"]


def test_port_table_aligns_like_tabulate_guessing():
    """report.table tells tabulate its column types (for speed): the text must be
    what tabulate's own guessing gives, for numeric, mixed and numpy TTLs."""
    import numpy as np
    from tabulate import tabulate

    from pcapscan.report.table import HEADERS, _port_table

    cases = ([["22/tcp", "open", "syn-ack", 64, "27 -> 28"], ["80/tcp", "open", "syn-ack", 128, "32 -> 33"]],
             [["22/tcp", "open", "syn-ack", 64, "27 -> 28"], ["82/tcp", "filtered", "no-response", "-", "9 -> -"]],
             [["53/udp", "open", "udp-response", np.uint8(64), "2281 -> 2282"]],
             [])
    for rows in cases:
        assert _port_table(rows, "simple") == tabulate(rows, headers=HEADERS, tablefmt="simple")


DNS_QUERY = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"
DNS_ANSWER = b"\x12\x34\x81\x80" + DNS_QUERY[4:] + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x00\x00\x04\x5d\xb8\xd8\x22"


def test_a_clients_dns_lookup_is_not_a_udp_scan(tmp_path):
    """The capturing host resolving a name (an ephemeral port, its kernel's TTL,
    an answer with data) beside a scan: not listed as a 1-port UDP scan, nor is
    an unanswered lookup from an OS socket (a resolver, not a scanner); both
    are counted as other traffic. A scapy-style probe (source port 53, empty)
    stays, and `-t udp` reads the lookups as probes after all."""
    path = tmp_path / "background.pcap"
    pkts = [pb.ipv4_udp("198.18.0.5", "198.18.0.53", 51234, 53, DNS_QUERY, ip_id=4321),
            pb.ipv4_udp("198.18.0.53", "198.18.0.5", 53, 51234, DNS_ANSWER, ip_id=999),
            pb.ipv4_udp("198.18.0.1", "198.18.0.2", 53, 161, ip_id=1),
            pb.ipv4_udp("198.18.0.6", "198.18.0.53", 40000, 53, DNS_QUERY, ip_id=77)]
    path.write_bytes(pb.pcap_bytes([pb.ether(p) for p in pkts]))
    r = run(str(path), "--format", "json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    found = {(s["scanner"], s["target"]) for s in doc["scans"]}
    assert found == {("198.18.0.1", "198.18.0.2")}
    assert doc["captures"][0]["other"] == {"connections": 2, "packets": 3, "attempts": 0}
    table = run(str(path)).stdout
    assert "198.18.0.5 ->" not in table and "198.18.0.1 -> 198.18.0.2: udp scan" in table
    assert "other traffic: 3 packets in 2 connection(s)" in table
    named = {(s["scanner"], s["target"]) for s in json.loads(run(str(path), "-t", "udp", "--format", "json").stdout)["scans"]}
    assert named == {("198.18.0.1", "198.18.0.2"), ("198.18.0.5", "198.18.0.53"), ("198.18.0.6", "198.18.0.53")}


SHARED = Path(__file__).resolve().parents[2] / "shared" / "captures"


def test_real_captures_background_conversations_are_left_out():
    """Real captures with the capturing host's own DNS/NTP next to a scan
    (third-party scans and a student's): analyze lists every session but those."""
    from pcapscan.analysis import analyze, analyze_capture_full, client_conversation

    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent")
    names = ["scans/AustinA+PortScanDetector__xmas15.pcap", "scans/deadwhitepunk+SDB-IB-01__wireshark__udp_scan.pcapng",
             "scans/tmicomyiza+The-Incident-Alarm__null.pcap",
             "students/2022-ns-public-echo-li-cuc/chap0x05/pkt_captured/connect_close.pcap"]
    for name in names:
        path = SHARED / name
        _summary, every, _more = analyze_capture_full(path)
        background = [s for s in every if client_conversation(s)]
        # the DNS/NTP lookup, and now also the host's other datagrams (QUIC, mDNS) from OS sockets
        assert background and any(s.ports[0].port in (53, 123) for s in background), name
        assert all(s.tool.name == "os-connect" for s in background), name
        listed = analyze(str(path)).scans
        assert [(s.scanner, s.target, s.technique) for s in listed] == \
            [(s.scanner, s.target, s.technique) for s in every if not client_conversation(s)], name
    udp = analyze(str(SHARED / names[1])).scans
    assert [s.technique.value for s in udp] == ["udp"] and len(udp[0].ports) > 2  # the real UDP scan stays


def test_a_sweeps_down_hosts_and_a_fully_collapsed_scan_are_summed_up(shared_captures):
    """nmap lists the hosts that are up: 254 "down" rows of a ping sweep before
    the scan are one line, and a scan whose every port is collapsed prints
    its "Not shown" line without an empty table header under it."""
    scans = shared_captures / "scans"
    r = run(str(scans / "AustinA+PortScanDetector__full-scan.pcap"))
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "  Not shown: 254 down hosts (no-response)" in lines
    assert not [line for line in lines if "  down  " in line]
    assert any(line.startswith("192.168.56.101  up       arp-response") for line in lines)
    assert "1 up, 254 down" in r.stdout  # the title still counts them
    r = run(str(scans / "AustinA+PortScanDetector__null-scan.pcap"))
    lines = r.stdout.splitlines()
    at = lines.index("  Not shown: 1000 open|filtered tcp ports (no-response)")
    assert lines[at + 1] == ""  # no "port state reason ..." header over nothing
    assert lines.count("  Not shown: 251 down hosts (no-response)") == 1
    # JSON keeps every host
    d = json.loads(run(str(scans / "AustinA+PortScanDetector__full-scan.pcap"), "-f", "json").stdout)
    assert sum(h["state"] == "down" for h in d["hosts"]) == 254


def test_down_hosts_are_listed_below_the_collapse_threshold():
    from types import SimpleNamespace as NS

    from pcapscan.report.collapse import COLLAPSE_MIN, hosts_and_hidden, not_shown_hosts_line

    def host(i, state, reason):
        return NS(address=f"198.18.0.{i}", state=NS(value=state), reason=NS(value=reason))

    few = [host(1, "up", "arp-response")] + [host(i, "down", "no-response") for i in range(2, COLLAPSE_MIN + 1)]
    assert hosts_and_hidden(few) == (few, {})
    many = few + [host(99, "down", "host-unreach")]
    shown, hidden = hosts_and_hidden(many)
    assert [h.address for h in shown] == ["198.18.0.1"] and hidden == {"no-response": 25, "host-unreach": 1}
    assert not_shown_hosts_line(hidden) == "Not shown: 26 down hosts (25 no-response, 1 host-unreach)"
