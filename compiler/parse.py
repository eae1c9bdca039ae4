"""Parse spec text into the syntax tree of `compiler.ast`.

The Lark grammar (grammar/localmup.lark) is built once per process with the LALR parser and
positions kept. `SpecTransformer` has one method per grammar rule and does no semantic
checks; compiler/ir.py does those on the tree it returns. Lark's own exceptions never leave
this module: `parse` turns them into a `SpecError` with the position and what was expected.
"""

from __future__ import annotations

import functools
from importlib import resources

import lark
from lark import Lark, Token, Transformer, v_args

from . import ast
from .errors import ERROR, Diagnostic, SpecError

# Stable codes of syntax errors.
UNEXPECTED_CHARACTER = "E001"
UNEXPECTED_TOKEN = "E002"
UNEXPECTED_END = "E003"
RESERVED_WORD = "E203"  # the same code as the IR's check of binding names

# Names of terminals in "expected ..." lists.
_TERMINAL_WORDS = {
    "INT": "an integer",
    "DECIMAL": "a number",
    "NAME": "a name",
    "STRING": "a string",
    "INF": "`inf`",
    "NEG_INF": "`-inf`",
    "TRUE": "`true`",
    "FALSE": "`false`",
    "$END": "end of file",
}


def grammar_text() -> str:
    """Return the text of the spec grammar shipped with the package."""
    return resources.files("localmup.grammar").joinpath("localmup.lark").read_text(encoding="utf-8")


@functools.cache
def build_parser(strict: bool = False) -> Lark:
    """Build the LALR parser; `strict=True` also rejects grammar conflicts and regex collisions."""
    return Lark(grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=True, strict=strict)


def parse(source: str, path: str = "<spec>") -> ast.Spec:
    """Parse spec text; raise `SpecError` with position and expected tokens on a syntax error."""
    parser = build_parser()
    try:
        tree = parser.parse(source)
    except lark.exceptions.UnexpectedInput as error:
        raise SpecError([_syntax_diagnostic(error, parser, source)], path, source) from None
    return SpecTransformer().transform(tree)


def _span_of_token(token: Token) -> ast.Span:
    return ast.Span(
        token.line, token.column, token.end_line, token.end_column, token.start_pos, token.end_pos
    )


def _span_of_meta(meta) -> ast.Span:
    if getattr(meta, "empty", True):
        return ast.NO_SPAN
    return ast.Span(meta.line, meta.column, meta.end_line, meta.end_column, meta.start_pos, meta.end_pos)


def _describe_terminal(name: str, parser: Lark) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    try:
        pattern = parser.get_terminal(name).pattern
    except KeyError:
        return name
    if pattern.type == "str":
        return f"`{pattern.value}`"
    return name.lower()


_VALUE_STARTS = {"INT", "DECIMAL", "NAME", "STRING", "INF", "NEG_INF", "TRUE", "FALSE", "N", "LPAR", "LSQB"}
_STATEMENT_KEYWORDS = {"SPEC", "WIDTH", "GRAPH", "RULE", "PARAM", "INVERSE", "OPTIM", "TRAIN", "SWEEP", "COORD"}


def _expected_list(names, parser: Lark) -> str:
    names = set(names) - {"WS", "COMMENT"}
    words = []
    # A state that accepts most value starts or statement keywords is summarized in one word,
    # so that messages stay short.
    if len(names & _VALUE_STARTS) >= 5:
        names -= _VALUE_STARTS
        words.append("a value")
    if len(names & _STATEMENT_KEYWORDS) >= 5:
        names -= _STATEMENT_KEYWORDS
        words.append("a statement")
    words = sorted(words + [_describe_terminal(n, parser) for n in names])
    if not words:
        return ""
    return "; expected " + ", ".join(words[:-1]) + (" or " if len(words) > 1 else "") + words[-1]


def _accepted_terminals(error: lark.exceptions.UnexpectedInput) -> set[str]:
    """Return the terminals that the parser would really accept at the error.

    LALR merges states, so the `expected` set of a Lark error can list tokens that are not
    valid here. Replaying the parser on each candidate token gives the exact set.
    """
    interactive = getattr(error, "interactive_parser", None)
    if interactive is not None:
        try:
            return set(interactive.accepts())
        except lark.exceptions.LarkError:
            pass
    return set(getattr(error, "expected", None) or getattr(error, "allowed", None) or ())


def _syntax_hint(source: str, position: int, found: str) -> str | None:
    before = source[:position].rstrip()
    after = source[position:]
    if found == "." and (before[-1:].isdigit() or after[1:2].isdigit()):
        return "a number needs digits on both sides of the point: write `8.0` or `0.5`"
    if found == "/" and "^" in before[-6:]:
        return "put a fractional exponent in parentheses: `n^(-1/2)`"
    if found == "-" and after.startswith("- "):
        return "write negative numbers without a space after the sign: `-1`"
    return None


def _syntax_diagnostic(error: lark.exceptions.UnexpectedInput, parser: Lark, source: str) -> Diagnostic:
    if isinstance(error, lark.exceptions.UnexpectedCharacters):
        position = error.pos_in_stream
        character = source[position]
        span = ast.Span(error.line, error.column, error.line, error.column + 1, position, position + 1)
        message = f"unexpected character `{character}`" + _expected_list(_accepted_terminals(error), parser)
        hint = _syntax_hint(source, position, character)
        return Diagnostic(ERROR, UNEXPECTED_CHARACTER, message, span, fix=hint)

    token = getattr(error, "token", None)
    expected = _accepted_terminals(error)
    if token is None or token.type == "$END":
        end = len(source)
        line = source.count("\n", 0, end) + 1
        column = end - (source.rfind("\n", 0, end) + 1) + 1
        span = ast.Span(line, column, line, column + 1, end, end)
        message = "unexpected end of file" + _expected_list(expected, parser)
        return Diagnostic(ERROR, UNEXPECTED_END, message, span)

    span = _span_of_token(token)
    if token.type in _STATEMENT_KEYWORDS | {"OUTPUT"} and "NAME" in expected:
        return Diagnostic(
            ERROR,
            RESERVED_WORD,
            f"`{token.value}` is a reserved word and cannot be used as a name",
            span,
            fix="rename it",
        )
    message = f"unexpected `{token.value}`" + _expected_list(expected, parser)
    hint = _syntax_hint(source, token.start_pos, str(token.value))
    return Diagnostic(ERROR, UNEXPECTED_TOKEN, message, span, fix=hint)


@v_args(meta=True)
class SpecTransformer(Transformer):
    """Turn Lark's parse tree into `compiler.ast` nodes, one method per grammar rule."""

    # --- statements ---

    def start(self, meta, statements):
        return ast.Spec(tuple(statements), span=_span_of_meta(meta))

    def spec_stmt(self, meta, children):
        (name,) = children
        return ast.SpecStmt(str(name), span=_span_of_meta(meta), name_span=_span_of_token(name))

    def width_stmt(self, meta, children):
        default, *options = children
        return ast.WidthStmt(default, tuple(options), span=_span_of_meta(meta))

    def rule_stmt(self, meta, children):
        name, block = children
        return ast.RuleStmt(str(name), block, span=_span_of_meta(meta), name_span=_span_of_token(name))

    def param_preset(self, meta, children):
        (name,) = children
        return ast.ParamPreset(str(name), span=_span_of_meta(meta), preset_span=_span_of_token(name))

    def param_override(self, meta, children):
        target, *items = children
        return ast.ParamOverride(target, tuple(items), span=_span_of_meta(meta))

    def inverse_preset(self, meta, children):
        (name,) = children
        return ast.ParamPreset(str(name), feedback=True, span=_span_of_meta(meta), preset_span=_span_of_token(name))

    def inverse_override(self, meta, children):
        target, *items = children
        return ast.ParamOverride(target, tuple(items), feedback=True, span=_span_of_meta(meta))

    def target(self, meta, children):
        node, suffix = children
        return ast.Target(str(node), None if suffix is None else str(suffix), span=_span_of_meta(meta))

    def optim_stmt(self, meta, children):
        name, block = children
        return ast.OptimStmt(str(name), block, span=_span_of_meta(meta), name_span=_span_of_token(name))

    def train_stmt(self, meta, children):
        return ast.BlockStmt("train", children[0], span=_span_of_meta(meta))

    def sweep_stmt(self, meta, children):
        return ast.BlockStmt("sweep", children[0], span=_span_of_meta(meta))

    def coord_stmt(self, meta, children):
        return ast.BlockStmt("coord", children[0], span=_span_of_meta(meta))

    # --- blocks ---

    def block(self, meta, items):
        return tuple(items)

    def key_value(self, meta, children):
        key, value = children
        return ast.KeyValue(str(key), value, span=_span_of_meta(meta), key_span=_span_of_token(key))

    def named_value(self, meta, children):
        key, target, value = children
        return ast.NamedValue(
            str(key),
            str(target),
            value,
            span=_span_of_meta(meta),
            key_span=_span_of_token(key),
            target_span=_span_of_token(target),
        )

    def sub_block(self, meta, children):
        name, items = children
        return ast.SubBlock(str(name), items, span=_span_of_meta(meta), name_span=_span_of_token(name))

    # --- graph ---

    def graph_stmt(self, meta, items):
        return ast.GraphStmt(tuple(items), span=_span_of_meta(meta))

    def binding(self, meta, children):
        name, call = children
        return ast.Binding(str(name), call, span=_span_of_meta(meta), name_span=_span_of_token(name))

    def output_decl(self, meta, children):
        name, *options = children
        return ast.OutputDecl(str(name), tuple(options), span=_span_of_meta(meta), name_span=_span_of_token(name))

    def call(self, meta, children):
        func, *arguments = children
        # `maybe_placeholders` turns an empty argument list into a single None.
        arguments = tuple(a for a in arguments if a is not None)
        return ast.Call(str(func), arguments, span=_span_of_meta(meta), func_span=_span_of_token(func))

    # --- values ---

    def number(self, meta, children):
        (token,) = children
        return ast.Number(str(token), span=_span_of_meta(meta))

    def rational(self, meta, children):
        numerator, denominator = children
        return ast.Rational(int(numerator), int(denominator), span=_span_of_meta(meta))

    def scaled(self, meta, children):
        coefficient, exponent = children
        if isinstance(coefficient, Token):
            coefficient = ast.Number(str(coefficient), span=_span_of_token(coefficient))
        return ast.Scaled(coefficient, exponent, span=_span_of_meta(meta))

    def int_exponent(self, meta, children):
        (token,) = children
        return ast.Number(str(token), span=_span_of_meta(meta))

    def rational_exponent(self, meta, children):
        (rational,) = children
        return rational

    def width_dim(self, meta, children):
        return ast.Dimension(1, 1, span=_span_of_meta(meta))

    def multiple_dim(self, meta, children):
        (multiple,) = children
        return ast.Dimension(int(multiple), 1, span=_span_of_meta(meta))

    def fraction_dim(self, meta, children):
        (divisor,) = children
        return ast.Dimension(1, int(divisor), span=_span_of_meta(meta))

    def inf(self, meta, children):
        (token,) = children
        return ast.Inf(token.type == "NEG_INF", span=_span_of_meta(meta))

    def list(self, meta, children):
        return ast.ListValue(tuple(c for c in children if c is not None), span=_span_of_meta(meta))

    def pow2_range(self, meta, children):
        base, low, high = children
        return ast.Pow2Range(int(base), int(low), int(high), span=_span_of_meta(meta))

    def tuple(self, meta, children):
        return ast.TupleValue(tuple(children), span=_span_of_meta(meta))

    def boolean(self, meta, children):
        (token,) = children
        return ast.Bool(token.type == "TRUE", span=_span_of_meta(meta))

    def string(self, meta, children):
        (token,) = children
        return ast.String(str(token)[1:-1], span=_span_of_meta(meta))

    def name_value(self, meta, children):
        (token,) = children
        return ast.Name(str(token), span=_span_of_meta(meta))
