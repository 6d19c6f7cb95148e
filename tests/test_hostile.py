"""Hostile captures (issue 10): every case answers in seconds, in bounded
memory, and keeps the packets before the damage.

Each capture is analyzed in a child process (`pcapscan.analysis.analyze_capture`,
then the table and JSON renderers), which reports its peak resident memory
(VmHWM, the interpreter and imports included) and its time. The
bounds are generous guards, not measurements: speed is measured in
benchmarks/, not asserted here. The bad-input tests of tests/test_capture.py
check messages record by record; these check the resources.
"""
from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pcapbuild import (  # noqa: E402
    MSS_1460,
    epb,
    ether,
    gzipped,
    idb,
    ipv4,
    ipv4_icmp_unreach,
    ipv4_tcp,
    pcap_bytes,
    pcapng_bytes,
    shb,
    sll,
    spb,
    tcp_header,
)

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
PEAK_BOUND_MIB = 200  # the whole child process, interpreter included
TIME_BOUND_S = 20.0  # a guard against hangs, not a benchmark

S, T = "198.51.100.1", "198.51.100.2"
SYN, RST, ACK = 0x02, 0x04, 0x10

# A small SYN scan: 80 open, 81 closed, 82 filtered (no answer). Every hostile
# capture below starts with it, so that "the packets before the damage are
# kept" means: this scan is still found, port by port.
_syn = {p: ipv4_tcp(S, T, 40000, p, SYN, seq=1000, options=MSS_1460, ttl=50, ip_id=p) for p in (80, 81, 82)}
SCAN = [
    _syn[80],
    ipv4_tcp(T, S, 80, 40000, SYN | ACK, seq=7000, ack=1001, options=MSS_1460),
    ipv4_tcp(S, T, 40000, 80, RST, seq=1001),
    _syn[81],
    ipv4_tcp(T, S, 81, 40000, RST | ACK, seq=0, ack=1001),
    _syn[82],
]
SCAN_PORTS = {80: "open", 81: "closed", 82: "filtered"}
SCAN_TS = [1000.0 + i * 0.05 for i in range(len(SCAN))]


def scan_records(start=1000.0):
    return [(start + i * 0.05, ether(p)) for i, p in enumerate(SCAN)]


def scan_pcapng_packets(start=1000.0):
    return [(0, start + i * 0.05, ether(p)) for i, p in enumerate(SCAN)]


CHILD = r"""
import json, resource, sys, time
from pcapscan.analysis import analyze_capture
from pcapscan.model import AnalysisResult
from pcapscan.report import RENDERERS

def peak_kib():
    # VmHWM: this process's own high-water mark. ru_maxrss would do but for
    # Linux carrying the parent's (pytest's) maximum over fork and exec.
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

path, render = sys.argv[1], sys.argv[2] == "render"
base = peak_kib()
start = time.monotonic()
summary, scans = analyze_capture(path)
if render:
    result = AnalysisResult(captures=(summary,), scans=tuple(scans))
    for fmt in ("table", "json"):
        RENDERERS[fmt](result)
elapsed = time.monotonic() - start
peak = peak_kib()
ports = {}
for s in scans:
    for p in s.ports[:100]:
        ports.setdefault(f"{s.scanner}>{s.target}:{p.port}/{p.proto}", []).append(
            [s.technique.value, p.verdict.state.value, p.verdict.reason.value,
             list(p.verdict.probe_frames), list(p.verdict.response_frames)])
json.dump({
    "elapsed": elapsed, "peak_mib": peak / 1024, "base_mib": base / 1024,
    "packets": summary.packets, "skipped": summary.skipped, "non_ip": summary.non_ip,
    "duplicates": summary.duplicates, "warnings": list(summary.warnings),
    "nscans": len(scans), "nports": sum(len(s.ports) for s in scans),
    "states": sorted({p.verdict.state.value + "/" + p.verdict.reason.value for s in scans for p in s.ports}),
    "ports": ports,
}, sys.stdout)
"""


def analyze_in_child(path: Path, render: bool = True, timeout: float = 120) -> dict:
    """Analyze `path` in a fresh interpreter; its answer, peak memory and time."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), "render" if render else "-"],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def write(tmp_path, content: bytes, name="hostile.pcap") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def assert_bounded(out: dict, peak_mib: float = PEAK_BOUND_MIB, seconds: float = TIME_BOUND_S) -> None:
    assert out["peak_mib"] < peak_mib, f"peak {out['peak_mib']:.0f} MiB"
    assert out["elapsed"] < seconds, f"{out['elapsed']:.1f} s"


def assert_scan_kept(out: dict) -> None:
    """The SYN scan at the start of every hostile capture is found intact."""
    got = {int(k.split(":")[1].split("/")[0]): v[0][1] for k, v in out["ports"].items() if k.startswith(f"{S}>{T}:")}
    assert {p: got.get(p) for p in SCAN_PORTS} == SCAN_PORTS, out["ports"]


# --- record and block lengths ---------------------------------------------------------


def _pcap_with_bad_record(incl_len: int, **kw) -> bytes:
    good = pcap_bytes(scan_records(), **kw)
    byteorder = kw.get("byteorder", "<")
    head = struct.pack(byteorder + "IIII", 2000, 0, incl_len, incl_len)
    if kw.get("modified"):
        head += struct.pack(byteorder + "IHBx", 1, 0x0800, 0)
    return good + head + b"\x00" * 64


@pytest.mark.parametrize(
    "kw,gz",
    [({}, False), ({"byteorder": ">"}, False), ({"modified": True}, False), ({"nano": True}, True)],
    ids=["pcap", "pcap-big-endian", "pcap-modified", "pcap-nano-gzip"],
)
def test_record_length_of_4_gigabytes(tmp_path, kw, gz):
    content = _pcap_with_bad_record(0xFFFFFFFF, **kw)
    out = analyze_in_child(write(tmp_path, gzipped(content) if gz else content))
    assert_bounded(out)
    assert_scan_kept(out)
    assert out["packets"] == len(SCAN)
    assert out["warnings"] == [
        "record 7 is corrupt (its header claims 4294967295 captured bytes, more than the 262144 a capture "
        "record may hold); results cover records 1-6"
    ]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_pcapng_captured_length_of_4_gigabytes(tmp_path, gz):
    bad = epb(0, 2000.0, ether(SCAN[0]), captured_len=0xFFFFFFFF, orig_len=0xFFFFFFFF)
    content = pcapng_bytes([(1, None)], scan_pcapng_packets() + [bad])
    out = analyze_in_child(write(tmp_path, gzipped(content) if gz else content, "hostile.pcapng"))
    assert_bounded(out)
    assert_scan_kept(out)
    assert len(out["warnings"]) == 1 and "its 4294967295 captured bytes do not fit" in out["warnings"][0]


def test_snapshot_length_of_zero(tmp_path):
    """A snaplen of 0 in a pcap header or an interface description means no
    limit (pcapng) or is ignored (pcap): every record is read in full. Records
    that captured zero bytes are counted and skipped, and do not stop reading."""
    empty = [(1500.0 + i, b"", 60) for i in range(10_000)]
    pcap = pcap_bytes(scan_records() + empty + [(9000.0, ether(SCAN[0]))], snaplen=0)
    out = analyze_in_child(write(tmp_path, pcap))
    assert_bounded(out)
    assert_scan_kept(out)
    assert (out["packets"], out["skipped"], out["warnings"]) == (len(SCAN) + 10_001, 10_000, [])

    ng = shb() + idb(1, snaplen=0) + b"".join(spb(ether(p)) for p in SCAN) + b"".join(epb(0, 0.0, b"") for _ in range(100))
    out = analyze_in_child(write(tmp_path, ng, "snaplen0.pcapng"))
    assert_bounded(out)
    assert_scan_kept(out)  # simple packet blocks are not cut to a snaplen of 0
    assert (out["packets"], out["skipped"], out["warnings"]) == (len(SCAN) + 100, 100, [])


def _block_head(btype, length, body=40):
    """A block's type and length, then `body` zero bytes (whatever the length says)."""
    return struct.pack("<II", btype, length) + b"\x00" * body


@pytest.mark.parametrize(
    "btype,length,gz,expected",
    [
        (6, 0, False, "is corrupt (impossible block length 0)"),
        (6, 8, False, "is corrupt (impossible block length 8)"),  # smaller than a block's own header
        (6, 24, True, "is corrupt (block length 24 is too short)"),  # smaller than an EPB's fixed fields
        (1, 8, False, "is corrupt (impossible block length 8)"),  # an IDB
        (0x0BAD, 4, True, "is corrupt (impossible block length 4)"),  # a custom block
        (6, 0x7FFFFFF0, False, "is corrupt (block length 2147483632, more than the 327680 allowed)"),
        (0x0BAD, 0x7FFFFFF0, False, "is truncated or corrupt (block length 2147483632, but the file ends"),
        (0x0BAD, 0xFFFFFFF0, True, "is truncated (the gzip stream ends"),  # larger than the file, size unknown
        (1, 0x00F00000, True, "more than the 1048576 allowed"),
        (6, 0x00040000, True, "is truncated (the gzip stream ends"),  # a packet block larger than the file
    ],
    ids=["epb-0", "epb-8", "epb-24-gz", "idb-8", "custom-4-gz", "epb-2g", "custom-2g", "custom-4g-gz",
         "idb-15m-gz", "epb-256k-past-eof-gz"],
)
def test_pcapng_block_length_zero_short_or_past_the_end(tmp_path, btype, length, gz, expected):
    bad = _block_head(btype, length)
    if length == 24:  # a well-formed block, both lengths agreeing, too short for its type
        bad = _block_head(btype, length, 12) + struct.pack("<I", length)
    content = pcapng_bytes([(1, None)], scan_pcapng_packets() + [bad, (0, 3000.0, ether(SCAN[0]))])
    out = analyze_in_child(write(tmp_path, gzipped(content) if gz else content, "hostile.pcapng"))
    assert_bounded(out)
    assert_scan_kept(out)
    assert out["packets"] == len(SCAN) and len(out["warnings"]) == 1
    assert expected in out["warnings"][0] and out["warnings"][0].endswith("; results cover records 1-6")


def test_pcapng_section_header_with_impossible_lengths(tmp_path):
    for length in (0, 12, 0x7FFFFFFC):
        second = struct.pack("<II", 0x0A0D0D0A, length) + struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
        content = pcapng_bytes([(1, None)], scan_pcapng_packets()) + second + b"\x00" * 32
        out = analyze_in_child(write(tmp_path, content, "hostile.pcapng"), render=False)
        assert_bounded(out)
        assert_scan_kept(out)
        assert out["warnings"] == [
            f"the pcapng section header at byte 592 (after record 6) has an impossible length {length}; "
            "results cover records 1-6"
        ]


# --- interfaces -----------------------------------------------------------------------


def test_interface_ids_never_described(tmp_path):
    """Records on 50,000 distinct undeclared interfaces (and on id 2^32-1):
    skipped, counted, named in a few warnings, not 50,000."""
    bogus = b"".join(epb(i, 2000.0, ether(SCAN[0])) for i in range(1, 50_001))
    content = pcapng_bytes([(1, None)], scan_pcapng_packets()) + bogus + epb(0xFFFFFFFF, 0.0, b"")
    out = analyze_in_child(write(tmp_path, content, "hostile.pcapng"))
    assert_bounded(out)
    assert_scan_kept(out)
    assert (out["packets"], out["skipped"]) == (len(SCAN) + 50_001, 50_001)
    assert len(out["warnings"]) == 17
    assert out["warnings"][0] == (
        "1 record (first: record 7) refer to interface 1, which no interface description block declares; skipped"
    )
    assert out["warnings"][-1] == (
        "49985 more records (first: record 23) refer to other interfaces that no interface description "
        "block declares; skipped"
    )


def test_too_many_interface_descriptions(tmp_path):
    """Interface descriptions cost memory per block: at most 65,536 per section."""
    content = pcapng_bytes([(1, None)], scan_pcapng_packets()) + idb(1) * 70_000 + epb(0, 9.0, ether(SCAN[0]))
    out = analyze_in_child(write(tmp_path, gzipped(content), "hostile.pcapng.gz"), render=False)
    assert_bounded(out)
    assert_scan_kept(out)
    assert len(out["warnings"]) == 1
    assert "is one interface description too many (more than 65536)" in out["warnings"][0]


# --- a gzip bomb ----------------------------------------------------------------------


def gzip_bomb(prefix: bytes, zeros: int) -> bytes:
    """A gzip file of `prefix` then `zeros` zero bytes, a few KiB per GiB:
    1 MiB of zeros compressed once after a full flush (which resets deflate's
    history, so the same input compresses to the same bytes) and repeated."""
    chunk = 1 << 20
    assert zeros % chunk == 0
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = co.compress(prefix) + co.flush(zlib.Z_FULL_FLUSH)
    body = co.compress(bytes(chunk)) + co.flush(zlib.Z_FULL_FLUSH)
    tail = co.flush()
    crc = zlib.crc32(prefix)
    zero_chunk = bytes(chunk)
    for _ in range(zeros // chunk):
        crc = zlib.crc32(zero_chunk, crc)
    size = (len(prefix) + zeros) & 0xFFFFFFFF
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03" + head + body * (zeros // chunk) + tail
            + struct.pack("<II", crc, size))


@pytest.fixture(scope="module")
def bomb_zeros():
    return 4 * 1024 * MIB  # 4 GiB inflated


def test_gzip_bomb_of_empty_pcap_records(tmp_path, bomb_zeros):
    """4 GiB of zeros after a good scan is 268 million empty records: reading
    stops once the stream has inflated past 16 MiB at more than 200 times its
    compressed size, with a warning, keeping the scan before."""
    content = gzip_bomb(pcap_bytes(scan_records()), bomb_zeros)
    assert len(content) < 5 * MIB
    assert zlib.decompressobj(31).decompress(content[:200_000], 1 << 20)  # a real gzip stream
    out = analyze_in_child(write(tmp_path, content, "bomb.pcap.gz"))
    assert_bounded(out)
    assert_scan_kept(out)
    assert len(out["warnings"]) == 1
    assert "the gzip stream inflates to more than 200 times its size" in out["warnings"][0]
    assert "a decompression bomb, not a capture; results cover records 1-" in out["warnings"][0]
    assert out["packets"] < 2_000_000 and out["skipped"] == out["packets"] - len(SCAN)


def test_gzip_bomb_inside_one_pcapng_block(tmp_path, bomb_zeros):
    """A custom block claiming 4 GiB, of zeros: stepped over in bounded chunks,
    and stopped as a bomb rather than inflated to its end."""
    prefix = pcapng_bytes([(1, None)], scan_pcapng_packets()) + struct.pack("<II", 0x0BAD, 0xFFFFFFF0)
    out = analyze_in_child(write(tmp_path, gzip_bomb(prefix, bomb_zeros), "bomb.pcapng.gz"))
    assert_bounded(out)
    assert_scan_kept(out)
    assert len(out["warnings"]) == 1 and "a decompression bomb" in out["warnings"][0]


def test_gzip_bomb_of_one_packet_repeated(tmp_path):
    """The same SYN repeated with the same timestamp: not zeros, but it
    compresses about 1000 times as well, and is stopped the same way."""
    record = struct.pack("<IIII", 2000, 0, len(ether(SCAN[0])), len(ether(SCAN[0]))) + ether(SCAN[0])
    inflated = pcap_bytes(scan_records()) + record * (40 * MIB // len(record))
    content = gzipped(inflated)
    out = analyze_in_child(write(tmp_path, content, "flood.pcap.gz"))
    assert_bounded(out)
    assert_scan_kept(out)
    assert len(out["warnings"]) == 1 and "a decompression bomb" in out["warnings"][0]
    assert out["duplicates"] == out["packets"] - len(SCAN) - 1  # one copy seen, the rest within 10 ms


# --- link and network headers ---------------------------------------------------------


def test_ten_thousand_stacked_vlan_tags(tmp_path):
    """Frames with 10,000 802.1Q/QinQ tags (40 KB of tags) are skipped past
    the 16th tag, each in constant time; the packets around them are kept."""
    tags = [(0x8100 if i % 2 else 0x88A8, i) for i in range(10_000)]
    deep = ether(SCAN[0], vlan=tags)
    assert len(deep) > 40_000
    records = scan_records() + [(2000.0 + i, deep) for i in range(200)] + [(3000.0, ether(SCAN[0], vlan=[5, 6]))]
    out = analyze_in_child(write(tmp_path, pcap_bytes(records)))
    assert_bounded(out)
    assert_scan_kept(out)
    assert (out["packets"], out["skipped"], out["warnings"]) == (len(SCAN) + 201, 200, [])

    cooked = sll(SCAN[0], protocol=0x8100)[:-len(SCAN[0])] + b"".join(struct.pack("!HH", 1, 0x8100) for _ in range(10_000))
    out = analyze_in_child(write(tmp_path, pcap_bytes([sll(p) for p in SCAN] + [cooked] * 50, linktype=113)))
    assert_bounded(out)
    assert_scan_kept(out)
    assert (out["packets"], out["skipped"]) == (len(SCAN) + 50, 50)


def _frames(tmp_path, bad: list, name="hostile.pcap") -> dict:
    records = scan_records() + [(2000.0 + i, ether(p)) for i, p in enumerate(bad)] + [(3000.0, ether(SCAN[0]))]
    return analyze_in_child(write(tmp_path, pcap_bytes(records), name))


def test_ipv4_header_length_below_20(tmp_path):
    bad = [ipv4(S, T, 6, tcp_header(40000, 90 + ihl, SYN), ihl=ihl) for ihl in range(5)] * 100
    out = _frames(tmp_path, bad)
    assert_bounded(out)
    assert_scan_kept(out)
    assert (out["packets"], out["skipped"], out["warnings"]) == (len(SCAN) + 501, 500, [])
    assert not any(":9" in k for k in out["ports"])  # none of them became a probe


def test_tcp_data_offset_below_5(tmp_path):
    bad = [ipv4(S, T, 6, tcp_header(40000, 90 + d, SYN, data_offset=d)) for d in range(5)] * 100
    out = _frames(tmp_path, bad)
    assert_bounded(out)
    assert_scan_kept(out)
    assert (out["packets"], out["skipped"], out["warnings"]) == (len(SCAN) + 501, 500, [])
    assert not any(":9" in k for k in out["ports"])


def test_icmp_errors_quoting_truncated_headers(tmp_path):
    """ICMP errors quoting too little of the probe to name it (a cut IP header,
    an IP header whose length is below 20, no ports) answer nothing; a quote
    with the ports but no sequence number still answers its probe."""
    probes = {p: ipv4_tcp(S, T, 40000, p, SYN, seq=1000, options=MSS_1460, ttl=50, ip_id=p) for p in range(90, 95)}
    bad_ihl = bytearray(probes[91][:28])
    bad_ihl[0] = 0x43
    quotes = {
        90: probes[90][:12],  # the quoted IP header itself is cut short
        91: bytes(bad_ihl),  # quoted IHL of 12 bytes
        92: probes[92][:20],  # IP header only: no ports
        93: probes[93][:22],  # half a port
        94: probes[94][:24],  # ports, but no sequence number
    }
    bad = []
    for port, probe in probes.items():
        bad += [probe, ipv4_icmp_unreach(T, S, 13, quotes[port])]
    out = _frames(tmp_path, bad)
    assert_bounded(out)
    assert_scan_kept(out)
    assert out["skipped"] == 0 and out["warnings"] == []
    verdicts = {int(k.split(":")[1].split("/")[0]): v[0][1:3] for k, v in out["ports"].items()}
    assert {p: verdicts[p] for p in range(90, 94)} == {p: ["filtered", "no-response"] for p in range(90, 94)}
    assert verdicts[94] == ["filtered", "admin-prohibited"]


# --- timestamps that go backwards -----------------------------------------------------


def _scan_with_duplicates(timestamps) -> bytes:
    """The scan, one packet seen twice (a capture on "any") and a real
    retransmission of the unanswered probe, at the given timestamps."""
    packets = SCAN + [SCAN[5], SCAN[5], SCAN[4]]
    assert len(timestamps) == len(packets)
    return pcap_bytes([(ts, ether(p)) for ts, p in zip(timestamps, packets)])


MONOTONIC = [1000.0, 1000.001, 1000.002, 1000.1, 1000.101, 1000.2, 1001.2, 1001.2005, 1001.3]
#   frame 7 retransmits the probe to 82 a second later, frame 8 is a copy of
#   frame 7 (0.5 ms), frame 9 repeats the RST/ACK of frame 5 (1.2 s later: no copy).


@pytest.mark.parametrize(
    "timestamps,copies",
    [
        ([2000.0 - t for t in MONOTONIC], 1),  # every step backwards, at the same distances
        ([t - (500.0 if i >= 4 else 0) for i, t in enumerate(MONOTONIC)], 1),  # one jump back, mid-scan
        ([t % 1000.0 + (0 if i % 2 else 3e9) for i, t in enumerate(MONOTONIC)], 0),  # two clocks interleaved
    ],
    ids=["reversed", "jump-back", "interleaved-clocks"],
)
def test_timestamps_that_go_backwards(tmp_path, timestamps, copies):
    """Pairing follows capture order, not time, and a duplicate is a copy
    within 10 ms either way: backwards time changes nothing in the results.
    Only copies whose timestamps two interleaved clocks tore apart (frames 7
    and 8, 3e9 s apart) count as two probes."""
    good = analyze_in_child(write(tmp_path, _scan_with_duplicates(MONOTONIC), "monotonic.pcap"))
    out = analyze_in_child(write(tmp_path, _scan_with_duplicates(timestamps), "backwards.pcap"))
    assert_bounded(out)
    assert good["duplicates"] == 1
    assert_scan_kept(out)
    assert out["duplicates"] == copies
    expected = json.loads(json.dumps(good["ports"]))
    if not copies:
        expected[f"{S}>{T}:82/tcp"][0][3].append(8)  # probe frames 6, 7 and the copy 8
    assert out["ports"] == expected


def test_timestamps_standing_still_or_going_backwards_keep_the_duplicate_window_bounded(tmp_path):
    """300,000 distinct RSTs (no probe: no flow state) whose timestamps stand
    still, then go backwards by 1 ms each: the duplicate detector forgets
    what is outside its window either way, so memory does not grow."""
    rst = ether(ipv4_tcp(T, S, 8080, 40000, RST | ACK, seq=0, ack=1))  # no flow of the scan
    n = 150_000
    records = scan_records() + [(5000.0, rst[:42] + struct.pack("!I", i) + rst[46:]) for i in range(n)]
    records += [(4000.0 - i * 0.001, rst[:42] + struct.pack("!I", n + i) + rst[46:]) for i in range(n)]
    out = analyze_in_child(write(tmp_path, pcap_bytes(records)), render=False)
    assert_bounded(out)
    assert_scan_kept(out)
    assert out["peak_mib"] - out["base_mib"] < 64, out
    assert (out["packets"], out["duplicates"]) == (len(SCAN) + 2 * n, 0)


# --- a million (scanner, target, port) keys, never answered ---------------------------


def million_probe_pcap(path: Path, n: int = 1_000_000) -> None:
    """n SYN probes from one scanner to 16 hosts x 65,535 ports (a full port
    scan of a /28), 20 us apart, nothing answered: 74 MB."""
    base = bytearray(ether(ipv4_tcp("10.0.0.1", "10.1.0.0", 40000, 1, SYN, seq=12345, options=MSS_1460, ip_id=1)))
    head = struct.Struct("<IIII")
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        chunk = []
        for i in range(n):
            host, port = divmod(i, 65535)
            base[32], base[33] = host >> 8, host & 0xFF  # destination address, last two bytes
            base[36], base[37] = (port + 1) >> 8, (port + 1) & 0xFF  # destination port
            sec, usec = divmod(i * 20, 1_000_000)
            chunk.append(head.pack(1_000_000 + sec, usec, len(base), len(base)) + base)
            if len(chunk) == 65536:
                fh.write(b"".join(chunk))
                chunk = []
        fh.write(b"".join(chunk))


# Measured (docs/fuzzing.md): about 1.3 GiB peak and 35 s for the whole
# analysis on this project's 2-core machine; 1.65 GiB before the engine's
# connections were made smaller and freed before build_scans.
MILLION_PEAK_MIB = 2048
MILLION_TIME_S = 240


def test_a_million_keys_never_answered(tmp_path):
    """A full scan of many hosts, no answer at all: every one of the million
    (scanner, target, port) keys is kept open to the end, then reported
    filtered. Memory grows with the keys, about 1.3 KiB each end to end (the
    probe itself, its open connection, its exchange and its verdict), and
    nothing else; there is no cap, since the results must all be produced."""
    path = tmp_path / "million.pcap"
    million_probe_pcap(path)
    out = analyze_in_child(path, render=False, timeout=600)
    assert out["packets"] == 1_000_000 and out["warnings"] == []
    assert out["nscans"] == 16 and out["nports"] == 1_000_000
    assert out["states"] == ["filtered/no-response"]
    assert_bounded(out, MILLION_PEAK_MIB, MILLION_TIME_S)
    print(f"a million unanswered keys: {out['peak_mib']:.0f} MiB peak, {out['elapsed']:.1f} s")


def test_a_million_keys_through_the_cli_take_the_fast_path(tmp_path):
    """What a user runs: `pcapscan analyze` on the same capture goes through
    the columnar fast path (docs/performance.md): seconds, and a few hundred
    MiB, with every one of the million ports in the JSON."""
    import resource

    path = tmp_path / "million.pcap"
    million_probe_pcap(path)
    out = tmp_path / "million.json"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run([sys.executable, "-m", "pcapscan.cli", "analyze", str(path), "-f", "json", "-o", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    doc = json.loads(out.read_text())
    ports = [p for s in doc["scans"] for p in s["ports"]]
    assert len(ports) == 1_000_000 and {(p["state"], p["reason"]) for p in ports} == {("filtered", "no-response")}
    if peak_mib > before / 1024:  # ru_maxrss of children is the largest child so far: only meaningful if it grew
        assert peak_mib < 1024, f"peak {peak_mib:.0f} MiB"
    print(f"a million unanswered keys via the CLI: {peak_mib:.0f} MiB peak")
