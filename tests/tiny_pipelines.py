"""Tiny random-weight diffusers pipelines built from configs (no download): Stable Diffusion and FLUX."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch
from diffusers import (AutoencoderKL, DDIMScheduler, FlowMatchEulerDiscreteScheduler, FluxPipeline,
                       FluxTransformer2DModel, LDMPipeline, StableDiffusionPipeline, UNet2DConditionModel,
                       UNet2DModel, VQModel)

#: The scheduler of the hub's stable-diffusion-v1-5 (its scheduler/scheduler_config.json): PNDM, with the
#: scaled-linear schedule, ``steps_offset=1`` and ``set_alpha_to_one=False`` that a DDIM built from it keeps.
SD15_SCHEDULER = {"_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012,
                  "beta_schedule": "scaled_linear", "num_train_timesteps": 1000, "set_alpha_to_one": False,
                  "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None, "clip_sample": False}


def tiny_clip(max_length: int = 16):
    """A CLIP text encoder and tokenizer with an 8-token vocabulary written to a temporary folder."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2, "red</w>": 3, "cat</w>": 4, "dog</w>": 5,
             "blue</w>": 6, "the</w>": 7}
    with tempfile.TemporaryDirectory(prefix="antinb-clip-") as tmp:  # read once: the tokenizer keeps both in memory
        folder = Path(tmp)
        (folder / "vocab.json").write_text(json.dumps(vocab))
        (folder / "merges.txt").write_text("#version: 0.2\n")
        tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=max_length)
    torch.manual_seed(0)
    encoder = CLIPTextModel(CLIPTextConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32,
                                           num_attention_heads=2, num_hidden_layers=1,
                                           max_position_embeddings=max_length, projection_dim=16, bos_token_id=0,
                                           eos_token_id=1, pad_token_id=1)).eval()
    return encoder, tokenizer


def tiny_vae() -> AutoencoderKL:
    torch.manual_seed(0)
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
                         down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                         norm_num_groups=4, sample_size=16).eval()


def tiny_sd_pipeline(scheduler=None) -> StableDiffusionPipeline:
    """Stable Diffusion layout: 4x8x8 latents, 16x16 images (VAE scale factor 2); by default a DDIM scheduler
    from the hub model's config, as users swap it in."""
    encoder, tokenizer = tiny_clip()
    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16),
                                layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
                                attention_head_dim=2, norm_num_groups=4).eval()
    pipe = StableDiffusionPipeline(vae=tiny_vae(), text_encoder=encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler or DDIMScheduler.from_config(SD15_SCHEDULER), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_flux_pipeline() -> FluxPipeline:
    """FLUX layout (packed 2x2 latent patches); text encoders left out: only its latents are exercised."""
    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=16, num_layers=1, num_single_layers=1,
                                         attention_head_dim=8, num_attention_heads=2, joint_attention_dim=16,
                                         pooled_projection_dim=16, axes_dims_rope=(2, 2, 4)).eval()
    return FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=tiny_vae(), text_encoder=None,
                        tokenizer=None, text_encoder_2=None, tokenizer_2=None, transformer=transformer)


def save_tiny_sd(folder) -> Path:
    """The tiny Stable Diffusion pipeline written as a diffusers folder (for antinb.load), with the hub
    model's own scheduler config (:data:`SD15_SCHEDULER`), as a copy of stable-diffusion-v1-5 has."""
    folder = Path(folder)
    tiny_sd_pipeline().save_pretrained(folder)
    write_scheduler(folder, SD15_SCHEDULER)
    return folder


def write_scheduler(folder, config: dict) -> None:
    """Give a saved pipeline folder the scheduler ``config`` (its ``_class_name`` names the class), as a hub
    folder has it: ``scheduler/scheduler_config.json`` and the scheduler entry of ``model_index.json``."""
    folder = Path(folder)
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(config, indent=2))
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({**index, "scheduler": ["diffusers", config["_class_name"]]}))


def tiny_ldm_pipeline() -> LDMPipeline:
    """Latent diffusion layout (CompVis/ldm-celebahq-256): 3x8x8 latents, a VQ decoder to 16x16 images."""
    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 16), layers_per_block=1,
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=4).eval()
    vqvae = VQModel(in_channels=3, out_channels=3, latent_channels=3, block_out_channels=(8, 16),
                    down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                    norm_num_groups=4, num_vq_embeddings=16, vq_embed_dim=3, sample_size=16).eval()
    pipe = LDMPipeline(vqvae=vqvae, unet=unet, scheduler=DDIMScheduler(clip_sample=False, steps_offset=1))
    pipe.set_progress_bar_config(disable=True)
    return pipe
