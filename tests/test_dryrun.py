"""``antinb run --dry-run`` and the findings' ``cost(...)``: each module's count of network evaluations
equals the image rows its ``run(...)`` really passes through the network (counted with a hook on the
tiny models), and the dry run prints them with a time from the committed bench report, loading nothing."""

from __future__ import annotations

import inspect
import json
from collections import Counter

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from conftest import scheduler_config, tiny_model, tiny_unet  # noqa: E402

from antinb import cli, paper  # noqa: E402
from antinb import models as _models  # noqa: E402
from antinb.book import bench, runner  # noqa: E402
from antinb.findings import correlation, diversity, dps, progress, symmetry, trajectory, uncertainty  # noqa: E402
from antinb.models import DiffusionModel  # noqa: E402

MODULES = (correlation, trajectory, symmetry, diversity, uncertainty, dps)


def _counted(run, models, **kwargs) -> dict[str, int]:
    """Image rows each model's network sees during ``run(models, **kwargs)`` (a pre-hook on every call)."""
    rows: Counter = Counter()
    handles = [m.unet.register_forward_pre_hook(lambda _mod, args, name=m.name: rows.update({name: len(args[0])}))
               for m in models]
    try:
        run(models, **kwargs)
    finally:
        for h in handles:
            h.remove()
    return dict(rows)


def _check(module, models, expected: dict[str, int], **kwargs) -> None:
    cost = module.cost(module.Params(models, **kwargs))
    assert cost == expected  # the count by hand, from the module's documented design
    # what measure() really passes through the network
    assert _counted(lambda m, **kw: module.measure(module.Params(m, **kw)), models, **kwargs) == expected


def _cond(name: str = "tiny-cond") -> DiffusionModel:
    m = tiny_model(num_classes=3)
    m.name = name
    return m


def test_cost_and_measure_read_one_parameters_object():
    # one signature, not two copies: cost() and measure() each take the module's Params, so a default
    # changed in one place changes what both count and measure
    import dataclasses

    for module in MODULES + (progress,):
        assert {"cost", "measure", "Params", "present"} <= set(module.__all__), module.__name__
        assert dataclasses.is_dataclass(module.Params)
        for fn in (module.cost, module.measure):
            params = list(inspect.signature(fn).parameters.values())
            assert [(p.name, p.annotation) for p in params] == [("params", "Params")], (module.__name__, fn)


def test_correlation_cost_counts_pairs_ablation_and_guided_rows():
    # per model 2*4 rows x (2 DDIM pairings x 3 + 3 DDPM pairings x 3 steps) + half negation 2*4 x 3;
    # the guided model adds 2 scales x (PN, RR) x 2*6 rows x 3 steps x 2 (guidance doubles the batch)
    _check(correlation, [tiny_model(), _cond()], {"tiny": 144, "tiny-cond": 144 + 288}, n_pairs=4, ddim_steps=3,
           ddpm_steps=3, seed=0, ablation_pairs=4, guidance_model="tiny-cond", guidance_scales=[1.0, 3.0],
           guidance_pairs=6, max_batch_size=4)
    _check(correlation, [tiny_model()], {"tiny": 2 * 2 * (2 * 2 + 3 * 5)}, n_pairs=2, ddim_steps=2, ddpm_steps=5)


def test_trajectory_cost():
    _check(trajectory, [tiny_model(), _cond()], {"tiny": 72, "tiny-cond": 72}, n_pairs=4, ddim_steps=4,
           ddpm_steps=5, n_boot=50)


def test_symmetry_cost():
    rgb = tiny_model(channels=3)
    rgb.name = "tiny-rgb"
    # 3 timesteps x (4 x on 11 grid points + 2 x 8 residual draws), in passes of at most 16 rows
    _check(symmetry, [tiny_model(), rgb], {"tiny": 180, "tiny-rgb": 180}, seed=1, n_timesteps=3, n_x=4,
           n_coords=5, n_s=11, n_residual=8, max_batch_size=16, n_boot=50)


def test_diversity_cost_counts_the_guided_class_pairs_and_no_quality_rows():
    # 2 x 2*6 rows x 3 steps per model; the class model adds (PN, RR) x 2*2 rows x 3 classes x 3 steps x 2
    cond = _cond()
    _check(diversity, [tiny_model(), cond], {"tiny": 72, "tiny-cond": 216}, n_pairs=6, steps=3,
           class_model=cond, class_pairs=2, guidance_scale=2.0, perceptual_backend="stlpips", n_boot=50)
    # the class model is named: its class count comes from its config, nothing is loaded
    assert diversity.cost(diversity.Params(["mnist"], n_pairs=2, steps=2, class_model="fashion-mnist-cond",
                                           class_pairs=1, guidance_scale=3.0)) == \
        {"mnist": 16, "fashion-mnist-cond": 2 * 2 * 10 * 2 * 2}
    assert diversity.cost(diversity.Params(["mnist"], n_pairs=2, steps=2, class_model="")) == {"mnist": 16}
    with pytest.raises(ValueError, match="not class-conditional"):
        diversity.cost(diversity.Params([], class_model="mnist"))


def test_uncertainty_cost_counts_every_design_and_the_coverage_draws(model, affine_model):
    # 5 designs (MC, AMC, K-AMC 4 and 8, RQMC) x 32 images x 2 steps, coverage 5 x 16*4 x 2; the even
    # control and the budgets' curve re-use those images
    kw = dict(n_images=32, budgets=(16, 32), steps=2, coverage_n=16, coverage_reps=4, coverage_steps=2,
              device="cpu")
    _check(uncertainty, [model, affine_model], {"tiny": 960, "affine": 320}, coverage_model=model, **kw)
    _check(uncertainty, [affine_model], {"affine": 3 * 16 * 3}, statistics=("pixel_mean",), n_images=16,
           budgets=(16,), steps=3, kamc_groups=(), rqmc_replicates=4, coverage_model="", device="cpu")


def test_dps_cost_counts_a_gradient_step_as_forward_and_backward():
    def tiny(name: str, channels: int = 1) -> DiffusionModel:
        return DiffusionModel(unet=tiny_unet(channels, 8), scheduler_config=scheduler_config(), name=name,
                              sample_shape=(channels, 8, 8))

    def counted(models, **kw) -> dict[str, float]:
        """Plain rows plus DPS_STEP_EVALUATIONS per row that went through the network with a gradient."""
        rows: Counter = Counter()
        hooks = [m.unet.register_forward_pre_hook(
            lambda _mod, args, name=m.name: rows.update(
                {name: len(args[0]) * (dps.DPS_STEP_EVALUATIONS if args[0].requires_grad else 1)}))
            for m in models]
        try:
            dps.measure(dps.Params(models, **kw))
        finally:
            for h in hooks:
                h.remove()
        return dict(rows)

    assert dps.DPS_STEP_EVALUATIONS == 2.0
    kw = dict(truth="model", n_truth=2, n_samples=8, steps=4, zeta=1.0, seed=3, max_batch_size=8)
    models = [tiny("tiny"), tiny("tiny-rgb", 3)]
    # ground truth 2 x 4 (DDPM) + DPS 2 designs x 2*8 rows x 4 steps x 2 (forward and backward) + unconditional 8 x 4
    assert dps.cost(dps.Params(models, **kw)) == {"tiny": 296, "tiny-rgb": 296} == counted(models, **kw)
    truth = torch.zeros(3, 1, 8, 8)  # a given truth costs nothing: 2 x 3*4 x 2 x 2 + 4 x 2
    kw = dict(truth=truth, n_truth=2, n_samples=4, steps=2)
    assert dps.cost(dps.Params([tiny("tiny")], **kw)) == {"tiny": 104} == counted([tiny("tiny")], **kw)


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory):
    from tiny_pipelines import save_tiny_sd

    return save_tiny_sd(tmp_path_factory.mktemp("sd") / "tiny-sd")


def test_a_prompted_text_model_counts_both_halves_of_its_guidance(sd_folder):
    spec = f"{sd_folder}={paper.SD}"  # a local copy standing for the hub id (antinb.load)
    sd, prompts = _models.load(spec, device="cpu"), ["a red cube", "a blue ball"]
    # 2*2 rows x (2 + 3) steps, twice for the prompted text model; the pixel model ignores the prompts
    _check(trajectory, [sd, tiny_model()], {paper.SD: 40, "tiny": 20}, n_pairs=2, ddim_steps=2, ddpm_steps=3,
           prompts=prompts, n_boot=20)
    _check(trajectory, [sd], {paper.SD: 20}, n_pairs=2, ddim_steps=2, ddpm_steps=3, n_boot=20)  # unprompted
    _check(trajectory, [sd], {paper.SD: 20}, n_pairs=2, ddim_steps=2, ddpm_steps=3, n_boot=20, prompts=prompts,
           prompt_guidance=None)  # prompts without guidance: one pass
    # 3 designs (MC, AMC, RQMC) x 4 images x 2 steps x 2
    _check(uncertainty, [sd], {paper.SD: 48}, statistics=("pixel_mean",), n_images=4, budgets=(4,), steps=2,
           kamc_groups=(), rqmc_replicates=2, coverage_model="", device="cpu", prompts=prompts, cv_frequencies=0)
    # from specs, without loading: the folder's layout says text-to-image; an uncached hub id its name
    kw = dict(n_pairs=1, ddim_steps=1, ddpm_steps=1, prompts="~/prompts.txt")
    assert trajectory.cost(trajectory.Params([spec, str(sd_folder), "mnist"], **kw)) == \
        {paper.SD: 8, "tiny-sd": 8, "mnist": 4}
    assert trajectory.cost(trajectory.Params(["stable-diffusion-v1-5/stable-diffusion-v1-5",
                                              "google/ddpm-cifar10-32"], **kw)) == \
        {"stable-diffusion-v1-5/stable-diffusion-v1-5": 8, "google/ddpm-cifar10-32": 4}


# ------------------------------------------------------------------------------------------ the runner


def _bench_ms(model: str, threads: int) -> tuple[float, str]:
    for path in sorted(bench.RESULTS_DIR.glob("*.json")):
        report = json.loads(path.read_text())
        rows = [r for r in report["throughput"] if r["model"] == model and r["threads"] == threads]
        if report["device_type"] == "cpu" and rows:
            return max(rows, key=lambda r: r["batch"])["ms_per_image_step"], path.name
    raise AssertionError(f"no cpu bench row for {model}")


@pytest.fixture
def no_weights(monkeypatch):
    """A dry run must not read any model's weights."""
    def refuse(*_, **__):
        raise AssertionError("a dry run loaded a model")
    monkeypatch.setattr(_models, "_load_folder", refuse)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def test_dry_run_of_chapter_01_under_the_book_profile(no_weights, capsys):
    assert cli.main(["run", "01", "--profile", "book", "--dry-run"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    p = runner.profile_parameters("book", "01_correlation")
    assert p["models"] == ["fashion-mnist-cond", "mnist", "photo-patches"]
    base = 2 * (p["n_pairs"] * 2 * p["ddim_steps"] + p["ddpm_pairs"] * 3 * p["ddpm_steps"]) \
        + 2 * p["ablation_pairs"] * p["ddim_steps"]
    # the notebook's guidance_model (its default, fashion-mnist-cond) runs the guidance sweep
    guided = len(p["guidance_scales"]) * 2 * 2 * p["guidance_pairs"] * p["ddim_steps"] * 2
    expected = {"fashion-mnist-cond": base + guided, "mnist": base, "photo-patches": base}
    assert len(out) == 4
    for line, (model, n) in zip(out, expected.items()):
        ms, report = _bench_ms(model, 1)
        assert line == (f"01_correlation [book] {model}: {n:,} network evaluations, about "
                        f"{n * ms / 60000:.1f} min here (cpu, bench {report})")
    assert out[-1].startswith(f"total [book]: {sum(expected.values()):,} network evaluations, about ")
    assert " min here" in out[-1]


def test_dry_run_takes_overrides_and_the_notebooks_own_argument_mapping(no_weights):
    # chapter 04 passes steps=ddim_steps and class_model=class_model or None
    rows = runner.dry_run("04", "ci", [["models", "[mnist]"], ["ddim_steps", "5"], ["n_pairs", "3"],
                                       ["class_model", "''"]])
    assert [(r["notebook"], r["model"], r["evaluations"], r["device"]) for r in rows] == \
        [("04_diversity", "mnist", 2 * 6 * 5, "cpu")]
    rows = runner.dry_run("05", "ci", {"models": ["mnist"], "ddim_steps": 2, "n_images": 16, "coverage_model": "",
                                       "kamc_groups": [4], "store_dir": "/nowhere"})
    assert [(r["model"], r["evaluations"]) for r in rows] == [("mnist", 4 * 16 * 2)]  # MC, AMC, K-AMC 4, RQMC
    assert rows[0]["seconds"] == pytest.approx(4 * 16 * 2 * _bench_ms("mnist", 1)[0] / 1000)


def test_dry_run_of_everything_under_the_full_profile_needs_no_weights(no_weights, capsys):
    assert cli.main(["run", "all", "--profile", "full", "--dry-run"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == ("01_correlation [full] google/ddpm-cifar10-32: 3,120,000 network evaluations, time unknown "
                      "(no bench report for google/ddpm-cifar10-32 on cuda)")
    assert {line.split(" ")[0] for line in out[:-2]} == set(runner.notebooks())
    assert out[-2].startswith("total [full]: ")
    # and how to turn "time unknown" into a time: every model without a report, once
    hint = out[-1].split(": antinb bench --device cuda ")
    assert len(hint) == 2 and set(hint[1].split()) == {r["model"] for r in runner.dry_run("all", "full")}


@pytest.mark.parametrize("argv, match", [
    (["run", "01", "--profile", "book", "-p", "n_pairz", "3", "--dry-run"],
     "parameter 'n_pairz' is unknown to 01_correlation; accepted: ["),
    (["run", "01", "-p", "n_pairs", "many", "--dry-run"], "parameter 'n_pairs' of 01_correlation must be int"),
    (["run", "01", "--profile", "nope", "--dry-run"], "profile='nope' is unknown"),
    (["run", "99", "--dry-run"], "notebook='99' is unknown"),
])
def test_dry_run_bad_input_is_one_line_exit_2(no_weights, capsys, argv, match):
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert "\n" not in err and err.startswith("antinb run: ") and match in err
