"""Build the antinb Jupyter Book: ``python -m antinb.book build`` (what ``make book`` runs).

:func:`build` does, in order, and stops with a :class:`BookError` that says what to do at the
first failure:

1. **executed notebooks** — every chapter of :data:`CHAPTERS` (the files ``_toc.yml`` lists under
   ``book/executed/``) must have a fresh executed copy ``book/executed/NN_name.ipynb`` run under the
   ``book`` profile (:func:`antinb.book.runner.is_stale`: its source, the book profile's parameters,
   the antinb code it runs, the weights it loaded and the key package versions are unchanged). A
   missing or stale copy, or one executed under any other profile, is re-executed with
   ``antinb.book.runner.run(name, profile="book")`` when ``execute_stale``; otherwise the build fails
   and names the refresh command ``antinb run NN_name --profile book``. Copies that contain error
   outputs are refused.
2. **generated pages** — ``book/results.md`` (every finding's numbers beside the paper's, from the
   JSON summaries, see :data:`FINDINGS` and :data:`PAPER`), ``book/models.md`` with the embedded
   models' cards copied to ``book/models/<name>/``, ``book/profiles.md`` (the parameter
   profiles, included by ``book/reproduce.md``) and ``book/performance.md`` (the committed
   ``antinb bench`` reports of ``benchmarks/results/``, with throughput figures).
3. **HTML** — ``jupyter-book build <root> --builder html -W -n --keep-going --all``: any Sphinx
   warning (a broken reference, a missing citation, an unparsable page) fails the build.
4. **offline assets** — MathJax 3 from the npm package ``mathjax`` is copied to
   ``_build/html/_static/mathjax/`` (``_config.yml`` sets ``mathjax_path`` to it), and no page may
   load a script, stylesheet, font or image from the network.

Record names
------------
``results.md`` is driven by a declarative spec: each finding's :class:`~antinb.findings.base.Table` lists :class:`Column`\\ s whose
``record`` is a template such as ``"corr_mean/{model}/{sampler}/pn/centered"``. A notebook records
``antinb.record("corr_mean/mnist/ddim/pn/centered", r.mean())``; every record matching a template
becomes a row keyed by the template's fields (``{model}`` may contain ``/``, as hub ids do; other
fields are one path segment). Rows the paper reports (keys of :data:`PAPER`) are always listed, with
"not run" where we have no number. Records that no template matches are listed per notebook under
"Other recorded numbers", so nothing recorded is lost from the page.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import yaml

from .. import findings, paper
from .._files import write_atomic
from ..data import npm_package_dirs
from ..findings import base
from ..findings.base import Table
from ..findings.verdicts import FLAGGED
from . import runner

__all__ = ["BookError", "CHAPTERS", "PUBLISHED_PROFILE", "Table", "FINDINGS", "PAPER", "MODEL_LABELS",
           "build", "chapters", "ensure_executed", "staleness", "paper_value", "results_markdown", "summary_table",
           "glance_markdown", "bottom_line_markdown", "prompt_files", "states", "print_status", "write_results", "write_performance", "record_runs", "book_runs_markdown", "BOOK_RUNS",
           "write_models", "write_profiles", "paper_row_commands", "paper_rows_markdown", "write_paper_rows", "mathjax_dir", "copy_mathjax", "remote_assets", "main"]

ROOT = runner.ROOT
BOOK_DIR = ROOT / "book"
BUILD_HTML = ROOT / "_build" / "html"
TOC = ROOT / "_toc.yml"
#: The only profile the book publishes.
PUBLISHED_PROFILE = runner.PUBLISHED_PROFILE
_EXECUTED_PREFIX = "book/executed/"


def chapters(toc: Path = TOC) -> tuple[str, ...]:
    """The executed chapters ``_toc.yml`` lists (files under ``book/executed/``), in book order."""
    if not Path(toc).is_file():
        return ()
    data = yaml.safe_load(Path(toc).read_text()) or {}
    found: list[str] = []

    def walk(entries: list[dict[str, Any]] | None) -> None:
        for entry in entries or []:
            f = str(entry.get("file", ""))
            if f.startswith(_EXECUTED_PREFIX):
                found.append(Path(f[len(_EXECUTED_PREFIX):]).with_suffix("").as_posix())
            walk(entry.get("sections"))

    for part in data.get("parts") or []:
        walk(part.get("chapters"))
    walk(data.get("chapters"))
    return tuple(found)


@functools.cache
def _chapters() -> tuple[str, ...]:
    """:data:`CHAPTERS`, read once, on first use (importing this module reads no file)."""
    return chapters()


class BookError(RuntimeError):
    """The book cannot be built; the message says why and which command fixes it."""


# --------------------------------------------------------------------------- the findings' declarations

@functools.cache
def _findings() -> tuple[Table, ...]:
    """:data:`FINDINGS`, on first use (importing this module imports no findings module)."""
    return findings.tables()
@functools.cache
def _paper() -> dict[str, Any]:
    """:data:`PAPER`, on first use."""
    return findings.paper_records()


#: Module attributes computed on first use: ``CHAPTERS`` (the chapters of the book, in order, read from
#: ``_toc.yml`` by :func:`chapters`, never repeated here), ``FINDINGS`` (the results tables the findings
#: modules declare, :func:`antinb.findings.tables`) and ``PAPER`` (the paper's numbers keyed by our record
#: names, :func:`antinb.findings.paper_records`).
_LAZY = {"CHAPTERS": _chapters, "FINDINGS": _findings, "PAPER": _paper}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return _LAZY[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
MODEL_LABELS = paper.MODEL_LABELS


# --------------------------------------------------------------------------- results generation


def paper_value(name: str) -> float | str | None:
    """The paper's number for record ``name`` (exact key first, then ``*`` patterns), or None."""
    return base.paper_value(_paper(), name)


def _format(value: Any, fmt: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and math.isinf(value):
            return "∞" if value > 0 else "−∞"
        try:
            text = format(value, fmt)
        except (ValueError, TypeError):
            text = format(value, "g") if isinstance(value, float) else str(value)
        return text.replace("-", "−")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format(v, fmt) for v in value[:6]) + (", …" if len(value) > 6 else "") + "]"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _load_summary(name: str, executed_dir: Path) -> dict[str, Any] | None:
    js = executed_dir / f"{name}.json"
    nb = executed_dir / f"{name}.ipynb"
    try:
        if nb.exists():
            stamp = runner.stamp_of(nb)
            if stamp:
                return stamp
        if js.exists():
            return json.loads(js.read_text())
    except (OSError, ValueError) as err:  # truncated or corrupt: named, never a JSONDecodeError traceback
        bad = nb if nb.exists() and not js.exists() else f"{nb} or {js}"
        raise BookError(f"{bad} is corrupt or unreadable ({type(err).__name__}: {err}); "
                        f"re-run it with `{_refresh(name)}`") from None
    return None


def _provenance_table(summaries: dict[str, dict[str, Any] | None]) -> list[str]:
    lines = ["| chapter | profile on device | executed (UTC) | wall time | git | numbers |",
             "|---|---|---|---|---|---|"]
    for name, s in summaries.items():
        link = f"{{doc}}`{name} <executed/{name}>`"
        if not s:
            lines.append(f"| {link} | not run | | | | |")
            continue
        env = s.get("environment", {})
        finished = str(s.get("finished", "?")).replace("T", " ").replace("+00:00", "")
        wall = s.get("wall_s")
        wall_txt = f"{wall / 60:.1f} min" if isinstance(wall, (int, float)) else "?"
        cells = [link, f"`{s.get('profile', '?')}` on {env.get('device', '?')}", finished, wall_txt,
                 f"`{s.get('git_commit')}`", str(len(s.get("records", {})))]
        lines.append("| " + " | ".join(_cell(str(c)) for c in cells) + " |")
    return lines


def _row_cells(row: base.Row) -> list[str]:
    if row.verdict == base.NOT_RUN:
        return [row.paper_setting, row.paper, base.NOT_RUN, base.NOT_RUN]
    return [row.paper_setting, row.paper, f"{row.ours} ({row.our_setting})", row.verdict]


SUMMARY_HEADER = "| the paper's setting | paper | ours (95 % interval, our setting) | verdict |"


def summary_table(summary: base.Summary) -> list[str]:
    """One finding's table: one row per setting, the paper's number beside ours (with its interval
    and the model, sampler and sample size it comes from) and a verdict; then each row's caveat,
    listed below the table so that four columns fit the page."""
    lines = [SUMMARY_HEADER, "|---|---|---|---|"]
    for row in summary.rows:
        lines.append("| " + " | ".join(_cell(c) for c in _row_cells(row)) + " |")
    caveats = [f"- *{row.our_setting}* ({row.paper_setting}): {row.caveat}"
               for row in summary.rows if row.verdict != base.NOT_RUN and row.caveat]
    if caveats:
        lines += ["", "Caveats:", ""] + caveats
    return lines


def glance_markdown(summaries: tuple[base.Summary, ...]) -> str:
    """The findings-at-a-glance table: per finding the paper's claim, ours with 95 % intervals, the verdict."""
    lines = ["<!-- generated by `python -m antinb.book build` from book/executed/*.json; do not edit -->", "",
             "| finding | the paper's claim | ours (95 % interval, setting) | verdict |", "|---|---|---|---|"]
    for s in summaries:
        link = f"{{doc}}`{s.finding} <{_EXECUTED_PREFIX[len('book/'):]}{s.chapter}>`"
        lines.append("| " + " | ".join(_cell(c) for c in (link, s.claim, s.ours(), f"**{s.verdict}**")) + " |")
    return "\n".join(lines) + "\n"


def bottom_line_markdown(summaries: tuple[base.Summary, ...]) -> str:
    """The book's bottom line: one sentence per finding (its takeaway, its verdict under the book's rules, the
    number that carries it with its interval and setting, and how many settings go the other way), for the
    top of the introduction."""
    lines = ["<!-- generated by `python -m antinb.book build` from book/executed/*.json; do not edit -->", ""]
    for s in summaries:
        link = f"{{doc}}`{s.finding}. {s.title.split(': ', 1)[-1]} <{_EXECUTED_PREFIX[len('book/'):]}{s.chapter}>`"
        row = s.carrier()
        if row is None:
            lines.append(f"- **{link}**: {NOT_RUN_TEXT}.")
            continue
        verdict = (f"beyond the paper: **{s.outcome}**" if s.verdict == base.BEYOND else f"**{s.verdict}**")
        number = f"{row.short or row.ours} ({row.our_setting}{' †' if row.flagged and '†' not in row.our_setting else ''})"
        against = s.against()
        tail = ""
        if against:
            tail = f"; {len(against)} of {len(s.ran)} settings go the other way"
        flagged = [r for r in s.ran if r.flagged]
        if flagged:
            tail += f"; {len(flagged)} from a flagged model †"
        lead = f"{s.takeaway} " if s.takeaway else ""
        lines.append(f"- **{link}**: {lead}{verdict}; {number}{tail}.")
    lines += ["", "† a model the book flags: " + "; ".join(f"`{m}`: {why}" for m, why in FLAGGED.items()) + "."]
    return "\n".join(lines) + "\n"


NOT_RUN_TEXT = "not run here"


def _all_records(name: str, recs: dict[str, Any]) -> list[str]:
    rest = [(k, v) for k, v in recs.items() if not isinstance(v, dict)]
    if not rest:
        return []
    lines = [f":::{{dropdown}} Every number {name} recorded", "", "| record | value |", "|---|---|"]
    # a long record name may wrap after a '/' (<wbr> adds no character, so a copied name stays exact)
    lines += [f"| {'/<wbr>'.join(f'`{_cell(p)}`' for p in k.split('/'))} | {_cell(_format(v, '.4g'))} |"
              for k, v in rest]
    lines += ["", ":::", ""]
    return lines


def results_markdown(runs: dict[str, dict[str, Any] | None]) -> str:
    """The text of ``book/results.md`` from the chapters' provenance stamps (``None`` = not run)."""
    summaries = findings.summaries(runs)
    lines = ["# Results", "",
             "<!-- generated by `python -m antinb.book build` from book/executed/*.json; do not edit -->", "",
             "Each finding in a few rows, written from the numbers the chapters recorded: the paper's setting and "
             "number {cite}`jia2025antithetic` beside our model, sampler, sample size and number with its 95 % "
             "interval, a verdict per setting and what limits the comparison. Our numbers come from small "
             "models trained on other data than the paper's ({doc}`limits`), so they test whether each "
             "*phenomenon* appears, not the paper's digits; \"not run here\" marks a paper setting whose "
             "weights need a download ({doc}`reproduce` shows how to run it). Only comparable quantities stand "
             "side by side (correlations, efficiencies, percentages); every other recorded number is in the "
             "dropdowns at the end.", "", "## At a glance", ""]
    lines += glance_markdown(summaries).splitlines()[2:]
    lines.append("")
    for s in summaries:
        table = next(t for t in _findings() if t.chapter == s.chapter)
        lines += [f"## {s.title}", "",
                  f"Chapter: {{doc}}`{_EXECUTED_PREFIX[len('book/'):]}{s.chapter}`. **The paper's claim:** {s.claim}. "
                  f"**Verdict: {s.verdict}.** {table.note}", ""]
        lines += summary_table(s)
        lines.append("")
    lines += ["## Provenance", "",
              "Each chapter's own provenance cell lists its full parameters, versions and source hashes.", ""]
    lines += _provenance_table(runs)
    lines.append("")
    extra: list[str] = []
    for name, run in runs.items():
        if run:
            extra += _all_records(name, run.get("records", {}))
    if extra:
        lines += ["## Every recorded number", ""] + extra
    return "\n".join(lines).rstrip() + "\n"


def _published(executed_dir: Path) -> dict[str, dict[str, Any] | None]:
    runs = {name: _load_summary(name, executed_dir) for name in _chapters()}
    # only book-profile runs are published: any other run's numbers show as "not run"
    return {name: s if s and s.get("profile") == PUBLISHED_PROFILE else None for name, s in runs.items()}


def write_results(executed_dir: Path | None = None, out: Path | None = None, glance: Path | None = None) -> Path:
    """Write ``book/results.md`` and the findings-at-a-glance table ``book/glance.md`` (included by the
    introduction) from the stamps in ``executed_dir``; returns the results page's path."""
    executed_dir = Path(executed_dir or runner.EXECUTED_DIR)
    out = Path(out or BOOK_DIR / "results.md")
    glance = Path(glance or out.with_name("glance.md"))
    runs = _published(executed_dir)
    write_atomic(out, results_markdown(runs))  # a mkstemp file renamed into place: no link is followed
    summaries = findings.summaries(runs)
    write_atomic(glance, glance_markdown(summaries))
    write_atomic(out.with_name("bottom-line.md"), bottom_line_markdown(summaries))
    return out


# --------------------------------------------------------------------------- every paper row

#: Paper models antinb cannot run, and why (their rows get no command).
UNRUNNABLE: dict[str, str] = {
    paper.DIT: "antinb refuses DiT's `transformer/` layout (`antinb.models.check_layout`)",
    paper.FFHQ_DPS: "the paper's DPS checkpoint (CelebA-HQ in the blog post) is not a diffusers hub model; the "
                    "`full` profile runs `google/ddpm-celebahq-256` instead, which does not fill this row",
}
def prompt_files(profile: str = "full") -> dict[str, str]:
    """The prompt file each named prompt source is read from under ``profile``: its ``prompt_files`` section,
    declared once in the profile (``:prompted`` takes the chapter's own ``prompts``); ``{}`` without one."""
    path = Path(profile) if profile.endswith((".yml", ".yaml")) else runner.PARAMS_DIR / f"{profile}.yml"
    return dict((yaml.safe_load(path.read_text()) or {}).get("prompt_files") or {}) if path.exists() else {}


def paper_row_commands(profile: str = "full") -> list[dict[str, Any]]:
    """Per paper row of every finding (the rows a summary without records lists as not run): the
    finding, the paper's setting and number, the ``antinb run`` command that fills it (``None`` with a
    ``reason`` where antinb cannot run the paper's model ``model``), and that command's dry run
    (:func:`antinb.book.runner.dry_run`): network evaluations and seconds (``None`` without a bench
    report for the model on the profile's device)."""
    from ..prompts import split_key

    files = prompt_files(profile)
    out = []
    for summary in findings.summaries({}):
        for row in summary.rows:
            if not row.paper_model:
                continue
            model, source, _ = split_key(row.paper_model)
            entry = {"finding": summary.finding, "chapter": summary.chapter, "paper_setting": row.paper_setting,
                     "paper": row.paper, "paper_model": row.paper_model, "model": model, "command": None,
                     "reason": None, "evaluations": None, "seconds": None, "device": None}
            if model in UNRUNNABLE:
                entry["reason"] = UNRUNNABLE[model]
                out.append(entry)
                continue
            overrides: dict[str, Any] = {"models": [model]}
            args = ["-p", "models", json.dumps([model])]
            if source not in (None, "prompted"):
                overrides["prompts"] = files[source]
                args += ["-p", "prompts", files[source]]
            dry = runner.dry_run(summary.chapter, profile, overrides)
            entry.update(command=["antinb", "run", summary.chapter, "--profile", profile, *args],
                         evaluations=sum(r["evaluations"] for r in dry), device=dry[0]["device"],
                         seconds=None if any(r["seconds"] is None for r in dry) else sum(r["seconds"] for r in dry))
            out.append(entry)
    return out


def _shell(command: list[str]) -> str:
    """``command`` as shell lines of a few words each (continued with ``\\``), to fit the book's column."""
    words = [shlex.quote(w) for w in command]
    lines, i = [" ".join(words[:5])], 5
    while i < len(words):
        lines.append("    " + " ".join(words[i:i + 3]))
        i += 3
    return " \\\n".join(lines)


def paper_rows_markdown(profile: str = "full") -> str:
    """The reproduce page's list of every paper row: the command that fills it and what it costs."""
    lines = ["<!-- generated by `python -m antinb.book build` from antinb.findings and antinb.paper; do not edit -->",
             ""]
    for entry in paper_row_commands(profile):
        head = (f"**Finding {entry['finding']}, {entry['paper_setting']}** (paper: {entry['paper']}; chapter "
                f"{{doc}}`executed/{entry['chapter']}`)")
        if entry["command"] is None:
            lines += [f"- {head}: not runnable here: {entry['reason']}.", ""]
            continue
        cost = f"{entry['evaluations']:,} network evaluations"
        cost += (f", about {entry['seconds'] / 60:.0f} min on {entry['device']}" if entry["seconds"] is not None
                 else f"; time unknown: no bench report for this model on {entry['device']} "
                      f"(`antinb bench --device {entry['device']} {entry['model']}` "
                      "writes one)")
        lines += [f"- {head}: {cost}.", "", "  ```bash", *("  " + ln for ln in _shell(entry["command"]).splitlines()),
                  "  ```", ""]
    return "\n".join(lines) + "\n"


def write_paper_rows(out: Path | None = None, profile: str = "full") -> Path:
    """Write ``book/paper_rows.md`` (included by ``reproduce.md``): :func:`paper_rows_markdown`."""
    out = Path(out or BOOK_DIR / "paper_rows.md")
    write_atomic(out, paper_rows_markdown(profile))
    return out


# --------------------------------------------------------------------------- models and profiles


def _fresh_dir(path: Path) -> Path:
    """An empty ``path``: generated files of an earlier build must not survive into this one."""
    if path.is_symlink():  # never empty (or write into) the folder a link points to
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def embedded_model_dirs() -> list[Path]:
    """Folders of the embedded diffusion models (same rule as :mod:`antinb.models`)."""
    weights = runner.ROOT / "antinb" / "weights"
    if not weights.is_dir():
        return []
    return [d for d in sorted(weights.iterdir())
            if (d / "unet" / "config.json").exists() and (d / "scheduler").is_dir()]


def write_models(out_dir: Path | None = None, page: Path | None = None, *, strict: bool = True) -> Path:
    """Copy every embedded model's card (README.md and its figures) to ``book/models/<name>/`` and
    write ``book/models.md`` that includes them; a missing card fails when ``strict``."""
    out_dir = Path(out_dir or BOOK_DIR / "models")
    page = Path(page or BOOK_DIR / "models.md")
    _fresh_dir(out_dir)
    lines = ["# Embedded models", "",
             "<!-- generated by `python -m antinb.book build` from antinb/weights/*/README.md; do not edit -->", "",
             "The chapters run on these small DDPMs, trained on the CPU on offline data and shipped in "
             "`antinb/weights/`. Each card below was measured by `antinb card` on the model as shipped: "
             "quality against real data, real vs generated distributions of the statistics the uncertainty "
             "chapter estimates, and the antithetic sanity check.", ""]
    dirs = embedded_model_dirs()
    if not dirs:
        raise BookError("no embedded models found in antinb/weights/ (each needs unet/ and scheduler/)")
    missing = []
    for d in dirs:
        card = d / "README.md"
        rel = d.relative_to(runner.ROOT)
        if not card.exists():
            missing.append(f"{rel}/README.md (write it with `antinb card {rel}`)")
            lines += [f"## Model `{d.name}`", "", f"The card of this model has not been written yet "
                      f"(`antinb card {rel}`).", ""]
            continue
        dest = out_dir / d.name
        dest.mkdir()
        text = card.read_text()
        for ref in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text):
            src = d / ref
            if re.match(r"^[a-z]+://", ref) or not src.is_file():
                missing.append(f"{rel}/{ref} (an image the card shows; rewrite the card with `antinb card {rel}`)")
                continue
            (dest / ref).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / ref)
        write_atomic(dest / "README.md", text)
        lines += ["```{include} " + f"models/{d.name}/README.md", ":heading-offset: 1", ":relative-images:",
                  "```", ""]
    if missing and strict:
        raise BookError("model cards are incomplete:\n  " + "\n  ".join(missing))
    write_atomic(page, "\n".join(lines).rstrip() + "\n")
    return page


def _measure_seconds(stamp: dict[str, Any] | None) -> float | None:
    """How long a published chapter's measurement took: the measuring run's time, kept with the saved
    measurement (a re-rendered chapter's own run takes seconds); a stamp without one gives its run's time."""
    if not stamp:
        return None
    m = stamp.get("measurement") or {}
    return m.get("measure_s") if isinstance(m.get("measure_s"), (int, float)) else stamp.get("wall_s")


def write_profiles(out: Path | None = None, executed_dir: Path | None = None) -> Path:
    """Write ``book/profiles.md`` (included by ``reproduce.md``): each profile's parameters, and for the
    published profile each chapter's wall time from its provenance stamp."""
    out = Path(out or BOOK_DIR / "profiles.md")
    params_dir = runner.NOTEBOOK_DIR / "params"
    files = sorted(params_dir.glob("*.yml")) if params_dir.is_dir() else []
    order = {"ci": 0, "book": 1, "full": 2}
    files.sort(key=lambda p: (order.get(p.stem, 9), p.stem))
    lines = ["<!-- generated by `python -m antinb.book build` from notebooks/params/*.yml; do not edit -->", ""]
    if not files:
        lines.append("*No parameter profiles found in `notebooks/params/`.*")
    published = _published(Path(executed_dir or runner.EXECUTED_DIR))
    for f in files:
        data = yaml.safe_load(f.read_text()) or {}
        timed = f.stem == PUBLISHED_PROFILE
        lines += [f"**`{f.stem}`** (`notebooks/params/{f.name}`)", ""]
        if timed:
            walls = {n: _measure_seconds(s) for n, s in published.items()}
            known = [w for w in walls.values() if isinstance(w, (int, float))]
            devices = sorted({str((s or {}).get("environment", {}).get("device", "?")) for s in published.values() if s})
            lines += [f"Time each published chapter's measurement took on {', '.join(devices) or 'this machine'} "
                      f"(its provenance stamp; chapters share the sample cache, so a chapter measured after another "
                      f"that sampled the same images reads them): {sum(known) / 60:.0f} min in all. Re-rendering a "
                      f"chapter from its saved measurement takes seconds; measuring the whole book from an empty "
                      f"sample cache takes longer (the performance appendix's cold run).", ""]
        lines += ["| notebook | parameters |" + (" time |" if timed else ""), "|---|---|" + ("---|" if timed else "")]
        for section, values in data.items():
            values = values or {}
            text = ", ".join(f"`{k}={v!r}`" for k, v in values.items()) or "(defaults)"
            label = "every notebook" if section == "all" else f"`{section}`"
            row = f"| {label} | {_cell(text)} |"
            if timed:
                w = walls.get(section)
                row += f" {w / 60:.1f} min |" if isinstance(w, (int, float)) else " |"
            lines.append(row)
        lines.append("")
    write_atomic(out, "\n".join(lines).rstrip() + "\n")
    return out


#: Timed runs of the whole book profile (``python -m antinb.book runs``): label -> chapter -> stamp extract.
BOOK_RUNS = ROOT / "benchmarks" / "book-runs.json"
#: The time targets of a run of the book profile on this machine's 2 cores (minutes).
COLD_TOTAL_MIN, CHAPTER_MIN, WARM_TOTAL_MIN = 60, 15, 5


def record_runs(label: str, executed_dir: Path, out: Path | None = None) -> Path:
    """Add the book-profile stamps in ``executed_dir`` to :data:`BOOK_RUNS` under ``label`` (``cold``: from an
    empty sample cache; ``warm``: the same run again): per chapter its wall time, device, commit and usage."""
    out = Path(out or BOOK_RUNS)
    runs = json.loads(out.read_text()) if out.exists() else {}
    got = {name: {"wall_s": s.get("wall_s"), "started": s.get("started"), "git_commit": s.get("git_commit"),
                  "device": (s.get("environment") or {}).get("device"), "usage": s.get("usage") or {}}
           for name, s in _published(Path(executed_dir)).items() if s}
    if not got:
        raise BookError(f"{executed_dir} holds no book-profile run of any chapter")
    runs[label] = got
    write_atomic(out, json.dumps(runs, indent=1, sort_keys=True) + "\n")
    return out


def book_runs_markdown(runs: dict[str, dict[str, Any]]) -> list[str]:
    """The performance page's section on timed runs of the book profile (:func:`record_runs`): per chapter
    and run its wall time, the network evaluations it made and what the shared sample cache
    (:mod:`antinb.cache`) served it, against the time targets."""
    lines = ["## The book profile, cold and warm", ""]
    if not runs:
        return lines + ["*No timed run of the book profile has been recorded (`python -m antinb.book runs`).*", ""]
    lines += ["Each chapter of the book profile, as its provenance stamp records it: wall time, the network "
              "evaluations (image rows through a network once) it made, and what the shared sample cache "
              "(`antinb.cache`) served it instead: images read from chunks that an earlier chapter or run "
              "generated with the same weights, noise design, seed, sampler and steps, and memoised results "
              "(DPS, trajectories, network slices) read back. *Cold* is a run from an empty cache in book order, "
              "so the first chapter to ask for a set pays for it; *warm* is the same run again, as after a "
              "prose-only change. Re-measure: delete `_build/cache/`, run `antinb run all --profile book`, "
              "then `python -m antinb.book runs cold book/executed`; run it again and record `warm`. The book profile "
              "uses no speed option (float32 weights, contiguous memory, no compilation); the sample cache keys "
              "its entries by them, so a run with one would generate its own.", ""]
    labels = [k for k in ("cold", "warm") if k in runs] + sorted(k for k in runs if k not in ("cold", "warm"))
    titles = {"cold": "From an empty cache (cold)", "warm": "The same run again (warm)"}
    for k in labels:
        lines += [f"**{titles.get(k, k)}**", "",
                  "| chapter | wall time | network evaluations made | evaluations saved by the cache |",
                  "|---|---|---|---|"]
        total = [0.0, 0, 0]
        for name in [c for c in _chapters() if c in runs[k]]:
            r = runs[k][name]
            use = r.get("usage") or {}
            made, saved = use.get("network_evaluations"), use.get("evaluations_saved")
            lines.append(f"| {name} | {r['wall_s'] / 60:.1f} min | "
                         f"{f'{made:,}' if isinstance(made, int) else '?'} | "
                         f"{f'{saved:,}' if isinstance(saved, int) else '?'} |")
            for i, v in enumerate((r["wall_s"], made, saved)):
                total[i] += v if isinstance(v, (int, float)) else 0
        lines += [f"| all | {total[0] / 60:.1f} min | {int(total[1]):,} | {int(total[2]):,} |", ""]
    devices = sorted({str(r.get("device")) for k in labels for r in runs[k].values()})
    lines.append(f"Device: {', '.join(devices)}.")
    if "cold" in runs:
        first = [c for c in _chapters()[:6] if c in runs["cold"]]
        cold = sum(runs["cold"][c]["wall_s"] for c in first) / 60
        worst = max(_chapters(), key=lambda c: runs["cold"].get(c, {}).get("wall_s", 0))
        lines.append(f"Targets: chapters 1-6 from an empty cache {cold:.1f} min (at most {COLD_TOTAL_MIN}: "
                     f"{'met' if cold <= COLD_TOTAL_MIN and len(first) == 6 else '**not met**'}); the longest "
                     f"chapter {worst} {runs['cold'][worst]['wall_s'] / 60:.1f} min (at most {CHAPTER_MIN}: "
                     f"{'met' if runs['cold'][worst]['wall_s'] / 60 <= CHAPTER_MIN else '**not met**'})"
                     + (";" if "warm" in runs else "."))
    if "warm" in runs:
        warm = sum(r["wall_s"] for r in runs["warm"].values()) / 60
        lines.append(f"the whole book from a warm cache {warm:.1f} min (under {WARM_TOTAL_MIN}: "
                     f"{'met' if warm < WARM_TOTAL_MIN and len(runs['warm']) == len(_chapters()) else '**not met**'}).")
    return lines + [""]


def write_performance(out: Path | None = None, results_dir: Path | None = None,
                      runs_file: Path | None = None) -> Path:
    """Write ``book/performance.md`` (and its throughput figures in ``book/performance/``) from the timed
    runs of the book profile (:data:`BOOK_RUNS`, :func:`book_runs_markdown`) and the committed
    ``antinb bench`` reports in ``benchmarks/results/``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .. import plots
    from . import bench

    out = Path(out or BOOK_DIR / "performance.md")
    fig_dir = _fresh_dir(out.parent / "performance")
    lines = ["# Performance", "",
             "<!-- generated by `python -m antinb.book build` from benchmarks/results/*.json; do not edit -->", "",
             "Antithetic sampling should cost exactly the network evaluations it makes. `antinb bench` "
             "(`antinb/book/bench.py`) measures this in one process, on the same UNet, batch size, steps and threads, "
             "interleaving the two sides of every comparison and reporting minimum and median of repeated runs: "
             "antinb's DDIM sampler against diffusers' own `DDIMPipeline`, antithetic (PN) against independent (RR) "
             "noise, the share of the sampler's wall time spent inside the UNet's forward pass, images per second by "
             "batch size and thread count for every embedded model, the speed options "
             "(`DiffusionModel.optimize(channels_last=..., compile=...)`, `load(..., dtype=torch.float16)`), and "
             "the wall time of every notebook under the `ci` and `book` profiles. Re-measure with "
             "`antinb bench --notebooks`; the report goes to `benchmarks/results/<device>.json`.", ""]
    runs_file = Path(runs_file or BOOK_RUNS)
    lines += book_runs_markdown(json.loads(runs_file.read_text()) if runs_file.exists() else {})
    reports = bench.load_reports(results_dir)
    if not reports:
        lines.append("*No benchmark report has been committed yet (`antinb bench`).*")
    for i, report in enumerate(reports):
        figure = None
        if report.get("throughput"):
            fig = plots.throughput(report["throughput"], title=f"DDIM throughput on {report['device']}")
            name = f"throughput-{i}.png"
            fig.savefig(fig_dir / name, dpi=110)
            plt.close(fig)
            figure = f"performance/{name}"
        lines += [bench.markdown(report, figure=figure), ""]
    write_atomic(out, "\n".join(lines).rstrip() + "\n")
    return out


# --------------------------------------------------------------------------- executed notebooks


def _refresh(name: str) -> str:
    return f"antinb run {name} --profile book"


def _error_outputs(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    errors = []
    for i, cell in enumerate(nb.get("cells", [])):
        if "raises-exception" in cell.get("metadata", {}).get("tags", []):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                errors.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
    return errors


def staleness() -> dict[str, str | None]:
    """``{chapter: None if its published copy is fresh, else why not}`` (``python -m antinb.book status``)."""
    return {name: runner.is_stale(runner.EXECUTED_DIR / f"{name}.ipynb", runner.NOTEBOOK_DIR / f"{name}.py",
                                  profile=PUBLISHED_PROFILE) for name in _chapters()}


def states() -> dict[str, tuple[str, str | None]]:
    """``{chapter: (state, why)}`` of the published copies: ``fresh``, ``re-render`` (only the page would
    change: re-running reads the saved measurement) or ``re-measure`` (:func:`antinb.book.runner.chapter_state`)."""
    out = {}
    for name in _chapters():
        try:
            out[name] = runner.chapter_state(name, profile=PUBLISHED_PROFILE, out_dir=runner.EXECUTED_DIR)
        except (runner.NotebookError, ValueError) as err:
            out[name] = ("re-measure", str(err))
    return out


def _closure_line(closure: dict[str, str]) -> str:
    """``antinb.findings.symmetry (measure, eps_slices, ...); antinb.sampling; ...`` for ``status``."""
    own: dict[str, list[str]] = {}
    mods = []
    for key in closure:
        if ":" in key:
            mod, name = key.split(":", 1)
            own.setdefault(mod, []).append(name)
        else:
            mods.append(key)
    parts = [f"{m} ({', '.join(names)})" for m, names in own.items()] + mods
    return "; ".join(parts)


def print_status(*, closures: bool = True) -> int:
    """``python -m antinb.book status``: each chapter's state and cause, and the code its measurement depends on;
    exit status 1 when any chapter is not fresh."""
    result = states()
    for name, (state, why) in result.items():
        print(f"{name}: {state}" + (f": {why}" if why else ""))
        if closures:
            try:
                print(f"  measures with: {_closure_line(runner.measure_closure(name))}")
            except (runner.NotebookError, ValueError) as err:
                print(f"  measures with: unknown ({err})")
    return 1 if any(state != "fresh" for state, _ in result.values()) else 0


def ensure_executed(*, execute_stale: bool = True,
                    log: Callable[[str], None] = print) -> dict[str, dict[str, Any]]:
    """Make sure every chapter has a fresh executed copy of the ``book`` profile; returns ``{name: stamp}``.

    A copy executed under any other profile (or with overridden parameters) is stale: it is
    re-executed under the book profile when ``execute_stale``, refused otherwise; never published.
    """
    stamps: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for name in _chapters():
        source = runner.NOTEBOOK_DIR / f"{name}.py"
        executed = runner.EXECUTED_DIR / f"{name}.ipynb"
        if not source.exists():
            problems.append(f"{name}: the source notebooks/{name}.py does not exist")
            continue
        reason = runner.is_stale(executed, source, profile=PUBLISHED_PROFILE)
        if reason is not None:
            if not execute_stale:
                problems.append(f"{name}: {reason}; refresh it with `{_refresh(name)}`")
                continue
            log(f"{name}: {reason}; executing it with profile {PUBLISHED_PROFILE} ...")
            try:
                stamp = runner.run(name, profile=PUBLISHED_PROFILE, output_dir=runner.EXECUTED_DIR)
            except (runner.NotebookError, ValueError) as err:
                problems.append(f"{name}: execution failed: {err}")
                continue
            log(f"{name}: executed in {stamp['wall_s']:.0f} s")
            reason = runner.is_stale(executed, source, profile=PUBLISHED_PROFILE)
            if reason is not None:  # e.g. the source was edited while it ran
                problems.append(f"{name}: still stale after executing it: {reason}")
                continue
        stamp = runner.stamp_of(executed)
        errors = _error_outputs(executed)
        if errors:
            problems.append(f"{name}: the executed copy contains error outputs ({'; '.join(errors[:3])}); "
                            f"fix the notebook and run `{_refresh(name)}`")
            continue
        stamps[name] = stamp
    if problems:
        raise BookError("executed notebooks are not ready:\n  " + "\n  ".join(problems))
    return stamps


# --------------------------------------------------------------------------- HTML


def mathjax_dir() -> Path:
    """The ``es5`` folder of the npm package ``mathjax`` (``node_modules`` or global install)."""
    candidates = [d / "es5" for d in npm_package_dirs("mathjax")]
    for c in candidates:
        if (c / "tex-chtml.js").is_file():
            return c
    raise BookError("MathJax 3 is not installed: run `npm install -g mathjax@3` (scripts/install.sh does); "
                    f"looked in {', '.join(str(c) for c in candidates)}")


# The combined bundles the book does not load (it uses tex-chtml.js and its lazily loaded parts).
_MATHJAX_SKIP = ("*-svg*.js", "*-full*.js", "mml-*.js", "tex-mml-*.js", "node-main.js", "latest.js")


def copy_mathjax(html_dir: Path) -> Path:
    """Copy the local MathJax into ``<html_dir>/_static/mathjax``; returns that folder."""
    src = mathjax_dir()
    dest = Path(html_dir) / "_static" / "mathjax"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(*_MATHJAX_SKIP))
    return dest


_REMOTE_ATTR = re.compile(r"<(script|link|img|iframe|source|video|audio|embed)\b[^>]*?\b(src|href)\s*=\s*[\"']"
                          r"((?:https?:)?//[^\"']+)", re.I)
_REMOTE_CSS = re.compile(r"(?:url\(\s*[\"']?|@import\s+[\"'])((?:https?:)?//[^\"')\s]+)", re.I)


def remote_assets(html_dir: Path) -> list[str]:
    """``file: url`` for every script, stylesheet, image, frame or CSS url() that is not local."""
    html_dir = Path(html_dir)
    found = []
    for page in sorted(html_dir.rglob("*.html")):
        if "_static/mathjax" in page.as_posix():
            continue
        for m in _REMOTE_ATTR.finditer(page.read_text(errors="replace")):
            if m.group(1).lower() == "link" and not re.search(r"rel=[\"'][^\"']*(stylesheet|icon|preload|preconnect|prefetch|manifest)",
                                                             m.group(0), re.I):
                continue
            found.append(f"{page.relative_to(html_dir)}: {m.group(3)}")
    for css in sorted(html_dir.rglob("*.css")):
        for m in _REMOTE_CSS.finditer(css.read_text(errors="replace")):
            found.append(f"{css.relative_to(html_dir)}: {m.group(1)}")
    return found


def _jupyter_book(root: Path, *, strict: bool, log: Callable[[str], None]) -> None:
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(root),
           "--builder", "html", "--all"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    log("$ jupyter-book build " + " ".join(cmd[4:]))
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    log(output.rstrip())
    if proc.returncode != 0:
        issues = [ln for ln in output.splitlines() if re.search(r"WARNING|ERROR|Error|Exception", ln)]
        raise BookError(f"jupyter-book build failed (exit {proc.returncode}); "
                        f"{'warnings are errors (-W); ' if strict else ''}the problems:\n  "
                        + "\n  ".join(issues[-40:] or output.splitlines()[-40:]))


def build(*, execute_stale: bool = True, strict: bool = True, log: Callable[[str], None] = print) -> Path:
    """Build the book into ``_build/html``; returns that folder. Raises :class:`BookError`.

    Args:
        execute_stale: run missing or stale notebooks under the ``book`` profile
            (``antinb.book.runner.run``) instead of failing.
        strict: Sphinx warnings are errors (``-W -n --keep-going``) and model cards must be complete.
    """
    root = runner.ROOT
    ensure_executed(execute_stale=execute_stale, log=log)
    write_results()
    write_models(strict=strict)
    write_profiles()
    write_paper_rows()
    write_performance()
    html_dir = root / "_build" / "html"
    if html_dir.exists():  # no page of an earlier build may survive (the browser test visits them all)
        shutil.rmtree(html_dir)
    _jupyter_book(root, strict=strict, log=log)
    if not (html_dir / "index.html").exists():
        raise BookError(f"jupyter-book reported success but {html_dir / 'index.html'} is missing")
    copy_mathjax(html_dir)
    remote = remote_assets(html_dir)
    if remote:
        raise BookError("the HTML loads assets from the network (the book must work offline):\n  "
                        + "\n  ".join(remote[:40]))
    log(f"book built: {html_dir / 'index.html'}")
    return html_dir


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m antinb.book", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="execute stale notebooks, generate pages, build the HTML book")
    b.add_argument("--no-execute", action="store_true",
                   help="fail (naming the refresh command) instead of executing missing or stale notebooks")
    b.add_argument("--no-strict", action="store_true", help="allow Sphinx warnings and incomplete model cards")
    r = sub.add_parser("results", help="only regenerate book/results.md from the JSON summaries")
    r.set_defaults(command="results")
    st = sub.add_parser("status", help="say per chapter whether it is fresh, needs a re-render (saved measurements "
                                       "suffice) or a re-measure, and why (exit 1 if any is not fresh)")
    st.add_argument("--brief", action="store_true", help="without the code each chapter's measurement depends on")
    t = sub.add_parser("runs", help="record the timing and cache use of a book-profile run for the performance page")
    t.add_argument("label", help="cold (from an empty sample cache) or warm (the same run again)")
    t.add_argument("executed_dir", nargs="?", default=str(runner.EXECUTED_DIR))
    args = p.parse_args(argv)
    try:
        if args.command == "runs":
            print(record_runs(args.label, Path(args.executed_dir)))
            return 0
        if args.command == "results":  # refuses what build refuses: stale, overridden or corrupt copies
            ensure_executed(execute_stale=False, log=lambda text: None)
            print(write_results())
            return 0
        if args.command == "status":
            return print_status(closures=not args.brief)
        build(execute_stale=not args.no_execute, strict=not args.no_strict)
    except BookError as err:
        print(f"antinb.book: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"antinb.book {args.command}: interrupted; what was written is kept", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
