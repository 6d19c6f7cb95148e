"""Scan sessions: one tool's run against one target (mechanism).

A capture often holds several scans of one target: the student's scapy
scan, then nmap's scan of the same ports, as the lab asks; or one tool run
twice, minutes apart. Each must be its own session, with its own tool,
technique and port verdicts: a port's verdict uses only its session's
probes and answers.

The split works on connection attempts (one row per first probe of a
connection) and is written once, on columns, for both paths: the ordinary
engine (exchanges.py) hands it its connections, the fast path
(fastpath/scans.py) its flow columns plus the engine's connections.

Within one scanner -> target pair and one probe kind (TCP flags, or UDP):

1. A probe's *signature* is what a tool keeps fixed for a whole run:
   `SIGNATURE_FIELDS`, the TCP window, the TCP options layout and the TTL
   band (the initial TTL it was sent with, or nmap's random 37-59 range as
   one band). scapy's defaults (window 8192, no options, TTL 64), nmap's raw
   probes (window 1024, MSS, TTL 37-59) and an OS's connect() (its own
   window and options, TTL 64) all differ.
2. Probes of one signature form one run until a silence longer than
   `RUN_GAP` seconds: the same tool started again. A scan paced slower than
   that (nmap -T0: five minutes between probes) is still one run: a probe
   to another port after a silence at most `PACE_FACTOR` times one beside
   it keeps the scan's rhythm.
3. ... or until a probe goes back to ports that already answered it in
   this run: two probes in a row, each to a port an earlier attempt of the
   run heard back from (a TCP or UDP packet from the port, written before
   the new probe; an ICMP error is no final word: connect() tries again
   after one), the second to another port than the first. No scanner probes
   again what answered (nmap retries only silent ports); the same scan run
   again does. One port alone (nmap's discovery SYN to 443 before the scan
   probes 443; hping3 probing one port at a steady rate) starts nothing.
4. Runs of different signatures whose time spans overlap are one run: a
   tool that varies a field per probe (older nmap versions pick one of four
   windows) is still one run. Runs that follow each other stay apart.

The result numbers runs per (pair, kind) in order of their first probe, so
both paths give the same numbers.
"""
from __future__ import annotations

from .model import TCP_BASE_FLAGS

# What a scanner keeps fixed for a run, and so what tells one run from the next.
SIGNATURE_FIELDS = ("window", "options", "ttl_band")
# A silence longer than this between two probes of one signature starts a new
# run. Long enough for a scapy script's sr1(timeout=10) on a dropped port (and
# a retry), short enough that running the same scan again a minute later is
# a second session.
RUN_GAP = 30.0
# ... and longer than this many times the silences before and after it: a scan
# paced slower than RUN_GAP (nmap -T0 waits five minutes between probes) keeps
# its own rhythm, while a scan run again after a pause breaks it.
PACE_FACTOR = 3.0
# A connection attempt the target never answered (see split_runs' `heard`).
NEVER_HEARD = (1 << 62)
# nmap's raw probes take a random TTL in this range (fingerprint.py tells the
# tool; here it only keeps nmap's probes in one band).
NMAP_TTL_BAND = (37, 59)
_INITIAL_TTLS = (32, 64, 128, 255)


def ttl_band(ttl):
    """The band of each TTL (numpy array in, array out): 0 for nmap's random
    range, else the initial TTL it was most likely sent with."""
    import numpy as np

    ttl = np.asarray(ttl)
    if ttl.dtype != np.uint8:  # (the fast path's TTL column, uint8, is read as it is: no copy)
        ttl = ttl.astype(np.int64, copy=False)
    if ttl.size > 256 and 0 <= int(ttl.min()) and int(ttl.max()) < 256:  # TTLs: each value's band looked up
        return _band_table()[ttl]
    band = np.full(ttl.shape, 255, np.int64)
    for initial in reversed(_INITIAL_TTLS):
        band[ttl <= initial] = initial
    lo, hi = NMAP_TTL_BAND
    band[(ttl >= lo) & (ttl <= hi)] = 0
    return band


def _band_table(_table=[]):
    """ttl_band of every 8-bit TTL, computed by ttl_band itself on first use."""
    if not _table:
        import numpy as np

        _table.append(ttl_band(np.arange(256, dtype=np.int64)))
    return _table[0]


def split_runs(pair, kind, window, options, ttl, ts, port, frame, heard):
    """The run number of each connection attempt, counted per (pair, kind)
    from 0 in order of first probe.

    pair, kind, options: integer codes (equal values mean equal things; any
    numbering serves), window and ttl: the first probe's fields, ts: its
    time, port: the target port, frame: the first probe's frame, heard: the
    frame of the first packet the target sent back on that connection
    (NEVER_HEARD if none). All are sequences of one length; returns an int64
    numpy array."""
    import numpy as np

    pair = np.asarray(pair, np.int64)
    n = len(pair)
    if not n:
        return np.zeros(0, np.int64)
    kind = np.asarray(kind, np.int64)
    ts = np.asarray(ts, np.float64)
    # one integer per signature and per stream: window 16 bits, options code and TTL band below it
    sig = (np.asarray(window, np.int64) << 40) | (np.asarray(options, np.int64) << 8) | ttl_band(ttl)
    stream = (pair << 16) | kind
    # 1-2: segments of one signature without a long silence
    order = np.lexsort((ts, sig, stream))
    s_stream, s_sig, s_ts = stream[order], sig[order], ts[order]
    new = np.ones(n, bool)
    new[1:] = (s_stream[1:] != s_stream[:-1]) | (s_sig[1:] != s_sig[:-1])
    s_port = np.asarray(port, np.int64)[order]
    new[1:] |= _breaks_pace(np.diff(s_ts), new[1:], s_port[1:] != s_port[:-1])
    # 3: the scan run again over ports that answered
    seg_sorted = segment_ids(new)
    again = _probes_again(new, seg_sorted, s_port, order, np.asarray(frame), np.asarray(heard))
    if again.any():
        new |= again
        seg_sorted = segment_ids(new)
    nseg = int(seg_sorted[-1]) + 1
    seg_start = s_ts[new]
    seg_end = np.maximum.reduceat(s_ts, np.nonzero(new)[0])
    seg_stream = s_stream[new]
    # 4: overlapping segments of a stream are one run
    o = np.lexsort((seg_start, seg_stream))
    st, en, ss = seg_start[o], seg_end[o], seg_stream[o]
    first_of_stream = np.ones(nseg, bool)
    first_of_stream[1:] = ss[1:] != ss[:-1]
    run_new = np.ones(nseg, bool)
    latest = -np.inf
    starts, ends, firsts = st.tolist(), en.tolist(), first_of_stream.tolist()
    for i in range(nseg):  # segments are few (a handful per pair): a plain loop
        if firsts[i]:
            latest = -np.inf
        run_new[i] = firsts[i] or starts[i] > latest
        latest = max(latest, ends[i])
    run_global = np.cumsum(run_new) - 1
    stream_first_run = np.maximum.accumulate(np.where(first_of_stream, run_global, 0))
    seg_run = np.empty(nseg, np.int64)
    seg_run[o] = run_global - stream_first_run
    runs = np.empty(n, np.int64)
    runs[order] = seg_run[seg_sorted]
    return runs


def _breaks_pace(gaps, apart, sweeps):
    """Which silences (`gaps` between consecutive probes of a sorted column;
    `apart`: the two are of different streams or signatures already;
    `sweeps`: the second goes to another port than the first) start a new
    run (rule 2): longer than RUN_GAP, unless the scan keeps a rhythm that
    slow, going on to another port after a silence at most PACE_FACTOR times
    those beside it (on both sides, where the segment has probes there). The
    same port probed again after a long silence (each nmap run's discovery
    SYN to 443) keeps no rhythm."""
    import numpy as np

    out = ~apart & (gaps > RUN_GAP)
    at = np.flatnonzero(out)  # few: the long silences within a segment
    if not len(at):
        return out
    last = len(gaps) - 1
    g = gaps[at]
    # a silence across segments is no neighbour's, as where the segment has no probe on that side
    before, after = gaps[np.maximum(at - 1, 0)], gaps[np.minimum(at + 1, last)]
    has_before = (at > 0) & ~apart[np.maximum(at - 1, 0)] & ~np.isnan(before)
    has_after = (at < last) & ~apart[np.minimum(at + 1, last)] & ~np.isnan(after)
    keeps = (~has_before | (g <= PACE_FACTOR * before)) & (~has_after | (g <= PACE_FACTOR * after))
    rhythm = sweeps[at] & keeps & (has_before | has_after)
    out[at[rhythm]] = False
    return out


def _probes_again(new, segment, port, order, frame, heard):
    """Where rule 3 starts a run, on columns sorted by stream, signature and
    time (`new`: where a segment starts already, `segment` each row's segment_ids),
    the sorted rows being `order` of the unsorted `frame` and `heard`."""
    import numpy as np

    n = len(new)
    # each attempt's previous attempt to the same port in the same segment, if any
    prev = previous_same(segment, port)
    again = prev >= 0
    at = np.flatnonzero(again)  # (most attempts have none: a port probed once)
    again[at] = heard[order[prev[at]]] < frame[order[at]]  # it answered before this probe
    pairs = np.zeros(n, bool)  # two in a row, to two ports
    pairs[:-1] = again[:-1] & again[1:] & ~new[1:] & (port[:-1] != port[1:])
    out = np.zeros(n, bool)
    if not pairs.any():
        return out
    starts = np.flatnonzero(new)
    begun = starts[np.searchsorted(starts, np.arange(n), side="right") - 1]  # where each attempt's segment begins
    run_start = -1
    for j in np.flatnonzero(pairs).tolist():  # few: where a scan starts over, and its ports
        run_start = max(run_start, int(begun[j]))
        if prev[j] >= run_start and prev[j + 1] >= run_start:  # both answered in the run as it stands
            out[j] = True
            run_start = j
    return out


def segment_ids(new):
    """np.cumsum(new) - 1 for a boolean column `new` that starts True (where each segment of rows
    starts): each row's segment number, each segment's repeated (numpy's cumulative sum is not
    vectorised: 5x the time on a block's 64k rows of a few segments)."""
    import numpy as np

    starts = np.flatnonzero(new)
    return np.repeat(np.arange(len(starts), dtype=np.int64), np.diff(np.append(starts, len(new))))


def previous_same(group, value):
    """For each row of two int64 columns, the last row before it with the same
    group and the same value, -1 where none. Compiled (cnative.previous_same,
    one pass) where `group` ascends and the values are ports; else by sorting."""
    import numpy as np

    from .speedups import compiled

    n = len(group)
    prev = np.empty(n, np.int64)
    native = compiled()
    if native is not None and native.previous_same(group, value, prev) == 0:
        return prev
    by_value = np.lexsort((np.arange(n), value, group))
    same = (group[by_value][1:] == group[by_value][:-1]) & (value[by_value][1:] == value[by_value][:-1])
    prev.fill(-1)
    prev[by_value[1:][same]] = by_value[:-1][same]
    return prev


PROTO_CODES = {"tcp": 0, "udp": 1, "sctp": 2, "ip": 3}


def flow_kinds(udp, tcp_flags):
    """packet_columns' kind for TCP and UDP flows given as columns (the fast path's way in)."""
    import numpy as np

    udp = np.asarray(udp, bool)
    return np.where(udp, PROTO_CODES["udp"] << 8, np.asarray(tcp_flags, np.int64) & TCP_BASE_FLAGS)


def kind_of(p) -> int:
    """The probe kind of a model.Packet as one integer: the protocol's code
    (PROTO_CODES) and, below it, the TCP flags less ECE/CWR, the SCTP chunk
    type or the IP protocol number (0 for UDP); flow_kinds for columns."""
    sub = p.flags & TCP_BASE_FLAGS if p.proto == "tcp" else (p.chunk_type or 0) if p.proto == "sctp" else (
        p.ip_proto if p.proto == "ip" else 0)
    return (PROTO_CODES.get(p.proto, 3) << 8) | (sub & 0xFF)


def packet_columns(probes, pair_of, options_of, heard=None) -> tuple:
    """split_runs' columns (pair, kind, window, options, ttl, ts, port, frame,
    heard) for model.Packets, each the first probe of a connection attempt;
    pair_of(src, dst) and options_of(kinds) give the caller's integer codes,
    `heard` each attempt's first frame back (NEVER_HEARD: none; by default
    none was)."""
    cols = ([], [], [], [], [], [], [], [])
    for p in probes:
        tcp = p.proto == "tcp"
        row = (pair_of(p.src, p.dst), kind_of(p), p.window if tcp else 0, options_of(p.options if tcp else ()),
               p.ttl, p.ts, p.dport, p.frame)
        for col, value in zip(cols, row):
            col.append(value)
    return cols + (list(heard) if heard is not None else [NEVER_HEARD] * len(cols[0]),)


def runs_of_probes(probes, heard) -> list:
    """split_runs for model.Packets, each the first probe of a connection
    attempt, and the frame each first heard back (`heard`, as packet_columns
    takes it): the ordinary engine's way in."""
    pairs: dict = {}
    options: dict = {}
    cols = packet_columns(probes, lambda src, dst: pairs.setdefault((src, dst), len(pairs)),
                          lambda kinds: options.setdefault(kinds, len(options)), heard)
    return split_runs(*cols).tolist()


def run_spans(pair, kind, run, ts, port) -> dict:
    """(pair, kind, run) -> (first ts, last ts, distinct ports) of each run,
    from one row per exchange or flow (both paths build these columns).
    Sorting-based: a million flows take a few sorts of one integer key."""
    import numpy as np

    pair, kind, run, port = (np.asarray(c, np.int64) for c in (pair, kind, run, port))
    if not len(pair):
        return {}
    ts = np.asarray(ts, np.float64)
    if int(run.max()) < (1 << 16) and int(pair.max()) < (1 << 37) and int(kind.max()) < (1 << 10):
        key = (pair << 26) | (kind << 16) | run
        # (in order already, as a block of one session's one run: the rows as they stand)
        order = slice(None) if (key[1:] >= key[:-1]).all() else np.argsort(key, kind="stable")
        k = key[order]
        new = np.r_[True, k[1:] != k[:-1]]
        keys = [(int(x >> 26), int((x >> 16) & 0x3FF), int(x & 0xFFFF)) for x in k[new].tolist()]
    else:  # wider than one integer key holds: sort the columns themselves
        order = np.lexsort((run, kind, pair))
        cols = [c[order] for c in (pair, kind, run)]
        new = np.r_[True, (cols[0][1:] != cols[0][:-1]) | (cols[1][1:] != cols[1][:-1]) | (cols[2][1:] != cols[2][:-1])]
        keys = list(zip(*(c[new].tolist() for c in cols)))
    start = np.flatnonzero(new)
    t = ts[order]
    first, last = np.minimum.reduceat(t, start), np.maximum.reduceat(t, start)
    group = segment_ids(new)
    combos = group * (1 << 17) + port[order]  # (group, port), each counted once below
    if len(start) << 17 <= min(max(16 * len(pair), 1 << 22), 1 << 24) and int(port.min()) >= 0:
        seen = np.zeros(len(start) << 17, bool)  # few runs: their ports marked in a table, not sorted
        seen[combos] = True
        nports = [np.count_nonzero(marked) for marked in seen.reshape(len(start), 1 << 17)]  # (axis=1: 10x slower)
    else:
        combos.sort()
        distinct = combos[np.r_[True, combos[1:] != combos[:-1]]]
        nports = np.bincount(distinct >> 17, minlength=len(start))
    return {key: (float(f), float(la), int(n)) for key, f, la, n in zip(keys, first.tolist(), last.tolist(),
                                                                          list(nports))}


def exchange_spans(exchanges) -> dict:
    """run_spans of model.Exchanges, keyed by ((scanner, target), kind, run):
    the ordinary path's way in (the fast path builds the columns itself).
    Each exchange counts with its first and its last probe."""
    exchanges = list(exchanges)
    pairs: dict = {}
    cols = packet_columns((ex.probes[0] for ex in exchanges),
                          lambda src, dst: pairs.setdefault((src, dst), len(pairs)), lambda _kinds: 0)
    runs = [ex.run for ex in exchanges]
    ports = [ex.port for ex in exchanges]
    last = [ex.probes[-1].ts for ex in exchanges]
    spans = run_spans(cols[0] * 2, cols[1] * 2, runs * 2, list(cols[5]) + last, ports * 2)
    names = {v: k for k, v in pairs.items()}
    return {(names[p], k, r): v for (p, k, r), v in spans.items()}
