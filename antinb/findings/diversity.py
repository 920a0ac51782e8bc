"""Finding 4: PN pairs are more diverse than RR pairs, at unchanged sample quality.

science.md §5: SSIM (lower = more diverse) and a perceptual distance (LPIPS, or ST-LPIPS where
LPIPS's weights are absent; higher = more diverse) between the members of a pair, and the
improvement of PN over RR in percent.
"""

from __future__ import annotations

from .. import paper
from .base import Column, Table, fill

__all__ = ["SSIM_PN", "SSIM_RR", "SSIM_IMPROVEMENT", "PERCEPTUAL_IMPROVEMENT", "PERCEPTUAL_METRIC", "TABLE",
           "paper_records"]

SSIM_PN = "ssim_pn/{model}"
SSIM_RR = "ssim_rr/{model}"
SSIM_IMPROVEMENT = "ssim_improvement_pct/{model}"
PERCEPTUAL_IMPROVEMENT = "perceptual_improvement_pct/{model}"
PERCEPTUAL_METRIC = "perceptual_metric/{model}"

TABLE = Table(
    "Finding 4: PN pairs are more diverse", "04_diversity", ("model",),
    (Column("SSIM PN", SSIM_PN, compare=False),
     Column("SSIM RR", SSIM_RR, compare=False),
     Column("SSIM improvement %", SSIM_IMPROVEMENT, "+.1f"),
     Column("perceptual improvement %", PERCEPTUAL_IMPROVEMENT, "+.1f"),
     Column("perceptual metric", PERCEPTUAL_METRIC, "s", compare=False)),
    note="Improvement of PN over RR pairs in percent (positive = PN more diverse). The perceptual "
         "column is LPIPS where torchvision's AlexNet weights are present and ST-LPIPS otherwise: the "
         "\"perceptual metric\" column names which one ran; the paper's numbers are LPIPS.")


def paper_records() -> dict[str, float]:
    """The blog table's improvements under this finding's record names."""
    names = {"ssim": SSIM_IMPROVEMENT, "lpips": PERCEPTUAL_IMPROVEMENT}
    return {fill(names[metric], model=m): value for (m, metric), value in paper.DIVERSITY.items()}
