"""Golden captures: real nmap scans recorded in the project's namespace lab
(scripts/make_golden.py). pcapscan's verdict must equal nmap's own, port for
port: state, reason and reason TTL; and ndiff must see no port difference
between nmap's -oX and ours."""
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pcapscan.analysis import analyze
from pcapscan.report import render
from pcapscan.techniques import REGISTRY

GOLDEN = Path(__file__).resolve().parents[1] / "captures" / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.xml"))


def nmap_ports(xml_path: Path) -> dict:
    root = ET.parse(xml_path).getroot()
    ports = {}
    for port in root.iter("port"):
        st = port.find("state")
        ports[(port.get("protocol"), int(port.get("portid")))] = (
            st.get("state"), st.get("reason"), int(st.get("reason_ttl")))
    return ports


def technique_of(case: str) -> str:
    """The nmap -s option a golden file was made with, from its nmap args."""
    args = ET.parse(GOLDEN / f"{case}.xml").getroot().get("args")
    flag = next(a for a in args.split() if a.startswith("-s") and len(a) == 3)
    return next(t.value for t, spec in REGISTRY.items() if spec.nmap_option == flag)


def test_golden_captures_exist():
    assert len(CASES) >= 9, "run scripts/make_golden.py to regenerate captures/golden"


@pytest.mark.parametrize("case", CASES)
def test_verdicts_equal_nmaps_port_for_port(case):
    tech = technique_of(case)
    # ack and window probes are identical on the wire: window needs saying.
    result = analyze(GOLDEN / f"{case}.pcap", technique="window" if tech == "window" else None)
    assert [s.technique.value for s in result.scans] == [tech]
    ours = {(p.proto, p.port): (p.state.value, p.verdict.reason.value, p.verdict.reason_ttl)
            for s in result.scans for p in s.ports}
    assert ours == nmap_ports(GOLDEN / f"{case}.xml")


@pytest.mark.skipif(shutil.which("ndiff") is None, reason="ndiff (Debian package ndiff) is not installed")
@pytest.mark.parametrize("case", CASES)
def test_ndiff_sees_no_port_difference(case, tmp_path):
    tech = technique_of(case)
    result = analyze(GOLDEN / f"{case}.pcap", technique="window" if tech == "window" else None)
    ours = tmp_path / "ours.xml"
    ours.write_text(render(result, "nmap-xml"))
    proc = subprocess.run(["ndiff", str(GOLDEN / f"{case}.xml"), str(ours)], capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr  # 2 would mean ndiff could not read our XML
    port_lines = [line for line in proc.stdout.splitlines() if re.match(r"[+-]\d+/(tcp|udp)\b", line)]
    assert port_lines == [], proc.stdout
    # Nor any other difference (host status, address, MAC): only the command line that ran differs.
    rest = [line for line in proc.stdout.splitlines() if line.strip() and "scan initiated" not in line]
    assert rest == [], proc.stdout
