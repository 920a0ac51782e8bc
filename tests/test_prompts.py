"""Prompts end to end (issue 17 item 2), on a tiny random-weight Stable Diffusion folder.

Prompt sets (a list, a file, a shipped set), pairs that share a prompt, the estimator and the
sharded generator with prompts (the same numbers either way), the record keys that carry the
conditioning, and the paper's prompted rows that only a prompted run can fill.
"""

from __future__ import annotations

import pytest
import torch

import antinb
from antinb import prompts as P
from antinb import sampling
from antinb.findings import base, correlation, diversity
from antinb.pairs import conditioning, pair_samples

SD = "stable-diffusion-v1-5/stable-diffusion-v1-5"


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory):
    from tiny_pipelines import save_tiny_sd

    return save_tiny_sd(tmp_path_factory.mktemp("sd") / "tiny-sd")


@pytest.fixture(scope="module")
def sd(sd_folder):
    return antinb.load(f"{sd_folder}={SD}", device="cpu")


def test_guided_ddim_equals_the_stable_diffusion_pipeline(sd, sd_folder):
    """antinb's DDIM on a Stable Diffusion folder (the hub's PNDM config, taken over as DDIM) gives the
    images diffusers' StableDiffusionPipeline gives with a DDIMScheduler from the same config, on the same
    latents, prompts and classifier-free guidance (the null prompt "" as its negative prompt)."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(sd_folder, safety_checker=None, requires_safety_checker=False)
    assert type(pipe.scheduler).__name__ == "PNDMScheduler"  # the folder is laid out as the hub's
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    batch = antinb.noise.antithetic(4, sd.sample_shape, seed=5)
    texts = ["a red cat", "a red cat", "the blue dog", "the blue dog"]
    ours = antinb.ddim(sd, batch, steps=6, prompts=texts, guidance_scale=7.5, progress=False)
    theirs = pipe(prompt=texts, latents=batch.z.clone(), num_inference_steps=6, guidance_scale=7.5, eta=0.0,
                  output_type="pt").images
    assert ours.shape == theirs.shape == (4, 3, 16, 16)
    assert ((ours + 1) / 2).clamp(0, 1).sub(theirs).abs().max() < 1e-5
    assert theirs.std() > 0.01  # images, not a constant the comparison would pass on


@pytest.mark.filterwarnings("ignore:The configuration file of this scheduler:FutureWarning")  # the patch it tests
@pytest.mark.parametrize("clip_sample", [True, None], ids=["clip_sample-true", "clip_sample-missing"])
def test_a_text_to_image_folder_never_clips_its_latents(sd_folder, tmp_path, clip_sample):
    """A folder whose DDIM config has clip_sample on, or lacks the key (DDIM's default is on): the pipeline
    turns it off when it is built, and antinb samples as the pipeline does, without clipping the latents."""
    import shutil

    from diffusers import DDIMScheduler, StableDiffusionPipeline
    from tiny_pipelines import SD15_SCHEDULER, write_scheduler

    folder = tmp_path / "sd"
    shutil.copytree(sd_folder, folder)
    cfg = {k: v for k, v in SD15_SCHEDULER.items() if k != "clip_sample"}  # the hub's schedule, as a DDIM
    write_scheduler(folder, {**cfg, "_class_name": "DDIMScheduler",
                             **({} if clip_sample is None else {"clip_sample": clip_sample})})
    assert DDIMScheduler.from_pretrained(folder / "scheduler").config.clip_sample  # diffusers' DDIM would clip
    pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False)
    assert pipe.scheduler.config.clip_sample is False
    pipe.set_progress_bar_config(disable=True)
    model = antinb.load(str(folder), device="cpu")
    batch = antinb.noise.antithetic(2, model.sample_shape, seed=2)
    ours = antinb.ddim(model, batch, steps=4, prompts="a red cat", guidance_scale=7.5, progress=False)
    theirs = pipe(prompt=["a red cat"] * 2, latents=batch.z.clone(), num_inference_steps=4, guidance_scale=7.5,
                  output_type="pt").images
    assert ((ours + 1) / 2).clamp(0, 1).sub(theirs).abs().max() < 1e-5


def test_prompt_sets(tmp_path):
    shipped = P.resolve("antinb-16")
    assert shipped.name == "antinb-16" and len(shipped.texts) == 16 and all(t.strip() for t in shipped.texts)
    f = tmp_path / "my_DrawBench_copy.txt"
    f.write_text("# a comment\na red cat\n\na blue dog  # trailing comment\n")
    assert P.resolve(f) == P.PromptSet("drawbench", ("a red cat", "a blue dog"))  # recognised paper source
    assert P.resolve(["a cat", "a dog"]).texts == ("a cat", "a dog")
    assert P.resolve("") is None and P.resolve(None) is None
    with pytest.raises(ValueError, match="neither a prompt file nor a shipped set"):
        P.resolve("no-such-set")
    with pytest.raises(ValueError, match="non-empty"):
        P.resolve([])
    assert shipped.for_groups(3, 2) == [shipped.texts[0]] * 2 + [shipped.texts[1]] * 2 + [shipped.texts[2]] * 2


def test_record_keys_carry_the_conditioning(sd):
    assert sd.name == SD  # "<folder>=<hub id>" stands for the hub id
    assert conditioning(sd, "antinb-16", 7.5)[0] == f"{SD}:antinb-16:w=7.5"
    assert conditioning(sd, None)[0] == f"{SD}:unprompted"
    assert P.split_key(f"{SD}:antinb-16:w=7.5") == (SD, "antinb-16", 7.5)
    # only a prompted run reaches the paper's prompted rows; a pixel model keeps its name
    assert base.paper_model(f"{SD}:antinb-16:w=7.5", antinb.paper.CORRELATION) == antinb.paper.SD_PROMPTED
    assert base.paper_model(f"{SD}:unprompted", antinb.paper.CORRELATION) is None
    assert base.paper_model(f"{SD}:drawbench:w=7.5", antinb.paper.DIVERSITY) == f"{SD}:drawbench"
    assert base.paper_model("google/ddpm-cifar10-32", antinb.paper.TABLE2) == "google/ddpm-cifar10-32"


def test_both_members_of_a_pair_share_its_prompt(sd):
    pset = P.resolve(["a red cat", "blue dog"])
    x = pair_samples(sd, 3, "PN", steps=3, seed=0, prompts=pset, guidance_scale=7.5, progress=False)
    z = antinb.noise.antithetic(6, sd.sample_shape, seed=0)
    rows = ["a red cat", "a red cat", "blue dog", "blue dog", "a red cat", "a red cat"]
    ref = sampling.ddim(sd, z, steps=3, prompts=rows, guidance_scale=7.5, progress=False)
    torch.testing.assert_close(x, ref)
    # the prompt matters (the tiny tokenizer knows "a" and maps the other words to one token)
    other = sampling.ddim(sd, z, steps=3, prompts=["blue dog"] * 6, guidance_scale=7.5, progress=False)
    assert (x[:2] - other[:2]).abs().max() > 1e-4


def test_estimate_with_prompts_equals_the_sharded_generator(sd_folder, tmp_path):
    spec = f"{sd_folder}={SD}"
    kw = dict(method="amc", steps=2, seed=1, prompts="antinb-16", guidance_scale=7.5, progress=False)
    direct = antinb.estimate("brightness", antinb.load(spec, device="cpu"), 8, **kw)
    stored = antinb.estimate("brightness", spec, 8, store=tmp_path / "store", **kw)
    assert direct.estimate == pytest.approx(stored.estimate, abs=1e-6)
    assert (direct.ci_low, direct.ci_high) == pytest.approx((stored.ci_low, stored.ci_high), abs=1e-6)
    unprompted = antinb.estimate("brightness", antinb.load(spec, device="cpu"), 8, method="amc", steps=2, seed=1,
                                 progress=False)
    assert unprompted.estimate != pytest.approx(direct.estimate, abs=1e-6)


def test_a_prompted_run_fills_the_papers_prompted_row_and_an_unprompted_one_never(sd):
    common = dict(n_pairs=3, ddim_steps=2, ddpm_steps=2, seed=0, device="cpu")
    prompted = correlation.run([sd], prompts="antinb-16", prompt_guidance=7.5, **common).records()
    assert f"corr_mean/{SD}:antinb-16:w=7.5/ddim/pn/centered" in prompted
    row = next(r for r in correlation.summary(prompted).ran if r.our_setting.startswith(f"{SD}:antinb-16"))
    assert row.paper_setting.startswith("Stable Diffusion 1.5, prompted") and row.paper == "−0.73"
    unprompted = correlation.run([sd], **common).records()
    assert f"corr_mean/{SD}:unprompted/ddim/pn/centered" in unprompted
    s = correlation.summary(unprompted)
    ours = next(r for r in s.ran if r.our_setting.startswith(f"{SD}:unprompted"))
    assert "Stable Diffusion" not in ours.paper_setting  # compared with the paper's range only
    sd_row = next(r for r in s.rows if r.paper_setting.startswith("Stable Diffusion 1.5, prompted"))
    assert sd_row.verdict == base.NOT_RUN


def test_diversity_rows_follow_the_prompt_source(sd, tmp_path):
    f = tmp_path / "drawbench.txt"
    f.write_text("a red cat\na blue dog\n")
    res = diversity.run([sd], n_pairs=4, steps=2, class_model=None, perceptual_backend="stlpips", seed=0,
                        device="cpu", prompts=f, prompt_guidance=7.5, check_quality=False, n_boot=50)
    recs = res.records()
    assert f"ssim_improvement_pct/{SD}:drawbench:w=7.5" in recs
    row = next(r for r in diversity.summary(recs).ran)
    assert row.paper_setting == antinb.paper.MODEL_LABELS[f"{SD}:drawbench"]


def test_generate_cli_takes_prompts():
    from antinb import cli

    args = cli.build_parser().parse_args(["generate", "--model", "m", "--design", "antithetic", "--n", "4",
                                          "--statistics", "brightness", "--store", "s", "--prompts", "antinb-16",
                                          "--guidance-scale", "7.5"])
    assert cli._prompt_texts(args.prompts) == P.resolve("antinb-16").texts
