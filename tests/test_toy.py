"""The 2-D diffusion with an exact noise predictor (antinb.toy): exact identities first."""

from __future__ import annotations

import math

import pytest
import torch

from antinb import noise, toy


@pytest.fixture(scope="module")
def mixture() -> toy.Mixture:
    return toy.example_mixture()


def test_the_gaussian_pn_pair_is_mirrored_about_one_centre(mixture):
    # eps* of a Gaussian is affine in x, every DDIM step affine in (x_t, eps): the sampler maps z to A z + c,
    # so across many pairs the two members average to one point, c, the image of z = 0
    g = toy.moment_matched(mixture)
    run = toy.pn_paths(g, 200, steps=20, seed=3, name="Gaussian")
    _, zero = toy.ddim_paths(g, torch.zeros(1, 2), steps=20)
    centre = zero[0, -1]
    torch.testing.assert_close(run.midpoints, centre.expand(200, 2), atol=1e-12, rtol=0)
    torch.testing.assert_close(run.correlation, torch.full((200,), -1.0, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(toy.pair_correlation(run.ends, centre), torch.full((200,), -1.0, dtype=torch.float64),
                               atol=1e-12, rtol=0)
    # at every step, not only at the end: each state is affine in z
    mid = run.paths[0::2] + run.paths[1::2]  # (P, S + 1, 2)
    torch.testing.assert_close(mid, mid[:1].expand_as(mid), atol=1e-12, rtol=0)


def test_the_gaussian_noise_predictor_is_affine(mixture):
    g = toy.moment_matched(mixture)
    gen = noise.seeded_generator(0)
    x, y = torch.randn(50, 2, generator=gen, dtype=torch.float64), torch.randn(50, 2, generator=gen, dtype=torch.float64)
    for abar in (0.01, 0.3, 0.97):
        a = torch.rand(50, 1, generator=gen, dtype=torch.float64) * 4 - 2
        lhs = toy.eps(g, a * x + (1 - a) * y, abar)
        torch.testing.assert_close(lhs, a * toy.eps(g, x, abar) + (1 - a) * toy.eps(g, y, abar), atol=1e-12, rtol=0)


def test_the_mixture_pn_pair_is_not_mirrored(mixture):
    run = toy.pn_paths(mixture, 200, steps=20, seed=3, name="mixture")
    rho = run.correlation
    assert rho.mean().item() > -0.9  # well above -1
    assert (rho > -0.99).float().mean().item() > 0.5
    spread = (run.midpoints - run.midpoints.mean(0)).norm(dim=1)
    assert spread.max().item() > 0.5  # the pairs' midpoints do not meet in one centre


def test_a_mixture_symmetric_about_its_mean_mirrors_again():
    # the score of a mixture symmetric about 0 is odd: eps(-x) = -eps(x), and DDIM maps -z to exactly -x(z)
    covs = torch.stack([torch.tensor([[0.1, 0.03], [0.03, 0.05]])] * 2).double()
    sym = toy.Mixture(torch.tensor([0.5, 0.5]), torch.tensor([[1.2, -0.4], [-1.2, 0.4]]), covs)
    run = toy.pn_paths(sym, 50, steps=20, seed=1)
    torch.testing.assert_close(run.ends[0::2], -run.ends[1::2], atol=1e-12, rtol=0)


@pytest.mark.parametrize("abar", [0.002, 0.05, 0.5, 0.9, 0.999])
def test_the_mixture_noise_predictor_is_minus_sqrt_one_minus_abar_times_the_score(mixture, abar):
    # eps*(x, t) = -sqrt(1 - abar) grad log q_t(x): against a central difference of the noised log density
    x = torch.randn(40, 2, generator=noise.seeded_generator(5), dtype=torch.float64) * 1.5
    h = 1e-5
    grad = torch.stack([(toy.log_density(mixture, x + h * e, abar) - toy.log_density(mixture, x - h * e, abar)) / (2 * h)
                        for e in torch.eye(2, dtype=torch.float64)], 1)
    torch.testing.assert_close(toy.eps(mixture, x, abar), -math.sqrt(1 - abar) * grad, atol=1e-7, rtol=1e-6)


def test_the_noised_density_is_the_mixture_of_the_noised_components(mixture):
    # one component: log N(x; sqrt(abar) mu, abar Sigma + (1 - abar) I), checked against torch.distributions
    g = toy.moment_matched(mixture)
    x = torch.randn(10, 2, generator=noise.seeded_generator(2), dtype=torch.float64)
    abar = 0.3
    ref = torch.distributions.MultivariateNormal(math.sqrt(abar) * g.mean, abar * g.cov + (1 - abar) * torch.eye(2,
                                                 dtype=torch.float64))
    torch.testing.assert_close(toy.log_density(g, x, abar), ref.log_prob(x), atol=1e-12, rtol=0)
    # the moment-matched Gaussian has the mixture's mean and covariance
    torch.testing.assert_close(g.means[0], mixture.weights @ mixture.means)
    d = mixture.means - g.means[0]
    within = (mixture.weights[:, None, None] * mixture.covs).sum(0)
    torch.testing.assert_close(g.covs[0], within + (mixture.weights[:, None, None] * d[:, :, None] * d[:, None, :]).sum(0))


def test_paths_start_at_the_noise_and_use_diffusers_ddim_timesteps(mixture):
    z = torch.randn(4, 2, generator=noise.seeded_generator(0), dtype=torch.float64)
    timesteps, paths = toy.ddim_paths(mixture, z, steps=10)
    assert paths.shape == (4, 11, 2) and timesteps.shape == (10,)
    assert torch.equal(paths[:, 0], z)
    assert int(timesteps[0]) == 999 and torch.all(timesteps[1:] < timesteps[:-1])
    torch.testing.assert_close(timesteps, toy.make_scheduler(10).timesteps)


def test_pn_paths_are_seeded_and_share_the_noise_across_data(mixture):
    a = toy.pn_paths(mixture, 3, steps=5, seed=7)
    b = toy.pn_paths(mixture, 3, steps=5, seed=7)
    g = toy.pn_paths(toy.moment_matched(mixture), 3, steps=5, seed=7)
    assert torch.equal(a.paths, b.paths)
    assert torch.equal(a.paths[:, 0], g.paths[:, 0]) and torch.equal(a.paths[0::2, 0], -a.paths[1::2, 0])
    expected = torch.randn(3, 2, generator=noise.seeded_generator(7), dtype=torch.float64)
    assert torch.equal(a.paths[0::2, 0], expected)


def test_bad_input_names_the_parameter(mixture):
    with pytest.raises(ValueError, match="weights"):
        toy.Mixture(torch.tensor([0.5, 0.6]), torch.zeros(2, 2), torch.eye(2).expand(2, 2, 2))
    with pytest.raises(ValueError, match="positive definite"):
        toy.gaussian(torch.zeros(2), torch.tensor([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="abar"):
        toy.eps(mixture, torch.zeros(1, 2), 0.0)
    with pytest.raises(ValueError, match="x must have shape"):
        toy.eps(mixture, torch.zeros(2, 3), 0.5)
    with pytest.raises(ValueError, match="steps"):
        toy.make_scheduler(0)
    with pytest.raises(ValueError, match="n_pairs"):
        toy.pn_paths(mixture, 1)
    with pytest.raises(ValueError, match="2P"):
        toy.pair_correlation(torch.zeros(3, 2))
