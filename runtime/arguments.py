"""Argument types and output-path checks shared by `localmup` and the generated trainers."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .data import MAX_SEED

# Learning rates outside this range overflow or vanish in float32 once the width factors
# m^(+-c) multiply them.
SMALLEST_LR, LARGEST_LR = 1e-30, 1e30


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
    if not SMALLEST_LR <= value <= LARGEST_LR:
        raise argparse.ArgumentTypeError(f"expected a learning rate between {SMALLEST_LR:g} and {LARGEST_LR:g}, got {value}")
    return value


def seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a seed from 0 to {MAX_SEED}, got {value}")
    return value


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
