"""Which tool sent a scan session: policy, from the probes' own fields.

    guess = identify(exchanges)      # ToolGuess(name, confidence, evidence)

Every tool builds its probes its own way, and the fields show it: nmap's raw
probes take a random TTL from 37-59, a window of 1024 and MSS as the SYN's
only option, one source port for a whole scan (retries from nearby ports)
and one sequence number for every first try; an operating system's
connect() puts SACK, timestamps and window scaling on its SYN and a new
ephemeral port on each connection; masscan sends TTL 255, window 1024 and an
IP ID of (destination address ^ port ^ seq); zmap TTL 255, window 65535 and
IP ID 54321; scapy, left to its defaults, source port 20 (TCP) or 53 (UDP),
window 8192, sequence number 0 and IP ID 1; hping3 window 512, a non-zero
acknowledgment number without the ACK flag and a source port that grows by
one per packet; unicornscan (its default profile) TTL 255, window 4128 and
MSS alone.

Each tool is a `Signature`: a list of `Clue`s, declared as data below. A
clue is a test of one field with a weight; the test says whether the session
shows the trait, in a sentence naming the field and the value seen, or that
it cannot tell (too few probes, no SYN, IPv6 has no IP ID, ...). A
signature's score is the weight of its clues that hold over the weight of
those that could be told; its confidence is that score, scaled down while
the weight behind it is small. The best signature with enough weight behind
it names the tool; with none, the guess is `unknown` and its evidence lists
the fields observed. A name never comes without the sentences that support
it; the sentences against it come too, marked "against:".
"""
from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from .kernel import OS_SYN_OPTION_KINDS, is_kernel_rst
from .model import ACK, RST, SYN, Exchange, flag_letters

TOOL_NAMES = ("nmap", "os-connect", "masscan", "zmap", "scapy", "hping3", "unicornscan", "unknown")

# A signature needs this much clue weight behind it to name a tool at all,
# and its confidence reaches its score only from FULL_WEIGHT on.
MIN_WEIGHT = 3.0
MIN_SCORE = 0.5
FULL_WEIGHT = 6.0

OPTION_NAMES = {0: "eol", 1: "nop", 2: "mss", 3: "wscale", 4: "sackOK", 5: "sack", 8: "TS", 19: "md5"}
INITIAL_TTLS = (32, 64, 128, 255)
NMAP_TTL_RANGE = (37, 59)  # nmap: each raw probe's TTL is random in 37..59
NMAP_WINDOWS = (1024, 2048, 3072, 4096)  # 7.x: 1024; older versions picked among these
# Windows operating systems put on a connect()'s SYN (Linux 64240/29200/64800/65160/
# 14600/5840, BSD and macOS 65535/16384, Windows 64240/8192/65535).
OS_WINDOWS = (64240, 29200, 64800, 65160, 65535, 14600, 5840, 16384, 8192, 42340, 43690, 32768)
# nmap OS detection (-O) probes: (window, TCP option kinds), nmap book "TCP/IP
# fingerprinting methods": SEQ 1-6, ECN and T2-T7.
NMAP_OS_PROBES = {
    (1, (3, 1, 2, 8, 4)): "SEQ1", (63, (2, 3, 4, 8, 0)): "SEQ2", (4, (8, 1, 1, 3, 1, 2)): "SEQ3",
    (4, (4, 8, 3, 0)): "SEQ4", (16, (2, 4, 8, 3, 0)): "SEQ5", (512, (2, 4, 8)): "SEQ6",
    (3, (3, 1, 2, 4, 1, 1)): "ECN", (128, (3, 1, 2, 8, 4)): "T2", (256, (3, 1, 2, 8, 4)): "T3",
    (1024, (3, 1, 2, 8, 4)): "T4", (31337, (3, 1, 2, 8, 4)): "T5", (32768, (3, 1, 2, 8, 4)): "T6",
    (65535, (3, 1, 2, 8, 4)): "T7",
}
NMAP_U1_IP_ID = 0x1042  # nmap OS detection's UDP probe: 300 bytes of 'C', IP ID 0x1042
# UDP ports nmap 7.93 sends a protocol payload to (nmap-payloads); other ports get an empty datagram.
NMAP_UDP_PAYLOAD_PORTS = frozenset(
    [7, 53, 67, 69, 80, 111, 123, 135, 137, 161, 177, 260, 389, 427, 443, 500, 520, 623, 626, 853, 1194, 1604,
     1645, 1701, 1812, 1900, 2049, 2123, 2152, 2302, 3283, 3386, 3391, 3401, 3478, 3784, 4045, 4433, 4500, 4665,
     4666, 4672, 4740, 5349, 5351, 5353, 5632, 5683, 5684, 5868, 6429, 6481, 6514, 6636, 7777, 8232, 8767, 9987,
     10001, 10080, 10161, 10162, 11211, 12346, 12446, 12546, 12646, 12746, 12846, 12946, 13046, 17185, 26198,
     27444, 31337, 34555, 44400, 48899, 64738]
    + list(range(1025, 1200)) + list(range(26000, 26005)) + list(range(27015, 27031))
    + list(range(27910, 27915)) + list(range(27960, 27965)) + list(range(30720, 30725))
    + list(range(32768, 65536)))  # ONCRPC to every high port
SCAPY_SPORT = {"tcp": 20, "udp": 53}


@dataclass(frozen=True, slots=True)
class ToolGuess:
    """The most likely tool for a scan session, how sure, and why."""

    name: str  # one of TOOL_NAMES
    confidence: float  # 0.0-1.0
    evidence: tuple = ()  # sentences naming fields and values

    def to_dict(self) -> dict:
        return {"name": self.name, "confidence": self.confidence, "evidence": list(self.evidence)}

    @property
    def label(self) -> str:
        return f"{self.name} ({self.confidence:.2f})"


# -- what the probes show -----------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """A session's packets, sorted out once for every clue."""

    exchanges: tuple
    probes: tuple  # every probe, in capture order
    first: tuple  # each exchange's first try, in capture order
    retries: tuple
    followups: tuple
    responses: tuple
    ip_version: int

    @classmethod
    def of(cls, exchanges: Iterable[Exchange]) -> "Observed":
        exs = tuple(ex for ex in exchanges if ex.probes)
        probes = tuple(sorted((p for ex in exs for p in ex.probes), key=lambda p: p.frame))
        first = tuple(sorted((ex.probes[0] for ex in exs), key=lambda p: p.frame))
        retries = tuple(sorted((p for ex in exs for p in ex.probes[1:]), key=lambda p: p.frame))
        followups = tuple(sorted((p for ex in exs for p in ex.followups), key=lambda p: p.frame))
        responses = tuple(sorted((p for ex in exs for p in ex.responses), key=lambda p: p.frame))
        version = probes[0].ip_version if probes else 4
        return cls(exs, probes, first, retries, followups, responses, version)

    @property
    def tcp(self) -> tuple:
        return tuple(p for p in self.probes if p.proto == "tcp")

    @property
    def udp(self) -> tuple:
        return tuple(p for p in self.probes if p.proto == "udp")

    @property
    def syns(self) -> tuple:
        return tuple(p for p in self.probes if p.proto == "tcp" and p.flags & SYN)

    @property
    def protos(self) -> frozenset:
        return frozenset(p.proto for p in self.probes)

    @property
    def kinds(self) -> frozenset:
        """Probe kinds: TCP flag letters ("S", "F", "FPU", "", "A", ...) or "udp"."""
        return frozenset("udp" if p.proto == "udp" else flag_letters(p.flags & 0x3F) for p in self.first)


# -- wording helpers --------------------------------------------------------------


def options_text(kinds: tuple) -> str:
    return ",".join(OPTION_NAMES.get(k, str(k)) for k in kinds) if kinds else "none"


def values_text(values: Iterable, limit: int = 4) -> str:
    """'1024' for one value, '37, 41, 52 (+3 more)' for many (most common first)."""
    counts = Counter(values)
    shown = [str(v) for v, _ in counts.most_common(limit)]
    more = len(counts) - len(shown)
    return ", ".join(shown) + (f" (+{more} more)" if more > 0 else "")


def every_text(n: int) -> str:
    return "the only probe" if n == 1 else "both probes" if n == 2 else f"all {n} probes"


def initial_ttl(ttl: int) -> int:
    return next((t for t in INITIAL_TTLS if ttl <= t), 255)


def ttl_words(ttl: int) -> str:
    start = initial_ttl(ttl)
    hops = start - ttl
    return f"TTL {ttl}" + (f" (initial {start}, {hops} hop{'s' if hops > 1 else ''} away)" if 0 < hops <= 16 else "")


def _most_common_share(values: list) -> tuple:
    if not values:
        return None, 0.0
    value, count = Counter(values).most_common(1)[0]
    return value, count / len(values)


# -- clue tests: (Observed, arg) -> None (cannot tell) or (holds, sentence) ------------

Result = Optional[tuple]


def ttl_random_range(obs: Observed, rng: tuple) -> Result:
    if obs.ip_version != 4 or not obs.probes:
        return None
    lo, hi = rng
    ttls = [p.ttl for p in obs.probes]
    # Captured up to 16 hops away the range slides down; other traffic of the
    # same host may share the session, so most probes, not all, must fit.
    base = max(ttls, key=lambda t: (lo - 16 <= t <= hi, t)) if ttls else 0
    inside = [t for t in ttls if lo - 16 <= t <= hi and abs(t - base) <= hi - lo]
    share = len(inside) / len(ttls)
    distinct = set(inside)
    if len(obs.first) >= 3:
        if len(distinct) >= 2 and share >= 0.9:
            text = (f"TTL varies per probe: {len(distinct)} values from {min(inside)} to {max(inside)} "
                    f"(nmap gives each raw probe a random TTL in {lo}-{hi})")
            if share < 1:
                other = values_text(set(ttls) - distinct, 2)
                text += f"; {len(ttls) - len(inside)} other packets of this host carry TTL {other}"
            return True, text
        if len(set(ttls)) == 1:
            return False, f"TTL {ttls[0]} on {every_text(len(ttls))} (nmap's raw probes take a random TTL in {lo}-{hi})"
        return False, f"TTLs {values_text(ttls)} (not nmap's random {lo}-{hi})"
    if share == 1 and all(lo <= t <= hi for t in ttls):
        return True, (f"TTL {values_text(ttls)}: inside nmap's random range {lo}-{hi}, "
                      f"no operating system's initial TTL")
    return False, f"TTL {values_text(ttls)} (nmap's raw probes take a random TTL in {lo}-{hi})"


def ttl_constant(obs: Observed, initial: int) -> Result:
    if not obs.probes:
        return None
    ttls = {p.ttl for p in obs.probes}
    if len(ttls) == 1:
        (ttl,) = ttls
        holds = initial_ttl(ttl) == initial and initial - ttl <= 16
        return holds, f"{ttl_words(ttl)} on {every_text(len(obs.probes))}"
    return False, f"TTL varies per probe ({values_text(p.ttl for p in obs.probes)})"


def ttl_os_default(obs: Observed, _arg=None) -> Result:
    if not obs.probes:
        return None
    ttls = {p.ttl for p in obs.probes}
    if len(ttls) == 1:
        (ttl,) = ttls
        holds = initial_ttl(ttl) in (64, 128, 255) and initial_ttl(ttl) - ttl <= 16
        return holds, f"{ttl_words(ttl)} on {every_text(len(obs.probes))}, an operating system's default"
    return False, f"TTL varies per probe ({values_text(p.ttl for p in obs.probes)}): no kernel does that"


def window_in(obs: Observed, windows: tuple) -> Result:
    tcp = obs.tcp
    if not tcp:
        return None
    seen = [p.window for p in tcp]
    holds = set(seen) <= set(windows)
    return holds, f"TCP window {values_text(seen)} on {every_text(len(tcp)) if len(set(seen)) == 1 else 'the probes'}"


def window_os(obs: Observed, _arg=None) -> Result:
    syns = obs.syns
    if not syns:
        return None
    seen = {p.window for p in syns}
    holds = len(seen) == 1 and next(iter(seen)) in OS_WINDOWS
    return holds, f"SYN window {values_text(p.window for p in syns)}" + (
        ", a common operating-system window" if holds else "")


def syn_options(obs: Observed, kinds: tuple) -> Result:
    syns = obs.syns
    if not syns:
        return None
    seen = {p.options for p in syns}
    holds = seen == {tuple(kinds)}
    mss = {p.mss for p in syns if p.mss}
    what = options_text(next(iter(seen))) if len(seen) == 1 else "; ".join(sorted(options_text(s) for s in seen))
    extra = f" (mss {values_text(mss)})" if mss and holds else ""
    return holds, f"SYN options: {what}{extra}"


def no_options(obs: Observed, _arg=None) -> Result:
    tcp = obs.tcp
    if not tcp:
        return None
    with_opts = [p for p in tcp if p.options]
    if not with_opts:
        return True, f"no TCP options on {every_text(len(tcp))}"
    return False, f"TCP options {options_text(with_opts[0].options)} on {len(with_opts)} of {len(tcp)} probes"


def os_syn_options(obs: Observed, _arg=None) -> Result:
    syns = obs.syns
    if not syns:
        return None
    layout, share = _most_common_share([p.options for p in syns])
    if share >= 0.9 and set(layout) & OS_SYN_OPTION_KINDS:
        return True, (f"SYN options {options_text(layout)}: an operating system's connect() "
                      f"(SACK/timestamps/window scale)")
    if len({p.options for p in syns}) > 1:
        return False, (f"SYN options vary per probe ({len({p.options for p in syns})} layouts): "
                       f"a kernel puts the same options on every SYN")
    return False, f"SYN options {options_text(layout)}: no SACK/timestamps/window scale"


def nmap_os_probes(obs: Observed, _arg=None) -> Result:
    """A bonus clue: only counted when it holds."""
    hits = {NMAP_OS_PROBES[(p.window, p.options)] for p in obs.tcp if (p.window, p.options) in NMAP_OS_PROBES}
    if any(p.ip_id == NMAP_U1_IP_ID and p.payload_len == 300 for p in obs.udp):
        hits.add("U1")
    if not hits:
        return None
    return True, (f"nmap OS-detection probes (-O): the window/option shapes of {', '.join(sorted(hits))} "
                  f"(e.g. SEQ1: window 1, options wscale,nop,mss,TS,sackOK; U1: 300 bytes, IP ID 0x1042)")


def _without_os_probes(obs: Observed) -> Observed:
    """The session less nmap's OS-detection probes, whose windows and options are their own."""
    keep = [ex for ex in obs.exchanges if not any(
        (p.window, p.options) in NMAP_OS_PROBES for p in ex.probes if p.proto == "tcp")]
    return obs if len(keep) == len(obs.exchanges) else Observed.of(keep)


def nmap_window(obs: Observed, windows: tuple) -> Result:
    return window_in(_without_os_probes(obs), windows)


def nmap_syn_options(obs: Observed, kinds: tuple) -> Result:
    return syn_options(_without_os_probes(obs), kinds)


def ipid_varies(obs: Observed, _arg=None) -> Result:
    """A kernel never repeats a non-zero IP ID on packet after packet."""
    if obs.ip_version != 4 or len(obs.probes) < 2:
        return None
    ids = [p.ip_id for p in obs.probes]
    value, share = _most_common_share(ids)
    if share >= 0.8 and value != 0:
        return False, f"IP ID {value} on {round(share * 100)}% of {len(ids)} probes: no kernel repeats an IP ID"
    return True, f"IP ID {'0 (DF set)' if value == 0 and share >= 0.8 else f'{len(set(ids))} values'} " \
                 f"for {len(ids)} packets"


def _bases(values: list, share: float = 0.1, most: int = 3) -> tuple:
    """The few values (at most `most`, each on >= `share` of `values`) that
    most of `values` take, and the share they cover: one per run of a tool
    that keeps a value for a whole scan, when a session holds several runs."""
    counts = Counter(values)
    if len(values) < 10:  # too few to tell several runs from no pattern: one value must do
        most = 1
    bases = [v for v, c in counts.most_common(most) if c >= share * len(values)]
    covered = sum(counts[v] for v in bases) / len(values) if values else 0.0
    return bases, covered


def one_sport_nearby_retries(obs: Observed, _arg=None) -> Result:
    first = obs.first
    if len(first) < 2:
        if first and obs.retries:
            base = first[0].sport
            near = [p.sport for p in obs.retries if 0 < p.sport - base <= 64]
            if near:
                return True, f"source port {base}, retry from the nearby port {near[0]} (nmap's retry pattern)"
        return None
    bases, covered = _bases([p.sport for p in first])
    ports = ", ".join(map(str, bases))
    if not bases or covered < 0.9:
        n = len({p.sport for p in first})
        return False, f"{n} source ports for {len(first)} first tries ({values_text([p.sport for p in first], 3)}): " \
                      f"nmap uses one per scan"
    text = f"source port {ports} for {round(covered * 100)}% of {len(first)} first tries"
    if len(bases) > 1:
        text += f" (one per scan run: {len(bases)} runs)"
    retry_ports = sorted({p.sport for p in obs.retries if p.sport not in bases})
    if retry_ports:
        near = [s for s in retry_ports if any(0 < s - b <= 64 for b in bases)]
        text += f", retries from {values_text(near or retry_ports, 3)}"
        if near:
            text += " (nearby ports: nmap's retry pattern)"
    return True, text


def one_sport(obs: Observed, _arg=None) -> Result:
    if len(obs.probes) < 2:
        return None
    sports = {p.sport for p in obs.probes}
    if len(sports) == 1:
        return True, f"source port {next(iter(sports))} on {every_text(len(obs.probes))}"
    return False, f"source ports {values_text(p.sport for p in obs.probes)}"


def sport_is(obs: Observed, by_proto: dict) -> Result:
    first = [p for p in obs.first if p.proto in by_proto]
    if not first:
        return None
    wanted = {p.proto: by_proto[p.proto] for p in first}
    holds = all(p.sport == wanted[p.proto] for p in first)
    want = " / ".join(f"{v} for {k.upper()}" for k, v in sorted(wanted.items()))
    seen = values_text([p.sport for p in first])
    if holds:
        return True, f"source port {seen} on every first try: scapy's default ({want})"
    return False, f"source port {seen} (scapy's default is {want})"


def sport_incrementing(obs: Observed, _arg=None) -> Result:
    probes = obs.probes
    if len(probes) < 3:
        return None
    steps = [b.sport - a.sport for a, b in zip(probes, probes[1:])]
    share = sum(1 for s in steps if s == 1) / len(steps)
    if share >= 0.8:
        first3 = ", ".join(str(p.sport) for p in probes[:3])
        return True, f"source port grows by one per probe ({first3}, ...)"
    return False, f"source ports {values_text([p.sport for p in probes], 3)} do not grow by one per probe"


def sport_per_connection(obs: Observed, _arg=None) -> Result:
    """A kernel: a new ephemeral port per connect(), retransmissions on the same port."""
    first = obs.first
    if len(first) >= 2:
        distinct = len({p.sport for p in first})
        holds = distinct >= 0.9 * len(first) and all(p.sport >= 1024 for p in first)
        return holds, (f"{distinct} source ports for {len(first)} connections"
                       + (" (a new ephemeral port per connect())" if holds else ""))
    if first and obs.retries:
        same = all(p.sport == first[0].sport for p in obs.retries)
        return same, (f"retransmissions from the same source port {first[0].sport}, as a kernel does" if same
                      else f"retransmissions from other source ports than {first[0].sport}")
    return None


def same_first_seq(obs: Observed, _arg=None) -> Result:
    firsts = [p for p in obs.first if p.proto == "tcp"]
    if len(firsts) < 2:
        return None
    keys = [(p.ack if p.flags & ACK else p.seq) for p in firsts]
    field = "acknowledgment number" if all(p.flags & ACK for p in firsts) else "sequence number"
    bases, covered = _bases(keys)
    if bases and covered >= 0.8 and 0 not in bases:
        value = ", ".join(map(str, bases))
        return True, (f"{field} {value} on {round(covered * 100)}% of {len(firsts)} first tries "
                      f"(one per scan, as nmap does)")
    if bases == [0]:
        return False, f"{field} 0 on the first tries"
    return False, f"{field}s differ per probe ({len(set(keys))} values for {len(firsts)} first tries)"


def seq_random(obs: Observed, _arg=None) -> Result:
    firsts = [p for p in obs.first if p.proto == "tcp" and not p.flags & ACK]
    if len(firsts) < 2:
        return None
    distinct = len({p.seq for p in firsts})
    holds = distinct == len(firsts) and 0 not in {p.seq for p in firsts}
    return holds, f"{distinct} sequence numbers for {len(firsts)} first tries" + (" (new per probe)" if holds else "")


def seq_ack_zero(obs: Observed, _arg=None) -> Result:
    tcp = obs.tcp
    if not tcp:
        return None
    zero = [p for p in tcp if p.seq == 0 and p.ack == 0]
    if len(zero) == len(tcp):
        return True, f"sequence number 0 and acknowledgment number 0 on {every_text(len(tcp))}"
    return False, f"sequence numbers {values_text([p.seq for p in tcp], 3)}"


def ack_without_flag(obs: Observed, _arg=None) -> Result:
    noack = [p for p in obs.tcp if not p.flags & ACK]
    if not noack:
        return None
    odd = [p for p in noack if p.ack != 0]
    if len(odd) >= 0.8 * len(noack):
        return True, (f"acknowledgment number non-zero without the ACK flag on {len(odd)} of {len(noack)} probes "
                      f"(e.g. {odd[0].ack})")
    return False, "acknowledgment number 0 on probes without the ACK flag"


def ipid_is(obs: Observed, value: int) -> Result:
    if obs.ip_version != 4 or not obs.probes:
        return None
    ids = [p.ip_id for p in obs.probes]
    if all(i == value for i in ids):
        return True, f"IP ID {value} on {every_text(len(ids))}"
    return False, f"IP ID {values_text(ids, 3)}"


def masscan_ipid(obs: Observed, _arg=None) -> Result:
    firsts = [p for p in obs.first if p.proto == "tcp"]
    if obs.ip_version != 4 or not firsts:
        return None
    fit = [p for p in firsts if p.ip_id == (int(ipaddress.ip_address(p.dst)) ^ p.dport ^ p.seq) & 0xFFFF]
    if len(fit) == len(firsts):
        return True, (f"IP ID = (destination address ^ port ^ sequence number) & 0xffff on {every_text(len(firsts))} "
                      f"(masscan's formula; e.g. IP ID {firsts[0].ip_id})")
    return False, "IP ID does not follow masscan's (address ^ port ^ seq) formula"


def masscan_rst(obs: Observed, _arg=None) -> Result:
    synacks = [r for r in obs.responses if r.proto == "tcp" and r.flags & SYN and r.flags & ACK]
    if not synacks:
        return None
    own = [f for f in obs.followups if f.flags & RST and not is_kernel_rst(f, synacks) and f.ttl >= 200]
    if own:
        f = own[0]
        return True, (f"its own RST after the SYN/ACK (frame {f.frame}): TTL {f.ttl}, window {f.window}, "
                      f"besides the kernel's")
    return False, "no RST of its own after the SYN/ACK"


def handshake_completed(obs: Observed, _arg=None) -> Result:
    synacks = [r for ex in obs.exchanges for r in ex.responses if r.proto == "tcp" and r.flags & SYN and r.flags & ACK]
    if not synacks:
        return None
    done = [ex for ex in obs.exchanges if ex.completed_handshake]
    if done:
        return True, f"the handshake was completed (ACK) on {len(done)} port(s), as connect() does"
    return False, "SYN/ACKs were never acknowledged: no connect() behind the SYNs"


def udp_known_payloads(obs: Observed, _arg=None) -> Result:
    udp = [p for p in obs.first if p.proto == "udp"]
    loaded = [p for p in udp if p.payload_len]
    if not loaded or len(loaded) == len(udp):
        return None
    holds = all(p.dport in NMAP_UDP_PAYLOAD_PORTS for p in loaded)
    where = ", ".join(f"{p.dport}: {p.payload_len} bytes" for p in loaded[:3])
    return holds, (f"UDP payload only to well-known service ports ({where}), empty datagrams elsewhere" if holds
                   else f"UDP payload to ports without a known service ({where})")


def udp_payload(obs: Observed, _arg=None) -> Result:
    udp = obs.udp
    if not udp:
        return None
    loaded = [p for p in udp if p.payload_len]
    if len(loaded) == len(udp):
        return True, f"every datagram carries application data ({values_text([p.payload_len for p in udp], 3)} bytes)"
    return False, f"{len(udp) - len(loaded)} of {len(udp)} datagrams are empty"


def udp_empty(obs: Observed, _arg=None) -> Result:
    udp = obs.udp
    if not udp:
        return None
    empty = [p for p in udp if not p.payload_len]
    if len(empty) == len(udp):
        return True, f"empty UDP datagrams ({every_text(len(udp))})"
    return False, f"UDP payload {values_text([p.payload_len for p in udp], 3)} bytes"


# -- signatures, as data -----------------------------------------------------------

ANY = None


@dataclass(frozen=True)
class Clue:
    test: Callable[[Observed, object], Result]
    arg: object = None
    weight: float = 1.0
    bonus: bool = False  # counted only when it holds


@dataclass(frozen=True)
class Signature:
    name: str
    clues: tuple
    kinds: Optional[frozenset] = ANY  # probe kinds the tool sends; None: any


SIGNATURES = (
    Signature("nmap", (
        Clue(ttl_random_range, NMAP_TTL_RANGE, 3),
        Clue(nmap_window, NMAP_WINDOWS, 2),
        Clue(nmap_syn_options, (2,), 2),
        Clue(one_sport_nearby_retries, None, 2),
        Clue(same_first_seq, None, 2),
        Clue(udp_known_payloads, None, 1),
        Clue(nmap_os_probes, None, 4, bonus=True),
    )),
    Signature("os-connect", (
        Clue(os_syn_options, None, 3),
        Clue(window_os, None, 1),
        Clue(sport_per_connection, None, 2),
        Clue(ttl_os_default, None, 1),
        Clue(handshake_completed, None, 2),
        Clue(seq_random, None, 1),
        Clue(udp_payload, None, 2),
        Clue(ipid_varies, None, 2),
    ), kinds=frozenset({"S", "udp"})),
    Signature("masscan", (
        Clue(ttl_constant, 255, 2),
        Clue(window_in, (1024,), 2),
        Clue(no_options, None, 1),
        Clue(masscan_ipid, None, 4),
        Clue(one_sport, None, 2),
        Clue(masscan_rst, None, 2),
        Clue(seq_random, None, 1),
        Clue(udp_known_payloads, None, 1),
    ), kinds=frozenset({"S", "udp"})),
    Signature("zmap", (
        Clue(ttl_constant, 255, 2),
        Clue(window_in, (65535,), 2),
        Clue(no_options, None, 1),
        Clue(ipid_is, 54321, 4),
        Clue(seq_random, None, 1),
    ), kinds=frozenset({"S", "udp"})),
    Signature("scapy", (
        Clue(sport_is, SCAPY_SPORT, 3, bonus=True),  # scripts often pick their own (RandShort())
        Clue(window_in, (8192,), 2),
        Clue(seq_ack_zero, None, 2),
        Clue(ipid_is, 1, 4),
        Clue(no_options, None, 1),
        Clue(ttl_constant, 64, 1),
    )),
    Signature("hping3", (
        Clue(window_in, (512,), 3),
        Clue(ack_without_flag, None, 3),
        Clue(sport_incrementing, None, 3),
        Clue(no_options, None, 1),
        Clue(udp_empty, None, 1),
        Clue(ttl_constant, 64, 1),
    )),
    Signature("unicornscan", (
        Clue(ttl_constant, 255, 2),
        Clue(window_in, (4128,), 3),
        Clue(syn_options, (2,), 1),
    )),
)


@dataclass(frozen=True)
class Score:
    name: str
    score: float  # weight that holds / weight that could be told
    weight: float  # weight that holds
    confidence: float
    support: tuple  # sentences that hold
    against: tuple  # sentences that do not


def score(sig: Signature, obs: Observed) -> Optional[Score]:
    if sig.kinds is not None and not obs.kinds <= sig.kinds:
        return None
    got = told = 0.0
    support, against = [], []
    for clue in sig.clues:
        res = clue.test(obs, clue.arg)
        if res is None:
            continue
        holds, sentence = res
        if holds:
            got += clue.weight
            told += clue.weight
            support.append(sentence)
        elif not clue.bonus:
            told += clue.weight
            against.append(sentence)
    if told == 0:
        return None
    ratio = got / told
    confidence = round(ratio * min(1.0, got / FULL_WEIGHT), 2)
    return Score(sig.name, ratio, got, confidence, tuple(support), tuple(against))


def scores(exchanges: Iterable[Exchange]) -> list[Score]:
    """Every applicable signature's score, best first."""
    obs = Observed.of(exchanges)
    out = [s for s in (score(sig, obs) for sig in SIGNATURES) if s is not None]
    out.sort(key=lambda s: (s.confidence, s.weight), reverse=True)
    return out


def identify(exchanges: Iterable[Exchange]) -> ToolGuess:
    """The most likely tool behind one scan session's exchanges, with evidence."""
    exchanges = tuple(exchanges)
    obs = Observed.of(exchanges)
    if not obs.probes:
        return ToolGuess("unknown", 0.0, ("no probes to read",))
    ranked = [s for s in (score(sig, obs) for sig in SIGNATURES) if s is not None]
    ranked.sort(key=lambda s: (s.confidence, s.weight), reverse=True)
    fit = [s for s in ranked if s.weight >= MIN_WEIGHT and s.score >= MIN_SCORE]
    if fit:
        best = fit[0]
        evidence = best.support + tuple(f"against: {a}" for a in best.against)
        return ToolGuess(best.name, best.confidence, evidence)
    evidence = observed_fields(obs)
    if ranked and ranked[0].weight > 0:
        evidence += (f"closest signature: {ranked[0].name} ({ranked[0].confidence:.2f}), not enough to name it",)
    return ToolGuess("unknown", 0.0, evidence)


def observed_fields(obs: Observed) -> tuple:
    """What the probes show, field by field, for a session no signature fits."""
    probes = obs.probes
    out = []
    ttls = [p.ttl for p in probes]
    out.append(f"TTL {ttls[0]} on {every_text(len(ttls))}" if len(set(ttls)) == 1 else f"TTL varies: {values_text(ttls)}")
    tcp = obs.tcp
    if tcp:
        out.append(f"TCP window {values_text(p.window for p in tcp)}")
        out.append(f"TCP options {values_text([options_text(p.options) for p in tcp], 3)}")
        firsts = [p for p in obs.first if p.proto == "tcp"]
        seqs = {p.seq for p in firsts}
        out.append(f"sequence number {next(iter(seqs))} on every first try" if len(seqs) == 1
                   else f"{len(seqs)} sequence numbers for {len(firsts)} first tries")
    udp = obs.udp
    if udp:
        out.append(f"UDP payload {values_text([p.payload_len for p in udp], 3)} bytes")
    sports = [p.sport for p in probes]
    out.append(f"source port {sports[0]} on {every_text(len(sports))}" if len(set(sports)) == 1
               else f"{len(set(sports))} source ports for {len(sports)} probes ({values_text(sports, 3)})")
    if obs.ip_version == 4:
        ids = [p.ip_id for p in probes]
        out.append(f"IP ID {ids[0]} on {every_text(len(ids))}" if len(set(ids)) == 1
                   else f"IP ID {len(set(ids))} values for {len(ids)} probes")
    return tuple(out)


__all__ = ["ToolGuess", "identify", "scores", "SIGNATURES", "TOOL_NAMES", "Observed",
           "options_text", "initial_ttl"]
