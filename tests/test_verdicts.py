"""The book's one set of verdict rules (:mod:`antinb.findings.verdicts`), on the edge cases that earlier
chapters judged inconsistently, and the methods page stating them verbatim."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from antinb.findings import verdicts as v
from antinb.findings.verdicts import Claim, judge, overall

PAPER_CENTERED = Claim.of([-0.78, -0.41, -0.62, -0.45, -0.73, -0.75, -0.91, -0.41, -0.57])  # the paper's range


@pytest.mark.parametrize("ci,claim,expected", [
    # mnist DDIM centered -0.42 [-0.43, -0.41]: inside the paper's range -0.91..-0.41 -> reproduced
    ((-0.43, -0.41), PAPER_CENTERED, v.REPRODUCED),
    # photo-patches DDPM -0.68 [-0.71, -0.65] against the paper's -0.80 (DDPM CIFAR-10, centered): partly
    ((-0.71, -0.65), Claim.of(-0.80), v.PARTLY),
    # mnist SSIM +150 % [144, 157] against the paper's +19..+86 %: right direction, far larger -> partly
    ((144.0, 157.0), Claim.of([86.1, 34.0, 32.9, 21.5, 19.0]), v.PARTLY),
    # ST-LPIPS +4.8 % [-0.02, 10.2]: the interval contains no effect -> not shown
    ((-0.02, 10.2), Claim.of([8.3, 4.2, 18.1, 4.8, 5.4]), v.NOT_SHOWN),
    # AMC efficiency 0.45 [0.3, 0.6] where the paper claims a gain (efficiency > 1): the other side -> not reproduced
    ((0.3, 0.6), Claim.of([6.15, 4.54], null=1.0), v.NOT_REPRODUCED),
    # DPS efficiency 1.68 [0.81, 3.47] against 1.5: includes 1 -> not shown, however close the point is
    ((0.81, 3.47), Claim.of(1.5, null=1.0), v.NOT_SHOWN),
    ((1.57, 2.91), Claim.of(1.5, null=1.0), v.PARTLY),
    ((1.2, 2.3), Claim.of(1.5, null=1.0), v.REPRODUCED),
    # a bound: antisymmetry mean > 0.99
    ((0.985, 0.995), Claim(0.99, math.inf), v.REPRODUCED),
    ((0.90, 0.95), Claim(0.99, math.inf), v.PARTLY),
    # a boundary touching the paper's value counts as overlap
    ((-0.41, -0.30), PAPER_CENTERED, v.REPRODUCED),
    ((-0.40, -0.30), PAPER_CENTERED, v.PARTLY),
])
def test_judge(ci, claim, expected):
    assert judge(ci, claim) == expected


def test_a_claim_must_lie_on_one_side_of_no_effect_and_an_interval_must_be_one():
    with pytest.raises(ValueError, match="one side"):
        Claim(-0.5, 0.5)
    with pytest.raises(ValueError, match="must not exceed"):
        Claim(1.0, 0.5)
    with pytest.raises(ValueError, match="must be an interval"):
        judge((0.5, 0.1), Claim.of(1.0))
    with pytest.raises(ValueError, match="must be an interval"):
        judge((math.nan, 0.1), Claim.of(1.0))


def test_overall():
    assert overall([v.REPRODUCED, v.REPRODUCED, v.NOT_RUN]) == v.REPRODUCED
    assert overall([v.REPRODUCED, v.PARTLY]) == v.PARTLY
    assert overall([v.NOT_SHOWN, v.PARTLY]) == v.PARTLY
    assert overall([v.NOT_SHOWN, v.NOT_REPRODUCED]) == v.NOT_REPRODUCED
    assert overall([v.NOT_SHOWN, v.NOT_SHOWN]) == v.NOT_SHOWN
    # a chapter that answers a question the paper never asked is never "reproduced"
    assert overall([v.BEYOND, v.BEYOND]) == v.BEYOND
    assert overall([v.BEYOND, v.REPRODUCED]) == v.REPRODUCED
    assert overall([v.NOT_RUN]) == v.NOT_RUN
    with pytest.raises(ValueError, match="not one of"):
        overall(["fine"])


def test_the_methods_page_states_the_rules_verbatim():
    page = (Path(__file__).resolve().parents[1] / "book" / "methods.md").read_text()
    assert v.RULES_MARKDOWN in page


def test_beside_says_where_an_interval_lies_against_the_paper_and_agrees_with_judge():
    claim = Claim.of([19.0, 86.1])
    assert v.beside((144.0, 157.0), claim) == 1
    assert v.beside((5.0, 12.0), claim) == -1
    assert v.beside((80.0, 90.0), claim) == 0
    assert v.beside((86.1, 90.0), claim) == 0  # a touching boundary overlaps
    for ci in ((144.0, 157.0), (5.0, 12.0), (80.0, 90.0)):
        assert (judge(ci, claim) == v.REPRODUCED) == (v.beside(ci, claim) == 0)


def test_a_finding_beyond_the_paper_answers_with_the_word_its_settings_share():
    from antinb.findings.base import Row, Summary

    def row(word):
        return Row("", "", "s", "x", v.BEYOND, outcome=word, value=0.0, ci=(0.0, 0.0))

    assert v.common(["holds", "holds"]) == "holds" and v.common(["weakens", "strengthens"]) == "mixed"
    mixed = Summary(7, "t", "07", "c", "q", (row("weakens"), row("strengthens")))
    assert mixed.verdict == v.BEYOND and mixed.outcome == "mixed"
    assert Summary(7, "t", "07", "c", "q", (row("holds"),)).outcome == "holds"
