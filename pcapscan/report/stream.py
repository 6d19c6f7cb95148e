"""Writing a rendering to a file piece by piece: the JSON of a scan of
millions of ports is written in chunks, never held whole in memory, and is
the very text jsonfmt.render gives (json.dumps, indent 2)."""
from __future__ import annotations

import json
from dataclasses import replace

from ..progress import Ticker, report
from . import csvfmt, jsonfmt, render
from .rows import is_port_table
from .rowtext import PortRows, write_bytes

CHUNK = 100_000  # ports formatted per write
_MARK = "\x00pcapscan-ports-{}\x00"

# One port of a scan's columns, as json.dumps(indent=2) writes it at the depth of scan["ports"] items.
_PORT = ('        {{\n          "proto": "{proto}",\n          "port": %d,\n          "state": "{state}",\n'
         '          "reason": "{reason}",\n          "reason_ttl": %d,\n          "probe_frames": [\n'
         '            %d\n          ],\n          "response_frames": {resp},\n          "retries": 0\n        }}')
_RESP = ("[]", "[\n            %d\n          ]")


def write(result, fmt: str, fh, lang: str = "en", progress=None) -> None:
    """`result` rendered as `fmt` (table and markdown in `lang`) to `fh`; JSON and CSV
    port by port, with `progress` (pcapscan/progress.py) hearing of the ports written."""
    if fmt == "json":
        write_json(result, fh, progress)
    elif fmt == "csv":
        csvfmt.write(result, fh, progress)
    else:
        report(progress, "writing")
        fh.write(render(result, fmt, lang))


def write_json(result, fh, progress=None) -> None:
    scans = list(result.scans)
    light = replace(result, scans=tuple(replace(s, ports=()) for s in scans))
    skeleton = jsonfmt.to_dict(light)
    if len(skeleton.get("scans", ())) != len(scans):  # a renderer that changed shape: the plain way
        fh.write(jsonfmt.render(result))
        return
    for i, d in enumerate(skeleton["scans"]):
        d["ports"] = _MARK.format(i)
    text = json.dumps(skeleton, indent=2) + "\n"
    pos = 0
    tick = PortTicker(progress, scans)
    scratch = bytearray()  # every scan's rows are formatted into it in turn
    for i, scan in enumerate(scans):
        mark = json.dumps(_MARK.format(i))
        at = text.index(mark, pos)
        fh.write(text[pos:at])
        _write_ports(scan, fh, tick, scratch)
        pos = at + len(mark)
    fh.write(text[pos:])
    tick.end()


class PortTicker:
    """The writing phase's progress: ports written of all the scans'."""

    def __init__(self, progress, scans):
        self.tick = Ticker(progress, "writing", sum(len(s.ports) for s in scans), seconds=0.0)
        self.done = 0

    def __call__(self, ports: int) -> None:
        self.done += ports
        self.tick(self.done)

    def end(self) -> None:
        self.tick.end()


def port_words(scan, port) -> str:
    d = jsonfmt.scan_dict(replace(scan, ports=(port,)))["ports"][0]
    return "\n".join("        " + line for line in json.dumps(d, indent=2).split("\n"))


def _write_ports(scan, fh, tick=lambda n: None, scratch: bytearray | None = None) -> None:
    ports = scan.ports
    if not len(ports):
        fh.write("[]")
        return
    fh.write("[\n")
    rows = _port_rows(scan, scratch) if is_port_table(ports) else None
    if rows is None or not _template_fits(scan, rows):
        for start in range(0, len(ports), CHUNK):
            part = [port_words(scan, ports[i]) for i in range(start, min(start + CHUNK, len(ports)))]
            fh.write((",\n" if start else "") + ",\n".join(part))
            tick(len(part))
        fh.write("\n      ]")
        return
    for start in range(0, len(ports), CHUNK):
        stop = min(start + CHUNK, len(ports))
        if start:
            write_bytes(fh, b",\n")
        rows.write(fh, start, stop)
        tick(stop - start)
    fh.write("\n      ]")


def _port_rows(scan, scratch: bytearray | None = None) -> PortRows:
    """A column table's ports in JSON, by one template (_PORT) per shape."""
    from ..model import Reason, State

    states, reasons = list(State), list(Reason)

    def template(udp, st, rs, answered):
        return _PORT.format(proto="udp" if udp else "tcp", state=states[st].value, reason=reasons[rs].value,
                            resp=_RESP[answered]).split("%d")

    return PortRows(scan.ports, template, lambda port: port_words(scan, port), b",\n", scratch)


def _template_fits(scan, rows: PortRows) -> bool:
    """Does the template write what jsonfmt writes? Checked on the scan's first bulk row."""
    ports = scan.ports
    for i in range(len(ports)):
        if i not in ports.objects:
            return rows.text(i, i + 1).decode() == port_words(scan, ports[i])
    return True
