"""Model cards: ``write_card`` measures a model folder and writes its numbers, figures and README."""

from __future__ import annotations

import json

import pytest

from antinb import training
from antinb.book import cards


@pytest.fixture(scope="module")
def card_folder(tmp_path_factory):
    cfg = training.TrainConfig(dataset="mnist", conditional=True, architecture="tiny", steps=2, batch_size=8,
                               seed=0, threads=1)
    return training.train(cfg, tmp_path_factory.mktemp("card") / "m", progress=False)


def test_card_numbers_and_files(card_folder):
    card = cards.write_card(card_folder, pairs=8, steps=2, per_class=3, guidance_scales=(1.0, 2.5), progress=False)
    assert card == json.loads((card_folder / "card.json").read_text())
    assert card["pairs"] == 8 and card["sampler"] == "DDIM (eta=0), 2 steps"
    for key in ("pn_standard", "rr_standard", "pn_centered", "rr_centered"):
        assert -1 <= card["correlation"][key]["mean"] <= 1
    fd = card["frechet_distance"]
    assert fd["n"] == 32 and fd["generated_vs_test"] > fd["train_vs_test_floor"] > 0
    ca = card["conditional_accuracy"]
    assert ca["n"] == 30 and ca["per_class"] == 3 and [r["guidance_scale"] for r in ca["runs"]] == [1.0, 2.5]
    assert ca["guidance_scale"] == 1.0 and ca["accuracy"] == ca["runs"][0]["accuracy"]  # the headline is w = 1
    for run in ca["runs"]:
        assert len(run["by_class"]) == 10
        # the overall accuracy is the mean of the per-class accuracies (equal class counts), each a multiple of 1/3
        assert run["accuracy"] == pytest.approx(sum(run["by_class"].values()) / 10)
        assert all(round(3 * v) == pytest.approx(3 * v) for v in run["by_class"].values())
    assert set(card["statistics"]) == set(cards.CARD_STATISTICS)
    assert card["training"]["steps_done"] == 2
    readme = (card_folder / "README.md").read_text()
    assert f"**{ca['accuracy']:.3f}**" in readme and f"**{fd['generated_vs_test']:.2f}**" in readme
    assert "| class | w = 1 | w = 2.5 |" in readme and "](samples_w2.5.png)" in readme
    from scipy.stats import binomtest

    ci = binomtest(round(ca["runs"][0]["accuracy"] * 30), 30).proportion_ci(method="wilson")
    assert (f"| **all** (95 % Wilson interval) | **{ca['runs'][0]['accuracy']:.3f}** "
            f"[{ci.low:.3f}, {ci.high:.3f}] | **{ca['runs'][1]['accuracy']:.3f}** [") in readme
    second = list(ca["runs"][0]["by_class"])[1]
    trouser = [r["by_class"][second] for r in ca["runs"]]
    assert f"| {second} | {trouser[0]:.2f} | {trouser[1]:.2f} |" in readme
    for fig in ("samples.png", "samples_w2.5.png", "statistics.png", "pn_pairs.png"):
        assert (card_folder / fig).stat().st_size > 1000, fig
    # units and the meaning of "±" are on the card
    assert "| centroid x (pixels right of centre) |" in readme and "centroids in pixels from the image centre" in readme
    assert "each cell is the mean ± the standard deviation over the 8 pairs" in readme


def test_the_statistics_figure_is_legible_at_the_columns_width():
    import matplotlib
    import torch

    from antinb import plots

    g = torch.Generator().manual_seed(0)
    real, gen = torch.rand(64, 1, 28, 28, generator=g), torch.rand(64, 1, 28, 28, generator=g) * 2 - 1
    fig = plots.real_vs_generated(real, gen, cards.CARD_STATISTICS)
    assert fig.get_size_inches()[0] == pytest.approx(plots.COLUMN_WIDTH)
    assert sum(ax.has_data() for ax in fig.axes) == 4 and len(fig.axes) == 4  # 2 x 2, not 4 in a row
    fig.canvas.draw()
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_text() and t.get_visible()]
    assert min(t.get_fontsize() for t in texts) >= 9
    assert len(fig.legends) == 1 and not any(ax.get_legend() for ax in fig.axes)  # one legend, off the data
    legend, top = fig.legends[0].get_window_extent(), max(ax.get_window_extent().y1 for ax in fig.axes)
    assert legend.y0 >= top - 1
    assert any("pixels" in ax.get_xlabel() for ax in fig.axes)  # the centroid has its unit
    matplotlib.pyplot.close(fig)


def test_bad_guidance_scales(card_folder):
    for bad in ((), (0.5,), (float("nan"),)):
        with pytest.raises(ValueError, match="guidance_scales="):
            cards.write_card(card_folder, pairs=2, steps=1, guidance_scales=bad, progress=False)
