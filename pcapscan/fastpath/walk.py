"""Walking the records of a chunk of a pcap or pcapng stream: the one part
of reading that is a sequential dependency (each record's length says where
the next one starts). With numba installed (the `fast` extra) the loops are
compiled once and cached on disk; without it the same loops run as plain
Python, slower but with the same results.

Both walkers stop at the first record that is not wholly inside the buffer
(the caller keeps the tail for the next chunk) or at anything they do not
handle themselves (status codes below), leaving the rest to the caller.
"""
from __future__ import annotations

import numpy as np

from ..capture import containers as C
from ..speedups import compiled

# Where a record header's fields are, and what makes a record impossible: the reader's
# own rules (capture/containers.py), as plain ints and functions the compiled loops take in.
_SEC, _FRAC, _INCL = C.PCAP_TS_SEC_AT, C.PCAP_TS_FRAC_AT, C.PCAP_INCL_AT
_EPB_IFACE, _EPB_HIGH, _EPB_LOW, _EPB_INCL = (C.EPB_AT[k]
                                              for k in ("interface_id", "ts_high", "ts_low", "captured_len"))
_EPB_DATA, _EPB_MIN, _EPB_START = C.EPB_DATA_AT, C.EPB_MIN_BLOCK, C.PCAPNG_EPB.size
_impossible_block_length = C.impossible_block_length  # compiled along with the walkers (see walkers())
_packet_overflows_block = C.packet_overflows_block

# Status codes returned by the walkers.
OK = 0  # stopped at the end of the buffer (or the output arrays are full)
CORRUPT = 1  # a record/block header that cannot be right: the caller decides
SPECIAL = 2  # a pcapng block the caller must read itself (SHB, IDB, SPB, PB, undeclared interface)

_BT_SHB, _BT_IDB, _BT_PB, _BT_SPB, _BT_EPB = C.PCAPNG_SHB_TYPE, C.BT_IDB, C.BT_PB, C.BT_SPB, C.BT_EPB


def _u32(buf, i, big):
    if big:
        return (np.uint32(buf[i]) << 24) | (np.uint32(buf[i + 1]) << 16) | (np.uint32(buf[i + 2]) << 8) | np.uint32(buf[i + 3])
    return (np.uint32(buf[i + 3]) << 24) | (np.uint32(buf[i + 2]) << 16) | (np.uint32(buf[i + 1]) << 8) | np.uint32(buf[i])


def walk_pcap(buf, pos, hlen, big, maxlen, out_off, out_incl, out_sec, out_frac):
    """Records from `pos`: (count, new pos, status, incl of a corrupt record)."""
    n = 0
    end = len(buf)
    cap = len(out_off)
    while n < cap and pos + hlen <= end:
        sec = _u32(buf, pos + _SEC, big)
        frac = _u32(buf, pos + _FRAC, big)
        incl = _u32(buf, pos + _INCL, big)
        if incl > maxlen:
            return n, pos, 1, incl
        if pos + hlen + incl > end:
            break
        out_off[n] = pos + hlen
        out_incl[n] = incl
        out_sec[n] = sec
        out_frac[n] = frac
        n += 1
        pos += hlen + incl
    return n, pos, 0, 0


def walk_pcapng(buf, pos, big, n_ifaces, maxblock, out_off, out_incl, out_iface, out_high, out_low):
    """Enhanced packet blocks from `pos`, stepping over blocks without packets:
    (count, new pos, status). Stops before a block it does not read itself."""
    n = 0
    end = len(buf)
    cap = len(out_off)
    while n < cap and pos + 8 <= end:
        btype = _u32(buf, pos, big)
        blen = _u32(buf, pos + 4, big)
        if btype == _BT_SHB or btype == _BT_IDB or btype == _BT_SPB or btype == _BT_PB:
            return n, pos, 2
        if _impossible_block_length(blen):
            return n, pos, 1
        if btype == _BT_EPB and blen > maxblock:
            return n, pos, 1
        if pos + blen > end:
            break
        if btype != _BT_EPB:
            pos += blen
            continue
        if _u32(buf, pos + blen - 4, big) != blen or blen < _EPB_MIN:
            return n, pos, 1
        iface = _u32(buf, pos + _EPB_IFACE, big)
        incl = _u32(buf, pos + _EPB_INCL, big)
        if _packet_overflows_block(_EPB_START, incl, blen):
            return n, pos, 1
        if iface >= n_ifaces:
            return n, pos, 2
        out_off[n] = pos + _EPB_DATA
        out_incl[n] = incl
        out_iface[n] = iface
        out_high[n] = _u32(buf, pos + _EPB_HIGH, big)
        out_low[n] = _u32(buf, pos + _EPB_LOW, big)
        n += 1
        pos += blen
    return n, pos, 0


def _py_u32(buf, i, big):
    return int.from_bytes(buf[i:i + 4], "big" if big else "little")


VEC_MIN_BYTES = 1 << 16  # buffers this big are walked mostly in bulk (_chain); smaller ones by the loop
VEC_MIN_RECORDS = 1024  # a bulk step that finds fewer records than this hands the buffer to the loop


def _loop_pcap(buf, pos, end, hlen, unpack, maxlen, starts):
    """The plain walk: record starts appended to `starts`; (new pos, status, incl of a corrupt record)."""
    app = starts.append
    limit = end - hlen
    while pos <= limit:
        incl = unpack(buf, pos + _INCL)[0]
        if incl > maxlen:
            return pos, 1, incl
        nxt = pos + hlen + incl
        if nxt > end:
            break
        app(pos)
        pos = nxt
    return pos, 0, 0


def _chain(view, pos, end, hlen, big, maxlen):
    """Record starts from `pos`, found in bulk: the starts of records whose
    timestamp shares its top byte with the record at `pos` and whose
    captured length is possible are candidates; candidates nothing points
    to (bytes inside a record that look like a header) are dropped until
    each remaining one is the one before it plus its record's length, the
    chain the plain walk follows. Returns (starts of whole records, where
    the walk goes on): the chain stops where it is not proven, the plain
    walk continues from there."""
    limit = end - hlen
    top = 0 if big else 3
    cand = np.flatnonzero(view[pos + top:limit + top + 1] == view[pos + top]) + pos
    at = (cand + _INCL)[:, None] + np.arange(4)
    inc = view[at].astype(np.int64)
    incl = (inc[:, 0] << 24 | inc[:, 1] << 16 | inc[:, 2] << 8 | inc[:, 3]) if big else \
        (inc[:, 3] << 24 | inc[:, 2] << 16 | inc[:, 1] << 8 | inc[:, 0])
    keep = incl <= maxlen
    cand, incl = cand[keep], incl[keep]
    nxt = cand + hlen + incl
    for _ in range(4):
        mark = np.zeros(end - pos + 1, bool)
        mark[nxt[nxt <= end] - pos] = True
        mark[0] = True
        pred = mark[cand - pos]
        if pred.all():
            break
        cand, nxt = cand[pred], nxt[pred]
    if not len(cand) or cand[0] != pos:
        return cand[:0], pos
    linked = nxt[:-1] == cand[1:]
    k = len(cand) if linked.all() else int(np.argmin(linked)) + 1  # cand[:k] is a proven chain
    cand, nxt = cand[:k], nxt[:k]
    if nxt[-1] > end:  # the last record is not wholly in the buffer
        return cand[:-1], int(cand[-1])
    return cand, int(nxt[-1])


def _walk_pcap_py(buf, pos, hlen, big, maxlen, out_off, out_incl, out_sec, out_frac):
    """The walker without numba (`buf` as bytes): record starts found in bulk
    (_chain) or by a loop; their header fields are then read in bulk."""
    import struct

    unpack = struct.Struct((">" if big else "<") + "I").unpack_from
    end = len(buf)
    cap = len(out_off)
    parts = []
    status, bad = 0, 0
    view = np.frombuffer(buf, np.uint8)
    while end - pos >= VEC_MIN_BYTES:
        got, pos = _chain(view, pos, end, hlen, big, maxlen)
        parts.append(got)
        if len(got) < VEC_MIN_RECORDS:
            break
    starts = []
    pos, status, bad = _loop_pcap(buf, pos, end, hlen, unpack, maxlen, starts)
    parts.append(np.array(starts, np.int64))
    at = np.concatenate(parts) if len(parts) > 1 else parts[0]
    n = len(at)
    if n > cap:  # the caller sizes its arrays for a whole buffer of minimal records: never
        n = cap
        pos = int(at[cap])
        at = at[:cap]
        status = 0
    if n:
        width = C.PCAP_TIMES.size  # the header fields read, as rows of 32-bit words
        dt = np.dtype(">u4" if big else "<u4")
        hdr = np.ndarray((len(view) - width + 1,), np.dtype((np.void, width)), view, 0, (1,))[at].view(dt)
        hdr = hdr.reshape(n, width // 4)
        out_off[:n] = at + hlen
        out_sec[:n] = hdr[:, _SEC // 4]
        out_frac[:n] = hdr[:, _FRAC // 4]
        out_incl[:n] = hdr[:, _INCL // 4]
    return n, pos, status, bad


def _walk_pcapng_py(buf, pos, big, n_ifaces, maxblock, out_off, out_incl, out_iface, out_high, out_low):
    import struct

    u32 = struct.Struct((">" if big else "<") + "I").unpack_from
    epb = C.PCAPNG_EPB.order(">" if big else "<").unpack_from
    n = 0
    end = len(buf)
    cap = len(out_off)
    rows = []
    status = 0
    while n < cap and pos + 8 <= end:
        btype, blen = u32(buf, pos)[0], u32(buf, pos + 4)[0]
        if btype in (_BT_SHB, _BT_IDB, _BT_SPB, _BT_PB):
            status = 2
            break
        if C.impossible_block_length(blen) or (btype == _BT_EPB and blen > maxblock):
            status = 1
            break
        if pos + blen > end:
            break
        if btype != _BT_EPB:
            pos += blen
            continue
        if u32(buf, pos + blen - 4)[0] != blen or blen < _EPB_MIN:
            status = 1
            break
        iface, high, low, incl, _orig = epb(buf, pos + C.PCAPNG_BLOCK_HEAD.size)
        if C.packet_overflows_block(_EPB_START, incl, blen):
            status = 1
            break
        if iface >= n_ifaces:
            status = 2
            break
        rows.append((pos + _EPB_DATA, incl, iface, high, low))
        n += 1
        pos += blen
    if rows:
        cols = list(zip(*rows))
        out_off[:n], out_incl[:n], out_iface[:n], out_high[:n], out_low[:n] = cols
    return n, pos, status


_compiled = None


def walkers(use_jit: bool = True):
    """(walk_pcap, walk_pcapng, wants_bytes): the pcap walker compiled in
    pcapscan.cnative where it is built (speedups.py), reading the header
    fields where containers.py says they are; else compiled with numba when
    it is installed and `use_jit`; else the pure-Python loops (which take bytes)."""
    global _compiled
    native = compiled()
    if native is not None:
        walk = native.walk_pcap

        def walk_pcap_native(buf, pos, hlen, big, maxlen, out_off, out_incl, out_sec, out_frac):
            return walk(buf, pos, hlen, big, maxlen, out_off, out_incl, out_sec, out_frac, _SEC, _FRAC, _INCL)

        return walk_pcap_native, _walk_pcapng_py, True
    if use_jit:
        if _compiled is None:
            try:
                import numba
            except ImportError:
                _compiled = False
            else:
                jit = numba.njit(cache=True, nogil=True)
                g = globals()
                g["_u32"] = jit(_u32)
                g["_impossible_block_length"] = jit(C.impossible_block_length)
                g["_packet_overflows_block"] = jit(C.packet_overflows_block)
                _compiled = (jit(walk_pcap), jit(walk_pcapng))
        if _compiled:
            return _compiled[0], _compiled[1], False
    return _walk_pcap_py, _walk_pcapng_py, True


def have_jit() -> bool:
    return bool(walkers(True)[2] is False)
