"""A two-namespace lab for recording real scans safely (stdlib only).

What it builds
--------------
Two fresh Linux network namespaces, a *scanner* and a *target*, joined by
one veth pair and nothing else::

    [pcs-<pid>-scan]  pcs-<pid>-s  ==veth==  pcs-<pid>-t  [pcs-<pid>-tgt]
     198.18.0.1/24                              198.18.0.2/24
     2001:2::1/64                               2001:2::2/64

Each side gets `lo` up, its addresses (IPv6 with `nodad`, so they are usable
at once) and fixed, locally administered MAC addresses (so captures differ
less from run to run). In the target namespace the ICMP rate limits are
switched off (`net.ipv4.icmp_ratelimit=0`, `net.ipv6.icmp.ratelimit=0`) so
that UDP scans, which learn "closed" from ICMP port-unreachable errors, are
fast and complete. On the target, `start_listeners` runs small Python
listeners (pcapscan/live/listener.py) and `apply_firewall` loads an nftables
table `inet pcapscan` that drops or rejects chosen ports. `recorder` runs
tcpdump on the scanner's veth.

Why
---
Safety: nmap and tcpdump run only inside namespaces this module creates. The
scanner namespace has no route but the two on-link lab prefixes (no default
route, no other interface), so a scan there cannot reach the host, its
networks, or the Internet, even by mistake. The addresses come from ranges
reserved for exactly this: 198.18.0.0/15 (RFC 2544, network benchmarking)
and 2001:2::/48 (RFC 5180, IPv6 benchmarking); they are never routed on the
Internet and are unlikely to collide with anything on the host. `Lab`
refuses addresses outside them. Everything `up()` makes, `down()` removes
(namespaces, hence the veth; the processes it started), even after a
half-finished `up()`, and it never touches a namespace it did not create.

Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2; nftables for
`apply_firewall`, tcpdump for `recorder`, nmap to scan.
"""
from __future__ import annotations

import ipaddress
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

from pcapscan.errors import PcapscanError, PermissionProblem, SafetyRefusal

LAB_NET4 = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544 benchmarking
LAB_NET6 = ipaddress.ip_network("2001:2::/48")  # RFC 5180 benchmarking

# tool -> Debian package that provides it
TOOLS = {"ip": "iproute2", "nft": "nftables", "tcpdump": "tcpdump", "nmap": "nmap", "sysctl": "procps"}

SCANNER = "scanner"
TARGET = "target"
NFT_TABLE = "pcapscan"
IFNAMSIZ = 15  # longest Linux interface name

# Rule actions -> the nftables statement (inet family: icmpx works for v4 and v6).
ACTIONS = {
    "drop": "drop",
    "admin-prohibited": "reject with icmpx type admin-prohibited",
    "port-unreachable": "reject with icmpx type port-unreachable",
}

_PKG_ROOT = Path(__file__).resolve().parents[2]  # the directory holding pcapscan/


class LabError(PcapscanError):
    """The lab could not be built, or a command inside it failed."""


class MissingTools(LabError):
    """Some required programs are not installed. `.missing` maps tool -> Debian package."""

    def __init__(self, missing: dict[str, str]):
        self.missing = dict(missing)
        names = ", ".join(f"{tool} (apt-get install {pkg})" for tool, pkg in self.missing.items())
        super().__init__(f"missing tools: {names}")


def missing_tools(tools: Iterable[str] = ("ip", "nft", "tcpdump", "nmap")) -> dict[str, str]:
    """The tools not on PATH, mapped to the Debian package that provides each."""
    return {t: TOOLS.get(t, t) for t in tools if shutil.which(t) is None}


def require_tools(tools: Iterable[str] = ("ip", "nft", "tcpdump", "nmap")) -> None:
    """Raise MissingTools naming every missing tool and its Debian package."""
    missing = missing_tools(tools)
    if missing:
        raise MissingTools(missing)


def in_lab_range(addr: str) -> bool:
    """True if `addr` lies in 198.18.0.0/15 or 2001:2::/48."""
    ip = ipaddress.ip_address(addr)
    return ip in (LAB_NET4 if ip.version == 4 else LAB_NET6)


def list_netns() -> list[str]:
    """Names from `ip netns list` (the first word of each line)."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


@dataclass(frozen=True)
class Rule:
    """One firewall rule for the target: `action` (a key of ACTIONS) on proto/port."""

    proto: str  # "tcp" or "udp"
    port: int
    action: str

    def __post_init__(self):
        if self.proto not in ("tcp", "udp"):
            raise ValueError(f"proto must be tcp or udp, not {self.proto!r}")
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {self.action!r}")
        if not 0 < int(self.port) < 65536:
            raise ValueError(f"bad port {self.port!r}")


@dataclass(frozen=True)
class PortPlan:
    """What the target does on each port. The default is the golden-capture plan."""

    tcp_open: tuple = (80,)  # listener: accept and close
    tcp_closed: tuple = (81,)  # nothing listens: the kernel sends RST
    tcp_drop: tuple = (82,)  # nft drop
    tcp_admin: tuple = (83,)  # nft reject with icmpx type admin-prohibited
    tcp_unreach: tuple = (84,)  # nft reject with icmpx type port-unreachable
    udp_open: tuple = (53,)  # responder: answers every datagram
    udp_closed: tuple = (54,)  # nothing listens: the kernel sends ICMP port-unreachable
    udp_drop: tuple = (55,)
    udp_admin: tuple = (56,)
    udp_unreach: tuple = (57,)

    def rules(self) -> list[Rule]:
        out = []
        for proto in ("tcp", "udp"):
            for kind, action in (("drop", "drop"), ("admin", "admin-prohibited"), ("unreach", "port-unreachable")):
                out += [Rule(proto, p, action) for p in getattr(self, f"{proto}_{kind}")]
        return out

    def ports(self, proto: str) -> list[int]:
        return sorted({p for kind in ("open", "closed", "drop", "admin", "unreach")
                       for p in getattr(self, f"{proto}_{kind}")})

    def describe(self) -> list[tuple[str, int, str]]:
        """(proto, port, what the target does), sorted by proto and port."""
        words = {
            "open": {"tcp": "listener (accept, close)", "udp": "responder (answers 9 bytes)"},
            "closed": {"tcp": "nothing listens (kernel RST)", "udp": "nothing listens (kernel ICMP port-unreachable)"},
            "drop": "nft drop",
            "admin": "nft reject with icmpx type admin-prohibited",
            "unreach": "nft reject with icmpx type port-unreachable",
        }
        out = []
        for proto in ("tcp", "udp"):
            for kind, text in words.items():
                text = text[proto] if isinstance(text, dict) else text
                out += [(proto, p, text) for p in getattr(self, f"{proto}_{kind}")]
        return sorted(out)


GOLDEN_PLAN = PortPlan()


class Recorder:
    """tcpdump writing a pcap in a lab namespace. Use via Lab.recorder(); start(), stop().

    After stop(), `packets` holds tcpdump's "packets captured" count (None if
    it did not say) and `dropped` its "dropped by kernel" count.
    """

    def __init__(self, lab: "Lab", path: Union[str, Path], ns: str, iface: str, bpf: str, snaplen: int = 0):
        self.lab, self.path, self.ns, self.iface, self.bpf, self.snaplen = lab, Path(path), ns, iface, bpf, snaplen
        self.proc: Optional[subprocess.Popen] = None
        self.stderr_lines: list[str] = []
        self._ready = threading.Event()
        self._reader: Optional[threading.Thread] = None
        self.packets: Optional[int] = None
        self.dropped: Optional[int] = None

    def argv(self) -> list[str]:
        argv = ["tcpdump", "-i", self.iface, "-w", str(self.path), "-U", "-n", "-Z", "root", "--immediate-mode"]
        if self.snaplen:
            argv += ["-s", str(self.snaplen)]
        return argv + ([self.bpf] if self.bpf else [])

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))
            if "listening on" in line:
                self._ready.set()
        self._ready.set()  # EOF: tcpdump exited (start() notices)

    def start(self, timeout: float = 10.0) -> "Recorder":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.proc = self.lab.popen(self.ns, self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True, start_new_session=True)
        self.lab._recorders.append(self)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout) or self.proc.poll() is not None:
            err = "\n".join(self.stderr_lines)
            self.stop()
            raise LabError(f"tcpdump did not start on {self.iface} in {self.ns}: {err or 'timeout'}")
        return self

    def stop(self, timeout: float = 10.0) -> Optional[int]:
        """SIGINT tcpdump and wait for it, so the pcap is flushed and closed. Idempotent."""
        proc = self.proc
        if proc is None:
            return self.packets
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(5)
        if proc.stderr is not None:
            proc.stderr.close()
        text = "\n".join(self.stderr_lines)
        m = re.search(r"(\d+) packets? captured", text)
        self.packets = int(m.group(1)) if m else None
        m = re.search(r"(\d+) packets? dropped by kernel", text)
        self.dropped = int(m.group(1)) if m else None
        self.proc = None
        if self in self.lab._recorders:
            self.lab._recorders.remove(self)
        return self.packets

    def __enter__(self) -> "Recorder":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


class Lab:
    """Scanner and target namespaces joined by a veth pair. A context manager:
    `with Lab() as lab:` runs up() and, always, down().

    Namespace arguments (`ns`) are the roles "scanner"/"target" or a full name.
    """

    def __init__(self, prefix: Optional[str] = None, *,
                 scanner_addr4: str = "198.18.0.1", target_addr4: str = "198.18.0.2", prefixlen4: int = 24,
                 scanner_addr6: str = "2001:2::1", target_addr6: str = "2001:2::2", prefixlen6: int = 64,
                 ipv6: bool = True, verbose: bool = False):
        self.prefix = prefix or f"pcs-{os.getpid()}"
        self.scanner_ns = f"{self.prefix}-scan"
        self.target_ns = f"{self.prefix}-tgt"
        self.scanner_if = f"{self.prefix}-s"
        self.target_if = f"{self.prefix}-t"
        for name in (self.scanner_if, self.target_if):
            if len(name) > IFNAMSIZ:
                raise ValueError(f"interface name {name!r} is longer than {IFNAMSIZ}: use a shorter prefix")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.prefix):
            raise ValueError(f"bad lab prefix {self.prefix!r}")
        self.scanner_addr4, self.target_addr4, self.prefixlen4 = scanner_addr4, target_addr4, prefixlen4
        self.scanner_addr6, self.target_addr6, self.prefixlen6 = scanner_addr6, target_addr6, prefixlen6
        self.ipv6 = ipv6
        addrs = [scanner_addr4, target_addr4] + ([scanner_addr6, target_addr6] if ipv6 else [])
        for a in addrs:
            if not in_lab_range(a):
                raise SafetyRefusal(f"{a} is outside the lab ranges {LAB_NET4} and {LAB_NET6}")
        for a, plen in ((scanner_addr4, prefixlen4), (scanner_addr6, prefixlen6)):
            net = ipaddress.ip_interface(f"{a}/{plen}").network
            lab = LAB_NET4 if net.version == 4 else LAB_NET6
            if not net.subnet_of(lab):
                raise SafetyRefusal(f"lab subnet {net} is not inside {lab}")
        self.verbose = verbose
        self.scanner_mac = "02:00:c6:12:00:01"
        self.target_mac = "02:00:c6:12:00:02"
        self._created_ns: list[str] = []
        self._listeners: list[subprocess.Popen] = []
        self._recorders: list[Recorder] = []
        self.is_up = False

    # -- naming -------------------------------------------------------------

    def ns_name(self, ns: str) -> str:
        return {SCANNER: self.scanner_ns, TARGET: self.target_ns}.get(ns, ns)

    def iface(self, ns: str) -> str:
        return self.scanner_if if self.ns_name(ns) == self.scanner_ns else self.target_if

    def bpf(self) -> str:
        """A tcpdump filter matching only traffic of the two lab hosts (IP, ARP, ND)."""
        hosts = [self.scanner_addr4, self.target_addr4] + ([self.scanner_addr6, self.target_addr6] if self.ipv6 else [])
        return " or ".join(f"host {h}" for h in hosts)

    # -- running commands ---------------------------------------------------

    def _log(self, argv: Sequence[str]) -> None:
        if self.verbose:
            print("+ " + " ".join(map(str, argv)), file=sys.stderr, flush=True)

    def _run(self, argv: Sequence[str], *, check: bool = True, **kw) -> subprocess.CompletedProcess:
        argv = [str(a) for a in argv]
        self._log(argv)
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        proc = subprocess.run(argv, **kw)
        if check and proc.returncode != 0:
            err = (proc.stderr or "").strip() if isinstance(proc.stderr, str) else ""
            raise LabError(f"command failed ({proc.returncode}): {' '.join(argv)}" + (f": {err}" if err else ""))
        return proc

    def exec(self, ns: str, argv: Sequence[str], *, check: bool = True, **kw) -> subprocess.CompletedProcess:
        """subprocess.run(argv) inside namespace `ns` (via `ip netns exec`).
        Captures text output unless told otherwise; raises LabError on failure if `check`."""
        return self._run(["ip", "netns", "exec", self.ns_name(ns), *argv], check=check, **kw)

    def popen(self, ns: str, argv: Sequence[str], **kw) -> subprocess.Popen:
        """subprocess.Popen(argv) inside namespace `ns`. `ip netns exec` execs the
        command in place, so the Popen's pid is the command's own pid."""
        full = ["ip", "netns", "exec", self.ns_name(ns), *[str(a) for a in argv]]
        self._log(full)
        return subprocess.Popen(full, **kw)

    # -- up / down ----------------------------------------------------------

    def up(self) -> "Lab":
        """Create namespaces, veth pair, addresses, links, sysctls. On failure,
        whatever was made is removed again and LabError is raised."""
        if os.geteuid() != 0:
            raise PermissionProblem("the lab needs root (network namespaces, veth, nftables)")
        require_tools(("ip", "sysctl"))
        try:
            self._create_namespaces()
            self._create_veth()
            self._configure()
        except BaseException:
            self.down()
            raise
        self.is_up = True
        return self

    def _create_namespaces(self) -> None:
        existing = set(list_netns())
        for ns in (self.scanner_ns, self.target_ns):
            if ns in existing:
                raise LabError(f"network namespace {ns} already exists (another lab? remove it with "
                               f"`ip netns del {ns}` if it is stale)")
        for ns in (self.scanner_ns, self.target_ns):
            self._run(["ip", "netns", "add", ns])
            self._created_ns.append(ns)

    def _create_veth(self) -> None:
        # Created directly inside the namespaces: the pair never exists in the host namespace.
        self._run(["ip", "link", "add", self.scanner_if, "address", self.scanner_mac, "netns", self.scanner_ns,
                   "type", "veth", "peer", "name", self.target_if, "address", self.target_mac,
                   "netns", self.target_ns])

    def _sysctl(self, ns: str, key: str, value: Union[int, str], check: bool = True) -> None:
        self.exec(ns, ["sysctl", "-q", "-w", f"{key}={value}"], check=check)

    def _configure(self) -> None:
        sides = ((self.scanner_ns, self.scanner_if, self.scanner_addr4, self.scanner_addr6),
                 (self.target_ns, self.target_if, self.target_addr4, self.target_addr6))
        for ns, ifname, a4, a6 in sides:
            self._run(["ip", "-n", ns, "link", "set", "lo", "up"])
            self._run(["ip", "-n", ns, "addr", "add", f"{a4}/{self.prefixlen4}", "dev", ifname])
            if self.ipv6:
                self._sysctl(ns, f"net.ipv6.conf.{ifname}.disable_ipv6", 0)
                self._sysctl(ns, f"net.ipv6.conf.{ifname}.accept_dad", 0)
                self._run(["ip", "-n", ns, "addr", "add", f"{a6}/{self.prefixlen6}", "dev", ifname, "nodad"])
            self._run(["ip", "-n", ns, "link", "set", ifname, "up"])
        self._sysctl(self.target_ns, "net.ipv4.icmp_ratelimit", 0)
        if self.ipv6:
            self._sysctl(self.target_ns, "net.ipv6.icmp.ratelimit", 0)
        self.check_isolated()

    def check_isolated(self) -> None:
        """Raise SafetyRefusal unless the scanner namespace has only lo and its
        veth and no route beyond the lab prefixes."""
        links = self._run(["ip", "-n", self.scanner_ns, "-o", "link", "show"]).stdout
        names = {line.split(":")[1].strip().split("@")[0] for line in links.splitlines() if line.strip()}
        if names - {"lo", self.scanner_if}:
            raise SafetyRefusal(f"scanner namespace has unexpected interfaces: {sorted(names)}")
        for fam in ("-4", "-6"):
            routes = self._run(["ip", "-n", self.scanner_ns, fam, "route", "show", "table", "main"]).stdout
            for line in routes.splitlines():
                dest = line.split()[0] if line.strip() else ""
                if not dest:
                    continue
                if dest == "default":
                    raise SafetyRefusal(f"scanner namespace has a default route: {line}")
                net = ipaddress.ip_network(dest, strict=False)
                if not (net.version == 4 and net.subnet_of(LAB_NET4)) and not (
                        net.version == 6 and (net.subnet_of(LAB_NET6)
                                              or net.subnet_of(ipaddress.ip_network("fe80::/64")))):
                    raise SafetyRefusal(f"scanner namespace routes outside the lab: {line}")

    def down(self) -> None:
        """Stop recorders and listeners, kill any process left in our namespaces,
        delete the namespaces (which deletes the veth pair). Idempotent; never
        raises for things already gone; touches only what this Lab created."""
        for rec in list(self._recorders):
            try:
                rec.stop()
            except Exception:
                pass
        self.stop_listeners()
        for ns in list(self._created_ns):
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError, PermissionError):
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            self._created_ns.remove(ns)
        self.is_up = False

    def __enter__(self) -> "Lab":
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()

    # -- target services ----------------------------------------------------

    def start_listeners(self, tcp_ports: Iterable[int] = (), udp_ports: Iterable[int] = (),
                        timeout: float = 10.0) -> subprocess.Popen:
        """Run pcapscan.live.listener in the target namespace (TCP accept-and-close,
        UDP answer-every-datagram) and return once it listens on every port."""
        tcp, udp = [int(p) for p in tcp_ports], [int(p) for p in udp_ports]
        argv = [sys.executable, "-m", "pcapscan.live.listener",
                "--tcp", ",".join(map(str, tcp)), "--udp", ",".join(map(str, udp))]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PKG_ROOT), env.get("PYTHONPATH", "")]))
        proc = self.popen(TARGET, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, start_new_session=True)
        self._listeners.append(proc)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("ready"):
            self._stop_proc(proc)
            err = proc.stderr.read() if proc.stderr else ""
            raise LabError(f"listeners did not start in {self.target_ns}: {(line + err).strip() or 'timeout'}")
        return proc

    @staticmethod
    def _stop_proc(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()

    def stop_listeners(self) -> None:
        for proc in self._listeners:
            self._stop_proc(proc)
        self._listeners.clear()

    def apply_firewall(self, rules: Iterable[Union[Rule, tuple]]) -> str:
        """Load table `inet pcapscan` into the target namespace: an input chain
        (policy accept) with one rule per (proto, action) over a set of ports.
        `rules` are Rule objects or (proto, port, action) tuples. Replaces any
        previous table atomically. Returns the ruleset text it loaded."""
        require_tools(("nft",))
        grouped: dict[tuple[str, str], list[int]] = {}
        for r in rules:
            r = r if isinstance(r, Rule) else Rule(*r)
            grouped.setdefault((r.proto, r.action), []).append(int(r.port))
        lines = [f"table inet {NFT_TABLE}", f"delete table inet {NFT_TABLE}", f"table inet {NFT_TABLE} {{",
                 "  chain input {", "    type filter hook input priority 0; policy accept;"]
        for (proto, action), ports in grouped.items():
            lines.append(f"    {proto} dport {{ {', '.join(map(str, sorted(set(ports))))} }} {ACTIONS[action]}")
        lines += ["  }", "}", ""]
        text = "\n".join(lines)
        self.exec(TARGET, ["nft", "-f", "-"], input=text)
        return text

    def clear_firewall(self) -> None:
        self.exec(TARGET, ["nft", "delete", "table", "inet", NFT_TABLE], check=False)

    def setup_plan(self, plan: PortPlan = GOLDEN_PLAN) -> None:
        """Listeners for the plan's open ports and the firewall for its filtered ones."""
        self.start_listeners(plan.tcp_open, plan.udp_open)
        self.apply_firewall(plan.rules())

    def flush_neighbours(self) -> None:
        """Forget ARP/ND entries on both sides, so each capture starts with the same resolution."""
        for ns in (self.scanner_ns, self.target_ns):
            self._run(["ip", "-n", ns, "neigh", "flush", "all"], check=False)

    # -- recording ----------------------------------------------------------

    def recorder(self, path: Union[str, Path], *, ns: str = SCANNER, iface: Optional[str] = None,
                 bpf: Optional[str] = None, snaplen: int = 0) -> Recorder:
        """A tcpdump Recorder (not yet started) on the veth of `ns`, filtered to
        the lab hosts unless `bpf` says otherwise ("" for no filter)."""
        return Recorder(self, path, self.ns_name(ns), iface or self.iface(ns),
                        self.bpf() if bpf is None else bpf, snaplen)
