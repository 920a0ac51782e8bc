"""Headline numbers of a chapter: :func:`record` writes them where the notebook runner collects them.

The lowest layer of the package (no antinb imports): findings call :func:`record` through their
results' ``record()`` method; :mod:`antinb.book.runner` sets ``$ANTINB_RECORD_FILE`` for the kernel it
starts and reads the file back into the executed notebook's provenance stamp.
"""

from __future__ import annotations

import json
import math
import os
from contextlib import contextmanager
from typing import Any, Iterator

__all__ = ["RECORD_ENV", "USAGE_RECORD", "record", "records", "jsonable", "collecting"]

#: Environment variable naming the JSON-lines file that :func:`record` appends to.
RECORD_ENV = "ANTINB_RECORD_FILE"

#: The record under which a notebook leaves its process's network evaluations and sample-cache counts
#: (:func:`antinb.cache.report_usage`); an input of the run, not a result: the runner moves it to the stamp.
USAGE_RECORD = "_inputs/usage"

_RECORDS: dict[str, Any] = {}
_COLLECTORS: list[dict[str, Any]] = []


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: tensors and numpy scalars to numbers and lists, non-finite to None."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def record(name: str, value: Any) -> Any:
    """Record a headline number of a notebook (collected by the runner); returns ``value``.

    Values may be numbers, strings, lists or dicts of them (tensors and numpy scalars are
    converted). Under the runner they are appended to the file named by ``$ANTINB_RECORD_FILE``.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name={name!r} must be a non-empty string")
    value = jsonable(value)
    _RECORDS[name] = value
    for collector in _COLLECTORS:
        collector[name] = value
    path = os.environ.get(RECORD_ENV)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"name": name, "value": value}) + "\n")
    return value


def records() -> dict[str, Any]:
    """The numbers recorded so far in this process."""
    return dict(_RECORDS)


@contextmanager
def collecting() -> Iterator[dict[str, Any]]:
    """``with collecting() as got:`` fills ``got`` with every ``name -> value`` recorded inside the block."""
    got: dict[str, Any] = {}
    _COLLECTORS.append(got)
    try:
        yield got
    finally:
        del _COLLECTORS[next(i for i, c in enumerate(_COLLECTORS) if c is got)]
