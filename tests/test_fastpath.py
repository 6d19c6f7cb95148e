"""The fast path (pcapscan/fastpath) gives what the ordinary path gives.

Every capture of the suite, and crafted edge cases, analyzed both ways must
render the same `analyze` JSON. The fast path is forced into its least
common branches here: tiny read chunks (exchanges cut across chunk
boundaries), one scan session per assembly block, every session
fingerprinted from columns, both record walkers. Timing is the
benchmark's business (benchmarks/run_bench.py), never a test's."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pcapbuild import MSS_1460, ether, ipv4_icmp_unreach, ipv4_tcp, ipv4_udp, ipv6_tcp, pcap_bytes

from pcapscan import fastpath
from pcapscan.analysis import analyze, analyze_capture_full
from pcapscan.fastpath import columns, flows, scans, walk, workers
from pcapscan.fastpath.columns import NeedSlowPath
from pcapscan.model import AnalysisResult
from pcapscan.report import jsonfmt, render
from pcapscan.report.stream import write_json

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "captures"
OWN = sorted(p for d in ("golden", "tools", "seeds", "mixed") for p in (ROOT / "captures" / d).rglob("*")
             if p.suffix in (".pcap", ".pcapng", ".gz"))
HAVE_NUMBA = walk.walkers(True)[2] is False


def _json(summary, found, more) -> str:
    return jsonfmt.render(AnalysisResult(captures=(summary,), scans=tuple(found),
                                         discoveries=tuple(more.discoveries), probings=tuple(more.probings)))


def both(path, technique=None, jit=False, **kw):
    """(ordinary JSON, fast JSON or None when the fast path declined)."""
    from pcapscan.analysis import forced_technique

    forced = forced_technique(technique)
    slow = _json(*analyze_capture_full(path, forced))
    try:
        fast = _json(*scans.analyze_capture_fast(path, forced, use_jit=jit, **kw))
    except NeedSlowPath:
        return slow, None
    return slow, fast


@pytest.fixture
def hard(monkeypatch):
    """Every branch of the assembly: a block per session, every session fingerprinted from columns,
    every bulk exchange of several probes kept as columns."""
    monkeypatch.setattr(scans, "BLOCK_ROWS", 1)
    monkeypatch.setattr(scans, "MORE_OBJECTS_MAX", 0)
    monkeypatch.setattr(flows, "RECENT_MIN", 1)  # the flow table's two levels merge at every batch
    return {"fp_objects_max": 0, "chunk_bytes": 512}


def assert_same(path, kw, technique=None, jit=False):
    slow, fast = both(path, technique, jit=jit, **kw)
    if fast is not None:
        assert fast == slow
    return fast is not None


def test_suite_has_captures():
    assert len(OWN) >= 40


@pytest.mark.parametrize("path", OWN, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fast_equals_slow_on_own_captures(path, hard):
    assert_same(path, hard)


def test_fast_equals_slow_on_shared_captures(hard):
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent")
    files = sorted(p for p in SHARED.rglob("*") if p.is_file() and p.suffix in (".pcap", ".pcapng", ".gz"))
    assert files
    taken = sum(assert_same(p, hard) for p in files)
    assert taken >= len(files) * 0.8  # most take the fast path; the rest fall back (backwards timestamps...)


@pytest.mark.parametrize("technique", ["window", "ack", "syn", "udp"])
def test_forced_technique(technique, hard):
    assert_same(ROOT / "captures" / "golden" / "ack.pcap", hard, technique)
    assert_same(ROOT / "captures" / "golden" / "window.pcap", hard, technique)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba (the `fast` extra) is not installed")
def test_compiled_walker_equals_python_walker(hard):
    for path in OWN[:20]:
        assert_same(path, hard, jit=True)


def _walk_case(rng, n, big, hlen):
    """Records whose payloads carry things that look like record headers, timestamps
    whose top byte changes, and a corrupt or cut-short record at the end."""
    import struct

    e = ">" if big else "<"
    out = bytearray()
    sec = rng.choice([1_700_000_000, 0x68FFFFF0, 5])
    for _ in range(n):
        if rng.random() < 0.3:
            pay = bytearray()
            while len(pay) < rng.randint(0, 200):
                fake = rng.choice([0, 4, 20, 60, rng.randint(0, 300000)])
                pay += struct.pack(e + "IIII", sec + rng.randint(-3, 3), rng.randint(0, 999999), fake, fake)
                pay += bytes(rng.randint(0, 30))
        else:
            pay = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 120)))
        if rng.random() < 0.01:
            sec += 1 << 24
        sec += rng.randint(0, 2)
        out += struct.pack(e + "IIII", sec, rng.randint(0, 999999), len(pay), len(pay)) + bytes(hlen - 16) + pay
    if rng.random() < 0.3:
        out += struct.pack(e + "IIII", sec, 0, 300000, 300000) + bytes(50)
    elif rng.random() < 0.5:
        out += struct.pack(e + "IIII", sec, 0, 100, 100) + bytes(rng.randint(0, 99))
    return bytes(out)


def test_bulk_record_walk_equals_the_loop(monkeypatch):
    """walk._chain (record starts found in bulk) finds what the plain loop finds, fake headers and all."""
    import random

    import numpy as np

    def run(buf, big, hlen, bulk):
        monkeypatch.setattr(walk, "VEC_MIN_BYTES", 64 if bulk else 1 << 60)
        monkeypatch.setattr(walk, "VEC_MIN_RECORDS", 1)
        cap = len(buf) // 16 + 1
        outs = [np.zeros(cap, np.int64), np.zeros(cap, np.int64), np.zeros(cap, np.uint32), np.zeros(cap, np.uint32)]
        res = walk._walk_pcap_py(buf, 0, hlen, big, 262144, *outs)
        return res, [o[:res[0]].tolist() for o in outs]

    rng = random.Random(7)
    for _ in range(120):
        big, hlen = rng.random() < 0.5, rng.choice([16, 24])
        buf = _walk_case(rng, rng.randint(1, 2000), big, hlen)
        assert run(buf, big, hlen, True) == run(buf, big, hlen, False)


def test_bulk_record_walk_on_own_captures(hard, monkeypatch):
    monkeypatch.setattr(walk, "VEC_MIN_BYTES", 64)
    monkeypatch.setattr(walk, "VEC_MIN_RECORDS", 1)
    for path in OWN:
        assert_same(path, dict(hard, chunk_bytes=1 << 20))


def test_options_parsed_in_bulk_equal_one_by_one(hard, monkeypatch):
    monkeypatch.setattr(columns, "LANE_MAX_LAYOUTS", 0)
    for name in ("connect.pcap", "syn.pcap", "connect6.pcap"):
        assert_same(ROOT / "captures" / "golden" / name, hard)


# -- crafted edge cases ---------------------------------------------------------------------------

S, T, R = "198.18.0.1", "198.18.0.2", "198.18.5.5"


def syn(sport, dport, seq=1000, ttl=44, ip_id=7):
    return ipv4_tcp(S, T, sport, dport, 0x02, seq=seq, window=1024, ttl=ttl, options=MSS_1460, ip_id=ip_id)


def back(sport, dport, flags, seq, ack, window=0, payload=b""):
    return ipv4_tcp(T, S, dport, sport, flags, seq=seq, ack=ack, window=window, payload=payload)


def big_scan(t0=1.0, sport=40000, ports=range(1, 61), open_ports=(22, 50)):
    """A SYN scan of many ports: SYN/ACK (then the scanner's RST) for open ports, RST/ACK for the rest."""
    recs, t = [], t0
    for port in ports:
        recs.append((t, ether(syn(sport, port))))
        t += 0.001
        if port in open_ports:
            recs.append((t, ether(back(sport, port, 0x12, 5000, 1001, window=64240, payload=b""))))
            recs.append((t + 0.0001, ether(ipv4_tcp(S, T, sport, port, 0x04, seq=1001))))
        else:
            recs.append((t, ether(back(sport, port, 0x14, 0, 1001))))
        t += 0.001
    return recs


def null_scan(t0=1.0, sport=33333, times=3, gap=2.0, silent=(22, 25), step=0.001):
    """nmap's NULL scan from one source port run `times` times (a capture replayed), each run
    `gap` seconds after the one before and probing three ports more: RST/ACK for closed
    ports, nothing for the `silent` ones. Every run reopens the flows of the one before."""
    recs = []
    for k in range(times):
        t = t0 + k * gap
        for port in range(20, 30 + 3 * k):
            recs.append((t, ether(ipv4_tcp(S, T, sport, port, 0x00, seq=777, window=1024, ip_id=99))))
            t += step
            if port not in silent:
                recs.append((t, ether(back(sport, port, 0x14, 0, 777))))
            t += step
    return recs


def _edited(recs, frame, ts=None, after=None):
    """recs with record `frame` (0-based) stamped `ts`, or moved to just after record `after`."""
    recs = list(recs)
    if ts is not None:
        recs[frame] = (ts, recs[frame][1])
    if after is not None:
        rec = recs.pop(frame)
        recs.insert(after if after < frame else after - 1, rec)
    return recs


CASES = {
    "plain": lambda: big_scan(),
    "retry-same-sport": lambda: big_scan() + [(5.0, ether(syn(40000, 9999))), (6.1, ether(syn(40000, 9999)))],
    "retry-other-sport": lambda: big_scan() + [(5.0, ether(syn(40000, 9998))), (6.1, ether(syn(40001, 9998)))],
    "duplicates": lambda: [r for rec in big_scan() for r in (rec, (rec[0] + 0.000001, rec[1]))],
    "icmp-unreachable": lambda: big_scan() + [
        (5.0, ether(syn(40000, 7777))),
        (5.001, ether(ipv4_icmp_unreach(R, S, 13, syn(40000, 7777)[:28]))),
        (5.2, ether(syn(40000, 7778))),
        (5.201, ether(ipv4_icmp_unreach(T, S, 3, syn(40000, 7778)[:28])))],
    "icmp-before-probe": lambda: [(0.5, ether(ipv4_icmp_unreach(T, S, 3, syn(40000, 5)[:28])))] + big_scan(),
    "reused-port": lambda: big_scan() + big_scan(t0=9.0, ports=range(1, 30)),
    "scapy-fixed-sport": lambda: big_scan(sport=20) + [
        (9.0, ether(ipv4_tcp(S, T, 20, 80, 0x02, seq=0, window=8192, ip_id=1)))],
    "stray": lambda: big_scan() + [(5.0, ether(syn(40000, 6000))), (5.001, ether(back(40000, 6000, 0x14, 0, 1)))],
    "ordinary-traffic": lambda: big_scan() + [
        (5.0, ether(ipv4_tcp(R, T, 50000, 8080, 0x02, seq=1, options=MSS_1460))),
        (5.001, ether(ipv4_tcp(T, R, 8080, 50000, 0x12, seq=9, ack=2))),
        (5.002, ether(ipv4_tcp(R, T, 50000, 8080, 0x10, seq=2, ack=10))),
        (5.003, ether(ipv4_tcp(R, T, 50000, 8080, 0x18, seq=2, ack=10, payload=b"GET / HTTP/1.0\r\n\r\n"))),
        (5.004, ether(ipv4_tcp(T, R, 8080, 50000, 0x18, seq=10, ack=20, payload=b"x" * 300))),
        (5.1, ether(ipv4_tcp(T, R, 8080, 50001, 0x18, seq=10, ack=20, payload=b"mid-flow"))),
        (5.2, ether(ipv4_tcp(R, T, 50001, 8080, 0x10, seq=20, ack=18)))],
    "udp": lambda: big_scan() + [(5.0, ether(ipv4_udp(S, T, 53001, 53, b"q"))),
                                 (5.001, ether(ipv4_udp(T, S, 53, 53001, b"answer"))),
                                 (5.1, ether(ipv4_udp(S, T, 53001, 161))),
                                 (5.2, ether(ipv4_udp(S, T, 53001, 162)))],
    "vlan-and-v6": lambda: big_scan() + [
        (5.0, ether(syn(40000, 3333), vlan=5)), (5.001, ether(back(40000, 3333, 0x14, 0, 1001), vlan=5)),
        (5.1, ether(ipv6_tcp("2001:2::1", "2001:2::2", 40000, 80, 0x02, seq=5, options=MSS_1460))),
        (5.101, ether(ipv6_tcp("2001:2::2", "2001:2::1", 80, 40000, 0x14, seq=0, ack=6)))],
    "answer-before-probe": lambda: [(0.5, ether(back(40000, 5, 0x14, 0, 1001)))] + big_scan(),
    "broadcast": lambda: big_scan() + [(5.0, ether(ipv4_udp(S, "198.18.0.255", 5000, 137)))],
    "dhcp-and-ntp": lambda: big_scan() + [(5.0, ether(ipv4_udp(S, T, 68, 67, b"d" * 300))),
                                          (5.001, ether(ipv4_udp(T, S, 67, 68, b"o" * 300))),
                                          (5.1, ether(ipv4_udp(S, T, 123, 123, b"n" * 48))),
                                          (5.2, ether(ipv4_udp(S, T, 53, 67)))],
    "backwards-time": lambda: list(reversed(big_scan())),
    # scan sessions (sessions.py): scapy's scan of the same ports after nmap's, and nmap's
    # scan run again after a long silence, each its own session in both paths
    "two-tools-one-target": lambda: big_scan() + [
        (t, ether(ipv4_tcp(S, T, 20, port, 0x02, seq=0, window=8192, ip_id=1)))
        for t, port in ((8.0 + i * 0.01, p) for i, p in enumerate(range(1, 61)))],
    "same-scan-again": lambda: big_scan() + big_scan(t0=100.0, sport=40123),
    # established-connection traffic: a keep-alive (ACK, seq-1) answered by ACK, a late ACK with timestamps
    "keep-alive-and-late-ack": lambda: big_scan() + [
        (5.0, ether(ipv4_tcp(S, R, 51000, 443, 0x10, seq=999, ack=77, window=501))),
        (5.001, ether(ipv4_tcp(R, S, 443, 51000, 0x10, seq=77, ack=1000, window=300))),
        (5.1, ether(ipv4_tcp(S, R, 51002, 443, 0x10, seq=5, ack=6, window=501,
                             options=b"\x01\x01\x08\x0a" + b"\x00" * 8)))],
    # a scan run again from one source port: the engine reopens each flow (exchanges.reopens), the
    # fast path splits it (FlowTable._reopened) where nothing differs, else gives the key to the engine
    "null-scan-run-three-times": lambda: null_scan(),
    "null-scan-copies-within-10ms": lambda: null_scan(gap=0.004, step=0.0001),
    # run 2's answer to port 20 written after its probe, stamped before it
    "null-scan-answer-stamped-before-its-probe": lambda: _edited(null_scan(), 19, ts=2.9995),
    # run 1's answer to port 21 written before run 2's probe, stamped after it (_take_from_before)
    "null-scan-old-answer-stamped-after-the-new-probe": lambda: _edited(null_scan(), 3, ts=3.0025),
    "null-scan-icmp-error-between": lambda: null_scan(times=2) + [
        (4.5, ether(ipv4_icmp_unreach(T, S, 3, ipv4_tcp(S, T, 33333, 21, 0x00, seq=777, window=1024)[:28])))]
    + null_scan(t0=5.0, times=1),
    "null-scan-second-answer": lambda: null_scan() + [(5.5, ether(back(33333, 20, 0x14, 0, 777)))],
    # a port that never answers, probed again (nmap's retries, a scan run again): the retries handed on
    # as columns (FlowTable.take_retries), the flows of one port one exchange (Assembler._fold), where
    # nothing the engine does could differ; else the engine's
    "silent-port-probed-again-from-two-ports": lambda: big_scan() + [
        (5.0 + i, ether(syn(40000 + i % 2, 9997, ip_id=i))) for i in range(6)],
    "silent-port-retry-within-10ms": lambda: big_scan() + [(5.0, ether(syn(40000, 9997))),
                                                           (5.004, ether(syn(40000, 9997, ip_id=8)))],
    "silent-port-retry-stamped-before": lambda: big_scan() + [(5.0, ether(syn(40000, 9997))),
                                                              (6.0, ether(syn(40000, 9997, ip_id=8))),
                                                              (5.5, ether(syn(40000, 9997, ip_id=9)))],
    "silent-port-then-other-flags": lambda: big_scan() + [
        (5.0, ether(syn(40000, 9997))), (6.0, ether(ipv4_tcp(S, T, 40000, 9997, 0x01, seq=1000, window=1024)))],
    "silent-port-then-data": lambda: big_scan() + [
        (5.0, ether(syn(40000, 9997))),
        (6.0, ether(ipv4_tcp(S, T, 40000, 9997, 0x02, seq=1000, window=1024, options=MSS_1460, payload=b"x")))],
    "silent-port-answered-at-last": lambda: big_scan() + [(5.0, ether(syn(40000, 9997))), (6.0, ether(syn(40000, 9997))),
                                                          (6.001, ether(back(40000, 9997, 0x14, 0, 1001)))],
    "silent-and-answered-flows-of-one-port": lambda: big_scan() + [
        (5.0, ether(syn(40000, 9997))), (6.0, ether(syn(40000, 9997, ip_id=8))), (7.0, ether(syn(40001, 9997))),
        (7.001, ether(back(40001, 9997, 0x14, 0, 1001)))],
    "silent-udp-port-probed-again": lambda: big_scan() + [(5.0 + i, ether(ipv4_udp(S, T, 53001, 161))) for i in range(3)],
    "syn-then-fin-from-one-port": lambda: [
        (1.0, ether(syn(20, 80))), (1.001, ether(back(20, 80, 0x14, 0, 1001))),
        (2.0, ether(ipv4_tcp(S, T, 20, 80, 0x01, seq=5, window=1024))),
        (2.5, ether(ipv4_tcp(S, T, 20, 80, 0x01, seq=5, window=1024))),
        (3.0, ether(syn(20, 80))), (3.001, ether(back(20, 80, 0x12, 9, 1001))),
        (3.002, ether(ipv4_tcp(S, T, 20, 80, 0x10, seq=1001, ack=10)))] + big_scan(t0=4.0),
    # an IPv6 address decode_frame reads (VLAN tag) before any the bulk decoder reads: with two
    # processes, the decoding child and the flow table number IPv6 addresses differently
    "v6-slow-first": lambda: [
        (0.5, ether(ipv6_tcp("2001:2::9", "2001:2::2", 41000, 81, 0x02, seq=5, options=MSS_1460), vlan=5)),
        (0.6, ether(ipv6_tcp("2001:2::9", "2001:2::2", 41000, 82, 0x02, seq=5, options=MSS_1460), vlan=5))]
    + [(1.0 + i * 0.001, ether(ipv6_tcp("2001:2::1", "2001:2::2", 40000, 1 + i // 2, 0x02 if i % 2 == 0 else 0x14,
                                       seq=5 if i % 2 == 0 else 0, ack=0 if i % 2 == 0 else 6,
                                       options=MSS_1460 if i % 2 == 0 else b"")
                                 if i % 2 == 0 else
                                 ipv6_tcp("2001:2::2", "2001:2::1", 1 + i // 2, 40000, 0x14, seq=0, ack=6)))
       for i in range(80)]
    + [(2.0, ether(ipv6_tcp("2001:2::9", "2001:2::2", 41000, 83, 0x02, seq=5, options=MSS_1460))),
       (2.001, ether(ipv6_tcp("2001:2::2", "2001:2::9", 83, 41000, 0x14, seq=0, ack=6)))],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_edge_cases(case, tmp_path, hard):
    path = tmp_path / f"{case}.pcap"
    path.write_bytes(pcap_bytes(CASES[case]()))
    for chunk in (64, 200, 1 << 20):  # exchanges cut at every place by chunk boundaries
        hard["chunk_bytes"] = chunk
        took = assert_same(path, hard)
    assert took
    # the public entry point: same result, whichever way it went
    assert jsonfmt.render(analyze(path, fast=True)) == jsonfmt.render(analyze(path))


# -- timestamps out of order: records written in one order, stamped by clocks that disagree ---------------


def moved_back(recs, every=97, by=1.0):
    """The same records in the same order, every `every`-th one's timestamp
    `by` seconds back (its neighbours keep theirs)."""
    return [(ts - by if i % every == every // 2 else ts, data) for i, (ts, data) in enumerate(recs)]


def _verdicts(text: str, path) -> dict:
    """The analyze JSON without the sessions' time spans (a probe stamped
    earlier does start its session earlier), the capture named X."""
    d = json.loads(text.replace(str(path), "X"))
    for scan in d["scans"]:
        scan.pop("start"), scan.pop("end")
    return d


def _damaged(kind: str) -> bytes:
    """A SYN scan's pcap cut or spoiled near its end the ways the record walk must notice."""
    whole = pcap_bytes(big_scan())
    ends, at = [], 24
    while at < len(whole):  # where each record ends
        at += 16 + int.from_bytes(whole[at + 8:at + 12], "little")
        ends.append(at)
    last = ends[-2]  # where the last record starts
    if kind == "cut-in-header":
        return whole[:last + 7]
    if kind == "cut-in-data":
        return whole[:last + 30]
    spoiled = bytearray(whole)  # record 100 claims more bytes than any record may hold
    spoiled[ends[98] + 8:ends[98] + 12] = (1 << 20).to_bytes(4, "little")
    return bytes(spoiled)


@pytest.mark.parametrize("kind", ["cut-in-header", "cut-in-data", "corrupt-length"])
def test_damaged_pcap_warns_as_the_ordinary_reader(kind, tmp_path, hard):
    """The fast reader walks pcap records by the ordinary reader's rules and
    says the same words when one is impossible or cut short."""
    path = tmp_path / "damaged.pcap"
    path.write_bytes(_damaged(kind))
    slow, fast = both(path, **hard)
    assert fast == slow
    words = {"cut-in-header": "is truncated (the file ends 7 bytes into it, inside its header)",
             "cut-in-data": "is truncated (the file ends 30 bytes into it)",
             "corrupt-length": "record 100 is corrupt (its header claims 1048576 captured bytes"}[kind]
    assert words in fast


def _copies_either_side(recs, back=1.0):
    """Every record seen twice (a capture on "any"), the copy 1 us later; one
    record of another flow stamped 1 s back sits between some originals and
    their copies: the duplicate memory must still pair them."""
    out = []
    for i, (ts, data) in enumerate(recs):
        out.append((ts, data))
        if i % 10 == 5:
            out.append((ts - back, ether(ipv4_udp(R, T, 5353, 5353 + i, b"mdns"))))
        out.append((ts + 0.000001, data))
    return out


OUT_OF_ORDER = {  # (records in time order, the same records with some timestamps moved back)
    "answers-and-probes-back-1s": lambda: (lambda r: (r, moved_back(r)))(
        big_scan(t0=100.0, ports=range(1, 400), open_ports=(22, 50, 80, 300))),
    "back-3s-every-50th": lambda: (lambda r: (r, moved_back(r, every=50, by=3.0)))(
        big_scan(t0=100.0, ports=range(1, 400), open_ports=(22, 300))),
    "copies-either-side": lambda: (_copies_either_side(big_scan(t0=100.0), back=0.0),
                                   _copies_either_side(big_scan(t0=100.0))),
    "retries-and-icmp": lambda: (lambda r: (r, moved_back(r, every=7)))(
        [(ts + 100.0, d) for ts, d in CASES["icmp-unreachable"]() + CASES["retry-other-sport"]()[-2:]]),
}


def answers_written_first(recs, every=7):
    """The same records, every open port's SYN/ACK and each `every`-th closed
    port's RST/ACK (or ICMP error) written just before its probe, every
    record keeping its own timestamp: what several NIC queues or a capture
    on "any" do to record order."""
    out = list(recs)
    for i in range(len(out) - 1):
        probe, answer = out[i][1], out[i + 1][1]
        if probe[23] != 6 or probe[47] != 0x02:  # a SYN from the scanner ...
            continue
        synack = answer[23] == 6 and answer[47] == 0x12
        if synack or (i % every == 0 and ((answer[23] == 6 and answer[47] == 0x14) or answer[23] == 1)):
            out[i], out[i + 1] = out[i + 1], out[i]  # ... and its answer, written first
    return out


WRITTEN_FIRST = {
    "rst-before-syn": lambda: big_scan(ports=range(1, 300), open_ports=(22, 80)),
    "icmp-before-probe-stamped-after": lambda: CASES["icmp-unreachable"](),
    "reused-port": lambda: CASES["reused-port"](),
    "scapy-fixed-sport": lambda: CASES["scapy-fixed-sport"](),
}


def _states(text: str) -> dict:
    """(scanner, target, port) -> (state, reason, reason_ttl) of an analyze JSON."""
    d = json.loads(text)
    return {(s["scanner"], s["target"], p["proto"], p["port"]): (p["state"], p["reason"], p["reason_ttl"])
            for s in d["scans"] for p in s["ports"]}


@pytest.mark.parametrize("case", sorted(WRITTEN_FIRST))
def test_answers_written_before_their_probes_keep_the_sorted_verdicts(case, tmp_path, hard):
    """An answer recorded before its probe but stamped after it is the probe's
    answer (exchanges.EARLY_ANSWER_FRAMES): every port says what it says when
    the records are in time order, on both paths."""
    recs = WRITTEN_FIRST[case]()
    swapped = answers_written_first(recs)
    assert swapped != recs
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    in_order, written_first = tmp_path / "a" / "scan.pcap", tmp_path / "b" / "scan.pcap"
    in_order.write_bytes(pcap_bytes(recs))
    written_first.write_bytes(pcap_bytes(swapped))
    want = _states(_json(*analyze_capture_full(in_order)))
    slow, fast = both(written_first, **hard)
    assert fast is not None and fast == slow
    assert _states(slow) == want
    assert {"closed", "open"} <= {state for state, _r, _t in want.values()}


def test_an_answer_stamped_before_the_probe_it_is_written_before_is_not_its_answer(tmp_path, hard):
    """Written first and stamped first too: a reply to something the capture
    does not hold, not to the probe that follows (the port stays unanswered)."""
    recs = big_scan(ports=range(1, 40), open_ports=())
    swapped = answers_written_first(recs, every=1)
    moved = [(ts - 0.5 if data[23] == 6 and data[47] == 0x14 else ts, data) for ts, data in swapped]
    path = tmp_path / "scan.pcap"
    path.write_bytes(pcap_bytes(moved))
    slow, fast = both(path, **hard)
    assert fast == slow
    states = _states(slow)
    assert states and all(state == "filtered" for state, _r, _t in states.values())


@pytest.mark.parametrize("case", sorted(OUT_OF_ORDER))
def test_out_of_order_timestamps_take_the_fast_path_with_the_sorted_verdicts(case, tmp_path, hard):
    """Up to 2% of the timestamps a few seconds back, the records where they
    were: the fast path reads it (no fallback), agrees with the ordinary
    path, and both say what they say of the capture in time order."""
    recs, moved = OUT_OF_ORDER[case]()
    (tmp_path / "sorted").mkdir()
    (tmp_path / "moved").mkdir()
    sorted_path, moved_path = tmp_path / "sorted" / "scan.pcap", tmp_path / "moved" / "scan.pcap"
    sorted_path.write_bytes(pcap_bytes(recs))
    assert sum(a[0] != b[0] for a, b in zip(recs, moved)) > 0
    moved_path.write_bytes(pcap_bytes(moved))
    want = _verdicts(_json(*analyze_capture_full(sorted_path)), sorted_path)
    slow = _json(*analyze_capture_full(moved_path))
    assert _verdicts(slow, moved_path) == want
    for chunk in (200, 1 << 20):
        for parallel in (False, True):
            got = scans.analyze_capture_fast(moved_path, use_jit=False, **dict(hard, chunk_bytes=chunk,
                                                                              parallel=parallel))
            assert _json(*got) == slow
    assert jsonfmt.render(analyze(moved_path, fast=True)) == jsonfmt.render(analyze(moved_path))


def test_duplicate_memory_is_each_flows_own(tmp_path):
    """Whether a packet is a copy depends only on the packets with its own
    fields, whatever the other flows' clocks do: the engine fed one flow
    alone says what it says fed the whole capture."""
    from pcapscan.capture import ReadStats, read_packets
    from pcapscan.exchanges import ReplayEngine

    path = tmp_path / "copies.pcap"
    path.write_bytes(pcap_bytes(_copies_either_side(big_scan())))
    packets = list(read_packets(str(path), ReadStats(str(path))))
    whole = ReplayEngine()
    for p in packets:
        whole.feed(p)
    assert whole.stats.duplicates == 122  # every scan packet's copy, across the records stamped 1 s back
    for port in (1, 22, 37):
        engine = ReplayEngine()
        own = [p for p in packets if p.proto == "tcp" and port in (p.sport, p.dport)]
        for p in own:
            engine.feed(p)
        assert engine.stats.duplicates == len(own) // 2  # each of its packets' copies


# -- two processes on one capture: a decoding child, then half of the assembly blocks each -----------------


@pytest.mark.parametrize("path", OWN, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_two_processes_equal_one_on_own_captures(path, hard):
    assert_same(path, dict(hard, parallel=True))


@pytest.mark.parametrize("reread", [False, True], ids=["read-once", "read-twice"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_two_processes_on_edge_cases(case, reread, tmp_path, hard, monkeypatch):
    if reread:  # a big capture's way (see test_read_twice_*)
        from pcapscan.fastpath import feed

        monkeypatch.setattr(scans, "REREAD_MIN_BYTES", 0)
        monkeypatch.setattr(feed, "REREAD_GAP", 3)
    path = tmp_path / f"{case}.pcap"
    path.write_bytes(pcap_bytes(CASES[case]()))
    for chunk in (200, 1 << 20):
        took = assert_same(path, dict(hard, chunk_bytes=chunk, parallel=True))
    assert took


def test_two_processes_survive_a_lost_child(tmp_path, hard, monkeypatch):
    """A child that dies without a word: its share is done again in this process."""
    import os as _os

    path = tmp_path / "scan.pcap"
    path.write_bytes(pcap_bytes(big_scan() + big_scan(t0=9.0, ports=range(1, 30), sport=40001)))
    real_fork = _os.fork

    def fork():
        pid = real_fork()
        if pid == 0:
            _os._exit(3)
        return pid

    monkeypatch.setattr(workers.os, "fork", fork)
    assert assert_same(path, dict(hard, parallel=True))


def test_two_processes_read_in_the_child(tmp_path, hard, monkeypatch):
    """With a second process the capture is decoded there (no quiet fallback to one process)."""
    path = tmp_path / "scan.pcap"
    path.write_bytes(pcap_bytes(big_scan() + big_scan(t0=9.0, ports=range(1, 30), sport=40001)))

    def read_here(*args):
        raise AssertionError("read in this process")

    monkeypatch.setattr(scans, "read_here", read_here)
    assert assert_same(path, dict(hard, parallel=True))
    with pytest.raises(AssertionError, match="read in this process"):
        scans.analyze_capture_fast(path, use_jit=False, parallel=False)


def test_two_processes_when_this_one_fails_first(tmp_path, monkeypatch):
    """An error while keying flows stops the decoding child; the error is raised, nothing hangs."""
    path = tmp_path / "scan.pcap"
    path.write_bytes(pcap_bytes(big_scan() + big_scan(t0=9.0, ports=range(1, 30), sport=40001)))
    calls = []

    def feed(self, d, slow, facts=None):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")

    monkeypatch.setattr(flows.FlowTable, "feed", feed)
    with pytest.raises(RuntimeError, match="boom"):
        scans.analyze_capture_fast(path, use_jit=False, chunk_bytes=200, parallel=True)


def test_truncated_capture_says_the_same(tmp_path, hard):
    data = pcap_bytes(big_scan())
    for cut in (7, 20, 40):
        path = tmp_path / f"cut{cut}.pcap"
        path.write_bytes(data[:-cut])
        assert assert_same(path, hard)


def test_port_table_reads_like_port_results(tmp_path):
    path = tmp_path / "scan.pcap"
    path.write_bytes(pcap_bytes(big_scan()))
    _s, fast, _m = scans.analyze_capture_fast(path, use_jit=False)
    _s, slow, _m = analyze_capture_full(path)
    assert [(p.proto, p.port, p.verdict) for p in fast[0].ports] == \
        [(p.proto, p.port, p.verdict) for p in slow[0].ports]


# -- rendering of big scans -------------------------------------------------------------------------


def test_table_and_xml_collapse_big_states_like_nmap(tmp_path):
    path = tmp_path / "scan.pcap"
    path.write_bytes(pcap_bytes(big_scan()))
    for result in (analyze(path), analyze(path, fast=True)):
        table = render(result, "table")
        assert "Not shown: 58 closed tcp ports (reset)" in table
        assert "22/tcp" in table and "50/tcp" in table and "\n5/tcp" not in table
        xml = render(result, "nmap-xml")
        assert '<extraports state="closed" count="58">' in xml
        assert '<extrareasons reason="reset" count="58" proto="tcp" ports="1-21,23-49,51-60" />' in xml
        assert xml.count("<port ") == 2


def test_streamed_json_is_the_rendered_json(tmp_path):
    import io

    path = tmp_path / "scan.pcap"
    path.write_bytes(pcap_bytes(big_scan() + [(5.0, ether(syn(40000, 9999))), (6.1, ether(syn(40001, 9999)))]))
    for result in (analyze(path), analyze(path, fast=True)):
        out = io.StringIO()
        write_json(result, out)
        assert out.getvalue() == jsonfmt.render(result)
        json.loads(out.getvalue())


# -- many files, small files ----------------------------------------------------------------------------


def test_jobs_parallel_equals_serial():
    paths = OWN[:12] + [ROOT / "captures" / "golden" / "missing.pcap"]
    serial = analyze(paths, jobs=1)
    parallel = analyze(paths, jobs=2, fast="auto")
    assert jsonfmt.render(parallel) == jsonfmt.render(serial)
    assert [c.path for c in parallel.captures] == [str(p) for p in paths]
    assert parallel.errors and parallel.errors == serial.errors


def test_small_capture_imports_no_numba_no_scapy():
    code = ("import sys\nfrom pcapscan.cli import main\nsys.argv = ['pcapscan', 'analyze', sys.argv[1]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('LOADED', sorted(m for m in ('numba', 'scapy', 'llvmlite') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "captures" / "golden" / "syn.pcap")],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "LOADED []"


def test_auto_takes_the_fast_path_only_for_big_files(tmp_path, monkeypatch):
    small = ROOT / "captures" / "golden" / "syn.pcap"
    assert not fastpath.wants_fast(small, "auto")
    assert fastpath.wants_fast(small, True)
    monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)
    assert fastpath.wants_fast(small, "auto")
    assert not fastpath.wants_fast(small, False)


def test_a_big_gzip_capture_is_read_the_slow_way_and_says_so(tmp_path, monkeypatch):
    """gzip-compressed, the ordinary path reads it (about 50 times as long as
    the fast path, ten times the memory on 1.3M packets: docs/performance.md):
    a warning says so and how to avoid it, in the language asked; a small one
    or one read by the fast path says nothing."""
    import gzip

    from click.testing import CliRunner

    from pcapscan.cli import main

    syn = ROOT / "captures" / "golden" / "syn.pcap"
    gz = tmp_path / "syn.pcap.gz"
    gz.write_bytes(gzip.compress(syn.read_bytes()))
    runner = CliRunner()
    assert runner.invoke(main, ["analyze", str(gz)]).stderr == ""  # small: the ordinary path anyway
    monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)  # as if both were big
    r = runner.invoke(main, ["analyze", str(gz)])
    assert r.exit_code == 0 and r.stderr == (f"pcapscan: warning: {gz}: gzip-compressed: read packet by packet, not "
                                             "by the fast path: slower (gunzip it first for the fast path)\n")
    assert "逐个数据包读取" in runner.invoke(main, ["analyze", "--lang", "zh", str(gz)]).stderr
    assert runner.invoke(main, ["analyze", str(syn)]).stderr == ""  # the fast path read it
    assert r.stdout.splitlines()[1:] == runner.invoke(main, ["analyze", str(syn)]).stdout.splitlines()[1:]


def test_cli_draws_no_progress_when_piped(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pcapscan.cli", "analyze", "-j", "2",
                           str(ROOT / "captures" / "golden" / "syn.pcap"), str(ROOT / "captures" / "golden" / "fin.pcap")],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == ""
    assert "syn scan" in proc.stdout and "fin scan" in proc.stdout


def test_gather_rows_reads_past_the_buffer_end_as_zeros():
    import numpy as np

    rng = np.random.default_rng(7)
    for n in (0, 3, 95, 96, 97, 300):
        buf = rng.integers(0, 256, n).astype(np.uint8)
        at = np.array(sorted(rng.integers(0, max(n, 1), 25).tolist() + [max(n - 1, 0)]), np.int64)
        for width in (1, 8, 96):
            want = [bytes(buf[a:a + width]).ljust(width, b"\0") for a in at.tolist()]
            got = columns.gather_rows(buf, at, width)
            assert [bytes(r) for r in got] == want


def test_flow_columns_start_narrow_widen_when_needed_and_skip_zeros_exactly():
    """A probe column kept narrow takes its full type (values kept) when a value does not fit;
    zeros not written into a column that held only zeros read back as zeros all the same."""
    import numpy as np

    g = flows.Grow(np.uint32, narrow=np.uint16)
    g.resize(6)
    g.put(slice(0, 3), np.array([1, 2, 65535], np.uint32))
    assert g.a.dtype == np.uint16
    g.put(np.array([3, 4]), np.array([65536, 7], np.int64))
    assert g.a.dtype == np.uint32 and g.v.tolist() == [1, 2, 65535, 65536, 7, 0]
    m = flows.Grow(np.int32, narrow=np.int16)
    m.resize(3)
    m.put(slice(0, 3), np.array([-1, 1460, 40000], np.int64))
    assert m.v.tolist() == [-1, 1460, 40000] and m.a.dtype == np.int32
    z = flows.Grow(np.uint32)
    z.resize(5)
    z.put(slice(0, 2), np.zeros(2, np.uint32))
    assert not z.written
    z.put(slice(2, 4), np.array([0, 9], np.uint32))
    z.put(np.array([4]), np.zeros(1, np.uint32))
    assert z.written and z.v.tolist() == [0, 0, 0, 9, 0]
    # the table: IP lengths past 65535 (an IPv6 jumbo-sized record length) keep their value
    table = flows.FlowTable(columns.AddressBook(), columns.OptionBook())
    n = 4
    d = columns.Decoded(frame=np.arange(1, n + 1), ts=np.arange(n, dtype=float), fileoff=np.arange(n) * 100,
                        src=np.array([1, 1, 1, 1]),
                        dst=np.array([2, 2, 2, 2]), udp=np.zeros(n, bool), ttl=np.full(n, 64, np.uint8),
                        ip_id=np.arange(n), length=np.array([44, 70000, 44, 44]), sport=np.array([5, 6, 7, 8]),
                        dport=np.array([80, 81, 82, 83]), flags=np.full(n, 2), seq=np.arange(n) + 10,
                        ack=np.zeros(n, np.int64), window=np.full(n, 1024), opt=np.zeros(n, np.int32),
                        mss=np.full(n, -1), payload=np.zeros(n, np.int64))
    table.feed(d, [])
    assert table.probe["length"].v.tolist() == [44, 70000, 44, 44]
    assert table.probe["ack"].v.tolist() == [0] * n and table.probe["mss"].v.tolist() == [-1] * n


@pytest.mark.parametrize("pure", [False, True])
def test_address_pairs_numbered_by_runs_as_by_every_row(monkeypatch, pure):
    """Pair ids from the runs' first rows (flows.key_parts, compiled or not): the ones numbering
    every row gives (new pairs of a batch in sorted order after the known ones), on runs long
    and short and on IPv6 ids."""
    import numpy as np

    if pure:
        monkeypatch.setattr(flows, "compiled", lambda: None)
    rng = np.random.default_rng(13)
    table = flows.FlowTable(columns.AddressBook(), columns.OptionBook())
    known: dict = {}
    for m, run in ((1, 1), (5000, 500), (5000, 1), (3000, 7), (4000, 50)):
        a = np.repeat(rng.integers(0, 40, m // run + 1), run)[:m] * 1000 + 7
        b = np.repeat(rng.integers(0, 40, m // run + 1), run)[:m] + columns.V6_BASE * (rng.random() < 0.3)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        inv, nu = columns.dense_ids([lo, hi])
        first = columns.first_index(inv, nu)
        for x, y in zip(lo[first].tolist(), hi[first].tolist()):  # every row's numbering
            known.setdefault((x, y), len(known))
        want = [known[(x, y)] for x, y in zip(lo.tolist(), hi.tolist())]
        port = np.full(m, 80, np.uint16)
        key, _dirb = table.keys(a, port, b, port, np.zeros(m, bool))
        assert (key >> np.uint64(34)).tolist() == want


def test_flow_keys_radix_order_is_the_stable_argsort():
    import numpy as np

    rng = np.random.default_rng(11)
    for m, pairs in ((10, 5), (5000, 40), (20000, 1 << 15), (20000, 1 << 20)):
        keys = (rng.integers(0, pairs, m).astype(np.uint64) << np.uint64(34)) | \
            (rng.integers(0, 2, m).astype(np.uint64) << np.uint64(32)) | rng.integers(0, 1 << 32, m).astype(np.uint64)
        keys[1::4] = keys[0::4][: len(keys[1::4])]  # repeated keys: their order must be kept
        assert (flows._stable_order(keys) == np.argsort(keys, kind="stable")).all()


@pytest.mark.parametrize("pure", [False, True])
@pytest.mark.parametrize("chunk", [3, 7, 100_000])
def test_streamed_json_and_csv_are_the_rendered_ones(tmp_path, monkeypatch, chunk, pure):
    """A fast-path scan's ports written from their columns, chunk by chunk (one shape per chunk or
    several, the engine's own ports among them), to a file and to a string: the renderers' text,
    by the compiled row formatter and by its Python twin (speedups.py); a capture path that is not
    ASCII goes into each CSV row as UTF-8."""
    import io

    from pcapscan.report import csvfmt

    if pure:
        monkeypatch.setenv("PCAPSCAN_PURE", "1")
    monkeypatch.setattr(csvfmt, "CHUNK", chunk)
    monkeypatch.setattr(sys.modules["pcapscan.report.stream"], "CHUNK", chunk)
    path = tmp_path / "扫描 scan%d.pcap"
    path.write_bytes(pcap_bytes(big_scan(ports=range(1, 40), open_ports=(5, 6, 30))
                                + [(5.0, ether(syn(40000, 9999))), (6.1, ether(syn(40001, 9999))),
                                   (6.2, ether(syn(40000, 9000)))]))
    result = analyze(path, fast=True)
    assert any(len(s.ports.objects) for s in result.scans)
    for fmt, want in (("json", jsonfmt.render(result)), ("csv", csvfmt.render(analyze(path)))):
        out = io.StringIO()
        from pcapscan.report.stream import write

        write(result, fmt, out)
        assert out.getvalue() == want
        with open(tmp_path / f"out.{fmt}", "w", encoding="utf-8") as fh:
            write(result, fmt, fh)
        assert (tmp_path / f"out.{fmt}").read_text() == want


def test_bulk_shapes_split_on_the_fields_a_technique_declares(tmp_path, hard):
    """An ACK scan whose RSTs differ only in window and TTL: read as a window
    scan, the fast path's shapes (fastpath/shapes.py, from the spec's declared
    fields) must tell window 0 from the rest, and give each port its own TTL."""
    recs, t = [], 1.0
    for port in range(1, 61):
        recs.append((t, ether(ipv4_tcp(S, T, 40000, port, 0x10, seq=1000, ack=777, window=1024, options=b""))))
        recs.append((t + 0.0005, ether(ipv4_tcp(T, S, port, 40000, 0x04, seq=777, ack=0, window=512 * (port % 2),
                                                ttl=40 + port % 7))))
        t += 0.001
    path = tmp_path / "window.pcap"
    path.write_bytes(pcap_bytes(recs))
    for technique in ("window", "ack"):
        assert assert_same(path, hard, technique)
    ports = json.loads(both(path, "window", **hard)[1])["scans"][0]["ports"]
    assert {p["state"] for p in ports if p["port"] % 2} == {"open"}
    assert {p["state"] for p in ports if not p["port"] % 2} == {"closed"}
    assert len({p["reason_ttl"] for p in ports}) == 7


def test_markdown_collapses_big_states_like_the_table(tmp_path):
    path = tmp_path / "scan.pcap"
    path.write_bytes(pcap_bytes(big_scan()))
    for result in (analyze(path), analyze(path, fast=True)):
        md = render(result, "markdown")
        assert "Not shown: 58 closed tcp ports (reset)." in md
        assert "| 22/tcp" in md and "| 50/tcp" in md and "| 5/tcp" not in md


@pytest.mark.parametrize("name", ["golden/udp.pcap", "mixed/mixed-syn.pcap", "golden/more/os.pcap"])
def test_streamed_json_of_scans_whose_ports_are_all_the_engines(name):
    """A fast-path scan whose every port the engine built (retries, several
    probes a port), or was classified in bulk with several probes (PortTable.more):
    its JSON streamed from the column table is the rendered one (the writer once
    failed with an IndexError on such a chunk)."""
    import io

    result = analyze(ROOT / "captures" / name, fast=True)
    assert any(len(s.ports) and len({*s.ports.objects, *s.ports.more}) == len(s.ports) for s in result.scans)
    out = io.StringIO()
    write_json(result, out)
    assert out.getvalue() == jsonfmt.render(result)


# -- a big capture read twice: the flow table keeps keys, states and frames, each block's other columns read again --


@pytest.fixture
def twice(monkeypatch):
    """Every capture read twice (FlowTable's lean mode), and how many records were read again."""
    from pcapscan.fastpath import feed

    monkeypatch.setattr(scans, "REREAD_MIN_BYTES", 0)
    monkeypatch.setattr(feed, "REREAD_GAP", 3)  # a seek between most runs of wanted records
    seen = []
    call = feed.Rereader.__call__

    def counted(self, frames):
        for d in call(self, frames):
            seen.append(len(d.frame))
            yield d

    monkeypatch.setattr(feed.Rereader, "__call__", counted)
    return seen


@pytest.mark.parametrize("path", OWN, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_read_twice_equals_once_on_own_captures(path, hard, twice):
    for parallel in (False, True):
        assert_same(path, dict(hard, parallel=parallel))


def test_read_twice_equals_once_on_shared_captures(hard, twice):
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent")
    files = sorted(p for p in SHARED.rglob("*") if p.is_file() and p.suffix in (".pcap", ".pcapng"))
    assert sum(assert_same(p, hard) for p in files) >= len(files) * 0.8


def test_read_twice_keeps_only_keys_states_and_frames(tmp_path, twice, monkeypatch):
    """While reading, a lean table writes no probe or answer column but the frames;
    the simple flows' records are read again, each once per use (sorting out, building)."""
    path = tmp_path / "scan.pcap"
    path.write_bytes(pcap_bytes(big_scan() + big_scan(t0=9.0, ports=range(1, 30), sport=40001)))
    tables = []
    done = flows.FlowTable.done_reading

    def spy(self):
        tables.append((self, self.state.v.copy()))
        done(self)

    monkeypatch.setattr(flows.FlowTable, "done_reading", spy)
    assert_same(path, {})
    ((t, read),) = tables
    assert t.lean and t.n == 60 + 29
    assert {k for k, c in t.probe.items() if c.a[:t.n].any()} == {"frame"}
    assert {k for k, c in t.answer.items() if c.a[:t.n].any()} == {"frame"}
    assert not (read & flows.ANS_OK).any()  # the answer test waited for the columns read again...
    assert ((t.state.v & flows.ANS_OK) > 0).sum() == 89  # ... which every answer passed
    # 89 probes and 89 answers: sorted out, then built (and the routing's representatives, once more)
    assert sum(twice) >= 2 * 2 * 89


def test_read_twice_says_so_on_the_progress_line(tmp_path, twice):
    from pcapscan.messages import PROGRESS_WORDS

    path = tmp_path / "scan.pcap"
    path.write_bytes(pcap_bytes(big_scan()))
    phases = []
    scans.analyze_capture_fast(path, progress=lambda done, total, count, phase: phases.append(phase))
    seen = list(dict.fromkeys(phases))
    assert seen == ["reading", "pairing", "assembling-reread", "routing", "fingerprinting-reread"]
    assert all(PROGRESS_WORDS["en"][p][0].startswith("reading again") for p in seen if p.endswith("-reread"))


def test_merged_rows_are_those_of_a_stable_sort():
    """columns.merge_rows lays a few new rows (copied around in slices) or many (through the
    mask) into a sorted column where insertion_slots puts them: a stable sort of both
    columns one after the other, values and type."""
    import numpy as np

    rng = np.random.default_rng(23)
    for n_base in (0, 1, 9, 3000):
        for n_new in (0, 1, 2, 63, 64, 65, 400):
            base = np.sort(rng.integers(0, 300, n_base)).astype(np.uint16)
            new = np.sort(rng.integers(0, 300, n_new))
            slots, keep = columns.insertion_slots(base, new, side="right")
            got = columns.merge_rows(base, new, slots, keep, np.int32)
            both = np.concatenate([base.astype(np.int64), new])
            assert got.dtype == np.int32 and got.tolist() == both[np.argsort(both, kind="stable")].tolist()
            tagged = columns.merge_rows(np.zeros(n_base, bool), np.ones(n_new, bool), slots, keep, bool)
            assert np.flatnonzero(tagged).tolist() == slots.tolist()  # each new row where the slots say


def test_dense_ids_skip_columns_of_one_value():
    """columns.dense_ids leaves out of the packing a column that holds one value (it
    tells no rows apart): the ids are still np.unique's inverse of the rows, with every
    column of one value (one id), some, or none; bool, narrow and wide types."""
    import numpy as np

    rng = np.random.default_rng(29)
    for m in (1, 2, 50, 5000):
        for constant in ((), (0,), (1, 2), (0, 1, 2)):
            cols = [rng.integers(0, 2, m).astype(bool), rng.integers(-3, 4, m).astype(np.int8),
                    rng.integers(0, 1 << 40, m)]
            for j in constant:
                cols[j] = np.full(m, cols[j][0])
            ids, n = columns.dense_ids(cols)
            uniq, inv = np.unique(np.stack([c.astype(np.int64) for c in cols], 1), axis=0, return_inverse=True)
            assert n == len(uniq) and ids.tolist() == inv.ravel().tolist()
            if len(constant) == 3:
                assert n == 1 and not ids.any()


def test_shared_keys_are_the_rows_whose_key_repeats():
    """fastpath.scans._shared (rows whose (session, proto, port) another row has too), on
    each of its ways: keys few enough to count, too many (a block of many sessions) with
    most ports probed once (only the rows of a repeated port keyed), with every port
    repeated, and keys too wide to pack."""
    from collections import Counter

    import numpy as np

    from pcapscan.fastpath.scans import _shared

    rng = np.random.default_rng(31)
    for m, sessions, ports in ((1, 1, 1), (7, 2, 3), (3000, 3, 65536), (70_000, 60, 65536), (70_000, 60, 40),
                               (5000, 1 << 45, 65536)):
        cols = [rng.integers(0, sessions, m), rng.integers(0, 2, m).astype(bool), rng.integers(0, ports, m)]
        if m == 70_000:  # one session probing every port, then many probing a port or a few
            cols[0][:65536], cols[2][:65536] = 0, np.arange(65536)
        keys = list(zip(*(c.tolist() for c in cols)))
        seen = Counter(keys)
        assert _shared(cols).tolist() == [seen[k] > 1 for k in keys]


def test_rows_in_are_the_rows_whose_value_is_wanted():
    """fastpath.scans._rows_in, both ways: each value looked up among the wanted, or, for ascending
    values and a few wanted (a block's flow ids, the flows folded into others), each wanted value's
    rows found among them; the rows in row order, duplicates of either kept once per row."""
    import numpy as np

    from pcapscan.fastpath.scans import _rows_in

    rng = np.random.default_rng(32)
    for m, k, sort in ((0, 3, True), (5, 0, True), (40, 2, True), (40, 2, False), (5000, 7, True), (5000, 7, False),
                       (5000, 900, True), (300, 30, True)):
        values = rng.integers(0, 60, m).astype(np.int32 if k % 2 else np.int64)
        if sort:
            values = np.sort(values)
        wanted = np.sort(rng.integers(0, 70, k))
        got = _rows_in(values, wanted)
        assert got.dtype == np.int64
        assert got.tolist() == [i for i, v in enumerate(values.tolist()) if v in set(wanted.tolist())]
