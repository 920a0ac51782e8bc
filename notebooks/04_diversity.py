# %% [markdown]
# # Are antithetic pairs more diverse, and at what cost in quality?
#
# **The paper's claim (§5; the blog's Table 1).** The two members of a PN pair, $\mathrm{DM}(z)$
# and $\mathrm{DM}(-z)$, differ more than two independent samples (RR pairs): lower SSIM and higher
# LPIPS between the members. The improvement of PN over RR is reported in percent,
# $(\mathrm{SSIM}_{RR} - \mathrm{SSIM}_{PN}) / \mathrm{SSIM}_{RR}$ and
# $(\mathrm{LPIPS}_{PN} - \mathrm{LPIPS}_{RR}) / \mathrm{LPIPS}_{RR}$: SSIM +86.1 % (CIFAR-10) down
# to +19.0 % (Stable Diffusion, Pick-a-Pic prompts), LPIPS +4.2 % to +18.1 %. Each member of a PN
# pair is an exact model sample, so the paper argues that quality cannot change.
#
# **The questions.** Are PN pairs of our models more diverse than RR pairs, by how much, and how
# precisely do our sample sizes say so? Does a PN set look like an RR set to a quality metric?
#
# **Setup.** PN and RR pairs under DDIM ($\eta = 0$) for every model (the class-conditional model on
# its null class), then per class for the class-conditional model with classifier-free guidance
# (both members of a pair get the same label, like a shared prompt). SSIM is scikit-image's (7×7
# window, on $[0, 1]$). The perceptual distance is the one `antinb.metrics.perceptual_distance` can
# run offline: the original LPIPS needs torchvision's ImageNet AlexNet weights, so where they are
# absent the shift-tolerant **ST-LPIPS** (Ghildyal & Liu, 2022) runs instead; its values are not
# LPIPS values, and every table names the metric that ran. Intervals are 95 % bootstrap intervals
# over pairs.

# %% tags=["parameters"]
models = ["fashion-mnist-cond", "mnist", "photo-patches"]  # embedded names, local folders or hub ids
n_pairs = 128           # PN pairs and RR pairs per model (unconditional, DDIM)
ddim_steps = 25
class_model = "fashion-mnist-cond"  # class-conditional model for the per-class comparison ("" to skip)
class_pairs = 12        # PN and RR pairs per class
guidance_scale = 3.0    # classifier-free guidance scale of the per-class pairs (see the note below)
perceptual_backend = "auto"  # "auto" (LPIPS if its AlexNet weights are cached, else ST-LPIPS), "lpips", "stlpips"
show_pairs = 8          # pairs shown in each example grid
prompts = ""  # text-to-image models: prompt file, shipped set or list ("": none)
prompt_guidance = 7.5  # guidance scale of prompted text-to-image models
device = "auto"
seed = 0
max_batch_size = 512

# %% tags=["remove-input"]
import matplotlib.pyplot as plt
from IPython.display import Markdown

from antinb.findings import diversity as finding

# %% [markdown]
# ## Sampling and measuring
# One call draws the PN and RR pairs of every model and the guided pairs per class, measures each
# pair, and runs the quality check below.

# %%
measured = finding.measure(finding.Params(
    models, n_pairs=n_pairs, steps=ddim_steps,
    class_model=class_model or None, class_pairs=class_pairs,
    guidance_scale=guidance_scale, perceptual_backend=perceptual_backend,
    seed=seed, device=device, max_batch_size=max_batch_size,
    prompts=prompts, prompt_guidance=prompt_guidance))
result = finding.present(measured)
result.record();

# %% [markdown]
# ## PN vs RR pairs, unconditional DDIM
# For each model and metric: the mean over RR pairs and over PN pairs, how much more diverse the
# PN pairs are in the metric's own units (RR − PN for SSIM, PN − RR for the perceptual distance)
# and the paper's per-cent, each with its 95 % interval.

# %% tags=["hide-input"]
result.table()

# %% [markdown]
# SSIM is a correlation of local structure and can be negative. The per-cent divides by the RR
# mean, so it is defined only where that baseline is clearly positive (its interval above 0; the
# table says "not defined" elsewhere), and when the members of PN pairs are locally
# anti-correlated, $\mathrm{SSIM}_{PN} < 0$, it exceeds 100 %, a size the paper's per-cents never
# reach. The difference of the means stays meaningful in both cases. The distributions over pairs
# (SSIM above, the perceptual distance below; one column per model):

# %% tags=["hide-input"]
result.distributions_figure()
plt.show()

# %% [markdown]
# Examples: each column is a pair (first member above, partner below). PN pairs start from $z$ and
# $-z$, RR pairs from two independent noises.

# %% tags=["hide-input"]
result.pair_examples(models[0], "PN", show_pairs)
result.pair_examples(models[0], "RR", show_pairs)
plt.show()

# %% [markdown]
# ## Per class, with classifier-free guidance
# Pair $i$ gets class $i \bmod 10$ for both members (PN and RR alike), at guidance scale $w$. The
# default $w = 3$ is moderate guidance; the model card of the embedded `fashion-mnist-cond`
# reports how often its classifier recognises the requested class at $w = 1$ and $w = 3$. This is
# the closest analogue here of the blog's text-to-image rows (DrawBench, Pick-a-Pic), where both
# members share a prompt. Each class rests on a few pairs only, so its numbers are noisy.

# %% tags=["hide-input"]
result.class_table()

# %% tags=["remove-input"]
Markdown(result.class_note())

# %% tags=["hide-input"]
result.guided_examples("PN")
plt.show()

# %% [markdown]
# ## Ours beside the blog's Table 1
# The paper's perceptual metric is LPIPS; ours is named in its own column. Our SSIM per-cent
# stands beside the paper's only where it is defined. The paper's models are much larger
# (CIFAR-10 32×32 DDPM, 256×256 LSUN-Church and CelebA-HQ, Stable Diffusion), and the blog states
# neither its sample sizes nor its SSIM settings.

# %% tags=["hide-input"]
result.versus_paper()

# %% tags=["hide-input"]
result.improvement_figure()
plt.show()

# %% [markdown]
# ## Does a PN set look like an RR set?
# Quality is the Fréchet distance (FD) between Gaussians fitted to the 128-d penultimate features
# of a small classifier trained on each data set (`antinb.quality`; samples and real images get the
# same preprocessing, the one the model cards use: samples are mapped from $[-1, 1]$ to $[0, 1]$ and
# clamped there). The FD is biased upwards at small $n$, so only distances at equal $n$ compare:
# PN vs RR beside two disjoint sets of real test images (the real floor). The real floor is not
# the floor for generated sets, whose features can spread much more; so we also ask whether PN vs
# RR is larger than what random splits of the pooled PN and RR pairs give (a permutation test that
# moves whole pairs; "splits, 95 %" is the 95 % quantile of those splits, "p" the share of splits
# at least as far apart). The distances have no intervals: the measurement keeps the distances and
# the splits' distances, not the features a bootstrap would need.

# %% tags=["remove-input"]
Markdown(result.sizes_note())

# %% tags=["hide-input"]
result.quality_table()

# %% [markdown]
# The same at half the set size, with a floor from generated samples only (two halves of the RR
# samples):

# %% tags=["hide-input"]
result.halves_table()

# %% tags=["hide-input"]
result.quality_figure()
plt.show()

# %% tags=["remove-input"]
Markdown(result.quality_note())

# %% [markdown]
# One row per comparison, one colour per model, on a log scale: the distances to real data are up
# to a hundred times the others, and differ between models by an order of magnitude (each model
# has its own classifier, so only distances within a colour compare). The band on the first row
# is the middle 95 % of the random splits: a PN-vs-RR dot inside it is what exchangeable sets give.
# A PN-vs-RR distance well above its floors in the halves is a warning, not yet a finding: the
# halves are a single split, and the permutation p-value says whether random splits of the same
# samples are as far apart. Each PN member is an exact model sample, so
# a PN set has the model's distribution member by member; but its members are dependent in pairs,
# and a 128-d FD from a few hundred samples is sensitive to such structure. A small p-value
# therefore says that the two sets differ in this feature space, not which one is of better
# quality: both are compared with real data in the last two columns of the first table.
#
# ## Verdict

# %% tags=["remove-input"]
Markdown(result.verdict())

# %% [markdown]
# **Limits.** Our models are small and briefly trained on 28×28 grayscale images (MNIST,
# Fashion-MNIST) and 32×32 RGB patches cut from a handful of photos (photo-patches, whose samples
# are far from real data and which the book flags †: see {doc}`../limits` and the model cards), the perceptual
# metric is ST-LPIPS unless LPIPS's weights are present, and the FD uses a small classifier's
# features instead of Inception's, so none of these numbers is on the paper's scale; only the sign
# and rough size of the improvements compare. The bootstrap intervals cover the sampling of pairs,
# not the training of the models.
