"""Claims: what a capture is meant to show, read the same way by every command.

A Claim names techniques (several for "xfn": Xmas, FIN and NULL), a port
state and a port, any of them possibly unknown. It is read from

    a claim string     parse_claim("stealth:OPEN:80")   verify --claim, --expect, claims.toml
    a file name        read_name("tcp_Xmas_f.pcap")      verify --claims-from-names, grade
    a technique name   parse_technique("half-open")      analyze -t, rubric technique lists

with one vocabulary. Technique words come from the technique registry: each
technique's own name, its nmap option (-sS) and its spec's aliases and Chinese names
(techniques/base.py). State words (nmap's six states, their spellings, typos,
Chinese words) are defined here. A word is matched as written, or run
together with others ("tcpsynscan"), or within one edit of a long technique
word or a common state word (two for long ones: "flitered", "opne"), or as a clear prefix ("filt"); a single
o, c or f beside a technique word is a state ("tcp_Xmas_f": xmas, filtered).

Policy only: bad claim strings and technique names raise UsageError; a file
name never does (a name that says nothing is an empty Claim). Nothing here
prints.
"""
from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Optional

from .errors import InputError, UsageError
from .model import State, Technique
from .techniques import REGISTRY

# -- the vocabulary -----------------------------------------------------------------------

# State words (lowercase ASCII); a name with two of them ("open-filtered")
# claims the state they make together (open|filtered).
STATE_WORDS = {
    "open": State.OPEN, "opened": State.OPEN, "opening": State.OPEN, "listen": State.OPEN,
    "listening": State.OPEN, "occupied": State.OPEN, "occupy": State.OPEN, "inuse": State.OPEN,
    "closed": State.CLOSED, "close": State.CLOSED, "closing": State.CLOSED, "shut": State.CLOSED,
    "shutdown": State.CLOSED, "stopped": State.CLOSED,
    "filtered": State.FILTERED, "filter": State.FILTERED, "filterd": State.FILTERED, "filtred": State.FILTERED,
    "firewalled": State.FILTERED, "firewall": State.FILTERED, "fw": State.FILTERED, "blocked": State.FILTERED,
    "block": State.FILTERED, "drop": State.FILTERED, "dropped": State.FILTERED, "deny": State.FILTERED,
    "denied": State.FILTERED,
    "unfiltered": State.UNFILTERED, "unfilterd": State.UNFILTERED,
}
# Chinese state words (matched inside runs of Chinese text, longest first).
STATE_WORDS_ZH = {
    "开放或被过滤": State.OPEN_FILTERED, "关闭或被过滤": State.CLOSED_FILTERED, "未被过滤": State.UNFILTERED,
    "未过滤": State.UNFILTERED, "被过滤": State.FILTERED, "过滤": State.FILTERED, "屏蔽": State.FILTERED,
    "拦截": State.FILTERED, "开放": State.OPEN, "开启": State.OPEN, "打开": State.OPEN, "关闭": State.CLOSED,
    "开": State.OPEN, "关": State.CLOSED,
}
# A single letter beside a technique word: "tcp_stealth_f", "syn_o_80".
STATE_LETTERS = {"o": State.OPEN, "c": State.CLOSED, "f": State.FILTERED}
STATE_PHRASES = {("in", "use"): "inuse", ("shut", "down"): "shutdown"}
# State words a misspelling is matched to ("opne", "closd", "flitered").
STATE_TYPO_TARGETS = ("open", "opened", "closed", "close", "filtered", "filter", "unfiltered", "listening",
                      "occupied", "blocked", "dropped")
# Words that say nothing about the claim.
FILLERS = frozenset({"tcp", "scan", "scans", "scanning", "scanner", "port", "ports", "test", "result", "capture",
                     "captured", "pkt", "pkts", "pcap", "pcapng", "dump", "cap", "traffic", "wireshark", "nmap",
                     "scapy", "state", "status", "the", "and", "or", "with", "to", "of", "lab", "demo", "tree"})
# Capture extensions cut off a file name before it is read.
CAPTURE_EXTENSIONS = (".pcap", ".pcapng", ".cap", ".ntar", ".dmp", ".pcap.gz", ".pcapng.gz", ".cap.gz")

_CJK = r"\u4e00-\u9fff"


def _ascii_words(text: str) -> list:
    return re.findall(r"[a-z]+", text.lower())


class _Vocabulary:
    """Every word a claim may use, built once from the registry and the tables above."""

    def __init__(self):
        self.techniques = {}  # word -> Technique
        self.nmap_flags = {}  # "ss" -> Technique (written -sS or sS)
        self.phrases = dict(STATE_PHRASES)  # (word, word, ...) -> the word they make
        zh = {}
        for tech, spec in REGISTRY.items():
            self.techniques[tech.value] = tech
            flag = spec.nmap_option.lstrip("-").lower()
            if len(flag) == 2:
                self.nmap_flags[flag] = tech
            for alias in spec.aliases + spec.names_zh:
                if re.search(f"[{_CJK}]", alias):
                    zh[alias] = ("tech", tech)
                    continue
                words = _ascii_words(alias)
                self.techniques["".join(words)] = tech
                if len(words) > 1:
                    self.phrases[tuple(words)] = "".join(words)
        zh.update({w: ("state", s) for w, s in STATE_WORDS_ZH.items()})
        self.zh = sorted(zh.items(), key=lambda kv: -len(kv[0]))  # longest first: 关闭 before 关
        self.words = {**{w: ("tech", t) for w, t in self.techniques.items()},
                      **{w: ("state", s) for w, s in STATE_WORDS.items()},
                      **{w: ("filler", None) for w in FILLERS}}
        # misspellings are matched to these: technique words of seven letters or more ("window" would
        # take "windows"), the state words above
        self.fuzzy = {**{w: ("tech", t) for w, t in self.techniques.items() if len(w) >= 7},
                      **{w: ("state", STATE_WORDS[w]) for w in STATE_TYPO_TARGETS}}
        self.longest_phrase = max(len(p) for p in self.phrases)


_VOCAB: Optional[_Vocabulary] = None


def vocabulary() -> _Vocabulary:
    global _VOCAB
    if _VOCAB is None:
        _VOCAB = _Vocabulary()
    return _VOCAB


# -- the one result type ------------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    """What a capture is meant to show: techniques, a state, a port; any may
    be unknown (a file name often says less than a claim string)."""

    techniques: tuple = ()  # Technique, ... (a single Technique is taken as a one-tuple)
    state: Optional[State] = None
    port: Optional[int] = None
    source: str = "--claim"  # "--claim", an expectations file's name, "claims.toml", "file name", "folder name"

    def __post_init__(self):
        techs = self.techniques
        techs = (techs,) if isinstance(techs, Technique) else tuple(Technique(t) for t in techs)
        object.__setattr__(self, "techniques", tuple(dict.fromkeys(techs)))

    @property
    def technique(self) -> Optional[Technique]:
        """The technique, when the claim names exactly one."""
        return self.techniques[0] if len(self.techniques) == 1 else None

    @property
    def proto(self) -> str:
        return REGISTRY[self.technique].proto

    @property
    def empty(self) -> bool:
        """Names neither technique nor state (it may still name a port)."""
        return not self.techniques and self.state is None

    def split(self) -> tuple:
        """One claim per technique, same state, port and source."""
        return tuple(Claim((t,), self.state, self.port, self.source) for t in self.techniques)

    def __str__(self) -> str:
        """"syn:open:80", "xmas/fin/null:closed"; "xmas", "xmas:?:22" when no state is named."""
        tech = "/".join(t.value for t in self.techniques) or "?"
        if self.state is None and self.port is None:
            return tech
        state = self.state.value if self.state is not None else "?"
        return f"{tech}:{state}" + (f":{self.port}" if self.port is not None else "")

    def text(self, lang: str = "en") -> str:
        """For reports: "connect × open", "xmas/fin/null × closed", "syn × ? (port 80)"."""
        tech = "/".join(t.value for t in self.techniques) or ("?" if self.state else "")
        state = self.state.value if self.state else ("?" if self.techniques else "")
        out = f"{tech} × {state}" if tech or state else ""
        if self.port is not None:
            out = f"{out} (port {self.port})" if lang == "en" else f"{out}（端口 {self.port}）"
        return out.strip()


# -- reading words -------------------------------------------------------------------------

@dataclass
class _Words:
    techniques: list
    states: list
    port: Optional[int]
    unread: list  # tokens that are no word of the vocabulary


def _tokens(text: str, v: _Vocabulary) -> list:
    """Lowercase ASCII tokens of a text: camelCase split, nmap options kept
    whole ("-ss"), digits apart, phrases joined ("half open" -> "halfopen")."""
    tokens = []
    for m in re.finditer(r"[A-Za-z]+|\d+", text):
        part = m.group()
        dashed = m.start() > 0 and text[m.start() - 1] == "-"
        if part.isdigit():
            tokens.append(part)
        elif len(part) == 2 and part.lower() in v.nmap_flags and (dashed or re.fullmatch(r"s[A-Z]", part)):
            tokens.append("-" + part.lower())  # "-sS", "sS": an nmap option, not two letters
        else:
            tokens += [t.lower() for t in re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+", part)]
    merged, i = [], 0
    while i < len(tokens):
        for n in range(min(v.longest_phrase, len(tokens) - i), 1, -1):
            if tuple(tokens[i:i + n]) in v.phrases:
                merged.append(v.phrases[tuple(tokens[i:i + n])])
                i += n
                break
        else:
            merged.append(tokens[i])
            i += 1
    return merged


def _read(text: str, ports: bool = False) -> _Words:
    """Every technique and state word of a text (a file name, a claim's part)."""
    v = vocabulary()
    techs, states, port, unread = [], [], None, []
    for run in re.findall(f"[{_CJK}]+", text):
        i = 0
        while i < len(run):
            for word, (kind, value) in v.zh:
                if run.startswith(word, i):
                    (techs if kind == "tech" else states).append(value)
                    i += len(word)
                    break
            else:
                i += 1
    tokens = _tokens(text, v)
    readings = []  # per token: [(kind, value)], or None for a token no word reads
    for tok in tokens:
        if tok.isdigit():
            readings.append([("digits", tok)])
        elif tok.startswith("-"):
            readings.append([("tech", v.nmap_flags[tok[1:]])])
        else:
            readings.append(_read_token(tok, v))
    for i, tok in enumerate(tokens):
        if readings[i] is None and tok in STATE_LETTERS and _beside_technique(readings, i):
            readings[i] = [("state", STATE_LETTERS[tok])]
    for tok, found in zip(tokens, readings):
        if found is None:
            unread.append(tok)
            continue
        for kind, value in found:
            if kind == "tech":
                techs.append(value)
            elif kind == "state":
                states.append(value)
            elif kind == "digits" and ports and port is None and 2 <= len(value) <= 5 \
                    and not value.startswith("0") and int(value) <= 65535:
                port = int(value)
    return _Words(techs, states, port, unread)


def _beside_technique(readings: list, i: int) -> bool:
    """Is the nearest word on either side (fillers skipped) a technique?"""
    for step in (-1, 1):
        j = i + step
        while 0 <= j < len(readings) and readings[j] == []:
            j += step
        if 0 <= j < len(readings) and readings[j] and all(kind == "tech" for kind, _ in readings[j]):
            return True
    return False


def _read_token(tok: str, v: _Vocabulary) -> Optional[list]:
    """[(kind, value)] of one lowercase ASCII token ([] for a filler, None for
    no word): a word, words run together ("synscan", "connectopen"), Xmas/FIN/
    NULL initials ("xfn"), a misspelling ("flitered", "opne"), a clear prefix ("filt")."""
    if tok in v.words:
        kind, value = v.words[tok]
        return [] if kind == "filler" else [(kind, value)]
    if 2 <= len(tok) <= 3 and set(tok) <= set("xfn") and len(set(tok)) == len(tok):
        initials = {"x": Technique.XMAS, "f": Technique.FIN, "n": Technique.NULL}
        return [("tech", initials[c]) for c in tok]
    split = _segment(tok, v)
    if split is not None:
        return [v.words[w] for w in split if v.words[w][0] != "filler"]
    if len(tok) >= 4:
        near = {}
        for word, kv in v.fuzzy.items():
            limit = 2 if min(len(word), len(tok)) >= 8 else 1
            if abs(len(word) - len(tok)) <= limit and (len(tok) > 4 or sorted(tok) == sorted(word)):
                d = _distance(tok, word)  # four letters: a transposition only ("opne")
                if d <= limit:
                    near.setdefault(d, set()).add(kv)
        if near:
            best = near[min(near)]
            if len(best) == 1:
                return [best.pop()]
    if len(tok) >= 3:
        stems = {("state", s) for word, s in STATE_WORDS.items() if word.startswith(tok)}
        if len(tok) >= 4:
            stems |= {("tech", t) for word, t in v.techniques.items() if word.startswith(tok)}
        if len(stems) == 1:
            return [stems.pop()]
    return None


def _segment(tok: str, v: _Vocabulary) -> Optional[list]:
    """Split a token into vocabulary words covering all of it (fewest words), or None."""
    best: list = [None] * (len(tok) + 1)
    best[0] = []
    for end in range(1, len(tok) + 1):
        for start in range(max(0, end - 16), end):
            if best[start] is not None and tok[start:end] in v.words:
                cand = best[start] + [tok[start:end]]
                if best[end] is None or len(cand) < len(best[end]):
                    best[end] = cand
    return best[len(tok)] if best[len(tok)] and len(best[len(tok)]) > 1 else None


def _distance(a: str, b: str) -> int:
    """Edit distance with adjacent transpositions (optimal string alignment)."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def _one_state(states: list) -> Optional[State]:
    """The state several state words make: one word, or open+filtered
    (open|filtered), closed+filtered (closed|filtered); None otherwise."""
    found = set(states)
    if len(found) == 1:
        return found.pop()
    if found == {State.OPEN, State.FILTERED}:
        return State.OPEN_FILTERED
    if found == {State.CLOSED, State.FILTERED}:
        return State.CLOSED_FILTERED
    return None  # none, or "open_closed": no state can be read


# -- the three readers ---------------------------------------------------------------------

def _technique_names() -> str:
    return ", ".join(t.value for t in REGISTRY)


def parse_technique(text) -> Technique:
    """One technique from its name or any alias ("stealth", "TCP connect",
    "-sS", "半开扫描"); a Technique is returned as it is. UsageError otherwise."""
    if isinstance(text, Technique) and text in REGISTRY:
        return text
    w = _read(str(getattr(text, "value", text)))
    techs = list(dict.fromkeys(w.techniques))
    if len(techs) != 1 or w.states or w.unread:
        raise UsageError(f"unknown technique {str(text)!r} (use {_technique_names()}, "
                         "or stealth, half-open, tcp connect, christmas, -sS ...)")
    return techs[0]


def parse_techniques(text) -> tuple:
    """The techniques a claim's first part names: one, or several ("xfn")."""
    w = _read(str(text))
    techs = tuple(dict.fromkeys(w.techniques))
    if not techs or w.states or w.unread:
        raise UsageError(f"unknown technique {str(text)!r} (use {_technique_names()}, "
                         "or stealth, half-open, tcp connect, christmas, -sS ...)")
    return techs


def parse_state(text) -> State:
    """A port state, leniently spelled ("OPEN", "close", "filterd",
    "open/filtered", "Open_Filtered", 开放). UsageError otherwise."""
    if isinstance(text, State):
        return text
    w = _read(str(text))
    state = _one_state(w.states)
    if state is None or w.techniques or w.unread:
        raise UsageError(f"unknown port state {str(text)!r} (use {', '.join(s.value for s in State)})")
    return state


def parse_claim(text, source: str = "--claim") -> Claim:
    """TECHNIQUE:STATE[:PORT], leniently spelled ("stealth:OPEN:80", "xfn:closed")."""
    parts = str(text).split(":")
    if len(parts) not in (2, 3) or not all(p.strip() for p in parts):
        raise UsageError(f"bad claim {text!r}: expected TECHNIQUE:STATE[:PORT], e.g. syn:open:80")
    port = None
    if len(parts) == 3:
        try:
            port = int(parts[2])
        except ValueError:
            raise UsageError(f"bad port in claim {text!r}: {parts[2]!r} is not a number") from None
        if not 0 <= port <= 65535:
            raise UsageError(f"bad port in claim {text!r}: {port} is not in 0-65535")
    return Claim(parse_techniques(parts[0]), parse_state(parts[1]), port, source)


def read_name(path) -> Claim:
    """What a capture's name says it shows, read leniently: "connect_OPEN.pcap",
    "tcpConnectScan-flitered.pcap", "half-open_closed", "tcp_Xmas_f",
    "xfn_filtered" (Xmas, FIN and NULL), "tcp_XMas_22" (a port, no state),
    "半开扫描_关闭". Never raises: a name that says nothing is an empty Claim.

    The file's own name comes first; the folders of `path`, nearest first,
    fill in a technique or a state it lacks (pass a bare file name to read
    the file name alone). A port is read off the file name only: 2 to 5
    digits, in a name that names a technique or a state."""
    p = PurePosixPath(str(path).replace(os.sep, "/"))
    stem = p.name
    for ext in sorted(CAPTURE_EXTENSIONS + (".gz",), key=len, reverse=True):
        if stem.lower().endswith(ext) and len(stem) > len(ext):
            stem = stem[: -len(ext)]
            break
    w = _read(stem, ports=True)
    techs, states, port = w.techniques, w.states, w.port
    if not techs and not states:
        port = None  # a number alone ("2022-report", "scan1") is not a port claim
    source = "file name" if techs or states or port is not None else "folder name"
    if not techs or not states:
        for folder in reversed(p.parent.parts):
            f = _read(folder)
            if not techs and f.techniques:
                techs = f.techniques
            if not states and f.states:
                states = f.states
    return Claim(tuple(techs), _one_state(states), port, source)


# -- claims for many captures: verify --expect, grade's claims.toml ---------------------------

@dataclass(frozen=True)
class Expectations:
    """Claims for many captures, from a TOML file. Two spellings:

        [[capture]]
        path = "lab/stealth-open.pcap"      # a path or a glob, relative to the TOML file
        claims = ["syn:open:80"]

        [claims]
        "lab/*-closed.pcap" = ["syn:closed"]
    """

    source: str
    entries: tuple  # ((absolute pattern, pattern as written, (Claim, ...)), ...)

    def match(self, capture: str) -> Optional[tuple]:
        """Claims of every entry whose pattern matches the capture's path (or,
        for a pattern without a directory, its file name); None when no entry
        names it (an entry may name it with no claim: an empty tuple)."""
        hit, out = False, []
        for pattern, written, claims in self.entries:
            if self._matches(pattern, written, capture):
                hit = True
                out.extend(claims)
        return tuple(out) if hit else None

    @staticmethod
    def _matches(pattern: str, written: str, capture: str) -> bool:
        path = os.path.abspath(capture)
        return fnmatch.fnmatch(path, pattern) or ("/" not in written
                                                  and fnmatch.fnmatch(os.path.basename(path), written))

    def claims_for(self, capture: str) -> tuple:
        return self.match(capture) or ()

    def unmatched(self, captures) -> list:
        """The glob patterns, as written, that match no file and none of `captures`:
        most likely a typo, which would otherwise drop the pattern's claims unsaid."""
        import glob

        return [written for pattern, written, _ in self.entries
                if any(c in pattern for c in "*?[") and not glob.glob(pattern)
                and not any(self._matches(pattern, written, c) for c in captures)]

    def captures(self) -> list:
        """The files the entries name, globs expanded, in file order (missing plain paths kept)."""
        import glob

        seen, out = set(), []
        for pattern, written, _ in self.entries:
            if any(c in pattern for c in "*?["):
                found = sorted(glob.glob(pattern))
            elif "/" in written or os.path.exists(pattern):
                found = [pattern]
            else:
                found = []  # a bare file name matches captures anywhere; it names no file here
            for f in found:
                rel = os.path.relpath(f)
                f = f if rel.startswith("..") else rel  # as the user would have typed it
                if f not in seen:
                    seen.add(f)
                    out.append(f)
        return out


def load_expectations(path, source: Optional[str] = None) -> Expectations:
    """An Expectations from a TOML file; `source` names the claims' origin
    (default: the file's name). UsageError/InputError for a file that cannot be used."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise UsageError("--expect needs Python 3.11 (tomllib) or the tomli package") from None
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"{path}: no such expectations file") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    base = os.path.dirname(os.path.abspath(path))
    source = source or os.path.basename(str(path))
    raw: list = []
    for i, entry in enumerate(data.get("capture", [])):
        if not isinstance(entry, dict) or "path" not in entry:
            raise UsageError(f"{path}: [[capture]] entry {i + 1} has no path")
        raw.append((entry["path"], entry.get("claims", entry.get("claim", []))))
    for pattern, claims in data.get("claims", {}).items():
        raw.append((pattern, claims))
    unknown = set(data) - {"capture", "claims"}
    if unknown:
        raise UsageError(f"{path}: unknown key(s) {', '.join(sorted(unknown))} (use [[capture]] or [claims])")
    entries = []
    for pattern, claims in raw:
        if isinstance(claims, str):
            claims = [claims]
        parsed = tuple(_toml_claim(c, path, source) for c in claims)
        entries.append((os.path.normpath(os.path.join(base, str(pattern))), str(pattern), parsed))
    return Expectations(source=str(path), entries=tuple(entries))


def _toml_claim(value, path, source) -> Claim:
    if isinstance(value, dict):  # {technique = "syn", state = "open", port = 80}
        text = f"{value.get('technique', '')}:{value.get('state', '')}"
        if value.get("port") is not None:
            text += f":{value['port']}"
        value = text
    try:
        return parse_claim(str(value), source)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None


__all__ = ["Claim", "parse_claim", "parse_technique", "parse_techniques", "parse_state", "read_name",
           "Expectations", "load_expectations", "STATE_WORDS", "STATE_WORDS_ZH", "STATE_LETTERS",
           "CAPTURE_EXTENSIONS", "vocabulary"]
