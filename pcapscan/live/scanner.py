"""The live scanner: probes with scapy, records the wire, classifies with the analyzer.

    scan("198.18.0.2", "80-84", "syn", retries=1, timeout=1.0, record="out.pcap")

How a scan runs
---------------
1. Policy first (live/safety.py): the target is resolved and checked; a
   public address raises SafetyRefusal before any socket is opened.
2. Privileges: raw techniques (syn, fin, xmas, null, ack, window, maimon,
   udp) and any recording need CAP_NET_RAW; without it PermissionProblem
   says so in one line. connect needs nothing: it uses the operating
   system's own connect(), so on an open port the handshake really
   completes (SYN, SYN/ACK, ACK, then a RST as the socket is closed with
   SO_LINGER 0, as nmap -sT does).
3. A recorder (an AF_PACKET socket on the interface the kernel routes the
   target through) writes every frame to or from the target to a pcap, the
   scanner kernel's own RSTs included. With `record=None` the pcap is a
   temporary file.
4. Probes: raw ones are built with scapy (crafting only) and sent through
   raw IP sockets (the kernel routes them and resolves the neighbour),
   from one source port that a bound socket reserves for the scan. They
   carry pcapscan's mark, IP ID and TCP window 0x7063 (fingerprint.py), so
   that a recording names pcapscan as their tool. UDP
   probes carry a protocol payload for well-known services (UDP_PAYLOADS)
   so that open services answer, as nmap's do.
5. Retries are sent only for probes still unanswered after the per-probe
   `timeout` (exchanges.answers decides what answers a probe), `retries`
   times at most; `rate` caps probes per second; `progress(done, total)`
   is called as ports are decided.
6. Classification is the analyzer's: the recorded pcap goes through
   analysis.analyze_capture (ReplayEngine, build_scans, the technique's
   state table) with the technique forced. So `pcapscan analyze FILE` of a
   recording gives exactly the live verdicts.

A connect scan without CAP_NET_RAW cannot record; it still classifies with
the same engine and tables, from exchanges rebuilt from what connect()
reported (success, ECONNREFUSED, an ICMP errno, a timeout).

scapy is imported lazily, inside the functions that build probes and look up
routes, so importing this module stays cheap.
"""
from __future__ import annotations

import errno
import heapq
import ipaddress
import os
import random
import select
import selectors
import socket
import struct
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Optional, Union

from ..claims import parse_technique
from ..errors import PcapscanError, PermissionProblem, UsageError
from ..exchanges import ReplayEngine, answers
from ..fingerprint import PCAPSCAN_IP_ID, PCAPSCAN_WINDOW
from ..model import (ACK, RST, SYN, AnalysisResult, CaptureSummary, Packet, Quoted, Technique, Text)
from ..techniques import REGISTRY, live_techniques
from . import safety

Progress = Callable[[int, int], None]

def _ber_len(n: int) -> bytes:
    return bytes([n]) if n < 0x80 else bytes([0x81, n])


def _ber(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _ber_len(len(body)) + body


def _snmp_get_public() -> bytes:
    """SNMPv1 GetRequest, community "public", for sysDescr.0 (1.3.6.1.2.1.1.1.0)."""
    oid = _ber(0x06, bytes([0x2B, 6, 1, 2, 1, 1, 1, 0]))
    varbind = _ber(0x30, oid + b"\x05\x00")
    pdu = _ber(0xA0, _ber(0x02, b"\x01") + _ber(0x02, b"\x00") + _ber(0x02, b"\x00") + _ber(0x30, varbind))
    return _ber(0x30, _ber(0x02, b"\x00") + _ber(0x04, b"public") + pdu)


# Payloads for well-known UDP services, so that an open service answers (as
# nmap's nmap-payloads does). Every other port gets an empty datagram.
UDP_PAYLOADS = {
    # DNS: standard query, recursion desired, for the root's NS records.
    53: b"\x50\x53\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"\x00" + b"\x00\x02\x00\x01",
    # NTP: a version 4 client request (mode 3), 48 bytes.
    123: b"\xe3\x00\x04\xfa\x00\x01\x00\x00\x00\x01\x00\x00" + b"\x00" * 36,
    # NetBIOS name service: node status (NBSTAT) query for the wildcard name "*".
    137: (b"\x80\xf0\x00\x10\x00\x01\x00\x00\x00\x00\x00\x00"
          b"\x20CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\x00\x00\x21\x00\x01"),
    # SNMP: v1 GetRequest for sysDescr.0 with community "public".
    161: _snmp_get_public(),
}
UDP_PAYLOADS[5353] = UDP_PAYLOADS[53]  # mDNS answers the same query format

# pcap link types we write
LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL = 1, 113
ARPHRD_ETHER, ARPHRD_LOOPBACK = 1, 772
ETH_P_ALL, ETH_P_ARP = 0x0003, 0x0806
SOL_PACKET, PACKET_STATISTICS = 263, 6
SO_TIMESTAMPNS = 35  # Linux; SCM_TIMESTAMPNS has the same value
SNAPLEN = 65535


# --- ports ----------------------------------------------------------------------


def parse_ports(spec: Union[str, Iterable[int]], proto: str = "tcp") -> list[int]:
    """Ports of `proto` in an nmap-style list: "22,80,8000-8100", "-" (all),
    "U:53,161,T:80" (a T:/U: prefix applies to what follows it). Sorted, unique."""
    if not isinstance(spec, str):
        ports = sorted({int(p) for p in spec})
        for p in ports:
            if not 0 < p < 65536:
                raise UsageError(f"bad port {p} (ports are 1-65535)")
        if not ports:
            raise UsageError("no ports to scan")
        return ports
    want = {"tcp": "T", "udp": "U"}[proto]
    current = None  # the T:/U: prefix in force
    ports: set = set()
    for raw in spec.replace(" ", "").split(","):
        item = raw
        if not item:
            continue
        if len(item) > 1 and item[1] == ":" and item[0].upper() in "TUS":
            current, item = item[0].upper(), item[2:]
            if not item:
                continue
        if current is not None and current != want:
            _port_range(item, spec)  # still validated
            continue
        lo, hi = _port_range(item, spec)
        ports.update(range(lo, hi + 1))
    if not ports:
        raise UsageError(f"no {proto.upper()} ports in {spec!r}")
    return sorted(ports)


def _port_range(item: str, spec: str) -> tuple[int, int]:
    try:
        if item == "-":
            return 1, 65535
        if "-" in item:
            lo_s, hi_s = item.split("-", 1)
            lo = int(lo_s) if lo_s else 1
            hi = int(hi_s) if hi_s else 65535
        else:
            lo = hi = int(item)
    except ValueError:
        raise UsageError(f"bad port list {spec!r}: {item!r} is not a port or a range") from None
    if not (0 < lo <= hi < 65536):
        raise UsageError(f"bad port list {spec!r}: {item!r} (ports are 1-65535, ranges run upwards)")
    return lo, hi


# --- privileges -------------------------------------------------------------------


def _need_raw(what: str) -> PermissionProblem:
    return PermissionProblem(f"{what} needs root or CAP_NET_RAW (raw sockets); a connect scan without "
                             f"--record works without them")


def _raw_sender(version: int) -> socket.socket:
    fam = socket.AF_INET if version == 4 else socket.AF_INET6
    # IPPROTO_RAW: we write the IP header ourselves (IP_HDRINCL is implied, for IPv6 too).
    # PermissionError without CAP_NET_RAW: the caller words it.
    return socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_RAW)


# --- routes -----------------------------------------------------------------------


def _family(addr) -> int:
    return socket.AF_INET6 if addr.version == 6 else socket.AF_INET


def source_for(addr) -> str:
    """The source address the kernel would use towards `addr` (no packet is sent:
    connect() on a UDP socket only looks the route up)."""
    s = socket.socket(_family(addr), socket.SOCK_DGRAM)
    try:
        s.connect((str(addr), 9))
        return s.getsockname()[0]
    except OSError as exc:
        raise UsageError(f"cannot reach {addr}: {exc.strerror or exc} (no route from this host or namespace)") from None
    finally:
        s.close()


def gateway_for(addr) -> Optional[str]:
    """The gateway the kernel routes `addr` through (`ip route get`: the kernel's
    own answer, policy rules included, and no packet sent), or None when the
    address is on a link of this namespace, local, or the lookup is impossible."""
    import json
    import subprocess

    try:
        done = subprocess.run(["ip", "-j", "route", "get", str(addr).split("%", 1)[0]], capture_output=True,
                              text=True, timeout=5)
        routes = json.loads(done.stdout) if done.returncode == 0 else []
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    return routes[0].get("gateway") if routes else None


def _lab_routes(addrs) -> list:
    """[(address, gateway or None)] for the lab-range addresses among `addrs`, one
    route lookup per /24 (IPv4) or /64 (IPv6): a block shares its route."""
    gateways: dict = {}
    out = []
    for a in addrs:
        if not any(a.version == n.version and a in n for n in safety.LAB_NETS):
            continue
        prefix = ipaddress.ip_network(f"{a}/{24 if a.version == 4 else 64}", strict=False)
        if prefix not in gateways:
            gateways[prefix] = gateway_for(a)
        out.append((a, gateways[prefix]))
    return out


def _loopback_name() -> str:
    for _idx, name in socket.if_nameindex():
        try:
            if Path(f"/sys/class/net/{name}/type").read_text().strip() == str(ARPHRD_LOOPBACK):
                return name
        except OSError:
            continue
    return "lo"


def interface_for(addr, src: str) -> str:
    """The interface the kernel sends packets for `addr` through."""
    if ipaddress.ip_address(src) == addr:
        return _loopback_name()  # one of our own addresses: it goes over loopback
    import scapy.route  # noqa: F401  (fills conf.route)
    from scapy.config import conf

    if addr.version == 4:
        iface = conf.route.route(str(addr))[0]
    else:
        import scapy.route6  # noqa: F401
        iface = conf.route6.route(str(addr))[0]
    return str(iface)


# --- the recorder -----------------------------------------------------------------


def _hatype(iface: str) -> int:
    try:
        return int(Path(f"/sys/class/net/{iface}/type").read_text().strip())
    except (OSError, ValueError):
        return -1


class Recorder:
    """Capture frames on some interfaces with AF_PACKET sockets, keep those to
    or from the targets (and ARP/neighbour discovery for them), write them to a
    pcap, and hand each kept packet to `on_packet`, numbered as `pcapscan
    analyze` will number it.

    One Ethernet interface (or loopback) is written as Ethernet, as tcpdump
    would; anything else as Linux cooked capture (like `tcpdump -i any`).
    """

    def __init__(self, path: Union[str, Path], ifaces: list[str], targets: set[str], local: set[str],
                 on_packet: Optional[Callable[[Packet], None]] = None):
        from ..capture import decode_frame

        self._decode = decode_frame
        self.path = Path(path)
        self.targets = set(targets)
        self.local = set(local)
        self.on_packet = on_packet
        self.frames = 0
        self.drops = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._socks: list = []
        ifaces = list(dict.fromkeys(ifaces))
        types = {i: _hatype(i) for i in ifaces}
        self.cooked = len(ifaces) != 1 or types[ifaces[0]] not in (ARPHRD_ETHER, ARPHRD_LOOPBACK)
        self.linktype = LINKTYPE_LINUX_SLL if self.cooked else LINKTYPE_ETHERNET
        kind = socket.SOCK_DGRAM if self.cooked else socket.SOCK_RAW
        try:
            for iface in ifaces:
                s = socket.socket(socket.AF_PACKET, kind, socket.htons(ETH_P_ALL))
                self._socks.append((s, types[iface] == ARPHRD_LOOPBACK))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                s.bind((iface, 0))
                s.setblocking(False)
        except PermissionError:
            self._close_socks()
            raise _need_raw("recording") from None
        except OSError as exc:
            self._close_socks()
            raise PcapscanError(f"cannot record on {', '.join(ifaces)}: {exc.strerror or exc}") from None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "wb")
        self._fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, self.linktype))
        self._v4targets = {socket.inet_aton(a) for a in self.targets if ":" not in a}
        self._v4local = {socket.inet_aton(a) for a in self.local if ":" not in a}

    def _close_socks(self) -> None:
        for s, _ in self._socks:
            s.close()
        self._socks = []

    # -- what to keep ---------------------------------------------------------------

    def _keep_arp(self, payload: bytes) -> bool:
        if len(payload) < 28:
            return False
        spa, tpa = payload[14:18], payload[24:28]
        return spa in self._v4targets or tpa in self._v4targets

    def _keep(self, pkt) -> bool:
        if pkt is None or not isinstance(pkt, Packet):  # undecodable, or NOT_IP (ARP is kept above)
            return False
        if pkt.src in self.targets or pkt.dst in self.targets:
            return True
        if pkt.quoted is not None and pkt.quoted.dst in self.targets:
            return True  # a router's ICMP error about one of our probes
        # IPv6 neighbour discovery between us and an on-link target
        return pkt.proto == "icmp6" and pkt.icmp_type in (135, 136) and (pkt.src in self.local or pkt.dst in self.local)

    # -- the loop -------------------------------------------------------------------

    def _handle(self, data: bytes, anc, addr, is_lo: bool) -> None:
        _ifname, proto, pkttype, hatype, haddr = addr[:5]
        if is_lo and pkttype == socket.PACKET_OUTGOING:
            return  # loopback shows every packet twice: keep the incoming copy (as libpcap does)
        ts = time.time()
        for level, ctype, cdata in anc:
            if level == socket.SOL_SOCKET and ctype == SO_TIMESTAMPNS and len(cdata) >= 16:
                sec, nsec = struct.unpack("qq", cdata[:16])
                ts = sec + nsec / 1e9
        if self.cooked:
            frame = struct.pack("!HHH8sH", pkttype, hatype, len(haddr), haddr[:8].ljust(8, b"\0"), proto) + data
            arp = data if proto == ETH_P_ARP else None
        else:
            frame = data
            arp = data[14:] if len(data) >= 14 and data[12:14] == b"\x08\x06" else None
        frame = frame[:SNAPLEN]
        if arp is not None:
            pkt = None
            if not self._keep_arp(arp):
                return
        else:
            pkt = self._decode(self.linktype, frame, self.frames + 1, round(ts, 6))
            if not self._keep(pkt):
                return
        self.frames += 1
        sec = int(ts)
        usec = int(round((ts - sec) * 1e6))
        if usec >= 1_000_000:
            sec, usec = sec + 1, usec - 1_000_000
        self._fh.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
        if pkt is not None and self.on_packet is not None:
            self.on_packet(pkt)

    def _drain(self, sock, is_lo: bool) -> None:
        space = socket.CMSG_SPACE(16)
        while True:
            try:
                data, anc, _flags, addr = sock.recvmsg(SNAPLEN + 64, space)
            except (BlockingIOError, InterruptedError):
                return
            self._handle(data, anc, addr, is_lo)

    def _run(self) -> None:
        socks = {s.fileno(): (s, lo) for s, lo in self._socks}
        while True:
            stopping = self._stop.is_set()
            ready, _, _ = select.select(list(socks), [], [], 0.02)
            for fd in ready:
                self._drain(*socks[fd])
            if stopping:  # one last drain after stop() was asked
                for s, lo in socks.values():
                    self._drain(s, lo)
                return

    def start(self) -> "Recorder":
        self._thread = threading.Thread(target=self._run, name="pcapscan-recorder", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Drain what is queued, close the sockets and the pcap. Idempotent."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(10)
            self._thread = None
        for s, _ in self._socks:
            try:
                tp_packets, tp_drops = struct.unpack("II", s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
                self.drops += tp_drops
            except OSError:
                pass
        self._close_socks()
        if not self._fh.closed:
            self._fh.close()


# --- answered or not: the live side of the replay engine ---------------------------


class _Tracker:
    """Which (target, port) probes are answered yet, by exchanges.answers."""

    def __init__(self, proto: str, sport: int, targets: set[str]):
        self.proto, self.sport, self.targets = proto, sport, targets
        self.lock = threading.Lock()
        self.probes: dict = {}  # (target, port) -> [Packet]
        self.answered: set = set()
        self.news: deque = deque()

    def sent(self, key, pkt: Packet) -> None:
        with self.lock:
            self.probes.setdefault(key, []).append(pkt)

    def observe(self, pkt: Packet) -> None:
        q = pkt.quoted
        if q is not None:
            if q.proto != self.proto or q.sport != self.sport or q.dst not in self.targets:
                return
            key = (q.dst, q.dport)
        elif pkt.proto == self.proto and pkt.dport == self.sport and pkt.src in self.targets:
            key = (pkt.src, pkt.sport)
        else:
            return
        with self.lock:
            if key in self.answered:
                return
            if any(answers(p, pkt) for p in self.probes.get(key, ())):
                self.answered.add(key)
                self.news.append(key)

    def drain(self) -> list:
        with self.lock:
            out = list(self.news)
            self.news.clear()
            return out


# --- probes -----------------------------------------------------------------------


def build_probe(technique: Technique, src: str, dst: str, sport: int, dport: int, seq: int, ack: int) -> bytes:
    """The bytes of one raw probe (IP header included), crafted with scapy and
    marked as pcapscan's: IP ID and TCP window PCAPSCAN_IP_ID / PCAPSCAN_WINDOW
    (fingerprint.py names the tool from them)."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.packet import Raw

    if ":" in dst:
        from scapy.layers.inet6 import IPv6

        ip = IPv6(src=src, dst=dst)
    else:
        ip = IP(src=src, dst=dst, id=PCAPSCAN_IP_ID)
    spec = REGISTRY[technique]
    if spec.proto == "udp":
        payload = UDP_PAYLOADS.get(dport, b"")
        return bytes(ip / UDP(sport=sport, dport=dport) / Raw(payload)) if payload else bytes(
            ip / UDP(sport=sport, dport=dport))
    flags = spec.probe_flags
    # scapy's defaults otherwise (no options, TTL 64), like the seeds' sr1(IP()/TCP()) probes
    return bytes(ip / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack if "A" in flags else 0,
                          window=PCAPSCAN_WINDOW))


def _reserve_port(kind: int, families: set[int]) -> tuple[int, list]:
    """A random high source port, bound (not listening) in every family we use,
    so no other program gets it during the scan. A bound TCP socket that does
    not listen still lets the kernel reset unexpected SYN/ACKs; a bound UDP
    socket swallows replies instead of answering them with ICMP."""
    rnd = random.SystemRandom()
    for _ in range(64):
        port = rnd.randint(40000, 60999)
        socks = []
        try:
            for fam in sorted(families):
                s = socket.socket(fam, kind)
                socks.append(s)
                if fam == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    s.bind(("::", port))
                else:
                    s.bind(("0.0.0.0", port))
            return port, socks
        except OSError:
            for s in socks:
                s.close()
    raise PcapscanError("no free source port for the scan")


class _Pacer:
    """At most `rate` probes per second (None: as fast as possible)."""

    def __init__(self, rate: Optional[float]):
        if rate is not None and rate <= 0:
            raise UsageError("--rate must be positive")
        self.interval = 1.0 / rate if rate else 0.0
        self.next = 0.0

    def wait(self) -> float:
        """Seconds to wait before the next probe may go (0: now)."""
        return max(0.0, self.next - time.monotonic())

    def sent(self) -> None:
        self.next = max(self.next, time.monotonic()) + self.interval


@dataclass
class _Target:
    addr: object  # ipaddress address
    text: str
    src: str
    iface: str


@dataclass
class _Plan:
    technique: Technique
    targets: list
    ports: list
    retries: int
    timeout: float
    rate: Optional[float]
    progress: Optional[Progress]
    warnings: list = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.targets) * len(self.ports)


def _report(plan: _Plan, done: int) -> None:
    if plan.progress is not None:
        plan.progress(done, plan.total)


def _raw_loop(plan: _Plan, tracker: _Tracker, sport: int) -> None:
    """Send every probe, retry the unanswered ones after `timeout`, until every
    (target, port) is answered or out of tries."""
    from ..capture.decode import LINKTYPE_RAW, decode_frame

    senders = {}
    for t in plan.targets:
        if t.addr.version not in senders:
            try:
                senders[t.addr.version] = _raw_sender(t.addr.version)
            except PermissionError:
                for s in senders.values():
                    s.close()
                raise _need_raw(f"a {plan.technique.value} scan") from None
    rnd = random.SystemRandom()
    pacer = _Pacer(plan.rate)
    by_key = {(t.text, p): t for t in plan.targets for p in plan.ports}
    seqs = {key: (rnd.getrandbits(32), rnd.getrandbits(32)) for key in by_key}
    queue = deque(by_key)
    tries = dict.fromkeys(by_key, 0)
    done: set = set()
    deadlines: list = []  # heap of (deadline, n, key)
    n = 0
    send_errors: dict = {}
    _report(plan, 0)
    try:
        while len(done) < len(by_key):
            for key in tracker.drain():
                if key in by_key and key not in done:
                    done.add(key)
                    _report(plan, len(done))
            now = time.monotonic()
            while deadlines and deadlines[0][0] <= now:
                _, _, key = heapq.heappop(deadlines)
                if key in done:
                    continue
                if key in tracker.answered:
                    continue  # drained on the next pass
                if tries[key] <= plan.retries:
                    queue.append(key)
                else:
                    done.add(key)
                    _report(plan, len(done))
            while queue and queue[0] in done:
                queue.popleft()
            if queue and pacer.wait() == 0.0:
                key = queue.popleft()
                t = by_key[key]
                seq, ack = seqs[key]
                data = build_probe(plan.technique, t.src, t.text, sport, key[1], seq, ack)
                probe = decode_frame(LINKTYPE_RAW, data, 0, time.time())
                tracker.sent(key, probe)
                try:
                    senders[t.addr.version].sendto(data, (t.text, 0))
                except OSError as exc:
                    send_errors[exc.strerror or str(exc)] = send_errors.get(exc.strerror or str(exc), 0) + 1
                tries[key] += 1
                pacer.sent()
                n += 1
                heapq.heappush(deadlines, (time.monotonic() + plan.timeout, n, key))
                continue
            # nothing to send right now: sleep until the next deadline or send slot
            waits = [0.02]
            if deadlines:
                waits.append(max(0.0, deadlines[0][0] - time.monotonic()))
            if queue:
                waits.append(pacer.wait())
            time.sleep(max(0.0005, min(waits)))
    finally:
        for s in senders.values():
            s.close()
    for what, count in send_errors.items():
        plan.warnings.append(f"{count} probe(s) could not be sent: {what}")


# connect() outcomes other than success and timeout -> the ICMP error the kernel
# made them from (v4 type/code, v6 type/code), for the unrecorded connect scan.
_ERRNO_ICMP = {
    errno.EHOSTUNREACH: ((3, 1), (1, 3)),
    errno.ENETUNREACH: ((3, 0), (1, 0)),
    errno.EACCES: ((3, 13), (1, 1)),
    errno.ENOPROTOOPT: ((3, 2), (1, 3)),
    errno.EPROTO: ((3, 2), (1, 3)),
}


@dataclass
class _Attempt:
    target: str
    port: int
    src: str
    sport: int
    started: float
    ended: float = 0.0
    outcome: Optional[int] = None  # 0 open, an errno, or None for a timeout


def _connect_loop(plan: _Plan) -> list[_Attempt]:
    """Non-blocking connect() to every (target, port); retry timeouts."""
    sel = selectors.DefaultSelector()
    pacer = _Pacer(plan.rate)
    by_key = {(t.text, p): t for t in plan.targets for p in plan.ports}
    queue = deque(by_key)
    tries = dict.fromkeys(by_key, 0)
    attempts: list[_Attempt] = []
    inflight: dict = {}  # socket -> (attempt, deadline)
    decided = 0
    max_inflight = 128
    _report(plan, 0)

    def finish(sock, att: _Attempt, outcome: Optional[int]) -> None:
        nonlocal decided
        att.outcome, att.ended = outcome, time.time()
        try:
            sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        sock.close()  # SO_LINGER 0: an established connection ends with RST, as nmap -sT does
        del inflight[sock]
        key = (att.target, att.port)
        if outcome is None and tries[key] <= plan.retries:
            queue.append(key)
        else:
            decided += 1
            _report(plan, decided)

    try:
        while queue or inflight:
            while queue and len(inflight) < max_inflight and pacer.wait() == 0.0:
                key = queue.popleft()
                t = by_key[key]
                sock = socket.socket(_family(t.addr), socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.setblocking(False)
                tries[key] += 1
                pacer.sent()
                rc = sock.connect_ex((t.text, key[1]))
                try:
                    src, sport = sock.getsockname()[:2]
                except OSError:
                    src, sport = t.src, 0
                att = _Attempt(t.text, key[1], src, sport, time.time())
                attempts.append(att)
                inflight[sock] = (att, time.monotonic() + plan.timeout)
                if rc == errno.EINPROGRESS:
                    sel.register(sock, selectors.EVENT_WRITE)
                else:
                    finish(sock, att, rc)
            now = time.monotonic()
            if inflight:
                wait = min(dl for _, dl in inflight.values()) - now
                if queue and len(inflight) < max_inflight:
                    wait = min(wait, pacer.wait())
                for skey, _ in sel.select(timeout=max(0.0005, min(0.05, wait))):
                    sock = skey.fileobj
                    att, _dl = inflight[sock]
                    finish(sock, att, sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
            elif queue:
                time.sleep(max(0.0005, pacer.wait()))
            now = time.monotonic()
            for sock, (att, deadline) in list(inflight.items()):
                if deadline <= now:
                    finish(sock, att, None)
    finally:
        for sock in list(inflight):
            sock.close()
        sel.close()
    return attempts


def _synthesized_exchanges(attempts: list[_Attempt]) -> tuple[list, int]:
    """Exchanges rebuilt from connect()'s results when nothing could be recorded:
    what the kernel must have seen for each outcome, fed to the replay engine."""
    engine = ReplayEngine()
    frame = 0

    def pkt(**kw) -> Packet:
        nonlocal frame
        frame += 1
        return Packet(frame=frame, **kw)

    for att in sorted(attempts, key=lambda a: a.started):
        v6 = ":" in att.target
        base = dict(ip_version=6 if v6 else 4, ttl=64)
        syn = pkt(ts=att.started, src=att.src, dst=att.target, proto="tcp", sport=att.sport, dport=att.port,
                  flags=SYN, seq=1000, window=64240, options=(2, 4, 8, 1, 3), mss=1460, ip_proto=6, **base)
        engine.feed(syn)
        ended = att.ended or att.started
        back = dict(src=att.target, dst=att.src, proto="tcp", sport=att.port, dport=att.sport, ip_proto=6, **base)
        if att.outcome == 0:
            engine.feed(pkt(ts=ended, flags=SYN | ACK, seq=5000, ack=1001, **back))
            fwd = dict(src=att.src, dst=att.target, proto="tcp", sport=att.sport, dport=att.port, ip_proto=6, **base)
            engine.feed(pkt(ts=ended, flags=ACK, seq=1001, ack=5001, **fwd))
            engine.feed(pkt(ts=ended, flags=RST | ACK, seq=1001, ack=5001, **fwd))
        elif att.outcome == errno.ECONNREFUSED:
            engine.feed(pkt(ts=ended, flags=RST | ACK, seq=0, ack=1001, **back))
        elif att.outcome in _ERRNO_ICMP:
            (t4, c4), (t6, c6) = _ERRNO_ICMP[att.outcome]
            engine.feed(pkt(ts=ended, src=att.target, dst=att.src, proto="icmp6" if v6 else "icmp",
                            icmp_type=t6 if v6 else t4, icmp_code=c6 if v6 else c4,
                            quoted=Quoted(att.src, att.target, "tcp", att.sport, att.port, 1000),
                            ip_proto=58 if v6 else 1, **base))
    return engine.exchanges(), frame


# --- the scan ---------------------------------------------------------------------


def _has_cap_net_raw() -> bool:
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)).close()
        return True
    except PermissionError:
        return False
    except OSError:
        return False


def scan(target: str, ports, technique="syn", retries: int = 1, timeout: float = 1.0,
         rate: Optional[float] = None, record: Optional[Union[str, Path]] = None, allow_public: bool = False,
         progress: Optional[Progress] = None, resolver=None, settle: Optional[float] = None) -> AnalysisResult:
    """Scan `ports` of `target` (an address, a block, a range or a host name;
    several separated by commas) with `technique`; return what the analyzer
    makes of the recording, as `analysis.analyze` would.

    Raises SafetyRefusal (public target without allow_public) before any
    packet, PermissionProblem (a raw technique, or recording, without
    CAP_NET_RAW), UsageError (bad ports, target, technique or numbers).
    """
    tech = parse_technique(technique)  # as every command reads technique names (claims.py)
    if tech not in live_techniques():
        names = ", ".join(t.value for t in live_techniques())
        raise UsageError(f"pcapscan scan cannot send {tech.value} probes (it sends {names})")
    if retries < 0 or retries > 20:
        raise UsageError("--retries must be between 0 and 20")
    if not 0 < timeout <= 600:
        raise UsageError("--timeout must be a positive number of seconds (at most 600)")
    if rate is not None and not rate > 0:
        raise UsageError("--rate must be a positive number of probes per second")
    proto = REGISTRY[tech].proto
    port_list = parse_ports(ports, proto)
    # 1. policy, before any socket exists
    addrs = safety.check_targets([t for t in str(target).split(",") if t.strip()], allow_public, resolver)
    # 2. privileges
    raw = not REGISTRY[tech].os_connect
    can_sniff = _has_cap_net_raw()
    if (raw or record is not None) and not can_sniff:
        raise _need_raw(f"a {tech.value} scan" if raw else "recording (--record)")
    # 3. routes
    targets = []
    for a in addrs:
        src = source_for(a)
        iface = interface_for(a, src) if can_sniff else ""
        targets.append(_Target(a, str(a), src, iface))
    plan = _Plan(tech, targets, port_list, retries, timeout, rate, progress)
    off_link = safety.off_link_warning(_lab_routes([t.addr for t in targets]))
    if off_link:
        plan.warnings.append(off_link)
    text_targets = {t.text for t in targets}
    label = str(record) if record is not None else f"live:{target}"

    if not can_sniff:  # connect without CAP_NET_RAW: rebuild exchanges from connect()'s results
        from ..analysis import build_scans

        attempts = _connect_loop(plan)
        exchanges, frames = _synthesized_exchanges(attempts)
        scans = build_scans(label, exchanges, tech)
        summary = CaptureSummary(path=label, packets=frames)
        return _result(summary, scans, tech, text_targets, {t.src for t in targets}, port_list, label,
                       plan.warnings)

    tmpdir = None
    if record is None:
        tmpdir = tempfile.mkdtemp(prefix="pcapscan-")
        path = Path(tmpdir) / "scan.pcap"
    else:
        path = Path(record)
    try:
        tracker = _Tracker(proto, 0, text_targets)
        recorder = Recorder(path, [t.iface for t in targets], text_targets, {t.src for t in targets},
                            on_packet=tracker.observe)
        reserved: list = []
        try:
            recorder.start()
            if raw:
                sport, reserved = _reserve_port(socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM,
                                                {_family(t.addr) for t in targets})
                tracker.sport = sport
                _raw_loop(plan, tracker, sport)
            else:
                _connect_loop(plan)
            # late answers and the scanner kernel's own RSTs
            time.sleep(settle if settle is not None else min(0.25, timeout))
        finally:
            recorder.stop()
            for s in reserved:
                s.close()
        if recorder.drops:
            plan.warnings.append(f"the recorder lost {recorder.drops} packet(s): verdicts may miss answers")
        from ..analysis import analyze_capture

        summary, scans = analyze_capture(path, tech)
        summary = replace(summary, path=label)
        return _result(summary, scans, tech, text_targets, {t.src for t in targets}, port_list, label,
                       plan.warnings)
    finally:
        if tmpdir is not None:
            for f in Path(tmpdir).iterdir():
                f.unlink()
            os.rmdir(tmpdir)


def _result(summary: CaptureSummary, scans, tech: Technique, targets: set, sources: set, ports: list,
            label: str, warnings: list) -> AnalysisResult:
    """Keep the scans of this scan (our sources, our targets, our ports, our
    technique), labelled with `label`, in target order."""
    want = set(ports)
    out = []
    for s in scans:
        if s.target not in targets or s.scanner not in sources or s.technique is not tech:
            continue
        kept = tuple(p for p in s.ports if p.port in want)
        if not kept:
            continue
        why = s.technique_evidence
        if isinstance(why, Text) and why.key == "inferred.forced":
            why = why.get("why")
        out.append(replace(s, capture=label, ports=kept,
                           technique_evidence=Text.of("inferred.live", technique=tech.value, why=why)))
    seen = {(s.target, p.port) for s in out for p in s.ports}
    missing = len(targets) * len(want) - len(seen)
    warnings = list(summary.warnings) + list(warnings)
    if missing:
        warnings.append(f"{missing} probed port(s) have no verdict: none of their probes is in the recording "
                        f"(a target that never answered ARP or neighbour discovery: nothing was sent to it)")
    summary = replace(summary, warnings=tuple(warnings))
    return AnalysisResult(captures=(summary,), scans=tuple(out))
