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


def test_a_chunk_another_process_wrote_meanwhile_is_read_and_counted_once(model, tmp_path, monkeypatch):
    """Chunk 0 is stored, but this process's first look misses it (another process was still writing
    it): inside the claim it is read, not sampled again, and counted once, as read; chunk 1 is
    generated."""
    with cache.use(tmp_path):
        expected = pair_samples(model, 40, "PN", steps=4, progress=False)  # 80 rows: chunks 0 and 1
    store = SampleStore.open(next(p.parent for p in tmp_path.glob("*/manifest.json")))
    store.chunk_path(1).unlink()
    real_get, looked = SampleStore.get, []

    def get(self, c):  # the first look at chunk 0 misses
        looked.append(c)
        return None if looked.count(0) == 1 and c == 0 else real_get(self, c)

    monkeypatch.setattr(SampleStore, "get", get)
    with cache.use(tmp_path):
        before = cache.usage()
        again = pair_samples(model, 40, "PN", steps=4, progress=False)
        after = cache.usage()
    assert looked.count(0) == 2  # the look, then the look inside the claim
    assert torch.equal(again, expected)
    assert after["rows_read"] - before["rows_read"] == 64
    assert after["evaluations_saved"] - before["evaluations_saved"] == 64 * 4
    assert after["rows_generated"] - before["rows_generated"] == 64
    assert after["network_evaluations"] - before["network_evaluations"] == 64 * 4


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


def test_what_the_chunks_cannot_serve_is_memoised_by_value(model, tmp_path):
    z = noise.antithetic(8, model.sample_shape, seed=0)
    edited = noise.NoiseBatch(z.z.clone(), z.design, z.group_size, z.seed, z.start)
    edited.z[0, 0, 0, 0] += 1.0                                                                # not its design's draw
    labels = torch.arange(8) % 2
    cond = tiny_model(num_classes=2)
    requests = [(model, z.z, {}),                                                              # raw tensor
                (model, noise.rqmc(8, model.sample_shape, 2, seed=0), {}),                     # rqmc
                (model, edited, {}),
                (cond, z, {"labels": labels, "guidance_scale": 2.0})]                          # per-row labels
    with cache.use(tmp_path):
        n0 = sampling.network_evaluations()
        first = [cache.sample(m, x, steps=2, progress=False, **kw) for m, x, kw in requests]
        n1 = sampling.network_evaluations()
        again = [cache.sample(m, x, steps=2, progress=False, **kw) for m, x, kw in requests]
        assert sampling.network_evaluations() == n1  # every one read back
        u = cache.usage()
        cache.sample(model, z, steps=2, callback=lambda *a: None, progress=False)              # a callback: never
        cache.sample(model, z, steps=2, callback=lambda *a: None, progress=False)
        assert sampling.network_evaluations() - n1 == 2 * 8 * 2 and cache.usage()["memo_hits"] == u["memo_hits"]
    assert n1 - n0 == 3 * 8 * 2 + 2 * 8 * 2
    for a, b in zip(first, again):
        assert torch.equal(a, b)
    assert not torch.equal(first[2], cache.sample(model, z, steps=2, progress=False))  # the edit is seen
    assert _stores(tmp_path) == []  # none of them went to a chunk store


def test_memo_keys_by_value_and_code_and_skips_functions(tmp_path, monkeypatch):
    calls = []

    @cache.memo()
    def f(x, scale=1.0, progress=True):
        calls.append(1)
        return {"y": x * (scale(1.0) if callable(scale) else scale), "a": np.arange(3), "t": (1, "b")}

    import numpy as np

    x = torch.arange(4.0)
    with cache.use(tmp_path):
        r1 = f(x)
        r2 = f(x.clone(), progress=False)      # same value, ignored argument
        f(x, scale=2.0)                        # another value
        f(x + 1)                               # other bytes
        f(x, scale=lambda v: v)                # a function: computed, not cached
        f(x, scale=lambda v: v)
    assert sorted(p.suffix for p in (tmp_path / "memo").iterdir()) == [".json"] * 3 + [".pt"] * 3
    assert len(calls) == 5
    assert torch.equal(r2["y"], r1["y"]) and isinstance(r2["a"], np.ndarray) and r2["t"] == (1, "b")
    monkeypatch.setattr(cache, "module_hash", lambda path: "changed")
    with cache.use(tmp_path):
        f(x)
    assert len(calls) == 6                     # new code: recomputed
    f(x)                                       # no cache folder: always computed
    assert len(calls) == 7


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
    assert set(value) == {"network_evaluations", "rows_read", "rows_generated", "memo_hits", "memo_misses",
                          "evaluations_saved"}


def test_dps_trajectories_and_symmetry_slices_are_read_back_on_a_second_call(model, tmp_path):
    """What the chunks cannot hold (DPS, per-step trajectory statistics, network slices) is memoised: a
    repeated chapter reads it; other arguments or no cache folder compute it."""
    import numpy as np

    from antinb import dps
    from antinb.findings import symmetry, trajectory

    op = dps.make_operator("box", model.sample_shape, size=4)
    x = torch.zeros(4, *model.sample_shape)
    y = dps.measure(x, op, sigma=0.05, seed=0)
    z = noise.antithetic(4, model.sample_shape, seed=0)
    calls = {
        "dps": lambda s: dps.dps(model, z, op, y, steps=s, progress=False),
        "trajectory": lambda s: trajectory.trajectory_correlations(model, 2, steps=s, progress=False),
        "slices": lambda s: symmetry.eps_slices(model, [500, 100], n_x=2, n_coords=3, n_s=5, seed=s),
        "residual": lambda s: symmetry.symmetry_residual(model, [500], n=4, seed=s),
    }
    with cache.use(tmp_path):
        for name, call in calls.items():
            first = call(3)
            n0 = sampling.network_evaluations()
            again = call(3)
            assert sampling.network_evaluations() == n0, name
            call(2)
            assert sampling.network_evaluations() > n0, name  # another argument: computed
            if isinstance(first, dict):
                for k, v in first.items():
                    assert np.array_equal(np.asarray(v), np.asarray(again[k])), (name, k)
            else:
                assert torch.equal(first, again), name
    n0 = sampling.network_evaluations()
    calls["dps"](3)
    assert sampling.network_evaluations() > n0  # no cache folder
