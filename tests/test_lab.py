"""The network-namespace lab (pcapscan/live/netns.py) and scripts/make_golden.py.

Most tests build real namespaces, so they need root, `ip netns`, nftables,
tcpdump and nmap; they skip, saying why, where those are missing. Nothing is
scanned or probed outside the lab namespaces (198.18.0.0/15, 2001:2::/48).
"""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from livelab import lab_unavailable  # noqa: E402
from pcapscan.errors import SafetyRefusal  # noqa: E402
from pcapscan.live import netns  # noqa: E402
from pcapscan.live.netns import GOLDEN_PLAN, Lab, MissingTools, list_netns  # noqa: E402


UNAVAILABLE = lab_unavailable(("ip", "nft", "tcpdump", "nmap", "sysctl"))
needs_lab = pytest.mark.skipif(UNAVAILABLE is not None, reason=str(UNAVAILABLE))

# Run inside the scanner namespace: one connect/send to addr proto port; prints
# "connected", "reply", "timeout" or the errno name (ECONNREFUSED, EHOSTUNREACH, ...).
PROBE = r"""
import errno, socket, sys
addr, proto, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.settimeout(timeout)
try:
    s.connect((addr, port))
    if proto == "tcp":
        print("connected")
    else:
        s.send(b"probe")
        s.recv(100)
        print("reply")
except socket.timeout:
    print("timeout")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
"""


def probe(lab: Lab, addr: str, proto: str, port: int, timeout: float = 1.5) -> str:
    out = lab.exec("scanner", [sys.executable, "-c", PROBE, addr, proto, str(port), str(timeout)])
    return out.stdout.strip()


@pytest.fixture(scope="module")
def lab():
    lab = Lab(prefix=f"pcst{os.getpid()}")
    try:
        lab.up()
        lab.setup_plan(GOLDEN_PLAN)
        yield lab
    finally:
        lab.down()
    assert lab.scanner_ns not in list_netns()


# -- no root needed ---------------------------------------------------------

def test_refuses_addresses_outside_the_lab_ranges():
    with pytest.raises(SafetyRefusal):
        Lab(prefix="pcsx", scanner_addr4="10.0.0.1")
    with pytest.raises(SafetyRefusal):
        Lab(prefix="pcsx", target_addr6="2001:db8::2")
    with pytest.raises(ValueError):
        Lab(prefix="a-prefix-far-too-long")  # veth names would exceed 15 characters


def test_require_tools_names_the_debian_package(monkeypatch):
    real_which = netns.shutil.which
    monkeypatch.setattr(netns.shutil, "which", lambda t: None if t in ("nmap", "nft") else real_which(t))
    assert netns.missing_tools(("nmap", "nft")) == {"nmap": "nmap", "nft": "nftables"}
    with pytest.raises(MissingTools) as info:
        netns.require_tools(("nmap", "nft"))
    assert "nmap (apt-get install nmap)" in str(info.value)
    assert "nft (apt-get install nftables)" in str(info.value)


def test_firewall_rules_validate():
    with pytest.raises(ValueError):
        netns.Rule("tcp", 80, "tarpit")
    assert [(r.proto, r.port, r.action) for r in GOLDEN_PLAN.rules()] == [
        ("tcp", 82, "drop"), ("tcp", 83, "admin-prohibited"), ("tcp", 84, "port-unreachable"),
        ("udp", 55, "drop"), ("udp", 56, "admin-prohibited"), ("udp", 57, "port-unreachable")]


# -- the lab itself ---------------------------------------------------------

def _root_links() -> str:
    return subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout


@needs_lab
def test_up_and_down_leave_nothing_behind():
    lab = Lab(prefix=f"pcsu{os.getpid()}")
    with lab:
        assert {lab.scanner_ns, lab.target_ns} <= set(list_netns())
        links = lab.exec("scanner", ["ip", "-o", "link", "show"]).stdout
        assert lab.scanner_if in links and " lo:" in links
        addrs = lab.exec("target", ["ip", "-o", "addr", "show"]).stdout
        assert "198.18.0.2/24" in addrs and "2001:2::2/64" in addrs
        assert lab.scanner_if not in _root_links()  # the veth never appears on the host
        lab.check_isolated()
        routes = lab.exec("scanner", ["ip", "route", "show"]).stdout
        assert "default" not in routes
    assert lab.scanner_ns not in list_netns() and lab.target_ns not in list_netns()
    links = _root_links()
    assert lab.scanner_if not in links and lab.target_if not in links
    lab.down()  # idempotent


@needs_lab
def test_down_cleans_up_after_a_failed_up(monkeypatch):
    lab = Lab(prefix=f"pcsf{os.getpid()}")

    def boom():
        raise RuntimeError("configuration failed halfway")

    monkeypatch.setattr(lab, "_configure", boom)
    with pytest.raises(RuntimeError):
        lab.up()
    assert lab.scanner_ns not in list_netns() and lab.target_ns not in list_netns()
    assert lab.scanner_if not in _root_links()


@needs_lab
def test_up_refuses_an_existing_namespace_and_leaves_it_alone():
    other = Lab(prefix=f"pcso{os.getpid()}")
    with other:
        clash = Lab(prefix=other.prefix)
        with pytest.raises(netns.LabError, match="already exists"):
            clash.up()
        assert other.scanner_ns in list_netns()  # not deleted by the failed lab's cleanup


@needs_lab
def test_target_sysctls(lab):
    out = lab.exec("target", ["sysctl", "-n", "net.ipv4.icmp_ratelimit", "net.ipv6.icmp.ratelimit"]).stdout
    assert out.split() == ["0", "0"]


# -- listeners and firewall -------------------------------------------------

@needs_lab
@pytest.mark.parametrize("addr", ["198.18.0.2", "2001:2::2"])
def test_listeners_answer(lab, addr):
    assert probe(lab, addr, "tcp", 80) == "connected"
    assert probe(lab, addr, "tcp", 81) == "ECONNREFUSED"
    assert probe(lab, addr, "udp", 53) == "reply"
    assert probe(lab, addr, "udp", 54) == "ECONNREFUSED"


@needs_lab
def test_firewall_ipv4(lab):
    assert probe(lab, "198.18.0.2", "tcp", 82, timeout=1.0) == "timeout"
    assert probe(lab, "198.18.0.2", "tcp", 83) == "EHOSTUNREACH"  # ICMP type 3 code 13
    assert probe(lab, "198.18.0.2", "tcp", 84) == "ECONNREFUSED"  # ICMP port-unreachable
    assert probe(lab, "198.18.0.2", "udp", 55, timeout=1.0) == "timeout"
    assert probe(lab, "198.18.0.2", "udp", 56) == "EHOSTUNREACH"
    assert probe(lab, "198.18.0.2", "udp", 57) == "ECONNREFUSED"


@needs_lab
def test_firewall_ipv6(lab):
    assert probe(lab, "2001:2::2", "tcp", 82, timeout=1.0) == "timeout"
    assert probe(lab, "2001:2::2", "udp", 56) == "EACCES"  # ICMPv6 type 1 code 1
    assert probe(lab, "2001:2::2", "udp", 57) == "ECONNREFUSED"


@needs_lab
def test_firewall_table_is_in_the_target_only(lab):
    ruleset = lab.exec("target", ["nft", "list", "table", "inet", netns.NFT_TABLE]).stdout
    assert "admin-prohibited" in ruleset and "drop" in ruleset
    assert netns.NFT_TABLE not in lab.exec("scanner", ["nft", "list", "tables"]).stdout


# -- recording --------------------------------------------------------------

@needs_lab
def test_recorder_writes_a_pcap(lab, tmp_path):
    pcap = tmp_path / "rec.pcap"
    with lab.recorder(pcap) as rec:
        assert probe(lab, "198.18.0.2", "tcp", 80) == "connected"
        assert probe(lab, "2001:2::2", "tcp", 81) == "ECONNREFUSED"
    assert rec.proc is None and rec.packets and rec.packets >= 5
    data = pcap.read_bytes()
    assert len(data) > 24 and data[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4")
    text = subprocess.run(["tcpdump", "-nr", str(pcap)], capture_output=True, text=True).stdout
    assert "198.18.0.2.80" in text and "2001:2::2.81" in text


# -- make_golden.py ---------------------------------------------------------

@needs_lab
def test_make_golden_syn_subset(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "make_golden.py"),
                           "--techniques", "syn", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "syn.pcap", "syn.xml"]
    packets = subprocess.run(["tcpdump", "-nr", str(tmp_path / "syn.pcap")],
                             capture_output=True, text=True).stdout.splitlines()
    assert len(packets) >= 10
    assert any("198.18.0.2.80 > 198.18.0.1" in line and "[S.]" in line for line in packets)

    root = ET.parse(tmp_path / "syn.xml").getroot()
    assert root.get("scanner") == "nmap"
    assert " -n " in root.get("args") and "198.18.0.2" in root.get("args")
    states = {int(p.get("portid")): (p.find("state").get("state"), p.find("state").get("reason"))
              for p in root.iter("port")}
    assert sorted(states) == [80, 81, 82, 83, 84]
    assert states[80] == ("open", "syn-ack")
    assert states[81] == ("closed", "reset")
    assert states[82] == ("filtered", "no-response")
    assert states[83] == ("filtered", "admin-prohibited")
    assert states[84][0] in ("filtered", "closed")  # nmap 7.93: filtered (port-unreach)
    assert "syn.pcap" in (tmp_path / "README.md").read_text()
    # the script's own lab ("lab: pcs-<pid>-scan (...) <-> pcs-<pid>-tgt (...)") is gone
    first = proc.stdout.splitlines()[0].split()
    made = {first[1], first[5]}
    assert made and all(ns.startswith("pcs-") for ns in made)
    assert not made & set(list_netns())
    assert "lab removed" in proc.stdout
