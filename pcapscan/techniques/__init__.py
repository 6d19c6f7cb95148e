"""Technique policy: one module per family, each with its probe shape and its
state table, plus `infer_technique`, which names the technique an exchange's
probes belong to. Importing this package registers every technique."""
from ..kernel import OS_SYN_OPTION_KINDS
from ..model import Exchange, Technique, Text
from . import ack, handshake, inverse, udp  # noqa: F401  (registration)
from . import idle, ipproto, sctp  # noqa: F401  (registration: the families beyond TCP/UDP port scans)
from .base import REGISTRY, TechniqueSpec, classify, response_kind

# Probe class (exchanges.probe_class) -> technique, for the techniques read
# off their probe alone. "S" is either syn or connect: decided by
# behaviour, then by fingerprint; "A" is ack unless --technique window.
PROBE_TECHNIQUES = {spec.probe_class: t for t, spec in REGISTRY.items() if spec.inferred}


def live_techniques() -> list:
    """The techniques `pcapscan scan` sends (and `--technique` names), in Technique's order."""
    return [t for t in Technique if t in REGISTRY and REGISTRY[t].live]


def lab_techniques() -> list:
    """The techniques of the lab's summary table (live/labrun.py), in its row order."""
    return sorted((t for t, s in REGISTRY.items() if s.lab is not None), key=lambda t: REGISTRY[t].lab.row)


# How infer_technique words the evidence for the probe classes that are not TCP
# flags: messages.py's templates (the evidence is a Text, rendered per language).
PROBE_WORDS = {"udp": "probes.udp", "init": "probes.init", "cookie-echo": "probes.cookie-echo", "ip": "probes.ip"}



def probe_key(ex: Exchange) -> str:
    """The probe class of an exchange: flag letters, or "udp"."""
    from ..exchanges import probe_class

    key = probe_class(ex.probes[0])
    return "?" if key is None else key


def syn_evidence(ex: Exchange):
    """(technique, evidence, behavioural) for an exchange of SYN probes.

    evidence is a Text (messages.py "inferred.*"); behavioural is True when
    the scanner's own reaction to a SYN/ACK decided it, False when only the
    SYN's fingerprint did.
    """
    if ex.completed_handshake:
        ack = next(f for f in ex.followups if f.flags == 0x10 or (f.flags & 0x10 and not f.flags & 0x06))
        return Technique.CONNECT, Text.of("inferred.handshake", frame=ack.frame), True
    synack = next((r for r in ex.responses if r.proto == "tcp" and r.flags & 0x12 == 0x12), None)
    if synack is not None:
        rst = next((f for f in ex.followups if f.flags & 0x04), None)
        if rst is not None:
            return Technique.SYN, Text.of("inferred.syn.reset", rst=rst.frame, synack=synack.frame), True
        return Technique.SYN, Text.of("inferred.syn.silent", synack=synack.frame), True
    opts = set(ex.probes[0].options)
    if opts & OS_SYN_OPTION_KINDS:
        return Technique.CONNECT, Text.of("inferred.syn.os-options"), False
    what = "mss-only" if ex.probes[0].options == (2,) else ("no-options" if not ex.probes[0].options else "no-sack")
    return Technique.SYN, Text.of(f"inferred.syn.{what}"), False


def infer_technique(ex: Exchange):
    """(technique, evidence, behavioural) for any exchange; evidence is a Text."""
    if ex.proto == "ip":  # ipproto.assemble gathered it: one exchange per protocol number
        return Technique.IPPROTO, Text.of("inferred.ipproto"), True
    key = probe_key(ex)
    if key == "S":
        return syn_evidence(ex)
    tech = PROBE_TECHNIQUES.get(key)
    if tech is None:
        return Technique.UNKNOWN, Text.of("inferred.unknown", flags=key or "none"), True
    if key in PROBE_WORDS:
        what = Text.of(PROBE_WORDS[key])
    else:
        what = Text.of("probes.flags", flags=key) if key else Text.of("probes.no-flags")
    return tech, Text.of("inferred.probes", what=what), True


def fallback_spec(probe_flags: str) -> TechniqueSpec:
    """How to read answers to a probe that fits no technique: a SYN-bearing
    probe like a SYN scan, anything else like the RFC 793 inverse scans."""
    return REGISTRY[Technique.SYN if "S" in probe_flags else Technique.FIN]


__all__ = ["REGISTRY", "TechniqueSpec", "classify", "response_kind", "infer_technique", "fallback_spec",
           "PROBE_TECHNIQUES", "live_techniques", "lab_techniques"]
