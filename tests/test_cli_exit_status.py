"""README "Exit status": every command, given bad input, exits 2 with one
line on stderr and no traceback; usage errors click catches exit 2 too.

Every leaf command of `pcapscan --help` must have a case here: a command
added without one fails test_every_command_has_a_bad_input_case. None of
the cases reaches the network or builds anything: each is refused while
its arguments are checked (a bad port list, a lab subnet outside
198.18.0.0/15, a state file that is not JSON).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from pcapscan.cli import main

ROOT = Path(__file__).resolve().parents[1]

# command path -> arguments that are bad input ({tmp} is a fresh temporary folder)
BAD_INPUT = {
    "analyze": ["{tmp}/missing.pcap"],
    "verify": ["{tmp}/missing.pcap"],
    "compare": ["{tmp}/missing.pcap"],
    "annotate": ["{tmp}/missing.pcap", "-o", "{tmp}/out"],
    "grade": ["{tmp}/no-such-class"],
    "scan": ["198.18.0.2", "-p", "70000"],
    "lab up": ["--subnet", "10.0.0.0/24", "--state", "{tmp}/state.json"],
    "lab run": ["-o", "{tmp}/out", "--subnet", "10.0.0.0/24", "--state", "{tmp}/state.json"],
    "lab down": ["--state", "{tmp}/not-json.json"],
    "rubric init": None,  # takes no input: only a usage error can be bad
}


def leaf_commands(group: click.Group = main, prefix: str = ""):
    for name, cmd in sorted(group.commands.items()):
        path = f"{prefix}{name}"
        if isinstance(cmd, click.Group):
            yield from leaf_commands(cmd, path + " ")
        else:
            yield path


def run(args, tmp_path):
    env = dict(os.environ, PCAPSCAN_LAB_STATE=str(tmp_path / "state.json"))
    return subprocess.run([sys.executable, "-m", "pcapscan.cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, env=env)


def test_every_command_has_a_bad_input_case():
    assert sorted(leaf_commands()) == sorted(BAD_INPUT), "add the new command to BAD_INPUT"


@pytest.mark.parametrize("command", [c for c, a in BAD_INPUT.items() if a is not None])
def test_bad_input_exits_2_with_one_line(command, tmp_path):
    (tmp_path / "not-json.json").write_text("not json\n")
    args = command.split() + [a.replace("{tmp}", str(tmp_path)) for a in BAD_INPUT[command]]
    proc = run(args, tmp_path)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pcapscan: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "out").exists()  # refused before anything was made


@pytest.mark.parametrize("command", list(BAD_INPUT))
def test_usage_errors_exit_2_without_traceback(command, tmp_path):
    proc = run(command.split() + ["--no-such-option"], tmp_path)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("Error: No such option") and "--no-such-option" in last, proc.stderr


def test_unknown_command_exits_2():
    proc = subprocess.run([sys.executable, "-m", "pcapscan.cli", "no-such-command"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("Error: No such command") and "no-such-command" in last, proc.stderr


def test_the_readme_names_every_command():
    section = (ROOT / "README.md").read_text().split("## Exit status", 1)[1].split("\n## ", 1)[0]
    for command in BAD_INPUT:
        first = command.split()[0]
        assert f"`{first}" in section, first
