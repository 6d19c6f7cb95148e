"""The key of the fast path's bulk classification, derived from what each
technique's classifier declares it reads (TechniqueSpec.reads).

Assembler._scan classifies one real Exchange per distinct *shape* of simple
flow and gives its verdict to every flow of that shape; the shape must hold
every response field the verdict depends on. It is not written here: it is
the technique's declared fields, each read from the column of the
simple-flow block (Assembler._block) that holds it, beside whether the
answer pairs with the probe at all ("ans": exchanges.answers, done in bulk
by flows.py). tests/test_response_fields.py holds every technique to its
declaration, by perturbing every other field of real exchanges.

A simple flow is one probe and at most one packet back in the same flow
(flows.py), so some declared fields are the same for every simple flow of
one scan and need no column; a field that is neither here nor there is an
error, raised when the shape is asked for (and by the test for every
registered technique), never a silently wrong verdict.
"""
from __future__ import annotations

import numpy as np

from ..techniques.base import CHUNK, FLAGS, FROM_TARGET, ICMP, PROTO, RESPONSE_FIELDS, TTL, WINDOW_NONZERO
from .columns import dense_ids

# declared field -> the simple-flow column that holds it
COLUMNS = {FLAGS: "rflags", WINDOW_NONZERO: "rwin"}
# declared fields that are constant over the simple flows of one scan, and why
CONSTANT = {
    PROTO: "the answer is in the probe's own flow, so of the probe's protocol",
    FROM_TARGET: "the answer comes from the probed port itself",
    ICMP: "a flow that draws an ICMP error is complex: the engine's",
    CHUNK: "SCTP flows are the engine's",
}
# declared fields copied into each verdict rather than deciding it: taken per row ("rttl"), not per shape
PER_ROW = frozenset({TTL})


def key_columns(spec) -> list:
    """The simple-flow columns a technique's verdicts depend on, in RESPONSE_FIELDS order."""
    unknown = set(spec.reads) - COLUMNS.keys() - CONSTANT.keys() - PER_ROW
    if unknown:
        raise ValueError(f"the fast path has no column for {sorted(unknown)}, which {spec.technique} reads "
                         "(fastpath/shapes.py)")
    return [COLUMNS[f] for f in RESPONSE_FIELDS if f in spec.reads and f in COLUMNS]


def shape_ids(spec, block: dict, rows) -> tuple:
    """(ids, n): equal ids for the simple rows of `block` that `spec` cannot tell apart."""
    ans = block["ans"][rows]
    return dense_ids([ans] + [np.where(ans, block[c][rows], -1) for c in key_columns(spec)])


def keeps_ttl(spec) -> bool:
    """Whether a verdict of `spec` may carry its answer's TTL (as nmap's reason TTL)."""
    return TTL in spec.reads
