"""The replay engine: pairing, retransmissions, duplicates, ordinary traffic."""
from dataclasses import replace

from pcapscan.exchanges import ReplayEngine, answers, probe_class, replay

from packets import SCANNER, TARGET, icmp_unreach, reply_to, tcp, udp


def test_answer_pairs_by_ports_and_acknowledgment_number():
    probe = tcp(1, "S", seq=1000)
    good = reply_to(2, probe, "SA")
    assert answers(probe, good)
    assert not answers(probe, replace(good, ack=1000))  # acknowledges nothing we sent


def test_rst_to_an_ack_probe_takes_its_seq_from_the_probes_ack():
    probe = tcp(1, "A", ack=4242)
    assert answers(probe, reply_to(2, probe, "R"))
    assert not answers(probe, replace(reply_to(2, probe, "R"), seq=1))


def test_retransmissions_from_nearby_source_ports_form_one_exchange():
    tries = [tcp(1, "S", sport=40000), tcp(2, "S", sport=40001), tcp(3, "S", sport=40002)]
    (ex,), _ = replay(tries)
    assert [p.frame for p in ex.probes] == [1, 2, 3] and ex.responses == ()


def test_an_answer_that_fails_the_exact_test_is_stray_not_a_response():
    probe = tcp(1, "S")
    wrong = replace(reply_to(2, probe, "RA"), ack=99)
    (ex,), _ = replay([probe, wrong])
    assert ex.responses == () and [p.frame for p in ex.stray] == [2]


def test_icmp_error_pairs_through_the_packet_it_quotes():
    probe = udp(1, dport=55)
    exchanges, _ = replay([probe, udp(2, dport=56), icmp_unreach(3, 3, probe)])
    answered = {ex.port: [r.frame for r in ex.responses] for ex in exchanges}
    assert answered == {55: [3], 56: []}


def test_orphan_icmp_error_is_counted_not_paired():
    probe = udp(1, dport=55)
    exchanges, stats = replay([icmp_unreach(1, 3, probe)])
    assert exchanges == [] and stats.orphan_answers == 1


def test_the_same_packet_seen_twice_is_counted_once():
    probe = tcp(1, "S", ts=1.0)
    copy = replace(probe, frame=2, ts=1.0001, ttl=63)  # the same packet after a hop, captured on "any"
    (ex,), stats = replay([probe, copy, reply_to(3, probe, "RA")])
    assert stats.duplicates == 1 and [p.frame for p in ex.probes] == [1]


def test_a_retransmission_a_second_later_is_not_a_duplicate():
    first = tcp(1, "S", ts=1.0)
    again = replace(first, frame=2, ts=2.0)
    (ex,), stats = replay([first, again])
    assert stats.duplicates == 0 and len(ex.probes) == 2


def test_a_client_connection_that_carries_data_is_ordinary_traffic():
    syn = tcp(1, "S", dport=443, options=(2, 4, 8, 1, 3))
    synack = reply_to(2, syn, "SA", seq=7000)
    ack = tcp(3, "A", dport=443, seq=1001, ack=7001)
    data = tcp(4, "PA", dport=443, seq=1001, ack=7001, payload=300)
    exchanges, stats = replay([syn, synack, ack, data])
    assert exchanges == [] and stats.ordinary == 1


def test_a_servers_banner_after_connect_keeps_the_probe():
    syn = tcp(1, "S", dport=22, options=(2, 4, 8, 1, 3))
    synack = reply_to(2, syn, "SA", seq=7000)
    ack = tcp(3, "A", dport=22, seq=1001, ack=7001)
    banner = tcp(4, "PA", sport=22, dport=40000, src=TARGET, dst=SCANNER, seq=7001, ack=1001, payload=21)
    rst = tcp(5, "RA", dport=22, seq=1001, ack=7022)
    (ex,), _ = replay([syn, synack, ack, banner, rst])
    assert ex.completed_handshake and [p.frame for p in ex.followups] == [3, 5]


def test_mid_connection_data_never_opens_an_exchange():
    assert probe_class(tcp(1, "PA", payload=100)) is None
    assert probe_class(tcp(1, "RA")) is None
    assert probe_class(tcp(1, "SA")) is None
    assert probe_class(tcp(1, "FPU")) == "FPU"


def test_several_scanners_and_targets_stay_apart():
    a = tcp(1, "S", src="198.18.0.1", dst="198.18.0.2")
    b = tcp(2, "S", src="198.18.0.3", dst="198.18.0.2")
    c = tcp(3, "S", src="198.18.0.1", dst="198.18.0.4")
    exchanges, _ = replay([a, b, c, reply_to(4, b, "RA")])
    got = {(e.scanner, e.target): len(e.responses) for e in exchanges}
    assert got == {("198.18.0.1", "198.18.0.2"): 0, ("198.18.0.3", "198.18.0.2"): 1,
                   ("198.18.0.1", "198.18.0.4"): 0}


def test_broadcast_and_multicast_datagrams_are_not_probes():
    exchanges, _ = replay([udp(1, dst="198.18.0.255", dport=137), udp(2, dst="224.0.0.251", dport=5353)])
    assert exchanges == []


def test_engine_streams_packet_by_packet():
    engine = ReplayEngine()
    probe = tcp(1, "F")
    engine.feed(probe)
    engine.feed(reply_to(2, probe, "RA"))
    (ex,) = engine.exchanges()
    assert ex.port == 80 and len(ex.responses) == 1


def test_a_connection_joined_midway_is_not_an_ack_scan():
    data = tcp(1, "PA", dport=548, seq=10, ack=20, payload=43)
    bare_ack = tcp(2, "A", dport=548, seq=53, ack=135)
    exchanges, _ = replay([data, bare_ack])
    assert exchanges == []


def test_an_ack_answered_with_data_is_ordinary_traffic():
    probe = tcp(1, "A", dport=443, seq=10, ack=20)
    data = tcp(2, "PA", sport=443, dport=40000, src=TARGET, dst=SCANNER, seq=20, ack=10, payload=100)
    exchanges, _ = replay([probe, data])
    assert exchanges == []


def test_two_icmpv6_errors_alike_but_for_the_port_they_quote_are_not_duplicates():
    # IPv6 has no IP ID: two port-unreachables in the same millisecond differ only in their quote.
    a, b = udp(1, dport=54, src="2001:2::1", dst="2001:2::2", ts=1.0), udp(2, dport=57, src="2001:2::1", dst="2001:2::2", ts=1.0)
    err_a = replace(icmp_unreach(3, 4, a, src="2001:2::2", v6=True), ts=1.001)
    err_b = replace(icmp_unreach(4, 4, b, src="2001:2::2", v6=True), ts=1.002)
    exchanges, stats = replay([a, b, err_b, err_a])
    assert stats.duplicates == 0 and all(len(ex.responses) == 1 for ex in exchanges)


def test_dhcp_and_other_fixed_port_service_traffic_is_not_a_udp_scan():
    """A DHCP renewal (68 -> 67 and back) during a lab capture is the host's own
    traffic; a scanner's UDP probe to port 67 comes from a port it drew."""
    from packets import udp
    renewal = [udp(1, sport=68, dport=67, payload=300), udp(2, sport=67, dport=68, src=TARGET, dst=SCANNER,
                                                          payload=300)]
    ntp = [udp(3, sport=123, dport=123, payload=48)]
    probe = udp(4, sport=53, dport=67)  # scapy's default source port
    exchanges, _stats = replay(renewal + ntp + [probe])
    assert [(ex.proto, ex.port, [p.frame for p in ex.probes]) for ex in exchanges] == [("udp", 67, [4])]


# -- not a scan: established-connection traffic (exchanges.midstream, shows_connection) -----------

def test_a_keep_alive_answered_by_ack_is_a_connection_not_an_ack_probe():
    """A VM's HTTPS keep-alive (ACK with seq-1) answered by the server's ACK: an ACK
    probe gets RST or nothing (RFC 793), so an ACK back shows a live connection."""
    keep = tcp(1, "A", dport=443, seq=999, ack=77, window=501, options=())
    back = tcp(2, "A", sport=443, dport=40000, src=TARGET, dst=SCANNER, seq=77, ack=1000, window=300, options=())
    engine = ReplayEngine()
    for p in (keep, back):
        engine.feed(p)
    assert engine.exchanges() == []
    other = engine.other_traffic()
    assert (other.connections, other.packets) == (1, 2)


def test_a_late_ack_with_timestamps_is_mid_connection():
    late = tcp(1, "A", dport=443, seq=5, ack=6, options=(1, 1, 8))
    assert probe_class(late) is None
    assert probe_class(tcp(1, "A", options=())) == "A"  # nmap's and scapy's ACK probes carry no options
    t4 = tcp(1, "A", window=1024, options=(3, 1, 2, 8, 4))  # nmap OS detection's T4 keeps its shape
    assert probe_class(t4) == "A"


def test_an_ack_probe_answered_by_rst_stays_a_probe():
    probe = tcp(1, "A", ack=4242, options=())
    (ex,), _ = replay([probe, reply_to(2, probe, "R")])
    assert ex.responses and ex.port == 80


def test_a_rst_written_before_its_probe_but_stamped_after_answers_it():
    """Several NIC queues or a capture on "any": the answer's record comes
    first, its timestamp after the probe's. The probe takes it when it comes."""
    probe = tcp(2, "S", ts=1.0)
    rst = replace(reply_to(1, probe, "RA"), ts=1.0005)
    (ex,), _ = replay([rst, probe])
    assert [r.frame for r in ex.responses] == [1] and ex.stray == ()


def test_an_icmp_error_written_before_its_probe_answers_it_and_a_stale_one_stays_an_orphan():
    probe = udp(3, dport=55, ts=1.0)
    early = replace(icmp_unreach(2, 3, probe), ts=1.0002)
    stale = replace(icmp_unreach(1, 3, probe), ts=0.5)  # stamped before the probe: not its answer
    (ex,), stats = replay([stale, early, probe])
    assert [r.frame for r in ex.responses] == [2] and stats.orphan_answers == 1


def test_an_early_answer_waits_a_bounded_number_of_frames():
    from pcapscan.exchanges import EARLY_ANSWER_FRAMES

    probe = tcp(EARLY_ANSWER_FRAMES + 5, "S", ts=1.0)
    rst = replace(reply_to(1, probe, "RA"), ts=1.0005)
    (ex,), _ = replay([rst, probe])
    assert ex.responses == ()  # too far back in the file: forgotten, as a RST without a probe always was
