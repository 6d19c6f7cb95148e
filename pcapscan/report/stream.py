"""Writing a rendering to a file piece by piece: the JSON of a scan of
millions of ports is written in chunks, never held whole in memory, and is
the very text jsonfmt.render gives (json.dumps, indent 2)."""
from __future__ import annotations

import json
from dataclasses import replace

from . import jsonfmt, render

CHUNK = 100_000  # ports formatted per write
_MARK = "\x00pcapscan-ports-{}\x00"

# One port of a scan's columns, as json.dumps(indent=2) writes it at the depth of scan["ports"] items.
_PORT = ('        {{\n          "proto": "{proto}",\n          "port": %d,\n          "state": "{state}",\n'
         '          "reason": "{reason}",\n          "reason_ttl": %d,\n          "probe_frames": [\n'
         '            %d\n          ],\n          "response_frames": {resp},\n          "retries": 0\n        }}')
_RESP = ("[]", "[\n            %d\n          ]")


def write(result, fmt: str, fh, lang: str = "en") -> None:
    if fmt == "json":
        write_json(result, fh)
    else:
        fh.write(render(result, fmt, lang))


def write_json(result, fh) -> None:
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
    for i, scan in enumerate(scans):
        mark = json.dumps(_MARK.format(i))
        at = text.index(mark, pos)
        fh.write(text[pos:at])
        _write_ports(scan, fh)
        pos = at + len(mark)
    fh.write(text[pos:])


def port_words(scan, port) -> str:
    d = jsonfmt.scan_dict(replace(scan, ports=(port,)))["ports"][0]
    return "\n".join("        " + line for line in json.dumps(d, indent=2).split("\n"))


def _write_ports(scan, fh) -> None:
    ports = scan.ports
    if not len(ports):
        fh.write("[]")
        return
    fh.write("[\n")
    table = hasattr(ports, "pframe") and hasattr(ports, "objects")
    if not table or not _template_fits(scan):
        for start in range(0, len(ports), CHUNK):
            part = [port_words(scan, ports[i]) for i in range(start, min(start + CHUNK, len(ports)))]
            fh.write((",\n" if start else "") + ",\n".join(part))
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
        texts = [None] * (stop - start)
        for k in np.unique(key).tolist():
            sel = np.nonzero(key == k)[0]
            udp, has = divmod(k // 65536, 2)
            st, rs = divmod(k % 65536, 256)
            tmpl = _PORT.format(proto="udp" if udp else "tcp", state=states[st].value, reason=reasons[rs].value,
                                resp=_RESP[has])
            r = rows[sel]
            cols = [ports.port[r].tolist(), ports.ttl[r].tolist(), ports.pframe[r].tolist()]
            if has:
                cols.append(ports.rframe[r].tolist())
            for j, vals in zip(sel.tolist(), zip(*cols)):
                texts[j] = tmpl % vals
        for i in ports.objects:
            if start <= i < stop:
                texts[i - start] = port_words(scan, ports.objects[i])
        fh.write((",\n" if start else "") + ",\n".join(texts))
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
