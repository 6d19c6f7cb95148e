"""A port that never answers, probed again from one source port (nmap's retries,
a scan run again): the engine keeps one connection of every probe
(exchanges.reopens: nothing heard, the same kind, no new connection). The
fast path hands those probes on as columns (FlowTable.take_retries) and
makes the exchange itself, the flows of one port folded into one exchange as
the engine groups them (Assembler._fold), wherever nothing else the engine
does could differ. That the verdicts are the engine's on each case:
tests/test_fastpath.py (CASES silent-*)."""
import numpy as np
import pytest

from pcapbuild import pcap_bytes
from test_fastpath import CASES

from pcapscan.analysis import analyze_capture_full
from pcapscan.capture import containers as C
from pcapscan.fastpath import columns, flows, scans
from pcapscan.fastpath.subset import bulk_rows

PORT = 9997  # the silent port of the CASES silent-*


def _table(tmp_path, case, chunk_bytes=1 << 20):
    """The flow table of a case, read batch by batch, its retries taken."""
    path = tmp_path / f"{case}.pcap"
    path.write_bytes(pcap_bytes(CASES[case]()))
    stats = C.ReadStats(str(path))
    reader = columns.Reader(path, stats, use_jit=False, chunk_bytes=chunk_bytes)
    table = flows.FlowTable(columns.AddressBook(), columns.OptionBook())
    for batch in reader.batches():
        dec, slow, _ts = columns.decode_batch(batch, table.addrs, table.options, stats, reader.unknown)
        table.feed(dec, slow)
    table.take_retries()
    return path, table


def _silent_flows(table):
    _s, _sp, _t, tport, _udp = table.endpoints(np.arange(table.n))
    return np.flatnonzero(tport == PORT)


@pytest.mark.parametrize("chunk", [64, 1 << 20])
def test_a_silent_ports_retries_are_columns_not_the_engines(tmp_path, chunk):
    """Six probes of one port from two source ports, a second apart, nothing back: two flows,
    neither COMPLEX; their four retries in `retries` (frame order, per flow), none left in the
    rows the engine replays."""
    _path, t = _table(tmp_path, "silent-port-probed-again-from-two-ports", chunk)
    fids = _silent_flows(t)
    assert len(fids) == 2
    assert not (t.state.v[fids] & flows.COMPLEX).any()
    assert t.retries.counts(fids).tolist() == [2, 2]
    rows, owner = t.retries.rows_of(fids)
    first = t.probe["frame"].v[fids].astype(np.int64)
    assert first.tolist() == [123, 124]  # (big_scan: 122 records)
    assert t.retries.cols["frame"][rows].tolist() == [125, 127, 126, 128] and owner.tolist() == [0, 0, 1, 1]
    assert not any(np.isin(part["fid"], fids).any() for part in t.rows.parts)
    assert t.rows.n == 2 and t.complex_count() == 6  # the open ports' flows only (the scanner's RST, a third packet)


@pytest.mark.parametrize("case", ["silent-port-retry-within-10ms", "silent-port-retry-stamped-before",
                                  "silent-port-then-other-flags", "silent-port-then-data",
                                  "silent-port-answered-at-last"])
def test_what_the_engine_would_read_otherwise_stays_the_engines(tmp_path, case):
    """A copy (within exchanges.DUPLICATE_WINDOW), a retry stamped before the probe before
    it, a probe of other flags (a new connection), data (ordinary traffic), an answer at
    last: the flow stays COMPLEX, its packets the engine's."""
    _path, t = _table(tmp_path, case)
    fids = _silent_flows(t)
    assert len(fids) == 1 and t.state.v[fids[0]] & flows.COMPLEX
    assert len(t.retries) == 0 and t.rows.n >= 1


def _port_row(scan, port):
    return int(np.flatnonzero(np.asarray(scan.ports.port) == port)[0])


def test_a_silent_ports_flows_are_one_bulk_row_of_every_probe(tmp_path, monkeypatch):
    """The fast path's scan, such exchanges kept as columns however few: port 9997 classified
    in bulk (no Exchange), its verdict naming all six probes, as the ordinary path's exchange
    does; its session spans to the last one."""
    monkeypatch.setattr(scans, "MORE_OBJECTS_MAX", 0)
    path, _t = _table(tmp_path, "silent-port-probed-again-from-two-ports")
    _summary, found, _more = scans.analyze_capture_fast(path, use_jit=False)
    (scan,) = found
    row = _port_row(scan, PORT)
    assert row in bulk_rows(scan) and row not in scan.ports.objects
    assert scan.ports.more[row].tolist() == list(range(123, 129))
    _summary, (slow,), _more = analyze_capture_full(path, None)
    want = next(p for p in slow.ports if p.port == PORT)
    assert scan.ports[row].verdict == want.verdict and len(want.exchange.probes) == 6
    assert scan.last_ts == slow.last_ts == 10.0


def test_a_silent_flow_beside_an_answered_one_goes_to_the_engine_with_its_retries(tmp_path):
    """A silent flow's retries taken, but its port shares its exchange with an answered flow:
    the two set aside for the engine, which gets every probe (ReplayEngine.adopt)."""
    path, t = _table(tmp_path, "silent-and-answered-flows-of-one-port")
    assert len(t.retries) == 1
    _summary, found, _more = scans.analyze_capture_fast(path, use_jit=False)
    (scan,) = found
    got = scan.ports[_port_row(scan, PORT)]
    assert got.exchange is not None and len(got.exchange.probes) == 3
    assert got.verdict.probe_frames == (123, 124, 125)


def test_a_few_such_exchanges_are_made_as_the_engines(tmp_path, monkeypatch):
    """At most scans.MORE_OBJECTS_MAX probes besides the first in a scan's bulk exchanges of
    several probes: those exchanges made whole (a PortResult with its Exchange, as the engine's
    ports: verify and compare read them so); one probe more than that: all of them columns."""
    path, _t = _table(tmp_path, "silent-port-probed-again-from-two-ports")
    for most, made in ((5, True), (4, False)):
        monkeypatch.setattr(scans, "MORE_OBJECTS_MAX", most)
        _summary, (scan,), _more = scans.analyze_capture_fast(path, use_jit=False)
        row = _port_row(scan, PORT)
        assert (row in scan.ports.objects) == made and (row in scan.ports.more) == (not made)
        assert scan.ports[row].verdict.probe_frames == tuple(range(123, 129))
        if made:
            assert [p.frame for p in scan.ports[row].exchange.probes] == list(range(123, 129))
