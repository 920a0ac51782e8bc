"""Model cards: measured quality and antithetic checks for a trained model folder.

:func:`write_card` samples the model and writes ``card.json`` (the numbers), ``README.md`` (the
card) and figures into the model folder:

- PN and RR pairs (``pairs`` each, DDIM, ``steps`` steps, seeds 0 and 1): mean standard and
  centered pixel correlation (the centre is the mean image of all generated samples);
- Frechet distance in the data set classifier's features (:mod:`antinb.quality`) between the
  generated samples and the real test split, beside the same distance between a real training
  subset and the test split (the floor);
- for class-conditional models, the classifier's accuracy on samples generated per class with
  classifier-free guidance;
- real vs generated histograms of brightness, contrast and the centroid: a model whose samples
  miss the data's spread of these statistics would make the uncertainty findings meaningless.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from scipy.stats import binomtest  # noqa: E402

from .. import metrics, noise, plots, quality, stats  # noqa: E402
from .._files import atomic_open, write_atomic  # noqa: E402
from ..data import DATASETS, load_dataset  # noqa: E402
from ..models import load  # noqa: E402
from ..sampling import ddim  # noqa: E402

__all__ = ["write_card", "read_training", "CARD_STATISTICS"]

CARD_STATISTICS = ("brightness", "contrast", "centroid_x", "centroid_y")


def _grid_name(i: int, w: float) -> str:
    """File of the sample grid of the ``i``-th guidance scale ``w`` (the headline's is ``samples.png``)."""
    return "samples.png" if i == 0 else f"samples_w{w:g}.png"


def _save(fig, path: Path) -> None:
    try:
        with atomic_open(path) as f:  # a new file renamed into place: a link there is replaced, not followed
            fig.savefig(f, format=path.suffix.lstrip(".") or "png", dpi=90, bbox_inches="tight")
    finally:
        plt.close(fig)


#: What a card reads of ``training.json`` besides ``config.dataset``.
_TRAINING_KEYS = ("steps_done", "wall_time_s", "final_loss", "n_parameters")


def read_training(folder: str | Path) -> dict:
    """The ``training.json`` of a trained model folder, checked for what a card needs; a missing, corrupt or
    incomplete file raises a ``ValueError`` naming it (before any model loads)."""
    path = Path(folder) / "training.json"
    if not path.is_file():
        raise ValueError(f"folder={str(folder)!r} is not a trained model folder: no training.json")
    try:
        training = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{path} is corrupt or unreadable ({type(err).__name__}: {err})") from None
    config = training.get("config") if isinstance(training, dict) else None
    if not isinstance(config, dict) or not isinstance(config.get("dataset"), str):
        raise ValueError(f"{path} lacks config.dataset (the data set the model was trained on): it is not the "
                         "record `antinb train` writes")
    if config["dataset"] not in DATASETS:
        raise ValueError(f"{path}: config.dataset={config['dataset']!r} is unknown; accepted values: {sorted(DATASETS)}")
    missing = [k for k in _TRAINING_KEYS if k not in training]
    if missing:
        raise ValueError(f"{path} lacks {missing}: it is not the record `antinb train` writes")
    return training


def write_card(folder: str | Path, *, pairs: int = 256, steps: int = 50, per_class: int = 30,
               guidance_scales: tuple[float, ...] = (1.0, 3.0), max_batch_size: int = 512,
               progress: bool = True) -> dict:
    """Measure and write the card of the model in ``folder``; returns the card's numbers.

    Class-conditional models are sampled ``per_class`` times per class at every guidance scale in
    ``guidance_scales``; the first scale (default 1: plain conditional sampling, no guidance) gives
    the headline ``conditional_accuracy``, every scale is reported in ``conditional_accuracy.runs``.
    """
    folder = Path(folder)
    if not guidance_scales or any(not w >= 1 for w in guidance_scales):
        raise ValueError(f"guidance_scales={guidance_scales!r} must be a non-empty list of scales >= 1")
    training = read_training(folder)
    dataset = training["config"]["dataset"]
    model = load(folder, device="cpu")
    shape = model.sample_shape
    kw = dict(steps=steps, max_batch_size=max_batch_size, progress=progress)
    pn = ddim(model, noise.antithetic(2 * pairs, shape, seed=0), **kw)
    rr = ddim(model, noise.independent(2 * pairs, shape, seed=1), **kw)
    generated = torch.cat([pn, rr])
    centre = stats.mean_image(generated)
    corr = {
        "pn_standard": stats.pair_correlation(pn), "rr_standard": stats.pair_correlation(rr),
        "pn_centered": stats.pair_correlation(pn, centered=True, mean_image=centre),
        "rr_centered": stats.pair_correlation(rr, centered=True, mean_image=centre),
    }
    card: dict = {
        "name": folder.name, "dataset": dataset, "description": training.get("description", ""),
        "sampler": f"DDIM (eta=0), {steps} steps", "pairs": pairs,
        "correlation": {k: {"mean": float(v.mean()), "sd": float(v.std())} for k, v in corr.items()},
    }

    real_test = load_dataset(dataset, "test")
    real_train = load_dataset(dataset, "train")
    n_fd = len(generated)
    g = torch.Generator().manual_seed(0)
    test_imgs = real_test.images[torch.randperm(len(real_test), generator=g)[:n_fd]]
    train_imgs = real_train.images[torch.randperm(len(real_train), generator=g)[:n_fd]]
    clf = quality.load_classifier(dataset)
    f_test = quality.features(clf, test_imgs, value_range=(0, 1))
    card["frechet_distance"] = {
        "generated_vs_test": quality.frechet_distance(quality.features(clf, generated, value_range=(-1, 1)), f_test),
        "train_vs_test_floor": quality.frechet_distance(quality.features(clf, train_imgs, value_range=(0, 1)), f_test),
        "n": n_fd, "features": f"SmallCNN classifier trained on {dataset} (antinb.quality)"}
    clf_meta = json.loads((quality.CLASSIFIER_DIR / dataset / "classifier.json").read_text())
    card["classifier_test_accuracy"] = clf_meta["test_accuracy"]

    if model.num_classes is not None:
        labels = torch.arange(model.num_classes).repeat_interleave(per_class)
        z = noise.independent(len(labels), shape, seed=2)
        runs = []
        for i, w in enumerate(guidance_scales):
            # w = 1 is plain conditional sampling (eps_u + 1 (eps_c - eps_u) = eps_c): one pass, no guidance
            cond = ddim(model, z, labels=labels, guidance_scale=None if w == 1 else w, **kw)
            pred = quality.classify(clf, cond, value_range=(-1, 1))
            hit = (pred == labels).float().view(model.num_classes, per_class)
            runs.append({"guidance_scale": float(w), "accuracy": float(hit.mean()),
                         "by_class": dict(zip(real_test.class_names, hit.mean(1).tolist()))})
            grid = cond.view(model.num_classes, per_class, *shape)[:, :8].flatten(0, 1)  # a row per class
            _save(plots.image_grid(grid, nrow=8, value_range=(-1, 1)), folder / _grid_name(i, w))
        card["conditional_accuracy"] = {"guidance_scale": runs[0]["guidance_scale"], "accuracy": runs[0]["accuracy"],
                                        "per_class": per_class, "n": len(labels), "runs": runs}
    else:
        _save(plots.image_grid(rr[:64], nrow=8, value_range=(-1, 1)), folder / "samples.png")

    stat_rows = {}
    for name in CARD_STATISTICS:
        fn = metrics.statistic(name)
        real_v = fn(test_imgs, value_range=(0, 1))
        gen_v = fn(generated, value_range=(-1, 1))
        stat_rows[name] = {"real_mean": float(real_v.mean()), "real_sd": float(real_v.std()),
                           "generated_mean": float(gen_v.mean()), "generated_sd": float(gen_v.std())}
    card["statistics"] = stat_rows

    _save(plots.real_vs_generated(test_imgs, generated, CARD_STATISTICS), folder / "statistics.png")
    _save(plots.pair_grid(pn[:32], value_range=(-1, 1)), folder / "pn_pairs.png")

    card["training"] = {k: training[k] for k in ("steps_done", "wall_time_s", "final_loss", "n_parameters")}
    card["training"]["config"] = training["config"]
    write_atomic(folder / "card.json", json.dumps(card, indent=1))
    write_atomic(folder / "README.md", _markdown(card))
    return card


def _wilson(share: float, n: int) -> tuple[float, float]:
    """The 95 % Wilson interval of a share of ``n`` trials (scipy.stats.binomtest)."""
    ci = binomtest(round(share * n), n).proportion_ci(0.95, method="wilson")
    return ci.low, ci.high


def _markdown(card: dict) -> str:
    c, fd, tr = card["correlation"], card["frechet_distance"], card["training"]
    cfg = tr["config"]
    lines = [
        f"# Model card: `{card['name']}`", "",
        card.get("description", ""), "",
        "## Training", "",
        f"- data: `{card['dataset']}` (train split only; see `antinb.data`)",
        f"- network: diffusers `UNet2DModel`, {tr['n_parameters'] / 1e6:.2f}M parameters (`{cfg['architecture']}`)"
        + (", class-conditional with a null class (label dropout "
           f"{cfg['label_dropout']})" if cfg["conditional"] else ", unconditional"),
        f"- DDPM, 1,000 timesteps, `{cfg['beta_schedule']}` betas, epsilon loss, EMA {cfg['ema_decay']}",
        f"- {tr['steps_done']:,} steps of batch {cfg['batch_size']}, lr {cfg['lr']}, seed {cfg['seed']}, "
        f"{tr['wall_time_s'] / 60:.0f} min on the CPU; final loss {tr['final_loss']:.4f}",
        f"- reproduce: `antinb train --dataset {card['dataset']} --out DIR --steps {tr['steps_done']}"
        f"{' --conditional' if cfg['conditional'] else ''} --seed {cfg['seed']}` then `antinb card DIR`", "",
        "## Quality (measured)", "",
        f"Fréchet distance in classifier features ({fd['n']} images, {fd['features']}): "
        f"generated vs real test **{fd['generated_vs_test']:.2f}**; real train vs real test (floor) "
        f"{fd['train_vs_test_floor']:.2f}. Classifier accuracy on real test images: "
        f"{card['classifier_test_accuracy']:.3f}.", "",
    ]
    if "conditional_accuracy" in card:
        ca = card["conditional_accuracy"]
        runs = ca["runs"]
        names = list(runs[0]["by_class"])
        lines += [f"Class-conditional samples ({ca['per_class']} per class, {card['sampler']}) recognised as their "
                  f"class by the classifier, by classifier-free guidance scale w (w = 1: plain conditional "
                  f"sampling): **{ca['accuracy']:.3f}** at w = {runs[0]['guidance_scale']:g}.", "",
                  # a row per class, a column per guidance scale: ten classes side by side overflow the page
                  "| class | " + " | ".join(f"w = {r['guidance_scale']:g}" for r in runs) + " |",
                  "|---" * (len(runs) + 1) + "|",
                  "| **all** (95 % Wilson interval) | " + " | ".join(
                      f"**{r['accuracy']:.3f}** [{lo:.3f}, {hi:.3f}]"
                      for r in runs for lo, hi in [_wilson(r["accuracy"], ca["n"])])
                  + " |"]
        lines += [f"| {name} | " + " | ".join(f"{r['by_class'][name]:.2f}" for r in runs) + " |" for name in names]
        lines += [""] + [f"Samples at w = {r['guidance_scale']:g} (a row per class):\n\n"
                         f"![w={r['guidance_scale']:g}]({_grid_name(i, r['guidance_scale'])})\n"
                         for i, r in enumerate(runs)]
    else:
        lines += ["![samples](samples.png)", ""]
    lines += ["Real (test split) vs generated distributions of the statistics the uncertainty findings estimate "
              "(brightness and contrast on the 0 to 1 intensity scale, centroids in pixels from the image centre; "
              "sd: standard deviation over images):",
              "", "| statistic | real mean | real sd | generated mean | generated sd |", "|---|---|---|---|---|"]
    lines += [f"| {plots.STATISTIC_LABELS.get(k, k)} | " + " | ".join(
              f"{v[f]:.{2 if k.startswith('centroid') else 3}f}" for f in ("real_mean", "real_sd", "generated_mean",
                                                                         "generated_sd")) + " |"
              for k, v in card["statistics"].items()]
    lines += ["", "![statistics](statistics.png)", "",
              f"## Antithetic sanity ({card['pairs']} pairs each, {card['sampler']})", "",
              "Pixel correlation of the two members of a pair, standard and centered on the mean generated image; "
              f"each cell is the mean ± the standard deviation over the {card['pairs']} pairs (the spread of single "
              "pairs, not an interval for the mean).", "",
              "| pairs | standard corr. (mean ± sd) | centered corr. (mean ± sd) |", "|---|---|---|",
              f"| PN | {c['pn_standard']['mean']:.3f} ± {c['pn_standard']['sd']:.3f} | "
              f"{c['pn_centered']['mean']:.3f} ± {c['pn_centered']['sd']:.3f} |",
              f"| RR | {c['rr_standard']['mean']:.3f} ± {c['rr_standard']['sd']:.3f} | "
              f"{c['rr_centered']['mean']:.3f} ± {c['rr_centered']['sd']:.3f} |", "",
              "![PN pairs](pn_pairs.png)", ""]
    return "\n".join(lines)
