"""Finding 2: the correlation of PN pairs along the sampling trajectory.

science.md §3: at every sampler step, corr(x_t(z), x_t(-z)) and corr(eps(x_t(z)), eps(x_t(-z))).
Both start at -1 at t = T and rise only in the last steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .. import paper, stats
from ..models import DiffusionModel
from ..pairs import pair_samples
from .base import Column, Table

__all__ = ["TRAJ_X_FIRST", "TRAJ_EPS_FIRST", "TRAJ_X_MID", "TRAJ_EPS_MID", "TRAJ_FINAL", "TRAJ_STEPS_BELOW",
           "TABLE", "paper_records", "trajectory_correlations"]

TRAJ_X_FIRST = "traj_x_first/{model}/{sampler}"
TRAJ_EPS_FIRST = "traj_eps_first/{model}/{sampler}"
TRAJ_X_MID = "traj_x_mid/{model}/{sampler}"
TRAJ_EPS_MID = "traj_eps_mid/{model}/{sampler}"
TRAJ_FINAL = "traj_final/{model}/{sampler}"
TRAJ_STEPS_BELOW = "traj_steps_below_-0.5/{model}/{sampler}"

TABLE = Table(
    "Finding 2: the correlation along the trajectory", "02_timestep_evolution", ("model", "sampler"),
    (Column("corr(x_t) first step", TRAJ_X_FIRST),
     Column("corr(eps) first step", TRAJ_EPS_FIRST),
     Column("corr(x_t) mid", TRAJ_X_MID, compare=False),
     Column("corr(eps) mid", TRAJ_EPS_MID, compare=False),
     Column("corr(x_0) final", TRAJ_FINAL, compare=False),
     Column("steps with corr(x_t) < −0.5", TRAJ_STEPS_BELOW, "d", compare=False)),
    note="Mean over PN pairs of the standard correlation of the states $x_t$ and of the noise "
         "predictions $\\epsilon_\\theta(x_t, t)$ at the first sampler step ($t = T$), the middle step and "
         "the final sample.")


def paper_records() -> dict[str, float | str]:
    """The paper's numbers under this finding's record names (they hold for every model: ``*``)."""
    return {TRAJ_X_FIRST.format(model="*", sampler="*"): paper.TRAJECTORY["x_first"],
            TRAJ_EPS_FIRST.format(model="*", sampler="*"): paper.TRAJECTORY["eps_first"]}


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


