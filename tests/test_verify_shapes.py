"""verify checks the ports a big capture's fast path classified in bulk by
their shape (verify._Shapes, verify.IDENTITY_FIELDS): every port rule runs
once on a real representative of each shape. Held here: a rule finds on
every port of a shape what it finds on the representative (the same
severities and sentences, only the frames and numbers they name differ), on
synthetic big captures and on every capture of the suite read through the
fast path; and verify's output is the ordinary path's either way."""
import random
from pathlib import Path

import pytest

from pcapbuild import ether, ipv4_tcp, pcap_bytes
from test_fastpath import CASES, R, T, back, big_scan, syn
from test_verify_big import both

from pcapscan import fastpath
from pcapscan import verify as verify_mod
from pcapscan.verify import RULES, BulkPortCase, verify

ROOT = Path(__file__).resolve().parents[1]
OWN = sorted(p for p in (ROOT / "captures").rglob("*") if p.suffix in (".pcap", ".pcapng"))
PORT_RULES = [r for r in RULES.values() if r.scope == "port"]


def bad_resets():
    """A SYN scan whose target's resets break RFC 793 in several ways, each on many ports:
    RST/ACK with sequence number 7 (not 0), a bare RST (no ACK), and a RST/ACK acknowledging
    the wrong number (set aside as stray); random probe sequence numbers."""
    rng = random.Random(7)
    recs, t = [], 1.0
    for port in range(1, 400):
        seq = rng.randrange(1 << 32)
        recs.append((t, ether(syn(40000, port, seq=seq))))
        kind = port % 4
        ack = (seq + 1) % (1 << 32)
        if kind == 0:
            recs.append((t + 0.0005, ether(back(40000, port, 0x14, 7, ack))))
        elif kind == 1:
            recs.append((t + 0.0005, ether(back(40000, port, 0x04, 0, ack))))
        elif kind == 2:
            recs.append((t + 0.0005, ether(back(40000, port, 0x14, 0, (ack + 5) % (1 << 32)))))
        t += 0.002
    return recs + big_scan(t0=t + 1.0, sport=41000, ports=range(500, 700), open_ports=(512,))


def fin_after_syn():
    """A SYN scan finds ports 22 and 50 open; a FIN scan from another scanner is answered RST on
    every port (a Windows-like stack): rfc793-deviation reads the bulk ports of both."""
    recs, t = big_scan(), 10.0
    for port in range(1, 61):
        recs.append((t, ether(ipv4_tcp(R, T, 50000, port, 0x01, seq=77, window=1024))))
        recs.append((t + 0.0005, ether(ipv4_tcp(T, R, port, 50000, 0x14, seq=0, ack=78))))
        t += 0.002
    return recs


SYNTHETIC = {"bad-resets": bad_resets, "fin-after-syn": fin_after_syn, **CASES}


def _findings(pc) -> list:
    """Every port rule's findings on a port case, without the frames and numbers they name."""
    return [(r.id, h.severity, h.text.key, tuple(sorted(p.key for p in _texts(h.text))))
            for r in PORT_RULES for h in r.check(pc)]


def _texts(text) -> list:
    out = []
    for _name, value in text.params:
        for v in (value if isinstance(value, tuple) else (value,)):
            if hasattr(v, "key") and hasattr(v, "params"):
                out += [v] + _texts(v)
    return out


def _shapes_of(monkeypatch, path) -> list:
    """verify `path` through the fast path; the _Shapes it made."""
    made = []
    real = verify_mod._Shapes

    def recording(*a, **k):
        made.append(real(*a, **k))
        return made[-1]

    monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)
    monkeypatch.setattr(verify_mod, "_Shapes", recording)
    verify(str(path))
    monkeypatch.undo()
    return made


def _assert_shapes_hold(shapes) -> tuple:
    """(shapes seen, shapes whose representative found something, ports checked by shape)."""
    n_shapes = n_found = n_bulk = 0
    for sh in shapes:
        for scan, rows, ids in sh.shapes:
            rep_of: dict = {}
            for row, u in zip(rows.tolist(), ids.tolist()):
                got = _findings(sh.port_case(scan, row))
                if u not in rep_of:
                    rep_of[u] = got
                    n_shapes += 1
                    n_found += bool(got)
                assert got == rep_of[u], (scan.scanner, row)
                case = sh.case_of(scan, row)
                assert isinstance(case, BulkPortCase) == (not got)  # found anything: checked one by one
                n_bulk += isinstance(case, BulkPortCase)
    return n_shapes, n_found, n_bulk


@pytest.mark.parametrize("case", sorted(SYNTHETIC))
def test_a_rule_finds_on_every_port_of_a_shape_what_it_finds_on_its_representative(monkeypatch, tmp_path, case):
    path = tmp_path / f"{case}.pcap"
    path.write_bytes(pcap_bytes(SYNTHETIC[case]()))
    shapes = _shapes_of(monkeypatch, path)
    n_shapes, n_found, n_bulk = _assert_shapes_hold(shapes)
    if case in ("plain", "bad-resets", "fin-after-syn", "udp", "stray"):
        assert shapes and n_bulk >= 40 and n_shapes < n_bulk / 4
    if case == "bad-resets":
        assert n_found >= 3  # the three broken resets: each shape's ports checked one by one


@pytest.mark.parametrize("case", sorted(set(SYNTHETIC) - set(CASES)))
def test_synthetic_captures_verify_the_same_by_shape(monkeypatch, tmp_path, case):
    path = tmp_path / f"{case}.pcap"
    path.write_bytes(pcap_bytes(SYNTHETIC[case]()))
    ordinary, fast, made = both(monkeypatch, path)
    assert made == "shapes"
    assert fast == ordinary
    if case == "bad-resets":
        assert ordinary.count('"rule": "reset-flags"') >= 290
    if case == "fin-after-syn":
        assert "rfc793-deviation" in ordinary


@pytest.mark.parametrize("path", OWN, ids=lambda p: str(p.relative_to(ROOT / "captures")))
def test_shapes_hold_on_own_captures(monkeypatch, path):
    _assert_shapes_hold(_shapes_of(monkeypatch, path))


@pytest.mark.parametrize("case", ["fin-after-syn", "bad-resets", "udp", "null-scan-run-three-times"])
def test_ports_where_picks_by_shape_what_a_walk_picks(monkeypatch, tmp_path, case):
    """ports_where on a capture checked by shape (each shape kept or left out
    as one) yields the port cases a walk of every port keeps, in order."""
    path = tmp_path / f"{case}.pcap"
    path.write_bytes(pcap_bytes(SYNTHETIC[case]()))
    cases, result = [], verify_mod._result
    monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)
    monkeypatch.setattr(verify_mod, "_result", lambda cs, *a, **k: (cases.extend(cs), result(cs, *a, **k))[1])
    verify(str(path))
    shaped = [cc for cc in cases if isinstance(cc.ports, verify_mod._CasePorts)]
    assert shaped and any(isinstance(pc, BulkPortCase) for cc in shaped for pc in cc.ports)
    keeps = [lambda t, _p: t in verify_mod.INVERSE, lambda t, _p: t is verify_mod.Technique.SYN,
             lambda _t, p: "synack" in p, lambda _t, p: not p, lambda _t, _p: False]
    for cc in shaped:
        for keep in keeps:
            walked = [(type(pc), pc.where) for pc in cc.ports if keep(pc.technique, verify_mod._port_parts(pc))]
            picked = [(type(pc), pc.where) for pc in verify_mod.ports_where(cc.ports, keep)]
            assert picked == walked
            for state in (verify_mod.State.CLOSED, verify_mod.State.OPEN):  # read off the columns, as a walk reads
                assert verify_mod.targets_where(cc.ports, keep, state) == {
                    (pc.where[1], pc.where[3]) for pc in cc.ports
                    if keep(pc.technique, verify_mod._port_parts(pc)) and pc.result.state is state}
        assert sum(1 for _ in verify_mod.ports_where(cc.ports, lambda _t, _p: True)) == len(cc.ports)
