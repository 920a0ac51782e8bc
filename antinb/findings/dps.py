"""Finding 6: antithetic diffusion posterior sampling gives shorter intervals for inverse problems.

science.md §7: DPS inpainting, the partner chain negating the initial and every per-step noise;
CIs of the posterior mean per pixel and of scalar reconstruction metrics, MC vs AMC.
"""

from __future__ import annotations

from .. import paper
from .base import Column, Table, fill

__all__ = ["DPS_CI_LENGTH", "DPS_EFFICIENCY", "DPS_RHO", "TABLE", "paper_records"]

DPS_CI_LENGTH = "dps_ci_length/{model}/{metric}/{method}"
DPS_EFFICIENCY = "dps_efficiency/{model}/{metric}"
DPS_RHO = "dps_rho/{model}/{metric}"

TABLE = Table(
    "Finding 6: antithetic diffusion posterior sampling", "06_dps", ("model", "metric"),
    (Column("MC CI length", DPS_CI_LENGTH.replace("{method}", "mc"), ".3g", compare=False),
     Column("AMC CI length", DPS_CI_LENGTH.replace("{method}", "amc"), ".3g", compare=False),
     Column("AMC efficiency", DPS_EFFICIENCY, ".2f"),
     Column("ρ", DPS_RHO, "+.3f", compare=False)),
    note="Inpainting with DPS; metric `pixel` is the median over pixels of the per-pixel posterior-mean "
         "efficiency.")


def paper_records() -> dict[str, str]:
    """The paper's DPS efficiencies under this finding's record names."""
    return {fill(DPS_EFFICIENCY, model=m, metric=metric): value for (m, metric), value in paper.DPS.items()}
