"""Time and compare localmup's coordinate check with microsoft/mup's on the same MLP.

The MLP has 64 inputs (digits), three tanh hidden layers of width n and 10 outputs, MSE loss,
SGD at learning rate 0.1; widths 256..2048, 4 seeds, 3 steps, one fixed batch of 64 digits.
mup (`pip install --no-deps mup` plus pandas, pyyaml and seaborn) records the l1 norm of
every module's output at its steps 1..3 (step 1 is the init); localmup records rms of h,
h - h_0 and dW x on a probe batch at t = 0..3 and fits slopes against its predictions.

    python benchmarks/coord_vs_mup.py [--repeats 3] [--probe 256] [--json results.json] [--profile]

Prints the wall time of each check (best of `repeats`, after one warm-up run) and the
log-log slopes of the hidden pre-activations both tools measured, for muP and for SP, then
the time of localmup's check of the predictive-coding (20 inference steps) and target
propagation specs on the same grid. `--profile` instead prints where each tool's bp muP
check spends its time (cProfile, one run after a warm-up).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import pstats
import time

import numpy as np
import torch

from localmup.commands import load, trainer_module
from localmup.coordcheck import judge
from localmup.compiler.check import check
from localmup.runtime import coord
from localmup.runtime.trainer import load_data

WIDTHS = (256, 512, 1024, 2048)
SEEDS, STEPS, LR, BATCH = 4, 3, 0.1, 64


def mup_model(width: int, mup_readout: bool):
    from mup import MuReadout
    from torch import nn

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.h1 = nn.Linear(64, width)
            self.h2 = nn.Linear(width, width)
            self.h3 = nn.Linear(width, width)
            self.y = MuReadout(width, 10) if mup_readout else nn.Linear(width, 10)

        def forward(self, x):
            x = torch.tanh(self.h1(x))
            x = torch.tanh(self.h2(x))
            x = torch.tanh(self.h3(x))
            return self.y(x)

    return MLP()


def run_mup(parameterization: str, batch):
    from mup import set_base_shapes
    from mup.coord_check import get_coord_data

    use_mup = parameterization == "mup"

    def lazy(width):
        def build():
            model = mup_model(width, use_mup)
            if use_mup:
                set_base_shapes(model, mup_model(64, True), delta=mup_model(128, True))
            else:
                set_base_shapes(model, None)
            return model

        return build

    models = {w: lazy(w) for w in WIDTHS}
    started = time.perf_counter()
    frame = get_coord_data(
        models, [batch], optimizer="sgd", lr=LR, mup=use_mup, nsteps=STEPS, nseeds=SEEDS,
        lossfn="mse", cuda=False, show_progress=False,
    )
    return frame, time.perf_counter() - started


def mup_slopes(frame) -> dict:
    slopes = {}
    for (module, step), group in frame.groupby(["module", "t"]):
        if module not in ("h1", "h2", "h3", "y"):
            continue
        means = group.groupby("width")["l1"].mean()
        x, y = np.log(means.index.to_numpy(float)), np.log(means.to_numpy(float))
        slopes[f"{module} t={step}"] = float(np.polyfit(x, y, 1)[0])
    return slopes


def run_localmup(spec: str, batch, probe):
    ir = load(spec)
    module = trainer_module(ir)
    started = time.perf_counter()
    measurements = coord.measure(module, WIDTHS, steps=STEPS, seeds=SEEDS, lr=LR, batch=batch, probe=probe)
    rows = judge(check(ir), measurements)
    seconds = time.perf_counter() - started
    slopes = {f"{r.node} {r.quantity} t={r.step}": r.measured.slope for r in rows if r.quantity in ("h", "delta")}
    return slopes, seconds, all(r.agrees for r in rows) and not any(r.blows_up for r in rows)


def best_of(repeats, function, *args):
    function(*args)  # warm-up: imports, allocator, thread pool
    results = [function(*args) for _ in range(repeats)]
    return min(results, key=lambda r: r[-1] if not isinstance(r[-1], bool) else r[1])


def profile(batch, probe) -> None:
    """Print the costliest calls of one mup and one localmup bp muP check."""
    for name, function, args in (("microsoft/mup", run_mup, ("mup", batch)), ("localmup", run_localmup, ("specs/bp_mlp_mup.lmu", batch, probe))):
        function(*args)
        profiler = cProfile.Profile()
        profiler.enable()
        function(*args)
        profiler.disable()
        print(f"\n{name}:")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    parser.add_argument("--probe", type=int, default=256, help="probe samples of localmup's check (its default 256)")
    parser.add_argument("--profile", action="store_true", help="print where each check spends its time, then stop")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    module = trainer_module(load("specs/bp_mlp_mup.lmu"))
    data = load_data(module, seed=0, dtype=torch.float32)
    batch = (data.train_x[:BATCH], data.train_y[:BATCH])
    probe = data.test_x[: args.probe]
    if args.profile:
        profile(batch, probe)
        return
    report = {}
    for parameterization, spec in (("mup", "specs/bp_mlp_mup.lmu"), ("sp", "specs/bp_mlp_sp.lmu")):
        frame, mup_seconds = best_of(args.repeats, run_mup, parameterization, batch)
        ours, our_seconds, passed = best_of(args.repeats, run_localmup, spec, batch, probe)
        theirs = mup_slopes(frame)
        print(f"\n{parameterization}: microsoft/mup get_coord_data {mup_seconds:.2f} s, localmup coord {our_seconds:.2f} s (passed: {passed})")
        print("  hidden |h| slopes, mup (l1 of module output at its t = 1..3; t = 1 is init):")
        for key in sorted(theirs):
            print(f"    {key:10s} {theirs[key]:+.3f}")
        print("  localmup (rms of h at t = 0..3 and of h_t - h_0):")
        for key in sorted(ours):
            value = ours[key]
            print(f"    {key:16s} {value:+.3f}" if math.isfinite(value) else f"    {key:16s} zero")
        report[parameterization] = {"mup_seconds": mup_seconds, "localmup_seconds": our_seconds, "passed": passed, "mup_slopes": theirs, "localmup_slopes": ours}
    for spec in ("specs/pc_mlp_mup.lmu", "specs/pc_mlp_gn.lmu", "specs/tp_mlp_mup.lmu"):
        _, seconds, passed = best_of(args.repeats, run_localmup, spec, batch, probe)
        print(f"\n{spec}: localmup coord {seconds:.2f} s (passed: {passed})")
        report[spec] = {"localmup_seconds": seconds, "passed": passed}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
