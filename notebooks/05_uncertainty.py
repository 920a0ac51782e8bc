# %% [markdown]
# # 5. Antithetic and quasi-Monte Carlo noise give tighter confidence intervals
#
# **Claim (paper, §6; science.md §6).** To estimate `mu = E[S(DM(Z))]` for a scalar image statistic
# `S`, antithetic pairs (AMC: the pair mean is the unit) and randomized quasi-Monte Carlo noise
# (RQMC) give much shorter confidence intervals than plain Monte Carlo (MC) at the same number of
# generated images. The blog's Table 2 reports relative efficiencies
# `(CI length MC / CI length method)^2` of about 4 to 136: e.g. brightness 32.7 (AMC, CIFAR-10),
# 18.8 (AMC, Stable Diffusion). Since `Var(AMC) = Var(MC) (1 + rho)` with
# `rho = corr(S(DM(z)), S(DM(-z)))`, AMC helps statistics that are close to odd in the noise and
# cannot help one that is even in the noise (`rho = 1`). A statistic even in the *image*, such as
# `squared_distance` below, is even in the noise only as far as the model is odd about its mean
# image: it usually has `rho` well above that of brightness, but a trained model can still make it
# anti-correlated (a thick bright digit paired with a thin faint one are both far from the mean).
#
# **Design.** For every embedded model and every method — MC, AMC, K-AMC (simplex groups of `K`,
# units = group means), RQMC (scrambled Sobol' noise, `R` replicates, units = replicate means) — we
# generate the same number of images with DDIM and evaluate all statistics on the same images:
# brightness (mean luminance), pixel mean, contrast (sd of luminance), `centroid_x` (horizontal
# centre of mass) and `centroid_distance` (its distance from the image centre), plus the even
# statistic `squared_distance` (mean squared difference to the model's mean image, estimated from
# all images of that model and then held fixed). The headline comparison is at equal numbers of
# generated images; the budget curve re-uses the first `n` images of each run (for RQMC the first
# `n/R` points of every replicate, itself a scrambled net); the coverage check is a separate set of
# repeated runs. Intensities are on the `[0, 1]` scale and centroids in pixels, while the paper's
# CI lengths look like 0–255 units: compare efficiencies, which are scale-free, not lengths.

# %% tags=["parameters"]
models = ["fashion-mnist-cond", "mnist", "photo-patches"]
statistics = ["brightness", "pixel_mean", "contrast", "centroid_x", "centroid_distance"]
n_images = 256           # generated images per method and model (equal budget)
budgets = [32, 64, 128, 256]  # budgets of the efficiency curve (prefixes of the runs above)
ddim_steps = 20
kamc_groups = [4, 8]     # K of the K-antithetic (simplex) designs
rqmc_replicates = 16     # R of the headline RQMC runs (n_images / R points each, a power of two)
coverage_model = "mnist"  # model of the coverage check ("" to skip)
coverage_n = 16          # images per repetition
coverage_reps = 40       # repetitions per method
coverage_steps = 8
coverage_replicates = 4  # RQMC replicates per repetition
level = 0.95
device = "auto"
seed = 0
max_batch_size = 512
store_dir = ""           # folder of a resumable sample store (empty: no store, generate in memory)
processes = 1            # generation workers started with accelerate (results do not depend on it)

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

import antinb
from antinb import findings, models, pairs, metrics, stats

sns.set_theme(style="whitegrid", context="notebook")
loaded = {name: antinb.load(name, device=device) for name in models}
methods = {"MC": ("mc", {}), "AMC": ("amc", {}),
           **{f"K-AMC(K={k})": ("kamc", {"k": k}) for k in kamc_groups},
           f"RQMC(R={rqmc_replicates})": ("rqmc", {"replicates": rqmc_replicates})}
slugs = {label: method + (str(kw["k"]) if method == "kamc" else "") for label, (method, kw) in methods.items()}
all_stats = statistics + ["squared_distance"]
print(f"{len(methods)} methods x {n_images} images x {len(loaded)} models, DDIM-{ddim_steps}: "
      f"{len(methods) * n_images * len(loaded)} images")

# %% [markdown]
# ## Does each model reproduce the data's spread of these statistics?
# An interval for `E[S(DM(Z))]` is only worth tightening if the model's samples vary like the data.
# The model cards measured it (256 DDIM-50 pairs vs the real test split): the ratio of generated
# to real standard deviation of each statistic. A model far below 1 generates near-identical
# values, and its efficiencies below describe its sampler, not the data.

# %%
spread = pd.DataFrame([{"model": name, "statistic": stat, "real sd": v["real_sd"], "generated sd": v["generated_sd"],
                        "ratio": v["generated_sd"] / v["real_sd"]}
                       for name, model in loaded.items() for stat, v in model.card.get("statistics", {}).items()])
if len(spread):
    for row in spread.itertuples():
        antinb.record(f"spread_ratio/{row.model}/{row.statistic}", row.ratio)
    spread_ok = spread.groupby("model")["ratio"].min() >= 0.5
    print("Models whose samples reproduce at least half of the data's spread of every statistic:",
          dict(spread_ok))
spread.round(4)

# %% [markdown]
# ## Equal budget: one run per method and model

# %%
values, estimates, rows = {}, {}, []
for name, model in loaded.items():
    images = {}  # this model's images, by method (only the statistics are kept)
    for label, (method, kw) in methods.items():
        run = antinb.estimate("brightness", model, n_images, method=method, seed=seed, steps=ddim_steps,
                              max_batch_size=max_batch_size, keep_images=True, return_run=True, progress=False,
                              store=store_dir or None, processes=processes, **kw)
        images[label] = run.images
    centre = stats.mean_image(torch.cat(list(images.values()))).float()
    for label, (method, kw) in methods.items():
        x = images[label]
        for s in statistics:
            values[name, label, s] = metrics.statistic(s)(x).double()
        values[name, label, "squared_distance"] = metrics.squared_distance(x, centre).double()
        for s in all_stats:
            estimates[name, label, s] = stats.estimate_ci(values[name, label, s], method, level=level, **kw)
    for s in all_stats:
        mc = estimates[name, "MC", s]
        rho = stats.pair_value_correlation(values[name, "AMC", s])
        antinb.record(f"rho/{name}/{s}", rho)
        row = {"model": name, "statistic": s, "rho": rho, "1/(1+rho)": 1 / (1 + rho)}
        for label in methods:
            e = estimates[name, label, s]
            eff = stats.relative_efficiency(mc, e)
            antinb.record(f"ci_length/{name}/{s}/{slugs[label]}", e.length)
            antinb.record(f"estimate/{name}/{s}/{slugs[label]}", e.estimate)
            if label != "MC":
                antinb.record(f"eff_{slugs[label]}/{name}/{s}", eff)
                antinb.record(f"efficiency/{name}/{s}/{slugs[label]}", eff)
            row[f"{label} length"], row[f"{label} eff"] = e.length, eff
        rows.append(row)
long_table = pd.DataFrame(rows)
long_table.round(4)

# %% [markdown]
# ## In the form of the blog's Table 2
# CI length at level 95 % with the relative efficiency against MC in parentheses
# (`n = n_images` generated images for every method; DDIM). `rho` is the correlation of the
# statistic within antithetic pairs and `1/(1+rho)` the AMC efficiency it predicts (up to the
# ratio of t quantiles). For grayscale models pixel mean and brightness are the same statistic.

# %%
table2 = long_table[["model", "statistic"]].copy()
table2["MC"] = long_table["MC length"].map("{:.4f}".format)
for label in methods:
    if label != "MC":
        table2[label] = [f"{length:.4f} ({eff:.2f})"
                         for length, eff in zip(long_table[f"{label} length"], long_table[f"{label} eff"])]
table2["rho"] = long_table["rho"].round(3)
table2["1/(1+rho)"] = long_table["1/(1+rho)"].round(2)
print(f"Our models, DDIM-{ddim_steps}, n = {n_images} images per method, "
      "lengths on the [0, 1] scale (centroids in pixels):")
table2

# %% [markdown]
# The paper's numbers (blog Table 2; CI length with efficiency in parentheses; their models and
# sample sizes, lengths apparently in 0–255 units; "centroid" is not specified further):

# %%
paper = pd.DataFrame([
    ("Stable Diffusion", "brightness", 5.45, 16.13, 18.83), ("Stable Diffusion", "pixel mean", 5.59, 15.23, 15.84),
    ("Stable Diffusion", "contrast", 2.18, 4.46, 6.25), ("Stable Diffusion", "centroid", 4.03, 4.54, 6.15),
    ("CIFAR-10", "brightness", 2.00, 32.05, 32.66), ("CIFAR-10", "pixel mean", 2.04, 26.94, 27.12),
    ("CIFAR-10", "contrast", 1.08, 23.43, 22.05), ("CIFAR-10", "centroid", 0.11, 7.35, 6.96),
    ("CelebA-HQ", "brightness", 1.82, np.nan, 50.16), ("CelebA-HQ", "pixel mean", 1.76, np.nan, 33.15),
    ("CelebA-HQ", "contrast", 0.60, np.nan, 10.18), ("CelebA-HQ", "centroid", 0.60, np.nan, 8.27),
    ("LSUN-Church", "brightness", 1.67, np.nan, 136.37), ("LSUN-Church", "pixel mean", 1.67, np.nan, 106.79),
    ("LSUN-Church", "contrast", 1.02, np.nan, 27.16), ("LSUN-Church", "centroid", 0.70, np.nan, 3.14),
], columns=["model", "statistic", "MC length", "QMC eff", "AMC eff"])
paper

# %% [markdown]
# Efficiencies side by side (ours: AMC and RQMC; the paper: AMC and QMC). Our `centroid_x` and
# `centroid_distance` both stand beside the paper's "centroid".

# %%
paper_stat = {"brightness": "brightness", "pixel_mean": "pixel mean", "contrast": "contrast",
              "centroid_x": "centroid", "centroid_distance": "centroid"}
rq = f"RQMC(R={rqmc_replicates})"
side = long_table[long_table["statistic"].isin(paper_stat)].pivot_table(
    index="statistic", columns="model", values=["AMC eff", f"{rq} eff"], aggfunc="first", sort=False)
side.columns = [f"{m}: {c.replace(' eff', '')}" for c, m in side.columns]
for pm in paper["model"].unique():
    sub = paper[paper["model"] == pm].set_index("statistic")
    side[f"paper {pm}: AMC"] = [sub.loc[paper_stat[s], "AMC eff"] for s in side.index]
    if sub["QMC eff"].notna().any():
        side[f"paper {pm}: QMC"] = [sub.loc[paper_stat[s], "QMC eff"] for s in side.index]
side.T.round(2)

# %% [markdown]
# ## Efficiency against the sample budget
# Nested prefixes of the runs above: the first `n` images of each design (MC, AMC, K-AMC) and the
# first `n / R` points of every RQMC replicate. The points of one curve share images, so they are
# correlated; the spread between neighbouring budgets shows how noisy a single efficiency is.

# %%
curve = []
for name in loaded:
    for s in all_stats:
        for n in budgets:
            mc_n = stats.prefix_estimate(values[name, "MC", s], "mc", n, level=level)
            for label, (method, kw) in methods.items():
                if label == "MC":
                    continue
                e = stats.prefix_estimate(values[name, label, s], method, n, level=level, **kw)
                curve.append({"model": name, "statistic": s, "n": n, "method": label,
                              "efficiency": stats.relative_efficiency(mc_n, e)})
curve = pd.DataFrame(curve)
for (name, s, label), grp in curve.groupby(["model", "statistic", "method"]):
    antinb.record(f"eff_vs_n/{name}/{s}/{slugs[label]}", dict(zip(map(str, grp["n"]), grp["efficiency"])))
g = sns.relplot(data=curve, x="n", y="efficiency", hue="method", col="statistic", row="model", kind="line",
                marker="o", height=2.3, aspect=1.1)
for ax in g.axes.flat:
    ax.set(xscale="log", yscale="log")
    ax.set_xticks(budgets, [str(n) for n in budgets])
    ax.minorticks_off()
    ax.axhline(1, color="gray", lw=0.8, ls="--")
g.set_titles("{row_name}\n{col_name}", size=8)
g.figure.suptitle(f"Relative efficiency vs MC, DDIM-{ddim_steps} (dashed: no gain)", y=1.04)

# %% [markdown]
# ## Do the intervals cover at their nominal level?
# `coverage_reps` independent repetitions of every method at a small budget (`coverage_n`
# images each; one large draw cut into disjoint blocks, since the groups of a design are
# independent), on one model with a shorter sampler. The reference value of each statistic is the
# pooled mean of all images of all methods in this check (every method is unbiased for the same
# `mu`; its own standard error is shown and is small next to a single interval). The band is the
# central 95 % range of the coverage of `coverage_reps` intervals whose true level is 95 %.

# %%
cov_rows = pd.DataFrame()
if coverage_model:
    cmodel = loaded.get(coverage_model) or antinb.load(coverage_model, device=device)
    total = coverage_n * coverage_reps
    cov_values, cov_images = {}, {}
    for label, (method, kw) in methods.items():
        draw_kw = {"replicates": coverage_reps * coverage_replicates} if method == "rqmc" else kw
        run = antinb.estimate("brightness", cmodel, total, method=method, seed=seed + 1, steps=coverage_steps,
                              max_batch_size=max_batch_size, keep_images=True, return_run=True, progress=False,
                              store=store_dir or None, processes=processes, **draw_kw)
        cov_images[label] = run.images
    centre = stats.mean_image(torch.cat(list(cov_images.values()))).float()
    for label, x in cov_images.items():
        for s in statistics:
            cov_values[label, s] = metrics.statistic(s)(x).double()
        cov_values[label, "squared_distance"] = metrics.squared_distance(x, centre).double()
    band = stats.coverage_band(coverage_reps, level)
    pooled_band = stats.coverage_band(coverage_reps * len(methods), level)
    cov_rows = []
    for s in all_stats:
        pooled = torch.cat([cov_values[label, s] for label in methods])
        reference, reference_se = float(pooled.mean()), float(pooled.std() / np.sqrt(len(pooled)))
        hits = []
        for label, (method, kw) in methods.items():
            block_kw = {"replicates": coverage_replicates} if method == "rqmc" else kw
            blocks = stats.block_estimates(cov_values[label, s], method, coverage_n, level=level, **block_kw)
            covered = [b.covers(reference) for b in blocks]
            hits += covered
            antinb.record(f"coverage/{slugs[label]}/{s}", np.mean(covered))
            cov_rows.append({"statistic": s, "method": blocks[0].method, "units per rep": blocks[0].n_units,
                             "coverage": np.mean(covered), "mean CI length": np.mean([b.length for b in blocks]),
                             "reference": reference, "reference se": reference_se})
        antinb.record(f"coverage/all/{s}", np.mean(hits))
    cov_rows = pd.DataFrame(cov_rows)
    antinb.record("coverage_reps", coverage_reps)
    antinb.record("coverage_band", list(band))
    print(f"{coverage_model}, DDIM-{coverage_steps}, {coverage_reps} repetitions of {coverage_n} images per method; "
          f"a true 95 % level gives coverage in [{band[0]:.3f}, {band[1]:.3f}] with probability about 95 % "
          f"([{pooled_band[0]:.3f}, {pooled_band[1]:.3f}] for the {coverage_reps * len(methods)} intervals "
          f"of all methods pooled).")
cov_rows.round(4) if len(cov_rows) else cov_rows

# %%
if len(cov_rows):
    ax = sns.pointplot(data=cov_rows, x="statistic", y="coverage", hue="method", dodge=0.5, linestyle="none")
    ax.axhspan(*band, color="gray", alpha=0.2, lw=0, label="95 % range for a true 95 % level")
    ax.axhline(level, color="k", lw=0.8)
    ax.set(ylim=(min(0.5, cov_rows["coverage"].min() - 0.05), 1.02),
           title=f"Empirical coverage, {coverage_model}, {coverage_reps} reps of n = {coverage_n}")
    ax.tick_params(axis="x", rotation=20)
    ax.legend(fontsize=7, ncol=2)

# %% [markdown]
# ## Result

# %%
eff_cols = [c for c in long_table.columns if c.endswith(" eff") and not c.startswith("MC")]
summary = long_table.set_index(["model", "statistic"])[eff_cols + ["rho"]]
summary.columns = [c.replace(" eff", "") for c in summary.columns]
print(f"Relative efficiency vs MC at n = {n_images} generated images per method, DDIM-{ddim_steps}:")
print(summary.round(2).to_string())
amc_bright = long_table[long_table["statistic"] == "brightness"].set_index("model")["AMC eff"]
even = long_table[long_table["statistic"] == "squared_distance"].set_index("model")
print(f"\nBrightness, AMC: efficiency {amc_bright.min():.1f} to {amc_bright.max():.1f} across models "
      f"(paper: 18.8 to 136.4 on its models).")
print("Even statistic squared_distance: rho " + ", ".join(f"{m} {r:+.2f}" for m, r in even["rho"].items())
      + "; AMC efficiency " + ", ".join(f"{m} {e:.2f}" for m, e in even["AMC eff"].items())
      + " (rho > 0 means AMC is worse than MC; an image-even statistic is only as even in the noise as the"
      " model is odd about its mean image).")
if len(spread):
    print("\nCaveat: " + ", ".join(f"{m} ({'reproduces' if ok else 'does NOT reproduce'} the data's spread; "
                                   f"min sd ratio {spread[spread.model == m].ratio.min():.2f})"
                                   for m, ok in spread_ok.items())
          + ". Efficiencies of a model that does not reproduce the spread say nothing about the data.")
if len(cov_rows):
    worst = cov_rows.loc[cov_rows["coverage"].idxmin()]
    print(f"\nCoverage ({coverage_model}, DDIM-{coverage_steps}, {coverage_reps} reps of n = {coverage_n}): "
          f"{cov_rows['coverage'].min():.3f} to {cov_rows['coverage'].max():.3f} over methods and statistics "
          f"(lowest: {worst['method']} on {worst['statistic']}); {int(((cov_rows['coverage'] >= band[0])).sum())} of "
          f"{len(cov_rows)} within or above the binomial range [{band[0]:.3f}, {band[1]:.3f}].")
