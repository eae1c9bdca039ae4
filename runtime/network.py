"""The network a generated trainer builds: graph records, parameter scales and a base class.

A generated module declares its graph as a tuple of `Node` records, one `Scale` per
parameter, and subclasses `GraphNetwork` with explicit parameter creation and an explicit
`forward`. The learning rules in this package (bp, pc, tp) and the coordinate check work on
any such network through the few generic methods below.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

INF = math.inf


class Scaled(NamedTuple):
    """A setting given at the base width that scales like m^exponent, m = n / base."""

    value: float
    exponent: float = 0.0

    def at(self, m: float) -> float:
        return self.value * m**self.exponent


class Scale(NamedTuple):
    """abc-parameterization of one parameter, with its constants at the base width.

    The effective weight is W = mult * m^-a * w with w ~ N(0, (std * m^-b)^2), trained with
    learning rate eta * lr * m^-c; b = inf (or std = 0) means zero init.
    """

    role: str
    a: float
    b: float
    c: float
    mult: float
    std: float
    lr: float

    def multiplier(self, m: float) -> float:
        return self.mult * m ** (-self.a)

    def init_std(self, m: float) -> float:
        if self.b == INF or self.std == 0:
            return 0.0
        return self.std * m ** (-self.b)

    def learning_rate(self, eta: float, m: float) -> float:
        return eta * self.lr * m ** (-self.c)


class Node(NamedTuple):
    """One graph node: its kind, sources, activation and size (an int, "n", "k*n" or "n/k")."""

    name: str
    kind: str  # "input", "dense" or "add"
    sources: tuple[str, ...]
    activation: str
    size: str

    def size_at(self, width: int) -> int:
        """Return the node's size at width n; raise ValueError if it is not a positive integer."""
        text = self.size.replace(" ", "")
        if "n" not in text:
            value = Fraction(int(text))
        elif text == "n":
            value = Fraction(width)
        elif text.endswith("*n"):
            value = Fraction(int(text[:-2]) * width)
        elif text.startswith("n/"):
            value = Fraction(width, int(text[2:]))
        else:
            raise ValueError(f"invalid size {self.size!r} of node {self.name!r}")
        if value.denominator != 1 or value <= 0:
            raise ValueError(f"node {self.name!r} of size {self.size} has no integer size at width {width}")
        return int(value)

    @property
    def grows(self) -> bool:
        return "n" in self.size


def _gelu_derivative(x: torch.Tensor) -> torch.Tensor:
    cdf = 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))
    pdf = torch.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return cdf + x * pdf


def _sigmoid_derivative(x: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(x)
    return s * (1 - s)


# Activation name -> (phi, phi'); the same names as the spec language's `act`.
ACTIVATIONS = {
    "identity": (lambda x: x, lambda x: torch.ones_like(x)),
    "relu": (torch.relu, lambda x: (x > 0).to(x.dtype)),
    "tanh": (torch.tanh, lambda x: 1 - torch.tanh(x) ** 2),
    "gelu": (F.gelu, _gelu_derivative),
    "sigmoid": (torch.sigmoid, _sigmoid_derivative),
}


def activation(name: str):
    return ACTIVATIONS[name][0]


def value_and_derivative(name: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return phi(x) and phi'(x), sharing the work where the activation allows it."""
    if name == "tanh":
        value = torch.tanh(x)
        return value, 1 - value * value
    if name == "sigmoid":
        value = torch.sigmoid(x)
        return value, value * (1 - value)
    if name == "identity":
        return x, torch.ones_like(x)
    phi, derivative = ACTIVATIONS[name]
    return phi(x), derivative(x)


def activation_derivative(name: str):
    return ACTIVATIONS[name][1]


class GraphNetwork(nn.Module):
    """Base class of generated networks.

    Subclasses set the class attributes `nodes` (topological order), `output` and
    `scales` (parameter name -> Scale), create one `nn.Parameter` per parameter as the
    attribute `<node>_weight`, `<node>_bias` or `<node>_feedback`, and define `forward(x)`
    returning every dense node's pre-activation and every add node's value.
    """

    nodes: tuple[Node, ...] = ()
    output: str = ""
    scales: dict[str, Scale] = {}

    def __init__(self, width: int, base_width: int):
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be a positive integer, got {width}")
        self.width = width
        self.base_width = base_width
        self.m = width / base_width
        self.node = {node.name: node for node in self.nodes}
        self.multipliers: dict[str, float] = {}
        for node in self.nodes:
            node.size_at(width)  # raises for sizes like n/3 at a width not divisible by 3

    # --- construction helpers for generated code ---

    @staticmethod
    def normal(shape: tuple[int, ...], std: float, generator: torch.Generator | None) -> nn.Parameter:
        """Return a parameter drawn from N(0, std^2) on the CPU, so every device gets the same init."""
        values = torch.randn(shape, generator=generator) * std if std else torch.zeros(shape)
        return nn.Parameter(values)

    @staticmethod
    def zeros(shape: tuple[int, ...]) -> nn.Parameter:
        return nn.Parameter(torch.zeros(shape))

    # --- parameters ---

    def parameter(self, name: str) -> nn.Parameter:
        """Return the raw parameter w of "node.weight", "node.bias" or "node.feedback"."""
        node, kind = name.rsplit(".", 1)
        return getattr(self, f"{node}_{kind}")

    def has_parameter(self, name: str) -> bool:
        node, kind = name.rsplit(".", 1)
        return hasattr(self, f"{node}_{kind}")

    def parameter_names(self, feedback: bool = False) -> list[str]:
        """Return the names of forward parameters (or of feedback weights), in graph order."""
        kinds = ("feedback",) if feedback else ("weight", "bias")
        return [
            f"{node.name}.{kind}"
            for node in self.nodes
            for kind in kinds
            if self.has_parameter(f"{node.name}.{kind}")
        ]

    def _effective(self, name: str, attribute: str) -> torch.Tensor:
        multiplier = self.multipliers[name]
        tensor = getattr(self, attribute)
        # A multiplier of 1 (every preset at a = 0) needs no copy of the weight.
        return tensor if multiplier == 1.0 else multiplier * tensor

    def weight(self, node: str) -> torch.Tensor:
        """Return the effective weight mult * m^-a * w of a dense node, shape (out, in)."""
        return self._effective(f"{node}.weight", f"{node}_weight")

    def bias(self, node: str) -> torch.Tensor | None:
        name = f"{node}.bias"
        if not self.has_parameter(name):
            return None
        return self._effective(name, f"{node}_bias")

    def feedback(self, node: str) -> torch.Tensor:
        """Return the effective feedback weight Q of a dense node, shape (source size, size)."""
        return self._effective(f"{node}.feedback", f"{node}_feedback")

    # --- evaluation ---

    def dense(self, node: str, source_value: torch.Tensor) -> torch.Tensor:
        """Return the pre-activation W source + b of a dense node."""
        return F.linear(source_value, self.weight(node), self.bias(node))

    def values(self, x: torch.Tensor, preactivations: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Return the value of every node: the input, phi(pre-activation) of dense nodes and
        the sums of add nodes, from given dense pre-activations (feed-forward or pc states)."""
        value = {}
        for node in self.nodes:
            if node.kind == "input":
                value[node.name] = x
            elif node.kind == "dense":
                value[node.name] = activation(node.activation)(preactivations[node.name])
            else:
                total = value[node.sources[0]]
                for source in node.sources[1:]:
                    total = total + value[source]
                value[node.name] = total
        return value

    def output_of(self, x: torch.Tensor) -> torch.Tensor:
        """Return the network output phi_out(pre-activation of the output node)."""
        out = self.forward(x)
        node = self.node[self.output]
        return activation(node.activation)(out[self.output])

    def dense_nodes(self) -> list[Node]:
        return [node for node in self.nodes if node.kind == "dense"]

    def consumers(self, name: str) -> list[Node]:
        return [node for node in self.nodes if name in node.sources]
