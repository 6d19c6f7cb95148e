"""The flat, renderer-neutral view of a result: one dict per port verdict."""
from __future__ import annotations


def port_row(scan, port) -> dict:
    v = port.verdict
    return {
        "capture": scan.capture,
        "scanner": scan.scanner,
        "target": scan.target,
        "technique": scan.technique.value,
        "proto": port.proto,
        "port": port.port,
        "state": v.state.value,
        "reason": v.reason.value,
        "reason_ttl": v.reason_ttl,
        "probe_frames": list(v.probe_frames),
        "response_frames": list(v.response_frames),
    }


def is_port_table(ports) -> bool:
    """Ports of a fast-path scan (fastpath.scans.PortTable): columns, read in bulk."""
    return hasattr(ports, "pframe") and hasattr(ports, "objects")


def port_rows(result):
    for scan in result.scans:
        for port in scan.ports:
            yield port_row(scan, port)


def frames_text(row: dict, limit: int = 6) -> str:
    def short(frames):
        if not frames:
            return "-"
        text = ",".join(map(str, frames[:limit]))
        return text + (f",+{len(frames) - limit}" if len(frames) > limit else "")

    return f"{short(row['probe_frames'])} -> {short(row['response_frames'])}"


def capture_line(c, lang: str = "en") -> str:
    """"path: 15 packets, 4 not IP (ARP, ...)", in the language asked."""
    from ..messages import label

    return f"{c.path}{label('colon', lang)}{capture_facts(c, lang)}"


def capture_facts(c, lang: str = "en") -> str:
    """capture_line without the path."""
    from ..messages import label

    if c.error:
        return label("capture.error", lang, error=c.error)
    if c.packets == 0:
        return label("capture.empty", lang)
    parts = [label("capture.packets", lang, n=c.packets)]
    if c.non_ip:
        parts.append(label("capture.non-ip", lang, n=c.non_ip))
    if c.skipped:
        parts.append(label("capture.skipped", lang, n=c.skipped))
    if c.duplicates:
        parts.append(label("capture.duplicates", lang, n=c.duplicates))
    return label("comma", lang).join(parts)


def other_line(c):
    """The one line that sums a capture's ordinary traffic (never listed as scans), or None."""
    if not c.other_connections:
        return None
    return (f"  other traffic: {c.other_packets} packets in {c.other_connections} connection(s): "
            f"established connections, data, a client's own datagrams; not scan probes")


def scan_title(scan) -> str:
    tech = scan.technique.value
    if scan.probe_flags is not None:
        tech += f" (probe flags {scan.probe_flags or 'none'})"
    return f"{scan.scanner} -> {scan.target}: {tech} scan, {len(scan.ports)} port(s)"


# -- host discovery and version/OS detection (techniques/discovery.py, detection.py) ----------


def host_statuses(result) -> dict:
    """(capture, address) -> HostResult, from the first discovery session that saw the address."""
    out = {}
    for d in getattr(result, "discoveries", ()):
        for h in d.hosts:
            out.setdefault((d.capture, h.address), h)
    return out


def host_row(h) -> list:
    frames = {"probe_frames": list(h.probe_frames), "response_frames": list(h.response_frames)}
    return [h.address, h.state.value, h.reason.value, h.reason_ttl or "-", h.method, frames_text(frames)]


HOST_HEADERS = ["host", "state", "reason", "ttl", "decided by", "frames (probe -> response)"]


def discovery_title(d) -> str:
    up = sum(h.state.value == "up" for h in d.hosts)
    return (f"{d.scanner}: host discovery ({', '.join(d.methods)}), {len(d.hosts)} address(es), "
            f"{up} up, {len(d.hosts) - up} down")


def probing_line(p) -> str:
    tool = f"; tool: {p.tool.name} ({p.tool.confidence:.2f})" if p.tool is not None else ""
    return f"{p.scanner} -> {p.target}: {p.kind} ({', '.join(p.probes)}), not a port scan{tool}"
