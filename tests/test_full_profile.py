"""The ``full`` profile on the paper's hub ids (issue 17 item 4).

Every notebook executes under ``notebooks/params/full.yml`` as written (its models, prompt sources,
samplers and conditioning) with only the sample sizes shrunk (:data:`TINY`), on random-weight
folders in each supported layout served under the real hub ids from a temporary cache (the real
ddpm-cifar10-32 configuration, tiny 256-px DDPMs, a latent VQ model, Stable Diffusion). The test then
checks that the records land in the paper rows they belong to, and that the prompted SD run fills the
paper's prompted rows.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from antinb import paper
from antinb.findings import correlation, diversity, progress, symmetry, trajectory, uncertainty

ROOT = Path(__file__).resolve().parents[1]
SD = paper.SD
#: The sample sizes that replace the full profile's (everything else of full.yml is kept as written).
TINY = {
    "01_correlation": {"n_pairs": 4, "ddpm_pairs": 4, "ddim_steps": 2, "ddpm_steps": 2, "ablation_pairs": 4},
    "02_timestep_evolution": {"n_pairs": 2, "ddim_steps": 2, "ddpm_steps": 2},
    "03_symmetry": {"n_timesteps": 2, "n_x": 2, "n_coords": 2, "n_s": 5, "n_residual": 2},
    "04_diversity": {"n_pairs": 4, "ddim_steps": 2},
    # chapter 5 samples the 35.7M-parameter CIFAR-10 configuration twice (its runs and the coverage check):
    # one step and the fewest images every design accepts (two K-AMC(8) groups, 4 RQMC replicates of 4 points)
    "05_uncertainty": {"n_images": 16, "budgets": [16], "ddim_steps": 1, "rqmc_replicates": 4, "coverage_n": 16,
                       "coverage_reps": 2, "coverage_steps": 1, "interval_reps": 100, "resampled_reps": 100},
    "06_dps": {"n_truth": 1, "n_samples": 4, "dps_steps": 2},
    # chapter 7 follows one of its two runs here: the photo patches' Gaussian fit alone takes half a minute
    "07_training": {"n_pairs": 2, "steps": 2, "n_timesteps": 2, "n_x": 2, "n_coords": 2, "n_residual": 2,
                    "max_states": 2, "runs": ["mnist"]},
}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> dict[str, dict]:
    from hub_cache import full_profile_cache

    tmp = tmp_path_factory.mktemp("full")
    cache = full_profile_cache(tmp)
    home = tmp / "home"
    (home / "antinb-prompts").mkdir(parents=True)
    for name in ("coco_captions", "drawbench", "pick-a-pic"):  # the user's copies of the paper's sources
        (home / "antinb-prompts" / f"{name}.txt").write_text("a red cat\nblue dog\na cat on a table\n")
    full = yaml.safe_load((ROOT / "notebooks" / "params" / "full.yml").read_text())
    profile = {"all": {**full["all"], "device": "cpu", "max_batch_size": 64}}
    for name, section in full.items():
        if name in TINY:
            profile[name] = {**section, **TINY[name]}
        elif name != "all":  # a section that is no notebook's (the prompt files declared once): as it is
            profile[name] = section
    assert set(profile) == set(full)
    (tmp / "full-tiny.yml").write_text(yaml.safe_dump(profile))
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "HOME": str(home),
           "OMP_NUM_THREADS": "1"}

    def lane(notebooks: list[str]) -> list[subprocess.CompletedProcess]:
        # (kernels talk over Unix sockets in each run's own folder, so two may start at the same moment)
        return [subprocess.run([sys.executable, "-m", "antinb", "run", nb, "--profile", str(tmp / "full-tiny.yml"),
                                "--output-dir", str(tmp / "out")], cwd=ROOT, env=env, capture_output=True, text=True,
                               timeout=1500) for nb in notebooks]

    # two processes of one thread each, as on a 2-core machine (every notebook still runs, each once)
    # (about two minutes each, measured one thread per notebook: 05 65 s, 07 32 s, 06 18 s | 01 41 s, 04 26 s,
    # 02 26 s, 03 24 s)
    lanes = [["05_uncertainty", "07_training", "06_dps"],
             ["01_correlation", "04_diversity", "02_timestep_evolution", "03_symmetry"]]
    assert sorted(sum(lanes, [])) == sorted(TINY)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        done = [r for runs in pool.map(lane, lanes) for r in runs]
    for r in done:
        assert r.returncode == 0, r.args[3] + ": " + r.stdout[-3000:] + r.stderr[-3000:]
    return {p.stem: json.loads(p.read_text()) for p in (tmp / "out").glob("*.json")}


@pytest.mark.slow
def test_every_notebook_runs_under_the_full_profile(full_run):
    assert sorted(full_run) == ["01_correlation", "02_timestep_evolution", "03_symmetry", "04_diversity",
                                "05_uncertainty", "06_dps", "07_training"]
    for stamp in full_run.values():
        assert stamp["records"], stamp["notebook"]


def _row(summary, paper_setting_start: str, our_start: str):
    return next(r for r in summary.ran if r.paper_setting.startswith(paper_setting_start)
                and r.our_setting.startswith(our_start))


@pytest.mark.slow
def test_records_land_in_the_paper_rows_they_belong_to(full_run):
    recs = {name: s["records"] for name, s in full_run.items()}
    sd_key = f"{SD}:coco:w=7.5"
    # finding 1: the prompted SD run fills the paper's prompted SD row, CelebA-HQ and CIFAR-10 (DDPM) theirs
    assert f"corr_mean/{sd_key}/ddim/pn/centered" in recs["01_correlation"]
    assert not any(":unprompted" in k for k in recs["01_correlation"])
    s1 = correlation.summary(recs["01_correlation"])
    assert _row(s1, "Stable Diffusion 1.5, prompted", sd_key).paper == "−0.73"
    assert _row(s1, paper.MODEL_LABELS[paper.CELEBA], paper.CELEBA).paper == "−0.78"
    assert _row(s1, paper.MODEL_LABELS[paper.CIFAR], paper.CIFAR).paper == "−0.80"
    assert any(r.our_setting.startswith("CompVis/ldm-celebahq-256") for r in s1.ran)  # no paper row: the range
    assert all(r.verdict != "not run here" for r in s1.rows if r.paper_setting.startswith(("CelebA", "LSUN",
                                                                                             "CIFAR", "Stable")))
    # finding 2 on every model, finding 3 on CIFAR-10 and Church
    assert len(trajectory.summary(recs["02_timestep_evolution"]).ran) == 8
    s3 = symmetry.summary(recs["03_symmetry"])
    assert {r.paper_setting for r in s3.ran} == {paper.MODEL_LABELS[paper.CIFAR], paper.MODEL_LABELS[paper.CHURCH]}
    # finding 4: DrawBench prompts fill the DrawBench row, the pixel models theirs
    s4 = diversity.summary(recs["04_diversity"])
    assert _row(s4, paper.MODEL_LABELS[f"{SD}:drawbench"], f"{SD}:drawbench").paper.startswith("SSIM +21.5 %")
    assert _row(s4, paper.MODEL_LABELS[paper.CHURCH], paper.CHURCH)
    # finding 5: Table 2's rows, SD's from the prompted run
    s5 = uncertainty.summary(recs["05_uncertainty"])
    assert _row(s5, "Stable Diffusion 1.5, prompted", f"{sd_key}, brightness").paper == "18.8"
    assert _row(s5, paper.MODEL_LABELS[paper.CIFAR], f"{paper.CIFAR}, brightness").paper == "32.7"
    assert "dps_efficiency/google/ddpm-celebahq-256/l1" in recs["06_dps"]
    # finding 7 follows our own training runs under any profile: the first and last states and the reference
    s7 = progress.summary(recs["07_training"], full_run["07_training"]["parameters"])
    assert [r.our_setting.split(",")[0] for r in s7.rows] == ["mnist training run"]
    assert len(recs["07_training"]["progress_steps/mnist"]) == 2 and "progress_corr/mnist/gaussian" in recs["07_training"]
