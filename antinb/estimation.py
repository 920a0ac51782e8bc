"""One call from a statistic to a confidence interval: ``antinb.estimate``.

``estimate("brightness", model, n=512, method="amc")`` draws the initial noise of the chosen
design (:mod:`antinb.noise`), samples the model (:mod:`antinb.sampling`), evaluates the statistic
on every image (:mod:`antinb.metrics`) and returns the :class:`antinb.stats.Estimate` of
``mu = E[S(DM(Z))]`` with its confidence interval (:mod:`antinb.stats`):

========  ======================  ====================================================
method    noise design            independent units of the CI
========  ======================  ====================================================
``mc``    independent             the ``n`` values
``amc``   antithetic pairs        the ``n / 2`` pair means
``kamc``  simplex groups of ``k``   the ``n / k`` group means
``rqmc``  scrambled Sobol'        the means of ``replicates`` randomizations
========  ======================  ====================================================

The methods and their parameters are those of the design registry :data:`antinb.noise.METHODS`.
Several statistics from one draw: ``estimate(["brightness", "contrast"], model, n=512,
method="amc")`` generates the images once and returns ``{name: Estimate}``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch

from . import metrics, noise, stats
from .models import DiffusionModel, load
from .prompts import resolve as resolve_prompts
from .cache import sample

__all__ = ["estimate", "EstimateRun"]


@dataclass(frozen=True)
class EstimateRun:
    """The estimate with what produced it: the per-image values and the images themselves."""

    estimate: stats.Estimate
    values: torch.Tensor
    images: torch.Tensor | None


def _statistic_fns(statistic) -> tuple[bool, dict[str | None, tuple[str | None, Callable]]]:
    """``(many, {key: (name or None, fn)})`` of the ``statistic`` argument of :func:`estimate`."""
    if isinstance(statistic, Mapping):
        items, many = list(statistic.items()), True
    elif isinstance(statistic, (list, tuple)):
        items, many = [(s, s) for s in statistic], True
        for s in statistic:
            if not isinstance(s, str):
                raise ValueError(f"statistic={statistic!r}: a list names statistics; pass functions as a "
                                 "mapping {name: function}")
    else:
        items, many = [(None, statistic)], False
    if many and not items:
        raise ValueError("statistic= is empty: give at least one statistic")
    keys = [k for k, _ in items]
    if len(set(keys)) != len(keys):
        raise ValueError(f"statistic={statistic!r} lists a name twice")
    out: dict[str | None, tuple[str | None, Callable]] = {}
    for key, stat in items:
        if isinstance(stat, str):
            named = metrics.statistic(stat)  # raises ValueError for an unknown name, before any sampling

            def fn(x: torch.Tensor, named=named) -> torch.Tensor:
                return named(x, value_range=(-1, 1))
            out[key] = (stat, fn)
        elif callable(stat):
            out[key] = (None, stat)
        else:
            raise ValueError(f"statistic={stat!r} must be a name in {sorted(metrics.STATISTICS)} or a callable")
    return many, out


def estimate(statistic: str | Callable[[torch.Tensor], torch.Tensor] | Sequence[str] | Mapping[str, object],
             model: DiffusionModel | str, n: int, *,
             method: str = "mc", k: int | None = None, replicates: int | None = None, seed: int = 0,
             level: float = 0.95, sampler: str = "ddim", steps: int = 50, labels=None, prompts=None,
             guidance_scale=None,
             max_batch_size: int = 256, keep_images: bool = False, progress: bool = True,
             return_run: bool = False, store: str | Path | None = None,
             processes: int = 1):
    """Estimate ``E[S(DM(Z))]`` with ``n`` generated images and a ``level`` confidence interval.

    ``statistic`` is a name from :data:`antinb.metrics.STATISTICS` or a function mapping images
    ``(B, C, H, W)`` in the model's range ``[-1, 1]`` to values ``(B,)``. ``k`` is the group size
    for ``kamc`` (default 4), ``replicates`` the number of randomizations for ``rqmc`` (default 16);
    ``method`` and its parameter are read from the design registry :data:`antinb.noise.METHODS`.

    Several statistics from one draw: ``statistic`` a list or tuple of names, or a mapping
    ``{name: name or function}``. The images are generated once and every statistic is evaluated
    on the same images; the result is a dict ``{name: Estimate}`` (``{name: EstimateRun}`` with
    ``return_run``, every run holding the same ``images`` tensor). Each entry equals the
    single-statistic call with the same arguments.

    Returns an :class:`antinb.stats.Estimate`, or with ``return_run=True`` an :class:`EstimateRun`
    (the estimate, the per-image values and, with ``keep_images=True``, the images).

    With ``store`` (a folder) or ``processes > 1`` the images are generated by
    :func:`antinb.generate.generate`: in resumable chunks kept under ``store`` (a temporary folder
    when only ``processes`` is given), by ``processes`` workers started with ``accelerate``. The
    values do not depend on ``processes``; the statistics must then be names (a function cannot
    name a store) and ``labels`` an int or ``None``. ``model`` may be a loaded model or its spec.

    ``prompts`` (a text-to-image model; a list, a prompt file or a shipped set, see
    :func:`antinb.prompts.resolve`): every group of the design (an image, a pair, a simplex group, an
    RQMC replicate) shares one prompt, group ``g`` prompt ``g mod len(prompts)``; the estimate is then
    of the mean over the prompt set.
    """
    d = noise.METHODS.get(method) if isinstance(method, str) else None
    if d is None:
        raise ValueError(f"method={method!r} is unknown; accepted values: {sorted(noise.METHODS)}")
    many, fns = _statistic_fns(statistic)
    # the design's own parameter, validated (the registry's default when not given); as before, the
    # parameter of another design (k with method="mc") is ignored
    kw = d.kwargs({"k": k, "replicates": replicates}[d.param]) if d.param else {}
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ValueError(f"processes={processes!r} must be an integer >= 1")
    pset = resolve_prompts(prompts)
    if store is not None or processes > 1:
        named = {key: name for key, (name, _) in fns.items()}
        if any(name is None for name in named.values()):
            raise ValueError("a store or processes > 1 needs named statistics "
                             f"(from {sorted(metrics.STATISTICS)}): a function cannot be hashed into a store key")
        out, images = _generate(tuple(dict.fromkeys(named.values())), model, n, design=d.name, seed=seed,
                                sampler=sampler, steps=steps, labels=labels, prompts=pset,
                                guidance_scale=guidance_scale,
                                max_batch_size=max_batch_size, keep_images=keep_images, progress=progress,
                                store=store, processes=processes, **kw)
        values = {key: out[name] for key, name in named.items()}
    else:
        if isinstance(model, (str, os.PathLike)):
            model = load(model)
        z = noise.make(d.name, n, model.sample_shape, seed=seed, **kw)
        rows = None
        if pset is not None:
            size = d.group_size(n, kw.get(d.param) if d.param else None)
            rows = pset.for_groups(n // size, size)
        images = sample(model, z, sampler=sampler, steps=steps, labels=labels, prompts=rows,
                        guidance_scale=guidance_scale, max_batch_size=max_batch_size, progress=progress)
        values = {key: fn(images).double() for key, (_, fn) in fns.items()}
    results = {}
    for key, v in values.items():
        if v.shape != (n,):
            which = "statistic" if key is None else f"statistic {key!r}"
            raise ValueError(f"{which} returned shape {tuple(v.shape)}, expected ({n},)")
        est = stats.estimate_ci(v, d.method, level=level, **kw)
        results[key] = EstimateRun(est, v, images if keep_images else None) if return_run else est
    return results if many else results[None]


def _generate(statistics: tuple[str, ...], model, n: int, *, design: str, seed: int, sampler: str, steps: int,
              labels, prompts, guidance_scale, max_batch_size: int, keep_images: bool, progress: bool,
              store: str | Path | None, processes: int, k: int | None = None, replicates: int | None = None
              ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """The values by statistic name (and the images) of :func:`estimate` from a sharded, resumable
    generation run."""
    from .generate import GenerationSpec, generate, model_spec

    if labels is not None and (isinstance(labels, bool) or not isinstance(labels, int)):
        raise ValueError(f"with a store or processes > 1, labels must be an int class or None, got {labels!r}")
    spec = GenerationSpec(model=model_spec(model), design=design, n=n, k=k, replicates=replicates, seed=seed,
                          sampler=sampler, steps=steps, labels=labels, guidance_scale=guidance_scale,
                          prompts=None if prompts is None else prompts.texts, statistics=statistics,
                          keep_images=keep_images)
    loaded = None if isinstance(model, (str, os.PathLike)) else model
    device = "auto" if loaded is None or loaded.device.type != "cpu" else "cpu"
    kw = dict(processes=processes, model=loaded, device=device, max_batch_size=max_batch_size, progress=progress)
    if store is None:
        with tempfile.TemporaryDirectory(prefix="antinb-store-") as tmp:
            out = generate(spec, tmp, **kw)
    else:
        out = generate(spec, store, **kw)
    return {name: out[name] for name in statistics}, out.get("images")
