"""Figures shared by the notebooks and the model cards (matplotlib + seaborn)."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch

from . import metrics

__all__ = ["image_grid", "pair_grid", "real_vs_generated", "correlation_histograms", "band", "throughput"]


def _to_numpy_images(x: torch.Tensor, value_range) -> np.ndarray:
    x = metrics.to_unit(x.detach().float().cpu(), value_range).clamp(0, 1)
    return x.permute(0, 2, 3, 1).numpy()


def image_grid(x: torch.Tensor, *, nrow: int = 8, value_range=(-1, 1), title: str | None = None,
               scale: float = 0.9) -> plt.Figure:
    """Images ``(B, C, H, W)`` in a grid of ``nrow`` columns."""
    imgs = _to_numpy_images(x, value_range)
    rows = int(np.ceil(len(imgs) / nrow))
    fig, axes = plt.subplots(rows, nrow, figsize=(nrow * scale, rows * scale), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, im in zip(axes.flat, imgs):
        ax.imshow(im[..., 0] if im.shape[-1] == 1 else im, cmap="gray", vmin=0, vmax=1)
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return fig


def pair_grid(x: torch.Tensor, *, value_range=(-1, 1), title: str | None = None, ncol_pairs: int = 8) -> plt.Figure:
    """Consecutive pairs ``(2P, C, H, W)`` shown as columns: first members above, partners below."""
    first, second = x[0::2], x[1::2]
    p = min(len(first), ncol_pairs * max(1, len(first) // ncol_pairs))
    blocks = []
    for i in range(0, p, ncol_pairs):
        blocks += [first[i:i + ncol_pairs], second[i:i + ncol_pairs]]
    return image_grid(torch.cat(blocks), nrow=min(ncol_pairs, p), value_range=value_range, title=title)


def real_vs_generated(real: torch.Tensor, generated: torch.Tensor, names: Sequence[str], *,
                      real_range=(0, 1), generated_range=(-1, 1)) -> plt.Figure:
    """Histograms of each named statistic (``antinb.metrics.STATISTICS``) for real and generated images."""
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.6))
    for ax, name in zip(np.atleast_1d(axes), names):
        fn = metrics.statistic(name)
        sns.histplot({"real": fn(real, value_range=real_range).numpy(),
                      "generated": fn(generated, value_range=generated_range).numpy()},
                     stat="density", common_norm=False, element="step", ax=ax, bins=30)
        ax.set_title(name)
    fig.tight_layout()
    return fig


def correlation_histograms(groups: dict[str, torch.Tensor], *, ax=None, title: str | None = None,
                           xlabel: str = "pixel-wise Pearson correlation of a pair") -> plt.Axes:
    """Histograms of per-pair correlations (e.g. ``{"PN": r_pn, "RR": r_rr}``), dashed line at each mean."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3))
    palette = sns.color_palette()
    for i, (label, r) in enumerate(groups.items()):
        r = np.asarray(r, dtype=float)
        sns.histplot(r, ax=ax, color=palette[i], label=f"{label} (mean {r.mean():.2f})", stat="density",
                     element="step", bins=30, binrange=(-1, 1))
        ax.axvline(r.mean(), color=palette[i], ls="--")
    ax.set_xlim(-1, 1)
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def band(x: np.ndarray, values: np.ndarray, *, ax, label: str, quantiles=(0.1, 0.9), **kwargs) -> plt.Axes:
    """Mean of ``values`` ``(P, S)`` over rows against ``x`` ``(S,)`` with a quantile band."""
    values = np.asarray(values, dtype=float)
    line, = ax.plot(x, values.mean(0), label=label, **kwargs)
    lo, hi = np.quantile(values, quantiles, axis=0)
    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
    return ax


def throughput(rows: Sequence[dict], *, title: str | None = None) -> plt.Figure:
    """Images per second against batch size (log-log), one line per model and thread count, from
    :func:`antinb.book.bench.throughput` rows."""
    import pandas as pd

    df = pd.DataFrame(list(rows))
    df["threads"] = df["threads"].astype(str) + " thread(s)"
    fig, ax = plt.subplots(figsize=(6.4, 4))
    sns.lineplot(df, x="batch", y="images_per_s", hue="model", style="threads", markers=True, ax=ax)
    ax.set(xscale="log", yscale="log", xlabel="batch size (images per forward pass)", ylabel="images per second",
           title=title or f"DDIM-{int(df['steps'].iloc[0])} throughput")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig
