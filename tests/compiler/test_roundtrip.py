"""Round-trip properties: printing a syntax tree and parsing it back, and relaying out specs.

The first property draws syntax trees directly from the `localmup.compiler.ast` classes,
prints them with `print_spec` and parses the text again. The trees must be equal, and spans
do not take part in equality. The second property changes the layout of every spec in specs/
(whitespace, comments, optional commas in blocks) and checks the tree does not change.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from localmup.compiler import ast
from localmup.compiler.parse import parse
from localmup.compiler.printer import print_spec

SPECS = sorted((Path(__file__).resolve().parents[2] / "specs").glob("*.lmu"))

RESERVED_WORDS = frozenset(
    "spec width graph rule param inverse optim train sweep coord output n inf true false".split()
)

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)

# --- strategies for syntax trees ---------------------------------------------------------

identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,7}", fullmatch=True).filter(
    lambda name: name not in RESERVED_WORDS
)

integer_texts = st.one_of(st.sampled_from(["64", "-2", "0", "-0", "007"]), st.from_regex(r"-?[0-9]{1,5}", fullmatch=True))

decimal_texts = st.one_of(
    st.sampled_from(["0.5", "1e-3", "1E+3", "1e-8", "-0.25", "2.5E-10"]),
    st.from_regex(r"-?[0-9]{1,3}(\.[0-9]{1,3}([eE][+-]?[0-9]{1,2})?|[eE][+-]?[0-9]{1,2})", fullmatch=True),
)

small_integers = st.integers(min_value=-999, max_value=999)

numbers = st.builds(ast.Number, st.one_of(integer_texts, decimal_texts))
rationals = st.builds(ast.Rational, small_integers, small_integers)

# An exponent is an integer literal (`n^-1`) or a parenthesized ratio (`n^(-1/2)`).
exponents = st.one_of(st.builds(ast.Number, integer_texts), rationals)
scaled_values = st.builds(ast.Scaled, st.one_of(numbers, rationals), exponents)

# `n`, `k*n` and `n/k` are the only dimension forms the language has.
dimensions = st.one_of(
    st.just(ast.Dimension(1, 1)),
    st.builds(ast.Dimension, small_integers, st.just(1)),
    st.builds(ast.Dimension, st.just(1), small_integers),
)

strings = st.builds(
    ast.String, st.text(st.characters(exclude_characters='"\n', exclude_categories=("Cs",)), max_size=12)
)

leaf_values = st.one_of(
    numbers,
    rationals,
    scaled_values,
    dimensions,
    st.builds(ast.Inf, st.booleans()),
    st.builds(ast.Pow2Range, small_integers, small_integers, small_integers),
    st.builds(ast.Bool, st.booleans()),
    strings,
    st.builds(ast.Name, identifiers),
)


def _tuple_of(elements, min_size=0, max_size=3):
    return st.lists(elements, min_size=min_size, max_size=max_size).map(tuple)


def _calls(values):
    arguments = st.one_of(values, st.builds(ast.KeyValue, identifiers, values))
    return st.builds(ast.Call, identifiers, _tuple_of(arguments))


def _compound_values(children):
    return st.one_of(
        st.builds(ast.ListValue, _tuple_of(children)),
        st.builds(ast.TupleValue, _tuple_of(children, min_size=2)),
        _calls(children),
    )


values = st.recursive(leaf_values, _compound_values, max_leaves=8)
key_values = st.builds(ast.KeyValue, identifiers, values)
named_values = st.builds(ast.NamedValue, identifiers, identifiers, values)


def _nested_items(items):
    return _tuple_of(st.one_of(key_values, named_values, st.builds(ast.SubBlock, identifiers, items)))


block_items = st.recursive(_tuple_of(st.one_of(key_values, named_values)), _nested_items, max_leaves=6)

graph_items = st.one_of(
    st.builds(ast.Binding, identifiers, _calls(values)),
    st.builds(ast.OutputDecl, identifiers, _tuple_of(key_values)),
)

statements = st.one_of(
    st.builds(ast.SpecStmt, identifiers),
    st.builds(ast.WidthStmt, values, _tuple_of(key_values)),
    st.builds(ast.GraphStmt, _tuple_of(graph_items, max_size=4)),
    st.builds(ast.RuleStmt, identifiers, st.none() | block_items),
    st.builds(ast.ParamPreset, identifiers, st.booleans()),
    st.builds(
        ast.ParamOverride,
        st.builds(ast.Target, identifiers, st.none() | identifiers),
        _tuple_of(key_values, min_size=1),
        st.booleans(),
    ),
    st.builds(ast.OptimStmt, identifiers, st.none() | block_items),
    st.builds(ast.BlockStmt, st.sampled_from(["train", "sweep", "coord"]), block_items),
)

specs = st.builds(ast.Spec, _tuple_of(statements, max_size=6))


# --- printed trees parse back ------------------------------------------------------------


def _spec(*statements: ast.Statement) -> ast.Spec:
    return ast.Spec(tuple(statements))


@PROPERTY_SETTINGS
@given(specs)
@example(_spec())
@example(_spec(ast.RuleStmt("pc", ()), ast.OptimStmt("sgd", ()), ast.BlockStmt("train", ()), ast.GraphStmt(())))
@example(
    _spec(
        ast.RuleStmt(
            "tp",
            (ast.SubBlock("feedback", (ast.SubBlock("inner", (ast.KeyValue("act", ast.Name("tanh")),)), ast.SubBlock("empty", ()))),),
        )
    )
)
@example(_spec(ast.BlockStmt("sweep", (ast.KeyValue("lr", ast.Scaled(ast.Number("1"), ast.Rational(-1, 2))),))))
@example(_spec(ast.OptimStmt("adam", (ast.KeyValue("eps", ast.Scaled(ast.Number("1e-8"), ast.Number("-1"))),))))
@example(_spec(ast.BlockStmt("coord", (ast.KeyValue("widths", ast.ListValue(())), ast.KeyValue("lr", ast.Pow2Range(2, -8, 4))))))
@example(_spec(ast.ParamOverride(ast.Target("h1", "bias"), (ast.KeyValue("b", ast.Inf(False)),), feedback=True)))
@example(_spec(ast.WidthStmt(ast.Dimension(1, 1), ()), ast.WidthStmt(ast.Dimension(1, 2), ()), ast.WidthStmt(ast.Dimension(2, 1), ())))
@example(
    _spec(
        ast.GraphStmt(
            (
                ast.OutputDecl("y", (ast.KeyValue("loss", ast.Name("mse")),)),
                ast.Binding("y", ast.Call("dense", (ast.Name("x"), ast.Number("10")))),
                ast.Binding("z", ast.Call("f", ())),
            )
        )
    )
)
def test_printed_tree_parses_back(tree):
    text = print_spec(tree)

    assert parse(text, "printed.lmu") == tree


@settings(max_examples=100, deadline=None)
@given(specs)
def test_printing_is_idempotent(tree):
    text = print_spec(tree)

    assert print_spec(parse(text, "printed.lmu")) == text


@pytest.mark.parametrize("path", SPECS, ids=[path.stem for path in SPECS])
def test_spec_file_prints_back(path):
    tree = parse(path.read_text(encoding="utf-8"), str(path))

    assert parse(print_spec(tree), "printed.lmu") == tree


# --- layout changes do not change the tree -----------------------------------------------

# Tokens of a spec, for relayout: strings, comments, `-inf`, numbers, names, `..`, and any
# other single character. Comments are dropped and new ones inserted between tokens.
_TOKEN = re.compile(r'"[^"\n]*"|#[^\n]*|-inf\b|-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|[A-Za-z_]\w*|\.\.|\S')

# Separators placed between two tokens. The first, an empty string, joins them directly.
LAYOUTS = ("", " ", "\n", "\t", "  \n\n   ", " # a comment, with = and { }\n", "\r\n", "#\n")


def tokenize(source: str) -> list[str]:
    return [token for token in _TOKEN.findall(source) if not token.startswith("#")]


def _is_word(character: str) -> bool:
    return character.isalnum() or character == "_"


def _block_levels(tokens: list[str]) -> list[bool]:
    """Return, for each token, whether it sits directly inside a `{ }` block other than a graph.

    A block's own `}` counts as inside it. Items there are separated by commas or whitespace,
    so a comma may be dropped or added. Inside the graph a comma after `output NAME` starts
    an option, so graph commas stay.
    """
    stack: list[str] = []
    levels = []
    for index, token in enumerate(tokens):
        levels.append(bool(stack) and stack[-1] == "block")
        if token == "{":
            stack.append("graph" if index and tokens[index - 1] == "graph" else "block")
        elif token in "([":
            stack.append(token)
        elif token in "})]" and stack:
            stack.pop()
    return levels


@st.composite
def relaid_specs(draw):
    """Draw a spec from specs/ and the same spec with another layout."""
    path = draw(st.sampled_from(SPECS))
    source = path.read_text(encoding="utf-8")
    tokens = tokenize(source)
    in_block = _block_levels(tokens)

    relaid_tokens = []
    for index, token in enumerate(tokens):
        if token == "," and in_block[index] and draw(st.booleans()):
            continue
        closes_block = token == "}" and in_block[index] and relaid_tokens[-1] not in ("{", ",")
        if closes_block and draw(st.booleans()):
            relaid_tokens.append(",")
        relaid_tokens.append(token)

    pieces = [LAYOUTS[draw(st.integers(0, len(LAYOUTS) - 1))]]
    for before, after in zip(relaid_tokens, relaid_tokens[1:]):
        layout = LAYOUTS[draw(st.integers(0, len(LAYOUTS) - 1))]
        if not layout and _is_word(before[-1]) and _is_word(after[0]):
            layout = " "
        pieces.extend([before, layout])
    pieces.append(relaid_tokens[-1])
    pieces.append(LAYOUTS[draw(st.integers(0, len(LAYOUTS) - 1))])
    return source, "".join(pieces)


@PROPERTY_SETTINGS
@given(relaid_specs())
@example(("optim sgd { lr = 0.5 }", "optim sgd{lr=0.5,}"))
@example(("rule pc { steps = 20, state_lr = 0.1 }", "rule pc {steps = 20 state_lr = 0.1 ,}"))
@example(("rule tp { feedback { act = tanh } }", "rule tp{feedback{act=tanh,},}"))
@example(("rule pc { precision y = 1.0 * n^0 }", "rule pc {\n  precision y = 1.0*n^0 # gamma\n}"))
@example(("train { data = teacher(samples = 64) }", "train{data=teacher(samples=64)}"))
def test_relayout_keeps_tree(pair):
    original, relaid = pair

    assert parse(relaid, "relaid.lmu") == parse(original, "original.lmu")


def test_specs_folder_not_empty():
    assert SPECS
