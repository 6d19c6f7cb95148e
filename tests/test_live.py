"""The live scanner (pcapscan/live/scanner.py) and `pcapscan scan`.

The pure tests need nothing. The others build the seeds' lab in network
namespaces (pcapscan/live/labrun.py: attacker, victim and gateway on a
bridged LAN in 198.18.0.0/24) and run `pcapscan scan` inside the attacker's
namespace; they need root, `ip netns`, nftables and tcpdump and skip, saying
why, where those are missing. Nothing outside those namespaces is scanned.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from livelab import REPO, alive, lab_unavailable, pcapscan_in, unique_name
from pcapscan.analysis import build_scans
from pcapscan.capture import read_packets
from pcapscan.cli import main
from pcapscan.errors import PermissionProblem, UsageError
from pcapscan.fingerprint import PCAPSCAN_IP_ID, PCAPSCAN_WINDOW
from pcapscan.live import labrun, scanner
from pcapscan.live.labmodel import EXPECTED, STATES, port_of
from pcapscan.model import ACK, RST, SYN, Technique
from pcapscan.techniques import REGISTRY, live_techniques

UNAVAILABLE = lab_unavailable()
_skip_without_lab = pytest.mark.skipif(UNAVAILABLE is not None, reason=str(UNAVAILABLE))


def needs_lab(test):
    """Marked `lab` (pyproject's marker: `-m "not lab"` leaves these out) and
    skipped, with the reason, where root, `ip netns` or a tool is missing."""
    return pytest.mark.lab(_skip_without_lab(test))
TECHNIQUES = [t.value for t in live_techniques()]
TIMEOUT = "0.5"


# -- pure ----------------------------------------------------------------------------

def test_importing_the_scanner_does_not_import_scapy():
    code = "import sys, pcapscan.live.scanner, pcapscan.cli; print(any(m.startswith('scapy') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("spec,proto,ports", [
    ("22,80,8000-8003", "tcp", [22, 80, 8000, 8001, 8002, 8003]),
    ("80, 80,81", "tcp", [80, 81]),
    ("U:53,161,T:80-81", "udp", [53, 161]),
    ("U:53,161,T:80-81", "tcp", [80, 81]),
    ("T:80,U:53,54", "udp", [53, 54]),
    ("-5", "tcp", [1, 2, 3, 4, 5]),
    ("65534-", "udp", [65534, 65535]),
])
def test_parse_ports(spec, proto, ports):
    assert scanner.parse_ports(spec, proto) == ports


@pytest.mark.parametrize("spec", ["", "0", "70000", "80-22", "http", "U:53"])
def test_parse_ports_rejects(spec):
    with pytest.raises(UsageError):
        scanner.parse_ports(spec, "tcp")


def test_all_ports():
    assert len(scanner.parse_ports("-", "tcp")) == 65535


def test_udp_payloads_are_what_the_services_expect():
    from scapy.layers.dns import DNS
    from scapy.layers.netbios import NBNSHeader
    from scapy.layers.ntp import NTP
    from scapy.layers.snmp import SNMP

    dns = DNS(scanner.UDP_PAYLOADS[53])
    assert dns.qr == 0 and dns.opcode == 0 and dns.qdcount == 1 and dns.qd[0].qtype == 2  # NS of the root
    ntp = NTP(scanner.UDP_PAYLOADS[123])
    assert len(scanner.UDP_PAYLOADS[123]) == 48 and ntp.version == 4 and ntp.mode == 3
    snmp = SNMP(scanner.UDP_PAYLOADS[161])
    assert snmp.community.val == b"public" and snmp.PDU.varbindlist[0].oid.val == "1.3.6.1.2.1.1.1.0"
    nb = NBNSHeader(scanner.UDP_PAYLOADS[137])
    assert nb.QDCOUNT == 1 and scanner.UDP_PAYLOADS[137].endswith(b"\x00\x21\x00\x01")  # NBSTAT, IN


@pytest.mark.parametrize("tech,flags", [("syn", "S"), ("fin", "F"), ("xmas", "FPU"), ("null", ""), ("ack", "A"),
                                        ("window", "A"), ("maimon", "FA")])
def test_raw_probes_have_the_techniques_flags(tech, flags):
    from pcapscan.capture.decode import LINKTYPE_RAW, decode_frame
    from pcapscan.model import flag_letters

    data = scanner.build_probe(Technique(tech), "198.18.0.1", "198.18.0.2", 40000, 80, 1234, 5678)
    pkt = decode_frame(LINKTYPE_RAW, data, 1, 0.0)
    assert (pkt.src, pkt.dst, pkt.sport, pkt.dport, pkt.seq) == ("198.18.0.1", "198.18.0.2", 40000, 80, 1234)
    assert flag_letters(pkt.flags) == flags and pkt.ack == (5678 if "A" in flags else 0)
    # pcapscan's mark, by which fingerprint.py tells its probes from a scapy script's
    assert (pkt.ip_id, pkt.window, pkt.options, pkt.ttl) == (PCAPSCAN_IP_ID, PCAPSCAN_WINDOW, (), 64)
    v6 = decode_frame(LINKTYPE_RAW, scanner.build_probe(Technique(tech), "2001:2::1", "2001:2::2", 40000, 80, 1,
                                                        2), 1, 0.0)
    assert v6.ip_version == 6 and flag_letters(v6.flags) == flags and v6.window == PCAPSCAN_WINDOW


def test_udp_probe_carries_the_payload():
    from pcapscan.capture.decode import LINKTYPE_RAW, decode_frame

    pkt = decode_frame(LINKTYPE_RAW, scanner.build_probe(Technique.UDP, "198.18.0.1", "198.18.0.2", 40000, 53, 0,
                                                         0), 1, 0.0)
    assert pkt.proto == "udp" and pkt.payload_len == len(scanner.UDP_PAYLOADS[53])
    assert pkt.ip_id == PCAPSCAN_IP_ID
    empty = decode_frame(LINKTYPE_RAW, scanner.build_probe(Technique.UDP, "198.18.0.1", "198.18.0.2", 40000, 54,
                                                           0, 0), 1, 0.0)
    assert empty.payload_len == 0


def test_tracker_marks_a_probe_answered_only_by_a_real_answer():
    from pcapscan.capture.decode import LINKTYPE_RAW, decode_frame
    from pcapscan.model import Packet

    tr = scanner._Tracker("tcp", 40000, {"198.18.0.2"})
    probe = decode_frame(LINKTYPE_RAW, scanner.build_probe(Technique.SYN, "198.18.0.1", "198.18.0.2", 40000, 80,
                                                           1000, 0), 1, 0.0)
    tr.sent(("198.18.0.2", 80), probe)
    wrong = Packet(2, 0.1, "198.18.0.2", "198.18.0.1", "tcp", sport=80, dport=40000, flags=SYN | ACK, ack=5)
    tr.observe(wrong)
    assert tr.drain() == []
    right = Packet(3, 0.1, "198.18.0.2", "198.18.0.1", "tcp", sport=80, dport=40000, flags=SYN | ACK, ack=1001)
    tr.observe(right)
    tr.observe(right)
    assert tr.drain() == [("198.18.0.2", 80)]


def test_connect_results_without_a_recording_classify_like_the_analyzer():
    import errno

    A = scanner._Attempt
    attempts = [A("198.18.0.2", 80, "198.18.0.1", 50001, 1.0, 1.1, 0),
                A("198.18.0.2", 81, "198.18.0.1", 50002, 1.0, 1.1, errno.ECONNREFUSED),
                A("198.18.0.2", 82, "198.18.0.1", 50003, 1.0, 2.0, None),
                A("198.18.0.2", 82, "198.18.0.1", 50006, 2.0, 3.0, None),
                A("198.18.0.2", 83, "198.18.0.1", 50004, 1.0, 1.1, errno.EHOSTUNREACH),
                A("2001:2::2", 83, "2001:2::1", 50005, 1.0, 1.1, errno.EACCES)]
    exchanges, _frames = scanner._synthesized_exchanges(attempts)
    scans = build_scans("live", exchanges, Technique.CONNECT)
    got = {(s.target, p.port): (p.state.value, p.verdict.reason.value, len(p.exchange.probes))
           for s in scans for p in s.ports}
    assert got == {("198.18.0.2", 80): ("open", "syn-ack", 1), ("198.18.0.2", 81): ("closed", "conn-refused", 1),
                   ("198.18.0.2", 82): ("filtered", "no-response", 2),
                   ("198.18.0.2", 83): ("filtered", "host-unreach", 1),
                   ("2001:2::2", 83): ("filtered", "admin-prohibited", 1)}


def test_without_cap_net_raw_raw_techniques_are_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(scanner, "_has_cap_net_raw", lambda: False)
    with pytest.raises(PermissionProblem, match="CAP_NET_RAW"):
        scanner.scan("198.18.0.2", "80", "syn")
    with pytest.raises(PermissionProblem, match="recording"):
        scanner.scan("198.18.0.2", "80", "connect", record="/nonexistent/x.pcap")
    r = CliRunner().invoke(main, ["scan", "198.18.0.2", "-p", "80", "--technique", "xmas"])
    assert r.exit_code == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "root or CAP_NET_RAW" in r.stderr


def test_bad_numbers_are_usage_errors():
    with pytest.raises(UsageError):
        scanner.scan("198.18.0.2", "80", "syn", timeout=0)
    with pytest.raises(UsageError):
        scanner.scan("198.18.0.2", "80", "syn", retries=-1)
    with pytest.raises(UsageError):
        scanner.scan("198.18.0.2", "80", "bogus")
    with pytest.raises(UsageError):
        scanner._Pacer(-3.0)
    r = CliRunner().invoke(main, ["scan", "198.18.0.2", "-p", "99999"])
    assert r.exit_code == 2 and "bad port list" in r.stderr


# -- in the lab ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def seedlab(tmp_path_factory):
    state = tmp_path_factory.mktemp("labstate") / "lab.json"
    cfg = labrun.LabConfig.make(name=unique_name("pcl"))
    st = labrun.up(cfg, state)
    lab = labrun.lab_for(cfg, st["namespaces"])
    try:
        yield lab, cfg
    finally:
        labrun.down(state)
    from pcapscan.live.netns import list_netns

    assert not set(cfg.namespaces) & set(list_netns())
    assert all(not alive(pid) for pid in st["listeners"])


def _ports(proto):
    return ",".join(str(port_of(proto, s)) for s in STATES)


def _scan(seedlab, technique, *extra, prefix=()):
    lab, cfg = seedlab
    proto = REGISTRY[Technique(technique)].proto
    return pcapscan_in(lab, "scanner", ["scan", cfg.victim, "-p", _ports(proto), "--technique", technique,
                                        "--timeout", TIMEOUT, *extra], prefix=prefix)


@needs_lab
@pytest.mark.parametrize("technique", TECHNIQUES)
def test_live_scan_gives_the_expected_states_and_analyze_agrees(seedlab, technique, tmp_path):
    lab, cfg = seedlab
    rec = tmp_path / f"{technique}.pcap"
    p = _scan(seedlab, technique, "--record", rec, "--format", "json")
    assert p.returncode == 0, p.stderr
    live = json.loads(p.stdout)
    [scan] = live["scans"]
    assert (scan["scanner"], scan["target"], scan["technique"]) == (cfg.attacker, cfg.victim, technique)
    proto = REGISTRY[Technique(technique)].proto
    states = {pt["port"]: pt["state"] for pt in scan["ports"]}
    assert states == {port_of(proto, s): EXPECTED[technique][s] for s in STATES}

    # `pcapscan analyze` of the recording says exactly the same, port for port (ACK and window
    # probes are identical on the wire: a window scan is read with --technique window).
    args = ["analyze", str(rec), "--format", "json"] + (["--technique", "window"] if technique == "window" else [])
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.stderr
    [again] = json.loads(r.stdout)["scans"]
    assert again["technique"] == technique
    assert again["ports"] == scan["ports"]
    assert set(again) == set(scan)  # the same JSON shape as analyze
    assert set(json.loads(r.stdout)) == set(live)


@needs_lab
def test_connect_scan_completes_the_handshake(seedlab, tmp_path):
    lab, cfg = seedlab
    rec = tmp_path / "connect.pcap"
    p = pcapscan_in(lab, "scanner", ["scan", cfg.victim, "-p", "80", "--technique", "connect", "--record", rec])
    assert p.returncode == 0, p.stderr
    assert "80/tcp" in p.stdout and " open " in p.stdout
    pkts = list(read_packets(str(rec)))
    syn = next(x for x in pkts if x.src == cfg.attacker and x.dport == 80 and x.flags == SYN)
    synack = next(x for x in pkts if x.src == cfg.victim and x.sport == 80 and x.flags == SYN | ACK)
    assert synack.ack == syn.seq + 1
    acks = [x for x in pkts if x.src == cfg.attacker and x.sport == syn.sport and x.flags == ACK
            and x.frame > synack.frame]
    assert acks and acks[0].ack == synack.seq + 1  # the third step of the handshake, from the scanner's kernel
    assert any(x.src == cfg.attacker and x.flags & RST for x in pkts if x.frame > acks[0].frame)  # closed with RST


@needs_lab
def test_retries_only_for_unanswered_probes(seedlab):
    p = _scan(seedlab, "syn", "--retries", "2", "--format", "json")
    assert p.returncode == 0, p.stderr
    ports = {pt["port"]: pt for pt in json.loads(p.stdout)["scans"][0]["ports"]}
    assert ports[port_of("tcp", "filtered")]["retries"] == 2
    assert ports[port_of("tcp", "filtered")]["state"] == "filtered"
    for s in ("open", "closed", "admin-prohibited", "port-unreachable"):
        assert ports[port_of("tcp", s)]["retries"] == 0


@needs_lab
def test_rate_limit_spaces_the_probes(seedlab, tmp_path):
    rec = tmp_path / "rate.pcap"
    t0 = time.monotonic()
    p = _scan(seedlab, "syn", "--rate", "10", "--retries", "0", "--record", rec)
    assert p.returncode == 0, p.stderr
    lab, cfg = seedlab
    probes = [x.ts for x in read_packets(str(rec)) if x.src == cfg.attacker and x.flags == SYN]
    assert len(probes) == 5
    gaps = [b - a for a, b in zip(probes, probes[1:])]
    assert min(gaps) >= 0.05, gaps  # 0.1 s apart, give or take a busy machine's scheduling
    assert probes[-1] - probes[0] >= 0.38, gaps
    assert time.monotonic() - t0 >= 0.4


@needs_lab
def test_progress_callback(seedlab):
    lab, cfg = seedlab
    code = ("import sys; from pcapscan.live.scanner import scan; calls = []\n"
            f"scan({cfg.victim!r}, '80-84', 'fin', timeout=0.3, retries=0, progress=lambda d, t: calls.append((d, t)))\n"
            "print(calls)")
    from livelab import env

    out = lab.exec("scanner", [sys.executable, "-c", code], env=env(), timeout=60).stdout
    calls = ast.literal_eval(out)
    assert calls[0] == (0, 5) and calls[-1] == (5, 5)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


@needs_lab
def test_output_formats(seedlab):
    lab, cfg = seedlab
    for fmt, marker in (("table", "81/tcp"), ("csv", "capture,scanner,target"), ("markdown", "| port"),
                        ("nmap-xml", "<nmaprun")):
        p = pcapscan_in(lab, "scanner", ["scan", cfg.victim, "-p", "80,81", "--technique", "syn", "--timeout",
                                         TIMEOUT, "--format", fmt])
        assert p.returncode == 0 and marker in p.stdout, (fmt, p.stdout, p.stderr)
        assert p.stderr == ""  # no progress bar when stderr is not a terminal


@needs_lab
def test_without_cap_net_raw(seedlab, tmp_path):
    """uid 0 with CAP_NET_RAW dropped from the bounding set: raw techniques and
    recording are refused in one line, exit 2; connect works."""
    lab, cfg = seedlab
    drop = ["setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw"]
    if subprocess.run(["which", "setpriv"], capture_output=True).returncode:
        pytest.skip("setpriv (util-linux) is not installed")
    p = pcapscan_in(lab, "scanner", ["scan", cfg.victim, "-p", "80", "--technique", "syn"], prefix=drop)
    assert p.returncode == 2 and p.stdout == ""
    assert len(p.stderr.strip().splitlines()) == 1 and "CAP_NET_RAW" in p.stderr
    p = pcapscan_in(lab, "scanner", ["scan", cfg.victim, "-p", "80", "--technique", "connect", "--record",
                                     tmp_path / "x.pcap"], prefix=drop)
    assert p.returncode == 2 and "recording" in p.stderr
    p = pcapscan_in(lab, "scanner", ["scan", cfg.victim, "-p", _ports("tcp"), "--technique", "connect",
                                     "--timeout", TIMEOUT, "--format", "json"], prefix=drop)
    assert p.returncode == 0, p.stderr
    states = {pt["port"]: (pt["state"], pt["reason"]) for pt in json.loads(p.stdout)["scans"][0]["ports"]}
    assert states == {80: ("open", "syn-ack"), 81: ("closed", "conn-refused"), 82: ("filtered", "no-response"),
                      83: ("filtered", "host-unreach"), 84: ("closed", "conn-refused")}


@needs_lab
@pytest.mark.parametrize("target,technique", [
    ("8.8.8.8", "syn"),
    ("8.8.8.8", "connect"),
    ("2606:4700:4700::1111", "syn"),
    ("::ffff:8.8.8.8", "connect"),
    ("134744072", "syn"),  # 8.8.8.8 spelled as one number: resolved by the system resolver, then refused
    ("8.8.8.0/30", "udp"),
    ("198.18.0.0/14", "syn"),  # a range that includes public addresses (198.16.0.0/15)
    ("198.18.0.250-198.20.0.3", "connect"),
])
def test_refused_scan_sends_nothing(seedlab, tmp_path, target, technique):
    """The CLI, inside the attacker's namespace, while tcpdump records that
    namespace's interface: refused, and the capture stays empty."""
    lab, cfg = seedlab
    pcap = tmp_path / "refused.pcap"
    rec = lab.recorder(pcap, bpf="")  # everything on the interface, not only the lab hosts
    rec.start()
    try:
        time.sleep(0.2)
        p = pcapscan_in(lab, "scanner", ["scan", target, "-p", "53,80", "--technique", technique])
        time.sleep(0.5)
    finally:
        rec.stop()
    assert p.returncode == 2, p.stdout + p.stderr
    assert p.stdout == ""
    assert p.stderr.startswith("pcapscan: refusing to scan") and len(p.stderr.strip().splitlines()) == 1
    # nothing from the scanner: the interfaces' own housekeeping may come at any moment (IGMP and
    # MLD reports, router solicitations: to multicast groups; neighbour discovery from link-local;
    # the victim's kernel checking the attacker's ARP entry after earlier tests, and the answer)
    from pcapscan.exchanges import is_group_address

    def housekeeping(pk):
        if pk.proto == "arp":
            return pk.icmp_type == 2 or pk.src != cfg.attacker  # a reply, or another host's question
        return is_group_address(pk.dst) or (pk.proto == "icmp6" and (pk.src.startswith("fe80:") or pk.src == "::"))

    sent = [pk for pk in read_packets(str(pcap), arp=True) if not housekeeping(pk)]
    assert sent == [], sent


@needs_lab
@pytest.mark.parametrize("target,technique", [("127.0.0.1", "syn"), ("localhost", "udp"), ("198.18.0.101", "syn")])
def test_own_addresses_over_loopback(seedlab, tmp_path, target, technique):
    """The scanner's own addresses go over loopback, which shows every packet
    twice to a packet socket: recorded once, and analyze agrees."""
    lab, cfg = seedlab
    target = cfg.attacker if target == "198.18.0.101" else target
    rec = tmp_path / "lo.pcap"
    p = pcapscan_in(lab, "scanner", ["scan", target, "-p", "1,2", "--technique", technique, "--timeout", TIMEOUT,
                                     "--format", "json", "--record", rec])
    assert p.returncode == 0, p.stderr
    [scan] = json.loads(p.stdout)["scans"]
    assert [pt["state"] for pt in scan["ports"]] == ["closed", "closed"]
    assert scan["target"] == (cfg.attacker if target == cfg.attacker else "127.0.0.1")
    assert len(list(read_packets(str(rec)))) == 4  # two probes, two answers: no duplicates
    r = CliRunner().invoke(main, ["analyze", str(rec), "--format", "json"])
    assert json.loads(r.stdout)["scans"][0]["ports"] == scan["ports"]


@pytest.fixture(scope="module")
def lab6():
    from pcapscan.live.netns import GOLDEN_PLAN, Lab

    lab = Lab(prefix=f"pcl6{unique_name('')}"[:10])
    try:
        lab.up()
        lab.setup_plan(GOLDEN_PLAN)
        yield lab
    finally:
        lab.down()


@needs_lab
@pytest.mark.parametrize("technique,ports,expected", [
    ("syn", "80-84", ["open", "closed", "filtered", "filtered", "filtered"]),
    ("udp", "53-57", ["open", "closed", "open|filtered", "filtered", "closed"]),
    ("connect", "80-84", ["open", "closed", "filtered", "filtered", "closed"]),
])
def test_ipv6(lab6, technique, ports, expected, tmp_path):
    rec = tmp_path / "v6.pcap"
    p = pcapscan_in(lab6, "scanner", ["scan", lab6.target_addr6, "-p", ports, "--technique", technique,
                                      "--timeout", TIMEOUT, "--format", "json", "--record", rec])
    assert p.returncode == 0, p.stderr
    [scan] = json.loads(p.stdout)["scans"]
    assert scan["target"] == lab6.target_addr6
    assert [pt["state"] for pt in scan["ports"]] == expected
    r = CliRunner().invoke(main, ["analyze", str(rec), "--format", "json"])
    assert json.loads(r.stdout)["scans"][0]["ports"] == scan["ports"]
