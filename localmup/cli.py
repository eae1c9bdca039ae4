"""The `localmup` command line: check, compile, train and graph a spec.

    localmup check SPEC [--json]            stability, regime and muP verdicts (exit 1 if unstable)
    localmup compile SPEC -o FILE.py        a readable standalone PyTorch trainer
    localmup train SPEC [--out DIR]         train on the spec's data; metrics and summary in DIR
    localmup graph SPEC --format dot|json   the graph IR

Exit statuses: 0 success, 1 failed verdict or measurement, 2 invalid spec or usage,
3 run failed at run time (non-finite loss, missing data).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from . import commands
from .compiler.errors import SpecError
from .runtime import arguments
from .runtime.data import DataError
from .runtime.errors import ConfigurationError, RunError, out_of_memory_message
from .runtime.trainer import RunOptions


# File types that matplotlib writes.
PLOT_FORMATS = {".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff", ".webp"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="localmup",
        description="Spec compiler and simulator for width-scaled local learning (bp, pc, tp) and muP.",
        epilog="Exit statuses: 0 success, 1 failed verdict, 2 invalid spec or usage, 3 run failed.",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_spec(command):
        command.add_argument("spec", metavar="SPEC", help="spec file (.lmu)")
        command.add_argument("--width", type=arguments.positive_int, default=None, help="width n, overriding the spec's")

    check = sub.add_parser("check", help="check the parameterization: stability, regime, muP")
    add_spec(check)
    check.add_argument("--json", action="store_true", help="print one JSON document")

    compile_ = sub.add_parser("compile", help="generate a PyTorch trainer module (runs on its own where localmup is installed)")
    add_spec(compile_)
    compile_.add_argument("-o", "--output", metavar="FILE.py", default=None, help="output file (default: stdout)")

    train = sub.add_parser("train", help="train on the spec's data")
    add_spec(train)
    arguments.add_run_options(train, out_help="results directory (default runs/SPEC-nWIDTH)")
    train.add_argument("--threads", type=arguments.thread_count, default=None, help="torch threads (default: torch's, one per core)")
    train.add_argument("--eval-every", type=arguments.positive_int, default=None, help="steps between test evaluations")

    coord = sub.add_parser("coord", help="measure width-scaling slopes against the checker's predictions")
    add_spec(coord)
    coord.add_argument("--widths", type=arguments.positive_int, nargs="+", default=None, help="widths n (default from the spec's coord block)")
    coord.add_argument("--steps", type=arguments.positive_int, default=None, help="training steps T; t = 0..T are measured")
    coord.add_argument("--seeds", type=arguments.positive_int, default=None, help="seeds per width")
    coord.add_argument("--lr", type=arguments.learning_rate, default=None, help="global learning rate eta at the base width")
    coord.add_argument("--json", action="store_true", help="print one JSON document")
    coord.add_argument("--plot", metavar="FILE.png", default=None, help="write a log-log plot, one panel per step")
    coord.add_argument("--scales", action="store_true", help="list the std, multiplier and learning rate of every parameter")
    coord.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu", help="device (default cpu)")
    coord.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="floating-point type")
    coord.add_argument("--threads", type=arguments.thread_count, default=None, help="torch threads (default: torch's, one per core)")

    sweep = sub.add_parser("sweep", help="learning-rate x width x seed sweep, parallel and resumable")
    add_spec(sweep)
    sweep.add_argument("--widths", type=arguments.positive_int, nargs="+", default=None, help="widths n (default from the spec's sweep block)")
    sweep.add_argument("--lr", nargs="+", default=None, metavar="LR", help="learning rates: numbers, or a range 2^[-8..6]")
    sweep.add_argument("--seeds", type=arguments.positive_int, default=None, help="seeds per (width, lr)")
    sweep.add_argument("--steps", type=arguments.positive_int, default=None, help="training steps per run")
    sweep.add_argument("--workers", type=arguments.positive_int, default=None, help="worker processes (default: the number of cores)")
    sweep.add_argument("--threads", type=arguments.thread_count, default=1, help="torch threads per worker (default 1)")
    sweep.add_argument("--out", default=None, help="results directory (default runs/SPEC-sweep); rerun with it to resume")
    sweep.add_argument("--plot", metavar="FILE.png", default=None, help="plot loss against learning rate, one curve per width")
    sweep.add_argument("--json", action="store_true", help="print the summary as JSON")
    sweep.add_argument("--backend", choices=("local", "ray"), default="local", help="worker processes here, or a Ray cluster")
    sweep.add_argument("--address", default=None, help="Ray cluster address (host:port), for --backend ray")

    graph = sub.add_parser("graph", help="print the graph IR")
    add_spec(graph)
    graph.add_argument("--format", choices=("dot", "json"), default="dot", help="output format")
    return parser


def run(args: argparse.Namespace) -> int:
    if args.command in ("train", "coord") and args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    if args.command == "check":
        return commands.check_command(args.spec, args.width, args.json)
    if args.command == "compile":
        return commands.compile_command(args.spec, args.width, args.output)
    if args.command == "coord":
        return commands.coord_command(
            args.spec, args.width, args.widths, args.steps, args.seeds, args.lr, args.json, args.plot, args.device,
            args.dtype, args.scales,
        )
    if args.command == "sweep":
        return commands.sweep_command(args)
    if args.command == "graph":
        return commands.graph_command(args.spec, args.width, args.format)
    if args.command == "train":
        options = RunOptions(
            width=args.width,
            steps=args.steps,
            epochs=args.epochs,
            batch=args.batch,
            seed=args.seed,
            lr=args.lr,
            device=args.device,
            dtype=args.dtype,
            eval_every=args.eval_every,
            out=None if args.out is None else Path(args.out),
            progress=sys.stderr.isatty(),
        )
        return commands.train_command(args.spec, options)
    raise AssertionError(args.command)


def _check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject option combinations that argparse cannot express (exit status 2)."""
    if args.command in ("coord", "sweep") and args.width is not None:
        parser.error(f"--width does not apply to {args.command}, which runs several widths; use --widths")
    if args.command == "train":
        arguments.check_run_options(parser, args)
    if args.command == "sweep" and args.address is not None and args.backend != "ray":
        parser.error("--address applies only to --backend ray")
    if args.command == "sweep" and args.workers is not None and args.backend == "ray":
        parser.error("--workers applies to the local backend; Ray places runs on the cluster's CPUs")
    for name in ("output", "plot"):
        value = getattr(args, name, None)
        if value is None:
            continue
        problem = arguments.unwritable_file(value)
        if problem:
            parser.error(f"cannot write {value!r}: {problem}")
    plot = getattr(args, "plot", None)
    if plot and Path(plot).suffix.lower() not in PLOT_FORMATS:
        parser.error(f"cannot write plot {plot}: use one of {', '.join(sorted(PLOT_FORMATS))}")
    if args.command == "sweep" and args.out is not None:
        problem = arguments.unwritable_directory(args.out)
        if problem:
            parser.error(f"--out {args.out!r}: {problem}")


def _json_error(error: SpecError) -> str:
    """Return a spec error as the JSON document that `--json` promises on stdout."""
    return json.dumps(
        {
            "path": error.path,
            "valid": False,
            "diagnostics": [
                {
                    "code": d.code,
                    "severity": d.severity,
                    "message": d.message,
                    "line": d.span.line or None,
                    "column": d.span.column or None,
                    "fix": d.fix,
                }
                for d in error.diagnostics
            ],
        },
        indent=2,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_arguments(parser, args)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return run(args)
    except SpecError as error:
        if getattr(args, "json", False):
            print(_json_error(error))
        print(error.format(), file=sys.stderr)
        return commands.INVALID
    except ConfigurationError as error:
        print(f"error: {error}", file=sys.stderr)
        return commands.INVALID
    except (DataError, RunError) as error:
        print(f"error: {error}", file=sys.stderr)
        return commands.RUN_FAILED
    except (MemoryError, RuntimeError) as error:
        message = out_of_memory_message(error)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return commands.RUN_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return commands.OK
    except OSError as error:
        # Files the command could not write or read, found only when it tried (a full disk,
        # a path under /proc). The OS message names the file where the call had one.
        print(f"error: {error}", file=sys.stderr)
        return commands.RUN_FAILED


if __name__ == "__main__":
    sys.exit(main())
