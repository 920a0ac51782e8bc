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

from antinb import noise, paper, stats, toy  # noqa: E402
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
    expected |= {fill(finding.TOY_CORR, data=d) for d in ("Gaussian", "mixture")}
    assert set(rec) == expected
    assert rec["toy_pair_corr/Gaussian"] == pytest.approx(-1.0, abs=1e-12) and rec["toy_pair_corr/mixture"] > -0.95
    assert "corr_mean/tiny/ddpm/pn(zonly)/centered" in rec and "guidance_corr_centered/pn/w=1" in rec
    for name in rec:
        assert any(template_regex(t).match(name) for t in finding.TEMPLATES), name
    # the summary reads the same numbers back, and the verdict opens with its label
    from antinb.findings import base

    s = finding.summary(rec)
    row = next(r for r in s.ran if r.our_setting.startswith("tiny, DDPM"))
    assert row.value == rec["corr_mean/tiny/ddpm/pn/centered"] and row.ci == tuple(rec["corr_mean_ci/tiny/ddpm/pn/centered"])
    assert result.verdict().startswith(f"**{s.verdict[0].upper()}{s.verdict[1:]}**: ")
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
    # one column per sampler and variant the paper reports, named with our steps; the paper's row first
    label = {(s, v): f"{s.upper()}-{result.steps[s]}, {v}" for (_, s, v) in paper.CORRELATION}
    assert list(table.columns) == list(dict.fromkeys(label.values()))
    assert list(table.index) == ["paper", "tiny", "tiny-cond"]
    cifar = paper.CORRELATION[paper.CIFAR, "ddpm", "centered"]
    assert table.loc["paper", label["ddpm", "centered"]] == f"{cifar:+.2f}".replace("-", "−")
    assert table.loc["paper", label["ddim", "centered"]] == "−0.78 to −0.41"  # no truncated list of models
    assert table.loc["tiny", label["ddim", "centered"]] == \
        finding._fmt_ci(*result.interval("tiny", "ddim", "PN", "centered"))
    assert "CelebA-HQ −0.78" in result.paper_note() and "CIFAR-10 −0.80" in result.paper_note()
    monkeypatch.setitem(paper.CORRELATION, (paper.CIFAR, "ddpm", "centered"), -0.123)
    assert result.versus_paper().loc["paper", label["ddpm", "centered"]] == "−0.12"
    pr = finding.paper_records()
    assert pr[fill(finding.CORR_MEAN, model=paper.CIFAR, sampler="ddpm", pairing="pn", variant="centered")] == -0.123


def _first_sentence(text: str) -> str:
    import re

    m = re.search(r"^(.+?[.!?])(?=\s+[A-Z(*†]|\s*$)", text.replace("**", "").strip(), re.S)
    return m.group(1) if m else text


def test_verdict_opens_with_one_quotable_sentence_then_a_table(result):
    text = result.verdict()
    first = _first_sentence(text.split("\n")[0])
    assert first.split(":")[0] in ("Reproduced", "Partly reproduced", "Not reproduced",
                                   "Not shown at this sample size")
    assert len(first.split()) <= 40 and "[" in first and "pairs" in first  # a number, its interval, its setting
    for m in ("tiny", "tiny-cond"):
        for s in ("ddim", "ddpm"):
            assert finding._fmt_ci(*result.interval(m, s, "PN", "centered")) in text
    assert "| setting | ours | paper | verdict |" in text
    assert "beyond the paper: " in text  # the two ablations, each with its own one-word answer
    prose = text.split("\n")[-1]
    assert len(prose.split()) <= 150
    for raw in ("corr_mean", "n_pairs", "ddpm_pairs", "ablation_pairs", "previous run", "earlier run"):
        assert raw not in text


def _rows(cells: dict[tuple[str, str], tuple[float, float, float]], std: dict | None = None,
          params: dict | None = None):
    """The summary of records holding only the given centered (and standard) PN cells."""
    rec = {}
    for variant, cs in (("centered", cells), ("standard", std or {})):
        for (m, s), (mean, lo, hi) in cs.items():
            keys = dict(model=m, sampler=s, pairing="pn", variant=variant)
            rec[fill(finding.CORR_MEAN, **keys)] = mean
            rec[fill(finding.CORR_MEAN_CI, **keys)] = [lo, hi]
    return finding.summary(rec, params or {"n_pairs": 64, "ddpm_pairs": 64, "ddim_steps": 50, "ddpm_steps": 50})


def test_verdicts_follow_the_books_rules_on_the_issues_edge_cases():
    from antinb.findings import verdicts

    s = _rows({("mnist", "ddim"): (-0.42, -0.45, -0.39),             # inside the paper's DDIM range
               ("photo-patches", "ddpm"): (-0.68, -0.71, -0.65),     # negative, but not the paper's -0.80
               ("mnist", "ddpm"): (-0.05, -0.12, 0.02),              # undetermined
               ("fashion-mnist-cond", "ddpm"): (0.10, 0.05, 0.15)},  # the other side of zero
              std={("mnist", "ddpm"): (0.08, 0.05, 0.10)})
    by = {r.our_setting: r for r in s.ran}
    assert by["mnist, DDIM-50, 64 pairs"].verdict == verdicts.REPRODUCED  # was "partly" by the old thresholds
    photo = by["photo-patches †, DDPM-50, 64 pairs"]
    assert photo.verdict == verdicts.PARTLY and photo.flagged  # was "reproduced" on its sign alone
    assert by["mnist, DDPM-50, 64 pairs"].verdict == verdicts.NOT_SHOWN
    assert by["fashion-mnist-cond, DDPM-50, 64 pairs"].verdict == verdicts.NOT_REPRODUCED
    standard = by["mnist, DDPM-50, 64 pairs, standard"]
    assert standard.verdict == verdicts.NOT_REPRODUCED and not standard.headline and standard.paper == "−0.73"
    assert s.verdict == verdicts.PARTLY
    # a paper model we ran is judged against its own number, not the range
    own = _rows({(paper.CHURCH, "ddim"): (-0.60, -0.65, -0.55)})
    row = next(r for r in own.ran)
    assert row.paper == "−0.41" and row.verdict == verdicts.PARTLY  # stronger than Church's -0.41


def test_the_opening_sentence_names_the_verdict_and_the_setting_that_carries_it():
    from antinb.findings import verdicts

    s = _rows({("mnist", "ddim"): (-0.53, -0.57, -0.48), ("mnist", "ddpm"): (-0.40, -0.44, -0.35),
               ("photo-patches", "ddpm"): (-0.30, -0.35, -0.25)})
    first = finding.headline_sentence(s)
    assert first.startswith("**Partly reproduced**: ") and len(first.split()) <= 40
    # the farthest setting of a model the book does not flag carries the sentence
    assert "mnist, DDPM-50, 64 pairs: −0.40 [−0.44, −0.35] against −0.80" in first
    assert "in 2 of 3 less strongly than in the paper" in first
    all_in = _rows({("mnist", "ddim"): (-0.53, -0.57, -0.48), ("mnist", "ddpm"): (-0.78, -0.82, -0.74)})
    assert all_in.verdict == verdicts.REPRODUCED
    assert finding.headline_sentence(all_in).startswith("**Reproduced**: ") and "−0.53 [−0.57, −0.48]" in \
        finding.headline_sentence(all_in)
    none = _rows({("mnist", "ddim"): (0.2, 0.1, 0.3)})
    assert finding.headline_sentence(none).startswith("**Not reproduced**: ")


def test_beyond_the_paper_rows_answer_in_one_word():
    from antinb.findings import verdicts

    rec = {}
    for m, (mean, lo, hi) in {"a": (0.6, 0.5, 0.7), "b": (0.9, 0.8, 1.05)}.items():
        rec[fill(finding.HALFNEG_BOTTOM, model=m)] = mean
        rec[fill(finding.HALFNEG_BOTTOM_CI, model=m)] = [lo, hi]
    for w, (mean, lo, hi) in {"1": (-0.5, -0.6, -0.4), "4": (-0.1, -0.2, 0.05)}.items():
        for p in ("pn", "rr"):
            rec[fill(finding.GUIDANCE_CORR_CLASS, pairing=p, w=w)] = mean
            rec[fill(finding.GUIDANCE_CORR_CLASS_CI, pairing=p, w=w)] = [lo, hi]
    rows = {r.paper_setting: r for r in finding.summary(rec).rows if r.verdict == verdicts.BEYOND}
    half = rows["not asked: negate only the top half of z"]
    assert half.outcome == "mixed" and half.value is None and "+0.50" in half.caveat  # b's interval reaches +1
    assert rows["not asked: classifier-free guidance"].outcome == "mixed"  # w = 4 crosses zero
    assert not any(r.headline for r in rows.values())


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
        assert list(result.table().columns) == ["PN", "RR", "PN, z only"]
        assert result.table().index.nlevels == 1  # a two-level index renders as rows of unequal length
        assert len(result.half_negation_table()) == 2 and len(result.guidance.table()) == 2
        for fig in (result.histograms(), result.pairs_figure(n=3), result.half_negation_figure(),
                    result.guidance_figure(), result.intuition_figure()):
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
    assert [type(r) for r in loaded.intuition] == [toy.PairPaths, toy.PairPaths]
    assert all(torch.equal(a.paths, b.paths) for a, b in zip(loaded.intuition, measured.intuition))
    assert finding.present(loaded).records() == finding.present(measured).records()
    # the chapter's figures need only the first PAIRS_SHOWN DDIM PN pairs, kept as sampled
    for m, x in loaded.pairs.items():
        assert torch.equal(x, measured.pairs[m]) and len(x) <= 2 * finding.PAIRS_SHOWN
    plt.close(finding.present(loaded).pairs_figure(n=3))


def test_the_code_measure_depends_on_holds_no_presentation():
    from antinb._code import definition_closure

    closure = definition_closure("antinb.findings.correlation", ("measure",))
    names = {k.split(":", 1)[1] for k in closure if k.startswith("antinb.findings.correlation:")}
    assert {"measure", "Params", "CorrelationMeasurements", "half_negation", "guidance_sweep", "toy_pairs"} <= names
    presentation = {"CorrelationResult", "HalfNegation", "GuidanceSweep", "present", "run", "summary",
                    "paper_records", "pairing_key", "TABLE", "TEMPLATES", "_s", "_fmt_ci", "_fmt_pm", "_short",
                    "_not_run", "_presented", "_SAMPLER_LABELS", "_CENTRES", "_VARIANTS", "cost",
                    "headline_sentence", "_outcome", "_span_text", "_span", "_numbers", "_paper_claim", "_LOCAL",
                    "_ANTI", "TOY_CORR",
                    *(n for n in finding.__all__ if n.startswith(("CORR_", "HALFNEG_", "GUIDANCE_")))}
    assert not names & presentation
    assert not {"antinb.findings.base", "antinb.plots", "antinb.paper"} & set(closure)
