"""`pcapscan verify` through click's CliRunner: exit status (0 conforms, 1 an
error finding, 2 bad usage or input), every format, stdout and stderr apart."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import pcapbuild as pb
from pcapscan.cli import main

GOLDEN = Path(__file__).resolve().parents[1] / "captures" / "golden"
SYN, CONNECT = str(GOLDEN / "syn.pcap"), str(GOLDEN / "connect.pcap")


@pytest.fixture(autouse=True)
def _golden():
    if not (GOLDEN / "syn.pcap").exists() or not (GOLDEN / "connect.pcap").exists():
        pytest.skip("captures/golden not made yet (scripts/make_golden.py)")


def run(*args):
    return CliRunner().invoke(main, ["verify", *args])


def test_a_clean_nmap_capture_conforms_with_exit_0():
    r = run(SYN)
    assert r.exit_code == 0, r.output
    assert r.stderr == ""
    assert r.stdout.startswith("pcapscan verify: conforms")
    assert "kernel-rst" in r.stdout  # info is shown, and does not fail


def test_an_error_finding_exits_1_and_draws_the_ladder():
    r = run(CONNECT, "--claim", "stealth:open:80")
    assert r.exit_code == 1 and r.stderr == ""
    assert "violates" in r.stdout and "handshake-completed" in r.stdout
    ladder = r.stdout[r.stdout.index("ladder 80/tcp"):]
    assert "-- S seq=" in ladder and "<--" in ladder and "[handshake-completed]" in ladder


def test_claims_hold_exit_0():
    r = run(SYN, "-c", "syn:open:80", "-c", "stealth:closed:81", "-c", "syn:filtered:82")
    assert r.exit_code == 0, r.stdout


@pytest.mark.parametrize("args, says", [
    (["--claim", "sin:open"], "unknown technique 'sin'"),
    (["--claim", "syn"], "expected TECHNIQUE:STATE"),
    (["--claim", "syn:open:http"], "not a number"),
])
def test_bad_claims_exit_2_with_one_line_on_stderr(args, says):
    r = run(SYN, *args)
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith("pcapscan: ") and says in r.stderr and len(r.stderr.splitlines()) == 1


def test_a_missing_capture_exits_2():
    r = run("/nonexistent/x.pcap")
    assert r.exit_code == 2 and r.stdout == "" and "x.pcap" in r.stderr


def test_one_unreadable_capture_among_several_still_reports_the_rest(tmp_path):
    bad = tmp_path / "notes.pcap"
    bad.write_text("not a capture")
    r = run(SYN, str(bad))
    assert r.exit_code == 2
    assert "syn.pcap" in r.stdout and "notes.pcap" not in r.stdout  # stdout keeps the results
    assert "notes.pcap" in r.stderr


def test_no_capture_and_no_expectations_is_a_usage_error():
    r = run()
    assert r.exit_code == 2 and "no capture to verify" in r.stderr


def test_unknown_option_value_is_a_usage_error():
    r = run(SYN, "--lang", "fr")
    assert r.exit_code == 2 and "fr" in r.stderr


def test_expect_file_names_the_captures(tmp_path):
    toml = tmp_path / "expect.toml"
    toml.write_text(f'[[capture]]\npath = "{SYN}"\nclaims = ["syn:open:80", "syn:open:81"]\n')
    r = run("--expect", str(toml))
    assert r.exit_code == 1
    assert "state-mismatch" in r.stdout and "81/tcp" in r.stdout


def test_bad_expect_file_exits_2(tmp_path):
    toml = tmp_path / "expect.toml"
    toml.write_text("[claims\n")
    r = run(SYN, "--expect", str(toml))
    assert r.exit_code == 2 and "not valid TOML" in r.stderr and r.stdout == ""
    r = run(SYN, "--expect", str(tmp_path / "none.toml"))
    assert r.exit_code == 2 and "no such expectations file" in r.stderr


def test_json_has_the_documented_shape():
    r = run(CONNECT, "--claim", "connect:filtered:84", "--format", "json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "violates"
    f = next(f for f in doc["findings"] if f["rule"] == "filter-simulated-as-reject" and f["severity"] == "error")
    assert set(f) >= {"rule", "severity", "scanner", "target", "proto", "port", "frames", "message"}
    assert (f["scanner"], f["target"], f["proto"], f["port"]) == ("198.18.0.1", "198.18.0.2", "tcp", 84)
    assert doc["analysis"]["scans"][0]["technique"] == "connect"  # the analyze JSON, unchanged
    assert doc["claims"] == [{"capture": CONNECT, "claim": "connect:filtered:84", "source": "--claim"}]


def test_json_in_chinese():
    r = run(CONNECT, "--claim", "connect:filtered:84", "--format", "json", "--lang", "zh")
    doc = json.loads(r.stdout)
    message = next(f["message"] for f in doc["findings"] if f["severity"] == "error")
    assert "被过滤" in message and "防火墙" in message


def test_markdown_draws_mermaid_ladders():
    r = run(SYN, "--format", "markdown", "--ladders", "all")
    assert r.exit_code == 0
    assert r.stdout.count("```mermaid") == 5 and "sequenceDiagram" in r.stdout
    assert "S->>T: [5] S seq=" in r.stdout and "T-->>S:" in r.stdout


def test_html_draws_svg_ladders(tmp_path):
    out = tmp_path / "report.html"
    r = run(CONNECT, "-c", "connect:filtered:84", "--format", "html", "-o", str(out))
    assert r.exit_code == 1 and r.stdout == ""
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "filter-simulated-as-reject" in html


def test_ladders_none_and_table_in_chinese():
    r = run(CONNECT, "-c", "stealth:open:80", "--ladders", "none", "--lang", "zh")
    assert r.exit_code == 1
    assert "时序图" not in r.stdout and "错误" in r.stdout and "不符合教材" in r.stdout


def test_claims_from_file_names(tmp_path):
    named = tmp_path / "connect_CLOSED.pcap"
    named.write_bytes(Path(SYN).read_bytes())
    r = run(str(named), "--claims-from-names")
    assert "connect:closed (file name)" in r.stdout
    empty = tmp_path / "null_OPEN.pcap"
    empty.write_bytes(pb.pcap_bytes([]))
    r = run(str(empty), "--claims-from-names")
    assert r.exit_code == 1 and "empty-capture" in r.stdout


def test_expect_glob_matching_nothing_is_named_on_stderr(tmp_path):
    """A typo in an --expect glob would drop its claims unsaid: the pattern is named."""
    golden = GOLDEN.as_posix()
    toml = tmp_path / "expect.toml"
    toml.write_text(f'[claims]\n"{golden}/sny*.pcap" = "syn:open:80"\n"{golden}/syn.pcap" = "syn:open:80"\n')
    r = run("--expect", str(toml))
    assert r.exit_code == 0, r.output
    assert r.stderr == f"pcapscan: warning: {toml}: '{golden}/sny*.pcap' matches no capture; its claims were not " \
                       "checked\n"
    assert "syn:open:80" in r.stdout
    # a glob that matches a capture given on the command line (not on disk) is no typo
    toml.write_text('[claims]\n"s?n.pcap" = "syn:open:80"\n"*.pcapng" = "syn:open:80"\n')
    r = run(SYN, "--expect", str(toml))
    assert r.exit_code == 0 and r.stderr == f"pcapscan: warning: {toml}: '*.pcapng' matches no capture; its claims " \
                                            "were not checked\n"
    r = run(SYN, "--expect", str(toml), "--lang", "zh")  # in the language asked
    assert r.exit_code == 0 and r.stderr == f"pcapscan: 警告：{toml}：'*.pcapng' 没有匹配任何抓包文件；其声明没有检查\n"
    # nothing at all to verify: the usage error names the patterns
    toml.write_text('[claims]\n"nothing-here-*.pcap" = "syn:open"\n')
    r = run("--expect", str(toml))
    assert r.exit_code == 2 and r.stdout == ""
    assert "no capture to verify" in r.stderr and "'nothing-here-*.pcap' match no file" in r.stderr
