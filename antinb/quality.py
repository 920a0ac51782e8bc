"""Sample quality: a small classifier per data set and the Frechet distance in its feature space.

FID's Inception network is not available offline and does not suit 28x28 grayscale images, so
quality is measured the same way with a small CNN trained on the real training split of each
data set (the weights ship beside the embedded models):

- *classifier accuracy* on class-conditional samples: the fraction of samples generated for
  class ``y`` that the classifier assigns to ``y``;
- *Frechet distance* (FD) between two image sets ``A``, ``B`` in the classifier's 128-d penultimate
  features (Heusel et al., 2017, Eq. 6):
  ``FD = ||mu_A - mu_B||^2 + Tr(S_A + S_B - 2 (S_A S_B)^(1/2))``.
  The FD between two disjoint *real* sets of the same size is the floor a perfect model reaches.

Value range and clamp policy: :func:`features` and :func:`classify` take ``value_range`` like
:mod:`antinb.metrics` (``(-1, 1)``, the samplers' range and the default, or ``(0, 1)``, the data
loaders' range). Their input is mapped to ``[0, 1]`` with :func:`antinb.metrics.to_unit` and then
clamped to ``[0, 1]`` in one place, :func:`to_classifier_input`: the classifier was trained on
``[0, 1]`` images only, and a sampler's output may overshoot its nominal range slightly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .data import load_dataset
from .metrics import to_unit

__all__ = ["SmallCNN", "train_classifier", "load_classifier", "to_classifier_input", "features", "classify",
           "frechet_distance", "CLASSIFIER_DIR"]

CLASSIFIER_DIR = Path(__file__).resolve().parent / "weights" / "classifiers"


class SmallCNN(nn.Module):
    """Two conv blocks and a 128-d feature layer; input ``(B, C, H, W)`` in ``[0, 1]``."""

    def __init__(self, channels: int, n_classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(64 * 16, 128), nn.ReLU())
        self.head = nn.Linear(128, n_classes)
        self.channels, self.n_classes = channels, n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def train_classifier(dataset: str, *, epochs: int = 3, batch_size: int = 128, seed: int = 0,
                     out_dir: Path | None = None, progress: bool = True) -> tuple[SmallCNN, float]:
    """Train on the train split, return the network and its accuracy on the test split; save it."""
    train, test = load_dataset(dataset, "train"), load_dataset(dataset, "test")
    torch.manual_seed(seed)
    net = SmallCNN(train.images.shape[1], len(train.class_names))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    n = len(train)
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in tqdm(range(0, n, batch_size), desc=f"classifier {dataset} epoch {epoch + 1}", disable=not progress):
            idx = perm[i:i + batch_size]
            loss = nn.functional.cross_entropy(net(train.images[idx]), train.labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    acc = float((classify(net, test.images, value_range=(0, 1)) == test.labels).float().mean())
    out = (out_dir or CLASSIFIER_DIR) / dataset
    out.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), out / "classifier.pt")
    (out / "classifier.json").write_text(json.dumps(
        {"dataset": dataset, "channels": net.channels, "n_classes": net.n_classes, "epochs": epochs,
         "test_accuracy": acc, "n_test": len(test)}, indent=1))
    return net, acc


def load_classifier(dataset: str, folder: Path | None = None) -> SmallCNN:
    """The shipped classifier for ``dataset`` (CPU, eval mode)."""
    folder = (folder or CLASSIFIER_DIR) / dataset
    if not (folder / "classifier.pt").exists():
        raise FileNotFoundError(f"no classifier for dataset={dataset!r} in {folder}; "
                                f"train one with antinb.quality.train_classifier({dataset!r})")
    meta = json.loads((folder / "classifier.json").read_text())
    net = SmallCNN(meta["channels"], meta["n_classes"])
    net.load_state_dict(torch.load(folder / "classifier.pt", weights_only=True))
    return net.eval()


def to_classifier_input(x: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Images ``(B, C, H, W)`` in ``value_range`` as the classifier's float32 input: mapped to
    ``[0, 1]`` with :func:`antinb.metrics.to_unit`, then clamped to ``[0, 1]`` (the module's one
    clamp policy)."""
    return to_unit(x.float(), value_range).clamp(0.0, 1.0)


@torch.inference_mode()
def features(net: SmallCNN, x: torch.Tensor, *, value_range: tuple[float, float] = (-1.0, 1.0),
             batch_size: int = 1024) -> torch.Tensor:
    """Penultimate features ``(B, 128)`` of images ``x`` ``(B, C, H, W)`` in ``value_range``.

    ``value_range``: ``(-1, 1)`` (sampler output, the default) or ``(0, 1)`` (data-loader images);
    see :func:`to_classifier_input`.
    """
    u = to_classifier_input(x, value_range)
    return torch.cat([net.body(u[i:i + batch_size]) for i in range(0, len(u), batch_size)])


@torch.inference_mode()
def classify(net: SmallCNN, x: torch.Tensor, *, value_range: tuple[float, float] = (-1.0, 1.0),
             batch_size: int = 1024) -> torch.Tensor:
    """Predicted class ``(B,)`` of images ``x`` ``(B, C, H, W)`` in ``value_range`` (as :func:`features`)."""
    u = to_classifier_input(x, value_range)
    return torch.cat([net(u[i:i + batch_size]).argmax(1) for i in range(0, len(u), batch_size)])


def _psd_eigenvalues(w: np.ndarray) -> np.ndarray:
    """Eigenvalues of a symmetric PSD matrix with rounding noise set to 0: those below
    ``len(w) * eps * max|w|`` (the rank tolerance of ``numpy.linalg.matrix_rank``)."""
    tol = len(w) * np.finfo(np.float64).eps * max(float(np.abs(w).max(initial=0.0)), 0.0)
    return np.where(w > tol, w, 0.0)


def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (see :func:`_psd_eigenvalues`)."""
    w, v = np.linalg.eigh(cov)
    return (v * np.sqrt(_psd_eigenvalues(w))) @ v.T


def frechet_distance(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to feature sets ``a`` ``(N, D)`` and ``b`` ``(M, D)``.

    ``||mu_a - mu_b||^2 + Tr(S_a) + Tr(S_b) - 2 Tr((S_a S_b)^(1/2))``. The last trace is computed
    stably as the sum of the square roots of the eigenvalues of the symmetric PSD matrix
    ``S_a^(1/2) S_b S_a^(1/2)``, which has the same eigenvalues as ``S_a S_b``; unlike
    ``scipy.linalg.sqrtm(S_a @ S_b)`` this does not warn or turn complex when the covariances are
    singular (fewer samples than feature dimensions, or dead ReLU features). Eigenvalues at the
    level of rounding noise (below ``D * eps * max``) are set to 0, and the result is clipped at 0
    (an FD is never negative).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must be (N, D) feature matrices with the same D, got {a.shape} and {b.shape}")
    if min(len(a), len(b)) < 2:
        raise ValueError("a and b need at least 2 rows each")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _psd_sqrt(cov_a)
    inner = root_a @ cov_b @ root_a
    eig = np.linalg.eigvalsh((inner + inner.T) / 2)
    tr_covmean = float(np.sqrt(_psd_eigenvalues(eig)).sum())
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * tr_covmean)
    return max(value, 0.0)
