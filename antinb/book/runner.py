"""Notebook execution: jupytext sources -> papermill -> executed, stamped notebooks.

``run("01_correlation", profile="ci")`` reads ``notebooks/01_correlation.py`` (jupytext percent
format), injects the profile's parameters (``notebooks/params/<profile>.yml``) plus overrides with
papermill, executes it, and writes ``<output_dir>/01_correlation.ipynb`` with a provenance stamp
in ``metadata.antinb`` (what the chapter depends on, see below; device, versions, git commit,
time) and every number the notebook recorded with :func:`record`; the same stamp and numbers go
to ``<output_dir>/01_correlation.json``.

Only the ``book`` profile writes into ``book/executed/`` (what the book publishes) by default;
any other profile, or the book profile with overridden parameters, goes to
``_build/runs/<profile>/`` unless ``output_dir`` says otherwise (:func:`default_output_dir`).

Staleness
---------
:func:`is_stale` says why an executed copy no longer shows what its inputs would give now. The
stamp holds, per chapter:

- ``source_hash``: the bytes of ``notebooks/NN_name.py`` (markdown included: it is the page);
- ``profile`` and ``parameters``: compared with the profile's parameters as they read now;
- ``modules`` and ``code_hash``: the antinb modules the chapter imports, transitively (its own
  import statements, then each module's, including imports inside functions, relative imports
  and the packages' ``__init__`` files; :func:`code_modules`), each hashed in a normalised form
  that ignores docstrings, comments and formatting (:func:`module_hash`);
- ``weights``: fingerprints of the model weights it loaded (:func:`antinb.models.load` notes each
  folder under the reserved record prefix :data:`WEIGHTS_PREFIX`) and of the shipped weights its
  modules read (:data:`MODULE_WEIGHTS`);
- ``packages``: the versions of :data:`KEY_PACKAGES`, of Python and of antinb.

Nothing already written is lost: the executed copy is written to a temporary file and renamed
over the previous one only when execution succeeded; a failed run leaves the previous copy in
place and writes ``<name>.failed.ipynb`` beside it for inspection.
"""

from __future__ import annotations

import ast
import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from .._code import PACKAGE, closure, imported, module_hash
from .._files import write_atomic
from .reports import bench_throughput
from ..provenance import (KEY_PACKAGES, MODULE_WEIGHTS, package_versions, weight_changes, weights_fingerprints)
from ..records import RECORD_ENV, USAGE_RECORD, record, records

__all__ = ["record", "records", "run", "run_cli", "NotebookError", "ROOT", "NOTEBOOK_DIR", "EXECUTED_DIR",
           "RUNS_DIR", "PUBLISHED_PROFILE", "notebooks", "resolve", "profile_parameters", "default_output_dir",
           "source_hash", "module_hash", "code_modules", "code_hash", "weights_fingerprints", "package_versions",
           "dependencies", "stamp_of", "is_stale", "notebook_parameters", "KEY_PACKAGES", "MODULE_WEIGHTS",
           "WEIGHTS_PREFIX", "dry_run", "kernel_transport", "MEASUREMENTS_DIR", "measurements_stem", "chapter_state",
           "measure_closure"]

ROOT = Path(__file__).resolve().parents[2]


def _installed_notebooks() -> Path | None:
    """The notebooks a (non-editable) install ships as data files, ``<prefix>/share/antinb/notebooks``."""
    import sysconfig

    package = Path(__file__).resolve().parents[1]  # <prefix>/lib/pythonX.Y/site-packages/antinb
    # the environment's prefix, the prefix the package lies under, and a `pip install --target DIR` (DIR/share/)
    for prefix in (Path(sysconfig.get_path("data")), package.parents[3], package.parent):
        folder = prefix / "share" / "antinb" / "notebooks"
        if (folder / "params").is_dir():
            return folder
    return None


#: True in a source checkout (or an editable install): the book lives beside the package.
IN_CHECKOUT = (ROOT / "notebooks" / "params").is_dir()
NOTEBOOK_DIR = ROOT / "notebooks" if IN_CHECKOUT else (_installed_notebooks() or ROOT / "notebooks")
PARAMS_DIR = NOTEBOOK_DIR / "params"
#: Where the published (``book`` profile) executed chapters live.
EXECUTED_DIR = ROOT / "book" / "executed"
#: Where runs under any other profile go by default: ``_build/runs/<profile>/`` (git-ignored); an
#: installed package has no book beside it and writes to ``./antinb-runs/<profile>/`` instead.
RUNS_DIR = ROOT / "_build" / "runs" if IN_CHECKOUT else Path.cwd() / "antinb-runs"
#: The only profile whose runs the book publishes.
PUBLISHED_PROFILE = "book"

#: The folder of the package whose modules a chapter's code closure follows (tests point it at a copy).
PACKAGE_DIR = Path(__file__).resolve().parents[1]

#: :func:`antinb.models.load` records each folder it loads under this prefix while the runner
#: collects records (``_inputs/weights/<model>``); these are inputs, not results, and go to the
#: stamp's ``weights``, never to its ``records``.
WEIGHTS_PREFIX = "_inputs/weights/"

#: Where the published chapters' measurements are saved (:mod:`antinb.measurements`), committed beside them:
#: a fresh clone re-renders the book from them without sampling.
MEASUREMENTS_DIR = ROOT / "book" / "measurements"

#: Where the book profile's runs keep their shared sample cache (:mod:`antinb.cache`) unless
#: ``$ANTINB_CACHE`` names another folder; other profiles use a cache only when that variable is set.
CACHE_DIR = ROOT / "_build" / "cache"

#: Code of the cell appended to every run (and removed from the executed copy): the kernel's network
#: evaluations and sample-cache counts, moved to the stamp's ``usage``.
USAGE_CELL = "import antinb.cache\nantinb.cache.report_usage();"


class NotebookError(RuntimeError):
    """A notebook could not be run: bad parameter, missing model, or a failing cell."""


def notebooks() -> list[str]:
    """Names of the notebook sources (``NN_name``), in book order."""
    found = sorted(p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
    if not found:
        raise NotebookError(f"no notebooks in {NOTEBOOK_DIR}: install antinb from its repository (pip install .) "
                            "or run from a checkout")
    return found


def resolve(notebook: str) -> Path:
    """A notebook source from its name (``01_correlation``), number (``01``), topic or path."""
    p = Path(notebook)
    if p.suffix == ".py" and p.exists():
        return p.resolve()
    for name in notebooks():
        if notebook in (name, name[:2], name[3:]):
            return NOTEBOOK_DIR / f"{name}.py"
    raise ValueError(f"notebook={notebook!r} is unknown; accepted values: {notebooks()} (or 'all')")


def default_output_dir(profile: str, overrides: dict[str, Any] | None = None) -> Path:
    """``book/executed`` for the book profile as it stands, ``_build/runs/<profile>`` otherwise (an
    installed package, with no book beside it: ``./antinb-runs/<profile>``).

    Only what the book publishes goes to :data:`EXECUTED_DIR`: a run under another profile, or
    under the book profile with overridden parameters (``book-custom``), never replaces a
    published chapter unless its output folder is given explicitly.
    """
    if profile == PUBLISHED_PROFILE and not overrides and IN_CHECKOUT:
        return EXECUTED_DIR
    stem = Path(profile).stem if profile.endswith((".yml", ".yaml")) else profile
    return RUNS_DIR / (f"{stem}-custom" if profile == PUBLISHED_PROFILE else stem)


# --------------------------------------------------------------------------- what a chapter depends on


def source_hash(path: Path) -> str:
    """Hash of a notebook source's bytes: code and markdown (the markdown is the rendered page)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _parse_notebook(path: Path) -> ast.AST:
    text = Path(path).read_text()
    try:
        return ast.parse(text, str(path))
    except SyntaxError:  # magics or shell escapes in a cell: parse the code cells without them
        nb = _read_source(path)
        code = "\n".join("\n".join(ln for ln in c.source.splitlines() if not ln.lstrip().startswith(("%", "!")))
                         for c in nb.cells if c.cell_type == "code")
        return ast.parse(code, str(path))


def code_modules(source: Path, package_dir: Path | None = None) -> dict[str, str]:
    """``{module: module_hash}`` of every antinb module the notebook ``source`` runs.

    The closure of the notebook's import statements over the modules' own imports; importing
    ``antinb.a.b`` also runs ``antinb/__init__.py`` and ``antinb/a/__init__.py``, so parent
    packages are part of it.
    """
    return closure(imported(_parse_notebook(source)), Path(package_dir or PACKAGE_DIR))


def code_hash(modules: dict[str, str]) -> str:
    """One hash of a chapter's code closure (``{module: module_hash}``)."""
    text = "\n".join(f"{m}:{h}" for m, h in sorted(modules.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def dependencies(source: Path, loaded: dict[str, dict[str, Any]] | None = None,
                 package_dir: Path | None = None) -> dict[str, Any]:
    """The stamp's staleness fields for notebook ``source`` (without profile and parameters)."""
    modules = code_modules(source, package_dir)
    return {"source_hash": source_hash(source), "code_hash": code_hash(modules), "modules": modules,
            "weights": weights_fingerprints(loaded or {}, modules, Path(package_dir or PACKAGE_DIR)),
            "packages": package_versions()}


def profile_parameters(profile: str, name: str) -> dict[str, Any]:
    """Parameters of notebook ``name`` under ``profile`` (``ci``, ``book``, ``full`` or a YAML path)."""
    path = Path(profile) if profile.endswith((".yml", ".yaml")) else PARAMS_DIR / f"{profile}.yml"
    if not path.exists():
        known = sorted(p.stem for p in PARAMS_DIR.glob("*.yml"))
        raise ValueError(f"profile={profile!r} is unknown; accepted values: {known} or a YAML file")
    try:
        data = yaml.safe_load(path.read_bytes()) or {}
    except (yaml.YAMLError, OSError) as err:
        raise ValueError(f"profile {path} is corrupt or unreadable ({' '.join(str(err).split())})") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k) or {}, dict) for k in ("all", name)):
        raise ValueError(f"profile {path} must map 'all' and notebook names to parameter mappings")
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
        if isinstance(default, int) and not isinstance(default, bool) and default >= 0:
            least = 1 if _is_count(key) else 0  # a count, a size, steps: at least one; others not negative
            if value < least:
                raise ValueError(f"parameter {key!r} of {path.stem} must be an integer >= {least} "
                                 f"(default {default!r}), got {value!r}")


def _is_count(key: str) -> bool:
    """Whether parameter ``key`` counts something that must be at least one (``n_pairs``, ``ddim_steps``)."""
    return (key.startswith("n_") or key.endswith(("_n", "steps", "replicates")) or key in ("max_batch_size", "processes"))


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


#: Stamp fields staleness compares; a stamp without one of them predates per-chapter staleness.
STAMP_FIELDS = ("source_hash", "profile", "parameters", "code_hash", "modules", "weights", "packages")


def _jsonish(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(key, old, new)`` for every key whose value differs (``...`` where a side lacks it)."""
    return [(k, old.get(k, ...), new.get(k, ...)) for k in sorted(set(old) | set(new))
            if old.get(k, ...) != new.get(k, ...)]


def _some(items: list[str], n: int = 3) -> str:
    return "; ".join(items[:n]) + (f" (and {len(items) - n} more)" if len(items) > n else "")


def _parameter_changes(profile: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = []
    for key, was, now in _differences(old, new):
        if was is ...:
            out.append(f"profile {profile!r} now sets parameter {key!r} = {now!r}")
        elif now is ...:
            out.append(f"parameter {key!r} was {was!r}, which profile {profile!r} does not set (now)")
        else:
            out.append(f"parameter {key!r} is {now!r} in profile {profile!r}, {was!r} in the executed copy")
    return out


def is_stale(executed: Path, source: Path | None = None, *, profile: str | None = None) -> str | None:
    """``None`` when ``executed`` is fresh, otherwise the reason it is stale.

    Stale when the copy is missing or unstamped, was not executed exactly as ``profile`` says
    (when given: another profile, or parameters overridden with ``-p``), or when any of its inputs
    changed since: its source, its profile's parameters, the key package versions, the normalised
    code of an antinb module it runs, or the weights it loaded. The reason names what changed.
    """
    executed = Path(executed)
    if not executed.exists():
        return f"{executed.name} has not been executed"
    try:
        stamp = stamp_of(executed)
    except (OSError, ValueError) as err:
        return f"{executed.name} cannot be read ({err})"
    if not stamp:
        return f"{executed.name} has no provenance stamp"
    stale = f"{executed.name} is stale: "
    if profile is not None and stamp.get("profile") != profile:
        return stale + f"it was executed with profile {stamp.get('profile')!r}, not {profile!r}"
    missing = [k for k in STAMP_FIELDS if k not in stamp]
    if missing:
        return stale + f"its stamp predates per-chapter staleness (it has no {', '.join(missing)})"
    source = Path(source) if source else NOTEBOOK_DIR / f"{executed.stem}.py"
    if not source.exists():
        return stale + f"its source {source} does not exist"
    if stamp["source_hash"] != source_hash(source):
        return stale + f"{source.name} changed since it was executed"
    try:
        now = _jsonish(profile_parameters(stamp["profile"], stamp.get("notebook") or source.stem))
    except ValueError as err:
        return stale + f"its profile cannot be read ({err})"
    overrides = {k: v for k, v in stamp.get("overrides", {}).items() if now.get(k, ...) != v}
    if profile is not None and overrides:
        return stale + (f"it ran with parameters overridden ({', '.join(f'{k}={v!r}' for k, v in overrides.items())}), "
                        f"not as profile {profile!r} sets them")
    changes = _parameter_changes(stamp["profile"], stamp["parameters"], {**now, **stamp.get("overrides", {})})
    if changes:
        return stale + _some(changes)
    changes = [f"{name} {was if was is not ... else 'absent'} -> {now if now is not ... else 'absent'}"
               for name, was, now in _differences(stamp["packages"], package_versions())]
    if changes:
        return stale + "package versions changed: " + _some(changes)
    modules = code_modules(source)
    changes = []
    for mod, was, now in _differences(stamp["modules"], modules):
        changes.append(f"{mod} is no longer used" if now is ... else
                       f"it now also runs {mod}" if was is ... else f"the code of {mod} changed")
    if changes:
        return stale + _some(changes)
    changes = weight_changes(stamp["weights"], PACKAGE_DIR)
    if changes:
        return stale + _some(changes)
    return None


def hide_default_parameters(nb) -> None:
    """Tag the notebook's default ``parameters`` cell ``remove-cell``: the book shows only the parameters the
    run used (papermill's ``injected-parameters`` cell) and the provenance table lists all of them."""
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "parameters" in tags and "injected-parameters" not in tags and "remove-cell" not in tags:
            tags.append("remove-cell")


def _provenance_cell(stamp: dict[str, Any]):
    import nbformat

    params = "\n".join(f"| `{k}` | `{v!r}` |" for k, v in stamp["parameters"].items())
    env = stamp["environment"]
    weights = ", weights " + ", ".join(f"`{w}`" for w in stamp["weights"]) if stamp["weights"] else ""
    use = stamp.get("usage") or {}
    work = ""
    if "network_evaluations" in use:
        work = f" It made {use['network_evaluations']:,} network evaluations"
        work += (f"; the sample cache served {use['rows_read']:,} images, saving {use['evaluations_saved']:,} more."
                 if use.get("cache") else " (no sample cache).")
    m = stamp.get("measurement") or {}
    if m:
        work += (f" Its measurements were made in this run and saved (`{m['file']}`)." if m.get("measured") else
                 f" It was rendered from the measurements saved on {m.get('saved') or 'an earlier run'} "
                 f"(`{m['file']}`), which still match its parameters, code, weights and packages.")
    text = (
        "## Provenance\n\n"
        f"Executed {stamp['finished']} with profile **{stamp['profile']}** on {env['device']} in "
        f"{stamp['wall_s']:.0f} s (antinb {env['antinb']}, torch {env['torch']}, diffusers {env['diffusers']}, "
        f"Python {env['python']}; git {stamp['git_commit']}; source hash `{stamp['source_hash']}`, "
        f"code hash `{stamp['code_hash']}` of {len(stamp['modules'])} antinb modules"
        f"{weights}).{work}\n\n| parameter | value |\n|---|---|\n{params}\n")
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = ["antinb-provenance"]
    return cell


def measurements_stem(name: str, out_dir: Path) -> Path:
    """Where chapter ``name`` executed into ``out_dir`` saves its measurement: :data:`MEASUREMENTS_DIR` for
    the published copies (``book/executed``), ``<out_dir>/measurements/`` for any other run."""
    if Path(out_dir).resolve() == EXECUTED_DIR.resolve():
        return MEASUREMENTS_DIR / name
    return Path(out_dir) / "measurements" / name


def cache_dir(profile: str) -> Path | None:
    """The sample cache of a run under ``profile``: ``$ANTINB_CACHE`` when set (empty: none), else
    :data:`CACHE_DIR` for the published profile and none for the others."""
    from ..cache import CACHE_ENV

    if CACHE_ENV in os.environ:
        return Path(os.environ[CACHE_ENV]) if os.environ[CACHE_ENV] else None
    return CACHE_DIR if profile == PUBLISHED_PROFILE else None


#: Longest path of a Unix socket (macOS 104 bytes with the terminating zero, Linux 108).
_SOCKET_PATH_MAX = 103


def kernel_transport(folder: Path) -> dict[str, Any]:
    """Keyword arguments for papermill that run the kernel over Unix sockets in ``folder``: no TCP port
    can then be taken by another kernel starting at the same moment (chapters run side by side, the
    test suite's workers), and ipykernel has no unencrypted-TCP warning to print. Empty (TCP, papermill's
    default) on Windows or where ``folder``'s path is too long for a socket."""
    sockets = Path(folder) / "kernel.json"
    if os.name == "nt" or len(os.fsencode(str(sockets.with_name("kernel-ipc-5")))) > _SOCKET_PATH_MAX:
        return {}
    from traitlets.config import Config

    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.connection_file = str(sockets)  # the sockets are kernel-ipc-1..5 beside it
    return {"config": config}


def run(notebook: str | Path, *, profile: str = "ci", parameters: dict[str, Any] | None = None,
        output_dir: str | Path | None = None, progress: bool = False,
        cell_timeout: float | None = None) -> dict[str, Any]:
    """Execute one notebook; returns its stamp (with ``records``). Raises :class:`NotebookError`.

    The kernel samples through the shared cache :func:`cache_dir` (:mod:`antinb.cache`); the stamp's
    ``usage`` gives the network evaluations the chapter made and those its cache reads saved.

    ``cell_timeout`` (seconds) fails the run when any one cell runs longer (papermill's
    ``execution_timeout``); ``None`` waits for ever.

    ``output_dir`` defaults to :func:`default_output_dir`: ``book/executed`` only for the ``book``
    profile without overridden parameters.
    """
    import nbformat
    import papermill as pm

    if cell_timeout is not None and (isinstance(cell_timeout, bool) or not isinstance(cell_timeout, (int, float))
                                     or not cell_timeout > 0):
        raise ValueError(f"cell_timeout={cell_timeout!r} must be a number of seconds > 0")
    src = resolve(str(notebook))
    name = src.stem
    params = {**profile_parameters(profile, name), **(parameters or {})}
    _check_parameters(src, params)
    out_dir = Path(output_dir) if output_dir else default_output_dir(profile, parameters)
    # what the chapter depends on, taken before it runs: an edit during the run leaves the copy stale
    source_digest, modules = source_hash(src), code_modules(src)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"{name}.ipynb"
    started = _dt.datetime.now(_dt.timezone.utc)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix=f"antinb-{name}-") as tmp:
        tmp = Path(tmp)
        src_nb = tmp / f"{name}.ipynb"
        source_nb = _read_source(src)
        source_nb.cells.append(nbformat.v4.new_code_cell(USAGE_CELL, metadata={"antinb_usage": True}))
        nbformat.write(source_nb, src_nb)
        rec_file = tmp / "records.jsonl"
        rec_file.touch()
        from ..cache import CACHE_ENV
        from ..measurements import MEASURE_RECORD, MEASUREMENTS_ENV

        cache = cache_dir(profile)
        old_env = {k: os.environ.get(k) for k in (RECORD_ENV, CACHE_ENV, MEASUREMENTS_ENV)}
        os.environ[RECORD_ENV] = str(rec_file)
        os.environ[CACHE_ENV] = str(cache) if cache else ""
        os.environ[MEASUREMENTS_ENV] = str(measurements_stem(name, out_dir))
        executed = tmp / f"{name}.executed.ipynb"
        try:
            # shutdown_kernel="immediate": an interrupted run (Ctrl-C, SIGTERM) kills its kernel at once, which
            # then writes nothing more (a graceful shutdown of a busy kernel printed its tracebacks)
            pm.execute_notebook(str(src_nb), str(executed), parameters=params, kernel_name="python3",
                                cwd=str(ROOT), progress_bar=progress, log_output=False,
                                execution_timeout=cell_timeout, shutdown_kernel="immediate", **kernel_transport(tmp))
        except Exception as err:  # papermill raises PapermillExecutionError for a failing cell
            if executed.exists():  # a new file renamed into place: a link there is replaced, not followed
                write_atomic(out_dir / f"{name}.failed.ipynb", executed.read_bytes())
            cause = getattr(err, "ename", type(err).__name__)
            evalue = getattr(err, "evalue", str(err))
            where = out_dir / f"{name}.failed.ipynb"
            raise NotebookError(f"{name} failed ({cause}: {evalue})"
                                + (f"; see {where}" if where.exists() else "")) from err
        finally:
            for k, v in old_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        recs: dict[str, Any] = {}
        usage: dict[str, Any] = {}
        measured: dict[str, Any] = {}
        loaded: dict[str, dict[str, Any]] = {}
        for line in rec_file.read_text().splitlines():
            item = json.loads(line)
            if item["name"].startswith(WEIGHTS_PREFIX):  # an input (weights loaded), not a result
                loaded[item["name"][len(WEIGHTS_PREFIX):]] = item["value"]
            elif item["name"] == USAGE_RECORD:
                usage = dict(item["value"], cache=str(cache) if cache else None)
            elif item["name"] == MEASURE_RECORD:
                measured = item["value"]
            else:
                recs[item["name"]] = item["value"]
        stamp = {"notebook": name, "profile": profile, "parameters": params,
                 "overrides": _jsonish(parameters or {}), "source_hash": source_digest,
                 "code_hash": code_hash(modules), "modules": modules,
                 "weights": weights_fingerprints(loaded, modules, PACKAGE_DIR), "packages": package_versions(),
                 "environment": _environment(), "git_commit": _git_commit(),
                 "started": started.isoformat(timespec="seconds"),
                 "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                 "wall_s": round(time.time() - t0, 1), "usage": usage, "measurement": _relative(measured),
                 "records": recs}
        nb = nbformat.read(executed, as_version=4)
        nb.cells = [c for c in nb.cells if not c.metadata.get("antinb_usage")]
        hide_default_parameters(nb)
        nb.metadata["antinb"] = stamp
        nb.cells.append(_provenance_cell(stamp))
        text = nbformat.writes(nb)
        write_atomic(final, text if text.endswith("\n") else text + "\n")  # mkstemp beside it, renamed
    write_atomic(out_dir / f"{name}.json", json.dumps(stamp, indent=1))  # no fixed temporary name
    failed = out_dir / f"{name}.failed.ipynb"
    if failed.exists():
        failed.unlink()
    return stamp


def _relative(measured: dict[str, Any]) -> dict[str, Any]:
    """The measure call's note with its file relative to the checkout when it lies in it (stamps are committed)."""
    out = dict(measured)
    if out.get("file"):
        path = Path(out["file"]).resolve()
        out["file"] = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
    return out


def _parse_override(value: str, name: str | None = None) -> Any:
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as err:
        where = f"-p {name} " if name else "-p value "
        problem = " ".join(str(getattr(err, "problem", None) or err).split())
        raise ValueError(f"{where}{value!r} is not a YAML value ({problem}); quote a string, write a list as "
                         "[1, 2]") from None


def run_cli(notebook: str, *, profile: str, overrides: list[list[str]], output_dir: str | None,
            stale_only: bool = False, cell_timeout: float | None = None) -> int:
    """Entry point of ``antinb run``: returns the exit code (non-zero if any notebook failed).

    Without ``output_dir`` the executed copies go to :func:`default_output_dir` (``book/executed``
    only for the ``book`` profile without ``-p`` overrides). ``notebook`` is a name, a number, a
    topic, a path to a notebook source anywhere, or ``all``. Every parameter (unknown, mistyped, out of
    range) and ``cell_timeout`` is checked for every notebook before any runs: a ``ValueError``.
    """
    if notebook == "all":
        sources = {n: NOTEBOOK_DIR / f"{n}.py" for n in notebooks()}
    else:
        src = resolve(notebook)
        sources = {src.stem: src}
    names = list(sources)
    params = {k: _parse_override(v, k) for k, v in overrides}
    profile_parameters(profile, names[0])  # an unknown profile fails before anything runs
    if cell_timeout is not None and (isinstance(cell_timeout, bool) or not isinstance(cell_timeout, (int, float))
                                     or not cell_timeout > 0):
        raise ValueError(f"--cell-timeout {cell_timeout!r} must be a number of seconds > 0")
    owns: dict[str, dict[str, Any]] = {}
    for name, src in sources.items():  # parameters given with -p apply to every notebook that has them under 'all'
        owns[name] = params if notebook != "all" else {k: v for k, v in params.items() if k in notebook_parameters(src)}
        _check_parameters(src, {**profile_parameters(profile, name), **owns[name]})
    unknown = [k for k in params if not any(k in own for own in owns.values())]
    if unknown:
        raise ValueError(f"parameter {unknown[0]!r} is unknown to every notebook")
    out_dir = Path(output_dir) if output_dir else default_output_dir(profile, params)
    if not output_dir and out_dir != EXECUTED_DIR:
        print(f"profile {profile}{' with overrides' if params else ''}: executed copies go to {out_dir} "
              f"(only the book profile's own runs go to {EXECUTED_DIR}; --output-dir chooses)", flush=True)
    failures = 0
    for name in names:
        if stale_only and not params and is_stale(out_dir / f"{name}.ipynb", sources[name], profile=profile) is None:
            print(f"{name}: fresh, skipped")
            continue
        print(f"{name}: running with profile {profile} ...", flush=True)
        try:
            stamp = run(sources[name], profile=profile, parameters=owns[name], output_dir=out_dir,
                        cell_timeout=cell_timeout)
        except (NotebookError, ValueError) as err:
            print(f"{name}: FAILED: {err}", file=sys.stderr, flush=True)
            failures += 1
            continue
        print(f"{name}: done in {stamp['wall_s']:.0f} s, {len(stamp['records'])} numbers recorded", flush=True)
    return 1 if failures else 0


# ------------------------------------------------------------------------------------------ dry run


def _finding_call(source: Path, params: dict[str, Any]) -> tuple[Any, Any]:
    """The findings module a notebook measures and the parameters object of its ``<module>.measure(...)``
    call: the notebook's one ``<module>.Params(...)`` call evaluated with the notebook's parameters."""
    import importlib

    tree = _parse_notebook(source)
    aliases = {(a.asname or a.name): a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               and node.module == f"{PACKAGE}.findings" for a in node.names}

    def calls(attr: str) -> list[ast.Call]:
        return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == attr and isinstance(node.func.value, ast.Name) and node.func.value.id in aliases]

    measures, made = calls("measure"), calls("Params")
    if len(measures) != 1 or len(made) != 1:
        raise NotebookError(f"{source.stem} must call measure(Params(...)) of one antinb.findings module exactly "
                            f"once, found {len(measures)} measure and {len(made)} Params calls")
    call = made[0]

    def value(expr: ast.expr) -> Any:
        return eval(compile(ast.Expression(expr), f"{source.name}:Params", "eval"), {}, dict(params))

    module = importlib.import_module(f"{PACKAGE}.findings.{aliases[call.func.value.id]}")
    return module, module.Params(*[value(a) for a in call.args], **{k.arg: value(k.value) for k in call.keywords})


def chapter_state(name: str, *, profile: str = PUBLISHED_PROFILE, out_dir: Path | None = None
                  ) -> tuple[str, str | None]:
    """``("fresh", None)``, ``("re-render", why)`` or ``("re-measure", why)`` for chapter ``name``'s executed copy
    in ``out_dir`` (default: where ``profile``'s runs go).

    *Re-measure* when the saved measurement no longer matches what the chapter's ``measure`` would return
    (parameters, the code ``measure`` runs, weights or packages changed, or none is saved); *re-render* when
    only the page would change (its prose or code cells, presentation code, or an executed copy missing);
    the runner's re-run then reads the saved measurement and makes no network evaluation.
    """
    from ..measurements import why_stale

    src = resolve(name)
    out_dir = Path(out_dir) if out_dir else default_output_dir(profile)
    params = profile_parameters(profile, src.stem)
    module, p = _finding_call(src, {**notebook_parameters(src), **params})
    reason = why_stale(measurements_stem(src.stem, out_dir), module.__name__, p, PACKAGE_DIR)
    if reason is not None:
        return "re-measure", reason
    reason = is_stale(out_dir / f"{src.stem}.ipynb", src, profile=profile)
    return ("fresh", None) if reason is None else ("re-render", reason)


def measure_closure(name: str) -> dict[str, str]:
    """The code chapter ``name``'s measurement depends on (:func:`antinb._code.definition_closure`)."""
    from .._code import definition_closure

    src = resolve(name)
    module, _ = _finding_call(src, notebook_parameters(src))
    return definition_closure(module.__name__, ("measure",), PACKAGE_DIR)


def dry_run(notebook: str, profile: str = "ci", overrides: dict[str, Any] | list[list[str]] | None = None
            ) -> list[dict[str, Any]]:
    """What ``antinb run`` would compute, without loading a weight or running anything.

    For each chapter (``notebook`` a name, number or ``"all"``), the parameters are resolved as
    :func:`run_cli` resolves them (profile, then overrides; under ``"all"`` each notebook takes the
    overrides it has) and checked like a real run; the notebook's own ``finding.run(...)`` arguments
    are evaluated with them and passed to the module's ``cost(...)``. ``overrides``: parsed values,
    or ``[NAME, VALUE]`` pairs read as YAML as ``-p`` reads them. One row per chapter and model:
    ``notebook``, ``profile``, ``model``, ``evaluations`` (image rows through the network), ``device``
    (the ``device`` parameter, ``auto`` resolved here), and ``seconds``/``bench`` from the committed
    bench report of that device type (:func:`antinb.book.reports.bench_throughput`), ``None`` when it has no row for the
    model.
    """
    from ..models import resolve_device

    params = dict(overrides) if isinstance(overrides, dict) else {k: _parse_override(v, k) for k, v in overrides or []}
    sources = [NOTEBOOK_DIR / f"{n}.py" for n in notebooks()] if notebook == "all" else [resolve(notebook)]
    profile_parameters(profile, sources[0].stem)  # an unknown profile fails first, as in run_cli
    rows = []
    for src in sources:
        defaults = notebook_parameters(src)
        own = params if notebook != "all" else {k: v for k, v in params.items() if k in defaults}
        chosen = {**profile_parameters(profile, src.stem), **own}
        _check_parameters(src, chosen)
        module, p = _finding_call(src, {**defaults, **chosen})
        device = resolve_device(chosen.get("device", defaults.get("device", "auto"))).type
        for model, n in module.cost(p).items():
            bench = bench_throughput(model, device)
            rows.append({"notebook": src.stem, "profile": profile, "model": model, "evaluations": int(n),
                         "device": device, "seconds": None if bench is None else n * bench[0] / 1000,
                         "bench": None if bench is None else bench[1]})
    return rows
