"""antinb.estimate: the one call behind the uncertainty findings."""

from __future__ import annotations

import pytest
import torch

import antinb


def test_amc_beats_mc_on_affine_model(affine_model):
    kw = dict(steps=10, progress=False)
    mc = antinb.estimate("pixel_mean", affine_model, 64, method="mc", **kw)
    amc = antinb.estimate("pixel_mean", affine_model, 64, method="amc", **kw)
    assert mc.method == "MC" and amc.method == "AMC"
    assert mc.n == amc.n == 64 and amc.n_units == 32
    assert amc.half_width < 1e-4 < mc.half_width  # affine model: every pair mean is the same
    assert abs(amc.estimate - mc.estimate) < 3 * mc.half_width


@pytest.mark.parametrize("method, units", [("kamc", 16), ("rqmc", 16), ("mc", 64)])
def test_units_per_method(model, method, units):
    est = antinb.estimate("brightness", model, 64, method=method, steps=3, progress=False)
    assert est.n_units == units and est.ci_low < est.estimate < est.ci_high


def test_callable_statistic_and_run(model):
    run = antinb.estimate(lambda x: x.mean(dim=(1, 2, 3)), model, 8, method="amc", steps=2, progress=False,
                          return_run=True, keep_images=True)
    assert run.values.shape == (8,) and run.images.shape == (8, 1, 8, 8)
    torch.testing.assert_close(run.values, run.images.mean(dim=(1, 2, 3)).double())
    assert run.estimate.estimate == pytest.approx(float(run.values.mean()))


def test_bad_input(model):
    with pytest.raises(ValueError, match="method="):
        antinb.estimate("brightness", model, 8, method="bootstrap", progress=False)
    with pytest.raises(ValueError, match="n=7"):
        antinb.estimate("brightness", model, 7, method="amc", steps=2, progress=False)
    with pytest.raises(ValueError, match="brightnes"):
        antinb.estimate("brightnes", model, 8, steps=2, progress=False)


# --------------------------------------------------------------------------- several statistics, one draw

NAMES = ["brightness", "pixel_mean", "contrast", "centroid_distance"]


@pytest.mark.parametrize("method, kw", [("mc", {}), ("amc", {}), ("kamc", {"k": 4}), ("rqmc", {"replicates": 4})])
def test_several_statistics_equal_single_calls(model, method, kw):
    common = dict(method=method, seed=3, steps=2, progress=False, **kw)
    many = antinb.estimate(NAMES, model, 16, **common)
    assert list(many) == NAMES
    for name in NAMES:
        assert many[name] == antinb.estimate(name, model, 16, **common)  # the same dataclass, bit for bit


def test_several_statistics_share_one_draw(model):
    runs = antinb.estimate({"b": "brightness", "mean": lambda x: x.mean(dim=(1, 2, 3))}, model, 8, method="amc",
                           steps=2, progress=False, return_run=True, keep_images=True)
    assert list(runs) == ["b", "mean"]
    assert runs["b"].images is runs["mean"].images  # generated once
    torch.testing.assert_close(runs["mean"].values, runs["b"].images.mean(dim=(1, 2, 3)).double())
    single = antinb.estimate("brightness", model, 8, method="amc", steps=2, progress=False, return_run=True)
    assert torch.equal(single.values, runs["b"].values) and single.images is None
    assert runs["b"].estimate == single.estimate


def test_several_statistics_bad_input(model, tmp_path):
    with pytest.raises(ValueError, match="empty"):
        antinb.estimate([], model, 8, progress=False)
    with pytest.raises(ValueError, match="twice"):
        antinb.estimate(["brightness", "brightness"], model, 8, progress=False)
    with pytest.raises(ValueError, match="mapping"):
        antinb.estimate(["brightness", lambda x: x.mean(dim=(1, 2, 3))], model, 8, progress=False)
    with pytest.raises(ValueError, match="contrst"):
        antinb.estimate(["brightness", "contrst"], model, 8, progress=False)
    with pytest.raises(ValueError, match="named statistics"):
        antinb.estimate({"b": "brightness", "f": lambda x: x.mean(dim=(1, 2, 3))}, model, 8, store=tmp_path)


def test_several_statistics_from_a_store(tmp_path):
    from diffusers import DDPMScheduler

    from conftest import tiny_unet
    from antinb import models

    folder = tmp_path / "tiny-model"
    tiny_unet().save_pretrained(folder / "unet")
    DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear").save_pretrained(folder / "scheduler")
    kw = dict(method="kamc", k=4, steps=2, progress=False, seed=1)
    stored = antinb.estimate(NAMES, str(folder), 16, store=tmp_path / "store", **kw)
    plain = antinb.estimate(NAMES, models.load(folder, device="cpu"), 16, **kw)
    assert list(stored) == NAMES
    for name in NAMES:
        assert stored[name].n_units == 4
        assert stored[name].estimate == pytest.approx(plain[name].estimate, abs=1e-6)
