"""Analyze and grade on a Dask cluster (`--dask ADDRESS|local`), with the
same results as one process (docs/distributed.md).

Nothing here runs, and Dask is not imported, unless `--dask` is given.

Work is split two ways:

* Files are independent: one task per capture, which runs the very
  single-process analysis (analysis.analyze_capture_full, or the fast path
  under fast="auto"); results come back in input order, and a capture that
  cannot be read is reported as analysis.analyze reports it.
* With --dask-split, a single huge capture (SPLIT_MIN_BYTES or more,
  uncompressed, undamaged) is split into chunks on record boundaries, found by one cheap sequential
  pass over the record headers (pcapng: block boundaries, each chunk carrying
  the interface table in force where it starts). Every chunk knows its first
  frame number, so frames stay global. A chunk task decodes its records into
  compact tuples and deals them out by a flow-independent key, the unordered
  pair of the two IP addresses (an ICMP error: the pair of the packet it
  quotes; neighbour discovery: asker and asked-for address), so that every
  flow, its retries, duplicates and ICMP errors land in one partition. A
  partition task replays its packets in frame order through the engines of
  one process (exchanges.ReplayEngine, pairing.QueryEngine): all their state
  is per flow or per address pair. The client merges the exchanges in the
  order one engine would have produced them (by first probe frame) and
  finishes with analysis.capture_result, the code of single-process mode.

  The one state of the engine that is not per flow is the size and time
  window of its duplicate memory. It cannot matter while timestamps never go
  backwards and fewer than exchanges.RECENT_MAX packets fall within one
  duplicate window; chunk tasks check both, and a capture that breaks either
  is replayed as one partition (still read in parallel), as the fast path
  falls back to the ordinary reader for the same reasons.

gzip cannot be split (a deflate stream has no entry points): a compressed
capture is read as one task, however big.
"""
from __future__ import annotations

import copyreg
import functools
import heapq
import itertools
import operator
import os
import pickle
import sys
import zlib
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, fields

from .capture.containers import (
    FILE_BUFFER,
    MAX_RECORD_LEN,
    PCAP_INCL_AT,
    Capture,
    ReadStats,
    decoded_packets,
    ReadStop,
    open_capture,
)
from .capture.decode import LINKTYPE_NAMES
from .errors import InputError, PcapscanError, UsageError
from .gcpause import no_cyclic_gc
from .exchanges import OtherTraffic, ICMP_ERROR_TYPES, RECENT_MAX, DUPLICATE_WINDOW
from .model import AnalysisResult, Exchange, Packet, Quoted

SPLIT_MIN_BYTES = 64 << 20  # with --dask-split, captures this big or bigger are split into chunks
CHUNK_BYTES = 32 << 20  # bytes of records per chunk
CONNECT_TIMEOUT = "10s"  # to reach a scheduler
RETRIES = 2  # a task that raised is run again this many times (a lost worker's tasks are rerun anyway)
_SCAN_BLOCK = 8 << 20  # the header pass reads this much at a time
_WINDOW = DUPLICATE_WINDOW * 1.01  # a margin over the engine's own comparison of float timestamps


class ClusterError(PcapscanError):
    """The cluster could not be reached, or lost a task more often than it may."""


# -- pickling: Packets and Exchanges travel as their field values ---------------------------
# (a frozen slots dataclass pickles through __getstate__/__setstate__, several
# times slower; this registration holds only in processes that import this module)

_PACKET_FIELDS = tuple(f.name for f in fields(Packet))
_packet_values = operator.attrgetter(*_PACKET_FIELDS)
_exchange_values = operator.attrgetter(*(f.name for f in fields(Exchange)))
_quoted_values = operator.attrgetter(*(f.name for f in fields(Quoted)))
_QUOTED_AT = _PACKET_FIELDS.index("quoted")

copyreg.pickle(Packet, lambda p: (Packet, _packet_values(p)))
copyreg.pickle(Exchange, lambda e: (Exchange, _exchange_values(e)))
copyreg.pickle(Quoted, lambda q: (Quoted, _quoted_values(q)))


# -- the cluster -------------------------------------------------------------------------------


def _import_dask():
    try:
        import distributed  # noqa: F401
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--dask needs Dask: pip install 'pcapscan[dask]'") from None
    return Client, LocalCluster


@contextmanager
def connect(address: str, *, n_workers: int | None = None, log: Callable[[str], None] | None = None):
    """A dask.distributed Client: to the scheduler at `address`
    (tcp://host:8786), or, for "local", to a LocalCluster of one worker
    process per core of this machine, closed on leaving."""
    Client, LocalCluster = _import_dask()
    say = log or (lambda msg: None)
    cluster = None
    try:
        if address == "local":
            if n_workers is None:
                try:
                    n_workers = len(os.sched_getaffinity(0))
                except (AttributeError, OSError):
                    n_workers = os.cpu_count() or 1
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True)
            client = Client(cluster)
        else:
            client = Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        workers = len(client.scheduler_info().get("workers", {}))
        say(f"dask: {workers} worker{'s' if workers != 1 else ''} at {client.scheduler.address}; "
            f"dashboard: {dashboard_link(client)}")
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def dashboard_link(client) -> str:
    try:
        import bokeh  # noqa: F401  (the dashboard is served only with bokeh installed)
    except ImportError:
        return "none (pip install bokeh)"
    try:
        return client.dashboard_link
    except Exception:  # noqa: BLE001 - no dashboard service on this scheduler
        return "none"


def workers_of(client) -> int:
    return max(1, len(client.scheduler_info().get("workers", {})))


class Progress:
    """Tasks done of tasks submitted, one line on stderr, on a terminal only."""

    def __init__(self, enabled: bool | None = None, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total = self.done = 0

    def add(self, n: int = 1) -> None:
        self.total += n
        self._draw()

    def step(self, n: int = 1) -> None:
        self.done += n
        self._draw()

    def _draw(self) -> None:
        if not self.enabled or not self.total:
            return
        width = 30
        filled = width * self.done // self.total
        self.stream.write(f"\rdask [{'#' * filled}{' ' * (width - filled)}] {self.done}/{self.total} tasks")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.total:
            self.stream.write("\n")
            self.stream.flush()


def _check(future):
    """A finished future's value; a task the cluster lost too often, or that
    failed beyond its retries, is a ClusterError."""
    try:
        return future.result()
    except PcapscanError:
        raise
    except Exception as exc:
        raise ClusterError(f"dask: task {future.key} failed: {type(exc).__name__}: {exc}") from exc


def run_in_order(client, fn, items, progress: Progress | None = None) -> list:
    """[fn(item) for item in items] on the cluster, in input order."""
    from dask.distributed import as_completed

    futures = client.map(fn, list(items), retries=RETRIES, pure=False)
    if progress is not None:
        progress.add(len(futures))
    for fut in as_completed(futures):
        if progress is not None:
            progress.step()
    return [_check(f) for f in futures]


# -- analyze -----------------------------------------------------------------------------------


def analyze(client, path_or_paths, technique=None, *, fast=False, chunk_records: int | None = None,
            chunk_bytes: int = CHUNK_BYTES, split_min_bytes: int = -1,
            partitions: int | None = None, progress: Progress | None = None,
            log: Callable[[str], None] | None = None) -> AnalysisResult:
    """analysis.analyze on a Dask cluster (`client`): the same AnalysisResult.

    `chunk_records` forces every capture that can be split into chunks of so
    many records (tests); otherwise, when there are fewer captures than
    workers, captures of `split_min_bytes` or more are split into chunks of
    about `chunk_bytes` (negative, the default: never, since one worker's
    fast path beat a split on every capture measured, docs/distributed.md;
    `--dask-split` passes SPLIT_MIN_BYTES). `partitions`:
    how many ways the packets of a split capture are dealt out (default:
    twice the workers)."""
    from .analysis import forced_technique, gather

    forced = forced_technique(technique)
    single = isinstance(path_or_paths, (str, os.PathLike))
    paths = [path_or_paths] if single else list(path_or_paths)
    parts = partitions or 2 * workers_of(client)

    def outcome(i):
        out = outcomes[i]
        if out[0] == "error":
            raise out[1]
        return out[1:4]  # (summary, scans, more)

    # No collection walks the results while they are built and gathered (gcpause.py); nothing
    # is frozen for good: the caller's process keeps collecting as it did (the CLI freezes at exit).
    with no_cyclic_gc():
        outcomes = _run_captures(client, paths, forced, fast, chunk_records, chunk_bytes, split_min_bytes, parts,
                                 progress, log)
        return gather(paths, single, outcome, forced)


def _run_captures(client, paths, forced, fast, chunk_records, chunk_bytes, split_min_bytes, parts, progress, log):
    """Per capture, in input order: ("done", summary, scans, more) or ("error", InputError)."""
    from dask.distributed import as_completed

    say = log or (lambda msg: None)
    outcomes: list = [None] * len(paths)
    splits: dict = {}  # capture index -> _Split
    tags: dict = {}  # future key -> (kind, capture index, number)
    pending = as_completed()

    def submit(kind, i, k, fn, *args):
        fut = client.submit(fn, *args, retries=RETRIES, pure=False)
        tags[fut.key] = (kind, i, k)
        pending.add(fut)
        if progress is not None:
            progress.add()
        return fut

    # Enough captures to keep every worker busy: one task each (the fast path
    # of one process beats a split, whose end runs on the client). Fewer: split the big ones.
    if chunk_records is None and len(paths) >= workers_of(client):
        split_min_bytes = -1
    for i, path in enumerate(paths):
        submit("capture", i, 0, read_capture, os.fspath(path), forced, fast, chunk_records, chunk_bytes,
               split_min_bytes, parts)
    for fut in pending:
        if progress is not None:
            progress.step()
        kind, i, k = tags.pop(fut.key)
        if kind == "capture":
            out = _check(fut)
            if out[0] == "split":
                plan = out[1]
                say(f"dask: {plan.path}: split into {len(plan.chunks)} chunks, replayed in {parts} partitions")
                sp = splits[i] = _Split(plan, parts)
                for j, chunk in enumerate(plan.chunks):
                    cf = client.submit(extract_chunk, plan.path, plan.header, chunk, parts, retries=RETRIES,
                                       pure=False)
                    sp.chunks.append(cf)
                    submit("meta", i, j, operator.getitem, cf, 0)
            else:
                if out[0] == "done" and out[4]:
                    say(out[4])
                outcomes[i] = out[:4] if out[0] == "done" else out
        elif kind == "meta":
            sp = splits[i]
            sp.metas[k] = _check(fut)
            if len(sp.metas) == len(sp.chunks):
                error = next((m["error"] for _j, m in sorted(sp.metas.items()) if m["error"] is not None), None)
                if error is not None:
                    outcomes[i] = ("error", error)
                    del splits[i]
                    continue
                together = not _flows_apart(sp.metas)
                groups = [list(range(parts))] if together else [[p] for p in range(parts)]
                for g, members in enumerate(groups):
                    pieces = [client.submit(operator.getitem, cf, 1 + p, pure=False)
                              for cf in sp.chunks for p in members]
                    sp.parts.append(submit("part", i, g, replay_partition, pieces, len(members) > 1))
        elif kind == "part":
            sp = splits[i]
            sp.results[k] = pickle.loads(_check(fut))  # fetched now, while the workers replay the other partitions
            sp.parts[k] = None  # and let go of on the worker
            if len(sp.results) == len(sp.parts):
                sp.chunks = []
                outcomes[i] = _finish(sp, forced, [sp.results.pop(g) for g in range(len(sp.parts))])
                del splits[i]
    if progress is not None:
        progress.close()
    return outcomes


class _Split:
    def __init__(self, plan, parts: int):
        self.plan = plan
        self.chunks: list = []  # futures of extract_chunk
        self.metas: dict = {}  # chunk number -> meta
        self.parts: list = []  # futures of replay_partition
        self.results: dict = {}  # partition group -> its result


def _flows_apart(metas: dict) -> bool:
    """May the packets replay partition by partition? Only when the engine's
    duplicate memory cannot see the difference: timestamps never go backwards,
    and no duplicate window holds RECENT_MAX packets (a bound over chunks)."""
    chunks = [metas[j] for j in sorted(metas) if metas[j]["fed"]]
    for a, b in itertools.pairwise(chunks):
        if b["first_ts"] < a["last_ts"]:
            return False
    for j, m in enumerate(chunks):
        if not m["monotonic"]:
            return False
        bound = m["max_window"]
        for later in chunks[j + 1:]:
            if later["first_ts"] - m["last_ts"] > _WINDOW:
                break
            bound += later["head"]  # a window from this chunk reaches no further into a later one
            if bound >= RECENT_MAX:
                return False
        if bound >= RECENT_MAX:
            return False
    return True


def _finish(sp: _Split, forced, results: list):
    from .analysis import capture_result

    plan = sp.plan
    stats = ReadStats(plan.path)
    for j in sorted(sp.metas):
        m = sp.metas[j]
        stats.packets += m["packets"]
        stats.skipped += m["skipped"]
        stats.non_ip += m["non_ip"]
        stats.link_types |= m["link_types"]
        stats.warnings.extend(m["warnings"])
    first = lambda e: e.probes[0].frame
    exchanges = sorted(itertools.chain.from_iterable(r[0] for r in results), key=first)
    ordinary = sorted(itertools.chain.from_iterable(r[1] for r in results), key=first)
    queries = sorted(itertools.chain.from_iterable(r[2] for r in results), key=first)
    duplicates = sum(r[3] for r in results)
    other = functools.reduce(lambda a, r: a.merge(r[4]), results, OtherTraffic())
    del results
    summary, scans, more = capture_result(plan.path, forced, stats, duplicates, exchanges, queries, ordinary, other)
    return ("done", summary, scans, more)


# -- the tasks (they run on the workers) ---------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """What a chunk needs of the capture's opening: its container and pcap fields."""

    kind: str
    size: int
    mtime_ns: int
    byteorder: str
    divisor: int = 1_000_000
    modified: bool = False  # Kuznetsov's pcap record layout
    linktype: int = 0


@dataclass(frozen=True)
class Chunk:
    offset: int  # of its first record (pcapng: of the block after the previous chunk's last packet)
    records: int
    first_frame: int
    byteorder: str = "<"  # pcapng: the section's byte order here
    interfaces: tuple = ()  # pcapng: the interface table in force here


@dataclass(frozen=True)
class Plan:
    path: str
    header: Header
    chunks: tuple


def read_capture(path: str, forced, fast, chunk_records, chunk_bytes, split_min_bytes, parts):
    """The task of one capture: ("split", Plan) for a capture to split, else
    the single-process result ("done", summary, scans, more, note) or
    ("error", InputError) as analysis.analyze would report it."""
    try:
        note = ""
        if chunk_records or 0 <= split_min_bytes <= _size(path):
            plan, why = plan_chunks(path, chunk_records, chunk_bytes)
            if plan is not None and len(plan.chunks) > 1:
                return ("split", plan)
            if why and not chunk_records:
                note = f"{path}: read as one task ({why})"
        if fast:
            from .fastpath import analyze_capture_auto

            summary, scans, more = analyze_capture_auto(path, forced, fast)
        else:
            from .analysis import analyze_capture_full

            summary, scans, more = analyze_capture_full(path, forced)
        return ("done", summary, scans, more, note)
    except InputError as exc:
        return ("error", exc)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0  # the analysis says what is wrong with it


def plan_chunks(path: str, chunk_records: int | None = None, chunk_bytes: int = CHUNK_BYTES):
    """(Plan, "") for a capture that can be split, else (None, why not).

    Opening errors raise as in single-process mode. Anything the single
    reader would warn about (damage, an undeclared pcapng interface, an
    unsupported link type) leaves the capture whole: one reader then says it."""
    cap = open_capture(path)
    try:
        if cap.compressed:
            return None, "gzip-compressed: a gzip stream cannot be split"
        if cap.size is None:
            return None, "not a regular file"
        st = os.fstat(cap.file.fileno())
        header = Header(kind=cap.kind, size=st.st_size, mtime_ns=st.st_mtime_ns, byteorder=cap.byteorder,
                        divisor=cap.divisor, modified=cap.record_layout.size != 16, linktype=cap.linktype)
        walk = _plan_pcap if cap.kind == "pcap" else _plan_pcapng
        chunks = walk(cap, chunk_records, chunk_bytes)
        if chunks is None:
            return None, "damaged, or a link type or interface the reader warns about"
        return Plan(path=path, header=header, chunks=tuple(chunks)), ""
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    finally:
        cap.close()


def _plan_pcap(cap: Capture, chunk_records, chunk_bytes):
    """Record boundaries of a pcap, read off the record headers alone."""
    if cap.linktype not in LINKTYPE_NAMES:
        return None
    import struct

    hlen = cap.record_layout.size
    incl_of = struct.Struct(cap.byteorder + "I").unpack_from
    read = cap.file.read
    chunks = []
    base = cap.pos  # file offset of buf[0]
    buf = b""
    i = 0
    n = 0  # records so far
    start, start_n = base, 0  # the open chunk
    per = chunk_records or 0
    while True:
        more = read(_SCAN_BLOCK)
        if more:
            buf = buf[i:] + more
            base += i
            i = 0
        limit = len(buf) - hlen
        while i <= limit:
            incl = incl_of(buf, i + PCAP_INCL_AT)[0]
            if incl > MAX_RECORD_LEN:
                return None
            nxt = i + hlen + incl
            if nxt > len(buf):
                break
            n += 1
            i = nxt
            if (n - start_n == per) if per else (base + i - start >= chunk_bytes):
                chunks.append(Chunk(offset=start, records=n - start_n, first_frame=start_n + 1))
                start, start_n = base + i, n
        if not more:
            break
    if i != len(buf):
        return None  # a record cut short: the single reader warns about it
    if n > start_n:
        chunks.append(Chunk(offset=start, records=n - start_n, first_frame=start_n + 1))
    return chunks


def _plan_pcapng(cap: Capture, chunk_records, chunk_bytes):
    """Packet-block boundaries of a pcapng, by the reader's own block walk
    (which also says whether it would warn), with the section's byte order
    and interface table where each chunk starts."""
    stats = ReadStats(cap.path)
    chunks = []
    per = chunk_records or 0
    start, start_n = cap.pos, 0
    state = (cap.byteorder, tuple(cap.interfaces))
    n = 0
    try:
        for linktype, _ts, _data in cap.pcapng_records(stats):
            if linktype not in LINKTYPE_NAMES:
                return None
            n += 1
            if (n - start_n == per) if per else (cap.pos - start >= chunk_bytes):
                chunks.append(Chunk(offset=start, records=n - start_n, first_frame=start_n + 1,
                                    byteorder=state[0], interfaces=state[1]))
                start, start_n = cap.pos, n
                state = (cap.byteorder, tuple(cap.interfaces))
    except ReadStop:
        return None
    if stats.warnings:
        return None
    if n > start_n:
        chunks.append(Chunk(offset=start, records=n - start_n, first_frame=start_n + 1,
                            byteorder=state[0], interfaces=state[1]))
    return chunks


class _ChunkCapture(Capture):
    """A Capture that starts at a chunk's first record and stops after its last."""

    limit = 0

    def records(self, stats):
        gen = super().records(stats)
        try:
            yield from itertools.islice(gen, self.limit)
        finally:
            gen.close()


def _open_chunk(path: str, header: Header, chunk: Chunk) -> Capture:
    from .capture.containers import PCAP_MODIFIED_RECORD, PCAP_RECORD

    raw = open(path, "rb", buffering=FILE_BUFFER)
    try:
        st = os.fstat(raw.fileno())
        if st.st_size != header.size or st.st_mtime_ns != header.mtime_ns:
            raise InputError(f"cannot read {path}: it changed while it was being read")
        raw.seek(chunk.offset)
    except BaseException:
        raw.close()
        raise
    cap = _ChunkCapture(path, raw, header.size, False)
    cap.limit = chunk.records
    cap.kind = header.kind
    cap.pos = chunk.offset
    if header.kind == "pcap":
        cap.byteorder = header.byteorder
        cap.divisor = header.divisor
        cap.record_layout = PCAP_MODIFIED_RECORD if header.modified else PCAP_RECORD
        cap.linktype = header.linktype
    else:
        cap.byteorder = chunk.byteorder
        cap.interfaces = list(chunk.interfaces)
    return cap


def partition_pair(pkt: Packet) -> tuple:
    """The two addresses whose packets must replay together: a flow's, for an
    ICMP error the quoted packet's, for neighbour discovery the asker's and
    the address asked about (as pairing.QueryEngine pairs them)."""
    proto = pkt.proto
    if proto == "icmp" or proto == "icmp6":
        q = pkt.quoted
        if q is not None and pkt.icmp_type in ICMP_ERROR_TYPES[proto]:
            return q.src, q.dst
        if proto == "icmp6" and q is None and pkt.nd_target is not None and pkt.icmp_type in (135, 136):
            return (pkt.src if pkt.icmp_type == 135 else pkt.dst), pkt.nd_target
    return pkt.src, pkt.dst


def extract_chunk(path: str, header: Header, chunk: Chunk, parts: int) -> list:
    """A chunk's packets as compact tuples (Packet's field values, frames
    global), dealt out into `parts` lists by partition_pair, each list
    pickled to bytes; [meta, bytes 0, bytes 1, ...]. meta: the chunk's read
    counters, and what _flows_apart needs of its timestamps.

    Bytes, not lists: a worker's memory manager measures bytes exactly and
    moves them for free, where it would overestimate millions of small tuples
    many times over and spill them to disk."""
    with no_cyclic_gc():
        meta, *pieces = _extract_chunk(path, header, chunk, parts)
        return [meta, *(pickle.dumps(piece, protocol=pickle.HIGHEST_PROTOCOL) for piece in pieces)]


def _extract_chunk(path: str, header: Header, chunk: Chunk, parts: int) -> list:
    pieces = [[] for _ in range(parts)]
    meta = {"error": None, "packets": 0, "skipped": 0, "non_ip": 0, "link_types": set(), "warnings": [],
            "fed": 0, "first_ts": 0.0, "last_ts": 0.0, "monotonic": True, "max_window": 0, "head": 0}
    try:
        cap = _open_chunk(path, header, chunk)
    except InputError as exc:
        meta["error"] = exc
        return [meta, *pieces]
    stats = ReadStats(path)
    shift = chunk.first_frame - 1
    where: dict = {}  # address pair -> partition
    same: dict = {}  # one object per equal address string / option tuple: pickled once
    values = _packet_values
    q_at = _QUOTED_AT
    ts_list = []
    try:
        for pkt in decoded_packets(cap, stats, arp=True):
            a, b = partition_pair(pkt)
            key = (a, b) if a <= b else (b, a)
            p = where.get(key)
            if p is None:
                p = where[key] = zlib.crc32(f"{key[0]} {key[1]}".encode()) % parts
            v = values(pkt)
            q = v[q_at]
            row = (v[0] + shift, v[1], same.setdefault(v[2], v[2]), same.setdefault(v[3], v[3])) + v[4:]
            if q is not None:
                row = row[:q_at] + (_quoted_values(q),) + row[q_at + 1:]
            pieces[p].append(row)
            ts_list.append(v[1])
    except InputError as exc:
        meta["error"] = exc
        return [meta, *pieces]
    if stats.packets != chunk.records:
        meta["error"] = InputError(f"cannot read {path}: it changed while it was being read")
    meta.update(packets=stats.packets, skipped=stats.skipped, non_ip=stats.non_ip, link_types=set(stats.link_types),
                warnings=list(stats.warnings))
    if ts_list:
        meta.update(fed=len(ts_list), first_ts=ts_list[0], last_ts=ts_list[-1])
        monotonic = all(x <= y for x, y in itertools.pairwise(ts_list))
        meta["monotonic"] = monotonic
        if monotonic:
            widest, lo = 0, 0
            for hi, t in enumerate(ts_list):
                while t - ts_list[lo] > _WINDOW:
                    lo += 1
                widest = max(widest, hi - lo + 1)
            first = ts_list[0]
            meta["max_window"] = widest
            meta["head"] = next((i for i, t in enumerate(ts_list) if t - first > _WINDOW), len(ts_list))
    return [meta, *pieces]


def _rows_to_packets(rows):
    q_at = _QUOTED_AT
    for row in rows:
        q = row[q_at]
        if q is not None:
            row = row[:q_at] + (Quoted(*q),) + row[q_at + 1:]
        yield Packet(*row)


def replay_partition(pieces: list, interleaved: bool):
    """Replay one partition's packets in frame order, as one process would:
    (exchanges, ordinary exchanges, query exchanges, duplicates), pickled.
    `interleaved`: the pieces of one chunk come from several partitions and
    are merged by frame (the fallback of a single partition)."""
    from .exchanges import ReplayEngine
    from .pairing import QueryEngine

    engine = ReplayEngine()
    queries = QueryEngine(engine)
    with no_cyclic_gc():
        if interleaved:
            rows = heapq.merge(*(pickle.loads(piece) for piece in pieces), key=operator.itemgetter(0))
        else:
            rows = (row for piece in pieces for row in pickle.loads(piece))
        for pkt in _rows_to_packets(rows):
            queries.feed(pkt)
            engine.feed(pkt)
        del pieces, rows
        found = (engine.exchanges(), engine.ordinary_exchanges(), queries.exchanges(), engine.stats.duplicates,
                 engine.other_traffic())
        return pickle.dumps(found, protocol=pickle.HIGHEST_PROTOCOL)
