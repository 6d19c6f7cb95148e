"""One claims reader for every command (pcapscan/claims.py): a table of tricky
file names, the real students' names, and docs/grade.md's table, each read
by the claims module, by `verify --claims-from-names` and by `grade`, which
must agree; technique names read alike by analyze -t, verify --claim and
the rubric; claim strings; and the claims.toml / --expect files."""
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pcapscan.claims import Claim, parse_claim, parse_state, parse_technique, read_name
from pcapscan.cli import main
from pcapscan.errors import UsageError
from pcapscan.grade import discover, grade
from pcapscan.model import State, Technique
from pcapscan.rubric import parse_rubric
from pcapscan.techniques import REGISTRY
from pcapscan.techniques import REGISTRY

ALIASES = {t: spec.aliases + spec.names_zh for t, spec in REGISTRY.items()}

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "captures" / "golden"
STUDENTS = ROOT.parent / "shared" / "captures" / "students"

# name -> what it claims, as a claim string ("?" for a state not named; None: nothing)
TRICKY = {
    # the names the two old parsers read differently
    "ack_unfiltered.pcap": "ack:unfiltered",
    "fin_open-filtered.pcap": "fin:open|filtered",
    "half-open_closed.pcap": "syn:closed",  # "open" inside "half-open" is the technique
    "syn_opne.pcap": "syn:open",
    "udp_occupied.pcap": "udp:open",
    # a port and no state; o/c/f beside a technique
    "tcp_XMas_22.pcap": "xmas:?:22",
    "tcp_Xmas_f.pcap": "xmas:filtered",
    "tcp_stealth_f.pcap": "syn:filtered",
    "tcp_connet_f.pcap": "connect:filtered",
    "stealth_o.pcap": "syn:open",
    "connect_c_8080.pcap": "connect:closed:8080",
    "f_scan.pcap": None,  # no technique beside the f
    "x_f.pcap": None,
    # spellings of states
    "syn-open.pcap": "syn:open",
    "tcp_syn_OPEN.pcap": "syn:open",
    "syn_开放.pcap": "syn:open",
    "udp_关闭.pcap": "udp:closed",
    "fin_过滤.pcap": "fin:filtered",
    "null_未过滤.pcap": "null:unfiltered",
    "syn-open-filtered.pcap": "syn:open|filtered",
    "udp-close.cap": "udp:closed",
    "connect_filterd.pcap": "connect:filtered",
    "tcpsynscan_blocked.pcap": "syn:filtered",
    "stealth-closd.pcapng": "syn:closed",
    "open.pcap": "?:open",
    "1st_try_open.pcap": "?:open",  # "st" is not -sT
    "open_closed.pcap": None,  # two states that make none
    # spellings of techniques
    "connect-open.pcap": "connect:open",
    "conect_open.pcap": "connect:open",
    "tcpConnectScan-flitered.pcap": "connect:filtered",
    "TCP-FIN-filter.pcap": "fin:filtered",
    "steal_open.pcap": "syn:open",
    "nmap -sS open.pcap": "syn:open",
    "stealth-open-80.pcapng": "syn:open:80",
    "Xmas_Tree_OPEN.pcap": "xmas:open",
    "christmas-opne.pcap": "xmas:open",
    "NULL_FILTERED.pcap": "null:filtered",
    "window_closed.pcap": "window:closed",
    "maimon-open-filtered.pcap": "maimon:open|filtered",
    "半开扫描_关闭.pcap": "syn:closed",
    "TCP连接扫描-开放.pcapng": "connect:open",
    "xmas扫描_过滤.pcap": "xmas:filtered",
    "xfn_filtered.pcap": "xmas/fin/null:filtered",
    "xfn_close.pcap": "xmas/fin/null:closed",
    "xfn.pcap": "xmas/fin/null",
    "tcp_connect_80.pcap": "connect:?:80",
    "finscan_closed_8080.pcap": "fin:closed:8080",
    "windows_update.pcap": None,  # "windows" is no misspelt window scan
    # nothing
    "scanDump.pcap": None,
    "2022-report.pcap": None,  # a year alone is not a port claim
    "capture1.pcap": None,
}

# The real students' file names (../shared/captures/students), each with its reading.
STUDENT_NAMES = {
    **{f"{t}_{s}.pcap": f"{t}:{s.lower()}" for t, s in [
        ("syn", "CLOSED"), ("syn", "FILTERED"), ("syn", "OPEN"), ("null", "CLOSED"), ("null", "FILTERED"),
        ("null", "OPEN"), ("udp", "FILTERED"), ("udp", "OPEN"), ("xmas", "OPEN"), ("xmas", "FILTERED"),
        ("xmas", "CLOSED"), ("fin", "OPEN"), ("fin", "FILTERED"), ("fin", "CLOSED"), ("connect", "OPEN"),
        ("connect", "CLOSED"), ("connect", "FILTERED")]},
    "udp_close.pcap": "udp:closed", "connect_close.pcap": "connect:closed", "xfn.pcap": "xmas/fin/null",
    "steal_closed.pcap": "syn:closed", "xfn_filtered.pcap": "xmas/fin/null:filtered",
    "connect_open.pcap": "connect:open", "udp_occupied.pcap": "udp:open", "connect_filterd.pcap": "connect:filtered",
    "xfn_close.pcap": "xmas/fin/null:closed", "steal_open.pcap": "syn:open", "steal_filtered.pcap": "syn:filtered",
    "scanDump.pcap": None,
}


def doc_table() -> dict:
    """name -> reading, from the table under "How names are read" in docs/grade.md."""
    text = (ROOT / "docs" / "grade.md").read_text(encoding="utf-8")
    section = text[text.index("### How names are read"):]
    section = section[:section.index("\nThe words:")]
    out = {}
    for line in section.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) != 2 or cells[0] in ("name", "---"):
            continue
        reading = None if cells[1] == "nothing" else cells[1].strip("`").replace("\\|", "|")
        for name in re.findall(r"`([^`]+)`", cells[0]):
            out[name] = reading
    return out


ALL_NAMES = {**TRICKY, **STUDENT_NAMES, **doc_table()}


def reading(claim: Claim):
    return None if claim.empty else str(claim)


def test_the_docs_table_is_in_the_test_table_and_agrees():
    docs = doc_table()
    assert len(docs) >= 30
    assert {n: r for n, r in docs.items() if n in TRICKY} == {n: TRICKY[n] for n in docs if n in TRICKY}


def test_the_docs_name_every_alias():
    text = (ROOT / "docs" / "grade.md").read_text(encoding="utf-8")
    missing = [a for names in ALIASES.values() for a in names if a not in text]
    assert not missing


def test_the_real_student_names_are_all_in_the_table():
    if not STUDENTS.is_dir():
        pytest.skip(f"{STUDENTS} is absent")
    real = {p.name for p in STUDENTS.rglob("*.pcap*")}
    assert real == set(STUDENT_NAMES)


@pytest.mark.parametrize("name", sorted(ALL_NAMES))
def test_the_claims_module_reads_each_name(name):
    assert reading(read_name(name)) == ALL_NAMES[name]


@pytest.fixture(scope="module")
def named_class(tmp_path_factory):
    """Every name of the table as a copy of nmap's golden SYN scan, in one student's folder."""
    if not (GOLDEN / "syn.pcap").exists():
        pytest.skip("captures/golden not made yet (scripts/make_golden.py)")
    root = tmp_path_factory.mktemp("class")
    folder = root / "student"
    folder.mkdir()
    for name in ALL_NAMES:
        shutil.copyfile(GOLDEN / "syn.pcap", folder / name)
    return root


def _verify_claims(paths) -> dict:
    """capture file name -> the claims verify --claims-from-names took, through the CLI."""
    r = CliRunner().invoke(main, ["verify", *map(str, paths), "--claims-from-names", "-f", "json"])
    assert r.exit_code in (0, 1), r.output
    out = {}
    for c in json.loads(r.stdout)["claims"]:
        out.setdefault(Path(c["capture"]).name, []).append((c["claim"], c["source"]))
    return out


def test_verify_reads_every_name_as_the_claims_module(named_class):
    folder = named_class / "student"
    got = _verify_claims(sorted(folder.iterdir()))
    for name, expected in ALL_NAMES.items():
        claim = read_name(name)
        if expected is None:
            assert name not in got, name
            continue
        # one claim per technique; a state without a technique for each technique shown (a SYN scan here)
        techniques = claim.techniques or (Technique.SYN,)
        want = [(str(Claim((t,), claim.state, claim.port)), "file name") for t in techniques]
        assert got.get(name) == want, name


def test_grade_reads_every_name_as_the_claims_module(named_class):
    folder = named_class / "student"
    subs, notes = discover(folder)
    assert not notes
    by_name = {Path(s.rel).name: s for s in subs}
    assert set(by_name) == set(ALL_NAMES)
    for name, expected in ALL_NAMES.items():
        got = by_name[name].claims
        assert (reading(got[0]) if got and not got[0].empty else None) == expected, name
    book = grade(named_class)
    shown = {c.file: c.claim for c in book.students[0].captures}
    for name, expected in ALL_NAMES.items():
        claim = read_name(name)
        assert shown[name] == (claim.text() if expected is not None else "unlabelled"), name


def test_grade_fills_a_cell_from_the_file_named_for_it(tmp_path):
    """tcp_Xmas_f.pcap is the filtered one: it, not the port-only tcp_XMas_22.pcap, fills xmas × filtered."""
    if not (GOLDEN / "xmas.pcap").exists():
        pytest.skip("captures/golden not made yet")
    student = tmp_path / "class" / "s1"
    student.mkdir(parents=True)
    for name in ("tcp_XMas_22.pcap", "tcp_Xmas_f.pcap"):
        shutil.copyfile(GOLDEN / "xmas.pcap", student / name)
    s = grade(tmp_path / "class").students[0]
    cell = next(c for c in s.cells if c.key == "xmas:filtered")
    assert cell.file == "tcp_Xmas_f.pcap" and cell.claim == "xmas × filtered"
    used = {c.file: c.used_for for c in s.captures}
    assert "xmas:filtered" in used["tcp_Xmas_f.pcap"] and "xmas:filtered" not in used["tcp_XMas_22.pcap"]


def test_grade_reads_folders_inside_the_student_folder_verify_does_not(tmp_path):
    if not (GOLDEN / "syn.pcap").exists():
        pytest.skip("captures/golden not made yet")
    student = tmp_path / "class" / "s1"
    for rel, expected in [("syn/open/1.pcap", "syn:open"), ("SYN scan/closd.pcap", "syn:closed"),
                          ("connect/run2_filtered.pcap", "connect:filtered")]:
        (student / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(GOLDEN / "syn.pcap", student / rel)
        assert str(read_name(rel)) == expected
    subs, _ = discover(student)
    assert {s.rel: str(s.claims[0]) for s in subs} == {"syn/open/1.pcap": "syn:open",
                                                       "SYN scan/closd.pcap": "syn:closed",
                                                       "connect/run2_filtered.pcap": "connect:filtered"}
    got = _verify_claims([student / "syn/open/1.pcap", student / "connect/run2_filtered.pcap"])
    # verify reads "1.pcap" and "run2_filtered.pcap" alone: the state with the technique shown (SYN)
    assert got == {"run2_filtered.pcap": [("syn:filtered", "file name")]}


def test_verify_reads_the_real_student_names_as_grade_does():
    if not STUDENTS.is_dir():
        pytest.skip(f"{STUDENTS} is absent")
    paths = sorted(STUDENTS.rglob("*.pcap"))
    got = _verify_claims(paths)
    book = grade(STUDENTS)
    graded = {Path(c.file).name: c.claim for s in book.students for c in s.captures}
    for p in paths:
        claim = read_name(p.name)
        assert reading(claim) == STUDENT_NAMES[p.name]
        assert graded[p.name] == (claim.text() if not claim.empty else "unlabelled"), p.name
        assert [c for c, _ in got.get(p.name, [])] == [str(c) for c in claim.split()], p.name


# -- technique names: analyze -t, verify --claim, the rubric ------------------------------------

TECHNIQUE_TEXTS = [(a, t) for t, names in ALIASES.items() for a in names] + \
    [(t.value, t) for t in REGISTRY] + [(s.nmap_option, t) for t, s in REGISTRY.items()] + \
    [("TCP connect scan", Technique.CONNECT), ("Half_Open", Technique.SYN), ("Stealth Scan", Technique.SYN)]


@pytest.mark.parametrize("text, technique", TECHNIQUE_TEXTS)
def test_every_name_of_a_technique_is_read_as_it(text, technique):
    assert parse_technique(text) is technique
    assert parse_claim(f"{text}:open").techniques == (technique,)


@pytest.mark.parametrize("text", ["stealth", "half-open", "tcp connect", "connet", "christmas", "-sS"])
def test_analyze_verify_and_the_rubric_read_technique_names_alike(text):
    if not (GOLDEN / "syn.pcap").exists():
        pytest.skip("captures/golden not made yet")
    tech = parse_technique(text)
    r = CliRunner().invoke(main, ["analyze", str(GOLDEN / "syn.pcap"), f"--technique={text}", "-f", "json"])
    assert r.exit_code == 0, r.output
    assert {s["technique"] for s in json.loads(r.stdout)["scans"]} == {tech.value}
    r = CliRunner().invoke(main, ["verify", str(GOLDEN / "syn.pcap"), "--claim", f"{text}:open", "-f", "json"])
    assert r.exit_code in (0, 1) and r.stderr == ""
    assert [c["claim"] for c in json.loads(r.stdout)["claims"]] == [f"{tech.value}:open"]
    if tech in (Technique.SYN, Technique.CONNECT, Technique.XMAS):
        rubric = parse_rubric(f'techniques = ["{text}"]\nstates = ["open"]\n')
        assert [c.key for c in rubric.cells] == [f"{tech.value}:open"]


def test_an_unknown_technique_is_one_line_and_exit_2():
    r = CliRunner().invoke(main, ["analyze", str(GOLDEN / "syn.pcap"), "-t", "sin"])
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith("pcapscan: unknown technique 'sin' (use ") and r.stderr.count("\n") == 1
    for text in ("sin", "open", "xfn", "syn open", "windows"):
        with pytest.raises(UsageError, match="unknown technique"):
            parse_technique(text)


# -- claim strings -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("syn:open", Claim(Technique.SYN, State.OPEN)),
    ("stealth:OPEN:80", Claim(Technique.SYN, State.OPEN, 80)),
    ("half-open:closed", Claim(Technique.SYN, State.CLOSED)),
    ("TCP connect:closed", Claim(Technique.CONNECT, State.CLOSED)),
    ("tcp-connect-scan:close:22", Claim(Technique.CONNECT, State.CLOSED, 22)),
    ("christmas:open|filtered", Claim(Technique.XMAS, State.OPEN_FILTERED)),
    ("xmas:open/filtered", Claim(Technique.XMAS, State.OPEN_FILTERED)),
    ("fin:open-filtered", Claim(Technique.FIN, State.OPEN_FILTERED)),
    ("-sS:filterd", Claim(Technique.SYN, State.FILTERED)),
    ("syn:opne", Claim(Technique.SYN, State.OPEN)),
    ("udp:Open_Filtered:53", Claim(Technique.UDP, State.OPEN_FILTERED, 53)),
    ("ack:unfiltered", Claim(Technique.ACK, State.UNFILTERED)),
    ("null:closed|filtered", Claim(Technique.NULL, State.CLOSED_FILTERED)),
    ("xfn:closed", Claim((Technique.XMAS, Technique.FIN, Technique.NULL), State.CLOSED)),
    ("半开:开放", Claim(Technique.SYN, State.OPEN)),
])
def test_claim_strings(text, expected):
    assert parse_claim(text) == expected


@pytest.mark.parametrize("text, says", [
    ("syn", "expected TECHNIQUE:STATE"),
    ("sin:open", "unknown technique 'sin'"),
    ("syn:half-open", "unknown port state 'half-open'"),  # a technique, not a state
    ("syn:open_closed", "unknown port state"),
    ("open:syn", "unknown technique 'open'"),
    ("syn:open:http", "not a number"),
    ("syn:open:70000", "not in 0-65535"),
    ("syn:open:80:1", "expected TECHNIQUE:STATE"),
])
def test_bad_claim_strings_say_why(text, says):
    with pytest.raises(UsageError, match=says):
        parse_claim(text)


def test_states_and_claim_text():
    assert parse_state("Open or Filtered") is State.OPEN_FILTERED and parse_state("关闭") is State.CLOSED
    c = read_name("xfn_close_8080.pcap")
    assert str(c) == "xmas/fin/null:closed:8080" and c.text() == "xmas/fin/null × closed (port 8080)"
    assert [str(x) for x in c.split()] == ["xmas:closed:8080", "fin:closed:8080", "null:closed:8080"]
    assert str(read_name("xfn.pcap")) == "xmas/fin/null" and read_name("xfn.pcap").text() == "xmas/fin/null × ?"
    assert read_name("open.pcap").text() == "? × open"
