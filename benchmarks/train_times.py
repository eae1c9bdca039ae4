"""Train the three main specs at width 256 on digits and report accuracy and seconds.

    python benchmarks/train_times.py [--threads 1 2]

Runs `localmup.runtime.trainer.run` in this process for specs/bp_mlp_mup.lmu,
specs/pc_mlp_mup.lmu and specs/tp_mlp_mup.lmu with torch limited to each thread count.
"""

from __future__ import annotations

import argparse

import torch

from localmup.commands import load, trainer_module
from localmup.runtime.trainer import RunOptions, run

SPECS = ("specs/bp_mlp_mup.lmu", "specs/pc_mlp_mup.lmu", "specs/tp_mlp_mup.lmu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[torch.get_num_threads()])
    args = parser.parse_args()
    print("| spec | threads | test accuracy | train loss | training seconds | total seconds |")
    print("|---|---|---|---|---|---|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for path in SPECS:
            ir = load(path)
            summary = run(trainer_module(ir), RunOptions(width=256, device="cpu"))
            print(
                f"| {ir.name} | {threads} | {summary['test_accuracy']:.4f} | {summary['train_loss']:.4f} | "
                f"{summary['train_seconds']:.1f} | {summary['total_seconds']:.1f} |"
            )


if __name__ == "__main__":
    main()
