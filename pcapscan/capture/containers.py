"""Read capture files: pcap (microsecond, nanosecond, either byte order, and
Kuznetsov's modified pcap), pcapng, and gzip of either, into raw records
`(linktype, ts, data)`, then decode them into `model.Packet`s.

Our own reader, not dpkt's: every read is bounded by a sane maximum before
anything is allocated, and damage (a truncated last record, a gzip stream cut
short, an impossible length) ends the capture with a warning instead of an
exception, keeping every packet before it.

Records are numbered 1..N over packet records in file order, as Wireshark
numbers frames; pcapng blocks that carry no packet do not count.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib
from dataclasses import dataclass, field
from typing import Iterator, Optional

from .. import errors
from ..model import Packet
from .decode import LINKTYPE_NAMES, decode_frame, linktype_name

__all__ = ["ReadStats", "read_packets", "open_capture", "Capture", "MAX_RECORD_LEN"]

# No link type we decode needs more; Wireshark's own limit for most of them.
MAX_RECORD_LEN = 256 * 1024
# Room for a packet block's fixed fields and options besides its packet.
MAX_PACKET_BLOCK_LEN = MAX_RECORD_LEN + 64 * 1024
# Section header and interface description blocks: a few options at most.
MAX_HEADER_BLOCK_LEN = 1024 * 1024
_SKIP_CHUNK = 64 * 1024
_FILE_BUFFER = 256 * 1024

# Unknown link type placeholder for records of an undeclared pcapng interface.
UNDECLARED = -1


# --- header layouts, declared as data (dpkt-style) ---------------------------


class Layout:
    """A fixed header: (name, struct format) fields, compiled per byte order."""

    def __init__(self, *fields: tuple):
        self.names = tuple(name for name, _ in fields)
        self.format = "".join(fmt for _, fmt in fields)
        self.le = struct.Struct("<" + self.format)
        self.be = struct.Struct(">" + self.format)
        self.size = self.le.size

    def order(self, byteorder: str) -> struct.Struct:
        return self.le if byteorder == "<" else self.be


PCAP_FILE_HEADER = Layout(
    ("magic", "I"), ("version_major", "H"), ("version_minor", "H"), ("thiszone", "i"),
    ("sigfigs", "I"), ("snaplen", "I"), ("linktype", "I"),
)  # fmt: skip
PCAP_RECORD = Layout(("ts_sec", "I"), ("ts_frac", "I"), ("incl_len", "I"), ("orig_len", "I"))
# Alexey Kuznetsov's patched libpcap: 8 more bytes per record header.
PCAP_MODIFIED_RECORD = Layout(
    ("ts_sec", "I"), ("ts_usec", "I"), ("incl_len", "I"), ("orig_len", "I"),
    ("ifindex", "I"), ("protocol", "H"), ("pkt_type", "B"), ("pad", "x"),
)  # fmt: skip

PCAPNG_BLOCK_HEAD = Layout(("type", "I"), ("total_length", "I"))
PCAPNG_SHB = Layout(("byte_order_magic", "I"), ("version_major", "H"), ("version_minor", "H"), ("section_length", "q"))
PCAPNG_IDB = Layout(("linktype", "H"), ("reserved", "H"), ("snaplen", "I"))
PCAPNG_EPB = Layout(("interface_id", "I"), ("ts_high", "I"), ("ts_low", "I"), ("captured_len", "I"), ("orig_len", "I"))
PCAPNG_PB = Layout(
    ("interface_id", "H"), ("drops_count", "H"), ("ts_high", "I"), ("ts_low", "I"),
    ("captured_len", "I"), ("orig_len", "I"),
)  # fmt: skip
PCAPNG_SPB = Layout(("orig_len", "I"),)
PCAPNG_OPTION = Layout(("code", "H"), ("length", "H"))
_U32 = Layout(("value", "I"))
_I64 = Layout(("value", "q"))

# magic as read little-endian -> (byte order, fraction divisor, record layout)
_PCAP_MAGICS = {
    0xA1B2C3D4: ("<", 1_000_000, PCAP_RECORD),
    0xD4C3B2A1: (">", 1_000_000, PCAP_RECORD),
    0xA1B23C4D: ("<", 1_000_000_000, PCAP_RECORD),
    0x4D3CB2A1: (">", 1_000_000_000, PCAP_RECORD),
    0xA1B2CD34: ("<", 1_000_000, PCAP_MODIFIED_RECORD),
    0x34CDB2A1: (">", 1_000_000, PCAP_MODIFIED_RECORD),
}
_GZIP_MAGIC = b"\x1f\x8b"
_PCAPNG_SHB_TYPE = 0x0A0D0D0A  # a palindrome: the same in both byte orders
_PCAPNG_BOM = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}
_BT_IDB, _BT_PB, _BT_SPB, _BT_EPB = 1, 2, 3, 6
_OPT_ENDOFOPT, _OPT_IF_TSRESOL, _OPT_IF_TSOFFSET = 0, 9, 14

# Errors a damaged gzip stream raises from read(): not I/O errors.
_GZIP_DAMAGE = (EOFError, zlib.error, gzip.BadGzipFile)


@dataclass
class ReadStats:
    """Counters filled while a capture is read."""

    path: str
    packets: int = 0  # records read, decodable or not
    skipped: int = 0  # records that did not decode as IPv4/IPv6
    warnings: list = field(default_factory=list)
    link_types: set = field(default_factory=set)  # names, e.g. {"ethernet"}
    truncated: bool = False  # reading stopped early on damage (see warnings)


class _Stop(Exception):
    """Internal: the capture is damaged here; the message is the warning."""


class Capture:
    """An opened, validated capture; `records(stats)` streams its records."""

    def __init__(self, path: str, fileobj, kind: str, size: Optional[int], compressed: bool):
        self.path = path
        self.file = fileobj
        self.kind = kind  # "pcap" or "pcapng"
        self.size = size  # bytes in the (uncompressed) file, when known
        self.compressed = compressed
        self.pos = 0  # bytes consumed so far
        # pcap
        self.byteorder = "<"
        self.linktype = 0
        self.snaplen = 0
        self.divisor = 1_000_000
        self.record_layout = PCAP_RECORD

    def close(self) -> None:
        self.file.close()

    # -- shared helpers --

    def _read(self, n: int) -> bytes:
        try:
            data = self.file.read(n)
        except EOFError:
            raise _Stop("the gzip stream ends early") from None
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise _Stop(f"the gzip data is damaged ({exc})") from None
        self.pos += len(data)
        return data

    def _ends(self, got: int) -> str:
        where = "the gzip stream" if self.compressed else "the file"
        return f"{where} ends {got} bytes into it"

    def _remaining(self) -> Optional[int]:
        return None if self.size is None else self.size - self.pos

    def records(self, stats: ReadStats) -> Iterator[tuple]:
        reader = self._pcap_records if self.kind == "pcap" else self._pcapng_records
        good = 0

        def count() -> None:
            nonlocal good
            good += 1

        try:
            yield from reader(stats, count)
        except _Stop as stop:
            stats.truncated = True
            stats.warnings.append(f"{stop}; {_covers(good)}")
        finally:
            self.close()

    # -- pcap --

    def _pcap_records(self, stats: ReadStats, count) -> Iterator[tuple]:
        read = self.file.read
        unpack = self.record_layout.order(self.byteorder).unpack
        hlen = self.record_layout.size
        divisor = self.divisor
        linktype = self.linktype
        n = 0
        while True:
            try:
                head = read(hlen)
                if len(head) == hlen:
                    sec, frac, incl, _orig = unpack(head)[:4]
                    if incl > MAX_RECORD_LEN:
                        raise _Stop(
                            f"record {n + 1} is corrupt (its header claims {incl} captured bytes, "
                            f"more than the {MAX_RECORD_LEN} any capture holds)"
                        )
                    data = read(incl)
            except EOFError:
                raise _Stop(f"the gzip stream ends early, in or after record {n}") from None
            except (zlib.error, gzip.BadGzipFile) as exc:
                raise _Stop(f"the gzip data is damaged after record {n} ({exc})") from None
            if len(head) < hlen:
                if head:
                    raise _Stop(f"record {n + 1} is truncated ({self._ends(len(head))}, inside its header)")
                return
            if len(data) < incl:
                raise _Stop(f"record {n + 1} is truncated ({self._ends(hlen + len(data))})")
            n += 1
            count()
            yield linktype, sec + frac / divisor, data

    # -- pcapng --

    def _pcapng_records(self, stats: ReadStats, count) -> Iterator[tuple]:
        order = self.byteorder
        interfaces = self.interfaces
        undeclared: dict = {}  # interface id -> [records, first record]
        head_layout = PCAPNG_BLOCK_HEAD
        n = 0
        try:
            while True:
                block_at = self.pos
                head = self._read(8)
                if len(head) < 8:
                    if head:
                        raise _Stop(
                            f"the capture is truncated after record {n} "
                            f"({self._ends(len(head))}, inside a block header at byte {block_at})"
                        )
                    return
                btype, blen = head_layout.order(order).unpack(head)
                if btype == _PCAPNG_SHB_TYPE:
                    order = self._section(head, block_at, n)
                    interfaces = self.interfaces
                    continue
                self._check_block_length(btype, blen, block_at, n)
                if btype not in (_BT_EPB, _BT_SPB, _BT_PB, _BT_IDB):
                    self._skip(blen - 8, block_at, n)
                    continue
                body = self._block_body(blen, block_at, n, order)
                if btype == _BT_IDB:
                    interfaces.append(self._interface(body, order))
                    continue
                n += 1
                if btype == _BT_EPB:
                    iface, high, low, incl, _orig = PCAPNG_EPB.order(order).unpack_from(body)
                    start = PCAPNG_EPB.size
                elif btype == _BT_SPB:
                    iface, high, low = 0, 0, 0
                    orig = PCAPNG_SPB.order(order).unpack_from(body)[0]
                    start = PCAPNG_SPB.size
                    incl = min(orig, len(body) - start)
                    if iface < len(interfaces) and interfaces[iface][3]:
                        incl = min(incl, interfaces[iface][3])
                else:  # obsolete Packet Block
                    iface, _drops, high, low, incl, _orig = PCAPNG_PB.order(order).unpack_from(body)
                    start = PCAPNG_PB.size
                if start + incl > len(body):
                    raise _Stop(
                        f"record {n} (pcapng block at byte {block_at}) is corrupt "
                        f"(its {incl} captured bytes do not fit in its {blen}-byte block)"
                    )
                count()
                if iface >= len(interfaces):
                    seen = undeclared.setdefault(iface, [0, n])
                    seen[0] += 1
                    yield UNDECLARED, 0.0, b""
                    continue
                linktype, divisor, offset, _snaplen = interfaces[iface]
                yield linktype, ((high << 32) | low) / divisor + offset, body[start : start + incl]
        finally:
            for iface, (records, first) in undeclared.items():
                stats.warnings.append(
                    f"{records} record{'s' if records != 1 else ''} (first: record {first}) refer to "
                    f"interface {iface}, which no interface description block declares; skipped"
                )

    def _check_block_length(self, btype: int, blen: int, block_at: int, n: int) -> None:
        remaining = self._remaining()
        if blen < 12 or blen % 4 or (remaining is not None and blen - 8 > remaining):
            raise _Stop(
                f"the pcapng block at byte {block_at} (after record {n}) has an impossible length {blen}"
                + (f" ({remaining + 8} bytes remain)" if remaining is not None and blen - 8 > remaining else "")
            )
        limit = MAX_HEADER_BLOCK_LEN if btype == _BT_IDB else MAX_PACKET_BLOCK_LEN
        if btype in (_BT_EPB, _BT_SPB, _BT_PB, _BT_IDB) and blen > limit:
            what = f"record {n + 1} (pcapng block at byte {block_at})" if btype != _BT_IDB else (
                f"the interface block at byte {block_at}"
            )
            raise _Stop(f"{what} is corrupt (block length {blen}, more than the {limit} allowed)")

    def _block_body(self, blen: int, block_at: int, n: int, order: str) -> bytes:
        """The rest of a block after its 8-byte head: body plus trailing length."""
        rest = self._read(blen - 8)
        if len(rest) < blen - 8:
            raise _Stop(
                f"record {n + 1} (pcapng block at byte {block_at}) is truncated ({self._ends(8 + len(rest))})"
                if blen > 12
                else f"the capture is truncated after record {n} ({self._ends(8 + len(rest))})"
            )
        trailer = _U32.order(order).unpack_from(rest, len(rest) - 4)[0]
        if trailer != blen:
            raise _Stop(
                f"the pcapng block at byte {block_at} (after record {n}) is corrupt "
                f"(its lengths disagree: {blen} and {trailer})"
            )
        return rest[:-4]

    def _skip(self, count: int, block_at: int, n: int) -> None:
        left = count
        while left > 0:
            got = len(self._read(min(left, _SKIP_CHUNK)))
            if got == 0:
                raise _Stop(
                    f"the capture is truncated after record {n} "
                    f"({self._ends(8 + count - left)}: a block at byte {block_at})"
                )
            left -= got

    def _interface(self, body: bytes, order: str) -> tuple:
        """(linktype, timestamp divisor, timestamp offset, snaplen) of an IDB."""
        if len(body) < PCAPNG_IDB.size:
            raise _Stop("an interface description block is too short")
        linktype, _reserved, snaplen = PCAPNG_IDB.order(order).unpack_from(body)
        divisor, offset = 1_000_000, 0
        for code, value in _options(body, PCAPNG_IDB.size, order):
            if code == _OPT_IF_TSRESOL and len(value) >= 1:
                exponent = value[0] & 0x7F
                divisor = (2 if value[0] & 0x80 else 10) ** exponent
            elif code == _OPT_IF_TSOFFSET and len(value) >= 8:
                offset = _I64.order(order).unpack_from(value)[0]
        return linktype, divisor, offset, snaplen

    def _section(self, head: bytes, block_at: int, n: int) -> str:
        """Read a section header block whose 8-byte head is `head`; a new
        section starts with no interfaces. Returns its byte order."""
        bom = self._read(4)
        order = _PCAPNG_BOM.get(bom)
        if order is None:
            raise _Stop(
                f"the pcapng section header at byte {block_at} (after record {n}) is corrupt "
                f"(byte-order magic 0x{bom.hex()})"
            )
        blen = PCAPNG_BLOCK_HEAD.order(order).unpack(head)[1]
        remaining = self._remaining()
        if blen < 28 or blen % 4 or blen > MAX_HEADER_BLOCK_LEN or (remaining is not None and blen - 12 > remaining):
            raise _Stop(f"the pcapng section header at byte {block_at} (after record {n}) has an impossible length {blen}")
        rest = self._read(blen - 12)
        if len(rest) < blen - 12:
            raise _Stop(f"the capture is truncated after record {n} ({self._ends(12 + len(rest))}: a section header)")
        self.byteorder = order
        self.interfaces = []
        return order


def _options(body: bytes, i: int, order: str):
    """(code, value) pairs of a pcapng options list starting at `i`."""
    layout = PCAPNG_OPTION.order(order)
    end = len(body)
    while i + 4 <= end:
        code, size = layout.unpack_from(body, i)
        if code == _OPT_ENDOFOPT:
            return
        value = body[i + 4 : i + 4 + size]
        yield code, value
        i += 4 + ((size + 3) & ~3)


def _covers(good: int) -> str:
    if good == 0:
        return "no records could be read"
    if good == 1:
        return "results cover record 1"
    return f"results cover records 1-{good}"


# --- opening and validating ---------------------------------------------------


def open_capture(path) -> Capture:
    """Open and validate a capture; raise errors.* for anything unreadable."""
    path = os.fspath(path)
    try:
        raw = open(path, "rb", buffering=_FILE_BUFFER)
    except FileNotFoundError:
        raise errors.CaptureNotFound(f"capture not found: {path}") from None
    except IsADirectoryError:
        raise errors.InputError(f"{path} is a directory, not a capture") from None
    except OSError as exc:
        raise errors.InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return _validate(path, raw)
    except BaseException:
        raw.close()
        raise


def _validate(path: str, raw) -> Capture:
    try:
        st = os.fstat(raw.fileno())
        if os.path.isdir(path):
            raise errors.InputError(f"{path} is a directory, not a capture")
        start = raw.read(4)
    except IsADirectoryError:
        raise errors.InputError(f"{path} is a directory, not a capture") from None
    except OSError as exc:
        raise errors.InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not start:
        raise errors.NotACapture(f"{path} is not a capture (empty file)")
    if start[:2] == _GZIP_MAGIC:
        raw.seek(0)
        fileobj = gzip.GzipFile(fileobj=raw, mode="rb")
        try:
            start = fileobj.read(4)
        except _GZIP_DAMAGE as exc:
            raise errors.NotACapture(f"{path} is a damaged gzip file ({exc})") from None
        except OSError as exc:
            raise errors.InputError(f"cannot read {path}: {exc.strerror or exc}") from None
        if len(start) < 4 or not _is_capture_magic(start):
            raise errors.NotACapture(
                f"{path} is gzip-compressed but not a pcap or pcapng capture (starts with 0x{start.hex()})"
            )
        cap = Capture(path, fileobj, "", None, True)
    else:
        if len(start) < 4 or not _is_capture_magic(start):
            raise errors.NotACapture(f"{path} is not a pcap or pcapng capture (starts with 0x{start.hex()})")
        cap = Capture(path, raw, "", st.st_size, False)
    cap.pos = 4
    try:
        if start == b"\x0a\x0d\x0d\x0a":
            _open_pcapng(cap)
        else:
            _open_pcap(cap, start)
    except _Stop as stop:
        raise errors.NotACapture(f"{path} is a damaged capture: {stop}") from None
    except OSError as exc:
        raise errors.InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return cap


def _is_capture_magic(start: bytes) -> bool:
    return start == b"\x0a\x0d\x0d\x0a" or struct.unpack("<I", start)[0] in _PCAP_MAGICS


def _open_pcap(cap: Capture, start: bytes) -> None:
    byteorder, divisor, layout = _PCAP_MAGICS[struct.unpack("<I", start)[0]]
    rest = cap._read(PCAP_FILE_HEADER.size - 4)
    if len(rest) < PCAP_FILE_HEADER.size - 4:
        raise _Stop(f"its pcap file header is cut short ({4 + len(rest)} of {PCAP_FILE_HEADER.size} bytes)")
    fields = PCAP_FILE_HEADER.order(byteorder).unpack(start + rest)
    header = dict(zip(PCAP_FILE_HEADER.names, fields))
    cap.kind = "pcap"
    cap.byteorder = byteorder
    cap.divisor = divisor
    cap.record_layout = layout
    cap.snaplen = header["snaplen"]
    cap.linktype = header["linktype"] & 0xFFFF  # upper bits: FCS length information


def _open_pcapng(cap: Capture) -> None:
    cap.kind = "pcapng"
    cap.interfaces = []
    length = cap._read(4)
    if len(length) < 4:
        raise _Stop("its pcapng section header is cut short")
    cap.byteorder = cap._section(b"\x0a\x0d\x0d\x0a" + length, 0, 0)


# --- records to packets ---------------------------------------------------------


def read_packets(path, stats: Optional[ReadStats] = None) -> Iterator[Packet]:
    """Stream the decoded IP packets of a capture.

    Opening errors raise here, before any packet (errors.CaptureNotFound,
    errors.NotACapture, errors.InputError). Afterwards damage only ends the
    stream with a warning in `stats`; records that are not IP are counted in
    `stats.skipped`.
    """
    cap = open_capture(path)
    if stats is None:
        stats = ReadStats(os.fspath(path))
    return _packets(cap, stats)


def _packets(cap: Capture, stats: ReadStats) -> Iterator[Packet]:
    unknown: dict = {}  # unsupported link type -> records
    seen_linktypes: set = set()
    frame = stats.packets  # 0 unless the caller reuses a ReadStats
    decode = decode_frame
    supported = LINKTYPE_NAMES
    try:
        for linktype, ts, data in cap.records(stats):
            frame += 1
            stats.packets = frame
            if linktype not in seen_linktypes:
                seen_linktypes.add(linktype)
                if linktype != UNDECLARED:
                    stats.link_types.add(linktype_name(linktype))
            if linktype not in supported:
                if linktype != UNDECLARED:
                    unknown[linktype] = unknown.get(linktype, 0) + 1
                stats.skipped += 1
                continue
            pkt = decode(linktype, data, frame, ts)
            if pkt is None:
                stats.skipped += 1
                continue
            yield pkt
    finally:
        for linktype, records in sorted(unknown.items()):
            stats.warnings.append(
                f"link type {linktype} is not supported; {records} record{'s' if records != 1 else ''} skipped"
            )
