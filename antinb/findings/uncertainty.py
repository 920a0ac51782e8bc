"""Finding 5: antithetic and quasi-Monte Carlo noise give shorter confidence intervals.

science.md §6: for a scalar statistic S of the image, the CI of ``E[S(DM(Z))]`` under MC, AMC,
K-AMC and RQMC at equal sample count, and the relative efficiency ``(L_MC / L)^2``.
"""

from __future__ import annotations

from .. import paper
from .base import Column, Table, fill

__all__ = ["CI_LENGTH", "EFFICIENCY", "RHO", "TABLE", "paper_records"]

#: ``method`` is ``mc``, ``amc``, ``rqmc`` or ``kamc<K>`` (e.g. ``kamc4``).
CI_LENGTH = "ci_length/{model}/{stat}/{method}"
EFFICIENCY = "efficiency/{model}/{stat}/{method}"
RHO = "rho/{model}/{stat}"

TABLE = Table(
    "Finding 5: shorter confidence intervals", "05_uncertainty", ("model", "stat"),
    (Column("MC CI length", CI_LENGTH.replace("{method}", "mc"), ".3g"),
     Column("QMC CI length", CI_LENGTH.replace("{method}", "rqmc"), ".3g"),
     Column("QMC efficiency", EFFICIENCY.replace("{method}", "rqmc"), ".2f"),
     Column("AMC CI length", CI_LENGTH.replace("{method}", "amc"), ".3g"),
     Column("AMC efficiency", EFFICIENCY.replace("{method}", "amc"), ".2f"),
     Column("K-AMC (K=4) efficiency", EFFICIENCY.replace("{method}", "kamc4"), ".2f", compare=False),
     Column("K-AMC (K=8) efficiency", EFFICIENCY.replace("{method}", "kamc8"), ".2f", compare=False),
     Column("ρ", RHO, "+.3f", compare=False)),
    note="95 % CI lengths at equal sample count and the relative efficiency "
         "$(\\text{CI length of MC} / \\text{CI length})^2$. "
         "CI lengths depend on the image scale and N, so only the efficiencies are comparable across "
         "models; the paper's lengths are on its own scale. "
         "$\\rho = \\operatorname{corr}(S(\\mathrm{DM}(z)), S(\\mathrm{DM}(-z)))$.",
    paper_alias={"stat": {"centroid_distance": "centroid"}})


def paper_records() -> dict[str, float]:
    """Blog Table 2 under this finding's record names (``None`` entries are left out)."""
    out: dict[str, float] = {}
    for model, rows in paper.TABLE2.items():
        for stat, (l_mc, l_qmc, l_amc, e_qmc, e_amc) in rows.items():
            for template, method, value in ((CI_LENGTH, "mc", l_mc), (CI_LENGTH, "rqmc", l_qmc),
                                            (CI_LENGTH, "amc", l_amc), (EFFICIENCY, "rqmc", e_qmc),
                                            (EFFICIENCY, "amc", e_amc)):
                if value is not None:
                    out[fill(template, model=model, stat=stat, method=method)] = value
    return out
