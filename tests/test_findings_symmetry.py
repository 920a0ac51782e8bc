"""Finding 3 (affine antisymmetry of the noise predictor) on the affine, an even and the tiny model:
exact identities, record names, intervals and the paper comparison (no papermill)."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from conftest import scheduler_config, tiny_model  # noqa: E402

from antinb import paper  # noqa: E402
from antinb.findings import base  # noqa: E402
from antinb.findings import symmetry as finding  # noqa: E402
from antinb.models import DiffusionModel  # noqa: E402

SETTINGS = dict(n_timesteps=3, n_x=4, n_coords=5, n_s=11, n_residual=8)
SHAPE = (1, 8, 8)


class _Eps(torch.nn.Module):
    """A noise predictor ``eps(x, t) = f(x, t) + c`` with a fixed random ``c``."""

    def __init__(self, shape):
        super().__init__()
        self.c = torch.nn.Parameter(0.3 * torch.randn(shape, generator=torch.Generator().manual_seed(0)),
                                    requires_grad=False)
        self.config = SimpleNamespace(cross_attention_dim=None)

    def forward(self, x, t, **_):
        return SimpleNamespace(sample=self.f(x, t) + self.c)


class EvenEps(_Eps):
    """eps(x, t) = x^2 + c: even in x, the opposite of the conjecture."""

    @staticmethod
    def f(x, t):
        return x ** 2


class AffineEps(_Eps):
    """eps(x, t) = a(t) x + c with a per-sample timestep (B,): affine antisymmetric, the conjecture exactly."""

    @staticmethod
    def f(x, t):
        return (0.5 + 0.4 * torch.as_tensor(t, dtype=x.dtype).reshape(-1, 1, 1, 1) / 1000.0) * x


def _model(net, name: str) -> DiffusionModel:
    return DiffusionModel(unet=net(SHAPE), scheduler_config=scheduler_config(clip_sample=False), name=name,
                          sample_shape=SHAPE)


@pytest.fixture(scope="module")
def result() -> finding.SymmetryResult:
    rgb = tiny_model(channels=3)
    rgb.name = "tiny-rgb"
    return finding.run([tiny_model(), rgb], seed=1, **SETTINGS)


def test_affine_model_scores_exactly_one_and_has_zero_residual():
    r = finding.run([_model(AffineEps, "affine")], **SETTINGS)["affine"]
    np.testing.assert_allclose(r.scores, 1.0, atol=1e-6)
    np.testing.assert_allclose(r.residual, 0.0, atol=1e-6)
    assert r.mean == pytest.approx(1.0, abs=1e-6) and r.q10 == pytest.approx(1.0, abs=1e-6)
    assert r.ci["mean"][0] == pytest.approx(1.0, abs=1e-6)  # no spread, no interval width
    assert r.centre.min() > 0.05  # c != 0: the centre is not what makes the residual vanish


def test_even_model_scores_zero():
    r = finding.run([_model(EvenEps, "even")], **SETTINGS)["even"]
    np.testing.assert_allclose(r.scores, 0.0, atol=1e-5)
    verdict = finding.SymmetryResult((r,), {**SETTINGS, "n_slices": 60}).verdict()
    assert verdict.startswith("**Not reproduced.**") and "lie far above 0" not in verdict


def test_records_are_the_templates_filled(result):
    recs = result.records()
    assert set(recs) == {base.fill(t, model=m) for t in finding.TEMPLATES for m in ("tiny", "tiny-rgb")}
    s = finding.summary(recs)  # the results page finds each model's row
    assert {r.our_setting.split(",")[0] for r in s.ran} == {"tiny", "tiny-rgb"}
    assert all(r.value == recs[f"as_mean/{r.our_setting.split(',')[0]}"] for r in s.ran)
    assert result.verdict().startswith(base.headline(s.verdict))


def test_record_values_match_the_scores(result):
    r = result["tiny"]
    recs = result.records()
    assert recs["as_mean/tiny"] == pytest.approx(r.scores.mean())
    assert recs["as_q10/tiny"] == pytest.approx(np.quantile(r.scores.ravel(), 0.1))
    assert recs["as_min/tiny"] == pytest.approx(r.scores.min())
    assert recs["as_n/tiny"] == SETTINGS["n_timesteps"] * SETTINGS["n_x"] * SETTINGS["n_coords"]
    assert list(recs["as_mean_by_t/tiny"]) == [str(t) for t in r.timesteps]
    assert recs["residual_mean/tiny"] == pytest.approx(r.residual.mean())
    for key, est in (("as_mean_ci/tiny", r.mean), ("as_q10_ci/tiny", r.q10), ("residual_mean_ci/tiny",
                                                                                r.residual_mean)):
        lo, hi = recs[key]
        assert lo <= est <= hi and lo < hi, key


def test_bootstrap_resamples_whole_x_within_timesteps():
    # two timesteps, 3 x's of 2 coordinates; every x's slices are identical, so resampling x's gives
    # means on the grid of (a + b + c) / 3-type averages of the cluster values, and the interval
    # lies within [min, max] of the cluster values
    units = np.array([[[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]], [[0.2, 0.2], [0.4, 0.4], [0.6, 0.6]]])
    ci = finding._cluster_bootstrap(units, {"m": lambda v: v.mean(1)}, level=0.95, n_boot=500, seed=0)["m"]
    assert 0.15 <= ci[0] < units.mean() < ci[1] <= 0.75


def test_versus_paper_and_verdict_read_the_paper(result):
    bounds = finding.paper_bounds()
    assert bounds == {"mean": float(paper.SYMMETRY[paper.CIFAR, "mean"].strip("> ")),
                      "q10": float(paper.SYMMETRY[paper.CIFAR, "q10"].strip("> "))}
    table = result.versus_paper()
    assert set(table["paper"].str.split(" ").str[1]) == {"0.99", "0.97"}
    text = result.verdict()
    assert "0.99" in text and "0.97" in text and f"{result.models[0].mean:.3f}" in text
    assert finding.paper_records() == {"as_mean/google/ddpm-cifar10-32": "> 0.99", "as_q10/google/ddpm-cifar10-32":
                                       "> 0.97", "as_mean/google/ddpm-church-256": "> 0.99",
                                       "as_q10/google/ddpm-church-256": "> 0.97"}


def test_figures_are_column_width(result):
    for fig in (result.slices_figure(), result.scores_figure(), result.residual_figure()):
        assert fig.get_size_inches()[0] <= 7.0
        assert max(len(row) for row in np.atleast_2d(fig.axes)) <= 9
        plt.close(fig)
    fig = result.slices_figure()
    assert len(fig.axes) == 3 * len(result.models)  # at most 3 panels a row
    plt.close(fig)
