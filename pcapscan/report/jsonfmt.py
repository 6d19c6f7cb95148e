"""JSON: {"captures": [...], "scans": [{..., "ports": [...]}]} (shape documented in docs/formats.md)."""
import json


def capture_dict(c) -> dict:
    d = {"path": c.path, "packets": c.packets, "skipped": c.skipped, "non_ip": c.non_ip, "duplicates": c.duplicates,
         "warnings": list(c.warnings), "link_types": list(c.link_types)}
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
            "response_frames": list(v.response_frames), "retries": max(0, len(p.exchange.probes) - 1),
        })
    d = {"capture": scan.capture, "scanner": scan.scanner, "target": scan.target,
         "technique": scan.technique.value, "technique_evidence": scan.technique_evidence,
         "start": scan.first_ts, "end": scan.last_ts, "ports": ports}
    if scan.probe_flags is not None:
        d["probe_flags"] = scan.probe_flags
    if scan.tool is not None:  # fingerprint.ToolGuess
        d["tool"] = {"name": scan.tool.name, "confidence": scan.tool.confidence, "evidence": list(scan.tool.evidence)}
    return d


def to_dict(result) -> dict:
    out = {"captures": [capture_dict(c) for c in result.captures],
           "scans": [scan_dict(s) for s in result.scans]}
    if result.errors:
        out["errors"] = list(result.errors)
    return out


def render(result) -> str:
    return json.dumps(to_dict(result), indent=2) + "\n"
