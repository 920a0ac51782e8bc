"""Finding 6: do antithetic chains shorten the intervals of diffusion posterior sampling?

Paper §5 (inverse problems): DPS (Chung et al., 2023) inpainting on CelebA-HQ (as the blog post, the source
of the numbers, says), the partner chain of an antithetic pair starting from ``-z`` and using ``-xi_t`` at
every ancestral step; the relative efficiency of AMC over MC is about 1.5 for the L1 error and 1.8 for PSNR.

Here, per model (never pooled across models: their scales differ) and per ground-truth image:

* ``n_samples`` DPS samples with independent noise (MC) and ``n_samples`` as ``n_samples / 2``
  antithetic pairs (AMC) for each of ``n_truth`` ground-truth images;
* the 95 % CI of the expected L1 error and PSNR against the truth (:func:`antinb.stats.mc`,
  :func:`antinb.stats.amc`), and the per-pixel CI half-width of the posterior mean
  (:func:`antinb.stats.pixelwise_half_width`);
* relative efficiencies ``(CI length MC / CI length AMC)^2``: per image, and per model as the
  squared ratio of the CI lengths averaged over the images (``pixel`` / ``hole``: the median over
  pixels of the per-pixel efficiency);
* ``rho``, the correlation of the metric within antithetic pairs (``Var AMC = Var MC (1 + rho)``).

Intervals (L1, PSNR efficiencies): F-intervals. For one image, ``(L_MC / L_AMC)^2`` is a fixed
multiple of the ratio of the sample variances of the ``n`` MC values and the ``n / 2`` AMC pair
means, and that ratio over its true value is ``F(n - 1, n/2 - 1)``-distributed for normal values:
the interval ``[E / F_{0.975}, E / F_{0.025}]`` is exact then (:func:`f_interval`, the construction
of :func:`antinb.stats.efficiency_interval`). Per model, the
same construction with the pooled degrees of freedom ``T (n - 1)`` and ``T (n/2 - 1)`` over the
``T`` images: exact when the images share their variances, otherwise an approximation. It is
conditional on the images drawn; the spread between images (reported per image) is not in it.
A percentile bootstrap over samples and pairs was tried and rejected: with 4 pairs per image (the
ci profile) it resamples near-identical pairs so often that its upper ends reached 100 times the
F-interval's, and its coverage at 16 pairs is not known. The pixel-wise
efficiencies (medians over thousands of correlated pixels) are descriptive and carry no interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.colors import TwoSlopeNorm

from .. import data, metrics, models as _models, noise, paper, stats
from .. import dps as _dps
from ..cache import sample
from ..measurements import measurement
from . import base
from .base import ByModel, Row, Summary, Table, fill, template_regex
from .verdicts import FLAGGED, Claim, beside, flag, judge

__all__ = [
    "DPS_CI_LENGTH", "DPS_EFFICIENCY", "DPS_EFFICIENCY_CI", "DPS_EFFICIENCY_BY_IMAGE", "DPS_EFFICIENCY_BY_IMAGE_CI",
    "DPS_RHO", "DPS_L1", "DPS_PSNR", "DPS_OBSERVED_L1", "UNCOND_OBSERVED_L1", "DPS_HOLE_L1",
    "UNCOND_HOLE_L1", "TEMPLATES", "SCALAR_METRICS", "PIXEL_METRICS", "TABLE", "paper_records",
    "SHOWN_SAMPLES", "ModelRun", "ModelResult", "Params", "DPSMeasurements", "DPSResult", "sample_model", "summarise",
    "measure", "cost", "present", "run", "f_interval", "summary",
]

# ------------------------------------------------------------------------------------------ records

#: CI length of ``metric`` (``l1``, ``psnr``: of the expected metric; ``pixel``, ``hole``: mean over the
#: pixels of the per-pixel CI of the posterior mean, [0, 1] scale), averaged over ground-truth images.
DPS_CI_LENGTH = "dps_ci_length/{model}/{metric}/{method}"
#: Relative efficiency of AMC over MC per model (see the module docstring for each ``metric``).
DPS_EFFICIENCY = "dps_efficiency/{model}/{metric}"
#: Its 95 % F-interval ``[low, high]`` (``l1``, ``psnr``).
DPS_EFFICIENCY_CI = "dps_efficiency_ci/{model}/{metric}"
#: Efficiency per ground-truth image (``l1``, ``psnr``): a list, one per image.
DPS_EFFICIENCY_BY_IMAGE = "dps_efficiency_by_image/{model}/{metric}"
#: Their 95 % F-intervals, ``[[low, high], ...]``.
DPS_EFFICIENCY_BY_IMAGE_CI = "dps_efficiency_by_image_ci/{model}/{metric}"
#: Within-pair correlation of the metric (``l1``, ``psnr``), averaged over images.
DPS_RHO = "dps_rho/{model}/{metric}"
#: Mean L1 error ([0, 1] scale) and PSNR (dB) of the DPS samples against the truth.
DPS_L1 = "dps_l1/{model}"
DPS_PSNR = "dps_psnr/{model}"
#: Data consistency: mean absolute error to the truth in the observed pixels and in the hole, for DPS
#: samples (both designs) and for unconditional DDPM samples.
DPS_OBSERVED_L1 = "dps_observed_l1/{model}"
UNCOND_OBSERVED_L1 = "uncond_observed_l1/{model}"
DPS_HOLE_L1 = "dps_hole_l1/{model}"
UNCOND_HOLE_L1 = "uncond_hole_l1/{model}"

#: Every record template of this finding.
TEMPLATES: tuple[str, ...] = (
    DPS_CI_LENGTH, DPS_EFFICIENCY, DPS_EFFICIENCY_CI, DPS_EFFICIENCY_BY_IMAGE, DPS_EFFICIENCY_BY_IMAGE_CI,
    DPS_RHO, DPS_L1, DPS_PSNR, DPS_OBSERVED_L1, UNCOND_OBSERVED_L1, DPS_HOLE_L1, UNCOND_HOLE_L1)

#: Scalar reconstruction metrics against the ground truth ([0, 1] scale).
SCALAR_METRICS = {"l1": metrics.l1_error, "psnr": metrics.psnr}
#: Pixel-wise efficiencies: median over pixels of the per-pixel efficiency (``pixel``, ``hole``) and the
#: squared ratio of the average per-pixel CI lengths (``*_avg_ci``).
PIXEL_METRICS = ("pixel", "hole", "pixel_avg_ci", "hole_avg_ci")
_LABELS = {"l1": "L1", "psnr": "PSNR", "pixel": "pixel", "hole": "hole", "pixel_avg_ci": "pixel (avg CI)",
           "hole_avg_ci": "hole (avg CI)"}

TABLE = Table('Finding 6: antithetic diffusion posterior sampling', '06_dps',
              "DPS box inpainting: relative efficiency of AMC over MC for the expected L1 error and PSNR against the ground truth, per model (never pooled: the models' scales differ), with 95 % F-intervals conditional on the few ground-truth images drawn; the paper's row is CelebA-HQ (the blog post's data set).")


def paper_records() -> dict[str, str]:
    """The paper's DPS efficiencies under this finding's record names."""
    return {fill(DPS_EFFICIENCY, model=m, metric=metric): value for (m, metric), value in paper.DPS.items()}


def _claim(metric: str) -> Claim:
    """The paper's claim for ``metric``: an efficiency of about its value, against no effect (an efficiency of 1)."""
    return Claim.of(_paper_number(paper.DPS[paper.FFHQ_DPS, metric]), null=1.0)


def _paper_label() -> str:
    """The paper's DPS setting in a few words (``"CelebA-HQ"``)."""
    return paper.MODEL_LABELS.get(paper.FFHQ_DPS, paper.FFHQ_DPS).split(" (")[0]


def _setting(model: str, params: dict[str, Any], metric: str | None = None) -> str:
    """Our setting in words: the model (a flagged one marked †), the metric, sampler, steps and sample size."""
    text = f"{model}{flag(model)}" + (f", {_LABELS[metric]}" if metric else "")
    if params.get("dps_steps") or params.get("steps"):
        text += f", DPS-{params.get('dps_steps') or params.get('steps')}"
    if params.get("n_truth") and params.get("n_samples"):
        text += f", {params['n_truth']} images × {params['n_samples']} samples"
    return text


def _takeaway(verdict: str, row: Row | None, claim: Claim | None) -> str:
    """The finding in a few words, from its verdict and the row that carries it."""
    if verdict == base.NOT_RUN or row is None or claim is None or row.ci is None:
        return "Antithetic DPS chains were not measured here."
    if verdict == base.NOT_SHOWN:
        return "Antithetic DPS chains may shorten the intervals, but these samples cannot tell."
    if verdict == base.NOT_REPRODUCED:
        return "Antithetic DPS chains do not shorten the intervals here."
    if verdict == base.REPRODUCED:
        return "Antithetic DPS chains shorten the intervals about as much as in the paper."
    side = beside(row.ci, claim)
    if side > 0:
        return "Antithetic DPS chains shorten the intervals, more than in the paper."
    if side < 0:
        return "Antithetic DPS chains shorten the intervals, less than in the paper."
    return "Antithetic DPS chains shorten the intervals, as in the paper on some settings but not all."


def summary(records: dict[str, Any], parameters: dict[str, Any] | None = None) -> Summary:
    """Finding 6 from its records: one row per model and metric (L1 error, PSNR) with the AMC efficiency of DPS
    inpainting (95 % F-interval) beside the paper's value (CelebA-HQ, about 1.5 and 1.8), judged by the book's
    rules (:func:`antinb.findings.verdicts.judge`, no effect = an efficiency of 1: an interval that includes 1
    is *not shown*, whatever its point), and the paper's row if not run. Never pooled over models: their scales
    differ. Rows of a model the book flags are marked.
    """
    params = parameters or {}
    theirs = {metric: v for (_, metric), v in paper.DPS.items()}
    paper_text = ", ".join(f"{_LABELS[k]} {v}" for k, v in theirs.items())
    rx = template_regex(DPS_EFFICIENCY)
    rows, ran, metric_of = [], set(), {}
    for name in records:
        m = rx.match(name)
        if not m or m["metric"] != "l1":
            continue
        model = m["model"]
        ran.add(model)
        for k in SCALAR_METRICS:
            eff = records[fill(DPS_EFFICIENCY, model=model, metric=k)]
            ci = records[fill(DPS_EFFICIENCY_CI, model=model, metric=k)]
            caveat = []
            if params.get("n_truth"):
                caveat.append(f"{params['n_truth']} ground-truth images: the interval is conditional on them")
            rho = records.get(fill(DPS_RHO, model=model, metric=k))
            if rho is not None:
                caveat.append(f"ρ = {rho:+.2f}".replace("-", "−"))
            rows.append(Row(paper.MODEL_LABELS[paper.FFHQ_DPS], f"{_LABELS[k]} {theirs[k]}",
                            _setting(model, params, k), _with_ci(eff, ci), judge(ci, _claim(k)), "; ".join(caveat),
                            value=float(eff), ci=(float(ci[0]), float(ci[1])),
                            short=f"{_LABELS[k]} {_with_ci(eff, ci)}", headline=k == "l1", flagged=model in FLAGGED))
            metric_of[id(rows[-1])] = k
    for model in dict.fromkeys(k[0] for k in paper.DPS):
        if model not in ran:
            rows.append(Row(paper.MODEL_LABELS.get(model, model), paper_text, "", base.NOT_RUN, base.NOT_RUN,
                            paper_model=model))
    claim = f"antithetic noise also shortens the intervals of diffusion posterior sampling: efficiency {paper_text}"
    out = Summary(6, TABLE.title, TABLE.chapter, claim, "AMC efficiency of DPS inpainting", tuple(rows), ".2f")
    carrier = out.carrier()
    metric = metric_of.get(id(carrier))
    return Summary(6, TABLE.title, TABLE.chapter, claim, "AMC efficiency of DPS inpainting", tuple(rows), ".2f",
                   takeaway=_takeaway(out.verdict, carrier, _claim(metric) if metric else None))


# ------------------------------------------------------------------------------------------ sampling


@dataclass(frozen=True)
class ModelRun:
    """The samples of one model: everything the analysis needs, all in model space ``[-1, 1]``.

    Attributes:
        name: the model's name.
        truth: ``(T, C, H, W)`` ground-truth images.
        y: ``(T, C, H, W)`` their measurements ``A(x) + sigma n``.
        operator: the inpainting operator (its ``mask`` is 1 where observed).
        mc: ``(T, n, C, H, W)`` DPS samples from independent noise, ``n`` per image.
        amc: ``(T, n, C, H, W)`` DPS samples from antithetic noise (rows ``2i, 2i + 1`` are a pair).
        unconditional: ``(n, C, H, W)`` DDPM samples with the same number of steps (the baseline).
    """

    name: str
    truth: torch.Tensor
    y: torch.Tensor
    operator: _dps.Operator
    mc: torch.Tensor
    amc: torch.Tensor
    unconditional: torch.Tensor


def _ground_truth(model, truth, n_truth: int, *, steps: int, seed: int, max_batch_size: int) -> torch.Tensor:
    if isinstance(truth, torch.Tensor):
        if truth.ndim != 4 or tuple(truth.shape[1:]) != tuple(model.sample_shape):
            raise ValueError(f"truth must be (T, {', '.join(map(str, model.sample_shape))}) in model space, "
                             f"got {tuple(truth.shape)}")
        return truth.float().cpu()
    if truth == "test":
        dataset = _models.dataset_of(model)
        if dataset is None:
            raise ValueError(f"model {model.name!r} has no offline test split; use truth='model'")
        real = data.load_dataset(dataset, "test").images
        pick = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[:n_truth]
        return metrics.from_unit(real[pick], (-1.0, 1.0))
    if truth == "model":
        return sample(model, noise.independent(n_truth, model.sample_shape, seed=seed + 7), sampler="ddpm",
                      steps=steps, max_batch_size=max_batch_size, progress=False)
    raise ValueError(f"truth={truth!r} must be 'test' (held-out test images), 'model' (the prior's own DDPM "
                     "samples) or a tensor (T, C, H, W) in model space")


def sample_model(model, *, truth: str | torch.Tensor = "test", n_truth: int = 2, n_samples: int = 32,
                 steps: int = 50, zeta: float = 1.0, sigma: float = 0.05, box_fraction: float = 0.5,
                 seed: int = 0, max_batch_size: int = 256) -> ModelRun:
    """MC and AMC DPS samples for box inpainting of ``n_truth`` ground-truth images of one model.

    The hole is a centred square of side ``round(box_fraction * min(H, W))``; ``y = A(x) + sigma n``
    (:func:`antinb.dps.measure`, seed ``seed``). Both designs draw ``n_truth * n_samples`` rows with
    seed ``seed`` (:func:`antinb.noise.make`); the antithetic batch's mirrored step noise
    (:class:`antinb.noise.StepNoise`) negates ``xi_t`` in the partner chain at every step. Class-
    conditional models sample their null class (an unconditional prior).
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 4 or n_samples % 2:
        raise ValueError(f"n_samples={n_samples!r} must be an even integer >= 4 (at least 2 antithetic pairs)")
    x_true = _ground_truth(model, truth, n_truth, steps=steps, seed=seed, max_batch_size=max_batch_size)
    c, h, w = model.sample_shape
    t = x_true.shape[0]
    op = _dps.make_operator("box", model.sample_shape, size=max(1, round(box_fraction * min(h, w))))
    y = _dps.measure(x_true, op, sigma=sigma, seed=seed)
    rows_y = y.repeat_interleave(n_samples, dim=0)
    out = {}
    for design in ("independent", "antithetic"):
        z = noise.make(design, t * n_samples, model.sample_shape, seed=seed)
        out[design] = _dps.dps(model, z, op, rows_y, steps=steps, zeta=zeta, max_batch_size=max_batch_size,
                               progress=False).reshape(t, n_samples, c, h, w)
    uncond = sample(model, noise.independent(n_samples, model.sample_shape, seed=seed + 1), sampler="ddpm",
                    steps=steps, max_batch_size=max_batch_size, progress=False)
    return ModelRun(model.name, x_true, y, op, out["independent"], out["antithetic"], uncond)


# ------------------------------------------------------------------------------------------ intervals


def f_interval(mc_values, amc_values, level: float = 0.95) -> tuple[float, float, float]:
    """Efficiency of AMC over MC for one scalar metric with its exact interval under normality.

    ``mc_values`` ``(n,)`` iid, ``amc_values`` ``(n,)`` in consecutive pairs; the F-interval of
    :func:`antinb.stats.efficiency_interval` (``F(n - 1, n/2 - 1)`` for the ratio of
    the sample variances of the values and of the pair means). Returns ``(estimate, low, high)``.
    """
    return stats.efficiency_interval(stats.mc(mc_values, level=level), stats.amc(amc_values, level=level), level)


def _f_bounds(efficiency: float, df_mc: int, df_amc: int, level: float) -> list[float]:
    """``[E / F_{(1+level)/2}(df_mc, df_amc), E / F_{(1-level)/2}(df_mc, df_amc)]``: the interval of
    :func:`~antinb.stats.efficiency_interval` for given (here: pooled) degrees of freedom."""
    return list(stats.f_bounds(efficiency, df_mc, df_amc, level))


# ------------------------------------------------------------------------------------------ analysis


#: DPS samples per design of the first ground-truth image that a measurement keeps (the figure of samples shows
#: at most these; the numbers use every sample).
SHOWN_SAMPLES = 8


@dataclass(frozen=True)
class ModelResult:
    """The numbers of one model (see the module docstring); intervals are ``[low, high]``.

    Attributes:
        name: the model's name.
        truth: ``(T, C, H, W)`` ground-truth images, model space ``[-1, 1]``.
        y: ``(T, C, H, W)`` their measurements.
        posterior_mean: ``mc`` / ``amc`` -> ``(T, C, H, W)`` mean of each image's DPS samples.
        shown: ``mc`` / ``amc`` -> the first ``min(SHOWN_SAMPLES, n)`` DPS samples of the first image
            (AMC: consecutive pairs).
        efficiency: metric -> per-model efficiency (``l1``, ``psnr`` and :data:`PIXEL_METRICS`).
        efficiency_ci: ``l1`` / ``psnr`` -> its F-interval.
        by_image: ``l1`` / ``psnr`` -> efficiency per ground-truth image.
        by_image_ci: ``l1`` / ``psnr`` -> ``[[low, high], ...]`` per image.
        ci_length: metric -> ``(MC, AMC)`` CI length averaged over images.
        rho: ``l1`` / ``psnr`` -> within-pair correlation averaged over images.
        mean: ``l1`` / ``psnr`` -> mean metric of all DPS samples.
        consistency: mean absolute error to the truth, ``{dps,uncond}_{observed,hole}`` (observed pixels / hole,
            DPS / unconditional samples).
        maps: ``(T, C, H, W)`` half-width maps ``mc``, ``amc`` ([0, 1] scale) and per-pixel ``efficiency``.
    """

    name: str
    truth: torch.Tensor = field(repr=False)
    y: torch.Tensor = field(repr=False)
    posterior_mean: dict[str, torch.Tensor] = field(repr=False)
    shown: dict[str, torch.Tensor] = field(repr=False)
    efficiency: dict[str, float]
    efficiency_ci: dict[str, list[float]]
    by_image: dict[str, list[float]]
    by_image_ci: dict[str, list[list[float]]]
    ci_length: dict[str, tuple[float, float]]
    rho: dict[str, float]
    mean: dict[str, float]
    consistency: dict[str, float]
    maps: dict[str, torch.Tensor] = field(repr=False)


def summarise(samples: ModelRun, *, level: float = 0.95, shown: int = SHOWN_SAMPLES) -> ModelResult:
    """Every number of one model from its samples, with F-intervals of the efficiencies (module docstring), the
    posterior means and the first ``shown`` samples of the first image per design."""
    t_img, n = samples.mc.shape[:2]
    m = n // 2
    mask = samples.operator.mask
    hole = (1 - mask).bool().expand(1, *samples.truth.shape[1:])[0]  # (C, H, W)

    # data consistency: mean |error| to the truth in the observed pixels and in the hole
    cons = {"dps_observed": [], "uncond_observed": [], "dps_hole": [], "uncond_hole": []}
    for i in range(t_img):
        post = torch.cat([samples.mc[i], samples.amc[i]])
        for key, x, where in (("dps_observed", post, mask), ("uncond_observed", samples.unconditional, mask),
                              ("dps_hole", post, 1 - mask), ("uncond_hole", samples.unconditional, 1 - mask)):
            cons[key].append(metrics.masked_l1(x, samples.truth[i], where).mean().item())
    consistency = {k: float(np.mean(v)) for k, v in cons.items()}

    # scalar metrics: (T, n) values per design
    values = {k: (np.stack([fn(samples.mc[i], samples.truth[i]).double().numpy() for i in range(t_img)]),
                  np.stack([fn(samples.amc[i], samples.truth[i]).double().numpy() for i in range(t_img)]))
              for k, fn in SCALAR_METRICS.items()}
    efficiency, ci_length, by_image, by_image_ci, rho, mean = {}, {}, {}, {}, {}, {}
    for k, (v_mc, v_amc) in values.items():
        est = [(stats.mc(v_mc[i], level=level), stats.amc(v_amc[i], level=level)) for i in range(t_img)]
        by_image[k] = [stats.relative_efficiency(a, b) for a, b in est]
        by_image_ci[k] = [stats.efficiency_interval(a, b, level)[1:] for a, b in est]
        ci_length[k] = (float(np.mean([a.length for a, _ in est])), float(np.mean([b.length for _, b in est])))
        efficiency[k] = (ci_length[k][0] / ci_length[k][1]) ** 2
        rho[k] = float(np.mean([stats.pair_value_correlation(v_amc[i]) for i in range(t_img)]))
        mean[k] = float((np.mean([a.estimate for a, _ in est]) + np.mean([b.estimate for _, b in est])) / 2)

    # pixel-wise CIs of the posterior mean, [0, 1] scale
    u_mc, u_amc = metrics.to_unit(samples.mc), metrics.to_unit(samples.amc)
    hw_mc = torch.stack([stats.pixelwise_half_width(u_mc[i], "mc", level=level) for i in range(t_img)])
    hw_amc = torch.stack([stats.pixelwise_half_width(u_amc[i], "amc", level=level) for i in range(t_img)])
    eff_map = (hw_mc / hw_amc) ** 2
    for k, where in (("pixel", torch.ones_like(hole)), ("hole", hole)):
        w = where.expand(t_img, *hole.shape)
        ci_length[k] = (float(np.mean([2 * hw_mc[i][where].mean().item() for i in range(t_img)])),
                        float(np.mean([2 * hw_amc[i][where].mean().item() for i in range(t_img)])))
        efficiency[k] = eff_map[w].median().item()
        efficiency[f"{k}_avg_ci"] = (ci_length[k][0] / ci_length[k][1]) ** 2

    # F-intervals: per image exact (normal values), per model with the pooled degrees of freedom
    df_mc, df_amc = t_img * (n - 1), t_img * (m - 1)
    efficiency_ci = {k: _f_bounds(efficiency[k], df_mc, df_amc, level) for k in SCALAR_METRICS}
    by_image_ci = {k: [list(lh) for lh in by_image_ci[k]] for k in SCALAR_METRICS}
    return ModelResult(
        name=samples.name, truth=samples.truth, y=samples.y,
        posterior_mean={"mc": torch.stack([samples.mc[i].mean(0) for i in range(t_img)]),
                        "amc": torch.stack([samples.amc[i].mean(0) for i in range(t_img)])},
        shown={"mc": samples.mc[0][:shown].clone(), "amc": samples.amc[0][:shown].clone()},
        efficiency=efficiency, efficiency_ci=efficiency_ci, by_image=by_image, by_image_ci=by_image_ci,
        ci_length=ci_length, rho=rho, mean=mean, consistency=consistency,
        maps={"mc": hw_mc, "amc": hw_amc, "efficiency": eff_map})


@dataclass(frozen=True)
class Params:
    """What finding 6 measures: the models (names or loaded models) and, per model, ``n_truth`` ground-truth images
    (``truth``: ``"test"``, ``"model"`` or a tensor), ``n_samples`` DPS samples per image and design with ``steps``
    steps, guidance scale ``zeta``, measurement noise ``sigma``, a centred hole of side ``box_fraction``; intervals
    at ``level``. The one parameters object of :func:`measure` and :func:`cost`."""

    models: Sequence
    truth: str | torch.Tensor = "test"
    n_truth: int = 2
    n_samples: int = 32
    steps: int = 50
    zeta: float = 1.0
    sigma: float = 0.05
    box_fraction: float = 0.5
    seed: int = 0
    device: str = "auto"
    max_batch_size: int = 256
    level: float = 0.95


@dataclass(frozen=True)
class DPSMeasurements:
    """Everything finding 6 measured: one :class:`ModelResult` per model and the settings."""

    models: tuple[ModelResult, ...]
    settings: dict[str, Any]


@measurement
def measure(params: Params) -> DPSMeasurements:
    """Finding 6 for each model of ``params`` (a name or a loaded :class:`antinb.models.DiffusionModel`).

    Samples with :func:`sample_model` and analyses with :func:`summarise`.
    """
    p = params
    results = []
    for spec in p.models:
        model = _models.load(spec, device=p.device) if isinstance(spec, str) else spec
        r = sample_model(model, truth=p.truth, n_truth=p.n_truth, n_samples=p.n_samples, steps=p.steps, zeta=p.zeta,
                         sigma=p.sigma, box_fraction=p.box_fraction, seed=p.seed, max_batch_size=p.max_batch_size)
        results.append(summarise(r, level=p.level))
    settings = {"truth": p.truth if isinstance(p.truth, str) else "given",
                "n_truth": int(results[0].truth.shape[0]) if results else p.n_truth, "n_samples": p.n_samples,
                "steps": p.steps, "zeta": p.zeta, "sigma": p.sigma, "box_fraction": p.box_fraction, "level": p.level}
    return DPSMeasurements(tuple(results), settings)


#: A DPS step of one row in plain forward evaluations: its forward pass with gradient plus the backward pass to
#: the input took 2.0 times a plain forward pass (median of 5 interleaved repeats on the mnist and the
#: photo-patches UNets, batch 32, one CPU thread; range 1.4-2.6). GPUs often spend more on the backward pass.
DPS_STEP_EVALUATIONS = 2.0


def cost(params: Params) -> dict[str, int]:
    """Network evaluations (image rows through the network once) :func:`measure` makes with ``params``, per
    model name (:func:`antinb.models.name_of`); nothing is loaded. A DPS step of one row counts
    :data:`DPS_STEP_EVALUATIONS` evaluations (forward and backward pass, in units of a plain forward pass, so
    that the dry run's time estimate from forward-pass throughput holds)."""
    p = params
    n_true = p.truth.shape[0] if isinstance(p.truth, torch.Tensor) else p.n_truth
    out: dict[str, int] = {}
    for spec in p.models:
        n = n_true * p.steps if isinstance(p.truth, str) and p.truth == "model" else 0  # DDPM ground truth
        n += round(DPS_STEP_EVALUATIONS * 2 * (n_true * p.n_samples) * p.steps)  # DPS, independent and antithetic
        n += p.n_samples * p.steps  # the unconditional DDPM baseline
        out[_models.name_of(spec)] = out.get(_models.name_of(spec), 0) + n
    return out


# ------------------------------------------------------------------------------------------ presentation

#: The record template of each data-consistency number of :attr:`ModelResult.consistency`.
_CONSISTENCY = {"dps_observed": DPS_OBSERVED_L1, "uncond_observed": UNCOND_OBSERVED_L1, "dps_hole": DPS_HOLE_L1,
                "uncond_hole": UNCOND_HOLE_L1}


def _paper_number(value: Any) -> float:
    """``"≈ 1.5"`` -> 1.5."""
    return float(str(value).replace("≈", "").strip()) if not isinstance(value, (int, float)) else float(value)


def _fmt(x: float, digits: int = 2) -> str:
    """``x`` to ``digits`` significant digits (what an interval of x/÷ 2 supports)."""
    if not math.isfinite(x):
        return "∞" if x > 0 else "n/a"
    if abs(x) >= 10 ** digits:
        return f"{x:.0f}"
    text = f"{x:.{digits}g}"
    return text + ".0" if "." not in text and "e" not in text and abs(x) < 10 ** (digits - 1) else text


def _with_ci(x: float, ci: Sequence[float], digits: int = 2) -> str:
    return f"{_fmt(x, digits)} [{_fmt(ci[0], digits)}, {_fmt(ci[1], digits)}]"


def _signed(x: float) -> str:
    """``x`` with its sign and a typographic minus (:func:`base.ci_text`)."""
    return base.ci_text(x, None)


@dataclass(frozen=True)
class DPSResult(DPSMeasurements, ByModel):
    """Finding 6 presented: records, tables, the paper comparison, the verdict and figures, all computed from the
    measurements alone."""

    # -------------------------------------------------------------------- records

    def records(self) -> dict[str, Any]:
        """``{record name: value}``: one value per model (never pooled across models)."""
        out: dict[str, Any] = {}
        for r in self.models:
            m = r.name
            out.update({fill(_CONSISTENCY[k], model=m): v for k, v in r.consistency.items()})
            for metric, value in r.efficiency.items():
                out[fill(DPS_EFFICIENCY, model=m, metric=metric)] = value
            for metric, ci in r.efficiency_ci.items():
                out[fill(DPS_EFFICIENCY_CI, model=m, metric=metric)] = ci
            for metric, (l_mc, l_amc) in r.ci_length.items():
                out[fill(DPS_CI_LENGTH, model=m, metric=metric, method="mc")] = l_mc
                out[fill(DPS_CI_LENGTH, model=m, metric=metric, method="amc")] = l_amc
            for metric in SCALAR_METRICS:
                out[fill(DPS_RHO, model=m, metric=metric)] = r.rho[metric]
                out[fill(DPS_EFFICIENCY_BY_IMAGE, model=m, metric=metric)] = r.by_image[metric]
                out[fill(DPS_EFFICIENCY_BY_IMAGE_CI, model=m, metric=metric)] = r.by_image_ci[metric]
            out[fill(DPS_L1, model=m)] = r.mean["l1"]
            out[fill(DPS_PSNR, model=m)] = r.mean["psnr"]
        return out

    # -------------------------------------------------------------------- tables

    def consistency_table(self) -> pd.DataFrame:
        """Mean absolute error to the truth ([0, 1] scale) in the observed pixels and in the hole."""
        cols = {"dps_observed": "observed: DPS", "uncond_observed": "observed: uncond.",
                "dps_hole": "hole: DPS", "uncond_hole": "hole: uncond."}
        return pd.DataFrame([{**{"model": r.name + flag(r.name)}, **{cols[k]: round(r.consistency[k], 3) for k in cols}}
                             for r in self.models]).set_index("model")

    def table(self) -> pd.DataFrame:
        """Per model: efficiencies of AMC over MC with 95 % intervals, and the within-pair correlation."""
        rows = []
        for r in self.models:
            rows.append({"model": r.name + flag(r.name),
                         "L1": _with_ci(r.efficiency["l1"], r.efficiency_ci["l1"]),
                         "PSNR": _with_ci(r.efficiency["psnr"], r.efficiency_ci["psnr"]),
                         "pixel (median)": _fmt(r.efficiency["pixel"]),
                         "hole (median)": _fmt(r.efficiency["hole"]),
                         "ρ (L1)": _signed(r.rho["l1"])})
        return pd.DataFrame(rows).set_index("model")

    def image_table(self) -> pd.DataFrame:
        """Efficiency per ground-truth image (L1, PSNR) with 95 % intervals."""
        rows = []
        for r in self.models:
            for i in range(len(r.by_image["l1"])):
                rows.append({"model": r.name + flag(r.name), "image": i + 1,
                             **{_LABELS[k]: _with_ci(r.by_image[k][i], r.by_image_ci[k][i]) for k in SCALAR_METRICS}})
        return pd.DataFrame(rows).set_index(["model", "image"])

    def versus_paper(self) -> pd.DataFrame:
        """The paper's efficiency (CelebA-HQ, blog post) beside ours per model, for L1 and PSNR, with the verdict
        of the book's rules (:func:`antinb.findings.verdicts.judge`; a flagged model marked †)."""
        rows = []
        for (pm, metric), value in paper.DPS.items():
            for r in self.models:
                ci = r.efficiency_ci[metric]
                rows.append({"metric": _LABELS[metric], "model": r.name + flag(r.name),
                             f"paper ({_paper_label()})": value,
                             "ours [95 % CI]": _with_ci(r.efficiency[metric], ci),
                             "verdict": judge(ci, _claim(metric))})
        return pd.DataFrame(rows).set_index(["metric", "model"])

    def verdict_table(self) -> str:
        """Every setting as a compact markdown table: model, metric, our efficiency with its 95 % interval, the
        paper's value and the verdict (a flagged model marked †)."""
        lines = ["| model | metric | AMC efficiency [95 %] | paper | verdict |", "|---|---|---|---|---|"]
        for r in self.models:
            for k in SCALAR_METRICS:
                ci = r.efficiency_ci[k]
                lines.append(f"| {r.name}{flag(r.name)} | {_LABELS[k]} | {_with_ci(r.efficiency[k], ci)} | "
                             f"{paper.DPS[paper.FFHQ_DPS, k]} | {judge(ci, _claim(k))} |")
        return "\n".join(lines)

    def verdict(self) -> str:
        """The chapter's verdict: one quotable sentence (the takeaway, the verdict, the number that carries it
        with its interval and setting), the table of every setting, and a short paragraph on why and what
        limits it."""
        s = self.settings
        params = {"dps_steps": s["steps"], "n_truth": s["n_truth"], "n_samples": s["n_samples"]}
        summ = summary(self.records(), params)
        row = summ.carrier()
        if row is None:
            return f"{base.headline(summ.verdict)} No model was measured."
        metric = next(k for k in SCALAR_METRICS if row.short.startswith(_LABELS[k] + " "))
        model = next(r.name for r in self.models if row.our_setting.startswith(r.name + flag(r.name) + ","))
        first = (f"{base.headline(summ.verdict)} {summ.takeaway[:-1]}: AMC's {_LABELS[metric]} efficiency is "
                 f"{row.ours} ({model}{flag(model)}, DPS-{s['steps']}, {s['n_truth']} images × "
                 f"{s['n_samples']} samples) against the paper's {paper.DPS[paper.FFHQ_DPS, metric]} "
                 f"({_paper_label()}).")
        out = [first, "", self.verdict_table()]
        if any(r.name in FLAGGED for r in self.models):
            out += ["", "† " + "; ".join(f"{m}: {why}" for m, why in FLAGGED.items()
                                         if any(r.name == m for r in self.models)) + "."]
        why = ["Antithetic pairs help only as far as the metric is odd in the noise; the guidance term makes the "
               "chains nonlinear in it. The L1 error's within-pair correlation is "
               + ", ".join(f"{_signed(r.rho['l1'])} ({r.name}{flag(r.name)})" for r in self.models) + "."]
        per = [x for r in self.models for x in r.by_image["l1"]]
        if per:
            why.append(f"Single images range from {_fmt(min(per))} to {_fmt(max(per))} (L1), a spread the "
                       "intervals, conditional on the images drawn, do not contain.")
        worse = [f"{r.name}{flag(r.name)} {_LABELS[k]}" for r in self.models for k in SCALAR_METRICS
                 if r.efficiency_ci[k][1] < 1]
        if worse:
            why.append("AMC is worse than MC for " + ", ".join(worse) + ".")
        why.append(f"Each interval rests on {s['n_samples'] // 2} pairs per image; our priors are small and "
                   "briefly trained, and the paper's number is approximate.")
        return "\n".join(out) + "\n\n" + " ".join(why)

    # -------------------------------------------------------------------- figures

    def reconstructions(self, image: int = 0) -> plt.Figure:
        """Per model (rows), at the column's full width: the ground truth with the hole outlined (the measurement
        is the truth outside it, plus noise) | the posterior mean of the MC samples | that of the AMC samples."""
        n = len(self.models)
        fig, axes = plt.subplots(n, 3, figsize=(7.0, 2.45 * n), squeeze=False, layout="constrained")
        for ax_row, r in zip(axes, self.models):
            c, h, w = r.truth.shape[1:]
            # the hole of the measurement: the operator sample_model used, made again from the settings
            op = _dps.make_operator("box", (c, h, w), size=max(1, round(self.settings["box_fraction"] * min(h, w))))
            hole = (op.mask < 0.5).reshape(-1, h, w).any(0).numpy()
            for ax, img, title in zip(ax_row, (r.truth[image], r.posterior_mean["mc"][image],
                                               r.posterior_mean["amc"][image]),
                                      ("ground truth, hole outlined", "posterior mean, MC", "posterior mean, AMC")):
                u = metrics.to_unit(img).clamp(0, 1).permute(1, 2, 0).numpy()
                ax.imshow(u[..., 0] if u.shape[-1] == 1 else u, cmap="gray", vmin=0, vmax=1)
                if r is self.models[0]:
                    ax.set_title(title, fontsize=10)
                ax.set_xticks([])
                ax.set_yticks([])
            if hole.any():
                rows_, cols_ = np.nonzero(hole)
                ax_row[0].add_patch(plt.Rectangle((cols_.min() - 0.5, rows_.min() - 0.5), np.ptp(cols_) + 1,
                                                  np.ptp(rows_) + 1, fill=False, ec="#e8000b", lw=1.5))
            ax_row[0].set_ylabel(r.name + flag(r.name), fontsize=10)
        return fig

    def samples(self, n: int = 4) -> plt.Figure:
        """Per model (rows): ``n`` MC samples (left) and ``n`` AMC samples, pairs side by side (right), of the
        first ground-truth image (at most the :data:`SHOWN_SAMPLES` the measurement keeps)."""
        k = len(self.models)
        n = max(1, min(n, min(r.shown["mc"].shape[0] for r in self.models)))
        fig, axes = plt.subplots(k, 2, figsize=(7.0, 3.5 / n * k + 0.5), squeeze=False, layout="constrained")
        for ax_row, r in zip(axes, self.models):
            for ax, design, title in zip(ax_row, ("mc", "amc"), ("MC", "AMC: pairs side by side")):
                strip = torch.cat(list(r.shown[design][:n]), dim=2)
                u = metrics.to_unit(strip).clamp(0, 1).permute(1, 2, 0).numpy()
                ax.imshow(u[..., 0] if u.shape[-1] == 1 else u, cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if r is self.models[0]:
                    ax.set_title(title, fontsize=10)
            ax_row[0].set_ylabel(r.name + flag(r.name), fontsize=10)
        return fig

    def uncertainty(self, image: int = 0) -> plt.Figure:
        """Per model (rows): 95 % CI half-width of the posterior mean per pixel, MC | AMC (one colour scale),
        and the per-pixel efficiency ``(MC / AMC)^2`` on a log scale (blue: AMC better)."""
        fig, axes = plt.subplots(len(self.models), 3, figsize=(7.0, 2.3 * len(self.models)), squeeze=False,
                                 layout="constrained")
        for ax_row, r in zip(axes, self.models):
            mc, amc = r.maps["mc"][image].mean(0), r.maps["amc"][image].mean(0)
            vmax = float(max(mc.max(), amc.max()))
            for ax, m, title in ((ax_row[0], mc, "half-width, MC"), (ax_row[1], amc, "half-width, AMC")):
                im = ax.imshow(m.numpy(), cmap="magma", vmin=0, vmax=vmax)
                ax.set_title(f"{title}\nmean {m.mean():.3f}", fontsize=9)
                ax.axis("off")
            fig.colorbar(im, ax=list(ax_row[:2]), fraction=0.046, pad=0.03)
            log_eff = torch.log2(r.maps["efficiency"][image]).mean(0).clamp(-3, 3).numpy()
            im = ax_row[2].imshow(log_eff, cmap="RdBu", norm=TwoSlopeNorm(0.0, -3.0, 3.0))
            ax_row[2].set_title(f"efficiency (log2)\nmedian {r.maps['efficiency'][image].median():.2g}",
                                fontsize=9)
            ax_row[2].axis("off")
            cb = fig.colorbar(im, ax=ax_row[2], fraction=0.046, pad=0.03, ticks=[-3, -1, 0, 1, 3])
            cb.ax.set_yticklabels(["1/8", "1/2", "1", "2", "8"])
            ax_row[0].text(-0.08, 0.5, r.name + flag(r.name), transform=ax_row[0].transAxes, rotation=90,
                           va="center", ha="right", fontsize=10)
        fig.suptitle("Pixel-wise 95 % CI of the posterior mean, [0, 1] scale", fontsize=10)
        return fig

    def efficiency_figure(self) -> plt.Figure:
        """Efficiency of AMC over MC per model with 95 % intervals (L1, PSNR), per-image estimates, and
        the paper's values (CelebA-HQ, blog post) as dashed lines; log scale."""
        metrics_shown = tuple(SCALAR_METRICS)
        colors = dict(zip(metrics_shown, ("C0", "C1")))
        fig, ax = plt.subplots(figsize=(7.0, 3.6), layout="constrained")
        width = 0.3
        for j, r in enumerate(self.models):
            for i, k in enumerate(metrics_shown):
                x = j + (i - 0.5) * width
                e, (lo, hi) = r.efficiency[k], r.efficiency_ci[k]
                ax.errorbar([x], [e], yerr=[[max(e - lo, 0.0)], [max(hi - e, 0.0)]], fmt="o", color=colors[k], capsize=3,
                            label=_LABELS[k] if j == 0 else None)
                if k in r.by_image:
                    ax.plot([x + 0.08] * len(r.by_image[k]), r.by_image[k], "x", color=colors[k], ms=5, alpha=0.7,
                            label="per image" if (j, k) == (0, "l1") else None)
        for (_, metric), value in paper.DPS.items():
            ax.axhline(_paper_number(value), color=colors[metric], ls="--", lw=1,
                       label=f"paper {_LABELS[metric]} ({_paper_label()})")
        ax.axhline(1.0, color="gray", lw=0.8)
        ax.set_xticks(range(len(self.models)), [r.name + flag(r.name) for r in self.models])
        ax.set(yscale="log")
        ax.set_ylabel("efficiency, AMC over MC", fontsize=10)
        ax.tick_params(labelsize=10)
        lo, hi = ax.get_ylim()
        ticks = [t for t in (0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, 300) if lo <= t <= hi]
        ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        handles, labels = ax.get_legend_handles_labels()
        order = sorted(range(len(labels)), key=lambda i: (labels[i].startswith("paper"), labels[i] == "per image"))
        fig.legend([handles[i] for i in order], [labels[i] for i in order], loc="outside lower center", ncol=3,
                   fontsize=9, frameon=False)
        return fig


def present(measurements: DPSMeasurements) -> DPSResult:
    """The presentation of finding 6's measurements (no network evaluation)."""
    return base.presented(DPSResult, measurements)


def run(*args: Any, **kwargs: Any) -> DPSResult:
    """``present(measure(Params(*args, **kwargs)))``: measure and present in one call."""
    return present(measure(Params(*args, **kwargs)))
