"""`pcapscan compare --lang zh`: the table and markdown reports in Chinese
(every "compare.*" word of messages.py has its Chinese; no English sentence
left but technical tokens, tables lined up in display width), json the same
in either language, and compare's errors in the language asked."""
import json
import re
from pathlib import Path

from click.testing import CliRunner

from pcapscan.cli import main
from pcapscan.messages import LABELS, LANGS, MESSAGES
from test_zh_output import TECHNICAL, english_left, misaligned_tables

ROOT = Path(__file__).resolve().parents[1]
GOLDEN, TOOLS, MIXED = (ROOT / "captures" / d for d in ("golden", "tools", "mixed"))
# compare's own technical tokens: the two sides (A, B), TCP option names, scapy's and nmap's flag
# letters as probe classes, and the names in the RFC 793 and Maimon lines
COMPARE_TECHNICAL = TECHNICAL | set("A B mss sackOK TS nop wscale eol BSD Uriel FA FPU SF".split())


def run(*args):
    return CliRunner().invoke(main, ["compare", *args])


def left(text: str) -> set:
    return {w for w in english_left(text) if w not in COMPARE_TECHNICAL}


def test_every_compare_word_has_its_chinese():
    keys = [k for k in MESSAGES if k.startswith("compare.")]
    assert len(keys) > 100
    for key in keys:
        assert set(MESSAGES[key]) == set(LANGS), key
        assert MESSAGES[key]["zh"].strip() or not MESSAGES[key]["en"].strip(), key
    # a sentence (more than a token or a seam) is worded anew, not copied
    for key in keys:
        en, zh = MESSAGES[key]["en"], MESSAGES[key]["zh"]
        if len(en.split()) > 3:
            assert en != zh and left(re.sub(r"\{\w*\}", " ", zh)) == set(), key
    labels = {k for k in LABELS["en"] if k.startswith("compare.")}
    assert labels and labels == {k for k in LABELS["zh"] if k.startswith("compare.")}


def tables(text: str) -> str:
    """The text with the line under the field table (not a row of it) left blank."""
    return text.replace("（* 两个扫描不同）\n", "\n")


def chinese(*args):
    zh, en = run(*args, "--lang", "zh"), run(*args)
    assert zh.exit_code == en.exit_code == 0, (zh.output, en.output)
    assert zh.stderr == ""
    return zh.stdout, en.stdout


def test_compare_zh_table_and_markdown():
    pairs = [(str(GOLDEN / "syn.pcap"), str(GOLDEN / "connect.pcap")),  # a disagreement, kernel RSTs, handshakes
             (str(GOLDEN / "syn.pcap"), str(GOLDEN / "fin.pcap")),  # consistent readings, RFC 793
             (str(GOLDEN / "syn.pcap"), str(GOLDEN / "maimon.pcap")),  # a contradiction: Maimon on a Linux stack
             (str(TOOLS / "nmap-syn.pcap"), str(TOOLS / "scapy-syn.pcap")),  # tools, retries, probes built apart
             (str(GOLDEN / "udp.pcap"), str(GOLDEN / "syn.pcap")),  # UDP payloads, ports probed by one scan only
             (str(MIXED / "mixed-udp.pcap"),)]  # two sessions of one capture
    for pair in pairs:
        for fmt in ("table", "markdown"):
            zh, en = chinese(*pair, "-f", fmt)
            assert left(zh) == set(), (pair, fmt, left(zh))
            assert english_left(en), (pair, fmt)  # the helper sees the English report's words
            assert "扫描会话" in zh and "端口" in zh and "探测包" in zh, (pair, fmt)
            assert misaligned_tables(tables(zh)) == [], (pair, fmt)
    zh, en = chinese(str(GOLDEN / "syn.pcap"), str(GOLDEN / "connect.pcap"))
    assert "不一致的端口：" in zh and "说明：" in zh and "Disagreements:" in en
    assert "扫描机内核复位了 SYN/ACK" in zh and "SYN 扫描（半开扫描）" in zh
    assert "84/tcp：A（syn）发送了" in zh
    zh, en = chinese(str(GOLDEN / "syn.pcap"), str(GOLDEN / "maimon.pcap"))
    assert "请以 SYN 扫描（半开扫描）的结果为准" in zh and "trust the syn scan" in en


def test_compare_zh_collapses_in_chinese(shared_captures):
    zh, en = chinese(str(shared_captures / "scans" / "AustinA+PortScanDetector__udp-scan.pcap"))
    assert "未列出：" in zh and "Not shown: " in en and left(zh) == set()
    assert misaligned_tables(tables(zh)) == []


def test_compare_json_is_the_same_in_either_language():
    args = (str(GOLDEN / "syn.pcap"), str(GOLDEN / "connect.pcap"), "-f", "json")
    zh, en = chinese(*args)
    assert zh == en and "Both got" in json.loads(en)["disagreements"][0]["explanation"]


def test_compare_errors_in_chinese():
    one = str(TOOLS / "nmap-syn.pcap")
    r = run(one, "--lang", "zh")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr == f"pcapscan: {one} 只有一个扫描会话；请再给出一个抓包文件用来比较\n"
    r = run(one, str(TOOLS / "scapy-syn.pcap"), "--session-b", "3", "--lang", "zh")
    assert r.exit_code == 2 and r.stderr.startswith("pcapscan: `--session-b 3`：")
    assert "只有 1 个扫描会话" in r.stderr
    r = run("/nonexistent/a.pcap", one, "--lang", "zh")
    assert r.exit_code == 2 and r.stderr == "pcapscan: 找不到抓包文件：/nonexistent/a.pcap\n"
    r = run(one, "--lang", "fr")
    assert r.exit_code == 2 and "fr" in r.stderr
