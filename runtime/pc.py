"""Predictive coding: iterative inference on an energy, then local weight updates.

Every dense node v except the output has a state x_v, a pre-activation. The input is
clamped to the data and the output to the target. Let mu_v = W_v value(source) + b_v be the
prediction of v from its source's value (phi of a state, the input, or a sum of those).
The errors and the energy are

    eps_v = x_v - mu_v,   eps_out = -dl/dmu_out,   F = sum_v gamma_v / 2 |eps_v|^2 + gamma_out l(mu_out)

Inference runs `steps` iterations of x_v <- x_v - kappa dF/dx_v with the gradient computed
analytically,

    dF/dx_v = gamma_v eps_v - phi_v'(x_v) * sum_c (gamma_c eps_c) W_c      (c: consumers of v)

so no autograd graph is built and memory does not grow with `steps`. The weights then
descend 1/2 |eps_v|^2 per layer (update = raw) or F itself (update = energy, one more
factor gamma_v), averaged over the batch. With the fixed prediction assumption (fpa) the
predictions, phi' and the presynaptic values stay at their feed-forward values.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from .losses import loss_gradient, loss_value
from .network import GraphNetwork, activation, value_and_derivative

INITS = ("forward", "zero", "random")
SCHEDULES = ("parallel", "sequential")
UPDATES = ("raw", "energy")


class PredictiveCoding:
    """Inference and local weight gradients of a predictive-coding network."""

    def __init__(
        self,
        network: GraphNetwork,
        loss: str,
        optimizer: torch.optim.Optimizer,
        *,
        steps: int,
        state_lr: float,
        init: str = "forward",
        fpa: bool = False,
        schedule: str = "parallel",
        update: str = "raw",
        precisions: dict[str, float] | None = None,
        generator: torch.Generator | None = None,
    ):
        if init not in INITS or schedule not in SCHEDULES or update not in UPDATES:
            raise ValueError(f"invalid predictive-coding settings: init={init}, schedule={schedule}, update={update}")
        self.network = network
        self.loss = loss
        self.optimizer = optimizer
        self.steps = steps
        self.state_lr = state_lr
        self.init = init
        self.fpa = fpa
        self.schedule = schedule
        self.update = update
        self.generator = generator
        dense = network.dense_nodes()
        self.gamma = {node.name: 1.0 for node in dense}
        self.gamma.update(precisions or {})
        self.output = network.output
        self.states_order = [node for node in dense if node.name != self.output]
        self.last_output: torch.Tensor | None = None  # the batch's output before the last update

    # --- energy terms ---

    def _initial_states(self, forward: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        states = {}
        for node in self.states_order:
            start = forward[node.name]
            if self.init == "forward":
                states[node.name] = start.clone()
            elif self.init == "zero":
                states[node.name] = torch.zeros_like(start)
            else:
                noise = torch.randn(start.shape, generator=self.generator, dtype=start.dtype)
                states[node.name] = noise.to(start.device)
        return states

    @torch.no_grad()
    def infer(self, x: torch.Tensor, labels: torch.Tensor):
        """Run inference; return final states, errors, the values the weight update uses,
        and the feed-forward loss."""
        energy = _Energy(self, x, labels)
        output = self.network.node[self.output]
        self.last_output = activation(output.activation)(energy.forward[self.output])
        states = self._initial_states(energy.forward)

        for _ in range(self.steps):
            if self.schedule == "parallel":
                eps, _, derivatives = energy.errors(states)
                gradients = energy.state_gradients(states, eps, derivatives)
                for name, gradient in gradients.items():
                    states[name] = states[name] - self.state_lr * gradient
            else:
                energy.sequential_sweep(states, self.state_lr)

        eps, values, _ = energy.errors(states)
        return states, eps, values, energy.feedforward_loss

    # --- weight update ---

    @torch.no_grad()
    def gradients(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Run inference and write the local weight gradients into .grad; return the loss."""
        _, eps, values, feedforward_loss = self.infer(x, labels)
        network = self.network
        batch = x.shape[0]
        for node in network.dense_nodes():
            name = node.name
            error = eps[name] * self.gamma[name] if self.update == "energy" else eps[name]
            weight = network.parameter(f"{name}.weight")
            weight.grad = -network.multipliers[f"{name}.weight"] * (error.T @ values[node.sources[0]]) / batch
            if network.has_parameter(f"{name}.bias"):
                bias = network.parameter(f"{name}.bias")
                bias.grad = -network.multipliers[f"{name}.bias"] * error.sum(dim=0) / batch
        return feedforward_loss

    def after_update(self, x: torch.Tensor) -> None:
        """Nothing to do after the optimizer step: states are rebuilt for every batch."""

    def step(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        loss = self.gradients(x, labels)
        self.optimizer.step()
        return loss

    # --- diagnostics ---

    def energy(self, x, labels, states) -> torch.Tensor:
        """Return F at the given states, averaged over the batch (differentiable in the states)."""
        network = self.network
        pre = dict(states)
        pre[self.output] = torch.zeros(x.shape[0], network.node[self.output].size_at(network.width), dtype=x.dtype, device=x.device)
        values = network.values(x, pre)
        total = 0.0
        for node in network.dense_nodes():
            mu = network.dense(node.name, values[node.sources[0]])
            if node.name == self.output:
                output = activation(node.activation)(mu)
                total = total + self.gamma[node.name] * loss_value(self.loss, output, labels) * x.shape[0]
            else:
                total = total + 0.5 * self.gamma[node.name] * ((states[node.name] - mu) ** 2).sum()
        return total / x.shape[0]

    def curvature(self, x: torch.Tensor, labels: torch.Tensor, iterations: int = 30) -> float:
        """Return state_lr times the largest eigenvalue of the state Hessian of F (per sample).

        Estimated by power iteration with Hessian-vector products at the forward states; plain
        gradient inference converges only while this stays below 2.
        """
        with torch.no_grad():
            forward = self.network.forward(x)
        states = {n.name: forward[n.name].detach().clone().requires_grad_(True) for n in self.states_order}
        if not states:
            return 0.0
        names = list(states)
        batch = x.shape[0]

        def hvp(vector):
            energy = self.energy(x, labels, states) * batch
            grads = torch.autograd.grad(energy, [states[n] for n in names], create_graph=True)
            dot = sum((g * v).sum() for g, v in zip(grads, vector))
            return torch.autograd.grad(dot, [states[n] for n in names])

        generator = torch.Generator().manual_seed(0)
        vector = [torch.randn(states[n].shape, generator=generator, dtype=x.dtype).to(x.device) for n in names]
        eigenvalue = 0.0
        for _ in range(iterations):
            norm = math.sqrt(sum((v * v).sum().item() for v in vector))
            if norm == 0:
                return 0.0
            vector = [v / norm for v in vector]
            product = hvp(vector)
            eigenvalue = sum((p * v).sum().item() for p, v in zip(product, vector))
            vector = [p.detach() for p in product]
        return self.state_lr * abs(eigenvalue)


class _Energy:
    """The energy of one batch, with the weights cached for the whole inference."""

    def __init__(self, rule: PredictiveCoding, x: torch.Tensor, labels: torch.Tensor):
        network = rule.network
        self.rule = rule
        self.x = x
        self.labels = labels
        self.nodes = network.nodes
        self.dense = network.dense_nodes()
        self.weights = {node.name: network.weight(node.name) for node in self.dense}
        self.biases = {node.name: network.bias(node.name) for node in self.dense}
        self.forward = network.forward(x)
        output = network.node[rule.output]
        output_value = activation(output.activation)(self.forward[rule.output])
        self.feedforward_loss = loss_value(rule.loss, output_value, labels)
        self.fpa = rule.fpa
        if self.fpa:
            self.frozen_mu = {node.name: self.forward[node.name] for node in self.dense}
            self.frozen_values, self.frozen_derivatives = self._values(self.forward)

    def _values(self, pre: dict[str, torch.Tensor]):
        """Return every node's value and phi' of every stated node, from pre-activations."""
        values, derivatives = {}, {}
        output = self.rule.output
        for node in self.nodes:
            if node.kind == "input":
                values[node.name] = self.x
            elif node.kind == "dense":
                if node.name == output:
                    continue
                values[node.name], derivatives[node.name] = value_and_derivative(node.activation, pre[node.name])
            else:
                total = values[node.sources[0]]
                for source in node.sources[1:]:
                    total = total + values[source]
                values[node.name] = total
        return values, derivatives

    def errors(self, states: dict[str, torch.Tensor], with_predictions: bool = False):
        """Return eps_v of every dense node (the output's is -dl/dmu), the node values and
        phi' at every state (and the predictions mu, when asked)."""
        if self.fpa:
            mu, values, derivatives = self.frozen_mu, self.frozen_values, self.frozen_derivatives
        else:
            values, derivatives = self._values(states)
            mu = {node.name: self._predict(node, values) for node in self.dense}
        eps = {name: state - mu[name] for name, state in states.items()}
        eps[self.rule.output] = self._output_error(mu[self.rule.output])
        if with_predictions:
            return eps, values, derivatives, mu
        return eps, values, derivatives

    def _predict(self, node, values) -> torch.Tensor:
        return F.linear(values[node.sources[0]], self.weights[node.name], self.biases[node.name])

    def _output_error(self, prediction: torch.Tensor) -> torch.Tensor:
        output = self.rule.network.node[self.rule.output]
        value, derivative = value_and_derivative(output.activation, prediction)
        return -loss_gradient(self.rule.loss, value, self.labels) * derivative

    def _reach(self, name: str) -> tuple[list, list]:
        """Return the add nodes whose value depends on `name` through adds only (in graph
        order), and the dense nodes that read `name` directly or through those adds."""
        adds, dense, frontier = [], [], {name}
        for node in self.nodes:
            if not frontier.intersection(node.sources):
                continue
            if node.kind == "add":
                adds.append(node)
                frontier.add(node.name)
            elif node.kind == "dense":
                dense.append(node)
        return adds, dense

    def sequential_sweep(self, states: dict[str, torch.Tensor], state_lr: float) -> None:
        """Update every state once, from the output down, each with the errors left by the
        updates above it. After x_v moves only eps_v and the errors of v's consumers change,
        so the sweep costs about as much as one parallel step."""
        rule = self.rule
        gamma = rule.gamma
        eps, values, derivatives, mu = self.errors(states, with_predictions=True)
        for node in reversed(rule.states_order):
            name = node.name
            adds, consumers = self._reach(name)
            back = None
            for consumer in consumers:
                pushed = (gamma[consumer.name] * eps[consumer.name]) @ self.weights[consumer.name]
                back = pushed if back is None else back + pushed
            gradient = gamma[name] * eps[name]
            if back is not None:
                gradient = gradient - derivatives[name] * back
            states[name] = states[name] - state_lr * gradient
            eps[name] = states[name] - mu[name]
            if self.fpa:
                continue
            values[name], derivatives[name] = value_and_derivative(node.activation, states[name])
            for add in adds:
                total = values[add.sources[0]]
                for source in add.sources[1:]:
                    total = total + values[source]
                values[add.name] = total
            for consumer in consumers:
                mu[consumer.name] = self._predict(consumer, values)
                if consumer.name == rule.output:
                    eps[consumer.name] = self._output_error(mu[consumer.name])
                else:
                    eps[consumer.name] = states[consumer.name] - mu[consumer.name]

    def state_gradients(self, states, eps, derivatives) -> dict[str, torch.Tensor]:
        """Return dF/dx_v = gamma_v eps_v - phi'(x_v) * (sum over consumers of gamma_c eps_c W_c)."""
        gamma = self.rule.gamma
        incoming: dict[str, torch.Tensor] = {}
        for node in reversed(self.nodes):
            if node.kind == "input":
                continue
            if node.kind == "dense":
                pushed = (gamma[node.name] * eps[node.name]) @ self.weights[node.name]  # (batch, source size)
                sources = node.sources[:1]
            else:
                pushed = incoming.get(node.name)
                sources = node.sources
            if pushed is None:
                continue
            for source in sources:
                incoming[source] = incoming[source] + pushed if source in incoming else pushed
        gradients = {}
        for name in states:
            gradient = gamma[name] * eps[name]
            if name in incoming:
                gradient = gradient - derivatives[name] * incoming[name]
            gradients[name] = gradient
        return gradients
