"""Backprop: the gradient of the batch-mean loss through autograd."""

from __future__ import annotations

import torch

from .losses import loss_value
from .network import GraphNetwork


class Backprop:
    """One optimizer step on the gradient of the loss."""

    def __init__(self, network: GraphNetwork, loss: str, optimizer: torch.optim.Optimizer):
        self.network = network
        self.loss = loss
        self.optimizer = optimizer
        self.last_output: torch.Tensor | None = None  # the batch's output before the last update

    def gradients(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Write the loss gradient into every parameter's .grad and return the loss."""
        self.optimizer.zero_grad(set_to_none=True)
        output = self.network.output_of(x)
        self.last_output = output.detach()
        loss = loss_value(self.loss, output, labels)
        loss.backward()
        return loss.detach()

    def after_update(self, x: torch.Tensor) -> None:
        """Nothing to do after the optimizer step: backprop has no feedback weights."""

    def step(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        loss = self.gradients(x, labels)
        self.optimizer.step()
        return loss
