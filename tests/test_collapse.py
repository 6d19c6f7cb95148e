"""nmap's collapse of big states (report/collapse.py) reads a fast-path scan's
columns (fastpath.scans.PortTable) as it reads the same ports as PortResults:
the same ports listed, the same hidden ports under the same (proto, reason)."""
import numpy as np

from pcapscan.fastpath.scans import PortTable
from pcapscan.model import PortResult, Reason, State, Verdict
from pcapscan.report.collapse import not_shown_line, rows_and_hidden, state_counts

STATES, REASONS = list(State), list(Reason)


def mixed_table(rows, objects):
    """A PortTable of `rows` [(udp, port, state, reason)] (sorted by proto, port) whose rows
    `objects` {row: (state, reason)} are engine-built PortResults (their verdict theirs, the
    columns' left at closed/reset, as Assembler._scan leaves them)."""
    udp = np.array([r[0] for r in rows], bool)
    port = np.array([r[1] for r in rows], np.int32)
    state = np.array([STATES.index(r[2]) for r in rows], np.uint8)
    reason = np.array([REASONS.index(r[3]) for r in rows], np.uint8)
    n = len(rows)
    objs = {}
    for i, (st, rs) in objects.items():
        state[i], reason[i] = STATES.index(State.CLOSED), REASONS.index(Reason.RESET)
        objs[i] = PortResult(proto="udp" if udp[i] else "tcp", port=int(port[i]),
                             verdict=Verdict(state=st, reason=rs, probe_frames=(i,)), exchange=None)
    return PortTable(udp, port, state, reason, np.zeros(n, np.uint8), np.arange(n, dtype=np.uint32),
                     np.full(n, -1, np.int32), objs)


def as_sets(hidden):
    return {state: {(proto, reason, tuple(sorted(int(p) for p in ps))) for proto, reason, ps in items}
            for state, items in hidden.items()}


def test_a_port_table_collapses_as_its_port_results():
    rows = ([(False, p, State.CLOSED, Reason.RESET) for p in range(1, 61)]
            + [(False, p, State.FILTERED, Reason.NO_RESPONSE) for p in range(61, 91)]
            + [(False, p, State.FILTERED, Reason.HOST_UNREACH) for p in range(91, 95)]
            + [(False, 95, State.OPEN, Reason.SYN_ACK)]
            + [(True, p, State.OPEN_FILTERED, Reason.NO_RESPONSE) for p in range(1, 40)]
            + [(True, p, State.CLOSED, Reason.PORT_UNREACH) for p in range(40, 45)])
    # engine-built rows: one hidden among its state's, one shown, one of a reason no column row has
    objects = {3: (State.CLOSED, Reason.RESET), 70: (State.OPEN, Reason.SYN_ACK),
               80: (State.FILTERED, Reason.ADMIN_PROHIBITED)}
    table = mixed_table(rows, objects)
    listed = list(table)
    assert state_counts(table) == state_counts(listed)
    assert state_counts(table)["closed"] == 65 and state_counts(table)["open"] == 2
    shown, hidden = rows_and_hidden(table)
    shown_l, hidden_l = rows_and_hidden(listed)
    assert shown == shown_l and [p.port for p in shown] == [71, 95]
    assert list(hidden) == list(hidden_l) == ["closed", "open|filtered", "filtered"]  # most ports first
    assert as_sets(hidden) == as_sets(hidden_l)
    assert as_sets(hidden)["filtered"] == {
        ("tcp", "no-response", tuple(p for p in range(61, 91) if p not in (71, 81))),
        ("tcp", "host-unreach", (91, 92, 93, 94)), ("tcp", "admin-prohibited", (81,))}
    assert not_shown_line(hidden) == not_shown_line(hidden_l)


def test_a_port_table_of_one_hidden_shape():
    rows = [(False, p, State.CLOSED, Reason.RESET) for p in range(1, 101)]
    table = mixed_table(rows, {})
    shown, hidden = rows_and_hidden(table)
    assert shown == [] and list(hidden) == ["closed"]
    [(proto, reason, ports)] = hidden["closed"]
    assert (proto, reason, ports.tolist()) == ("tcp", "reset", list(range(1, 101)))
    assert as_sets(hidden) == as_sets(rows_and_hidden(list(table))[1])
