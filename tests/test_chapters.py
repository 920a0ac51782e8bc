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


def test_there_are_six_chapters():
    assert CHAPTERS == ["01_correlation", "02_timestep_evolution", "03_symmetry", "04_diversity",
                        "05_uncertainty", "06_dps"]


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
