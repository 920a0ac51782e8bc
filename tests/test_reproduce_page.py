"""The reproduce page's commands work as written (issue 16 item 7).

Every command in a code block of ``book/reproduce.md`` is checked without the hours it would take:
``antinb run`` / ``antinb generate`` lines parse with antinb's own command line and name notebooks,
profiles and parameters that exist, with values of the right type; the papermill recipe is run as
written up to execution (``--prepare-only``: kernel, language and parameters are resolved exactly as
in a real run); ``hf download`` is the installed Hugging Face CLI's command.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from antinb import cli
from antinb.book import runner

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "reproduce.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", PAGE.read_text(), re.S)


def _commands(prefix: str) -> list[list[str]]:
    """Every command line of the page's bash blocks that starts with ``prefix`` (continuations joined)."""
    out = []
    for block in _blocks("bash"):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split("  #")[0].split(" # ")[0].strip()
            if line.startswith(prefix):
                out.append(shlex.split(line))
    return out


def _check_run(argv: list[str]) -> None:
    args = cli.build_parser().parse_args(argv[1:])
    names = runner.notebooks() if args.notebook == "all" else [runner.resolve(args.notebook).stem]
    overrides = {k: runner._parse_override(v) for k, v in (args.p or [])}
    if args.processes is not None:
        overrides["processes"] = args.processes
    for name in names:
        params = {**runner.profile_parameters(args.profile, name), **overrides}
        runner._check_parameters(runner.NOTEBOOK_DIR / f"{name}.py", params)


def test_every_antinb_run_command_names_real_notebooks_and_parameters():
    commands = _commands("antinb run")
    assert len(commands) >= 6
    for argv in commands:
        _check_run(argv)


def test_the_run_check_can_fail():
    with pytest.raises(ValueError, match="unknown to 01_correlation"):
        _check_run(["antinb", "run", "01", "--profile", "book", "-p", "model", "[mnist]"])


def test_every_antinb_generate_command_parses():
    commands = _commands("antinb generate") + [
        argv[argv.index("antinb"):] for argv in _commands("accelerate launch") if "antinb" in argv]
    assert len(commands) >= 2
    for argv in commands:
        args = cli.build_parser().parse_args(argv[1:])
        assert args.n > 0 and args.statistics


def test_the_papermill_recipe_runs_as_written(tmp_path):
    python = _blocks("python")
    recipe = next(b for b in python if "jupytext.read" in b)
    (command,) = _commands("papermill")
    recipe = recipe.replace("/tmp/", f"{tmp_path}/")
    exec(compile(recipe, "reproduce.md", "exec"), {})
    argv = [a.replace("/tmp/", f"{tmp_path}/") for a in command]
    assert "-k" in argv and "python3" in argv
    done = subprocess.run([str(Path(sys.executable).with_name("papermill")), *argv[1:], "--prepare-only"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    import nbformat

    nb = nbformat.read(argv[2], as_version=4)
    injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    scope: dict = {}
    exec(injected.source, {}, scope)
    defaults = runner.notebook_parameters(runner.NOTEBOOK_DIR / "01_correlation.py")
    assert set(scope) <= set(defaults), set(scope) - set(defaults)
    assert scope["models"] == ["mnist"] and isinstance(scope["n_pairs"], int)


def test_hf_download_is_the_installed_cli():
    lines = [ln for block in _blocks("bash") + [PAGE.read_text()] for ln in block.splitlines() if "download" in ln]
    assert any("hf download" in ln for ln in lines) and not any("huggingface-cli" in ln for ln in lines)
    hf = Path(sys.executable).with_name("hf")
    done = subprocess.run([str(hf), "download", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "REPO_ID" in done.stdout


def test_each_profile_says_what_it_costs():
    text = PAGE.read_text()
    profiles = sorted(p.stem for p in (ROOT / "notebooks" / "params").glob("*.yml"))
    for name in profiles:
        assert f"`{name}`\n:" in text, f"the reproduce page does not describe the {name} profile"
    section = text.split("## Profiles", 1)[1].split("\n## ", 1)[0]
    assert "min" in section and yaml.safe_load((ROOT / "notebooks" / "params" / "book.yml").read_text())


def test_every_paper_row_has_its_command_and_cost(tmp_path, monkeypatch):
    """Issue 17: per paper row the exact command and its dry run. Every row a summary without records
    lists as not run has an entry; each command parses and names the row's model, its cost is the dry
    run's, and a prompted command's records would land in that row (the prompt file's source)."""
    from antinb import findings, prompts
    from antinb.book import builder
    from antinb.findings import base

    entries = builder.paper_row_commands()
    rows = [(s.finding, r.paper_model) for s in findings.summaries({}) for r in s.rows if r.verdict == base.NOT_RUN]
    assert sorted((e["finding"], e["paper_model"]) for e in entries) == sorted(rows)
    assert len(entries) >= 15
    text = builder.paper_rows_markdown()
    blocks = re.findall(r"```bash\n(.*?)  ```", text, re.S)
    runnable = [e for e in entries if e["command"]]
    assert len(blocks) == len(runnable) and all("not runnable here" in text for e in entries if not e["command"])
    benches = re.findall(r"`(antinb bench [^`]*)`", text)
    assert len(benches) == sum(1 for e in runnable if e["seconds"] is None)
    for line in benches:  # the bench command each row names parses, for the row's model
        args = cli.build_parser().parse_args(shlex.split(line)[1:])
        assert args.device == "cuda" and len(args.models) == 1
    monkeypatch.setenv("HOME", str(tmp_path))
    for e, block in zip(runnable, blocks):
        argv = shlex.split(block.replace("\\\n", " "))
        assert argv == e["command"]
        _check_run(argv)
        args = cli.build_parser().parse_args(argv[1:])
        overrides = {k: runner._parse_override(v) for k, v in args.p}
        model, source, _ = prompts.split_key(e["paper_model"])
        assert overrides["models"] == [model]
        dry = runner.dry_run(args.notebook, args.profile, overrides)
        assert e["evaluations"] == sum(r["evaluations"] for r in dry) > 0
        if source is not None:  # a prompted row: the prompt file it reads belongs to that row
            file = overrides.get("prompts") or runner.profile_parameters("full", e["chapter"])["prompts"]
            path = Path(file).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("a photo of a cat\n")
            key = prompts.model_key(model, text_conditioned=True, prompts=prompts.resolve(file))
            assert source == "prompted" or key == f"{model}:{source}"
            assert base.paper_model(key, [e["paper_model"]]) == e["paper_model"]
