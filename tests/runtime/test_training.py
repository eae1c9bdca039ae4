"""Training smoke tests on digits, the accuracy targets of the example specs, and the
generated trainer run as a standalone script."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from localmup import cli
from localmup.runtime.loop import fit
from localmup.runtime.trainer import build_trainer, load_data

OPTIMIZERS = {"sgd": "optim sgd { lr = 0.5 }", "adam": "optim adam { lr = 0.01 }"}

# Test accuracy each example spec must reach on digits at width 256 with its own settings.
ACCURACY_TARGETS = {"bp_mlp_mup": 0.90, "pc_mlp_mup": 0.90, "tp_mlp_mup": 0.85}


@pytest.mark.parametrize("rule", ["bp", "pc", "tp"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("graph", ["mlp", "residual"])
def test_short_training_lowers_loss(rule, optimizer, graph, spec_text, compile_spec):
    module = compile_spec(spec_text(rule, graph=graph, optim=OPTIMIZERS[optimizer]))
    dataset = load_data(module, seed=0, dtype=torch.float32)
    trainer = build_trainer(module, 32, seed=0, device="cpu", dtype="float32")
    initial_loss, _ = trainer.evaluate(dataset.train_x, dataset.train_y)

    result = fit(trainer, dataset, steps=20, batch=64, seed=0, eval_every=20)

    assert result["train_loss"] < initial_loss


@pytest.mark.slow
@pytest.mark.parametrize("spec", sorted(ACCURACY_TARGETS))
def test_example_reaches_accuracy(spec, repository, tmp_path, record_property):
    status = cli.main(["train", str(repository / "specs" / f"{spec}.lmu"), "--width", "256", "--out", str(tmp_path)])

    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    record_property("train_seconds", summary["train_seconds"])
    record_property("total_seconds", summary["total_seconds"])
    print(f"{spec}: test accuracy {summary['test_accuracy']:.4f}, {summary['total_seconds']:.1f} s in total")
    assert status == 0
    assert summary["test_accuracy"] >= ACCURACY_TARGETS[spec]


def single_thread_environment() -> dict[str, str]:
    """Return the environment with one OpenMP thread, since each run is a few small steps."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture
def standalone_trainer(repository, tmp_path):
    trainer = tmp_path / "tmp" / "trainer.py"
    trainer.parent.mkdir()
    assert cli.main(["compile", str(repository / "specs" / "bp_mlp_mup.lmu"), "-o", str(trainer)]) == 0
    return trainer


def test_standalone_trainer_runs(standalone_trainer, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, str(standalone_trainer), "--width", "64", "--steps", "5", "--device", "cpu", "--out", str(out)]

    completed = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=single_thread_environment(), timeout=120)

    assert completed.returncode == 0, completed.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["width"] == 64
    assert summary["steps"] == 5


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_standalone_trainer_rejects_cuda(standalone_trainer, tmp_path):
    command = [sys.executable, str(standalone_trainer), "--steps", "1", "--device", "cuda", "--out", str(tmp_path / "out")]

    completed = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=single_thread_environment(), timeout=120)

    assert completed.returncode == 2
    assert "cuda" in completed.stderr
    assert "Traceback" not in completed.stderr
