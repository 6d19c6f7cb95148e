"""A capture annotated for Wireshark: the same packets, each probe and answer
carrying a pcapng packet comment with its verdict, and each of verify's
findings on the frames it names, so that the analysis shows in Wireshark's
packet list (the `frame.comment` column and filter).

    probe 80/tcp (SYN scan, nmap): open, syn-ack in frame 6
    answer 80/tcp (SYN scan, nmap): open, syn-ack to the probe in frame 5
    kernel-rst: ...

`comments` only words what verify and the analyzer concluded (rendering);
capture/pcapng_writer.py copies the packets; `write` does both, given the
VerifyResult of the capture (the CLI runs verify, then this).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .. import messages
from ..capture.pcapng_writer import write_pcapng



def _l(key: str, lang: str, **params) -> str:
    return messages.label(f"annotate.{key}", lang, **params)


@dataclass(frozen=True)
class Annotated:
    """What `annotate` wrote."""

    capture: str
    output: str
    packets: int  # records written
    commented: int  # frames that carry at least one comment
    findings: int  # verify's findings written on frames
    warnings: tuple = ()  # the reader's (a truncated capture, ...)


def comments(result, lang: str = "en") -> dict:
    """frame number -> [comment, ...] for a VerifyResult: verdicts first, in
    session order, then findings. Frames no session or finding names get none."""
    out: dict = {}

    def add(frames, text):
        for n in frames:
            out.setdefault(n, [])
            if text not in out[n]:
                out[n].append(text)

    analysis = result.analysis
    for scan in analysis.scans:
        tech = messages.TECHNIQUE_WORDS[lang].get(scan.technique, scan.technique.value)
        how = f"{tech}{_l('sep', lang)}{scan.tool.name}" if scan.tool is not None else tech
        for p in scan.ports:
            v = p.verdict
            words = dict(port=f"{p.port}/{p.proto}", how=how, state=messages.STATE_WORDS[lang][v.state],
                         reason=v.reason.value)
            if v.response_frames:
                add(v.probe_frames, _l("probe.answered", lang, frames=messages.frames_text(v.response_frames, lang),
                                       **words))
                add(v.response_frames, _l("answer", lang, frames=messages.frames_text(v.probe_frames, lang),
                                          **words))
            else:
                add(v.probe_frames, _l("probe", lang, **words))
            exchange = getattr(p, "exchange", None)
            if exchange is not None:
                add([f.frame for f in exchange.followups],
                    _l("followup", lang, frames=messages.frames_text(v.response_frames or v.probe_frames, lang),
                       **words))
    for d in analysis.discoveries:
        for h in d.hosts:
            words = dict(address=h.address, method=h.method, state=h.state.value, reason=h.reason.value)
            if h.response_frames:
                add(h.probe_frames, _l("host.probe.answered", lang,
                                       frames=messages.frames_text(h.response_frames, lang), **words))
                add(h.response_frames, _l("host.answer", lang, frames=messages.frames_text(h.probe_frames, lang),
                                          **words))
            else:
                add(h.probe_frames, _l("host.probe", lang, **words))
    for pr in analysis.probings:
        kind = messages.LABELS[lang].get(f"annotate.{pr.kind}", pr.kind)
        add(pr.frames, _l("probing", lang, kind=kind, scanner=pr.scanner, target=pr.target))
    for f in result.findings:
        add(f.frames, _l("finding", lang, rule=f.rule, message=f.message))
    return out


def write(result, capture, output, application: Optional[str] = None) -> Annotated:
    """Write `capture` (pcap or pcapng, gzip or not) to `output` as pcapng,
    with the comments of `result`, verify's VerifyResult of that capture (in
    its language). Raises errors.* for a capture that cannot be read or an
    output that cannot be written, before `output` is touched."""
    from .. import __version__

    notes = comments(result, result.lang)
    stats = write_pcapng(capture, output, notes, application=application or f"pcapscan {__version__} annotate")
    summary = next((c for c in result.analysis.captures if c.path == str(capture)), None)
    warnings = (*(summary.warnings if summary else ()), *stats.warnings)
    return Annotated(capture=str(capture), output=str(output), packets=stats.packets - stats.skipped,
                     commented=sum(1 for n in notes if n <= stats.packets),
                     findings=sum(1 for f in result.findings if f.frames),
                     warnings=tuple(dict.fromkeys(warnings)))
