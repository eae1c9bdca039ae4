"""Syntax tree of a spec: frozen attrs nodes that mirror the grammar.

Every node carries the `Span` of the source text it came from. Spans are excluded from
equality and hashing, so two trees parsed from differently laid-out text compare equal
when they mean the same thing (the round-trip tests rely on this).

Values keep their source spelling (`Number.text`) so that the printer can write back what
the user wrote; the exact meaning is computed from it on demand (`Number.value`).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Union

import attrs


@attrs.frozen
class Span:
    """Position of a piece of source text: 1-based line and column, 0-based offsets."""

    line: int
    column: int
    end_line: int
    end_column: int
    start: int
    end: int


NO_SPAN = Span(0, 0, 0, 0, 0, 0)


def _span_field():
    return attrs.field(default=NO_SPAN, eq=False, hash=False, repr=False, kw_only=True)


# --- values ------------------------------------------------------------------------------


@attrs.frozen
class Number:
    """A decimal or integer literal as written: `64`, `-2`, `0.5`, `1e-3`."""

    text: str
    span: Span = _span_field()

    @property
    def value(self) -> Fraction:
        return Fraction(self.text)

    @property
    def is_integer(self) -> bool:
        return all(ch in "-0123456789" for ch in self.text)


@attrs.frozen
class Rational:
    """An exact ratio `p/q` of two integer literals; q may be 0 (the IR rejects it)."""

    numerator: int
    denominator: int
    span: Span = _span_field()

    @property
    def value(self) -> Fraction:
        return Fraction(self.numerator, self.denominator)


@attrs.frozen
class Scaled:
    """`V * n^E`: the value V at the base width, times (n / base)^E."""

    coefficient: Union[Number, Rational]
    exponent: Union[Number, Rational]
    span: Span = _span_field()


@attrs.frozen
class Dimension:
    """A width-proportional size: `n` (1, 1), `k*n` (k, 1) or `n/k` (1, k)."""

    multiple: int
    divisor: int
    span: Span = _span_field()


@attrs.frozen
class Inf:
    """`inf` (zero init when used for b) or `-inf` (always an error, kept for its message)."""

    negative: bool = False
    span: Span = _span_field()


@attrs.frozen
class ListValue:
    items: tuple["Value", ...]
    span: Span = _span_field()


@attrs.frozen
class Pow2Range:
    """`2^[lo..hi]`: the powers of two 2^lo .. 2^hi, both ends included."""

    base: int
    low: int
    high: int
    span: Span = _span_field()


@attrs.frozen
class TupleValue:
    items: tuple["Value", ...]
    span: Span = _span_field()


@attrs.frozen
class Bool:
    value: bool
    span: Span = _span_field()


@attrs.frozen
class String:
    """A string literal without its quotes; strings name paths and are never evaluated."""

    value: str
    span: Span = _span_field()


@attrs.frozen
class Name:
    """A bare identifier used as a value: a node name, an activation, a preset, a dataset."""

    name: str
    span: Span = _span_field()


@attrs.frozen
class KeyValue:
    """`key = value`."""

    key: str
    value: "Value"
    span: Span = _span_field()
    key_span: Span = _span_field()


@attrs.frozen
class Call:
    """`func(arguments)`; arguments are values (positional) or key-value pairs."""

    func: str
    arguments: tuple[Union["Value", KeyValue], ...]
    span: Span = _span_field()
    func_span: Span = _span_field()


Value = Union[
    Number, Rational, Scaled, Dimension, Inf, ListValue, Pow2Range, TupleValue, Bool, String, Name, Call
]


# --- block items -------------------------------------------------------------------------


@attrs.frozen
class NamedValue:
    """`key node = value`, as in `precision y = 1.0 * n^0`."""

    key: str
    target: str
    value: Value
    span: Span = _span_field()
    key_span: Span = _span_field()
    target_span: Span = _span_field()


@attrs.frozen
class SubBlock:
    """`name { items }`, as in `feedback { act = tanh }`."""

    name: str
    items: tuple["BlockItem", ...]
    span: Span = _span_field()
    name_span: Span = _span_field()


BlockItem = Union[KeyValue, NamedValue, SubBlock]


# --- statements --------------------------------------------------------------------------


@attrs.frozen
class SpecStmt:
    name: str
    span: Span = _span_field()
    name_span: Span = _span_field()


@attrs.frozen
class WidthStmt:
    """`width n = DEFAULT, base = BASE`."""

    default: Value
    options: tuple[KeyValue, ...]
    span: Span = _span_field()


@attrs.frozen
class Binding:
    """`name = call` inside `graph { }`."""

    name: str
    call: Call
    span: Span = _span_field()
    name_span: Span = _span_field()


@attrs.frozen
class OutputDecl:
    """`output NAME, key = value, ...` inside `graph { }`."""

    name: str
    options: tuple[KeyValue, ...]
    span: Span = _span_field()
    name_span: Span = _span_field()


@attrs.frozen
class GraphStmt:
    items: tuple[Union[Binding, OutputDecl], ...]
    span: Span = _span_field()


@attrs.frozen
class RuleStmt:
    """`rule NAME` with an optional block of settings."""

    name: str
    items: tuple[BlockItem, ...] | None
    span: Span = _span_field()
    name_span: Span = _span_field()


@attrs.frozen
class Target:
    """The layer an override applies to: `h1` or `h1.bias`."""

    node: str
    suffix: str | None = None
    span: Span = _span_field()


@attrs.frozen
class ParamPreset:
    """`param PRESET` (feedback=False) or `inverse PRESET` (feedback=True)."""

    preset: str
    feedback: bool = False
    span: Span = _span_field()
    preset_span: Span = _span_field()


@attrs.frozen
class ParamOverride:
    """`param NAME: k = v, ...` (feedback=False) or `inverse NAME: ...` (feedback=True)."""

    target: Target
    items: tuple[KeyValue, ...]
    feedback: bool = False
    span: Span = _span_field()


@attrs.frozen
class OptimStmt:
    name: str
    items: tuple[BlockItem, ...] | None
    span: Span = _span_field()
    name_span: Span = _span_field()


@attrs.frozen
class BlockStmt:
    """`train { }`, `sweep { }` or `coord { }`: a keyword and a block of settings."""

    keyword: str
    items: tuple[BlockItem, ...]
    span: Span = _span_field()


Statement = Union[
    SpecStmt, WidthStmt, GraphStmt, RuleStmt, ParamPreset, ParamOverride, OptimStmt, BlockStmt
]


@attrs.frozen
class Spec:
    """A whole spec file: its statements in source order."""

    statements: tuple[Statement, ...]
    span: Span = _span_field()
