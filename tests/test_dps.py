"""Diffusion posterior sampling: operators, the zeta = 0 identity with DDPM, data consistency,
antithetic mirroring, per-sample gradients and input validation (tiny models, a few seconds)."""

from __future__ import annotations

import pytest
import torch

from antinb import dps as D
from antinb import noise as nz
from antinb import sampling

SHAPE = (1, 8, 8)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: these 8x8 models gain nothing from more, and on a busy machine
    thread synchronisation makes each tiny forward/backward pass many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _ramp() -> torch.Tensor:
    """A smooth ground truth ``(1, 8, 8)`` in ``[-0.8, 0.8]``."""
    return torch.linspace(-0.8, 0.8, 64).reshape(SHAPE)


def _masked_mae(samples: torch.Tensor, x_true: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error on the observed pixels, ``(N,)``."""
    return ((samples - x_true).abs() * mask).sum(dim=(1, 2, 3)) / mask.sum()


# ------------------------------------------------------------------ operators


def test_box_mask_is_zero_exactly_inside_the_box():
    op = D.make_operator("box", (3, 8, 8))
    assert isinstance(op, D.BoxInpainting) and op.name == "box"
    assert op.mask.shape == (1, 1, 8, 8)
    expected = torch.ones(8, 8)
    expected[2:6, 2:6] = 0  # default: side 8 // 2 = 4, centred
    assert torch.equal(op.mask[0, 0], expected)
    off = D.make_operator("box", (1, 8, 8), size=3, top=0, left=5)
    assert off.mask[0, 0, :3, 5:].sum() == 0 and off.mask.sum() == 64 - 9


@pytest.mark.parametrize("name, kwargs", [("box", {}), ("random", {"keep": 0.5, "seed": 3})])
def test_masks_are_projections(name, kwargs):
    op = D.make_operator(name, (3, 8, 8), **kwargs)
    x = torch.randn(5, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    ax = op(x)
    assert torch.equal(op(ax), ax)
    assert torch.equal(ax, x * op.mask)  # observed pixels pass unchanged, missing ones are 0
    assert (ax[:, :, op.mask[0, 0] == 0] == 0).all()


def test_random_mask_keeps_the_fraction_and_is_seeded():
    op = D.make_operator("random", (1, 32, 32), keep=0.3, seed=7)
    assert abs(op.mask.mean().item() - 0.3) < 0.02
    assert set(op.mask.unique().tolist()) == {0.0, 1.0}
    again = D.make_operator("random", (1, 32, 32), keep=0.3, seed=7)
    other = D.make_operator("random", (1, 32, 32), keep=0.3, seed=8)
    assert torch.equal(op.mask, again.mask)
    assert not torch.equal(op.mask, other.mask)
    assert abs(D.make_operator("random", (1, 32, 32), keep=0.8).mask.mean().item() - 0.8) < 0.02


def test_downsample_of_a_constant_is_the_constant():
    op = D.make_operator("downsample", (3, 8, 8), factor=4)
    x = torch.full((2, 3, 8, 8), 0.37)
    out = op(x)
    assert out.shape == (2, 3, 2, 2) and op.output_shape == (3, 2, 2)
    torch.testing.assert_close(out, torch.full_like(out, 0.37))
    assert op.mask is None
    # average pooling: a 2x2 block [[0, 1], [2, 3]] becomes 1.5
    y = D.make_operator("downsample", (1, 2, 2))(torch.arange(4.0).reshape(1, 1, 2, 2))
    assert y.item() == pytest.approx(1.5)


@pytest.mark.parametrize("name, kwargs, match", [
    ("blur", {}, r"operator='blur'.*\['box', 'downsample', 'random'\]"),
    ("box", {"size": 9}, "size=9"),
    ("box", {"size": 0}, "size=0"),
    ("box", {"size": 4, "top": 6}, "top=6"),
    ("box", {"factor": 2}, "factor="),
    ("random", {"keep": 0.0}, "keep=0.0"),
    ("random", {"keep": 1.5}, "keep=1.5"),
    ("random", {"seed": -1}, "seed=-1"),
    ("downsample", {"factor": 3}, "factor=3"),
    ("downsample", {"factor": 0}, "factor=0"),
])
def test_bad_operator_arguments_raise(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        D.make_operator(name, (1, 8, 8), **kwargs)


def test_operator_registry_and_measure():
    assert set(D.OPERATORS) == {"box", "random", "downsample"}
    with pytest.raises(ValueError, match="shape="):
        D.make_operator("box", (8, 8))
    op = D.make_operator("box", SHAPE)
    x = _ramp()
    torch.testing.assert_close(D.measure(x, op), op(x[None])[0])
    noisy = D.measure(x, op, sigma=0.1, seed=1)
    assert torch.equal(noisy, D.measure(x, op, sigma=0.1, seed=1))
    assert 0.05 < (noisy - op(x[None])[0]).std() < 0.15
    with pytest.raises(ValueError, match="sigma="):
        D.measure(x, op, sigma=-1.0)


# ------------------------------------------------------------------ sampler identities


def test_zeta_zero_is_ddpm(model):
    batch = nz.antithetic(6, model.sample_shape, seed=2)
    y = D.measure(_ramp(), D.make_operator("box", SHAPE))
    ours = D.dps(model, batch, D.make_operator("box", SHAPE), y, steps=10, zeta=0.0, progress=False)
    ref = sampling.ddpm(model, batch, steps=10, progress=False)
    assert torch.equal(ours, ref)


def test_guidance_pulls_observed_pixels_to_y(model):
    """zeta = 1 on the tiny random UNet: observed-pixel error falls to ~5 % of the unguided one."""
    op = D.make_operator("box", SHAPE)
    x_true = _ramp()
    y = D.measure(x_true, op)
    batch = nz.antithetic(8, model.sample_shape, seed=1)
    free = D.dps(model, batch, op, y, steps=20, zeta=0.0, progress=False)
    guided = D.dps(model, batch, op, y, steps=20, zeta=1.0, progress=False)
    ratio = _masked_mae(guided, x_true, op.mask).mean() / _masked_mae(free, x_true, op.mask).mean()
    assert ratio < 0.3, ratio  # measured 0.055 (0.36 with 10 steps: the pull grows with the number of steps)
    assert torch.isfinite(guided).all()


def test_guidance_with_downsampling_and_per_row_y(model):
    op = D.make_operator("downsample", SHAPE, factor=2)
    x_true = torch.stack([_ramp(), -_ramp()])  # two different ground truths, one per pair
    y = D.measure(x_true, op).repeat_interleave(2, dim=0)  # (4, 1, 4, 4): one row per sample
    batch = nz.antithetic(4, model.sample_shape, seed=4)
    free = D.dps(model, batch, op, y, steps=20, zeta=0.0, progress=False)
    guided = D.dps(model, batch, op, y, steps=20, zeta=1.0, progress=False)

    def resid(s):
        return (op(s) - y).abs().mean(dim=(1, 2, 3))

    assert (resid(guided) < 0.5 * resid(free)).all(), (resid(guided), resid(free))


def test_affine_model_pair_average_is_constant_at_zeta_zero(affine_model):
    batch = nz.antithetic(12, affine_model.sample_shape, seed=3)
    op = D.make_operator("box", SHAPE)
    out = D.dps(affine_model, batch, op, D.measure(_ramp(), op), steps=20, zeta=0.0, progress=False)
    pair_avg = (out[0::2] + out[1::2]) / 2
    assert (pair_avg - pair_avg[0]).abs().max() < 1e-4
    assert out.std() > 0.1  # the samples themselves vary


def test_default_step_noise_is_mirrored(affine_model):
    batch = nz.antithetic(8, affine_model.sample_shape, seed=3)
    op = D.make_operator("box", SHAPE)
    y = D.measure(_ramp(), op)
    seen = []

    def callback(step, t, x_t, x0_hat):
        seen.append(x_t.clone())

    default = D.dps(affine_model, batch, op, y, steps=10, zeta=0.5, callback=callback, progress=False)
    explicit = D.dps(affine_model, batch, op, y, steps=10, zeta=0.5, step_noise=nz.StepNoise(batch),
                     progress=False)
    assert torch.equal(default, explicit)
    # zeta = 0, affine eps: partner states are mirrored about a centre shared by all pairs
    mirrored = []
    D.dps(affine_model, batch, op, y, steps=10, zeta=0.0, progress=False,
          callback=lambda s, t, x_t, x0: mirrored.append((x_t[0::2] + x_t[1::2]) / 2))
    assert len(mirrored) == 10 and len(seen) == 10
    assert max((m - m[0]).abs().max().item() for m in mirrored) < 1e-4
    # independent step noise breaks the mirror (science.md section 1)
    indep = nz.StepNoise(nz.independent(8, affine_model.sample_shape, seed=9))
    broken = D.dps(affine_model, batch, op, y, steps=10, zeta=0.0, step_noise=indep, progress=False)
    pair_avg = (broken[0::2] + broken[1::2]) / 2
    assert (pair_avg - pair_avg[0]).abs().max() > 0.05


def test_each_row_gets_its_own_gradient(model):
    """Rows 0-3 in one pass equal rows 0-1 and 2-3 run separately (one summed norm would couple them)."""
    op = D.make_operator("random", SHAPE, keep=0.5)
    batch = nz.independent(4, model.sample_shape, seed=6)
    steps = nz.StepNoise(batch)
    y = D.measure(_ramp(), op)
    whole = D.dps(model, batch.z, op, y, steps=5, zeta=1.0, step_noise=steps, progress=False)
    parts = [D.dps(model, batch.z[lo:lo + 2], op, y, steps=5, zeta=1.0,
                   step_noise=lambda s, rows=None, lo=lo: steps(s, slice(lo, lo + 2)), progress=False)
             for lo in (0, 2)]
    torch.testing.assert_close(whole, torch.cat(parts), atol=1e-5, rtol=1e-5)
    chunked = D.dps(model, batch.z, op, y, steps=5, zeta=1.0, step_noise=steps, max_batch_size=2,
                    progress=False)
    torch.testing.assert_close(whole, chunked, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(whole, D.dps(model, batch.z, op, y, steps=5, zeta=0.0, step_noise=steps,
                                           progress=False))


def test_one_forward_per_chunk_and_pairs_never_split(model):
    calls = []
    handle = model.unet.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    op = D.make_operator("box", SHAPE)
    try:
        D.dps(model, nz.antithetic(10, SHAPE), op, D.measure(_ramp(), op), steps=3, max_batch_size=5,
              progress=False)
    finally:
        handle.remove()
    assert calls == [4, 4, 2] * 3


def test_runs_inside_inference_mode(model):
    op = D.make_operator("box", SHAPE)
    batch = nz.antithetic(2, SHAPE, seed=0)
    y = D.measure(_ramp(), op)
    ref = D.dps(model, batch, op, y, steps=4, zeta=1.0, progress=False)
    with torch.inference_mode():
        out = D.dps(model, batch, op, y, steps=4, zeta=1.0, progress=False)
    assert torch.equal(out, ref)


def test_posterior_summary():
    s = torch.stack([torch.zeros(SHAPE), 2 * torch.ones(SHAPE)])
    summary = D.posterior_summary(s)
    assert torch.equal(summary["mean"], torch.ones(SHAPE))
    torch.testing.assert_close(summary["sd"], torch.full(SHAPE, 2**0.5))  # N - 1 divisor
    with pytest.raises(ValueError, match="samples"):
        D.posterior_summary(torch.zeros(1, *SHAPE))


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("kwargs, match", [
    (dict(zeta=-0.1), "zeta=-0.1"),
    (dict(zeta=float("nan")), "zeta=nan"),
    (dict(steps=0), "steps=0"),
    (dict(max_batch_size=1), "max_batch_size=1"),
    (dict(labels=1), "labels"),
])
def test_bad_arguments_raise(model, kwargs, match):
    op = D.make_operator("box", SHAPE)
    with pytest.raises(ValueError, match=match):
        D.dps(model, nz.antithetic(4, SHAPE), op, D.measure(_ramp(), op), progress=False, **kwargs)


def test_bad_y_noise_and_operator_raise(model):
    box = D.make_operator("box", SHAPE)
    batch = nz.antithetic(4, SHAPE)
    y = D.measure(_ramp(), box)
    with pytest.raises(ValueError, match=r"^y has shape \(1, 4, 4\)"):
        D.dps(model, batch, box, torch.zeros(1, 4, 4), progress=False)
    with pytest.raises(ValueError, match=r"^y has shape \(3, 1, 8, 8\)"):
        D.dps(model, batch, box, torch.zeros(3, *SHAPE), progress=False)
    with pytest.raises(ValueError, match="step_noise"):
        D.dps(model, torch.randn(4, *SHAPE), box, y, progress=False)
    with pytest.raises(ValueError, match="operator acts on"):
        D.dps(model, batch, D.make_operator("box", (3, 8, 8)), y, progress=False)
    with pytest.raises(ValueError, match="operator="):
        D.make_operator("unknown", SHAPE)
