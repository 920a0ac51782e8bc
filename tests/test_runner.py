"""The notebook runner: parameters are checked before anything runs, stamps, records, no loss on failure."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import nbformat
import pytest
import yaml

from antinb.book import runner


def test_notebooks_are_listed_in_order():
    names = runner.notebooks()
    assert names[:3] == ["01_correlation", "02_timestep_evolution", "03_symmetry"]
    assert runner.resolve("01") == runner.resolve("correlation") == runner.NOTEBOOK_DIR / "01_correlation.py"
    with pytest.raises(ValueError, match="notebook="):
        runner.resolve("99_nothing")


def test_every_notebook_has_one_parameters_cell_with_device_and_seed():
    for name in runner.notebooks():
        params = runner.notebook_parameters(runner.NOTEBOOK_DIR / f"{name}.py")
        assert params["device"] == "auto" and params["seed"] == 0, name


def test_profiles_only_name_known_parameters():
    for profile in ("ci", "book", "full"):
        for name in runner.notebooks():
            params = runner.profile_parameters(profile, name)
            runner._check_parameters(runner.NOTEBOOK_DIR / f"{name}.py", params)  # raises on a bad one


@pytest.mark.parametrize("params, match", [
    ({"n_pairz": 3}, "unknown"),
    ({"n_pairs": "many"}, "must be int"),
    ({"n_pairs": 2.5}, "must be int"),
    ({"models": "mnist"}, "must be list"),
])
def test_bad_parameter_is_rejected_before_running(tmp_path, params, match):
    with pytest.raises(ValueError, match=match):
        runner.run("01_correlation", profile="ci", parameters=params, output_dir=tmp_path)
    assert not list(tmp_path.iterdir())  # nothing executed, nothing written


def test_unknown_profile():
    with pytest.raises(ValueError, match="profile="):
        runner.profile_parameters("huge", "01_correlation")


def test_cli_exits_nonzero_with_the_cause(tmp_path):
    out = subprocess.run([sys.executable, "-m", "antinb", "run", "01", "--profile", "ci", "-p", "n_pairz", "3",
                          "--output-dir", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode != 0 and "n_pairz" in out.stderr


def test_failing_cell_keeps_previous_copy_and_names_cause(tmp_path):
    previous = tmp_path / "03_symmetry.ipynb"
    previous.write_text("previous good copy")
    # n_s must be odd: the notebook's own call raises ValueError naming it
    with pytest.raises(runner.NotebookError, match="n_s=4"):
        runner.run("03_symmetry", profile="ci", parameters={"n_s": 4, "models": ["mnist"]}, output_dir=tmp_path)
    assert previous.read_text() == "previous good copy"
    assert (tmp_path / "03_symmetry.failed.ipynb").exists()


def test_missing_model_fails_with_its_name(tmp_path):
    with pytest.raises(runner.NotebookError, match="no-such/model"):
        runner.run("03_symmetry", profile="ci", parameters={"models": ["no-such/model"]}, output_dir=tmp_path)


def test_record_writes_jsonl(tmp_path, monkeypatch):
    f = tmp_path / "r.jsonl"
    monkeypatch.setenv(runner.RECORD_ENV, str(f))
    import numpy as np
    import torch
    assert runner.record("a", torch.tensor(0.5)) == 0.5
    runner.record("b", {"x": np.float64(2.0), "y": [1, float("nan")]})
    lines = [json.loads(s) for s in f.read_text().splitlines()]
    assert lines == [{"name": "a", "value": 0.5}, {"name": "b", "value": {"x": 2.0, "y": [1, None]}}]
    with pytest.raises(ValueError, match="name="):
        runner.record("", 1)


def test_stamp_and_staleness(tmp_path, capfd):
    stamp = runner.run("03_symmetry", profile="ci", parameters={"models": ["mnist"]}, output_dir=tmp_path)
    # the kernel ran over Unix sockets in the run's temporary folder (runner.kernel_transport): no TCP warning
    assert "over TCP" not in capfd.readouterr().err
    nb = nbformat.read(tmp_path / "03_symmetry.ipynb", as_version=4)
    meta = nb.metadata["antinb"]
    # the book shows the parameters the run used (papermill's injected cell), not the defaults
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert [t for t in tags if "parameters" in t] == [["parameters", "remove-cell"]]
    assert sum("injected-parameters" in t for t in tags) == 1
    for key in ("source_hash", "code_hash", "modules", "weights", "packages", "profile", "parameters",
                "environment", "git_commit", "finished", "records"):
        assert key in meta
    assert meta["parameters"]["models"] == ["mnist"] and meta["parameters"]["n_x"] == 4  # profile + override
    assert "device" in meta["environment"] and "torch" in meta["environment"]
    # the usage cell ran in the kernel and left no trace in the page; the ci profile has no cache
    assert not any(c.metadata.get("antinb_usage") or "report_usage" in c.source for c in nb.cells)
    assert meta["usage"]["cache"] is None and meta["usage"]["rows_read"] == 0
    assert meta["usage"]["network_evaluations"] == stamp["usage"]["network_evaluations"] > 0
    assert set(meta["modules"]) == set(runner.code_modules(runner.NOTEBOOK_DIR / "03_symmetry.py"))
    assert "antinb.book.runner" not in meta["modules"] and "antinb.findings.symmetry" in meta["modules"]
    # the weights the kernel loaded, noted by antinb.models.load, fingerprinted; not among the results
    assert meta["weights"]["mnist"]["embedded"] == "mnist"
    assert "unet/diffusion_pytorch_model.safetensors" in meta["weights"]["mnist"]["files"]
    assert meta["records"] and not any(k.startswith(runner.WEIGHTS_PREFIX) for k in meta["records"])
    assert set(runner.KEY_PACKAGES) <= set(meta["packages"])
    assert nb.cells[-1].metadata["tags"] == ["antinb-provenance"]
    assert json.loads((tmp_path / "03_symmetry.json").read_text())["records"] == stamp["records"]
    # fresh as what it is; not the ci profile's own run (models was overridden); never a book chapter
    assert meta["overrides"] == {"models": ["mnist"]}
    assert runner.is_stale(tmp_path / "03_symmetry.ipynb") is None
    assert "models=['mnist']" in runner.is_stale(tmp_path / "03_symmetry.ipynb", profile="ci")
    assert "profile 'ci'" in runner.is_stale(tmp_path / "03_symmetry.ipynb", profile="book")
    meta["source_hash"] = "0" * 16
    nbformat.write(nb, tmp_path / "03_symmetry.ipynb")
    assert "changed" in runner.is_stale(tmp_path / "03_symmetry.ipynb")


def test_the_kernel_transport_is_a_unix_socket_beside_the_run_where_the_path_allows(tmp_path):
    config = runner.kernel_transport(tmp_path)["config"]
    assert config.KernelManager.transport == "ipc"
    assert config.KernelManager.connection_file == str(tmp_path / "kernel.json")
    assert runner.kernel_transport(tmp_path / ("x" * 120)) == {}  # too long for a socket: papermill's TCP


def test_the_cache_folder_of_a_run(monkeypatch):
    """The book profile caches in _build/cache unless $ANTINB_CACHE says otherwise; other profiles only
    when it is set; an empty value turns the cache off."""
    monkeypatch.delenv("ANTINB_CACHE", raising=False)
    assert runner.cache_dir("book") == runner.CACHE_DIR and runner.cache_dir("ci") is None
    monkeypatch.setenv("ANTINB_CACHE", "/somewhere")
    assert runner.cache_dir("ci") == runner.cache_dir("book") == Path("/somewhere")
    monkeypatch.setenv("ANTINB_CACHE", "")
    assert runner.cache_dir("book") is None


def test_a_prose_edit_re_renders_from_the_saved_measurement_and_a_parameter_re_measures(tmp_path):
    # a copy of chapter 3 executed under a profile of its own, in its own folder
    src = tmp_path / "src" / "03_symmetry.py"
    src.parent.mkdir()
    src.write_text((runner.NOTEBOOK_DIR / "03_symmetry.py").read_text())
    profile = tmp_path / "p.yml"
    params = {"models": ["mnist"], "n_timesteps": 2, "n_x": 3, "n_coords": 2, "n_s": 5, "n_residual": 4,
              "device": "cpu"}
    profile.write_text(yaml.safe_dump({"03_symmetry": params}))
    out = tmp_path / "out"
    first = runner.run(src, profile=str(profile), output_dir=out)
    assert first["measurement"]["measured"] is True and first["usage"]["network_evaluations"] > 0
    assert (out / "measurements" / "03_symmetry.npz").exists()
    assert runner.chapter_state(src, profile=str(profile), out_dir=out) == ("fresh", None)
    # (a) one sentence of prose: only the page changes
    src.write_text(src.read_text().replace("# **The question.**", "# One more sentence.\n#\n# **The question.**"))
    state, why = runner.chapter_state(src, profile=str(profile), out_dir=out)
    assert state == "re-render" and "changed since it was executed" in why
    second = runner.run(src, profile=str(profile), output_dir=out)
    assert second["measurement"]["measured"] is False
    assert second["usage"]["network_evaluations"] == 0
    assert second["records"] == first["records"]  # bit for bit: the same saved numbers, presented again
    assert second["weights"] == first["weights"]
    assert "rendered from the measurements saved" in nbformat.read(out / "03_symmetry.ipynb", 4).cells[-1].source
    # (d) a parameter: the measurement itself is stale, and says why
    profile.write_text(yaml.safe_dump({"03_symmetry": {**params, "n_x": 4}}))
    assert runner.chapter_state(src, profile=str(profile), out_dir=out) == ("re-measure", "parameter 'n_x' is 4, was 3")
    third = runner.run(src, profile=str(profile), output_dir=out)
    assert third["measurement"]["measured"] is True and third["usage"]["network_evaluations"] > 0
