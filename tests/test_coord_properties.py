"""Property tests of width scaling: measured coordinate slopes against the checker.

Specs are drawn at random: 1 to 4 hidden layers, tanh or relu, bp, pc or tp, sgd or adam,
and a preset. Optionally one layer's learning-rate exponent c is lowered by 1 (updates a
factor m too large) or raised by 1/2, or the readout starts at zero or at the standard
scale. For every spec the checker calls stable, every
measured slope must lie within the tolerance of its prediction; for every spec it calls
unstable, the layer its first error names must grow faster than m^0.2.

The default profile runs a few examples for CI; `pytest -m slow` runs the thorough one.
Seeds are fixed (derandomized Hypothesis, seeded trainers), so a failure reproduces.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from localmup import coordcheck
from localmup.commands import trainer_module
from localmup.compiler.check import check
from localmup.compiler.errors import ERROR
from localmup.compiler.ir import compile_source

STABILITY_CODES = ("C101", "C102", "C201", "C202", "C203")
# Widths, seeds and steps of MATH's protocol; a small fixed batch keeps predictive coding fast.
COORD_BLOCK = "coord {{ widths = [256, 512, 1024, 2048], steps = 3, seeds = 4, batch = 16, lr = {lr} }}"


def build_spec(depth, act, rule, optimizer, preset, shift_layer, shift, readout):
    """Return spec text for one drawn case; `shift` moves one hidden layer's c."""
    lines = ["spec drawn", "width n = 256, base = 64", "graph {", "  x = input(64)"]
    previous = "x"
    for index in range(1, depth + 1):
        lines.append(f"  h{index} = dense({previous}, n, act = {act})")
        previous = f"h{index}"
    lines += [f"  y = dense({previous}, 10)", "  output y, loss = mse", "}"]
    if rule == "bp":
        lines.append("rule bp")
    elif rule == "pc":
        lines.append("rule pc { steps = 10, state_lr = 0.1, init = forward, schedule = parallel }")
    else:
        lines.append("rule tp { variant = dtp, target_step = 0.5, feedback { act = tanh, lr = 0.05, noise = 0.1, steps = 1 } }")
    lines.append(f"param {preset}")
    if rule == "tp":
        lines.append("inverse mup")
    if shift:
        lines.append(f"param h{shift_layer}: c = {_c_of(preset, rule, optimizer, shift_layer) + shift}")
    if readout == "zero":
        lines.append("param y: b = inf")
    elif readout == "standard":
        lines.append(f"param y: b = {_readout_b(preset)}")
    if optimizer == "sgd":
        # Relu features share a positive mean, so a readout step sums coherently over the
        # width: at lr 0.1 it already overshoots the fixed batch within three steps.
        lines.append("optim sgd { lr = 0.05 }")
        lr = "0.05"
    else:
        # Adam moves every entry by about lr per step. With relu features (positive means)
        # lr 0.01 already overshoots on the fixed batch, so this uses mup's Adam default.
        lines.append("optim adam { lr = 0.001, eps = 1e-12 }")
        lr = "0.001"
    lines.append(COORD_BLOCK.format(lr=lr))
    return "\n".join(lines) + "\n"


def _c_of(preset, rule, optimizer, layer) -> Fraction:
    """The c a preset gives hidden layer `layer` (1 is the input layer), read from the checker."""
    probe = build_spec(max(layer, 1), "tanh", rule, optimizer, preset, 1, 0, "preset")
    report = check(compile_source(probe, "probe.lmu"))
    parameter = next(p for p in report.parameters if p.name == f"h{layer}.weight")
    return Fraction(parameter.c)


def _readout_b(preset) -> str:
    """A readout b that makes the readout standard-scaled: s = a + b = 1/2."""
    return {"mf": "-1/2", "ntk": "0"}.get(preset, "1/2")


@st.composite
def drawn_specs(draw):
    rule = draw(st.sampled_from(("bp", "pc", "tp")))
    optimizer = draw(st.sampled_from(("sgd", "adam")))
    presets = ("sp", "mup", "mf", "ntk") if rule == "bp" else ("sp", "mup", "mf")
    depth = draw(st.integers(1, 4))
    return build_spec(
        depth,
        draw(st.sampled_from(("tanh", "relu"))),
        rule,
        optimizer,
        draw(st.sampled_from(presets)),
        draw(st.integers(1, depth)),
        draw(st.sampled_from((Fraction(0), Fraction(0), Fraction(-1), Fraction(1, 2)))),
        draw(st.sampled_from(("preset", "preset", "zero", "standard"))),
    )


def assert_scaling_matches(source: str) -> None:
    ir = compile_source(source, "drawn.lmu")
    report = check(ir)
    result = coordcheck.run_coord(ir, trainer_module(ir))
    if report.stable:
        wrong = [r for r in result.rows if not r.agrees]
        assert not wrong, source + "\n" + coordcheck.format_rows(wrong)
        return
    first = next(d for d in report.diagnostics if d.severity == ERROR and d.code in STABILITY_CODES)
    node = first.layer.split(".")[0]
    slopes = [r.measured.slope for r in result.rows if r.node == node and not r.measured.zero]
    assert slopes, source
    assert max(slopes) > coordcheck.BLOWUP_SLOPE, source + "\n" + coordcheck.format_rows([r for r in result.rows if r.node == node])


KNOWN = {
    "sp": build_spec(3, "tanh", "bp", "sgd", "sp", 1, 0, "preset"),
    "ntk": build_spec(3, "tanh", "bp", "sgd", "ntk", 1, 0, "preset"),
    "mup": build_spec(3, "tanh", "bp", "sgd", "mup", 1, 0, "preset"),
    "mf": build_spec(2, "relu", "bp", "adam", "mf", 1, 0, "preset"),
    "zero_readout": build_spec(2, "tanh", "bp", "sgd", "mup", 1, 0, "zero"),
    "pc_p0": build_spec(2, "tanh", "pc", "sgd", "mup", 1, 0, "preset"),
    "pc_p1": build_spec(2, "tanh", "pc", "sgd", "mup", 1, 0, "preset").replace(
        "schedule = parallel }", "schedule = parallel, precision y = 1.0 * n^1 }"
    ),
    "tp_b_half": build_spec(2, "tanh", "tp", "sgd", "mup", 1, 0, "preset"),
    "tp_b_one": build_spec(2, "tanh", "tp", "sgd", "mup", 1, 0, "preset").replace("inverse mup", "inverse mup\nparam y: b = 1"),
}

COMMON = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_known_parameterization_scales_as_predicted(name):
    assert_scaling_matches(KNOWN[name])


@settings(max_examples=4, **COMMON)
@given(drawn_specs())
def test_drawn_specs_scale_as_predicted(source):
    assert_scaling_matches(source)


@pytest.mark.slow
@settings(max_examples=30, **COMMON)
@given(drawn_specs())
@example(KNOWN["sp"])
@example(KNOWN["zero_readout"])
# Cases found by earlier runs: an input layer trained faster than its bias (a weight and a
# bias term of different exponents), and a blow-up that shows only from step 3.
@example(build_spec(2, "tanh", "bp", "sgd", "mup", 1, Fraction(1, 2), "preset"))
@example(build_spec(1, "tanh", "bp", "sgd", "sp", 1, Fraction(-1, 2), "preset"))
@example(build_spec(1, "relu", "bp", "sgd", "mup", 1, Fraction(0), "preset"))
def test_drawn_specs_scale_as_predicted_thoroughly(source):
    assert_scaling_matches(source)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="a slow-onset instability: NTK with a muP-trained input layer blows up only through the "
    "readout's init term (rho_init = 1/2), whose prefactor is too small to show within 3 steps at widths "
    "up to 2048; the checker calls it unstable (C203) but the measured slopes stay below 0.2",
)
def test_slow_onset_instability_is_measured():
    assert_scaling_matches(build_spec(3, "relu", "bp", "sgd", "ntk", 1, Fraction(-1, 2), "preset"))
