# %% [markdown]
# # Are antithetic pairs negatively correlated?
#
# **The paper's claim (§3).** Sampling a diffusion model from a noise $z$ and from its negation $-z$
# gives two images whose pixel-wise Pearson correlation is strongly negative (a *PN pair*), while
# two independent noises give a weakly correlated *RR pair*. The paper reports a mean centered
# correlation of PN pairs between $-0.41$ (LSUN-Church) and $-0.78$ (CelebA-HQ) under DDIM, and
# $-0.73$ (standard) and $-0.80$ (centered) for DDPM on CIFAR-10, provided the partner chain also
# negates the fresh noise $\xi_t$ injected at every ancestral step.
#
# **The question.** Do the pairs of our small models show the same sign and size, how precisely
# do a few hundred pairs pin the mean down, and does the DDPM partner chain really need $-\xi_t$?
#
# **What we measure.** For every model, under DDIM ($\eta = 0$, deterministic) and DDPM (ancestral,
# $\eta = 1$), we draw PN pairs and as many RR pairs (`n_pairs` of each under DDIM, `ddpm_pairs`
# under DDPM), and under DDPM also the control
# that negates only $z$ ("PN (z only)"). For each pair we compute the Pearson correlation of the two
# images over all pixels and channels, in two variants: *standard*, and *centered*, where the
# model's mean image (estimated from all samples of that model and sampler) is subtracted from
# both images first. RR pairs share the mean image, so their standard correlation is positive and
# their centered one about zero. Each mean over pairs comes with a 95 % t-interval. The
# class-conditional model samples its null class here, i.e. unconditionally.

# %% tags=["parameters"]
models = ["fashion-mnist-cond", "mnist", "photo-patches"]  # embedded names, local folders or hub ids
n_pairs = 64            # DDIM pairs per design and model
ddpm_pairs = 64         # DDPM pairs per design and model
ddim_steps = 50
ddpm_steps = 50
guidance_model = "fashion-mnist-cond"  # class-conditional model for the guidance sweep ("" to skip)
guidance_scales = [1.0, 2.0, 4.0, 8.0]
guidance_pairs = 32
ablation_pairs = 64
prompts = ""  # text-to-image models: prompt file, shipped set or list ("": none)
prompt_guidance = 7.5  # guidance scale of prompted text-to-image models
device = "auto"
seed = 0
max_batch_size = 512

# %% tags=["remove-input"]
import matplotlib.pyplot as plt
from IPython.display import Markdown

from antinb.findings import correlation as finding

# %% [markdown]
# ## Sampling the pairs
# One call draws every pair set of every model and sampler, computes the per-pair correlations,
# and runs the two ablations further down (negating half of $z$, and the guidance sweep).

# %%
measured = finding.measure(finding.Params(
    models, n_pairs=n_pairs, ddpm_pairs=ddpm_pairs,
    ddim_steps=ddim_steps, ddpm_steps=ddpm_steps,
    seed=seed, device=device, max_batch_size=max_batch_size,
    ablation_pairs=ablation_pairs, guidance_model=guidance_model,
    guidance_scales=guidance_scales, guidance_pairs=guidance_pairs,
    prompts=prompts, prompt_guidance=prompt_guidance))
result = finding.present(measured)
result.record();

# %% [markdown]
# ## PN against RR pairs
# The mean centered correlation of each pair design, ± the half-width of its 95 % t-interval over
# pairs:

# %% tags=["hide-input"]
result.table("centered")

# %% [markdown]
# PN pairs are clearly negatively correlated for every model and both samplers, RR pairs are
# near zero. Negating only $z$ under DDPM ("PN (z only)") loses most of the effect: the ancestral
# noise injected at each step is independent in the two chains and washes the mirror image out.
# The standard variant, without the mean image subtracted, tells a different story for the digit
# and clothing models:

# %% tags=["hide-input"]
result.table("standard")

# %% [markdown]
# Their PN pairs correlate weakly *positively* in the standard sense, because both members carry
# the same mean image (a dark background around a bright centre) and that shared part is not
# mirrored. `photo-patches`, whose mean image is flatter, stays strongly negative in both
# variants. The histograms show the whole distribution over pairs (dashed lines: the means):

# %% tags=["hide-input"]
result.histograms("centered")
plt.show()

# %% [markdown]
# The PN histograms are narrow and well separated from the RR ones; the RR correlations spread
# widely around zero. Some PN pairs of `photo-patches` reach almost $-1$.
#
# What the pairs look like under DDIM: each column is a pair, $z$ above and $-z$ below.

# %% tags=["hide-input"]
result.pairs_figure("ddim")
plt.show()

# %% [markdown]
# Where one member is bright the other is often dark, and strokes of one image tend to fill the gaps of
# the other, while both remain plausible samples of the model.
#
# ## Beside the paper
# The paper's numbers are for its own, much larger models; ours are for small 28x28 and 32x32
# models, so only the sign and the rough size are comparable. Each cell gives our mean with its
# 95 % interval for the sampler and variant for which the paper reports a number.

# %% tags=["hide-input"]
result.versus_paper()

# %% [markdown]
# ## Ablation 1: negate only the top half of $z$
# Beyond the paper: partners share the bottom half of the noise and negate only the top half
# (DDIM). Every partner is still an exact sample of the model. The per-pixel correlation across
# pairs shows where in the image the negation acts; the table gives its mean over each half with a
# 95 % jackknife interval over pairs.

# %% tags=["hide-input"]
result.half_negation_figure()
plt.show()

# %% tags=["hide-input"]
result.half_negation_table()

# %% [markdown]
# The negated half is anti-correlated and the shared half positively correlated, with a soft
# border: the network mixes information across the image, so the negation leaks a little into
# the shared half and vice versa. The effect of the noise stays largely local.
#
# ## Ablation 2: classifier-free guidance
# PN pairs of the class-conditional model, both members conditioned on the same class (classes
# cycle over the pairs), for several guidance scales, beside RR pairs of the same classes. Centred
# on the mean image of *all* classes, even independent same-class pairs correlate positively, the
# more so as guidance makes the samples of a class alike. Centred on the mean image of the pair's
# own class instead (each member on a disjoint half of the other images of that class, so the
# centres' noise is not shared), independent pairs should sit near zero and the sign of the PN
# curve answers the question. The paper's Stable Diffusion pairs share a prompt in the same way.
# Error bars are 95 % t-intervals over pairs.

# %% tags=["hide-input"]
result.guidance_figure()
plt.show()

# %% tags=["remove-input"]
Markdown(result.guidance_statement())

# %% [markdown]
# Guidance pulls both members of a pair towards the class's typical image, which they then share:
# centred on all classes, the PN curve rises with the guidance scale while staying below the RR
# curve. Centred on their class, the shared class image is removed and what remains is the
# pair's own variation around it.
#
# ## Verdict

# %% tags=["remove-input"]
Markdown(result.verdict())

# %% [markdown]
# **Limits of our models.** The three models are small and undertrained ({doc}`../limits`), and
# two of them have a strongly structured mean image (digits and clothing on a black background),
# which is why the standard and the centered correlations differ so much here. `photo-patches` is
# cut from a handful of photos, so its samples vary less than a real data set's and its pairs are
# unusually close to mirror images. The paper's larger models and the non-diffusion models it also
# reports (consistency models, a VAE, Glow) are not run here.
