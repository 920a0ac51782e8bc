"""What every finding shares: the declaration of its records and of its results table.

A finding module declares each record name once, as a template (``"as_mean/{model}"``), and one
:class:`Table` whose columns name those templates. Its result objects build record names only
through :func:`fill`; the book's results page parses recorded names back with
:meth:`Table.match`; the paper's numbers come in through the module's ``paper_records()``.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..records import record as _record

__all__ = ["Column", "Table", "ByModel", "fill", "fields", "template_regex", "paper_value", "record_all", "side"]


def fields(template: str) -> list[str]:
    """The ``{field}`` names of a record-name template, in order."""
    return re.findall(r"\{(\w+)\}", template)


def fill(template: str, **values: Any) -> str:
    """The record name of ``template`` with its fields filled; every field must be given, none more."""
    wanted = fields(template)
    missing = [f for f in wanted if f not in values]
    extra = [k for k in values if k not in wanted]
    if missing or extra:
        raise ValueError(f"template {template!r} takes fields {wanted}; missing {missing}, unknown {extra}")
    for k, v in values.items():
        if k != "model" and "/" in str(v):
            raise ValueError(f"{k}={v!r} must not contain '/' (record names are '/'-separated)")
    return template.format(**{k: str(v) for k, v in values.items()})


def template_regex(template: str) -> re.Pattern[str]:
    """A regex matching the names of ``template``; ``model`` may contain ``/`` (hub ids), other fields not."""
    parts = re.split(r"\{(\w+)\}", template)
    out = ""
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out += re.escape(part)
        else:
            out += f"(?P<{part}>.+)" if part == "model" else f"(?P<{part}>[^/]+)"
    return re.compile(f"^{out}$")


def paper_value(paper: Mapping[str, Any], name: str) -> Any:
    """The paper's number for record ``name`` (exact key first, then ``*`` patterns), or ``None``."""
    if name in paper:
        return paper[name]
    for key, value in paper.items():
        if "*" in key and fnmatch.fnmatchcase(name, key):
            return value
    return None


def record_all(records: Mapping[str, Any]) -> dict[str, Any]:
    """Record every ``name -> value`` (see :func:`antinb.records.record`); returns them."""
    for name, value in records.items():
        _record(name, value)
    return dict(records)


def side(ci: Sequence[float], bound: float) -> int:
    """Where an interval ``[low, high]`` lies relative to ``bound``: ``+1`` above, ``-1`` below, ``0`` across it
    (the difference from ``bound`` is then not significant at the interval's level)."""
    low, high = ci
    return 1 if low > bound else -1 if high < bound else 0


class ByModel:
    """Mixin of a finding's result over several models: ``result["mnist"]`` is that model's part.

    The dataclass using it has a field ``models``, a tuple of per-model results with a ``name``.
    """

    def __getitem__(self, name: str):
        for r in self.models:  # type: ignore[attr-defined]
            if r.name == name:
                return r
        raise KeyError(f"model {name!r} is not in this result; models: {[r.name for r in self.models]}")  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Column:
    """One number of a results table.

    Attributes:
        header: column title.
        record: record-name template with ``{field}`` placeholders (the table's row keys).
        fmt: format spec for numbers (``".3f"``, ``"+.1f"``, ``"s"``).
        compare: add a "paper" column beside it, from the finding's ``paper_records()``.
    """

    header: str
    record: str
    fmt: str = ".3f"
    compare: bool = True


@dataclass(frozen=True)
class Table:
    """The results table of a finding: one row per key tuple, one cell (and a paper cell) per column.

    ``paper_alias`` maps one of our key values to the paper's name for the same thing (e.g. our
    statistic ``centroid_distance`` is compared with the paper's ``centroid``).
    """

    title: str
    chapter: str
    keys: tuple[str, ...]
    columns: tuple[Column, ...]
    note: str = ""
    paper_alias: dict[str, dict[str, str]] = field(default_factory=dict)

    def match(self, name: str) -> tuple[Column, dict[str, str]] | None:
        """The column whose template produced record ``name``, with the fields, or ``None``."""
        for col in self.columns:
            m = template_regex(col.record).match(name)
            if m:
                return col, m.groupdict()
        return None
