"""A class's submissions: finding each student's captures by their content,
and the per-file work of `pcapscan grade` (read_submission, a top-level
function that runs in worker processes): one capture read as every
technique its probes fit or its name claims, with verify's findings, the
student's own scanner apart from nmap's scan in the same file (sessions.py).
Mechanism for grade.py's policy; nothing here grades or prints."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import messages
from .capture import ReadStats, read_packets
from .capture.containers import open_capture
from .claims import CAPTURE_EXTENSIONS, Claim, Expectations, load_expectations, read_name
from .errors import PcapscanError
from .messages import T
from .model import ACK, RST, SYN, Reason, State, Technique
from .rubric import CELL_STATES

CLAIMS_FILE = "claims.toml"
# verify's rules whose findings depend on the claimed state: grade words the state itself, per cell.
STATE_RULES = ("state-mismatch", "state-overclaim", "state-underclaim")
CLAIM_RULES = ("empty-capture", "no-probe", "probe-flags-mismatch")


# -- finding the captures -------------------------------------------------------------

@dataclass(frozen=True)
class Submission:
    """One capture file of a student (or a file that should have been one)."""

    path: str  # absolute
    rel: str  # relative to the student's folder, with "/"
    claims: tuple  # claims.Claim, ...: empty when nothing can be read off the name


def sniff(path) -> Optional[str]:
    """"pcap", "pcapng", "gzip" (of either) by the first bytes, or None."""
    try:
        with open(path, "rb") as fh:
            start = fh.read(4)
            if start[:2] == b"\x1f\x8b":
                import gzip

                fh.seek(0)
                try:
                    inner = gzip.GzipFile(fileobj=fh).read(4)
                except (OSError, EOFError):
                    return None
                return "gzip" if _magic(inner) else None
    except OSError:
        return None
    return _magic(start)


def _magic(start: bytes) -> Optional[str]:
    if len(start) < 4:
        return None
    if start == b"\x0a\x0d\x0d\x0a":
        return "pcapng"
    if int.from_bytes(start, "little") in (0xA1B2C3D4, 0xD4C3B2A1, 0xA1B23C4D, 0x4D3CB2A1, 0xA1B2CD34, 0x34CDB2A1):
        return "pcap"
    return None


def discover(student_dir) -> tuple:
    """(submissions, notes): every capture inside the folder, found by content
    (or by a capture's extension, so that a broken one is reported), with its
    claims; notes are (rule, message-key, params) of problems met on the way
    (a claims.toml that cannot be used)."""
    root = Path(student_dir)
    found, tomls = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            full = Path(dirpath) / name
            if name.lower() == CLAIMS_FILE:
                tomls.append(full)
                continue
            if not full.is_file():
                continue
            if sniff(full) is not None or name.lower().endswith(CAPTURE_EXTENSIONS):
                found.append(full)
    notes = []
    entries = []  # of every usable claims.toml
    for toml in tomls:
        try:
            entries += list(load_expectations(str(toml), source=CLAIMS_FILE).entries)
        except PcapscanError as exc:
            notes.append(("claims-file", str(exc)))
    overrides = Expectations(CLAIMS_FILE, tuple(entries))
    subs = []
    for full in found:
        rel = full.relative_to(root).as_posix()
        claims = overrides.match(str(full))
        if claims is None:
            named = read_name(rel)  # the file name, then the folders inside the student's folder
            claims = () if named.empty and named.port is None else (named,)
        subs.append(Submission(path=str(full), rel=rel, claims=claims))
    return tuple(subs), tuple(notes)


# -- the per-file work (runs in worker processes) -----------------------------------------

@dataclass(frozen=True)
class PortReading:
    """One exchange (scanner -> target port) read as one technique."""

    scanner: str
    target: str
    proto: str
    port: int
    state: State
    reason: Reason
    frames: tuple  # probe and response frames of the verdict
    evidence: str  # what decided it, in words ("RST/ACK in frame 6")
    explain: tuple = ()  # ((cell state, rule id, severity, message), ...) for cell states this port does not show


@dataclass(frozen=True)
class Reading:
    """A capture read as one technique: its exchanges whose probes fit, and
    verify's findings about them (the state rules left out: grade words those)."""

    technique: Technique
    ports: tuple  # PortReading
    findings: tuple  # verify.Finding
    attempted: bool = False  # the scanner ACKed a SYN/ACK (a handshake tried, completed or not)
    # nmap's own scan in the same capture, when the student's scanner ran too (the lab asks for
    # both): shown beside the student's verdict as the reference, never graded
    reference: tuple = ()  # PortReading


@dataclass(frozen=True)
class Showing:
    """What the analyzer itself infers, exchange by exchange."""

    technique: Technique
    scanner: str
    target: str
    proto: str
    port: int
    state: State


@dataclass(frozen=True)
class FileResult:
    path: str
    packets: int = 0
    error: Optional[str] = None
    digest: Optional[str] = None  # sha256 of the packet records (timestamps and bytes), None when there are none
    warnings: tuple = ()
    showings: tuple = ()  # Showing
    readings: tuple = ()  # Reading

    def reading(self, technique: Technique) -> Optional[Reading]:
        return next((r for r in self.readings if r.technique is technique), None)


def packet_digest(path) -> tuple:
    """(sha256 hex of the packet records, record count). The same packets give
    the same digest whatever the container: pcap or pcapng, compressed or
    not, micro- or nanosecond timestamps (rounded to the microsecond)."""
    h = hashlib.sha256()
    count = 0
    stats = ReadStats(str(path))
    for linktype, ts, data in open_capture(path).records(stats):
        count += 1
        h.update(linktype.to_bytes(4, "little", signed=False) if isinstance(linktype, int) and linktype >= 0
                 else b"\xff\xff\xff\xff")
        h.update(round(ts * 1_000_000).to_bytes(9, "little", signed=True))
        h.update(len(data).to_bytes(4, "little"))
        h.update(data)
    return (h.hexdigest() if count else None), count


def read_submission(task: tuple) -> FileResult:
    """The per-file work: read one capture as every technique of `techniques`
    its probes fit, and as every claimed technique. task = (path, techniques
    (values), claimed ((technique value, port or None), ...), lang). Never
    raises for a bad capture: the error is in the result."""
    path, technique_values, claimed, lang = task
    try:
        return _read(path, technique_values, claimed, lang)
    except PcapscanError as exc:
        return FileResult(path=path, error=str(exc))
    except (OSError, MemoryError, RecursionError) as exc:
        return FileResult(path=path, error=f"cannot read {path}: {exc}")


def _read(path: str, technique_values, claimed, lang: str) -> FileResult:
    from .analysis import build_scans, client_conversation
    from .exchanges import ReplayEngine
    from .techniques import REGISTRY
    from .verify import fits, verify_packets

    digest, _ = packet_digest(path)
    stats = ReadStats(path)
    packets = list(read_packets(path, stats))
    if stats.packets == 0:
        return FileResult(path=path, packets=0, warnings=tuple(stats.warnings))
    engine = ReplayEngine()
    for pkt in packets:
        engine.feed(pkt)
    every = engine.exchanges()
    inferred = build_scans(path, every)
    # A client's own datagrams (DNS, NTP... from the OS's sockets) are other traffic, as analyze
    # counts them, unless the file claims a UDP technique (a scanner built on socket.sendto):
    # never the student's scan (still shown, so the feedback names them as not counted).
    udp_claim = next((t for t in (Technique(v) for v, _ in claimed) if REGISTRY[t].proto == "udp"), None)
    talk = {p.frame for s in inferred if client_conversation(s, udp_claim) for pr in s.ports for p in pr.exchange.probes}
    # The student's own scanner is graded; nmap's scan of the same ports in the same
    # capture (sessions.py keeps them apart) is the reference shown beside it.
    nmap_frames = {p.frame for s in inferred if s.tool is not None and s.tool.name == "nmap"
                   for pr in s.ports for p in pr.exchange.probes}
    reference = [ex for ex in every if ex.probes[0].frame in nmap_frames]
    aside = nmap_frames | talk
    exchanges = [ex for ex in every if ex.probes[0].frame not in aside] or reference
    if exchanges is reference:
        reference = []  # nmap's capture alone: nmap's scan is what was handed in
    inferred = [s for s in inferred if not reference or s.tool is None or s.tool.name != "nmap"]
    showings = tuple(Showing(s.technique, s.scanner, s.target, p.proto, p.port, p.state)
                     for s in inferred for p in s.ports)
    claimed_ports = {}
    for value, port in claimed:
        claimed_ports.setdefault(Technique(value), port)
    wanted = [Technique(v) for v in technique_values]
    wanted = [t for t in wanted if t in claimed_ports or any(fits(ex, t) for ex in exchanges)]
    wanted += [t for t in claimed_ports if t not in wanted]
    readings = []
    for tech in wanted:
        port = claimed_ports.get(tech)
        fitting = [ex for ex in exchanges if fits(ex, tech) and (port is None or ex.port == port)]
        scans = build_scans(path, fitting, tech) if fitting else []
        ports = tuple(_port_reading(tech, pr, lang) for s in scans for pr in s.ports)
        mine = {p.frame for ex in fitting for p in ex.probes + ex.responses + ex.followups + ex.stray}
        # claimed as the technique alone: the state is the cell's business, worded per cell below
        result = verify_packets(packets, claims=[Claim(tech, None, port, "grade")], capture=path, lang=lang)
        findings = tuple(f for f in result.findings if f.rule not in STATE_RULES
                         and not (f.rule == "filter-simulated-as-reject" and f.severity == "error")
                         and ((f.rule in CLAIM_RULES and f.severity == "error") or set(f.frames) & mine))
        attempted = any(f.flags & ACK and not f.flags & (RST | SYN) for ex in fitting for f in ex.followups)
        theirs = [ex for ex in reference if fits(ex, tech) and (port is None or ex.port == port)]
        ref = tuple(_port_reading(tech, pr, lang) for s in (build_scans(path, theirs, tech) if theirs else [])
                    for pr in s.ports)
        readings.append(Reading(tech, ports, findings, attempted, ref))
    return FileResult(path=path, packets=stats.packets, digest=digest, warnings=tuple(stats.warnings),
                      showings=showings, readings=tuple(readings))


def _port_reading(tech: Technique, pr, lang: str) -> PortReading:
    from .verify import answer_evidence, port_words, textbook_words, relation

    ex, v = pr.exchange, pr.verdict
    explain = []
    for claimed in CELL_STATES:
        rel = relation(claimed, v.state, v.reason)
        common = dict(technique=tech, port=port_words(pr.proto, pr.port), evidence=answer_evidence(pr, ex.target),
                      state=v.state)
        if rel == "match":
            continue
        if rel == "reject":
            text, rule = T("filter-simulated-as-reject", **common), "filter-simulated-as-reject"
        elif rel == "overclaim":
            text = T("state-overclaim", textbook=textbook_words(tech), claimed=claimed, why=T(f"why.{v.state.value}"),
                     **common)
            rule = "state-overclaim"
        else:
            text, rule = T("state-mismatch", textbook=textbook_words(tech), claimed=claimed, **common), "state-mismatch"
        explain.append((claimed, rule, "error", messages.render(text, lang)))
    frames = tuple(sorted(set(v.probe_frames[:4] + v.response_frames[:4])))
    return PortReading(ex.scanner, ex.target, pr.proto, pr.port, v.state, v.reason, frames,
                       messages.render(answer_evidence(pr, ex.target), lang), tuple(explain))
