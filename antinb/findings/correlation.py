"""Finding 1: antithetic (PN) pairs are strongly negatively correlated; independent (RR) pairs are not.

science.md §2: the pixel-wise Pearson correlation of the two members of a pair, standard and
centered (the model's mean image subtracted first), for PN, RR and, under DDPM, the control that
negates only ``z``.
"""

from __future__ import annotations

import torch

from .. import paper, stats
from .base import Column, Table, fill

__all__ = ["CORR_MEAN", "CORR_SD", "TABLE", "paper_records", "correlations"]

#: Mean and sd over pairs of the per-pair correlation; ``pairing`` is ``pn``, ``rr`` or ``pn(zonly)``.
CORR_MEAN = "corr_mean/{model}/{sampler}/{pairing}/{variant}"
CORR_SD = "corr_sd/{model}/{sampler}/{pairing}/{variant}"

TABLE = Table(
    "Finding 1: PN pairs are negatively correlated", "01_correlation", ("model", "sampler"),
    (Column("PN centered", CORR_MEAN.replace("{pairing}/{variant}", "pn/centered")),
     Column("PN standard", CORR_MEAN.replace("{pairing}/{variant}", "pn/standard")),
     Column("RR centered", CORR_MEAN.replace("{pairing}/{variant}", "rr/centered"), compare=False),
     Column("RR standard", CORR_MEAN.replace("{pairing}/{variant}", "rr/standard"), compare=False),
     Column("PN, z only, centered", CORR_MEAN.replace("{pairing}/{variant}", "pn(zonly)/centered"), compare=False)),
    note="Mean per-pair pixel correlation. The paper also reports consistency models (−0.75 to −0.91), "
         "a VAE on MNIST (−0.41) and Glow on CIFAR-10 (−0.57); those are not diffusion samplers and are "
         "outside this package. \"PN, z only\" negates the initial noise but not the per-step noise "
         "(DDPM only: it shows why the partner chain needs $-\\xi_t$ at every step).")


def paper_records() -> dict[str, float | str]:
    """The paper's numbers under this finding's record names."""
    return {fill(CORR_MEAN, model=m, sampler=s, pairing="pn", variant=v): value
            for (m, s, v), value in paper.CORRELATION.items()}


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


