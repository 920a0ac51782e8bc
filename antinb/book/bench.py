"""Performance measurements of the samplers: ``antinb bench`` / :func:`run`.

Antithetic sampling claims to cost nothing beyond the network evaluations it makes. This module
measures that claim in **one process**, on the same UNet, batch size, number of steps and
threads, with every comparison *interleaved* (A, B, B, A, A, B, ...) so that drifts of a shared
machine hit both sides alike; each measurement is repeated and its minimum and median reported.

=====================  =========================================================  ==========
measurement            what                                                       target
=====================  =========================================================  ==========
``pipeline``           antinb's DDIM vs diffusers' ``DDIMPipeline``, images/s     >= 0.98
``pairing``            PN (antithetic) vs RR (independent) noise, time ratio,     within 2 %
                       under DDIM, DDPM (mirrored per-step noise) and DPS
``unet_share``         share of sampler wall time inside the UNet's forward       >= 0.95
``throughput``         images/s by batch size and thread count, every model       (report)
``options``            channels-last, half precision, ``torch.compile`` vs plain  (report)
``notebooks``          wall time of each notebook under ``ci`` and ``book``       (report)
=====================  =========================================================  ==========

The targets use *paired* ratios: the median over repeats of the ratio of the two times measured
back to back (:func:`paired_ratio`); ratios of the medians and of the minima are reported beside
them. Timings never decide a
test: ``tests/test_bench.py`` checks the bookkeeping (UNet calls, ratios, the report's layout),
not the speed. The report is JSON (``benchmarks/results/<device>.json``); the book's performance
appendix is generated from it (:func:`markdown`, :func:`antinb.plots.throughput`).
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import platform
import statistics
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from .. import noise
from .._files import write_atomic
from ..models import DiffusionModel, available, load
from ..sampling import sample

__all__ = ["Timing", "TARGETS", "time_interleaved", "count_unet", "paired_ratio", "compare_pipeline", "compare_pairing",
           "pairing_samplers", "unet_share", "throughput", "compare_options", "notebook_times", "run", "PARTS", "markdown", "device_slug",
           "load_reports", "RESULTS_DIR"]

from .reports import RESULTS_DIR  # noqa: E402  (where the reports go; read by the dry run too)

#: Targets of the issue: name -> (description, comparison, threshold).
TARGETS: dict[str, tuple[str, str, float]] = {
    "pipeline_ratio": ("antinb DDIM images/s / diffusers DDIMPipeline images/s", ">=", 0.98),
    "pairing_deviation": ("|PN time / RR time - 1|", "<=", 0.02),
    "unet_share": ("share of sampler wall time inside UNet forward", ">=", 0.95),
}


@dataclass
class Timing:
    """Repeated wall times (seconds) of one measured call producing ``images`` images."""

    label: str
    seconds: list[float] = field(default_factory=list)
    images: int = 0

    @property
    def min(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def images_per_s(self) -> float:
        """Images per second at the median time."""
        return self.images / self.median

    def summary(self) -> dict[str, Any]:
        return {"label": self.label, "images": self.images, "seconds": self.seconds, "min_s": self.min,
                "median_s": self.median, "images_per_s": self.images_per_s,
                "images_per_s_best": self.images / self.min}


def paired_ratio(numerator: Timing, denominator: Timing) -> float:
    """Median over repeats of ``numerator.seconds[r] / denominator.seconds[r]``: the two were timed
    back to back in every repeat, so a slow phase of a shared machine cancels in each ratio."""
    if len(numerator.seconds) != len(denominator.seconds):
        raise ValueError("paired timings need the same number of repeats")
    return statistics.median(a / b for a, b in zip(numerator.seconds, denominator.seconds))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(calls: dict[str, Callable[[], Any]], *, images: int, repeats: int, warmup: int = 1,
                     device: torch.device | str = "cpu") -> dict[str, Timing]:
    """Time each call ``repeats`` times, interleaved and in alternating order, after ``warmup``
    untimed rounds; returns ``label -> Timing``."""
    if repeats < 1:
        raise ValueError(f"repeats={repeats!r} must be >= 1")
    device = torch.device(device)
    labels = list(calls)
    out = {k: Timing(k, images=images) for k in labels}
    for _ in range(warmup):
        for k in labels:
            calls[k]()
    for r in range(repeats):
        for k in (labels if r % 2 == 0 else labels[::-1]):
            _sync(device)
            t0 = time.perf_counter()
            calls[k]()
            _sync(device)
            out[k].seconds.append(time.perf_counter() - t0)
    return out


@contextmanager
def count_unet(model: DiffusionModel, *, timed: bool = False) -> Iterator[dict[str, float]]:
    """Count (and with ``timed`` time, synchronising the device) the UNet's forward calls inside
    the block: yields ``{"calls": n, "seconds": s}``, filled when the block ends."""
    unet = model.unet
    original = unet.forward
    tally = {"calls": 0, "seconds": 0.0}
    device = model.device

    def forward(*args, **kwargs):
        tally["calls"] += 1
        if not timed:
            return original(*args, **kwargs)
        _sync(device)
        t0 = time.perf_counter()
        out = original(*args, **kwargs)
        _sync(device)
        tally["seconds"] += time.perf_counter() - t0
        return out

    unet.forward = forward
    try:
        yield tally
    finally:
        del unet.forward  # the instance attribute shadowed the class's method


def _noise(model: DiffusionModel, design: str, batch: int, seed: int = 0) -> noise.NoiseBatch:
    return noise.make(design, batch, model.sample_shape, seed=seed)


def _sampler(model: DiffusionModel, z, steps: int, batch: int) -> Callable[[], torch.Tensor]:
    return lambda: sample(model, z, steps=steps, max_batch_size=batch, progress=False)


def compare_pipeline(model: DiffusionModel, *, batch: int, steps: int, repeats: int) -> dict[str, Any]:
    """antinb's DDIM (eta=0) vs diffusers' ``DDIMPipeline`` on the same UNet, batch and steps.

    Both start from independent Gaussian noise and run ``steps`` DDIM steps with one UNet call
    each; the pipeline also converts its output to a NumPy array in ``[0, 1]`` (as users call it).
    Class-conditional models are skipped: ``DDIMPipeline`` passes no class labels.
    """
    if model.conditioning is not None:
        return {"model": model.name, "skipped": f"DDIMPipeline cannot run a {model.conditioning}-conditional UNet"}
    from diffusers import DDIMPipeline, DDIMScheduler

    pipe = DDIMPipeline(unet=model.unet, scheduler=DDIMScheduler.from_config(model.scheduler_config))
    pipe.set_progress_bar_config(disable=True)
    z = _noise(model, "independent", batch)

    def diffusers_call():
        gen = torch.Generator(device=model.device).manual_seed(0)
        return pipe(batch_size=batch, generator=gen, num_inference_steps=steps, eta=0.0,
                    use_clipped_model_output=True, output_type="np")  # the update rule antinb uses

    t = time_interleaved({"antinb": _sampler(model, z, steps, batch), "diffusers": diffusers_call},
                         images=batch, repeats=repeats, device=model.device)
    return {"model": model.name, "batch": batch, "steps": steps, "antinb": t["antinb"].summary(),
            "diffusers": t["diffusers"].summary(),
            "ratio": paired_ratio(t["diffusers"], t["antinb"]),
            "ratio_medians": t["antinb"].images_per_s / t["diffusers"].images_per_s,
            "ratio_best": t["diffusers"].min / t["antinb"].min}


#: The samplers whose PN-vs-RR cost :func:`compare_pairing` measures.
PAIRING_SAMPLERS = ("ddim", "ddpm", "dps")


def pairing_samplers(model: DiffusionModel) -> tuple[str, ...]:
    """The samplers of :data:`PAIRING_SAMPLERS` that :func:`compare_pairing` can time on ``model``: DPS
    works on pixel-space models only, so a latent model (Stable Diffusion, an LDM) has no DPS row."""
    return tuple(s for s in PAIRING_SAMPLERS if s != "dps" or model.vae is None)


def compare_pairing(model: DiffusionModel, *, batch: int, steps: int, repeats: int,
                    sampler: str = "ddim") -> dict[str, Any]:
    """Cost of PN (antithetic pairs) vs RR (independent) sampling, noise generation included.

    ``sampler``: ``"ddim"``; ``"ddpm"``, where the PN partner chain gets the mirrored per-step noise
    ``-xi_t`` and RR chains their own (the :class:`antinb.noise.NoiseBatch`'s step noise); or
    ``"dps"``, diffusion posterior sampling (a network backward pass per step) of a box-inpainting
    measurement of one fixed image, every row the same ``y``.
    """
    if sampler not in PAIRING_SAMPLERS:
        raise ValueError(f"sampler={sampler!r} must be one of {PAIRING_SAMPLERS}")
    labels = 0 if model.conditioning == "class" else None
    if sampler == "dps":
        from .. import dps

        shape = tuple(model.sample_shape)
        operator = dps.make_operator("box", shape)  # a centred hole of half the image side
        y = dps.measure(torch.zeros(batch, *shape), operator)
        draw = functools.partial(dps.dps, operator=operator, y=y, steps=steps, labels=labels, max_batch_size=batch,
                                 progress=False)
    else:
        draw = functools.partial(sample, sampler=sampler, steps=steps, labels=labels, max_batch_size=batch,
                                 progress=False)

    def run(design: str) -> Callable[[], torch.Tensor]:
        return lambda: draw(model, _noise(model, design, batch))

    t = time_interleaved({"PN": run("antithetic"), "RR": run("independent")}, images=batch, repeats=repeats,
                         device=model.device)
    ratio = paired_ratio(t["PN"], t["RR"])
    return {"model": model.name, "sampler": sampler, "batch": batch, "steps": steps, "PN": t["PN"].summary(),
            "RR": t["RR"].summary(), "time_ratio": ratio, "time_ratio_medians": t["PN"].median / t["RR"].median,
            "time_ratio_best": t["PN"].min / t["RR"].min, "deviation": abs(ratio - 1.0)}


def unet_share(model: DiffusionModel, *, batch: int, steps: int, repeats: int = 3) -> dict[str, Any]:
    """Share of the sampler's wall time spent inside the UNet's forward (median over repeats),
    with the number of UNet calls (one per step per chunk)."""
    z = _noise(model, "antithetic", batch)
    sample(model, z, steps=steps, max_batch_size=batch, progress=False)  # warm-up
    shares, calls = [], 0
    for _ in range(repeats):
        with count_unet(model, timed=True) as tally:
            _sync(model.device)
            t0 = time.perf_counter()
            sample(model, z, steps=steps, max_batch_size=batch, progress=False)
            _sync(model.device)
            total = time.perf_counter() - t0
        shares.append(tally["seconds"] / total)
        calls = tally["calls"]
    return {"model": model.name, "batch": batch, "steps": steps, "share": statistics.median(shares),
            "shares": shares, "unet_calls": calls}


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def throughput(model: DiffusionModel, *, batch_sizes: list[int], threads: list[int | None], steps: int,
               repeats: int) -> list[dict[str, Any]]:
    """Images per second of antithetic DDIM for every (threads, batch size); ``None`` threads
    means torch's current setting (on GPU threads hardly matter)."""
    odd = [b for b in batch_sizes if b < 2 or b % 2]
    if odd:
        raise ValueError(f"batch sizes {odd} are not even: antithetic sampling needs whole pairs")
    rows = []
    for n_threads in threads:
        with _threads(n_threads):
            for b in batch_sizes:
                z = _noise(model, "antithetic", b)
                t = time_interleaved({"ddim": _sampler(model, z, steps, b)}, images=b, repeats=repeats,
                                     device=model.device)["ddim"]
                rows.append({"model": model.name, "threads": torch.get_num_threads(), "batch": b, "steps": steps,
                             **{k: v for k, v in t.summary().items() if k != "label"},
                             "ms_per_image_step": 1000 * t.median / (b * steps)})
    return rows


def compare_options(spec: str, *, batch: int, steps: int, repeats: int, device: str = "cpu",
                    options: tuple[str, ...] = ("channels_last",)) -> dict[str, Any]:
    """images/s of ``spec`` with each speed option vs the plain model (same noise, interleaved),
    and the largest difference of the samples from the plain model's.

    Options: ``channels_last``, ``fp16``/``bf16`` (half precision weights; the sampler state stays
    float32), ``compile`` (``torch.compile``; its compile time is reported separately).
    """
    known = {"channels_last", "fp16", "bf16", "compile"}
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"unknown options {sorted(unknown)}; accepted: {sorted(known)}")
    plain = load(spec, device=device)
    z = _noise(plain, "antithetic", batch)
    labels = 0 if plain.conditioning == "class" else None
    reference = sample(plain, z, steps=steps, max_batch_size=batch, labels=labels, progress=False)
    models = {"plain": plain}
    extra: dict[str, dict[str, Any]] = {}
    for opt in options:
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(opt)
        m = load(spec, device=device, dtype=dtype)
        if opt == "channels_last":
            m.optimize(channels_last=True)
        t0 = time.perf_counter()
        if opt == "compile":
            m.optimize(compile=True)
        out = sample(m, z, steps=steps, max_batch_size=batch, labels=labels, progress=False)  # compiles
        extra[opt] = {"first_call_s": time.perf_counter() - t0,
                      "max_abs_difference": float((out.float() - reference).abs().max())}
        models[opt] = m
    calls = {k: (lambda m=m: sample(m, z, steps=steps, max_batch_size=batch, labels=labels, progress=False))
             for k, m in models.items()}
    t = time_interleaved(calls, images=batch, repeats=repeats, device=plain.device, warmup=0)
    rows = {k: {**t[k].summary(), "speedup": t[k].images_per_s / t["plain"].images_per_s, **extra.get(k, {})}
            for k in t}
    return {"model": spec, "batch": batch, "steps": steps, "device": str(plain.device), "options": rows}


def notebook_times(*, run_ci: bool = False, executed_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Wall time of each notebook: ``book`` from the stamps of the executed book copies, ``ci``
    by running every notebook under the ci profile into a temporary folder when ``run_ci``."""
    from . import runner

    executed_dir = Path(executed_dir or runner.EXECUTED_DIR)
    out: dict[str, dict[str, Any]] = {"book": {}, "ci": {}}
    for name in runner.notebooks():
        path = executed_dir / f"{name}.ipynb"
        if path.exists():
            stamp = runner.stamp_of(path)
            if stamp.get("profile") == "book":
                out["book"][name] = {"wall_s": stamp.get("wall_s"), "device": stamp.get("environment", {}).get("device"),
                                     "finished": stamp.get("finished")}
    if run_ci:
        with tempfile.TemporaryDirectory() as tmp:
            for name in runner.notebooks():
                t0 = time.perf_counter()
                stamp = runner.run(name, profile="ci", output_dir=tmp)
                out["ci"][name] = {"wall_s": stamp.get("wall_s", time.perf_counter() - t0),
                                   "device": stamp["environment"]["device"]}
    return out


def device_slug(device: torch.device) -> str:
    """``cpu-2t`` or ``cuda-nvidia-h100-80gb-hbm3``: the report's file name."""
    if device.type == "cuda":
        return "cuda-" + "".join(c if c.isalnum() else "-" for c in torch.cuda.get_device_name(device).lower())
    return f"cpu-{os.cpu_count()}cores"


def _targets(report: dict[str, Any]) -> dict[str, Any]:
    values = {
        "pipeline_ratio": [r["ratio"] for r in report["pipeline"] if "ratio" in r],
        "pairing_deviation": [r["deviation"] for r in report["pairing"]],
        "unet_share": [r["share"] for r in report["unet_share"]],
    }
    out = {}
    for name, (desc, op, threshold) in TARGETS.items():
        vals = values[name]
        if not vals:
            continue
        worst = min(vals) if op == ">=" else max(vals)
        out[name] = {"description": desc, "target": f"{op} {threshold}", "worst": worst, "values": vals,
                     "met": bool(worst >= threshold if op == ">=" else worst <= threshold)}
    return out


#: The measurements of :func:`run`, in order (``notebooks`` is handled separately).
PARTS = ("pipeline", "pairing", "unet_share", "throughput", "options")


def run(models: list[str] | None = None, *, device: str = "auto", batch: int = 64, steps: int = 20,
        repeats: int = 7, batch_sizes: tuple[int, ...] = (2, 8, 32, 128), threads: tuple[int, ...] | None = None,
        options: tuple[str, ...] | None = None, notebooks: bool = False, out: str | Path | None = None,
        only: tuple[str, ...] | None = None, progress: bool = True) -> dict[str, Any]:
    """Run every measurement and write the JSON report (default ``benchmarks/results/<device>.json``).

    ``models`` default to every embedded model; ``threads`` default to 1 .. all cores on CPU;
    ``options`` to ``channels_last`` on CPU and ``fp16``, ``channels_last``, ``compile`` on GPU.
    ``only`` re-measures some parts (names in :data:`PARTS`, or ``"notebooks"``) for ``models`` and
    updates the existing report in place (the update is listed in its ``updates``).
    """
    from tqdm import tqdm

    if only is not None:
        unknown = set(only) - set(PARTS) - {"notebooks"}
        if unknown or not only:
            raise ValueError(f"only={only!r}: choose from {list(PARTS) + ['notebooks']}")
    if out is not None and Path(out).is_dir():
        raise ValueError(f"out={str(out)!r} is a folder; give the report's file path (e.g. {Path(out) / 'cpu.json'})")
    models = list(models or available())
    if not models:
        raise ValueError("no models to benchmark: none are embedded and none were given")
    loaded = {m: load(m, device=device) for m in models}
    dev = next(iter(loaded.values())).device
    if threads is None:
        threads = tuple(sorted({1, os.cpu_count() or 1})) if dev.type == "cpu" else (None,)
    if options is None:
        options = ("channels_last",) if dev.type == "cpu" else ("fp16", "channels_last", "compile")
    path = Path(out) if out else RESULTS_DIR / f"{device_slug(dev)}.json"
    parts = PARTS if only is None else tuple(p for p in PARTS if p in only)
    if only is not None:
        if not path.exists():
            raise ValueError(f"only= updates an existing report, and {path} does not exist: run the full bench first")
        try:
            report = json.loads(path.read_bytes())
        except (OSError, ValueError) as err:
            raise ValueError(f"{path} is corrupt or unreadable ({type(err).__name__}: {err}); run the full bench "
                             "to write it anew") from None
        names = {loaded[m].name for m in models} | set(models)  # rows carry the model's name
        for part in parts:
            report[part] = [r for r in report[part] if r["model"] not in names]
        report.setdefault("updates", []).append(
            {"parts": list(only), "models": models, "batch": batch, "steps": steps, "repeats": repeats,
             "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
    else:
        report = _new_report(dev, models, batch, steps, repeats, batch_sizes, threads, options)
    work = [(name, part) for name in models for part in parts]
    bar = tqdm(work, desc="bench", disable=not progress)
    for name, part in bar:
        bar.set_postfix_str(f"{name} {part}")
        m = loaded[name]
        if part == "pipeline":
            report["pipeline"].append(compare_pipeline(m, batch=batch, steps=steps, repeats=repeats))
        elif part == "pairing":
            report["pairing"] += [compare_pairing(m, batch=batch, steps=steps, repeats=repeats, sampler=smp)
                                  for smp in pairing_samplers(m)]
        elif part == "unet_share":
            report["unet_share"].append(unet_share(m, batch=batch, steps=steps))
        elif part == "throughput":
            report["throughput"] += throughput(m, batch_sizes=list(batch_sizes), threads=list(threads),
                                               steps=max(2, steps // 2), repeats=max(1, repeats // 2))
        elif part == "options" and options:
            report["options"].append(compare_options(name, batch=batch, steps=steps, repeats=max(1, repeats // 2),
                                                     device=str(dev), options=tuple(options)))
    if only is None or "notebooks" in only:
        times = notebook_times(run_ci=notebooks)
        if not notebooks and only is not None:  # an update without a ci run keeps the ci times it had
            times["ci"] = report.get("notebooks", {}).get("ci", {})
        report["notebooks"] = times
    report["targets"] = _targets(report)
    report["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(report, indent=1))  # a mkstemp file renamed onto it: no link is followed
    report["path"] = str(path)
    return report


def _new_report(dev: torch.device, models: list[str], batch: int, steps: int, repeats: int,
                batch_sizes: tuple[int, ...], threads: tuple, options: tuple[str, ...]) -> dict[str, Any]:
    return {
        "device": dev.type if dev.type == "cpu" else torch.cuda.get_device_name(dev),
        "device_type": dev.type, "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "threads": torch.get_num_threads(), "torch": torch.__version__,
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "config": {"models": models, "batch": batch, "steps": steps, "repeats": repeats,
                   "batch_sizes": list(batch_sizes), "threads": list(threads), "options": list(options)},
        "pipeline": [], "pairing": [], "unet_share": [], "throughput": [], "options": [], "notebooks": {},
    }


def _cell(text: Any) -> str:
    """``text`` as one Markdown table cell: a ``|`` inside it (``|PN / RR - 1|``) escaped, so it does not end the cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}g}"


def markdown(report: dict[str, Any], *, figure: str | None = None) -> str:
    """Markdown tables of one report (used by the book's performance appendix)."""
    cfg = report["config"]
    lines = [f"## {report['device']} ({report['cores']} cores, torch {report['torch']}), measured "
             f"{report['started']}", "",
             f"Batch {cfg['batch']}, DDIM-{cfg['steps']}, {cfg['repeats']} interleaved repeats; a ratio is the "
             "median of the per-repeat ratios of back-to-back runs (best = ratio of the minimum times).", "",
             "| measure | worst over models | target | met |", "|---|---|---|---|"]
    for u in report.get("updates", []):
        lines[4:4] = [f"Re-measured {u['time']}: {', '.join(u['parts'])} for {', '.join(u['models'])} (batch "
                      f"{u['batch']}, DDIM-{u['steps']}, {u['repeats']} repeats); these rows replace the first run's.", ""]
    for name, t in report.get("targets", {}).items():
        lines.append(f"| {_cell(t['description'])} | {t['worst']:.4f} | {_cell(t['target'])} | "
                     f"{'yes' if t['met'] else '**no**'} |")
    lines += ["", "| model | antinb img/s | diffusers img/s | ratio (paired) | ratio (best) | PN/RR time (paired) | "
              "UNet share | UNet calls |", "|---|---|---|---|---|---|---|---|"]
    pairing = {r["model"]: r for r in report["pairing"] if r.get("sampler", "ddim") == "ddim"}
    share = {r["model"]: r for r in report["unet_share"]}
    for r in report["pipeline"]:
        name = r["model"]
        if "skipped" in r:
            a = d = ratio = best = "–"
        else:
            a, d = _fmt(r["antinb"]["images_per_s"]), _fmt(r["diffusers"]["images_per_s"])
            ratio, best = f"{r['ratio']:.3f}", f"{r['ratio_best']:.3f}"
        p, s = pairing.get(name, {}), share.get(name, {})
        lines.append(f"| {name} | {a} | {d} | {ratio} | {best} | {p.get('time_ratio', float('nan')):.3f} | "
                     f"{s.get('share', float('nan')):.4f} | {s.get('unet_calls', '–')} |")
    skipped = [r for r in report["pipeline"] if "skipped" in r]
    for r in skipped:
        lines.append(f"\n{r['model']}: {r['skipped']}.")
    if any(r.get("sampler", "ddim") != "ddim" for r in report["pairing"]):
        lines += ["", "PN vs RR by sampler (paired time ratio; DDPM mirrors the per-step noise, DPS adds a "
                  "backward pass per step):", "", "| model | sampler | PN/RR time (paired) | PN/RR (best) |",
                  "|---|---|---|---|"]
        lines += [f"| {r['model']} | {r.get('sampler', 'ddim').upper()} | {r['time_ratio']:.3f} | "
                  f"{r['time_ratio_best']:.3f} |" for r in report["pairing"]]
    if report.get("options"):
        lines += ["", "| model | option | img/s | speed-up vs plain | first call (s) | max abs difference |",
                  "|---|---|---|---|---|---|"]
        for o in report["options"]:
            for k, v in o["options"].items():
                lines.append(f"| {o['model']} | {k} | {_fmt(v['images_per_s'])} | {v['speedup']:.3f} | "
                             f"{_fmt(v.get('first_call_s'))} | {_fmt(v.get('max_abs_difference'))} |")
    if figure:
        lines += ["", f"![Images per second by batch size and threads]({figure})"]
    if report.get("throughput"):
        lines += ["", "| model | threads | batch | img/s | ms per image-step |", "|---|---|---|---|---|"]
        for r in report["throughput"]:
            lines.append(f"| {r['model']} | {r['threads']} | {r['batch']} | {_fmt(r['images_per_s'])} | "
                         f"{r['ms_per_image_step']:.2f} |")
    nbs = report.get("notebooks", {})
    names = sorted(set(nbs.get("ci", {})) | set(nbs.get("book", {})))
    if names:
        lines += ["", "| notebook | ci profile (s) | book profile (s) | book run on |", "|---|---|---|---|"]
        for n in names:
            ci, bk = nbs.get("ci", {}).get(n, {}), nbs.get("book", {}).get(n, {})
            lines.append(f"| {n} | {_fmt(ci.get('wall_s'), 4)} | {_fmt(bk.get('wall_s'), 4)} | {bk.get('device', '–')} |")
    return "\n".join(lines) + "\n"


def load_reports(results_dir: Path | None = None) -> list[dict[str, Any]]:
    """Every committed report in ``benchmarks/results`` (sorted by file name)."""
    d = Path(results_dir or RESULTS_DIR)
    return [json.loads(p.read_text()) for p in sorted(d.glob("*.json"))] if d.is_dir() else []
