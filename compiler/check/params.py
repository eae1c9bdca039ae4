"""Resolve every trainable parameter of a spec to its exponents and base-width constants.

The `param` and `inverse` statements apply in source order: a preset resets every
parameter, an override changes the keys it names for one parameter. Scaled constants fold
into the exponents: `mult = V * n^E` lowers a by E, `std = V * n^E` lowers b by E, and a
learning rate `V * n^E` (per parameter or the optimizer's global one) lowers c by E.
"""

from __future__ import annotations

import math
from fractions import Fraction

import attrs

from .. import ast
from ..ir import Dim, ScaledValue, SpecIR
from .presets import preset_row

Exponent = Fraction | float  # float only for +-inf


@attrs.frozen
class Parameter:
    """One trainable tensor with its role, exponents and constants at the base width.

    `a`, `b`, `c` are the exponents the statements set. `a_eff`, `b_eff`, `c_eff` add the
    scalings of `mult`, `std` and the learning rates, and the calculus uses them.
    """

    name: str  # "h1.weight", "h1.bias" or "h2.feedback"
    node: str
    kind: str  # "weight", "bias" or "feedback"
    role: str
    fan_in: Dim
    fan_out: Dim
    a: Fraction
    b: Exponent
    c: Fraction
    mult: ScaledValue
    std: ScaledValue
    lr: ScaledValue
    source: str
    line: int
    span: ast.Span
    default_std: bool
    a_eff: Fraction
    b_eff: Exponent
    c_eff: Fraction

    @property
    def zero_init(self) -> bool:
        return self.b_eff == math.inf

    @property
    def fan_in_exponent(self) -> int:
        """kappa: 1 when the fan-in grows with the width, else 0."""
        return self.fan_in.exponent

    @property
    def fan_out_exponent(self) -> int:
        return self.fan_out.exponent


def default_std(kind: str, fan_in: Dim, base: int) -> ScaledValue:
    """Return the init std at the base width: 1/sqrt(fan-in) for weights, 0 for biases."""
    if kind == "bias":
        return ScaledValue(Fraction(0))
    size = fan_in.size(base)
    root = math.isqrt(size)
    if root * root == size:
        return ScaledValue(Fraction(1, root))
    return ScaledValue(Fraction(1 / math.sqrt(size)).limit_denominator(10**12))


def precision_exponents(ir: SpecIR) -> dict[str, Fraction]:
    """Return the width exponent p of every dense node's precision (0 where unset)."""
    exponents = {node: Fraction(0) for node in ir.dense_nodes()}
    for node, value in ir.precisions.items():
        exponents[node] = value.exponent
    return exponents


def _pc_shift(ir: SpecIR, node: str, precisions: dict[str, Fraction]) -> Fraction:
    if ir.rule != "pc":
        return Fraction(0)
    output_exponent = precisions[ir.output]
    energy = ir.rule_settings.get("update") == "energy"
    if node == ir.output:
        return output_exponent if energy else Fraction(0)
    return output_exponent if energy else output_exponent - precisions[node]


def parameter_slots(ir: SpecIR) -> list[tuple[str, str, str, str, Dim, Dim]]:
    """List (name, node, kind, role, fan_in, fan_out) of every parameter, in graph order."""
    graph = ir.graph
    slots = []
    for node in ir.dense_nodes():
        data = graph.nodes[node]
        fan_in = graph.nodes[data["sources"][0]]["dim"]
        slots.append((f"{node}.weight", node, "weight", data["role"], fan_in, data["dim"]))
        if data["bias"]:
            slots.append((f"{node}.bias", node, "bias", data["bias_role"], Dim(Fraction(1), 0), data["dim"]))
    if ir.rule == "tp":
        for node in ir.dense_nodes():
            data = graph.nodes[node]
            if not data.get("feedback"):
                continue
            target_dim = graph.nodes[data["sources"][0]]["dim"]
            role = _role(data["dim"].grows, target_dim.grows)
            slots.append((f"{node}.feedback", node, "feedback", role, data["dim"], target_dim))
    return slots


def _role(fan_in_grows: bool, fan_out_grows: bool) -> str:
    if fan_in_grows and fan_out_grows:
        return "hidden"
    if fan_out_grows:
        return "input"
    if fan_in_grows:
        return "output"
    return "scalar"


def resolve_parameters(ir: SpecIR) -> list[Parameter]:
    """Apply the `param` and `inverse` statements in order and return every parameter."""
    precisions = precision_exponents(ir)
    global_lr = ir.optim_settings["lr"]
    result = []
    for name, node, kind, role, fan_in, fan_out in parameter_slots(ir):
        feedback = kind == "feedback"
        state = {
            "preset": "sp",
            "line": 0,
            "mult": ScaledValue(Fraction(1)),
            "std": default_std(kind, fan_in, ir.base),
            "lr": ScaledValue(Fraction(1)),
            "overrides": [],
            "span": ir.graph.nodes[node]["span"],
            "default_std": True,
        }
        state["a"], state["b"], state["c"] = preset_row(
            "sp", role, ir.rule, ir.optimizer, feedback=feedback
        )
        for statement in ir.param_statements:
            if statement.feedback != feedback:
                continue
            if statement.preset is not None:
                state["a"], state["b"], state["c"] = preset_row(
                    statement.preset,
                    role,
                    ir.rule,
                    ir.optimizer,
                    feedback=feedback,
                    pc_shift=_pc_shift(ir, node, precisions),
                )
                state.update(preset=statement.preset, line=statement.line, overrides=[], span=statement.span, default_std=True)
                state["mult"] = ScaledValue(Fraction(1))
                state["std"] = default_std(kind, fan_in, ir.base)
                state["lr"] = ScaledValue(Fraction(1))
                continue
            suffix = "bias" if kind == "bias" else None
            if statement.node != node or statement.suffix != suffix:
                continue
            for key, value in statement.values:
                state[key] = value
                if key == "std":
                    state["default_std"] = False
            state["overrides"].append(statement.line)
            state["span"] = statement.span

        source = f"{'inverse' if feedback else 'param'} {state['preset']}"
        source += f" (line {state['line']})" if state["line"] else " (default)"
        if state["overrides"]:
            source += ", override line " + ", ".join(str(line) for line in state["overrides"])

        mult, std, lr = state["mult"], state["std"], state["lr"]
        b_eff = math.inf if (state["b"] == math.inf or std.value == 0) else state["b"] - std.exponent
        # Feedback weights train with `feedback { lr }`, not with the optimizer's learning rate.
        if feedback:
            lr_exponent = lr.exponent + ir.feedback_settings["lr"].exponent
        else:
            lr_exponent = lr.exponent + global_lr.exponent
        result.append(
            Parameter(
                name=name,
                node=node,
                kind=kind,
                role=role,
                fan_in=fan_in,
                fan_out=fan_out,
                a=state["a"],
                b=state["b"],
                c=state["c"],
                mult=mult,
                std=std,
                lr=lr,
                source=source,
                line=max([state["line"], *state["overrides"]]),
                span=state["span"],
                default_std=state["default_std"],
                a_eff=state["a"] - mult.exponent,
                b_eff=b_eff,
                c_eff=state["c"] - lr_exponent,
            )
        )
    return result
