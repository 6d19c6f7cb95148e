"""compare on big captures: the sessions listed by the fast path, the two
compared made whole from the packets between their addresses
(fastpath.subset): the same comparison as the ordinary path gives."""
from pathlib import Path

import pytest

from pcapbuild import pcap_bytes
from test_fastpath import big_scan, moved_back

from pcapscan import compare as compare_module
from pcapscan import fastpath
from pcapscan.compare import compare
from pcapscan.report.compare_report import render

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "captures" / "tools"


def both(monkeypatch, *args, **kw):
    ordinary = render(compare(*args, **kw), "json")
    monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)

    def whole_capture(*_a, **_k):
        raise AssertionError("the compared sessions were not made whole from their own packets")

    monkeypatch.setattr(compare_module, "analyze_capture_full", whole_capture)
    fast = render(compare(*args, **kw), "json")
    monkeypatch.undo()
    return ordinary, fast


@pytest.mark.parametrize("a,b", [("nmap-syn.pcap", "scapy-syn.pcap"), ("nmap-udp.pcap", "scapy-udp.pcap"),
                                 ("zmap-syn.pcap", "masscan-syn.pcap"),
                                 ("hping3-syn.pcap", "scapy-seeds-syn.pcap")])
def test_two_captures_compare_the_same_through_the_fast_path(monkeypatch, a, b):
    if not (TOOLS / a).exists() or not (TOOLS / b).exists():
        pytest.skip(f"{a} or {b} is not among captures/tools")
    ordinary, fast = both(monkeypatch, str(TOOLS / a), str(TOOLS / b))
    assert fast == ordinary


def test_two_sessions_of_one_big_capture(monkeypatch, tmp_path):
    """Sessions of two scanners in one capture, retries and timestamps out of order among them."""
    from pcapbuild import ether, ipv4_tcp

    other = [(ts, ether(ipv4_tcp("198.18.0.9", "198.18.0.2", 41000, 1 + i, 0x02, seq=1)))
             for i, (ts, _d) in enumerate(big_scan(t0=50.0, ports=range(1, 80)))][:80]
    recs = moved_back(big_scan(t0=10.0, ports=range(1, 200)) + other
                      + [(90.0, ether(ipv4_tcp("198.18.0.1", "198.18.0.2", 40001, 5, 0x02, seq=1000)))])
    path = tmp_path / "two.pcap"
    path.write_bytes(pcap_bytes(recs))
    ordinary, fast = both(monkeypatch, str(path))
    assert fast == ordinary
    assert '"retransmissions"' in fast
