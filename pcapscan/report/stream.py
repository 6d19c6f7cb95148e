"""Writing a rendering to a file piece by piece: the JSON of a scan of
millions of ports is written in chunks, never held whole in memory, and is
the very text jsonfmt.render gives (json.dumps, indent 2)."""
from __future__ import annotations

import json
from dataclasses import replace

from ..progress import Ticker, report
from . import csvfmt, jsonfmt, render
from .rows import is_port_table

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
    for i, scan in enumerate(scans):
        mark = json.dumps(_MARK.format(i))
        at = text.index(mark, pos)
        fh.write(text[pos:at])
        _write_ports(scan, fh, tick)
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


def _write_ports(scan, fh, tick=lambda n: None) -> None:
    ports = scan.ports
    if not len(ports):
        fh.write("[]")
        return
    fh.write("[\n")
    if not is_port_table(ports) or not _template_fits(scan):
        for start in range(0, len(ports), CHUNK):
            part = [port_words(scan, ports[i]) for i in range(start, min(start + CHUNK, len(ports)))]
            fh.write((",\n" if start else "") + ",\n".join(part))
            tick(len(part))
        fh.write("\n      ]")
        return
    import numpy as np

    from ..model import Reason, State

    states, reasons = list(State), list(Reason)
    n = len(ports)
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        rows = np.arange(start, stop)
        key = (ports.udp[rows].astype(np.int64) * 2 + (ports.rframe[rows] >= 0)) * 65536 \
            + ports.state[rows].astype(np.int64) * 256 + ports.reason[rows]
        own = [i - start for i in ports.objects if start <= i < stop]
        if own:
            key[own] = -1  # the engine's ports: their own text
        uniq = np.unique(key).tolist()
        texts = None if len(uniq) == 1 else [None] * (stop - start)
        for k in uniq:
            sel = np.nonzero(key == k)[0] if texts is not None else None
            if k < 0:
                for j in (sel.tolist() if sel is not None else range(stop - start)):
                    text = port_words(scan, ports.objects[start + j])
                    if texts is None:
                        texts = [text]
                    elif sel is None:  # the whole chunk the engine's ports
                        texts.append(text)
                    else:
                        texts[j] = text
                continue
            udp, has = divmod(k // 65536, 2)
            st, rs = divmod(k % 65536, 256)
            tmpl = _PORT.format(proto="udp" if udp else "tcp", state=states[st].value, reason=reasons[rs].value,
                                resp=_RESP[has])
            r = rows if sel is None else rows[sel]
            cols = [ports.port[r].tolist(), ports.ttl[r].tolist(), ports.pframe[r].tolist()]
            if has:
                cols.append(ports.rframe[r].tolist())
            if texts is None:  # one shape in the whole chunk (most of a port scan): formatted in one go
                texts = list(map(tmpl.__mod__, zip(*cols)))
            else:
                for j, vals in zip(sel.tolist(), zip(*cols)):
                    texts[j] = tmpl % vals
        fh.write((",\n" if start else "") + ",\n".join(texts))
        tick(stop - start)
    fh.write("\n      ]")


def _template_fits(scan) -> bool:
    """Does the template write what jsonfmt writes? Checked on the scan's first bulk row."""
    ports = scan.ports
    for i in range(len(ports)):
        if i in ports.objects:
            continue
        p = ports[i]
        import numpy as np  # noqa: F401

        from ..model import Reason, State

        states, reasons = list(State), list(Reason)
        has = int(ports.rframe[i] >= 0)
        tmpl = _PORT.format(proto=p.proto, state=states[ports.state[i]].value, reason=reasons[ports.reason[i]].value,
                            resp=_RESP[has])
        vals = (int(ports.port[i]), int(ports.ttl[i]), int(ports.pframe[i])) + ((int(ports.rframe[i]),) if has else ())
        return tmpl % vals == port_words(scan, p)
    return True
