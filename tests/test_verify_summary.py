"""verify's text output summarises a rule raised thousands of times (one
kernel-rst note per open port, per session) and JSON keeps every finding."""
import json

from click.testing import CliRunner

import pcapbuild as pb
from pcapscan.cli import main

T = "198.18.0.2"


def syn_scan(scanner, sport, t0, ports, open_ports):
    """A raw SYN scan: SYN/ACK then the scanner kernel's bare RST (window 0) on open ports, RST/ACK on the rest."""
    recs, t = [], t0
    for port in ports:
        recs.append((t, pb.ether(pb.ipv4_tcp(scanner, T, sport, port, 0x02, seq=1000, options=pb.MSS_1460))))
        if port in open_ports:
            recs.append((t + 0.001, pb.ether(pb.ipv4_tcp(T, scanner, port, sport, 0x12, seq=5000, ack=1001))))
            recs.append((t + 0.002, pb.ether(pb.ipv4_tcp(scanner, T, sport, port, 0x04, seq=1001, window=0))))
        else:
            recs.append((t + 0.001, pb.ether(pb.ipv4_tcp(T, scanner, port, sport, 0x14, seq=0, ack=1001))))
        t += 0.01
    return recs


def test_thousands_of_notes_are_summarised_in_text_and_kept_in_json(tmp_path):
    path = tmp_path / "two-sessions.pcap"
    opened = range(100, 115)
    path.write_bytes(pb.pcap_bytes(syn_scan("198.18.0.1", 40000, 100.0, range(90, 130), opened)
                                   + syn_scan("198.18.0.9", 41000, 200.0, range(90, 130), opened)))
    data = json.loads(CliRunner().invoke(main, ["verify", str(path), "-f", "json"]).output)
    notes = [f for f in data["findings"] if f["rule"] == "kernel-rst"]
    assert len(notes) == 30 and {(f["scanner"], f["port"]) for f in notes} == \
        {(s, p) for s in ("198.18.0.1", "198.18.0.9") for p in opened}
    for fmt, finding in (("table", "  INFO  kernel-rst  1"), ("markdown", "`kernel-rst` 1"),
                         ("html", "<code>kernel-rst</code> 1")):
        text = CliRunner().invoke(main, ["verify", str(path), "-f", fmt]).output
        assert text.count(finding) == 3, fmt  # the first three in full, then the summary
        assert "kernel-rst on 30 port(s) of 2 session(s): the first 3 above, 27 more in --format json" in text
    table = CliRunner().invoke(main, ["verify", str(path)]).output
    assert table.count("ladder 10") == 3  # ladders of the findings shown only
    zh = CliRunner().invoke(main, ["verify", str(path), "--lang", "zh"]).output
    assert "kernel-rst：2 个扫描会话中的 30 个端口" in zh
