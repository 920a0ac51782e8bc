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
    res = finding.run([_model(AffineEps, "affine")], **SETTINGS)
    r = res["affine"]
    np.testing.assert_allclose(r.scores, 1.0, atol=1e-6)
    np.testing.assert_allclose(r.residual, 0.0, atol=1e-6)
    assert r.mean == pytest.approx(1.0, abs=1e-6) and r.q10 == pytest.approx(1.0, abs=1e-6)
    assert r.ci["mean"][0] == pytest.approx(1.0, abs=1e-6)  # no spread, no interval width
    assert r.centre.min() > 0.05  # c != 0: the centre is not what makes the residual vanish
    # the conjecture exactly: both bounds met
    s = finding.summary(res.records())
    assert [(row.paper, row.verdict) for row in s.ran] == [("mean score > 0.99", base.REPRODUCED),
                                                           ("10 % quantile > 0.97", base.REPRODUCED)]
    assert s.verdict == base.REPRODUCED and res.verdict().startswith("**Reproduced.**")


def test_even_model_scores_zero():
    r = finding.run([_model(EvenEps, "even")], **SETTINGS)["even"]
    np.testing.assert_allclose(r.scores, 0.0, atol=1e-5)
    res = finding.SymmetryResult((r,), {**SETTINGS, "n_slices": 60, "seed": 0})
    # a score of 0 is no effect under the book's rules: an interval on it shows nothing either way
    assert {row.verdict for row in finding.summary(res.records()).ran if row.headline} == {base.NOT_SHOWN}
    assert res.verdict().startswith("**Not shown at this sample size.** Our noise predictors cannot be told from "
                                    "an even one")
    assert "between 0, the score of an even predictor" not in res.verdict()


def _records(model: str, mean, mean_ci, q10, q10_ci, residual=0.1, residual_ci=(0.09, 0.11)) -> dict:
    out = {f"as_mean/{model}": mean, f"as_mean_ci/{model}": list(mean_ci), f"as_q10/{model}": q10,
           f"as_q10_ci/{model}": list(q10_ci), f"residual_mean/{model}": residual, f"as_n/{model}": 1200,
           f"as_mean_by_t/{model}": {str(t): mean for t in (980, 500, 0)}}
    if residual_ci is not None:
        out[f"residual_mean_ci/{model}"] = list(residual_ci)
    return out


def test_summary_judges_each_statistic_by_the_book_rules():
    recs = {**_records("mnist", 0.890, (0.878, 0.901), 0.631, (0.556, 0.700)),
            # photo-patches: the mean below 0.99, the 10 % quantile's interval touching 0.97
            **_records("photo-patches", 0.977, (0.973, 0.982), 0.964, (0.950, 0.973)),
            # an interval across the bound overlaps it: reproduced, not "undetermined"
            **_records("fashion-mnist-cond", 0.990, (0.985, 0.995), 0.975, (0.972, 0.978), 0.05, None)}
    s = finding.summary(recs)
    got = {(r.our_setting.split(",")[0], r.paper.split(" >")[0]): r for r in s.ran}
    assert got["mnist", "mean score"].verdict == base.PARTLY  # far above 0 (even), below the bound
    assert got["mnist", "10 % quantile"].verdict == base.PARTLY
    assert got["photo-patches †", "mean score"].verdict == base.PARTLY
    assert got["photo-patches †", "10 % quantile"].verdict == base.REPRODUCED
    assert got["fashion-mnist-cond", "mean score"].verdict == base.REPRODUCED
    # the residual is shown beside the mean (with its interval where recorded), never judged: a norm in floating
    # point lies above 0 for any predictor
    assert "residual ‖ε(x) + ε(−x) − 2c_t‖ / ‖ε(x)‖ 0.100 [0.090, 0.110]" in got["mnist", "mean score"].caveat
    assert "residual ‖ε(x) + ε(−x) − 2c_t‖ / ‖ε(x)‖ 0.050 (0" in got["fashion-mnist-cond", "mean score"].caveat
    assert len(s.ran) == 6 and {r.verdict for r in s.ran} <= {base.REPRODUCED, base.PARTLY}
    # the flagged model is marked in its setting and its rows
    assert all(r.flagged == r.our_setting.startswith("photo-patches †") for r in s.ran)
    assert got["photo-patches †", "mean score"].our_setting == "photo-patches †, 1,200 slices at 3 timesteps"
    assert s.verdict == base.PARTLY and s.takeaway == finding.TAKEAWAYS[base.PARTLY]
    assert [r.verdict for r in s.rows if not r.our_setting] == [base.NOT_RUN, base.NOT_RUN]  # CIFAR-10, Church


def test_summary_reads_a_stamp_without_the_optional_records():
    recs = {"as_mean/mnist": 0.987, "as_mean_ci/mnist": [0.98, 0.99], "as_q10/mnist": 0.97,
            "as_q10_ci/mnist": [0.96, 0.98], "residual_mean/mnist": 0.1}
    s = finding.summary(recs)
    assert [(r.our_setting, r.verdict) for r in s.ran] == [("mnist", base.REPRODUCED), ("mnist", base.REPRODUCED)]


def test_records_are_the_templates_filled(result):
    recs = result.records()
    assert set(recs) == {base.fill(t, model=m) for t in finding.TEMPLATES for m in ("tiny", "tiny-rgb")}
    s = finding.summary(recs)  # the results page finds each model's row
    assert {r.our_setting.split(",")[0] for r in s.ran} == {"tiny", "tiny-rgb"}
    assert all(r.value == recs[f"as_mean/{r.our_setting.split(',')[0]}"] for r in s.ran if r.headline)
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
    assert set(table["paper"]) == {"> 0.99", "> 0.97"}
    assert list(result.table()["mean score"])[0] == "> 0.99"  # the paper's row first
    text = result.verdict()
    assert "0.99" in text and "0.97" in text
    first, rest = text.split("\n\n", 1)
    # one quotable sentence: the verdict, the takeaway, the number with its interval and its setting
    assert len(first.split()) <= 40 and first.count(". ") <= 1
    assert f"({result.models[0].name}, {SETTINGS['n_timesteps'] * SETTINGS['n_x'] * SETTINGS['n_coords']} slices at " \
           f"{SETTINGS['n_timesteps']} timesteps)" in first
    assert base.ci_rounded(result.models[0].mean, result.models[0].ci["mean"]).split(" [")[0] in first
    table, prose = rest.split("\n\n", 1)
    assert table.count("\n") == 1 + 2 * len(result.models)  # header, rule, 2 statistics per model
    assert len(prose.split()) <= 150
    for word in ("n_x", "n_coords", "n_residual", "as_mean", "previous", "earlier"):
        assert word not in text
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


def test_numbers_are_rounded_to_what_their_interval_supports():
    assert base.ci_rounded(0.9566, (0.9499, 0.9629)) == "0.957 [0.950, 0.963]"
    assert base.ci_rounded(0.6306, (0.5562, 0.6996)) == "0.631 [0.556, 0.700]"
    assert base.ci_rounded(0.5, (0.1, 0.9)) == "0.50 [0.10, 0.90]"
    assert base.ci_rounded(0.5, None) == "0.500"


def test_the_measurement_holds_no_presentation():
    from antinb._code import definition_closure

    closure = definition_closure(finding.__name__, ("measure",))
    names = {k.split(":", 1)[1] for k in closure if k.startswith(finding.__name__ + ":")}
    assert {"measure", "eps_slices", "symmetry_residual", "summarise", "Params", "ModelSymmetry"} <= names
    assert not names & {"SymmetryResult", "present", "run", "summary", "claims", "TAKEAWAYS", "_judged", "_num",
                        "_decimals", "_setting", "_carrier", "paper_records", "paper_bounds", "TABLE", "TEMPLATES"}
    assert not {"antinb.findings.base", "antinb.findings.verdicts", "antinb.plots", "antinb.paper"} & \
        {k.split(":")[0] for k in closure}


def test_the_measurement_survives_save_and_load(tmp_path):
    from antinb import measurements

    m = finding.measure(finding.Params([tiny_model()], seed=1, n_boot=50, **SETTINGS))
    measurements.save(tmp_path / "03", m, {"finding": finding.__name__})
    loaded = measurements.load(tmp_path / "03")
    assert type(loaded) is finding.SymmetryMeasurements
    assert finding.present(loaded).records() == finding.present(m).records()
    assert finding.present(loaded).verdict() == finding.present(m).verdict()
