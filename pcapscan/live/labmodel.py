"""The seeds' experiment as data: the lab's port states, what each
technique should read on each (derived from the techniques' state tables),
the ports that carry them, and a run's result (Cell, Report). Read by the
lab's lifecycle (live/labrun.py) and by its report (report/lab_report.py)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..techniques import REGISTRY, base, lab_techniques
from .netns import PortPlan

# The lab's port states, in the report's column order.
STATES = ("open", "closed", "filtered", "admin-prohibited", "port-unreachable")
STATE_TITLES = {
    "open": "开放 open",
    "closed": "关闭 closed",
    "filtered": "过滤 filtered (drop)",
    "admin-prohibited": "reject admin-prohibited",
    "port-unreachable": "reject port-unreachable",
}
STATE_HOW = {
    "open": "listener (TCP accepts and closes; UDP answers every datagram)",
    "closed": "nothing listens (the kernel answers RST / ICMP port unreachable)",
    "filtered": "nftables `drop` (what the seeds' `ufw deny` does)",
    "admin-prohibited": "nftables `reject with icmpx type admin-prohibited`",
    "port-unreachable": "nftables `reject with icmpx type port-unreachable` (reads as closed)",
}
_PLAN_KIND = {"open": "open", "closed": "closed", "filtered": "drop", "admin-prohibited": "admin",
              "port-unreachable": "unreach"}

# What the victim sends for each lab state besides "open" (what a listener
# answers depends on the probe: techniques/ LabRow.listening_answer), in the
# words of the techniques' state tables: nftables' verdicts, and for a closed
# port the kernel's, by protocol.
_FIREWALL_SENDS = {"filtered": base.NONE, "admin-prohibited": base.ICMP_UNREACH,
                   "port-unreachable": base.ICMP_PORT_UNREACH}
_CLOSED_SENDS = {"tcp": base.RST_, "udp": base.ICMP_PORT_UNREACH}


def _expected(spec) -> dict:
    """What each lab state should read (nmap 7.93 on a Linux target): the
    technique's state table applied to what the victim sends. So Linux's
    window-0 RST to an ACK-bearing probe on a listening port reads "closed"
    to window and maimon, and a connect() sees ICMP port-unreachable as
    ECONNREFUSED ("closed")."""
    sends = {"open": spec.lab.listening_answer, "closed": _CLOSED_SENDS[spec.proto], **_FIREWALL_SENDS}
    return {s: spec.table[kind][0].value for s, kind in sends.items()}


# Techniques in the report's row order (the seeds' six first), their row
# labels (the seeds' words and nmap's option) and nmap's option for each.
_SPECS = {t.value: REGISTRY[t] for t in lab_techniques()}
TECHNIQUES = tuple(_SPECS)
TITLES = {t: f"{s.lab.title} ({s.nmap_option})" for t, s in _SPECS.items()}
EXPECTED = {t: _expected(s) for t, s in _SPECS.items()}


PLAN = PortPlan()  # 80-84/tcp, 53-57/udp: the golden captures' plan


def port_of(proto: str, state: str, plan: PortPlan = PLAN) -> int:
    return getattr(plan, f"{proto}_{_PLAN_KIND[state]}")[0]


def ports_of(proto: str, plan: PortPlan = PLAN) -> list:
    return [port_of(proto, s, plan) for s in STATES]


@dataclass
class Cell:
    scanner: str  # "pcapscan" or "nmap"
    technique: str
    state: str  # the lab state
    proto: str
    port: int
    expected: str
    measured: Optional[str] = None  # pcapscan's analysis of the recorded capture
    reason: str = ""
    said: Optional[str] = None  # what the scanner itself printed (pcapscan JSON / nmap XML)
    said_reason: str = ""
    capture: str = ""  # the cell's own capture, relative to the report
    run_capture: str = ""  # the whole run's capture
    frames: str = ""  # the frames in the run's capture
    traffic: list = field(default_factory=list)  # ["→S", "←SA", "→R"]
    probe: str = ""  # the first probe's shape
    findings: list = field(default_factory=list)  # [{"severity", "rule", "message"}]
    verify_note: str = ""  # why there are no findings, when verify did not run
    ladder_text: str = ""
    ladder_svg: str = ""

    @property
    def ok(self) -> bool:
        return self.measured == self.expected and (self.said is None or self.said == self.measured)

    @property
    def anchor(self) -> str:
        return f"{self.scanner}-{self.technique}-{self.state}"

    @property
    def traffic_text(self) -> str:
        return " ".join(self.traffic) if self.traffic else "(nothing)"

    @property
    def traffic_shape(self) -> str:
        """The traffic without sizes, for comparing scanners."""
        return " ".join(re.sub(r"\(.*?\)", "", t) for t in self.traffic)


@dataclass
class Report:
    out_dir: Path
    config: object  # labrun.LabConfig
    techniques: list
    scanners: list
    cells: dict  # (scanner, technique, state) -> Cell
    nmap_version: str = ""
    notes: list = field(default_factory=list)
    seconds: float = 0.0
    timeout: float = 1.0

    @property
    def all_expected(self) -> bool:
        return all(c.ok for c in self.cells.values())

    def cell(self, scanner, technique, state) -> Optional[Cell]:
        return self.cells.get((scanner, technique, state))

    def summary_text(self) -> str:
        out = []
        for scanner in self.scanners:
            out.append(f"{scanner}:")
            w = max(len(t) for t in self.techniques)
            out.append("  " + " " * w + "  " + "  ".join(f"{s[:16]:<16}" for s in STATES))
            for t in self.techniques:
                cells = [self.cell(scanner, t, s) for s in STATES]
                out.append(f"  {t:<{w}}  " + "  ".join(
                    f"{((c.measured or '-') + ('' if c.ok else ' ✗')):<16}" for c in cells))
        bad = [c for c in self.cells.values() if not c.ok]
        out.append(f"{len(self.cells) - len(bad)}/{len(self.cells)} cells as the lab configured; "
                   f"report: {self.out_dir / 'report.md'}")
        return "\n".join(out)
