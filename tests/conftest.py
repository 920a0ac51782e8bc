"""Shared fixtures: tiny seeded diffusion models built on the fly (no weights on disk)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from diffusers import DDPMScheduler, UNet2DModel

from antinb import models
from antinb.models import DiffusionModel

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two pytest-xdist workers: one thread each (and for the notebooks and processes
    # they start), since two torch processes that each take both cores of a 2-core machine fight
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
else:
    torch.set_num_threads(min(2, torch.get_num_threads()))


def tiny_unet(channels: int = 1, size: int = 8, num_classes: int | None = None, seed: int = 0) -> UNet2DModel:
    torch.manual_seed(seed)
    return UNet2DModel(sample_size=size, in_channels=channels, out_channels=channels,
                       block_out_channels=(8, 16), down_block_types=("DownBlock2D", "DownBlock2D"),
                       up_block_types=("UpBlock2D", "UpBlock2D"), layers_per_block=1, norm_num_groups=4,
                       num_class_embeds=None if num_classes is None else num_classes + 1).eval()


def scheduler_config(**overrides) -> dict:
    return dict(DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", **overrides).config)


def tiny_model(channels: int = 1, size: int = 8, num_classes: int | None = None, **sched) -> DiffusionModel:
    unet = tiny_unet(channels, size, num_classes)
    return DiffusionModel(unet=unet, scheduler_config=scheduler_config(**sched), name="tiny",
                          sample_shape=(channels, size, size), num_classes=num_classes, null_class=num_classes)


class AffineEps(torch.nn.Module):
    """eps(x, t) = a(t) * x + c: an affine antisymmetric noise predictor (science.md §4)."""

    def __init__(self, shape: tuple[int, int, int], seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.c = torch.nn.Parameter(0.3 * torch.randn(shape, generator=g), requires_grad=False)
        self.config = SimpleNamespace(cross_attention_dim=None)

    def forward(self, x, t, **_):
        a = 0.5 + 0.4 * torch.as_tensor(t, dtype=x.dtype) / 1000.0
        return SimpleNamespace(sample=a * x + self.c)


@pytest.fixture
def model() -> DiffusionModel:
    return tiny_model()


@pytest.fixture
def cond_model() -> DiffusionModel:
    return tiny_model(num_classes=3)


@pytest.fixture
def affine_model() -> DiffusionModel:
    shape = (1, 8, 8)
    # clip_sample=False: clipping x0 is not affine, and the identity under test needs an affine step
    return DiffusionModel(unet=AffineEps(shape), scheduler_config=scheduler_config(clip_sample=False),
                          name="affine", sample_shape=shape)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A tiny class-conditional model saved as a diffusers folder (unet/ + scheduler/)."""
    folder = tmp_path_factory.mktemp("tiny-model")
    tiny_unet(channels=1, size=8, num_classes=3).save_pretrained(folder / "unet")
    DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear").save_pretrained(folder / "scheduler")
    return folder


@pytest.fixture
def loaded(model_dir):
    """:func:`model_dir` loaded with :func:`antinb.load` on the CPU."""
    return models.load(model_dir, device="cpu")


@pytest.fixture
def one_thread():
    """Float results of CPU kernels depend on the thread count: compare runs at the workers' 1 thread."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def pytest_collection_modifyitems(config, items):
    """The full-profile test first: it is the longest file by far (two notebook lanes for about two
    minutes), so under `make test`'s two workers the other worker takes the rest meanwhile (the Makefile's
    ``--no-loadscope-reorder`` keeps this order; xdist would otherwise start with the files of most tests)."""
    items.sort(key=lambda item: item.path.name != "test_full_profile.py")  # stable: the rest keep their order
