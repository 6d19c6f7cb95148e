"""The packets of COMPLEX flows kept by the fast path's flow table until the
engine replays them (fastpath/flows.py): bulk-decoded rows as columns
(RowStore), decode_frame's Packets as they are, each flow's first two
packets in the flow columns. FlowTable.complex_packets must give back
decode_frame's very Packets, in frame order, whatever the batches and the
chunks."""
from pathlib import Path

import numpy as np
import pytest

from pcapbuild import MSS_1460, ether, ipv4_icmp_unreach, ipv4_tcp, ipv4_udp, ipv6_tcp, pcap_bytes

from pcapscan.capture import containers as C
from pcapscan.capture.decode import NOT_IP, decode_arp, decode_frame
from pcapscan.fastpath import columns, flows
from pcapscan.fastpath.feed import RecordReader, Rereader, capinfo

ROOT = Path(__file__).resolve().parents[1]
OWN = sorted(p for d in ("golden", "tools", "mixed") for p in (ROOT / "captures" / d).rglob("*")
             if p.suffix in (".pcap", ".pcapng"))
S, T, C6, S6 = "198.18.0.1", "198.18.0.2", "2001:db8::1", "2001:db8::2"


def _decode_frames(path) -> dict:
    """decode_frame's Packet of every record, by frame number (ARP decoded as the fast path asks)."""
    out = {}
    for frame, (linktype, ts, data) in enumerate(C.open_capture(path).records(C.ReadStats(str(path))), 1):
        if linktype in C.LINKTYPE_NAMES:
            got = out[frame] = decode_frame(linktype, data, frame, ts)
            if got is NOT_IP:
                out[frame] = decode_arp(linktype, data, frame, ts)
    return out


def _table(path, chunk_bytes=512, lean=False):
    """The flow table of a capture read batch by batch, as fastpath.feed.read_here fills it
    (`lean`: as for a big capture, its probe and answer columns read again when loaded)."""
    stats = C.ReadStats(str(path))
    reader = columns.Reader(path, stats, use_jit=False, chunk_bytes=chunk_bytes)
    table = flows.FlowTable(columns.AddressBook(), columns.OptionBook(), lean=lean)
    for batch in reader.batches():
        dec, slow, _ts = columns.decode_batch(batch, table.addrs, table.options, stats, reader.unknown)
        table.feed(dec, slow)
    table.done_reading()
    info = capinfo(reader.cap)
    if lean:
        table.reread = Rereader(str(path), info, False, table.addrs, table.options, table.marks, stats.packets)
    return table, RecordReader(str(path), info)


def _replayed(table, records, chunk):
    """complex_packets' chunks, as Assembler step 1 takes them (a lean table's columns loaded)."""
    with table.loaded(np.nonzero(table.state.v & flows.COMPLEX)[0]):
        return list(table.complex_packets(records, chunk=chunk))


def _mixed(tmp_path) -> Path:
    """Flows of every kind of kept packet: a connection talking (rows beyond its first two), a UDP
    probe sent three times whose ICMP errors (decode_frame's) come between, a simple SYN scan."""
    recs, t = [], 1.0

    def add(ip):
        nonlocal t
        recs.append((t, ether(ip)))
        t += 0.01

    add(ipv4_tcp(S, T, 5555, 443, 0x02, seq=100, window=64240, options=MSS_1460))
    add(ipv4_tcp(T, S, 443, 5555, 0x12, seq=900, ack=101, window=65160))
    for k in range(3):
        probe = ipv4_udp(S, T, 41001, 161, ip_id=k)
        add(probe)
        add(ipv4_icmp_unreach(T, S, 3, probe[:28]))
        add(ipv4_tcp(S, T, 5555, 443, 0x18, seq=101 + 50 * k, ack=901, window=502, payload=b"q" * 50))
        add(ipv4_tcp(T, S, 443, 5555, 0x10, seq=901, ack=151 + 50 * k, window=509))
        add(ipv4_tcp(S, T, 40000 + k, 22 + k, 0x02, seq=7, window=1024, options=MSS_1460))
        add(ipv4_tcp(T, S, 22 + k, 40000 + k, 0x14, ack=8))
    add(ipv6_tcp(C6, S6, 6000, 80, 0x02, seq=1, window=64240, options=MSS_1460))
    add(ipv6_tcp(S6, C6, 80, 6000, 0x12, seq=5, ack=2, window=64240))
    add(ipv6_tcp(C6, S6, 6000, 80, 0x10, seq=2, ack=6, window=502))
    path = tmp_path / "mixed.pcap"
    path.write_bytes(pcap_bytes(recs))
    return path


def _complex_frames(table) -> set:
    """The frames the table's COMPLEX flows hold, by their sources, before complex_packets takes them."""
    st = table.state.v
    cx = np.nonzero(st & flows.COMPLEX)[0]
    return {"slow": {p.frame for p in table.slow_pkts}, "rows": set(table.rows.frame.tolist()),
            "probe": set(table.probe["frame"].a[cx[(st[cx] & flows.N1) > 0]].tolist()),
            "answer": set(table.answer["frame"].a[cx[(st[cx] & flows.N2) > 0]].tolist())}


@pytest.mark.parametrize("lean", [False, True], ids=["whole", "lean"])
@pytest.mark.parametrize("chunk", [1, 2, 5, flows.REPLAY_CHUNK])
def test_complex_packets_are_decode_frames_in_frame_order(tmp_path, chunk, lean):
    path = _mixed(tmp_path)
    want = _decode_frames(path)
    table, records = _table(path, chunk_bytes=256, lean=lean)
    sources = _complex_frames(table)
    assert all(sources.values()), sources  # every source has packets to merge
    n = table.complex_count()
    parts = _replayed(table, records, chunk)
    got = [p for part in parts for p in part]
    frames = [p.frame for p in got]
    assert frames == sorted(set(frames))  # frame order, each packet once
    assert set(frames) == set().union(*sources.values()) and len(got) == n
    assert all(len(part) <= 4 * chunk for part in parts)
    for p in got:
        assert p == want[p.frame]
    # the connection, the UDP probes and their errors, the IPv6 connection: all complex; the SYN scan not
    assert {want[f].proto for f in frames} == {"tcp", "udp", "icmp"}
    assert not {f for f in frames if want[f].proto == "tcp" and want[f].dport in (22, 23, 24)}
    assert table.rows.n == 0 and not table.slow_pkts  # the store went as it was read


@pytest.mark.parametrize("lean", [False, True], ids=["whole", "lean"])
@pytest.mark.parametrize("path", OWN, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_complex_packets_on_own_captures(path, lean):
    want = _decode_frames(path)
    try:
        table, records = _table(path, lean=lean)
    except columns.NeedSlowPath:
        pytest.skip("the fast reader leaves this capture to the ordinary one")
    n = table.complex_count()
    got = [p for part in _replayed(table, records, 7) for p in part]
    assert len(got) == n
    assert [p.frame for p in got] == sorted({p.frame for p in got})
    for p in got:
        assert p == want[p.frame]


def test_row_store_parts_narrow_where_values_fit_and_go_once_released(tmp_path):
    recs = [(1.0 + i / 100, ether(ipv4_tcp(S, T, 1000 + i, 80, 0x18, seq=i, ack=7, payload=b"x" * i)))
            for i in range(5)]
    recs.append((2.0, ether(ipv6_tcp(C6, S6, 6000, 80, 0x02, seq=1, window=64240, options=MSS_1460))))
    path = tmp_path / "rows.pcap"
    path.write_bytes(pcap_bytes(recs))
    stats = C.ReadStats(str(path))
    reader = columns.Reader(path, stats, use_jit=False)
    addrs, options = columns.AddressBook(), columns.OptionBook()
    d = None
    for batch in reader.batches():
        d, _slow, _ts = columns.decode_batch(batch, addrs, options, stats, reader.unknown)
    assert len(d.frame) == 6
    store = flows.RowStore()
    store.append(d, np.arange(5), np.arange(5))  # (rows of flows 0..4)
    part = store.parts[0]
    assert part["src"].dtype == np.uint32 and part["mss"].dtype == np.int16  # IPv4 ids; no MSS (-1)
    assert part["length"].dtype == np.uint16 and part["seq"].dtype == np.uint32
    store.append(d, np.array([5]), np.array([5]))
    assert store.parts[1]["src"].dtype == np.int64  # an IPv6 address id (columns.V6_BASE and up)
    assert store.n == 6 and store.frame.tolist() == d.frame.tolist()
    want = flows.packets_from_rows(d, np.arange(6), addrs, options)
    assert store.packets(0, 6, addrs, options) == want  # across the two parts
    assert store.packets(3, 6, addrs, options) == want[3:]
    assert store.packets(2, 2, addrs, options) == []
    assert want[5].src == C6 and want[5].mss == 1460 and want[0].mss is None
    store.release(4)  # the first part holds row 4 still
    assert store.parts[0] is not None and store.packets(4, 6, addrs, options) == want[4:]
    store.release(5)
    assert store.parts[0] is None and store.packets(5, 6, addrs, options) == want[5:]
