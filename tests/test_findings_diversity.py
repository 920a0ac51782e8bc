"""Finding 4 (diversity of PN vs RR pairs, and sample quality) on the tiny models: record names,
the improvement formula and its bootstrap interval, the quality check and the paper comparison
(no papermill)."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from conftest import tiny_model  # noqa: E402

from antinb import metrics, paper  # noqa: E402
from antinb.findings import base  # noqa: E402
from antinb.findings import diversity as finding  # noqa: E402

N_PAIRS, STEPS, CLASS_PAIRS = 6, 3, 2


@pytest.fixture(scope="module")
def result() -> finding.DiversityResult:
    cond = tiny_model(num_classes=3)
    cond.name = "tiny-cond"
    return finding.run([tiny_model(), cond], n_pairs=N_PAIRS, steps=STEPS, class_model=cond,
                       class_pairs=CLASS_PAIRS, guidance_scale=2.0, perceptual_backend="stlpips", n_boot=300)


def test_records_are_the_templates_filled(result):
    recs = result.records()
    b = "stlpips"
    expected = {base.fill(finding.PERCEPTUAL_METRIC_ALL)}
    for m in ("tiny", "tiny-cond"):
        expected |= {base.fill(t, model=m) for t in (finding.SSIM_PN, finding.SSIM_RR, finding.SSIM_IMPROVEMENT,
                                                     finding.PERCEPTUAL_IMPROVEMENT, finding.PERCEPTUAL_METRIC,
                                                     finding.SSIM_IMPROVEMENT_CI, finding.PERCEPTUAL_IMPROVEMENT_CI)}
        expected |= {base.fill(t, backend=b, model=m) for t in (finding.BACKEND_PN, finding.BACKEND_RR,
                                                                finding.BACKEND_IMPROVEMENT)}
    expected |= {base.fill(t, model="tiny-cond") for t in (
        finding.GUIDED_SSIM_IMPROVEMENT, finding.GUIDED_SSIM_BY_CLASS, finding.GUIDED_CLASSES_IMPROVED,
        finding.GUIDED_SSIM_IMPROVEMENT_CI, finding.GUIDED_PERCEPTUAL_IMPROVEMENT_CI)}
    expected |= {base.fill(t, backend=b, model="tiny-cond") for t in (finding.GUIDED_BACKEND_IMPROVEMENT,
                                                                      finding.GUIDED_BACKEND_BY_CLASS)}
    assert set(recs) == expected  # the tiny models have no data set: no quality records
    for name in recs:
        assert any(base.template_regex(t).match(name) for t in finding.TEMPLATES), name
    assert recs["perceptual_metric"] == "ST-LPIPS (alex)" == recs["perceptual_metric/tiny"]
    assert recs["perceptual_improvement_pct/tiny"] == recs["stlpips_improvement_pct/tiny"]
    s = finding.summary(recs)
    row = next(r for r in s.ran if r.our_setting.startswith("tiny,") or r.our_setting == "tiny")
    assert row.value == recs["ssim_improvement_pct/tiny"] and "ST-LPIPS (alex) is not LPIPS" in row.caveat
    assert result.verdict().startswith(base.headline(s.verdict))


def test_improvements_follow_the_blog_formula(result):
    recs = result.records()
    for m in ("tiny", "tiny-cond"):
        pn, rr = recs[f"ssim_pn/{m}"], recs[f"ssim_rr/{m}"]
        assert recs[f"ssim_improvement_pct/{m}"] == pytest.approx((rr - pn) / rr * 100)
        pn, rr = recs[f"stlpips_pn/{m}"], recs[f"stlpips_rr/{m}"]
        assert recs[f"perceptual_improvement_pct/{m}"] == pytest.approx((pn - rr) / rr * 100)
        for key in ("ssim_improvement_pct", "perceptual_improvement_pct"):
            lo, hi = recs[f"{key}_ci/{m}"]
            assert lo < recs[f"{key}/{m}"] < hi, (m, key)
    # the per-pair values are the metrics of the pairs: rows 2i, 2i+1
    r = result["tiny"]
    x = r.samples["PN"]
    np.testing.assert_allclose(r.values["PN"]["ssim"], metrics.ssim_pairs(x[0::2], x[1::2]).numpy())
    assert len(r.values["RR"]["perceptual"]) == N_PAIRS
    # PN pairs start from z and -z
    g = result.guided
    assert list(g.by_class["ssim"]) == ["0", "1", "2"] and len(g.pair_class) == 3 * CLASS_PAIRS
    sel = g.pair_class == 1
    assert g.by_class["ssim"]["1"] == pytest.approx(metrics.percent_improvement(
        g.values["PN"]["ssim"][sel].mean(), g.values["RR"]["ssim"][sel].mean(), higher_is_more_diverse=False))


def test_improvement_interval_known_cases():
    pn, rr = np.full(10, 0.2), np.full(12, 0.5)  # no spread: the interval is the point, 60 %
    assert finding.improvement_interval(pn, rr, higher_is_more_diverse=False) == pytest.approx([60.0, 60.0])
    assert finding.improvement_interval(rr, pn, higher_is_more_diverse=True) == pytest.approx([150.0, 150.0])
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.2, 0.1, 400), rng.normal(1.0, 0.1, 400)
    lo, hi = finding.improvement_interval(a, b, higher_is_more_diverse=True, seed=1)
    assert lo < 20.0 < hi and hi - lo < 5.0  # covers the true +20 %, about +-1.6 % wide
    # strata with a single value fall back to resampling all pairs (otherwise the interval collapses)
    lo, hi = finding.improvement_interval(a[:3], b[:3], higher_is_more_diverse=True,
                                          strata_pn=np.arange(3), strata_rr=np.arange(3))
    assert lo < hi


def test_quality_check_on_real_data_and_classifier():
    gen = torch.Generator().manual_seed(0)
    real_like = 2 * torch.rand(16, 1, 28, 28, generator=gen) - 1
    samples = {"PN": real_like, "RR": -real_like}
    fake = SimpleNamespace(card={"dataset": "mnist"}, name="fake")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        q = finding.quality_check("fake", fake, samples, n_pairs=8, n_perm=20)
    assert q.n == 16 and set(q.fd) == set(finding.FD_COMPARISONS)
    assert all(np.isfinite(v) and v >= 0 for v in q.fd.values())
    assert 1 / 21 <= q.perm_p <= 1.0 and len(q.perm_null) == 20
    assert finding.quality_check("x", SimpleNamespace(card={}, name="x"), samples, n_pairs=8) is None
    res = finding.DiversityResult((), None, (q,), {"n_pairs": 8, "steps": 1})
    recs = res.records()
    assert recs["fd_n/fake"] == 16 and recs["fd_pn_vs_rr_p/fake"] == q.perm_p
    assert recs["fd_real_vs_real/fake"] == q.fd["real_vs_real"]
    fig = res.quality_figure()
    assert fig.axes[0].get_xscale() == "log"
    plt.close(fig)


def test_versus_paper_and_verdict_read_the_paper(result):
    table = result.versus_paper().reset_index()
    paper_rows = table[table["source"] == "paper"]
    assert len(paper_rows) == len({m for m, _ in paper.DIVERSITY})
    assert set(paper_rows["SSIM impr. %"]) == {f"{v:+.1f}" for (_, k), v in paper.DIVERSITY.items() if k == "ssim"}
    assert finding.paper_records()["ssim_improvement_pct/google/ddpm-cifar10-32"] == paper.DIVERSITY[paper.CIFAR,
                                                                                                    "ssim"]
    text = result.verdict()
    assert text.split("**")[1].rstrip(".") in ("Reproduced", "Partly reproduced", "Not reproduced",
                                               "Not shown at this sample size")
    assert "ST-LPIPS" in text and f"{result['tiny'].improvement['ssim']:+.1f}" in text
    lo_p = min(v for (_, k), v in paper.DIVERSITY.items() if k == "ssim")
    assert f"+{lo_p:.1f}" in text


def test_figures_are_column_width(result):
    for fig in (result.distributions_figure(), result.improvement_figure(), result.pair_examples("tiny", "PN", 4),
                result.guided_examples("PN")):
        assert fig.get_size_inches()[0] <= 7.0
        plt.close(fig)


def test_the_measurement_keeps_only_the_images_figures_show(result):
    # the chapter shows the first model's first pairs, PN and RR, and one guided PN pair per class
    first, other = result.models
    n = 2 * min(N_PAIRS, finding.EXAMPLE_PAIRS)
    assert {k: len(v) for k, v in first.samples.items()} == {"PN": n, "RR": n} and other.samples == {}
    assert {k: len(v) for k, v in result.guided.samples.items()} == {"PN": 2 * 3}
    for r in result.models:
        assert len(r.values["PN"]["ssim"]) == len(r.values["RR"]["perceptual"]) == N_PAIRS  # every pair's numbers
    with pytest.raises(ValueError, match=f"keeps the first {finding.EXAMPLE_PAIRS} pairs only"):
        result.pair_examples("tiny", "PN", finding.EXAMPLE_PAIRS + 1)
    with pytest.raises(ValueError, match="first model \\(tiny\\) only, not of 'tiny-cond'"):
        result.pair_examples("tiny-cond", "PN", 2)
    with pytest.raises(ValueError, match="guided pairs \\['PN'\\] only"):
        result.guided_examples("RR")


def test_the_measurement_survives_save_and_load(tmp_path):
    from antinb import measurements

    cond = tiny_model(num_classes=2)
    cond.name = "tiny-cond"
    m = finding.measure(finding.Params([tiny_model()], n_pairs=10, steps=2, class_model=cond, class_pairs=2,
                                       guidance_scale=2.0, perceptual_backend="stlpips", n_boot=50))
    assert len(m.models[0].samples["PN"]) == 2 * finding.EXAMPLE_PAIRS < 2 * 10 and len(m.guided.samples["PN"]) == 4
    measurements.save(tmp_path / "04", m, {"finding": finding.__name__})
    loaded = measurements.load(tmp_path / "04")
    assert type(loaded) is finding.DiversityMeasurements and type(loaded.guided) is finding.GuidedDiversity
    assert finding.present(loaded).records() == finding.present(m).records()
    torch.testing.assert_close(loaded.models[0].samples["RR"], m.models[0].samples["RR"])


def test_the_measurement_holds_no_presentation():
    from antinb._code import definition_closure

    closure = definition_closure(finding.__name__, ("measure",))
    names = {k.split(":", 1)[1] for k in closure if k.startswith(finding.__name__ + ":")}
    assert {"measure", "PairDiversity", "GuidedDiversity", "QualityCheck", "quality_check", "_guided"} <= names
    presentation = {"DiversityResult", "present", "run", "summary", "paper_records", "TABLE", "TEMPLATES",
                    "FD_COMPARISONS", "_with_ci", "_significance"} | {n for n in finding.__all__ if n.isupper()
                                                                        and "{" in str(getattr(finding, n))}
    assert not names & presentation
    assert not {"antinb.findings.base", "antinb.plots", "antinb.paper"} & {k.split(":")[0] for k in closure}
