"""Chapters, not scripts: each notebook source reads as a chapter (issue 15 item 3, static checks).

Prose outweighs code, code stays short, computation lives in antinb.findings (no function, class
or loop definitions, no record-key building), one parameters cell, a verdict section at the end,
and a title that states a question rather than the paper's claim.
"""

from __future__ import annotations

import re

import jupytext
import pytest

from antinb.book import runner

CHAPTERS = runner.notebooks()


def _cells(name: str):
    nb = jupytext.read(runner.NOTEBOOK_DIR / f"{name}.py")
    code = [c for c in nb.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]
    prose = [c for c in nb.cells if c.cell_type == "markdown"]
    return nb, code, prose


def test_there_are_seven_chapters():
    assert CHAPTERS == ["01_correlation", "02_timestep_evolution", "03_symmetry", "04_diversity",
                        "05_uncertainty", "06_dps", "07_training"]


@pytest.mark.parametrize("name", CHAPTERS)
def test_prose_outweighs_code_and_code_is_short(name):
    _, code, prose = _cells(name)
    lines = sum(1 for c in code for line in c.source.splitlines() if line.strip())
    code_chars = sum(len(c.source) for c in code)
    prose_chars = sum(len(c.source) for c in prose)
    assert lines <= 60, f"{name}: {lines} code lines outside the parameters cell (at most about 60)"
    assert prose_chars > code_chars, f"{name}: {prose_chars} characters of prose against {code_chars} of code"


@pytest.mark.parametrize("name", CHAPTERS)
def test_no_functions_loops_or_record_keys_in_a_chapter(name):
    _, code, _ = _cells(name)
    for cell in code:
        for line in cell.source.splitlines():
            assert not re.match(r"\s*(def|class|for|while|async)\b", line), f"{name}: {line.strip()!r}"
            assert not re.search(r"\brecord\(\s*f?['\"]", line), f"{name} builds a record name: {line.strip()!r}"


@pytest.mark.parametrize("name", CHAPTERS)
def test_one_parameters_cell_a_hidden_setup_and_a_closing_verdict(name):
    nb, code, prose = _cells(name)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert "remove-input" in code[0].metadata.get("tags", []), f"{name}: the setup cell must be hidden"
    headings = [line for c in prose for line in c.source.splitlines() if line.startswith("## ")]
    assert "## Verdict" in headings, f"{name} has no '## Verdict' section"
    after = nb.cells[next(i for i, c in enumerate(nb.cells) if "## Verdict" in c.source):]
    assert any("verdict()" in c.source for c in after if c.cell_type == "code"), \
        f"{name}: the verdict must come from the finding's verdict() (the records), not typed prose"


@pytest.mark.parametrize("name", CHAPTERS)
def test_title_asks_a_question_without_a_number(name):
    nb, _, _ = _cells(name)
    title = nb.cells[0].source.splitlines()[0]
    assert title.startswith("# ") and title.rstrip().endswith("?"), title
    assert not re.match(r"# \d", title), f"{name}: the toc numbers chapters; no number in the title"


# --------------------------------------------------------------------------- the executed verdicts agree with the records

_TRIPLE = re.compile(r"([+\-−]?\d+(?:\.\d+)?) ?%? \[([+\-−]?\d+(?:\.\d+)?), ([+\-−]?\d+(?:\.\d+)?)\]")


def _num(text: str) -> tuple[float, float]:
    """A number as printed and half a unit of its last digit (the rounding it may carry)."""
    text = text.replace("−", "-")
    decimals = len(text.split(".")[1]) if "." in text else 0
    return float(text), 0.5 * 10 ** -decimals + 1e-9


def _close(value: float, printed: str) -> bool:
    x, tol = _num(printed)
    # numbers may be shown to a few significant digits ("71", "1.4"): allow the rounding of the last digit
    return abs(value - x) <= max(tol, 0.05 * abs(x) if "." not in printed else tol)


def _executed_verdict(name: str) -> tuple[str, dict]:
    import nbformat

    path = runner.EXECUTED_DIR / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    stamp = runner.stamp_of(path) or {}
    for cell in nb.cells:
        if cell.cell_type == "code" and "verdict()" in cell.source:
            for out in cell.get("outputs", []):
                text = out.get("data", {}).get("text/markdown")
                if text:
                    return text, stamp
    raise AssertionError(f"{name}: the executed copy has no verdict output")


@pytest.mark.parametrize("name", CHAPTERS)
def test_executed_verdict_agrees_with_the_records(name):
    """The published verdict's label is the one its finding's summary gives from the recorded numbers,
    and every "number [low, high]" it prints is a recorded number with its recorded interval."""
    from antinb import findings
    from antinb.findings import base

    text, stamp = _executed_verdict(name)
    module = next(m for m in findings.modules() if m.TABLE.chapter == name)
    summary = module.summary(stamp["records"], stamp.get("parameters", {}))
    assert re.match(rf"\*\*{re.escape(summary.verdict)}[.:*]", text, re.I), (text[:60], summary.verdict)
    scalars = [v for v in stamp["records"].values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    # per-timestep values (dict records): their t-intervals are drawn from the saved measurement, not recorded
    by_key = [w for v in stamp["records"].values() if isinstance(v, dict) for w in v.values()
              if isinstance(w, (int, float)) and not isinstance(w, bool)]
    intervals = [v for v in stamp["records"].values()
                 if isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v)]
    intervals += [w for v in stamp["records"].values() if isinstance(v, list) for w in v
                  if isinstance(w, list) and len(w) == 2]
    triples = _TRIPLE.findall(text)
    assert triples, f"{name}: the verdict prints no number with an interval"
    bad = []
    for x, lo, hi in triples:
        has_ci = any(_close(a, lo) and _close(b, hi) for a, b in intervals)
        has_value = any(_close(v, x) for v in scalars)
        if any(_close(v, x) for v in by_key):
            continue
        if not (has_ci and has_value):
            bad.append(f"{x} [{lo}, {hi}]: " + ("no such value" if not has_value else "no such interval"))
    assert not bad, f"{name}: numbers in the verdict that the records do not hold:\n  " + "\n  ".join(bad)


def test_the_verdict_check_can_fail():
    assert _TRIPLE.findall("mnist DDIM −0.40 [−0.43, −0.36]; SSIM +210.2 [+187.4, +240.2] %") == [
        ("−0.40", "−0.43", "−0.36"), ("+210.2", "+187.4", "+240.2")]
    assert _close(-0.4021, "−0.40") and not _close(-0.41, "−0.40")
    assert _close(10.67, "11") and not _close(12.0, "11")
