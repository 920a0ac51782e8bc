"""antinb: antithetic noise in diffusion models — reproduce, test and extend.

Data flows one way, each layer importing only those below it:

1. :mod:`antinb.noise` (initial and per-step noise designs, the design registry),
   :mod:`antinb.models` (embedded models, local folders, cached hub ids), :mod:`antinb.data`;
2. :mod:`antinb.sampling` (DDIM / DDPM on diffusers schedulers), :mod:`antinb.pairs` (PN, RR and
   control pairs), :mod:`antinb.dps` (diffusion posterior sampling);
3. :mod:`antinb.metrics`, :mod:`antinb.stats`, :mod:`antinb.quality` (image statistics,
   correlations, confidence intervals, Frechet distance), :mod:`antinb.estimation`,
   :mod:`antinb.generate` and :mod:`antinb.store` (sharded, resumable generation);
4. :mod:`antinb.findings` (one module per finding of the paper, with the paper's numbers from
   :mod:`antinb.paper`) and :mod:`antinb.plots`;
5. :mod:`antinb.book` (notebook runner, book builder, model cards, benchmarks), outside this
   namespace's imports: ``import antinb`` does not load papermill or jupyter-book.
"""

from ._version import __version__
from . import metrics, noise, sampling, stats
from .estimation import estimate
from .models import available, load
from .records import record
from .sampling import ddim, ddpm, sample

__all__ = ["metrics", "noise", "sampling", "stats", "estimate", "available", "load", "record", "ddim", "ddpm",
           "sample", "__version__"]
