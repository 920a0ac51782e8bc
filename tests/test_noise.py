"""Tests for antinb.noise: exact identities first, then distributions, then validation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import torch
from scipy import stats as sps

from antinb import noise
from antinb.stats import pearson

SHAPE = (3, 4, 4)


# --------------------------------------------------------------------------- antithetic


def test_antithetic_rows_are_exact_negations_with_correlation_minus_one():
    b = noise.antithetic(16, SHAPE, seed=1)
    assert b.z.shape == (16, *SHAPE) and b.z.dtype == torch.float32
    assert torch.equal(b.z[1::2], -b.z[0::2])
    r = pearson(b.z[0::2], b.z[1::2])
    assert r.shape == (8,)
    assert torch.all(r == -1.0)  # exactly -1 in floating point, not just close


def test_batch_metadata():
    b = noise.simplex(12, SHAPE, 3, seed=5, start=7)
    assert (b.design, b.group_size, b.seed, b.start, len(b), b.n_groups) == (
        "simplex", 3, 5, 7, 12, 4
    )
    assert b.shape == SHAPE
    assert b.groups.tolist() == [7, 7, 7, 8, 8, 8, 9, 9, 9, 10, 10, 10]
    assert b.groups.dtype == torch.int64
    r = noise.rqmc(12, (5,), 3, seed=0)
    assert (r.group_size, r.n_groups) == (4, 3)
    assert r.groups.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert noise.independent(3, (2,)).groups.tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    "make_full, make_chunk, rows",
    [
        (lambda: noise.antithetic(8, SHAPE, seed=3),
         lambda: noise.antithetic(4, SHAPE, seed=3, start=2), slice(4, 8)),
        (lambda: noise.independent(9, SHAPE, seed=3),
         lambda: noise.independent(4, SHAPE, seed=3, start=5), slice(5, 9)),
        (lambda: noise.simplex(12, SHAPE, 3, seed=3),
         lambda: noise.simplex(6, SHAPE, 3, seed=3, start=2), slice(6, 12)),
        (lambda: noise.rqmc(32, SHAPE, 4, seed=3),
         lambda: noise.rqmc(16, SHAPE, 2, seed=3, start=2), slice(16, 32)),
        (lambda: noise.rqmc(32, (1, 8, 8), 4, seed=3, max_qmc_dims=16),
         lambda: noise.rqmc(16, (1, 8, 8), 2, seed=3, start=2, max_qmc_dims=16), slice(16, 32)),
    ],
)
def test_noise_of_a_group_does_not_depend_on_batch_size_or_chunking(make_full, make_chunk, rows):
    full, chunk = make_full(), make_chunk()
    assert torch.equal(full.z[rows], chunk.z)
    assert torch.equal(full.groups[rows], chunk.groups)


def test_seed_and_start_change_the_noise():
    a = noise.antithetic(4, SHAPE, seed=0).z
    assert not torch.equal(a, noise.antithetic(4, SHAPE, seed=1).z)
    assert not torch.equal(a, noise.antithetic(4, SHAPE, seed=0, start=1).z)
    assert torch.equal(a, noise.antithetic(4, SHAPE, seed=0).z)  # deterministic
    # pairs are different draws, not copies of one another
    assert not torch.equal(a[0], a[2])


# --------------------------------------------------------------------------- simplex


@pytest.mark.parametrize("member", [0, 3])
def test_simplex_members_are_standard_normal(member):
    k, groups, d = 4, 64, 256
    z = noise.simplex(k * groups, (d,), k, seed=2).z.reshape(groups, k, d).double()
    x = z[:, member].reshape(-1).numpy()  # 16,384 coordinates
    assert sps.kstest(x, "norm").pvalue > 0.001
    assert abs(x.mean()) < 0.04  # sd of the mean 0.008
    assert abs(x.var() - 1.0) < 0.05  # sd of the variance 0.011


def test_simplex_pairwise_correlation_and_zero_sum():
    k, groups, d = 4, 64, 256
    z = noise.simplex(k * groups, (d,), k, seed=4).z.reshape(groups, k, d).double()
    for i, j in [(0, 1), (1, 3), (2, 3)]:
        r = np.corrcoef(z[:, i].reshape(-1), z[:, j].reshape(-1))[0, 1]
        assert r == pytest.approx(-1.0 / (k - 1), abs=0.03)  # sd of r about 0.006
    # rows of a group sum to zero up to float32 rounding
    assert z.sum(dim=1).abs().max() < 1e-5
    # per row (pixel-wise) correlation through stats.pearson as well
    assert pearson(z[:, 0], z[:, 1]).mean().item() == pytest.approx(-1 / 3, abs=0.03)


def test_simplex_k2_is_antithetic():
    z = noise.simplex(10, SHAPE, 2, seed=8).z
    torch.testing.assert_close(z[1::2], -z[0::2], rtol=0, atol=1e-6)
    assert abs(z.double().var().item() - 1.0) < 0.3  # scaled to unit variance, not 1/2


# --------------------------------------------------------------------------- rqmc


def _stratified(u: np.ndarray) -> bool:
    """Whether m values in [0, 1) fall one in each of the m cells [j/m, (j+1)/m)."""
    m = u.size
    return np.array_equal(np.sort(np.floor(u * m)), np.arange(m))


@pytest.mark.parametrize("shape, max_dims", [((3, 8, 8), noise.MAX_SOBOL_DIMS), ((1, 8, 8), 16)])
def test_rqmc_marginals_are_standard_normal(shape, max_dims):
    z = noise.rqmc(256, shape, 4, seed=1, max_qmc_dims=max_dims).z.double()
    x = z.reshape(-1).numpy()
    assert abs(x.mean()) < 0.02
    assert abs(x.var() - 1.0) < 0.03
    assert sps.kstest(x, "norm").pvalue > 0.001
    assert np.isfinite(x).all()


def test_rqmc_sobol_branch_is_stratified_in_every_coordinate():
    m = 64
    z = noise.rqmc(4 * m, (3, 8, 8), 4, seed=2).z.reshape(4, m, -1).double().numpy()
    u = sps.norm.cdf(z)
    # the first 2^k points of a scrambled Sobol' sequence stratify every 1-D projection exactly
    for r in range(4):
        for coord in (0, 100, 191):
            assert _stratified(u[r, :, coord])


def test_rqmc_dct_branch_puts_qmc_on_low_frequencies():
    m = 64
    z = noise.rqmc(4 * m, (1, 8, 8), 4, seed=2, max_qmc_dims=16).z.double().numpy()
    coeff = scipy.fft.dctn(z, axes=(2, 3), norm="ortho").reshape(4, m, 8, 8)
    u = sps.norm.cdf(coeff)
    for r in range(4):
        assert _stratified(u[r, :, 0, 0])  # DC (brightness): QMC
        assert _stratified(u[r, :, 1, 2])  # level 3: among the 16 lowest
        # highest frequency: plain MC; 64 iid points are one-per-cell with prob 64!/64^64 ~ 1e-27
        assert not _stratified(u[r, :, 7, 7])


def test_rqmc_replicates_are_independent():
    reps = 200
    z = noise.rqmc(4 * reps, (2,), reps, seed=6).z.reshape(reps, 4, 2).double()
    means = z[:, :, 0].mean(dim=1).numpy()
    assert abs(np.corrcoef(means[:-1], means[1:])[0, 1]) < 0.25  # sd about 0.07
    assert len(np.unique(means)) == reps


def _replicate_mean_variance(z: torch.Tensor, f, groups: int) -> float:
    values = f(z.reshape(z.shape[0], -1).double())
    return values.reshape(groups, -1).mean(dim=1).var().item()


def test_rqmc_reduces_variance_on_a_smooth_integrand():
    # f(z) = exp(0.3 * mean of 8 coordinates) + linear + quadratic terms; QMC m = 64 points.
    def f(x):
        return torch.exp(0.3 * x[:, :8].mean(1)) + x[:, 0] + 0.5 * (x[:, 1] ** 2 - 1)

    reps, m = 64, 64
    v_qmc = _replicate_mean_variance(noise.rqmc(reps * m, (8,), reps, seed=0).z, f, reps)
    v_mc = _replicate_mean_variance(noise.independent(reps * m, (8,), seed=0).z, f, reps)
    assert v_mc / v_qmc > 2.0


def test_rqmc_dct_branch_reduces_variance_of_brightness():
    # brightness (pixel mean) of a 1x8x8 noise image is u_00 / 8: a QMC coordinate of the DCT design
    def f(x):
        return torch.exp(4.0 * x.mean(1))

    reps, m = 64, 64
    shape = (1, 8, 8)
    batch = noise.rqmc(reps * m, shape, reps, seed=0, max_qmc_dims=16)
    v_qmc = _replicate_mean_variance(batch.z, f, reps)
    v_mc = _replicate_mean_variance(noise.independent(reps * m, shape, seed=0).z, f, reps)
    assert v_mc / v_qmc > 2.0


def test_rqmc_non_power_of_two_warns_but_works():
    with pytest.warns(UserWarning):
        z = noise.rqmc(12, (2,), 2, seed=0).z
    assert z.shape == (12, 2) and torch.isfinite(z).all()


# --------------------------------------------------------------------------- make


@pytest.mark.parametrize(
    "design, kwargs, direct",
    [
        ("independent", {}, lambda: noise.independent(8, SHAPE, seed=4, start=1)),
        ("antithetic", {}, lambda: noise.antithetic(8, SHAPE, seed=4, start=1)),
        ("simplex", {"k": 4}, lambda: noise.simplex(8, SHAPE, 4, seed=4, start=1)),
        ("rqmc", {"replicates": 2}, lambda: noise.rqmc(8, SHAPE, 2, seed=4, start=1)),
    ],
)
def test_make_dispatches_to_the_design(design, kwargs, direct):
    b = noise.make(design, 8, SHAPE, seed=4, start=1, **kwargs)
    expected = direct()
    assert b.design == design
    assert torch.equal(b.z, expected.z)
    assert b.group_size == expected.group_size


# --------------------------------------------------------------------------- step noise


def test_step_noise_is_mirrored_in_antithetic_pairs():
    b = noise.antithetic(8, SHAPE, seed=0)
    sn = noise.StepNoise(b)
    xi = sn(0)
    assert xi.shape == (8, *SHAPE) and xi.dtype == torch.float32
    assert torch.equal(xi[1::2], -xi[0::2])
    assert not torch.equal(xi, sn(1))  # fresh noise each step
    assert torch.equal(xi, sn(0))  # deterministic
    assert not torch.equal(xi, b.z)  # a different stream from the initial noise
    assert not torch.equal(xi, noise.StepNoise(b, seed=1)(0))


def test_step_noise_is_a_simplex_in_simplex_groups():
    k, groups, d = 3, 32, 128
    sn = noise.StepNoise(noise.simplex(k * groups, (d,), k, seed=0))
    xi = sn(5).reshape(groups, k, d).double()
    assert xi.sum(dim=1).abs().max() < 1e-5
    r = np.corrcoef(xi[:, 0].reshape(-1), xi[:, 2].reshape(-1))[0, 1]
    assert r == pytest.approx(-0.5, abs=0.04)
    assert abs(xi.var().item() - 1.0) < 0.05


@pytest.mark.parametrize(
    "batch", [noise.independent(64, (64,), seed=0), noise.rqmc(64, (64,), 4, seed=0)]
)
def test_step_noise_rows_are_independent_for_independent_and_rqmc(batch):
    xi = noise.StepNoise(batch)(2).double()
    r = pearson(xi[0::2], xi[1::2])
    assert abs(r.mean().item()) < 0.1  # 32 pairs of 64 coordinates: sd about 0.02
    assert abs(xi.mean().item()) < 0.05 and abs(xi.var().item() - 1.0) < 0.1


@pytest.mark.parametrize(
    "full, chunk, offset",
    [
        (noise.antithetic(8, SHAPE, seed=3), noise.antithetic(4, SHAPE, seed=3, start=2), 4),
        (noise.simplex(12, SHAPE, 3, seed=3), noise.simplex(6, SHAPE, 3, seed=3, start=2), 6),
        (noise.independent(6, SHAPE, seed=3), noise.independent(2, SHAPE, seed=3, start=4), 4),
        (noise.rqmc(16, SHAPE, 4, seed=3), noise.rqmc(8, SHAPE, 2, seed=3, start=2), 8),
    ],
)
def test_step_noise_depends_only_on_seed_group_and_step(full, chunk, offset):
    a, b = noise.StepNoise(full), noise.StepNoise(chunk)
    for step in (0, 7):
        xi = a(step)
        assert torch.equal(xi[offset:], b(step))
        # chunked access, also across group boundaries, gives the same rows
        for rows in (slice(1, 3), slice(offset - 1, offset + 2), slice(0, len(full)), slice(3, 3)):
            assert torch.equal(a(step, rows), xi[rows])


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: noise.antithetic(7, SHAPE), "n=7"),
        (lambda: noise.independent(0, SHAPE), "n=0"),
        (lambda: noise.independent(2.0, SHAPE), "n=2.0"),
        (lambda: noise.independent(4, ()), "shape="),
        (lambda: noise.independent(4, (3, 0)), "shape="),
        (lambda: noise.independent(4, SHAPE, seed=-1), "seed=-1"),
        (lambda: noise.antithetic(4, SHAPE, start=-2), "start=-2"),
        (lambda: noise.simplex(8, SHAPE, 1), "k=1"),
        (lambda: noise.simplex(10, SHAPE, 4), "n=10"),
        (lambda: noise.rqmc(8, SHAPE, 1), "replicates=1"),
        (lambda: noise.rqmc(10, SHAPE, 4), "n=10"),
        (lambda: noise.rqmc(8, SHAPE, 2, max_qmc_dims=0), "max_qmc_dims=0"),
        (lambda: noise.rqmc(8, SHAPE, 2, max_qmc_dims=30000), "max_qmc_dims=30000"),
        (lambda: noise.make("sobol", 4, SHAPE), "design='sobol'.*antithetic"),
        (lambda: noise.make("simplex", 4, SHAPE), "k is required"),
        (lambda: noise.make("rqmc", 4, SHAPE), "replicates is required"),
        (lambda: noise.make("antithetic", 4, SHAPE, k=4), "k=4"),
        (lambda: noise.StepNoise(noise.antithetic(4, SHAPE))(-1), "step=-1"),
        (lambda: noise.StepNoise(noise.antithetic(4, SHAPE))(0, rows=slice(0, 4, 2)), "rows="),
        (lambda: noise.StepNoise(noise.antithetic(4, SHAPE))(0, rows=[0, 1]), "rows="),
    ],
)
def test_bad_input_raises_value_error_naming_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_designs_registry_lists_all_designs():
    assert set(noise.DESIGNS) == {"independent", "antithetic", "simplex", "rqmc"}
    assert set(noise.METHODS) == {"mc", "amc", "kamc", "rqmc"}
    assert set(noise.METHODS) == set(__import__("antinb.stats", fromlist=["x"]).ESTIMATORS)


@pytest.mark.parametrize("name,method,param,default", [("independent", "mc", None, None),
                                                       ("antithetic", "amc", None, None),
                                                       ("simplex", "kamc", "k", 4),
                                                       ("rqmc", "rqmc", "replicates", 16)])
def test_design_registry_is_one_record_per_design(name, method, param, default):
    d = noise.design(name)
    assert noise.design(method) is d and d.method == method and d.param == param and d.default == default
    assert d.kwargs() == ({} if param is None else {param: default})


def test_design_group_sizes_match_the_drawn_batches():
    for name, value, n in (("independent", None, 8), ("antithetic", None, 8), ("simplex", 4, 8), ("rqmc", 4, 16)):
        d = noise.design(name)
        batch = noise.make(name, n, SHAPE, **d.kwargs(value))
        assert d.group_size(n, value) == batch.group_size


def test_design_registry_refuses_unknown_names_and_parameters():
    with pytest.raises(ValueError, match="design='nope'"):
        noise.design("nope")
    with pytest.raises(ValueError, match="k=1"):
        noise.design("simplex").check(1)
    with pytest.raises(ValueError, match="not a parameter of design='antithetic'"):
        noise.design("antithetic").check(3)
    with pytest.raises(ValueError, match="multiple of replicates=3"):
        noise.design("rqmc").group_size(16, 3)


def test_step_noise_rows_follow_the_registry():
    """Antithetic and simplex step noise is mirrored inside a group like z; RQMC step noise is iid."""
    anti = noise.StepNoise(noise.antithetic(4, SHAPE))(3)
    assert torch.equal(anti[0::2], -anti[1::2])
    simp = noise.StepNoise(noise.simplex(8, SHAPE, k=4))(3)
    assert torch.allclose(simp.reshape(2, 4, -1).sum(1), torch.zeros(2, simp[0].numel()), atol=1e-5)
    rq = noise.StepNoise(noise.rqmc(8, SHAPE, 2))(3)
    assert rq.reshape(8, -1).sum(0).abs().max() > 1e-3
