"""The findings layer: one module per finding of the paper, each a chapter of the book.

Each module owns the computation its chapter shows (aggregation over models, samplers and pairs),
declares its record names once (templates, see :mod:`antinb.findings.base`) and its results
:class:`~antinb.findings.base.Table`, and maps the paper's numbers (:mod:`antinb.paper`) onto its
records with ``paper_records()``. Chapters call these modules; the results page reads
:data:`TABLES` and :func:`paper_records`; tests exercise them on the tiny and affine models.
"""

from __future__ import annotations

from typing import Any

from . import correlation, diversity, dps, symmetry, trajectory, uncertainty
from .base import Column, Table

__all__ = ["MODULES", "TABLES", "paper_records", "Column", "Table", "correlation", "trajectory", "symmetry",
           "diversity", "uncertainty", "dps"]

#: The findings in book order.
MODULES = (correlation, trajectory, symmetry, diversity, uncertainty, dps)
#: Their results tables, in book order.
TABLES: tuple[Table, ...] = tuple(m.TABLE for m in MODULES)


def paper_records() -> dict[str, Any]:
    """Every paper number, keyed by the record name our chapters use for the same quantity."""
    out: dict[str, Any] = {}
    for m in MODULES:
        out.update(m.paper_records())
    return out
