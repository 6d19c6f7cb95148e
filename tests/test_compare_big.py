"""compare on big captures: the sessions listed by the fast path, the ports
it classified in bulk described by their shape, the engine's from their
exchanges (compare._Shaped, on fastpath.subset.BulkPorts), or, where that
does not hold, the two sessions made whole from the packets between their
addresses (fastpath.subset.whole_sessions): the same comparison as the
ordinary path gives, every format."""
from pathlib import Path

import pytest

from pcapbuild import pcap_bytes
from test_fastpath import big_scan, moved_back

from pcapscan import compare as compare_module
from pcapscan import fastpath
from pcapscan.compare import compare
from pcapscan.fastpath import subset
from pcapscan.report.compare_report import render, svg

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


def shape_route_only(monkeypatch, whole_forbidden=True) -> list:
    """The fast path taken however small the capture, and every compare._Shaped
    made kept in the list returned; with `whole_forbidden`, a session made whole
    (subset.whole_sessions) fails the test: the shape route must hold."""
    monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)
    if whole_forbidden:
        def made_whole(*_a, **_k):
            raise AssertionError("the sessions were made whole: the shape route did not hold")

        monkeypatch.setattr(subset, "whole_sessions", made_whole)
    shaped = []
    real_shaped = compare_module._Shaped

    def counted(*a, **k):
        shaped.append(real_shaped(*a, **k))
        return shaped[-1]

    monkeypatch.setattr(compare_module, "_Shaped", counted)
    return shaped


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


def _every_format(comparison) -> str:
    return "".join(render(comparison, fmt) for fmt in ("table", "markdown", "json")) + svg(comparison)


def varied_sessions(path):
    """A SYN scan whose ports classified in bulk differ in every field compare
    reads (TTL, IP ID, window, options, source port, sequence number, the
    answer's kind and fields, none), some open ports answered SYN/ACK and RST,
    and a UDP scan of the same target from another scanner, datagrams with
    and without payload, some answered."""
    from pcapbuild import ether, ipv4_tcp, ipv4_udp, pcap_bytes

    scanner, udp_scanner, target = "198.18.0.1", "198.18.0.9", "198.18.0.2"
    mss = b"\x02\x04\x05\xb4"
    recs, t = [], 1.0
    for port in range(1, 241):
        sport, seq = 40000 + port % 3, 1000 + 7919 * port
        recs.append((t, ether(ipv4_tcp(scanner, target, sport, port, 0x02, seq=seq, ttl=40 + port % 5,
                                       ip_id=port * 13 % 65536, window=(1024, 2048, 4096)[port % 3],
                                       options=mss if port % 4 else b""))))
        t += 0.001
        answer = port % 6
        if answer == 0:
            pass  # filtered: no answer
        elif answer == 1 and port < 60:  # open: SYN/ACK and the kernel's RST (the engine's port)
            recs.append((t, ether(ipv4_tcp(target, scanner, port, sport, 0x12, seq=5000, ack=seq + 1,
                                           window=64240))))
            recs.append((t + 0.0001, ether(ipv4_tcp(scanner, target, sport, port, 0x04, seq=seq + 1))))
        else:  # closed: RST/ACK, its TTL and IP ID varied
            recs.append((t, ether(ipv4_tcp(target, scanner, port, sport, 0x14, seq=0, ack=seq + 1,
                                           ttl=60 + port % 2, ip_id=port))))
        t += 0.001
    for port in range(1, 121):
        recs.append((t, ether(ipv4_udp(udp_scanner, target, 50000, port, payload=b"x" * (port % 3 * 8),
                                       ip_id=port))))
        t += 0.001
        if port % 4 == 1:
            recs.append((t, ether(ipv4_udp(target, udp_scanner, port, 50000, payload=b"answer"))))
        t += 0.001
    path.write_bytes(pcap_bytes(recs))
    return path


def test_bulk_ports_described_by_shape_as_the_ordinary_path_describes_them(monkeypatch, tmp_path):
    """Every format the same as the ordinary path's, through the shape route (not
    whole_sessions); and, every port put in one shape, the description differs: one
    representative does not describe this capture's ports, so the test sees a wrong one."""
    path = varied_sessions(tmp_path / "varied.pcap")
    ordinary = _every_format(compare(str(path)))
    shaped = shape_route_only(monkeypatch)
    fast = _every_format(compare(str(path)))
    assert fast == ordinary
    assert len(shaped) == 1
    sessions = list(shaped[0].sessions.values())
    assert sum(len(s.rows) for s in sessions) > 250  # most ports by shape
    assert sum(len(s.shapes) for s in sessions) > 10  # of many shapes
    assert '"kind": "syn-ack"' in fast and '"kind": "rst"' in fast and '"kind": "udp"' in fast

    def one_shape(cols, first, *_a, **_k):
        import numpy as np

        return np.zeros(len(first), np.int64), 1

    monkeypatch.setattr(subset, "pair_shapes", one_shape)
    assert _every_format(compare(str(path))) != ordinary


def test_a_target_scanning_its_scanner_sends_compare_to_the_whole_sessions(monkeypatch, tmp_path):
    """Two scans between the same two hosts, each way: a packet between them
    could belong to a port of either, so the shape route steps aside
    (NotWhole) and the sessions are made whole; the same output."""
    from pcapbuild import ether, ipv4_tcp

    back_scan = []
    for i, port in enumerate(range(1, 150)):
        t = 60.0 + i * 0.002
        back_scan.append((t, ether(ipv4_tcp("198.18.0.2", "198.18.0.1", 52000, port, 0x02, seq=77, window=2048))))
        back_scan.append((t + 0.001, ether(ipv4_tcp("198.18.0.1", "198.18.0.2", port, 52000, 0x14, ack=78))))
    path = tmp_path / "both-ways.pcap"
    path.write_bytes(pcap_bytes(big_scan(t0=10.0, ports=range(1, 200)) + back_scan))
    ordinary = _every_format(compare(str(path)))
    monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)
    whole = []
    real_whole = subset.whole_sessions

    def counted(*a, **k):
        whole.append(1)
        return real_whole(*a, **k)

    monkeypatch.setattr(subset, "whole_sessions", counted)
    assert _every_format(compare(str(path))) == ordinary
    assert whole


def test_only_the_frames_the_compared_sessions_span_are_read_again(monkeypatch, tmp_path):
    """Three scans one after the other, the first and the last from the same
    scanner (other ports); comparing the first two, or the last two, reads
    again only the records from the first bulk probe to the last bulk answer
    of those two (BulkPorts own_frames): the other session's packets between
    the same addresses are not among them; the same output."""
    from pcapbuild import ether, ipv4_tcp

    recs = []
    for k, (scanner, window, ports) in enumerate((("198.18.0.1", 1024, range(1, 160)),
                                                  ("198.18.0.7", 2048, range(1, 160)),
                                                  ("198.18.0.1", 4096, range(200, 359)))):
        for i, port in enumerate(ports):
            t = 10.0 + 100 * k + i * 0.002
            recs.append((t, ether(ipv4_tcp(scanner, "198.18.0.2", 40000 + k, port, 0x02, seq=100, window=window))))
            recs.append((t + 0.001, ether(ipv4_tcp("198.18.0.2", scanner, port, 40000 + k, 0x14, ack=101))))
    path = tmp_path / "three.pcap"
    path.write_bytes(pcap_bytes(recs))
    for a, b in ((1, 2), (2, 3)):
        ordinary = _every_format(compare(str(path), session_a=a, session_b=b))
        shaped = shape_route_only(monkeypatch, whole_forbidden=False)
        assert _every_format(compare(str(path), session_a=a, session_b=b)) == ordinary
        assert len(shaped[0].bulk.between) == 2 * 2 * 159  # the two sessions' probes and answers only
        monkeypatch.undo()


def test_ports_read_alike_are_summed_up_in_text_and_kept_in_json(tmp_path):
    """Two -p- scans that agree on thousands of closed ports: the table and
    markdown list the ports that matter and sum up the rest, as analyze does
    after nmap; JSON keeps every port."""
    from pcapbuild import MSS_1460, ether, ipv4_tcp
    from test_fastpath import S, T

    ports = range(1, 121)
    recs = big_scan(t0=10.0, ports=ports, open_ports=(22,))
    b, t = "198.18.0.9", 50.0
    for port in list(ports) + [5000 + i for i in range(30)]:  # B probes 30 ports A does not
        recs.append((t, ether(ipv4_tcp(b, T, 41000, port, 0x02, seq=7, options=MSS_1460))))
        flags, seq, ack = (0x12, 900, 8) if port == 22 else (0x14, 0, 8)
        recs.append((t + 0.0005, ether(ipv4_tcp(T, b, port, 41000, flags, seq=seq, ack=ack))))
        t += 0.001
    path = tmp_path / "two.pcap"
    path.write_bytes(pcap_bytes(recs))
    c = compare(str(path), session_a=1, session_b=2)
    table, md, js = render(c, "table"), render(c, "markdown"), render(c, "json")
    want = ('Not shown: 119 tcp ports both scans read as "closed (reset); 1 probe(s)"; '
            '30 tcp ports only B probed, read as "closed (reset); 1 probe(s)" (every port in --format json)')
    assert want in table and want in md
    listed = [line for line in table.splitlines() if line.split()[:1] and line.split()[0].endswith("/tcp")]
    assert [line.split()[0] for line in listed] == ["22/tcp"]  # the one port not read as the many are
    assert '30 more, summed up in "Not shown" above' in table
    assert js.count('"port":') >= 150 and S in js


def test_a_few_ports_are_all_listed(tmp_path):
    """Under COLLAPSE_MIN ports read one way, every port has its row."""
    from pcapbuild import MSS_1460, ether, ipv4_tcp
    from test_fastpath import T

    recs = big_scan(t0=10.0, ports=range(1, 11), open_ports=())
    for i, port in enumerate(range(1, 11)):
        recs.append((50.0 + i, ether(ipv4_tcp("198.18.0.9", T, 41000, port, 0x02, seq=7, options=MSS_1460))))
        recs.append((50.0 + i + 0.0005, ether(ipv4_tcp(T, "198.18.0.9", port, 41000, 0x14, seq=0, ack=8))))
    path = tmp_path / "two.pcap"
    path.write_bytes(pcap_bytes(recs))
    table = render(compare(str(path), session_a=1, session_b=2), "table")
    assert "Not shown" not in table
    assert sum(1 for line in table.splitlines() if line.split()[:1] and line.split()[0].endswith("/tcp")) == 10


def silent_retried_sessions(path):
    """A SYN scan whose silent ports are probed again from the same source port a second
    apart, two, three or four probes each (nmap's retries), one of them from a second source
    port too and one with other TCP options in its retries, the rest closed (RST/ACK); and a
    second scanner's SYN scan of the same target."""
    from pcapbuild import MSS_1460, ether, ipv4_tcp

    scanner, other, target = "198.18.0.1", "198.18.0.9", "198.18.0.2"
    recs, t, silent = [], 1.0, []
    for port in range(1, 201):
        recs.append((t, ether(ipv4_tcp(scanner, target, 40000, port, 0x02, seq=1000, options=MSS_1460,
                                       ip_id=port))))
        if port % 5:
            recs.append((t + 0.0005, ether(ipv4_tcp(target, scanner, port, 40000, 0x14, ack=1001))))
        else:
            silent.append(port)
        t += 0.001
    for k in range(1, 4):  # the retries, after the scan
        t += 1.0
        for port in silent:
            if k < 1 + port % 4:
                opts = b"" if port == 15 else MSS_1460
                recs.append((t, ether(ipv4_tcp(scanner, target, 40000, port, 0x02, seq=1000, options=opts,
                                               ip_id=1000 * k + port))))
                t += 0.001
    recs.append((t + 1.0, ether(ipv4_tcp(scanner, target, 40001, 20, 0x02, seq=1000, options=MSS_1460))))
    t += 10.0
    for port in range(1, 81):
        recs.append((t, ether(ipv4_tcp(other, target, 52000, port, 0x02, seq=77, window=2048))))
        recs.append((t + 0.0005, ether(ipv4_tcp(target, other, port, 52000, 0x14, ack=78))))
        t += 0.001
    path.write_bytes(pcap_bytes(recs))
    return path


def test_silent_ports_probed_again_described_by_shape_from_their_columns(monkeypatch, tmp_path):
    """Ports that never answered, their retries handed on as columns (PortTable.more, here
    however few: MORE_OBJECTS_MAX 0): described by their shape and their retries' columns
    (BulkPorts reopened), not made whole; every format the same as the ordinary path's. The
    number of probes is in the shape key: without it, one representative's count would stand
    for ports probed two to four times, and the description differs."""
    from pcapscan.fastpath import scans

    path = silent_retried_sessions(tmp_path / "retried.pcap")
    ordinary = _every_format(compare(str(path)))
    monkeypatch.setattr(scans, "MORE_OBJECTS_MAX", 0)
    real_shaped = compare_module._Shaped
    shaped = shape_route_only(monkeypatch)
    assert _every_format(compare(str(path))) == ordinary
    (retried, _other) = sorted(shaped[0].sessions.values(), key=lambda s: -len(s.retry_rows))
    assert len(retried.rows) > 150  # by shape
    again = shaped[0].bulk.probes_again[id(retried.scan)]
    # the retries read off the columns: port 15's replayed, port 20's probe from 40001 one
    assert len(retried.retry_rows) == 60 - 3 + 1
    assert {len(again[r]) for r in retried.rows.tolist() if r in again} == {2, 3, 4}
    assert [pr.port for _row, pr in retried.real] == [15]  # its retries' options are not its first probe's
    real_probes = real_shaped._probes

    def uncounted(self, s, rows_b, first):
        import numpy as np

        probes, alike = real_probes(self, s, rows_b, first)
        return np.ones_like(probes), alike

    monkeypatch.setattr(real_shaped, "_probes", uncounted)
    assert _every_format(compare(str(path))) != ordinary
