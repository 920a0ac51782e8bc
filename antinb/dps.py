"""Diffusion posterior sampling (DPS) with explicit, optionally antithetic, noise.

DPS (Chung, Kim, McCann, Klasky & Ye, ICLR 2023, Algorithm 1) samples approximately from the
posterior ``p(x | y)`` of a linear inverse problem ``y = A(x) + n`` with an unconditional diffusion
prior. At every ancestral step ``t`` it

1. predicts the clean image by Tweedie's formula (Algorithm 1, line 4, with the score
   ``s = -eps / sqrt(1 - abar_t)`` of a noise-predicting network)::

       x0_hat = (x_t - sqrt(1 - abar_t) eps(x_t, t)) / sqrt(abar_t);

2. takes the ancestral (DDPM) step ``x'_{t-1}`` from ``x_t`` with per-step noise ``xi_t``
   (Algorithm 1, lines 5-6);
3. moves against the gradient of the measurement residual (Algorithm 1, line 7)::

       x_{t-1} = x'_{t-1} - zeta * grad_{x_t} || y - A(x0_hat(x_t)) ||_2 .

The gradient goes through the network (one forward and one backward pass per chunk per step).

Antithetic DPS (science.md section 7): the partner chain of a PN pair starts from ``-z`` *and*
uses ``-xi_t`` at every step. Passing an antithetic :class:`antinb.noise.NoiseBatch` does this by
default (its mirrored :class:`antinb.noise.StepNoise`). Each chain is still an exact DPS chain, so
the pair average is an unbiased estimate of the mean of the DPS sampler, with (usually) lower variance;
the guidance term is nonlinear in the noise, so pairs are not exactly mirrored any more.

Measurement operators ``A`` live in the :data:`OPERATORS` registry (:func:`make_operator`); they act
on images ``(B, C, H, W)`` in model space ``[-1, 1]`` and are differentiable.
"""

from __future__ import annotations

import inspect
import math
from typing import ClassVar, Protocol

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .cache import memo
from .models import DiffusionModel
from .noise import NoiseBatch, StepNoise
from .sampling import StepNoiseSource, _check_noise, _labels, chunk_bounds, make_scheduler, predict_eps
from ._checks import check_int as _check_int

__all__ = [
    "OPERATORS",
    "Operator",
    "BoxInpainting",
    "RandomInpainting",
    "Downsample",
    "make_operator",
    "measure",
    "dps",
    "posterior_summary",
    "DPSCallback",
]


class DPSCallback(Protocol):
    def __call__(self, step: int, t: int, x_t: torch.Tensor, x0_hat: torch.Tensor) -> None: ...



# --------------------------------------------------------------------------------------------
# Measurement operators
# --------------------------------------------------------------------------------------------


def _check_sample_shape(shape: object) -> tuple[int, int, int]:
    ok = isinstance(shape, (tuple, list, torch.Size)) and len(shape) == 3
    ok = ok and all(not isinstance(s, bool) and isinstance(s, int) and s >= 1 for s in shape)
    if not ok:
        raise ValueError(f"shape={shape!r} must be (C, H, W), three positive integers")
    return tuple(int(s) for s in shape)  # type: ignore[return-value]


class Operator:
    """A forward measurement operator ``A`` on images of one shape ``(C, H, W)``.

    Calling it maps ``x`` ``(B, C, H, W)`` to ``A(x)`` ``(B, *output_shape)``, differentiably.
    Masking operators also carry ``mask`` ``(1, 1, H, W)`` (1 = observed, 0 = missing), shared by
    all channels; others have ``mask = None``.
    """

    name: ClassVar[str] = ""
    mask: torch.Tensor | None = None

    def __init__(self, shape: tuple[int, int, int]) -> None:
        self.shape = _check_sample_shape(shape)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of one measurement ``A(x)[i]``."""
        return self.shape

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != self.shape:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must have shape (B, {', '.join(map(str, self.shape))}) for operator "
                             f"{self.name!r}, got {got}")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape})"


class _MaskOperator(Operator):
    """``A(x) = m * x`` with a binary pixel mask ``m`` (inpainting); ``A`` is a projection."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        return x * self.mask.to(device=x.device, dtype=x.dtype)

    @property
    def observed_fraction(self) -> float:
        """Fraction of observed pixels."""
        return float(self.mask.mean())


class BoxInpainting(_MaskOperator):
    """Box inpainting: a square hole of side ``size`` is missing, every other pixel observed.

    Args:
        shape: ``(C, H, W)`` of one image.
        size: side of the hole in pixels; default ``min(H, W) // 2`` (half the image side).
        top, left: the hole's top-left corner; default: centred (``(H - size) // 2``, ...).
    """

    name = "box"

    def __init__(self, shape: tuple[int, int, int], *, size: int | None = None, top: int | None = None,
                 left: int | None = None) -> None:
        super().__init__(shape)
        _, h, w = self.shape
        size = max(1, min(h, w) // 2) if size is None else _check_int("size", size, minimum=1)
        if size > min(h, w):
            raise ValueError(f"size={size} must be at most min(H, W) = {min(h, w)}")
        top = (h - size) // 2 if top is None else _check_int("top", top, minimum=0)
        left = (w - size) // 2 if left is None else _check_int("left", left, minimum=0)
        if top + size > h:
            raise ValueError(f"top={top} with size={size} puts the box outside the image of height {h}")
        if left + size > w:
            raise ValueError(f"left={left} with size={size} puts the box outside the image of width {w}")
        self.size, self.top, self.left = size, top, left
        mask = torch.ones(1, 1, h, w)
        mask[..., top : top + size, left : left + size] = 0.0
        self.mask = mask

    def __repr__(self) -> str:
        return f"BoxInpainting(shape={self.shape}, size={self.size}, top={self.top}, left={self.left})"


class RandomInpainting(_MaskOperator):
    """Random-pixel inpainting: exactly ``round(keep * H * W)`` pixels are observed.

    The observed pixels are a uniformly random subset drawn with a CPU generator seeded by
    ``seed`` (all channels of a pixel share its state).

    Args:
        shape: ``(C, H, W)`` of one image.
        keep: fraction of observed pixels, in ``(0, 1]``; default 0.3.
        seed: seed of the mask.
    """

    name = "random"

    def __init__(self, shape: tuple[int, int, int], *, keep: float = 0.3, seed: int = 0) -> None:
        super().__init__(shape)
        if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0.0 < keep <= 1.0:
            raise ValueError(f"keep={keep!r} must be a number in (0, 1]")
        seed = _check_int("seed", seed, minimum=0)
        _, h, w = self.shape
        n_keep = max(1, round(keep * h * w))
        order = torch.randperm(h * w, generator=torch.Generator().manual_seed(seed))
        mask = torch.zeros(h * w)
        mask[order[:n_keep]] = 1.0
        self.keep, self.seed = float(keep), seed
        self.mask = mask.reshape(1, 1, h, w)

    def __repr__(self) -> str:
        return f"RandomInpainting(shape={self.shape}, keep={self.keep}, seed={self.seed})"


class Downsample(Operator):
    """Super-resolution operator: average pooling by ``factor``; ``A(x)`` is ``(B, C, H/f, W/f)``.

    Args:
        shape: ``(C, H, W)`` of one image; ``H`` and ``W`` must be multiples of ``factor``.
        factor: integer downsampling factor >= 1; default 2.
    """

    name = "downsample"

    def __init__(self, shape: tuple[int, int, int], *, factor: int = 2) -> None:
        super().__init__(shape)
        factor = _check_int("factor", factor, minimum=1)
        c, h, w = self.shape
        if h % factor or w % factor:
            raise ValueError(f"factor={factor} must divide the image height {h} and width {w}")
        self.factor = factor

    @property
    def output_shape(self) -> tuple[int, ...]:
        c, h, w = self.shape
        return (c, h // self.factor, w // self.factor)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        return F.avg_pool2d(x, self.factor)

    def __repr__(self) -> str:
        return f"Downsample(shape={self.shape}, factor={self.factor})"


#: Measurement operators by name.
OPERATORS: dict[str, type[Operator]] = {
    "box": BoxInpainting,
    "random": RandomInpainting,
    "downsample": Downsample,
}


def make_operator(name: str, shape: tuple[int, int, int], **kwargs) -> Operator:
    """The operator registered as ``name`` in :data:`OPERATORS`, for images of ``shape`` ``(C, H, W)``.

    ``kwargs`` are the operator's parameters (``box``: ``size, top, left``; ``random``:
    ``keep, seed``; ``downsample``: ``factor``).
    """
    if not isinstance(name, str) or name not in OPERATORS:
        raise ValueError(f"operator={name!r} is unknown; accepted values: {sorted(OPERATORS)}")
    cls = OPERATORS[name]
    accepted = [p for p in inspect.signature(cls).parameters if p != "shape"]
    for key in kwargs:
        if key not in accepted:
            raise ValueError(f"{key}= is not a parameter of operator {name!r}; accepted: {accepted}")
    return cls(shape, **kwargs)


def measure(x_true: torch.Tensor, operator: Operator, *, sigma: float = 0.0, seed: int = 0) -> torch.Tensor:
    """A measurement ``y = A(x_true) + sigma * n`` with ``n ~ N(0, I)`` from a CPU generator seeded ``seed``.

    Args:
        x_true: ``(C, H, W)`` or ``(B, C, H, W)`` ground truth in model space.
        operator: the forward operator ``A``.
        sigma: measurement noise standard deviation (>= 0), in model-space units.

    Returns:
        ``y`` of shape ``operator.output_shape`` (or ``(B, *output_shape)``) on ``x_true``'s device.
    """
    if not isinstance(x_true, torch.Tensor) or x_true.ndim not in (3, 4):
        raise ValueError("x_true must be a tensor (C, H, W) or (B, C, H, W)")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not math.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma={sigma!r} must be a finite number >= 0")
    seed = _check_int("seed", seed, minimum=0)
    single = x_true.ndim == 3
    x = x_true.unsqueeze(0) if single else x_true
    with torch.no_grad():
        y = operator(x.float())
        n = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed))
        y = y + sigma * n.to(y.device)
    return y[0] if single else y


# --------------------------------------------------------------------------------------------
# DPS sampler
# --------------------------------------------------------------------------------------------


def _check_y(y: torch.Tensor, operator: Operator, n: int) -> torch.Tensor:
    """``y`` as ``(1 or N, *output_shape)``."""
    out_shape = tuple(operator.output_shape)
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"y must be a tensor of shape {out_shape}, (1, ...) or ({n}, ...), "
                         f"got {type(y).__name__}")
    yy = y.unsqueeze(0) if y.ndim == len(out_shape) else y
    if yy.ndim != len(out_shape) + 1 or tuple(yy.shape[1:]) != out_shape or yy.shape[0] not in (1, n):
        raise ValueError(f"y has shape {tuple(y.shape)}; operator {operator.name!r} measures "
                         f"{out_shape}, so y must be {out_shape}, (1, *that) or ({n}, *that)")
    if not torch.isfinite(yy).all():
        raise ValueError("y contains NaN or infinite values")
    return yy


@memo()
def dps(model: DiffusionModel, noise: torch.Tensor | NoiseBatch, operator: Operator, y: torch.Tensor, *,
        steps: int = 100, zeta: float = 1.0, step_noise: StepNoiseSource | None = None, labels=None,
        max_batch_size: int = 256, callback: DPSCallback | None = None, progress: bool = True) -> torch.Tensor:
    """Diffusion posterior sampling (Chung et al., 2023, Algorithm 1) from explicit noise.

    Same conventions as :func:`antinb.sampling.sample`. ``noise`` is a :class:`NoiseBatch` (its
    groups are never split across forward passes, and its mirrored :class:`StepNoise` is the
    default per-step noise, which makes antithetic DPS) or a raw tensor ``(N, C, H, W)`` (then
    ``step_noise`` is required). ``step_noise(step)`` returns the ancestral noise ``xi_t``
    ``(N, C, H, W)`` of sampler step ``step``.

    The ancestral update is diffusers' ``DDIMScheduler.step`` with ``eta = 1`` (DDPM; see
    :mod:`antinb.sampling`), the guidance step ``- zeta * grad_{x_t} ||y - A(x0_hat)||_2`` is taken
    per sample: each row gets the gradient of its own residual norm only. ``zeta = 0`` is plain
    DDPM sampling (identical to :func:`antinb.sampling.ddpm` with the same noise).

    Args:
        model: a pixel-space diffusion model predicting ``eps``.
        noise: initial noise ``z`` (NoiseBatch or ``(N, C, H, W)``).
        operator: forward operator ``A`` (see :func:`make_operator`).
        y: measurement ``operator.output_shape``, ``(1, ...)`` (shared by all rows) or ``(N, ...)``.
        steps: number of ancestral steps (respaced DDPM when below the training steps).
        zeta: guidance step size ``>= 0`` (the ``scale`` of the reference implementation).
        step_noise: per-step noise source ``step_noise(step, rows=None)``.
        labels: class labels for class-conditional models (int or ``(N,)``).
        max_batch_size: rows per forward/backward pass, rounded down to whole groups.
        callback: ``callback(step, t, x_t, x0_hat)`` after the network call of each step; both
            ``(N, C, H, W)`` on the model's device, detached.
        progress: show a tqdm bar.

    Returns:
        Samples ``(N, C, H, W)`` in model space, on the CPU.
    """
    if model.vae is not None:
        raise ValueError(f"model {model.name!r} is a latent model; dps works on pixel-space models only")
    prediction = model.scheduler_config.get("prediction_type", "epsilon")
    if prediction != "epsilon":
        raise ValueError(f"model {model.name!r} has prediction_type={prediction!r}; dps needs 'epsilon'")
    if isinstance(zeta, bool) or not isinstance(zeta, (int, float)) or not math.isfinite(zeta) or zeta < 0:
        raise ValueError(f"zeta={zeta!r} must be a finite number >= 0")
    if not isinstance(operator, Operator):
        raise ValueError(f"operator must be an antinb.dps.Operator (see make_operator), got {type(operator).__name__}")
    if tuple(operator.shape) != tuple(model.sample_shape):
        raise ValueError(f"operator acts on {operator.shape} but model {model.name!r} samples "
                         f"{tuple(model.sample_shape)}")
    z, group = _check_noise(model, noise)
    n = z.shape[0]
    yy = _check_y(y, operator, n)
    if step_noise is None:
        if not isinstance(noise, NoiseBatch):
            raise ValueError("step_noise is required when noise is a raw tensor "
                             "(pass antinb.noise.StepNoise(batch) to mirror it inside pairs)")
        step_noise = StepNoise(noise)
    bounds = chunk_bounds(n, group, max_batch_size)

    device = model.device
    scheduler = make_scheduler(model, steps)
    lab = _labels(model, labels, n, device)
    abar = scheduler.alphas_cumprod.to(device=device, dtype=torch.float32)
    # inference_mode(False): the caller may be inside inference mode, where autograd is off even
    # under enable_grad; clones make fresh, non-inference tensors.
    with torch.inference_mode(False):
        y_dev = yy.detach().clone().to(device=device, dtype=torch.float32)
        x = z.detach().clone().to(device=device, dtype=torch.float32) * scheduler.init_noise_sigma
        eps = torch.empty_like(x)
        x0_hat = torch.empty_like(x)
        grad = torch.zeros_like(x)
        bar = tqdm(scheduler.timesteps, desc=f"dps x{n}", disable=not progress, leave=False)
        for step, t in enumerate(bar):
            a_t = abar[int(t)]
            for lo, hi in bounds:
                with torch.enable_grad():
                    x_t = x[lo:hi].detach().requires_grad_(True)
                    e = predict_eps(model, scheduler.scale_model_input(x_t, t), t,
                                    labels=None if lab is None else lab[lo:hi])
                    # Tweedie's estimate of x_0 (Algorithm 1, line 4, with s = -eps / sqrt(1 - abar_t))
                    x0 = (x_t - torch.sqrt(1 - a_t) * e) / torch.sqrt(a_t)
                    y_c = y_dev if y_dev.shape[0] == 1 else y_dev[lo:hi]
                    # per-sample residual norm ||y - A(x0_hat)||_2: the sum's gradient w.r.t. row i
                    # is the gradient of row i's own norm (rows do not interact in the network)
                    norms = torch.linalg.vector_norm((y_c - operator(x0)).flatten(1), dim=1)
                    (g,) = torch.autograd.grad(norms.sum(), x_t)
                eps[lo:hi], x0_hat[lo:hi], grad[lo:hi] = e.detach(), x0.detach(), g
            if callback is not None:
                callback(step, int(t), x, x0_hat)
            variance_noise = step_noise(step).to(device=device, dtype=torch.float32)
            if variance_noise.shape != x.shape:
                raise ValueError(f"step_noise returned shape {tuple(variance_noise.shape)}, expected {tuple(x.shape)}")
            # Algorithm 1, lines 5-6: ancestral step x'_{t-1} (DDIM with eta = 1 = DDPM).
            x_prev = scheduler.step(eps, t, x, eta=1.0, use_clipped_model_output=True,
                                    variance_noise=variance_noise).prev_sample
            # Algorithm 1, line 7: x_{t-1} = x'_{t-1} - zeta_t grad_{x_t} ||y - A(x0_hat)||_2^2, and the
            # paper's experiments take zeta_t = zeta' / ||y - A(x0_hat)|| (appendix). Since
            # grad ||r||^2 = 2 ||r|| grad ||r||, that step is 2 zeta' grad ||r||: a multiple of the
            # gradient of the norm itself, which is what the reference code (DPS2022/diffusion-
            # posterior-sampling, condition_methods.py) and this function subtract, scaled by
            # `zeta` (= the reference's `scale` = 2 zeta').
            x = x_prev - zeta * grad
        bar.close()
    return x.detach().cpu()


def posterior_summary(samples: torch.Tensor) -> dict[str, torch.Tensor]:
    """Pixel-wise posterior mean and standard deviation of DPS samples.

    Args:
        samples: ``(N, C, H, W)`` posterior samples, ``N >= 2``.

    Returns:
        ``{"mean": (C, H, W), "sd": (C, H, W)}``; ``sd`` uses the ``N - 1`` divisor. (For antithetic
        samples the per-pixel confidence interval of the mean must use pair means: see
        :mod:`antinb.stats`; this summary does not depend on the pairing.)
    """
    if not isinstance(samples, torch.Tensor) or samples.ndim != 4 or samples.shape[0] < 2:
        got = tuple(samples.shape) if isinstance(samples, torch.Tensor) else type(samples).__name__
        raise ValueError(f"samples must have shape (N, C, H, W) with N >= 2, got {got}")
    s = samples.detach().float()
    return {"mean": s.mean(dim=0), "sd": s.std(dim=0, correction=1)}
