"""Train a small diffusers ``UNet2DModel`` as a DDPM on an offline data set.

The model predicts the noise (epsilon) of the forward process
``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` (Ho et al., 2020, Eq. 4 and the simple loss
Eq. 14) with 1,000 training timesteps; the noise schedule and the forward process come from
diffusers' :class:`~diffusers.DDPMScheduler` (``add_noise``), the exponential moving average of
the weights from :class:`diffusers.training_utils.EMAModel`.

With ``conditional=True`` the UNet gets ``num_class_embeds = n_classes + 1``; the last index is
the *null class*, used for unconditional sampling and classifier-free guidance. During training
each label is replaced by the null class with probability ``label_dropout``.

Training is resumable: a checkpoint (weights, EMA, optimizer, RNG state, step, wall time, loss
log) is written atomically every ``checkpoint_every`` steps and when a time budget runs out or
the run is interrupted; calling :func:`train` again with the same ``out_dir`` continues from it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from diffusers import DDPMScheduler, UNet2DModel
from diffusers.training_utils import EMAModel
from tqdm import tqdm

from ._checks import check_int
from ._files import UnsafeFileError, atomic_open, make_temp_dir, write_atomic
from .data import load_dataset
from .metrics import from_unit

__all__ = ["TrainConfig", "ARCHITECTURES", "CheckpointError", "build_unet", "train", "export", "export_checkpoint",
           "load_checkpoint", "snapshot_dir", "snapshots_of",
           "SNAPSHOT_DIR", "ship_snapshots", "shipped_snapshots"]

log = logging.getLogger(__name__)

#: UNet shapes by name. ``small`` is the 2.7M-parameter network of the shipped 28x28 models.
ARCHITECTURES: dict[str, dict] = {
    "tiny": dict(block_out_channels=(8, 16), down_block_types=("DownBlock2D", "DownBlock2D"),
                 up_block_types=("UpBlock2D", "UpBlock2D"), layers_per_block=1, norm_num_groups=4),
    "small": dict(block_out_channels=(32, 64, 128),
                  down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                  up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
                  layers_per_block=1, norm_num_groups=8),
}


@dataclass
class TrainConfig:
    """Everything that determines a training run (saved beside the weights)."""

    dataset: str = "fashion-mnist"
    conditional: bool = False
    architecture: str = "small"
    steps: int = 10_000
    batch_size: int = 128
    lr: float = 5e-4
    warmup_steps: int = 200
    ema_decay: float = 0.999
    label_dropout: float = 0.1
    beta_schedule: str = "squaredcos_cap_v2"
    num_train_timesteps: int = 1000
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 200
    max_minutes: float | None = None
    threads: int | None = None
    #: Steps at which the EMA weights are also exported to ``snapshots/step-NNNNNN`` (0: the initialisation).
    snapshots: tuple[int, ...] = ()
    extra: dict = field(default_factory=dict)

    def validate(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture={self.architecture!r} is unknown; accepted: {sorted(ARCHITECTURES)}")
        for name in ("steps", "batch_size", "checkpoint_every", "warmup_steps", "num_train_timesteps"):
            check_int(name, getattr(self, name), 1)
        check_int("seed", self.seed, 0)
        if self.threads is not None:
            check_int("threads", self.threads, 1)
        if not isinstance(self.snapshots, (tuple, list)):
            raise ValueError(f"snapshots={self.snapshots!r} must be a list of step counts")
        for i, step in enumerate(self.snapshots):
            check_int(f"snapshots[{i}]", step, 0)
            if step > self.steps:
                raise ValueError(f"snapshots[{i}]={step} is beyond steps={self.steps}")
        for name in ("lr", "grad_clip", "max_minutes"):
            value = getattr(self, name)
            if value is None and name == "max_minutes":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name}={value!r} must be a finite number > 0")
        if not 0.0 <= self.label_dropout < 1.0:
            raise ValueError(f"label_dropout={self.label_dropout!r} must be in [0, 1)")
        if not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"ema_decay={self.ema_decay!r} must be in (0, 1)")


def build_unet(architecture: str, sample_size: int, channels: int, num_classes: int | None = None) -> UNet2DModel:
    """A fresh ``UNet2DModel``; ``num_classes`` adds ``num_classes + 1`` class embeddings (null last)."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture={architecture!r} is unknown; accepted: {sorted(ARCHITECTURES)}")
    return UNet2DModel(sample_size=sample_size, in_channels=channels, out_channels=channels,
                       num_class_embeds=None if num_classes is None else num_classes + 1,
                       **ARCHITECTURES[architecture])


#: Settings that may change between a run and its resumption (they do not change the maths).
_RESUMABLE = ("steps", "max_minutes", "threads", "checkpoint_every", "snapshots")


def _identity(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k not in _RESUMABLE}


class CheckpointError(ValueError):
    """A ``checkpoint.pt`` that is not a plain checkpoint of :func:`train` (unreadable, or not data only)."""


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint of :func:`train` **without running code from it**.

    ``torch.load(..., weights_only=True)`` unpickles only tensors, containers and numbers: a
    crafted pickle (one whose ``__reduce__`` would call a function) is refused with a
    :class:`CheckpointError` naming the file before anything of it runs.
    """
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - pickle.UnpicklingError and friends: all mean "refused"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path} is not a data-only training checkpoint and was not loaded "
                              f"(torch.load weights_only=True refused it: {first[:300]})") from None
    needed = ("config", "unet", "ema", "opt", "gen", "state")
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in needed) or not isinstance(ckpt["config"], dict):
        raise CheckpointError(f"{path} is not a training checkpoint of antinb.training (expected keys {needed})")
    return ckpt


def _atomic_save(obj, path: Path) -> None:
    """``torch.save`` to a new ``mkstemp`` file beside ``path``, renamed onto it (no fixed temporary name, no
    write through a link: :func:`antinb._files.atomic_open`)."""
    with atomic_open(path) as f:
        torch.save(obj, f)


def _restore(path: Path, ckpt: dict, parts: list[tuple[str, Any]]) -> None:
    """Load each ``(key, target)`` of ``ckpt`` into its target; a mismatch is a :class:`CheckpointError` naming
    the file (not a ``RuntimeError`` traceback about state-dict keys)."""
    for key, target in parts:
        try:
            if key == "gen":
                target.set_state(ckpt[key])
            else:
                target.load_state_dict(ckpt[key])
        except Exception as err:  # noqa: BLE001 - RuntimeError, KeyError, TypeError, ValueError: all "wrong file"
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise CheckpointError(f"{path} does not fit this model: its {key!r} entry cannot be loaded "
                                  f"({type(err).__name__}: {first[:200]}); use a new folder or the "
                                  "matching settings") from None


def train(config: TrainConfig, out_dir: str | os.PathLike, *, progress: bool = True) -> Path:
    """Train (or resume) and export a diffusers folder to ``out_dir``; returns ``out_dir``.

    ``out_dir/checkpoint.pt`` holds the resumable state; ``out_dir/unet`` and
    ``out_dir/scheduler`` the exported EMA model; ``out_dir/training.json`` the run's record.
    """
    config.validate()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if config.threads:
        torch.set_num_threads(config.threads)
    data = load_dataset(config.dataset, "train")
    x_all = from_unit(data.images, (-1, 1))  # [0, 1] -> model space [-1, 1]
    y_all = data.labels
    n_classes = len(data.class_names)
    channels, size = data.images.shape[1], data.images.shape[-1]

    torch.manual_seed(config.seed)
    unet = build_unet(config.architecture, size, channels, n_classes if config.conditional else None)
    scheduler = DDPMScheduler(num_train_timesteps=config.num_train_timesteps, beta_schedule=config.beta_schedule)
    ema = EMAModel(unet.parameters(), decay=config.ema_decay, use_ema_warmup=True, power=3 / 4)
    opt = torch.optim.AdamW(unet.parameters(), lr=config.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(config.seed)
    state = {"step": 0, "elapsed_s": 0.0, "losses": []}

    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path)
        if _identity(ckpt["config"]) != _identity(asdict(config)):
            raise ValueError(f"out_dir={str(out)!r} holds a checkpoint of a different configuration; "
                             "use a new folder or the same settings")
        _restore(ckpt_path, ckpt, [("unet", unet), ("ema", ema), ("opt", opt), ("gen", gen)])
        state = ckpt["state"]
        if not (isinstance(state, dict) and isinstance(state.get("step"), int) and isinstance(state.get("losses"), list)
                and isinstance(state.get("elapsed_s"), (int, float))):
            raise CheckpointError(f"{ckpt_path} is not a training checkpoint of antinb.training (its 'state' "
                                  "lacks step, elapsed_s or losses)")

    def save_checkpoint() -> None:
        _atomic_save({"config": asdict(config), "unet": unet.state_dict(), "ema": ema.state_dict(),
                      "opt": opt.state_dict(), "gen": gen.get_state(), "state": state}, ckpt_path)

    def save_snapshot() -> None:
        final = snapshot_dir(out, state["step"])
        if final.is_symlink():
            log.warning("%s is a symbolic link: refusing to write a snapshot through it", final)
            return
        if final.is_dir():
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = make_temp_dir(final)  # a new folder (mkdtemp), never a planted name or link
        try:
            export(unet, ema, scheduler, config, state, tmp, data_shape=(channels, size), n_classes=n_classes)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    snapshots = set(config.snapshots)
    if state["step"] in snapshots:
        save_snapshot()

    unet.train()
    start_wall = time.time() - state["elapsed_s"]
    budget_s = None if config.max_minutes is None else config.max_minutes * 60
    session_start = time.time()
    bar = tqdm(total=config.steps, initial=state["step"], desc=f"train {config.dataset}", disable=not progress)
    try:
        while state["step"] < config.steps:
            step = state["step"]
            idx = torch.randint(0, len(x_all), (config.batch_size,), generator=gen)
            x0 = x_all[idx]
            if data.name == "photo-patches" or config.extra.get("hflip"):
                flip = torch.rand(config.batch_size, generator=gen) < 0.5
                x0 = torch.where(flip[:, None, None, None], x0.flip(-1), x0)
            noise = torch.randn(x0.shape, generator=gen)
            t = torch.randint(0, config.num_train_timesteps, (config.batch_size,), generator=gen)
            x_t = scheduler.add_noise(x0, noise, t)
            labels = None
            if config.conditional:
                labels = y_all[idx].clone()
                drop = torch.rand(config.batch_size, generator=gen) < config.label_dropout
                labels[drop] = n_classes
            for g in opt.param_groups:
                g["lr"] = config.lr * min(1.0, (step + 1) / config.warmup_steps)
            loss = torch.nn.functional.mse_loss(unet(x_t, t, class_labels=labels).sample, noise)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), config.grad_clip)
            opt.step()
            ema.step(unet.parameters())
            state["step"] = step + 1
            state["losses"].append(loss.item())
            state["elapsed_s"] = time.time() - start_wall
            bar.update(1)
            if state["step"] % 20 == 0:
                bar.set_postfix(loss=f"{sum(state['losses'][-100:]) / len(state['losses'][-100:]):.4f}")
            if state["step"] % config.checkpoint_every == 0:
                save_checkpoint()
            if state["step"] in snapshots:
                save_snapshot()
            if budget_s is not None and time.time() - session_start > budget_s:
                break
    finally:
        bar.close()
        save_checkpoint()
    export(unet, ema, scheduler, config, state, out, data_shape=(channels, size), n_classes=n_classes)
    return out


def snapshot_dir(out_dir: str | os.PathLike, step: int) -> Path:
    """Where :func:`train` exports the EMA weights after ``step`` steps (a loadable model folder)."""
    return Path(out_dir) / "snapshots" / f"step-{step:06d}"


def snapshots_of(out_dir: str | os.PathLike, *, subfolder: str = "snapshots") -> dict[int, Path]:
    """The finished snapshots of a training folder, by step (in step order)."""
    root = Path(out_dir) / subfolder
    found = {}
    for d in sorted(root.glob("*step-*")) if root.is_dir() else ():
        digits = d.name.rpartition("step-")[2]
        if d.is_dir() and digits.isdigit() and not d.name.endswith(".tmp") and (d / "unet").is_dir():
            found[int(digits)] = d
    return dict(sorted(found.items()))


#: Where the package ships training snapshots: ``progress/<run>/<run>-step-NNNNNN`` (float16 weights).
SNAPSHOT_DIR = Path(__file__).resolve().parent / "weights" / "progress"


def ship_snapshots(out_dir: str | os.PathLike, name: str, *, steps: list[int] | None = None,
                   dtype: torch.dtype = torch.float16, root: str | os.PathLike | None = None) -> dict[int, Path]:
    """Copy the snapshots of a training folder (all, or ``steps``) into ``root/name`` (default
    :data:`SNAPSHOT_DIR`), the UNet weights stored as ``dtype`` (float16 halves the size; they load back
    as float32). Returns the shipped folders by step."""
    found = snapshots_of(out_dir)
    wanted = list(found) if steps is None else steps
    missing = [s for s in wanted if s not in found]
    if missing:
        raise ValueError(f"steps {missing} have no snapshot in {out_dir}; present: {list(found)}")
    dest_root = Path(root or SNAPSHOT_DIR) / name
    out = {}
    for step in wanted:
        # named after the run, so that the folders of two runs never share a name (the model's name on loading)
        src, dest = found[step], dest_root / f"{name}-{found[step].name}"
        unet = UNet2DModel.from_pretrained(src / "unet", torch_dtype=dtype)
        unet.save_pretrained(dest / "unet", safe_serialization=True)
        DDPMScheduler.from_pretrained(src / "scheduler").save_pretrained(dest / "scheduler")
        record = json.loads((src / "training.json").read_text())
        record["stored_dtype"] = str(dtype).replace("torch.", "")
        write_atomic(dest / "training.json", json.dumps(record, indent=1))
        out[step] = dest
    return out


def shipped_snapshots(name: str, *, root: str | os.PathLike | None = None) -> dict[int, Path]:
    """The snapshots shipped for training run ``name`` (:func:`ship_snapshots`), by step.

    When the package also ships an embedded model ``name`` trained with the same recipe (the same
    configuration up to the resumable settings) to more steps than the last snapshot, that model is the
    run's final state and is listed at its step count: the snapshots retrace its training from the start.
    """
    found = snapshots_of(Path(root or SNAPSHOT_DIR) / name, subfolder="")
    embedded = Path(__file__).resolve().parent / "weights" / name
    if found and (embedded / "training.json").is_file():
        final = json.loads((embedded / "training.json").read_text())
        last = json.loads((found[max(found)] / "training.json").read_text())
        if _identity(final["config"]) == _identity(last["config"]) and final["steps_done"] > max(found):
            found[int(final["steps_done"])] = embedded
    return found


def export(unet: UNet2DModel, ema: EMAModel, scheduler: DDPMScheduler, config: TrainConfig, state: dict,
           out: Path, *, data_shape: tuple[int, int], n_classes: int) -> None:
    """Write the EMA weights as a diffusers folder (``unet/``, ``scheduler/``) plus ``training.json``."""
    for part in ("unet", "scheduler"):
        if (out / part).is_symlink():  # diffusers would write the weights wherever it points
            log.warning("%s is a symbolic link: refused", out / part)
            raise UnsafeFileError(f"{out / part} is a symbolic link: refusing to export the model through it; "
                                  "remove it")
    ema_unet = build_unet(config.architecture, data_shape[1], data_shape[0],
                          n_classes if config.conditional else None)
    ema_unet.load_state_dict(unet.state_dict())
    ema.copy_to(ema_unet.parameters())
    ema_unet.save_pretrained(out / "unet", safe_serialization=True)
    scheduler.save_pretrained(out / "scheduler")
    losses = state["losses"]
    tail = losses[-500:] if losses else [math.nan]
    record = {"config": asdict(config), "steps_done": state["step"], "wall_time_s": round(state["elapsed_s"], 1),
              "final_loss": sum(tail) / len(tail), "n_parameters": sum(p.numel() for p in ema_unet.parameters()),
              "null_class": n_classes if config.conditional else None, "n_classes": n_classes,
              "loss_curve": [sum(losses[i:i + 100]) / len(losses[i:i + 100]) for i in range(0, len(losses), 100)]}
    write_atomic(out / "training.json", json.dumps(record, indent=1))


def export_checkpoint(out_dir: str | os.PathLike) -> Path:
    """Export the EMA weights of ``out_dir/checkpoint.pt`` without training (e.g. while a run goes on)."""
    out = Path(out_dir)
    ckpt = load_checkpoint(out / "checkpoint.pt")
    try:
        config = TrainConfig(**ckpt["config"])
        config.validate()
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{out / 'checkpoint.pt'} holds a configuration this antinb cannot use ({err})") from None
    data = load_dataset(config.dataset, "test")
    channels, size, n_classes = data.images.shape[1], data.images.shape[-1], len(data.class_names)
    unet = build_unet(config.architecture, size, channels, n_classes if config.conditional else None)
    _restore(out / "checkpoint.pt", ckpt, [("unet", unet)])
    ema = EMAModel(unet.parameters(), decay=config.ema_decay, use_ema_warmup=True, power=3 / 4)
    _restore(out / "checkpoint.pt", ckpt, [("ema", ema)])
    scheduler = DDPMScheduler(num_train_timesteps=config.num_train_timesteps, beta_schedule=config.beta_schedule)
    export(unet, ema, scheduler, config, ckpt["state"], out, data_shape=(channels, size), n_classes=n_classes)
    return out
