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
import stat
import struct
import zlib
from dataclasses import dataclass, field
from typing import Iterator, Optional

from .. import errors
from ..messages import said
from ..model import Packet
from .decode import LINKTYPE_NAMES, NOT_IP, decode_arp, decode_frame, linktype_name

__all__ = ["ReadStats", "read_packets", "open_capture", "Capture", "MAX_RECORD_LEN"]

# No link type we decode needs more; Wireshark's own limit for most of them.
MAX_RECORD_LEN = 256 * 1024
# Room for a packet block's fixed fields and options besides its packet.
MAX_PACKET_BLOCK_LEN = MAX_RECORD_LEN + 64 * 1024
# Section header and interface description blocks: a few options at most.
MAX_HEADER_BLOCK_LEN = 1024 * 1024
_SKIP_CHUNK = 64 * 1024
FILE_BUFFER = 256 * 1024

# Unknown link type placeholder for records of an undeclared pcapng interface.
UNDECLARED = -1
# Undeclared interface ids named one by one in the warnings; the rest are summed up.
_MAX_UNDECLARED_NAMED = 16
# Interface description blocks per pcapng section: real captures have a few.
MAX_INTERFACES = 65536
# A gzip stream that inflates to more than this many times its compressed size
# (judged once it has inflated past _GZIP_RATIO_FROM bytes) is a decompression
# bomb, not a capture: real captures of scans inflate 2 to 30 times (zeros,
# or one packet repeated with one timestamp, about 1000). Reading stops there
# with a warning, keeping the packets before, so that a few megabytes on disk
# cannot make pcapscan inflate and walk gigabytes: at most 200 times the file.
MAX_GZIP_RATIO = 200
_GZIP_RATIO_FROM = 16 * 1024 * 1024


# --- header layouts, declared as data (dpkt-style) ---------------------------


class Layout:
    """A fixed header: (name, struct format) fields, compiled per byte order."""

    def __init__(self, *fields: tuple):
        self.names = tuple(name for name, _ in fields)
        self.format = "".join(fmt for _, fmt in fields)
        self.le = struct.Struct("<" + self.format)
        self.be = struct.Struct(">" + self.format)
        self.size = self.le.size
        at, self.offsets = 0, {}
        for name, fmt in fields:
            self.offsets[name] = at
            at += struct.calcsize("<" + fmt)

    def at(self, name: str) -> int:
        """The byte offset of a field in the header."""
        return self.offsets[name]

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
PCAPNG_SHB_TYPE = 0x0A0D0D0A  # a palindrome: the same in both byte orders
_PCAPNG_SHB_MAGIC = b"\x0a\x0d\x0d\x0a"
_PCAPNG_BOM = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}
# pcapng block types: interface description, packet (obsolete), simple packet, enhanced packet
BT_IDB, BT_PB, BT_SPB, BT_EPB = 1, 2, 3, 6
_OPT_ENDOFOPT, _OPT_IF_TSRESOL, _OPT_IF_TSOFFSET = 0, 9, 14

# Errors a damaged gzip stream raises from read(): not I/O errors.
GZIP_DAMAGE = (EOFError, zlib.error, gzip.BadGzipFile)


# --- the per-record rules, stated once ----------------------------------------
# Every walk of the records reads these: this reader's loops, the fast path's
# bulk walk (fastpath/walk.py) and its reading again by offset
# (fastpath/scans.RecordReader), cluster's chunk planner. Where a record
# header's fields are, what makes a record impossible, and the words for it.

# pcap: both record layouts (plain, Kuznetsov's) start with these fields.
PCAP_TS_SEC_AT = PCAP_RECORD.at("ts_sec")
PCAP_TS_FRAC_AT = PCAP_RECORD.at("ts_frac")
PCAP_INCL_AT = PCAP_RECORD.at("incl_len")
if (PCAP_MODIFIED_RECORD.at("ts_usec"), PCAP_MODIFIED_RECORD.at("incl_len")) != (PCAP_TS_FRAC_AT, PCAP_INCL_AT):
    raise ImportError("the pcap record layouts disagree on where their common fields are")
PCAP_TIMES = Layout(("ts_sec", "I"), ("ts_frac", "I"), ("incl_len", "I"))  # what a record walk reads of a header

# pcapng: a block is its head (type, length), a body, and its length again.
PCAPNG_MIN_BLOCK = PCAPNG_BLOCK_HEAD.size + _U32.size
# An enhanced packet block's fields, as offsets from the block's start; its packet follows them.
EPB_AT = {name: PCAPNG_BLOCK_HEAD.size + at for name, at in PCAPNG_EPB.offsets.items()}
EPB_DATA_AT = PCAPNG_BLOCK_HEAD.size + PCAPNG_EPB.size
EPB_MIN_BLOCK = PCAPNG_MIN_BLOCK + PCAPNG_EPB.size


def impossible_block_length(blen) -> bool:
    """A pcapng block length no block can have (shorter than its head and trailer, not 32-bit aligned)."""
    return blen < PCAPNG_MIN_BLOCK or (blen & 3) != 0


def packet_overflows_block(start, incl, blen) -> bool:
    """Do `incl` captured bytes from `start` (of the block's body) run past the block's trailer?"""
    return start + incl > blen - PCAPNG_MIN_BLOCK


def pcap_time(sec, frac, divisor):
    """A pcap record's timestamp in seconds; on numbers or on float64 columns alike."""
    return sec + frac / divisor


def pcapng_time(ticks, divisor, offset):
    """A pcapng packet's timestamp in seconds from its interface's ticks
    (if_tsresol's divisor, if_tsoffset's seconds); on numbers or columns alike."""
    return ticks / divisor + offset


def corrupt_record_text(number: int, incl: int) -> str:
    return said("read.corrupt", number=number, incl=incl, limit=MAX_RECORD_LEN)


def truncated_record_text(number: int, ends: str, inside_header: bool = False) -> str:
    """`ends`: Capture.ends(...), where the stream ends."""
    return said("read.truncated.header" if inside_header else "read.truncated", number=number, ends=ends)


def damage_warning(message: str, good: int) -> str:
    """The warning of damage that ends a capture after `good` records."""
    return said("read.damage", damage=message, cover=good_records_text(good))


def unsupported_link_type_warnings(unknown: dict) -> list:
    """The warnings for records of link types we do not decode (link type -> records)."""
    return [said("read.link-type", linktype=linktype, records=records, s=plural_s(records))
            for linktype, records in sorted(unknown.items())]


@dataclass
class ReadStats:
    """Counters filled while a capture is read."""

    path: str
    packets: int = 0  # records read, decodable or not
    skipped: int = 0  # records that did not decode (damaged, cut short, unsupported link type)
    non_ip: int = 0  # well-formed frames that carry no IP: ARP, LLDP, STP
    warnings: list = field(default_factory=list)
    link_types: set = field(default_factory=set)  # names, e.g. {"ethernet"}
    truncated: bool = False  # reading stopped early on damage (see warnings)


class ReadStop(Exception):
    """Internal: the capture is damaged here; the message is the warning."""


def plural_s(n: int) -> str:
    return "" if n == 1 else "s"


class Capture:
    """An opened, validated capture; `records(stats)` streams its records
    as (linktype, ts, data) and closes the file at the end."""

    def __init__(self, path: str, fileobj, size: Optional[int], compressed: bool, raw=None):
        self.path = path
        self.file = fileobj
        self.raw = raw  # the file under a GzipFile, which does not close it
        self.size = size  # bytes in the file, when known (not for gzip or pipes)
        self.compressed = compressed
        self.kind = ""  # "pcap" or "pcapng"
        self.pos = 0  # bytes consumed so far (uncompressed)
        self.count = 0  # packet records read so far
        self.byteorder = "<"
        # pcap
        self.linktype = 0
        self.divisor = 1_000_000
        self.record_layout = PCAP_RECORD
        self.snaplen = 0
        # pcapng: per interface (linktype, timestamp divisor, timestamp offset, snaplen)
        self.interfaces: list = []
        self.section_options = b""  # the current section header's options, as in the file

    def close(self) -> None:
        self.file.close()
        if self.raw is not None:
            self.raw.close()

    def records(self, stats: ReadStats, raw: bool = False) -> Iterator[tuple]:
        """Stream (linktype, ts, data) per packet record. Damage ends the
        stream with a warning in `stats`; only real I/O errors raise
        (as errors.InputError).

        `raw`: stream what a writer needs to copy the capture exactly instead
        (capture/pcapng_writer.py): ("packet", interface id, raw timestamp,
        original length, data, option bytes) per packet record, the raw
        timestamp in its interface's units (pcap: seconds * divisor +
        fraction); for pcapng also ("section", byte order, option bytes),
        ("interface", byte order, body) and ("block", byte order, type, body)
        for every other block, in file order."""
        reader = self._pcap_records if self.kind == "pcap" else self.pcapng_records
        try:
            yield from reader(stats, raw)
        except ReadStop as stop:
            stats.truncated = True
            stats.warnings.append(damage_warning(stop.args[0], self.count))
        except OSError as exc:
            raise errors.InputError(said("error.cannot-read", path=self.path, why=str(exc.strerror or exc))) from exc
        finally:
            self.close()

    # -- helpers --

    def _read(self, n: int) -> bytes:
        """A bounded read, for headers (the record loops inline their reads)."""
        try:
            data = self.file.read(n)
        except GZIP_DAMAGE as exc:
            raise ReadStop(_gzip_damage(exc, self.count)) from None
        self.pos += len(data)
        return data

    def _check_inflation(self) -> None:
        """Stop a gzip bomb (see MAX_GZIP_RATIO); called every few records."""
        inflated, compressed = self.file.tell(), self.raw.tell()
        if inflated > _GZIP_RATIO_FROM and inflated > MAX_GZIP_RATIO * compressed:
            raise ReadStop(said("read.gzip.bomb", ratio=MAX_GZIP_RATIO, inflated=inflated, compressed=compressed))

    def ends(self, got: int) -> str:
        """Where the stream ends, `got` bytes into what was being read."""
        return said("read.ends.gzip" if self.compressed else "read.ends.file", got=got, s=plural_s(got))

    # -- pcap --

    def _pcap_records(self, stats: ReadStats, raw: bool = False) -> Iterator[tuple]:
        read = self.file.read
        unpack = self.record_layout.order(self.byteorder).unpack
        hlen = self.record_layout.size
        divisor = self.divisor
        linktype = self.linktype
        compressed = self.compressed
        n = 0
        while True:
            try:
                head = read(hlen)
                if len(head) == hlen:
                    sec, frac, incl, orig = unpack(head)[:4]
                    if incl > MAX_RECORD_LEN:
                        raise ReadStop(corrupt_record_text(n + 1, incl))
                    data = read(incl)
            except GZIP_DAMAGE as exc:
                raise ReadStop(_gzip_damage(exc, n)) from None
            if len(head) < hlen:
                if head:
                    raise ReadStop(truncated_record_text(n + 1, self.ends(len(head)), inside_header=True))
                return
            if len(data) < incl:
                raise ReadStop(truncated_record_text(n + 1, self.ends(hlen + len(data))))
            n += 1
            self.count = n
            if raw:
                yield "packet", 0, sec * divisor + frac, orig, data, b""
            else:
                yield linktype, pcap_time(sec, frac, divisor), data
            if compressed and not n & 0xFF:
                self._check_inflation()

    # -- pcapng --

    def pcapng_records(self, stats: ReadStats, raw: bool = False) -> Iterator[tuple]:
        read = self.file.read
        size = self.size
        undeclared: dict = {}  # interface id (None: any other) -> [records, first record]
        compressed = self.compressed
        blocks = 0
        n = 0
        try:
            if raw:
                yield "section", self.byteorder, self.section_options
            while True:  # one section per pass
                order = self.byteorder
                interfaces = self.interfaces
                head_s = PCAPNG_BLOCK_HEAD.order(order)
                epb_s = PCAPNG_EPB.order(order)
                u32_s = _U32.order(order)
                while True:  # one block per pass
                    block_at = self.pos
                    head = read(8)
                    self.pos += len(head)
                    if len(head) < 8:
                        if head:
                            raise ReadStop(said("read.after-record", n=n, ends=self.ends(len(head)), at=block_at))
                        return
                    btype, blen = head_s.unpack(head)
                    blocks += 1
                    if compressed and not blocks & 0xFF:
                        self._check_inflation()
                    if btype == PCAPNG_SHB_TYPE:
                        self._section(head, block_at)
                        if raw:
                            yield "section", self.byteorder, self.section_options
                        break
                    is_packet = btype == BT_EPB or btype == BT_SPB or btype == BT_PB
                    what = said("read.what.record", n=n + 1, at=block_at) if is_packet else \
                        said("read.what.block", at=block_at, n=n)
                    if impossible_block_length(blen):
                        raise ReadStop(said("read.block.impossible", what=what, blen=blen))
                    if is_packet or btype == BT_IDB or raw:
                        limit = MAX_PACKET_BLOCK_LEN if is_packet else MAX_HEADER_BLOCK_LEN
                        if blen > limit:
                            raise ReadStop(said("read.block.too-long", what=what, blen=blen, limit=limit))
                    if size is not None and blen - 8 > size - self.pos:
                        raise ReadStop(said("read.block.short-file", what=what, blen=blen,
                                            ends=self.ends(size - block_at)))
                    if not is_packet and btype != BT_IDB and not raw:
                        self._skip(blen - 8, what)
                        continue
                    rest = read(blen - 8)
                    self.pos += len(rest)
                    if len(rest) < blen - 8:
                        raise ReadStop(said("read.block.truncated", what=what, ends=self.ends(8 + len(rest))))
                    trailer = u32_s.unpack_from(rest, blen - PCAPNG_MIN_BLOCK)[0]
                    if trailer != blen:
                        raise ReadStop(said("read.block.lengths", what=what, blen=blen, trailer=trailer))
                    if btype == BT_IDB:
                        if len(interfaces) >= MAX_INTERFACES:
                            raise ReadStop(said("read.block.interfaces", what=what, limit=MAX_INTERFACES))
                        interfaces.append(self.interface_block(rest, blen - PCAPNG_MIN_BLOCK, order))
                        if raw:
                            yield "interface", order, rest[: blen - PCAPNG_MIN_BLOCK]
                        continue
                    if not is_packet:  # raw: a block we do not read, copied as it is
                        yield "block", order, btype, rest[: blen - PCAPNG_MIN_BLOCK]
                        continue
                    n += 1
                    if btype == BT_EPB:
                        if blen < EPB_MIN_BLOCK:
                            raise ReadStop(said("read.block.too-short", what=what, blen=blen))
                        iface, high, low, incl, orig = epb_s.unpack_from(rest)
                        start = PCAPNG_EPB.size
                    elif btype == BT_SPB:
                        if blen < PCAPNG_MIN_BLOCK + PCAPNG_SPB.size:
                            raise ReadStop(said("read.block.too-short", what=what, blen=blen))
                        iface, high, low = 0, 0, 0
                        start = PCAPNG_SPB.size
                        orig = PCAPNG_SPB.order(order).unpack_from(rest)[0]
                        incl = min(orig, blen - PCAPNG_MIN_BLOCK - start)
                        if interfaces and interfaces[0][3]:
                            incl = min(incl, interfaces[0][3])
                    else:  # the obsolete Packet Block
                        if blen < PCAPNG_MIN_BLOCK + PCAPNG_PB.size:
                            raise ReadStop(said("read.block.too-short", what=what, blen=blen))
                        iface, _drops, high, low, incl, orig = PCAPNG_PB.order(order).unpack_from(rest)
                        start = PCAPNG_PB.size
                    if packet_overflows_block(start, incl, blen):
                        raise ReadStop(said("read.block.overflow", what=what, incl=incl, blen=blen))
                    self.count = n
                    if raw:  # options follow the packet, padded to 32 bits (none in a simple packet block)
                        options = rest[start + ((incl + 3) & ~3) : blen - PCAPNG_MIN_BLOCK] if btype != BT_SPB else b""
                        yield "packet", iface, (high << 32) | low, orig, rest[start : start + incl], options
                        continue
                    if iface >= len(interfaces):
                        if iface not in undeclared and len(undeclared) >= _MAX_UNDECLARED_NAMED:
                            iface = None  # so many undeclared ids: count the others together
                        seen = undeclared.setdefault(iface, [0, n])
                        seen[0] += 1
                        yield UNDECLARED, 0.0, b""
                        continue
                    linktype, divisor, offset, _snaplen = interfaces[iface]
                    yield linktype, pcapng_time((high << 32) | low, divisor, offset), rest[start : start + incl]
        except GZIP_DAMAGE as exc:
            raise ReadStop(_gzip_damage(exc, n)) from None
        finally:
            others = undeclared.pop(None, None)
            for iface, (records, first) in undeclared.items():
                stats.warnings.append(said("read.undeclared", records=records, s=plural_s(records), first=first,
                                           iface=iface))
            if others is not None:
                records, first = others
                stats.warnings.append(said("read.undeclared.more", records=records, s=plural_s(records), first=first))

    def _skip(self, count: int, what: str) -> None:
        """Step over a block we do not read, in bounded chunks."""
        read = self.file.read
        left = count
        while left > 0:
            if self.compressed:
                self._check_inflation()
            got = len(read(min(left, _SKIP_CHUNK)))
            self.pos += got
            if got == 0:
                raise ReadStop(said("read.block.truncated", what=what, ends=self.ends(8 + count - left)))
            left -= got

    def interface_block(self, body: bytes, end: int, order: str) -> tuple:
        """(linktype, timestamp divisor, timestamp offset, snaplen) of an IDB."""
        if end < PCAPNG_IDB.size:
            raise ReadStop(said("read.idb-short", n=self.count))
        linktype, _reserved, snaplen = PCAPNG_IDB.order(order).unpack_from(body)
        divisor, offset = 1_000_000, 0
        for code, value in pcapng_options(body, PCAPNG_IDB.size, end, order):
            if code == _OPT_IF_TSRESOL and len(value) >= 1:
                divisor = (2 if value[0] & 0x80 else 10) ** (value[0] & 0x7F)
            elif code == _OPT_IF_TSOFFSET and len(value) >= 8:
                offset = _I64.order(order).unpack_from(value)[0]
        return linktype, divisor, offset, snaplen

    def _section(self, head: bytes, block_at: int) -> None:
        """Read a section header block whose first 8 bytes are `head`. A new
        section has its own byte order and starts with no interfaces."""
        where = said("read.what.section-at", at=block_at, n=self.count) if block_at else said("read.what.section")
        bom = self._read(4)
        order = _PCAPNG_BOM.get(bom)
        if order is None:
            raise ReadStop(said("read.section.magic", what=where, magic=bom.hex()))
        blen = PCAPNG_BLOCK_HEAD.order(order).unpack(head)[1]
        if (
            blen < 28
            or blen & 3
            or blen > MAX_HEADER_BLOCK_LEN
            or (self.size is not None and blen - 12 > self.size - self.pos)
        ):
            raise ReadStop(said("read.section.length", what=where, blen=blen))
        rest = self._read(blen - 12)
        if len(rest) < blen - 12:
            raise ReadStop(said("read.block.truncated", what=where, ends=self.ends(12 + len(rest))))
        _bom, major, minor, _section_length = PCAPNG_SHB.order(order).unpack_from(bom + rest)
        if major != 1:
            raise ReadStop(said("read.section.version", what=where, major=major, minor=minor))
        self.byteorder = order
        self.interfaces = []
        self.section_options = rest[PCAPNG_SHB.size - 4 : blen - 16]


def _gzip_damage(exc: BaseException, good: int) -> str:
    if isinstance(exc, EOFError):
        return said("read.gzip.ends", good=good)
    return said("read.gzip.damaged", good=good, error=str(exc))


def pcapng_options(body: bytes, i: int, end: int, order: str):
    """(code, value) pairs of a pcapng options list in body[i:end]."""
    layout = PCAPNG_OPTION.order(order)
    while i + 4 <= end:
        code, size = layout.unpack_from(body, i)
        if code == _OPT_ENDOFOPT:
            return
        value = body[i + 4 : min(i + 4 + size, end)]
        yield code, value
        i += 4 + ((size + 3) & ~3)


def good_records_text(good: int) -> str:
    if good == 0:
        return said("read.cover.none")
    if good == 1:
        return said("read.cover.one")
    return said("read.cover", good=good)


# --- opening and validating ---------------------------------------------------


def open_capture(path) -> Capture:
    """Open and validate a capture; raise errors.* for anything unreadable."""
    path = os.fspath(path)
    try:
        raw = open(path, "rb", buffering=FILE_BUFFER)
    except FileNotFoundError:
        raise errors.CaptureNotFound(said("error.not-found", path=path)) from None
    except IsADirectoryError:
        raise errors.InputError(said("error.directory", path=path)) from None
    except OSError as exc:
        raise errors.InputError(said("error.cannot-read", path=path, why=str(exc.strerror or exc))) from None
    try:
        return _validate(path, raw)
    except BaseException:
        raw.close()
        raise


def _validate(path: str, raw) -> Capture:
    try:
        st = os.fstat(raw.fileno())
        if stat.S_ISDIR(st.st_mode):
            raise errors.InputError(said("error.directory", path=path))
        start = raw.peek(4)[:4]
    except IsADirectoryError:
        raise errors.InputError(said("error.directory", path=path)) from None
    except OSError as exc:
        raise errors.InputError(said("error.cannot-read", path=path, why=str(exc.strerror or exc))) from None
    if not start:
        raise errors.NotACapture(said("error.empty-file", path=path))
    if start[:2] == _GZIP_MAGIC:
        fileobj = gzip.GzipFile(fileobj=raw, mode="rb")
        try:
            start = fileobj.read(4)
        except GZIP_DAMAGE as exc:
            raise errors.NotACapture(said("error.damaged-gzip", path=path, error=str(exc))) from None
        except OSError as exc:
            raise errors.InputError(said("error.cannot-read", path=path, why=str(exc.strerror or exc))) from None
        if len(start) < 4 or not _is_capture_magic(start):
            raise errors.NotACapture(said("error.gzip-not-capture", path=path, start=start.hex()))
        cap = Capture(path, fileobj, None, True, raw)
    else:
        if len(start) < 4 or not _is_capture_magic(start):
            raise errors.NotACapture(said("error.not-capture", path=path, start=start.hex()))
        raw.read(4)
        cap = Capture(path, raw, st.st_size if stat.S_ISREG(st.st_mode) else None, False)
    cap.pos = 4
    try:
        if start == _PCAPNG_SHB_MAGIC:
            _open_pcapng(cap)
        else:
            _open_pcap(cap, start)
    except ReadStop as stop:
        raise errors.NotACapture(said("error.damaged", path=path, damage=stop.args[0])) from None
    except OSError as exc:
        raise errors.InputError(said("error.cannot-read", path=path, why=str(exc.strerror or exc))) from None
    return cap


def _is_capture_magic(start: bytes) -> bool:
    return start == _PCAPNG_SHB_MAGIC or struct.unpack("<I", start)[0] in _PCAP_MAGICS


def _open_pcap(cap: Capture, start: bytes) -> None:
    byteorder, divisor, layout = _PCAP_MAGICS[struct.unpack("<I", start)[0]]
    rest = cap._read(PCAP_FILE_HEADER.size - 4)
    if len(rest) < PCAP_FILE_HEADER.size - 4:
        raise ReadStop(said("read.pcap-header", got=4 + len(rest), size=PCAP_FILE_HEADER.size))
    fields = PCAP_FILE_HEADER.order(byteorder).unpack(start + rest)
    header = dict(zip(PCAP_FILE_HEADER.names, fields))
    cap.kind = "pcap"
    cap.byteorder = byteorder
    cap.divisor = divisor
    cap.record_layout = layout
    cap.linktype = header["linktype"] & 0xFFFF  # upper bits: FCS length information
    cap.snaplen = header["snaplen"]


def _open_pcapng(cap: Capture) -> None:
    cap.kind = "pcapng"
    cap.interfaces = []
    length = cap._read(4)
    if len(length) < 4:
        raise ReadStop(said("read.pcapng-header"))
    cap._section(_PCAPNG_SHB_MAGIC + length, 0)


# --- records to packets ---------------------------------------------------------


def read_packets(path, stats: Optional[ReadStats] = None, arp: bool = False, progress=None) -> Iterator[Packet]:
    """Stream the decoded IP packets of a capture (and, with `arp`, its ARP
    requests and replies as Packets of proto "arp", still counted in
    `stats.non_ip`: they carry no IP).

    Opening errors raise here, before any packet (errors.CaptureNotFound,
    errors.NotACapture, errors.InputError). Afterwards damage only ends the
    stream with a warning in `stats`; records that do not decode are counted
    in `stats.skipped`, frames that carry no IP (ARP...) in `stats.non_ip`.
    `progress(done, total, packets, "reading")` hears of the bytes read
    (total 0 when unknown: gzip) every PROGRESS_EVERY records.
    """
    cap = open_capture(path)
    if stats is None:
        stats = ReadStats(os.fspath(path))
    return decoded_packets(cap, stats, arp, progress)


PROGRESS_EVERY = 1 << 16


def decoded_packets(cap: Capture, stats: ReadStats, arp: bool = False, progress=None) -> Iterator[Packet]:
    unknown: dict = {}  # unsupported link type -> records
    seen_linktypes: set = set()
    frame = 0
    decode = decode_frame
    supported = LINKTYPE_NAMES
    try:
        for linktype, ts, data in cap.records(stats):
            frame += 1
            stats.packets += 1
            if progress is not None and not frame % PROGRESS_EVERY:
                progress(cap.pos, cap.size or 0, frame, "reading")
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
            elif pkt is NOT_IP:
                stats.non_ip += 1
                if arp:
                    found = decode_arp(linktype, data, frame, ts)
                    if found is not None:
                        yield found
            else:
                yield pkt
    finally:
        stats.warnings.extend(unsupported_link_type_warnings(unknown))
