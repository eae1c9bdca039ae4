"""Emitters per node kind: parameter creation in `__init__` and the line in `forward`."""

from __future__ import annotations

import networkx as nx

from ..check.params import Parameter
from ..ir import Dim, SpecIR
from ..printer import print_value
from .names import mangled

# Activation name -> Python expression applied to a tensor expression.
ACTIVATION_CODE = {
    "identity": "{}",
    "relu": "torch.relu({})",
    "tanh": "torch.tanh({})",
    "gelu": "torch.nn.functional.gelu({})",
    "sigmoid": "torch.sigmoid({})",
}


def size_code(dim: Dim) -> str:
    """Return the Python expression of a size inside `__init__`, where `n` is the width."""
    if not dim.grows:
        return str(dim.coefficient)
    if dim.coefficient == 1:
        return "n"
    if dim.coefficient.denominator == 1:
        return f"{dim.coefficient.numerator} * n"
    return f"n // {dim.coefficient.denominator}"


def size_comment(dim: Dim) -> str:
    return str(dim)


def value_code(ir: SpecIR, node: str) -> str:
    """Return the expression of a node's value inside `forward`: x, phi(u[...]) or u[...]."""
    data = ir.graph.nodes[node]
    if data["kind"] == "input":
        return "x"
    if data["kind"] == "add":
        return f'u["{node}"]'
    return ACTIVATION_CODE[data["activation"]].format(f'u["{node}"]')


def binding_text(ir: SpecIR, node: str) -> str:
    """Return the spec text of a node's binding, as a comment."""
    call = ir.graph.nodes[node]["call"]
    return f"{node} = {print_value(call)}"


def emit_parameter(parameter: Parameter, constant: str) -> list[str]:
    """Emit the creation of one parameter and its multiplier inside `__init__`."""
    attribute = f"{parameter.node}_{parameter.kind}"
    shape = f"({size_code(parameter.fan_out)}, {size_code(parameter.fan_in)})"
    shape_comment = f"({size_comment(parameter.fan_out)}, {size_comment(parameter.fan_in)})"
    if parameter.kind == "bias":
        shape, shape_comment = f"({size_code(parameter.fan_out)},)", f"({size_comment(parameter.fan_out)},)"
    if parameter.kind == "feedback":
        shape_comment += f": maps {parameter.node} back to its source"
    if parameter.zero_init:
        creation = f"self.zeros({shape})"
        shape_comment += ", zero init"
    else:
        creation = f"self.normal({shape}, {constant}.std * m ** -{constant}.b, generator)"
    if mangled(attribute):
        line = f'self.register_parameter("{attribute}", {creation})  # {shape_comment}'
    else:
        line = f"self.{attribute} = {creation}  # {shape_comment}"
    multiplier = f'self.multipliers["{parameter.name}"] = {constant}.mult * m ** -{constant}.a'
    return [line, multiplier]


def emit_forward_line(ir: SpecIR, node: str) -> str | None:
    """Emit the line of `forward` that computes a dense pre-activation or an add value."""
    data = ir.graph.nodes[node]
    if data["kind"] == "input":
        return None
    if data["kind"] == "dense":
        source = value_code(ir, data["sources"][0])
        return f'u["{node}"] = self.dense("{node}", {source})  # (batch, {data["dim"]})'
    terms = " + ".join(value_code(ir, s) for s in data["sources"])
    return f'u["{node}"] = {terms}  # (batch, {data["dim"]})'


def describe_path(ir: SpecIR) -> str:
    """Return a short picture of the graph for the class docstring: x -> h1 -> h2 -> y."""
    order = ir.topological_nodes()
    if all(ir.graph.out_degree(n) <= 1 for n in order) and nx.is_tree(ir.graph.to_undirected()):
        return " -> ".join(order)
    return f"{len(order)} nodes, output {ir.output}"
