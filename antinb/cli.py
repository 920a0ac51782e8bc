"""The ``antinb`` command line: ``antinb train``, ``models``, ``card``, ``run``, ``generate``, ``bench``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields

__all__ = ["main"]


def _say(text: str) -> None:
    """One line on stderr (a closed stderr is ignored: the exit status still tells)."""
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _fail(command: str, err: BaseException) -> int:
    """Bad input: one line naming the parameter on stderr, exit status 2 (no traceback)."""
    text = " ".join(str(err).split()) or type(err).__name__
    _say(f"antinb {command}: {text}")
    return 2


def _broke(command: str, err: BaseException) -> int:
    """A failure of the machine or of a worker, not of the input (disk full, a file that cannot be written, a
    killed worker): one line naming what failed, exit status 1; what was written before is kept."""
    text = " ".join(str(err).split()) or type(err).__name__
    _say(f"antinb {command}: {text}")
    return 1


def _folder_arg(flag: str, value: str | os.PathLike) -> None:
    """A folder argument must be a folder or not exist yet, and lie under folders: ``ValueError`` naming the flag
    (checked before any model loads)."""
    from pathlib import Path

    path = Path(value)
    for q in (path, *path.parents):
        if q.exists():
            if not q.is_dir():
                where = "is a file" if q == path else f"lies under {q}, which is a file"
                raise ValueError(f"{flag} {value} {where}, not a folder")
            return


def _file_arg(flag: str, value: str | os.PathLike) -> None:
    """A file argument (to write) must not be a folder, and its parents must be folders."""
    from pathlib import Path

    path = Path(value)
    if path.is_dir():
        raise ValueError(f"{flag} {value} is a folder; give a file path")
    _folder_arg(flag, path.parent)


def _step_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of step counts") from None


def _train(args: argparse.Namespace) -> int:
    from .data import DatasetNotFoundError
    from .training import TrainConfig, train

    try:
        cfg = TrainConfig(dataset=args.dataset, conditional=args.conditional, architecture=args.architecture,
                          steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                          max_minutes=args.max_minutes, threads=args.threads, snapshots=tuple(args.snapshots))
        cfg.validate()
        _folder_arg("--out", args.out)
    except (ValueError, DatasetNotFoundError) as err:
        return _fail("train", err)
    try:
        out = train(cfg, args.out)
    except (ValueError, DatasetNotFoundError) as err:
        return _fail("train", err)
    except OSError as err:
        return _broke("train", err)
    print(json.dumps({k: v for k, v in json.loads((out / "training.json").read_text()).items()
                      if k != "loss_curve"}, indent=1))
    return 0


def _models(args: argparse.Namespace) -> int:
    from .models import EMBEDDED

    for name, desc in sorted(EMBEDDED.items()):
        print(f"{name:24s} {desc}")
    return 0


def _check_device(device: str) -> None:
    import torch

    from .models import resolve_device

    if resolve_device(device).type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available on this machine; use --device cpu or auto")


def _card(args: argparse.Namespace) -> int:
    from ._checks import check_int
    from .book.cards import read_training, write_card

    try:
        for name in ("pairs", "steps", "per_class"):
            check_int(f"--{name.replace('_', '-')}", getattr(args, name), 1)
        if not args.guidance_scales or any(not 1 <= w < float("inf") for w in args.guidance_scales):
            raise ValueError(f"--guidance-scales {args.guidance_scales} must be finite scales >= 1")
        read_training(args.folder)  # missing, corrupt or incomplete training.json: named, before the model loads
        write_card(args.folder, pairs=args.pairs, steps=args.steps, per_class=args.per_class,
                   guidance_scales=tuple(args.guidance_scales))
    except (ValueError, FileNotFoundError) as err:
        return _fail("card", err)
    except OSError as err:
        return _broke("card", err)
    return 0


def _run(args: argparse.Namespace) -> int:
    from .book.runner import NOTEBOOK_DIR, NotebookError, notebook_parameters, notebooks, resolve, run_cli

    overrides = list(args.p or [])
    try:
        if args.cell_timeout is not None and not args.cell_timeout > 0:
            raise ValueError(f"--cell-timeout {args.cell_timeout} must be a number of seconds > 0")
        if args.output_dir is not None:
            _folder_arg("--output-dir", args.output_dir)
        if args.processes is not None:
            if args.processes < 1:
                raise ValueError(f"--processes {args.processes} must be at least 1")
            sources = ([NOTEBOOK_DIR / f"{n}.py" for n in notebooks()] if args.notebook == "all"
                       else [resolve(args.notebook)])
            names = [src.stem for src in sources]
            having = [src.stem for src in sources if "processes" in notebook_parameters(src)]
            if not having:
                raise ValueError(f"--processes needs a notebook with a 'processes' parameter; "
                                 f"{', '.join(names)} has none (notebooks that have one: "
                                 f"{[n for n in notebooks() if 'processes' in notebook_parameters(NOTEBOOK_DIR / f'{n}.py')]})")
            overrides = [o for o in overrides if o[0] != "processes"] + [["processes", str(args.processes)]]
        if args.dry_run:
            return _dry_run(args.notebook, args.profile, overrides)
        return run_cli(args.notebook, profile=args.profile, overrides=overrides, output_dir=args.output_dir,
                       stale_only=args.stale_only, cell_timeout=args.cell_timeout)
    except (NotebookError, ValueError, FileNotFoundError) as err:
        return _fail("run", err)
    except OSError as err:
        return _broke("run", err)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" + (f" ({seconds / 3600:.1f} h)" if seconds >= 7200 else "")


def _dry_run(notebook: str, profile: str, overrides: list[list[str]]) -> int:
    """``antinb run --dry-run``: one line per chapter and model, then the total; nothing is loaded or run."""
    from .book.runner import dry_run

    rows = dry_run(notebook, profile, overrides)
    for r in rows:
        time = (f"about {_minutes(r['seconds'])} here ({r['device']}, bench {r['bench']})" if r["bench"] else
                f"time unknown (no bench report for {r['model']} on {r['device']})")
        print(f"{r['notebook']} [{r['profile']}] {r['model']}: {r['evaluations']:,} network evaluations, {time}")
    known = [r for r in rows if r["bench"]]
    total = f"total [{profile}]: {sum(r['evaluations'] for r in rows):,} network evaluations"
    if known:
        total += f", about {_minutes(sum(r['seconds'] for r in known))} here"
    if len(known) < len(rows):
        total += f"{' plus' if known else ','} time unknown for {len(rows) - len(known)} of {len(rows)} chapter/model runs"
    print(total + " (dry run: nothing was loaded or executed)")
    unknown: dict[str, list[str]] = {}
    for r in rows:
        if not r["bench"] and r["model"] not in unknown.setdefault(r["device"], []):
            unknown[r["device"]].append(r["model"])
    for device, names in unknown.items():  # how to turn "time unknown" into a time
        print(f"to put a time on them, bench the models on a machine with that device once (the dry run reads the "
              f"report it writes in benchmarks/results/; --only throughput updates an existing one): "
              f"antinb bench --device {device} {' '.join(names)}")
    return 0


def _prompt_texts(prompts: str) -> tuple[str, ...]:
    from pathlib import Path

    from .prompts import resolve

    path = Path(prompts).expanduser()
    if path.is_file():  # a corrupt file is named (the reader's UnicodeDecodeError does not)
        try:
            path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"--prompts {prompts}: the file is not UTF-8 text (byte {err.start}: "
                             f"{err.object[err.start:err.start + 1]!r})") from None
        except OSError as err:
            raise ValueError(f"--prompts {prompts}: the file cannot be read ({err.strerror})") from None
    pset = resolve(prompts)
    if pset is None:
        raise ValueError("--prompts is empty")
    return pset.texts


def _generate(args: argparse.Namespace) -> int:
    from . import noise, stats
    from .generate import GenerationSpec, generate
    from .generate import WorkerError
    from .models import ModelNotFoundError

    try:
        _folder_arg("--store", args.store)
        spec = GenerationSpec(model=args.model, design=args.design, n=args.n, k=args.k, replicates=args.replicates,
                              seed=args.seed, sampler=args.sampler, steps=args.steps, eta=args.eta,
                              labels=args.labels, guidance_scale=args.guidance_scale,
                              prompts=None if args.prompts is None else tuple(_prompt_texts(args.prompts)),
                              statistics=tuple(args.statistics or ()), keep_images=args.keep_images,
                              chunk_groups=args.chunk_groups)
        if not 0 < args.level < 1:
            raise ValueError(f"--level {args.level} must be in (0, 1)")
        out, store = generate(spec, args.store, processes=args.processes, device=args.device,
                              max_batch_size=args.max_batch_size, threads=args.threads,
                              progress=not args.no_progress, return_store=True)
    except (ValueError, ModelNotFoundError) as err:
        return _fail("generate", err)
    except (OSError, WorkerError) as err:  # disk full, a file that cannot be written, a worker killed
        return _broke("generate", err)
    from .generate import _in_distributed_launch
    if _in_distributed_launch() and int(os.environ.get("RANK", "0")) != 0:
        return 0  # under accelerate launch: one summary, from the main process
    design = noise.DESIGNS[spec.design]
    extra = design.kwargs(spec.k if design.param == "k" else spec.replicates)
    summary = {"store": str(store.folder), "chunks": store.n_chunks, "n": spec.n, "config": store.config,
               "statistics": {}}
    for s in spec.statistics:
        est = stats.estimate_ci(out[s], design.method, level=args.level, **extra)
        summary["statistics"][s] = {"estimate": est.estimate, "ci_low": est.ci_low, "ci_high": est.ci_high,
                                    "method": est.method, "n_units": est.n_units, "level": est.level}
    if spec.keep_images:
        summary["images"] = list(out["images"].shape)
    print(json.dumps(summary, indent=1))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from ._checks import check_int
    from .book.bench import markdown, run

    try:
        for name in ("batch", "steps", "repeats"):
            check_int(f"--{name}", getattr(args, name), 1)
        for b in args.batch_sizes:
            check_int("--batch-sizes", b, 1)
        for t in args.threads or ():
            check_int("--threads", t, 1)
        _check_device(args.device)
        if args.out is not None:
            _file_arg("--out", args.out)
        report = run(args.models or None, device=args.device, batch=args.batch, steps=args.steps,
                     repeats=args.repeats, batch_sizes=tuple(args.batch_sizes),
                     threads=tuple(args.threads) if args.threads else None,
                     options=tuple(args.options) if args.options is not None else None, notebooks=args.notebooks,
                     out=args.out, only=tuple(args.only) if args.only else None)
    except (ValueError, FileNotFoundError) as err:
        return _fail("bench", err)
    except OSError as err:
        return _broke("bench", err)
    print(markdown(report))
    print(f"report written to {report['path']}")
    return 0


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line naming the argument (exit status 2), not the usage text."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="antinb", description=__doc__)
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
    t.add_argument("--snapshots", type=_step_list, default=(),
                   help="comma-separated steps at which to export the EMA weights (0: the initialisation)")
    t.set_defaults(func=_train)

    m = sub.add_parser("models", help="list the embedded models")
    m.set_defaults(func=_models)

    c = sub.add_parser("card", help="measure quality and antithetic checks and write a model card")
    c.add_argument("folder")
    c.add_argument("--pairs", type=int, default=256)
    c.add_argument("--steps", type=int, default=50)
    c.add_argument("--per-class", type=int, default=30, help="conditional samples per class for the accuracy")
    c.add_argument("--guidance-scales", type=float, nargs="+", default=[1.0, 3.0], metavar="W",
                   help="classifier-free guidance scales of the accuracy (1 = plain conditional; the first is the headline)")
    c.set_defaults(func=_card)

    r = sub.add_parser("run", help="execute notebooks with papermill under a parameter profile")
    r.add_argument("notebook", help="a notebook name or path, or 'all'")
    r.add_argument("--profile", default="ci", help="ci | book | full, or a YAML file")
    r.add_argument("-p", nargs=2, action="append", metavar=("NAME", "VALUE"), help="override a parameter")
    r.add_argument("--output-dir", default=None,
                   help="where executed notebooks go (default: book/executed for the book profile without -p "
                        "overrides, the copies the book publishes; _build/runs/<profile> otherwise)")
    r.add_argument("--stale-only", action="store_true", help="skip notebooks whose executed copy is fresh")
    r.add_argument("--cell-timeout", type=float, default=None, metavar="SECONDS",
                   help="fail a notebook whose any one cell runs longer than this (default: no limit)")
    r.add_argument("--processes", type=int, default=None,
                   help="= -p processes N: generation workers (accelerate) for notebooks with that parameter")
    r.add_argument("--dry-run", action="store_true",
                   help="print each chapter's network evaluations per model and a time estimate from the committed "
                        "bench report of its device; loads no weights, runs nothing")
    r.set_defaults(func=_run)

    from .metrics import STATISTICS
    from .noise import DESIGNS
    from .sampling import SAMPLERS
    g = sub.add_parser("generate", help="sharded, resumable generation of image statistics into a sample store")
    g.add_argument("--model", required=True, help="embedded model name, diffusers folder or cached hub id")
    g.add_argument("--design", required=True, choices=sorted(DESIGNS))
    g.add_argument("--n", type=int, required=True, help="number of images (a multiple of the group size)")
    g.add_argument("--k", type=int, default=None, help="simplex group size (default 4)")
    g.add_argument("--replicates", type=int, default=None, help="RQMC replicates (default 16)")
    g.add_argument("--statistics", nargs="+", default=[], choices=sorted(STATISTICS), metavar="NAME",
                   help=f"statistics to keep: {', '.join(sorted(STATISTICS))}")
    g.add_argument("--keep-images", action="store_true", help="store the images too")
    g.add_argument("--store", required=True, help="root folder of the sample stores")
    g.add_argument("--processes", type=int, default=1, help="workers started with accelerate launch")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--sampler", default="ddim", choices=sorted(SAMPLERS))
    g.add_argument("--steps", type=int, default=50)
    g.add_argument("--eta", type=float, default=None)
    g.add_argument("--labels", type=int, default=None, help="class label for class-conditional models")
    g.add_argument("--prompts", default=None,
                   help="text-to-image models: a prompt file (one per line) or a shipped set (antinb-16); "
                        "every group of the design shares one prompt")
    g.add_argument("--guidance-scale", type=float, default=None)
    g.add_argument("--chunk-groups", type=int, default=None, help="groups per chunk (default: about 64 images)")
    g.add_argument("--level", type=float, default=0.95, help="confidence level of the printed intervals")
    g.add_argument("--device", default="auto")
    g.add_argument("--max-batch-size", type=int, default=256)
    g.add_argument("--threads", type=int, default=None, help="torch threads per worker (default CPUs / processes)")
    g.add_argument("--no-progress", action="store_true")
    g.set_defaults(func=_generate)

    b = sub.add_parser("bench", help="measure sampler speed (vs diffusers, PN vs RR, UNet share, throughput)")
    b.add_argument("models", nargs="*", help="model names or folders (default: every embedded model)")
    b.add_argument("--device", default="auto")
    b.add_argument("--batch", type=int, default=64, help="batch size of the comparisons")
    b.add_argument("--steps", type=int, default=20, help="DDIM steps of the comparisons")
    b.add_argument("--repeats", type=int, default=7)
    b.add_argument("--batch-sizes", type=int, nargs="+", default=[2, 8, 32, 128], help="throughput grid (even: whole pairs)")
    b.add_argument("--threads", type=int, nargs="+", default=None, help="throughput grid (default 1 and all cores)")
    b.add_argument("--options", nargs="*", default=None,
                   help="speed options to compare: channels_last fp16 bf16 compile (default: by device)")
    b.add_argument("--notebooks", action="store_true", help="also time every notebook under the ci profile")
    b.add_argument("--out", default=None, help="report path (default benchmarks/results/<device>.json)")
    b.add_argument("--only", nargs="+", default=None, metavar="PART",
                   help="re-measure only these parts (pipeline pairing unet_share throughput options notebooks) "
                        "and update the existing report")
    b.set_defaults(func=_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status. Ctrl-C, SIGTERM and SIGHUP end it with one line and exit status
    ``128 + signal`` (130 for Ctrl-C) after every cleanup has run (temporary folders removed, workers
    stopped); what was written before is kept, and the same command resumes."""
    from ._signals import describe, exit_status, signals_as_interrupts, silence

    args = build_parser().parse_args(argv)
    # an interrupted notebook run leaves papermill's event loop mid-task: what its kernel client and asyncio
    # would log about the kernel it stops (a "Kernel died" line, a DeadKernelError traceback at exit) is not news
    quiet = ("papermill", "nbclient", "traitlets", "asyncio") if args.command == "run" else ()
    try:
        with signals_as_interrupts(quiet=quiet):
            return args.func(args)
    except KeyboardInterrupt as err:
        silence(quiet)
        _say(f"antinb {args.command}: interrupted ({describe(err)}); what was written is kept, the same command "
             "resumes")
        return exit_status(err)


if __name__ == "__main__":
    sys.exit(main())
