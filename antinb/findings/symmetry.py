"""Finding 3: is the noise predictor affine antisymmetric, eps(x, t) + eps(-x, t) ≈ 2 c_t?

The paper (§4, Figure 4) conjectures that at every timestep the learned noise predictor is close to
affine antisymmetric, and measures it on 1-D slices ``s -> eps(s x, t)_k`` with an antisymmetry
score (1 for affine antisymmetric, 0 for even): mean > 0.99 and 10 % quantile > 0.97 on CIFAR-10
and LSUN-Church. :func:`run` computes the same score on our models, and the direct residual
``||eps(x) + eps(-x) - 2 c_t|| / ||eps(x)||`` of the conjecture.

Intervals: the slices of one random ``x`` share that ``x``, so they are not independent; the 95 %
intervals are a percentile bootstrap over the random ``x`` (clusters of ``n_coords`` slices),
stratified by timestep (each timestep draws its own ``x``), 2,000 resamples from a seeded numpy
Generator. The residual's interval resamples its draws the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib import ticker

from .. import models as _models
from .. import paper, stats
from ..cache import memo
from ..measurements import measurement
from ..noise import seeded_generator, seeded_rng
from ..models import DiffusionModel
from ..sampling import make_scheduler, predict_eps
from . import base
from .base import ByModel, Row, Summary, Table, fill, template_regex
from .verdicts import FLAGGED, Claim, flag, judge

__all__ = ["AS_MEAN", "AS_Q10", "AS_MIN", "AS_N", "AS_MEAN_BY_T", "RESIDUAL_MEAN", "RESIDUAL_BY_T", "AS_MEAN_CI",
           "AS_Q10_CI", "RESIDUAL_MEAN_CI", "TEMPLATES", "TABLE", "paper_records", "paper_bounds", "eps_slices",
           "symmetry_residual", "default_timesteps", "ModelSymmetry", "Params", "SymmetryMeasurements", "measure",
           "cost", "SymmetryResult", "present", "run", "summarise", "summary", "claims", "TAKEAWAYS"]

#: Antisymmetry score over all slices of a model (all timesteps): mean, 10 % quantile, minimum, count.
AS_MEAN = "as_mean/{model}"
AS_Q10 = "as_q10/{model}"
AS_MIN = "as_min/{model}"
AS_N = "as_n/{model}"
#: ``{timestep: mean score}`` (timestep keys as strings).
AS_MEAN_BY_T = "as_mean_by_t/{model}"
#: Mean relative residual ``||eps(x) + eps(-x) - 2 c_t|| / ||eps(x)||`` over timesteps and draws; by timestep.
RESIDUAL_MEAN = "residual_mean/{model}"
RESIDUAL_BY_T = "residual_by_t/{model}"
#: 95 % bootstrap intervals ``[low, high]`` of the three headline numbers.
AS_MEAN_CI = "as_mean_ci/{model}"
AS_Q10_CI = "as_q10_ci/{model}"
RESIDUAL_MEAN_CI = "residual_mean_ci/{model}"

#: Every record template of this finding.
TEMPLATES = (AS_MEAN, AS_Q10, AS_MIN, AS_N, AS_MEAN_BY_T, RESIDUAL_MEAN, RESIDUAL_BY_T, AS_MEAN_CI, AS_Q10_CI,
             RESIDUAL_MEAN_CI)

TABLE = Table('Finding 3: is the noise predictor affine antisymmetric?', '03_symmetry',
              'Antisymmetry score of 1-D slices $s \\mapsto \\epsilon_\\theta(s x, t)_k$, $s \\in [-1, 1]$ ({doc}`methods`), 1 for an affine antisymmetric predictor and 0 for an even one, with 95 % bootstrap intervals over slices.')


def paper_records() -> dict[str, str]:
    """The paper's bounds under this finding's record names."""
    names = {"mean": AS_MEAN, "q10": AS_Q10}
    return {fill(names[q], model=m): value for (m, q), value in paper.SYMMETRY.items()}


def paper_bounds() -> dict[str, float]:
    """The paper's lower bounds as numbers, ``{"mean": 0.99, "q10": 0.97}`` (the same for its models)."""
    out: dict[str, float] = {}
    for (_, q), value in paper.SYMMETRY.items():
        out[q] = float(str(value).replace(">", "").strip())
    return out


#: No effect for the antisymmetry score is 0, the score of an even predictor (the book's rules); the paper's
#: claims are lower bounds on the mean and the 10 % quantile.
_STATISTICS = (("mean", AS_MEAN, AS_MEAN_CI, "mean score"), ("q10", AS_Q10, AS_Q10_CI, "10 % quantile"))


def claims() -> dict[str, Claim]:
    """The paper's claims under the book's rules: ``{"mean": Claim(0.99, inf), "q10": Claim(0.97, inf)}``, no
    effect 0 (an even predictor scores 0)."""
    return {q: Claim(v, math.inf, null=0.0) for q, v in paper_bounds().items()}


@dataclass(frozen=True)
class _Judged:
    """One judged statistic of one model: what :func:`summary` and the chapter's verdict table both show."""

    model: str
    statistic: str
    value: float
    ci: tuple[float, float]
    paper: str
    verdict: str
    outcome: str = ""

    @property
    def text(self) -> str:
        return base.ci_rounded(self.value, self.ci)


def _setting(records: dict[str, Any], model: str) -> str:
    """``fashion-mnist-cond, 1,200 slices at 6 timesteps`` (a flagged model marked †)."""
    n = records.get(fill(AS_N, model=model))
    by_t = records.get(fill(AS_MEAN_BY_T, model=model))
    out = f"{model}{flag(model)}"
    if n:
        out += f", {int(n):,} slices"
        if by_t:
            out += f" at {len(by_t)} timesteps"
    return out


def _judged(records: dict[str, Any]) -> list[_Judged]:
    """Per model: the mean score and its 10 % quantile judged against the paper's bounds. The residual of the
    conjecture is shown, not judged: a norm, it lies above 0 for any predictor computed in floating point."""
    c, b = claims(), paper_bounds()
    out = []
    rx = template_regex(AS_MEAN)
    for name in records:
        m = rx.match(name)
        if not m:
            continue
        model = m["model"]
        for q, tmpl, ci_tmpl, label in _STATISTICS:
            value, ci = float(records[fill(tmpl, model=model)]), records[fill(ci_tmpl, model=model)]
            ci = (float(ci[0]), float(ci[1]))
            out.append(_Judged(model, label, value, ci, f"> {b[q]:g}", judge(ci, c[q])))
    return out


#: The chapter's finding in one sentence, by its verdict (the Summary's takeaway).
TAKEAWAYS = {
    base.REPRODUCED: "Our noise predictors are as close to affine antisymmetric as the paper's.",
    base.PARTLY: "Our noise predictors are mostly, not exactly, affine antisymmetric.",
    base.NOT_SHOWN: "Our noise predictors cannot be told from an even one at this sample size.",
    base.NOT_REPRODUCED: "Our noise predictors are closer to even than to affine antisymmetric.",
    base.NOT_RUN: "The noise predictor's antisymmetry was not measured here.",
}


def summary(records: dict[str, Any], parameters: dict[str, Any] | None = None) -> Summary:
    """Finding 3 from its records: per model, the mean antisymmetry score and its 10 % quantile (95 % bootstrap
    intervals) judged against the paper's bounds by the book's rules (:func:`antinb.findings.verdicts.judge`;
    no effect = a score of 0, that of an even predictor), the residual of the conjecture in the caveat, and one
    row per paper model not run. Rows of a model the book flags are marked."""
    rows, ran = [], set()
    for j in _judged(records):
        pk = base.paper_model(j.model, paper.SYMMETRY)
        ran.add(pk)
        first = j.statistic == _STATISTICS[0][3]
        paper_setting = paper.MODEL_LABELS[pk] if pk else "CIFAR-10, LSUN-Church"
        caveat = []
        if j.model in FLAGGED and first:
            caveat.append(f"† {FLAGGED[j.model]}")
        res = records.get(fill(RESIDUAL_MEAN, model=j.model))
        res_ci = records.get(fill(RESIDUAL_MEAN_CI, model=j.model))
        if first and res is not None:
            caveat.append(f"residual ‖ε(x) + ε(−x) − 2c_t‖ / ‖ε(x)‖ {base.ci_rounded(res, res_ci)} (0 under the conjecture)")
        rows.append(Row(paper_setting, f"{j.statistic} {j.paper}", _setting(records, j.model),
                        f"{j.statistic} {j.text}", j.verdict, "; ".join(caveat), value=j.value, ci=j.ci,
                        short=f"{j.statistic} {j.text}", headline=first, flagged=j.model in FLAGGED))
    b = paper_bounds()
    label = ", ".join(f"{'mean' if q == 'mean' else '10 % quantile'} > {v:g}" for q, v in b.items())
    for model in dict.fromkeys(k[0] for k in paper.SYMMETRY):
        if model not in ran:
            rows.append(Row(paper.MODEL_LABELS.get(model, model), label, "", base.NOT_RUN, base.NOT_RUN,
                            paper_model=model))
    claim = f"the noise predictor is nearly affine antisymmetric at every t: antisymmetry score {label}"
    out = Summary(3, TABLE.title, TABLE.chapter, claim, "antisymmetry score of 1-D slices", tuple(rows), ".3f")
    if out.verdict in TAKEAWAYS and "takeaway" in Summary.__dataclass_fields__:
        out = replace(out, takeaway=TAKEAWAYS[out.verdict])
    return out


def _carrier(s: Summary) -> Row | None:
    """The row whose number carries the finding: the first headline row of a model the book does not flag with
    the finding's own verdict (else the first headline row)."""
    rows = [r for r in s.ran if r.headline]
    for pick in ([r for r in rows if not r.flagged and r.verdict == s.verdict], [r for r in rows if not r.flagged],
                 rows):
        if pick:
            return pick[0]
    return None


def _timestep_tensor(t: int, n: int, device) -> torch.Tensor:
    return torch.full((n,), int(t), dtype=torch.long, device=device)


@memo("stats")
@torch.inference_mode()
def eps_slices(model: DiffusionModel, timesteps: list[int], *, n_x: int = 20, n_coords: int = 10, n_s: int = 21,
               seed: int = 0, max_batch_size: int = 512) -> dict[str, Any]:
    """1-D slices ``s -> eps(s x, t)[i]`` of the noise predictor (the paper's Figure 4).

    For each timestep, ``n_x`` random ``x ~ N(0, I)`` (the scale of ``x_t``) and ``n_coords``
    random coordinates ``i`` of each give ``n_x * n_coords`` slices on the grid
    ``s = linspace(-1, 1, n_s)``. Returns ``s`` ``(S,)``, ``values`` ``(T, n_x * n_coords, S)`` and
    the antisymmetry ``scores`` ``(T, n_x * n_coords)``. Unconditional (null class) for class models.
    """
    if n_s < 3 or n_s % 2 == 0:
        raise ValueError(f"n_s={n_s!r} must be an odd integer >= 3 (the grid must contain s = 0)")
    dev = model.device
    g = seeded_generator(seed)
    s_grid = np.linspace(-1.0, 1.0, n_s)  # float64: exactly symmetric about 0
    s = torch.from_numpy(s_grid).float()
    d = int(np.prod(model.sample_shape))
    values = np.empty((len(timesteps), n_x * n_coords, n_s))
    for ti, t in enumerate(timesteps):
        x = torch.randn(n_x, *model.sample_shape, generator=g)
        coords = torch.stack([torch.randperm(d, generator=g)[:n_coords] for _ in range(n_x)])  # (n_x, n_coords)
        inputs = (s[None, :, None, None, None] * x[:, None]).flatten(0, 1)  # (n_x * S, C, H, W)
        eps = torch.cat([predict_eps(model, chunk.to(dev), _timestep_tensor(t, len(chunk), dev)).cpu()
                         for chunk in inputs.split(max_batch_size)])
        eps = eps.reshape(n_x, n_s, d)
        picked = torch.gather(eps, 2, coords[:, None, :].expand(n_x, n_s, n_coords))  # (n_x, S, n_coords)
        values[ti] = picked.permute(0, 2, 1).reshape(n_x * n_coords, n_s).numpy()
    return {"s": s_grid, "timesteps": np.asarray(timesteps), "values": values,
            "scores": stats.antisymmetry_score(values, s_grid)}


@memo()
@torch.inference_mode()
def symmetry_residual(model: DiffusionModel, timesteps: list[int], *, n: int = 64, seed: int = 0,
                      max_batch_size: int = 512) -> dict[str, np.ndarray]:
    """Direct test of ``eps(x, t) + eps(-x, t) = 2 c_t``: for ``x ~ N(0, I)``, with ``c_t`` the mean
    of ``(eps(x) + eps(-x)) / 2`` over the ``n`` draws, the relative residual
    ``||eps(x) + eps(-x) - 2 c_t|| / ||eps(x)||`` per draw (``(T, n)``; 0 under the conjecture) and
    the relative size of the centre ``||2 c_t|| / ||eps(x)||``."""
    dev = model.device
    g = seeded_generator(seed)
    resid = np.empty((len(timesteps), n))
    centre = np.empty((len(timesteps), n))
    for ti, t in enumerate(timesteps):
        x = torch.randn(n, *model.sample_shape, generator=g)
        both = torch.cat([x, -x])
        eps = torch.cat([predict_eps(model, c.to(dev), _timestep_tensor(t, len(c), dev)).cpu()
                         for c in both.split(max_batch_size)]).flatten(1).double()
        plus, minus = eps[:n], eps[n:]
        c2 = (plus + minus).mean(0)  # 2 c_t
        norm = plus.norm(dim=1)
        resid[ti] = ((plus + minus - c2).norm(dim=1) / norm).numpy()
        centre[ti] = (c2.norm() / norm).numpy()
    return {"timesteps": np.asarray(timesteps), "residual": resid, "centre": centre}


def default_timesteps(model: DiffusionModel, k: int = 6) -> list[int]:
    """``k`` timesteps spread over the DDIM-50 schedule, from ``T`` down to the last step."""
    ts = make_scheduler(model, 50).timesteps.tolist()
    idx = np.linspace(0, len(ts) - 1, k).round().astype(int)
    return [int(ts[i]) for i in idx]




# ------------------------------------------------------------------------------------------ analysis

#: Bootstrap resamples for every interval of this finding.
N_BOOT = 2000


def _quantile10(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.quantile(x, 0.1, axis=axis)


def _cluster_bootstrap(units: np.ndarray, stats_fns: dict[str, Any], *, level: float, n_boot: int,
                       seed: int) -> dict[str, list[float]]:
    """Percentile intervals of statistics of ``units`` ``(T, U, K)``: resample the ``U`` units (with
    their ``K`` values) within each of the ``T`` strata; each statistic maps ``(B, N)`` to ``(B,)``."""
    rng = seeded_rng(seed)
    n_t, n_u, _ = units.shape
    idx = rng.integers(0, n_u, size=(n_boot, n_t, n_u))
    resampled = units[np.arange(n_t)[None, :, None], idx].reshape(n_boot, -1)  # (B, T * U * K)
    alpha = (1.0 - level) / 2.0
    out = {}
    for name, fn in stats_fns.items():
        values = fn(resampled)
        out[name] = [float(np.quantile(values, alpha)), float(np.quantile(values, 1.0 - alpha))]
    return out


@dataclass(frozen=True)
class ModelSymmetry:
    """Finding 3 for one model.

    Attributes:
        name: the model's name.
        timesteps: ``(T,)`` the timesteps probed, ``T`` first.
        s: ``(S,)`` the slice grid on ``[-1, 1]``.
        values: ``(T, n_x * n_coords, S)`` slice values ``eps(s x, t)_k`` (``x``-major: rows
            ``i * n_coords .. (i + 1) * n_coords - 1`` share the ``i``-th ``x``).
        scores: ``(T, n_x * n_coords)`` antisymmetry scores.
        residual: ``(T, n_residual)`` relative residuals of the conjecture.
        centre: ``(T, n_residual)`` relative size of the centre ``||2 c_t|| / ||eps(x)||``.
        n_coords: slices per random ``x``.
        ci: 95 % intervals ``{"mean", "q10", "residual"}``.
    """

    name: str
    timesteps: np.ndarray
    s: np.ndarray
    values: np.ndarray
    scores: np.ndarray
    residual: np.ndarray
    centre: np.ndarray
    n_coords: int
    ci: dict[str, list[float]]

    @property
    def mean(self) -> float:
        return float(self.scores.mean())

    @property
    def q10(self) -> float:
        return float(np.quantile(self.scores.ravel(), 0.1))

    @property
    def residual_mean(self) -> float:
        return float(self.residual.mean())


def summarise(name: str, slices: dict[str, Any], resid: dict[str, np.ndarray], *, n_coords: int,
              level: float = 0.95, n_boot: int = N_BOOT, seed: int = 0) -> ModelSymmetry:
    """Bootstrap intervals for the output of :func:`eps_slices` and :func:`symmetry_residual`."""
    scores = np.asarray(slices["scores"])
    n_t = scores.shape[0]
    units = scores.reshape(n_t, -1, n_coords)  # (T, n_x, n_coords)
    ci = _cluster_bootstrap(units, {"mean": lambda v: v.mean(1), "q10": lambda v: _quantile10(v, 1)},
                            level=level, n_boot=n_boot, seed=seed)
    residual = np.asarray(resid["residual"])
    ci.update(_cluster_bootstrap(residual[:, :, None], {"residual": lambda v: v.mean(1)}, level=level,
                                 n_boot=n_boot, seed=seed + 1))
    return ModelSymmetry(name=name, timesteps=np.asarray(slices["timesteps"]), s=np.asarray(slices["s"]),
                         values=np.asarray(slices["values"]), scores=scores, residual=residual,
                         centre=np.asarray(resid["centre"]), n_coords=n_coords, ci=ci)


@dataclass(frozen=True)
class Params:
    """What finding 3 measures: the models (names), and per model ``n_timesteps`` timesteps spread over the
    DDIM-50 schedule, ``n_x`` random inputs ``x`` and ``n_coords`` coordinates each (slices on a grid of ``n_s``
    points in ``[-1, 1]``), ``n_residual`` draws for the direct residual, 95 % bootstrap intervals from
    ``n_boot`` resamples. The one parameters object of :func:`measure` and :func:`cost`."""

    models: Sequence[DiffusionModel | str]
    n_timesteps: int = 6
    n_x: int = 20
    n_coords: int = 10
    n_s: int = 21
    n_residual: int = 64
    seed: int = 0
    device: str = "auto"
    max_batch_size: int = 512
    level: float = 0.95
    n_boot: int = N_BOOT


@dataclass(frozen=True)
class SymmetryMeasurements:
    """Everything finding 3 measured: one :class:`ModelSymmetry` per model and the settings."""

    models: tuple[ModelSymmetry, ...]
    settings: dict[str, Any]


@measurement
def measure(params: Params) -> SymmetryMeasurements:
    """Finding 3 for each model of ``params`` (a name or a loaded :class:`antinb.models.DiffusionModel`).

    Per model: :func:`default_timesteps`, :func:`eps_slices` (``n_x * n_coords`` slices per
    timestep), :func:`symmetry_residual` (``n_residual`` draws per timestep), then :func:`summarise`.
    """
    p = params
    results = []
    for spec in p.models:
        model = _models.load(spec, device=p.device) if isinstance(spec, str) else spec
        ts = default_timesteps(model, p.n_timesteps)
        sl = eps_slices(model, ts, n_x=p.n_x, n_coords=p.n_coords, n_s=p.n_s, seed=p.seed,
                        max_batch_size=p.max_batch_size)
        res = symmetry_residual(model, ts, n=p.n_residual, seed=p.seed, max_batch_size=p.max_batch_size)
        results.append(summarise(spec if isinstance(spec, str) else model.name, sl, res, n_coords=p.n_coords,
                                 level=p.level, n_boot=p.n_boot, seed=p.seed))
    settings = {"n_timesteps": p.n_timesteps, "n_x": p.n_x, "n_coords": p.n_coords, "n_s": p.n_s,
                "n_residual": p.n_residual, "n_slices": p.n_timesteps * p.n_x * p.n_coords, "seed": p.seed,
                "level": p.level}
    return SymmetryMeasurements(tuple(results), settings)


def cost(params: Params) -> dict[str, int]:
    """Network evaluations (image rows through the network once) :func:`measure` makes with ``params``, per
    model name (:func:`antinb.models.name_of`); nothing is loaded."""
    p = params
    out: dict[str, int] = {}
    for spec in p.models:
        # per timestep: n_x inputs on the grid of n_s points (slices; n_coords only picks outputs),
        # and n_residual draws x with their negations -x (residual); unconditional, never guided
        name = _models.name_of(spec)
        out[name] = out.get(name, 0) + p.n_timesteps * (p.n_x * p.n_s + 2 * p.n_residual)
    return out


# ------------------------------------------------------------------------------------------ presentation


@dataclass(frozen=True)
class SymmetryResult(SymmetryMeasurements, ByModel):
    """Finding 3 presented: records, tables, the paper comparison, the verdict and figures, all computed from
    the measurements alone."""

    # -------------------------------------------------------------------- records

    def records(self) -> dict[str, Any]:
        """``{record name: value}`` for every model (names from this module's templates)."""
        out: dict[str, Any] = {}
        for r in self.models:
            m = r.name
            keys = [str(int(t)) for t in r.timesteps]
            out[fill(AS_MEAN, model=m)] = r.mean
            out[fill(AS_Q10, model=m)] = r.q10
            out[fill(AS_MIN, model=m)] = float(r.scores.min())
            out[fill(AS_N, model=m)] = int(r.scores.size)
            out[fill(AS_MEAN_BY_T, model=m)] = dict(zip(keys, r.scores.mean(1).tolist()))
            out[fill(RESIDUAL_MEAN, model=m)] = r.residual_mean
            out[fill(RESIDUAL_BY_T, model=m)] = dict(zip(keys, r.residual.mean(1).tolist()))
            out[fill(AS_MEAN_CI, model=m)] = r.ci["mean"]
            out[fill(AS_Q10_CI, model=m)] = r.ci["q10"]
            out[fill(RESIDUAL_MEAN_CI, model=m)] = r.ci["residual"]
        return out

    # -------------------------------------------------------------------- words

    def setup(self) -> str:
        """Markdown: the sample sizes of this run, in words."""
        s = self.settings
        per_t = s["n_x"] * s["n_coords"]
        return (f"Here, per model: {s['n_timesteps']} timesteps, and per timestep {s['n_x']} random inputs $x$ "
                f"with {s['n_coords']} coordinates each, so {per_t:,} slices per timestep and {s['n_slices']:,} "
                f"per model, on a grid of {s['n_s']} points; the residual uses {s['n_residual']} draws per "
                "timestep.")

    def _residual_at(self, r: ModelSymmetry, i: int) -> str:
        """The mean residual at the ``i``-th timestep with its 95 % t-interval over draws."""
        x = r.residual[i]
        if len(x) < 2:
            return base.ci_rounded(float(x.mean()), None, 2)
        half = float(stats.t_half_width(x.std(ddof=1), len(x)))
        return base.ci_rounded(float(x.mean()), (x.mean() - half, x.mean() + half))

    # -------------------------------------------------------------------- tables

    def table(self) -> pd.DataFrame:
        """Per model: the antisymmetry score's mean and 10 % quantile and the residual, with 95 % intervals, under
        the paper's bounds (a flagged model marked †)."""
        b = paper_bounds()
        settings = ", ".join(paper.MODEL_LABELS[m].split(" (")[0] for m in dict.fromkeys(m for m, _ in paper.SYMMETRY))
        index = [f"paper ({settings})"] + [f"{r.name}{flag(r.name)}" for r in self.models]
        rows = [{"mean score": f"> {b['mean']:g}", "10 % quantile": f"> {b['q10']:g}", "residual": "not reported"}]
        rows += [{"mean score": base.ci_rounded(r.mean, r.ci["mean"]), "10 % quantile": base.ci_rounded(r.q10, r.ci["q10"]),
                  "residual": base.ci_rounded(r.residual_mean, r.ci["residual"])} for r in self.models]
        return pd.DataFrame(rows, index=index)

    def timestep_table(self) -> pd.DataFrame:
        """Per model and timestep: the mean score, its 10 % quantile and the mean relative residual."""
        rows = []
        for r in self.models:
            for i, t in enumerate(r.timesteps):
                rows.append({"model": f"{r.name}{flag(r.name)}", "t": int(t),
                             "mean score": round(float(r.scores[i].mean()), 3),
                             "10 % quantile": round(float(np.quantile(r.scores[i], 0.1)), 3),
                             "residual": round(float(r.residual[i].mean()), 3)})
        return pd.DataFrame(rows).set_index(["model", "t"])

    def versus_paper(self) -> pd.DataFrame:
        """Per model and statistic: ours with its 95 % interval, the paper's bound and the verdict (the book's
        rules)."""
        rows = [{"model": f"{j.model}{flag(j.model)}", "statistic": j.statistic, "ours [95 % CI]": j.text,
                 "paper": j.paper, "verdict": j.verdict} for j in _judged(self.records())]
        return pd.DataFrame(rows).set_index(["model", "statistic"])

    def verdict_table(self) -> str:
        """Every judged statistic as a compact markdown table (a flagged model marked †)."""
        lines = ["| model | statistic | ours [95 % CI] | paper | verdict |", "|---|---|---|---|---|"]
        for j in _judged(self.records()):
            lines.append(f"| {j.model}{flag(j.model)} | {j.statistic} | {j.text} | {j.paper} | {j.verdict} |")
        return "\n".join(lines)

    def verdict(self) -> str:
        """The chapter's verdict: one quotable sentence (the takeaway, the verdict, the number that carries it
        with its interval and setting), the table of every setting, and a short paragraph on why and what
        limits it."""
        s = summary(self.records())
        row = _carrier(s)
        if row is None:
            return f"{base.headline(s.verdict)} No model was measured."
        b = paper_bounds()
        takeaway = TAKEAWAYS.get(s.verdict, "")
        first = (f"{base.headline(s.verdict)} {takeaway[:-1]}: mean antisymmetry score "
                 f"{base.ci_rounded(row.value, row.ci)} against the paper's > {b['mean']:g} ({row.our_setting}).")
        out = [first, "", self.verdict_table()]
        names = [r.name for r in self.models]
        if any(m in FLAGGED for m in names):
            out += ["", "† " + "; ".join(f"{m}: {why}" for m, why in FLAGGED.items() if m in names) + "."]
        judged = _judged(self.records())
        means = [j for j in judged if j.statistic == _STATISTICS[0][3]]
        q10s = [j for j in judged if j.statistic == _STATISTICS[1][3]]
        why = []
        named = lambda js: ", ".join(f"{j.model}{flag(j.model)}" for j in js)  # noqa: E731
        if all(j.verdict == base.PARTLY for j in means):
            why.append("Every mean lies between 0, the score of an even predictor, and the paper's bound.")
        elif any(j.verdict == base.REPRODUCED for j in means):
            why.append(f"The mean reaches the paper's bound for "
                       f"{named(j for j in means if j.verdict == base.REPRODUCED)}.")
        met = [j for j in q10s if j.verdict == base.REPRODUCED]
        if len(met) < len(q10s):
            why.append((f"The 10 % quantile reaches its bound only for {named(met)}" if met else
                        "No 10 % quantile reaches its bound") + ": a minority of slices is far from odd.")
        recs = self.records()
        carrier = next(r for r in self.models if _setting(recs, r.name) == row.our_setting)
        grows = all(r.residual[-1].mean() > r.residual[0].mean() for r in self.models)
        why.append(f"The residual over the whole output, 0 under the conjecture, "
                   f"{'grows' if grows else 'changes'} from $t = {int(carrier.timesteps[0])}$ to "
                   f"$t = {int(carrier.timesteps[-1])}$: {self._residual_at(carrier, 0)} to "
                   f"{self._residual_at(carrier, -1)} ({carrier.name}{flag(carrier.name)}, "
                   f"{carrier.residual.shape[1]} draws per timestep).")
        why.append("Likely reasons: our models are small and briefly trained (see the model cards), and near "
                   "$t = 0$ the probe $x \\sim N(0, I)$ lies far from the nearly clean images the network sees "
                   "there. The intervals cover the random probes, not training.")
        return "\n".join(out) + "\n\n" + " ".join(why)

    # -------------------------------------------------------------------- figures

    def slices_figure(self, n_timesteps: int = 3, n_slices: int = 5) -> plt.Figure:
        """A grid like the paper's Figure 4: rows are models, columns ``n_timesteps`` timesteps from ``T`` to
        the last step; each panel shows ``n_slices`` slices (different ``x``), shifted by their value at
        ``s = 0`` so that point symmetry about the origin is visible."""
        n_cols = min(n_timesteps, 3)
        fig, axes = plt.subplots(len(self.models), n_cols, figsize=(7.0, 2.3 * len(self.models) + 0.4),
                                 squeeze=False, sharex=True)
        for ax_row, r in zip(axes, self.models):
            cols = np.linspace(0, len(r.timesteps) - 1, n_cols).round().astype(int)
            mid = len(r.s) // 2
            for ax, ti in zip(ax_row, cols):
                vals = r.values[ti]
                for k in range(0, min(len(vals), n_slices * r.n_coords), r.n_coords):
                    ax.plot(r.s, vals[k] - vals[k, mid], lw=1.2)
                ax.axhline(0, color="gray", lw=0.6)
                ax.axvline(0, color="gray", lw=0.6)
                ax.set_title(f"{r.name}{flag(r.name)}, t = {int(r.timesteps[ti])}\nmean score "
                             f"{r.scores[ti].mean():.3f}", fontsize=10)
                ax.tick_params(labelsize=9)
            ax_row[0].set_ylabel(r"$\epsilon(sx)_k - \epsilon(0)_k$", fontsize=10)
        for ax in axes[-1]:
            ax.set_xlabel("s", fontsize=10)
        fig.tight_layout()
        return fig

    def scores_figure(self) -> plt.Figure:
        """Mean (dots, 95 % bootstrap interval) and 10 % quantile (crosses) of the score by timestep, per
        model, with the paper's bounds dashed and dotted; one legend."""
        from matplotlib.lines import Line2D

        fig, ax = plt.subplots(figsize=(7.0, 4.0))
        b = paper_bounds()
        rng_seed = self.settings.get("seed", 0)
        k = len(self.models)
        for j, r in enumerate(self.models):
            color = f"C{j}"
            x = np.arange(len(r.timesteps)) + (j - (k - 1) / 2) * 0.2
            means = r.scores.mean(1)
            lows, highs = [], []
            for i in range(len(r.timesteps)):
                ci = _cluster_bootstrap(r.scores[i].reshape(1, -1, r.n_coords), {"m": lambda v: v.mean(1)},
                                        level=0.95, n_boot=N_BOOT, seed=rng_seed + i)["m"]
                lows.append(means[i] - ci[0])
                highs.append(ci[1] - means[i])
            ax.errorbar(x, means, yerr=[lows, highs], fmt="o", color=color, capsize=3, ms=5)
            ax.plot(x, np.quantile(r.scores, 0.1, axis=1), "x", color=color, ms=7)
        ax.axhline(b["mean"], color="k", ls="--", lw=1)
        ax.axhline(b["q10"], color="k", ls=":", lw=1)
        ref = self.models[0].timesteps
        ax.set_xticks(range(len(ref)), [str(int(t)) for t in ref])
        ax.set_xlabel("timestep t (T first)", fontsize=10)
        ax.set_ylabel("antisymmetry score", fontsize=10)
        ax.tick_params(labelsize=9)
        handles = [Line2D([], [], color=f"C{j}", marker="s", ls="", ms=8, label=f"{r.name}{flag(r.name)}")
                   for j, r in enumerate(self.models)]
        handles += [Line2D([], [], color="k", marker="o", ls="", label="mean, 95 % CI"),
                    Line2D([], [], color="k", marker="x", ls="", ms=7, label="10 % quantile"),
                    Line2D([], [], color="k", ls="--", lw=1, label=f"paper: mean > {b['mean']:g}"),
                    Line2D([], [], color="k", ls=":", lw=1, label=f"paper: 10 % quantile > {b['q10']:g}")]
        ax.legend(handles=handles, fontsize=9, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.2),
                  frameon=False)
        fig.tight_layout()
        return fig

    def residual_figure(self) -> plt.Figure:
        """Mean relative residual of the conjecture by timestep per model, with 95 % t-intervals over draws, on
        a log scale (it spans more than a decade)."""
        fig, ax = plt.subplots(figsize=(7.0, 3.2))
        for j, r in enumerate(self.models):
            n = r.residual.shape[1]
            mean = r.residual.mean(1)
            half = stats.t_half_width(r.residual.std(1, ddof=1), n) if n > 1 else np.zeros(len(r.timesteps))
            low = np.minimum(half, 0.9 * mean)  # a log axis shows no interval below 0
            ax.errorbar(r.timesteps, mean, yerr=[low, half], marker="o", capsize=3, color=f"C{j}",
                        label=f"{r.name}{flag(r.name)}")
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlabel("timestep t", fontsize=10)
        ax.set_ylabel(r"$\|\epsilon(x)+\epsilon(-x)-2c_t\| \,/\, \|\epsilon(x)\|$", fontsize=10)
        ax.tick_params(labelsize=9)
        ax.invert_xaxis()
        ax.legend(fontsize=9)
        fig.tight_layout()
        return fig


def present(measurements: SymmetryMeasurements) -> SymmetryResult:
    """The presentation of finding 3's measurements (no network evaluation)."""
    return base.presented(SymmetryResult, measurements)


def run(*args: Any, **kwargs: Any) -> SymmetryResult:
    """``present(measure(Params(*args, **kwargs)))``: measure and present in one call."""
    return present(measure(Params(*args, **kwargs)))
