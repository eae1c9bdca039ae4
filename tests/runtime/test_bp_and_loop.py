"""Tests for localmup.runtime.bp, the training loop in localmup.runtime.loop, and trainer.run."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.nn import functional as F

from localmup.runtime.data import load_dataset
from localmup.runtime.errors import ConfigurationError, NonFiniteError
from localmup.runtime.loop import first_nonfinite, fit
from localmup.runtime.trainer import RunOptions, Trainer, build_trainer, run

METRIC_KEYS = {"step", "train_loss", "test_loss", "test_accuracy", "seconds"}
NONE_FOUND = "none found (only the loss)"
HUGE_LR = "optim sgd { lr = 1e12 }"


def manual_mlp_loss(network, inputs, labels) -> torch.Tensor:
    """Return the mse loss of the conftest "mlp" graph, written out with W = mult * w."""
    hidden = inputs
    for node in ("h1", "h2", "h3"):
        weight = network.multipliers[f"{node}.weight"] * getattr(network, f"{node}_weight")
        bias = network.multipliers[f"{node}.bias"] * getattr(network, f"{node}_bias")
        hidden = torch.tanh(hidden @ weight.T + bias)
    output = hidden @ (network.multipliers["y.weight"] * network.y_weight).T + network.multipliers["y.bias"] * network.y_bias
    target = F.one_hot(labels, 10).to(output.dtype)
    return 0.5 * ((output - target) ** 2).sum(dim=1).mean()


# --- backprop ---


def test_backprop_matches_manual_autograd(spec_text, build_spec, batch_for, randomize):
    trainer = build_spec(spec_text("bp", param="param mup\nparam h2: mult = 2.0"))
    network = trainer.network
    randomize(network)
    inputs, labels = batch_for(trainer)
    names = network.parameter_names()
    expected_loss = manual_mlp_loss(network, inputs, labels)
    expected = torch.autograd.grad(expected_loss, [network.parameter(name) for name in names])

    loss = trainer.rule.gradients(inputs, labels)

    assert loss.item() == pytest.approx(expected_loss.item(), rel=1e-12)
    for name, gradient in zip(names, expected):
        assert torch.allclose(network.parameter(name).grad, gradient, rtol=1e-10, atol=1e-14), name


def test_backprop_gradients_do_not_accumulate(spec_text, build_spec, batch_for):
    trainer = build_spec(spec_text("bp"))
    inputs, labels = batch_for(trainer)

    trainer.rule.gradients(inputs, labels)
    first = trainer.network.parameter("h2.weight").grad.clone()
    trainer.rule.gradients(inputs, labels)

    assert torch.equal(trainer.network.parameter("h2.weight").grad, first)


# --- fit ---


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0, dtype=torch.float32)


def fit_small(build_spec, source: str, dataset, metrics_path=None, seed: int = 0, steps: int = 10) -> dict:
    trainer = build_spec(source, dtype="float32", seed=seed)
    return fit(trainer, dataset, steps=steps, batch=32, seed=seed, eval_every=4, metrics_path=metrics_path)


def read_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_fit_writes_one_line_per_evaluation(spec_text, build_spec, digits, tmp_path):
    metrics = tmp_path / "metrics.jsonl"

    fit_small(build_spec, spec_text("bp"), digits, metrics)

    records = read_lines(metrics)
    assert [record["step"] for record in records] == [4, 8, 10]
    assert [set(record) for record in records] == [METRIC_KEYS] * 3


def test_fit_metrics_are_finite_numbers(spec_text, build_spec, digits, tmp_path):
    metrics = tmp_path / "metrics.jsonl"

    fit_small(build_spec, spec_text("bp"), digits, metrics)

    for record in read_lines(metrics):
        assert all(math.isfinite(record[key]) for key in METRIC_KEYS), record
        assert 0.0 <= record["test_accuracy"] <= 1.0, record


def test_fit_returns_summary(spec_text, build_spec, digits):
    result = fit_small(build_spec, spec_text("bp"), digits)

    assert set(result) == {"train_loss", "train_accuracy", "test_loss", "test_accuracy", "train_seconds", "diagnostic_seconds"}


def test_fit_records_pc_inference_curvature(spec_text, build_spec, digits, tmp_path):
    metrics = tmp_path / "metrics.jsonl"

    result = fit_small(build_spec, spec_text("pc"), digits, metrics)

    assert result["inference_curvature_start"] > 0
    assert result["inference_curvature_max"] >= result["inference_curvature_start"]
    assert all("inference_curvature" in record for record in read_lines(metrics))


def test_fit_deterministic_for_seed(spec_text, build_spec, digits, tmp_path):
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"

    fit_small(build_spec, spec_text("pc"), digits, first)
    fit_small(build_spec, spec_text("pc"), digits, second)

    def without_seconds(path):
        return [{key: value for key, value in record.items() if key != "seconds"} for record in read_lines(path)]

    assert without_seconds(first) == without_seconds(second)


def test_fit_depends_on_seed(spec_text, build_spec, digits):
    first = fit_small(build_spec, spec_text("bp"), digits, seed=0)
    second = fit_small(build_spec, spec_text("bp"), digits, seed=1)

    assert first["train_loss"] != second["train_loss"]


# --- non-finite losses ---


@pytest.mark.parametrize("rule", ["bp", "pc", "tp"])
def test_huge_lr_raises_nonfinite(rule, spec_text, build_spec, digits):
    with pytest.raises(NonFiniteError) as caught:
        fit_small(build_spec, spec_text(rule, optim=HUGE_LR), digits)

    error = caught.value
    assert 1 <= error.step <= 10
    assert f"at step {error.step}" in str(error)
    assert error.tensor in str(error)


def test_huge_lr_names_gradient(spec_text, build_spec, digits):
    with pytest.raises(NonFiniteError) as caught:
        fit_small(build_spec, spec_text("bp", optim=HUGE_LR), digits)

    assert caught.value.tensor.endswith(" gradient")


def test_nan_step_names_step(spec_text, build_spec, digits, monkeypatch):
    original = Trainer.step
    calls = []

    def step(self, inputs, labels):
        calls.append(1)
        return math.nan if len(calls) == 3 else original(self, inputs, labels)

    monkeypatch.setattr(Trainer, "step", step)

    with pytest.raises(NonFiniteError) as caught:
        fit_small(build_spec, spec_text("bp"), digits)

    assert caught.value.step == 3
    assert caught.value.tensor == NONE_FOUND


def test_nonfinite_loss_skips_update(spec_text, build_spec, batch_for, monkeypatch):
    trainer = build_spec(spec_text("bp"))
    inputs, labels = batch_for(trainer)
    trainer.rule.gradients(inputs, labels)
    before = {name: parameter.detach().clone() for name, parameter in trainer.network.named_parameters()}
    monkeypatch.setattr(trainer.rule, "gradients", lambda inputs, labels: torch.tensor(math.inf))

    loss = trainer.step(inputs, labels)

    assert loss == math.inf
    changed = [name for name, parameter in trainer.network.named_parameters() if not torch.equal(parameter, before[name])]
    assert changed == []


FINITE = torch.ones(3)


@pytest.mark.parametrize(
    "named, expected",
    [
        ([("a", FINITE), ("b", torch.tensor([1.0, math.nan])), ("c", torch.tensor([math.inf]))], "b"),
        ([("a", torch.tensor([-math.inf])), ("b", torch.tensor([math.nan]))], "a"),
        ([("a", None), ("b", FINITE), ("c", torch.tensor([math.inf]))], "c"),
        ([("a", FINITE), ("b", None)], NONE_FOUND),
        ([], NONE_FOUND),
    ],
)
def test_first_nonfinite(named, expected):
    assert first_nonfinite(named) == expected


def test_first_nonfinite_gradient_in_backward_order(spec_text, build_spec, batch_for):
    trainer = build_spec(spec_text("bp"))
    inputs, labels = batch_for(trainer)
    trainer.rule.gradients(inputs, labels)
    network = trainer.network
    network.parameter("h1.weight").grad.fill_(math.nan)
    network.parameter("h3.weight").grad.fill_(math.nan)

    assert first_nonfinite(trainer.named_tensors(inputs)) == "h3.weight gradient"


# --- trainer.run ---


def test_run_writes_completed_summary(spec_text, compile_spec, tmp_path):
    module = compile_spec(spec_text("bp"))

    summary = run(module, RunOptions(out=tmp_path, steps=10, width=32, device="cpu"))

    written = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert written["status"] == "completed"
    assert written["test_accuracy"] == summary["test_accuracy"]
    assert {"train_loss", "test_accuracy", "train_seconds", "total_seconds"} <= set(written)


def test_run_writes_diverged_summary(spec_text, compile_spec, tmp_path):
    module = compile_spec(spec_text("bp", optim=HUGE_LR))

    with pytest.raises(NonFiniteError) as caught:
        run(module, RunOptions(out=tmp_path, steps=10, width=32, device="cpu"))

    written = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert written["status"] == "diverged"
    assert written["diverged_at"] == caught.value.step
    assert written["nonfinite_tensor"] == caught.value.tensor


def test_run_records_pc_curvature(spec_text, compile_spec, tmp_path):
    module = compile_spec(spec_text("pc"))

    summary = run(module, RunOptions(out=tmp_path, steps=5, width=32, device="cpu"))

    assert summary["inference_curvature_start"] > 0
    assert summary["inference_curvature_max"] >= summary["inference_curvature_start"]


def test_build_rejects_indivisible_width(spec_text, compile_spec):
    module = compile_spec(spec_text("bp", width="width n = 48, base = 48").replace("dense(h1, n,", "dense(h1, n/3,"))

    with pytest.raises(ConfigurationError, match="h2"):
        build_trainer(module, 64)
