"""`pcapscan lab up/run/down`: the seeds' whole experiment in network namespaces.

Topology (the seeds': attacker, victim and gateway on one LAN)::

    [<name>-attacker]                 [<name>-gateway]                  [<name>-victim]
     <name>-a 198.18.0.101 ==veth== <name>-ga  \\                 /  <name>-gv ==veth== <name>-v 198.18.0.102
                                              <name>-br 198.18.0.1 (bridge)

With `--no-gateway` the attacker's and victim's veths are joined directly
(the two-namespace lab of live/netns.py). Every address is the user's to
choose, inside 198.18.0.0/15 (RFC 2544 benchmarking); nothing is routed
anywhere else, no namespace has a default route, the host's interfaces and
routes are never touched, and IPv6 is switched off in the lab so no
neighbour-discovery chatter mixes into the captures.

Port states on the victim (live/netns.PortPlan, the seeds' section
"端口状态模拟"):

    state              TCP  UDP  how
    open               80   53   a listener (accepts and closes; answers every datagram)
    closed             81   54   nothing listens: the kernel's RST / ICMP port unreachable
    filtered           82   55   nftables drop (the seeds' `ufw deny`)
    admin-prohibited   83   56   nftables reject with ICMP admin-prohibited
    port-unreachable   84   57   nftables reject with ICMP port-unreachable

State
    `up` writes a small JSON state file (default /run/pcapscan-lab.json,
    or $PCAPSCAN_LAB_STATE, or --state) BEFORE it creates anything, naming
    everything it will create; `run` and `down` find the lab there. `down`
    removes exactly what the state file names (killing every process left
    in those namespaces, listeners included; deleting the namespaces deletes
    their veths, bridge and nftables table) and is idempotent. A `run` that
    finds no lab builds one and removes it at the end, also on Ctrl-C,
    SIGTERM or a failing step; if it is SIGKILLed, `lab down` cleans up
    after it from the state file.

`run` scans every technique with pcapscan's own scanner (run inside the
attacker namespace) and with nmap (`-n -Pn --reason -T4`), records every
run with tcpdump on the attacker's veth, analyzes each capture, cuts out
one capture per port, verifies it against the state the lab configured
(pcapscan.verify, with a claim per port) and writes OUT/report.md,
OUT/report.html and OUT/report.json.
"""
from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

from ..errors import PcapscanError, PermissionProblem, UsageError
from ..model import Technique, flag_letters
from ..techniques import REGISTRY
from ..report.lab_report import write_reports
from .labmodel import EXPECTED, PLAN, STATE_HOW, STATES, TECHNIQUES, Cell, Report, port_of, ports_of  # noqa: F401
from .netns import (LAB_NET4, NFT_TABLE, SCANNER, Lab, LabError, list_netns, missing_tools,
                    require_tools)

DEFAULT_NAME = "pcslab"
DEFAULT_STATE = "/run/pcapscan-lab.json"
STATE_ENV = "PCAPSCAN_LAB_STATE"
DEFAULT_SUBNET = "198.18.0.0/24"
STATE_VERSION = 1

Log = Callable[[str], None]
_PKG_ROOT = Path(__file__).resolve().parents[2]


# -- configuration ------------------------------------------------------------------


@dataclass(frozen=True)
class LabConfig:
    name: str = DEFAULT_NAME
    subnet: str = DEFAULT_SUBNET
    attacker: str = "198.18.0.101"
    victim: str = "198.18.0.102"
    gateway: bool = True
    gateway_addr: str = "198.18.0.1"

    @classmethod
    def make(cls, name=None, subnet=None, attacker=None, victim=None, gateway=True, gateway_addr=None) -> "LabConfig":
        """Defaults filled in from the subnet (.101 attacker, .102 victim, .1
        gateway, as the seeds' 172.16.111.0/24 lab), then validated."""
        name = name or DEFAULT_NAME
        try:
            net = ipaddress.ip_network(subnet or DEFAULT_SUBNET, strict=False)
        except ValueError:
            raise UsageError(f"bad subnet {subnet!r}") from None
        hosts = lambda i: str(net.network_address + i)  # noqa: E731
        cfg = cls(name=name, subnet=str(net), attacker=attacker or hosts(101), victim=victim or hosts(102),
                  gateway=bool(gateway), gateway_addr=gateway_addr or hosts(1))
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9]{0,11}", self.name):
            raise UsageError(f"bad lab name {self.name!r}: 1-12 lowercase letters and digits, a letter first")
        net = ipaddress.ip_network(self.subnet, strict=False)
        if net.version != 4 or not net.subnet_of(LAB_NET4):
            raise UsageError(f"lab subnet {self.subnet} must lie inside {LAB_NET4} (RFC 2544 benchmarking)")
        if net.prefixlen > 29:
            raise UsageError(f"lab subnet {self.subnet} is too small (at most /29)")
        roles = {"attacker": self.attacker, "victim": self.victim}
        if self.gateway:
            roles["gateway"] = self.gateway_addr
        for role, addr in roles.items():
            try:
                a = ipaddress.ip_address(addr)
            except ValueError:
                raise UsageError(f"bad {role} address {addr!r}") from None
            if a not in net or a in (net.network_address, net.broadcast_address):
                raise UsageError(f"{role} address {addr} is not a host address of the lab subnet {net}")
        if len(set(roles.values())) != len(roles):
            raise UsageError("the attacker, victim and gateway addresses must differ")

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    @property
    def namespaces(self) -> list:
        ns = [f"{self.name}-attacker", f"{self.name}-victim"]
        return ns + ([f"{self.name}-gateway"] if self.gateway else [])


# -- the topology ---------------------------------------------------------------------


class SeedLab(Lab):
    """live/netns.Lab with the seeds' names and, optionally, a gateway on a bridged LAN."""

    GW_MAC_A, GW_MAC_V = "02:00:c6:12:00:fa", "02:00:c6:12:00:fb"

    def __init__(self, cfg: LabConfig, verbose: bool = False):
        super().__init__(prefix=cfg.name, scanner_addr4=cfg.attacker, target_addr4=cfg.victim,
                         prefixlen4=cfg.prefixlen, ipv6=False, verbose=verbose)
        self.cfg = cfg
        self.scanner_ns, self.target_ns = cfg.namespaces[:2]
        self.gateway_ns = cfg.namespaces[2] if cfg.gateway else None
        self.scanner_if, self.target_if = f"{cfg.name}-a", f"{cfg.name}-v"
        self.gw_a_if, self.gw_v_if, self.bridge = f"{cfg.name}-ga", f"{cfg.name}-gv", f"{cfg.name}-br"

    def ns_name(self, ns: str) -> str:
        return {"gateway": self.gateway_ns or ns}.get(ns, super().ns_name(ns))

    def _create_namespaces(self) -> None:
        existing = set(list_netns())
        for ns in self.cfg.namespaces:
            if ns in existing:
                raise LabError(f"network namespace {ns} already exists (another lab? `pcapscan lab down`, "
                               f"or `ip netns del {ns}` if it is stale)")
        for ns in self.cfg.namespaces:
            self._run(["ip", "netns", "add", ns])
            self._created_ns.append(ns)
            # No IPv6 in the lab: interfaces created from here on start without it.
            for key in ("net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"):
                self._sysctl(ns, key, 1, check=False)

    def _create_veth(self) -> None:
        if not self.cfg.gateway:
            return super()._create_veth()
        gw = self.gateway_ns
        self._run(["ip", "link", "add", self.scanner_if, "address", self.scanner_mac, "netns", self.scanner_ns,
                   "type", "veth", "peer", "name", self.gw_a_if, "address", self.GW_MAC_A, "netns", gw])
        self._run(["ip", "link", "add", self.target_if, "address", self.target_mac, "netns", self.target_ns,
                   "type", "veth", "peer", "name", self.gw_v_if, "address", self.GW_MAC_V, "netns", gw])
        self._run(["ip", "-n", gw, "link", "add", self.bridge, "type", "bridge", "stp_state", "0",
                   "forward_delay", "0"])
        for port in (self.gw_a_if, self.gw_v_if):
            self._run(["ip", "-n", gw, "link", "set", port, "master", self.bridge])

    def _configure(self) -> None:
        sides = [(self.scanner_ns, self.scanner_if, self.scanner_addr4),
                 (self.target_ns, self.target_if, self.target_addr4)]
        if self.cfg.gateway:
            gw = self.gateway_ns
            sides.append((gw, self.bridge, self.cfg.gateway_addr))
            for port in (self.gw_a_if, self.gw_v_if):
                self._run(["ip", "-n", gw, "link", "set", port, "up"])
        for ns, ifname, addr in sides:
            self._run(["ip", "-n", ns, "link", "set", "lo", "up"])
            self._run(["ip", "-n", ns, "addr", "add", f"{addr}/{self.prefixlen4}", "dev", ifname])
            self._run(["ip", "-n", ns, "link", "set", ifname, "up"])
        self._sysctl(self.target_ns, "net.ipv4.icmp_ratelimit", 0)
        self.check_isolated()


def lab_for(cfg: LabConfig, namespaces=(), verbose: bool = False) -> SeedLab:
    """A SeedLab object for a lab that already exists (from the state file)."""
    lab = SeedLab(cfg, verbose=verbose)
    lab._created_ns = [ns for ns in namespaces if ns in cfg.namespaces]
    lab.is_up = True
    return lab


# -- the state file -----------------------------------------------------------------


def state_path(path=None) -> Path:
    return Path(path or os.environ.get(STATE_ENV) or DEFAULT_STATE)


def read_state(path=None) -> Optional[dict]:
    p = state_path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LabError(f"cannot read the lab state file {p}: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION or "config" not in data:
        raise LabError(f"{p} is not a pcapscan lab state file")
    return data


def _write_state(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _config_of(state: dict) -> LabConfig:
    c = state["config"]
    return LabConfig(name=c["name"], subnet=c["subnet"], attacker=c["attacker"], victim=c["victim"],
                     gateway=bool(c["gateway"]), gateway_addr=c["gateway_addr"])


def _alive(pid: Optional[int]) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours is not alive
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise PermissionProblem(f"{what} needs root (network namespaces, veth pairs, nftables)")


# -- up / down -------------------------------------------------------------------------


def up(cfg: LabConfig, state_file=None, verbose: bool = False, log: Optional[Log] = None,
       owner: str = "up") -> dict:
    """Build the lab and write its state file. On any failure, whatever was
    built is removed again (and the state file with it) before the error is raised."""
    log = log or (lambda m: None)
    _require_root("the lab")
    require_tools(("ip", "nft", "sysctl"))
    path = state_path(state_file)
    old = read_state(path)
    if old is not None:
        alive = [ns for ns in old.get("namespaces", []) if ns in set(list_netns())]
        if alive and not (old.get("owner") == "run" and not _alive(old.get("pid"))):
            raise LabError(f"a lab is already up ({', '.join(alive)}; state {path}): `pcapscan lab down` first")
        if alive:
            log(f"lab: removing what an interrupted `lab run` (pid {old.get('pid')}) left behind")
        down(path)
    state = {"version": STATE_VERSION, "config": asdict(cfg), "namespaces": cfg.namespaces,
             "nft_table": f"inet {NFT_TABLE}", "owner": owner, "pid": os.getpid(), "phase": "building",
             "listeners": [], "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    lab = SeedLab(cfg, verbose=verbose)
    # Refuse a clash before writing anything: the state file must never name a namespace we did not make.
    clash = [ns for ns in cfg.namespaces if ns in set(list_netns())]
    if clash:
        raise LabError(f"network namespace {clash[0]} already exists (another lab? `ip netns del {clash[0]}` "
                       f"if it is stale)")
    _write_state(path, state)
    try:
        lab.up()
        listener = lab.start_listeners(PLAN.tcp_open, PLAN.udp_open)
        lab.apply_firewall(PLAN.rules())
    except BaseException:
        with _no_interrupts():
            lab.down()
            path.unlink(missing_ok=True)
        raise
    state.update(phase="ready", listeners=[listener.pid])
    _write_state(path, state)
    log(f"lab: up ({describe(state, short=True)})")
    return state


def down(state_file=None) -> str:
    """Remove the lab the state file names; idempotent. Returns one line saying what happened."""
    path = state_path(state_file)
    state = read_state(path)
    if state is None:
        return f"no lab is up (no state file at {path})"
    _require_root("removing the lab")
    cfg = _config_of(state)
    existing = set(list_netns())
    present = [ns for ns in state.get("namespaces", []) if ns in existing]
    with _no_interrupts():
        lab = lab_for(cfg, present)
        lab.down()
        for pid in state.get("listeners", []):
            if _alive(pid):
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        left = [ns for ns in present if ns in set(list_netns())]
        if left:
            raise LabError(f"could not remove network namespace(s) {', '.join(left)}")
        path.unlink(missing_ok=True)
    return f"lab removed: {', '.join(present)}" if present else "lab removed (its namespaces were already gone)"


def describe(state: dict, short: bool = False) -> str:
    cfg = _config_of(state)
    if short:
        gw = f", gateway {cfg.gateway_addr}" if cfg.gateway else ""
        return f"attacker {cfg.attacker} in {cfg.namespaces[0]}, victim {cfg.victim} in {cfg.namespaces[1]}{gw}"
    lines = [f"lab {cfg.name} is up",
             f"  attacker  {cfg.attacker}/{cfg.prefixlen}  namespace {cfg.namespaces[0]}  "
             f"(sudo ip netns exec {cfg.namespaces[0]} pcapscan scan {cfg.victim} -p 80-84)",
             f"  victim    {cfg.victim}/{cfg.prefixlen}  namespace {cfg.namespaces[1]}"]
    if cfg.gateway:
        lines.append(f"  gateway   {cfg.gateway_addr}/{cfg.prefixlen}  namespace {cfg.namespaces[2]} (bridge)")
    for s in STATES:
        lines.append(f"  {s:<17} {port_of('tcp', s)}/tcp {port_of('udp', s)}/udp  {STATE_HOW[s]}")
    return "\n".join(lines)


# -- signals ------------------------------------------------------------------------


class Interrupted(PcapscanError):
    """SIGTERM or SIGHUP arrived during `lab run` (SIGINT raises KeyboardInterrupt)."""

    def __init__(self, signum: int):
        self.signum = signum
        self.exit_status = 128 + signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


def _raise_interrupted(signum, _frame):
    raise Interrupted(signum)


_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def _signals_raise():
    """SIGINT -> KeyboardInterrupt, SIGTERM/SIGHUP -> Interrupted, for the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    signal.signal(signal.SIGHUP, _raise_interrupted)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _no_interrupts():
    """A second Ctrl-C must not cut a cleanup short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in _SIGNALS}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


# -- one measured cell of the summary table ---------------------------------------------


# -- captures: cutting one port out of a run --------------------------------------------


def _write_pcap(path: Path, linktype: int, records: list) -> None:
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for ts, data in records:
            sec = int(ts)
            usec = int(round((ts - sec) * 1e6))
            if usec >= 1_000_000:
                sec, usec = sec + 1, usec - 1_000_000
            fh.write(struct.pack("<IIII", sec, usec, len(data), len(data)) + data)


def split_by_port(run_pcap: Path, victim: str, ports: dict) -> dict:
    """{port: (packets, records)} for the packets to or from victim:port (any
    scanner source port) and the ICMP errors quoting them. `ports`: port -> proto."""
    from ..capture import ReadStats, decode_frame, open_capture
    from ..capture.decode import NOT_IP

    out = {p: ([], []) for p in ports}
    linktype = None
    frame = 0
    for lt, ts, data in open_capture(str(run_pcap)).records(ReadStats(str(run_pcap))):
        frame += 1
        linktype = lt
        pkt = decode_frame(lt, data, frame, ts)
        if pkt is None or pkt is NOT_IP:
            continue
        port = None
        if pkt.proto in ("tcp", "udp"):
            if pkt.dst == victim and ports.get(pkt.dport) == pkt.proto:
                port = pkt.dport
            elif pkt.src == victim and ports.get(pkt.sport) == pkt.proto:
                port = pkt.sport
        elif pkt.quoted is not None:
            q = pkt.quoted
            if q.dst == victim and ports.get(q.dport) == q.proto:
                port = q.dport
        if port is not None:
            out[port][0].append(pkt)
            out[port][1].append((ts, data))
    return {p: (pk, rec, linktype) for p, (pk, rec) in out.items()}


_ICMP_WORDS = {(3, 0): "net-unreach", (3, 1): "host-unreach", (3, 2): "proto-unreach", (3, 3): "port-unreach",
               (3, 9): "net-prohibited", (3, 10): "host-prohibited", (3, 13): "admin-prohibited"}


def traffic(packets, attacker: str) -> list:
    """The seeds' way of describing a capture, compactly: →S ←SA →R."""
    out = []
    for p in packets:
        arrow = "→" if p.src == attacker else "←"
        if p.proto == "tcp":
            word = flag_letters(p.flags) or "none"
        elif p.proto == "udp":
            word = f"UDP({p.payload_len}B)"
        else:
            word = f"ICMP {p.icmp_type}/{p.icmp_code}"
        item = arrow + word
        if out and out[-1][0] == item:
            out[-1][1] += 1
        else:
            out.append([item, 1])
    return [i if n == 1 else f"{i}×{n}" for i, n in out]


_OPTION_NAMES = {0: "EOL", 1: "NOP", 2: "MSS", 3: "WS", 4: "SACK", 8: "TS"}


def probe_shape(pkt) -> str:
    if pkt is None:
        return ""
    if pkt.proto == "udp":
        return f"UDP, {pkt.payload_len}-byte payload, TTL {pkt.ttl}"
    opts = ",".join(_OPTION_NAMES.get(k, str(k)) for k in pkt.options if k != 1) or "no options"
    return f"TCP {flag_letters(pkt.flags) or 'none'}, window {pkt.window}, {opts}, TTL {pkt.ttl}"


# -- running the scanners ------------------------------------------------------------------


def _pcapscan_argv(cfg: LabConfig, technique: str, ports: list, timeout: float, retries: int,
                   json_path: Path) -> list:
    return [sys.executable, "-m", "pcapscan.cli", "scan", cfg.victim, "-p", ",".join(map(str, ports)),
            "--technique", technique, "--timeout", str(timeout), "--retries", str(retries),
            "--format", "json", "-o", str(json_path)]


def _nmap_argv(cfg: LabConfig, technique: str, ports: list, retries: int, xml_path: Path) -> list:
    if not ipaddress.ip_address(cfg.victim) in LAB_NET4:  # LabConfig already refuses this
        raise UsageError(f"refusing to scan {cfg.victim}: outside {LAB_NET4}")
    return ["nmap", "-n", "-Pn", "--reason", "-T4", "--max-retries", str(retries), REGISTRY[Technique(technique)].nmap_option,
            "-p", ",".join(map(str, ports)), "-oX", str(xml_path), cfg.victim]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PKG_ROOT), env.get("PYTHONPATH", "")]))
    return env


def read_nmap_xml(path: Path) -> dict:
    """{port: (state, reason)} from nmap's -oX."""
    root = ET.parse(path).getroot()
    out = {}
    for port in root.iter("port"):
        st = port.find("state")
        out[int(port.get("portid"))] = (st.get("state"), st.get("reason"))
    return out


def read_pcapscan_json(path: Path) -> dict:
    data = json.loads(Path(path).read_text())
    return {p["port"]: (p["state"], p["reason"]) for s in data["scans"] for p in s["ports"]}


def nmap_version() -> str:
    try:
        out = subprocess.run(["nmap", "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    m = re.search(r"Nmap version (\S+)", out)
    return m.group(1) if m else ""


def _record_run(lab: SeedLab, pcap: Path, argv: list, cwd: Path, what: str, timeout: float) -> subprocess.CompletedProcess:
    lab.flush_neighbours()  # every run starts with ARP, like the golden captures
    rec = lab.recorder(pcap)
    rec.start()
    try:
        time.sleep(0.1)
        proc = lab.exec(SCANNER, argv, check=False, cwd=cwd, env=_env(), timeout=timeout)
        time.sleep(0.3)  # late answers
    finally:
        rec.stop()
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout or "").strip().splitlines()
        raise LabError(f"{what} failed ({proc.returncode}): {err[-1] if err else 'no message'}")
    return proc


def _verify_cell(cell: Cell, cell_pcap: Path, packets: list, cfg: LabConfig) -> None:
    """Findings and the ladder diagram of one cell, from pcapscan.verify and
    report/ladder.py (claiming the state the lab configured)."""
    notes: dict = {}
    try:
        from .. import verify as verify_mod

        res = verify_mod.verify(str(cell_pcap), claims=[f"{cell.technique}:{cell.expected}:{cell.port}"])
        for f in res.findings:
            cell.findings.append({"severity": f.severity, "rule": f.rule, "message": f.message,
                                  "frames": list(f.frames)})
            for fr in f.frames:
                notes.setdefault(fr, []).append((f.rule, f.severity))
        checked = [p for p in res.ports if p.port == cell.port and p.proto == cell.proto]
        if checked:
            packets = sorted({pk.frame: pk for c in checked for pk in c.packets}.values(), key=lambda p: p.frame)
    except (ImportError, AttributeError, TypeError) as exc:  # verify is being written alongside: degrade
        cell.verify_note = f"verify unavailable ({exc.__class__.__name__}: {exc})"
    except PcapscanError as exc:
        cell.verify_note = f"verify failed: {exc}"
    try:
        from ..report import ladder

        cell.ladder_text = ladder.text(packets, cfg.attacker, f"{cfg.victim}:{cell.port}/{cell.proto}", notes)
        cell.ladder_svg = ladder.svg(packets, cfg.attacker, f"{cfg.victim}:{cell.port}/{cell.proto}", notes)
    except (ImportError, AttributeError, TypeError) as exc:
        cell.ladder_text = "\n".join(f"{p.frame:>4} {t}" for p, t in zip(packets, traffic(packets, cfg.attacker)))
        cell.verify_note = (cell.verify_note + "; " if cell.verify_note else "") + f"ladder unavailable ({exc})"


def _measure(lab: SeedLab, cfg: LabConfig, out: Path, scanner: str, technique: str, timeout: float,
             retries: int, log: Log) -> list:
    proto = "udp" if technique == "udp" else "tcp"
    ports = ports_of(proto)
    runs, cells_dir = out / "captures", out / "cells"
    runs.mkdir(parents=True, exist_ok=True)
    cells_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{scanner}-{technique}"
    pcap = runs / f"{stem}.pcap"
    if scanner == "pcapscan":
        said_path = runs / f"{stem}.json"
        argv = _pcapscan_argv(cfg, technique, ports, timeout, retries, said_path)
        _record_run(lab, pcap, argv, out, f"pcapscan scan --technique {technique}",
                    timeout=60 + len(ports) * (retries + 1) * timeout * 2)
        said = read_pcapscan_json(said_path)
    else:
        said_path = runs / f"{stem}.xml"
        argv = _nmap_argv(cfg, technique, ports, retries, said_path)
        _record_run(lab, pcap, argv, out, f"nmap {REGISTRY[Technique(technique)].nmap_option}", timeout=300)
        said = read_nmap_xml(said_path)

    from ..analysis import analyze_capture

    _summary, scans = analyze_capture(pcap, Technique(technique))
    results = {p.port: p for s in scans if s.scanner == cfg.attacker and s.target == cfg.victim
               for p in s.ports if p.proto == proto}
    split = split_by_port(pcap, cfg.victim, {p: proto for p in ports})
    cells = []
    for state in STATES:
        port = port_of(proto, state)
        pr = results.get(port)
        cell = Cell(scanner=scanner, technique=technique, state=state, proto=proto, port=port,
                    expected=EXPECTED[technique][state], run_capture=f"captures/{pcap.name}")
        if pr is not None:
            cell.measured, cell.reason = pr.verdict.state.value, pr.verdict.reason.value
            frames = sorted({p.frame for p in pr.exchange.probes + pr.exchange.responses + pr.exchange.followups})
            cell.frames = ",".join(map(str, frames))
            cell.probe = probe_shape(pr.exchange.probes[0] if pr.exchange.probes else None)
        if port in said:
            cell.said, cell.said_reason = said[port]
        packets, records, linktype = split[port]
        cell_pcap = cells_dir / f"{cell.anchor}.pcap"
        _write_pcap(cell_pcap, linktype if linktype is not None else 1, records)
        cell.capture = f"cells/{cell_pcap.name}"
        from ..capture import read_packets

        cell_packets = list(read_packets(str(cell_pcap)))
        cell.traffic = traffic(cell_packets, cfg.attacker)
        _verify_cell(cell, cell_pcap, cell_packets, cfg)
        cells.append(cell)
    log(f"[{technique}] {scanner}: " + ", ".join(
        f"{c.port} {c.measured or '-'}{'' if c.ok else ' (expected ' + c.expected + ')'}" for c in cells))
    return cells


def parse_techniques(text: Optional[str]) -> list:
    if not text:
        return list(TECHNIQUES)
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    bad = [t for t in names if t not in TECHNIQUES]
    if bad:
        raise UsageError(f"unknown technique {bad[0]!r} (choose from {', '.join(TECHNIQUES)})")
    return [t for t in TECHNIQUES if t in names]


def run(out_dir, cfg: Optional[LabConfig] = None, state_file=None, techniques=None, use_nmap: bool = True,
        timeout: float = 1.0, retries: int = 1, verbose: bool = False, log: Optional[Log] = None) -> Report:
    """Every technique against every port state, with pcapscan's scanner and
    nmap; report in `out_dir`. Uses the lab `up` built, or builds its own and
    removes it afterwards, whatever happens."""
    log = log or (lambda m: None)
    techs = parse_techniques(techniques) if not isinstance(techniques, (list, tuple)) else list(techniques)
    if not 0 < timeout <= 30:
        raise UsageError("--timeout must be between 0 and 30 seconds")
    _require_root("`lab run`")
    require_tools(("ip", "nft", "sysctl", "tcpdump"))
    scanners = ["pcapscan"]
    notes = []
    if use_nmap:
        if missing_tools(("nmap",)):
            notes.append("nmap is not installed (apt-get install nmap): only pcapscan's scanner was run")
            log("lab: " + notes[-1])
        else:
            scanners.append("nmap")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = state_path(state_file)
    t0 = time.monotonic()
    with _signals_raise():
        owned = False
        state = read_state(path)
        live = set(list_netns())
        if state is not None and state.get("owner") == "run" and _alive(state.get("pid")):
            raise LabError(f"another `lab run` (pid {state.get('pid')}) is using the lab")
        usable = (state is not None and state.get("owner") == "up" and state.get("phase") == "ready"
                  and all(ns in live for ns in state.get("namespaces", [])))
        try:
            if usable:
                cfg = _config_of(state)
                log(f"lab: using the lab that is up ({describe(state, short=True)})")
            else:
                cfg = cfg or LabConfig.make()
                state = up(cfg, path, verbose=verbose, log=log, owner="run")
                owned = True
            lab = lab_for(cfg, state["namespaces"], verbose=verbose)
            cells = {}
            for technique in techs:
                for scanner in scanners:
                    for c in _measure(lab, cfg, out, scanner, technique, timeout, retries, log):
                        cells[(c.scanner, c.technique, c.state)] = c
        finally:
            if owned:
                with _no_interrupts():
                    log(down(path))
    report = Report(out_dir=out, config=cfg, techniques=techs, scanners=scanners, cells=cells,
                    nmap_version=nmap_version() if "nmap" in scanners else "", notes=notes,
                    seconds=time.monotonic() - t0, timeout=timeout)
    write_reports(report)
    return report
