"""Tests for spec diagnostics: code and position of each error, all errors at once, rendering.

Each bad spec is the valid spec `VALID` with one edit. An `@` in the edited text marks where
the first diagnostic must point, and `locate` removes it and returns its line and column.
"""

from __future__ import annotations

import re

import pytest

from localmup.compiler.errors import SpecError
from localmup.compiler.ir import compile_source
from localmup.compiler.parse import build_parser

VALID = """\
spec t
width n = 256, base = 64
graph {
  x  = input(64)
  h1 = dense(x, n, act = tanh)
  h2 = dense(h1, n, act = tanh)
  y  = dense(h2, 10)
  output y, loss = mse
}
rule bp
param mup
optim sgd { lr = 0.5 }
train { data = digits, batch = 64, steps = 600, seed = 0 }
"""

MARK = "@"


def edit(old: str, new: str, source: str = VALID) -> str:
    """Replace the one occurrence of `old` in `source` with `new`."""
    assert source.count(old) == 1, f"{old!r} must occur once in the spec"
    return source.replace(old, new)


def locate(marked: str) -> tuple[str, int, int]:
    """Remove the `@` mark from a spec and return the spec with the mark's 1-based line and column."""
    assert marked.count(MARK) == 1, "a bad spec needs exactly one `@` mark"
    offset = marked.index(MARK)
    before = marked[:offset]
    line = before.count("\n") + 1
    column = offset - (before.rfind("\n") + 1) + 1
    return marked.replace(MARK, ""), line, column


def diagnostics_of(source: str, path: str = "bad.lmu"):
    with pytest.raises(SpecError) as caught:
        compile_source(source, path)
    return caught.value.diagnostics


def explanation(diagnostic) -> str:
    """Return the message and the fix of a diagnostic, the text a user reads about it."""
    return f"{diagnostic.message}\n{diagnostic.fix or ''}"


def xfail(reason: str):
    return pytest.mark.xfail(strict=True, reason=reason)


# (marked spec, expected code, text the message or fix must contain)
BAD_SPECS = [
    # --- syntax ---
    pytest.param(edit("spec t\n", "spec t @$\n"), "E001", "`$`", id="unexpected_character"),
    pytest.param(edit("data = digits", 'data = mnist(@"data/mnist)'), "E001", '`"`', id="unterminated_string"),
    pytest.param(edit("n = 256, base", "n = 256 @base"), "E002", "expected `,`", id="missing_comma"),
    pytest.param(edit("lr = 0.5", "lr @0.5"), "E002", "expected `=`", id="missing_equals"),
    pytest.param(edit("seed = 0 }", "seed = 0,@, }"), "E002", "unexpected `,`", id="double_comma"),
    pytest.param(VALID + "coord {@", "E003", "end of file", id="unexpected_end_of_file"),
    pytest.param(edit("lr = 0.5", "lr = 8@."), "E002", "digits on both sides", id="trailing_point"),
    pytest.param(edit("lr = 0.5", "lr = @.5"), "E002", "digits on both sides", id="leading_point"),
    pytest.param(edit("lr = 0.5", "lr = 0.5 * n^-1@/2"), "E002", "n^(-1/2)", id="unbracketed_rational_exponent"),
    pytest.param(edit("lr = 0.5", "lr = @- 1"), "E001", "without a space", id="space_after_sign"),
    # --- values ---
    pytest.param(edit("param mup", "param h1: a = @1/0"), "E109", "zero denominator", id="zero_denominator"),
    pytest.param(edit("lr = 0.5", "lr = 1 * n^(@1/0)"), "E109", "zero denominator", id="zero_denominator_in_exponent"),
    pytest.param(edit("param mup", "param h1: b = @-inf"), "E110", "`-inf`", id="negative_inf"),
    pytest.param(edit("param mup", "param h1: c = @inf"), "E110", "only for `b`", id="inf_for_c"),
    pytest.param(edit("lr = 0.5", "lr = @inf"), "E110", "only for `b`", id="inf_for_lr"),
    # --- graph ---
    pytest.param(edit("dense(h2, 10)", "dense(@h22, 10)"), "E201", "did you mean `h2`", id="unknown_node"),
    pytest.param(edit("  h2 = dense(h1, n", "  @h1 = dense(h1, n"), "E202", "line 5", id="duplicate_node"),
    pytest.param(edit("  h2 = dense(h1, n", "  @n = dense(h1, n"), "E203", "reserved word", id="reserved_word_n"),
    pytest.param(edit("  h2 = dense(h1, n", "  @inf = dense(h1, n"), "E203", "reserved word", id="reserved_word_inf"),
    pytest.param(edit("  h1 = dense(x, n", "  @h1 = dense(y, n"), "E204", "cycle", id="cycle"),
    pytest.param(edit("  h2 = dense(h1, n, act = tanh)", "  @h2 = add(x, h1)"), "E205", "`x` (64), `h1` (n)", id="add_size_mismatch"),
    pytest.param(edit("graph {", "@graph {", edit("  output y, loss = mse\n", "\n")), "E206", "no `output`", id="missing_output"),
    pytest.param(edit("loss = mse\n", "loss = mse\n  @output y\n"), "E207", "first on line 8", id="repeated_output"),
    pytest.param(edit("y  = dense(h2, 10)", "y  = @conv(h2, 10)"), "E208", "`input`, `dense` or `add`", id="unknown_layer_kind"),
    pytest.param(edit("dense(x, n, act = tanh)", "dense(x, act = tanh, @n)"), "E209", "positional argument after", id="positional_after_keyword"),
    pytest.param(edit("h1 = dense(x, n, act = tanh)", "h1 = @dense(x)"), "E209", "got 1 positional", id="dense_arity"),
    pytest.param(edit("h2 = dense(h1, n, act = tanh)", "h2 = @add(h1)"), "E209", "two or more", id="add_with_one_source"),
    pytest.param(edit("input(64)", "input(@n)"), "E211", "fixed integer", id="input_of_width_size"),
    pytest.param(edit("  h2 = dense(h1, n, act = tanh)", "  @h2 = input(64)"), "E211", "second input", id="second_input"),
    pytest.param(edit("output y", "output @y", edit("dense(h2, 10)", "dense(h2, n)")), "E210", "width-sized", id="output_of_width_size"),
    pytest.param(edit("output y", "output @x"), "E210", "`input` node", id="output_is_input"),
    pytest.param(edit("dense(x, n,", "dense(x, @0,"), "E111", "positive", id="zero_size"),
    pytest.param(edit("dense(x, n,", "dense(x, @2 * n^1,"), "E111", "scaled value", id="scaled_value_as_size"),
    pytest.param(edit("dense(x, n,", "dense(x, @n/3,"), "E111", "multiple of 3", id="size_not_divisible"),
    pytest.param(edit("dense(x, n,", "dense(x, @n/0,"), "E109", "zero denominator", id="size_divided_by_zero"),
    # --- keys and options ---
    pytest.param(edit("lr = 0.5", "lr = 0.5, @momentun = 0.9"), "E104", "did you mean `momentum`", id="unknown_key"),
    pytest.param(edit("lr = 0.5", "lr = 0.5, @foo = 0.9"), "E104", "`lr`, `momentum` or `weight_decay`", id="unknown_key_lists_keys"),
    pytest.param(edit("rule bp", "rule bp { @steps = 1 }"), "E104", "no settings", id="setting_of_other_rule"),
    pytest.param(
        edit("x, n, act = tanh", "x, n, act = @tanhh"), "E106", "`identity`, `relu`, `tanh`, `gelu` or `sigmoid`", id="unknown_activation"
    ),
    pytest.param(edit("loss = mse", "loss = @l1"), "E106", "`mse` or `xent`", id="unknown_loss"),
    pytest.param(edit("rule bp", "rule @dp"), "E106", "`bp`, `pc` or `tp`", id="unknown_rule"),
    pytest.param(edit("optim sgd", "optim @sdg"), "E106", "`sgd` or `adam`", id="unknown_optimizer"),
    pytest.param(edit("param mup", "param @mupp"), "E213", "`sp`, `ntk`, `mup` or `mf`", id="unknown_preset"),
    pytest.param(
        edit("data = digits", 'data = @mnistt("d")'),
        "E106",
        "`digits`, `mnist`, `fashion_mnist`, `cifar10` or `teacher`",
        id="unknown_dataset",
    ),
    pytest.param(edit("lr = 0.5", "lr = 0.5, @lr = 0.1"), "E107", "first on line 12", id="repeated_key"),
    pytest.param(edit("rule bp\n", "rule bp\n@rule bp\n"), "E102", "`rule` given twice", id="repeated_statement"),
    pytest.param(edit("spec t", "@spec t", edit("rule bp\n", "\n")), "E103", "missing `rule`", id="missing_statement"),
    pytest.param(edit("optim sgd { lr = 0.5 }", "@optim sgd { }"), "E103", "needs `lr`", id="missing_required_key"),
    pytest.param(edit("spec t\nwidth n = 256, base = 64\n", "@width n = 256, base = 64\nspec t\n"), "E101", "`spec NAME`", id="spec_not_first"),
    # --- ranges ---
    pytest.param(edit("lr = 0.5", "lr = @-0.5"), "E108", "greater than 0", id="negative_lr"),
    pytest.param(edit("lr = 0.5", "lr = 0.5, momentum = @1"), "E108", "less than 1", id="momentum_one"),
    pytest.param(edit("batch = 64", "batch = @0"), "E108", "at least 1", id="batch_zero"),
    pytest.param(edit("width n = 256", "width n = @0"), "E108", "at least 1", id="width_zero"),
    pytest.param(VALID + "sweep { lr = @2^[4..-8] }\n", "E108", "empty range", id="empty_power_range"),
    pytest.param(edit("lr = 0.5", "lr = @1e300"), "E108", "between 1e-30 and 1e30", id="lr_too_large"),
    pytest.param(edit("lr = 0.5", "lr = @1e-400"), "E108", "between 1e-30 and 1e30", id="lr_too_small"),
    pytest.param(edit("lr = 0.5", "lr = @1/10000000000000000000000000000000000"), "E108", "too small", id="rational_too_small"),
    pytest.param(VALID + "sweep { lr = @2^[1000..1001] }\n", "E108", "outside -99..99", id="power_range_overflows"),
    pytest.param(edit("seed = 0 }", "seed = @4294967296 }"), "E108", "at most 4294967295", id="seed_too_large"),
    pytest.param(edit("batch = 64", "batch = @3000000000"), "E108", "at most 2147483647", id="batch_too_large"),
    pytest.param(edit("dense(x, n,", "dense(x, @99999999999999999999,"), "E111", "at most 2147483647", id="size_too_large"),
    pytest.param(edit("dense(x, n,", "dense(x, @100000000*n,"), "E111", "above the limit 2147483647", id="scaled_size_too_large"),
    # --- rules and parameterization ---
    pytest.param(edit("param mup", "param @ntk", edit("rule bp", "rule pc")), "E213", "`rule bp` only", id="ntk_with_pc"),
    pytest.param(edit("param mup", "@inverse mup"), "E214", "only `rule tp`", id="inverse_with_bp"),
    pytest.param(edit("param mup", "param @h9: a = 0"), "E201", "unknown node `h9`", id="override_of_unknown_node"),
    pytest.param(
        edit("param mup", "param @y.bias: b = 0", edit("dense(h2, 10)", "dense(h2, 10, bias = false)")),
        "E212",
        "no bias",
        id="override_of_missing_bias",
    ),
    pytest.param(edit("param mup", "param @h1.weight: b = 0"), "E212", "only `.bias`", id="override_with_unknown_suffix"),
    pytest.param(edit("param mup", "param @x: a = 0"), "E212", "dense layers", id="override_of_input"),
    # --- train ---
    pytest.param(edit("train {", "@train {", edit("seed = 0 }", "seed = 0, epochs = 1 }")), "E105", "`steps` and `epochs`", id="steps_and_epochs"),
    pytest.param(edit("data = digits", "data = @mnist"), "E209", 'mnist("data/mnist")', id="data_path_missing"),
    pytest.param(edit("data = digits", "data = @mnist()"), "E209", 'mnist("data/mnist")', id="data_path_empty"),
    pytest.param(edit("data = digits", "data = teacher(@4096)"), "E209", "keyword arguments", id="teacher_positional"),
]


@pytest.mark.parametrize(("marked", "code", "text"), BAD_SPECS)
def test_first_diagnostic_code_and_position(marked, code, text):
    source, line, column = locate(marked)

    first = diagnostics_of(source)[0]

    assert first.code == code
    assert first.severity == "error"
    assert (first.span.line, first.span.column) == (line, column)


@pytest.mark.parametrize(("marked", "code", "text"), BAD_SPECS)
def test_first_diagnostic_explains(marked, code, text):
    source, _, _ = locate(marked)

    first = diagnostics_of(source)[0]

    assert text in explanation(first)


# Lark's exception classes and terminal names, which must never reach a user.
_LARK_WORDS = re.compile(r"Traceback|Unexpected[A-Z]\w*|Token\(|Tree\(|\$END|__ANON|\b[Ll]ark\b")
_TERMINAL_NAMES = {terminal.name for terminal in build_parser().terminals if len(terminal.name) > 2}


@pytest.mark.parametrize(("marked", "code", "text"), BAD_SPECS)
def test_message_hides_parser_internals(marked, code, text):
    source, _, _ = locate(marked)

    for diagnostic in diagnostics_of(source):
        # Quoted text is spec syntax such as `spec NAME`, which may use capitals.
        unquoted = re.sub(r"`[^`]*`", "", explanation(diagnostic))
        words = set(re.findall(r"[A-Za-z_$][A-Za-z0-9_]*", unquoted))
        assert not _LARK_WORDS.search(explanation(diagnostic))
        assert not words & _TERMINAL_NAMES


def test_unknown_node_one_character_off_suggests():
    source = edit("dense(h2, 10)", "dense(h3, 10)")

    first = diagnostics_of(source)[0]

    assert "did you mean" in first.message
    assert "`h2`" in first.message


def test_statement_keyword_as_node_name():
    source = edit("  h2 = dense(h1, n", "  spec = dense(h1, n")

    first = diagnostics_of(source)[0]

    assert first.code == "E203"
    assert (first.span.line, first.span.column) == (6, 3)


def test_statement_keyword_as_node_name_rejected_in_place():
    source = edit("  h2 = dense(h1, n", "  spec = dense(h1, n")

    first = diagnostics_of(source)[0]

    assert first.severity == "error"
    assert (first.span.line, first.span.column) == (6, 3)


def test_cycle_message_names_every_node():
    source = edit("h1 = dense(x, n", "h1 = dense(y, n")

    (diagnostic,) = diagnostics_of(source)
    named = re.findall(r"\w+", diagnostic.message.partition(":")[2])

    assert set(named) == {"h1", "h2", "y"}


def test_all_errors_reported():
    source = edit("act = tanh)\n  h2", "act = tanhh)\n  h2")
    source = edit("loss = mse", "loss = l1", source)
    source = edit("batch = 64", "batch = 0", source)

    found = [(d.code, d.span.line) for d in diagnostics_of(source)]

    assert found == [("E106", 5), ("E106", 8), ("E108", 13)]


def test_errors_in_every_statement_reported():
    source = edit("base = 64", "base = 64, bass = 1")
    source = edit("rule bp", "rule pc { stepz = 1 }", source)
    source = edit("param mup", "param mupp", source)
    source = edit("lr = 0.5", "lr = 0.5, momentum = 2", source)

    codes = sorted(d.code for d in diagnostics_of(source))

    assert codes == ["E104", "E104", "E108", "E213"]


def test_invalid_required_value_not_reported_missing():
    source = edit("lr = 0.5", "lr = -0.5")

    codes = [d.code for d in diagnostics_of(source)]

    assert codes == ["E108"]


def test_enum_message_quotes_value_once():
    source = edit("x, n, act = tanh", "x, n, act = 3")

    (diagnostic,) = diagnostics_of(source)

    assert diagnostic.message == "unknown value `3` for `act`"


def test_syntax_error_reports_one_diagnostic():
    with pytest.raises(SpecError) as caught:
        compile_source("spec t $", "bad.lmu")

    assert [d.code for d in caught.value.diagnostics] == ["E001"]


# --- rendering ---------------------------------------------------------------------------

UNKNOWN_NODE = edit("dense(h2, 10)", "dense(h22, 10)")


def rendered_lines() -> list[str]:
    with pytest.raises(SpecError) as caught:
        compile_source(UNKNOWN_NODE, "specs/bad.lmu")
    return caught.value.format().splitlines()


def test_format_prefix():
    assert rendered_lines()[0].startswith("specs/bad.lmu:7:14: error[E201]: unknown node `h22`")


def test_format_source_line():
    assert rendered_lines()[1] == "    " + "  y  = dense(h22, 10)"


def test_format_caret_under_span():
    lines = rendered_lines()
    caret = lines[2]

    assert caret.strip() == "^^^"
    assert lines[1][caret.index("^") :].startswith("h22")


def test_format_matches_str():
    with pytest.raises(SpecError) as caught:
        compile_source(UNKNOWN_NODE, "specs/bad.lmu")

    assert str(caught.value) == caught.value.format()


def test_format_syntax_error_caret():
    with pytest.raises(SpecError) as caught:
        compile_source("spec t\nwidth n = 256 base = 64\n", "bad.lmu")
    lines = caught.value.format().splitlines()

    assert lines[0].startswith("bad.lmu:2:15: error[E002]: ")
    assert lines[1] == "    width n = 256 base = 64"
    assert lines[2] == "    " + " " * 14 + "^^^^"


# --- warnings ----------------------------------------------------------------------------

UNUSED_NODE = edit("  y  = dense(h2, 10)\n", "  y  = dense(h2, 10)\n  z  = dense(h1, n)\n")


def test_unused_node_does_not_raise():
    ir = compile_source(UNUSED_NODE, "unused.lmu")

    assert "z" in ir.graph


def test_unused_node_warns():
    (warning,) = compile_source(UNUSED_NODE, "unused.lmu").warnings

    assert warning.code == "W201"
    assert warning.severity == "warning"
    assert "`z`" in warning.message
    assert (warning.span.line, warning.span.column) == (8, 3)


def test_valid_spec_has_no_warnings():
    assert compile_source(VALID, "valid.lmu").warnings == ()
