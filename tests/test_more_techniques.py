"""Every row of the state tables of the families beyond TCP/UDP port scans
(host discovery, IP protocol, SCTP, idle) on handcrafted packets, plus the
decoding and pairing they rest on."""
import struct
from dataclasses import replace

import pytest

from pcapscan.capture.decode import decode_arp, decode_frame
from pcapscan.exchanges import replay
from pcapscan.families import discoveries, route
from pcapscan.model import Packet, Technique
from pcapscan.pairing import QueryEngine
from pcapscan.techniques import REGISTRY, classify, infer_technique
from pcapscan.techniques.idle import idle_scans
from pcapscan.techniques.ipproto import IPPROTO, assemble

from packets import (ROUTER, SCANNER, SCANNER6, TARGET, TARGET6, arp, icmp_error, icmp_query, icmp_reply, ip_raw,
                     nd, reply_to, sctp, sctp_answer, tcp, udp)


def one(packets):
    exchanges, _ = replay(packets)
    assert len(exchanges) == 1, exchanges
    return exchanges[0]


def verdict(technique, packets):
    v = classify(Technique(technique), one(packets))
    return v.state.value, v.reason.value


# --- SCTP ------------------------------------------------------------------------------------

INIT = sctp(1, 1, init_tag=0xABCD)
COOKIE = sctp(1, 10, vtag=0x5555)


@pytest.mark.parametrize("technique,probe,answer,expected", [
    ("sctpinit", INIT, lambda p: sctp_answer(2, p, 2), ("open", "init-ack")),
    ("sctpinit", INIT, lambda p: sctp_answer(2, p, 6), ("closed", "abort")),
    ("sctpinit", INIT, lambda p: icmp_error(2, 3, 13, p), ("filtered", "admin-prohibited")),
    ("sctpinit", INIT, lambda p: icmp_error(2, 3, 2, p), ("filtered", "proto-unreach")),
    ("sctpinit", INIT, lambda p: icmp_error(2, 11, 0, p, src=ROUTER), ("filtered", "time-exceeded")),
    ("sctpinit", INIT, None, ("filtered", "no-response")),
    ("sctpcookieecho", COOKIE, lambda p: sctp_answer(2, p, 6), ("closed", "abort")),
    ("sctpcookieecho", COOKIE, lambda p: icmp_error(2, 3, 2, p), ("filtered", "proto-unreach")),
    ("sctpcookieecho", COOKIE, lambda p: sctp_answer(2, p, 2), ("open|filtered", "no-response")),  # passed over
    ("sctpcookieecho", COOKIE, None, ("open|filtered", "no-response")),
])
def test_sctp_tables(technique, probe, answer, expected):
    packets = [probe] + ([answer(probe)] if answer else [])
    assert infer_technique(one(packets))[0].value == technique
    assert verdict(technique, packets) == expected


def test_sctp_answer_with_the_wrong_tag_is_stray_not_an_answer():
    wrong = sctp(2, 2, sport=80, dport=40000, vtag=0x1111, src=TARGET, dst=SCANNER)
    ex = one([INIT, wrong])
    assert ex.responses == () and ex.stray == (wrong,)
    assert classify(Technique.SCTP_INIT, ex).state.value == "filtered"


def test_sctp_over_ipv6_param_problem_is_filtered():
    probe = sctp(1, 1, init_tag=7, src=SCANNER6, dst=TARGET6)
    err = icmp_error(2, 4, 1, probe, src=TARGET6, v6=True)
    assert verdict("sctpinit", [probe, err]) == ("filtered", "param-problem")


# --- IP protocol scan ---------------------------------------------------------------------------


def proto_verdict(packets, queries=()):
    exchanges, _ = replay(packets)
    protos, rest, _ = assemble(exchanges, list(queries))
    assert rest == []
    return {ex.port: (IPPROTO.classify(ex).state.value, IPPROTO.classify(ex).reason.value) for ex in protos}


@pytest.mark.parametrize("answer,expected", [
    (lambda p: ip_raw(2, p.ip_proto, src=TARGET, dst=SCANNER, payload=12), ("open", "proto-response")),
    (lambda p: icmp_error(2, 3, 2, p), ("closed", "proto-unreach")),
    (lambda p: icmp_error(2, 3, 3, p), ("open", "port-unreach")),
    (lambda p: icmp_error(2, 3, 2, p, src=ROUTER), ("filtered", "proto-unreach")),
    (lambda p: icmp_error(2, 3, 13, p), ("filtered", "admin-prohibited")),
    (lambda p: icmp_error(2, 11, 0, p, src=ROUTER), ("filtered", "time-exceeded")),
    (None, ("open|filtered", "no-response")),
])
def test_ipproto_table(answer, expected):
    probe = ip_raw(1, 47)
    assert proto_verdict([probe] + ([answer(probe)] if answer else [])) == {47: expected}


@pytest.mark.parametrize("code,expected", [(1, ("closed", "param-problem")), (0, ("open", "param-problem"))])
def test_ipproto_ipv6_parameter_problem(code, expected):
    probe = ip_raw(1, 50, src=SCANNER6, dst=TARGET6)
    assert proto_verdict([probe, icmp_error(2, 4, code, probe, src=TARGET6, v6=True)]) == {50: expected}


def test_ipproto_gathers_the_tcp_udp_and_icmp_probes_of_the_session():
    bare = ip_raw(1, 47)
    ack = tcp(2, "A", dport=80, ack=999)
    rst = reply_to(3, ack, "R")
    datagram = udp(4, dport=40125)
    unreach = icmp_error(5, 3, 3, datagram)
    echo = icmp_query(6, 8)
    qe = QueryEngine()
    for p in (echo, icmp_reply(7, echo)):
        qe.feed(p)
    got = proto_verdict([bare, ack, rst, datagram, unreach], qe.exchanges())
    assert got == {47: ("open|filtered", "no-response"), 6: ("open", "proto-response"),
                   17: ("open", "port-unreach"), 1: ("open", "echo-reply")}


def test_a_payload_carrying_protocol_packet_is_traffic_not_a_probe():
    exchanges, stats = replay([ip_raw(1, 50, payload=400), ip_raw(2, 50, src=TARGET, dst=SCANNER, payload=400)])
    assert exchanges == []


# --- host discovery ------------------------------------------------------------------------------


def discover(packets):
    exchanges, _ = replay(packets)
    qe = QueryEngine()
    for p in packets:
        qe.feed(p)
    routed = route("x.pcap", exchanges, qe.exchanges(), [])
    (sweep,) = discoveries("x.pcap", routed, [])
    return {h.address: (h.state.value, h.reason.value, h.reason_ttl) for h in sweep.hosts}


def test_arp_ping():
    got = discover([arp(1, 1), arp(2, 2, src=TARGET, dst=SCANNER), arp(3, 1, dst="198.18.0.9")])
    assert got == {TARGET: ("up", "arp-response", 0), "198.18.0.9": ("down", "no-response", 0)}


def test_nd_ping():
    got = discover([nd(1, 135, TARGET6), nd(2, 136, TARGET6, src=TARGET6), nd(3, 135, "2001:2::9")])
    assert got == {TARGET6: ("up", "nd-response", 0), "2001:2::9": ("down", "no-response", 0)}


@pytest.mark.parametrize("request_type,reason", [(8, "echo-reply"), (13, "timestamp-reply"),
                                                 (17, "addressmask-reply")])
def test_icmp_pings(request_type, reason):
    probe = icmp_query(3, request_type)
    got = discover([arp(1, 1), arp(2, 2, src=TARGET, dst=SCANNER), probe, icmp_reply(4, probe, ttl=63)])
    assert got == {TARGET: ("up", reason, 63)}  # the ARP exchange was resolution, not the ping


def test_icmpv6_echo_ping():
    probe = icmp_query(1, 128, src=SCANNER6, dst=TARGET6, v6=True)
    assert discover([probe, icmp_reply(2, probe)]) == {TARGET6: ("up", "echo-reply", 64)}


def test_an_unanswered_ip_ping_is_down_even_after_arp_answered():
    got = discover([arp(1, 1), arp(2, 2, src=TARGET, dst=SCANNER), icmp_query(3, 8), icmp_query(9, 8, ident=7)])
    assert got == {TARGET: ("down", "no-response", 0)}


def test_icmp_reply_with_another_identifier_answers_nothing():
    probe = icmp_query(1, 8, ident=5)
    other = icmp_query(2, 0, ident=6, src=TARGET, dst=SCANNER)
    assert discover([probe, other]) == {TARGET: ("down", "no-response", 0)}


HOSTS = ["198.18.0.2", "198.18.0.3", "198.18.0.4"]


def sweep(answer):
    """-PS80 over three hosts: the first host answers as `answer` says, the others RST."""
    packets, frame = [], 1
    for i, host in enumerate(HOSTS):
        probe = tcp(frame, "S", dport=80, dst=host)
        packets.append(probe)
        if i == 0:
            if answer is not None:
                packets.append(answer(frame + 1, probe))
        else:
            packets.append(reply_to(frame + 1, probe, "RA"))
        frame += 2
    return discover(packets)[HOSTS[0]]


@pytest.mark.parametrize("answer,expected", [
    (lambda f, p: reply_to(f, p, "SA"), ("up", "syn-ack", 64)),
    (lambda f, p: reply_to(f, p, "RA", ttl=60), ("up", "reset", 60)),
    (lambda f, p: icmp_error(f, 3, 3, p, src=p.dst), ("up", "port-unreach", 64)),
    (lambda f, p: icmp_error(f, 3, 1, p, src=ROUTER, ttl=250), ("down", "host-unreach", 250)),
    (lambda f, p: icmp_error(f, 11, 0, p, src=ROUTER), ("down", "no-response", 0)),  # passed over
    (None, ("down", "no-response", 0)),
])
def test_tcp_ping_sweep_table(answer, expected):
    assert sweep(answer) == expected


def test_udp_ping_sweep_answer():
    packets = []
    for i, host in enumerate(HOSTS):
        # nmap -PU: one source port, a random TTL per probe (only nmap's sweeps are host discovery)
        probe = replace(udp(2 * i + 1, sport=61234, dport=53, dst=host), ttl=40 + 7 * i)
        answer = udp(2 * i + 2, sport=53, dport=probe.sport, src=host, dst=SCANNER, payload=9)
        packets += [probe, answer]
    assert set(discover(packets).values()) == {("up", "udp-response", 64)}


def test_a_one_port_sweep_by_a_script_stays_a_port_scan():
    # scapy-like probes (fixed TTL 64, no options) to port 80 of three hosts: masscan/zmap/script sweeps
    # keep their per-port verdicts
    packets = [tcp(i, "S", dport=80, dst=host, options=(), window=8192) for i, host in enumerate(HOSTS, 1)]
    exchanges, _ = replay(packets)
    routed = route("x.pcap", exchanges, [], [])
    assert routed.pings == [] and len(routed.port_exchanges) == 3


def test_a_port_scan_of_one_host_is_not_a_ping_sweep():
    packets = [tcp(i, "S", dport=80 + i) for i in range(1, 8)]
    exchanges, _ = replay(packets)
    routed = route("x.pcap", exchanges, [], [])
    assert routed.pings == [] and len(routed.port_exchanges) == 7


# --- idle scan ------------------------------------------------------------------------------------

ZOMBIE = "198.18.0.4"


def zombie_probe(frame, sport):
    return tcp(frame, "SA", sport=sport, dport=80, dst=ZOMBIE, seq=0, ack=1)


def zombie_rst(frame, probe, ipid):
    p = tcp(frame, "R", sport=80, dport=probe.sport, src=ZOMBIE, dst=SCANNER, seq=probe.ack, window=0)
    return Packet(**{**{f: getattr(p, f) for f in p.__slots__}, "ip_id": ipid})


def spoofed(frame, port):
    return tcp(frame, "S", sport=80, dport=port, src=ZOMBIE, dst=TARGET, seq=4242)


def idle_verdicts(packets):
    exchanges, _ = replay(packets)
    qe = QueryEngine()
    for p in packets:
        qe.feed(p)
    (scan,), _, _ = idle_scans("x.pcap", exchanges, qe.exchanges())
    return scan, {p.port: (p.state.value, p.verdict.reason.value) for p in scan.ports}


def test_idle_scan_counts_ip_id_increments():
    frame, ipid, packets = 1, 1000, []

    def probe_zombie(extra):
        nonlocal frame, ipid
        p = zombie_probe(frame, 30000 + frame)
        ipid += 1 + extra
        packets.extend([p, zombie_rst(frame + 1, p, ipid)])
        frame += 2

    probe_zombie(0)
    probe_zombie(0)  # baseline
    for port, is_open in ((80, True), (81, False)):  # one port per count
        packets.append(spoofed(frame, port))
        frame += 1
        probe_zombie(1 if is_open else 0)
    scan, got = idle_verdicts(packets)
    assert got == {80: ("open", "ipid-change"), 81: ("closed|filtered", "no-ipid-change")}
    assert scan.zombie == f"{ZOMBIE}:80" and scan.scanner == SCANNER and scan.technique is Technique.IDLE


def test_idle_group_count_alone_opens_nothing():
    """A group of two counted one open, never split down: nmap sets no port open from a group count."""
    frame, ipid, packets = 1, 50, []
    for extra in (0, 0):
        p = zombie_probe(frame, 31000 + frame)
        ipid += 1 + extra
        packets += [p, zombie_rst(frame + 1, p, ipid)]
        frame += 2
    packets += [spoofed(frame, 80), spoofed(frame + 1, 81)]
    p = zombie_probe(frame + 2, 32000)
    packets += [p, zombie_rst(frame + 3, p, ipid + 2)]
    _scan, got = idle_verdicts(packets)
    assert got == {80: ("closed|filtered", "no-ipid-change"), 81: ("closed|filtered", "no-ipid-change")}


def test_idle_is_registered_with_its_table():
    spec = REGISTRY[Technique.IDLE]
    assert spec.nmap_option == "-sI" and "none" in spec.table


# --- decoding ---------------------------------------------------------------------------------------


def ether(payload, ethertype=0x0800):
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + struct.pack("!H", ethertype) + payload


def ipv4(proto, payload, src=b"\xc6\x12\x00\x01", dst=b"\xc6\x12\x00\x02"):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0, src, dst)
    return hdr + payload


def test_arp_decodes_only_when_asked():
    frame = ether(struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, b"\x02" * 6, b"\xc6\x12\x00\x02",
                              b"\x02" * 6, b"\xc6\x12\x00\x01"), 0x0806)
    pkt = decode_arp(1, frame, 3, 1.5)
    assert (pkt.proto, pkt.src, pkt.dst, pkt.icmp_type, pkt.frame) == ("arp", TARGET, SCANNER, 2, 3)
    assert pkt.hw == "02:02:02:02:02:02"  # the sender's MAC, written as nmap writes it
    assert decode_arp(1, ether(b"\x00" * 28), 1, 0) is None


def ipv6(next_header, payload, src=b"\x20\x01\x00\x02" + b"\x00" * 11 + b"\x02", dst=b"\x20\x01\x00\x02" + b"\x00" * 11 + b"\x01"):
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), next_header, 255, src, dst) + payload


def neighbour_advertisement(*options):
    target = b"\x20\x01\x00\x02" + b"\x00" * 11 + b"\x02"
    return ether(ipv6(58, struct.pack("!BBHI16s", 136, 0, 0, 0x60000000, target) + b"".join(options)), 0x86DD)


def test_neighbour_advertisement_gives_the_target_mac_from_its_option():
    nonce = struct.pack("!BB6s", 14, 1, b"\x00" * 6)  # an option before the one that matters
    lla = struct.pack("!BB6s", 2, 1, bytes.fromhex("0200c6120002"))
    pkt = decode_frame(1, neighbour_advertisement(nonce, lla), 1, 0)
    assert (pkt.icmp_type, pkt.nd_target, pkt.hw) == (136, TARGET6, "02:00:C6:12:00:02")


@pytest.mark.parametrize("options", [(), (struct.pack("!BB6s", 14, 0, b"\x00" * 6),), (b"\x02\x01\x02",)],
                         ids=["none", "zero-length option", "cut short"])
def test_neighbour_advertisement_without_a_readable_mac_still_decodes(options):
    pkt = decode_frame(1, neighbour_advertisement(*options), 1, 0)
    assert (pkt.icmp_type, pkt.nd_target, pkt.hw) == (136, TARGET6, None)


def test_host_discovery_reports_the_mac_an_arp_reply_announced():
    ask = arp(1, 1)
    reply = replace(arp(2, 2, src=TARGET, dst=SCANNER), hw="02:00:C6:12:00:02")
    engine = QueryEngine()
    for pkt in (ask, reply):
        engine.feed(pkt)
    [found] = discoveries("t.pcap", route("t.pcap", [], engine.exchanges(), []), [])
    assert [(h.address, h.state.value, h.mac) for h in found.hosts] == [(TARGET, "up", "02:00:C6:12:00:02")]


def test_sctp_init_decodes_tags_and_chunk():
    chunk = struct.pack("!BBHIIHHI", 1, 0, 20, 0xDEADBEEF, 32768, 10, 2048, 1)
    pkt = decode_frame(1, ether(ipv4(132, struct.pack("!HHII", 40000, 80, 0, 0) + chunk)), 1, 0)
    assert (pkt.proto, pkt.sport, pkt.dport, pkt.seq, pkt.ack, pkt.chunk_type) == ("sctp", 40000, 80, 0,
                                                                                   0xDEADBEEF, 1)


def test_icmp_echo_decodes_identifier_and_sequence():
    pkt = decode_frame(1, ether(ipv4(1, struct.pack("!BBHHH", 8, 0, 0, 0x1234, 7))), 1, 0)
    assert (pkt.icmp_type, pkt.icmp_id, pkt.icmp_seq) == (8, 0x1234, 7)


def test_icmp_error_quoting_sctp_gives_ports_and_tag():
    quoted = ipv4(132, struct.pack("!HHI", 40000, 80, 0x01020304))
    pkt = decode_frame(1, ether(ipv4(1, struct.pack("!BBHI", 3, 2, 0, 0) + quoted, src=b"\xc6\x12\x00\x02",
                                     dst=b"\xc6\x12\x00\x01")), 1, 0)
    q = pkt.quoted
    assert (q.proto, q.sport, q.dport, q.seq) == ("sctp", 40000, 80, 0x01020304)


def test_bare_protocol_probe_has_no_payload():
    pkt = decode_frame(1, ether(ipv4(47, b"")), 1, 0)
    assert (pkt.proto, pkt.ip_proto, pkt.payload_len) == ("ip", 47, 0)


OS_SYN_OPTIONS = (2, 1, 3, 1, 1, 8, 4)  # mss, nop, wscale, nop, nop, timestamps, sackOK: connect()'s SYN


def _data_connection(first_frame, sport, dport, dst=TARGET):
    """connect() then a request: SYN, SYN/ACK, ACK, data."""
    syn = tcp(first_frame, "S", sport=sport, dport=dport, dst=dst, window=64240, options=OS_SYN_OPTIONS)
    return [syn, reply_to(first_frame + 1, syn, "SA", window=65160),
            tcp(first_frame + 2, "A", sport=sport, dport=dport, dst=dst, seq=1001, ack=1, window=502, options=()),
            tcp(first_frame + 3, "PA", sport=sport, dport=dport, dst=dst, seq=1001, ack=1, window=502, options=(),
                payload=18)]


def _route(packets):
    from pcapscan.exchanges import ReplayEngine
    engine = ReplayEngine()
    for pkt in packets:
        engine.feed(pkt)
    return route("t.pcap", engine.exchanges(), [], engine.ordinary_exchanges())


def test_data_connections_to_a_port_scanned_before_are_version_detection():
    """nmap -sV opens its probes' connections to a port in parallel, within milliseconds."""
    raw = tcp(1, "S", sport=61000, dport=80)
    routed = _route([raw, reply_to(2, raw, "SA", window=64240), tcp(3, "R", sport=61000, dport=80, seq=1001)]
                    + _data_connection(10, 45000, 80) + _data_connection(14, 45002, 80))
    assert [(p.kind, p.target, p.probes) for p in routed.probings] == \
        [("version-detection", TARGET, ("probe 80/tcp x2",))]


def test_a_clients_one_request_to_a_port_scanned_before_is_not_version_detection():
    """The lab's client fetching the page nmap found open: ordinary traffic."""
    raw = tcp(1, "S", sport=61000, dport=80)
    routed = _route([raw, reply_to(2, raw, "SA", window=64240), tcp(3, "R", sport=61000, dport=80, seq=1001)]
                    + _data_connection(10, 45000, 80))
    assert routed.probings == []


def test_the_scanner_hosts_own_traffic_to_an_unscanned_host_is_not_version_detection():
    raw = tcp(1, "S", sport=61000, dport=80)
    elsewhere = "198.19.0.9"
    routed = _route([raw, reply_to(2, raw, "SA", window=64240), tcp(3, "R", sport=61000, dport=80, seq=1001)]
                    + _data_connection(10, 45000, 443, dst=elsewhere))
    assert routed.probings == []
    assert [(ex.target, ex.port) for ex in routed.port_exchanges] == [(TARGET, 80)]
