"""Samplers with explicit noise: DDIM (any eta) and DDPM ancestral, on diffusers schedulers.

diffusers' ``DDIMPipeline`` draws its own noise; antithetic sampling needs to pass the initial
noise ``z`` *and* every per-step noise ``xi_t`` explicitly, so that the partner chain of a PN pair
runs on ``-z`` and ``-xi_t``. The update rule itself is diffusers' ``DDIMScheduler.step``
(Song et al., 2021, Eq. 12) with ``variance_noise``; nothing of it is re-derived here.

Where the scheduler clips the predicted ``x0`` to ``[-1, 1]`` (``clip_sample``), the direction
term uses the noise re-derived from the *clipped* ``x0`` (``use_clipped_model_output=True``) at
every ``eta``, as the DDIM sampler of openai's improved- and guided-diffusion does; diffusers'
``DDIMPipeline`` defaults to the raw network output at ``eta = 0``. The raw output is
inconsistent with the clipped ``x0`` it is paired with, and classifier-free guidance, which
pushes ``x0`` far outside the range, breaks on it: the shipped Fashion-MNIST model's samples at
``w = 3`` were recognised as their class 36 % of the time with the raw output, 100 % with the
re-derived one (80 DDIM-50 samples). Clipping is odd, so either choice keeps PN pairs exact
negatives of each other's inputs; on models without ``clip_sample`` the two coincide.

DDPM ancestral sampling is DDIM with ``eta = 1``: then ``sigma_t^2`` equals the DDPM posterior
variance ``beta~_t`` and, with the clipped ``x0`` re-used for the direction term, the mean equals
the DDPM posterior mean (Ho et al., 2020, Eq. 7); with the full 1,000 steps the two samplers
coincide step by step (tested against ``DDPMScheduler.step``), with fewer steps this is the usual
respaced DDPM.

Every sampler has one signature::

    sample(model, noise, *, sampler="ddim", steps=50, eta=None, step_noise=None,
           labels=None, prompts=None, guidance_scale=None, max_batch_size=256,
           callback=None, progress=True, decode=True) -> Tensor (N, C, H, W) on the CPU

``noise`` is an :class:`antinb.noise.NoiseBatch` (its grouping keeps pair members in the same
forward pass, and it supplies mirrored step noise by default) or a raw tensor ``(N, C, H, W)``.
``callback(step, t, x_t, eps)`` sees, at every step, the state fed to the network and its
(guided) noise prediction, both ``(N, C, H, W)`` on the model's device.
"""

from __future__ import annotations

import math
import numbers
from typing import Callable, Protocol

import torch
from diffusers import DDIMScheduler
from tqdm import tqdm

from .models import DiffusionModel
from .noise import NoiseBatch, StepNoise

__all__ = ["SAMPLERS", "sample", "ddim", "ddpm", "predict_eps", "make_scheduler", "chunk_bounds", "Callback",
           "network_evaluations"]

#: Sampler name -> its eta (``None``: the caller chooses, default 0).
SAMPLERS: dict[str, float | None] = {"ddim": None, "ddpm": 1.0}


#: Rows passed through a network by :func:`predict_eps` in this process (see :func:`network_evaluations`).
_EVALUATIONS = [0]


def network_evaluations() -> int:
    """Network evaluations made in this process so far: image rows through a network once, as the
    findings' ``cost()`` counts them (a guided row counts twice: its conditional and unconditional
    halves). The book's runner reports it per chapter."""
    return _EVALUATIONS[0]


class Callback(Protocol):
    def __call__(self, step: int, t: int, x_t: torch.Tensor, eps: torch.Tensor) -> None: ...


StepNoiseSource = Callable[..., torch.Tensor]


def make_scheduler(model: DiffusionModel, steps: int) -> DDIMScheduler:
    """A fresh ``DDIMScheduler`` built from the model's training scheduler config, set to ``steps``."""
    n_train = model.scheduler_config.get("num_train_timesteps", 1000)
    if not isinstance(steps, int) or not 1 <= steps <= n_train:
        raise ValueError(f"steps={steps!r} must be an integer in [1, {n_train}]")
    scheduler = DDIMScheduler.from_config(model.scheduler_config)
    scheduler.set_timesteps(steps)
    return scheduler


def predict_eps(model: DiffusionModel, x: torch.Tensor, t: torch.Tensor | int, *,
                labels: torch.Tensor | None = None, context: torch.Tensor | None = None,
                null_context: torch.Tensor | None = None, guidance_scale: float | None = None) -> torch.Tensor:
    """The network's noise prediction ``eps(x_t, t)`` for ``x`` ``(B, C, H, W)``, with optional
    classifier-free guidance: ``eps_u + w (eps_c - eps_u)`` (Ho & Salimans, 2022), where the
    conditional and unconditional halves go through the network in **one** forward pass.
    """
    unet = model.unet
    x_in = x.to(dtype=model.dtype, memory_format=model.memory_format)
    b = x.shape[0]
    cfg = guidance_scale is not None
    if cfg:
        x_in = torch.cat([x_in, x_in])
    kwargs = {}
    if model.conditioning == "class":
        lab = torch.full((b,), model.null_class, dtype=torch.long, device=x.device) if labels is None else labels
        if cfg:
            lab = torch.cat([lab, torch.full_like(lab, model.null_class)])
        kwargs["class_labels"] = lab
    elif model.conditioning == "text":
        ctx = context if context is not None else null_context
        if cfg:
            ctx = torch.cat([ctx, null_context])
        kwargs["encoder_hidden_states"] = ctx
    out = unet(x_in, t, **kwargs).sample
    _EVALUATIONS[0] += int(x_in.shape[0])
    if out.shape[1] == 2 * x.shape[1]:  # learned-variance models: the first half is eps
        out = out[:, : x.shape[1]]
    out = out.float()
    if cfg:
        cond, uncond = out[:b], out[b:]
        return uncond + guidance_scale * (cond - uncond)
    return out


def _check_noise(model: DiffusionModel, noise: torch.Tensor | NoiseBatch) -> tuple[torch.Tensor, int]:
    if isinstance(noise, NoiseBatch):
        z, group = noise.z, (1 if noise.design == "rqmc" else noise.group_size)
    elif isinstance(noise, torch.Tensor):
        z, group = noise, 1
    else:
        raise ValueError(f"noise must be a NoiseBatch or a tensor (N, C, H, W), got {type(noise).__name__}")
    if z.ndim != 4 or tuple(z.shape[1:]) != tuple(model.sample_shape):
        raise ValueError(f"noise has shape {tuple(z.shape)}; model {model.name!r} expects (N, "
                         f"{', '.join(map(str, model.sample_shape))})")
    if z.shape[0] == 0:
        raise ValueError(f"noise has shape {tuple(z.shape)}: no rows to sample")
    if not torch.isfinite(z).all():
        raise ValueError("noise contains NaN or infinite values")
    return z, group


def chunk_bounds(n: int, group: int, max_batch_size: int, *, guided: bool = False) -> list[tuple[int, int]]:
    """Row ranges ``[(lo, hi), ...]`` of the forward passes over ``n`` rows: at most
    ``max_batch_size`` network inputs per pass (guidance doubles each row), rounded down to whole
    groups of ``group`` rows so that the members of a pair (or simplex, or QMC replicate) always
    share a pass."""
    if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int):
        raise ValueError(f"max_batch_size={max_batch_size!r} must be an integer")
    chunk = (max_batch_size // (2 if guided else 1) // group) * group
    if chunk < 1:
        raise ValueError(f"max_batch_size={max_batch_size!r} is too small: one forward pass must hold a whole "
                         f"group of {group} rows{' twice (guidance)' if guided else ''}")
    return [(i, min(i + chunk, n)) for i in range(0, n, chunk)]


def _labels(model: DiffusionModel, labels, n: int, device) -> torch.Tensor | None:
    if labels is None:
        return None
    if model.conditioning != "class":
        raise ValueError(f"labels were given but model {model.name!r} is not class-conditional")
    raw = torch.as_tensor(labels)
    if raw.dtype.is_floating_point or raw.dtype.is_complex or raw.dtype == torch.bool:
        raise ValueError(f"labels={labels!r} must be integer class indices (an int or ints), not {raw.dtype}")
    lab = raw.to(torch.long)
    if lab.ndim == 0:
        lab = lab.expand(n)
    if lab.shape != (n,):
        raise ValueError(f"labels must be an int or have shape ({n},), got {tuple(lab.shape)}")
    if lab.min() < 0 or lab.max() > model.null_class:
        raise ValueError(f"labels must lie in [0, {model.null_class}] ({model.null_class} is the null class)")
    return lab.to(device)


def _contexts(model: DiffusionModel, prompts, n: int):
    if prompts is None:
        if model.conditioning == "text":
            null = model.encode_prompts([""])
            return None, null.expand(n, *null.shape[1:])
        return None, None
    if model.conditioning != "text":
        raise ValueError(f"prompts were given but model {model.name!r} is not text-conditioned")
    prompts = [prompts] * n if isinstance(prompts, str) else list(prompts)
    if len(prompts) != n:
        raise ValueError(f"prompts must be one string or {n} strings, got {len(prompts)}")
    null = model.encode_prompts([""])
    return model.encode_prompts(prompts), null.expand(n, *null.shape[1:])


@torch.inference_mode()
def sample(model: DiffusionModel, noise: torch.Tensor | NoiseBatch, *, sampler: str = "ddim", steps: int = 50,
           eta: float | None = None, step_noise: StepNoiseSource | None = None, labels=None, prompts=None,
           guidance_scale: float | None = None, max_batch_size: int = 256, callback: Callback | None = None,
           progress: bool = True, decode: bool = True) -> torch.Tensor:
    """Run the reverse process from ``noise`` and return the samples ``(N, C, H, W)`` on the CPU.

    ``eta > 0`` (and ``sampler="ddpm"``) injects per-step noise ``xi_t`` from ``step_noise``
    (``step_noise(step, rows)`` returns ``(N, C, H, W)`` or the given row slice). When
    ``noise`` is a :class:`NoiseBatch` the default is its mirrored :class:`StepNoise`; with a raw
    tensor it must be given, since independent step noise would break antithetic pairs.
    Outputs are in the model's space: ``[-1, 1]`` for the embedded models (decoded by the VAE for
    latent models when ``decode``).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler={sampler!r} is unknown; accepted values: {sorted(SAMPLERS)}")
    fixed = SAMPLERS[sampler]
    if fixed is not None and eta is not None and eta != fixed:
        raise ValueError(f"eta={eta!r} conflicts with sampler={sampler!r} (which uses eta={fixed})")
    if eta is not None and (isinstance(eta, bool) or not isinstance(eta, numbers.Real)):
        raise ValueError(f"eta={eta!r} must be a finite number >= 0")
    eta = fixed if fixed is not None else (0.0 if eta is None else float(eta))
    if not math.isfinite(eta) or eta < 0:
        raise ValueError(f"eta={eta!r} must be a finite number >= 0")
    if guidance_scale is not None:
        if labels is None and prompts is None:
            raise ValueError("guidance_scale was given without a condition: pass labels= or prompts=")
        if isinstance(guidance_scale, bool) or not isinstance(guidance_scale, numbers.Real) \
                or not math.isfinite(guidance_scale):
            raise ValueError(f"guidance_scale={guidance_scale!r} must be a finite number")
    z, group = _check_noise(model, noise)
    if eta > 0 and step_noise is None:
        if not isinstance(noise, NoiseBatch):
            raise ValueError("step_noise is required when eta > 0 and noise is a raw tensor "
                             "(pass antinb.noise.StepNoise(batch) to mirror it inside pairs)")
        step_noise = StepNoise(noise)
    n = z.shape[0]
    bounds = chunk_bounds(n, group, max_batch_size, guided=guidance_scale is not None)

    device = model.device
    scheduler = make_scheduler(model, steps)
    lab = _labels(model, labels, n, device)
    context, null_context = _contexts(model, prompts, n)
    x = z.to(device=device, dtype=torch.float32) * scheduler.init_noise_sigma
    eps = torch.empty_like(x) if len(bounds) > 1 else None
    # The network gets its timesteps from a tensor already on the device (a CPU scalar would be
    # copied, and on CUDA waited for, at every step); the scheduler keeps its CPU timesteps.
    t_device = scheduler.timesteps.to(device)
    pin = device.type == "cuda"
    bar = tqdm(scheduler.timesteps, desc=f"{sampler} x{n}", disable=not progress, leave=False)
    for step, t in enumerate(bar):
        x_in = scheduler.scale_model_input(x, t)
        for lo, hi in bounds:
            out = predict_eps(
                model, x_in[lo:hi], t_device[step],
                labels=None if lab is None else lab[lo:hi],
                context=None if context is None else context[lo:hi],
                null_context=None if null_context is None else null_context[lo:hi],
                guidance_scale=guidance_scale)
            if eps is None:  # one chunk: use the network's output as it is, no copy
                eps = out
            else:
                eps[lo:hi] = out
        if callback is not None:
            callback(step, int(t), x, eps)
        variance_noise = None
        if eta > 0:
            variance_noise = step_noise(step).float()  # drawn on the CPU: the same on every device
            if not torch.isfinite(variance_noise).all():  # checked on the CPU: no device sync
                raise ValueError(f"step_noise returned NaN or infinite values at step {step}")
            if pin:  # page-locked memory makes the copy asynchronous: no host/device sync per step
                variance_noise = variance_noise.pin_memory()
            variance_noise = variance_noise.to(device, non_blocking=pin)
            if variance_noise.shape != x.shape:
                raise ValueError(f"step_noise returned shape {tuple(variance_noise.shape)}, expected {tuple(x.shape)}")
        x = scheduler.step(eps, t, x, eta=eta, use_clipped_model_output=True,
                           variance_noise=variance_noise).prev_sample
        if len(bounds) == 1:
            eps = None
    bar.close()
    if decode and model.vae is not None:
        x = torch.cat([model.decode(x[lo:hi]).float() for lo, hi in bounds])
    x = x.cpu()
    if not torch.isfinite(x).all():
        raise ValueError(f"sampling produced NaN or infinite values (noise max |z| = {float(z.abs().max()):.3g}): "
                         "check noise (a standard normal draw), step_noise and the model's weights")
    return x


def ddim(model: DiffusionModel, noise: torch.Tensor | NoiseBatch, **kwargs) -> torch.Tensor:
    """DDIM sampling (``eta=0`` by default: deterministic given ``noise``); see :func:`sample`."""
    return sample(model, noise, sampler="ddim", **kwargs)


def ddpm(model: DiffusionModel, noise: torch.Tensor | NoiseBatch, **kwargs) -> torch.Tensor:
    """DDPM ancestral sampling (DDIM with ``eta=1``); see :func:`sample`."""
    return sample(model, noise, sampler="ddpm", **kwargs)
