"""The reading phase's plumbing: the decoding child's columns in shared buffers
(workers.SharedRing), and the CLI's start-up settings for numpy."""
import os
import select
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pcapscan.fastpath import workers

ROOT = Path(__file__).resolve().parents[1]


def _in_ring(a: np.ndarray, ring) -> bool:
    base = a
    while isinstance(base, np.ndarray):
        base = base.base
    return isinstance(base, memoryview) and base.obj is ring.mem


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_shared_ring_carries_arrays_and_waits_for_a_free_buffer():
    """Arrays that fit arrive as views of a shared buffer, the others through the pipe, values
    intact either way; with both buffers held the child sends nothing until one is given back."""
    ring = workers.SharedRing(2, 4096)
    sent = [(np.arange(k * 100, dtype=np.int64) * 7, np.arange(k * 100, dtype=np.uint16)[::-1].copy())
            for k in range(1, 6)]  # 800..4000 and 200..1000 bytes: the last pairs do not both fit

    def work(tx):
        ring.child_side()
        for a, b in sent:
            ring.send(tx, ("batch", a, b, {"small": 3}))
        ring.send(tx, ("end", "no arrays"))

    pid, rx = workers.fork_child(work)
    ring.parent_side()
    held = []
    try:
        for _ in range(2):  # both buffers taken, none given back
            msg, slot = ring.recv(rx)
            assert slot in (0, 1) and msg[0] == "batch" and msg[3] == {"small": 3}
            held.append((msg, slot))
        assert {s for _, s in held} == {0, 1}
        assert not select.select([rx], [], [], 0.5)[0]  # the child waits for a buffer
        got = [(m[1].copy(), m[2].copy()) for m, _ in held]
        shared = [(_in_ring(m[1], ring), _in_ring(m[2], ring)) for m, _ in held]
        for _, slot in held:
            ring.release(slot)
        held.clear()
        while True:
            msg, slot = ring.recv(rx)
            if msg[0] == "end":
                assert msg == ("end", "no arrays") and slot == -1
                break
            got.append((msg[1].copy(), msg[2].copy()))
            shared.append((_in_ring(msg[1], ring), _in_ring(msg[2], ring)))
            ring.release(slot)
    finally:
        os.close(rx)
        os.waitpid(pid, 0)
        ring.close()
    assert len(got) == len(sent)
    for (a, b), (ga, gb) in zip(sent, got):
        assert ga.dtype == a.dtype and gb.dtype == b.dtype
        assert np.array_equal(ga, a) and np.array_equal(gb, b)
    # 800 + 200 bytes fit a 4096-byte buffer; 4000 fits alone, its 1000 then goes through the pipe
    assert shared[0] == (True, True) and shared[-1] == (True, False)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_shared_ring_child_stops_when_the_parent_is_gone():
    """A child waiting for a buffer the parent will never give back ends (EOFError) instead of hanging."""
    ring = workers.SharedRing(1, 1024)

    def work(tx):
        ring.child_side()
        for _ in range(3):
            ring.send(tx, ("batch", np.arange(10)))

    pid, rx = workers.fork_child(work)
    ring.parent_side()
    msg, slot = ring.recv(rx)
    assert slot == 0
    os.close(ring.back_tx)  # the parent's end of the way back: closed, as when it fails
    msg, slot = ring.recv(rx)
    assert msg[0] == "error" and isinstance(msg[1], EOFError) and slot == -1
    os.close(rx)
    os.waitpid(pid, 0)


def _started(**env_values):
    """(OpenBLAS threads setting, the process's threads, numpy's huge pages) once pcapscan.cli is imported."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "NUMPY_MADVISE_HUGEPAGE")}
    env.update(env_values, PYTHONPATH=str(ROOT))
    code = ("import os, sys, pcapscan.cli; assert 'numpy' in sys.modules; "
            "from numpy._core.multiarray import _get_madvise_hugepage as huge; "
            "print(os.environ['OPENBLAS_NUM_THREADS'], len(os.listdir('/proc/self/task')), int(huge()))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    value, threads, hugepage = out.split()
    return value, int(threads), int(hugepage)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="counts threads in /proc")
def test_cli_sets_numpy_up_before_it_loads_unless_told_otherwise():
    assert _started() == ("1", 1, 0)  # one BLAS thread (none started), no huge pages asked for
    value, _threads, hugepage = _started(OPENBLAS_NUM_THREADS="2", NUMPY_MADVISE_HUGEPAGE="1")
    assert (value, hugepage) == ("2", 1)  # a user's settings stay
