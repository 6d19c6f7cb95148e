"""pcapscan verify: every rule on the smallest exchange that shows it (Packet
fixtures), silence on nmap's golden captures, each seed mistake named on the
seed scripts' own captures, and what the students' captures really show."""
from pathlib import Path

import pytest

import pcapbuild as pb
from packets import ROUTER, SCANNER, TARGET, icmp_unreach, reply_to, tcp, udp
from pcapscan.claims import load_expectations
from pcapscan.errors import InputError, UsageError
from pcapscan.messages import LANGS, MESSAGES
from pcapscan.model import Packet, State, Technique
from pcapscan.verify import RULES, relation, verify, verify_packets

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "captures" / "golden"
SEEDS = ROOT / "captures" / "seeds"
STUDENTS = Path(__file__).resolve().parents[1].parent / "shared" / "captures" / "students"
OS_OPTIONS = (2, 4, 8, 1, 3)  # MSS, SACK permitted, timestamps, NOP, window scale: a connect()'s SYN


def rules_of(result, severity=None):
    return sorted({f.rule for f in result.findings if severity is None or f.severity == severity})


def only(result, rule):
    found = [f for f in result.findings if f.rule == rule]
    assert len(found) == 1, result.findings
    return found[0]


def kernel_rst(frame, synack):
    """What Linux sends for a SYN/ACK that matches no socket."""
    return tcp(frame, "R", sport=synack.dport, dport=synack.sport, seq=synack.ack, window=0, options=())


def scapy_syn(frame, dport=80, sport=40000):
    """scapy's TCP(flags="S") defaults: seq 0, window 8192, no options."""
    return tcp(frame, "S", sport=sport, dport=dport, seq=0, window=8192, options=())


def raw_syn_open(dport=80):
    """A raw-socket SYN to an open port: SYN, SYN/ACK, the kernel's RST."""
    syn = scapy_syn(1, dport)
    sa = reply_to(2, syn, "SA", window=64240)
    return [syn, sa, kernel_rst(3, sa)]


# -- claims ----------------------------------------------------------------------

# (claim strings and file names: tests/test_claims.py)


def test_expectations_in_both_toml_spellings_with_globs_relative_to_the_file(tmp_path):
    (tmp_path / "lab").mkdir()
    for name in ("a-open.pcap", "b-closed.pcap", "c-closed.pcap"):
        (tmp_path / "lab" / name).write_bytes(pb.pcap_bytes([]))
    toml = tmp_path / "expect.toml"
    toml.write_text('[[capture]]\npath = "lab/a-open.pcap"\nclaims = ["syn:open:80"]\n\n'
                    '[claims]\n"lab/*-closed.pcap" = "stealth:closed"\n"a-open.pcap" = [{technique = "fin", '
                    'state = "open|filtered"}]\n')
    expect = load_expectations(toml)
    a = str(tmp_path / "lab" / "a-open.pcap")
    assert [str(c) for c in expect.claims_for(a)] == ["syn:open:80", "fin:open|filtered"]
    assert [str(c) for c in expect.claims_for(str(tmp_path / "lab" / "c-closed.pcap"))] == ["syn:closed"]
    assert [Path(p).name for p in expect.captures()] == ["a-open.pcap", "b-closed.pcap", "c-closed.pcap"]


@pytest.mark.parametrize("body, says", [
    ("[[capture]]\nclaims = ['syn:open']\n", "has no path"),
    ("[claims]\n'x.pcap' = ['syn:wide-open']\n", "unknown port state"),
    ("[claimz]\n", "unknown key"),
    ("[claims\n", "not valid TOML"),
])
def test_bad_expectation_files_are_usage_errors(tmp_path, body, says):
    toml = tmp_path / "e.toml"
    toml.write_text(body)
    with pytest.raises(UsageError, match=says):
        load_expectations(toml)


def test_a_missing_expectation_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such expectations file"):
        load_expectations(tmp_path / "nope.toml")


@pytest.mark.parametrize("claimed, got, reason, rel", [
    (State.OPEN, State.OPEN, None, "match"),
    (State.OPEN, State.OPEN_FILTERED, None, "overclaim"),
    (State.FILTERED, State.OPEN_FILTERED, None, "overclaim"),
    (State.OPEN, State.UNFILTERED, None, "overclaim"),
    (State.OPEN_FILTERED, State.OPEN, None, "underclaim"),
    (State.FILTERED, State.CLOSED, "reset", "reject"),
    (State.FILTERED, State.CLOSED, "port-unreach", "reject"),
    (State.OPEN, State.CLOSED, "reset", "mismatch"),
    (State.CLOSED, State.OPEN_FILTERED, None, "mismatch"),
])
def test_claimed_state_against_evidence(claimed, got, reason, rel):
    from pcapscan.model import Reason

    assert relation(claimed, got, Reason(reason) if reason else None) == rel


# -- every rule on the smallest exchange that shows it -----------------------------

def test_kernel_rst_is_info_for_a_syn_scan():
    result = verify_packets(raw_syn_open())
    f = only(result, "kernel-rst")
    assert f.severity == "info" and f.frames == (2, 3) and f.port == 80
    assert result.verdict == "conforms"
    assert "window 0" in f.message and "kernel" in f.message


def test_a_scapy_connect_scan_never_completes_the_handshake():
    syn = scapy_syn(1)
    sa = reply_to(2, syn, "SA", window=64240)
    ar = tcp(4, "RA", sport=51000, dport=80, seq=0, ack=0, window=8192, options=())  # RandShort() re-drawn
    result = verify_packets([syn, sa, kernel_rst(3, sa), ar], claims=["connect:open"])
    f = only(result, "handshake-incomplete")
    assert f.severity == "error" and f.frames == (2, 3, 4)
    assert "kernel reset the connection" in f.message and "another source port (51000)" in f.message
    assert result.verdict == "violates"
    assert "kernel-rst" not in rules_of(result)  # told inside handshake-incomplete


def test_an_ack_with_the_wrong_number_does_not_complete_the_handshake():
    syn = scapy_syn(1)
    sa = reply_to(2, syn, "SA", window=64240, seq=7000)
    bad_ack = tcp(4, "A", seq=1, ack=1056057888, window=8192, options=())
    f = only(verify_packets([syn, sa, kernel_rst(3, sa), bad_ack], claims=["connect:open"]), "handshake-incomplete")
    assert "acknowledges 1056057888 instead of 7001" in f.message


def test_an_ack_after_the_kernels_rst_completes_nothing():
    """Read in packet order: the kernel's RST (frame 3) left before the script's
    ACK (frame 4), so the target answers the late ACK with RST (frame 5). The
    ACK's number is right, yet no handshake was completed."""
    syn = scapy_syn(1)
    sa = reply_to(2, syn, "SA", window=64240, seq=7000)
    late_ack = tcp(4, "A", sport=40000, seq=1, ack=7001, window=8192, options=())
    gone = tcp(5, "R", sport=80, dport=40000, src=TARGET, dst=SCANNER, seq=7001, window=0, options=())
    result = verify_packets([syn, sa, kernel_rst(3, sa), late_ack, gone], claims=["connect:open"])
    f = only(result, "handshake-incomplete")
    assert f.frames == (2, 3, 4, 5) and result.verdict == "violates"
    assert "after the kernel's RST" in f.message and "answered that ACK with RST in frame 5" in f.message
    # the same packets with the ACK first are a completed handshake
    in_order = [syn, sa, tcp(3, "A", sport=40000, seq=1, ack=7001, window=8192, options=()), kernel_rst(4, sa)]
    assert "handshake-incomplete" not in rules_of(verify_packets(in_order, claims=["connect:open"]))


def test_a_real_connect_conforms_and_is_not_a_syn_scan():
    syn = tcp(1, "S", seq=100, window=64240, options=OS_OPTIONS)
    sa = reply_to(2, syn, "SA", window=65160, seq=9000)
    ack = tcp(3, "A", seq=101, ack=9001, window=502, options=())
    close = tcp(4, "RA", seq=101, ack=9001, window=502, options=())
    assert verify_packets([syn, sa, ack, close], claims=["connect:open"]).findings == ()
    f = only(verify_packets([syn, sa, ack, close], claims=["stealth:open"]), "handshake-completed")
    assert f.severity == "error" and f.frames == (3,)


def test_rst_from_another_source_port_belongs_to_no_connection():
    pkts = raw_syn_open() + [tcp(4, "R", sport=6131, seq=0, window=8192, options=())]
    f = only(verify_packets(pkts), "rst-port-mismatch")
    assert f.severity == "warning" and f.frames == (1, 4)
    assert "source port 6131" in f.message and "40000" in f.message


def test_rst_with_scapys_default_seq_is_out_of_window():
    pkts = raw_syn_open() + [tcp(4, "R", seq=0, window=8192, options=())]
    f = only(verify_packets(pkts), "rst-out-of-window")
    assert f.frames == (2, 4) and "carries 0" in f.message and "that is 1" in f.message


def test_nmaps_own_rst_is_in_window():
    syn = tcp(1, "S", seq=50, options=(2,))
    sa = reply_to(2, syn, "SA")
    assert rules_of(verify_packets([syn, sa, kernel_rst(3, sa)])) == ["kernel-rst"]


def test_probes_of_another_technique():
    syn = scapy_syn(1)
    f = only(verify_packets([syn], claims=["null:filtered"]), "probe-flags-mismatch")
    assert f.severity == "error" and "SYN" in f.message and "NULL scan" in f.message
    f = only(verify_packets([udp(1, dport=53)], claims=["syn:open:53"]), "probe-flags-mismatch")
    assert "UDP datagrams" in f.message


def test_probes_that_fit_no_technique():
    f = only(verify_packets([tcp(1, "SF")]), "probe-flags-mismatch")
    assert f.severity == "warning" and "SYN/FIN" in f.message


def test_state_mismatch():
    syn = tcp(1, "S")
    f = only(verify_packets([syn, reply_to(2, syn, "RA", seq=0)], claims=["syn:open:80"]), "state-mismatch")
    assert f.severity == "error" and "closed" in f.message and "RST/ACK in frame 2" in f.message


@pytest.mark.parametrize("probe, claim", [
    (tcp(1, "F"), "fin:open"),
    (tcp(1, "FPU"), "xmas:filtered"),
    (udp(1, dport=161), "udp:open"),
])
def test_silence_supports_only_open_or_filtered(probe, claim):
    f = only(verify_packets([probe], claims=[claim]), "state-overclaim")
    assert f.severity == "error" and "open|filtered" in f.message


def test_an_ack_scan_cannot_say_open():
    probe = tcp(1, "A", ack=777)
    f = only(verify_packets([probe, reply_to(2, probe, "R")], claims=["ack:open"]), "state-overclaim")
    assert "unfiltered" in f.message


def test_a_wider_claim_is_only_a_note():
    probe = udp(1, dport=53)
    answer = udp(2, sport=53, dport=40000, src=TARGET, dst=SCANNER, payload=9)
    result = verify_packets([probe, answer], claims=["udp:open|filtered"])
    assert only(result, "state-underclaim").severity == "info" and result.verdict == "conforms"


def test_one_port_bearing_a_claim_out_is_enough():
    a, b = tcp(1, "S", dport=80), tcp(3, "S", dport=53)
    pkts = [a, reply_to(2, a, "RA", seq=0), b, reply_to(4, b, "SA"), kernel_rst(5, reply_to(4, b, "SA"))]
    assert rules_of(verify_packets(pkts, claims=["syn:closed"]), "error") == []
    assert rules_of(verify_packets(pkts, claims=["syn:closed:53"]), "error") == ["state-mismatch"]


def test_no_probe_to_the_claimed_port():
    f = only(verify_packets([tcp(1, "S", dport=80)], claims=["syn:open:443"]), "no-probe")
    assert f.severity == "error" and f.port == 443 and "80/tcp" in f.message


def test_no_probe_at_all():
    ping = Packet(frame=1, ts=0.1, src=SCANNER, dst=TARGET, proto="icmp", icmp_type=8, icmp_code=0)
    assert only(verify_packets([ping], claims=["syn:open"]), "no-probe").severity == "error"
    assert only(verify_packets([ping]), "no-probe").severity == "warning"


def test_empty_capture(tmp_path):
    assert only(verify_packets([]), "empty-capture").severity == "error"
    empty = tmp_path / "null_OPEN.pcap"
    empty.write_bytes(pb.pcap_bytes([]))
    result = verify(str(empty), claims=["null:open"])
    assert rules_of(result) == ["empty-capture"] and result.verdict == "violates"


def test_rfc793_deviation_against_the_nearest_syn_evidence():
    syn = tcp(1, "S", dport=80)
    sa = reply_to(2, syn, "SA")
    xmas = tcp(4, "FPU", sport=40001, dport=80)
    pkts = [syn, sa, kernel_rst(3, sa), xmas, reply_to(5, xmas, "RA", seq=0)]
    f = only(verify_packets(pkts), "rfc793-deviation")
    assert f.severity == "warning" and f.frames == (4, 5) and "open" in f.message
    # The lab closed the port in between: a later SYN scan saw it closed.
    syn2 = tcp(6, "S", sport=40002, dport=80, ts=1.1)
    later = pkts[:3] + [syn2, reply_to(7, syn2, "RA", seq=0), tcp(8, "FPU", sport=40003, dport=80, ts=1.5)]
    later.append(reply_to(9, later[-1], "RA", seq=0))
    assert "rfc793-deviation" not in rules_of(verify_packets(later))


def test_a_bare_rst_to_a_syn_breaks_rfc793():
    syn = tcp(1, "S", seq=1000)
    bare = tcp(2, "R", sport=80, dport=40000, src=TARGET, dst=SCANNER, seq=0, window=0, options=())
    f = only(verify_packets([syn, bare]), "reset-flags")
    assert "without the ACK flag" in f.message and "did not take it as the answer" in f.message


def test_a_rst_ack_to_an_ack_probe_breaks_rfc793():
    probe = tcp(1, "A", ack=777)
    rst_ack = tcp(2, "RA", sport=80, dport=40000, src=TARGET, dst=SCANNER, seq=777, ack=1000, window=0)
    assert "with the ACK flag set" in only(verify_packets([probe, rst_ack]), "reset-flags").message


def test_rfc793_resets_pass():
    probes = [tcp(1, "S", dport=81), tcp(3, "F", dport=82), tcp(5, "A", dport=83, ack=9), tcp(7, "", dport=84)]
    pkts = []
    for p in probes:
        pkts += [p, reply_to(p.frame + 1, p, "R" if "A" in p.flag_text else "RA", seq=0)]
    assert "reset-flags" not in rules_of(verify_packets(pkts))


def test_a_reject_rule_is_not_a_filter():
    syn = tcp(1, "S", dport=84)
    result = verify_packets([syn, reply_to(2, syn, "RA", seq=0)], claims=["syn:filtered:84"])
    f = only(result, "filter-simulated-as-reject")
    assert f.severity == "error" and "drop" in f.message
    probe = udp(1, dport=57)
    result = verify_packets([probe, icmp_unreach(2, 3, probe)], claims=["udp:filtered"])
    assert rules_of(result, "error") == ["filter-simulated-as-reject"]  # not also state-mismatch


def test_icmp_port_unreachable_to_tcp_is_a_reject_rule_note():
    syn = tcp(1, "S", dport=84)
    result = verify_packets([syn, icmp_unreach(2, 3, syn)])
    assert only(result, "filter-simulated-as-reject").severity == "info"
    result = verify_packets([syn, icmp_unreach(2, 3, syn)], claims=["connect:filtered:84"])
    assert only(result, "filter-simulated-as-reject").severity == "error"


def test_icmp_answer_to_a_scapy_probe_is_what_the_seeds_code_ignores():
    syn = scapy_syn(1, dport=83)
    f = only(verify_packets([syn, icmp_unreach(2, 13, syn)]), "icmp-ignored")
    assert f.severity == "info" and "getlayer(TCP).type" in f.message and "filtered" in f.message
    nmap_syn = tcp(1, "S", dport=83, window=1024, options=(2,))
    assert "icmp-ignored" not in rules_of(verify_packets([nmap_syn, icmp_unreach(2, 13, nmap_syn)]))
    router = icmp_unreach(2, 13, syn, src=ROUTER)
    assert ROUTER in only(verify_packets([syn, router]), "icmp-ignored").message


def test_every_rule_has_doc_and_words_in_every_language():
    assert set(RULES) >= {"kernel-rst", "handshake-incomplete", "rst-port-mismatch", "probe-flags-mismatch",
                          "state-mismatch", "state-overclaim", "no-probe", "empty-capture", "rfc793-deviation",
                          "reset-flags", "filter-simulated-as-reject", "icmp-ignored", "rst-out-of-window"}
    for rule_id, r in RULES.items():
        assert r.doc, rule_id
        assert any(key == rule_id or key.startswith(rule_id + ".") for key in MESSAGES), rule_id
    for key, texts in MESSAGES.items():
        assert set(texts) == set(LANGS), key


def test_findings_in_chinese():
    syn = scapy_syn(1)
    f = only(verify_packets([syn], claims=["null:filtered"], lang="zh"), "probe-flags-mismatch")
    assert "NULL 扫描" in f.message and "第 1 帧" in f.message
    with pytest.raises(UsageError):
        verify_packets([syn], lang="fr")


# -- nmap's golden captures conform ---------------------------------------------------

GOLDEN_PCAPS = sorted(GOLDEN.glob("*.pcap"))
NMAP_STATES = {  # what nmap said (captures/golden/README.md)
    "syn": {80: "open", 81: "closed", 82: "filtered", 83: "filtered", 84: "filtered"},
    "fin": {80: "open|filtered", 81: "closed", 82: "open|filtered", 83: "filtered", 84: "filtered"},
    "udp": {53: "open", 54: "closed", 55: "open|filtered", 56: "filtered", 57: "closed"},
}


def _need_golden():
    if not GOLDEN_PCAPS:
        pytest.skip("captures/golden/*.pcap not made yet (scripts/make_golden.py)")


def test_golden_captures_raise_no_error_and_no_warning():
    _need_golden()
    result = verify([str(p) for p in GOLDEN_PCAPS])
    assert [f for f in result.findings if f.severity != "info"] == []
    assert result.verdict == "conforms"
    assert len(result.analysis.captures) == len(GOLDEN_PCAPS)


MORE_GOLDEN = sorted((GOLDEN / "more").glob("*.pcap"))


@pytest.mark.parametrize("path", MORE_GOLDEN, ids=lambda p: p.stem)
def test_nmaps_other_probe_families_raise_no_error_and_no_warning(path):
    """Host discovery, OS and version detection, -sO, SCTP, idle: nmap's own
    traffic. OS detection's SYNs are reset from their own source ports, not
    loose resets; a ping sweep is no port scan but nothing is wrong with it."""
    result = verify(str(path))
    assert [(f.rule, f.severity) for f in result.findings if f.severity != "info"] == []


def test_a_ping_sweep_is_named_as_what_verify_does_not_check():
    result = verify(str(GOLDEN / "more" / "ping-echo.pcap"))
    [finding] = [f for f in result.findings if f.rule == "no-probe"]
    assert finding.severity == "info" and "host discovery" in finding.message
    zh = verify(str(GOLDEN / "more" / "ping-echo.pcap"), lang="zh")
    assert "主机发现" in [f for f in zh.findings if f.rule == "no-probe"][0].message


@pytest.mark.parametrize("name", sorted(NMAP_STATES))
def test_golden_captures_conform_to_nmaps_own_verdicts(name):
    _need_golden()
    claims = [f"{name}:{state}:{port}" for port, state in NMAP_STATES[name].items()]
    result = verify(str(GOLDEN / f"{name}.pcap"), claims=claims)
    assert [f for f in result.findings if f.severity != "info"] == []


def test_golden_connect_reads_a_port_unreachable_reject_as_closed():
    _need_golden()
    result = verify(str(GOLDEN / "connect.pcap"), claims=["connect:filtered:84", "connect:open:80"])
    assert rules_of(result, "error") == ["filter-simulated-as-reject"]
    assert only(result, "filter-simulated-as-reject").port == 84


def test_golden_connect_is_not_a_stealth_scan():
    _need_golden()
    result = verify(str(GOLDEN / "connect.pcap"), claims=["stealth:open:80"])
    assert rules_of(result, "error") == ["handshake-completed"]


# -- the seeds' own code, recorded in the lab ------------------------------------------

def _seed(name):
    path = SEEDS / f"{name}.pcap"
    if not path.exists() or not (SEEDS / "printed.toml").exists():
        pytest.skip(f"{path} not recorded yet (sudo python3 scripts/make_seed_captures.py)")
    return str(path)


def _by_port(result, rule):
    return sorted({f.port for f in result.findings if f.rule == rule})


@pytest.mark.parametrize("name", ["seed000-connect", "seed001-connect", "tutorial-connect"])
def test_seed_connect_scans_never_complete_the_handshake(name):
    result = verify(_seed(name), expectations=str(SEEDS / "intended.toml"))
    assert _by_port(result, "handshake-incomplete") == [80]


@pytest.mark.parametrize("name", ["seed000-syn", "seed000-connect", "seed001-connect", "seed001-stealth"])
def test_seed_resets_carry_scapys_default_seq(name):
    assert _by_port(verify(_seed(name)), "rst-out-of-window") == [80]


@pytest.mark.parametrize("name", ["seed000-syn", "seed001-stealth"])
def test_seed_syn_scans_are_reset_by_the_kernel(name):
    assert _by_port(verify(_seed(name)), "kernel-rst") == [80]


@pytest.mark.parametrize("name", ["seed000-syn", "seed000-connect", "seed000-null", "seed000-fin", "seed000-xmas",
                                  "seed001-connect", "seed001-stealth", "seed001-xmas", "seed001-fin",
                                  "seed001-null"])
def test_seed_scripts_never_report_the_icmp_filtered_port(name):
    result = verify(_seed(name), expectations=str(SEEDS / "printed.toml"))
    assert _by_port(result, "icmp-ignored") == [83]
    assert 83 not in {f.port for f in result.findings if f.rule.startswith("state-")}  # printed nothing for it


def test_tutorial_connect_scan_resets_from_a_new_source_port_and_calls_silence_closed():
    result = verify(_seed("tutorial-connect"), expectations=str(SEEDS / "printed.toml"))
    assert _by_port(result, "rst-port-mismatch") == [80]
    assert _by_port(result, "state-mismatch") == [82]


@pytest.mark.parametrize("name", ["seed001-xmas", "seed001-fin", "seed001-null", "seed000-xmas"])
def test_seed_summary_table_tells_open_and_filtered_apart_from_the_same_silence(name):
    result = verify(_seed(name), expectations=str(SEEDS / "intended.toml"))
    assert _by_port(result, "state-overclaim") == [80, 82]
    assert _by_port(result, "filter-simulated-as-reject") == [84]  # reject with tcp reset reads closed


def test_seed_udp_principle_concludes_open_from_silence():
    result = verify(_seed("seed001-udp-principle"), expectations=str(SEEDS / "printed.toml"))
    assert _by_port(result, "state-overclaim") == [55]


def test_seed_udp_reject_rule_reads_closed():
    result = verify(_seed("seed001-udp"), expectations=str(SEEDS / "intended.toml"))
    assert _by_port(result, "filter-simulated-as-reject") == [57]
    assert _by_port(result, "state-overclaim") == [55]


def test_seed_code_that_is_right_conforms_to_what_it_printed():
    for name in ("seed001-udp", "seed001-xmas"):
        result = verify(_seed(name), expectations=str(SEEDS / "printed.toml"))
        assert [f.rule for f in result.findings if f.rule.startswith("state-")] == []


def test_windows_like_stack_resets_an_open_port():
    result = verify([_seed("windows-like-syn"), _seed("windows-like-xmas")])
    f = only(result, "rfc793-deviation")
    assert f.port == 80 and f.capture.endswith("windows-like-xmas.pcap")


# -- the students' captures ----------------------------------------------------------

def _student(path):
    full = STUDENTS / path
    if not full.exists():
        pytest.skip(f"{STUDENTS} is absent (the shared captures live beside the checkout)")
    return str(full)


BOM = "2022-ns-public-BloodyOrangeMan/chap0x05/pkts/"
ECHO = "2022-ns-public-echo-li-cuc/chap0x05/pkt_captured/"
LEAF = "2022-ns-public-Leaf5323/chap0x05/pcap/scanDump.pcap"


def test_every_student_capture_gets_a_result():
    if not STUDENTS.is_dir():
        pytest.skip(f"{STUDENTS} is absent")
    files = sorted(str(p) for p in STUDENTS.rglob("*.pcap*"))
    assert len(files) >= 29
    for names in (False, True):
        result = verify(files, claims_from_names=names)
        assert [c.path for c in result.analysis.captures] == files and result.analysis.errors == ()


# What the packets really show (checked with tcpdump -nnSr, frame by frame).
STUDENT_FACTS = [
    # scapy "connect scans": SYN, SYN/ACK, the kernel's RST, then RST/ACK from a new RandShort() port
    (BOM + "connect_OPEN.pcap", {"handshake-incomplete": [53, 80], "rst-port-mismatch": [53, 80]}),
    (BOM + "connect_CLOSED.pcap", {"handshake-incomplete": [53], "rst-port-mismatch": [53]}),
    (ECHO + "connect_open.pcap", {"handshake-incomplete": [8080], "rst-port-mismatch": [8080]}),
    # header-only files: nothing was recorded
    (BOM + "null_OPEN.pcap", {"empty-capture": [None]}),
    (BOM + "null_CLOSED.pcap", {"empty-capture": [None]}),
    (BOM + "udp_OPEN.pcap", {"empty-capture": [None]}),
    # the "NULL scan" sent SYN probes
    (BOM + "null_FILTERED.pcap", {"probe-flags-mismatch": [None]}),
    # a FIN to 53 only, unanswered: no RST anywhere, no probe to 80 at all
    (BOM + "fin_CLOSED.pcap", {"state-mismatch": [53]}),
    # silence claimed open, or filtered
    (BOM + "fin_OPEN.pcap", {"state-overclaim": [53, 80]}),
    (BOM + "xmas_FILTERED.pcap", {"state-overclaim": [53, 80]}),
    (BOM + "udp_FILTERED.pcap", {"state-overclaim": [53, 80]}),
    # a SYN scan: the kernel resets, the script's RST leaves from another port
    (BOM + "syn_OPEN.pcap", {"kernel-rst": [53, 80], "rst-port-mismatch": [53, 80]}),
    (ECHO + "steal_open.pcap", {"kernel-rst": [8080], "rst-port-mismatch": [8080]}),
    # these show what they claim
    (ECHO + "connect_close.pcap", {}),
    (ECHO + "connect_filterd.pcap", {}),
    (ECHO + "steal_closed.pcap", {}),
    (ECHO + "steal_filtered.pcap", {}),
    (ECHO + "udp_close.pcap", {}),
    (BOM + "xmas_CLOSED.pcap", {}),  # 80 answered RST/ACK
]


@pytest.mark.parametrize("path, facts", STUDENT_FACTS, ids=[p.split("/")[-1] for p, _ in STUDENT_FACTS])
def test_student_capture_shows(path, facts):
    result = verify(_student(path), claims_from_names=True)
    got = {}
    for f in result.findings:
        if f.severity != "info" or f.rule == "kernel-rst":
            got.setdefault(f.rule, set()).add(f.port)
    assert {rule: sorted(ports, key=lambda p: (p is not None, p)) for rule, ports in got.items()} == facts


def test_leafs_scapy_ack_acknowledges_a_random_number():
    # One fixed source port (54260) for every probe; the "connect" ACK of
    # frame 8 carries scapy's default ack=0, not the SYN/ACK's 3238909408 + 1,
    # and comes after the kernel's RST (frame 7) anyway.
    result = verify(_student(LEAF), claims=["connect:open:22"])
    # the script ran twice: two sessions (sessions.py, rule 3), the same mistake in each
    first, second = [f for f in result.findings if f.rule == "handshake-incomplete"]
    assert "acknowledges 0 instead of 3238909409" in first.message and first.frames == (6, 7, 8, 10)
    assert second.session == first.session + 1 and second.frames[0] == 21
    techniques = {(p.technique, p.port) for p in result.ports}
    assert {("xmas", 22), ("fin", 8000), ("null", 8080)} <= techniques  # not swallowed by the reused port


@pytest.mark.parametrize("path, claims, facts", [
    # "xfn": one Xmas, one FIN, one NULL probe to 8080 each (sport 20 for NULL: scapy's default)
    (ECHO + "xfn_close.pcap", ["xmas:closed", "fin:closed", "null:closed"], {}),
    (ECHO + "xfn_filtered.pcap", ["xmas:filtered", "fin:filtered", "null:filtered"], {"state-overclaim": [8080]}),
    (ECHO + "xfn.pcap", ["xmas:open", "fin:open", "null:open"], {"state-overclaim": [8080]}),
    # "occupied" 68/udp: one empty datagram, no answer
    (ECHO + "udp_occupied.pcap", ["udp:open:68"], {"state-overclaim": [68]}),
], ids=["xfn_close", "xfn_filtered", "xfn", "udp_occupied"])
def test_student_captures_whose_names_are_not_claims(path, claims, facts):
    result = verify(_student(path), claims=claims)
    got = {}
    for f in result.findings:
        if f.severity != "info":
            got.setdefault(f.rule, set()).add(f.port)
    assert {rule: sorted(ports) for rule, ports in got.items()} == facts


def test_a_ladder_draws_the_scans_connection_not_an_ssh_session_beside_it():
    """The student's SSH session to the lab's target, open while the scan
    probes port 22: the port's ladder draws the probe's connection (its
    source port), not the session's packets, which came first and would fill
    the ladder; the verdict and findings are the same either way."""
    ssh = [tcp(1, "S", sport=49998, dport=22, seq=100, window=64240, options=OS_OPTIONS)]
    ssh.append(reply_to(2, ssh[0], "SA", window=64240))
    ssh.append(tcp(3, "A", sport=49998, dport=22, seq=101, ack=5001, options=()))
    data = []
    for i, frame in enumerate(range(4, 24, 2)):
        data.append(tcp(frame, "PA", sport=49998, dport=22, seq=101 + 36 * i, ack=5001 + 52 * i, payload=36,
                        options=()))
        data.append(tcp(frame + 1, "PA", sport=22, dport=49998, src=TARGET, dst=SCANNER, seq=5001 + 52 * i,
                        ack=137 + 36 * i, payload=52, options=()))
    syn = scapy_syn(30, dport=22)
    sa = reply_to(31, syn, "SA", window=64240)
    alone = verify_packets(raw_syn_open(22))
    result = verify_packets([*ssh, *data, syn, sa, kernel_rst(32, sa)])
    (port,) = [p for p in result.ports if p.port == 22]
    assert [p.frame for p in port.packets] == [30, 31, 32]
    assert (port.technique, port.state, port.reason) == ("syn", "open", "syn-ack")
    assert rules_of(result) == rules_of(alone)
