"""A 2-D diffusion with an exact noise predictor: why antithetic pairs are mirror images, and when not.

For data ``x_0 ~ sum_k w_k N(mu_k, Sigma_k)`` (a Gaussian mixture in ``D`` dimensions) the forward
process ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` (Ho et al., 2020, Eq. 4) noises each
component on its own, so the density of ``x_t`` is again a mixture,

    q_t(x) = sum_k w_k N(x; sqrt(abar_t) mu_k, abar_t Sigma_k + (1 - abar_t) I),

and the noise predictor that minimises the training loss is the conditional mean of ``eps``, given by
the score of ``q_t`` (Tweedie's formula):

    eps*(x, t) = -sqrt(1 - abar_t) grad log q_t(x)
               = sqrt(1 - abar_t) sum_k r_k(x) C_k^{-1} (x - sqrt(abar_t) mu_k),   C_k = abar_t Sigma_k + (1 - abar_t) I,

with ``r_k(x)`` the posterior probability of component ``k`` at ``x``. :func:`eps` computes it exactly.

- **One component** (a Gaussian): ``r_1 = 1`` and ``eps*`` is **affine** in ``x``. A deterministic DDIM
  step (``eta = 0``) is affine in ``(x_t, eps)``, so the whole sampler maps ``z`` to ``A z + c``: the
  outputs from ``z`` and ``-z`` are mirror images about ``c``, the image of ``0``, and their correlation
  about that centre is exactly ``-1`` for every pair (:func:`pair_correlation`).
- **Several components**: the responsibilities switch between modes, ``eps*`` is not affine, and the
  two members of a pair land in modes that need not lie opposite each other about the centre: the
  correlation stays well above ``-1``.

The schedule and the update rule are diffusers' ``DDIMScheduler`` (:func:`make_scheduler`); nothing of
DDIM is re-derived here. Everything is float64 on the CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from diffusers import DDIMScheduler

from . import noise

__all__ = ["Mixture", "gaussian", "moment_matched", "example_mixture", "noised", "log_density", "eps",
           "make_scheduler", "ddim_paths", "PairPaths", "pn_paths", "pair_correlation"]


@dataclass(frozen=True)
class Mixture:
    """A Gaussian mixture ``sum_k w_k N(mu_k, Sigma_k)`` in ``D`` dimensions.

    Attributes:
        weights: ``(K,)`` positive, summing to 1.
        means: ``(K, D)``.
        covs: ``(K, D, D)`` symmetric positive definite.
    """

    weights: torch.Tensor
    means: torch.Tensor
    covs: torch.Tensor

    def __post_init__(self) -> None:
        w, mu, cov = (torch.as_tensor(v, dtype=torch.float64) for v in (self.weights, self.means, self.covs))
        k = w.shape[0] if w.ndim == 1 else -1
        if k < 1 or mu.ndim != 2 or mu.shape[0] != k or cov.shape != (k, mu.shape[1], mu.shape[1]):
            raise ValueError(f"weights (K,), means (K, D) and covs (K, D, D) do not fit: weights "
                             f"{tuple(w.shape)}, means {tuple(mu.shape)}, covs {tuple(cov.shape)}")
        if not (w > 0).all() or abs(w.sum().item() - 1.0) > 1e-9:
            raise ValueError(f"weights={w.tolist()} must be positive and sum to 1")
        if not torch.allclose(cov, cov.transpose(1, 2)) or not (torch.linalg.eigvalsh(cov) > 0).all():
            raise ValueError("covs must be symmetric positive definite")
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "means", mu)
        object.__setattr__(self, "covs", cov)

    @property
    def dim(self) -> int:
        """``D``, the dimension of a point."""
        return int(self.means.shape[1])

    @property
    def mean(self) -> torch.Tensor:
        """``(D,)``: the mixture's mean ``sum_k w_k mu_k``."""
        return self.weights @ self.means

    @property
    def cov(self) -> torch.Tensor:
        """``(D, D)``: the mixture's covariance (within plus between components)."""
        d = self.means - self.mean
        return torch.einsum("k,kij->ij", self.weights, self.covs) + torch.einsum("k,ki,kj->ij", self.weights, d, d)


def gaussian(mean: torch.Tensor | Sequence[float], cov: torch.Tensor | Sequence[Sequence[float]]) -> Mixture:
    """The Gaussian ``N(mean, cov)`` as a one-component :class:`Mixture`; ``mean`` ``(D,)``, ``cov`` ``(D, D)``."""
    mean = torch.as_tensor(mean, dtype=torch.float64)
    cov = torch.as_tensor(cov, dtype=torch.float64)
    return Mixture(torch.ones(1, dtype=torch.float64), mean[None], cov[None])


def moment_matched(m: Mixture) -> Mixture:
    """The Gaussian with the mean and covariance of ``m``: the same first two moments, one mode."""
    return gaussian(m.mean, m.cov)


def example_mixture() -> Mixture:
    """The book's 2-D example: three modes of unequal weight that are not symmetric about their mean
    (a mixture symmetric about its mean has an odd score about it, and its pairs would be exact mirror
    images again)."""
    means = torch.tensor([[-1.6, -0.8], [1.5, -1.1], [0.3, 1.7]], dtype=torch.float64)
    covs = torch.stack([torch.tensor([[0.10, 0.04], [0.04, 0.06]]), 0.06 * torch.eye(2),
                        torch.tensor([[0.12, -0.03], [-0.03, 0.05]])]).double()
    return Mixture(torch.tensor([0.45, 0.35, 0.20], dtype=torch.float64), means, covs)


def noised(m: Mixture, abar: float) -> Mixture:
    """The mixture of ``x_t`` when ``x_0 ~ m``: means ``sqrt(abar) mu_k``, covariances
    ``abar Sigma_k + (1 - abar) I`` (``abar``: the cumulative product of alphas at ``t``, in ``(0, 1]``)."""
    abar = float(abar)
    if not 0.0 < abar <= 1.0:
        raise ValueError(f"abar={abar!r} must lie in (0, 1]")
    eye = torch.eye(m.dim, dtype=torch.float64)
    return Mixture(m.weights, math.sqrt(abar) * m.means, abar * m.covs + (1.0 - abar) * eye)


def _component_terms(m: Mixture, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``log(w_k N(x; mu_k, C_k))`` ``(N, K)`` and ``C_k^{-1} (x - mu_k)`` ``(N, K, D)`` for points ``x`` ``(N, D)``."""
    x = torch.as_tensor(x, dtype=torch.float64)
    if x.ndim != 2 or x.shape[1] != m.dim:
        raise ValueError(f"x must have shape (N, {m.dim}), got {tuple(x.shape)}")
    chol = torch.linalg.cholesky(m.covs)  # (K, D, D)
    diff = x[:, None, :] - m.means[None]  # (N, K, D)
    white = torch.linalg.solve_triangular(chol[None], diff[..., None], upper=False)[..., 0]  # L^{-1} (x - mu)
    prec_diff = torch.cholesky_solve(diff[..., None], chol[None])[..., 0]  # C^{-1} (x - mu)
    logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)  # (K,)
    logpdf = -0.5 * (white ** 2).sum(-1) - 0.5 * logdet - 0.5 * m.dim * math.log(2 * math.pi)
    return torch.log(m.weights) + logpdf, prec_diff


def log_density(m: Mixture, x: torch.Tensor, abar: float = 1.0) -> torch.Tensor:
    """``log q_t(x)`` ``(N,)`` of points ``x`` ``(N, D)``: the density of ``x_t`` for data ``m`` (``abar = 1``: the
    data's own density)."""
    logs, _ = _component_terms(noised(m, abar), x)
    return torch.logsumexp(logs, dim=1)


def eps(m: Mixture, x: torch.Tensor, abar: float) -> torch.Tensor:
    """The exact noise predictor ``eps*(x, t) = -sqrt(1 - abar) grad log q_t(x)`` ``(N, D)`` at points ``x``
    ``(N, D)`` (module docstring); affine in ``x`` when ``m`` has one component."""
    q = noised(m, abar)
    logs, prec_diff = _component_terms(q, x)
    r = torch.softmax(logs, dim=1)  # (N, K): posterior probability of each component
    return math.sqrt(1.0 - float(abar)) * (r[..., None] * prec_diff).sum(1)


def make_scheduler(steps: int) -> DDIMScheduler:
    """diffusers' ``DDIMScheduler`` with the DDPM paper's linear schedule (1,000 training steps), no clipping,
    set to ``steps`` steps that start at ``t = T`` (``"trailing"`` spacing)."""
    if not isinstance(steps, int) or not 1 <= steps <= 1000:
        raise ValueError(f"steps={steps!r} must be an integer in [1, 1000]")
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=False,
                              timestep_spacing="trailing")
    scheduler.set_timesteps(steps)
    return scheduler


def ddim_paths(m: Mixture, z: torch.Tensor, *, steps: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic DDIM (``eta = 0``) from ``z`` ``(N, D)`` with the exact :func:`eps` of data ``m``.

    Returns ``(timesteps (S,), paths (N, S + 1, D))``: ``paths[:, 0]`` is ``z`` (the state at ``t = T``),
    ``paths[:, s + 1]`` the state after step ``s`` (diffusers' ``DDIMScheduler.step``), the last one the
    output."""
    z = torch.as_tensor(z, dtype=torch.float64)
    if z.ndim != 2 or z.shape[1] != m.dim:
        raise ValueError(f"z must have shape (N, {m.dim}), got {tuple(z.shape)}")
    scheduler = make_scheduler(steps)
    x, states = z.clone(), [z.clone()]
    for t in scheduler.timesteps:
        abar = float(scheduler.alphas_cumprod[int(t)])
        x = scheduler.step(eps(m, x, abar), int(t), x, eta=0.0).prev_sample
        states.append(x.clone())
    return scheduler.timesteps.clone(), torch.stack(states, 1)


@dataclass(frozen=True)
class PairPaths:
    """DDIM paths of antithetic pairs under one data distribution (:func:`pn_paths`).

    Attributes:
        name: what the data are (``"Gaussian"``, ``"mixture"``).
        data: the data distribution.
        timesteps: ``(S,)`` the sampler's timesteps, from ``t = T`` down.
        paths: ``(2P, S + 1, D)`` states from ``z_i`` (row ``2i``) and from ``-z_i`` (row ``2i + 1``), from the
            initial noise to the output.
    """

    name: str
    data: Mixture
    timesteps: torch.Tensor
    paths: torch.Tensor

    @property
    def ends(self) -> torch.Tensor:
        """``(2P, D)``: the outputs."""
        return self.paths[:, -1]

    @property
    def correlation(self) -> torch.Tensor:
        """``(P,)``: each pair's correlation of outputs about the centre of all outputs (:func:`pair_correlation`)."""
        return pair_correlation(self.ends)

    @property
    def midpoints(self) -> torch.Tensor:
        """``(P, D)``: the mean of each pair's two outputs (a constant, the centre, for an affine predictor)."""
        return 0.5 * (self.ends[0::2] + self.ends[1::2])


def pn_paths(m: Mixture, n_pairs: int, *, steps: int = 50, seed: int = 0, name: str = "") -> PairPaths:
    """DDIM paths of ``n_pairs`` antithetic pairs ``(z_i, -z_i)`` under data ``m``; ``z_i ~ N(0, I)`` drawn from
    :func:`antinb.noise.seeded_generator` ``(seed)``, so that two data distributions at one seed share their
    noise."""
    if not isinstance(n_pairs, int) or n_pairs < 2:
        raise ValueError(f"n_pairs={n_pairs!r} must be an integer >= 2")
    z = torch.randn(n_pairs, m.dim, generator=noise.seeded_generator(seed), dtype=torch.float64)
    pn = torch.stack([z, -z], 1).reshape(2 * n_pairs, m.dim)  # rows 2i, 2i + 1: z_i, -z_i
    timesteps, paths = ddim_paths(m, pn, steps=steps)
    return PairPaths(name, m, timesteps, paths)


def pair_correlation(x: torch.Tensor, centre: torch.Tensor | None = None) -> torch.Tensor:
    """Per-pair correlation of points ``x`` ``(2P, D)`` (rows ``2i, 2i + 1`` a pair) about ``centre`` ``(D,)``
    (default: the mean of all ``2P`` points): ``<a - c, b - c> / (|a - c| |b - c|)``, ``(P,)``.

    It is the book's *centered* pair correlation (:func:`antinb.stats.pair_correlation` with a mean image)
    without the per-row mean over coordinates, which in two dimensions would leave only ``+-1``. For
    pairs mirrored about ``c`` (``a + b = 2 c``) it is exactly ``-1``."""
    x = torch.as_tensor(x, dtype=torch.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[0] % 2:
        raise ValueError(f"x must have shape (2P, D) with P >= 1, got {tuple(x.shape)}")
    c = x.mean(0) if centre is None else torch.as_tensor(centre, dtype=torch.float64)
    a, b = x[0::2] - c, x[1::2] - c
    return (a * b).sum(1) / torch.sqrt((a * a).sum(1) * (b * b).sum(1))
