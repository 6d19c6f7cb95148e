"""The live scanner's address policy (pcapscan/live/safety.py): pure unit tests,
plus the CLI's refusal. The test that no packet leaves a namespace when a scan
is refused is in test_live.py (it needs root and `ip netns`).

Nothing here sends a packet: host names are resolved by a stand-in resolver,
and refused scans stop before any socket exists (asserted)."""
from __future__ import annotations

import ipaddress
import socket

import pytest
from click.testing import CliRunner

from pcapscan.cli import main
from pcapscan.errors import SafetyRefusal, UsageError
from pcapscan.live import safety
from pcapscan.live.safety import check_target, check_targets, first_public, is_allowed

ALLOWED = ["127.0.0.1", "127.255.255.254", "10.1.2.3", "172.16.0.1", "172.31.255.254", "192.168.1.1",
           "169.254.1.1", "198.18.0.2", "198.19.255.254", "192.0.2.7", "198.51.100.9", "203.0.113.200",
           "::1", "fc00::1", "fd12:3456::1", "fe80::1", "2001:2::2", "2001:2:0:ffff::1", "2001:db8::1",
           "::ffff:10.0.0.1"]
PUBLIC = ["8.8.8.8", "1.1.1.1", "172.32.0.1", "172.15.255.255", "192.169.0.1", "198.17.255.255",
          "198.20.0.0", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "2606:4700:4700::1111",
          "2001:3::1", "2001:db9::1", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "ff02::1"]


@pytest.mark.parametrize("addr", ALLOWED)
def test_allowed_addresses(addr):
    assert is_allowed(addr)
    assert check_target(addr) == [ipaddress.ip_address(addr)]


@pytest.mark.parametrize("addr", PUBLIC)
def test_public_addresses_are_refused(addr):
    assert not is_allowed(addr)
    with pytest.raises(SafetyRefusal) as info:
        check_target(addr)
    message = str(info.value)
    assert "public" in message and "--allow-public" in message and "\n" not in message


@pytest.mark.parametrize("addr", PUBLIC)
def test_allow_public_lets_them_through(addr):
    assert check_target(addr, allow_public=True) == [ipaddress.ip_address(addr)]


def test_ipv6_zone_is_accepted():
    assert check_target("fe80::1%veth0") == [ipaddress.ip_address("fe80::1")]


def test_mapped_public_address_names_the_ipv4_address():
    with pytest.raises(SafetyRefusal, match="8.8.8.8 is a public address"):
        check_target("::ffff:8.8.8.8")


# -- blocks and ranges ----------------------------------------------------------------

def test_cidr_inside_the_lab_range():
    addrs = check_target("198.18.0.0/29")
    assert [str(a) for a in addrs] == [f"198.18.0.{i}" for i in range(1, 7)]
    assert len(check_target("2001:2::/126")) == 4


@pytest.mark.parametrize("spec,public", [
    ("198.18.0.0/14", "198.16.0.0"),  # 198.16.0.0-198.19.255.255: half of it is not the benchmark range
    ("10.0.0.0/7", "11.0.0.0"),
    ("8.8.8.0/30", "8.8.8.0"),
    ("172.16.0.0/11", "172.0.0.0"),
    ("2001:2::/47", "2001:2:1::"),
    ("0.0.0.0/0", "0.0.0.0"),
])
def test_cidr_with_any_public_address_is_refused(spec, public):
    with pytest.raises(SafetyRefusal) as info:
        check_target(spec)
    assert f"it includes {public}, a public address" in str(info.value)


def test_large_private_block_is_a_usage_error_not_a_refusal():
    with pytest.raises(UsageError, match="at most"):
        check_target("10.0.0.0/8")


def test_ranges():
    assert [str(a) for a in check_target("198.18.0.1-5")] == [f"198.18.0.{i}" for i in range(1, 6)]
    assert len(check_target("198.18.0.250-198.18.1.4")) == 11
    with pytest.raises(SafetyRefusal, match="11.0.0.0"):
        check_target("10.255.255.254-11.0.0.1")
    with pytest.raises(SafetyRefusal, match="198.20.0.0"):
        check_target("198.19.255.250-198.20.0.3")
    for bad in ("198.18.0.5-1", "198.18.0.1-300", "198.18.0.1-2001:2::1"):
        with pytest.raises(UsageError):
            check_target(bad)


def test_first_public_skips_whole_allowed_networks():
    ip = ipaddress.ip_address
    assert first_public(ip("10.0.0.0"), ip("10.255.255.255")) is None
    assert first_public(ip("127.0.0.0"), ip("128.0.0.0")) == ip("128.0.0.0")
    assert first_public(ip("::"), ip("::1")) == ip("::")
    assert first_public(ip("fc00::"), ip("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")) is None


def test_several_targets_all_checked():
    assert len(check_targets(["198.18.0.1", "10.0.0.1", "198.18.0.1"])) == 2
    with pytest.raises(SafetyRefusal):
        check_targets(["198.18.0.1", "9.9.9.9"])


# -- host names ------------------------------------------------------------------------

def test_hostname_resolving_to_private_addresses_scans_the_first():
    got = check_target("victim.lab", resolver=lambda name: ["198.18.0.2", "2001:2::2"])
    assert got == [ipaddress.ip_address("198.18.0.2")]


@pytest.mark.parametrize("answers", [["93.184.216.34"], ["10.0.0.5", "8.8.4.4"], ["2001:2::2", "2606:4700::1"],
                                     ["::ffff:8.8.8.8"]])
def test_hostname_resolving_to_any_public_address_is_refused(answers):
    with pytest.raises(SafetyRefusal, match="resolves to"):
        check_target("somewhere.example", resolver=lambda name: answers)


def test_system_resolver_is_used_and_checked(monkeypatch):
    asked = []

    def fake_getaddrinfo(host, port, *args, **kwargs):
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", 0))]

    monkeypatch.setattr(safety.socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(SafetyRefusal, match="8.8.8.8"):
        check_target("localhost.example")
    assert asked == ["localhost.example"]


def test_unresolvable_name_is_a_usage_error(monkeypatch):
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(safety.socket, "getaddrinfo", fail)
    with pytest.raises(UsageError, match="cannot resolve"):
        check_target("no.such.name.invalid")
    with pytest.raises(UsageError):
        check_target("")


# -- refusal comes before any socket ------------------------------------------------------

class _NoSockets:
    def __init__(self, *args, **kwargs):
        raise AssertionError("a socket was opened for a refused scan")


@pytest.mark.parametrize("target", ["8.8.8.8", "8.8.8.0/30", "198.18.0.0/14", "10.0.0.1,1.1.1.1"])
def test_scan_refuses_before_opening_any_socket(monkeypatch, target):
    from pcapscan.live import scanner

    monkeypatch.setattr(scanner.socket, "socket", _NoSockets)
    with pytest.raises(SafetyRefusal):
        scanner.scan(target, "80", "syn")
    with pytest.raises(SafetyRefusal):
        scanner.scan(target, "80", "connect")


def test_scan_refuses_a_hostname_before_opening_any_socket(monkeypatch):
    from pcapscan.live import scanner

    monkeypatch.setattr(scanner.socket, "socket", _NoSockets)
    monkeypatch.setattr(safety, "system_resolver", lambda name: ["198.18.0.2", "8.8.8.8"])
    with pytest.raises(SafetyRefusal, match="resolves to 8.8.8.8"):
        scanner.scan("mixed.example", "80", "udp")


# -- the CLI -----------------------------------------------------------------------------

def _run(args):
    return CliRunner().invoke(main, args)


@pytest.mark.parametrize("target", ["8.8.8.8", "2606:4700:4700::1111", "203.0.112.0/23"])
def test_cli_refuses_public_targets_in_one_line(target):
    r = _run(["scan", target, "-p", "80", "--technique", "connect"])
    assert r.exit_code == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pcapscan: refusing to scan")
    assert "--allow-public" in lines[0]


def test_cli_refuses_a_hostname_resolving_to_a_public_address(monkeypatch):
    monkeypatch.setattr(safety, "system_resolver", lambda name: ["10.0.0.1", "8.8.4.4"])
    r = _run(["scan", "mixed.example", "-p", "53", "--technique", "udp"])
    assert r.exit_code == 2 and r.stdout == ""
    assert "resolves to 8.8.4.4" in r.stderr


# -- a lab address reached through a gateway ----------------------------------------


def test_off_link_warning_names_lab_addresses_behind_a_gateway():
    a = ipaddress.ip_address
    assert safety.off_link_warning([(a("198.18.0.2"), None)]) is None  # on-link: the lab
    assert safety.off_link_warning([(a("10.0.0.2"), "10.0.0.1")]) is None  # not a lab address
    one = safety.off_link_warning([(a("198.18.0.2"), "192.0.2.1")])
    assert one.startswith("198.18.0.2 is in the lab's range but not on a link of this host or namespace: the route "
                          "goes through the gateway 192.0.2.1") and "ip netns exec" in one
    two = safety.off_link_warning([(a("198.19.0.1"), "192.0.2.1"), (a("2001:2::5"), "fe80::1")])
    assert two.startswith("198.19.0.1 and 1 more address(es) of the lab's range are not on a link")


@pytest.fixture
def routed_netns():
    """A namespace of our own, `ip route get` its only view: 10.203.0.0/24 and
    198.18.200.0/24 on links, everything else through the gateway 10.203.0.2
    (which does not exist: nothing leaves the namespace)."""
    import os
    import subprocess

    from livelab import lab_unavailable

    why = lab_unavailable(("ip",))
    if why:
        pytest.skip(why)
    ns = f"pcsgw{os.getpid() % 100000}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        for cmd in (["link", "add", "gwa", "type", "veth", "peer", "name", "gwb"],
                    ["addr", "add", "10.203.0.1/24", "dev", "gwa"], ["addr", "add", "198.18.200.1/24", "dev", "gwb"],
                    ["link", "set", "gwa", "up"], ["link", "set", "gwb", "up"], ["link", "set", "lo", "up"],
                    ["route", "add", "default", "via", "10.203.0.2"]):
            subprocess.run(["ip", "-n", ns, *cmd], check=True)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def test_gateway_for_is_the_kernels_route(routed_netns):
    import subprocess
    import sys

    from livelab import env

    code = ("import ipaddress; from pcapscan.live.scanner import gateway_for as g; "
            "print([g(ipaddress.ip_address(a)) for a in ('198.19.5.5', '198.18.200.7', '10.203.0.9', '127.0.0.1')])")
    out = subprocess.run(["ip", "netns", "exec", routed_netns, sys.executable, "-c", code], capture_output=True,
                         text=True, env=env(), check=True).stdout
    assert out.strip() == "['10.203.0.2', None, None, None]"


def test_scan_warns_when_a_lab_address_goes_out_through_a_gateway(routed_netns):
    """The connect probes go toward the gateway, which is nowhere: inside our namespace."""
    import subprocess
    import sys

    from livelab import env

    def scan(target):
        return subprocess.run(["ip", "netns", "exec", routed_netns, sys.executable, "-m", "pcapscan.cli", "scan",
                               target, "-p", "80", "-t", "connect", "--timeout", "0.2", "--retries", "0"],
                              capture_output=True, text=True, env=env(), timeout=60)

    r = scan("198.19.5.5")
    assert r.returncode == 0, r.stderr
    assert ("pcapscan: warning: live:198.19.5.5: 198.19.5.5 is in the lab's range but not on a link of this host "
            "or namespace: the route goes through the gateway 10.203.0.2") in r.stderr
    r = scan("198.18.200.7")  # on a link of the namespace: no warning
    assert "gateway" not in r.stderr
