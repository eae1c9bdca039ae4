"""Build the intermediate representation of a spec: a networkx graph plus resolved settings.

`build_ir` walks the syntax tree once, checks every name, key and value against the
registry, and collects all errors before raising, so a user sees every problem at once.
The graph is a `networkx.DiGraph` whose nodes carry typed attributes:

    kind        "input" | "dense" | "add"
    dim         Dim: size = coefficient * n^exponent
    sources     ordered source node names (edges point from source to node)
    activation  activation name (dense), "identity" otherwise
    bias        whether a dense node has a bias
    role        role of the dense weight: input | hidden | output | scalar (registry.ROLES)
    bias_role   "bias" (width-sized) or "scalar" (fixed size)
    feedback    whether the node has target-propagation feedback weights
    span, line  where the binding is in the source
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Iterable

import attrs
import networkx as nx

from . import ast, registry
from .errors import ERROR, WARNING, Diagnostic, SpecError, did_you_mean, one_of

# Stable codes of spec errors (E1xx: statements and values, E2xx: graph and names).
CODES = {
    "E100": "spec file not found or unreadable",
    "E101": "`spec` must be the first statement",
    "E102": "statement repeated",
    "E103": "required statement missing",
    "E104": "unknown key",
    "E105": "invalid value",
    "E106": "unknown option",
    "E107": "key repeated",
    "E108": "value out of range",
    "E109": "zero denominator",
    "E110": "`inf` not allowed here",
    "E111": "invalid dimension",
    "E201": "unknown node",
    "E202": "node defined twice",
    "E203": "reserved word used as a name",
    "E204": "cycle in the graph",
    "E205": "dimension mismatch",
    "E206": "missing output",
    "E207": "output declared twice",
    "E208": "unknown layer kind",
    "E209": "invalid arguments",
    "E210": "invalid output node",
    "E211": "invalid input node",
    "E212": "invalid override target",
    "E213": "unknown preset",
    "E214": "setting does not apply to this rule",
    "E215": "data does not fit the graph",
    "W201": "node does not reach the output",
    "W202": "setting has no effect",
}


@attrs.frozen
class Dim:
    """A layer size `coefficient * n^exponent`; exponent 0 is a fixed size."""

    coefficient: Fraction
    exponent: int

    def size(self, width: int) -> int:
        """Return the size at width n; raise ValueError if it is not a positive integer."""
        value = self.coefficient * (width if self.exponent else 1)
        if value.denominator != 1 or value <= 0:
            raise ValueError(f"size {self} is not a positive integer at width {width}")
        return int(value)

    @property
    def grows(self) -> bool:
        return self.exponent != 0

    def __str__(self) -> str:
        if not self.exponent:
            return str(self.coefficient)
        if self.coefficient == 1:
            return "n"
        if self.coefficient.numerator == 1:
            return f"n/{self.coefficient.denominator}"
        return f"{self.coefficient}*n"


@attrs.frozen
class ScaledValue:
    """A number given at the base width that scales like m^exponent, m = n / base."""

    value: Fraction
    exponent: Fraction = Fraction(0)

    def at(self, multiplier: float) -> float:
        return float(self.value) * float(multiplier) ** float(self.exponent)

    def __str__(self) -> str:
        text = _format_number(self.value)
        if self.exponent == 0:
            return text
        power = str(self.exponent) if self.exponent.denominator == 1 else f"({self.exponent})"
        return f"{text} * n^{power}"


def _format_number(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    as_float = float(value)
    return repr(as_float)


@attrs.frozen
class DataSource:
    """The dataset of `train { data = ... }`: a registry name with its arguments."""

    name: str
    path: str | None = None
    options: tuple[tuple[str, int], ...] = ()


@attrs.frozen
class ParamStatement:
    """A `param`/`inverse` statement: a preset (node is None) or an override of one node.

    `values` maps the keys a, b, c (Fraction, or math.inf for b = inf) and mult, std, lr
    (ScaledValue) to what the statement sets.
    """

    feedback: bool
    preset: str | None
    node: str | None
    suffix: str | None
    values: tuple[tuple[str, Any], ...]
    span: ast.Span
    line: int


@attrs.define
class SpecIR:
    """A checked spec: its graph, rule, parameterization statements and settings."""

    name: str
    path: str
    source: str
    width: int
    base: int
    graph: nx.DiGraph
    output: str
    loss: str
    rule: str
    rule_settings: dict[str, Any]
    precisions: dict[str, ScaledValue]
    feedback_settings: dict[str, Any]
    param_statements: tuple[ParamStatement, ...]
    optimizer: str
    optim_settings: dict[str, Any]
    train: dict[str, Any]
    sweep: dict[str, Any]
    coord: dict[str, Any]
    lines: dict[str, int]
    warnings: tuple[Diagnostic, ...] = ()

    @property
    def input_node(self) -> str:
        return next(n for n, data in self.graph.nodes(data=True) if data["kind"] == "input")

    def topological_nodes(self) -> list[str]:
        """Return node names in a deterministic topological order (ties by source line)."""
        return list(nx.lexicographical_topological_sort(self.graph, key=lambda n: (self.graph.nodes[n]["line"], n)))

    def dense_nodes(self) -> list[str]:
        return [n for n in self.topological_nodes() if self.graph.nodes[n]["kind"] == "dense"]

    def check_widths(self, widths) -> None:
        """Raise one SpecError that lists every width at which a size is fractional or too large."""
        problems = []
        for width in widths:
            try:
                self.with_width(width)
            except SpecError as error:
                problems.extend(error.diagnostics)
        if problems:
            raise SpecError(problems, self.path, self.source)

    def with_width(self, width: int) -> "SpecIR":
        """Return a copy at another default width; raise SpecError if a size does not divide."""
        problems = []
        for name, data in self.graph.nodes(data=True):
            try:
                size = data["dim"].size(width)
                if size > _LARGEST_INTEGER:
                    problems.append(
                        Diagnostic(
                            ERROR,
                            "E111",
                            f"width {width} gives node `{name}` the size {size}, above the limit {_LARGEST_INTEGER}",
                            data["span"],
                            fix="choose a smaller width or size",
                        )
                    )
            except ValueError:
                problems.append(
                    Diagnostic(
                        ERROR,
                        "E111",
                        f"width {width} gives node `{name}` the size {data['dim'].coefficient * width}, "
                        f"which is not a positive integer",
                        data["span"],
                        fix=f"choose a width divisible by {data['dim'].coefficient.denominator}",
                    )
                )
        if width <= 0:
            problems.append(Diagnostic(ERROR, "E111", f"width must be a positive integer, got {width}"))
        if problems:
            raise SpecError(problems, self.path, self.source)
        return attrs.evolve(self, width=width)


def build_ir(spec: ast.Spec, source: str, path: str = "<spec>", width: int | None = None) -> SpecIR:
    """Check a syntax tree and build its IR; raise `SpecError` listing every error found.

    `width` (the command line's --width) replaces the spec's default width before the sizes
    are checked, so that `n/3` is judged at the width that will be used.
    """
    builder = _Builder(source, path, width)
    ir = builder.build(spec)
    errors = [d for d in builder.diagnostics if d.severity == ERROR]
    if errors or ir is None:
        raise SpecError(errors or builder.diagnostics, path, source)
    ir.warnings = tuple(d for d in builder.diagnostics if d.severity != ERROR)
    return ir


def read_source(path: str) -> str:
    """Read a spec file as UTF-8 text (a byte-order mark is allowed); raise SpecError E100."""
    import os

    def unreadable(reason: str) -> SpecError:
        return SpecError([Diagnostic(ERROR, "E100", f"cannot read the spec: {reason}")], path)

    if os.path.isdir(path):
        raise unreadable("it is a directory; give the path of a .lmu file")
    if not os.path.exists(path):
        raise unreadable("file not found")
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return handle.read()
    except UnicodeDecodeError as error:
        raise unreadable(f"not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset {error.start})") from None
    except OSError as error:
        raise unreadable(error.strerror or str(error)) from None


def load_spec(path: str, width: int | None = None) -> SpecIR:
    """Read, parse and check a spec file; `width` replaces the spec's default width."""
    from .parse import parse

    source = read_source(path)
    return build_ir(parse(source, path), source, path, width=width)


def compile_source(source: str, path: str = "<spec>", width: int | None = None) -> SpecIR:
    """Parse and check spec text; `width` replaces the spec's default width."""
    from .parse import parse

    return build_ir(parse(source, path), source, path, width=width)


class _Builder:
    def __init__(self, source: str, path: str, width_override: int | None = None):
        self.source = source
        self.path = path
        self.width_override = width_override
        self.diagnostics: list[Diagnostic] = []

    # --- diagnostics ---

    def error(self, code: str, message: str, span: ast.Span, fix: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(ERROR, code, message, span, fix=fix))

    def warning(self, code: str, message: str, span: ast.Span, fix: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(WARNING, code, message, span, fix=fix))

    # --- top level ---

    def build(self, spec: ast.Spec) -> SpecIR | None:
        statements = self._group_statements(spec)

        name = self._spec_name(statements)
        width, base = self._width(statements.get("width"))
        graph, output, loss, lines = self._graph(statements.get("graph"), width, base)
        rule, rule_settings, precisions, feedback_settings = self._rule(statements.get("rule"), graph)
        optimizer, optim_settings = self._optim(statements.get("optim"))
        params = self._params(statements["param"], graph, rule)
        train = self._block_settings(statements.get("train"), "train")
        sweep = self._block_settings(statements.get("sweep"), "sweep")
        coord = self._block_settings(statements.get("coord"), "coord")
        if train.get("steps") is not None and train.get("epochs") is not None:
            self.error("E105", "`steps` and `epochs` both given; give one of them", statements["train"].span)
        if graph is not None and rule == "tp":
            for node in graph.nodes:
                graph.nodes[node]["feedback"] = _has_feedback(graph, node)

        if any(d.severity == ERROR for d in self.diagnostics):
            return None
        return SpecIR(
            name=name,
            path=self.path,
            source=self.source,
            width=width,
            base=base,
            graph=graph,
            output=output,
            loss=loss,
            rule=rule,
            rule_settings=rule_settings,
            precisions=precisions,
            feedback_settings=feedback_settings,
            param_statements=params,
            optimizer=optimizer,
            optim_settings=optim_settings,
            train=train,
            sweep=sweep,
            coord=coord,
            lines=lines,
        )

    def _group_statements(self, spec: ast.Spec) -> dict[str, Any]:
        grouped: dict[str, Any] = {"param": []}
        for index, statement in enumerate(spec.statements):
            keyword = _keyword_of(statement)
            if keyword == "spec" and index != 0:
                self.error("E101", "`spec NAME` must be the first statement", statement.span)
            if index == 0 and keyword != "spec":
                self.error(
                    "E101",
                    f"a spec starts with `spec NAME`, found `{keyword}`",
                    statement.span,
                    fix="add `spec my_model` as the first line",
                )
            if keyword in ("param", "inverse"):
                grouped["param"].append(statement)
            elif keyword in grouped:
                self.error("E102", f"`{keyword}` given twice; it may appear once", statement.span)
            else:
                grouped[keyword] = statement
        whole = spec.span if spec.span.line else ast.Span(1, 1, 1, 2, 0, 1)
        for keyword in registry.REQUIRED_STATEMENTS:
            if keyword not in grouped:
                self.error("E103", f"missing `{keyword}` statement", whole, fix=_REQUIRED_EXAMPLES[keyword])
        return grouped

    def _spec_name(self, statements) -> str:
        statement = statements.get("spec")
        return statement.name if statement else "spec"

    # --- width ---

    def _width(self, statement: ast.WidthStmt | None) -> tuple[int, int]:
        if statement is None:
            return 0, 0
        width = self._integer(statement.default, "width n", minimum=1)
        settings = self._read_items(statement.options, registry.WIDTH_SETTINGS, "width", statement.span)
        base = settings.get("base") or 0
        if self.width_override is not None:
            width = self.width_override
        return width or 0, base

    # --- graph ---

    def _graph(self, statement: ast.GraphStmt | None, width: int, base: int):
        if statement is None:
            return None, "", "mse", {}
        graph = nx.DiGraph()
        bindings: dict[str, ast.Binding] = {}
        outputs: list[ast.OutputDecl] = []
        for item in statement.items:
            if isinstance(item, ast.OutputDecl):
                outputs.append(item)
                continue
            if item.name in registry.RESERVED_WORDS:
                self.error("E203", f"`{item.name}` is a reserved word and cannot name a node", item.name_span, fix="rename the node")
                continue
            if item.name in bindings:
                first = bindings[item.name].span.line
                self.error("E202", f"node `{item.name}` is already defined on line {first}", item.name_span)
                continue
            bindings[item.name] = item

        for name, binding in bindings.items():
            attributes = self._layer(binding, width, base)
            if attributes is not None:
                graph.add_node(name, **attributes)

        self._connect(graph, bindings)

        output, loss = "", "mse"
        if not outputs:
            self.error("E206", "the graph has no `output` declaration", statement.span, fix="add `output y, loss = mse` inside `graph { }`")
        for extra in outputs[1:]:
            self.error("E207", f"`output` declared again (first on line {outputs[0].span.line}); a spec has one output", extra.span)
        if outputs:
            output, loss = self._output(outputs[0], graph, bindings)

        inputs = [n for n, d in graph.nodes(data=True) if d["kind"] == "input"]
        if graph.number_of_nodes() and not inputs:
            self.error("E211", "the graph has no `input(...)` node", statement.span, fix="add `x = input(64)`")
        for extra in inputs[1:]:
            self.error("E211", f"second input node `{extra}`; a graph has exactly one input", graph.nodes[extra]["span"])

        if not any(d.severity == ERROR for d in self.diagnostics):
            self._check_cycles(graph)
        if not any(d.severity == ERROR for d in self.diagnostics):
            self._check_add_dims(graph)
            self._assign_roles(graph)
            if output:
                self._warn_unused(graph, output)
        lines = {name: binding.span.line for name, binding in bindings.items()}
        return graph, output, loss, lines

    def _layer(self, binding: ast.Binding, width: int, base: int) -> dict[str, Any] | None:
        call = binding.call
        kind = call.func
        common = {"span": binding.span, "line": binding.span.line, "call": call}
        if kind not in registry.LAYER_KINDS:
            self.error(
                "E208",
                f"unknown layer kind `{kind}`{did_you_mean(kind, registry.LAYER_KINDS)}",
                call.func_span,
                fix=f"use {one_of(registry.LAYER_KINDS)}",
            )
            return None
        positional, keywords = self._split_arguments(call)
        if positional is None:
            return None

        if kind == "input":
            if len(positional) != 1 or keywords:
                self.error("E209", "`input` takes one argument, the input dimension: `input(64)`", call.span)
                return None
            dim = self._dimension(positional[0], width, base, binding.name)
            if dim is not None and dim.grows:
                self.error("E211", "the input dimension must be a fixed integer, the size of a data sample", positional[0].span)
            return None if dim is None else {"kind": "input", "dim": dim, "sources": (), "activation": "identity", "bias": False, **common}

        if kind == "dense":
            if len(positional) != 2:
                self.error(
                    "E209",
                    f"`dense` takes a source node and a size, got {len(positional)} positional arguments",
                    call.span,
                    fix="write `dense(SOURCE, SIZE, act = tanh, bias = true)`",
                )
                return None
            source = self._node_reference(positional[0])
            dim = self._dimension(positional[1], width, base, binding.name)
            settings = self._read_items(keywords, registry.DENSE_ARGUMENTS, "dense", call.span)
            if source is None or dim is None:
                return None
            return {
                "kind": "dense",
                "dim": dim,
                "sources": (source,),
                "source_spans": (positional[0].span,),
                "activation": settings["act"],
                "bias": settings["bias"],
                **common,
            }

        # kind == "add"
        if keywords:
            self.error("E209", "`add` takes only node names", keywords[0].span)
        if len(positional) < 2:
            self.error("E209", "`add` sums two or more nodes: `add(a, b)`", call.span)
            return None
        sources = [self._node_reference(p) for p in positional]
        if any(s is None for s in sources):
            return None
        seen = set()
        for source, argument in zip(sources, positional):
            if source in seen:
                self.error("E209", f"`add` lists `{source}` twice", argument.span, fix="list each node once")
                return None
            seen.add(source)
        return {
            "kind": "add",
            "dim": None,
            "sources": tuple(sources),
            "source_spans": tuple(p.span for p in positional),
            "activation": "identity",
            "bias": False,
            **common,
        }

    def _split_arguments(self, call: ast.Call):
        positional, keywords = [], []
        for argument in call.arguments:
            if isinstance(argument, ast.KeyValue):
                keywords.append(argument)
            elif keywords:
                self.error(
                    "E209",
                    "positional argument after a keyword argument",
                    argument.span,
                    fix="put positional arguments first: `dense(x, n, act = tanh)`",
                )
                return None, None
            else:
                positional.append(argument)
        return positional, keywords

    def _node_reference(self, value: ast.Value) -> str | None:
        if isinstance(value, ast.Name):
            return value.name
        self.error("E105", "expected a node name", value.span)
        return None

    def _dimension(self, value: ast.Value, width: int, base: int, node: str = "") -> Dim | None:
        if isinstance(value, ast.Number) and value.is_integer:
            size = int(value.text)
            if size <= 0:
                self.error("E111", f"a size must be positive, got {size}", value.span)
                return None
            if size > _LARGEST_INTEGER:
                self.error("E111", f"a size must be at most {_LARGEST_INTEGER}, got {size}", value.span)
                return None
            return Dim(Fraction(size), 0)
        if isinstance(value, ast.Dimension):
            if value.divisor == 0:
                self.error("E109", "zero denominator in `n/0`", value.span)
                return None
            if value.multiple <= 0 or value.divisor <= 0:
                self.error("E111", "a size must be positive", value.span)
                return None
            coefficient = Fraction(value.multiple, value.divisor)
            if width and coefficient * width > _LARGEST_INTEGER:
                self.error("E111", f"this size is {coefficient * width} at width {width}, above the limit {_LARGEST_INTEGER}", value.span)
                return None
            for label, number in (("width", width), ("base", base)):
                if number and (coefficient * number).denominator != 1:
                    owner = f" of `{node}`" if node else ""
                    self.error(
                        "E111",
                        f"size `n/{value.divisor}`{owner} is not an integer at {label} {number}",
                        value.span,
                        fix=f"make the {label} a multiple of {value.divisor}",
                    )
                    return None
            return Dim(coefficient, 1)
        self.error(
            "E111",
            "a size is a positive integer, `n`, `k*n` or `n/k`",
            value.span,
            fix="write `n` for a width-sized layer (`2 * n^1` is a scaled value, not a size)",
        )
        return None

    def _connect(self, graph: nx.DiGraph, bindings: dict[str, ast.Binding]) -> None:
        for name in list(graph.nodes):
            data = graph.nodes[name]
            for position, (source, span) in enumerate(zip(data["sources"], data.get("source_spans", ()))):
                if source not in bindings:
                    self.error("E201", f"unknown node `{source}`{did_you_mean(source, bindings)}", span)
                elif source in graph:
                    graph.add_edge(source, name, position=position)

    def _check_cycles(self, graph: nx.DiGraph) -> None:
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            return
        names = [edge[0] for edge in cycle]
        path = " -> ".join(names + [names[0]])
        first = min(names, key=lambda n: graph.nodes[n]["line"])
        self.error("E204", f"the graph has a cycle: {path}", graph.nodes[first]["span"], fix="a node may use only nodes that do not depend on it")

    def _check_add_dims(self, graph: nx.DiGraph) -> None:
        for name in nx.topological_sort(graph):
            data = graph.nodes[name]
            if data["kind"] != "add":
                continue
            dims = [graph.nodes[s]["dim"] for s in data["sources"]]
            if any(d is None for d in dims):
                continue
            if len(set(dims)) > 1:
                listed = ", ".join(f"`{s}` ({d})" for s, d in zip(data["sources"], dims))
                self.error("E205", f"`add` needs equal sizes, got {listed}", data["span"])
                data["dim"] = None
            else:
                data["dim"] = dims[0]

    def _assign_roles(self, graph: nx.DiGraph) -> None:
        for name in graph.nodes:
            data = graph.nodes[name]
            data["feedback"] = False
            if data["kind"] != "dense":
                continue
            fan_in = graph.nodes[data["sources"][0]]["dim"]
            fan_out = data["dim"]
            if fan_in is None or fan_out is None:
                continue
            data["role"] = _weight_role(fan_in.grows, fan_out.grows)
            if data["role"] == "output" and graph.out_degree(name) > 0:
                # A fixed-size layer inside the network (a bottleneck) is no readout: its
                # fan-in grows and its output feeds further layers, like a hidden layer.
                data["role"] = "hidden"
            data["bias_role"] = "bias" if fan_out.grows else "scalar"

    def _output(self, declaration: ast.OutputDecl, graph: nx.DiGraph, bindings) -> tuple[str, str]:
        settings = self._read_items(declaration.options, registry.OUTPUT_SETTINGS, "output", declaration.span)
        name = declaration.name
        if name not in bindings:
            self.error("E201", f"unknown output node `{name}`{did_you_mean(name, bindings)}", declaration.name_span)
            return "", settings["loss"]
        if name in graph:
            data = graph.nodes[name]
            if data["kind"] != "dense":
                self.error("E210", f"the output `{name}` is an `{data['kind']}` node; it must be a `dense` layer (the readout)", declaration.name_span)
            elif data["dim"].grows:
                self.error(
                    "E210",
                    f"the output `{name}` has width-sized dimension {data['dim']}; a readout maps the width to a fixed number of outputs",
                    declaration.name_span,
                    fix="give the output layer a fixed size, e.g. `dense(h, 10)`",
                )
        return name, settings["loss"]

    def _warn_unused(self, graph: nx.DiGraph, output: str) -> None:
        if output not in graph:
            return
        used = nx.ancestors(graph, output) | {output}
        for name in graph.nodes:
            if name not in used:
                self.warning("W201", f"node `{name}` does not reach the output `{output}` and is never trained", graph.nodes[name]["span"], fix="remove it or connect it")

    # --- rule ---

    def _rule(self, statement: ast.RuleStmt | None, graph: nx.DiGraph | None):
        if statement is None:
            return "bp", {}, {}, {}
        rule = statement.name
        if rule not in registry.RULES:
            self.error("E106", f"unknown rule `{rule}`{did_you_mean(rule, registry.RULES)}", statement.name_span, fix=f"use {one_of(registry.RULES)}")
            return rule, {}, {}, {}
        items = statement.items or ()
        plain = [i for i in items if isinstance(i, ast.KeyValue)]
        settings = self._read_items(plain, registry.RULE_SETTINGS[rule], f"rule {rule}", statement.span)

        precisions: dict[str, ScaledValue] = {}
        feedback: dict[str, Any] = {}
        named_schema = registry.RULE_NAMED_SETTINGS[rule]
        sub_blocks = registry.RULE_SUB_BLOCKS[rule]
        seen_sub_blocks = set()
        for item in items:
            if isinstance(item, ast.NamedValue):
                if item.key not in named_schema:
                    allowed = one_of(named_schema) if named_schema else "no named settings"
                    self.error("E104", f"`rule {rule}` has no setting `{item.key} NODE = ...`; it takes {allowed}", item.key_span)
                    continue
                if graph is not None and (item.target not in graph or graph.nodes[item.target]["kind"] != "dense"):
                    dense = [n for n, d in graph.nodes(data=True) if d["kind"] == "dense"]
                    self.error("E201", f"`{item.key}` names `{item.target}`, which is not a dense node{did_you_mean(item.target, dense)}", item.target_span)
                    continue
                if item.target in precisions:
                    self.error("E107", f"`{item.key} {item.target}` given twice", item.span)
                    continue
                value = self._value(item.value, named_schema[item.key], f"{item.key} {item.target}")
                if value is not None:
                    precisions[item.target] = value
            elif isinstance(item, ast.SubBlock):
                if item.name not in sub_blocks:
                    allowed = one_of(sub_blocks) if sub_blocks else "no sub-blocks"
                    self.error("E104", f"`rule {rule}` has no block `{item.name}`; it takes {allowed}", item.name_span)
                    continue
                if item.name in seen_sub_blocks:
                    self.error("E107", f"`{item.name}` block given twice", item.span)
                    continue
                seen_sub_blocks.add(item.name)
                nested = [i for i in item.items if isinstance(i, ast.KeyValue)]
                for other in item.items:
                    if not isinstance(other, ast.KeyValue):
                        self.error("E105", f"`{item.name} {{ }}` takes only `key = value` items", other.span)
                feedback = self._read_items(nested, sub_blocks[item.name], item.name, item.span)
        for name, schema in sub_blocks.items():
            if name not in seen_sub_blocks:
                feedback = {key: default_value(setting) for key, setting in schema.items()}
        return rule, settings, precisions, feedback

    # --- optimizer ---

    def _optim(self, statement: ast.OptimStmt | None):
        if statement is None:
            return "sgd", {}
        name = statement.name
        if name not in registry.OPTIMIZERS:
            self.error("E106", f"unknown optimizer `{name}`{did_you_mean(name, registry.OPTIMIZERS)}", statement.name_span, fix=f"use {one_of(registry.OPTIMIZERS)}")
            return name, {}
        items = statement.items or ()
        plain = [i for i in items if isinstance(i, ast.KeyValue)]
        for other in items:
            if not isinstance(other, ast.KeyValue):
                self.error("E105", f"`optim {name} {{ }}` takes only `key = value` items", other.span)
        settings = self._read_items(plain, registry.OPTIM_SETTINGS[name], f"optim {name}", statement.span)
        return name, settings

    # --- parameterization ---

    def _params(self, statements, graph: nx.DiGraph | None, rule: str) -> tuple[ParamStatement, ...]:
        result = []
        for statement in statements:
            keyword = "inverse" if statement.feedback else "param"
            if statement.feedback and rule != "tp":
                self.error("E214", f"`inverse` sets feedback weights, which only `rule tp` has", statement.span, fix="remove the statement or use `rule tp`")
                continue
            if isinstance(statement, ast.ParamPreset):
                preset = statement.preset
                if preset not in registry.PRESETS:
                    self.error("E213", f"unknown preset `{preset}`{did_you_mean(preset, registry.PRESETS)}", statement.preset_span, fix=f"use {one_of(registry.PRESETS)}")
                    continue
                if preset == "ntk" and rule in ("pc", "tp"):
                    others = [p for p in registry.PRESETS if p != "ntk"]
                    self.error("E213", f"preset `ntk` is defined for `rule bp` only", statement.preset_span, fix=f"use {one_of(others)} with `rule {rule}`")
                    continue
                result.append(ParamStatement(statement.feedback, preset, None, None, (), statement.span, statement.span.line))
                continue

            target = statement.target
            if not self._valid_target(target, graph, keyword):
                continue
            values = self._read_items(statement.items, registry.PARAM_SETTINGS, f"{keyword} {target.node}", statement.span, defaults=False)
            result.append(
                ParamStatement(statement.feedback, None, target.node, target.suffix, tuple(values.items()), statement.span, statement.span.line)
            )
        return tuple(result)

    def _valid_target(self, target: ast.Target, graph: nx.DiGraph | None, keyword: str) -> bool:
        if graph is None:
            return False
        dense = [n for n, d in graph.nodes(data=True) if d["kind"] == "dense"]
        if target.node not in graph:
            self.error("E201", f"unknown node `{target.node}`{did_you_mean(target.node, dense)}", target.span)
            return False
        data = graph.nodes[target.node]
        if data["kind"] != "dense":
            self.error("E212", f"`{target.node}` is an `{data['kind']}` node and has no parameters; `{keyword}` applies to dense layers", target.span)
            return False
        if target.suffix is not None:
            if keyword == "inverse" or target.suffix != "bias":
                allowed = "no suffix" if keyword == "inverse" else "only `.bias`"
                self.error("E212", f"unknown suffix `.{target.suffix}` for `{keyword}`; it takes {allowed}", target.span)
                return False
            if not data["bias"]:
                self.error("E212", f"`{target.node}` has no bias (`bias = false`)", target.span)
                return False
        if keyword == "inverse" and not _has_feedback(graph, target.node):
            self.error("E212", f"`{target.node}` reads the input directly, so it has no feedback weights to set", target.span)
            return False
        return True

    # --- blocks ---

    def _block_settings(self, statement: ast.BlockStmt | None, keyword: str) -> dict[str, Any]:
        schema = registry.BLOCK_SETTINGS[keyword]
        if statement is None:
            return {key: default_value(setting) for key, setting in schema.items()}
        plain = [i for i in statement.items if isinstance(i, ast.KeyValue)]
        for other in statement.items:
            if not isinstance(other, ast.KeyValue):
                self.error("E105", f"`{keyword} {{ }}` takes only `key = value` items", other.span)
        return self._read_items(plain, schema, keyword, statement.span)

    def _read_items(
        self,
        items: Iterable[ast.KeyValue],
        schema: dict[str, registry.Setting],
        context: str,
        span: ast.Span,
        defaults: bool = True,
    ) -> dict[str, Any]:
        """Convert `key = value` items by `schema`; fill defaults and report missing keys."""
        values: dict[str, Any] = {}
        seen: dict[str, ast.KeyValue] = {}
        invalid: set[str] = set()
        for item in items:
            if item.key not in schema:
                allowed = one_of(schema) if schema else "no settings"
                self.error(
                    "E104",
                    f"unknown key `{item.key}` in `{context}`{did_you_mean(item.key, schema)}",
                    item.key_span,
                    fix=f"`{context}` takes {allowed}",
                )
                continue
            if item.key in seen:
                self.error("E107", f"`{item.key}` given twice in `{context}` (first on line {seen[item.key].span.line})", item.key_span)
                continue
            seen[item.key] = item
            value = self._value(item.value, schema[item.key], item.key)
            if value is not None:
                values[item.key] = value
            else:
                invalid.add(item.key)
        if defaults:
            for key, setting in schema.items():
                if key in values:
                    continue
                if key in invalid:
                    # Already reported; the default keeps later checks running.
                    values[key] = default_value(setting)
                    continue
                if setting.required:
                    self.error("E103", f"`{context}` needs `{key}` ({setting.help})", span)
                values[key] = default_value(setting)
        return values

    # --- values ---

    def _value(self, value: ast.Value, setting: registry.Setting, key: str) -> Any:
        kind = setting.kind
        if kind == "int":
            return self._integer(value, key, setting.minimum, setting.maximum)
        if kind == "bool":
            if isinstance(value, ast.Bool):
                return value.value
            self.error("E105", f"`{key}` takes `true` or `false`", value.span)
            return None
        if kind == "enum":
            if isinstance(value, ast.Name) and value.name in setting.options:
                return value.name
            found = f"`{value.name}`" if isinstance(value, ast.Name) else _describe(value)
            hint = did_you_mean(value.name, setting.options) if isinstance(value, ast.Name) else ""
            self.error("E106", f"unknown value {found} for `{key}`{hint}", value.span, fix=f"`{key}` takes {one_of(setting.options)}")
            return None
        if kind == "exponent":
            return self._exponent(value, key)
        if kind in ("number", "scaled"):
            scaled = self._scaled(value, key, allow_scale=kind == "scaled")
            if scaled is None:
                return None
            if not self._in_range(scaled.value, setting, key, value.span):
                return None
            return scaled if kind == "scaled" else scaled.value
        if kind == "pair":
            if not isinstance(value, ast.TupleValue) or len(value.items) != 2:
                self.error("E105", f"`{key}` takes two numbers: `{key} = (0.9, 0.999)`", value.span)
                return None
            numbers = [self._plain_number(v, key) for v in value.items]
            if any(n is None for n in numbers):
                return None
            if not all(self._in_range(n, setting, key, v.span) for n, v in zip(numbers, value.items)):
                return None
            return tuple(float(n) for n in numbers)
        if kind == "widths":
            if not isinstance(value, ast.ListValue) or not value.items:
                self.error("E105", f"`{key}` takes a list of widths: `{key} = [256, 512, 1024]`", value.span)
                return None
            widths = [self._integer(v, key, 1) for v in value.items]
            return None if any(w is None for w in widths) else tuple(widths)
        if kind == "lrs":
            return self._learning_rates(value, key)
        if kind == "data":
            return self._data(value)
        raise AssertionError(f"unknown setting kind {kind}")

    def _integer(self, value: ast.Value, key: str, minimum: float | None, maximum: float | None = None) -> int | None:
        if isinstance(value, ast.Number) and value.is_integer:
            number = int(value.text)
            if minimum is not None and number < minimum:
                self.error("E108", f"`{key}` must be at least {int(minimum)}, got {number}", value.span)
                return None
            maximum = _LARGEST_INTEGER if maximum is None else maximum
            if number > maximum:
                self.error("E108", f"`{key}` must be at most {int(maximum)}, got {number}", value.span)
                return None
            return number
        self.error("E105", f"`{key}` takes an integer, got {_describe(value)}", value.span)
        return None

    def _plain_number(self, value: ast.Value, key: str) -> Fraction | None:
        if isinstance(value, ast.Number):
            number = value.value
            if abs(number) > _LARGEST_FLOAT:
                self.error("E108", f"`{key}` = {value.text} is too large: {_MAGNITUDES}", value.span)
                return None
            if number != 0 and abs(number) < _SMALLEST_FLOAT:
                self.error("E108", f"`{key}` = {value.text} is too small: {_MAGNITUDES}", value.span)
                return None
            return number
        if isinstance(value, ast.Rational):
            if value.denominator == 0:
                self.error("E109", f"zero denominator in `{value.numerator}/0`", value.span)
                return None
            if abs(value.value) > _LARGEST_FLOAT:
                self.error("E108", f"`{key}` = {value.numerator}/{value.denominator} is too large: {_MAGNITUDES}", value.span)
                return None
            if value.value != 0 and abs(value.value) < _SMALLEST_FLOAT:
                self.error("E108", f"`{key}` = {value.numerator}/{value.denominator} is too small: {_MAGNITUDES}", value.span)
                return None
            return value.value
        if isinstance(value, ast.Inf):
            if value.negative:
                self.error("E110", "`-inf` is not a valid value", value.span, fix="use `b = inf` for a zero init")
            else:
                self.error("E110", f"`inf` is allowed only for `b` (zero init), not for `{key}`", value.span)
            return None
        self.error("E105", f"`{key}` takes a number, got {_describe(value)}", value.span)
        return None

    def _scaled(self, value: ast.Value, key: str, allow_scale: bool) -> ScaledValue | None:
        if isinstance(value, ast.Scaled):
            if not allow_scale:
                self.error("E105", f"`{key}` takes a plain number, not a scaled value", value.span)
                return None
            coefficient = self._plain_number(value.coefficient, key)
            exponent = self._plain_number(value.exponent, key)
            if coefficient is None or exponent is None:
                return None
            return ScaledValue(coefficient, exponent)
        number = self._plain_number(value, key)
        return None if number is None else ScaledValue(number)

    def _exponent(self, value: ast.Value, key: str) -> Fraction | float | None:
        if isinstance(value, ast.Inf):
            if value.negative:
                self.error("E110", "`-inf` is not a valid exponent", value.span, fix="use `b = inf` for a zero init")
                return None
            if key != "b":
                self.error("E110", f"`inf` is allowed only for `b` (zero init), not for `{key}`", value.span)
                return None
            return math.inf
        return self._plain_number(value, key)

    def _in_range(self, number: Fraction, setting: registry.Setting, key: str, span: ast.Span) -> bool:
        low, high = setting.minimum, setting.maximum
        if low is not None and (number < low or (setting.exclusive_minimum and number == low)):
            relation = "greater than" if setting.exclusive_minimum else "at least"
            self.error("E108", f"`{key}` must be {relation} {_format_bound(low)}, got {_format_number(number)}", span)
            return False
        if high is not None and (number > high or (setting.exclusive_maximum and number == high)):
            relation = "less than" if setting.exclusive_maximum else "at most"
            self.error("E108", f"`{key}` must be {relation} {_format_bound(high)}, got {_format_number(number)}", span)
            return False
        return True

    def _learning_rates(self, value: ast.Value, key: str) -> tuple[float, ...] | None:
        if isinstance(value, ast.Pow2Range):
            if value.base != 2:
                self.error("E105", f"a range is written with base 2: `2^[{value.low}..{value.high}]`, got base {value.base}", value.span)
                return None
            if value.low > value.high:
                self.error("E108", f"empty range `2^[{value.low}..{value.high}]`: the first exponent must not exceed the last", value.span)
                return None
            if value.low < -registry.LARGEST_LR_EXPONENT or value.high > registry.LARGEST_LR_EXPONENT:
                limit = registry.LARGEST_LR_EXPONENT
                self.error("E108", f"range `2^[{value.low}..{value.high}]` has exponents outside -{limit}..{limit}", value.span)
                return None
            return tuple(2.0**k for k in range(value.low, value.high + 1))
        if isinstance(value, ast.ListValue) and value.items:
            numbers = [self._plain_number(v, key) for v in value.items]
            if any(n is None for n in numbers):
                return None
            if any(n <= 0 for n in numbers):
                self.error("E108", f"learning rates in `{key}` must be positive", value.span)
                return None
            return tuple(float(n) for n in numbers)
        self.error("E105", f"`{key}` takes a list `[0.1, 0.2]` or a range `2^[-8..4]`", value.span)
        return None

    def _data(self, value: ast.Value) -> DataSource | None:
        if isinstance(value, ast.Name):
            name, arguments, span = value.name, (), value.span
        elif isinstance(value, ast.Call):
            name, arguments, span = value.func, value.arguments, value.func_span
        else:
            self.error("E105", f"`data` takes a dataset such as `digits` or `mnist(\"data/mnist\")`, got {_describe(value)}", value.span)
            return None
        if name not in registry.DATASETS:
            self.error("E106", f"unknown dataset `{name}`{did_you_mean(name, registry.DATASETS)}", span, fix=f"use {one_of(registry.DATASETS)}")
            return None
        if name in registry.DATASET_PATH_ARGUMENT:
            if len(arguments) == 1 and isinstance(arguments[0], ast.KeyValue) and arguments[0].key == "path":
                arguments = (arguments[0].value,)
            if len(arguments) != 1 or not isinstance(arguments[0], ast.String):
                self.error("E209", f"`{name}` takes the directory of its files as a string: `{name}(\"data/{name}\")`", value.span)
                return None
            return DataSource(name, path=arguments[0].value)
        options = []
        allowed = registry.DATASETS[name]
        for argument in arguments:
            if not isinstance(argument, ast.KeyValue):
                self.error("E209", f"`{name}` takes only keyword arguments ({one_of(allowed) if allowed else 'none'})", argument.span)
                return None
            if argument.key not in allowed:
                self.error("E104", f"unknown argument `{argument.key}` for `{name}`{did_you_mean(argument.key, allowed)}", argument.key_span, fix=f"`{name}` takes {one_of(allowed) if allowed else 'no arguments'}")
                return None
            minimum = {"seed": 0, "classes": 2}.get(argument.key, 1)
            maximum = registry.LARGEST_SEED if argument.key == "seed" else None
            number = self._integer(argument.value, argument.key, minimum, maximum)
            if number is None:
                return None
            options.append((argument.key, number))
        return DataSource(name, options=tuple(options))


_LARGEST_FLOAT = Fraction(registry.LARGEST_MAGNITUDE)
_SMALLEST_FLOAT = Fraction(registry.SMALLEST_MAGNITUDE)
_MAGNITUDES = f"numbers other than 0 must lie between {registry.MAGNITUDE_RANGE} in absolute value"
# Sizes, widths, steps and batch sizes are capped at 2^31 - 1, far beyond what fits in
# memory, so that no integer overflows on its way into torch.
_LARGEST_INTEGER = 2**31 - 1


def default_value(setting: registry.Setting) -> Any:
    """Return a setting's default in the type its parsed values have."""
    if setting.kind == "scaled" and setting.default is not None:
        return ScaledValue(Fraction(str(setting.default)))
    if setting.kind == "number" and setting.default is not None:
        return Fraction(str(setting.default))
    if setting.kind == "data" and isinstance(setting.default, str):
        return DataSource(setting.default)
    return setting.default


_REQUIRED_EXAMPLES = {
    "spec": "add `spec my_model` as the first line",
    "width": "add `width n = 256, base = 64`",
    "graph": "add `graph { x = input(64) ... output y, loss = mse }`",
    "rule": "add `rule bp`, `rule pc { }` or `rule tp { }`",
    "optim": "add `optim sgd { lr = 0.1 }` or `optim adam { lr = 1e-3 }`",
}


def _keyword_of(statement: ast.Statement) -> str:
    match statement:
        case ast.SpecStmt():
            return "spec"
        case ast.WidthStmt():
            return "width"
        case ast.GraphStmt():
            return "graph"
        case ast.RuleStmt():
            return "rule"
        case ast.ParamPreset() | ast.ParamOverride():
            return "inverse" if statement.feedback else "param"
        case ast.OptimStmt():
            return "optim"
        case ast.BlockStmt():
            return statement.keyword
    raise TypeError(statement)


def _weight_role(fan_in_grows: bool, fan_out_grows: bool) -> str:
    if fan_in_grows and fan_out_grows:
        return "hidden"
    if fan_out_grows:
        return "input"
    if fan_in_grows:
        return "output"
    return "scalar"


def _has_feedback(graph: nx.DiGraph, node: str) -> bool:
    """Return whether a dense node needs feedback weights: its source is not the input."""
    data = graph.nodes[node]
    if data["kind"] != "dense":
        return False
    return graph.nodes[data["sources"][0]]["kind"] != "input"


def _format_bound(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def _describe(value: ast.Value) -> str:
    from .printer import print_value

    return f"`{print_value(value)}`"
