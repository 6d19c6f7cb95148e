"""Each technique declares the response fields its classifier reads
(TechniqueSpec.reads, techniques/base.py RESPONSE_FIELDS), and the fast path
keys its bulk classification on them (fastpath/shapes.py). Here every
registered technique is held to its declaration on real exchanges (the
golden captures, the tools' and the seeds'): perturbing any response field
it does not declare never moves a verdict, and each field it declares moves
some verdict (so the declaration is not wider than the classifier).

Which probe a response answers (exchanges.answers: ports, sequence numbers,
and for TCP the RST or ACK bit RFC 793 asks of an answer) is pairing,
decided before any classifier and held fixed here, as the fast path holds it
in its "ans" column: each perturbed exchange is classified with its
original pairing. The protocol of a response is what the response is, not
a field of it: every technique declares it and it is not perturbed."""
from dataclasses import replace
from pathlib import Path

import pytest

from pcapscan.analysis import analyze
from pcapscan.exchanges import answers
from pcapscan.fastpath import shapes
from pcapscan.model import Quoted
from pcapscan.techniques import REGISTRY, base
from pcapscan.techniques.base import (CHUNK, FLAGS, FROM_TARGET, ICMP, PROTO, RESPONSE_FIELDS, TTL, WINDOW_NONZERO,
                                      response_fields)

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = sorted(p for d in ("golden", "tools", "seeds") for p in (ROOT / "captures" / d).rglob("*.pcap*"))
ROUTER = "198.18.0.254"
_MOD32 = 1 << 32


def _exchanges():
    result = analyze([str(p) for p in CAPTURES])
    seen, out = set(), []
    for scan in result.scans:
        for pr in scan.ports:
            ex = pr.exchange
            if ex is not None and ex.responses and id(ex) not in seen:
                seen.add(id(ex))
                out.append(ex)
    return out


EXCHANGES = _exchanges()


def _responses(ex, change):
    return replace(ex, responses=tuple(change(r) for r in ex.responses))


def _shift_seq(ex, d=0x01000000):
    """Every sequence number and tag of the exchange, both sides, moved alike: pairing holds."""
    def move(p):
        q = p.quoted
        if q is not None and q.seq is not None:
            q = Quoted(q.src, q.dst, q.proto, q.sport, q.dport, (q.seq + d) % _MOD32)
        return replace(p, seq=(p.seq + d) % _MOD32, ack=(p.ack + d) % _MOD32, quoted=q)
    return replace(ex, probes=tuple(map(move, ex.probes)), responses=tuple(map(move, ex.responses)),
                   followups=tuple(map(move, ex.followups)), stray=tuple(map(move, ex.stray)))


def _flags(r):
    if r.proto != "tcp":
        return replace(r, flags=0x12)
    return replace(r, flags=0x12 if r.flags & 0x04 else 0x14 if r.flags & 0x02 else 0x04)


def _icmp(r):
    if r.proto == "icmp":
        return replace(r, icmp_code=13 if r.icmp_code == 3 else 3) if r.icmp_type == 3 else replace(r, icmp_type=3)
    if r.proto == "icmp6":
        return replace(r, icmp_code=1 if r.icmp_code == 4 else 4) if r.icmp_type == 1 else replace(r, icmp_type=1)
    return replace(r, icmp_type=3, icmp_code=3)


# name -> (the declared field it changes, or None: a field no technique may read; the perturbation)
PERTURBATIONS = {
    "flags": (FLAGS, lambda ex: _responses(ex, _flags)),
    "window!=0": (WINDOW_NONZERO, lambda ex: _responses(ex, lambda r: replace(r, window=0 if r.window else 512))),
    "icmp type/code": (ICMP, lambda ex: _responses(ex, _icmp)),
    "sender": (FROM_TARGET, lambda ex: _responses(
        ex, lambda r: replace(r, src=ROUTER if r.src == ex.target else ex.target))),
    "sctp chunk": (CHUNK, lambda ex: _responses(ex, lambda r: replace(r, chunk_type=6 if r.chunk_type == 2 else 2))),
    "ttl": (TTL, lambda ex: _responses(ex, lambda r: replace(r, ttl=(r.ttl + 17) % 256 or 1))),
    "window value": (None, lambda ex: _responses(ex, lambda r: replace(r, window=r.window and r.window % 65535 + 1))),
    "ip id": (None, lambda ex: _responses(ex, lambda r: replace(r, ip_id=(r.ip_id + 4321) % 65536))),
    "tcp options": (None, lambda ex: _responses(ex, lambda r: replace(r, options=(2, 4, 8, 1, 3), mss=1460))),
    "payload": (None, lambda ex: _responses(ex, lambda r: replace(r, payload_len=r.payload_len + 7,
                                                                  length=r.length + 7))),
    "seq/ack": (None, _shift_seq),
    "timestamps": (None, lambda ex: _responses(ex, lambda r: replace(r, ts=r.ts + 0.0005))),
}


def _verdict(spec, ex):
    v = spec.classify(ex)
    return v.state, v.reason, v.reason_ttl


def _pairing(ex) -> dict:
    """(probe frame, response frame) -> does it answer, as exchanges.answers says of the unperturbed exchange."""
    return {(p.frame, r.frame): answers(p, r) for p in ex.probes for r in ex.responses}


def _fields(ex):
    return [response_fields(r, ex) for r in ex.responses]


def test_there_are_real_exchanges_for_every_technique():
    for spec in REGISTRY.values():
        assert any(ex.proto == spec.proto for ex in EXCHANGES), spec.technique


def test_every_perturbation_changes_only_the_field_it_names():
    """The test's own check: a perturbation of an undeclared field leaves every declared field as it was."""
    for ex in EXCHANGES:
        before = _fields(ex)
        for name, (field, perturb) in PERTURBATIONS.items():
            after = _fields(perturb(ex))
            for b, a in zip(before, after):
                changed = {f for f in RESPONSE_FIELDS if a[f] != b[f]}
                assert changed <= {field}, (name, changed)


@pytest.mark.parametrize("technique", sorted(REGISTRY, key=lambda t: t.value), ids=lambda t: t.value)
def test_only_the_declared_response_fields_move_a_verdict(technique, monkeypatch):
    spec = REGISTRY[technique]
    mine = [ex for ex in EXCHANGES if ex.proto == spec.proto]
    moved = set()
    pairing: dict = {}
    monkeypatch.setattr(base, "answers", lambda p, r: pairing[(p.frame, r.frame)])
    for ex in mine:
        pairing = _pairing(ex)
        before = _verdict(spec, ex)
        for name, (field, perturb) in PERTURBATIONS.items():
            after = _verdict(spec, perturb(ex))
            if after != before:
                assert field in spec.reads, (
                    f"{technique}: perturbing {name} (undeclared) moved {before} to {after} "
                    f"(frames {[r.frame for r in ex.responses]})")
                moved.add(field)
    declared = set(spec.reads) - {PROTO}
    assert declared <= moved, f"{technique} declares {sorted(declared - moved)} but no perturbation of it moved a verdict"


def test_the_fast_path_keys_every_technique_on_its_declared_fields():
    """shapes.key_columns covers every registered technique's declaration, and
    only the window scan's verdicts need the window's zero-ness."""
    for spec in REGISTRY.values():
        cols = shapes.key_columns(spec)
        assert ("rwin" in cols) is (WINDOW_NONZERO in spec.reads)
        assert ("rflags" in cols) is (FLAGS in spec.reads)


def test_a_field_the_fast_path_has_no_column_for_is_refused():
    spec = replace(REGISTRY[next(iter(REGISTRY))], reads=frozenset({"ip id"}))
    with pytest.raises(ValueError, match="no column"):
        shapes.key_columns(spec)
