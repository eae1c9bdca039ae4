"""Tests for the generated trainer modules: golden files, imports, constants, identifiers, scales.

Golden files: tests/compiler/golden/<spec>.py is the module generated from specs/<spec>.lmu,
read with the relative path "specs/<spec>.lmu" from the repository root so that the module's
SPEC_PATH line does not depend on the checkout. After an intended change to the generator,
regenerate them and review the diff:

    LOCALMUP_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/compiler/test_codegen.py
"""

from __future__ import annotations

import ast
import difflib
import json
import keyword
import math
import os
import subprocess
import sys
from fractions import Fraction as F
from pathlib import Path

import pytest
import torch

from localmup.commands import trainer_module
from localmup.compiler.check import check
from localmup.compiler.codegen import generate
from localmup.compiler.ir import compile_source, load_spec

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
SPEC_NAMES = sorted(path.stem for path in (ROOT / "specs").glob("*.lmu"))
UPDATE = os.environ.get("LOCALMUP_UPDATE_GOLDEN") == "1"

ALLOWED_IMPORTS = {"torch", "numpy", "localmup.runtime"}


def relative_spec(name: str) -> str:
    return f"specs/{name}.lmu"


@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def generated(name: str) -> str:
    """Return the module generated from specs/NAME.lmu, read relative to the working directory."""
    return generate(load_spec(relative_spec(name)))


# --- golden files ---


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_golden_module(name, at_root):
    source = generated(name)
    golden = GOLDEN / f"{name}.py"

    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(source, encoding="utf-8")
    assert golden.is_file(), f"golden file {golden} not found: run with LOCALMUP_UPDATE_GOLDEN=1 to create it"
    expected = golden.read_text(encoding="utf-8")
    diff = "".join(difflib.unified_diff(expected.splitlines(True), source.splitlines(True), str(golden), "generated"))
    assert source == expected, f"generated module differs from its golden file:\n{diff}"


def test_golden_files_match_specs():
    """Every golden file belongs to a spec, so a renamed spec leaves no stale file behind."""
    assert sorted(path.stem for path in GOLDEN.glob("*.py")) == SPEC_NAMES


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_generation_deterministic(name, at_root):
    assert generated(name) == generated(name)


def test_generation_hash_seed_independent(at_root):
    """Generated text does not depend on set or dict order under string-hash randomization."""
    script = (
        "import json, sys\n"
        "from localmup.compiler.codegen import generate\n"
        "from localmup.compiler.ir import load_spec\n"
        "print(json.dumps({n: generate(load_spec(f'specs/{n}.lmu')) for n in sys.argv[1:]}))\n"
    )
    in_process = {name: generated(name) for name in SPEC_NAMES}

    for seed in ("1", "2"):
        environment = dict(os.environ, PYTHONHASHSEED=seed)
        completed = subprocess.run(
            [sys.executable, "-c", script, *SPEC_NAMES],
            cwd=ROOT, env=environment, capture_output=True, text=True, check=True, timeout=120,
        )
        assert json.loads(completed.stdout) == in_process, f"PYTHONHASHSEED={seed}"


# --- module structure ---


def imported_modules(tree: ast.Module) -> set[str]:
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.add("." * node.level + (node.module or ""))
    return modules


def scale_constants(tree: ast.Module) -> dict[str, ast.Call]:
    """Return the module-level assignments `NAME = Scale(...)`."""
    constants = {}
    for statement in tree.body:
        if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
            continue
        target, value = statement.targets[0], statement.value
        if isinstance(target, ast.Name) and isinstance(value, ast.Call) and getattr(value.func, "id", None) == "Scale":
            constants[target.id] = value
    return constants


def scales_table(tree: ast.Module) -> dict[str, str]:
    """Return the SCALES literal as parameter name -> constant name."""
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and getattr(statement.targets[0], "id", None) == "SCALES":
            return {key.value: value.id for key, value in zip(statement.value.keys, statement.value.values)}
    raise AssertionError("the module defines no SCALES table")


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_module_compiles(name, at_root):
    compile(generated(name), f"{name}.py", "exec")


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_module_imports(name, at_root):
    tree = ast.parse(generated(name))

    assert imported_modules(tree) <= ALLOWED_IMPORTS


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_scale_constant_per_parameter(name, at_root):
    ir = load_spec(relative_spec(name))
    tree = ast.parse(generate(ir))
    constants = scale_constants(tree)
    table = scales_table(tree)
    names = [p.name for p in check(ir).parameters]

    assert sorted(table) == sorted(names)
    assert len(set(table.values())) == len(table)
    for parameter, constant in table.items():
        assert constant in constants, parameter


def exponent_value(value) -> float:
    return math.inf if value == math.inf else float(value)


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_scale_exponents_match_checker(name, at_root):
    ir = load_spec(relative_spec(name))
    module = trainer_module(ir)

    for parameter in check(ir).parameters:
        scale = module.SCALES[parameter.name]
        assert scale.a == pytest.approx(exponent_value(parameter.a_eff)), parameter.name
        assert scale.b == pytest.approx(exponent_value(parameter.b_eff)), parameter.name
        assert scale.c == pytest.approx(exponent_value(parameter.c_eff)), parameter.name


# --- identifiers from arbitrary node names ---

# Node names that collide after upper-casing, Python keywords and constants, dunder-like names
# and names of builtins, modules and locals of the generated code. `x` is a dense node here,
# and the input is `inp`.
ODD_NAMES = ["h1", "H1", "lambda", "class", "def", "__x", "__init__", "sum", "self", "torch", "x", "m", "u",
             "None", "Network", "SCALES"]


def odd_spec(rule: str) -> str:
    lines = ["spec odd", "width n = 128, base = 64", "graph {", "  inp = input(16)"]
    previous = "inp"
    for index, name in enumerate(ODD_NAMES):
        activation = ("tanh", "relu", "identity")[index % 3]
        lines.append(f"  {name} = dense({previous}, n, act = {activation})")
        previous = name
    lines += [f"  pass = add({previous}, sum)", "  y = dense(pass, 3)", "  output y, loss = mse", "}", rule]
    lines.append("param mup")
    if rule.startswith("rule tp"):
        lines.append("inverse mup")
    lines += ["param __x: c = 1/3", "param class.bias: std = 0.5", "optim sgd { lr = 0.1 }"]
    return "\n".join(lines) + "\n"


ODD_RULES = {
    "bp": "rule bp",
    "pc": "rule pc { steps = 3 }",
    "tp": "rule tp { variant = dtp }",
}


@pytest.fixture(params=ODD_RULES.values(), ids=ODD_RULES.keys())
def odd_ir(request):
    return compile_source(odd_spec(request.param), "odd.lmu")


def test_odd_names_compile(odd_ir):
    compile(generate(odd_ir), "odd.py", "exec")


def test_odd_names_unique_constants(odd_ir):
    table = scales_table(ast.parse(generate(odd_ir)))
    constants = list(table.values())

    assert len(set(constants)) == len(constants)
    for constant in constants:
        assert constant.isidentifier(), constant
        assert not keyword.iskeyword(constant), constant


def test_odd_names_distinct_parameters(odd_ir):
    network = trainer_module(odd_ir).Network(128)
    names = [p.name for p in check(odd_ir).parameters]

    assert len({id(network.parameter(name)) for name in names}) == len(names)
    assert len(list(network.parameters())) == len(names)


def test_odd_names_forward(odd_ir):
    module = trainer_module(odd_ir)
    network = module.Network(128, generator=torch.Generator().manual_seed(0))

    values = network(torch.randn(5, 16))

    assert set(values) == {*ODD_NAMES, "pass", "y"}
    assert values["y"].shape == (5, 3)
    assert all(torch.isfinite(v).all() for v in values.values())


def test_odd_names_scales(odd_ir):
    # `__x` has c = 1/3 (a non-decimal fraction) and `class.bias` an explicit std.
    module = trainer_module(odd_ir)

    assert module.SCALES["__x.weight"].c == pytest.approx(1 / 3)
    assert module.SCALES["class.bias"].std == 0.5
    assert module.SCALES["class.bias"].b == 0


# --- effective init std, multiplier and learning rate ---

ETA = 0.3
WIDTHS = (64, 256)


def measured_std(tensor: torch.Tensor) -> float:
    return tensor.detach().double().pow(2).mean().sqrt().item()


def assert_effective_scales(ir, width: int) -> None:
    """Check W = mult m^-a w, std(w) = std m^-b and lr = eta lr m^-c for every parameter."""
    module = trainer_module(ir)
    network = module.Network(width, generator=torch.Generator().manual_seed(0))
    m = width / ir.base
    groups = {g["name"]: g for g in module.parameter_groups(network, ETA) + module.feedback_groups(network, ETA)}

    for parameter in check(ir).parameters:
        tensor = network.parameter(parameter.name)
        if parameter.zero_init:
            assert not tensor.detach().any(), parameter.name
        else:
            expected = float(parameter.std.value) * m ** -float(parameter.b_eff)
            # The sample std of N draws has a relative spread of about 1/sqrt(2N): allow 5 of them.
            tolerance = 5 / math.sqrt(2 * tensor.numel())
            assert measured_std(tensor) == pytest.approx(expected, rel=tolerance), parameter.name
        multiplier = float(parameter.mult.value) * m ** -float(parameter.a_eff)
        assert network.multipliers[parameter.name] == pytest.approx(multiplier, rel=1e-12), parameter.name
        learning_rate = ETA * float(parameter.lr.value) * m ** -float(parameter.c_eff)
        assert groups[parameter.name]["lr"] == pytest.approx(learning_rate, rel=1e-12), parameter.name
        assert groups[parameter.name]["params"] == [tensor], parameter.name


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", SPEC_NAMES)
def test_effective_scales(name, width, at_root):
    assert_effective_scales(load_spec(relative_spec(name)), width)


SCALED_SPEC = """\
spec scaled
width n = 256, base = 64
graph {
  x  = input(16)
  h1 = dense(x, n, act = tanh)
  h2 = dense(h1, n, act = tanh)
  y  = dense(h2, 4)
  output y, loss = mse
}
rule bp
param mup
param h2: a = 0, b = 1/2, c = 0, std = 0.1 * n^-1, mult = 2.0, lr = 3.0 * n^1
param y: mult = 0.5 * n^(-1/2)
optim sgd { lr = 0.5 }
"""


def test_scaled_constants_by_hand():
    # At m = 256 / 64 = 4: h2's std is 0.1 * 4^(-1/2 - 1) = 0.0125, its multiplier 2.0 and its
    # learning rate 0.3 * 3.0 * 4^-(0 - 1) = 3.6. y's multiplier is 0.5 * 4^(-1/2) = 0.25.
    ir = compile_source(SCALED_SPEC, "scaled.lmu")
    module = trainer_module(ir)
    network = module.Network(256, generator=torch.Generator().manual_seed(0))
    groups = {g["name"]: g["lr"] for g in module.parameter_groups(network, ETA)}

    assert measured_std(network.parameter("h2.weight")) == pytest.approx(0.0125, rel=0.02)
    assert network.multipliers["h2.weight"] == pytest.approx(2.0)
    assert groups["h2.weight"] == pytest.approx(3.6)
    assert network.multipliers["y.weight"] == pytest.approx(0.25)


@pytest.mark.parametrize("width", WIDTHS)
def test_scaled_constants_formulas(width):
    assert_effective_scales(compile_source(SCALED_SPEC, "scaled.lmu"), width)


# --- the generated module's command line ---


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--steps", "0"], "expected a positive integer"),
        (["--epochs", "0"], "expected a positive integer"),
        (["--width", "0"], "expected a positive integer"),
        (["--batch", "-3"], "expected a positive integer"),
        (["--lr", "0"], "expected a learning rate between"),
        (["--steps", "5", "--epochs", "1"], "not both"),
        (["--out", ""], "the path is empty"),
    ],
    ids=["steps_zero", "epochs_zero", "width_zero", "batch_negative", "lr_zero", "steps_and_epochs", "out_empty"],
)
def test_generated_main_rejects_bad_flags(flags, message, at_root, capsys):
    from localmup.runtime import trainer

    module = trainer_module(load_spec(relative_spec("bp_mlp_mup")))

    with pytest.raises(SystemExit) as caught:
        trainer.main(module, flags)

    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_generated_main_reports_out_of_memory(at_root, capsys):
    from localmup.runtime import trainer

    module = trainer_module(load_spec(relative_spec("bp_mlp_mup")))

    status = trainer.main(module, ["--width", "99999999999", "--steps", "1"])

    assert status == 3
    assert "out of memory" in capsys.readouterr().err
