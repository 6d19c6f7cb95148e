"""The command line. Thin: each command parses its arguments, calls one
library function, renders. `PcapscanCLI.invoke` is the one place where
library exceptions become a one-line message and an exit status:

    0  success (analyze: every capture read)
    1  findings or failed checks (verify, grade)
    2  usage or input errors (a missing file, not a capture, a bad option)
"""
from __future__ import annotations

import contextlib
import os
import sys

# Before numpy is first imported (a user's settings stay): OpenBLAS starts a thread per core that
# spins on start-up and after every call, for matrix work pcapscan never does (0.1 s of CPU a run);
# numpy asks for huge pages for arrays of 4 MiB and more, and the fast path's zeroed columns, of
# which a scan writes a part, then take 2 MiB at each first write, and the kernel's compaction for
# them up to 0.3 s (bench-5m: 17 MiB more at the peak; docs/performance.md, "Reading, again").
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

import click  # noqa: E402

from . import __version__  # noqa: E402
from .errors import PcapscanError  # noqa: E402
from .techniques import lab_techniques, live_techniques  # noqa: E402

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT = 0, 1, 2
TECHNIQUE_NAMES = [t.value for t in live_techniques()]  # the TCP/UDP port scans pcapscan also sends
FORMATS = ["table", "json", "csv", "markdown", "nmap-xml"]


class PcapscanCLI(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except PcapscanError as exc:
            from .errors import words
            from .messages import render

            click.echo(f"pcapscan: {render(words(exc), ctx.meta.get(LANG_KEY, 'en'))}", err=True)
            ctx.exit(exc.exit_status)
        except OSError as exc:  # writing -o FILE, a broken pipe, ...
            click.echo(f"pcapscan: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
            ctx.exit(EXIT_INPUT)
        except KeyboardInterrupt:
            click.echo("pcapscan: interrupted", err=True)
            ctx.exit(130)


LANG_KEY = "pcapscan.lang"  # ctx.meta: the --lang of the command running, for its error line


def remember_lang(ctx, _param, lang):
    """--lang's callback: an error the command raises is said in its language too."""
    ctx.meta[LANG_KEY] = lang
    return lang


def emit(text: str, output: str | None) -> None:
    """Write the rendering to -o FILE, or to stdout."""
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    elif text:
        click.echo(text, nl=not text.endswith("\n"))


def say_warning(warning, lang: str = "en", path=None) -> None:
    """One warning on stderr, "pcapscan: warning: PATH: ...", in the language asked."""
    from .messages import label, render

    colon = label("colon", lang)
    where = f"{path}{colon}" if path is not None else ""
    click.echo(f"pcapscan: {label('analyze.warning', lang)}{colon}{where}{render(warning, lang)}", err=True)


def say_capture_problems(analysis, lang: str = "en") -> bool:
    """Warnings and unreadable captures of an AnalysisResult, one line each on
    stderr (stdout keeps the results). True when a capture could not be read."""
    from .messages import render

    for c in analysis.captures:
        for w in c.warnings:
            say_warning(w, lang, c.path)
    for err in analysis.errors:
        click.echo(f"pcapscan: {render(err, lang)}", err=True)
    return bool(analysis.errors)


def leave_objects_to_the_os() -> None:
    """At exit, the interpreter's last collection walks every object still alive,
    those of a big analysis too (50-60 ms after analyzing bench-1.3m or bench-5m);
    frozen first (gc.freeze, run at exit: never in the middle of a longer-lived
    process such as a test run), they are left to the OS, which frees the process
    whole. Registered once however often it is asked for."""
    import atexit
    import gc

    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


def _dask_log(message: str) -> None:
    """--dask: the cluster's workers and dashboard, notes on how captures were split (stderr)."""
    click.echo(f"pcapscan: {message}", err=True)


class ProgressBar:
    """A long command's progress on stderr, when it is a terminal: one line,
    the phase named (pcapscan/progress.py), its share done and, while the
    capture is read, packets, rate and time left; a phase that cannot tell
    its length shows the seconds it has taken so far, redrawn each second.
    A new phase replaces the line of the one before: never "100%" and then
    silence. Nothing when stderr is not a terminal, nor for a capture read
    in a moment (under MIN_BYTES) nor a command over within MIN_SECONDS."""

    MIN_BYTES = 32 << 20
    MIN_SECONDS = 0.5
    WIDTH = 24

    def __init__(self, captures: int = 1, stream=None, tty: bool | None = None, size: int | None = None,
                 lang: str = "en"):
        import threading

        self.captures = captures
        self.lang = lang
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.off = not self.tty or (captures == 1 and size is not None and size < self.MIN_BYTES)
        self.started = None  # when the command began (first report)
        self.phase = None
        self.phase_start = 0.0
        self.done = self.total = self.count = 0
        self.shown = False
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.ticker = None

    def __call__(self, done: int, total: int, count: int = 0, phase: str = "reading") -> None:
        import time

        if self.off:
            return
        now = time.monotonic()
        with self.lock:
            if self.started is None:
                self.started = now
            if phase != self.phase:
                self.phase, self.phase_start = phase, now
            self.done, self.total, self.count = done, total, count
            self._draw(now)
        if self.ticker is None:
            import threading

            self.ticker = threading.Thread(target=self._tick, name="pcapscan-progress", daemon=True)
            self.ticker.start()

    def _tick(self) -> None:
        import time

        while not self.stop.wait(1.0):
            with self.lock:
                if not self.off:
                    self._draw(time.monotonic())

    def line(self, now: float) -> str:
        from .messages import PROGRESS_WORDS, label as say

        lang = self.lang
        label, unit = PROGRESS_WORDS[lang].get(self.phase, (self.phase, ""))
        spent = max(now - self.phase_start, 1e-6)
        if not self.total:
            what = say("progress.count", lang, count=f"{self.count:,}", unit=unit) if self.count else ""
            return say("progress.so-far", lang, label=label, what=what, spent=f"{spent:,.0f}")
        share = min(self.done / self.total, 1.0)
        fill = int(share * self.WIDTH)
        bar = "#" * fill + "-" * (self.WIDTH - fill)
        if self.phase == "captures":
            info = say("progress.of", lang, done=self.done, total=self.total, unit=unit)
        elif self.phase in ("reading", "rereading"):
            info = say("progress.packets", lang, count=f"{self.count:,}") + (
                say("progress.rate", lang, rate=f"{self.count / spent:,.0f}") if spent >= 0.5 else "")
        else:
            info = say("progress.of", lang, done=f"{self.done:,}", total=f"{self.total:,}", unit=unit)
        if 0 < share < 1 and spent >= 1:
            info += say("progress.left", lang, left=f"{max(1, round(spent * (1 - share) / share)):,}")
        return f"{label} [{bar}] {share * 100:3.0f}%  {info}"

    def _draw(self, now: float) -> None:
        if now - self.started < self.MIN_SECONDS and not self.shown:
            return
        self.shown = True
        self.stream.write("\r\x1b[K" + self.line(now))
        self.stream.flush()

    def close(self) -> None:
        self.stop.set()
        if self.ticker is not None:
            self.ticker.join()
            self.ticker = None
        with self.lock:
            if self.shown:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
            self.shown = False
            self.off = True


def _size(path: str) -> int:
    """Bytes of a capture file (0 when it cannot be told: no progress for it)."""
    import os

    try:
        return os.stat(path).st_size
    except OSError:
        return 0


@click.group(cls=PcapscanCLI, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pcapscan")
def main():
    """Read packet captures of port scans: what each scan found, port by port, and why."""


@main.command()
@click.argument("captures", nargs=-1, required=True, metavar="CAPTURE...")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout.")
@click.option("--technique", "-t", metavar="NAME",
              help="Interpret the probes as this technique (e.g. window for ACK probes): "
                   + ", ".join(TECHNIQUE_NAMES) + ", or a name such as stealth, half-open, tcp connect.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, metavar="N",
              help="Captures analyzed in parallel [default: every core].")
@click.option("--dask", "dask_address", metavar="ADDRESS",
              help="Run on a Dask cluster: tcp://scheduler:8786, or local (docs/distributed.md).")
@click.option("--dask-split", is_flag=True,
              help="With --dask: split captures of 64 MiB or more into chunks read by several workers "
                   "(same results; by default each capture is one task, which was quicker wherever measured).")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True, callback=remember_lang,
              help="Language of the table and markdown reports (json, csv, nmap-xml stay English).")
def analyze(captures, fmt, output, technique, jobs, dask_address, dask_split, lang):
    """Reconstruct, per port, what a scanner concluded from CAPTURE(s).

    Reads pcap and pcapng, gzip-compressed or not. Exit status 2 if a capture
    could not be read (the others are still analyzed). Big captures take the
    fast path (docs/performance.md); a terminal shows a progress bar."""
    from .analysis import analyze as run_analysis
    from .report.stream import write

    leave_objects_to_the_os()
    if dask_split and not dask_address:
        raise click.UsageError("--dask-split splits captures among a Dask cluster's workers: give --dask too")
    if dask_address:
        from . import cluster

        with cluster.connect(dask_address, log=_dask_log) as client:
            result = cluster.analyze(client, list(captures), technique=technique, fast="auto",
                                     split_min_bytes=cluster.SPLIT_MIN_BYTES if dask_split else -1,
                                     progress=cluster.Progress(), log=_dask_log)
        bar = None
    else:
        bar = ProgressBar(len(captures), size=_size(captures[0]) if len(captures) == 1 else None, lang=lang)
        try:
            result = run_analysis(list(captures), technique=technique, fast="auto", jobs=jobs, progress=bar)
        except BaseException:
            bar.close()
            raise
    try:
        if output:
            with open(output, "w", encoding="utf-8") as fh:
                write(result, fmt, fh, lang, progress=bar)
        else:
            # the bar would tear a terminal's output; writing to a pipe or a file, it goes on
            if bar is not None and sys.stdout.isatty():
                bar.close()
            write(result, fmt, sys.stdout, lang, progress=bar)
            sys.stdout.flush()
    finally:
        if bar is not None:
            bar.close()
    if say_capture_problems(result, lang):
        sys.exit(EXIT_INPUT)


@main.command()
@click.argument("captures", nargs=-1, metavar="CAPTURE...")
@click.option("--claim", "-c", "claims", multiple=True, metavar="TECHNIQUE:STATE[:PORT]",
              help="What the capture(s) should show, e.g. syn:open:80 or stealth:closed. Repeatable.")
@click.option("--expect", "-e", "expect", type=click.Path(dir_okay=False), metavar="FILE",
              help="TOML file of claims per capture path or glob; with no CAPTURE, verify the files it names.")
@click.option("--claims-from-names", is_flag=True,
              help="Read a claim off each file name without one, as grade reads names "
                   "(connect_OPEN.pcap -> connect:open, tcp_Xmas_f.pcap -> xmas:filtered).")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "markdown", "html", "json"]), default="table",
              show_default=True, help="Output format.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True, callback=remember_lang,
              help="Language of the explanations.")
@click.option("--ladders", type=click.Choice(["auto", "all", "none"]), default="auto", show_default=True,
              help="Ladder diagrams: of ports with findings (auto), of every port, or none.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout.")
def verify(captures, claims, expect, claims_from_names, fmt, lang, ladders, output):
    """Check that CAPTURE(s) show what the textbook says their technique does.

    Without a claim each scan is checked against its inferred technique.
    Exit status 0 when everything conforms, 1 when a finding of severity
    error was raised, 2 for bad usage or an unreadable capture."""
    from .report.verify_report import render as render_verify
    from .verify import verify as run_verify

    bar = ProgressBar(len(captures), size=_size(captures[0]) if len(captures) == 1 else None, lang=lang)
    try:
        result = run_verify(list(captures), claims=claims, expectations=expect, lang=lang,
                            claims_from_names=claims_from_names, progress=bar)
    finally:
        bar.close()
    if fmt == "json":  # streamed: the ports of a big capture are never one text
        from .report.verify_report import write_json

        if output:
            with open(output, "w", encoding="utf-8") as fh:
                write_json(result, fh)
        else:
            write_json(result, sys.stdout)
            sys.stdout.flush()
    else:
        emit(render_verify(result, fmt, ladders=ladders), output)
    for warning in result.warnings:
        say_warning(warning, lang)
    if say_capture_problems(result.analysis, lang):
        sys.exit(EXIT_INPUT)
    sys.exit(EXIT_FINDINGS if result.verdict == "violates" else EXIT_OK)


@main.command()
@click.argument("capture", metavar="CAPTURE")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), metavar="OUT.pcapng",
              help="The annotated capture (pcapng).")
@click.option("--claim", "-c", "claims", multiple=True, metavar="TECHNIQUE:STATE[:PORT]",
              help="What the capture should show, as verify's --claim. Repeatable.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True, callback=remember_lang,
              help="Language of the comments.")
def annotate(capture, output, claims, lang):
    """Write CAPTURE to OUT.pcapng with the analysis as packet comments.

    Each probe and answer carries its verdict, each of verify's findings the
    frames it names: open it in Wireshark and filter on frame.comment. The
    packets, their timestamps and link types are kept exactly."""
    from .report.annotate import write as write_annotated
    from .verify import verify as run_verify

    from .progress import report

    bar = ProgressBar(1, size=_size(capture), lang=lang)
    try:
        result = run_verify(capture, claims=claims, lang=lang, progress=bar)
        report(bar, "writing")  # comments worded and the copy written: as long as verify on a big capture
        done = write_annotated(result, capture, output)
    finally:
        bar.close()
    for w in done.warnings:
        say_warning(w, lang, capture)
    from .messages import label

    click.echo(label("annotate.done", lang, output=output, packets=done.packets, commented=done.commented,
                     findings=done.findings))


# -- grading a class (docs/grade.md) ----------------------------------------------

@main.command("grade")
@click.argument("submissions", metavar="SUBMISSIONS")
@click.option("--rubric", "-r", "rubric_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Rubric TOML (pcapscan rubric init prints the default, the seeds' lab).")
@click.option("--output", "-o", "out_dir", type=click.Path(file_okay=False), default="grades", show_default=True,
              help="Directory for gradebook.csv and one feedback file per student.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True, callback=remember_lang,
              help="Language of the feedback.")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="What to print on stdout.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, metavar="N",
              help="Worker processes [default: every core, for classes of many files].")
@click.option("--dask", "dask_address", metavar="ADDRESS",
              help="Read the captures on a Dask cluster: tcp://scheduler:8786, or local (docs/distributed.md).")
def grade_command(submissions, rubric_file, out_dir, lang, fmt, jobs, dask_address):
    """Grade SUBMISSIONS (one folder per student) from the packets of their captures.

    Writes DIR/gradebook.csv, DIR/<student>.md and .html, and DIR/index.html
    (the class at a glance). Exit status 0 when every
    student shows every cell and nothing is flagged, 1 when the grades name
    a problem, 2 for bad usage or input (no such folder, a bad rubric)."""
    from .grade import grade as run_grade
    from .report import grade_html, grade_report
    from .verify import verify as run_verify

    from .progress import report

    bar = ProgressBar(lang=lang)  # the files read, a big one's phases, the students graded, the reports written
    try:
        if dask_address:
            from . import cluster

            with cluster.connect(dask_address, log=_dask_log) as client:
                book = run_grade(submissions, rubric=rubric_file, lang=lang, jobs=jobs, dask=client)
        else:
            book = run_grade(submissions, rubric=rubric_file, lang=lang, jobs=jobs, progress=bar)
        report(bar, "writing")
        paths = grade_report.write(book, out_dir)
        # a big capture's ladders from the ports grade kept of its own verify reading; a small one read again
        index = grade_html.write(book, out_dir, paths[1:], ports_of=lambda path: book.ladders[path]
                                 if path in book.ladders else run_verify(path).ports)
    finally:
        bar.close()
    emit(grade_report.render(book, fmt), None)
    click.echo(f"pcapscan: {grade_report.wrote_line(book, paths, out_dir)}", err=True)
    click.echo(f"pcapscan: {grade_html.wrote_line(book, index)}", err=True)
    sys.exit(EXIT_OK if book.clean else EXIT_FINDINGS)


@main.group()
def rubric():
    """The rubric of `pcapscan grade`."""


@rubric.command("init")
def rubric_init():
    """Print the default rubric (the seeds' lab) as TOML, to edit."""
    from .rubric import DEFAULT_RUBRIC_TOML

    click.echo(DEFAULT_RUBRIC_TOML, nl=False)


# -- live scanning and the lab (docs/live.md) -------------------------------------

PROGRESS_MIN_PORTS = 10  # a progress bar for more probes than a handful, on a terminal


@main.command()
@click.argument("target")
@click.option("--ports", "-p", required=True, help="Ports: 22,80,8000-8100; T:/U: prefixes as nmap's.")
@click.option("--technique", "-t", type=click.Choice(TECHNIQUE_NAMES), default="syn", show_default=True,
              help="Scan technique (connect needs no root).")
@click.option("--retries", type=click.IntRange(0, 20), default=1, show_default=True,
              help="Retransmissions of an unanswered probe.")
@click.option("--timeout", type=float, default=1.0, show_default=True, help="Seconds to wait for each probe.")
@click.option("--rate", type=float, help="At most this many probes per second.")
@click.option("--record", type=click.Path(dir_okay=False), help="Keep everything seen on the wire in this pcap.")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="Output format (as analyze).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout.")
@click.option("--allow-public", is_flag=True, help="Also scan addresses outside private/lab/documentation ranges.")
def scan(target, ports, technique, retries, timeout, rate, record, fmt, output, allow_public):
    """Scan TARGET live and say, port by port, what the capture of it shows.

    Raw techniques need root (or CAP_NET_RAW); connect works without. Public
    addresses are refused unless --allow-public is given (see docs/live.md)."""
    from .live.scanner import scan as live_scan
    from .report import render

    bar = None

    def progress(done, total):
        nonlocal bar
        if bar is None and total > PROGRESS_MIN_PORTS and sys.stderr.isatty():
            bar = click.progressbar(length=total, label="scanning", file=sys.stderr)
            bar.__enter__()
        if bar is not None:
            bar.update(done - bar.pos)

    try:
        result = live_scan(target, ports, technique, retries=retries, timeout=timeout, rate=rate, record=record,
                           allow_public=allow_public, progress=progress)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    emit(render(result, fmt), output)
    say_capture_problems(result)


def _lab_options(f):
    """Options that say which lab, and how to build it (up, and run when no lab is up)."""
    opts = [
        click.option("--name", default=None, help="Lab name: prefix of its namespaces and interfaces "
                                                  "[default: pcslab]."),
        click.option("--state", "state_file", type=click.Path(dir_okay=False), default=None,
                     help="State file [default: $PCAPSCAN_LAB_STATE or /run/pcapscan-lab.json]."),
        click.option("--subnet", default=None, help="Lab subnet, inside 198.18.0.0/15 [default: 198.18.0.0/24]."),
        click.option("--attacker", default=None, help="Attacker's address [default: .101 of the subnet]."),
        click.option("--victim", default=None, help="Victim's address [default: .102 of the subnet]."),
        click.option("--gateway/--no-gateway", default=True, show_default=True,
                     help="A gateway host on the lab LAN, as in the seeds' topology."),
        click.option("--gateway-addr", default=None, help="Gateway's address [default: .1 of the subnet]."),
        click.option("--verbose", "-v", is_flag=True, help="Print every command that builds the lab."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _lab_config(name, subnet, attacker, victim, gateway, gateway_addr):
    from .live.labrun import LabConfig

    return LabConfig.make(name=name, subnet=subnet, attacker=attacker, victim=victim, gateway=gateway,
                          gateway_addr=gateway_addr)


@main.group()
def lab():
    """The seeds' lab in network namespaces: up, run every scan, down (needs root)."""


@lab.command("up")
@_lab_options
def lab_up(name, state_file, subnet, attacker, victim, gateway, gateway_addr, verbose):
    """Build the lab: attacker, victim (and gateway) in namespaces, ports in every state."""
    from .live import labrun

    cfg = _lab_config(name, subnet, attacker, victim, gateway, gateway_addr)
    state = labrun.up(cfg, state_file, verbose=verbose, log=lambda m: click.echo(m, err=True))
    click.echo(labrun.describe(state))


@lab.command("run")
@click.option("--output", "-o", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Directory for the report, the captures and the ladders.")
@click.option("--techniques", default=None,
              help=f"Comma list [default: {','.join(t.value for t in lab_techniques())}].")
@click.option("--nmap/--no-nmap", "use_nmap", default=True, show_default=True,
              help="Also scan with nmap, when it is installed.")
@click.option("--timeout", type=float, default=1.0, show_default=True, help="pcapscan's per-probe timeout.")
@click.option("--retries", type=click.IntRange(0, 5), default=1, show_default=True,
              help="Retransmissions (pcapscan --retries, nmap --max-retries).")
@_lab_options
def lab_run(out_dir, techniques, use_nmap, timeout, retries, name, state_file, subnet, attacker, victim, gateway,
            gateway_addr, verbose):
    """Scan every technique against every port state, with pcapscan and nmap; write OUT/report.md and .html.

    Uses the lab `lab up` built, or builds one and removes it at the end
    (also on Ctrl-C or a failing step)."""
    from .live import labrun

    cfg = _lab_config(name, subnet, attacker, victim, gateway, gateway_addr)
    report = labrun.run(out_dir, cfg, state_file, techniques=techniques, use_nmap=use_nmap, timeout=timeout,
                        retries=retries, verbose=verbose, log=lambda m: click.echo(m, err=True))
    click.echo(report.summary_text())
    if not report.all_expected:
        sys.exit(EXIT_FINDINGS)


@lab.command("down")
@click.option("--state", "state_file", type=click.Path(dir_okay=False), default=None,
              help="State file [default: $PCAPSCAN_LAB_STATE or /run/pcapscan-lab.json].")
def lab_down(state_file):
    """Remove the lab: namespaces, veths, firewall, listeners. Safe to repeat."""
    from .live import labrun

    click.echo(labrun.down(state_file))


@main.command()
@click.argument("capture_a", metavar="CAPTURE_A")
@click.argument("capture_b", required=False, metavar="[CAPTURE_B]")
@click.option("--session-a", "-a", type=click.IntRange(min=1), metavar="N",
              help="Session N of CAPTURE_A (as analyze numbers them) [default: the largest].")
@click.option("--session-b", "-b", type=click.IntRange(min=1), metavar="N",
              help="Session N of CAPTURE_B, or of CAPTURE_A when it is the only capture.")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "markdown", "json"]), default="table",
              show_default=True, help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout.")
@click.option("--plot", type=click.Path(dir_okay=False), metavar="FILE.svg",
              help="Also draw a timeline of probes and answers, as SVG.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True, callback=remember_lang,
              help="Language of the table and markdown reports and of errors (json and the plot stay English).")
def compare(capture_a, capture_b, session_a, session_b, fmt, output, plot, lang):
    """Compare two scans side by side: how they were made, port by port.

    Two captures (the largest scan session of each), or two sessions of one
    capture. Every port the scans read differently is named and explained.
    Exit status 0 when both were read, 2 for a bad capture or session."""
    from .compare import compare as run_compare
    from .report.compare_report import render as render_compare, svg

    bar = ProgressBar(1, size=max(_size(capture_a), _size(capture_b) if capture_b else 0), lang=lang)
    try:
        result = run_compare(capture_a, capture_b, session_a=session_a, session_b=session_b, progress=bar)
    finally:
        bar.close()
    text, picture = render_compare(result, fmt, lang), svg(result) if plot else None
    # Open every output file before writing anything: a bad --plot path must not follow a printed report.
    with contextlib.ExitStack() as files:
        plot_fh = files.enter_context(open(plot, "w", encoding="utf-8")) if plot else None
        out_fh = files.enter_context(open(output, "w", encoding="utf-8")) if output else None
        if out_fh is not None:
            out_fh.write(text)
        else:
            emit(text, None)
        if plot_fh is not None:
            plot_fh.write(picture)


if __name__ == "__main__":  # pragma: no cover
    main()
