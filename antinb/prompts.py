"""Prompt sets for text-to-image models, and the record key that carries a run's conditioning.

A prompt set is given as ``None`` or ``""`` (unprompted), a list of strings, the path of a text file
(one prompt per line; ``#`` starts a comment), or the name of a set shipped with antinb
(:data:`SHIPPED`: ``antinb-16``, sixteen prompts written for this project). The paper's sources
(COCO captions, DrawBench, Pick-a-Pic) are not redistributable here: point ``prompts`` at your copy;
a file whose name contains ``drawbench``, ``pick`` or ``coco`` is recognised as that source, so its
numbers land in the paper's row for it.

Both members of a pair (all members of a group) share a prompt: group ``g`` gets prompt
``g mod len(set)`` (:meth:`PromptSet.for_groups`).

:func:`model_key` is the ``{model}`` field of every record: the model's name for an unconditional or
class-conditional model, ``<name>:<prompt set>:w=<guidance>`` for a prompted text-to-image run and
``<name>:unprompted`` for an unprompted one, so an unprompted run can never fill a prompted paper row.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

__all__ = ["SHIPPED", "PromptSet", "resolve", "model_key", "split_key", "SOURCES"]

#: Folder of the prompt sets shipped with the package.
_DIR = Path(__file__).resolve().parent / "prompt_sets"
#: Names of the shipped sets.
SHIPPED: tuple[str, ...] = tuple(sorted(p.stem for p in _DIR.glob("*.txt")))
#: Recognised paper sources: a substring of a prompt file's name -> the source's name in antinb.paper.
SOURCES: dict[str, str] = {"drawbench": "drawbench", "pick": "pick-a-pic", "coco": "coco"}


@dataclass(frozen=True)
class PromptSet:
    """A named, ordered list of prompts."""

    name: str
    texts: tuple[str, ...]

    def for_groups(self, n_groups: int, group_size: int) -> list[str]:
        """One prompt per row for ``n_groups`` groups of ``group_size`` rows: group ``g`` gets prompt ``g mod P``."""
        return [self.texts[g % len(self.texts)] for g in range(n_groups) for _ in range(group_size)]


def _read(path: Path) -> tuple[str, ...]:
    lines = [ln.split("#", 1)[0].strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    return tuple(ln for ln in lines if ln)


def resolve(prompts: str | os.PathLike | Sequence[str] | PromptSet | None) -> PromptSet | None:
    """The :class:`PromptSet` of ``prompts`` (see the module docstring); ``None`` for unprompted."""
    if prompts is None or isinstance(prompts, PromptSet):
        return prompts
    if isinstance(prompts, (str, os.PathLike)):
        text = os.fspath(prompts)
        if text == "":
            return None
        if text in SHIPPED:
            return PromptSet(text, _read(_DIR / f"{text}.txt"))
        path = Path(text).expanduser()
        if path.is_file():
            texts = _read(path)
            if not texts:
                raise ValueError(f"prompts={text!r}: the file holds no prompt")
            stem = path.stem.lower()
            name = next((src for key, src in SOURCES.items() if key in stem), path.stem)
            return PromptSet(name.replace(":", "-").replace("/", "-"), texts)
        raise ValueError(f"prompts={text!r} is neither a prompt file nor a shipped set; shipped sets: "
                         f"{list(SHIPPED)} (or give a list of strings)")
    texts = tuple(prompts)
    if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise ValueError("prompts must be a non-empty list of non-empty strings")
    return PromptSet(f"list{len(texts)}", texts)


def model_key(name: str, *, text_conditioned: bool, prompts: PromptSet | None = None,
              guidance_scale: float | None = None) -> str:
    """The ``{model}`` field of a run's records (see the module docstring)."""
    if not text_conditioned:
        return name
    if prompts is None:
        return f"{name}:unprompted"
    return f"{name}:{prompts.name}:w={guidance_scale:g}" if guidance_scale is not None else f"{name}:{prompts.name}"


def split_key(key: str) -> tuple[str, str | None, float | None]:
    """``model_key``'s inverse: ``(model, prompt set or "unprompted" or None, guidance or None)``."""
    parts = key.split(":")
    w = None
    if len(parts) >= 3 and parts[-1].startswith("w="):
        w = float(parts.pop()[2:])
    if len(parts) >= 2:
        return ":".join(parts[:-1]), parts[-1], w
    return key, None, w
