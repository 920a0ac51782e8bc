"""Sharded, resumable generation: chunk-invariant noise, 1 vs 2 accelerate processes bit for bit,
a killed run resumed, damaged chunks regenerated, configurations kept apart, spec errors.

The model is a tiny seeded UNet saved as a diffusers folder, so that worker processes can load it.
Subprocess launches are slow (each imports torch and diffusers), so there are only two: one
``accelerate launch`` with 2 processes and one worker that is killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import antinb
from antinb import cli
from antinb import noise as nz
from antinb.generate import GenerationSpec, chunk_noise, generate, launch_command, prepare, weights_fingerprint
from antinb.store import SampleStore, StoreMismatchError

ROOT = Path(__file__).resolve().parents[1]


def _counting(model) -> list[int]:
    calls: list[int] = []
    model.unet.register_forward_pre_hook(lambda module, args: calls.append(1))
    return calls


def _equal(a: dict, b: dict) -> bool:
    return sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- noise


@pytest.mark.parametrize("design, extra, n, chunk_groups", [
    ("independent", {}, 10, 3), ("antithetic", {}, 12, 4), ("simplex", {"k": 3}, 15, 2),
    ("rqmc", {"replicates": 5}, 20, 2), ("rqmc", {"replicates": 3}, 24, 1)])
def test_chunk_noise_equals_one_full_draw(tmp_path, model_dir, design, extra, n, chunk_groups):
    shape = (1, 8, 8)
    spec = GenerationSpec(model=str(model_dir), design=design, n=n, seed=3, statistics=("brightness",),
                          chunk_groups=chunk_groups, **extra)
    store = prepare(spec, tmp_path, fingerprint="test")
    full = nz.make(design, n, shape, seed=3, **extra)
    chunks = [chunk_noise(spec, store, c, shape) for c in range(store.n_chunks)]
    assert store.n_chunks == -(-full.n_groups // chunk_groups) > 1
    assert torch.equal(torch.cat([b.z for b in chunks]), full.z)
    assert torch.equal(torch.cat([b.groups for b in chunks]), full.groups)
    assert all(b.group_size == full.group_size for b in chunks)
    # per-step noise (eta > 0, DDPM) depends only on (seed, group, step): the same by chunks
    for step in (0, 7):
        whole = nz.StepNoise(full)(step)
        assert torch.equal(torch.cat([nz.StepNoise(b)(step) for b in chunks]), whole)
    if design == "antithetic":
        assert torch.equal(chunks[0].z[1], -chunks[0].z[0])


def test_ddpm_result_does_not_depend_on_chunking(tmp_path, model_dir, loaded):
    kw = dict(model=str(model_dir), design="antithetic", n=8, sampler="ddpm", steps=4, statistics=("brightness",),
              keep_images=True)
    small = generate(GenerationSpec(**kw, chunk_groups=1), tmp_path, model=loaded, progress=False)
    big = generate(GenerationSpec(**kw, chunk_groups=4), tmp_path, model=loaded, progress=False)
    assert len(list(tmp_path.iterdir())) == 2  # two layouts, two stores
    # same noise and step noise; only the forward-pass batch differs (float rounding)
    torch.testing.assert_close(small["images"], big["images"], atol=1e-5, rtol=0)
    torch.testing.assert_close(small["brightness"], big["brightness"], atol=1e-6, rtol=0)
    # and it is the same as sampling the full draw in one call
    z = nz.antithetic(8, (1, 8, 8))
    direct = antinb.sample(loaded, z, sampler="ddpm", steps=4, progress=False)
    torch.testing.assert_close(big["images"], direct, atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- processes


def test_two_accelerate_processes_equal_one_bit_for_bit(tmp_path, model_dir, loaded, one_thread):
    spec = GenerationSpec(model=str(model_dir), design="simplex", k=3, n=18, sampler="ddpm", steps=3, labels=1,
                          statistics=("brightness", "contrast", "centroid_x"), keep_images=True, chunk_groups=1)
    one = generate(spec, tmp_path / "one", progress=False)  # loads spec.model in this process
    two = generate(spec, tmp_path / "two", processes=2, threads=1, progress=False)
    assert _equal(one, two)
    assert two["brightness"].shape == (18,) and two["brightness"].dtype == torch.float64
    assert two["images"].shape == (18, 1, 8, 8)
    store = prepare(spec, tmp_path / "two", fingerprint=weights_fingerprint(loaded), device_type="cpu",
                    model_dtype="float32")
    owners = [store.info(c) for c in range(store.n_chunks)]
    # both workers wrote their chunks
    assert [{k: o[k] for k in ("process", "processes")} for o in owners] == \
        [{"process": c % 2, "processes": 2} for c in range(6)]
    assert len({o["pid"] for o in owners}) == 2
    # a finished store is not launched again: the same call returns at once from the chunks
    start = time.monotonic()
    assert _equal(generate(spec, tmp_path / "two", processes=2, progress=False), one)
    assert time.monotonic() - start < 3


def test_launch_command_uses_accelerate_on_cpu(tmp_path):
    cmd = launch_command(tmp_path, 2, threads=1, port=29999)
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"]
    assert cmd[cmd.index("--num_processes") + 1] == "2" and "--multi_gpu" in cmd and "--cpu" not in cmd
    assert cmd[cmd.index("-m", 3):][:3] == ["-m", "antinb.generate", str(tmp_path)]


def test_killed_run_resumes_with_only_the_unfinished_work(tmp_path, model_dir, loaded, one_thread):
    steps = 10
    spec = GenerationSpec(model=str(model_dir), design="antithetic", n=48, steps=steps, statistics=("brightness",),
                          chunk_groups=1)
    store = prepare(spec, tmp_path / "store")
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "antinb.generate", str(store.folder), "--threads", "1",
                             "--device", "cpu", "--no-progress"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(store.folder.glob("chunk-*.json"))) < 3:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "the worker wrote no chunks in 120 s"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    pending = store.pending()
    assert 0 < len(pending) < store.n_chunks - 2, "the kill must interrupt the run"
    calls = _counting(loaded)
    resumed = generate(spec, tmp_path / "store", model=loaded, progress=False)
    # one forward pass per step per unfinished chunk (2 rows fit one batch); the finished chunks are reused
    assert len(calls) == len(pending) * steps * 1
    uninterrupted = generate(spec, tmp_path / "fresh", model=loaded, progress=False)
    assert _equal(resumed, uninterrupted)


def test_damaged_chunks_are_regenerated(tmp_path, model_dir, loaded):
    steps = 3
    spec = GenerationSpec(model=str(model_dir), design="rqmc", replicates=4, n=16, steps=steps,
                          statistics=("brightness",), keep_images=True, chunk_groups=1)
    first = generate(spec, tmp_path, model=loaded, progress=False)
    store = prepare(spec, tmp_path)
    data = store.chunk_path(1).read_bytes()
    store.chunk_path(1).write_bytes(data[: len(data) // 3])  # truncated
    data = store.chunk_path(3).read_bytes()
    store.chunk_path(3).write_bytes(data[:-200] + bytes([data[-200] ^ 0x01]) + data[-199:])  # one bit flipped
    assert store.pending() == [1, 3]
    calls = _counting(loaded)
    again = generate(spec, tmp_path, model=loaded, progress=False)
    assert len(calls) == 2 * steps  # two chunks of 4 rows, one forward pass per step each
    assert _equal(again, first) and store.pending() == []


def test_different_configs_never_mix(tmp_path, model_dir, loaded):
    kw = dict(model=str(model_dir), design="antithetic", n=8, steps=2, statistics=("brightness",))
    a = generate(GenerationSpec(**kw, seed=0), tmp_path, model=loaded, progress=False)
    b = generate(GenerationSpec(**kw, seed=1), tmp_path, model=loaded, progress=False)
    c = generate(GenerationSpec(**kw, seed=0, labels=2), tmp_path, model=loaded, progress=False)
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert len(folders) == 3
    assert not torch.equal(a["brightness"], b["brightness"]) and not torch.equal(a["brightness"], c["brightness"])
    # the model's weights are part of the configuration
    spec = GenerationSpec(**kw)
    assert spec.config()["model_fingerprint"] == spec.config()["model_fingerprint"]
    assert spec.config("other")["model_fingerprint"] == "other"
    assert prepare(spec, tmp_path, fingerprint="other").folder.name not in folders
    # a manifest that does not match its folder's config is refused
    store = prepare(GenerationSpec(**kw, seed=0), tmp_path)
    m = json.loads((store.folder / "manifest.json").read_text())
    m["config"]["steps"] = 50
    (store.folder / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(StoreMismatchError):
        generate(GenerationSpec(**kw, seed=0), tmp_path, model=loaded, progress=False)
    with pytest.raises(StoreMismatchError):
        SampleStore.open(store.folder)


# ----------------------------------------------------------------------------- estimate and errors


def test_estimate_with_store(tmp_path, model_dir, loaded):
    kw = dict(method="amc", steps=2, progress=False, return_run=True, keep_images=True)
    run = antinb.estimate("brightness", str(model_dir), 16, store=tmp_path, **kw)
    assert run.values.shape == (16,) and run.images.shape == (16, 1, 8, 8)
    assert run.estimate.n_units == 8 and run.estimate.estimate == pytest.approx(float(run.values.mean()))
    plain = antinb.estimate("brightness", loaded, 16, **kw)  # no store: sampled in one call, as before
    torch.testing.assert_close(run.values, plain.values, atol=1e-6, rtol=0)
    calls = _counting(loaded)
    assert loaded.source == str(model_dir.resolve())  # load() records how workers reload it
    again = antinb.estimate("brightness", loaded, 16, store=tmp_path, **kw)
    assert calls == [] and torch.equal(again.values, run.values)  # everything came from the store
    source, loaded.source, loaded.name = loaded.source, None, "built-in-memory"
    try:
        with pytest.raises(ValueError, match="cannot tell how to load"):  # a model no process can reload
            antinb.estimate("brightness", loaded, 16, store=tmp_path, **kw)
    finally:
        loaded.source, loaded.name = source, model_dir.name


def test_bad_specs_fail_before_sampling(tmp_path, model_dir, loaded, monkeypatch):
    base = dict(model=str(model_dir), design="antithetic", n=8, statistics=("brightness",))
    bad = [({"statistics": ("sharpness",)}, "statistic 'sharpness' is unknown"),
           ({"design": "sobol"}, "design='sobol' is unknown"),
           ({"n": 7}, "n=7 must be a multiple of the group size 2"),
           ({"design": "simplex", "k": 3}, "n=8 must be a multiple of the group size 3"),
           ({"design": "rqmc", "replicates": 3}, "n=8 must be a multiple of replicates=3"),
           ({"k": 3}, "k=3 is not a parameter"),
           ({"statistics": (), "keep_images": False}, "nothing to keep"),
           ({"statistics": ("brightness", "brightness")}, "twice"),
           ({"sampler": "euler"}, "sampler='euler'"),
           ({"sampler": "ddpm", "eta": 0.5}, "conflicts"),
           ({"guidance_scale": 3.0}, "guidance_scale needs labels"),
           ({"steps": 0}, "steps=0"),
           ({"chunk_groups": 0}, "chunk_groups=0"),
           ({"seed": -1}, "seed=-1")]
    for change, match in bad:
        with pytest.raises(ValueError, match=match):
            GenerationSpec(**{**base, **change})
    assert not any(tmp_path.iterdir())
    spec = GenerationSpec(**base)
    with pytest.raises(ValueError, match="processes=0"):
        generate(spec, tmp_path, processes=0, model=loaded)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match="needs one GPU each, but 1 are visible"):
        generate(spec, tmp_path, processes=2)
    monkeypatch.undo()
    assert not any(tmp_path.iterdir())
    with pytest.raises(ValueError, match="named statistic"):
        antinb.estimate(lambda x: x.mean(dim=(1, 2, 3)), loaded, 8, store=tmp_path)
    with pytest.raises(ValueError, match="labels must be an int"):
        antinb.estimate("brightness", str(model_dir), 8, store=tmp_path, labels=[0] * 8)
    with pytest.raises(ValueError, match="processes="):
        antinb.estimate("brightness", loaded, 8, processes=0)
    with pytest.raises(ValueError, match="not an embedded model name"):
        GenerationSpec(**{**base, "model": "no/such/model"}).config()
    # method names are accepted for designs; defaults of k and replicates as in antinb.estimate
    assert GenerationSpec(**{**base, "design": "kamc"}).k == 4
    assert GenerationSpec(**{**base, "design": "rqmc", "n": 32}).replicates == 16


def test_cli_generate_prints_a_summary(tmp_path, model_dir, capsys):
    argv = ["generate", "--model", str(model_dir), "--design", "antithetic", "--n", "8", "--steps", "2",
            "--statistics", "brightness", "contrast", "--store", str(tmp_path), "--no-progress", "--device", "cpu"]
    assert cli.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["chunks"] == 1 and out["n"] == 8 and Path(out["store"]).parent == tmp_path
    est = out["statistics"]["brightness"]
    assert est["method"] == "AMC" and est["n_units"] == 4 and est["ci_low"] < est["estimate"] < est["ci_high"]
    assert cli.main(argv[:6] + ["7"] + argv[7:]) == 2
    assert "multiple of the group size" in capsys.readouterr().err


def test_run_processes_needs_the_parameter(monkeypatch, capsys):
    from antinb.book import runner

    seen = {}
    monkeypatch.setattr(runner, "run_cli", lambda notebook, **kw: seen.update(kw, notebook=notebook) or 0)
    assert cli.main(["run", "01", "--processes", "2"]) == 2
    err = capsys.readouterr().err
    assert "'processes' parameter" in err and "01_correlation" in err and "05_uncertainty" in err
    assert seen == {}
    assert cli.main(["run", "05", "--processes", "3", "-p", "seed", "1"]) == 0
    assert seen["notebook"] == "05" and seen["overrides"] == [["seed", "1"], ["processes", "3"]]
    assert "processes" in runner.notebook_parameters(runner.resolve("05"))
    assert runner.notebook_parameters(runner.resolve("05"))["store_dir"] == ""
