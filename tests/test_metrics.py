"""Tests for antinb.metrics: hand-built images with known answers, library cross-checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity

from antinb import metrics as M


def _unit_to_model(u: torch.Tensor) -> torch.Tensor:
    return 2.0 * u - 1.0


def _gray(u: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(H, W) array on [0, 1] -> (1, 1, H, W) float64 tensor."""
    return torch.as_tensor(np.asarray(u), dtype=torch.float64)[None, None]


# ------------------------------------------------------------------ value ranges


def test_to_unit_maps_both_ranges_without_clamping():
    x = torch.tensor([-1.0, 0.0, 1.0, 1.02, -1.04])
    torch.testing.assert_close(M.to_unit(x, (-1, 1)), torch.tensor([0.0, 0.5, 1.0, 1.01, -0.02]))
    assert M.to_unit(x, (0, 1)) is x


@pytest.mark.parametrize("bad", [(0, 255), (-1, 0), (1, -1), "unit", None, (0, 1, 2)])
def test_bad_value_range_raises(bad):
    x = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="value_range"):
        M.brightness(x, value_range=bad)
    with pytest.raises(ValueError, match="value_range"):
        M.to_unit(x, bad)


@pytest.mark.parametrize("value_range", [(-1, 1), (0, 1)])
def test_from_unit_inverts_to_unit(value_range):
    x = torch.linspace(-1.3, 1.3, 27, dtype=torch.float64).reshape(1, 1, 3, 9)  # out of range stays out of range
    torch.testing.assert_close(M.from_unit(M.to_unit(x, value_range), value_range), x, rtol=0, atol=1e-12)
    torch.testing.assert_close(M.to_unit(M.from_unit(x, value_range), value_range), x, rtol=0, atol=1e-12)


def test_from_unit_maps_data_to_model_space():
    u = torch.tensor([0.0, 0.25, 1.0, 1.01])
    torch.testing.assert_close(M.from_unit(u, (-1, 1)), torch.tensor([-1.0, -0.5, 1.0, 1.02]))
    assert M.from_unit(u, (0, 1)) is u
    with pytest.raises(ValueError, match="value_range"):
        M.from_unit(u, (0, 255))


# ------------------------------------------------------------------ quality: value range and Frechet distance


def _net():
    from antinb import quality

    torch.manual_seed(0)
    return quality.SmallCNN(1, 10).eval()


def test_classify_and_features_with_value_range_equal_manual_mapping_and_clamp():
    from antinb import quality

    net = _net()
    g = torch.Generator().manual_seed(1)
    x = 1.1 * (2 * torch.rand(16, 1, 28, 28, generator=g) - 1)  # model space, overshooting [-1, 1]
    manual = ((x + 1) / 2).clamp(0, 1)
    with torch.inference_mode():
        expected_feats = net.body(manual)
        expected_pred = net(manual).argmax(1)
    torch.testing.assert_close(quality.features(net, x, value_range=(-1, 1)), expected_feats, rtol=0, atol=0)
    torch.testing.assert_close(quality.features(net, x), expected_feats, rtol=0, atol=0)  # default: (-1, 1)
    assert torch.equal(quality.classify(net, x, value_range=(-1, 1)), expected_pred)
    # [0, 1] input with value_range=(0, 1) gives the same as its model-space copy with (-1, 1)
    assert torch.equal(quality.classify(net, manual, value_range=(0, 1)), expected_pred)
    torch.testing.assert_close(quality.features(net, manual, value_range=(0, 1)),
                               quality.features(net, M.from_unit(manual, (-1, 1))), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="value_range"):
        quality.features(net, x, value_range=(0, 255))


def test_frechet_distance_is_zero_for_identical_sets_and_warns_never():
    import warnings

    from antinb import quality

    rng = np.random.default_rng(0)
    for n, d in ((500, 8), (40, 128)):  # the second is singular: fewer samples than dimensions
        a = rng.normal(size=(n, d))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert quality.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
            b = a + 2.0
            # a shift by 2 in every dimension: ||mu_a - mu_b||^2 = 4 d, the covariances are equal
            assert quality.frechet_distance(a, b) == pytest.approx(4.0 * d, rel=1e-8)
            c = 3.0 * a
            # scaled: Tr(S + 9 S - 2 * 3 S) = 4 Tr(S) plus the mean term
            expected = 4.0 * np.trace(np.cov(a, rowvar=False)) + ((a.mean(0) - c.mean(0)) ** 2).sum()
            assert quality.frechet_distance(a, c) == pytest.approx(expected, rel=1e-8)


# ------------------------------------------------------------------ scalar statistics


def test_constant_image_statistics():
    x = torch.full((2, 3, 8, 8), 0.3)
    torch.testing.assert_close(M.brightness(x, value_range=(0, 1)), torch.full((2,), 0.3))
    torch.testing.assert_close(M.pixel_mean(x, value_range=(0, 1)), torch.full((2,), 0.3))
    torch.testing.assert_close(M.contrast(x, value_range=(0, 1)), torch.zeros(2), atol=1e-6, rtol=0)
    torch.testing.assert_close(M.centroid(x, value_range=(0, 1)), torch.zeros(2, 2), atol=1e-6, rtol=0)


def test_brightness_and_pixel_mean_differ_for_coloured_rgb():
    x = torch.zeros(1, 3, 4, 4)
    x[:, 0] = 1.0  # pure red
    assert M.brightness(x, value_range=(0, 1)).item() == pytest.approx(0.2125)
    assert M.pixel_mean(x, value_range=(0, 1)).item() == pytest.approx(1 / 3)


def test_single_bright_pixel_centroid_is_its_offset_from_centre():
    u = np.zeros((9, 12))
    u[2, 10] = 1.0  # centre is (4, 5.5)
    x = _gray(u)
    torch.testing.assert_close(M.centroid(x, value_range=(0, 1)), torch.tensor([[-2.0, 4.5]], dtype=torch.float64))
    assert M.centroid_y(x, value_range=(0, 1)).item() == pytest.approx(-2.0)
    assert M.centroid_x(x, value_range=(0, 1)).item() == pytest.approx(4.5)
    assert M.centroid_distance(x, value_range=(0, 1)).item() == pytest.approx(math.hypot(2.0, 4.5))


def test_left_half_white_centroid_x_is_minus_quarter_width():
    u = np.zeros((6, 8))
    u[:, :4] = 1.0  # mean column 1.5, centre 3.5 -> -2 = -W/4
    x = _gray(u)
    assert M.centroid_x(x, value_range=(0, 1)).item() == pytest.approx(-2.0)
    assert M.centroid_y(x, value_range=(0, 1)).item() == pytest.approx(0.0)
    assert M.centroid_distance(x, value_range=(0, 1)).item() == pytest.approx(2.0)


def test_black_image_centroid_is_centre_by_convention():
    x = torch.zeros(2, 1, 5, 5)
    out = M.centroid(x, value_range=(0, 1))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, torch.zeros(2, 2))
    torch.testing.assert_close(M.centroid_distance(-torch.ones(1, 3, 5, 5)), torch.zeros(1))


def test_checkerboard_contrast_is_half():
    i, j = np.indices((8, 8))
    x = _gray(((i + j) % 2).astype(float))
    assert M.contrast(x, value_range=(0, 1)).item() == pytest.approx(0.5)
    assert M.brightness(x, value_range=(0, 1)).item() == pytest.approx(0.5)


def test_both_value_ranges_agree():
    g = torch.Generator().manual_seed(0)
    u = torch.rand(4, 3, 10, 7, generator=g, dtype=torch.float64)
    for name, fn in M.STATISTICS.items():
        torch.testing.assert_close(fn(u, value_range=(0, 1)), fn(_unit_to_model(u)), msg=name)
    ref = torch.rand(3, 10, 7, generator=g, dtype=torch.float64)
    torch.testing.assert_close(
        M.squared_distance(u, ref, value_range=(0, 1)), M.squared_distance(_unit_to_model(u), _unit_to_model(ref))
    )


def test_rgb_luminance_matches_skimage_rgb2gray():
    rng = np.random.default_rng(1)
    img = rng.random((11, 13, 3))
    x = torch.as_tensor(img).permute(2, 0, 1)[None]
    np.testing.assert_allclose(M.luminance(x, value_range=(0, 1))[0].numpy(), rgb2gray(img), rtol=1e-12, atol=1e-12)
    assert M.brightness(x, value_range=(0, 1)).item() == pytest.approx(rgb2gray(img).mean(), rel=1e-12)
    assert M.contrast(x, value_range=(0, 1)).item() == pytest.approx(rgb2gray(img).std(), rel=1e-12)


def test_grayscale_luminance_is_the_channel():
    x = torch.rand(2, 1, 5, 6, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(M.luminance(x, value_range=(0, 1)), x[:, 0])


def test_out_of_range_values_pass_through():
    x = torch.full((1, 1, 4, 4), 1.1)  # model output slightly above 1
    assert M.brightness(x).item() == pytest.approx(1.05)
    assert M.pixel_mean(x, value_range=(0, 1)).item() == pytest.approx(1.1)


def test_squared_distance_known_value_and_even_in_sign():
    ref = torch.zeros(1, 4, 4)  # 0.5 grey in model space
    x = torch.stack([torch.full((1, 4, 4), 0.5), torch.full((1, 4, 4), -0.5)])
    torch.testing.assert_close(M.squared_distance(x, ref), torch.full((2,), 0.0625))
    with pytest.raises(ValueError, match="reference"):
        M.squared_distance(x, torch.zeros(1, 5, 4))


def test_bad_channel_count_and_shape_raise():
    with pytest.raises(ValueError, match=r"x must have 1 \(grayscale\) or 3 \(RGB\) channels, got 2"):
        M.brightness(torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match="x must have shape"):
        M.contrast(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="floating-point"):
        M.pixel_mean(torch.zeros(1, 1, 4, 4, dtype=torch.uint8))


def test_statistic_registry():
    assert set(M.STATISTICS) == {
        "brightness", "pixel_mean", "contrast", "centroid_x", "centroid_y", "centroid_distance"
    }
    assert M.statistic("contrast") is M.contrast
    with pytest.raises(ValueError, match="brightness.*centroid_distance"):
        M.statistic("sharpness")


# ------------------------------------------------------------------ SSIM


def _pair_images(seed: int, shape=(3, 3, 28, 28)) -> torch.Tensor:
    """Smooth random images in [0, 1] (low-res noise upsampled), so SSIM has structure."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(shape[0], shape[1], 7, 7, generator=g)
    return torch.nn.functional.interpolate(low, size=shape[2:], mode="bilinear", align_corners=False)


def test_ssim_identical_is_one_and_negative_is_lower():
    u = _pair_images(0)
    x = _unit_to_model(u)
    torch.testing.assert_close(M.ssim_pairs(x, x), torch.ones(3, dtype=torch.float64))
    noisy = x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    s_noisy = M.ssim_pairs(x, noisy)
    s_neg = M.ssim_pairs(x, -x)
    assert (s_noisy > 0.6).all()
    assert (s_neg < 0.0).all()
    assert (s_neg < s_noisy - 0.5).all()


def test_ssim_matches_skimage_directly_gray_and_rgb():
    u = _pair_images(3)
    v = _pair_images(4)
    got = M.ssim_pairs(u, v, value_range=(0, 1))
    for i in range(3):
        want = structural_similarity(
            u[i].permute(1, 2, 0).double().numpy(), v[i].permute(1, 2, 0).double().numpy(),
            data_range=1.0, channel_axis=-1,
        )
        assert got[i].item() == pytest.approx(want, rel=1e-10)
    g_got = M.ssim_pairs(_unit_to_model(u[:, :1]), _unit_to_model(v[:, :1]))
    want0 = structural_similarity(u[0, 0].double().numpy(), v[0, 0].double().numpy(), data_range=1.0)
    assert g_got[0].item() == pytest.approx(want0, rel=1e-6)


def test_ssim_shape_mismatch_raises():
    with pytest.raises(ValueError, match="a and b must have the same shape"):
        M.ssim_pairs(torch.zeros(2, 1, 28, 28), torch.zeros(3, 1, 28, 28))


# ------------------------------------------------------------------ perceptual distance


@pytest.fixture(scope="module")
def small_pairs() -> torch.Tensor:
    return _unit_to_model(_pair_images(5, shape=(2, 3, 28, 28)))


def test_perceptual_offline_uses_stlpips_and_labels_it(small_pairs):
    assert not M.lpips_available(), "this test assumes no AlexNet checkpoint in the torch hub cache"
    x = small_pairs
    same = M.perceptual_distance(x, x)
    assert same.backend == "stlpips"
    assert same.metric == "ST-LPIPS (alex)"
    assert same.values.shape == (2,)
    assert same.values.abs().max().item() < 1e-6


def test_perceptual_distance_increases_with_noise(small_pairs):
    x = small_pairs
    g = torch.Generator().manual_seed(6)
    noise = torch.randn(x.shape, generator=g)
    scales = torch.tensor([0.05, 0.2, 0.6]).repeat_interleave(x.shape[0])[:, None, None, None]
    d = M.perceptual_distance(x.repeat(3, 1, 1, 1), x.repeat(3, 1, 1, 1) + scales * noise.repeat(3, 1, 1, 1))
    d = d.values.reshape(3, -1)  # (noise level, image)
    assert (d[0] > 1e-3).all()
    assert (d[1] > d[0]).all() and (d[2] > d[1]).all()


def test_perceptual_grayscale_equals_repeated_rgb_and_ranges_agree(small_pairs):
    a, b = small_pairs[:, :1], small_pairs.flip(0)[:, :1]
    gray = M.perceptual_distance(a, b, backend="stlpips").values
    rgb = M.perceptual_distance(a.repeat(1, 3, 1, 1), b.repeat(1, 3, 1, 1), backend="stlpips").values
    unit = M.perceptual_distance((a + 1) / 2, (b + 1) / 2, value_range=(0, 1), backend="stlpips").values
    torch.testing.assert_close(gray, rgb)
    torch.testing.assert_close(gray, unit)
    assert (gray > 0.01).all()


def test_perceptual_matches_package_reference_call(small_pairs):
    """Our preprocessing + strict loading equals the package's documented call on [0, 1] input."""
    from stlpips_pytorch import stlpips

    u, v = (small_pairs + 1) / 2, (small_pairs.flip(0) + 1) / 2
    ref_net = stlpips.LPIPS(net="alex", variant="shift_tolerant", verbose=False)
    up = lambda t: torch.nn.functional.interpolate(t, size=(64, 64), mode="bilinear", align_corners=False)
    with torch.no_grad():
        want = ref_net(up(u), up(v), normalize=True).reshape(-1)
    got = M.perceptual_distance(u, v, value_range=(0, 1), backend="stlpips").values
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_perceptual_network_is_cached():
    M.perceptual_distance(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8), backend="stlpips")
    assert M._perceptual_network("stlpips", "cpu") is M._perceptual_network("stlpips", "cpu")


def test_lpips_backend_without_weights_names_missing_file(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert not M.lpips_available()
    expected = tmp_path / "checkpoints" / "alexnet-owt-7be5be79.pth"
    assert M.alexnet_checkpoint_path() == expected
    x = torch.zeros(1, 3, 8, 8)
    with pytest.raises(FileNotFoundError, match="alexnet-owt-7be5be79.pth") as err:
        M.perceptual_distance(x, x, backend="lpips")
    assert str(expected) in str(err.value)


def test_lpips_available_when_checkpoint_present(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "alexnet-owt-7be5be79.pth").write_bytes(b"")
    assert M.lpips_available()


def test_perceptual_bad_arguments_raise():
    x = torch.zeros(1, 3, 8, 8)
    with pytest.raises(ValueError, match="backend must be 'auto', 'lpips' or 'stlpips'"):
        M.perceptual_distance(x, x, backend="vgg")
    with pytest.raises(ValueError, match="a and b must have the same shape"):
        M.perceptual_distance(x, torch.zeros(1, 3, 8, 9))
    with pytest.raises(ValueError, match="b must have 1 \\(grayscale\\) or 3"):
        M.perceptual_distance(torch.zeros(1, 4, 8, 8)[:, :3], torch.zeros(1, 4, 8, 8))
    with pytest.raises(ValueError, match="value_range"):
        M.perceptual_distance(x, x, value_range=(0, 255))


# ------------------------------------------------------------------ percent improvement


def test_percent_improvement_formulas():
    # SSIM: RR 0.5, PN 0.1 -> (0.5 - 0.1) / 0.5 = 80 %
    assert M.percent_improvement(0.1, 0.5, higher_is_more_diverse=False) == pytest.approx(80.0)
    # LPIPS: RR 0.2, PN 0.25 -> (0.25 - 0.2) / 0.2 = 25 %
    assert M.percent_improvement(0.25, 0.2, higher_is_more_diverse=True) == pytest.approx(25.0)
    # PN less diverse than RR -> negative
    assert M.percent_improvement(0.6, 0.5, higher_is_more_diverse=False) == pytest.approx(-20.0)
    with pytest.raises(ValueError, match="rr"):
        M.percent_improvement(0.1, 0.0, higher_is_more_diverse=True)
    with pytest.raises(ValueError, match="pn"):
        M.percent_improvement(float("nan"), 0.5, higher_is_more_diverse=True)


# ------------------------------------------------------------------ reconstruction error (DPS)


def test_l1_error_and_psnr_by_hand():
    ref = torch.zeros(3, 4, 4)  # model space 0 -> 0.5 on the unit scale
    x = torch.stack([ref, ref + 0.2, ref - 0.2])  # unit-scale offsets 0, +0.1, -0.1
    l1 = M.l1_error(x, ref)
    torch.testing.assert_close(l1, torch.tensor([0.0, 0.1, 0.1]))
    p = M.psnr(x, ref)
    assert p.dtype == torch.float64 and p.shape == (3,)
    assert p[0] == math.inf  # identical images: scikit-image's inf
    # MSE 0.01 on the unit scale -> 10 log10(1 / 0.01) = 20 dB
    torch.testing.assert_close(p[1:], torch.tensor([20.0, 20.0], dtype=torch.float64))


def test_psnr_known_mse_and_value_ranges():
    gen = torch.Generator().manual_seed(0)
    ref = torch.rand(2, 1, 6, 6, generator=gen)  # data space [0, 1]
    x = ref.clone()
    x[0, 0, 0, 0] += 0.6  # one pixel of 36 off by 0.6 -> MSE 0.01 -> 20 dB
    x[1] += 0.05  # every pixel off by 0.05 -> MSE 0.0025 -> 26.02 dB
    p = M.psnr(x, ref, value_range=(0, 1))
    torch.testing.assert_close(p, torch.tensor([20.0, 10 * math.log10(1 / 0.0025)], dtype=torch.float64))
    # the same images in model space give the same numbers
    torch.testing.assert_close(M.psnr(_unit_to_model(x), _unit_to_model(ref)), p)
    torch.testing.assert_close(M.l1_error(x, ref, value_range=(0, 1)), torch.tensor([0.6 / 36, 0.05]))
    torch.testing.assert_close(M.l1_error(_unit_to_model(x), _unit_to_model(ref)), torch.tensor([0.6 / 36, 0.05]))


def test_reconstruction_metrics_bad_reference_raises():
    x = torch.zeros(2, 1, 4, 4)
    for fn in (M.l1_error, M.psnr):
        with pytest.raises(ValueError, match="reference must have shape"):
            fn(x, torch.zeros(1, 5, 4))
        with pytest.raises(ValueError, match="reference must have shape"):
            fn(x, torch.zeros(3, 1, 4, 4))
        with pytest.raises(ValueError, match="value_range"):
            fn(x, x, value_range=(0, 255))
