"""The words of `pcapscan verify`, `grade`, `analyze` and `compare`, in English and Chinese, as data.

Rules (verify.py) never build sentences: they name a template and its
parameters with `T(key, **params)`. `render(text, lang)` fills the template
of the chosen language; parameters may themselves be Texts (rendered in the
same language), lists of Texts (joined the way the language joins a list),
`Frames` (frame numbers, "frame 7" / "第 7 帧"), States or Techniques.

A finding's message follows one pattern in both languages: what the textbook
(nmap's reference guide, RFC 793/9293, the seeds' state tables) says, what
the capture shows (with frame numbers a user can look up in Wireshark), and
the most likely cause.

The Chinese follows the vocabulary of the course that wrote the seeds
(三次握手, 半开扫描, 端口状态); nmap's state words (open, closed, ...) are kept
as nmap prints them, with a gloss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model import State, Technique, Text
from .techniques import REGISTRY

LANGS = ("en", "zh")


def T(key: str, **params: Any) -> Text:  # noqa: N802  (reads like a function call in rules)
    if key not in MESSAGES:
        raise KeyError(f"no message template {key!r}")
    return Text.of(key, **params)


@dataclass(frozen=True)
class Frames:
    """Frame numbers, rendered "frame 7" / "frames 5, 7" / "第 5、7 帧"."""

    numbers: tuple

    def __post_init__(self):
        object.__setattr__(self, "numbers", tuple(sorted(set(self.numbers))))


class Said(str):
    """Words that are a string where a string is wanted (JSON, a test's `in`,
    the English of a log line) and that can be said again in another
    language: `render(said, lang)` renders its Text. What the capture reader
    warns of is Said, since the reader hands back strings."""

    text: Text


def said(key: str, **params: Any) -> Said:
    """T(key, **params) as a Said: its English, and the Text to say it otherwise."""
    text = T(key, **params)
    words = Said(render(text, "en"))
    words.text = text
    return words


def render(text: Text, lang: str = "en") -> str:
    if isinstance(text, Said):
        if lang == "en":  # said in English when it was said: the words again, not rendered again
            return str(text)
        text = text.text
    if isinstance(text, str):  # words that have no template (yet): as they were written
        return text
    values = {name: _resolve(value, lang) for name, value in text.params}
    return fill(MESSAGES[text.key][lang], values, lang)


def fill(template: str, values: dict, lang: str) -> str:
    """template.format(**values); in Chinese, typeset as one convention: a
    space between Chinese and Latin words or numbers, none between Chinese
    characters or next to full-width punctuation, “” for quotes. Only the
    template's own words and the seams are touched, never a value (a file
    name keeps its spelling)."""
    if lang != "zh":
        return template.format(**values)
    import string

    out = ""
    for literal, name, spec, conv in string.Formatter().parse(template):
        out = _seam(out, _typeset(literal)) if literal else out
        if name is not None:
            value = format(values[name], spec or "")
            out = _seam(out, value)
    return out


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


# Full-width punctuation: no space is wanted beside it.
_FULL_PUNCT = set("，。；：、！？（）“”‘’《》【】「」…—")


def _latin(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch in "`%")


def _tight(a: str, b: str) -> bool:
    """No space belongs between a and b: two Chinese characters, or full-width punctuation on either side."""
    return a in _FULL_PUNCT or b in _FULL_PUNCT or (_is_cjk(a) and _is_cjk(b))


def _seam(left: str, right: str) -> str:
    """Join two pieces of Chinese text: a space between a Chinese character and
    a Latin word, none between Chinese characters or beside full-width
    punctuation."""
    if not left or not right:
        return left + right
    if left[-1] == " " and len(left) > 1 and right[0] != " " and _tight(left[-2], right[0]):
        return left[:-1] + right
    if right[0] == " " and len(right) > 1 and left[-1] != " " and _tight(left[-1], right[1]):
        return left + right[1:]
    a, b = left[-1], right[0]
    if (_is_cjk(a) and (_latin(b) or b in "(\"")) or ((_latin(a) or a in ")\"") and _is_cjk(b)):
        return left + " " + right
    return left + right


def _typeset(text: str) -> str:
    """A piece of Chinese template text in the one convention (see fill)."""
    import re

    text = re.sub(r'"([^"\n]*)"', "“\\1”", text)  # "吞掉" -> “吞掉”
    out = ""
    for ch in text:
        out = _seam(out, ch)
    return out


def _resolve(value: Any, lang: str) -> str:
    if isinstance(value, (Text, Said)):
        return render(value, lang)
    if isinstance(value, Frames):
        return frames_text(value.numbers, lang)
    if isinstance(value, State):
        return STATE_WORDS[lang][value]
    if isinstance(value, Technique):
        return TECHNIQUE_WORDS[lang][value]
    if isinstance(value, tuple):
        return join([_resolve(v, lang) for v in value], lang)
    return str(value)


def join(items: list, lang: str) -> str:
    items = [i for i in items if i]
    if lang == "zh":
        return "；".join(items)
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def frames_text(numbers, lang: str = "en", limit: int = 8) -> str:
    numbers = list(numbers)
    shown = [str(n) for n in numbers[:limit]]
    more = len(numbers) - len(shown)
    if lang == "zh":
        text = "、".join(shown) + (f" 等 {len(numbers)} 个" if more else "")
        return f"第 {text} 帧"
    text = ", ".join(shown) + (f" (+{more} more)" if more else "")
    return ("frame " if len(numbers) == 1 else "frames ") + text


def severity_word(severity: str, lang: str) -> str:
    return SEVERITY_WORDS[lang].get(severity, severity)


SEVERITY_WORDS = {
    "en": {"error": "error", "warning": "warning", "info": "info"},
    "zh": {"error": "错误", "warning": "警告", "info": "提示"},
}

STATE_WORDS = {
    "en": {s: s.value for s in State},
    "zh": {
        State.OPEN: "open（开放）",
        State.CLOSED: "closed（关闭）",
        State.FILTERED: "filtered（被过滤）",
        State.UNFILTERED: "unfiltered（未被过滤）",
        State.OPEN_FILTERED: "open|filtered（开放或被过滤）",
        State.CLOSED_FILTERED: "closed|filtered（关闭或被过滤）",
    },
}

# Techniques as reports name them: their specs' titles (pcapscan/techniques/).
TECHNIQUE_WORDS = {
    "en": {**{t: spec.title for t, spec in REGISTRY.items()}, Technique.UNKNOWN: "scan of unknown technique"},
    "zh": {**{t: spec.title_zh for t, spec in REGISTRY.items()}, Technique.UNKNOWN: "未知技术的扫描"},
}

_M = dict  # a template: {"en": ..., "zh": ...}

MESSAGES: dict = {
    # -- building blocks -------------------------------------------------------
    "flags": _M(en="{flags}", zh="{flags}"),
    "flags.none": _M(en="no flags", zh="无标志位"),
    "udp-datagram": _M(en="UDP datagrams", zh="UDP 数据报"),
    "udp-reply": _M(en="a UDP reply", zh="UDP 回复"),
    "icmp": _M(en="ICMP type {type} code {code} ({reason})", zh="ICMP 类型 {type} 代码 {code}（{reason}）"),
    "icmp.from": _M(
        en="ICMP type {type} code {code} ({reason}) from {src}",
        zh="来自 {src} 的 ICMP 类型 {type} 代码 {code}（{reason}）"),
    "port": _M(en="{port}/{proto}", zh="{port}/{proto}"),
    "evidence.answer": _M(en="{what} in {frames}", zh="{frames}的 {what}"),
    "evidence.silence": _M(en="no answer to the probe in {frames}", zh="{frames}的探测包没有收到任何回应"),
    "evidence.silence.retries": _M(
        en="no answer to any of the probes in {frames}",
        zh="{frames}的探测包（含重传）都没有收到任何回应"),
    "seen.ports": _M(en="its probes go to {ports}", zh="其中的探测包发往 {ports}"),
    "seen.none": _M(en="it holds no scan probe at all", zh="其中没有任何扫描探测包"),
    "where.port": _M(en="to {port} ", zh="（发往 {port}）"),
    "where.any": _M(en="", zh=""),
    "counted.no": _M(
        en="pcapscan, like a strict RFC 793 receiver, did not take it as the answer. ",
        zh="pcapscan 与严格遵循 RFC 793 的接收方一样，没有把它当作回应。"),
    "counted.yes": _M(en="", zh=""),
    # The probe each technique sends.
    "probe.syn": _M(en="a TCP segment with only SYN set", zh="只设置 SYN 标志位的 TCP 报文"),
    "probe.connect": _M(
        en="a TCP segment with only SYN set (the first step of connect())",
        zh="只设置 SYN 标志位的 TCP 报文（connect() 的第一步）"),
    "probe.fin": _M(en="a TCP segment with only FIN set", zh="只设置 FIN 标志位的 TCP 报文"),
    "probe.xmas": _M(en="a TCP segment with FIN, PSH and URG set", zh="设置 FIN、PSH、URG 标志位的 TCP 报文"),
    "probe.null": _M(en="a TCP segment with no flag set", zh="不设置任何标志位的 TCP 报文"),
    "probe.ack": _M(en="a TCP segment with only ACK set", zh="只设置 ACK 标志位的 TCP 报文"),
    "probe.window": _M(en="a TCP segment with only ACK set", zh="只设置 ACK 标志位的 TCP 报文"),
    "probe.maimon": _M(en="a TCP segment with FIN and ACK set", zh="设置 FIN 和 ACK 标志位的 TCP 报文"),
    "probe.udp": _M(en="a UDP datagram", zh="UDP 数据报"),
    # The state table of each technique, in one sentence.
    "textbook.syn": _M(
        en="SYN/ACK means open, RST means closed, no answer after retries or an ICMP unreachable error means "
           "filtered.",
        zh="收到 SYN/ACK 为 open，收到 RST 为 closed，多次重传后仍无回应或收到 ICMP 不可达错误为 filtered。"),
    "textbook.connect": _M(
        en="a completed handshake means open; RST (and ICMP port unreachable, which connect() reports as "
           "ECONNREFUSED) means closed; no answer or another ICMP unreachable error means filtered.",
        zh="三次握手完成为 open；收到 RST（以及 ICMP 端口不可达，connect() 将其报告为 ECONNREFUSED）为 closed；"
           "无回应或收到其他 ICMP 不可达错误为 filtered。"),
    "textbook.inverse": _M(
        en="RST means closed; no answer means open|filtered, because an open port and a filtered one both stay "
           "silent (RFC 793); an ICMP unreachable error means filtered.",
        zh="收到 RST 为 closed；无回应为 open|filtered，因为开放端口和被过滤端口都不会回应（RFC 793）；收到 ICMP "
           "不可达错误为 filtered。"),
    "textbook.maimon": _M(
        en="RST means closed (most stacks reset open ports too); no answer means open|filtered; an ICMP unreachable "
           "error means filtered.",
        zh="收到 RST 为 closed（多数协议栈对开放端口也回复 RST）；无回应为 open|filtered；收到 ICMP 不可达错误为 "
           "filtered。"),
    "textbook.ack": _M(
        en="RST means unfiltered (open or closed: the ACK scan cannot tell them apart); no answer or an ICMP "
           "unreachable error means filtered.",
        zh="收到 RST 为 unfiltered（开放或关闭，ACK 扫描无法区分）；无回应或收到 ICMP 不可达错误为 filtered。"),
    "textbook.window": _M(
        en="a RST with a non-zero window means open, a RST with window 0 closed; no answer or an ICMP unreachable "
           "error means filtered.",
        zh="窗口非 0 的 RST 为 open，窗口为 0 的 RST 为 closed；无回应或收到 ICMP 不可达错误为 filtered。"),
    "textbook.udp": _M(
        en="a UDP reply means open; ICMP port unreachable (type 3 code 3) means closed; another ICMP unreachable "
           "error means filtered; no answer means open|filtered.",
        zh="收到 UDP 回复为 open；收到 ICMP 端口不可达（类型 3 代码 3）为 closed；收到其他 ICMP 不可达错误为 "
           "filtered；无回应为 open|filtered。"),
    # Why silence (or a RST to ACK) supports only a wide state.
    "why.open|filtered": _M(
        en="an open port that ignores the probe and a firewall that drops it look exactly the same",
        zh="忽略探测包的开放端口和丢弃探测包的防火墙，在抓包中看起来完全一样"),
    "why.closed|filtered": _M(
        en="a closed port and a filtered one cannot be told apart by this probe",
        zh="这种探测包无法区分关闭端口和被过滤端口"),
    "why.unfiltered": _M(
        en="every RFC 793 stack answers an ACK probe with RST whether the port is open or closed",
        zh="遵循 RFC 793 的协议栈无论端口开放还是关闭，都会用 RST 回应 ACK 探测包"),
    # What a scanner did after the SYN/ACK (handshake-incomplete).
    "after.kernel-rst": _M(
        en="its kernel reset the connection (bare RST, window 0) in {frames}",
        zh="扫描机内核在{frames}发出 RST（窗口为 0）复位了连接"),
    "after.rst": _M(en="it sent {flags} in {frames}", zh="它在{frames}发送了 {flags}"),
    "after.rst-other-port": _M(
        en="it sent {flags} from another source port ({sport}) in {frames}",
        zh="它在{frames}从另一个源端口（{sport}）发送了 {flags}"),
    "after.bad-ack": _M(
        en="its ACK in {frames} acknowledges {ack} instead of {expected} (the SYN/ACK's sequence number plus one)",
        zh="它在{frames}发送的 ACK 确认号为 {ack}，而不是 {expected}（SYN/ACK 的序号加一）"),
    "after.late-ack": _M(
        en="its ACK in {frames} came after the kernel's RST had already closed the connection",
        zh="它在{frames}发送的 ACK 晚于内核的 RST，连接此时已被关闭"),
    "after.target-rst": _M(
        en="the target answered that ACK with RST in {frames}: it no longer knew the connection",
        zh="目标在{frames}用 RST 回应了这个 ACK：它已不认识这个连接"),
    "after.other": _M(en="it sent {flags} in {frames}", zh="它在{frames}发送了 {flags}"),
    "after.nothing": _M(en="it sent nothing after the SYN/ACK", zh="收到 SYN/ACK 后它什么也没有发送"),
    # What is wrong with a reset (reset-flags).
    "problem.no-ack": _M(
        en="without the ACK flag (it should be a RST/ACK acknowledging {expected})",
        zh="没有设置 ACK 标志位（应为确认号 {expected} 的 RST/ACK）"),
    "problem.bad-ack": _M(en="acknowledging {ack} instead of {expected}", zh="确认号为 {ack}，而不是 {expected}"),
    "problem.seq-not-zero": _M(en="with sequence number {seq} instead of 0", zh="序号为 {seq}，而不是 0"),
    "problem.ack-set": _M(
        en="with the ACK flag set (it should be a bare RST)",
        zh="设置了 ACK 标志位（应为不带 ACK 的 RST）"),
    "problem.bad-seq": _M(
        en="with sequence number {seq} instead of the probe's acknowledgment number {expected}",
        zh="序号为 {seq}，而不是探测包的确认号 {expected}"),
    # -- the rules -------------------------------------------------------------
    "empty-capture": _M(
        en="A capture of a scan holds the scanner's probes and the target's answers. This file holds no packet at "
           "all (a file header and no records), so it shows nothing. Likely cause: the recorder was stopped before "
           "the scan ran, listened on another interface, or its capture filter matched nothing; record again while "
           "the scan runs.",
        zh="扫描的抓包应包含扫描方的探测包和目标的回应。这个文件里一个数据包也没有（只有文件头，没有记录），"
           "什么也证明不了。可能的原因：抓包在扫描开始之前就停止了、监听了错误的网卡，"
           "或抓包过滤条件没有匹配到任何数据包；请在扫描进行时重新抓包。"),
    "no-probe.port": _M(
        en="The claim {claim} needs probes to {port}. The capture holds none: {seen}. Likely cause: the capture was "
           "taken during another run, or the script scanned another port than the one named.",
        zh="声明 {claim} 需要发往 {port} 的探测包，但抓包中没有：{seen}。可能的原因：抓包来自另一次运行，"
           "或脚本扫描的端口与声明的不同。"),
    "no-probe.any": _M(
        en="The claim {claim} needs the scanner's probes and the target's answers. The capture holds {packets} "
           "packets but no TCP or UDP probe. Likely cause: the recorder ran on another interface or at another time "
           "than the scan.",
        zh="声明 {claim} 需要扫描方的探测包和目标的回应。抓包中有 {packets} 个数据包，但没有任何 TCP 或 UDP 探测包。"
           "可能的原因：抓包的网卡或时间与扫描不一致。"),
    "no-probe.unclaimed": _M(
        en="A scan capture holds probes to the target's ports. This capture holds {packets} packets but no TCP or "
           "UDP probe, so there is nothing to verify. Likely cause: the recorder ran on another interface or at "
           "another time than the scan.",
        zh="扫描的抓包应包含发往目标端口的探测包。这个抓包有 {packets} 个数据包，但没有任何 TCP 或 UDP 探测包，"
           "无从验证。可能的原因：抓包的网卡或时间与扫描不一致。"),
    "no-probe.other": _M(
        en="A scan capture holds probes to the target's ports. This capture holds {packets} packets and "
           "only ordinary traffic ({connections} connection(s), {attempts} of them lone attempts on one port that no "
           "scanner sent: an operating system's connect(), a browser's SYN), so there is nothing to verify. If it is "
           "your scanner's traffic after all (one built on connect() or sendto()), name its technique: a claim "
           "(`--claim connect`, `--claim udp`) reads it as probes.",
        zh="扫描的抓包应包含发往目标端口的探测包。这个抓包有 {packets} 个数据包，只有普通流量（{connections} 个连接，"
           "其中 {attempts} 个是对单个端口的零星连接尝试，并非扫描器所发：操作系统的 connect()、浏览器的 SYN），"
           "无从验证。如果它其实是你的扫描程序（基于 socket 的 connect）发出的，请在声明中写明扫描技术，"
           "即可把它读作探测包。"),
    "no-probe.elsewhere": _M(
        en="This capture holds {packets} packets and no port scan, only {found}: verify holds port scans to their "
           "textbook, so there is nothing to check here. `pcapscan analyze` shows what the capture found.",
        zh="这个抓包有 {packets} 个数据包，没有端口扫描，只有{found}：verify 只对照教材检查端口扫描，"
           "这里没有可检查的内容。`pcapscan analyze` 会显示抓包中的结果。"),
    "family.host-discovery": _M(en="host discovery", zh="主机发现"),
    "family.os-detection": _M(en="OS detection probes", zh="操作系统探测"),
    "family.version-detection": _M(en="version detection probes", zh="服务版本探测"),
    "probe-flags-mismatch": _M(
        en="A {technique} sends {expected}. The probes {where}in this capture carry {got} ({frames}): that is the "
           "probe of a {actual}, so the {technique}'s state table does not apply to them. Likely cause: the "
           "script's flags= argument (or the nmap option) belongs to another technique.",
        zh="{technique}发送的探测包应为{expected}。抓包中的探测包{where}携带的是 {got}（{frames}），"
           "这是{actual}的探测包，不能套用{technique}的状态表。可能的原因：脚本的 flags= 参数（或 nmap 选项）"
           "属于另一种扫描技术。"),
    "probe-flags-mismatch.unknown": _M(
        en="Every textbook technique sends a fixed probe: SYN (SYN and connect scans), FIN, FIN/PSH/URG (Xmas), no "
           "flags (NULL), ACK (ACK and Window scans), FIN/ACK (Maimon). The probes in {frames} carry {got}, which "
           "fits none of them, so no state table applies; pcapscan read their answers like a {fallback}. Likely "
           "cause: a typo in the flags= argument (scapy's flag letters are F S R P A U E C).",
        zh="教材中每种扫描技术的探测包都是固定的：SYN（SYN 扫描和 connect 扫描）、FIN、FIN/PSH/URG（Xmas）、"
           "无标志位（NULL）、ACK（ACK 和 Window 扫描）、FIN/ACK（Maimon）。{frames}的探测包携带的是 {got}，"
           "不符合其中任何一种，没有状态表可以套用；pcapscan 按{fallback}的方式解读了它的回应。可能的原因：flags= "
           "参数写错了（scapy 的标志字母为 F S R P A U E C）。"),
    "state-mismatch": _M(
        en="Textbook ({technique}): {textbook} For {port} the capture shows {evidence}, which means {state}, not "
           "the claimed {claimed}. Likely cause: the port was not in the state the lab meant to simulate when the "
           "capture was taken (a service still running or already stopped, a firewall rule not loaded), or the "
           "state was read off the wrong packet.",
        zh="教材（{technique}）：{textbook}对于 {port}，抓包显示的是{evidence}，这意味着 {state}，而不是声明的 "
           "{claimed}。可能的原因：抓包时端口并不处于实验想要模拟的状态（服务仍在运行或已经停止、"
           "防火墙规则没有生效），或者从错误的数据包得出了结论。"),
    "state-overclaim": _M(
        en="Textbook ({technique}): {textbook} For {port} the capture shows {evidence}, which supports only "
           "{state}: {why}. The claim {claimed} says more than the packets can. Likely cause: a single state was "
           "concluded from silence (as the seeds' summary table does); report {state}.",
        zh="教材（{technique}）：{textbook}对于 {port}，抓包显示的是{evidence}，只能说明 {state}：{why}。声明 "
           "{claimed} 超出了数据包所能证明的范围。可能的原因：从“没有回应”推断出了单一状态（"
           "实验指导中的实验总结表格就是这样做的）；应报告 {state}。"),
    "state-underclaim": _M(
        en="For {port} the capture shows {evidence}, which means {state}; the claim {claimed} is true but less "
           "precise than the evidence.",
        zh="对于 {port}，抓包显示的是{evidence}，意味着 {state}；声明 {claimed} 没有错，但不如证据精确。"),
    "filter-simulated-as-reject": _M(
        en="Textbook: a filtered port is one whose probes a firewall silences: no answer, or an ICMP unreachable "
           "error. {port} was meant to be filtered, but the target answered with {evidence}, which a {technique} "
           "reads as {state}, exactly like a closed port. Likely cause: the lab's firewall rule rejects (iptables "
           "REJECT, nft reject, ufw reject: ICMP port unreachable or a TCP reset) instead of dropping; to simulate "
           "a filtered port, drop the probes (iptables DROP, nft drop, ufw deny) or reject with admin-prohibited.",
        zh="教材：被过滤的端口是指探测包被防火墙“吞掉”的端口：没有回应，或收到 ICMP 不可达错误。{port} "
           "本应处于被过滤状态，但目标回应了{evidence}，{technique}会把它读作 {state}，与关闭的端口完全一样。"
           "可能的原因：实验的防火墙规则使用了拒绝（iptables REJECT、nft reject、ufw reject：回复 ICMP 端口不可达或 "
           "TCP RST），而不是丢弃；要模拟被过滤的端口，应丢弃探测包（iptables DROP、nft drop、ufw deny），或以 "
           "admin-prohibited 拒绝。"),
    "filter-simulated-as-reject.tcp-icmp": _M(
        en="A TCP stack answers a closed port with RST, never with ICMP port unreachable: the ICMP port unreachable "
           "in {frames}, answering a TCP probe, comes from a firewall's reject rule. A SYN scan and the "
           "FIN/NULL/Xmas/ACK scans read it as filtered, but a connect scan reads it as closed (conn-refused): the "
           "same port reads differently depending on the technique.",
        zh="TCP 协议栈对关闭的端口回复 RST，从不回复 ICMP 端口不可达：{frames}中回应 TCP 探测包的 ICMP "
           "端口不可达来自防火墙的拒绝规则。SYN 扫描和 FIN/NULL/Xmas/ACK 扫描把它读作 filtered，而 connect "
           "扫描把它读作 closed（conn-refused）：同一个端口在不同扫描技术下结果不同。"),
    "handshake-incomplete": _M(
        en="Textbook (TCP connect scan): the scanner completes the three-way handshake (SYN, SYN/ACK, ACK) as "
           "connect() does, then closes the connection. The target answered SYN/ACK in {synack}, but the scanner "
           "never sent the ACK that completes the handshake: {after}. Likely cause: the probe came from a raw "
           "socket (scapy's sr1) rather than connect(); the scanner's kernel knows no such connection and resets "
           "it, and a RST/ACK (\"AR\") is an abort, not the third step of the handshake. What the capture shows is a "
           "SYN (half-open) scan; use socket.connect() or nmap -sT for a connect scan.",
        zh="教材（TCP connect 扫描）：扫描方像 connect() 那样完成三次握手（SYN、SYN/ACK、ACK），然后关闭连接。"
           "目标在{synack}回复了 SYN/ACK，但扫描方从未发送完成握手的 ACK：{after}。可能的原因："
           "探测包是通过原始套接字（scapy 的 sr1）而不是 connect() 发出的；扫描机内核中没有这个连接，于是将其复位；"
           "而 RST/ACK（“AR”）是中止连接，并不是握手的第三步。抓包中实际是 SYN（半开）扫描；要做 connect 扫描，"
           "请使用 socket.connect() 或 nmap -sT。"),
    "handshake-completed": _M(
        en="Textbook (SYN scan, also called stealth or half-open scan): after a SYN/ACK the scanner resets instead "
           "of completing the handshake, so no connection is ever established. Here the scanner completed the "
           "handshake with the ACK in {frames}: this is a connect scan. Likely cause: the tool used connect() (nmap "
           "-sT, socket.connect()), or the report confuses the two scans, as the seeds' summary table does "
           "(\"完整的三次握手\" for both).",
        zh="教材（SYN 扫描，又称隐蔽扫描或半开扫描）：收到 SYN/ACK 后扫描方发送 RST，而不是完成握手，"
           "因此从不建立连接。此处扫描方在{frames}用 ACK 完成了三次握手：这是 connect 扫描。可能的原因：工具使用了 "
           "connect()（nmap -sT、socket.connect()），或者报告混淆了这两种扫描，"
           "就像实验指导的实验总结表格把两者都写成“完整的三次握手”一样。"),
    "kernel-rst": _M(
        en="Textbook (SYN scan): the scanner resets the half-open connection after the SYN/ACK. The RST in {rst} is "
           "bare, has window 0 and sequence number {seq}, the acknowledgment of the SYN/ACK in {synack}: the "
           "scanner's own kernel sent it, because the SYN came from a raw socket and the kernel knows no such "
           "connection. This is how nmap -sS and scapy scans look; nothing to fix.",
        zh="教材（SYN 扫描）：扫描方收到 SYN/ACK 后复位半开连接。{rst}的 RST 不带 ACK、窗口为 0、序号为 {seq}，"
           "即{synack}中 SYN/ACK 的确认号：它是扫描机自己的内核发出的，因为 SYN 来自原始套接字，内核中没有这个连接。"
           "nmap -sS 和 scapy 扫描都是这样，无需修改。"),
    "rst-port-mismatch": _M(
        en="A scanner that aborts a connection sends its RST from the connection's own source port, so the target "
           "can match it to the connection (RFC 793). The {flags} in {frames} leaves from source port {sport}, but "
           "the probe went out from source port {probe_ports}: it belongs to no connection and the target ignores "
           "it. Likely cause: the script draws a new random source port for every packet (scapy re-draws "
           "RandShort() each time a packet is built); draw the port once and reuse it.",
        zh="扫描方中止连接时，RST 应从该连接自己的源端口发出，目标才能把它对应到连接上（RFC 793）。{frames}的 "
           "{flags} 从源端口 {sport} 发出，而探测包的源端口是 {probe_ports}：它不属于任何连接，目标会忽略它。"
           "可能的原因：脚本每发一个包就随机选取一个新的源端口（scapy 每次构造数据包都会重新取 RandShort() 的值）；"
           "应只取一次源端口并重复使用。"),
    "rst-out-of-window": _M(
        en="A RST closes a connection only if its sequence number is the one the receiver expects (RFC 793, RFC "
           "5961): after the SYN/ACK in {synack} that is {expected}. The {flags} in {frames} carries {seq}, so the "
           "target drops it. Likely cause: the script built the RST with scapy's default seq=0 instead of the "
           "SYN/ACK's acknowledgment number; only the kernel's RST, if any, closed the half-open connection.",
        zh="RST 只有在序号恰好是接收方期望的值时才能关闭连接（RFC 793、RFC 5961）：在{synack}的 SYN/ACK 之后，"
           "期望值为 {expected}。{frames}的 {flags} 序号为 {seq}，目标会丢弃它。可能的原因：脚本用 scapy 的默认值 "
           "seq=0 构造 RST，而不是使用 SYN/ACK 的确认号；真正关闭半开连接的只有内核的 RST（如果有的话）。"),
    "reset-flags": _M(
        en="RFC 793 (reset generation): a RST answering a segment without ACK has sequence number 0, carries the "
           "ACK flag and acknowledges SEG.SEQ + SEG.LEN; one answering a segment with ACK takes its sequence number "
           "from SEG.ACK and has no ACK flag. The {flags} in {frames} answers the {probe_flags} probe in {probe} "
           "{problem}. {counted}Likely cause: a firewall or middlebox forged the reset (reject with tcp-reset, an "
           "IPS), or the target's TCP stack does not follow RFC 793.",
        zh="RFC 793（RST 的生成）：回应不带 ACK 的报文时，RST 的序号为 0、设置 ACK 标志位，确认号为 SEG.SEQ + "
           "SEG.LEN；回应带 ACK 的报文时，RST 的序号取自 SEG.ACK，且不带 ACK 标志位。{frames}的 {flags} "
           "回应的是{probe}的 {probe_flags} 探测包，但{problem}。{counted}可能的原因：RST 是防火墙或中间设备伪造的（"
           "reject with tcp-reset、入侵防御系统），或目标的 TCP 协议栈不遵循 RFC 793。"),
    "rfc793-deviation": _M(
        en="RFC 793 (page 65): a segment without SYN, RST or ACK that reaches an open (LISTEN) port is dropped "
           "silently; only a closed port answers RST. Here {target} answered the {probe_flags} probe to {port} with "
           "RST in {frames}, but the {open_technique} in {open_capture} ({open_frames}) shows that port open. The "
           "target's stack does not follow RFC 793 (Windows and some embedded stacks reset every port), so the "
           "{technique}'s verdicts for this host are unreliable; use a SYN scan.",
        zh="RFC 793（第 65 页）：不带 SYN、RST、ACK 的报文到达开放（LISTEN）端口时会被静默丢弃，"
           "只有关闭的端口才回复 RST。此处 {target} 在{frames}用 RST 回应了发往 {port} 的 {probe_flags} 探测包，而 "
           "{open_capture} 中的{open_technique}（{open_frames}）显示该端口是开放的。目标的协议栈不遵循 RFC 793（"
           "Windows 和一些嵌入式协议栈对所有端口都回复 RST），因此对该主机的{technique}结果不可靠；请改用 SYN 扫描。"),
    "icmp-ignored": _M(
        en="Textbook: an ICMP unreachable error (type 3, code 1, 2, 3, 9, 10 or 13) answering a probe means "
           "filtered. The {icmp} in {frames} answers the {probe_flags} probe in {probe}: the port is {state}. A "
           "script written like the seeds' demo code never reports it: its ICMP check is nested under the "
           "haslayer(TCP) branch (an ICMP error has no TCP layer, so the check is never reached) or reads "
           "getlayer(TCP).type (None, so AttributeError). Test haslayer(ICMP) at the top level and read "
           "getlayer(ICMP).type and .code.",
        zh="教材：探测包收到 ICMP 不可达错误（类型 3，代码 1、2、3、9、10 或 13）表示 filtered。"
           "{frames}的{icmp}回应了{probe}的 {probe_flags} 探测包：端口状态为 {state}。"
           "照实验指导示例代码写的脚本永远不会报告这一点：它把 ICMP 判断嵌套在 haslayer(TCP) 分支里（ICMP "
           "错误报文没有 TCP 层，这段判断永远执行不到），或者读取 getlayer(TCP).type（结果为 None，抛出 "
           "AttributeError）。应在最外层判断 haslayer(ICMP)，并读取 getlayer(ICMP).type 和 .code。"),
    # -- the capture reader's warnings (capture/containers.py): damage ends reading, results keep what came before
    "read.cover.none": _M(en="no records could be read", zh="没有能读出的记录"),
    "read.cover.one": _M(en="results cover record 1", zh="结果只来自第 1 条记录"),
    "read.cover": _M(en="results cover records 1-{good}", zh="结果来自第 1-{good} 条记录"),
    "read.damage": _M(en="{damage}; {cover}", zh="{damage}；{cover}"),
    "read.no-packets": _M(en="no packets: the capture holds a header and no packet records",
                          zh="没有数据包：抓包文件只有文件头，没有数据包记录"),
    "read.ends.file": _M(en="the file ends {got} byte{s} into it", zh="文件在它的第 {got} 个字节处结束"),
    "read.ends.gzip": _M(en="the gzip stream ends {got} byte{s} into it", zh="gzip 数据流在它的第 {got} 个字节处结束"),
    "read.truncated": _M(en="record {number} is truncated ({ends})", zh="第 {number} 条记录不完整（{ends}）"),
    "read.truncated.header": _M(en="record {number} is truncated ({ends}, inside its header)",
                                zh="第 {number} 条记录不完整（{ends}，在记录头内）"),
    "read.corrupt": _M(
        en="record {number} is corrupt (its header claims {incl} captured bytes, more than the {limit} a capture "
           "record may hold)",
        zh="第 {number} 条记录已损坏（记录头声称抓取了 {incl} 字节，超过一条记录最多可容纳的 {limit} 字节）"),
    "read.gzip.ends": _M(en="the gzip stream ends early, after record {good}",
                         zh="gzip 数据流在第 {good} 条记录之后提前结束"),
    "read.gzip.damaged": _M(en="the gzip data is damaged after record {good} ({error})",
                            zh="gzip 数据在第 {good} 条记录之后损坏（{error}）"),
    "read.gzip.bomb": _M(
        en="the gzip stream inflates to more than {ratio} times its size ({inflated} bytes from the first "
           "{compressed}): a decompression bomb, not a capture",
        zh="gzip 数据流解压后超过其大小的 {ratio} 倍（前 {compressed} 字节解压出 {inflated} 字节）："
           "这是解压炸弹，不是抓包文件"),
    "read.gzip-slow": _M(
        en="gzip-compressed: read packet by packet, not by the fast path: slower (gunzip it first for the fast path)",
        zh="gzip 压缩文件：逐个数据包读取，不走快速路径，较慢（先用 gunzip 解压即可走快速路径）"),
    "read.slow-path": _M(en="read packet by packet, not by the fast path ({reason}): slower",
                         zh="逐个数据包读取，未走快速路径（{reason}）：较慢"),
    "read.link-type": _M(en="link type {linktype} is not supported; {records} record{s} skipped",
                         zh="不支持链路类型 {linktype}；已跳过 {records} 条记录"),
    "read.undeclared": _M(
        en="{records} record{s} (first: record {first}) refer to interface {iface}, which no interface "
           "description block declares; skipped",
        zh="{records} 条记录（第一条：第 {first} 条）引用了接口 {iface}，但没有接口描述块声明它；已跳过"),
    "read.undeclared.more": _M(
        en="{records} more record{s} (first: record {first}) refer to other interfaces that no interface "
           "description block declares; skipped",
        zh="另有 {records} 条记录（第一条：第 {first} 条）引用了没有接口描述块声明的其他接口；已跳过"),
    "read.after-record": _M(en="the capture is truncated after record {n} ({ends}: a block header at byte {at})",
                            zh="抓包文件在第 {n} 条记录之后不完整（{ends}：第 {at} 字节处的块头）"),
    "read.what.record": _M(en="record {n} (pcapng block at byte {at})", zh="第 {n} 条记录（第 {at} 字节处的 pcapng 块）"),
    "read.what.block": _M(en="the pcapng block at byte {at} (after record {n})",
                          zh="第 {at} 字节处的 pcapng 块（在第 {n} 条记录之后）"),
    "read.what.section": _M(en="its pcapng section header", zh="其 pcapng 节头"),
    "read.what.section-at": _M(en="the pcapng section header at byte {at} (after record {n})",
                               zh="第 {at} 字节处的 pcapng 节头（在第 {n} 条记录之后）"),
    "read.block.impossible": _M(en="{what} is corrupt (impossible block length {blen})",
                                zh="{what}已损坏（块长度 {blen} 不可能）"),
    "read.block.too-long": _M(en="{what} is corrupt (block length {blen}, more than the {limit} allowed)",
                              zh="{what}已损坏（块长度 {blen}，超过允许的 {limit}）"),
    "read.block.too-short": _M(en="{what} is corrupt (block length {blen} is too short)",
                               zh="{what}已损坏（块长度 {blen} 太短）"),
    "read.block.short-file": _M(en="{what} is truncated or corrupt (block length {blen}, but {ends})",
                                zh="{what}不完整或已损坏（块长度为 {blen}，但{ends}）"),
    "read.block.truncated": _M(en="{what} is truncated ({ends})", zh="{what}不完整（{ends}）"),
    "read.block.lengths": _M(en="{what} is corrupt (its two length fields disagree: {blen} and {trailer})",
                             zh="{what}已损坏（两个长度字段不一致：{blen} 和 {trailer}）"),
    "read.block.interfaces": _M(en="{what} is one interface description too many (more than {limit})",
                                zh="{what}是多出的接口描述块（超过 {limit} 个）"),
    "read.block.overflow": _M(en="{what} is corrupt (its {incl} captured bytes do not fit in its {blen}-byte block)",
                              zh="{what}已损坏（其 {incl} 个抓取字节放不进 {blen} 字节的块）"),
    "read.idb-short": _M(en="an interface description block after record {n} is too short",
                         zh="第 {n} 条记录之后的接口描述块太短"),
    "read.section.magic": _M(en="{what} is corrupt (byte-order magic 0x{magic})", zh="{what}已损坏（字节序标记 0x{magic}）"),
    "read.section.length": _M(en="{what} has an impossible length {blen}", zh="{what}的长度 {blen} 不可能"),
    "read.section.version": _M(en="{what} has an unsupported pcapng version {major}.{minor}",
                               zh="{what}的 pcapng 版本 {major}.{minor} 不受支持"),
    "read.pcap-header": _M(en="its pcap file header is cut short ({got} of {size} bytes)",
                           zh="其 pcap 文件头不完整（{size} 字节中只有 {got} 字节）"),
    # -- captures that cannot be read at all (capture/containers.py: errors, one line each)
    "error.not-found": _M(en="capture not found: {path}", zh="找不到抓包文件：{path}"),
    "error.directory": _M(en="{path} is a directory, not a capture", zh="{path} 是文件夹，不是抓包文件"),
    "error.cannot-read": _M(en="cannot read {path}: {why}", zh="无法读取 {path}：{why}"),
    "error.empty-file": _M(en="{path} is not a capture (empty file)", zh="{path} 不是抓包文件（空文件）"),
    "error.damaged-gzip": _M(en="{path} is a damaged gzip file ({error})", zh="{path} 是损坏的 gzip 文件（{error}）"),
    "error.gzip-not-capture": _M(
        en="{path} is gzip-compressed but not a pcap or pcapng capture (starts with 0x{start})",
        zh="{path} 是 gzip 压缩文件，但不是 pcap 或 pcapng 抓包文件（开头为 0x{start}）"),
    "error.not-capture": _M(en="{path} is not a pcap or pcapng capture (starts with 0x{start})",
                            zh="{path} 不是 pcap 或 pcapng 抓包文件（开头为 0x{start}）"),
    "error.damaged": _M(en="{path} is a damaged capture: {damage}", zh="{path} 是损坏的抓包文件：{damage}"),
    "expect.unmatched": _M(en="{source}: {pattern} matches no capture; its claims were not checked",
                           zh="{source}：{pattern} 没有匹配任何抓包文件；其声明没有检查"),
    "read.pcapng-header": _M(en="its pcapng section header is cut short", zh="其 pcapng 节头不完整"),
}

# Why the fast path hands a capture to the ordinary reader (fastpath's NeedSlowPath reasons,
# written in English where each is raised and sent as such between processes): each one's
# words, under "slow-path.<its English>"; a reason not here (one naming a library's error)
# is said as written. tests/test_zh_output.py holds every reason raised to its words.
SLOW_PATH_REASONS = {
    "a gzip-compressed capture": "gzip 压缩的抓包文件",
    "a damaged pcapng block": "pcapng 块已损坏",
    "a damaged pcapng interface block": "pcapng 接口描述块已损坏",
    "a pcapng block the fast reader leaves to the ordinary one": "快速读取器交给普通读取器处理的 pcapng 块",
    "too many pcapng interface blocks": "pcapng 接口描述块过多",
    "the capture ends inside a pcapng block": "抓包文件在 pcapng 块中间结束",
    "a record read again was not where the first reading found it": "再次读取的记录不在第一次读取时的位置",
    "more than 2**30 address pairs": "地址对超过 2**30 个",
    "more than 2**31 flows": "流超过 2**31 条",
    "more than 2**32 records, or 2**16 TCP option layouts": "记录超过 2**32 条，或 TCP 选项布局超过 2**16 种",
    "the routing policies took exchanges of a bulk scan session": "分类规则取走了批量扫描会话中的交互",
}
MESSAGES.update({f"slow-path.{_en}": _M(en=_en, zh=_zh) for _en, _zh in SLOW_PATH_REASONS.items()})


def slow_path_note(reason: str) -> Said:
    """The warning that a capture was read packet by packet, and why, in either language."""
    key = f"slow-path.{reason}"
    return said("read.slow-path", reason=T(key) if key in MESSAGES else reason)


# grade's words (pcapscan/grade.py): the feedback's sentences and the pieces it
# joins them with, under "grade.*"; one catalogue with verify's above.
MESSAGES.update({f"grade.{_key}": _texts for _key, _texts in {
    "unlabelled": _M(en="unlabelled", zh="未标注"),
    "sep": _M(en="; ", zh="；"),
    "list": _M(en=", ", zh="、"),
    "colon": _M(en=": ", zh="："),
    "penalty.item": _M(en="{rule} (-{points})", zh="{rule}（-{points}）"),
    "shows.item": _M(en="{technique}: {ports}", zh="{technique}：{ports}"),
    "src.named": _M(en="{file} (named {claim})", zh="{file}（文件名声明 {claim}）"),
    "src.toml": _M(en="{file} (claims.toml: {claim})", zh="{file}（claims.toml 声明 {claim}）"),
    "src.unlabelled": _M(en="{file} (unlabelled)", zh="{file}（未标注）"),
    "why.technique.ok": _M(en="technique: holds {technique} probes (+{points})",
                           zh="扫描技术：包含{technique}的探测包（+{points}）"),
    "why.technique.contradicted.connect": _M(
        en="technique: SYN probes, as a connect scan sends, but the handshake is never completed ({frames}): "
           "this is a SYN scan (+0)",
        zh="扫描技术：与 connect 扫描一样发送 SYN，但三次握手从未完成（{frames}）：这是 SYN 扫描（+0）"),
    "why.technique.contradicted.syn": _M(
        en="technique: the scanner completes the handshake ({frames}): this is a connect scan, not a SYN scan (+0)",
        zh="扫描技术：扫描方完成了三次握手（{frames}）：这是 connect 扫描，不是 SYN 扫描（+0）"),
    "why.technique.wrong": _M(
        en="technique: no {technique} probe ({expected}); the capture shows {shows} (+0)",
        zh="扫描技术：没有{technique}的探测包（{expected}）；抓包显示的是 {shows}（+0）"),
    "why.reference": _M(en="reference: nmap in the same capture saw {port} {state} ({evidence}); not graded",
                        zh="参照：同一抓包中 nmap 的扫描看到 {port} 为 {state}（{evidence}）；不计分"),
    "why.state.ok": _M(en="state: {port}: {evidence}: {state} (+{points})",
                       zh="端口状态：{port}：{evidence}：{state}（+{points}）"),
    "why.state.loose": _M(
        en="state: {port}: {evidence}: only {state}, which cannot tell {claimed} (+{points})",
        zh="端口状态：{port}：{evidence}：只能说明 {state}，无法确定是 {claimed}（+{points}）"),
    "why.state.mismatch": _M(en="state: {port}: {evidence}: {state}, not {claimed} (+{points})",
                             zh="端口状态：{port}：{evidence}：{state}，而不是 {claimed}（+{points}）"),
    "why.state.loose.unclaimed": _M(
        en="state: {port}: {evidence}: only {state}; the cell needs {claimed} (+{points})",
        zh="端口状态：{port}：{evidence}：只能说明 {state}；这一项需要 {claimed}（+{points}）"),
    "why.state.mismatch.unclaimed": _M(en="state: {port}: {evidence}: {state}; the cell needs {claimed} (+{points})",
                                       zh="端口状态：{port}：{evidence}：{state}；这一项需要 {claimed}（+{points}）"),
    "why.state.reject": _M(
        en="state: {port}: {evidence}: {state}: the firewall rejects instead of dropping (+{points})",
        zh="端口状态：{port}：{evidence}：{state}：防火墙使用了拒绝而不是丢弃（+{points}）"),
    "why.state.none": _M(en="state: no {technique} probe, so no state to read (+0)",
                         zh="端口状态：没有{technique}的探测包，无从判断端口状态（+0）"),
    "why.penalty": _M(en="conformance: -{points} {rule}", zh="符合教材：扣 {points} 分（{rule}）"),
    "why.duplicate.zero": _M(en="0 points: the same packets as {others}", zh="0 分：与 {others} 的数据包完全相同"),
    "cell.missing": _M(en="no capture shows a {technique} against a port that is {state}",
                       zh="没有抓包显示对 {state} 端口的{technique}"),
    "cell.no-evidence.empty": _M(en="{file} holds no packet: nothing was recorded",
                                 zh="{file} 中没有任何数据包：什么也没有抓到"),
    "cell.no-evidence.unreadable": _M(en="{file} cannot be read: {error}", zh="{file} 无法读取：{error}"),
    "cell.no-evidence.noprobe": _M(en="{file} holds {packets} packets but no scan probe",
                                   zh="{file} 有 {packets} 个数据包，但没有扫描探测包"),
    "problem.missing": _M(en="no capture", zh="没有抓包"),
    "problem.empty": _M(en="{file} is empty (no packet)", zh="{file} 是空的（没有数据包）"),
    "problem.unreadable": _M(en="{file} cannot be read", zh="{file} 无法读取"),
    "problem.noprobe": _M(en="{file} holds no scan probe", zh="{file} 中没有扫描探测包"),
    "problem.contradicted.connect": _M(en="{file}: the handshake never completes: a SYN scan, not a connect scan",
                                       zh="{file}：三次握手从未完成：这是 SYN 扫描，不是 connect 扫描"),
    "problem.contradicted.syn": _M(en="{file}: the handshake is completed: a connect scan, not a SYN scan",
                                   zh="{file}：完成了三次握手：这是 connect 扫描，不是 SYN 扫描"),
    "problem.wrong-probe": _M(en="{file}: no {technique} probe: it sends a {actual}'s probes",
                              zh="{file}：没有{technique}的探测包：发送的是{actual}的探测包"),
    "problem.loose": _M(en="{file}: {claimed} from silence: the packets show only {state}",
                        zh="{file}：从“没有回应”得出 {claimed}：数据包只能说明 {state}"),
    "problem.loose.unclaimed": _M(en="{file}: {port} shows only {state}; the cell needs {claimed}",
                                  zh="{file}：{port} 只能说明 {state}；这一项需要 {claimed}"),
    "problem.state.unclaimed": _M(en="{file}: {port} shows {state}; the cell needs {claimed}",
                                  zh="{file}：{port} 显示 {state}；这一项需要 {claimed}"),
    "problem.reject": _M(en="{file}: filtered simulated with a reject rule: reads {state}",
                         zh="{file}：用拒绝（reject）规则模拟被过滤的端口：读作 {state}"),
    "problem.state": _M(en="{file}: {port} shows {state}, not {claimed}",
                        zh="{file}：{port} 显示 {state}，而不是 {claimed}"),
    "problem.unprobed": _M(en="{file}: {ports} never probed", zh="{file}：从未探测 {ports}"),
    "problem.unprobed.more": _M(en="{ports} never probed", zh="从未探测 {ports}"),
    "problem.penalties": _M(en="{file}: {rules}", zh="{file}：{rules}"),
    "problem.duplicate": _M(en="{file} was also handed in by another student", zh="其他学生也提交了 {file}"),
    "shows.unreadable": _M(en="nothing (unreadable)", zh="无（无法读取）"),
    "shows.empty": _M(en="nothing (no packet)", zh="无（没有数据包）"),
    "shows.noprobe": _M(en="no scan probe ({packets} packets)", zh="没有扫描探测包（{packets} 个数据包）"),
    "note.unreadable": _M(en="unreadable: {error}", zh="无法读取：{error}"),
    "note.empty": _M(en="empty: a file header and no packet", zh="空文件：只有文件头，没有数据包"),
    "note.noprobe": _M(en="no scan probe among its {packets} packets", zh="{packets} 个数据包中没有扫描探测包"),
    "note.unlabelled": _M(en="unlabelled: shows {shows}", zh="未标注：显示 {shows}"),
    "note.mislabelled": _M(en="named {claim}, but shows {shows}", zh="文件名声明 {claim}，但显示的是 {shows}"),
    "note.warning": _M(en="warning: {warning}", zh="警告：{warning}"),
    "note.unused": _M(en="not used for any cell", zh="没有用于任何一项"),
    "note.background": _M(en="not counted, other hosts' traffic: {what}", zh="不计入（其他主机的流量）：{what}"),
    "note.other-pair": _M(
        en="its scan goes {scanner} → {target}, not {main_scanner} → {main_target} as in the other captures",
        zh="其扫描方向为 {scanner} → {target}，而不是其他抓包中的 {main_scanner} → {main_target}"),
    "note.duplicate": _M(en="the same packets as {others}", zh="与 {others} 的数据包完全相同"),
    "note.claims-file": _M(en="{error}; the file names are read instead", zh="{error}；改为从文件名读取声明"),
    "finding.unreadable": _M(
        en="The file has a capture's name but cannot be read as one: {error}. Likely cause: it was saved in "
           "another format, cut short while copying, or is not a capture at all; export it again from Wireshark "
           "as pcap or pcapng.",
        zh="文件名像抓包文件，但无法作为抓包读取：{error}。可能的原因：以其他格式保存、复制时被截断，"
           "或者根本不是抓包文件；请用 Wireshark 重新导出为 pcap 或 pcapng。"),
    "finding.duplicate": _M(
        en="{file} holds the same packets, record for record and to the microsecond, as {others}: one capture "
           "handed in by two students. Each student records their own scans; ask where it came from.",
        zh="{file} 与 {others} 的数据包逐条相同（时间戳精确到微秒）：两名学生提交了同一个抓包。"
           "每名学生应提交自己抓取的扫描；请核实来源。"),
    "finding.state-not-shown": _M(
        en="The cell {technique} × {cell} needs a port whose packets show {cell}; this capture is counted for what it "
           "shows. Textbook ({technique}): {textbook} For {port} the capture "
           "shows {evidence}, which means {state}.",
        zh="{technique} × {cell} 这一项需要数据包显示为 {cell} 的端口；这个抓包按它实际显示的内容计分。"
           "课本（{technique}）：{textbook}对于 {port}，抓包显示的是{evidence}，"
           "这意味着 {state}。"),
    "finding.state-not-shown.loose": _M(
        en="The cell {technique} × {cell} needs a port whose packets show {cell}; this capture is counted for what it "
           "shows. Textbook ({technique}): {textbook} For {port} the capture "
           "shows {evidence}, which supports only {state}: {why}.",
        zh="{technique} × {cell} 这一项需要数据包显示为 {cell} 的端口；这个抓包按它实际显示的内容计分。"
           "课本（{technique}）：{textbook}对于 {port}，抓包显示的是{evidence}，"
           "只能说明 {state}：{why}。"),
    "finding.port-not-probed": _M(
        en="A test of a port state shows the port that is in that state. {n} of this student's {proto} captures "
           "probe {ports}, but this capture never probes {missing} (its probes go to {probed}), so it shows "
           "nothing about that port. Likely cause: the script was pointed at another port for this run, or the "
           "recording stopped before the probe was sent.",
        zh="端口状态测试应当探测处于该状态的端口。该学生的 {n} 个 {proto} 抓包探测的是 {ports}，"
           "但这个抓包从未探测 {missing}（它的探测包发往 {probed}），因此无法说明该端口的任何情况。"
           "可能的原因：这次运行时脚本指向了其他端口，或者在发送探测包之前就停止了抓包。"),
}.items()})
# analyze's words: why a scan session is read as its technique (techniques/,
# scans.py, fastpath/scans.py say it with these keys; JSON keeps the English),
# what version/OS detection and host discovery showed, and the report's own lines.
MESSAGES.update({
    "inferred.handshake": _M(en="the scanner completed the handshake with ACK (frame {frame})",
                             zh="扫描方用 ACK 完成了三次握手（第 {frame} 帧）"),
    "inferred.syn.reset": _M(
        en="the scanner reset it (frame {rst}) after the SYN/ACK (frame {synack}) instead of completing the handshake",
        zh="扫描方收到 SYN/ACK（第 {synack} 帧）后用 RST 复位了连接（第 {rst} 帧），没有完成三次握手"),
    "inferred.syn.silent": _M(
        en="the scanner did not answer it after the SYN/ACK (frame {synack}) instead of completing the handshake",
        zh="扫描方收到 SYN/ACK（第 {synack} 帧）后没有回应，没有完成三次握手"),
    "inferred.syn.os-options": _M(
        en="the SYN carries an operating system's options (SACK/timestamps/window scale), as connect() sends",
        zh="SYN 带有操作系统的选项（SACK、时间戳、窗口扩大），与 connect() 发出的 SYN 一样"),
    "inferred.syn.mss-only": _M(en="the SYN carries MSS only, like nmap's raw SYN: a raw-socket probe",
                                zh="SYN 只带 MSS 选项，与 nmap 的原始 SYN 一样：这是原始套接字发出的探测包"),
    "inferred.syn.no-options": _M(en="the SYN carries no options, like scapy's: a raw-socket probe",
                                  zh="SYN 不带任何选项，与 scapy 发出的一样：这是原始套接字发出的探测包"),
    "inferred.syn.no-sack": _M(en="the SYN carries no SACK/timestamp options: a raw-socket probe",
                               zh="SYN 不带 SACK 和时间戳选项：这是原始套接字发出的探测包"),
    "inferred.ipproto": _M(en="IP protocol probes (nmap -sO): one exchange per protocol number",
                           zh="IP 协议探测包（nmap -sO）：每个协议号一次探测/回应交互"),
    "inferred.unknown": _M(en="probe flags {flags} fit no technique", zh="探测包的标志位 {flags} 不符合任何扫描技术"),
    "inferred.probes": _M(en="probes are {what}", zh="探测包是{what}"),
    "inferred.smoothed": _M(en="seen on another port of this session: {why}", zh="在本扫描会话的另一个端口上，{why}"),
    "inferred.forced": _M(en="forced by --technique {technique} ({why})",
                          zh="由 `--technique {technique}` 指定（{why}）"),
    "inferred.live": _M(en="live {technique} scan by pcapscan; {why}", zh="pcapscan 实时发起的 {technique} 扫描；{why}"),
    "inferred.idle": _M(
        en="SYNs to {target} spoofed from zombie {zombie} (source port {sport}); the zombie's IP IDs read by "
           "{probes} SYN/ACK probe(s) from {scanner} to port {zport} ({answered} answered with RST)",
        zh="发往 {target} 的 SYN 伪造了僵尸主机 {zombie} 的源地址（源端口 {sport}）；{scanner} 向僵尸主机的 "
           "{zport} 端口发送了 {probes} 个 SYN/ACK 探测包，读取它的 IP ID（{answered} 个收到 RST 回应）"),
    "probes.udp": _M(en="a UDP datagram", zh="UDP 数据报"),
    "probes.init": _M(en="SCTP INIT chunks", zh="SCTP INIT 块"),
    "probes.cookie-echo": _M(en="SCTP COOKIE-ECHO chunks", zh="SCTP COOKIE-ECHO 块"),
    "probes.ip": _M(en="IP packets of one protocol each (one exchange per protocol number)",
                    zh="每个只承载一种协议的 IP 数据包（每个协议号一次探测/回应交互）"),
    "probes.flags": _M(en="TCP flags {flags}", zh="TCP 标志位为 {flags} 的报文"),
    "probes.no-flags": _M(en="TCP flags none", zh="不带任何标志位的 TCP 报文"),
    "probing.os": _M(
        en="nmap OS-detection probes ({names}): their windows, TCP option layouts, ICMP codes and UDP payload are "
           "nmap's own",
        zh="nmap 的操作系统探测包（{names}）：其窗口、TCP 选项布局、ICMP 代码和 UDP 载荷都是 nmap 特有的"),
    "probing.version": _M(
        en="{n} connection(s) after the port scan: the scanner's own TCP stack connecting to ports already scanned, "
           "sending service probes",
        zh="端口扫描之后的 {n} 个连接：扫描方自己的 TCP 协议栈连接已扫描过的端口，发送服务探测包"),
    "discovery.evidence": _M(en="{n} address(es) probed with {methods}: {up} up, {down} down",
                             zh="用 {methods} 探测了 {n} 个地址：{up} 个在线，{down} 个离线"),
    # the report's own lines (report/table.py, markdown.py, rows.py, collapse.py)
    "analyze.other": _M(
        en="other traffic: {packets} packets in {connections} connection(s): established connections, data, "
           "a client's own datagrams; not scan probes",
        zh="其他流量：{connections} 个连接中的 {packets} 个数据包，包括已建立的连接、数据和客户端自己的数据报；"
           "不是扫描探测包"),
    "analyze.other.attempts": _M(
        en="; {n} of them lone attempt(s) on one port, by no scanner (`-t NAME` reads them as scans)",
        zh="；其中 {n} 个是对单个端口的零星连接尝试，并非扫描器所发（加上 `-t NAME` 即可将其读作扫描）"),
    "analyze.scan-title": _M(en="{scanner} -> {target}: {technique} scan, {n} port(s)",
                             zh="{scanner} -> {target}：{technique}，{n} 个端口"),
    "analyze.scan-title.unknown": _M(en="{scanner} -> {target}: unknown (probe flags {flags}) scan, {n} port(s)",
                                     zh="{scanner} -> {target}：未知技术的扫描（探测包标志位 {flags}），{n} 个端口"),
    "analyze.discovery-title": _M(
        en="{scanner}: host discovery ({methods}), {n} address(es), {up} up, {down} down",
        zh="{scanner}：主机发现（{methods}），{n} 个地址，{up} 个在线，{down} 个离线"),
    "analyze.probing": _M(en="{scanner} -> {target}: {kind} ({probes}), not a port scan{tool}",
                          zh="{scanner} -> {target}：{kind}（{probes}），不是端口扫描{tool}"),
    "analyze.probing.tool": _M(en="; tool: {tool}", zh="；扫描工具：{tool}"),
    "analyze.kind.version-detection": _M(en="version-detection", zh="服务版本探测"),
    "analyze.kind.os-detection": _M(en="os-detection", zh="操作系统探测"),
    "analyze.tool": _M(en="{name} ({confidence})", zh="{name}（置信度 {confidence}）"),
    "analyze.not-shown": _M(en="Not shown: {parts}", zh="未列出：{parts}"),
    "analyze.not-shown.ports": _M(en="{n} {state} {proto} ports ({why})", zh="{n} 个 {state} 的 {proto} 端口（{why}）"),
    "analyze.not-shown.protocols": _M(en="{n} {state} protocols ({why})", zh="{n} 个 {state} 的协议（{why}）"),
    "analyze.not-shown.hosts": _M(en="{n} down hosts ({why})", zh="{n} 个 down（离线）主机（{why}）"),
    "analyze.counted": _M(en="{n} {reason}", zh="{n} 个 {reason}"),
})

# compare's words (pcapscan/compare.py, report/compare_report.py): the fields,
# the explanations of each port, the notes and errors, under "compare.*"; the
# report's own headings are LABELS' "compare.*" below. JSON keeps the English
# (compare.py hands back messages.Said: a string that can be said again).
MESSAGES.update({f"compare.{_key}": _texts for _key, _texts in {
    # lists and the seams between sentences
    "list": _M(en="{head}, {tail}", zh="{head}，{tail}"),
    "semi": _M(en="{head}; {tail}", zh="{head}；{tail}"),
    "and": _M(en="{head} and {tail}", zh="{head}和{tail}"),
    "or": _M(en="{head} or {tail}", zh="{head}或{tail}"),
    "space": _M(en="{head} {tail}", zh="{head}{tail}"),
    "then": _M(en="{head}{tail}", zh="{head}{tail}"),
    "values.more": _M(en="{shown} (+{more} more)", zh="{shown}（另有 {more} 个）"),
    # times
    "s": _M(en="{t} s", zh="{t} 秒"),
    "ms": _M(en="{t} ms", zh="{t} 毫秒"),
    "us": _M(en="{t} µs", zh="{t} 微秒"),
    "retry": _M(en="+{t}s", zh="+{t} 秒"),
    # a session, its answers, who sent a RST
    "title": _M(en="{label}: {capture} (session {session} of {sessions}): {scanner} -> {target}, {technique} scan "
                   "of {n} port(s)",
                zh="{label}：{capture}（第 {session} 个扫描会话，共 {sessions} 个）：{scanner} -> {target}，"
                   "{technique}，{n} 个端口"),
    "no-answer": _M(en="no answer", zh="没有回应"),
    "answer": _M(en="{what} (frame {frame})", zh="{what}（第 {frame} 帧）"),
    "answer.syn-ack": _M(en="SYN/ACK", zh="SYN/ACK"),
    "answer.syn": _M(en="a bare SYN", zh="单独的 SYN"),
    "answer.rst": _M(en="RST", zh="RST"),
    "answer.udp": _M(en="a UDP answer", zh="UDP 回应"),
    "answer.icmp-port-unreach": _M(en="ICMP port unreachable", zh="ICMP 端口不可达"),
    "answer.icmp-unreach": _M(en="ICMP unreachable", zh="ICMP 不可达"),
    "answer.icmp-time-exceeded": _M(en="ICMP time exceeded", zh="ICMP 超时"),
    "rst": _M(en="flags {flags}, window {window}, seq {seq}, TTL {ttl}",
              zh="标志位 {flags}，窗口 {window}，序号 {seq}，TTL {ttl}"),
    "sender.kernel": _M(en="kernel", zh="扫描机内核"),
    "sender.kernel (connect)": _M(en="kernel (connect)", zh="扫描机内核（connect）"),
    "sender.tool": _M(en="tool", zh="扫描工具"),
    # the fields, their names and values
    "field.tool": _M(en="tool", zh="扫描工具"),
    "field.technique": _M(en="technique", zh="扫描技术"),
    "field.probes": _M(en="probes", zh="探测包"),
    "field.retransmissions": _M(en="retransmissions", zh="重传"),
    "field.duration": _M(en="duration", zh="持续时间"),
    "field.inter-probe gap": _M(en="inter-probe gap", zh="探测间隔"),
    "field.flags": _M(en="flags", zh="标志位"),
    "field.window": _M(en="window", zh="窗口"),
    "field.TCP options": _M(en="TCP options", zh="TCP 选项"),
    "field.TTL": _M(en="TTL", zh="TTL"),
    "field.IP ID": _M(en="IP ID", zh="IP ID"),
    "field.source port": _M(en="source port", zh="源端口"),
    "field.sequence number": _M(en="sequence number", zh="序号"),
    "field.UDP payload": _M(en="UDP payload", zh="UDP 载荷"),
    "field.handshake": _M(en="handshake", zh="三次握手"),
    "field.RST sent by": _M(en="RST sent by", zh="RST 发送方"),
    "field.port order": _M(en="port order", zh="端口顺序"),
    "field.states": _M(en="states", zh="端口状态"),
    "technique.flags": _M(en="{technique} (flags {flags})", zh="{technique}（标志位 {flags}）"),
    "probes": _M(en="{n} to {ports} port(s)", zh="{n} 个，发往 {ports} 个端口"),
    "none": _M(en="none", zh="无"),
    "retransmissions": _M(en="{total} on {ports} port(s), median +{median}s: {shown}{more}",
                          zh="{ports} 个端口上共 {total} 次，中位数 +{median} 秒：{shown}{more}"),
    "retransmissions.port": _M(en="{port}/{proto} {retries}", zh="{port}/{proto} {retries}"),
    "more-ports": _M(en=" (+{n} ports)", zh="（另有 {n} 个端口）"),
    "gap": _M(en="median {median} (min {low}, max {high})", zh="中位数 {median}（最小 {low}，最大 {high}）"),
    "ttl.every": _M(en="{ttl} on every probe{initial}", zh="每个探测包都是 {ttl}{initial}"),
    "ttl.initial": _M(en=" (initial {ttl})", zh="（初始值 {ttl}）"),
    "ttl.varies": _M(en="varies per probe: {n} values, {low}-{high}", zh="每个探测包不同：{n} 个值，{low}-{high}"),
    "ipid.v6": _M(en="none (IPv6 has no IP ID)", zh="无（IPv6 没有 IP ID）"),
    "ipid.every": _M(en="{id} on every probe", zh="每个探测包都是 {id}"),
    "ipid.masscan": _M(en="(destination ^ port ^ seq) & 0xffff: masscan's",
                       zh="`(destination ^ port ^ seq) & 0xffff`：masscan 的算法"),
    "ipid.incrementing": _M(en="incrementing from {id}", zh="从 {id} 起递增"),
    "ipid.random": _M(en="random ({n} values for {probes} probes)", zh="随机（{probes} 个探测包，{n} 个不同的值）"),
    "sport.one": _M(en="one port for the scan ({port}){retries}", zh="整个扫描用同一个端口（{port}）{retries}"),
    "sport.single": _M(en="{port}{retries}", zh="{port}{retries}"),
    "sport.retries": _M(en=", retries from {ports}", zh="，重传来自 {ports}"),
    "sport.retries.same": _M(en=", retries from the same port", zh="，重传来自同一个端口"),
    "sport.incrementing": _M(en="incrementing by one from {port}", zh="从 {port} 起逐一递增"),
    "sport.new": _M(en="a new port per probe ({ports})", zh="每个探测包换一个新端口（{ports}）"),
    "sport.some": _M(en="{n} ports ({ports})", zh="{n} 个端口（{ports}）"),
    "seq.every-first": _M(en="{word} {value} on every first try", zh="每个首次探测包的 {word} 都是 {value}"),
    "seq.zero": _M(en="{word} 0 on every probe", zh="每个探测包的 {word} 都是 0"),
    "seq.one": _M(en="{word} {value}", zh="{word} {value}"),
    "seq.new": _M(en="new per probe ({n} values)", zh="每个探测包都不同（{n} 个值）"),
    "order.ascending": _M(en="ascending ({ports})", zh="升序（{ports}）"),
    "order.descending": _M(en="descending ({ports})", zh="降序（{ports}）"),
    "order.shuffled": _M(en="shuffled ({ports})", zh="乱序（{ports}）"),
    "payload.empty": _M(en="empty datagrams", zh="空数据报"),
    "payload.bytes": _M(en="{sizes} bytes", zh="{sizes} 字节"),
    "payload.every": _M(en="every datagram: {size}", zh="每个数据报：{size}"),
    "payload.port": _M(en="{port}: {size}", zh="{port}：{size}"),
    "payload.others-empty": _M(en="{shown}; other ports empty", zh="{shown}；其他端口为空"),
    "handshake.completed": _M(en="completed on {ports} (ACK after the SYN/ACK: connect())",
                              zh="在 {ports} 上完成（SYN/ACK 之后发送了 ACK：connect()）"),
    "handshake.never": _M(en="never completed: the SYN/ACK was reset or left unanswered",
                          zh="从未完成：SYN/ACK 被复位或没有得到回应"),
    "handshake.none": _M(en="- (no SYN/ACK)", zh="-（没有 SYN/ACK）"),
    "count": _M(en="{what}: {n}", zh="{what}：{n}"),
    "state.count": _M(en="{state} {n}", zh="{state} {n}"),
    # why two scans read a port differently
    "only": _M(en="only {side} probed {port}/{proto} ({state}, {reason}).",
               zh="只有 {side} 探测了 {port}/{proto}（{state}，{reason}）。"),
    "saw": _M(en="{side} ({technique}) sent {n} probe{s} and got {answers}: {state} ({reason})",
              zh="{side}（{technique}）发送了 {n} 个探测包，结果：{answers}，读作 {state}（{reason}）"),
    "saw.both": _M(en="{a}; {b}.", zh="{a}；{b}。"),
    "explained": _M(en="{what} {why}", zh="{what}{why}"),
    "same-answers.techniques": _M(
        en="{what} Both got {answers}: a {ta} scan reads that as {sa}, a {tb} scan as {sb}.{why}",
        zh="{what}两者收到的都是{answers}：{ta}把它读作 {sa}，{tb}读作 {sb}。{why}"),
    "econnrefused": _M(
        en=" connect() sees no packet, only the socket error the kernel makes of the ICMP message: ECONNREFUSED, "
           "the same error a RST gives, hence closed.",
        zh="connect() 看不到数据包，只能看到内核根据这条 ICMP 报文生成的套接字错误：ECONNREFUSED，"
           "与 RST 产生的错误相同，因此读作 closed。"),
    "same-answers": _M(en="{what} The answers are alike; the verdicts differ by which answer came first.",
                       zh="{what}两者的回应相同；结论不同，是因为先到的回应不同。"),
    "cause": _M(en="{what} {cause}.", zh="{what}{cause}。"),
    "fewer-probes": _M(
        en="{what} {silent} sent fewer probes ({sn} against {gn}): without retransmissions one lost packet reads "
           "as silence.",
        zh="{what}{silent} 发送的探测包更少（{sn} 个，另一方 {gn} 个）：没有重传时，丢失一个数据包就会被读作没有回应。"),
    "one-answered": _M(
        en="{what} The target answered {got}'s probe but not {silent}'s: a firewall rule matching the probes' "
           "fields, rate limiting, or loss.",
        zh="{what}目标回应了 {got} 的探测包，却没有回应 {silent} 的：可能是防火墙规则匹配了探测包的某些字段、"
           "速率限制，或丢包。"),
    "techniques-differ": _M(
        en="{what} The two techniques ask different questions ({ta} vs {tb}), and the target answered each "
           "differently.{rfc}",
        zh="{what}两种扫描技术问的是不同的问题（{ta} 与 {tb}），目标对它们的回应也不同。{rfc}"),
    "answered-differently": _M(
        en="{what} The target answered the two scans differently: its state changed between them, or a firewall "
           "treats the probes differently (TTL, window, options, source port).",
        zh="{what}目标对两个扫描的回应不同：端口状态在两次扫描之间发生了变化，或防火墙对探测包区别对待"
           "（TTL、窗口、选项、源端口）。"),
    "payload-cause": _M(
        en="{loaded}'s datagram carried {n} bytes of payload and {empty}'s was empty: a UDP service answers only a "
           "request it understands{nmap}",
        zh="{loaded} 的数据报带有 {n} 字节载荷，{empty} 的是空的：UDP 服务只回应它能理解的请求{nmap}"),
    "payload-cause.nmap": _M(en=" (nmap sends such payloads to well-known ports)",
                             zh="（nmap 会向知名端口发送这样的载荷）"),
    "textbook": _M(en="{title}: {textbook}", zh="{title}：{textbook}"),
    "textbooks": _M(en="Textbook: {books}", zh="教材：{books}"),
    "consistent.both-wide": _M(
        en="Consistent, not a contradiction: {nl}'s {ns} stands for {nw} and {wl}'s {ws} for {ww}; together they "
           "say {common}.",
        zh="相容，并不矛盾：{nl} 的 {ns} 表示 {nw}，{wl} 的 {ws} 表示 {ww}；合起来就是 {common}。"),
    "consistent": _M(
        en="Consistent, not a contradiction: {wl}'s {ws} stands for {ww}, and {nl}'s {ns} is one of them.",
        zh="相容，并不矛盾：{wl} 的 {ws} 表示 {ww}，{nl} 的 {ns} 是其中之一。"),
    "said.answer": _M(en="the {technique} scan's answer ({answers}) says {state}",
                      zh="{technique}的回应（{answers}）表明是 {state}"),
    "said.silence": _M(en="to the {technique} scan the same silence means {state}",
                       zh="对{technique}来说，同样的没有回应意味着 {state}"),
    "rfc793": _M(
        en="RFC 793, page 65: a segment without SYN, RST or ACK that reaches a listening port is dropped; only a "
           "closed port answers RST",
        zh="RFC 793 第 65 页：不带 SYN、RST、ACK 的报文到达处于监听状态的端口时会被丢弃；只有关闭的端口才回复 RST"),
    "maimon": _M(
        en="a Maimon probe (FIN/ACK) carries ACK, which RFC 793 has a listening port answer with RST; only "
           "BSD-derived stacks drop it on an open port (Uriel Maimon's observation)",
        zh="Maimon 探测包（FIN/ACK）带有 ACK，按 RFC 793 处于监听状态的端口应回复 RST；只有 BSD 系协议栈"
           "会在开放端口上丢弃它（Uriel Maimon 的发现）"),
    "consistent.rfc793": _M(
        en="An open port ignores {probe} ({rfc}), so {ws} is what the {wt} scan must show for it; {said}.",
        zh="开放端口会忽略{probe}（{rfc}），所以{wt}对它必然显示 {ws}；而{said}。"),
    "consistent.maimon": _M(
        en="The target dropped the probe as an open port of a BSD-derived stack does ({maimon}), so {ws} is what "
           "the maimon scan shows for it; {said}.",
        zh="目标像 BSD 系协议栈的开放端口那样丢弃了探测包（{maimon}），所以 maimon 扫描对它显示 {ws}；而{said}。"),
    "consistent.udp-cause": _M(en="{cause}; silence from an open UDP port reads {ws}, and {said}.",
                               zh="{cause}；开放的 UDP 端口不回应时读作 {ws}，而{said}。"),
    "consistent.udp": _M(
        en="An open UDP port answers only a request its service understands, so its silence reads {ws}; {said}.",
        zh="开放的 UDP 端口只回应其服务能理解的请求，所以它不回应时读作 {ws}；而{said}。"),
    "consistent.why": _M(en="To the {wt} scan {why}, while {said}.", zh="对{wt}来说，{why}；而{said}。"),
    "deviation.rfc793": _M(
        en=" {rfc}: a stack that resets an open port too departs from it (Windows and some embedded stacks reset "
           "every port; `pcapscan verify` names this rfc793-deviation). Trust the {technique} scan.",
        zh="{rfc}：对开放端口也回复 RST 的协议栈不符合这一点（Windows 和一些嵌入式协议栈对所有端口都回复 RST；"
           "`pcapscan verify` 称之为 rfc793-deviation）。请以{technique}的结果为准。"),
    "deviation.maimon": _M(
        en=" Most stacks reset an open port too: {maimon}. On this target the maimon scan cannot tell open from "
           "closed; trust the {technique} scan.",
        zh="多数协议栈对开放端口也回复 RST：{maimon}。在这个目标上 maimon 扫描无法区分开放和关闭；"
           "请以{technique}的结果为准。"),
    # the notes
    "note.tools": _M(en="A looks like {at} ({ac}) and B like {bt} ({bc}): A's {ae}; B's {be}.",
                     zh="A 看起来是 {at}（置信度 {ac}），B 看起来是 {bt}（置信度 {bc}）；"
                        "识别依据见 `--format json` 的 `tool.evidence`。"),
    "note.no-evidence": _M(en="fields fit no known tool", zh="字段不符合任何已知工具"),
    "note.built": _M(en="Probes built differently: {items}.", zh="探测包的构造不同：{items}。"),
    "note.built.item": _M(en="{name} A {a}, B {b}", zh="{name}：A 为 {a}，B 为 {b}"),
    "note.kernel": _M(
        en="In {who} the scanner's kernel reset the SYN/ACK (e.g. {side} frame {frame}, port {port}: a bare RST, "
           "window 0, seq = the SYN/ACK's ack): the raw SYN had no socket behind it, so the kernel refused the "
           "connection the target offered.",
        zh="在{who}中，扫描机内核复位了 SYN/ACK（例如 {side} 的第 {frame} 帧，端口 {port}：不带 ACK 的 RST，"
           "窗口为 0，序号等于 SYN/ACK 的确认号）：原始 SYN 背后没有套接字，所以内核拒绝了目标提供的连接。"),
    "note.kernel.both": _M(en="both A and B", zh="A 和 B"),
    "note.tool-rst": _M(
        en="In {side} the tool sent its own RST as well (frame {frame}, {text}), built by hand rather than by the "
           "kernel.",
        zh="在 {side} 中，扫描工具还自己发送了 RST（第 {frame} 帧，{text}），这是手工构造的，而不是内核发出的。"),
    "note.handshake": _M(
        en="{side} completed the TCP handshake on port {port} (the ACK after the SYN/ACK): a real connect(), which "
           "the target's application sees and may log.",
        zh="{side} 在端口 {port} 上完成了 TCP 三次握手（SYN/ACK 之后的 ACK）：这是真正的 connect()，"
           "目标上的应用程序能看到并可能记录下来。"),
    "note.half-open": _M(
        en="{no} got a SYN/ACK too but never completed the handshake: a half-open scan, whatever its author "
           "called it; {yes} did complete it.",
        zh="{no} 也收到了 SYN/ACK，但从未完成三次握手：不管作者怎么称呼，这都是半开扫描；{yes} 则完成了握手。"),
    "note.retries": _M(
        en="{more} {did}{when} ({sport}){rerun}; {less} sent {less_did}, so a single lost packet can turn a port "
           "filtered there.",
        zh="{more} {did}{when}（{sport}）{rerun}；{less} {less_did}，所以在 {less} 中丢失一个数据包就可能让端口读作 "
           "filtered。"),
    "note.retries.again": _M(en="sent {n} probe(s) again", zh="再次发送了 {n} 个探测包"),
    "note.retries.unanswered": _M(en="retransmitted {n} unanswered probe(s)", zh="重传了 {n} 个没有回应的探测包"),
    "note.retries.when": _M(en=" {t} s after the first try", zh="，中位数为首次发送后 {t} 秒"),
    "note.retries.rerun": _M(en=", {n} of them to a port that had already answered: a second run, not retransmissions",
                             zh="，其中 {n} 个发往已经回应过的端口：这是第二次运行，不是重传"),
    "note.retries.once": _M(en="each probe once", zh="每个探测包只发送一次"),
    "note.retries.some": _M(en="{n} retransmission(s)", zh="只重传了 {n} 次"),
    "note.payloads": _M(
        en="UDP payloads: A {a}; B {b}. Many UDP services stay silent unless the request makes sense to them, so "
           "a payload can make the difference between open and open|filtered.",
        zh="UDP 载荷：A 为 {a}；B 为 {b}。许多 UDP 服务只在请求对它有意义时才回应，所以有没有载荷可能决定端口读作 "
           "open 还是 open|filtered。"),
    "note.order": _M(en="Port order: A {a}; B {b}.", zh="端口顺序：A 为 {a}；B 为 {b}。"),
    "note.timing": _M(en="Timing: A took {ad} (gaps {ag}); B took {bd} (gaps {bg}).",
                      zh="用时：A 用了 {ad}（探测间隔 {ag}）；B 用了 {bd}（探测间隔 {bg}）。"),
    "note.none-shared": _M(en="The two scans probed no port in common.", zh="两个扫描没有共同探测的端口。"),
    "note.agree": _M(en="The two scans agree on the state of every port both probed.",
                     zh="两个扫描对共同探测的每个端口的状态都一致。"),
    "note.no-contradiction": _M(en="The two scans contradict each other on no port{fit}.",
                                zh="两个扫描在任何端口上都不矛盾{fit}。"),
    "note.disagree": _M(en="The scans disagree on {n} of the {shared} port(s) both probed: see the disagreements{fit}.",
                        zh="在共同探测的 {shared} 个端口中，两个扫描有 {n} 个不一致：见“不一致的端口”{fit}。"),
    "note.fit": _M(
        en="; {n} port(s) read differently but consistently (one technique's wide state holds the other's narrower "
           "one): see the consistent readings",
        zh="；{n} 个端口读法不同但相容（一种扫描技术的宽泛状态包含另一种更窄的状态）：见“读法不同但相容的端口”"),
    "note.one-sided": _M(en="{n} port(s) were probed by only one of the scans.",
                         zh="{n} 个端口只有其中一个扫描探测过。"),
    # errors
    "error.client-only": _M(
        en="{path}: no scan sessions found (only a client's own traffic: {n} lone attempt(s) or datagram "
           "exchange(s) that no scanner sent)",
        zh="{path}：没有找到扫描会话（只有客户端自己的流量：{n} 个并非扫描器所发的零星连接尝试或数据报交互）"),
    "error.no-probes": _M(en="{path}: no scan sessions found (no probes in the capture)",
                          zh="{path}：没有找到扫描会话（抓包中没有探测包）"),
    "error.no-session": _M(en="{option} {session}: {path} holds {n} scan session(s)",
                           zh="`{option} {session}`：{path} 只有 {n} 个扫描会话"),
    "error.one-session": _M(en="{path} holds one scan session; give a second capture to compare with",
                            zh="{path} 只有一个扫描会话；请再给出一个抓包文件用来比较"),
    "error.same-session": _M(en="--session-a and --session-b name the same session",
                             zh="`--session-a` 和 `--session-b` 指定了同一个扫描会话"),
}.items()})
# A technique as compare names it: its value ("syn") in English, as the
# English report always has; its title (TECHNIQUE_WORDS) in Chinese.
MESSAGES.update({f"compare.technique.{_t.value}": _M(en=_t.value, zh=TECHNIQUE_WORDS["zh"].get(_t, _t.value))
                 for _t in Technique})

# Every rule id has its template (possibly with variants "rule.variant").
for _key, _texts in MESSAGES.items():
    assert set(_texts) == set(LANGS), _key

# Words of the verify report itself (headings, column names), per language.
LABELS = {
    "en": {
        "title": "pcapscan verify", "conforms": "conforms", "violates": "violates", "unreadable": "unreadable",
        "counts": "{errors} error(s), {warnings} warning(s), {infos} note(s)",
        "claims": "claims", "no-claim": "no claim: each scan is checked against the textbook of its inferred technique",
        "findings": "findings", "no-findings": "no findings", "ladders": "ladder diagrams",
        "ladder": "ladder", "packets": "packets", "no-exchanges": "no probe/response exchange",
        "capture": "capture", "verdict": "verdict", "scanner": "scanner", "target": "target",
        "technique": "technique", "port": "port", "state": "state", "reason": "reason", "claim": "claim",
        "severity": "severity", "rule": "rule", "frames": "frames", "message": "explanation",
        "inferred": "(inferred)", "session": "session",
        "colon": ": ", "comma": ", ", "title.line": "{title}: {verdict} ({counts})", "capture.verdict": "{line}: {verdict}",
        "claims.line": "{claims}: {list}", "claim.item": "{claim} ({source})", "ladder.title": "{ladder} {port} ({what})",
        "capture.packets": "{n} packets", "capture.non-ip": "{n} not IP (ARP, ...)",
        "capture.skipped": "{n} undecodable, skipped", "capture.duplicates": "{n} duplicates ignored",
        "capture.empty": "no packets", "capture.error": "error: {error}",
        "source.file name": "file name", "source.folder name": "folder name",
        "frame": "frame", "time": "time", "more": "... {n} more packet(s)", "ports.summary": "{n} ports: {counts}",
        "summary": "{rule} on {ports} port(s) of {sessions} session(s): the first {shown} above, "
                   "{more} more in --format json",
        "analyze.title": "pcapscan analysis", "analyze.no-probes": "no scan probes found",
        "analyze.technique": "technique", "analyze.Technique": "Technique", "analyze.evidence": "evidence",
        "analyze.zombie": "zombie", "analyze.Zombie": "Zombie", "analyze.tool": "tool", "analyze.Tool": "Tool",
        "analyze.warning": "warning", "analyze.stop": ".",
        "analyze.host": "host", "analyze.ttl": "ttl", "analyze.decided-by": "decided by",
        "analyze.frames": "frames (probe -> response)", "tool.unknown": "unknown",
    },
    "zh": {
        "title": "pcapscan 验证", "conforms": "符合教材", "violates": "不符合教材", "unreadable": "无法读取",
        "counts": "{errors} 个错误，{warnings} 个警告，{infos} 个提示",
        "claims": "声明", "no-claim": "没有声明：按推断出的扫描技术对照教材检查每个扫描",
        "findings": "发现的问题", "no-findings": "没有发现问题", "ladders": "时序图",
        "ladder": "时序图", "packets": "个数据包", "no-exchanges": "没有探测/回应交互",
        "capture": "抓包文件", "verdict": "结论", "scanner": "扫描方", "target": "目标",
        "technique": "扫描技术", "port": "端口", "state": "状态", "reason": "原因", "claim": "声明",
        "severity": "级别", "rule": "规则", "frames": "帧", "message": "说明",
        "inferred": "（推断）", "session": "扫描会话",
        "colon": "：", "comma": "，", "title.line": "{title}：{verdict}（{counts}）", "capture.verdict": "{line}：{verdict}",
        "claims.line": "{claims}：{list}", "claim.item": "{claim}（{source}）", "ladder.title": "{ladder} {port}（{what}）",
        "capture.packets": "{n} 个数据包", "capture.non-ip": "其中 {n} 个不是 IP 数据包（ARP 等）",
        "capture.skipped": "{n} 个无法解码，已跳过", "capture.duplicates": "{n} 个重复数据包，已忽略",
        "capture.empty": "没有数据包", "capture.error": "错误：{error}",
        "source.file name": "文件名", "source.folder name": "文件夹名",
        "frame": "帧", "time": "时间", "more": "……另有 {n} 个数据包", "ports.summary": "{n} 个端口：{counts}",
        "tool.unknown": "未知工具",
        "summary": "{rule}：{sessions} 个扫描会话中的 {ports} 个端口；上面列出前 {shown} 个，其余 {more} 个见 --format json",
        "analyze.title": "pcapscan 分析", "analyze.no-probes": "没有发现扫描探测包",
        "analyze.technique": "扫描技术", "analyze.Technique": "扫描技术", "analyze.evidence": "依据",
        "analyze.zombie": "僵尸主机", "analyze.Zombie": "僵尸主机", "analyze.tool": "扫描工具", "analyze.Tool": "扫描工具",
        "analyze.warning": "警告", "analyze.stop": "。",
        "analyze.host": "主机", "analyze.ttl": "TTL", "analyze.decided-by": "判定依据",
        "analyze.frames": "帧（探测包 -> 回应）",
    },
}


# The reports' own words, under a prefix each: annotate's packet comments
# (report/annotate.py), grade's feedback (report/grade_report.py) and its
# HTML pages (report/grade_html.py).
_REPORT_LABELS = {
    "annotate": {
        "en": {
            "probe": "probe {port} ({how}): {state}, {reason}",
            "probe.answered": "probe {port} ({how}): {state}, {reason} in {frames}",
            "answer": "answer {port} ({how}): {state}, {reason} to the probe in {frames}",
            "followup": "follow-up {port} ({how}): what the scanner sent after the answer in {frames}",
            "host.probe": "host discovery {address} ({method}): {state}, {reason}",
            "host.probe.answered": "host discovery {address} ({method}): {state}, {reason} in {frames}",
            "host.answer": "answer from {address} ({method}): {state}, {reason} to the probe in {frames}",
            "probing": "{kind} probe, {scanner} -> {target}",
            "version-detection": "version detection", "os-detection": "OS detection",
            "finding": "{rule}: {message}", "sep": ", ",
            "done": "{output}: {packets} packets, {commented} with comments, {findings} finding(s) of verify",
        },
        "zh": {
            "probe": "探测 {port}（{how}）：{state}，{reason}",
            "probe.answered": "探测 {port}（{how}）：{state}，{reason}，应答见{frames}",
            "answer": "应答 {port}（{how}）：{state}，{reason}，探测包见{frames}",
            "followup": "后续 {port}（{how}）：扫描器收到{frames}的应答后发出的包",
            "host.probe": "主机发现 {address}（{method}）：{state}，{reason}",
            "host.probe.answered": "主机发现 {address}（{method}）：{state}，{reason}，应答见{frames}",
            "host.answer": "来自 {address} 的应答（{method}）：{state}，{reason}，探测包见{frames}",
            "probing": "{kind}探测包，{scanner} -> {target}",
            "version-detection": "版本探测", "os-detection": "操作系统探测",
            "finding": "{rule}：{message}", "sep": "，",
            "done": "{output}：{packets} 个数据包，其中 {commented} 个带注释；verify 发现 {findings} 个问题",
        },
    },
    "grade-report": {
        "en": {
            "title": "pcapscan grade: {students} student(s), {cells} cells each, {max} points (rubric: {rubric})",
            "student": "student", "points": "points", "problems": "to fix", "none": "nothing to fix",
            "feedback.title": "Port scanning lab: {id}",
            "feedback.score": "**{points} / {max} points**",
            "feedback.rubric": "Graded by `pcapscan grade` from the packets of your captures, rubric \"{rubric}\". "
                               "Each cell (technique × port state) earns points for the technique (the capture holds "
                               "its probes and behaves as it), for the state (the packets support it) and for "
                               "conformance to the textbook (minus a penalty per rule broken). Frame numbers are "
                               "Wireshark's.",
            "fix": "What to fix", "cells": "Cells", "captures": "Captures", "findings": "Findings",
            "submission": "About the submission",
            "technique": "technique", "state": "state", "capture": "capture", "shows": "shows", "verdict": "verdict",
            "reasons": "why", "named": "named", "used": "used for", "notes": "notes", "none.used": "-",
            "no-findings": "No finding.", "penalty": "costs {points}", "free": "costs nothing",
            "wrote": "wrote {csv} and {n} feedback file(s) in {dir}",
            "fix.item": "- **{cell}** ({verdict}, {points}): {problem}", "student.finding": "  {severity}: {rule}: {file}",
            "cell.heading": "### {cell}: {file}", "finding.head": "- **{severity}** `{rule}`{where}, {cost}: {message}",
            "finding.where": " ({where})", "where.sep": ", ", "colon": ": ", "comma": ", ", "paren": " ({text})",
        },
        "zh": {
            "title": "pcapscan 评分：{students} 名学生，每人 {cells} 项，满分 {max}（评分标准：{rubric}）",
            "student": "学生", "points": "得分", "problems": "需要改正", "none": "没有需要改正的地方",
            "feedback.title": "端口扫描实验：{id}",
            "feedback.score": "**{points} / {max} 分**",
            "feedback.rubric": "由 `pcapscan grade` 根据抓包中的数据包评分，评分标准“{rubric}”。每一项（扫描技术 × "
                               "端口状态）分三部分得分：扫描技术（抓包包含该技术的探测包且行为一致）、"
                               "端口状态（数据包能证明该状态）、与教材的符合程度（每违反一条规则扣相应的分）。"
                               "帧号与 Wireshark 一致。",
            "fix": "需要改正的地方", "cells": "各项得分", "captures": "抓包文件", "findings": "发现的问题",
            "submission": "关于提交",
            "technique": "扫描技术", "state": "端口状态", "capture": "抓包", "shows": "抓包显示", "verdict": "结论",
            "reasons": "原因", "named": "文件名声明", "used": "用于", "notes": "备注", "none.used": "-",
            "no-findings": "没有发现问题。", "penalty": "扣 {points} 分", "free": "不扣分",
            "wrote": "已写入 {csv} 和 {n} 个反馈文件（{dir}）",
            "fix.item": "- **{cell}**（{verdict}，{points}）：{problem}", "student.finding": "  {severity}：{rule}：{file}",
            "cell.heading": "### {cell}：{file}", "finding.head": "- **{severity}** `{rule}`{where}，{cost}：{message}",
            "finding.where": "（{where}）", "where.sep": "，", "colon": "：", "comma": "，", "paren": "（{text}）",
        },
    },
    "grade-html": {
        "en": {"index.title": "Port scanning lab: the class", "legend": "Colours", "back": "the class",
               "sort": "click a header to sort", "ladder": "ladder of {port} in {file}",
               "students": "{students} student(s), {cells} cells each, {max} points (rubric: {rubric})",
               "wrote": "class page {path}"},
        "zh": {"index.title": "端口扫描实验：全班", "legend": "颜色", "back": "全班",
               "sort": "点击表头排序", "ladder": "{file} 中 {port} 的时序图",
               "students": "{students} 名学生，每人 {cells} 项，满分 {max}（评分标准：{rubric}）",
               "wrote": "全班页面 {path}"},
    },
    "compare": {
        "en": {
            "title": "pcapscan compare", "made": "How the scans were made", "ports": "Ports", "notes": "Notes",
            "field": "field", "port": "port", "agree": "agree", "colon": ": ", "end": ":",
            "agree.same": "yes", "agree.consistent": "consistent", "agree.disagree": "NO", "agree.one-sided": "-",
            "disagreements": "Disagreements", "consistent": "Consistent readings",
            "one_sided": "Ports probed by one scan only", "differ": "(* the two scans differ)",
            "summed": "{more} more, summed up in \"Not shown\" above",
            "cell": "{state} ({reason}); {probes} probe(s){retries}", "cell.retries": ", retries {retries}",
            "not-shown": "Not shown: {parts} (every port in --format json)", "sep": "; ",
            "not-shown.a": "{n} {proto} ports only A probed, read as \"{cell}\"",
            "not-shown.b": "{n} {proto} ports only B probed, read as \"{cell}\"",
            "not-shown.same": "{n} {proto} ports both scans read as \"{cell}\"",
            "not-shown.both": "{n} {proto} ports A reads as \"{a}\" and B as \"{b}\"",
        },
        "zh": {
            "title": "pcapscan 比较", "made": "两个扫描是如何进行的", "ports": "端口", "notes": "说明",
            "field": "字段", "port": "端口", "agree": "一致", "colon": "：", "end": "：",
            "agree.same": "是", "agree.consistent": "相容", "agree.disagree": "否", "agree.one-sided": "-",
            "disagreements": "不一致的端口", "consistent": "读法不同但相容的端口",
            "one_sided": "只有一个扫描探测过的端口", "differ": "（* 两个扫描不同）",
            "summed": "另有 {more} 个，已汇总在上面的“未列出”中",
            "cell": "{state}（{reason}）；{probes} 个探测包{retries}", "cell.retries": "，重传 {retries}",
            "not-shown": "未列出：{parts}（全部端口见 `--format json`）", "sep": "；",
            "not-shown.a": "{n} 个只有 A 探测过的 {proto} 端口，读作“{cell}”",
            "not-shown.b": "{n} 个只有 B 探测过的 {proto} 端口，读作“{cell}”",
            "not-shown.same": "{n} 个两个扫描都读作“{cell}”的 {proto} 端口",
            "not-shown.both": "{n} 个 A 读作“{a}”、B 读作“{b}”的 {proto} 端口",
        },
    },
}
for _prefix, _labels in _REPORT_LABELS.items():
    assert set(_labels) == set(LANGS), _prefix
    for _lang, _words in _labels.items():
        LABELS[_lang].update({f"{_prefix}.{k}": v for k, v in _words.items()})


# A progress line's words (cli.ProgressBar) per phase of pcapscan/progress.py:
# what the phase is called, what its done and total count.
PROGRESS_WORDS = {
    "en": {
        "reading": ("reading", "bytes"), "pairing": ("pairing", "packets"), "assembling": ("assembling", "flows"),
        "routing": ("grouping, routing", "exchanges"), "fingerprinting": ("classifying, fingerprinting", "flows"),
        "assembling-reread": ("reading again, assembling", "flows"),
        "fingerprinting-reread": ("reading again, classifying, fingerprinting", "flows"),
        "classifying": ("classifying", "exchanges"), "rereading": ("reading again", "bytes"),
        "checking-shapes": ("checking by shape", "ports"), "checking": ("checking", "rules"), "comparing": ("comparing", "sessions"), "writing": ("writing", "ports"),
        "captures": ("captures", "captures"), "grading": ("grading", "students"),
    },
    "zh": {
        "reading": ("读取", "字节"), "pairing": ("配对探测包与回应", "个数据包"), "assembling": ("划分扫描会话", "条流"),
        "routing": ("分组、分流", "次交互"), "fingerprinting": ("分类、识别扫描工具", "条流"),
        "assembling-reread": ("再次读取、划分扫描会话", "条流"),
        "fingerprinting-reread": ("再次读取、分类、识别扫描工具", "条流"),
        "classifying": ("分类", "次交互"), "rereading": ("再次读取", "字节"),
        "checking-shapes": ("按形态检查", "个端口"), "checking": ("检查", "条规则"), "comparing": ("比较", "个扫描会话"), "writing": ("写出", "个端口"),
        "captures": ("抓包文件", "个抓包文件"), "grading": ("评分", "名学生"),
    },
}
# The line around them.
LABELS["en"].update({
    "progress.so-far": "{label}: {what}{spent} s so far", "progress.count": "{count} {unit}, ",
    "progress.of": "{done} of {total} {unit}", "progress.packets": "{count} packets", "progress.rate": ", {rate}/s",
    "progress.left": ", about {left} s left",
})
LABELS["zh"].update({
    "progress.so-far": "{label}：{what}已用 {spent} 秒", "progress.count": "{count} {unit}，",
    "progress.of": "{done}/{total} {unit}", "progress.packets": "{count} 个数据包", "progress.rate": "，每秒 {rate} 个",
    "progress.left": "，约剩 {left} 秒",
})


def label(key: str, lang: str = "en", **params) -> str:
    return LABELS[lang][key].format(**params)
