#!/usr/bin/env python3
"""Coverage-guided fuzzing of pcapscan over one capture (atheris + libFuzzer).

Each input is written to a scratch file and put through everything
`pcapscan analyze` does with one capture: the bounded pcap/pcapng/gzip reader,
the frame decoder, the replay engine, `build_scans` (techniques, verdicts,
tool fingerprint), then every renderer in `pcapscan.report.RENDERERS`.

The contract: for any bytes at all, `run_one` returns, or raises
`pcapscan.errors.PcapscanError` (a capture that cannot be opened: the CLI's
exit status 2). Any other exception is a bug, and libFuzzer reports it as a
crash. Each input must also finish in bounded time and memory: the campaign
runs with -timeout and -rss_limit_mb (see docs/fuzzing.md).

An input that starts with b"GZ!" is gzip-compressed (its remaining bytes)
before it is written, so that the fuzzer also explores the containers as the
reader sees them through gzip (where the file size is unknown), not only the
deflate format's own damage.

    python fuzz/fuzz_capture.py                       # campaign: fuzz/corpus + the seeds, until stopped
    python fuzz/fuzz_capture.py -max_total_time=900   # ... for 15 minutes
    python fuzz/fuzz_capture.py crash-1234abcd        # replay one input
    python fuzz/fuzz_capture.py --corpus=DIR -runs=2000   # a bounded run into another corpus dir

With no file or directory given, the corpus is fuzz/corpus (not committed;
created, and given the crafted seeds below) and the seeds are read in place
from captures/golden, captures/tools, captures/seeds and ../shared/captures
(never copied). Defaults added unless given: -max_len=32768 -timeout=10
-rss_limit_mb=1536 -artifact_prefix=fuzz/artifacts/.
"""
from __future__ import annotations

import gzip
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_CORPUS = HERE / "corpus"
ARTIFACTS = HERE / "artifacts"
SEED_DIRS = [
    ROOT / "captures" / "golden",
    ROOT / "captures" / "tools",
    ROOT / "captures" / "seeds",
    ROOT.parent / "shared" / "captures",
]
GZIP_PREFIX = b"GZ!"
DEFAULT_FLAGS = {
    "-max_len": "32768",
    "-timeout": "10",
    "-rss_limit_mb": "1536",
}

_scratch = None


def _scratch_path() -> str:
    """One scratch file name per process, on tmpfs when there is one."""
    global _scratch
    if _scratch is None:
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        fd, _scratch = tempfile.mkstemp(prefix="pcapscan-fuzz-", suffix=".cap", dir=base)
        os.close(fd)
        os.unlink(_scratch)
    return _scratch


def _cleanup() -> None:
    if _scratch is not None:
        try:
            os.unlink(_scratch)
        except OSError:
            pass


def run_one(data: bytes) -> None:
    """Analyze `data` as one capture and render it in every format.

    Returns, or raises PcapscanError; anything else escaping is a bug."""
    from pcapscan.analysis import analyze_capture
    from pcapscan.errors import PcapscanError
    from pcapscan.model import AnalysisResult
    from pcapscan.report import RENDERERS

    if data.startswith(GZIP_PREFIX):
        data = gzip.compress(data[len(GZIP_PREFIX):], compresslevel=1, mtime=0)
    path = _scratch_path()
    with open(path, "wb") as fh:
        fh.write(data)
    try:
        summary, scans = analyze_capture(path)
    except PcapscanError:
        return
    finally:
        os.unlink(path)  # libFuzzer leaves through exit(), past atexit: leave nothing behind
    # Cheap invariants of the summary: every count is part of what was read.
    if not (0 <= summary.skipped <= summary.packets and 0 <= summary.non_ip <= summary.packets):
        raise AssertionError(f"inconsistent counts: {summary}")
    result = AnalysisResult(captures=(summary,), scans=tuple(scans))
    for render in RENDERERS.values():
        render(result)


def crafted_seeds() -> dict:
    """Tiny captures made byte by byte (tests/pcapbuild.py): one of each
    container, link type, protocol and answer kind the reader knows."""
    sys.path.insert(0, str(ROOT / "tests"))
    import pcapbuild as b

    s, t, s6, t6 = "192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2"
    syn = b.ipv4_tcp(s, t, 40000, 80, 0x02, seq=1000, options=b.MSS_1460, ttl=44, ip_id=7)
    syn81 = b.ipv4_tcp(s, t, 40000, 81, 0x02, seq=1000, options=b.MSS_1460, ttl=44, ip_id=8)
    syn82 = b.ipv4_tcp(s, t, 40000, 82, 0x02, seq=1000, options=b.MSS_1460, ttl=44, ip_id=9)
    synack = b.ipv4_tcp(t, s, 80, 40000, 0x12, seq=5000, ack=1001, options=b.MSS_1460)
    rst = b.ipv4_tcp(s, t, 40000, 80, 0x04, seq=1001)
    rstack = b.ipv4_tcp(t, s, 81, 40000, 0x14, seq=0, ack=1001)
    unreach = b.ipv4_icmp_unreach(t, s, 13, syn82[:28])
    fin = b.ipv4_tcp(s, t, 40001, 22, 0x01, seq=7)
    xmas = b.ipv4_tcp(s, t, 40001, 23, 0x29, seq=7)
    ack = b.ipv4_tcp(s, t, 40001, 24, 0x10, seq=7, ack=99)
    rst_win = b.ipv4_tcp(t, s, 24, 40001, 0x04, seq=99, window=4096)
    udp = b.ipv4_udp(s, t, 40002, 53, payload=b"\x00" * 12)
    udp_unreach = b.ipv4_icmp_unreach(t, s, 3, udp[:28])
    syn6 = b.ipv6_tcp(s6, t6, 40000, 443, 0x02, seq=3, options=b.MSS_1460)
    rst6 = b.ipv6_tcp(t6, s6, 443, 40000, 0x14, ack=4)
    udp6 = b.ipv6_udp(s6, t6, 40002, 161)
    unreach6 = b.icmp6_unreach(t6, s6, 4, udp6[:48])
    ext6 = b.ipv6(s6, t6, 0, b.tcp_header(40000, 8080, 0x02, seq=1), ext=bytes([6, 0]) + b"\x01\x04" + b"\x00" * 4,
                  upper=6)
    connect = [
        b.ipv4_tcp(s, t, 50000, 80, 0x02, seq=1, options=b"\x02\x04\x05\xb4\x04\x02\x08\x0a" + b"\x00" * 8 + b"\x01\x03\x03\x07"),
        b.ipv4_tcp(t, s, 80, 50000, 0x12, seq=9, ack=2),
        b.ipv4_tcp(s, t, 50000, 80, 0x10, seq=2, ack=10),
        b.ipv4_tcp(s, t, 50000, 80, 0x14, seq=2, ack=10),
    ]
    tcp_scan = [syn, synack, rst, syn81, rstack, syn82, unreach, syn82]
    others = [fin, xmas, ack, rst_win, udp, udp_unreach]
    seeds = {
        "pcap-syn": b.pcap_bytes([b.ether(p) for p in tcp_scan]),
        "pcap-others": b.pcap_bytes([(1.0 + i / 10, b.ether(p)) for i, p in enumerate(others)]),
        "pcap-connect-raw": b.pcap_bytes(connect, linktype=101),
        "pcap-nano-be-sll": b.pcap_bytes([b.sll(p) for p in tcp_scan], linktype=113, nano=True, byteorder=">"),
        "pcap-modified-null": b.pcap_bytes([b.null(p) for p in others], linktype=0, modified=True),
        "pcap-loop-v6": b.pcap_bytes([b.loop(p) for p in (syn6, rst6, udp6, unreach6, ext6)], linktype=108),
        "pcap-sll2-vlan": b.pcap_bytes([b.sll2(syn), b.ether(synack, vlan=[(0x88A8, 5), 7]), b.ether(rst, vlan=3)],
                                       linktype=276),
        "pcap-ipv4-linktype": b.pcap_bytes([syn, synack], linktype=228),
        "pcap-ipv6-linktype": b.pcap_bytes([syn6, rst6], linktype=229),
        "pcapng-two-interfaces": b.pcapng_bytes(
            [(1, None), (101, 9)],
            [(0, 1.0, b.ether(syn)), (1, 1.5, synack), b.spb(b.ether(rst)), b.pb(0, 2.0, b.ether(syn81)),
             b.block(0x0BAD, b"custom"), (0, 2.1, b.ether(rstack)), (1, 3.0, udp), (1, 3.2, udp_unreach)],
        ),
        "pcapng-be-resolution": b.shb(">") + b.idb(1, tsresol=0x80 | 20, tsoffset=5, byteorder=">")
        + b.epb(0, 1.25, b.ether(syn6), tsresol=0x80 | 20, byteorder=">")
        + b.epb(0, 1.5, b.ether(rst6), tsresol=0x80 | 20, byteorder=">"),
        "pcapng-two-sections": b.pcapng_bytes([(1, None)], [(0, 1.0, b.ether(syn))])
        + b.pcapng_bytes([(101, None)], [(0, 2.0, synack)], byteorder=">"),
        "pcapng-undeclared-interface": b.pcapng_bytes([(1, None)], [(0, 1.0, b.ether(syn)), b.epb(4, 2.0, synack)]),
    }
    seeds["gzip-pcap"] = b.gzipped(seeds["pcap-syn"])
    seeds["gzprefix-pcap"] = GZIP_PREFIX + seeds["pcap-others"]
    seeds["gzprefix-pcapng"] = GZIP_PREFIX + seeds["pcapng-two-interfaces"]
    return seeds


def write_seeds(corpus: Path) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    for name, data in crafted_seeds().items():
        path = corpus / f"crafted-{name}"
        if not path.exists():
            path.write_bytes(data)


def _test_one_input(data: bytes) -> None:
    run_one(data)


def main(argv: list) -> None:
    import atheris

    # Instrument pcapscan (and dpkt, which decodes the rare encapsulations)
    # for coverage: they must be imported here first, not before.
    with atheris.instrument_imports(include=["pcapscan", "dpkt"]):
        import pcapscan.analysis  # noqa: F401
        import pcapscan.report  # noqa: F401

    corpus = DEFAULT_CORPUS
    args = []
    for arg in argv[1:]:
        if arg.startswith("--corpus="):
            corpus = Path(arg.split("=", 1)[1])
        else:
            args.append(arg)
    flags = [a for a in args if a.startswith("-")]
    paths = [a for a in args if not a.startswith("-")]
    given = {f.split("=", 1)[0] for f in flags}
    for flag, value in DEFAULT_FLAGS.items():
        if flag not in given:
            flags.append(f"{flag}={value}")
    if "-artifact_prefix" not in given:
        ARTIFACTS.mkdir(exist_ok=True)
        flags.append(f"-artifact_prefix={ARTIFACTS}/")
    if not paths:
        write_seeds(corpus)
        paths = [str(corpus)] + [str(d) for d in SEED_DIRS if d.is_dir()]
    atheris.Setup([argv[0]] + flags + paths, _test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
