"""Tests for the `localmup` command line: exit statuses, messages and the files each command writes.

Most tests call `localmup.cli.main` in this process and read its output with capsys. One test
runs the installed console script, so that an exit status also passes through a real process.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest
import torch

from localmup import cli

LAYER_KEYS = {"name", "role", "a", "b", "c", "r"}
DIAGNOSTIC_KEYS = {"code", "severity", "layer", "message"}
REPORT_KEYS = {"spec", "rule", "optimizer", "stable", "nontrivial", "regime", "mup", "layers", "diagnostics"}
FRACTION = re.compile(r"^(-?\d+(/\d+)?|inf)$")

# Expected `check` status of every example spec: 0 stable and nontrivial, 1 not.
CHECK_STATUS = {
    "bp_mlp_mup": 0,
    "bp_mlp_mup_adam": 0,
    "bp_resmlp_adam": 0,
    "pc_mlp_mup": 0,
    "pc_mlp_gn": 0,
    "tp_mlp_mup": 0,
    "tp_mlp_design": 0,
    "bp_mlp_sp": 1,
    "pc_mlp_sp": 1,
    "tp_mlp_sp": 1,
}

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


class Result(NamedTuple):
    status: int
    stdout: str
    stderr: str


@pytest.fixture
def invoke(capsys):
    """Return a function that runs `localmup ARGS` in this process and returns its Result."""

    def run(*args) -> Result:
        status = cli.main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return Result(status, captured.out, captured.err)

    return run


@pytest.fixture
def write_spec(tmp_path, spec_text):
    """Return a function that writes spec text (default: a bp spec on digits) to a file."""

    def write(text: str | None = None, name: str = "net.lmu") -> Path:
        path = tmp_path / name
        path.write_text(text if text is not None else spec_text("bp"), encoding="utf-8")
        return path

    return write


def example(repository: Path, name: str) -> Path:
    return repository / "specs" / f"{name}.lmu"


def position(text: str, needle: str) -> tuple[int, int]:
    """Return the 1-based line and column of the one occurrence of `needle` in `text`."""
    assert text.count(needle) == 1
    before = text[: text.index(needle)]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


# --- check ---


@pytest.mark.parametrize("name, expected", sorted(CHECK_STATUS.items()))
def test_check_status(name, expected, invoke, repository):
    result = invoke("check", example(repository, name))

    assert result.status == expected


def test_check_prints_verdict(invoke, repository):
    result = invoke("check", example(repository, "bp_mlp_mup"))

    assert "verdict: stable, nontrivial, regime feature_learning, muP" in result.stdout


@pytest.mark.parametrize("command", [["check"], ["compile"], ["graph"], ["train", "--steps", "1"]])
def test_invalid_spec_points_at_error(command, invoke, write_spec, spec_text):
    text = spec_text("bp").replace("dense(h3, 10)", "dense(h4, 10)")
    path = write_spec(text, name="bad.lmu")
    line, column = position(text, "h4")

    result = invoke(command[0], path, *command[1:])

    lines = result.stderr.splitlines()
    assert result.status == 2
    assert lines[0].startswith(f"{path}:{line}:{column}: error[E201]: unknown node `h4`")
    assert lines[1].strip() == "y  = dense(h4, 10)"
    assert lines[2].index("^") == lines[1].index("h4")
    assert "Traceback" not in result.stderr


def test_check_missing_file(invoke, tmp_path):
    missing = tmp_path / "absent.lmu"

    result = invoke("check", missing)

    assert result.status == 2
    assert f"{missing}: error[E100]: cannot read the spec: file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_directory_and_binary_files(invoke, tmp_path):
    binary = tmp_path / "binary.lmu"
    binary.write_bytes(b"spec t\n\xff\xfe\x00")

    folder = invoke("check", tmp_path)
    undecodable = invoke("check", binary)

    assert folder.status == 2
    assert "it is a directory" in folder.stderr
    assert undecodable.status == 2
    assert "not UTF-8 text" in undecodable.stderr
    assert "Traceback" not in folder.stderr + undecodable.stderr


@pytest.mark.parametrize("args", [["check"], ["frobnicate", "x.lmu"], ["graph", "x.lmu", "--format", "svg"], ["check", "x.lmu", "--width", "0"]])
def test_usage_error_exits_2(args, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(args)

    assert caught.value.code == 2
    assert "usage: localmup" in capsys.readouterr().err


FILE_IN_THE_WAY = "afile"

BAD_OUTPUT_ARGS = {
    "out_below_file": (["train", "specs/bp_mlp_mup.lmu", "--out", "{tmp}/afile/sub"], "no directory can be made below it"),
    "out_empty": (["train", "specs/bp_mlp_mup.lmu", "--out", ""], "the path is empty"),
    "output_is_directory": (["compile", "specs/bp_mlp_mup.lmu", "-o", "{tmp}"], "it is a directory"),
    "plot_is_directory": (["coord", "specs/bp_mlp_mup.lmu", "--plot", "{tmp}/plots.png"], "it is a directory"),
    "sweep_out_below_file": (["sweep", "specs/bp_mlp_mup.lmu", "--out", "{tmp}/afile/sub"], "no directory can be made"),
    "seed_negative": (["train", "specs/bp_mlp_mup.lmu", "--seed", "-1"], "expected a seed from 0"),
    "lr_too_large": (["train", "specs/bp_mlp_mup.lmu", "--lr", "1e300"], "between 1e-30 and 1e30"),
    "address_without_ray": (["sweep", "specs/bp_mlp_mup.lmu", "--address", "127.0.0.1:6379"], "only to --backend ray"),
    "workers_with_ray": (["sweep", "specs/bp_mlp_mup.lmu", "--backend", "ray", "--workers", "2"], "applies to the local backend"),
    "output_trailing_slash": (["compile", "specs/bp_mlp_mup.lmu", "-o", "{tmp}/afile/"], "ends with a slash"),
    "output_below_file": (["compile", "specs/bp_mlp_mup.lmu", "-o", "{tmp}/afile/x.py"], "is a file, not a directory"),
    "threads_too_many": (["train", "specs/bp_mlp_mup.lmu", "--threads", "100000"], "threads (4 per core)"),
}


@pytest.mark.parametrize("name", sorted(BAD_OUTPUT_ARGS))
def test_bad_paths_and_values_exit_2(name, tmp_path, capsys, repository, monkeypatch):
    monkeypatch.chdir(repository)
    (tmp_path / FILE_IN_THE_WAY).write_text("")
    (tmp_path / "plots.png").mkdir()
    args, message = BAD_OUTPUT_ARGS[name]

    with pytest.raises(SystemExit) as caught:
        cli.main([arg.format(tmp=tmp_path) for arg in args])
    stderr = capsys.readouterr().err

    assert caught.value.code == 2
    assert message in stderr
    assert "Traceback" not in stderr


def test_width_size_limit(invoke, repository):
    spec = repository / "specs" / "bp_mlp_mup.lmu"

    override = invoke("check", spec, "--width", "3000000000")
    grid = invoke("coord", spec, "--widths", "256", "3000000000")

    assert override.status == 2
    assert "error[E111]: this size is 3000000000 at width 3000000000, above the limit 2147483647" in override.stderr
    assert grid.status == 2
    assert "error[E111]: width 3000000000 gives node `h1` the size 3000000000, above the limit 2147483647" in grid.stderr


def test_train_threads_option(invoke, repository, tmp_path):
    result = invoke("train", repository / "specs" / "bp_mlp_mup.lmu", "--steps", "2", "--threads", "2", "--out", tmp_path / "run")

    assert result.status == 0
    assert torch.get_num_threads() == 2


def test_sweep_lr_range_overflow_exits_2(invoke, repository, tmp_path, monkeypatch):
    monkeypatch.chdir(repository)

    result = invoke("sweep", "specs/bp_mlp_mup.lmu", "--lr", "2^[1000..1001]", "--out", tmp_path / "out")

    assert result.status == 2
    assert "outside -99..99" in result.stderr


def test_check_json_keys(invoke, repository):
    result = invoke("check", example(repository, "bp_mlp_sp"), "--json")

    document = json.loads(result.stdout)
    assert REPORT_KEYS <= set(document)
    assert [LAYER_KEYS - set(layer) for layer in document["layers"]] == [set()] * len(document["layers"])
    assert document["diagnostics"] != []
    assert [DIAGNOSTIC_KEYS - set(item) for item in document["diagnostics"]] == [set()] * len(document["diagnostics"])


def test_check_json_verdicts(invoke, repository):
    result = invoke("check", example(repository, "bp_mlp_sp"), "--json")

    document = json.loads(result.stdout)
    assert document["spec"] == "bp_mlp_sp"
    assert document["rule"] == "bp"
    assert document["optimizer"] == "sgd"
    assert document["stable"] is False
    assert document["regime"] == "unstable"
    assert document["mup"] is False


def test_check_json_exponents_are_fractions(invoke, repository):
    result = invoke("check", example(repository, "bp_mlp_mup"), "--json")

    layers = json.loads(result.stdout)["layers"]
    exponents = [layer[key] for layer in layers for key in ("a", "b", "c", "r")]
    assert [value for value in exponents if not FRACTION.match(value)] == []
    assert {layer["name"]: layer["b"] for layer in layers}["h2.weight"] == "1/2"


def test_check_width_override(invoke, repository):
    result = invoke("check", example(repository, "bp_mlp_mup"), "--json", "--width", "1024")

    assert json.loads(result.stdout)["width"] == 1024


def test_indivisible_width_names_node(invoke, write_spec, spec_text):
    text = spec_text("bp", width="width n = 96, base = 48").replace("h2 = dense(h1, n,", "h2 = dense(h1, n/3,")
    path = write_spec(text)

    result = invoke("check", path, "--width", "256")

    assert result.status == 2
    assert "error[E111]" in result.stderr
    assert "`h2`" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["coord", "sweep"])
def test_indivisible_grid_width_points_at_node(command, invoke, write_spec, spec_text, tmp_path):
    text = spec_text("bp", width="width n = 96, base = 48").replace("h2 = dense(h1, n,", "h2 = dense(h1, n/3,")
    path = write_spec(text)

    extra = ["--out", tmp_path / "out"] if command == "sweep" else []

    result = invoke(command, path, "--widths", "96", "128", *extra)

    assert result.status == 2
    assert re.search(r":\d+:\d+: error\[E111\]: width 128 gives node `h2`", result.stderr)
    assert "width 96" not in result.stderr


# --- compile and graph ---


def test_compile_to_stdout(invoke, repository):
    result = invoke("compile", example(repository, "bp_mlp_mup"))

    assert result.status == 0
    assert result.stdout.startswith('"""Trainer for `bp_mlp_mup`')
    compile(result.stdout, "trainer.py", "exec")


def test_compile_to_file(invoke, repository, tmp_path):
    output = tmp_path / "trainer.py"

    result = invoke("compile", example(repository, "bp_mlp_mup"), "-o", output)

    assert result.status == 0
    assert result.stdout == ""
    assert output.read_text(encoding="utf-8") == invoke("compile", example(repository, "bp_mlp_mup")).stdout


def test_graph_dot(invoke, repository):
    result = invoke("graph", example(repository, "bp_resmlp_adam"), "--format", "dot")

    assert result.status == 0
    assert result.stdout.startswith('digraph "bp_resmlp_adam" {')
    assert '"h1" -> "h2";' in result.stdout
    assert '"f1" -> "h2";' in result.stdout


def test_graph_json(invoke, repository):
    result = invoke("graph", example(repository, "bp_resmlp_adam"), "--format", "json")

    document = json.loads(result.stdout)
    assert [node["id"] for node in document["nodes"]] == ["x", "h1", "f1", "h2", "y"]
    assert {(edge["source"], edge["target"]) for edge in document["edges"]} == {
        ("x", "h1"),
        ("h1", "f1"),
        ("h1", "h2"),
        ("f1", "h2"),
        ("h2", "y"),
    }


# --- train ---


def test_train_writes_results(invoke, write_spec, tmp_path):
    out = tmp_path / "run"

    result = invoke("train", write_spec(), "--out", out, "--steps", "10", "--width", "32")

    assert result.status == 0
    assert sorted(path.name for path in out.iterdir()) == ["metrics.jsonl", "spec.lmu", "summary.json", "trainer.py"]
    assert "test accuracy" in result.stdout


def test_train_summary_records_run(invoke, write_spec, tmp_path):
    out = tmp_path / "run"

    invoke("train", write_spec(), "--out", out, "--steps", "10", "--width", "48")

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "completed"
    assert summary["width"] == 48
    assert summary["steps"] == 10


def test_train_missing_data(invoke, write_spec, spec_text, tmp_path, monkeypatch):
    text = spec_text("bp").replace("input(64)", "input(784)").replace("data = digits", 'data = fashion_mnist("nowhere")')
    path = write_spec(text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    result = invoke("train", path, "--out", tmp_path / "run", "--steps", "1")

    assert result.status == 3
    assert [name for name in IDX_FILES if name not in result.stderr] == []
    assert str(Path("nowhere")) in result.stderr
    assert str(tmp_path / "nowhere") in result.stderr
    assert "Traceback" not in result.stderr


def test_train_input_size_mismatch(invoke, write_spec, spec_text, tmp_path):
    path = write_spec(spec_text("bp").replace("input(64)", "input(10)"))

    result = invoke("train", path, "--out", tmp_path / "run", "--steps", "1")

    assert result.status == 2
    assert "input `x` has size 10" in result.stderr
    assert "x = input(64)" in result.stderr
    assert "Traceback" not in result.stderr


def test_train_nonfinite_loss(invoke, write_spec, spec_text, tmp_path):
    path = write_spec(spec_text("bp", optim="optim sgd { lr = 1e12 }"))
    out = tmp_path / "run"

    result = invoke("train", path, "--out", out, "--steps", "20")

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert result.status == 3
    assert f"at step {summary['diverged_at']};" in result.stderr
    assert f"first non-finite tensor: {summary['nonfinite_tensor']}" in result.stderr
    assert "Traceback" not in result.stderr


def test_console_script_exit_status(console_script, write_spec, spec_text):
    path = write_spec(spec_text("bp").replace("dense(h3, 10)", "dense(h4, 10)"))

    completed = subprocess.run([str(console_script), "check", str(path)], capture_output=True, text=True, timeout=120)

    assert completed.returncode == 2
    assert "error[E201]" in completed.stderr
    assert "Traceback" not in completed.stderr
