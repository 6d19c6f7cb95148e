"""`pcapscan annotate`: the capture copied to pcapng with the analysis as
packet comments. Real tshark reads every output back: the comments are
Wireshark's `frame.comment`, and the packets, their timestamps, interfaces
and link types are the input's, exactly."""
from __future__ import annotations

import os
import shutil
import stat
import struct
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from pcapbuild import block, epb, ether, idb, ipv4_tcp, pcap_bytes, shb, spb
from pcapscan.capture import ReadStats, open_capture
from pcapscan.cli import main
from pcapscan.model import ACK, SYN

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "captures" / "golden"

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")


def tshark(path, *fields, display_filter=None) -> list:
    """One list of field values per frame, as tshark prints them (-T fields)."""
    args = ["tshark", "-r", str(path), "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
            "-E", "aggregator=\x1f"]
    for f in fields:
        args += ["-e", f]
    if display_filter:
        args += ["-Y", display_filter]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
    return [line.split("\t") for line in proc.stdout.splitlines()]


def comments_by_frame(path) -> dict:
    return {int(n): c.split("\x1f") for n, c in tshark(path, "frame.number", "frame.comment") if c}


def records(path) -> list:
    return list(open_capture(str(path)).records(ReadStats(str(path))))


def annotate(*args):
    result = CliRunner().invoke(main, ["annotate", *map(str, args)])
    return result


def assert_same_packets(src, out):
    """Bytes, link types and timestamps (tshark's text of them: every digit kept) of every frame."""
    fields = ("frame.number", "frame.time_epoch", "frame.len", "frame.cap_len", "frame.encap_type")
    assert tshark(out, *fields) == tshark(src, *fields)
    assert [(lt, data) for lt, _ts, data in records(out)] == [(lt, data) for lt, _ts, data in records(src)]


@needs_tshark
def test_golden_syn_scan_verdicts_and_findings_are_wireshark_comments(tmp_path):
    out = tmp_path / "syn.pcapng"
    result = annotate(GOLDEN / "syn.pcap", "-o", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{out}: 15 packets, 14 with comments, 2 finding(s) of verify\n"
    notes = comments_by_frame(out)
    assert notes[5] == ["probe 80/tcp (SYN scan, nmap): open, syn-ack in frame 6"]
    assert notes[6][0] == "answer 80/tcp (SYN scan, nmap): open, syn-ack to the probe in frame 5"
    assert notes[6][1].startswith("kernel-rst: ")
    assert notes[9] == ["answer 81/tcp (SYN scan, nmap): closed, reset to the probe in frame 8"]
    assert notes[12] == notes[15] == ["probe 82/tcp (SYN scan, nmap): filtered, no-response"]
    assert 4 not in notes  # a frame no session names carries nothing
    # the filter a student types in Wireshark
    assert [n for (n,) in tshark(out, "frame.number", display_filter='frame.comment contains "kernel-rst"')] \
        == ["6", "7"]
    assert_same_packets(GOLDEN / "syn.pcap", out)


@needs_tshark
@pytest.mark.parametrize("name", ["udp6.pcap", "connect.pcap"])
def test_golden_captures_keep_every_packet(tmp_path, name):
    out = tmp_path / "out.pcapng"
    assert annotate(GOLDEN / name, "-o", out).exit_code == 0
    assert_same_packets(GOLDEN / name, out)
    assert any(c.startswith("probe ") for cs in comments_by_frame(out).values() for c in cs)


@needs_tshark
def test_chinese_comments(tmp_path):
    out = tmp_path / "syn-zh.pcapng"
    assert annotate(GOLDEN / "syn.pcap", "-o", out, "--lang", "zh").exit_code == 0
    notes = comments_by_frame(out)
    assert notes[5] == ["探测 80/tcp（SYN 扫描（半开扫描），nmap）：open（开放），syn-ack，应答见第 6 帧"]
    assert notes[6][1].startswith("kernel-rst：")


@needs_tshark
def test_a_student_capture(tmp_path, shared_captures):
    src = shared_captures / "students" / "2022-ns-public-Leaf5323" / "chap0x05" / "pcap" / "scanDump.pcap"
    out = tmp_path / "scanDump.pcapng"
    result = annotate(src, "-o", out)
    assert result.exit_code == 0, result.output
    assert_same_packets(src, out)
    notes = comments_by_frame(out)
    assert notes[5][0] == "probe 22/tcp (SYN scan, scapy): open, syn-ack in frame 6"  # the script ran twice: two sessions
    assert notes[20][0].startswith("probe 22/tcp (SYN scan, scapy): open, syn-ack in frame 21")
    # the student's hand-made RST with seq=0, named on the frame that shows it
    assert any(c.startswith("rst-out-of-window: ") for c in notes[10])


@needs_tshark
def test_pcapng_interfaces_link_types_and_sections_are_kept(tmp_path):
    """Two sections in opposite byte orders; Ethernet in microseconds and raw
    IP in nanoseconds with a timestamp offset; a packet that already carries a
    comment keeps it; a block we do not read is copied. (A custom block,
    type 0xBAD, would not do: Wireshark numbers it as a frame.)"""
    probe = ipv4_tcp("198.18.0.1", "198.18.0.2", 40000, 80, SYN, seq=1000)
    answer = ipv4_tcp("198.18.0.2", "198.18.0.1", 80, 40000, SYN | ACK, seq=5000, ack=1001)
    own_comment = pcapng_option("<", 1, b"the student's own note") + pcapng_option("<", 0, b"")
    # a name resolution block: 198.18.0.2 is "victim.lab" (not a packet: not a frame)
    name_record = (struct.pack("<HH", 1, 15) + bytes([198, 18, 0, 2]) + b"victim.lab\0" + b"\0"
                   + struct.pack("<HH", 0, 0))
    epb_with_comment = block(6, epb(0, 1700000000.5, ether(probe))[8:-4] + own_comment, "<")
    src_bytes = (
        shb(">") + idb(1, byteorder=">") + epb(0, 1700000000.123456, ether(probe), byteorder=">")
        + shb("<") + idb(1) + idb(101, tsresol=9, tsoffset=1)
        + block(4, name_record)
        + epb(1, 1700000000.123456789, answer, tsresol=9)
        + epb_with_comment
    )
    src = tmp_path / "two-sections.pcapng"
    src.write_bytes(src_bytes)
    out = tmp_path / "out.pcapng"
    result = annotate(src, "-o", out)
    assert result.exit_code == 0, result.output
    fields = ("frame.number", "frame.time_epoch", "frame.interface_id", "frame.encap_type", "frame.len")
    assert tshark(out, *fields) == tshark(src, *fields)
    assert [r[3] for r in tshark(out, *fields)] == ["1", "7", "1"]  # Ethernet, raw IP, Ethernet (tshark's numbers)
    notes = comments_by_frame(out)
    assert notes[1] == ["probe 80/tcp (SYN scan, scapy): open, syn-ack in frame 2"]
    assert notes[2] == ["answer 80/tcp (SYN scan, scapy): open, syn-ack to the probe in frames 1, 3"]
    # frame 3 sends the probe again: the comment it had comes first
    assert notes[3] == ["the student's own note", notes[1][0]]
    assert b"victim.lab\0" in out.read_bytes()


def pcapng_option(order, code, value):
    return struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) & 3)


@needs_tshark
def test_nanosecond_pcap_keeps_its_resolution(tmp_path):
    probe = ipv4_tcp("198.18.0.1", "198.18.0.2", 40000, 81, SYN, seq=7)
    src = tmp_path / "nano.pcap"
    src.write_bytes(pcap_bytes([(1700000000.123456789, ether(probe))], nano=True))
    out = tmp_path / "out.pcapng"
    assert annotate(src, "-o", out).exit_code == 0
    [[stamp]] = tshark(src, "frame.time_epoch")
    assert not stamp.endswith("000")  # nanoseconds to lose
    assert tshark(out, "frame.time_epoch") == [[stamp]]


@needs_tshark
def test_records_wireshark_cannot_read_are_left_out_and_said(tmp_path):
    """A record on an interface never declared stops Wireshark (pcapscan skips it):
    it is left out, with a warning; a simple packet block gets its comment."""
    probe = ether(ipv4_tcp("198.18.0.1", "198.18.0.2", 40000, 80, SYN, seq=1))
    src = tmp_path / "undeclared.pcapng"
    src.write_bytes(shb() + idb(1) + epb(0, 1.0, probe) + epb(3, 2.0, probe) + spb(probe) + epb(0, 3.0, probe))
    out = tmp_path / "out.pcapng"
    result = annotate(src, "-o", out)
    assert result.exit_code == 0
    assert result.stdout.startswith(f"{out}: 3 packets, 3 with comments")
    assert "1 record on undeclared interfaces left out of the output (Wireshark cannot read it): frame 2" \
        in result.stderr
    assert [c for _n, c in tshark(out, "frame.number", "frame.comment")] == \
        ["probe 80/tcp (SYN scan, scapy): filtered, no-response"] * 3


def test_truncated_capture_warns_and_keeps_the_packets_before(tmp_path):
    data = (GOLDEN / "syn.pcap").read_bytes()
    src = tmp_path / "cut.pcap"
    src.write_bytes(data[:-10])
    out = tmp_path / "out.pcapng"
    result = annotate(src, "-o", out)
    assert result.exit_code == 0
    assert "warning" in result.stderr and "record 15 is truncated" in result.stderr
    assert len(records(out)) == 14


def test_an_output_folder_that_does_not_exist_is_one_line(tmp_path):
    result = annotate(GOLDEN / "syn.pcap", "-o", tmp_path / "no-such-folder" / "out.pcapng")
    assert result.exit_code == 2
    assert result.stderr == f"pcapscan: cannot write {tmp_path}/no-such-folder/out.pcapng: No such file or directory\n"


def test_not_a_capture_is_one_line_and_writes_nothing(tmp_path):
    src = tmp_path / "notes.txt"
    src.write_text("not a capture\n")
    out = tmp_path / "out.pcapng"
    result = annotate(src, "-o", out)
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "is not a pcap or pcapng capture" in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [src]


def test_the_output_file_gets_the_permissions_of_any_new_file(tmp_path):
    # written through a temporary file (mkstemp makes it 0600): once in place it must be readable
    # by whom the umask lets read a new file, as `tcpdump -w` or `editcap` would leave it
    out = tmp_path / "syn.pcapng"
    old = os.umask(0o022)
    try:
        assert annotate(GOLDEN / "syn.pcap", "-o", out).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
