"""Recipes of the structure findings, shared by the notebooks and usable from any code.

- :func:`pair_samples`: PN, RR and control pairs under DDIM or DDPM (finding 1);
- :func:`correlations`: standard and centered per-pair correlation of several pair sets;
- :func:`trajectory_correlations`: corr(x_t) and corr(eps) of PN pairs at every step (finding 2);
- :func:`eps_slices` and :func:`symmetry_residual`: the affine antisymmetry conjecture (finding 3);
- :func:`dataset_of`: the training data set of an embedded model (quality checks, held-out images);
- :func:`prefix_estimate`, :func:`block_estimates`, :func:`coverage_band`: estimators on a smaller
  budget and on disjoint repetitions of one generated design, and the binomial range of an
  empirical coverage (finding 5);
- :func:`pixelwise_half_width` and :func:`masked_l1`: per-pixel CIs and region errors (finding 6).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import torch

from . import noise, stats
from .models import DiffusionModel
from .sampling import make_scheduler, predict_eps, sample

__all__ = ["PAIRINGS", "pair_samples", "correlations", "trajectory_correlations", "eps_slices",
           "symmetry_residual", "default_timesteps", "dataset_of", "prefix_estimate", "block_estimates",
           "coverage_band", "pixelwise_half_width", "masked_l1"]

#: Pair designs: name -> (initial-noise design, step noise mirrored inside pairs?).
#: ``"PN (z only)"`` negates the initial noise but gives the partner chain independent step
#: noise: the control showing that DDPM needs ``-xi_t`` at every step.
PAIRINGS: dict[str, tuple[str, bool]] = {"PN": ("antithetic", True), "RR": ("independent", True),
                                         "PN (z only)": ("antithetic", False)}


def pair_samples(model: DiffusionModel, n_pairs: int, pairing: str = "PN", *, sampler: str = "ddim",
                 steps: int = 50, seed: int = 0, labels=None, guidance_scale: float | None = None,
                 max_batch_size: int = 512, callback=None, progress: bool = True) -> torch.Tensor:
    """``2 * n_pairs`` samples ``(2P, C, H, W)``, rows ``2i, 2i+1`` a pair of the given design."""
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing={pairing!r} is unknown; accepted values: {sorted(PAIRINGS)}")
    design, mirrored = PAIRINGS[pairing]
    batch = noise.make(design, 2 * n_pairs, model.sample_shape, seed=seed)
    step_noise = noise.StepNoise(batch if mirrored else noise.independent(2 * n_pairs, model.sample_shape,
                                                                          seed=seed + 1))
    return sample(model, batch, sampler=sampler, steps=steps, step_noise=step_noise, labels=labels,
                  guidance_scale=guidance_scale, max_batch_size=max_batch_size, callback=callback,
                  progress=progress)


def correlations(samples: dict[str, torch.Tensor], *, mean_image: torch.Tensor | None = None
                 ) -> dict[str, dict[str, torch.Tensor]]:
    """Per-pair standard and centered correlations of each pair set ``(2P, C, H, W)``.

    The centre for the centered variant is ``mean_image`` or, by default, the mean image of all
    the given samples together (the model's mean image, estimated from the generated set).
    """
    centre = mean_image if mean_image is not None else stats.mean_image(torch.cat(list(samples.values())))
    return {name: {"standard": stats.pair_correlation(x),
                   "centered": stats.pair_correlation(x, centered=True, mean_image=centre)}
            for name, x in samples.items()}


def trajectory_correlations(model: DiffusionModel, n_pairs: int, *, sampler: str = "ddim", steps: int = 50,
                            seed: int = 0, max_batch_size: int = 512, progress: bool = True) -> dict[str, Any]:
    """Correlation of PN pairs at every sampler step: ``x`` and ``eps`` ``(P, S)``, ``timesteps`` ``(S,)``.

    Step 0 is ``t = T`` (the initial noise: exactly -1 for ``x``); the last column is the final
    network call. ``final`` ``(P,)`` is the correlation of the outputs.
    """
    xs, es, ts = [], [], []

    def record_step(step: int, t: int, x_t: torch.Tensor, eps: torch.Tensor) -> None:
        xs.append(stats.pair_correlation(x_t.cpu()))
        es.append(stats.pair_correlation(eps.cpu()))
        ts.append(t)

    out = pair_samples(model, n_pairs, "PN", sampler=sampler, steps=steps, seed=seed,
                       max_batch_size=max_batch_size, callback=record_step, progress=progress)
    return {"timesteps": np.asarray(ts), "x": torch.stack(xs, 1).numpy(), "eps": torch.stack(es, 1).numpy(),
            "final": stats.pair_correlation(out).numpy()}


def _timestep_tensor(t: int, n: int, device) -> torch.Tensor:
    return torch.full((n,), int(t), dtype=torch.long, device=device)


@torch.inference_mode()
def eps_slices(model: DiffusionModel, timesteps: list[int], *, n_x: int = 20, n_coords: int = 10, n_s: int = 21,
               seed: int = 0, max_batch_size: int = 512) -> dict[str, Any]:
    """1-D slices ``s -> eps(s x, t)[i]`` of the noise predictor (science.md §4, the paper's Figure 4).

    For each timestep, ``n_x`` random ``x ~ N(0, I)`` (the scale of ``x_t``) and ``n_coords``
    random coordinates ``i`` of each give ``n_x * n_coords`` slices on the grid
    ``s = linspace(-1, 1, n_s)``. Returns ``s`` ``(S,)``, ``values`` ``(T, n_x * n_coords, S)`` and
    the antisymmetry ``scores`` ``(T, n_x * n_coords)``. Unconditional (null class) for class models.
    """
    if n_s < 3 or n_s % 2 == 0:
        raise ValueError(f"n_s={n_s!r} must be an odd integer >= 3 (the grid must contain s = 0)")
    dev = model.device
    g = torch.Generator().manual_seed(seed)
    s_grid = np.linspace(-1.0, 1.0, n_s)  # float64: exactly symmetric about 0
    s = torch.from_numpy(s_grid).float()
    d = int(np.prod(model.sample_shape))
    values = np.empty((len(timesteps), n_x * n_coords, n_s))
    for ti, t in enumerate(timesteps):
        x = torch.randn(n_x, *model.sample_shape, generator=g)
        coords = torch.stack([torch.randperm(d, generator=g)[:n_coords] for _ in range(n_x)])  # (n_x, n_coords)
        inputs = (s[None, :, None, None, None] * x[:, None]).flatten(0, 1)  # (n_x * S, C, H, W)
        eps = torch.cat([predict_eps(model, chunk.to(dev), _timestep_tensor(t, len(chunk), dev)).cpu()
                         for chunk in inputs.split(max_batch_size)])
        eps = eps.reshape(n_x, n_s, d)
        picked = torch.gather(eps, 2, coords[:, None, :].expand(n_x, n_s, n_coords))  # (n_x, S, n_coords)
        values[ti] = picked.permute(0, 2, 1).reshape(n_x * n_coords, n_s).numpy()
    return {"s": s_grid, "timesteps": np.asarray(timesteps), "values": values,
            "scores": stats.antisymmetry_score(values, s_grid)}


@torch.inference_mode()
def symmetry_residual(model: DiffusionModel, timesteps: list[int], *, n: int = 64, seed: int = 0,
                      max_batch_size: int = 512) -> dict[str, np.ndarray]:
    """Direct test of ``eps(x, t) + eps(-x, t) = 2 c_t``: for ``x ~ N(0, I)``, with ``c_t`` the mean
    of ``(eps(x) + eps(-x)) / 2`` over the ``n`` draws, the relative residual
    ``||eps(x) + eps(-x) - 2 c_t|| / ||eps(x)||`` per draw (``(T, n)``; 0 under the conjecture) and
    the relative size of the centre ``||2 c_t|| / ||eps(x)||``."""
    dev = model.device
    g = torch.Generator().manual_seed(seed)
    resid = np.empty((len(timesteps), n))
    centre = np.empty((len(timesteps), n))
    for ti, t in enumerate(timesteps):
        x = torch.randn(n, *model.sample_shape, generator=g)
        both = torch.cat([x, -x])
        eps = torch.cat([predict_eps(model, c.to(dev), _timestep_tensor(t, len(c), dev)).cpu()
                         for c in both.split(max_batch_size)]).flatten(1).double()
        plus, minus = eps[:n], eps[n:]
        c2 = (plus + minus).mean(0)  # 2 c_t
        norm = plus.norm(dim=1)
        resid[ti] = ((plus + minus - c2).norm(dim=1) / norm).numpy()
        centre[ti] = (c2.norm() / norm).numpy()
    return {"timesteps": np.asarray(timesteps), "residual": resid, "centre": centre}


def default_timesteps(model: DiffusionModel, k: int = 6) -> list[int]:
    """``k`` timesteps spread over the DDIM-50 schedule, from ``T`` down to the last step."""
    ts = make_scheduler(model, 50).timesteps.tolist()
    idx = np.linspace(0, len(ts) - 1, k).round().astype(int)
    return [int(ts[i]) for i in idx]


# --------------------------------------------------------------------------------------------
# Applications: diversity, uncertainty quantification, DPS (findings 4-6)
# --------------------------------------------------------------------------------------------


def dataset_of(model: DiffusionModel) -> str | None:
    """The data set an embedded model was trained on (``training.json``'s ``config.dataset``).

    ``None`` for models without a training record (local folders, hub ids): there is no offline
    held-out split or quality classifier for them.
    """
    from .models import EMBEDDED, weights_dir

    card = getattr(model, "card", None) or {}
    if isinstance(card.get("dataset"), str):
        return card["dataset"]
    if model.name in EMBEDDED:
        record = weights_dir(model.name) / "training.json"
        if record.exists():
            return json.loads(record.read_text()).get("config", {}).get("dataset")
    return None


def _estimator_kwargs(method: str, k: int | None, replicates: int | None) -> dict[str, int]:
    if method not in stats.ESTIMATORS:
        raise ValueError(f"method={method!r} must be one of {sorted(stats.ESTIMATORS)}")
    if method == "kamc" and k is None:
        raise ValueError("k is required for method='kamc'")
    if method == "rqmc" and replicates is None:
        raise ValueError("replicates is required for method='rqmc'")
    return {**({"k": k} if method == "kamc" else {}), **({"replicates": replicates} if method == "rqmc" else {})}


def prefix_estimate(values, method: str, n: int, *, k: int | None = None, replicates: int | None = None,
                    level: float = 0.95) -> stats.Estimate:
    """The estimate that the first ``n`` images of a generated design would have given.

    ``values`` ``(N,)`` are laid out as :func:`antinb.estimate` generates them. For ``mc``, ``amc``
    and ``kamc`` the first ``n`` values are whole units (``n`` a multiple of 1, 2, ``k``), drawn
    exactly as a run of size ``n`` would draw them. For ``rqmc`` (``replicates`` rows of ``m = N/R``,
    replicate-major) it keeps the first ``n / R`` points of *every* replicate: the first ``2^j``
    points of a scrambled Sobol' sequence are themselves a scrambled net, so ``n / R`` must be a power
    of two. Nested budgets of one run give a curve of estimates without new sampling (the points
    on it are correlated, not independent).
    """
    kw = _estimator_kwargs(method, k, replicates)
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
        unit = {"mc": 1, "amc": 2, "kamc": k}[method]
        if n % unit:
            raise ValueError(f"n={n} must be a multiple of the group size {unit} of method={method!r}")
        sub = v[: int(n)]
    return stats.estimate_ci(sub, method, level=level, **kw)


def block_estimates(values, method: str, block: int, *, k: int | None = None, replicates: int | None = None,
                    level: float = 0.95) -> list[stats.Estimate]:
    """Independent repetitions of an estimator: ``values`` ``(N,)`` cut into consecutive blocks of
    ``block`` images, one :class:`antinb.stats.Estimate` per block.

    Groups of a design are independent, so the blocks of one large draw are independent runs of
    size ``block``: antithetic pairs and simplex groups of ``k`` never straddle a block when ``block``
    is a multiple of the group size. For ``rqmc``, ``replicates`` is the number of replicates *per
    block*; the large draw must hold ``N / block * replicates`` replicates of ``block / replicates``
    points each (``antinb.estimate(..., n=N, replicates=N // block * replicates)``).
    """
    kw = _estimator_kwargs(method, k, replicates)
    v = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 2 or v.numel() % block:
        raise ValueError(f"block={block!r} must be an integer >= 2 dividing len(values)={v.numel()}")
    unit = {"mc": 1, "amc": 2, "kamc": k, "rqmc": replicates}[method]
    if block % unit:
        raise ValueError(f"block={block} must be a multiple of {unit} for method={method!r}")
    return [stats.estimate_ci(b, method, level=level, **kw) for b in v.split(int(block))]


def coverage_band(reps: int, level: float = 0.95, *, prob: float = 0.95) -> tuple[float, float]:
    """Central ``prob`` range of the empirical coverage of ``reps`` independent ``level`` intervals.

    The number of intervals covering is Binomial(``reps``, ``level``) when the nominal level holds;
    an observed coverage outside this range is evidence against it at about ``1 - prob``.
    """
    from scipy.stats import binom

    if isinstance(reps, bool) or not isinstance(reps, (int, np.integer)) or reps < 1:
        raise ValueError(f"reps={reps!r} must be a positive integer")
    for name, p in (("level", level), ("prob", prob)):
        if not 0.0 < float(p) < 1.0:
            raise ValueError(f"{name}={p!r} must be in (0, 1)")
    lo, hi = binom.ppf([(1 - prob) / 2, (1 + prob) / 2], int(reps), float(level))
    return float(lo) / reps, float(hi) / reps


def pixelwise_half_width(x: torch.Tensor, method: str, *, k: int | None = None, level: float = 0.95) -> torch.Tensor:
    """Per-pixel CI half-width of the mean image from samples ``x`` ``(N, C, H, W)``: ``(C, H, W)``.

    The same construction as :func:`antinb.stats.estimate_ci`, pixel by pixel: units are the single
    samples (``mc``), pair means (``amc``, consecutive rows ``2i, 2i+1``) or group means of ``k``
    (``kamc``); half-width ``t_{(1+level)/2, units-1} sd(units) / sqrt(units)``.
    """
    from scipy.stats import t as student_t

    unit = {"mc": 1, "amc": 2, "kamc": k}.get(method, 0)
    if method not in ("mc", "amc", "kamc") or (method == "kamc" and (k is None or k < 2)):
        raise ValueError(f"method={method!r} must be 'mc', 'amc' or 'kamc' (with k >= 2)")
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or x.shape[0] % unit or x.shape[0] // unit < 2:
        raise ValueError(f"x must have shape (N, ...) with N a multiple of {unit} and at least 2 units")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level={level!r} must be in (0, 1)")
    units = x.detach().double().reshape(x.shape[0] // unit, unit, *x.shape[1:]).mean(1)
    n_units = units.shape[0]
    q = float(student_t.ppf(0.5 + level / 2, df=n_units - 1))
    return (q * units.std(0, correction=1) / math.sqrt(n_units)).float()


def masked_l1(x: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor, *,
              value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Mean absolute error to ``reference`` over the pixels where ``mask`` is 1, on the ``[0, 1]`` scale.

    ``x`` ``(B, C, H, W)``; ``reference`` ``(C, H, W)`` or broadcastable to ``x``; ``mask`` broadcastable
    to ``(1, 1, H, W)`` or ``(1, C, H, W)`` with values in {0, 1} (e.g. an inpainting operator's
    ``mask``: observed pixels; ``1 - mask``: the hole). Returns ``(B,)``.
    """
    from .metrics import to_unit

    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"x must have shape (B, C, H, W), got {getattr(x, 'shape', type(x).__name__)}")
    m = torch.as_tensor(mask, dtype=torch.float64).expand(1, *x.shape[1:])
    if float(m.sum()) == 0.0:
        raise ValueError("mask selects no pixel")
    diff = (to_unit(x.double(), value_range) - to_unit(torch.as_tensor(reference).double(), value_range)).abs()
    return (diff * m).sum(dim=(1, 2, 3)) / m.sum()
