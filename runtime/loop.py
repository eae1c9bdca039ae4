"""The training loop: batches, periodic evaluation, metrics file, progress bar, NaN stop."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from .errors import NonFiniteError


def first_nonfinite(named_tensors) -> str:
    """Return the name of the first tensor that holds a NaN or infinity, or "none found"."""
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
) -> dict:
    """Train for `steps` batches; return final train loss, accuracies and seconds.

    Metrics go to `metrics_path` as JSON lines, one per evaluation, flushed as written so
    that a crash loses nothing already measured. A non-finite loss raises NonFiniteError
    naming the step and the first non-finite tensor.
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

    metrics = open(metrics_path, "a", encoding="utf-8") if metrics_path is not None else None
    bar = tqdm(total=steps, desc=description, disable=not progress, leave=False, dynamic_ncols=True)
    started = time.perf_counter()
    window_loss, window_steps = 0.0, 0
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

            if step % eval_every == 0 or step == steps:
                test_loss, test_accuracy = trainer.evaluate(test_x, test_y)
                record = {
                    "step": step,
                    "train_loss": window_loss / window_steps,
                    "test_loss": test_loss,
                    "test_accuracy": test_accuracy,
                    "seconds": time.perf_counter() - started,
                }
                bar.set_postfix(loss=f"{record['train_loss']:.4f}", test_acc=f"{test_accuracy:.3f}")
                if metrics is not None:
                    metrics.write(json.dumps(record) + "\n")
                    metrics.flush()
                window_loss, window_steps = 0.0, 0
        train_seconds = time.perf_counter() - started
        train_loss, train_accuracy = trainer.evaluate(train_x, train_y)
        test_loss, test_accuracy = trainer.evaluate(test_x, test_y)
    finally:
        bar.close()
        if metrics is not None:
            metrics.close()
    return {
        "train_loss": train_loss,
        "train_accuracy": train_accuracy,
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
        "train_seconds": train_seconds,
    }
