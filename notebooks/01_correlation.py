# %% [markdown]
# # 1. Antithetic pairs are strongly negatively correlated
#
# **Claim (paper, §3; science.md §2).** Sampling a diffusion model from `z` and from `-z` gives two
# images whose pixel-wise Pearson correlation is strongly negative (PN pairs), while two independent
# noises give a weakly *positive* correlation (RR pairs share the model's mean image). Under DDPM
# the partner chain must also negate every per-step noise `xi_t`; negating only `z` is the control.
#
# We measure the standard and the centered correlation (the model's mean image, estimated from all
# generated samples, is subtracted first) for every embedded model under DDIM (eta = 0) and DDPM
# (ancestral, eta = 1), then go beyond the paper with two ablations: negating only the top half of
# `z`, and a sweep of the classifier-free guidance scale.

# %% tags=["parameters"]
models = ["fashion-mnist-cond", "mnist", "photo-patches"]  # embedded names, local folders or hub ids
n_pairs = 64            # pairs per design, model and sampler
ddim_steps = 50
ddpm_steps = 50
guidance_model = "fashion-mnist-cond"  # class-conditional model for the guidance sweep ("" to skip)
guidance_scales = [1.0, 2.0, 4.0, 8.0]
guidance_pairs = 32
ablation_pairs = 64
device = "auto"
seed = 0
max_batch_size = 512

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

import antinb
from antinb import findings, models, pairs, noise, plots, stats

sns.set_theme(style="whitegrid", context="notebook")
torch.manual_seed(seed)
loaded = {name: antinb.load(name, device=device) for name in models}
print({name: f"{m.sample_shape}, conditioning={m.conditioning}" for name, m in loaded.items()})

# %% [markdown]
# ## PN vs RR under DDIM and DDPM
# For the class-conditional model, sampling is unconditional (the null class).

# %%
settings = {"DDIM": ("ddim", ddim_steps, ["PN", "RR"]), "DDPM": ("ddpm", ddpm_steps, ["PN", "RR", "PN (z only)"])}
samples, corr, rows = {}, {}, []
for name, model in loaded.items():
    for label, (sampler, steps, pairings) in settings.items():
        sets = {p: pairs.pair_samples(model, n_pairs, p, sampler=sampler, steps=steps, seed=seed,
                                            max_batch_size=max_batch_size, progress=False) for p in pairings}
        samples[name, label] = sets
        corr[name, label] = findings.correlation.correlations(sets)
        for pairing, c in corr[name, label].items():
            rows.append({"model": name, "sampler": f"{label}-{steps}", "pairs": pairing, "n": n_pairs,
                         "standard": f"{c['standard'].mean():+.3f} ± {c['standard'].std():.3f}",
                         "centered": f"{c['centered'].mean():+.3f} ± {c['centered'].std():.3f}"})
            for variant in ("standard", "centered"):
                key = f"{name}/{label.lower()}/{pairing.replace(' ', '').lower()}/{variant}"
                antinb.record(f"corr_mean/{key}", c[variant].mean())
                antinb.record(f"corr_sd/{key}", c[variant].std())
table = pd.DataFrame(rows)
table

# %%
fig, axes = plt.subplots(len(loaded), 2, figsize=(9, 2.8 * len(loaded)), squeeze=False)
for i, name in enumerate(loaded):
    for j, label in enumerate(settings):
        c = corr[name, label]
        plots.correlation_histograms({p: c[p]["centered"] for p in c}, ax=axes[i, j],
                                     title=f"{name}, {label} (centered)")
fig.tight_layout()

# %% [markdown]
# Examples of PN pairs (DDIM): each column is a pair, `z` above and `-z` below.

# %%
for name in loaded:
    fig = plots.pair_grid(samples[name, "DDIM"]["PN"][:16], title=f"{name}: PN pairs (DDIM-{ddim_steps})")

# %% [markdown]
# ## The paper's numbers
# Centered PN correlation reported by the paper (DDIM unless noted; their models, not ours):

# %%
paper = pd.DataFrame([
    ("CelebA-HQ (DDIM)", -0.78), ("LSUN-Church (DDIM)", -0.41), ("LSUN-Bedroom (DDIM)", -0.62),
    ("DiT ImageNet", -0.45), ("Stable Diffusion 1.5", -0.73), ("VAE MNIST", -0.41), ("Glow CIFAR-10", -0.57),
    ("CIFAR-10 DDPM, per-step negation (standard)", -0.73), ("CIFAR-10 DDPM, per-step negation (centered)", -0.80),
], columns=["setting", "paper: PN correlation"])
paper

# %% [markdown]
# ## Ablation 1: negate only the top half of `z`
# Partners share the bottom half of the noise and negate the top half (DDIM). The per-pixel
# correlation across pairs shows where in the image the negation acts.

# %%
maps = {}
for name, model in loaded.items():
    c, h, w = model.sample_shape
    mask = torch.zeros(c, h, w, dtype=torch.bool)
    mask[:, : h // 2] = True
    z = noise.partially_negated(noise.antithetic(2 * ablation_pairs, model.sample_shape, seed=seed), mask)
    x = antinb.ddim(model, z, steps=ddim_steps, max_batch_size=max_batch_size, progress=False)
    maps[name] = stats.pixel_correlation_map(x).mean(0)
    top, bottom = maps[name][: h // 2].mean(), maps[name][h // 2:].mean()
    antinb.record(f"halfneg_top_pixel_corr/{name}", top)
    antinb.record(f"halfneg_bottom_pixel_corr/{name}", bottom)
fig, axes = plt.subplots(1, len(maps), figsize=(3.2 * len(maps), 3), squeeze=False)
for ax, (name, m) in zip(axes[0], maps.items()):
    im = ax.imshow(m.numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.axhline(m.shape[0] / 2 - 0.5, color="k", ls="--", lw=1)
    ax.set_title(f"{name}\ntop {m[: m.shape[0] // 2].mean():+.2f}, bottom {m[m.shape[0] // 2:].mean():+.2f}")
    ax.axis("off")
fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="per-pixel corr. across pairs")

# %% [markdown]
# ## Ablation 2: classifier-free guidance scale
# PN pairs of the class-conditional model, both members conditioned on the same class
# (classes cycle over the pairs), for several guidance scales, beside RR pairs of the same classes.
# The centre is the mean image of *all* classes, so even independent same-class (RR) pairs
# correlate positively, the more so as guidance makes a class's samples alike: the antithetic
# effect here is the gap between the PN and the RR curve, not the sign of the PN one (the paper's
# Stable Diffusion pairs share a prompt in the same way).

# %%
sweep = []
if guidance_model:
    gmodel = loaded.get(guidance_model) or antinb.load(guidance_model, device=device)
    labels = torch.arange(2 * guidance_pairs) // 2 % gmodel.num_classes  # same class within a pair
    for w in guidance_scales:
        sets = {p: pairs.pair_samples(gmodel, guidance_pairs, p, steps=ddim_steps, seed=seed, labels=labels,
                                            guidance_scale=w, max_batch_size=max_batch_size, progress=False)
                for p in ("PN", "RR")}
        c = findings.correlation.correlations(sets)
        for p in sets:
            sweep.append({"guidance": w, "pairs": p, "centered": c[p]["centered"].mean().item(),
                          "standard": c[p]["standard"].mean().item()})
        antinb.record(f"guidance_corr_centered/pn/w={w:g}", c["PN"]["centered"].mean())
        antinb.record(f"guidance_corr_centered/rr/w={w:g}", c["RR"]["centered"].mean())
sweep = pd.DataFrame(sweep)
if len(sweep):
    ax = sns.lineplot(data=sweep, x="guidance", y="centered", hue="pairs", marker="o")
    ax.set(xscale="log", xlabel="guidance scale w", ylabel="mean centered correlation",
           title=f"{guidance_model}, DDIM-{ddim_steps}, {guidance_pairs} pairs per point")
sweep

# %% [markdown]
# ## Result

# %%
summary = table.pivot_table(index=["model", "sampler"], columns="pairs", values="centered", aggfunc="first")
print(f"Centered correlation, mean ± sd over {n_pairs} pairs per cell:")
print(summary.to_string())
pn_ddim = [corr[name, "DDIM"]["PN"]["centered"].mean().item() for name in loaded]
rr_ddim = [corr[name, "DDIM"]["RR"]["centered"].mean().item() for name in loaded]
print(f"\nDDIM: PN centered correlation {min(pn_ddim):+.2f} to {max(pn_ddim):+.2f} across models; "
      f"RR {min(rr_ddim):+.2f} to {max(rr_ddim):+.2f}.")
