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

from .builder import *  # noqa: F401,F403  (re-exports the builder's public names)
from .builder import __all__  # noqa: F401
