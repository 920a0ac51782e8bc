"""What a result depends on besides code: the weights it read and the versions of the packages it ran on.

The lowest layer of the package (no antinb imports). The book's runner stamps every executed chapter
with these fingerprints (:mod:`antinb.book.runner`), and a finding's saved measurements are keyed by
them (:mod:`antinb.measurements`): a change to a weight file or to a key package's version shows up
as a named difference, never silently.
"""

from __future__ import annotations

import hashlib
import platform
import re
from pathlib import Path
from typing import Any

__all__ = ["KEY_PACKAGES", "MODULE_WEIGHTS", "PACKAGE_DIR", "package_versions", "weight_files",
           "weights_folder", "weights_fingerprints", "weight_changes", "file_fingerprint"]

#: The package's folder; its shipped weights live in ``weights/`` there (tests point it at a copy).
PACKAGE_DIR = Path(__file__).resolve().parent

#: Packages whose version is part of a result's inputs (with Python's ``major.minor`` and antinb's own).
KEY_PACKAGES = ("torch", "diffusers", "numpy", "scipy", "scikit-image")

#: Shipped weights (folders of ``antinb/weights/``) that a module reads whenever it is used.
MODULE_WEIGHTS: dict[str, tuple[str, ...]] = {"antinb.quality": ("classifiers",)}

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".json", ".txt", ".model")

_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def file_fingerprint(path: Path) -> str:
    """SHA-256 prefix of a file's bytes (a Hugging Face cache's blob name, which is that hash, for a link
    into one), computed once per process while the file's size and modification time stay the same."""
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


def weight_files(folder: Path) -> dict[str, str]:
    """``{relative path: fingerprint}`` of the files a load reads: weights and configs in the
    component subfolders (``unet/``, ``scheduler/``, ...) and ``model_index.json``; not cards or figures."""
    out = {}
    for f in sorted(Path(folder).rglob("*")):
        rel = f.relative_to(folder)
        if not f.is_file() or any(p.startswith(".") for p in rel.parts):
            continue
        if (len(rel.parts) > 1 and f.suffix in _WEIGHT_SUFFIXES) or rel.as_posix() == "model_index.json":
            out[rel.as_posix()] = file_fingerprint(f)
    return out


def weights_folder(entry: dict[str, Any], package_dir: Path | None = None) -> Path:
    """The folder of a fingerprint entry: ``{"embedded": name}`` (under the package's ``weights/``) or
    ``{"folder": path}``."""
    if entry.get("embedded"):
        return Path(package_dir or PACKAGE_DIR) / "weights" / entry["embedded"]
    return Path(entry["folder"])


def weights_fingerprints(loaded: dict[str, dict[str, Any]], modules: dict[str, str] | None = None,
                         package_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Fingerprints of the weights a run used: ``{name: {"embedded"|"folder": ..., "files": {...}}}``.

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
        folder = weights_folder(keep, package_dir)
        keep["files"] = weight_files(folder) if folder.is_dir() else {}
        out[name] = keep
    return out


def weight_changes(weights: dict[str, dict[str, Any]], package_dir: Path | None = None) -> list[str]:
    """What changed in the weights fingerprinted as ``weights`` (:func:`weights_fingerprints`), one phrase
    per model; empty when nothing did."""
    out = []
    for name, entry in sorted(weights.items()):
        folder = weights_folder(entry, package_dir)
        files = weight_files(folder) if folder.is_dir() else {}
        if entry.get("files") and not files:
            out.append(f"the weights of {name!r} are gone ({folder})")
            continue
        old = entry.get("files", {})
        changed = sorted(k for k in set(old) | set(files) if old.get(k) != files.get(k))
        if changed:
            out.append(f"the weights of {name!r} changed ({', '.join(changed[:3])})")
    return out


def package_versions() -> dict[str, str | None]:
    """Versions of Python (``major.minor``), :data:`KEY_PACKAGES` and antinb: a result's environment."""
    from importlib import metadata

    from ._version import __version__

    out: dict[str, str | None] = {"python": ".".join(platform.python_version_tuple()[:2])}
    for name in KEY_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["antinb"] = __version__
    return out
