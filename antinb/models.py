"""Load diffusion models: the project's embedded models, local diffusers folders and hub ids.

:func:`load` returns a :class:`DiffusionModel`: the noise-prediction network, its training
scheduler's configuration and what the samplers need to know (noise shape, conditioning).

Accepted ``spec`` values:

- the name of an embedded model (see :data:`EMBEDDED` / :func:`available`), shipped inside the
  package as a diffusers folder;
- a local folder in diffusers layout: a pipeline folder with ``model_index.json``
  (``DDPMPipeline``, ``DDIMPipeline``, ``StableDiffusionPipeline``), or a folder with ``unet/`` and
  ``scheduler/`` subfolders;
- a hub id such as ``google/ddpm-cifar10-32``, resolved **from the local Hugging Face cache
  only** (no network is touched unless ``allow_download=True``). An uncached id fails at once
  with a :class:`ModelNotFoundError` naming the id and how to provide the weights.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .records import record

__all__ = ["DiffusionModel", "ModelNotFoundError", "EMBEDDED", "SUPPORTED_LAYOUTS", "available", "check_layout", "load", "resolve_device",
           "weights_dir", "name_of", "unet_config", "text_conditioned"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: Embedded models: name -> one-line description. A name is listed only when its weights ship.
EMBEDDED: dict[str, str] = {}


def weights_dir(name: str) -> Path:
    """The package folder holding embedded model ``name`` (diffusers layout plus ``card.json``)."""
    return WEIGHTS_DIR / name


def _discover_embedded() -> None:
    if not WEIGHTS_DIR.is_dir():
        return
    for d in sorted(WEIGHTS_DIR.iterdir()):
        if (d / "unet" / "config.json").exists() and (d / "scheduler").is_dir():
            desc = ""
            for meta in ("card.json", "training.json"):
                if (d / meta).exists():
                    desc = desc or json.loads((d / meta).read_text()).get("description", "")
            EMBEDDED[d.name] = desc


_discover_embedded()


class ModelNotFoundError(FileNotFoundError):
    """The model's weights are not on this machine; the message says how to provide them."""


def available() -> list[str]:
    """Names of the embedded models."""
    return sorted(EMBEDDED)


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` picks CUDA when present, else CPU; anything else is passed to ``torch.device``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device={device!r} is not a torch device; use 'auto', 'cpu' or 'cuda[:N]'") from err


@dataclass
class DiffusionModel:
    """A noise-prediction network with what the samplers need.

    ``sample_shape`` is the shape ``(C, H, W)`` of one initial noise tensor (the latent shape for
    latent models). ``num_classes``/``null_class`` are set for class-conditional UNets whose last
    class embedding is the null class used for classifier-free guidance. ``vae``,
    ``text_encoder`` and ``tokenizer`` are set for Stable Diffusion folders.
    """

    unet: torch.nn.Module
    scheduler_config: dict[str, Any]
    name: str
    sample_shape: tuple[int, int, int]
    num_classes: int | None = None
    null_class: int | None = None
    vae: torch.nn.Module | None = None
    text_encoder: torch.nn.Module | None = None
    tokenizer: Any = None
    card: dict[str, Any] = field(default_factory=dict)
    #: What :func:`load` was given (embedded name, folder or hub id): how another process loads it again.
    source: str | None = None
    #: Memory format of the network's inputs (``torch.channels_last`` after :meth:`optimize`).
    memory_format: torch.memory_format = torch.contiguous_format

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    @property
    def conditioning(self) -> str | None:
        """``"class"``, ``"text"`` or ``None`` (unconditional)."""
        if self.text_encoder is not None or getattr(self.unet.config, "cross_attention_dim", None):
            return "text"
        return "class" if self.num_classes is not None else None

    def to(self, device: str | torch.device) -> "DiffusionModel":
        for m in (self.unet, self.vae, self.text_encoder):
            if m is not None:
                m.to(device)
        return self

    def optimize(self, *, channels_last: bool = False, compile: bool | dict[str, Any] = False) -> "DiffusionModel":
        """Speed options that leave the maths unchanged (up to float rounding); returns ``self``.

        ``channels_last`` stores the UNet's weights and feeds its inputs in NHWC layout (faster
        convolutions on recent CPUs and on GPU tensor cores; ``antinb bench`` measures it).
        ``compile`` wraps the UNet in ``torch.compile`` (``True`` or a dict of its keyword
        arguments, e.g. ``{"mode": "max-autotune"}``); the first call compiles (about a minute on
        a CPU), later calls with the same shapes reuse it. Half precision is chosen at load time:
        ``load(name, dtype=torch.float16)`` (the sampler keeps its state in float32).
        """
        if channels_last:
            self.unet.to(memory_format=torch.channels_last)
            self.memory_format = torch.channels_last
        if compile:
            options = compile if isinstance(compile, dict) else {}
            self.unet = torch.compile(self.unet, **options)
        return self

    @torch.inference_mode()
    def encode_prompts(self, prompts: list[str]) -> torch.Tensor:
        """Text embeddings ``(B, L, D)`` for a Stable Diffusion model (``""`` is the null prompt)."""
        if self.tokenizer is None or self.text_encoder is None:
            raise ValueError(f"prompts were given but model {self.name!r} has no text encoder")
        tokens = self.tokenizer(list(prompts), padding="max_length", max_length=self.tokenizer.model_max_length,
                                truncation=True, return_tensors="pt")
        return self.text_encoder(tokens.input_ids.to(self.device))[0]

    @torch.inference_mode()
    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """Map sampler output to images in ``[-1, 1]``: identity for pixel models, the VAE for latents."""
        if self.vae is None:
            return x
        scale = getattr(self.vae.config, "scaling_factor", 0.18215)
        return self.vae.decode(x.to(self.vae.dtype) / scale).sample


def _hub_cache_dir() -> str:
    from huggingface_hub.constants import HF_HUB_CACHE
    return str(HF_HUB_CACHE)


def _read_json(path: Path) -> Any:
    """A model folder's JSON file; a corrupt one raises ``ValueError`` naming it."""
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is corrupt (not valid JSON: {err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} is corrupt (not a JSON object)")
    return data


#: Layouts antinb's own samplers run (see :func:`check_layout`); anything else is refused by name.
SUPPORTED_LAYOUTS = ("pixel DDPM/DDIM (unet + scheduler)", "latent diffusion (unet + vqvae or vae)",
                     "Stable Diffusion 1.x/2.x (unet + vae + CLIP text encoder)")

#: Schedulers whose noise schedule antinb's DDIM/DDPM samplers can take over (beta schedules).
_BETA_SCHEDULERS = ("DDIMScheduler", "DDPMScheduler", "PNDMScheduler", "LMSDiscreteScheduler",
                    "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler", "DPMSolverMultistepScheduler",
                    "DDIMInverseScheduler", "HeunDiscreteScheduler", "UniPCMultistepScheduler")


def check_layout(path: Path, components: dict[str, Any]) -> None:
    """Refuse, before any weight is read, a folder whose layout antinb's samplers cannot run, naming what
    it is and what to use instead (:mod:`antinb.interop` hands antinb's noise to any diffusers pipeline)."""
    kind = components.get("_class_name") or "this pipeline"
    use = ("sample it with its diffusers pipeline and antinb's noise: pipe(..., latents=antinb.interop."
           "pipeline_latents(pipe, antinb.noise.antithetic(n, antinb.interop.latent_shape(pipe)))) (see the README)")
    if (path / "transformer" / "config.json").exists() or "transformer" in components:
        raise ModelNotFoundError(
            f"{path} is a transformer-based pipeline ({kind}: DiT, PixArt, SD3 or FLUX layout); antinb's samplers "
            f"run {', '.join(SUPPORTED_LAYOUTS)}. To use antithetic noise with it, {use}")
    if "text_encoder_2" in components or (path / "text_encoder_2").is_dir():
        raise ModelNotFoundError(
            f"{path} is an SDXL-style pipeline ({kind}: a second text encoder and added conditions text_embeds/"
            f"time_ids), which antinb's samplers do not pass; {use}")
    unet_file = path / "unet" / "config.json"
    if unet_file.exists():
        cfg = _read_json(unet_file)
        if cfg.get("addition_embed_type") or cfg.get("class_embed_type") not in (None, "timestep", "identity"):
            raise ModelNotFoundError(
                f"{path}: its UNet needs added conditions (addition_embed_type={cfg.get('addition_embed_type')!r}, "
                f"class_embed_type={cfg.get('class_embed_type')!r}) that antinb's samplers do not pass; {use}")
    sched_file = path / "scheduler" / "scheduler_config.json"
    if sched_file.exists():
        sched = _read_json(sched_file).get("_class_name", "")
        if sched and ("FlowMatch" in sched or sched not in _BETA_SCHEDULERS):
            raise ModelNotFoundError(
                f"{path}: scheduler {sched} is not a DDPM beta schedule (flow matching or another family); "
                f"antinb's DDIM/DDPM samplers need one. {use[0].upper()}{use[1:]}")


def _load_folder(path: Path, name: str, device: torch.device, dtype: torch.dtype | None) -> DiffusionModel:
    from diffusers import AutoencoderKL, UNet2DConditionModel, UNet2DModel, VQModel

    index = path / "model_index.json"
    components = _read_json(index) if index.exists() else {}
    check_layout(path, components)
    unet_dir, sched_dir = path / "unet", path / "scheduler"
    if not (unet_dir / "config.json").exists():
        raise ModelNotFoundError(f"{path} is not a diffusers model folder: no unet/config.json "
                                 "(expected a pipeline folder or unet/ and scheduler/ subfolders)")
    unet_cfg = _read_json(unet_dir / "config.json")
    unet_cls = UNet2DConditionModel if unet_cfg.get("_class_name") == "UNet2DConditionModel" else UNet2DModel
    unet = unet_cls.from_pretrained(unet_dir, torch_dtype=dtype)
    sched_file = sched_dir / "scheduler_config.json"
    if not sched_file.exists():
        raise ModelNotFoundError(f"{path} has no scheduler/scheduler_config.json")
    sched_cfg = _read_json(sched_file)
    vae = text_encoder = tokenizer = None
    if "vae" in components or (path / "vae" / "config.json").exists():
        vae = AutoencoderKL.from_pretrained(path / "vae", torch_dtype=dtype)
    elif "vqvae" in components or (path / "vqvae" / "config.json").exists():
        vae = VQModel.from_pretrained(path / "vqvae", torch_dtype=dtype)  # LDM: decoded like LDMPipeline
    if "text_encoder" in components or (path / "text_encoder").is_dir():
        try:
            from transformers import CLIPTextModel, CLIPTokenizer  # only needed for Stable Diffusion
        except ImportError:
            raise ImportError(f"{path} has a text encoder: loading it needs transformers, the 'sd' extra of antinb "
                              "(pip install 'antinb[sd]')") from None
        text_encoder = CLIPTextModel.from_pretrained(path / "text_encoder", torch_dtype=dtype)
        tokenizer = CLIPTokenizer.from_pretrained(path / "tokenizer")
    if unet_cls is UNet2DConditionModel and text_encoder is None:
        raise ModelNotFoundError(f"{path}: its UNet is text-conditioned (UNet2DConditionModel) but the folder has no "
                                 "text_encoder/ and tokenizer/ to encode prompts")
    if text_encoder is not None and sched_cfg.get("clip_sample", True) is not False:
        # As StableDiffusionPipeline: it never clips (it sets clip_sample=False on a scheduler that has it on), and
        # a DDIM built from a config without the key (the hub's PNDM files of some snapshots) would clip the
        # predicted latent x0 to [-1, 1], which is no range of the latents.
        sched_cfg = {**sched_cfg, "clip_sample": False}
    size = unet.config.sample_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    n_embeds = getattr(unet.config, "num_class_embeds", None)
    card_file = path / "card.json"
    card = _read_json(card_file) if card_file.exists() else {}
    model = DiffusionModel(unet=unet.eval(), scheduler_config=dict(sched_cfg), name=name,
                           sample_shape=(unet.config.in_channels, *size),
                           num_classes=None if not n_embeds else n_embeds - 1,
                           null_class=None if not n_embeds else n_embeds - 1,
                           vae=None if vae is None else vae.eval(),
                           text_encoder=None if text_encoder is None else text_encoder.eval(),
                           tokenizer=tokenizer, card=card)
    for m in (model.unet, model.vae, model.text_encoder):
        if m is not None:
            m.requires_grad_(False)
    _note_weights(name, path)
    return model.to(device)


#: Record-name prefix of the weights a notebook loaded (read by the runner: inputs, not results).
WEIGHTS_RECORD = "_inputs/weights/"


def _note_weights(name: str, path: Path) -> None:
    """Note which folder was loaded: the runner fingerprints it in the stamp, a saved measurement in its key."""
    folder = path.resolve()
    embedded = folder.name if folder.parent == WEIGHTS_DIR.resolve() else None
    record(WEIGHTS_RECORD + name, {"folder": str(folder), "embedded": embedded})


def _with_source(model: DiffusionModel, source: str) -> DiffusionModel:
    model.source = source
    return model


def load(spec: str | os.PathLike, *, device: str | torch.device = "auto", dtype: torch.dtype | None = None,
         allow_download: bool = False) -> DiffusionModel:
    """Load an embedded model by name, a local diffusers folder, or a cached hub id; ``"<folder>=<hub id>"``
    loads a local folder under the hub id's name (its records then fill the paper's rows for that id).

    ``device="auto"`` uses CUDA when available. ``allow_download=True`` lets a hub id be
    fetched from the network (never needed for the embedded models).

    The folder's scheduler config (any DDPM beta schedule: DDPM, DDIM, PNDM, ...) gives antinb's DDIM and
    DDPM samplers their schedule, timestep offset and clipping; a text-to-image model never clips its
    latents, as ``StableDiffusionPipeline`` never does.
    """
    dev = resolve_device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}: CUDA is not available on this machine; use device='cpu' or 'auto'")
    if isinstance(dtype, str) and isinstance(getattr(torch, dtype.removeprefix("torch."), None), torch.dtype):
        dtype = getattr(torch, dtype.removeprefix("torch."))  # "float16" means torch.float16
    if dtype is not None and (not isinstance(dtype, torch.dtype) or not dtype.is_floating_point):
        raise ValueError(f"dtype={dtype!r} must be a floating torch dtype (torch.float16, 'float32', ...)")
    spec_str = os.fspath(spec)
    if "=" in spec_str and not Path(spec_str).expanduser().exists():
        # "<folder>=<hub id>": a local copy declared to stand for a hub id, so its records use that id
        folder, _, alias = spec_str.partition("=")
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise ModelNotFoundError(f"{spec_str!r}: {folder!r} is not a folder (the form is <folder>=<hub id>)")
        if not alias or alias.count("/") != 1:
            raise ValueError(f"{spec_str!r}: {alias!r} is not a hub id (the form is <folder>=<owner>/<name>)")
        return _with_source(_load_folder(path, alias, dev, dtype), str(path.resolve()))
    if spec_str in EMBEDDED:
        return _with_source(_load_folder(weights_dir(spec_str), spec_str, dev, dtype), spec_str)
    path = Path(spec_str).expanduser()
    if path.is_dir():
        return _with_source(_load_folder(path, path.name, dev, dtype), str(path.resolve()))
    parts = spec_str.split("/")
    if len(parts) == 2 and all(parts) and not spec_str.startswith((".", "/", "~")):
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
        try:
            folder = snapshot_download(spec_str, local_files_only=not allow_download)
        except (LocalEntryNotFoundError, OSError, ValueError) as err:
            raise ModelNotFoundError(
                f"model {spec_str!r} is not in the local Hugging Face cache ({_hub_cache_dir()}). "
                f"On a machine with internet run `hf download {spec_str}` and copy the cache "
                "(or set HF_HOME to it), pass a local diffusers folder, call "
                f"load({spec_str!r}, allow_download=True) where the hub is reachable, or use an embedded "
                f"model: {available()}") from err
        return _with_source(_load_folder(Path(folder), spec_str, dev, dtype), spec_str)
    raise ValueError(f"spec={spec_str!r} is not an embedded model name, a local folder or a hub id "
                     f"'owner/name'; embedded models: {available()}")


def _declared(spec_str: str) -> tuple[str, str] | None:
    """``(folder, hub id)`` of a ``"<folder>=<hub id>"`` spec (see :func:`load`), else ``None``."""
    if "=" in spec_str and not Path(spec_str).expanduser().exists():
        folder, _, alias = spec_str.partition("=")
        return folder, alias
    return None


def name_of(spec: "DiffusionModel | str | os.PathLike") -> str:
    """The ``name`` :func:`load` gives the model of ``spec`` (a loaded model's own), without loading it:
    an embedded name or hub id as it is, a local folder's last component, the hub id of
    ``"<folder>=<hub id>"``."""
    if isinstance(spec, DiffusionModel):
        return spec.name
    spec_str = os.fspath(spec)
    if _declared(spec_str):
        return _declared(spec_str)[1]
    path = Path(spec_str).expanduser()
    return path.name if spec_str not in EMBEDDED and path.is_dir() else spec_str


def _folder_of(spec_str: str) -> Path | None:
    """The model folder :func:`load` would read for ``spec_str``; ``None`` when it is not on this machine."""
    if spec_str in EMBEDDED:
        return weights_dir(spec_str)
    folder = Path(_declared(spec_str)[0] if _declared(spec_str) else spec_str).expanduser()
    if folder.is_dir():
        return folder
    if len(spec_str.split("/")) == 2 and not spec_str.startswith((".", "/", "~")):
        from huggingface_hub import snapshot_download
        try:
            return Path(snapshot_download(spec_str, local_files_only=True))
        except Exception:  # not cached (or not a valid id)
            return None
    return None


def unet_config(spec: str | os.PathLike) -> dict[str, Any]:
    """The network's ``unet/config.json`` of an embedded model, local folder or cached hub id; no weight
    is read. Raises :class:`ModelNotFoundError` when it is not on this machine."""
    spec_str = os.fspath(spec)
    folder = _folder_of(spec_str)
    if folder is None:
        raise ModelNotFoundError(f"model {spec_str!r} is neither a local folder nor in the local Hugging Face "
                                 f"cache ({_hub_cache_dir()})")
    config = folder / "unet" / "config.json"
    if not config.is_file():
        raise ModelNotFoundError(f"{spec_str}: no unet/config.json (not a diffusers model folder)")
    return _read_json(config)


def text_conditioned(spec: "DiffusionModel | str | os.PathLike") -> bool:
    """Whether the model of ``spec`` has a text encoder (samples prompts), read from its folder's layout
    without loading it as :func:`load` reads it. A hub id not on this machine is judged by its name
    (a ``stable-diffusion`` repository is text-to-image), which is all there is to go by."""
    if isinstance(spec, DiffusionModel):
        return spec.text_encoder is not None
    spec_str = os.fspath(spec)
    folder = _folder_of(spec_str)
    if folder is None:
        return "stable-diffusion" in spec_str.lower()
    index = folder / "model_index.json"
    return "text_encoder" in (_read_json(index) if index.exists() else {}) or (folder / "text_encoder").is_dir()


def dataset_of(model: DiffusionModel | str | os.PathLike) -> str | None:
    """The data set a model was trained on: ``config.dataset`` of the ``training.json`` that
    ``antinb train`` writes beside the weights, read for an embedded model, a loaded folder
    (``model.source``) or a model folder given as a path.

    ``None`` for models without a training record (hub ids, other folders): there is no offline
    held-out split or quality classifier for them.
    """
    if isinstance(model, (str, os.PathLike)):
        folder = Path(model)
    else:
        card = getattr(model, "card", None) or {}
        if isinstance(card.get("dataset"), str):
            return card["dataset"]
        source = getattr(model, "source", None)
        folder = weights_dir(model.name) if model.name in EMBEDDED else Path(source) if source else None
    record = folder / "training.json" if folder is not None else None
    if record is not None and record.is_file():
        return json.loads(record.read_text()).get("config", {}).get("dataset")
    return None
