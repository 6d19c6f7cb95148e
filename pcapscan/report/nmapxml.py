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


def render(result) -> str:
    scans = list(result.scans)
    start = int(min((s.first_ts for s in scans), default=time.time()))
    end = int(max((s.last_ts for s in scans), default=start))
    root = ET.Element("nmaprun", {
        "scanner": "nmap", "args": "pcapscan analyze " + " ".join(c.path for c in result.captures),
        "start": str(start), "startstr": time.ctime(start), "version": "7.93",
        "xmloutputversion": XML_OUTPUT_VERSION})
    seen_types = {}
    for s in scans:
        proto = "udp" if s.technique.value == "udp" else "tcp"
        seen_types.setdefault((s.technique.value, proto), set()).update(p.port for p in s.ports)
    for (tech, proto), ports in seen_types.items():
        ET.SubElement(root, "scaninfo", {"type": tech, "protocol": proto, "numservices": str(len(ports)),
                                         "services": _ports_attr(ports)})
    ET.SubElement(root, "verbose", {"level": "0"})
    ET.SubElement(root, "debugging", {"level": "0"})

    targets: dict = {}
    for s in scans:
        targets.setdefault(s.target, []).append(s)
    for target, tscans in targets.items():
        host = ET.SubElement(root, "host", {"starttime": str(int(min(s.first_ts for s in tscans))),
                                            "endtime": str(int(max(s.last_ts for s in tscans)))})
        ET.SubElement(host, "status", {"state": "up", "reason": "user-set", "reason_ttl": "0"})
        ET.SubElement(host, "address", {"addr": target, "addrtype": "ipv6" if ":" in target else "ipv4"})
        ET.SubElement(host, "hostnames")
        ports_el = ET.SubElement(host, "ports")
        written = {}
        for s in tscans:
            for p in s.ports:
                key = (p.proto, p.port)
                if key in written:
                    if written[key] != s.technique.value:
                        ports_el.append(ET.Comment(
                            f" {s.technique.value} scan of {p.port}/{p.proto} ({p.state.value}) from {s.scanner}"
                            f" omitted: nmap XML keeps one verdict per port "))
                    continue
                written[key] = s.technique.value
                v = p.verdict
                port_el = ET.SubElement(ports_el, "port", {"protocol": p.proto, "portid": str(p.port)})
                ET.SubElement(port_el, "state", {"state": v.state.value, "reason": v.reason.value,
                                                 "reason_ttl": str(v.reason_ttl)})
                ET.SubElement(port_el, "service", {"name": service_name(p.proto, p.port), "method": "table",
                                                   "conf": "3"})
    runstats = ET.SubElement(root, "runstats")
    ET.SubElement(runstats, "finished", {"time": str(end), "timestr": time.ctime(end), "elapsed": str(end - start),
                                         "summary": f"pcapscan read {len(result.captures)} capture(s)",
                                         "exit": "success"})
    ET.SubElement(runstats, "hosts", {"up": str(len(targets)), "down": "0", "total": str(len(targets))})
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n' + body + "\n"
