"""The book's verdict rules, declared once: every chapter, the results page and the bottom line use them.

A claim of the paper is a direction away from *no effect* and a value (or a range of values over the
paper's models, or a bound) for its size. We compare our 95 % interval with it:

- **reproduced**: our interval lies on the claimed side of no effect and overlaps the paper's value or range;
- **partly reproduced**: on the claimed side of no effect, but the size lies outside the paper's value or
  range (smaller or larger);
- **not shown at this sample size**: our interval contains the no-effect value (the direction itself is
  undetermined);
- **not reproduced**: our interval lies on the other side of no effect (the claim fails here);
- **beyond the paper**: a question the paper did not ask; it gets its own one-word answer (e.g. *holds*,
  *fails*, *mixed*), never "reproduced";
- **not run here**: a setting of the paper we did not measure.

A finding's verdict over its settings (:func:`overall`): reproduced when every measured setting is; not
reproduced when none is reproduced or partly and at least one is not; not shown when every setting is
undetermined; partly otherwise. Settings beyond the paper do not count towards it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

__all__ = ["FLAGGED", "flag", "REPRODUCED", "PARTLY", "NOT_SHOWN", "NOT_REPRODUCED", "BEYOND", "NOT_RUN", "VERDICTS", "Claim",
           "common", "beside", "judge", "overall", "RULES_MARKDOWN"]

REPRODUCED = "reproduced"
PARTLY = "partly reproduced"
NOT_SHOWN = "not shown at this sample size"
NOT_REPRODUCED = "not reproduced"
BEYOND = "beyond the paper"
NOT_RUN = "not run here"
#: Every verdict label, from the best to the weakest, then the two that are not comparisons with the paper.
VERDICTS = (REPRODUCED, PARTLY, NOT_SHOWN, NOT_REPRODUCED, BEYOND, NOT_RUN)


#: The models the book flags, and why: a row of theirs is marked wherever a summary shows it (the results
#: page, the bottom line, a chapter's verdict table), and never carries a range's top alone.
FLAGGED: dict[str, str] = {
    "photo-patches": "its samples are far from its data (its Fréchet distance is worse than that of a Gaussian "
                     "fitted to the same patches, chapter 7), so its numbers describe a crude sampler",
}


def flag(model: str) -> str:
    """``" †"`` for a model the book flags (:data:`FLAGGED`), ``""`` otherwise: the mark summaries append."""
    return " †" if model in FLAGGED else ""


@dataclass(frozen=True)
class Claim:
    """A claim of the paper about one quantity.

    Attributes:
        low, high: the paper's value (``low == high``), the range of its values over its models, or a bound
            (``> 0.99`` is ``low=0.99, high=inf``; ``< -0.5`` is ``low=-inf, high=-0.5``).
        null: the value of no effect (a correlation of 0, an improvement of 0 %, an efficiency of 1, ...);
            the claim lies on one side of it.
    """

    low: float
    high: float
    null: float = 0.0

    def __post_init__(self):
        if not self.low <= self.high:
            raise ValueError(f"low={self.low!r} must not exceed high={self.high!r}")
        if self.low < self.null < self.high or self.low == self.high == self.null:
            raise ValueError(f"the claim [{self.low}, {self.high}] must lie on one side of null={self.null!r}")

    @classmethod
    def of(cls, values: float | Sequence[float], null: float = 0.0) -> "Claim":
        """The claim of one paper value or of several (their range)."""
        vals = [float(values)] if isinstance(values, (int, float)) else [float(v) for v in values]
        return cls(min(vals), max(vals), null)

    @property
    def direction(self) -> int:
        """``+1`` when the claim lies above no effect, ``-1`` below."""
        return 1 if self.low >= self.null and self.high > self.null else -1


def common(outcomes: Sequence[str]) -> str:
    """The outcome of a question beyond the paper over its settings: the one word they share, else *mixed*."""
    words = list(dict.fromkeys(outcomes))
    return words[0] if len(words) == 1 else "mixed"


def beside(ci: Sequence[float], claim: Claim) -> int:
    """Where our interval ``ci`` lies beside the paper's value or range: ``+1`` wholly above it, ``-1`` wholly
    below it, ``0`` overlapping it (a boundary touching counts as overlap)."""
    low, high = float(ci[0]), float(ci[1])
    return 1 if low > claim.high else -1 if high < claim.low else 0


def judge(ci: Sequence[float], claim: Claim) -> str:
    """The verdict of our 95 % interval ``ci = (low, high)`` on ``claim`` (the module's rules)."""
    low, high = float(ci[0]), float(ci[1])
    if math.isnan(low) or math.isnan(high) or low > high:
        raise ValueError(f"ci={tuple(ci)!r} must be an interval (low <= high, no NaN)")
    if low <= claim.null <= high:
        return NOT_SHOWN
    side = 1 if low > claim.null else -1
    if side != claim.direction:
        return NOT_REPRODUCED
    return REPRODUCED if beside(ci, claim) == 0 else PARTLY


def overall(verdicts: Sequence[str]) -> str:
    """A finding's verdict from those of its settings (the module's rules); settings not run or beyond the
    paper do not count, and a finding with only those is *not run here* or *beyond the paper*."""
    for v in verdicts:
        if v not in VERDICTS:
            raise ValueError(f"verdict {v!r} is not one of {VERDICTS}")
    v = [x for x in verdicts if x not in (NOT_RUN, BEYOND)]
    if not v:
        return BEYOND if BEYOND in verdicts else NOT_RUN
    if all(x == REPRODUCED for x in v):
        return REPRODUCED
    if any(x in (REPRODUCED, PARTLY) for x in v):
        return PARTLY
    if any(x == NOT_REPRODUCED for x in v):
        return NOT_REPRODUCED
    return NOT_SHOWN


#: The rules as the methods page states them (a test checks the page carries this text verbatim).
RULES_MARKDOWN = """\
| verdict | when |
|---|---|
| **reproduced** | our 95 % interval lies on the claimed side of no effect and overlaps the paper's value or range |
| **partly reproduced** | on the claimed side of no effect, but the size lies outside the paper's value or range |
| **not shown at this sample size** | our interval contains the value of no effect |
| **not reproduced** | our interval lies on the other side of no effect |
| **beyond the paper** | a question the paper did not ask, answered in its own words (*holds*, *fails*, *mixed*) |
| **not run here** | a setting of the paper we did not measure |

*No effect* is a correlation of 0, an improvement of 0 %, a relative efficiency of 1 and an antisymmetry
score of 0. Where the paper reports one number per model and we ran none of its models, its *range* over
its models is the value we compare with. A finding is reproduced when every setting we measured is, not
reproduced when none is reproduced or partly and one is not, not shown when every setting is
undetermined, and partly reproduced otherwise."""
