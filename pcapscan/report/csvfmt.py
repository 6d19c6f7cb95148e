"""CSV: one row per port verdict; frame lists are space-separated."""
import csv
import io

from .rows import host_statuses, is_port_table, port_row
from .rowtext import PortRows

COLUMNS = ["capture", "scanner", "target", "technique", "proto", "port", "state", "reason", "reason_ttl",
           "probe_frames", "response_frames", "host_state", "host_reason"]
# host_state, host_reason: the target's status from host discovery (up, user-set without any). Hosts
# discovery saw but no scan followed get a row of technique "host-discovery" with no port; version
# and OS detection a row of technique "version-detection" / "os-detection" with the probe frames.


def render(result) -> str:
    buf = io.StringIO()
    write(result, buf)
    return buf.getvalue()


CHUNK = 100_000  # ports of a column table formatted per write


def write(result, fh, progress=None) -> None:
    """The CSV to `fh`, scan by scan: a fast-path scan's ports (a column
    table) in chunks from their columns, never the whole text at once.
    `progress` (pcapscan/progress.py) hears of the ports written."""
    from ..progress import Ticker

    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(COLUMNS)
    statuses = host_statuses(result)
    scanned = set()
    tick = Ticker(progress, "writing", sum(len(s.ports) for s in result.scans), seconds=0.0)
    done = 0
    scratch = bytearray()  # the column tables' rows are formatted into it in turn (rowtext.rows_text)
    for scan in result.scans:
        h = statuses.get((scan.capture, scan.target))
        host = (h.state.value, h.reason.value) if h else ("up", "user-set")
        if len(scan.ports):
            scanned.add((scan.capture, scan.target))
        if is_port_table(scan.ports):
            _write_table(scan, host, writer, fh, lambda n: tick(done + n), scratch)
        else:
            for port in scan.ports:
                writer.writerow(_cells(port_row(scan, port), host))
        done += len(scan.ports)
        tick(done)
    for d in getattr(result, "discoveries", ()):
        for h in d.hosts:
            if (d.capture, h.address) in scanned:
                continue
            writer.writerow([d.capture, d.scanner, h.address, "host-discovery", "", "", h.state.value,
                             h.reason.value, h.reason_ttl, " ".join(map(str, h.probe_frames)),
                             " ".join(map(str, h.response_frames)), h.state.value, h.reason.value])
    for p in getattr(result, "probings", ()):
        writer.writerow([p.capture, p.scanner, p.target, p.kind, "", "", "", "", "",
                         " ".join(map(str, p.frames)), "", "", ""])
    tick.end()


def _cells(row: dict, host: tuple) -> list:
    row["probe_frames"] = " ".join(map(str, row["probe_frames"]))
    row["response_frames"] = " ".join(map(str, row["response_frames"]))
    row["host_state"], row["host_reason"] = host
    return [row[c] for c in COLUMNS]


_NUM = "\x00"  # a number's place in a row template (csv never quotes it)


def _write_table(scan, host: tuple, writer, fh, tick, scratch: bytearray | None = None) -> None:
    """The rows of a column table: the engine's own ports (objects) as any
    port, the bulk ones from a template per (proto, state, reason, answered)
    that csv itself wrote, so quoting is csv's (report/rowtext.py)."""
    from ..model import Reason, State

    states, reasons = list(State), list(Reason)
    line = io.StringIO()
    row_writer = csv.writer(line, lineterminator="\n")

    def row_text(cells) -> str:
        line.seek(0)
        line.truncate()
        row_writer.writerow(cells)
        return line.getvalue()

    def template(udp, st, rs, answered):
        return row_text([scan.capture, scan.scanner, scan.target, scan.technique.value, "udp" if udp else "tcp", _NUM,
                         states[st].value, reasons[rs].value, _NUM, _NUM, _NUM if answered else "", *host]).split(_NUM)

    rows = PortRows(scan.ports, template, lambda port: row_text(_cells(port_row(scan, port), host)), scratch=scratch)
    for start in range(0, len(scan.ports), CHUNK):
        stop = min(start + CHUNK, len(scan.ports))
        rows.write(fh, start, stop)
        tick(stop)
