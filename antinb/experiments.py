"""Recipes of the structure findings, shared by the notebooks and usable from any code.

- :func:`pair_samples`: PN, RR and control pairs under DDIM or DDPM (finding 1);
- :func:`correlations`: standard and centered per-pair correlation of several pair sets;
- :func:`trajectory_correlations`: corr(x_t) and corr(eps) of PN pairs at every step (finding 2);
- :func:`eps_slices` and :func:`symmetry_residual`: the affine antisymmetry conjecture (finding 3).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from . import noise, stats
from .models import DiffusionModel
from .sampling import make_scheduler, predict_eps, sample

__all__ = ["PAIRINGS", "pair_samples", "correlations", "trajectory_correlations", "eps_slices",
           "symmetry_residual", "default_timesteps"]

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
