"""Finding 4: are PN pairs more diverse than RR pairs, and is sample quality unchanged?

The paper (§5, the blog's Table 1) compares the two members of antithetic (PN) pairs
``DM(z), DM(-z)`` with those of independent (RR) pairs: SSIM (lower = more diverse) and LPIPS
(higher = more diverse), and reports the improvement of PN over RR in percent,
``(SSIM_RR - SSIM_PN) / SSIM_RR`` and ``(LPIPS_PN - LPIPS_RR) / LPIPS_RR``. :func:`measure` measures the
same on our models under DDIM (unconditional; class-conditional models on their null class), per
class with classifier-free guidance for a class-conditional model, and checks sample quality with
the Frechet distance in a small classifier's features (:mod:`antinb.quality`).

The perceptual distance is :func:`antinb.metrics.perceptual_distance`: LPIPS where torchvision's
AlexNet weights are present, ST-LPIPS otherwise, always labelled with the metric that ran.

Intervals: 95 % percentile bootstrap over pairs (2,000 resamples, seeded numpy Generator), PN and
RR pairs resampled independently (they are independent sets), within class for the guided pairs.
Quality: besides the Frechet distances an approximate permutation test asks whether the PN-vs-RR
distance exceeds what random splits of the pooled pairs give (whole pairs are permuted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib import ticker

from .. import data, metrics, paper, plots, quality
from .. import models as _models
from ..measurements import measurement
from ..models import DiffusionModel
from ..pairs import conditioning, pair_samples, rows_per_image
from . import base
from .base import ByModel, Row, Summary, Table, fill, side, template_regex

__all__ = ["SSIM_PN", "SSIM_RR", "SSIM_IMPROVEMENT", "SSIM_IMPROVEMENT_CI", "BACKEND_PN", "BACKEND_RR",
           "BACKEND_IMPROVEMENT", "PERCEPTUAL_IMPROVEMENT", "PERCEPTUAL_IMPROVEMENT_CI", "PERCEPTUAL_METRIC",
           "PERCEPTUAL_METRIC_ALL", "GUIDED_SSIM_IMPROVEMENT", "GUIDED_SSIM_IMPROVEMENT_CI",
           "GUIDED_BACKEND_IMPROVEMENT", "GUIDED_PERCEPTUAL_IMPROVEMENT_CI", "GUIDED_SSIM_BY_CLASS",
           "GUIDED_BACKEND_BY_CLASS", "GUIDED_CLASSES_IMPROVED", "FD", "FD_COMPARISONS", "FD_N", "FD_PERM_P",
           "TEMPLATES", "TABLE", "paper_records", "improvement_interval", "pair_metrics", "PairDiversity",
           "GuidedDiversity", "QualityCheck", "quality_check", "EXAMPLE_PAIRS", "Params", "DiversityMeasurements",
           "measure", "cost", "DiversityResult", "present", "run", "summary"]

# ----------------------------------------------------------------------------------- record names

#: Unconditional DDIM pairs: mean SSIM of PN and RR pairs and the improvement of PN over RR (%).
SSIM_PN = "ssim_pn/{model}"
SSIM_RR = "ssim_rr/{model}"
SSIM_IMPROVEMENT = "ssim_improvement_pct/{model}"
#: The same for the perceptual distance, under its backend's name (``lpips`` or ``stlpips``).
BACKEND_PN = "{backend}_pn/{model}"
BACKEND_RR = "{backend}_rr/{model}"
BACKEND_IMPROVEMENT = "{backend}_improvement_pct/{model}"
#: The perceptual improvement under a backend-neutral name, with the metric's label beside it.
PERCEPTUAL_IMPROVEMENT = "perceptual_improvement_pct/{model}"
PERCEPTUAL_METRIC = "perceptual_metric/{model}"
PERCEPTUAL_METRIC_ALL = "perceptual_metric"
#: 95 % bootstrap intervals ``[low, high]`` of the improvements.
SSIM_IMPROVEMENT_CI = "ssim_improvement_pct_ci/{model}"
PERCEPTUAL_IMPROVEMENT_CI = "perceptual_improvement_pct_ci/{model}"
#: Per class with classifier-free guidance (a class-conditional model): over all classes, by class.
GUIDED_SSIM_IMPROVEMENT = "guided_ssim_improvement_pct/{model}"
GUIDED_BACKEND_IMPROVEMENT = "guided_{backend}_improvement_pct/{model}"
GUIDED_SSIM_BY_CLASS = "guided_ssim_improvement_pct_by_class/{model}"
GUIDED_BACKEND_BY_CLASS = "guided_{backend}_improvement_pct_by_class/{model}"
GUIDED_CLASSES_IMPROVED = "guided_classes_improved/{model}"
GUIDED_SSIM_IMPROVEMENT_CI = "guided_ssim_improvement_pct_ci/{model}"
GUIDED_PERCEPTUAL_IMPROVEMENT_CI = "guided_perceptual_improvement_pct_ci/{model}"
#: Frechet distances of the quality check (``comparison`` in :data:`FD_COMPARISONS`), images per set,
#: and the permutation p-value of the PN-vs-RR distance.
FD = "fd_{comparison}/{model}"
FD_N = "fd_n/{model}"
FD_PERM_P = "fd_pn_vs_rr_p/{model}"

#: Quality comparisons: record key -> label.
FD_COMPARISONS: dict[str, str] = {
    "pn_vs_rr": "PN vs RR", "real_vs_real": "real vs real (floor)",
    "pn_vs_rr_half": "PN vs RR, halves", "rr_vs_rr_half": "RR vs RR, halves (floor)",
    "pn_vs_real": "PN vs real", "rr_vs_real": "RR vs real"}

#: Every record template of this finding.
TEMPLATES = (SSIM_PN, SSIM_RR, SSIM_IMPROVEMENT, BACKEND_PN, BACKEND_RR, BACKEND_IMPROVEMENT,
             PERCEPTUAL_IMPROVEMENT, PERCEPTUAL_METRIC, PERCEPTUAL_METRIC_ALL, SSIM_IMPROVEMENT_CI,
             PERCEPTUAL_IMPROVEMENT_CI, GUIDED_SSIM_IMPROVEMENT, GUIDED_BACKEND_IMPROVEMENT, GUIDED_SSIM_BY_CLASS,
             GUIDED_BACKEND_BY_CLASS, GUIDED_CLASSES_IMPROVED, GUIDED_SSIM_IMPROVEMENT_CI,
             GUIDED_PERCEPTUAL_IMPROVEMENT_CI, FD, FD_N, FD_PERM_P)

TABLE = Table('Finding 4: are PN pairs more diverse?', '04_diversity',
              "Improvement of PN over RR pairs in percent (positive: PN more diverse) with 95 % bootstrap intervals. The perceptual metric is LPIPS where torchvision's AlexNet weights are present and ST-LPIPS otherwise; each row names the one that ran, and the paper's numbers are LPIPS.")


def paper_records() -> dict[str, float]:
    """The blog table's improvements under this finding's record names."""
    names = {"ssim": SSIM_IMPROVEMENT, "lpips": PERCEPTUAL_IMPROVEMENT}
    return {fill(names[metric], model=m): value for (m, metric), value in paper.DIVERSITY.items()}


def summary(records: dict[str, Any], parameters: dict[str, Any] | None = None) -> Summary:
    """Finding 4 from its records: one row per model with the SSIM and perceptual improvements of PN over
    RR pairs (95 % bootstrap intervals) against the blog table, and one per paper setting not run.

    A model is *reproduced* when both improvements are significantly positive, *partly* when only
    SSIM's is, *not reproduced* when either is significantly negative, and *not shown at this sample
    size* otherwise.
    """
    params = parameters or {}
    ssim_p = [v for (_, k), v in paper.DIVERSITY.items() if k == "ssim"]
    lp_p = [v for (_, k), v in paper.DIVERSITY.items() if k == "lpips"]
    span = (f"SSIM +{min(ssim_p):.1f} to +{max(ssim_p):.1f} %, LPIPS +{min(lp_p):.1f} to +{max(lp_p):.1f} %")

    def theirs(model: str) -> str:
        return f"SSIM +{paper.DIVERSITY[model, 'ssim']:.1f} %, LPIPS +{paper.DIVERSITY[model, 'lpips']:.1f} %"

    rx = template_regex(SSIM_IMPROVEMENT)
    rows, ran = [], set()
    for name, ssim in records.items():
        m = rx.match(name)
        if not m:
            continue
        model = m["model"]
        pk = base.paper_model(model, paper.DIVERSITY)
        ran.add(pk)
        ci_s, perc = records[fill(SSIM_IMPROVEMENT_CI, model=model)], records[fill(PERCEPTUAL_IMPROVEMENT, model=model)]
        ci_p, metric = records[fill(PERCEPTUAL_IMPROVEMENT_CI, model=model)], \
            str(records.get(fill(PERCEPTUAL_METRIC, model=model), "perceptual"))
        sig = (side(ci_s, 0.0), side(ci_p, 0.0))
        verdict = (base.REPRODUCED if sig == (1, 1) else base.NOT_REPRODUCED if -1 in sig else
                   base.PARTLY if sig[0] == 1 else base.NOT_SHOWN)
        ours = (f"SSIM {base.ci_text(ssim, ci_s, '+.1f')} %; {metric} {base.ci_text(perc, ci_p, '+.1f')} %")
        caveat = []
        if not metric.upper().startswith("LPIPS"):
            caveat.append(f"{metric} is not LPIPS")
        if sig[1] == 0:
            caveat.append(f"{metric} improvement not significant")
        pn, rr = records.get(fill(SSIM_PN, model=model)), records.get(fill(SSIM_RR, model=model))
        if pn is not None and pn < 0:
            caveat.append(f"mean SSIM of PN pairs below 0 ({pn:.3f} vs RR {rr:.3f}): an improvement above 100 %".replace("-", "−"))
        p = records.get(fill(FD_PERM_P, model=model))
        if p is not None and p < 0.05:
            fd = records[fill(FD, comparison="pn_vs_rr", model=model)]
            floor = records[fill(FD, comparison="real_vs_real", model=model)]
            caveat.append(f"PN-vs-RR Frechet distance {fd:.1f} above random splits (p = {p:.2f}; real floor "
                          f"{floor:.1f})")
        setting = f"{model}, DDIM-{params['ddim_steps']}" if params.get("ddim_steps") else model
        if params.get("n_pairs"):
            setting += f", {params['n_pairs']} pairs"
        rows.append(Row(paper.MODEL_LABELS[pk] if pk else "blog table, 5 settings",
                        theirs(pk) if pk else span, setting, ours, verdict,
                        "; ".join(caveat), value=float(ssim), ci=tuple(ci_s),
                        short=f"SSIM {base.ci_text(ssim, ci_s, '+.0f')} %"))
    for model in dict.fromkeys(k[0] for k in paper.DIVERSITY):
        if model not in ran:
            rows.append(Row(paper.MODEL_LABELS.get(model, model), theirs(model), "", base.NOT_RUN, base.NOT_RUN,
                            paper_model=model))
    claim = f"PN pairs are more diverse than independent pairs: {span} (blog table)"
    return Summary(4, TABLE.title, TABLE.chapter, claim, "improvement of PN over RR pairs (%)", tuple(rows), "+.1f")


# ----------------------------------------------------------------------------------- statistics

#: Bootstrap resamples for every interval of this finding.
N_BOOT = 2000
#: Random splits for the permutation test of the PN-vs-RR Frechet distance.
N_PERM = 200


def _resample_means(values: np.ndarray, strata: np.ndarray | None, rng: np.random.Generator,
                    n_boot: int) -> np.ndarray:
    """``(n_boot,)`` means of ``values`` resampled with replacement (within each stratum)."""
    if strata is None or np.unique(strata, return_counts=True)[1].min() < 2:
        # a stratum of one value has no spread to resample: resample the pairs without strata
        return values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(1)
    total = np.zeros(n_boot)
    for s in np.unique(strata):
        v = values[strata == s]
        total += v[rng.integers(0, len(v), size=(n_boot, len(v)))].sum(1)
    return total / len(values)


def improvement_interval(pn: np.ndarray, rr: np.ndarray, *, higher_is_more_diverse: bool,
                         strata_pn: np.ndarray | None = None, strata_rr: np.ndarray | None = None,
                         level: float = 0.95, n_boot: int = N_BOOT, seed: int = 0) -> list[float]:
    """Percentile bootstrap interval ``[low, high]`` of :func:`antinb.metrics.percent_improvement` of
    the means of per-pair values ``pn`` and ``rr``; the two sets are resampled independently (within
    strata, e.g. classes, when given and every stratum holds at least two values)."""
    pn, rr = np.asarray(pn, dtype=np.float64), np.asarray(rr, dtype=np.float64)
    rng = np.random.default_rng(seed)
    m_pn = _resample_means(pn, strata_pn, rng, n_boot)
    m_rr = _resample_means(rr, strata_rr, rng, n_boot)
    imp = (m_pn - m_rr) / m_rr * 100.0 if higher_is_more_diverse else (m_rr - m_pn) / m_rr * 100.0
    alpha = (1.0 - level) / 2.0
    return [float(np.quantile(imp, alpha)), float(np.quantile(imp, 1.0 - alpha))]


def pair_metrics(x: torch.Tensor, *, backend: str = "auto", device: str = "cpu") -> tuple[dict[str, np.ndarray],
                                                                                            metrics.PerceptualDistance]:
    """SSIM and perceptual distance between the members of pairs ``x`` ``(2P, C, H, W)`` (rows ``2i, 2i+1``)."""
    dist = metrics.perceptual_distance(x[0::2], x[1::2], backend=backend, device=device)
    return {"ssim": metrics.ssim_pairs(x[0::2], x[1::2]).numpy(), "perceptual": dist.values.double().numpy()}, dist


def _with_ci(x: float, ci: Sequence[float], fmt: str = "+.1f") -> str:
    return f"{x:{fmt}} [{ci[0]:{fmt}}, {ci[1]:{fmt}}]"


def _significance(ci: Sequence[float]) -> str:
    return {1: "PN more diverse", -1: "PN less diverse", 0: "n.s."}[side(ci, 0.0)]


# ----------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PairDiversity:
    """PN vs RR pairs of one model (unconditional DDIM).

    Attributes:
        name: the model's name.
        samples: the sample images the figures show, in model space: ``{"PN": (2K, C, H, W), "RR": (2K, C, H,
            W)}`` with the first ``K = EXAMPLE_PAIRS`` pairs of the first model, ``{}`` for the others;
            ``{"PN": (2 n_classes, C, H, W)}`` with the first pair of each class for the guided pairs.
        values: ``{"PN" | "RR": {"ssim" | "perceptual": (P,)}}`` per-pair values.
        metric: the perceptual metric's label (``"ST-LPIPS (alex)"`` or ``"LPIPS (alex)"``); backend its slug.
        improvement: ``{"ssim" | "perceptual": percent}``; ci: their 95 % intervals.
    """

    name: str
    samples: dict[str, torch.Tensor]
    values: dict[str, dict[str, np.ndarray]]
    metric: str
    backend: str
    improvement: dict[str, float]
    ci: dict[str, list[float]]

    def mean(self, pairing: str, metric: str) -> float:
        return float(self.values[pairing][metric].mean())


@dataclass(frozen=True)
class GuidedDiversity(PairDiversity):
    """PN vs RR pairs per class with classifier-free guidance; both members of a pair share the class.

    The fields of :class:`PairDiversity`, and the guidance scale, the class names, each pair's class,
    the improvements per class and the model card's class accuracy by guidance scale.
    """

    guidance_scale: float
    class_names: list[str]
    pair_class: np.ndarray
    by_class: dict[str, dict[str, float]]
    card_accuracy: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class QualityCheck:
    """Frechet distances (classifier features) of one model's PN and RR samples and real test images."""

    name: str
    n: int
    fd: dict[str, float]
    perm_null: np.ndarray
    perm_p: float


def _improvements(values: dict[str, dict[str, np.ndarray]], *, strata: np.ndarray | None, seed: int,
                  n_boot: int, level: float) -> tuple[dict[str, float], dict[str, list[float]]]:
    imp, ci = {}, {}
    for j, (key, higher) in enumerate((("ssim", False), ("perceptual", True))):
        pn, rr = values["PN"][key], values["RR"][key]
        imp[key] = metrics.percent_improvement(pn.mean(), rr.mean(), higher_is_more_diverse=higher)
        ci[key] = improvement_interval(pn, rr, higher_is_more_diverse=higher, strata_pn=strata, strata_rr=strata,
                                       level=level, n_boot=n_boot, seed=seed + j)
    return imp, ci


def quality_check(name: str, model: DiffusionModel, samples: dict[str, torch.Tensor], *, n_pairs: int, seed: int = 0,
                  n_perm: int = N_PERM) -> QualityCheck | None:
    """Frechet distances for the quality check, or ``None`` without an offline data set and classifier.

    Sets of ``n = min(2 n_pairs, len(test) // 2)`` images: PN samples, RR samples, and two disjoint
    random sets of real test images (the floor); the halves compare the first ``n/2`` PN samples with
    the first ``n/2`` RR samples, beside two halves of the RR samples (a floor without real data).
    Samples go through :func:`antinb.quality.features` with ``value_range=(-1, 1)``, real images with
    ``(0, 1)`` (one preprocessing for both). ``perm_null``: FDs of ``n_perm`` random splits of the
    pooled PN and RR pairs (whole pairs moved) into two sets of ``n``; ``perm_p`` the share of them
    at least as large as the observed PN-vs-RR distance (with the usual +1 correction).
    """
    dataset = _models.dataset_of(model)
    if dataset is None:
        return None
    net = quality.load_classifier(dataset)
    real = data.load_dataset(dataset, "test").images
    n_fd = min(2 * n_pairs, len(real) // 2)
    order = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))
    feats = {"PN": quality.features(net, samples["PN"][:n_fd], value_range=(-1, 1)),
             "RR": quality.features(net, samples["RR"][:n_fd], value_range=(-1, 1)),
             "real A": quality.features(net, real[order[:n_fd]], value_range=(0, 1)),
             "real B": quality.features(net, real[order[n_fd: 2 * n_fd]], value_range=(0, 1))}
    half = n_fd // 4 * 2  # whole pairs
    fd_ = quality.frechet_distance
    fd = {"pn_vs_rr": fd_(feats["PN"], feats["RR"]),
          "pn_vs_real": fd_(feats["PN"], feats["real A"]),
          "rr_vs_real": fd_(feats["RR"], feats["real A"]),
          "real_vs_real": fd_(feats["real B"], feats["real A"]),
          "pn_vs_rr_half": fd_(feats["PN"][:half], feats["RR"][:half]),
          "rr_vs_rr_half": fd_(feats["RR"][half: 2 * half], feats["RR"][:half])}
    units = n_fd // 2
    pooled = torch.cat([feats["PN"][: 2 * units], feats["RR"][: 2 * units]]).double().numpy()
    pooled = pooled.reshape(2 * units, 2, -1)  # (pairs, 2, D)
    rng = np.random.default_rng(seed)
    null = np.empty(n_perm)
    for i in range(n_perm):
        perm = rng.permutation(2 * units)
        null[i] = fd_(pooled[perm[:units]].reshape(2 * units, -1), pooled[perm[units:]].reshape(2 * units, -1))
    p = float((1 + np.sum(null >= fd["pn_vs_rr"])) / (1 + n_perm))
    return QualityCheck(name=name, n=n_fd, fd=fd, perm_null=null, perm_p=p)

# ----------------------------------------------------------------------------------- measurement

#: PN and RR pairs of the first model whose images the measurement keeps (the first ones): the chapter's example
#: figures. No other model's sample images are kept, and of the guided pairs only the first PN pair of each class.
EXAMPLE_PAIRS = 8


def _guided(model: DiffusionModel, name: str, *, class_pairs: int, guidance_scale: float, steps: int, seed: int,
            backend: str, max_batch_size: int, n_boot: int, level: float) -> GuidedDiversity:
    n_classes = model.num_classes
    dataset = _models.dataset_of(model)
    class_names = (data.load_dataset(dataset, "test").class_names if dataset is not None
                   else [str(c) for c in range(n_classes)])
    labels = torch.arange(2 * class_pairs * n_classes) // 2 % n_classes  # same class within a pair
    pair_class = labels[0::2].numpy()
    samples, values = {}, {}
    for pairing in ("PN", "RR"):
        x = pair_samples(model, class_pairs * n_classes, pairing, steps=steps, seed=seed, labels=labels,
                         guidance_scale=guidance_scale, max_batch_size=max_batch_size, progress=False)
        if pairing == "PN":  # the pairs shown: the first PN pair of each class
            samples[pairing] = x[: 2 * n_classes].clone()
        values[pairing], dist = pair_metrics(x, backend=backend, device=str(model.device))
    imp, ci = _improvements(values, strata=pair_class, seed=seed + 10, n_boot=n_boot, level=level)
    by_class: dict[str, dict[str, float]] = {"ssim": {}, "perceptual": {}}
    for c, cname in enumerate(class_names):
        sel = pair_class == c
        for key, higher in (("ssim", False), ("perceptual", True)):
            by_class[key][cname] = metrics.percent_improvement(values["PN"][key][sel].mean(),
                                                               values["RR"][key][sel].mean(),
                                                               higher_is_more_diverse=higher)
    runs = (getattr(model, "card", None) or {}).get("conditional_accuracy", {}).get("runs", [])
    card = [{"guidance_scale": float(r["guidance_scale"]), "accuracy": float(r["accuracy"])} for r in runs]
    return GuidedDiversity(name=name, guidance_scale=float(guidance_scale), class_names=list(class_names),
                           pair_class=pair_class, samples=samples, values=values, metric=dist.metric,
                           backend=dist.backend, improvement=imp, ci=ci, by_class=by_class, card_accuracy=card)


@dataclass(frozen=True)
class Params:
    """What finding 4 measures: the models (names or loaded models), ``n_pairs`` PN and RR pairs each under DDIM
    with ``steps`` steps, ``class_pairs`` pairs per class of ``class_model`` with guidance ``guidance_scale``,
    the perceptual backend, the quality check (``n_perm`` permutations), 95 % bootstrap intervals from
    ``n_boot`` resamples, text-to-image prompts. The one parameters object of :func:`measure` and
    :func:`cost`."""

    models: Sequence[DiffusionModel | str]
    n_pairs: int = 128
    steps: int = 25
    class_model: DiffusionModel | str | None = "fashion-mnist-cond"
    class_pairs: int = 12
    guidance_scale: float = 3.0
    perceptual_backend: str = "auto"
    seed: int = 0
    device: str = "auto"
    max_batch_size: int = 512
    check_quality: bool = True
    level: float = 0.95
    n_boot: int = N_BOOT
    n_perm: int = N_PERM
    prompts: Any = None
    prompt_guidance: float = 7.5


@dataclass(frozen=True)
class DiversityMeasurements:
    """Everything finding 4 measured: one :class:`PairDiversity` per model, the guided pairs, the quality checks
    and the settings. Sample images: only those the chapter's figures show (:data:`EXAMPLE_PAIRS`); the
    per-pair values of every pair."""

    models: tuple[PairDiversity, ...]
    guided: GuidedDiversity | None
    quality: tuple[QualityCheck, ...]
    settings: dict[str, Any]


@measurement
def measure(params: Params) -> DiversityMeasurements:
    """Finding 4 for each model of ``params`` (a name or a loaded :class:`antinb.models.DiffusionModel`).

    Per model: ``n_pairs`` PN and ``n_pairs`` RR pairs under DDIM with ``steps`` steps
    (:func:`antinb.pairs.pair_samples`, seed ``seed``), SSIM and the perceptual distance of each pair
    (:func:`pair_metrics`), the improvements with bootstrap intervals, and the quality check
    (:func:`quality_check`). With ``class_model`` (``None`` or ``""`` to skip): ``class_pairs`` PN and
    RR pairs per class with guidance scale ``guidance_scale``. Text-to-image models sample ``prompts``
    with guidance ``prompt_guidance`` (records keyed by that conditioning, :func:`antinb.pairs.conditioning`).
    """
    p = params
    loaded: dict[str, DiffusionModel] = {}
    drawn: dict[str, dict[str, torch.Tensor]] = {}  # every pair, for the quality check
    results, checks = [], []
    for j, spec in enumerate(p.models):
        model = _models.load(spec, device=p.device) if isinstance(spec, str) else spec
        key, cond = conditioning(model, p.prompts, p.prompt_guidance)
        name = key if key != model.name or not isinstance(spec, str) or "=" in spec else spec
        loaded[name] = model
        samples, values = {}, {}
        for pairing in ("PN", "RR"):
            x = pair_samples(model, p.n_pairs, pairing, sampler="ddim", steps=p.steps, seed=p.seed, **cond,
                             max_batch_size=p.max_batch_size, progress=False)
            samples[pairing] = x
            values[pairing], dist = pair_metrics(x, backend=p.perceptual_backend, device=str(model.device))
        imp, ci = _improvements(values, strata=None, seed=p.seed + 2 * j, n_boot=p.n_boot, level=p.level)
        drawn[name] = samples
        shown = {k: v[: 2 * EXAMPLE_PAIRS].clone() for k, v in samples.items()} if j == 0 else {}
        results.append(PairDiversity(name=name, samples=shown, values=values, metric=dist.metric,
                                     backend=dist.backend, improvement=imp, ci=ci))
    guided = None
    if p.class_model:
        if isinstance(p.class_model, str):
            cmodel = loaded.get(p.class_model) or _models.load(p.class_model, device=p.device)
            cname = p.class_model
        else:
            cmodel, cname = p.class_model, p.class_model.name
        guided = _guided(cmodel, cname, class_pairs=p.class_pairs, guidance_scale=p.guidance_scale, steps=p.steps,
                         seed=p.seed, backend=p.perceptual_backend, max_batch_size=p.max_batch_size, n_boot=p.n_boot,
                         level=p.level)
    if p.check_quality:
        for r in results:
            q = quality_check(r.name, loaded[r.name], drawn[r.name], n_pairs=p.n_pairs, seed=p.seed, n_perm=p.n_perm)
            if q is not None:
                checks.append(q)
    settings = {"n_pairs": p.n_pairs, "steps": p.steps, "class_pairs": p.class_pairs,
                "guidance_scale": p.guidance_scale, "seed": p.seed, "level": p.level,
                "skipped_quality": [r.name for r in results if r.name not in {q.name for q in checks}]}
    return DiversityMeasurements(tuple(results), guided, tuple(checks), settings)


def cost(params: Params) -> dict[str, int]:
    """Network evaluations (image rows through the network once) :func:`measure` makes with ``params``, per
    model name (:func:`antinb.models.name_of`). Nothing is loaded: the class model's class count is read from
    its ``unet/config.json``. The quality check runs a classifier, not the diffusion network, and the metrics
    and bootstrap cost nothing."""
    p = params
    out: dict[str, int] = {}
    for spec in p.models:
        # PN and RR pairs, DDIM (every row twice for a text-to-image model sampling prompts with guidance)
        n = 2 * (2 * p.n_pairs) * p.steps * rows_per_image(spec, p.prompts, p.prompt_guidance)
        out[_models.name_of(spec)] = out.get(_models.name_of(spec), 0) + n
    if p.class_model:
        if isinstance(p.class_model, str):
            embeds = _models.unet_config(p.class_model).get("num_class_embeds")
            if not embeds:
                raise ValueError(f"class_model={p.class_model!r} is not class-conditional (no num_class_embeds)")
            n_classes = embeds - 1  # the last embedding is the null class
        else:
            n_classes = p.class_model.num_classes
        # PN and RR: class_pairs pairs per class, DDIM; guidance (when given) doubles every row
        guided = 2 if p.guidance_scale is not None else 1
        name = _models.name_of(p.class_model)
        out[name] = out.get(name, 0) + 2 * (2 * p.class_pairs * n_classes) * p.steps * guided
    return out


# ----------------------------------------------------------------------------------- presentation


@dataclass(frozen=True)
class DiversityResult(DiversityMeasurements, ByModel):
    """Finding 4 presented: records, tables, the paper comparison, the verdict and figures, all computed from
    the measurements alone."""

    @property
    def metric(self) -> str:
        """The perceptual metric's label (the same for every model of one run)."""
        return self.models[0].metric

    # -------------------------------------------------------------------- records

    def records(self) -> dict[str, Any]:
        """``{record name: value}`` (names from this module's templates)."""
        out: dict[str, Any] = {}
        for r in self.models:
            m, b = r.name, r.backend
            out[fill(SSIM_PN, model=m)] = r.mean("PN", "ssim")
            out[fill(SSIM_RR, model=m)] = r.mean("RR", "ssim")
            out[fill(SSIM_IMPROVEMENT, model=m)] = r.improvement["ssim"]
            out[fill(BACKEND_PN, backend=b, model=m)] = r.mean("PN", "perceptual")
            out[fill(BACKEND_RR, backend=b, model=m)] = r.mean("RR", "perceptual")
            out[fill(BACKEND_IMPROVEMENT, backend=b, model=m)] = r.improvement["perceptual"]
            out[fill(PERCEPTUAL_IMPROVEMENT, model=m)] = r.improvement["perceptual"]
            out[fill(PERCEPTUAL_METRIC, model=m)] = r.metric
            out[fill(SSIM_IMPROVEMENT_CI, model=m)] = r.ci["ssim"]
            out[fill(PERCEPTUAL_IMPROVEMENT_CI, model=m)] = r.ci["perceptual"]
        if self.models:
            out[fill(PERCEPTUAL_METRIC_ALL)] = self.metric
        g = self.guided
        if g is not None:
            m, b = g.name, g.backend
            out[fill(GUIDED_SSIM_IMPROVEMENT, model=m)] = g.improvement["ssim"]
            out[fill(GUIDED_BACKEND_IMPROVEMENT, backend=b, model=m)] = g.improvement["perceptual"]
            out[fill(GUIDED_SSIM_BY_CLASS, model=m)] = g.by_class["ssim"]
            out[fill(GUIDED_BACKEND_BY_CLASS, backend=b, model=m)] = g.by_class["perceptual"]
            out[fill(GUIDED_CLASSES_IMPROVED, model=m)] = int(sum(v > 0 for v in g.by_class["ssim"].values()))
            out[fill(GUIDED_SSIM_IMPROVEMENT_CI, model=m)] = g.ci["ssim"]
            out[fill(GUIDED_PERCEPTUAL_IMPROVEMENT_CI, model=m)] = g.ci["perceptual"]
        for q in self.quality:
            for key, value in q.fd.items():
                out[fill(FD, comparison=key, model=q.name)] = value
            out[fill(FD_N, model=q.name)] = q.n
            out[fill(FD_PERM_P, model=q.name)] = q.perm_p
        return out

    # -------------------------------------------------------------------- tables

    def table(self) -> pd.DataFrame:
        """Per model and metric: mean over PN and over RR pairs, the improvement with its 95 % interval."""
        rows = []
        for r in self.models:
            for key, label in (("ssim", "SSIM"), ("perceptual", r.metric)):
                rows.append({"model": r.name, "metric": label, "PN": round(r.mean("PN", key), 3),
                             "RR": round(r.mean("RR", key), 3),
                             "improvement % [95 % CI]": _with_ci(r.improvement[key], r.ci[key]),
                             "difference": _significance(r.ci[key])})
        return pd.DataFrame(rows).set_index(["model", "metric"])

    def class_table(self) -> pd.DataFrame:
        """Per class (guided pairs): mean SSIM of PN and RR pairs and both improvements in percent."""
        g = self.guided
        if g is None:
            return pd.DataFrame()
        rows = []
        for c, name in enumerate(g.class_names):
            sel = g.pair_class == c
            rows.append({"class": name, "SSIM PN": round(float(g.values["PN"]["ssim"][sel].mean()), 3),
                         "SSIM RR": round(float(g.values["RR"]["ssim"][sel].mean()), 3),
                         "SSIM impr. %": round(g.by_class["ssim"][name], 1),
                         f"{g.metric} impr. %": round(g.by_class["perceptual"][name], 1)})
        return pd.DataFrame(rows).set_index("class")

    def versus_paper(self) -> pd.DataFrame:
        """The blog's Table 1 (LPIPS) beside ours (our perceptual metric named in its own column)."""
        rows = []
        settings = dict.fromkeys(m for m, _ in paper.DIVERSITY)
        for m in settings:
            setting = paper.MODEL_LABELS.get(m, m).split(" (")[0]
            setting = setting.replace("Stable Diffusion", "SD").replace(" prompts", "")
            rows.append({"source": "paper", "setting": setting,
                         "SSIM impr. %": f"{paper.DIVERSITY[m, 'ssim']:+.1f}", "perceptual metric": "LPIPS",
                         "perceptual impr. %": f"{paper.DIVERSITY[m, 'lpips']:+.1f}"})
        s = self.settings
        for r in self.models:
            rows.append({"source": "ours", "setting": f"{r.name}, DDIM-{s['steps']}",
                         "SSIM impr. %": _with_ci(r.improvement["ssim"], r.ci["ssim"]), "perceptual metric": r.metric,
                         "perceptual impr. %": _with_ci(r.improvement["perceptual"], r.ci["perceptual"])})
        g = self.guided
        if g is not None:
            rows.append({"source": "ours", "setting": f"{g.name}, per class, w = {g.guidance_scale:g}",
                         "SSIM impr. %": _with_ci(g.improvement["ssim"], g.ci["ssim"]), "perceptual metric": g.metric,
                         "perceptual impr. %": _with_ci(g.improvement["perceptual"], g.ci["perceptual"])})
        return pd.DataFrame(rows).set_index(["source", "setting"])

    def quality_table(self) -> pd.DataFrame:
        """Per model: the Frechet distances at equal set size ``n``, and the permutation p-value of PN vs RR."""
        rows = []
        for q in self.quality:
            rows.append({"model": q.name, "n": q.n, "PN vs RR": round(q.fd["pn_vs_rr"], 1),
                         "perm. 95 %": round(float(np.quantile(q.perm_null, 0.95)), 1),
                         "p": round(q.perm_p, 3), "real vs real": round(q.fd["real_vs_real"], 1),
                         "PN vs real": round(q.fd["pn_vs_real"], 1), "RR vs real": round(q.fd["rr_vs_real"], 1)})
        return pd.DataFrame(rows).set_index("model") if rows else pd.DataFrame()

    def halves_table(self) -> pd.DataFrame:
        """Per model: PN vs RR and RR vs RR at half the set size (a floor from generated samples only)."""
        rows = [{"model": q.name, "n per set": q.n // 4 * 2, "PN vs RR, halves": round(q.fd["pn_vs_rr_half"], 1),
                 "RR vs RR, halves": round(q.fd["rr_vs_rr_half"], 1),
                 "ratio": round(q.fd["pn_vs_rr_half"] / q.fd["rr_vs_rr_half"], 2)} for q in self.quality]
        return pd.DataFrame(rows).set_index("model") if rows else pd.DataFrame()

    def quality_note(self) -> str:
        """Markdown: per model, PN vs RR against its floors and the permutation test, in words."""
        if not self.quality:
            return "No model has an offline classifier and test split: no quality check."
        lines = []
        for q in self.quality:
            ratio = q.fd["pn_vs_rr_half"] / q.fd["rr_vs_rr_half"]
            verdict = ("larger than random splits of the pooled pairs give" if q.perm_p < 0.05
                       else "within what random splits of the pooled pairs give")
            lines.append(f"- **{q.name}**: PN vs RR {q.fd['pn_vs_rr']:.1f} at n = {q.n} ({verdict}: permutation "
                         f"95 % quantile {np.quantile(q.perm_null, 0.95):.1f}, p = {q.perm_p:.2f}), real floor "
                         f"{q.fd['real_vs_real']:.1f}; halves: PN vs RR {q.fd['pn_vs_rr_half']:.1f} against RR vs RR "
                         f"{q.fd['rr_vs_rr_half']:.1f} (ratio {ratio:.1f}).")
        return "\n".join(lines)

    # -------------------------------------------------------------------- verdict

    def verdict(self) -> str:
        """A short markdown verdict written from the numbers."""
        s = self.settings
        sig = {r.name: {k: _significance(r.ci[k]) for k in ("ssim", "perceptual")} for r in self.models}
        both = [m for m, v in sig.items() if set(v.values()) == {"PN more diverse"}]
        ssim_only = [m for m, v in sig.items() if v["ssim"] == "PN more diverse" and m not in both]
        worse = [m for m, v in sig.items() if "PN less diverse" in v.values()]
        label = base.headline(summary(self.records()).verdict)
        ours = "; ".join(f"{r.name} SSIM {_with_ci(r.improvement['ssim'], r.ci['ssim'])} %, {r.metric} "
                         f"{_with_ci(r.improvement['perceptual'], r.ci['perceptual'])} %" for r in self.models)
        ssim_p = [v for (_, k), v in paper.DIVERSITY.items() if k == "ssim"]
        lp_p = [v for (_, k), v in paper.DIVERSITY.items() if k == "lpips"]
        text = (f"{label} Improvement of PN over RR pairs with 95 % bootstrap intervals ({s['n_pairs']} pairs "
                f"per design, DDIM-{s['steps']}): {ours}. The paper reports SSIM +{min(ssim_p):.1f} to "
                f"+{max(ssim_p):.1f} % and LPIPS +{min(lp_p):.1f} to +{max(lp_p):.1f} % on much larger models. ")
        if both:
            text += f"Both improvements are significantly positive for {', '.join(both)}. "
        if ssim_only:
            text += (f"For {', '.join(ssim_only)} the SSIM improvement is significant but the {self.metric} one is "
                     "not. ")
        if worse:
            text += f"PN pairs are significantly less diverse on at least one metric for {', '.join(worse)}. "
        neg = [r for r in self.models if r.mean("PN", "ssim") < 0]
        if neg:
            means = ", ".join(f"{r.name} {r.mean('PN', 'ssim'):.3f} vs {r.mean('RR', 'ssim'):.3f}" for r in neg)
            text += ("Where the mean SSIM of PN pairs is below 0 (the two members are locally anti-correlated) the "
                     f"SSIM improvement exceeds 100 % and the two means say more (PN vs RR: {means}). ")
        if all(r.improvement["perceptual"] < r.improvement["ssim"] for r in self.models):
            text += (f"The perceptual distance ({self.metric}, not LPIPS) moves much less than SSIM, as LPIPS does "
                     "in the paper. ")
        g = self.guided
        if g is not None:
            n_up = sum(v > 0 for v in g.by_class["ssim"].values())
            text += (f"With guidance (w = {g.guidance_scale:g}, {g.name}): SSIM "
                     f"{_with_ci(g.improvement['ssim'], g.ci['ssim'])} %, "
                     f"{g.metric} {_with_ci(g.improvement['perceptual'], g.ci['perceptual'])} %, SSIM improved in "
                     f"{n_up} of {len(g.class_names)} classes. ")
        if self.quality:
            high = [q for q in self.quality if q.perm_p < 0.05]
            parts = ", ".join(f"{q.name} {q.fd['pn_vs_rr']:.1f} (p = {q.perm_p:.2f}; real floor "
                              f"{q.fd['real_vs_real']:.1f})" for q in self.quality)
            text += (f"Quality: the Frechet distance between PN and RR samples is {parts}. ")
            if high:
                text += (f"For {', '.join(q.name for q in high)} it is larger than random splits of the pooled pairs "
                         "give (p < 0.05): the PN set is not interchangeable with the RR set in this feature space, "
                         "which an exact-sampling argument alone does not rule out at finite n (the members of a PN "
                         "set are dependent in pairs). ")
            else:
                text += ("No PN-vs-RR distance is larger than random splits of the pooled pairs give (all p ≥ 0.05): "
                         "no quality difference is detected at this sample size. ")
        return text

    # -------------------------------------------------------------------- figures

    def distributions_figure(self) -> plt.Figure:
        """Histograms of the per-pair SSIM (top) and perceptual distance (bottom), PN vs RR, one column per model."""
        n = len(self.models)
        fig, axes = plt.subplots(2, n, figsize=(7.0, 4.6), squeeze=False)
        for j, r in enumerate(self.models):
            for i, (key, label) in enumerate((("ssim", "SSIM"), ("perceptual", r.metric))):
                ax = axes[i, j]
                lo = min(r.values["PN"][key].min(), r.values["RR"][key].min())
                hi = max(r.values["PN"][key].max(), r.values["RR"][key].max())
                bins = np.linspace(lo, hi, 21)
                for pairing, color in (("PN", "C0"), ("RR", "C1")):
                    ax.hist(r.values[pairing][key], bins=bins, histtype="step", density=True, color=color, lw=1.5,
                            label=f"{pairing} pairs")
                ax.set_xlabel(label, fontsize=10)
                ax.tick_params(labelsize=9)
                if i == 0:
                    ax.set_title(r.name, fontsize=10)
            axes[0, j].set_yticks([])
            axes[1, j].set_yticks([])
        axes[0, 0].set_ylabel("density", fontsize=10)
        axes[1, 0].set_ylabel("density", fontsize=10)
        axes[0, 0].legend(fontsize=9)
        fig.tight_layout()
        return fig

    def improvement_figure(self) -> plt.Figure:
        """Improvements (%) with 95 % intervals per model (and guided), beside the paper's range."""
        rows = [(r.name, r.improvement, r.ci) for r in self.models]
        if self.guided is not None:
            rows.append((f"{self.guided.name}\nguided", self.guided.improvement, self.guided.ci))
        fig, axes = plt.subplots(1, 2, figsize=(7.0, 0.55 * len(rows) + 1.6), sharey=True)
        y = np.arange(len(rows))
        for ax, (key, label, pkey) in zip(axes, (("ssim", "SSIM", "ssim"), ("perceptual", self.metric, "lpips"))):
            vals = [p for (_, k), p in paper.DIVERSITY.items() if k == pkey]
            ax.axvspan(min(vals), max(vals), color="gray", alpha=0.25, label="paper's range (SSIM; LPIPS)")
            est = np.array([imp[key] for _, imp, _ in rows])
            lo = np.array([ci[key][0] for _, _, ci in rows])
            hi = np.array([ci[key][1] for _, _, ci in rows])
            ax.errorbar(est, y, xerr=[est - lo, hi - est], fmt="o", capsize=4, color="C0", label="ours, 95 % CI")
            ax.axvline(0, color="k", lw=0.8)
            ax.set_xlabel(f"{label} improvement (%)", fontsize=10)
            ax.tick_params(labelsize=9)
        axes[0].set_yticks(y, [n for n, _, _ in rows])
        axes[0].invert_yaxis()
        handles, labels = axes[1].get_legend_handles_labels()
        fig.legend(handles, labels, fontsize=9, loc="lower center", ncol=2, frameon=False)
        fig.tight_layout(rect=(0, 0.1, 1, 1))
        return fig

    def pair_examples(self, model: str, pairing: str, n: int = 8) -> plt.Figure:
        """The first ``n`` pairs of the first model (the measurement keeps no other model's images, and
        :data:`EXAMPLE_PAIRS` pairs of it): first members above, partners below."""
        r = self[model]
        if pairing not in r.samples:
            raise ValueError(f"the measurement keeps the example pairs of the first model "
                             f"({self.models[0].name}) only, not of {model!r}")
        if n > EXAMPLE_PAIRS:
            raise ValueError(f"n={n!r}: the measurement keeps the first {EXAMPLE_PAIRS} pairs only")
        return plots.pair_grid(r.samples[pairing][: 2 * n], ncol_pairs=n,
                               title=f"{model}: {pairing} pairs (DDIM-{self.settings['steps']})")

    def guided_examples(self, pairing: str) -> plt.Figure | None:
        """One guided pair per class (the measurement keeps the PN pairs only)."""
        g = self.guided
        if g is None:
            return None
        if pairing not in g.samples:
            raise ValueError(f"the measurement keeps the guided pairs {sorted(g.samples)} only, not {pairing!r}")
        k = len(g.class_names)
        return plots.pair_grid(g.samples[pairing][: 2 * k], ncol_pairs=k,
                               title=f"{g.name}: guided {pairing} pairs, one per class (w = {g.guidance_scale:g})")

    def quality_figure(self) -> plt.Figure | None:
        """Frechet distances, one panel per model on a log scale (distances to real data are up to 100
        times the others); floors grey; the permutation test's 95 % quantile dashed on the PN-vs-RR row."""
        if not self.quality:
            return None
        keys = list(FD_COMPARISONS)
        fig, axes = plt.subplots(len(self.quality), 1, figsize=(7.0, 1.9 * len(self.quality) + 0.3), squeeze=False)
        for ax, q in zip(axes[:, 0], self.quality):
            vals = [q.fd[k] for k in keys]
            colors = ["0.5" if "floor" in FD_COMPARISONS[k] else ("C0" if k.startswith("pn") else "C1") for k in keys]
            y = np.arange(len(keys))
            left = min(vals) / 3
            ax.hlines(y, left, vals, color=colors, lw=2)
            ax.scatter(vals, y, color=colors, s=30, zorder=3)
            null_q = float(np.quantile(q.perm_null, 0.95))
            ax.plot([null_q] * 2, [-0.4, 0.4], "k--", lw=1.2)
            for yi, v, k in zip(y, vals, keys):
                at = max(v, null_q) if k == "pn_vs_rr" else v  # keep the label clear of the dashed mark
                ax.text(at * 1.12, yi, f"{v:.1f}", va="center", fontsize=9)
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(ticker.NullFormatter())
            ax.set_xlim(left, max(vals) * 3)
            ax.set_yticks(y, [FD_COMPARISONS[k] for k in keys], fontsize=9)
            ax.invert_yaxis()
            ax.set_title(f"{q.name} (n = {q.n} per set; halves n = {q.n // 4 * 2})", fontsize=10)
            ax.tick_params(axis="x", labelsize=9)
        axes[-1, 0].set_xlabel("Frechet distance (classifier features, log scale); dashed: permutation 95 %",
                            fontsize=10)
        fig.tight_layout()
        return fig


def present(measurements: DiversityMeasurements) -> DiversityResult:
    """The presentation of finding 4's measurements (no network evaluation)."""
    return DiversityResult(measurements.models, measurements.guided, measurements.quality, measurements.settings)


def run(*args: Any, **kwargs: Any) -> DiversityResult:
    """``present(measure(Params(*args, **kwargs)))``: measure and present in one call."""
    return present(measure(Params(*args, **kwargs)))
