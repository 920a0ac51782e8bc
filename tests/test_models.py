"""Model loading: local diffusers folders (written by the test), hub ids, errors."""

from __future__ import annotations

import json
import time

import pytest
import torch
from diffusers import DDPMScheduler, UNet2DModel

from antinb import models
from antinb import noise as nz
from antinb import sampling

# The real google/ddpm-cifar10-32 configuration (35.7M parameters), with random weights.
CIFAR10_UNET = {
    "act_fn": "silu", "attention_head_dim": None, "block_out_channels": [128, 256, 256, 256],
    "center_input_sample": False, "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"],
    "downsample_padding": 0, "flip_sin_to_cos": False, "freq_shift": 1, "in_channels": 3, "layers_per_block": 2,
    "mid_block_scale_factor": 1, "norm_eps": 1e-06, "norm_num_groups": 32, "out_channels": 3, "sample_size": 32,
    "time_embedding_type": "positional", "up_block_types": ["UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
}
CIFAR10_SCHEDULER = {"beta_end": 0.02, "beta_schedule": "linear", "beta_start": 0.0001, "clip_sample": True,
                     "num_train_timesteps": 1000, "trained_betas": None, "variance_type": "fixed_large"}


@pytest.fixture(scope="module")
def cifar_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddpm-cifar10-32")
    torch.manual_seed(0)
    UNet2DModel(**CIFAR10_UNET).save_pretrained(folder / "unet")
    DDPMScheduler(**CIFAR10_SCHEDULER).save_pretrained(folder / "scheduler")
    (folder / "model_index.json").write_text(json.dumps(
        {"_class_name": "DDPMPipeline", "scheduler": ["diffusers", "DDPMScheduler"], "unet": ["diffusers", "UNet2DModel"]}))
    return folder


def test_load_pipeline_folder_with_cifar10_config(cifar_folder):
    m = models.load(cifar_folder, device="cpu")
    assert m.sample_shape == (3, 32, 32)
    assert m.conditioning is None and m.num_classes is None
    assert m.scheduler_config["beta_schedule"] == "linear"
    assert sum(p.numel() for p in m.unet.parameters()) == pytest.approx(35.7e6, rel=0.01)
    out = sampling.ddim(m, nz.antithetic(2, m.sample_shape), steps=1, progress=False)
    assert out.shape == (2, 3, 32, 32) and torch.isfinite(out).all()


def test_uncached_hub_id_fails_fast_with_guidance(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    import huggingface_hub.constants as c
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path))
    start = time.monotonic()
    with pytest.raises(models.ModelNotFoundError) as err:
        models.load("google/ddpm-cifar10-32", device="cpu")
    assert time.monotonic() - start < 5.0
    msg = str(err.value)
    assert "google/ddpm-cifar10-32" in msg and "hf download" in msg and "embedded" in msg


def test_unknown_name_is_a_value_error():
    with pytest.raises(ValueError, match="spec="):
        models.load("no-such-model", device="cpu")


def test_folder_without_unet_is_reported(tmp_path):
    with pytest.raises(models.ModelNotFoundError, match="unet/config.json"):
        models.load(tmp_path, device="cpu")


def test_bad_device():
    with pytest.raises(ValueError, match="device="):
        models.resolve_device("gpu-please")


def test_load_records_its_source_for_other_processes(cifar_folder):
    from antinb.generate import model_spec

    m = models.load(cifar_folder, device="cpu")
    assert m.source == str(cifar_folder.resolve())
    assert model_spec(m) == m.source
