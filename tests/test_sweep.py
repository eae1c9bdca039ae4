"""Learning-rate sweeps: grids, the result file, resuming, interruption and the summary."""

from __future__ import annotations

import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import attrs
import pytest

from localmup.cli import main
from localmup.compiler import codegen
from localmup.compiler.ir import compile_source
from localmup.runtime import sweep
from localmup.runtime.errors import ConfigurationError
from localmup.sweepcmd import format_summary, parse_learning_rates, run_sweep

SPEC = """
spec sweeptest
width n = 32, base = 32
graph {
  x = input(64)
  h1 = dense(x, n, act = tanh)
  y = dense(h1, 10)
  output y, loss = mse
}
rule bp
param mup
optim sgd { lr = 0.5 }
train { data = digits, batch = 32, seed = 0 }
sweep { widths = [32, 64], lr = 2^[-2..-1], seeds = 2, steps = 5 }
"""


def record(width, lr, seed, loss, diverged=False):
    return {"config": "k", "width": width, "lr": lr, "seed": seed, "train_loss": None if diverged else loss, "diverged": diverged}


# --- learning-rate grids ---


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["2^[-2..1]"], (0.25, 0.5, 1.0, 2.0)),
        (["0.1,0.2"], (0.1, 0.2)),
        (["0.2", "0.1", "0.2"], (0.1, 0.2)),
        (["2^[0..0]"], (1.0,)),
    ],
)
def test_learning_rate_parsing(texts, expected):
    assert parse_learning_rates(texts) == expected


@pytest.mark.parametrize("text", ["2^[3..1]", "abc", "-0.1", "0"])
def test_learning_rate_parsing_rejects(text):
    with pytest.raises(ConfigurationError):
        parse_learning_rates([text])


def test_grid_starts_with_widest_runs():
    tasks = sweep.grid([64, 1024, 256], [0.1, 0.2], 2)

    assert len(tasks) == 12
    assert tasks[0].width == 1024
    assert tasks[-1].width == 64


# --- summary ---


def test_summary_finds_best_lr_and_zero_drift():
    records = [record(w, lr, s, abs(math.log2(lr) + 1) + 0.01 * s) for w in (64, 1024) for lr in (0.25, 0.5, 1.0) for s in range(2)]

    summary = sweep.summarize(records, [64, 1024], [0.25, 0.5, 1.0], 2)

    assert [entry["best_lr"] for entry in summary["widths"]] == [0.5, 0.5]
    assert summary["drift"]["slope"] == pytest.approx(0, abs=1e-12)
    assert summary["drift"]["endpoint_steps"] == 0


def test_summary_measures_drift_in_grid_steps():
    # The best lr halves for every 4x of width: two grid steps over 16x.
    best = {64: 1.0, 256: 0.5, 1024: 0.25}
    records = [record(w, lr, s, abs(math.log2(lr / best[w])) + 0.1) for w in best for lr in (0.25, 0.5, 1.0) for s in range(2)]

    summary = sweep.summarize(records, list(best), [0.25, 0.5, 1.0], 2)

    assert summary["drift"]["slope"] == pytest.approx(-0.5)
    assert summary["drift"]["endpoint_steps"] == pytest.approx(-2)
    assert summary["drift"]["fitted_steps"] == pytest.approx(-2)


def test_summary_excludes_diverged_lrs_and_reports_boundary():
    records = [record(64, 0.25, s, 0.3) for s in range(2)] + [record(64, 0.5, s, 0.1, diverged=(s == 1)) for s in range(2)]

    (entry,) = sweep.summarize(records, [64], [0.25, 0.5], 2)["widths"]

    assert entry["best_lr"] == 0.25
    assert entry["smallest_diverging_lr"] == 0.5
    assert entry["largest_stable_lr"] == 0.25


# --- the result file ---


def test_result_file_cuts_partial_last_line(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"config": "k", "width": 1}\n{"config": "k", "wid')

    results = sweep.ResultFile(path)
    results.close()

    assert path.read_text() == '{"config": "k", "width": 1}\n'


def test_result_file_filters_by_config(tmp_path):
    results = sweep.ResultFile(tmp_path / "results.jsonl")
    results.append({"config": "a", "width": 1})
    results.append({"config": "b", "width": 2})
    results.close()

    assert [r["width"] for r in results.records("b")] == [2]


def test_pending_skips_finished_runs():
    tasks = sweep.grid([32], [0.25, 0.5], 1)
    done = [{"width": 32, "lr": 0.25, "seed": 0}]

    assert sweep.pending(tasks, done) == [sweep.Task(32, 0.5, 0)]


# --- running ---


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def identities(path: Path) -> list[tuple]:
    return sorted((r["width"], r["lr"], r["seed"]) for r in lines_of(path))


def test_sweep_writes_one_line_per_run_and_resumes(tmp_path):
    ir = compile_source(SPEC, "sweeptest.lmu")

    first = run_sweep(ir, out=tmp_path, workers=2)
    second = run_sweep(ir, out=tmp_path, workers=2)

    assert first["runs"] == 8
    assert first["resumed"] == 0
    assert second["resumed"] == 8
    assert len(identities(tmp_path / "results.jsonl")) == 8
    assert len(set(identities(tmp_path / "results.jsonl"))) == 8


def open_files_under(directory: Path) -> list[str]:
    targets = []
    for descriptor in Path("/proc/self/fd").iterdir():
        try:
            targets.append(os.readlink(descriptor))
        except OSError:
            continue
    return [target for target in targets if target.startswith(str(directory))]


def test_sweep_closes_result_file(tmp_path):
    ir = compile_source(SPEC, "sweeptest.lmu")

    run_sweep(ir, out=tmp_path, workers=1, widths=(32,), lrs=(0.5,), seeds=1)

    assert open_files_under(tmp_path) == []


def test_worker_loads_data_once_per_sweep(monkeypatch):
    from localmup.runtime import trainer

    ir = compile_source(SPEC, "sweeptest.lmu")
    config = sweep.SweepConfig(spec=ir.name, source=codegen.generate(ir), steps=2, batch=32, data_seed=0)
    loads = []
    original = trainer.load_data

    def counting_load(*args, **kwargs):
        loads.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(trainer, "load_data", counting_load)
    monkeypatch.setattr(sweep, "_DATASET", {}, raising=False)

    for task in sweep.grid((32,), (0.25, 0.5), 1):
        sweep.run_task(config, task)

    assert len(loads) == 1


def test_repeated_width_runs_once(tmp_path):
    ir = compile_source(SPEC, "sweeptest.lmu")

    summary = run_sweep(ir, out=tmp_path, workers=1, widths=(32, 32), lrs=(0.5,), seeds=1)

    assert len(lines_of(tmp_path / "results.jsonl")) == 1
    assert format_summary(summary).startswith("sweeptest: 1 run (0 already in the result file), 5 steps, 1 seed,")


def test_sweep_records_have_result_fields(tmp_path):
    ir = compile_source(SPEC, "sweeptest.lmu")

    run_sweep(ir, out=tmp_path, workers=1, widths=(32,), lrs=(0.5,), seeds=1)
    (line,) = lines_of(tmp_path / "results.jsonl")

    assert {"width", "lr", "seed", "train_loss", "test_accuracy", "diverged", "seconds"} <= set(line)
    assert line["diverged"] is False
    assert line["train_loss"] > 0


def test_sweep_marks_divergence(tmp_path):
    ir = compile_source(SPEC, "sweeptest.lmu")

    run_sweep(ir, out=tmp_path, workers=1, widths=(32,), lrs=(1e6,), seeds=1)
    (line,) = lines_of(tmp_path / "results.jsonl")

    assert line["diverged"] is True
    assert line["reason"]


def test_sweep_command_prints_summary_and_plot(tmp_path, capsys):
    spec = tmp_path / "sweeptest.lmu"
    spec.write_text(SPEC)
    plot = tmp_path / "sweep.png"

    status = main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--workers", "2", "--plot", str(plot)])
    output = capsys.readouterr().out

    assert status == 0
    assert "drift of log2(best lr)" in output
    assert plot.stat().st_size > 10_000


def start_sweep(spec: Path, out: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "localmup.cli", "sweep", str(spec), "--out", str(out), *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def wait_for_lines(path: Path, count: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        if process.poll() is not None:
            raise AssertionError(f"sweep ended early: {process.stderr.read().decode()}")
        time.sleep(0.2)
    raise AssertionError(f"{path} did not reach {count} lines")


def wait_for_empty_group(group: int, timeout: float = 15) -> list[int]:
    """Wait until no live process is left in a process group; return the ids still alive."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            state, group_id = fields[0], int(fields[2])
            if group_id == group and state != "Z":
                alive.append(int(stat.parent.name))
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


LONGER = SPEC.replace("steps = 5", "steps = 150").replace("seeds = 2", "seeds = 3")


@pytest.mark.parametrize("how", ["kill", "interrupt"])
def test_interrupted_sweep_resumes_to_one_line_per_run(tmp_path, how):
    spec = tmp_path / "sweeptest.lmu"
    spec.write_text(LONGER)
    out = tmp_path / "out"
    results = out / "results.jsonl"

    process = start_sweep(spec, out, "--workers", "2")
    try:
        wait_for_lines(results, 2, process)
        if how == "kill":
            os.kill(process.pid, signal.SIGKILL)
        else:
            os.killpg(process.pid, signal.SIGINT)
        status = process.wait(timeout=60)
        interrupted = identities(results)
        survivors = wait_for_empty_group(process.pid)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    assert status == (-signal.SIGKILL if how == "kill" else 130)
    assert survivors == []
    assert results.read_text().endswith("\n")
    assert 2 <= len(interrupted) < 12
    assert len(set(interrupted)) == len(interrupted)

    finished = subprocess.run([sys.executable, "-m", "localmup.cli", "sweep", str(spec), "--out", str(out), "--workers", "2"], capture_output=True, text=True, timeout=300)

    assert finished.returncode == 0, finished.stderr
    assert len(identities(results)) == 12
    assert len(set(identities(results))) == 12


def test_stop_request_keeps_arrived_results():
    ir = compile_source(SPEC, "sweeptest.lmu")
    config = sweep.SweepConfig(spec=ir.name, source=codegen.generate(ir), steps=5, batch=32, data_seed=0)
    tasks = sweep.grid((32,), (0.25, 0.5, 1.0), 2)
    stop = threading.Event()
    received = []

    def on_record(record):
        received.append(record)
        stop.set()

    with pytest.raises(KeyboardInterrupt):
        sweep.run_local(config, tasks, 1, on_record, stop)

    assert 1 <= len(received) < len(tasks)
    assert all(record["train_loss"] > 0 for record in received)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_ray_backend_writes_the_same_result_file(tmp_path):
    pytest.importorskip("ray")
    ray_command = Path(sys.executable).parent / "ray"
    port = free_port()
    # Ray 2.60 turned on token authentication for a cluster started while ~/.ray/auth_token
    # existed, and a client in this process did not pick up RAY_AUTH_MODE set after Ray was
    # imported. So the cluster and the sweeps run in processes that share a token made here.
    environment = {
        **os.environ,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    start = subprocess.run(
        [str(ray_command), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats"],
        capture_output=True, text=True, env=environment, timeout=180,
    )
    assert start.returncode == 0, start.stderr
    try:
        spec = tmp_path / "sweeptest.lmu"
        spec.write_text(SPEC)
        local_out, ray_out = tmp_path / "local", tmp_path / "ray"

        ray_sweep = [sys.executable, "-m", "localmup.cli", "sweep", str(spec), "--out", str(ray_out), "--backend", "ray", "--address", f"127.0.0.1:{port}"]

        assert main(["sweep", str(spec), "--out", str(local_out), "--workers", "2"]) == 0
        first = subprocess.run(ray_sweep, capture_output=True, text=True, env=environment, timeout=300)
        assert first.returncode == 0, first.stderr[-2000:]
        second = subprocess.run(ray_sweep, capture_output=True, text=True, env=environment, timeout=300)
        assert second.returncode == 0, second.stderr[-2000:]
        assert "8 already in the result file" in second.stdout
    finally:
        subprocess.run([str(ray_command), "stop", "--force"], capture_output=True, env=environment, timeout=120)

    local = {(r["width"], r["lr"], r["seed"]): r["train_loss"] for r in lines_of(local_out / "results.jsonl")}
    remote = {(r["width"], r["lr"], r["seed"]): r["train_loss"] for r in lines_of(ray_out / "results.jsonl")}
    assert len(lines_of(ray_out / "results.jsonl")) == 8
    assert remote.keys() == local.keys()
    assert all(remote[key] == pytest.approx(local[key], rel=1e-5) for key in local)


def test_config_key_ignores_comments_and_docstrings():
    base = sweep.SweepConfig(spec="s", source='"""Doc."""\nX = 1  # one\n', steps=5, batch=4, data_seed=0)
    reworded = attrs.evolve(base, source='"""Other doc."""\n\n# a comment\nX = 1\n')
    changed = attrs.evolve(base, source='"""Doc."""\nX = 2\n')

    assert base.key == reworded.key
    assert base.key != changed.key
