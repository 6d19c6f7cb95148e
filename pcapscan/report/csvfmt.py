"""CSV: one row per port verdict; frame lists are space-separated."""
import csv
import io

from .rows import host_statuses, is_port_table, port_row

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
    that csv itself wrote, so quoting is csv's."""
    import numpy as np

    from ..model import Reason, State

    ports = scan.ports
    states, reasons = list(State), list(Reason)
    line = io.StringIO()
    row_writer = csv.writer(line, lineterminator="\n")
    templates: dict = {}

    def template(udp: int, st: int, rs: int, has: int) -> str:
        key = (udp, st, rs, has)
        got = templates.get(key)
        if got is None:
            line.seek(0)
            line.truncate()
            row_writer.writerow([scan.capture, scan.scanner, scan.target, scan.technique.value,
                                 "udp" if udp else "tcp", _NUM, states[st].value, reasons[rs].value, _NUM, _NUM,
                                 _NUM if has else "", *host])
            got = templates[key] = line.getvalue().replace("%", "%%").replace(_NUM, "%d")
        return got

    n = len(ports)
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        rows = np.arange(start, stop)
        has = ports.rframe[rows] >= 0
        key = ((ports.udp[rows].astype(np.int64) * 2 + has) * 256 + ports.state[rows]) * 256 + ports.reason[rows]
        own = [i - start for i in ports.objects if start <= i < stop]
        if own:
            key[own] = -1  # the engine's ports: rows of their own
        uniq = np.unique(key).tolist()
        if len(uniq) == 1 and uniq[0] >= 0:  # one shape in the whole chunk (most of a port scan)
            rest, rs = divmod(uniq[0], 256)
            rest, st = divmod(rest, 256)
            udp, answered = divmod(rest, 2)
            cols = [ports.port[rows].tolist(), ports.ttl[rows].tolist(), ports.pframe[rows].tolist()]
            if answered:
                cols.append(ports.rframe[rows].tolist())
            fh.write("".join(map(template(udp, st, rs, answered).__mod__, zip(*cols))))
            tick(stop)
            continue
        texts = [None] * (stop - start)
        for k in uniq:
            sel = np.nonzero(key == k)[0]
            if k < 0:
                for j in sel.tolist():
                    line.seek(0)
                    line.truncate()
                    row_writer.writerow(_cells(port_row(scan, ports.objects[start + j]), host))
                    texts[j] = line.getvalue()
                continue
            rest, rs = divmod(k, 256)
            rest, st = divmod(rest, 256)
            udp, answered = divmod(rest, 2)
            tmpl = template(udp, st, rs, answered)
            r = rows[sel]
            cols = [ports.port[r].tolist(), ports.ttl[r].tolist(), ports.pframe[r].tolist()]
            if answered:
                cols.append(ports.rframe[r].tolist())
            for j, vals in zip(sel.tolist(), zip(*cols)):
                texts[j] = tmpl % vals
        fh.write("".join(texts))
        tick(stop)
