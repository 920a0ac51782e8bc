"""Antithetic pairs with control variates: even functions of the noise whose mean is known.

An antithetic unit is a pair mean ``u = (S(DM(z)) + S(DM(-z))) / 2``, the *even* part of the statistic
in the noise; what AMC leaves is its variance. Any even function ``c(z)`` of the noise takes the same
value on both members of a pair, and when its mean is known exactly it can serve as a control variate
for ``u``: the regression estimator fits ``u_i = mu + beta^T c_i + e_i`` by least squares over the
pairs and reports the intercept, whose variance is that of the part of ``u`` the controls do not
explain (Lavenberg and Welch 1981; Glasserman, *Monte Carlo Methods in Financial Engineering*, §4.1).
No image is generated for it: the controls are computed from the noise the pairs were drawn from.

:func:`noise_controls` gives the controls used here: the squares of the lowest-frequency coefficients
of the orthonormal 2-D DCT of each channel of ``z``, minus one. For ``z ~ N(0, I)`` those coefficients
are iid ``N(0, 1)``, so each control has mean 0 exactly, and they are even in ``z``. The (0, 0)
coefficient is the channel's mean times ``sqrt(H W)``: its square is what a brightness-like statistic's
even part is most likely to follow. :func:`cv_estimate` is the regression estimator with its t-interval
(``n - q - 1`` degrees of freedom for ``n`` pairs and ``q`` controls), reported as a skew-t
interval like every interval of :mod:`antinb.stats`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft
import torch
from scipy import stats as sps

from . import stats

__all__ = ["FREQUENCIES", "noise_controls", "CVEstimate", "cv_estimate"]

#: The DCT coefficients (vertical, horizontal frequency) whose squares are the controls, lowest first.
FREQUENCIES: tuple[tuple[int, int], ...] = ((0, 0), (0, 1), (1, 0), (1, 1))


def noise_controls(z: torch.Tensor | np.ndarray, *, frequencies: int = 1) -> np.ndarray:
    """Even controls of known mean 0 for noise rows ``z`` ``(N, C, H, W)``: ``(N, C * frequencies)``.

    Column ``(c, j)`` is ``d_{c, j}^2 - 1`` with ``d_{c, j}`` the ``j``-th coefficient of
    :data:`FREQUENCIES` of the orthonormal 2-D DCT of channel ``c``. Both members of an antithetic
    pair give the same row.
    """
    x = torch.as_tensor(z).detach().cpu().double().numpy()
    if x.ndim != 4:
        raise ValueError(f"z must be (N, C, H, W), got shape {x.shape}")
    if isinstance(frequencies, bool) or not isinstance(frequencies, int) or not 1 <= frequencies <= len(FREQUENCIES):
        raise ValueError(f"frequencies={frequencies!r} must be an integer in [1, {len(FREQUENCIES)}]")
    d = scipy.fft.dctn(x, axes=(2, 3), norm="ortho")
    cols = [d[:, :, i, j] ** 2 - 1.0 for i, j in FREQUENCIES[:frequencies]]  # each (N, C)
    return np.stack(cols, axis=2).reshape(x.shape[0], -1)


@dataclass(frozen=True)
class CVEstimate:
    """The regression (control-variate) estimate of a mean from ``n`` units and ``q`` controls.

    Attributes:
        estimate: the fitted intercept, the estimate of the mean.
        ci_low, ci_high: its interval (see :func:`cv_estimate`).
        half_width: the regression's t half-width (``n - q - 1`` degrees of freedom), the scale
            efficiencies compare.
        n_units, n_controls: ``n`` and ``q``.
        residual_sd: the sd of the residuals (``n - q - 1`` degrees of freedom): the unit sd that is left.
        r_squared: the share of the units' variance the controls explain.
        level: the confidence level.
    """

    estimate: float
    ci_low: float
    ci_high: float
    half_width: float
    n_units: int
    n_controls: int
    residual_sd: float
    r_squared: float
    level: float

    @property
    def length(self) -> float:
        """The regression's t-interval length ``2 * half_width``."""
        return 2.0 * self.half_width

    @property
    def df(self) -> int:
        return self.n_units - self.n_controls - 1

    def covers(self, value: float) -> bool:
        return self.ci_low <= value <= self.ci_high


def cv_estimate(units, controls, *, level: float = 0.95) -> CVEstimate:
    """The regression estimator of ``E[u]`` from ``units`` ``(n,)`` and ``controls`` ``(n, q)`` of mean 0.

    Least squares of ``u`` on ``[1, c]``: the estimate is the intercept, the mean of the adjusted units
    ``w_i = u_i - beta^T c_i``; its standard error ``s_e sqrt((X^T X)^{-1}_{00})`` with
    ``s_e^2 = SSE / (n - q - 1)`` gives the t half-width (``n - q - 1`` degrees of freedom) that
    efficiencies compare. The reported interval is the skew-t interval of the adjusted units
    (:func:`antinb.stats.skew_t_bounds`: what is left of a pair mean is as skewed as the pair mean),
    stretched about the estimate by the ratio of the regression's t half-width to the plain one of
    ``w``, which accounts for the estimated ``beta``. It covers 0.94 to 0.96 with 16 to 128 pairs when the
    controls explain part of the units (``tests/test_control.py``); when the units are an exact
    function of the controls (``R^2`` near 1) the residuals are a deterministic, skewed remainder and
    no interval here covers. Needs ``n >= q + 3``.
    """
    u = np.asarray(units, dtype=np.float64).reshape(-1)
    c = np.asarray(controls, dtype=np.float64)
    if c.ndim == 1:
        c = c[:, None]
    n, q = c.shape
    if u.shape != (n,):
        raise ValueError(f"units of shape {u.shape} and controls of shape {c.shape} must have the same length")
    if n < q + 3:
        raise ValueError(f"{n} units are too few for {q} controls: the regression needs n >= q + 3")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level={level!r} must be in the open interval (0, 1)")
    x = np.hstack([np.ones((n, 1)), c])
    coef, *_ = np.linalg.lstsq(x, u, rcond=None)
    resid = u - x @ coef
    df = n - q - 1
    s2 = float(resid @ resid) / df
    inv00 = float(np.linalg.pinv(x.T @ x)[0, 0])
    half = float(sps.t.ppf(0.5 + level / 2.0, df)) * math.sqrt(s2 * inv00)
    total = float(((u - u.mean()) ** 2).sum())
    r2 = 1.0 - float(resid @ resid) / total if total > 0 else 0.0
    w = u - c @ coef[1:]
    mu = float(w.mean())  # = the intercept
    plain = stats.t_half_width(float(w.std(ddof=1)), n, level)
    low, high = stats.skew_t_bounds(w, level)
    if plain > 0:
        k = half / plain
        low, high = mu - k * (mu - low), mu + k * (high - mu)
    return CVEstimate(mu, float(low), float(high), half, n, q, math.sqrt(s2), r2, float(level))
