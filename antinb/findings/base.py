"""What every finding shares: the declaration of its records and of its results table.

A finding module declares each record name once, as a template (``"as_mean/{model}"``), and builds
record names only through :func:`fill`. Its ``summary(records, parameters)`` reads them back
(:func:`template_regex`) into a :class:`Summary`: one :class:`Row` per setting with the paper's number
and ours side by side and a verdict, which both the chapter's verdict and the book's results page
use; the paper's numbers come in through the module's ``paper_records()``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..prompts import split_key
from ..records import record as _record
from .verdicts import BEYOND, NOT_REPRODUCED, NOT_RUN, NOT_SHOWN, PARTLY, REPRODUCED, VERDICTS, Claim, common, judge, overall

__all__ = ["Table", "Result", "ByModel", "Row", "Summary", "VERDICTS", "REPRODUCED", "PARTLY",
           "NOT_SHOWN", "NOT_REPRODUCED", "NOT_RUN", "BEYOND", "Claim", "judge", "overall", "headline", "ci_text", "ci_rounded", "decimals", "span", "presented", "fill", "fields", "template_regex", "paper_value", "paper_model", "record_all", "side"]


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


def paper_model(key: str, table) -> str | None:
    """The key under which the paper reports the setting of our record model field ``key``: the key itself
    (pixel models, or a local folder declared as a hub id), ``<hub id>:<prompt source>`` or
    ``<hub id>:prompted`` for a prompted text-to-image run; never one for an unprompted run. ``table`` is a
    mapping or a collection of the paper's model keys (or of tuples whose first item is one)."""
    keys = {k[0] if isinstance(k, tuple) else k for k in table}
    model, cond, _ = split_key(key)
    candidates = [key] if cond is None else [] if cond == "unprompted" else [f"{model}:{cond}", f"{model}:prompted"]
    return next((c for c in candidates if c in keys), None)


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


@dataclass(frozen=True)
class Table:
    """What the results page says of a finding besides its :class:`Summary`: its title, its chapter and a
    note on how to read its numbers."""

    title: str
    chapter: str
    note: str = ""


# --------------------------------------------------------------------------- results and their summary


class Result:
    """Base of every finding's result: it lists its numbers in :meth:`records` and stores them with
    :meth:`record` (in the provenance stamp of the running notebook)."""

    def records(self) -> dict[str, Any]:  # pragma: no cover - every result defines it
        raise NotImplementedError

    def record(self) -> dict[str, Any]:
        """Record :meth:`records` in the provenance stamp; returns them."""
        return record_all(self.records())


def presented(cls: type, measured: Any, **replaced: Any) -> Any:
    """``measured`` (a finding's measurements dataclass) as its presentation subclass ``cls``, with the fields
    ``replaced`` given; ``None`` stays ``None`` and an instance of ``cls`` is returned as it is."""
    if measured is None or isinstance(measured, cls):
        return measured
    values = {f.name: getattr(measured, f.name) for f in dataclasses.fields(measured) if f.init}
    return cls(**{**values, **replaced})


class ByModel(Result):
    """A finding's result over several models: ``result["mnist"]`` is that model's part.

    The dataclass using it has a field ``models``, a tuple of per-model results with a ``name``.
    """

    def __getitem__(self, name: str):
        for r in self.models:  # type: ignore[attr-defined]
            if r.name == name:
                return r
        raise KeyError(f"model {name!r} is not in this result; models: {[r.name for r in self.models]}")  # type: ignore[attr-defined]


# The verdict labels and rules live in one module (:mod:`antinb.findings.verdicts`); re-exported here for the
# findings that build their rows from this module.
@dataclass(frozen=True)
class Row:
    """One setting of a finding's summary: the paper's number and ours side by side.

    Attributes:
        paper_setting: the paper's model and sampler the ``paper`` number comes from.
        paper: the paper's number (or range) for the quantity, as text.
        our_setting: our model, sampler, steps and sample size ("" for a paper row we did not run).
        ours: our number with its 95 % interval, as text ("not run here" when none).
        verdict: one of :data:`VERDICTS`.
        caveat: what limits the comparison (a model's flag, a substitute metric, significance ...).
        value, ci: our headline number and its interval (``None`` for a paper row we did not run).
        short: ``ours`` in a few words for the findings-at-a-glance table (default: ``ours``).
        headline: whether the row counts for the at-a-glance range (:meth:`Summary.ours`).
        paper_model: for a paper row we did not run, the paper's model key (:mod:`antinb.paper`) the row
            stands for, from which the reproduce page writes the command that would fill it.
        outcome: for a row *beyond the paper*, its own one-word answer (*holds*, *fails*, *mixed*).
        flagged: the row's model is one the book flags (its samples are far from its data; see the limits
            page): summaries mark it.
    """

    paper_setting: str
    paper: str
    our_setting: str
    ours: str
    verdict: str
    caveat: str = ""
    value: float | None = None
    ci: tuple[float, float] | None = None
    short: str = ""
    headline: bool = True
    paper_model: str = ""
    outcome: str = ""
    flagged: bool = False

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")
        if (self.verdict == BEYOND) != bool(self.outcome):
            raise ValueError("a row beyond the paper needs its own one-word outcome, and only such a row has one")


@dataclass(frozen=True)
class Summary:
    """A finding in a few rows, built from its records alone (so the book can write it from the JSON
    summaries): the paper's claim, one :class:`Row` per setting and the overall verdict."""

    finding: int
    title: str
    chapter: str
    claim: str
    quantity: str
    rows: tuple[Row, ...]
    fmt: str = "+.2f"
    takeaway: str = ""

    @property
    def ran(self) -> tuple[Row, ...]:
        """The rows we measured."""
        return tuple(r for r in self.rows if r.verdict != NOT_RUN)

    @property
    def verdict(self) -> str:
        """The finding's verdict from its measured rows (:func:`overall`)."""
        return overall([r.verdict for r in self.ran])

    @property
    def outcome(self) -> str:
        """For a finding beyond the paper: the one-word outcome its measured rows share, else *mixed*
        (:func:`antinb.findings.verdicts.common`); ``""`` for a finding the paper reports."""
        rows = [r.outcome for r in self.ran if r.verdict == BEYOND]
        return common(rows) if rows and self.verdict == BEYOND else ""

    def against(self) -> tuple[Row, ...]:
        """The measured rows that go the other way: not reproduced, or not shown at this sample size."""
        return tuple(r for r in self.ran if r.verdict in (NOT_REPRODUCED, NOT_SHOWN))

    def carrier(self) -> Row | None:
        """The row whose number carries the finding in one sentence: the first measured headline row of a model
        the book does not flag whose verdict is the finding's own (else the first measured row)."""
        rows = [r for r in self.ran if r.value is not None and r.headline]
        for pick in ([r for r in rows if not r.flagged and r.verdict == self.verdict], [r for r in rows if not r.flagged],
                     rows, list(self.ran)):
            if pick:
                return pick[0]
        return None

    def ours(self) -> str:
        """Our headline numbers in one phrase: the extreme rows with their intervals and settings (a flagged
        model's marked †), and how many measured settings go the other way."""
        rows = [r for r in self.ran if r.value is not None and r.headline]
        if not rows:
            return NOT_RUN
        lo, hi = min(rows, key=lambda r: r.value), max(rows, key=lambda r: r.value)
        one = lambda r: f"{r.short or r.ours} ({r.our_setting}{' †' if r.flagged and '†' not in r.our_setting else ''})"  # noqa: E731
        text = one(lo) if lo is hi else f"{one(lo)} to {one(hi)}"
        against = self.against()
        if against:
            text += (f"; {len(against)} of {len(self.ran)} settings go the other way: "
                     + "; ".join(f"{r.short or r.ours} ({r.our_setting}, {r.verdict})" for r in against))
        return text


def headline(verdict: str) -> str:
    """The bold opening of a chapter's verdict: ``**Partly reproduced.**``."""
    return f"**{verdict[0].upper()}{verdict[1:]}.**"


def decimals(ci: Sequence[float] | None, most: int = 3) -> int:
    """Decimals that a number with interval ``ci`` supports: two significant digits of its half-width, at most
    ``most``."""
    if ci is None:
        return most
    half = (float(ci[1]) - float(ci[0])) / 2.0
    if not half > 0:
        return most
    return int(min(most, max(0, 1 - math.floor(math.log10(half)))))


def ci_rounded(value: float, ci: Sequence[float] | None, most: int = 3) -> str:
    """``0.957 [0.950, 0.963]``: :func:`ci_text` rounded to what the interval supports (:func:`decimals`)."""
    return ci_text(value, ci, f".{decimals(ci, most)}f")


def span(lo: Any, hi: Any) -> str:
    """``"1 to 4"``, or ``"1"`` when both ends are the same."""
    return f"{lo}" if lo == hi else f"{lo} to {hi}"


def ci_text(value: float, ci: Sequence[float] | None, fmt: str = "+.2f", unit: str = "") -> str:
    """``−0.47 [−0.50, −0.44]`` (typographic minus), the form every verdict and summary uses."""
    def f(x: float) -> str:
        return format(float(x), fmt).replace("-", "−") + unit
    return f(value) if ci is None else f"{f(value)} [{f(ci[0])}, {f(ci[1])}]"
