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
        expected |= {base.fill(t, model=m) for t in (finding.SSIM_RR_CI, finding.SSIM_PN_CI, finding.SSIM_DIFFERENCE,
                                                     finding.SSIM_DIFFERENCE_CI, finding.PAIRS, finding.STEPS)}
    expected |= {base.fill(t, model="tiny-cond") for t in (
        finding.GUIDED_SSIM_IMPROVEMENT, finding.GUIDED_SSIM_BY_CLASS, finding.GUIDED_CLASSES_IMPROVED,
        finding.GUIDED_SSIM_IMPROVEMENT_CI, finding.GUIDED_PERCEPTUAL_IMPROVEMENT_CI,
        finding.GUIDED_PERCEPTUAL_IMPROVEMENT, finding.GUIDED_SSIM_PN, finding.GUIDED_SSIM_RR, finding.GUIDED_SSIM_RR_CI,
        finding.GUIDED_SSIM_DIFFERENCE, finding.GUIDED_SSIM_DIFFERENCE_CI, finding.GUIDED_PAIRS, finding.GUIDED_SCALE)}
    expected |= {base.fill(t, backend=b, model="tiny-cond") for t in (finding.GUIDED_BACKEND_IMPROVEMENT,
                                                                      finding.GUIDED_BACKEND_BY_CLASS)}
    assert set(recs) == expected  # the tiny models have no data set: no quality records
    for name in recs:
        assert any(base.template_regex(t).match(name) for t in finding.TEMPLATES), name
    assert recs["perceptual_metric"] == "ST-LPIPS (alex)" == recs["perceptual_metric/tiny"]
    assert recs["perceptual_improvement_pct/tiny"] == recs["stlpips_improvement_pct/tiny"]
    assert recs["pairs/tiny"] == N_PAIRS and recs["ddim_steps/tiny"] == STEPS
    assert recs["guided_pairs_per_class/tiny-cond"] == CLASS_PAIRS and recs["guided_scale/tiny-cond"] == 2.0
    assert recs["ssim_difference/tiny"] == pytest.approx(recs["ssim_rr/tiny"] - recs["ssim_pn/tiny"])
    s = finding.summary(recs)
    ssim, perc = [r for r in s.ran if r.our_setting == f"tiny, DDIM-{STEPS}, {N_PAIRS} pairs"][:2]
    assert ssim.ours.startswith("SSIM ") and ssim.headline and not perc.headline
    assert ssim.value in (recs["ssim_improvement_pct/tiny"], None)  # None: the per-cent is not defined
    assert "ST-LPIPS (alex) is not LPIPS" in perc.caveat
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
    assert set(paper_rows["SSIM %"]) == {f"{v:+.1f}" for (_, k), v in paper.DIVERSITY.items() if k == "ssim"}
    assert list(table[table["source"] == "ours"]["setting"]) == ["tiny", "tiny-cond", "tiny-cond, guided w = 2"]
    assert finding.paper_records()["ssim_improvement_pct/google/ddpm-cifar10-32"] == paper.DIVERSITY[paper.CIFAR,
                                                                                                    "ssim"]
    text = result.verdict()
    assert text.split("**")[1].rstrip(".") in ("Reproduced", "Partly reproduced", "Not reproduced",
                                               "Not shown at this sample size")
    assert "ST-LPIPS" in text
    lo_p = min(v for (_, k), v in paper.DIVERSITY.items() if k == "ssim")
    assert f"+{lo_p:.1f}" in text
    first, the_paper, table, rest = text.split("\n\n", 3)
    # one quotable opening: the verdict, the takeaway, the number with its interval and its setting
    assert len(first.split()) <= 40 and f"(tiny, DDIM-{STEPS}, {N_PAIRS} pairs)." in first and "SSIM lower by" in first
    assert table.count("\n") == 1 + 2 * 3  # header, rule, SSIM and perceptual for 2 models and the guided pairs
    assert len(rest.split()) <= 150
    for word in ("n_pairs", "class_pairs", "ddim_steps", "ssim_improvement", "previous", "earlier"):
        assert word not in text


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


def _records(model: str, pct, pct_ci, rr_ci, diff=0.2, diff_ci=(0.15, 0.25), perc=4.8, perc_ci=(-0.02, 10.2)):
    return {f"ssim_improvement_pct/{model}": pct, f"ssim_improvement_pct_ci/{model}": list(pct_ci),
            f"ssim_rr/{model}": sum(rr_ci) / 2, f"ssim_rr_ci/{model}": list(rr_ci), f"ssim_pn/{model}": -0.1,
            f"ssim_difference/{model}": diff, f"ssim_difference_ci/{model}": list(diff_ci),
            f"perceptual_improvement_pct/{model}": perc, f"perceptual_improvement_pct_ci/{model}": list(perc_ci),
            f"perceptual_metric/{model}": "ST-LPIPS (alex)", f"pairs/{model}": 256, f"ddim_steps/{model}": 20}


def test_summary_judges_each_setting_by_the_book_rules():
    recs = {**_records("mnist", 150.1, (143.9, 157.0), (0.14, 0.17)),
            # the RR baseline's interval reaches 0: no per-cent, the difference judged on its direction
            **_records("fashion-mnist-cond", 900.0, (-400.0, 5000.0), (-0.01, 0.04), perc=10.3, perc_ci=(4.2, 16.3)),
            **_records("photo-patches", 189.3, (172.3, 208.6), (0.16, 0.19), perc=17.6, perc_ci=(11.7, 24.2)),
            "guided_ssim_improvement_pct/fashion-mnist-cond": 52.5,
            "guided_ssim_improvement_pct_ci/fashion-mnist-cond": [45.8, 58.9],
            "guided_ssim_rr_ci/fashion-mnist-cond": [0.2, 0.3], "guided_ssim_rr/fashion-mnist-cond": 0.25,
            "guided_ssim_pn/fashion-mnist-cond": 0.12, "guided_ssim_difference/fashion-mnist-cond": 0.13,
            "guided_ssim_difference_ci/fashion-mnist-cond": [0.1, 0.16],
            "guided_perceptual_improvement_pct/fashion-mnist-cond": 8.6,
            "guided_perceptual_improvement_pct_ci/fashion-mnist-cond": [-3.7, 22.6],
            "guided_ssim_improvement_pct_by_class/fashion-mnist-cond": {str(c): 1.0 for c in range(10)},
            "guided_pairs_per_class/fashion-mnist-cond": 8, "guided_scale/fashion-mnist-cond": 3.0,
            "fd_pn_vs_rr/mnist": 7.2, "fd_pn_vs_rr_p/mnist": 0.59, "fd_n/mnist": 498,
            "fd_pn_vs_rr/photo-patches": 14.5, "fd_pn_vs_rr_p/photo-patches": 0.01, "fd_n/photo-patches": 512}
    s = finding.summary(recs)
    got = {(r.our_setting, r.ours.split(" ")[0]): r for r in s.ran}
    # mnist SSIM +150 % [144, 157]: right direction, far above the paper's +19..+86 % -> partly, not reproduced
    mnist = got["mnist, DDIM-20, 256 pairs", "SSIM"]
    assert mnist.verdict == base.PARTLY and mnist.value == 150.1 and mnist.headline
    assert mnist.ours == "SSIM +150.1 % [+143.9, +157.0]; RR − PN 0.200 [0.150, 0.250]"
    assert "anti-correlated" in mnist.caveat
    # a non-significant perceptual cell is a row of its own that goes the other way, never hidden
    st = got["mnist, DDIM-20, 256 pairs", "ST-LPIPS"]
    assert st.verdict == base.NOT_SHOWN and st.ours == "ST-LPIPS (alex) +4.8 % [−0.0, +10.2]"
    assert "not LPIPS" in st.caveat
    # a baseline near 0: the per-cent is not compared with the paper's
    fm = got["fashion-mnist-cond, DDIM-20, 256 pairs", "SSIM"]
    assert fm.verdict == base.REPRODUCED and fm.value is None and "not defined" in fm.caveat and "%" not in fm.ours
    assert got["fashion-mnist-cond, DDIM-20, 256 pairs", "ST-LPIPS"].verdict == base.REPRODUCED
    # the guided pairs inside the paper's range; the flagged model marked
    guided = got["fashion-mnist-cond, guided w = 3, DDIM-20, 8 pairs per class × 10 classes", "SSIM"]
    assert guided.verdict == base.REPRODUCED and not guided.headline
    pp = got["photo-patches †, DDIM-20, 256 pairs", "SSIM"]
    assert pp.flagged and pp.verdict == base.PARTLY and pp.caveat.startswith("† ")
    # quality: beyond the paper, its own one-word outcome, no interval
    fd = {r.our_setting.split(",")[0]: r for r in s.ran if r.verdict == base.BEYOND}
    assert (fd["mnist"].outcome, fd["photo-patches †"].outcome) == ("holds", "fails")
    assert fd["mnist"].ci is None and "no interval" in fd["mnist"].ours and "498 images per set" in fd["mnist"].our_setting
    assert s.verdict == base.PARTLY and s.takeaway == "PN pairs are more diverse than independent pairs, by more than in the paper."
    assert _carrier_setting(s) == "mnist, DDIM-20, 256 pairs"  # the first unflagged headline row with the verdict
    assert sum(r.verdict == base.NOT_RUN for r in s.rows) == len({m for m, _ in paper.DIVERSITY})


def _carrier_setting(s):
    return finding._carrier(s).our_setting


def test_a_paper_model_is_judged_against_its_own_row():
    key = paper.CIFAR
    recs = _records(key, 80.0, (70.0, 90.0), (0.3, 0.4), perc=7.0, perc_ci=(5.0, 9.0))
    s = finding.summary(recs)
    ssim = next(r for r in s.ran if r.ours.startswith("SSIM"))
    assert ssim.paper == "SSIM +86.1 %" and ssim.verdict == base.REPRODUCED
    assert ssim.paper_setting == paper.MODEL_LABELS[key]
    assert not any(r.paper_model == key for r in s.rows)  # no "not run" row for it


def test_contrasts_and_per_class_intervals():
    c = finding._Contrast.of(np.full(5, 0.1), np.full(7, 0.3), lower_is_more_diverse=True)
    assert c.difference == pytest.approx(0.2) and c.difference_ci == pytest.approx((0.2, 0.2))
    assert finding._Contrast.of(np.ones(1), np.zeros(1), lower_is_more_diverse=False).difference_ci is None
    rng = np.random.default_rng(0)
    c = finding._Contrast.of(rng.normal(1.1, 0.1, 300), rng.normal(1.0, 0.1, 300), lower_is_more_diverse=False)
    assert c.difference_ci[0] < 0.1 < c.difference_ci[1]


def test_class_table_has_intervals_from_two_pairs_per_class(result):
    table = result.class_table()
    assert list(table["pairs"]) == [CLASS_PAIRS] * 3
    assert all("[" in v for v in table["SSIM RR − PN"]) and "95 % bootstrap" in result.class_note()
    one = finding.DiversityResult(result.models, _one_pair_per_class(result.guided), (), result.settings)
    assert not any("[" in v for v in one.class_table()["SSIM RR − PN"]) and "without intervals" in one.class_note()


def _one_pair_per_class(g):
    import dataclasses

    keep = np.array([np.flatnonzero(g.pair_class == c)[0] for c in range(len(g.class_names))])
    values = {p: {k: v[keep] for k, v in g.values[p].items()} for p in g.values}
    return dataclasses.replace(g, pair_class=g.pair_class[keep], values=values)


def test_the_quality_check_explains_its_set_sizes():
    q = finding.QualityCheck("mnist", 498, {k: 1.0 + i for i, k in enumerate(finding.FD_COMPARISONS)},
                             np.linspace(1, 3, 20), 0.5)
    res = finding.DiversityResult((), None, (q,), {"n_pairs": 256, "steps": 20})
    note = res.sizes_note()
    assert "the 512 generated images" in note and "mnist's $n = 498$ is half its test split" in note
    fig = res.quality_figure()
    assert fig.get_size_inches()[0] <= 7.0 and len(fig.axes) == 1 and fig.axes[0].get_xscale() == "log"
    plt.close(fig)
