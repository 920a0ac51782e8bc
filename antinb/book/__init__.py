"""The publishing layer: what turns the library's findings into the book and its reports.

It sits above everything else in :mod:`antinb` and nothing below imports it:

- :mod:`antinb.book.runner`: executes a chapter's jupytext source with papermill under a
  parameter profile and stamps the executed copy with what it depends on (source, parameters,
  the antinb modules it runs, weights, package versions), so staleness is per chapter;
- :mod:`antinb.book.builder`: ``python -m antinb.book build`` — fresh executed chapters of the
  ``book`` profile (the only one published), the generated pages (results, models, profiles,
  performance) and the Jupyter Book itself; ``python -m antinb.book status`` says what is stale;
- :mod:`antinb.book.cards`: model cards of the embedded models (``antinb card``);
- :mod:`antinb.book.bench`: the sampler benchmarks (``antinb bench``).
"""

from typing import Any

from . import builder as _builder
from .builder import __all__  # noqa: F401


def __getattr__(name: str) -> Any:
    """The builder's public names (:data:`antinb.book.builder.__all__`), looked up on first use: importing
    ``antinb.book`` reads no file and imports no finding."""
    if name in __all__:
        return getattr(_builder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
