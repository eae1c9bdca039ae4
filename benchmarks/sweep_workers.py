"""Time the same sweep with 1 and with 2 worker processes.

A 5-width x 8-rate x 2-seed sweep of specs/bp_mlp_mup.lmu (widths 64..1024, learning
rates 2^-6..2^1, 300 steps per run as in the sweep default, one torch thread per worker),
each into a fresh directory, so nothing is resumed.

    python benchmarks/sweep_workers.py [--steps 300]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from localmup.compiler.ir import load_spec
from localmup.sweepcmd import run_sweep

WIDTHS = (64, 128, 256, 512, 1024)
LRS = tuple(2.0**k for k in range(-6, 2))


def timed(workers: int, steps: int) -> tuple[float, dict]:
    ir = load_spec("specs/bp_mlp_mup.lmu")
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        summary = run_sweep(ir, widths=WIDTHS, lrs=LRS, seeds=2, steps=steps, workers=workers, out=Path(directory))
        return time.perf_counter() - started, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    one, first = timed(1, args.steps)
    two, second = timed(2, args.steps)
    best_one = [w["best_lr"] for w in first["widths"]]
    best_two = [w["best_lr"] for w in second["widths"]]
    print(f"{first['runs']} runs of {args.steps} steps: 1 worker {one:.1f} s, 2 workers {two:.1f} s, speedup {one / two:.2f}x")
    print(f"best learning rates agree between the two: {best_one == best_two} ({best_one})")


if __name__ == "__main__":
    main()
