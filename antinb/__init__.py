"""antinb: antithetic noise in diffusion models — reproduce, test and extend.

Data flows one way, each layer importing only those below it:

1. :mod:`antinb.noise` (initial and per-step noise designs, the design registry),
   :mod:`antinb.models` (embedded models, local folders, cached hub ids), :mod:`antinb.data`;
2. :mod:`antinb.sampling` (DDIM / DDPM on diffusers schedulers), :mod:`antinb.pairs` (PN, RR and
   control pairs), :mod:`antinb.dps` (diffusion posterior sampling);
3. :mod:`antinb.metrics`, :mod:`antinb.stats`, :mod:`antinb.quality` (image statistics,
   correlations, confidence intervals, Frechet distance), :mod:`antinb.estimation`,
   :mod:`antinb.generate` and :mod:`antinb.store` (sharded, resumable generation);
4. :mod:`antinb.findings` (one module per finding of the paper, each a measurement saved by
   :mod:`antinb.measurements` and its presentation, with the paper's numbers from :mod:`antinb.paper`)
   and :mod:`antinb.plots`;
5. :mod:`antinb.book` (notebook runner, book builder, model cards, benchmarks), outside this
   namespace's imports: ``import antinb`` does not load papermill or jupyter-book.

Every name below is imported on first use (:func:`__getattr__`): ``import antinb`` loads only this file
and the version, so a chapter's code closure holds the modules it uses, not everything re-exported here.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

#: Public name -> ``(module, attribute)``; an attribute of ``None`` is the module itself.
_LAZY: dict[str, tuple[str, str | None]] = {
    "metrics": ("metrics", None), "noise": ("noise", None), "sampling": ("sampling", None),
    "stats": ("stats", None), "estimate": ("estimation", "estimate"), "available": ("models", "available"),
    "load": ("models", "load"), "record": ("records", "record"), "ddim": ("sampling", "ddim"),
    "ddpm": ("sampling", "ddpm"), "sample": ("sampling", "sample"),
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    """``antinb.load``, ``antinb.estimate`` and the like, imported on first access."""
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(f"{__name__}.{module}")
        value = mod if attr is None else getattr(mod, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
