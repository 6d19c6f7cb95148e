"""Helpers shared by test_live.py and test_labrun.py: when the namespace tests
can run (root, `ip netns`, the tools), and how to run pcapscan inside a lab
namespace. Nothing here scans anything."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def lab_unavailable(tools=("ip", "nft", "tcpdump", "sysctl")) -> str | None:
    """Why the namespace tests cannot run here, or None."""
    from pcapscan.live import netns

    if os.geteuid() != 0:
        return "needs root to create network namespaces, veth pairs and nftables tables"
    missing = netns.missing_tools(tools)
    if missing:
        return "missing tools: " + ", ".join(f"{t} (Debian package {p})" for t, p in missing.items())
    probe = f"pcs-{os.getpid()}-probe"
    add = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if add.returncode != 0:
        return f"`ip netns add` is not available here: {add.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def unique_name(tag: str) -> str:
    """A lab name no other test run uses at the same time (at most 12 characters)."""
    return f"{tag}{os.getpid() % 1000000}"


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), e.get("PYTHONPATH", "")]))
    return e


def pcapscan_in(lab, ns: str, args, prefix=(), timeout: float = 120) -> subprocess.CompletedProcess:
    """`pcapscan ARGS` inside namespace `ns` of `lab` (prefix: e.g. setpriv ...)."""
    argv = [*prefix, sys.executable, "-m", "pcapscan.cli", *map(str, args)]
    return lab.exec(ns, argv, check=False, env=env(), timeout=timeout)


def netns_pids(names) -> set:
    pids = set()
    for ns in names:
        out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
        pids.update(int(p) for p in out.split())
    return pids


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def host_links() -> str:
    return subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
