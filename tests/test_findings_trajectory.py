"""Finding 2 (antinb.findings.trajectory) on the tiny and affine models: exact identities along the
trajectory, record names, the step count and its interval, the paper comparison and the verdict."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import pytest  # noqa: E402

from antinb import paper, stats  # noqa: E402
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
    # ... it is the mean state's share f_t plus the rest times -1 (up to m's pixel covariance with u)
    predicted = finding.standard_from_centered(-1.0, tr["share"])
    np.testing.assert_allclose(tr["x"].mean(0), predicted, atol=0.1)
    assert tr["share"][0] < 0.05 < tr["final_share"]


def test_mean_share_is_the_mean_image_share_of_the_pixel_variance():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(1, 1, 8, 8, generator=g)
    assert finding.mean_share(m.repeat(6, 1, 1, 1)) == pytest.approx(1.0)  # every row is the mean image
    u = torch.randn(3, 1, 8, 8, generator=g)
    assert finding.mean_share(torch.cat([u, -u])) == pytest.approx(0.0, abs=1e-12)  # mirrored rows: m = 0
    # m + u and m - u: s_m = var(m), s_u = mean over rows of var(u_i)
    x = torch.cat([m + u, m - u]).double()
    s_m = m.double().var(unbiased=False).item()
    s_u = u.double().flatten(1).var(1, unbiased=False).mean().item()
    assert finding.mean_share(x) == pytest.approx(s_m / (s_m + s_u))


def test_the_mean_image_explains_the_standard_correlation():
    """Pairs (m + u, m - u) have centered correlation -1; their standard one is f + (1 - f)(-1) = 2f - 1
    up to the pixel covariance of m with u, which averages out over pairs."""
    g = torch.Generator().manual_seed(1)
    m = 0.8 * torch.randn(1, 3, 16, 16, generator=g)
    u = torch.randn(400, 3, 16, 16, generator=g)
    x = torch.stack([m[0] + u, m[0] - u], 1).flatten(0, 1)  # pairs in consecutive rows
    f = finding.mean_share(x)
    assert 0.2 < f < 0.6
    standard = stats.pair_correlation(x).mean().item()
    centered = stats.pair_correlation(x, centered=True).mean().item()
    assert centered == pytest.approx(-1.0, abs=1e-9)
    assert finding.standard_from_centered(centered, f) == pytest.approx(standard, abs=0.01)
    assert abs(standard - centered) > 0.3  # the shared mean image moves the standard correlation a lot


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
    share = np.linspace(0.0, 0.3, n)
    centered = (x - share) / (1 - share)  # so that the standard curve is exactly share + (1 - share) * centered
    return finding.Trajectory(name, "ddim", np.arange(n)[::-1], x, eps, centered, final + spread, -0.4 + spread,
                              (below - 1, below + 1), share, 0.3, (n - 2, n))


def _first_sentence(text: str) -> str:
    import re

    m = re.search(r"^(.+?[.!?])(?=\s+[A-Z(*†]|\s*$)", text.replace("**", "").strip(), re.S)
    return m.group(1) if m else text


def test_verdict_opens_with_one_sentence_then_a_table_and_the_reason():
    partly = finding.TrajectoryResult({("mnist", "ddim"): _synthetic("mnist", 33),
                                       ("photo-patches", "ddim"): _synthetic("photo-patches", 50, final=-0.7)},
                                      {"n_pairs": 2})
    text = partly.verdict()
    first = _first_sentence(text.split("\n")[0])
    assert text.startswith("**Partly reproduced**: ") and len(first.split()) <= 40
    # the number that carries it: the shortest run of a model the book does not flag, its interval and setting
    assert "(mnist, DDIM-50, 2 PN pairs: 33 of 50 steps [32, 34])" in first
    assert "in 1 of 2 settings" in first
    assert "| mnist, DDIM-50 | 33 of 50 [32, 34] | 33 of 50 [48, 50] | partly reproduced |" in text
    assert "| photo-patches †, DDIM-50 | 50 of 50 [49, 51] |" in text and "† photo-patches:" in text
    # the explanation is measured: the mean image's share at the end, the decomposition's gap
    assert "reaches 0.30 in the final samples of mnist DDIM" in text
    assert "to within 0.00 at every step" in text and "not a loss of the mirror symmetry" in text
    prose = text.split("\n")[-1]
    assert len(prose.split()) <= 150
    for raw in ("traj_", "n_pairs", "ddim_steps", "previous run", "earlier run"):
        assert raw not in text
    # when f + (1 - f) rho_centered misses the standard curve by more than 0.1, the verdict says so
    t = _synthetic("mnist", 33)
    off = finding.Trajectory(t.model, t.sampler, t.timesteps, t.x, t.eps, t.x_centered - 0.2, t.final,
                             t.final_centered, t.steps_below_ci, t.share, t.final_share, t.centered_steps_below_ci)
    text = finding.TrajectoryResult({("mnist", "ddim"): off}, {"n_pairs": 2}).verdict()
    assert "explains most of the early rise, but not all of it" in text
    whole = finding.TrajectoryResult({("photo", "ddim"): _synthetic("photo", 50, final=-0.7)}, {"n_pairs": 2})
    assert whole.verdict().startswith("**Reproduced**: ")


def test_verdicts_follow_the_books_rules():
    from antinb.findings import verdicts

    def rec(model: str, below: int, ci: tuple[int, int], n: int = 50) -> dict:
        k = {"model": model, "sampler": "ddim"}
        return {fill(finding.TRAJ_STEPS_BELOW, **k): below, fill(finding.TRAJ_STEPS_BELOW_CI, **k): list(ci),
                fill(finding.TRAJ_N_STEPS, **k): n, fill(finding.TRAJ_X_FIRST, **k): -1.0,
                fill(finding.TRAJ_FINAL, **k): 0.1, fill(finding.TRAJ_FINAL_CI, **k): [0.05, 0.15],
                fill(finding.TRAJ_FINAL_CENTERED, **k): -0.5, fill(finding.TRAJ_FINAL_CENTERED_CI, **k): [-0.6, -0.4]}

    records = {**rec("a", 45, (44, 46)), **rec("b", 43, (42, 45)), **rec("c", 33, (31, 35)),
               **rec("photo-patches", 10, (9, 11))}
    rows = {r.our_setting.split(",")[0]: r for r in finding.summary(records).rows}
    assert rows["a"].verdict == verdicts.REPRODUCED  # 45 of 50: all but the last 10 %
    assert rows["b"].verdict == verdicts.REPRODUCED  # 43 of 50, its interval reaches 45
    assert rows["c"].verdict == verdicts.PARTLY      # strongly negative for two thirds of the way only
    assert rows["photo-patches †"].verdict == verdicts.PARTLY and rows["photo-patches †"].flagged
    assert finding.summary(records).verdict == verdicts.PARTLY
    assert finding.claim(50) == verdicts.Claim(45.0, 50.0, 0.0)
    assert "≥ 45 of 50" in rows["a"].paper


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
    assert result.verdict().startswith(f"**{s.verdict[0].upper()}{s.verdict[1:]}**: ")
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
    assert table.loc["corr(x_t) at t = T", "paper"] == "−1 (exact)"
    assert table.loc["steps with corr(x_t) < −0.5", "paper"] == "all but the last few (read: ≥ 5 of 5)"
    monkeypatch.setitem(paper.TRAJECTORY, "eps_first", "≈ −0.5")
    assert result.versus_paper().loc["corr(ε) at t = T", "paper"] == "≈ −0.5"


def test_table_and_figure_render_without_warnings(result):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table, outputs = result.table(), result.outputs_table()
        assert len(table) == 4 and "steps below −0.5" in table.columns and len(outputs) == 4
        # one index level (a two-level index renders as rows of unequal length), a handful of columns
        assert table.index.nlevels == outputs.index.nlevels == 1 and len(table.columns) <= 4
        assert table.loc["tiny, DDPM-5", "steps below −0.5"] == "{} [{}, {}]".format(
            result.runs["tiny", "ddpm"].steps_below, *result.runs["tiny", "ddpm"].steps_below_ci)
        fig = result.figure()
        assert isinstance(fig, plt.Figure) and len([a for a in fig.axes if a.has_data()]) == 4
        plt.close(fig)


def test_the_measurement_survives_save_and_load(tmp_path):
    from conftest import tiny_model

    from antinb import measurements

    m = finding.measure(finding.Params([tiny_model()], n_pairs=3, ddim_steps=3, ddpm_steps=2, n_boot=50))
    measurements.save(tmp_path / "02", m, {"finding": finding.__name__})
    loaded = measurements.load(tmp_path / "02")
    assert type(loaded) is finding.TrajectoryMeasurements and list(loaded.runs) == list(m.runs)
    assert finding.present(loaded).records() == finding.present(m).records()


def test_the_measurement_holds_no_presentation():
    from antinb._code import definition_closure

    closure = definition_closure(finding.__name__, ("measure",))
    names = {k.split(":", 1)[1] for k in closure if k.startswith(finding.__name__ + ":")}
    assert {"measure", "Trajectory", "trajectory_correlations", "_bootstrap_steps_below"} <= names
    presentation = {"TrajectoryResult", "present", "run", "summary", "paper_records", "TABLE", "TEMPLATES", "_s",
                    "_span", "_pm", "_ci", "claim", "CLAIM_SHARE", "headline_sentence"} | \
        {n for n in finding.__all__ if n.startswith("TRAJ_")}
    assert not names & presentation
    assert not {"antinb.findings.base", "antinb.plots", "antinb.paper"} & {k.split(":")[0] for k in closure}
