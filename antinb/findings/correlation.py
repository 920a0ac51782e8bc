"""Finding 1: are antithetic (PN) pairs negatively correlated, and independent (RR) pairs not?

The paper (§3): sampling a diffusion model from ``z`` and from ``-z`` gives two images whose
pixel-wise Pearson correlation is strongly negative, while two independent noises correlate
weakly; under DDPM the partner chain must negate every per-step noise ``xi_t`` as well. It reports
centered PN correlations of -0.41 to -0.78 (DDIM) and -0.73 standard / -0.80 centered (DDPM,
CIFAR-10).

:func:`measure` measures, for every model and for DDIM and DDPM, the standard and the centered
correlation (the model's mean image, estimated from all samples of that model and sampler,
subtracted first) of PN, RR and, under DDPM, the control that negates only ``z``, with 95 %
t-intervals over pairs (:func:`antinb.stats.t_half_width`). Two ablations beyond the paper:
:func:`half_negation` negates only the top half of ``z`` (where in the image does the negation
act?), :func:`guidance_sweep` varies the classifier-free guidance scale of a class-conditional
model; :func:`measure` runs both when its parameters ask for them. The measurements are data only
(:class:`CorrelationMeasurements`); :func:`present` turns them into a :class:`CorrelationResult` with
records, tables, figures, the comparison with the paper and a verdict, without a network evaluation.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .. import noise, paper, plots, stats, toy
from .._checks import check_int
from ..measurements import measurement
from ..models import DiffusionModel, load, name_of
from ..pairs import conditioning, pair_samples, rows_per_image
from ..cache import sample
from . import base
from .base import Result, Row, Summary, Table, fill, template_regex
from .verdicts import BEYOND, FLAGGED, NOT_RUN, NOT_SHOWN, PARTLY, REPRODUCED, Claim, flag, judge

__all__ = ["CORR_MEAN", "CORR_SD", "CORR_MEAN_CI", "HALFNEG_TOP", "HALFNEG_BOTTOM", "HALFNEG_TOP_CI",
           "HALFNEG_BOTTOM_CI", "GUIDANCE_CORR", "GUIDANCE_CORR_CI", "GUIDANCE_CORR_CLASS",
           "GUIDANCE_CORR_CLASS_CI", "TOY_CORR", "class_centered", "TEMPLATES", "TABLE", "SAMPLER_PAIRINGS",
           "PAIRS_SHOWN", "TOY_PAIRS", "TOY_STEPS", "paper_records", "pairing_key", "correlations", "mean_interval",
           "HalfNegationMeasurements", "GuidanceSweepMeasurements", "half_negation", "guidance_sweep", "toy_pairs",
           "Params", "CorrelationMeasurements", "measure", "cost", "HalfNegation", "GuidanceSweep",
           "CorrelationResult", "present", "run", "summary", "headline_sentence"]

# ------------------------------------------------------------------------------------------ records

#: Mean and sd over pairs of the per-pair correlation; ``sampler`` is ``ddim`` or ``ddpm``, ``pairing``
#: ``pn``, ``rr`` or ``pn(zonly)`` (:func:`pairing_key`), ``variant`` ``standard`` or ``centered``.
CORR_MEAN = "corr_mean/{model}/{sampler}/{pairing}/{variant}"
CORR_SD = "corr_sd/{model}/{sampler}/{pairing}/{variant}"
#: The 95 % t-interval ``[low, high]`` of the mean over pairs.
CORR_MEAN_CI = "corr_mean_ci/{model}/{sampler}/{pairing}/{variant}"
#: Half negation (DDIM): mean over the pixels of the top (negated) and bottom (shared) half of the
#: per-pixel correlation across pairs, and its 95 % jackknife interval over pairs ``[low, high]``.
HALFNEG_TOP = "halfneg_top_pixel_corr/{model}"
HALFNEG_BOTTOM = "halfneg_bottom_pixel_corr/{model}"
HALFNEG_TOP_CI = "halfneg_top_pixel_corr_ci/{model}"
HALFNEG_BOTTOM_CI = "halfneg_bottom_pixel_corr_ci/{model}"
#: Guidance sweep: mean centered correlation of ``pn`` / ``rr`` pairs at guidance scale ``w`` (``"4"``),
#: and its 95 % t-interval ``[low, high]``.
GUIDANCE_CORR = "guidance_corr_centered/{pairing}/w={w}"
GUIDANCE_CORR_CI = "guidance_corr_centered_ci/{pairing}/w={w}"
#: The same with each pair centred on the mean image of its own class (:func:`class_centered`).
GUIDANCE_CORR_CLASS = "guidance_corr_class_centered/{pairing}/w={w}"
GUIDANCE_CORR_CLASS_CI = "guidance_corr_class_centered_ci/{pairing}/w={w}"
#: The 2-D example (:func:`toy_pairs`): mean over its pairs of the correlation of the two outputs about their
#: centre (:func:`antinb.toy.pair_correlation`); ``data`` is ``Gaussian`` or ``mixture``. Exactly -1 for the
#: Gaussian.
TOY_CORR = "toy_pair_corr/{data}"

#: Every record template of this finding.
TEMPLATES: tuple[str, ...] = (CORR_MEAN, CORR_SD, CORR_MEAN_CI, HALFNEG_TOP, HALFNEG_BOTTOM, HALFNEG_TOP_CI,
                              HALFNEG_BOTTOM_CI, GUIDANCE_CORR, GUIDANCE_CORR_CI, GUIDANCE_CORR_CLASS,
                              GUIDANCE_CORR_CLASS_CI, TOY_CORR)


TABLE = Table('Finding 1: correlation of PN and RR pairs', '01_correlation',
              'Mean per-pair centered pixel correlation of PN pairs with its 95 % t-interval over pairs, judged '
              'against the paper\'s range over its models (DDIM) or its CIFAR-10 number (DDPM); the standard '
              'correlation under DDPM is judged against the paper\'s −0.73. The paper also reports consistency '
              'models (−0.75 to −0.91), a VAE on MNIST (−0.41) and Glow on CIFAR-10 (−0.57); those are not '
              'diffusion samplers and are outside this package.')

#: The pairings run under each sampler (the z-only control needs per-step noise: DDPM only).
SAMPLER_PAIRINGS: dict[str, tuple[str, ...]] = {"ddim": ("PN", "RR"), "ddpm": ("PN", "RR", "PN (z only)")}
_VARIANTS = ("standard", "centered")
_SAMPLER_LABELS = {"ddim": "DDIM", "ddpm": "DDPM"}
#: The two centres of the guidance sweep, as the table and figure name them.
_CENTRES = {"centered": "all-class centre", "class-centered": "class centre"}
#: Beyond the paper, the half-negation question: is the effect of the noise local? Then the shared half of a
#: pair would be identical in both members, a per-pixel correlation of +1.
_LOCAL = Claim.of(1.0)
#: Beyond the paper, the guidance question: do PN pairs stay anti-correlated (below 0) under guidance?
_ANTI = Claim(-math.inf, 0.0)


def paper_records() -> dict[str, float | str]:
    """The paper's numbers under this finding's record names."""
    return {fill(CORR_MEAN, model=m, sampler=s, pairing="pn", variant=v): value
            for (m, s, v), value in paper.CORRELATION.items()}


def pairing_key(pairing: str) -> str:
    """The record field of a pairing of :data:`antinb.pairs.PAIRINGS`: ``"PN (z only)"`` -> ``"pn(zonly)"``."""
    return pairing.replace(" ", "").lower()


def _paper_claim(model: str, sampler: str, variant: str) -> tuple[str, str, Claim] | None:
    """``(paper setting, paper text, claim)`` for our ``model`` under ``sampler``: the paper's own number when it
    reports one for that model, else its range over its models; ``None`` when it reports none for
    ``sampler`` and ``variant``."""
    pk = base.paper_model(model, paper.CORRELATION)
    if (pk, sampler, variant) in paper.CORRELATION:
        value = paper.CORRELATION[pk, sampler, variant]
        return f"{paper.MODEL_LABELS.get(pk, pk)}, {_SAMPLER_LABELS[sampler]}", _s(value), Claim.of(value)
    theirs = {m: v for (m, ss, vv), v in paper.CORRELATION.items() if (ss, vv) == (sampler, variant)}
    if not theirs:
        return None
    lo, hi = min(theirs.values()), max(theirs.values())
    return (f"{_SAMPLER_LABELS[sampler]}: {', '.join(_short(m) for m in theirs)}",
            _s(lo) if lo == hi else f"{_s(lo)} to {_s(hi)}", Claim.of(list(theirs.values())))


def _outcome(verdicts: Sequence[str]) -> str:
    """The one-word answer to a question beyond the paper from the rule verdicts of its cells (each judged
    against the answer *yes*): *holds* when every cell is reproduced, *fails* when none is, *mixed* otherwise."""
    yes = [v == REPRODUCED for v in verdicts]
    return "holds" if all(yes) else "fails" if not any(yes) else "mixed"


def _span_text(cells: Sequence[tuple[float, float, float]]) -> str:
    """``"+0.56 to +0.66"`` (or one number): the range of the means of ``(mean, low, high)`` cells."""
    lo, hi = min(c[0] for c in cells), max(c[0] for c in cells)
    return _s(lo) if len(cells) == 1 or _s(lo) == _s(hi) else f"{_s(lo)} to {_s(hi)}"


def summary(records: dict[str, Any], parameters: dict[str, Any] | None = None) -> Summary:
    """Finding 1 from its records, every row judged by the book's rules (:func:`antinb.findings.verdicts.judge`).

    - per model and sampler, the centered PN correlation with its 95 % interval against the paper's number for
      that model, or its range over its models for that sampler (DDIM ``−0.78`` to ``−0.41``, DDPM ``−0.80``);
    - per model, the standard PN correlation under DDPM against the paper's ``−0.73`` (not a headline row);
    - beyond the paper, when they ran: the half negation (is the effect of the noise local, i.e. does the
      shared half correlate +1?) and the guidance sweep (do class-centred PN pairs stay below 0?), each with
      its one-word outcome over its cells;
    - one row per paper model and sampler we did not run.

    Rows of a flagged model (:data:`antinb.findings.verdicts.FLAGGED`) are marked. ``parameters`` (the
    notebook's) only name the steps and sizes.
    """
    params = parameters or {}
    rx = template_regex(CORR_MEAN)
    ran: list[tuple[str, str]] = []
    for name in records:
        m = rx.match(name)
        if m and m["pairing"] == "pn" and m["variant"] == "centered":
            ran.append((m["model"], m["sampler"]))

    def ci(model: str, sampler: str, pairing: str, variant: str) -> tuple[float, float, float] | None:
        keys = {"model": model, "sampler": sampler, "pairing": pairing, "variant": variant}
        if fill(CORR_MEAN, **keys) not in records:
            return None
        lo, hi = records[fill(CORR_MEAN_CI, **keys)]
        return records[fill(CORR_MEAN, **keys)], lo, hi

    def setting(model: str, sampler: str) -> str:
        steps = params.get(f"{sampler}_steps", "")
        text = f"{model}{flag(model)}, {_SAMPLER_LABELS.get(sampler, sampler)}{f'-{steps}' if steps else ''}"
        pairs = params.get("ddpm_pairs") if sampler == "ddpm" and params.get("ddpm_pairs") else params.get("n_pairs")
        return text + (f", {pairs} pairs" if pairs else "")

    rows, standard = [], []
    for model, sampler in ran:
        for variant in ("centered", "standard"):
            cell, claim = ci(model, sampler, "pn", variant), _paper_claim(model, sampler, variant)
            if cell is None or claim is None:
                continue
            paper_setting, paper_text, c = claim
            caveat = []
            if variant == "centered":
                rr = ci(model, sampler, "rr", "centered")
                if rr is not None:
                    caveat.append(f"RR {_fmt_ci(*rr)}")
            else:
                paper_setting += ", standard correlation"
                caveat.append("no mean image subtracted: both members share the model's mean image")
            if model in FLAGGED:
                caveat.append(f"flagged: {FLAGGED[model]}")
            row = Row(paper_setting, paper_text, setting(model, sampler) + ("" if variant == "centered" else
                                                                             ", standard"),
                      _fmt_ci(*cell), judge(cell[1:], c), "; ".join(caveat), value=cell[0], ci=(cell[1], cell[2]),
                      headline=variant == "centered", flagged=model in FLAGGED)
            (rows if variant == "centered" else standard).append(row)
    rows += standard

    bottom = template_regex(HALFNEG_BOTTOM)
    half = {m["model"]: (v, *records[fill(HALFNEG_BOTTOM_CI, model=m["model"])])
            for name, v in records.items() if (m := bottom.match(name))}
    if half:
        models = list(half)
        marked = ", ".join(f"{m}{flag(m)}" for m in models)
        steps = params.get("ddim_steps", "")
        size = f", {params['ablation_pairs']} pairs" if params.get("ablation_pairs") else ""
        rows.append(Row("not asked: negate only the top half of z", "—",
                        f"{marked}, DDIM{f'-{steps}' if steps else ''}{size}",
                        f"shared half {_span_text(list(half.values()))}", BEYOND,
                        "a local effect would leave the shared half identical in both members (+1); per model: "
                        + ", ".join(f"{m} {_fmt_ci(*c)}" for m, c in half.items())
                        + " (95 % jackknife intervals)",
                        headline=False, outcome=_outcome([judge(c[1:], _LOCAL) for c in half.values()]),
                        flagged=any(m in FLAGGED for m in models)))
    guided = template_regex(GUIDANCE_CORR_CLASS)
    sweep = {float(m["w"]): (v, *records[fill(GUIDANCE_CORR_CLASS_CI, pairing="pn", w=m["w"])])
             for name, v in records.items() if (m := guided.match(name)) and m["pairing"] == "pn"}
    if sweep:
        gm = params.get("guidance_model") or "class-conditional model"
        steps = params.get("ddim_steps", "")
        size = f", {params['guidance_pairs']} pairs per scale" if params.get("guidance_pairs") else ""
        scales = sorted(sweep)
        rows.append(Row("not asked: classifier-free guidance", "—",
                        f"{gm}{flag(gm)}, DDIM{f'-{steps}' if steps else ''}, w = "
                        f"{base.span(*(format(w, 'g') for w in (scales[0], scales[-1])))}{size}",
                        f"class-centred PN {_span_text(list(sweep.values()))}", BEYOND,
                        "per scale: " + ", ".join(f"w = {w:g} {_fmt_ci(*sweep[w])}" for w in scales),
                        headline=False, outcome=_outcome([judge(sweep[w][1:], _ANTI) for w in scales]),
                        flagged=gm in FLAGGED))

    covered = {(base.paper_model(m, paper.CORRELATION), s) for m, s in ran}
    for (model, sampler, variant), value in paper.CORRELATION.items():
        if variant == "centered" and (model, sampler) not in covered:
            rows.append(Row(f"{paper.MODEL_LABELS.get(model, model)}, {_SAMPLER_LABELS[sampler]}", _s(value), "",
                            NOT_RUN, NOT_RUN, paper_model=model))
    ddim = sorted(v for (_, s, vv), v in paper.CORRELATION.items() if (s, vv) == ("ddim", "centered"))
    claim = (f"PN pairs are strongly negatively correlated: centered {_s(ddim[0])} to {_s(ddim[-1])} (DDIM), "
             f"{_s(paper.CORRELATION[paper.CIFAR, 'ddpm', 'centered'])} (DDPM, CIFAR-10, per-step noise negated)")
    return Summary(1, TABLE.title, TABLE.chapter, claim, "mean centered correlation of PN pairs", tuple(rows))


# ------------------------------------------------------------------------------------------ statistics


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


def class_centered(samples: dict[str, torch.Tensor], labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-pair correlation with each pair centred on the mean image of its own class.

    ``samples``: pair sets ``(2P, C, H, W)`` that share the class ``labels`` ``(2P,)`` (both members of a
    pair one class). The *other* pairs of the pair's class, in all the sets, are split into two disjoint
    halves (whole pairs, alternately); one member is centred on the mean image of the first half, the
    other on that of the second. The two centres' sampling errors are then independent of each other and
    of the pair, so they add nothing to the pair's covariance on average (a common centre estimated from
    ``k`` images would add about ``1 / (k + 1)`` to every correlation); they only shrink the correlation
    towards zero, which keeps its sign. Each class in use needs at least 3 pairs (two others to split).
    Returns ``{name: (P,)}``.
    """
    labels = torch.as_tensor(labels)
    pair_labels = labels[0::2]
    x_all = torch.cat([x.double() for x in samples.values()])
    y_all = pair_labels.repeat(len(samples))  # one label per pair, in the order of x_all's pairs
    counts = {int(c): int((y_all == c).sum()) for c in pair_labels.unique()}
    few = sorted(c for c, n in counts.items() if n < 3)
    if few:
        raise ValueError(f"class centering needs at least 3 pairs of each class (all pair sets together); "
                         f"classes {few} have fewer (give at least twice as many pairs as there are classes)")
    pairs_all = x_all.view(-1, 2, *x_all.shape[1:])  # (pairs, 2, C, H, W)
    out, offset = {}, 0
    for name, x in samples.items():
        x = x.double()
        centred = torch.empty_like(x)
        for i in range(x.shape[0] // 2):
            same = torch.nonzero(y_all == pair_labels[i]).flatten()
            others = same[same != offset + i]
            centred[2 * i] = x[2 * i] - pairs_all[others[0::2]].mean((0, 1))
            centred[2 * i + 1] = x[2 * i + 1] - pairs_all[others[1::2]].mean((0, 1))
        out[name] = stats.pair_correlation(centred)
        offset += x.shape[0] // 2
    return out


#: The mean of per-pair values with its t-interval (:func:`antinb.stats.mean_interval`).
mean_interval = stats.mean_interval


def _halves(corr_map: torch.Tensor) -> tuple[float, float]:
    """Mean over the top and the bottom half of rows of a map ``(H, W)`` (NaN pixels ignored)."""
    h = corr_map.shape[0]
    return corr_map[: h // 2].nanmean().item(), corr_map[h // 2:].nanmean().item()


def _loaded(spec, device) -> DiffusionModel:
    return load(spec, device=device) if isinstance(spec, str) else spec


# ------------------------------------------------------------------------------------------ measurements

#: PN pairs per model kept from the DDIM samples for :meth:`CorrelationResult.pairs_figure` (the only
#: samples the chapter shows; every other sample is reduced to its per-pair correlations).
PAIRS_SHOWN = 8


@dataclass(frozen=True)
class HalfNegationMeasurements:
    """Ablation: partners negate ``z`` only in the top half of the image (DDIM).

    Attributes:
        maps: model -> ``(H, W)`` per-pixel correlation across pairs, averaged over channels.
        top, bottom: model -> ``(mean, low, high)``: the mean of the map over the top / bottom half,
            with a 95 % jackknife interval over pairs.
        settings: ``n_pairs``, ``steps``, ``seed``.
    """

    maps: dict[str, torch.Tensor] = field(repr=False)
    top: dict[str, tuple[float, float, float]]
    bottom: dict[str, tuple[float, float, float]]
    settings: dict[str, Any]


def half_negation(models: Sequence, *, n_pairs: int = 64, steps: int = 50, seed: int = 0, device: str = "auto",
                  max_batch_size: int = 512, level: float = 0.95) -> HalfNegationMeasurements:
    """Partners that negate ``z`` only in the top half (:func:`antinb.noise.partially_negated`), DDIM.

    Per model, the per-pixel correlation across the ``n_pairs`` pairs
    (:func:`antinb.stats.pixel_correlation_map`), averaged over channels, and the mean of that map over
    the top and the bottom half of the rows. Intervals: jackknife over pairs (leave one pair out) with
    the t-quantile of ``n_pairs - 1`` degrees of freedom; a percentile bootstrap is biased here, as a
    resample that repeats pairs pushes per-pixel correlations towards +-1.
    """
    maps, top, bottom = {}, {}, {}
    for spec in models:
        model = _loaded(spec, device)
        c, h, w = model.sample_shape
        mask = torch.zeros(c, h, w, dtype=torch.bool)
        mask[:, : h // 2] = True
        z = noise.partially_negated(noise.antithetic(2 * n_pairs, model.sample_shape, seed=seed), mask)
        x = sample(model, z, sampler="ddim", steps=steps, max_batch_size=max_batch_size, progress=False)
        maps[model.name] = stats.pixel_correlation_map(x).mean(0)
        t, b = _halves(maps[model.name])
        a, p = x[0::2], x[1::2]
        keep = ~torch.eye(n_pairs, dtype=torch.bool)
        jack = np.array([_halves(stats.pixel_correlation_map(torch.stack([a[k], p[k]], 1).flatten(0, 1)).mean(0))
                         for k in keep])  # (P, 2): leave one pair out
        for out, est, j in ((top, t, jack[:, 0]), (bottom, b, jack[:, 1])):
            se = float(np.sqrt((n_pairs - 1) / n_pairs * np.sum((j - j.mean()) ** 2)))
            half = float(stats.t_half_width(se * np.sqrt(n_pairs), n_pairs, level))
            out[model.name] = (est, est - half, est + half)
    return HalfNegationMeasurements(maps, top, bottom, {"n_pairs": n_pairs, "steps": steps, "seed": seed})


@dataclass(frozen=True)
class GuidanceSweepMeasurements:
    """Ablation: the centered correlation of PN and RR pairs against the classifier-free guidance scale.

    Attributes:
        model: the class-conditional model's name.
        scales: the guidance scales.
        corr: ``(pairing, scale)`` -> ``{"standard": (P,), "centered": (P,), "class-centered": (P,)}``
            per-pair correlations; ``centered`` on the mean image of all classes, ``class-centered`` on
            each pair's own class (:func:`class_centered`).
        settings: ``n_pairs``, ``steps``, ``seed``.
    """

    model: str
    scales: tuple[float, ...]
    corr: dict[tuple[str, float], dict[str, torch.Tensor]] = field(repr=False)
    settings: dict[str, Any]

    def interval(self, pairing: str, scale: float, variant: str = "centered") -> tuple[float, float, float]:
        """``(mean, low, high)``: the mean correlation over pairs with its 95 % t-interval."""
        return mean_interval(self.corr[pairing, scale][variant])


def guidance_sweep(model, scales: Sequence[float], *, n_pairs: int = 32, steps: int = 50, seed: int = 0,
                   device: str = "auto", max_batch_size: int = 512) -> GuidanceSweepMeasurements:
    """PN and RR pairs of a class-conditional model under DDIM at each guidance scale.

    Both members of a pair get the same class (classes cycle over the pairs); the centre of the
    centered correlation is the mean image of the PN and RR samples of that scale together (all
    classes), that of the class-centered one the mean image of the pair's class (:func:`class_centered`).
    """
    model = _loaded(model, device)
    if model.conditioning != "class":
        raise ValueError(f"model {model.name!r} is not class-conditional; the guidance sweep needs class labels")
    if n_pairs < 2 * model.num_classes:
        raise ValueError(f"n_pairs={n_pairs} must be at least twice the number of classes ({model.num_classes}) "
                         "so that every class has other pairs to centre on")
    labels = torch.arange(2 * n_pairs) // 2 % model.num_classes  # same class within a pair
    corr = {}
    for w in scales:
        sets = {p: pair_samples(model, n_pairs, p, steps=steps, seed=seed, labels=labels, guidance_scale=w,
                                max_batch_size=max_batch_size, progress=False) for p in ("PN", "RR")}
        by_class = class_centered(sets, labels)
        for p, c in correlations(sets).items():
            corr[p, float(w)] = {**c, "class-centered": by_class[p]}
    return GuidanceSweepMeasurements(model.name, tuple(float(w) for w in scales), corr,
                                     {"n_pairs": n_pairs, "steps": steps, "seed": seed})


#: The 2-D example of the chapter's intuition (:mod:`antinb.toy`): antithetic pairs and DDIM steps.
TOY_PAIRS = 6
TOY_STEPS = 50


def toy_pairs(seed: int = 0, n_pairs: int = TOY_PAIRS, steps: int = TOY_STEPS) -> tuple[toy.PairPaths, toy.PairPaths]:
    """The chapter's intuition: DDIM paths of ``n_pairs`` antithetic pairs (the same noise, seed ``seed``) under
    a Gaussian, whose exact noise predictor is affine, and under the three-mode mixture with the same mean
    and covariance (:func:`antinb.toy.example_mixture`), whose exact noise predictor is not. No network."""
    mixture = toy.example_mixture()
    return (toy.pn_paths(toy.moment_matched(mixture), n_pairs, steps=steps, seed=seed, name="Gaussian"),
            toy.pn_paths(mixture, n_pairs, steps=steps, seed=seed, name="mixture"))


@dataclass(frozen=True)
class Params:
    """What finding 1 measures: the models (names or loaded models); ``n_pairs`` pairs of each design under
    DDIM with ``ddim_steps`` steps and ``ddpm_pairs`` (default ``n_pairs``) under DDPM with ``ddpm_steps``;
    the seed; ``ablation_pairs > 0`` adds :func:`half_negation`; a ``guidance_model`` with
    ``guidance_scales`` adds :func:`guidance_sweep` with ``guidance_pairs`` pairs; text-to-image models
    sample ``prompts`` with guidance ``prompt_guidance``; 95 % (``level``) intervals. The one parameters
    object of :func:`measure` and :func:`cost`."""

    models: Sequence[DiffusionModel | str]
    n_pairs: int = 64
    ddim_steps: int = 50
    ddpm_steps: int = 50
    ddpm_pairs: int | None = None
    seed: int = 0
    device: str = "auto"
    max_batch_size: int = 512
    ablation_pairs: int = 0
    guidance_model: DiffusionModel | str | None = None
    guidance_scales: Sequence[float] = ()
    guidance_pairs: int = 32
    prompts: Any = None
    prompt_guidance: float = 7.5
    progress: bool = False
    level: float = 0.95


@dataclass(frozen=True)
class CorrelationMeasurements:
    """Everything finding 1 measured: per-pair correlations of every model, sampler and pairing, the PN pairs
    the chapter shows, and the two ablations.

    Attributes:
        models: model names (record keys, :func:`antinb.pairs.conditioning`), in order.
        corr: ``(model, sampler, pairing)`` -> ``{"standard": (P,), "centered": (P,)}`` per-pair correlations;
            ``sampler`` is ``ddim`` / ``ddpm``, ``pairing`` a name of :data:`antinb.pairs.PAIRINGS`.
        pairs: model -> its first :data:`PAIRS_SHOWN` DDIM PN pairs ``(2 * PAIRS_SHOWN, C, H, W)`` (rows
            ``2i, 2i + 1`` a pair; fewer when fewer pairs were drawn).
        steps: sampler -> number of steps.
        settings: ``n_pairs``, ``ddpm_pairs``, ``seed``, ``level``.
        half_negation: the half-negation ablation, or ``None``.
        guidance: the guidance sweep, or ``None``.
        intuition: the 2-D example of :func:`toy_pairs` (Gaussian, then mixture), or ``None``.
    """

    models: tuple[str, ...]
    corr: dict[tuple[str, str, str], dict[str, torch.Tensor]] = field(repr=False)
    pairs: dict[str, torch.Tensor] = field(repr=False)
    steps: dict[str, int]
    settings: dict[str, Any]
    half_negation: HalfNegationMeasurements | None = None
    guidance: GuidanceSweepMeasurements | None = None
    intuition: tuple[toy.PairPaths, ...] | None = None

    def interval(self, model: str, sampler: str, pairing: str, variant: str) -> tuple[float, float, float]:
        """``(mean, low, high)``: the mean correlation over pairs with its 95 % t-interval."""
        return mean_interval(self.corr[model, sampler, pairing][variant], self.settings.get("level", 0.95))


@measurement
def measure(params: Params) -> CorrelationMeasurements:
    """Finding 1 for each model of ``params`` (a name or a loaded :class:`antinb.models.DiffusionModel`).

    PN and RR pairs under DDIM, ``n_pairs`` each, and PN, RR and the z-only control under DDPM,
    ``ddpm_pairs`` each (default ``n_pairs``)
    (:func:`antinb.pairs.pair_samples`, seed ``seed``; class-conditional models sample their null
    class), and their standard and centered correlations (:func:`correlations`; the centre is the
    mean image of all samples of that model and sampler). ``ablation_pairs > 0`` adds
    :func:`half_negation`; a ``guidance_model`` and ``guidance_scales`` add :func:`guidance_sweep`
    (DDIM with ``ddim_steps``). Text-to-image models sample ``prompts`` (:mod:`antinb.prompts`; both
    members of a pair share one) with guidance ``prompt_guidance``, and their records carry that
    conditioning (:func:`antinb.pairs.conditioning`). Of the samples only the first :data:`PAIRS_SHOWN`
    DDIM PN pairs per model are kept. The 2-D example of the chapter's intuition (:func:`toy_pairs`,
    seed ``seed``) needs no network.
    """
    p = params
    for name, value in (("n_pairs", p.n_pairs), ("ddpm_pairs", p.n_pairs if p.ddpm_pairs is None else p.ddpm_pairs)):
        check_int(name, value, minimum=2)  # before any model is loaded
    loaded = [_loaded(spec, p.device) for spec in p.models]
    steps = {"ddim": p.ddim_steps, "ddpm": p.ddpm_steps}
    sizes = {"ddim": p.n_pairs, "ddpm": p.n_pairs if p.ddpm_pairs is None else p.ddpm_pairs}
    corr, pairs, keys = {}, {}, []
    for model in loaded:
        key, cond = conditioning(model, p.prompts, p.prompt_guidance)
        keys.append(key)
        for s, n_steps in steps.items():
            sets = {q: pair_samples(model, sizes[s], q, sampler=s, steps=n_steps, seed=p.seed, **cond,
                                    max_batch_size=p.max_batch_size, progress=p.progress)
                    for q in SAMPLER_PAIRINGS[s]}
            if s == "ddim":
                pairs[key] = sets["PN"][: 2 * PAIRS_SHOWN].clone()
            for q, c in correlations(sets).items():
                corr[key, s, q] = c
    half = None
    if p.ablation_pairs:
        half = half_negation(loaded, n_pairs=p.ablation_pairs, steps=p.ddim_steps, seed=p.seed,
                             max_batch_size=p.max_batch_size, level=p.level)
    sweep = None
    if p.guidance_model and len(p.guidance_scales):
        by_name = {m.name: m for m in loaded}
        gm = by_name.get(p.guidance_model, p.guidance_model) if isinstance(p.guidance_model, str) \
            else p.guidance_model
        sweep = guidance_sweep(gm, p.guidance_scales, n_pairs=p.guidance_pairs, steps=p.ddim_steps, seed=p.seed,
                               device=p.device, max_batch_size=p.max_batch_size)
    return CorrelationMeasurements(tuple(keys), corr, pairs, steps,
                                   {"n_pairs": p.n_pairs, "ddpm_pairs": sizes["ddpm"], "seed": p.seed,
                                    "level": p.level}, half, sweep, toy_pairs(p.seed))


def cost(params: Params) -> dict[str, int]:
    """Network evaluations (image rows through the network once) :func:`measure` makes with ``params``, per
    model name (:func:`antinb.models.name_of`); nothing is loaded. Seed, device, batch size and level cost
    nothing."""
    p = params
    out: dict[str, int] = {}
    for spec in p.models:
        # 2 * n_pairs rows per pairing and step: PN, RR under DDIM; PN, RR, PN (z only) under DDPM;
        # a text-to-image model sampling prompts with guidance passes every row twice
        m = p.n_pairs if p.ddpm_pairs is None else p.ddpm_pairs
        n = 2 * (p.n_pairs * len(SAMPLER_PAIRINGS["ddim"]) * p.ddim_steps
                 + m * len(SAMPLER_PAIRINGS["ddpm"]) * p.ddpm_steps)
        n *= rows_per_image(spec, p.prompts, p.prompt_guidance)
        n += 2 * p.ablation_pairs * p.ddim_steps  # half negation: one unprompted DDIM run of 2 * ablation_pairs rows
        out[name_of(spec)] = out.get(name_of(spec), 0) + n
    if p.guidance_model and len(p.guidance_scales):
        # PN and RR pairs at each scale under DDIM; classifier-free guidance doubles every row
        name = name_of(p.guidance_model)
        out[name] = out.get(name, 0) + len(p.guidance_scales) * 2 * (2 * p.guidance_pairs) * p.ddim_steps * 2
    return out


# ------------------------------------------------------------------------------------------ presentation


def _s(x: float) -> str:
    """``x`` with sign, two decimals and a typographic minus (:func:`base.ci_text`)."""
    return base.ci_text(x, None)


def _fmt_ci(mean: float, low: float, high: float) -> str:
    """``−0.47 [−0.49, −0.46]`` from a ``(mean, low, high)`` triple (:func:`base.ci_text`)."""
    return base.ci_text(mean, (low, high))


def _fmt_pm(mean: float, low: float, high: float) -> str:
    return f"{_s(mean)} ± {(high - low) / 2:.2f}"


def _short(model: str) -> str:
    """A short display name of one of the paper's models (``"LSUN-Church"`` -> ``"Church"``)."""
    label = paper.MODEL_LABELS.get(model, model).split(" (")[0]
    return label.replace("LSUN-", "").replace("Stable Diffusion", "SD").replace(" ImageNet", "").replace(", ", " ")


def _numbers(text: str) -> list[float]:
    """The signed numbers in a row's text (``"−0.78 to −0.41"`` -> ``[-0.78, -0.41]``)."""
    return [float(x) for x in re.findall(r"[+-]?\d+(?:\.\d+)?", text.replace("−", "-"))]


def _not_run(reason: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(4, 0.6))
    ax.axis("off")
    ax.text(0, 0.5, f"not run ({reason})", fontsize=10, va="center")
    return fig


def headline_sentence(s: Summary) -> str:
    """The verdict's opening sentence (at most 40 words): the verdict, the takeaway and the one number that
    carries it, with its interval and setting. The number is that of a model the book does not flag when
    there is one: the weakest setting when every setting is reproduced, else the setting farthest from the
    paper's number."""
    word = f"**{s.verdict[0].upper()}{s.verdict[1:]}**"
    counted = [r for r in s.ran if r.verdict != BEYOND and r.ci is not None]
    rows = [r for r in counted if r.headline] or counted
    if not rows:
        return f"{word}: no setting of this finding was measured."
    negative = sum(r.ci[1] < 0 for r in rows)
    where = "in every setting" if negative == len(rows) else f"in {negative} of {len(rows)} settings"

    def gap(r: Row) -> float:  # distance of our interval from the paper's value or range
        vals = _numbers(r.paper) or [0.0]
        return max(r.ci[0] - max(vals), min(vals) - r.ci[1], 0.0)

    def cite(r: Row) -> str:
        return f"{r.our_setting}: {r.ours} against {r.paper}"

    def unflagged(rs: list[Row]) -> list[Row]:
        return [r for r in rs if not r.flagged] or rs

    if s.verdict == REPRODUCED:
        key = max(unflagged(rows), key=lambda r: r.value)
        return (f"{word}: antithetic pairs are as strongly anti-correlated as in the paper {where}, the weakest "
                f"being {cite(key)}.")
    if s.verdict == PARTLY:
        off = [r for r in rows if r.verdict != REPRODUCED]
        if not off:  # every headline setting holds; another comparison of the paper does not
            off = [r for r in counted if r.verdict != REPRODUCED]
            key = max(unflagged(off), key=gap)
            return (f"{word}: antithetic pairs are as strongly anti-correlated as in the paper {where}, but not in "
                    f"{len(off)} further comparison{'s' if len(off) > 1 else ''} ({cite(key)}).")
        weaker = [r for r in off if r.verdict == PARTLY and r.ci[0] > max(_numbers(r.paper) or [0.0])]
        stronger = [r for r in off if r.verdict == PARTLY and r not in weaker]
        clauses = [f"in {len(weaker)} of {len(rows)} less strongly than in the paper"] if weaker else []
        clauses += [f"in {len(stronger)} of {len(rows)} more strongly"] if stronger else []
        clauses += [f"not clearly in {len(off) - len(weaker) - len(stronger)}"] if len(off) > len(weaker) + len(
            stronger) else []
        key = max(unflagged(off), key=gap)
        return f"{word}: antithetic pairs are anti-correlated {where}, but {' and '.join(clauses)} ({cite(key)})."
    key = max(unflagged(rows), key=lambda r: r.value)
    if s.verdict == NOT_SHOWN:
        return f"{word}: no setting's interval excludes zero correlation ({cite(key)})."
    return f"{word}: antithetic pairs are not anti-correlated here ({cite(key)})."


@dataclass(frozen=True)
class HalfNegation(HalfNegationMeasurements):
    """The half-negation ablation presented: records, table, statement and figure of its measurements."""

    def records(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for m in self.maps:
            out[fill(HALFNEG_TOP, model=m)] = self.top[m][0]
            out[fill(HALFNEG_BOTTOM, model=m)] = self.bottom[m][0]
            out[fill(HALFNEG_TOP_CI, model=m)] = list(self.top[m][1:])
            out[fill(HALFNEG_BOTTOM_CI, model=m)] = list(self.bottom[m][1:])
        return out

    def table(self) -> pd.DataFrame:
        """Per model: the mean per-pixel correlation in the negated and in the shared half, 95 % intervals."""
        return pd.DataFrame([{"model": f"{m}{flag(m)}", "top half (negated)": _fmt_ci(*self.top[m]),
                              "bottom half (shared)": _fmt_ci(*self.bottom[m])} for m in self.maps]).set_index("model")

    def statement(self) -> str:
        """One markdown paragraph: what the two halves show, against what a local effect of the noise would
        give (the shared half identical in both members: +1), from the measurements."""
        models = list(self.maps)
        lo = min(models, key=lambda m: self.bottom[m][0])
        hi = max(models, key=lambda m: self.bottom[m][0])
        below = [m for m in models if self.bottom[m][2] < 1.0]
        ends = (f"{_fmt_ci(*self.bottom[lo])} ({lo}) to {_fmt_ci(*self.bottom[hi])} ({hi})" if lo != hi
                else f"{_fmt_ci(*self.bottom[lo])} ({lo})")
        text = (f"**Is the effect of the noise local? Beyond the paper: "
                f"{_outcome([judge(self.bottom[m][1:], _LOCAL) for m in models])}.** Were it local, the shared "
                f"half would be the same image in both members of a pair, a correlation of +1. It correlates "
                f"{ends} (DDIM-{self.settings['steps']}, {self.settings['n_pairs']} pairs, 95 % jackknife "
                f"intervals), ")
        if len(below) == len(models):
            return text + ("every interval below +1: negating one half of the noise changes the other half too, "
                           "as the network spreads information across the whole image.")
        return text + (f"below +1 for {len(below)} of {len(models)} models"
                       + (f" ({', '.join(below)})" if below else "") + ".")

    def figure(self) -> plt.Figure:
        """The per-pixel correlation maps, one panel per model, one colour scale."""
        return plots.correlation_maps(self.maps, titles={m: f"{m}{flag(m)}\ntop {_s(self.top[m][0])}, bottom "
                                                            f"{_s(self.bottom[m][0])}" for m in self.maps})


@dataclass(frozen=True)
class GuidanceSweep(GuidanceSweepMeasurements):
    """The guidance sweep presented: records, table, statement and figure of its measurements."""

    def records(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for (pairing, w), c in self.corr.items():
            mean, lo, hi = self.interval(pairing, w)
            out[fill(GUIDANCE_CORR, pairing=pairing_key(pairing), w=format(w, "g"))] = mean
            out[fill(GUIDANCE_CORR_CI, pairing=pairing_key(pairing), w=format(w, "g"))] = [lo, hi]
            mean, lo, hi = self.interval(pairing, w, "class-centered")
            out[fill(GUIDANCE_CORR_CLASS, pairing=pairing_key(pairing), w=format(w, "g"))] = mean
            out[fill(GUIDANCE_CORR_CLASS_CI, pairing=pairing_key(pairing), w=format(w, "g"))] = [lo, hi]
        return out

    def table(self) -> pd.DataFrame:
        """Mean correlation of PN and RR pairs per guidance scale, centred on all classes' mean image and
        on each pair's class mean, with 95 % intervals."""
        return pd.DataFrame([{"guidance scale": format(w, "g"),
                              **{f"{p}, {_CENTRES[v]}": _fmt_ci(*self.interval(p, w, v))
                                 for v in _CENTRES for p in ("PN", "RR")}}
                             for w in self.scales]).set_index("guidance scale")

    def negative_under_guidance(self) -> list[float]:
        """The scales at which the class-centered PN interval lies below zero (the book's rules: reproduced
        against the answer *below 0*)."""
        return [w for w in self.scales if judge(self.interval("PN", w, "class-centered")[1:], _ANTI) == REPRODUCED]

    def statement(self) -> str:
        """One markdown sentence: are PN pairs negatively correlated under guidance, once each pair is
        centred on its own class? Its one-word answer, then the cells."""
        neg = self.negative_under_guidance()
        outcome = _outcome([REPRODUCED if w in neg else NOT_RUN for w in self.scales])
        cells = "; ".join(f"w = {w:g}: PN {_fmt_ci(*self.interval('PN', w, 'class-centered'))}, "
                          f"RR {_fmt_ci(*self.interval('RR', w, 'class-centered'))}" for w in self.scales)
        return (f"**Do PN pairs stay anti-correlated under guidance? Beyond the paper: {outcome}.** Centred on "
                f"each pair's class, the PN interval lies below zero at {len(neg)} of {len(self.scales)} guidance "
                f"scales ({self.model}{flag(self.model)}, DDIM-{self.settings['steps']}, "
                f"{self.settings['n_pairs']} pairs each, 95 % t-intervals): {cells}.")

    def figure(self) -> plt.Figure:
        """Mean correlation against the guidance scale (log axis), 95 % error bars: PN and RR pairs, centred
        on all classes' mean image and on each pair's class mean."""
        series = {f"{p}, {_CENTRES[v]}": [self.interval(p, w, v) for w in self.scales]
                  for v in _CENTRES for p in ("PN", "RR")}
        return plots.interval_lines(
            list(self.scales), series, xlabel="guidance scale $w$", ylabel="mean pair correlation", xlog=True,
            title=f"{self.model}, DDIM-{self.settings['steps']}, {self.settings['n_pairs']} pairs per point")


@dataclass(frozen=True)
class CorrelationResult(CorrelationMeasurements, Result):
    """Finding 1 presented: records, tables, the paper comparison, the verdict and figures, all computed from
    the measurements alone (:attr:`half_negation` and :attr:`guidance` presented as :class:`HalfNegation` and
    :class:`GuidanceSweep`)."""

    # -------------------------------------------------------------------- records

    def records(self) -> dict[str, Any]:
        """``{record name: value}`` of the correlations, of the ablations that ran and of the 2-D example."""
        out: dict[str, Any] = {}
        for (m, s, p), c in self.corr.items():
            for variant in _VARIANTS:
                keys = {"model": m, "sampler": s, "pairing": pairing_key(p), "variant": variant}
                mean, lo, hi = self.interval(m, s, p, variant)
                out[fill(CORR_MEAN, **keys)] = c[variant].mean().item()
                out[fill(CORR_SD, **keys)] = c[variant].std().item()
                out[fill(CORR_MEAN_CI, **keys)] = [lo, hi]
        if self.half_negation is not None:
            out.update(self.half_negation.records())
        if self.guidance is not None:
            out.update(self.guidance.records())
        for run in self.intuition or ():
            out[fill(TOY_CORR, data=run.name)] = run.correlation.mean().item()
        return out

    def parameters(self) -> dict[str, Any]:
        """The steps and sizes of the measurement, named as the notebook's parameters (for :func:`summary`)."""
        out = {"n_pairs": self.settings["n_pairs"], "ddpm_pairs": self.settings.get("ddpm_pairs"),
               **{f"{s}_steps": n for s, n in self.steps.items()}}
        if self.half_negation is not None:
            out["ablation_pairs"] = self.half_negation.settings["n_pairs"]
        if self.guidance is not None:
            out.update(guidance_model=self.guidance.model, guidance_pairs=self.guidance.settings["n_pairs"])
        return out

    def summary(self) -> Summary:
        """:func:`summary` of these records and sizes."""
        return summary(self.records(), self.parameters())

    # -------------------------------------------------------------------- tables

    def table(self, variant: str = "centered") -> pd.DataFrame:
        """Per model and sampler: mean correlation ± the half-width of its 95 % interval, per pairing."""
        rows = []
        for m in self.models:
            for s, n_steps in self.steps.items():
                row = {"model, sampler": f"{m}{flag(m)}, {_SAMPLER_LABELS[s]}-{n_steps}"}
                for p in SAMPLER_PAIRINGS[s]:
                    row[p.replace(" (z only)", ", z only")] = _fmt_pm(*self.interval(m, s, p, variant))
                rows.append(row)
        return pd.DataFrame(rows).set_index("model, sampler").fillna("")

    def _setting(self, sampler: str) -> str:
        """``"DDIM-20, 256 pairs"``: the sampler, its steps and the number of pairs of each design."""
        pairs = self.settings.get("ddpm_pairs") if sampler == "ddpm" else None
        return f"{_SAMPLER_LABELS[sampler]}-{self.steps[sampler]}, {pairs or self.settings['n_pairs']} pairs"

    def _paper_cells(self) -> list[tuple[str, str]]:
        """The ``(sampler, variant)`` cells the paper reports, for the samplers we ran, in the paper's order."""
        return [(s, v) for s, v in dict.fromkeys((s, v) for (_, s, v) in paper.CORRELATION) if s in self.steps]

    def versus_paper(self) -> pd.DataFrame:
        """One column per sampler and variant the paper reports: its number (or its range over its models) in
        the first row, ours per model below it (mean with its 95 % t-interval)."""
        columns = {(s, v): f"{_SAMPLER_LABELS[s]}-{self.steps[s]}, {v}" for s, v in self._paper_cells()}
        theirs = {}
        for (s, v), label in columns.items():
            values = sorted(x for (_, ss, vv), x in paper.CORRELATION.items() if (ss, vv) == (s, v))
            theirs[label] = _s(values[0]) if len(values) == 1 else f"{_s(values[0])} to {_s(values[-1])}"
        rows = [{"": "paper", **theirs}]
        for m in self.models:
            rows.append({"": f"{m}{flag(m)}", **{label: _fmt_ci(*self.interval(m, s, "PN", v))
                                                 for (s, v), label in columns.items()}})
        table = pd.DataFrame(rows).set_index("")
        table.index.name = None
        return table

    def paper_note(self) -> str:
        """A markdown sentence naming the paper's models behind each number of :meth:`versus_paper`."""
        parts = []
        for s, v in self._paper_cells():
            theirs = [(m, x) for (m, ss, vv), x in paper.CORRELATION.items() if (ss, vv) == (s, v)]
            parts.append(f"{_SAMPLER_LABELS[s]} {v}: " + ", ".join(f"{_short(m)} {_s(x)}" for m, x in theirs))
        sizes = " and ".join(self._setting(s) for s in self.steps)
        return ("The paper's numbers by model (" + "; ".join(parts) + f"). Ours: {sizes}, 95 % t-intervals over "
                "pairs" + (f"; † {', '.join(m for m in self.models if m in FLAGGED)}: flagged by the book "
                           "({doc}`../limits`)" if any(m in FLAGGED for m in self.models) else "") + ".")

    def verdict(self) -> str:
        """The chapter's verdict in markdown: one quotable sentence (:func:`headline_sentence`), a table of every
        setting with the rule each verdict follows, then the likely reason and the limits."""
        s = self.summary()
        sizes = " and ".join(self._setting(x) for x in self.steps)
        lines = [headline_sentence(s), "",
                 f"Mean centered correlation of PN pairs ({sizes}; 95 % t-intervals over pairs), judged by the "
                 "book's rules ({doc}`../methods`):", "",
                 "| setting | ours | paper | verdict |", "|---|---|---|---|"]
        for r in s.ran:
            setting = re.sub(r", \d+ pairs( per scale)?", "", r.our_setting)
            verdict = r.verdict
            if r.verdict == BEYOND:  # the question instead of the list of models
                verdict = f"{r.verdict}: {r.outcome}"
                setting = r.paper_setting.removeprefix("not asked: ") + setting[setting.index(", DDIM"):]
            lines.append(f"| {setting} | {r.ours} | {r.paper} | {verdict} |")
        lines.append("")
        lines.append(self._why())
        return "\n".join(lines)

    def _why(self) -> str:
        """The paragraph under the verdict's table: the likely reason and the limits, from the measurements."""
        cells = [(m, s) for m in self.models for s in self.steps]
        pn = {k: self.interval(*k, "PN", "centered") for k in cells}
        rr = {k: self.interval(*k, "RR", "centered") for k in cells}
        below_rr = [k for k in cells if pn[k][2] < rr[k][1]]
        text = (f"Centered, the PN interval lies below that of RR pairs of the same model and sampler in "
                f"{len(below_rr)} of {len(cells)} settings. ")
        if "ddpm" in self.steps:
            std = {m: self.interval(m, "ddpm", "PN", "standard") for m in self.models}
            positive = [m for m in self.models if std[m][1] > 0]
            if positive:
                m = positive[0]
                text += (f"The standard correlation under DDPM is positive for {len(positive)} of {len(self.models)} "
                         f"models ({m}: {_fmt_ci(*std[m])}): both members share the model's mean image, which "
                         "only the centered variant removes. ")
            control = [m for m in self.models if (m, "ddpm", "PN (z only)") in self.corr]
            if control:
                z_only = {m: self.interval(m, "ddpm", "PN (z only)", "centered") for m in control}
                weak = [m for m in control if z_only[m][1] > pn[m, "ddpm"][2]]
                if weak:
                    m = weak[0]
                    text += (f"Negating only $z$ weakens the DDPM correlation for {len(weak)} of {len(control)} "
                             f"models ({m}: {_fmt_ci(*z_only[m])} against {_fmt_ci(*pn[m, 'ddpm'])}): the partner "
                             "chain needs $-\\xi_t$ at every step, as the paper says. ")
                else:
                    text += (f"Negating only $z$ does not weaken the DDPM correlation significantly for any of "
                             f"the {len(control)} models. ")
        flagged = [m for m in self.models if m in FLAGGED]
        text += ("None of the paper's models ran here; ours are small, so their size is compared with the "
                 "paper's range over its models.")
        if flagged:
            text += f" † {', '.join(flagged)}: flagged by the book ({{doc}}`../limits`)."
        return text

    # -------------------------------------------------------------------- the 2-D example

    def intuition_statement(self) -> str:
        """What the 2-D example's figure shows, in one markdown sentence with its numbers."""
        if not self.intuition:
            return "The 2-D example was not computed."
        runs = {r.name: r for r in self.intuition}
        g, mix = runs["Gaussian"], runs["mixture"]
        rho_g, rho_m = g.correlation, mix.correlation
        spread = float((g.midpoints - g.midpoints.mean(0)).abs().max())
        lo, hi = (f"{x:+.3f}".replace("-", "−") for x in (rho_g.min().item(), rho_g.max().item()))
        return (f"Under the Gaussian, each of the {len(rho_g)} pairs ends mirrored about one centre: "
                + (f"every pair's correlation is {lo}" if lo == hi else f"the pairs' correlations are {lo} to {hi}")
                + f" and the midpoints of all pairs agree to within {spread:.0e}. Under the mixture, from the same "
                f"noise, the pairs correlate {_s(rho_m.min().item())} to {_s(rho_m.max().item())} (mean "
                f"{_s(rho_m.mean().item())}).")

    def intuition_figure(self) -> plt.Figure:
        """The 2-D example: two panels (Gaussian, mixture), the DDIM paths from ``z`` (solid) and ``-z`` (dashed) of
        each pair in one colour over the data's density, the noise (open) and the outputs (filled) marked, a
        dotted chord between each pair's outputs and the centre of all outputs (+); the mean pair correlation
        of the outputs in each panel's title."""
        if not self.intuition:
            return _not_run("no 2-D example")
        from matplotlib.lines import Line2D

        fig, axes = plt.subplots(1, len(self.intuition), figsize=(plots.COLUMN_WIDTH, 4.1), sharex=True,
                                 sharey=True, squeeze=False)
        lim = 3.2
        grid = np.linspace(-lim, lim, 241)
        gx, gy = np.meshgrid(grid, grid)
        points = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1))
        colours = plt.get_cmap("tab10").colors
        titles = {"Gaussian": "Gaussian: affine noise predictor", "mixture": "three modes, same mean and covariance"}
        for ax, run in zip(axes[0], self.intuition):
            logd = toy.log_density(run.data, points).reshape(gx.shape).numpy()
            top = float(logd.max())
            ax.contourf(gx, gy, logd, levels=[top - 6, top - 4, top - 2, top - 0.7, top + 1],
                        colors=["#f2f2f2", "#e0e0e0", "#c8c8c8", "#a8a8a8"])
            paths = run.paths.numpy()
            for i in range(paths.shape[0] // 2):
                c = colours[i % len(colours)]
                a, b = paths[2 * i, -1], paths[2 * i + 1, -1]
                ax.plot([a[0], b[0]], [a[1], b[1]], ":", color="0.35", lw=0.9, zorder=1)
                for j, ls in ((2 * i, "-"), (2 * i + 1, "--")):
                    ax.plot(paths[j, :, 0], paths[j, :, 1], ls, color=c, lw=1.3, zorder=2)
                    ax.plot(*paths[j, 0], "o", mfc="white", mec=c, ms=5, zorder=3)
                    ax.plot(*paths[j, -1], "o", color=c, ms=6, mec="black", mew=0.5, zorder=3)
            ax.plot(*run.ends.mean(0).numpy(), "k+", ms=11, mew=2, zorder=4)
            rho = run.correlation
            ax.set_title(f"{titles.get(run.name, run.name)}\nmean pair correlation of the outputs "
                         f"{_s(rho.mean().item())}", fontsize=10)
            ax.set_aspect("equal")
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.tick_params(labelsize=9)
        handles = [Line2D([], [], color="0.2", ls="-", label="path from $z$"),
                   Line2D([], [], color="0.2", ls="--", label="from $-z$"),
                   Line2D([], [], ls="", marker="o", mfc="white", mec="0.2", label="noise"),
                   Line2D([], [], ls="", marker="o", color="0.2", label="output"),
                   Line2D([], [], ls="", marker="+", color="k", mew=2, ms=10, label="centre of the outputs")]
        fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=9, frameon=False, handlelength=1.8,
                   columnspacing=1.0)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        return fig

    # -------------------------------------------------------------------- figures

    def histograms(self, variant: str = "centered") -> plt.Figure:
        """Histograms of the per-pair correlation of each pairing: models in rows, DDIM | DDPM in columns."""
        panels = {(f"{m}{flag(m)}", f"{_SAMPLER_LABELS[s]}-{n}"): {p: self.corr[m, s, p][variant]
                                                                  for p in SAMPLER_PAIRINGS[s]}
                  for m in self.models for s, n in self.steps.items()}
        return plots.correlation_histogram_grid(panels, xlabel=f"{variant} pixel correlation of a pair")

    def half_negation_figure(self) -> plt.Figure:
        """The half-negation maps (:meth:`HalfNegation.figure`), or a note that the ablation did not run."""
        return self.half_negation.figure() if self.half_negation is not None else _not_run("the ablation was off")

    def half_negation_table(self) -> pd.DataFrame:
        """The half-negation table (:meth:`HalfNegation.table`); empty when the ablation did not run."""
        return self.half_negation.table() if self.half_negation is not None else pd.DataFrame()

    def half_negation_statement(self) -> str:
        """:meth:`HalfNegation.statement`, or a note that the ablation did not run."""
        return self.half_negation.statement() if self.half_negation is not None else "The ablation did not run."

    def guidance_figure(self) -> plt.Figure:
        """The guidance sweep (:meth:`GuidanceSweep.figure`), or a note that it did not run."""
        return self.guidance.figure() if self.guidance is not None else _not_run("no class-conditional model")

    def guidance_statement(self) -> str:
        """:meth:`GuidanceSweep.statement`, or a note that the sweep did not run."""
        return self.guidance.statement() if self.guidance is not None else "The guidance sweep did not run."

    def pairs_figure(self, sampler: str = "ddim", n: int = PAIRS_SHOWN) -> plt.Figure:
        """``n`` PN pairs per model (at most :data:`PAIRS_SHOWN`, DDIM: the pairs measured): first members
        above, partners below."""
        if sampler != "ddim" or n > PAIRS_SHOWN:
            raise ValueError(f"the measurement keeps the first {PAIRS_SHOWN} DDIM PN pairs per model; "
                             f"sampler={sampler!r}, n={n!r} asks for others")
        return plots.pair_strips({f"{m}{flag(m)}": self.pairs[m][: 2 * n] for m in self.models})


def present(measurements: CorrelationMeasurements) -> CorrelationResult:
    """The presentation of finding 1's measurements (no network evaluation)."""
    m = measurements
    return base.presented(CorrelationResult, m, half_negation=base.presented(HalfNegation, m.half_negation),
                          guidance=base.presented(GuidanceSweep, m.guidance))


def run(*args: Any, **kwargs: Any) -> CorrelationResult:
    """``present(measure(Params(*args, **kwargs)))``: measure and present in one call."""
    return present(measure(Params(*args, **kwargs)))
