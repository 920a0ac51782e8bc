"""Finding 7 (beyond the paper): does the antithetic structure come from undertrained, nearly linear networks?

For Gaussian data the optimal noise predictor is affine (:mod:`antinb.gaussian`), so DDIM maps ``z`` and
``-z`` to exact mirror images: centered PN correlation -1, antisymmetry score 1, symmetry residual 0. Our
shipped models are small and undertrained, and their effects are strongest where the model is weakest.
:func:`measure` measures where real networks sit between that limit and what training does to them: at each
saved snapshot of a training run (:func:`antinb.training.train` with ``snapshots``; step 0 is the random
initialisation) and for the Gaussian reference of the run's data set, the same measurements:

- the centered PN correlation of DDIM pairs (centre: the mean image of all that state's samples), with
  its t-interval over pairs, beside the RR baseline;
- the antisymmetry score of 1-D slices and the symmetry residual (:mod:`antinb.findings.symmetry`), with
  cluster-bootstrap intervals;
- the AMC efficiency over MC of brightness and contrast at equal image count, with exact F-intervals
  (the MC images are the RR pairs, drawn from an independent noise stream);
- the Frechet distance of the iid images (the RR pairs and the first member of each PN pair) to the test
  split in the shipped classifier's features, with a percentile bootstrap interval over the generated
  images, beside the floor: the same distance for as many real training images.

Every state sees the same noise (seed ``seed``), so differences between snapshots are the network's, not
the draw's.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .. import metrics, quality, stats, training
from ..data import load_dataset
from ..gaussian import gaussian_model
from ..measurements import measurement
from ..models import DiffusionModel, dataset_of, load
from ..pairs import pair_samples
from ..plots import COLUMN_WIDTH, pair_strips, plain_log_ticks
from . import base
from .base import ByModel, Row, Summary, Table, fill, template_regex
from .correlation import correlations, mean_interval
from .symmetry import default_timesteps, eps_slices, summarise, symmetry_residual
from .uncertainty import Efficiency, efficiency_interval

__all__ = ["REFERENCE", "CORR", "CORR_CI", "RR_CORR", "AS_MEAN", "AS_MEAN_CI", "AS_Q10", "RESIDUAL", "RESIDUAL_CI",
           "EFF", "EFF_CI", "FD", "FD_CI", "FD_FLOOR", "FD_FLOOR_CI", "STEPS", "TEMPLATES", "STATISTICS", "TABLE",
           "paper_records", "State", "StateSymmetry", "RunProgress", "Params", "ProgressMeasurements", "measure_state",
           "measure", "cost", "ProgressResult", "present", "run", "summary", "direction", "WEAKENS", "STRENGTHENS",
           "HOLDS"]

#: The ``step`` field of the Gaussian reference's records.
REFERENCE = "gaussian"

#: Centered PN correlation (DDIM) of one state of run ``model`` (``step``: a step count or ``gaussian``).
CORR = "progress_corr/{model}/{step}"
CORR_CI = "progress_corr_ci/{model}/{step}"
#: The RR baseline of the same state (centered).
RR_CORR = "progress_rr_corr/{model}/{step}"
#: Antisymmetry score (mean, its interval, 10 % quantile) and symmetry residual (mean, interval).
AS_MEAN = "progress_as_mean/{model}/{step}"
AS_MEAN_CI = "progress_as_mean_ci/{model}/{step}"
AS_Q10 = "progress_as_q10/{model}/{step}"
RESIDUAL = "progress_residual/{model}/{step}"
RESIDUAL_CI = "progress_residual_ci/{model}/{step}"
#: AMC efficiency over MC at equal image count, and its F-interval.
EFF = "progress_eff/{model}/{step}/{statistic}"
EFF_CI = "progress_eff_ci/{model}/{step}/{statistic}"
#: Frechet distance to the test split (classifier features) and its bootstrap interval; the floor of the run.
FD = "progress_fd/{model}/{step}"
FD_CI = "progress_fd_ci/{model}/{step}"
FD_FLOOR = "progress_fd_floor/{model}"
FD_FLOOR_CI = "progress_fd_floor_ci/{model}"
#: The steps measured, in order.
STEPS = "progress_steps/{model}"

TEMPLATES = (CORR, CORR_CI, RR_CORR, AS_MEAN, AS_MEAN_CI, AS_Q10, RESIDUAL, RESIDUAL_CI, EFF, EFF_CI, FD, FD_CI,
             FD_FLOOR, FD_FLOOR_CI, STEPS)

#: The statistics whose AMC efficiency is followed.
STATISTICS = ("brightness", "contrast")

TABLE = Table("Finding 7 (beyond the paper): does the antithetic structure survive training?", "07_training",
              "Centered PN correlation of DDIM pairs at the last snapshot of a training run of one of our recipes, "
              "beside the same run's random initialisation and the Gaussian (affine) reference of its data, for "
              "which the correlation is −1; 95 % t-intervals over pairs. The paper has no such measurement: its "
              "claim that the correlation is strongly negative for trained models is the row's yardstick.")

#: How the correlation changes from the initialisation to the last snapshot (:func:`direction`).
WEAKENS, STRENGTHENS, HOLDS = "weakens (moves towards zero)", "strengthens", "holds (the intervals overlap)"

#: Bootstrap resamples of the Frechet distance's interval.
N_BOOT = 200


def paper_records() -> dict[str, Any]:
    """The paper measures no training run; nothing to compare record by record."""
    return {}


def _step_key(step: int | None) -> str:
    return REFERENCE if step is None else str(int(step))


# --------------------------------------------------------------------------- measurements


def _fd_interval(gen: np.ndarray, real: np.ndarray, *, seed: int, n_boot: int = N_BOOT,
                 level: float = 0.95) -> tuple[float, float, float]:
    """Frechet distance of feature sets ``gen`` to ``real`` with a percentile bootstrap over ``gen``'s rows."""
    value = quality.frechet_distance(gen, real)
    rng = np.random.default_rng(seed)
    boots = [quality.frechet_distance(gen[rng.integers(0, len(gen), len(gen))], real) for _ in range(n_boot)]
    a = (1.0 - level) / 2.0
    return value, float(np.quantile(boots, a)), float(np.quantile(boots, 1.0 - a))


#: Disjoint sets of real training images whose Frechet distances to the test split give the floor.
FLOOR_SETS = 5


def _fd_floor(dataset: str, classifier, test_features: np.ndarray, n: int, *, seed: int,
              level: float = 0.95) -> tuple[float, float, float]:
    """The floor of the Frechet distance at ``n`` images: its mean over :data:`FLOOR_SETS` disjoint sets of ``n``
    real training images, with the t-interval over the sets. (A bootstrap over one set is no use here: the
    distance between two samples of one distribution is almost all small-sample bias, which resampling with
    replacement inflates, so its percentile interval can lie above the value itself.)"""
    train = load_dataset(dataset, "train").images
    if len(train) < FLOOR_SETS * n:
        raise ValueError(f"{dataset} has {len(train)} training images, too few for {FLOOR_SETS} sets of {n}")
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    values = [quality.frechet_distance(quality.features(classifier, train[order[i * n:(i + 1) * n]],
                                                        value_range=(0, 1)).double().numpy(), test_features)
              for i in range(FLOOR_SETS)]
    return stats.mean_interval(values, level)


@dataclass(frozen=True)
class StateSymmetry:
    """The symmetry measures of one state, read off its :class:`~antinb.findings.symmetry.ModelSymmetry`: the
    antisymmetry score's mean and 10 % quantile, the mean symmetry residual, and their 95 % intervals
    ``ci`` (``{"mean", "q10", "residual"}``)."""

    mean: float
    q10: float
    residual_mean: float
    ci: dict[str, list[float]]


@dataclass(frozen=True)
class State:
    """The measurements of one state of a run: a snapshot (``step``) or the Gaussian reference (``None``).

    Attributes:
        corr, rr_corr: ``(mean, low, high)`` centered correlation of the PN and the RR pairs.
        symmetry: the symmetry measures of the state's noise predictor.
        efficiency: AMC over MC per statistic of :data:`STATISTICS`.
        fd: ``(value, low, high)`` Frechet distance to the test split.
        pairs: a few PN pairs ``(2k, C, H, W)`` in ``[-1, 1]`` for the figure.
    """

    step: int | None
    corr: tuple[float, float, float]
    rr_corr: tuple[float, float, float]
    symmetry: StateSymmetry
    efficiency: dict[str, Efficiency]
    fd: tuple[float, float, float]
    pairs: torch.Tensor


def measure_state(model: DiffusionModel, *, test_features: np.ndarray, classifier, step: int | None = None,
                  n_pairs: int = 64, steps: int = 20, seed: int = 0, n_timesteps: int = 6, n_x: int = 10,
                  n_coords: int = 10, n_residual: int = 32, level: float = 0.95, max_batch_size: int = 512,
                  progress: bool = False) -> State:
    """Every measurement of :mod:`this finding <antinb.findings.progress>` for one model state."""
    sets = {p: pair_samples(model, n_pairs, p, sampler="ddim", steps=steps, seed=seed,
                            max_batch_size=max_batch_size, progress=progress) for p in ("PN", "RR")}
    corr = correlations(sets)
    ts = default_timesteps(model, n_timesteps)
    sl = eps_slices(model, ts, n_x=n_x, n_coords=n_coords, seed=seed, max_batch_size=max_batch_size)
    res = symmetry_residual(model, ts, n=n_residual, seed=seed, max_batch_size=max_batch_size)
    sym = summarise(model.name, sl, res, n_coords=n_coords, level=level, seed=seed)
    eff = {}
    for name in STATISTICS:
        fn = metrics.statistic(name)
        mc = stats.mc(fn(sets["RR"]).double().numpy(), level=level)
        amc = stats.amc(fn(sets["PN"]).double().numpy(), level=level)
        eff[name] = efficiency_interval(mc, amc, level)
    iid = torch.cat([sets["RR"], sets["PN"][0::2]])
    gen = quality.features(classifier, iid, value_range=(-1, 1)).double().numpy()
    fd = _fd_interval(gen, test_features, seed=seed, level=level)
    return State(step, mean_interval(corr["PN"]["centered"], level), mean_interval(corr["RR"]["centered"], level),
                 StateSymmetry(sym.mean, sym.q10, sym.residual_mean, sym.ci), eff, fd,
                 sets["PN"][: 2 * min(4, n_pairs)].clone())


@dataclass(frozen=True)
class RunProgress:
    """One training run: its states in step order, the Gaussian reference and the FD floor."""

    name: str
    dataset: str
    states: tuple[State, ...]
    reference: State
    fd_floor: tuple[float, float, float]

    @property
    def steps(self) -> list[int]:
        return [int(s.step) for s in self.states]

    @property
    def final(self) -> State:
        return self.states[-1]


def _snapshots(spec) -> dict[int, Path]:
    if isinstance(spec, Mapping):
        return {int(k): Path(v) for k, v in spec.items()}
    path = Path(spec)
    if path.exists():
        found = training.snapshots_of(path) or training.snapshots_of(path, subfolder="")
    else:
        found = training.shipped_snapshots(str(spec)) if os.sep not in str(spec) else {}
    if not found:
        raise ValueError(f"{spec!r} names no training snapshots (a training folder with snapshots/, a folder of "
                         f"step-NNNNNN model folders, or a run shipped in {training.SNAPSHOT_DIR})")
    return found


@dataclass(frozen=True)
class Params:
    """What finding 7 measures: training runs ``runs``, ``{name: snapshots}`` or a list of shipped run names, where
    snapshots is a training folder, a folder of ``step-NNNNNN`` model folders, a shipped run name, or
    ``{step: folder}``; per state ``n_pairs`` PN and RR pairs of DDIM-``steps`` samples and the symmetry
    measures on ``n_timesteps`` timesteps (``n_x``, ``n_coords``, ``n_residual``); ``max_states`` keeps that many
    snapshots spread over each run (first and last always). The one parameters object of :func:`measure` and
    :func:`cost`."""

    runs: Mapping[str, Any] | Sequence[str]
    n_pairs: int = 64
    steps: int = 20
    seed: int = 0
    n_timesteps: int = 6
    n_x: int = 10
    n_coords: int = 10
    n_residual: int = 32
    max_states: int | None = None
    level: float = 0.95
    device: str = "cpu"
    max_batch_size: int = 512
    progress: bool = False


@dataclass(frozen=True)
class ProgressMeasurements:
    """Everything finding 7 measured: one :class:`RunProgress` per training run and the settings."""

    models: tuple[RunProgress, ...]
    settings: dict[str, Any]


@measurement
def measure(params: Params) -> ProgressMeasurements:
    """Finding 7 for the training runs of ``params``.

    Each snapshot and the run's Gaussian reference (:func:`antinb.gaussian.gaussian_model` of the run's
    data set, with the snapshots' scheduler) go through :func:`measure_state`, with the same noise."""
    p = params
    runs = p.runs if isinstance(p.runs, Mapping) else {str(r): str(r) for r in p.runs}
    if not runs:
        raise ValueError("runs is empty: name at least one training run")
    if p.n_pairs < 2:
        raise ValueError(f"n_pairs={p.n_pairs!r} must be at least 2")
    plan = {}
    for name, spec in runs.items():
        found = _snapshots(spec)
        if p.max_states is not None and len(found) > p.max_states:
            keys = list(found)
            idx = np.unique(np.linspace(0, len(keys) - 1, p.max_states).round().astype(int))
            found = {keys[i]: found[keys[i]] for i in idx}
        first = next(iter(found.values()))
        if dataset_of(first) is None:  # before any state is measured
            raise ValueError(f"run {name!r}: {first} has no training.json naming its data set")
        plan[name] = found
    out = []
    for name, found in plan.items():
        dataset = dataset_of(next(iter(found.values())))
        clf = quality.load_classifier(dataset)
        test = load_dataset(dataset, "test").images
        test_features = quality.features(clf, test, value_range=(0, 1)).double().numpy()
        common = dict(test_features=test_features, classifier=clf, n_pairs=p.n_pairs, steps=p.steps, seed=p.seed,
                      n_timesteps=p.n_timesteps, n_x=p.n_x, n_coords=p.n_coords, n_residual=p.n_residual,
                      level=p.level, max_batch_size=p.max_batch_size, progress=p.progress)
        states = []
        for step, folder in found.items():
            model = load(folder, device=p.device, dtype=torch.float32)
            model.name = f"{name}@{step}"
            states.append(measure_state(model, step=step, **common))
        ref_model = gaussian_model(dataset, scheduler_config=model.scheduler_config, name=f"gaussian-{dataset}",
                                   device=p.device)
        reference = measure_state(ref_model, step=None, **common)
        floor = _fd_floor(dataset, clf, test_features, 3 * p.n_pairs, seed=p.seed, level=p.level)
        out.append(RunProgress(name, dataset, tuple(states), reference, floor))
    settings = {"n_pairs": p.n_pairs, "steps": p.steps, "seed": p.seed, "n_timesteps": p.n_timesteps, "n_x": p.n_x,
                "n_coords": p.n_coords, "n_residual": p.n_residual, "level": p.level, "sampler": "ddim"}
    return ProgressMeasurements(tuple(out), settings)


def cost(params: Params) -> dict[str, int]:
    """Network evaluations :func:`measure` makes with ``params``, per run name (snapshots and the Gaussian
    reference)."""
    p = params
    runs = p.runs if isinstance(p.runs, Mapping) else {str(r): str(r) for r in p.runs}
    n_s = 21  # eps_slices' default grid
    per_state = 2 * (2 * p.n_pairs) * p.steps + p.n_timesteps * (p.n_x * n_s + 2 * p.n_residual)
    out = {}
    for name, spec in runs.items():
        n = len(_snapshots(spec))
        n = min(n, p.max_states) if p.max_states is not None else n
        out[name] = (n + 1) * per_state
    return out


# --------------------------------------------------------------------------- presentation


def direction(r: RunProgress) -> str:
    """:data:`WEAKENS`, :data:`STRENGTHENS` or :data:`HOLDS`: where the last snapshot's correlation interval of
    run ``r`` lies relative to the initialisation's (closer to 0, further from it, or overlapping)."""
    first, last = r.states[0].corr, r.final.corr
    return WEAKENS if last[1] > first[2] else STRENGTHENS if last[2] < first[1] else HOLDS


def _fmt(v: Sequence[float], fmt: str = "+.2f") -> str:
    return base.ci_text(v[0], v[1:], fmt)


@dataclass(frozen=True)
class ProgressResult(ProgressMeasurements, ByModel):
    """Finding 7 presented (``result["mnist"]`` is one :class:`RunProgress`): records, tables, figures and the
    verdict, all computed from the measurements alone."""

    def records(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for r in self.models:
            out[fill(STEPS, model=r.name)] = r.steps
            out[fill(FD_FLOOR, model=r.name)] = r.fd_floor[0]
            out[fill(FD_FLOOR_CI, model=r.name)] = list(r.fd_floor[1:])
            for s in (*r.states, r.reference):
                k = dict(model=r.name, step=_step_key(s.step))
                out[fill(CORR, **k)] = s.corr[0]
                out[fill(CORR_CI, **k)] = list(s.corr[1:])
                out[fill(RR_CORR, **k)] = s.rr_corr[0]
                out[fill(AS_MEAN, **k)] = s.symmetry.mean
                out[fill(AS_MEAN_CI, **k)] = list(s.symmetry.ci["mean"])
                out[fill(AS_Q10, **k)] = s.symmetry.q10
                out[fill(RESIDUAL, **k)] = s.symmetry.residual_mean
                out[fill(RESIDUAL_CI, **k)] = list(s.symmetry.ci["residual"])
                out[fill(FD, **k)] = s.fd[0]
                out[fill(FD_CI, **k)] = list(s.fd[1:])
                for name, e in s.efficiency.items():
                    out[fill(EFF, statistic=name, **k)] = e.value
                    out[fill(EFF_CI, statistic=name, **k)] = [e.low, e.high]
        return out

    def table(self, part: str = "structure") -> pd.DataFrame:
        """One row per run and state with 95 % intervals: ``part="structure"`` the correlations, the
        antisymmetry score and the residual; ``"estimation"`` the AMC efficiencies and the Frechet distance
        (with the run's floor)."""
        if part not in ("structure", "estimation"):
            raise ValueError(f"part={part!r} must be 'structure' or 'estimation'")
        rows = []
        for r in self.models:
            for s in (*r.states, r.reference):
                row = {"run": r.name, "step": "Gaussian" if s.step is None else s.step}
                if part == "structure":
                    row.update({"PN centered": _fmt(s.corr), "RR centered": _fmt(s.rr_corr),
                                "antisymmetry": base.ci_text(s.symmetry.mean, s.symmetry.ci["mean"], ".3f"),
                                "residual": base.ci_text(s.symmetry.residual_mean, s.symmetry.ci["residual"], ".2f")})
                else:
                    row.update({f"AMC eff. {n}": str(e) for n, e in s.efficiency.items()})
                    row.update({"FD": _fmt(s.fd, ".0f"), "FD floor": _fmt(r.fd_floor, ".0f")})
                rows.append(row)
        return pd.DataFrame(rows).set_index(["run", "step"])

    def figure(self) -> plt.Figure:
        """The measurements against training steps (log scale, step 0 at the left edge), one colour per run,
        the Gaussian reference of each run as a dashed line."""
        def efficiency(stat: str):
            return lambda s: (s.efficiency[stat].value, s.efficiency[stat].low, s.efficiency[stat].high)

        panels = [("centered PN correlation", lambda s: s.corr),
                  ("antisymmetry score", lambda s: (s.symmetry.mean, *s.symmetry.ci["mean"])),
                  ("symmetry residual", lambda s: (s.symmetry.residual_mean, *s.symmetry.ci["residual"])),
                  *((f"AMC efficiency, {stat}", efficiency(stat)) for stat in STATISTICS),
                  ("Frechet distance to test data", lambda s: s.fd)]
        fig, axes = plt.subplots(3, 2, figsize=(COLUMN_WIDTH, COLUMN_WIDTH * 1.15), sharex=True)
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for ax, (title, get) in zip(axes.flat, panels):
            for i, r in enumerate(self.models):
                x = np.array([max(s, 1) for s in r.steps], float)  # step 0 drawn at 1 on the log axis
                v = np.array([get(s) for s in r.states], float)
                ax.errorbar(x, v[:, 0], yerr=[v[:, 0] - v[:, 1], v[:, 2] - v[:, 0]], marker="o", ms=4, capsize=2,
                            color=colors[i], label=r.name)
                ref = get(r.reference)
                if math.isfinite(ref[0]):
                    ax.axhline(ref[0], color=colors[i], ls="--", lw=1)
                if title.startswith("Frechet"):
                    ax.axhline(r.fd_floor[0], color=colors[i], ls=":", lw=1)
            ax.set_title(title, fontsize=10)
            ax.set_xscale("log")
            if "efficiency" in title or title.startswith("Frechet"):
                ax.set_yscale("log")
                plain_log_ticks(ax)
        for ax in axes[-1]:
            ax.set_xlabel("training step (0 drawn at 1)")
        axes[0, 0].legend(fontsize=8, title="run (dashed: Gaussian)", title_fontsize=8)
        fig.tight_layout()
        return fig

    def pairs_figure(self, name: str) -> plt.Figure:
        """The first PN pairs of every state of run ``name``, the Gaussian reference last."""
        r = self[name]
        return pair_strips({("Gaussian reference" if s.step is None else f"step {s.step}"): s.pairs
                            for s in (*r.states, r.reference)})

    def statement(self) -> str:
        """What the runs show, from their numbers: per run, the correlation at initialisation, at the last
        snapshot and for the Gaussian reference, and the direction of the change over training."""
        parts = []
        for r in self.models:
            first, last = r.states[0], r.final
            parts.append(f"**{r.name}**: {_fmt(first.corr)} at initialisation, {_fmt(last.corr)} after {last.step} "
                         f"steps, {_fmt(r.reference.corr)} for its Gaussian reference, so over training the "
                         f"correlation {direction(r)}; meanwhile the antisymmetry score goes from "
                         f"{first.symmetry.mean:.2f} to {last.symmetry.mean:.2f} and the residual from "
                         f"{first.symmetry.residual_mean:.2f} to {last.symmetry.residual_mean:.2f}")
        return "; ".join(parts) + "."

    def verdict(self) -> str:
        s = summary(self.records(), self.settings)
        by = {d: [r.name for r in self.models if direction(r) == d] for d in (WEAKENS, STRENGTHENS, HOLDS)}
        negative = all(r.final.corr[2] < 0 for r in self.models)
        meaning = []
        if by[WEAKENS]:
            meaning.append(f"For {', '.join(by[WEAKENS])} the correlation moves towards zero as the network learns "
                           "its data: part of the effect of an undertrained model comes from how little it has learned")
        if by[STRENGTHENS]:
            meaning.append(f"for {', '.join(by[STRENGTHENS])} it ends more negative than at initialisation")
        if by[HOLDS]:
            meaning.append(f"for {', '.join(by[HOLDS])} training leaves it where it was")
        meaning[0] = meaning[0][0].upper() + meaning[0][1:]
        closing = ("In every run the last snapshot is still clearly negative, and the Gaussian reference, the "
                   "affine limit of the same data, is more negative than the last snapshot: the trained networks sit "
                   "between that limit and zero, and training does not remove the antithetic structure."
                   if negative and all(r.reference.corr[0] < r.final.corr[0] for r in self.models) else
                   "The runs differ in sign or in their relation to the Gaussian reference; see the table.")
        return f"{base.headline(s.verdict)} {self.statement()} {'; '.join(meaning)}. {closing}"


def present(measurements: ProgressMeasurements) -> ProgressResult:
    """The presentation of finding 7's measurements (no network evaluation)."""
    return ProgressResult(measurements.models, measurements.settings)


def run(*args: Any, **kwargs: Any) -> ProgressResult:
    """``present(measure(Params(*args, **kwargs)))``: measure and present in one call."""
    return present(measure(Params(*args, **kwargs)))


# --------------------------------------------------------------------------- summary


def summary(records: dict[str, Any], parameters: dict[str, Any] | None = None) -> Summary:
    """Finding 7 from its records: one row per run, the centered PN correlation at its last snapshot.

    The yardstick is the paper's claim that trained models give strongly negative correlations: a run is
    *reproduced* when the last snapshot's interval lies below -0.5 (our "strongly negative"), *partly*
    when below 0 but not below -0.5, *not reproduced* otherwise.
    """
    parameters = parameters or {}
    rx = template_regex(STEPS)
    rows = []
    for name, steps in records.items():
        m = rx.match(name)
        if not m:
            continue
        run_name = m["model"]
        last = str(steps[-1])
        k = dict(model=run_name, step=last)
        value, ci = records[fill(CORR, **k)], records[fill(CORR_CI, **k)]
        init = records.get(fill(CORR, model=run_name, step=str(steps[0])))
        ref = records.get(fill(CORR, model=run_name, step=REFERENCE))
        verdict = (base.REPRODUCED if ci[1] < -0.5 else base.PARTLY if ci[1] < 0 else base.NOT_REPRODUCED)
        n = parameters.get("n_pairs")
        setting = (f"{run_name} training run, step {last}, DDIM-{parameters.get('steps', '?')}, "
                   f"{n if n is not None else '?'} pairs")
        caveat = (f"step {steps[0]}: {base.ci_text(init, records[fill(CORR_CI, model=run_name, step=str(steps[0]))])}; "
                  f"Gaussian reference {base.ci_text(ref, records[fill(CORR_CI, model=run_name, step=REFERENCE)])}"
                  if init is not None and ref is not None else "")
        rows.append(Row("all of the paper's (trained) models", "strongly negative", setting,
                        base.ci_text(value, ci), verdict, caveat, value=float(value), ci=tuple(ci)))
    claim = ("beyond the paper: the negative correlation of PN pairs survives training (it is not an artefact of "
             "undertrained, nearly affine networks)")
    return Summary(7, TABLE.title, TABLE.chapter, claim, "centered PN correlation at the last snapshot", tuple(rows))
