"""Version detection (nmap -sV) and OS detection (nmap -O): probes that
follow a port scan but are not one. They are recognised, labelled and kept
out of the port-scan sessions (their flags would otherwise read as NULL,
Xmas, ACK or connect scans of ports the scan already settled).

OS detection (nmap book, "TCP/IP Fingerprinting Methods Supported by Nmap")
    SEQ1-SEQ6  six SYNs to an open port, 100 ms apart, each with its own
               window (1, 63, 4, 4, 16, 512) and TCP option layout
    ECN        SYN with ECE and CWR (and a reserved bit), window 3
    T2-T7      T2 no flags, T3 SYN/FIN/PSH/URG, T4 ACK to the open port;
               T5 SYN, T6 ACK, T7 FIN/PSH/URG to a closed port; windows
               128, 256, 1024, 31337, 32768, 65535; options wscale, nop,
               mss 265, timestamps, SACK permitted
    U1         UDP to a closed port: 300 bytes of 'C' (IPv4: IP ID 0x1042)
    IE1, IE2   two ICMP echo requests: IE1 with code 9 (an odd code; over
               IPv6 with a hop-by-hop header), IE2 with the next identifier
    (windows and option layouts: fingerprint.NMAP_OS_PROBES)

Version detection
    The scanner's operating system connects (connect(): SACK, timestamps,
    window scale on the SYN) to ports the port scan found open, waits for a
    banner, sends probes (GET / HTTP/1.0, ...) and closes. A connection on
    which the scanner sent data is a version probe; so is a completed
    connect() to a port the same scanner had already scanned raw (with a
    SYN of another shape), or next to such data connections. A data
    connection to a port the scanner never scanned before is the scanner
    host's ordinary traffic (a browser, an update), not version detection.
"""
from __future__ import annotations

from collections import defaultdict

from ..fingerprint import NMAP_OS_PROBES, NMAP_U1_IP_ID, identify
from ..kernel import OS_SYN_OPTION_KINDS
from ..model import Exchange, Probing, Text

U1_PAYLOAD = 300
IE1_CODE = 9
VERSION, OS = "version-detection", "os-detection"


def _os_name(ex: Exchange):
    first = ex.probes[0]
    if ex.proto == "tcp":
        return NMAP_OS_PROBES.get((first.window, first.options))
    if ex.proto == "udp" and first.payload_len == U1_PAYLOAD and (first.ip_version == 6 or first.ip_id == NMAP_U1_IP_ID):
        return "U1"
    return None


def recognise(capture: str, exchanges: list, queries: list, ordinary: list) -> tuple[list, list, list]:
    """(Probings, exchanges left for the port scans, query exchanges left)."""
    found: dict = defaultdict(list)  # (scanner, target, kind) -> [(name, exchange)]
    rest = []
    for ex in exchanges:
        name = _os_name(ex)
        if name is None:
            rest.append(ex)
        else:
            found[(ex.scanner, ex.target, OS)].append((name, ex))
    # IE1: an ICMP echo request with code 9; IE2: the next identifier.
    ie_ids = {}
    for q in queries:
        if q.proto in ("icmp", "icmp6") and q.port in (8, 128) and q.probes[0].icmp_code == IE1_CODE:
            ie_ids.setdefault((q.scanner, q.target), set()).update(
                i for p in q.probes if p.icmp_id is not None for i in (p.icmp_id, (p.icmp_id + 1) & 0xFFFF))
    rest_q = []
    for q in queries:
        ids = ie_ids.get((q.scanner, q.target))
        if ids and q.proto in ("icmp", "icmp6") and q.port in (8, 128) and any(p.icmp_id in ids for p in q.probes):
            found[(q.scanner, q.target, OS)].append(("IE1" if q.probes[0].icmp_code == IE1_CODE else "IE2", q))
        else:
            rest_q.append(q)
    # Version detection: data connections, and connect()s to ports already scanned another way.
    scanned_first: dict = {}  # port -> first frame of a port-scan probe to it
    raw_first: dict = {}
    for ex in rest:
        key = (ex.scanner, ex.target, ex.proto, ex.port)
        scanned_first[key] = min(scanned_first.get(key, ex.probes[0].frame), ex.probes[0].frame)
        if ex.proto == "tcp" and not set(ex.probes[0].options) & OS_SYN_OPTION_KINDS:
            raw_first[key] = min(raw_first.get(key, ex.probes[0].frame), ex.probes[0].frame)
    data_ports = defaultdict(list)
    for ex in ordinary:
        key = (ex.scanner, ex.target, ex.proto, ex.port)
        if key in scanned_first and scanned_first[key] < ex.probes[0].frame:
            data_ports[key].append(ex)
    # A run of connect()s that also tried ports it could not connect to is a
    # connect scan (nmap -sT after another tool's scan), not version
    # detection: -sV connects only to ports a scan found open.
    connect_scans = {(ex.scanner, ex.target, ex.run) for ex in rest
                     if _os_connect(ex) and not ex.completed_handshake and ex.probes[0].flags & 0x12 == 0x02}
    kept = []
    null_probed = set()  # ports that got a connect() without data: -sV's NULL probe
    for ex in rest:
        key = (ex.scanner, ex.target, ex.proto, ex.port)
        connects = ex.completed_handshake and _os_connect(ex)
        earlier_raw = key in raw_first and raw_first[key] < ex.probes[0].frame
        later_connect = key in data_ports and scanned_first[key] < ex.probes[0].frame
        if connects and (earlier_raw or later_connect) and (ex.scanner, ex.target, ex.run) not in connect_scans:
            found[(ex.scanner, ex.target, VERSION)].append((f"connect {ex.port}/tcp", ex))
            null_probed.add(key)
        else:
            kept.append(ex)
    for key, exs in data_ports.items():
        if key in null_probed or _burst(exs):
            for ex in exs:
                found[(ex.scanner, ex.target, VERSION)].append((f"probe {ex.port}/{ex.proto}", ex))
    probings = []
    for (scanner, target, kind), named in found.items():
        frames = sorted(p.frame for _n, ex in named for p in ex.probes)
        times = [p.ts for _n, ex in named for p in ex.probes]
        names = sorted({n for n, _ex in named}, key=_name_order)
        counts = defaultdict(int)
        for n, ex in named:
            counts[n] += 1 if kind == VERSION else len(ex.probes)
        if kind == OS:
            evidence = Text.of("probing.os", names=", ".join(names))
        else:
            evidence = Text.of("probing.version", n=sum(counts.values()))
        port_probes = [ex for _n, ex in named if ex.proto in ("tcp", "udp")]
        probings.append(Probing(capture=capture, scanner=scanner, target=target, kind=kind,
                                probes=tuple(f"{n} x{counts[n]}" if counts[n] > 1 else n for n in names),
                                frames=tuple(frames), evidence=evidence, first_ts=min(times), last_ts=max(times),
                                tool=identify(port_probes) if port_probes else None))
    probings.sort(key=lambda p: p.frames[0])
    return probings, kept, rest_q


# nmap -sV opens its probes' connections to a port in parallel, within
# milliseconds; a client's own request to a port it scanned before is one
# connection. Data connections count as version detection when they come in
# such a burst, or after a NULL probe (a connect() that sent nothing).
VERSION_BURST = 1.0


def _burst(exs) -> bool:
    times = sorted(ex.probes[0].ts for ex in exs)
    return any(b - a <= VERSION_BURST for a, b in zip(times, times[1:]))


def _os_connect(ex) -> bool:
    """A TCP exchange whose SYN an operating system's connect() built."""
    return ex.proto == "tcp" and bool(set(ex.probes[0].options) & OS_SYN_OPTION_KINDS)


_ORDER = ["SEQ1", "SEQ2", "SEQ3", "SEQ4", "SEQ5", "SEQ6", "IE1", "IE2", "U1", "ECN", "T2", "T3", "T4", "T5", "T6",
          "T7"]


def _name_order(name: str):
    return (_ORDER.index(name), "") if name in _ORDER else (len(_ORDER), name)
