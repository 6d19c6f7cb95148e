"""CSV: one row per port verdict; frame lists are space-separated."""
import csv
import io

from .rows import host_statuses, port_rows

COLUMNS = ["capture", "scanner", "target", "technique", "proto", "port", "state", "reason", "reason_ttl",
           "probe_frames", "response_frames", "host_state", "host_reason"]
# host_state, host_reason: the target's status from host discovery (up, user-set without any). Hosts
# discovery saw but no scan followed get a row of technique "host-discovery" with no port; version
# and OS detection a row of technique "version-detection" / "os-detection" with the probe frames.


def render(result) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    statuses = host_statuses(result)
    scanned = set()
    for row in port_rows(result):
        row["probe_frames"] = " ".join(map(str, row["probe_frames"]))
        row["response_frames"] = " ".join(map(str, row["response_frames"]))
        h = statuses.get((row["capture"], row["target"]))
        row["host_state"], row["host_reason"] = (h.state.value, h.reason.value) if h else ("up", "user-set")
        scanned.add((row["capture"], row["target"]))
        writer.writerow(row)
    for d in getattr(result, "discoveries", ()):
        for h in d.hosts:
            if (d.capture, h.address) in scanned:
                continue
            writer.writerow({"capture": d.capture, "scanner": d.scanner, "target": h.address,
                             "technique": "host-discovery", "proto": "", "port": "", "state": h.state.value,
                             "reason": h.reason.value, "reason_ttl": h.reason_ttl,
                             "probe_frames": " ".join(map(str, h.probe_frames)),
                             "response_frames": " ".join(map(str, h.response_frames)),
                             "host_state": h.state.value, "host_reason": h.reason.value})
    for p in getattr(result, "probings", ()):
        writer.writerow({"capture": p.capture, "scanner": p.scanner, "target": p.target, "technique": p.kind,
                         "proto": "", "port": "", "state": "", "reason": "", "reason_ttl": "",
                         "probe_frames": " ".join(map(str, p.frames)), "response_frames": "",
                         "host_state": "", "host_reason": ""})
    return buf.getvalue()
