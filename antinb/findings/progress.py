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

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .. import metrics, paper, quality, stats, training
from ..data import load_dataset
from ..gaussian import gaussian_model
from ..measurements import measurement
from ..models import DiffusionModel, dataset_of, load, weights_dir
from ..pairs import pair_samples
from ..plots import COLUMN_WIDTH, _montage, plain_log_ticks
from . import base
from .base import ByModel, Row, Summary, Table, fill, template_regex
from .correlation import correlations, mean_interval
from .symmetry import default_timesteps, eps_slices, summarise, symmetry_residual
from .uncertainty import Efficiency, efficiency_interval
from .verdicts import BEYOND, FLAGGED, PARTLY, REPRODUCED, Claim, flag, judge

__all__ = ["REFERENCE", "CORR", "CORR_CI", "RR_CORR", "AS_MEAN", "AS_MEAN_CI", "AS_Q10", "RESIDUAL", "RESIDUAL_CI",
           "EFF", "EFF_CI", "FD", "FD_CI", "FD_FLOOR", "FD_FLOOR_CI", "STEPS", "TEMPLATES", "STATISTICS", "TABLE",
           "paper_records", "State", "StateSymmetry", "RunProgress", "Params", "ProgressMeasurements", "measure_state",
           "measure", "cost", "ProgressResult", "present", "run", "summary", "direction", "outcome", "monotone",
           "paper_range", "shipped", "WEAKENS", "STRENGTHENS", "HOLDS", "FAILS", "MIXED"]

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
              "Centered PN correlation of DDIM pairs from the random initialisation (step 0) to the last snapshot of "
              "a training run of one of our recipes (for a shipped recipe, the shipped, undertrained model); 95 % "
              "t-intervals over pairs. The paper trains no network, so the row is beyond the paper: its one-word "
              "outcome says whether the correlation holds, weakens, strengthens or fails (reaches 0) over training.")

#: The one-word outcomes of a run (:func:`outcome`), and of a chapter whose runs differ.
WEAKENS, STRENGTHENS, HOLDS, FAILS, MIXED = "weakens", "strengthens", "holds", "fails", "mixed"

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


def outcome(first: Sequence[float], last: Sequence[float]) -> str:
    """The one-word answer of a run from the 95 % intervals ``(low, high)`` of its centered PN correlation at
    the first state (``first``, the initialisation) and at the last (``last``), by the book's rules
    (:func:`antinb.findings.verdicts.judge`) with the first interval as the claim: :data:`HOLDS` when the last
    interval overlaps it, :data:`WEAKENS` or :data:`STRENGTHENS` when it lies on the same side of 0 but closer to
    0 or further from it, :data:`FAILS` when it reaches 0 (the antithetic correlation is gone) or crosses it."""
    first, last = (float(first[0]), float(first[1])), (float(last[0]), float(last[1]))
    if first[0] <= 0.0 <= first[1]:  # no correlation to begin with: only its appearance can be told
        return FAILS if last[0] <= 0.0 <= last[1] else STRENGTHENS
    v = judge(last, Claim(first[0], first[1], null=0.0))
    if v == REPRODUCED:
        return HOLDS
    if v == PARTLY:
        closer = last[0] > first[1] if first[1] < 0 else last[1] < first[0]
        return WEAKENS if closer else STRENGTHENS
    return FAILS


def direction(r: RunProgress) -> str:
    """:func:`outcome` of run ``r``: its last snapshot's correlation interval against its initialisation's."""
    return outcome(r.states[0].corr[1:], r.final.corr[1:])


def monotone(values: Sequence[float]) -> bool:
    """Whether ``values`` (a run's point estimates in step order) move the same way at every step."""
    d = np.diff(np.asarray(values, float))
    return len(d) > 0 and (bool(np.all(d > 0)) or bool(np.all(d < 0)))


def paper_range() -> tuple[float, float]:
    """The range of the centered PN correlations the paper reports for its trained models (chapter 1: its
    diffusion models and the other generative models it tried), ``(most negative, least negative)``."""
    vals = [v for (_, _, variant), v in paper.CORRELATION.items() if variant == "centered"]
    for v in paper.CORRELATION_OTHER.values():
        vals += [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", str(v).replace("−", "-"))]
    return min(vals), max(vals)


def shipped(run: str, step: int | None) -> bool:
    """Whether state ``step`` of run ``run`` is the embedded model of the same name (the shipped model is the last
    state of its recipe's run: :func:`antinb.training.shipped_snapshots`)."""
    path = weights_dir(run) / "training.json"
    if step is None or "/" in run or not path.is_file():
        return False
    try:
        return int(json.loads(path.read_text()).get("steps_done", -1)) == int(step)
    except (OSError, ValueError, TypeError):
        return False


def _fmt(v: Sequence[float], fmt: str | None = None) -> str:
    """``value [low, high]``; a correlation (``fmt=None``) with 2 decimals, or 3 where its interval is narrower
    than 0.01 (what the interval supports)."""
    if fmt is None:
        fmt = "+.3f" if 0 <= v[2] - v[1] < 0.01 else "+.2f"
    return base.ci_text(v[0], v[1:], fmt)


def _state_label(run: str, step: int | None) -> str:
    if step is None:
        return "Gaussian reference"
    return f"step {step:,}" + (" (shipped)" if shipped(run, step) else "")


#: Text of the figures, in points (legible at the column's width).
_FONT = 10


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
        antisymmetry score and the residual; ``"estimation"`` the AMC efficiencies and the Fréchet distance,
        with the run's floor (real training images) as a last row."""
        if part not in ("structure", "estimation"):
            raise ValueError(f"part={part!r} must be 'structure' or 'estimation'")
        rows = []
        for r in self.models:
            for s in (*r.states, r.reference):
                row = {"run": r.name + flag(r.name), "state": _state_label(r.name, s.step)}
                if part == "structure":
                    row.update({"PN correlation": _fmt(s.corr),
                                "antisymmetry": base.ci_text(s.symmetry.mean, s.symmetry.ci["mean"], ".2f"),
                                "residual": base.ci_text(s.symmetry.residual_mean, s.symmetry.ci["residual"], ".2f")})
                else:
                    row.update({f"AMC eff., {n}": str(e) for n, e in s.efficiency.items()})
                    row["Fréchet distance"] = _fmt(s.fd, ".0f")
                rows.append(row)
            if part == "estimation":
                rows.append({"run": r.name + flag(r.name), "state": "real images (floor)",
                             **{f"AMC eff., {n}": "" for n in STATISTICS}, "Fréchet distance": _fmt(r.fd_floor, ".0f")})
        return pd.DataFrame(rows).set_index(["run", "state"])

    def table_markdown(self, part: str = "structure") -> str:
        """:meth:`table` as a Markdown table narrow enough for the column: a row naming each run (its mark † if the
        book flags it) above that run's states."""
        df = self.table(part)
        cols = list(df.columns)
        lines = ["| state | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for run in dict.fromkeys(df.index.get_level_values(0)):
            lines.append(f"| **{run}** |" + " |" * len(cols))
            for state, row in df.loc[run].iterrows():
                lines.append(f"| {state} | " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
        return "\n".join(lines)

    def figure(self) -> plt.Figure:
        """The measurements against training steps (log scale, step 0 drawn at 1), one colour per run, the
        Gaussian reference of each run dashed and, for the Fréchet distance, its floor dotted; one legend."""
        from matplotlib.lines import Line2D

        def efficiency(stat: str):
            return lambda s: (s.efficiency[stat].value, s.efficiency[stat].low, s.efficiency[stat].high)

        panels = [("centered PN correlation", lambda s: s.corr),
                  ("antisymmetry score", lambda s: (s.symmetry.mean, *s.symmetry.ci["mean"])),
                  ("symmetry residual", lambda s: (s.symmetry.residual_mean, *s.symmetry.ci["residual"])),
                  *((f"AMC efficiency, {stat}", efficiency(stat)) for stat in STATISTICS),
                  ("Fréchet distance to test data", lambda s: s.fd)]
        fig, axes = plt.subplots(3, 2, figsize=(COLUMN_WIDTH, COLUMN_WIDTH * 1.2), sharex=True)
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        last = max(max(r.steps) for r in self.models)
        ticks = [t for t in (1, 10, 100, 1000, 10000, 100000) if t <= 3 * max(last, 1)]
        for ax, (title, get) in zip(axes.flat, panels):
            for i, r in enumerate(self.models):
                x = np.array([max(s, 1) for s in r.steps], float)  # step 0 drawn at 1 on the log axis
                v = np.array([get(s) for s in r.states], float)
                ax.errorbar(x, v[:, 0], yerr=[v[:, 0] - v[:, 1], v[:, 2] - v[:, 0]], marker="o", ms=4, capsize=2,
                            color=colors[i])
                ref = get(r.reference)
                if math.isfinite(ref[0]):
                    ax.axhline(ref[0], color=colors[i], ls="--", lw=1)
                if title.startswith("Fréchet"):
                    ax.axhline(r.fd_floor[0], color=colors[i], ls=":", lw=1.2)
            ax.set_title(title, fontsize=_FONT)
            ax.set_xscale("log")
            ax.set_xticks(ticks, ["0" if t == 1 else f"{t:,}" for t in ticks])
            ax.tick_params(labelsize=_FONT - 1)
            if "efficiency" in title or title.startswith("Fréchet"):
                ax.set_yscale("log")
                plain_log_ticks(ax)
        for ax in axes[-1]:
            ax.set_xlabel("training step (log; step 0 at the left)", fontsize=_FONT - 1)
        handles = [Line2D([], [], color=colors[i], marker="o", ms=4, label=r.name + flag(r.name))
                   for i, r in enumerate(self.models)]
        handles += [Line2D([], [], color="0.3", ls="--", lw=1, label="Gaussian reference"),
                    Line2D([], [], color="0.3", ls=":", lw=1.2, label="real images (floor)")]
        fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=_FONT - 1, frameon=False,
                   handlelength=1.8, columnspacing=1.2)
        fig.tight_layout(rect=(0, 0, 1, 0.96))
        return fig

    def pairs_figure(self, name: str) -> plt.Figure:
        """The first PN pairs of every state of run ``name`` and of its Gaussian reference: a row per state, each
        pair as ``z`` beside ``-z``, at the column's full width."""
        r = self[name]
        states = (*r.states, r.reference)
        k = min(len(s.pairs) for s in states) // 2
        fig, axes = plt.subplots(len(states), 1, figsize=(COLUMN_WIDTH, 0.2 + 0.82 * len(states)), squeeze=False)
        for row, (ax, s) in enumerate(zip(axes[:, 0], states)):
            tiles = [_montage(s.pairs[2 * j: 2 * j + 2], (-1, 1), ncol=2) for j in range(k)]
            gap = np.ones((tiles[0].shape[0], 4, 3))
            ax.imshow(np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1),
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            ax.set_ylabel(_state_label(name, s.step).replace(" (", "\n(").replace("n ref", "n\nref"), rotation=0, ha="right", va="center",
                          fontsize=_FONT)
            if row == 0:
                w = tiles[0].shape[1] + 4
                for j in range(k):
                    for m, label in enumerate(("$z$", "$-z$")):
                        ax.text(j * w + (m + 0.5) * (w - 4) / 2, -3, label, ha="center", va="bottom",
                                fontsize=_FONT)
        fig.tight_layout(h_pad=0.3)
        return fig

    def baseline(self) -> str:
        """Markdown: where the RR baseline (independent pairs) lies over every state of each run, as the span of
        its 95 % intervals, and in how many states the interval contains 0."""
        parts = []
        for r in self.models:
            states = (*r.states, r.reference)
            lo, hi = min(st.rr_corr[1] for st in states), max(st.rr_corr[2] for st in states)
            zero = sum(st.rr_corr[1] <= 0 <= st.rr_corr[2] for st in states)
            parts.append(f"between {base.ci_text(lo, None)} and {base.ci_text(hi, None)} for {r.name}{flag(r.name)} "
                         f"(containing 0 in {'all' if zero == len(states) else zero} of its {len(states)} states)")
        return ("The baseline, independent (RR) pairs measured the same way: over every state, the Gaussian "
                "reference included, its 95 % intervals lie " + "; ".join(parts) + ".")

    def floors(self) -> str:
        """Markdown: what each run's Fréchet floor compares, beside the floor on the embedded model's card (a
        larger set of real images against a subset of the test split: less small-sample bias)."""
        n = 3 * int(self.settings.get("n_pairs", 0))
        out = []
        for r in self.models:
            card = weights_dir(r.name) / "card.json" if "/" not in r.name else None
            here = (f"**{r.name}{flag(r.name)}**: here {_fmt(r.fd_floor, '.0f')}, the mean over {FLOOR_SETS} "
                    f"disjoint sets of {n} training images, each against the whole test split")
            if card is not None and card.is_file():
                fd = json.loads(card.read_text()).get("frechet_distance", {})
                if "train_vs_test_floor" in fd:
                    here += (f"; on its model card {fd['train_vs_test_floor']:.0f}, {fd['n']:,} training images "
                             f"against {fd['n']:,} test images (more images, less small-sample bias)")
            out.append(f"- {here}.")
        return "\n".join(out)

    def verdict(self) -> str:
        """The chapter's verdict: one quotable sentence, a table of every run, and why and what limits it."""
        s = summary(self.records(), self.settings)
        rows = dict(zip((r.name for r in self.models), s.rows))  # records, hence rows, follow the runs' order
        word = s.outcome  # the one word every run's row gives, else mixed
        head = next((r for r in self.models if r.name not in FLAGGED), self.models[0])
        n, k = self.settings.get("n_pairs", "?"), self.settings.get("steps", "?")
        where = "the shipped, undertrained model" if shipped(head.name, head.final.step) else "the last snapshot"
        first, last = head.states[0].corr, head.final.corr
        every = " at every snapshot" if monotone([st.corr[0] for st in head.states]) and len(head.states) > 2 else ""
        setting = f"(step {head.final.step:,}, DDIM-{k}, {n} pairs)"
        change = f"from {base.ci_text(first[0], None)} at step 0 to {_fmt(last)} in {where} {setting}"
        lead = {WEAKENS: f"Training weakens {head.name}'s centered PN correlation{every}, {change}",
                STRENGTHENS: f"Training strengthens {head.name}'s centered PN correlation{every}, {change}",
                HOLDS: f"Training leaves {head.name}'s centered PN correlation where it was, {change}",
                FAILS: f"Training removes {head.name}'s centered PN correlation, {change}"}[direction(head)]
        others = {WEAKENS: "also weakens", STRENGTHENS: "ends more negative", HOLDS: "holds", FAILS: "reaches 0"}
        rest = [f"{r.name}{' (flagged †)' if r.name in FLAGGED else ''} {others[direction(r)]}"
                for r in self.models if r is not head]
        sentence = f"**Beyond the paper: {word}.** {lead}" + (f"; {', '.join(rest)}." if rest else ".")

        names = [r.name + flag(r.name) for r in self.models]
        fd = lambda v: _fmt(v, ".0f")  # noqa: E731
        table = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        lines = [("last state", lambda r: _state_label(r.name, r.final.step)),
                 ("PN correlation, step 0", lambda r: _fmt(r.states[0].corr)),
                 ("PN correlation, last state", lambda r: _fmt(r.final.corr)),
                 ("PN correlation, Gaussian reference", lambda r: _fmt(r.reference.corr)),
                 ("Fréchet distance, last state", lambda r: fd(r.final.fd)),
                 ("Fréchet distance, Gaussian reference", lambda r: fd(r.reference.fd)),
                 ("Fréchet distance, real images (floor)", lambda r: fd(r.fd_floor)),
                 ("outcome", lambda r: f"**{rows[r.name].outcome}**")]
        table += [f"| {label} | " + " | ".join(get(r) for r in self.models) + " |" for label, get in lines]

        prose = []
        init_lowest = [r.name for r in self.models
                       if r.states[0].symmetry.mean <= min(st.symmetry.mean for st in r.states)]
        if head.name in init_lowest:
            a = head.states[0].symmetry
            prose.append(f"At step 0 the network has learned nothing: a sample is mostly its own noise, its "
                         f"partner the negative, so that correlation reflects no learning "
                         f"(antisymmetry score {base.ci_text(a.mean, a.ci['mean'], '.2f')}, the run's lowest).")
        if all(r.reference.corr[0] < r.final.corr[0] for r in self.models):
            prose.append("Every last state is less negative than its data's Gaussian reference, the best affine "
                         f"predictor ({_fmt(head.reference.corr)} for {head.name}): in these runs, learning the data "
                         "beyond its mean and covariance moves PN pairs away from mirror images.")
        for r in self.models:
            if r.name in FLAGGED and r.final.fd[0] > r.reference.fd[0]:
                overlap = r.final.fd[1] <= r.reference.fd[2]
                prose.append(f"The last state of {r.name} is further from its test data than its own Gaussian reference "
                             f"(Fréchet distance {fd(r.final.fd)} against {fd(r.reference.fd)}"
                             f"{'; the intervals overlap' if overlap else ''}), so the book flags it (†).")
        lo, hi = paper_range()
        limit = ("These last states are the shipped models, stopped after a few thousand steps; "
                 if all(shipped(r.name, r.final.step) for r in self.models) else "The last snapshots are ")
        if not limit.startswith("These"):
            limit += "where these runs stop; "
        prose.append(limit + f"the paper's trained models give {base.ci_text(hi, None)} to {base.ci_text(lo, None)} "
                     "(chapter 1)"
                     + ", and these paths do not say where longer training leads. One seed per run: the intervals "
                     "cover the noise draws, not training.")
        return "\n\n".join([sentence, "\n".join(table), " ".join(prose)])


def present(measurements: ProgressMeasurements) -> ProgressResult:
    """The presentation of finding 7's measurements (no network evaluation)."""
    return base.presented(ProgressResult, measurements)


def run(*args: Any, **kwargs: Any) -> ProgressResult:
    """``present(measure(Params(*args, **kwargs)))``: measure and present in one call."""
    return present(measure(Params(*args, **kwargs)))


# --------------------------------------------------------------------------- summary


def summary(records: dict[str, Any], parameters: dict[str, Any] | None = None) -> Summary:
    """Finding 7 from its records: one row per run, the centered PN correlation from the initialisation to the
    last snapshot.

    The paper trains no network, so every row is *beyond the paper* (:data:`~antinb.findings.verdicts.BEYOND`)
    with its own one-word :func:`outcome` (holds, weakens, strengthens, fails), decided by the book's rules with
    the initialisation's interval as the claim. A run of a model the book flags is marked (†).
    """
    parameters = parameters or {}
    rx = template_regex(STEPS)
    lo, hi = paper_range()
    rows = []
    for name, steps in records.items():
        m = rx.match(name)
        if not m:
            continue
        run_name = m["model"]
        first, last = str(steps[0]), str(steps[-1])
        value, ci = records[fill(CORR, model=run_name, step=last)], records[fill(CORR_CI, model=run_name, step=last)]
        init_ci = records[fill(CORR_CI, model=run_name, step=first)]
        word = outcome(init_ci, ci)
        n = parameters.get("n_pairs")
        state = "the shipped model" if shipped(run_name, int(last)) else "the last snapshot"
        setting = (f"{run_name}{flag(run_name)} training run, step {int(last):,} ({state}), "
                   f"DDIM-{parameters.get('steps', '?')}, {n if n is not None else '?'} pairs")
        init = records[fill(CORR, model=run_name, step=first)]
        caveat = f"step {first}: {_fmt((init, *init_ci))}"
        ref_ci = records.get(fill(CORR_CI, model=run_name, step=REFERENCE))
        if ref_ci is not None:
            caveat += f"; Gaussian reference {_fmt((records[fill(CORR, model=run_name, step=REFERENCE)], *ref_ci))}"
        if run_name in FLAGGED:
            caveat += f"; flagged: {FLAGGED[run_name]}"
        rows.append(Row("not measured by the paper (it trains no network)",
                        f"its trained models: {base.ci_text(hi, None)} to {base.ci_text(lo, None)}", setting,
                        f"{base.ci_text(init, None)} at step {first} → {base.ci_text(value, ci)}", BEYOND, caveat,
                        value=float(value), ci=(float(ci[0]), float(ci[1])), short=base.ci_text(value, ci),
                        outcome=word, flagged=run_name in FLAGGED))
    claim = "not asked by the paper: does the negative PN correlation survive training?"
    return Summary(7, TABLE.title, TABLE.chapter, claim, "centered PN correlation, step 0 → last snapshot",
                   tuple(rows))
