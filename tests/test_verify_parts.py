"""verify's port rules run only on the ports that show the parts they declare
they need (Rule.needs, verify.PORT_PARTS): the same findings, JSON and table
as running every port rule on every port, on the suite's own captures and on
synthetic big ones through the fast path; and no rule finds anything on a
port case that lacks a part it needs."""
from pathlib import Path

import pytest

from pcapbuild import pcap_bytes
from test_fastpath import CASES, big_scan

from pcapscan import fastpath
from pcapscan import verify as verify_mod
from pcapscan.report.verify_report import render
from pcapscan.verify import PORT_PARTS, RULES, verify

ROOT = Path(__file__).resolve().parents[1]
OWN = sorted(p for p in (ROOT / "captures").rglob("*") if p.suffix in (".pcap", ".pcapng"))
PORT_RULES = [r for r in RULES.values() if r.scope == "port"]
CLAIMS = ({}, {"claims": ["connect:open"]}, {"claims": ["syn:closed"]}, {"claims_from_names": True})


def _gated_and_every_port(monkeypatch, path, **kw) -> tuple:
    """(renders with the parts, renders with every port rule run on every port,
    every port case checked with its parts: the capture and set rules read only
    some of them, ports_where)."""
    seen = []
    real = verify_mod._port_parts
    result = verify_mod._result

    def recording(cases, *args, **kwargs):
        seen.extend((pc, real(pc)) for cc in cases for pc in cc.ports)
        return result(cases, *args, **kwargs)

    monkeypatch.setattr(verify_mod, "_result", recording)
    gated = verify(str(path), **kw)
    monkeypatch.setattr(verify_mod, "_result", result)
    monkeypatch.setattr(verify_mod, "_port_parts", lambda pc: PORT_PARTS)
    every = verify(str(path), **kw)
    monkeypatch.setattr(verify_mod, "_port_parts", real)
    assert gated.findings == every.findings
    return [render(gated, f) for f in ("json", "table")], [render(every, f) for f in ("json", "table")], seen


def _needs_hold(seen):
    """Every port rule finds nothing on a case that lacks a part it needs."""
    skipped = 0
    for pc, parts in seen:
        assert parts <= PORT_PARTS
        for r in PORT_RULES:
            if not r.needs <= parts:
                skipped += 1
                assert list(r.check(pc)) == [], (r.id, pc.where)
    return skipped


@pytest.mark.parametrize("path", OWN, ids=lambda p: str(p.relative_to(ROOT / "captures")))
def test_own_captures_same_with_and_without_parts(monkeypatch, path):
    for kw in CLAIMS:
        gated, every, seen = _gated_and_every_port(monkeypatch, path, **kw)
        assert gated == every
        _needs_hold(seen)


def test_parts_skip_most_rules_on_a_big_scan(monkeypatch, tmp_path):
    """A synthetic big SYN scan through the fast path (sessions made whole):
    identical output, and the closed ports (probe, RST/ACK) skip every rule but
    reset-flags."""
    path = tmp_path / "big.pcap"
    path.write_bytes(pcap_bytes(big_scan(ports=range(1, 3001), open_ports=(22, 80, 443))
                                + big_scan(t0=20.0, sport=41000, ports=range(5001, 5200), open_ports=(5050,))))
    monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)
    for kw in CLAIMS[:3]:
        gated, every, seen = _gated_and_every_port(monkeypatch, path, **kw)
        assert gated == every
        assert len(seen) >= 3199
        assert _needs_hold(seen) >= 3000 * (len(PORT_RULES) - 2)
        assert sum(1 for _pc, parts in seen if "synack" in parts) >= 4


@pytest.mark.parametrize("case", sorted(CASES))
def test_crafted_fast_path_captures_same_with_and_without_parts(monkeypatch, tmp_path, case):
    path = tmp_path / f"{case}.pcap"
    path.write_bytes(pcap_bytes(CASES[case]()))
    monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)
    gated, every, seen = _gated_and_every_port(monkeypatch, path)
    assert gated == every
    _needs_hold(seen)


def test_a_rule_needs_known_parts():
    with pytest.raises(ValueError):
        verify_mod.rule("x", "port", needs={"no-such-part"})
    with pytest.raises(ValueError):
        verify_mod.rule("x", "capture", needs={"synack"})
