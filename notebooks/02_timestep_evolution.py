# %% [markdown]
# # How does a pair's correlation evolve along the sampling trajectory?
#
# **The paper's claim (§4).** For a PN pair, the intermediate states $x_t(z)$ and $x_t(-z)$, and
# the network's noise predictions $\epsilon_\theta(x_t(z), t)$ and $\epsilon_\theta(x_t(-z), t)$,
# start at correlation $-1$ at $t = T$, stay strongly negative, and rise only in the last steps of
# sampling. This is the mechanism behind chapter 1: if the network maps mirrored inputs
# to (nearly) mirrored outputs, a sampler step, which is linear in $x_t$ and $\epsilon_\theta$, keeps
# the pair mirrored.
#
# **The question.** Does the correlation of our models' pairs stay strongly negative along the
# whole trajectory, and where does it rise?
#
# **What we measure.** At every step of DDIM and of DDPM (with the per-step noise negated in the
# partner chain) we record, for a set of PN pairs of every model, the pixel-wise correlation of
# the two states $x_t$ (standard, and centered about the mean state of all chains at that step)
# and of the two noise predictions. At step 0 ($t = T$) the states are $z$ and $-z$: their
# correlation is exactly $-1$. We call a correlation *strongly negative* below $-0.5$ and count
# the steps until the mean over pairs last lies below that level, with a 95 % bootstrap interval
# over pairs. The paper gives no number for "the last steps"; we read its claim as *below $-0.5$
# for at least 90 % of the steps* and judge each setting by the book's rules ({doc}`../methods`).

# %% tags=["parameters"]
models = ["fashion-mnist-cond", "mnist", "photo-patches"]
n_pairs = 64
ddim_steps = 50
ddpm_steps = 50
prompts = ""  # text-to-image models: prompt file, shipped set or list ("": none)
prompt_guidance = 7.5  # guidance scale of prompted text-to-image models
device = "auto"
seed = 0
max_batch_size = 512

# %% tags=["remove-input"]
import matplotlib.pyplot as plt
from IPython.display import Markdown

from antinb.findings import trajectory as finding

# %% [markdown]
# ## Recording the trajectories
# One call runs the PN pairs of every model under both samplers and records the correlations at
# every step through the sampler's callback.

# %%
measured = finding.measure(finding.Params(
    models, n_pairs=n_pairs, ddim_steps=ddim_steps, ddpm_steps=ddpm_steps,
    seed=seed, device=device, max_batch_size=max_batch_size,
    prompts=prompts, prompt_guidance=prompt_guidance))
result = finding.present(measured)
result.record();

# %% [markdown]
# ## The correlation at every step
# Lines are means over pairs, bands the range of the middle 80 % of pairs (the 95 % interval of the
# mean is too narrow to see); the dotted line marks $-0.5$; † marks the model the book flags
# ({doc}`../limits`).

# %% tags=["hide-input"]
result.figure()
plt.show()

# %% [markdown]
# The noise predictions (dashed) stay close to $-1$ for almost the whole trajectory and rise only
# in the last step or two: the network is nearly antisymmetric in its input, as the paper argues. The states (solid) start at exactly
# $-1$ and stay strongly negative through the first half; for the digit and clothing models they
# then rise steadily and end near zero or slightly positive, while `photo-patches` stays strongly
# negative to the end. The centered curve (dotted) stays lower than the standard one where the
# samples take on their mean image. The dash-dotted line is the standard correlation predicted
# from the centered one and the mean state's share $f_t$ of the pixel variance,
# $f_t + (1 - f_t)\,\rho^{\mathrm{centered}}_t$: where it lies on the solid line, the shared mean
# image accounts for the whole difference between the two correlations (the verdict gives the
# largest gap).
#
# ## The numbers
# Along the trajectory, per model and sampler: the mean correlation of the noise predictions at
# $t = T$ (that of the states is exactly $-1$), that of the states half way (± the half-width of
# its 95 % t-interval), and the number of steps until the mean correlation of the states last lies
# below $-0.5$, standard and centered, each with its 95 % bootstrap interval over pairs.

# %% tags=["hide-input"]
result.table()

# %% [markdown]
# At the end: the correlation of the final samples, standard and centered (± the half-width of the
# 95 % t-interval), and the share of their pixel variance that the mean image carries.

# %% tags=["hide-input"]
result.outputs_table()

# %% [markdown]
# ## Beside the paper
# The paper gives exact numbers only at $t = T$; the rest of its claim is a description of its
# figure, which we set beside our counts.

# %% tags=["hide-input"]
result.versus_paper()

# %% [markdown]
# ## Verdict

# %% tags=["remove-input"]
Markdown(result.verdict())

# %% [markdown]
# **Limits of our models.** The models are small and undertrained ({doc}`../limits`). Two of them
# generate digits and clothing on a black background, whose mean image dominates the last steps;
# `photo-patches` is cut from a handful of photos and its samples vary little, which keeps its pairs
# close to mirror images to the end. The standard correlation of the final samples is the standard
# PN correlation of chapter 1: with the same seed, number of pairs and steps it is the same draw.
