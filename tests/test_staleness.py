"""Staleness at the right grain: a chapter is stale exactly when something it depends on changed.

Each case works on temporary copies of the package, the notebook sources and the profiles (the
runner's ``PACKAGE_DIR``, ``NOTEBOOK_DIR``, ``PARAMS_DIR`` and ``EXECUTED_DIR`` point at them) and
on stamps made by :func:`antinb.book.runner.dependencies`, the function :func:`~antinb.book.runner.run`
stamps with: no notebook is executed here (tests/test_runner.py executes one).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

from antinb import book, models
from antinb.book import runner
from antinb.records import RECORD_ENV


# --------------------------------------------------------------------------- a project in tmp_path


class Project:
    """Copies of antinb's Python files, the notebook sources and the profiles, with the runner pointed at them."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch):
        self.root = root
        self.package = root / "antinb"
        shutil.copytree(runner.PACKAGE_DIR, self.package,
                        ignore=shutil.ignore_patterns("__pycache__", "weights", "*.pyc"))
        self.notebooks = root / "notebooks"
        shutil.copytree(runner.NOTEBOOK_DIR, self.notebooks, ignore=shutil.ignore_patterns("*.ipynb", ".*"))
        self.executed = root / "executed"
        self.executed.mkdir()
        monkeypatch.setattr(runner, "PACKAGE_DIR", self.package)
        monkeypatch.setattr(runner, "NOTEBOOK_DIR", self.notebooks)
        monkeypatch.setattr(runner, "PARAMS_DIR", self.notebooks / "params")
        monkeypatch.setattr(runner, "EXECUTED_DIR", self.executed)

    @property
    def chapters(self) -> list[str]:
        return runner.notebooks()

    def stamp(self, name: str, *, profile: str = "book", parameters: dict | None = None,
              loaded: dict | None = None, drop: tuple[str, ...] = ()) -> Path:
        """Write ``executed/<name>.ipynb`` stamped as :func:`runner.run` would stamp it now."""
        source = self.notebooks / f"{name}.py"
        stamp = {"notebook": name, "profile": profile,
                 "parameters": {**runner.profile_parameters(profile, name), **(parameters or {})},
                 "overrides": parameters or {}, **runner.dependencies(source, loaded), "records": {}}
        for key in drop:
            stamp.pop(key)
        nb = nbformat.v4.new_notebook()
        nb.metadata["antinb"] = json.loads(json.dumps(stamp))
        path = self.executed / f"{name}.ipynb"
        nbformat.write(nb, path)
        return path

    def stamp_all(self, **kw) -> None:
        for name in self.chapters:
            self.stamp(name, **kw)

    def reasons(self, profile: str | None = "book") -> dict[str, str | None]:
        return {name: runner.is_stale(self.executed / f"{name}.ipynb", profile=profile) for name in self.chapters}

    def users_of(self, module: str) -> set[str]:
        return {n for n in self.chapters if module in runner.code_modules(self.notebooks / f"{n}.py")}

    def edit(self, rel: str, old: str, new: str) -> None:
        f = self.root / rel
        text = f.read_text()
        assert old in text, f"{old!r} not in {rel}"
        f.write_text(text.replace(old, new, 1))


@pytest.fixture
def project(tmp_path, monkeypatch) -> Project:
    return Project(tmp_path, monkeypatch)


def _fresh(reasons: dict[str, str | None]) -> dict[str, str | None]:
    return {n: r for n, r in reasons.items() if r is not None}


def test_a_stamp_made_now_is_fresh(project):
    project.stamp_all()
    assert _fresh(project.reasons()) == {}
    assert project.chapters == list(book.CHAPTERS)


# --------------------------------------------------------------------------- (c) the code a chapter runs


def test_docstring_only_edit_of_stats_leaves_every_chapter_fresh(project):
    """The issue's acceptance test: a docstring-only edit of antinb/stats.py stales no chapter."""
    project.stamp_all()
    users = project.users_of("antinb.stats")
    assert len(users) >= 5 and all("antinb.stats" in json.loads((project.executed / f"{n}.ipynb").read_text())
                                   ["metadata"]["antinb"]["modules"] for n in users)
    stats = project.package / "stats.py"
    text = stats.read_text()
    doc = text.index('"""') + 3
    edited = text[:doc] + "A docstring-only edit: nothing that runs changes. " + text[doc:]
    # and a function's docstring too
    i = edited.index('def t_half_width(')
    j = edited.index('"""', i) + 3
    edited = edited[:j] + "Reworded. " + edited[j:]
    assert edited != text
    stats.write_text(edited)
    assert _fresh(project.reasons()) == {}


def test_comment_and_formatting_edits_leave_chapters_fresh(project):
    project.stamp_all()
    stats = project.package / "stats.py"
    text = stats.read_text()
    i = text.index("\ndef ")
    text = text[:i] + "\n# a new comment\n\n\n" + text[i:]          # comments, blank lines
    text = text.replace("def t_half_width(", "def   t_half_width(", 1)  # spacing
    stats.write_text(text)
    project.edit("antinb/metrics.py", "\n", "\n# comment at the top\n")
    assert _fresh(project.reasons()) == {}


def test_a_code_change_stales_exactly_the_chapters_that_run_it_and_names_the_module(project):
    project.stamp_all()
    stats = project.package / "stats.py"
    stats.write_text(stats.read_text() + "\nNEW_CONSTANT = 1\n")
    reasons = project.reasons()
    users = project.users_of("antinb.stats")
    assert users, "no chapter runs antinb.stats: pick a module one runs"
    assert all(reasons[n] is not None and "antinb.stats" in reasons[n] and "changed" in reasons[n] for n in users), reasons
    # a chapter that does not import it (import antinb no longer pulls every module in) stays fresh
    assert all(reasons[n] is None for n in set(project.chapters) - users), reasons


def test_a_change_to_a_module_a_chapter_does_not_use_leaves_it_fresh(project):
    project.stamp_all()
    for module in ("antinb.book.cards", "antinb.cli", "antinb.interop"):
        assert not project.users_of(module), f"{module} is run by a chapter: pick another unused module"
    for rel in ("antinb/book/cards.py", "antinb/cli.py", "antinb/interop.py"):
        f = project.root / rel
        f.write_text(f.read_text() + "\nSOMETHING_NEW = 2\n")
    assert _fresh(project.reasons()) == {}
    # quality: stale exactly where it is used (the diversity chapter), fresh elsewhere
    users = project.users_of("antinb.quality")
    assert "04_diversity" in users and users != set(project.chapters)
    q = project.package / "quality.py"
    q.write_text(q.read_text() + "\nSOMETHING_NEW = 2\n")
    stale = _fresh(project.reasons())
    assert set(stale) == users and all("antinb.quality" in r for r in stale.values())


def _mini_package(root: Path) -> None:
    """A package ``antinb`` with every kind of import the closure must follow."""
    files = {
        "__init__.py": "from . import core\n",
        "core.py": '"""core"""\nX = 1\n',
        "lazy.py": "def f():\n    from .deep import g  # an import inside a function\n    return g()\n",
        "deep.py": "def g():\n    return 1\n",
        "sub/__init__.py": "",
        "sub/x.py": "from .. import rel          # relative, two levels\nfrom . import y\n",
        "sub/y.py": "Y = 2\n",
        "rel.py": "import antinb.core\n",
        "unused.py": "Z = 3\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_the_closure_follows_every_kind_of_import(tmp_path, monkeypatch):
    pkg = tmp_path / "antinb"
    _mini_package(pkg)
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    nb = nbdir / "90_mini.py"
    nb.write_text("# %% [markdown]\n# A chapter\n\n# %%\nimport numpy as np\nfrom antinb.sub import x\n"
                  "from antinb import lazy, load  # load is a name, not a module\n")
    monkeypatch.setattr(runner, "PACKAGE_DIR", pkg)
    modules = runner.code_modules(nb)
    assert set(modules) == {"antinb", "antinb.core", "antinb.sub", "antinb.sub.x", "antinb.sub.y", "antinb.rel",
                            "antinb.lazy", "antinb.deep"}
    before = dict(modules)
    (pkg / "unused.py").write_text("Z = 4\n")
    (pkg / "core.py").write_text('"""core, documented better"""\n\nX = 1  # the same code\n')
    assert runner.code_modules(nb) == before
    (pkg / "deep.py").write_text("def g():\n    return 2\n")
    after = runner.code_modules(nb)
    assert [m for m in after if after[m] != before[m]] == ["antinb.deep"]
    assert runner.code_hash(after) != runner.code_hash(before)


def test_a_module_file_is_parsed_once_until_it_changes(tmp_path):
    from antinb import _code

    f = tmp_path / "m.py"
    f.write_text('"""doc"""\nX = 1\n')
    digest, tree = _code.parsed(f)
    assert _code.parsed(f)[1] is tree and _code.module_hash(f) == digest  # read from the per-process table
    f.write_text('"""doc"""\nX = 2\n')  # the same size: the modification time tells
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 1_000_000))
    changed = _code.module_hash(f)
    assert changed != digest
    f.write_text('"""a longer docstring"""\nX = 2  # comment\n')  # re-read, and the same code
    assert _code.parsed(f)[1] is not tree and _code.module_hash(f) == changed


def test_notebook_imports_are_parsed_from_the_source(project):
    mods = runner.code_modules(project.notebooks / "01_correlation.py")
    assert {"antinb", "antinb.findings", "antinb.stats", "antinb.records"} <= set(mods)
    assert not {m for m in mods if m.startswith(("antinb.book", "antinb.cli", "antinb.training"))}


# --------------------------------------------------------------------------- (a) source, (b) parameters


def test_any_source_change_stales_the_chapter_markdown_included(project):
    project.stamp_all()
    src = project.notebooks / "03_symmetry.py"
    src.write_text(src.read_text().replace("# %% [markdown]\n# ", "# %% [markdown]\n# Reworded: ", 1))
    stale = _fresh(project.reasons())
    assert list(stale) == ["03_symmetry"] and "03_symmetry.py changed" in stale["03_symmetry"]


def test_a_change_of_the_profiles_parameters_stales_the_chapter_and_names_it(project):
    project.stamp_all()
    params = project.notebooks / "params" / "book.yml"
    data = yaml.safe_load(params.read_text())
    key, value = next(iter(data["01_correlation"].items()))
    data["01_correlation"][key] = [value, value] if isinstance(value, list) else value + 1
    params.write_text(yaml.safe_dump(data))
    stale = _fresh(project.reasons())
    assert list(stale) == ["01_correlation"] and repr(key) in stale["01_correlation"]
    data["all"]["seed"] = 7                                   # a parameter every chapter shares
    params.write_text(yaml.safe_dump(data))
    stale = _fresh(project.reasons())
    assert set(stale) == set(project.chapters) and all("'seed'" in r for r in stale.values())


def test_other_profiles_do_not_stale_the_book(project):
    project.stamp_all()
    ci = project.notebooks / "params" / "ci.yml"
    data = yaml.safe_load(ci.read_text())
    data["all"]["seed"] = 11
    ci.write_text(yaml.safe_dump(data))
    assert _fresh(project.reasons()) == {}


def test_a_run_with_overridden_parameters_is_never_the_profiles_run(project):
    project.stamp("03_symmetry", parameters={"seed": 5})
    assert project.reasons(profile=None)["03_symmetry"] is None          # fresh as what it is ...
    reason = project.reasons(profile="book")["03_symmetry"]              # ... but not the book's run
    assert reason is not None and "overridden" in reason and "seed=5" in reason
    params = project.notebooks / "params" / "book.yml"                   # the profile changes under it:
    data = yaml.safe_load(params.read_text())
    data["03_symmetry"]["n_x"] += 1
    params.write_text(yaml.safe_dump(data))
    assert "'n_x'" in project.reasons(profile=None)["03_symmetry"]


# --------------------------------------------------------------------------- (d) weights


def _fake_model(folder: Path) -> None:
    (folder / "unet").mkdir(parents=True)
    (folder / "scheduler").mkdir()
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"weights v1")
    (folder / "unet" / "config.json").write_text("{}")
    (folder / "scheduler" / "scheduler_config.json").write_text("{}")
    (folder / "README.md").write_text("a card")


def test_a_change_of_the_weights_a_chapter_loaded_stales_it(project, tmp_path):
    embedded = project.package / "weights" / "fake"
    _fake_model(embedded)
    local = tmp_path / "elsewhere" / "local-model"
    _fake_model(local)
    loaded = {"fake": {"folder": str(embedded), "embedded": "fake"},
              "local-model": {"folder": str(local), "embedded": None}}
    path = project.stamp("03_symmetry", loaded=loaded)
    weights = runner.stamp_of(path)["weights"]
    assert set(weights) >= {"fake", "local-model"}
    assert set(weights["fake"]["files"]) == {"unet/diffusion_pytorch_model.safetensors", "unet/config.json",
                                             "scheduler/scheduler_config.json"}
    assert runner.is_stale(path) is None
    (embedded / "README.md").write_text("a rewritten card")    # not read by load: stays fresh
    assert runner.is_stale(path) is None
    (embedded / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"weights v2")
    reason = runner.is_stale(path)
    assert reason is not None and "'fake'" in reason and "diffusion_pytorch_model.safetensors" in reason
    path = project.stamp("03_symmetry", loaded=loaded)
    (local / "scheduler" / "scheduler_config.json").write_text('{"beta_end": 0.02}')
    assert "'local-model'" in runner.is_stale(path)
    shutil.rmtree(local)
    assert "gone" in runner.is_stale(path)


def test_shipped_classifiers_are_weights_of_the_chapters_using_quality(project):
    clf = project.package / "weights" / "classifiers" / "mnist"
    clf.mkdir(parents=True)
    (clf / "classifier.pt").write_bytes(b"v1")
    project.stamp_all()
    users = project.users_of("antinb.quality")
    for name in project.chapters:
        assert ("classifiers" in runner.stamp_of(project.executed / f"{name}.ipynb")["weights"]) == (name in users)
    (clf / "classifier.pt").write_bytes(b"v2")
    stale = _fresh(project.reasons())
    assert set(stale) == users and all("'classifiers'" in r for r in stale.values())


def test_load_notes_its_weights_for_the_runner(tmp_path, monkeypatch):
    assert models.WEIGHTS_RECORD == runner.WEIGHTS_PREFIX
    rec = tmp_path / "records.jsonl"
    monkeypatch.setenv(RECORD_ENV, str(rec))
    models.load("mnist", device="cpu")
    notes = [json.loads(line) for line in rec.read_text().splitlines()]
    assert notes == [{"name": "_inputs/weights/mnist",
                      "value": {"folder": str(models.weights_dir("mnist").resolve()), "embedded": "mnist"}}]
    fp = runner.weights_fingerprints({"mnist": notes[0]["value"]})
    assert fp["mnist"]["embedded"] == "mnist" and "unet/diffusion_pytorch_model.safetensors" in fp["mnist"]["files"]
    monkeypatch.delenv(RECORD_ENV)
    rec.unlink()
    models.load("mnist", device="cpu")                        # outside the runner: nothing noted
    assert not rec.exists()


# --------------------------------------------------------------------------- (e) packages, old stamps


@pytest.mark.parametrize("package", ["torch", "diffusers", "numpy", "scipy", "scikit-image", "antinb", "python"])
def test_a_key_package_version_change_stales_every_chapter(project, monkeypatch, package):
    project.stamp_all()
    versions = runner.package_versions()
    assert package in versions
    monkeypatch.setattr(runner, "package_versions", lambda: {**versions, package: "999.0"})
    reasons = project.reasons()
    assert all(r is not None and package in r and "999.0" in r for r in reasons.values()), reasons


def test_an_old_stamp_is_stale_with_a_clear_reason(project):
    path = project.stamp("01_correlation", drop=("code_hash", "modules", "weights", "packages"))
    reason = runner.is_stale(path)
    assert reason is not None and "predates" in reason and "code_hash" in reason


# --------------------------------------------------------------------------- only book-profile runs are published


def test_a_ci_run_is_never_accepted_by_the_book(project):
    project.stamp_all(profile="ci")
    assert all(r is None for r in project.reasons(profile=None).values())   # fresh as a ci run ...
    reasons = project.reasons(profile="book")                                # ... but not the book's
    assert all("profile 'ci'" in r for r in reasons.values()), reasons
    with pytest.raises(book.BookError) as err:
        book.ensure_executed(execute_stale=False, log=lambda s: None)
    for name in project.chapters:
        assert f"antinb run {name} --profile book" in str(err.value)


def test_the_book_build_re_executes_a_ci_run_under_the_book_profile(project, monkeypatch):
    project.stamp_all()
    project.stamp("02_timestep_evolution", profile="ci")
    calls = []

    def fake_run(name, *, profile, output_dir=None, **kw):
        calls.append((name, profile, Path(output_dir)))
        project.stamp(name, profile=profile)
        return {"wall_s": 0.0}

    monkeypatch.setattr(runner, "run", fake_run)
    stamps = book.ensure_executed(execute_stale=True, log=lambda s: None)
    assert calls == [("02_timestep_evolution", "book", project.executed)]
    assert all(s["profile"] == "book" for s in stamps.values())


def test_only_the_book_profile_writes_into_book_executed_by_default(project, monkeypatch):
    assert runner.default_output_dir("book") == runner.EXECUTED_DIR
    assert runner.default_output_dir("ci") == runner.RUNS_DIR / "ci"
    assert runner.default_output_dir("full") == runner.RUNS_DIR / "full"
    assert runner.default_output_dir("book", {"seed": 1}) == runner.RUNS_DIR / "book-custom"
    assert runner.default_output_dir("/tmp/mine.yml") == runner.RUNS_DIR / "mine"
    calls = []
    monkeypatch.setattr(runner, "run", lambda name, **kw: calls.append((name, kw)) or {"wall_s": 0, "records": {}})
    from antinb import cli

    assert cli.main(["run", "03", "--profile", "ci"]) == 0
    assert calls[-1][1]["output_dir"] == runner.RUNS_DIR / "ci"
    assert cli.main(["run", "03", "--profile", "book"]) == 0
    assert calls[-1][1]["output_dir"] == runner.EXECUTED_DIR
    assert cli.main(["run", "03", "--profile", "book", "-p", "seed", "1"]) == 0
    assert calls[-1][1]["output_dir"] == runner.RUNS_DIR / "book-custom"
    assert cli.main(["run", "03", "--profile", "ci", "--output-dir", str(project.root / "x")]) == 0
    assert calls[-1][1]["output_dir"] == project.root / "x"


def test_stale_only_compares_against_the_profile_it_runs(project, monkeypatch):
    out = runner.RUNS_DIR
    monkeypatch.setattr(runner, "RUNS_DIR", project.root / "runs")
    project.executed = runner.RUNS_DIR / "ci"
    project.executed.mkdir(parents=True)
    project.stamp_all(profile="ci")
    calls = []
    monkeypatch.setattr(runner, "run", lambda name, **kw: calls.append(name) or {"wall_s": 0, "records": {}})
    assert runner.run_cli("all", profile="ci", overrides=[], output_dir=None, stale_only=True) == 0
    assert calls == []
    assert runner.run_cli("all", profile="full", overrides=[], output_dir=str(project.executed),
                          stale_only=True) == 0
    assert [Path(c).stem for c in calls] == project.chapters        # ci copies are stale for the full profile
    assert out != runner.RUNS_DIR


def test_each_chapter_depends_on_its_own_finding_only(project):
    """antinb.findings imports its modules lazily: chapter NN runs (and depends on) one finding module, except
    chapter 7, which re-measures chapters 1, 3 and 5's quantities with their own functions (one formula in one
    place), so a change to those findings rightly makes it stale too."""
    own = {"01_correlation": {"correlation"}, "02_timestep_evolution": {"trajectory"}, "03_symmetry": {"symmetry"},
           "04_diversity": {"diversity"}, "05_uncertainty": {"uncertainty"}, "06_dps": {"dps"},
           "07_training": {"progress", "correlation", "symmetry", "uncertainty"}}
    for chapter, findings in own.items():
        used = {m for m in runner.code_modules(project.notebooks / f"{chapter}.py")
                if m.startswith("antinb.findings.") and m not in ("antinb.findings.base", "antinb.findings.verdicts")}
        assert used == {f"antinb.findings.{f}" for f in findings}, chapter
    project.stamp_all()
    project.edit("antinb/findings/dps.py", "from __future__ import annotations\n",
                 "from __future__ import annotations\n\n_CHANGED = 1\n")
    reasons = project.reasons()
    assert reasons["06_dps"] is not None and "antinb.findings.dps" in reasons["06_dps"]
    assert all(r is None for name, r in reasons.items() if name != "06_dps"), reasons
    assert "07_training" in project.chapters  # and it is in the book, so the check above covered it
