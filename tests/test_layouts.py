"""Model folders in the diffusers hub layouts (issue 17 item 1), written by the tests with random weights.

A latent diffusion folder (``unet`` + ``vqvae``, the ``CompVis/ldm-celebahq-256`` layout) is sampled and
decoded exactly as diffusers' ``LDMPipeline`` does; layouts antinb's samplers cannot run (DiT/FLUX
transformers, SDXL, flow-matching schedulers) are refused before any weight is read, with a message that
names what the folder is and what to use instead; a text-to-image folder without transformers names the
extra to install.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from diffusers import VQModel

import antinb
from antinb import models, sampling


def _tiny_ldm(folder: Path):
    from tiny_pipelines import tiny_ldm_pipeline

    pipe = tiny_ldm_pipeline()
    pipe.save_pretrained(folder)
    return pipe


def test_ldm_folder_decodes_through_its_vqvae_like_ldm_pipeline(tmp_path):
    pipe = _tiny_ldm(tmp_path / "ldm")
    model = antinb.load(tmp_path / "ldm", device="cpu")
    assert isinstance(model.vae, VQModel) and model.sample_shape == (3, 8, 8)
    ref = pipe(batch_size=2, generator=torch.Generator().manual_seed(0), num_inference_steps=5, eta=0.0,
               output_type="np").images
    z = torch.randn((2, *model.sample_shape), generator=torch.Generator().manual_seed(0))
    ours = sampling.ddim(model, z, steps=5, progress=False)
    assert ours.shape == (2, 3, 16, 16)  # decoded images, not 8x8 latents
    torch.testing.assert_close((ours / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1), torch.as_tensor(ref),
                               atol=1e-5, rtol=1e-5)


def _folder(root: Path, index: dict, **configs: dict) -> Path:
    root.mkdir(parents=True)
    (root / "model_index.json").write_text(json.dumps(index))
    for sub, cfg in configs.items():
        name = "scheduler_config.json" if sub == "scheduler" else "config.json"
        (root / sub).mkdir()
        (root / sub / name).write_text(json.dumps(cfg))
    return root


@pytest.mark.parametrize("kind, index, configs, words", [
    ("dit", {"_class_name": "DiTPipeline", "transformer": ["diffusers", "Transformer2DModel"]},
     {"transformer": {"_class_name": "Transformer2DModel"}, "scheduler": {"_class_name": "KarrasDiffusionSchedulers"}},
     ["DiTPipeline", "transformer", "pipeline_latents"]),
    ("flux", {"_class_name": "FluxPipeline", "transformer": ["diffusers", "FluxTransformer2DModel"]},
     {"transformer": {"_class_name": "FluxTransformer2DModel"},
      "scheduler": {"_class_name": "FlowMatchEulerDiscreteScheduler"}}, ["FluxPipeline", "FLUX", "pipeline_latents"]),
    ("sdxl", {"_class_name": "StableDiffusionXLPipeline", "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
              "unet": ["diffusers", "UNet2DConditionModel"]},
     {"unet": {"_class_name": "UNet2DConditionModel", "addition_embed_type": "text_time"},
      "scheduler": {"_class_name": "EulerDiscreteScheduler"}}, ["SDXL", "text_embeds", "pipeline_latents"]),
    ("flow-unet", {"_class_name": "SomePipeline", "unet": ["diffusers", "UNet2DModel"]},
     {"unet": {"_class_name": "UNet2DModel"}, "scheduler": {"_class_name": "FlowMatchEulerDiscreteScheduler"}},
     ["FlowMatchEulerDiscreteScheduler", "not a DDPM beta schedule"]),
])
def test_unsupported_layouts_are_refused_by_name(tmp_path, kind, index, configs, words):
    folder = _folder(tmp_path / kind, index, **configs)  # configs only: the refusal comes before any weight
    with pytest.raises(models.ModelNotFoundError) as err:
        antinb.load(folder, device="cpu")
    msg = str(err.value)
    assert all(w in msg for w in words), msg
    assert "\n" not in msg


def test_text_to_image_folder_without_transformers_names_the_extra(tmp_path, monkeypatch):
    from tiny_pipelines import tiny_sd_pipeline

    tiny_sd_pipeline().save_pretrained(tmp_path / "sd")
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if the 'sd' extra were not installed
    with pytest.raises(ImportError, match=r"antinb\[sd\]"):
        antinb.load(tmp_path / "sd", device="cpu")
