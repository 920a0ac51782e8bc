"""Image statistics and pair-diversity metrics (science.md sections 5 and 6).

Two families of functions live here:

* **Scalar statistics** ``S(x)`` of a batch of images (brightness, pixel mean, contrast,
  centroid), the targets ``mu = E[S(DM(Z))]`` of the uncertainty-quantification experiments
  (science.md section 6), plus :func:`squared_distance`, an *even* statistic for which
  antithetic pairing is not expected to help.
* **Pair diversity** between the two members of a pair (science.md section 5): SSIM (lower =
  more diverse) and a learned perceptual distance (higher = more diverse), and the percent
  improvement of PN (antithetic) pairs over RR (independent) pairs.

Value ranges
------------
Samplers output images in model space ``[-1, 1]``; data loaders give ``[0, 1]``. Every
function takes ``value_range`` (``(-1, 1)``, the default, or ``(0, 1)``) and first maps its
input to ``[0, 1]`` with :func:`to_unit` (:func:`from_unit` is its inverse). Nothing is clamped
here: a diffusion model's output may lie slightly outside its nominal range, and those values
are passed through unchanged, so a statistic of such an image may fall slightly outside the
range it would have for an in-range image. The one place that clamps is the input of the
quality classifier (:mod:`antinb.quality`, trained on ``[0, 1]`` data), after the same mapping.
All intensity statistics are on the ``[0, 1]`` scale (multiply by 255 for 8-bit units);
centroids are in pixels.

Images are ``(B, C, H, W)`` floating-point tensors with ``C`` = 1 (grayscale) or 3 (RGB).
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "masked_l1",
    "VALUE_RANGES",
    "LUMA_WEIGHTS",
    "PERCEPTUAL_MIN_SIZE",
    "to_unit",
    "from_unit",
    "luminance",
    "brightness",
    "pixel_mean",
    "contrast",
    "centroid",
    "centroid_x",
    "centroid_y",
    "centroid_distance",
    "squared_distance",
    "STATISTICS",
    "statistic",
    "ssim_pairs",
    "PerceptualDistance",
    "PERCEPTUAL_BACKENDS",
    "alexnet_checkpoint_path",
    "lpips_available",
    "perceptual_distance",
    "percent_improvement",
    "l1_error",
    "psnr",
]

#: Accepted ``value_range`` arguments: model space and data-loader space.
VALUE_RANGES: tuple[tuple[float, float], ...] = ((-1.0, 1.0), (0.0, 1.0))

#: Rec. 709 luma weights for (R, G, B), the ones ``skimage.color.rgb2gray`` uses.
LUMA_WEIGHTS: tuple[float, float, float] = (0.2125, 0.7154, 0.0721)

#: Images with a side shorter than this are bilinearly upsampled before the perceptual network.
PERCEPTUAL_MIN_SIZE: int = 64


# --------------------------------------------------------------------------------------------
# Input checks and value ranges
# --------------------------------------------------------------------------------------------


def _check_value_range(value_range: tuple[float, float]) -> tuple[float, float]:
    try:
        vr = tuple(float(v) for v in value_range)
    except (TypeError, ValueError):
        vr = None
    if vr not in VALUE_RANGES:
        raise ValueError(
            f"value_range must be (-1, 1) (model space) or (0, 1) (data space), got {value_range!r}"
        )
    return vr  # type: ignore[return-value]


def _check_images(x: torch.Tensor, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (B, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W) (4 dimensions), got shape {tuple(x.shape)}")
    if x.shape[1] not in (1, 3):
        raise ValueError(
            f"{name} must have 1 (grayscale) or 3 (RGB) channels, got {x.shape[1]} "
            f"(shape {tuple(x.shape)})"
        )
    if not torch.is_floating_point(x):
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")


def _check_pairs(a: torch.Tensor, b: torch.Tensor) -> None:
    _check_images(a, "a")
    _check_images(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def to_unit(x: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Map images from ``value_range`` to ``[0, 1]``.

    ``(-1, 1)``: ``u = (x + 1) / 2``; ``(0, 1)``: ``u = x``. Affine, no clamping: values
    slightly outside the range (model outputs) stay slightly outside ``[0, 1]``.

    Args:
        x: images of any shape, usually ``(B, C, H, W)``.
        value_range: ``(-1, 1)`` or ``(0, 1)``.

    Returns:
        A tensor of the same shape on the ``[0, 1]`` scale.
    """
    lo, hi = _check_value_range(value_range)
    if lo == 0.0:
        return x
    return (x - lo) / (hi - lo)


def from_unit(u: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """The inverse of :func:`to_unit`: map images from ``[0, 1]`` to ``value_range``.

    ``(-1, 1)``: ``x = 2 u - 1`` (data-loader images to model space); ``(0, 1)``: ``x = u``.
    Affine, no clamping, so ``from_unit(to_unit(x, r), r) == x`` up to rounding.

    Args:
        u: images of any shape on the ``[0, 1]`` scale, usually ``(B, C, H, W)``.
        value_range: ``(-1, 1)`` or ``(0, 1)``.

    Returns:
        A tensor of the same shape on the ``value_range`` scale.
    """
    lo, hi = _check_value_range(value_range)
    if lo == 0.0:
        return u
    return u * (hi - lo) + lo


# --------------------------------------------------------------------------------------------
# Scalar statistics (science.md section 6)
# --------------------------------------------------------------------------------------------


def luminance(x: torch.Tensor, *, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Per-pixel luminance on the ``[0, 1]`` scale.

    Grayscale: ``Y = x``. RGB: ``Y = 0.2125 R + 0.7154 G + 0.0721 B`` (Rec. 709, identical to
    ``skimage.color.rgb2gray``).

    Args:
        x: ``(B, C, H, W)`` images, ``C`` in {1, 3}.

    Returns:
        ``(B, H, W)`` luminance.
    """
    _check_images(x)
    u = to_unit(x, value_range)
    if u.shape[1] == 1:
        return u[:, 0]
    w = torch.tensor(LUMA_WEIGHTS, dtype=u.dtype, device=u.device)
    return torch.einsum("bchw,c->bhw", u, w)


def brightness(x: torch.Tensor, *, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Mean luminance: ``S(x) = (1 / HW) sum_{i,j} Y_ij``.

    Args:
        x: ``(B, C, H, W)`` images.

    Returns:
        ``(B,)`` brightness on the ``[0, 1]`` intensity scale.
    """
    return luminance(x, value_range=value_range).mean(dim=(-2, -1))


def pixel_mean(x: torch.Tensor, *, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Mean of all values: ``S(x) = (1 / CHW) sum_{c,i,j} x_cij``.

    Differs from :func:`brightness` for RGB images (equal channel weights instead of luma
    weights); equal to it for grayscale.

    Args:
        x: ``(B, C, H, W)`` images.

    Returns:
        ``(B,)`` pixel mean on the ``[0, 1]`` intensity scale.
    """
    _check_images(x)
    return to_unit(x, value_range).mean(dim=(1, 2, 3))


def contrast(x: torch.Tensor, *, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """RMS contrast: population standard deviation of the luminance over pixels.

    ``S(x) = sqrt((1 / HW) sum_{i,j} (Y_ij - Ybar)^2)`` (divisor ``HW``, not ``HW - 1``).
    A black/white checkerboard has contrast 0.5.

    Args:
        x: ``(B, C, H, W)`` images.

    Returns:
        ``(B,)`` contrast on the ``[0, 1]`` intensity scale.
    """
    y = luminance(x, value_range=value_range)
    return y.flatten(1).std(dim=1, correction=0)


def centroid(x: torch.Tensor, *, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Luminance-weighted centre of mass, in pixels, measured from the image centre.

    With ``Y`` the luminance, ``M = sum_{i,j} Y_ij`` and the centre
    ``(r0, c0) = ((H - 1) / 2, (W - 1) / 2)``::

        row = sum_{i,j} Y_ij (i - r0) / M,     col = sum_{i,j} Y_ij (j - c0) / M.

    Row index ``i`` grows downwards, column index ``j`` to the right, so a bright pixel in the
    top-left corner gives negative row and column.

    Convention for images without mass: an all-black image (``M = 0``) has no centre of mass;
    it is assigned the image centre, ``(0, 0)`` — the limit of adding a uniform ``eps`` to the
    weights as ``eps -> 0``. The same is done whenever ``M <= 0``, which can only happen when
    out-of-range (negative) model outputs dominate a near-black image. Otherwise luminance
    values outside ``[0, 1]`` are used as weights unchanged, so the centroid of such an image
    can lie slightly outside the pixel grid.

    Args:
        x: ``(B, C, H, W)`` images.

    Returns:
        ``(B, 2)`` offsets ``(row, col)`` in pixels.
    """
    y = luminance(x, value_range=value_range)
    h, w = y.shape[-2:]
    rows = torch.arange(h, dtype=y.dtype, device=y.device) - (h - 1) / 2
    cols = torch.arange(w, dtype=y.dtype, device=y.device) - (w - 1) / 2
    mass = y.sum(dim=(-2, -1))
    row_moment = (y.sum(dim=-1) * rows).sum(dim=-1)
    col_moment = (y.sum(dim=-2) * cols).sum(dim=-1)
    has_mass = mass > 0
    safe_mass = torch.where(has_mass, mass, torch.ones_like(mass))
    zero = torch.zeros_like(mass)
    row = torch.where(has_mass, row_moment / safe_mass, zero)
    col = torch.where(has_mass, col_moment / safe_mass, zero)
    return torch.stack([row, col], dim=-1)


def centroid_x(x: torch.Tensor, *, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Column (horizontal) coordinate of :func:`centroid`, pixels from the centre; ``(B,)``."""
    return centroid(x, value_range=value_range)[:, 1]


def centroid_y(x: torch.Tensor, *, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Row (vertical, downwards) coordinate of :func:`centroid`, pixels from the centre; ``(B,)``."""
    return centroid(x, value_range=value_range)[:, 0]


def centroid_distance(x: torch.Tensor, *, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Euclidean distance of :func:`centroid` from the image centre, ``sqrt(row^2 + col^2)``.

    Returns:
        ``(B,)`` distance in pixels.
    """
    return torch.linalg.vector_norm(centroid(x, value_range=value_range), dim=-1)


def squared_distance(
    x: torch.Tensor, reference: torch.Tensor, *, value_range: tuple[float, float] = (-1.0, 1.0)
) -> torch.Tensor:
    """Mean squared difference to a reference image: ``S(x) = (1 / CHW) ||u(x) - u(ref)||^2``.

    ``u`` is :func:`to_unit`; both arguments are in ``value_range``. This is an *even*
    statistic (for a model that is close to affine in the noise, ``S(DM(z)) ~ S(DM(-z))`` when
    the reference is the mean image), so antithetic pairs are positively correlated and AMC is
    not expected to beat MC (science.md section 6).

    Args:
        x: ``(B, C, H, W)`` images.
        reference: ``(C, H, W)`` or ``(1, C, H, W)`` (one reference for all) or ``(B, C, H, W)``.

    Returns:
        ``(B,)`` mean squared difference on the ``[0, 1]`` scale (units: intensity squared).
    """
    u, r = _unit_pair(x, reference, value_range)
    return (u - r).square().mean(dim=(1, 2, 3))


#: Scalar statistics by name; each maps ``(B, C, H, W)`` images to ``(B,)``.
STATISTICS: dict[str, Callable[..., torch.Tensor]] = {
    "brightness": brightness,
    "pixel_mean": pixel_mean,
    "contrast": contrast,
    "centroid_x": centroid_x,
    "centroid_y": centroid_y,
    "centroid_distance": centroid_distance,
}


def statistic(name: str) -> Callable[..., torch.Tensor]:
    """The scalar statistic registered as ``name`` in :data:`STATISTICS`."""
    try:
        return STATISTICS[name]
    except (KeyError, TypeError):
        raise ValueError(f"name must be one of {sorted(STATISTICS)}, got {name!r}") from None


# --------------------------------------------------------------------------------------------
# Pair diversity (science.md section 5)
# --------------------------------------------------------------------------------------------


def ssim_pairs(
    a: torch.Tensor, b: torch.Tensor, *, value_range: tuple[float, float] = (-1.0, 1.0)
) -> torch.Tensor:
    """SSIM between ``a[i]`` and ``b[i]``, via ``skimage.metrics.structural_similarity``.

    Images are mapped to ``[0, 1]`` and compared with ``data_range=1`` and scikit-image's
    defaults (7x7 uniform window, ``K1 = 0.01``, ``K2 = 0.03``); RGB images use
    ``channel_axis`` (SSIM averaged over channels). A 28x28 image fits the 7x7 window.

    Args:
        a: ``(P, C, H, W)`` first pair members.
        b: ``(P, C, H, W)`` second pair members.

    Returns:
        ``(P,)`` float64 SSIM; 1 for identical images, lower = more diverse.
    """
    from skimage.metrics import structural_similarity

    _check_pairs(a, b)
    ua = to_unit(a, value_range).detach().cpu().double().numpy()
    ub = to_unit(b, value_range).detach().cpu().double().numpy()
    values = []
    for ia, ib in zip(ua, ub):
        if ia.shape[0] == 1:
            values.append(structural_similarity(ia[0], ib[0], data_range=1.0))
        else:
            values.append(
                structural_similarity(
                    np.moveaxis(ia, 0, -1), np.moveaxis(ib, 0, -1), data_range=1.0, channel_axis=-1
                )
            )
    return torch.tensor(values, dtype=torch.float64)


@dataclass(frozen=True)
class PerceptualDistance:
    """Perceptual distances of pairs together with the metric that produced them.

    Attributes:
        values: ``(P,)`` distances (higher = more different).
        metric: the label to print in tables, ``"LPIPS (alex)"`` or ``"ST-LPIPS (alex)"``.
        backend: ``"lpips"`` or ``"stlpips"``.
    """

    values: torch.Tensor
    metric: str
    backend: str


#: Perceptual backends and their table labels.
PERCEPTUAL_BACKENDS: dict[str, str] = {
    "lpips": "LPIPS (alex)",
    "stlpips": "ST-LPIPS (alex)",
}


def alexnet_checkpoint_path() -> Path:
    """Where torchvision looks for the ImageNet AlexNet weights that the ``lpips`` package needs.

    ``torch.hub.get_dir() / "checkpoints" / <file name of AlexNet_Weights.IMAGENET1K_V1.url>``
    (``alexnet-owt-7be5be79.pth`` for torchvision 0.29).
    """
    from torchvision.models import AlexNet_Weights

    filename = AlexNet_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1]
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def lpips_available() -> bool:
    """Whether the original LPIPS (alex) can be built offline: the AlexNet checkpoint is cached."""
    return alexnet_checkpoint_path().is_file()


def _build_lpips() -> torch.nn.Module:
    import lpips

    path = alexnet_checkpoint_path()
    if not path.is_file():
        from torchvision.models import AlexNet_Weights

        raise FileNotFoundError(
            f"backend='lpips' needs torchvision's ImageNet AlexNet weights at {path} "
            f"(download {AlexNet_Weights.IMAGENET1K_V1.url} and put the file there, or set "
            "TORCH_HOME); use backend='stlpips' or 'auto' to run offline without them"
        )
    with warnings.catch_warnings():
        # lpips 0.1.4 calls torchvision's deprecated ``alexnet(pretrained=True)``.
        warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")
        return lpips.LPIPS(net="alex", version="0.1", verbose=False)


def _build_stlpips() -> torch.nn.Module:
    # ST-LPIPS (Ghildyal & Liu, ECCV 2022), shift-tolerant AlexNet variant. The package ships
    # the full weights (backbone and linear heads) in stlpips_pytorch/weights/vST0.0/, and the
    # shift-tolerant backbone is built from scratch, so nothing is downloaded. We build it
    # untrained and load the file ourselves with strict=True so that a missing weight fails
    # loudly (the package loads with strict=False). ``lins.k`` is the same module as ``link``.
    from stlpips_pytorch import stlpips

    net = stlpips.LPIPS(net="alex", variant="shift_tolerant", pretrained=False, verbose=False)
    path = Path(stlpips.__file__).parent / "weights" / "vST0.0" / "alex_shift_tolerant.pth"
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in list(state):
        if key.startswith("lin") and key[3].isdigit():
            state[f"lins.{key[3]}{key[4:]}"] = state[key]
    net.load_state_dict(state, strict=True)
    return net.eval()


_BUILDERS: dict[str, Callable[[], torch.nn.Module]] = {"lpips": _build_lpips, "stlpips": _build_stlpips}


@functools.lru_cache(maxsize=None)
def _perceptual_network(backend: str, device: str) -> torch.nn.Module:
    net = _BUILDERS[backend]().to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _resolve_backend(backend: str) -> str:
    if backend == "auto":
        return "lpips" if lpips_available() else "stlpips"
    if backend not in PERCEPTUAL_BACKENDS:
        raise ValueError(f"backend must be 'auto', 'lpips' or 'stlpips', got {backend!r}")
    return backend


def perceptual_distance(
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    value_range: tuple[float, float] = (-1.0, 1.0),
    backend: str = "auto",
    device: str | torch.device = "cpu",
    batch_size: int = 64,
) -> PerceptualDistance:
    """Learned perceptual distance between ``a[i]`` and ``b[i]`` (AlexNet trunk).

    Backends:

    * ``"lpips"``: LPIPS v0.1 (Zhang et al. 2018) from the ``lpips`` package. Its trunk is
      torchvision's ImageNet AlexNet, which torchvision downloads at construction; offline it
      needs the checkpoint at :func:`alexnet_checkpoint_path`, else ``FileNotFoundError``.
    * ``"stlpips"``: shift-tolerant LPIPS (Ghildyal & Liu 2022) from ``stlpips-pytorch``, whose
      weights ship with the package; fully offline. Its values are *not* LPIPS values: the
      returned ``metric`` label says which one ran.
    * ``"auto"``: ``"lpips"`` when :func:`lpips_available`, otherwise ``"stlpips"``.

    Preprocessing: map to ``[0, 1]`` (no clamping), repeat grayscale to 3 channels, and
    bilinearly upsample images with a side shorter than 64 px to at least 64 px per side
    (``(max(H, 64), max(W, 64))``). Why: LPIPS's AlexNet (stride-4 first convolution, two
    stride-2 max-pools) shrinks a 28x28 input to 2x2 before a 3x3 pooling window, so it cannot
    run at all, and leaves a 1x1 deepest feature map at 32x32; ST-LPIPS pads enough to run but
    its deepest layers likewise have almost no spatial extent. Upsampling both backends the
    same way keeps them comparable. The networks then get ``2 u - 1`` in ``[-1, 1]``.

    Args:
        a: ``(P, C, H, W)`` first pair members.
        b: ``(P, C, H, W)`` second pair members.
        value_range: ``(-1, 1)`` or ``(0, 1)``.
        backend: ``"auto"``, ``"lpips"`` or ``"stlpips"``.
        device: where the network runs (cached per backend and device).
        batch_size: pairs per forward pass.

    Returns:
        :class:`PerceptualDistance` with ``(P,)`` float32 values on the CPU.
    """
    _check_pairs(a, b)
    _check_value_range(value_range)
    resolved = _resolve_backend(backend)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    dev = str(torch.device(device))
    net = _perceptual_network(resolved, dev)

    def prepare(x: torch.Tensor) -> torch.Tensor:
        u = to_unit(x, value_range).to(device=dev, dtype=torch.float32)
        if u.shape[1] == 1:
            u = u.expand(-1, 3, -1, -1)
        h, w = u.shape[-2:]
        if h < PERCEPTUAL_MIN_SIZE or w < PERCEPTUAL_MIN_SIZE:
            size = (max(h, PERCEPTUAL_MIN_SIZE), max(w, PERCEPTUAL_MIN_SIZE))
            u = F.interpolate(u, size=size, mode="bilinear", align_corners=False)
        return 2.0 * u - 1.0

    out = []
    with torch.inference_mode():
        for start in range(0, a.shape[0], batch_size):
            sl = slice(start, start + batch_size)
            d = net(prepare(a[sl]), prepare(b[sl]))
            out.append(d.reshape(-1).float().cpu())
    values = torch.cat(out) if out else torch.empty(0)
    return PerceptualDistance(values=values, metric=PERCEPTUAL_BACKENDS[resolved], backend=resolved)


def percent_improvement(pn: float, rr: float, *, higher_is_more_diverse: bool) -> float:
    """Diversity improvement of PN (antithetic) pairs over RR (independent) pairs, in percent.

    science.md section 5:

    * SSIM (lower = more diverse, ``higher_is_more_diverse=False``): ``(rr - pn) / rr * 100``.
    * LPIPS (higher = more diverse, ``higher_is_more_diverse=True``): ``(pn - rr) / rr * 100``.

    Args:
        pn: mean metric over PN pairs.
        rr: mean metric over RR pairs (the reference; must be non-zero and finite).
        higher_is_more_diverse: whether a larger metric value means more diverse pairs.

    Returns:
        The improvement in percent; positive when PN pairs are more diverse.
    """
    pn, rr = float(pn), float(rr)
    if not math.isfinite(pn):
        raise ValueError(f"pn must be a finite number, got {pn!r}")
    if not math.isfinite(rr) or rr == 0.0:
        raise ValueError(f"rr must be a finite non-zero number, got {rr!r}")
    if higher_is_more_diverse:
        return (pn - rr) / rr * 100.0
    return (rr - pn) / rr * 100.0


# --------------------------------------------------------------------------------------------
# Reconstruction error against a ground truth (science.md section 7, DPS inpainting)
# --------------------------------------------------------------------------------------------


def _unit_pair(
    x: torch.Tensor, reference: torch.Tensor, value_range: tuple[float, float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` and ``reference`` on the ``[0, 1]`` scale, the reference as ``(1 or B, C, H, W)``."""
    _check_images(x)
    if not isinstance(reference, torch.Tensor):
        raise ValueError(f"reference must be a torch.Tensor, got {type(reference).__name__}")
    ref = reference.unsqueeze(0) if reference.ndim == 3 else reference
    if ref.ndim != 4 or ref.shape[1:] != x.shape[1:] or ref.shape[0] not in (1, x.shape[0]):
        raise ValueError(
            f"reference must have shape {tuple(x.shape[1:])}, (1, *that) or {tuple(x.shape)} "
            f"to match x; got {tuple(reference.shape)}"
        )
    ref = ref.to(dtype=x.dtype, device=x.device)
    return to_unit(x, value_range), to_unit(ref, value_range)


def l1_error(
    x: torch.Tensor, reference: torch.Tensor, *, value_range: tuple[float, float] = (-1.0, 1.0)
) -> torch.Tensor:
    """Mean absolute error to a reference (ground truth): ``(1 / CHW) sum |u(x) - u(ref)|``.

    ``u`` is :func:`to_unit`, so the error is on the ``[0, 1]`` intensity scale (half the
    model-space error for ``value_range=(-1, 1)``).

    Args:
        x: ``(B, C, H, W)`` images (e.g. posterior samples or a posterior mean).
        reference: ``(C, H, W)`` or ``(1, C, H, W)`` (one reference for all) or ``(B, C, H, W)``.

    Returns:
        ``(B,)`` mean absolute error; 0 for identical images.
    """
    u, r = _unit_pair(x, reference, value_range)
    return (u - r).abs().mean(dim=(1, 2, 3))


def psnr(
    x: torch.Tensor, reference: torch.Tensor, *, value_range: tuple[float, float] = (-1.0, 1.0)
) -> torch.Tensor:
    """Peak signal-to-noise ratio to a reference, via ``skimage.metrics.peak_signal_noise_ratio``.

    Both images are mapped to ``[0, 1]`` and compared with ``data_range=1``:
    ``PSNR = 10 log10(1 / MSE)`` dB with ``MSE`` the mean squared error over ``C x H x W``.
    Nothing is clamped (see the module docstring). Identical images (``MSE = 0``) give ``inf``
    (scikit-image's value; numpy's divide-by-zero warning is silenced).

    Args:
        x: ``(B, C, H, W)`` images.
        reference: ``(C, H, W)`` or ``(1, C, H, W)`` (one reference for all) or ``(B, C, H, W)``.

    Returns:
        ``(B,)`` float64 PSNR in dB; higher is closer.
    """
    from skimage.metrics import peak_signal_noise_ratio

    u, r = _unit_pair(x, reference, value_range)
    u = u.detach().cpu().double().numpy()
    r = r.detach().cpu().double().expand(u.shape).numpy()
    with np.errstate(divide="ignore"):
        values = [peak_signal_noise_ratio(ri, ui, data_range=1.0) for ui, ri in zip(u, r)]
    return torch.tensor(values, dtype=torch.float64)


def masked_l1(x: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor, *,
              value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Mean absolute error to ``reference`` over the pixels where ``mask`` is 1, on the ``[0, 1]`` scale.

    ``x`` ``(B, C, H, W)``; ``reference`` ``(C, H, W)`` or broadcastable to ``x``; ``mask`` broadcastable
    to ``(1, 1, H, W)`` or ``(1, C, H, W)`` with values in {0, 1} (e.g. an inpainting operator's
    ``mask``: observed pixels; ``1 - mask``: the hole). Returns ``(B,)``.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"x must have shape (B, C, H, W), got {getattr(x, 'shape', type(x).__name__)}")
    m = torch.as_tensor(mask, dtype=torch.float64).expand(1, *x.shape[1:])
    if float(m.sum()) == 0.0:
        raise ValueError("mask selects no pixel")
    diff = (to_unit(x.double(), value_range) - to_unit(torch.as_tensor(reference).double(), value_range)).abs()
    return (diff * m).sum(dim=(1, 2, 3)) / m.sum()
