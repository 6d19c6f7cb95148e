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
