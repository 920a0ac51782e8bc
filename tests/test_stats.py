"""Tests for antinb.stats: correlation identities, CI coverage, efficiency, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats as sps

from antinb import noise, stats

# --------------------------------------------------------------------------- correlation


def test_pearson_identities():
    x = torch.randn(5, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    assert torch.all(stats.pearson(x, -x) == -1.0)
    assert torch.all(stats.pearson(x, x) == 1.0)
    torch.testing.assert_close(
        stats.pearson(x, 2.5 * x + 3.0), torch.ones(5, dtype=torch.float64), rtol=0, atol=1e-12
    )
    torch.testing.assert_close(
        stats.pearson(x, -0.5 * x + 1.0), -torch.ones(5, dtype=torch.float64), rtol=0, atol=1e-12
    )


def test_pearson_matches_numpy_plain_and_centered():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(6, 2, 5, 5, generator=gen)
    y = 0.3 * x + torch.randn(6, 2, 5, 5, generator=gen)
    center = torch.randn(2, 5, 5, generator=gen) * 2.0
    r = stats.pearson(x, y).numpy()
    rc = stats.pearson(x, y, center=center).numpy()
    xn, yn, cn = x.double().numpy(), y.double().numpy(), center.double().numpy()
    for i in range(6):
        assert r[i] == pytest.approx(np.corrcoef(xn[i].ravel(), yn[i].ravel())[0, 1], abs=1e-12)
        ref = np.corrcoef((xn[i] - cn).ravel(), (yn[i] - cn).ravel())[0, 1]
        assert rc[i] == pytest.approx(ref, abs=1e-12)
    assert not np.allclose(r, rc)  # centering matters here


def test_pearson_of_a_constant_row_is_nan():
    a = torch.ones(1, 4)
    assert torch.isnan(stats.pearson(a, torch.arange(4.0)[None])).all()


def test_pair_correlation_of_pn_and_rr_pairs():
    z = noise.antithetic(64, (3, 8, 8), seed=0).z
    assert torch.all(stats.pair_correlation(z) == -1.0)
    # RR pairs around a shared mean image: positive standard, about 0 centered (science.md §2)
    pattern = torch.linspace(-2, 2, 3 * 8 * 8).reshape(3, 8, 8)
    x = pattern + 0.5 * noise.independent(512, (3, 8, 8), seed=1).z
    standard = stats.pair_correlation(x)
    centered = stats.pair_correlation(x, centered=True)
    assert standard.shape == (256,)
    assert standard.mean().item() > 0.8  # 4/3 / (4/3 + 1/4) = 0.84
    assert abs(centered.mean().item()) < 0.02
    ref = stats.pearson(x[0::2], x[1::2], center=x.mean(0))
    torch.testing.assert_close(centered, ref)
    explicit = stats.pair_correlation(x, centered=True, mean_image=pattern)
    assert abs(explicit.mean().item()) < 0.02


def test_pair_correlation_of_simplex_groups():
    z = noise.simplex(3 * 64, (256,), 3, seed=2).z
    r = stats.pair_correlation(z, group_size=3)
    assert r.shape == (64,)
    assert r.mean().item() == pytest.approx(-0.5, abs=0.02)


def test_mean_image():
    x = torch.arange(12.0).reshape(3, 2, 2)
    torch.testing.assert_close(stats.mean_image(x), torch.tensor([[4.0, 5.0], [6.0, 7.0]]).double())


# --------------------------------------------------------------------------- estimates


def test_mc_interval_pinned():
    e = stats.mc([1.0, 2.0, 3.0, 4.0])
    half = sps.t.ppf(0.975, 3) * np.std([1, 2, 3, 4], ddof=1) / 2.0
    assert e.estimate == 2.5
    assert e.half_width == pytest.approx(2.05426, abs=1e-5) and e.half_width == pytest.approx(half)
    assert (e.ci_low, e.ci_high) == pytest.approx((2.5 - half, 2.5 + half))
    assert (e.n, e.n_units, e.level, e.method) == (4, 4, 0.95, "MC")
    assert e.unit_sd == pytest.approx(1.2909944)
    assert str(e) == "MC: 2.5 [0.4457, 4.554] (95% skew-t interval, n=4, 4 units)"  # symmetric: = t


@pytest.mark.parametrize(
    "method, kwargs, label, units",
    [
        ("mc", {}, "MC", 48),
        ("amc", {}, "AMC", 24),
        ("kamc", {"k": 4}, "K-AMC(K=4)", 12),
        ("rqmc", {"replicates": 16}, "RQMC(R=16)", 16),
    ],
)
def test_estimate_fields_are_consistent(method, kwargs, label, units):
    values = np.random.default_rng(0).normal(size=48)
    e = stats.estimate_ci(values, method, level=0.9, interval="t", **kwargs)
    assert e.method == label and e.n == 48 and e.n_units == units and e.level == 0.9 and e.interval == "t"
    assert e.ci_low < e.estimate < e.ci_high
    assert e.length == pytest.approx(2 * e.half_width)
    assert e.ci_high - e.ci_low == pytest.approx(e.length)
    # the default interval holds the t-interval and extends it towards the long tail only
    d = stats.estimate_ci(values, method, level=0.9, **kwargs)
    assert d.interval == "skew-t" and d.ci_low <= e.ci_low and d.ci_high >= e.ci_high
    assert (d.estimate, d.half_width, d.length, d.unit_sd) == (e.estimate, e.half_width, e.length, e.unit_sd)
    assert d.ci_low == pytest.approx(e.ci_low) or d.ci_high == pytest.approx(e.ci_high)
    assert e.estimate == pytest.approx(values.mean())
    assert e.covers(e.estimate) and not e.covers(e.ci_high + 1e-9)
    unit_values = values.reshape(units, -1).mean(axis=1)
    assert e.unit_sd == pytest.approx(unit_values.std(ddof=1))
    q = sps.t.ppf(0.95, units - 1)
    assert e.half_width == pytest.approx(q * e.unit_sd / math.sqrt(units))
    # the same through the direct function and from a tensor or a list
    direct = {"mc": stats.mc, "amc": stats.amc, "kamc": stats.kamc, "rqmc": stats.rqmc}[method]
    args = list(kwargs.values())
    assert direct(torch.tensor(values), *args, level=0.9, interval="t") == e
    assert direct(values.tolist(), *args, level=0.9) == d


# Coverage of the 95% intervals on a closed-form target. S(z) = z0 + 0.5 z1 + 0.3 z0 z1 + 0.2 z2^2
# with z ~ N(0, I_3) has E[S] = 0.2 exactly. Noise comes from the antinb.noise designs; every
# repetition is one independent estimate of n = 32 images. Tolerance: with 2,000 repetitions the
# binomial sd of the coverage rate is sqrt(0.95 * 0.05 / 2000) = 0.49%, so +-2% is about 4 sd. The
# seeds are fixed, so the test is deterministic. A numpy simulation with 100,000 repetitions gives
# true coverages of 94.8% (MC), 94.4% (AMC) and 94.9% (K-AMC) for this S and n: the t interval is
# only asymptotically exact for these non-Gaussian units, and the margin covers that too.
MU = 0.2
N_PER_REP = 32


def _statistic(z: torch.Tensor) -> np.ndarray:
    z = z.double().numpy()
    return z[..., 0] + 0.5 * z[..., 1] + 0.3 * z[..., 0] * z[..., 1] + 0.2 * z[..., 2] ** 2


@pytest.mark.parametrize(
    "method, reps, draw, kwargs",
    [
        ("mc", 2000, lambda n: noise.independent(n, (3,), seed=100), {}),
        ("amc", 2000, lambda n: noise.antithetic(n, (3,), seed=101), {}),
        ("kamc", 2000, lambda n: noise.simplex(n, (3,), 4, seed=102), {"k": 4}),
        ("rqmc", 2000, lambda n: noise.rqmc(n, (3,), n // 2, seed=103), {"replicates": 16}),
    ],
)
def test_confidence_intervals_cover_at_nominal_rate(method, reps, draw, kwargs):
    values = _statistic(draw(reps * N_PER_REP).z).reshape(reps, N_PER_REP)
    # the generated batches are unit-major, so each row of `values` is one design of n = 32
    covered = [stats.estimate_ci(v, method, **kwargs).covers(MU) for v in values]
    rate = float(np.mean(covered))
    assert abs(rate - 0.95) <= 0.02, f"{method}: coverage {rate:.3f}"


def test_amc_of_a_linear_statistic_has_zero_width():
    z = noise.antithetic(64, (5,), seed=3).z.double()
    a = torch.tensor([1.0, -2.0, 0.5, 3.0, 0.0], dtype=torch.float64)
    values = 2.0 + z @ a  # S(z) + S(-z) = 4 exactly: every pair mean is 2
    e = stats.amc(values)
    assert e.estimate == pytest.approx(2.0, abs=1e-14)
    assert e.half_width < 1e-13
    assert stats.pair_value_correlation(values) == pytest.approx(-1.0, abs=1e-12)
    ref = stats.mc(2.0 + noise.independent(64, (5,), seed=3).z.double() @ a)
    assert stats.relative_efficiency(ref, e) > 1e10


def test_relative_efficiency_monotone_versus_even_statistic():
    n = 2000
    z_pn = noise.antithetic(n, (2,), seed=5).z.double()
    z_mc = noise.independent(n, (2,), seed=6).z.double()

    def monotone(z):  # exp(z0 / 2): rho = -exp(-1/4) = -0.78, efficiency 1/(1+rho) = 4.5
        return torch.exp(0.5 * z[:, 0])

    def even(z):  # z0^2: S(z) = S(-z), rho = 1, efficiency 1/2 (the honest limitation)
        return z[:, 0] ** 2

    eff_monotone = stats.relative_efficiency(stats.mc(monotone(z_mc)), stats.amc(monotone(z_pn)))
    eff_even = stats.relative_efficiency(stats.mc(even(z_mc)), stats.amc(even(z_pn)))
    assert eff_monotone > 2.5
    assert eff_even < 0.8
    assert stats.pair_value_correlation(monotone(z_pn)) == pytest.approx(-math.exp(-0.25), abs=0.05)
    assert stats.pair_value_correlation(even(z_pn)) == pytest.approx(1.0, abs=1e-12)


def test_amc_variance_identity():
    # Var(pair mean) = Var(S) (1 + rho) / 2, with rho = corr(S(z), S(-z))
    values = torch.tanh(noise.antithetic(4000, (1,), seed=7).z.double()[:, 0] + 0.5)
    rho = stats.pair_value_correlation(values)
    e = stats.amc(values)
    assert -1.0 < rho < 0.0
    assert e.unit_sd**2 == pytest.approx(values.var().item() * (1 + rho) / 2, rel=0.02)


def test_kamc_group_correlation_of_a_linear_statistic():
    z = noise.simplex(4 * 500, (3,), 4, seed=9).z.double()
    values = z @ torch.tensor([1.0, 2.0, -1.0], dtype=torch.float64)
    assert stats.pair_value_correlation(values, group_size=4) == pytest.approx(-1 / 3, abs=0.05)
    # the group sum of a linear S is 0 (up to the float32 rounding of the noise)
    assert stats.kamc(values, 4).half_width < 1e-6
    assert stats.mc(values).half_width > 0.1


def test_relative_efficiency_is_length_ratio_squared():
    ref = stats.mc(np.random.default_rng(0).normal(size=64))
    other = stats.amc(np.random.default_rng(1).normal(scale=0.5, size=64))
    assert stats.relative_efficiency(ref, other) == pytest.approx((ref.length / other.length) ** 2)
    assert stats.relative_efficiency(ref, ref) == 1.0


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: stats.mc([1.0, 2.0, 3.0], level=0.0), "level=0.0"),
        (lambda: stats.mc([1.0, 2.0, 3.0], level=1.0), "level=1.0"),
        (lambda: stats.mc([1.0, 2.0, 3.0], level=95), "level=95"),
        (lambda: stats.mc([1.0, float("nan"), 3.0]), "NaN"),
        (lambda: stats.mc(np.ones((2, 3))), "values"),
        (lambda: stats.mc([1.0]), "n_units=1"),
        (lambda: stats.amc([1.0, 2.0]), "n_units=1"),
        (lambda: stats.amc([1.0, 2.0, 3.0]), "len\\(values\\)=3.*group_size=2"),
        (lambda: stats.kamc(np.ones(10), 4), "len\\(values\\)=10.*k=4"),
        (lambda: stats.kamc(np.ones(8), 1), "k=1"),
        (lambda: stats.rqmc(np.ones(10), 4), "len\\(values\\)=10.*replicates=4"),
        (lambda: stats.rqmc(np.ones(10), 1), "replicates=1"),
        (lambda: stats.estimate_ci(np.ones(8), "qmc"), "method='qmc'.*rqmc"),
        (lambda: stats.estimate_ci(np.ones(8), "kamc"), "k is required"),
        (lambda: stats.estimate_ci(np.ones(8), "mc", k=2), "k=2"),
        (lambda: stats.relative_efficiency(stats.mc(np.arange(4.0)), stats.mc(np.arange(6.0))),
         "n must be equal.*n=4"),
        (lambda: stats.pair_value_correlation(np.ones(5)), "group_size=2"),
        (lambda: stats.pair_value_correlation(np.ones(4), group_size=1), "group_size=1"),
        (lambda: stats.pair_correlation(torch.ones(5, 3)), "group_size=2"),
        (lambda: stats.pair_correlation(torch.ones(4, 3), mean_image=torch.ones(3)), "centered"),
        (lambda: stats.pearson(torch.ones(2, 3), torch.ones(3, 3)), "same shape"),
        (lambda: stats.pearson(torch.ones(2, 3), torch.ones(2, 3), center=torch.ones(2)), "center"),
    ],
)
def test_bad_input_raises_value_error_naming_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- structure helpers


def test_antisymmetry_score_exact_cases():
    s = np.linspace(-1, 1, 21)
    assert stats.antisymmetry_score(3 * s + 2, s) == pytest.approx(1.0)
    assert stats.antisymmetry_score(np.sin(2 * s) - 0.4, s) == pytest.approx(1.0)  # odd plus a constant
    assert stats.antisymmetry_score(s**2, s) == pytest.approx(0.0, abs=1e-12)  # even
    mixed = stats.antisymmetry_score(s + 0.5 * s**2, s)
    assert 0.5 < mixed < 0.99
    batch = stats.antisymmetry_score(np.stack([s, s**2, np.cos(s)]), s)
    assert batch.shape == (3,) and batch[0] == pytest.approx(1) and abs(batch[1]) < 1e-12
    with pytest.raises(ValueError, match="symmetric"):
        stats.antisymmetry_score(s, np.linspace(0, 1, 21))


def test_pixel_correlation_map():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(200, 1, 4, 4, generator=g)
    x = torch.stack([z, -z], 1).flatten(0, 1)  # exact negation: -1 everywhere
    x[1::2, 0, :2] = x[0::2, 0, :2]  # top half: identical partners, +1
    m = stats.pixel_correlation_map(x)
    assert m.shape == (1, 4, 4)
    torch.testing.assert_close(m[0, :2], torch.ones(2, 4))
    torch.testing.assert_close(m[0, 2:], -torch.ones(2, 4))


def test_efficiency_interval_is_the_f_interval_and_covers_its_point():
    rng = np.random.default_rng(0)
    ref, other = stats.mc(rng.normal(size=64)), stats.amc(rng.normal(size=64))
    value, low, high = stats.efficiency_interval(ref, other)
    assert value == stats.relative_efficiency(ref, other) and low < value < high
    c = (stats.t_half_width(1.0, 64) / stats.t_half_width(1.0, 32)) ** 2
    f_obs = (ref.unit_sd / other.unit_sd) ** 2
    from scipy.stats import f
    assert low == pytest.approx(c * f_obs / f.ppf(0.975, 63, 31)) and high == pytest.approx(c * f_obs / f.ppf(0.025, 63, 31))
    assert stats.f_bounds(2.0, 10, 10) == pytest.approx((2.0 / f.ppf(0.975, 10, 10), 2.0 / f.ppf(0.025, 10, 10)))
