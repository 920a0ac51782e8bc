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
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from .._code import module_hash, parsed
from ..records import RECORD_ENV, USAGE_RECORD, record, records

__all__ = ["record", "records", "run", "run_cli", "NotebookError", "ROOT", "NOTEBOOK_DIR", "EXECUTED_DIR",
           "RUNS_DIR", "PUBLISHED_PROFILE", "notebooks", "resolve", "profile_parameters", "default_output_dir",
           "source_hash", "module_hash", "code_modules", "code_hash", "weights_fingerprints", "package_versions",
           "dependencies", "stamp_of", "is_stale", "notebook_parameters", "KEY_PACKAGES", "MODULE_WEIGHTS",
           "WEIGHTS_PREFIX", "dry_run", "kernel_transport"]

ROOT = Path(__file__).resolve().parents[2]


def _installed_notebooks() -> Path | None:
    """The notebooks a (non-editable) install ships as data files, ``<prefix>/share/antinb/notebooks``."""
    import sysconfig

    package = Path(__file__).resolve().parents[1]  # <prefix>/lib/pythonX.Y/site-packages/antinb
    for prefix in (Path(sysconfig.get_path("data")), package.parents[3]):
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

#: The package whose modules a chapter's code closure follows, and its folder (tests point it at a copy).
PACKAGE = "antinb"
PACKAGE_DIR = Path(__file__).resolve().parents[1]

#: Packages whose version is part of a chapter's inputs (with Python's ``major.minor`` and antinb's own).
KEY_PACKAGES = ("torch", "diffusers", "numpy", "scipy", "scikit-image")

#: :func:`antinb.models.load` records each folder it loads under this prefix while the runner
#: collects records (``_inputs/weights/<model>``); these are inputs, not results, and go to the
#: stamp's ``weights``, never to its ``records``.
WEIGHTS_PREFIX = "_inputs/weights/"

#: Shipped weights (folders of ``antinb/weights/``) that a module reads whenever a chapter uses it.
MODULE_WEIGHTS: dict[str, tuple[str, ...]] = {"antinb.quality": ("classifiers",)}

#: Where the book profile's runs keep their shared sample cache (:mod:`antinb.cache`) unless
#: ``$ANTINB_CACHE`` names another folder; other profiles use a cache only when that variable is set.
CACHE_DIR = ROOT / "_build" / "cache"

#: Code of the cell appended to every run (and removed from the executed copy): the kernel's network
#: evaluations and sample-cache counts, moved to the stamp's ``usage``.
USAGE_CELL = "import antinb.cache\nantinb.cache.report_usage();"

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".json", ".txt", ".model")


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


_IMPORTS: dict[tuple[str, str, bool], frozenset[str]] = {}


def _module_info(path: Path, module: str) -> tuple[str, frozenset[str]]:
    """``(module_hash, imported antinb names)`` of ``module``'s file, each file parsed once while it is
    unchanged (:func:`antinb._code.parsed`)."""
    digest, tree = parsed(path)
    key = (digest, module, path.name == "__init__.py")
    if key not in _IMPORTS:
        _IMPORTS[key] = frozenset(_imported(tree, module, key[2]))
    return digest, _IMPORTS[key]


def _module_file(module: str, package_dir: Path) -> Path | None:
    """The file of ``antinb.x.y`` under ``package_dir`` (a package's ``__init__.py``), or None."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = package_dir.joinpath(*parts[1:])
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if parts[1:] and base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _is_ours(name: str | None) -> bool:
    return bool(name) and (name == PACKAGE or name.startswith(PACKAGE + "."))


def _imported(tree: ast.AST, module: str | None = None, is_package: bool = False) -> set[str]:
    """Candidate antinb module names imported anywhere in ``tree`` (function bodies included).

    ``from antinb.x import y`` gives ``antinb.x`` and ``antinb.x.y`` (kept only if ``y`` is a
    module); relative imports are resolved against ``module``.
    """
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if _is_ours(a.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if module is None:
                    continue
                here = module.split(".") if is_package else module.split(".")[:-1]
                if node.level - 1 > len(here) - 1:
                    continue
                here = here[:len(here) - (node.level - 1)]
                base = ".".join(here + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if not _is_ours(base):
                continue
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names if a.name != "*")
    return out


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
    package_dir = Path(package_dir or PACKAGE_DIR)
    todo = sorted(_imported(_parse_notebook(source)))
    found: dict[str, str] = {}
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # the module and every package above it
            mod = ".".join(parts[:i])
            if mod in found:
                continue
            f = _module_file(mod, package_dir)
            if f is None:
                continue
            found[mod], imports = _module_info(f, mod)
            todo.extend(sorted(imports - set(found)))
    return dict(sorted(found.items()))


def code_hash(modules: dict[str, str]) -> str:
    """One hash of a chapter's code closure (``{module: module_hash}``)."""
    text = "\n".join(f"{m}:{h}" for m, h in sorted(modules.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def _file_fingerprint(path: Path) -> str:
    # a Hugging Face cache links each file to a blob named by its hash: that name is the fingerprint
    if path.is_symlink():
        blob = path.resolve().name
        if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", blob):
            return blob[:16]
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _FILE_HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _FILE_HASHES[key] = h.hexdigest()[:16]
    return _FILE_HASHES[key]


def _weight_files(folder: Path) -> dict[str, str]:
    """``{relative path: fingerprint}`` of the files a load reads: weights and configs in the
    component subfolders (``unet/``, ``scheduler/``, ...) and ``model_index.json``; not cards or figures."""
    out = {}
    for f in sorted(folder.rglob("*")):
        rel = f.relative_to(folder)
        if not f.is_file() or any(p.startswith(".") for p in rel.parts):
            continue
        if (len(rel.parts) > 1 and f.suffix in _WEIGHT_SUFFIXES) or rel.as_posix() == "model_index.json":
            out[rel.as_posix()] = _file_fingerprint(f)
    return out


def _weights_folder(entry: dict[str, Any], package_dir: Path) -> Path:
    if entry.get("embedded"):
        return package_dir / "weights" / entry["embedded"]
    return Path(entry["folder"])


def weights_fingerprints(loaded: dict[str, dict[str, Any]], modules: dict[str, str] | None = None,
                         package_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Fingerprints of the weights a chapter used: ``{name: {"embedded"|"folder": ..., "files": {...}}}``.

    ``loaded`` maps a model name to what :func:`antinb.models.load` noted (``folder`` and, for an
    embedded model, ``embedded``: its name); ``modules`` adds :data:`MODULE_WEIGHTS`.
    """
    package_dir = Path(package_dir or PACKAGE_DIR)
    entries = {name: dict(e) for name, e in loaded.items()}
    for mod in modules or {}:
        for folder in MODULE_WEIGHTS.get(mod, ()):
            entries.setdefault(folder, {"embedded": folder})
    out = {}
    weights = (package_dir / "weights").resolve()
    for name, e in sorted(entries.items()):
        keep = {"embedded": e["embedded"]} if e.get("embedded") else {"folder": str(e["folder"])}
        # a folder inside the package's weights (a shipped training snapshot): its path there, so that another
        # copy of the package (a clone, a worktree) checks the same files
        if "folder" in keep and Path(keep["folder"]).resolve().is_relative_to(weights):
            keep = {"embedded": Path(keep["folder"]).resolve().relative_to(weights).as_posix()}
        folder = _weights_folder(keep, package_dir)
        keep["files"] = _weight_files(folder) if folder.is_dir() else {}
        out[name] = keep
    return out


def package_versions() -> dict[str, str | None]:
    """Versions of Python (``major.minor``), :data:`KEY_PACKAGES` and antinb: a chapter's environment."""
    from importlib import metadata

    from .._version import __version__

    out: dict[str, str | None] = {"python": ".".join(platform.python_version_tuple()[:2])}
    for name in KEY_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["antinb"] = __version__
    return out


def dependencies(source: Path, loaded: dict[str, dict[str, Any]] | None = None,
                 package_dir: Path | None = None) -> dict[str, Any]:
    """The stamp's staleness fields for notebook ``source`` (without profile and parameters)."""
    modules = code_modules(source, package_dir)
    return {"source_hash": source_hash(source), "code_hash": code_hash(modules), "modules": modules,
            "weights": weights_fingerprints(loaded or {}, modules, package_dir), "packages": package_versions()}


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


def _weight_changes(weights: dict[str, dict[str, Any]], package_dir: Path) -> list[str]:
    out = []
    for name, entry in sorted(weights.items()):
        folder = _weights_folder(entry, package_dir)
        files = _weight_files(folder) if folder.is_dir() else {}
        if entry.get("files") and not files:
            out.append(f"the weights of {name!r} are gone ({folder})")
            continue
        changed = [k for k, _, _ in _differences(entry.get("files", {}), files)]
        if changed:
            out.append(f"the weights of {name!r} changed ({', '.join(changed[:3])})")
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
    changes = _weight_changes(stamp["weights"], PACKAGE_DIR)
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

        cache = cache_dir(profile)
        old_env = {k: os.environ.get(k) for k in (RECORD_ENV, CACHE_ENV)}
        os.environ[RECORD_ENV] = str(rec_file)
        os.environ[CACHE_ENV] = str(cache) if cache else ""
        executed = tmp / f"{name}.executed.ipynb"
        try:
            pm.execute_notebook(str(src_nb), str(executed), parameters=params, kernel_name="python3",
                                cwd=str(ROOT), progress_bar=progress, log_output=False,
                                execution_timeout=cell_timeout, **kernel_transport(tmp))
        except Exception as err:  # papermill raises PapermillExecutionError for a failing cell
            if executed.exists():
                os.replace(executed, out_dir / f"{name}.failed.ipynb")
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
        loaded: dict[str, dict[str, Any]] = {}
        for line in rec_file.read_text().splitlines():
            item = json.loads(line)
            if item["name"].startswith(WEIGHTS_PREFIX):  # an input (weights loaded), not a result
                loaded[item["name"][len(WEIGHTS_PREFIX):]] = item["value"]
            elif item["name"] == USAGE_RECORD:
                usage = dict(item["value"], cache=str(cache) if cache else None)
            else:
                recs[item["name"]] = item["value"]
        stamp = {"notebook": name, "profile": profile, "parameters": params,
                 "overrides": _jsonish(parameters or {}), "source_hash": source_digest,
                 "code_hash": code_hash(modules), "modules": modules,
                 "weights": weights_fingerprints(loaded, modules), "packages": package_versions(),
                 "environment": _environment(), "git_commit": _git_commit(),
                 "started": started.isoformat(timespec="seconds"),
                 "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                 "wall_s": round(time.time() - t0, 1), "usage": usage, "records": recs}
        nb = nbformat.read(executed, as_version=4)
        nb.cells = [c for c in nb.cells if not c.metadata.get("antinb_usage")]
        hide_default_parameters(nb)
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
            stale_only: bool = False, cell_timeout: float | None = None) -> int:
    """Entry point of ``antinb run``: returns the exit code (non-zero if any notebook failed).

    Without ``output_dir`` the executed copies go to :func:`default_output_dir` (``book/executed``
    only for the ``book`` profile without ``-p`` overrides).
    """
    names = notebooks() if notebook == "all" else [resolve(notebook).stem]
    params = {k: _parse_override(v) for k, v in overrides}
    profile_parameters(profile, names[0])  # an unknown profile fails before anything runs
    out_dir = Path(output_dir) if output_dir else default_output_dir(profile, params)
    if not output_dir and out_dir != EXECUTED_DIR:
        print(f"profile {profile}{' with overrides' if params else ''}: executed copies go to {out_dir} "
              f"(only the book profile's own runs go to {EXECUTED_DIR}; --output-dir chooses)", flush=True)
    failures = 0
    for name in names:
        if stale_only and not params and is_stale(out_dir / f"{name}.ipynb", profile=profile) is None:
            print(f"{name}: fresh, skipped")
            continue
        # parameters given with -p apply to every notebook that has them when running 'all'
        own = params if notebook != "all" else {k: v for k, v in params.items()
                                                 if k in notebook_parameters(NOTEBOOK_DIR / f"{name}.py")}
        print(f"{name}: running with profile {profile} ...", flush=True)
        try:
            stamp = run(name, profile=profile, parameters=own, output_dir=out_dir, cell_timeout=cell_timeout)
        except (NotebookError, ValueError) as err:
            print(f"{name}: FAILED: {err}", file=sys.stderr, flush=True)
            failures += 1
            continue
        print(f"{name}: done in {stamp['wall_s']:.0f} s, {len(stamp['records'])} numbers recorded", flush=True)
    return 1 if failures else 0


# ------------------------------------------------------------------------------------------ dry run


def _finding_call(source: Path, params: dict[str, Any]) -> tuple[Any, list[Any], dict[str, Any]]:
    """The findings module a notebook runs and the arguments of its ``<module>.run(...)`` cell,
    evaluated with the notebook's parameters (``steps=ddim_steps``, ``store=store_dir or None``)."""
    import importlib

    tree = _parse_notebook(source)
    aliases = {(a.asname or a.name): a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               and node.module == f"{PACKAGE}.findings" for a in node.names}
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and node.func.attr == "run" and isinstance(node.func.value, ast.Name) and node.func.value.id in aliases]
    if len(calls) != 1:
        raise NotebookError(f"{source.stem} must call run(...) of one antinb.findings module exactly once, "
                            f"found {len(calls)} calls")
    call = calls[0]

    def value(expr: ast.expr) -> Any:
        return eval(compile(ast.Expression(expr), f"{source.name}:run", "eval"), {}, dict(params))

    module = importlib.import_module(f"{PACKAGE}.findings.{aliases[call.func.value.id]}")
    return module, [value(a) for a in call.args], {k.arg: value(k.value) for k in call.keywords}


def _bench_throughput(model: str, device_type: str) -> tuple[float, str] | None:
    """``(ms per image row and network call, report file)`` of ``model`` on ``device_type`` from the
    committed bench reports: the row of the largest batch at the thread count of a run here (that of
    ``OMP_NUM_THREADS`` when the report has it, else the report's own, all cores)."""
    from .bench import RESULTS_DIR

    env = os.environ.get("OMP_NUM_THREADS", "")
    for path in sorted(Path(RESULTS_DIR).glob("*.json")):
        report = json.loads(path.read_text())
        if report.get("device_type") != device_type:
            continue
        rows = [r for r in report.get("throughput", []) if r.get("model") == model]
        threads = int(env) if env.isdigit() and any(r.get("threads") == int(env) for r in rows) \
            else report.get("threads", max((r.get("threads", 0) for r in rows), default=0))
        rows = [r for r in rows if r.get("threads") == threads]
        if rows:
            return float(max(rows, key=lambda r: r["batch"])["ms_per_image_step"]), path.name
    return None


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
    bench report of that device type (:func:`_bench_throughput`), ``None`` when it has no row for the
    model.
    """
    from ..models import resolve_device

    params = dict(overrides) if isinstance(overrides, dict) else {k: _parse_override(v) for k, v in overrides or []}
    sources = [NOTEBOOK_DIR / f"{n}.py" for n in notebooks()] if notebook == "all" else [resolve(notebook)]
    profile_parameters(profile, sources[0].stem)  # an unknown profile fails first, as in run_cli
    rows = []
    for src in sources:
        defaults = notebook_parameters(src)
        own = params if notebook != "all" else {k: v for k, v in params.items() if k in defaults}
        chosen = {**profile_parameters(profile, src.stem), **own}
        _check_parameters(src, chosen)
        module, args, kwargs = _finding_call(src, {**defaults, **chosen})
        device = resolve_device(chosen.get("device", defaults.get("device", "auto"))).type
        for model, n in module.cost(*args, **kwargs).items():
            bench = _bench_throughput(model, device)
            rows.append({"notebook": src.stem, "profile": profile, "model": model, "evaluations": int(n),
                         "device": device, "seconds": None if bench is None else n * bench[0] / 1000,
                         "bench": None if bench is None else bench[1]})
    return rows
