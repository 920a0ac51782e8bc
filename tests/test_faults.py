"""Fault injection (issue 18): hostile or unlucky inputs must give a clear error or the right result.

1. a crafted ``checkpoint.pt`` is refused and runs nothing;
2. chunks copied from another store, or swapped within one, are never read as data;
3. the store key follows the weights in memory (and their dtype); thread count and batch size
   change results only within ``THREAD_BATCH_TOLERANCE``;
4. two and three concurrent writers on one store end with one correct store, each chunk computed once;
5. workers stop when the process that launched them is killed;
7. bit-for-bit equality holds at equal thread count and batch size;
plus the bad-input table, through the Python API and the command line (one line, exit 2).

Subprocesses are single-threaded (``OMP_NUM_THREADS=1``) and the model is a tiny UNet.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from conftest import tiny_unet

import antinb
from antinb import cli, models, training
from antinb.generate import (PARENT_ENV, THREAD_BATCH_TOLERANCE, GenerationSpec, generate, prepare,
                             weights_fingerprint)
from antinb.store import SampleStore, StoreMismatchError

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _equal(a: dict, b: dict) -> bool:
    return sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- 1. no code from checkpoints


class _Evil:
    """Unpickling this calls ``open(marker, "w")``: it creates the marker file (code execution)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _malicious_checkpoint(folder: Path, marker: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "checkpoint.pt"
    torch.save({"config": {}, "unet": {}, "ema": {}, "opt": {}, "gen": _Evil(marker), "state": {}}, path)
    return path


def test_the_crafted_checkpoint_would_run_code(tmp_path):
    """The test's weapon is real: a permissive load (the old code) creates the marker."""
    marker = tmp_path / "pwned-by-permissive-load"
    path = _malicious_checkpoint(tmp_path / "probe", marker)
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_malicious_checkpoint_is_refused_by_resume_export_and_cli(tmp_path, capsys):
    marker = tmp_path / "pwned"
    out = tmp_path / "run"
    _malicious_checkpoint(out, marker)
    cfg = training.TrainConfig(dataset="mnist", architecture="tiny", steps=1, batch_size=2, threads=1)
    with pytest.raises(training.CheckpointError, match=r"checkpoint\.pt is not a data-only training checkpoint"):
        training.train(cfg, out, progress=False)
    assert not marker.exists()
    with pytest.raises(training.CheckpointError, match=r"checkpoint\.pt"):
        training.export_checkpoint(out)
    assert not marker.exists()
    with pytest.raises(training.CheckpointError):
        training.load_checkpoint(out / "checkpoint.pt")
    assert not marker.exists()
    argv = ["train", "--dataset", "mnist", "--out", str(out), "--architecture", "tiny", "--steps", "1",
            "--batch-size", "2", "--threads", "1"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "checkpoint.pt" in err and "Traceback" not in err
    assert not marker.exists()
    # a data-only file that is not a checkpoint: refused with a message, not a KeyError
    torch.save({"weights": torch.zeros(2)}, out / "checkpoint.pt")
    with pytest.raises(training.CheckpointError, match="expected keys"):
        training.load_checkpoint(out / "checkpoint.pt")


# ----------------------------------------------------------------------------- 2. foreign and swapped chunks


def _layout(root, seed: int) -> SampleStore:
    return SampleStore(root, {"name": "run", "seed": seed}, n_groups=4, chunk_groups=1, group_size=2, keys=["v"])


def _rows(store: SampleStore, c: int, seed: int) -> dict[str, torch.Tensor]:
    return {"v": torch.full((store.rows(c),), 100.0 * seed + c, dtype=torch.float64)}


def _copy_chunk(src: SampleStore, c_src: int, dst: SampleStore, c_dst: int) -> None:
    shutil.copyfile(src.chunk_path(c_src), dst.chunk_path(c_dst))
    shutil.copyfile(src.sidecar_path(c_src), dst.sidecar_path(c_dst))


def test_chunk_of_another_run_is_not_read(tmp_path, caplog):
    a, b = _layout(tmp_path, 0), _layout(tmp_path, 1)
    for s, seed in ((a, 0), (b, 1)):
        for c in range(4):
            s.write(c, _rows(s, c, seed))
    _copy_chunk(b, 1, a, 1)  # chunk-00001 of the seed=1 store, with its own valid sidecar
    with caplog.at_level(logging.WARNING, logger="antinb.store"):
        assert a.pending() == [1]
    assert "chunk-00001.json belongs to store" in caplog.text and b.key in caplog.text
    with pytest.raises(FileNotFoundError, match=r"chunk-00001\.json belongs to store"):
        a.read(1)
    with pytest.raises(FileNotFoundError, match=r"\[1\]"):
        a.gather()
    assert a.write(1, _rows(a, 1, 0))  # the next run regenerates it
    assert torch.equal(a.gather()["v"], torch.tensor([0.0, 0, 1, 1, 2, 2, 3, 3], dtype=torch.float64))


def test_swapped_chunks_are_not_read(tmp_path, caplog):
    a = _layout(tmp_path, 0)
    for c in range(4):
        a.write(c, _rows(a, c, 0))
    tmp = tmp_path / "t"
    tmp.mkdir()
    for suffix in ("pt", "json"):  # swap chunk 0 and chunk 1, each with its sidecar
        p0, p1 = a.folder / f"chunk-00000.{suffix}", a.folder / f"chunk-00001.{suffix}"
        p0.rename(tmp / "x")
        p1.rename(p0)
        (tmp / "x").rename(p1)
    with caplog.at_level(logging.WARNING, logger="antinb.store"):
        assert a.pending() == [0, 1]
    assert "describes chunk 1 (groups [1, 2]), not chunk 0" in caplog.text
    with pytest.raises(FileNotFoundError, match="moved or swapped"):
        a.read(0)
    # swapping only the chunk files is caught by the hash in the sidecar
    b = _layout(tmp_path / "b", 0)
    for c in range(4):
        b.write(c, _rows(b, c, 0))
    d0, d1 = b.chunk_path(2).read_bytes(), b.chunk_path(3).read_bytes()
    b.chunk_path(2).write_bytes(d1)
    b.chunk_path(3).write_bytes(d0)
    assert b.pending() == [2, 3]


def test_generate_regenerates_foreign_and_swapped_chunks(tmp_path, model_dir, loaded):
    kw = dict(model=str(model_dir), design="antithetic", n=8, steps=2, statistics=("brightness",), chunk_groups=1)
    s0 = GenerationSpec(**kw, seed=0)
    first, st0 = generate(s0, tmp_path, model=loaded, progress=False, return_store=True)
    _, st1 = generate(GenerationSpec(**kw, seed=1), tmp_path, model=loaded, progress=False, return_store=True)
    _copy_chunk(st1, 1, st0, 1)
    _copy_chunk(st0, 2, st0, 3)  # chunk 2 (with its sidecar) also copied over chunk 3
    assert st0.pending() == [1, 3]
    again = generate(s0, tmp_path, model=loaded, progress=False)
    assert _equal(again, first) and st0.pending() == []


def test_a_done_chunk_is_never_replaced(tmp_path):
    a = _layout(tmp_path, 0)
    assert a.write(0, _rows(a, 0, 0)) is True
    before = a.chunk_path(0).read_bytes(), a.sidecar_path(0).read_text()
    assert a.write(0, _rows(a, 0, 5)) is False  # a second writer arriving late changes nothing
    assert (a.chunk_path(0).read_bytes(), a.sidecar_path(0).read_text()) == before
    assert torch.equal(a.read(0)["v"], _rows(a, 0, 0)["v"])


def test_store_files_follow_the_umask_and_dead_writers_tmp_files_are_removed(tmp_path):
    old = os.umask(0o002)
    try:
        a = _layout(tmp_path, 0)
        a.write(0, _rows(a, 0, 0))
    finally:
        os.umask(old)
    for p in (a.folder / "manifest.json", a.chunk_path(0), a.sidecar_path(0)):
        assert p.stat().st_mode & 0o777 == 0o664, p
    # a killed writer's temporary file (a PID that no longer runs), an old-style one, and a live one
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    from antinb.store import _HOST
    leftover = a.folder / f".chunk-00001.pt.{_HOST}.{dead.pid}.ab12cd34.tmp"
    live = a.folder / f".chunk-00002.pt.{_HOST}.{os.getpid()}.ab12cd34.tmp"
    ancient = a.folder / ".chunk-00003.pt.x8k2j1.tmp"
    for p in (leftover, live, ancient):
        p.write_bytes(b"partial")
    os.utime(ancient, (time.time() - 2 * 86400,) * 2)
    _layout(tmp_path, 0)  # the next run opens the store
    assert not leftover.exists() and not ancient.exists() and live.exists()


def test_corrupt_manifest_names_the_file(tmp_path):
    a = _layout(tmp_path, 0)
    (a.folder / "manifest.json").write_text('{"format": 1, "key"')
    with pytest.raises(StoreMismatchError, match=r"manifest\.json is corrupt"):
        _layout(tmp_path, 0)
    with pytest.raises(StoreMismatchError, match=r"manifest\.json is corrupt"):
        SampleStore.open(a.folder)


# ----------------------------------------------------------------------------- 3 and 7. the key, tolerances


def test_store_key_follows_the_weights_in_memory_and_dtype(tmp_path, model_dir, loaded):
    kw = dict(method="amc", steps=2, progress=False, return_run=True)
    first = antinb.estimate("brightness", loaded, 8, store=tmp_path, **kw)
    with torch.no_grad():
        for p in loaded.unet.parameters():
            p.mul_(1.5)  # changed in memory; the files on disk are unchanged
    changed = antinb.estimate("brightness", loaded, 8, store=tmp_path, **kw)
    plain = antinb.estimate("brightness", loaded, 8, **kw)  # no store: sampled from the changed weights
    assert not torch.allclose(changed.values, first.values, atol=1e-4)
    torch.testing.assert_close(changed.values, plain.values, atol=1e-6, rtol=0)
    assert len(list(tmp_path.iterdir())) == 2
    # float16 weights are other weights; a reload of the same files is the same weights
    half = models.load(model_dir, device="cpu", dtype=torch.float16)
    fresh = models.load(model_dir, device="cpu")
    assert weights_fingerprint(half) != weights_fingerprint(fresh) != weights_fingerprint(loaded)
    assert weights_fingerprint(models.load(model_dir, device="cpu")) == weights_fingerprint(fresh)
    spec = GenerationSpec(model=str(model_dir), design="antithetic", n=4, steps=2, statistics=("brightness",))
    s16 = prepare(spec, tmp_path, fingerprint=weights_fingerprint(half), model_dtype="float16")
    s32 = prepare(spec, tmp_path, fingerprint=weights_fingerprint(fresh), model_dtype="float32")
    assert s16.folder != s32.folder and s16.config["model_dtype"] == "float16"
    # the device type is part of the key (GPU kernels round differently, e.g. TF32 convolutions)
    gpu = prepare(spec, tmp_path, fingerprint=weights_fingerprint(fresh), model_dtype="float32", device_type="cuda")
    assert gpu.folder != s32.folder and s32.config["device_type"] == "cpu"
    with pytest.raises(ValueError, match="dtype='float16' but the model given holds float32"):
        generate(dataclasses.replace(spec, dtype="float16"), tmp_path, model=fresh, progress=False)


def test_a_worker_refuses_weights_that_changed_on_disk(tmp_path, model_dir):
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    spec = GenerationSpec(model=str(folder), design="antithetic", n=4, steps=2, statistics=("brightness",),
                          chunk_groups=1)
    store = prepare(spec, tmp_path / "stores")  # keyed by the weights now in the folder
    tiny_unet(channels=1, size=8, num_classes=3, seed=1).save_pretrained(folder / "unet")  # files replaced
    from antinb.generate import _main
    with pytest.raises(RuntimeError, match="are not those the store"):
        _main([str(store.folder), "--device", "cpu", "--no-progress", "--threads", "1"])
    assert store.pending() == [0, 1]
    assert prepare(spec, tmp_path / "stores").folder != store.folder  # the new weights get a new store


def test_threads_and_batch_size_change_results_only_within_the_tolerance(tmp_path, model_dir, loaded):
    spec = GenerationSpec(model=str(model_dir), design="antithetic", n=16, sampler="ddpm", steps=4,
                          statistics=("brightness", "contrast"), keep_images=True, chunk_groups=8)
    old = torch.get_num_threads()
    try:
        runs = {(t, b): generate(spec, tmp_path / f"{t}-{b}", model=loaded, threads=t, max_batch_size=b,
                                 progress=False) for t, b in ((1, 256), (2, 256), (1, 2))}
        again = generate(spec, tmp_path / "again", model=loaded, threads=1, max_batch_size=256, progress=False)
    finally:
        torch.set_num_threads(old)
    ref = runs[(1, 256)]
    assert _equal(again, ref)  # equal thread count and batch size: bit for bit
    for key, out in runs.items():
        for name in ref:
            diff = float((out[name].double() - ref[name].double()).abs().max())
            assert diff <= THREAD_BATCH_TOLERANCE, (key, name, diff)


# ----------------------------------------------------------------------------- 4. concurrent writers

WRITER = textwrap.dedent("""
    import sys, time, os
    from pathlib import Path
    import torch
    import antinb.generate as g

    model, root, out, go = sys.argv[1:5]
    count = [0]
    original = g._generate_chunk
    def counted(*a, **k):
        count[0] += 1
        return original(*a, **k)
    g._generate_chunk = counted
    spec = g.GenerationSpec(model=model, design="antithetic", n=24, steps=6, statistics=("brightness",),
                            keep_images=True, chunk_groups=1)
    deadline = time.monotonic() + 120
    while not Path(go).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    result = g.generate(spec, root, device="cpu", threads=1, progress=False)
    torch.save({"result": result, "generated": count[0]}, out)
""")


@pytest.mark.parametrize("writers", [2, 3])
def test_concurrent_writers_end_with_one_correct_store(tmp_path, model_dir, loaded, one_thread, writers):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, str(script), str(model_dir), str(tmp_path / "shared"),
                               str(tmp_path / f"out{i}.pt"), str(go)], env=ENV, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for i in range(writers)]
    time.sleep(1.0)
    go.touch()
    errors = [p.communicate(timeout=300)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * writers, "\n".join(e[-2000:] for e in errors)
    outs = [torch.load(tmp_path / f"out{i}.pt", weights_only=True) for i in range(writers)]
    spec = GenerationSpec(model=str(model_dir), design="antithetic", n=24, steps=6, statistics=("brightness",),
                          keep_images=True, chunk_groups=1)
    single = generate(spec, tmp_path / "single", model=loaded, progress=False)
    assert all(_equal(o["result"], single) for o in outs)
    # every chunk was computed exactly once over all writers; the store is complete and has one folder
    assert sum(o["generated"] for o in outs) == spec.n_groups
    assert len(list((tmp_path / "shared").iterdir())) == 1
    store = SampleStore.open(next((tmp_path / "shared").iterdir()))
    assert store.pending() == [] and not list(store.folder.glob(".*"))  # no claims or temporary files left


# ----------------------------------------------------------------------------- 5. orphaned workers


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(d.name))
    return tree


def _descendants(pid: int) -> set[int]:
    tree, out, todo = _children(), set(), [pid]
    while todo:
        for c in tree.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _kill_parent_and_wait(parent: subprocess.Popen, workers: set[int], limit: float) -> float:
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    start = time.monotonic()
    try:
        while any(_alive(p) for p in workers):
            if time.monotonic() - start > limit:
                raise AssertionError(f"workers {sorted(p for p in workers if _alive(p))} still run "
                                     f"{limit:.0f} s after their parent was killed")
            time.sleep(0.1)
    finally:
        for p in workers:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
    return time.monotonic() - start


def test_a_worker_stops_when_its_launcher_is_killed(tmp_path, model_dir):
    spec = GenerationSpec(model=str(model_dir), design="antithetic", n=400, steps=50, statistics=("brightness",),
                          chunk_groups=1)
    store = prepare(spec, tmp_path)
    launcher = textwrap.dedent(f"""
        import os, subprocess, sys
        env = {{**os.environ, {PARENT_ENV!r}: str(os.getpid())}}
        subprocess.run([sys.executable, "-m", "antinb.generate", {str(store.folder)!r}, "--threads", "1",
                        "--device", "cpu", "--no-progress"], env=env)
    """)
    parent = subprocess.Popen([sys.executable, "-c", launcher], env=ENV)
    deadline = time.monotonic() + 120
    while not list(store.folder.glob("chunk-*.json")):
        assert time.monotonic() < deadline and parent.poll() is None, "the worker wrote nothing"
        time.sleep(0.05)
    workers = _descendants(parent.pid)
    assert workers
    took = _kill_parent_and_wait(parent, workers, limit=10)
    assert took < 10
    done = len(store.done())
    time.sleep(1.0)
    assert len(store.done()) == done < store.n_chunks  # nothing is written any more
    # the dead worker's claims died with it: every chunk can be claimed again, and the next
    # opening of the store removes its leftover lock and temporary files
    for c in range(store.n_chunks):
        with store.claim(c, wait=False) as held:
            assert held
    SampleStore.open(store.folder)
    assert not list(store.folder.glob(".*"))


def test_accelerate_workers_stop_when_generate_is_killed(tmp_path, model_dir):
    root = tmp_path / "stores"
    caller = textwrap.dedent(f"""
        from antinb.generate import GenerationSpec, generate
        spec = GenerationSpec(model={str(model_dir)!r}, design="antithetic", n=400, steps=50,
                              statistics=("brightness",), chunk_groups=1)
        generate(spec, {str(root)!r}, processes=2, threads=1, device="cpu", progress=False)
    """)
    parent = subprocess.Popen([sys.executable, "-c", caller], env=ENV, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not list(root.glob("*/chunk-*.json")):
        assert time.monotonic() < deadline and parent.poll() is None, "the workers wrote nothing"
        time.sleep(0.1)
    workers = _descendants(parent.pid)
    assert len(workers) >= 3  # the accelerate launcher and its two workers
    _kill_parent_and_wait(parent, workers, limit=15)


# ----------------------------------------------------------------------------- bad input: Python API


def test_bad_api_input_names_the_parameter(tmp_path, model_dir, cond_model):
    z = antinb.noise.antithetic(2, cond_model.sample_shape)
    cases = [
        (lambda: antinb.sample(cond_model, z, steps=2, labels=1.7, progress=False), "labels=1.7"),
        (lambda: antinb.sample(cond_model, z, steps=2, labels=[1.0, 2.0], progress=False), "labels="),
        (lambda: antinb.sample(cond_model, z, steps=2, labels=1, guidance_scale="3", progress=False),
         "guidance_scale='3'"),
        (lambda: antinb.sample(cond_model, z, steps=2, eta="0.5", progress=False), "eta='0.5'"),
        (lambda: antinb.sample(cond_model, torch.zeros(0, 1, 8, 8), steps=2, progress=False), "no rows"),
        (lambda: antinb.sample(cond_model, z.z, sampler="ddpm", steps=2, progress=False,
                               step_noise=lambda step: torch.full_like(z.z, float("nan"))), "step_noise"),
        (lambda: antinb.sample(cond_model, z.z * 1e30, steps=3, progress=False), "noise max"),
        (lambda: models.load(model_dir, device="cpu", dtype="float8"), "dtype='float8'"),
        (lambda: GenerationSpec(model=str(model_dir), design="antithetic", n=4, statistics=("brightness",),
                                dtype="half-ish"), "dtype='half-ish'"),
        (lambda: training.TrainConfig(lr=float("nan")).validate(), "lr=nan"),
        (lambda: training.TrainConfig(steps=2.5).validate(), "steps=2.5"),
        (lambda: training.TrainConfig(threads=0).validate(), "threads=0"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match):
            call()
    # a dtype given by name is honoured (it used to load float32 silently)
    assert models.load(model_dir, device="cpu", dtype="float16").dtype == torch.float16


def test_corrupt_model_config_names_the_file(tmp_path, model_dir):
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    (folder / "unet" / "config.json").write_text('{"_class_name": "UNet2DModel", ')
    with pytest.raises(ValueError, match=r"unet/config\.json is corrupt"):
        models.load(folder, device="cpu")
    shutil.copytree(model_dir, tmp_path / "model2")
    (tmp_path / "model2" / "scheduler" / "scheduler_config.json").write_text("[1, 2")
    with pytest.raises(ValueError, match=r"scheduler_config\.json is corrupt"):
        models.load(tmp_path / "model2", device="cpu")


def test_generate_checks_labels_and_steps_before_creating_the_store(tmp_path, model_dir):
    base = dict(model=str(model_dir), design="antithetic", n=4, statistics=("brightness",))
    for change, match in (({"labels": 7}, "labels must lie in"), ({"steps": 5000}, "steps=5000"),
                          ({"labels": 1, "guidance_scale": float("inf")}, "guidance_scale=inf")):
        with pytest.raises(ValueError, match=match):
            generate(GenerationSpec(**{**base, **change}), tmp_path / "stores", progress=False)
    assert not (tmp_path / "stores").exists()


# ----------------------------------------------------------------------------- bad input: command line


def _one_line_error(capsys, argv: list[str], match: str) -> None:
    assert cli.main(argv) == 2, argv
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert match in err, (argv, err)


def test_bad_cli_input_is_one_line_exit_2_before_any_work(tmp_path, model_dir, capsys, monkeypatch):
    stores = tmp_path / "stores"
    gen = ["generate", "--model", str(model_dir), "--design", "antithetic", "--n", "4", "--steps", "2",
           "--statistics", "brightness", "--store", str(stores), "--no-progress"]
    train = ["train", "--dataset", "mnist", "--architecture", "tiny", "--out", str(tmp_path / "run")]
    table = [
        (gen + ["--level", "2"], "--level 2"),
        (gen + ["--labels", "7"], "labels must lie in"),
        (gen[:8] + ["0"] + gen[9:], "steps=0"),
        (gen + ["--device", "cuda"], "CUDA is not available"),
        (gen + ["--device", "tpu9"], "device='tpu9'"),
        (gen + ["--processes", "0"], "processes=0"),
        (gen + ["--max-batch-size", "0"], "max_batch_size=0"),
        (gen + ["--threads", "0"], "threads=0"),
        (train + ["--steps", "0"], "steps=0"),
        (train + ["--lr", "-1"], "lr=-1.0"),
        (train + ["--threads", "0"], "threads=0"),
        (["card", str(tmp_path / "nowhere")], "training.json"),
        (["card", str(model_dir), "--pairs", "0"], "--pairs=0"),
        (["card", str(model_dir), "--guidance-scales", "0.5"], "--guidance-scales"),
        (["bench", str(model_dir), "--batch", "0"], "--batch=0"),
        (["bench", str(model_dir), "--device", "cuda"], "CUDA is not available"),
        (["bench", str(model_dir), "--batch-sizes", "2", "0"], "--batch-sizes=0"),
    ]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for argv, match in table:
        _one_line_error(capsys, argv, match)
    assert not stores.exists() and not (tmp_path / "run").exists()  # nothing was created


# --------------------------------------------------------------------------- item 6 and the run timeout
# Item 6 (only book-profile runs are published; a profile change stales the chapter) is tested in
# tests/test_staleness.py: test_a_ci_run_is_never_accepted_by_the_book,
# test_only_the_book_profile_writes_into_book_executed_by_default and
# test_a_change_of_the_profiles_parameters_stales_the_chapter_and_names_it.


def test_antinb_run_cell_timeout_fails_a_slow_notebook_and_keeps_the_previous_copy(tmp_path, monkeypatch):
    from antinb.book import runner

    nb = tmp_path / "99_slow.py"
    nb.write_text('# %% tags=["parameters"]\nseconds = 30\ndevice = "cpu"\nseed = 0\n\n# %%\nimport time\ntime.sleep(seconds)\n')
    out = tmp_path / "out"
    t0 = time.time()
    with pytest.raises(runner.NotebookError, match="99_slow failed"):
        runner.run(nb, profile="ci", output_dir=out, cell_timeout=3)
    assert time.time() - t0 < 25 and not (out / "99_slow.ipynb").exists()
    with pytest.raises(ValueError, match="cell_timeout=0"):
        runner.run(nb, profile="ci", output_dir=out, cell_timeout=0)
