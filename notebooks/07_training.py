# %% [markdown]
# # Does the antithetic structure survive training?
#
# **Beyond the paper.** The paper measures its PN correlations on trained models and never asks
# how training shapes them. Our own models are small and undertrained, and the book's strongest
# effects come from the one it flags (photo-patches, whose samples are further from its data than
# a Gaussian fitted to the same patches). That invites a suspicion: perhaps PN pairs mirror each
# other because a network that has learned little is nearly linear in its input. For data that
# are exactly Gaussian the best possible noise predictor *is* affine (its formula is on the
# {doc}`../methods` page), so DDIM maps $z$ and $-z$ to mirror images: centered PN correlation
# −1, antisymmetry score 1, symmetry residual 0. A trained network sits somewhere between that
# limit and whatever its data force on it.
#
# **The question.** As a network learns its data, does the antithetic structure weaken, hold or
# strengthen? And where does it sit relative to the Gaussian (affine) reference of the same data?
#
# **Setup.** Two of our shipped recipes (MNIST digits and the photo patches) were trained again
# from scratch with the same configuration and seed, saving the exponential-moving-average
# weights at several steps (`antinb train --snapshots`; step 0 is the random initialisation).
# The run's last state is the shipped model itself, stopped after a few thousand steps: still
# undertrained. At each state, and for the Gaussian reference (mean and covariance fitted to the
# training images, run through the same DDIM sampler), we draw the same number of PN and RR
# pairs of DDIM samples (the settings are in the verdict's first sentence) and measure the
# centered PN correlation (chapter 1), the antisymmetry score and the symmetry residual
# (chapter 3), the AMC efficiency of brightness and contrast over MC at equal image count
# (chapter 5, the RR images serving as the MC sample), and the Fréchet distance of the
# independent images to the test split in our classifier's features, beside its floor (real
# training images). Every state sees the same noise, so differences between states are the
# network's. Intervals are 95 %: t over pairs for correlations, bootstrap over inputs for the
# symmetry measures and over images for the Fréchet distance, and exact F-intervals for
# efficiencies.

# %% tags=["parameters"]
runs = ["mnist", "photo-patches"]   # shipped training runs (or training folders with snapshots/)
n_pairs = 48            # PN pairs and RR pairs per state
steps = 20              # DDIM steps
n_timesteps = 4         # timesteps probed for the symmetry measures
n_x = 10                # random inputs per timestep (slices: n_x * n_coords)
n_coords = 10
n_residual = 32         # draws for the symmetry residual per timestep
max_states = None       # keep this many snapshots per run (first and last always); None: all
device = "auto"
seed = 0
max_batch_size = 512

# %% tags=["remove-input"]
import matplotlib.pyplot as plt
from IPython.display import Markdown

from antinb.findings import progress as finding

# %% [markdown]
# ## Measuring
# One call loads every snapshot of each run, builds the run's Gaussian reference and measures
# them all with the same noise.

# %%
measured = finding.measure(finding.Params(
    runs, n_pairs=n_pairs, steps=steps, n_timesteps=n_timesteps,
    n_x=n_x, n_coords=n_coords, n_residual=n_residual,
    max_states=max_states, seed=seed, device=device,
    max_batch_size=max_batch_size))
result = finding.present(measured)
result.record();

# %% [markdown]
# ## Everything against training progress
# Each panel follows one measurement over training (log scale; step 0, the random
# initialisation, is drawn at the left edge). A dashed line in a run's colour is its Gaussian
# reference; in the last panel a dotted line is its floor, the distance between real images.
# † marks the run of the model the book flags.

# %% tags=["hide-input"]
result.figure()
plt.show()

# %% [markdown]
# A correlation near −1, a score near 1 and a residual near 0 are the affine limit; the
# efficiency panels show what that structure is worth for estimation; the last panel shows how
# far each state is from the data. The same numbers with their intervals, first the structure of
# the pairs and of the noise predictor:

# %% tags=["remove-input"]
Markdown(result.table_markdown("structure"))

# %% tags=["remove-input"]
Markdown(result.baseline())

# %% [markdown]
# then what it is worth for estimation, and how close each state is to the data. A state's
# Fréchet interval is a percentile bootstrap over its images, skewed upwards because resampling
# with replacement repeats images; the floor's is a t-interval over five disjoint sets of real
# training images:

# %% tags=["remove-input"]
Markdown(result.table_markdown("estimation"))

# %% [markdown]
# **Which floor?** The book shows three Fréchet floors for the photo patches, and they measure
# different things. The photo patches' training and test splits are different regions of the
# same seven photographs (the left three quarters and the right quarter), so even real training
# patches lie far from the test split, and a floor built from training images carries that gap:

# %% tags=["remove-input"]
Markdown(result.floors())

# %% [markdown]
# Chapter 4's floor for the photo patches (9.1, two sets of 512 *test* patches) compares the test
# split with itself, so it leaves the gap between the regions out. Each distance in this chapter
# is to be read against this chapter's floor, measured with as many images as a state's.
#
# ## What the pairs look like along the way
# The first PN pairs of every state of the MNIST run, with the same noise throughout ($z$ beside
# $-z$), and of its Gaussian reference.

# %% tags=["hide-input"]
result.pairs_figure(runs[0])
plt.show()

# %% [markdown]
# At initialisation the network has learned nothing and a sample is little more than its noise,
# clipped to the pixel range, so the partner is its negative. As training goes on, shapes
# appear and the model draws two different digits from $z$ and $-z$. The Gaussian reference draws
# blurred, digit-like blobs, mirrored about the mean digit.
#
# ## Verdict

# %% tags=["remove-input"]
Markdown(result.verdict())
