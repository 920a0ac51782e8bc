"""A non-editable install runs the notebooks (issue 17 item 6): the wheel ships the chapters' sources
and profiles as data files, and ``antinb run`` finds them and writes to ``./antinb-runs/``."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _environment_state() -> tuple[bool, str]:
    """Whether this environment's ``antinb`` command exists, and where ``import antinb`` resolves from outside
    the checkout."""
    command = Path(sys.executable).with_name("antinb").exists()
    where = subprocess.run([sys.executable, "-c", "import antinb; print(antinb.__file__)"], cwd=Path("/"),
                           capture_output=True, text=True, timeout=120).stdout.strip()
    return command, where


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """``pip install --target`` of the wheel (not editable, no dependencies) into a folder of its own; returns
    (wheel, that folder). ``--target`` never touches this environment (``--prefix`` would uninstall its own,
    editable antinb first): the test leaves the environment as it found it, and checks so."""
    before = _environment_state()
    tmp = tmp_path_factory.mktemp("install")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(ROOT)],
                   check=True, cwd=tmp, timeout=600)
    (wheel,) = (tmp / "dist").glob("antinb-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--no-compile", "--target", str(tmp / "site"), str(wheel)],
                   check=True, cwd=tmp, timeout=600)
    assert _environment_state() == before, "installing the wheel changed this environment's antinb"
    return wheel, tmp / "site"


def test_installing_leaves_the_environments_own_antinb(installed):
    command, where = _environment_state()
    assert command, f"{Path(sys.executable).with_name('antinb')} is gone"
    assert where == str(ROOT / "antinb" / "__init__.py"), where


def test_the_wheel_ships_every_notebook_and_profile(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        assert f"antinb-0.1.0.data/data/share/antinb/notebooks/{nb.name}" in names
    for prof in sorted((ROOT / "notebooks" / "params").glob("*.yml")):
        assert f"antinb-0.1.0.data/data/share/antinb/notebooks/params/{prof.name}" in names


@pytest.mark.slow
def test_an_installed_copy_runs_a_notebook(installed, tmp_path):
    _, site = installed
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    where = subprocess.run([sys.executable, "-c", "import antinb.book.runner as r; print(r.__file__); "
                            "print(r.NOTEBOOK_DIR); print(r.notebooks())"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    assert where[0].startswith(str(site)), where  # the installed copy, not the checkout
    assert "share/antinb/notebooks" in where[1] and "03_symmetry" in where[2]
    done = subprocess.run([sys.executable, "-m", "antinb", "run", "03", "--profile", "ci", "-p", "n_x", "2"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = tmp_path / "antinb-runs" / "ci"
    assert (out / "03_symmetry.ipynb").is_file() and (out / "03_symmetry.json").is_file()


def test_the_wheel_ships_the_training_snapshots(installed):
    """Chapter 7 reads the shipped snapshots: every file of each is in the wheel."""
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = [p for p in (ROOT / "antinb" / "weights" / "progress").rglob("*") if p.is_file()]
    assert len(shipped) >= 2 * 5 * 4  # two runs, five snapshots, four files each
    missing = [p for p in shipped if p.relative_to(ROOT).as_posix() not in names]
    assert not missing, missing[:5]
