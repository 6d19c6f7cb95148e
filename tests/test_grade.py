"""`pcapscan grade`: names read as claims, the rubric, evidence first, the
three real students of ../shared/captures/students, duplicates, broken
files, a synthetic class graded in worker processes, and the CLI (exit
status, stdout and stderr apart)."""
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import gradeclass
import pcapbuild as pb
from pcapscan.cli import main
from pcapscan.errors import InputError, UsageError
from pcapscan.grade import Gradebook, grade, packet_digest, sniff
from pcapscan.model import State, Technique
from pcapscan.report import grade_report
from pcapscan.rubric import DEFAULT_RUBRIC_TOML, default_rubric, parse_rubric

ROOT = Path(__file__).resolve().parents[1]
STUDENTS = Path(__file__).resolve().parents[1].parent / "shared" / "captures" / "students"
GOLDEN = ROOT / "captures" / "golden"
BOM, LEAF, ECHO = "2022-ns-public-BloodyOrangeMan", "2022-ns-public-Leaf5323", "2022-ns-public-echo-li-cuc"
C, S, X, F, N, U = Technique.CONNECT, Technique.SYN, Technique.XMAS, Technique.FIN, Technique.NULL, Technique.UDP
OPEN, CLOSED, FILTERED = State.OPEN, State.CLOSED, State.FILTERED


@pytest.fixture
def golden():
    if not (GOLDEN / "syn.pcap").exists():
        pytest.skip("captures/golden not made yet (scripts/make_golden.py)")
    return GOLDEN


# -- the rubric ---------------------------------------------------------------------------

def test_default_rubric_is_the_seeds_lab():
    r = default_rubric()
    assert [c.key for c in r.cells][:3] == ["connect:open", "connect:closed", "connect:filtered"]
    assert len(r.cells) == 18 and r.max == 72 and r.ambiguous == 0.5
    assert r.penalty("rst-port-mismatch") == 0.5 and r.penalty("kernel-rst") == 0 and r.penalty("nope") == 0


def test_every_number_of_the_rubric_can_change():
    r = parse_rubric('techniques = ["stealth", "udp"]\nstates = ["open", "closed"]\n'
                     '[points]\ntechnique = 2\nstate = 3\nconformance = 0\nambiguous = 0\n'
                     '[cells."udp:open"]\nstate = 5\n[cells."syn:closed"]\nrequired = false\n'
                     '[penalties]\n"rst-port-mismatch" = 1.5\n[duplicates]\naction = "zero"\n')
    assert [(c.key, c.max) for c in r.cells] == [("syn:open", 5), ("udp:open", 7), ("udp:closed", 5)]
    assert r.penalty("rst-port-mismatch") == 1.5 and r.duplicates == "zero" and r.ambiguous == 0


@pytest.mark.parametrize("text, says", [
    ("techniques = [", "not valid TOML"),
    ("colour = 1", "unknown key(s) colour"),
    ("[points]\nstate = -1", "[points] state must be a number >= 0"),
    ("[points]\nstate = \"two\"", "[points] state must be a number >= 0"),
    ("[points]\nbonus = 1", "[points]: unknown key(s) bonus"),
    ("[points]\nambiguous = 2", "ambiguous is a share"),
    ("techniques = [\"sin\"]", "techniques: unknown name 'sin'"),
    ("states = [\"open|filtered\"]", "states: unknown name"),
    ("[penalties]\n\"rst-port\" = 1", "[penalties] unknown rule 'rst-port'"),
    ("[cells.\"ack:open\"]\nstate = 1", "is not a cell of this rubric"),
    ("[cells.\"udp\"]\nstate = 1", "a cell is named TECHNIQUE:STATE"),
    ("[duplicates]\naction = \"expel\"", "action must be one of flag, zero"),
    ("[cells.\"udp:open\"]\nrequired = \"no\"", "required must be true or false"),
])
def test_a_bad_rubric_is_one_line(text, says):
    with pytest.raises(UsageError) as exc:
        parse_rubric(text, "r.toml")
    assert says in str(exc.value) and str(exc.value).startswith("r.toml: ") and "\n" not in str(exc.value)


def test_a_rubric_requiring_nothing_is_refused():
    with pytest.raises(UsageError, match="no cell is required"):
        parse_rubric('techniques = ["udp"]\nstates = ["open"]\n[cells."udp:open"]\nrequired = false\n')


# -- the three real students ------------------------------------------------------------------

@pytest.fixture(scope="module")
def book():
    if not STUDENTS.is_dir():
        pytest.skip(f"{STUDENTS} is absent (the shared captures live beside the checkout)")
    return grade(STUDENTS)


def cell(book, student, key):
    s = next(s for s in book.students if s.id == student)
    return next(c for c in s.cells if c.key == key)


def rules(c):
    return {f.rule for f in c.findings}


def student(book, sid):
    return next(s for s in book.students if s.id == sid)


def test_every_student_is_graded_on_every_cell(book):
    assert [s.id for s in book.students] == [BOM, LEAF, ECHO]
    assert all(len(s.cells) == 18 and s.max == 72 for s in book.students)
    assert [s.points for s in book.students] == [39.5, 56.5, 58.5]
    assert not book.clean


# What the packets really show, and what a careful instructor would name (see
# the verify engineer's notes and tests/test_verify.py STUDENT_FACTS).
@pytest.mark.parametrize("sid, key, verdict, file, observed, rule_ids", [
    # a "connect" scan whose handshake never completes: scapy SYN, SYN/ACK, kernel RST, RST/ACK from a new port
    (BOM, "connect:open", "mismatch", "connect_OPEN.pcap", ("syn", "open"), {"handshake-incomplete",
                                                                              "rst-port-mismatch"}),
    (BOM, "connect:closed", "mismatch", "connect_CLOSED.pcap", ("syn", "closed"), {"handshake-incomplete",
                                                                                    "rst-port-mismatch"}),
    (ECHO, "connect:open", "mismatch", "connect_open.pcap", ("syn", "open"), {"handshake-incomplete",
                                                                              "rst-port-mismatch"}),
    (LEAF, "connect:open", "mismatch", "scanDump.pcap", ("syn", "open"), {"handshake-incomplete",
                                                                          "rst-out-of-window"}),
    # a NULL scan that sends SYN
    (BOM, "null:filtered", "mismatch", "null_FILTERED.pcap", ("syn", "filtered"), {"probe-flags-mismatch"}),
    # empty files
    (BOM, "null:open", "no-evidence", "null_OPEN.pcap", (None, None), {"empty-capture"}),
    (BOM, "null:closed", "no-evidence", "null_CLOSED.pcap", (None, None), {"empty-capture"}),
    (BOM, "udp:open", "no-evidence", "udp_OPEN.pcap", (None, None), {"empty-capture"}),
    # a port that was never probed: one unanswered FIN to 53, nothing to 80 (closed in the other captures)
    (BOM, "fin:closed", "mismatch", "fin_CLOSED.pcap", ("fin", "open|filtered"), {"state-mismatch",
                                                                                  "port-not-probed"}),
    # a claim of open (or filtered) from silence
    (BOM, "fin:open", "ambiguous", "fin_OPEN.pcap", ("fin", "open|filtered"), {"state-overclaim"}),
    (BOM, "xmas:filtered", "ambiguous", "xmas_FILTERED.pcap", ("xmas", "open|filtered"), {"state-overclaim"}),
    (BOM, "udp:filtered", "ambiguous", "udp_FILTERED.pcap", ("udp", "open|filtered"), {"state-overclaim"}),
    (ECHO, "udp:open", "ambiguous", "udp_occupied.pcap", ("udp", "open|filtered"), {"state-overclaim"}),
    # a real SYN scan; the kernel resets, the script's RST leaves from another port
    (BOM, "syn:open", "ok", "syn_OPEN.pcap", ("syn", "open"), {"kernel-rst", "rst-port-mismatch"}),
    (ECHO, "syn:open", "ok", "steal_open.pcap", ("syn", "open"), {"kernel-rst", "rst-port-mismatch"}),
    # what is right
    (BOM, "xmas:closed", "ok", "xmas_CLOSED.pcap", ("xmas", "closed"), set()),
    (BOM, "syn:filtered", "ok", "syn_FILTERED.pcap", ("syn", "filtered"), set()),
    (BOM, "connect:filtered", "ok", "connect_FILTERED.pcap", ("connect", "filtered"), set()),
    (ECHO, "connect:closed", "ok", "connect_close.pcap", ("connect", "closed"), set()),
    (ECHO, "connect:filtered", "ok", "connect_filterd.pcap", ("connect", "filtered"), set()),
    (ECHO, "syn:closed", "ok", "steal_closed.pcap", ("syn", "closed"), set()),
    (ECHO, "udp:closed", "ok", "udp_close.pcap", ("udp", "closed"), set()),
    # "xfn": Xmas, FIN and NULL in one file; the one without a state is the open port's
    (ECHO, "xmas:closed", "ok", "xfn_close.pcap", ("xmas", "closed"), set()),
    (ECHO, "null:closed", "ok", "xfn_close.pcap", ("null", "closed"), set()),
    (ECHO, "fin:open", "ambiguous", "xfn.pcap", ("fin", "open|filtered"), {"state-not-shown"}),
    (ECHO, "null:filtered", "ambiguous", "xfn_filtered.pcap", ("null", "open|filtered"), {"state-overclaim"}),
    # one unlabelled capture holding every technique: each cell found in it
    (LEAF, "syn:filtered", "ok", "scanDump.pcap", ("syn", "filtered"), {"kernel-rst", "rst-out-of-window"}),
    (LEAF, "fin:closed", "ok", "scanDump.pcap", ("fin", "closed"), set()),
    (LEAF, "null:filtered", "ambiguous", "scanDump.pcap", ("null", "open|filtered"), {"state-not-shown"}),
    (LEAF, "udp:closed", "ok", "scanDump.pcap", ("udp", "closed"), set()),
    # never handed in
    (BOM, "udp:closed", "missing", None, (None, None), set()),
    (ECHO, "udp:filtered", "missing", None, (None, None), set()),
])
def test_real_students(book, sid, key, verdict, file, observed, rule_ids):
    c = cell(book, sid, key)
    assert c.verdict == verdict
    assert (c.file.split("/")[-1] if c.file else None) == file
    assert (c.observed_technique, c.observed_state) == observed
    assert rules(c) == rule_ids


def test_the_port_never_probed_is_named(book):
    c = cell(book, BOM, "fin:closed")
    f = next(f for f in c.findings if f.rule == "port-not-probed")
    assert f.port == 80 and "never probes 80/tcp" in f.message and "53/tcp, 80/tcp" in f.message
    assert "80/tcp never probed" in c.problem


def test_points_follow_the_rubric(book):
    assert cell(book, BOM, "connect:open").points == 2  # the state is right, the technique is not
    assert cell(book, BOM, "syn:open").points == 3.5  # rst-port-mismatch costs 0.5, once
    assert cell(book, BOM, "fin:open").points == 3  # half the state points: open|filtered
    assert cell(book, BOM, "fin:closed").points == 1.5
    assert cell(book, BOM, "null:filtered").points == 0
    assert cell(book, BOM, "xmas:closed").points == 4
    penalties = [f.penalty for f in cell(book, BOM, "syn:open").findings if f.rule == "rst-port-mismatch"]
    assert sorted(penalties) == [0, 0.5]


def test_captures_that_show_something_else_than_their_name(book):
    caps = {c.file.split("/")[-1]: c for c in student(book, BOM).captures}
    assert "named null × filtered, but shows SYN scan: 53/tcp filtered, 80/tcp filtered" in caps[
        "null_FILTERED.pcap"].notes
    assert any(n.startswith("named connect × open, but shows SYN scan") for n in caps["connect_OPEN.pcap"].notes)
    assert caps["null_OPEN.pcap"].notes == ("empty: a file header and no packet",)
    assert caps["syn_OPEN.pcap"].notes == ()
    leaf = student(book, LEAF).captures[0]
    assert leaf.claim == "unlabelled" and len(leaf.used_for) == 18
    assert any(n.startswith("unlabelled: shows SYN scan: 22/tcp open, 8000/tcp filtered, 8080/tcp closed; "
                            "Xmas scan:") for n in leaf.notes)


def test_background_traffic_is_not_evidence(book):
    # the victim's NTP and a NAT'd DNS lookup look like UDP "scans"; they are not the student's
    caps = {c.file.split("/")[-1]: c for c in student(book, ECHO).captures}
    assert any("172.16.111.145 → 91.189.94.4 123/udp" in n for n in caps["connect_close.pcap"].notes)
    assert cell(book, ECHO, "udp:open").file.endswith("udp_occupied.pcap")  # not the NTP reply


def test_a_clients_datagram_is_not_the_students_scan(tmp_path):
    # nmap's -sS, -sF and -sU of one target with a client's HTTP request and UDP question between
    # them (captures/mixed): the client's datagram is other traffic, as analyze counts it, not a
    # "UDP scan" that would push nmap's scans aside as a mere reference
    d = tmp_path / "class" / "bob"
    d.mkdir(parents=True)
    shutil.copy(ROOT / "captures" / "mixed" / "nmap-series.pcap", d / "syn_scan.pcap")
    bob = grade(tmp_path / "class").students[0]
    cells = {c.key: c for c in bob.cells}
    assert [cells[k].verdict for k in ("syn:open", "syn:closed", "syn:filtered")] == ["ok"] * 3
    assert (cells["syn:open"].port, cells["udp:closed"].port) == ("80/tcp", "54/udp")
    assert not any("UDP" in r for c in bob.cells if c.technique == "syn" for r in c.reasons)


def test_empty_files_are_not_duplicates(book):
    # BloodyOrangeMan's three header-only files are byte-identical: nothing was recorded, nothing copied
    assert all(f.rule != "duplicate-submission" for s in book.students for f in s.findings)


def test_feedback_names_every_problem(book, tmp_path):
    paths = grade_report.write(book, tmp_path)
    assert [Path(p).name for p in paths] == ["gradebook.csv", f"{BOM}.md", f"{LEAF}.md", f"{ECHO}.md"]
    bom = (tmp_path / f"{BOM}.md").read_text()
    for says in ["connect_OPEN.pcap: the handshake never completes: a SYN scan, not a connect scan",
                 "null_FILTERED.pcap: no NULL scan probe: it sends a SYN scan's probes",
                 "null_OPEN.pcap is empty (no packet)", "80/tcp never probed",
                 "fin_OPEN.pcap: open from silence: the packets show only open|filtered",  # named open: its claim
                 "`handshake-incomplete`", "`probe-flags-mismatch`", "`port-not-probed`", "`empty-capture`"]:
        assert says in bom, says
    csv_lines = (tmp_path / "gradebook.csv").read_text().splitlines()
    assert csv_lines[0].startswith("id,points,max,connect:open,connect:closed,")
    assert csv_lines[1].startswith(f"{BOM},39.5,72,2,2,4,3.5,3.5,4,")
    assert len(csv_lines[1].split(",")) == 3 + 18


def test_feedback_in_chinese():
    if not STUDENTS.is_dir():
        pytest.skip(f"{STUDENTS} is absent")
    zh = grade(STUDENTS, lang="zh")
    text = grade_report.render_feedback(zh.students[0], zh)
    assert "三次握手从未完成" in text and "是空的（没有数据包）" in text and "从未探测 80/tcp" in text
    assert "教材（TCP connect 扫描）" in text  # verify's explanation, in Chinese


@pytest.mark.parametrize("lang, claim_words", [("en", ("claim", "from silence")), ("zh", ("声明", "没有回应"))])
def test_feedback_invents_no_claim(lang, claim_words):
    """A capture whose name claims no state (scanDump.pcap, xfn.pcap) is told what it shows
    and what the cell needed; only a capture named for the cell's state hears of its claim."""
    if not STUDENTS.is_dir():
        pytest.skip(f"{STUDENTS} is absent")
    book = grade(STUDENTS, lang=lang)
    told = 0
    for s in book.students:
        names = {c.file: c.claim for c in s.captures}
        for c in s.cells:
            if not c.file or c.observed_state in (None, c.state):
                continue  # nothing to say about the state
            stated = names[c.file].endswith("× " + c.state) or ("× " + c.state + " ") in names[c.file]
            rule_ids = {f.rule for f in c.findings}
            if stated:
                continue
            told += 1
            assert not rule_ids & {"state-overclaim", "state-mismatch", "state-underclaim",
                                   "filter-simulated-as-reject"}, (s.id, c.key, c.file)
            assert "state-not-shown" in rule_ids, (s.id, c.key, c.file)
            texts = [c.problem] + [f.message for f in c.findings if f.rule == "state-not-shown"]
            assert not any(w in t for t in texts for w in claim_words), (s.id, c.key, texts)
    assert told == 11  # Leaf5323's scanDump.pcap (8 cells), echo-li-cuc's xfn.pcap (3)
    leaf = next(s for s in book.students if s.id == LEAF)
    xmas_open = next(c for c in leaf.cells if c.key == "xmas:open")
    if lang == "en":
        assert xmas_open.problem == "scanDump.pcap: 22/tcp shows only open|filtered; the cell needs open"
    # a capture named for the state still hears of its claim
    bom = next(s for s in book.students if s.id == BOM)
    fin_open = next(c for c in bom.cells if c.key == "fin:open")
    assert fin_open.file.endswith("fin_OPEN.pcap") and "state-overclaim" in {f.rule for f in fin_open.findings}


# -- evidence first, claims.toml, duplicates, broken files ----------------------------------------

def copy(src, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def test_a_cell_is_shown_by_the_capture_that_really_shows_it(golden, tmp_path):
    d = tmp_path / "class" / "ann"
    copy(golden / "syn.pcap", d / "misc" / "capture-3.dat")  # an odd name and extension, found by its content
    copy(golden / "fin.pcap", d / "fin_closed.pcap")
    book = grade(tmp_path / "class")
    ann = book.students[0]
    syn_open = next(c for c in ann.cells if c.key == "syn:open")
    assert (syn_open.verdict, syn_open.file, syn_open.port) == ("ok", "misc/capture-3.dat", "80/tcp")
    assert next(c for c in ann.cells if c.key == "fin:closed").verdict == "ok"
    # the golden FIN scan also shows 80 open|filtered, but a capture named for another cell counts
    # only where it shows a cell exactly: silence is no evidence of an open port
    assert next(c for c in ann.cells if c.key == "fin:open").verdict == "missing"
    assert next(c for c in ann.cells if c.key == "connect:open").verdict == "missing"  # a SYN scan is not one
    cap = next(c for c in ann.captures if c.file == "misc/capture-3.dat")
    assert cap.claim == "unlabelled" and cap.notes[0].startswith("unlabelled: shows SYN scan: 80/tcp open")


def test_claims_toml_overrides_the_names(golden, tmp_path):
    d = tmp_path / "class" / "bob"
    copy(golden / "xmas.pcap", d / "pcaps" / "connect_open.pcap")  # named wrongly
    copy(golden / "syn.pcap", d / "pcaps" / "mystery.pcap")
    copy(golden / "fin.pcap", d / "pcaps" / "fin_closed.pcap")
    (d / "pcaps" / "claims.toml").write_text('[claims]\n"connect_open.pcap" = ["xmas:closed"]\n'
                                             '"mystery.pcap" = ["stealth:open:80"]\n"fin_*.pcap" = []\n')
    bob = grade(tmp_path / "class").students[0]
    xc = next(c for c in bob.cells if c.key == "xmas:closed")
    assert xc.verdict == "ok" and xc.file == "pcaps/connect_open.pcap" and "claims.toml" in xc.reasons[0]
    assert next(c for c in bob.cells if c.key == "connect:open").verdict == "missing"
    caps = {c.file: c for c in bob.captures}
    assert caps["pcaps/mystery.pcap"].claim == "syn × open (port 80)"
    assert caps["pcaps/mystery.pcap"].claim_source == "claims.toml"
    assert caps["pcaps/fin_closed.pcap"].claim == "unlabelled"  # claims.toml says: no claim
    assert next(c for c in bob.cells if c.key == "fin:closed").reasons[0] == "fin_closed.pcap (unlabelled)"


def test_a_bad_claims_toml_is_reported_and_the_names_used(golden, tmp_path):
    d = tmp_path / "class" / "cat"
    copy(golden / "syn.pcap", d / "syn_open.pcap")
    (d / "claims.toml").write_text('[claims]\n"syn_open.pcap" = ["sin:open"]\n')
    cat = grade(tmp_path / "class").students[0]
    assert next(c for c in cat.cells if c.key == "syn:open").verdict == "ok"
    assert [f.rule for f in cat.findings] == ["claims-file"] and "unknown technique 'sin'" in cat.findings[0].message


def test_the_same_capture_from_two_students_is_flagged_in_both(golden, tmp_path):
    copy(golden / "syn.pcap", tmp_path / "class" / "dan" / "syn_open.pcap")
    copy(golden / "syn.pcap", tmp_path / "class" / "eve" / "lab" / "stealth-OPEN.pcap")
    copy(golden / "fin.pcap", tmp_path / "class" / "eve" / "fin_closed.pcap")
    book = grade(tmp_path / "class")
    dan, eve = book.students
    assert [(f.rule, f.file) for f in dan.findings] == [("duplicate-submission", "syn_open.pcap")]
    assert [(f.rule, f.file) for f in eve.findings] == [("duplicate-submission", "lab/stealth-OPEN.pcap")]
    assert "eve/lab/stealth-OPEN.pcap" in dan.findings[0].message and "dan/syn_open.pcap" in eve.findings[0].message
    assert next(c for c in dan.captures).notes[-1] == "the same packets as eve/lab/stealth-OPEN.pcap"
    assert not book.clean
    # "zero": the cells a shared capture shows earn nothing
    rubric = parse_rubric(DEFAULT_RUBRIC_TOML.replace('action = "flag"', 'action = "zero"'))
    zero = grade(tmp_path / "class", rubric=rubric)
    assert next(c for c in zero.students[0].cells if c.key == "syn:open").points == 0
    assert next(c for c in zero.students[1].cells if c.key == "fin:closed").points == 4


def test_the_same_packets_in_another_container_are_the_same_capture(golden, tmp_path):
    header, records, order = gradeclass._records(golden / "syn.pcap")
    ng = pb.pcapng_bytes(packets=[(0, sec + frac / 1e6, data) for sec, frac, _, _, data in records])
    (tmp_path / "a.pcapng").write_bytes(ng)
    (tmp_path / "b.pcap.gz").write_bytes(pb.gzipped((golden / "syn.pcap").read_bytes()))
    digests = {packet_digest(p)[0] for p in (golden / "syn.pcap", tmp_path / "a.pcapng", tmp_path / "b.pcap.gz")}
    assert len(digests) == 1 and None not in digests
    assert sniff(tmp_path / "a.pcapng") == "pcapng" and sniff(tmp_path / "b.pcap.gz") == "gzip"


def test_broken_files_are_reported_and_never_stop_the_run(golden, tmp_path):
    d = tmp_path / "class" / "fay"
    (d / "syn_open.pcap").parent.mkdir(parents=True)
    (d / "syn_open.pcap").write_bytes(b"GIF89a not a capture at all" * 10)  # garbage named as a capture
    (d / "fin_open.pcap").write_bytes(b"")  # zero bytes
    (d / "udp_closed.pcap").write_bytes(pb.pcap_bytes([]))  # a header, no packet
    (d / "cut.pcap").write_bytes((golden / "xmas.pcap").read_bytes()[:-30])  # cut short while copying
    (d / "connect_open.png").write_bytes(b"\x89PNG screenshot")  # not a capture: ignored
    (d / "report.md").write_text("# my report\n")
    copy(golden / "connect.pcap", d / "connect_open.pcapng")  # pcap named .pcapng
    fay = grade(tmp_path / "class").students[0]
    verdicts = {c.key: (c.verdict, c.problem) for c in fay.cells}
    assert verdicts["syn:open"] == ("no-evidence", "syn_open.pcap cannot be read")
    assert verdicts["fin:open"] == ("no-evidence", "fin_open.pcap cannot be read")
    assert verdicts["udp:closed"] == ("no-evidence", "udp_closed.pcap is empty (no packet)")
    assert verdicts["connect:open"][0] == "ok" and verdicts["xmas:closed"][0] == "ok"
    assert sorted(c.file for c in fay.captures) == ["connect_open.pcapng", "cut.pcap", "fin_open.pcap",
                                                    "syn_open.pcap", "udp_closed.pcap"]
    assert sorted((f.rule, f.file) for f in fay.findings) == [("unreadable-capture", "fin_open.pcap"),
                                                              ("unreadable-capture", "syn_open.pcap")]
    cut = next(c for c in fay.captures if c.file == "cut.pcap")
    assert any(n.startswith("warning: ") for n in cut.notes)


def test_bad_arguments_raise(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        grade(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        grade(tmp_path / "file")
    with pytest.raises(InputError, match="no student folder"):
        grade(tmp_path)
    (tmp_path / "s").mkdir()
    with pytest.raises(UsageError, match="unknown language"):
        grade(tmp_path, lang="fr")
    with pytest.raises(UsageError, match="--jobs"):
        grade(tmp_path, jobs=0)
    with pytest.raises(InputError, match="no such rubric file"):
        grade(tmp_path, rubric=tmp_path / "rubric.toml")


def test_a_student_with_nothing_gets_missing_cells(tmp_path):
    (tmp_path / "gus" / "docs").mkdir(parents=True)
    gus = grade(tmp_path).students[0]
    assert gus.points == 0 and {c.verdict for c in gus.cells} == {"missing"} and gus.captures == ()


# -- a synthetic class, in worker processes ---------------------------------------------------

def test_a_synthetic_class_is_graded_the_same_with_and_without_workers(golden, tmp_path):
    root = gradeclass.make_class(tmp_path / "class", students=40)
    pooled = grade(root, jobs=2)
    assert pooled.jobs == 2 and pooled.files == 40 * 18 - 4  # four students leave udp:filtered out
    single = grade(root, jobs=1)
    assert single.jobs == 1 and single.students == pooled.students
    by_id = {s.id: s for s in pooled.students}
    # the golden captures are nmap's: every cell ok, but silence (Xmas/FIN/NULL open) is ambiguous
    clean = by_id["student000"]
    assert {c.key for c in clean.cells if c.verdict != "ok"} == {"xmas:open", "fin:open", "null:open"}
    assert clean.points == 69 and clean.findings == ()
    dropped = by_id["student001"]  # filtered by a drop rule: Xmas/FIN/NULL read open|filtered too
    assert {c.key for c in dropped.cells if c.verdict == "ambiguous"} == {
        f"{t}:{s}" for t in ("xmas", "fin", "null") for s in ("open", "filtered")}
    assert next(c for c in by_id["student003"].cells if c.key == "null:open").verdict == "no-evidence"
    assert [f.rule for f in by_id["student005"].findings] == ["unreadable-capture"]
    assert [f.rule for f in by_id["student006"].findings] == ["duplicate-submission"]  # copied by student007
    assert [f.rule for f in by_id["student007"].findings] == ["duplicate-submission"]
    assert next(c for c in by_id["student009"].cells if c.key == "udp:filtered").verdict == "missing"
    assert {s.points for s in pooled.students} <= {69, 66, 65, 62, 63, 60}


def test_small_classes_do_not_start_a_pool(golden, tmp_path):
    copy(golden / "syn.pcap", tmp_path / "hal" / "syn_open.pcap")
    assert grade(tmp_path).jobs == 1


# -- the CLI ---------------------------------------------------------------------------------

def run(*args):
    return CliRunner().invoke(main, list(args))


def test_cli_grades_the_real_class(tmp_path):
    if not STUDENTS.is_dir():
        pytest.skip(f"{STUDENTS} is absent")
    out = tmp_path / "grades"
    r = run("grade", str(STUDENTS), "-o", str(out))
    assert r.exit_code == 1  # graded, and the grades name problems
    assert r.stdout.startswith("pcapscan grade: 3 student(s), 18 cells each, 72 points")
    assert f"{BOM}  39.5/72" in r.stdout and "null × filtered" in r.stdout
    assert r.stderr == (f"pcapscan: wrote {out}/gradebook.csv and 3 feedback file(s) in {out}\n"
                        f"pcapscan: class page {out}/index.html\n")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["gradebook.csv", "index.html", *(f"{s}{ext}" for s in (BOM, LEAF, ECHO) for ext in (".md", ".html"))])


def test_cli_json_on_stdout(tmp_path):
    if not STUDENTS.is_dir():
        pytest.skip(f"{STUDENTS} is absent")
    r = run("grade", str(STUDENTS), "--format", "json", "-o", str(tmp_path), "--jobs", "1")
    assert r.exit_code == 1 and r.stderr.startswith("pcapscan: wrote ")
    data = json.loads(r.stdout)
    s = data["students"][0]
    assert {"id", "points", "max", "cells"} <= set(s) and s["id"] == BOM and (s["points"], s["max"]) == (39.5, 72)
    c = s["cells"][0]
    assert {"technique", "state", "file", "observed_technique", "observed_state", "verdict", "points",
            "findings"} <= set(c)
    assert (c["technique"], c["state"], c["verdict"], c["observed_technique"]) == ("connect", "open", "mismatch",
                                                                                   "syn")
    assert {f["rule"] for f in c["findings"]} == {"handshake-incomplete", "rst-port-mismatch"}


def test_cli_exit_0_when_every_cell_is_shown(golden, tmp_path):
    copy(golden / "syn.pcap", tmp_path / "class" / "ivy" / "stealth.pcap")
    (tmp_path / "rubric.toml").write_text('techniques = ["syn"]\n')
    r = run("grade", str(tmp_path / "class"), "--rubric", str(tmp_path / "rubric.toml"), "-o", str(tmp_path / "g"))
    assert r.exit_code == 0, r.stdout
    assert "ivy  12/12" in r.stdout and "nothing to fix" in r.stdout


def test_cli_zh(golden, tmp_path):
    copy(golden / "syn.pcap", tmp_path / "class" / "jo" / "半开扫描_开放.pcap")
    r = run("grade", str(tmp_path / "class"), "--lang", "zh", "-o", str(tmp_path / "g"))
    assert r.exit_code == 1 and "评分" in r.stdout and "已写入" in r.stderr
    assert "## 各项得分" in (tmp_path / "g" / "jo.md").read_text()


@pytest.mark.parametrize("args, says", [
    (["grade", "/nonexistent/class"], "/nonexistent/class: no such folder"),
    (["grade", "{tmp}", "--rubric", "{tmp}/missing.toml"], "missing.toml: no such rubric file"),
    (["grade", "{tmp}", "--rubric", "{tmp}/bad.toml"], "bad.toml: [points] state must be a number >= 0"),
])
def test_cli_usage_and_input_errors_exit_2(tmp_path, args, says):
    (tmp_path / "kim").mkdir()
    (tmp_path / "bad.toml").write_text("[points]\nstate = -2\n")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    r = run(*args, "-o", str(tmp_path / "g"))
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith("pcapscan: ") and says.replace("{tmp}", str(tmp_path)) in r.stderr
    assert len(r.stderr.splitlines()) == 1


def test_cli_bad_jobs_exit_2(tmp_path):
    r = run("grade", str(tmp_path), "--jobs", "0")
    assert r.exit_code == 2 and r.stdout == "" and "--jobs" in r.stderr


def test_cli_rubric_init_prints_the_default():
    r = run("rubric", "init")
    assert r.exit_code == 0 and r.stderr == ""
    assert r.stdout == DEFAULT_RUBRIC_TOML
    parsed, default = parse_rubric(r.stdout), default_rubric()
    assert (parsed.cells, parsed.penalties, parsed.ambiguous) == (default.cells, default.penalties, default.ambiguous)


def test_gradebook_is_plain_data(book):
    assert isinstance(book, Gradebook)
    with pytest.raises(AttributeError):
        book.students[0].points = 72  # frozen


def test_a_digest_hashed_by_batches_is_the_record_by_record_one(golden, tmp_path, monkeypatch):
    """packet_digest hashes a batch of records at a time where the fast path's reader walks the
    file (submissions._batch_digest): the same digest as record by record, whatever the container,
    byte order and timestamp resolution; a cut file is hashed record by record."""
    from pcapscan import submissions

    header, records, order = gradeclass._records(golden / "syn.pcap")
    packets = [(sec + frac / 1e6, data) for sec, frac, _, _, data in records]
    files = {
        "micro.pcap": pb.pcap_bytes(packets),
        "nano-big-endian.pcap": pb.pcap_bytes(packets, nano=True, byteorder=">"),
        "nano.pcapng": pb.pcapng_bytes(interfaces=((1, 9),), packets=[(0, ts, data) for ts, data in packets]),
        "cut.pcap": pb.pcap_bytes(packets)[:-30],
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    batched = {name: submissions._batch_digest(tmp_path / name) for name in files}
    by_batch = {name: packet_digest(tmp_path / name) for name in files}
    monkeypatch.setattr(submissions, "_batch_digest", lambda path: None)
    by_record = {name: packet_digest(tmp_path / name) for name in files}
    assert by_batch == by_record
    assert all(batched[name] is not None for name in files if name != "cut.pcap") and batched["cut.pcap"] is None
    assert by_record["micro.pcap"][1] == len(packets) and by_record["micro.pcap"][0] is not None
    assert len({by_record[name][0] for name in files}) == 2  # the cut one lacks a packet
