"""The compiled helpers (pcapscan/cnative.c) and their pure Python/numpy
twins give the same results: rows of text (report/rowtext.py), the flow
table's key -> flow id map (fastpath/flows.py), the pcap record walk
(fastpath/walk.py) and dense ids (fastpath/columns.py)."""
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
    tables = [_table(monkeypatch, pure) for pure in (False, True)]
    universe = (rng.integers(0, 1 << 20, 300_000).astype(np.uint64) << np.uint64(34)) | \
        rng.integers(0, 1 << 33, 300_000).astype(np.uint64)
    for size in (1, 10, 5000, 70_000, 70_000, 150_000, 3):
        keys = universe[rng.integers(0, min(len(universe), 40 * size), size)]
        got = []
        for table in tables:
            fid = table.lookup(keys)
            got.append((fid, np.minimum(table._batch_rank(fid), 2), table.n, table.key.v.copy()))
        (f1, r1, n1, k1), (f2, r2, n2, k2) = got
        assert (f1 == f2).all() and (r1 == r2).all() and n1 == n2 and (k1 == k2).all()
        assert (k1[f1] == keys).all()
    probe = np.r_[universe[:50], np.array([(1 << 63) + 12345], np.uint64)]
    a, b = (table.lookup(probe, create=False) for table in tables)
    assert (a == b).all() and a[-1] == -1 and tables[0].n == tables[1].n


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


@needs_native
def test_compiled_dense_ids_are_the_sorting_ones(monkeypatch):
    """fastpath/columns.dense_ids hashes where the distinct rows are few: the ids
    are those of the counting or sorting twin, on every path (one column or
    several, narrow or wide types, negative values, few or many distinct rows)."""
    from pcapscan.fastpath.columns import dense_ids

    rng = np.random.default_rng(5)

    def both(cols):
        monkeypatch.delenv("PCAPSCAN_PURE", raising=False)
        got = dense_ids(cols)
        monkeypatch.setenv("PCAPSCAN_PURE", "1")
        want = dense_ids(cols)
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
    # the helper alone: past `limit` distinct values it answers -1
    out = np.empty(5, np.int64)
    assert native.dense_ids(np.array([5, -3, 5, 9, -3], np.int64), out, 10) == 3 and out.tolist() == [1, 0, 1, 2, 0]
    assert native.dense_ids(np.array([5, -3, 5, 9, -3], np.int64), out, 2) == -1
    assert native.dense_ids(np.zeros(0, np.int64), np.zeros(0, np.int64), 1) == 0
    with pytest.raises(ValueError):
        native.dense_ids(np.zeros(3, np.int64), np.zeros(2, np.int64), 10)
    with pytest.raises(TypeError):
        native.dense_ids(np.zeros(3, np.int32), np.zeros(3, np.int64), 10)
