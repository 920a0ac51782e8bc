"""The Gaussian reference model: the exact noise predictor for data that are Gaussian.

If the data were ``x_0 ~ N(mu, Sigma)``, the forward process ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``
makes ``(x_t, eps)`` jointly Gaussian, and the noise predictor that minimises the training loss is the
conditional mean

    eps*(x_t, t) = sqrt(1 - abar_t) (abar_t Sigma + (1 - abar_t) I)^{-1} (x_t - sqrt(abar_t) mu),

an **affine** function of ``x_t`` (with the eigendecomposition ``Sigma = U diag(lam) U^T`` it scales each
eigen-coordinate by ``sqrt(1 - abar_t) / (abar_t lam + 1 - abar_t)``). Every DDIM step is then affine in
the state, so DDIM maps ``z`` and ``-z`` to mirror images about the image of ``0``: the limit that the
antithetic effect of trained networks can be measured against (``antinb.findings.progress``).

:func:`gaussian_model` fits ``mu`` and ``Sigma`` to a data set (in the model space ``[-1, 1]``, with the
same horizontal flips the training recipe applies) and returns a :class:`~antinb.models.DiffusionModel`
that every sampler and measurement of the package runs unchanged.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

import torch
from diffusers import DDPMScheduler

from .data import load_dataset
from .metrics import from_unit
from .models import DiffusionModel

__all__ = ["GaussianEps", "fit", "gaussian_model", "training_images", "FLIPPED_DATASETS"]

#: Data sets whose training recipe (``antinb.training``) adds horizontal flips; the fit includes them.
FLIPPED_DATASETS = ("photo-patches",)


def fit(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean ``(D,)``, eigenvalues ``(D,)`` (clipped at 0) and eigenvectors ``(D, D)`` of the sample covariance
    of ``images`` ``(N, C, H, W)`` (float64; the covariance divides by ``N - 1``)."""
    if images.ndim != 4 or images.shape[0] < 2:
        raise ValueError(f"images must be (N >= 2, C, H, W), got shape {tuple(images.shape)}")
    x = images.flatten(1).double()
    mean = x.mean(0)
    centred = (x - mean).float()  # the products in float32 (twice as fast; 1e-6 relative to float64 here)
    cov = (centred.T @ centred).double() / (x.shape[0] - 1)
    cov = (cov + cov.T) / 2
    lam, vecs = torch.linalg.eigh(cov)
    return mean, lam.clamp_min(0.0), vecs


class GaussianEps(torch.nn.Module):
    """``eps*(x, t)`` of the module docstring for ``N(mean, vecs diag(lam) vecs^T)``; called like a diffusers
    UNet (``module(x, t).sample``). The schedule is the ``alphas_cumprod`` of the model's scheduler."""

    def __init__(self, mean: torch.Tensor, lam: torch.Tensor, vecs: torch.Tensor, alphas_cumprod: torch.Tensor,
                 shape: tuple[int, int, int]):
        super().__init__()
        d = int(torch.tensor(shape).prod())
        if mean.shape != (d,) or lam.shape != (d,) or vecs.shape != (d, d):
            raise ValueError(f"mean {tuple(mean.shape)}, lam {tuple(lam.shape)} and vecs {tuple(vecs.shape)} do "
                             f"not match the sample shape {shape} ({d} values)")
        frozen = dict(requires_grad=False)
        self.mean = torch.nn.Parameter(mean.float(), **frozen)
        self.lam = torch.nn.Parameter(lam.float(), **frozen)
        self.vecs = torch.nn.Parameter(vecs.float(), **frozen)
        self.alphas_cumprod = torch.nn.Parameter(torch.as_tensor(alphas_cumprod).float(), **frozen)
        self.shape = tuple(shape)
        self.config = SimpleNamespace(cross_attention_dim=None)

    def forward(self, x: torch.Tensor, t: torch.Tensor | int, **_: Any) -> SimpleNamespace:
        b = x.shape[0]
        t = torch.as_tensor(t, device=x.device).long().expand(b) if torch.as_tensor(t).ndim == 0 \
            else torch.as_tensor(t, device=x.device).long()
        abar = self.alphas_cumprod[t].to(x.dtype)[:, None]  # (B, 1)
        y = x.reshape(b, -1) - abar.sqrt() * self.mean
        coords = y @ self.vecs  # (B, D) eigen-coordinates
        scale = (1.0 - abar).sqrt() / (abar * self.lam + (1.0 - abar))
        eps = (coords * scale) @ self.vecs.T
        return SimpleNamespace(sample=eps.reshape(x.shape))


def _scheduler_config(scheduler_config: dict[str, Any] | None) -> dict[str, Any]:
    if scheduler_config is not None:
        return dict(scheduler_config)
    # the training recipe's schedule (antinb.training.TrainConfig defaults)
    return dict(DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2").config)


def gaussian_model(data: str | torch.Tensor, *, scheduler_config: dict[str, Any] | None = None,
                   name: str | None = None, device: str | torch.device = "cpu") -> DiffusionModel:
    """The Gaussian reference model of a data set (a name of :data:`antinb.data.DATASETS`, fitted to its
    training split in ``[-1, 1]``, plus flips for :data:`FLIPPED_DATASETS`) or of ``images`` ``(N, C, H, W)``
    already in the model space. ``scheduler_config`` defaults to the training recipe's schedule; pass the
    trained model's ``scheduler_config`` to compare like with like."""
    if isinstance(data, str):
        mean, lam, vecs = _fit_dataset(data)
        shape, label = load_dataset(data, "test").shape, name or f"gaussian-{data}"
    elif isinstance(data, torch.Tensor):
        (mean, lam, vecs), shape, label = fit(data), tuple(data.shape[1:]), name or "gaussian"
    else:
        raise ValueError(f"data={type(data).__name__} must be a data set name or an image tensor (N, C, H, W)")
    config = _scheduler_config(scheduler_config)
    abar = DDPMScheduler.from_config(config).alphas_cumprod
    unet = GaussianEps(mean, lam, vecs, abar, shape).to(device)
    return DiffusionModel(unet=unet, scheduler_config=config, name=label, sample_shape=shape)


def training_images(dataset: str) -> torch.Tensor:
    """The images a recipe of :mod:`antinb.training` trains on, in ``[-1, 1]``: the training split, plus its
    horizontal flips for :data:`FLIPPED_DATASETS`."""
    images = from_unit(load_dataset(dataset, "train").images, (-1, 1))
    return torch.cat([images, images.flip(-1)]) if dataset in FLIPPED_DATASETS else images


@functools.lru_cache(maxsize=4)
def _fit_dataset(dataset: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # one fit per data set and process (a 3,072-value covariance takes half a minute on one CPU thread)
    return fit(training_images(dataset))
