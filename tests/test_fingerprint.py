"""Scanner fingerprinting: the right tool named on every lab capture (the
tools' own captures and nmap's golden ones), the third-party and student
captures pinned to what their packets show, and the rule that a name always
comes with the fields that support it."""
import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from pcapscan.analysis import analyze_capture, analyze_capture_full  # noqa: F401
from pcapscan.cli import main
from pcapscan.exchanges import replay
from pcapscan.fastpath import scans as fast_scans
from pcapscan.fastpath.columns import NeedSlowPath
from pcapscan.fingerprint import TOOL_NAMES, ToolGuess, identify
from pcapscan.model import Technique
from pcapscan.techniques import REGISTRY, live_techniques

import packets as pk

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "captures" / "tools"
GOLDEN = ROOT / "captures" / "golden"
OWN_CAPTURES = sorted(p for p in (ROOT / "captures").rglob("*") if p.suffix in (".pcap", ".pcapng", ".gz"))

# captures/tools/<file> -> the tool that made it (captures/tools/README.md)
TOOL_CAPTURES = {
    "nmap-syn.pcap": "nmap", "nmap-udp.pcap": "nmap",
    "scapy-syn.pcap": "scapy", "scapy-udp.pcap": "scapy", "scapy-seeds-syn.pcap": "scapy",
    "scapy-seeds-connect.pcap": "scapy", "scapy-seeds-udp.pcap": "scapy",
    "hping3-syn.pcap": "hping3", "hping3-udp.pcap": "hping3",
    "masscan-syn.pcap": "masscan", "masscan-udp.pcap": "masscan",
    "zmap-syn.pcap": "zmap", "zmap-udp.pcap": "zmap",
    "pcapscan-syn.pcap": "pcapscan", "pcapscan-udp.pcap": "pcapscan",
}

# Third-party captures (shared/captures/scans): the tool behind the largest
# session, as the packets show it (looked at with tcpdump -vnr):
THIRD_PARTY = {
    # nmap -sT: the operating system's SYNs (mss,sackOK,TS,nop,wscale; new port per connection)
    "AustinA+PortScanDetector__connect15.pcap": "os-connect",
    "AustinA+PortScanDetector__full-scan.pcap": "os-connect",
    # nmap raw scans: window 1024, TTL 37-59 per probe, one source port, one seq
    "AustinA+PortScanDetector__halfopen15.pcap": "nmap",
    "AustinA+PortScanDetector__null-scan.pcap": "nmap",
    "AustinA+PortScanDetector__null15.pcap": "nmap",
    "AustinA+PortScanDetector__udp-scan.pcap": "nmap",
    "AustinA+PortScanDetector__udp15.pcap": "nmap",
    "AustinA+PortScanDetector__xmas15.pcap": "nmap",
    "FrancescoDiSalesGithub+CommonNetworkAttack__christmas.pcap": "nmap",
    "FrancescoDiSalesGithub+CommonNetworkAttack__normalnmap.pcap": "nmap",
    "FrancescoDiSalesGithub+CommonNetworkAttack__null.pcap": "nmap",
    "FrancescoDiSalesGithub+CommonNetworkAttack__synstealth.pcap": "nmap",
    # "syn_scan" by scapy's defaults: sport 20, window 8192, seq 0, IP ID 1
    "GrigorDimitrov+sop__syn_scan.pcapng": "scapy",
    "StanislavBaranovskii+13-1-hw__capture__nmap-FIN.pcapng": "nmap",
    "StanislavBaranovskii+13-1-hw__capture__nmap-SYN.pcapng": "nmap",
    "StanislavBaranovskii+13-1-hw__capture__nmap-UDP.pcapng": "nmap",
    "StanislavBaranovskii+13-1-hw__capture__nmap-Xmass.pcapng": "nmap",
    # nmap -O: window 1/63/4/16/512/31337 probes with nmap's OS-detection options
    "chrissanders+packets__activeosfingerprinting.pcapng": "nmap",
    # window 8, TTL 64, random ports, seq with its low 16 bits zero: no signature fits
    "chrissanders+packets__ppa1e__portscan.pcap": "unknown",
    "chrissanders+packets__synscan.pcapng": "nmap",  # older nmap: windows 1024-4096
    "deadwhitepunk+SDB-IB-01__wireshark__fin_scan.pcapng": "nmap",
    "deadwhitepunk+SDB-IB-01__wireshark__syn_scan.pcapng": "nmap",
    "deadwhitepunk+SDB-IB-01__wireshark__udp_scan.pcapng": "nmap",
    "deadwhitepunk+SDB-IB-01__wireshark__xmas_scan.pcapng": "nmap",
    "timakhova+hw13-01__nmap.pcapng": "nmap",
    "tmicomyiza+The-Incident-Alarm__fin.pcap": "nmap",
    "tmicomyiza+The-Incident-Alarm__null.pcap": "nmap",
    "tmicomyiza+The-Incident-Alarm__xmas.pcap": "nmap",
}
# The students' scapy scanners (their other traffic is DHCP and DNS of the OS)
STUDENT_SCANNERS = {"172.16.111.134", "172.16.111.150", "192.168.56.254"}


def largest(scans):
    return max(scans, key=lambda s: sum(len(p.exchange.probes) for p in s.ports) if hasattr(s, "ports")
               else len(s.frames))


def tools_of(path):
    """The scan sessions of a capture; a capture of nmap -O alone has none, only its OS-detection probes
    (model.Probing, which carries a tool guess too)."""
    _summary, scans, more = analyze_capture_full(path)
    return scans or [p for p in more.probings if p.tool is not None]


def assert_supported(guess: ToolGuess):
    assert guess.name in TOOL_NAMES
    assert 0.0 <= guess.confidence <= 1.0
    assert guess.evidence and all(isinstance(e, str) and e for e in guess.evidence)
    if guess.name != "unknown":
        support = [e for e in guess.evidence if not e.startswith("against:")]
        assert support, guess
        assert guess.confidence > 0
    else:
        assert guess.confidence == 0.0


@pytest.mark.parametrize("name,tool", sorted(TOOL_CAPTURES.items()))
def test_every_tool_capture_names_its_tool(name, tool):
    scans = tools_of(TOOLS / name)
    assert len(scans) == 1
    guess = scans[0].tool
    assert guess.name == tool, guess
    assert guess.confidence >= 0.5
    assert_supported(guess)


def test_every_tool_capture_is_listed():
    assert {p.name for p in TOOLS.glob("*.pcap")} == set(TOOL_CAPTURES)


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.pcap")), ids=lambda p: p.name)
def test_golden_nmap_captures(path):
    (scan,) = tools_of(path)
    expected = "os-connect" if path.stem.startswith("connect") else "nmap"
    assert scan.tool.name == expected, scan.tool
    assert scan.tool.confidence >= 0.5
    assert_supported(scan.tool)


def test_evidence_names_fields_and_values():
    (nmap,) = tools_of(TOOLS / "nmap-syn.pcap")
    text = " | ".join(nmap.tool.evidence)
    for words in ("TTL varies per probe", "TCP window 1024", "SYN options: mss", "source port",
                  "sequence number"):
        assert words in text
    (scapy,) = tools_of(TOOLS / "scapy-syn.pcap")
    text = " | ".join(scapy.tool.evidence)
    for words in ("source port 20", "TCP window 8192", "sequence number 0", "IP ID 1", "no TCP options"):
        assert words in text
    (masscan,) = tools_of(TOOLS / "masscan-syn.pcap")
    text = " | ".join(masscan.tool.evidence)
    assert "TTL 255" in text and "masscan's formula" in text and "its own RST" in text and "window 1200" in text
    (zmap,) = tools_of(TOOLS / "zmap-syn.pcap")
    assert "IP ID 54321 on both probes" in zmap.tool.evidence
    (hping,) = tools_of(TOOLS / "hping3-syn.pcap")
    text = " | ".join(hping.tool.evidence)
    assert "TCP window 512" in text and "without the ACK flag" in text and "grows by one" in text


def test_connect_scan_is_the_operating_system():
    (scan,) = tools_of(GOLDEN / "connect.pcap")
    text = " | ".join(scan.tool.evidence)
    assert "SYN options mss,sackOK,TS,nop,wscale" in text
    assert "handshake was completed" in text
    assert "new ephemeral port per connect()" in text


@pytest.mark.parametrize("name,tool", sorted(THIRD_PARTY.items()))
def test_third_party_captures(shared_captures, name, tool):
    scan = largest(tools_of(shared_captures / "scans" / name))
    assert scan.tool.name == tool, scan.tool
    assert_supported(scan.tool)


def test_every_third_party_capture_is_pinned(shared_captures):
    assert {p.name for p in (shared_captures / "scans").iterdir()} == set(THIRD_PARTY)


def test_student_scapy_scripts(shared_captures):
    seen = 0
    for path in sorted((shared_captures / "students").rglob("*.pcap")):
        for scan in tools_of(path):
            assert_supported(scan.tool)
            if scan.scanner in STUDENT_SCANNERS:
                seen += 1
                assert scan.tool.name == "scapy", (path.name, scan.tool)
            else:  # the OS's own DHCP and DNS next to the scan: never taken for a scanner
                assert scan.tool.name in ("os-connect", "unknown"), (path.name, scan.tool)
    assert seen >= 30


def test_student_random_source_ports_still_read_as_scapy(shared_captures):
    path = shared_captures / "students" / "2022-ns-public-BloodyOrangeMan" / "chap0x05" / "pkts" / "syn_OPEN.pcap"
    (scan,) = tools_of(path)
    assert scan.tool.name == "scapy"
    # the default source port is a bonus clue: its absence is not evidence against scapy
    assert not any("source port" in e for e in scan.tool.evidence)
    assert "IP ID 1 on both probes" in scan.tool.evidence


def test_nmap_os_detection_and_background_traffic(shared_captures):
    scans = tools_of(shared_captures / "scans" / "chrissanders+packets__activeosfingerprinting.pcapng")
    assert {s.tool.name for s in scans} <= {"nmap", "unknown"}
    assert any("OS-detection" in e for s in scans for e in s.tool.evidence)
    scans = tools_of(shared_captures / "scans" / "AustinA+PortScanDetector__null15.pcap")
    # keepalive ACKs of the scanning host's browser: no tool claimed
    acks = [s for s in scans if s.technique.value == "ack"]
    assert acks and all(s.tool.name == "unknown" for s in acks)
    assert all(any(e.startswith("TTL") for e in s.tool.evidence) for s in acks)


def test_unknown_lists_the_observed_fields(shared_captures):
    (scan,) = tools_of(shared_captures / "scans" / "chrissanders+packets__ppa1e__portscan.pcap")
    assert scan.tool.name == "unknown" and scan.tool.confidence == 0.0
    text = " | ".join(scan.tool.evidence)
    assert "TTL 64 on all 29 probes" in text and "TCP window 8" in text and "source ports" in text


def test_unicornscan_default_profile_from_synthetic_probes():
    # unicornscan's default fingerprint (init_packet.c, profile 0): TTL 255, window 4128, MSS only
    probes = [pk.tcp(i, "S", sport=40000 + 7 * i, dport=80 + i, seq=1000 * i + 17, ttl=255, window=4128)
              for i in range(1, 6)]
    exchanges, _ = replay(probes)
    guess = identify(exchanges)
    assert guess.name == "unicornscan", guess
    assert "TCP window 4128 on all 5 probes" in guess.evidence


def test_nothing_to_read_is_unknown():
    guess = identify([])
    assert guess.name == "unknown" and guess.confidence == 0.0 and guess.evidence


def test_analyze_json_and_table_carry_the_tool():
    r = CliRunner().invoke(main, ["analyze", "-f", "json", str(TOOLS / "scapy-syn.pcap")])
    assert r.exit_code == 0 and r.stderr == ""
    tool = json.loads(r.stdout)["scans"][0]["tool"]
    assert set(tool) == {"name", "confidence", "evidence"}
    assert tool["name"] == "scapy" and tool["confidence"] == 1.0 and tool["evidence"]
    r = CliRunner().invoke(main, ["analyze", str(TOOLS / "nmap-syn.pcap")])
    assert r.exit_code == 0 and "  tool: nmap (1.00)" in r.stdout
    r = CliRunner().invoke(main, ["analyze", "-f", "markdown", str(TOOLS / "zmap-syn.pcap")])
    assert r.exit_code == 0 and "Tool: zmap (1.00)." in r.stdout


def tools_both_ways(path):
    """Every session's ToolGuess from columns built of its Exchange objects (the
    ordinary path) and from columns built of the fast path's flow tables (every
    session, however small: fp_objects_max=0); None when the fast path declines."""
    _summary, slow, _more = analyze_capture_full(path)
    try:
        _summary, fast, _more = fast_scans.analyze_capture_fast(path, None, fp_objects_max=0)
    except NeedSlowPath:
        return None
    tools = lambda scans: [((s.scanner, s.target, s.technique, s.first_ts), s.tool) for s in scans]  # noqa: E731
    return tools(slow), tools(fast)


@pytest.mark.parametrize("path", OWN_CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_exchange_and_flow_table_columns_give_the_same_guess(path):
    both = tools_both_ways(path)
    if both is None:
        pytest.skip("the fast path declines this capture")
    slow, fast = both
    assert fast == slow  # name, confidence and every evidence sentence


def test_exchange_and_flow_table_columns_agree_on_shared_captures(shared_captures):
    files = sorted(p for p in shared_captures.rglob("*") if p.suffix in (".pcap", ".pcapng", ".gz"))
    compared = 0
    for path in files:
        both = tools_both_ways(path)
        if both is not None:
            slow, fast = both
            assert fast == slow, path.name
            compared += len(slow)
    assert compared >= 100


def pcapscan_probes(technique: Technique, dst: str) -> list:
    """The probes `pcapscan scan` sends (live/scanner.build_probe), one per port, as the capture shows them."""
    from pcapscan.capture.decode import LINKTYPE_RAW, decode_frame
    from pcapscan.live import scanner

    src = "2001:2::1" if ":" in dst else "198.18.0.1"
    rnd = random.Random(7)
    ports = range(53, 58) if technique is Technique.UDP else range(80, 85)
    return [decode_frame(LINKTYPE_RAW, scanner.build_probe(technique, src, dst, 45678, port, rnd.getrandbits(32),
                                                           rnd.getrandbits(32)), i, i * 0.1)
            for i, port in enumerate(ports, 1)]


RAW_LIVE = [t for t in live_techniques() if not REGISTRY[t].os_connect]


@pytest.mark.parametrize("dst", ["198.18.0.2", "2001:2::2"])
@pytest.mark.parametrize("technique", RAW_LIVE, ids=lambda t: t.value)
def test_pcapscan_names_its_own_raw_probes(technique, dst):
    exchanges, _ = replay(pcapscan_probes(technique, dst))
    guess = identify(exchanges)
    if technique is Technique.UDP and ":" in dst:
        # neither mark can be told (IPv6 has no IP ID, UDP no window): the rest never names pcapscan
        assert guess.name != "pcapscan", guess
    else:
        assert (guess.name, guess.confidence) == ("pcapscan", 1.0), guess
        mark = "IP ID 28771" if technique is Technique.UDP else "TCP window 28771"
        assert any(e.startswith(mark) for e in guess.evidence), guess


@pytest.mark.parametrize("technique", [Technique.SYN, Technique.UDP], ids=lambda t: t.value)
def test_pcapscan_without_its_mark_is_not_pcapscan(technique):
    """pcapscan's probes as they were before the mark (a random IP ID, scapy's window 8192): what a
    scapy script with a fixed source port and random sequence numbers sends too."""
    rnd = random.Random(3)
    probes = [replace(p, ip_id=rnd.getrandbits(16), window=8192 if p.proto == "tcp" else 0)
              for p in pcapscan_probes(technique, "198.18.0.2")]
    exchanges, _ = replay(probes)
    assert identify(exchanges).name != "pcapscan"


def test_only_pcapscan_captures_are_named_pcapscan(shared_captures):
    files = OWN_CAPTURES + sorted(p for p in shared_captures.rglob("*") if p.suffix in (".pcap", ".pcapng", ".gz"))
    named = set()
    for path in files:
        _summary, scans, more = analyze_capture_full(path)
        if any(s.tool is not None and s.tool.name == "pcapscan" for s in (*scans, *more.probings)):
            named.add(path.name)
    assert named == {"pcapscan-syn.pcap", "pcapscan-udp.pcap"}
