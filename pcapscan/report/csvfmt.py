"""CSV: one row per port verdict; frame lists are space-separated."""
import csv
import io

from .rows import host_statuses, is_port_table, port_row
from .rowtext import rows_text, write_bytes

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
    for scan in result.scans:
        h = statuses.get((scan.capture, scan.target))
        host = (h.state.value, h.reason.value) if h else ("up", "user-set")
        if len(scan.ports):
            scanned.add((scan.capture, scan.target))
        if is_port_table(scan.ports):
            _write_table(scan, host, writer, fh, lambda n: tick(done + n))
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


def _write_table(scan, host: tuple, writer, fh, tick) -> None:
    """The rows of a column table: the engine's own ports (objects) as any
    port, the bulk ones from a template per (proto, state, reason, answered)
    that csv itself wrote, so quoting is csv's (report/rowtext.py)."""
    import numpy as np

    from ..model import Reason, State

    ports = scan.ports
    states, reasons = list(State), list(Reason)
    line = io.StringIO()
    row_writer = csv.writer(line, lineterminator="\n")

    def row_text(cells) -> str:
        line.seek(0)
        line.truncate()
        row_writer.writerow(cells)
        return line.getvalue()

    templates: list = []
    shape_of: dict = {}  # shape key -> template index
    n = len(ports)
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        has = ports.rframe[start:stop] >= 0
        key = ((ports.udp[start:stop].astype(np.int64) * 2 + has) * 256 + ports.state[start:stop]) * 256 \
            + ports.reason[start:stop]
        own = [i - start for i in ports.objects if start <= i < stop]  # the engine's ports: rows of their own
        key[own] = -1
        for k in np.unique(key).tolist():
            if k >= 0 and k not in shape_of:
                rest, rs = divmod(k, 256)
                rest, st = divmod(rest, 256)
                udp, answered = divmod(rest, 2)
                text = row_text([scan.capture, scan.scanner, scan.target, scan.technique.value,
                                 "udp" if udp else "tcp", _NUM, states[st].value, reasons[rs].value, _NUM, _NUM,
                                 _NUM if answered else "", *host])
                shape_of[k] = len(templates)
                templates.append(tuple(piece.encode() for piece in text.split(_NUM)))
        which = np.zeros(len(key), np.int64)
        if shape_of:
            uniq = np.array(sorted(shape_of), np.int64)
            lut = np.array([shape_of[k] for k in uniq.tolist()], np.int64)
            which = lut[np.searchsorted(uniq, key).clip(0, len(uniq) - 1)]
        extra = [row_text(_cells(port_row(scan, ports.objects[start + j]), host)).encode() for j in own]
        which[own] = -1 - np.arange(len(own))
        write_bytes(fh, rows_text(templates, which, (ports.port[start:stop], ports.ttl[start:stop],
                                                     ports.pframe[start:stop], ports.rframe[start:stop]),
                                  b"", extra))
        tick(stop)
