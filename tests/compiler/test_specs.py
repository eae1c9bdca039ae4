"""Tests for the example specs: each one parses, builds its IR and checks as its header states.

Every spec in specs/ carries a comment line `# check: ...` that states its verdict in words:
"stable" or "unstable", "feature learning", "kernel" or "operator", "muP" or "not muP", and
optionally the exponents of its input, hidden and output weights as `c = (..., ..., ...)`
and `b = (..., ..., ...)`, or one value for every weight (`c = 0`).
"""

from __future__ import annotations

import json
import re
from fractions import Fraction as F
from pathlib import Path

import pytest

from localmup.cli import main
from localmup.compiler.check import check
from localmup.compiler.ir import load_spec
from localmup.compiler.parse import parse

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "specs").glob("*.lmu"))
SPEC_IDS = [path.stem for path in SPECS]

CHECK_LINE = re.compile(r"^#\s*check:\s*(.*)$", re.MULTILINE)
EXPONENT_TUPLE = re.compile(r"\b([bc]) = \(([^)]*)\)")
EXPONENT_SCALAR = re.compile(r"\b([bc]) = (-?\d+(?:/\d+)?)(?![\d/])")


def check_text(path: Path) -> str:
    match = CHECK_LINE.search(path.read_text(encoding="utf-8"))
    assert match, f"{path.name} has no `# check: ...` comment line"
    return match.group(1)


def expected_verdicts(text: str) -> dict:
    """Read the verdicts a `# check:` line states. Words that are absent are not asserted."""
    expected = {}
    if "unstable" in text:
        expected.update(stable=False, regime="unstable", mup=False)
    elif "stable" in text:
        expected["stable"] = True
    for words, regime in (("feature learning", "feature_learning"), ("kernel", "kernel"), ("operator", "operator")):
        if words in text:
            expected["regime"] = regime
    if "not muP" in text:
        expected["mup"] = False
    elif "muP" in text:
        expected["mup"] = True
    return expected


def expected_exponents(text: str) -> dict[str, tuple[F, F, F]]:
    """Read `c = (input, hidden, output)` or `c = V` (every weight) from a `# check:` line."""
    found = {}
    for key, values in EXPONENT_TUPLE.findall(text):
        parts = [F(v.strip()) for v in values.split(",")]
        assert len(parts) == 3, f"`{key} = (...)` needs the input, hidden and output exponents: {text}"
        found[key] = tuple(parts)
    for key, value in EXPONENT_SCALAR.findall(text):
        found.setdefault(key, (F(value),) * 3)
    return found


def test_specs_found():
    assert len(SPECS) >= 10


def test_check_line_reader():
    text = "stable, feature learning, muP with b = (0, 1/2, 1/2), c = (0, 1, 1)."

    assert expected_verdicts(text) == {"stable": True, "regime": "feature_learning", "mup": True}
    assert expected_exponents(text) == {"b": (0, F(1, 2), F(1, 2)), "c": (0, 1, 1)}
    assert expected_exponents("unstable at large width (SGD: c = 0),") == {"c": (0, 0, 0)}
    assert expected_verdicts("unstable at large width") == {"stable": False, "regime": "unstable", "mup": False}


@pytest.mark.parametrize("path", SPECS, ids=SPEC_IDS)
def test_spec_parses(path):
    spec = parse(path.read_text(encoding="utf-8"), str(path))

    assert spec.statements


@pytest.mark.parametrize("path", SPECS, ids=SPEC_IDS)
def test_spec_name_matches_file(path):
    assert load_spec(str(path)).name == path.stem


@pytest.mark.parametrize("path", SPECS, ids=SPEC_IDS)
def test_spec_states_verdict(path):
    expected = expected_verdicts(check_text(path))

    assert "stable" in expected, "the check line must say stable or unstable"


@pytest.mark.parametrize("path", SPECS, ids=SPEC_IDS)
def test_spec_verdicts(path):
    expected = expected_verdicts(check_text(path))
    report = check(load_spec(str(path)))

    for key, value in expected.items():
        assert getattr(report, key) == value, key


@pytest.mark.parametrize("path", SPECS, ids=SPEC_IDS)
def test_spec_exponents(path):
    expected = expected_exponents(check_text(path))
    report = check(load_spec(str(path)))
    weights = [p for p in report.parameters if p.kind == "weight"]
    column = {"input": 0, "hidden": 1, "output": 2}

    for key, values in expected.items():
        for weight in weights:
            actual = getattr(weight, f"{key}_eff")
            assert actual == values[column[weight.role]], f"{weight.name}.{key}"


# Errors of the SP controls: with c = 0, r_hidden = sigma + 0 - 1 = -1, because sigma = 0 after
# step 1 for bp, pc with p = 0 has the backprop errors, and tp's target shift is Theta(1). The
# readout's update term is 1 - u_out = 1, and tp's hidden feedback weights have r_Q = 0 - 1 = -1.
# The input layer has kappa = 0 and stays at r = 0.
SP_ERROR_LAYERS = {
    "bp_mlp_sp": {"h2.weight", "h3.weight", "y.weight"},
    "pc_mlp_sp": {"h2.weight", "h3.weight", "y.weight"},
    "tp_mlp_sp": {"h2.weight", "h3.weight", "y.weight", "h2.feedback", "h3.feedback"},
}


@pytest.mark.parametrize("name, layers", SP_ERROR_LAYERS.items(), ids=SP_ERROR_LAYERS.keys())
def test_sp_errors_name_layers(name, layers):
    report = check(load_spec(str(ROOT / "specs" / f"{name}.lmu")))
    errors = {d.layer for d in report.diagnostics if d.severity == "error"}

    assert errors == layers


# --- command line ---


@pytest.mark.parametrize("path", SPECS, ids=SPEC_IDS)
def test_cli_check_exit_status(path, capsys):
    stable = expected_verdicts(check_text(path))["stable"]

    status = main(["check", str(path)])

    assert status == (0 if stable else 1)
    assert "Traceback" not in capsys.readouterr().err


def test_cli_check_names_sp_layers(capsys):
    status = main(["check", str(ROOT / "specs" / "bp_mlp_sp.lmu")])
    out = capsys.readouterr().out

    assert status == 1
    for layer in ("h2.weight", "h3.weight", "y.weight"):
        assert re.search(rf"error\[C20\d\]: .*`{re.escape(layer)}`", out), layer


def test_cli_check_json(capsys):
    status = main(["check", str(ROOT / "specs" / "bp_mlp_mup.lmu"), "--json"])
    document = json.loads(capsys.readouterr().out)

    assert status == 0
    assert document["spec"] == "bp_mlp_mup"
    assert document["mup"] is True


def test_cli_syntax_error(tmp_path, capsys):
    path = tmp_path / "bad.lmu"
    path.write_text("spec bad\nwidth n = 256 base = 64\n", encoding="utf-8")

    status = main(["check", str(path)])
    err = capsys.readouterr().err

    assert status == 2
    assert re.search(rf"^{re.escape(str(path))}:2:15: error\[E\d+\]", err, re.MULTILINE), err
    assert "    width n = 256 base = 64\n" in err
    assert re.search(r"^ {18}\^", err, re.MULTILINE), err
    assert "Traceback" not in err


def test_cli_invalid_spec(tmp_path, capsys):
    source = (ROOT / "specs" / "bp_mlp_mup.lmu").read_text(encoding="utf-8")
    path = tmp_path / "bad.lmu"
    path.write_text(source.replace("dense(h2, n", "dense(h9, n"), encoding="utf-8")

    status = main(["check", str(path)])
    err = capsys.readouterr().err

    assert status == 2
    assert "error[E201]" in err
    assert "Traceback" not in err


def test_cli_missing_file(tmp_path, capsys):
    status = main(["check", str(tmp_path / "absent.lmu")])
    err = capsys.readouterr().err

    assert status == 2
    assert "error[E100]" in err
    assert "Traceback" not in err
