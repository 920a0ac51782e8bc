"""antinb.estimate: the one call behind the uncertainty findings."""

from __future__ import annotations

import pytest
import torch

import antinb
from antinb import stats


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
