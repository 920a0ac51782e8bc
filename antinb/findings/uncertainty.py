"""Finding 5: do antithetic and quasi-Monte Carlo noise give shorter confidence intervals?

The paper (§6 and the blog's Table 2): to estimate ``mu = E[S(DM(Z))]`` for a scalar image
statistic ``S``, antithetic pairs (AMC), simplex groups (K-AMC) and randomized QMC noise (RQMC)
give shorter intervals than plain Monte Carlo (MC) at the same number of generated images; the
relative efficiency ``(L_MC / L)^2`` is about 3 to 136 on its models.

:func:`measure` measures it on our models: every design generates the same number of images, every
statistic is evaluated on the same images (one :func:`antinb.estimation.estimate` call with all
statistics per design and model), plus an even control statistic, ``squared_distance`` to the
model's mean image. It returns an :class:`UncertaintyMeasurements` with the estimates, the efficiencies
with exact F-intervals (:func:`efficiency_interval`), the antithetic correlation ``rho``, the
efficiency along nested sample budgets (:func:`antinb.stats.prefix_estimate`) and the empirical
coverage of the intervals over independent repetitions (:func:`antinb.stats.block_estimates`);
:func:`present` turns it into an :class:`UncertaintyResult` (records, tables, figures, verdict) without
any network evaluation, and :func:`run` does both.

:func:`measure` also tries a design beyond the paper's: AMC with control variates, even functions of
the noise with a known mean (:mod:`antinb.control`), on the same AMC images.

:func:`measure_intervals` (beyond the paper, part of :func:`measure`; :func:`interval_study` presents it)
measures, on closed-form statistics of the noise whose mean is known, how often each interval
(:data:`antinb.stats.INTERVALS`) covers with few units.

The module has two halves. The first is what :func:`measure` runs (its definition closure,
:func:`antinb._code.definition_closure`): a change there re-measures the chapter. The second is the
presentation (record names, summary, tables, figures, verdict), never reached from :func:`measure`: a
change there only re-renders the page.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from scipy import stats as sps

from .. import control, metrics, noise, paper, stats
from ..estimation import estimate
from ..measurements import measurement
from ..models import DiffusionModel, load, name_of
from ..pairs import conditioning, rows_per_image
from . import base
from .base import Result, Row, Summary, Table, fill, template_regex
from .verdicts import FLAGGED, Claim, beside, flag, judge

__all__ = ["CI_LENGTH", "EFFICIENCY", "EFFICIENCY_CI", "RHO", "ESTIMATE", "EFF_VS_N", "SPREAD_RATIO", "COVERAGE",
           "COVERAGE_RESAMPLED", "COVERAGE_RESAMPLED_REPS", "ResampledCoverage", "resampled_coverage",
           "COVERAGE_REPS", "COVERAGE_BAND", "INTERVAL_COVERAGE", "INTERVAL_REPS", "INTERVAL_TARGETS",
           "INTERVAL_LABELS", "CV_EFFICIENCY", "CV_EFFICIENCY_CI", "CV_GAIN", "CV_R2", "CV_P", "CV_COVERAGE",
           "ControlVariates", "IntervalStudy", "measure_intervals", "IntervalStudyResult", "interval_study",
           "TEMPLATES", "TABLE", "EVEN_STATISTIC", "SPREAD_FLAG_BELOW", "paper_records", "DesignSpec", "Efficiency",
           "Coverage", "Params", "UncertaintyMeasurements", "measure", "cost", "UncertaintyResult", "present",
           "designs", "efficiency_interval", "run", "summary"]


# ###########################################################################################################
# Part 1: the measurement. Everything below, down to part 2, is what measure() can run: a change here
# re-measures the chapter (minutes of network work). No record names, tables, figures or wording.
# ###########################################################################################################


#: The control statistic, even in the image about the model's mean image.
EVEN_STATISTIC = "squared_distance"


# --------------------------------------------------------------------------- designs and intervals


@dataclass(frozen=True)
class DesignSpec:
    """One design of the comparison: ``slug`` in record names, ``label`` for people, the estimator
    ``method`` of :data:`antinb.noise.METHODS` and its parameter (``{"k": 4}``, ``{"replicates": 16}``)."""

    slug: str
    label: str
    method: str
    kwargs: dict[str, int] = field(default_factory=dict)


def designs(kamc_groups: Sequence[int] = (4, 8), rqmc_replicates: int = 16) -> tuple[DesignSpec, ...]:
    """MC, AMC, K-AMC for each ``K`` in ``kamc_groups`` and RQMC with ``rqmc_replicates`` replicates,
    their parameters validated by the design registry (:func:`antinb.noise.design`)."""
    out = [DesignSpec("mc", "MC", "mc"), DesignSpec("amc", "AMC", "amc")]
    for k in kamc_groups:
        kw = noise.design("kamc").kwargs(k)
        out.append(DesignSpec(f"kamc{kw['k']}", f"K-AMC (K={kw['k']})", "kamc", kw))
    kw = noise.design("rqmc").kwargs(rqmc_replicates)
    out.append(DesignSpec("rqmc", f"RQMC (R={kw['replicates']})", "rqmc", kw))
    slugs = [d.slug for d in out]
    if len(set(slugs)) != len(slugs):
        raise ValueError(f"kamc_groups={list(kamc_groups)} lists a group size twice")
    return tuple(out)


def _num(x: float) -> str:
    """Two significant figures (whole numbers from 10 on): what an efficiency's interval supports (the text of
    an :class:`Efficiency`, so it sits in this half)."""
    if math.isinf(x):
        return "∞"
    return f"{x:.0f}" if abs(x) >= 10 else f"{x:#.2g}"


@dataclass(frozen=True)
class Efficiency:
    """A relative efficiency ``(L_MC / L)^2`` with its ``level`` confidence interval ``[low, high]``."""

    value: float
    low: float
    high: float
    level: float = 0.95

    def __str__(self) -> str:
        return f"{_num(self.value)} [{_num(self.low)}, {_num(self.high)}]"

    @property
    def significant(self) -> bool:
        """Whether the interval excludes 1 (a gain or a loss that the sample supports)."""
        return self.low > 1 or self.high < 1


def efficiency_interval(reference: stats.Estimate, other: stats.Estimate, level: float = 0.95) -> Efficiency:
    """The relative efficiency of ``other`` over ``reference`` with its exact F-interval
    (:func:`antinb.stats.efficiency_interval`, where the construction and its limits are described)."""
    return Efficiency(*stats.efficiency_interval(reference, other, level), level)


# --------------------------------------------------------------------------- coverage and control variates


@dataclass(frozen=True)
class Coverage:
    """Empirical coverage of the intervals over ``reps`` independent repetitions of ``n`` images.

    ``rate[(slug, stat)]`` is the fraction of the ``reps`` intervals of a design that cover the
    reference (``slug="all"``: every design pooled); ``reference[stat]`` is ``(value, se)``, the pooled
    mean of all images of the check; ``band`` the central 95 % range of the coverage of ``reps``
    exact ``level`` intervals, ``pooled_band`` the same for all designs pooled.
    """

    model: str
    n: int
    reps: int
    steps: int
    replicates: int
    level: float
    band: tuple[float, float]
    pooled_band: tuple[float, float]
    rate: dict[tuple[str, str], float]
    mean_length: dict[tuple[str, str], float]
    reference: dict[str, tuple[float, float]]
    cv_rate: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ControlVariates:
    """AMC with control variates for one model and statistic (:func:`antinb.control.cv_estimate`).

    ``efficiency``: against MC at equal images, ``(L_MC / L_CV)^2`` with an approximate F-interval
    (``F(n_MC - 1, n - q - 1)``: the controls' fit makes the constant random, at order ``q / n``);
    ``gain``: ``(L_AMC / L_CV)^2``, the factor gained over AMC alone from the same images; ``p``: the
    F-test's p-value for "the controls explain nothing" (``gain > 1`` is real when ``p`` is small).
    """

    estimate: control.CVEstimate
    efficiency: Efficiency
    gain: float
    p: float


@dataclass(frozen=True)
class ResampledCoverage:
    """Coverage of the intervals in the *resampled world* of each model, statistic and design: the design's
    units in the main run are the population, ``units`` of them are drawn with replacement ``reps`` times,
    and an interval covers when it contains the population's mean (:func:`resampled_coverage`).

    ``rate[(model, stat, slug, interval, units)]``; ``pool[(model, stat, slug)]`` the number of units each
    population holds; ``band`` the central 95 % range of the coverage of ``reps`` exact intervals.
    """

    reps: int
    units: tuple[int, ...]
    level: float
    band: tuple[float, float]
    rate: dict[tuple[str, str, str, str, int], float]
    pool: dict[tuple[str, str, str], int]


def resampled_coverage(pools: dict[tuple[str, str, str], np.ndarray], *, units: Sequence[int] = (8, 16),
                       reps: int = 2000, level: float = 0.95, seed: int = 0) -> ResampledCoverage:
    """Coverage of the t- and the skew-t interval (:mod:`antinb.stats`) when ``units`` iid units are drawn
    from each empirical population ``pools[(model, stat, slug)]`` (unit values, :func:`antinb.stats.design_units`)
    and the target is the population's mean: the model's own unit distributions, skewness and all, with
    ``reps`` repetitions costing no network evaluation. It cannot see tails beyond the population's
    range, and a population of a few units (RQMC's replicates) is a coarse picture of its design."""
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise ValueError(f"resampled_reps={reps!r} must be a positive integer")
    units = tuple(int(u) for u in units)
    if not units or min(units) < 3:
        raise ValueError(f"resampled_units={list(units)} must list unit counts of at least 3")
    rng = noise.seeded_rng(seed)
    rate, sizes = {}, {}
    for key, pool in pools.items():
        pool = np.asarray(pool, dtype=np.float64)
        sizes[key] = int(pool.size)
        target = float(pool.mean())
        for u in units:
            draws = pool[rng.integers(0, pool.size, (reps, u))]
            mean, sd = draws.mean(1), draws.std(1, ddof=1)
            half = stats.t_half_width(sd, u, level)
            with np.errstate(divide="ignore", invalid="ignore"):
                low, high = stats.skew_t_bounds(draws, level)
            flat = sd == 0  # every unit drawn alike: both intervals are the point itself
            low, high = np.where(flat, mean, low), np.where(flat, mean, high)
            rate[(*key, "t", u)] = float(np.mean((mean - half <= target) & (target <= mean + half)))
            rate[(*key, "skew-t", u)] = float(np.mean((low <= target) & (target <= high)))
    return ResampledCoverage(int(reps), units, float(level), stats.coverage_band(reps, level), rate, sizes)


# --------------------------------------------------------------------------- the interval study

#: Closed-form targets of :func:`measure_intervals`: slug -> (f, E[f(S)]) for ``S ~ N(0, 1)``, the
#: normalised sum of the noise coordinates (so ``S(-z) = -S(z)``: a pair mean is the even part of ``f``);
#: their labels are :data:`INTERVAL_LABELS`.
INTERVAL_TARGETS: dict[str, tuple[Any, float]] = {
    "odd": (lambda x: np.exp(x / 2), math.exp(1 / 8)),
    "near-linear": (lambda x: x + x ** 2 / 10, 0.1),
    "even": (lambda x: x ** 2, 1.0),
    "heavy": (lambda x: np.exp(x), math.exp(0.5)),
}
#: The designs of the study: slug -> (noise design, group size); their labels are ``_STUDY_LABELS``.
_STUDY_DESIGNS = {"mc": ("independent", 1), "amc": ("antithetic", 2), "kamc4": ("simplex", 4)}
#: The study's numbers of units per interval.
_STUDY_UNITS = (8, 16, 32, 256)


@dataclass(frozen=True)
class IntervalStudy:
    """Coverage of each interval on closed-form targets (:func:`measure_intervals`; presented by
    :class:`IntervalStudyResult`).

    ``rate[(target, design, n, interval)]``: the fraction of ``reps`` intervals of ``n`` units that
    cover the target's exact mean; ``band``: the central 95 % range of the coverage of ``reps`` exact
    ``level`` intervals (a rate outside it is a real departure); ``length[(target, design, n)]``: the
    median ratio of the skew-t interval's length to the t-interval's.
    """

    reps: int
    level: float
    units: tuple[int, ...]
    band: tuple[float, float]
    rate: dict[tuple[str, str, int, str], float]
    length: dict[tuple[str, str, int], float]


def _study_units(reps: int, units: Sequence[int]) -> tuple[int, ...]:
    """``units`` sorted, after checking the study's sizes (raises ``ValueError``)."""
    units = tuple(sorted(int(n) for n in units))
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 10:
        raise ValueError(f"reps={reps!r} must be an integer >= 10")
    if not units or units[0] < 3:
        raise ValueError(f"units={units!r} must be numbers of units >= 3 (the skewness correction needs 3)")
    return units


def measure_intervals(*, reps: int = 2000, units: Sequence[int] = _STUDY_UNITS, dim: int = 8, level: float = 0.95,
                      seed: int = 0) -> IntervalStudy:
    """How often each interval of :mod:`antinb.stats` covers the exact mean of a closed-form statistic.

    For each design of :data:`_STUDY_DESIGNS`, ``reps * max(units)`` units (groups) of noise rows
    ``z ~ N(0, I_dim)`` give ``S = sum(z) / sqrt(dim) ~ N(0, 1)`` per row and each target ``f(S)`` of
    :data:`INTERVAL_TARGETS`; repetition ``r`` uses the first ``n`` units of its block, for every ``n``
    in ``units`` (cells with different ``n`` share draws; each cell's repetitions are independent). No
    model is involved, so the truth is exact.

    The units are drawn by the design's own group transform (:attr:`antinb.noise.Design.rows`) in one
    call over all units' coordinates at once, from one generator seeded with ``seed`` and the design:
    the transforms act coordinate by coordinate, so one group over ``units * dim`` coordinates is
    ``units`` independent groups of ``dim`` coordinates (half a million groups in a second, where
    seeding a generator per group as sampling does would take a minute).
    """
    units = _study_units(reps, units)
    big = units[-1]
    rate, length = {}, {}
    for j, (design, (kind, k)) in enumerate(_STUDY_DESIGNS.items()):
        gen = noise.seeded_generator(seed, j)
        z = noise.DESIGNS[kind].rows(gen, k, reps * big * dim).double()  # (k, units * dim): row i of every group
        s_values = (z.reshape(k, reps, big, dim).sum(-1) / math.sqrt(dim)).permute(1, 2, 0).numpy()
        for target, (f, mu) in INTERVAL_TARGETS.items():
            unit_means = f(s_values).mean(-1)  # (reps, big)
            for n in units:
                u = unit_means[:, :n]
                mean = u.mean(1)
                half = stats.t_half_width(u.std(1, ddof=1), n, level)
                rate[target, design, n, "t"] = float(np.mean(np.abs(mean - mu) <= half))
                low, high = stats.skew_t_bounds(u, level)
                rate[target, design, n, "skew-t"] = float(np.mean((low <= mu) & (mu <= high)))
                length[target, design, n] = float(np.median((high - low) / (2 * half)))
    return IntervalStudy(int(reps), float(level), units, stats.coverage_band(reps, level), rate, length)


# --------------------------------------------------------------------------- the measurement


@dataclass(frozen=True)
class Params:
    """What finding 5 measures (the one parameters object of :func:`measure` and :func:`cost`).

    Per model of ``models`` (names or loaded models) and design (:func:`designs` of ``kamc_groups`` and
    ``rqmc_replicates``): ``n_images`` DDIM-``steps`` images from one :func:`antinb.estimation.estimate` call
    with every one of ``statistics`` (seed ``seed``), and the even control ``squared_distance`` to the model's
    mean image (the mean of all its images, all designs). Efficiencies are against MC at equal ``n``, with
    :func:`efficiency_interval` at ``level``; ``rho`` is the within-pair correlation of the AMC values; the
    curve re-uses the first ``n`` of each run for ``n`` in ``budgets`` (:func:`antinb.stats.prefix_estimate`).
    The coverage check (skipped when ``coverage_model`` is empty) draws ``coverage_n * coverage_reps`` images
    per design (DDIM-``coverage_steps``, RQMC with ``coverage_replicates`` replicates per repetition) with seed
    ``seed + 1`` and cuts them into ``coverage_reps`` independent blocks (:func:`antinb.stats.block_estimates`).
    Models named by ``models`` load on ``device``; ``store``, ``processes``, ``progress`` and ``max_batch_size``
    go to ``estimate``. Text-to-image models sample ``prompts`` with guidance ``prompt_guidance`` (one prompt per
    design group; records keyed by that conditioning, :func:`antinb.pairs.conditioning`). ``cv_frequencies``
    (0 to skip) control variates per noise channel for AMC with control variates (:mod:`antinb.control`),
    computed from the AMC run's own noise: no image is generated for it. ``resampled_reps`` repetitions of
    :func:`resampled_coverage` (0 to skip) with ``resampled_units`` units, drawn from each design's units of
    the main run: a coverage check on every model and statistic at no cost in images. ``interval_reps``
    repetitions per cell of the closed-form interval study (:func:`measure_intervals` with ``seed``; 0 to skip).
    """

    models: Sequence[DiffusionModel | str]
    statistics: Sequence[str] = ("brightness", "pixel_mean", "contrast", "centroid_x", "centroid_distance")
    n_images: int = 256
    budgets: Sequence[int] = (32, 64, 128, 256)
    steps: int = 20
    kamc_groups: Sequence[int] = (4, 8)
    rqmc_replicates: int = 16
    coverage_model: DiffusionModel | str | None = "mnist"
    coverage_n: int = 16
    coverage_reps: int = 40
    coverage_steps: int = 8
    coverage_replicates: int = 4
    level: float = 0.95
    device: str = "auto"
    seed: int = 0
    max_batch_size: int = 512
    store: str | os.PathLike | None = None
    processes: int = 1
    prompts: Any = None
    prompt_guidance: float = 7.5
    progress: bool = False
    cv_frequencies: int = 1
    resampled_reps: int = 2000
    resampled_units: Sequence[int] = (8, 16)
    interval_reps: int = 2000


@dataclass(frozen=True)
class UncertaintyMeasurements:
    """Everything chapter 5 measured (:func:`measure`); presented by :class:`UncertaintyResult`.

    Keys: ``estimates[(model, stat, slug)]`` (:class:`antinb.stats.Estimate`),
    ``efficiency[(model, stat, slug)]`` (:class:`Efficiency`, every design but MC),
    ``rho[(model, stat)]`` (AMC within-pair correlation), ``curve[(model, stat, slug)]`` (tuple of
    ``(n, Efficiency)`` along ``budgets``), ``spread[(model, stat)]`` (model card: generated / real sd),
    ``cv[(model, stat)]`` (:class:`ControlVariates`); ``coverage``, ``resampled`` and ``intervals`` the
    three coverage checks (``None`` when skipped).
    """

    models: tuple[str, ...]
    statistics: tuple[str, ...]
    designs: tuple[DesignSpec, ...]
    n_images: int
    steps: int
    level: float
    budgets: tuple[int, ...]
    estimates: dict[tuple[str, str, str], stats.Estimate]
    efficiency: dict[tuple[str, str, str], Efficiency]
    rho: dict[tuple[str, str], float]
    curve: dict[tuple[str, str, str], tuple[tuple[int, Efficiency], ...]]
    spread: dict[tuple[str, str], float]
    coverage: Coverage | None = None
    cv: dict[tuple[str, str], ControlVariates] = field(default_factory=dict)
    cv_frequencies: int = 0
    resampled: ResampledCoverage | None = None
    intervals: IntervalStudy | None = None


def _name(model: DiffusionModel | str) -> str:
    return os.fspath(model) if isinstance(model, (str, os.PathLike)) else model.name


def _values(images: torch.Tensor, runs: dict, statistics: Sequence[str],
            centre: torch.Tensor) -> dict[str, torch.Tensor]:
    """The values of every statistic of one run, plus the even control against ``centre``."""
    out = {s: runs[s].values for s in statistics}
    out[EVEN_STATISTIC] = metrics.squared_distance(images, centre).double()
    return out


@measurement
def measure(params: Params) -> UncertaintyMeasurements:
    """Chapter 5's measurements on the models of ``params`` (names or loaded models): every network
    evaluation and every number the chapter reports (:class:`Params` says what is measured)."""
    p = params
    models, statistics, n_images, budgets, steps, level = (p.models, p.statistics, p.n_images, p.budgets, p.steps,
                                                           p.level)
    seed, device, cv_frequencies, resampled_reps = p.seed, p.device, p.cv_frequencies, p.resampled_reps
    coverage_model, prompts = p.coverage_model, p.prompts
    if isinstance(models, (str, os.PathLike, DiffusionModel)):
        models = [models]
    if not models:
        raise ValueError("models= is empty")
    if isinstance(cv_frequencies, bool) or not isinstance(cv_frequencies, int) or not 0 <= cv_frequencies <= len(
            control.FREQUENCIES):
        raise ValueError(f"cv_frequencies={cv_frequencies!r} must be an integer in [0, {len(control.FREQUENCIES)}]")
    plan = designs(p.kamc_groups, p.rqmc_replicates)
    if resampled_reps:  # bad input fails before any image is generated
        resampled_coverage({}, units=p.resampled_units, reps=resampled_reps, level=level)
    if p.interval_reps:
        _study_units(p.interval_reps, _STUDY_UNITS)
    statistics = tuple(statistics)
    all_stats = statistics + (EVEN_STATISTIC,)
    loaded, cond = {}, {}
    for m in models:
        model = load(m, device=device) if isinstance(m, (str, os.PathLike)) else m
        key, kw = conditioning(model, prompts, p.prompt_guidance)
        name = key if key != model.name or "=" in _name(m) else _name(m)
        loaded[name], cond[name] = model, kw
        q = cv_frequencies * int(model.sample_shape[0])  # controls per pair: one per channel and frequency
        if cv_frequencies and n_images // 2 < q + 3:
            raise ValueError(f"cv_frequencies={cv_frequencies}: {n_images // 2} pairs of {name} are too few for its "
                             f"{q} controls (need {q + 3}); give more n_images or cv_frequencies=0")
    common = dict(seed=seed, steps=steps, max_batch_size=p.max_batch_size, keep_images=True, return_run=True,
                  progress=p.progress, store=os.fspath(p.store) if p.store else None, processes=p.processes)
    estimates, efficiency, rho, curve, spread, cvs, pools = {}, {}, {}, {}, {}, {}, {}
    for name, model in loaded.items():
        card = getattr(model, "card", None) or {}
        for s, v in card.get("statistics", {}).items():
            spread[name, s] = v["generated_sd"] / v["real_sd"]
        runs = {d.slug: estimate(list(statistics), model, n_images, method=d.method, **d.kwargs, **common,
                                 **cond[name]) for d in plan}
        images = {slug: next(iter(r.values())).images for slug, r in runs.items()}
        centre = stats.mean_image(torch.cat(list(images.values()))).float()
        values = {slug: _values(images[slug], runs[slug], statistics, centre) for slug in runs}
        for s in all_stats:
            for d in plan:
                estimates[name, s, d.slug] = stats.estimate_ci(values[d.slug][s], d.method, level=level, **d.kwargs)
                pools[name, s, d.slug] = stats.design_units(values[d.slug][s], d.method, **d.kwargs)
            rho[name, s] = stats.pair_value_correlation(values["amc"][s])
            mc = estimates[name, s, "mc"]
            mc_n = {n: stats.prefix_estimate(values["mc"][s], "mc", n, level=level) for n in budgets}
            for d in plan[1:]:
                efficiency[name, s, d.slug] = efficiency_interval(mc, estimates[name, s, d.slug], level)
                curve[name, s, d.slug] = tuple(
                    (int(n), efficiency_interval(
                        mc_n[n], stats.prefix_estimate(values[d.slug][s], d.method, n, level=level, **d.kwargs),
                        level))
                    for n in budgets)
        if cv_frequencies:
            z = noise.make("antithetic", n_images, tuple(model.sample_shape), seed=seed).z
            controls = control.noise_controls(z[0::2], frequencies=cv_frequencies)
            for s in all_stats:
                cvs[name, s] = _control_variates(values["amc"][s], controls, estimates[name, s, "mc"],
                                                 estimates[name, s, "amc"], level)
    coverage = None
    if coverage_model:
        cname = _name(coverage_model)
        cmodel = loaded.get(cname) or (load(coverage_model, device=device)
                                       if isinstance(coverage_model, (str, os.PathLike)) else coverage_model)
        coverage = _coverage(cmodel, cname, plan, statistics, n=p.coverage_n, reps=p.coverage_reps,
                             steps=p.coverage_steps, replicates=p.coverage_replicates, level=level,
                             common={**common, "seed": seed + 1, "steps": p.coverage_steps},
                             cv_frequencies=cv_frequencies)
    resampled = (resampled_coverage(pools, units=p.resampled_units, reps=resampled_reps, level=level, seed=seed)
                 if resampled_reps else None)
    # the closed-form interval study needs no model (numbers of the noise alone)
    intervals = measure_intervals(reps=p.interval_reps, seed=seed) if p.interval_reps else None
    return UncertaintyMeasurements(tuple(loaded), all_stats, plan, int(n_images), int(steps), float(level),
                                   tuple(int(b) for b in budgets), estimates, efficiency, rho, curve, spread,
                                   coverage, cvs, int(cv_frequencies), resampled, intervals)


def _control_variates(values: torch.Tensor, controls: np.ndarray, mc: stats.Estimate, amc: stats.Estimate,
                      level: float) -> ControlVariates:
    """AMC with control variates from the AMC values ``(N,)`` (pairs in consecutive rows) and one row of
    controls per pair, beside the MC and AMC estimates of the same statistic."""
    units = values.double().view(-1, 2).mean(1).numpy()
    est = control.cv_estimate(units, controls, level=level)
    value = (mc.length / est.length) ** 2 if est.length > 0 else math.inf
    low, high = stats.f_bounds(value, mc.n_units - 1, est.df, level) if math.isfinite(value) else (math.inf, math.inf)
    q = est.n_controls
    f_stat = (est.r_squared / q) / max(1e-300, (1 - est.r_squared) / est.df)
    p = float(sps.f.sf(f_stat, q, est.df))
    gain = (amc.length / est.length) ** 2 if est.length > 0 else math.inf
    return ControlVariates(est, Efficiency(value, low, high, level), float(gain), p)


def _coverage(model, name: str, plan: tuple[DesignSpec, ...], statistics: tuple[str, ...], *, n: int, reps: int,
              steps: int, replicates: int, level: float, common: dict, cv_frequencies: int = 0) -> Coverage:
    """The coverage check of :func:`measure`: one large draw per design cut into ``reps`` blocks."""
    q = cv_frequencies * int(model.sample_shape[0])
    if cv_frequencies and n // 2 < q + 3:
        raise ValueError(f"cv_frequencies={cv_frequencies}: coverage_n={n} gives {n // 2} pairs, too few for the "
                         f"{q} controls of {name} (need {q + 3}); give more coverage_n or cv_frequencies=0")
    total = n * reps
    runs = {}
    for d in plan:
        draw_kw = {"replicates": reps * replicates} if d.method == "rqmc" else d.kwargs
        runs[d.slug] = estimate(list(statistics), model, total, method=d.method, **draw_kw, **common)
    images = {slug: next(iter(r.values())).images for slug, r in runs.items()}
    centre = stats.mean_image(torch.cat(list(images.values()))).float()
    values = {slug: _values(images[slug], runs[slug], statistics, centre) for slug in runs}
    rate, mean_length, reference = {}, {}, {}
    for s in statistics + (EVEN_STATISTIC,):
        pooled = torch.cat([values[d.slug][s] for d in plan])
        ref = float(pooled.mean())
        reference[s] = (ref, float(pooled.std() / np.sqrt(len(pooled))))
        hits: list[bool] = []
        for d in plan:
            block_kw = {"replicates": replicates} if d.method == "rqmc" else d.kwargs
            blocks = stats.block_estimates(values[d.slug][s], d.method, n, level=level, **block_kw)
            covered = [b.covers(ref) for b in blocks]
            hits += covered
            rate[d.slug, s] = float(np.mean(covered))
            mean_length[d.slug, s] = float(np.mean([b.length for b in blocks]))
        rate["all", s] = float(np.mean(hits))
    cv_rate = {}
    if cv_frequencies and "amc" in values:
        z = noise.make("antithetic", total, tuple(model.sample_shape), seed=common["seed"]).z
        controls = control.noise_controls(z[0::2], frequencies=cv_frequencies).reshape(reps, n // 2, -1)
        for s in statistics + (EVEN_STATISTIC,):
            units = values["amc"][s].double().view(reps, n // 2, 2).mean(2).numpy()
            ref = reference[s][0]
            cv_rate[s] = float(np.mean([control.cv_estimate(u, c, level=level).covers(ref)
                                        for u, c in zip(units, controls)]))
    return Coverage(name, n, reps, steps, replicates, level, stats.coverage_band(reps, level),
                    stats.coverage_band(reps * len(plan), level), rate, mean_length, reference, cv_rate)


def cost(params: Params) -> dict[str, int]:
    """Network evaluations (image rows through the network once) :func:`measure` makes with ``params``,
    per model name (:func:`antinb.models.name_of`); nothing is loaded. Statistics, the control variates,
    the even control, the budgets' curve (prefixes of the same runs), the intervals and the interval study
    cost nothing; with a ``store`` this is the count of a fresh run (chunks already stored are not generated
    again)."""
    p = params
    models = p.models
    if isinstance(models, (str, os.PathLike, DiffusionModel)):
        models = [models]
    n_designs = len(designs(p.kamc_groups, p.rqmc_replicates))  # MC, AMC, one K-AMC per K, RQMC
    out: dict[str, int] = {}
    for spec in {name_of(m): m for m in models}.values():  # a model named twice runs once
        # n_images per design (every row twice for a text-to-image model sampling prompts with guidance)
        out[name_of(spec)] = n_designs * p.n_images * p.steps * rows_per_image(spec, p.prompts, p.prompt_guidance)
    if p.coverage_model:
        # one unprompted draw of coverage_n * coverage_reps images per design, cut into blocks afterwards
        name = name_of(p.coverage_model)
        out[name] = out.get(name, 0) + n_designs * p.coverage_n * p.coverage_reps * p.coverage_steps
    return out


# ###########################################################################################################
# Part 2: the presentation. Record names, the summary, tables, figures and the verdict, all computed from the
# measurements alone; never reached from measure(): a change here only re-renders the page.
# ###########################################################################################################


# --------------------------------------------------------------------------- record names and the summary

#: ``method`` is ``mc``, ``amc``, ``rqmc`` or ``kamc<K>`` (e.g. ``kamc4``).
CI_LENGTH = "ci_length/{model}/{stat}/{method}"
EFFICIENCY = "efficiency/{model}/{stat}/{method}"
RHO = "rho/{model}/{stat}"
#: The point estimate of ``E[S(DM(Z))]`` of each design.
ESTIMATE = "estimate/{model}/{stat}/{method}"
#: The 95 % (``level``) F-interval ``[low, high]`` of the efficiency (see :func:`efficiency_interval`).
EFFICIENCY_CI = "efficiency_ci/{model}/{stat}/{method}"
#: The efficiency at each budget of the curve, ``{str(n): efficiency}``.
EFF_VS_N = "eff_vs_n/{model}/{stat}/{method}"
#: Generated / real standard deviation of a statistic, from the model card.
SPREAD_RATIO = "spread_ratio/{model}/{stat}"
#: Empirical coverage of the intervals of one design (``method="all"``: every design pooled).
COVERAGE = "coverage/{method}/{stat}"
COVERAGE_REPS = "coverage_reps"
#: The central 95 % range ``[low, high]`` of the coverage of ``coverage_reps`` exact intervals.
COVERAGE_BAND = "coverage_band"
#: Interval study: the coverage of ``interval`` (``t`` or ``skew-t``) over the study's repetitions, for a
#: closed-form ``target`` (:data:`INTERVAL_TARGETS`), a ``design`` (mc, amc, kamc4) and ``n`` units.
INTERVAL_COVERAGE = "interval_coverage/{target}/{design}/n={n}/{interval}"
INTERVAL_REPS = "interval_coverage_reps"
#: AMC with control variates (:mod:`antinb.control`): its efficiency against MC with an F-interval, its
#: gain over AMC alone ``(L_AMC / L_CV)^2`` (both t-interval lengths), the share of the pair means'
#: variance the controls explain, the F-test's p-value that they explain nothing, and the coverage of
#: its intervals in the coverage check.
CV_EFFICIENCY = "efficiency_cv/{model}/{stat}"
CV_EFFICIENCY_CI = "efficiency_cv_ci/{model}/{stat}"
CV_GAIN = "cv_gain_over_amc/{model}/{stat}"
CV_R2 = "cv_r2/{model}/{stat}"
CV_P = "cv_p/{model}/{stat}"
CV_COVERAGE = "coverage_cv/{stat}"
#: Resampled coverage check (:func:`resampled_coverage`): the coverage of ``interval`` (``t``, ``skew-t``) with
#: ``units`` units drawn with replacement from a design's units in the main run, over ``coverage_resampled_reps``
#: repetitions.
COVERAGE_RESAMPLED = "coverage_resampled/{model}/{stat}/{method}/{interval}/n={units}"
COVERAGE_RESAMPLED_REPS = "coverage_resampled_reps"
#: Every record template of this finding.
TEMPLATES = (CI_LENGTH, EFFICIENCY, RHO, ESTIMATE, EFFICIENCY_CI, EFF_VS_N, SPREAD_RATIO, COVERAGE,
             COVERAGE_REPS, COVERAGE_BAND, INTERVAL_COVERAGE, INTERVAL_REPS, CV_EFFICIENCY, CV_EFFICIENCY_CI, CV_GAIN,
             CV_R2, CV_P, CV_COVERAGE, COVERAGE_RESAMPLED, COVERAGE_RESAMPLED_REPS)

#: A model whose generated spread of some statistic is below this fraction of the data's is flagged.
SPREAD_FLAG_BELOW = 0.5

TABLE = Table('Finding 5: shorter confidence intervals', '05_uncertainty',
              "Relative efficiency $(\\text{CI length of MC} / \\text{CI length of AMC})^2$ at equal sample count with its 95 % F-interval, per model and statistic (CI lengths are on each model's own scale and are not compared); $\\rho = \\operatorname{corr}(S(\\mathrm{DM}(z)), S(\\mathrm{DM}(-z)))$. Our RQMC stands beside the paper's QMC in the caveat.")

#: Our statistic -> the paper's name for it (Table 2's "centroid" is not specified further).
_PAPER_STAT = {"brightness": "brightness", "pixel_mean": "pixel_mean", "contrast": "contrast",
               "centroid_distance": "centroid"}


def paper_records() -> dict[str, float]:
    """Blog Table 2 under this finding's record names (``None`` entries are left out)."""
    out: dict[str, float] = {}
    for model, rows in paper.TABLE2.items():
        for stat, (l_mc, l_qmc, l_amc, e_qmc, e_amc) in rows.items():
            for template, method, value in ((CI_LENGTH, "mc", l_mc), (CI_LENGTH, "rqmc", l_qmc),
                                            (CI_LENGTH, "amc", l_amc), (EFFICIENCY, "rqmc", e_qmc),
                                            (EFFICIENCY, "amc", e_amc)):
                if value is not None:
                    out[fill(template, model=model, stat=stat, method=method)] = value
    return out


#: How each statistic is named for people (tables, figures, prose): never a record key.
STAT_LABELS = {"brightness": "brightness", "pixel_mean": "pixel mean", "contrast": "contrast",
               "centroid_x": "horizontal centroid", "centroid_y": "vertical centroid",
               "centroid_distance": "centroid distance", EVEN_STATISTIC: "squared distance"}


def stat_label(stat: str) -> str:
    """The name of statistic ``stat`` for people (:data:`STAT_LABELS`)."""
    return STAT_LABELS.get(stat, stat.replace("_", " "))


def twins(values: dict[str, Sequence[float]], rel: float = 1e-6) -> dict[str, str]:
    """``{statistic: the earlier statistic it repeats}`` for statistics whose measured numbers ``values[stat]``
    (in the same order for every statistic) equal those of an earlier one: on a grayscale model brightness
    and pixel mean are the same numbers, and every count of the chapter takes them once. Detected from the
    values, never from the model's name."""
    out: dict[str, str] = {}
    kept: list[str] = []
    for s, v in values.items():
        v = [float(x) for x in v]
        twin = next((k for k in kept if len(values[k]) == len(v) and all(
            math.isclose(a, float(b), rel_tol=rel, abs_tol=1e-12) for a, b in zip(v, values[k]))), None)
        if twin is None:
            kept.append(s)
        else:
            out[s] = twin
    return out


def joined_label(stat: str, repeats: dict[str, str]) -> str:
    """``"brightness = pixel mean"`` when other statistics repeat ``stat``'s numbers, else its label."""
    return " = ".join([stat_label(stat)] + [stat_label(s) for s, t in repeats.items() if t == stat])


def _record_twins(records: dict[str, Any], model: str) -> dict[str, str]:
    """:func:`twins` of one model from its records: every design's estimate and interval length."""
    rx = template_regex(ESTIMATE)
    values: dict[str, list[tuple[str, float, float]]] = {}
    for name, value in records.items():
        m = rx.match(name)
        if m and m["model"] == model:
            length = records.get(fill(CI_LENGTH, model=model, stat=m["stat"], method=m["method"]), math.nan)
            values.setdefault(m["stat"], []).append((m["method"], float(value), float(length)))
    return twins({s: [x for _, *xs in sorted(v) for x in xs] for s, v in values.items()})


def _paper_claim(stat: str, model: str) -> tuple[Claim, str, str, str | None]:
    """The paper's AMC efficiency claim for our ``stat`` on our ``model``: its own value where the paper ran the
    model, else the range over its models; with the paper's setting, the claim as text and the paper model run."""
    theirs = {pm: rows[_PAPER_STAT[stat]][4] for pm, rows in paper.TABLE2.items() if _PAPER_STAT[stat] in rows}
    pk = base.paper_model(model, paper.TABLE2)
    if pk in theirs:
        return Claim.of(theirs[pk], null=1.0), paper.MODEL_LABELS[pk], f"{theirs[pk]:.1f}", pk
    claim = Claim.of(list(theirs.values()), null=1.0)
    return claim, f"blog Table 2, {len(theirs)} models", f"{claim.low:.1f} to {claim.high:.1f}", None


@dataclass(frozen=True)
class _Setting:
    """One row of the summary with what the chapter's verdict table shows beside it."""

    model: str
    stat: str
    label: str
    claim: Claim
    row: Row


def _settings(records: dict[str, Any], parameters: dict[str, Any] | None = None) -> tuple[list[_Setting], set[str]]:
    """The summary's measured rows, one per model and statistic of blog Table 2 (a statistic repeating another's
    numbers on a model joins its row), and the paper models they ran."""
    params = parameters or {}
    rx = template_regex(EFFICIENCY)
    spread: dict[str, float] = {}
    for name, value in records.items():
        m = template_regex(SPREAD_RATIO).match(name)
        if m:
            spread[m["model"]] = min(float(value), spread.get(m["model"], math.inf))
    out, ran, repeats = [], set(), {}
    for name, eff in records.items():
        m = rx.match(name)
        if not m or m["method"] != "amc" or m["stat"] not in _PAPER_STAT:
            continue
        model, stat = m["model"], m["stat"]
        if model not in repeats:
            repeats[model] = _record_twins(records, model)
        if stat in repeats[model]:
            continue  # counted once, in the row of the statistic it repeats
        claim, paper_setting, paper_text, pk = _paper_claim(stat, model)
        if pk:
            ran.add(pk)
        low, high = records[fill(EFFICIENCY_CI, model=model, stat=stat, method="amc")]
        caveat = []
        if spread.get(model, math.inf) < SPREAD_FLAG_BELOW:
            caveat.append(f"{model} generates under half the data's spread of some statistic (generated/real sd "
                          f"down to {spread[model]:.2f}): its efficiencies describe its sampler")
        rho = records.get(fill(RHO, model=model, stat=stat))
        if rho is not None:
            caveat.append(f"ρ = {rho:+.2f}".replace("-", "−"))
        rq = fill(EFFICIENCY, model=model, stat=stat, method="rqmc")
        if rq in records:
            lo, hi = records[fill(EFFICIENCY_CI, model=model, stat=stat, method="rqmc")]
            caveat.append(f"RQMC {_num(records[rq])} [{_num(lo)}, {_num(hi)}]")
        label = joined_label(stat, {k: v for k, v in repeats[model].items() if k in _PAPER_STAT})
        setting = f"{model}{flag(model)}, {label}"
        if params.get("ddim_steps"):
            setting += f", DDIM-{params['ddim_steps']}"
        if params.get("n_images"):
            setting += f", {params['n_images']} images per design"
        row = Row(paper_setting, paper_text, setting, f"{_num(eff)} [{_num(low)}, {_num(high)}]",
                  judge((low, high), claim), "; ".join(caveat), value=float(eff), ci=(float(low), float(high)),
                  headline=stat == "brightness", flagged=model in FLAGGED)
        out.append(_Setting(model, stat, label, claim, row))
    return out, ran


def _takeaway(verdict: str, row: Row | None, claim: Claim | None) -> str:
    """The chapter's finding in a few words, from its verdict and the row that carries it."""
    if verdict == base.NOT_RUN or row is None or claim is None:
        return "Antithetic noise was not measured here."
    if verdict == base.NOT_SHOWN:
        return "Antithetic pairs may shorten the intervals, but these samples cannot tell."
    if verdict == base.NOT_REPRODUCED:
        return "Antithetic pairs do not shorten the intervals here."
    if verdict == base.REPRODUCED:
        return "Antithetic pairs shorten the intervals as much as in the paper."
    side = beside(row.ci, claim) if row.ci is not None else 0
    if side < 0:
        return "Antithetic pairs shorten the intervals, but less than in the paper."
    if side > 0:
        return "Antithetic pairs shorten the intervals, more than in the paper."
    return "Antithetic pairs shorten some intervals but not others."


def summary(records: dict[str, Any], parameters: dict[str, Any] | None = None) -> Summary:
    """Finding 5 from its records: one row per model and statistic of blog Table 2 with the AMC efficiency
    against MC (95 % F-interval) beside the paper's value (its own model) or range (its four models) for that
    statistic, judged by the book's rules (:func:`antinb.findings.verdicts.judge`, no effect = an efficiency of
    1), and one row per paper model not run. A statistic whose numbers repeat another's on a model (brightness
    and pixel mean of a grayscale model) joins that statistic's row; rows of a model the book flags are marked.
    """
    settings, ran = _settings(records, parameters)
    rows = [s.row for s in settings]
    for model, rows_ in paper.TABLE2.items():
        if model not in ran:
            text = ", ".join(f"{st.replace('_', ' ')} {v[4]:.1f}" for st, v in rows_.items())
            rows.append(Row(paper.MODEL_LABELS.get(model, model), text, "", base.NOT_RUN, base.NOT_RUN,
                            paper_model=model))
    all_amc = [v[4] for rows_ in paper.TABLE2.values() for v in rows_.values()]
    claim = (f"antithetic noise gives much shorter confidence intervals than MC: AMC efficiency "
             f"{min(all_amc):.1f} to {max(all_amc):.1f} (blog Table 2)")
    out = Summary(5, TABLE.title, TABLE.chapter, claim, "AMC efficiency against MC", tuple(rows), ".1f")
    carrier = out.carrier()
    claim_of = next((s.claim for s in settings if s.row is carrier), None)
    return Summary(5, TABLE.title, TABLE.chapter, claim, "AMC efficiency against MC", tuple(rows), ".1f",
                   takeaway=_takeaway(out.verdict, carrier, claim_of))


def _predicted(rho: float) -> float:
    """The AMC efficiency ``1 / (1 + rho)`` that the within-pair correlation predicts."""
    return math.inf if rho <= -1.0 else 1.0 / (1.0 + rho)


#: Text style of the figures' titles and labels.
_STYLE = {"fontsize": 9}


# --------------------------------------------------------------------------- the interval study, presented

#: Labels of the interval study's targets (:data:`INTERVAL_TARGETS`) and designs.
INTERVAL_LABELS = {"odd": "odd-dominated, exp(S/2)", "near-linear": "near-linear, S + S²/10", "even": "even, S²",
                   "heavy": "heavy-tailed, exp(S)"}
_STUDY_LABELS = {"mc": "MC", "amc": "AMC", "kamc4": "K-AMC(K=4)"}


@dataclass(frozen=True)
class IntervalStudyResult(IntervalStudy, Result):
    """The interval study presented (:func:`interval_study`): records, table, figure and statement."""

    def records(self) -> dict[str, Any]:
        """The study's coverages under :data:`INTERVAL_COVERAGE`, with its number of repetitions."""
        out: dict[str, Any] = {fill(INTERVAL_REPS): self.reps}
        for (target, design, n, interval), r in self.rate.items():
            out[fill(INTERVAL_COVERAGE, target=target, design=design, n=n, interval=interval)] = r
        return out

    def table(self) -> pd.DataFrame:
        """Coverage per target and design (rows) and number of units (columns), t | skew-t in each cell."""
        rows = []
        for target, label in INTERVAL_LABELS.items():
            for design, dlabel in _STUDY_LABELS.items():
                row = {"target": label, "design": dlabel}
                for n in self.units:
                    row[f"{n} units"] = f"{self.rate[target, design, n, 't']:.3f} | {self.rate[target, design, n, 'skew-t']:.3f}"
                rows.append(row)
        return pd.DataFrame(rows).set_index(["target", "design"])

    def figure(self) -> plt.Figure:
        """Coverage against the number of units (log axis), a panel per target (two a row): t dashed, skew-t
        solid, a colour per design; the grey band is the range an exact interval's coverage falls in."""
        ncol = 2
        nrow = math.ceil(len(INTERVAL_LABELS) / ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(7.0, 2.3 * nrow + 0.8), sharey=True, sharex=True,
                                 squeeze=False, layout="constrained")
        for ax, (target, label) in zip(axes.flat, INTERVAL_LABELS.items()):
            ax.axhspan(*self.band, color="0.85", lw=0)
            ax.axhline(self.level, color="0.5", lw=0.6)
            for i, (design, dlabel) in enumerate(_STUDY_LABELS.items()):
                for interval, ls in (("t", "--"), ("skew-t", "-")):
                    ax.plot(self.units, [self.rate[target, design, n, interval] for n in self.units], ls=ls,
                            marker="o", ms=3, color=f"C{i}", label=f"{dlabel}, {interval}")
            ax.set_xscale("log", base=2)
            ax.set_xticks(self.units, [str(n) for n in self.units])
            ax.minorticks_off()
            ax.set_title(label, fontsize=9)
            ax.tick_params(labelsize=9)
        for ax in axes.flat[len(INTERVAL_LABELS):]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel("units", fontsize=9)
        for ax in axes[:, 0]:
            ax.set_ylabel("coverage", fontsize=9)
        axes[0, 0].set_ylim(min(0.75, min(self.rate.values()) - 0.01), 1.0)
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=9, frameon=False)
        return fig

    def statement(self) -> str:
        """What the study shows at the smallest number of units, in one paragraph of markdown."""
        n = min(self.units)
        skewed = [("odd", "amc"), ("even", "mc"), ("even", "amc"), ("odd", "kamc4")]
        cells = "; ".join(f"{INTERVAL_LABELS[t]} {_STUDY_LABELS[d]}: t {self.rate[t, d, n, 't']:.3f}, "
                          f"skew-t {self.rate[t, d, n, 'skew-t']:.3f}" for t, d in skewed)
        heavy = [self.rate["heavy", d, n, "skew-t"] for d in _STUDY_LABELS]
        lengths = [self.length[t, d, n] for t, d in skewed]
        big = max(self.units)
        return (f"**Intervals with few units** ({self.reps:,} repetitions per cell; an exact interval's coverage "
                f"falls in [{self.band[0]:.3f}, {self.band[1]:.3f}]). With {n} units on skewed units — {cells} — "
                f"the skew-t interval is {min(lengths):.1f} to {max(lengths):.1f} times as long as the t-interval "
                f"(median). On the heavy-tailed target even skew-t covers only {min(heavy):.3f} to "
                f"{max(heavy):.3f} with {n} units. With {big} units both intervals cover "
                f"{min(v for (_, _, m, _), v in self.rate.items() if m == big):.3f} to "
                f"{max(v for (_, _, m, _), v in self.rate.items() if m == big):.3f}.")


def interval_study(*, reps: int = 2000, units: Sequence[int] = _STUDY_UNITS, dim: int = 8, level: float = 0.95,
                   seed: int = 0) -> IntervalStudyResult:
    """:func:`measure_intervals` presented: how often each interval of :mod:`antinb.stats` covers the exact
    mean of a closed-form statistic (no model involved)."""
    return base.presented(IntervalStudyResult, measure_intervals(reps=reps, units=units, dim=dim, level=level, seed=seed))


# --------------------------------------------------------------------------- chapter 5, presented


@dataclass(frozen=True)
class UncertaintyResult(UncertaintyMeasurements, Result):
    """Everything chapter 5 shows and records, computed from its measurements alone (:func:`present`); the
    interval study, ``intervals``, is an :class:`IntervalStudyResult` here.
    """

    # ------------------------------------------------------------------ records
    def records(self) -> dict[str, Any]:
        """Every number of the chapter under its record name (each recorded once)."""
        out: dict[str, Any] = {}
        for (m, s), ratio in self.spread.items():
            out[fill(SPREAD_RATIO, model=m, stat=s)] = ratio
        for m in self.models:
            for s in self.statistics:
                out[fill(RHO, model=m, stat=s)] = self.rho[m, s]
                for d in self.designs:
                    e = self.estimates[m, s, d.slug]
                    out[fill(CI_LENGTH, model=m, stat=s, method=d.slug)] = e.length
                    out[fill(ESTIMATE, model=m, stat=s, method=d.slug)] = e.estimate
                    if d.slug == "mc":
                        continue
                    eff = self.efficiency[m, s, d.slug]
                    out[fill(EFFICIENCY, model=m, stat=s, method=d.slug)] = eff.value
                    out[fill(EFFICIENCY_CI, model=m, stat=s, method=d.slug)] = [eff.low, eff.high]
                    out[fill(EFF_VS_N, model=m, stat=s, method=d.slug)] = {
                        str(n): e_n.value for n, e_n in self.curve[m, s, d.slug]}
        c = self.coverage
        if c is not None:
            for (slug, s), rate in c.rate.items():
                out[fill(COVERAGE, method=slug, stat=s)] = rate
            out[fill(COVERAGE_REPS)] = c.reps
            out[fill(COVERAGE_BAND)] = list(c.band)
            for st, rate in c.cv_rate.items():
                out[fill(CV_COVERAGE, stat=st)] = rate
        r = self.resampled
        if r is not None:
            out[fill(COVERAGE_RESAMPLED_REPS)] = r.reps
            for (m, st, slug, interval, u), rate in r.rate.items():
                out[fill(COVERAGE_RESAMPLED, model=m, stat=st, method=slug, interval=interval, units=u)] = rate
        for (m, st), cv in self.cv.items():
            out[fill(CV_EFFICIENCY, model=m, stat=st)] = cv.efficiency.value
            out[fill(CV_EFFICIENCY_CI, model=m, stat=st)] = [cv.efficiency.low, cv.efficiency.high]
            out[fill(CV_GAIN, model=m, stat=st)] = cv.gain
            out[fill(CV_R2, model=m, stat=st)] = cv.estimate.r_squared
            out[fill(CV_P, model=m, stat=st)] = cv.p
        if self.intervals is not None:
            out.update(base.presented(IntervalStudyResult, self.intervals).records())
        return out

    # ------------------------------------------------------------------ statistics counted once
    def repeats(self, model: str) -> dict[str, str]:
        """``{statistic: the statistic it repeats}`` on ``model`` (:func:`twins` of every design's estimate and
        interval length): such a statistic is shown as its twin's and counted once."""
        return twins({s: [x for d in self.designs for x in (self.estimates[model, s, d.slug].estimate,
                                                             self.estimates[model, s, d.slug].length)]
                      for s in self.statistics})

    def counted(self, model: str) -> tuple[str, ...]:
        """The statistics of ``model`` counted once (a repeat of an earlier statistic left out)."""
        rep = self.repeats(model)
        return tuple(s for s in self.statistics if s not in rep)

    def coverage_repeats(self) -> dict[str, str]:
        """:func:`twins` of the coverage check's statistics (its reference values and coverages)."""
        c = self.coverage
        if c is None:
            return {}
        return twins({s: [*c.reference[s], *(c.rate[d.slug, s] for d in self.designs), c.rate["all", s],
                          *([c.cv_rate[s]] if s in c.cv_rate else [])] for s in self.statistics})

    def _label(self, model: str, stat: str) -> str:
        return joined_label(stat, self.repeats(model))

    def repeats_statement(self) -> str:
        """Which statistics repeat another's numbers on which models (detected from the measured values), in a
        sentence; ``""`` when none does."""
        pairs: dict[tuple[str, str], list[str]] = {}
        for m in self.models:
            for s, t in self.repeats(m).items():
                pairs.setdefault((s, t), []).append(m)
        if not pairs:
            return ""
        parts = [f"on {' and '.join(ms)} {stat_label(s)} gives exactly the numbers of {stat_label(t)}"
                 for (s, t), ms in pairs.items()]
        why = (" (for a grayscale image the mean luminance is the pixel mean)"
               if {frozenset(k) for k in pairs} == {frozenset(("brightness", "pixel_mean"))} else "")
        first = next(iter(pairs))[1]
        return (f"Two statistics can be one: {'; '.join(parts)}{why}. The tables show such a cell as "
                f"“= {stat_label(first)}”, and every count in this chapter takes the statistic once.")

    # ------------------------------------------------------------------ control variates
    def cv_gain(self, model: str, stat: str) -> tuple[float, float, float]:
        """The gain of AMC with control variates over AMC alone, ``(L_AMC / L_CV)^2``, with its ``level``
        interval: ``(gain, low, high)`` (:func:`cv_gain_interval`)."""
        cv = self.cv[model, stat]
        return (cv.gain, *cv_gain_interval(cv, self.level))

    def cv_outcome(self) -> tuple[str, list[tuple[str, str]], list[tuple[str, str]]]:
        """Beyond the paper: does AMC with control variates beat AMC? ``(outcome, gains, losses)`` over the
        model-statistic cells (each counted once, the even control left out): *holds* when every cell's gain
        interval lies above 1, *fails* when none does, *mixed* otherwise (the book's rules, no effect = 1)."""
        cells = [(m, s) for m in self.models for s in self.counted(m) if s != EVEN_STATISTIC and (m, s) in self.cv]
        judged = {k: judge(self.cv_gain(*k)[1:], _GAIN) for k in cells}
        gains = [k for k in cells if judged[k] == base.REPRODUCED]
        losses = [k for k in cells if judged[k] == base.NOT_REPRODUCED]
        outcome = "holds" if cells and len(gains) == len(cells) else "fails" if not gains else "mixed"
        return outcome, gains, losses

    def cv_table(self) -> pd.DataFrame:
        """Per model and statistic (a repeat counted once): efficiency against MC of AMC with control variates
        (95 % interval; AMC's own is in :meth:`table`), the share R² of the pair means' variance the controls
        explain, and the gain over AMC with its 95 % interval (``*``: the interval lies above 1)."""
        rows = []
        for m in self.models:
            for st in self.counted(m):
                if (m, st) not in self.cv:
                    continue
                cv = self.cv[m, st]
                g, lo, hi = self.cv_gain(m, st)
                star = " *" if judge((lo, hi), _GAIN) == base.REPRODUCED else ""
                rows.append({"model": m + flag(m), "statistic": self._label(m, st), "AMC + CV": str(cv.efficiency),
                             "R²": f"{cv.estimate.r_squared:.2f}",
                             "gain over AMC": f"{g:.2f} [{lo:.2f}, {hi:.2f}]{star}"})
        return pd.DataFrame(rows).set_index(["model", "statistic"]) if rows else pd.DataFrame()

    def cv_statement(self) -> str:
        """Does AMC with control variates beat AMC, and does it cover? One paragraph of markdown."""
        if not self.cv:
            return "AMC with control variates was not run."
        outcome, gains, losses = self.cv_outcome()
        cells = [(m, s) for m in self.models for s in self.counted(m) if s != EVEN_STATISTIC and (m, s) in self.cv]
        per = "one control" if self.cv_frequencies == 1 else f"{self.cv_frequencies} controls"

        def cell(k: tuple[str, str]) -> str:
            g, lo, hi = self.cv_gain(*k)
            return f"{k[0]}{flag(k[0])} {self._label(*k)} ×{g:.2f} [{lo:.2f}, {hi:.2f}]"

        text = (f"**A design that beats AMC? Beyond the paper: {outcome}.** With {per} per noise channel (the "
                f"squared lowest DCT coefficients of the pair's noise), the gain over AMC alone has a 95 % interval "
                f"above 1 in {len(gains)} of {len(cells)} model-statistic cells"
                + (": " + "; ".join(cell(k) for k in gains) if gains else "")
                + (f"; below 1 in {len(losses)}: " + "; ".join(cell(k) for k in losses) if losses else "") + ". ")
        even = [(m, EVEN_STATISTIC) for m in self.models if (m, EVEN_STATISTIC) in self.cv
                and judge(self.cv_gain(m, EVEN_STATISTIC)[1:], _GAIN) == base.REPRODUCED]
        if even:
            text += (f"On the even control ({stat_label(EVEN_STATISTIC)}) it gains on "
                     + "; ".join(cell(k) for k in even) + ". ")
        c = self.coverage
        if c is not None and c.cv_rate:
            rep = self.coverage_repeats()
            rates = [v for s, v in c.cv_rate.items() if s not in rep]
            text += (f"Its intervals cover {min(rates):.3f} to {max(rates):.3f} in the coverage check ({c.model}, "
                     f"{c.reps} repetitions of {c.n // 2} pairs; exact intervals: [{c.band[0]:.3f}, "
                     f"{c.band[1]:.3f}]). ")
        if not gains:
            text += ("The controls explain too little of the pair means' variance to pay for the degrees of "
                     "freedom they cost: on these models the even part of a statistic does not follow the "
                     "energy of the noise's lowest frequencies.")
        return text.strip()

    # ------------------------------------------------------------------ flags
    def spread_flagged(self) -> dict[str, float]:
        """Models whose generated spread of some statistic is below ``SPREAD_FLAG_BELOW`` of the
        data's, with that smallest ratio (models without a card are not flagged)."""
        worst: dict[str, float] = {}
        for (m, _), ratio in self.spread.items():
            worst[m] = min(ratio, worst.get(m, math.inf))
        return {m: r for m, r in worst.items() if r < SPREAD_FLAG_BELOW}

    def spread_statement(self) -> str:
        """Which models generate under half the data's spread of which statistics, in a sentence."""
        if not self.spread:
            return "No model card gives the data's spread, so no model is checked."
        flagged = self.spread_flagged()
        if not flagged:
            return (f"Every model generates at least {SPREAD_FLAG_BELOW:.0%} of the data's spread of every "
                    "statistic.")
        parts = []
        for m in flagged:
            low = ", ".join(f"{stat_label(st)} ({r:.2f})" for (mm, st), r in self.spread.items()
                            if mm == m and r < SPREAD_FLAG_BELOW)
            parts.append(f"{m}{flag(m)} generates under half the data's spread of the {low}")
        its = "Its" if len(parts) == 1 else "Their"
        return ("; ".join(parts) + f". {its} efficiencies are reported below, but they describe a sampler, not "
                "the data, and are no evidence about natural images.")

    # ------------------------------------------------------------------ tables
    def spread_table(self) -> pd.DataFrame:
        """Generated / real standard deviation per model (rows) and statistic (columns), from the cards."""
        if not self.spread:
            return pd.DataFrame()
        df = pd.Series(self.spread).unstack().round(2)
        flagged = self.spread_flagged()
        df["flag"] = ["spread off" if m in flagged else "" for m in df.index]
        df.index = [m + flag(m) for m in df.index]
        df.columns = [stat_label(c) if c != "flag" else c for c in df.columns]
        df.index.name, df.columns.name = "model", None
        return df

    def table(self) -> pd.DataFrame:
        """The Table-2 analogue, long so that it fits a page column: one row per statistic and design,
        one column per model; each cell the efficiency against MC with its 95 % F-interval (``= brightness``
        where the model's numbers repeat those of an earlier statistic). A first row per statistic gives
        ``rho``, the within-pair correlation of the AMC values, with the AMC efficiency it predicts,
        ``1/(1+rho)``, in parentheses."""
        rows = {}
        rep = {m: self.repeats(m) for m in self.models}

        def cell(m: str, s: str, text: str) -> str:
            return f"= {stat_label(rep[m][s])}" if s in rep[m] else text

        for s in self.statistics:
            rows[stat_label(s), "ρ (1/(1+ρ))"] = {
                m + flag(m): cell(m, s, f"{self.rho[m, s]:+.2f} ({_num(_predicted(self.rho[m, s]))})")
                for m in self.models}
            for d in self.designs:
                if d.slug != "mc":
                    rows[stat_label(s), d.label] = {m + flag(m): cell(m, s, str(self.efficiency[m, s, d.slug]))
                                                    for m in self.models}
        df = pd.DataFrame.from_dict(rows, orient="index")
        df.index.names = ["statistic", "efficiency vs MC"]
        return df

    def versus_paper(self) -> pd.DataFrame:
        """Efficiencies beside the paper's (blog Table 2, read through :func:`paper_records`): one row
        per design and setting (the paper's models, then ours, a model the book flags marked †; our RQMC
        beside the paper's QMC), one column per statistic the paper reports (its "centroid" beside our
        centroid distance); ours with the 95 % F-interval. Only efficiencies: CI lengths are on different
        scales and sample sizes. The paper's settings without a number for a design are left out."""
        pr = paper_records()
        cols = [s for s in self.statistics if s in _PAPER_STAT]
        header = {s: _PAPER_STAT[s].replace("_", " ") for s in cols}
        rows = {}
        for slug, design in (("amc", "AMC"), ("rqmc", "QMC")):
            if not any(d.slug == slug for d in self.designs):
                continue
            for pm in paper.TABLE2:
                vals = {header[s]: pr.get(fill(EFFICIENCY, model=pm, stat=_PAPER_STAT[s], method=slug)) for s in cols}
                if any(v is not None for v in vals.values()):
                    label = paper.MODEL_LABELS.get(pm, pm).split(" (")[0]
                    rows[design, f"paper: {label}"] = {k: "—" if v is None else _num(v) for k, v in vals.items()}
            for m in self.models:
                rep = self.repeats(m)
                rows[design, f"ours: {m}{flag(m)}"] = {
                    header[s]: f"= {header.get(rep[s], stat_label(rep[s]))}" if s in rep
                    else str(self.efficiency[m, s, slug]) for s in cols}
        df = pd.DataFrame.from_dict(rows, orient="index")
        df.index.names = ["design", "setting"]
        return df

    def coverage_table(self) -> pd.DataFrame:
        """Empirical coverage per statistic (rows; a repeat of another statistic joins its row) and design
        (columns, ``pooled``: every design)."""
        c = self.coverage
        if c is None:
            return pd.DataFrame()
        # AMC with control variates (when checked) stands beside the designs, not pooled with them
        labels = {d.slug: d.label for d in self.designs} | ({"cv": "AMC + CV"} if c.cv_rate else {}) | {"all": "pooled"}
        rep = self.coverage_repeats()
        kept = [s for s in self.statistics if s not in rep]
        cells = {(s, labels[slug]): v for (slug, s), v in c.rate.items() if s in kept}
        cells.update({(s, labels["cv"]): v for s, v in c.cv_rate.items() if s in kept})
        df = pd.Series(cells).unstack()
        df = df[[labels[k] for k in labels]].loc[kept].round(3)
        df.index = [joined_label(s, rep) for s in kept]
        df.index.name, df.columns.name = "statistic", None
        return df

    # ------------------------------------------------------------------ figures
    def _colors(self) -> dict[str, Any]:
        palette = plt.get_cmap("tab10")
        return {d.slug: palette(i) for i, d in enumerate(self.designs)}

    def figure(self) -> plt.Figure:
        """Efficiency against MC with 95 % F-intervals: one panel per model (at most 3 a row), statistics
        down, log scale."""
        others = [d for d in self.designs if d.slug != "mc"]
        ncol = min(3, len(self.models))
        nrow = math.ceil(len(self.models) / ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(7.0, 0.5 * len(self.statistics) * nrow + 1.4),
                                 sharey=True, sharex=True, squeeze=False, layout="constrained")
        colors = self._colors()
        y = np.arange(len(self.statistics))
        offsets = np.linspace(-0.3, 0.3, len(others))
        for ax, m in zip(axes.flat, self.models):
            for d, off in zip(others, offsets):
                effs = [self.efficiency[m, s, d.slug] for s in self.statistics]
                v = np.array([e.value for e in effs])
                err = np.array([[e.value - e.low for e in effs], [e.high - e.value for e in effs]])
                ax.errorbar(v, y + off, xerr=np.clip(err, 0, None), fmt="o", ms=3.5, lw=1, capsize=0,
                            color=colors[d.slug], label=d.label)
            ax.axvline(1.0, color="gray", lw=0.8, ls="--")
            ax.set_xscale("log")
            ax.set_title(m + flag(m), **_STYLE)
            ax.tick_params(labelsize=9)
            ax.set_xlabel("efficiency vs MC", **_STYLE)
        for ax in axes.flat[len(self.models):]:
            ax.set_visible(False)
        axes[0, 0].set_yticks(y, [stat_label(s) for s in self.statistics])
        axes[0, 0].invert_yaxis()
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=len(others), fontsize=9, frameon=False)
        return fig

    def budget_figure(self, statistic: str = "brightness") -> plt.Figure:
        """Efficiency of one statistic against the number of generated images (nested prefixes of
        the runs), with 95 % F-intervals, one panel per model, log-log."""
        if statistic not in self.statistics:
            raise ValueError(f"statistic={statistic!r} was not measured; measured: {list(self.statistics)}")
        others = [d for d in self.designs if d.slug != "mc"]
        ncol = min(3, len(self.models))
        nrow = math.ceil(len(self.models) / ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(7.0, 2.4 * nrow + 0.7), sharex=True, squeeze=False,
                                 layout="constrained")
        colors = self._colors()
        shift = np.linspace(-0.08, 0.08, len(others))
        for ax, m in zip(axes.flat, self.models):
            for d, sh in zip(others, shift):
                pts = self.curve[m, statistic, d.slug]
                n = np.array([p[0] for p in pts], dtype=float) * 2.0 ** sh
                v = np.array([p[1].value for p in pts])
                err = np.array([[p[1].value - p[1].low for p in pts], [p[1].high - p[1].value for p in pts]])
                ax.errorbar(n, v, yerr=np.clip(err, 0, None), marker="o", ms=3.5, lw=1, capsize=0,
                            color=colors[d.slug], label=d.label)
            ax.axhline(1.0, color="gray", lw=0.8, ls="--")
            ax.set(xscale="log", yscale="log")
            # the axis follows the estimates (and 1); a bound of a point with 2 units may run off it
            pts = [p[1].value for d in others for p in self.curve[m, statistic, d.slug] if math.isfinite(p[1].value)]
            if pts:
                ax.set_ylim(min(min(pts), 1.0) / 4, max(max(pts), 1.0) * 4)
            ax.set_xticks(self.budgets, [str(b) for b in self.budgets])
            ax.minorticks_off()
            ax.tick_params(labelsize=9)
            ax.set_title(m + flag(m), **_STYLE)
            ax.set_xlabel("images per design", **_STYLE)
        for ax in axes.flat[len(self.models):]:
            ax.set_visible(False)
        axes[0, 0].set_ylabel(f"{stat_label(statistic)}: efficiency vs MC", **_STYLE)
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=len(others), fontsize=9, frameon=False)
        return fig

    def coverage_figure(self) -> plt.Figure | None:
        """Empirical coverage per statistic (a repeat counted once) and design, with the range a true
        ``level`` would give."""
        c = self.coverage
        if c is None:
            return None
        rep = self.coverage_repeats()
        kept = [s for s in self.statistics if s not in rep]
        fig, ax = plt.subplots(figsize=(7.0, 3.4), layout="constrained")
        colors = self._colors()
        x = np.arange(len(kept))
        offsets = np.linspace(-0.3, 0.3, len(self.designs))
        ax.axhspan(*c.band, color="gray", alpha=0.2, lw=0, label=f"95 % range for {c.reps} exact intervals")
        ax.axhline(c.level, color="k", lw=0.8)
        for d, off in zip(self.designs, offsets):
            ax.plot(x + off, [c.rate[d.slug, s] for s in kept], "o", ms=4, color=colors[d.slug], label=d.label)
        if c.cv_rate:
            ax.plot(x + 0.4, [c.cv_rate[s] for s in kept], "x", ms=5, color="k", label="AMC + CV")
        names = [(lambda t: t.replace(" = ", "\n= ") if " = " in t else t.replace(" ", "\n", 1))(joined_label(s, rep))
                 for s in kept]
        ax.set_xticks(x, names)
        ax.set_ylim(min(0.5, min([*c.rate.values(), *c.cv_rate.values()]) - 0.05), 1.02)
        ax.set_ylabel("coverage", **_STYLE)
        ax.tick_params(labelsize=9)
        ax.set_title(f"{c.model}, DDIM-{c.steps}: {c.reps} repetitions of {c.n} images per design", **_STYLE)
        fig.legend(loc="outside lower center", ncol=4, fontsize=9, frameon=False)
        return fig

    # ------------------------------------------------------------------ summaries
    def budget_summary(self, statistic: str = "brightness") -> str:
        """One sentence per design family: the efficiency of ``statistic`` at the smallest and the
        largest budget of the curve, per model, with 95 % intervals."""
        lo, hi = self.budgets[0], self.budgets[-1]
        parts = []
        for slug in ("amc", "rqmc"):
            if not any(d.slug == slug for d in self.designs):
                continue
            label = next(d.label for d in self.designs if d.slug == slug)
            per = "; ".join(f"{m}{flag(m)} {dict(self.curve[m, statistic, slug])[lo]} → "
                            f"{dict(self.curve[m, statistic, slug])[hi]}" for m in self.models)
            parts.append(f"{label}: {per}")
        return (f"Efficiency of {stat_label(statistic)} (95 % intervals) from {lo} to {hi} images per design, "
                f"DDIM-{self.steps}. " + ". ".join(parts) + ".")

    def _resampled_cells(self) -> dict[tuple[str, str, str, str, int], float]:
        """The resampled coverages, a statistic repeating another on its model left out."""
        r = self.resampled
        rep = {m: self.repeats(m) for m in self.models}
        return {k: v for k, v in r.rate.items() if k[1] not in rep.get(k[0], {})}

    def resampled_table(self) -> pd.DataFrame:
        """The resampled coverage check per design (rows) and interval and unit count (columns): the median
        over every model and statistic (each counted once), with the lowest and the highest."""
        r = self.resampled
        if r is None:
            return pd.DataFrame()
        cells = self._resampled_cells()
        rows = {}
        for d in self.designs:
            row = {}
            for interval in ("t", "skew-t"):
                for u in r.units:
                    v = np.array([x for (m, s, slug, i, n), x in cells.items() if slug == d.slug and i == interval
                                  and n == u])
                    row[f"{interval}, {u} units"] = f"{np.median(v):.3f} ({v.min():.2f}–{v.max():.2f})"
            rows[d.label] = row
        df = pd.DataFrame.from_dict(rows, orient="index")
        df.index.name = "design"
        return df

    def resampled_statement(self) -> str:
        """How many model-statistic-design cells (a repeat counted once) each interval keeps within or above the
        range of an exact interval, per unit count, and the lowest coverage."""
        r = self.resampled
        if r is None:
            return "The resampled coverage check was not run."
        cells = self._resampled_cells()
        label = {d.slug: d.label for d in self.designs}
        parts = []
        for u in r.units:
            counts = []
            for interval in ("t", "skew-t"):
                v = {k: x for k, x in cells.items() if k[3] == interval and k[4] == u}
                ok = sum(x >= r.band[0] for x in v.values())
                m, s, slug, *_ = min(v, key=v.get)
                counts.append(f"{interval} {ok} of {len(v)} (lowest {min(v.values()):.3f}: {label[slug]} on "
                              f"{m}{flag(m)}, {self._label(m, s)})")
            parts.append(f"with {u} units, " + "; ".join(counts))
        return (f"**Resampled coverage** ({r.reps:,} repetitions per cell; an exact {r.level * 100:.0f} % interval's "
                f"coverage falls in [{r.band[0]:.3f}, {r.band[1]:.3f}]). Model-statistic-design cells within or "
                f"above that range: " + "; ".join(parts) + ".")

    def coverage_summary(self) -> str:
        """How many coverages (a repeated statistic counted once) lie within or above the range of exact
        intervals, and the lowest pooled one."""
        c = self.coverage
        if c is None:
            return "The coverage check was not run."
        rep = self.coverage_repeats()
        own = {(slug, s): v for (slug, s), v in c.rate.items() if slug != "all" and s not in rep}
        pooled = {s: v for (slug, s), v in c.rate.items() if slug == "all" and s not in rep}
        inside = sum(v >= c.band[0] for v in own.values())
        slug, s = min(own, key=own.get)
        label = {d.slug: d.label for d in self.designs}[slug]
        return (f"**Coverage** ({c.model}, DDIM-{c.steps}, {c.reps} repetitions of {c.n} images per design): "
                f"{inside} of {len(own)} design-statistic coverages lie within or above the range "
                f"[{c.band[0]:.3f}, {c.band[1]:.3f}] of exact {c.level * 100:.0f} % intervals (lowest "
                f"{own[slug, s]:.3f}: {label} on {joined_label(s, rep)}); pooled over the designs the lowest is "
                f"{min(pooled.values()):.3f}, against the range [{c.pooled_band[0]:.3f}, {c.pooled_band[1]:.3f}] "
                f"of {c.reps * len(self.designs)} intervals.")

    # ------------------------------------------------------------------ verdict
    def worse(self, slug: str = "amc") -> list[tuple[str, str]]:
        """The model-statistic cells (a repeat counted once) where design ``slug`` is significantly worse than
        MC: its efficiency's interval lies below 1."""
        return [(m, s) for m in self.models for s in self.counted(m) if self.efficiency[m, s, slug].high < 1]

    def verdict_table(self) -> str:
        """The summary's settings as a compact markdown table: model, statistic, our AMC efficiency with its
        95 % interval, the paper's value or range, and the verdict (a flagged model marked †)."""
        settings, _ = _settings(self.records())
        lines = ["| model | statistic | AMC efficiency [95 %] | paper | verdict |", "|---|---|---|---|---|"]
        for s in settings:
            lines.append(f"| {s.model}{flag(s.model)} | {s.label} | {s.row.ours} | {s.row.paper} | {s.row.verdict} |")
        return "\n".join(lines)

    def verdict(self) -> str:
        """The chapter's verdict: one quotable sentence (the takeaway, the verdict, the number that carries it
        with its interval and setting), the table of every setting, and a short paragraph on why and what
        limits it."""
        params = {"ddim_steps": self.steps, "n_images": self.n_images}
        s = summary(self.records(), params)
        row = s.carrier()
        if row is None:
            return f"{base.headline(s.verdict)} No model was measured."
        settings, _ = _settings(self.records(), params)
        carrier = next(x for x in settings if x.row is row or x.row.our_setting == row.our_setting)
        model, stat = carrier.model, carrier.stat
        first = (f"{base.headline(s.verdict)} {s.takeaway[:-1]}: AMC's efficiency for {stat_label(stat)} is "
                 f"{row.ours} ({model}{flag(model)}, DDIM-{self.steps}, {self.n_images} images per design) "
                 + (f"against the paper's {row.paper} ({row.paper_setting.split(' (')[0]})."
                    if carrier.claim.low == carrier.claim.high else f"against {row.paper} in the paper."))
        out = [first, "", self.verdict_table()]
        if any(x.row.flagged for x in settings):
            out += ["", "† " + "; ".join(f"{m}: {why}" for m, why in FLAGGED.items()
                                         if any(x.model == m for x in settings)) + "."]
        # why, and what limits it (at most ~150 words)
        unflagged = [m for m in self.models if m not in FLAGGED and (m, stat) in self.rho]
        why = [f"AMC's efficiency is about 1/(1+ρ), with ρ the correlation of a statistic between the images of "
               f"z and −z; for {stat_label(stat)} ρ is "
               + ", ".join(f"{_signed(self.rho[m, stat])} ({m})" for m in unflagged)]
        same = [x for x in settings if x.stat == stat and not x.row.flagged]
        if same and all(x.row.ci[1] < x.claim.low for x in same):
            why[-1] += (f", while the paper's smallest, {carrier.claim.low:.1f}, needs ρ ≤ "
                        f"{_signed(1.0 / carrier.claim.low - 1.0, '+.3f')}")
        why[-1] += "."
        worse = self.worse("amc")
        if worse:
            why.append(f"AMC is worse than MC (interval below 1) in {len(worse)} of "
                       f"{sum(len(self.counted(m)) for m in self.models)} model-statistic cells: "
                       + "; ".join(f"{m}{flag(m)} {self._label(m, st)} {self.efficiency[m, st, 'amc']} "
                                   f"(ρ {_signed(self.rho[m, st])})" for m, st in worse) + ".")
        if self.cv:
            outcome, gains, _ = self.cv_outcome()
            n = sum(1 for m in self.models for st in self.counted(m) if st != EVEN_STATISTIC and (m, st) in self.cv)
            why.append(f"Beyond the paper, control variates on AMC's own noise: **{outcome}** (a gain in "
                       f"{len(gains)} of {n} cells).")
        if self.coverage is not None:
            c = self.coverage
            rep = self.coverage_repeats()
            own = [v for (slug, st), v in c.rate.items() if slug != "all" and st not in rep]
            why.append(f"The intervals covered at or above the exact range in {sum(v >= c.band[0] for v in own)} "
                       f"of {len(own)} checks ({c.model}, {c.reps} repetitions).")
        spread = {m: r for m, r in self.spread_flagged().items() if m not in FLAGGED}
        if spread:
            why.append("Caveat: " + ", ".join(f"{m} (generated/real sd down to {r:.2f})" for m, r in spread.items())
                       + " generates under half the data's spread, so its efficiencies describe its sampler.")
        why.append("Our models are small and briefly trained; the F-intervals assume normal units.")
        return "\n".join(out) + "\n\n" + " ".join(why)


def _signed(x: float, fmt: str = "+.2f") -> str:
    """``x`` with its sign and a typographic minus."""
    return format(float(x), fmt).replace("-", "−")


def _gain_bound(f_obs: float, q: int, df: int, p: float) -> float:
    """The noncentrality ``lam >= 0`` at which ``f_obs`` is the ``p`` quantile of the noncentral
    ``F(q, df, lam)`` (0 when even the central distribution puts ``f_obs`` below it)."""
    from scipy.optimize import brentq

    def cdf(lam: float) -> float:
        return float(sps.f.cdf(f_obs, q, df)) if lam <= 0 else float(sps.ncf.cdf(f_obs, q, df, lam))

    if cdf(0.0) <= p:
        return 0.0
    hi = max(1.0, q * f_obs)
    while cdf(hi) > p:
        hi *= 2.0
    return float(brentq(lambda lam: cdf(lam) - p, 0.0, hi, xtol=1e-10, rtol=1e-10))


def cv_gain_interval(cv: ControlVariates, level: float = 0.95) -> tuple[float, float]:
    """The ``level`` interval of the gain of AMC with control variates over AMC alone, ``(L_AMC / L_CV)^2``.

    Both lengths come from the same ``m`` pair means, so the two variances are not independent. Given the ``q``
    controls drawn, the regression's F statistic ``(R^2 / q) / ((1 - R^2) / (m - q - 1))`` is noncentral
    ``F(q, m - q - 1, lam)`` for normal residuals, and the pair means' variance over the residual variance is
    ``1 + lam / (m - 1)``; the gain is that ratio times a constant fixed by the controls and the t quantiles
    (``gain / observed ratio``). Inverting the noncentral F for ``lam`` gives the interval, exact under those
    assumptions (widened to contain the observed gain where that falls below the constant); a gain whose
    interval lies above 1 is real, one of 0.99 never is."""
    est = cv.estimate
    m, q, df, r2 = est.n_units, est.n_controls, est.df, est.r_squared
    if not math.isfinite(cv.gain) or r2 >= 1.0 or df < 1:
        return (cv.gain, cv.gain)
    ratio = (df / (m - 1)) / (1.0 - r2)  # the pair means' sample variance over the residual variance
    c = cv.gain / ratio
    f_obs = (r2 / q) / ((1.0 - r2) / df)
    a = (1.0 - level) / 2.0
    lam_lo, lam_hi = _gain_bound(f_obs, q, df, 1.0 - a), _gain_bound(f_obs, q, df, a)
    low, high = c * (1.0 + lam_lo / (m - 1)), c * (1.0 + lam_hi / (m - 1))
    # the controls cannot lengthen the interval beyond c in expectation, but an observed gain can fall below c
    # (controls explaining less than chance would); the interval is then widened to contain it
    return (min(low, cv.gain), max(high, cv.gain))


#: The question of :meth:`UncertaintyResult.cv_outcome`: a gain over AMC, an efficiency above 1 (no effect: 1).
_GAIN = Claim(1.0, math.inf, null=1.0)


def present(measurements: UncertaintyMeasurements) -> UncertaintyResult:
    """The presentation of finding 5's measurements (no network evaluation)."""
    return base.presented(UncertaintyResult, measurements,
                          intervals=base.presented(IntervalStudyResult, measurements.intervals))


def run(*args: Any, **kwargs: Any) -> UncertaintyResult:
    """``present(measure(Params(*args, **kwargs)))``: measure and present in one call."""
    return present(measure(Params(*args, **kwargs)))
