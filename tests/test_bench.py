"""The benchmark's bookkeeping: call counts, interleaving, ratios, targets, report and page.

Speed itself is never asserted (timings live in ``benchmarks/results``, not in pass/fail)."""

from __future__ import annotations

import json
import statistics

import pytest
from diffusers import DDPMScheduler

from antinb import models, noise, plots, sampling
from antinb.book import bench, runner
from conftest import tiny_unet


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-bench")
    tiny_unet(channels=1, size=8).save_pretrained(folder / "unet")
    DDPMScheduler(num_train_timesteps=1000).save_pretrained(folder / "scheduler")
    return folder


def test_count_unet_counts_one_call_per_step_per_chunk_and_restores(model):
    with bench.count_unet(model, timed=True) as tally:
        sampling.ddim(model, noise.antithetic(10, model.sample_shape), steps=6, max_batch_size=4, progress=False)
    assert tally["calls"] == 6 * 3
    assert tally["seconds"] > 0
    assert "forward" not in vars(model.unet)  # the class's forward is back


def test_time_interleaved_alternates_order_and_summarises():
    order = []
    calls = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    t = bench.time_interleaved(calls, images=4, repeats=4, warmup=1)
    assert order == ["a", "b"] + ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert len(t["a"].seconds) == 4
    t["a"].seconds = [3.0, 1.0, 2.0, 10.0]
    assert (t["a"].min, t["a"].median, t["a"].images_per_s) == (1.0, 2.5, 1.6)
    t["b"].seconds = [1.5, 1.0, 4.0, 10.0]
    assert bench.paired_ratio(t["a"], t["b"]) == pytest.approx(statistics.median([2.0, 1.0, 0.5, 1.0]))
    with pytest.raises(ValueError, match="repeats"):
        bench.time_interleaved(calls, images=1, repeats=0)


def test_comparisons_report_consistent_ratios(model, cond_model):
    p = bench.compare_pipeline(model, batch=4, steps=3, repeats=2)
    assert p["ratio"] == pytest.approx(statistics.median(
        d / a for d, a in zip(p["diffusers"]["seconds"], p["antinb"]["seconds"])))
    assert p["ratio_medians"] == pytest.approx(p["diffusers"]["median_s"] / p["antinb"]["median_s"])
    assert p["ratio_best"] == pytest.approx(p["diffusers"]["min_s"] / p["antinb"]["min_s"])
    assert "skipped" in bench.compare_pipeline(cond_model, batch=4, steps=3, repeats=1)
    q = bench.compare_pairing(cond_model, batch=4, steps=3, repeats=2)
    assert q["time_ratio"] == pytest.approx(statistics.median(
        a / b for a, b in zip(q["PN"]["seconds"], q["RR"]["seconds"])))
    assert q["deviation"] == pytest.approx(abs(q["time_ratio"] - 1)) and q["sampler"] == "ddim"
    # DDPM (mirrored per-step noise) and DPS (a backward pass per step) are compared the same way
    for sampler in ("ddpm", "dps"):
        with bench.count_unet(model) as tally:
            r = bench.compare_pairing(model, batch=4, steps=3, repeats=2, sampler=sampler)
        assert r["sampler"] == sampler and r["time_ratio"] == pytest.approx(statistics.median(
            a / b for a, b in zip(r["PN"]["seconds"], r["RR"]["seconds"])))
        assert tally["calls"] == 3 * 2 * (1 + 2)  # 3 steps x (PN, RR) x (warm-up + 2 repeats), one batch each
    with pytest.raises(ValueError, match="sampler='euler'"):
        bench.compare_pairing(model, batch=4, steps=3, repeats=1, sampler="euler")
    s = bench.unet_share(model, batch=4, steps=5, repeats=2)
    assert s["unet_calls"] == 5 and 0 < s["share"] <= 1


def test_targets_and_markdown_flag_a_missed_target():
    report = {"pipeline": [{"model": "a", "ratio": 0.99, "ratio_best": 1.0, "antinb": {"images_per_s": 99.0},
                            "diffusers": {"images_per_s": 100.0}}, {"model": "b", "skipped": "conditional"}],
              "pairing": [{"model": "a", "deviation": 0.03, "time_ratio": 1.03}],
              "unet_share": [{"model": "a", "share": 0.97, "unet_calls": 20}]}
    t = bench._targets(report)
    assert t["pipeline_ratio"]["met"] and t["unet_share"]["met"]
    assert not t["pairing_deviation"]["met"] and t["pairing_deviation"]["worst"] == 0.03
    report.update(targets=t, config={"batch": 8, "steps": 20, "repeats": 3}, device="cpu", cores=2, torch="x",
                  started="now", throughput=[], options=[], notebooks={})
    text = bench.markdown(report)
    assert "| \\|PN time / RR time - 1\\| | 0.0300 | <= 0.02 | **no** |" in text  # the | inside the cell escaped
    assert "| measure | worst over models | target | met |" in text
    assert "b: conditional." in text


def test_run_writes_a_complete_report(tiny_folder, tmp_path):
    out = tmp_path / "r.json"
    report = bench.run([str(tiny_folder)], device="cpu", batch=4, steps=2, repeats=1, batch_sizes=(2, 4),
                       threads=(1,), options=("channels_last",), out=out, progress=False)
    saved = json.loads(out.read_text())
    assert saved["config"]["models"] == [str(tiny_folder)]
    assert [r["batch"] for r in saved["throughput"]] == [2, 4]
    assert all(r["threads"] == 1 for r in saved["throughput"])
    opts = saved["options"][0]["options"]
    assert set(opts) == {"plain", "channels_last"}
    assert opts["channels_last"]["max_abs_difference"] < 1e-4
    assert set(saved["targets"]) == {"pipeline_ratio", "pairing_deviation", "unet_share"}
    assert report["path"] == str(out)
    fig = plots.throughput(saved["throughput"])
    assert len(fig.axes[0].lines) >= 1
    # re-measuring one part replaces its rows and keeps the others
    updated = bench.run([str(tiny_folder)], device="cpu", batch=4, steps=2, repeats=3, only=("pairing",), out=out,
                        progress=False)
    assert [r["sampler"] for r in updated["pairing"]] == ["ddim", "ddpm", "dps"]
    assert len(updated["pairing"][0]["PN"]["seconds"]) == 3
    assert updated["pipeline"] == saved["pipeline"] and updated["throughput"] == saved["throughput"]
    assert [u["parts"] for u in updated["updates"]] == [["pairing"]]
    assert "Re-measured" in bench.markdown(updated)
    data = json.loads(out.read_text())
    data["notebooks"]["ci"] = {"01_correlation": {"wall_s": 12.5}}
    out.write_text(json.dumps(data))
    refreshed = bench.run([str(tiny_folder)], device="cpu", only=("notebooks",), out=out, progress=False)
    assert refreshed["notebooks"]["ci"] == {"01_correlation": {"wall_s": 12.5}}  # kept: no ci run asked for
    assert set(refreshed["notebooks"]["book"]) == set(runner.notebooks())
    with pytest.raises(ValueError, match="does not exist"):
        bench.run([str(tiny_folder)], device="cpu", only=("pairing",), out=tmp_path / "none.json", progress=False)
    with pytest.raises(ValueError, match="choose from"):
        bench.run([str(tiny_folder)], device="cpu", only=("speed",), out=out, progress=False)


def test_notebook_times_read_the_book_stamps():
    times = bench.notebook_times()
    assert set(times["book"]) == set(runner.notebooks())
    assert all(v["wall_s"] > 0 for v in times["book"].values())
    assert times["ci"] == {}


def test_bad_option_is_rejected(tiny_folder):
    with pytest.raises(ValueError, match="unknown options"):
        bench.compare_options(str(tiny_folder), batch=2, steps=1, repeats=1, options=("turbo",))
    with pytest.raises(ValueError, match="not even"):
        bench.throughput(models.load(tiny_folder, device="cpu"), batch_sizes=[1, 4], threads=[1], steps=1, repeats=1)


def test_a_latent_text_to_image_model_is_benched_without_the_parts_it_cannot_run(tmp_path):
    """Stable Diffusion: no DDIMPipeline comparison (text-conditional) and no DPS row (pixel space only);
    the rest, the throughput the dry run reads included, is measured."""
    from tiny_pipelines import save_tiny_sd

    folder = save_tiny_sd(tmp_path / "sd")
    report = bench.run([str(folder)], device="cpu", batch=2, steps=2, repeats=1, batch_sizes=(2,), threads=(1,),
                       options=(), out=tmp_path / "r.json", progress=False)
    assert bench.pairing_samplers(models.load(folder, device="cpu")) == ("ddim", "ddpm")
    assert [r["sampler"] for r in report["pairing"]] == ["ddim", "ddpm"]
    assert "text-conditional" in report["pipeline"][0]["skipped"]
    assert report["throughput"][0]["model"] == "sd" and report["throughput"][0]["ms_per_image_step"] > 0
