"""antinb: antithetic noise in diffusion models — reproduce, test and extend.

Data flows one way: :mod:`antinb.noise` (initial and per-step noise designs) ->
:mod:`antinb.sampling` (DDIM / DDPM on diffusers schedulers) -> :mod:`antinb.metrics` and
:mod:`antinb.stats` (image statistics, correlations, confidence intervals) -> notebooks
(:mod:`antinb.runner`) -> the book. Models come from :mod:`antinb.models` (embedded, local
folders, cached hub ids), trained by :mod:`antinb.training`.
"""

__version__ = "0.1.0"

from . import metrics, noise, sampling, stats  # noqa: E402
from .estimation import estimate  # noqa: E402
from .models import available, load  # noqa: E402
from .runner import record  # noqa: E402
from .sampling import ddim, ddpm, sample  # noqa: E402

__all__ = ["metrics", "noise", "sampling", "stats", "estimate", "available", "load", "record", "ddim", "ddpm",
           "sample", "__version__"]
