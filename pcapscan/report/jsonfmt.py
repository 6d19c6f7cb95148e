"""JSON: {"captures": [...], "scans": [{..., "ports": [...]}]} (shape documented in docs/formats.md)."""
import json

from ..messages import render as words


def capture_dict(c) -> dict:
    d = {"path": c.path, "packets": c.packets, "skipped": c.skipped, "non_ip": c.non_ip, "duplicates": c.duplicates,
         "warnings": list(c.warnings), "link_types": list(c.link_types),
         "other": {"connections": c.other_connections, "packets": c.other_packets, "attempts": c.other_attempts}}
    if c.error:
        d["error"] = c.error
    return d


def scan_dict(scan) -> dict:
    ports = []
    for p in scan.ports:
        v = p.verdict
        ports.append({
            "proto": p.proto, "port": p.port, "state": v.state.value, "reason": v.reason.value,
            "reason_ttl": v.reason_ttl, "probe_frames": list(v.probe_frames),
            "response_frames": list(v.response_frames), "retries": max(0, len(v.probe_frames) - 1),
        })
    d = {"capture": scan.capture, "scanner": scan.scanner, "target": scan.target,
         "technique": scan.technique.value, "technique_evidence": words(scan.technique_evidence, "en"),
         "start": scan.first_ts, "end": scan.last_ts, "ports": ports}
    if scan.probe_flags is not None:
        d["probe_flags"] = scan.probe_flags
    if scan.zombie is not None:  # idle scan
        d["zombie"] = scan.zombie
    if scan.tool is not None:  # fingerprint.ToolGuess
        d["tool"] = {"name": scan.tool.name, "confidence": scan.tool.confidence, "evidence": list(scan.tool.evidence)}
    return d


def host_dicts(result) -> list:
    """One entry per address host discovery concluded about (docs/formats.md, "hosts")."""
    out = []
    for d in getattr(result, "discoveries", ()):
        for h in d.hosts:
            out.append({"address": h.address, "state": h.state.value, "reason": h.reason.value,
                        "reason_ttl": h.reason_ttl, "probe_frames": list(h.probe_frames),
                        "response_frames": list(h.response_frames), "method": h.method, "mac": h.mac,
                        "scanner": d.scanner, "capture": d.capture})
    return out


def probing_dict(p) -> dict:
    d = {"capture": p.capture, "scanner": p.scanner, "target": p.target, "kind": p.kind, "probes": list(p.probes),
         "frames": list(p.frames), "evidence": words(p.evidence, "en"), "start": p.first_ts, "end": p.last_ts}
    if p.tool is not None:
        d["tool"] = {"name": p.tool.name, "confidence": p.tool.confidence, "evidence": list(p.tool.evidence)}
    return d


def to_dict(result) -> dict:
    out = {"captures": [capture_dict(c) for c in result.captures],
           "scans": [scan_dict(s) for s in result.scans],
           "hosts": host_dicts(result),
           "discovery": [{"capture": d.capture, "scanner": d.scanner, "methods": list(d.methods),
                          "evidence": words(d.evidence, "en"), "start": d.first_ts, "end": d.last_ts,
                          "hosts": [h.address for h in d.hosts]} for d in getattr(result, "discoveries", ())],
           "probings": [probing_dict(p) for p in getattr(result, "probings", ())]}
    if result.errors:
        out["errors"] = list(result.errors)
    return out


def render(result) -> str:
    return json.dumps(to_dict(result), indent=2) + "\n"
