"""The command line. Thin: each command parses its arguments, calls one
library function, renders. `PcapscanCLI.invoke` is the one place where
library exceptions become a one-line message and an exit status:

    0  success (analyze: every capture read)
    1  findings or failed checks (verify, grade)
    2  usage or input errors (a missing file, not a capture, a bad option)
"""
from __future__ import annotations

import sys

import click

from . import __version__
from .errors import PcapscanError

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT = 0, 1, 2
TECHNIQUE_NAMES = ["syn", "connect", "fin", "xmas", "null", "ack", "window", "maimon", "udp"]
FORMATS = ["table", "json", "csv", "markdown", "nmap-xml"]


class PcapscanCLI(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except PcapscanError as exc:
            click.echo(f"pcapscan: {exc}", err=True)
            ctx.exit(exc.exit_status)
        except OSError as exc:  # writing -o FILE, a broken pipe, ...
            click.echo(f"pcapscan: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
            ctx.exit(EXIT_INPUT)
        except KeyboardInterrupt:
            click.echo("pcapscan: interrupted", err=True)
            ctx.exit(130)


def emit(text: str, output: str | None) -> None:
    """Write the rendering to -o FILE, or to stdout."""
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    elif text:
        click.echo(text, nl=not text.endswith("\n"))


@click.group(cls=PcapscanCLI, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pcapscan")
def main():
    """Read packet captures of port scans: what each scan found, port by port, and why."""


@main.command()
@click.argument("captures", nargs=-1, required=True, metavar="CAPTURE...")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout.")
@click.option("--technique", "-t", type=click.Choice(TECHNIQUE_NAMES),
              help="Interpret the probes as this technique (e.g. window for ACK probes).")
def analyze(captures, fmt, output, technique):
    """Reconstruct, per port, what a scanner concluded from CAPTURE(s).

    Reads pcap and pcapng, gzip-compressed or not. Exit status 2 if a capture
    could not be read (the others are still analyzed)."""
    from .analysis import analyze as run_analysis
    from .report import render

    result = run_analysis(list(captures), technique=technique)
    emit(render(result, fmt), output)
    for c in result.captures:
        for w in c.warnings:
            click.echo(f"pcapscan: warning: {c.path}: {w}", err=True)
    for err in result.errors:
        click.echo(f"pcapscan: {err}", err=True)
    if result.errors:
        sys.exit(EXIT_INPUT)


if __name__ == "__main__":  # pragma: no cover
    main()
