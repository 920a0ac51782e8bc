"""A finding's measurements, saved once and presented freely.

A finding is two steps (:mod:`antinb.findings`): ``measure(params)`` makes every network evaluation
and returns a dataclass of plain numbers and arrays; everything a reader sees (tables, figures,
verdict, records) is a pure function of it. This module saves a measurement beside the published
chapter and decides when a saved one still stands for what ``measure`` would return now.

**Key.** A saved measurement is keyed by what determines it, each part kept apart so that a
difference can be named:

- ``parameters``: the finding's parameters object (a dataclass), as JSON;
- ``code``: the code ``measure`` can run (:func:`antinb._code.definition_closure`): each definition
  that ``measure`` reaches by name, in the finding's module and, followed through imports, in every
  antinb module below it. A figure's layout, a verdict's wording or an unrelated helper is not part of it;
- ``weights``: fingerprints of every weight file the measurement read (the models it loaded and the
  shipped weights of the modules in its code, :mod:`antinb.provenance`);
- ``packages``: the versions of the key packages.

**Format.** ``<stem>.json`` holds the key and the measurement's structure with its scalars (exact:
Python's float repr round-trips), ``<stem>.npz`` its arrays (read with ``allow_pickle=False``; the
JSON holds the SHA-256 of the ``.npz``). No pickle anywhere: a dataclass is rebuilt only when it is a
dataclass type of an antinb module that is already imported. Each file is written
through :func:`antinb._files.write_atomic` (a ``tempfile.mkstemp`` name in the target folder, renamed over
the old one: never through a link).

**Use.** :func:`measurement` wraps a finding's ``measure``. With ``$ANTINB_MEASUREMENTS`` unset (a
library call, a plain papermill run) it only measures. With it set to a file stem (the book's runner
sets ``book/measurements/<chapter>``), a saved measurement with the same key is read instead of
measured (zero network evaluations); otherwise the measurement is made, saved and read back, so that
what is presented is always what was saved.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import hashlib
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from ._code import definition_closure
from ._files import write_atomic
from .provenance import PACKAGE_DIR, package_versions, weight_changes, weights_fingerprints
from .records import collecting, record

__all__ = ["MEASUREMENTS_ENV", "MEASURE_RECORD", "FORMAT", "measurement", "key", "save", "load", "header",
           "why_stale", "encode", "decode", "MeasurementError"]

#: Environment variable naming the file stem (``<folder>/<chapter>``) of a chapter's saved measurement.
MEASUREMENTS_ENV = "ANTINB_MEASUREMENTS"
#: The record under which a measure call notes whether it measured or read a saved measurement (an input
#: of the run: the runner moves it to the stamp).
MEASURE_RECORD = "_inputs/measurement"
#: Version of the file format; a file of another version is measured anew.
FORMAT = 1

_WEIGHTS_RECORD = "_inputs/weights/"


class MeasurementError(ValueError):
    """A saved measurement cannot be read (named in the message)."""


# --------------------------------------------------------------------------- encoding


def encode(value: Any, arrays: dict[str, Any]) -> Any:
    """``value`` as JSON data, its arrays moved into ``arrays`` (``"a<i>" -> numpy array``).

    Dataclasses, tuples, dicts with any keys, numpy scalars and arrays and torch tensors keep their
    type through :func:`decode`; an object of another type raises ``TypeError``.
    """
    import numpy as np

    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, np.generic):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"numpy scalar of dtype {value.dtype} cannot be saved")
        return {"__np__": value.dtype.str, "v": value.item()}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc":
            raise TypeError(f"array of dtype {value.dtype} cannot be saved (numbers only)")
        name = f"a{len(arrays)}"
        arrays[name] = value
        return {"__array__": name}
    if "torch" in sys.modules and isinstance(value, sys.modules["torch"].Tensor):
        name = f"a{len(arrays)}"
        arrays[name] = value.detach().cpu().numpy()
        return {"__tensor__": name}
    if isinstance(value, Path):
        return {"__path__": str(value)}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, arrays) for v in value]}
    if isinstance(value, list):
        return [encode(v, arrays) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[encode(k, arrays), encode(v, arrays)] for k, v in value.items()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        if not cls.__module__.startswith("antinb."):
            raise TypeError(f"dataclass {cls.__module__}.{cls.__qualname__} is not antinb's and cannot be saved")
        return {"__dataclass__": f"{cls.__module__}:{cls.__qualname__}",
                "fields": {f.name: encode(getattr(value, f.name), arrays)
                           for f in dataclasses.fields(value) if f.init}}
    raise TypeError(f"a value of type {type(value).__name__} cannot be saved in a measurement")


def _dataclass_type(name: str) -> type:
    module, _, qualname = name.partition(":")
    if not module.startswith("antinb.") or module not in sys.modules:
        raise MeasurementError(f"type {name!r} is not a dataclass of an imported antinb module")
    obj: Any = sys.modules[module]
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and dataclasses.is_dataclass(obj)):
        raise MeasurementError(f"type {name!r} is not a dataclass of an imported antinb module")
    return obj


def decode(data: Any, arrays: Any) -> Any:
    """The value :func:`encode` encoded (``arrays``: a mapping of its arrays, e.g. an open ``.npz``)."""
    import numpy as np

    if isinstance(data, list):
        return [decode(v, arrays) for v in data]
    if not isinstance(data, dict):
        return data
    if "__np__" in data:
        return np.dtype(data["__np__"]).type(data["v"])
    if "__array__" in data:
        return np.asarray(arrays[data["__array__"]])
    if "__tensor__" in data:
        import torch

        return torch.from_numpy(np.array(arrays[data["__tensor__"]]))
    if "__path__" in data:
        return Path(data["__path__"])
    if "__tuple__" in data:
        return tuple(decode(v, arrays) for v in data["__tuple__"])
    if "__dict__" in data:
        return {_hashable(decode(k, arrays)): decode(v, arrays) for k, v in data["__dict__"]}
    if "__dataclass__" in data:
        cls = _dataclass_type(data["__dataclass__"])
        return cls(**{k: decode(v, arrays) for k, v in data["fields"].items()})
    raise MeasurementError(f"unknown entry with keys {sorted(data)}")


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, list) else key


# --------------------------------------------------------------------------- keys


def _jsonish(value: Any) -> Any:
    from .records import jsonable

    return json.loads(json.dumps(jsonable(value), allow_nan=True))


def key(module: str, params: Any, package_dir: Path | None = None) -> dict[str, Any]:
    """What a measurement of finding ``module`` with ``params`` depends on, before it runs: parameters,
    code (of the package in ``package_dir``, default the installed one) and packages (the weights are known
    once it has loaded them)."""
    if not dataclasses.is_dataclass(params):
        raise TypeError(f"params must be the finding's Params dataclass, got {type(params).__name__}")
    try:
        parameters = _jsonish(dataclasses.asdict(params))
    except (TypeError, ValueError) as err:
        raise TypeError(f"parameters of {module} cannot be saved as JSON ({err})") from err
    return {"finding": module, "parameters": parameters, "code": definition_closure(module, ("measure",), package_dir),
            "packages": package_versions()}


def header(stem: str | Path) -> dict[str, Any] | None:
    """The JSON part of a saved measurement, ``None`` when there is none; a damaged one raises
    :class:`MeasurementError` naming the file."""
    path = Path(f"{stem}.json")
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise MeasurementError(f"{path} cannot be read ({err})") from err
    if not isinstance(data, dict):
        raise MeasurementError(f"{path} is not a saved measurement")
    return data


def _changes(old: dict[str, Any], new: dict[str, Any], what: str) -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        was, now = old.get(k, ...), new.get(k, ...)
        if was == now:
            continue
        if what == "parameter":
            out.append(f"parameter {k!r} is {now!r}, was {was!r}" if ... not in (was, now) else
                       f"parameter {k!r} is new" if was is ... else f"parameter {k!r} is gone")
        elif what == "code":
            name = k.replace(":", ".")
            out.append(f"{name} is new to the measurement" if was is ... else
                       f"{name} is no longer used" if now is ... else f"the code of {name} changed")
        else:
            out.append(f"{k} {was if was is not ... else 'absent'} -> {now if now is not ... else 'absent'}")
    return out


def why_stale(stem: str | Path, module: str, params: Any, package_dir: Path | None = None) -> str | None:
    """``None`` when the measurement saved at ``stem`` is what ``measure(params)`` of finding ``module`` would
    return now; otherwise why not (missing, unreadable, parameters, code, weights or packages changed)."""
    try:
        now = key(module, params, package_dir)
    except TypeError as err:
        return str(err)
    return _differs(stem, now, package_dir)


def _differs(stem: str | Path, now: dict[str, Any], package_dir: Path | None = None) -> str | None:
    """Why the measurement saved at ``stem`` is not the one keyed ``now`` (:func:`key`), or ``None``."""
    module = now["finding"]
    try:
        saved = header(stem)
    except MeasurementError as err:
        return str(err)
    if saved is None:
        return f"no measurement is saved at {stem}.json"
    if saved.get("format") != FORMAT:
        return f"{stem}.json has format {saved.get('format')!r}, not {FORMAT}"
    if saved.get("finding") != module:
        return f"{stem}.json measures {saved.get('finding')!r}, not {module!r}"
    for part, what in (("parameters", "parameter"), ("code", "code"), ("packages", "package")):
        changes = _changes(saved.get(part) or {}, now[part], what)
        if changes:
            more = f" (and {len(changes) - 3} more)" if len(changes) > 3 else ""
            return "; ".join(changes[:3]) + more
    changes = weight_changes(saved.get("weights") or {}, package_dir or PACKAGE_DIR)
    if changes:
        return "; ".join(changes[:3])
    if not Path(f"{stem}.npz").exists():
        return f"{stem}.npz is missing"
    return None


# --------------------------------------------------------------------------- files


def save(stem: str | Path, value: Any, meta: dict[str, Any]) -> None:
    """Save ``value`` at ``stem`` (``.npz`` then ``.json``) with the key ``meta``."""
    import numpy as np

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    if stem.parent.is_symlink():
        raise MeasurementError(f"{stem.parent} is a symbolic link: refusing to write measurements through it")
    arrays: dict[str, Any] = {}
    structure = encode(value, arrays)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    blob = buf.getvalue()
    write_atomic(stem.with_name(stem.name + ".npz"), blob)
    doc = {"format": FORMAT, **meta, "npz_sha256": hashlib.sha256(blob).hexdigest(), "value": structure}
    write_atomic(stem.with_name(stem.name + ".json"), (json.dumps(doc, indent=1) + "\n").encode())


def load(stem: str | Path) -> Any:
    """The measurement saved at ``stem``; a missing, damaged or mismatched file raises
    :class:`MeasurementError` naming it."""
    import numpy as np

    doc = header(stem)
    if doc is None:
        raise MeasurementError(f"no measurement is saved at {stem}.json")
    path = Path(f"{stem}.npz")
    try:
        blob = path.read_bytes()
    except OSError as err:
        raise MeasurementError(f"{path} cannot be read ({err})") from err
    if hashlib.sha256(blob).hexdigest() != doc.get("npz_sha256"):
        raise MeasurementError(f"{path} does not match {stem}.json (damaged or from another measurement)")
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as arrays:
            return decode(doc["value"], {k: arrays[k] for k in arrays.files})
    except (ValueError, KeyError, TypeError) as err:
        raise MeasurementError(f"{path} cannot be read ({err})") from err


# --------------------------------------------------------------------------- the decorator


def _loaded_weights(recorded: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k[len(_WEIGHTS_RECORD):]: v for k, v in recorded.items() if k.startswith(_WEIGHTS_RECORD)}


def measurement(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Wrap a finding's ``measure(params)``: under ``$ANTINB_MEASUREMENTS`` read a saved measurement whose
    key matches, or measure, save and read back (see the module's docstring)."""
    module = fn.__module__

    @functools.wraps(fn)
    def measure(params):
        stem = os.environ.get(MEASUREMENTS_ENV)
        if not stem:
            return fn(params)
        try:
            meta = key(module, params)
        except TypeError:  # loaded model objects, not names: nothing to key a saved measurement by
            return fn(params)
        reason = _differs(stem, meta)
        if reason is None:
            saved = header(stem)
            value = load(stem)
            for name, entry in (saved.get("weights") or {}).items():  # the runner stamps what was read
                if entry.get("embedded") or entry.get("folder"):
                    folder = (PACKAGE_DIR / "weights" / entry["embedded"]) if entry.get("embedded") \
                        else Path(entry["folder"])
                    record(_WEIGHTS_RECORD + name, {"folder": str(folder), "embedded": entry.get("embedded")})
            record(MEASURE_RECORD, {"measured": False, "file": str(stem), "saved": saved.get("created"),
                                    "measure_s": saved.get("measure_s")})
            return value
        t0 = time.perf_counter()
        with collecting() as recorded:
            value = fn(params)
        meta["measure_s"] = round(time.perf_counter() - t0, 1)
        loaded = _loaded_weights(recorded)
        meta["weights"] = weights_fingerprints(loaded, {k.split(":")[0]: "" for k in meta["code"]})
        meta["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        save(stem, value, meta)
        record(MEASURE_RECORD, {"measured": True, "file": str(stem), "reason": reason, "saved": meta["created"],
                                "measure_s": meta["measure_s"]})
        return load(stem)

    measure.__wrapped_measure__ = fn  # type: ignore[attr-defined]
    return measure
