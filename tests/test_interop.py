"""antinb.interop: antinb's noise designs as ``latents=`` of diffusers pipelines (tiny random-weight pipelines)."""

from __future__ import annotations

import pytest
import torch
from diffusers import (DDIMScheduler, DDPMPipeline, DDPMScheduler, DPMSolverMultistepScheduler,
                       EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, UNet2DModel)

from antinb import interop, noise, stats
from tiny_pipelines import tiny_flux_pipeline, tiny_sd_pipeline


@pytest.fixture(scope="module")
def sd():
    return tiny_sd_pipeline()


def test_sd_latents_are_the_designs_rows_in_order(sd):
    shape = interop.latent_shape(sd)
    assert shape == (4, 8, 8)
    batch = noise.antithetic(6, shape, seed=3)
    z = interop.pipeline_latents(sd, batch)
    assert z.dtype == sd.dtype and torch.equal(z, batch.z) and torch.equal(z[0::2], -z[1::2])
    assert interop.latent_shape(sd, height=32, width=48) == (4, 16, 24)


def test_latents_take_the_pipelines_dtype(sd):
    batch = noise.antithetic(2, interop.latent_shape(sd), seed=0)
    sd.to(dtype=torch.bfloat16)
    try:
        z = interop.pipeline_latents(sd, batch)
        assert z.dtype == torch.bfloat16 and torch.equal(z[0], -z[1])
    finally:
        sd.to(dtype=torch.float32)


def test_recorder_sees_each_step_and_pairs_stay_negatively_correlated(sd):
    z = interop.pipeline_latents(sd, noise.antithetic(4, interop.latent_shape(sd), seed=0))
    rec = interop.TrajectoryRecorder()
    final = sd(prompt=["a red cat", "a red cat", "the blue dog", "the blue dog"], latents=z, num_inference_steps=4,
               guidance_scale=1.0, output_type="latent", callback_on_step_end=rec).images
    assert rec.correlations.shape == (2, 4) and len(rec.timesteps) == 4
    # the last recorded column is the correlation of the pipeline's own output latents
    assert torch.allclose(torch.as_tensor(rec.correlations[:, -1]), stats.pair_correlation(final.float()), atol=1e-6)
    assert (rec.correlations < -0.5).all()  # an untrained UNet is nearly linear: pairs stay mirrored


def test_flux_latents_are_packed_and_unpack_to_the_design():
    pipe = tiny_flux_pipeline()
    shape = interop.latent_shape(pipe, height=32, width=32)
    assert shape == (4, 16, 16)
    batch = noise.antithetic(2, shape, seed=1)
    packed = interop.pipeline_latents(pipe, batch, height=32, width=32)
    assert packed.shape == (2, 64, 16)
    back = type(pipe)._unpack_latents(packed, 32, 32, pipe.vae_scale_factor)
    assert torch.equal(back, batch.z)


def test_wrong_shape_and_pipelines_without_latents_are_refused(sd):
    with pytest.raises(ValueError, match=r"takes latents of shape \(4, 8, 8\)"):
        interop.pipeline_latents(sd, noise.antithetic(2, (4, 4, 4)))
    ddpm = DDPMPipeline(unet=UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16),
                                         norm_num_groups=4, layers_per_block=1,
                                         down_block_types=("DownBlock2D",) * 2, up_block_types=("UpBlock2D",) * 2),
                        scheduler=DDPMScheduler())
    with pytest.raises(ValueError, match="takes no latents="):
        interop.latent_shape(ddpm)


@pytest.mark.parametrize("scheduler,eta,ok", [
    (DDIMScheduler(), 0.0, True),
    (EulerDiscreteScheduler(), 0.0, True),
    (DPMSolverMultistepScheduler(), 0.0, True),
    (DDIMScheduler(), 0.5, False),
    (EulerAncestralDiscreteScheduler(), 0.0, False),
    (DPMSolverMultistepScheduler(algorithm_type="sde-dpmsolver++"), 0.0, False),
    (DDPMScheduler(), 0.0, False),
])
def test_check_mirrorable_refuses_schedulers_that_draw_step_noise(scheduler, eta, ok):
    if ok:
        interop.check_mirrorable(scheduler, eta=eta)
    else:
        with pytest.raises(ValueError, match=type(scheduler).__name__):
            interop.check_mirrorable(scheduler, eta=eta)


def test_unknown_scheduler_is_refused():
    class MySampler:
        config = {}

    with pytest.raises(ValueError, match="does not know"):
        interop.check_mirrorable(MySampler())
