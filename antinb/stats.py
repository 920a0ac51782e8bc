"""Pair correlations, Monte Carlo estimators with confidence intervals, relative efficiency.

Correlation (science.md §2): the pixel-wise Pearson correlation of two images flattens all
channels; the *centered* variant first subtracts a per-pixel mean image estimated from the
generated set.

Estimators (science.md §6) of ``mu = E[S(DM(Z))]`` from scalar values ``S`` of ``N`` images.
Each design has independent *units*: single values for MC, pair means for AMC (antithetic pairs),
group means for K-AMC (simplex groups of ``K``), replicate means for RQMC (``R`` scrambles).
Every interval is the same construction on the units::

    unit mean  ±  t_{(1+level)/2, n_units-1} * sd(units, ddof=1) / sqrt(n_units)

The Student-t quantile equals the normal quantile asymptotically; for Gaussian units it keeps the
coverage exact at small ``n_units`` (e.g. RQMC with ``R = 16`` replicates).

Antithetic variance identity: ``Var(AMC) = Var(MC) (1 + rho)`` with
``rho = corr(S(DM(z)), S(DM(-z)))`` (:func:`pair_value_correlation`). AMC wins for statistics that
are close to odd/monotone in the noise (``rho < 0``) and loses for even ones (``rho > 0``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence, Union

import numpy as np
import torch
from scipy import stats as sps

__all__ = [
    "ESTIMATORS",
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
        ci_low, ci_high: interval ends, ``estimate ∓ half_width``.
        half_width: ``t_{(1+level)/2, n_units-1} * unit_sd / sqrt(n_units)``.
        n: number of images (function evaluations) used.
        n_units: independent units — ``N`` (MC), ``N/2`` pairs (AMC), ``N/K`` groups, ``R``.
        level: confidence level in (0, 1).
        unit_sd: sample standard deviation (ddof=1) of the unit values.
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

    @property
    def length(self) -> float:
        """CI length ``2 * half_width``."""
        return 2.0 * self.half_width

    def covers(self, value: float) -> bool:
        """Whether ``ci_low <= value <= ci_high``."""
        return self.ci_low <= value <= self.ci_high

    def __str__(self) -> str:
        return (
            f"{self.method}: {self.estimate:.4g} ± {self.half_width:.2g} "
            f"({self.level:.0%} CI, n={self.n}, {self.n_units} units)"
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


def _check_group_size(name: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


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


def _from_units(method: str, units: np.ndarray, n: int, level: float) -> Estimate:
    if units.size < 2:
        raise ValueError(
            f"{method} needs at least 2 independent units for a CI, got n_units={units.size}"
        )
    level = _check_level(level)
    n_units = int(units.size)
    mean = float(units.mean())
    sd = float(units.std(ddof=1))
    q = float(sps.t.ppf(0.5 + level / 2.0, df=n_units - 1))
    half = q * sd / math.sqrt(n_units)
    return Estimate(method, mean, mean - half, mean + half, half, n, n_units, level, sd)


def mc(values: ArrayLike, *, level: float = 0.95) -> Estimate:
    """Plain Monte Carlo: ``values`` ``(N,)`` iid; every value is a unit."""
    v = _as_values(values)
    return _from_units("MC", v, v.size, level)


def amc(values: ArrayLike, *, level: float = 0.95) -> Estimate:
    """Antithetic MC: ``values`` ``(N,)`` in pairs ``S(z_i), S(-z_i)``; units = pair means."""
    v = _as_values(values)
    return _from_units("AMC", _units(v, 2, "group_size"), v.size, level)


def kamc(values: ArrayLike, k: int, *, level: float = 0.95) -> Estimate:
    """K-antithetic (simplex) MC: ``values`` ``(N,)`` in groups of ``k``; units = group means."""
    k = _check_group_size("k", k, minimum=2)
    v = _as_values(values)
    return _from_units(f"K-AMC(K={k})", _units(v, k, "k"), v.size, level)


def rqmc(values: ArrayLike, replicates: int, *, level: float = 0.95) -> Estimate:
    """Randomized QMC: ``values`` ``(N,)`` replicate-major (``m = N/R`` rows per replicate).

    The ``R = replicates`` replicate means are the iid units.
    """
    r = _check_group_size("replicates", replicates, minimum=2)
    v = _as_values(values)
    if v.size % r:
        raise ValueError(f"len(values)={v.size} must be a multiple of replicates={r}")
    return _from_units(f"RQMC(R={r})", _units(v, v.size // r, "N/replicates"), v.size, level)


#: Registry of estimators: method -> (function, design parameter it requires or None).
ESTIMATORS: dict[str, tuple[Callable[..., Estimate], str | None]] = {
    "mc": (mc, None),
    "amc": (amc, None),
    "kamc": (kamc, "k"),
    "rqmc": (rqmc, "replicates"),
}


def estimate_ci(
    values: ArrayLike,
    method: str,
    *,
    k: int | None = None,
    replicates: int | None = None,
    level: float = 0.95,
) -> Estimate:
    """Dispatch to the estimator named ``method`` (``"mc"``, ``"amc"``, ``"kamc"``, ``"rqmc"``).

    ``k`` is required by (and only accepted for) ``"kamc"``, ``replicates`` by ``"rqmc"``.
    """
    if method not in ESTIMATORS:
        raise ValueError(f"method={method!r} must be one of {sorted(ESTIMATORS)}")
    fn, wanted = ESTIMATORS[method]
    given = {"k": k, "replicates": replicates}
    for name, value in given.items():
        if name == wanted and value is None:
            raise ValueError(f"{name} is required for method={method!r}")
        if name != wanted and value is not None:
            raise ValueError(f"{name}={value!r} is not a parameter of method={method!r}")
    if wanted is None:
        return fn(values, level=level)
    return fn(values, given[wanted], level=level)


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
