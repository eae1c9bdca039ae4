"""Argument types and output-path checks shared by `localmup` and the generated trainers."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..compiler.registry import LARGEST_MAGNITUDE, LARGEST_SEED, MAGNITUDE_RANGE, SMALLEST_MAGNITUDE


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def thread_count(text: str) -> int:
    value = positive_int(text)
    limit = 4 * (os.cpu_count() or 1)
    if value > limit:
        raise argparse.ArgumentTypeError(f"expected at most {limit} threads (4 per core), got {value}")
    return value


def learning_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not SMALLEST_MAGNITUDE <= value <= LARGEST_MAGNITUDE:
        raise argparse.ArgumentTypeError(
            f"expected a learning rate between {MAGNITUDE_RANGE}, got {value}"
        )
    return value


def seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value <= LARGEST_SEED:
        raise argparse.ArgumentTypeError(f"expected a seed from 0 to {LARGEST_SEED}, got {value}")
    return value


def add_run_options(parser: argparse.ArgumentParser, out_help: str) -> None:
    """Add the training options that `localmup train` and a generated trainer share."""
    parser.add_argument("--out", default=None, help=out_help)
    parser.add_argument("--steps", type=positive_int, default=None, help="training steps (default from the spec)")
    parser.add_argument("--epochs", type=positive_int, default=None, help="passes over the training set, instead of --steps")
    parser.add_argument("--batch", type=positive_int, default=None, help="batch size")
    parser.add_argument("--seed", type=seed, default=None, help="seed of init, data split and batch order")
    parser.add_argument("--lr", type=learning_rate, default=None, help="global learning rate eta at the base width")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="device (default from the spec)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default=None, help="floating-point type")


def check_run_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject what `add_run_options` cannot express alone; exit 2 through `parser.error`."""
    if args.steps is not None and args.epochs is not None:
        parser.error("give --steps or --epochs, not both")
    if args.out is not None:
        problem = unwritable_directory(args.out)
        if problem:
            parser.error(f"--out {args.out!r}: {problem}")


def unwritable_file(value: str) -> str | None:
    """Return why a file cannot be written at `value`, or None when it looks writable."""
    if not value:
        return "the path is empty"
    if value.endswith(("/", os.sep)):
        return "the path ends with a slash; give a file name"
    path = Path(value)
    if path.is_dir():
        return "it is a directory; give a file name"
    parent = path.resolve().parent
    if parent.exists() and not parent.is_dir():
        return f"{path.parent} is a file, not a directory"
    if not parent.is_dir():
        return f"directory {path.parent} does not exist"
    if not os.access(parent, os.W_OK):
        return f"directory {path.parent} is not writable"
    return None


def unwritable_directory(value: str) -> str | None:
    """Return why a results directory cannot be made or used at `value`, or None."""
    if not value:
        return "the path is empty; give a directory"
    path = Path(value).resolve()
    if path.exists() and not path.is_dir():
        return "it is a file; give a directory"
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, so no directory can be made below it"
    if not os.access(existing, os.W_OK):
        return f"directory {existing} is not writable"
    return None
