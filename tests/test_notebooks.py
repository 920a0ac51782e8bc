"""The structure findings' notebooks run end to end through the runner (ci profile) and record
numbers that say what the paper says."""

from __future__ import annotations

import pytest

import antinb
from antinb.book import runner

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("executed")


def _models():
    return [m for m in ("fashion-mnist-cond", "mnist", "photo-patches") if m in antinb.available()]


def test_01_correlation(out):
    models = _models()
    stamp = runner.run("01_correlation", profile="ci", parameters={"models": models}, output_dir=out)
    rec = stamp["records"]
    for m in models:
        for sampler in ("ddim", "ddpm"):
            pn = rec[f"corr_mean/{m}/{sampler}/pn/centered"]
            rr = rec[f"corr_mean/{m}/{sampler}/rr/centered"]
            assert pn < -0.2, (m, sampler, pn)  # clearly negative
            assert abs(rr) < 0.25, (m, sampler, rr)  # about zero (12 pairs in the ci profile)
            assert rec[f"corr_mean/{m}/{sampler}/pn/standard"] < rec[f"corr_mean/{m}/{sampler}/rr/standard"]
        # negating only z under DDPM loses most of the effect
        assert rec[f"corr_mean/{m}/ddpm/pn(zonly)/centered"] > rec[f"corr_mean/{m}/ddpm/pn/centered"]
        # half negation: the negated top half is anti-correlated, the shared bottom half positively
        assert rec[f"halfneg_top_pixel_corr/{m}"] < 0 < rec[f"halfneg_bottom_pixel_corr/{m}"]
    assert any(k.startswith("guidance_corr_centered/pn/") for k in rec)


def test_02_timestep_evolution(out):
    models = _models()
    stamp = runner.run("02_timestep_evolution", profile="ci", parameters={"models": models}, output_dir=out)
    rec = stamp["records"]
    for m in models:
        for sampler in ("ddim", "ddpm"):
            key = f"{m}/{sampler}"
            assert rec[f"traj_x_first/{key}"] == pytest.approx(-1.0, abs=1e-6)  # exact at t = T
            assert rec[f"traj_eps_first/{key}"] < -0.9
            assert rec[f"traj_x_mid/{key}"] < -0.5  # still strongly negative half way
            assert rec[f"traj_x_last/{key}"] > rec[f"traj_x_mid/{key}"]  # rises at the end


def test_03_symmetry(out):
    models = _models()
    stamp = runner.run("03_symmetry", profile="ci", parameters={"models": models}, output_dir=out)
    rec = stamp["records"]
    for m in models:
        assert 0.0 <= rec[f"as_q10/{m}"] <= rec[f"as_mean/{m}"] <= 1.0
        assert rec[f"as_mean/{m}"] > 0.8  # far from an even function (0)
        assert 0.0 < rec[f"residual_mean/{m}"] < 1.0
    assert (out / "03_symmetry.ipynb").exists() and runner.is_stale(out / "03_symmetry.ipynb") is None
