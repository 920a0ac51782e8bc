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

import math
from dataclasses import dataclass, field, replace
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
from .base import ByModel, Row, Summary, Table, fill, template_regex
from .verdicts import FLAGGED, Claim, beside, flag, judge

__all__ = ["SSIM_PN", "SSIM_RR", "SSIM_IMPROVEMENT", "SSIM_IMPROVEMENT_CI", "BACKEND_PN", "BACKEND_RR",
           "BACKEND_IMPROVEMENT", "PERCEPTUAL_IMPROVEMENT", "PERCEPTUAL_IMPROVEMENT_CI", "PERCEPTUAL_METRIC",
           "PERCEPTUAL_METRIC_ALL", "GUIDED_SSIM_IMPROVEMENT", "GUIDED_SSIM_IMPROVEMENT_CI",
           "GUIDED_BACKEND_IMPROVEMENT", "GUIDED_PERCEPTUAL_IMPROVEMENT_CI", "GUIDED_SSIM_BY_CLASS",
           "GUIDED_BACKEND_BY_CLASS", "GUIDED_CLASSES_IMPROVED", "FD", "FD_COMPARISONS", "FD_N", "FD_PERM_P",
           "TEMPLATES", "TABLE", "paper_records", "improvement_interval", "pair_metrics", "PairDiversity",
           "GuidedDiversity", "QualityCheck", "quality_check", "EXAMPLE_PAIRS", "Params", "DiversityMeasurements",
           "measure", "cost", "DiversityResult", "present", "run", "summary", "paper_claims", "SSIM_RR_CI",
           "SSIM_PN_CI", "SSIM_DIFFERENCE", "SSIM_DIFFERENCE_CI", "PAIRS", "STEPS", "GUIDED_PERCEPTUAL_IMPROVEMENT",
           "GUIDED_SSIM_PN", "GUIDED_SSIM_RR", "GUIDED_SSIM_RR_CI", "GUIDED_SSIM_DIFFERENCE",
           "GUIDED_SSIM_DIFFERENCE_CI", "GUIDED_PAIRS", "GUIDED_SCALE", "ALPHA"]

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
#: Shown beside the per-cents (computed from the per-pair values when the page is written): the 95 % bootstrap
#: intervals of the mean SSIM of RR and of PN pairs, and the difference ``SSIM_RR - SSIM_PN`` (positive: PN pairs
#: more diverse) with its interval; the pairs per model and the DDIM steps.
SSIM_RR_CI = "ssim_rr_ci/{model}"
SSIM_PN_CI = "ssim_pn_ci/{model}"
SSIM_DIFFERENCE = "ssim_difference/{model}"
SSIM_DIFFERENCE_CI = "ssim_difference_ci/{model}"
PAIRS = "pairs/{model}"
STEPS = "ddim_steps/{model}"
#: The same for the guided pairs (over all classes, resampled within class), with the backend-neutral perceptual
#: improvement, the pairs per class and the guidance scale.
GUIDED_PERCEPTUAL_IMPROVEMENT = "guided_perceptual_improvement_pct/{model}"
GUIDED_SSIM_PN = "guided_ssim_pn/{model}"
GUIDED_SSIM_RR = "guided_ssim_rr/{model}"
GUIDED_SSIM_RR_CI = "guided_ssim_rr_ci/{model}"
GUIDED_SSIM_DIFFERENCE = "guided_ssim_difference/{model}"
GUIDED_SSIM_DIFFERENCE_CI = "guided_ssim_difference_ci/{model}"
GUIDED_PAIRS = "guided_pairs_per_class/{model}"
GUIDED_SCALE = "guided_scale/{model}"
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
             GUIDED_PERCEPTUAL_IMPROVEMENT_CI, FD, FD_N, FD_PERM_P, SSIM_RR_CI, SSIM_PN_CI, SSIM_DIFFERENCE,
             SSIM_DIFFERENCE_CI, PAIRS, STEPS, GUIDED_PERCEPTUAL_IMPROVEMENT, GUIDED_SSIM_PN, GUIDED_SSIM_RR,
             GUIDED_SSIM_RR_CI, GUIDED_SSIM_DIFFERENCE, GUIDED_SSIM_DIFFERENCE_CI, GUIDED_PAIRS, GUIDED_SCALE)

TABLE = Table('Finding 4: are PN pairs more diverse?', '04_diversity',
              "Improvement of PN over RR pairs in percent (positive: PN more diverse) with 95 % bootstrap intervals. The perceptual metric is LPIPS where torchvision's AlexNet weights are present and ST-LPIPS otherwise; each row names the one that ran, and the paper's numbers are LPIPS.")


def paper_records() -> dict[str, float]:
    """The blog table's improvements under this finding's record names."""
    names = {"ssim": SSIM_IMPROVEMENT, "lpips": PERCEPTUAL_IMPROVEMENT}
    return {fill(names[metric], model=m): value for (m, metric), value in paper.DIVERSITY.items()}


def paper_claims(model_key: str | None = None) -> dict[str, Claim]:
    """The paper's claims under the book's rules, ``{"ssim": ..., "perceptual": ...}`` in percent (no effect 0):
    its own value for a paper model we ran (``model_key``), else the range over its five settings."""
    out = {}
    for key, pkey in (("ssim", "ssim"), ("perceptual", "lpips")):
        if model_key is not None:
            out[key] = Claim.of(paper.DIVERSITY[model_key, pkey])
        else:
            out[key] = Claim.of([v for (_, k), v in paper.DIVERSITY.items() if k == pkey])
    return out


def _pct(value: float, ci: Sequence[float] | None) -> str:
    """``+212 % [+194, +233]``, rounded to what the interval supports."""
    d = base.decimals(ci, 1)
    text = base.ci_text(value, ci, f"+.{d}f")
    return text.replace(" [", " % [", 1) if ci is not None else text + " %"


def _claim_text(c: Claim, unit: str = " %") -> str:
    return f"+{c.low:.1f}{unit}" if c.low == c.high else f"+{c.low:.1f} to +{c.high:.1f}{unit}"


@dataclass(frozen=True)
class _Judged:
    """One judged setting and quantity (what :func:`summary` and the chapter's verdict table both show)."""

    model: str
    setting: str       # the setting in full: model (†), sampler, steps, sample size
    short: str         # the setting in the verdict table: model (†) and, for the guided pairs, the guidance
    quantity: str      # "SSIM", the perceptual metric's label, or "Fréchet distance PN vs RR"
    ours: str
    paper: str
    verdict: str
    value: float | None
    ci: tuple[float, float] | None
    caveat: str = ""
    outcome: str = ""
    headline: bool = False
    paper_key: str | None = None


def _ci_of(records: dict[str, Any], name: str) -> tuple[float, float] | None:
    ci = records.get(name)
    return None if ci is None else (float(ci[0]), float(ci[1]))


def _ssim_judged(records: dict[str, Any], *, model: str, guided: bool, claim: Claim) -> tuple[str, str, float | None,
                                                                                             tuple | None, str]:
    """The SSIM comparison of one setting: text, verdict, value, interval and caveat.

    The per-cent ``(SSIM_RR - SSIM_PN) / SSIM_RR`` is the paper's scale, and is judged against its per-cents,
    only where the RR baseline is clearly positive (its 95 % interval lies above 0); elsewhere the per-cent is
    not defined and the difference ``SSIM_RR - SSIM_PN`` is judged on its direction alone (positive: PN pairs
    more diverse), with a caveat."""
    t = {False: (SSIM_IMPROVEMENT, SSIM_IMPROVEMENT_CI, SSIM_RR, SSIM_RR_CI, SSIM_PN, SSIM_DIFFERENCE,
                 SSIM_DIFFERENCE_CI),
         True: (GUIDED_SSIM_IMPROVEMENT, GUIDED_SSIM_IMPROVEMENT_CI, GUIDED_SSIM_RR, GUIDED_SSIM_RR_CI,
                GUIDED_SSIM_PN, GUIDED_SSIM_DIFFERENCE, GUIDED_SSIM_DIFFERENCE_CI)}[guided]
    pct, pct_ci = float(records[fill(t[0], model=model)]), _ci_of(records, fill(t[1], model=model))
    rr, rr_ci = records.get(fill(t[2], model=model)), _ci_of(records, fill(t[3], model=model))
    pn = records.get(fill(t[4], model=model))
    diff, diff_ci = records.get(fill(t[5], model=model)), _ci_of(records, fill(t[6], model=model))
    baseline = rr_ci[0] > 0 if rr_ci is not None else (rr is None or float(rr) > 0)
    caveat = []
    diff_text = f"RR − PN {base.ci_rounded(float(diff), diff_ci)}" if diff is not None else ""
    if pn is not None and rr is not None and float(pn) < 0 < float(rr):
        caveat.append(f"PN pairs' mean SSIM below 0 ({base.ci_rounded(float(pn), None, 2)} against RR "
                      f"{base.ci_rounded(float(rr), rr_ci, 3)}): their members are anti-correlated, so the per-cent exceeds "
                      "100 %")
    if baseline and pct_ci is not None:
        text = _pct(pct, pct_ci) + (f"; {diff_text}" if diff_text else "")
        return text, judge(pct_ci, claim), pct, pct_ci, "; ".join(caveat)
    if diff_ci is None:
        raise ValueError(f"model={model!r}: neither a per-cent with a positive baseline nor a difference with an "
                         "interval is recorded")
    caveat.insert(0, "the RR baseline's interval reaches 0, so the per-cent is not defined: judged on the "
                     "direction of the difference alone")
    return diff_text, judge(diff_ci, Claim(0.0, math.inf)), None, None, "; ".join(caveat)


def _setting(records: dict[str, Any], params: dict[str, Any], model: str, *, guided: bool) -> tuple[str, str]:
    """The full setting (model †, DDIM steps, pairs) and its short form for the verdict table."""
    steps = records.get(fill(STEPS, model=model)) or params.get("ddim_steps")
    mark = f"{model}{flag(model)}"
    if guided:
        w = records.get(fill(GUIDED_SCALE, model=model), params.get("guidance_scale"))
        per = records.get(fill(GUIDED_PAIRS, model=model)) or params.get("class_pairs")
        classes = len(records.get(fill(GUIDED_SSIM_BY_CLASS, model=model)) or {})
        short = f"{mark}, guided" + (f" w = {float(w):g}" if w is not None else "")
        full = short + (f", DDIM-{steps}" if steps else "")
        if per:
            full += f", {per} pair{'s' if int(per) != 1 else ''} per class" + (f" × {classes} classes" if classes else "")
        return full, short
    n = records.get(fill(PAIRS, model=model)) or params.get("n_pairs")
    full = mark + (f", DDIM-{steps}" if steps else "") + (f", {n} pairs" if n else "")
    return full, mark


def _judged(records: dict[str, Any], parameters: dict[str, Any] | None = None) -> list[_Judged]:
    """Every setting and quantity of finding 4 judged by the book's rules: per model (unconditional), then the
    guided pairs, the SSIM and the perceptual improvements against the paper's per-cents; then, beyond the
    paper, whether a quality metric tells a PN set from an RR set."""
    params = parameters or {}
    out: list[_Judged] = []
    units = [(m["model"], False) for name in records if (m := template_regex(SSIM_IMPROVEMENT).match(name))]
    units += [(m["model"], True) for name in records if (m := template_regex(GUIDED_SSIM_IMPROVEMENT).match(name))]
    for model, guided in units:
        pk = None if guided else base.paper_model(model, paper.DIVERSITY)
        c = paper_claims(pk)
        setting, short = _setting(records, params, model, guided=guided)
        paper_ssim, paper_lp = f"SSIM {_claim_text(c['ssim'])}", f"LPIPS {_claim_text(c['perceptual'])}"
        text, verdict, value, ci, caveat = _ssim_judged(records, model=model, guided=guided, claim=c["ssim"])
        if model in FLAGGED:
            caveat = "; ".join(x for x in (f"† {FLAGGED[model]}", caveat) if x)
        out.append(_Judged(model, setting, short, "SSIM", text, paper_ssim, verdict, value, ci, caveat,
                           headline=not guided, paper_key=pk))
        metric = str(records.get(fill(PERCEPTUAL_METRIC, model=model), records.get(PERCEPTUAL_METRIC_ALL,
                                                                                    "perceptual")))
        name = fill(GUIDED_PERCEPTUAL_IMPROVEMENT_CI if guided else PERCEPTUAL_IMPROVEMENT_CI, model=model)
        if guided:
            perc = records.get(fill(GUIDED_PERCEPTUAL_IMPROVEMENT, model=model))
        else:
            perc = records.get(fill(PERCEPTUAL_IMPROVEMENT, model=model))
        p_ci = _ci_of(records, name)
        if perc is not None and p_ci is not None:
            cav = [] if metric.upper().startswith("LPIPS") else [f"{metric} is not LPIPS: its size compares loosely"]
            out.append(_Judged(model, setting, short, metric, _pct(float(perc), p_ci), paper_lp,
                               judge(p_ci, c["perceptual"]), float(perc), p_ci, "; ".join(cav), paper_key=pk))
    for name, fd in records.items():
        m = template_regex(FD).match(name)
        if not m or m["comparison"] != "pn_vs_rr":
            continue
        model = m["model"]
        p = records.get(fill(FD_PERM_P, model=model))
        n = records.get(fill(FD_N, model=model))
        if p is None:
            continue
        setting, short = _setting(records, params, model, guided=False)
        ours = f"{_fd(float(fd))}, p = {float(p):.2f} against random splits (no interval)"
        out.append(_Judged(model, setting + (f"; {int(n)} images per set" if n else ""), short,
                           "Fréchet distance PN vs RR", ours, "not measured", base.BEYOND, float(fd), None,
                           "permutation test of whole pairs; a small p says the sets differ in the classifier's "
                           "features, not which is better", outcome="fails" if float(p) < ALPHA else "holds"))
    return out


#: The level of the permutation test that asks whether a PN set differs from an RR set (that of the 95 % intervals).
ALPHA = 0.05


def _takeaway(verdict: str, row: Row | None, claim: Claim | None) -> str:
    """The chapter's finding in a few words, from its verdict and the row that carries it."""
    if verdict == base.NOT_RUN or row is None:
        return "The diversity of PN pairs was not measured here."
    if verdict == base.NOT_SHOWN:
        return "Whether PN pairs are more diverse than independent pairs is not resolved at this sample size."
    if verdict == base.NOT_REPRODUCED:
        return "PN pairs are not more diverse than independent pairs here."
    if verdict == base.REPRODUCED:
        return "PN pairs are more diverse than independent pairs, by as much as in the paper."
    side = beside(row.ci, claim) if claim is not None and row.ci is not None else 0
    if side > 0:
        return "PN pairs are more diverse than independent pairs, by more than in the paper."
    if side < 0:
        return "PN pairs are more diverse than independent pairs, by less than in the paper."
    return "PN pairs are more diverse on some measures, not on others."


def summary(records: dict[str, Any], parameters: dict[str, Any] | None = None) -> Summary:
    """Finding 4 from its records: per setting (each model's unconditional pairs, then the guided pairs) the SSIM
    and the perceptual improvements of PN over RR pairs (95 % bootstrap intervals) judged by the book's rules
    (:func:`antinb.findings.verdicts.judge`, no effect 0 %) against the blog table (the paper's own row for a
    paper model we ran, else its range); beyond the paper, whether a Fréchet distance tells a PN set from an RR
    set; one row per paper setting not run. SSIM's per-cent is judged only where the RR baseline is clearly
    positive (:func:`_ssim_judged`). Rows of a model the book flags are marked."""
    rows, ran = [], set()
    judged = _judged(records, parameters)
    for j in judged:
        ran.add(j.paper_key)
        paper_setting = (paper.MODEL_LABELS[j.paper_key] if j.paper_key else
                         "not in the paper" if j.verdict == base.BEYOND else "blog table, 5 settings")
        rows.append(Row(paper_setting, j.paper, j.setting, f"{j.quantity} {j.ours}", j.verdict, j.caveat,
                        value=j.value, ci=j.ci, short=f"{j.quantity} {j.ours.split('; ')[0]}", headline=j.headline,
                        outcome=j.outcome, flagged=j.model in FLAGGED))

    def theirs(model: str) -> str:
        return f"SSIM +{paper.DIVERSITY[model, 'ssim']:.1f} %, LPIPS +{paper.DIVERSITY[model, 'lpips']:.1f} %"

    for model in dict.fromkeys(k[0] for k in paper.DIVERSITY):
        if model not in ran:
            rows.append(Row(paper.MODEL_LABELS.get(model, model), theirs(model), "", base.NOT_RUN, base.NOT_RUN,
                            paper_model=model))
    c = paper_claims()
    span = f"SSIM {_claim_text(c['ssim'])}, LPIPS {_claim_text(c['perceptual'])}"
    claim = f"PN pairs are more diverse than independent pairs: {span} (blog table)"
    out = Summary(4, TABLE.title, TABLE.chapter, claim, "improvement of PN over RR pairs (%)", tuple(rows), "+.1f")
    carrier = _carrier(out)
    j = next((x for x in judged if carrier is not None and x.setting == carrier.our_setting and x.quantity == "SSIM"),
             None)
    if "takeaway" in Summary.__dataclass_fields__:
        out = replace(out, takeaway=_takeaway(out.verdict, carrier, paper_claims(j.paper_key)["ssim"] if j else None))
    return out


def _carrier(s: Summary) -> Row | None:
    """The row whose number carries the finding: the first headline row (an unconditional SSIM row) of a model
    the book does not flag with the finding's own verdict (else the first headline row)."""
    rows = [r for r in s.ran if r.headline]
    rows = [r for r in rows if r.value is not None] + [r for r in rows if r.value is None]  # a per-cent first
    for pick in ([r for r in rows if not r.flagged and r.verdict == s.verdict], [r for r in rows if not r.flagged],
                 rows):
        if pick:
            return pick[0]
    return None


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


# ----------------------------------------------------------------------------------- presentation helpers


def _boot_means(values: np.ndarray, strata: np.ndarray | None, seed: int, n_boot: int = N_BOOT) -> np.ndarray:
    return _resample_means(np.asarray(values, dtype=np.float64), strata, np.random.default_rng(seed), n_boot)


def _quantiles(x: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    a = (1.0 - level) / 2.0
    return float(np.quantile(x, a)), float(np.quantile(x, 1.0 - a))


def _fd(value: float) -> str:
    """A Fréchet distance to three significant digits, without an exponent (``1,417``, ``14.5``, ``2.77``)."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


@dataclass(frozen=True)
class _Contrast:
    """PN against RR pairs on one metric, from the per-pair values: the two means with 95 % bootstrap intervals
    and the difference in the direction of more diversity (``RR - PN`` for SSIM, ``PN - RR`` for a distance)
    with its 95 % bootstrap interval; PN and RR pairs resampled independently (within strata when given)."""

    pn: float
    rr: float
    pn_ci: tuple[float, float] | None
    rr_ci: tuple[float, float] | None
    difference: float
    difference_ci: tuple[float, float] | None
    n: int

    @classmethod
    def of(cls, pn: np.ndarray, rr: np.ndarray, *, lower_is_more_diverse: bool, strata: np.ndarray | None = None,
           seed: int = 0, level: float = 0.95) -> "_Contrast":
        pn, rr = np.asarray(pn, dtype=np.float64), np.asarray(rr, dtype=np.float64)
        sign = -1.0 if lower_is_more_diverse else 1.0
        diff = sign * (pn.mean() - rr.mean())
        if min(len(pn), len(rr)) < 2:  # one pair: no spread to resample, no interval
            return cls(float(pn.mean()), float(rr.mean()), None, None, float(diff), None, min(len(pn), len(rr)))
        m_pn, m_rr = _boot_means(pn, strata, seed), _boot_means(rr, strata, seed + 1)
        return cls(float(pn.mean()), float(rr.mean()), _quantiles(m_pn, level), _quantiles(m_rr, level), float(diff),
                   _quantiles(sign * (m_pn - m_rr), level), min(len(pn), len(rr)))


def _contrast(r: PairDiversity, key: str, *, seed: int, strata: np.ndarray | None = None) -> _Contrast:
    return _Contrast.of(r.values["PN"][key], r.values["RR"][key], lower_is_more_diverse=key == "ssim", strata=strata,
                        seed=seed)


# ----------------------------------------------------------------------------------- presentation


@dataclass(frozen=True)
class DiversityResult(DiversityMeasurements, ByModel):
    """Finding 4 presented: records, tables, the paper comparison, the verdict and figures, all computed from
    the measurements alone (the intervals of the means and differences are bootstraps of the per-pair values,
    seeded, so a page re-rendered from the same measurement shows the same numbers)."""

    @property
    def metric(self) -> str:
        """The perceptual metric's label (the same for every model of one run)."""
        return self.models[0].metric

    def _seed(self, offset: int) -> int:
        return int(self.settings.get("seed", 0)) + 1000 + offset

    def contrast(self, model: str, key: str) -> _Contrast:
        """PN against RR pairs of ``model`` (unconditional) on ``key`` (``"ssim"`` or ``"perceptual"``)."""
        j = [r.name for r in self.models].index(model)
        return _contrast(self.models[j], key, seed=self._seed(10 * j + (key == "perceptual") * 2))

    def guided_contrast(self, key: str, cls: int | None = None) -> _Contrast:
        """PN against RR guided pairs on ``key``: over all classes (resampled within class) or of class ``cls``."""
        g = self.guided
        off = 500 + (key == "perceptual") * 2 + (0 if cls is None else 10 * (cls + 1))
        if cls is None:
            return _contrast(g, key, seed=self._seed(off), strata=g.pair_class)
        sel = g.pair_class == cls
        return _Contrast.of(g.values["PN"][key][sel], g.values["RR"][key][sel], lower_is_more_diverse=key == "ssim",
                            seed=self._seed(off))

    # -------------------------------------------------------------------- records

    def records(self) -> dict[str, Any]:
        """``{record name: value}`` (names from this module's templates)."""
        out: dict[str, Any] = {}
        s = self.settings
        for r in self.models:
            m, b = r.name, r.backend
            c = self.contrast(m, "ssim")
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
            out[fill(SSIM_RR_CI, model=m)] = list(c.rr_ci) if c.rr_ci else None
            out[fill(SSIM_PN_CI, model=m)] = list(c.pn_ci) if c.pn_ci else None
            out[fill(SSIM_DIFFERENCE, model=m)] = c.difference
            out[fill(SSIM_DIFFERENCE_CI, model=m)] = list(c.difference_ci) if c.difference_ci else None
            out[fill(PAIRS, model=m)] = int(len(r.values["PN"]["ssim"]))
            out[fill(STEPS, model=m)] = int(s["steps"])
        if self.models:
            out[fill(PERCEPTUAL_METRIC_ALL)] = self.metric
        g = self.guided
        if g is not None:
            m, b = g.name, g.backend
            c = self.guided_contrast("ssim")
            out[fill(GUIDED_SSIM_IMPROVEMENT, model=m)] = g.improvement["ssim"]
            out[fill(GUIDED_BACKEND_IMPROVEMENT, backend=b, model=m)] = g.improvement["perceptual"]
            out[fill(GUIDED_PERCEPTUAL_IMPROVEMENT, model=m)] = g.improvement["perceptual"]
            out[fill(GUIDED_SSIM_BY_CLASS, model=m)] = g.by_class["ssim"]
            out[fill(GUIDED_BACKEND_BY_CLASS, backend=b, model=m)] = g.by_class["perceptual"]
            out[fill(GUIDED_CLASSES_IMPROVED, model=m)] = int(sum(v > 0 for v in g.by_class["ssim"].values()))
            out[fill(GUIDED_SSIM_IMPROVEMENT_CI, model=m)] = g.ci["ssim"]
            out[fill(GUIDED_PERCEPTUAL_IMPROVEMENT_CI, model=m)] = g.ci["perceptual"]
            out[fill(GUIDED_SSIM_PN, model=m)] = c.pn
            out[fill(GUIDED_SSIM_RR, model=m)] = c.rr
            out[fill(GUIDED_SSIM_RR_CI, model=m)] = list(c.rr_ci) if c.rr_ci else None
            out[fill(GUIDED_SSIM_DIFFERENCE, model=m)] = c.difference
            out[fill(GUIDED_SSIM_DIFFERENCE_CI, model=m)] = list(c.difference_ci) if c.difference_ci else None
            out[fill(GUIDED_PAIRS, model=m)] = int(s.get("class_pairs") or np.bincount(g.pair_class).min())
            out[fill(GUIDED_SCALE, model=m)] = float(g.guidance_scale)
            out[fill(STEPS, model=m)] = int(s["steps"])
        for q in self.quality:
            for key, value in q.fd.items():
                out[fill(FD, comparison=key, model=q.name)] = value
            out[fill(FD_N, model=q.name)] = q.n
            out[fill(FD_PERM_P, model=q.name)] = q.perm_p
        return {k: v for k, v in out.items() if v is not None}  # no interval from one pair: no record

    def _parameters(self) -> dict[str, Any]:
        s = self.settings
        return {"ddim_steps": s.get("steps"), "n_pairs": s.get("n_pairs"), "class_pairs": s.get("class_pairs"),
                "guidance_scale": s.get("guidance_scale")}

    # -------------------------------------------------------------------- tables

    def table(self) -> pd.DataFrame:
        """Per model and metric: the mean over RR and over PN pairs, how much more diverse PN pairs are (the
        difference, in the metric's units) and the paper's per-cent, each with its 95 % interval. The SSIM
        per-cent is given only where the RR baseline is clearly positive (its interval above 0)."""
        rows = []
        for r in self.models:
            for key, label in (("ssim", "SSIM"), ("perceptual", r.metric)):
                c = self.contrast(r.name, key)
                defined = key != "ssim" or (c.rr_ci is not None and c.rr_ci[0] > 0)
                rows.append({"model": f"{r.name}{flag(r.name)}", "metric": label,
                             "RR": base.ci_rounded(c.rr, c.rr_ci, 3).split(" [")[0], "PN": base.ci_rounded(c.pn, c.pn_ci, 3).split(" [")[0],
                             "PN more diverse by": base.ci_rounded(c.difference, c.difference_ci),
                             "% [95 % CI]": (_pct(r.improvement[key], r.ci[key]) if defined
                                             else "not defined").replace(" %", "")})
        return pd.DataFrame(rows).set_index(["model", "metric"])

    def class_table(self) -> pd.DataFrame:
        """Per class (guided pairs): mean SSIM of RR and PN pairs and how much lower PN's is, and the perceptual
        improvement in percent, with 95 % bootstrap intervals over the class's pairs (none for one pair)."""
        g = self.guided
        if g is None:
            return pd.DataFrame()
        rows = []
        for c, name in enumerate(g.class_names):
            s, p = self.guided_contrast("ssim", c), self.guided_contrast("perceptual", c)
            sel = g.pair_class == c
            if p.n >= 2:
                ci = improvement_interval(g.values["PN"]["perceptual"][sel], g.values["RR"]["perceptual"][sel],
                                          higher_is_more_diverse=True, seed=self._seed(800 + c))
                pct = _pct(g.by_class["perceptual"][name], ci).replace(" %", "")
            else:
                pct = f"{g.by_class['perceptual'][name]:+.0f}".replace("-", "−")
            rows.append({"class": name, "pairs": int(sel.sum()), "SSIM RR": f"{s.rr:.2f}".replace("-", "−"),
                         "SSIM PN": f"{s.pn:.2f}".replace("-", "−"),
                         "SSIM RR − PN": base.ci_rounded(s.difference, s.difference_ci, 2),
                         f"{g.metric.split(' (')[0]} %": pct})
        return pd.DataFrame(rows).set_index("class")

    def class_note(self) -> str:
        """Markdown: how to read the per-class table (and why it has no intervals with one pair per class)."""
        g = self.guided
        if g is None:
            return ""
        n = int(np.bincount(g.pair_class).min())
        if n < 2:
            return (f"One pair per class here: the table gives each class's numbers without intervals (an "
                    f"interval needs at least two pairs); the row of all classes in the verdict has them.")
        return (f"Intervals: 95 % bootstrap over the {n} pairs of each class, PN and RR resampled independently; "
                f"with so few pairs they are rough, and the per-cent's interval is wide where RR's SSIM is near 0, "
                f"so the table gives the difference of the means instead.")

    def versus_paper(self) -> pd.DataFrame:
        """The blog's Table 1 (LPIPS) beside ours (our perceptual metric named in its own column); our SSIM
        per-cent only where it is defined (RR baseline clearly above 0)."""
        rows = []
        for m in dict.fromkeys(m for m, _ in paper.DIVERSITY):
            setting = paper.MODEL_LABELS.get(m, m).split(" (")[0]
            setting = setting.replace("Stable Diffusion", "SD").replace(" prompts", "")
            rows.append({"source": "paper", "setting": setting, "SSIM %": f"{paper.DIVERSITY[m, 'ssim']:+.1f}",
                         "perceptual": "LPIPS", "perceptual %": f"{paper.DIVERSITY[m, 'lpips']:+.1f}"})
        recs = self.records()
        for j in _judged(recs, self._parameters()):
            if j.verdict == base.BEYOND:
                continue
            row = next((x for x in rows if x["source"] == "ours" and x["setting"] == j.short), None)
            if row is None:
                row = {"source": "ours", "setting": j.short}
                rows.append(row)
            if j.quantity == "SSIM":
                row["SSIM %"] = (j.ours.split("; ")[0].replace(" %", "") if j.value is not None
                                 else "not defined")
            else:
                row["perceptual"], row["perceptual %"] = j.quantity, j.ours.replace(" %", "")
        return pd.DataFrame(rows).set_index(["source", "setting"])

    def quality_table(self) -> pd.DataFrame:
        """Per model: the Fréchet distances at equal set size ``n``, the permutation test's 95 % quantile and
        p-value for PN vs RR (no interval: the measurement keeps the distances, not the features)."""
        rows = []
        for q in self.quality:
            rows.append({"model": f"{q.name}{flag(q.name)}", "n": q.n, "PN vs RR": _fd(q.fd['pn_vs_rr']),
                         "splits, 95 %": _fd(np.quantile(q.perm_null, 0.95)), "p": round(q.perm_p, 2),
                         "real vs real": _fd(q.fd['real_vs_real']), "PN vs real": _fd(q.fd['pn_vs_real']),
                         "RR vs real": _fd(q.fd['rr_vs_real'])})
        return pd.DataFrame(rows).set_index("model") if rows else pd.DataFrame()

    def halves_table(self) -> pd.DataFrame:
        """Per model: PN vs RR and RR vs RR at half the set size (a floor from generated samples only)."""
        rows = [{"model": f"{q.name}{flag(q.name)}", "n per set": q.n // 4 * 2,
                 "PN vs RR, halves": _fd(q.fd['pn_vs_rr_half']), "RR vs RR, halves": _fd(q.fd['rr_vs_rr_half']),
                 "ratio": round(q.fd["pn_vs_rr_half"] / q.fd["rr_vs_rr_half"], 2)} for q in self.quality]
        return pd.DataFrame(rows).set_index("model") if rows else pd.DataFrame()

    def sizes_note(self) -> str:
        """Markdown: the set sizes of the quality check, and why a model's ``n`` is below twice its pairs."""
        if not self.quality:
            return ""
        full = 2 * int(self.settings["n_pairs"])
        text = (f"Each set holds $n$ images: the {full} generated images of the PN pairs (and of the RR pairs), "
                "and two disjoint sets of $n$ real test images for the real floor")
        short = [q for q in self.quality if q.n < full]
        if short:
            text += ("; " + ", ".join(f"{q.name}{flag(q.name)}'s $n = {q.n}$" for q in short) +
                     (" is" if len(short) == 1 else " are") + " half its test split (the two real sets must not "
                     f"overlap), so its generated sets are cut to their first {short[0].n} images as well")
        return text + "."

    def quality_note(self) -> str:
        """Markdown: per model, PN vs RR against its floors and the permutation test, in words."""
        if not self.quality:
            return "No model has an offline classifier and test split: no quality check."
        lines = []
        for q in self.quality:
            verdict = ("larger than random splits of the pooled pairs give" if q.perm_p < ALPHA
                       else "within what random splits of the pooled pairs give")
            lines.append(f"- **{q.name}{flag(q.name)}**: PN vs RR {_fd(q.fd['pn_vs_rr'])} at $n = {q.n}$ ({verdict}: "
                         f"95 % of the splits below {_fd(np.quantile(q.perm_null, 0.95))}, p = {q.perm_p:.2f}); real "
                         f"floor {_fd(q.fd['real_vs_real'])}.")
        return "\n".join(lines)

    # -------------------------------------------------------------------- verdict

    def verdict_table(self) -> str:
        """Every judged setting and quantity as a compact markdown table (a flagged model marked †)."""
        lines = ["| setting | quantity | ours [95 % CI] | verdict |", "|---|---|---|---|"]
        for j in _judged(self.records(), self._parameters()):
            v = f"beyond the paper: **{j.outcome}**" if j.verdict == base.BEYOND else j.verdict
            quantity = j.quantity.replace("Fréchet distance PN vs RR", "FD, PN vs RR")
            lines.append(f"| {j.short} | {quantity} | {j.ours} | {v} |")
        return "\n".join(lines)

    def verdict(self) -> str:
        """The chapter's verdict: one quotable sentence (the takeaway, the verdict, the number that carries it
        with its interval and setting), the table of every setting, and a short paragraph on why and what
        limits it."""
        recs = self.records()
        s = summary(recs, self._parameters())
        row = _carrier(s)
        if row is None:
            return f"{base.headline(s.verdict)} No model was measured."
        judged = _judged(recs, self._parameters())
        j = next(x for x in judged if x.setting == row.our_setting and x.quantity == "SSIM")
        c = paper_claims(j.paper_key)
        takeaway = s.takeaway if "takeaway" in Summary.__dataclass_fields__ else ""
        lower = self._ssim_lower(j)
        if j.value is not None:
            number = f"SSIM {lower + ', ' if lower else ''}{j.ours.split('; ')[0]} against the paper's "
        else:  # no per-cent: the RR baseline is not clearly positive
            number = f"SSIM {lower or j.ours}, no per-cent (RR mean not clearly above 0; paper "
        first = (f"{base.headline(s.verdict)} {takeaway[:-1]}: {number}{_claim_text(c['ssim'])}"
                 f"{')' if j.value is None else ''} ({j.setting}).")
        p = paper_claims()
        out = [first, "", f"The paper: SSIM {_claim_text(p['ssim'])}, LPIPS {_claim_text(p['perceptual'])} over its "
               "five settings. " + self._sizes_line(), "", self.verdict_table()]
        names = [r.name for r in self.models]
        if any(m in FLAGGED for m in names):
            out += ["", "† " + "; ".join(f"{m}: {why}" for m, why in FLAGGED.items() if m in names) + "."]
        why = []
        defined = {x.model for x in judged if x.quantity == "SSIM" and "guided" not in x.short and x.value is not None}
        neg = [r for r in self.models if self.contrast(r.name, "ssim").pn_ci is not None
               and self.contrast(r.name, "ssim").pn_ci[1] < 0]
        if neg:
            r = next((x for x in neg if x.name == j.model), neg[0])
            cs = self.contrast(r.name, "ssim")
            why.append(f"PN pairs' mean SSIM lies below 0 for {len(neg)} of {len(self.models)} models "
                       f"({r.name}{flag(r.name)}: {base.ci_rounded(cs.pn, cs.pn_ci)} against RR {base.ci_rounded(cs.rr, cs.rr_ci)}): the two "
                       "members are locally anti-correlated, mirror images in their pixels"
                       + (", so the per-cent exceeds 100 %, which the paper's per-cents never do." if r.name in defined
                          else "."))
        if defined and all(r.improvement["perceptual"] < r.improvement["ssim"] for r in self.models
                           if r.name in defined):
            why.append(f"{self.metric.split(' (')[0]} moves much less than SSIM, as LPIPS does in the paper; it is "
                       "not LPIPS, so its size compares loosely.")
        g = self.guided
        if g is not None:
            jg = next((x for x in judged if x.quantity == "SSIM" and "guided" in x.short), None)
            if jg is not None:
                why.append(f"With guidance ({jg.short}): SSIM {jg.ours.split('; ')[0]}, {jg.verdict}.")
        fds = [x for x in judged if x.verdict == base.BEYOND]
        if fds:
            fails = [x for x in fds if x.outcome == "fails"]
            why.append(f"A classifier's Fréchet distance tells a PN set from an RR set for {len(fails)} of "
                       f"{len(fds)} models (permutation test, p < {ALPHA:g}).")
        why.append("Our models are small and briefly trained; the intervals cover the sampling of pairs, not "
                   "training.")
        return "\n".join(out) + "\n\n" + " ".join(why)

    def _ssim_lower(self, j: _Judged) -> str:
        """``lower by 0.25 [0.23, 0.27]``: how much lower PN pairs' mean SSIM is, for the setting of ``j``."""
        if "guided" in j.short:
            c = self.guided_contrast("ssim")
        elif j.model in [r.name for r in self.models]:
            c = self.contrast(j.model, "ssim")
        else:
            return ""
        return f"lower by {base.ci_rounded(c.difference, c.difference_ci)}"

    def _sizes_line(self) -> str:
        s = self.settings
        text = f"Ours: DDIM-{s['steps']}, {s['n_pairs']} PN and {s['n_pairs']} RR pairs per model"
        g = self.guided
        if g is not None:
            n = int(np.bincount(g.pair_class).min())
            text += (f"; guided: {n} pair{'s' if n != 1 else ''} of each per class × {len(g.class_names)} classes, "
                     f"w = {g.guidance_scale:g}")
        return text + "."

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
                    ax.set_title(f"{r.name}{flag(r.name)}", fontsize=10)
            axes[0, j].set_yticks([])
            axes[1, j].set_yticks([])
        axes[0, 0].set_ylabel("density", fontsize=10)
        axes[1, 0].set_ylabel("density", fontsize=10)
        axes[0, 0].legend(fontsize=9)
        fig.tight_layout()
        return fig

    def improvement_figure(self) -> plt.Figure:
        """Improvements (%) with 95 % intervals per setting, beside the paper's range: SSIM (only where the
        per-cent is defined, the RR baseline clearly above 0; beyond 100 % PN pairs are anti-correlated) and
        the perceptual metric."""
        judged = [x for x in _judged(self.records(), self._parameters()) if x.verdict != base.BEYOND]
        labels = list(dict.fromkeys(x.short for x in judged))
        fig, axes = plt.subplots(1, 2, figsize=(7.0, 0.5 * len(labels) + 1.7), sharey=True)
        y = {lab: i for i, lab in enumerate(labels)}
        for ax, (ssim, pkey) in zip(axes, ((True, "ssim"), (False, "perceptual"))):
            c = paper_claims()[pkey]
            ax.axvspan(c.low, c.high, color="gray", alpha=0.25, label="paper's range (LPIPS on the right)")
            rows = [x for x in judged if (x.quantity == "SSIM") == ssim and x.value is not None and x.ci is not None]
            est = np.array([x.value for x in rows])
            lo, hi = np.array([x.ci[0] for x in rows]), np.array([x.ci[1] for x in rows])
            ax.errorbar(est, [y[x.short] for x in rows], xerr=[est - lo, hi - est], fmt="o", capsize=4, color="C0",
                        label="ours, 95 % CI")
            ax.axvline(0, color="k", lw=0.8)
            if ssim and len(rows) and hi.max() > 100:
                ax.axvline(100, color="k", lw=0.8, ls=":")
                ax.text(100, -0.75, " PN's SSIM < 0 →", fontsize=9, va="center", ha="left")
            missing = [x.short for x in judged if (x.quantity == "SSIM") == ssim and x.value is None]
            for lab in missing:
                ax.text(0.02, y[lab], "per-cent not defined", transform=ax.get_yaxis_transform(), fontsize=9,
                        va="center")
            metric = "SSIM" if ssim else self.metric
            ax.set_xlabel(f"{metric} improvement (%)", fontsize=10)
            ax.tick_params(labelsize=9)
        axes[0].set_yticks(range(len(labels)), [lab.replace(", guided", ",\nguided") for lab in labels])
        axes[0].set_ylim(len(labels) - 0.5, -1.0)
        handles, names = axes[1].get_legend_handles_labels()
        fig.legend(handles, names, fontsize=9, loc="lower center", ncol=2, frameon=False)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
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
                               title=f"{model}{flag(model)}: {pairing} pairs (DDIM-{self.settings['steps']})")

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
        """Fréchet distances as a dot plot on a log axis (they span decades), one row per comparison and one
        colour per model; on the PN-vs-RR row the bar is the middle 95 % of the distances between random splits
        of the pooled PN and RR pairs. The distances themselves have no interval (the measurement keeps them,
        not the features), and the numbers are in the table, not on the plot."""
        if not self.quality:
            return None
        from matplotlib.lines import Line2D

        keys = list(FD_COMPARISONS)
        k = len(self.quality)
        fig, ax = plt.subplots(figsize=(7.0, 0.26 * len(keys) * max(k, 2) + 1.4))
        for j, q in enumerate(self.quality):
            off = (j - (k - 1) / 2) * 0.22
            y = np.arange(len(keys)) + off
            lo, hi = np.quantile(q.perm_null, [0.025, 0.975])
            ax.plot([lo, hi], [y[0]] * 2, color=f"C{j}", lw=5, alpha=0.35, solid_capstyle="butt")
            ax.plot([q.fd[key] for key in keys], y, "o", color=f"C{j}", ms=6)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_yticks(range(len(keys)), [FD_COMPARISONS[key] for key in keys], fontsize=9)
        ax.set_ylim(len(keys) - 0.5, -0.5)
        for b in np.arange(len(keys) - 1) + 0.5:  # rows apart
            ax.axhline(b, color="0.85", lw=0.6)
        ax.grid(axis="x", color="0.9", lw=0.6)
        ax.set_axisbelow(True)
        ax.tick_params(axis="x", labelsize=9)
        ax.set_xlabel("Fréchet distance (classifier features, log scale)", fontsize=10)
        handles = [Line2D([], [], color=f"C{j}", marker="o", ls="", label=f"{q.name}{flag(q.name)} (n = {q.n})")
                   for j, q in enumerate(self.quality)]
        handles.append(Line2D([], [], color="0.5", lw=5, alpha=0.35, label="random splits of PN + RR, middle 95 %"))
        ax.legend(handles=handles, fontsize=9, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14),
                  frameon=False)
        fig.tight_layout()
        return fig


def present(measurements: DiversityMeasurements) -> DiversityResult:
    """The presentation of finding 4's measurements (no network evaluation)."""
    return base.presented(DiversityResult, measurements)


def run(*args: Any, **kwargs: Any) -> DiversityResult:
    """``present(measure(Params(*args, **kwargs)))``: measure and present in one call."""
    return present(measure(Params(*args, **kwargs)))
