"""The shared sample cache (antinb.cache): prefixes, sharing between designs' users, equality with
uncached sampling, what is not cached, damaged chunks, and the usage counts the book reports."""

import pytest
import torch

from antinb import cache, noise, sampling
from antinb.estimation import estimate
from antinb.generate import THREAD_BATCH_TOLERANCE
from antinb.pairs import pair_samples
from antinb.store import SampleStore
from conftest import tiny_model


@pytest.fixture
def model():
    return tiny_model()


def _stores(root):
    return sorted(p.parent.name for p in root.glob("*/manifest.json"))


def test_cached_pairs_equal_uncached_ones_and_prefixes_are_read_not_sampled(model, tmp_path):
    plain = pair_samples(model, 40, "PN", steps=4, progress=False)
    with cache.use(tmp_path):
        before = cache.usage()
        first = pair_samples(model, 40, "PN", steps=4, progress=False)  # 80 rows: chunks 0 and 1 (128 rows)
        mid = cache.usage()
        again = pair_samples(model, 24, "PN", steps=4, progress=False)  # a prefix: chunk 0 only
        after = cache.usage()
    assert (first - plain).abs().max() < THREAD_BATCH_TOLERANCE
    assert torch.equal(again, first[:48])  # bit for bit: the prefix is the same chunk
    assert mid["rows_generated"] - before["rows_generated"] == 128  # two whole chunks of 64 rows
    assert mid["network_evaluations"] - before["network_evaluations"] == 128 * 4
    assert after["network_evaluations"] == mid["network_evaluations"]  # nothing sampled for the prefix
    assert after["rows_read"] - mid["rows_read"] == 64
    assert after["evaluations_saved"] - mid["evaluations_saved"] == 64 * 4
    assert len(_stores(tmp_path)) == 1


def test_rr_pairs_and_monte_carlo_images_share_their_rows(model, tmp_path):
    """RR pairs are rows of the independent design, as estimate(method='mc') draws them."""
    with cache.use(tmp_path):
        rr = pair_samples(model, 32, "RR", steps=3, progress=False)
        n0 = sampling.network_evaluations()
        run = estimate("brightness", model, 64, method="mc", steps=3, return_run=True, keep_images=True,
                       progress=False)
        assert sampling.network_evaluations() == n0
    assert torch.equal(run.images, rr)
    assert len(_stores(tmp_path)) == 1


def test_every_setting_that_changes_an_image_gets_its_own_store(model, tmp_path):
    with cache.use(tmp_path):
        base = pair_samples(model, 4, "PN", steps=3, progress=False)
        pair_samples(model, 4, "RR", steps=3, progress=False)           # design
        pair_samples(model, 4, "PN", steps=4, progress=False)           # steps
        pair_samples(model, 4, "PN", steps=3, seed=1, progress=False)   # seed
        pair_samples(model, 4, "PN", sampler="ddpm", steps=3, progress=False)  # sampler (and step noise)
        pair_samples(model, 4, "PN (z only)", sampler="ddpm", steps=3, progress=False)  # step-noise source
        other = tiny_model()
        with torch.no_grad():
            next(other.unet.parameters()).add_(1e-3)                    # weights
        changed = pair_samples(other, 4, "PN", steps=3, progress=False)
    assert len(_stores(tmp_path)) == 7
    assert not torch.equal(base, changed)


def test_ddpm_pairs_keep_mirrored_and_z_only_step_noise_apart(model, tmp_path):
    plain = {p: pair_samples(model, 8, p, sampler="ddpm", steps=5, progress=False) for p in ("PN", "PN (z only)")}
    with cache.use(tmp_path):
        cached = {p: pair_samples(model, 8, p, sampler="ddpm", steps=5, progress=False) for p in plain}
    for p in plain:
        assert (cached[p] - plain[p]).abs().max() < THREAD_BATCH_TOLERANCE, p
    assert (cached["PN"] - cached["PN (z only)"]).abs().max() > 0.1


def test_what_cannot_be_cached_is_sampled_as_usual(model, tmp_path):
    z = noise.antithetic(8, model.sample_shape, seed=0)
    with cache.use(tmp_path):
        n0 = sampling.network_evaluations()
        cache.sample(model, z.z, steps=2, progress=False)                                     # raw tensor
        cache.sample(model, noise.rqmc(8, model.sample_shape, 2, seed=0), steps=2, progress=False)  # rqmc
        cache.sample(model, z, steps=2, callback=lambda *a: None, progress=False)              # callback
        edited = noise.NoiseBatch(z.z.clone(), z.design, z.group_size, z.seed, z.start)
        edited.z[0, 0, 0, 0] += 1.0                                                            # not its design's draw
        cache.sample(model, edited, steps=2, progress=False)
        assert sampling.network_evaluations() - n0 == 4 * 8 * 2
    assert _stores(tmp_path) == []


def test_a_damaged_chunk_is_regenerated_not_read(model, tmp_path, caplog):
    with cache.use(tmp_path):
        good = pair_samples(model, 32, "PN", steps=3, progress=False)
        (folder,) = [p.parent for p in tmp_path.glob("*/manifest.json")]
        chunk = folder / "chunk-00000.pt"
        data = bytearray(chunk.read_bytes())
        data[-10] ^= 0xFF
        chunk.write_bytes(bytes(data))
        n0 = sampling.network_evaluations()
        again = pair_samples(model, 32, "PN", steps=3, progress=False)
        assert sampling.network_evaluations() - n0 == 64 * 3
    assert torch.equal(again, good)
    assert "SHA-256" in caplog.text


def test_a_window_that_starts_inside_a_chunk_is_cut_from_it(model, tmp_path):
    with cache.use(tmp_path):
        whole = cache.sample(model, noise.independent(100, model.sample_shape, seed=3), steps=2, progress=False)
        part = cache.sample(model, noise.independent(30, model.sample_shape, seed=3, start=50), steps=2,
                            progress=False)
    assert torch.equal(part, whole[50:80])


def test_usage_is_recorded_for_the_runner(monkeypatch, tmp_path):
    import json

    from antinb.records import RECORD_ENV

    path = tmp_path / "records.jsonl"
    monkeypatch.setenv(RECORD_ENV, str(path))
    value = cache.report_usage()
    line = json.loads(path.read_text().splitlines()[-1])
    assert line == {"name": cache.USAGE_RECORD, "value": value}
    assert set(value) == {"network_evaluations", "rows_read", "rows_generated", "evaluations_saved"}
