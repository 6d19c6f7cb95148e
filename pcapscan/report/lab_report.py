"""The lab run's report (`pcapscan lab run -o DIR`): the seeds' summary table
filled from the captures, every cell's traffic, verdict and findings, where
pcapscan's scanner and nmap differ; Markdown, HTML and JSON."""
from __future__ import annotations

import html
import json
import time
from dataclasses import asdict

from .. import __version__
from ..live.labmodel import STATE_HOW, STATE_TITLES, STATES, TITLES, Cell, Report, port_of


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _verdict(c: Cell) -> str:
    if c.measured is None:
        return "no exchange in the capture"
    return f"{c.measured} ({c.reason})"


def _findings_word(c: Cell) -> str:
    if c.verify_note and not c.findings:
        return "not verified"
    errors = [f for f in c.findings if f["severity"] == "error"]
    if not c.findings:
        return "no findings"
    rules = ", ".join(dict.fromkeys(f["rule"] for f in c.findings))
    return f"{len(c.findings)} finding(s){' (' + str(len(errors)) + ' error)' if errors else ''}: {rules}"


def _said_text(c: Cell) -> str:
    if c.said is None:
        return ""
    return "" if (c.said, c.said_reason) == (c.measured, c.reason) else f"{c.scanner} said {c.said} ({c.said_reason})"


def _summary_md(report: Report, scanner: str) -> list:
    head = "| 扫描方式/端口状态 | " + " | ".join(
        f"{STATE_TITLES[s]}<br>{port_of('tcp', s)}/tcp, {port_of('udp', s)}/udp" for s in STATES) + " |"
    rows = [head, "|---" * (len(STATES) + 1) + "|"]
    for t in report.techniques:
        cells = []
        for s in STATES:
            c = report.cell(scanner, t, s)
            mark = "✓" if c.ok else f"✗ expected {c.expected}"
            said = _said_text(c)
            cells.append(f"{mark} **{_md(c.measured or '-')}** {_md(c.reason)}<br>`{_md(c.traffic_text)}`<br>"
                         f"[pcap]({c.capture}) · [ladder](#{c.anchor}) · {_md(_findings_word(c))}"
                         + (f"<br>{_md(said)}" if said else ""))
        rows.append(f"| {TITLES[t]} | " + " | ".join(cells) + " |")
    return rows


def _differences(report: Report) -> tuple:
    """(verdict rows, traffic rows, probe rows) where pcapscan and nmap differ."""
    verdicts, traffics, probes = [], [], []
    if "nmap" not in report.scanners:
        return verdicts, traffics, probes
    for t in report.techniques:
        first = {}
        for s in STATES:
            a, b = report.cell("pcapscan", t, s), report.cell("nmap", t, s)
            if (a.measured, a.reason) != (b.measured, b.reason) or (b.said and (b.said, b.said_reason) != (b.measured, b.reason)):
                verdicts.append((t, s, a, b))
            if a.traffic_shape != b.traffic_shape:
                traffics.append((t, s, a, b))
            first.setdefault("pcapscan", a.probe)
            first.setdefault("nmap", b.probe)
        if first.get("pcapscan") != first.get("nmap"):
            probes.append((t, first.get("pcapscan", ""), first.get("nmap", "")))
    return verdicts, traffics, probes


def render_markdown(report: Report) -> str:
    cfg = report.config
    out = ["# pcapscan lab report: every scan technique against every port state", "",
           f"pcapscan {__version__}" + (f", nmap {report.nmap_version}" if report.nmap_version else "")
           + f", {time.strftime('%Y-%m-%d %H:%M')}, {report.seconds:.0f} s. "
           + ("Every cell is as the lab configured." if report.all_expected
              else f"**{sum(not c.ok for c in report.cells.values())} cell(s) differ from what the lab configured.**"),
           ""]
    out += [f"- {n}" for n in report.notes] + ([""] if report.notes else [])
    out += ["## 实验环境 Lab", "",
            "Network namespaces on one machine, joined by veth pairs"
            + (" to a bridge in the gateway's namespace (one LAN, as in the seeds)" if cfg.gateway else "") + "; "
            f"addresses from {cfg.subnet} (RFC 2544 benchmarking, never routed); no default route anywhere.", "",
            "| host | address | namespace |", "|---|---|---|",
            f"| attacker (scanner) | {cfg.attacker}/{cfg.prefixlen} | `{cfg.namespaces[0]}` |",
            f"| victim (target) | {cfg.victim}/{cfg.prefixlen} | `{cfg.namespaces[1]}` |"]
    if cfg.gateway:
        out.append(f"| gateway | {cfg.gateway_addr}/{cfg.prefixlen} | `{cfg.namespaces[2]}` |")
    out += ["", "## 端口状态模拟 Port states", "", "| state | TCP | UDP | how the victim does it |", "|---|---|---|---|"]
    out += [f"| {STATE_TITLES[s]} | {port_of('tcp', s)} | {port_of('udp', s)} | {_md(STATE_HOW[s])} |" for s in STATES]
    out += ["", "Scanners: pcapscan's own (`pcapscan scan`, probes crafted with scapy, connect through the OS) "
            f"with `--timeout {report.timeout}`" + (" and nmap `-n -Pn --reason -T4`" if "nmap" in report.scanners
                                                            else "") + ", each run recorded with tcpdump on the "
            "attacker's veth. Each cell: ✓ when the verdict pcapscan reads from the capture is the one the "
            "configured state must give (and the scanner itself said the same), the packets of that port "
            "(→ attacker to victim, ← back), its own capture, its ladder diagram and what `pcapscan verify` "
            "found claiming the configured state.", ""]
    names = {"pcapscan": "pcapscan's scanner (scapy)", "nmap": "nmap"}
    for scanner in report.scanners:
        out += [f"## 实验总结 Summary: {names[scanner]}", ""] + _summary_md(report, scanner) + [""]
    verdicts, traffics, probes = _differences(report)
    if "nmap" in report.scanners:
        out += ["## Where pcapscan's scanner and nmap differ", ""]
        out += ["### Verdicts", ""]
        if verdicts:
            out += ["| technique | state | pcapscan | nmap (capture) | nmap said |", "|---|---|---|---|---|"]
            out += [f"| {TITLES[t]} | {s} | {_md(_verdict(a))} | {_md(_verdict(b))} | "
                    f"{_md((b.said or '-') + (' (' + b.said_reason + ')' if b.said_reason else ''))} |"
                    for t, s, a, b in verdicts]
        else:
            out.append("None: both scanners reached the same state and reason on every port.")
        out += ["", "### Traffic", ""]
        if traffics:
            out += ["| technique | state | pcapscan | nmap |", "|---|---|---|---|"]
            out += [f"| {TITLES[t]} | {s} | `{_md(a.traffic_text)}` | `{_md(b.traffic_text)}` |"
                    for t, s, a, b in traffics]
        else:
            out.append("None: the same packets went both ways for every port.")
        out += ["", "### Probes", ""]
        if probes:
            out += ["| technique | pcapscan's probe | nmap's probe |", "|---|---|---|"]
            out += [f"| {TITLES[t]} | {_md(a)} | {_md(b)} |" for t, a, b in probes]
        else:
            out.append("The probes are built alike.")
        out.append("")
    out += ["## Details", ""]
    for scanner in report.scanners:
        for t in report.techniques:
            for s in STATES:
                c = report.cell(scanner, t, s)
                out += [f'<a id="{c.anchor}"></a>', "",
                        f"### {scanner} · {TITLES[t]} · {s} ({c.port}/{c.proto})", "",
                        f"- verdict: **{_verdict(c)}**, expected {c.expected} {'✓' if c.ok else '✗'}"
                        + (f"; {_said_text(c)}" if _said_text(c) else ""),
                        f"- capture: [{c.capture}]({c.capture}) (frames {c.frames or '-'} of "
                        f"[{c.run_capture}]({c.run_capture}))",
                        f"- probe: {c.probe or '-'}"]
                if c.findings:
                    out += [f"- {f['severity']} `{f['rule']}`: {_md(f['message'])}" for f in c.findings]
                else:
                    out.append(f"- findings: none" + (f" ({c.verify_note})" if c.verify_note else ""))
                out += ["", "```", c.ladder_text or "(no packets)", "```", ""]
    return "\n".join(out) + "\n"


_CSS = """body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:4px 8px;vertical-align:top;
font-size:13px}th{background:#eee}.ok{background:#eefaee}.bad{background:#fbeaea}code{font-size:12px}
pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px}"""


def render_html(report: Report) -> str:
    e = html.escape
    cfg = report.config
    parts = ["<!DOCTYPE html><html lang=\"zh\"><head><meta charset=\"utf-8\">",
             "<title>pcapscan lab report</title>", f"<style>{_CSS}</style></head><body>",
             "<h1>pcapscan lab report: every scan technique against every port state</h1>",
             f"<p>pcapscan {e(__version__)}" + (f", nmap {e(report.nmap_version)}" if report.nmap_version else "")
             + f", {e(time.strftime('%Y-%m-%d %H:%M'))}, {report.seconds:.0f} s. "
             + ("Every cell is as the lab configured." if report.all_expected else
                f"<b>{sum(not c.ok for c in report.cells.values())} cell(s) differ from what the lab configured.</b>")
             + "</p>"]
    parts += [f"<p>{e(n)}</p>" for n in report.notes]
    hosts = [("attacker (scanner)", cfg.attacker, cfg.namespaces[0]), ("victim (target)", cfg.victim, cfg.namespaces[1])]
    if cfg.gateway:
        hosts.append(("gateway", cfg.gateway_addr, cfg.namespaces[2]))
    parts.append("<h2>实验环境 Lab</h2><table><tr><th>host</th><th>address</th><th>namespace</th></tr>" + "".join(
        f"<tr><td>{e(h)}</td><td>{e(a)}/{cfg.prefixlen}</td><td><code>{e(n)}</code></td></tr>" for h, a, n in hosts)
        + "</table>")
    parts.append("<h2>端口状态模拟 Port states</h2><table><tr><th>state</th><th>TCP</th><th>UDP</th><th>how</th></tr>"
                 + "".join(f"<tr><td>{e(STATE_TITLES[s])}</td><td>{port_of('tcp', s)}</td><td>{port_of('udp', s)}"
                           f"</td><td>{e(STATE_HOW[s])}</td></tr>" for s in STATES) + "</table>")
    names = {"pcapscan": "pcapscan's scanner (scapy)", "nmap": "nmap"}
    for scanner in report.scanners:
        rows = ["<tr><th>扫描方式/端口状态</th>" + "".join(
            f"<th>{e(STATE_TITLES[s])}<br>{port_of('tcp', s)}/tcp, {port_of('udp', s)}/udp</th>" for s in STATES)
            + "</tr>"]
        for t in report.techniques:
            tds = []
            for s in STATES:
                c = report.cell(scanner, t, s)
                mark = "✓" if c.ok else f"✗ expected {e(c.expected)}"
                said = _said_text(c)
                tds.append(f'<td class="{"ok" if c.ok else "bad"}">{mark} <b>{e(c.measured or "-")}</b> '
                           f'{e(c.reason)}<br><code>{e(c.traffic_text)}</code><br>'
                           f'<a href="{e(c.capture)}">pcap</a> · <a href="#{e(c.anchor)}">ladder</a> · '
                           f'{e(_findings_word(c))}' + (f"<br>{e(said)}" if said else "") + "</td>")
            rows.append(f"<tr><th>{e(TITLES[t])}</th>{''.join(tds)}</tr>")
        parts.append(f"<h2>实验总结 Summary: {e(names[scanner])}</h2><table>{''.join(rows)}</table>")
    verdicts, traffics, probes = _differences(report)
    if "nmap" in report.scanners:
        parts.append("<h2>Where pcapscan's scanner and nmap differ</h2><h3>Verdicts</h3>")
        if verdicts:
            parts.append("<table><tr><th>technique</th><th>state</th><th>pcapscan</th><th>nmap (capture)</th>"
                         "<th>nmap said</th></tr>" + "".join(
                             f"<tr><td>{e(TITLES[t])}</td><td>{e(s)}</td><td>{e(_verdict(a))}</td>"
                             f"<td>{e(_verdict(b))}</td><td>{e(b.said or '-')} {e(b.said_reason)}</td></tr>"
                             for t, s, a, b in verdicts) + "</table>")
        else:
            parts.append("<p>None: both scanners reached the same state and reason on every port.</p>")
        parts.append("<h3>Traffic</h3>")
        if traffics:
            parts.append("<table><tr><th>technique</th><th>state</th><th>pcapscan</th><th>nmap</th></tr>" + "".join(
                f"<tr><td>{e(TITLES[t])}</td><td>{e(s)}</td><td><code>{e(a.traffic_text)}</code></td>"
                f"<td><code>{e(b.traffic_text)}</code></td></tr>" for t, s, a, b in traffics) + "</table>")
        else:
            parts.append("<p>None: the same packets went both ways for every port.</p>")
        parts.append("<h3>Probes</h3>")
        if probes:
            parts.append("<table><tr><th>technique</th><th>pcapscan's probe</th><th>nmap's probe</th></tr>" + "".join(
                f"<tr><td>{e(TITLES[t])}</td><td>{e(a)}</td><td>{e(b)}</td></tr>" for t, a, b in probes) + "</table>")
        else:
            parts.append("<p>The probes are built alike.</p>")
    parts.append("<h2>Details</h2>")
    for scanner in report.scanners:
        for t in report.techniques:
            for s in STATES:
                c = report.cell(scanner, t, s)
                items = [f"verdict: <b>{e(_verdict(c))}</b>, expected {e(c.expected)} {'✓' if c.ok else '✗'}"
                         + (f"; {e(_said_text(c))}" if _said_text(c) else ""),
                         f'capture: <a href="{e(c.capture)}">{e(c.capture)}</a> (frames {e(c.frames or "-")} of '
                         f'<a href="{e(c.run_capture)}">{e(c.run_capture)}</a>)', f"probe: {e(c.probe or '-')}"]
                items += [f"{e(f['severity'])} <code>{e(f['rule'])}</code>: {e(f['message'])}" for f in c.findings]
                if not c.findings:
                    items.append("findings: none" + (f" ({e(c.verify_note)})" if c.verify_note else ""))
                drawing = c.ladder_svg or f"<pre>{e(c.ladder_text or '(no packets)')}</pre>"
                parts.append(f'<h3 id="{e(c.anchor)}">{e(scanner)} · {e(TITLES[t])} · {e(s)} ({c.port}/{c.proto})</h3>'
                             + "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>" + drawing)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def report_dict(report: Report) -> dict:
    cfg = report.config
    return {
        "lab": asdict(cfg), "techniques": report.techniques, "scanners": report.scanners, "states": list(STATES),
        "nmap_version": report.nmap_version, "all_expected": report.all_expected, "notes": report.notes,
        "cells": [{k: v for k, v in asdict(c).items() if k not in ("ladder_text", "ladder_svg")} | {"ok": c.ok}
                  for c in report.cells.values()],
    }


def write_reports(report: Report) -> None:
    out = report.out_dir
    (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
    (out / "report.html").write_text(render_html(report), encoding="utf-8")
    (out / "report.json").write_text(json.dumps(report_dict(report), indent=2, ensure_ascii=False) + "\n",
                                     encoding="utf-8")
