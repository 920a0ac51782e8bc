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
# ## Measuring
# One call draws every pair set of every model and sampler, computes the per-pair correlations, and
# runs the two ablations further down (negating half of $z$, and the guidance sweep) and the 2-D
# example of the next section. Everything below is drawn from what it returns.

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
# ## Intuition: mirror images in two dimensions
# A DDIM step is linear in the state $x_t$ and the noise prediction $\epsilon(x_t, t)$. When
# $\epsilon$ is affine in $x_t$, as the exact noise predictor of Gaussian data is, the whole sampler
# maps $z$ to $Az + c$: the outputs of $z$ and $-z$ are mirror images about $c$, a correlation of
# exactly $-1$. Data with several modes have a noise predictor that is not affine, and the two
# members of a pair can land in modes that do not face each other. Below, deterministic DDIM with
# the *exact* noise predictor of two 2-D distributions with the same mean and covariance, started
# from the same six noises $z$ and their negations.

# %% tags=["hide-input"]
result.intuition_figure()
plt.show()

# %% tags=["remove-input"]
Markdown(result.intuition_statement())

# %% [markdown]
# A trained image model lies between the two panels: close to antisymmetric in $x_t$ while the
# noise dominates (chapter 3 measures how close), multimodal data at the end. The rest of the
# chapter measures where our models land.
#
# **With your own pipeline.** Three lines turn a diffusers pipeline with a deterministic scheduler
# into an antithetic sampler; images $2i$ and $2i + 1$ of the batch are a PN pair:
#
# ```python
# from antinb import interop, noise
# z = interop.pipeline_latents(  # the pipeline's dtype, device, packing
#     pipe, noise.antithetic(8, interop.latent_shape(pipe), seed=0))
# interop.check_mirrorable(pipe.scheduler)  # refuses ancestral/SDE schedulers
# images = pipe(prompt=["a red bicycle"] * 8, latents=z).images
# ```
#
# An ancestral scheduler draws its own noise at every step, which a pipeline gives no way to
# mirror; `antinb.ddpm` on `antinb.load(folder)` samples those with $-\xi_t$ in the partner chain.

# %% [markdown]
# ## What we measure
# For every model, under DDIM ($\eta = 0$, deterministic) and DDPM (ancestral, $\eta = 1$), we draw
# PN pairs and as many RR pairs, and under DDPM also the control that negates only $z$
# ("PN, z only"). For each pair we compute the Pearson correlation of the two images over all
# pixels and channels, in two variants: *standard*, and *centered*, where the model's mean image
# (estimated from all samples of that model and sampler) is subtracted from both images first. RR
# pairs share the mean image, so their standard correlation is positive and their centered one
# about zero. Each mean over pairs comes with a 95 % t-interval. The class-conditional model
# samples its null class here, i.e. unconditionally.
#
# ## PN against RR pairs
# The mean centered correlation of each pair design, ± the half-width of its 95 % t-interval over
# pairs († marks the model the book flags, {doc}`../limits`):

# %% tags=["hide-input"]
result.table("centered")

# %% [markdown]
# PN pairs are negatively correlated for every model and both samplers, RR pairs near zero.
# Negating only $z$ under DDPM ("PN, z only") weakens the effect: the ancestral noise injected at
# each step is then independent in the two chains and blurs the mirror image. The standard
# variant, without the mean image subtracted, tells a different story for the digit and clothing
# models:

# %% tags=["hide-input"]
result.table("standard")

# %% [markdown]
# Their PN pairs correlate near zero or weakly *positively* in the standard sense, because both
# members carry the same mean image (a dark background around a bright centre) and that shared
# part is not mirrored. `photo-patches`, whose mean image is flatter, stays strongly negative in
# both variants. The histograms show the whole distribution over pairs (dashed lines: the means):

# %% tags=["hide-input"]
result.histograms("centered")
plt.show()

# %% [markdown]
# The PN histograms are narrow and well separated from the RR ones; the RR correlations spread
# widely around zero.
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
# models, so only the sign and the rough size are comparable. Each column is a sampler and variant
# for which the paper reports a number: the paper's first, then ours per model.

# %% tags=["hide-input"]
result.versus_paper()

# %% tags=["remove-input"]
Markdown(result.paper_note())

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

# %% tags=["remove-input"]
Markdown(result.half_negation_statement())

# %% [markdown]
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
# **Limits of our models.** The three models are small and undertrained ({doc}`../limits`); two of
# them have a strongly structured mean image (digits and clothing on black), which is why the
# standard and the centered correlations differ so much here. The non-diffusion models the paper
# also reports (consistency models, a VAE, Glow) are outside this package.
