"""Saved measurements (:mod:`antinb.measurements`): exact round trips, no pickle, no write through a link,
a key that names what changed, and the split of a finding's code into what it measures and what it shows."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from antinb import _code, measurements
from antinb.measurements import MeasurementError


@dataclasses.dataclass(frozen=True)
class Inner:
    name: str
    values: np.ndarray


def _value():
    return {"floats": (0.1, -0.0, math.nan, 1e-300, 2 / 3), "arr64": np.linspace(0, 1, 7),
            "arr32": np.arange(6, dtype=np.float32).reshape(2, 3) / 3, "ints": np.arange(4),
            "tensor": torch.randn(2, 3, generator=torch.Generator().manual_seed(0)),
            "scalar": np.float32(1 / 3), "npint": np.int64(7), "by_tuple": {("mnist", "amc", "brightness"): [1, 2.5]},
            "by_int": {980: 0.5, 20: 0.25}, "path": Path("a/b"), "none": None, "flag": True}


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, dict):
        return type(b) is dict and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return type(b) is float and a == b and math.copysign(1, a) == math.copysign(1, b)
    return type(a) is type(b) and a == b


def test_a_saved_value_reads_back_bit_for_bit_with_its_types(tmp_path):
    value = _value()
    measurements.save(tmp_path / "m", value, {"finding": "x"})
    back = measurements.load(tmp_path / "m")
    assert _same(value, back)
    assert measurements.header(tmp_path / "m")["format"] == measurements.FORMAT


def test_dataclasses_of_antinb_modules_round_trip(tmp_path):
    from antinb.stats import Estimate

    est = Estimate("AMC", 0.5, 0.4, 0.6, 0.1, 16, 8, 0.95, 0.2)  # a real antinb dataclass
    measurements.save(tmp_path / "m", {"e": est, "t": (est,)}, {})
    back = measurements.load(tmp_path / "m")
    assert back["e"] == est and back["t"] == (est,)


def test_values_that_cannot_be_saved_exactly_are_refused():
    for bad in (object(), np.array(["a"], dtype=object), Inner("x", np.zeros(2)), lambda: 0):
        with pytest.raises(TypeError):
            measurements.encode(bad, {})  # Inner is this test module's, not antinb's


def test_no_pickle_and_no_foreign_type_is_ever_loaded(tmp_path):
    stem = tmp_path / "m"
    measurements.save(stem, {"a": np.zeros(3)}, {})
    # an object array in the .npz (a pickle) with a matching hash: np.load refuses it
    import hashlib
    import io

    buf = io.BytesIO()
    np.savez(buf, a0=np.array([{"x": 1}], dtype=object))
    (tmp_path / "m.npz").write_bytes(buf.getvalue())
    doc = json.loads((tmp_path / "m.json").read_text())
    doc["npz_sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    (tmp_path / "m.json").write_text(json.dumps(doc))
    with pytest.raises(MeasurementError, match="m.npz cannot be read"):
        measurements.load(stem)
    # a JSON naming a class outside antinb (or not imported) is refused before any import
    for name in ("subprocess:Popen", "antinb.not_a_module:X", "antinb.stats:estimate"):
        with pytest.raises(MeasurementError, match="not a dataclass of an imported antinb module"):
            measurements.decode({"__dataclass__": name, "fields": {}}, {})


def test_a_damaged_or_swapped_array_file_is_refused_naming_it(tmp_path):
    measurements.save(tmp_path / "m", {"a": np.zeros(3)}, {})
    measurements.save(tmp_path / "other", {"a": np.ones(3)}, {})
    os.replace(tmp_path / "other.npz", tmp_path / "m.npz")
    with pytest.raises(MeasurementError, match="m.npz does not match"):
        measurements.load(tmp_path / "m")
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(MeasurementError, match="m.json cannot be read"):
        measurements.load(tmp_path / "m")


def test_a_planted_link_is_replaced_never_written_through(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    folder = tmp_path / "measurements"
    folder.mkdir()
    for suffix in (".json", ".npz"):
        (folder / f"m{suffix}").symlink_to(victim)
    measurements.save(folder / "m", {"a": np.zeros(2)}, {})
    assert victim.read_text() == "precious"
    assert not (folder / "m.json").is_symlink() and not (folder / "m.npz").is_symlink()
    assert sorted(p.name for p in folder.iterdir()) == ["m.json", "m.npz"]  # no temporary left
    assert oct((folder / "m.json").stat().st_mode & 0o777) != oct(0o600)  # an ordinary, committable file


# --------------------------------------------------------------------------- the code a measurement runs


def _package(root: Path, finding: str) -> Path:
    pkg = root / "antinb"
    (pkg / "findings").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .stats import mean\n")
    (pkg / "findings" / "__init__.py").write_text("")
    (pkg / "stats.py").write_text("from . import noise\n\ndef mean(x):\n    return sum(x) / len(x)\n")
    (pkg / "noise.py").write_text("def draw():\n    return 1\n")
    (pkg / "plots.py").write_text("def figure():\n    return None\n")
    (pkg / "findings" / "base.py").write_text("def headline(v):\n    return v.upper()\n")
    (pkg / "findings" / "fake.py").write_text(textwrap.dedent(finding))
    return pkg


FAKE = '''
from dataclasses import dataclass
from .. import stats
from ..plots import figure
from . import base

N = 3
WORDING = "reproduced"

@dataclass(frozen=True)
class Params:
    n: int = N

@dataclass(frozen=True)
class Measured:
    values: tuple

def _draw(n):
    return tuple(range(n))

def measure(params: Params) -> Measured:
    return Measured(_draw(params.n))

class Shown(Measured):
    def verdict(self):
        return base.headline(WORDING) + str(stats.mean(self.values))

    def fig(self):
        return figure()
'''


def test_the_closure_of_measure_holds_what_it_reaches_and_nothing_it_shows(tmp_path):
    pkg = _package(tmp_path / "a", FAKE)
    closure = _code.definition_closure("antinb.findings.fake", ("measure",), pkg)
    assert set(closure) == {"antinb.findings.fake:measure", "antinb.findings.fake:Params",
                            "antinb.findings.fake:Measured", "antinb.findings.fake:_draw", "antinb.findings.fake:N"}
    # a wording, a verdict rule or a figure changes nothing; a change to what measure runs does
    edits = {"WORDING = \"reproduced\"": "WORDING = \"partly\"", "return figure()": "return figure() or 1",
             "return base.headline(WORDING)": "return base.headline(WORDING).lower()"}
    for old, new in edits.items():
        other = _package(tmp_path / f"e{len(old)}", FAKE.replace(old, new))
        assert _code.definition_closure("antinb.findings.fake", ("measure",), other) == closure, old
    changed = _package(tmp_path / "b", FAKE.replace("tuple(range(n))", "tuple(range(n + 1))"))
    after = _code.definition_closure("antinb.findings.fake", ("measure",), changed)
    assert [k for k in closure if closure[k] != after[k]] == ["antinb.findings.fake:_draw"]


def test_the_closure_follows_imports_by_definition_and_takes_a_module_used_as_a_value_whole(tmp_path):
    pkg = _package(tmp_path / "a", FAKE.replace("return Measured(_draw(params.n))",
                                                "return Measured((stats.mean(_draw(params.n)),))"))
    closure = _code.definition_closure("antinb.findings.fake", ("measure",), pkg)
    assert "antinb.stats:mean" in closure and "antinb.stats:<effects>" not in closure
    # stats' own import of noise is never reached from mean: no noise, no package inits, no base, no plots
    assert not {k.split(":")[0] for k in closure} & {"antinb", "antinb.findings", "antinb.noise", "antinb.plots",
                                                     "antinb.findings.base"}
    # a definition of another module reached through a name import, and a registration at import time
    pkg = _package(tmp_path / "b", FAKE.replace("return Measured(_draw(params.n))",
                                                "return Measured((draw(),))").replace(
        "from .. import stats", "from .. import stats\nfrom ..noise import draw"))
    (pkg / "noise.py").write_text("REGISTRY = {}\nREGISTRY['x'] = 1\nprint('registered')\n\ndef draw():\n    return 1\n")
    closure = _code.definition_closure("antinb.findings.fake", ("measure",), pkg)
    assert {"antinb.noise:draw", "antinb.noise:<effects>"} <= set(closure) and "antinb.noise:REGISTRY" not in closure
    # a module passed as a value is taken whole, with what it imports
    pkg = _package(tmp_path / "c", FAKE.replace("return Measured(_draw(params.n))",
                                                "return Measured((stats,))"))
    closure = _code.definition_closure("antinb.findings.fake", ("measure",), pkg)
    assert {"antinb.stats", "antinb.noise"} <= set(closure)


def test_the_symmetry_measurement_does_not_depend_on_its_presentation():
    closure = _code.definition_closure("antinb.findings.symmetry", ("measure",))
    names = {k.split(":")[1] for k in closure if k.startswith("antinb.findings.symmetry:")}
    assert {"measure", "eps_slices", "symmetry_residual", "summarise", "Params"} <= names
    assert not names & {"SymmetryResult", "present", "summary", "paper_records", "TABLE", "run"}
    assert "antinb.findings.base" not in closure and "antinb.plots" not in closure


# --------------------------------------------------------------------------- the decorator


def test_measure_saves_then_reads_and_names_what_changed(tmp_path, monkeypatch, model):
    from antinb.findings import symmetry

    calls = []
    original = symmetry.measure.__wrapped_measure__

    def counted(params):
        calls.append(params)
        return original(params)

    counted.__module__ = "antinb.findings.symmetry"  # keyed as the finding's own measure
    wrapped = measurements.measurement(counted)
    params = symmetry.Params(["mnist"], n_timesteps=2, n_x=2, n_coords=2, n_s=5, n_residual=2, device="cpu",
                             n_boot=20)
    stem = tmp_path / "03_symmetry"
    monkeypatch.setenv(measurements.MEASUREMENTS_ENV, str(stem))
    from antinb.records import collecting

    with collecting() as got:
        first = wrapped(params)
    assert len(calls) == 1 and got[measurements.MEASURE_RECORD]["measured"] is True
    assert "_inputs/weights/mnist" in got
    with collecting() as got:
        second = wrapped(params)
    assert len(calls) == 1, "a matching saved measurement is read, not measured again"
    assert got[measurements.MEASURE_RECORD]["measured"] is False
    assert got["_inputs/weights/mnist"]["embedded"] == "mnist"  # the runner still stamps the weights read
    assert symmetry.present(first).records() == symmetry.present(second).records()
    assert measurements.why_stale(stem, "antinb.findings.symmetry", params) is None
    other = dataclasses.replace(params, n_x=3)
    assert measurements.why_stale(stem, "antinb.findings.symmetry", other) == "parameter 'n_x' is 3, was 2"
    doc = json.loads((tmp_path / "03_symmetry.json").read_text())
    doc["code"]["antinb.findings.symmetry:eps_slices"] = "0" * 16
    (tmp_path / "03_symmetry.json").write_text(json.dumps(doc))
    assert measurements.why_stale(stem, "antinb.findings.symmetry", params) == \
        "the code of antinb.findings.symmetry.eps_slices changed"
    doc["code"]["antinb.findings.symmetry:eps_slices"] = measurements.key("antinb.findings.symmetry", params)[
        "code"]["antinb.findings.symmetry:eps_slices"]
    doc["packages"]["torch"] = "0.1"
    (tmp_path / "03_symmetry.json").write_text(json.dumps(doc))
    assert measurements.why_stale(stem, "antinb.findings.symmetry", params).startswith("torch 0.1 -> ")
    wrapped(params)
    assert len(calls) == 2  # measured anew, and saved
    assert measurements.why_stale(stem, "antinb.findings.symmetry", params) is None


def test_without_the_variable_measure_only_measures(tmp_path, monkeypatch):
    monkeypatch.delenv(measurements.MEASUREMENTS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    seen = []

    @measurements.measurement
    def measure(params):
        seen.append(params)
        return {"n": params}

    assert measure(1) == {"n": 1} and measure(1) == {"n": 1} and len(seen) == 2
    assert list(tmp_path.iterdir()) == []
