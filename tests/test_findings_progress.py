"""Finding 7 (training progress) on a tiny training run: records, the Gaussian limit, cost, shipped snapshots."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from antinb import models, training
from antinb.findings import base, progress
from antinb.findings.correlation import correlations
from antinb.pairs import pair_samples

SMALL = dict(n_pairs=6, steps=3, n_timesteps=2, n_x=3, n_coords=3, n_residual=4)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    cfg = training.TrainConfig(dataset="mnist", architecture="tiny", steps=4, batch_size=8, threads=1, seed=0,
                               snapshots=(0, 2, 4))
    return training.train(cfg, tmp_path_factory.mktemp("run") / "tiny", progress=False)


@pytest.fixture(scope="module")
def measured(tiny_run):
    return progress.measure(progress.Params({"tiny": tiny_run}, device="cpu", **SMALL))


@pytest.fixture(scope="module")
def result(measured):
    return progress.present(measured)


def test_every_state_is_recorded_with_its_interval(result):
    rec = result.records()
    assert rec["progress_steps/tiny"] == [0, 2, 4]
    for step in ("0", "2", "4", progress.REFERENCE):
        k = dict(model="tiny", step=step)
        for value_t, ci_t in ((progress.CORR, progress.CORR_CI), (progress.AS_MEAN, progress.AS_MEAN_CI),
                              (progress.RESIDUAL, progress.RESIDUAL_CI), (progress.FD, progress.FD_CI)):
            value, (low, high) = rec[base.fill(value_t, **k)], rec[base.fill(ci_t, **k)]
            assert low <= value <= high, (value_t, step)
        for stat in progress.STATISTICS:
            low, high = rec[base.fill(progress.EFF_CI, statistic=stat, **k)]
            assert 0 < low <= rec[base.fill(progress.EFF, statistic=stat, **k)] <= high
    assert set(base.template_regex(t).pattern for t in progress.TEMPLATES)  # every template is a valid name
    assert all(any(base.template_regex(t).match(k) for t in progress.TEMPLATES) for k in rec)


def test_the_gaussian_reference_is_the_affine_limit(result):
    ref = result["tiny"].reference
    assert ref.symmetry.mean > 0.999 and ref.symmetry.residual_mean < 1e-3
    assert ref.corr[0] < -0.9  # DDIM's clipping of x0 keeps it from exactly -1
    # a random network is far from the data; the real images set the floor
    assert result["tiny"].fd_floor[0] < ref.fd[0] < result["tiny"].states[0].fd[0]


def _features():
    from antinb import quality
    from antinb.data import load_dataset

    clf = quality.load_classifier("mnist")
    return clf, quality.features(clf, load_dataset("mnist", "test").images[:64], value_range=(0, 1)).double().numpy()


def test_the_same_noise_in_every_state(tiny_run):
    """Each state sees the same PN noise: one snapshot measured twice gives the same numbers, another differs."""
    clf, feats = _features()
    snaps = training.snapshots_of(tiny_run)
    a, b, c = (progress.measure_state(models.load(snaps[s], device="cpu"), test_features=feats, classifier=clf,
                                      **SMALL)
               for s in (0, 0, 4))
    assert a.corr == b.corr and a.fd == b.fd and torch.equal(a.pairs, b.pairs)
    assert a.corr != c.corr


def _recs(run, first, last, steps=(0, 9)):
    """Records of a run whose centered PN correlation has interval ``first`` at its first step, ``last`` at its
    last."""
    r = {f"progress_steps/{run}": list(steps)}
    for step, (low, high) in ((steps[0], first), (steps[-1], last), (progress.REFERENCE, (-0.95, -0.94))):
        r[f"progress_corr/{run}/{step}"] = (low + high) / 2
        r[f"progress_corr_ci/{run}/{step}"] = [low, high]
    return r


INIT = (-0.801, -0.794)  # the mnist run's initialisation (book profile)


@pytest.mark.parametrize("last, word", [
    ((-0.43, -0.39), progress.WEAKENS),         # mnist's shipped model: closer to 0, intervals apart
    ((-0.80, -0.78), progress.HOLDS),           # overlaps the initialisation's interval
    ((-0.805, -0.802), progress.STRENGTHENS),   # further from 0, intervals apart
    ((-0.05, 0.04), progress.FAILS),            # the interval reaches 0: the correlation is gone
    ((0.10, 0.30), progress.FAILS),             # the other side of 0
])
def test_a_run_is_beyond_the_paper_with_its_own_outcome(last, word):
    s = progress.summary(_recs("m", INIT, last), {"n_pairs": 8, "steps": 3})
    (row,) = s.rows
    assert row.verdict == base.BEYOND and row.outcome == word
    assert s.verdict == base.BEYOND  # never "reproduced": the paper trains no network
    assert "step 9" in row.our_setting and "DDIM-3, 8 pairs" in row.our_setting
    assert row.ci == last and not row.flagged


def test_outcome_edge_cases():
    # touching intervals overlap (judge's closed intervals)
    assert progress.outcome((-0.80, -0.79), (-0.79, -0.70)) == progress.HOLDS
    # photo-patches: -0.749 [-0.751, -0.747] at step 0, -0.780 [-0.805, -0.755] at step 2,844
    assert progress.outcome((-0.751, -0.747), (-0.805, -0.755)) == progress.STRENGTHENS
    # no correlation at the start: it can only appear or stay absent
    assert progress.outcome((-0.05, 0.05), (-0.4, -0.3)) == progress.STRENGTHENS
    assert progress.outcome((-0.05, 0.05), (-0.02, 0.01)) == progress.FAILS
    assert progress.monotone([-0.80, -0.79, -0.66, -0.52, -0.45, -0.41])  # mnist, book profile
    assert not progress.monotone([-0.75, -0.80, -0.82, -0.88, -0.86, -0.78])  # photo-patches
    assert not progress.monotone([-0.5])


def test_the_flagged_model_is_marked_and_the_shipped_model_named():
    from antinb import models
    from antinb.findings.verdicts import FLAGGED

    shipped = json.loads((models.weights_dir("mnist") / "training.json").read_text())["steps_done"]
    recs = {**_recs("mnist", INIT, (-0.43, -0.39), steps=(0, shipped)),
            **_recs("photo-patches", (-0.751, -0.747), (-0.805, -0.755), steps=(0, 5))}
    rows = {r.our_setting.split(" ")[0]: r for r in progress.summary(recs, {"n_pairs": 64, "steps": 20}).rows}
    assert "photo-patches" in FLAGGED
    assert rows["photo-patches"].flagged and " †" in rows["photo-patches"].our_setting
    assert not rows["mnist"].flagged and "†" not in rows["mnist"].our_setting
    assert "the shipped model" in rows["mnist"].our_setting
    assert "the last snapshot" in rows["photo-patches"].our_setting  # step 5 is not the shipped model
    assert progress.shipped("mnist", shipped) and not progress.shipped("mnist", shipped - 1)


def test_the_papers_range_is_its_trained_models():
    assert progress.paper_range() == (-0.91, -0.41)


def test_the_verdict_opens_with_one_quotable_sentence(result):
    v = result.verdict()
    sentence, table, prose = v.split("\n\n")
    assert sentence.startswith("**Beyond the paper: ") and "reproduced" not in v
    assert len(sentence.split()) <= 40
    assert "DDIM-3" in sentence and "6 pairs" in sentence and "step 4" in sentence  # the setting of its number
    assert len(prose.split()) <= 150
    assert "−0.41 to −0.91" in prose  # the paper's range, not "-0.7 to -0.8"
    assert "| outcome |" in table
    header = table.splitlines()[0]
    assert all(ln.count("|") == header.count("|") for ln in table.splitlines())
    assert not any(t in v for t in ("progress_", "n_pairs", "steps=", "previous run", "earlier run"))


def test_figures_are_legible_at_the_columns_width(result):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from antinb.plots import COLUMN_WIDTH

    for fig in (result.figure(), result.pairs_figure("tiny")):
        assert fig.get_size_inches()[0] == pytest.approx(COLUMN_WIDTH)
        fig.canvas.draw()
        sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_text() and t.get_visible()]
        assert sizes and min(sizes) >= 9
        assert len(fig.legends) + sum(ax.get_legend() is not None for ax in fig.axes) <= 1  # one legend at most
        plt.close(fig)


def test_cost_counts_the_network_rows(tiny_run):
    snap = training.snapshots_of(tiny_run)[2]
    model = models.load(snap, device="cpu")
    rows = []
    model.unet.register_forward_hook(lambda mod, args, out: rows.append(args[0].shape[0]))
    clf, feats = _features()
    progress.measure_state(model, test_features=feats, classifier=clf, **SMALL)
    per_state = progress.cost(progress.Params({"tiny": {2: snap}}, **SMALL))["tiny"] // 2  # a snapshot + the reference
    assert sum(rows) == per_state
    assert progress.cost(progress.Params({"tiny": tiny_run}, **SMALL))["tiny"] == 4 * per_state
    assert progress.cost(progress.Params({"tiny": tiny_run}, max_states=2, **SMALL))["tiny"] == 3 * per_state


def test_shipped_snapshots_end_with_the_embedded_model_of_the_same_recipe(tmp_path, tiny_run):
    shipped = training.ship_snapshots(tiny_run, "tiny", root=tmp_path)
    assert list(shipped) == [0, 2, 4] and training.shipped_snapshots("tiny", root=tmp_path) == shipped
    # stored in float16, loaded back in float32 with exactly the rounded values
    half = models.load(shipped[4], device="cpu", dtype=torch.float32)
    full = models.load(training.snapshots_of(tiny_run)[4], device="cpu")
    assert half.dtype == torch.float32
    for (k, a), b in zip(half.unet.state_dict().items(), full.unet.state_dict().values()):
        torch.testing.assert_close(a, b.half().float(), rtol=0, atol=0, msg=k)
    # a snapshot of the shipped mnist recipe: the embedded mnist model is the run's last state
    rec = json.loads((models.weights_dir("mnist") / "training.json").read_text())
    fake = tmp_path / "mnist" / "step-000100"
    shutil.copytree(shipped[2], fake)
    (fake / "training.json").write_text(json.dumps({**rec, "steps_done": 100}))
    found = training.shipped_snapshots("mnist", root=tmp_path)
    assert list(found) == [100, rec["steps_done"]] and found[rec["steps_done"]] == models.weights_dir("mnist")
    # another recipe is not extended
    assert list(training.shipped_snapshots("tiny", root=tmp_path)) == [0, 2, 4]


def test_float16_storage_leaves_the_measurements_unchanged():
    """Rounding the shipped mnist weights to float16 moves its centered PN correlation by far less than
    the interval the chapter reports (about +-0.03 with 64 pairs)."""
    full = models.load("mnist", device="cpu")
    half = models.load("mnist", device="cpu")
    with torch.no_grad():
        for p in half.unet.parameters():
            p.copy_(p.half().float())
    got = {}
    for name, m in (("full", full), ("half", half)):
        x = pair_samples(m, 16, "PN", steps=10, seed=0, progress=False)
        got[name] = (x, correlations({"PN": x})["PN"]["centered"].mean().item())
    assert abs(got["full"][1] - got["half"][1]) < 0.002, got
    assert float((got["full"][0] - got["half"][0]).abs().max()) < 0.05


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="names no training snapshots"):
        progress.run({"x": tmp_path}, **SMALL)
    with pytest.raises(ValueError, match="runs is empty"):
        progress.run({}, **SMALL)
    with pytest.raises(ValueError, match="n_pairs=1"):
        progress.run({"x": tmp_path}, **{**SMALL, "n_pairs": 1})


def test_log_axes_are_labelled_with_plain_numbers():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from antinb.plots import plain_log_ticks

    fig, (narrow, wide) = plt.subplots(1, 2)
    narrow.plot([1, 2], [0.3, 4])
    wide.plot([1, 2], [1, 30000])
    for ax in (narrow, wide):
        ax.set_yscale("log")
        plain_log_ticks(ax)
    fig.canvas.draw()
    labels = {ax: [t.get_text() for t in ax.get_yticklabels(minor=False) + ax.get_yticklabels(minor=True)
                   if t.get_text()] for ax in (narrow, wide)}
    plt.close(fig)
    assert {"0.5", "1", "2"} <= set(labels[narrow])  # minor ticks labelled under two decades
    assert {"1", "10", "100", "1000", "10000"} <= set(labels[wide]) and "2" not in labels[wide]
    assert not any("10^" in t or "e" in t or "×" in t for t in sum(labels.values(), []))


def test_the_measurement_survives_saving_and_loading(measured, tmp_path):
    from antinb import measurements

    measurements.save(tmp_path / "07_training", measured, {"finding": progress.__name__})
    loaded = measurements.load(tmp_path / "07_training")
    assert isinstance(loaded, progress.ProgressMeasurements) and isinstance(loaded.models[0], progress.RunProgress)
    assert progress.present(loaded).records() == progress.present(measured).records()
    assert progress.present(loaded).verdict() == progress.present(measured).verdict()
    assert torch.equal(loaded.models[0].reference.pairs, measured.models[0].reference.pairs)


def test_the_measurement_depends_on_no_presentation():
    from antinb._code import definition_closure

    closure = definition_closure(progress.__name__, ("measure",))
    defined = {k.split(":")[1] for k in closure if k.startswith(f"{progress.__name__}:")}
    assert {"measure", "measure_state", "Params", "ProgressMeasurements", "RunProgress", "State"} <= defined
    presentation = {"ProgressResult", "present", "run", "summary", "paper_records", "direction", "_fmt", "_step_key",
                    "outcome", "monotone", "paper_range", "shipped", "_state_label", "_FONT",
                    "TABLE", "TEMPLATES", "REFERENCE", "WEAKENS", "STRENGTHENS", "HOLDS", "FAILS", "MIXED",
                    "CORR", "CORR_CI", "RR_CORR", "AS_MEAN", "AS_MEAN_CI", "AS_Q10", "RESIDUAL", "RESIDUAL_CI", "EFF",
                    "EFF_CI", "FD", "FD_CI", "FD_FLOOR", "FD_FLOOR_CI", "STEPS"}
    assert not defined & presentation, defined & presentation
