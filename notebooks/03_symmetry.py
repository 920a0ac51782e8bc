# %% [markdown]
# # 3. The symmetry conjecture: the noise predictor is affine antisymmetric
#
# **Conjecture (paper, §4; science.md §4).** At every timestep the learned noise predictor
# satisfies `eps(x, t) + eps(-x, t) ≈ 2 c_t` for a constant vector `c_t`. A DDIM step is linear in
# `(x_t, eps)`, so such an `eps` keeps every PN pair mirrored about a centre at every step — the
# mechanism behind findings 1 and 2.
#
# Two tests: (i) 1-D slices `s -> eps(s x, t)[i]` for `s` in `[-1, 1]` (the paper's Figure 4), with
# the antisymmetry score AS (1 for affine antisymmetric, 0 for even) over many random `x` and
# coordinates `i`, compared with the paper's mean > 0.99 and 10 % quantile > 0.97; (ii) the relative
# size of `eps(x) + eps(-x) - 2 c_t` against `eps(x)` by timestep. Inputs are `x ~ N(0, I)`, the
# scale of `x_t`; class-conditional models are evaluated on the null class.

# %% tags=["parameters"]
models = ["fashion-mnist-cond", "mnist", "photo-patches"]
n_timesteps = 6        # timesteps spread over the DDIM-50 schedule, from T down
n_x = 20               # random x per timestep
n_coords = 10          # random coordinates per x: n_x * n_coords slices per timestep
n_s = 21               # grid points of s in [-1, 1] (odd)
n_residual = 64        # draws of x for the direct residual test
device = "auto"
seed = 0
max_batch_size = 512

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

import antinb
from antinb import findings

sns.set_theme(style="whitegrid", context="notebook")
loaded = {name: antinb.load(name, device=device) for name in models}

# %%
slices, resid, rows = {}, {}, []
for name, model in loaded.items():
    ts = findings.symmetry.default_timesteps(model, n_timesteps)
    slices[name] = findings.symmetry.eps_slices(model, ts, n_x=n_x, n_coords=n_coords, n_s=n_s, seed=seed,
                                          max_batch_size=max_batch_size)
    resid[name] = findings.symmetry.symmetry_residual(model, ts, n=n_residual, seed=seed, max_batch_size=max_batch_size)
    for i, t in enumerate(ts):
        sc = slices[name]["scores"][i]
        rows.append({"model": name, "t": t, "slices": len(sc), "AS mean": sc.mean(), "AS 10% quantile": np.quantile(sc, 0.1),
                     "AS min": sc.min(), "residual/|eps|": resid[name]["residual"][i].mean(),
                     "|2c_t|/|eps|": resid[name]["centre"][i].mean()})
    all_scores = slices[name]["scores"].ravel()
    antinb.record(f"as_mean/{name}", all_scores.mean())
    antinb.record(f"as_q10/{name}", np.quantile(all_scores, 0.1))
    antinb.record(f"as_min/{name}", all_scores.min())
    antinb.record(f"as_n/{name}", all_scores.size)
    antinb.record(f"as_mean_by_t/{name}", dict(zip(map(str, ts), slices[name]["scores"].mean(1))))
    antinb.record(f"residual_mean/{name}", resid[name]["residual"].mean())
    antinb.record(f"residual_by_t/{name}", dict(zip(map(str, ts), resid[name]["residual"].mean(1))))
table = pd.DataFrame(rows).round(4)
table

# %% [markdown]
# ## Slices like the paper's Figure 4
# Six slices per timestep (different `x` and coordinates), each shifted by its value at `s = 0`
# so that the point symmetry about the origin is visible.

# %%
for name, sl in slices.items():
    ts = sl["timesteps"]
    fig, axes = plt.subplots(1, len(ts), figsize=(2.4 * len(ts), 2.4), sharey=False, squeeze=False)
    mid = len(sl["s"]) // 2
    for ax, t, vals, sc in zip(axes[0], ts, sl["values"], sl["scores"]):
        for k in range(0, min(len(vals), 6 * n_coords), n_coords):
            ax.plot(sl["s"], vals[k] - vals[k, mid], lw=1)
        ax.set_title(f"t={t}\nAS mean {sc.mean():.3f}", fontsize=9)
        ax.axhline(0, color="gray", lw=0.5)
        ax.axvline(0, color="gray", lw=0.5)
        ax.set_xlabel("s")
    axes[0, 0].set_ylabel("eps(s x, t)[i] - eps(0, t)[i]")
    fig.suptitle(name)
    fig.tight_layout()

# %% [markdown]
# ## Distribution of the antisymmetry score by timestep

# %%
long = pd.concat([pd.DataFrame({"model": name, "t": np.repeat(sl["timesteps"], sl["scores"].shape[1]),
                                "AS": sl["scores"].ravel()}) for name, sl in slices.items()])
g = sns.catplot(data=long, x="t", y="AS", col="model", kind="box", height=2.8, aspect=1.2, fliersize=1,
                order=sorted(long["t"].unique(), reverse=True))
for ax in g.axes.flat:
    ax.axhline(0.97, color="C3", ls="--", lw=1)
g.set_axis_labels("timestep t (T first)", "antisymmetry score")
g.figure.suptitle("dashed: the paper's 10% quantile (0.97)", y=1.03)

# %%
fig, ax = plt.subplots(figsize=(5, 3))
for name, r in resid.items():
    ax.plot(r["timesteps"], r["residual"].mean(1), marker="o", label=name)
ax.set(xlabel="timestep t", ylabel="|eps(x)+eps(-x)-2c_t| / |eps(x)|", title="direct residual of the conjecture")
ax.invert_xaxis()
ax.legend(fontsize=8)

# %% [markdown]
# ## Result

# %%
overall = long.groupby("model")["AS"].describe(percentiles=[0.1])[["mean", "10%", "min", "count"]]
overall.columns = ["AS mean", "AS 10% quantile", "AS min", "slices"]
print(overall.round(4).to_string())
print("\nPaper (CIFAR-10, LSUN-Church): AS mean > 0.99, 10% quantile > 0.97.")
print("Relative residual |eps(x)+eps(-x)-2c_t|/|eps(x)| by model (mean over timesteps): "
      + ", ".join(f"{n} {r['residual'].mean():.3f}" for n, r in resid.items()))
