"""The fast path's reading in the decoding child: chunks mapped from the file
(columns.Reader.map_chunks) give the batches read chunks give, and the flow
table's per-packet facts (flows.PacketFacts), worked out where a batch is
decoded, follow the engine's rules packet by packet."""
import mmap

import numpy as np
import pytest

from pcapbuild import (ether, ipv4_tcp, ipv4_udp, ipv6_tcp, pcap_bytes, pcapng_bytes, epb, idb, MSS_1460)

from pcapscan.capture import ReadStats
from pcapscan.capture.decode import decode_frame
from pcapscan.exchanges import SERVICE_PORT_PAIRS, is_group_address, never_probes
from pcapscan.fastpath import columns, flows
from pcapscan.fastpath.columns import NeedSlowPath

S, T = "198.18.0.1", "198.18.0.2"


def _scan(n=40, t0=1.0):
    recs, t = [], t0
    for port in range(1, n + 1):
        recs.append((t, ether(ipv4_tcp(S, T, 40000, port, 0x02, seq=1000, options=MSS_1460, payload=b"x" * (port % 3)))))
        recs.append((t + 0.0005, ether(ipv4_tcp(T, S, port, 40000, 0x14, seq=0, ack=1001))))
        t += 0.001
    return recs


def _batches(path, chunk, mapped):
    """Every record the reader walks, as (stream offset, bytes, linktype, ts, frame), and its stats."""
    stats = ReadStats(str(path))
    reader = columns.Reader(path, stats, use_jit=False, chunk_bytes=chunk)
    if mapped:
        reader.map_chunks()
        assert reader.mapped
    out = []
    try:
        for b in reader.batches():
            for i in range(len(b.off)):
                o, n = int(b.off[i]), int(b.incl[i])
                out.append((b.base + o, bytes(b.raw[o:o + n]), int(b.linktype[i]), float(b.ts[i]), b.frame0 + i))
    except NeedSlowPath as exc:
        out.append(("slow", str(exc)))
    return out, (stats.packets, stats.truncated, list(stats.warnings))


def _captures():
    scan = _scan()
    whole = pcap_bytes(scan)
    yield "pcap", whole
    yield "big-endian nanoseconds", pcap_bytes(scan, nano=True, byteorder=">")
    yield "cut in a record", whole[:-9]
    yield "cut in a header", whole[:-(len(ether(ipv4_tcp(T, S, 40, 40000, 0x14))) + 5)]
    corrupt = bytearray(whole)
    at = 24 + 16 + len(scan[0][1])  # the second record's header: an impossible length
    corrupt[at + 8:at + 12] = (1 << 30).to_bytes(4, "little")
    yield "corrupt", bytes(corrupt)
    v6 = [(1.0 + i / 100, ether(ipv6_tcp("2001:db8::1", "2001:db8::2", 40000, 1 + i, 0x02))) for i in range(20)]
    yield "pcapng, an interface declared midway", pcapng_bytes(packets=[(0, t, d) for t, d in scan[:30]] + [
        idb(1, 9)] + [(1, t, d) for t, d in v6] + [(0, t, d) for t, d in scan[30:]])
    yield "pcapng cut in a block", pcapng_bytes(packets=[(0, t, d) for t, d in scan])[:-7]


@pytest.mark.parametrize("chunk", [37, 200, 4096, 1 << 20])
def test_mapped_chunks_are_the_read_ones(tmp_path, chunk):
    """Records cut across chunks (of fewer bytes than a record, too), damage at the end or inside,
    pcapng's interface blocks: the same records, offsets, timestamps and warnings."""
    for name, data in _captures():
        path = tmp_path / "c.cap"
        path.write_bytes(data)
        read, mapped = _batches(path, chunk, False), _batches(path, chunk, True)
        assert read == mapped, name
        assert read[0], name
        assert read[1][1] == (name.startswith(("cut", "corrupt")) and "pcapng" not in name), name


def test_a_file_that_will_not_map_is_read(tmp_path, monkeypatch):
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap_bytes(_scan()))
    want = _batches(path, 300, False)

    def refuse(*_a, **_k):
        raise OSError("no mapping here")

    monkeypatch.setattr(mmap, "mmap", refuse)
    assert _batches(path, 300, True) == want


def test_only_a_plain_file_is_mapped(tmp_path):
    import gzip

    path = tmp_path / "c.pcap.gz"
    path.write_bytes(gzip.compress(pcap_bytes(_scan())))
    with pytest.raises(NeedSlowPath):  # (a gzip stream is the ordinary reader's)
        columns.Reader(path, ReadStats(str(path)))


def _facts_by_hand(pkt, addrs):
    """PacketFacts.bits of one decoded packet, from the engine's own rules asked one by one."""
    a, b = addrs.id_of(pkt.src), addrs.id_of(pkt.dst)
    higher = (a, pkt.sport) > (b, pkt.dport) if a != b else pkt.sport > pkt.dport
    udp = pkt.proto == "udp"
    ok = not is_group_address(pkt.dst)
    if udp:
        ok = ok and (pkt.sport, pkt.dport) not in SERVICE_PORT_PAIRS
    else:
        ok = ok and not never_probes(pkt.flags, pkt.payload_len)
    return (flows.SDIR * higher | flows.PROBE_OK * ok | flows.ANS_DATA * (not udp and pkt.payload_len > 0)
            | flows.ANS_WIN * (pkt.window > 0))


@pytest.mark.parametrize("pure", [False, True])
def test_packet_facts_follow_the_engine_rules(tmp_path, monkeypatch, pure):
    """Probes and answers, RST, SYN/ACK, data, a multicast and a broadcast destination amid a
    run of one pair, UDP service port pairs, one address on both ends: each packet's bits as
    exchanges' rules give them, compiled keys or not."""
    if pure:
        monkeypatch.setattr(flows, "compiled", lambda: None)
    pkts = [ipv4_tcp(S, T, 40000, 80, 0x02), ipv4_tcp(T, S, 80, 40000, 0x12, window=1024),
            ipv4_tcp(S, T, 40000, 81, 0x04), ipv4_tcp(S, T, 40000, 82, 0x18, payload=b"hi"),
            ipv4_tcp(T, S, 82, 40000, 0x10, window=0, payload=b"yes"), ipv4_tcp(S, "224.0.0.5", 40000, 83, 0x02),
            ipv4_tcp(S, T, 40000, 84, 0x02), ipv4_udp(S, "198.18.0.255", 5000, 53),
            ipv4_udp(S, T, 68, 67), ipv4_udp(T, S, 123, 123), ipv4_udp(S, T, 5000, 53, payload=b"q"),
            ipv4_tcp(S, S, 9, 7, 0x02), ipv4_tcp(S, S, 7, 9, 0x14), ipv4_tcp(T, S, 40000, 80, 0x00, window=0)]
    path = tmp_path / "f.pcap"
    path.write_bytes(pcap_bytes([(1.0 + i / 100, ether(p)) for i, p in enumerate(pkts)]))
    stats = ReadStats(str(path))
    reader = columns.Reader(path, stats, use_jit=False)
    addrs, options = columns.AddressBook(), columns.OptionBook()
    (b,) = list(reader.batches())
    dec, slow, _ts = columns.decode_batch(b, addrs, options, stats, reader.unknown)
    assert not slow and len(dec.frame) == len(pkts)
    facts = flows.PacketFacts(dec, addrs, {})
    want = [_facts_by_hand(decode_frame(1, ether(p), i + 1, 0.0), addrs) for i, p in enumerate(pkts)]
    assert facts.bits.tolist() == want
    assert len(set(want)) >= 6  # (the bits tell these packets apart)
    table = flows.FlowTable(addrs, options)
    key, dirb = table.keys(dec.src, dec.sport, dec.dst, dec.dport, dec.udp)
    assert (facts.key == key & np.uint64((1 << 34) - 1)).all()
    assert ((facts.bits & flows.SDIR) > 0).tolist() == (dirb > 0).tolist()


def test_fits_is_every_value_in_range():
    """columns.fits (which keeps a flow column narrow): by the values' own range, signed or not."""
    rng = np.random.default_rng(3)
    for src in (np.uint32, np.uint16, np.int64, np.int32, np.uint64):
        for dst in (np.uint8, np.uint16, np.int16, np.int32, np.uint32):
            for hi in (1, 200, 40000, 70000):
                values = rng.integers(0 if np.dtype(src).kind == "u" else -hi, hi, 50).astype(src)
                info = np.iinfo(dst)
                want = all(info.min <= int(v) <= info.max for v in values.tolist())
                assert columns.fits(values, dst) == want, (src, dst, hi)
    assert columns.fits(np.zeros(0, np.int64), np.uint8)


def test_rows_kept_for_the_engine_are_complex_flows():
    """FlowTable keeps for the engine every row its columns do not hold, without asking each
    row's flow again: all of them are COMPLEX flows' (captures of every kind the suite has)."""
    from pathlib import Path

    from pcapscan.fastpath import feed

    root = Path(__file__).resolve().parents[1] / "captures"
    kept = 0
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".pcap", ".pcapng")):
        stats = ReadStats(str(path))
        reader = columns.Reader(path, stats, use_jit=False, chunk_bytes=4096)
        table = flows.FlowTable(columns.AddressBook(), columns.OptionBook())
        feed.read_here(reader, stats, table, None)
        if table.rows.n:
            fid = table.rows.of_flows(np.ones(table.n, bool))["fid"].astype(np.int64)
            assert ((table.state.a[fid] & flows.COMPLEX) > 0).all(), path.name
            kept += len(fid)
    assert kept > 100
