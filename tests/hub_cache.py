"""Random-weight model folders in the hub layouts the ``full`` profile names, served under the real hub
ids from a temporary Hugging Face cache (no download: diffusers builds every model from its config)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from diffusers import DDPMScheduler, UNet2DModel

from test_models import CIFAR10_SCHEDULER, CIFAR10_UNET
from tiny_pipelines import save_tiny_sd, tiny_ldm_pipeline

_COMMIT = "0" * 40


def serve(cache: Path, hub_id: str, folder: Path) -> Path:
    """Put ``folder`` into the hub cache ``cache`` as the ``main`` snapshot of ``hub_id``."""
    repo = cache / f"models--{hub_id.replace('/', '--')}"
    snap = repo / "snapshots" / _COMMIT
    shutil.copytree(folder, snap)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(_COMMIT)
    return snap


def _pixel(folder: Path, unet: UNet2DModel, scheduler) -> Path:
    unet.save_pretrained(folder / "unet")
    scheduler.save_pretrained(folder / "scheduler")
    (folder / "model_index.json").write_text(json.dumps(
        {"_class_name": "DDPMPipeline", "scheduler": ["diffusers", type(scheduler).__name__],
         "unet": ["diffusers", "UNet2DModel"]}))
    return folder


def tiny_pixel_unet(size: int = 16) -> UNet2DModel:
    torch.manual_seed(0)
    return UNet2DModel(sample_size=size, in_channels=3, out_channels=3, block_out_channels=(8, 16), layers_per_block=1,
                       down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
                       norm_num_groups=4).eval()


def tiny_ldm(folder: Path) -> Path:
    tiny_ldm_pipeline().save_pretrained(folder)
    return folder


def full_profile_cache(root: Path) -> Path:
    """A hub cache holding every model of ``notebooks/params/full.yml``: the real ddpm-cifar10-32 configuration,
    tiny pixel DDPMs for the 256 px ids, a tiny LDM (VQ) and a tiny Stable Diffusion."""
    cache, build = root / "hub", root / "folders"
    build.mkdir(parents=True)
    torch.manual_seed(0)
    serve(cache, "google/ddpm-cifar10-32", _pixel(build / "cifar", UNet2DModel(**CIFAR10_UNET).eval(),
                                                   DDPMScheduler(**CIFAR10_SCHEDULER)))
    for hub_id in ("google/ddpm-celebahq-256", "google/ddpm-church-256", "google/ddpm-bedroom-256"):
        serve(cache, hub_id, _pixel(build / hub_id.split("/")[1], tiny_pixel_unet(),
                                    DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")))
    serve(cache, "CompVis/ldm-celebahq-256", tiny_ldm(build / "ldm"))
    serve(cache, "stable-diffusion-v1-5/stable-diffusion-v1-5", save_tiny_sd(build / "sd"))
    return cache
