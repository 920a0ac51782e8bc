"""Finding 2 (antinb.findings.trajectory) on the tiny and affine models: exact identities along the
trajectory, record names, the step count and its interval, the paper comparison and the verdict."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from antinb import paper  # noqa: E402
from antinb.findings import trajectory as finding  # noqa: E402
from antinb.findings.base import fill, template_regex  # noqa: E402


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_pn_pair_correlation_is_exactly_minus_one_at_the_first_step(model, sampler):
    tr = finding.trajectory_correlations(model, 4, sampler=sampler, steps=3, progress=False)
    assert tr["x"].shape == tr["eps"].shape == tr["x_centered"].shape == (4, 3)
    np.testing.assert_allclose(tr["x"][:, 0], -1.0, atol=1e-12)
    np.testing.assert_allclose(tr["x_centered"][:, 0], -1.0, atol=1e-12)
    assert tr["timesteps"][0] > tr["timesteps"][-1]  # step 0 is t = T


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_affine_model_keeps_the_pair_mirrored_at_every_step(affine_model, sampler):
    # eps = a_t x + c makes every step affine in (x_t, eps, xi_t): x_t(z) + x_t(-z) is the same for all
    # pairs, so the correlation centered on the mean state is exactly -1 at every step and at the end.
    tr = finding.trajectory_correlations(affine_model, 5, sampler=sampler, steps=6, progress=False)
    np.testing.assert_allclose(tr["x_centered"], -1.0, atol=1e-9)
    np.testing.assert_allclose(tr["final_centered"], -1.0, atol=1e-9)
    # the standard correlation is -1 only at t = T: the common centre is not a flat image
    np.testing.assert_allclose(tr["x"][:, 0], -1.0, atol=1e-12)
    assert tr["x"][:, -1].mean() > -0.9


def test_steps_below_counts_to_the_last_step_below_minus_half():
    assert finding._steps_below(np.array([-1.0, -0.8, -0.6, -0.4, 0.1])) == 3
    assert finding._steps_below(np.array([-1.0, -0.4, -0.6, 0.2])) == 3  # the last one, not the first run
    assert finding._steps_below(np.array([0.1, 0.2])) == 0
    assert finding._steps_below(np.full(7, -0.9)) == 7
    x = np.tile(np.linspace(-1, 1, 11), (6, 1))  # every pair the same curve: no spread to resample
    assert finding._bootstrap_steps_below(x, seed=0, n_boot=200) == (3, 3)


def _synthetic(name: str, below: int, n: int = 50, final: float = 0.1) -> finding.Trajectory:
    """A trajectory whose mean correlation of x_t is -1 at step 0 and below -0.5 up to step ``below``."""
    curve = np.where(np.arange(n) < below, np.linspace(-1.0, -0.6, n), 0.2)
    spread = np.linspace(-0.02, 0.02, 8)  # eight pairs
    x = curve + spread[:, None]
    eps = np.full((8, n), -0.99)
    return finding.Trajectory(name, "ddim", np.arange(n)[::-1], x, eps, x - 0.1, final + spread, -0.4 + spread,
                              (below - 1, below + 1))


def test_verdict_says_what_holds_and_what_does_not():
    partly = finding.TrajectoryResult({("mnist", "ddim"): _synthetic("mnist", 33),
                                       ("photo", "ddim"): _synthetic("photo", 50, final=-0.7)}, {"n_pairs": 2})
    text = partly.verdict()
    assert text.startswith("**Partly reproduced.**")
    assert "exactly $-1$" in text and "33 of 50 for mnist DDIM" in text and "photo DDIM" in text
    assert "last 17 steps (34 % of the trajectory)" in text
    assert "mnist DDIM (+0.10 [" in text  # a final correlation that is positive is called so
    whole = finding.TrajectoryResult({("photo", "ddim"): _synthetic("photo", 50, final=-0.7)}, {"n_pairs": 2})
    assert whole.verdict().startswith("**Reproduced.**")
    short = finding.TrajectoryResult({("a", "ddim"): _synthetic("a", 10)}, {"n_pairs": 2})
    assert short.verdict().startswith("**Not reproduced.**")


@pytest.fixture(scope="module")
def result():
    from conftest import tiny_model

    plain = tiny_model()
    cond = tiny_model(num_classes=3)
    cond.name = "tiny-cond"
    return finding.run([plain, cond], n_pairs=4, ddim_steps=4, ddpm_steps=5, seed=0, n_boot=100)


def test_records_are_the_templates_filled(result):
    rec = result.records()
    expected = {fill(t, model=m, sampler=s) for t in finding.TEMPLATES for m in ("tiny", "tiny-cond")
                for s in ("ddim", "ddpm")}
    assert set(rec) == expected
    assert "traj_steps_below_-0.5/tiny/ddpm" in rec and "traj_x_last/tiny-cond/ddim" in rec
    for name in rec:
        assert sum(bool(template_regex(t).match(name)) for t in finding.TEMPLATES) == 1, name
    from antinb.findings import base

    s = finding.summary(rec)
    assert len(s.ran) == len(result.runs) and all(r.verdict in base.VERDICTS for r in s.ran)
    assert result.verdict().startswith(base.headline(s.verdict))
    tr = result.runs["tiny", "ddpm"]
    assert rec["traj_x_first/tiny/ddpm"] == pytest.approx(-1.0, abs=1e-12)
    assert rec["traj_x_mid/tiny/ddpm"] == tr.x.mean(0)[5 // 2]
    assert rec["traj_final/tiny/ddpm"] == tr.final.mean()
    assert rec["traj_steps_below_-0.5/tiny/ddpm"] == finding._steps_below(tr.x.mean(0))
    lo, hi = rec["traj_final_ci/tiny/ddpm"]
    assert lo <= rec["traj_final/tiny/ddpm"] <= hi


def test_versus_paper_reads_antinb_paper(result, monkeypatch):
    table = result.versus_paper()
    assert table.loc["corr(ε) at t = T", "paper"] == paper.TRAJECTORY["eps_first"]
    assert finding.paper_records()["traj_x_first/*/*"] == paper.TRAJECTORY["x_first"]
    monkeypatch.setitem(paper.TRAJECTORY, "eps_first", "≈ −0.5")
    assert result.versus_paper().loc["corr(ε) at t = T", "paper"] == "≈ −0.5"
    assert "(paper: ≈ −0.5)" in result.verdict()


def test_table_and_figure_render_without_warnings(result):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = result.table()
        assert len(table) == 4 and "steps < −0.5" in table.columns
        fig = result.figure()
        assert isinstance(fig, plt.Figure) and len([a for a in fig.axes if a.has_data()]) == 4
        plt.close(fig)
