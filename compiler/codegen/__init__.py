"""Generate a readable, standalone PyTorch trainer module from a checked spec.

    source = generate(ir)

The module imports only torch and `localmup.runtime`, declares every parameterization
constant by name, builds the network explicitly and runs as
`python FILE.py --width N --steps S --device cpu|cuda`. Output is deterministic: the
same spec and path give the same text (tests/compiler/golden/ pins it).
"""

from __future__ import annotations

import json
from typing import Any

from ..check.params import Parameter, resolve_parameters
from ..ir import DataSource, ScaledValue, SpecIR
from .names import ConstantNames, exponent_literal, number_literal
from .nodes import binding_text, describe_path, emit_forward_line, emit_parameter

VERSION = "0.1.0"
INDENT = "    "

_MODULE_NAMES = {
    "SPEC", "SPEC_PATH", "WIDTH", "BASE_WIDTH", "NODES", "OUTPUT", "LOSS", "SCALES", "RULE",
    "RULE_SETTINGS", "PRECISIONS", "FEEDBACK_SETTINGS", "OPTIMIZER", "OPTIMIZER_SETTINGS", "TRAIN",
}


def generate(ir: SpecIR, parameters: list[Parameter] | None = None, spec_path: str | None = None) -> str:
    """Return the Python source of the trainer module of a spec.

    `spec_path` is how the module names its spec (default: the path the spec was read
    from); relative paths of data directories are also looked up beside it.
    """
    parameters = parameters if parameters is not None else resolve_parameters(ir)
    return _Emitter(ir, parameters, spec_path if spec_path is not None else ir.path).module()


def _scaled(value: ScaledValue) -> str:
    return f"Scaled({number_literal(value.value)}, {exponent_literal(value.exponent)})"


def _literal(value: Any) -> str:
    if isinstance(value, ScaledValue):
        return _scaled(value)
    if isinstance(value, DataSource):
        options = "{" + ", ".join(f'"{k}": {v}' for k, v in value.options) + "}"
        path = "None" if value.path is None else _string(value.path)
        return f'{{"name": "{value.name}", "path": {path}, "options": {options}}}'
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(_literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, str):
        return _string(value)
    return repr(value)


def _string(text: str) -> str:
    """Write a string literal with double quotes; JSON escapes are valid Python escapes."""
    return json.dumps(text)


def _dict(entries: dict, indent: str = "") -> list[str]:
    if not entries:
        return ["{}"]
    lines = ["{"]
    for key, value in entries.items():
        lines.append(f'{indent}{INDENT}"{key}": {_literal(value)},')
    lines.append(indent + "}")
    return lines


class _Emitter:
    def __init__(self, ir: SpecIR, parameters: list[Parameter], spec_path: str):
        self.ir = ir
        self.parameters = parameters
        self.spec_path = spec_path
        names = ConstantNames(_MODULE_NAMES)
        self.constants = {p.name: names.allocate(p.node, p.kind) for p in parameters}

    def module(self) -> str:
        sections = [
            self.header(),
            self.graph_section(),
            self.scale_section(),
            self.settings_section(),
            self.network_class(),
            self.groups(),
            ['if __name__ == "__main__":', f"{INDENT}raise SystemExit(trainer.main(__import__(__name__)))"],
        ]
        text = "\n\n".join("\n".join(lines) for lines in sections[:4])
        text += "\n\n\n" + "\n\n\n".join("\n".join(lines) for lines in sections[4:])
        return text + "\n"

    # --- sections ---

    def header(self) -> list[str]:
        ir = self.ir
        return [
            f'"""Trainer for `{ir.name}`, generated from {_string(self.spec_path)[1:-1]} by localmup {VERSION}.',
            "",
            "Do not edit: change the spec and run `localmup compile` again.",
            f"Run it as `python FILE.py --width {ir.width} --steps S --device cpu`.",
            '"""',
            "",
            "import torch",
            "",
            "from localmup.runtime import GraphNetwork, Node, Scale, Scaled, trainer",
            "",
            f'SPEC = "{ir.name}"',
            f"SPEC_PATH = {_string(self.spec_path)}  # relative paths are relative to this file",
            f"WIDTH = {ir.width}  # default width n",
            f"BASE_WIDTH = {ir.base}  # the width at which every constant is given; m = n / BASE_WIDTH",
        ]

    def graph_section(self) -> list[str]:
        ir = self.ir
        lines = ["# Graph nodes in topological order: name, kind, sources, activation, size.", "NODES = ("]
        for node in ir.topological_nodes():
            data = ir.graph.nodes[node]
            sources = "(" + "".join(f'"{s}", ' for s in data["sources"]).rstrip(" ") + ")"
            if len(data["sources"]) == 1:
                sources = f'("{data["sources"][0]}",)'
            lines.append(
                f'{INDENT}Node("{node}", "{data["kind"]}", {sources}, "{data["activation"]}", "{data["dim"]}"),  # line {data["line"]}'
            )
        lines.append(")")
        lines.append(f'OUTPUT = "{ir.output}"')
        lines.append(f'LOSS = "{ir.loss}"')
        return lines

    def scale_section(self) -> list[str]:
        ir = self.ir
        lines = [
            f"# Parameterization for rule {ir.rule} with {ir.optimizer}: W = mult * m^-a * w with",
            "# w ~ N(0, (std * m^-b)^2), trained with learning rate eta * lr * m^-c. The exponents",
            "# include any `* n^E` scaling of the constants; b = inf means zero init.",
        ]
        for parameter in self.parameters:
            constant = self.constants[parameter.name]
            lines.append(f"# {parameter.name}: {parameter.source}")
            lines.append(
                f'{constant} = Scale(role="{parameter.role}", a={exponent_literal(parameter.a_eff)}, '
                f"b={exponent_literal(parameter.b_eff)}, c={exponent_literal(parameter.c_eff)}, "
                f"mult={number_literal(parameter.mult.value)}, std={self.std_literal(parameter)}, "
                f"lr={number_literal(parameter.lr.value)})"
            )
        lines.append("SCALES = {")
        for parameter in self.parameters:
            lines.append(f'{INDENT}"{parameter.name}": {self.constants[parameter.name]},')
        lines.append("}")
        return lines

    def std_literal(self, parameter: Parameter) -> str:
        """Write the default weight std as `fan_in ** -0.5`, so its origin stays visible."""
        if parameter.default_std and parameter.kind != "bias":
            return f"{parameter.fan_in.size(self.ir.base)} ** -0.5"
        return number_literal(parameter.std.value)

    def settings_section(self) -> list[str]:
        ir = self.ir
        lines = [f'RULE = "{ir.rule}"']
        lines.extend(_prefixed("RULE_SETTINGS = ", _dict(dict(ir.rule_settings))))
        lines.extend(_prefixed("PRECISIONS = ", _dict(dict(ir.precisions))))
        lines.extend(_prefixed("FEEDBACK_SETTINGS = ", _dict(dict(ir.feedback_settings) if ir.rule == "tp" else {})))
        lines.append(f'OPTIMIZER = "{ir.optimizer}"')
        lines.extend(_prefixed("OPTIMIZER_SETTINGS = ", _dict(dict(ir.optim_settings))))
        lines.extend(_prefixed("TRAIN = ", _dict(dict(ir.train))))
        return lines

    def network_class(self) -> list[str]:
        ir = self.ir
        lines = [
            "class Network(GraphNetwork):",
            f'{INDENT}"""`{ir.name}` at width n: {describe_path(ir)}."""',
            "",
            f"{INDENT}nodes = NODES",
            f"{INDENT}output = OUTPUT",
            f"{INDENT}scales = SCALES",
            "",
            f"{INDENT}def __init__(self, width: int = WIDTH, generator: torch.Generator | None = None):",
            f"{INDENT * 2}super().__init__(width, BASE_WIDTH)",
            f"{INDENT * 2}n, m = self.width, self.m",
        ]
        by_node: dict[str, list[Parameter]] = {}
        for parameter in self.parameters:
            by_node.setdefault(parameter.node, []).append(parameter)
        for node in ir.dense_nodes():
            lines.append("")
            lines.append(f"{INDENT * 2}# {binding_text(ir, node)}  [line {ir.graph.nodes[node]['line']}]")
            for parameter in by_node.get(node, []):
                for line in emit_parameter(parameter, self.constants[parameter.name]):
                    lines.append(INDENT * 2 + line)
        lines += [
            "",
            f"{INDENT}def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:",
            f'{INDENT * 2}"""Return every dense node\'s pre-activation and every add node\'s value."""',
            f"{INDENT * 2}u = {{}}",
        ]
        for node in ir.topological_nodes():
            line = emit_forward_line(ir, node)
            if line is not None:
                lines.append(INDENT * 2 + line)
        lines.append(f"{INDENT * 2}return u")
        return lines

    def groups(self) -> list[str]:
        forward = [p for p in self.parameters if p.kind != "feedback"]
        feedback = [p for p in self.parameters if p.kind == "feedback"]
        lines = [
            "def parameter_groups(network: Network, eta: float) -> list[dict]:",
            f'{INDENT}"""Return optimizer groups in which each parameter trains with eta * lr * m^-c."""',
            f"{INDENT}m = network.m",
            f"{INDENT}return [",
        ]
        lines += [INDENT * 2 + self.group_line(p) for p in forward]
        lines += [f"{INDENT}]", "", ""]
        lines += [
            "def feedback_groups(network: Network, eta: float) -> list[dict]:",
            f'{INDENT}"""Return optimizer groups of the feedback weights (target propagation only)."""',
        ]
        if not feedback:
            lines.append(f"{INDENT}return []")
            return lines
        lines += [f"{INDENT}m = network.m", f"{INDENT}return ["]
        lines += [INDENT * 2 + self.group_line(p) for p in feedback]
        lines.append(f"{INDENT}]")
        return lines

    def group_line(self, parameter: Parameter) -> str:
        constant = self.constants[parameter.name]
        return (
            f'{{"name": "{parameter.name}", "params": [network.parameter("{parameter.name}")], '
            f'"lr": eta * {constant}.lr * m ** -{constant}.c}},'
        )


def _prefixed(prefix: str, lines: list[str]) -> list[str]:
    return [prefix + lines[0]] + lines[1:]

