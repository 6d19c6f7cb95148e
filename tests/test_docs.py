"""Every documented example is what the program prints now.

- docs/*.md: a code block that starts `$ pcapscan COMMAND ...` is run (paths
  under `students/.../` and `scans/` are the captures of ../shared/captures);
  the block's lines must appear in the output, in order, a line `...`
  standing for lines left out.
- docs/formats.md's JSON example is `analyze -f json` of a golden capture
  with each list cut to its first items: the same keys, the same values.
- captures/seeds/README.md's table says which findings verify raises on
  each seed capture with intended.toml: rule and severity, as verify says.
"""
import json
import re
import shlex
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from pcapscan.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
SHARED = ROOT.parent / "shared" / "captures"


def examples():
    """(doc, command, expected lines) for every `$ pcapscan` block of the docs."""
    out = []
    for doc in DOCS:
        for block in re.findall(r"```\n(\$ pcapscan .*?)```", doc.read_text(encoding="utf-8"), re.S):
            command, *lines = block.rstrip("\n").split("\n")
            out.append(pytest.param(doc.name, command[2:], lines, id=f"{doc.name}: {command[2:60]}"))
    return out


def resolve(arg: str) -> str:
    """A capture the docs name by its place among ../shared/captures."""
    if arg.startswith("students/.../"):
        found = sorted(SHARED.glob(f"students/**/{arg.rsplit('/', 1)[1]}"))
        if not found:
            pytest.skip(f"{arg}: not among {SHARED}/students")
        return str(found[0])
    if arg.startswith("scans/"):
        if not (SHARED / arg).exists():
            pytest.skip(f"{SHARED / arg} is absent")
        return str(SHARED / arg)
    return arg


def contains_in_order(output: list, expected: list) -> bool:
    """The expected lines appear in the output in order; within a run of lines
    without `...` they are consecutive."""
    chunks, cur = [], []
    for line in expected:
        if line.strip() == "...":
            chunks.append(cur)
            cur = []
        else:
            cur.append(line.rstrip())
    chunks.append(cur)
    pos = 0
    for chunk in (c for c in chunks if c):
        for i in range(pos, len(output) - len(chunk) + 1):
            if output[i:i + len(chunk)] == chunk:
                pos = i + len(chunk)
                break
        else:
            return False
    return True


def test_the_checker_fails_on_a_changed_line():
    out = ["a", "b", "c", "d"]
    assert contains_in_order(out, ["a", "...", "c", "d"])
    assert not contains_in_order(out, ["a", "c"]) and not contains_in_order(out, ["c", "...", "a"])


@pytest.mark.parametrize("doc, command, lines", examples())
def test_documented_output_is_what_pcapscan_prints(doc, command, lines, monkeypatch):
    if command.startswith(("pcapscan scan", "pcapscan lab")):
        if "8.8.8.8" not in command:
            pytest.skip("a live scan: tests/test_live.py runs it in the lab")
    monkeypatch.chdir(ROOT)
    args = [resolve(a) for a in shlex.split(command)[1:]]
    r = CliRunner().invoke(main, args)
    output = [line.rstrip() for line in (r.stdout + r.stderr).splitlines()]
    assert contains_in_order(output, lines), "\n".join(output)


def test_there_are_examples_to_check():
    names = Counter(p.values[0] for p in examples())
    assert names["verify.md"] >= 15 and names["fingerprint.md"] >= 1


def _same_shape(doc, real, where="$"):
    """doc's keys are real's keys, its values real's values, its lists a prefix of real's."""
    if isinstance(doc, dict):
        assert isinstance(real, dict) and set(doc) == set(real), (where, sorted(doc), sorted(real))
        for k in doc:
            _same_shape(doc[k], real[k], f"{where}.{k}")
    elif isinstance(doc, list):
        assert isinstance(real, list) and len(doc) <= len(real) and (doc or not real), where
        for i, item in enumerate(doc):
            _same_shape(item, real[i], f"{where}[{i}]")
    else:
        assert doc == real, (where, doc, real)


def test_formats_json_example_is_what_analyze_prints(monkeypatch):
    text = (ROOT / "docs" / "formats.md").read_text(encoding="utf-8")
    m = re.search(r"`(pcapscan analyze -f json \S+)`[^`]*?```json\n(.*?)```", text, re.S)
    assert m, "docs/formats.md names the command of its JSON example"
    monkeypatch.chdir(ROOT)
    r = CliRunner().invoke(main, shlex.split(m.group(1))[1:])
    assert r.exit_code == 0
    _same_shape(json.loads(m.group(2)), json.loads(r.stdout))


SEED_ROW = re.compile(r"^\| (\S+\.pcap) \|.*\| ([^|]*) \|$")


def test_seeds_readme_names_the_findings_verify_raises(monkeypatch):
    """One verify run over every seed capture the table lists (rfc793-deviation
    needs the SYN capture beside the Xmas one)."""
    monkeypatch.chdir(ROOT)
    readme = (ROOT / "captures" / "seeds" / "README.md").read_text(encoding="utf-8")
    rows = [m.groups() for m in map(SEED_ROW.match, readme.splitlines()) if m]
    assert len(rows) >= 15
    r = CliRunner().invoke(main, ["verify", "-f", "json", "--expect", "captures/seeds/intended.toml",
                                  *(f"captures/seeds/{capture}" for capture, _ in rows)])
    findings = json.loads(r.stdout)["findings"]
    for capture, listed in rows:
        got = Counter((f["rule"], f["severity"]) for f in findings if f["capture"] == f"captures/seeds/{capture}")
        said = Counter()
        for item in filter(None, (s.strip() for s in listed.split(","))):
            m = re.fullmatch(r"(\S+) \((error|warning|info)\)(?: x(\d+))?", item)
            assert m, f"{capture}: {item!r}"
            said[(m.group(1), m.group(2))] += int(m.group(3) or 1)
        assert said == got, capture
