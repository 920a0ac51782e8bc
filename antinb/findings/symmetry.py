"""Finding 3: the noise predictor is close to affine antisymmetric, eps(x, t) + eps(-x, t) ≈ 2 c_t.

science.md §4: 1-D slices ``s -> eps(s x, t)_k`` and their antisymmetry score, and the direct
residual of the conjecture.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .. import paper, stats
from ..models import DiffusionModel
from ..sampling import make_scheduler, predict_eps
from .base import Column, Table, fill

__all__ = ["AS_MEAN", "AS_Q10", "AS_N", "TABLE", "paper_records", "eps_slices", "symmetry_residual",
           "default_timesteps"]

AS_MEAN = "as_mean/{model}"
AS_Q10 = "as_q10/{model}"
AS_N = "as_n/{model}"

TABLE = Table(
    "Finding 3: the noise predictor is nearly affine antisymmetric", "03_symmetry", ("model",),
    (Column("AS mean", AS_MEAN, ".4f"),
     Column("AS 10 % quantile", AS_Q10, ".4f"),
     Column("slices", AS_N, "d", compare=False)),
    note="Antisymmetry score of 1-D slices $s \\mapsto \\epsilon_\\theta(s x, t)_k$, $s \\in [-1, 1]$ "
         "({doc}`methods`).")


def paper_records() -> dict[str, str]:
    """The paper's bounds under this finding's record names."""
    names = {"mean": AS_MEAN, "q10": AS_Q10}
    return {fill(names[q], model=m): value for (m, q), value in paper.SYMMETRY.items()}


def _timestep_tensor(t: int, n: int, device) -> torch.Tensor:
    return torch.full((n,), int(t), dtype=torch.long, device=device)


@torch.inference_mode()
def eps_slices(model: DiffusionModel, timesteps: list[int], *, n_x: int = 20, n_coords: int = 10, n_s: int = 21,
               seed: int = 0, max_batch_size: int = 512) -> dict[str, Any]:
    """1-D slices ``s -> eps(s x, t)[i]`` of the noise predictor (the paper's Figure 4).

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


