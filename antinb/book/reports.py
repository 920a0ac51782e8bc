"""The committed bench reports (``benchmarks/results/*.json``), read by the dry run and written by the bench.

Both :mod:`antinb.book.runner` (whose dry run puts a time on a chapter's network evaluations) and
:mod:`antinb.book.bench` (which measures and writes the reports) import this module; neither imports the
other's report handling, so the two stay free of an import circle.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["RESULTS_DIR", "bench_throughput"]

#: Where the bench's reports are committed.
RESULTS_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def bench_throughput(model: str, device_type: str) -> tuple[float, str] | None:
    """``(ms per image row and network call, report file)`` of ``model`` on ``device_type`` from the
    committed bench reports: the row of the largest batch at the thread count of a run here (that of
    ``OMP_NUM_THREADS`` when the report has it, else the report's own, all cores)."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    for path in sorted(Path(RESULTS_DIR).glob("*.json")):
        report = json.loads(path.read_text())
        if report.get("device_type") != device_type:
            continue
        rows = [r for r in report.get("throughput", []) if r.get("model") == model]
        threads = int(env) if env.isdigit() and any(r.get("threads") == int(env) for r in rows) \
            else report.get("threads", max((r.get("threads", 0) for r in rows), default=0))
        rows = [r for r in rows if r.get("threads") == threads]
        if rows:
            return float(max(rows, key=lambda r: r["batch"])["ms_per_image_step"]), path.name
    return None
