"""`pcapscan grade -o DIR`'s HTML: DIR/index.html (students x rubric cells,
a colour per verdict, each cell a link to the student's feedback page,
sortable by points) and the feedback pages with SVG ladders, checked as
files and in a real headless browser (Debian's chromium and chromedriver,
driven by selenium); and the feedback's Captures table, which sums up a big
scan as analyze does."""
from __future__ import annotations

import io
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

import gradeclass
from pcapscan.cli import main
from pcapscan.report.grade_html import COLORS

ROOT = Path(__file__).resolve().parents[1]


def grade(submissions, out) -> None:
    result = CliRunner().invoke(main, ["grade", str(submissions), "-o", str(out)])
    assert result.exit_code in (0, 1), result.output
    assert f"class page {out / 'index.html'}" in result.stderr


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Six students cut from the golden captures: different points, several verdicts."""
    root = tmp_path_factory.mktemp("class")
    gradeclass.make_class(root / "class", students=6)
    out = root / "grades"
    grade(root / "class", out)
    return out


@pytest.fixture(scope="module")
def real_class(tmp_path_factory):
    from conftest import SHARED_CAPTURES

    students = SHARED_CAPTURES / "students"
    if not students.is_dir():
        pytest.skip(f"{students} is absent")
    out = tmp_path_factory.mktemp("real") / "grades"
    grade(students, out)
    return out


def links(html: str) -> list:
    return re.findall(r'href="([^"]+)"', html)


@pytest.mark.parametrize("which", ["synthetic", "real_class"])
def test_index_links_every_cell_to_its_section_of_the_feedback(which, request):
    out = request.getfixturevalue(which)
    index = (out / "index.html").read_text()
    rows = re.findall(r"<tr><td data-value=", index)
    students = sorted(p.stem for p in out.glob("*.md"))
    assert len(rows) == len(students)
    cells = re.findall(r'<td class="cell v-([\w-]+)"', index)
    assert len(cells) == 18 * len(students) and set(cells) <= set(COLORS)
    for href in links(index):
        page, _, anchor = href.partition("#")
        target = (out / page).read_text()
        assert page[:-5] in students
        if anchor:
            assert f'id="{anchor}"' in target, href
    # self-contained: nothing fetched from anywhere
    for page in out.glob("*.html"):
        text = page.read_text()
        assert not re.search(r'(src|href)="(https?:)?//', text) and "<link" not in text, page


def test_feedback_pages_draw_ladders_as_svg(real_class):
    page = (real_class / "2022-ns-public-Leaf5323.html").read_text()
    assert page.count("<svg") >= 10
    # the exchange the syn × open cell rests on: the probe to 22/tcp in frame 5, the student's bad RST flagged
    section = page.split('id="cell-syn-open"', 1)[1].split("<h3", 1)[0]
    assert "#5 +0.000s" in section and "rst-out-of-window" in section


def test_captures_table_sums_up_a_big_scan(tmp_path, shared_captures):
    """A 1,000-port nmap UDP scan is one summary, not a thousand ports (collapse.py's rules)."""
    student = tmp_path / "class" / "alice"
    student.mkdir(parents=True)
    shutil.copy(shared_captures / "scans" / "StanislavBaranovskii+13-1-hw__capture__nmap-UDP.pcapng",
                student / "udp.pcapng")
    grade(tmp_path / "class", tmp_path / "out")
    md = (tmp_path / "out" / "alice.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| udp.pcapng"))
    assert "UDP scan: 992 closed, 4 open\\|filtered: 68-69, 138, 1013, 4 open: 53, 111, 137, 2049" in row
    assert len(row) < 300
    assert "992 closed" in (tmp_path / "out" / "alice.html").read_text()


# -- in a real browser ------------------------------------------------------------------

def _browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1920,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(driver_path), options=options)


@pytest.fixture(scope="module")
def browser():
    driver = _browser()
    yield driver
    driver.quit()


def _points(browser) -> list:
    from selenium.webdriver.common.by import By

    return [float(td.get_attribute("data-value"))
            for td in browser.find_elements(By.CSS_SELECTOR, "#matrix tbody tr td:nth-child(2)")]


def test_sort_by_points_then_follow_a_cell(browser, synthetic):
    from selenium.webdriver.common.by import By

    browser.get((synthetic / "index.html").as_uri())
    before = _points(browser)
    assert len(before) == 6 and before != sorted(before, reverse=True)  # by name first: sorting shows
    header = browser.find_element(By.ID, "points")
    header.click()
    assert _points(browser) == sorted(before, reverse=True)
    assert header.get_attribute("aria-sort") == "descending"
    header.click()
    assert _points(browser) == sorted(before)
    # the first row is now the lowest score: follow its first cell that is not ok
    row = browser.find_element(By.CSS_SELECTOR, "#matrix tbody tr")
    student = row.find_element(By.CSS_SELECTOR, "td a").text
    cell = row.find_element(By.CSS_SELECTOR, "td.cell:not(.v-ok) a")
    href = cell.get_attribute("href")
    cell.click()
    assert browser.current_url == href and browser.current_url.split("#")[0].endswith(f"/{student}.html")
    anchor = href.split("#", 1)[1]
    section = browser.find_element(By.ID, anchor)
    assert section.is_displayed() and student in browser.title
    # the browser scrolled to the cell's section
    assert browser.execute_script("return arguments[0].getBoundingClientRect().top", section) < 100


def _cell_colour_pixels(png: bytes) -> Counter:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    wanted = {tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)): v for v, c in COLORS.items()}
    found = Counter()
    for n, colour in image.getcolors(maxcolors=1 << 24):
        if colour in wanted:
            found[wanted[colour]] += n
    return found


def test_screenshot_of_the_matrix_shows_the_verdict_colours(browser, synthetic, real_class, tmp_path):
    pytest.importorskip("PIL")
    from selenium.webdriver.common.by import By

    for out in (synthetic, real_class):
        browser.get((out / "index.html").as_uri())
        png = browser.find_element(By.ID, "matrix").screenshot_as_png
        colours = _cell_colour_pixels(png)
        index = (out / "index.html").read_text()
        shown = set(re.findall(r'<td class="cell v-([\w-]+)"', index))
        # every verdict the matrix holds is painted, each a real area of cells
        assert set(colours) == shown, (colours, shown)
        assert all(n > 500 for n in colours.values()), colours
    # a feedback page draws its ladders: the SVG has a size and is on screen
    browser.get((real_class / "2022-ns-public-Leaf5323.html").as_uri())
    svg = browser.find_element(By.CSS_SELECTOR, "svg")
    assert svg.size["width"] >= 700 and svg.size["height"] > 100


def test_chinese_pages_and_names_that_are_markup(tmp_path):
    """--lang zh words the pages in Chinese; a student folder named like markup stays text."""
    root = tmp_path / "class"
    gradeclass.make_class(root, students=1)
    bob = "<img src=x onerror=alert(1)>bob"
    (root / "student000").rename(root / bob)
    out = tmp_path / "grades"
    result = CliRunner().invoke(main, ["grade", str(root), "-o", str(out), "--lang", "zh"])
    assert result.exit_code in (0, 1), result.output
    index = (out / "index.html").read_text()
    assert "<h1>端口扫描实验：全班</h1>" in index and ">符合<br>" in index
    assert bob not in index and "&lt;img src=x onerror=alert(1)&gt;bob" in index
    [page] = [p for p in out.glob("*.html") if p.name != "index.html"]
    assert f'href="{page.name}"' in index and bob not in page.read_text()


def test_ladders_keep_only_the_ports_their_cells_draw():
    """A big capture has 100,000s of checked ports: the feedback pages keep, of
    each capture, only the ports a cell's ladder draws (and ask verify once)."""
    from types import SimpleNamespace

    from pcapscan.report.grade_html import PortsOf

    asked = []

    def ports_of(path):
        asked.append(path)
        return [SimpleNamespace(proto=proto, port=port) for proto in ("tcp", "udp") for port in range(1, 1001)]

    ports = PortsOf(ports_of, {"a.pcap": {("tcp", "80"), ("udp", "53")}})
    assert [(p.proto, p.port) for p in ports("a.pcap")] == [("tcp", 80), ("udp", 53)]
    assert ports("b.pcap") == () and ports("a.pcap") and asked == ["a.pcap", "b.pcap"]
    assert len(PortsOf(ports_of)("a.pcap")) == 2000  # no cells named: every port, as before
