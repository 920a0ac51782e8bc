"""Recipes of the application notebooks (04-06): budgets, repetitions, coverage range, per-pixel CIs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import antinb
from antinb import metrics, models, noise, stats


def test_dataset_of_embedded_and_foreign(model):
    for name in antinb.available():
        ds = models.dataset_of(antinb.load(name, device="cpu"))
        assert ds in ("fashion-mnist", "mnist", "photo-patches"), (name, ds)
    assert models.dataset_of(model) is None  # the tiny test model has no training record


def test_dataset_of_a_copied_folder_reads_its_training_record(tmp_path):
    """A snapshot or a copy of a trained folder: the path and the model loaded from it name the same data set."""
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(models.weights_dir("mnist"), folder)
    assert models.dataset_of(folder) == "mnist"
    loaded = antinb.load(str(folder), device="cpu")
    assert loaded.name not in models.EMBEDDED and models.dataset_of(loaded) == "mnist"
    (folder / "training.json").unlink()
    assert models.dataset_of(folder) is None


@pytest.mark.parametrize("method, kw, unit", [("mc", {}, 1), ("amc", {}, 2), ("kamc", {"k": 4}, 4)])
def test_prefix_estimate_is_the_estimate_of_the_first_values(method, kw, unit):
    v = torch.randn(64, dtype=torch.float64)
    est = stats.prefix_estimate(v, method, 16, **kw)
    ref = stats.estimate_ci(v[:16], method, **kw)
    assert est == ref and est.n == 16 and est.n_units == 16 // unit
    assert stats.prefix_estimate(v, method, 64, **kw) == stats.estimate_ci(v, method, **kw)


def test_prefix_estimate_rqmc_keeps_every_replicate():
    v = torch.arange(64, dtype=torch.float64)  # 4 replicates of 16 rows
    est = stats.prefix_estimate(v, "rqmc", 16, replicates=4)
    kept = torch.cat([v[r * 16: r * 16 + 4] for r in range(4)])
    assert est == stats.rqmc(kept, 4) and est.n_units == 4


def test_prefix_rqmc_matches_a_fresh_smaller_design():
    """The first n/R points of each scrambled Sobol' replicate equal a fresh draw of that size."""
    big = noise.rqmc(64, (1, 2, 2), 4, seed=3).z.reshape(4, 16, -1)
    small = noise.rqmc(16, (1, 2, 2), 4, seed=3).z.reshape(4, 4, -1)
    torch.testing.assert_close(big[:, :4], small)


@pytest.mark.parametrize("args, match", [
    (("amc", 15), "multiple"), (("mc", 0), "n="), (("kamc", 8), "k is required"),
    (("rqmc", 12), "power of two"), (("boot", 8), "method="),
])
def test_prefix_estimate_bad_input(args, match):
    kw = {"replicates": 4} if args[0] == "rqmc" else {}
    with pytest.raises(ValueError, match=match):
        stats.prefix_estimate(torch.randn(32), *args, **kw)


def test_block_estimates_are_independent_runs():
    v = torch.randn(48, dtype=torch.float64)
    blocks = stats.block_estimates(v, "amc", 16)
    assert len(blocks) == 3 and all(b.n == 16 and b.n_units == 8 for b in blocks)
    assert blocks[1] == stats.amc(v[16:32])
    rq = stats.block_estimates(v, "rqmc", 12, replicates=3)  # 12 replicates of 4 points
    assert len(rq) == 4 and rq[0] == stats.rqmc(v[:12], 3)
    with pytest.raises(ValueError, match="multiple of 4"):
        stats.block_estimates(v, "kamc", 6, k=4)
    with pytest.raises(ValueError, match="block="):
        stats.block_estimates(v, "mc", 7)


def test_blocks_of_iid_normals_cover_at_the_nominal_rate():
    """Exact identity: t-intervals of Gaussian units cover the known mean 95 % of the time."""
    g = torch.Generator().manual_seed(0)
    v = 2.0 + torch.randn(2000 * 8, generator=g, dtype=torch.float64)
    blocks = stats.block_estimates(v, "mc", 8, interval="t")
    cov = np.mean([b.covers(2.0) for b in blocks])
    lo, hi = stats.coverage_band(len(blocks))
    assert lo <= cov <= hi
    # the default skew-t interval holds the t-interval: on symmetric units it is a little conservative
    skew = np.mean([b.covers(2.0) for b in stats.block_estimates(v, "mc", 8)])
    assert cov <= skew <= 0.975


def test_coverage_band():
    lo, hi = stats.coverage_band(40)
    assert 0.8 <= lo < 0.95 < hi <= 1.0
    lo2, hi2 = stats.coverage_band(4000)
    assert lo < lo2 < 0.95 < hi2 < hi  # narrower with more repetitions
    with pytest.raises(ValueError, match="reps"):
        stats.coverage_band(0)


def test_pixelwise_half_width_matches_scalar_estimator():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 1, 3, 3, generator=g)
    for method, kw in (("mc", {}), ("amc", {}), ("kamc", {"k": 4})):
        hw = stats.pixelwise_half_width(x, method, **kw)
        assert hw.shape == (1, 3, 3)
        ref = stats.estimate_ci(x[:, 0, 1, 2].double(), method, **kw).half_width
        assert float(hw[0, 1, 2]) == pytest.approx(ref, rel=1e-5)
    pairs = torch.stack([x[:8], -x[:8]], 1).flatten(0, 1)  # exact antithetic pairs: every pair mean is 0
    assert float(stats.pixelwise_half_width(pairs, "amc").max()) == 0.0
    with pytest.raises(ValueError, match="method="):
        stats.pixelwise_half_width(x, "rqmc")


def test_masked_l1():
    ref = torch.zeros(1, 4, 4)
    x = torch.zeros(2, 1, 4, 4)
    x[0, :, :2] = 1.0  # top half off by 1 in model space = 0.5 on the [0, 1] scale
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1
    torch.testing.assert_close(metrics.masked_l1(x, ref, mask), torch.tensor([0.5, 0.0], dtype=torch.float64))
    torch.testing.assert_close(metrics.masked_l1(x, ref, 1 - mask), torch.zeros(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="no pixel"):
        metrics.masked_l1(x, ref, torch.zeros(1, 1, 4, 4))
