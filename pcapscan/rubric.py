"""The rubric of `pcapscan grade`: which cells (technique x port state) a
submission must show, what each is worth, and what earns the points.

Policy as data. The default is the seeds' lab (connect, stealth/SYN, Xmas,
FIN, NULL and UDP scans, each against an open, a closed and a filtered
port); `pcapscan rubric init` prints it as TOML to edit. Every number can
be changed; a rubric that cannot be used is one line of UsageError or
InputError, never a traceback.

A cell's points are earned in three parts (docs/grade.md):

    technique    the capture holds the claimed technique's probes and behaves
                 as that technique (a connect scan completes the handshake)
    state        its packets support the claimed state under the technique's
                 state table; `ambiguous` is the share earned when they
                 support it only loosely (open|filtered for a claimed open)
    conformance  the traffic conforms to the textbook: each of verify's rules
                 (and grade's own port-not-probed) found in the cell costs its
                 penalty once, never below zero
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from .errors import InputError, UsageError
from .model import State, Technique

# Grade's own rules (verify's rules are listed in verify.RULES). state-not-shown: a capture
# counted for a cell whose state its name does not claim shows another state (verify's
# state rules word a claim; this one words the cell).
PORT_NOT_PROBED = "port-not-probed"
STATE_NOT_SHOWN = "state-not-shown"
GRADE_RULES = (PORT_NOT_PROBED, STATE_NOT_SHOWN)
DUPLICATE_ACTIONS = ("flag", "zero")
CELL_STATES = (State.OPEN, State.CLOSED, State.FILTERED)

DEFAULT_RUBRIC_TOML = '''\
# pcapscan grade rubric (TOML): `pcapscan rubric init > rubric.toml`, edit it,
# then `pcapscan grade SUBMISSIONS --rubric rubric.toml`. Every number may change.
#
# The seeds' lab: each technique tested against an open, a closed and a
# filtered port. One cell per technique x state: 6 x 3 = 18 cells.

name = "port scanning with scapy (the seeds' lab)"
techniques = ["connect", "syn", "xmas", "fin", "null", "udp"]   # syn = stealth
states = ["open", "closed", "filtered"]

# The points of every cell, earned in three parts.
[points]
technique = 1      # the capture holds the technique's probes and behaves as it
                   # (a "connect" scan whose handshake never completes is a SYN scan)
state = 2          # the packets support the claimed state (technique's state table)
conformance = 1    # the traffic conforms to the textbook: minus the penalties below
ambiguous = 0.5    # share of the state points when the packets support the claim only
                   # loosely: open|filtered (silence) for a claimed open or filtered

# A cell worth other points, or not required (uncomment to use):
# [cells."udp:open"]
# state = 3
# [cells."null:filtered"]
# required = false

# Taken from the conformance points, once per rule per cell (never below 0).
# Rule ids are verify's (docs/verify.md) and grade's own port-not-probed, state-not-shown.
# A rule not listed costs nothing.
[penalties]
"rst-port-mismatch" = 0.5          # the script's RST leaves from another source port
"rst-out-of-window" = 0.5          # the script's RST carries a sequence number the target drops
"icmp-ignored" = 0.5               # an ICMP error the seeds' demo code never reports
"port-not-probed" = 0.5            # a port the student's other captures probe is missing here
"reset-flags" = 0                  # the target's (or a firewall's) RST: not the student's doing
"rfc793-deviation" = 0             # the target's stack
"kernel-rst" = 0                   # normal for a raw-socket SYN scan
"handshake-incomplete" = 0         # already costs the technique points
"handshake-completed" = 0          # already costs the technique points
"probe-flags-mismatch" = 0         # already costs the technique points
"state-mismatch" = 0               # already costs the state points
"state-overclaim" = 0              # already costs part of the state points (ambiguous)
"state-underclaim" = 0
"state-not-shown" = 0              # a capture not named for the state: already costs the state points
"filter-simulated-as-reject" = 0   # already costs the state points
"empty-capture" = 0                # no evidence: the cell earns nothing anyway
"no-probe" = 0

[duplicates]
# The same capture (the same packet records) handed in by two students is always
# named in both reports. "flag": nothing more; "zero": cells shown by it earn 0.
action = "flag"
'''


@dataclass(frozen=True)
class CellSpec:
    technique: Technique
    state: State
    technique_points: float
    state_points: float
    conformance_points: float

    @property
    def key(self) -> str:
        return f"{self.technique.value}:{self.state.value}"

    @property
    def max(self) -> float:
        return self.technique_points + self.state_points + self.conformance_points


@dataclass(frozen=True)
class Rubric:
    name: str
    cells: tuple  # CellSpec, in rubric order (techniques, then states)
    ambiguous: float
    penalties: tuple  # ((rule id, penalty), ...)
    duplicates: str = "flag"
    source: str = "default rubric"

    @property
    def max(self) -> float:
        return round(sum(c.max for c in self.cells), 4)

    @property
    def techniques(self) -> tuple:
        return tuple(dict.fromkeys(c.technique for c in self.cells))

    def penalty(self, rule_id: str) -> float:
        return dict(self.penalties).get(rule_id, 0.0)


def known_rules() -> tuple:
    from .verify import RULES

    return tuple(sorted(set(RULES) | set(GRADE_RULES)))


def default_rubric() -> Rubric:
    return parse_rubric(DEFAULT_RUBRIC_TOML, "default rubric")


def load_rubric(path) -> Rubric:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise InputError(f"{path}: no such rubric file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a rubric file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the rubric: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: the rubric is not UTF-8 text") from None
    return parse_rubric(text, str(path))


def parse_rubric(text: str, source: str = "rubric") -> Rubric:
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{source}: not valid TOML: {exc}") from None

    def bad(what: str) -> UsageError:
        return UsageError(f"{source}: {what}")

    unknown = set(data) - {"name", "techniques", "states", "points", "cells", "penalties", "duplicates"}
    if unknown:
        raise bad(f"unknown key(s) {', '.join(sorted(unknown))} (use name, techniques, states, points, cells, "
                  "penalties, duplicates)")
    name = data.get("name", "rubric")
    if not isinstance(name, str):
        raise bad("name must be a string")
    techniques = _names(data.get("techniques", ["connect", "syn", "xmas", "fin", "null", "udp"]), "techniques",
                        _technique, bad)
    states = _names(data.get("states", ["open", "closed", "filtered"]), "states", _state, bad)

    points = _table(data, "points", bad)
    _only(points, {"technique", "state", "conformance", "ambiguous"}, "[points]", bad)
    base = {k: _number(points.get(k, default), f"[points] {k}", bad)
            for k, default in (("technique", 1), ("state", 2), ("conformance", 1))}
    ambiguous = _number(points.get("ambiguous", 0.5), "[points] ambiguous", bad)
    if ambiguous > 1:
        raise bad(f"[points] ambiguous is a share of the state points, between 0 and 1 (got {ambiguous:g})")

    overrides = {}
    for key, spec in _table(data, "cells", bad).items():
        cell = _cell_key(key, bad)
        if cell not in {(t, s) for t in techniques for s in states}:
            names = f"{', '.join(t.value for t in techniques)} x {', '.join(s.value for s in states)}"
            raise bad(f"[cells.\"{key}\"] is not a cell of this rubric ({names})")
        if not isinstance(spec, dict):
            raise bad(f"[cells.\"{key}\"] must be a table (technique, state, conformance, required)")
        _only(spec, {"technique", "state", "conformance", "required"}, f"[cells.\"{key}\"]", bad)
        required = spec.get("required", True)
        if not isinstance(required, bool):
            raise bad(f"[cells.\"{key}\"] required must be true or false")
        overrides[cell] = (required, {k: _number(spec[k], f"[cells.\"{key}\"] {k}", bad)
                                      for k in ("technique", "state", "conformance") if k in spec})

    cells = []
    for t in techniques:
        for s in states:
            required, own = overrides.get((t, s), (True, {}))
            if required:
                p = {**base, **own}
                cells.append(CellSpec(t, s, p["technique"], p["state"], p["conformance"]))
    if not cells:
        raise bad("no cell is required")

    penalties = _table(data, "penalties", bad)
    rules = known_rules()
    for rule_id, value in penalties.items():
        if rule_id not in rules:
            raise bad(f"[penalties] unknown rule {rule_id!r} (known: {', '.join(rules)})")
    parsed = tuple((r, _number(v, f"[penalties] {r}", bad)) for r, v in penalties.items())

    dup = _table(data, "duplicates", bad)
    _only(dup, {"action"}, "[duplicates]", bad)
    action = dup.get("action", "flag")
    if action not in DUPLICATE_ACTIONS:
        raise bad(f"[duplicates] action must be one of {', '.join(DUPLICATE_ACTIONS)} (got {action!r})")
    return Rubric(name=name, cells=tuple(cells), ambiguous=ambiguous, penalties=parsed, duplicates=action,
                  source=source)


# -- validation helpers ------------------------------------------------------------

def _table(data: dict, key: str, bad) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise bad(f"{key} must be a table ([{key}])")
    return value


def _only(table: dict, allowed: set, where: str, bad) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise bad(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (use {', '.join(sorted(allowed))})")


def _number(value, where: str, bad) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise bad(f"{where} must be a number >= 0 (got {value!r})")
    return float(value)


def _names(value, key: str, parse, bad) -> tuple:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise bad(f"{key} must be a non-empty list of names")
    out = []
    for v in value:
        item = parse(v)
        if item is None:
            raise bad(f"{key}: unknown name {v!r}")
        if item in out:
            raise bad(f"{key}: {v!r} is listed twice")
        out.append(item)
    return tuple(out)


def _technique(text: str) -> Optional[Technique]:
    from .claims import parse_technique

    try:
        return parse_technique(text)
    except UsageError:
        return None


def _state(text: str) -> Optional[State]:
    from .claims import parse_state

    try:
        state = parse_state(text)
    except UsageError:
        return None
    return state if state in CELL_STATES else None


def _cell_key(key: str, bad) -> tuple:
    parts = key.split(":")
    if len(parts) != 2:
        raise bad(f"[cells.\"{key}\"]: a cell is named TECHNIQUE:STATE, e.g. \"udp:open\"")
    t, s = _technique(parts[0]), _state(parts[1])
    if t is None or s is None:
        raise bad(f"[cells.\"{key}\"]: unknown technique or state")
    return (t, s)


__all__ = ["Rubric", "CellSpec", "DEFAULT_RUBRIC_TOML", "default_rubric", "load_rubric", "parse_rubric",
           "known_rules", "PORT_NOT_PROBED"]
