"""PN, RR and control pairs of samples (finding 1 and every finding built on pairs).

A *pairing* names how the two members of a pair get their noise: ``PN`` (antithetic: ``z`` and
``-z``, and ``-xi_t`` at every stochastic step), ``RR`` (independent), and the DDPM control
``PN (z only)`` (``-z`` but independent per-step noise, which shows that the partner chain needs the
mirrored step noise).
"""

from __future__ import annotations

import torch

from . import noise
from .models import DiffusionModel, text_conditioned
from .prompts import PromptSet, model_key, resolve
from .cache import sample

__all__ = ["PAIRINGS", "pair_samples", "conditioning", "rows_per_image"]

#: Pair designs: name -> (initial-noise design, step noise mirrored inside pairs?).
#: ``"PN (z only)"`` negates the initial noise but gives the partner chain independent step
#: noise: the control showing that DDPM needs ``-xi_t`` at every step.
PAIRINGS: dict[str, tuple[str, bool]] = {"PN": ("antithetic", True), "RR": ("independent", True),
                                         "PN (z only)": ("antithetic", False)}


def conditioning(model: DiffusionModel, prompts=None, guidance_scale: float | None = 7.5
                 ) -> tuple[str, dict]:
    """The record key of ``model`` under a prompt set (:func:`antinb.prompts.model_key`) and the keyword
    arguments of :func:`pair_samples` that apply it. Prompts and their guidance scale apply to
    text-conditioned models only; other models keep their name and sample as before."""
    text = getattr(model, "text_encoder", None) is not None
    pset = resolve(prompts) if text else None
    w = guidance_scale if pset is not None else None
    return (model_key(model.name, text_conditioned=text, prompts=pset, guidance_scale=w),
            {"prompts": pset, "guidance_scale": w} if pset is not None else {})


def rows_per_image(model, prompts=None, guidance_scale: float | None = 7.5) -> int:
    """Network input rows per image and step under :func:`conditioning`, without loading ``model`` (a
    spec or a loaded model): 2 when a text-to-image model samples ``prompts`` with guidance (the
    conditional and unconditional halves share a pass), else 1. Used by the findings' ``cost``."""
    prompted = prompts is not None and not (isinstance(prompts, str) and prompts == "")
    return 2 if prompted and guidance_scale is not None and text_conditioned(model) else 1


def pair_samples(model: DiffusionModel, n_pairs: int, pairing: str = "PN", *, sampler: str = "ddim",
                 steps: int = 50, seed: int = 0, labels=None, prompts: PromptSet | str | list | None = None,
                 guidance_scale: float | None = None, max_batch_size: int = 512, callback=None,
                 progress: bool = True) -> torch.Tensor:
    """``2 * n_pairs`` samples ``(2P, C, H, W)``, rows ``2i, 2i+1`` a pair of the given design.

    ``prompts`` (a text-conditioned model; see :func:`antinb.prompts.resolve`): pair ``i`` gets prompt
    ``i mod len(prompts)`` for both members; ``guidance_scale`` applies to labels or prompts.
    """
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing={pairing!r} is unknown; accepted values: {sorted(PAIRINGS)}")
    pset = resolve(prompts)
    design, mirrored = PAIRINGS[pairing]
    batch = noise.make(design, 2 * n_pairs, model.sample_shape, seed=seed)
    step_noise = noise.StepNoise(batch if mirrored else noise.independent(2 * n_pairs, model.sample_shape,
                                                                          seed=seed + 1))
    return sample(model, batch, sampler=sampler, steps=steps, step_noise=step_noise, labels=labels,
                  prompts=None if pset is None else pset.for_groups(n_pairs, 2), guidance_scale=guidance_scale, max_batch_size=max_batch_size, callback=callback,
                  progress=progress)
