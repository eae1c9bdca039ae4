"""Learning-rate sweeps across widths: tasks, the result file, and parallel execution.

A sweep trains one run per (width, learning rate, seed). Each finished run becomes one JSON
line in the result file, written by the coordinating process alone with a single
`os.write` on a file opened for appending, then fsync-ed: a kill leaves whole lines only.
Every line carries the sweep's `config` key, a hash of the trainer source and the run
settings. Rerunning the same sweep skips the runs whose lines are already there. A trailing
line without its newline, left by a crash inside the write, is cut off before resuming.

Runs execute in worker processes (a spawn-started process pool, one torch thread per worker
by default) or on a Ray cluster; both return records to the coordinating process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import time
import types
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import attrs

logger = logging.getLogger(__name__)

# A run has diverged when its loss is not finite or exceeds this many times its initial loss.
DIVERGENCE_FACTOR = 10.0


@attrs.frozen
class SweepConfig:
    """Everything a worker needs to run any task of one sweep, picklable."""

    spec: str
    source: str  # the generated trainer module
    steps: int
    batch: int
    data_seed: int
    dtype: str = "float32"
    threads: int = 1

    @property
    def key(self) -> str:
        """Hash of what decides a run's result: the trainer's code (its syntax tree, so that
        comments and layout do not count) and the run settings."""
        digest = hashlib.sha256()
        for part in (_code_fingerprint(self.source), str(self.steps), str(self.batch), str(self.data_seed), self.dtype):
            digest.update(part.encode("utf-8"))
            digest.update(b"\0")
        return digest.hexdigest()[:16]


def _code_fingerprint(source: str) -> str:
    """Return the syntax tree of Python source without its docstrings, as text."""
    import ast

    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


@attrs.frozen(order=True)
class Task:
    """One run of a sweep."""

    width: int
    lr: float
    seed: int

    def identity(self) -> tuple[int, float, int]:
        return (self.width, _canonical_lr(self.lr), self.seed)


def _canonical_lr(lr: float) -> float:
    # Learning rates written as 2^k or read back from JSON compare equal after this.
    return float(f"{lr:.12g}")


def grid(widths: Iterable[int], lrs: Iterable[float], seeds: int) -> list[Task]:
    """Return every task, the widest first, so the longest runs start early."""
    tasks = [Task(w, float(lr), s) for w in widths for lr in lrs for s in range(seeds)]
    return sorted(tasks, key=lambda t: (-t.width, t.lr, t.seed))


# --- running one task ---------------------------------------------------------------------

_MODULES: dict[str, types.ModuleType] = {}


def _module(config: SweepConfig) -> types.ModuleType:
    """Compile the trainer source once per process."""
    key = config.key
    if key not in _MODULES:
        module = types.ModuleType(f"localmup_sweep_{config.spec}")
        exec(compile(config.source, f"<localmup trainer {config.spec}>", "exec"), module.__dict__)
        _MODULES[key] = module
    return _MODULES[key]


# Data of the sweep this process last ran. Every run of a sweep trains on the same split,
# and reading a file dataset such as MNIST can take seconds, so each process loads it once.
# Keeping one entry bounds the memory.
_DATASET: dict[str, object] = {}


def _dataset(config: SweepConfig, module: types.ModuleType):
    """Load and standardize the sweep's data once per process; training only reads it."""
    from .trainer import DTYPES, load_data

    if config.key not in _DATASET:
        _DATASET.clear()
        _DATASET[config.key] = load_data(module, config.data_seed, DTYPES[config.dtype])
    return _DATASET[config.key]


def run_task(config: SweepConfig, task: Task) -> dict:
    """Train one run and return its result record (diverged runs included)."""
    import torch

    from .errors import NonFiniteError
    from .loop import fit
    from .trainer import DTYPES, build_trainer

    if torch.get_num_threads() != config.threads:
        torch.set_num_threads(config.threads)
    started = time.perf_counter()
    module = _module(config)
    dataset = _dataset(config, module)
    trainer = build_trainer(module, task.width, lr=task.lr, seed=task.seed, dtype=DTYPES[config.dtype])
    initial_loss, _ = trainer.evaluate(dataset.train_x, dataset.train_y)
    record = {
        "config": config.key,
        "spec": config.spec,
        "width": task.width,
        "lr": _canonical_lr(task.lr),
        "seed": task.seed,
        "steps": config.steps,
        "initial_loss": initial_loss,
    }
    try:
        result = fit(
            trainer, dataset, steps=config.steps, batch=config.batch, seed=task.seed, eval_every=config.steps, diagnose=False
        )
    except NonFiniteError as error:
        record.update(train_loss=None, test_accuracy=None, diverged=True, reason=f"non-finite loss at step {error.step}")
    else:
        loss = result["train_loss"]
        exploded = not math.isfinite(loss) or loss > DIVERGENCE_FACTOR * initial_loss
        record.update(
            train_loss=loss if math.isfinite(loss) else None,
            test_accuracy=result["test_accuracy"],
            diverged=exploded,
            reason=f"final loss above {DIVERGENCE_FACTOR:g}x the initial loss" if exploded else None,
        )
    record["seconds"] = time.perf_counter() - started
    return record


# How often a worker checks that its coordinating process still runs, in seconds.
PARENT_CHECK_SECONDS = 1.0


def _initialize_worker(threads: int) -> None:
    import signal

    import torch

    # Ctrl-C reaches the whole process group. The coordinating process alone handles it and
    # stops the workers, so that no worker dies in the middle of reporting a result.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True, name="parent-watch").start()


def _exit_with_parent(parent: int) -> None:
    """End this worker once its coordinating process is gone (killed with SIGKILL, say).

    An orphan is adopted by another process, so its parent id changes. Without this check
    the workers of a killed sweep would keep their cores busy until their tasks finish.
    """
    while True:
        time.sleep(PARENT_CHECK_SECONDS)
        if os.getppid() != parent:
            os._exit(1)


# --- the result file ----------------------------------------------------------------------


class ResultFile:
    """The JSON-lines result file of a sweep: repaired on open, appended one line per run.

    With `lock=True` the file is also locked (fcntl.flock on a `.lock` file beside it), so a
    second sweep writing into the same directory stops with an error instead of running
    every run twice.
    """

    def __init__(self, path: Path, lock: bool = False):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = None
        if lock:
            import fcntl

            self._lock_fd = os.open(path.with_suffix(".lock"), os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self._lock_fd)
                from .errors import ConfigurationError

                raise ConfigurationError(f"another sweep is writing to {path.parent}; wait for it or use another --out") from None
        self._repair()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _repair(self) -> None:
        """Cut off a trailing partial line left by a crash inside a write."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            logger.warning("%s: removing a partial last line (%d bytes) left by an interrupted run", self.path, len(data) - keep)
            with open(self.path, "r+b") as handle:
                handle.truncate(keep)

    def records(self, config_key: str | None = None) -> list[dict]:
        return read_records(self.path, config_key)

    def append(self, record: dict) -> None:
        """Append one record as one line with a single write, then flush it to disk."""
        line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
        written = os.write(self._fd, line)
        if written != len(line):
            raise OSError(f"short write to {self.path}: {written} of {len(line)} bytes")
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the lock
            self._lock_fd = None


def read_records(path: Path, config_key: str | None = None) -> list[dict]:
    """Return the records of a result file (of one sweep configuration when a key is given)."""
    result = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("%s:%d: skipping a line that is not valid JSON", path, number)
                continue
            if config_key is None or record.get("config") == config_key:
                result.append(record)
    return result


def pending(tasks: list[Task], records: list[dict]) -> list[Task]:
    """Return the tasks that have no record yet."""
    done = {(r["width"], _canonical_lr(r["lr"]), r["seed"]) for r in records}
    return [t for t in tasks if t.identity() not in done]


# --- executing tasks ----------------------------------------------------------------------


# How often the result loops look at the stop request of a signal handler, in seconds.
POLL_SECONDS = 0.25


def _raise_if_stopped(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise KeyboardInterrupt


def run_local(
    config: SweepConfig,
    tasks: list[Task],
    workers: int,
    on_record: Callable[[dict], None],
    stop: threading.Event | None = None,
) -> None:
    """Run tasks in `workers` spawned processes; call `on_record` in this process per result.

    When `stop` is set (a signal handler of the caller sets it), or on KeyboardInterrupt,
    results that arrived are still passed to `on_record`, then queued tasks are cancelled,
    the workers stopped and KeyboardInterrupt raised.
    """
    import multiprocessing

    if not tasks:
        return
    context = multiprocessing.get_context("spawn")
    # Child processes read this before torch starts its thread pool.
    previous = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(config.threads)
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_initialize_worker, initargs=(config.threads,))
    try:
        futures = {executor.submit(run_task, config, task): task for task in tasks}
        remaining = set(futures)
        while remaining:
            done, remaining = wait(remaining, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            for future in done:
                on_record(future.result())
            _raise_if_stopped(stop)
    except BaseException:
        for process in list(getattr(executor, "_processes", {}).values()):
            process.terminate()
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    else:
        executor.shutdown(wait=True)
    finally:
        if previous is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = previous


def run_ray(
    config: SweepConfig,
    tasks: list[Task],
    address: str | None,
    on_record: Callable[[dict], None],
    stop: threading.Event | None = None,
) -> None:
    """Run tasks as Ray tasks (one CPU each) on the cluster at `address`.

    Every Ray worker needs localmup installed and, for file datasets, the data at the same
    path. Results come back to this process, which alone writes the result file. `stop`
    works as in `run_local`.
    """
    try:
        import ray
    except ImportError:
        from .errors import ConfigurationError

        raise ConfigurationError("the ray backend needs Ray: pip install 'localmup[ray]'") from None
    if not tasks:
        return
    started_here = not ray.is_initialized()
    if started_here:
        # TODO: with an address where no cluster responds, ray.init (Ray 2.60) keeps retrying
        # for minutes before it fails; a second Ctrl-C stops it. Bound this wait.
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    remote = ray.remote(num_cpus=config.threads)(run_task)
    shared = ray.put(config)
    pending_refs = [remote.remote(shared, task) for task in tasks]
    try:
        while pending_refs:
            done, pending_refs = ray.wait(pending_refs, num_returns=1, timeout=POLL_SECONDS)
            for ref in done:
                on_record(ray.get(ref))
            _raise_if_stopped(stop)
    except BaseException:
        for ref in pending_refs:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()


# --- summary ------------------------------------------------------------------------------


def summarize(records: list[dict], widths, lrs, seeds: int, *, resamples: int = 1000) -> dict:
    """Return the best learning rate per width, its spread over seeds, the drift of
    log2(best lr) against log2(width) with a bootstrap interval over seeds, and the
    divergence boundary per width."""
    import numpy as np

    widths = sorted(widths)
    lrs = sorted(_canonical_lr(lr) for lr in lrs)
    # loss[w, l, s]; a diverged or missing run is +inf, so it never wins.
    loss = np.full((len(widths), len(lrs), seeds), np.inf)
    diverged = np.zeros((len(widths), len(lrs), seeds), dtype=bool)
    present = np.zeros_like(diverged)
    for record in records:
        try:
            w = widths.index(record["width"])
            lr_index = lrs.index(_canonical_lr(record["lr"]))
        except ValueError:
            continue
        s = record["seed"]
        if s >= seeds:
            continue
        present[w, lr_index, s] = True
        if record["diverged"]:
            diverged[w, lr_index, s] = True
        elif record["train_loss"] is not None:
            loss[w, lr_index, s] = record["train_loss"]

    log_lrs = np.log2(lrs)
    per_width = []
    best_log = np.full(len(widths), np.nan)
    for w, width in enumerate(widths):
        mean = loss[w].mean(axis=1)  # +inf when any seed diverged
        entry = {"width": width, "runs": int(present[w].sum())}
        if np.isfinite(mean).any():
            best = int(np.argmin(mean))
            best_log[w] = log_lrs[best]
            per_seed = [log_lrs[int(np.argmin(loss[w, :, s]))] for s in range(seeds) if np.isfinite(loss[w, :, s]).any()]
            entry.update(
                best_lr=lrs[best],
                best_loss=float(mean[best]),
                seed_best_lr=[float(2.0**v) for v in per_seed],
                best_at_edge=best in (0, len(lrs) - 1),
            )
        else:
            entry.update(best_lr=None, best_loss=None, seed_best_lr=[], best_at_edge=False)
        diverging = [lrs[i] for i in range(len(lrs)) if diverged[w, i].any()]
        stable = [lrs[i] for i in range(len(lrs)) if present[w, i].all() and not diverged[w, i].any()]
        entry["smallest_diverging_lr"] = min(diverging) if diverging else None
        entry["largest_stable_lr"] = max(stable) if stable else None
        per_width.append(entry)

    result = {"widths": per_width, "complete": bool(present.all())}
    usable = np.isfinite(best_log)
    if usable.sum() >= 2:
        x = np.log2(np.asarray(widths, dtype=float))[usable]
        slope = float(np.polyfit(x, best_log[usable], 1)[0])
        rng = np.random.default_rng(0)
        boot = []
        for _ in range(resamples):
            picks = rng.integers(0, seeds, size=seeds)
            resampled = loss[:, :, picks].mean(axis=2)
            logs = np.array([log_lrs[int(np.argmin(row))] if np.isfinite(row).any() else np.nan for row in resampled])
            ok = np.isfinite(logs)
            if ok.sum() >= 2:
                boot.append(np.polyfit(np.log2(np.asarray(widths, dtype=float))[ok], logs[ok], 1)[0])
        low, high = (np.quantile(boot, [0.05, 0.95]) if boot else (slope, slope))
        span = math.log2(max(widths) / min(widths))
        grid_step = float(np.median(np.diff(log_lrs))) if len(lrs) > 1 else 1.0
        endpoints = best_log[usable]
        result["drift"] = {
            "slope": slope,
            "interval": [float(low), float(high)],
            "fitted_steps": slope * span / grid_step,
            "endpoint_steps": float((endpoints[-1] - endpoints[0]) / grid_step),
            "width_ratio": max(widths) / min(widths),
        }
    else:
        result["drift"] = None
    return result
