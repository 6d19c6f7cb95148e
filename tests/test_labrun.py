"""`pcapscan lab up/run/down` (pcapscan/live/labrun.py): the seeds' whole
experiment, its report, and its hygiene (nothing of the lab remains after
`down`, after a failing step, after Ctrl-C, after SIGKILL and `lab down`).

Pure tests need nothing; the others build namespaces and skip, saying why,
without root, `ip netns`, nftables or tcpdump. Every test uses its own lab
name and state file: /run/pcapscan-lab.json is never touched.
"""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from livelab import alive, env, host_links, lab_unavailable, netns_pids, unique_name
from pcapscan.cli import main
from pcapscan.errors import UsageError
from pcapscan.live import labmodel, labrun, netns
from pcapscan.live.labmodel import EXPECTED, STATES, TECHNIQUES, TITLES
from pcapscan.live.labrun import LabConfig
from pcapscan.live.netns import list_netns

UNAVAILABLE = lab_unavailable()
_skip_without_lab = pytest.mark.skipif(UNAVAILABLE is not None, reason=str(UNAVAILABLE))


def needs_lab(test):
    """Marked `lab` (pyproject's marker: `-m "not lab"` leaves these out) and
    skipped, with the reason, where root, `ip netns` or a tool is missing."""
    return pytest.mark.lab(_skip_without_lab(test))
NMAP = netns.missing_tools(("nmap",)) == {}


@pytest.fixture(autouse=True)
def private_state(tmp_path, monkeypatch):
    """Every test gets its own state file (never /run/pcapscan-lab.json)."""
    path = tmp_path / "lab-state.json"
    monkeypatch.setenv(labrun.STATE_ENV, str(path))
    return path


def _cli(args):
    return CliRunner().invoke(main, [str(a) for a in args])


# -- pure ----------------------------------------------------------------------------------

def test_config_defaults_follow_the_seeds():
    cfg = LabConfig.make()
    assert (cfg.subnet, cfg.attacker, cfg.victim, cfg.gateway_addr) == (
        "198.18.0.0/24", "198.18.0.101", "198.18.0.102", "198.18.0.1")
    assert cfg.namespaces == ["pcslab-attacker", "pcslab-victim", "pcslab-gateway"]
    cfg = LabConfig.make(name="x1", subnet="198.19.7.0/24", gateway=False)
    assert (cfg.attacker, cfg.victim, cfg.namespaces) == ("198.19.7.101", "198.19.7.102", ["x1-attacker", "x1-victim"])
    assert LabConfig.make(subnet="198.18.5.0/24", attacker="198.18.5.7", victim="198.18.5.9").victim == "198.18.5.9"


@pytest.mark.parametrize("kw", [
    {"subnet": "10.0.0.0/24"},  # private, but not the lab range
    {"subnet": "198.17.0.0/24"},
    {"subnet": "198.18.0.0/14"},
    {"subnet": "198.18.0.0/30"},
    {"attacker": "198.18.1.5"},  # outside the subnet
    {"victim": "198.18.0.255"},  # broadcast
    {"victim": "198.18.0.101"},  # the attacker's
    {"gateway_addr": "198.18.0.102"},
    {"name": "Bad_Name"},
    {"name": "muchtoolongname"},
    {"victim": "not-an-address"},
])
def test_config_refuses(kw):
    with pytest.raises(UsageError):
        LabConfig.make(**kw)


def test_parse_techniques():
    assert labrun.parse_techniques(None) == list(TECHNIQUES)
    assert labrun.parse_techniques("udp,syn") == ["syn", "udp"]
    with pytest.raises(UsageError):
        labrun.parse_techniques("syn,stealthy")


def test_expected_table_follows_the_techniques_state_tables():
    """EXPECTED, written out by hand, is what each technique's state table
    (pcapscan/techniques/) makes of what the victim sends in each state."""
    from pcapscan.model import Technique
    from pcapscan.techniques import REGISTRY
    from pcapscan.techniques import base

    def answer(tech, state):
        if state == "filtered":
            return base.NONE
        if state == "admin-prohibited":
            return base.ICMP_UNREACH
        if state == "port-unreachable":
            return base.ICMP_PORT_UNREACH
        if tech == "udp":
            return base.UDP_ if state == "open" else base.ICMP_PORT_UNREACH
        if state == "closed":
            return base.RST_
        # an open port: SYN -> SYN/ACK; FIN/NULL/Xmas -> silence (RFC 793);
        # anything with ACK -> a RST with window 0 (Linux)
        return {"syn": base.SYN_ACK, "connect": base.SYN_ACK}.get(tech, base.NONE if tech in (
            "fin", "xmas", "null") else base.RST_)

    for tech in TECHNIQUES:
        table = REGISTRY[Technique(tech)].table
        derived = {s: table[answer(tech, s)][0].value for s in STATES}
        assert derived == EXPECTED[tech], tech


def test_traffic_words():
    from pcapscan.model import Packet

    a, v = "198.18.0.101", "198.18.0.102"
    pkts = [Packet(1, 0, a, v, "tcp", flags=0x02), Packet(2, 0, a, v, "tcp", flags=0x02),
            Packet(3, 0, v, a, "tcp", flags=0x12), Packet(4, 0, a, v, "udp", payload_len=17),
            Packet(5, 0, v, a, "icmp", icmp_type=3, icmp_code=13)]
    assert labrun.traffic(pkts, a) == ["→S×2", "←SA", "→UDP(17B)", "←ICMP 3/13"]


def test_down_without_a_lab_is_fine(private_state):
    r = _cli(["lab", "down"])
    assert r.exit_code == 0 and "no lab is up" in r.stdout
    r = _cli(["lab", "down", "--state", private_state.parent / "other.json"])
    assert r.exit_code == 0 and "no lab is up" in r.stdout


def test_missing_tools_are_named_with_their_debian_package(monkeypatch, tmp_path):
    real = netns.shutil.which
    monkeypatch.setattr(labrun, "_require_root", lambda what: None)
    monkeypatch.setattr(netns.shutil, "which", lambda t: None if t in ("nft", "tcpdump") else real(t))
    r = _cli(["lab", "up", "--name", unique_name("pcm")])
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.strip() == "pcapscan: missing tools: nft (apt-get install nftables)"
    r = _cli(["lab", "run", "-o", tmp_path / "out", "--name", unique_name("pcm")])
    assert r.exit_code == 2
    assert "nft (apt-get install nftables)" in r.stderr and "tcpdump (apt-get install tcpdump)" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_corrupt_state_file_is_an_error_not_a_guess(private_state):
    private_state.write_text("{not json")
    r = _cli(["lab", "down"])
    assert r.exit_code == 2 and "state file" in r.stderr


# -- reading the report back ------------------------------------------------------------------

_BY_TITLE = {v: k for k, v in TITLES.items()}


def summary_table(md: str, scanner: str) -> dict:
    """{technique: {state: (mark, state)}} from the report's summary table of `scanner`."""
    heading = {"pcapscan": "## 实验总结 Summary: pcapscan's scanner (scapy)", "nmap": "## 实验总结 Summary: nmap"}[scanner]
    lines = md.split(heading, 1)[1].split("\n## ", 1)[0].strip().splitlines()
    header = [c.strip() for c in re.split(r"(?<!\\)\|", lines[0])[1:-1]]
    assert header[0] == "扫描方式/端口状态"
    assert [h.split("<br>")[0] for h in header[1:]] == [labmodel.STATE_TITLES[s] for s in STATES]
    out = {}
    for line in lines[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        tech = _BY_TITLE[cells[0]]
        row = {}
        for state, cell in zip(STATES, cells[1:]):
            m = re.match(r"(✓|✗[^*]*) \*\*(.+?)\*\*", cell)
            assert m, cell
            row[state] = (m.group(1).strip(), m.group(2).replace("\\|", "|"))
            assert re.search(r"\[pcap\]\(cells/[^)]+\.pcap\)", cell) and "[ladder](#" in cell
        out[tech] = row
    return out


# -- in the lab ---------------------------------------------------------------------------------

def _assert_gone(cfg_names, name, pids=()):
    assert not set(cfg_names) & set(list_netns()), "a namespace of the lab remains"
    assert f"{name}-" not in host_links(), "a veth or bridge of the lab remains on the host"
    for pid in pids:
        assert not alive(pid), f"process {pid} of the lab still runs"
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert f"inet {netns.NFT_TABLE}" not in tables  # never in the host; the victim's went with its namespace


@needs_lab
def test_up_run_down_with_the_state_file(private_state, tmp_path, monkeypatch):
    name = unique_name("pcu")
    r = _cli(["lab", "up", "--name", name, "--subnet", "198.18.42.0/24"])
    assert r.exit_code == 0, r.stderr
    assert "198.18.42.102" in r.stdout and f"{name}-victim" in r.stdout
    state = json.loads(private_state.read_text())
    names = state["namespaces"]
    assert names == [f"{name}-attacker", f"{name}-victim", f"{name}-gateway"] and state["phase"] == "ready"
    assert set(names) <= set(list_netns())
    assert f"{name}-a" not in host_links()  # veths live only inside the namespaces
    [listener] = state["listeners"]
    assert alive(listener)
    ruleset = subprocess.run(["ip", "netns", "exec", f"{name}-victim", "nft", "list", "table", "inet",
                              netns.NFT_TABLE], capture_output=True, text=True).stdout
    assert "admin-prohibited" in ruleset and "drop" in ruleset

    r = _cli(["lab", "up", "--name", name])
    assert r.exit_code == 2 and "already up" in r.stderr

    # `run` uses the lab that is up (and leaves it up); without nmap it says so and scans alone.
    real_missing = labrun.missing_tools
    monkeypatch.setattr(labrun, "missing_tools", lambda tools: {"nmap": "nmap"} if "nmap" in tools
                        else real_missing(tools))
    out = tmp_path / "report"
    r = _cli(["lab", "run", "-o", out, "--techniques", "syn,udp", "--timeout", "0.4"])
    assert r.exit_code == 0, r.stderr
    assert "using the lab that is up" in r.stderr and "nmap is not installed (apt-get install nmap)" in r.stderr
    md = (out / "report.md").read_text()
    assert "198.18.42.102" in md and "Summary: nmap" not in md
    table = summary_table(md, "pcapscan")
    assert set(table) == {"syn", "udp"}
    for tech, row in table.items():
        assert {s: st for s, (_m, st) in row.items()} == EXPECTED[tech]
    assert set(names) <= set(list_netns()) and alive(listener)

    pids = netns_pids(names)
    r = _cli(["lab", "down"])
    assert r.exit_code == 0 and "lab removed" in r.stdout
    assert not private_state.exists()
    _assert_gone(names, name, pids | {listener})
    r = _cli(["lab", "down"])
    assert r.exit_code == 0 and "no lab is up" in r.stdout


@needs_lab
def test_run_cleans_up_after_a_failing_step(private_state, tmp_path, monkeypatch):
    name = unique_name("pcf")
    seen = {}

    def boom(lab, cfg, *args, **kwargs):
        seen["names"] = list(cfg.namespaces)
        seen["pids"] = netns_pids(cfg.namespaces)
        raise netns.LabError("the scanner crashed")

    monkeypatch.setattr(labrun, "_measure", boom)
    r = _cli(["lab", "run", "-o", tmp_path / "out", "--name", name, "--no-gateway"])
    assert r.exit_code == 2 and r.stderr.strip().splitlines()[-1] == "pcapscan: the scanner crashed"
    assert "lab removed" in r.stderr
    assert seen["names"] == [f"{name}-attacker", f"{name}-victim"] and seen["pids"]
    assert not private_state.exists()
    _assert_gone(seen["names"], name, seen["pids"])


@needs_lab
def test_the_whole_experiment(tmp_path):
    """`lab run` builds the lab, scans every technique against every state
    with pcapscan's scanner and nmap, and writes a report whose summary
    tables say, in every cell, what the configured state must give."""
    name = unique_name("pcw")
    out = tmp_path / "report"
    t0 = time.monotonic()
    r = _cli(["lab", "run", "-o", out, "--name", name, "--timeout", "0.5"])
    took = time.monotonic() - t0
    assert r.exit_code == 0, r.stderr + r.stdout
    assert "90/90 cells as the lab configured" in r.stdout if NMAP else "45/45" in r.stdout
    assert not {f"{name}-attacker", f"{name}-victim", f"{name}-gateway"} & set(list_netns())

    md = (out / "report.md").read_text()
    scanners = ["pcapscan", "nmap"] if NMAP else ["pcapscan"]
    for scanner in scanners:
        table = summary_table(md, scanner)
        assert list(table) == list(TECHNIQUES)
        for tech in TECHNIQUES:
            got = {s: st for s, (_mark, st) in table[tech].items()}
            assert got == EXPECTED[tech], (scanner, tech)
            assert all(mark == "✓" for mark, _ in table[tech].values())
    assert "Every cell is as the lab configured." in md
    if NMAP:
        assert "## Where pcapscan's scanner and nmap differ" in md and "### Probes" in md

    data = json.loads((out / "report.json").read_text())
    assert data["all_expected"] and len(data["cells"]) == len(scanners) * len(TECHNIQUES) * len(STATES)
    # every cell links its own capture, which analyzes to the cell's verdict
    from pcapscan.analysis import analyze
    from pcapscan.model import Technique

    for cell in data["cells"][:: 7]:
        res = analyze(str(out / cell["capture"]), technique=Technique(cell["technique"]))
        [port] = [p for s in res.scans for p in s.ports]
        assert (port.port, port.state.value) == (cell["port"], cell["measured"])
    page = (out / "report.html").read_text()
    assert page.count("<svg") == len(data["cells"]) and "实验总结" in page
    assert (out / "captures" / "pcapscan-connect.pcap").exists()
    if NMAP:
        assert (out / "captures" / "nmap-connect.xml").exists()
    assert took < 240


def _start_run(tmp_path, private_state, name, techniques="connect,syn,fin,xmas,null,udp"):
    out = tmp_path / "report"
    proc = subprocess.Popen([sys.executable, "-m", "pcapscan.cli", "lab", "run", "-o", str(out), "--name", name,
                             "--state", str(private_state), "--techniques", techniques, "--timeout", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    names = LabConfig.make(name=name).namespaces
    deadline = time.monotonic() + 60
    # wait until the lab is up and the first scan is being recorded
    while time.monotonic() < deadline and proc.poll() is None:
        if any((out / "captures").glob("*.pcap")) and set(names) <= set(list_netns()):
            break
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()
    time.sleep(0.5)
    state = json.loads(private_state.read_text())
    pids = netns_pids(names) | set(state["listeners"])
    assert state["listeners"] and pids
    return proc, names, pids


@needs_lab
def test_sigint_during_run_leaves_nothing(tmp_path, private_state):
    name = unique_name("pci")
    proc, names, pids = _start_run(tmp_path, private_state, name)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "lab removed" in err
    assert not private_state.exists()
    _assert_gone(names, name, pids)


@needs_lab
def test_sigterm_during_run_leaves_nothing(tmp_path, private_state):
    name = unique_name("pct")
    proc, names, pids = _start_run(tmp_path, private_state, name)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    _assert_gone(names, name, pids)


@needs_lab
def test_sigkill_then_down_leaves_nothing(tmp_path, private_state):
    name = unique_name("pck")
    proc, names, pids = _start_run(tmp_path, private_state, name)
    proc.kill()
    proc.communicate(timeout=30)
    assert set(names) <= set(list_netns())  # SIGKILL leaves the lab behind ...
    assert private_state.exists()
    down = subprocess.run([sys.executable, "-m", "pcapscan.cli", "lab", "down", "--state", str(private_state)],
                          capture_output=True, text=True, env=env(), timeout=60)
    assert down.returncode == 0, down.stderr
    assert "lab removed" in down.stdout
    _assert_gone(names, name, pids)  # ... and `lab down` removes all of it
    assert not private_state.exists()


@needs_lab
def test_a_new_run_replaces_what_a_killed_run_left(tmp_path, private_state):
    name = unique_name("pcr")
    proc, names, pids = _start_run(tmp_path, private_state, name, techniques="syn")
    proc.kill()
    proc.communicate(timeout=30)
    r = _cli(["lab", "run", "-o", tmp_path / "again", "--name", name, "--techniques", "null", "--no-nmap",
              "--timeout", "0.3"])
    assert r.exit_code == 0, r.stderr
    assert "interrupted `lab run`" in r.stderr
    _assert_gone(names, name, pids)
    assert not private_state.exists()
