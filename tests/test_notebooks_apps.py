"""The application notebooks (04 diversity, 05 uncertainty, 06 DPS) run end to end through the runner
(ci profile) and record numbers that say what the paper says, at the precision the ci sample supports."""

from __future__ import annotations

import math

import pytest

import antinb
from antinb import metrics, stats
from antinb.book import runner

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("executed")


def _models(*order: str) -> list[str]:
    names = order or ("fashion-mnist-cond", "mnist", "photo-patches")
    return [m for m in names if m in antinb.available()]


def _overrides(profile_models: list[str], models: list[str]) -> dict:
    """Override the profile's model list only when one of its models is not shipped (yet)."""
    return {} if profile_models == models else {"models": models}


def _run(name: str, out, order: tuple[str, ...] = ()) -> dict:
    profile_models = runner.profile_parameters("ci", name)["models"]
    models = _models(*order) if order else _models()
    stamp = runner.run(name, profile="ci", parameters=_overrides(profile_models, models), output_dir=out)
    assert runner.is_stale(out / f"{name}.ipynb") is None
    # the parameters the notebook ran with: its defaults, then the profile and overrides
    stamp["parameters"] = {**runner.notebook_parameters(runner.resolve(name)), **stamp["parameters"]}
    return stamp


def test_04_diversity(out):
    stamp = _run("04_diversity", out)
    rec, models = stamp["records"], stamp["parameters"]["models"]
    label = rec["perceptual_metric"]
    assert label in metrics.PERCEPTUAL_BACKENDS.values()
    if not metrics.lpips_available():
        assert label == "ST-LPIPS (alex)"  # never reported as plain LPIPS when ST-LPIPS ran
    slug = {v: k for k, v in metrics.PERCEPTUAL_BACKENDS.items()}[label]
    for m in models:
        assert rec[f"ssim_pn/{m}"] < rec[f"ssim_rr/{m}"], m  # PN pairs are less similar
        assert rec[f"ssim_improvement_pct/{m}"] > 0, m
        assert math.isfinite(rec[f"{slug}_improvement_pct/{m}"])
        assert rec[f"perceptual_improvement_pct/{m}"] == rec[f"{slug}_improvement_pct/{m}"]
        assert rec[f"perceptual_metric/{m}"] == label
        assert f"lpips_improvement_pct/{m}" not in rec or slug == "lpips"
        assert rec[f"fd_n/{m}"] >= 2
        for key in ("pn_vs_rr", "pn_vs_real", "rr_vs_real", "real_vs_real", "pn_vs_rr_half", "rr_vs_rr_half"):
            assert rec[f"fd_{key}/{m}"] is not None and math.isfinite(rec[f"fd_{key}/{m}"]), (m, key)
        assert rec[f"fd_real_vs_real/{m}"] > 0
    cm = stamp["parameters"]["class_model"]
    if cm:
        assert rec[f"guided_ssim_improvement_pct/{cm}"] > 0
        assert len(rec[f"guided_ssim_improvement_pct_by_class/{cm}"]) == 10


def test_05_uncertainty(out):
    stamp = _run("05_uncertainty", out)
    rec, params = stamp["records"], stamp["parameters"]
    models = params["models"]
    for m in models:
        # antithetic pairs tighten the brightness interval at equal n (rho close to -1 here)
        assert rec[f"ci_length/{m}/brightness/amc"] < rec[f"ci_length/{m}/brightness/mc"], m
        assert rec[f"efficiency/{m}/brightness/amc"] > 1 and rec[f"rho/{m}/brightness"] < 0
        # squared_distance is even in the *image* (about the mean image), so it is even in the noise only as far
        # as the model is odd about its mean: it must be far less anti-correlated than brightness, but its sign is
        # the model's (the 2,408-step mnist measures rho = -0.25 at the book's n = 256; fashion-mnist-cond +0.07)
        assert rec[f"rho/{m}/squared_distance"] > rec[f"rho/{m}/brightness"] + 0.2, m
        assert rec[f"efficiency/{m}/squared_distance/amc"] < rec[f"efficiency/{m}/brightness/amc"]
        for slug in ("amc", "rqmc", "kamc4", "kamc8"):
            low, high = rec[f"efficiency_ci/{m}/brightness/{slug}"]  # each number once, with its F-interval
            assert 0 < low <= rec[f"efficiency/{m}/brightness/{slug}"] <= high
            assert f"eff_{slug}/{m}/brightness" not in rec
    reps = rec["coverage_reps"]
    cov = {k: v for k, v in rec.items() if k.startswith("coverage/")}
    assert len(cov) == 6 * 6  # 5 methods + all pooled, 6 statistics
    assert all(0.0 <= v <= 1.0 for v in cov.values())
    # pooled over the 5 methods: 5 * reps independent intervals per statistic; fail only far outside
    lo, _ = stats.coverage_band(5 * reps, params["level"], prob=0.999)
    for key, v in cov.items():
        if key.startswith("coverage/all/"):
            assert v >= lo, (key, v, lo)


def test_06_dps(out):
    stamp = _run("06_dps", out, order=("mnist", "fashion-mnist-cond", "photo-patches"))
    rec = stamp["records"]
    models = stamp["parameters"]["models"]
    for m in models:
        # guidance works: the samples agree with the measurement far better than unconditional ones
        assert rec[f"dps_observed_l1/{m}"] < 0.7 * rec[f"uncond_observed_l1/{m}"], m
        for metric in ("l1", "psnr", "pixel", "hole", "pixel_avg_ci", "hole_avg_ci"):
            assert 0 < rec[f"dps_efficiency/{m}/{metric}"] < math.inf, (m, metric)
        for metric in ("l1", "psnr", "pixel", "hole"):
            assert 0 < rec[f"dps_ci_length/{m}/{metric}/amc"] and 0 < rec[f"dps_ci_length/{m}/{metric}/mc"]
        assert -1 <= rec[f"dps_rho/{m}/l1"] <= 1
        for metric in ("l1", "psnr"):  # a 95 % interval per model, never pooled across models
            lo, hi = rec[f"dps_efficiency_ci/{m}/{metric}"]
            assert lo < rec[f"dps_efficiency/{m}/{metric}"] < hi, (m, metric)
    assert not any("pooled" in k for k in rec)
