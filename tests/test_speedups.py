"""The compiled helpers (pcapscan/cnative.c) and their pure Python/numpy
twins give the same results: rows of text (report/rowtext.py), the flow
table's key -> flow id map (fastpath/flows.py), the pcap record walk
(fastpath/walk.py), the bulk decoder's common shape, dense ids and grouping by key
(fastpath/columns.py), the fingerprint's value counts (fingerprint.py), each connection
attempt's previous one to its port (sessions.py), the records a digest hashes laid out (submissions.py),
a batch of frozen dataclass records (model.py)."""
import numpy as np
import pytest

from pcapscan import speedups
from pcapscan.report import rowtext

native = speedups.compiled()
needs_native = pytest.mark.skipif(native is None, reason="pcapscan.cnative is not built (no C compiler or "
                                                         "Python headers at `pip install`)")


def test_pure_environment_turns_the_compiled_helpers_off(monkeypatch):
    monkeypatch.setenv("PCAPSCAN_PURE", "1")
    assert speedups.compiled() is None


def test_rows_text_by_hand():
    templates = [(b"<", b"|", b">"), (b"none",), (b"100%", b"")]
    which = np.array([0, 1, -1, 2, 0, -2], np.int64)
    cols = (np.array([7, 0, 0, -5, 12345678901234, 1]), np.array([8, 0, 0, 0, -1, 2]))
    want = b"<7|8>,none,EXTRA \xe6\x89\xab,100%-5,<12345678901234|-1>,x"
    assert rowtext.rows_text_py(templates, which, cols, b",", [b"EXTRA \xe6\x89\xab", b"x"]) == want
    assert rowtext.rows_text(templates, which, cols, b",", [b"EXTRA \xe6\x89\xab", b"x"]) == want
    assert rowtext.rows_text(templates, np.zeros(0, np.int64), (np.zeros(0), np.zeros(0)), b",") == b""


@needs_native
def test_compiled_rows_text_is_the_python_one():
    rng = np.random.default_rng(3)
    for n, shapes in ((1, 1), (50, 3), (5000, 5)):
        templates = [tuple(bytes(rng.integers(32, 127, rng.integers(0, 6)).astype(np.uint8)) for _ in range(k + 1))
                     for k in rng.integers(0, 4, shapes).tolist()]
        extra = [b"row %d" % i for i in range(7)]
        which = rng.integers(-len(extra), shapes, n).astype(np.int64)
        cols = tuple(rng.integers(-(1 << 62), 1 << 62, n) for _ in range(3))
        scratch = bytearray(b"old rows")  # written over from its start, grown as needed, reused
        for sep in (b"", b",\n"):
            want = rowtext.rows_text_py(templates, which, cols, sep, extra)
            assert native.format_rows(tuple(templates), which, cols, sep, tuple(extra)) == want
            n = native.format_rows(tuple(templates), which, cols, sep, tuple(extra), scratch)
            assert bytes(scratch[:n]) == want and len(scratch) >= n
            with rowtext.rows_text(templates, which, cols, sep, extra, scratch) as view:
                assert view.tobytes() == want
    with pytest.raises(IndexError):
        native.format_rows(((b"a",),), np.array([1], np.int64), (), b"", ())
    with pytest.raises(ValueError):
        native.format_rows(((b"a", b"b"),), np.array([0, 0], np.int64), (np.zeros(1, np.int64),), b"", ())
    with pytest.raises(TypeError):  # rows go into a bytearray, which can grow
        native.format_rows(((b"a",),), np.array([0], np.int64), (), b"", (), memoryview(bytearray(8)))


def _table(monkeypatch, pure: bool):
    from pcapscan.fastpath.columns import AddressBook, OptionBook
    from pcapscan.fastpath.flows import FlowTable

    if pure:
        monkeypatch.setenv("PCAPSCAN_PURE", "1")
    else:
        monkeypatch.delenv("PCAPSCAN_PURE", raising=False)
    table = FlowTable(AddressBook(), OptionBook())
    assert (table.index is None) == pure
    return table


@needs_native
def test_compiled_flow_index_gives_the_python_ids_and_ranks(monkeypatch):
    """Batches of keys, many seen before, repeated within a batch, past the
    pure levels' merge and the hash map's growth: the same flow ids (in order
    of first appearance), the same rank within the batch (counted to 2), the
    same -1 for unknown keys when nothing may be made."""
    from pcapscan.fastpath import flows

    monkeypatch.setattr(flows, "RECENT_MIN", 1 << 12)
    rng = np.random.default_rng(5)
    tables = [_table(monkeypatch, pure) for pure in (False, True, False)]
    tables[2].reserve(1_000_000)  # room made at once (the slots a third full at most): the same ids
    universe = (rng.integers(0, 1 << 20, 300_000).astype(np.uint64) << np.uint64(34)) | \
        rng.integers(0, 1 << 33, 300_000).astype(np.uint64)
    for size in (1, 10, 5000, 70_000, 70_000, 150_000, 3):
        keys = universe[rng.integers(0, min(len(universe), 40 * size), size)]
        got = []
        for table in tables:
            fid = table.lookup(keys)
            got.append((fid, np.minimum(table._batch_rank(fid), 2), table.n, table.key.v.copy()))
        (f1, r1, n1, k1) = got[0]
        for f2, r2, n2, k2 in got[1:]:
            assert (f1 == f2).all() and (r1 == r2).all() and n1 == n2 and (k1 == k2).all()
        assert (k1[f1] == keys).all()
    probe = np.r_[universe[:50], np.array([(1 << 63) + 12345], np.uint64)]
    a, b, c = (table.lookup(probe, create=False) for table in tables)
    assert (a == b).all() and (a == c).all() and a[-1] == -1 and tables[0].n == tables[1].n == tables[2].n
    assert tables[2].index.nbytes > tables[0].index.nbytes


@needs_native
@pytest.mark.parametrize("big", [False, True])
def test_compiled_pcap_walk_is_the_loop(big):
    """Records of both byte orders and the 24-byte header (a1b2cd34), a record cut
    by the buffer's end, a corrupt length, output arrays smaller than the records:
    the compiled walk stops where the reference loop does, with the same rows."""
    from pcapscan.fastpath import walk

    assert walk.walkers()[0].__name__ == "walk_pcap_native"
    rng = np.random.default_rng(9 + big)
    order = ">" if big else "<"
    for hlen in (16, 24):
        recs = []
        for i in range(300):
            data = bytes(rng.integers(0, 256, int(rng.integers(0, 90))).astype(np.uint8))
            head = np.array([1_700_000_000 + i, i * 7, len(data), len(data) + 3], order + "u4").tobytes()
            recs.append(head + bytes(hlen - 16) + data)
        whole = b"".join(recs)
        bad = bytearray(whole)
        at = sum(len(r) for r in recs[:200]) + 8
        bad[at:at + 4] = np.array([70_000], order + "u4").tobytes()
        for buf, cap, start in ((whole, 1000, 0), (whole[:-5], 1000, 0), (bytes(bad), 1000, 0), (whole, 50, 0),
                                (whole, 1000, len(recs[0])), (b"", 10, 0), (whole[:10], 10, 0)):
            outs = []
            for fn in (walk.walkers()[0], walk.walk_pcap):  # the compiled walk (the offsets containers.py gives)
                out = [np.zeros(cap, np.int64), np.zeros(cap, np.int64), np.zeros(cap, np.uint32),
                       np.zeros(cap, np.uint32)]
                src = buf if fn is not walk.walk_pcap else np.frombuffer(buf, np.uint8)
                res = fn(src, start, hlen, big, 65535, *out)
                outs.append((tuple(int(x) for x in res), [a[:res[0]].tolist() for a in out]))
            assert outs[0] == outs[1]
        assert outs[0][0][0] == 0


def _compiled_and_pure(monkeypatch, fn, *args):
    """fn(*args) with the compiled helpers, then with their twins (PCAPSCAN_PURE)."""
    monkeypatch.delenv("PCAPSCAN_PURE", raising=False)
    got = fn(*args)
    monkeypatch.setenv("PCAPSCAN_PURE", "1")
    return got, fn(*args)


@needs_native
def test_compiled_dense_ids_are_the_sorting_ones(monkeypatch):
    """fastpath/columns.dense_ids hashes where the distinct rows are few: the ids
    are those of the counting or sorting twin, on every path (one column or
    several, narrow or wide types, negative values, few or many distinct rows,
    runs of one value)."""
    from pcapscan.fastpath.columns import dense_ids

    rng = np.random.default_rng(5)

    def both(cols):
        got, want = _compiled_and_pure(monkeypatch, dense_ids, cols)
        assert got[1] == want[1] and got[0].dtype == want[0].dtype and (got[0] == want[0]).all()
        return got

    for m in (1, 7, 5000, 200_000):
        for distinct in (1, 3, 700, m):
            pick = rng.integers(0, distinct, m)
            wide = (rng.integers(-(1 << 40), 1 << 40, distinct) * 7919)[pick]
            ids, n = both([wide])
            assert n == len(np.unique(wide)) and (np.unique(wide)[ids] == wide).all()
            both([rng.integers(0, 2, m).astype(bool), wide % 65536, (wide >> 20).astype(np.int32)])
            both([(wide % 251).astype(np.uint8), (wide % 40000).astype(np.uint16), (wide % 3 - 1).astype(np.int16)])
            both([wide.astype(np.uint64), (wide % 7).astype(np.uint32)])
            both([np.repeat(wide, rng.integers(1, 60, m))[:m]])  # runs of one value (ids taken again)
    # the helper alone: past `limit` distinct values it answers -1
    out = np.empty(5, np.int64)
    assert native.dense_ids(np.array([5, -3, 5, 9, -3], np.int64), out, 10) == 3 and out.tolist() == [1, 0, 1, 2, 0]
    assert native.dense_ids(np.array([5, -3, 5, 9, -3], np.int64), out, 2) == -1
    assert native.dense_ids(np.zeros(0, np.int64), np.zeros(0, np.int64), 1) == 0
    with pytest.raises(ValueError):
        native.dense_ids(np.zeros(3, np.int64), np.zeros(2, np.int64), 10)
    with pytest.raises(TypeError):
        native.dense_ids(np.zeros(3, np.int32), np.zeros(3, np.int64), 10)


@needs_native
def test_compiled_value_counts_are_the_numpy_ones(monkeypatch):
    """fingerprint.most_common (Counter.most_common on a column: values most common first,
    ties by first appearance) counts in one compiled pass: the same values, counts and
    types as its numpy twin, for every item type, few or many distinct values, ties,
    negative values, one value and none."""
    from collections import Counter

    from pcapscan.fingerprint import most_common

    rng = np.random.default_rng(11)

    def both(values):
        got, want = _compiled_and_pure(monkeypatch, most_common, values)
        assert got[0].dtype == want[0].dtype and got[0].tolist() == want[0].tolist()
        assert got[1].tolist() == want[1].tolist()
        return got

    types = (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64)
    for m in (1, 2, 9, 3000, 70_000):
        for distinct in (2, 23, 700, m):
            pick = rng.integers(0, distinct, m)
            for t in types:
                info = np.iinfo(t)
                pool = rng.integers(max(info.min, -(1 << 62)), min(info.max, 1 << 62), distinct, dtype=np.int64)
                values = pool.astype(t)[pick]
                vals, cnt = both(values)
                want = Counter(values.tolist()).most_common()  # the semantics, spelled out
                assert list(zip(vals.tolist(), cnt.tolist())) == [(v, c) for v, c in want]
    both(np.zeros(0, np.uint16))
    both(np.array([7, 7, 7], np.uint16))
    both(np.array([3, 1, 1, 3, 2, 2], np.int64))  # three tied at 2: by first appearance
    both(np.array([-32768, 32767, -32768], np.int16))  # the narrow table's two ends
    # the helper alone, and again (its table for narrow values is left as it was found)
    for _ in range(2):
        rows, counts = native.count_values(np.array([5, 9, 9, 5, 1], np.uint8))
        assert np.frombuffer(rows, np.int64).tolist() == [0, 1, 4]
        assert np.frombuffer(counts, np.int64).tolist() == [2, 2, 1]
    with pytest.raises(TypeError):
        native.count_values(np.zeros(3, np.float64))


def _lane_batch(rng):
    """A Batch of Ethernet records of the common shape and of every way to miss it (other
    ethertypes, IP options, fragments, ICMP, data offsets below 5, total lengths of 0 or past
    the capture, records cut inside IP or TCP, TCP options cut short), with random bytes
    mutated, other link types among them, the last record at the buffer's very end."""
    import pcapbuild as pb

    from pcapscan.fastpath import columns

    S, T = "198.18.0.1", "198.18.0.2"
    shapes = [pb.ipv4_tcp(S, T, 40000, 80, 0x02, seq=7, window=1024, options=pb.MSS_1460),
              pb.ipv4_tcp(T, S, 80, 40000, 0x12, seq=9, ack=8, window=64240, payload=b"hi"),
              pb.ipv4_tcp(S, T, 1, 2, 0x29, options=b"\x01\x01\x08\x0a" + bytes(8) + b"\x03\x03\x07"),
              pb.ipv4_udp(S, T, 53, 161, b"x" * 30), pb.ipv4(S, T, 17, pb.udp_header(53, 162, b"abc", length=3)),
              pb.ipv4(S, T, 17, pb.udp_header(53, 163, b"abc", length=900)),
              pb.ipv4(S, T, 6, pb.tcp_header(40000, 82, 0x02, data_offset=4)),
              pb.ipv4(S, T, 6, pb.tcp_header(40000, 83, 0x02), ihl=6, options=b"\x01\x01\x01\x01"),
              pb.ipv4(S, T, 6, pb.tcp_header(40000, 84, 0x02), total_length=0),
              pb.ipv4(S, T, 6, pb.tcp_header(40000, 85, 0x02) + b"pad", total_length=44),
              pb.ipv4(S, T, 6, pb.tcp_header(40000, 86, 0x02, options=pb.MSS_1460 * 3), total_length=48),
              pb.ipv4(S, T, 6, b"\x00" * 16, frag_offset=3), pb.ipv4_icmp_unreach(T, S, 3, bytes(28)),
              pb.ipv6_tcp("2001:db8::1", "2001:db8::2", 1, 2, 0x02)]
    recs, lts = [], []
    for _ in range(400):
        rec = bytearray(pb.ether(shapes[int(rng.integers(len(shapes)))]))
        for _ in range(int(rng.integers(0, 3))):  # a byte of the headers at random
            rec[int(rng.integers(0, min(len(rec), 70)))] = int(rng.integers(0, 256))
        cut = int(rng.integers(30, len(rec) + 1)) if rng.random() < 0.2 else len(rec)
        recs.append(bytes(rec[:cut]))
        lts.append(1 if rng.random() < 0.9 else 113)
    buf = b"".join(recs)
    off = np.cumsum([0] + [len(r) for r in recs[:-1]]).astype(np.int64)
    incl = np.array([len(r) for r in recs], np.int64)
    return columns.Batch(buf=np.frombuffer(buf, np.uint8), raw=buf, base=0, frame0=1, off=off, incl=incl,
                         linktype=np.array(lts, np.int32), ts=np.zeros(len(recs)))


@needs_native
def test_compiled_lane_decode_is_the_numpy_one():
    """The same records of the common shape, the same columns (values; the compiled
    ones in narrower types) and the same option layouts, on mutated and cut records."""
    from pcapscan.fastpath import columns

    for seed in range(6):
        batch = _lane_batch(np.random.default_rng(seed))
        got = []
        for fn in (columns._lane, columns._lane_py):
            status = np.full(len(batch.off), columns.BAD, np.int8)
            options = columns.OptionBook()
            lane = fn(batch, status)
            cols = columns._lane_options(lane, batch, options) if lane is not None else {}
            got.append((status, {k: v.tolist() for k, v in cols.items()}, options.tuples))
        (s1, c1, o1), (s2, c2, o2) = got
        assert (s1 == s2).all() and c1 == c2 and o1 == o2
        assert (s1 == columns.FAST).sum() > 100 and (s1 != columns.FAST).sum() > 50
        # the option rows the compiled lane writes as it goes are those gathered afterwards
        lane = columns._lane(batch, np.full(len(batch.off), columns.BAD, np.int8))
        wo = np.flatnonzero(~lane["udp"] & (lane["doff"] > 20))
        assert len(wo) > 20 and (lane["olen"][wo] > 0).sum() > 20
        gathered = columns._option_rows(batch.buf, batch.off[lane["idx"][wo]], lane["olen"][wo].astype(np.int64))
        assert lane["option_rows"][:len(wo)].tolist() == gathered.tolist()


@needs_native
def test_compiled_flow_keys_are_the_numpy_ones(monkeypatch):
    """The same keys, directions and address pair numbers: runs of one pair and pairs coming back,
    one address on both ends (the ports decide), IPv6 ids, UDP and TCP, ports equal or not."""
    from pcapscan import speedups
    from pcapscan.fastpath import columns, flows

    rng = np.random.default_rng(5)
    for _ in range(30):
        m = int(rng.integers(50, 3000))
        runs = int(rng.integers(1, 40))
        src = np.repeat(rng.integers(0, 4, m) + (1 << 32) * (rng.random(m) < 0.1), runs)[:m].astype(np.int64)
        dst = np.repeat(rng.integers(0, 4, m), runs)[:m].astype(np.int64)
        sport = rng.integers(0, 65536, m).astype(np.uint16)
        dport = np.where(rng.random(m) < 0.3, sport, rng.integers(0, 65536, m)).astype(np.uint16)
        udp = rng.random(m) < 0.3
        got = []
        for pure in (False, True):
            monkeypatch.setattr(flows, "compiled", (lambda: None) if pure else speedups.compiled)
            table = flows.FlowTable(columns.AddressBook(), columns.OptionBook())
            key, dirb = table.keys(src, sport.astype(np.int64) if pure else sport, dst, dport, udp)
            got.append((key.dtype, key.tolist(), dirb.tolist(), dict(table.pairs)))
        assert got[0] == got[1]
        assert len(got[0][3]) > 1 and 0 < sum(got[0][2]) < m


@needs_native
def test_compiled_previous_same_is_the_sorting_one(monkeypatch):
    """sessions.previous_same (each row's last earlier row of the same group and value:
    split_runs' previous attempt to a port in a segment) in one compiled pass: the rows of
    its sorting twin, for few or many groups and ports; where the columns are not of the
    shape the pass serves (groups out of order, values past 16 bits) the twin answers."""
    from pcapscan.sessions import previous_same

    rng = np.random.default_rng(17)

    def both(group, value):
        got, want = _compiled_and_pure(monkeypatch, previous_same, group, value)
        assert got.dtype == want.dtype == np.int64 and got.tolist() == want.tolist()
        return got

    for m in (0, 1, 2, 50, 5000, 100_000):
        for groups, ports in ((1, 3), (4, 700), (m or 1, 65536)):
            group = np.sort(rng.integers(0, groups, m)).astype(np.int64)
            value = rng.integers(0, ports, m).astype(np.int64)
            prev = both(group, value)
            has = np.flatnonzero(prev >= 0)  # the semantics: same group and value, earlier, none between
            assert (prev[has] < has).all() and (group[prev[has]] == group[has]).all()
            assert (value[prev[has]] == value[has]).all()
    assert both(np.array([0, 0, 0, 1, 1], np.int64), np.array([5, 7, 5, 5, 5], np.int64)).tolist() == [-1, -1, 0, -1, 3]
    # the twin's cases: groups not ascending, a value past 16 bits or below 0
    assert both(np.array([1, 0, 1], np.int64), np.array([5, 5, 5], np.int64)).tolist() == [-1, -1, 0]
    assert both(np.array([0, 0, 0], np.int64), np.array([70000, -1, 70000], np.int64)).tolist() == [-1, -1, 0]
    out = np.empty(2, np.int64)
    assert native.previous_same(np.array([0, 0], np.int64), np.array([1, 1 << 16], np.int64), out) == -1
    with pytest.raises(ValueError):
        native.previous_same(np.zeros(3, np.int64), np.zeros(2, np.int64), np.zeros(3, np.int64))
    with pytest.raises(TypeError):
        native.previous_same(np.zeros(3, np.int32), np.zeros(3, np.int64), np.zeros(3, np.int64))


@needs_native
def test_compiled_group_rows_is_the_stable_sort(monkeypatch):
    """fastpath/columns.group_rows (the simple flows grouped by session) by counting: the
    rows and counts of the stable argsort twin, for few or many keys, rows without a key,
    keys without rows, none at all; a key out of range or a wrong count of kept rows
    leaves it to the twin."""
    from pcapscan.fastpath.columns import group_rows

    rng = np.random.default_rng(19)

    def both(keys, n):
        kept = int(np.count_nonzero(keys >= 0))
        got, want = _compiled_and_pure(monkeypatch, group_rows, keys, n, kept)
        assert got[0].dtype == want[0].dtype == np.int32 and got[0].tolist() == want[0].tolist()
        assert got[1].dtype == want[1].dtype == np.int64 and got[1].tolist() == want[1].tolist()
        return got

    for m in (0, 1, 9, 4000, 300_000):
        for k in (1, 3, 500, 70_000):
            keys = rng.integers(-1, k, m).astype(np.int32)  # -1: a row without a key
            rows, counts = both(keys, k + 2)  # the last two keys have no rows
            has = np.flatnonzero(keys >= 0)
            assert counts.tolist() == np.bincount(keys[has], minlength=k + 2).tolist() and counts[-2:].sum() == 0
            assert rows.tolist() == has[np.argsort(keys[has], kind="stable")].tolist()
    rows, counts = both(np.array([2, 0, -1, 2, 1, 0], np.int32), 3)
    assert rows.tolist() == [1, 5, 4, 0, 3] and counts.tolist() == [2, 1, 2]
    out, counts = np.empty(2, np.int32), np.empty(2, np.int64)
    assert native.group_rows(np.array([0, 2], np.int32), out, counts) == -1  # key 2 of 2
    assert native.group_rows(np.array([0, -1, 1], np.int32), out[:1], counts) == -1  # two rows kept, not one
    assert native.group_rows(np.array([0, -1, 1], np.int32), out, counts) == 0 and out.tolist() == [0, 2]
    with pytest.raises(TypeError):
        native.group_rows(np.zeros(2, np.int64), out, counts)


@pytest.mark.parametrize("pure", [True, False], ids=["numpy-twin", "compiled"])
def test_laid_records_are_each_head_then_its_bytes(monkeypatch, pure):
    """submissions._lay_records (cnative.lay_records, or its numpy twin): each record's head row,
    then its own bytes of the buffer (records apart, next to each other, empty), end to end."""
    from pcapscan import submissions

    if pure:
        monkeypatch.setenv("PCAPSCAN_PURE", "1")
    elif native is None:
        pytest.skip("pcapscan.cnative is not built")
    buf = np.frombuffer(b"..abc....de.f" + bytes(range(200)), np.uint8)
    off = np.array([2, 9, 12, 12, 13], np.int64)
    incl = np.array([3, 2, 1, 0, 200], np.int64)
    heads = np.arange(5 * 3, dtype=np.uint8).reshape(5, 3)
    out = np.full(int(incl.sum()) + 15, 0xEE, np.uint8)
    submissions._lay_records(buf, off, incl, heads, out)
    want = b"".join(bytes(heads[i]) + bytes(buf[o:o + n]) for i, (o, n) in enumerate(zip(off, incl)))
    assert bytes(out) == want
    assert bytes(out[:8]) == b"\x00\x01\x02abc\x03\x04"


@needs_native
def test_compiled_records_are_the_python_ones(monkeypatch):
    """model.records: cnative.records sets each slot as the function model._maker compiles does,
    columns and defaults alike, and refuses a column of another length."""
    from dataclasses import fields

    from pcapscan.model import Packet, Quoted, records

    rng = np.random.default_rng(5)
    n = 3000
    cols = {"frame": rng.integers(1, 1 << 31, n).tolist(), "ts": rng.random(n).tolist(),
            "src": [f"198.18.0.{i % 250}" for i in range(n)], "dst": ["198.18.1.1"] * n,
            "proto": rng.choice(["tcp", "udp", "icmp"], n).tolist(), "ttl": rng.integers(0, 256, n).tolist(),
            "options": [(2, 4, 8, 1, 3)[:k] for k in rng.integers(0, 6, n).tolist()],
            "mss": [None if m < 0 else m for m in rng.integers(-1, 1460, n).tolist()],
            "quoted": [Quoted("198.18.1.1", "198.18.0.1", "udp", 53, i) if i % 7 == 0 else None for i in range(n)]}
    compiled, pure = _compiled_and_pure(monkeypatch, records, Packet, cols)
    want = [Packet(**{k: v[i] for k, v in cols.items()}) for i in range(n)]
    assert compiled == pure == want
    assert [type(getattr(p, f.name)) for p in compiled for f in fields(Packet)] == \
        [type(getattr(p, f.name)) for p in want for f in fields(Packet)]
    cols["ttl"] = cols["ttl"][:-1]
    for pure_ in (False, True):
        if pure_:
            monkeypatch.setenv("PCAPSCAN_PURE", "1")
        else:
            monkeypatch.delenv("PCAPSCAN_PURE", raising=False)
        with pytest.raises(ValueError):
            records(Packet, cols)
    with pytest.raises(TypeError):  # no data descriptor
        native.records(Packet, (Packet.frame, 5), (1, 2), 1)
    with pytest.raises(AttributeError):  # a property without a setter: its own refusal
        native.records(Packet, (Packet.frame, Packet.seg_len), (1, 2), 1)
    with pytest.raises(ValueError):
        native.records(Packet, (Packet.frame,), ([1, 2],), 3)


@needs_native
def test_compiled_flow_places_are_the_numpy_ones(monkeypatch):
    """Each packet's place in its flow and the rows of first, second and later packets: every
    mix of the state bits (N1, N2, COMPLEX, and the others), ranks 0 to 2, flows repeated."""
    from pcapscan import speedups
    from pcapscan.fastpath import flows

    rng = np.random.default_rng(17)
    for _ in range(30):
        n, m = int(rng.integers(1, 500)), int(rng.integers(0, 3000))
        state = rng.integers(0, 256, n).astype(np.uint8)
        fid = rng.integers(0, n, m).astype(np.int64)
        rank = rng.integers(0, 3, m).astype(np.uint8)
        got = []
        for pure in (False, True):
            monkeypatch.setattr(flows, "compiled", (lambda: None) if pure else speedups.compiled)
            g, was_complex, *rows = flows.flow_places(fid, rank, state)
            got.append((g.tolist(), was_complex.tolist(), [r.tolist() for r in rows]))
        assert got[0] == got[1]
        if m > 100:
            assert all(len(r) for r in got[0][2]) and any(got[0][1]) and not all(got[0][1])
    monkeypatch.setattr(flows, "compiled", speedups.compiled)
    with pytest.raises(IndexError):
        flows.flow_places(np.array([0, 5], np.int64), np.zeros(2, np.uint8), np.zeros(5, np.uint8))
