"""CSV: one row per port verdict; frame lists are space-separated."""
import csv
import io

from .rows import port_rows

COLUMNS = ["capture", "scanner", "target", "technique", "proto", "port", "state", "reason", "reason_ttl",
           "probe_frames", "response_frames"]


def render(result) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in port_rows(result):
        row["probe_frames"] = " ".join(map(str, row["probe_frames"]))
        row["response_frames"] = " ".join(map(str, row["response_frames"]))
        writer.writerow(row)
    return buf.getvalue()
