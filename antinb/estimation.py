"""One call from a statistic to a confidence interval: ``antinb.estimate``.

``estimate("brightness", model, n=512, method="amc")`` draws the initial noise of the chosen
design (:mod:`antinb.noise`), samples the model (:mod:`antinb.sampling`), evaluates the statistic
on every image (:mod:`antinb.metrics`) and returns the :class:`antinb.stats.Estimate` of
``mu = E[S(DM(Z))]`` with its confidence interval (:mod:`antinb.stats`):

========  ======================  ====================================================
method    noise design            independent units of the CI
========  ======================  ====================================================
``mc``    independent             the ``n`` values
``amc``   antithetic pairs        the ``n / 2`` pair means
``kamc``  simplex groups of ``k``   the ``n / k`` group means
``rqmc``  scrambled Sobol'        the means of ``replicates`` randomizations
========  ======================  ====================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from . import metrics, noise, stats
from .models import DiffusionModel
from .sampling import sample

__all__ = ["METHODS", "estimate", "EstimateRun"]

#: method -> (noise design, estimator)
METHODS: dict[str, tuple[str, str]] = {"mc": ("independent", "mc"), "amc": ("antithetic", "amc"),
                                       "kamc": ("simplex", "kamc"), "rqmc": ("rqmc", "rqmc")}


@dataclass(frozen=True)
class EstimateRun:
    """The estimate with what produced it: the per-image values and the images themselves."""

    estimate: stats.Estimate
    values: torch.Tensor
    images: torch.Tensor | None


def estimate(statistic: str | Callable[[torch.Tensor], torch.Tensor], model: DiffusionModel, n: int, *,
             method: str = "mc", k: int | None = None, replicates: int | None = None, seed: int = 0,
             level: float = 0.95, sampler: str = "ddim", steps: int = 50, labels=None, guidance_scale=None,
             max_batch_size: int = 256, keep_images: bool = False, progress: bool = True,
             return_run: bool = False) -> stats.Estimate | EstimateRun:
    """Estimate ``E[S(DM(Z))]`` with ``n`` generated images and a ``level`` confidence interval.

    ``statistic`` is a name from :data:`antinb.metrics.STATISTICS` or a function mapping images
    ``(B, C, H, W)`` in the model's range ``[-1, 1]`` to values ``(B,)``. ``k`` is the group size
    for ``kamc`` (default 4), ``replicates`` the number of randomizations for ``rqmc`` (default 16).
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} is unknown; accepted values: {sorted(METHODS)}")
    if isinstance(statistic, str):
        named = metrics.statistic(statistic)  # raises ValueError for an unknown name, before any sampling

        def fn(x: torch.Tensor) -> torch.Tensor:
            return named(x, value_range=(-1, 1))
    else:
        fn = statistic
    if not callable(fn):
        raise ValueError(f"statistic={statistic!r} must be a name in {sorted(metrics.STATISTICS)} or a callable")
    design, estimator = METHODS[method]
    if method == "kamc":
        k = 4 if k is None else k
    if method == "rqmc":
        replicates = 16 if replicates is None else replicates
    z = noise.make(design, n, model.sample_shape, seed=seed,
                   **({"k": k} if method == "kamc" else {}),
                   **({"replicates": replicates} if method == "rqmc" else {}))
    images = sample(model, z, sampler=sampler, steps=steps, labels=labels, guidance_scale=guidance_scale,
                    max_batch_size=max_batch_size, progress=progress)
    values = fn(images).double()
    if values.shape != (n,):
        raise ValueError(f"statistic returned shape {tuple(values.shape)}, expected ({n},)")
    est = stats.estimate_ci(values, estimator, level=level,
                            **({"k": k} if method == "kamc" else {}),
                            **({"replicates": replicates} if method == "rqmc" else {}))
    if return_run:
        return EstimateRun(est, values, images if keep_images else None)
    return est
