"""`--lang zh` read as a student of the course reads it: the Chinese output of
verify (table, ladders, Markdown), grade (terminal table, feedback files) and
analyze (table, Markdown)
holds no English but technical tokens (flags, rule ids, nmap's state and
reason words, addresses, file names, tool and function names), and its tables
line up in display width (a Chinese character takes two terminal columns:
wcwidth.wcswidth). Chinese and Latin words are set apart by a space, quotes
are “”, and lines never split a Latin word or a file name."""
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from wcwidth import wcswidth

from pcapscan.cli import main
from pcapscan.fingerprint import NMAP_OS_PROBES, TOOL_NAMES
from pcapscan.model import HostState, Reason, State, Technique
from pcapscan.techniques.discovery import ICMP_METHODS
from pcapscan.rubric import default_rubric
from pcapscan.verify import RULES

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "captures" / "seeds"

# Tokens that stay as they are in Chinese: protocol fields and flags, tools,
# commands and the Python names the seeds' code uses.
TECHNICAL = set("""
SYN ACK RST FIN PSH URG TCP UDP ICMP ICMPv6 IP IPv4 IPv6 ARP RFC SEG SEQ LEN ECONNREFUSED LISTEN
S SA R RA AR F FA FPU PA A none seq ack win len
nmap sS sT sF sX sN sU scapy sr1 RandShort haslayer getlayer type code None AttributeError socket connect flags
Wireshark pcapscan verify analyze grade iptables REJECT DROP nft ufw reject drop deny tcp-reset
Windows pcap pcapng tcp udp Xmas NULL Window Maimon syn fin xmas null maimon ack window
""".split())
TECHNICAL |= set(RULES) | {rule for rule, _points in default_rubric().penalties}
TECHNICAL |= {"duplicate-submission", "unreadable-capture", "claims-file"}  # grade's own findings
TECHNICAL |= {r.value for r in Reason} | {s.value for s in State} | {t.value for t in Technique}
# analyze's: tools, host discovery's methods and nmap's host states, nmap's OS
# probe names, protocol and option names.
TECHNICAL |= set(TOOL_NAMES) | set(ICMP_METHODS.values()) | {"arp", "nd"} | {h.value for h in HostState}
TECHNICAL |= set(NMAP_OS_PROBES.values()) | {"IE1", "IE2", "U1"}
TECHNICAL |= set("TTL ID SACK MSS SCTP INIT COOKIE-ECHO sO".split())
# nft's own syntax, quoted in the reset-flags explanation.
PHRASES = ("reject with tcp-reset",)
# Mermaid's keywords in a Markdown ladder, and Markdown's line break.
MARKUP = re.compile(r"^\s*(sequenceDiagram|participant \w as|Note (left of|right of|over) \S+:|S->>T:|T-->>S:)|<br>|```mermaid")


def english_left(text: str) -> set:
    """ASCII words of `text` that are neither technical tokens nor part of a
    file name, path, claim or address."""
    left = set()
    for line in text.splitlines():
        line = MARKUP.sub(" ", line)
        for phrase in PHRASES:
            line = line.replace(phrase, " ")
        line = re.sub(r"\S*[/\\]\S*|\S+\.(pcap|pcapng|toml|md|csv|gz)\b|`[^`]*`|\S+:\S+:\S+", " ", line)
        line = re.sub(r"\S*(ns-public|scanDump|xfn|steal_|udp_occupied)\S*", " ", line)  # student names, files
        for word in re.findall(r"[A-Za-z][A-Za-z0-9_\-']*", line):
            if word.strip("-'") not in TECHNICAL:
                left.add(word)
    return left


def display_segments(line: str) -> list:
    """[(start column, end column, character)] in terminal columns."""
    out, col = [], 0
    for ch in line:
        w = max(wcswidth(ch), 0)
        out.append((col, col + w, ch))
        col += w
    return out


def misaligned_tables(text: str) -> list:
    """Lines of tabulate "simple" tables whose cells cross a column gap, in
    display columns: every table's dash line gives its columns."""
    bad = []
    lines = text.splitlines()
    for i, dashes in enumerate(lines):
        if not re.fullmatch(r"\s*-+(  -+)+", dashes):
            continue
        indent = len(dashes) - len(dashes.lstrip())
        gaps = {c for c, ch in enumerate(dashes.rstrip()) if ch == " " and c >= indent}
        block = [lines[i - 1]]
        for row in lines[i + 1:]:
            if not row.strip():
                break
            block.append(row)
        for row in block:
            for start, end, ch in display_segments(row):
                if ch != " " and any(start <= g < end for g in gaps):
                    bad.append(row)
                    break
    return bad


def run(*args):
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code in (0, 1), r.output
    return r.stdout


def test_helpers_catch_what_they_should():
    assert english_left("captures/seeds/seed000-syn.pcap：19 packets，第 3 帧的 SYN 探测包") == {"packets"}
    assert english_left("课本（TCP connect 扫描）：syn:open:80（intended.toml）") == set()
    # a table padded by characters instead of display columns
    table = "学生  得分\n------  ----\nabc     1/2\n"
    assert misaligned_tables(table) == ["学生  得分"]
    assert misaligned_tables("学生      得分\n--------  ----\nabcdefgh  1/2\n") == []


@pytest.fixture(scope="module")
def verify_zh():
    seeds = sorted(str(p) for p in SEEDS.glob("*.pcap"))
    table = run("verify", "--lang", "zh", "--ladders", "all", "--expect", str(SEEDS / "intended.toml"), *seeds)
    markdown = run("verify", "--lang", "zh", "-f", "markdown", "--expect", str(SEEDS / "intended.toml"), *seeds)
    return table, markdown


def test_verify_zh_has_no_english_left(verify_zh):
    table, markdown = verify_zh
    assert "教材" in table and "时序图" in table and "课本" not in table
    assert english_left(table) == set()
    assert english_left(markdown) == set()


def test_verify_zh_tables_and_ladders_line_up(verify_zh):
    table, _ = verify_zh
    assert table.count("扫描方      目标") >= 10  # the port tables are there, headers padded by display width
    assert misaligned_tables(table) == []
    # ladders: the target heading sits over the target's ports
    lines = table.splitlines()
    heads = [i for i, line in enumerate(lines) if line.lstrip().startswith("帧")]
    assert heads
    for i in heads:
        col = wcswidth(lines[i][:lines[i].index("目标")])
        for row in lines[i + 1:]:
            if "-> " not in row:
                break
            assert wcswidth(row[:row.index("-> ") + 3]) == col, (lines[i], row)


def test_verify_zh_typesetting(verify_zh):
    table, markdown = verify_zh
    for text in (table, markdown):
        assert '"' not in re.sub(r"`[^`]*`", "", text.replace("\\\"", ""))  # quotes are “”
        assert "“吞掉”" in text
        # a space between Chinese and Latin words, none between Chinese characters
        assert not re.search(r"[\u4e00-\u9fff][A-Za-z]|[A-Za-z][\u4e00-\u9fff]", text)
        assert not re.search(r"[\u4e00-\u9fff] [\u4e00-\u9fff]", text)
        assert not re.search(r"[\u4e00-\u9fff][():;,]|[):;,] ?[\u4e00-\u9fff]", re.sub(r"\w+\(\w*\)", "", text))
        assert not re.search(r"[^\s|] [（），。：；、]|[（），。：；、] [^\s|]", text)  # (| parts Markdown cells)


def unsplit(message: str, lines: list) -> bool:
    """True when `lines` wrap `message` only at spaces or beside a Chinese
    character: no Latin word, number or file name is cut in two."""
    p = 0
    for a, b in zip(lines, lines[1:] + [None]):
        if not message.startswith(a, p):
            return False
        p += len(a)
        if b is None:
            return p == len(message)
        if message[p:p + 1] == " ":
            p += 1
        elif a[-1].isascii() and a[-1].isalnum() and b[0].isascii() and b[0].isalnum():
            return False
    return True


def test_verify_zh_wraps_between_words(verify_zh):
    table, _ = verify_zh
    seeds = sorted(str(p) for p in SEEDS.glob("*.pcap"))
    import json

    messages = [f["message"] for f in json.loads(run("verify", "--lang", "zh", "-f", "json", "--expect",
                                                     str(SEEDS / "intended.toml"), *seeds))["findings"]]
    blocks, cur = [], None
    for line in table.splitlines():
        if line.startswith("      ") and not line.startswith("       "):
            if cur is None:
                cur = []
                blocks.append(cur)
            cur.append(line[6:])
        else:
            cur = None
    assert len(blocks) == len(messages) > 30
    for block, message in zip(blocks, messages):
        assert unsplit(message, block), block
    assert not unsplit("iptables DROP", ["iptabl", "es DROP"]) and unsplit("教材：被过滤", ["教材：", "被过滤"])


def test_grade_zh_has_no_english_left_and_lines_up(shared_captures, tmp_path):
    out = tmp_path / "grades"
    r = CliRunner().invoke(main, ["grade", str(shared_captures / "students"), "-o", str(out), "--lang", "zh",
                                  "-j", "1"])
    assert r.exit_code in (0, 1), r.output
    assert english_left(r.stdout) == set()
    assert "评分标准：用 scapy 编写端口扫描器" in r.stdout
    assert misaligned_tables(r.stdout) == []
    # each student's cells: the points column ends in the same display column on every row
    for block in r.stdout.split("\n\n")[2:]:
        rows = [line for line in block.splitlines()[1:] if " × " in line]
        ends = {wcswidth(line[:m.end()]) for line in rows for m in [re.search(r"\d+(\.\d+)?/\d+", line)]}
        assert len(ends) <= 1, rows
    for md in out.glob("*.md"):
        text = md.read_text(encoding="utf-8")
        assert english_left(text) == set(), md.name
        assert "\"" not in re.sub(r"`[^`]*`", "", text)
        assert not re.search(r"[\u4e00-\u9fff][A-Za-z]|[A-Za-z][\u4e00-\u9fff]", text)
        assert not re.search(r"[\u4e00-\u9fff][():;,]|[):;,] ?[\u4e00-\u9fff]", re.sub(r"\w+\(\w*\)", "", text)), \
            md.name


def test_fill_sets_the_seams_and_leaves_values_alone():
    from pcapscan.messages import fill

    assert fill("包含{t}的探测包", {"t": "SYN 扫描（半开扫描）"}, "zh") == "包含 SYN 扫描（半开扫描）的探测包"
    assert fill("声明 {c} 超出，从\"没有回应\"推断", {"c": "open（开放）"}, "zh") == "声明 open（开放）超出，从“没有回应”推断"
    assert fill("{f}的 {p} 探测包", {"f": "第 9 帧", "p": "无标志位"}, "zh") == "第 9 帧的无标志位探测包"
    assert fill("{f}的 {p} 探测包", {"f": "第 9 帧", "p": "SA"}, "zh") == "第 9 帧的 SA 探测包"
    # a value keeps its spelling: a student's file name is not typeset
    assert fill("{file}：没有{t}的探测包", {"file": "扫描1\"a\".pcap", "t": "NULL 扫描"}, "zh") == \
        "扫描1\"a\".pcap：没有 NULL 扫描的探测包"
    assert fill("{a} \"b\"", {"a": "x"}, "en") == "x \"b\""  # English is left as written


def test_verify_zh_of_a_capture_of_many_ports(shared_captures):
    """Too many ports to list: one line of counts, in Chinese."""
    out = run("verify", "--lang", "zh", str(shared_captures / "scans" / "AustinA+PortScanDetector__null-scan.pcap"))
    assert "4000 个端口：2992 closed，1008 open|filtered" in out
    assert english_left(out) == set()
    assert misaligned_tables(out) == []


def test_verify_zh_of_a_capture_of_several_sessions(shared_captures):
    """A session column (its tool in Chinese parentheses) that lines up, findings named by session.
    The lone ACK beside nmap's scan is a session only when a claim names a TCP technique."""
    out = run("verify", "--lang", "zh", "--claim", "ack:filtered",
              str(shared_captures / "scans" / "AustinA+PortScanDetector__halfopen15.pcap"))
    assert "扫描会话" in out and "2（nmap）" in out and "1（未知工具）" in out
    assert english_left(out.replace("（--claim）", "")) == set()  # where the claim came from: the option's name
    assert misaligned_tables(out) == []


def test_grade_zh_html_pages_have_no_english_left(shared_captures, tmp_path):
    import html

    out = tmp_path / "grades"
    r = CliRunner().invoke(main, ["grade", str(shared_captures / "students"), "-o", str(out), "--lang", "zh",
                                  "-j", "1"])
    assert r.exit_code in (0, 1), r.output
    pages = sorted(out.glob("*.html"))
    assert len(pages) == 4  # index.html and one page per student
    for page in pages:
        text = re.sub(r"<(style|script)[^>]*>.*?</\1>", "", page.read_text(encoding="utf-8"), flags=re.S)
        text = html.unescape(re.sub(r"<[^>]+>", "\n", text))
        text = re.sub(r"\+\d+\.\d+s\b", "", text)  # the ladders' times
        assert english_left(text) == set(), page.name
        assert "扫描方" in text or page.name == "index.html"  # the ladders' participants in Chinese
        one_line = re.sub(r"\s*\n\s*", "", re.sub(r"\w+\(\w*\)", "", text))
        assert not re.search(r"[\u4e00-\u9fff][():;,]|[):;,] ?[\u4e00-\u9fff]|[^\s|] [（），。：；、]", one_line), \
            page.name


# -- analyze ---------------------------------------------------------------

GOLDEN = ROOT / "captures" / "golden"


def analyze_captures(shared: Path) -> dict:
    return {
        "golden": sorted(str(p) for p in [*GOLDEN.glob("*.pcap"), *(GOLDEN / "more").glob("*.pcap")]),
        "mixed": sorted(str(p) for p in (ROOT / "captures" / "mixed").glob("*.pcap")),
        "students": sorted(str(p) for p in (shared / "students").rglob("*.pcap*")),
    }


@pytest.fixture(scope="module")
def analyze_zh():
    """{(set, format): stdout} of analyze --lang zh, and the same in English."""
    from conftest import SHARED_CAPTURES

    if not SHARED_CAPTURES.is_dir():
        pytest.skip(f"{SHARED_CAPTURES} is absent")
    out = {}
    for name, files in analyze_captures(SHARED_CAPTURES).items():
        assert files, name
        for fmt in ("table", "markdown"):
            out[name, fmt] = run("analyze", "--lang", "zh", "-f", fmt, "-j", "1", *files)
            out[name, fmt, "en"] = run("analyze", "-f", fmt, "-j", "1", *files)
    return out


def test_analyze_zh_has_no_english_left(analyze_zh):
    for key, text in analyze_zh.items():
        if key[-1] == "en":
            assert english_left(text), key  # the helper sees the English report's words
            continue
        assert english_left(text) == set(), key
        assert "扫描技术：" in text and "端口" in text, key
    golden = analyze_zh["golden", "table"]
    assert "198.18.0.1 -> 198.18.0.2：SYN 扫描（半开扫描），5 个端口" in golden
    assert "扫描方收到 SYN/ACK（第 6 帧）后用 RST 复位了连接（第 7 帧），没有完成三次握手" in golden
    assert "主机发现（arp）" in golden and "操作系统探测（SEQ1" in golden and "服务版本探测（" in golden
    assert "伪造了僵尸主机 198.18.0.4" in golden and "僵尸主机：198.18.0.4:80" in golden
    assert "扫描工具：nmap（置信度 1.00）" in golden
    # nmap's state and reason tokens stay as nmap prints them
    assert re.search(r"80/tcp\s+open\s+syn-ack\s+64", golden)
    students = analyze_zh["students", "table"]
    assert "扫描工具：scapy" in students and "没有数据包" in students


def test_analyze_zh_says_what_english_says(analyze_zh):
    """Every English line has its Chinese line: the same scans, ports and frames, in the same order."""
    for name in ("golden", "mixed", "students"):
        zh, en = analyze_zh[name, "table"], analyze_zh[name, "table", "en"]
        assert len(zh.splitlines()) == len(en.splitlines()), name
        for zh_line, en_line in zip(zh.splitlines(), en.splitlines()):  # a sentence may name them in its own order
            assert sorted(re.findall(r"\d+", zh_line)) == sorted(re.findall(r"\d+", en_line)), (zh_line, en_line)


def test_analyze_zh_tables_line_up(analyze_zh):
    for key, text in analyze_zh.items():
        assert misaligned_tables(text) == [], key
    assert "端口    状态" in analyze_zh["golden", "table"]


def test_analyze_zh_typesetting(analyze_zh):
    for key, text in analyze_zh.items():
        if key[-1] == "en":
            continue
        text = re.sub(r"`[^`]*`", "", text)
        assert not re.search(r"[\u4e00-\u9fff][A-Za-z0-9]|[A-Za-z0-9][\u4e00-\u9fff]", text), key
        assert not re.search(r"[\u4e00-\u9fff] [\u4e00-\u9fff]", text), key
        assert not re.search(r"[\u4e00-\u9fff][():;,.]|[):;,] ?[\u4e00-\u9fff]", re.sub(r"\w+\(\w*\)", "", text)), key
        assert not re.search(r"[^\s|] [（），。：；、]|[（），。：；、] [^\s|]", text), key


def test_analyze_zh_of_big_scans_collapses_in_chinese(shared_captures):
    """nmap's "Not shown" line, other traffic and the fast path's evidence, in Chinese."""
    scans = sorted(str(p) for p in (shared_captures / "scans").iterdir())
    out = run("analyze", "--lang", "zh", "-j", "1", *scans)
    assert re.search(r"未列出：\d+ 个 closed 的 tcp 端口（reset）", out)
    assert "其他流量：" in out and "在本扫描会话的另一个端口上，" in out
    assert english_left(out) == set()
    assert misaligned_tables(out) == []


def test_analyze_machine_formats_stay_english(tmp_path):
    import json

    syn = str(GOLDEN / "syn.pcap")
    for fmt in ("json", "csv", "nmap-xml"):
        assert run("analyze", "--lang", "zh", "-f", fmt, syn) == run("analyze", "-f", fmt, syn), fmt
    (scan,) = json.loads(run("analyze", "--lang", "zh", "-f", "json", syn))["scans"]
    assert scan["technique_evidence"] == ("the scanner reset it (frame 7) after the SYN/ACK (frame 6) instead of "
                                          "completing the handshake")
    forced = json.loads(run("analyze", "--lang", "zh", "-t", "window", "-f", "json", syn))["scans"][0]
    assert forced["technique_evidence"].startswith("forced by --technique window (the scanner reset it")
    zh = run("analyze", "--lang", "zh", "-t", "window", syn)
    assert "扫描技术：由 `--technique window` 指定（扫描方收到 SYN/ACK" in zh


def test_capture_warnings_in_the_language_asked(tmp_path):
    """A capture cut mid-record and one with no packet: the reader's warnings on
    stderr (analyze, verify, annotate), in Markdown and in grade's feedback are
    Chinese with --lang zh, English without; JSON keeps the English; annotate's
    summary line follows --lang too."""
    import json

    syn = (GOLDEN / "syn.pcap").read_bytes()
    cut, empty = tmp_path / "cut.pcap", tmp_path / "empty.pcap"
    cut.write_bytes(syn[:-10])
    empty.write_bytes(syn[:24])
    runner = CliRunner()

    def both(*args):
        en, zh = (runner.invoke(main, [*args, *lang]) for lang in ([], ["--lang", "zh"]))
        assert (en.exit_code, zh.exit_code) == (0, 0), (en.output, zh.output)
        assert english_left(zh.stderr) == set()
        assert "-f" in args and args[args.index("-f") + 1] in ("json", "csv") or english_left(zh.stdout) == set()
        return en, zh

    en, zh = both("analyze", "-j", "1", str(cut), str(empty))
    truncated_en = "record 15 is truncated (the file ends 64 bytes into it); results cover records 1-14"
    truncated_zh = "第 15 条记录不完整（文件在它的第 64 个字节处结束）；结果来自第 1-14 条记录"
    assert f"pcapscan: warning: {cut}: {truncated_en}\n" in en.stderr
    assert f"pcapscan: 警告：{cut}：{truncated_zh}\n" in zh.stderr
    assert f"pcapscan: 警告：{empty}：没有数据包：抓包文件只有文件头，没有数据包记录\n" in zh.stderr
    en, zh = both("analyze", "-f", "markdown", str(cut))
    assert f"- warning: {truncated_en}\n" in en.stdout and f"- 警告：{truncated_zh}\n" in zh.stdout
    for fmt in ("csv", "json"):
        en, zh = both("analyze", "-f", fmt, str(cut))
        assert en.stdout == zh.stdout and en.stderr != zh.stderr, fmt
    assert json.loads(en.stdout)["captures"][0]["warnings"] == [truncated_en]
    en, zh = both("verify", str(cut))
    assert truncated_zh in zh.stderr and truncated_en in en.stderr
    en, zh = both("annotate", str(cut), "-o", str(tmp_path / "out.pcapng"))
    assert truncated_zh in zh.stderr and "14 个数据包，其中 13 个带注释；verify 发现 2 个问题" in zh.stdout
    assert "14 packets, 13 with comments, 2 finding(s) of verify" in en.stdout
    (tmp_path / "class" / "alice").mkdir(parents=True)
    (tmp_path / "class" / "alice" / "syn_OPEN.pcap").write_bytes(cut.read_bytes())
    r = runner.invoke(main, ["grade", str(tmp_path / "class"), "-o", str(tmp_path / "grades"), "--lang", "zh",
                             "-j", "1"])
    assert r.exit_code in (0, 1), r.output
    feedback = (tmp_path / "grades" / "alice.md").read_text(encoding="utf-8")
    assert f"警告：{truncated_zh}" in feedback and "truncated" not in feedback


def test_progress_line_in_chinese(monkeypatch):
    """--lang zh: the progress line of a long command says each phase, its
    counts and the time left in Chinese; the bar itself is the same."""
    import io
    import time

    from pcapscan import cli
    from pcapscan.progress import PHASES

    out = io.StringIO()
    bar = cli.ProgressBar(1, stream=out, tty=True, size=1 << 40, lang="zh")
    monkeypatch.setattr(bar, "MIN_SECONDS", 0)
    bar(50, 100, 1000, "reading")
    bar(0, 10, 0, "pairing")
    bar.phase_start = time.monotonic() - 3  # three seconds into pairing, 40% done
    bar(4, 10, 4, "pairing")
    bar(0, 0, 55, "classifying")
    bar(1, 3, 0, "captures")
    bar.close()
    frames = [f for f in out.getvalue().replace("\x1b[K", "").split("\r") if f]
    assert frames[0].startswith("读取 [") and "50%  1,000 个数据包" in frames[0]
    assert frames[1].startswith("配对探测包与回应 [") and "0/10 个数据包" in frames[1]
    assert re.search(r"40%  4/10 个数据包，约剩 [45] 秒$", frames[2]), frames[2]
    assert frames[3].startswith("分类：55 次交互，已用 0 秒")
    assert frames[4].endswith("1/3 个抓包文件")
    assert english_left("\n".join(frames)) == set()
    for phase in PHASES:  # every phase has its words in both languages
        bar = cli.ProgressBar(1, stream=io.StringIO(), tty=True, size=1 << 40, lang="zh")
        bar.phase, bar.phase_start, bar.started = phase, time.monotonic(), time.monotonic()
        assert english_left(bar.line(time.monotonic())) == set(), phase


def test_unreadable_captures_in_the_language_asked(tmp_path):
    """A file that is no capture, one that is not there, a folder: the one
    error line on stderr (a single capture; one of several, the others still
    read), the capture's line in the report and grade's feedback are Chinese
    with --lang zh; the English lines and JSON's "error" stay as they were;
    exit status 2 either way."""
    import json

    bad, missing = tmp_path / "fin_open.pcap", tmp_path / "missing.pcap"
    bad.write_bytes(b"hello\n")
    syn = str(GOLDEN / "syn.pcap")
    runner = CliRunner()
    not_en = f"pcapscan: {bad} is not a pcap or pcapng capture (starts with 0x68656c6c)\n"
    not_zh = f"pcapscan: {bad} 不是 pcap 或 pcapng 抓包文件（开头为 0x68656c6c）\n"
    for args in (["analyze", str(bad)], ["verify", str(bad)], ["annotate", str(bad), "-o", str(tmp_path / "o.pcapng")],
                 ["analyze", "-j", "1", syn, str(bad)], ["verify", syn, str(bad)]):
        en, zh = (runner.invoke(main, [*args, *lang]) for lang in ([], ["--lang", "zh"]))
        assert en.exit_code == zh.exit_code == 2, args
        assert en.stderr == not_en and zh.stderr == not_zh, args
    r = runner.invoke(main, ["analyze", "--lang", "zh", str(missing)])
    assert (r.exit_code, r.stderr) == (2, f"pcapscan: 找不到抓包文件：{missing}\n")
    r = runner.invoke(main, ["analyze", "--lang", "zh", "-j", "1", syn, str(tmp_path)])
    assert r.exit_code == 2 and r.stderr == f"pcapscan: {tmp_path} 是文件夹，不是抓包文件\n"
    r = runner.invoke(main, ["analyze", "--lang", "zh", "-f", "markdown", "-j", "1", str(bad), syn])
    assert f"错误：{bad} 不是 pcap 或 pcapng 抓包文件（开头为 0x68656c6c）" in r.stdout
    r = runner.invoke(main, ["analyze", "--lang", "zh", "-f", "json", "-j", "1", str(bad), syn])
    assert json.loads(r.stdout)["captures"][0]["error"] == not_en[len("pcapscan: "):-1]
    (tmp_path / "class" / "dave").mkdir(parents=True)
    (tmp_path / "class" / "dave" / "fin_open.pcap").write_bytes(b"hello\n")
    r = runner.invoke(main, ["grade", str(tmp_path / "class"), "-o", str(tmp_path / "grades"), "--lang", "zh",
                             "-j", "1"])
    feedback = (tmp_path / "grades" / "dave.md").read_text(encoding="utf-8")
    assert "不是 pcap 或 pcapng 抓包文件（开头为 0x68656c6c）" in feedback and "is not a" not in feedback


def test_the_slow_path_note_in_the_language_asked(tmp_path, monkeypatch):
    """A capture the fast path hands to the ordinary reader says so, and why,
    in Chinese too (it was English in every language); every reason the
    fast path raises has its Chinese words (messages.SLOW_PATH_REASONS)."""
    import ast

    import pcapbuild as pb
    from pcapscan import fastpath
    from pcapscan.messages import SLOW_PATH_REASONS

    ip = pb.ipv4_tcp("198.18.0.1", "198.18.0.2", 40000, 80, 0x02, seq=1, options=pb.MSS_1460)
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(pb.pcapng_bytes(packets=[(0, 1.0, pb.ether(ip)), (0, 1.1, pb.ether(ip))])[:-10])
    monkeypatch.setattr(fastpath, "FAST_MIN_BYTES", 1)  # as if it were big
    runner = CliRunner()
    en = runner.invoke(main, ["analyze", str(cut)]).stderr
    zh = runner.invoke(main, ["analyze", "--lang", "zh", str(cut)]).stderr
    assert "read packet by packet, not by the fast path (the capture ends inside a pcapng block): slower" in en
    assert "逐个数据包读取，未走快速路径（抓包文件在 pcapng 块中间结束）：较慢" in zh
    assert "read packet by packet" not in zh
    raised = set()
    for path in (ROOT / "pcapscan" / "fastpath").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "NeedSlowPath" and node.args \
                    and isinstance(node.args[0], ast.Constant):
                raised.add(node.args[0].value)
    assert raised and raised <= set(SLOW_PATH_REASONS), raised - set(SLOW_PATH_REASONS)
