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
    from ..messages import label, render

    if c.error:
        return label("capture.error", lang, error=render(c.error, lang))
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


def other_line(c, lang: str = "en"):
    """The one line that sums a capture's ordinary traffic (never listed as scans), or None."""
    from ..messages import T, render

    if not c.other_connections:
        return None
    line = render(T("analyze.other", packets=c.other_packets, connections=c.other_connections), lang)
    if c.other_attempts:  # said, so a one-port connect() scan is not lost without a word
        line += render(T("analyze.other.attempts", n=c.other_attempts), lang)
    return "  " + line


def scan_title(scan, lang: str = "en") -> str:
    """ "198.18.0.1 -> 198.18.0.2: syn scan, 5 port(s)" (in Chinese the technique's Chinese title)."""
    from ..messages import TECHNIQUE_WORDS, T, render

    where = dict(scanner=scan.scanner, target=scan.target, n=len(scan.ports))
    if scan.probe_flags is not None:
        return render(T("analyze.scan-title.unknown", flags=scan.probe_flags or "none", **where), lang)
    tech = scan.technique.value if lang == "en" else TECHNIQUE_WORDS[lang][scan.technique]
    return render(T("analyze.scan-title", technique=tech, **where), lang)


def tool_text(tool, lang: str = "en") -> str:
    """ "nmap (0.95)": a fingerprint.ToolGuess, its name kept ("unknown" is a word)."""
    from ..messages import LABELS, T, render

    name = LABELS[lang].get(f"tool.{tool.name}", tool.name)
    return render(T("analyze.tool", name=name, confidence=f"{tool.confidence:.2f}"), lang)


def port_headers(lang: str = "en") -> list:
    from ..messages import label

    if lang == "en":  # as they always read
        return ["port", "state", "reason", "ttl", "frames (probe -> response)"]
    return [label(k, lang) for k in ("port", "state", "reason", "analyze.ttl", "analyze.frames")]


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


def host_headers(lang: str = "en") -> list:
    from ..messages import label

    if lang == "en":
        return HOST_HEADERS
    return [label(k, lang) for k in ("analyze.host", "state", "reason", "analyze.ttl", "analyze.decided-by",
                                     "analyze.frames")]


def discovery_title(d, lang: str = "en") -> str:
    from ..messages import T, render

    up = sum(h.state.value == "up" for h in d.hosts)
    return render(T("analyze.discovery-title", scanner=d.scanner, methods=", ".join(d.methods), n=len(d.hosts),
                    up=up, down=len(d.hosts) - up), lang)


def probing_line(p, lang: str = "en") -> str:
    from ..messages import T, render

    tool = render(T("analyze.probing.tool", tool=tool_text(p.tool, lang)), lang) if p.tool is not None else ""
    probes = p.probes if lang == "en" else [_probe_name_zh(n) for n in p.probes]
    return render(T("analyze.probing", scanner=p.scanner, target=p.target, kind=T(f"analyze.kind.{p.kind}"),
                    probes=("、" if lang == "zh" else ", ").join(probes), tool=tool), lang)


def _probe_name_zh(name: str) -> str:
    """detection.py's probe names in Chinese: "probe 80/tcp x2" -> "服务探测 80/tcp ×2"; the
    connect() calls and nmap's OS probe names (SEQ1, T2, ...) stay as they are."""
    name = name.replace(" x", " ×")
    return "服务探测" + name[len("probe"):] if name.startswith("probe ") else name
