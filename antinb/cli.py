"""The ``antinb`` command line: ``antinb train``, ``antinb models``, ``antinb card``, ``antinb run``."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields

__all__ = ["main"]


def _train(args: argparse.Namespace) -> int:
    from .training import TrainConfig, train

    cfg = TrainConfig(dataset=args.dataset, conditional=args.conditional, architecture=args.architecture,
                      steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      max_minutes=args.max_minutes, threads=args.threads)
    out = train(cfg, args.out)
    print(json.dumps({k: v for k, v in json.loads((out / "training.json").read_text()).items()
                      if k != "loss_curve"}, indent=1))
    return 0


def _models(args: argparse.Namespace) -> int:
    from .models import EMBEDDED

    for name, desc in sorted(EMBEDDED.items()):
        print(f"{name:24s} {desc}")
    return 0


def _card(args: argparse.Namespace) -> int:
    from .cards import write_card

    write_card(args.folder, pairs=args.pairs, steps=args.steps, per_class=args.per_class)
    return 0


def _run(args: argparse.Namespace) -> int:
    from .runner import NotebookError, run_cli

    try:
        return run_cli(args.notebook, profile=args.profile, overrides=args.p or [], output_dir=args.output_dir,
                       stale_only=args.stale_only)
    except (NotebookError, ValueError) as err:
        print(f"antinb run: {err}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="antinb", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a small DDPM on an offline data set (resumable)")
    from .data import DATASETS
    from .training import ARCHITECTURES, TrainConfig
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    t.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    t.add_argument("--out", required=True, help="output folder (resumes from its checkpoint.pt)")
    t.add_argument("--conditional", action="store_true", help="class-conditional with label dropout")
    t.add_argument("--architecture", choices=sorted(ARCHITECTURES), default=defaults["architecture"])
    t.add_argument("--steps", type=int, default=defaults["steps"])
    t.add_argument("--batch-size", type=int, default=defaults["batch_size"])
    t.add_argument("--lr", type=float, default=defaults["lr"])
    t.add_argument("--seed", type=int, default=defaults["seed"])
    t.add_argument("--max-minutes", type=float, default=None, help="stop (resumably) after this wall time")
    t.add_argument("--threads", type=int, default=None)
    t.set_defaults(func=_train)

    m = sub.add_parser("models", help="list the embedded models")
    m.set_defaults(func=_models)

    c = sub.add_parser("card", help="measure quality and antithetic checks and write a model card")
    c.add_argument("folder")
    c.add_argument("--pairs", type=int, default=256)
    c.add_argument("--steps", type=int, default=50)
    c.add_argument("--per-class", type=int, default=30, help="conditional samples per class for the accuracy")
    c.set_defaults(func=_card)

    r = sub.add_parser("run", help="execute notebooks with papermill under a parameter profile")
    r.add_argument("notebook", help="a notebook name or path, or 'all'")
    r.add_argument("--profile", default="ci", help="ci | book | full, or a YAML file")
    r.add_argument("-p", nargs=2, action="append", metavar=("NAME", "VALUE"), help="override a parameter")
    r.add_argument("--output-dir", default=None, help="where executed notebooks go (default book/executed)")
    r.add_argument("--stale-only", action="store_true", help="skip notebooks whose executed copy is fresh")
    r.set_defaults(func=_run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
