"""Write a capture back out as pcapng, record for record, with packet
comments (opt_comment of an Enhanced Packet Block, which Wireshark shows as
`frame.comment`).

What is kept exactly: every packet's bytes, original length and raw
timestamp; each interface's link type, snaplen and options (timestamp
resolution and offset among them), so that the timestamps mean what they
meant; pcapng sections (each in its own byte order), the options packets
already carried, and the blocks we do not read (name resolution,
statistics, ...), copied as they are. A pcap becomes one section with one
interface of its link type and its timestamp resolution (microseconds or
nanoseconds). Simple packet blocks, which cannot carry a comment, become
enhanced packet blocks on interface 0 with timestamp 0 (they have none).

Frames are numbered as the reader numbers them (containers.py), which is
Wireshark's numbering: the comments of frame N land on the Nth packet. A
record on an interface no description declares (which stops Wireshark, and
which the reader skips) is left out, with a warning.
"""
from __future__ import annotations

import os
import stat
import struct
import tempfile
from typing import Mapping, Optional, Sequence

from .. import errors
from .containers import (PCAPNG_BLOCK_HEAD, PCAPNG_EPB, PCAPNG_IDB, PCAPNG_OPTION, ReadStats, open_capture,
                         pcapng_options)

__all__ = ["write_pcapng", "MAX_COMMENT_BYTES"]

BLOCK_SHB, BLOCK_IDB, BLOCK_EPB = 0x0A0D0D0A, 1, 6
OPT_ENDOFOPT, OPT_COMMENT, OPT_SHB_USERAPPL, OPT_IF_TSRESOL = 0, 1, 4, 9
BYTE_ORDER_MAGIC = 0x1A2B3C4D
MAX_COMMENT_BYTES = 0xFFFF  # an option's length is 16 bits
_SHB_FIXED = "IHHq"  # byte-order magic, version 1.0, section length (-1: not given)
_TSRESOL = {1_000_000: 6, 1_000_000_000: 9}  # pcap's divisors as if_tsresol (a power of ten)


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) & 3)


def _block(order: str, btype: int, body: bytes) -> bytes:
    body = _pad(body)
    total = 12 + len(body)
    head = PCAPNG_BLOCK_HEAD.order(order).pack(btype, total)
    return head + body + struct.pack(order + "I", total)


def _option(order: str, code: int, value: bytes) -> bytes:
    return PCAPNG_OPTION.order(order).pack(code, len(value)) + _pad(value)


def _comment(text: str) -> bytes:
    """UTF-8, cut to what one option may hold, never inside a character."""
    data = text.encode("utf-8")
    if len(data) > MAX_COMMENT_BYTES:
        data = data[:MAX_COMMENT_BYTES].decode("utf-8", "ignore").encode("utf-8")
    return data


def _options_end(order: str, parts: list) -> bytes:
    return b"".join(parts) + (_option(order, OPT_ENDOFOPT, b"") if parts else b"")


def _shb(order: str, options: bytes) -> bytes:
    return _block(order, BLOCK_SHB, struct.pack(order + _SHB_FIXED, BYTE_ORDER_MAGIC, 1, 0, -1) + options)


def write_pcapng(path, out, comments: Optional[Mapping[int, Sequence[str]]] = None,
                 stats: Optional[ReadStats] = None, application: str = "pcapscan") -> ReadStats:
    """Copy the capture at `path` to the pcapng file `out`, each frame N
    carrying the comments `comments[N]` (one opt_comment each, in order).

    Opening errors raise before `out` is touched (errors.CaptureNotFound,
    NotACapture, InputError); damage further on ends the copy with a warning
    in the returned stats, keeping every record before it (`stats.packets`
    records read, `stats.skipped` of them left out). `out` is written
    whole or not at all (a temporary file renamed into place)."""
    comments = comments or {}
    cap = open_capture(path)
    if stats is None:
        stats = ReadStats(os.fspath(path))
    folder = os.path.dirname(os.path.abspath(os.fspath(out)))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".pcapscan-", suffix=".pcapng", dir=folder)
    except OSError as exc:
        cap.close()
        raise errors.InputError(f"cannot write {os.fspath(out)}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            _copy(cap, fh, comments, stats, application)
        os.chmod(tmp, _new_file_mode(out))
        os.replace(tmp, out)
    except BaseException:
        cap.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return stats


def _new_file_mode(out) -> int:
    """The mode `out` would have if opened for writing: its own if it exists,
    else 0666 less the umask (mkstemp's file is 0600, for no reader but us)."""
    try:
        return stat.S_IMODE(os.stat(out).st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _copy(cap, fh, comments, stats: ReadStats, application: str) -> None:
    write = fh.write
    order = "<"
    if cap.kind == "pcap":
        write(_shb(order, _options_end(order, [_option(order, OPT_SHB_USERAPPL, application.encode())])))
        tsresol = _TSRESOL.get(cap.divisor, 6)
        idb = PCAPNG_IDB.order(order).pack(cap.linktype, 0, cap.snaplen)
        write(_block(order, BLOCK_IDB, idb + _options_end(order, [_option(order, OPT_IF_TSRESOL, bytes([tsresol]))])))
    frame = 0
    declared = 1 if cap.kind == "pcap" else 0  # interfaces of the current section
    left_out = []
    for item in cap.records(stats, raw=True):
        kind = item[0]
        if kind == "packet":
            _, iface, ts, orig, data, options = item
            frame += 1
            stats.packets += 1
            if iface >= declared:  # Wireshark stops reading at such a record: leave it out
                left_out.append(frame)
                stats.skipped += 1
                continue
            kept = [_option(order, code, value) for code, value in pcapng_options(options, 0, len(options), order)]
            kept += [_option(order, OPT_COMMENT, _comment(text)) for text in comments.get(frame, ())]
            body = PCAPNG_EPB.order(order).pack(iface, ts >> 32, ts & 0xFFFFFFFF, len(data), orig)
            write(_block(order, BLOCK_EPB, body + _pad(data) + _options_end(order, kept)))
        elif kind == "section":
            _, order, options = item
            write(_shb(order, options))
            declared = 0
        elif kind == "interface":
            _, order, body = item
            write(_block(order, BLOCK_IDB, body))
            declared += 1
        else:  # "block": copied as it is
            _, order, btype, body = item
            write(_block(order, btype, body))
    if left_out:
        n = len(left_out)
        stats.warnings.append(
            f"{n} record{'s' if n != 1 else ''} on undeclared interfaces left out of the output "
            f"(Wireshark cannot read {'them' if n != 1 else 'it'}): frame{'s' if n != 1 else ''} "
            f"{', '.join(map(str, left_out[:8]))}{' ...' if n > 8 else ''}; the frame numbers the comments "
            f"name count them"
        )
