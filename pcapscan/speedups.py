"""Which implementation of the compiled helpers runs (pcapscan/cnative.c):
the compiled one when `pip install .` could build it (a C compiler and
Python's headers; setup.py), else, or with PCAPSCAN_PURE=1 in the
environment, their pure Python/numpy twins (report/rowtext.py,
fastpath/flows.py, fastpath/walk.py, fastpath/columns.py: the bulk decode,
dense_ids and group_rows; fingerprint.py's value counts; sessions.previous_same;
submissions._lay_records; model.records),
which give the same results byte for byte
(tests/test_speedups.py holds them to each other)."""
from __future__ import annotations

import os


def compiled():
    """The compiled module pcapscan.cnative, or None."""
    if os.environ.get("PCAPSCAN_PURE"):
        return None
    try:
        from . import cnative
    except ImportError:
        return None
    return cnative
