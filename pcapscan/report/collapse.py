"""nmap's way of showing a big scan: a state with more than COLLAPSE_MIN ports
is not listed port by port but summed up ("Not shown: 65530 closed tcp
ports (reset)" in text, <extraports> with <extrareasons> in XML), the state
with the most ports first, ties by nmap's state number, higher first
(nmap 7.93 output.cc / portlist.cc). Works on model.PortResult tuples and
on the fast path's columns (fastpath.scans.PortTable) alike."""
from __future__ import annotations

from collections import Counter

from .rows import is_port_table

COLLAPSE_MIN = 26  # nmap hides a state with more than 25 ports
# nmap's state numbers (portlist.h): the tie-break, higher first
STATE_NUMBER = {"closed": 1, "open": 2, "filtered": 3, "unfiltered": 6, "open|filtered": 7, "closed|filtered": 8}


def state_counts(ports) -> Counter:
    """state text -> number of ports."""
    if is_port_table(ports):
        from ..model import State

        states = list(State)
        import numpy as np

        # a comparison per state: np.bincount would first copy the column into intp (8x its bytes)
        out = Counter({s.value: n for i, s in enumerate(states) if (n := int(np.count_nonzero(ports.state == i)))})
        for i, p in ports.objects.items():  # engine-built rows hold their own verdicts
            out[states[int(ports.state[i])].value] -= 1
            out[p.state.value] += 1
        return +out
    return Counter(p.state.value for p in ports)


def hidden_states(counts: Counter) -> list:
    """The states nmap would not list, most ports first."""
    big = [s for s, n in counts.items() if n >= COLLAPSE_MIN]
    return sorted(big, key=lambda s: (-counts[s], -STATE_NUMBER.get(s, 0)))


def rows_and_hidden(ports):
    """(PortResults to list, {state: [(proto, reason, ports)]} of the hidden ones)."""
    order = hidden_states(state_counts(ports))
    hidden = {s: {} for s in order}
    shown = []
    if not order:
        return list(ports), {}
    if is_port_table(ports):
        import numpy as np

        from ..model import Reason, State

        states, reasons = list(State), list(Reason)
        is_hidden = np.zeros(len(ports), bool)
        for s in order:  # a comparison per hidden state (a state count's way)
            is_hidden |= ports.state == states.index(State(s))
        obj = np.zeros(len(ports), bool)
        for i, p in ports.objects.items():
            obj[i] = True
            is_hidden[i] = p.state.value in hidden
        for i in np.flatnonzero(~is_hidden).tolist():
            shown.append(ports[i])
        plain = np.flatnonzero(is_hidden & ~obj)
        if len(plain):
            # (state, reason, udp) in 16 bits (fewer than 128 states, 256 reasons): counted, keys ascending
            key = (ports.state[plain].astype(np.uint16) << 9) | (ports.reason[plain].astype(np.uint16) << 1)
            key |= ports.udp[plain]
            ks = [int(key[0])] if (key == key[0]).all() else np.flatnonzero(np.bincount(key)).tolist()
            for k in ks:
                sel = plain if len(ks) == 1 else plain[key == k]
                st, rs, u = k >> 9, (k & 511) >> 1, k & 1
                hidden[states[st].value].setdefault(("udp" if u else "tcp", reasons[rs].value), []).append(
                    ports.port[sel])
        for i in np.nonzero(is_hidden & obj)[0].tolist():
            p = ports.objects[i]
            hidden[p.state.value].setdefault((p.proto, p.verdict.reason.value), []).append(np.array([p.port]))
        out = {}
        for state, by in hidden.items():
            out[state] = [(proto, reason, np.concatenate(parts)) for (proto, reason), parts in by.items()]
        return shown, out
    for p in ports:
        if p.state.value in hidden:
            hidden[p.state.value].setdefault((p.proto, p.verdict.reason.value), []).append(p.port)
        else:
            shown.append(p)
    return shown, {state: [(proto, reason, ps) for (proto, reason), ps in by.items()] for state, by in hidden.items()}


def extra_reasons(items) -> list:
    """[(reason, count, proto, ports attr)] of a hidden state, most common reason first."""
    out = [(reason, len(ps), proto, ports_attr(ps)) for proto, reason, ps in items]
    out.sort(key=lambda r: -r[1])
    return out


def not_shown_line(hidden: dict, lang: str = "en") -> str:
    """ "Not shown: 65530 closed tcp ports (reset), ..." as nmap's text output says it
    (in Chinese the same facts, nmap's state and reason words kept)."""
    from ..messages import T, label, render

    parts = []
    for state, items in hidden.items():
        for proto in ("tcp", "udp", "sctp", "ip"):
            mine = sorted(((len(ps), reason) for p, reason, ps in items if p == proto), key=lambda x: -x[0])
            if not mine:
                continue
            total = sum(n for n, _r in mine)
            why = mine[0][1] if len(mine) == 1 else _counted(mine, lang)
            what = "analyze.not-shown.protocols" if proto == "ip" else "analyze.not-shown.ports"
            parts.append(render(T(what, n=total, state=state, proto=proto, why=why), lang))
    return render(T("analyze.not-shown", parts=label("comma", lang).join(parts)), lang)


def _counted(pairs, lang: str) -> str:
    """ "12 reset, 3 no-response" from [(count, reason)]."""
    from ..messages import T, label, render

    return label("comma", lang).join(render(T("analyze.counted", n=n, reason=r), lang) for n, r in pairs)


def hosts_and_hidden(hosts):
    """(hosts to list, {reason: count} of the hidden ones): like nmap, which
    lists the hosts that are up, a sweep's down hosts are summed up once more
    than COLLAPSE_MIN of them would fill the table."""
    down = [h for h in hosts if h.state.value == "down"]
    if len(down) < COLLAPSE_MIN:
        return list(hosts), {}
    return [h for h in hosts if h.state.value != "down"], dict(Counter(h.reason.value for h in down).most_common())


def not_shown_hosts_line(hidden: dict, lang: str = "en") -> str:
    """ "Not shown: 254 down hosts (no-response)", in the words of not_shown_line."""
    from ..messages import T, render

    total = sum(hidden.values())
    why = next(iter(hidden)) if len(hidden) == 1 else _counted([(n, r) for r, n in hidden.items()], lang)
    return render(T("analyze.not-shown", parts=T("analyze.not-shown.hosts", n=total, why=why)), lang)


def ports_attr(ports) -> str:
    """1-21,23-79,81: nmap's ranges of port numbers."""
    import numpy as np

    nums = np.unique(np.asarray(ports, np.int64))
    if not len(nums):
        return ""
    breaks = np.nonzero(np.diff(nums) != 1)[0]
    starts = np.r_[nums[0], nums[breaks + 1]].tolist()
    ends = np.r_[nums[breaks], nums[-1]].tolist()
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in zip(starts, ends))


_PROTO_CODE = {"tcp": 0, "udp": 1, "sctp": 2, "ip": 3}


def port_numbers(ports):
    """The port numbers of a scan's ports (columns need no PortResult each)."""
    if is_port_table(ports):
        return ports.port.tolist()
    return [p.port for p in ports]


def host_items(tscans) -> list:
    """What nmap XML says of one host's ports, in order: ("extra", state, count,
    [(reason, count, proto, ports)]) for each hidden state, then ("port",
    proto, port, state, reason, ttl) and ("comment", text) as the scans give
    them; each port once, the first scan's verdict kept (later scans of the
    same port by another technique are named in a comment)."""
    entries = []  # ("port", proto, port, state, reason, ttl) or ("comment", text)
    written: dict = {}  # proto code * 65536 + port -> technique
    techs: list = []  # technique names, for the columns below
    wk = wt = None  # written keys (sorted) and their technique numbers, for columns
    for s in tscans:
        tech = s.technique.value
        ports = s.ports
        if not is_port_table(ports):
            for p in ports:
                key = _PROTO_CODE.get(p.proto, 4) * 65536 + p.port
                if key in written:
                    if written[key] != tech:
                        entries.append(("comment", _omitted(s, p)))
                    continue
                written[key] = tech
                wk = None
                v = p.verdict
                entries.append(("port", p.proto, p.port, v.state.value, v.reason.value, v.reason_ttl))
            continue
        import numpy as np

        from ..model import Reason, State

        states, reasons = list(State), list(Reason)
        if tech not in techs:
            techs.append(tech)
        if wk is None:
            items = sorted(written.items())
            wk = np.array([k for k, _t in items], np.int64)
            for _k, t in items:
                if t not in techs:
                    techs.append(t)
            wt = np.array([techs.index(t) for _k, t in items], np.int64)
        keys = ports.udp.astype(np.int64) * 65536 + ports.port
        pos = np.clip(np.searchsorted(wk, keys), 0, max(len(wk) - 1, 0))
        done = (wk[pos] == keys) if len(wk) else np.zeros(len(keys), bool)
        other = np.nonzero(done & (wt[pos] != techs.index(tech)))[0] if len(wk) else np.zeros(0, np.int64)
        new = np.nonzero(~done)[0]
        # in port order, as the original loop: new ports and comments interleaved
        for i in np.sort(np.r_[new, other]).tolist():
            obj = ports.objects.get(i)
            if done[i]:
                entries.append(("comment", _omitted(s, ports[i])))
            elif obj is not None:
                v = obj.verdict
                entries.append(("port", obj.proto, obj.port, v.state.value, v.reason.value, v.reason_ttl))
            else:
                entries.append(("port", "udp" if ports.udp[i] else "tcp", int(ports.port[i]),
                                states[ports.state[i]].value, reasons[ports.reason[i]].value, int(ports.ttl[i])))
        for k in keys[new].tolist():
            written[k] = tech
        if len(new):
            wk = np.concatenate([wk, keys[new]])
            wt = np.concatenate([wt, np.full(len(new), techs.index(tech), np.int64)])
            o = np.argsort(wk, kind="stable")
            wk, wt = wk[o], wt[o]
    counts = Counter(e[3] for e in entries if e[0] == "port")
    hidden = hidden_states(counts)
    out = []
    for state in hidden:
        by: dict = {}
        for e in entries:
            if e[0] == "port" and e[3] == state:
                by.setdefault((e[1], e[4]), []).append(e[2])
        items = [(proto, reason, ps) for (proto, reason), ps in by.items()]
        out.append(("extra", state, counts[state], extra_reasons(items)))
    hidden_set = set(hidden)
    for e in entries:
        if e[0] == "comment" or e[3] not in hidden_set:
            out.append(e)
    return out


def _omitted(s, p) -> str:
    return (f" {s.technique.value} scan of {p.port}/{p.proto} ({p.state.value}) from {s.scanner}"
            f" omitted: nmap XML keeps one verdict per port ")


def states_line(ports, comma: str = ", ", colon: str = ": ") -> str:
    """One line for a list of ports, as grade's feedback names what a capture
    shows: each port with its state ("80/tcp open, 81/tcp closed"), unless a
    state has more than COLLAPSE_MIN - 1 ports; then that state is counted and
    the others listed ("996 closed, 4 open|filtered: 22, 80, 443, 8200").
    Works on anything with .port, .proto and .state (PortResult, grade's Showing);
    `comma` and `colon` are the language's ("、" and "：" in Chinese)."""
    ports = sorted(ports, key=lambda p: (p.proto, p.port))
    counts = state_counts(ports)
    hidden = hidden_states(counts)
    if not hidden:
        return comma.join(f"{p.port}/{p.proto} {p.state.value}" for p in ports)
    one_proto = len({p.proto for p in ports}) == 1
    shown = sorted((s for s in counts if s not in hidden), key=lambda s: (-counts[s], -STATE_NUMBER.get(s, 0)))
    parts = [f"{counts[s]} {s}" for s in hidden]
    for state in shown:
        mine = [p for p in ports if p.state.value == state]
        if one_proto:
            listed = ports_attr([p.port for p in mine]).replace(",", comma)
        else:
            listed = comma.join(f"{p.port}/{p.proto}" for p in mine)
        parts.append(f"{counts[state]} {state}{colon}{listed}")
    return comma.join(parts)
