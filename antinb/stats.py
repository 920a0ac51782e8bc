"""Pair correlations, Monte Carlo estimators with confidence intervals, relative efficiency.

Correlation (science.md §2): the pixel-wise Pearson correlation of two images flattens all
channels; the *centered* variant first subtracts a per-pixel mean image estimated from the
generated set.

Estimators (science.md §6) of ``mu = E[S(DM(Z))]`` from scalar values ``S`` of ``N`` images.
Each design has independent *units*: single values for MC, pair means for AMC (antithetic pairs),
group means for K-AMC (simplex groups of ``K``), replicate means for RQMC (``R`` scrambles).
Every interval is built on the units, in one of two ways (``interval=``):

- ``"t"``: ``unit mean ± t_{(1+level)/2, n_units-1} * sd(units, ddof=1) / sqrt(n_units)``; exact for
  Gaussian units;
- ``"skew-t"`` (the default): the t-interval extended towards the long tail of skewed units by
  Hall's (1992) skewness correction (:func:`skew_t_bounds`). Antithetic pair means are the *even*
  part of the statistic and are skewed exactly where AMC helps most (an odd-dominated statistic), and
  the plain t-interval then undercovers with few units: 0.84 with 8 pairs of ``exp(S/2)``,
  ``S ~ N(0, 1)``, against 0.94 for this one (``tests/test_intervals.py``). Both agree to ``O(1/n)``
  for many units; on symmetric units the extension is small.

Efficiencies compare variances: :attr:`Estimate.length` is the t-interval's length
``2 t s / sqrt(u)`` whichever interval is reported, as in the paper's ``(L_MC / L_AMC)^2``.

Antithetic variance identity: ``Var(AMC) = Var(MC) (1 + rho)`` with
``rho = corr(S(DM(z)), S(DM(-z)))`` (:func:`pair_value_correlation`). AMC wins for statistics that
are close to odd/monotone in the noise (``rho < 0``) and loses for even ones (``rho > 0``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence, Union

import numpy as np
import torch
from scipy import stats as sps

from .noise import METHODS
from ._checks import check_int as _check_group_size

__all__ = [
    "ESTIMATORS",
    "design_units",
    "mean_interval",
    "efficiency_interval",
    "f_bounds",
    "block_estimates",
    "coverage_band",
    "pixelwise_half_width",
    "prefix_estimate",
    "t_half_width",
    "skew_t_bounds",
    "hall_bounds",
    "INTERVALS",
    "DEFAULT_INTERVAL",
    "Estimate",
    "amc",
    "antisymmetry_score",
    "estimate_ci",
    "kamc",
    "mc",
    "mean_image",
    "pair_correlation",
    "pair_value_correlation",
    "pearson",
    "pixel_correlation_map",
    "relative_efficiency",
    "rqmc",
]

ArrayLike = Union[torch.Tensor, np.ndarray, Sequence[float]]

#: The intervals an estimator can report (see the module docstring) and the default.
INTERVALS = ("skew-t", "t")
DEFAULT_INTERVAL = "skew-t"


# --------------------------------------------------------------------------- correlation


def pearson(
    a: torch.Tensor, b: torch.Tensor, *, center: torch.Tensor | None = None
) -> torch.Tensor:
    """Row-wise Pearson correlation of two batches.

    Args:
        a, b: ``(P, ...)`` tensors of the same shape; all axes but the first are flattened.
        center: optional ``(...)`` tensor (e.g. the mean image) subtracted from both rows first —
            the centered variant of science.md §2.

    Returns:
        ``(P,)`` float64 tensor of ``r``; a row with zero variance gives ``nan`` (undefined ``r``).
    """
    a = torch.as_tensor(a)
    b = torch.as_tensor(b)
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(
            f"a and b must have the same shape (P, ...) with ndim >= 2, "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    x = a.to(torch.float64)
    y = b.to(torch.float64)
    if center is not None:
        center = torch.as_tensor(center, dtype=torch.float64)
        if center.shape != a.shape[1:]:
            raise ValueError(
                f"center of shape {tuple(center.shape)} must have the row shape "
                f"{tuple(a.shape[1:])}"
            )
        x = x - center
        y = y - center
    x = x.reshape(x.shape[0], -1)
    y = y.reshape(y.shape[0], -1)
    x = x - x.mean(dim=1, keepdim=True)
    y = y - y.mean(dim=1, keepdim=True)
    sxy = (x * y).sum(dim=1)
    # sqrt(sxx * syy) (not sqrt(sxx) * sqrt(syy)) so that r(x, -x) is exactly -1 in floating point
    return sxy / torch.sqrt((x * x).sum(dim=1) * (y * y).sum(dim=1))


def mean_image(x: torch.Tensor) -> torch.Tensor:
    """Per-pixel mean ``(...)`` (float64) of a batch ``x`` of shape ``(N, ...)``."""
    x = torch.as_tensor(x)
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(f"x must have shape (N, ...) with N >= 1, got {tuple(x.shape)}")
    return x.to(torch.float64).mean(dim=0)


_mean_image = mean_image  # pair_correlation's keyword argument shadows the function


def pair_correlation(
    x: torch.Tensor,
    *,
    group_size: int = 2,
    centered: bool = False,
    mean_image: torch.Tensor | None = None,
) -> torch.Tensor:
    """Within-group pixel-wise correlation of a batch laid out as consecutive groups.

    Args:
        x: ``(N, ...)`` images; rows ``g*K .. g*K + K - 1`` form group ``g`` (``K = group_size``;
            for pairs, rows ``2i`` and ``2i + 1``).
        group_size: ``K >= 2``; ``N`` must be a multiple of it.
        centered: subtract a per-pixel mean image from every row before correlating.
        mean_image: ``(...)`` mean image for ``centered=True``; default the mean of all ``N`` rows.

    Returns:
        ``(N/K,)`` float64: the Pearson ``r`` of each pair, or for ``K > 2`` the mean of the
        ``K(K-1)/2`` pairwise correlations inside each group.
    """
    x = torch.as_tensor(x)
    k = _check_group_size("group_size", group_size, minimum=2)
    if x.ndim < 2 or x.shape[0] == 0 or x.shape[0] % k:
        raise ValueError(
            f"x of shape {tuple(x.shape)} must be (N, ...) with N a positive multiple of "
            f"group_size={k}"
        )
    if mean_image is not None and not centered:
        raise ValueError("mean_image is only used with centered=True")
    center = None
    if centered:
        center = _mean_image(x) if mean_image is None else torch.as_tensor(mean_image)
    groups = x.reshape(x.shape[0] // k, k, *x.shape[1:])
    pairs = [
        pearson(groups[:, i], groups[:, j], center=center)
        for i in range(k)
        for j in range(i + 1, k)
    ]
    return torch.stack(pairs).mean(dim=0)


# --------------------------------------------------------------------------- estimates


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided confidence interval.

    Attributes:
        method: label such as ``"MC"``, ``"AMC"``, ``"K-AMC(K=4)"``, ``"RQMC(R=16)"``.
        estimate: mean of the unit values (= mean of all ``n`` values).
        ci_low, ci_high: interval ends: ``estimate ∓ half_width`` for ``interval="t"``, the t-interval
            extended towards the long tail (:func:`skew_t_bounds`) for ``"skew-t"``.
        half_width: ``t_{(1+level)/2, n_units-1} * unit_sd / sqrt(n_units)``, the t-interval's, for
            either interval: the scale on which designs are compared (:func:`relative_efficiency`).
        n: number of images (function evaluations) used.
        n_units: independent units — ``N`` (MC), ``N/2`` pairs (AMC), ``N/K`` groups, ``R``.
        level: confidence level in (0, 1).
        unit_sd: sample standard deviation (ddof=1) of the unit values.
        interval: ``"t"`` or ``"skew-t"``, how ``ci_low`` and ``ci_high`` were built.
    """

    method: str
    estimate: float
    ci_low: float
    ci_high: float
    half_width: float
    n: int
    n_units: int
    level: float
    unit_sd: float
    interval: str = "t"

    @property
    def length(self) -> float:
        """The t-interval's length ``2 * half_width`` (equal to ``ci_high - ci_low`` for ``interval="t"``)."""
        return 2.0 * self.half_width

    def covers(self, value: float) -> bool:
        """Whether ``ci_low <= value <= ci_high``."""
        return self.ci_low <= value <= self.ci_high

    def __str__(self) -> str:
        return (
            f"{self.method}: {self.estimate:.4g} [{self.ci_low:.4g}, {self.ci_high:.4g}] "
            f"({self.level:.0%} {self.interval} interval, n={self.n}, {self.n_units} units)"
        )


def _as_values(values: ArrayLike) -> np.ndarray:
    """``(N,)`` float64 numpy copy of ``values``; rejects other shapes and NaN/inf."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().to(torch.float64).numpy()
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"values must be one-dimensional (N,), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"values must be finite: {int(np.sum(~np.isfinite(arr)))} NaN/inf found")
    return arr


def _check_level(level: float) -> float:
    if not isinstance(level, (int, float, np.floating)) or not 0.0 < float(level) < 1.0:
        raise ValueError(f"level={level!r} must be in the open interval (0, 1)")
    return float(level)


def _units(values: np.ndarray, group_size: int, name: str) -> np.ndarray:
    """``(N/size,)`` means of consecutive groups of ``group_size`` values."""
    if values.size % group_size:
        raise ValueError(
            f"len(values)={values.size} must be a multiple of {name}={group_size}"
        )
    return values.reshape(-1, group_size).mean(axis=1)


def t_half_width(sd, n_units: int, level: float = 0.95):
    """Half-width of the t-interval of a mean of ``n_units`` iid units with sample sd ``sd``.

    ``t_{(1+level)/2, n_units-1} * sd / sqrt(n_units)``; ``sd`` may be a number or an array (one
    interval per entry, e.g. per pixel).
    """
    q = float(sps.t.ppf(0.5 + _check_level(level) / 2.0, df=n_units - 1))
    return q * sd / math.sqrt(n_units)


def mean_interval(values: ArrayLike, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``values`` ``(n,)`` (e.g. one correlation per pair) with its t-interval: ``(mean, low, high)``."""
    v = np.asarray(values.detach().cpu().double().numpy() if isinstance(values, torch.Tensor) else values,
                   dtype=np.float64).ravel()
    if v.size < 2:
        raise ValueError(f"values must hold at least 2 units for an interval, got {v.size}")
    mean = float(v.mean())
    half = float(t_half_width(float(v.std(ddof=1)), v.size, level))
    return mean, mean - half, mean + half


def hall_bounds(units: ArrayLike, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Hall's (1992) skewness-corrected t-interval for the mean of iid ``units`` (last axis).

    With ``T = (mean - mu) / (s / sqrt(n))`` and the sample skewness ``g`` (the adjusted
    Fisher-Pearson ``G1``, less biased at small ``n``), Hall's monotone transformation
    ``h(T) = T + a T^2 + a^2 T^3 / 3 + b``, ``a = g / (3 sqrt(n))``, ``b = g / (6 sqrt(n))``, removes the
    skewness of ``T`` to second order, so ``-q <= h(T) <= q`` with the t quantile ``q`` gives
    ``[mean - s h^{-1}(q) / sqrt(n), mean - s h^{-1}(-q) / sqrt(n)]``, where
    ``h^{-1}(y) = ((1 + 3a(y - b))^{1/3} - 1) / a``. For ``g = 0`` it is the t-interval. Returns
    ``(low, high)`` arrays over the leading axes (floats for 1-D ``units``). Reference: P. Hall, "On
    the removal of skewness by transformation", JRSS B 54 (1992) 221-228.
    """
    x = np.asarray(units, dtype=np.float64)
    n = x.shape[-1]
    if n < 3:
        raise ValueError(f"the skewness-corrected interval needs at least 3 units, got {n}")
    mean = x.mean(-1)
    sd = x.std(-1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy warns on (nearly) constant units
        g = np.nan_to_num(sps.skew(x, axis=-1, bias=False))
    g = np.where(sd > 0, g, 0.0)  # constant units: no skewness, a zero-length interval
    q = float(sps.t.ppf(0.5 + _check_level(level) / 2.0, df=n - 1))
    a = g / (3.0 * math.sqrt(n))
    b = g / (6.0 * math.sqrt(n))

    def inverse(y: float) -> np.ndarray:
        safe = np.where(np.abs(a) < 1e-12, 1.0, a)
        return np.where(np.abs(a) < 1e-12, y - b, (np.cbrt(1.0 + 3.0 * safe * (y - b)) - 1.0) / safe)

    se = sd / math.sqrt(n)
    low, high = mean - se * inverse(q), mean - se * inverse(-q)
    return (float(low), float(high)) if x.ndim == 1 else (low, high)


def skew_t_bounds(units: ArrayLike, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """The ``"skew-t"`` interval: the t-interval, extended on the side of the long tail as far as Hall's
    correction (:func:`hall_bounds`) reaches; the union of the two.

    Hall's interval alone shifts with the sample skewness, which is noisy at small ``n``: on symmetric
    heavy-tailed units (a product of two normals) it covers only 0.91 with 8 units where the t-interval
    covers 0.97. The union keeps the t-interval's coverage there and Hall's on skewed units (0.94 with 8
    pair means of ``cosh(S/2)``, where t covers 0.84). Same shapes and returns as :func:`hall_bounds`.
    """
    x = np.asarray(units, dtype=np.float64)
    n = x.shape[-1]
    low, high = hall_bounds(x, level)
    mean = x.mean(-1)
    half = t_half_width(x.std(-1, ddof=1), n, level)
    low, high = np.minimum(low, mean - half), np.maximum(high, mean + half)
    return (float(low), float(high)) if x.ndim == 1 else (low, high)


def _check_interval(interval: str) -> str:
    if interval not in INTERVALS:
        raise ValueError(f"interval={interval!r} must be one of {INTERVALS}")
    return interval


def _from_units(method: str, units: np.ndarray, n: int, level: float, interval: str) -> Estimate:
    interval = _check_interval(interval)
    if units.size < 2:
        raise ValueError(
            f"{method} needs at least 2 independent units for a CI, got n_units={units.size}"
        )
    level = _check_level(level)
    n_units = int(units.size)
    mean = float(units.mean())
    sd = float(units.std(ddof=1))
    half = t_half_width(sd, n_units, level)
    # the skewness correction needs 3 units; with 2 the t-interval is all there is
    low, high = skew_t_bounds(units, level) if interval == "skew-t" and n_units >= 3 else (mean - half, mean + half)
    return Estimate(method, mean, low, high, half, n, n_units, level, sd,
                    interval if n_units >= 3 else "t")


def _rqmc_units(v: np.ndarray, replicates: int) -> np.ndarray:
    r = _check_group_size("replicates", replicates, minimum=2)
    if v.size % r:
        raise ValueError(f"len(values)={v.size} must be a multiple of replicates={r}")
    return _units(v, v.size // r, "N/replicates")


#: The units of each design: method -> ``(values, parameter) -> unit values`` (see :func:`design_units`).
_UNITS: dict[str, Callable[..., np.ndarray]] = {
    "mc": lambda v: v,
    "amc": lambda v: _units(v, 2, "group_size"),
    "kamc": lambda v, k: _units(v, _check_group_size("k", k, minimum=2), "k"),
    "rqmc": _rqmc_units,
}


def mc(values: ArrayLike, *, level: float = 0.95, interval: str = DEFAULT_INTERVAL) -> Estimate:
    """Plain Monte Carlo: ``values`` ``(N,)`` iid; every value is a unit."""
    v = _as_values(values)
    return _from_units("MC", _UNITS["mc"](v), v.size, level, interval)


def amc(values: ArrayLike, *, level: float = 0.95, interval: str = DEFAULT_INTERVAL) -> Estimate:
    """Antithetic MC: ``values`` ``(N,)`` in pairs ``S(z_i), S(-z_i)``; units = pair means."""
    v = _as_values(values)
    return _from_units("AMC", _UNITS["amc"](v), v.size, level, interval)


def kamc(values: ArrayLike, k: int, *, level: float = 0.95, interval: str = DEFAULT_INTERVAL) -> Estimate:
    """K-antithetic (simplex) MC: ``values`` ``(N,)`` in groups of ``k``; units = group means."""
    k = _check_group_size("k", k, minimum=2)
    v = _as_values(values)
    return _from_units(f"K-AMC(K={k})", _UNITS["kamc"](v, k), v.size, level, interval)


def rqmc(values: ArrayLike, replicates: int, *, level: float = 0.95, interval: str = DEFAULT_INTERVAL) -> Estimate:
    """Randomized QMC: ``values`` ``(N,)`` replicate-major (``m = N/R`` rows per replicate).

    The ``R = replicates`` replicate means are the iid units.
    """
    r = _check_group_size("replicates", replicates, minimum=2)
    v = _as_values(values)
    return _from_units(f"RQMC(R={r})", _UNITS["rqmc"](v, r), v.size, level, interval)


def design_units(values: ArrayLike, method: str, *, k: int | None = None, replicates: int | None = None) -> np.ndarray:
    """The iid units of ``values`` ``(N,)`` under design ``method`` (what its estimator averages): the values
    (MC), pair means (AMC), group means (K-AMC, ``k``) or replicate means (RQMC, ``replicates``)."""
    kw = _design_kwargs(method, k, replicates)
    return _UNITS[method](_as_values(values), *kw.values())


#: Registry of estimators: method -> function. The design parameter each takes (``k``,
#: ``replicates``) and its group structure come from the one design registry, :data:`antinb.noise.METHODS`.
ESTIMATORS: dict[str, Callable[..., Estimate]] = {"mc": mc, "amc": amc, "kamc": kamc, "rqmc": rqmc}


def _design_kwargs(method: str, k: int | None, replicates: int | None) -> dict[str, int]:
    """``{param: value}`` of ``method``'s design, checking that exactly its own parameter is given."""
    if method not in ESTIMATORS:
        raise ValueError(f"method={method!r} must be one of {sorted(ESTIMATORS)}")
    wanted = METHODS[method].param
    given = {"k": k, "replicates": replicates}
    for name, value in given.items():
        if name == wanted and value is None:
            raise ValueError(f"{name} is required for method={method!r}")
        if name != wanted and value is not None:
            raise ValueError(f"{name}={value!r} is not a parameter of method={method!r}")
    return {} if wanted is None else {wanted: given[wanted]}


def estimate_ci(
    values: ArrayLike,
    method: str,
    *,
    k: int | None = None,
    replicates: int | None = None,
    level: float = 0.95,
    interval: str = DEFAULT_INTERVAL,
) -> Estimate:
    """Dispatch to the estimator named ``method`` (``"mc"``, ``"amc"``, ``"kamc"``, ``"rqmc"``).

    ``k`` is required by (and only accepted for) ``"kamc"``, ``replicates`` by ``"rqmc"``;
    ``interval`` is one of :data:`INTERVALS`.
    """
    kw = _design_kwargs(method, k, replicates)
    return ESTIMATORS[method](values, *kw.values(), level=level, interval=interval)


def relative_efficiency(reference: Estimate, other: Estimate) -> float:
    """``(reference.length / other.length) ** 2`` at equal sample count ``n``.

    How many times fewer samples ``other`` needs for the CI width of ``reference`` (usually MC).
    ``inf`` when ``other`` has a zero-length interval (e.g. AMC of a linear statistic).
    """
    if reference.n != other.n:
        raise ValueError(
            f"n must be equal for a relative efficiency: reference n={reference.n}, "
            f"other n={other.n}"
        )
    if other.length == 0.0:
        if reference.length == 0.0:
            raise ValueError("relative efficiency is undefined: both CI lengths are 0")
        return math.inf
    return (reference.length / other.length) ** 2


def f_bounds(ratio: float, df1: int, df2: int, level: float = 0.95) -> tuple[float, float]:
    """``level`` interval for a ratio of variances observed as ``ratio`` (times any known constant).

    For normal samples ``(s_1^2 / sigma_1^2) / (s_2^2 / sigma_2^2) ~ F(df1, df2)``, so
    ``[ratio / f_{(1+level)/2}, ratio / f_{(1-level)/2}]`` covers ``sigma_1^2 / sigma_2^2`` (scaled
    like ``ratio``) with probability ``level`` exactly.
    """
    hi_q, lo_q = sps.f.ppf([0.5 + _check_level(level) / 2.0, 0.5 - level / 2.0], df1, df2)
    return float(ratio / hi_q), float(ratio / lo_q)


def efficiency_interval(reference: Estimate, other: Estimate, level: float = 0.95) -> tuple[float, float, float]:
    """:func:`relative_efficiency` ``(L_ref / L_other)^2`` with an exact F-interval: ``(value, low, high)``.

    ``L = 2 t_u s / sqrt(u)`` for ``u`` independent units of sample sd ``s``, so the efficiency is
    ``c * s_ref^2 / s_other^2`` with the known constant ``c = (t_ref^2 / u_ref) / (t_other^2 / u_other)``.
    The units of two designs drawn from independent noise streams (:mod:`antinb.noise`) are
    independent samples, and :func:`f_bounds` with ``F(u_ref - 1, u_other - 1)`` gives the interval.

    Why F and not a bootstrap: RQMC and K-AMC have few units (16 replicates, 32 groups of 8), where a
    percentile bootstrap of a variance is too narrow, while the F-interval is exact for normal units;
    the units are means (of pairs, groups, replicates) or smooth image averages, close to normal. It is
    not robust to heavy tails. ``high`` is ``inf`` when ``other`` has a zero-length interval.
    """
    value = relative_efficiency(reference, other)
    c = (t_half_width(1.0, reference.n_units, level) / t_half_width(1.0, other.n_units, level)) ** 2
    f_obs = math.inf if other.unit_sd == 0.0 else (reference.unit_sd / other.unit_sd) ** 2
    low, high = f_bounds(c * f_obs, reference.n_units - 1, other.n_units - 1, level)
    return float(value), low, high


def pair_value_correlation(values: ArrayLike, group_size: int = 2) -> float:
    """``rho = corr(S(z), S(-z))`` over consecutive pairs of ``values`` ``(N,)``.

    For ``group_size = K > 2`` the mean of the ``K(K-1)/2`` correlations between the members
    (columns) of the groups. With it ``Var(AMC) = Var(MC) (1 + rho)`` and, for exchangeable
    groups, ``Var(K-AMC) = Var(MC) (1 + (K-1) rho)``.
    """
    k = _check_group_size("group_size", group_size, minimum=2)
    v = _as_values(values)
    if v.size % k:
        raise ValueError(f"len(values)={v.size} must be a multiple of group_size={k}")
    if v.size // k < 2:
        raise ValueError(f"need at least 2 groups of group_size={k}, got len(values)={v.size}")
    cols = v.reshape(-1, k)
    corr = np.corrcoef(cols, rowvar=False)  # (K, K)
    return float(corr[np.triu_indices(k, 1)].mean())


# --------------------------------------------------------------------------- structure


def pixel_correlation_map(x: torch.Tensor) -> torch.Tensor:
    """Per-pixel correlation across pairs: ``x`` ``(2P, C, H, W)`` with consecutive pairs gives
    ``(C, H, W)``, the Pearson correlation over the ``P`` pairs of ``x[2i][c,h,w]`` with
    ``x[2i+1][c,h,w]`` (where in the image the pairing acts)."""
    if x.ndim < 2 or x.shape[0] % 2 or x.shape[0] < 4:
        raise ValueError(f"x must hold at least two consecutive pairs (2P, ...), got {tuple(x.shape)}")
    a, b = x[0::2].double(), x[1::2].double()
    a = a - a.mean(0)
    b = b - b.mean(0)
    return ((a * b).sum(0) / (a.square().sum(0).sqrt() * b.square().sum(0).sqrt())).float()


def antisymmetry_score(f: ArrayLike, s: ArrayLike) -> np.ndarray:
    """Antisymmetry score of 1-D slices (science.md §4), for ``f`` ``(..., S)`` sampled on a grid
    ``s`` ``(S,)`` symmetric about 0 (``s[::-1] == -s``)::

        AS(f) = 1 - int ((f(s) + f(-s))/2 - fbar)^2 ds / int (f(s) - fbar)^2 ds,  fbar = mean of f

    1 for an affine antisymmetric ``f`` (``f(s) + f(-s) = 2 c``), 0 for an even ``f``. Integrals
    are trapezoid rules on the grid (``scipy.integrate.trapezoid``); fbar is the integral mean.
    """
    from scipy.integrate import trapezoid

    s = np.asarray(s, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    if s.ndim != 1 or len(s) < 3 or not np.allclose(s[::-1], -s):
        raise ValueError("s must be a 1-D grid of at least 3 points symmetric about 0")
    if f.shape[-1] != len(s):
        raise ValueError(f"f has {f.shape[-1]} points on its last axis, s has {len(s)}")
    width = s[-1] - s[0]
    fbar = trapezoid(f, s, axis=-1)[..., None] / width
    even = (f + f[..., ::-1]) / 2 - fbar
    num = trapezoid(even**2, s, axis=-1)
    den = trapezoid((f - fbar) ** 2, s, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - num / den


# --------------------------------------------------------------------------- estimators on parts of a draw


def prefix_estimate(values, method: str, n: int, *, k: int | None = None, replicates: int | None = None,
                    level: float = 0.95, interval: str = DEFAULT_INTERVAL) -> Estimate:
    """The estimate that the first ``n`` images of a generated design would have given.

    ``values`` ``(N,)`` are laid out as :func:`antinb.estimate` generates them. For ``mc``, ``amc``
    and ``kamc`` the first ``n`` values are whole units (``n`` a multiple of 1, 2, ``k``), drawn
    exactly as a run of size ``n`` would draw them. For ``rqmc`` (``replicates`` rows of ``m = N/R``,
    replicate-major) it keeps the first ``n / R`` points of *every* replicate: the first ``2^j``
    points of a scrambled Sobol' sequence are themselves a scrambled net, so ``n / R`` must be a power
    of two. Nested budgets of one run give a curve of estimates without new sampling (the points
    on it are correlated, not independent).
    """
    kw = _design_kwargs(method, k, replicates)
    v = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 < n <= v.numel():
        raise ValueError(f"n={n!r} must be an integer in [1, {v.numel()}]")
    if method == "rqmc":
        m_full, r = divmod(v.numel(), replicates)
        m, rest = divmod(int(n), replicates)
        if r or rest or m < 1 or m & (m - 1):
            raise ValueError(f"n={n} must be replicates={replicates} times a power of two (and divide the "
                             f"{v.numel()} values evenly)")
        sub = v.reshape(replicates, m_full)[:, :m].reshape(-1)
    else:
        unit = METHODS[method].group_size(v.numel(), kw.get("k"))
        if n % unit:
            raise ValueError(f"n={n} must be a multiple of the group size {unit} of method={method!r}")
        sub = v[: int(n)]
    return estimate_ci(sub, method, level=level, interval=interval, **kw)


def block_estimates(values, method: str, block: int, *, k: int | None = None, replicates: int | None = None,
                    level: float = 0.95, interval: str = DEFAULT_INTERVAL) -> list[Estimate]:
    """Independent repetitions of an estimator: ``values`` ``(N,)`` cut into consecutive blocks of
    ``block`` images, one :class:`antinb.stats.Estimate` per block.

    Groups of a design are independent, so the blocks of one large draw are independent runs of
    size ``block``: antithetic pairs and simplex groups of ``k`` never straddle a block when ``block``
    is a multiple of the group size. For ``rqmc``, ``replicates`` is the number of replicates *per
    block*; the large draw must hold ``N / block * replicates`` replicates of ``block / replicates``
    points each (``antinb.estimate(..., n=N, replicates=N // block * replicates)``).
    """
    kw = _design_kwargs(method, k, replicates)
    v = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 2 or v.numel() % block:
        raise ValueError(f"block={block!r} must be an integer >= 2 dividing len(values)={v.numel()}")
    unit = replicates if method == "rqmc" else METHODS[method].group_size(int(block), kw.get("k"))
    if block % unit:
        raise ValueError(f"block={block} must be a multiple of {unit} for method={method!r}")
    return [estimate_ci(b, method, level=level, interval=interval, **kw) for b in v.split(int(block))]


def coverage_band(reps: int, level: float = 0.95, *, prob: float = 0.95) -> tuple[float, float]:
    """Central ``prob`` range of the empirical coverage of ``reps`` independent ``level`` intervals.

    The number of intervals covering is Binomial(``reps``, ``level``) when the nominal level holds;
    an observed coverage outside this range is evidence against it at about ``1 - prob``.
    """
    if isinstance(reps, bool) or not isinstance(reps, (int, np.integer)) or reps < 1:
        raise ValueError(f"reps={reps!r} must be a positive integer")
    for name, p in (("level", level), ("prob", prob)):
        if not 0.0 < float(p) < 1.0:
            raise ValueError(f"{name}={p!r} must be in (0, 1)")
    lo, hi = sps.binom.ppf([(1 - prob) / 2, (1 + prob) / 2], int(reps), float(level))
    return float(lo) / reps, float(hi) / reps


def pixelwise_half_width(x: torch.Tensor, method: str, *, k: int | None = None, level: float = 0.95) -> torch.Tensor:
    """Per-pixel CI half-width of the mean image from samples ``x`` ``(N, C, H, W)``: ``(C, H, W)``.

    The same construction as :func:`estimate_ci`, pixel by pixel: units are the single
    samples (``mc``), pair means (``amc``, consecutive rows ``2i, 2i+1``) or group means of ``k``
    (``kamc``); half-width ``t_{(1+level)/2, units-1} sd(units) / sqrt(units)``.
    """
    unit = {"mc": 1, "amc": 2, "kamc": k}.get(method, 0)
    if method not in ("mc", "amc", "kamc") or (method == "kamc" and (k is None or k < 2)):
        raise ValueError(f"method={method!r} must be 'mc', 'amc' or 'kamc' (with k >= 2)")
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or x.shape[0] % unit or x.shape[0] // unit < 2:
        raise ValueError(f"x must have shape (N, ...) with N a multiple of {unit} and at least 2 units")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level={level!r} must be in (0, 1)")
    units = x.detach().double().reshape(x.shape[0] // unit, unit, *x.shape[1:]).mean(1)
    return t_half_width(units.std(0, correction=1), units.shape[0], level).float()
