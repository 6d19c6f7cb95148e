"""Rows of text from integer columns, one template per row shape: how JSON
and CSV write the ports of a fast-path scan (millions of rows) without a
Python string per row where pcapscan.cnative is built (speedups.py).

A template is a tuple of bytes pieces, values go between them: ("a ", " b\\n")
with one column writes b"a 7 b\\n". `which[i]` names row i's template, or,
negative, its text given whole: extra[-which[i] - 1]. Rows are joined by
`sep`. The result is UTF-8 bytes."""
from __future__ import annotations

from ..speedups import compiled


def rows_text(templates, which, cols, sep: bytes = b"", extra=(), scratch: bytearray | None = None):
    """The rows (numpy int64 `which` and `cols`) as bytes, compiled where built.
    With `scratch` (a bytearray, grown as needed), the compiled helper writes
    them into it instead, and a memoryview of them is returned (release it
    before the next call): one buffer for every chunk of an output, whose
    pages are faulted in once, not a fresh block of tens of MB per chunk."""
    import numpy as np

    which = np.ascontiguousarray(which, np.int64)
    cols = tuple(np.ascontiguousarray(c, np.int64) for c in cols)
    native = compiled()
    if native is None:
        return rows_text_py(templates, which, cols, sep, extra)
    args = (tuple(tuple(t) for t in templates), which, cols, sep, tuple(extra))
    if scratch is None:
        return native.format_rows(*args)
    n = native.format_rows(*args, scratch)
    return memoryview(scratch)[:n]


def rows_text_py(templates, which, cols, sep: bytes = b"", extra=()) -> bytes:
    """rows_text in Python: each template's rows formatted by bytes' `%`."""
    import numpy as np

    n = len(which)
    texts = [None] * n
    shapes = np.unique(which).tolist()
    for w in shapes:
        sel = np.nonzero(which == w)[0] if len(shapes) > 1 else None
        at = sel.tolist() if sel is not None else range(n)
        if w < 0:
            for i in at:
                texts[i] = extra[-w - 1]
            continue
        pieces = templates[w]
        fmt = b"%d".join(p.replace(b"%", b"%%") for p in pieces)
        vals = [(c if sel is None else c[sel]).tolist() for c in cols[:len(pieces) - 1]]
        if sel is None:
            texts = list(map(fmt.__mod__, zip(*vals))) if vals else [fmt % ()] * n
        else:
            for i, v in zip(at, zip(*vals) if vals else [()] * len(at)):
                texts[i] = fmt % v
    return sep.join(texts)


class PortRows:
    """The rows of a fast-path scan's ports (a column table, fastpath/scans.py
    PortTable), chunk by chunk: a row classified in bulk by the template of
    its shape, `template(udp, state index, reason index, answered)` (str
    pieces around its values: port, reason TTL, probe frame, and response
    frame when answered), made once per shape; a row the engine built (in
    `objects`) or a bulk row of several probes (in `more`) by `own_text(port)`."""

    def __init__(self, ports, template, own_text, sep: bytes = b"", scratch: bytearray | None = None):
        self.ports, self.template, self.own_text, self.sep = ports, template, own_text, sep
        self.scratch = scratch  # a buffer the rows are formatted into, shared by one output's writers (rows_text)
        self.templates: list = []
        self.shape_of: dict = {}  # shape key -> template index

    def write(self, fh, start: int, stop: int) -> None:
        """Rows start..stop-1 to the text stream `fh` (write_bytes)."""
        data = self.text(start, stop, self.scratch)
        if isinstance(data, memoryview):
            with data:
                write_bytes(fh, data)
        else:
            write_bytes(fh, data)

    def text(self, start: int, stop: int, scratch: bytearray | None = None):
        """Rows start..stop-1, joined by `sep`, as UTF-8 bytes (a memoryview of
        `scratch` when given: rows_text)."""
        import numpy as np

        p = self.ports
        has = p.rframe[start:stop] >= 0
        key = ((p.udp[start:stop].astype(np.int64) * 2 + has) * 256 + p.state[start:stop]) * 256 \
            + p.reason[start:stop]
        # rows the engine built, and bulk rows of more than one probe (`more`: their frames), each by itself
        own = [i - start for i in (*p.objects, *p.more) if start <= i < stop]
        key[own] = -1
        # the shapes present (keys below 2**18): counted, not np.unique's hash, whose check for
        # masked arrays would import numpy.ma (10-30 ms) into a process that never needs it
        for k in np.flatnonzero(np.bincount(key[key >= 0])).tolist():
            if k not in self.shape_of:
                rest, rs = divmod(k, 256)
                udp, st = divmod(rest, 256)
                udp, answered = divmod(udp, 2)
                self.shape_of[k] = len(self.templates)
                self.templates.append(tuple(piece.encode() for piece in self.template(udp, st, rs, answered)))
        which = np.zeros(len(key), np.int64)
        if self.shape_of:
            uniq = np.array(sorted(self.shape_of), np.int64)
            lut = np.array([self.shape_of[k] for k in uniq.tolist()], np.int64)
            which = lut[np.searchsorted(uniq, key).clip(0, len(uniq) - 1)]
        extra = [self.own_text(p[start + j]).encode() for j in own]
        which[own] = -1 - np.arange(len(own))
        return rows_text(self.templates, which, (p.port[start:stop], p.ttl[start:stop], p.pframe[start:stop],
                                                 p.rframe[start:stop]), self.sep, extra, scratch)


def write_bytes(fh, data: bytes) -> None:
    """UTF-8 `data` to the text stream `fh`: to its byte buffer where it has
    one and writes UTF-8 (after what it holds), else as text."""
    buf = getattr(fh, "buffer", None)
    enc = (getattr(fh, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    if buf is None or enc != "utf8":
        fh.write(bytes(data).decode("utf-8"))
        return
    fh.flush()
    buf.write(data)
