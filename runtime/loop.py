"""The training loop: batches, periodic evaluation, metrics file, progress bar, NaN stop."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from .errors import NonFiniteError

logger = logging.getLogger(__name__)


def first_nonfinite(named_tensors) -> str:
    """Return the name of the first tensor that contains a NaN or infinity, or "none found"."""
    for name, tensor in named_tensors:
        if tensor is not None and not torch.isfinite(tensor).all():
            return name
    return "none found (only the loss)"


def fit(
    trainer,
    dataset,
    *,
    steps: int,
    batch: int,
    seed: int,
    eval_every: int,
    metrics_path: Path | None = None,
    progress: bool = False,
    description: str = "train",
    diagnose: bool = True,
    progress_state: dict | None = None,
) -> dict:
    """Train for `steps` batches; return final train loss, accuracies and seconds.

    Metrics go to `metrics_path` as JSON lines, one per evaluation (the file is started
    anew), flushed as written so that a crash loses nothing already measured. Rule-specific
    measurements (`trainer.diagnostics`, such as the inference curvature of predictive
    coding) are taken before the first step and at every evaluation, and the result reports
    their maxima. A non-finite loss raises NonFiniteError naming the step and the first
    non-finite tensor. `progress_state`, when given, is kept up to date with the last
    completed step and its loss, so that a caller can report how far an interrupted run got.
    """
    device = trainer.device
    train_x = dataset.train_x.to(device)
    train_y = dataset.train_y.to(device)
    test_x = dataset.test_x.to(device)
    test_y = dataset.test_y.to(device)
    samples = train_x.shape[0]
    batch = min(batch, samples)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(samples, generator=generator)
    position = 0

    metrics = open(metrics_path, "w", encoding="utf-8") if metrics_path is not None else None
    probe_x, probe_y = train_x[:256], train_y[:256]
    extremes: dict[str, float] = {}
    spent = [0.0]  # seconds spent on diagnostics, kept out of the training time

    def measure_diagnostics() -> dict:
        began = time.perf_counter()
        measured = trainer.diagnostics(probe_x, probe_y) if diagnose and hasattr(trainer, "diagnostics") else {}
        spent[0] += time.perf_counter() - began
        for key, value in measured.items():
            extremes[key] = max(extremes.get(key, value), value)
            if key == "inference_curvature" and value > 2:
                logger.warning("state_lr times the largest curvature of the energy is %.3g > 2: inference may diverge", value)
        return measured

    bar = tqdm(total=steps, desc=description, disable=not progress, leave=False, dynamic_ncols=True)
    window_loss, window_steps = 0.0, 0
    initial = measure_diagnostics()
    started = time.perf_counter()
    spent[0] = 0.0
    try:
        for step in range(1, steps + 1):
            if position + batch > samples:
                order = torch.randperm(samples, generator=generator)
                position = 0
            index = order[position : position + batch].to(device)
            position += batch
            x, labels = train_x[index], train_y[index]

            loss = trainer.step(x, labels)
            if not math.isfinite(loss):
                raise NonFiniteError(step, first_nonfinite(trainer.named_tensors(x)), loss)
            window_loss += loss
            window_steps += 1
            bar.update(1)
            if progress_state is not None:
                progress_state.update(steps_completed=step, last_batch_loss=loss)

            if step % eval_every == 0 or step == steps:
                test_loss, test_accuracy = trainer.evaluate(test_x, test_y)
                record = {
                    "step": step,
                    "train_loss": window_loss / window_steps,
                    "test_loss": test_loss,
                    "test_accuracy": test_accuracy,
                    "seconds": time.perf_counter() - started - spent[0],
                    **measure_diagnostics(),
                }
                bar.set_postfix(loss=f"{record['train_loss']:.4f}", test_acc=f"{test_accuracy:.3f}")
                if metrics is not None:
                    metrics.write(json.dumps(record) + "\n")
                    metrics.flush()
                window_loss, window_steps = 0.0, 0
        train_seconds = time.perf_counter() - started - spent[0]
        train_loss, train_accuracy = trainer.evaluate(train_x, train_y)
        test_loss, test_accuracy = trainer.evaluate(test_x, test_y)
    finally:
        bar.close()
        if metrics is not None:
            metrics.close()
    result = {f"{key}_start": value for key, value in initial.items()}
    result.update({f"{key}_max": value for key, value in extremes.items()})
    return {
        **result,
        "train_loss": train_loss,
        "train_accuracy": train_accuracy,
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
        "train_seconds": train_seconds,
        "diagnostic_seconds": spent[0],
    }
