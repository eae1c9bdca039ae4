"""Target propagation (plain and difference): targets sent down through learned inverses.

The output target is tau_out = f - beta dl/df (per sample). Each dense node c whose source
is not the input has feedback weights Q_c and an inverse g_c(v) = psi(Q_c v) that maps c's
value back to its source's space. Target shifts flow down the graph:

    DTP: tau_s = h_s + g_c(tau_c) - g_c(h_c)      TP: tau_s = g_c(tau_c)

An add node passes its shift to every summand, and a node read by several consumers sums
the shifts they send. Every dense layer then descends its local loss 1/2 |h_v - tau_v|^2
with the target and the layer's input detached, and every Q is trained on the noisy
reconstruction loss 1/2 |g_c(f_c(h_s + xi)) - (h_s + xi)|^2, xi ~ N(0, noise^2).
"""

from __future__ import annotations

import torch

from .losses import loss_gradient, loss_value
from .network import GraphNetwork, activation

VARIANTS = ("dtp", "tp")


class TargetPropagation:
    """Forward updates from propagated targets and feedback updates from reconstruction."""

    def __init__(
        self,
        network: GraphNetwork,
        loss: str,
        optimizer: torch.optim.Optimizer,
        feedback_optimizer: torch.optim.Optimizer | None,
        *,
        variant: str = "dtp",
        target_step: float = 0.5,
        feedback_activation: str = "tanh",
        noise: float = 0.1,
        feedback_steps: int = 1,
        generator: torch.Generator | None = None,
    ):
        if variant not in VARIANTS:
            raise ValueError(f"unknown target-propagation variant {variant!r}; expected one of {VARIANTS}")
        self.network = network
        self.loss = loss
        self.optimizer = optimizer
        self.feedback_optimizer = feedback_optimizer
        self.variant = variant
        self.target_step = target_step
        self.psi = activation(feedback_activation)
        self.noise = noise
        self.feedback_steps = feedback_steps
        self.generator = generator
        self.last_output: torch.Tensor | None = None  # the batch's output before the last update
        self.input = next(node.name for node in network.nodes if node.kind == "input")
        self.with_feedback = [
            node for node in network.dense_nodes() if node.sources[0] != self.input and network.has_parameter(f"{node.name}.feedback")
        ]

    def inverse(self, node: str, value: torch.Tensor) -> torch.Tensor:
        """g_node(v) = psi(Q v): map a value of `node` back to its source's space."""
        return self.psi(value @ self.network.feedback(node).T)

    @torch.no_grad()
    def targets(self, x: torch.Tensor, labels: torch.Tensor):
        """Return the target of every non-input node, the node values, and the loss."""
        network = self.network
        pre = network.forward(x)
        values = network.values(x, pre)
        output = network.output
        f = values[output]
        self.last_output = f
        loss = loss_value(self.loss, f, labels)
        shift = {output: -self.target_step * loss_gradient(self.loss, f, labels)}

        for node in reversed(network.nodes):
            if node.name == output or node.kind == "input":
                continue
            total = None
            for consumer in network.consumers(node.name):
                if consumer.kind == "add":
                    proposal = shift.get(consumer.name)
                else:
                    target = values[consumer.name] + shift[consumer.name]
                    if self.variant == "dtp":
                        proposal = self.inverse(consumer.name, target) - self.inverse(consumer.name, values[consumer.name])
                    else:
                        proposal = self.inverse(consumer.name, target) - values[node.name]
                if proposal is not None:
                    total = proposal if total is None else total + proposal
            if total is not None:
                shift[node.name] = total
        targets = {name: values[name] + s for name, s in shift.items()}
        return targets, values, loss

    def gradients(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Write the gradients of the local losses into .grad of the forward parameters."""
        targets, values, loss = self.targets(x, labels)
        network = self.network
        self.optimizer.zero_grad(set_to_none=True)
        local = 0.0
        for node in network.dense_nodes():
            if node.name not in targets:
                continue
            source = values[node.sources[0]].detach()
            h = activation(node.activation)(network.dense(node.name, source))
            local = local + 0.5 * ((h - targets[node.name]) ** 2).sum(dim=1).mean()
        if torch.is_tensor(local):
            local.backward()
        return loss

    def feedback_gradients(self, x: torch.Tensor) -> torch.Tensor | None:
        """Write the reconstruction-loss gradients into .grad of the feedback weights."""
        if self.feedback_optimizer is None or not self.with_feedback:
            return None
        network = self.network
        with torch.no_grad():
            values = network.values(x, network.forward(x))
        self.feedback_optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for node in self.with_feedback:
            source = values[node.sources[0]]
            noise = torch.randn(source.shape, generator=self.generator, dtype=source.dtype).to(source.device)
            corrupted = source + self.noise * noise
            with torch.no_grad():
                h = activation(node.activation)(network.dense(node.name, corrupted))
            reconstruction = self.inverse(node.name, h)
            total = total + 0.5 * ((reconstruction - corrupted) ** 2).sum(dim=1).mean()
        total.backward()
        return total.detach()

    def after_update(self, x: torch.Tensor) -> None:
        """Train the feedback weights `feedback_steps` times on the batch."""
        for _ in range(self.feedback_steps):
            if self.feedback_gradients(x) is not None:
                self.feedback_optimizer.step()

    def step(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        loss = self.gradients(x, labels)
        self.optimizer.step()
        self.after_update(x)
        return loss
