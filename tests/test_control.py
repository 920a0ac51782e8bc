"""AMC with control variates (issue 19, item 3): even controls of the noise with known mean, the
regression estimator, its interval's coverage, and the gain over AMC on a statistic whose even part
follows a control."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import scipy.stats as sps
import torch

from antinb import control, noise


def test_controls_are_even_with_mean_zero():
    z = noise.antithetic(20000, (3, 8, 8), seed=0).z
    c = control.noise_controls(z, frequencies=4)
    assert c.shape == (20000, 12)
    np.testing.assert_allclose(c[0::2], c[1::2])  # the same for z and -z
    # each control is chi2(1) - 1: mean 0, variance 2 (the pairs repeat rows: use one member each)
    one = c[0::2]
    assert np.abs(one.mean(0)).max() < 4 * math.sqrt(2 / len(one))
    np.testing.assert_allclose(one.var(0), 2.0, rtol=0.1)
    # the (0, 0) coefficient is the channel mean times sqrt(H W)
    dc = z[0::2].double().mean((2, 3)) * 8
    np.testing.assert_allclose(c[0::2, [0, 4, 8]], (dc ** 2 - 1).numpy(), rtol=1e-9, atol=1e-9)
    d = scipy.fft.dctn(z[0, 1].double().numpy(), norm="ortho")
    assert c[0, 4 + 1] == pytest.approx(d[0, 1] ** 2 - 1)  # channel 1, frequency (0, 1): columns channel-major
    with pytest.raises(ValueError, match="frequencies=5"):
        control.noise_controls(z, frequencies=5)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        control.noise_controls(z[0])


def test_regression_estimate_is_the_textbook_one():
    rng = np.random.default_rng(0)
    c = rng.normal(size=(50, 2))
    u = 3.0 + c @ [0.5, -1.0] + 0.1 * rng.normal(size=50)
    e = control.cv_estimate(u, c, level=0.9)
    x = np.hstack([np.ones((50, 1)), c])
    beta = np.linalg.solve(x.T @ x, x.T @ u)
    resid = u - x @ beta
    se = math.sqrt(resid @ resid / 47 * np.linalg.inv(x.T @ x)[0, 0])
    assert e.estimate == pytest.approx(beta[0]) and e.df == 47
    assert e.half_width == pytest.approx(sps.t.ppf(0.95, 47) * se)
    assert e.r_squared > 0.98 and e.covers(3.0)
    # the interval holds the regression's t-interval (the skew-t of the adjusted units, stretched)
    assert e.ci_low <= e.estimate - e.half_width + 1e-12 and e.ci_high >= e.estimate + e.half_width - 1e-12
    with pytest.raises(ValueError, match="too few"):
        control.cv_estimate(u[:4], c[:4])


@pytest.fixture(scope="module")
def closed_form():
    """2,000 repetitions of 32 antithetic pairs of 1 x 8 x 8 noise. S = the DCT (0, 0) coefficient (the
    noise mean times 8) and T = the (1, 1) one, iid N(0, 1); f = exp(S/2) + T^2 / 5, mean exp(1/8) + 1/5.
    A pair mean is cosh(S/2) + T^2 / 5: partly a function of the control S^2 - 1, partly not."""
    reps, pairs = 2000, 32
    z = noise.antithetic(2 * reps * pairs, (1, 8, 8), seed=7).z
    d = scipy.fft.dctn(z.double().numpy(), axes=(2, 3), norm="ortho")
    values = np.exp(d[:, 0, 0, 0] / 2) + d[:, 0, 1, 1] ** 2 / 5
    units = values.reshape(reps, pairs, 2).mean(2)
    controls = control.noise_controls(z[0::2]).reshape(reps, pairs, 1)
    return units, controls, math.exp(1 / 8) + 0.2


def test_control_variates_cover_and_beat_amc_on_a_closed_form_statistic(closed_form):
    units, controls, mu = closed_form
    ests = [control.cv_estimate(u, c) for u, c in zip(units, controls)]
    coverage = np.mean([e.covers(mu) for e in ests])
    assert 0.93 <= coverage <= 0.97, coverage
    # AMC alone (t-interval on the pair means) against AMC + CV: the same images, far shorter intervals
    amc_len = np.median([2 * sps.t.ppf(0.975, 31) * u.std(ddof=1) / math.sqrt(32) for u in units])
    cv_len = np.median([e.length for e in ests])
    assert (amc_len / cv_len) ** 2 > 1.5
    assert 0.2 < np.median([e.r_squared for e in ests]) < 0.9


def test_a_useless_control_costs_little_and_is_not_called_a_gain(closed_form):
    units, controls, mu = closed_form
    rng = np.random.default_rng(1)
    junk = rng.normal(size=controls.shape)  # independent of the units
    ests = [control.cv_estimate(u, c) for u, c in zip(units, junk)]
    assert 0.93 <= np.mean([e.covers(mu) for e in ests]) <= 0.97
    p = [sps.f.sf((e.r_squared / 1) / ((1 - e.r_squared) / e.df), 1, e.df) for e in ests]
    assert 0.03 <= np.mean(np.array(p) < 0.05) <= 0.07  # the F-test's false-positive rate is its level
    assert torch.tensor([e.r_squared for e in ests]).median() < 0.05
