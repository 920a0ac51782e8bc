"""Initial-noise designs and a per-step noise source for diffusion samplers.

Every design returns a :class:`NoiseBatch` of ``N`` rows ``z`` of shape ``(N, *shape)``. Rows come
in *groups* of consecutive rows; groups are the independent units of the design:

- ``independent`` — group size 1, rows iid ``N(0, I)`` (plain Monte Carlo, "RR" pairs).
- ``antithetic`` — group size 2, rows ``(z, -z)`` with ``z ~ N(0, I)`` (the paper's PN pairs).
- ``simplex`` — group size ``K``: ``w_1..w_K`` iid ``N(0, I)``,
  ``z_i = sqrt(K/(K-1)) (w_i - mean(w))``. Each ``z_i`` is exactly ``N(0, I)``, any two have
  correlation ``-1/(K-1)`` and the group sums to zero; ``K = 2`` gives ``(z, -z)``.
- ``rqmc`` — group size ``m = N/R``: ``R`` independently scrambled Sobol' point sets of ``m``
  points each (replicate-major rows), mapped through the normal inverse CDF
  (``scipy.special.ndtri``).

Reproducibility. All randomness comes from seeded CPU ``torch.Generator`` objects (and, for the
Sobol' scrambling, a numpy ``Generator``); the generator of group ``i`` is seeded from
``numpy.random.SeedSequence(seed, spawn_key=(stream, i))``. Stream 0 is the initial noise,
stream ``1 + t`` the per-step noise of sampler step ``t``. The noise of a group therefore depends
only on ``(seed, stream, i)`` and the sample shape — never on ``N``, the batch size or on how the
rows are split into chunks (``start`` is the index of the first group of a chunk).

RQMC in high dimension. scipy's Sobol' generator stops at 21,201 dimensions (a 3x32x32 image has
3,072; a 3x256x256 image 196,608). When ``D = prod(shape)`` exceeds ``max_qmc_dims`` the design is:
draw coefficients ``u`` of an orthonormal DCT basis, the ``max_qmc_dims`` lowest-frequency
coefficients (ordered by the sum of their spatial frequency indices, all channels at a level
before the next level) from the scrambled Sobol' normals and the rest iid ``N(0, 1)`` from the
replicate's generator, then ``z = idctn(u, axes=spatial, norm="ortho")`` per channel. An
orthonormal transform of ``N(0, I)`` is ``N(0, I)``, so every row is still exactly standard
normal; the quasi-random dimensions go where smooth image statistics (brightness, low-frequency
content) live. For ``D <= max_qmc_dims`` Sobol' runs over all ``D`` coordinates directly.
``shape`` is read as ``(C, *spatial)`` when it has two or more axes, else as ``(D,)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.fft
import torch
from scipy.special import ndtri
from scipy.stats import qmc
from ._checks import check_int as _check_int

__all__ = [
    "seeded_generator",
    "seeded_rng",
    "DESIGNS",
    "Design",
    "METHODS",
    "design",
    "MAX_SOBOL_DIMS",
    "NoiseBatch",
    "StepNoise",
    "antithetic",
    "independent",
    "make",
    "partially_negated",
    "rqmc",
    "simplex",
]

#: Largest dimension scipy's Sobol' direction numbers support.
MAX_SOBOL_DIMS = 21201
#: Bits of the Sobol' generator: its points are integers / 2**_SOBOL_BITS.
_SOBOL_BITS = 30
#: Stream of the initial noise; step ``t`` of a sampler uses stream ``1 + t``.
_INITIAL_STREAM = 0


@dataclass(frozen=True)
class NoiseBatch:
    """A batch of initial noise with its group structure.

    Attributes:
        z: ``(N, *shape)`` float32 CPU tensor of noise rows.
        design: ``"independent"``, ``"antithetic"``, ``"simplex"`` or ``"rqmc"``.
        group_size: rows per group — 1 independent, 2 antithetic, ``K`` simplex, ``m = N/R`` rqmc.
        seed: the seed the batch was drawn with.
        start: index of the first group (for chunked generation).
    """

    z: torch.Tensor
    design: str
    group_size: int
    seed: int
    start: int = 0

    def __post_init__(self) -> None:
        if self.design not in DESIGNS:
            raise ValueError(f"design={self.design!r} must be one of {sorted(DESIGNS)}")
        if self.z.ndim < 2:
            raise ValueError(f"z must have shape (N, *shape), got {tuple(self.z.shape)}")
        if self.group_size < 1 or self.z.shape[0] % self.group_size:
            raise ValueError(
                f"group_size={self.group_size} must be positive and divide N={self.z.shape[0]}"
            )

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one sample (without the batch axis)."""
        return tuple(self.z.shape[1:])

    @property
    def n_groups(self) -> int:
        """Number of groups (independent units) in the batch."""
        return self.z.shape[0] // self.group_size

    @property
    def groups(self) -> torch.Tensor:
        """``(N,)`` int64 group index of each row; rows of a group are consecutive."""
        idx = torch.arange(self.start, self.start + self.n_groups, dtype=torch.int64)
        return idx.repeat_interleave(self.group_size)

    def __len__(self) -> int:
        return self.z.shape[0]


# --------------------------------------------------------------------------- validation


def _check_shape(shape: object) -> tuple[int, ...]:
    if not isinstance(shape, (tuple, list, torch.Size)) or len(shape) == 0:
        raise ValueError(f"shape={shape!r} must be a non-empty tuple of positive integers")
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
            raise ValueError(f"shape={shape!r} must be a non-empty tuple of positive integers")
    return tuple(int(s) for s in shape)


def _check_common(n: int, shape: object, seed: int, start: int) -> tuple[int, tuple[int, ...]]:
    n = _check_int("n", n, minimum=1)
    _check_int("seed", seed, minimum=0)
    _check_int("start", start, minimum=0)
    return n, _check_shape(shape)


# --------------------------------------------------------------------------- generators


def seeded_generator(seed: int, *stream: int) -> torch.Generator:
    """The seeded CPU torch generator of an auxiliary draw (probe inputs, study draws, subsets): seeded with
    ``seed`` itself, or, given a ``stream`` key, with the first word of ``SeedSequence(seed, spawn_key=stream)``
    for independent streams of one seed. Every random draw of antinb outside the noise designs comes from
    here or :func:`seeded_rng`, so that a seed means the same thing everywhere."""
    if not stream:
        return torch.Generator().manual_seed(int(seed))
    key = tuple(int(s) for s in stream)
    return torch.Generator().manual_seed(int(np.random.SeedSequence(int(seed), spawn_key=key).generate_state(1)[0]))


def seeded_rng(seed: int) -> np.random.Generator:
    """The seeded numpy generator of an auxiliary computation (bootstrap resamples, resampled coverage)."""
    return np.random.default_rng(int(seed))


def _seed_sequence(seed: int, stream: int, group: int, *extra: int) -> np.random.SeedSequence:
    # spawn_key keeps (stream, group) apart from the user's entropy: no collisions between groups.
    return np.random.SeedSequence(int(seed), spawn_key=(int(stream), int(group), *extra))


#: Each design draws from its own streams, so that e.g. ``independent(n, seed=s)`` and
#: ``antithetic(n, seed=s)`` share no rows (PN vs RR comparisons at one seed stay independent).
_DESIGN_IDS = {"independent": 0, "antithetic": 1, "simplex": 2, "rqmc": 3}


def _generator(seed: int, stream: int, group: int, design: str = "independent") -> torch.Generator:
    """Seeded CPU torch generator of one group: a function of ``(seed, design, stream, group)`` only."""
    state = _seed_sequence(seed, stream, group, _DESIGN_IDS[design]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


# Group transforms: from a group's generator, the ``(group_size, D)`` rows of the group. Used for
# the initial noise and, identically, for the per-step noise of stochastic samplers.
def _iid_rows(gen: torch.Generator, size: int, d: int) -> torch.Tensor:
    return torch.randn(size, d, generator=gen)


def _antithetic_rows(gen: torch.Generator, size: int, d: int) -> torch.Tensor:
    w = torch.randn(1, d, generator=gen)
    return torch.cat([w, -w])  # (z, -z): exact negation


def _simplex_rows(gen: torch.Generator, size: int, d: int) -> torch.Tensor:
    w = torch.randn(size, d, generator=gen, dtype=torch.float64)  # w_1..w_K iid N(0, I)
    z = math.sqrt(size / (size - 1)) * (w - w.mean(dim=0))  # z_i = sqrt(K/(K-1)) (w_i - mean w)
    return z.to(torch.float32)


def _grouped_rows(
    design: str, n_groups: int, group_size: int, d: int, *, seed: int, stream: int, first: int
) -> torch.Tensor:
    """``(n_groups * group_size, D)`` rows of groups ``first .. first + n_groups - 1``."""
    rows = DESIGNS[design].rows
    out = torch.empty(n_groups * group_size, d, dtype=torch.float32)
    for j in range(n_groups):
        gen = _generator(seed, stream, first + j, design)
        out[j * group_size : (j + 1) * group_size] = rows(gen, group_size, d)
    return out


def _grouped_batch(
    design: str, n: int, shape: tuple[int, ...], group_size: int, seed: int, start: int
) -> NoiseBatch:
    z = _grouped_rows(
        design, n // group_size, group_size, math.prod(shape),
        seed=seed, stream=_INITIAL_STREAM, first=start,
    )
    return NoiseBatch(z.reshape(n, *shape), design, group_size, seed, start)


# --------------------------------------------------------------------------- designs


def independent(
    n: int, shape: tuple[int, ...], *, seed: int = 0, start: int = 0
) -> NoiseBatch:
    """``n`` iid ``N(0, I)`` rows ``z`` of shape ``(n, *shape)``; row ``i`` is group ``start+i``."""
    n, shape = _check_common(n, shape, seed, start)
    return _grouped_batch("independent", n, shape, 1, seed, start)


def antithetic(
    n: int, shape: tuple[int, ...], *, seed: int = 0, start: int = 0
) -> NoiseBatch:
    """``n/2`` antithetic pairs: rows ``2i, 2i+1`` are ``z_i`` and ``-z_i``, ``z_i ~ N(0, I)``.

    Returns ``z`` of shape ``(n, *shape)``; ``n`` must be even.
    """
    n, shape = _check_common(n, shape, seed, start)
    if n % 2:
        raise ValueError(f"n={n} must be even for antithetic pairs")
    return _grouped_batch("antithetic", n, shape, 2, seed, start)


def simplex(
    n: int, shape: tuple[int, ...], k: int, *, seed: int = 0, start: int = 0
) -> NoiseBatch:
    """``n/k`` simplex groups of ``k`` rows (K-antithetic design), ``z`` of shape ``(n, *shape)``.

    Within a group ``z_i = sqrt(K/(K-1)) (w_i - mean(w))`` with ``w_1..w_K`` iid ``N(0, I)``: each
    row is exactly ``N(0, I)``, two rows of a group have correlation ``-1/(K-1)``, a group sums to
    zero. Requires ``k >= 2`` and ``n`` a multiple of ``k``.
    """
    n, shape = _check_common(n, shape, seed, start)
    k = _check_int("k", k, minimum=2)
    if n % k:
        raise ValueError(f"n={n} must be a multiple of k={k} for simplex groups")
    return _grouped_batch("simplex", n, shape, k, seed, start)


def _low_frequency_order(shape: tuple[int, ...]) -> np.ndarray:
    """``(D,)`` flat indices of DCT coefficients, lowest frequency first.

    Coefficients are ordered by the sum of their spatial frequency indices (a zig-zag level);
    ties keep C order, so all channels of a level come before the next level.
    """
    spatial = range(1, len(shape)) if len(shape) >= 2 else range(1)
    index = np.indices(shape)
    level = sum(index[a] for a in spatial).reshape(-1)
    return np.argsort(level, kind="stable")


def _sobol_normals(q: int, m: int, sobol_seed: np.random.SeedSequence) -> np.ndarray:
    """``(m, q)`` scrambled Sobol' points mapped through the normal inverse CDF."""
    sobol = qmc.Sobol(q, scramble=True, bits=_SOBOL_BITS, rng=np.random.default_rng(sobol_seed))
    if m & (m - 1) == 0:
        u = sobol.random_base2(m.bit_length() - 1)
    else:
        u = sobol.random(m)  # scipy warns that balance needs a power of two: let it stand
    # Scrambled Sobol' points are multiples of 2**-bits in [0, 1) and can be exactly 0. Moving every
    # point to the centre of its cell (+ half a cell) keeps them uniform on a grid symmetric about
    # 1/2 and strictly inside (0, 1), so the quantile stays finite (|z| <= 6.1 for 30 bits).
    # ndtri is scipy's standard normal quantile (what scipy.stats.norm.ppf calls, without the
    # per-call argument checking that dominates for small point sets).
    return ndtri(u + 0.5 * 2.0**-_SOBOL_BITS)


def rqmc(
    n: int,
    shape: tuple[int, ...],
    replicates: int,
    *,
    seed: int = 0,
    start: int = 0,
    max_qmc_dims: int = MAX_SOBOL_DIMS,
) -> NoiseBatch:
    """Randomized QMC noise: ``R = replicates`` independently scrambled Sobol' sets of ``m = n/R``.

    Rows are replicate-major: rows ``r*m .. (r+1)*m - 1`` are replicate (group) ``start + r``. Each
    replicate's Sobol' scrambling and its plain-MC coordinates depend only on ``(seed, start + r)``.
    If ``D = prod(shape) > max_qmc_dims``, QMC covers the ``max_qmc_dims`` lowest-frequency
    coefficients of an orthonormal DCT basis and plain MC the rest (see the module docstring).
    ``m`` should be a power of two (otherwise scipy warns and balance is lost).

    Returns a :class:`NoiseBatch` with ``z`` of shape ``(n, *shape)`` and ``group_size = m``.
    """
    n, shape = _check_common(n, shape, seed, start)
    replicates = _check_int("replicates", replicates, minimum=2)
    if n % replicates:
        raise ValueError(f"n={n} must be a multiple of replicates={replicates}")
    max_qmc_dims = _check_int("max_qmc_dims", max_qmc_dims, minimum=1)
    if max_qmc_dims > MAX_SOBOL_DIMS:
        raise ValueError(
            f"max_qmc_dims={max_qmc_dims} must be in [1, {MAX_SOBOL_DIMS}] (scipy's Sobol' limit)"
        )
    m = n // replicates
    d = math.prod(shape)
    q = min(d, max_qmc_dims)
    order = _low_frequency_order(shape) if d > q else None
    spatial_axes = tuple(range(2, len(shape) + 1)) if len(shape) >= 2 else (1,)
    z = np.empty((n, d), dtype=np.float32)
    for r in range(replicates):
        group = start + r
        x = _sobol_normals(q, m, _seed_sequence(seed, _INITIAL_STREAM, group, 1))  # (m, q)
        if order is not None:
            u = np.empty((m, d), dtype=np.float64)  # DCT coefficients
            u[:, order[:q]] = x
            gen = _generator(seed, _INITIAL_STREAM, group, "rqmc")
            u[:, order[q:]] = torch.randn(m, d - q, generator=gen, dtype=torch.float64).numpy()
            x = scipy.fft.idctn(u.reshape(m, *shape), axes=spatial_axes, norm="ortho")
        z[r * m : (r + 1) * m] = x.reshape(m, d)
    return NoiseBatch(torch.from_numpy(z).reshape(n, *shape), "rqmc", m, seed, start)


@dataclass(frozen=True)
class Design:
    """One initial-noise design: how it is drawn, its parameter, its groups and its estimator.

    The single registry (:data:`DESIGNS`, and :data:`METHODS` keyed by estimator) that
    :mod:`antinb.stats`, :mod:`antinb.estimation`, :mod:`antinb.generate` and the command line read.

    Attributes:
        name: the design (``"antithetic"``).
        method: the estimator of :mod:`antinb.stats` whose units are this design's groups (``"amc"``).
        draw: the constructor (``antithetic(n, shape, *, seed, start)``).
        param: the design parameter (``"k"``, ``"replicates"``) or ``None``.
        default: the parameter's default.
        minimum: the parameter's smallest accepted value.
        rows: draws one group's rows ``(size, D)`` from its generator: the initial noise of the
            group and, with the same function, each step's noise, so per-step noise is mirrored
            inside a group exactly as the initial noise (an RQMC batch gets independent step rows).
    """

    name: str
    method: str
    draw: Callable[..., NoiseBatch]
    param: str | None = None
    default: int | None = None
    minimum: int = 2
    rows: Callable[[torch.Generator, int, int], torch.Tensor] = _iid_rows

    def check(self, value: object) -> int | None:
        """The design parameter, validated (``None`` when the design has none; the default when not given)."""
        if self.param is None:
            if value is not None:
                raise ValueError(f"{value!r} is not a parameter of design={self.name!r}")
            return None
        return _check_int(self.param, self.default if value is None else value, minimum=self.minimum)

    def group_size(self, n: int, value: int | None = None) -> int:
        """Rows per group of ``n`` rows: 1, 2, ``k``, or ``n / replicates`` (one RQMC replicate)."""
        value = self.check(value)
        if self.name == "rqmc":
            if n % value:
                raise ValueError(f"n={n} must be a multiple of replicates={value}")
            return n // value
        return {"independent": 1, "antithetic": 2, "simplex": value}[self.name]

    def kwargs(self, value: int | None = None) -> dict[str, int]:
        """``{param: value}`` for :func:`make` and :func:`antinb.stats.estimate_ci` (empty without a parameter)."""
        value = self.check(value)
        return {} if self.param is None else {self.param: value}


#: Registry of initial-noise designs, by design name.
DESIGNS: dict[str, Design] = {d.name: d for d in (
    Design("independent", "mc", independent),
    Design("antithetic", "amc", antithetic, rows=_antithetic_rows),
    Design("simplex", "kamc", simplex, "k", default=4, rows=_simplex_rows),
    Design("rqmc", "rqmc", rqmc, "replicates", default=16),
)}
#: The same designs, by the name of their estimator (``"mc"``, ``"amc"``, ``"kamc"``, ``"rqmc"``).
METHODS: dict[str, Design] = {d.method: d for d in DESIGNS.values()}


def design(name: str) -> Design:
    """The :class:`Design` named by a design (``"antithetic"``) or by its estimator (``"amc"``)."""
    found = DESIGNS.get(name) or METHODS.get(name) if isinstance(name, str) else None
    if found is None:
        raise ValueError(f"design={name!r} is unknown; accepted values: {sorted(DESIGNS)} "
                         f"or the estimator names {sorted(METHODS)}")
    return found


def make(
    design: str,
    n: int,
    shape: tuple[int, ...],
    *,
    k: int | None = None,
    replicates: int | None = None,
    seed: int = 0,
    start: int = 0,
) -> NoiseBatch:
    """Draw ``n`` rows of shape ``shape`` from the named design (see :data:`DESIGNS`).

    ``k`` is required by (and only accepted for) ``"simplex"``, ``replicates`` by ``"rqmc"``.
    """
    if design not in DESIGNS:
        raise ValueError(f"design={design!r} must be one of {sorted(DESIGNS)}")
    d = DESIGNS[design]
    given = {"k": k, "replicates": replicates}
    for name, value in given.items():
        if name == d.param and value is None:
            raise ValueError(f"{name} is required for design={design!r}")
        if name != d.param and value is not None:
            raise ValueError(f"{name}={value!r} is not a parameter of design={design!r}")
    return d.draw(n, shape, **({d.param: given[d.param]} if d.param else {}), seed=seed, start=start)


# --------------------------------------------------------------------------- per-step noise


class StepNoise:
    """Per-step noise ``xi_t`` for stochastic samplers (DDPM, DDIM with ``eta > 0``).

    ``step_noise(t)`` returns ``(N, *shape)`` fresh ``N(0, I)`` draws for sampler step ``t``,
    mirrored inside every group exactly as the batch's initial noise: antithetic pairs get
    ``(xi, -xi)`` (the partner chain must use ``-xi_t`` at every step), simplex groups the same
    simplex transform, independent and rqmc batches independent rows. The draws of a group depend
    only on ``(seed, group index, t)``, so a sampler may ask for any sub-range of rows with
    ``rows=slice(a, b)`` and gets the same values as from the full call.

    Args:
        batch: the initial noise whose design and groups are mirrored.
        seed: seed of the step noise; default ``batch.seed`` (streams keep it apart from ``z``).
    """

    def __init__(self, batch: NoiseBatch, *, seed: int | None = None) -> None:
        self.batch = batch
        self.seed = batch.seed if seed is None else _check_int("seed", seed, minimum=0)

    def __len__(self) -> int:
        return len(self.batch)

    def __call__(self, step: int, rows: slice | None = None) -> torch.Tensor:
        """Noise for sampler step ``step``: ``(len(rows), *shape)`` float32 on CPU."""
        step = _check_int("step", step, minimum=0)
        n = len(self.batch)
        if rows is None:
            rows = slice(0, n)
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise ValueError(f"rows={rows!r} must be None or a slice with step 1")
        lo, hi, _ = rows.indices(n)
        hi = max(hi, lo)
        size = self.batch.group_size
        g_lo, g_hi = lo // size, -(-hi // size)  # groups covering rows lo..hi-1
        out = _grouped_rows(
            self.batch.design, g_hi - g_lo, size, math.prod(self.batch.shape),
            seed=self.seed, stream=_INITIAL_STREAM + 1 + step, first=self.batch.start + g_lo,
        )
        offset = g_lo * size
        return out[lo - offset : hi - offset].reshape(hi - lo, *self.batch.shape)


def partially_negated(batch: NoiseBatch, mask: torch.Tensor) -> torch.Tensor:
    """Ablation of the antithetic design: partners negate ``z`` only where ``mask`` is true.

    ``batch`` must be antithetic; ``mask`` is a boolean tensor of one sample's shape. Returns
    ``(N, *shape)`` with rows ``2i = z_i`` and ``2i+1 = where(mask, -z_i, z_i)``; every row is still
    exactly ``N(0, I)``. (Initial noise only: use it with deterministic DDIM.)
    """
    if batch.design != "antithetic":
        raise ValueError(f"batch.design={batch.design!r} must be 'antithetic'")
    mask = torch.as_tensor(mask, dtype=torch.bool)
    if tuple(mask.shape) != batch.shape:
        raise ValueError(f"mask has shape {tuple(mask.shape)}, expected {batch.shape}")
    z = batch.z.clone()
    z[1::2] = torch.where(mask, z[1::2], z[0::2])
    return z
