"""The paper's numbers, in one place: "Antithetic Noise in Diffusion Models" (Jia, Liu, Song, Yuan,
Shen, Wang; arXiv 2506.06185, ICLR 2026) and its blog post.

Data only, keyed by what each number measures (model, sampler, statistic ...), never by our record
names: each :mod:`antinb.findings` module maps these onto its own records
(``paper_records()``), the results page and the chapters read them through the findings, and the
tests read them here. Values are numbers, or short strings where the paper gives a bound
(``"> 0.99"``) or an approximate value (``"≈ 1.5"``).
"""

from __future__ import annotations

__all__ = ["CIFAR", "CELEBA", "CHURCH", "BEDROOM", "DIT", "SD", "SD_PROMPTED", "FFHQ_DPS", "MODEL_LABELS", "CORRELATION",
           "CORRELATION_OTHER", "TRAJECTORY", "SYMMETRY", "DIVERSITY", "TABLE2", "DPS"]

CIFAR = "google/ddpm-cifar10-32"
CELEBA = "google/ddpm-celebahq-256"
CHURCH = "google/ddpm-church-256"
BEDROOM = "google/ddpm-bedroom-256"
DIT = "facebook/DiT-XL-2-256"
SD = "stable-diffusion-v1-5/stable-diffusion-v1-5"
#: The paper's text-to-image numbers hold for prompted runs: ``<hub id>:prompted`` matches a run with any
#: prompt set, ``<hub id>:<source>`` one with that source (see :func:`antinb.prompts.model_key`).
SD_PROMPTED = f"{SD}:prompted"
FFHQ_DPS = "dps-ffhq-256"

#: Display names of the paper's models (our embedded models are shown by name).
MODEL_LABELS: dict[str, str] = {
    CIFAR: "CIFAR-10 (`google/ddpm-cifar10-32`)",
    CELEBA: "CelebA-HQ (`google/ddpm-celebahq-256`)",
    CHURCH: "LSUN-Church (`google/ddpm-church-256`)",
    BEDROOM: "LSUN-Bedroom (`google/ddpm-bedroom-256`)",
    DIT: "DiT ImageNet (`facebook/DiT-XL-2-256`)",
    SD_PROMPTED: "Stable Diffusion 1.5, prompted",
    f"{SD}:drawbench": "Stable Diffusion 1.5, DrawBench prompts",
    f"{SD}:pick-a-pic": "Stable Diffusion 1.5, Pick-a-Pic prompts",
    # the blog post, the source of the DPS numbers, runs the experiment on CelebA-HQ (the key keeps its name:
    # it is part of record names)
    FFHQ_DPS: "CelebA-HQ (DPS inpainting, blog post)",
}

#: Finding 1 (paper §3): mean per-pair correlation of PN pairs, (model, sampler, variant) -> value.
CORRELATION: dict[tuple[str, str, str], float] = {
    (CELEBA, "ddim", "centered"): -0.78,
    (CHURCH, "ddim", "centered"): -0.41,
    (BEDROOM, "ddim", "centered"): -0.62,
    (DIT, "ddim", "centered"): -0.45,
    (SD_PROMPTED, "ddim", "centered"): -0.73,
    (CIFAR, "ddpm", "standard"): -0.73,  # DDPM with the per-step noise negated too
    (CIFAR, "ddpm", "centered"): -0.80,
}
#: Finding 1, generative models that are not diffusion samplers (outside this package): centered PN.
CORRELATION_OTHER: dict[str, float | str] = {
    "consistency models": "−0.75 to −0.91", "VAE, MNIST": -0.41, "Glow, CIFAR-10": -0.57}

#: Finding 2 (paper §4): PN trajectories start exactly mirrored, for every model.
TRAJECTORY: dict[str, float | str] = {"x_first": -1.0, "eps_first": "≈ −1"}

#: Finding 3 (paper §4): antisymmetry score over many 1-D slices, (model, "mean" | "q10") -> bound.
SYMMETRY: dict[tuple[str, str], str] = {
    (CIFAR, "mean"): "> 0.99", (CIFAR, "q10"): "> 0.97",
    (CHURCH, "mean"): "> 0.99", (CHURCH, "q10"): "> 0.97",
}

#: Finding 4 (blog table): improvement of PN over RR pairs in percent, (model, "ssim" | "lpips") -> %.
DIVERSITY: dict[tuple[str, str], float] = {
    (CIFAR, "ssim"): 86.1, (CIFAR, "lpips"): 8.3,
    (CHURCH, "ssim"): 34.0, (CHURCH, "lpips"): 4.2,
    (CELEBA, "ssim"): 32.9, (CELEBA, "lpips"): 18.1,
    (f"{SD}:drawbench", "ssim"): 21.5, (f"{SD}:drawbench", "lpips"): 4.8,
    (f"{SD}:pick-a-pic", "ssim"): 19.0, (f"{SD}:pick-a-pic", "lpips"): 5.4,
}

#: Finding 5 (blog Table 2): model -> statistic -> (CI length MC, QMC, AMC; efficiency QMC, AMC);
#: ``None`` where the paper reports no number. Statistic names are ours (the paper's "centroid").
TABLE2: dict[str, dict[str, tuple[float, float | None, float, float | None, float]]] = {
    SD_PROMPTED: {"brightness": (5.45, 1.35, 1.26, 16.13, 18.83), "pixel_mean": (5.59, 1.42, 1.41, 15.23, 15.84),
         "contrast": (2.18, 1.03, 0.89, 4.46, 6.25), "centroid": (4.03, 1.88, 1.62, 4.54, 6.15)},
    CIFAR: {"brightness": (2.00, 0.35, 0.35, 32.05, 32.66), "pixel_mean": (2.04, 0.39, 0.39, 26.94, 27.12),
            "contrast": (1.08, 0.22, 0.23, 23.43, 22.05), "centroid": (0.11, 0.04, 0.04, 7.35, 6.96)},
    CELEBA: {"brightness": (1.82, None, 0.26, None, 50.16), "pixel_mean": (1.76, None, 0.31, None, 33.15),
             "contrast": (0.60, None, 0.19, None, 10.18), "centroid": (0.60, None, 0.20, None, 8.27)},
    CHURCH: {"brightness": (1.67, None, 0.14, None, 136.37), "pixel_mean": (1.67, None, 0.16, None, 106.79),
             "contrast": (1.02, None, 0.20, None, 27.16), "centroid": (0.70, None, 0.40, None, 3.14)},
}

#: Finding 6 (paper §5): DPS inpainting, efficiency of AMC over MC, (model, metric) -> value.
DPS: dict[tuple[str, str], str] = {(FFHQ_DPS, "l1"): "≈ 1.5", (FFHQ_DPS, "psnr"): "≈ 1.8"}
