"""The findings layer: one module per finding of the paper, each a chapter of the book.

Each module owns the computation its chapter shows (aggregation over models, samplers and pairs),
declares its record names once (templates, see :mod:`antinb.findings.base`), maps the paper's numbers
(:mod:`antinb.paper`) onto its records with ``paper_records()`` and reads its records back into a
:class:`~antinb.findings.base.Summary` with ``summary()`` (rows of ours beside the paper's, verdicts).
Chapters import the one module they show (``from antinb.findings import correlation``); the book's
results page and findings-at-a-glance table read :func:`summaries`; tests exercise the modules on the
tiny and affine models.

The submodules are imported on first use, not here: a chapter that imports
``antinb.findings.correlation`` runs (and depends on) that module only, so a change to another
finding does not make it stale.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from .base import Summary, Table

__all__ = ["NAMES", "modules", "tables", "paper_records", "summaries", "Summary", "Table"]

#: The findings in book order (module names in this package).
NAMES: tuple[str, ...] = ("correlation", "trajectory", "symmetry", "diversity", "uncertainty", "dps", "progress")


def modules() -> tuple[ModuleType, ...]:
    """The findings modules, in book order."""
    return tuple(importlib.import_module(f"{__name__}.{name}") for name in NAMES)


def tables() -> tuple[Table, ...]:
    """Their results tables, in book order."""
    return tuple(m.TABLE for m in modules())


def summaries(runs: dict[str, dict[str, Any] | None]) -> tuple[Summary, ...]:
    """Every finding's :class:`Summary`, in book order, from the runs of the chapters: chapter name ->
    ``{"records": ..., "parameters": ...}`` (a provenance stamp) or ``None`` for a chapter not run."""
    out = []
    for m in modules():
        run = runs.get(m.TABLE.chapter) or {}
        out.append(m.summary(run.get("records", {}), run.get("parameters", {})))
    return tuple(out)


def paper_records() -> dict[str, Any]:
    """Every paper number, keyed by the record name our chapters use for the same quantity."""
    out: dict[str, Any] = {}
    for m in modules():
        out.update(m.paper_records())
    return out


def __getattr__(name: str) -> ModuleType:
    """``antinb.findings.correlation`` and the like, imported on first access."""
    if name in NAMES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
