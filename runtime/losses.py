"""Losses with their per-sample gradients, as the learning rules need them.

    mse:  l(f, y) = 1/2 |f - onehot(y)|^2      dl/df = f - onehot(y)
    xent: l(f, y) = -log softmax(f)_y          dl/df = softmax(f) - onehot(y)

The training loss is the batch mean of l. Predictive coding and target propagation use the
per-sample gradient dl/df (not divided by the batch size) as their output error.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

LOSSES = ("mse", "xent")


def loss_value(name: str, output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Return the batch mean of the per-sample loss; `labels` are class indices."""
    if name == "mse":
        target = F.one_hot(labels, output.shape[1]).to(output.dtype)
        return 0.5 * ((output - target) ** 2).sum(dim=1).mean()
    if name == "xent":
        return F.cross_entropy(output, labels)
    raise ValueError(f"unknown loss {name!r}; expected one of {LOSSES}")


def loss_gradient(name: str, output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Return dl/df per sample, shape (batch, outputs)."""
    target = F.one_hot(labels, output.shape[1]).to(output.dtype)
    if name == "mse":
        return output - target
    if name == "xent":
        return torch.softmax(output, dim=1) - target
    raise ValueError(f"unknown loss {name!r}; expected one of {LOSSES}")


def accuracy(output: torch.Tensor, labels: torch.Tensor) -> float:
    return (output.argmax(dim=1) == labels).to(torch.float64).mean().item()
