"""A class's submissions: finding each student's captures by their content,
and the per-file work of `pcapscan grade` (read_submission, a top-level
function that runs in worker processes): one capture read as every
technique its probes fit or its name claims, with verify's findings, the
student's own scanner apart from nmap's scan in the same file (sessions.py).
Mechanism for grade.py's policy; nothing here grades or prints."""
from __future__ import annotations

import gc
import hashlib
import os
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional

from . import messages
from .capture import ReadStats, read_packets
from .capture.containers import open_capture
from .claims import CAPTURE_EXTENSIONS, Claim, Expectations, load_expectations, read_name
from .errors import PcapscanError, words
from .messages import T
from .model import ACK, RST, SYN, PortResult, Reason, State, Technique
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


@dataclass(frozen=True, slots=True)  # one per port of every session: 100,000s in a big capture
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
    # a big capture's verify.CheckedPorts (no claim) at the ports its readings show, from grade's own
    # verify reading: the ladders drawn of them need no reading of it again; None: not kept
    checked: Optional[tuple] = None

    def reading(self, technique: Technique) -> Optional[Reading]:
        return next((r for r in self.readings if r.technique is technique), None)


def packet_digest(path) -> tuple:
    """(sha256 hex of the packet records, record count). The same packets give
    the same digest whatever the container: pcap or pcapng, compressed or
    not, micro- or nanosecond timestamps (rounded to the microsecond).
    Hashed a batch of records at a time where the fast path's reader takes
    the file (_batch_digest), else record by record: the same bytes hashed."""
    got = _batch_digest(path)
    if got is not None:
        return got
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


def _batch_digest(path) -> Optional[tuple]:
    """packet_digest of a capture the fast path's reader walks (fastpath.columns.Reader: its
    records' offsets, lengths, link types and timestamps as columns), each batch's hashed
    bytes laid out at once; None where it does not take the file or it is damaged (then
    record by record, as the ordinary reader stops)."""
    try:
        import numpy as np

        from .fastpath.columns import NeedSlowPath, Reader
    except ImportError:  # no numpy
        return None
    stats = ReadStats(str(path))
    h = hashlib.sha256()
    count = 0
    try:
        reader = Reader(path, stats, use_jit=False)
        for batch in reader.batches():
            n = len(batch.off)
            if not n:
                continue
            micro = np.rint(batch.ts * 1_000_000)
            if np.abs(micro).max() >= 2.0 ** 62:
                return None
            incl = batch.incl.astype(np.int64)
            head = np.empty((n, 17), np.uint8)  # link type (4 bytes), microseconds (9, signed), length (4)
            lt = batch.linktype.astype(np.int64)
            head[:, 0:4] = np.where(lt >= 0, lt, 0xFFFFFFFF).astype("<u4").view(np.uint8).reshape(n, 4)
            micro = micro.astype(np.int64)
            head[:, 4:12] = micro.astype("<i8").view(np.uint8).reshape(n, 8)
            head[:, 12] = np.where(micro < 0, 0xFF, 0)
            head[:, 13:17] = incl.astype("<u4").view(np.uint8).reshape(n, 4)
            out = np.empty(int(incl.sum()) + 17 * n, np.uint8)
            _lay_records(batch.buf, batch.off.astype(np.int64), incl, head, out)
            h.update(out)
            count += n
    except NeedSlowPath:
        return None
    if stats.warnings or stats.truncated:
        return None
    return (h.hexdigest() if count else None), count


def _lay_records(buf, off, incl, heads, out) -> None:
    """Into `out`: each record's row of `heads`, then its `incl` bytes of `buf` from `off`, end to
    end (compiled: cnative.lay_records; here its twin, the same bytes)."""
    import numpy as np

    from .speedups import compiled

    native = compiled()
    hlen = heads.shape[1]
    if native is not None:
        native.lay_records(buf, off, incl, heads, hlen, out)
        return
    if not len(off):
        return
    ends = np.cumsum(incl + hlen)
    at = ends - incl - hlen  # each record's place in `out`
    out[(at[:, None] + np.arange(hlen)).ravel()] = heads.ravel()
    # where the records' bytes are in `buf` and go in `out`: +1 where each starts, -1 where it ends
    lo, hi = int(off.min()), int((off + incl).max())
    size = hi - lo + 1
    data = np.bincount(off - lo, minlength=size) - np.bincount(off - lo + incl, minlength=size)
    size = len(out) + 1
    placed = np.bincount(at + hlen, minlength=size) - np.bincount(at + hlen + incl, minlength=size)
    out[np.cumsum(placed[:-1]) > 0] = np.asarray(buf)[lo:hi][np.cumsum(data[:-1]) > 0]


def read_submission(task: tuple, progress: Optional[Callable] = None) -> FileResult:
    """The per-file work: read one capture as every technique of `techniques`
    its probes fit, and as every claimed technique. task = (path, techniques
    (values), claimed ((technique value, port or None), ...), lang). Never
    raises for a bad capture: the error is in the result. `progress`
    (progress.py): a big capture's phases, its readings and verify's checks
    (a small one is read in a moment and says nothing)."""
    path, technique_values, claimed, lang = task
    try:
        return _read(path, technique_values, claimed, lang, progress)
    except PcapscanError as exc:
        return FileResult(path=path, error=words(exc))
    except (OSError, MemoryError, RecursionError) as exc:
        return FileResult(path=path, error=f"cannot read {path}: {exc}")


# A big capture's sessions are made whole this many ports at a time (their
# packets, read once for all as columns by fastpath.subset.Between, made
# Packets and replayed): grade's memory is bounded by those sessions, not by the capture. (bench-1.3m's class: 690 MiB at 140,000, 530
# at 70,000 or 40,000, where nmap's readings kept for reference are the rest.)
GROUP_PORTS = 70_000
MAX_PAIRS = 256  # more (scanner, target) pairs than this: the ordinary path


def _read(path: str, technique_values, claimed, lang: str, progress: Optional[Callable] = None) -> FileResult:
    from .exchanges import ReplayEngine
    from .fastpath.workers import trim_malloc
    from .verify import verify_packets

    digest, _ = packet_digest(path)
    claimed_ports = {}
    for value, port in claimed:
        claimed_ports.setdefault(Technique(value), port)
    techs = tuple(dict.fromkeys([Technique(v) for v in technique_values] + list(claimed_ports)))
    big = _read_shaped(path, techs, claimed_ports, progress)
    if big is None:
        big = _read_big(path, techs, claimed_ports, progress)
    refs = None
    if big is not None:
        count, warnings, parts, refs = big
        del big
        refs = _needed(refs, parts)  # the rest freed here, and its memory given back before verify reads
        trim_malloc()

        def findings_of(claims, shown):
            from .verify import checked_at, verify_each

            # one reading of the capture for none (the ladders) and every claim: its ports checked by shape
            # (verify._Shapes), not a verify each; each result dropped once read, and holding only the
            # checked ports grade reads (the ladders' of `shown`; none under a claim)
            found, checked = [], None
            for i, result in enumerate(verify_each(path, [[]] + [[c] for c in claims], lang=lang,
                                                   progress=progress, ports_at=[shown] + [()] * len(claims))):
                if i:
                    found.append(result.findings)
                else:
                    checked = checked_at(result.ports, shown)  # what the ladders of these ports draw
                del result
            return found, checked
    else:
        stats = ReadStats(path)
        packets = list(read_packets(path, stats))
        if stats.packets == 0:
            return FileResult(path=path, packets=0, warnings=tuple(stats.warnings))
        engine = ReplayEngine()
        for pkt in packets:
            engine.feed(pkt)
        parts = [_part(path, engine.exchanges(), techs, claimed_ports)]
        del engine
        count, warnings = stats.packets, stats.warnings

        def findings_of(claims, _shown):
            return [verify_packets(packets, claims=[c], capture=path, lang=lang).findings for c in claims], None
    return _result(path, digest, count, warnings, parts, technique_values, claimed_ports, findings_of, lang, refs)


@dataclass
class _Part:
    """What some whole scan sessions of a capture show (all of a small
    capture's; a group of a big one's), ready for either reading of nmap's
    scan: graded when nothing else was handed in, else the reference beside
    the student's own scanner ("own"). Sides: "own", "nmap"."""

    own: bool  # exchanges not of nmap's scan are among them
    scans: list  # (order, nmap's?, (Showing, ...)) per session, order = its first probe's frame
    fits: dict  # side -> {Technique}: techniques some exchange's probes fit
    ports: dict  # (side, Technique) -> [(order, [PortResult or _Facts, ...])] a session's ports read as that technique
    frames: dict  # (side, Technique) -> frames of the exchanges that fit (a set; a numpy array once compacted)
    attempted: dict  # (side, Technique) -> the scanner ACKed a SYN/ACK


@dataclass(frozen=True)
class _Facts:
    """One port read as one technique: what its PortReading is worded from."""

    scanner: str
    target: str
    proto: str
    port: int
    verdict: object  # model.Verdict
    evidence: object  # model.Text: verify.answer_evidence


def _nmap(scan) -> bool:
    return scan.tool is not None and scan.tool.name == "nmap"


def _order(scan) -> int:
    return min(p.exchange.probes[0].frame for p in scan.ports)  # as build_scans orders its sessions


def _part(path: str, every: list, techs: tuple, claimed_ports: dict) -> _Part:
    from .analysis import build_scans, client_conversation
    from .techniques import probe_key
    from .verify import fits

    inferred = build_scans(path, every)
    # A client's own traffic (DNS, NTP... from the OS's sockets, a browser's lone SYN) is other
    # traffic, as analyze counts it, unless the file claims a technique of its protocol (a scanner
    # built on socket.sendto or connect()): never the student's scan (still shown, so the feedback
    # names them as not counted).
    talk = {p.frame for s in inferred if client_conversation(s, tuple(claimed_ports))
            for pr in s.ports for p in pr.exchange.probes}
    # The student's own scanner is graded; nmap's scan of the same ports in the same
    # capture (sessions.py keeps them apart) is the reference shown beside it.
    nmap_frames = {p.frame for s in inferred if _nmap(s) for pr in s.ports for p in pr.exchange.probes}
    sides = {"own": [], "nmap": []}
    for ex in every:
        frame = ex.probes[0].frame
        if frame in nmap_frames:
            sides["nmap"].append(ex)
        elif frame not in talk:
            sides["own"].append(ex)
    scans = [(_order(s), _nmap(s), tuple(Showing(s.technique, s.scanner, s.target, p.proto, p.port, p.state)
                                          for p in s.ports)) for s in inferred]
    part = _Part(own=bool(sides["own"]), scans=scans, fits={"own": set(), "nmap": set()}, ports={}, frames={},
                 attempted={})
    for side, exchanges in sides.items():
        # verify.fits reads an exchange's protocol and probe class: asked once per kind of probe
        kinds = [(ex.proto, probe_key(ex)) for ex in exchanges]
        first = {}
        for kind, ex in zip(kinds, exchanges):
            first.setdefault(kind, ex)
        for tech in techs:
            port = claimed_ports.get(tech)
            fit = {kind for kind, ex in first.items() if fits(ex, tech)}
            if fit:
                part.fits[side].add(tech)
            fitting = [ex for kind, ex in zip(kinds, exchanges) if kind in fit and (port is None or ex.port == port)]
            read = (_as_inferred(inferred, fitting, tech) or build_scans(path, fitting, tech)) if fitting else []
            part.ports[side, tech] = [(_order(s), list(s.ports)) for s in read]
            part.frames[side, tech] = {p.frame for ex in fitting
                                       for p in ex.probes + ex.responses + ex.followups + ex.stray}
            part.attempted[side, tech] = any(f.flags & ACK and not f.flags & (RST | SYN)
                                             for ex in fitting for f in ex.followups)
    return part


def _as_inferred(inferred: list, fitting: list, tech: Technique) -> Optional[list]:
    """build_scans(path, fitting, tech) without grouping the exchanges
    again, or None: where the exchanges that fit are just those of whole
    inferred sessions, no two of one scanner, target and run, reading them as
    `tech` groups them as those sessions (build_scans' forced technique keys
    a session by scanner, target and run): each session is the reading, its
    ports classified by tech's table where it was read as another (its
    technique_evidence, which grade never reads, worded from the session's)."""
    from .messages import Text
    from .techniques import REGISTRY

    wanted = {p.frame for ex in fitting for p in ex.probes}
    read = [s for s in inferred if all(p.frame in wanted for pr in s.ports for p in pr.exchange.probes)]
    got = {p.frame for s in read for pr in s.ports for p in pr.exchange.probes}
    runs = {(s.scanner, s.target, s.ports[0].exchange.run) for s in read}
    if not read or got != wanted or len(runs) != len(read):
        return None
    spec = REGISTRY[tech]
    return [s if s.technique is tech else
            replace(s, technique=tech, probe_flags=None,
                    technique_evidence=Text.of("inferred.forced", technique=tech.value, why=s.technique_evidence),
                    ports=tuple(PortResult(pr.proto, pr.port, spec.classify(pr.exchange), pr.exchange)
                                for pr in s.ports))
            for s in read]


def _facts(pr) -> _Facts:
    """What a PortReading is worded from, of a PortResult (its Exchange left behind)."""
    from .verify import answer_evidence

    if isinstance(pr, _Facts):
        return pr
    ex = pr.exchange
    return _Facts(ex.scanner, ex.target, pr.proto, pr.port, pr.verdict, answer_evidence(pr, ex.target))


def _result(path: str, digest, count: int, warnings, parts: list, technique_values, claimed_ports: dict,
            findings_of, lang: str, refs: Optional[dict] = None) -> FileResult:
    """The FileResult of a capture from its parts; `findings_of(claims,
    shown)`: (verify's findings under each claim, the checked ports at the
    (proto, port)s `shown` the ladders may draw, or None); `refs`: a big capture's nmap ports (_first_of_each),
    else the parts hold them whole."""
    own = any(p.own for p in parts)
    graded, reference = ("own", "nmap") if own else ("nmap", None)  # nmap's capture alone: nmap's scan is graded
    wanted = [Technique(v) for v in technique_values]
    wanted = [t for t in wanted if t in claimed_ports or any(t in p.fits[graded] for p in parts)]
    wanted += [t for t in claimed_ports if t not in wanted]
    readings = []
    facts_of = {tech: _in_order(parts, graded, tech) for tech in wanted}
    shown = {(f.proto, f.port) for facts in facts_of.values() for f in facts}
    # claimed as the technique alone: the state is the cell's business, worded per cell in grade
    found_of, checked = findings_of([Claim(tech, None, claimed_ports.get(tech), "grade") for tech in wanted],
                                    shown) if wanted else ([], None)
    # made once verify is done with the capture: a big capture's sessions make millions (_ShowingsOf)
    scans = sorted((s for p in parts for s in p.scans), key=lambda s: s[0])
    showings = tuple(sh for _order, nmap, shows in scans if not (own and nmap) for sh in shows)
    for tech, found in zip(wanted, found_of):
        facts = facts_of[tech]
        ports = tuple(_port_reading(tech, f, lang) for f in facts)
        touching = _touching(found, [p.frames[graded, tech] for p in parts])
        findings = tuple(f for i, f in enumerate(found) if f.rule not in STATE_RULES
                         and not (f.rule == "filter-simulated-as-reject" and f.severity == "error")
                         and ((f.rule in CLAIM_RULES and f.severity == "error") or i in touching))
        attempted = any(p.attempted[graded, tech] for p in parts)
        if not reference:
            theirs = []
        elif refs is None:
            theirs = _in_order(parts, reference, tech)
        else:  # grade shows the first reading of a port beside it, and only of the ports it can choose
            first = refs.get(tech, {})
            theirs = [pr for _order, pr in sorted((first[f.proto, f.port] for f in facts if (f.proto, f.port) in first),
                                                  key=lambda op: op[0])]
        ref = tuple(_port_reading(tech, f, lang) for f in theirs)
        readings.append(Reading(tech, ports, findings, attempted, ref))
    return FileResult(path=path, packets=count, digest=digest, warnings=tuple(warnings), showings=showings,
                      readings=tuple(readings), checked=checked)


def _in_order(parts: list, side: str, tech: Technique) -> list:
    """The _Facts of every part's sessions read as `tech`, sessions in capture order."""
    sessions = sorted((s for p in parts for s in p.ports.get((side, tech), ())), key=lambda s: s[0])
    return [f for _order, facts in sessions for f in facts]


def _touching(findings, frame_sets: list) -> set:
    """Indexes of the findings that name a frame of `frame_sets` (sets, or
    numpy arrays of a big capture's parts)."""
    if not findings or not frame_sets:
        return set()
    if all(isinstance(s, (set, frozenset)) for s in frame_sets):
        mine = set().union(*frame_sets)
        return {i for i, f in enumerate(findings) if set(f.frames) & mine}
    import numpy as np

    mine = np.concatenate([np.asarray(sorted(s) if isinstance(s, (set, frozenset)) else s, np.int64)
                           for s in frame_sets])
    named = np.fromiter((n for f in findings for n in f.frames), np.int64)
    owner = np.repeat(np.arange(len(findings)), [len(f.frames) for f in findings])
    return set(owner[np.isin(named, mine)].tolist())


def _read_shaped(path: str, techs: tuple, claimed_ports: dict, progress: Optional[Callable] = None
                 ) -> Optional[tuple]:
    """What _read_big returns, of a big capture read once by the fast path
    and never replayed whole: its sessions are the fast path's (their ports
    as columns), each bulk port read as another technique by the shape of
    its probe and answer (fastpath.subset.pair_shapes: one representative
    replayed and classified per shape, as verify reads a session as a
    claimed technique), each side's readings cut to the ports grade can
    choose (_ShapedSide.kept: what _compact keeps) and only those made whole
    (BulkPorts.replayed). None where the fast path's sessions may not be
    the ones _part makes of every exchange (build_scans, no routing: a
    version detection, idle or IP protocol scan, TCP or UDP pings), where a
    technique would read part of a session, or two sessions of one pair
    and two techniques as one (build_scans would group them otherwise), or
    where a port does not come out as the fast path read it: then
    _read_big."""
    from .fastpath import wants_fast

    if not wants_fast(path, "auto"):
        return None
    try:
        import numpy as np

        from .fastpath import analyze_capture_auto
        from .fastpath.subset import BulkPorts, NotWhole, bulk_rows
    except ImportError:  # no numpy
        return None
    from .analysis import client_conversation
    from .fastpath.workers import trim_malloc
    from .gcpause import cyclic_gc, no_cyclic_gc

    with cyclic_gc():  # the fast path leaves its columns in cycles: freed before the pairs are read again
        summary, scans, more = analyze_capture_auto(path, fast="auto", progress=progress)
        gc.collect()
    trim_malloc()
    if summary.packets == 0 or not any(len(bulk_rows(s)) for s in scans):
        return None  # read packet by packet (the fast path stepped aside, or nothing in bulk): _read_big decides
    if more.probings or any(s.zombie is not None or not hasattr(s.ports, "objects") for s in scans) \
            or any(not m.startswith(("arp", "nd", "icmp")) for d in more.discoveries for m in d.methods) \
            or any(pr.proto not in ("tcp", "udp") for s in scans for pr in s.ports.objects.values()):
        return None  # an exchange routed apart from the sessions, which _part reads as one
    if len({(s.scanner, s.target) for s in scans}) > MAX_PAIRS:
        return None
    claimed = tuple(claimed_ports)
    try:
        with no_cyclic_gc():
            bulk = BulkPorts(path, [s for s in scans if len(bulk_rows(s))], progress, own_frames=True)
            sessions = [_ShapedSession(s, bulk, _nmap(s), client_conversation(s, claimed)) for s in scans]
            shows = _Shows(sessions)
            part = _Part(own=any(ss.side == "own" for ss in sessions), scans=[],
                         fits={"own": set(), "nmap": set()}, ports={}, frames={}, attempted={})
            refs, frames, read = {}, {}, None
            for side in ("own", "nmap"):
                mine = [ss for ss in sessions if ss.side == side]
                for tech in techs:
                    fit = [ss.fit(tech) for ss in mine]
                    if any(f.any() for f in fit):
                        part.fits[side].add(tech)
                    port = claimed_ports.get(tech)
                    read = _ShapedSide(mine, fit, tech, port)
                    if not read.whole:
                        return None
                    part.ports[side, tech] = read.kept(shows)
                    # the same sessions read as another technique: the same frames, held once
                    same = (tuple(id(ss) for _order, ss, _rows in read.read), port)
                    part.frames[side, tech] = frames.get(same)
                    if part.frames[side, tech] is None:
                        part.frames[side, tech] = frames[same] = read.frames()
                    part.attempted[side, tech] = read.attempted()
                    if side == "nmap":
                        refs[tech] = read
            shown = {(f.proto, f.port) for (side, _tech), got in part.ports.items() if side == "own"
                     for _order, facts in got for f in facts}
            refs = {tech: read.first_of(shown) for tech, read in refs.items()} if part.own else {}
    except NotWhole:
        return None
    for ss in sessions:
        ss.bulk = None
    del shows, bulk, frames, read
    gc.collect()  # the pairs' columns and the replays (cycles): freed before the showings are made
    trim_malloc()
    interned = {}  # a port shown alike by several sessions: one Showing (millions on a big capture)
    part.scans = [(ss.order, ss.nmap, _ShowingsOf(ss.scan, interned)) for ss in sessions]
    del sessions, scans, more
    return summary.packets, summary.warnings, [part], refs


class _ShowingsOf:
    """A fast-path session's Showings, made as they are read: _result reads
    them once verify is done with the capture, so that a big capture's
    millions do not come on top of verify's peak; those alike in every
    field one object (`interned`: shared by the sessions of a capture)."""

    def __init__(self, scan, interned: dict):
        import numpy as np

        from .fastpath.scans import STATES

        self.technique, self.scanner, self.target, self.interned = scan.technique, scan.scanner, scan.target, interned
        pt = scan.ports
        # each row's protocol, port and state in one number: the session's port table not kept through verify
        self.code = ((pt.udp.astype(np.int64) * 65536 + pt.port) * len(STATES) + pt.states()).astype(np.int32)

    def __iter__(self):
        import numpy as np

        from .fastpath.scans import STATES

        s = self
        distinct, inverse = np.unique(self.code, return_inverse=True)
        table = self.interned.setdefault((s.technique, s.scanner, s.target), {})  # code -> Showing
        got = [table.get(c) for c in distinct.tolist()]
        for j, c in enumerate(distinct.tolist()):
            if got[j] is None:
                udp_port, k = divmod(c, len(STATES))
                got[j] = table[c] = Showing(s.technique, s.scanner, s.target, "udp" if udp_port >= 65536 else "tcp",
                                            udp_port % 65536, STATES[k])
        made = np.empty(len(got), object)
        made[:] = got
        return iter(made[inverse.ravel()].tolist())


class _ShapedSession:
    """One fast-path session for _read_shaped: which side it is on, each
    row's exchange (the engine's, or its bulk shape's representative), its
    rows' first probe frames, states and reasons."""

    def __init__(self, scan, bulk, nmap: bool, talk: bool):
        import numpy as np

        from .fastpath.columns import first_index
        from .fastpath.subset import pair_shapes
        from .verify import IDENTITY_FIELDS, SEQ_FIELDS, SEQ_NEAR

        self.scan, self.bulk, self.nmap = scan, bulk, nmap
        self.side = "nmap" if nmap else None if talk else "own"  # talk: a client's own traffic, never graded
        pt = scan.ports
        n = len(pt)
        self.first = pt.pframe.astype(np.int64)  # each row's first probe frame
        self.which = np.zeros(n, np.int64)  # each row's index into self.exchanges
        self.exchanges = []
        self.real = {}  # row -> PortResult with its Exchange (the engine's, or made whole when kept)
        for i, pr in pt.objects.items():
            self.which[i] = len(self.exchanges)
            self.exchanges.append(pr.exchange)
            self.first[i] = pr.exchange.probes[0].frame
            self.real[i] = pr
        self.rows_b, first, self.second = bulk.pairs(scan) if len(pt.objects) < n else ((), (), ())
        self.probe_row = first
        if len(self.rows_b):
            ids, k = pair_shapes(bulk.between.cols, first, self.second,
                                 [pt.state[self.rows_b], pt.reason[self.rows_b], pt.rframe[self.rows_b] >= 0],
                                 IDENTITY_FIELDS, SEQ_FIELDS, SEQ_NEAR)
            self.which[self.rows_b] = len(self.exchanges) + ids
            for j in first_index(ids, k).tolist():
                self.exchanges.append(self.made(int(self.rows_b[j])).exchange)
        self.order = int(self.first.min())  # as build_scans orders its sessions

    def made(self, row: int):
        """The PortResult of a row, with its Exchange."""
        got = self.real.get(row)
        if got is None:
            got = self.real[row] = self.bulk.replayed(self.scan, row)[0]
        return got

    def fit(self, tech: Technique):
        """Each row: do its probes fit `tech` (verify.fits: of its kind of probe, so of its shape's)?"""
        import numpy as np

        from .verify import fits

        return np.array([fits(ex, tech) for ex in self.exchanges], bool)[self.which]

    def read_as(self, tech: Technique) -> tuple:
        """(state, reason) index arrays (fastpath.scans.STATES, REASONS) of every row read as `tech`:
        by its table, a bulk shape's representative for all its rows (as verify reads a claimed technique)."""
        import numpy as np

        from .fastpath.scans import REASONS, STATES
        from .techniques import REGISTRY

        pt = self.scan.ports
        if tech is self.scan.technique:
            return pt.states(), pt.reasons()
        spec = REGISTRY[tech]
        verdicts = [spec.classify(ex) for ex in self.exchanges]
        return (np.array([STATES.index(v.state) for v in verdicts], np.int64)[self.which],
                np.array([REASONS.index(v.reason) for v in verdicts], np.int64)[self.which])

    def result_as(self, row: int, tech: Technique):
        """The PortResult of a row read as `tech`, with its Exchange."""
        from .techniques import REGISTRY

        pr = self.made(row)
        return pr if tech is self.scan.technique else replace(pr, verdict=REGISTRY[tech].classify(pr.exchange))

    def frames(self, rows) -> list:
        """[arrays] of every frame of the exchanges of `rows` (probes, responses, follow-ups, stray)."""
        import numpy as np

        objects = self.scan.ports.objects
        out = [np.array([p.frame for i in set(rows.tolist()) & set(objects) for ex in [objects[i].exchange]
                         for p in ex.probes + ex.responses + ex.followups + ex.stray], np.int64)]
        if len(self.rows_b):
            at = np.full(len(self.which), -1, np.int64)
            at[self.rows_b] = np.arange(len(self.rows_b))
            j = at[rows]
            j = j[j >= 0]
            cols = self.bulk.between.cols
            answer = self.second[j]
            out += [cols.frame[self.probe_row[j]].astype(np.int64), cols.frame[answer[answer >= 0]].astype(np.int64)]
        return out


class _Shows:
    """What the analyzer showed of each (scanner, target, proto, port) over
    every session (_compact's `shows`: the (nmap's?, technique, state) of
    each session that has it, in session order), as one id per distinct
    such tuple, pair by pair (no port of one pair is alike one of another)."""

    def __init__(self, sessions: list):
        import numpy as np

        from .fastpath.columns import dense_ids
        from .fastpath.scans import STATES

        techs = list(Technique)
        self.of_pair = {}  # (scanner, target) -> (each port's key, sorted; its id)
        pairs = {}
        for ss in sessions:
            pairs.setdefault((ss.scan.scanner, ss.scan.target), []).append(ss)
        for pair, mine in pairs.items():
            keys, codes = [], []
            for ss in mine:  # in session order: each key's codes in that order
                pt = ss.scan.ports
                keys.append(self.key(pt, np.arange(len(pt))))
                codes.append((int(ss.nmap) * len(techs) + techs.index(ss.scan.technique)) * len(STATES) + pt.states())
            key, code = np.concatenate(keys), np.concatenate(codes)
            order = np.argsort(key, kind="stable")
            key, code = key[order], code[order]
            del order
            distinct, start, count = np.unique(key, return_index=True, return_counts=True)
            rank = np.arange(len(key)) - np.repeat(start, count)
            table = np.full((len(distinct), int(count.max())), -1, np.int64)  # each key's codes, in session order
            table[np.repeat(np.arange(len(distinct)), count), rank] = code
            del key, code, rank
            self.of_pair[pair] = (distinct, dense_ids([table[:, j] for j in range(table.shape[1])])[0])

    @staticmethod
    def key(pt, rows):
        """(proto, port) of rows of a port table, as numbers."""
        import numpy as np

        return pt.udp[rows].astype(np.int64) * 65536 + pt.port[rows].astype(np.int64)

    def of(self, ss, rows):
        """Each row's id of what was shown of its port."""
        import numpy as np

        keys, ids = self.of_pair[ss.scan.scanner, ss.scan.target]
        return ids[np.searchsorted(keys, self.key(ss.scan.ports, rows))]


class _ShapedSide:
    """One side's sessions read as one technique (what _part reads of
    them): the rows whose probes fit it (of the claimed port only, where
    one is claimed), session by session in capture order. `whole`: whether
    that is how _as_inferred or build_scans would read them: every row of a
    session fits or none (unless a port is claimed), and no two sessions
    of one pair and of two techniques fit."""

    def __init__(self, sessions: list, fit: list, tech: Technique, port: Optional[int]):
        import numpy as np

        self.tech = tech
        self.read = []  # (order, session, its rows read)
        techniques = {}
        self.whole = True
        for ss, f in zip(sessions, fit):
            rows = np.nonzero(f & (ss.scan.ports.port == port) if port is not None else f)[0]
            if not len(rows):
                continue
            if port is None and len(rows) < len(f):
                self.whole = False
            pair = (ss.scan.scanner, ss.scan.target)
            if techniques.setdefault(pair, (ss.scan.technique, ss.scan.probe_flags)) != (ss.scan.technique,
                                                                                         ss.scan.probe_flags):
                self.whole = False
            self.read.append((int(ss.first[rows].min()), ss, rows))
        self.read.sort(key=lambda r: r[0])

    def kept(self, shows: _Shows) -> list:
        """[(order, [_Facts])]: of the ports alike in their pair, protocol, state,
        reason and showings, the first with the lowest number (_compact's rule),
        pair by pair."""
        import numpy as np

        from .fastpath.columns import dense_ids

        pairs = {}
        for i, (_order, ss, _rows) in enumerate(self.read):
            pairs.setdefault((ss.scan.scanner, ss.scan.target), []).append(i)
        keep = []  # (session, row)
        for mine in pairs.values():
            udp, state, reason, shown, port, at = [], [], [], [], [], []
            for i in mine:
                _order, ss, rows = self.read[i]
                pt = ss.scan.ports
                st, rs = ss.read_as(self.tech)
                udp.append(pt.udp[rows].astype(np.int8))
                state.append(st[rows].astype(np.int16))
                reason.append(rs[rows].astype(np.int16))
                shown.append(shows.of(ss, rows))
                port.append(pt.port[rows].astype(np.int64))
                at.append(np.full(len(rows), i, np.int32))
                del st, rs
            cls, _n = dense_ids([np.concatenate(c) for c in (udp, state, reason, shown)])
            del udp, state, reason, shown
            port = np.concatenate(port)
            # by class, then lowest port; the first in capture order of equals (a stable sort of sessions in order)
            order = np.argsort(cls.astype(np.int64) * 65536 + port, kind="stable")
            lead = np.ones(len(order), bool)
            lead[1:] = cls[order][1:] != cls[order][:-1]
            first = order[lead]
            at = np.concatenate(at)
            starts = np.cumsum([0] + [len(self.read[i][2]) for i in mine])
            where = {i: k for k, i in enumerate(mine)}
            keep += [(i, int(self.read[i][2][p - starts[where[i]]])) for p, i in zip(first.tolist(), at[first].tolist())]
        out = {}
        for i, row in sorted(keep, key=lambda ir: (ir[0], np.searchsorted(self.read[ir[0]][2], ir[1]))):
            order_i, ss, _rows = self.read[i]
            out.setdefault(order_i, []).append(_facts(ss.result_as(row, self.tech)))
        return list(out.items())

    def frames(self):
        """The frames of every exchange read (_touching's), as one array (uint32: kept through verify)."""
        import numpy as np

        got = np.concatenate([np.zeros(0, np.int64)] + [a for _order, ss, rows in self.read for a in ss.frames(rows)])
        return got.astype(np.uint32) if not len(got) or got.max() < 1 << 32 else got

    def attempted(self) -> bool:
        """The scanner ACKed a SYN/ACK in an exchange read (only the engine's have follow-ups)."""
        return any(f.flags & ACK and not f.flags & (RST | SYN)
                   for _order, ss, rows in self.read for i in set(rows.tolist()) & set(ss.scan.ports.objects)
                   for f in ss.scan.ports.objects[i].exchange.followups)

    def first_of(self, shown: set) -> dict:
        """(proto, port) -> (order, PortResult) of the first session that reads each of `shown`
        (_first_of_each, of the ports _needed keeps)."""
        import numpy as np

        codes = np.array(sorted((proto == "udp") * 65536 + port for proto, port in shown), np.int64)
        out = {}
        for order, ss, rows in self.read:
            pt = ss.scan.ports
            rows = rows[np.isin(pt.udp[rows].astype(np.int64) * 65536 + pt.port[rows], codes)]
            for row, udp, port in zip(rows.tolist(), pt.udp[rows].tolist(), pt.port[rows].tolist()):
                key = ("udp" if udp else "tcp", port)
                if key in shown and key not in out:
                    out[key] = (order, ss.result_as(row, self.tech))
        return out


def _read_big(path: str, techs: tuple, claimed_ports: dict, progress: Optional[Callable] = None) -> Optional[tuple]:
    """(packets, warnings, [_Part]) of a big capture read through the fast
    path, its sessions made whole a group at a time (GROUP_PORTS) from the
    packets between their addresses (fastpath.subset), each group's ports
    kept only as far as grade can use them (_compact); None for a capture
    the fast path does not take, or whose sessions do not come out as the
    fast path read them (then the ordinary path reads it whole)."""
    from .fastpath import wants_fast

    if not wants_fast(path, "auto"):
        return None
    try:
        from .fastpath import analyze_capture_auto
        from .fastpath.subset import Between, NotWhole
    except ImportError:  # no numpy
        return None
    from .exchanges import ReplayEngine
    from .fastpath.workers import trim_malloc
    from .gcpause import no_cyclic_gc

    summary, scans, more = analyze_capture_auto(path, fast="auto", progress=progress)
    if summary.packets == 0 or all(p.exchange is not None for s in scans for p in s.ports):
        return None  # read packet by packet already (the fast path stepped aside): the ordinary path
    size = Counter()  # (scanner, target) -> ports of its sessions
    for s in scans:
        size[s.scanner, s.target] += len(s.ports)
    for probing in more.probings:
        size[probing.scanner, probing.target] += 1
    for d in more.discoveries:
        for h in d.hosts:
            size[d.scanner, h.address] += 1
    if len(size) > MAX_PAIRS:
        return None  # a sweep of many hosts: each group's reading compares its pairs one by one
    fast = {}  # (scanner, target) -> {(proto, port, state)} the fast path read
    for s in scans:
        fast.setdefault((s.scanner, s.target), set()).update(_port_states(s))
    del scans, more
    groups, group, n = [], [], 0
    for pair, ports in sorted(size.items(), key=lambda kv: -kv[1]):
        if group and n + ports > GROUP_PORTS:
            groups.append(group)
            group, n = [], 0
        group.append(pair)
        n += ports
    groups.append(group)
    parts, refs = [], {}
    try:
        # read once, as columns, for all groups
        between = Between(path, [pair for group in groups for pair in group], progress)
    except NotWhole:  # more records than its frame numbers hold
        return None
    with no_cyclic_gc():  # a group's Packets and Exchanges: 100,000s of objects (gcpause.py)
        for group in groups:
            packets = between.between(group)
            engine = ReplayEngine()
            for pkt in packets:
                engine.feed(pkt)
            del packets
            part = _part(path, engine.exchanges(), techs, claimed_ports)
            del engine
            shown = {}
            for _order, _nmap, shows in part.scans:
                for sh in shows:
                    shown.setdefault((sh.scanner, sh.target), set()).add((sh.proto, sh.port, sh.state))
            if any(not fast[pair] <= shown.get(pair, set()) for pair in group if pair in fast):
                return None  # not as the fast path read them: the ordinary path, whole
            _first_of_each(part, refs)
            parts.append(_compact(part))
            del part
            gc.collect()  # the group's engine and exchanges hold cycles: freed before the next group is read
            trim_malloc()  # and their memory given back: the next group's, then verify's, not on top of it
    return summary.packets, summary.warnings, parts, refs


def _port_states(scan) -> list:
    """(proto, port, state) of every port of a scan; a fast-path scan's bulk rows read off its columns."""
    ports = scan.ports
    objects = getattr(ports, "objects", None)
    if objects is None:
        return [(p.proto, p.port, p.state) for p in ports]
    from .fastpath.scans import STATES

    states = [STATES[i] for i in ports.state.tolist()]
    out = [("udp" if udp else "tcp", port, state) for udp, port, state in zip(ports.udp.tolist(), ports.port.tolist(),
                                                                            states)]
    for i, p in objects.items():
        out[i] = (p.proto, p.port, p.state)
    return out


def _needed(refs: dict, parts: list) -> dict:
    """Of refs (_first_of_each), what _result can look up: nmap's readings
    of the ports the student's own scanner kept (none when nmap's scan is
    all there is, and graded itself): dropped before verify reads the
    capture, not held through it."""
    if not any(p.own for p in parts):
        return {}
    shown = {(f.proto, f.port) for p in parts for (side, _tech), sessions in p.ports.items() if side == "own"
             for _order, facts in sessions for f in facts}
    return {tech: {key: got for key, got in first.items() if key in shown} for tech, first in refs.items()}


def _first_of_each(part: _Part, refs: dict) -> None:
    """Into refs (Technique -> (proto, port) -> (order, PortResult)): the
    first reading of each port of nmap's scans, of this part and the parts
    before (at most one per port: the reference grade may show beside a port)."""
    for (side, tech), sessions in part.ports.items():
        if side != "nmap":
            continue
        first = refs.setdefault(tech, {})
        for order, results in sessions:
            for pr in results:
                key = (pr.proto, pr.port)
                if key not in first or order < first[key][0]:
                    first[key] = (order, pr)


def _compact(part: _Part) -> _Part:
    """The part with only the ports grade can choose of each side's readings:
    grade picks a port of a reading by its scanner and target, state, reason
    and what the analyzer showed of that port (its Showings), then by the
    lowest port number, the first in order (grade._candidate); so of the ports
    alike in all of those, only the first with the lowest number is kept. The
    frames become one numpy array."""
    import numpy as np

    shows = {}  # (scanner, target, proto, port) -> ((nmap's?, technique, state), ...)
    for _order, nmap, showings in part.scans:
        for sh in showings:
            key = (sh.scanner, sh.target, sh.proto, sh.port)
            shows[key] = shows.get(key, ()) + ((nmap, sh.technique, sh.state),)
    ports = {}
    for key, sessions in part.ports.items():
        best = {}  # class -> (port, position)
        flat = [(order, pr) for order, results in sessions for pr in results]
        for i, (order, pr) in enumerate(flat):
            pair = (pr.exchange.scanner, pr.exchange.target)
            cls = (*pair, pr.proto, pr.verdict.state, pr.verdict.reason, shows.get((*pair, pr.proto, pr.port), ()))
            if cls not in best or pr.port < best[cls][0]:
                best[cls] = (pr.port, i)
        kept = {}
        for i in sorted(i for _port, i in best.values()):
            order, pr = flat[i]
            kept.setdefault(order, []).append(_facts(pr))
        ports[key] = list(kept.items())
    frames = {key: np.fromiter(sorted(s), np.int64, len(s)) for key, s in part.frames.items()}
    return _Part(own=part.own, scans=part.scans, fits=part.fits, ports=ports, frames=frames,
                 attempted=part.attempted)


def _port_reading(tech: Technique, f, lang: str) -> PortReading:
    """A PortResult or _Facts, worded."""
    from .verify import port_words, textbook_words, relation

    f = _facts(f)
    v = f.verdict
    explain = []
    for claimed in CELL_STATES:
        rel = relation(claimed, v.state, v.reason)
        common = dict(technique=tech, port=port_words(f.proto, f.port), evidence=f.evidence, state=v.state)
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
    return PortReading(f.scanner, f.target, f.proto, f.port, v.state, v.reason, frames,
                       messages.render(f.evidence, lang), tuple(explain))
