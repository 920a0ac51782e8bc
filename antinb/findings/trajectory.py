"""Finding 2: how does the correlation of a PN pair evolve along the sampling trajectory?

The paper (§4): for a PN pair, the states ``x_t(z)``, ``x_t(-z)`` and the noise predictions
``eps(x_t(z))``, ``eps(x_t(-z))`` start at correlation -1 at ``t = T``, stay strongly negative and
rise only in the last steps.

:func:`measure` records, at every step of DDIM and of DDPM (per-step noise negated in the partner
chain), the standard pair correlation of the states and of the noise predictions, and the centered
one of the states (the mean state of all chains at that step subtracted first), for every model.
It also records, at every step, the share ``f_t`` of the pixel variance that the mean state
carries: with ``x = m + u`` for the mean state ``m`` shared by both members, the standard
correlation of a pair is about ``f_t + (1 - f_t) * rho_centered`` (:func:`standard_from_centered`),
so a standard correlation that turns positive while the centered one stays negative is the
mean image taking over, not a loss of the mirror symmetry.
The first step is exact: ``x_T`` of a PN pair is ``(z, -z)``, correlation -1. For an affine
antisymmetric noise predictor ``eps(x, t) = a_t x + c_t`` every sampler step is affine in
``(x_t, eps, xi_t)``, so the pair stays mirrored about a centre common to all pairs: the centered
correlation is -1 at every step (the standard one need not be, as the centre is not flat).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .. import paper, plots, stats
from ..cache import memo
from ..measurements import measurement
from ..models import DiffusionModel, load, name_of
from ..pairs import conditioning, pair_samples, rows_per_image
from . import base
from .base import Result, Row, Summary, Table, fill, template_regex
from .verdicts import FLAGGED, REPRODUCED, Claim, flag, judge

__all__ = ["TRAJ_X_FIRST", "TRAJ_EPS_FIRST", "TRAJ_X_MID", "TRAJ_EPS_MID", "TRAJ_X_LAST", "TRAJ_FINAL",
           "TRAJ_STEPS_BELOW", "TRAJ_X_MID_CI", "TRAJ_FINAL_CI", "TRAJ_FINAL_CENTERED", "TRAJ_FINAL_CENTERED_CI",
           "TRAJ_STEPS_BELOW_CI", "TRAJ_N_STEPS", "TRAJ_CENTERED_STEPS_BELOW", "TRAJ_CENTERED_STEPS_BELOW_CI",
           "TRAJ_MEAN_SHARE_MID", "TRAJ_MEAN_SHARE_FINAL", "TRAJ_DECOMPOSITION_GAP", "mean_share",
           "standard_from_centered", "TEMPLATES", "THRESHOLD", "CLAIM_SHARE", "claim", "headline_sentence", "TABLE",
           "paper_records", "Trajectory",
           "trajectory_correlations", "Params", "TrajectoryMeasurements", "measure", "cost", "TrajectoryResult",
           "present", "run", "summary"]

#: The level below which we call the correlation "strongly negative".
THRESHOLD = -0.5

#: Mean over PN pairs of the standard correlation of ``x_t`` / ``eps`` at the first step (``t = T``), the
#: middle step and the last step, and of the final samples.
TRAJ_X_FIRST = "traj_x_first/{model}/{sampler}"
TRAJ_EPS_FIRST = "traj_eps_first/{model}/{sampler}"
TRAJ_X_MID = "traj_x_mid/{model}/{sampler}"
TRAJ_EPS_MID = "traj_eps_mid/{model}/{sampler}"
TRAJ_X_LAST = "traj_x_last/{model}/{sampler}"
TRAJ_FINAL = "traj_final/{model}/{sampler}"
#: One plus the last step at which the mean standard correlation of ``x_t`` is below -0.5 (0: never).
TRAJ_STEPS_BELOW = "traj_steps_below_-0.5/{model}/{sampler}"
#: 95 % t-intervals over pairs ``[low, high]`` of the middle-step and the final correlations.
TRAJ_X_MID_CI = "traj_x_mid_ci/{model}/{sampler}"
TRAJ_FINAL_CI = "traj_final_ci/{model}/{sampler}"
#: Mean centered correlation of the final samples (centre: the mean of all final samples) and its interval.
TRAJ_FINAL_CENTERED = "traj_final_centered/{model}/{sampler}"
TRAJ_FINAL_CENTERED_CI = "traj_final_centered_ci/{model}/{sampler}"
#: 95 % percentile bootstrap interval over pairs of :data:`TRAJ_STEPS_BELOW`.
TRAJ_STEPS_BELOW_CI = "traj_steps_below_-0.5_ci/{model}/{sampler}"
#: The number of recorded steps (network calls) of the trajectory.
TRAJ_N_STEPS = "traj_n_steps/{model}/{sampler}"
#: :data:`TRAJ_STEPS_BELOW` for the centered correlation of ``x_t``, and its bootstrap interval.
TRAJ_CENTERED_STEPS_BELOW = "traj_centered_steps_below_-0.5/{model}/{sampler}"
TRAJ_CENTERED_STEPS_BELOW_CI = "traj_centered_steps_below_-0.5_ci/{model}/{sampler}"
#: The mean state's share ``f`` of the pixel variance (:func:`mean_share`) half way and in the final samples.
TRAJ_MEAN_SHARE_MID = "traj_mean_share_mid/{model}/{sampler}"
TRAJ_MEAN_SHARE_FINAL = "traj_mean_share_final/{model}/{sampler}"
#: The largest gap over steps between the mean standard correlation of ``x_t`` and
#: :func:`standard_from_centered` of the mean centered one: how well the mean image explains the difference.
TRAJ_DECOMPOSITION_GAP = "traj_decomposition_gap/{model}/{sampler}"

#: Every record template of this finding.
TEMPLATES: tuple[str, ...] = (TRAJ_X_FIRST, TRAJ_EPS_FIRST, TRAJ_X_MID, TRAJ_EPS_MID, TRAJ_X_LAST, TRAJ_FINAL,
                              TRAJ_STEPS_BELOW, TRAJ_X_MID_CI, TRAJ_FINAL_CI, TRAJ_FINAL_CENTERED,
                              TRAJ_FINAL_CENTERED_CI, TRAJ_STEPS_BELOW_CI, TRAJ_N_STEPS, TRAJ_CENTERED_STEPS_BELOW,
                              TRAJ_CENTERED_STEPS_BELOW_CI, TRAJ_MEAN_SHARE_MID, TRAJ_MEAN_SHARE_FINAL,
                              TRAJ_DECOMPOSITION_GAP)

#: The paper's "rising only in the last steps", read as a number: the mean standard correlation of the states
#: stays below :data:`THRESHOLD` for at least this share of the sampler's steps (all but the last 10 %).
CLAIM_SHARE = 0.9

TABLE = Table('Finding 2: the correlation along the trajectory', '02_timestep_evolution',
              'The number of sampler steps over which the mean standard correlation of the states $x_t$ of PN '
              'pairs stays below −0.5, with its 95 % bootstrap interval over pairs, judged against the paper\'s '
              '"all but the last few steps" read as at least 90 % of them; the start is exactly −1 by '
              'construction.')


def paper_records() -> dict[str, float | str]:
    """The paper's numbers under this finding's record names (they hold for every model: ``*``)."""
    return {TRAJ_X_FIRST.format(model="*", sampler="*"): paper.TRAJECTORY["x_first"],
            TRAJ_EPS_FIRST.format(model="*", sampler="*"): paper.TRAJECTORY["eps_first"]}


def claim(n_steps: int) -> Claim:
    """The paper's claim for a trajectory of ``n_steps`` steps, in steps below −0.5: from
    ``CLAIM_SHARE * n_steps`` to all of them; no effect is 0 steps (never strongly negative)."""
    return Claim(CLAIM_SHARE * n_steps, float(n_steps), 0.0)


def summary(records: dict[str, Any], parameters: dict[str, Any] | None = None) -> Summary:
    """Finding 2 from its records: one row per model and sampler, the number of steps over which the mean
    standard correlation of ``x_t`` stays below −0.5 with its 95 % bootstrap interval, judged by the book's
    rules (:func:`antinb.findings.verdicts.judge`) against :func:`claim`: *reproduced* when the interval
    reaches :data:`CLAIM_SHARE` of the steps, *partly* when it stays below. The start (exactly −1) holds by
    construction and decides nothing. Rows of a flagged model are marked.
    """
    params = parameters or {}
    rx = template_regex(TRAJ_STEPS_BELOW)
    rows = []
    for name, below in records.items():
        m = rx.match(name)
        if not m:
            continue
        k = {"model": m["model"], "sampler": m["sampler"]}
        n = int(records.get(fill(TRAJ_N_STEPS, **k)) or params.get(f"{k['sampler']}_steps") or below)
        lo, hi = records[fill(TRAJ_STEPS_BELOW_CI, **k)]
        final = base.ci_text(records[fill(TRAJ_FINAL, **k)], records[fill(TRAJ_FINAL_CI, **k)])
        centered = base.ci_text(records[fill(TRAJ_FINAL_CENTERED, **k)], records[fill(TRAJ_FINAL_CENTERED_CI, **k)])
        caveat = f"final samples: standard {final}, centered {centered}"
        if records[fill(TRAJ_FINAL_CI, **k)][0] > 0:
            caveat += " (standard positive: the shared mean image)"
        c_below = records.get(fill(TRAJ_CENTERED_STEPS_BELOW, **k))
        if c_below is not None:
            c_lo, c_hi = records[fill(TRAJ_CENTERED_STEPS_BELOW_CI, **k)]
            caveat += (f"; centered correlation of the states below −0.5 for {c_below} of {n} steps [{c_lo}, {c_hi}]; "
                       f"mean image's share of the final pixel variance "
                       f"{records[fill(TRAJ_MEAN_SHARE_FINAL, **k)]:.2f}")
        if k["model"] in FLAGGED:
            caveat += f"; flagged: {FLAGGED[k['model']]}"
        setting = f"{k['model']}{flag(k['model'])}, {k['sampler'].upper()}-{n}"
        if params.get("n_pairs"):
            setting += f", {params['n_pairs']} PN pairs"
        start = records[fill(TRAJ_X_FIRST, **k)]
        ours = f"starts at {start:+.3f}; below −0.5 for {below} of {n} steps [{lo}, {hi}]".replace("-", "−")
        rows.append(Row("every model (§4 figure)",
                        f"−1 at t = T, below −0.5 for all but the last few steps (≥ {math.ceil(CLAIM_SHARE * n)} "
                        f"of {n})", setting, ours, judge((lo, hi), claim(n)), caveat, value=float(below),
                        ci=(float(lo), float(hi)), short=f"{below} of {n} steps [{lo}, {hi}]",
                        flagged=k["model"] in FLAGGED))
    claim_text = "PN trajectories start at correlation −1 and stay strongly negative, rising only in the last steps"
    return Summary(2, TABLE.title, TABLE.chapter, claim_text, "steps with mean corr(x_t) < −0.5", tuple(rows))


@memo("stats", "pairs")
def trajectory_correlations(model: DiffusionModel, n_pairs: int, *, sampler: str = "ddim", steps: int = 50,
                            seed: int = 0, max_batch_size: int = 512, progress: bool = True, prompts=None,
                            guidance_scale: float | None = None) -> dict[str, Any]:
    """Correlation of PN pairs at every sampler step: ``x`` and ``eps`` ``(P, S)``, ``timesteps`` ``(S,)``.

    Step 0 is ``t = T`` (the initial noise: exactly -1 for ``x``); the last column is the final
    network call. ``x_centered`` ``(P, S)``: the centered correlation of the states, the centre the
    mean state of all ``2P`` chains at that step. ``share`` ``(S,)``: :func:`mean_share` of the states
    at each step. ``final`` and ``final_centered`` ``(P,)``: the standard and centered correlation of
    the outputs, ``final_share`` their :func:`mean_share`.
    """
    xs, xcs, es, ts, shares = [], [], [], [], []

    def record_step(step: int, t: int, x_t: torch.Tensor, eps: torch.Tensor) -> None:
        x_t = x_t.cpu()
        xs.append(stats.pair_correlation(x_t))
        xcs.append(stats.pair_correlation(x_t, centered=True))
        es.append(stats.pair_correlation(eps.cpu()))
        shares.append(mean_share(x_t))
        ts.append(t)

    out = pair_samples(model, n_pairs, "PN", sampler=sampler, steps=steps, seed=seed, prompts=prompts,
                       guidance_scale=guidance_scale, max_batch_size=max_batch_size, callback=record_step,
                       progress=progress)
    return {"timesteps": np.asarray(ts), "x": torch.stack(xs, 1).numpy(), "eps": torch.stack(es, 1).numpy(),
            "x_centered": torch.stack(xcs, 1).numpy(), "share": np.asarray(shares),
            "final": stats.pair_correlation(out).numpy(),
            "final_centered": stats.pair_correlation(out, centered=True).numpy(), "final_share": mean_share(out)}


def mean_share(x: torch.Tensor) -> float:
    """The share of the pixel variance of ``x`` ``(N, C, H, W)`` carried by its mean image ``m``:
    ``f = s_m / (s_m + s_u)``, ``s_m`` the variance of ``m`` over pixels, ``s_u`` the mean over rows of
    the variance over pixels of ``x_i - m``. 0 when the mean image is flat, 1 when every row is ``m``."""
    x = torch.as_tensor(x, dtype=torch.float64).flatten(1)
    m = x.mean(0)
    s_m = m.var(unbiased=False).item()
    s_u = (x - m).var(1, unbiased=False).mean().item()
    return s_m / (s_m + s_u) if s_m + s_u > 0 else 0.0


def standard_from_centered(centered, share):
    """The standard correlation a pair ``(m + u, m + v)`` has when its centered one is ``centered`` and the
    mean image ``m`` carries the share ``share`` of the pixel variance (:func:`mean_share`), neglecting the
    covariance over pixels of ``m`` with ``u`` and ``v`` (zero on average over pairs):
    ``share + (1 - share) * centered``."""
    return np.asarray(share) + (1 - np.asarray(share)) * np.asarray(centered)


def _steps_below(curve: np.ndarray, threshold: float = THRESHOLD) -> int:
    """One plus the last index at which ``curve`` is below ``threshold``; 0 when it never is."""
    below = np.flatnonzero(curve < threshold)
    return int(below.max()) + 1 if below.size else 0


@dataclass(frozen=True)
class Trajectory:
    """The per-step pair correlations of one model and sampler (see :func:`trajectory_correlations`).

    ``steps_below_ci`` is the 95 % percentile bootstrap interval over pairs of :attr:`steps_below`.
    """

    model: str
    sampler: str
    timesteps: np.ndarray = field(repr=False)
    x: np.ndarray = field(repr=False)
    eps: np.ndarray = field(repr=False)
    x_centered: np.ndarray = field(repr=False)
    final: np.ndarray = field(repr=False)
    final_centered: np.ndarray = field(repr=False)
    steps_below_ci: tuple[int, int] = (0, 0)
    share: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    final_share: float = float("nan")
    centered_steps_below_ci: tuple[int, int] = (0, 0)

    @property
    def n_steps(self) -> int:
        return len(self.timesteps)

    @property
    def x_mean(self) -> np.ndarray:
        return self.x.mean(0)

    @property
    def eps_mean(self) -> np.ndarray:
        return self.eps.mean(0)

    @property
    def steps_below(self) -> int:
        """One plus the last step at which the mean correlation of ``x_t`` is below -0.5."""
        return _steps_below(self.x_mean)

    @property
    def centered_steps_below(self) -> int:
        """:attr:`steps_below` for the centered correlation of ``x_t``."""
        return _steps_below(self.x_centered.mean(0))

    @property
    def decomposition_gap(self) -> float:
        """Largest gap over steps between the mean standard correlation of ``x_t`` and
        :func:`standard_from_centered` of the mean centered one."""
        predicted = standard_from_centered(self.x_centered.mean(0), self.share)
        return float(np.abs(self.x_mean - predicted).max())


@dataclass(frozen=True)
class Params:
    """What finding 2 measures: the models (names or loaded models), ``n_pairs`` PN pairs per model under DDIM
    with ``ddim_steps`` and DDPM with ``ddpm_steps`` steps (seed ``seed``), text-to-image models on ``prompts``
    with guidance ``prompt_guidance``, 95 % bootstrap intervals of the step counts from ``n_boot`` resamples.
    The one parameters object of :func:`measure` and :func:`cost`."""

    models: Sequence
    n_pairs: int = 64
    ddim_steps: int = 50
    ddpm_steps: int = 50
    seed: int = 0
    device: str = "auto"
    max_batch_size: int = 512
    prompts: Any = None
    prompt_guidance: float = 7.5
    progress: bool = False
    n_boot: int = 2000


@dataclass(frozen=True)
class TrajectoryMeasurements:
    """Everything finding 2 measured: one :class:`Trajectory` per ``(model, sampler)`` and the settings."""

    runs: dict[tuple[str, str], Trajectory] = field(repr=False)
    settings: dict[str, Any]


def _bootstrap_steps_below(x: np.ndarray, *, seed: int, n_boot: int = 2000, level: float = 0.95) -> tuple[int, int]:
    """Percentile bootstrap over pairs (rows of ``x`` ``(P, S)``) of :func:`_steps_below` of the mean curve."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.shape[0], size=(n_boot, x.shape[0]))
    curves = x[idx].mean(1)  # (n_boot, S)
    below = curves < THRESHOLD
    last = np.where(below.any(1), below.shape[1] - np.argmax(below[:, ::-1], axis=1), 0)
    lo, hi = np.quantile(last, [(1 - level) / 2, (1 + level) / 2])
    return int(np.floor(lo)), int(np.ceil(hi))


@measurement
def measure(params: Params) -> TrajectoryMeasurements:
    """Finding 2 for each model of ``params`` (a name or a loaded :class:`antinb.models.DiffusionModel`), DDIM
    and DDPM.

    ``n_pairs`` PN pairs per model and sampler (:func:`trajectory_correlations`, seed ``seed``);
    class-conditional models sample their null class, text-to-image models ``prompts`` with guidance
    ``prompt_guidance`` (runs keyed by that conditioning, :func:`antinb.pairs.conditioning`); the step counts'
    bootstrap intervals over pairs (:func:`_bootstrap_steps_below`).
    """
    p = params
    runs = {}
    for spec in p.models:
        model = load(spec, device=p.device) if isinstance(spec, str) else spec
        key, cond = conditioning(model, p.prompts, p.prompt_guidance)
        for sampler, steps in (("ddim", p.ddim_steps), ("ddpm", p.ddpm_steps)):
            tr = trajectory_correlations(model, p.n_pairs, sampler=sampler, steps=steps, seed=p.seed,
                                         max_batch_size=p.max_batch_size, progress=p.progress, **cond)
            runs[key, sampler] = Trajectory(
                key, sampler, tr["timesteps"], tr["x"], tr["eps"], tr["x_centered"], tr["final"],
                tr["final_centered"], _bootstrap_steps_below(tr["x"], seed=p.seed, n_boot=p.n_boot),
                tr["share"], tr["final_share"],
                _bootstrap_steps_below(tr["x_centered"], seed=p.seed, n_boot=p.n_boot))
    return TrajectoryMeasurements(runs, {"n_pairs": p.n_pairs, "seed": p.seed})


def cost(params: Params) -> dict[str, int]:
    """Network evaluations (image rows through the network once) :func:`measure` makes with ``params``, per
    model name (:func:`antinb.models.name_of`); nothing is loaded. The bootstrap and the callback cost
    nothing."""
    p = params
    out: dict[str, int] = {}
    for spec in p.models:
        # one PN pair set of 2 * n_pairs rows per sampler, one network call per step (every row twice
        # for a text-to-image model sampling prompts with guidance)
        n = 2 * p.n_pairs * (p.ddim_steps + p.ddpm_steps) * rows_per_image(spec, p.prompts, p.prompt_guidance)
        out[name_of(spec)] = out.get(name_of(spec), 0) + n
    return out


# ------------------------------------------------------------------------------------------ presentation


def headline_sentence(s: Summary) -> str:
    """The verdict's opening sentence (at most 40 words): the verdict, the takeaway and the one number that
    carries it (steps below −0.5 with its interval and setting), of a model the book does not flag when there
    is one: the shortest run below −0.5."""
    word = f"**{s.verdict[0].upper()}{s.verdict[1:]}**"
    rows = [r for r in s.ran if r.ci is not None]
    if not rows:
        return f"{word}: no trajectory was measured."
    pool = [r for r in rows if not r.flagged] or rows
    key = min(pool, key=lambda r: r.value)
    cite = f"{key.our_setting}: {key.short}"
    if s.verdict == REPRODUCED:
        return (f"{word}: PN pairs start exactly mirrored and stay below −0.5 until the last few steps in every "
                f"setting, the shortest being {cite}.")
    short = [r for r in rows if r.verdict != REPRODUCED]
    return (f"{word}: PN pairs start exactly mirrored and stay below −0.5 most of the way, but in {len(short)} of "
            f"{len(rows)} settings rise before the last few steps ({cite}).")


@dataclass(frozen=True)
class TrajectoryResult(TrajectoryMeasurements, Result):
    """Finding 2 presented: records, tables, paper comparison, verdict and figure, all computed from the
    measurements alone."""

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m for m, _ in self.runs))

    @property
    def samplers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s for _, s in self.runs))

    # -------------------------------------------------------------------- records

    def records(self) -> dict[str, Any]:
        """``{record name: value}`` per model and sampler."""
        out: dict[str, Any] = {}
        for (m, s), tr in self.runs.items():
            k = {"model": m, "sampler": s}
            x_mean, e_mean = tr.x_mean, tr.eps_mean
            mid = len(x_mean) // 2
            out[fill(TRAJ_X_FIRST, **k)] = float(x_mean[0])
            out[fill(TRAJ_EPS_FIRST, **k)] = float(e_mean[0])
            out[fill(TRAJ_X_MID, **k)] = float(x_mean[mid])
            out[fill(TRAJ_EPS_MID, **k)] = float(e_mean[len(e_mean) // 2])
            out[fill(TRAJ_X_LAST, **k)] = float(x_mean[-1])
            out[fill(TRAJ_FINAL, **k)] = float(tr.final.mean())
            out[fill(TRAJ_STEPS_BELOW, **k)] = tr.steps_below
            out[fill(TRAJ_X_MID_CI, **k)] = list(stats.mean_interval(tr.x[:, mid])[1:])
            out[fill(TRAJ_FINAL_CI, **k)] = list(stats.mean_interval(tr.final)[1:])
            out[fill(TRAJ_FINAL_CENTERED, **k)] = float(tr.final_centered.mean())
            out[fill(TRAJ_FINAL_CENTERED_CI, **k)] = list(stats.mean_interval(tr.final_centered)[1:])
            out[fill(TRAJ_STEPS_BELOW_CI, **k)] = list(tr.steps_below_ci)
            out[fill(TRAJ_N_STEPS, **k)] = tr.n_steps
            out[fill(TRAJ_CENTERED_STEPS_BELOW, **k)] = tr.centered_steps_below
            out[fill(TRAJ_CENTERED_STEPS_BELOW_CI, **k)] = list(tr.centered_steps_below_ci)
            out[fill(TRAJ_MEAN_SHARE_MID, **k)] = float(tr.share[mid])
            out[fill(TRAJ_MEAN_SHARE_FINAL, **k)] = float(tr.final_share)
            out[fill(TRAJ_DECOMPOSITION_GAP, **k)] = tr.decomposition_gap
        return out

    def parameters(self) -> dict[str, Any]:
        """The sizes of the measurement, named as the notebook's parameters (for :func:`summary`)."""
        return {"n_pairs": self.settings["n_pairs"],
                **{f"{s}_steps": tr.n_steps for (_, s), tr in self.runs.items()}}

    def summary(self) -> Summary:
        """:func:`summary` of these records and sizes."""
        return summary(self.records(), self.parameters())

    # -------------------------------------------------------------------- tables

    @staticmethod
    def _label(model: str, tr: Trajectory) -> str:
        return f"{model}{flag(model)}, {tr.sampler.upper()}-{tr.n_steps}"

    def table(self) -> pd.DataFrame:
        """Per model and sampler, along the trajectory: the correlation of the noise predictions at t = T (that of
        the states is exactly −1), of the states half way (± the half-width of its 95 % t-interval), and the
        steps over which the mean correlation of the states stays below −0.5, standard and centered, with 95 %
        bootstrap intervals over pairs."""
        rows = []
        for (m, s), tr in self.runs.items():
            rows.append({"model, sampler": self._label(m, tr), "ε at t = T": _s(float(tr.eps_mean[0]), 3),
                         "states half way": _pm(tr.x[:, tr.n_steps // 2]),
                         "steps below −0.5": "{} [{}, {}]".format(tr.steps_below, *tr.steps_below_ci),
                         "same, centered": "{} [{}, {}]".format(tr.centered_steps_below, *tr.centered_steps_below_ci)})
        return pd.DataFrame(rows).set_index("model, sampler")

    def outputs_table(self) -> pd.DataFrame:
        """Per model and sampler, at the end: the correlation of the final samples, standard and centered
        (± the half-width of the 95 % t-interval), and the share of their pixel variance that the mean image
        carries (:func:`mean_share`)."""
        rows = [{"model, sampler": self._label(m, tr), "standard": _pm(tr.final), "centered": _pm(tr.final_centered),
                 "mean image's share": f"{tr.final_share:.2f}"} for (m, s), tr in self.runs.items()]
        return pd.DataFrame(rows).set_index("model, sampler")

    def versus_paper(self) -> pd.DataFrame:
        """The paper's values at t = T (every model) beside ours, and where the paper gives only a description."""
        x_first = [float(tr.x_mean[0]) for tr in self.runs.values()]
        e_first = [float(tr.eps_mean[0]) for tr in self.runs.values()]
        below = [tr.steps_below for tr in self.runs.values()]
        n = max(tr.n_steps for tr in self.runs.values())
        rows = [{"quantity": "corr(x_t) at t = T", "paper": f"{_s(paper.TRAJECTORY['x_first'], 0)} (exact)",
                 "ours": base.span(_s(min(x_first), 4), _s(max(x_first), 4))},
                {"quantity": "corr(ε) at t = T", "paper": str(paper.TRAJECTORY["eps_first"]),
                 "ours": base.span(_s(min(e_first), 3), _s(max(e_first), 3))},
                {"quantity": "steps with corr(x_t) < −0.5",
                 "paper": f"all but the last few (read: ≥ {math.ceil(CLAIM_SHARE * n)} of {n})",
                 "ours": f"{base.span(min(below), max(below))} of {n}"}]
        return pd.DataFrame(rows).set_index("quantity")

    def verdict(self) -> str:
        """The chapter's verdict in markdown: one quotable sentence (:func:`headline_sentence`), a table of every
        setting with its rule verdict, then the likely reason and the limits."""
        s = self.summary()
        lines = [headline_sentence(s), "",
                 f"Steps over which the mean correlation of the states of PN pairs stays below −0.5 "
                 f"({self.settings['n_pairs']} pairs per setting; 95 % bootstrap intervals over pairs), against the "
                 f"paper's \"all but the last few\", read as at least {round(100 * CLAIM_SHARE)} % of the steps "
                 "({doc}`../methods`):", "",
                 "| setting | standard | centered | verdict |", "|---|---|---|---|"]
        for (m, sampler), tr in self.runs.items():
            row = next(r for r in s.ran if r.our_setting.startswith(self._label(m, tr) + ","))
            lines.append(f"| {self._label(m, tr)} | {tr.steps_below} of {tr.n_steps} "
                         "[{}, {}] | {} of {} [{}, {}] | {} |".format(*tr.steps_below_ci, tr.centered_steps_below,
                                                                    tr.n_steps, *tr.centered_steps_below_ci,
                                                                    row.verdict))
        lines += ["", self._why()]
        return "\n".join(lines)

    def _why(self) -> str:
        """The paragraph under the verdict's table: the likely reason and the limits, from the measurements."""
        runs = list(self.runs.values())
        early = [t for t in runs if t.steps_below < CLAIM_SHARE * t.n_steps]  # rises before the last few steps
        tr = max(early or runs, key=lambda t: t.final_share)
        gap = max(t.decomposition_gap for t in runs)
        held = [t for t in runs if t.centered_steps_below >= CLAIM_SHARE * t.n_steps]
        fit = (f"The standard correlation is about that share plus the rest times the centered one, matching the "
               f"measured curve to within {gap:.2f} at every step of every setting")
        if early:
            text = ("Why the standard curve rises early: both members of a pair take on the model's mean image, "
                    f"which is not mirrored; its share of the pixel variance reaches {tr.final_share:.2f} in the final "
                    f"samples of {tr.model} {tr.sampler.upper()} (a point estimate). " + fit
                    + f", and the centered correlation stays below −0.5 until the last few steps in {len(held)} of "
                    f"{len(runs)} settings. ")
            text += ("So the early rise is the shared mean image, not a loss of the mirror symmetry. " if gap < 0.1
                     else "So the shared mean image explains most of the early rise, but not all of it. ")
        else:
            text = ("The mean image, which both members of a pair share, carries at most "
                    f"{tr.final_share:.2f} of the final pixel variance ({tr.model} {tr.sampler.upper()}, a point "
                    "estimate), too little to lift the standard correlation early. " + fit + ". ")
        flagged = [m for m in self.models if m in FLAGGED]
        text += "Our models are small and none is the paper's."
        if flagged:
            text += f" † {', '.join(flagged)}: flagged by the book ({{doc}}`../limits`)."
        return text

    # -------------------------------------------------------------------- figures

    def figure(self) -> plt.Figure:
        """Mean pair correlation of ``x_t`` and ``eps`` against the step, 10-90 % band over pairs; a 95 %
        band of the mean is too narrow to see. Models in rows, samplers in columns."""
        panels = {(f"{m}{flag(m)}", f"{s.upper()}-{self.runs[m, s].n_steps}"): {
            "$x_t$": self.runs[m, s].x, "$x_t$, centered": self.runs[m, s].x_centered,
            "$\\epsilon_\\theta(x_t)$": self.runs[m, s].eps,
            "$x_t$ from centered + mean image": standard_from_centered(
                self.runs[m, s].x_centered.mean(0), self.runs[m, s].share)[None]} for m, s in self.runs}
        return plots.trajectory_grid(panels, threshold=THRESHOLD)


def _s(x: float, digits: int = 2) -> str:
    """``x`` with sign, ``digits`` decimals and a typographic minus (:func:`base.ci_text`)."""
    return base.ci_text(x, None, f"+.{digits}f")


def _pm(values: np.ndarray) -> str:
    mean, lo, hi = stats.mean_interval(values)
    return f"{_s(mean)} ± {(hi - lo) / 2:.2f}"


def _ci(values: np.ndarray) -> str:
    mean, lo, hi = stats.mean_interval(values)
    return base.ci_text(mean, (lo, hi))


def present(measurements: TrajectoryMeasurements) -> TrajectoryResult:
    """The presentation of finding 2's measurements (no network evaluation)."""
    return base.presented(TrajectoryResult, measurements)


def run(*args: Any, **kwargs: Any) -> TrajectoryResult:
    """``present(measure(Params(*args, **kwargs)))``: measure and present in one call."""
    return present(measure(Params(*args, **kwargs)))
