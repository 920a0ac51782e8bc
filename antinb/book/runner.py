"""Notebook execution: jupytext sources -> papermill -> executed, stamped notebooks.

``run("01_correlation", profile="ci")`` reads ``notebooks/01_correlation.py`` (jupytext percent
format), injects the profile's parameters (``notebooks/params/<profile>.yml``) plus overrides with
papermill, executes it, and writes ``<output_dir>/01_correlation.ipynb`` with a provenance stamp
in ``metadata.antinb`` (source and package hashes, resolved parameters, device, versions, git
commit, time) and every number the notebook recorded with :func:`record`; the same stamp and
numbers go to ``<output_dir>/01_correlation.json``.

Nothing already written is lost: the executed copy is written to a temporary file and renamed
over the previous one only when execution succeeded; a failed run leaves the previous copy in
place and writes ``<name>.failed.ipynb`` beside it for inspection.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ..records import RECORD_ENV, record, records

__all__ = ["record", "records", "run", "run_cli", "NotebookError", "ROOT", "NOTEBOOK_DIR", "EXECUTED_DIR",
           "notebooks", "resolve", "profile_parameters", "source_hash", "package_hash", "stamp_of", "is_stale",
           "notebook_parameters"]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
PARAMS_DIR = NOTEBOOK_DIR / "params"
EXECUTED_DIR = ROOT / "book" / "executed"

class NotebookError(RuntimeError):
    """A notebook could not be run: bad parameter, missing model, or a failing cell."""


def notebooks() -> list[str]:
    """Names of the notebook sources (``NN_name``), in book order."""
    return sorted(p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))


def resolve(notebook: str) -> Path:
    """A notebook source from its name (``01_correlation``), number (``01``), topic or path."""
    p = Path(notebook)
    if p.suffix == ".py" and p.exists():
        return p.resolve()
    for name in notebooks():
        if notebook in (name, name[:2], name[3:]):
            return NOTEBOOK_DIR / f"{name}.py"
    raise ValueError(f"notebook={notebook!r} is unknown; accepted values: {notebooks()} (or 'all')")


def source_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


#: Modules that cannot change a notebook's numbers (building, cards, the command line, benchmarks).
_NOT_RESULTS = {"book.py", "cards.py", "cli.py", "__main__.py", "bench.py"}


@lru_cache(maxsize=1)
def package_hash() -> str:
    """Hash of the antinb sources and the embedded weights' records: results depend on both."""
    h = hashlib.sha256()
    pkg = Path(__file__).resolve().parents[1]
    files = [f for f in sorted(pkg.glob("*.py")) if f.name not in _NOT_RESULTS]
    files += sorted(pkg.glob("weights/*/unet/*.safetensors"))
    for f in files:
        h.update(f.relative_to(pkg).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def profile_parameters(profile: str, name: str) -> dict[str, Any]:
    """Parameters of notebook ``name`` under ``profile`` (``ci``, ``book``, ``full`` or a YAML path)."""
    path = Path(profile) if profile.endswith((".yml", ".yaml")) else PARAMS_DIR / f"{profile}.yml"
    if not path.exists():
        known = sorted(p.stem for p in PARAMS_DIR.glob("*.yml"))
        raise ValueError(f"profile={profile!r} is unknown; accepted values: {known} or a YAML file")
    data = yaml.safe_load(path.read_text()) or {}
    return {**(data.get("all") or {}), **(data.get(name) or {})}


def _read_source(path: Path):
    import jupytext

    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def notebook_parameters(path: Path) -> dict[str, Any]:
    """Names and default values of the notebook's ``parameters`` cell."""
    nb = _read_source(path)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise NotebookError(f"{path.name} must have exactly one cell tagged 'parameters', found {len(cells)}")
    scope: dict[str, Any] = {}
    exec(compile(cells[0].source, f"{path.name}:parameters", "exec"), {}, scope)
    return {k: v for k, v in scope.items() if not k.startswith("_")}


def _check_parameters(path: Path, params: dict[str, Any]) -> None:
    defaults = notebook_parameters(path)
    for key, value in params.items():
        if key not in defaults:
            raise ValueError(f"parameter {key!r} is unknown to {path.stem}; accepted: {sorted(defaults)}")
        default = defaults[key]
        if default is None or value is None:
            continue
        ok = isinstance(value, type(default)) or (isinstance(default, float) and isinstance(value, int)
                                                  and not isinstance(value, bool))
        if isinstance(default, bool) != isinstance(value, bool):
            ok = False
        if not ok:
            raise ValueError(f"parameter {key!r} of {path.stem} must be {type(default).__name__} "
                             f"(default {default!r}), got {value!r}")


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "antinb", "notebooks"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (out.stdout.strip() + ("+dirty" if dirty else "")) or None
    except (OSError, subprocess.SubprocessError):
        return None


def _environment() -> dict[str, Any]:
    import diffusers
    import torch

    from .._version import __version__

    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    else:
        device = f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return {"device": device, "python": platform.python_version(), "torch": torch.__version__,
            "diffusers": diffusers.__version__, "antinb": __version__, "platform": platform.platform()}


def stamp_of(executed: Path) -> dict[str, Any]:
    """The provenance stamp of an executed notebook (``{}`` if it has none)."""
    nb = json.loads(Path(executed).read_text())
    return nb.get("metadata", {}).get("antinb", {})


def is_stale(executed: Path, source: Path | None = None) -> str | None:
    """``None`` when ``executed`` is fresh, otherwise the reason it is stale."""
    executed = Path(executed)
    if not executed.exists():
        return f"{executed.name} has not been executed"
    stamp = stamp_of(executed)
    source = source or NOTEBOOK_DIR / f"{executed.stem}.py"
    if not stamp:
        return f"{executed.name} has no provenance stamp"
    if stamp.get("source_hash") != source_hash(source):
        return f"{executed.name} is stale: {source.name} changed since it was executed"
    if stamp.get("package_hash") != package_hash():
        return f"{executed.name} is stale: antinb changed since it was executed"
    return None


def _provenance_cell(stamp: dict[str, Any]):
    import nbformat

    params = "\n".join(f"| `{k}` | `{v!r}` |" for k, v in stamp["parameters"].items())
    env = stamp["environment"]
    text = (
        "## Provenance\n\n"
        f"Executed {stamp['finished']} with profile **{stamp['profile']}** on {env['device']} in "
        f"{stamp['wall_s']:.0f} s (antinb {env['antinb']}, torch {env['torch']}, diffusers {env['diffusers']}, "
        f"Python {env['python']}; git {stamp['git_commit']}; source hash `{stamp['source_hash']}`, "
        f"package hash `{stamp['package_hash']}`).\n\n| parameter | value |\n|---|---|\n{params}\n")
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = ["antinb-provenance"]
    return cell


def run(notebook: str | Path, *, profile: str = "ci", parameters: dict[str, Any] | None = None,
        output_dir: str | Path | None = None, progress: bool = False) -> dict[str, Any]:
    """Execute one notebook; returns its stamp (with ``records``). Raises :class:`NotebookError`."""
    import nbformat
    import papermill as pm

    src = resolve(str(notebook))
    name = src.stem
    params = {**profile_parameters(profile, name), **(parameters or {})}
    _check_parameters(src, params)
    out_dir = Path(output_dir) if output_dir else EXECUTED_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"{name}.ipynb"
    started = _dt.datetime.now(_dt.timezone.utc)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix=f"antinb-{name}-") as tmp:
        tmp = Path(tmp)
        src_nb = tmp / f"{name}.ipynb"
        nbformat.write(_read_source(src), src_nb)
        rec_file = tmp / "records.jsonl"
        rec_file.touch()
        old_env = os.environ.get(RECORD_ENV)
        os.environ[RECORD_ENV] = str(rec_file)
        executed = tmp / f"{name}.executed.ipynb"
        try:
            pm.execute_notebook(str(src_nb), str(executed), parameters=params, kernel_name="python3",
                                cwd=str(ROOT), progress_bar=progress, log_output=False)
        except Exception as err:  # papermill raises PapermillExecutionError for a failing cell
            if executed.exists():
                os.replace(executed, out_dir / f"{name}.failed.ipynb")
            cause = getattr(err, "ename", type(err).__name__)
            evalue = getattr(err, "evalue", str(err))
            where = out_dir / f"{name}.failed.ipynb"
            raise NotebookError(f"{name} failed ({cause}: {evalue})"
                                + (f"; see {where}" if where.exists() else "")) from err
        finally:
            if old_env is None:
                os.environ.pop(RECORD_ENV, None)
            else:
                os.environ[RECORD_ENV] = old_env
        recs: dict[str, Any] = {}
        for line in rec_file.read_text().splitlines():
            item = json.loads(line)
            recs[item["name"]] = item["value"]
        stamp = {"notebook": name, "profile": profile, "parameters": params, "source_hash": source_hash(src),
                 "package_hash": package_hash(), "environment": _environment(), "git_commit": _git_commit(),
                 "started": started.isoformat(timespec="seconds"),
                 "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                 "wall_s": round(time.time() - t0, 1), "records": recs}
        nb = nbformat.read(executed, as_version=4)
        nb.metadata["antinb"] = stamp
        nb.cells.append(_provenance_cell(stamp))
        nbformat.write(nb, executed)
        os.replace(executed, final)
    summary = out_dir / f"{name}.json"
    summary.with_suffix(".json.tmp").write_text(json.dumps(stamp, indent=1))
    os.replace(summary.with_suffix(".json.tmp"), summary)
    failed = out_dir / f"{name}.failed.ipynb"
    if failed.exists():
        failed.unlink()
    return stamp


def _parse_override(value: str) -> Any:
    return yaml.safe_load(value)


def run_cli(notebook: str, *, profile: str, overrides: list[list[str]], output_dir: str | None,
            stale_only: bool = False) -> int:
    """Entry point of ``antinb run``: returns the exit code (non-zero if any notebook failed)."""
    names = notebooks() if notebook == "all" else [resolve(notebook).stem]
    params = {k: _parse_override(v) for k, v in overrides}
    failures = 0
    for name in names:
        out_dir = Path(output_dir) if output_dir else EXECUTED_DIR
        if stale_only and is_stale(out_dir / f"{name}.ipynb") is None and not params:
            print(f"{name}: fresh, skipped")
            continue
        # parameters given with -p apply to every notebook that has them when running 'all'
        own = params if notebook != "all" else {k: v for k, v in params.items()
                                                 if k in notebook_parameters(NOTEBOOK_DIR / f"{name}.py")}
        print(f"{name}: running with profile {profile} ...", flush=True)
        try:
            stamp = run(name, profile=profile, parameters=own, output_dir=out_dir)
        except (NotebookError, ValueError) as err:
            print(f"{name}: FAILED: {err}", file=sys.stderr, flush=True)
            failures += 1
            continue
        print(f"{name}: done in {stamp['wall_s']:.0f} s, {len(stamp['records'])} numbers recorded", flush=True)
    return 1 if failures else 0
