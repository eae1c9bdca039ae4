"""Tests for the parameterization checker: verdicts, predicted exponents, diagnostics, resolution.

Every expected exponent below is derived by hand from the abc calculus of Tensor Programs IV
and IVb (Yang & Hu 2021, Yang & Littwin 2023) and its predictive-coding and target-propagation
extensions, not read off the checker. In a = 0 form with width multiplier m = n / base:

    s = a + b,  u = 2a + c (SGD) or a + c (Adam),  kappa = 1 when the fan-in grows
    g = min(s_out, u_out), the SGD backward signal after step 1 (g0 = s_out at step 1)
    r_l = g + u_l - kappa_l (SGD) or u_l - kappa_l (Adam),  r = min over non-output layers
    rho_upd = 1 - u_out,  rho_init = 1 - s_out - r

A comment next to each case gives the numbers where they are not the preset's own row.
"""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction as F

import pytest

from localmup.compiler.check import CODES, check
from localmup.compiler.errors import SpecError
from localmup.compiler.ir import compile_source

INF = math.inf
NEG_INF = -math.inf

SGD = "optim sgd { lr = 0.5 }"
ADAM = "optim adam { lr = 0.01, eps = 1e-8 * n^-1 }"
HIDDEN = ("h1", "h2", "h3")


def mlp(params: str = "param mup", optim: str = SGD, rule: str = "rule bp") -> str:
    """Return a spec of a tanh MLP with three hidden layers of width n and a readout of size 10."""
    return f"""\
spec t
width n = 256, base = 64
graph {{
  x  = input(64)
  h1 = dense(x, n, act = tanh)
  h2 = dense(h1, n, act = tanh)
  h3 = dense(h2, n, act = tanh)
  y  = dense(h3, 10)
  output y, loss = mse
}}
{rule}
{params}
{optim}
"""


def check_source(source: str):
    return check(compile_source(source, "t.lmu"))


def parameter(report, name: str):
    return next(p for p in report.parameters if p.name == name)


def codes(report) -> set[str]:
    return {d.code for d in report.diagnostics}


def diagnostics_with(report, code: str) -> list:
    return [d for d in report.diagnostics if d.code == code]


def pc_rule(precision: str = "1.0 * n^0", extra: str = "") -> str:
    return f"rule pc {{ steps = 20, state_lr = 0.1, init = forward, schedule = parallel{extra}, precision y = {precision} }}"


# muP in the form of Tensor Programs IV (Yang & Hu 2021, def. 5.1): a = (-1/2, 0, 1/2), b = 1/2,
# c = 0, with hidden biases a = -1/2 so that their r = g + 2a + c = 1 - 1 + 0 = 0.
TP4_MUP = """\
param sp
param h1: a = -1/2, b = 1/2, c = 0
param h2: a = 0, b = 1/2, c = 0
param h3: a = 0, b = 1/2, c = 0
param y: a = 1/2, b = 1/2, c = 0
param h1.bias: a = -1/2, c = 0
param h2.bias: a = -1/2, c = 0
param h3.bias: a = -1/2, c = 0"""

# The uniform parameterization UP_r of Tensor Programs IV (thm. G.4) at r = 1/4:
# a = (-1/2 + r, r, 1/2), b = 1/2 - r, c = 0, so s_out = 3/4, g = 3/4 and every r_l = 1/4.
UP_QUARTER = """\
param sp
param h1: a = -1/4, b = 1/4, c = 0
param h2: a = 1/4, b = 1/4, c = 0
param h3: a = 1/4, b = 1/4, c = 0
param y: a = 1/2, b = 1/4, c = 0"""

TP_RULE = "rule tp { variant = dtp, target_step = 0.5, feedback { act = tanh, lr = 0.05, noise = 0.1, steps = 1 } }"


# --- worked verdicts of backprop ---

WORKED_VERDICTS = [
    # SGD sp, c = 0: r_hidden = g + u - 1 = 0 + 0 - 1 = -1 < 0.
    pytest.param("param sp", SGD, False, False, "unstable", False, id="sgd-sp-c0"),
    # SGD sp with the global learning rate ~ m^-1 (c = 1): g = 1/2, r = 1/2, rho_upd = rho_init = 0.
    pytest.param("param sp", "optim sgd { lr = 0.1 * n^-1 }", True, True, "kernel", False, id="sgd-sp-c1"),
    pytest.param("param ntk", SGD, True, True, "kernel", False, id="sgd-ntk"),
    pytest.param("param ntk", ADAM, True, True, "operator", False, id="adam-ntk"),
    pytest.param("param mup", SGD, True, True, "feature_learning", True, id="sgd-mup"),
    pytest.param("param mup", ADAM, True, True, "feature_learning", True, id="adam-mup"),
    pytest.param("param mf", SGD, True, True, "feature_learning", True, id="sgd-mf"),
    pytest.param("param mf", ADAM, True, True, "feature_learning", True, id="adam-mf"),
    pytest.param(TP4_MUP, SGD, True, True, "feature_learning", True, id="sgd-mup-tp4-form"),
    pytest.param(UP_QUARTER, SGD, True, True, "kernel", False, id="sgd-up-quarter"),
    # muP with every c raised by 1: g = 1, r = 1, rho_upd = 1 - 2 = -1, rho_init = 1 - 1 - 1 = -1.
    pytest.param("param mup", "optim sgd { lr = 0.5 * n^-1 }", True, False, "trivial", False, id="sgd-mup-c+1"),
    # Adam sp, c = 1: r = 0 but rho_init = 1 - 1/2 - 0 = 1/2 > 0 (logits grow like m^(1/2)).
    pytest.param("param sp", "optim adam { lr = 0.01 * n^-1 }", False, False, "unstable", False, id="adam-sp-c1"),
]


@pytest.mark.parametrize("params, optim, stable, nontrivial, regime, mup", WORKED_VERDICTS)
def test_worked_verdict(params, optim, stable, nontrivial, regime, mup):
    report = check_source(mlp(params, optim))

    assert report.stable is stable
    assert report.nontrivial is nontrivial
    assert report.regime == regime
    assert report.mup is mup
    assert report.passed is (stable and nontrivial)


WORKED_EXPONENTS = [
    # (params, optim, r, rho_upd, rho_init)
    pytest.param("param sp", SGD, F(-1), F(1), F(3, 2), id="sgd-sp-c0"),
    pytest.param("param sp", "optim sgd { lr = 0.1 * n^-1 }", F(1, 2), F(0), F(0), id="sgd-sp-c1"),
    pytest.param("param ntk", SGD, F(1, 2), F(0), F(0), id="sgd-ntk"),
    # Adam ntk: u = a + c = (1/2, 3/2, 1), r = (1/2, 1/2), rho_upd = 1 - 1 = 0.
    pytest.param("param ntk", ADAM, F(1, 2), F(0), F(0), id="adam-ntk"),
    pytest.param("param mup", SGD, F(0), F(0), F(0), id="sgd-mup"),
    pytest.param("param mf", ADAM, F(0), F(0), F(0), id="adam-mf"),
    pytest.param("param sp", "optim adam { lr = 0.01 * n^-1 }", F(0), F(0), F(1, 2), id="adam-sp-c1"),
    pytest.param(UP_QUARTER, SGD, F(1, 4), F(0), F(0), id="sgd-up-quarter"),
    pytest.param("param mup", "optim sgd { lr = 0.5 * n^-1 }", F(1), F(-1), F(-1), id="sgd-mup-c+1"),
]


@pytest.mark.parametrize("params, optim, r, rho_update, rho_init", WORKED_EXPONENTS)
def test_worked_r_and_readout_terms(params, optim, r, rho_update, rho_init):
    calculus = check_source(mlp(params, optim)).calculus

    assert calculus.r == r
    assert calculus.rho_update == rho_update
    assert calculus.rho_init == rho_init


def test_sgd_sp_per_layer_r():
    # g = min(s_out, u_out) = min(1/2, 0) = 0 after step 1 and g0 = s_out = 1/2 at step 1.
    report = check_source(mlp("param sp"))
    params = report.calculus.params

    assert params["h1.weight"].r_first == F(1, 2)
    assert params["h1.weight"].r == 0
    assert params["h2.weight"].r_first == F(-1, 2)
    assert params["h2.weight"].r == -1
    assert params["y.weight"].r == -1


# --- predicted exponents of named parameterizations ---

# Columns: f_0, then dh1, dh_hidden (h2 and h3) and df at step 1, then the same three at
# steps >= 2. -inf stands for "exactly zero". Only rows without a blow-up are here, because
# past a blow-up only growth is predicted (tested separately).
# f_0 = 1/2 - s_out, dh_l = -min over ancestors of r, df = max(rho_upd, rho_init).
NAMED_PREDICTIONS = [
    pytest.param("param sp", "optim sgd { lr = 0.1 * n^-1 }", 0, (F(-3, 2), F(-1, 2), 0), (F(-3, 2), F(-1, 2), 0), id="sgd-sp-c1"),
    pytest.param("param ntk", SGD, 0, (F(-1, 2), F(-1, 2), 0), (F(-1, 2), F(-1, 2), 0), id="sgd-ntk"),
    pytest.param("param mup", SGD, F(-1, 2), (0, 0, 0), (0, 0, 0), id="sgd-mup"),
    pytest.param("param mf", SGD, F(-1, 2), (0, 0, 0), (0, 0, 0), id="sgd-mf"),
    pytest.param(TP4_MUP, SGD, F(-1, 2), (0, 0, 0), (0, 0, 0), id="sgd-mup-tp4-form"),
    pytest.param(UP_QUARTER, SGD, F(-1, 4), (F(-1, 4), F(-1, 4), 0), (F(-1, 4), F(-1, 4), 0), id="sgd-up-quarter"),
    # Zero readout: hidden layers get no gradient at step 1, and from step 2 on g = u_out = 1.
    pytest.param("param mup\nparam y: b = inf", SGD, NEG_INF, (NEG_INF, NEG_INF, 0), (0, 0, 0), id="sgd-mup-zero-readout"),
    # Readout a + b = 3/2 > 2a + c = 1: g0 = 3/2 gives r = 1/2 at step 1, g = 1 gives r = 0 later.
    # f_0 = 1/2 - 3/2 = -1 and df = max(rho_upd = 0, rho_init = -1/2) = 0.
    pytest.param("param mup\nparam y: b = 3/2", SGD, F(-1), (F(-1, 2), F(-1, 2), 0), (0, 0, 0), id="sgd-mup-small-readout"),
    # Adam sp, c = 1: r_1 = 1, r_hidden = 0, df = rho_init = 1/2 (unstable but not compounding).
    pytest.param("param sp", "optim adam { lr = 0.01 * n^-1 }", 0, (F(-1), 0, F(1, 2)), (F(-1), 0, F(1, 2)), id="adam-sp-c1"),
    pytest.param("param ntk", ADAM, 0, (F(-1, 2), F(-1, 2), 0), (F(-1, 2), F(-1, 2), 0), id="adam-ntk"),
    pytest.param("param mup", ADAM, F(-1, 2), (0, 0, 0), (0, 0, 0), id="adam-mup"),
    pytest.param("param mf", ADAM, F(-1, 2), (0, 0, 0), (0, 0, 0), id="adam-mf"),
]


def expected_kind(exponent) -> str:
    return "zero" if exponent == NEG_INF else "exact"


@pytest.mark.parametrize("params, optim, f0, first, later", NAMED_PREDICTIONS)
def test_named_predictions(params, optim, f0, first, later):
    report = check_source(mlp(params, optim))
    dh1_first, dh_first, df_first = first
    dh1, dh, df = later

    assert report.prediction("y").init.exponent == f0
    for node in HIDDEN:
        assert report.prediction(node).init.exponent == 0, node
    assert report.prediction("h1").delta_first.exponent == dh1_first
    assert report.prediction("h1").delta_first.kind == expected_kind(dh1_first)
    for node in ("h2", "h3"):
        assert report.prediction(node).delta_first.exponent == dh_first, node
        assert report.prediction(node).delta_first.kind == expected_kind(dh_first), node
    assert report.prediction("y").delta_first.exponent == df_first
    assert report.prediction("h1").delta.exponent == dh1
    for node in ("h2", "h3"):
        assert report.prediction(node).delta.exponent == dh, node
    assert report.prediction("y").delta.exponent == df


def test_feature_change_prefix_min():
    # Delta h_l = -min over ancestors of r: h2 with c = 1 has r_2 = 1 + 1 - 1 = 1, so its own
    # contribution dW x shrinks like m^-1, but the change arriving from h1 (r_1 = 0) keeps
    # Delta h2 and Delta h3 at m^0.
    report = check_source(mlp("param mup\nparam h2: c = 1\nparam h2.bias: c = 0"))

    assert report.prediction("h2").own.exponent == -1
    assert report.prediction("h2").delta.exponent == 0
    assert report.prediction("h3").delta.exponent == 0


def test_feature_change_from_first_layer():
    # h1 with c = 0 has r_1 = 1 + 0 - 0 = 1 while h2 and h3 keep r = 0.
    report = check_source(mlp("param mup\nparam h1: c = 0\nparam h1.bias: c = 0"))

    assert report.prediction("h1").delta.exponent == -1
    assert report.prediction("h2").delta.exponent == 0
    assert report.calculus.r == 0


def test_sgd_sp_first_blowup_predictions():
    # Step 1 uses g0 = s_out = 1/2: r_1 = 1/2 and r_2 = 1/2 + 0 - 1 = -1/2, so dh1 ~ m^(-1/2) and
    # h2 is the first blow-up, dh2 ~ m^(1/2). Past it only growth can be asserted, and the
    # readout init term is 1 - s_out + 1/2 = 1.
    report = check_source(mlp("param sp"))

    assert report.prediction("h1").delta_first.exponent == F(-1, 2)
    assert report.prediction("h1").delta_first.kind == "exact"
    assert report.prediction("h2").delta_first.exponent == F(1, 2)
    assert report.prediction("h2").delta_first.kind == "exact"
    assert report.prediction("h3").delta_first.kind == "grows"
    assert report.prediction("y").delta_first.kind == "grows"
    assert report.prediction("y").delta_first.exponent == 1


def test_adam_sp_first_blowup_predictions():
    # Adam sp, c = 0: r_1 = a + c = 0 and r_2 = 0 - 1 = -1, so dh1 ~ m^0 and dh2 ~ m^1.
    report = check_source(mlp("param sp", "optim adam { lr = 0.01 }"))

    assert report.prediction("h1").delta_first.exponent == 0
    assert report.prediction("h2").delta_first.exponent == 1
    assert report.prediction("h2").delta_first.kind == "exact"
    assert report.prediction("h3").delta_first.kind == "grows"


# --- predictive coding ---

# muP for pc with output precision m^p: b = (0, 1/2, 1), SGD c = (p - 1, p, 1) for the raw
# update and c_out = 1 + p for the energy update. Biases follow the input layer.
PC_MUP = [
    pytest.param("1.0 * n^0", "", (F(-1), F(0), F(1)), id="p0"),
    pytest.param("1.0 * n^(1/2)", "", (F(-1, 2), F(1, 2), F(1)), id="p-half"),
    pytest.param("1.0 * n^1", "", (F(0), F(1), F(1)), id="p1"),
    pytest.param("1.0 * n^0", ", update = energy", (F(-1), F(0), F(1)), id="energy-p0"),
    pytest.param("1.0 * n^(1/2)", ", update = energy", (F(-1, 2), F(1, 2), F(3, 2)), id="energy-p-half"),
    pytest.param("1.0 * n^1", ", update = energy", (F(0), F(1), F(2)), id="energy-p1"),
]


@pytest.mark.parametrize("precision, update, c", PC_MUP)
def test_pc_mup_exponents(precision, update, c):
    report = check_source(mlp("param mup", rule=pc_rule(precision, update)))
    c_input, c_hidden, c_output = c

    assert parameter(report, "h1.weight").c_eff == c_input
    assert parameter(report, "h2.weight").c_eff == c_hidden
    assert parameter(report, "h3.weight").c_eff == c_hidden
    assert parameter(report, "y.weight").c_eff == c_output
    assert parameter(report, "y.weight").b_eff == 1
    for node in HIDDEN:
        assert parameter(report, f"{node}.bias").c_eff == c_input, node


@pytest.mark.parametrize("precision, update, c", PC_MUP)
def test_pc_mup_verdict(precision, update, c):
    report = check_source(mlp("param mup", rule=pc_rule(precision, update)))

    assert report.stable
    assert report.regime == "feature_learning"
    assert report.mup


def test_pc_gauss_newton_with_backprop_exponents():
    # With p = 1 the hidden errors are Theta(1) instead of m^-1, so the backprop muP rates
    # c = (-1, 0) give r = 0 + (-1) - 0 = -1 for h1 and 0 + 0 - 1 = -1 for h2 and h3.
    params = "param mup\nparam h1: c = -1\nparam h2: c = 0\nparam h3: c = 0"
    report = check_source(mlp(params, rule=pc_rule("1.0 * n^1")))
    blown = {d.layer for d in diagnostics_with(report, "C201")}

    assert not report.stable
    assert {"h1.weight", "h2.weight", "h3.weight"} <= blown


def test_pc_large_precision_diverges():
    # The state Hessian's largest eigenvalue grows like m^(p - 1) = m^(1/2) for p = 3/2, and a
    # fixed state_lr makes inference diverge.
    report = check_source(mlp("param mup", rule=pc_rule("1.0 * n^(3/2)")))

    assert "C206" in codes(report)
    assert not report.stable
    assert not report.mup


def test_pc_parallel_short_inference():
    # From forward init, parallel inference moves the error one layer per step: with 2 steps
    # the error reaches h3 and h2 but never h1, which then never learns.
    rule = "rule pc { steps = 2, state_lr = 0.1, init = forward, schedule = parallel }"
    report = check_source(mlp("param mup", rule=rule))

    assert [d.layer for d in diagnostics_with(report, "C405")] == ["h1"]
    assert not report.mup
    assert report.prediction("h1").delta.kind == "zero"


def test_pc_sequential_inference_reaches_all():
    rule = "rule pc { steps = 2, state_lr = 0.1, init = forward, schedule = sequential }"
    report = check_source(mlp("param mup", rule=rule))

    assert "C405" not in codes(report)
    assert report.mup


# --- target propagation ---


def test_tp_mup_exponents():
    # Forward b = (0, 1/2, 1/2) and c = (0, 1, 1). The readout's feedback Q has b = 0, c = 0 and
    # hidden Q have b = 1/2, c = 1.
    report = check_source(mlp("param mup\ninverse mup", rule=TP_RULE))
    expected = {
        "h1.weight": (0, 0),
        "h2.weight": (F(1, 2), 1),
        "h3.weight": (F(1, 2), 1),
        "y.weight": (F(1, 2), 1),
        "y.feedback": (0, 0),
        "h3.feedback": (F(1, 2), 1),
        "h2.feedback": (F(1, 2), 1),
    }

    for name, (b, c) in expected.items():
        assert parameter(report, name).b_eff == b, name
        assert parameter(report, name).c_eff == c, name


@pytest.mark.parametrize("optim", [SGD, ADAM], ids=["sgd", "adam"])
def test_tp_mup_verdict(optim):
    report = check_source(mlp("param mup\ninverse mup", optim, rule=TP_RULE))

    assert report.stable
    assert report.regime == "feature_learning"
    assert report.mup


def test_tp_readout_b1_not_mup():
    # TP's readout gain on feature changes is m^(1/2 - s_out): b_out = 1 makes the features'
    # effect on the output vanish like m^(-1/2), which is stable but not maximal.
    report = check_source(mlp("param mup\ninverse mup\nparam y: b = 1", rule=TP_RULE))

    assert report.stable
    assert not report.mup
    assert [d.layer for d in diagnostics_with(report, "C403")] == ["y.weight"]


TP_UNSTABLE = [
    # Forward sp, c = 0: the target shift is Theta(1), so r_hidden = 0 + 0 - 1 = -1.
    pytest.param("param sp\ninverse mup", "C201", {"h2.weight", "h3.weight"}, id="forward-sp"),
    # Feedback sp, c = 0: the reconstruction error is Theta(1), so r_Q = 0 - 1 = -1 for hidden Q.
    pytest.param("param mup\ninverse sp", "C204", {"h2.feedback", "h3.feedback"}, id="inverse-sp"),
]


@pytest.mark.parametrize("params, code, layers", TP_UNSTABLE)
def test_tp_sp_unstable(params, code, layers):
    report = check_source(mlp(params, rule=TP_RULE))

    assert not report.stable
    assert {d.layer for d in diagnostics_with(report, code)} == layers


def test_tp_without_inverse_note():
    report = check_source(mlp("param mup", rule=TP_RULE))

    assert "C702" in codes(report)


def test_tp_with_inverse_no_note():
    report = check_source(mlp("param mup\ninverse mup", rule=TP_RULE))

    assert "C702" not in codes(report)


# --- the mf preset ---

MF_CASES = [
    pytest.param("rule bp", SGD, id="bp-sgd"),
    pytest.param("rule bp", ADAM, id="bp-adam"),
    pytest.param(pc_rule("1.0 * n^1"), SGD, id="pc-p1-sgd"),
    pytest.param(pc_rule("1.0 * n^(1/2)", ", update = energy"), SGD, id="pc-energy-sgd"),
    pytest.param(TP_RULE, SGD, id="tp-sgd"),
    pytest.param(TP_RULE, ADAM, id="tp-adam"),
]


@pytest.mark.parametrize("rule, optim", MF_CASES)
def test_mf_is_moved_mup(rule, optim):
    # mf is the rule's muP moved by the symmetry with theta = b: a + b, 0, c - 2b (SGD) or c - b (Adam).
    factor = 2 if optim == SGD else 1
    inverse = "\ninverse {}" if rule == TP_RULE else ""
    mup = check_source(mlp("param mup" + inverse.format("mup"), optim, rule))
    mf = check_source(mlp("param mf" + inverse.format("mf"), optim, rule))

    for before, after in zip(mup.parameters, mf.parameters):
        assert after.a == before.a + before.b, after.name
        assert after.b == 0, after.name
        assert after.c == before.c - factor * before.b, after.name


# --- diagnostics ---

DIAGNOSED_SPECS = {
    "sgd-sp": mlp("param sp"),
    "sgd-sp-c1": mlp("param sp", "optim sgd { lr = 0.1 * n^-1 }"),
    "adam-sp-c1": mlp("param sp", "optim adam { lr = 0.01 * n^-1 }"),
    "adam-mup-eps": mlp("param mup", "optim adam { lr = 0.01, eps = 1e-8 }"),
    "no-param": mlp(""),
    "hidden-init": mlp("param mup\nparam h2: b = 0"),
    "readout-init": mlp("param mup\nparam y: b = 0"),
    "readout-small": mlp("param mup\nparam y: b = 3/2"),
    "pc-p3/2": mlp("param mup", rule=pc_rule("1.0 * n^(3/2)")),
    "pc-short": mlp("param mup", rule="rule pc { steps = 2, schedule = parallel }"),
    "pc-zero-init": mlp("param mup", rule="rule pc { steps = 20, init = zero }"),
    "tp-sp": mlp("param sp\ninverse sp", rule=TP_RULE),
    "tp-no-inverse": mlp("param mup", rule=TP_RULE),
    "tp-plain": mlp("param mup\ninverse mup", rule="rule tp { variant = tp }"),
    "tp-feedback-init": mlp("param mup\ninverse mup\ninverse h2: b = 0", rule=TP_RULE),
}


@pytest.mark.parametrize("source", DIAGNOSED_SPECS.values(), ids=DIAGNOSED_SPECS.keys())
def test_diagnostic_fields(source):
    report = check_source(source)
    layers = {p.name for p in report.parameters} | set(report.ir.graph.nodes)

    for d in report.diagnostics:
        assert d.code in CODES, d
        assert d.severity in ("error", "warning", "note"), d
        assert d.message, d
        assert d.layer is None or d.layer in layers, d
        if d.severity in ("error", "warning"):
            assert d.layer is not None, d
            assert d.condition, d
            assert d.fix, d


def test_diagnosed_specs_cover_codes():
    """The specs above exercise the codes that test_diagnostic_fields inspects."""
    found = set()
    for source in DIAGNOSED_SPECS.values():
        found |= codes(check_source(source))

    expected = {"C101", "C102", "C201", "C202", "C203", "C204", "C205", "C206", "C302", "C401",
                "C403", "C405", "C501", "C502", "C503", "C504", "C601", "C701", "C702"}
    assert expected <= found, sorted(expected - found)


def test_regime_note_condition():
    report = check_source(mlp("param mup"))
    (note,) = diagnostics_with(report, "C302")

    assert note.condition is not None


def test_scope_warning_fields():
    source = mlp("param mup").replace("h2 = dense(h1, n, act = tanh)", "h2 = dense(h1, 32, act = tanh)")
    report = check_source(source)
    (warning,) = diagnostics_with(report, "C703")

    assert warning.layer == "h2"
    assert warning.condition
    assert warning.fix


def test_sp_errors_name_layers():
    # r_hidden = -1 for h2 and h3 (C201) and rho_upd = 1 - u_out = 1 (C202), while h1 has r = 0.
    report = check_source(mlp("param sp"))
    errors = {(d.code, d.layer) for d in report.diagnostics if d.severity == "error"}

    assert errors == {("C201", "h2.weight"), ("C201", "h3.weight"), ("C202", "y.weight")}


def test_blowup_condition_states_r():
    report = check_source(mlp("param sp"))
    (h2,) = [d for d in diagnostics_with(report, "C201") if d.layer == "h2.weight"]

    assert "-1 < 0" in h2.condition


FIX_LINE = re.compile(r"`((?:param|inverse) [^`]*)`")

# Single-layer defects: (extra statements after the preset, code, layer). The fix is the first
# `param ...` or `inverse ...` line in the diagnostic's fix text.
PARAM_FIXES = [
    # r(h2) = g + u - 1 = 1 + (-1) - 1 = -1.
    pytest.param("param mup\nparam h2: c = -1", SGD, "rule bp", "C201", "h2.weight", id="C201"),
    # r(h2) = 1 + 1 - 1 = 1 > 0: not updated maximally.
    pytest.param("param mup\nparam h2: c = 1", SGD, "rule bp", "C401", "h2.weight", id="C401"),
    # r(y) = 0 + 2 - 1 = 1 > 0: readout updates shrink like m^-1.
    pytest.param("param mup\nparam y: c = 2", SGD, "rule bp", "C402", "y.weight", id="C402"),
    # s_out = 3/2: rho_init = 1 - 3/2 - 0 = -1/2.
    pytest.param("param mup\nparam y: b = 3/2", SGD, "rule bp", "C403", "y.weight", id="C403"),
    # s(h2) = 0 instead of 1/2: h2 ~ m^(1/2) at init.
    pytest.param("param mup\nparam h2: b = 0", SGD, "rule bp", "C101", "h2.weight", id="C101"),
    # s_out = 0: f_0 ~ m^(1/2).
    pytest.param("param mup\nparam y: b = 0", SGD, "rule bp", "C102", "y.weight", id="C102"),
    # rho_init = 1 - 1/2 - 0 = 1/2 with r = 0.
    pytest.param("param sp", "optim adam { lr = 0.01 * n^-1 }", "rule bp", "C203", "y.weight", id="C203"),
    # Hidden Q with c = 0: r_Q = 0 - 1 = -1.
    pytest.param("param mup\ninverse mup\ninverse h2: c = 0", SGD, TP_RULE, "C204", "h2.feedback", id="C204"),
    # Hidden Q with b = 0: target shifts grow like m^(1/2).
    pytest.param("param mup\ninverse mup\ninverse h2: b = 0", SGD, TP_RULE, "C205", "h2.feedback", id="C205"),
]


@pytest.mark.parametrize("params, optim, rule, code, layer", PARAM_FIXES)
def test_fix_removes_diagnostic(params, optim, rule, code, layer):
    report = check_source(mlp(params, optim, rule))
    found = [d for d in diagnostics_with(report, code) if d.layer == layer]
    assert len(found) == 1, report.diagnostics
    match = FIX_LINE.search(found[0].fix)
    assert match, found[0].fix

    fixed = check_source(mlp(params + "\n" + match.group(1), optim, rule))

    assert not [d for d in diagnostics_with(fixed, code) if d.layer == layer]


def test_inference_fix_removes_divergence():
    report = check_source(mlp("param mup", rule=pc_rule("1.0 * n^(3/2)")))
    (diagnostic,) = diagnostics_with(report, "C206")
    setting = re.search(r"`(state_lr = [^`]*)`", diagnostic.fix).group(1)

    fixed = check_source(mlp("param mup", rule=pc_rule("1.0 * n^(3/2)").replace("state_lr = 0.1", setting)))

    assert "C206" not in codes(fixed)
    assert fixed.stable


def test_epsilon_fix_removes_warning():
    report = check_source(mlp("param mup", "optim adam { lr = 0.01, eps = 1e-8 }"))
    (diagnostic,) = diagnostics_with(report, "C601")
    setting = re.search(r"`(eps = [^`]*)`", diagnostic.fix).group(1)

    fixed = check_source(mlp("param mup", f"optim adam {{ lr = 0.01, {setting} }}"))

    assert "C601" not in codes(fixed)


# --- Adam epsilon ---


def test_adam_constant_eps_warns():
    # muP hidden gradients scale like m^-(a + s_out) = m^-1, so a constant eps dominates them.
    report = check_source(mlp("param mup", "optim adam { lr = 0.01, eps = 1e-8 }"))
    (diagnostic,) = diagnostics_with(report, "C601")

    assert diagnostic.severity == "warning"
    assert "h2.weight" in diagnostic.message


def test_adam_scaled_eps_silent():
    report = check_source(mlp("param mup", "optim adam { lr = 0.01, eps = 1e-8 * n^-1 }"))

    assert "C601" not in codes(report)


def test_adam_constant_eps_zero_readout_warns():
    report = check_source(mlp("param mup\nparam y: b = inf", "optim adam { lr = 0.01, eps = 1e-8 }"))

    assert "C601" in codes(report)


# --- parameter resolution ---


def test_later_preset_resets_override():
    report = check_source(mlp("param mup\nparam h2: c = 5\nparam sp"))

    assert parameter(report, "h2.weight").c == 0
    assert parameter(report, "h2.weight").b == F(1, 2)


def test_later_override_wins():
    report = check_source(mlp("param mup\nparam h2: c = 2\nparam h2: c = 3"))

    assert parameter(report, "h2.weight").c == 3


def test_override_keeps_other_keys():
    report = check_source(mlp("param mup\nparam h2: c = 2"))

    assert parameter(report, "h2.weight").a == 0
    assert parameter(report, "h2.weight").b == F(1, 2)


def test_override_before_preset_lost():
    report = check_source(mlp("param h2: c = 5\nparam mup"))

    assert parameter(report, "h2.weight").c == 0


def test_bias_override_targets_bias():
    report = check_source(mlp("param mup\nparam h1.bias: c = 3"))

    assert parameter(report, "h1.bias").c == 3
    assert parameter(report, "h1.weight").c == -1


def test_weight_override_skips_bias():
    report = check_source(mlp("param mup\nparam h1: c = 3"))

    assert parameter(report, "h1.weight").c == 3
    assert parameter(report, "h1.bias").c == -1


def test_scaled_std_raises_b():
    # std = V * n^E gives an init std of V m^(E - b): b_eff = b - E.
    report = check_source(mlp("param mup\nparam h2: std = 0.1 * n^-1"))
    h2 = parameter(report, "h2.weight")

    assert h2.b == F(1, 2)
    assert h2.b_eff == F(3, 2)
    assert h2.std.value == F(1, 10)


def test_scaled_lr_raises_c():
    report = check_source(mlp("param mup\nparam h2: lr = 1.0 * n^-1"))
    h2 = parameter(report, "h2.weight")

    assert h2.c == 0
    assert h2.c_eff == 1


def test_scaled_mult_raises_a():
    report = check_source(mlp("param mup\nparam h2: mult = 2.0 * n^(-1/2)"))
    h2 = parameter(report, "h2.weight")

    assert h2.a == 0
    assert h2.a_eff == F(1, 2)


def test_global_lr_raises_every_c():
    plain = check_source(mlp("param mup"))
    scaled = check_source(mlp("param mup", "optim sgd { lr = 0.5 * n^-1 }"))

    for before, after in zip(plain.parameters, scaled.parameters):
        assert after.c_eff == before.c_eff + 1, after.name


def test_global_lr_leaves_feedback_c():
    # Feedback weights train with `feedback { lr }`, not with the optimizer's learning rate.
    scaled = check_source(mlp("param mup\ninverse mup", "optim sgd { lr = 0.5 * n^-1 }", TP_RULE))

    assert parameter(scaled, "h2.feedback").c_eff == 1
    assert parameter(scaled, "y.feedback").c_eff == 0


def test_default_weight_std():
    # 1/sqrt(fan-in at base): 1/sqrt(64) for h1 (input 64) and h2 (fan-in n = 64 at base).
    report = check_source(mlp("param mup"))

    assert parameter(report, "h1.weight").std.value == F(1, 8)
    assert parameter(report, "h2.weight").std.value == F(1, 8)
    assert not parameter(report, "h2.weight").zero_init


def test_default_std_follows_base():
    source = mlp("param mup").replace("base = 64", "base = 16").replace("input(64)", "input(4)")
    report = check_source(source)

    assert parameter(report, "h1.weight").std.value == F(1, 2)
    assert parameter(report, "h2.weight").std.value == F(1, 4)


def test_default_bias_zero_init():
    report = check_source(mlp("param mup"))

    for node in (*HIDDEN, "y"):
        bias = parameter(report, f"{node}.bias")
        assert bias.std.value == 0, node
        assert bias.zero_init, node
        assert bias.b_eff == INF, node


def test_explicit_bias_std_not_zero_init():
    report = check_source(mlp("param mup\nparam h1.bias: std = 0.5"))

    assert not parameter(report, "h1.bias").zero_init
    assert parameter(report, "h1.bias").b_eff == 0


def test_no_param_defaults_to_sp():
    report = check_source(mlp(""))

    assert "C701" in codes(report)
    assert parameter(report, "h2.weight").c == 0
    assert not report.stable


@pytest.mark.parametrize("rule", [pc_rule(), TP_RULE], ids=["pc", "tp"])
def test_ntk_rejected_for_local_rules(rule):
    with pytest.raises(SpecError) as caught:
        compile_source(mlp("param ntk", rule=rule), "t.lmu")

    assert [d.code for d in caught.value.diagnostics] == ["E213"]


# --- JSON document ---


def test_json_top_level():
    document = check_source(mlp("param mup")).to_json()

    assert document["spec"] == "t"
    assert document["rule"] == "bp"
    assert document["optimizer"] == "sgd"
    assert document["stable"] is True
    assert document["nontrivial"] is True
    assert document["regime"] == "feature_learning"
    assert document["mup"] is True


def test_json_layer_exponents():
    # muP for SGD in a = 0 form: b = (0, 1/2, 1) and c = (-1, 0, 1), with zero-initialized biases.
    document = check_source(mlp("param mup")).to_json()
    layers = {row["name"]: row for row in document["layers"]}
    expected = {
        "h1.weight": ("input", "0", "0", "-1"),
        "h2.weight": ("hidden", "0", "1/2", "0"),
        "y.weight": ("output", "0", "1", "1"),
        "h1.bias": ("bias", "0", "inf", "-1"),
    }

    for name, (role, a, b, c) in expected.items():
        assert layers[name]["role"] == role, name
        assert layers[name]["a"] == a, name
        assert layers[name]["b"] == b, name
        assert layers[name]["c"] == c, name
        assert layers[name]["r"] == "0", name


def test_json_fraction_strings():
    document = check_source(mlp("param sp", "optim sgd { lr = 0.1 * n^-1 }")).to_json()
    layers = {row["name"]: row for row in document["layers"]}

    assert layers["h2.weight"]["r"] == "1/2"
    assert layers["h1.weight"]["r"] == "3/2"


def test_json_diagnostic_keys():
    document = check_source(mlp("param sp")).to_json()

    assert document["diagnostics"]
    for entry in document["diagnostics"]:
        assert {"code", "severity", "layer", "message"} <= set(entry), entry


def test_json_serializable():
    document = check_source(mlp("param mup\ninverse mup", rule=TP_RULE)).to_json()

    assert json.loads(json.dumps(document)) == document
