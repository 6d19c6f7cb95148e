"""The README's first example is what `pcapscan analyze` really prints.

A newcomer's first command is the README's; if its sample output drifts
from the program's, the first thing they read is wrong.
"""
import re
from pathlib import Path

from click.testing import CliRunner

from pcapscan.cli import main

ROOT = Path(__file__).resolve().parents[1]


def readme_sample(command):
    text = (ROOT / "README.md").read_text()
    match = re.search(r"```\n\$ " + re.escape(command) + r"\n(.*?)```", text, re.S)
    assert match, f"README has no sample of {command!r}"
    return match.group(1)


def test_first_command_installs_and_analyzes_a_shipped_capture():
    first_block = (ROOT / "README.md").read_text().split("```", 2)[1]
    commands = [line for line in first_block.splitlines() if line.strip()]
    assert commands[0] == "pip install . && pcapscan analyze captures/golden/syn.pcap"
    assert commands[1] == "./scripts/test.sh"
    assert (ROOT / "captures/golden/syn.pcap").is_file()
    ci = (ROOT / ".ci/run").read_text()
    assert "./scripts/test.sh" in ci


def test_readme_sample_output_is_what_analyze_prints(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["analyze", "captures/golden/syn.pcap"])
    assert result.exit_code == 0, result.stderr
    shown = result.stderr + result.stdout
    assert [l.rstrip() for l in shown.splitlines()] == \
        [l.rstrip() for l in readme_sample("pcapscan analyze captures/golden/syn.pcap").splitlines()]


def doc_sample(doc: str, command: str) -> str:
    text = (ROOT / doc).read_text()
    match = re.search(r"```\n\$ " + re.escape(command) + r"\n(.*?)```", text, re.S)
    assert match, f"{doc} has no sample of {command!r}"
    return match.group(1)


def test_documented_mixed_capture_outputs_are_what_pcapscan_prints(monkeypatch):
    """The several-scans examples (README, docs/techniques.md, docs/verify.md) drift with the code or not at all."""
    monkeypatch.chdir(ROOT)
    for doc, args in (("README.md", ["analyze", "captures/mixed/mixed-xmas.pcap"]),
                      ("docs/techniques.md", ["analyze", "captures/mixed/nmap-series.pcap"]),
                      ("docs/verify.md", ["verify", "captures/mixed/mixed-xmas.pcap", "--claim", "xmas:open:80"])):
        result = CliRunner().invoke(main, args)
        shown = [line.rstrip() for line in result.stdout.splitlines()]
        sample = [line.rstrip() for line in doc_sample(doc, "pcapscan " + " ".join(args)).splitlines()]
        if sample and sample[-1] == "...":  # a documented beginning
            sample = sample[:-1]
            shown = shown[:len(sample)]
        assert shown == sample, doc
