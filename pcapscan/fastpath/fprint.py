"""A big scan session's columns for fingerprint.py, built from the fast path's tables.

fingerprint.py reads a session as columns (fingerprint.FIELDS: TTL, window,
options id, IP ID, ports, sequence numbers, ... of its probes, its first
tries and its retries). The ordinary path builds them from Exchange objects
(fingerprint.Observed.of); here they come from the rows the fast path
classified in bulk (its flow and probe tables, one row per simple exchange),
merged by frame with the packets of the session's few engine exchanges, and
the same clues read them (fingerprint.identify_observed). Nothing of the
fingerprint's policy is here: only where each column comes from.

The columns keep the tables' narrow integer types (uint8 TTLs, uint16
ports...): less to copy, merge and count; the clues widen them where their
arithmetic could overflow.
"""
from __future__ import annotations

import numpy as np

from .. import fingerprint as F
from .columns import V6_BASE, fits, insertion_slots, merge_rows


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
        v = merge_rows(b, m, self.slots, self.keep, np.result_type(b, m))
        self[k] = v
        return v


def _narrow(a: np.ndarray, dtype) -> np.ndarray:
    """a as dtype when its values fit: the packets of engine exchanges (int64)
    merged into bulk columns keep these columns' narrow type."""
    if a.dtype == dtype or not len(a) or a.dtype.kind not in "iu" or dtype.kind not in "iu":
        return a
    return a.astype(dtype) if fits(a, dtype) else a


def _cols(parts: list) -> F.Cols:
    """Cols of parts one after the other (fields joined when a clue first reads them)."""
    parts = [p for p in parts if len(p["frame"])] or parts[:1]
    if len(parts) == 2 and _is_sorted(parts[0]["frame"]):  # bulk rows, then engine exchanges' packets
        return F.Cols(_Merged(*parts), None)
    base = _Cat(parts)
    frame = base["frame"]
    return F.Cols(base, None if _is_sorted(frame) else np.argsort(frame, kind="stable"))


class _Gathered(dict):
    """Columns made when first read (`make[k]()`): a field no clue reads is never gathered."""

    def __init__(self, make: dict):
        super().__init__()
        self.make = make

    def __missing__(self, k):
        v = self[k] = self.make[k]()
        return v


def _targets(t, sp: np.ndarray) -> np.ndarray:
    """t.session_addrs(sp)[1]: looked up once when every row has the same session."""
    if len(sp) and (sp == sp[0]).all():
        return np.repeat(t.session_addrs(sp[:1])[1], len(sp))
    return t.session_addrs(sp)[1]


def _low16(addrs, ids: np.ndarray) -> np.ndarray:
    """The low 16 bits of the addresses of AddressBook ids (IPv4: the id itself)."""
    out = ids & 0xFFFF
    v6 = ids >= V6_BASE
    if not v6.any():  # np.unique would import numpy.ma (see report/rowtext.py) for nothing
        return out
    for u in np.unique(ids[v6]).tolist():
        out[ids == u] = int.from_bytes(addrs.v6_raw[u - V6_BASE][-2:], "big")
    return out


def identify_columns(t, s: dict, objs, simple, others: dict | None = None) -> F.ToolGuess:
    """The ToolGuess of a session: `objs` its engine exchanges (Exchange objects),
    `simple` the rows of its block's columns `s` (scans.Assembler._block, and "synack" of Assembler.build) classified
    in bulk, `others` the other probes of those bulk exchanges (Assembler._others:
    flows.ROW_FIELDS columns, "at" the index in `simple`), their retries; `t` the flow table."""
    fid = s["fid"][simple]
    p = t.probe
    n_b = len(fid)
    udp = s["udp"][simple]
    probe_col = lambda k: lambda: p[k].a[fid]  # noqa: E731
    bulk = _Gathered({
        **{k: probe_col(k) for k in ("frame", "ttl", "ip_id", "window", "flags", "seq", "ack", "opt", "mss", "payload")},
        "tcp": lambda: ~udp, "udp": lambda: udp, "sport": lambda: s["sport"][simple], "dport": lambda: s["tport"][simple],
        "dst16": lambda: _low16(t.addrs, _targets(t, s["sp"][simple])), "ex": lambda: np.arange(n_b),
    })
    pk = F.ExchangePackets.of(objs, first_id=n_b)  # the engine's exchanges, numbered after the bulk rows
    p_cols, f_cols, r_cols = pk.columns(t.options.id_of)
    if others is not None and len(others["at"]):
        order = np.argsort(others["frame"], kind="stable")
        o = {k: v[order] for k, v in others.items()}
        o_udp = o["udp"].astype(bool)
        again = {k: o[k] for k in ("frame", "ttl", "ip_id", "window", "flags", "seq", "ack", "sport", "dport", "opt",
                                   "mss", "payload")}
        again.update(tcp=~o_udp, udp=o_udp, dst16=_low16(t.addrs, o["dst"].astype(np.int64)), ex=o["at"])
        probes, retries = _cols([bulk, again, p_cols]), _cols([again, r_cols])
    else:
        probes, retries = _cols([bulk, p_cols]), F.Cols(**r_cols)
    # no probe again (of a bulk flow or an engine exchange): every probe is a first try, and the
    # first tries' columns are the probes' (each gathered, merged and counted once)
    first = probes if len(retries) == 0 else _cols([bulk, f_cols])
    completed = np.concatenate([np.zeros(n_b, bool), np.array(pk.completed, bool)])
    synack_b = int(np.count_nonzero(s["synack"][simple]))
    # the first probe's IP version (a bulk row before an engine packet of the same frame, as the merge orders them)
    earliest = []
    if n_b:
        i = int(np.argmin(bulk["frame"]))
        v6 = t.session_addrs(s["sp"][simple[i:i + 1]])[1][0] >= V6_BASE
        earliest.append((int(bulk["frame"][i]), 0, 6 if v6 else 4))
    q = pk.earliest()
    if q is not None:
        earliest.append((q.frame, 1, q.ip_version))
    version = min(earliest)[2] if earliest else 4
    obs = F.Observed(probes, first, retries, pk.followups, pk.synacks, synack_b + len(pk.synacks), completed,
                     t.options.tuples, version)
    return F.identify_observed(obs)
