"""Cyclic garbage collection paused while a big result is built.

Reading a big capture builds millions of acyclic objects (Packets,
Exchanges, tuples, per-port records) that live on as the result. Each full
collection walks all of them again, and they come often while they are
being made: a third of the time (verify: 58 s -> 40 s on a 1.3M-packet
capture). Reference counting still frees them; only cycles wait.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def no_cyclic_gc():
    """No cyclic collection inside the block; as it was after."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@contextmanager
def cyclic_gc():
    """Cyclic collection inside the block (within a no_cyclic_gc one: work that leaves
    cycles behind, such as the fast path's reading); as it was after."""
    was = gc.isenabled()
    gc.enable()
    try:
        yield
    finally:
        if not was:
            gc.disable()


@contextmanager
def young_cyclic_gc():
    """Cyclic collection inside the block of what the block makes only: what
    exists already is frozen (gc.freeze), so no collection walks it again
    (an engine's millions of Packets while a big capture's scans are built
    from them). The cycles the block left behind are collected as it ends
    (the frozen objects are not walked); unfrozen after, unless something
    froze objects before."""
    frozen = gc.get_freeze_count()
    gc.freeze()
    try:
        with cyclic_gc():
            yield
    finally:
        gc.collect()
        if not frozen:
            gc.unfreeze()
