# %% [markdown]
# # How much shorter are the confidence intervals of antithetic and quasi-Monte Carlo noise?
#
# **The paper's claim (§6 and the blog's Table 2).** To estimate $\mu = \mathbb{E}[S(\mathrm{DM}(Z))]$ for
# a scalar statistic $S$ of the generated image, antithetic pairs (AMC, the pair mean is the unit)
# and randomized quasi-Monte Carlo noise (RQMC) give much shorter confidence intervals than plain
# Monte Carlo (MC) at the same number of generated images. Table 2 reports relative efficiencies
# $(L_\mathrm{MC} / L)^2$, where $L$ is the length of the 95 % interval, from about 3 to 136: for
# brightness 32.7 (AMC, CIFAR-10) and 18.8 (AMC, Stable Diffusion).
#
# **Why it should hold.** $\operatorname{Var}(\text{AMC}) = \operatorname{Var}(\text{MC})\,(1 + \rho)$ with
# $\rho = \operatorname{corr}(S(\mathrm{DM}(z)), S(\mathrm{DM}(-z)))$, so the AMC efficiency is about
# $1/(1+\rho)$: large for a statistic nearly odd in the noise ($\rho$ near $-1$), none for one even
# in the noise ($\rho = 1$). As a control we add $S(x) = \lVert x - \bar x \rVert^2 / D$, the mean squared
# distance to the model's mean image $\bar x$: even in the image, and so even in the noise as far as
# the model is odd about its mean.
#
# **The question.** On our three small models, how large are these efficiencies, with 95 %
# intervals, and do the intervals of every design cover at their nominal level?
#
# **Design.** For every model and design (MC; AMC; K-AMC with simplex groups of $K$ = 4 and 8, the
# group mean as unit; RQMC with $R$ scrambled Sobol' replicates, the replicate mean as unit) we
# generate the same number of images with DDIM and evaluate all statistics on the same images
# (one `antinb.estimate` call with every statistic): brightness (mean luminance), pixel mean,
# contrast (sd of luminance), the horizontal centroid (the column of the image's centre of mass)
# and the centroid distance (the centre of mass's distance from the image centre), plus the even
# control above, the squared distance. Intensities are on the $[0, 1]$ scale and centroids in
# pixels, while the paper's CI lengths are on its own scale and sample size; we therefore compare
# efficiencies, which are scale-free, never lengths.

# %% tags=["parameters"]
models = ["fashion-mnist-cond", "mnist", "photo-patches"]
statistics = ["brightness", "pixel_mean", "contrast", "centroid_x", "centroid_distance"]
n_images = 256           # generated images per design and model (equal budget)
budgets = [32, 64, 128, 256]  # budgets of the efficiency curve (prefixes of the runs above)
ddim_steps = 20
kamc_groups = [4, 8]     # K of the K-antithetic (simplex) designs
rqmc_replicates = 16     # R of the headline RQMC runs (n_images / R points each, a power of two)
coverage_model = "mnist"  # model of the coverage check ("" to skip)
coverage_n = 16          # images per repetition
coverage_reps = 40       # repetitions per design
coverage_steps = 8
coverage_replicates = 4  # RQMC replicates per repetition
resampled_reps = 2000    # repetitions per cell of the resampled coverage check (0: skip)
level = 0.95
interval_reps = 2000     # repetitions per cell of the closed-form interval study
cv_frequencies = 1       # control variates per noise channel for AMC + CV (0: skip)
prompts = ""  # text-to-image models: prompt file, shipped set or list ("": none)
prompt_guidance = 7.5  # guidance scale of prompted text-to-image models
device = "auto"
seed = 0
max_batch_size = 512
store_dir = ""           # folder of a resumable sample store (empty: no store, generate in memory)
processes = 1            # generation workers started with accelerate (results do not depend on it)

# %% tags=["remove-input"]
import matplotlib.pyplot as plt
import seaborn as sns
from IPython.display import Markdown, display

from antinb.findings import uncertainty

sns.set_theme(style="whitegrid", context="paper", font_scale=1.1)

# %% [markdown]
# ## The measurements
# One call runs every design on every model, and the coverage check below; it records every
# number of this chapter once, under the record names the results page reads.

# %%
measured = uncertainty.measure(uncertainty.Params(
    models, statistics=statistics, n_images=n_images, budgets=budgets,
    steps=ddim_steps, kamc_groups=kamc_groups,
    rqmc_replicates=rqmc_replicates, coverage_model=coverage_model,
    coverage_n=coverage_n, coverage_reps=coverage_reps,
    coverage_steps=coverage_steps, coverage_replicates=coverage_replicates,
    level=level, device=device, seed=seed, max_batch_size=max_batch_size,
    store=store_dir or None, processes=processes, prompts=prompts,
    prompt_guidance=prompt_guidance, cv_frequencies=cv_frequencies,
    resampled_reps=resampled_reps, interval_reps=interval_reps))
result = uncertainty.present(measured)
result.record();

# %% [markdown]
# ## Does each model reproduce the data's spread of these statistics?
# A shorter interval for $\mathbb{E}[S(\mathrm{DM}(Z))]$ is only worth having if the model's samples
# vary like the data. The model cards measured it (256 DDIM-50 samples against the real test split):
# the ratio of the generated to the real standard deviation of each statistic. A model well below 1
# generates near-identical values, and its efficiencies then describe its sampler, not the data; a
# model with a ratio below one half for some statistic is marked "spread off".

# %% tags=["hide-input"]
result.spread_table()

# %% tags=["remove-input"]
display(Markdown(result.spread_statement()))

# %% [markdown]
#
# ## Efficiency at equal budget: our Table 2
# Each cell is the efficiency against MC, $(L_\mathrm{MC} / L)^2$, with its 95 % interval in
# brackets (two significant figures: what the interval supports). The interval is exact for normal units: the efficiency is a known constant times the
# ratio of two independent sample variances (MC's values and the design's units), which follows an
# $F$ distribution. The first row of each statistic gives $\rho$, the within-pair correlation of the
# AMC values, and in parentheses the AMC efficiency $1/(1+\rho)$ it predicts. The figure below shows
# the same numbers.

# %% tags=["remove-input"]
display(Markdown(result.repeats_statement()))

# %% tags=["hide-input"]
result.table()

# %% tags=["hide-input"]
result.figure()
plt.show()

# %% [markdown]
# AMC's efficiency follows the $1/(1+\rho)$ of each statistic's first row, as the variance
# identity says, within intervals that are wide at these sample sizes. The gain is largest where
# $\rho$ is closest to $-1$, and an efficiency below 1 (AMC worse than MC) goes with $\rho > 0$:
# the even control is built to show it, and a colour model's contrast and centroid need not be
# odd in the noise either. The centroids, ratios of image sums and so odd in the noise only to
# first order, gain less than brightness.
#
# ## Our efficiencies beside the paper's
# The paper's Table 2 gives the AMC and QMC efficiencies of four models; its "centroid" stands
# beside our centroid distance, and our RQMC beside its QMC. Only efficiencies are compared;
# † marks a model the book flags (its samples are far from its data, chapter 7).

# %% tags=["hide-input"]
result.versus_paper()

# %% [markdown]
# The efficiency is governed by how odd the statistic is in the noise, a property of the model,
# and ours are small and briefly trained ({ref}`limits`); the verdict at the end judges every
# setting against the paper by the book's rules.
#
# ## Efficiency against the sample budget
# The first $n$ images of each run are themselves a run of size $n$ (for RQMC, the first $n/R$
# points of every replicate, itself a scrambled net), so one run gives a curve of efficiencies.
# Neighbouring points share images and are correlated; the error bars are the F-intervals of each
# point alone.

# %% tags=["hide-input"]
result.budget_figure("brightness")
plt.show()

# %% [markdown]
# For AMC and K-AMC the expected efficiency does not depend on the budget ($1/(1+\rho)$ has no $n$
# in it), so their curves should be flat up to noise. RQMC's may rise with the number of points
# per replicate, since a scrambled net's error can fall faster than $1/\sqrt{m}$ for a smooth
# integrand; in the hundreds of dimensions of an image's noise little of that is guaranteed.

# %% tags=["remove-input"]
display(Markdown(result.budget_summary("brightness")))

# %% [markdown]
# A single efficiency at a small budget is uncertain by a large factor either way, which is why
# every number here carries its interval.
#
# ## Do the intervals cover at their nominal level?
# An interval that is short but misses $\mu$ too often would be no gain. We repeat every design
# many times with a few images each, on one model and a shorter sampler (one large draw cut into
# disjoint blocks: the groups of a design are independent; the figure's title gives the numbers).
# The reference value of each statistic is the pooled mean of all images of this check; every
# design is unbiased for the same $\mu$. The grey band is the central 95 % range of the coverage
# of that many exact 95 % intervals.

# %% tags=["hide-input"]
result.coverage_table()

# %% tags=["hide-input"]
result.coverage_figure()
plt.show()

# %% [markdown]
# A design whose points fall below the band would have intervals that are short because they
# are wrong; points above it are conservative.

# %% tags=["remove-input"]
display(Markdown(result.coverage_summary()))

# %% [markdown]
# Fresh repetitions are expensive (each costs new images for every design), so the check above
# has few. A second check costs no image: each design's units in the main run (the image values
# for MC, the pair means for AMC, the group means for K-AMC, the replicate means for RQMC) are
# treated as the population, a few units are drawn from it with replacement thousands of times,
# and an interval covers when it contains the population's mean. This keeps each model's own unit
# distributions, skewness included, on every model and statistic; it cannot see tails beyond the
# values of the main run, and RQMC's few replicates make a coarse population. Each cell is the
# median over every model and statistic (one that repeats another counted once), with the lowest
# and highest in brackets.

# %% tags=["hide-input"]
result.resampled_table()

# %% tags=["remove-input"]
display(Markdown(result.resampled_statement()))

# %% [markdown]
# ## A design that beats AMC?
# Beyond the paper: what AMC leaves is the variance of the pair means, the even part of the
# statistic. An even function of the noise whose mean is known exactly can absorb part of it as a
# control variate, on the same images and at no cost in sampling. We use the square of each noise
# channel's mean (its lowest DCT coefficient, a $\chi^2_1$ variable minus one), fitted to the pair
# means by least squares ({doc}`../methods`). The table gives its efficiency against MC (95 %
# F-interval; AMC's own is in the table above), the share $R^2$ of the pair means' variance the
# control explains, and the gain over AMC alone, $(L_\mathrm{AMC} / L_\mathrm{CV})^2$, with its 95 %
# interval. Both lengths come from the same pair means, so that interval inverts the noncentral $F$
# distribution of the regression's $F$ statistic (exact for normal residuals, given the controls);
# `*` marks a gain whose interval lies above 1, the book's rule for a gain. The coverage check
# above includes its intervals.

# %% tags=["hide-input"]
result.cv_table()

# %% tags=["remove-input"]
display(Markdown(result.cv_statement()))

# %% [markdown]
# ## Intervals with few units
# The check above has too few repetitions and units to see how the intervals behave with *very*
# few units, where a user with an expensive model would like to stop. An AMC unit is a pair mean,
# the even part of the statistic; for a statistic dominated by its odd part that even part is
# small but skewed, and the t-interval on skewed units is too short on the side of the long tail.
# The estimators' intervals in this chapter (and those of `antinb.estimate`) are therefore the
# *skew-t* interval: the t-interval extended towards the long tail as far as Hall's (1992)
# skewness correction reaches ({doc}`../methods`). Here both are tested on statistics of the
# noise whose mean is known exactly, $S = \sum_i z_i/\sqrt{8}$ from the designs' own noise, with
# 8 to 256 units (the pair mean of $S + S^2/10$ is $S^2/10$, so its AMC rows repeat the even
# target's). Dashed: t; solid: skew-t; grey: the range of an exact interval's coverage.

# %%
study = result.intervals

# %% tags=["hide-input"]
study.figure()
plt.show()

# %% tags=["remove-input"]
display(Markdown(study.statement()))

# %% [markdown]
# ## Verdict

# %% tags=["remove-input"]
display(Markdown(result.verdict()))

# %% [markdown]
# **Limits.** Our models are small and briefly trained on 28 × 28 grayscale digits and clothes and
# on 32 × 32 patches from a few photographs ({ref}`limits`); the efficiencies measure how odd their
# samples are in the noise, and say nothing directly about larger models. The
# F-intervals assume normal units and are too narrow for heavy-tailed statistics. The fresh coverage
# check runs on one model with a short sampler and few repetitions, so it can detect only a gross
# failure of the nominal level; the resampled check has thousands of repetitions on every model
# but knows each model's outputs only through the values of the main run.
