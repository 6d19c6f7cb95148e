"""Technique policy: one module per family, each with its probe shape and its
state table, plus `infer_technique`, which names the technique an exchange's
probes belong to. Importing this package registers every technique."""
from ..kernel import OS_SYN_OPTION_KINDS
from ..model import Exchange, Technique
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


# How infer_technique words the evidence for the probe classes that are not TCP flags.
PROBE_LABELS = {"udp": "a UDP datagram", "init": "SCTP INIT chunks", "cookie-echo": "SCTP COOKIE-ECHO chunks",
                "ip": "IP packets of one protocol each (one exchange per protocol number)"}



def probe_key(ex: Exchange) -> str:
    """The probe class of an exchange: flag letters, or "udp"."""
    from ..exchanges import probe_class

    key = probe_class(ex.probes[0])
    return "?" if key is None else key


def syn_evidence(ex: Exchange):
    """(technique, evidence, behavioural) for an exchange of SYN probes.

    behavioural is True when the scanner's own reaction to a SYN/ACK decided
    it, False when only the SYN's fingerprint did.
    """
    if ex.completed_handshake:
        ack = next(f for f in ex.followups if f.flags == 0x10 or (f.flags & 0x10 and not f.flags & 0x06))
        return Technique.CONNECT, f"the scanner completed the handshake with ACK (frame {ack.frame})", True
    synack = next((r for r in ex.responses if r.proto == "tcp" and r.flags & 0x12 == 0x12), None)
    if synack is not None:
        rst = next((f for f in ex.followups if f.flags & 0x04), None)
        how = f"reset it (frame {rst.frame})" if rst else "did not answer it"
        return Technique.SYN, f"the scanner {how} after the SYN/ACK (frame {synack.frame}) instead of completing the handshake", True
    opts = set(ex.probes[0].options)
    if opts & OS_SYN_OPTION_KINDS:
        return Technique.CONNECT, "the SYN carries an operating system's options (SACK/timestamps/window scale), as connect() sends", False
    what = "MSS only, like nmap's raw SYN" if ex.probes[0].options == (2,) else (
        "no options, like scapy's" if not ex.probes[0].options else "no SACK/timestamp options")
    return Technique.SYN, f"the SYN carries {what}: a raw-socket probe", False


def infer_technique(ex: Exchange):
    """(technique, evidence, behavioural) for any exchange."""
    if ex.proto == "ip":  # ipproto.assemble gathered it: one exchange per protocol number
        return Technique.IPPROTO, "IP protocol probes (nmap -sO): one exchange per protocol number", True
    key = probe_key(ex)
    if key == "S":
        return syn_evidence(ex)
    tech = PROBE_TECHNIQUES.get(key)
    if tech is None:
        return Technique.UNKNOWN, f"probe flags {key or 'none'} fit no technique", True
    label = PROBE_LABELS.get(key) or f"TCP flags {key or 'none'}"
    return tech, f"probes are {label}", True


def fallback_spec(probe_flags: str) -> TechniqueSpec:
    """How to read answers to a probe that fits no technique: a SYN-bearing
    probe like a SYN scan, anything else like the RFC 793 inverse scans."""
    return REGISTRY[Technique.SYN if "S" in probe_flags else Technique.FIN]


__all__ = ["REGISTRY", "TechniqueSpec", "classify", "response_kind", "infer_technique", "fallback_spec",
           "PROBE_TECHNIQUES", "live_techniques", "lab_techniques"]
