"""Idle scan (-sI zombie[:port]): the scanner never shows its own address
to the target. It sends the target SYNs *spoofed from a zombie*, a quiet
host whose IP IDs grow by one per packet it sends, and reads the zombie's IP
ID before and after with SYN/ACK probes (the zombie answers each with RST):

    target port open     target sends the zombie a SYN/ACK, the zombie
                         answers RST: its IP ID grows by one more
    closed               target sends the zombie a RST: the zombie stays quiet
    filtered             nothing reaches the zombie

How it looks in a capture taken at the scanner
    SYN/ACKs from the scanner to the zombie port (no SYN before them: they
    answer nothing) and the zombie's RSTs, whose IP IDs are the whole
    measurement (pairing.py pairs them); SYNs to the target whose source is
    the zombie (the replay engine sees them as "the zombie's" SYN
    exchanges); at the start, four SYN/ACKs "from the target" to the zombie
    (nmap's test that the zombie hears spoofed packets).

How nmap decides (idle_scan.cc idlescan_countopen2, idle_treescan)
    A *count* is a burst of spoofed SYNs to a group of ports, then one to
    four zombie probes. Each answered probe i gives
        open = (IP ID_i - IP ID before the burst) - (zombie probes sent in this count so far)
    and the count is the largest. Groups that count more than zero are
    halved and counted again, down to single ports; a count outside
    0..group size is repeated. So, per port:

    last count of the port alone                      state            reason
    1                                                 open             ipid-change
    0, or never counted alone                         closed|filtered  no-ipid-change

    nmap records reason TTL 0: the verdict comes from IP IDs, not from a
    packet of the target's. pcapscan replays those counts from the capture.
"""
from __future__ import annotations

from collections import defaultdict

from ..model import PortResult, Reason, Scan, State, Technique, Text, Verdict
from .base import FIRST_STAYS, NONE, register

IPID_CHANGE_ = "ipid-change"
MIN_ZOMBIE_PROBES = 2  # answered SYN/ACK probes before a host is taken for a zombie

IDLE_TABLE = {
    IPID_CHANGE_: (State.OPEN, Reason.IPID_CHANGE),
    NONE: (State.CLOSED_FILTERED, Reason.NO_IPID_CHANGE),
}

# Registered for its table and name; a single exchange cannot tell (the
# zombie's IP IDs decide), so the registry's classifier says closed|filtered
# and `idle_scans` below gives the real verdicts.
IDLE = register(Technique.IDLE, "tcp", "S", "-sI", IDLE_TABLE, reads=(), later=FIRST_STAYS, title="Idle scan",
                title_zh="空闲扫描（idle 扫描）", inferred=False, keeps_ttl=False,
                aliases=("zombie",))


def zombie_hosts(queries: list) -> dict:
    """zombie address -> (scanner, zombie port, [(probe, rst or None), ...]) from SYN/ACK probe exchanges."""
    found = {}
    for q in queries:
        if q.proto != "tcp" or len(q.responses) < MIN_ZOMBIE_PROBES:
            continue
        pairs = []
        for probe in q.probes:
            rst = next((r for r in q.responses if r.dport == probe.sport and r.seq == probe.ack
                        and r.frame > probe.frame), None)
            pairs.append((probe, rst))
        old = found.get(q.target)
        if old is None or len(pairs) > len(old[2]):
            found[q.target] = (q.scanner, q.port, pairs)
    return found


def _counts(spoofed: list, probes: list) -> list:
    """Replay nmap's counts: [(ports, open count or None, [frames of the RSTs read])]."""
    events = [(p.frame, "syn", p, None) for p in spoofed] + [(p.frame, "probe", p, r) for p, r in probes]
    events.sort(key=lambda e: e[0])
    counts, current, last_ipid = [], None, None
    for _frame, kind, pkt, rst in events:
        if kind == "syn":
            if current is None or current["sent"]:
                if current is not None:
                    counts.append(current)
                current = {"ports": [], "base": last_ipid, "sent": 0, "best": -1, "read": []}
            if pkt.dport not in current["ports"]:
                current["ports"].append(pkt.dport)
            continue
        if current is not None:
            current["sent"] += 1
            if rst is not None and current["base"] is not None:
                dist = ((rst.ip_id - current["base"]) & 0xFFFF) - current["sent"]
                current["best"] = max(current["best"], dist)
                current["read"].append(rst.frame)
        if rst is not None:
            last_ipid = rst.ip_id
    if current is not None:
        counts.append(current)
    return [(tuple(c["ports"]), c["best"] if 0 <= c["best"] <= len(c["ports"]) else None, tuple(c["read"]))
            for c in counts]


def idle_scans(capture: str, exchanges: list, queries: list) -> tuple[list, list, list]:
    """(idle Scans, the exchanges they did not use, the query exchanges they did not use)."""
    zombies = zombie_hosts(queries)
    if not zombies:
        return [], list(exchanges), list(queries)
    spoofed: dict = defaultdict(list)
    rest = []
    for ex in exchanges:
        if ex.scanner in zombies and ex.proto == "tcp" and ex.probes[0].flags & 0x17 == 0x02:
            spoofed[(ex.scanner, ex.target)].append(ex)
        else:
            rest.append(ex)
    used = {z for z, _t in spoofed}
    rest_q = [q for q in queries if not (q.proto == "tcp" and q.target in used)]
    scans = []
    for (zombie, target), exs in spoofed.items():
        scanner, zport, probes = zombies[zombie]
        syns = sorted((p for ex in exs for p in ex.probes), key=lambda p: p.frame)
        decided: dict = {}
        for ports, count, read in _counts(syns, probes):
            if len(ports) == 1 and count is not None:
                decided[ports[0]] = (count, read)
        by_port: dict = defaultdict(list)
        for ex in exs:
            by_port[ex.port].append(ex)
        results = []
        for port in sorted(by_port):
            port_exs = by_port[port]
            frames = tuple(sorted(p.frame for ex in port_exs for p in ex.probes))
            count, read = decided.get(port, (0, ()))
            state, reason = IDLE_TABLE[IPID_CHANGE_ if count == 1 else NONE]
            verdict = Verdict(state=state, reason=reason, reason_ttl=0, probe_frames=frames, response_frames=read)
            results.append(PortResult(proto="tcp", port=port, verdict=verdict, exchange=port_exs[0]))
        answered = sum(1 for _p, r in probes if r is not None)
        evidence = Text.of("inferred.idle", target=target, zombie=zombie, sport=syns[0].sport, probes=len(probes),
                           scanner=scanner, zport=zport, answered=answered)
        scans.append(Scan(capture=capture, scanner=scanner, target=target, technique=Technique.IDLE,
                          ports=tuple(results), technique_evidence=evidence, first_ts=syns[0].ts,
                          last_ts=syns[-1].ts, zombie=f"{zombie}:{zport}"))
    return scans, rest, rest_q
