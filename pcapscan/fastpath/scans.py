"""From the flow table to scans: the fast path's `analyze_capture`.

Complex flows are replayed by exchanges.ReplayEngine and their exchanges
go through the very code analysis.build_scans runs. Simple flows (one
probe, nothing or one packet back, alone in their exchange and on their
port) are classified in bulk: each distinct shape (technique, probe kind,
options, what came back) is classified once, by the real classifier on a
real Exchange, and the answer applied to every exchange of that shape.
Whatever needs one exchange's own words (the evidence sentence of a scan,
the smoothing of SYN sessions) is computed on that exchange itself.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

import numpy as np

from .. import families
from ..capture import ReadStats
from ..exchanges import ReplayEngine, first_heard, midstream, probe_class, shows_connection
from ..fingerprint import NMAP_OS_PROBES, identify
from ..gcpause import no_cyclic_gc, young_cyclic_gc
from ..pairing import QueryEngine
from ..scans import More, capture_summary, merge_same_port, other_beside
from ..sessions import NEVER_HEARD, flow_kinds, kind_of, packet_columns, run_spans, split_runs
from ..techniques import detection, discovery, idle, ipproto
from ..model import TCP_BASE_FLAGS, Exchange, PortResult, Reason, Scan, State, Technique, Text, Verdict, flag_letters
from ..techniques import REGISTRY, fallback_spec, infer_technique
from ..progress import Ticker, report
from . import shapes
from .columns import (AddressBook, NeedSlowPath, OptionBook, Reader, dense_ids, first_index, group_rows, merge_rows,
                      pack_columns, range_rows)
from .feed import RecordReader, Rereader, capinfo, read_forked, read_here
from .flows import ANS_DATA, ANS_OK, ANS_WIN, COMPLEX, N1, N2, PROBE_COLS, ROW_FIELDS, SDIR, FlowTable, make_packets
from .workers import ChildFailed, can_fork, debug, fork_map, roomy_heap, tame_malloc

STATES = list(State)
REASONS = list(Reason)
TECHS = list(Technique)
_T = {t: i for i, t in enumerate(TECHS)}
UDP_KIND = 64
# Sessions with at most this many bulk-classified probes are fingerprinted
# on real Exchange objects; larger ones on columns (fastpath/fprint.py). The
# objects cost a Packet per probe and an answer read again from the capture:
# a scan run again of 1000 ports (the replicated null scan: 355 sessions per
# million packets) took 5 of its 7 s so (docs/performance.md).
FP_OBJECTS_MAX = 256
# Captures from this size on are read twice, the second time block by block (FlowTable's lean
# mode): the flow table keeps 17 bytes a flow instead of about 47 (docs/performance.md)
REREAD_MIN_BYTES = 512 << 20
# A scan's bulk exchanges of several probes (a silent port probed again: FlowTable.take_retries,
# Assembler._fold) are made Exchange objects, as the engine's, while their probes besides
# the first are at most this many (a few retries: verify and compare read them so), else
# they stay columns (PortTable.more: the replicated null scan's 1000 ports of 117 probes)
MORE_OBJECTS_MAX = 4096
SESSION_ROWS = 1 << 19  # flows given their session at a time (int64 temporaries of 4 MiB: kept in the heap)
BLOCK_ROWS = 1 << 17  # simple flows assembled at a time (whole sessions: a block may be bigger)
REPS = 16  # bulk exchanges per (scanner, target) shown to the routing policies (see _representatives)


def kind_letters(code: int) -> str:
    return "udp" if code == UDP_KIND else flag_letters(code)


class PortTable(Sequence):
    """A scan's ports as columns, sorted by (proto, port). Rows classified in
    bulk have no Exchange (`exchange` is None); rows the engine built keep
    their real PortResult."""

    def __init__(self, udp, port, state, reason, ttl, pframe, rframe, objects: dict, more: dict | None = None):
        self.udp, self.port, self.state, self.reason, self.ttl = udp, port, state, reason, ttl
        self.pframe, self.rframe = pframe, rframe
        self.objects = objects  # row -> PortResult
        self.more = more or {}  # bulk row probed more than once -> every probe's frame, ascending (pframe first)

    def __len__(self) -> int:
        return len(self.port)

    def states(self) -> np.ndarray:
        """Every row's state (an index of STATES), the engine's rows' from their PortResult."""
        out = self.state.astype(np.int64)
        for i, pr in self.objects.items():
            out[i] = STATES.index(pr.verdict.state)
        return out

    def reasons(self) -> np.ndarray:
        """Every row's reason (an index of REASONS), the engine's rows' from their PortResult."""
        out = self.reason.astype(np.int64)
        for i, pr in self.objects.items():
            out[i] = REASONS.index(pr.verdict.reason)
        return out

    def probe_counts(self, rows: np.ndarray) -> np.ndarray:
        """Each of bulk rows `rows`'s number of probes: one, or every probe of a row in `more`."""
        out = np.ones(len(rows), np.int64)
        if self.more:
            out[:] = [len(self.more[r]) if r in self.more else 1 for r in rows.tolist()]
        return out

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        got = self.objects.get(i)
        if got is not None:
            return got
        rf = int(self.rframe[i])
        more = self.more.get(i)
        v = Verdict(state=STATES[self.state[i]], reason=REASONS[self.reason[i]], reason_ttl=int(self.ttl[i]),
                    probe_frames=(int(self.pframe[i]),) if more is None else tuple(more.tolist()),
                    response_frames=(rf,) if rf >= 0 else ())
        return PortResult(proto="udp" if self.udp[i] else "tcp", port=int(self.port[i]), verdict=v, exchange=None)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


def analyze_capture_fast(path, forced: Optional[Technique] = None, progress: Optional[Callable] = None,
                         use_jit: bool = True, fp_objects_max: int = FP_OBJECTS_MAX,
                         chunk_bytes: Optional[int] = None, parallel: bool = False):
    """Same result as analysis.analyze_capture; raises NeedSlowPath when the capture needs that.

    `parallel`: use a second process (os.fork) where that pays: one decodes
    the capture while this one keys the flows, then both assemble half of
    the scan sessions each (docs/performance.md). Same results either way."""
    with no_cyclic_gc():  # the Packets and Exchanges of complex flows: millions of objects on a big capture (gcpause.py)
        return _analyze_capture_fast(path, forced, progress, use_jit, fp_objects_max, chunk_bytes, parallel)


def _analyze_capture_fast(path, forced, progress, use_jit, fp_objects_max, chunk_bytes, parallel):
    tame_malloc()
    debug("start")
    stats = ReadStats(str(path))
    addrs, options = AddressBook(), OptionBook()
    kw = {"chunk_bytes": chunk_bytes} if chunk_bytes else {}
    reader = Reader(path, stats, use_jit=use_jit, **kw)
    # a big capture is read twice (feed.Rereader): the flow table keeps keys, states and frames,
    # and a block's other columns are read again while it is assembled
    table = FlowTable(addrs, options, lean=(reader.cap.size or 0) >= REREAD_MIN_BYTES)
    forked = parallel and can_fork()
    if forked:
        try:
            info, stats = read_forked(reader, stats, table, progress)
        except ChildFailed:
            return analyze_capture_fast(path, forced, progress, use_jit, fp_objects_max, chunk_bytes, False)
    else:
        read_here(reader, stats, table, progress)
        info = capinfo(reader.cap)
    table.done_reading()
    if table.lean:
        table.reread = Rereader(str(path), info, use_jit, addrs, options, table.marks, stats.packets)
    debug("read")
    read_at = RecordReader(str(path), info)
    try:
        with roomy_heap():
            scans, duplicates, more, other = Assembler(table, str(path), forced, read_at, fp_objects_max,
                                                       forked=forked, progress=progress).run()
    finally:
        read_at.close()
    return capture_summary(path, stats, duplicates, other), scans, more


class Assembler:
    """The flow table (flows.FlowTable) -> scans, the fast path's analog of
    scans.analyze_capture_full after the read. `run()` does it in five steps:

    1. complex flows are replayed by exchanges.ReplayEngine, packet by packet;
    2. simple flows (one probe, at most one packet back) are sorted into
       blocks of whole address pairs; ordinary traffic among them is dropped
       by the engine's own rules (exchanges.midstream, shows_connection);
       every scan connection, the engine's and the bulk ones together, is
       split into runs (sessions.split_runs), block by block;
    3. the simple flows the engine must group itself (sharing a port with
       another flow, or of a shape a routing policy may claim) go back to it
       (ReplayEngine.adopt), with their runs;
    4. the routing policies (families.route) see the engine's exchanges and a
       few representatives of each bulk session, with the spans of every run;
    5. scans are built block by block, each distinct shape classified once by
       the technique's real classifier (fastpath/shapes.py).

    What holds for the whole capture lives on the instance, set once: `t`
    the flow table; in step 2 `engine_keys`, `times` and `zombies` (what
    the engine's exchanges tell about the simple flows) and `conn_cols` (the
    engine's connections as split_runs reads them), after it `run_of` (each
    flow's run). What belongs to one block of simple flows is
    passed explicitly: its columns (`cols`, made by _block: flow ids, pair
    session, ports, probe kind, options, answer flags...) and, while its
    scans are built, its exchange table (`tab`, a BlockTable). Blocks may be
    built in a forked second process (workers.fork_map): what a block needs
    is set before the fork."""

    def __init__(self, table: FlowTable, capture: str, forced, read_at, fp_objects_max: int, forked: bool = False,
                 progress: Optional[Callable] = None):
        self.forked = forked  # may fork a second process for half of the blocks
        self.progress = progress  # pcapscan/progress.py
        self.t = table
        self.capture = capture
        self.forced = forced
        self.read_at = read_at
        self.fp_objects_max = fp_objects_max
        self.text = table.addrs.text
        self.run_of = None  # run (sessions.py) of each flow, once known (step 2)
        self.conn_cols = None  # split_runs' columns of the engine's connections, during step 2
        # what the engine's exchanges tell of the simple flows (step 2)
        self.engine_keys = self.times = self.zombies = None
        # flows folded into another's exchange (see _aside): (the other's flow ids, ascending; theirs)
        self.folded = (np.zeros(0, np.int64), np.zeros(0, np.int64))

    # -- materializing simple flows ------------------------------------------------------

    def exchanges_of(self, s: dict, rows) -> list:
        """Real Exchanges for simple rows (indexes into the block's columns `s`)."""
        rows = np.asarray(rows, np.int64)
        if not len(rows):
            return []
        fids = s["fid"][rows]
        probes = self.t.probe_packets(fids)
        has2 = s["n2"][rows]
        answers = self.t.answer_packets(fids[has2], self.read_at)
        it = iter(answers)
        others = self._others(fids)  # the other probes of each exchange, if any
        more = make_packets({k: others[k] for k in ROW_FIELDS}, self.t.addrs, self.t.options) if len(others["at"]) \
            else []
        more_at = np.searchsorted(others["at"], np.arange(len(fids) + 1)).tolist()
        out = []
        for j, p in enumerate(probes):
            resp = next(it) if has2[j] else None
            ok = bool(s["ans"][rows[j]])
            out.append(Exchange(
                scanner=p.src, target=p.dst, proto=p.proto, port=p.dport, probes=(p, *more[more_at[j]:more_at[j + 1]]),
                responses=(resp,) if resp is not None and ok else (),
                stray=(resp,) if resp is not None and not ok else (),
                run=int(self.run_of[fids[j]]) if self.run_of is not None else 0))
        return out

    def _others(self, fids, folded=None) -> dict:
        """The probes of the exchange each of flows `fids` starts besides its first: the first
        probes of the flows folded into it (`folded`, default self.folded: see _aside) and every
        probe again of it and of them (FlowTable.take_retries), as ROW_FIELDS columns and "at"
        (the index in `fids`), sorted by (at, frame)."""
        t = self.t
        heads, members = self.folded if folded is None else folded
        fids = np.asarray(fids, np.int64) if len(heads) or len(t.retries) else fids[:0]
        hit = np.zeros(len(fids), bool)  # the flows with any: few, mostly none
        hit[_rows_in(fids, heads)] = True
        hit[_rows_in(fids, t.retries.fids)] = True
        where = np.flatnonzero(hit)
        if not len(where):
            return _no_others()
        fids = fids[where]
        lo, hi = np.searchsorted(heads, fids, "left"), np.searchsorted(heads, fids, "right")
        n = hi - lo
        m_at = np.repeat(np.arange(len(fids)), n)
        m_fid = members[range_rows(lo, n)]
        rows, owner = t.retries.rows_of(np.r_[fids, m_fid])
        if not len(m_fid) and not len(rows):
            return _no_others()
        src, sport, dst, dport, udp = t.endpoints(m_fid)
        firsts = {k: t.probe[k].a[m_fid] for k in PROBE_COLS}
        firsts.update(src=src, sport=sport, dst=dst, dport=dport, udp=udp)
        again = t.retries.cols
        at = np.r_[m_at, np.r_[np.arange(len(fids)), m_at][owner]]
        out = {k: np.concatenate([firsts[k], again[k][rows]]) for k in ROW_FIELDS}
        order = np.lexsort((out["frame"], at))
        out = {k: v[order] for k, v in out.items()}
        out["at"] = where[at[order]]
        return out

    # -- the whole capture -------------------------------------------------------------------

    def run(self):
        t = self.t
        st = t.state.v
        # 1. complex flows through the engines, in capture order, their Packets made a chunk at a
        # time: each lives as long as the engine keeps it
        t.take_retries()  # (flows of a probe again and nothing back: the engine's no more)
        engine = ReplayEngine()
        queries = QueryEngine(engine)
        tick = Ticker(self.progress, "pairing", t.complex_count())
        fed = 0
        with t.loaded(np.nonzero(st & COMPLEX)[0]):  # (a lean table: their probe and answer columns read again)
            for pk in t.complex_packets(self.read_at):
                for p in pk:
                    queries.feed(p)
                    engine.feed(p)
                fed += len(pk)
                tick(fed)
        tick.end()
        pk = None
        query_exchanges = queries.exchanges()
        debug("complex flows replayed")
        # 2. simple flows, in blocks of whole scan sessions: what they need
        # in memory at a time is bounded by the block, not by the capture
        # simple, with a probe: their session, then their flow ids grouped by session, in one pass
        simple = (st & (COMPLEX | N1)) == N1
        sess = np.empty(len(st), np.int32)
        for lo in range(0, len(st), SESSION_ROWS):  # sessions_of works in int64: a slice at a time
            hi = lo + SESSION_ROWS
            sess[lo:hi] = t.sessions_of(t.key.v[lo:hi], st[lo:hi])
        np.copyto(sess, -1, where=~simple)
        fid, counts = group_rows(sess, int(sess.max()) + 1 if len(sess) else 0, int(np.count_nonzero(simple)))
        del sess, simple
        # with a second process, a block per session or so: the two halves come out even
        blocks, block_sessions = _blocks(counts, max(1, BLOCK_ROWS // 4) if self.forked else BLOCK_ROWS)
        del counts
        debug("simple flows in sessions")
        self.engine_keys = self._engine_keys(engine)
        self.times = self._icmp_times(query_exchanges)
        self.zombies = [t.addrs.id_of(z) for z in idle.zombie_hosts(query_exchanges)]
        # runs (sessions.py) over every scan connection, the engine's and the bulk ones together:
        # split block by block (a run is one session's) with the engine's connections of the block
        connections = engine.probe_connections()
        self.conn_cols = self._connection_columns(connections)

        def sort_out(i):
            lo, hi = blocks[i]
            block = fid[lo:hi]  # each session's flows ascending (group_rows): a block of one is in order
            if not (block[1:] >= block[:-1]).all():
                block = np.sort(block)
            with t.loaded(block):
                return sorted_out(i, block)

        def sorted_out(i, block):
            bs = block_sessions[i]
            cols = self._block(block, full=False)
            cols["window"] = t.probe["window"].a[cols["fid"]]  # (read by the steps below: gathered once)
            # ordinary traffic among them: dropped by the engine's not-a-probe rules, once per shape
            drop = self._ordinary(cols)
            ndrop = int(np.count_nonzero(drop))
            dropped = (ndrop, ndrop + int(np.count_nonzero(cols["n2"][drop])))  # probes, and their answers
            if ndrop:
                drop = ~drop
                cols = {k: v[drop] for k, v in cols.items()}
            del drop
            # each flow's session's row in `bs` (a block of one session: searched for nothing)
            cols["row"] = np.searchsorted(bs, cols["sp"]) if len(bs) > 1 else np.zeros(len(cols["sp"]), np.intp)
            # (a TCP flow's kind is its probe's flags less ECE/CWR: as flow_kinds reads them)
            kinds, ts = flow_kinds(cols["udp"], cols["kind"]), t.probe["ts"].a[cols["fid"]]
            conn_rows, conn_runs, runs = self._block_runs(cols, bs, kinds, ts)
            runs = runs.astype(np.int32)  # as run_of keeps them
            aside, fold = self._aside(cols, bs, runs)
            folded = fold >= 0
            keep = ~aside & ~folded
            # the spans of the runs' bulk flows; the engine's exchanges (with those set aside) join them in step 4.
            # An exchange of several probes spans from its first to its last (in frame order), as the engine's
            heads = cols["fid"][fold[folded]].astype(np.int64)
            order = np.argsort(heads, kind="stable")
            heads, members = heads[order], cols["fid"][folded][order].astype(np.int64)
            out = {"aside": cols["fid"][aside].astype(np.int32), "aside_runs": runs[aside], "conn_rows": conn_rows,
                   "conn_runs": conn_runs, "dropped": dropped,
                   "folded": (heads.astype(np.int32), members.astype(np.int32), runs[folded][order])}
            # what is read below (by a mask: a streaming copy, 1.5x quicker than by the rows' indexes)
            cols = {k: cols[k][keep] for k in ("fid", "sp", "udp", "tport", "kind", "row")}
            kinds, ts, runs = kinds[keep], ts[keep], runs[keep]
            others = self._others(cols["fid"], (heads, members))
            if len(others["at"]):  # (those rows again, with their last probes' times)
                last = np.flatnonzero(np.r_[others["at"][1:] != others["at"][:-1], True])
                at = others["at"][last]
                spans = run_spans(np.r_[cols["sp"], cols["sp"][at]], np.r_[kinds, kinds[at]], np.r_[runs, runs[at]],
                                  np.r_[ts, others["ts"][last]], np.r_[cols["tport"], cols["tport"][at]])
            else:
                spans = run_spans(cols["sp"], kinds, runs, ts, cols["tport"])
            del kinds, ts, others
            present = np.zeros(len(bs), bool)
            present[cols["row"]] = True
            return dict(out, spans=spans, kept=cols["fid"].astype(np.int32), kept_runs=runs,
                        reps=cols["fid"][self._representatives(cols)].astype(np.int32),
                        sessions=bs[present])  # the sessions that keep a flow

        reread = "-reread" if t.lean else ""  # said on the progress line
        done = fork_map(sort_out, [hi - lo for lo, hi in blocks], self.forked, self.progress, "assembling" + reread)
        aside_fids, kept_fids = [d["aside"] for d in done], [d["kept"] for d in done]
        rep_fids = [d["reps"] for d in done]
        kept_sessions = [d["sessions"] for d in done]  # the sessions of each part of kept_fids, ascending
        self.run_of = np.zeros(len(st), np.int32)
        conn_runs = np.zeros(len(connections), np.int64)
        left = np.ones(len(connections), bool)  # connections of sessions without simple flows
        for d in done:
            self.run_of[d["aside"]], self.run_of[d["kept"]] = d["aside_runs"], d["kept_runs"]
            self.run_of[d["folded"][1]] = d["folded"][2]
            conn_runs[d["conn_rows"]], left[d["conn_rows"]] = d["conn_runs"], False
        heads = np.concatenate([d["folded"][0] for d in done]).astype(np.int64) if done else np.zeros(0, np.int64)
        members = np.concatenate([d["folded"][1] for d in done]).astype(np.int64) if done else heads
        order = np.argsort(heads, kind="stable")
        self.folded = (heads[order], members[order])
        del heads, members, order
        left = np.nonzero(left)[0]
        conn_runs[left] = split_runs(*[c[left] for c in self.conn_cols])
        dropped = tuple(sum(d["dropped"][k] for d in done) for k in (0, 1))
        bulk_spans = [d["spans"] for d in done]
        del fid, done, left
        debug("simple flows sorted out")
        report(self.progress, "routing")  # steps 3 and 4 cannot tell their length: the bar counts seconds
        # 3. those the engine must group itself (sharing an exchange or a port with another flow,
        # or of a shape a routing policy might claim): back to the engine as connections
        aside = np.concatenate(aside_fids) if aside_fids else np.zeros(0, np.int32)
        with t.loaded(aside):
            cols = self._block(aside, full=False)
            adopted = self.exchanges_of(cols, np.arange(len(cols["fid"])))  # each with its flow's run
        del aside
        engine.adopt(adopted)
        run_by = {id(c): r for c, r in zip(connections, conn_runs.tolist())}
        run_by.update((id(ex.probes[0]), ex.run) for ex in adopted)  # an adopted connection: its probe
        engine_runs = [run_by[id(c)] if id(c) in run_by else run_by[id(c.probes[0])]
                       for c in engine.probe_connections()]
        del connections, adopted, run_by, cols
        self.conn_cols = None
        duplicates = engine.stats.duplicates
        other = engine.other_traffic()
        other.add(*dropped)
        exchanges = engine.exchanges(runs=engine_runs)
        ordinary = engine.ordinary_exchanges()
        del engine, queries
        # 4. routing (families.py) on the engine's exchanges, with a few bulk exchanges of each
        # session beside them for context; none of those may leave the port scans
        reps = np.concatenate(rep_fids) if rep_fids else np.zeros(0, np.int32)
        with t.loaded(reps):
            cols = self._block(reps, full=False)
            rep_ex = self.exchanges_of(cols, np.arange(len(cols["fid"])))
        del reps
        del cols
        combined = sorted(exchanges + rep_ex, key=lambda ex: ex.probes[0].frame)
        routed = families.route(self.capture, combined, query_exchanges, ordinary,
                                self._spans(exchanges, bulk_spans))
        rep_ids = {id(ex) for ex in rep_ex}
        kept = [ex for ex in routed.port_exchanges if id(ex) not in rep_ids]
        if len(kept) + len(rep_ex) != len(routed.port_exchanges):
            raise NeedSlowPath("the routing policies took exchanges of a bulk scan session")
        del combined, rep_ex, exchanges, bulk_spans
        debug("routed")
        # 5. scans, block by block; the engine's exchanges go with the block of their session
        by_sess: dict = {}
        for ex in kept:
            by_sess.setdefault(t.session_of(t.addrs.id_of(ex.scanner), t.addrs.id_of(ex.target)), []).append(ex)
        mine_of = []
        for sessions in kept_sessions:
            mine = []
            for sp_ in sessions.tolist():
                mine += by_sess.pop(sp_, [])
            mine_of.append(mine)

        def build(i):
            # fingerprinting leaves cycles (its columns): freed as it goes
            with young_cyclic_gc(), t.loaded(kept_fids[i]):
                return self.build(self._block(kept_fids[i]), mine_of[i])

        scans = [sc for part in fork_map(build, [len(f) + len(m) for f, m in zip(kept_fids, mine_of)], self.forked,
                                          self.progress, "fingerprinting" + reread)
                 for sc in part]
        rest = [ex for exs in by_sess.values() for ex in exs]
        if rest:  # sessions of the engine's exchanges only: told apart from the 100% of the blocks above
            report(self.progress, "fingerprinting")
            with young_cyclic_gc():
                scans += self.build(self._block(np.zeros(0, np.int32)), rest)
        scans += list(routed.idle_scans)
        debug("scans built")
        scans.sort(key=_first_frame)
        more = More(families.discoveries(self.capture, routed, scans), routed.probings)
        return scans, duplicates, more, other_beside(other, routed.probings)

    def _block(self, fid: np.ndarray, full: bool = True) -> dict:
        """The columns of simple flows `fid` (in frame order) the assembly reads.
        Flow ids as intp: numpy converts any other index to it on every gather."""
        t = self.t
        fid = fid.astype(np.intp, copy=False)
        st = t.state.a[fid]
        key = t.key.a[fid]
        udp = ((key >> np.uint64(32)) & np.uint64(1)).astype(bool)
        lo_p = ((key >> np.uint64(16)) & np.uint64(0xFFFF)).astype(np.uint16)
        hi_p = (key & np.uint64(0xFFFF)).astype(np.uint16)
        sdir = (st & SDIR) > 0
        n2 = (st & N2) > 0
        ans = n2 & ((st & ANS_OK) > 0)
        s = {"fid": fid, "sp": t.sessions_of(key, st), "sport": np.where(sdir, hi_p, lo_p),
             "tport": np.where(sdir, lo_p, hi_p), "udp": udp,
             "kind": np.where(udp, UDP_KIND, t.probe["flags"].a[fid] & TCP_BASE_FLAGS).astype(np.uint8),
             "opt": t.probe["opt"].a[fid], "n2": n2, "ans": ans}
        if full:
            a = t.answer
            s["pframe"] = t.probe["frame"].a[fid].astype(np.int64)
            s["pts"] = t.probe["ts"].a[fid]
            s["rframe"] = np.where(ans, a["frame"].a[fid].astype(np.int64), -1)
            s["rttl"] = a["ttl"].a[fid]
            s["rflags"] = np.where(n2, a["flags"].a[fid].astype(np.int16), -1)
            s["rwin"] = (st & ANS_WIN) > 0
        return s

    def _ordinary(self, s: dict) -> np.ndarray:
        """Which simple TCP flows (the block's columns `s`, with their probes' "window") are
        ordinary traffic, by the engine's own rules (exchanges.midstream, exchanges.shows_connection)
        evaluated once per distinct shape of the fields they read."""
        t = self.t
        n = len(s["fid"])
        drop = np.zeros(n, bool)
        tcp = np.flatnonzero(~s["udp"])
        if not len(tcp):
            return drop
        if len(tcp) == n:  # (all of them: no copies)
            tcp = slice(None)
        f, n2 = s["fid"][tcp], s["n2"][tcp]
        # (a TCP flow's kind: its probe's flags less ECE/CWR)
        cols = [s["kind"][tcp], s["window"][tcp], s["opt"][tcp],
                np.where(n2, t.answer["flags"].a[f].astype(np.int16), -1), (t.state.a[f] & ANS_DATA) > 0]
        inv, nu = dense_ids(cols)
        first = first_index(inv, nu)
        shape_drop = np.zeros(nu, bool)
        for u, row in enumerate(first.tolist()):
            flags, window, opt, rflags, data = (int(c[row]) for c in cols)
            shape_drop[u] = midstream(flags, window, t.options.tuples[opt]) or (
                rflags >= 0 and shows_connection(flags, rflags, int(data)))
        drop[tcp] = shape_drop[inv]
        return drop

    def _connection_columns(self, connections: list) -> list:
        """sessions.split_runs' columns of the engine's connections (their first probes)."""
        t = self.t
        cols = packet_columns([c.probes[0] for c in connections],
                              lambda src, dst: t.session_of(t.addrs.id_of(src), t.addrs.id_of(dst)),
                              t.options.id_of, [first_heard(c) for c in connections])
        return [np.asarray(c, np.float64 if i == 5 else np.int64) for i, c in enumerate(cols)]

    def _block_runs(self, s: dict, sessions: np.ndarray, kinds: np.ndarray, ts: np.ndarray):
        """sessions.split_runs over a block's flows (its columns `s` with their probes' "window", their kinds
        (sessions.flow_kinds) and times) and the engine's connections of its sessions
        (ascending `sessions`): (those connections' rows in self.conn_cols, their runs, the
        runs of the block's rows). split_runs numbers runs per session and probe kind from
        what each row holds, not from where it stands: the numbers are those of one call
        over every connection, in memory bounded by a block."""
        t = self.t
        p = t.probe
        rows = _rows_in(self.conn_cols[0], sessions)
        f, u = s["fid"], s["udp"]
        tcp_only = not u.any()
        b_cols = (s["sp"], kinds, s["window"] if tcp_only else np.where(u, 0, s["window"]),
                  s["opt"] if tcp_only else np.where(u, t.options.id_of(()), s["opt"]), p["ttl"].a[f], ts, s["tport"],
                  p["frame"].a[f],
                  # heard: a simple flow's second packet is the target's
                  np.where(s["n2"], t.answer["frame"].a[f].astype(np.int64), NEVER_HEARD))
        runs = split_runs(*[np.concatenate([c[rows], b]) for c, b in zip(self.conn_cols, b_cols)] if len(rows) else
                          b_cols)
        return rows, runs[:len(rows)], runs[len(rows):]

    def _spans(self, exchanges: list, bulk_spans: list) -> dict:
        """sessions.run_spans of every scan run, the engine's exchanges and the
        bulk flows together, keyed as sessions.exchange_spans keys them.
        `bulk_spans`: run_spans of the bulk flows, block by block (a run is one
        session's, a session one block's). Those of the engine's exchanges join
        them: first and last times are the extremes of both; the ports add up,
        for no bulk flow shares its (session, protocol, port) with an
        exchange of the engine (Assembler._aside sets those aside, and the
        engine's exchanges are its own connections and those it adopts), and
        a run's kind tells its protocol."""
        t = self.t
        e_pair = np.array([t.session_of(t.addrs.id_of(ex.scanner), t.addrs.id_of(ex.target))
                           for ex in exchanges], np.int64)
        e_kind = np.array([kind_of(ex.probes[0]) for ex in exchanges], np.int64)
        e_run = np.array([ex.run for ex in exchanges], np.int64)
        e_first = np.array([ex.probes[0].ts for ex in exchanges], np.float64)
        e_last = np.array([ex.probes[-1].ts for ex in exchanges], np.float64)
        e_port = np.array([ex.port for ex in exchanges], np.int64)
        spans = run_spans(np.r_[e_pair, e_pair], np.r_[e_kind, e_kind], np.r_[e_run, e_run], np.r_[e_first, e_last],
                          np.r_[e_port, e_port])
        for part in bulk_spans:
            for key, (first, last, ports) in part.items():
                got = spans.get(key)
                spans[key] = (first, last, ports) if got is None else (min(first, got[0]), max(last, got[1]),
                                                                       ports + got[2])
        spans = dict(sorted(spans.items()))
        pairs = {p: None for p, _k, _r in spans}
        scanners, targets = t.session_addrs(np.array(list(pairs), np.int64))
        for p, sc, tg in zip(list(pairs), scanners.tolist(), targets.tolist()):
            pairs[p] = (self.text(sc), self.text(tg))
        return {(pairs[p], k, r): v for (p, k, r), v in spans.items()}

    def _engine_keys(self, engine) -> np.ndarray:
        """(session, udp, port) of every connection the engine follows."""
        t = self.t
        keys = set()
        for key in engine.flow_keys():
            proto, scanner, _sport, target, port = key
            if proto in ("tcp", "udp"):
                keys.add((t.session_of(t.addrs.id_of(scanner), t.addrs.id_of(target)), int(proto == "udp"), port))
        return np.array(sorted(keys), np.int64).reshape(-1, 3)

    def _icmp_times(self, query_exchanges) -> dict:
        t = self.t
        return {t.session_of(t.addrs.id_of(scanner), t.addrs.id_of(target)): times
                for (scanner, target), times in discovery.icmp_ping_times(query_exchanges).items()}

    def _aside(self, s: dict, sessions: np.ndarray, runs: np.ndarray):
        """(aside, fold) of the simple flows of the block (its columns `s`, with their probes' "window"
        and their session's "row" in `sessions`; in `runs`):
        `aside` those to replay with the engine: sharing an exchange or a port with another flow,
        and those a routing policy might claim; but flows of one port that heard nothing back, of
        one probe kind, options and run, are one exchange of the engine's (exchanges.ReplayEngine
        groups connections so) made here: `fold` gives each of them but the first (in frame
        order) that first one's row (-1 for every other flow)."""
        t = self.t
        n = len(s["fid"])
        aside = np.zeros(n, bool)
        fold = np.full(n, -1, np.int64)
        if not n:
            return aside, fold
        # a (scanner, target, proto, port) the engine also saw, or another simple flow
        # (retries from other source ports)
        # (sessions numbered within the block: the keys' range stays that of a few sessions)
        cols = [s["row"], s["udp"], s["tport"]]
        extra = self.engine_keys
        if len(extra):
            extra = extra[_isin(extra[:, 0], sessions)]
        if len(extra):
            extra[:, 0] = np.searchsorted(sessions, extra[:, 0])
            cols = [np.concatenate([c, extra[:, i]]) for i, c in enumerate(cols)]
        shared = np.flatnonzero(_shared(cols)[:n])
        fid = s["fid"]
        if len(shared):  # ... unless they are the flows of one key the scanner reopened (FlowTable._reopened), each
            # alone in its run: exchanges the engine keeps apart (every flow of such a port is among `shared`)
            port = (cols[0][shared].astype(np.int64) * 2 + cols[1][shared]) * 65536 + cols[2][shared]
            engine = (cols[0][n:].astype(np.int64) * 2 + cols[1][n:]) * 65536 + cols[2][n:]
            on_engine = _isin(port, np.sort(engine))
            apart = _one_key_apart(port, t.key.a[fid[shared]], runs[shared]) & ~on_engine
            tied = ~apart & ~on_engine
            if not t.lean:  # (a lean table's probe columns are read again for some flows only)
                fold[shared[tied]] = self._fold(s, shared[tied], port[tied], runs)
            grouped = fold >= 0
            grouped[fold[grouped]] = True  # (the first flow of each port folded into)
            aside[shared[~apart & ~grouped[shared]]] = True
        win = s["window"]
        # nmap OS detection's probe shapes (techniques/detection.py)
        os_shapes = {(w, t.options.id_of(o)) for (w, o) in NMAP_OS_PROBES}
        if os_shapes:
            shape = win.astype(np.int64) * (1 << 32) + s["opt"]
            ref = np.array([a * (1 << 32) + b for a, b in os_shapes], np.int64)
            aside |= ~s["udp"] & np.isin(shape, ref)
            del shape
        aside |= s["udp"] & (t.probe["payload"].a[fid] == detection.U1_PAYLOAD)
        # nmap -sO's TCP and UDP companions (techniques/ipproto.py)
        # (a TCP flow's kind: its probe's flags less ECE/CWR)
        aside |= ~s["udp"] & (s["tport"] == ipproto.TCP_PROBE_PORT) & ((s["kind"] & 0x17) == 0x10)
        aside |= s["udp"] & (s["tport"] == ipproto.UDP_PROBE_PORT)
        # nmap's default TCP pings, which may be timing pings inside another scan (techniques/discovery.py)
        syn, ack = (s["kind"] & 0x02) > 0, (s["kind"] & 0x10) > 0
        aside |= ~s["udp"] & ((syn & (s["tport"] == 443)) | (~syn & ack & (s["tport"] == 80)))  # method_of's test
        # idle scans: SYNs from a zombie (techniques/idle.py)
        if self.zombies:
            scanners, _targets = t.session_addrs(s["sp"])
            aside |= np.isin(scanners, np.array(self.zombies, np.int64))
        # pings next to an ICMP ping of the same host (techniques/discovery.py)
        if self.times:
            ts = t.probe["ts"].a[fid]
            for sp_, tl in self.times.items():
                sel = np.nonzero(s["sp"] == sp_)[0]
                if not len(sel):
                    continue
                tl = np.sort(np.array(tl))
                i = np.clip(np.searchsorted(tl, ts[sel]), 1, len(tl)) if len(tl) > 1 else np.ones(len(sel), np.int64)
                near = np.minimum(np.abs(ts[sel] - tl[np.maximum(i - 1, 0)]),
                                  np.abs(ts[sel] - tl[np.minimum(i, len(tl) - 1)]))
                aside[sel[near <= discovery.ICMP_COMPANION_WINDOW + 1e-3]] = True
        if (fold >= 0).any():  # a port whose flows a routing policy might claim goes to the engine whole
            first = np.where(fold >= 0, fold, np.arange(n))
            claimed = np.zeros(n, bool)
            claimed[first[aside]] = True
            back = claimed[first]
            aside |= back
            fold[back] = -1
        return aside, fold

    def _fold(self, s: dict, rows: np.ndarray, port: np.ndarray, runs: np.ndarray) -> np.ndarray:
        """For rows `rows` of the block's columns `s` sharing their port (`port`, one per row)
        with each other only: the row of the first flow (in frame order) of their port, for the
        others of a port (the first itself gets -1, as does every flow of another port) where
        every flow of the port heard nothing back and has the same probe kind, options and
        run (one exchange of the engine's: exchanges.ReplayEngine.exchanges' grouping), else -1."""
        out = np.full(len(rows), -1, np.int64)
        if not len(rows):
            return out
        ids, nu = dense_ids([port])
        same, nsame = dense_ids([port, s["kind"][rows], s["opt"][rows], runs[rows]])
        heard = np.bincount(ids, weights=s["n2"][rows], minlength=nu) > 0
        one = (np.bincount(ids, minlength=nu) == np.bincount(same, minlength=nsame)[same][first_index(ids, nu)]) & \
            ~heard
        frame = self.t.probe["frame"].a[s["fid"][rows]]
        order = np.lexsort((frame, ids))
        head = np.empty(nu, np.int64)
        head[ids[order[::-1]]] = rows[order[::-1]]  # each port's first flow in frame order (written last)
        ok = one[ids] & (head[ids] != rows)
        out[ok] = head[ids[ok]]
        return out

    def _representatives(self, s: dict) -> np.ndarray:
        """Bulk exchanges shown to the routing policies beside the engine's: per
        (scanner, target), the first exchange of each distinct probe (proto,
        port, method), up to REPS of them. A ping sweep is thus shown whole,
        a port scan by its first few ports. `s`: the block's columns, with each flow's session's "row"
        among the block's sessions."""
        if not len(s["fid"]):
            return np.zeros(0, np.int64)
        # a big session's first REPS distinct probes lie in its first rows (a port scan's
        # first ports all differ): read those first, all of its rows only if they show fewer
        big = np.flatnonzero(np.bincount(s["row"]) > self.REPS_PREFIX)
        parts, rest = [], np.ones(len(s["sp"]), bool)
        for u in big.tolist():
            in_session = s["row"] == u
            rows = np.nonzero(in_session)[0]
            got = self._representatives_of(s, rows[:self.REPS_PREFIX])
            if len(got) >= REPS:
                parts.append(got)
                rest &= ~in_session
        parts.append(self._representatives_of(s, np.nonzero(rest)[0]))
        return np.sort(np.concatenate(parts))

    REPS_PREFIX = 4 * REPS  # rows of a big session read first for its representatives

    def _representatives_of(self, cols: dict, rows: np.ndarray) -> np.ndarray:
        """_representatives among `rows` (ascending rows of the block's columns)."""
        if not len(rows):
            return rows
        s = {k: cols[k][rows] for k in ("sp", "udp", "tport", "kind")}
        method = np.where(s["udp"], 0, np.where((s["kind"] & 0x02) > 0, 1, np.where((s["kind"] & 0x10) > 0, 2, 3)))
        ids, n = dense_ids([s["sp"], s["udp"], s["tport"], method])
        first = np.sort(first_index(ids, n))
        pair = s["sp"][first]
        order = np.argsort(pair, kind="stable")
        ps = pair[order]
        start = np.r_[True, ps[1:] != ps[:-1]]
        gstart = np.maximum.accumulate(np.where(start, np.arange(len(ps)), 0))
        rank = np.empty(len(ps), np.int64)
        rank[order] = np.arange(len(ps)) - gstart
        return rows[first[rank < REPS]]

    # -- build_scans, in bulk -------------------------------------------------------------------

    def build(self, s: dict, py_ex: list) -> list:
        """The scans of one block: its simple flows (columns `s`) and the engine's exchanges
        `py_ex` of the same sessions, as scans.build_scans would make them."""
        t = self.t
        forced = self.forced
        n_s = len(s["fid"])
        n_p = len(py_ex)
        # the exchange table, in exchange order (the simple rows are in it already; the engine's go between)
        py_ofr = np.array([ex.probes[0].frame for ex in py_ex], np.int64)
        py_at = np.searchsorted(s["pframe"], py_ofr, side="right")
        order_py = np.argsort(py_ofr, kind="stable")
        py_ofr, py_at = py_ofr[order_py], py_at[order_py]
        py_ex = [py_ex[i] for i in order_py.tolist()]
        n = n_s + n_p
        py_rows = py_at + np.arange(n_p)  # where the engine's exchanges sit in the table
        is_py = np.zeros(n, bool)
        is_py[py_rows] = True
        s_rows = np.nonzero(~is_py)[0]
        is_s = ~is_py

        def column(simple_col, py_values, dtype):
            return merge_rows(simple_col, np.asarray(py_values, dtype) if n_p else [], py_rows, is_s, dtype)

        ofr = column(s["pframe"], py_ofr, np.int64)
        idx = column(np.arange(n_s), np.arange(n_p), np.intp)  # intp: the index of many gathers
        sp = column(s["sp"], [t.session_of(t.addrs.id_of(ex.scanner), t.addrs.id_of(ex.target)) for ex in py_ex],
                    np.int32)
        udp = column(s["udp"], [ex.proto == "udp" for ex in py_ex], bool)
        port = column(s["tport"], [ex.port for ex in py_ex], np.int32)
        opt = column(s["opt"], [t.options.id_of(ex.probes[0].options) for ex in py_ex], np.int32)
        kind = column(s["kind"], [_kind_code(ex) for ex in py_ex], np.int16)
        run = column(self.run_of[s["fid"]], [ex.run for ex in py_ex], np.int32)
        # technique inference: the engine's exchanges one by one, simple ones by shape
        py_tech, py_beh = np.empty(n_p, np.int8), np.empty(n_p, bool)
        why: dict = {}  # table row -> evidence (a Text), where computed
        for j, ex in enumerate(py_ex):
            tt, w, b = infer_technique(ex)
            py_tech[j], py_beh[j], why[int(py_rows[j])] = _T[tt], b, w
        tab = BlockTable(s, is_py, idx, py_ex, why)
        # a TCP probe the target answered with a SYN/ACK: a shape of its own here, counted by the fingerprint
        s["synack"] = s["ans"] & ~s["udp"] & ((s["rflags"] & 0x12) == 0x12)
        s_tech, s_beh = np.empty(n_s, np.int8), np.empty(n_s, bool)
        if n_s:
            inv, nu = dense_ids([s["kind"], s["opt"], s["synack"]])
            first = first_index(inv, nu)
            reps = self._made(tab, first)
            u_tech = np.empty(nu, np.int8)
            u_beh = np.empty(nu, bool)
            for u, (r, ex) in enumerate(zip(s_rows[first].tolist(), reps)):
                tt, w, b = infer_technique(ex)
                u_tech[u], u_beh[u], why[r] = _T[tt], b, w  # (the evidence of its own row)
            s_tech, s_beh = u_tech[inv], u_beh[inv]
            del inv
        tech, beh = column(s_tech, py_tech, np.int8), column(s_beh, py_beh, bool)
        # smoothing: a SYN decided by its fingerprint follows the session's behaviour
        scx = (tech == _T[Technique.SYN]) | (tech == _T[Technique.CONNECT])
        cand = np.nonzero(scx & beh)[0]
        ncand = np.nonzero(scx & ~beh)[0]
        smooth_from = np.full(len(tech), -1, np.int32)
        if len(cand) and len(ncand):
            ids, nk = dense_ids([sp, opt, run])  # (every row's: no gathers; the same ids for the candidates)
            fi = first_index(ids[cand], nk)  # first behavioural exchange of each key (len(cand): none)
            src_of = fi[ids[ncand]]
            hit = src_of < len(cand)
            src = cand[src_of[hit]]
            smooth_from[ncand[hit]] = src
            tech[ncand[hit]] = tech[src]
        # forced technique
        forced_mask = np.zeros(len(tech), bool)
        # as scans.build_scans: a technique named by the user keeps each session apart (the kind read stays in the key)
        read = [] if forced is None else [tech.copy(), np.where(tech == _T[Technique.UNKNOWN], kind, -1)]
        if forced is not None:
            forced_mask = udp == (REGISTRY[forced].proto == "udp")
            tech[forced_mask] = _T[forced]
        flags_key = np.where(tech == _T[Technique.UNKNOWN], kind, -1).astype(np.int16)
        ginv, ng = dense_ids([sp, run, tech, flags_key, *read])
        del flags_key, read
        gfirst = first_index(ginv, ng)
        scans = []
        members_of = np.argsort(ginv, kind="stable")
        bounds = np.r_[0, np.cumsum(np.bincount(ginv))]
        for g in np.argsort(gfirst, kind="stable").tolist():
            members = members_of[bounds[g]:bounds[g + 1]]  # table rows in exchange order
            first = int(members[0])
            tt = TECHS[int(tech[first])]
            flags = kind_letters(int(kind[first])) if tt is Technique.UNKNOWN else None
            evidence = self._why(tab, first, smooth_from, forced_mask)
            spec = fallback_spec(flags) if tt is Technique.UNKNOWN else REGISTRY[tt]
            scanner, target = t.session_addrs(sp[first:first + 1])
            scan = self._scan(tab, members, tt, flags, evidence, spec, scanner[0], target[0], udp, port)
            tab.made.clear()  # what the next scan needs is its own: kept no longer than this one's
            scan.ports.first_frame = int(ofr[first])
            scans.append((int(ofr[first]), scan))
        scans.sort(key=lambda sc_: sc_[0])
        return [x[1] for x in scans]

    def exchange(self, tab: "BlockTable", row: int) -> Exchange:
        """The Exchange of a row of the block's exchange table."""
        if tab.is_py[row]:
            return tab.py_ex[int(tab.idx[row])]
        return self._made(tab, [int(tab.idx[row])])[0]

    def _made(self, tab: "BlockTable", rows) -> list:
        """exchanges_of the block's columns' `rows`, each made once a block (a small session's
        one exchange serves its technique, its evidence, its verdict and its fingerprint)."""
        rows = np.asarray(rows, np.int64).tolist()
        made = tab.made
        new = [r for r in dict.fromkeys(rows) if r not in made]
        if new:
            made.update(zip(new, self.exchanges_of(tab.cols, new)))
        return [made[r] for r in rows]

    def exchanges_at(self, tab: "BlockTable", rows) -> list:
        """exchange() of each of `rows`, the simple ones made together (a scan run again
        is many small sessions: one row at a time cost 0.1 ms each)."""
        rows = np.asarray(rows, np.int64)
        out = [None] * len(rows)
        simple = np.flatnonzero(~tab.is_py[rows])
        for j, ex in zip(simple.tolist(), self._made(tab, tab.idx[rows[simple]])):
            out[j] = ex
        for j in np.flatnonzero(tab.is_py[rows]).tolist():
            out[j] = tab.py_ex[int(tab.idx[rows[j]])]
        return out

    def _why(self, tab: "BlockTable", row: int, smooth_from, forced_mask) -> Text:
        src = int(smooth_from[row])
        if src >= 0:
            base = Text.of("inferred.smoothed", why=self._raw_why(tab, src))
        else:
            base = self._raw_why(tab, row)
        if forced_mask[row]:
            return Text.of("inferred.forced", technique=self.forced.value, why=base)
        return base

    def _raw_why(self, tab: "BlockTable", row: int) -> Text:
        w = tab.why.get(row)
        if w is None:
            w = tab.why[row] = infer_technique(self.exchange(tab, row))[1]
        return w

    def _scan(self, tab: "BlockTable", members, tech, flags, evidence, spec, scanner, target, udp, port):
        is_py = tab.is_py[members]
        idx = tab.idx[members]
        s = tab.cols
        # ports probed by more than one exchange of the session: merged by the real code
        pk = udp[members].astype(np.int64) << 16 | port[members]  # (proto, port) as one key, UDP above TCP
        multi = _shared([pk]) | is_py
        # bulk exchanges of more than one probe (_others): few, they are made and classified
        # as the engine's are (verify and compare then read them so); many stay columns
        others = self._others(s["fid"][idx[~multi]])
        o_at = others["at"]
        if 0 < len(o_at) <= MORE_OBJECTS_MAX:
            multi[np.flatnonzero(~multi)[o_at[np.r_[True, o_at[1:] != o_at[:-1]]]]] = True
            others = _no_others()
        obj_rows = members[multi]
        objs = self.exchanges_at(tab, obj_rows)
        merged = merge_same_port(objs) if objs else []
        results = [PortResult(proto=ex.proto, port=ex.port, verdict=spec.classify(ex), exchange=ex) for ex in merged]
        simple = idx[~multi]  # rows of the block's columns, in exchange order
        # bulk classification, one real classification per shape
        m = len(simple)
        st = np.empty(m, np.int64)
        rs = np.empty(m, np.int64)
        ttl = np.zeros(m, np.int64)
        if m:
            inv, nu = shapes.shape_ids(spec, s, simple)
            first = first_index(inv, nu)
            reps = self._made(tab, simple[first])
            u_st = np.empty(nu, np.int64)
            u_rs = np.empty(nu, np.int64)
            u_keep = np.zeros(nu, bool)
            for u, ex in enumerate(reps):
                v = spec.classify(ex)
                keeps = False
                if ex.responses and shapes.keeps_ttl(spec):  # did the answer decide (and so give its TTL)?
                    r = ex.responses[0]
                    v2 = spec.classify(replace(ex, responses=(replace(r, ttl=(r.ttl + 1) % 256),)))
                    keeps = v2.reason_ttl != v.reason_ttl
                u_st[u], u_rs[u], u_keep[u] = STATES.index(v.state), REASONS.index(v.reason), keeps
            st, rs = u_st[inv], u_rs[inv]
            ttl = np.where(u_keep[inv], s["rttl"][simple], 0)
        # one table, sorted by (proto, port)
        t_key = np.r_[pk[~multi], np.array([(r.proto == "udp") << 16 | r.port for r in results], np.int64)]
        o = _key_order(t_key)
        t_key = t_key[o]
        t_udp, t_port = (t_key >> 16).astype(bool), (t_key & 0xFFFF).astype(np.int32)
        back = np.empty(len(o), np.int64)
        back[o] = np.arange(len(o))
        at = back[:m]  # where each bulk row goes; the engine's rows keep zeros (their PortResult tells)

        def placed(values, dtype):
            col = np.zeros(len(o), dtype)
            col[at] = values
            return col

        st, rs, ttl = placed(st, np.uint8), placed(rs, np.uint8), placed(ttl, np.uint8)
        pframe = placed(s["pframe"][simple], np.uint32)  # frames < 2**32 (flows.py)
        rframe = s["rframe"][simple]
        # 4 bytes a port, -1 where unanswered
        rframe = placed(rframe, np.int32 if not m or int(rframe.max()) < 1 << 31 else np.int64)
        objects = {int(back[m + j]): r for j, r in enumerate(results)}
        # bulk exchanges of more than one probe (_others): every probe's frame
        more = {}
        o_at = others["at"]
        if len(o_at):
            cut = np.flatnonzero(np.r_[True, o_at[1:] != o_at[:-1]])
            first_frames = s["pframe"][simple]
            for j, a, b in zip(o_at[cut].tolist(), cut.tolist(), np.r_[cut[1:], len(o_at)].tolist()):
                more[int(at[j])] = np.r_[first_frames[j], others["frame"][a:b]].astype(np.int64)
        ports = PortTable(t_udp, t_port, st, rs, ttl, pframe, rframe, objects, more)
        # time span: every probe of every exchange
        pts = s["pts"][simple]
        ts = [float(pts.min()), float(pts.max())] if m else []
        if len(o_at):
            ts += [float(others["ts"].min()), float(others["ts"].max())]
        for ex in objs:
            ts += [p.ts for p in ex.probes]
        tool = self._tool(tab, members, objs, simple, others)
        return Scan(capture=self.capture, scanner=self.text(scanner), target=self.text(target), technique=tech,
                    ports=ports, probe_flags=flags, technique_evidence=evidence, first_ts=min(ts), last_ts=max(ts),
                    tool=tool)

    def _tool(self, tab: "BlockTable", members, objs, simple, others: dict):
        """The session's ToolGuess: on Exchange objects where it has few bulk probes, else on
        columns (`others`: _others of the bulk rows `simple`)."""
        if len(simple) + len(others["at"]) <= self.fp_objects_max:
            rows = members  # in exchange order, as build_scans passes them
            exs = self.exchanges_at(tab, rows)
            return identify(exs)
        from .fprint import identify_columns

        return identify_columns(self.t, tab.cols, objs, simple, others)


@dataclass
class BlockTable:
    """The exchange table of one block while its scans are built (Assembler.build):
    every exchange of the block in exchange order, a simple flow (a row of the block's
    columns `cols`) or one of the engine's (`py_ex`); `is_py` tells which, `idx` is
    the row in `cols` or the index in `py_ex`; `why` the evidence (a Text) per table
    row, computed as it is first asked for; `made` the Exchange of a row of `cols`,
    made as it is first asked for while one scan is built (Assembler._made)."""

    cols: dict
    is_py: np.ndarray
    idx: np.ndarray
    py_ex: list
    why: dict
    made: dict = field(default_factory=dict)


def _blocks(counts: np.ndarray, size: int) -> tuple:
    """Rows grouped by session (`counts[s]` rows of session s, sessions ascending) cut into
    runs of whole sessions of about `size` rows: ([(lo, hi)], [each run's sessions, ascending])."""
    present = np.flatnonzero(counts).astype(np.int32)
    ends = np.cumsum(counts[present]).tolist()
    out, sessions, lo, first = [], [], 0, 0
    for j, end in enumerate(ends):
        if end - lo >= size or j == len(ends) - 1:
            out.append((lo, end))
            sessions.append(present[first:j + 1])
            lo, first = end, j + 1
    return out, sessions


def _no_others() -> dict:
    """Assembler._others of flows without any other probe: its columns, empty."""
    return {**{k: np.zeros(0, np.int64) for k in ROW_FIELDS}, "at": np.zeros(0, np.int64)}


def _rows_in(values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The rows of `values` whose value is one of `wanted` (ascending), in row order."""
    if not len(values) or not len(wanted):
        return np.zeros(0, np.int64)
    if 16 * len(wanted) <= len(values) and (values[1:] >= values[:-1]).all():
        # ascending values (a block's flow ids), a few wanted (the flows folded into others): each
        # wanted value's rows found in them, not each value among the wanted (64k searches)
        wanted = wanted[np.r_[True, wanted[1:] != wanted[:-1]]]
        lo = np.searchsorted(values, wanted, "left")
        return range_rows(lo, np.searchsorted(values, wanted, "right") - lo)
    at = np.searchsorted(wanted, values)
    return np.nonzero(wanted[np.minimum(at, len(wanted) - 1)] == values)[0]


def _isin(values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """np.isin(values, wanted) for ascending `wanted`, found by binary search: np.isin sorts both
    with np.unique, whose check for masked arrays imports numpy.ma (10 ms) into each process."""
    out = np.zeros(len(values), bool)
    out[_rows_in(values, wanted)] = True
    return out


def _first_frame(scan) -> int:
    ports = scan.ports
    if isinstance(ports, PortTable):
        return ports.first_frame
    return min(p.exchange.probes[0].frame for p in ports)


def _letters_code(letters: str) -> int:
    code = 0
    for bit, letter in ((0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, "A"), (0x20, "U")):
        if letter in letters:
            code |= bit
    return code


def _kind_code(ex: Exchange) -> int:
    k = probe_class(ex.probes[0])
    if k is None:
        return -2
    return UDP_KIND if k == "udp" else _letters_code(k)


def _key_order(keys: np.ndarray) -> np.ndarray:
    """np.argsort(keys, kind="stable") of a scan's (proto, port) keys (udp << 16 | port:
    TCP ports, then UDP ports, ascending). The keys are distinct (a port probed by several
    exchanges is merged into one row), so each key's row is placed by counting, in O(n)
    instead of a comparison sort; should keys repeat, the stable sort itself."""
    n = len(keys)
    if n >= 4096:
        slot = np.full(1 << 17, -1, np.intp)
        slot[keys] = np.arange(n)
        order = slot[slot >= 0]
        if len(order) == n:
            return order
    return np.argsort(keys, kind="stable")


def _one_key_apart(port: np.ndarray, keys: np.ndarray, runs: np.ndarray) -> np.ndarray:
    """Which of some flows (their (session, proto, port) `port`, flow keys `keys`, `runs`) share
    their port with flows of their own key only (a key the scanner reopened), none in its run."""
    ids, _n = dense_ids([port])
    ids_k, _n = dense_ids([keys])
    return (np.bincount(ids)[ids] == np.bincount(ids_k)[ids_k]) & ~_shared([keys, runs])


def _shared(cols) -> np.ndarray:
    """Rows whose values (one per column) another row has too."""
    m = len(cols[0])
    if not m:
        return np.zeros(0, bool)
    packed, span = pack_columns(cols)
    if packed is not None and span <= max(16 * m, 1 << 20):  # a block's (session, proto, port) keys: counted
        return np.bincount(packed, minlength=span)[packed] > 1
    # too many keys to count (a block of many sessions): a row alone with its value of the
    # last column (its port) shares nothing; the others are keyed apart
    last, last_span = pack_columns(cols[-1:])
    if last_span <= max(16 * m, 1 << 20):
        maybe = np.flatnonzero(np.bincount(last, minlength=last_span)[last] > 1)
        if len(maybe) < m:
            out = np.zeros(m, bool)
            if len(maybe):
                out[maybe] = _shared([c[maybe] for c in cols])
            return out
    ids, n = dense_ids(cols)
    if not len(ids):
        return np.zeros(0, bool)
    return np.bincount(ids, minlength=n)[ids] > 1
