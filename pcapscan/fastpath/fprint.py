"""fingerprint.identify on columns, for scan sessions of many exchanges.

Each clue of fingerprint.py has its twin here, reading numpy columns of the
session's packets instead of Packet objects, and saying the same sentence
(`_values` lists values most common first, ties in order of first
appearance, as collections.Counter does). The signatures, weights and
scoring are fingerprint.py's own (SIGNATURES, score arithmetic): only the
clue tests are twinned. A clue without a twin (added to fingerprint.py
later) makes the session fall back to real Exchange objects. The fast-path
tests compare both on every capture of the suite.

The columns keep the capture's narrow integer types (uint8 TTLs, uint16
ports...); a clue widens them to int64 where its arithmetic could overflow.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import fingerprint as F
from ..kernel import OS_SYN_OPTION_KINDS, is_kernel_rst
from ..model import ACK, RST, SYN, flag_letters
from .columns import insertion_slots


class Cols:
    """Columns of one group of packets, sorted by frame; a field is gathered
    from the whole session's columns the first time a clue reads it."""

    FIELDS = ("frame", "udp", "ttl", "window", "opt", "mss", "flags", "seq", "ack", "sport", "dport", "ip_id",
              "payload", "dst", "ex")

    def __init__(self, base: dict = None, idx=None, **cols):
        if base is None:
            base = {k: np.asarray(cols[k]) for k in self.FIELDS}
            order = np.argsort(base["frame"], kind="stable")
            idx = None if (len(order) < 2 or (np.diff(base["frame"]) >= 0).all()) else order
        self._base = base
        self._idx = idx
        self._n = len(base["frame"]) if idx is None else len(idx)

    def __getattr__(self, name):
        if name not in Cols.FIELDS:
            raise AttributeError(name)
        col = self._base[name]
        if self._idx is not None:
            col = col[self._idx]
        self.__dict__[name] = col
        return col

    def __len__(self):
        return self._n

    def take(self, mask) -> "Cols":
        """The rows where mask holds; the same mask again (several clues take
        the TCP first tries, say) gives the same Cols, whose gathered columns
        and their counts (_counts) are then shared."""
        mask = np.asarray(mask, bool)
        if mask.all():  # every row (the TCP probes of an all-TCP scan): these very columns
            return self
        memo = self.__dict__.setdefault("_takes", {})
        key = np.packbits(mask).tobytes()
        got = memo.get(key)
        if got is None:
            sel = np.nonzero(mask)[0]
            idx = sel if self._idx is None else self._idx[sel]
            got = memo[key] = Cols(self._base, idx)
        return got


def _is_sorted(a: np.ndarray) -> bool:
    return len(a) < 2 or bool((a[1:] >= a[:-1]).all())


class _Cat(dict):
    """The columns of parts one after the other, each joined when first read."""

    def __init__(self, parts: list):
        super().__init__()
        self.parts = parts

    def __missing__(self, k):
        parts = self.parts
        v = parts[0][k] if len(parts) == 1 else np.concatenate([p[k] for p in parts])
        self[k] = v
        return v


class _Merged(dict):
    """The columns of a frame-sorted part and a few more rows, merged by frame
    (as a stable sort of the two one after the other would order them), each
    merged when first read: one copy per field, no sort nor gather of the whole."""

    def __init__(self, bulk: dict, more: dict):
        super().__init__()
        self.bulk, self.more = bulk, more
        self.order = np.argsort(more["frame"], kind="stable")
        # after the bulk rows of the same frame, as the stable sort puts them: the merged
        # rows of `more`, and the mask of those of `bulk`
        self.slots, self.keep = insertion_slots(bulk["frame"], more["frame"][self.order], side="right")

    def __missing__(self, k):
        b, m = self.bulk[k], _narrow(self.more[k][self.order], self.bulk[k].dtype)
        v = np.empty(len(self.keep), np.result_type(b, m))
        v[self.keep] = b
        v[self.slots] = m
        self[k] = v
        return v


def _narrow(a: np.ndarray, dtype) -> np.ndarray:
    """a as dtype when its values fit: the packets of engine exchanges (int64)
    merged into bulk columns keep these columns' narrow type."""
    if a.dtype == dtype or not len(a) or a.dtype.kind not in "iu" or dtype.kind not in "iu":
        return a
    info = np.iinfo(dtype)
    return a.astype(dtype) if info.min <= int(a.min()) and int(a.max()) <= info.max else a


def _cols(parts: list) -> "Cols":
    """Cols of parts one after the other (fields joined when a clue first reads them)."""
    parts = [p for p in parts if len(p["frame"])] or parts[:1]
    if len(parts) == 2 and _is_sorted(parts[0]["frame"]):  # bulk rows, then engine exchanges' packets
        return Cols(_Merged(*parts), None)
    base = _Cat(parts)
    frame = base["frame"]
    idx = None if _is_sorted(frame) else np.argsort(frame, kind="stable")
    return Cols(base, idx)


class CObs:
    """fingerprint.Observed, as columns."""

    def __init__(self, probes: Cols, first: Cols, retries: Cols, followups, responses, completed: np.ndarray,
                 ex_os: np.ndarray, options: list, ip_version: int, resp_synack: int, synacks_py: list,
                 n_ex: int):
        self.probes, self.first, self.retries = probes, first, retries
        self.followups = followups  # Packets (engine exchanges only)
        self.responses = responses  # Packets of engine exchanges
        self.completed = completed  # per exchange
        self.ex_os = ex_os  # per exchange: has a probe of an OS-detection shape
        self.options = options  # option id -> tuple
        self.ip_version = ip_version
        self.resp_synack = resp_synack  # number of SYN/ACK responses (bulk and engine)
        self.synacks_py = synacks_py
        self.n_ex = n_ex
        self.tcp = probes.take(~probes.udp)
        self.udp = probes.take(probes.udp)
        self.syns = self.tcp.take((self.tcp.flags & SYN) > 0)

    @functools.cached_property
    def kinds(self) -> frozenset:
        f = self.first
        out = set()
        if f.udp.any():
            out.add("udp")
        for v in np.flatnonzero(np.bincount(f.flags[~f.udp] & 0x3F)).tolist():  # counted, not sorted
            out.add(flag_letters(v))
        return frozenset(out)

    def without_os(self) -> "CObs":
        if not self.ex_os.any():
            return self
        if getattr(self, "_without", None) is not None:
            return self._without
        keep = ~self.ex_os
        sel = lambda c: c.take(keep[c.ex])  # noqa: E731
        self._without = CObs(sel(self.probes), sel(self.first), sel(self.retries), self.followups, self.responses,
                    self.completed, self.ex_os, self.options, self.ip_version, self.resp_synack, self.synacks_py,
                    int(keep.sum()))
        return self._without


# -- helpers, as fingerprint.py's ---------------------------------------------------


_CACHE: dict = {}  # id(array) -> (array, result): the columns of one session, counted once


def _by_count_then_first(first: np.ndarray, cnt: np.ndarray, n: int) -> np.ndarray:
    """np.lexsort((first, -cnt)) for distinct first rows below n, without a comparison
    sort: a counting sort by first row, then a stable radix sort by count."""
    slot = np.full(n, -1, np.int64)
    slot[first] = np.arange(len(first))
    by_first = slot[slot >= 0]
    c = cnt[by_first]
    top = int(c.max())
    key = (top - c).astype(np.uint16) if top < (1 << 16) else -c
    return by_first[np.argsort(key, kind="stable")]


def _counts(values: np.ndarray):
    """(values most common first, ties by first appearance; their counts)."""
    got = _CACHE.get(id(values))
    if got is not None and got[0] is values:
        return got[1]
    res = _count(values)
    _CACHE[id(values)] = (values, res)
    return res


def _count(values: np.ndarray):
    n = len(values)
    if not n:
        return values[:0], np.zeros(0, np.int64)
    # most columns of a scan hold one value on most rows (a constant TTL, window,
    # sequence number, source port...): that of the first row, counted by one
    # comparison, the few others counted apart. It appears first, so it goes
    # before the others of the same count.
    other = values != values[0]
    m = int(np.count_nonzero(other))
    if m <= n // 2:
        u, c = _count(values[other])
        at = int(np.count_nonzero(c > n - m))  # c is non-increasing
        return (np.concatenate([u[:at], values[:1], u[at:]]),
                np.concatenate([c[:at], np.array([n - m], np.int64), c[at:]]))
    lo, hi = int(values.min()), int(values.max())
    if lo >= 0 and hi < (1 << 17):  # small numbers: counted, not sorted
        cnt = np.bincount(values, minlength=hi + 1)
        first = np.full(hi + 1, n, np.int64)
        rows = np.arange(n)
        np.minimum.at(first, values, rows)
        # the distinct values in order of first appearance, read off the column itself
        uniq = values[first[values] == rows]
        c = cnt[uniq]
        top = int(c.max())
        if top != int(c.min()):  # a stable sort by count (radix, on narrow keys) keeps ties by first
            key = (top - c).astype(np.uint8 if top < (1 << 8) else np.uint16) if top < (1 << 16) else -c
            order = np.argsort(key, kind="stable")
            uniq, c = uniq[order], c[order]
        return uniq, c
    uniq, first, cnt = np.unique(values, return_index=True, return_counts=True)
    order = _by_count_then_first(first, cnt, n)
    return uniq[order], cnt[order]


def _as_set(values: np.ndarray) -> set:
    """set(values.tolist()), built from the distinct values in order of first
    appearance: the same table, so the same iteration order, for less work."""
    return set(values.tolist() if len(values) < 64 else _in_order(values).tolist())


def _in_order(values: np.ndarray) -> np.ndarray:
    """The distinct values in order of first appearance."""
    n = len(values)
    if n < 64:
        return np.array(list(dict.fromkeys(values.tolist())), values.dtype)
    other = values != values[0]  # the first row's value on most rows: the others apart (see _count)
    m = int(np.count_nonzero(other))
    if m <= n // 2:
        return np.concatenate([values[:1], _in_order(values[other])])
    uniq, first = np.unique(values, return_index=True)
    return uniq[np.argsort(first, kind="stable")]


def _values(values: np.ndarray, limit: int = 4, fmt=str) -> str:
    vals, _ = _counts(values)
    shown = [fmt(v) for v in vals[:limit].tolist()]
    more = len(vals) - len(shown)
    return ", ".join(shown) + (f" (+{more} more)" if more > 0 else "")


def _every(n: int) -> str:
    return F.every_text(int(n))


def _most_common_share(values: np.ndarray):
    if not len(values):
        return None, 0.0
    vals, cnt = _counts(values)
    return vals[0].item(), int(cnt[0]) / len(values)


def _bases(values: np.ndarray, share: float = 0.1, most: int = 3):
    vals, cnt = _counts(values)
    if len(values) < 10:
        most = 1
    top = [(v, c) for v, c in zip(vals[:most].tolist(), cnt[:most].tolist())]
    bases = [v for v, c in top if c >= share * len(values)]
    covered = sum(c for v, c in top if v in bases) / len(values) if len(values) else 0.0
    return bases, covered


def _set_len(a) -> int:
    return len(_counts(a)[0])


def _opt_text(obs, oid) -> str:
    return F.options_text(obs.options[oid])


# -- the clues -------------------------------------------------------------------------


def ttl_random_range(obs: CObs, rng):
    if obs.ip_version != 4 or not len(obs.probes):
        return None
    lo, hi = rng
    col = obs.probes.ttl  # counted and shown as itself (its counts shared with the other TTL clues)
    ttls = col.astype(np.int64, copy=False)
    win = (ttls >= lo - 16) & (ttls <= hi)
    # max(ttls, key=(in window, ttl)): the highest inside, else the highest
    base = int(ttls[win].max()) if win.any() else int(ttls.max())
    inside = ttls[win & (np.abs(ttls - base) <= hi - lo)]
    share = len(inside) / len(ttls)
    distinct = int(np.count_nonzero(np.bincount(inside)))  # TTLs are below 256: counted, not sorted
    if len(obs.first) >= 3:
        if distinct >= 2 and share >= 0.9:
            text = (f"TTL varies per probe: {distinct} values from {inside.min()} to {inside.max()} "
                    f"(nmap gives each raw probe a random TTL in {lo}-{hi})")
            if share < 1:
                # a set's iteration order, as the original builds it
                other = F.values_text(_as_set(col) - _as_set(inside), 2)
                text += f"; {len(ttls) - len(inside)} other packets of this host carry TTL {other}"
            return True, text
        if len(_counts(col)[0]) == 1:
            return False, f"TTL {ttls[0]} on {_every(len(ttls))} (nmap's raw probes take a random TTL in {lo}-{hi})"
        return False, f"TTLs {_values(col)} (not nmap's random {lo}-{hi})"
    if share == 1 and ((ttls >= lo) & (ttls <= hi)).all():
        return True, (f"TTL {_values(col)}: inside nmap's random range {lo}-{hi}, "
                      f"no operating system's initial TTL")
    return False, f"TTL {_values(col)} (nmap's raw probes take a random TTL in {lo}-{hi})"


def ttl_constant(obs: CObs, initial):
    if not len(obs.probes):
        return None
    ttls = _counts(obs.probes.ttl)[0]
    if len(ttls) == 1:
        ttl = int(ttls[0])
        holds = F.initial_ttl(ttl) == initial and initial - ttl <= 16
        return holds, f"{F.ttl_words(ttl)} on {_every(len(obs.probes))}"
    return False, f"TTL varies per probe ({_values(obs.probes.ttl)})"


def ttl_os_default(obs: CObs, _arg=None):
    if not len(obs.probes):
        return None
    ttls = _counts(obs.probes.ttl)[0]
    if len(ttls) == 1:
        ttl = int(ttls[0])
        holds = F.initial_ttl(ttl) in (64, 128, 255) and F.initial_ttl(ttl) - ttl <= 16
        return holds, f"{F.ttl_words(ttl)} on {_every(len(obs.probes))}, an operating system's default"
    return False, f"TTL varies per probe ({_values(obs.probes.ttl)}): no kernel does that"


def window_in(obs: CObs, windows):
    tcp = obs.tcp
    if not len(tcp):
        return None
    seen = tcp.window
    holds = bool(np.isin(_counts(seen)[0], np.array(windows)).all())
    return holds, f"TCP window {_values(seen)} on {_every(len(tcp)) if _set_len(seen) == 1 else 'the probes'}"


def window_os(obs: CObs, _arg=None):
    syns = obs.syns
    if not len(syns):
        return None
    seen = _counts(syns.window)[0]
    holds = len(seen) == 1 and int(seen[0]) in F.OS_WINDOWS
    return holds, f"SYN window {_values(syns.window)}" + (", a common operating-system window" if holds else "")


def syn_options(obs: CObs, kinds):
    syns = obs.syns
    if not len(syns):
        return None
    seen = [obs.options[i] for i in _counts(syns.opt)[0].tolist()]
    holds = set(seen) == {tuple(kinds)}
    mss = syns.mss[syns.mss > 0]  # `if p.mss`: 0 and None are left out
    what = F.options_text(seen[0]) if len(set(seen)) == 1 else "; ".join(sorted(F.options_text(s) for s in set(seen)))
    extra = f" (mss {F.values_text(_as_set(syns.mss) - {-1, 0})})" if len(mss) and holds else ""
    return holds, f"SYN options: {what}{extra}"


def no_options(obs: CObs, _arg=None):
    tcp = obs.tcp
    if not len(tcp):
        return None
    empty = np.array([len(o) == 0 for o in obs.options])[tcp.opt]
    if empty.all():
        return True, f"no TCP options on {_every(len(tcp))}"
    first = int(tcp.opt[~empty][0])
    return False, (f"TCP options {F.options_text(obs.options[first])} on {int((~empty).sum())} of {len(tcp)} "
                   f"probes")


def os_syn_options(obs: CObs, _arg=None):
    syns = obs.syns
    if not len(syns):
        return None
    layout_id, share = _most_common_share(syns.opt)
    layout = obs.options[layout_id]
    if share >= 0.9 and set(layout) & OS_SYN_OPTION_KINDS:
        return True, (f"SYN options {F.options_text(layout)}: an operating system's connect() "
                      f"(SACK/timestamps/window scale)")
    n_layouts = _set_len(syns.opt)
    if n_layouts > 1:
        return False, (f"SYN options vary per probe ({n_layouts} layouts): "
                       f"a kernel puts the same options on every SYN")
    return False, f"SYN options {F.options_text(layout)}: no SACK/timestamps/window scale"


def _os_probe_names(obs: CObs, tcp: Cols):
    hits = set()
    if not len(tcp):
        return hits
    keys, _ = _counts(tcp.window.astype(np.int64) * 65536 + tcp.opt)
    for w, o in zip((keys // 65536).tolist(), (keys % 65536).tolist()):
        name = F.NMAP_OS_PROBES.get((w, obs.options[o]))
        if name is not None:
            hits.add(name)
    return hits


def nmap_os_probes(obs: CObs, _arg=None):
    hits = _os_probe_names(obs, obs.tcp)
    u = obs.udp
    if len(u) and ((u.ip_id == F.NMAP_U1_IP_ID) & (u.payload == 300)).any():
        hits.add("U1")
    if not hits:
        return None
    return True, (f"nmap OS-detection probes (-O): the window/option shapes of {', '.join(sorted(hits))} "
                  f"(e.g. SEQ1: window 1, options wscale,nop,mss,TS,sackOK; U1: 300 bytes, IP ID 0x1042)")


def nmap_window(obs: CObs, windows):
    return window_in(obs.without_os(), windows)


def nmap_syn_options(obs: CObs, kinds):
    return syn_options(obs.without_os(), kinds)


def ipid_varies(obs: CObs, _arg=None):
    if obs.ip_version != 4 or len(obs.probes) < 2:
        return None
    ids = obs.probes.ip_id
    value, share = _most_common_share(ids)
    if share >= 0.8 and value != 0:
        return False, f"IP ID {value} on {round(share * 100)}% of {len(ids)} probes: no kernel repeats an IP ID"
    return True, f"IP ID {'0 (DF set)' if value == 0 and share >= 0.8 else f'{_set_len(ids)} values'} " \
                 f"for {len(ids)} packets"


def one_sport_nearby_retries(obs: CObs, _arg=None):
    first = obs.first
    if len(first) < 2:
        if len(first) and len(obs.retries):
            base = int(first.sport[0])
            d = obs.retries.sport.astype(np.int64, copy=False) - base
            near = obs.retries.sport[(d > 0) & (d <= 64)]
            if len(near):
                return True, f"source port {base}, retry from the nearby port {near[0]} (nmap's retry pattern)"
        return None
    sports = first.sport
    bases, covered = _bases(sports)
    ports = ", ".join(map(str, bases))
    if not bases or covered < 0.9:
        n = _set_len(sports)
        return False, f"{n} source ports for {len(first)} first tries ({_values(sports, 3)}): " \
                      f"nmap uses one per scan"
    text = f"source port {ports} for {round(covered * 100)}% of {len(first)} first tries"
    if len(bases) > 1:
        text += f" (one per scan run: {len(bases)} runs)"
    rs = np.sort(_counts(obs.retries.sport.astype(np.int64, copy=False))[0])
    retry_ports = rs[~np.isin(rs, np.array(bases, np.int64))]
    if len(retry_ports):
        b = np.array(bases, np.int64)
        dd = retry_ports[:, None] - b[None, :]
        near = retry_ports[((dd > 0) & (dd <= 64)).any(axis=1)]
        text += f", retries from {_values(near if len(near) else retry_ports, 3)}"
        if len(near):
            text += " (nearby ports: nmap's retry pattern)"
    return True, text


def one_sport(obs: CObs, _arg=None):
    if len(obs.probes) < 2:
        return None
    sports = _counts(obs.probes.sport)[0]
    if len(sports) == 1:
        return True, f"source port {sports[0]} on {_every(len(obs.probes))}"
    return False, f"source ports {_values(obs.probes.sport)}"


def sport_is(obs: CObs, by_proto):
    f = obs.first
    protos = [p for p in ("tcp", "udp") if p in by_proto]
    sel = np.zeros(len(f), bool)
    if "tcp" in protos:
        sel |= ~f.udp
    if "udp" in protos:
        sel |= f.udp
    first = f.take(sel)
    if not len(first):
        return None
    present = {p for p, there in (("udp", first.udp.any()), ("tcp", not first.udp.all())) if there}
    wanted = {p: by_proto[p] for p in present}
    want_arr = np.where(first.udp, by_proto.get("udp", -1), by_proto.get("tcp", -1))
    holds = bool((first.sport == want_arr).all())
    want = " / ".join(f"{v} for {k.upper()}" for k, v in sorted(wanted.items()))
    seen = _values(first.sport)
    if holds:
        return True, f"source port {seen} on every first try: scapy's default ({want})"
    return False, f"source port {seen} (scapy's default is {want})"


def sport_incrementing(obs: CObs, _arg=None):
    probes = obs.probes
    if len(probes) < 3:
        return None
    sp = probes.sport.astype(np.int64, copy=False)
    steps = np.diff(sp)
    share = int((steps == 1).sum()) / len(steps)
    if share >= 0.8:
        first3 = ", ".join(str(p) for p in sp[:3].tolist())
        return True, f"source port grows by one per probe ({first3}, ...)"
    return False, f"source ports {_values(probes.sport, 3)} do not grow by one per probe"


def sport_per_connection(obs: CObs, _arg=None):
    first = obs.first
    if len(first) >= 2:
        distinct = _set_len(first.sport)
        holds = distinct >= 0.9 * len(first) and bool((first.sport >= 1024).all())
        return holds, (f"{distinct} source ports for {len(first)} connections"
                       + (" (a new ephemeral port per connect())" if holds else ""))
    if len(first) and len(obs.retries):
        same = bool((obs.retries.sport == first.sport[0]).all())
        return same, (f"retransmissions from the same source port {first.sport[0]}, as a kernel does" if same
                      else f"retransmissions from other source ports than {first.sport[0]}")
    return None


def same_first_seq(obs: CObs, _arg=None):
    firsts = obs.first.take(~obs.first.udp)
    if len(firsts) < 2:
        return None
    has_ack = (firsts.flags & ACK) > 0
    if has_ack.all() or not has_ack.any():  # one column: itself, its counts shared with other clues
        keys = firsts.ack if has_ack.all() else firsts.seq
    else:
        keys = np.where(has_ack, firsts.ack, firsts.seq)
    field = "acknowledgment number" if has_ack.all() else "sequence number"
    bases, covered = _bases(keys)
    if bases and covered >= 0.8 and 0 not in bases:
        value = ", ".join(map(str, bases))
        return True, (f"{field} {value} on {round(covered * 100)}% of {len(firsts)} first tries "
                      f"(one per scan, as nmap does)")
    if bases == [0]:
        return False, f"{field} 0 on the first tries"
    return False, f"{field}s differ per probe ({_set_len(keys)} values for {len(firsts)} first tries)"


def seq_random(obs: CObs, _arg=None):
    f = obs.first
    firsts = f.take(~f.udp & ((f.flags & ACK) == 0))
    if len(firsts) < 2:
        return None
    distinct = _set_len(firsts.seq)
    holds = distinct == len(firsts) and not (firsts.seq == 0).any()
    return holds, f"{distinct} sequence numbers for {len(firsts)} first tries" + (" (new per probe)" if holds else "")


def seq_ack_zero(obs: CObs, _arg=None):
    tcp = obs.tcp
    if not len(tcp):
        return None
    zero = (tcp.seq == 0) & (tcp.ack == 0)
    if zero.all():
        return True, f"sequence number 0 and acknowledgment number 0 on {_every(len(tcp))}"
    return False, f"sequence numbers {_values(tcp.seq, 3)}"


def ack_without_flag(obs: CObs, _arg=None):
    noack = obs.tcp.take((obs.tcp.flags & ACK) == 0)
    if not len(noack):
        return None
    odd = noack.ack[noack.ack != 0]
    if len(odd) >= 0.8 * len(noack):
        return True, (f"acknowledgment number non-zero without the ACK flag on {len(odd)} of {len(noack)} probes "
                      f"(e.g. {odd[0]})")
    return False, "acknowledgment number 0 on probes without the ACK flag"


def ipid_is(obs: CObs, value):
    if obs.ip_version != 4 or not len(obs.probes):
        return None
    ids = obs.probes.ip_id
    if (ids == value).all():
        return True, f"IP ID {value} on {_every(len(ids))}"
    return False, f"IP ID {_values(ids, 3)}"


def masscan_ipid(obs: CObs, _arg=None):
    firsts = obs.first.take(~obs.first.udp)
    if obs.ip_version != 4 or not len(firsts):
        return None
    dst = firsts.dst.astype(np.int64, copy=False)
    if (dst >= (1 << 32)).any():  # an IPv6 probe in an IPv4 session: leave it to the original
        raise _Fallback
    want = (dst ^ firsts.dport.astype(np.int64, copy=False) ^ firsts.seq.astype(np.int64, copy=False)) & 0xFFFF
    if (firsts.ip_id == want).all():
        return True, (f"IP ID = (destination address ^ port ^ sequence number) & 0xffff on {_every(len(firsts))} "
                      f"(masscan's formula; e.g. IP ID {firsts.ip_id[0]})")
    return False, "IP ID does not follow masscan's (address ^ port ^ seq) formula"


def masscan_rst(obs: CObs, _arg=None):
    if not obs.resp_synack:
        return None
    own = [f for f in obs.followups if f.flags & RST and not is_kernel_rst(f, obs.synacks_py) and f.ttl >= 200]
    if own:
        f = own[0]
        return True, (f"its own RST after the SYN/ACK (frame {f.frame}): TTL {f.ttl}, window {f.window}, "
                      f"besides the kernel's")
    return False, "no RST of its own after the SYN/ACK"


def handshake_completed(obs: CObs, _arg=None):
    if not obs.resp_synack:
        return None
    done = int(obs.completed.sum())
    if done:
        return True, f"the handshake was completed (ACK) on {done} port(s), as connect() does"
    return False, "SYN/ACKs were never acknowledged: no connect() behind the SYNs"


def udp_known_payloads(obs: CObs, _arg=None):
    f = obs.first
    udp = f.take(f.udp)
    loaded = udp.take(udp.payload > 0)
    if not len(loaded) or len(loaded) == len(udp):
        return None
    known = np.isin(loaded.dport, np.fromiter(F.NMAP_UDP_PAYLOAD_PORTS, np.int64))
    holds = bool(known.all())
    where = ", ".join(f"{p}: {n} bytes" for p, n in zip(loaded.dport[:3].tolist(), loaded.payload[:3].tolist()))
    return holds, (f"UDP payload only to well-known service ports ({where}), empty datagrams elsewhere" if holds
                   else f"UDP payload to ports without a known service ({where})")


def udp_payload(obs: CObs, _arg=None):
    udp = obs.udp
    if not len(udp):
        return None
    loaded = int((udp.payload > 0).sum())
    if loaded == len(udp):
        return True, f"every datagram carries application data ({_values(udp.payload, 3)} bytes)"
    return False, f"{len(udp) - loaded} of {len(udp)} datagrams are empty"


def udp_empty(obs: CObs, _arg=None):
    udp = obs.udp
    if not len(udp):
        return None
    empty = int((udp.payload == 0).sum())
    if empty == len(udp):
        return True, f"empty UDP datagrams ({_every(len(udp))})"
    return False, f"UDP payload {_values(udp.payload, 3)} bytes"


class _Fallback(Exception):
    pass


_CLUES = ("ttl_random_range", "ttl_constant", "ttl_os_default", "window_in", "window_os", "syn_options",
          "no_options", "os_syn_options", "nmap_os_probes", "nmap_window", "nmap_syn_options", "ipid_varies",
          "one_sport_nearby_retries", "one_sport", "sport_is", "sport_incrementing", "sport_per_connection",
          "same_first_seq", "seq_random", "seq_ack_zero", "ack_without_flag", "ipid_is", "masscan_ipid",
          "masscan_rst", "handshake_completed", "udp_known_payloads", "udp_payload", "udp_empty")
TWINS = {getattr(F, name): globals()[name] for name in _CLUES if hasattr(F, name)}


def observed_fields(obs: CObs) -> tuple:
    probes = obs.probes
    out = []
    ttls = probes.ttl
    out.append(f"TTL {ttls[0]} on {_every(len(ttls))}" if _set_len(ttls) == 1 else f"TTL varies: {_values(ttls)}")
    tcp = obs.tcp
    if len(tcp):
        out.append(f"TCP window {_values(tcp.window)}")
        texts = np.array([F.options_text(obs.options[o]) for o in range(len(obs.options))], object)
        # _values of option texts: count by text (layouts may share a text)
        tx = texts[tcp.opt]
        vals, _ = _counts_obj(tx)
        shown = vals[:3]
        more = len(vals) - len(shown)
        out.append("TCP options " + ", ".join(shown) + (f" (+{more} more)" if more > 0 else ""))
        firsts = obs.first.take(~obs.first.udp)
        seqs = _counts(firsts.seq)[0]
        out.append(f"sequence number {seqs[0]} on every first try" if len(seqs) == 1
                   else f"{len(seqs)} sequence numbers for {len(firsts)} first tries")
    udp = obs.udp
    if len(udp):
        out.append(f"UDP payload {_values(udp.payload, 3)} bytes")
    sports = probes.sport
    out.append(f"source port {sports[0]} on {_every(len(sports))}" if _set_len(sports) == 1
               else f"{_set_len(sports)} source ports for {len(sports)} probes ({_values(sports, 3)})")
    if obs.ip_version == 4:
        ids = probes.ip_id
        out.append(f"IP ID {ids[0]} on {_every(len(ids))}" if _set_len(ids) == 1
                   else f"IP ID {_set_len(ids)} values for {len(ids)} probes")
    return tuple(out)


def _counts_obj(values):
    seen: dict = {}
    for v in values.tolist():
        seen[v] = seen.get(v, 0) + 1
    items = sorted(seen.items(), key=lambda kv: kv[1], reverse=True)
    return [k for k, _ in items], [c for _, c in items]


def identify_obs(obs: CObs):
    """fingerprint.identify's decision, on columns."""
    _CACHE.clear()
    try:
        return _identify_obs(obs)
    finally:
        _CACHE.clear()


def _identify_obs(obs: CObs):
    if not len(obs.probes):
        return F.ToolGuess("unknown", 0.0, ("no probes to read",))
    ranked = []
    for sig in F.SIGNATURES:
        s = _score(sig, obs)
        if s is not None:
            ranked.append(s)
    ranked.sort(key=lambda s: (s.confidence, s.weight), reverse=True)
    fit = [s for s in ranked if s.weight >= F.MIN_WEIGHT and s.score >= F.MIN_SCORE]
    if fit:
        best = fit[0]
        evidence = best.support + tuple(f"against: {a}" for a in best.against)
        return F.ToolGuess(best.name, best.confidence, evidence)
    evidence = observed_fields(obs)
    if ranked and ranked[0].weight > 0:
        evidence += (f"closest signature: {ranked[0].name} ({ranked[0].confidence:.2f}), not enough to name it",)
    return F.ToolGuess("unknown", 0.0, evidence)


def _score(sig, obs: CObs):
    if sig.kinds is not None and not obs.kinds <= sig.kinds:
        return None
    got = told = 0.0
    support, against = [], []
    memo = obs.__dict__.setdefault("_clues", {})  # a clue several signatures share is read once
    for clue in sig.clues:
        key = (clue.test, type(clue.arg), repr(clue.arg))
        if key in memo:
            res = memo[key]
        else:
            res = memo[key] = TWINS[clue.test](obs, clue.arg)
        if res is None:
            continue
        holds, sentence = res
        if holds:
            got += clue.weight
            told += clue.weight
            support.append(sentence)
        elif not clue.bonus:
            told += clue.weight
            against.append(sentence)
    if told == 0:
        return None
    ratio = got / told
    confidence = round(ratio * min(1.0, got / F.FULL_WEIGHT), 2)
    return F.Score(sig.name, ratio, got, confidence, tuple(support), tuple(against))


def supported() -> bool:
    return all(clue.test in TWINS for sig in F.SIGNATURES for clue in sig.clues)


# -- building the columns of a session ---------------------------------------------------


def _pkt_cols(pkts, ex_ids, options_book, addrs) -> dict:
    n = len(pkts)
    if not n:
        return {k: np.zeros(0, bool if k == "udp" else np.int64) for k in Cols.FIELDS}
    return {
        "frame": np.array([p.frame for p in pkts], np.int64),
        "udp": np.array([p.proto == "udp" for p in pkts], bool),
        "ttl": np.array([p.ttl for p in pkts], np.int64),
        "window": np.array([p.window for p in pkts], np.int64),
        "opt": np.array([options_book.id_of(p.options) for p in pkts], np.int64),
        "mss": np.array([-1 if p.mss is None else p.mss for p in pkts], np.int64),
        "flags": np.array([p.flags for p in pkts], np.int64),
        "seq": np.array([p.seq for p in pkts], np.int64),
        "ack": np.array([p.ack for p in pkts], np.int64),
        "sport": np.array([p.sport for p in pkts], np.int64),
        "dport": np.array([p.dport for p in pkts], np.int64),
        "ip_id": np.array([p.ip_id for p in pkts], np.int64),
        "payload": np.array([p.payload_len for p in pkts], np.int64),
        "dst": np.array([addrs.id_of(p.dst) if p.ip_version == 4 else (1 << 40) for p in pkts], np.int64),
        "ex": np.asarray(ex_ids, np.int64),
    }


def _targets(t, sp: np.ndarray) -> np.ndarray:
    """t.session_addrs(sp)[1]: looked up once when every row has the same session."""
    if len(sp) and (sp == sp[0]).all():
        return np.repeat(t.session_addrs(sp[:1])[1], len(sp))
    return t.session_addrs(sp)[1]


def identify_columns(asm, members, objs, simple):
    """The ToolGuess of a session: `objs` its engine exchanges (Exchange objects),
    `simple` the rows of asm.s classified in bulk."""
    if not supported():
        exs = [asm.exchange(int(r)) for r in members]
        return F.identify(exs)
    t, s = asm.t, asm.s
    fid = s["fid"][simple]
    p = t.probe
    n_b = len(fid)
    # in their own narrow types (uint8 TTLs, uint16 ports...): less to copy, merge and count;
    # the clues widen them where arithmetic could overflow
    bulk = {
        "frame": p["frame"].a[fid], "udp": s["udp"][simple], "ttl": p["ttl"].a[fid], "window": p["window"].a[fid],
        "opt": p["opt"].a[fid], "mss": p["mss"].a[fid], "flags": p["flags"].a[fid], "seq": p["seq"].a[fid],
        "ack": p["ack"].a[fid], "sport": s["sport"][simple], "dport": s["tport"][simple], "ip_id": p["ip_id"].a[fid],
        "payload": p["payload"].a[fid], "dst": _targets(t, s["sp"][simple]), "ex": np.arange(n_b),
    }
    book, addrs = t.options, t.addrs
    probes_py, first_py, retries_py, fid_py, rid_py, pid_py = [], [], [], [], [], []
    followups, responses = [], []
    completed = np.zeros(n_b + len(objs), bool)
    for j, ex in enumerate(objs):
        e = n_b + j
        probes_py += ex.probes
        pid_py += [e] * len(ex.probes)
        first_py.append(ex.probes[0])
        fid_py.append(e)
        retries_py += ex.probes[1:]
        rid_py += [e] * (len(ex.probes) - 1)
        followups += ex.followups
        responses += ex.responses
        completed[e] = ex.completed_handshake
    followups.sort(key=lambda q: q.frame)
    responses.sort(key=lambda q: q.frame)
    probes = _cols([bulk, _pkt_cols(probes_py, pid_py, book, addrs)])
    first = _cols([bulk, _pkt_cols(first_py, fid_py, book, addrs)])
    retries = Cols(**_pkt_cols(retries_py, rid_py, book, addrs))
    options = book.tuples
    os_ids = {(w, book.id_of(o)) for (w, o) in F.NMAP_OS_PROBES}
    options = book.tuples
    ex_os = np.zeros(n_b + len(objs), bool)
    tcpb = ~bulk["udp"]
    if os_ids:
        key = bulk["window"].astype(np.int64) * (1 << 20) + bulk["opt"]
        ref = np.array([w * (1 << 20) + o for w, o in os_ids], np.int64)
        ex_os[:n_b] = tcpb & np.isin(key, ref)
    for j, ex in enumerate(objs):
        ex_os[n_b + j] = any((q.window, q.options) in F.NMAP_OS_PROBES for q in ex.probes if q.proto == "tcp")
    synack_b = int((s["ans"][simple] & ~s["udp"][simple] & ((s["rflags"][simple] & 0x12) == 0x12)).sum())
    synacks_py = [r for r in responses if r.proto == "tcp" and r.flags & SYN and r.flags & ACK]
    version = 4
    if len(probes):
        i0 = int(np.argmin(probes.frame))
        version = 6 if probes.dst[i0] >= (1 << 32) else 4
    obs = CObs(probes, first, retries, followups, responses, completed, ex_os, options, version,
               synack_b + len(synacks_py), synacks_py, n_b + len(objs))
    try:
        return identify_obs(obs)
    except _Fallback:
        exs = [asm.exchange(int(r)) for r in members]
        return F.identify(exs)
