"""Finding 5 (antinb.findings.uncertainty) on the tiny and affine models: records, intervals, paper."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

import antinb
from antinb import paper, stats
from antinb.findings import base
from antinb.findings import uncertainty as U

matplotlib.use("Agg")

KW = dict(n_images=32, budgets=(16, 32), steps=2, coverage_n=16, coverage_reps=4, coverage_steps=2, device="cpu",
          interval_reps=20)


CARD = {"statistics": {"brightness": {"generated_sd": 0.3, "real_sd": 1.0},
                       "contrast": {"generated_sd": 0.9, "real_sd": 1.0}}}


@pytest.fixture
def result(model):
    model.card = CARD
    return U.run([model], coverage_model=model, **KW)


# --------------------------------------------------------------------------- the efficiency interval


def test_efficiency_interval_contains_the_estimate_and_matches_the_f_distribution():
    rng = np.random.default_rng(0)
    mc = stats.mc(rng.normal(0, 2, 64))
    amc = stats.amc(rng.normal(0, 1, 64))
    e = U.efficiency_interval(mc, amc)
    assert e.low < e.value < e.high and e.value == stats.relative_efficiency(mc, amc)
    # the interval in variance-ratio units: F_obs / f_{0.975} .. F_obs / f_{0.025} with (63, 31) df
    c = e.value / (mc.unit_sd / amc.unit_sd) ** 2
    f_obs = (mc.unit_sd / amc.unit_sd) ** 2
    assert e.low / c == pytest.approx(f_obs / 1.91534, rel=1e-4)  # scipy.stats.f.ppf(0.975, 63, 31)
    assert e.high / c == pytest.approx(f_obs / 0.55734, rel=1e-4)  # scipy.stats.f.ppf(0.025, 63, 31)
    assert str(e).count("[") == 1 and e.significant == (e.low > 1 or e.high < 1)


@pytest.mark.parametrize("other, unit_var", [("mc", 1.0), ("kamc", 0.25)])
def test_efficiency_interval_covers_a_known_ratio_at_the_nominal_rate(other, unit_var):
    """200 repetitions on Gaussian data: the true efficiency c * sigma_ref^2 / sigma_unit^2 is covered
    about 95 % of the time (binomial range at probability 0.999)."""
    rng = np.random.default_rng(1)
    n, reps, hits = 64, 200, 0
    for _ in range(reps):
        ref = stats.mc(rng.normal(0, 2, n))
        oth = stats.mc(rng.normal(0, 1, n)) if other == "mc" else stats.kamc(rng.normal(0, 1, n), 4)
        c = (stats.t_half_width(1, ref.n_units) / stats.t_half_width(1, oth.n_units)) ** 2
        truth = c * 4.0 / unit_var
        e = U.efficiency_interval(ref, oth)
        hits += e.low <= truth <= e.high
    lo, hi = stats.coverage_band(reps, 0.95, prob=0.999)
    assert lo <= hits / reps <= hi, hits / reps


def test_efficiency_interval_of_a_zero_length_interval_is_infinite():
    mc = stats.mc(np.arange(8.0))
    amc = stats.amc(np.array([1.0, -1.0] * 4))  # every pair mean is 0
    e = U.efficiency_interval(mc, amc)
    assert math.isinf(e.value) and math.isinf(e.low) and math.isinf(e.high) and str(e) == "∞ [∞, ∞]"


# --------------------------------------------------------------------------- the affine model: exact identities


def test_affine_model_pixel_mean_is_odd_in_the_noise(affine_model):
    """An affine sampler maps z and -z to images whose pixel mean averages to a constant: rho = -1 and
    every AMC pair mean is the same, so AMC's interval is (nearly) of zero length."""
    r = U.run([affine_model], statistics=("pixel_mean", "brightness"), n_images=32, budgets=(16, 32), steps=5,
              coverage_model="", device="cpu")
    for s in ("pixel_mean", "brightness"):
        assert r.rho["affine", s] == pytest.approx(-1.0, abs=1e-6)
        eff = r.efficiency["affine", s, "amc"]
        assert eff.low > 1e4 and eff.value > 1e6, eff  # float noise only
        mc = r.estimates["affine", s, "mc"]
        assert r.estimates["affine", s, "amc"].estimate == pytest.approx(mc.estimate, abs=3 * mc.half_width)
    # the even control: the squared distance to the *exact* mean image is even for an affine model (rho = 1);
    # to the mean image estimated from the 160 images it is nearly so
    assert r.rho["affine", U.EVEN_STATISTIC] > 0.98
    assert r.efficiency["affine", U.EVEN_STATISTIC, "amc"].value < 1
    assert r.coverage is None and not any(k.startswith(("coverage/", "coverage_reps", "coverage_band", "coverage_cv"))
                                          for k in r.records())
    # the resampled check needs no image: for an exactly odd statistic every AMC pair mean is the same number,
    # so both intervals collapse onto the population's mean and cover it
    assert r.resampled is not None and r.records()["coverage_resampled_reps"] == r.resampled.reps
    assert r.resampled.rate["affine", "pixel_mean", "amc", "skew-t", 8] == pytest.approx(1.0, abs=0.05)


# --------------------------------------------------------------------------- records, tables, paper


def test_records_are_built_from_the_declared_templates(result):
    recs = result.records()
    used = set()
    for name in recs:
        matches = [t for t in U.TEMPLATES if base.template_regex(t).match(name)]
        assert len(matches) == 1, (name, matches)
        used.add(matches[0])
    # every template is written, none is spare (the interval study's too: it is part of the measurement)
    assert used == set(U.TEMPLATES)
    assert recs["interval_coverage_reps"] == 20 and set(result.intervals.records()) <= set(recs)
    m = "tiny"
    slugs = ("amc", "kamc4", "kamc8", "rqmc")
    for s in result.statistics:
        for slug in slugs:
            eff = result.efficiency[m, s, slug]
            assert recs[base.fill(U.EFFICIENCY, model=m, stat=s, method=slug)] == eff.value
            assert recs[base.fill(U.EFFICIENCY_CI, model=m, stat=s, method=slug)] == [eff.low, eff.high]
            assert list(recs[base.fill(U.EFF_VS_N, model=m, stat=s, method=slug)]) == ["16", "32"]
        assert recs[base.fill(U.CI_LENGTH, model=m, stat=s, method="mc")] == result.estimates[m, s, "mc"].length
        assert not any(k.startswith("eff_amc") for k in recs)  # each number once (no eff_<method> duplicates)
    assert len([k for k in recs if k.startswith("coverage/")]) == 6 * 6  # 5 designs + pooled, 6 statistics
    assert recs["coverage_reps"] == 4 and recs["coverage_band"] == list(stats.coverage_band(4))
    # the summary reads the AMC efficiencies back, one row per model and statistic of blog Table 2
    s = U.summary(recs)
    assert {r.value for r in s.ran} == {recs[f"efficiency/tiny/{st}/amc"] for st in
                                        ("brightness", "pixel_mean", "contrast", "centroid_distance")}
    assert result.verdict().startswith(base.headline(s.verdict))


def test_numbers_equal_the_estimator_on_the_same_images(model, result):
    runs = antinb.estimate(["brightness", "contrast"], model, 32, method="kamc", k=8, steps=2, progress=False)
    for s, est in runs.items():
        assert result.estimates["tiny", s, "kamc8"] == est
    mc = antinb.estimate("brightness", model, 32, method="mc", steps=2, progress=False)
    assert result.efficiency["tiny", "brightness", "kamc8"].value == stats.relative_efficiency(mc, runs["brightness"])
    amc = antinb.estimate("brightness", model, 32, method="amc", steps=2, progress=False, return_run=True)
    assert result.rho["tiny", "brightness"] == stats.pair_value_correlation(amc.values)
    # AMC + CV: the regression on the AMC run's own pair means and noise (no new image)
    from antinb import control, noise

    z = noise.make("antithetic", 32, tuple(model.sample_shape), seed=0).z
    direct = control.cv_estimate(amc.values.view(-1, 2).mean(1).numpy(), control.noise_controls(z[0::2]))
    cv = result.cv["tiny", "brightness"]
    assert cv.estimate == direct and cv.gain == pytest.approx((amc.estimate.length / direct.length) ** 2)
    assert cv.efficiency.value == pytest.approx((result.estimates["tiny", "brightness", "mc"].length
                                                 / direct.length) ** 2)
    assert 0 <= cv.p <= 1 and set(result.coverage.cv_rate) == set(result.statistics)
    # the curve's last point is the full-budget efficiency
    assert dict(result.curve["tiny", "brightness", "amc"])[32] == result.efficiency["tiny", "brightness", "amc"]


def test_tables_are_compact(result):
    t = result.table()
    assert t.shape == (6 * 5, 1) and t.index.names == ["statistic", "efficiency vs MC"]
    assert t.loc[("brightness", "AMC"), "tiny"] == str(result.efficiency["tiny", "brightness", "amc"])
    cov = result.coverage_table()
    assert cov.shape == (6, 7) and ((0 <= cov.values) & (cov.values <= 1)).all()  # 5 designs, AMC + CV, pooled
    assert list(cov.columns)[-2:] == ["AMC + CV", "pooled"]
    assert (cov["AMC + CV"] == pd.Series(result.coverage.cv_rate).loc[cov.index].round(3)).all()
    spread = result.spread_table()
    assert list(spread.columns) == ["brightness", "contrast", "flag"] and spread.loc["tiny", "contrast"] == 0.9


def test_versus_paper_reads_antinb_paper(result, monkeypatch):
    vs = result.versus_paper()
    cifar = paper.MODEL_LABELS[paper.CIFAR].split(" (")[0]
    assert vs.loc[("AMC", f"paper: {cifar}"), "brightness"] == "33"  # paper.TABLE2: 32.66
    assert vs.loc[("AMC", f"paper: {cifar}"), "centroid"] == "7.0"  # the paper's centroid: 6.96
    ours = str(result.efficiency["tiny", "centroid_distance", "amc"])
    assert vs.loc[("AMC", "ours: tiny *"), "centroid"] == ours  # "*": flagged, its spread ratio is 0.3
    assert ("QMC", "paper: CelebA-HQ") not in vs.index  # no QMC number in the paper
    assert "ci_length" not in " ".join(vs.columns) and list(vs.columns) == ["brightness", "pixel mean", "contrast",
                                                                          "centroid"]
    table2 = {m: dict(rows) for m, rows in paper.TABLE2.items()}
    table2[paper.CIFAR]["brightness"] = (2.0, 0.35, 0.35, 32.05, 99.0)
    monkeypatch.setattr(paper, "TABLE2", table2)
    assert U.paper_records()[f"efficiency/{paper.CIFAR}/brightness/amc"] == 99.0
    assert result.versus_paper().loc[("AMC", f"paper: {cifar}"), "brightness"] == "99"


def test_verdict_states_our_numbers_and_the_spread_flag(result, model):
    r = result
    text = r.verdict()
    assert text.split("**")[1].rstrip(".") in ("Reproduced", "Partly reproduced", "Not reproduced")
    assert str(r.efficiency["tiny", "brightness", "amc"]) in text
    assert "18.8 to 136.4" in text  # the paper's range, from antinb.paper
    assert "Caveat" in text and "tiny (smallest generated/real sd ratio 0.30)" in text
    assert r.spread_flagged() == {"tiny": 0.3}
    assert r.records()["spread_ratio/tiny/brightness"] == 0.3
    assert r.spread_table().loc["tiny", "flag"] == "spread off"
    assert "ours: tiny *" in " ".join(r.versus_paper().index.get_level_values(1))
    assert r.coverage_summary() in text
    model.card = {}
    plain = U.run([model], coverage_model="", **{k: v for k, v in KW.items() if not k.startswith("coverage")})
    assert plain.spread_flagged() == {} and "Caveat" not in plain.verdict() and plain.spread_table().empty


def test_figures(result):
    for fig in (result.figure(), result.budget_figure("brightness"), result.coverage_figure()):
        assert fig.get_size_inches()[0] <= 7.0
        for ax in fig.axes:
            assert all(t.get_fontsize() >= 9 for t in ax.get_xticklabels() + ax.get_yticklabels())
        matplotlib.pyplot.close(fig)
    with pytest.raises(ValueError, match="statistic="):
        result.budget_figure("sharpness")


def test_designs_come_from_the_registry():
    d = U.designs((4, 8), 16)
    assert [x.slug for x in d] == ["mc", "amc", "kamc4", "kamc8", "rqmc"]
    assert d[2].kwargs == {"k": 4} and d[-1].kwargs == {"replicates": 16}
    with pytest.raises(ValueError, match="k="):
        U.designs((1,), 16)
    with pytest.raises(ValueError, match="twice"):
        U.designs((4, 4), 16)


# --------------------------------------------------------------------------- measure once, present freely


def test_the_measurement_survives_save_and_load(model, tmp_path):
    from antinb import measurements

    model.card = CARD
    m = U.measure(U.Params([model], coverage_model=model, **KW))
    assert type(m) is U.UncertaintyMeasurements and type(m.intervals) is U.IntervalStudy
    # the interval study is the notebook's former interval_study(reps=interval_reps, seed=seed), unchanged
    assert m.intervals.rate == U.interval_study(reps=20, seed=0).rate
    measurements.save(tmp_path / "m", m, {})
    back = measurements.load(tmp_path / "m")
    assert type(back) is U.UncertaintyMeasurements and back == m
    shown, again = U.present(m), U.present(back)
    assert again.records() == shown.records()
    assert again.verdict() == shown.verdict() and again.intervals.statement() == shown.intervals.statement()
    assert again.table().equals(shown.table()) and again.coverage_table().equals(shown.coverage_table())


def test_the_measurement_reaches_no_presentation():
    from antinb._code import definition_closure

    closure = definition_closure("antinb.findings.uncertainty", ("measure",))
    reached = {k.split(":", 1)[1] for k in closure if k.startswith("antinb.findings.uncertainty:")}
    presentation = {"UncertaintyResult", "IntervalStudyResult", "present", "run", "interval_study",
                    "_present_intervals", "summary", "paper_records", "TEMPLATES", "TABLE", "SPREAD_FLAG_BELOW",
                    "_PAPER_STAT", "_predicted", "_STYLE", "INTERVAL_LABELS", "_STUDY_LABELS",
                    *(name for name in dir(U) if isinstance(getattr(U, name), str) and getattr(U, name) in U.TEMPLATES)}
    assert {"measure", "Params", "measure_intervals", "_coverage"} <= reached
    assert not reached & presentation, reached & presentation
    assert not {"antinb.findings.base", "antinb.plots", "antinb.paper"} & set(closure)
