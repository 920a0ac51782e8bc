"""Finding 1 (antinb.findings.correlation) on the tiny and affine models: exact identities, record names,
intervals, the paper comparison and the verdict."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.stats as sps  # noqa: E402
import torch  # noqa: E402

from antinb import noise, paper, stats  # noqa: E402
from antinb.findings import correlation as finding  # noqa: E402
from antinb.findings.base import fill, template_regex  # noqa: E402
from antinb.pairs import pair_samples  # noqa: E402


@pytest.fixture(scope="module")
def measured():
    from conftest import tiny_model

    plain = tiny_model()
    cond = tiny_model(num_classes=3)
    cond.name = "tiny-cond"
    return finding.measure(finding.Params([plain, cond], n_pairs=4, ddim_steps=3, ddpm_steps=3, seed=0,
                                          ablation_pairs=4, guidance_model="tiny-cond", guidance_scales=[1.0, 3.0],
                                          guidance_pairs=6))


@pytest.fixture(scope="module")
def result(measured):
    return finding.present(measured)


def test_partially_negated_negates_exactly_the_region():
    shape = (2, 4, 4)
    batch = noise.antithetic(6, shape, seed=3)
    mask = torch.rand(shape, generator=torch.Generator().manual_seed(1)) > 0.5
    z = noise.partially_negated(batch, mask)
    first, partner = z[0::2], z[1::2]
    assert torch.equal(first, batch.z[0::2])
    assert torch.equal(partner[:, mask], -first[:, mask])
    assert torch.equal(partner[:, ~mask], first[:, ~mask])


def test_half_negation_on_the_affine_model_is_exactly_minus_one_and_one(affine_model):
    # eps(x, t) = a_t x + c acts pixel by pixel, so a DDIM output is k z + m pixel-wise: across pairs
    # every negated pixel correlates exactly -1 and every shared pixel exactly +1.
    half = finding.half_negation([affine_model], n_pairs=5, steps=4)
    m = half.maps["affine"]
    assert torch.allclose(m[:4], torch.full_like(m[:4], -1.0), atol=1e-5)
    assert torch.allclose(m[4:], torch.full_like(m[4:], 1.0), atol=1e-5)
    assert half.top["affine"][0] == pytest.approx(-1.0, abs=1e-5)
    assert half.bottom["affine"][0] == pytest.approx(1.0, abs=1e-5)
    for mean, lo, hi in (half.top["affine"], half.bottom["affine"]):  # no spread between pairs: zero width
        assert lo == pytest.approx(mean, abs=1e-4) and hi == pytest.approx(mean, abs=1e-4)


def test_pn_pairs_of_the_affine_model_are_mirrored_about_the_mean_image(affine_model):
    for sampler in ("ddim", "ddpm"):
        x = pair_samples(affine_model, 5, "PN", sampler=sampler, steps=4, progress=False)
        c = finding.correlations({"PN": x})["PN"]
        assert torch.allclose(c["centered"], torch.full((5,), -1.0, dtype=torch.float64), atol=1e-9)
        assert not torch.allclose(c["standard"], torch.full((5,), -1.0, dtype=torch.float64), atol=1e-3)


def test_records_are_the_templates_filled_and_equal_direct_computation(result):
    rec = result.records()
    expected = set()
    for m in ("tiny", "tiny-cond"):
        for s, pairings in finding.SAMPLER_PAIRINGS.items():
            for p in pairings:
                for v in ("standard", "centered"):
                    keys = dict(model=m, sampler=s, pairing=finding.pairing_key(p), variant=v)
                    expected |= {fill(t, **keys) for t in (finding.CORR_MEAN, finding.CORR_SD, finding.CORR_MEAN_CI)}
        expected |= {fill(t, model=m) for t in (finding.HALFNEG_TOP, finding.HALFNEG_BOTTOM, finding.HALFNEG_TOP_CI,
                                                finding.HALFNEG_BOTTOM_CI)}
    for p in ("pn", "rr"):
        for w in ("1", "3"):
            expected |= {fill(t, pairing=p, w=w) for t in (finding.GUIDANCE_CORR, finding.GUIDANCE_CORR_CI,
                                                            finding.GUIDANCE_CORR_CLASS, finding.GUIDANCE_CORR_CLASS_CI)}
    assert set(rec) == expected
    assert "corr_mean/tiny/ddpm/pn(zonly)/centered" in rec and "guidance_corr_centered/pn/w=1" in rec
    for name in rec:
        assert any(template_regex(t).match(name) for t in finding.TEMPLATES), name
    # the summary reads the same numbers back, and the verdict opens with its label
    from antinb.findings import base

    s = finding.summary(rec)
    row = next(r for r in s.ran if r.our_setting.startswith("tiny, DDPM"))
    assert row.value == rec["corr_mean/tiny/ddpm/pn/centered"] and row.ci == tuple(rec["corr_mean_ci/tiny/ddpm/pn/centered"])
    assert result.verdict().startswith(base.headline(s.verdict))
    # the numbers are the same as the direct computation with the same seeds
    from conftest import tiny_model

    model = tiny_model()
    sets = {p: pair_samples(model, 4, p, sampler="ddpm", steps=3, seed=0, progress=False)
            for p in finding.SAMPLER_PAIRINGS["ddpm"]}
    centre = stats.mean_image(torch.cat(list(sets.values())))
    direct = stats.pair_correlation(sets["PN (z only)"], centered=True, mean_image=centre)
    assert rec["corr_mean/tiny/ddpm/pn(zonly)/centered"] == pytest.approx(direct.mean().item(), abs=1e-12)
    assert rec["corr_sd/tiny/ddpm/pn(zonly)/centered"] == pytest.approx(direct.std().item(), abs=1e-12)


def test_interval_is_the_t_interval_and_contains_the_mean(result):
    rec = result.records()
    c = result.corr["tiny", "ddim", "PN"]["centered"].numpy()
    q = sps.t.ppf(0.975, len(c) - 1)
    half = q * c.std(ddof=1) / np.sqrt(len(c))
    lo, hi = rec["corr_mean_ci/tiny/ddim/pn/centered"]
    assert lo == pytest.approx(c.mean() - half, abs=1e-12) and hi == pytest.approx(c.mean() + half, abs=1e-12)
    for name, value in rec.items():
        if "_ci/" in name:
            mean = rec[name.replace("_ci/", "/")]
            assert value[0] <= mean <= value[1], name


def test_intervals_shrink_with_the_number_of_pairs():
    widths = []
    for n in (4, 16, 64, 256):
        values = np.tile([-0.7, -0.5, -0.6, -0.4], n // 4)
        mean, lo, hi = finding.mean_interval(values)
        assert lo < mean < hi
        assert mean == pytest.approx(-0.55)
        widths.append(hi - lo)
    assert all(a > b for a, b in zip(widths, widths[1:]))
    with pytest.raises(ValueError, match="at least 2"):
        finding.mean_interval([0.3])


def test_versus_paper_reads_antinb_paper(result, monkeypatch):
    table = result.versus_paper()
    # the sampler column names our steps and pairs: every number says where it comes from
    label = {s: f"{s.upper()}-{result.steps[s]}, {result.settings['n_pairs']} pairs" for s in result.steps}
    assert set(table.index) == {(label[s], v) for (_, s, v) in paper.CORRELATION}
    cifar = paper.CORRELATION[paper.CIFAR, "ddpm", "centered"]
    assert f"{cifar:+.2f}".replace("-", "−") in table.loc[(label["ddpm"], "centered"), "paper"]
    assert table.loc[(label["ddim"], "centered"), "tiny"] == \
        finding._fmt_ci(*result.interval("tiny", "ddim", "PN", "centered"))
    monkeypatch.setitem(paper.CORRELATION, (paper.CIFAR, "ddpm", "centered"), -0.123)
    assert "−0.12" in result.versus_paper().loc[(label["ddpm"], "centered"), "paper"]
    pr = finding.paper_records()
    assert pr[fill(finding.CORR_MEAN, model=paper.CIFAR, sampler="ddpm", pairing="pn", variant="centered")] == -0.123


def test_verdict_states_our_numbers_and_the_papers(result):
    text = result.verdict()
    assert text.split("**")[1].rstrip(".") in ("Reproduced", "Partly reproduced", "Not reproduced")
    for m in ("tiny", "tiny-cond"):
        for s in ("ddim", "ddpm"):
            assert finding._fmt_ci(*result.interval(m, s, "PN", "centered")) in text
    assert "−0.80" in text  # the paper's DDPM CIFAR-10 number


def test_class_centering_removes_the_class_mean_without_a_shared_centre():
    """Pairs of 3 classes whose images are their class's pattern plus noise: independent pairs
    (x_c + u, x_c + v) correlate strongly positively centred on all classes' mean, about 0 centred on
    their class; mirrored pairs (x_c + u, x_c - u) correlate negatively, shrunk towards 0 by the
    centres' own noise but never pushed up by a shared one."""
    g = torch.Generator().manual_seed(0)
    patterns = 3 * torch.randn(3, 1, 8, 8, generator=g)
    labels = torch.arange(2 * 90) // 2 % 3
    u, v = torch.randn(90, 1, 8, 8, generator=g), torch.randn(90, 1, 8, 8, generator=g)
    base_ = patterns[labels[0::2]]
    rr = torch.stack([base_ + u, base_ + v], 1).flatten(0, 1)
    pn = torch.stack([base_ + u, base_ - u], 1).flatten(0, 1)
    by_class = finding.class_centered({"PN": pn, "RR": rr}, labels)
    all_class = finding.correlations({"PN": pn, "RR": rr})
    assert all_class["RR"]["centered"].mean() > 0.5  # the shared class pattern
    assert abs(by_class["RR"].mean().item()) < 0.05
    # centres from about 59 other pairs of the class: shrunk a little, never pushed up by a shared centre
    assert -1.0 < by_class["PN"].mean().item() < -0.9
    with pytest.raises(ValueError, match="at least 3 pairs of each class"):
        finding.class_centered({"PN": pn[:6], "RR": rr[:6]}, labels[:6])  # 2 pairs of each class


def test_class_centering_at_the_smallest_size_keeps_pn_and_rr_apart():
    """Two pairs of each class per pairing (the book's size): the PN and RR estimates share data but must
    not mirror each other (with one pair each they would be the same number)."""
    g = torch.Generator().manual_seed(3)
    patterns = 3 * torch.randn(3, 1, 8, 8, generator=g)
    labels = torch.arange(2 * 6) // 2 % 3
    out = {"PN": [], "RR": []}
    for _ in range(40):
        u, v = torch.randn(6, 1, 8, 8, generator=g), torch.randn(6, 1, 8, 8, generator=g)
        base_ = patterns[labels[0::2]]
        c = finding.class_centered({"PN": torch.stack([base_ + u, base_ - u], 1).flatten(0, 1),
                                    "RR": torch.stack([base_ + u, base_ + v], 1).flatten(0, 1)}, labels)
        for k in out:
            out[k].append(c[k].mean().item())
    pn, rr = np.mean(out["PN"]), np.mean(out["RR"])
    assert pn < -0.3 and abs(rr) < 0.1


def test_guidance_sweep_needs_a_class_conditional_model(model):
    with pytest.raises(ValueError, match="class-conditional"):
        finding.guidance_sweep(model, [1.0], n_pairs=2, steps=2)


def test_tables_and_figures_render_without_warnings(result):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(result.table().columns) == ["PN", "RR", "PN (z only)"]
        assert len(result.half_negation_table()) == 2 and len(result.guidance.table()) == 2
        for fig in (result.histograms(), result.pairs_figure(n=3), result.half_negation_figure(),
                    result.guidance_figure()):
            assert isinstance(fig, plt.Figure)
            plt.close(fig)


def test_the_measurement_survives_save_and_load(measured, tmp_path):
    from antinb import measurements

    assert type(measured) is finding.CorrelationMeasurements  # data only: no presentation in it
    measurements.save(tmp_path / "01_correlation", measured, {})
    loaded = measurements.load(tmp_path / "01_correlation")
    assert type(loaded) is finding.CorrelationMeasurements
    assert type(loaded.half_negation) is finding.HalfNegationMeasurements
    assert type(loaded.guidance) is finding.GuidanceSweepMeasurements
    assert finding.present(loaded).records() == finding.present(measured).records()
    # the chapter's figures need only the first PAIRS_SHOWN DDIM PN pairs, kept as sampled
    for m, x in loaded.pairs.items():
        assert torch.equal(x, measured.pairs[m]) and len(x) <= 2 * finding.PAIRS_SHOWN
    plt.close(finding.present(loaded).pairs_figure(n=3))


def test_the_code_measure_depends_on_holds_no_presentation():
    from antinb._code import definition_closure

    closure = definition_closure("antinb.findings.correlation", ("measure",))
    names = {k.split(":", 1)[1] for k in closure if k.startswith("antinb.findings.correlation:")}
    assert {"measure", "Params", "CorrelationMeasurements", "half_negation", "guidance_sweep"} <= names
    presentation = {"CorrelationResult", "HalfNegation", "GuidanceSweep", "present", "run", "summary",
                    "paper_records", "pairing_key", "TABLE", "TEMPLATES", "_s", "_fmt_ci", "_fmt_pm", "_short",
                    "_not_run", "_presented", "_SAMPLER_LABELS", "_CENTRES", "_VARIANTS", "cost",
                    *(n for n in finding.__all__ if n.startswith(("CORR_", "HALFNEG_", "GUIDANCE_")))}
    assert not names & presentation
    assert not {"antinb.findings.base", "antinb.plots", "antinb.paper"} & set(closure)
