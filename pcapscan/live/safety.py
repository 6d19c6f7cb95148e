"""Which addresses the live scanner may probe (pure policy, stdlib only).

The seeds' lab rule is "never probe the Internet". By default the scanner
targets only address ranges that cannot be someone else's host on the
Internet:

    IPv4  127.0.0.0/8 loopback, 10/8 172.16/12 192.168/16 private (RFC 1918),
          169.254.0.0/16 link-local, 198.18.0.0/15 benchmarking (RFC 2544),
          192.0.2.0/24 198.51.100.0/24 203.0.113.0/24 documentation (RFC 5737)
    IPv6  ::1 loopback, fc00::/7 unique-local, fe80::/10 link-local,
          2001:2::/48 benchmarking (RFC 5180), 2001:db8::/32 documentation

Everything else is "public" and refused unless the caller passes
allow_public=True (`--allow-public`). It is an allow-list: multicast,
broadcast, 0.0.0.0, carrier-grade NAT and NAT64 prefixes are refused too.
An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is judged by its IPv4 address.

A target is an address, a CIDR block ("198.18.0.0/29"), a last-octet range
("198.18.0.1-5") or a full range ("198.18.0.1-198.18.0.9"), or a host name.
A host name is resolved first (numeric spellings such as "0x08080808" too,
by the same resolver) and refused if ANY address it resolves to is public;
a block or range is refused if ANY address in it is public. The caller then
scans exactly the addresses that were checked, never a second resolution.

Nothing here sends a packet; `resolve` only asks the system resolver.
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Callable, Iterable, List, Optional, Union

from ..errors import SafetyRefusal, UsageError

Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

ALLOWED = (
    ("127.0.0.0/8", "loopback"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("169.254.0.0/16", "link-local"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("192.0.2.0/24", "documentation (RFC 5737)"),
    ("198.51.100.0/24", "documentation (RFC 5737)"),
    ("203.0.113.0/24", "documentation (RFC 5737)"),
    ("::1/128", "loopback"),
    ("fc00::/7", "unique-local"),
    ("fe80::/10", "link-local"),
    ("2001:2::/48", "benchmarking (RFC 5180)"),
    ("2001:db8::/32", "documentation (RFC 3849)"),
)
ALLOWED_NETS: tuple = tuple(ipaddress.ip_network(n) for n, _ in ALLOWED)
ALLOWED_TEXT = "loopback, private, link-local, benchmarking (198.18.0.0/15, 2001:2::/48) and documentation ranges"

# A scan of more addresses than this is a usage error, whatever the policy.
MAX_TARGETS = 4096

Resolver = Callable[[str], List[str]]


def _plain(addr: Address) -> Address:
    """::ffff:a.b.c.d is a.b.c.d for every purpose here."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def allowed_net(addr: Address) -> Optional[Network]:
    """The allowed network holding `addr`, or None if `addr` is public."""
    addr = _plain(addr)
    for net in ALLOWED_NETS:
        if net.version == addr.version and addr in net:
            return net
    return None


def is_allowed(addr: Union[str, Address]) -> bool:
    """True when `addr` may be scanned without --allow-public."""
    if isinstance(addr, str):
        addr = ipaddress.ip_address(addr.split("%", 1)[0])
    return allowed_net(addr) is not None


def first_public(first: Address, last: Address) -> Optional[Address]:
    """The lowest public address in [first, last], or None if there is none.
    Jumps over whole allowed networks, so it is fast on any range size."""
    first, last = _plain(first), _plain(last)
    cur = int(first)
    end = int(last)
    cls = type(first)
    while cur <= end:
        net = allowed_net(cls(cur))
        if net is None:
            return cls(cur)
        cur = int(net.broadcast_address) + 1
    return None


def system_resolver(name: str) -> List[str]:
    """Every address the system resolver gives for `name` (IPv4 and IPv6)."""
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"cannot resolve {name!r}: {getattr(exc, 'strerror', None) or exc}") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


def _parse_range(spec: str):
    """(first, last) for "a.b.c.d-e" or "a-b"; None if `spec` is not a range."""
    if "-" not in spec or spec.count("-") != 1:
        return None
    left, right = spec.split("-")
    try:
        first = ipaddress.ip_address(left.strip())
    except ValueError:
        return None
    right = right.strip()
    try:
        last = ipaddress.ip_address(right)
    except ValueError:
        if first.version != 4 or not right.isdigit() or int(right) > 255:
            raise UsageError(f"bad address range {spec!r} (e.g. 198.18.0.1-5 or 198.18.0.1-198.18.0.9)") from None
        last = ipaddress.ip_address(f"{str(first).rsplit('.', 1)[0]}.{right}")
    if last.version != first.version or last < first:
        raise UsageError(f"bad address range {spec!r}: it must run upwards within one address family")
    return first, last


def _refuse(spec: str, public: Address, how: str) -> SafetyRefusal:
    what = f"{how}{public}, a public address" if how else f"{public} is a public address"
    return SafetyRefusal(f"refusing to scan {spec}: {what}; the scanner probes only {ALLOWED_TEXT} "
                         f"unless given --allow-public")


def check_target(spec: str, allow_public: bool = False, resolver: Optional[Resolver] = None) -> List[Address]:
    """The addresses to scan for target `spec`, after the policy allowed them
    (for a host name: the first address it resolves to, as nmap scans, once
    every address it resolves to has passed).

    Raises SafetyRefusal if any of them is public and not `allow_public`,
    UsageError for a target that is malformed, unresolvable or too large.
    """
    spec = spec.strip()
    if not spec:
        raise UsageError("no target given")
    # A single numeric address (an IPv6 zone id, fe80::1%veth0, is kept for the caller).
    try:
        addr = ipaddress.ip_address(spec.split("%", 1)[0])
    except ValueError:
        addr = None
    if addr is not None:
        if not allow_public and not is_allowed(addr):
            raise _refuse(spec, _plain(addr), "")
        return [addr]
    # A CIDR block.
    if "/" in spec:
        try:
            net = ipaddress.ip_network(spec, strict=False)
        except ValueError:
            raise UsageError(f"bad network {spec!r}") from None
        public = None if allow_public else first_public(net.network_address, net.broadcast_address)
        if public is not None:
            raise _refuse(spec, public, "it includes ")
        return _expand(spec, net.network_address, net.broadcast_address, net)
    # A range.
    rng = _parse_range(spec)
    if rng is not None:
        public = None if allow_public else first_public(*rng)
        if public is not None:
            raise _refuse(spec, public, "it includes ")
        return _expand(spec, rng[0], rng[1], None)
    # A host name: every address it resolves to must pass.
    resolved = (resolver or system_resolver)(spec)
    if not resolved:
        raise UsageError(f"cannot resolve {spec!r}: no addresses")
    addrs = []
    for text in resolved:
        try:
            a = ipaddress.ip_address(str(text).split("%", 1)[0])
        except ValueError:
            raise UsageError(f"the resolver gave {text!r} for {spec!r}, which is not an address") from None
        if not allow_public and not is_allowed(a):
            raise _refuse(spec, _plain(a), "it resolves to ")
        addrs.append(a)
    return addrs[:1]  # like nmap: the first address is scanned, every one was checked


def _expand(spec: str, first: Address, last: Address, net: Optional[Network]) -> List[Address]:
    count = int(last) - int(first) + 1
    if net is not None and net.version == 4 and net.prefixlen < 31:
        count -= 2  # network and broadcast addresses are not hosts
    if count > MAX_TARGETS:
        raise UsageError(f"{spec} holds {count} addresses; scan at most {MAX_TARGETS} at a time")
    if net is not None:
        return list(net.hosts()) if net.version == 4 and net.prefixlen < 31 else list(net)
    cls = type(first)
    return [cls(i) for i in range(int(first), int(last) + 1)]


# The lab's ranges (live/labrun.py builds its namespaces in 198.18.0.0/15): an
# address there is meant to be a host on a link of the scanner's namespace.
LAB_NETS = (ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("2001:2::/48"))


def off_link_warning(routes) -> Optional[str]:
    """A warning for lab addresses the kernel routes through a gateway, or None.

    `routes` is [(address, gateway or None)]. Outside the lab's namespace a
    lab address is no host on any link: its probes go out the default route
    and whatever answers (the gateway, the network beyond) reads as the
    target's ports."""
    off = [(a, gw) for a, gw in routes if gw is not None and any(
        _plain(a).version == n.version and _plain(a) in n for n in LAB_NETS)]
    if not off:
        return None
    addr, gw = off[0]
    which = (f"{addr} is in the lab's range but not" if len(off) == 1 else
             f"{addr} and {len(off) - 1} more address(es) of the lab's range are not")
    return (f"{which} on a link of this host or namespace: the route goes through the gateway {gw}, so "
            f"answers may come from the gateway or beyond it, not from a lab target; run the scan inside the "
            f"lab's namespace (ip netns exec NAME pcapscan scan ...)")


def check_targets(specs: Iterable[str], allow_public: bool = False,
                  resolver: Optional[Resolver] = None) -> List[Address]:
    """check_target over several specs (comma-separated on the command line), de-duplicated in order."""
    out: list = []
    for spec in specs:
        out += check_target(spec, allow_public, resolver)
    uniq = list(dict.fromkeys(out))
    if len(uniq) > MAX_TARGETS:
        raise UsageError(f"{len(uniq)} addresses; scan at most {MAX_TARGETS} at a time")
    return uniq
