"""Every row of every state table, on handcrafted exchanges."""
import pytest

from pcapscan.exchanges import replay
from pcapscan.messages import render
from pcapscan.model import State, Technique
from pcapscan.techniques import REGISTRY, classify, infer_technique

from packets import ROUTER, icmp_unreach, reply_to, tcp, udp


def one(packets):
    exchanges, _ = replay(packets)
    assert len(exchanges) == 1, exchanges
    return exchanges[0]


def verdict(technique, packets):
    v = classify(Technique(technique), one(packets))
    return v.state.value, v.reason.value


PROBE_FLAGS = {"syn": "S", "connect": "S", "fin": "F", "xmas": "FPU", "null": "", "maimon": "FA",
               "ack": "A", "window": "A"}


def probe_for(tech, **kw):
    if tech in ("ack", "window", "maimon"):
        kw.setdefault("ack", 777)
    return tcp(1, PROBE_FLAGS[tech], **kw)


# (technique, answer) -> expected (state, reason). "answer" builds frame 2 from the probe.
ANSWERS = {
    "syn-ack": lambda p: reply_to(2, p, "SA"),
    "rst-ack": lambda p: reply_to(2, p, "RA"),
    "rst": lambda p: reply_to(2, p, "R"),
    "rst-window": lambda p: reply_to(2, p, "R", window=512),
    "icmp-admin": lambda p: icmp_unreach(2, 13, p),
    "icmp-host": lambda p: icmp_unreach(2, 1, p),
    "icmp-net-prohibited": lambda p: icmp_unreach(2, 9, p),
    "icmp-port": lambda p: icmp_unreach(2, 3, p),
    "icmp-frag-needed": lambda p: icmp_unreach(2, 4, p),
    "time-exceeded": lambda p: icmp_unreach(2, 0, p, src=ROUTER, icmp_type=11),
    "none": None,
}

TABLE = [
    ("syn", "syn-ack", ("open", "syn-ack")),
    ("syn", "rst-ack", ("closed", "reset")),
    ("syn", "icmp-admin", ("filtered", "admin-prohibited")),
    ("syn", "icmp-host", ("filtered", "host-unreach")),
    ("syn", "icmp-port", ("filtered", "port-unreach")),
    ("syn", "icmp-net-prohibited", ("filtered", "net-prohibited")),
    ("syn", "icmp-frag-needed", ("filtered", "no-response")),
    ("syn", "time-exceeded", ("filtered", "time-exceeded")),
    ("syn", "none", ("filtered", "no-response")),
    ("connect", "syn-ack", ("open", "syn-ack")),
    ("connect", "rst-ack", ("closed", "conn-refused")),
    ("connect", "icmp-port", ("closed", "conn-refused")),
    ("connect", "icmp-admin", ("filtered", "host-unreach")),
    ("connect", "none", ("filtered", "no-response")),
    ("fin", "rst-ack", ("closed", "reset")),
    ("fin", "icmp-admin", ("filtered", "admin-prohibited")),
    ("fin", "none", ("open|filtered", "no-response")),
    ("xmas", "rst-ack", ("closed", "reset")),
    ("xmas", "icmp-port", ("filtered", "port-unreach")),
    ("xmas", "none", ("open|filtered", "no-response")),
    ("null", "rst-ack", ("closed", "reset")),
    ("null", "none", ("open|filtered", "no-response")),
    ("maimon", "rst", ("closed", "reset")),
    ("maimon", "none", ("open|filtered", "no-response")),
    ("ack", "rst", ("unfiltered", "reset")),
    ("ack", "icmp-admin", ("filtered", "admin-prohibited")),
    ("ack", "none", ("filtered", "no-response")),
    ("window", "rst-window", ("open", "reset")),
    ("window", "rst", ("closed", "reset")),
    ("window", "none", ("filtered", "no-response")),
]


@pytest.mark.parametrize("tech,answer,expected", TABLE, ids=[f"{t}-{a}" for t, a, _ in TABLE])
def test_tcp_state_table(tech, answer, expected):
    probe = probe_for(tech)
    packets = [probe] + ([ANSWERS[answer](probe)] if ANSWERS[answer] else [])
    assert verdict(tech, packets) == expected


UDP_TABLE = [
    ("udp-answer", ("open", "udp-response")),
    ("port-unreach-from-target", ("closed", "port-unreach")),
    ("port-unreach-from-router", ("filtered", "port-unreach")),
    ("admin-prohibited", ("filtered", "admin-prohibited")),
    ("none", ("open|filtered", "no-response")),
]


@pytest.mark.parametrize("answer,expected", UDP_TABLE, ids=[a for a, _ in UDP_TABLE])
def test_udp_state_table(answer, expected):
    probe = udp(1)
    build = {
        "udp-answer": lambda: [udp(2, sport=53, dport=40000, src=probe.dst, dst=probe.src, payload=30)],
        "port-unreach-from-target": lambda: [icmp_unreach(2, 3, probe)],
        "port-unreach-from-router": lambda: [icmp_unreach(2, 3, probe, src=ROUTER)],
        "admin-prohibited": lambda: [icmp_unreach(2, 13, probe)],
        "none": lambda: [],
    }[answer]
    assert verdict("udp", [probe] + build()) == expected


def test_icmpv6_unreachable_codes_use_nmaps_words():
    probe = tcp(1, "S", src="2001:2::1", dst="2001:2::2")
    assert verdict("syn", [probe, icmp_unreach(2, 1, probe, src="2001:2::2", v6=True)]) == (
        "filtered", "admin-prohibited")
    probe = udp(1, src="2001:2::1", dst="2001:2::2")
    assert verdict("udp", [probe, icmp_unreach(2, 4, probe, src="2001:2::2", v6=True)]) == ("closed", "port-unreach")
    assert verdict("udp", [probe, icmp_unreach(2, 0, probe, src="2001:2::2", v6=True)]) == ("filtered", "no-route")


def test_reason_ttl_is_the_answers_ttl_and_zero_for_silence_and_connect():
    probe = tcp(1, "S")
    ex = one([probe, reply_to(2, probe, "SA", ttl=61)])
    assert classify(Technique.SYN, ex).reason_ttl == 61
    assert classify(Technique.CONNECT, ex).reason_ttl == 0  # nmap -sT never sees the packet
    assert classify(Technique.SYN, one([tcp(1, "S")])).reason_ttl == 0


def test_frames_name_every_try_and_every_answer():
    first, retry = tcp(1, "S", sport=40000), tcp(5, "S", sport=40001)
    v = classify(Technique.SYN, one([first, retry, reply_to(6, retry, "SA")]))
    assert (v.state, v.probe_frames, v.response_frames) == (State.OPEN, (1, 5), (6,))


def test_a_later_rst_does_not_reopen_nor_close_an_open_syn_port():
    first, retry = tcp(1, "S", sport=40000), tcp(3, "S", sport=40001)
    v = classify(Technique.SYN, one([first, reply_to(2, first, "SA"), retry, reply_to(4, retry, "RA")]))
    assert v.state is State.OPEN  # nmap keeps "open" in a SYN scan ...
    assert v.reason.value == "reset"  # ... but, like nmap, takes the last answer's reason


def test_a_retransmitted_synack_answers_nothing_new():
    probe = tcp(1, "S")
    ex = one([probe, reply_to(2, probe, "SA", ttl=64), reply_to(3, probe, "SA", ttl=50)])
    v = classify(Technique.SYN, ex)
    assert v.reason_ttl == 64 and v.response_frames == (2, 3)


def test_every_technique_is_registered_with_its_probe_and_table():
    assert {t.value for t in REGISTRY} == {"syn", "connect", "fin", "xmas", "null", "ack", "window", "maimon", "udp",
                                           "sctpinit", "sctpcookieecho", "ipproto", "idle"}
    for spec in REGISTRY.values():
        assert "none" in spec.table, spec.technique


@pytest.mark.parametrize("letters,expected", [("S", "syn"), ("F", "fin"), ("FPU", "xmas"), ("", "null"),
                                              ("A", "ack"), ("FA", "maimon"), ("SF", "unknown"), ("PU", "unknown")])
def test_technique_is_inferred_from_probe_flags(letters, expected):
    tech, why, _ = infer_technique(one([tcp(1, letters, ack=5)]))
    assert tech.value == expected
    assert why


def test_connect_is_told_from_syn_by_the_completing_ack():
    probe = tcp(1, "S", options=(2, 4, 8, 1, 3))
    synack = reply_to(2, probe, "SA", seq=9000)
    done = tcp(3, "A", seq=probe.seq + 1, ack=9001)
    tech, why, behavioural = infer_technique(one([probe, synack, done, tcp(4, "RA", seq=1001, ack=9001)]))
    assert (tech, behavioural) == (Technique.CONNECT, True) and "frame 3" in render(why, "en")
    assert "第 3 帧" in render(why, "zh")


def test_syn_answered_with_rst_is_a_syn_scan_even_with_os_options():
    probe = tcp(1, "S", options=(2, 4, 8, 1, 3))
    synack = reply_to(2, probe, "SA", seq=9000)
    tech, _, _ = infer_technique(one([probe, synack, tcp(3, "R", seq=1001)]))
    assert tech is Technique.SYN


@pytest.mark.parametrize("options,expected", [((2, 4, 8, 1, 3), "connect"), ((2,), "syn"), ((), "syn")])
def test_unanswered_syn_falls_back_to_its_fingerprint(options, expected):
    tech, _, behavioural = infer_technique(one([tcp(1, "S", options=options)]))
    assert tech.value == expected and behavioural is False


def test_every_spec_names_itself_once():
    """Titles in both languages; nmap options, aliases and Chinese names each
    belong to one technique (a claims reader can match any of them)."""
    import re

    from pcapscan.messages import MESSAGES

    owner: dict = {}
    for t, spec in REGISTRY.items():
        assert spec.title and spec.title_zh, t
        assert re.fullmatch(r"-s[A-Z]", spec.nmap_option), t
        for word in (t.value, spec.nmap_letters, *spec.aliases, *spec.names_zh):
            word = re.sub(r"[ _-]", "", word)  # as claims.py compares them
            assert owner.setdefault(word, t) is t, f"{word!r} names both {owner[word]} and {t}"
        assert all(re.fullmatch(r"[a-z][a-z -]*", a) for a in spec.aliases), t
        assert all(re.fullmatch(r"[\u4e00-\u9fff]+", n) for n in spec.names_zh), t
        if spec.live:
            assert f"textbook.{spec.textbook_key}" in MESSAGES and f"probe.{t.value}" in MESSAGES, t


def test_probe_classes_name_one_inferred_technique_each():
    from pcapscan.techniques import PROBE_TECHNIQUES

    inferred = [t for t, s in REGISTRY.items() if s.inferred]
    assert sorted(PROBE_TECHNIQUES.values()) == sorted(inferred)
    assert PROBE_TECHNIQUES["S"] is Technique.SYN and PROBE_TECHNIQUES["A"] is Technique.ACK


def test_a_closed_ports_technique_names_the_other_port_it_was_read_from():
    # a closed port first, then an open one (SYN, SYN/ACK, RST): the session's evidence is the
    # closed port's, read off port 80's reset; it must say so before the frames, not leave
    # "on another port" to read as where the handshake should have completed
    from pcapscan.scans import build_scans

    syn81, syn80 = tcp(1, "S", sport=40001, dport=81), tcp(3, "S", dport=80)
    pkts = [syn81, reply_to(2, syn81, "RA"), syn80, reply_to(4, syn80, "SA"),
            tcp(5, "R", dport=80, seq=1001, window=0, options=())]
    (scan,) = build_scans("t.pcap", replay(pkts)[0])
    assert scan.technique is Technique.SYN
    assert render(scan.technique_evidence, "en") == (
        "seen on another port of this session: the scanner reset it (frame 5) after the SYN/ACK (frame 4) "
        "instead of completing the handshake")
