"""Samplers: exact identities, agreement with diffusers' own pipelines, and input validation."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDIMPipeline, DDIMScheduler, DDPMScheduler

from antinb import noise as nz
from antinb import sampling, stats
from conftest import tiny_model


def test_ddim_matches_diffusers_pipeline(model):
    pipe = DDIMPipeline(unet=model.unet, scheduler=DDIMScheduler.from_config(model.scheduler_config))
    pipe.set_progress_bar_config(disable=True)
    # antinb re-derives the noise from the clipped x0 (as guided-diffusion's DDIM does); the pipeline does on request
    ref = pipe(batch_size=4, generator=torch.Generator().manual_seed(0), num_inference_steps=10,
               eta=0.0, use_clipped_model_output=True, output_type="pt").images
    ref = torch.as_tensor(ref)
    z = torch.randn((4, *model.sample_shape), generator=torch.Generator().manual_seed(0))
    ours = sampling.ddim(model, z, steps=10, progress=False)
    assert ref.shape == ours.shape
    torch.testing.assert_close((ours / 2 + 0.5).clamp(0, 1), ref, atol=1e-5, rtol=1e-5)


def test_ddpm_equals_ddpm_scheduler_at_full_steps(model):
    """DDIM with eta=1 and 1,000 steps is DDPM ancestral sampling, step for step."""
    n, steps = 2, 1000
    z = torch.randn((n, *model.sample_shape), generator=torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(2)
    draws = [torch.randn(z.shape, generator=gen) for _ in range(steps)]
    ours = sampling.ddpm(model, z, steps=steps, step_noise=lambda step, rows=None: draws[step], progress=False)

    sched = DDPMScheduler.from_config(model.scheduler_config)
    sched.set_timesteps(steps)
    gen = torch.Generator().manual_seed(2)
    x = z.clone()
    with torch.inference_mode():
        for t in sched.timesteps:
            x = sched.step(model.unet(x, t).sample, t, x, generator=gen).prev_sample
    torch.testing.assert_close(ours, x, atol=1e-4, rtol=1e-4)


def test_pn_pair_correlation_is_minus_one_at_t_T(model):
    batch = nz.antithetic(8, model.sample_shape, seed=0)
    seen = {}

    def callback(step, t, x_t, eps):
        if step == 0:
            seen["x"], seen["eps"], seen["t"] = x_t.clone(), eps.clone(), t

    sampling.ddim(model, batch, steps=5, callback=callback, progress=False)
    r = stats.pair_correlation(seen["x"])
    torch.testing.assert_close(r, torch.full_like(r, -1.0), atol=1e-6, rtol=0)
    assert seen["t"] == int(sampling.make_scheduler(model, 5).timesteps[0])


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_affine_model_pair_average_is_constant(affine_model, sampler):
    """An affine antisymmetric eps keeps every PN pair mirrored about one centre (science.md §4):
    the pair average is the same for every z, so AMC on the pixel mean has zero variance."""
    batch = nz.antithetic(16, affine_model.sample_shape, seed=3)
    out = sampling.sample(affine_model, batch, sampler=sampler, steps=20, progress=False)
    pair_avg = (out[0::2] + out[1::2]) / 2
    spread = (pair_avg - pair_avg[0]).abs().max()
    assert spread < 1e-4, spread
    assert out.std() > 0.1  # the samples themselves vary
    pixel_means = out.mean(dim=(1, 2, 3))
    est = stats.amc(pixel_means)
    assert est.half_width < 1e-5
    assert stats.mc(pixel_means).half_width > 100 * max(est.half_width, 1e-9)


def test_ddpm_needs_mirrored_step_noise(affine_model):
    """Negating only z (independent step noise) breaks the constant pair average under DDPM."""
    batch = nz.antithetic(16, affine_model.sample_shape, seed=3)
    indep = nz.StepNoise(nz.independent(16, affine_model.sample_shape, seed=9))
    out = sampling.ddpm(affine_model, batch, steps=20, step_noise=indep, progress=False)
    pair_avg = (out[0::2] + out[1::2]) / 2
    assert (pair_avg - pair_avg[0]).abs().max() > 0.05


def test_chunking_does_not_change_results(model):
    batch = nz.antithetic(12, model.sample_shape, seed=5)
    a = sampling.ddpm(model, batch, steps=8, max_batch_size=4, progress=False)
    b = sampling.ddpm(model, batch, steps=8, max_batch_size=256, progress=False)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_one_unet_call_per_step_per_chunk(model):
    calls = []
    handle = model.unet.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    try:
        sampling.ddim(model, nz.antithetic(10, model.sample_shape), steps=7, max_batch_size=4, progress=False)
    finally:
        handle.remove()
    assert len(calls) == 7 * 3  # chunks of 4, 4, 2 rows (pairs never split)
    assert calls[:3] == [4, 4, 2]


def test_classifier_free_guidance_one_pass(cond_model):
    calls = []
    handle = cond_model.unet.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    batch = nz.antithetic(4, cond_model.sample_shape)
    try:
        guided = sampling.ddim(cond_model, batch, steps=3, labels=1, guidance_scale=3.0, progress=False)
    finally:
        handle.remove()
    assert calls == [8, 8, 8]  # conditional and null halves in one forward pass
    plain = sampling.ddim(cond_model, batch, steps=3, labels=1, progress=False)
    uncond = sampling.ddim(cond_model, batch, steps=3, progress=False)
    assert not torch.allclose(guided, plain)
    assert not torch.allclose(plain, uncond)
    # guidance scale 1 is the purely conditional model
    one = sampling.ddim(cond_model, batch, steps=3, labels=1, guidance_scale=1.0, progress=False)
    torch.testing.assert_close(one, plain, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(eta=-0.1), "eta="),
    (dict(steps=0), "steps="),
    (dict(sampler="euler"), "sampler="),
    (dict(guidance_scale=2.0), "guidance_scale"),
    (dict(labels=1), "labels"),
    (dict(max_batch_size=1), "max_batch_size="),
])
def test_bad_input_raises(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sampling.sample(model, nz.antithetic(4, model.sample_shape), progress=False, **kwargs)


def test_bad_noise_raises(model):
    with pytest.raises(ValueError, match="noise"):
        sampling.ddim(model, torch.randn(2, 3, 8, 8), progress=False)
    bad = torch.randn(2, *model.sample_shape)
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        sampling.ddim(model, bad, progress=False)
    with pytest.raises(ValueError, match="step_noise"):
        sampling.ddim(model, torch.randn(2, *model.sample_shape), eta=0.5, progress=False)


def test_rgb_class_conditional_shapes():
    m = tiny_model(channels=3, num_classes=2)
    out = sampling.ddim(m, nz.simplex(6, m.sample_shape, 3), steps=2, labels=torch.tensor([0, 0, 0, 1, 1, 1]),
                        progress=False)
    assert out.shape == (6, 3, 8, 8) and torch.isfinite(out).all()


class _Tokens:
    def __init__(self, ids):
        self.input_ids = ids


class _ToyTokenizer:
    """Maps each prompt to a fixed-length id vector (a stand-in for CLIPTokenizer)."""

    model_max_length = 4

    def __call__(self, prompts, **_):
        ids = [[(sum(map(ord, p)) + i) % 50 if p else 0 for i in range(self.model_max_length)] for p in prompts]
        return _Tokens(torch.tensor(ids))


class _ToyTextEncoder(torch.nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(50, dim)

    def forward(self, ids):
        return (self.emb(ids),)


def test_text_conditioning_with_guidance():
    from diffusers import UNet2DConditionModel

    from antinb.models import DiffusionModel
    from conftest import scheduler_config

    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16),
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), layers_per_block=1,
                                cross_attention_dim=8, attention_head_dim=2, norm_num_groups=4).eval()
    m = DiffusionModel(unet=unet, scheduler_config=scheduler_config(), name="toy-text", sample_shape=(4, 8, 8),
                       text_encoder=_ToyTextEncoder(), tokenizer=_ToyTokenizer())
    assert m.conditioning == "text"
    batch = nz.antithetic(4, m.sample_shape)
    calls = []
    handle = unet.register_forward_hook(lambda mod, i, o: calls.append(i[0].shape[0]))
    try:
        guided = sampling.ddim(m, batch, steps=2, prompts="a red bag", guidance_scale=5.0, progress=False)
    finally:
        handle.remove()
    assert calls == [8, 8]  # prompt and null prompt in one forward pass
    plain = sampling.ddim(m, batch, steps=2, prompts="a red bag", progress=False)
    other = sampling.ddim(m, batch, steps=2, prompts=["a blue shoe"] * 4, progress=False)
    uncond = sampling.ddim(m, batch, steps=2, progress=False)
    assert not torch.allclose(plain, other) and not torch.allclose(plain, uncond)
    assert not torch.allclose(guided, plain)
    with pytest.raises(ValueError, match="prompts"):
        sampling.ddim(m, batch, steps=2, prompts=["one", "two"], progress=False)
    with pytest.raises(ValueError, match="labels"):
        sampling.ddim(m, batch, steps=2, labels=1, progress=False)


def test_speed_options_keep_the_samples(tmp_path):
    """channels-last and half precision change the layout and rounding, not the maths."""
    from diffusers import DDPMScheduler

    from conftest import tiny_unet
    from antinb import models

    tiny_unet(channels=3, size=8).save_pretrained(tmp_path / "unet")
    DDPMScheduler(num_train_timesteps=1000).save_pretrained(tmp_path / "scheduler")
    batch = nz.antithetic(6, (3, 8, 8), seed=2)
    plain = sampling.ddim(models.load(tmp_path, device="cpu"), batch, steps=5, progress=False)
    fast = models.load(tmp_path, device="cpu").optimize(channels_last=True)
    assert fast.memory_format == torch.channels_last
    torch.testing.assert_close(sampling.ddim(fast, batch, steps=5, progress=False), plain, atol=1e-5, rtol=1e-5)
    half = models.load(tmp_path, device="cpu", dtype=torch.bfloat16)
    out = sampling.ddim(half, batch, steps=5, progress=False)
    assert out.dtype == torch.float32  # the sampler's state stays float32
    assert 0 < (out - plain).abs().mean() < 0.03  # bf16 keeps 8 mantissa bits: close, not equal
