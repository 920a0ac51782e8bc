"""Figures shared by the notebooks and the model cards (matplotlib + seaborn)."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch

from . import metrics

__all__ = ["image_grid", "pair_grid", "real_vs_generated", "STATISTIC_LABELS", "correlation_histograms", "correlation_histogram_grid",
           "pair_strips", "correlation_maps", "interval_lines", "plain_log_ticks", "band", "trajectory_grid", "throughput"]

#: Width of a figure shown at the book's column width (about 700 px): text set at >= 9 pt stays >= 9 pt.
COLUMN_WIDTH = 7.0


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


#: Axis labels of the statistics :func:`real_vs_generated` draws, with their units (:mod:`antinb.metrics`).
STATISTIC_LABELS = {
    "brightness": "brightness (mean luminance, 0 to 1)",
    "pixel_mean": "pixel mean (0 to 1)",
    "contrast": "contrast (sd of luminance, 0 to 1)",
    "centroid_x": "centroid x (pixels right of centre)",
    "centroid_y": "centroid y (pixels below centre)",
    "centroid_distance": "centroid distance (pixels from centre)",
}


def real_vs_generated(real: torch.Tensor, generated: torch.Tensor, names: Sequence[str], *,
                      real_range=(0, 1), generated_range=(-1, 1), ncols: int = 2) -> plt.Figure:
    """Histograms of each named statistic (``antinb.metrics.STATISTICS``) for real and generated images:
    ``ncols`` panels a row at the column's width, each x axis with its units, one legend above the panels."""
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(COLUMN_WIDTH, 2.35 * nrows + 0.45), squeeze=False)
    colors = sns.color_palette()[:2]
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for i, (ax, name) in enumerate(zip(axes.flat, names)):
        fn = metrics.statistic(name)
        values = {"real (test split)": fn(real, value_range=real_range).numpy(),
                  "generated": fn(generated, value_range=generated_range).numpy()}
        edges = np.histogram_bin_edges(np.concatenate(list(values.values())), bins=30)
        for color, (label, v) in zip(colors, values.items()):
            ax.hist(v, bins=edges, density=True, histtype="step", lw=1.5, color=color, label=label)
        ax.set_xlabel(STATISTIC_LABELS.get(name, name), fontsize=10)
        ax.tick_params(labelsize=9)
        if i % ncols == 0:
            ax.set_ylabel("density", fontsize=10)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=10, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_size_inches()[1]))
    return fig


def correlation_histograms(groups: dict[str, torch.Tensor], *, ax=None, title: str | None = None,
                           xlabel: str = "pixel-wise Pearson correlation of a pair", legend: bool = True) -> plt.Axes:
    """Histograms of per-pair correlations (e.g. ``{"PN": r_pn, "RR": r_rr}``), dashed line at each mean.

    Colours follow the order of ``groups``; ``legend=False`` leaves the legend to the caller (one
    legend per figure)."""
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
    if legend:
        ax.legend(fontsize=9)
    if title:
        ax.set_title(title)
    return ax


def correlation_histogram_grid(panels: dict[tuple[str, str], dict[str, torch.Tensor]], *,
                               xlabel: str = "pixel correlation of a pair", ncols: int = 2) -> plt.Figure:
    """One histogram panel per ``(row label, column label)`` key of ``panels`` (each a
    :func:`correlation_histograms` group dict), ``ncols`` panels a row, one legend for the figure.

    Every panel's groups take the colours of the figure-wide group order, so a group has one
    colour throughout; the panel title names the key and each group's mean.
    """
    keys = list(panels)
    names = list(dict.fromkeys(g for groups in panels.values() for g in groups))
    palette = dict(zip(names, sns.color_palette(n_colors=len(names))))
    nrows = int(np.ceil(len(keys) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(COLUMN_WIDTH, 2.2 * nrows + 0.6), squeeze=False,
                             sharex=True, layout="constrained")
    for ax in axes.flat[len(keys):]:
        ax.axis("off")
    for ax, key in zip(axes.flat, keys):
        groups = panels[key]
        for label, r in groups.items():
            r = np.asarray(r, dtype=float)
            sns.histplot(r, ax=ax, color=palette[label], stat="density", element="step", bins=20, binrange=(-1, 1))
            ax.axvline(r.mean(), color=palette[label], ls="--")
        ax.set_xlim(-1, 1)
        ax.set_ylabel("density" if ax in axes[:, 0] else "")
        ax.set_title(", ".join(key), fontsize=10)
        ax.tick_params(labelsize=9)
    for ax in axes[-1]:
        ax.set_xlabel(xlabel, fontsize=10)
    handles = [plt.Line2D([], [], color=palette[n], lw=2) for n in names]
    fig.legend(handles, names, loc="outside upper center", ncols=len(names), fontsize=10,
               title="pairs (dashed: mean)", title_fontsize=10)
    return fig


def _montage(x: torch.Tensor, value_range, ncol: int, pad: int = 1) -> np.ndarray:
    """Images ``(B, C, H, W)`` tiled ``ncol`` per row, white gutters, as one ``(h, w, 3)`` array."""
    imgs = _to_numpy_images(x, value_range)
    if imgs.shape[-1] == 1:
        imgs = np.repeat(imgs, 3, axis=-1)
    b, h, w, _ = imgs.shape
    rows = int(np.ceil(b / ncol))
    out = np.ones((rows * (h + pad) - pad, ncol * (w + pad) - pad, 3))
    for i, im in enumerate(imgs):
        r, c = divmod(i, ncol)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = im
    return out


def pair_strips(samples: dict[str, torch.Tensor], *, value_range=(-1, 1)) -> plt.Figure:
    """Consecutive pairs ``(2P, C, H, W)`` of each model, one strip per model: first members above,
    partners below, a pair per column."""
    fig, axes = plt.subplots(len(samples), 1, figsize=(COLUMN_WIDTH * 0.8, 1.7 * len(samples)), squeeze=False,
                             layout="constrained")
    for ax, (name, x) in zip(axes[:, 0], samples.items()):
        first, second = x[0::2], x[1::2]
        ax.imshow(_montage(torch.cat([first, second]), value_range, ncol=len(first)), interpolation="nearest")
        ax.set_title(f"{name}: $z$ (top), $-z$ (bottom)", fontsize=10)
        ax.axis("off")
    return fig


def correlation_maps(maps: dict[str, torch.Tensor], *, titles: dict[str, str] | None = None,
                     label: str = "per-pixel correlation across pairs", midline: bool = True) -> plt.Figure:
    """Maps ``(H, W)`` with values in [-1, 1], one panel per entry (at most 3 a row), one colour bar;
    ``midline`` draws the border between the top and the bottom half."""
    n = len(maps)
    ncols = min(n, 3)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(COLUMN_WIDTH, 2.6 * nrows + 0.4), squeeze=False,
                             layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    im = None
    for ax, (name, m) in zip(axes.flat, maps.items()):
        m = torch.as_tensor(m).float()
        im = ax.imshow(m.numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
        if midline:
            ax.axhline(m.shape[0] / 2 - 0.5, color="k", ls="--", lw=1)
        ax.set_title((titles or {}).get(name, name), fontsize=10)
    cb = fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.85)
    cb.set_label(label, fontsize=10)
    cb.ax.tick_params(labelsize=9)
    return fig


def plain_log_ticks(ax, axis: str = "y") -> None:
    """Label a log axis with plain numbers (0.3, 2, 1000 rather than 3x10^-1); its minor ticks too when it
    spans under two decades, where the major ticks alone would leave it with one label or none."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    target.set_major_formatter(plain)
    if lo > 0 and hi / lo < 100:
        target.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        target.set_minor_formatter(plain)
    else:
        target.set_minor_formatter(NullFormatter())


def interval_lines(x: Sequence[float], series: dict[str, Sequence[tuple[float, float, float]]], *, xlabel: str,
                   ylabel: str, title: str | None = None, xlog: bool = False) -> plt.Figure:
    """Estimates ``(mean, low, high)`` against ``x``, one line with error bars (the intervals) per series; the
    legend beside the axes, where it hides no point."""
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 3.4), layout="constrained")
    x = np.asarray(x, dtype=float)
    for i, (name, values) in enumerate(series.items()):
        v = np.asarray(values, dtype=float)
        shift = x * (1 + 0.03 * (i - (len(series) - 1) / 2)) if xlog else x + 0.03 * (i - (len(series) - 1) / 2)
        ax.errorbar(shift, v[:, 0], yerr=[v[:, 0] - v[:, 1], v[:, 2] - v[:, 0]], marker="o", capsize=3, label=name)
    ax.axhline(0, color="gray", lw=0.8)
    if xlog:
        ax.set_xscale("log")
        ax.set_xticks(x, [f"{w:g}" for w in x])
        ax.minorticks_off()
    ax.set_xlabel(xlabel, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=10)
    ax.tick_params(labelsize=9)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=9, title="95 % intervals", title_fontsize=9, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return fig


def band(x: np.ndarray, values: np.ndarray, *, ax, label: str, quantiles=(0.1, 0.9), **kwargs) -> plt.Axes:
    """Mean of ``values`` ``(P, S)`` over rows against ``x`` ``(S,)`` with a quantile band."""
    values = np.asarray(values, dtype=float)
    line, = ax.plot(x, values.mean(0), label=label, **kwargs)
    lo, hi = np.quantile(values, quantiles, axis=0)
    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
    return ax


def trajectory_grid(panels: dict[tuple[str, str], dict[str, np.ndarray]], *, threshold: float | None = None,
                    ncols: int = 2, quantiles=(0.1, 0.9)) -> plt.Figure:
    """Per ``(row label, column label)`` panel, curves ``(P, S)`` against the step: the mean over rows
    with a quantile band (:func:`band`), ``ncols`` panels a row, one legend for the figure;
    ``threshold`` draws a dotted horizontal line."""
    keys = list(panels)
    nrows = int(np.ceil(len(keys) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(COLUMN_WIDTH, 2.3 * nrows + 0.7), squeeze=False, sharey=True,
                             layout="constrained")
    for ax in axes.flat[len(keys):]:
        ax.axis("off")
    styles = ("-", ":", "--", "-.")
    for ax, key in zip(axes.flat, keys):
        for i, (label, values) in enumerate(panels[key].items()):
            band(np.arange(np.asarray(values).shape[1]), values, ax=ax, label=label, quantiles=quantiles,
                 ls=styles[i % len(styles)], color=f"C{i}")
        ax.axhline(0, color="gray", lw=0.5)
        if threshold is not None:
            ax.axhline(threshold, color="gray", lw=0.8, ls=":")
        ax.set(ylim=(-1.05, 1.0))
        ax.set_title(", ".join(key), fontsize=10)
        ax.tick_params(labelsize=9)
    for ax in axes[:, 0]:
        ax.set_ylabel("pair correlation", fontsize=10)
    for ax in axes[-1]:
        ax.set_xlabel("sampler step (0: $t = T$)", fontsize=10)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=len(labels) if len(labels) <= 3 else 2, fontsize=10,
               title=f"mean over pairs, band {quantiles[0]:.0%}–{quantiles[1]:.0%} of pairs", title_fontsize=10)
    return fig


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
