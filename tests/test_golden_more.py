"""Golden captures of the probe families beyond the nine TCP/UDP port scans:
real nmap runs recorded in the namespace lab (scripts/make_golden_more.py).
For every host nmap's XML lists, pcapscan's host status (state, reason,
reason TTL) must equal nmap's; for every port (TCP, SCTP, IP protocol),
state, reason and reason TTL; and ndiff must see no host or port difference
between nmap's -oX and ours. Version and OS detection probes must be
labelled as such and never show up as port-scan sessions."""
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pcapscan import messages
from pcapscan.analysis import analyze
from pcapscan.report import render

MORE = Path(__file__).resolve().parents[1] / "captures" / "golden" / "more"
CASES = sorted(p.stem for p in MORE.glob("*.xml"))

def nmap_hosts(xml_path: Path) -> dict:
    root = ET.parse(xml_path).getroot()
    hosts = {}
    for host in root.iter("host"):
        st = host.find("status")
        addr = next(a.get("addr") for a in host.iter("address") if a.get("addrtype") != "mac")
        ports = {(p.get("protocol"), int(p.get("portid"))): (
            p.find("state").get("state"), p.find("state").get("reason"), int(p.find("state").get("reason_ttl")))
            for p in host.iter("port")}
        hosts[addr] = ((st.get("state"), st.get("reason"), int(st.get("reason_ttl"))), ports)
    return hosts


def nmap_scan_types(xml_path: Path) -> set:
    return {s.get("type") for s in ET.parse(xml_path).getroot().iter("scaninfo")}


def our_hosts(result) -> dict:
    statuses = {}
    for d in result.discoveries:
        for h in d.hosts:
            statuses.setdefault(h.address, (h.state.value, h.reason.value, h.reason_ttl))
    ports: dict = {}
    for s in result.scans:
        for p in s.ports:
            ports.setdefault(s.target, {})[(p.proto, p.port)] = (p.state.value, p.verdict.reason.value,
                                                                p.verdict.reason_ttl)
    return {a: (statuses.get(a, ("up", "user-set", 0)), ports.get(a, {})) for a in set(statuses) | set(ports)}


def test_golden_more_captures_exist():
    assert len(CASES) >= 20, "run scripts/make_golden_more.py to regenerate captures/golden/more"
    for family in ("ping-arp", "ping-nd", "ipproto", "ipproto6", "sctp-init", "sctp-cookie6", "idle", "os", "version"):
        assert family in CASES


@pytest.mark.parametrize("case", CASES)
def test_every_host_and_port_equals_nmaps(case):
    result = analyze(MORE / f"{case}.pcap")
    ours = our_hosts(result)
    for addr, (status, ports) in nmap_hosts(MORE / f"{case}.xml").items():
        assert addr in ours, f"{addr} not found"
        assert ours[addr][0] == status, addr
        assert ours[addr][1] == ports, addr


@pytest.mark.parametrize("case", CASES)
def test_sessions_are_the_techniques_nmap_ran(case):
    result = analyze(MORE / f"{case}.pcap")
    args = ET.parse(MORE / f"{case}.xml").getroot().get("args")
    expected = nmap_scan_types(MORE / f"{case}.xml") | ({"idle"} if " -sI " in args else set())  # no scaninfo
    assert {s.technique.value for s in result.scans} == expected
    kinds = {p.kind for p in result.probings}
    assert ("os-detection" in kinds) == (" -O " in args)
    assert ("version-detection" in kinds) == (" -sV " in args)


def test_ping_sweep_is_one_session_over_many_targets():
    result = analyze(MORE / "ping-default.pcap")
    (sweep,) = result.discoveries
    assert len(sweep.hosts) == 5 and sweep.scanner == "198.18.0.1"
    assert {"icmp-echo", "tcp-syn/443"} <= set(sweep.methods)
    assert result.scans == ()


def test_idle_scan_names_its_zombie():
    (scan,) = analyze(MORE / "idle.pcap").scans
    assert scan.zombie == "198.18.0.4:80" and scan.scanner == "198.18.0.1"
    assert "spoofed from zombie 198.18.0.4" in messages.render(scan.technique_evidence, "en")
    assert "伪造了僵尸主机 198.18.0.4" in messages.render(scan.technique_evidence, "zh")


@pytest.mark.parametrize("case", ["os", "os6"])
def test_os_detection_probes_are_labelled(case):
    result = analyze(MORE / f"{case}.pcap")
    (probing,) = [p for p in result.probings if p.kind == "os-detection"]
    names = {n.split()[0] for n in probing.probes}
    assert {"SEQ1", "SEQ6", "ECN", "T2", "T7", "IE1", "IE2", "U1"} <= names
    assert probing.tool.name == "nmap"


@pytest.mark.skipif(shutil.which("ndiff") is None, reason="ndiff (Debian package ndiff) is not installed")
@pytest.mark.parametrize("case", CASES)
def test_ndiff_sees_no_host_or_port_difference(case, tmp_path):
    result = analyze(MORE / f"{case}.pcap")
    ours = tmp_path / "ours.xml"
    ours.write_text(render(result, "nmap-xml"))
    proc = subprocess.run(["ndiff", str(MORE / f"{case}.xml"), str(ours)], capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr
    lines = proc.stdout.splitlines()
    # "-Host is up." / "+Host is down." under the heading of a host nmap listed: a host state nmap and
    # we disagree on. (A block headed "+addr:" alone is a host only we list: the zombie, say.)
    state_lines, nmaps_host = [], False
    for line in lines:
        if re.match(r"[ +-]?\S+(, \S+)?:$", line):
            nmaps_host = nmaps_host or not line.startswith("+")
        elif not line.strip():
            nmaps_host = False
        elif re.match(r"[+-]Host is (up|down)", line) and nmaps_host:
            state_lines.append(line)
    assert state_lines == [], proc.stdout
    port_lines = [line for line in lines if re.match(r"[+-]\d+/(tcp|udp|sctp|ip)\b", line)]
    if " -sV " in ET.parse(MORE / f"{case}.xml").getroot().get("args"):
        # nmap -sV names the service it found (tcpwrapped, ...): pcapscan recognises version
        # probes but does not redo nmap's service matching, so compare port and state only.
        pairs = [tuple(line.split()[:2]) for line in port_lines]
        assert sorted(p[0][1:] + " " + p[1] for p in pairs if p[0][0] == "-") == \
            sorted(p[0][1:] + " " + p[1] for p in pairs if p[0][0] == "+"), proc.stdout
        return
    assert port_lines == [], proc.stdout
    if case in ("idle", "os", "os6"):
        return  # the zombie is a host only we list; nmap's OS guesses are not redone
    # Anything else ndiff shows (an address, a MAC, a host's status) is a difference: only the command line differs.
    rest = [line for line in lines if line.strip() and "scan initiated" not in line]
    assert rest == [], proc.stdout
