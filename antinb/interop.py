"""Antithetic noise for any diffusers pipeline: ``latents=`` from antinb's designs, a trajectory recorder.

Three lines give PN pairs from a pipeline you already use::

    z = interop.pipeline_latents(pipe, noise.antithetic(8, interop.latent_shape(pipe), seed=0))
    interop.check_mirrorable(pipe.scheduler)           # refuses schedulers that draw their own step noise
    images = pipe(prompt=["a red bicycle"] * 8, latents=z, num_inference_steps=50).images  # rows 2i, 2i+1: z, -z

- :func:`latent_shape` is the shape ``(C, h, w)`` of one initial latent of the pipeline (what
  ``prepare_latents`` would draw), :func:`pipeline_latents` turns a :class:`antinb.noise.NoiseBatch`
  (or a tensor of that shape) into the ``latents=`` argument: the pipeline's dtype and device, and
  the 2x2 patch packing of FLUX-style transformers. The values are the design's, unscaled: the
  pipeline multiplies by its scheduler's ``init_noise_sigma`` itself.
- :func:`check_mirrorable` refuses a scheduler that draws fresh noise at every step (ancestral,
  SDE, DDPM, consistency samplers): a pipeline gives no way to hand the partner chain ``-xi_t``, so
  the antithetic structure would be lost after the first step. Use :func:`antinb.ddpm` (which
  mirrors the step noise) with ``antinb.load(folder)`` for those.
- :class:`TrajectoryRecorder` is a ``callback_on_step_end`` that records the correlation of every
  pair's latents after each step (finding 2) from any pipeline that accepts that callback.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch

from . import stats
from .noise import NoiseBatch

__all__ = ["latent_shape", "pipeline_latents", "check_mirrorable", "TrajectoryRecorder", "DETERMINISTIC",
           "STOCHASTIC"]

#: Schedulers whose step is a deterministic function of the current latents (with their default config).
DETERMINISTIC = frozenset({
    "DDIMScheduler", "DDIMInverseScheduler", "PNDMScheduler", "EulerDiscreteScheduler", "HeunDiscreteScheduler",
    "LMSDiscreteScheduler", "DPMSolverMultistepScheduler", "DPMSolverSinglestepScheduler",
    "UniPCMultistepScheduler", "DEISMultistepScheduler", "KDPM2DiscreteScheduler",
    "FlowMatchEulerDiscreteScheduler", "FlowMatchHeunDiscreteScheduler", "EDMEulerScheduler",
    "EDMDPMSolverMultistepScheduler",
})
#: Schedulers that draw fresh noise at every step: a pipeline cannot mirror it inside a pair.
STOCHASTIC = frozenset({
    "DDPMScheduler", "EulerAncestralDiscreteScheduler", "KDPM2AncestralDiscreteScheduler", "DPMSolverSDEScheduler",
    "LCMScheduler", "TCDScheduler", "CMStochasticIterativeScheduler", "DDPMWuerstchenScheduler",
    "ScoreSdeVeScheduler", "KarrasVeScheduler",
})


def _is_packed(pipe: Any) -> bool:
    """FLUX-style pipelines pack 2x2 latent patches into tokens (``_pack_latents``)."""
    return hasattr(type(pipe), "_pack_latents") and getattr(pipe, "transformer", None) is not None


def _accepts_latents(pipe: Any) -> None:
    if "latents" not in inspect.signature(type(pipe).__call__).parameters:
        raise ValueError(f"pipeline {type(pipe).__name__} draws its own initial noise (its __call__ takes no "
                         "latents=); sample its model with antinb instead: antinb.load(folder) and antinb.ddim")


def latent_shape(pipe: Any, *, height: int | None = None, width: int | None = None) -> tuple[int, int, int]:
    """``(C, h, w)``: one initial latent of ``pipe`` for images of ``height x width`` pixels (default: the
    pipeline's default size), as ``pipe.prepare_latents`` would draw it before packing."""
    _accepts_latents(pipe)
    vsf = int(getattr(pipe, "vae_scale_factor", 1) or 1)
    if _is_packed(pipe):
        channels = pipe.transformer.config.in_channels // 4
        default = int(getattr(pipe, "default_sample_size", 128)) * vsf
        h, w = (int(height or default), int(width or default))
        return channels, 2 * (h // (vsf * 2)), 2 * (w // (vsf * 2))
    net = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
    if net is None:
        raise ValueError(f"pipeline {type(pipe).__name__} has neither a unet nor a transformer: cannot tell its "
                         "latent shape")
    channels = int(net.config.in_channels)
    size = net.config.sample_size
    default = (size if isinstance(size, int) else size[0]) * vsf
    h, w = (int(height or default), int(width or default))
    if h % vsf or w % vsf:
        raise ValueError(f"height={h} and width={w} must be multiples of the VAE scale factor {vsf}")
    return channels, h // vsf, w // vsf


def _device_dtype(pipe: Any) -> tuple[torch.device, torch.dtype]:
    device = getattr(pipe, "_execution_device", None) or getattr(pipe, "device", torch.device("cpu"))
    return torch.device(device), getattr(pipe, "dtype", torch.float32)


def pipeline_latents(pipe: Any, noise: NoiseBatch | torch.Tensor, *, height: int | None = None,
                     width: int | None = None) -> torch.Tensor:
    """The ``latents=`` argument of ``pipe`` for the rows of ``noise`` ``(N, C, h, w)``.

    Rows keep their order (antithetic pairs stay at ``2i, 2i+1``, pass prompts in the same order).
    Returns ``(N, C, h, w)``, or ``(N, h/2 * w/2, 4 C)`` for packed (FLUX-style) pipelines, in the
    pipeline's dtype on its execution device. Raises ``ValueError`` when the noise's shape is not
    :func:`latent_shape` of the pipeline.
    """
    z = noise.z if isinstance(noise, NoiseBatch) else noise
    if not isinstance(z, torch.Tensor) or z.ndim != 4:
        raise ValueError(f"noise must be a NoiseBatch or a tensor (N, C, h, w), got {getattr(z, 'shape', type(z))}")
    want = latent_shape(pipe, height=height, width=width)
    if tuple(z.shape[1:]) != want:
        raise ValueError(f"noise rows have shape {tuple(z.shape[1:])}, but {type(pipe).__name__} at this size "
                         f"takes latents of shape {want} (interop.latent_shape)")
    if not torch.isfinite(z).all():
        raise ValueError("noise contains non-finite values")
    device, dtype = _device_dtype(pipe)
    if _is_packed(pipe):
        c, h, w = want
        z = type(pipe)._pack_latents(z, z.shape[0], c, h, w)
    return z.to(device=device, dtype=dtype)


def check_mirrorable(scheduler: Any, *, eta: float = 0.0) -> None:
    """Raise ``ValueError`` unless every step of ``scheduler`` is deterministic given the latents.

    ``eta`` is the DDIM ``eta`` the pipeline will be called with (``> 0`` adds step noise). Schedulers
    this module does not know are refused too: name them in :data:`DETERMINISTIC` once checked.
    """
    name = type(scheduler).__name__
    config = getattr(scheduler, "config", {}) or {}
    get = config.get if hasattr(config, "get") else (lambda k, d=None: getattr(config, k, d))
    reason = None
    if name in STOCHASTIC or "Ancestral" in name or "SDE" in name:
        reason = "it draws fresh noise at every step"
    elif "sde" in str(get("algorithm_type", "") or ""):
        reason = f"algorithm_type={get('algorithm_type')!r} draws fresh noise at every step"
    elif get("stochastic_sampling", False):
        reason = "stochastic_sampling=True draws fresh noise at every step"
    elif name.startswith("DDIM") and eta:
        reason = f"eta={eta} > 0 draws fresh noise at every step"
    elif name not in DETERMINISTIC:
        reason = "antinb does not know whether it draws noise at each step"
    if reason:
        raise ValueError(f"scheduler {name} cannot keep antithetic pairs mirrored: {reason}, and a pipeline "
                         "cannot give the partner chain -xi_t. Use a deterministic scheduler (e.g. DDIMScheduler "
                         "with eta=0), or antinb.ddpm on antinb.load(folder), which mirrors the step noise")


class TrajectoryRecorder:
    """``callback_on_step_end`` recording the per-pair correlation of the latents after every step.

    Pass it as ``pipe(..., callback_on_step_end=rec)``; rows ``2i, 2i+1`` are a pair. After the call,
    :attr:`correlations` is ``(P, S)`` (pairs x steps), :attr:`timesteps` ``(S,)``. Packed (FLUX)
    latents are correlated as they are: packing only reorders the coordinates.
    """

    def __init__(self) -> None:
        self._corr: list[torch.Tensor] = []
        self._t: list[float] = []

    def __call__(self, pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        latents = callback_kwargs["latents"]
        self._corr.append(stats.pair_correlation(latents.detach().float().cpu()))
        self._t.append(float(timestep))
        return callback_kwargs

    @property
    def correlations(self) -> np.ndarray:
        if not self._corr:
            raise ValueError("nothing recorded yet: pass the recorder as callback_on_step_end and run the pipeline")
        return torch.stack(self._corr, 1).numpy()

    @property
    def timesteps(self) -> np.ndarray:
        return np.asarray(self._t)
