"""The Gaussian reference: the exact noise predictor for Gaussian data, and the mirror images DDIM makes of it."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDPMScheduler

from antinb import gaussian, stats
from antinb import noise as nz
from antinb.findings import symmetry
from antinb.sampling import ddim


@pytest.fixture(scope="module")
def data() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    mix = 0.3 * torch.randn(16, 16, generator=g)
    return (torch.randn(4000, 16, generator=g) @ mix.T + 0.2).reshape(4000, 1, 4, 4)


def _unclipped() -> dict:
    return dict(DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", clip_sample=False).config)


def test_eps_is_the_posterior_mean_of_the_noise(data):
    """eps*(x, t) = Cov(eps, x_t) Var(x_t)^-1 (x_t - E x_t), solved directly instead of by eigenvectors."""
    m = gaussian.gaussian_model(data)
    mu, lam, vecs = gaussian.fit(data)
    sigma = vecs @ torch.diag(lam) @ vecs.T
    torch.testing.assert_close(sigma, torch.cov(data.flatten(1).double().T))
    x = torch.randn(5, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0, 10, 500, 900, 999])
    eps = m.unet(x, t).sample.flatten(1).double()
    abar = torch.as_tensor(DDPMScheduler.from_config(m.scheduler_config).alphas_cumprod, dtype=torch.float64)
    for i in range(5):
        a = abar[t[i]]
        var = a * sigma + (1 - a) * torch.eye(16, dtype=torch.float64)
        want = (1 - a).sqrt() * torch.linalg.solve(var, x[i].flatten().double() - a.sqrt() * mu)
        torch.testing.assert_close(eps[i], want, atol=2e-5, rtol=1e-4)


def test_ddim_makes_exact_mirror_images_and_samples_the_fitted_gaussian(data):
    m = gaussian.gaussian_model(data, scheduler_config=_unclipped())
    pairs = ddim(m, nz.antithetic(32, m.sample_shape), steps=20, progress=False).double()
    centre = ddim(m, torch.zeros(1, *m.sample_shape), steps=20, progress=False)[0].double()
    torch.testing.assert_close(pairs[0::2] + pairs[1::2], 2 * centre.expand_as(pairs[0::2]), atol=1e-4, rtol=0)
    corr = stats.pair_correlation(pairs, centered=True, mean_image=centre)
    assert float(corr.max()) < -0.9999
    # DDIM is then an affine map z -> M z + v, so its output covariance is M M^T exactly: the probability-flow
    # ODE of the exact predictor carries N(0, I) to the fitted Gaussian; DDIM's error is first order in 1/steps
    mu, lam, vecs = gaussian.fit(data)
    sigma = vecs @ torch.diag(lam) @ vecs.T
    basis = torch.eye(16).reshape(16, *m.sample_shape)
    err = {}
    for steps in (100, 500):
        cols = (ddim(m, basis, steps=steps, progress=False).double()
                - ddim(m, torch.zeros(1, *m.sample_shape), steps=steps, progress=False).double()).flatten(1)
        err[steps] = float((cols.T @ cols - sigma).norm() / sigma.norm())
    assert err[500] < 0.01 and err[500] < err[100] / 4, err


def test_the_reference_is_affine_antisymmetric(data):
    m = gaussian.gaussian_model(data)
    ts = symmetry.default_timesteps(m, 4)
    sl = symmetry.eps_slices(m, ts, n_x=4, n_coords=4, n_s=11)
    res = symmetry.symmetry_residual(m, ts, n=8)
    assert float(sl["scores"].min()) > 0.999
    assert float(res["residual"].max()) < 1e-4


def test_a_data_set_reference_fits_what_its_recipe_trains_on():
    photos = gaussian.training_images("photo-patches")  # the recipe adds horizontal flips
    half = len(photos) // 2
    torch.testing.assert_close(photos[half:], photos[:half].flip(-1), rtol=0, atol=0)
    assert float(photos.min()) >= -1 and float(photos.max()) <= 1
    m = gaussian.gaussian_model("mnist")
    assert m.name == "gaussian-mnist" and m.sample_shape == (1, 28, 28)
    torch.testing.assert_close(m.unet.mean, gaussian.training_images("mnist").flatten(1).mean(0).float())
    assert gaussian.gaussian_model("mnist").unet.lam.data_ptr() != m.unet.lam.data_ptr()  # a fresh module each time


def test_bad_input():
    with pytest.raises(ValueError, match=r"images must be \(N >= 2"):
        gaussian.fit(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="data="):
        gaussian.gaussian_model(3)
    with pytest.raises(ValueError, match="dataset="):
        gaussian.gaussian_model("cifar10")
