"""Coordinate check: slope fitting, the judge against predictions, applied scales, and a
planted scaling bug that the check must catch."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from localmup import coordcheck
from localmup.cli import main
from localmup.commands import trainer_module
from localmup.compiler.check import check
from localmup.compiler.codegen import generate
from localmup.compiler.ir import compile_source, load_spec
from localmup.runtime import coord

WIDTHS = (256, 512, 1024, 2048)
SPEC_PATHS = sorted(str(p) for p in (Path(__file__).resolve().parents[1] / "specs").glob("*.lmu"))

MLP = """
spec coordtest
width n = 256, base = 64
graph {
  x = input(64)
  h1 = dense(x, n, act = tanh)
  h2 = dense(h1, n, act = tanh)
  y = dense(h2, 10)
  output y, loss = mse
}
rule bp
param mup
optim sgd { lr = 0.1 }
coord { steps = 2, seeds = 4, batch = 32 }
"""


def test_fit_slope_recovers_power_law():
    widths = np.array(WIDTHS, dtype=float)
    values = np.stack([2.0 * widths**-0.5 * (1 + 0.01 * k) for k in range(4)], axis=1)

    slope = coord.fit_slope(WIDTHS, values)

    assert slope.slope == pytest.approx(-0.5, abs=1e-9)
    assert slope.low <= -0.5 <= slope.high


def test_fit_slope_interval_widens_with_noise():
    rng = np.random.default_rng(0)
    widths = np.array(WIDTHS, dtype=float)
    quiet = np.stack([widths**0.0 * (1 + 0.01 * rng.standard_normal(4)) for _ in range(4)], axis=1)
    noisy = np.stack([widths**0.0 * (1 + 0.3 * rng.standard_normal(4)) for _ in range(4)], axis=1)

    quiet_slope = coord.fit_slope(WIDTHS, np.abs(quiet))
    noisy_slope = coord.fit_slope(WIDTHS, np.abs(noisy))

    assert quiet_slope.high - quiet_slope.low < noisy_slope.high - noisy_slope.low


def test_fit_slope_marks_exact_zero():
    slope = coord.fit_slope(WIDTHS, np.zeros((4, 3)))

    assert slope.zero
    assert slope.slope == -math.inf


def test_mup_mlp_passes_with_predicted_slopes():
    ir = compile_source(MLP, "coordtest.lmu")

    result = coordcheck.run_coord(ir, trainer_module(ir))

    assert result.passed, coordcheck.format_rows(result.rows)
    assert {row.kind for row in result.rows} <= {"exact", "between"}


def test_sp_mlp_fails_naming_blowing_up_layers():
    ir = compile_source(MLP.replace("param mup", "param sp"), "coordtest.lmu")

    result = coordcheck.run_coord(ir, trainer_module(ir))

    assert not result.passed
    assert "h2" in result.blowing_up()
    assert "y" in result.blowing_up()


def test_zero_readout_first_step_exactly_zero():
    ir = compile_source(MLP.replace("param mup", "param mup\nparam y: b = inf"), "coordtest.lmu")

    result = coordcheck.run_coord(ir, trainer_module(ir))
    first_step_hidden = [r for r in result.rows if r.step == 1 and r.node in ("h1", "h2") and r.quantity == "delta"]

    assert first_step_hidden
    assert all(r.kind == "zero" for r in first_step_hidden)
    assert all(r.measured.zero for r in first_step_hidden)
    assert result.passed, coordcheck.format_rows(result.rows)


def _plant(source: str, constant: str, key: str, value: str) -> str:
    """Change one exponent of one Scale constant in generated trainer source."""
    pattern = re.compile(rf"^({constant} = Scale\(.*?\b{key}=)([^,]+)(,.*)$", re.MULTILINE)
    planted, count = pattern.subn(rf"\g<1>{value}\g<3>", source)
    assert count == 1, f"no {key}= in {constant}"
    return planted


@pytest.mark.parametrize(
    ("constant", "key", "value", "node"),
    [
        pytest.param("H2_WEIGHT", "c", "1", "h2", id="hidden_lr_one_power_too_small"),
        pytest.param("H1_WEIGHT", "c", "0", "h1", id="input_lr_missing_width_factor"),
        pytest.param("Y_WEIGHT", "b", "0.5", "y", id="readout_init_standard"),
    ],
)
def test_planted_exponent_bug_is_caught(constant, key, value, node):
    ir = compile_source(MLP, "coordtest.lmu")
    module = trainer_module(ir, _plant(generate(ir), constant, key, value))

    result = coordcheck.run_coord(ir, module)
    wrong = {r.node for r in result.rows if not r.agrees or r.blows_up}
    wrong_scales = {r["name"].split(".")[0] for r in result.scales if not r["agrees"]}

    assert not result.passed
    assert node in wrong
    assert node in wrong_scales


def test_applied_scales_match_checker_for_every_spec():
    for path in SPEC_PATHS:
        ir = load_spec(path)
        module = trainer_module(ir)
        lr = float(ir.coord["lr"])

        rows = coordcheck.scale_rows(check(ir), module, (ir.base, 4 * ir.base), lr)

        assert rows, path
        assert all(r["agrees"] for r in rows), (path, [r for r in rows if not r["agrees"]])


def test_coord_command_writes_json_and_plot(tmp_path, capsys):
    spec = tmp_path / "coordtest.lmu"
    spec.write_text(MLP)
    plot = tmp_path / "coord.png"

    status = main(["coord", str(spec), "--json", "--plot", str(plot)])
    output = capsys.readouterr().out

    assert status == 0
    assert '"passed": true' in output
    assert plot.stat().st_size > 10_000
