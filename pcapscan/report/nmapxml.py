"""nmap XML (nmap.dtd), the interchange format: what nmap's own -oX would
have said for the ports seen in the capture, readable by ndiff, zenmap and
every tool that reads nmap output.

One <host> per target. nmap keeps one verdict per (protocol, port) and host,
so where a capture holds several scans of the same TCP port (a SYN scan and
a FIN scan, say) the first scan's verdict is written and the others are
named in an XML comment."""
from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from functools import lru_cache

from ..model import HostState, Technique
from ..techniques import REGISTRY
from .collapse import host_items, port_numbers

XML_OUTPUT_VERSION = "1.05"
NMAP_SERVICES = ("/usr/share/nmap/nmap-services", "/usr/local/share/nmap/nmap-services")


@lru_cache(maxsize=1)
def _services() -> dict:
    """(proto, port) -> service name, from nmap's own nmap-services when installed."""
    table = {}
    for path in NMAP_SERVICES:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if not line or line[0] == "#":
                        continue
                    fields = line.split("\t")
                    if len(fields) < 2 or "/" not in fields[1]:
                        continue
                    port, proto = fields[1].split("/", 1)
                    table.setdefault((proto, int(port)), fields[0])
            return table
        except OSError:
            continue
    return table


def service_name(proto: str, port: int) -> str:
    name = _services().get((proto, port))
    if name is None:
        import socket

        try:
            name = socket.getservbyport(port, proto)
        except (OSError, OverflowError):
            name = "unknown"
    return name


NMAP_PROTOCOLS = ("/usr/share/nmap/nmap-protocols", "/usr/local/share/nmap/nmap-protocols")


def _os_connect(technique: Technique) -> bool:
    """Was the scan the OS's connect() (no raw packets: nmap shows no MAC address)?"""
    spec = REGISTRY.get(technique)
    return spec is not None and spec.os_connect


@lru_cache(maxsize=1)
def _protocols() -> dict:
    """IP protocol number -> name, from nmap's own nmap-protocols when installed."""
    for path in NMAP_PROTOCOLS:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                return {int(f[1]): f[0] for f in (line.split() for line in fh if line[:1] not in ("#", ""))
                        if len(f) >= 2 and f[1].isdigit()}
        except OSError:
            continue
    return {}


def _service_el(port_el, proto: str, port: int) -> None:
    if proto == "ip":  # nmap names IP protocols from nmap-protocols, conf 8
        name = _protocols().get(port)
        if name:
            ET.SubElement(port_el, "service", {"name": name, "method": "table", "conf": "8"})
        return
    name = service_name(proto, port)
    if proto == "sctp" and name == "unknown":
        return  # nmap writes no <service> for an SCTP port it has no name for
    ET.SubElement(port_el, "service", {"name": name, "method": "table", "conf": "3"})


def _host_statuses(result) -> dict:
    """address -> the HostResult host discovery gave it (the first session that saw it)."""
    out = {}
    for d in getattr(result, "discoveries", ()):
        for h in d.hosts:
            out.setdefault(h.address, h)
    return out


def _addresses(host, addr: str, h, raw: bool = True) -> None:
    """The host's address, then its MAC as nmap writes it: for a host up whose
    MAC the capture's ARP/ND announced, when nmap sent raw packets (a connect
    scan leaves resolution to the kernel, and nmap never learns the MAC)."""
    ET.SubElement(host, "address", {"addr": addr, "addrtype": "ipv6" if ":" in addr else "ipv4"})
    if raw and h is not None and h.mac is not None and h.state is HostState.UP:
        ET.SubElement(host, "address", {"addr": h.mac, "addrtype": "mac"})


def _status(host, h) -> None:
    if h is None:  # no discovery seen: nmap's word for a host taken as up (-Pn)
        ET.SubElement(host, "status", {"state": "up", "reason": "user-set", "reason_ttl": "0"})
    else:
        ET.SubElement(host, "status", {"state": h.state.value, "reason": h.reason.value,
                                       "reason_ttl": str(h.reason_ttl)})


def _ports_attr(ports) -> str:
    nums = sorted(set(ports))
    ranges, start, prev = [], None, None
    for n in nums:
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            ranges.append((start, prev))
            start = prev = n
    if start is not None:
        ranges.append((start, prev))
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def _ctime(t: int) -> str:
    """time.ctime, or "" for a time it cannot show: a capture's timestamps are
    untrusted (a pcapng if_tsoffset can put them past the year 9999)."""
    try:
        return time.ctime(t)
    except (OverflowError, OSError, ValueError):
        return ""


def render(result) -> str:
    scans = list(result.scans)
    # The run's times are the capture's: port scans, ping sweeps and detection
    # probes alike (the time of rendering only when the capture shows none).
    sessions = scans + list(getattr(result, "discoveries", ())) + list(getattr(result, "probings", ()))
    start = int(min((s.first_ts for s in sessions), default=time.time()))
    end = int(max((s.last_ts for s in sessions), default=start))
    root = ET.Element("nmaprun", {
        "scanner": "nmap", "args": "pcapscan analyze " + " ".join(c.path for c in result.captures),
        "start": str(start), "startstr": _ctime(start), "version": "7.93",
        "xmloutputversion": XML_OUTPUT_VERSION})
    seen_types = {}
    for s in scans:
        if s.technique.value == "idle":
            continue  # nmap writes no <scaninfo> for an idle scan
        spec = REGISTRY.get(s.technique)
        proto = spec.proto if spec else "tcp"  # scaninfo's protocol: -sO's "ports" are IP protocols
        seen_types.setdefault((s.technique.value, proto), set()).update(port_numbers(s.ports))
    for (tech, proto), ports in seen_types.items():
        ET.SubElement(root, "scaninfo", {"type": tech, "protocol": proto, "numservices": str(len(ports)),
                                         "services": _ports_attr(ports)})
    ET.SubElement(root, "verbose", {"level": "0"})
    ET.SubElement(root, "debugging", {"level": "0"})

    targets: dict = {}
    for s in scans:
        targets.setdefault(s.target, []).append(s)
    statuses = _host_statuses(result)
    for addr, h in statuses.items():  # hosts that discovery saw and no scan followed (-sn, down hosts)
        if addr in targets:
            continue
        host = ET.SubElement(root, "host")
        _status(host, h)
        _addresses(host, addr, h)
        ET.SubElement(host, "hostnames")
    for target, tscans in targets.items():
        host = ET.SubElement(root, "host", {"starttime": str(int(min(s.first_ts for s in tscans))),
                                            "endtime": str(int(max(s.last_ts for s in tscans)))})
        _status(host, statuses.get(target))
        _addresses(host, target, statuses.get(target),
                   raw=any(not _os_connect(s.technique) for s in tscans))
        ET.SubElement(host, "hostnames")
        ports_el = ET.SubElement(host, "ports")
        for item in host_items(tscans):  # one verdict per port; nmap's <extraports> for a state of >25 ports
            if item[0] == "comment":
                ports_el.append(ET.Comment(item[1]))
            elif item[0] == "extra":
                _, state, count, reasons = item
                extra = ET.SubElement(ports_el, "extraports", {"state": state, "count": str(count)})
                for reason, n, proto, attr in reasons:
                    ET.SubElement(extra, "extrareasons", {"reason": reason, "count": str(n), "proto": proto,
                                                          "ports": attr})
            else:
                _, proto, port, state, reason, ttl = item
                port_el = ET.SubElement(ports_el, "port", {"protocol": proto, "portid": str(port)})
                ET.SubElement(port_el, "state", {"state": state, "reason": reason, "reason_ttl": str(ttl)})
                _service_el(port_el, proto, port)
    runstats = ET.SubElement(root, "runstats")
    ET.SubElement(runstats, "finished", {"time": str(end), "timestr": _ctime(end), "elapsed": str(end - start),
                                         "summary": f"pcapscan read {len(result.captures)} capture(s)",
                                         "exit": "success"})
    addrs = set(targets) | set(statuses)
    down = sum(1 for a in addrs if a in statuses and statuses[a].state.value == "down" and a not in targets)
    ET.SubElement(runstats, "hosts", {"up": str(len(addrs) - down), "down": str(down), "total": str(len(addrs))})
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n' + body + "\n"
