"""The book: executed notebooks are fresh and small, the HTML builds with warnings as errors, and
every page works offline in a real browser (Debian's chromium driven by Selenium).

The browser visits every page of ``_build/html`` once (served from 127.0.0.1, all other hosts
unresolvable) and the tests below check what it saw:

- every ``<img>`` loaded (``naturalWidth > 0``);
- no Python traceback or notebook error output;
- every formula rendered by MathJax (MathJax loaded where there is math, an ``mjx-container`` in
  every math element, no raw ``$$``, ``$...$``, ``\\[``, ``\\(`` or TeX commands left in the text);
- no request, and no script/stylesheet/image/frame URL in the DOM, leaves 127.0.0.1;
- every local link resolves to an existing file and, with a fragment, to an existing anchor.

The tests need the real executed notebooks in ``book/executed/``; without them the build fails
and names the ``antinb run NN --profile book`` commands that produce them.
"""

from __future__ import annotations

import functools
import html as htmllib
import http.server
import json
import os
import re
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from antinb import book, findings, paper
from antinb.book import runner

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = ROOT / "book" / "executed"
MAX_NOTEBOOK_BYTES = 5 * 1024 * 1024
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


# --------------------------------------------------------------------------- executed notebooks


@pytest.mark.parametrize("name", book.CHAPTERS)
def test_executed_notebook_is_fresh_and_small(name):
    path = EXECUTED / f"{name}.ipynb"
    refresh = f"`antinb run {name} --profile book`"
    assert path.exists(), f"{path.relative_to(ROOT)} is missing: run {refresh}"
    reason = runner.is_stale(path, profile="book")  # only book-profile runs are published
    assert reason is None, f"{reason}: run {refresh}"
    size = path.stat().st_size
    assert size <= MAX_NOTEBOOK_BYTES, (
        f"{path.name} is {size / 1e6:.1f} MB (limit {MAX_NOTEBOOK_BYTES / 1e6:.0f} MB): lower the figure dpi or "
        f"the number of images shown, then run {refresh}")
    stamp = runner.stamp_of(path)
    assert stamp.get("records"), f"{path.name} recorded no numbers (antinb.record): results.md would be empty"


def test_every_chapter_is_in_the_toc():
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert [f for f in files if f.startswith("book/executed/")] == [f"book/executed/{n}" for n in book.CHAPTERS]
    for f in files:
        if not f.startswith("book/executed/") and f not in ("book/results", "book/models", "book/performance"):
            assert (ROOT / f"{f}.md").exists(), f"{f}.md is listed in _toc.yml but missing"


# --------------------------------------------------------------------------- the builder's parts


def test_stale_notebook_names_the_refresh_command(tmp_path, monkeypatch):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    for name in book.CHAPTERS:
        (nbdir / f"{name}.py").write_text("# %%\nx = 1\n")
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", nbdir)
    monkeypatch.setattr(runner, "EXECUTED_DIR", tmp_path / "executed")
    with pytest.raises(book.BookError) as err:
        book.ensure_executed(execute_stale=False, log=lambda s: None)
    for name in book.CHAPTERS:
        assert f"antinb run {name} --profile book" in str(err.value)


def _corr(model: str, sampler: str, pairing: str, variant: str, mean: float, half: float = 0.03) -> dict:
    key = f"{model}/{sampler}/{pairing}/{variant}"
    return {f"corr_mean/{key}": mean, f"corr_mean_ci/{key}": [mean - half, mean + half]}


def test_results_page_puts_ours_beside_the_papers():
    recs = {**_corr("mnist", "ddim", "pn", "centered", -0.512), **_corr("mnist", "ddim", "rr", "centered", 0.01),
            **_corr("mnist", "ddim", "pn", "standard", 0.04),
            **_corr("google/ddpm-cifar10-32", "ddpm", "pn", "centered", -0.79),
            "something_else/mnist": 3.5}
    runs = {name: None for name in book.CHAPTERS}
    runs["01_correlation"] = {"profile": "book", "records": recs, "finished": "2025-01-01T00:00:00+00:00",
                              "parameters": {"n_pairs": 32, "ddim_steps": 50, "ddpm_steps": 20},
                              "environment": {"device": "cpu"}, "wall_s": 60, "git_commit": "abc"}
    lines = book.results_markdown(runs).splitlines()
    row = next(ln for ln in lines if ln.startswith("| DDIM") and "(mnist, DDIM-50, 32 pairs) |" in ln)
    # ours with its interval and setting, the paper's DDIM range in the same row, a verdict by the book's
    # rules (inside the paper's range: reproduced); the RR pairs in the caveats under the table
    assert "| −0.51 [−0.54, −0.48] (mnist, DDIM-50, 32 pairs) |" in row and "| −0.78 to −0.41 |" in row
    assert row.endswith("| reproduced |")
    caveat = next(ln for ln in lines if ln.startswith("- *mnist, DDIM-50, 32 pairs* (DDIM"))
    assert "RR +0.01" in caveat
    # a paper model we ran: its own paper number beside ours, in one row
    cifar = next(ln for ln in lines if ln.startswith("| CIFAR-10") and "DDPM-20" in ln)
    assert "| −0.80 |" in cifar and "−0.79 [−0.82, −0.76]" in cifar and cifar.endswith("| reproduced |")
    celeba = next(ln for ln in lines if ln.startswith("| CelebA-HQ") and "DDIM" in ln)
    assert "| −0.78 |" in celeba and celeba.count("not run here") == 2
    # every record is still on the page (its name may wrap after a '/': <wbr> adds no character)
    assert "something_else/mnist" in "\n".join(lines).replace("`/<wbr>`", "/")
    assert "not run" in next(ln for ln in lines if "02_timestep_evolution <" in ln)
    glance = next(ln for ln in lines if ln.startswith("| {doc}`1 <executed/01_correlation>`"))
    assert "**reproduced**" in glance and "−0.79 [−0.82, −0.76]" in glance
    assert "not run here" in next(ln for ln in lines if ln.startswith("| {doc}`3 <"))


def test_results_page_shows_only_comparable_quantities():
    """No CI length (on each model's own scale) is set beside the paper's: every table has the four
    columns of one setting, and no efficiency is pooled over models."""
    text = book.results_markdown({name: None for name in book.CHAPTERS})
    headers = {ln for ln in text.splitlines() if ln.startswith("| the paper's setting")}
    assert headers == {book.builder.SUMMARY_HEADER}
    assert book.builder.SUMMARY_HEADER.count("|") == 5  # four columns fit the article column at 1280 px
    assert "CI length |" not in text and "pooled" not in text.split("## Provenance")[0].replace("never pooled", "")


def test_paper_numbers_match_science_md():
    """The paper's numbers live in antinb.paper alone; a few quoted from science.md are checked there,
    and every one reaches the results page, beside our record of the same quantity, via paper_records()."""
    from antinb.findings import correlation, diversity, symmetry, trajectory, uncertainty
    from antinb.findings.base import fill

    # Quoted from science.md §2, §3, §4, §5 and §6 (blog Table 2): the only numbers typed in here.
    assert paper.CORRELATION[(paper.CELEBA, "ddim", "centered")] == -0.78
    assert paper.CORRELATION[(paper.CIFAR, "ddpm", "standard")] == -0.73
    assert paper.CORRELATION[(paper.CIFAR, "ddpm", "centered")] == -0.80
    assert paper.TRAJECTORY["x_first"] == -1.0
    assert paper.SYMMETRY[(paper.CHURCH, "q10")] == "> 0.97"
    assert paper.DIVERSITY[(paper.CIFAR, "ssim")] == 86.1
    assert paper.TABLE2[paper.CHURCH]["brightness"] == (1.67, None, 0.14, None, 136.37)
    assert paper.TABLE2[paper.SD_PROMPTED]["contrast"] == (2.18, 1.03, 0.89, 4.46, 6.25)

    # antinb.paper -> the findings' record names (paper_records) -> the page's "paper" cells
    assert book.PAPER == findings.paper_records()
    for (model, sampler, variant), value in paper.CORRELATION.items():
        assert book.paper_value(fill(correlation.CORR_MEAN, model=model, sampler=sampler, pairing="pn",
                                     variant=variant)) == value
    for model, rows in paper.TABLE2.items():
        for stat, (l_mc, _, _, _, e_amc) in rows.items():
            assert book.paper_value(fill(uncertainty.CI_LENGTH, model=model, stat=stat, method="mc")) == l_mc
            assert book.paper_value(fill(uncertainty.EFFICIENCY, model=model, stat=stat, method="amc")) == e_amc
    for (model, metric), value in paper.DIVERSITY.items():
        if metric == "ssim":
            assert book.paper_value(fill(diversity.SSIM_IMPROVEMENT, model=model)) == value
    for (model, which), value in paper.SYMMETRY.items():
        if which == "mean":
            assert book.paper_value(fill(symmetry.AS_MEAN, model=model)) == value
    assert book.paper_value(fill(trajectory.TRAJ_X_FIRST, model="mnist", sampler="ddim")) == paper.TRAJECTORY["x_first"]

    # ... and every paper number reaches the results page in a row of its own setting
    lines = book.results_markdown({name: None for name in book.CHAPTERS}).splitlines()

    def row(*needles: str) -> str:
        found = [ln for ln in lines if all(n in ln for n in needles)]
        assert found, needles
        return found[0]

    for (model, sampler, variant), value in paper.CORRELATION.items():
        if variant == "centered":
            row(paper.MODEL_LABELS[model], f"| {value:+.2f} |".replace("-", "−"), "not run here")
    for model, rows in paper.TABLE2.items():
        row(paper.MODEL_LABELS[model], f"brightness {rows['brightness'][4]:.1f}", "not run here")
    for (model, metric), value in paper.DIVERSITY.items():
        row(paper.MODEL_LABELS[model], f"{'SSIM' if metric == 'ssim' else 'LPIPS'} +{value:.1f} %")
    for model, _ in paper.SYMMETRY:
        row(paper.MODEL_LABELS[model], "mean > 0.99, 10 % quantile > 0.97")
    row(paper.MODEL_LABELS[paper.FFHQ_DPS], "L1 ≈ 1.5, PSNR ≈ 1.8")


def test_chapters_come_from_the_toc(tmp_path):
    from antinb.book import builder

    assert book.CHAPTERS == builder.chapters(ROOT / "_toc.yml") == tuple(runner.notebooks())
    assert "CHAPTERS: tuple[str, ...] = (" not in (ROOT / "antinb" / "book" / "builder.py").read_text()
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: book/intro\nparts:\n  - caption: A\n    chapters:\n"
                   "      - file: book/methods\n      - file: book/executed/02_b\n        sections:\n"
                   "          - file: book/executed/03_c\n  - caption: B\n    chapters:\n"
                   "      - file: book/executed/01_a.ipynb\n")
    assert builder.chapters(toc) == ("02_b", "03_c", "01_a")


def test_results_page_publishes_only_book_profile_runs(tmp_path, monkeypatch):
    executed = tmp_path / "executed"
    executed.mkdir()
    recs = _corr("mnist", "ddim", "pn", "centered", -0.512)
    sym = {"as_mean/mnist": 0.987, "as_mean_ci/mnist": [0.98, 0.99], "as_q10/mnist": 0.97,
           "as_q10_ci/mnist": [0.96, 0.98], "residual_mean/mnist": 0.1}
    for name, profile in (("01_correlation", "ci"), ("03_symmetry", "book")):
        stamp = {"profile": profile, "records": recs if profile == "ci" else sym,
                 "environment": {"device": "cpu"}, "wall_s": 1, "git_commit": "abc"}
        (executed / f"{name}.json").write_text(json.dumps(stamp))
    out = book.write_results(executed, tmp_path / "results.md").read_text()
    assert "−0.512" not in out and "0.987" in out
    assert "not run" in next(ln for ln in out.splitlines() if "01_correlation <" in ln)


def test_performance_page_reports_cold_and_warm_runs_against_the_targets(tmp_path):
    runs = tmp_path / "runs.json"
    for label, wall, made, saved in (("cold", 540, 50_000, 1_000), ("warm", 30, 0, 51_000)):
        executed = tmp_path / label
        executed.mkdir()
        for name in book.CHAPTERS:
            stamp = {"profile": "book", "environment": {"device": "cpu (x86_64, 2 threads)"}, "wall_s": wall,
                     "git_commit": "abc", "usage": {"network_evaluations": made, "evaluations_saved": saved}}
            (executed / f"{name}.json").write_text(json.dumps(stamp))
        book.record_runs(label, executed, runs)
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "01_correlation.json").write_text(json.dumps({"profile": "ci", "wall_s": 1}))
    with pytest.raises(book.BookError, match="no book-profile run"):
        book.record_runs("cold", tmp_path / "ci", runs)
    page = book.write_performance(tmp_path / "performance.md", tmp_path / "none", runs).read_text()
    n = len(book.CHAPTERS)
    rows = [ln for ln in page.splitlines() if ln.startswith("| 01_correlation |")]
    assert rows == ["| 01_correlation | 9.0 min | 50,000 | 1,000 |", "| 01_correlation | 0.5 min | 0 | 51,000 |"]
    assert f"| all | {9 * n:.1f} min | {50_000 * n:,} | {1_000 * n:,} |" in page
    assert f"| all | {0.5 * n:.1f} min | 0 | {51_000 * n:,} |" in page
    assert page.index("(cold)") < page.index("(warm)")
    assert "chapters 1-6 from an empty cache 54.0 min (at most 60: met)" in page
    assert "longest chapter 01_correlation 9.0 min (at most 15: met)" in page
    assert f"warm cache {0.5 * n:.1f} min (under 5: met)" in page


_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
_DELIMITER_ROW = re.compile(r"^\s*\|(\s*:?-{3,}:?\s*\|)+\s*$")


def _table_defects(text: str) -> list[str]:
    """Every Markdown table of ``text`` whose rows do not have as many cells as its header (an unescaped ``|``
    inside a cell shifts the rest of its row), or whose header names a column twice."""
    lines, bad, i = text.splitlines(), [], 0
    while i < len(lines) - 1:
        if not (lines[i].lstrip().startswith("|") and _DELIMITER_ROW.match(lines[i + 1])):
            i += 1
            continue
        header = [c.strip() for c in _UNESCAPED_PIPE.split(lines[i].strip())[1:-1]]
        named = [c for c in header if c]
        if len(set(named)) != len(named):
            bad.append(f"header names a column twice: {lines[i]}")
        j = i + 1
        while j < len(lines) and lines[j].lstrip().startswith("|"):
            cells = len(_UNESCAPED_PIPE.findall(lines[j].strip())) - 1
            if cells != len(header):
                bad.append(f"{cells} cells under a header of {len(header)}: {lines[j]}")
            j += 1
        i = j
    return bad


def test_the_table_check_catches_a_pipe_in_a_cell_and_a_repeated_header():
    table = "| target | measured | target | met |\n|---|---|---|---|\n| |PN / RR - 1| | 0.01 | <= 0.02 | yes |\n"
    assert len(_table_defects(table)) == 2
    ok = "| measure | worst | target | met |\n|---|---|---|---|\n| \\|PN / RR - 1\\| | 0.01 | <= 0.02 | yes |\n"
    assert _table_defects(ok) == []


def test_every_generated_table_has_as_many_cells_in_each_row_as_its_header(tmp_path):
    """The generated pages (results, bottom line, at a glance, profiles, performance, models and their cards),
    written from what is committed into a temporary folder."""
    from antinb.book import builder, cards

    book.write_results(EXECUTED, tmp_path / "results.md")
    builder.write_profiles(tmp_path / "profiles.md", EXECUTED)
    book.write_performance(tmp_path / "performance.md")
    builder.write_models(tmp_path / "models", tmp_path / "models.md", strict=False)
    pages = {p.relative_to(tmp_path): p.read_text() for p in sorted(tmp_path.rglob("*.md"))}
    for card in sorted((ROOT / "antinb" / "weights").glob("*/card.json")):  # as `antinb card` writes them now
        pages[card.parent.name + " card"] = cards._markdown(json.loads(card.read_text()))
    assert {"results.md", "performance.md", "profiles.md", "models.md"} <= {str(k) for k in pages}
    bad = [f"{name}: {d}" for name, text in pages.items() for d in _table_defects(text)]
    assert not bad, "ragged generated tables:\n  " + "\n  ".join(bad)


# --------------------------------------------------------------------------- the built book


@pytest.fixture(scope="session")
def book_html() -> Path:
    log: list[str] = []
    t0 = time.time()
    try:
        html_dir = book.build(execute_stale=False, log=log.append)
    except book.BookError as err:
        pytest.fail(f"the book does not build:\n{err}", pytrace=False)
    print(f"\nbook built in {time.time() - t0:.0f} s")
    return html_dir


@pytest.mark.slow
def test_book_builds_offline(book_html):
    assert (book_html / "index.html").exists()
    assert (book_html / "_static" / "mathjax" / "tex-chtml.js").exists()
    assert book.remote_assets(book_html) == []
    results = (book_html / "book" / "results.html").read_text()
    for name in book.CHAPTERS:
        assert name in results


def _pages(html_dir: Path) -> list[Path]:
    skip = ("_static", "_sources", "_images")
    return sorted(p for p in html_dir.rglob("*.html") if p.relative_to(html_dir).parts[0] not in skip)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: D401 - silence the access log
        pass


@pytest.fixture(scope="session")
def server(book_html):
    handler = functools.partial(_QuietHandler, directory=str(book_html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def driver(tmp_path_factory):
    if os.environ.get("ANTINB_BROWSER", "1") == "0":
        pytest.skip("ANTINB_BROWSER=0: the browser test is switched off")
    for exe, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(exe).exists():
            pytest.fail(f"{exe} is missing: apt-get install chromium chromium-driver (scripts/install.sh), "
                        "or set ANTINB_BROWSER=0 to skip the browser test", pytrace=False)
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must never download anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                "--disable-extensions", "--disable-default-apps", "--window-size=1280,900",
                # only 127.0.0.1 resolves: a remote request fails fast (and is still logged below)
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        opts.add_argument(arg)
    tmp = tmp_path_factory.mktemp("chromium")  # chromedriver's profile and chromium's temporary files: not in /tmp
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER, env={**os.environ, "TMPDIR": str(tmp)}), options=opts)
    drv.set_page_load_timeout(60)
    drv.set_script_timeout(60)
    yield drv
    drv.quit()


_WAIT_JS = r"""
const done = arguments[arguments.length - 1];
const t0 = Date.now();
for (const img of document.images) { img.loading = "eager"; }
const images = Promise.all([...document.images].map(img => img.complete ? null :
    new Promise(r => { img.addEventListener("load", r); img.addEventListener("error", r); })));
function math() {
  return new Promise(resolve => {
    (function poll() {
      if (!document.querySelector(".math, mjx-container")) return resolve(null);
      const mj = window.MathJax;
      if (mj && mj.startup && mj.startup.promise) {
        return mj.startup.promise.then(() => resolve(null), e => resolve("MathJax failed: " + e));
      }
      if (Date.now() - t0 > 30000) return resolve("MathJax did not start within 30 s");
      setTimeout(poll, 100);
    })();
  });
}
Promise.all([images, math()]).then(([_, err]) => done(err), e => done(String(e)));
"""

_INSPECT_JS = r"""
const skip = new Set(["PRE", "CODE", "SCRIPT", "STYLE", "TEXTAREA", "MJX-CONTAINER", "NOSCRIPT"]);
function visibleText(node, out) {
  for (const c of node.childNodes) {
    if (c.nodeType === Node.TEXT_NODE) out.push(c.textContent);
    else if (c.nodeType === Node.ELEMENT_NODE && !skip.has(c.tagName.toUpperCase()) &&
             !c.classList.contains("highlight")) visibleText(c, out);
  }
  return out;
}
const urls = [];
for (const [sel, attr] of [["script[src]", "src"], ["img[src]", "src"], ["iframe[src]", "src"],
                           ["source[src]", "src"], ["video[src]", "src"], ["audio[src]", "src"],
                           ["embed[src]", "src"], ["object[data]", "data"], ["link[href]", "href"]]) {
  for (const el of document.querySelectorAll(sel)) {
    if (sel === "link[href]" && !/stylesheet|icon|preload|preconnect|prefetch|manifest/i.test(el.rel)) continue;
    urls.push(el[attr] || el.getAttribute(attr));
  }
}
const stderr = [...document.querySelectorAll(".output.stderr, .output.stream.stderr")].map(e => e.innerText);
// the defect classes of a page a reader would see (tested below, one test per class)
const article = document.querySelector("article.bd-article");
const wide = [];
if (article) {
  const col = article.getBoundingClientRect();
  const label = el => el.tagName.toLowerCase() + (el.className && typeof el.className === "string" ?
      "." + el.className.split(" ")[0] : "") + " " + Array.from((el.innerText || el.getAttribute("src") || "").replace(/\s+/g, " ")).slice(0, 60).join("");
      // (by code point: cutting a surrogate pair of a maths glyph makes the result unreadable to the driver)
  for (const el of article.querySelectorAll("table, img, svg, pre, .cell_output, mjx-container, .math")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || el.closest("mjx-container") && el.tagName !== "MJX-CONTAINER") continue;
    if (r.right > col.right + 2 || r.left < col.left - 2)
      wide.push(`${label(el)}: ${Math.round(r.width)} px wide, column ${Math.round(col.width)} px`);
  }
  // (not inline maths: MathJax's inline boxes report a few px of slack as overflow, yet draw whole)
  for (const el of article.querySelectorAll("pre, .pst-scrollable-table-container, .cell_output, .output, " +
                                            "mjx-container[display='true'], div.math")) {
    if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 2)
      wide.push(`${label(el)}: scrolls sideways (${el.scrollWidth} px in ${el.clientWidth} px)`);
  }
}
// issue 28's page checks: where the bottom line ends, each verdict's opening, ragged tables, scaled figures, prose
const bottom = document.getElementById("bottom-line");
const bottom_end = bottom ? bottom.getBoundingClientRect().bottom + window.scrollY : null;
let verdict_first = null;
for (const sec of document.querySelectorAll("section[id^='verdict']")) {
  const p = sec.querySelector("p");
  if (p) { verdict_first = p.innerText; break; }
}
const ragged = [];
for (const t of document.querySelectorAll("article table")) {
  // a pandas table's second header row names the index (its cells stop where the index does): not a data row
  const rows = [...t.rows].filter((r, i) => !(r.parentElement.tagName === "THEAD" && i > 0));
  // cells per row on the table's grid: a cell spanning rows (a grouped index) counts in each row it covers
  const carry = [];
  const counts = rows.map(r => {
    let n = carry.filter(k => k > 0).length;
    for (let i = 0; i < carry.length; i++) if (carry[i] > 0) carry[i]--;
    for (const c of r.cells) {
      n += c.colSpan || 1;
      if ((c.rowSpan || 1) > 1) carry.push(c.rowSpan - 1);
    }
    return n;
  });
  if (new Set(counts).size > 1) ragged.push(`${(t.innerText || "").slice(0, 60)}: cells per row ${[...new Set(counts)]}`);
}
const scaled = [...document.querySelectorAll("article .cell_output img, article img.card-figure, article figure img")]
    .filter(i => i.naturalWidth > 0 && i.getBoundingClientRect().width > 0)
    .map(i => ({src: (i.currentSrc || i.src).split("/").pop(), ratio: i.getBoundingClientRect().width / i.naturalWidth}));
const prose = [...document.querySelectorAll("article p, article li")].filter(e => !e.closest("table, pre, .highlight"))
    .map(e => { const c = e.cloneNode(true); c.querySelectorAll("code, mjx-container, .math").forEach(x => x.remove());
                return c.innerText; }).join("\n");
const outputs = [...document.querySelectorAll(".cell_output")].map(e => e.innerText).join("\n");
const headings = [...document.querySelectorAll("h1, h2, h3, h4, h5, h6, nav a, .toctree-l1 a, .toctree-l2 a")]
    .map(e => e.textContent.trim());
return {
  wide: wide,
  bottom_end: bottom_end,
  verdict_first: verdict_first,
  ragged: ragged,
  scaled: scaled,
  prose: prose,
  outputs: outputs,
  headings: headings,
  h2: [...document.querySelectorAll("article h2")].map(e => e.textContent.trim()),
  any_stderr: document.querySelectorAll(".output.stderr, .stderr").length,
  url: location.href,
  images: [...document.images].map(i => ({src: i.currentSrc || i.src, w: i.naturalWidth, complete: i.complete})),
  text: document.body ? document.body.innerText : "",
  visible: document.body ? visibleText(document.body, []).join(" ") : "",
  error_outputs: document.querySelectorAll(".output.error, .output.traceback, .cell_output .traceback").length,
  stderr: stderr,
  math: document.querySelectorAll(".math").length,
  math_unrendered: [...document.querySelectorAll(".math")].filter(e => !e.querySelector("mjx-container"))
                       .map(e => e.textContent.slice(0, 80)),
  mathjax_script: !!document.querySelector('script[src*="mathjax"]'),
  mjx: document.querySelectorAll("mjx-container").length,
  dom_urls: urls,
  resources: performance.getEntriesByType("resource").map(e => e.name),
  links: [...document.querySelectorAll("a[href]")].map(a => a.href),
};
"""


@pytest.fixture(scope="session")
def pages(book_html, server, driver) -> dict[str, dict]:
    """What the browser saw on every page, keyed by the page's path in the build."""
    seen: dict[str, dict] = {}
    t0 = time.time()
    for page in _pages(book_html):
        rel = page.relative_to(book_html).as_posix()
        driver.get(server + urllib.parse.quote(rel))
        wait_error = driver.execute_async_script(_WAIT_JS)
        info = driver.execute_script(_INSPECT_JS)
        info["wait_error"] = wait_error
        info["requests"] = _logged_requests(driver)
        seen[rel] = info
    print(f"\nbrowser visited {len(seen)} pages in {time.time() - t0:.0f} s")
    return seen


def _logged_requests(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def _is_local(url: str, server: str) -> bool:
    return url.startswith((server, "data:", "blob:", "about:")) or url == ""


@pytest.mark.slow
def test_browser_visits_every_page(pages, book_html):
    assert len(pages) == len(_pages(book_html))
    for name in book.CHAPTERS:
        assert f"book/executed/{name}.html" in pages


@pytest.mark.slow
def test_performance_appendix_shows_the_committed_benchmarks(pages):
    from antinb.book import bench

    reports = bench.load_reports()
    assert reports, "no benchmark report committed in benchmarks/results/ (run `antinb bench --notebooks`)"
    info = pages["book/performance.html"]
    figures = [img for img in info["images"] if "throughput-" in img["src"].rsplit("/", 1)[-1]]
    assert len(figures) == sum(1 for r in reports if r.get("throughput"))
    assert all(img["w"] > 0 for img in figures)
    assert "DDIMPipeline" in info["text"] and "UNet" in info["text"]


def test_images_load(pages):
    broken = [f"{rel}: {img['src']}" for rel, info in pages.items() for img in info["images"] if img["w"] == 0]
    assert not broken, "images that did not load:\n  " + "\n  ".join(broken)


_ERROR_IN_STDERR = re.compile(r"\b[A-Z]\w*Error\b|Traceback")


@pytest.mark.slow
def test_no_tracebacks_or_error_outputs(pages):
    bad = []
    for rel, info in pages.items():
        if "Traceback (most recent call last)" in info["text"]:
            bad.append(f"{rel}: contains a Python traceback")
        if info["error_outputs"]:
            bad.append(f"{rel}: {info['error_outputs']} notebook error output(s)")
        for s in info["stderr"]:
            if _ERROR_IN_STDERR.search(s):
                bad.append(f"{rel}: stderr output with an error: {s[:200]!r}")
    assert not bad, "\n".join(bad)


_RAW_TEX = re.compile(r"\$\$|\\\[|\\\(|\\(?:begin|frac|operatorname|mathrm|mathbb|mathcal|sqrt|sum|int)\b"
                      r"|\$[^$\s][^$\n]{0,200}?[^$\s\\]\$")


@pytest.mark.slow
def test_formulas_are_rendered(pages):
    bad = []
    for rel, info in pages.items():
        if info["wait_error"]:
            bad.append(f"{rel}: {info['wait_error']}")
        if info["math"] and not info["mathjax_script"]:
            bad.append(f"{rel}: has {info['math']} formulas but no MathJax script")
        if info["math_unrendered"]:
            bad.append(f"{rel}: {len(info['math_unrendered'])} formula(s) not rendered, e.g. "
                       f"{info['math_unrendered'][0]!r}")
        if info["math"] and info["mjx"] < info["math"]:
            bad.append(f"{rel}: {info['math']} math elements but only {info['mjx']} rendered by MathJax")
        m = _RAW_TEX.search(info["visible"])
        if m:
            i = m.start()
            bad.append(f"{rel}: raw TeX left in the text: {info['visible'][max(0, i - 40):i + 60]!r}")
    assert not bad, "\n".join(bad)
    assert sum(info["mjx"] for info in pages.values()) > 0, "no formula was rendered anywhere"
    assert pages["book/methods.html"]["mjx"] >= 10


@pytest.mark.slow
def test_no_request_leaves_the_machine(pages, server):
    bad = []
    for rel, info in pages.items():
        for kind in ("requests", "resources", "dom_urls"):
            for url in info[kind]:
                if not _is_local(url, server):
                    bad.append(f"{rel}: {kind}: {url}")
    assert not bad, "non-local URLs (the book must work offline):\n  " + "\n  ".join(sorted(set(bad)))


@functools.lru_cache(maxsize=None)
def _anchors(path: Path) -> frozenset[str]:
    text = path.read_text(errors="replace")
    return frozenset(htmllib.unescape(m) for m in re.findall(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""", text))


@pytest.mark.slow
def test_internal_links_resolve(pages, server, book_html):
    bad = []
    for rel, info in pages.items():
        for href in info["links"]:
            if not href.startswith(server):
                continue
            parsed = urllib.parse.urlparse(href)
            local = urllib.parse.unquote(parsed.path)[len(urllib.parse.urlparse(server).path):]
            target = book_html / local
            if local == "" or local.endswith("/"):
                target = target / "index.html"
            if not target.is_file():
                bad.append(f"{rel}: {href} -> missing file {local}")
                continue
            frag = urllib.parse.unquote(parsed.fragment)
            if frag and target.suffix == ".html" and frag not in _anchors(target):
                bad.append(f"{rel}: {href} -> no anchor #{frag} in {local}")
    assert not bad, "broken internal links:\n  " + "\n  ".join(sorted(set(bad)))


# --------------------------------------------------------------------------- what a reader sees (issue 16 item 9)

_REPR = re.compile(r"<[\w.]+(?: object)? at 0x[0-9a-fA-F]+>|^\s*(?:Text|Line2D|Figure|Axes)\(|<matplotlib\.", re.M)
_ABS_PATH = re.compile(r"(?:/(?:work|home|root|Users|opt|usr|var|private|tmp)/[\w.+-]+/[\w./+-]*)|"
                       r"(?:[A-Z]:\\[\w\\]+)|site-packages|\.venv/")
_DOUBLE_NUMBER = re.compile(r"^(\d+(?:\.\d+)*)\.\s+\1\.?\s")
_WARNING = re.compile(r"\b\w*Warning\b|^\s*warnings\.warn", re.M)


def _defects(pages, check) -> list[str]:
    return [f"{rel}: {d}" for rel, info in pages.items() for d in check(rel, info)]


@pytest.mark.slow
def test_nothing_is_wider_than_the_content_column(pages):
    bad = _defects(pages, lambda rel, info: info["wide"])
    assert not bad, "elements wider than the content column at 1280 px:\n  " + "\n  ".join(bad)


@pytest.mark.slow
def test_no_warning_or_stderr_in_any_output(pages):
    def check(rel, info):
        out = [f"{info['any_stderr']} stderr block(s)"] if info["any_stderr"] else []
        m = _WARNING.search(info["outputs"])
        return out + ([f"a warning in an output: {info['outputs'][max(0, m.start() - 60):m.end() + 60]!r}"] if m else [])
    bad = _defects(pages, check)
    assert not bad, "\n".join(bad)


@pytest.mark.slow
def test_no_object_repr_in_any_output(pages):
    def check(rel, info):
        m = _REPR.search(info["outputs"])
        return [f"object repr {m.group(0)!r}"] if m else []
    bad = _defects(pages, check)
    assert not bad, "\n".join(bad)


@pytest.mark.slow
def test_no_path_of_the_executing_machine(pages):
    def check(rel, info):
        # prose outside code, and every notebook output; example paths in code blocks are the reader's own
        m = _ABS_PATH.search(info["visible"] + "\n" + info["outputs"])
        return [f"path {m.group(0)!r}"] if m else []
    bad = _defects(pages, check)
    assert not bad, "\n".join(bad)


@pytest.mark.slow
def test_no_duplicated_numbering(pages):
    bad = _defects(pages, lambda rel, info: [h for h in info["headings"] if _DOUBLE_NUMBER.match(h)])
    assert not bad, "headings or sidebar entries numbered twice:\n  " + "\n  ".join(bad)


@pytest.mark.slow
def test_every_chapter_ends_with_a_verdict(pages):
    for name in book.CHAPTERS:
        h2 = [re.sub(r"^[\d.]+\s*", "", h).rstrip("#¶ ") for h in pages[f"book/executed/{name}.html"]["h2"]]
        assert "Verdict" in h2, f"{name}: no verdict section (h2: {h2})"
        assert h2.index("Verdict") >= len(h2) - 2, f"{name}: the verdict is not at the end ({h2})"


#: The window the browser test reads the book in: 1280 x 900 px.
_SCREEN_H = 900


@pytest.mark.slow
def test_the_bottom_line_is_within_the_first_screen_and_a_half(pages):
    intro = pages["book/intro.html"]
    assert intro["bottom_end"] is not None, "the introduction has no 'Bottom line' section"
    assert intro["bottom_end"] <= 1.5 * _SCREEN_H, f"the bottom line ends at {intro['bottom_end']:.0f} px"


def _first_sentence(text: str) -> str:
    """Up to the first full stop that ends a sentence (not a decimal point); a leading verdict label
    ("Partly reproduced." or "Reproduced:") belongs to the sentence it opens."""
    from antinb.findings.verdicts import VERDICTS

    text = text.strip()
    label = next((v for v in sorted(VERDICTS, key=len, reverse=True) if text.lower().startswith(v)), None)
    head = ""
    if label and text[len(label):len(label) + 1] in ".:":
        head, text = text[:len(label) + 1] + " ", text[len(label) + 1:].strip()
    m = re.search(r"^(.+?[.!?])(?=\s+[A-Z(*†]|\s*$)", text, re.S)
    return (head + (m.group(1) if m else text)).strip()


@pytest.mark.slow
def test_each_verdict_opens_with_one_quotable_sentence(pages):
    for name in book.CHAPTERS:
        first = pages[f"book/executed/{name}.html"]["verdict_first"]
        assert first, f"{name}: no paragraph in the verdict section"
        words = len(_first_sentence(first).split())
        assert words <= 40, f"{name}: the verdict's first sentence has {words} words: {_first_sentence(first)!r}"


def _record_heads() -> set[str]:
    from antinb import findings

    heads = set()
    for m in findings.modules():
        for name in dir(m):
            value = getattr(m, name)
            if name.isupper() and isinstance(value, str) and "/{" in value:
                heads.add(value.split("/")[0])
    return heads


@pytest.mark.slow
def test_no_record_keys_or_parameter_names_in_prose(pages):
    heads = _record_heads()
    assert {"as_mean", "corr"} & heads, "the record templates were not found"
    keys = re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, heads))) + r")/[\w.-]+")
    bad = []
    for name in book.CHAPTERS:
        prose = pages[f"book/executed/{name}.html"]["prose"]
        params = [p for p in runner.notebook_parameters(runner.NOTEBOOK_DIR / f"{name}.py") if "_" in p]
        bad += [f"{name}: record key {m.group(0)!r}" for m in keys.finditer(prose)]
        bad += [f"{name}: parameter name {p!r}" for p in params if re.search(rf"\b{re.escape(p)}\b", prose)]
    for rel in ("book/intro.html", "book/results.html", "book/limits.html"):
        bad += [f"{rel}: record key {m.group(0)!r}" for m in keys.finditer(pages[rel]["prose"])]
    assert not bad, "raw names in the prose a reader reads:\n  " + "\n  ".join(bad)


@pytest.mark.slow
def test_no_table_has_ragged_rows(pages):
    bad = _defects(pages, lambda rel, info: info["ragged"])
    assert not bad, "tables whose rows have different numbers of cells:\n  " + "\n  ".join(bad)


#: A figure's smallest text is 9 pt at 100 dpi (12.5 px) as drawn: shown below 0.65 of its natural width, it
#: falls under 8 px.
_MIN_SCALE = 0.65


@pytest.mark.slow
def test_figure_text_is_not_scaled_below_8_px(pages):
    bad = _defects(pages, lambda rel, info: [f"{i['src']} shown at {i['ratio']:.2f} of its width"
                                             for i in info["scaled"] if i["ratio"] < _MIN_SCALE])
    assert not bad, "figures scaled down so far that their text is under ~8 px:\n  " + "\n  ".join(bad)


def test_the_first_sentence_rule_and_the_key_pattern_can_fail():
    long = " ".join(["word"] * 41) + ". Next sentence."
    assert len(_first_sentence(long).split()) == 41
    assert _first_sentence("Reproduced: −0.47 [−0.49, −0.46] (mnist, DDIM-20). More.") == \
        "Reproduced: −0.47 [−0.49, −0.46] (mnist, DDIM-20)."
    assert _first_sentence("Partly reproduced. PN pairs are anti-correlated, less than in the paper. More.") == \
        "Partly reproduced. PN pairs are anti-correlated, less than in the paper."
    assert "as_mean" in _record_heads()


@pytest.mark.parametrize("defect, check", [
    ("<matplotlib.colorbar.Colorbar at 0x7f3a1c2b>", _REPR), ("Text(0.5, 1.03, 'title')", _REPR),
    ("/work/main/.venv/lib/python3.11/site-packages/tqdm/auto.py", _ABS_PATH), ("/home/me/antinb/x.py", _ABS_PATH),
    ("1. 1. Are antithetic pairs negatively correlated?", _DOUBLE_NUMBER),
    ("TqdmWarning: IProgress not found", _WARNING), ("LinAlgWarning: Ill-conditioned matrix", _WARNING)])
def test_the_defect_patterns_catch_what_they_name(defect, check):
    """The browser tests above can fail: each pattern catches the defect it names, and not clean text."""
    assert check.search(defect)
    assert not check.search("1.2. PN against RR pairs: −0.47 [−0.50, −0.44] (mnist, DDIM-50)")
