"""verify on big captures: the fast path's sessions made whole from the
packets between their addresses (fastpath.subset), read once for the rules'
flows too. The same findings, ports and JSON as the ordinary path's."""
import io
import json
from pathlib import Path

import pytest

from pcapbuild import ether, ipv4_tcp, pcap_bytes
from test_fastpath import CASES, OUT_OF_ORDER, S, T, big_scan, null_scan

from pcapscan import fastpath
from pcapscan.claims import Claim
from pcapscan.model import Technique
from pcapscan import verify as verify_mod
from pcapscan.fastpath import subset
from pcapscan.report.verify_report import render, write_json
from pcapscan.verify import verify

ROOT = Path(__file__).resolve().parents[1]
OWN = sorted(p for d in ("golden", "tools", "seeds") for p in (ROOT / "captures" / d).rglob("*")
             if p.suffix in (".pcap", ".pcapng"))


def both(monkeypatch, path, **kw):
    """(ordinary JSON and table, fast ones, how the fast path's bulk ports were
    checked: "shapes", "whole" or "")."""
    result = verify(str(path), **kw)
    ordinary = render(result, "json") + render(result, "table")
    monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)
    made = []
    real_whole, real_shapes = subset.whole_sessions, verify_mod._Shapes

    def whole(*a, **k):
        out = real_whole(*a, **k)
        made.append("whole")
        return out

    def shapes(*a, **k):
        out = real_shapes(*a, **k)
        made.append("shapes")
        return out

    monkeypatch.setattr(subset, "whole_sessions", whole)
    monkeypatch.setattr(verify_mod, "_Shapes", shapes)
    result = verify(str(path), **kw)
    streamed = io.StringIO()
    write_json(result, streamed)
    assert streamed.getvalue() == render(result, "json")  # the CLI's JSON, written piece by piece
    fast = _no_fallback_note(streamed.getvalue()) + render(result, "table")
    monkeypatch.undo()
    return ordinary, fast, made[-1] if made else ""  # the shapes tried, then whole: "whole"


def _no_fallback_note(text: str) -> str:
    """The JSON without the note a capture the fast path declined carries (read by the ordinary path)."""
    d = json.loads(text)
    for c in d["analysis"]["captures"]:
        c["warnings"] = [w for w in c["warnings"] if "not by the fast path" not in w]
    return json.dumps(d, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("path", OWN, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_own_captures_verify_the_same_through_the_fast_path(monkeypatch, path):
    ordinary, fast, _made = both(monkeypatch, path)
    assert fast == ordinary


@pytest.mark.parametrize("case", sorted(CASES))
def test_crafted_captures_verify_the_same(monkeypatch, tmp_path, case):
    path = tmp_path / f"{case}.pcap"
    path.write_bytes(pcap_bytes(CASES[case]()))
    ordinary, fast, made = both(monkeypatch, path)
    # bulk ports checked by shape; no bulk port at all ("duplicates": the engine's). An ICMP error
    # written before its probe sends that flow to the engine (exchanges.EARLY_ANSWER_FRAMES): shapes still.
    # A port probed again from one source port (flows of one key the fast path split, flows.py), or
    # from another: by shape too, each bulk port's PortCase given its port's every packet.
    assert made == ("" if case in ("backwards-time", "duplicates", "same-scan-again", "two-tools-one-target")
                    else "shapes")
    assert fast == ordinary


def test_out_of_order_and_claims(monkeypatch, tmp_path):
    _sorted, moved = OUT_OF_ORDER["answers-and-probes-back-1s"]()
    path = tmp_path / "moved.pcap"
    path.write_bytes(pcap_bytes(moved + big_scan(t0=200.0, sport=41000, ports=range(1, 30))))
    for kw in ({}, {"claims": ["syn:closed"]}, {"claims": ["syn:open:22"]}):
        ordinary, fast, made = both(monkeypatch, path, **kw)
        # a claimed state of every port reads every port's exchange: made whole; a port's, by shape
        assert made == ("whole" if kw == {"claims": ["syn:closed"]} else "shapes")
        assert fast == ordinary


# A claim of a technique alone (grade's): the claimed technique's table and rules read the ports
# that fit; the others as inferred. Connect on a SYN scan: every SYN/ACK a handshake-incomplete.
TECHNIQUE_CLAIMS = ("syn", "connect", "xmas", "syn+connect", "connect@80", "connect@22", "fin@7", "udp", "null")


def technique_claims(text: str) -> list:
    """"connect@80" -> [the claim grade makes of a file named for connect, port 80]."""
    out = []
    for one in text.split("+"):
        tech, _, port = one.partition("@")
        out.append(Claim(Technique(tech), None, int(port) if port else None, "grade"))
    return out


@pytest.mark.parametrize("claims", TECHNIQUE_CLAIMS)
@pytest.mark.parametrize("case", ["plain", "two-tools-one-target", "udp", "retry-other-sport", "stray",
                                  "null-scan-run-three-times", "reused-port"])
def test_technique_claims_verify_the_same_by_shape(monkeypatch, tmp_path, case, claims):
    path = tmp_path / f"{case}.pcap"
    path.write_bytes(pcap_bytes(CASES[case]()))
    ordinary, fast, made = both(monkeypatch, path, claims=technique_claims(claims))
    assert fast == ordinary
    if case in ("plain", "udp", "null-scan-run-three-times", "reused-port"):
        assert made == "shapes"
    if case == "plain" and claims == "connect":
        assert ordinary.count('"rule": "handshake-incomplete"') >= 2


def test_verify_each_is_verify_of_each(monkeypatch, tmp_path):
    from pcapscan.verify import verify_each

    path = tmp_path / "plain.pcap"
    path.write_bytes(pcap_bytes(CASES["plain"]() + CASES["udp"]()[-6:]))
    monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)
    sets = [technique_claims("syn"), technique_claims("connect"), [], technique_claims("udp"), ["xmas:closed"],
            technique_claims("connect@22")]
    each = list(verify_each(str(path), sets))
    for claims, got in zip(sets, each):
        assert render(got, "json") == render(verify(str(path), claims=claims), "json")
    assert render(each[0], "json") != render(each[1], "json")


@pytest.mark.parametrize("case", ["null-scan-run-three-times", "null-scan-second-answer", "reused-port",
                                  "dhcp-and-ntp"])
def test_a_port_probed_again_draws_the_ordinary_paths_ladders(monkeypatch, tmp_path, case):
    """Bulk ports that share their port with other packets (the scan run again from one source
    port, another tool's probe) are checked by shape, and each draws the ladder the ordinary path
    draws: every packet of its connections, the other runs' too (verify._ladder_packets)."""
    path = tmp_path / f"{case}.pcap"
    path.write_bytes(pcap_bytes(CASES[case]()))
    ordinary = render(verify(str(path)), "table", ladders="all")
    monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)
    made, real = [], verify_mod._Shapes
    monkeypatch.setattr(verify_mod, "_Shapes", lambda *a, **k: made.append(real(*a, **k)) or made[-1])
    fast = render(verify(str(path)), "table", ladders="all")
    assert made and any(sh.bulk_ports.shared for sh in made)  # some bulk port shares its port
    assert fast == ordinary
    if case == "null-scan-run-three-times":  # each run's port 20 (frames 1, 19, 43) draws the three runs
        assert ordinary.count("ladder 20/tcp") == 3 and ordinary.count("   43   +4.000  33333 -- none") == 3


def test_a_reset_from_another_port_to_a_port_probed_again_is_read_whole(monkeypatch, tmp_path):
    """A scanner's RST to a port probed again, from a source port no probe used, is a loose reset
    given to the latest probe before it, of whichever run (verify._loose_resets): the bulk ports
    sharing that port are then not checked by shape but made whole; the same findings."""
    path = tmp_path / "null-scan-and-a-loose-reset.pcap"
    path.write_bytes(pcap_bytes(null_scan() + [(4.5, ether(ipv4_tcp(S, T, 40404, 21, 0x04, seq=1)))]))
    ordinary, fast, made = both(monkeypatch, path)
    assert made == "whole"
    assert fast == ordinary and '"rule": "rst-port-mismatch"' in ordinary


@pytest.mark.parametrize("fast", [False, True])
def test_verify_each_makes_only_the_checked_ports_asked_for(monkeypatch, tmp_path, fast):
    """ports_at: a set's result lists the checked ports at its (proto, port)s
    as checked_at picks them from the whole list, none for (), every one for
    None; the findings are the same whatever it lists."""
    from pcapscan.errors import UsageError
    from pcapscan.verify import checked_at, verify_each

    path = tmp_path / "plain.pcap"
    path.write_bytes(pcap_bytes(CASES["plain"]() + CASES["udp"]()[-6:]))
    if fast:
        monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)
    sets = [[], technique_claims("syn"), [], technique_claims("udp")]
    whole = list(verify_each(str(path), sets))
    every = sorted({(p.proto, p.port) for p in whole[0].ports})
    assert len(every) > 6 and {"tcp", "udp"} <= {proto for proto, _port in every}
    some = set(every[::3]) | {("udp", every[0][1]), ("tcp", 65000)}  # a protocol's port of the other, none
    asked = [some, (), None, {k for k in every if k[0] == "udp"}]
    got = list(verify_each(str(path), sets, ports_at=asked))
    for keys, full, mine in zip(asked, whole, got):
        assert mine.findings == full.findings
        if keys is None:
            assert render(mine, "json") == render(full, "json")
            continue
        assert checked_at(mine.ports, keys) == checked_at(full.ports, keys)
        assert len(mine.ports) == len(checked_at(full.ports, keys)) < len(full.ports)
    assert len(got[0].ports) > 0 and len(got[1].ports) == 0
    with pytest.raises(UsageError):
        list(verify_each(str(path), sets, ports_at=[()]))


def test_frame_sessions_columns_packed_or_wide_are_each_frames_first_session():
    """FrameSessions' sorted columns, by packed (frame, session) keys where
    frames fit 32 bits and by a stable sort beyond: each frame once, with the
    lowest session that names it."""
    import numpy as np

    from pcapscan.verify import FrameSessions

    rng = np.random.default_rng(7)
    for _ in range(100):
        packed, wide, first = FrameSessions(), FrameSessions(), {}
        for n in rng.permutation(np.arange(1, 12))[:rng.integers(1, 6)].tolist():
            frames = rng.integers(0, 200, rng.integers(1, 40))
            packed.add_bulk(n, f"tool{n}", frames)
            wide.add_bulk(n, f"tool{n}", frames + (1 << 33))
            for f in frames.tolist():
                first[f] = min(first.get(f, n), n)
        pf, pn, tools = packed._columns()
        wf, wn, _ = wide._columns()
        assert pf.dtype == np.uint32 and wf.dtype == np.int64
        assert pf.tolist() == sorted(first) == (wf - (1 << 33)).tolist()
        assert pn.tolist() == [first[f] for f in sorted(first)] == wn.tolist()
        assert all(packed[f] == (n, tools[n]) == wide[f + (1 << 33)] for f, n in first.items())
