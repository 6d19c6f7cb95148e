"""Two processes for one capture: the fast path's fork and pipe plumbing.

Mechanism only: a forked child that sends its results over a pipe
(fork_child, send, recv: pickle protocol 5, numpy arrays as their own bytes),
or their arrays through buffers shared with it (SharedRing), a map shared
with a forked child (fork_map), and the memory settings either process takes
(tame_malloc). What runs in the child is the callers' business:
fastpath/feed.py decodes the capture there, fastpath/scans.py assembles half
of the scan sessions. A child that fails tells its parent (("slow", why) for
a NeedSlowPath, ("error", exc) for anything else); one that dies without a
word is ChildFailed, or its share is done again here (fork_map).
"""
from __future__ import annotations

import contextlib
import os
from typing import Callable, Optional

from ..progress import Ticker
from .columns import NeedSlowPath

CHILD_MMAP_THRESHOLD = 64 << 20  # the decoding child's (see tame_malloc)
ASSEMBLY_MMAP_THRESHOLD = 8 << 20  # while the scans are assembled (see roomy_heap)


def debug(what: str, _t=[None]) -> None:
    """PCAPSCAN_FAST_DEBUG=1: phase times and peak memory on stderr."""
    if not os.environ.get("PCAPSCAN_FAST_DEBUG"):
        return
    import resource
    import sys
    import time

    now = time.monotonic()
    if _t[0] is None:
        _t[0] = now
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(f"fastpath: {now - _t[0]:7.2f}s  cpu {ru.ru_utime + ru.ru_stime:7.2f}s  peak {ru.ru_maxrss / 1024:6.0f} MiB"
          f"  {what}", file=sys.stderr)


def tame_malloc(threshold: int = 1 << 20) -> None:
    """glibc raises its mmap threshold as big blocks are freed, after which
    freed arrays stay in the heap and the process keeps their memory: fix
    the threshold, so arrays above 1 MiB go back to the system when freed.
    The decoding child (read_forked) takes a higher one: its arrays live
    one batch each, so the heap they come from stays one batch big, and
    reusing it spares the page faults of a fresh mapping per array."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, threshold)  # M_MMAP_THRESHOLD
        if threshold > 1 << 20:
            libc.mallopt(-1, threshold)  # M_TRIM_THRESHOLD: the batch's heap is kept, not given back each time
    except (OSError, AttributeError):
        pass


@contextlib.contextmanager
def roomy_heap(threshold: int = ASSEMBLY_MMAP_THRESHOLD):
    """While the scans are assembled: freed arrays up to `threshold` stay in
    the heap for the next ones. Assembly makes and drops thousands of
    temporary columns of a block's length (a MiB or a few each); each one
    mapped afresh costs its pages' faults and zeroing (bench-5m: some 400,000
    faults, 0.6 s of system time in one process). Whole-capture arrays (tens
    of MiB) are still mapped and given back: kept in the heap (32 MiB) they
    raised bench-5m's peak by 20 MiB. Afterwards back to tame_malloc's
    setting, the heap's free pages given back."""
    tame_malloc(threshold)
    try:
        yield
    finally:
        tame_malloc()
        try:
            import ctypes

            ctypes.CDLL("libc.so.6").mallopt(-1, 128 << 10)  # M_TRIM_THRESHOLD: glibc's default again
        except (OSError, AttributeError):
            pass
        trim_malloc()


def trim_malloc() -> None:
    """Give the heap's free pages back to the system (glibc malloc_trim):
    after a phase that freed many small objects, whose arenas glibc keeps,
    so that the next phase's peak does not come on top of them."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def can_fork() -> bool:
    return hasattr(os, "fork") and (os.cpu_count() or 1) >= 2


def _pipe():
    """(read fd, write fd) of a pipe with a big buffer where the system allows it."""
    r, w = os.pipe()
    try:
        import fcntl

        fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ
    except (OSError, ImportError):
        pass
    return r, w


def fork_child(work) -> tuple:
    """Fork a child that runs work(tx), sending its results on a pipe, and
    exits; here, (its pid, the pipe's read end). A NeedSlowPath or any other
    failure in the child reaches this process as ("slow", why) or ("error",
    exc) (an exception that will not pickle, as its repr)."""
    rx, tx = _pipe()
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            os.close(rx)
            try:
                work(tx)
            except NeedSlowPath as exc:
                send(tx, ("slow", str(exc)))
            except BaseException as exc:  # noqa: BLE001 - any failure: told to the parent
                try:
                    send(tx, ("error", exc))
                except BaseException:  # noqa: BLE001
                    send(tx, ("error", RuntimeError(repr(exc))))
            os.close(tx)
        except BaseException:  # noqa: BLE001
            status = 1
        finally:
            os._exit(status)
    os.close(tx)
    return pid, rx


def send(fd: int, obj) -> None:
    """obj pickled to a pipe, numpy arrays as their own bytes (pickle protocol 5
    out-of-band buffers): no copy on either side beyond the pipe's own."""
    import pickle
    import struct

    bufs = []
    head = pickle.dumps(obj, protocol=5, buffer_callback=bufs.append)
    raws = [memoryview(head)] + [b.raw() for b in bufs]
    sizes = [r.nbytes for r in raws]
    for part in [struct.pack(f"<I{len(sizes)}Q", len(sizes), *sizes)] + raws:
        view = memoryview(part).cast("B")
        while len(view):
            view = view[os.write(fd, view):]


def _read_exact(fd: int, n: int):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = os.readv(fd, [view[got:]])
        if k == 0:
            raise EOFError
        got += k
    return buf


def recv(fd: int):
    """What _send sent (EOFError when the writer closed the pipe first)."""
    import pickle
    import struct

    k = struct.unpack("<I", _read_exact(fd, 4))[0]
    sizes = struct.unpack(f"<{k}Q", _read_exact(fd, 8 * k))
    head = _read_exact(fd, sizes[0])
    return pickle.loads(head, buffers=[_read_exact(fd, n) for n in sizes[1:]])


class SharedRing:
    """Buffers mapped shared with a forked child, for the numpy arrays of its
    messages: the child copies a message's arrays into a free buffer (`send`)
    and the pipe carries the rest; the parent's arrays are views of that
    buffer (`recv`), until it gives the buffer back (`release`). Through the
    pipe each array's bytes were copied twice by the kernel, into pages it
    allocates per write, and the reader's copy landed in fresh memory. An
    array that does not fit what is left of the buffer goes through the
    pipe, as does a message without arrays. Made before the fork; the child
    waits for a free buffer when all are taken (the parent lags)."""

    ALIGN = 64

    def __init__(self, count: int, size: int):
        import mmap

        self.size = size
        self.mem = mmap.mmap(-1, count * size)  # anonymous, shared with the children forked later
        self.view = memoryview(self.mem)
        self.back_rx, self.back_tx = os.pipe()  # the parent gives buffers back: one byte, the buffer's number
        self.free = list(range(count))  # (the child's)
        self.count = count

    def child_side(self) -> None:
        """In the child, first."""
        os.close(self.back_tx)

    def parent_side(self) -> None:
        """In the parent, after the fork."""
        os.close(self.back_rx)

    def send(self, fd: int, obj) -> None:
        import pickle

        bufs: list = []
        head = pickle.dumps(obj, protocol=5, buffer_callback=bufs.append)
        if not bufs:
            send(fd, obj)
            return
        if not self.free:
            got = os.read(self.back_rx, self.count)
            if not got:
                raise EOFError("the parent closed its end")
            self.free.extend(got)
        slot = self.free.pop()
        base, pos, places, inline = slot * self.size, 0, [], []
        for b in bufs:
            raw = b.raw()
            n = raw.nbytes
            if pos + n <= self.size:
                self.view[base + pos:base + pos + n] = raw
                places.append((pos, n))
                pos += -(-n // self.ALIGN) * self.ALIGN
            else:
                places.append(None)
                inline.append(b)
        send(fd, _InRing(slot, places, head, inline))

    def recv(self, fd: int) -> tuple:
        """(what the child sent, the buffer to release afterwards or -1)."""
        import pickle

        msg = recv(fd)
        if not isinstance(msg, _InRing):
            return msg, -1
        base = msg.slot * self.size
        inline = iter(msg.inline)
        bufs = [next(inline) if at is None else self.view[base + at[0]:base + at[0] + at[1]] for at in msg.places]
        return pickle.loads(msg.head, buffers=bufs), msg.slot

    def release(self, slot: int) -> None:
        """The arrays of the message of buffer `slot` are no longer read (nor any view of them)."""
        if slot >= 0:
            try:
                os.write(self.back_tx, bytes([slot]))
            except BrokenPipeError:  # the child is done: it needs no buffer again
                pass

    def close(self) -> None:
        """In the parent, once no view of the buffers is left."""
        os.close(self.back_tx)
        self.view = None
        try:
            self.mem.close()
        except BufferError:  # a view still alive: the mapping goes with the last one
            pass


class _InRing:
    """A message whose arrays are in a SharedRing buffer (`places`: where, or None: in `inline`)."""

    def __init__(self, slot, places, head, inline):
        self.slot, self.places, self.head, self.inline = slot, places, head, inline


class ChildFailed(Exception):
    """A child died without a word (the caller does its work again in this process)."""


def fork_map(fn, weights: list, enabled: bool, progress: Optional[Callable] = None, phase: str = "") -> list:
    """[fn(i) for i in range(len(weights))], shared with a forked child (which
    sees this process's state as it is now, and whose changes to it are lost:
    fn must return all it does). Both take the next item, heaviest first, from
    a shared counter until none is left, so that a process slowed down (the
    machine is shared) simply does fewer. Without a child (not enabled, one
    item, the child lost), all here. `progress` hears of the weight done in
    both processes, as `phase`."""
    n = len(weights)
    total = int(sum(weights))
    tick = Ticker(progress, phase, total, seconds=0.0)
    if not enabled or n < 2:
        out, done = [], 0
        for i in range(n):
            out.append(fn(i))
            done += int(weights[i])
            tick(done, i + 1)
        tick.end(n)
        return out
    import multiprocessing
    import select

    order = sorted(range(n), key=lambda j: -weights[j])
    ctx = multiprocessing.get_context("fork")
    counter = ctx.Value("l", 0)  # shared memory and a lock; no helper process
    finished = ctx.Array("l", 2)  # weight done, items done: by both processes

    def take():
        with counter.get_lock():
            k = counter.value
            counter.value = k + 1
        return order[k] if k < n else None

    def work(out: dict, report_here: bool) -> dict:
        while True:
            i = take()
            if i is None:
                return out
            out[i] = fn(i)
            with finished.get_lock():
                finished[0] += int(weights[i])
                finished[1] += 1
                done, items = finished[0], finished[1]
            if report_here:
                tick(done, items)

    pid, rx = fork_child(lambda tx: send(tx, ("ok", work({}, False))))
    try:
        results = work({}, True)
        debug(f"fork_map: own share done ({len(results)} of {n} items)")
        while progress is not None and not select.select([rx], [], [], 0.2)[0]:
            tick(finished[0], finished[1])  # the child's items, as it finishes them
        try:
            msg = recv(rx)
        except EOFError:  # the child died: whatever it took, here
            msg = ("ok", {i: fn(i) for i in range(n) if i not in results})
    finally:
        os.close(rx)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    debug("fork_map: child's share received")
    if msg[0] == "slow":
        raise NeedSlowPath(msg[1])
    if msg[0] == "error":
        raise msg[1]
    results.update(msg[1])
    tick.end(n)
    return [results[i] for i in range(n)]
