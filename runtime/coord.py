"""Coordinate check: measure how every tensor scales with width, and fit log-log slopes.

For each width and seed the trainer takes `steps` steps on one fixed training batch. Before
the first step (t = 0) and after each step, on one fixed probe batch, it records per node
the rms over coordinates and samples of

    h      the node's pre-activation (dense) or value (add) h_t
    delta  the change since init h_t - h_0
    own    the layer's own update contribution (W_t - W_0) x_t + (b_t - b_0), where x_t is
           the layer's current input (dense nodes only)

Slopes of log(rms) against log(n) are fitted by least squares on the mean over seeds, with a
bootstrap interval over seeds. Comparing them with predictions is the driver's job.
"""

from __future__ import annotations

import math
from types import ModuleType

import attrs
import numpy as np
import torch

from .losses import loss_gradient
from .trainer import build_trainer

QUANTITIES = ("h", "delta", "own")


@attrs.frozen
class Measurements:
    """rms values: `values[(node, quantity)]` has shape (widths, seeds, steps + 1).

    `errors[width, seed, t]` is the rms of the output error dl/df on the training batch
    before step t + 1: every update of step t + 1 is proportional to it. `mean_errors` is the
    rms of its batch mean, the part that adds up coherently over samples.
    """

    widths: tuple[int, ...]
    seeds: int
    steps: int
    values: dict[tuple[str, str], np.ndarray]
    errors: np.ndarray
    mean_errors: np.ndarray
    seconds: float


# The own update contribution of a width-sized layer is measured on the first probe rows
# only: n coordinates per sample already give a precise rms, and the product with the
# initial weights is the costliest part of a record.
OWN_ROWS = 32


def _rms(tensor: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(tensor)) / math.sqrt(max(tensor.numel(), 1))


@torch.no_grad()
def _record(network, probe_x, initial_pre, initial_weights, into, width_index, seed, step, pre=None):
    """Record every node's rms values at one step; return the probe's pre-activations."""
    if pre is None:
        pre = network.forward(probe_x)
    values = network.values(probe_x, pre)
    for node in network.nodes:
        if node.kind == "input":
            continue
        name = node.name
        into[(name, "h")][width_index, seed, step] = _rms(pre[name])
        into[(name, "delta")][width_index, seed, step] = _rms(pre[name] - initial_pre[name])
        if node.kind == "dense":
            # (W_t - W_0) x_t + (b_t - b_0) = h_t - (W_0 x_t + b_0).
            rows = probe_x.shape[0] if not node.grows else min(OWN_ROWS, probe_x.shape[0])
            weight0, bias0 = initial_weights[name]
            before = torch.nn.functional.linear(values[node.sources[0]][:rows], weight0, bias0)
            into[(name, "own")][width_index, seed, step] = _rms(pre[name][:rows] - before)
    return pre


def measure(
    module: ModuleType,
    widths,
    *,
    steps: int,
    seeds: int,
    lr: float | None,
    batch: tuple[torch.Tensor, torch.Tensor],
    probe: torch.Tensor,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = "float32",
    progress=None,
) -> Measurements:
    """Train each (width, seed) for `steps` steps on `batch` and record rms values on `probe`."""
    import time

    started = time.perf_counter()
    widths = tuple(widths)
    nodes = [node for node in module.NODES if node.kind != "input"]
    shape = (len(widths), seeds, steps + 1)
    values: dict[tuple[str, str], np.ndarray] = {}
    for node in nodes:
        for quantity in QUANTITIES:
            if quantity == "own" and node.kind != "dense":
                continue
            values[(node.name, quantity)] = np.zeros(shape)

    errors = np.zeros((len(widths), seeds, steps))
    mean_errors = np.zeros((len(widths), seeds, steps))
    for width_index, width in enumerate(widths):
        for seed in range(seeds):
            trainer = build_trainer(module, width, lr=lr, seed=seed, device=device, dtype=dtype)
            network = trainer.network
            x = batch[0].to(trainer.device, trainer.dtype)
            labels = batch[1].to(trainer.device)
            probe_x = probe.to(trainer.device, trainer.dtype)
            with torch.no_grad():
                initial_pre = network.forward(probe_x)
                initial_weights = {
                    node.name: (network.weight(node.name).clone(), _clone(network.bias(node.name)))
                    for node in network.dense_nodes()
                }
            _record(network, probe_x, initial_pre, initial_weights, values, width_index, seed, 0, pre=initial_pre)
            for step in range(1, steps + 1):
                trainer.step(x, labels)
                # The rule computed the batch's output before its update: the error it used.
                with torch.no_grad():
                    error = loss_gradient(module.LOSS, trainer.rule.last_output, labels)
                errors[width_index, seed, step - 1] = _rms(error)
                mean_errors[width_index, seed, step - 1] = _rms(error.mean(dim=0))
                _record(network, probe_x, initial_pre, initial_weights, values, width_index, seed, step)
            if progress is not None:
                progress(width, seed)
    return Measurements(widths, seeds, steps, values, errors, mean_errors, time.perf_counter() - started)


def _clone(tensor):
    return None if tensor is None else tensor.clone()


@attrs.frozen
class Slope:
    """A fitted log-log slope with a bootstrap interval; `zero` when every value is 0."""

    slope: float
    low: float
    high: float
    zero: bool = False
    max_value: float = 0.0


def fit_slope(widths, values: np.ndarray, *, resamples: int = 1000, level: float = 0.9, seed: int = 0) -> Slope:
    """Fit log(mean over seeds) = e log(n) + c; bootstrap seeds for a `level` interval.

    `values` has shape (widths, seeds). Values that are all exactly zero give `zero=True`.
    """
    values = np.asarray(values, dtype=np.float64)
    largest = float(np.max(np.abs(values)))
    if largest == 0.0:
        return Slope(-math.inf, -math.inf, -math.inf, zero=True, max_value=0.0)
    x = np.log(np.asarray(widths, dtype=np.float64))
    slope = float(_slopes(x, values.mean(axis=1)[None, :])[0])
    rng = np.random.default_rng(seed)
    seeds = values.shape[1]
    picks = rng.integers(0, seeds, size=(resamples, len(widths), seeds))
    resampled = values[np.arange(len(widths))[None, :, None], picks].mean(axis=2)
    slopes = _slopes(x, resampled)
    finite = slopes[np.isfinite(slopes)]
    tail = (1 - level) / 2
    low, high = np.quantile(finite, [tail, 1 - tail]) if finite.size else (slope, slope)
    return Slope(slope, float(low), float(high), max_value=largest)


def _slopes(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Least-squares slopes of log(rows) against x, one per row; nan where a value is <= 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(rows > 0, np.log(np.where(rows > 0, rows, 1.0)), np.nan)
    centered = x - x.mean()
    return ((logs - logs.mean(axis=1, keepdims=True)) * centered).sum(axis=1) / (centered**2).sum()


def applied_scales(module: ModuleType, width: int, *, lr: float | None = None, seed: int = 0) -> list[dict]:
    """Return what a generated network really applies at `width`, per parameter.

    For each parameter: the std of its initial entries (0 for zero init), its multiplier and
    the learning rate of its optimizer group. They are read back from the built trainer, not
    from the constants, so that a generator that drops a scale is caught.
    """
    trainer = build_trainer(module, width, lr=lr, seed=seed)
    network = trainer.network
    rates = {group["name"]: group["lr"] for group in trainer.optimizer.param_groups}
    if trainer.feedback_optimizer is not None:
        rates.update({group["name"]: group["lr"] for group in trainer.feedback_optimizer.param_groups})
    rows = []
    for name in network.parameter_names() + network.parameter_names(feedback=True):
        values = network.parameter(name).detach().double()
        rows.append(
            {
                "name": name,
                "width": width,
                "entries": values.numel(),
                "std": float(values.pow(2).mean().sqrt()),
                "multiplier": float(network.multipliers[name]),
                "lr": float(rates[name]) if name in rates else None,
            }
        )
    return rows
