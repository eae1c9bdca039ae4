"""Tests for the spec grammar: strict LALR build, the four design examples, every value form."""

from __future__ import annotations

import math
import re
from fractions import Fraction
from pathlib import Path

import pytest

from localmup.compiler import ast
from localmup.compiler.errors import SpecError
from localmup.compiler.ir import DataSource, Dim, ScaledValue, compile_source
from localmup.compiler.parse import build_parser, parse

SPECS = sorted((Path(__file__).resolve().parents[2] / "specs").glob("*.lmu"))

# The four examples of the spec language contract, copied verbatim. Examples 2 and 3 are
# fragments whose graph and train statements are those of example 1.
EXAMPLE_1 = """\
# Backprop baseline: three tanh hidden layers in muP.
spec bp_mlp_mup
width n = 256, base = 64

graph {
  x  = input(64)
  h1 = dense(x, n, act = tanh)
  h2 = dense(h1, n, act = tanh)
  h3 = dense(h2, n, act = tanh)
  y  = dense(h3, 10)
  output y, loss = mse
}

rule bp
param mup
optim sgd { lr = 0.5 }
train { data = digits, batch = 64, steps = 600, seed = 0 }
"""

EXAMPLE_2 = """\
rule pc {
  steps = 20, state_lr = 0.1, init = forward, fpa = false, schedule = parallel
  precision y = 1.0 * n^0
}
param mup
optim sgd { lr = 0.5 }
"""

EXAMPLE_3 = """\
rule tp {
  variant = dtp, target_step = 0.5
  feedback { act = tanh, lr = 0.01, noise = 0.1, steps = 1 }
}
param mup
inverse mup
optim sgd { lr = 0.5 }
"""

EXAMPLE_4 = """\
spec bp_resmlp_adam
width n = 512, base = 128
graph {
  x  = input(784)
  h1 = dense(x, n, act = relu)
  f1 = dense(h1, n, act = relu)
  h2 = add(h1, f1)
  y  = dense(h2, 10, bias = false)
  output y, loss = xent
}
rule bp
param sp
param h1: a = 0, b = 0, c = 0
param f1: a = 0, b = 1/2, c = 1
param y:  a = 0, b = inf, c = 1
optim adam { lr = 1e-3, eps = 1e-8 * n^-1 }
train { data = fashion_mnist("data/fashion"), batch = 128, epochs = 1, seed = 1 }
"""

# Example 1 up to its rule statement (comment, spec, width, graph) and its train line.
EXAMPLE_1_HEAD = EXAMPLE_1.partition("\nrule bp\n")[0] + "\n"
EXAMPLE_1_TRAIN = EXAMPLE_1.splitlines()[-1] + "\n"


def complete(fragment: str) -> str:
    """Return a fragment as a whole spec, with example 1's graph and train statements."""
    return EXAMPLE_1_HEAD + fragment + EXAMPLE_1_TRAIN


@pytest.fixture(scope="module")
def example_1():
    return compile_source(EXAMPLE_1, "example_1.lmu")


@pytest.fixture(scope="module")
def example_2():
    return compile_source(complete(EXAMPLE_2), "example_2.lmu")


@pytest.fixture(scope="module")
def example_3():
    return compile_source(complete(EXAMPLE_3), "example_3.lmu")


@pytest.fixture(scope="module")
def example_4():
    return compile_source(EXAMPLE_4, "example_4.lmu")


def parse_value(text: str) -> ast.Value:
    """Parse `text` as the value of a key in a block and return that value's syntax tree."""
    spec = parse(f"sweep {{ v = {text} }}", "value.lmu")
    (statement,) = spec.statements
    (item,) = statement.items
    return item.value


def first_diagnostic(source: str):
    with pytest.raises(SpecError) as caught:
        parse(source, "bad.lmu")
    return caught.value.diagnostics[0]


def strip_comments(text: str) -> str:
    """Remove `#` comments, keeping any `#` inside a string."""
    return re.sub(r'("[^"\n]*")|#[^\n]*', lambda match: match.group(1) or "", text)


# --- the grammar itself ------------------------------------------------------------------


def test_grammar_builds_in_strict_mode():
    # Lark raises GrammarError here on any LALR conflict or terminal collision.
    parser = build_parser(strict=True)

    assert parser.options.strict is True
    assert parser.options.parser == "lalr"


# --- the design examples -----------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [EXAMPLE_1, complete(EXAMPLE_2), complete(EXAMPLE_3), EXAMPLE_4],
    ids=["example_1", "example_2", "example_3", "example_4"],
)
def test_example_compiles_without_warnings(source):
    ir = compile_source(source, "example.lmu")

    assert ir.warnings == ()


def test_example_1_width_and_base(example_1):
    assert example_1.name == "bp_mlp_mup"
    assert example_1.width == 256
    assert example_1.base == 64


def test_example_1_graph_order(example_1):
    assert example_1.topological_nodes() == ["x", "h1", "h2", "h3", "y"]


def test_example_1_sizes(example_1):
    dims = {name: example_1.graph.nodes[name]["dim"] for name in example_1.graph}

    assert dims["x"] == Dim(Fraction(64), 0)
    assert dims["h1"] == dims["h2"] == dims["h3"] == Dim(Fraction(1), 1)
    assert dims["y"] == Dim(Fraction(10), 0)


def test_example_1_activations(example_1):
    activations = {name: example_1.graph.nodes[name]["activation"] for name in example_1.dense_nodes()}

    assert activations == {"h1": "tanh", "h2": "tanh", "h3": "tanh", "y": "identity"}


def test_example_1_bias_defaults_true(example_1):
    assert all(example_1.graph.nodes[name]["bias"] for name in example_1.dense_nodes())


def test_example_1_weight_roles(example_1):
    roles = {name: example_1.graph.nodes[name]["role"] for name in example_1.dense_nodes()}

    assert roles == {"h1": "input", "h2": "hidden", "h3": "hidden", "y": "output"}


def test_example_1_output_and_loss(example_1):
    assert example_1.output == "y"
    assert example_1.loss == "mse"


def test_example_1_rule_preset_optimizer(example_1):
    (statement,) = example_1.param_statements

    assert example_1.rule == "bp"
    assert statement.preset == "mup"
    assert statement.feedback is False
    assert example_1.optimizer == "sgd"
    assert example_1.optim_settings["lr"] == ScaledValue(Fraction(1, 2))


def test_example_1_train_settings(example_1):
    assert example_1.train["data"] == DataSource("digits")
    assert example_1.train["batch"] == 64
    assert example_1.train["steps"] == 600
    assert example_1.train["seed"] == 0


def test_example_2_rule_settings(example_2):
    settings = example_2.rule_settings

    assert example_2.rule == "pc"
    assert settings["steps"] == 20
    assert settings["state_lr"] == ScaledValue(Fraction(1, 10))
    assert settings["init"] == "forward"
    assert settings["fpa"] is False
    assert settings["schedule"] == "parallel"


def test_example_2_precision_of_output(example_2):
    assert example_2.precisions == {"y": ScaledValue(Fraction(1), Fraction(0))}


def test_example_2_keeps_example_1_graph(example_1, example_2):
    assert example_2.topological_nodes() == example_1.topological_nodes()
    assert example_2.train == example_1.train


def test_example_3_rule_settings(example_3):
    assert example_3.rule == "tp"
    assert example_3.rule_settings["variant"] == "dtp"
    assert example_3.rule_settings["target_step"] == ScaledValue(Fraction(1, 2))


def test_example_3_feedback_block(example_3):
    feedback = example_3.feedback_settings

    assert feedback["act"] == "tanh"
    assert feedback["lr"] == ScaledValue(Fraction(1, 100))
    assert feedback["noise"] == ScaledValue(Fraction(1, 10))
    assert feedback["steps"] == 1


def test_example_3_param_and_inverse_presets(example_3):
    presets = [(s.preset, s.feedback) for s in example_3.param_statements]

    assert presets == [("mup", False), ("mup", True)]


def test_example_4_width_and_base(example_4):
    assert example_4.name == "bp_resmlp_adam"
    assert example_4.width == 512
    assert example_4.base == 128


def test_example_4_residual_add(example_4):
    node = example_4.graph.nodes["h2"]

    assert node["kind"] == "add"
    assert node["sources"] == ("h1", "f1")
    assert node["dim"] == Dim(Fraction(1), 1)


def test_example_4_sizes_are_fixed_or_n(example_4):
    dims = {name: example_4.graph.nodes[name]["dim"] for name in example_4.graph}

    assert dims["x"] == Dim(Fraction(784), 0)
    assert dims["h1"] == dims["f1"] == dims["h2"] == Dim(Fraction(1), 1)
    assert dims["y"] == Dim(Fraction(10), 0)


def test_example_4_readout_without_bias(example_4):
    assert example_4.graph.nodes["y"]["bias"] is False
    assert example_4.loss == "xent"


def test_example_4_param_statements_in_order(example_4):
    statements = [(s.preset, s.node, dict(s.values)) for s in example_4.param_statements]

    assert statements == [
        ("sp", None, {}),
        (None, "h1", {"a": 0, "b": 0, "c": 0}),
        (None, "f1", {"a": 0, "b": Fraction(1, 2), "c": 1}),
        (None, "y", {"a": 0, "b": math.inf, "c": 1}),
    ]


def test_example_4_adam_settings(example_4):
    assert example_4.optimizer == "adam"
    assert example_4.optim_settings["lr"] == ScaledValue(Fraction(1, 1000))
    assert example_4.optim_settings["eps"] == ScaledValue(Fraction(1, 10**8), Fraction(-1))


def test_example_4_dataset_keeps_path(example_4):
    assert example_4.train["data"] == DataSource("fashion_mnist", path="data/fashion")


def test_example_4_epochs_instead_of_steps(example_4):
    assert example_4.train["epochs"] == 1
    assert example_4.train["steps"] is None
    assert example_4.train["batch"] == 128
    assert example_4.train["seed"] == 1


# --- value forms -------------------------------------------------------------------------

VALUE_FORMS = [
    ("64", ast.Number("64")),
    ("0.5", ast.Number("0.5")),
    ("1e-3", ast.Number("1e-3")),
    ("1E+3", ast.Number("1E+3")),
    ("-2", ast.Number("-2")),
    ("1/2", ast.Rational(1, 2)),
    ("-1/2", ast.Rational(-1, 2)),
    ("inf", ast.Inf(False)),
    ("-inf", ast.Inf(True)),
    ("0.5 * n^2", ast.Scaled(ast.Number("0.5"), ast.Number("2"))),
    ("1e-8 * n^-1", ast.Scaled(ast.Number("1e-8"), ast.Number("-1"))),
    ("2 * n^(-1/2)", ast.Scaled(ast.Number("2"), ast.Rational(-1, 2))),
    ("1/2 * n^1", ast.Scaled(ast.Rational(1, 2), ast.Number("1"))),
    ("2 * n^1", ast.Scaled(ast.Number("2"), ast.Number("1"))),
    ("n", ast.Dimension(1, 1)),
    ("2*n", ast.Dimension(2, 1)),
    ("2 * n", ast.Dimension(2, 1)),
    ("n/2", ast.Dimension(1, 2)),
    ("[64, 128, 256]", ast.ListValue((ast.Number("64"), ast.Number("128"), ast.Number("256")))),
    ("[]", ast.ListValue(())),
    ("2^[-8..4]", ast.Pow2Range(2, -8, 4)),
    ("(0.9, 0.999)", ast.TupleValue((ast.Number("0.9"), ast.Number("0.999")))),
    ("true", ast.Bool(True)),
    ("false", ast.Bool(False)),
    ('"data/fashion"', ast.String("data/fashion")),
    ('"data/#1"', ast.String("data/#1")),
    ("tanh", ast.Name("tanh")),
    ('fashion_mnist("data/fashion")', ast.Call("fashion_mnist", (ast.String("data/fashion"),))),
    (
        "teacher(samples = 4096, dim = 64)",
        ast.Call("teacher", (ast.KeyValue("samples", ast.Number("4096")), ast.KeyValue("dim", ast.Number("64")))),
    ),
]


@pytest.mark.parametrize(("text", "expected"), VALUE_FORMS, ids=[text for text, _ in VALUE_FORMS])
def test_value_form_parses(text, expected):
    assert parse_value(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("64", Fraction(64)), ("0.5", Fraction(1, 2)), ("1e-3", Fraction(1, 1000)), ("1E+3", Fraction(1000)), ("-2", Fraction(-2))],
)
def test_number_value_is_exact(text, expected):
    assert parse_value(text).value == expected


def test_rational_value_is_exact():
    assert parse_value("-1/2").value == Fraction(-1, 2)


def test_plain_value_means_exponent_zero():
    source = EXAMPLE_1.replace("lr = 0.5", "lr = 0.5, momentum = 0.9")
    ir = compile_source(source, "plain.lmu")

    assert ir.optim_settings["momentum"] == ScaledValue(Fraction(9, 10), Fraction(0))


def test_rational_exponent_is_exact():
    source = EXAMPLE_1.replace("lr = 0.5", "lr = 0.5 * n^(-1/2)")
    ir = compile_source(source, "scaled.lmu")

    assert ir.optim_settings["lr"] == ScaledValue(Fraction(1, 2), Fraction(-1, 2))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2*n", Dim(Fraction(2), 1)), ("n/2", Dim(Fraction(1, 2), 1)), ("n", Dim(Fraction(1), 1)), ("32", Dim(Fraction(32), 0))],
)
def test_dimension_meaning(text, expected):
    source = EXAMPLE_1.replace("h3 = dense(h2, n, act = tanh)", f"h3 = dense(h2, {text}, act = tanh)")
    ir = compile_source(source, "dims.lmu")

    assert ir.graph.nodes["h3"]["dim"] == expected


def test_power_range_includes_both_ends():
    ir = compile_source(EXAMPLE_1 + "sweep { lr = 2^[-8..4] }\n", "sweep.lmu")

    assert ir.sweep["lr"] == tuple(2.0**k for k in range(-8, 5))


@pytest.mark.parametrize(
    ("text", "column"),
    [("8.", 14), (".5", 13), ("1 * n^-1/2", 21), ("1 * n^ (1)", 22)],
    ids=["trailing_point", "leading_point", "unbracketed_rational_exponent", "bracketed_integer_exponent"],
)
def test_malformed_value_is_syntax_error(text, column):
    diagnostic = first_diagnostic(f"sweep {{ v = {text} }}")

    assert diagnostic.code == "E002"
    assert diagnostic.span.line == 1
    assert diagnostic.span.column == column


# --- layout ------------------------------------------------------------------------------


def test_comment_is_ignored():
    with_comments = parse("spec a # the name\n# a whole line\nrule bp # the rule\n", "a.lmu")

    assert with_comments == parse("spec a rule bp", "a.lmu")


@pytest.mark.parametrize(
    "block",
    [
        "{ steps = 20, state_lr = 0.1 }",
        "{ steps = 20 state_lr = 0.1 }",
        "{ steps = 20, state_lr = 0.1, }",
        "{ steps = 20\n state_lr = 0.1\n }",
        "{steps=20,state_lr=0.1,}",
    ],
    ids=["commas", "whitespace", "trailing_comma", "newlines", "no_spaces"],
)
def test_block_separators_give_same_tree(block):
    assert parse(f"rule pc {block}", "a.lmu") == parse("rule pc { steps = 20, state_lr = 0.1 }", "a.lmu")


def test_graph_bindings_take_optional_commas():
    with_commas = parse("graph { x = input(64), y = dense(x, 10), output y, loss = mse }", "a.lmu")
    without = parse("graph { x = input(64) y = dense(x, 10) output y, loss = mse }", "a.lmu")

    assert with_commas == without


@pytest.mark.parametrize("path", SPECS, ids=[path.stem for path in SPECS])
def test_spec_on_one_line_parses_to_same_tree(path):
    source = path.read_text(encoding="utf-8")
    one_line = strip_comments(source).replace("\n", " ")

    assert "\n" not in one_line
    assert parse(one_line, str(path)) == parse(source, str(path))

