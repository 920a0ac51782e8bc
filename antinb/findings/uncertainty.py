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


def summary(records: dict[str, Any], parameters: dict[str, Any] | None = None) -> Summary:
    """Finding 5 from its records: one row per model and statistic of blog Table 2 with the AMC efficiency
    against MC (95 % F-interval) beside the paper's range for that statistic, and one row per paper
    model not run.

    A row is *reproduced* when the interval lies above 1 and reaches the paper's range (and the model
    reproduces the data's spread), *partly* when it lies above 1 only, *not reproduced* when it lies
    below the paper's range without a significant gain, and *not shown at this sample size* otherwise.
    """
    params = parameters or {}
    rx = template_regex(EFFICIENCY)
    spread: dict[str, float] = {}
    for name, value in records.items():
        m = template_regex(SPREAD_RATIO).match(name)
        if m:
            spread[m["model"]] = min(float(value), spread.get(m["model"], math.inf))
    rows, ran = [], set()
    for name, eff in records.items():
        m = rx.match(name)
        if not m or m["method"] != "amc" or m["stat"] not in _PAPER_STAT:
            continue
        model, stat = m["model"], m["stat"]
        theirs = {pm: rows_[_PAPER_STAT[stat]][4] for pm, rows_ in paper.TABLE2.items()
                  if _PAPER_STAT[stat] in rows_}
        pk = base.paper_model(model, paper.TABLE2)
        if pk in theirs:
            ran.add(pk)
            paper_setting, paper_text = paper.MODEL_LABELS[pk], f"{theirs[pk]:.1f}"
            pmin = pmax = theirs[pk]
        else:
            pmin, pmax = min(theirs.values()), max(theirs.values())
            paper_setting, paper_text = "blog Table 2, 4 models", f"{pmin:.1f} to {pmax:.1f}"
        low, high = records[fill(EFFICIENCY_CI, model=model, stat=stat, method="amc")]
        flagged = spread.get(model, math.inf) < SPREAD_FLAG_BELOW
        gain, in_range = low > 1, high >= pmin and low <= pmax
        verdict = (base.REPRODUCED if gain and in_range and not flagged else base.PARTLY if gain else
                   base.NOT_REPRODUCED if high < pmin else base.NOT_SHOWN)
        caveat = []
        if flagged:
            caveat.append(f"{model} does not reproduce the data's spread (generated/real sd down to "
                          f"{spread[model]:.2f}): not comparable")
        rho = records.get(fill(RHO, model=model, stat=stat))
        if rho is not None:
            caveat.append(f"ρ = {rho:+.2f}".replace("-", "−"))
        rq = fill(EFFICIENCY, model=model, stat=stat, method="rqmc")
        if rq in records:
            caveat.append(f"RQMC {base.ci_text(records[rq], records[fill(EFFICIENCY_CI, model=model, stat=stat, method='rqmc')], '.1f')}")
        setting = f"{model}, {stat}"
        if params.get("ddim_steps"):
            setting += f", DDIM-{params['ddim_steps']}"
        if params.get("n_images"):
            setting += f", {params['n_images']} images"
        rows.append(Row(paper_setting, paper_text, setting, base.ci_text(eff, (low, high), ".1f"), verdict,
                        "; ".join(caveat), value=float(eff), ci=(float(low), float(high)),
                        headline=stat == "brightness"))
    for model, rows_ in paper.TABLE2.items():
        if model not in ran:
            text = ", ".join(f"{st.replace('_', ' ')} {v[4]:.1f}" for st, v in rows_.items())
            rows.append(Row(paper.MODEL_LABELS.get(model, model), text, "", base.NOT_RUN, base.NOT_RUN,
                            paper_model=model))
    all_amc = [v[4] for rows_ in paper.TABLE2.values() for v in rows_.values()]
    claim = (f"antithetic noise gives much shorter confidence intervals than MC: AMC efficiency "
             f"{min(all_amc):.1f} to {max(all_amc):.1f} (blog Table 2)")
    return Summary(5, TABLE.title, TABLE.chapter, claim, "AMC efficiency against MC", tuple(rows), ".1f")


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
        """Coverage against the number of units (log axis), a panel per target: t dashed, skew-t solid,
        a colour per design; the grey band is the range an exact interval's coverage falls in."""
        fig, axes = plt.subplots(1, len(INTERVAL_LABELS), figsize=(7.0, 2.9), sharey=True,
                                 layout="constrained")
        for ax, (target, label) in zip(axes, INTERVAL_LABELS.items()):
            ax.axhspan(*self.band, color="0.85", lw=0)
            ax.axhline(self.level, color="0.5", lw=0.6)
            for i, (design, dlabel) in enumerate(_STUDY_LABELS.items()):
                for interval, ls in (("t", "--"), ("skew-t", "-")):
                    ax.plot(self.units, [self.rate[target, design, n, interval] for n in self.units], ls=ls,
                            marker="o", ms=3, color=f"C{i}", label=f"{dlabel}, {interval}")
            ax.set_xscale("log", base=2)
            ax.set_xticks(self.units, [str(n) for n in self.units])
            ax.minorticks_off()
            ax.set_title(label.replace(", ", "\n"), fontsize=9)
            ax.set_xlabel("units", fontsize=9)
            ax.tick_params(labelsize=8)
        axes[0].set_ylabel(f"coverage of {self.level:.0%} intervals", fontsize=9)
        axes[0].set_ylim(min(0.75, min(self.rate.values()) - 0.01), 1.0)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=8)
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


def _present_intervals(study: IntervalStudy | None) -> IntervalStudyResult | None:
    """The interval study's measurements presented (``None`` when it was skipped)."""
    if study is None or isinstance(study, IntervalStudyResult):
        return study
    return IntervalStudyResult(study.reps, study.level, study.units, study.band, study.rate, study.length)


def interval_study(*, reps: int = 2000, units: Sequence[int] = _STUDY_UNITS, dim: int = 8, level: float = 0.95,
                   seed: int = 0) -> IntervalStudyResult:
    """:func:`measure_intervals` presented: how often each interval of :mod:`antinb.stats` covers the exact
    mean of a closed-form statistic (no model involved)."""
    return _present_intervals(measure_intervals(reps=reps, units=units, dim=dim, level=level, seed=seed))


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
            out.update(_present_intervals(self.intervals).records())
        return out

    # ------------------------------------------------------------------ control variates
    def cv_table(self) -> pd.DataFrame:
        """Per model and statistic: efficiency against MC of AMC, RQMC and AMC with control variates (95 %
        intervals), the share of the pair means' variance the controls explain and the gain over AMC."""
        rows = []
        for (m, st), cv in self.cv.items():
            row = {"model": m, "statistic": st, "AMC": str(self.efficiency[m, st, "amc"])}
            if (m, st, "rqmc") in self.efficiency:
                row["RQMC"] = str(self.efficiency[m, st, "rqmc"])
            row.update({"AMC + CV": str(cv.efficiency), "R²": f"{cv.estimate.r_squared:.2f}",
                        "gain over AMC": f"{cv.gain:.2f}" + (" *" if cv.p < 0.05 else "")})
            rows.append(row)
        return pd.DataFrame(rows).set_index(["model", "statistic"]) if rows else pd.DataFrame()

    def cv_statement(self) -> str:
        """Does AMC with control variates beat AMC, and does it cover? One paragraph of markdown."""
        if not self.cv:
            return "AMC with control variates was not run (`cv_frequencies = 0`)."
        beats = [(m, st) for (m, st), cv in self.cv.items() if cv.p < 0.05 and cv.gain > 1 and st != EVEN_STATISTIC]
        cells = [k for k in self.cv if k[1] != EVEN_STATISTIC]
        best = max(cells, key=lambda k: self.cv[k].gain)
        text = (f"**A design that beats AMC?** With {self.cv_frequencies} control{'s' if self.cv_frequencies > 1 else ''} "
                f"per noise channel (the squared lowest DCT coefficients of the pair's noise, "
                f"`cv_frequencies = {self.cv_frequencies}`), AMC with control variates is significantly "
                f"better than AMC alone (F-test, 5 %) for {len(beats)} of {len(cells)} model-statistic cells "
                f"(about {0.05 * len(cells):.1f} would pass by chance)"
                + (": " + ", ".join(f"{m} {st} ×{self.cv[m, st].gain:.2f} (R² {self.cv[m, st].estimate.r_squared:.2f})"
                                    for m, st in beats) if beats else "")
                + f". The largest gain is ×{self.cv[best].gain:.2f} ({best[0]} {best[1]}); efficiency against MC "
                f"there {self.cv[best].efficiency} beside AMC's {self.efficiency[best[0], best[1], 'amc']}. ")
        c = self.coverage
        if c is not None and c.cv_rate:
            text += (f"Its intervals cover {min(c.cv_rate.values()):.3f} to {max(c.cv_rate.values()):.3f} in the "
                     f"coverage check ({c.reps} repetitions of {c.n // 2} pairs; exact intervals: "
                     f"[{c.band[0]:.3f}, {c.band[1]:.3f}]). ")
        if not beats:
            text += ("The controls explain too little of the pair means' variance to pay for the degrees of "
                     "freedom they cost: on these models the even part of a statistic does not follow the "
                     "energy of the noise's lowest frequencies.")
        return text


    # ------------------------------------------------------------------ flags
    def spread_flagged(self) -> dict[str, float]:
        """Models whose generated spread of some statistic is below ``SPREAD_FLAG_BELOW`` of the
        data's, with that smallest ratio (models without a card are not flagged)."""
        worst: dict[str, float] = {}
        for (m, _), ratio in self.spread.items():
            worst[m] = min(ratio, worst.get(m, math.inf))
        return {m: r for m, r in worst.items() if r < SPREAD_FLAG_BELOW}

    # ------------------------------------------------------------------ tables
    def spread_table(self) -> pd.DataFrame:
        """Generated / real standard deviation per model (rows) and statistic (columns), from the cards."""
        if not self.spread:
            return pd.DataFrame()
        df = pd.Series(self.spread).unstack().round(2)
        df.index.name, df.columns.name = "model", None
        flagged = self.spread_flagged()
        df["flag"] = ["spread off" if m in flagged else "" for m in df.index]
        return df

    def table(self) -> pd.DataFrame:
        """The Table-2 analogue, long so that it fits a page column: one row per statistic and design,
        one column per model; each cell the efficiency against MC with its 95 % F-interval. A first
        row per statistic gives ``rho``, the within-pair correlation of the AMC values, with the AMC
        efficiency it predicts, ``1/(1+rho)``, in parentheses."""
        rows = {}
        for s in self.statistics:
            rows[s, "ρ (1/(1+ρ))"] = {m: f"{self.rho[m, s]:+.2f} ({_num(_predicted(self.rho[m, s]))})"
                                      for m in self.models}
            for d in self.designs:
                if d.slug != "mc":
                    rows[s, d.label] = {m: str(self.efficiency[m, s, d.slug]) for m in self.models}
        df = pd.DataFrame.from_dict(rows, orient="index")
        df.index.names = ["statistic", "efficiency vs MC"]
        return df

    def versus_paper(self) -> pd.DataFrame:
        """Efficiencies beside the paper's (blog Table 2, read through :func:`paper_records`): one row
        per design and setting (the paper's models, then ours; our RQMC beside the paper's QMC), one
        column per statistic the paper reports (its "centroid" beside our ``centroid_distance``);
        ours with the 95 % F-interval. Only efficiencies: CI lengths are on different scales and
        sample sizes. The paper's settings without a number for a design are left out."""
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
                flag = " *" if m in self.spread_flagged() else ""
                rows[design, f"ours: {m}{flag}"] = {header[s]: str(self.efficiency[m, s, slug]) for s in cols}
        df = pd.DataFrame.from_dict(rows, orient="index")
        df.index.names = ["design", "setting"]
        return df

    def coverage_table(self) -> pd.DataFrame:
        """Empirical coverage per statistic (rows) and design (columns, ``all`` pooled)."""
        c = self.coverage
        if c is None:
            return pd.DataFrame()
        # AMC with control variates (when checked) stands beside the designs, not pooled with them
        labels = {d.slug: d.label for d in self.designs} | ({"cv": "AMC + CV"} if c.cv_rate else {}) | {"all": "pooled"}
        cells = {(s, labels[slug]): v for (slug, s), v in c.rate.items()}
        cells.update({(s, labels["cv"]): v for s, v in c.cv_rate.items()})
        df = pd.Series(cells).unstack()
        df = df[[labels[k] for k in labels]]
        df.index.name, df.columns.name = "statistic", None
        return df.loc[list(self.statistics)].round(3)

    # ------------------------------------------------------------------ figures
    def _colors(self) -> dict[str, Any]:
        palette = plt.get_cmap("tab10")
        return {d.slug: palette(i) for i, d in enumerate(self.designs)}

    def figure(self) -> plt.Figure:
        """Efficiency against MC with 95 % F-intervals: one panel per model, statistics down, log scale."""
        others = [d for d in self.designs if d.slug != "mc"]
        ncol = min(3, len(self.models))
        nrow = math.ceil(len(self.models) / ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(7.0, 0.45 * len(self.statistics) * nrow + 1.2),
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
            ax.set_title(m + ("\n(spread flagged)" if m in self.spread_flagged() else ""), **_STYLE)
            ax.tick_params(labelsize=9)
            ax.set_xlabel("efficiency vs MC", **_STYLE)
        for ax in axes.flat[len(self.models):]:
            ax.set_visible(False)
        axes[0, 0].set_yticks(y, self.statistics)
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
        fig, axes = plt.subplots(nrow, ncol, figsize=(7.0, 2.4 * nrow + 0.6), sharex=True, squeeze=False,
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
            ax.set_title(m, **_STYLE)
            ax.set_xlabel("images per design", **_STYLE)
        for ax in axes.flat[len(self.models):]:
            ax.set_visible(False)
        axes[0, 0].set_ylabel(f"{statistic}: efficiency vs MC", **_STYLE)
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=len(others), fontsize=9, frameon=False)
        return fig

    def coverage_figure(self) -> plt.Figure | None:
        """Empirical coverage per statistic and design, with the range a true ``level`` would give."""
        c = self.coverage
        if c is None:
            return None
        fig, ax = plt.subplots(figsize=(7.0, 3.0), layout="constrained")
        colors = self._colors()
        x = np.arange(len(self.statistics))
        offsets = np.linspace(-0.3, 0.3, len(self.designs))
        ax.axhspan(*c.band, color="gray", alpha=0.2, lw=0, label=f"95 % range for {c.reps} exact intervals")
        ax.axhline(c.level, color="k", lw=0.8)
        for d, off in zip(self.designs, offsets):
            ax.plot(x + off, [c.rate[d.slug, s] for s in self.statistics], "o", ms=4, color=colors[d.slug],
                    label=d.label)
        if c.cv_rate:
            ax.plot(x + 0.4, [c.cv_rate[s] for s in self.statistics], "x", ms=5, color="k", label="AMC + CV")
        ax.set_xticks(x, self.statistics, rotation=15)
        ax.set_ylim(min(0.5, min([*c.rate.values(), *c.cv_rate.values()]) - 0.05), 1.02)
        ax.set_ylabel("coverage", **_STYLE)
        ax.tick_params(labelsize=9)
        ax.set_title(f"{c.model}, DDIM-{c.steps}: {c.reps} repetitions of {c.n} images per design", **_STYLE)
        fig.legend(loc="outside lower center", ncol=3, fontsize=9, frameon=False)
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
            per = "; ".join(f"{m} {dict(self.curve[m, statistic, slug])[lo]} → "
                            f"{dict(self.curve[m, statistic, slug])[hi]}" for m in self.models)
            parts.append(f"{label}: {per}")
        return f"Efficiency of {statistic} from {lo} to {hi} images per design: " + ". ".join(parts) + "."

    def resampled_table(self) -> pd.DataFrame:
        """The resampled coverage check per design (rows) and interval and unit count (columns): the median
        over every model and statistic, with the lowest and the highest."""
        r = self.resampled
        if r is None:
            return pd.DataFrame()
        rows = {}
        for d in self.designs:
            row = {}
            for interval in ("t", "skew-t"):
                for u in r.units:
                    v = np.array([x for (m, s, slug, i, n), x in r.rate.items() if slug == d.slug and i == interval
                                  and n == u])
                    row[f"{interval}, {u} units"] = f"{np.median(v):.3f} ({v.min():.2f}–{v.max():.2f})"
            rows[d.label] = row
        df = pd.DataFrame.from_dict(rows, orient="index")
        df.index.name = "design"
        return df

    def resampled_statement(self) -> str:
        """How many model-statistic-design cells each interval keeps within or above the range of an exact
        interval, per unit count, and the lowest coverage."""
        r = self.resampled
        if r is None:
            return "The resampled coverage check was not run."
        parts = []
        for u in r.units:
            counts = []
            for interval in ("t", "skew-t"):
                v = {k: x for k, x in r.rate.items() if k[3] == interval and k[4] == u}
                ok = sum(x >= r.band[0] for x in v.values())
                worst_key = min(v, key=v.get)
                counts.append(f"{interval} {ok} of {len(v)} (lowest {v[worst_key]:.3f}: {worst_key[0]}, "
                              f"{worst_key[1]}, {worst_key[2]})")
            parts.append(f"With {u} units, " + "; ".join(counts))
        return (f"Resampled coverage, {r.reps} repetitions per cell, cells within or above the range "
                f"[{r.band[0]:.3f}, {r.band[1]:.3f}] of exact {r.level * 100:.0f} % intervals. " + ". ".join(parts)
                + ".")

    def coverage_summary(self) -> str:
        """How many coverages lie within or above the range of exact intervals, and the lowest pooled one."""
        c = self.coverage
        if c is None:
            return "The coverage check was not run."
        inside = sum(v >= c.band[0] for (slug, _), v in c.rate.items() if slug != "all")
        total = sum(1 for slug, _ in c.rate if slug != "all")
        worst = min(((v, slug, s) for (slug, s), v in c.rate.items() if slug != "all"))
        lo_pooled = min(v for (slug, _), v in c.rate.items() if slug == "all")
        label = {d.slug: d.label for d in self.designs}[worst[1]]
        return (f"Coverage ({c.model}, DDIM-{c.steps}, {c.reps} repetitions of {c.n} images): {inside} of {total} "
                f"design-statistic coverages lie within or above the range [{c.band[0]:.3f}, {c.band[1]:.3f}] "
                f"of exact {c.level * 100:.0f} % intervals (lowest: {worst[0]:.3f}, {label} on {worst[2]}); "
                f"pooled over the designs the lowest is {lo_pooled:.3f}, against the range "
                f"[{c.pooled_band[0]:.3f}, {c.pooled_band[1]:.3f}] of {c.reps * len(self.designs)} intervals.")

    # ------------------------------------------------------------------ verdict
    def verdict(self) -> str:
        """Reproduced / Partly reproduced / Not reproduced, with our numbers, the paper's, and why."""
        stat = "brightness" if "brightness" in self.statistics else self.statistics[0]
        amc = {m: self.efficiency[m, stat, "amc"] for m in self.models}
        flagged = self.spread_flagged()
        paper_amc = [rows[stat][4] for rows in paper.TABLE2.values() if stat in rows]
        odd = [s for s in ("brightness", "pixel_mean", "contrast") if s in self.statistics]
        gains = [(m, s) for m in self.models for s in odd if self.efficiency[m, s, "amc"].low > 1]
        in_range = [m for m in self.models if m not in flagged and paper_amc
                    and amc[m].high >= min(paper_amc) and amc[m].low <= max(paper_amc)]
        label = base.headline(summary(self.records()).verdict)
        ours = "; ".join(f"{m} {amc[m]}" for m in self.models)
        head = (f"{label} At {self.n_images} images per design (DDIM-{self.steps}), the AMC efficiency "
                f"of {stat} against MC (95 % F-interval) is {ours}.")
        if paper_amc:
            head += (f" The paper reports {min(paper_amc):.1f} to {max(paper_amc):.1f} on its four models "
                     f"(CIFAR-10 {paper.TABLE2[paper.CIFAR][stat][4]:.1f}).")
        text = [f"AMC's lower bound exceeds 1 (a significant gain) for {len(gains)} of {len(self.models) * len(odd)} "
                f"(model, statistic) pairs of {', '.join(odd)}."]
        if not in_range and paper_amc:
            need = 1.0 / min(paper_amc) - 1.0
            text.append("No model with a faithful spread reaches the paper's range. The AMC efficiency is about "
                        f"$1/(1+\\rho)$, so the paper's smallest needs $\\rho \\le {need:.3f}$; ours: "
                        + ", ".join(f"{self.rho[m, stat]:+.2f} ({m})" for m in self.models) + ".")
        if "rqmc" in {d.slug for d in self.designs}:
            rq = "; ".join(f"{m} {self.efficiency[m, stat, 'rqmc']}" for m in self.models)
            text.append(f"RQMC efficiency of {stat}: {rq}.")
        if EVEN_STATISTIC in self.statistics:
            ev = ", ".join(f"{m} {self.efficiency[m, EVEN_STATISTIC, 'amc']} (ρ {self.rho[m, EVEN_STATISTIC]:+.2f})"
                           for m in self.models)
            less = [m for m in self.models
                    if self.efficiency[m, EVEN_STATISTIC, "amc"].value < self.efficiency[m, stat, "amc"].value]
            larger = all(self.rho[m, EVEN_STATISTIC] > self.rho[m, stat] for m in self.models)
            why = ", as its larger $\\rho$ predicts" if larger else ""
            how = (f"gains less than {stat} on every model{why}" if len(less) == len(self.models) else
                   f"gains less than {stat} on {len(less)} of {len(self.models)} models")
            text.append(f"The even control statistic {EVEN_STATISTIC} {how}: AMC efficiency {ev}.")
        if self.coverage is not None:
            text.append(self.coverage_summary())
        if flagged:
            text.append("Caveat: " + ", ".join(f"{m} (smallest generated/real sd ratio {r:.2f})"
                                                   for m, r in flagged.items())
                        + " does not reproduce the data's spread; its efficiencies describe its sampler, "
                          "not the data, and are not comparable with the paper's.")
        return head + "\n\n" + "\n".join(f"- {t}" for t in text)


def present(measurements: UncertaintyMeasurements) -> UncertaintyResult:
    """The presentation of finding 5's measurements (no network evaluation)."""
    m = measurements
    return UncertaintyResult(m.models, m.statistics, m.designs, m.n_images, m.steps, m.level, m.budgets, m.estimates,
                             m.efficiency, m.rho, m.curve, m.spread, m.coverage, m.cv, m.cv_frequencies, m.resampled,
                             _present_intervals(m.intervals))


def run(*args: Any, **kwargs: Any) -> UncertaintyResult:
    """``present(measure(Params(*args, **kwargs)))``: measure and present in one call."""
    return present(measure(Params(*args, **kwargs)))
