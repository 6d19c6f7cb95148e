"""Rows of text from integer columns, one template per row shape: how JSON
and CSV write the ports of a fast-path scan (millions of rows) without a
Python string per row where pcapscan.cnative is built (speedups.py).

A template is a tuple of bytes pieces, values go between them: ("a ", " b\\n")
with one column writes b"a 7 b\\n". `which[i]` names row i's template, or,
negative, its text given whole: extra[-which[i] - 1]. Rows are joined by
`sep`. The result is UTF-8 bytes."""
from __future__ import annotations

from ..speedups import compiled


def rows_text(templates, which, cols, sep: bytes = b"", extra=()) -> bytes:
    """The rows (numpy int64 `which` and `cols`) as bytes, compiled where built."""
    import numpy as np

    which = np.ascontiguousarray(which, np.int64)
    cols = tuple(np.ascontiguousarray(c, np.int64) for c in cols)
    native = compiled()
    if native is not None:
        return native.format_rows(tuple(tuple(t) for t in templates), which, cols, sep, tuple(extra))
    return rows_text_py(templates, which, cols, sep, extra)


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


def write_bytes(fh, data: bytes) -> None:
    """UTF-8 `data` to the text stream `fh`: to its byte buffer where it has
    one and writes UTF-8 (after what it holds), else as text."""
    buf = getattr(fh, "buffer", None)
    enc = (getattr(fh, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    if buf is None or enc != "utf8":
        fh.write(data.decode("utf-8"))
        return
    fh.flush()
    buf.write(data)
