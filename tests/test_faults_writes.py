"""Fault injection II (issue 32): no write through a planted link, no orphan on a signal, every bad input a
one-line error before any work.

1. no write follows a symbolic link or reuses a predictable temporary name: one test per writer (store
   lock, chunk, sidecar, manifest, runner stamp, executed notebook, training checkpoint, snapshot, cache
   memo, bench report, book pages);
2. workers stop when their launcher dies whatever their stderr is; ``antinb run`` removes its temporary
   folder on SIGINT, SIGTERM and SIGHUP; Ctrl-C ends with one line and exit 130, nothing lost;
3. a size beyond memory is a usage error, not a hang;
4. every CLI usage error is one line naming the parameter, exit 2, before any model loads or kernel
   starts (``--dry-run`` too); corrupt inputs are named; ``antinb run PATH`` runs a file anywhere;
5. ``book results`` refuses what ``build`` refuses; a chunk must match the store's declared dtype.

Subprocesses are single-threaded (``OMP_NUM_THREADS=1``) and the models tiny.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from antinb import cli, training
from antinb.generate import PARENT_ENV, GenerationSpec, generate, prepare
from antinb.store import SampleStore, StoreMismatchError

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
VICTIM_TEXT = "the victim's own file\n"


def _victim(tmp_path: Path, name: str = "victim") -> Path:
    path = tmp_path / name
    path.write_text(VICTIM_TEXT)
    return path


def _intact(victim: Path) -> bool:
    return victim.read_text() == VICTIM_TEXT


def _warned(caplog, path: Path) -> bool:
    return any(str(path) in r.getMessage() and r.levelno >= logging.WARNING for r in caplog.records)


def _store(root, seed: int = 0, **kw) -> SampleStore:
    return SampleStore(root, {"name": "run", "seed": seed}, n_groups=4, chunk_groups=1, group_size=2, keys=["v"], **kw)


def _rows(store: SampleStore, c: int, dtype=torch.float64) -> dict[str, torch.Tensor]:
    return {"v": torch.full((store.rows(c),), float(c), dtype=dtype)}


# ----------------------------------------------------------------------------- 1. writes never follow a link


def test_a_planted_lock_link_is_refused_and_its_target_untouched(tmp_path, caplog):
    store = _store(tmp_path / "stores")
    victim = _victim(tmp_path)
    lock = store.lock_path(1)
    lock.symlink_to(victim)
    with caplog.at_level(logging.WARNING):
        SampleStore.open(store.folder)  # opening claims leftover locks: it used to truncate the victim
    assert _intact(victim) and _warned(caplog, lock)
    lock.symlink_to(victim)
    with caplog.at_level(logging.WARNING):
        assert store.write(1, _rows(store, 1))  # a claim by a writer
    assert _intact(victim) and store.is_done(1)
    # a hard link to someone's file is refused too (the lock is truncated and written while held)
    os.link(victim, store.lock_path(2))
    with store.claim(2) as held:
        assert held and os.stat(store.lock_path(2)).st_nlink == 1
    assert _intact(victim)


def test_chunk_and_sidecar_links_are_neither_read_nor_written_through(tmp_path, caplog):
    store = _store(tmp_path / "stores")
    for c in range(4):
        store.write(c, _rows(store, c))
    # chunk 1 and its sidecar moved elsewhere and linked back: a store never reads through a link
    away = tmp_path / "away"
    away.mkdir()
    for p in (store.chunk_path(1), store.sidecar_path(1)):
        p.rename(away / p.name)
        p.symlink_to(away / p.name)
    saved = {p.name: p.read_bytes() for p in away.iterdir()}
    with caplog.at_level(logging.WARNING):
        assert store.pending() == [1]
    assert "symbolic link" in caplog.text
    with caplog.at_level(logging.WARNING):
        assert store.write(1, _rows(store, 1))  # regenerated: the links are replaced, their targets untouched
    assert _warned(caplog, store.chunk_path(1))
    assert {p.name: p.read_bytes() for p in away.iterdir()} == saved
    assert not store.chunk_path(1).is_symlink() and not store.sidecar_path(1).is_symlink()
    assert torch.equal(store.gather()["v"], torch.tensor([0.0, 0, 1, 1, 2, 2, 3, 3], dtype=torch.float64))


def test_a_manifest_link_is_replaced_not_followed_and_a_linked_store_folder_refused(tmp_path, caplog):
    root = tmp_path / "stores"
    probe = _store(root)
    folder = probe.folder
    (folder / "manifest.json").unlink()
    target = tmp_path / "victim-to-be"  # a dangling link: following it would create the file
    (folder / "manifest.json").symlink_to(target)
    with caplog.at_level(logging.WARNING):
        _store(root)
    assert not target.exists() and not (folder / "manifest.json").is_symlink()
    assert _warned(caplog, folder / "manifest.json")
    # a store folder that is itself a link (to someone's folder) is refused, nothing is written there
    elsewhere = tmp_path / "someones-folder"
    elsewhere.mkdir()
    linked = root / _store(root, seed=7).key
    import shutil
    shutil.rmtree(linked)
    linked.symlink_to(elsewhere)
    with pytest.raises(StoreMismatchError, match="symbolic link"):
        _store(root, seed=7)
    assert not list(elsewhere.iterdir())


TINY_NOTEBOOK = '# %% tags=["parameters"]\nseconds = 0\ndevice = "cpu"\nseed = 0\n\n# %%\nimport time\ntime.sleep(seconds)\n'


def test_the_runner_writes_no_stamp_or_notebook_through_a_link_and_runs_a_file_anywhere(tmp_path, caplog,
                                                                                          capsys):
    nb = tmp_path / "anywhere" / "98_tiny.py"  # not in notebooks/: antinb run PATH runs it
    nb.parent.mkdir()
    nb.write_text(TINY_NOTEBOOK)
    out = tmp_path / "out"
    out.mkdir()
    victims = {name: _victim(tmp_path, f"victim-{i}") for i, name in
               enumerate(("98_tiny.json.tmp", "98_tiny.json", "98_tiny.ipynb"))}
    for name, victim in victims.items():
        (out / name).symlink_to(victim)
    with caplog.at_level(logging.WARNING):
        assert cli.main(["run", str(nb), "--profile", "ci", "--output-dir", str(out)]) == 0
    assert all(_intact(v) for v in victims.values())
    for name in ("98_tiny.json", "98_tiny.ipynb"):
        assert not (out / name).is_symlink() and _warned(caplog, out / name)
    assert json.loads((out / "98_tiny.json").read_text())["notebook"] == "98_tiny"
    assert json.loads((out / "98_tiny.ipynb").read_text())["metadata"]["antinb"]["notebook"] == "98_tiny"


def _tiny_training(**kw) -> training.TrainConfig:
    return training.TrainConfig(dataset="mnist", architecture="tiny", steps=1, batch_size=2, threads=1, **kw)


def test_the_checkpoint_and_training_record_are_not_written_through_links(tmp_path, caplog):
    out = tmp_path / "run"
    out.mkdir()
    victims = [_victim(tmp_path, "v1"), _victim(tmp_path, "v2")]
    (out / "checkpoint.pt.tmp").symlink_to(victims[0])  # the fixed temporary name of the old code
    (out / "training.json").symlink_to(victims[1])
    with caplog.at_level(logging.WARNING):
        training.train(_tiny_training(), out, progress=False)
    assert all(_intact(v) for v in victims)
    assert training.load_checkpoint(out / "checkpoint.pt")["state"]["step"] == 1
    assert not (out / "training.json").is_symlink() and _warned(caplog, out / "training.json")


def test_a_snapshot_is_not_written_through_a_planted_folder_link(tmp_path):
    out = tmp_path / "run"
    (out / "snapshots").mkdir(parents=True)
    someone = tmp_path / "someones-folder"
    someone.mkdir()
    (out / "snapshots" / "step-000000.tmp").symlink_to(someone)  # the fixed temporary name of the old code
    training.train(_tiny_training(snapshots=(0, 1)), out, progress=False)
    assert not list(someone.iterdir())
    assert sorted(training.snapshots_of(out)) == [0, 1]


def test_a_cache_memo_is_not_written_through_links(tmp_path, caplog):
    from antinb import cache

    calls = []

    @cache.memo()
    def doubled(x: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return 2 * x

    x = torch.arange(4.0)
    with cache.use(tmp_path / "cache"):
        doubled(x)
        files = sorted((tmp_path / "cache" / "memo").iterdir())
        assert [p.suffix for p in files] == [".json", ".pt"]
        victims = []
        for i, p in enumerate(files):
            p.unlink()
            victims.append(_victim(tmp_path, f"v{i}"))
            p.symlink_to(victims[-1])
        with caplog.at_level(logging.WARNING):
            assert torch.equal(doubled(x), 2 * x)
        assert len(calls) == 2 and all(_intact(v) for v in victims)
        assert all(not p.is_symlink() and _warned(caplog, p) for p in files)
        assert torch.equal(doubled(x), 2 * x) and len(calls) == 2  # read back


def test_the_bench_report_is_not_written_through_a_planted_temporary_name(tmp_path, model_dir):
    from antinb.book import bench

    out = tmp_path / "report.json"
    out.write_text(json.dumps({"device": "cpu", "pipeline": [], "pairing": [], "unet_share": [], "throughput": [],
                               "options": [], "notebooks": {}}))
    victim = _victim(tmp_path)
    Path(f"{out}.tmp").symlink_to(victim)  # report.json.tmp: the old code's fixed temporary name
    report = bench.run([str(model_dir)], device="cpu", batch=2, steps=2, repeats=1, only=("unet_share",),
                       out=out, progress=False)
    assert _intact(victim)
    assert json.loads(out.read_text())["unet_share"] == report["unet_share"] != []


def test_book_pages_are_not_written_through_links(tmp_path, caplog):
    from antinb.book import builder

    executed = tmp_path / "executed"
    executed.mkdir()
    victims = [_victim(tmp_path, "v1"), _victim(tmp_path, "v2")]
    page, glance = tmp_path / "results.md", tmp_path / "glance.md"
    page.symlink_to(victims[0])
    glance.symlink_to(victims[1])
    with caplog.at_level(logging.WARNING):
        builder.write_results(executed, page, glance)
    assert all(_intact(v) for v in victims)
    assert page.read_text().startswith("# Results") and not glance.is_symlink() and _warned(caplog, page)


# ----------------------------------------------------------------------------- 2. no orphan, clean stops


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _descendants(pid: int) -> set[int]:
    tree: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(d.name))
    out, todo = set(), [pid]
    while todo:
        for c in tree.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _wait_dead(pids: set[int], limit: float) -> float:
    start = time.monotonic()
    try:
        while any(_alive(p) for p in pids):
            if time.monotonic() - start > limit:
                raise AssertionError(f"{sorted(p for p in pids if _alive(p))} still run {limit:.0f} s later")
            time.sleep(0.1)
    finally:
        for p in pids:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
    return time.monotonic() - start


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_whose_stderr_pipe_closed_still_stops_when_its_launcher_dies(tmp_path, model_dir):
    """The watchdog used to print to stderr first: a pipe whose reader died with the launcher raised
    BrokenPipeError in the watchdog thread, and the worker went on writing to the end."""
    spec = GenerationSpec(model=str(model_dir), design="antithetic", n=400, steps=50, statistics=("brightness",),
                          chunk_groups=1)
    store = prepare(spec, tmp_path)
    launcher = textwrap.dedent(f"""
        import os, subprocess, sys
        env = {{**os.environ, {PARENT_ENV!r}: str(os.getpid())}}
        worker = subprocess.Popen([sys.executable, "-m", "antinb.generate", {str(store.folder)!r}, "--threads", "1",
                                   "--device", "cpu", "--no-progress"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        worker.wait()
    """)
    parent = subprocess.Popen([sys.executable, "-c", launcher], env=ENV)
    deadline = time.monotonic() + 180
    while not list(store.folder.glob("chunk-*.json")):
        assert time.monotonic() < deadline and parent.poll() is None, "the worker wrote nothing"
        time.sleep(0.05)
    workers = _descendants(parent.pid)
    assert workers
    parent.send_signal(signal.SIGINT)  # any signal: the launcher here dies of KeyboardInterrupt
    parent.wait()
    _wait_dead(workers, limit=15)
    done = len(store.done())
    time.sleep(1.0)
    assert len(store.done()) == done < store.n_chunks


SLEEPER = '# %% tags=["parameters"]\nseconds = 120\ndevice = "cpu"\nseed = 0\n\n# %%\nimport time\ntime.sleep(seconds)\n'


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_antinb_run_removes_its_temporary_folder_and_kernel_on_a_signal(tmp_path, sig, request):
    nb = tmp_path / "97_sleep.py"
    nb.write_text(SLEEPER)
    # a short folder: under a worker's long tmp_path the kernel's socket path is too long and it falls back to TCP
    tmp = Path(tempfile.mkdtemp(prefix="s", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(tmp, ignore_errors=True))
    proc = subprocess.Popen([sys.executable, "-m", "antinb", "run", str(nb), "--profile", "ci", "--output-dir",
                             str(tmp_path / "out")], env={**ENV, "TMPDIR": str(tmp)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(d.name.startswith("antinb-97_sleep-") and list(d.glob("kernel*")) for d in tmp.iterdir()):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    time.sleep(3.0)  # the kernel runs the sleeping cell
    children = _descendants(proc.pid)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("antinb run: interrupted"), err
    assert not [d for d in tmp.iterdir() if d.name.startswith("antinb-")]  # notebook copies, kernel.json, sockets
    _wait_dead(children, limit=15)  # the kernel too
    assert not (tmp_path / "out" / "97_sleep.ipynb").exists()


def test_ctrl_c_during_generate_is_one_line_exit_130_and_the_run_resumes_identically(tmp_path, model_dir, capsys,
                                                                                     monkeypatch, one_thread):
    import antinb.generate as g

    argv = ["generate", "--model", str(model_dir), "--design", "antithetic", "--n", "8", "--steps", "2",
            "--statistics", "brightness", "--chunk-groups", "1", "--store", str(tmp_path / "stores"),
            "--no-progress", "--device", "cpu", "--threads", "1"]
    original, count = g._generate_chunk, [0]

    def interrupted(*a, **k):
        if count[0] == 2:
            raise KeyboardInterrupt
        count[0] += 1
        return original(*a, **k)

    monkeypatch.setattr(g, "_generate_chunk", interrupted)
    try:
        status = cli.main(argv)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped `antinb generate` as a KeyboardInterrupt traceback")
    assert status == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "interrupted (SIGINT)" in err and "Traceback" not in err
    store = SampleStore.open(next((tmp_path / "stores").iterdir()))
    assert store.done() == [0, 1]  # nothing written is lost
    monkeypatch.setattr(g, "_generate_chunk", original)
    assert cli.main(argv) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert cli.main(argv[:-7] + ["--store", str(tmp_path / "fresh"), "--no-progress", "--device", "cpu",
                                 "--threads", "1"]) == 0
    fresh = json.loads(capsys.readouterr().out)
    assert resumed["statistics"] == fresh["statistics"]
    assert torch.equal(store.gather()["brightness"],
                       SampleStore.open(next((tmp_path / "fresh").iterdir())).gather()["brightness"])


def test_a_killed_worker_is_one_line_and_the_progress_bar_alone_is_forwarded(tmp_path, capfd):
    from antinb.generate import WorkerError, _launch

    script = ("import os, signal, sys\n"
              "sys.stderr.write('\\rchunks (2 processes):  50%|#####     | 1/2\\r'); sys.stderr.flush()\n"
              "print('Traceback (most recent call last):\\n' + '  File x, line 1\\n' * 60 + "
              "'torch.distributed.elastic.multiprocessing.errors.ChildFailedError: worker 1 exitcode -9', flush=True)\n"
              "os.kill(os.getpid(), signal.SIGKILL)\n")
    code, output = _launch([sys.executable, "-c", script], {}, True)
    forwarded = capfd.readouterr().err
    assert code == -9 and "chunks (2 processes)" in forwarded and "Traceback" not in forwarded
    err = WorkerError(2, code, output, ["accelerate"])
    assert len(str(err).splitlines()) == 1 and "killed by signal 9" in str(err) and "ChildFailedError" in str(err)


def test_the_cli_reports_a_failed_launch_in_one_line(tmp_path, model_dir, capsys, monkeypatch):
    import antinb.generate as g

    monkeypatch.setattr(g, "_launch", lambda cmd, kw, progress: (-9, "Traceback ...\n" * 60 + "exitcode: -9"))
    argv = ["generate", "--model", str(model_dir), "--design", "antithetic", "--n", "4", "--steps", "2",
            "--statistics", "brightness", "--store", str(tmp_path / "stores"), "--processes", "2", "--device", "cpu"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "killed by signal 9" in err and "resumes" in err


# ----------------------------------------------------------------------------- 3 and 4. bad input, early and named


def _one_line(capsys, argv: list[str], match: str, status: int = 2) -> str:
    assert cli.main(argv) == status, argv
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert match in err, (argv, err)
    return err


@pytest.fixture
def no_work(monkeypatch):
    """Loading a model or starting a kernel fails the test: usage errors come first."""
    import papermill

    from antinb import models

    def refuse(*a, **k):
        raise AssertionError("a model was loaded or a kernel started before the usage error")

    monkeypatch.setattr(models, "load", refuse)
    monkeypatch.setattr(papermill, "execute_notebook", refuse)


def _gen(tmp_path: Path, model_dir: Path) -> list[str]:
    return ["generate", "--model", str(model_dir), "--design", "antithetic", "--n", "4", "--steps", "2",
            "--statistics", "brightness", "--store", str(tmp_path / "stores"), "--no-progress"]


USAGE_ERRORS = {  # id: (argv from tmp_path, a file there, model_dir; what the one line must say)
    "run-p-not-yaml": (lambda t, f, m: ["run", "01", "-p", "n_pairs", "[1,"], "-p n_pairs '[1,'"),
    "run-p-negative": (lambda t, f, m: ["run", "01", "-p", "n_pairs", "-5"], "'n_pairs'"),
    "dry-run-p-negative": (lambda t, f, m: ["run", "01", "--dry-run", "-p", "n_pairs", "-5"], "'n_pairs'"),
    "dry-run-p-zero-steps": (lambda t, f, m: ["run", "01", "--dry-run", "-p", "ddim_steps", "0"], "'ddim_steps'"),
    "run-p-unknown": (lambda t, f, m: ["run", "01", "-p", "n_pairz", "3"], "'n_pairz'"),
    "run-all-p-unknown": (lambda t, f, m: ["run", "all", "-p", "n_pairz", "3"], "'n_pairz' is unknown to every"),
    "run-cell-timeout": (lambda t, f, m: ["run", "01", "--cell-timeout", "-1"], "--cell-timeout -1"),
    "run-output-dir-file": (lambda t, f, m: ["run", "01", "--output-dir", str(f)], "--output-dir"),
    "run-output-dir-under-file": (lambda t, f, m: ["run", "01", "--output-dir", str(f / "sub")], "--output-dir"),
    "generate-store-file": (lambda t, f, m: _gen(t, m)[:-3] + ["--store", str(f), "--no-progress"], "--store"),
    "generate-n-beyond-memory": (lambda t, f, m: _gen(t, m) + ["--n", "100000000000000000000"],
                                 "n=100000000000000000000"),
    "generate-prompts-not-utf8": (lambda t, f, m: _gen(t, m) + ["--prompts", str(t / "prompts.txt")], "prompts.txt"),
    "train-out-file": (lambda t, f, m: ["train", "--dataset", "mnist", "--architecture", "tiny", "--out", str(f)],
                       "--out"),
    "bench-out-folder": (lambda t, f, m: ["bench", str(m), "--out", str(t)], "--out"),
}


@pytest.mark.parametrize("case", list(USAGE_ERRORS))
def test_usage_errors_are_one_line_exit_2_before_any_model_loads_or_kernel_starts(case, tmp_path, model_dir, capsys,
                                                                                  no_work):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    (tmp_path / "prompts.txt").write_bytes(b"a red car\n\xff\xfe broken\n")
    make, match = USAGE_ERRORS[case]
    _one_line(capsys, make(tmp_path, a_file, model_dir), match)
    assert not (tmp_path / "stores").exists()


def test_an_argument_parse_error_is_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["generate", "--model", "m", "--design", "antithetic", "--n", "abc", "--store", "s"])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(err.splitlines()) == 1 and "--n" in err and "'abc'" in err, err


def test_ctrl_c_in_the_book_command_is_one_line_exit_130(tmp_path, monkeypatch, capsys):
    from antinb.book import builder

    monkeypatch.setattr(builder, "_chapters", lambda: ())

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(builder, "write_results", interrupted)
    try:
        status = builder.main(["results"])
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped `python -m antinb.book` as a KeyboardInterrupt traceback")
    err = capsys.readouterr().err.strip()
    assert status == 130 and len(err.splitlines()) == 1 and "interrupted" in err


def test_card_names_a_corrupt_or_incomplete_training_record(tmp_path, model_dir, capsys, no_work):
    folder = tmp_path / "model"
    import shutil
    shutil.copytree(model_dir, folder)
    record = folder / "training.json"
    record.write_text(json.dumps({"config": {"architecture": "tiny"}, "steps_done": 1}))
    _one_line(capsys, ["card", str(folder), "--pairs", "2"], f"{record} lacks config.dataset")
    record.write_text('{"config": {"dataset": "mn')
    _one_line(capsys, ["card", str(folder), "--pairs", "2"], f"{record} is corrupt")


def test_a_checkpoint_of_other_weights_is_named_not_a_runtime_error(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    cfg = _tiny_training()
    torch.save({"config": asdict(cfg), "unet": {"bogus.weight": torch.zeros(2)}, "ema": {}, "opt": {},
                "gen": torch.Generator().get_state(), "state": {"step": 0, "elapsed_s": 0.0, "losses": []}},
               out / "checkpoint.pt")
    with pytest.raises(training.CheckpointError, match=r"checkpoint\.pt does not fit this model"):
        training.train(cfg, out, progress=False)
    argv = ["train", "--dataset", "mnist", "--out", str(out), "--architecture", "tiny", "--steps", "1",
            "--batch-size", "2", "--threads", "1"]
    _one_line(capsys, argv, "checkpoint.pt does not fit this model")


def test_a_directory_where_a_lock_or_chunk_should_be_is_named(tmp_path, model_dir, capsys):
    store = _store(tmp_path / "a")
    store.chunk_path(1).mkdir()
    with pytest.raises(OSError, match=r"chunk-00001\.pt is a directory"):
        store.write(1, _rows(store, 1))
    store.lock_path(2).mkdir()
    with pytest.raises(OSError, match=r"\.chunk-00002\.lock is a directory"):
        store.write(2, _rows(store, 2))
    # through the command line: one line naming it, exit 1 (not a usage error)
    argv = ["generate", "--model", str(model_dir), "--design", "antithetic", "--n", "4", "--steps", "2",
            "--statistics", "brightness", "--chunk-groups", "1", "--store", str(tmp_path / "stores"),
            "--no-progress", "--device", "cpu"]
    assert cli.main(argv) == 0
    capsys.readouterr()
    s = SampleStore.open(next((tmp_path / "stores").iterdir()))
    s.chunk_path(1).unlink()
    s.sidecar_path(1).unlink()
    s.lock_path(1).mkdir()
    _one_line(capsys, argv, ".chunk-00001.lock is a directory", status=1)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE")
def test_a_full_disk_is_one_line_nothing_lost_and_the_resume_identical(tmp_path, model_dir, loaded, one_thread):
    import resource

    from antinb.generate import _generate_chunk, weights_fingerprint

    spec = GenerationSpec(model=str(model_dir), design="antithetic", n=48, steps=2, statistics=("brightness",),
                          keep_images=True, chunk_groups=4)
    store = prepare(spec, tmp_path / "stores", fingerprint=weights_fingerprint(loaded), device_type="cpu",
                    model_dtype="float32")
    for c in (0, 1):  # an earlier run wrote two chunks
        _generate_chunk(spec, store, c, loaded, 256)
    limit = 1024  # bytes per file (`ulimit -f`): a chunk (8 images of 8x8) is larger

    def small_files():  # pragma: no cover - runs in the child
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    argv = [sys.executable, "-m", "antinb", "generate", "--model", str(model_dir), "--design", "antithetic",
            "--n", "48", "--steps", "2", "--statistics", "brightness", "--keep-images", "--chunk-groups", "4",
            "--device", "cpu", "--threads", "1", "--no-progress", "--store", str(tmp_path / "stores")]
    full = subprocess.run(argv, env=ENV, capture_output=True, text=True, preexec_fn=small_files, timeout=600)
    assert full.returncode == 1, full.stderr
    err = full.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "File too large" in err and "chunk-00002.pt" in err, err
    assert store.done() == [0, 1] and not list(store.folder.glob(".*.tmp"))  # nothing lost, nothing left
    resumed = subprocess.run(argv, env=ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    fresh = generate(spec, tmp_path / "fresh", model=loaded, threads=1, progress=False)
    got = store.gather()
    assert all(torch.equal(got[k], fresh[k]) for k in fresh)


def test_a_model_with_a_corrupt_timestep_count_is_named(tmp_path, model_dir):
    import shutil
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    config = folder / "scheduler" / "scheduler_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "num_train_timesteps": -5}))
    spec = GenerationSpec(model=str(folder), design="antithetic", n=4, steps=2, statistics=("brightness",))
    with pytest.raises(ValueError, match=r"num_train_timesteps=-5"):
        generate(spec, tmp_path / "stores", device="cpu", progress=False)
    assert not (tmp_path / "stores").exists()


# ----------------------------------------------------------------------------- 5. nothing silent


def test_a_chunk_of_the_wrong_dtype_is_refused_even_with_a_rehashed_sidecar(tmp_path, model_dir, loaded, caplog):
    store = _store(tmp_path / "a", dtypes={"v": "float64"}, shapes={"v": ()})
    with pytest.raises(ValueError, match="dtype float32, the store declares float64"):
        store.write(0, _rows(store, 0, torch.float32))
    with pytest.raises(ValueError, match=r"rows of shape \(3,\)"):
        store.write(0, {"v": torch.zeros(2, 3, dtype=torch.float64)})
    assert SampleStore.open(store.folder).dtypes == {"v": "float64"}  # declared in the manifest
    spec = GenerationSpec(model=str(model_dir), design="antithetic", n=8, steps=2, statistics=("brightness",),
                          chunk_groups=1)
    out, gen_store = generate(spec, tmp_path / "stores", model=loaded, progress=False, return_store=True)
    # chunk 1 replaced by float32 rows, its sidecar re-hashed to vouch for them
    import io
    buf = io.BytesIO()
    torch.save({"brightness": gen_store.read(1)["brightness"].float()}, buf)
    data = buf.getvalue()
    gen_store.chunk_path(1).write_bytes(data)
    meta = json.loads(gen_store.sidecar_path(1).read_text())
    meta.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    gen_store.sidecar_path(1).write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING):
        assert gen_store.pending() == [1]
    assert "dtype float32, the store declares float64" in caplog.text
    again = generate(spec, tmp_path / "stores", model=loaded, progress=False)
    assert torch.equal(again["brightness"], out["brightness"]) and again["brightness"].dtype == torch.float64


def _fake_book(tmp_path: Path, monkeypatch, chapter: str, stamp_or_text) -> None:
    from antinb.book import builder, runner

    executed = tmp_path / "executed"
    executed.mkdir()
    text = stamp_or_text if isinstance(stamp_or_text, str) else json.dumps(
        {"cells": [], "metadata": {"antinb": stamp_or_text}, "nbformat": 4, "nbformat_minor": 5})
    (executed / f"{chapter}.ipynb").write_text(text)
    monkeypatch.setattr(runner, "EXECUTED_DIR", executed)
    monkeypatch.setattr(builder, "BOOK_DIR", tmp_path / "book")
    monkeypatch.setattr(builder, "_chapters", lambda: (chapter,))
    (tmp_path / "book").mkdir()


def test_book_results_names_a_truncated_notebook(tmp_path, monkeypatch, capsys):
    from antinb.book import builder, runner

    chapter = runner.notebooks()[0]
    _fake_book(tmp_path, monkeypatch, chapter, '{"cells": [], "metadata": {"antinb": {"profi')
    assert builder.main(["results"]) == 1
    err = capsys.readouterr().err
    assert f"{chapter}.ipynb" in err and "Traceback" not in err
    assert not (tmp_path / "book" / "results.md").exists()
    with pytest.raises(builder.BookError, match=f"{chapter}.ipynb is corrupt"):
        builder.write_results(tmp_path / "executed", tmp_path / "r.md", tmp_path / "g.md")


def test_book_results_refuses_a_book_copy_run_with_overrides(tmp_path, monkeypatch, capsys):
    from antinb.book import builder, runner

    chapter = runner.notebooks()[0]
    source = runner.NOTEBOOK_DIR / f"{chapter}.py"
    params = runner.profile_parameters("book", chapter)
    stamp = {"notebook": chapter, "profile": "book", "parameters": {**params, "seed": 5}, "overrides": {"seed": 5},
             "source_hash": runner.source_hash(source), "code_hash": "x", "modules": {}, "weights": {},
             "packages": {}, "records": {"corr_mean/mnist/ddim/pn/centered": -0.5}}
    _fake_book(tmp_path, monkeypatch, chapter, stamp)
    published = []
    monkeypatch.setattr(builder, "write_results", lambda *a, **k: published.append(1) or tmp_path / "results.md")
    assert builder.main(["results"]) == 1 and not published
    err = capsys.readouterr().err
    assert "overridden" in err and f"antinb run {chapter} --profile book" in err
    assert not (tmp_path / "book" / "results.md").exists()
