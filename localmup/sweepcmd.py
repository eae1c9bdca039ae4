"""`localmup sweep`: learning-rate x width x seed grids, parallel and resumable.

The spec is compiled once, because the generated trainer takes the width as an argument.
Every run's result is appended to DIR/results.jsonl as it finishes. The summary (best
learning rate per width, its drift with width, divergence boundaries) is printed and
written to DIR/summary.json.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

from .compiler import codegen, registry
from .compiler.ir import SpecIR
from .runtime import sweep
from .runtime.errors import ConfigurationError

_RANGE = re.compile(r"^\s*2\s*\^\s*\[\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*\]\s*$")


def parse_learning_rates(texts: list[str]) -> tuple[float, ...]:
    """Parse `--lr` values: numbers, comma lists, or a range `2^[-8..6]` (both ends included)."""
    values: list[float] = []
    for text in texts:
        match = _RANGE.match(text)
        if match:
            low, high = int(match.group(1)), int(match.group(2))
            if low > high:
                raise ConfigurationError(f"empty learning-rate range {text!r}: the first exponent must not exceed the last")
            limit = registry.LARGEST_LR_EXPONENT
            if low < -limit or high > limit:
                raise ConfigurationError(f"learning-rate range {text!r} has exponents outside -{limit}..{limit}")
            values.extend(2.0**k for k in range(low, high + 1))
            continue
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                value = float(part)
            except ValueError:
                raise ConfigurationError(f"invalid learning rate {part!r}; write numbers such as 0.1 or a range 2^[-8..6]") from None
            if not registry.SMALLEST_MAGNITUDE <= value <= registry.LARGEST_MAGNITUDE:
                raise ConfigurationError(
                    f"learning rates must lie between {registry.MAGNITUDE_RANGE}, got {part}"
                )
            values.append(value)
    return tuple(sorted(set(values)))


def _install_stop_handlers(stop: threading.Event) -> dict:
    """Make SIGINT and SIGTERM set `stop`; return the previous handlers.

    The result loop raises KeyboardInterrupt once it finds `stop` set, after writing the results
    that already arrived. A KeyboardInterrupt raised inside the handler could land in a
    finalizer, where Python prints and drops it, and the sweep would run on. A second
    signal raises at once.
    """

    def request_stop(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping: writing the results that arrived; interrupt again to stop at once", file=sys.stderr)

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {number: signal.signal(number, request_stop) for number in (signal.SIGINT, signal.SIGTERM)}


def run_sweep(
    ir: SpecIR,
    *,
    widths=None,
    lrs=None,
    seeds=None,
    steps=None,
    workers=None,
    threads=1,
    out: Path,
    backend: str = "local",
    address: str | None = None,
    progress=None,
) -> dict:
    """Run (or resume) a sweep and return its summary; results go to out/results.jsonl."""
    settings = ir.sweep
    widths = tuple(sorted(set(widths or settings["widths"])))
    lrs = tuple(sorted(lrs or settings["lr"]))
    seeds = seeds or settings["seeds"]
    steps = steps or settings["steps"]
    workers = workers or os.cpu_count() or 1
    ir.check_widths(widths)

    config = sweep.SweepConfig(
        spec=ir.name,
        source=codegen.generate(ir),
        steps=steps,
        batch=ir.train["batch"],
        data_seed=ir.train["seed"],
        dtype=ir.train["dtype"],
        threads=threads,
    )
    results = sweep.ResultFile(out / "results.jsonl", lock=True)
    tasks = sweep.grid(widths, lrs, seeds)
    earlier_records = results.records(config.key)
    todo = sweep.pending(tasks, earlier_records)
    resumed = len(tasks) - len(todo)
    new_records: list[dict] = []
    started = time.perf_counter()

    def on_record(record: dict) -> None:
        results.append(record)
        new_records.append(record)
        if progress is not None:
            progress(resumed + len(new_records), len(tasks), record)

    stop = threading.Event()
    previous_handlers = _install_stop_handlers(stop)
    try:
        if backend == "ray":
            sweep.run_ray(config, todo, address, on_record, stop)
        else:
            sweep.run_local(config, todo, workers, on_record, stop)
    finally:
        for number, handler in previous_handlers.items():
            # None means the previous handler was not set from Python: restore the default.
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        results.close()

    summary = sweep.summarize(earlier_records + new_records, widths, lrs, seeds)
    summary.update(
        spec=ir.name,
        rule=ir.rule,
        optimizer=ir.optimizer,
        config=config.key,
        steps=steps,
        seeds=seeds,
        lrs=list(lrs),
        runs=len(tasks),
        resumed=resumed,
        workers=workers if backend == "local" else None,
        backend=backend,
        seconds=time.perf_counter() - started,
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def format_summary(summary: dict) -> str:
    lines = [
        f"{summary['spec']}: {_count(summary['runs'], 'run')} ({summary['resumed']} already in the result file), "
        f"{_count(summary['steps'], 'step')}, {_count(summary['seeds'], 'seed')}, {summary['seconds']:.1f} s",
        "",
    ]
    header = ["width", "best lr", "loss at best", "best lr per seed", "largest stable lr", "smallest diverging lr"]
    rows = []
    for entry in summary["widths"]:
        rows.append(
            [
                str(entry["width"]),
                _lr(entry["best_lr"]),
                "-" if entry["best_loss"] is None else f"{entry['best_loss']:.4g}",
                " ".join(_lr(v) for v in entry["seed_best_lr"]) or "-",
                _lr(entry["largest_stable_lr"]),
                _lr(entry["smallest_diverging_lr"]),
            ]
        )
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    drift = summary["drift"]
    lines.append("")
    if drift is None:
        lines.append("drift: not enough widths with a finite best learning rate")
    else:
        slope, (low, high) = _clean(drift["slope"]), (_clean(v) for v in drift["interval"])
        lines.append(
            f"drift of log2(best lr) against log2(width): slope {slope:+.3f} "
            f"(90% interval {low:+.3f} to {high:+.3f}); over the {drift['width_ratio']:g}x width range that is "
            f"{_clean(drift['fitted_steps']):+.2f} grid steps fitted, {_clean(drift['endpoint_steps']):+.0f} between the end widths"
        )
    edges = [str(entry["width"]) for entry in summary["widths"] if entry.get("best_at_edge")]
    if edges:
        lines.append(
            f"note: the best learning rate lies at the edge of the grid for width {', '.join(edges)}; "
            "widen --lr, or the drift above is only a bound"
        )
    if not summary["complete"]:
        lines.append("incomplete: some runs are missing; rerun the same command to finish them")
    return "\n".join(lines)


def _clean(value: float) -> float:
    """Return 0.0 for values that would print as -0.000."""
    return 0.0 if abs(value) < 5e-7 else value


def _lr(value) -> str:
    if value is None:
        return "-"
    exponent = math.log2(value)
    if abs(exponent - round(exponent)) < 1e-9:
        return f"2^{int(round(exponent))}"
    return f"{value:g}"


def sweep_command(spec_path: str, ir: SpecIR, args) -> int:
    lrs = parse_learning_rates(args.lr) if args.lr else None
    out = Path(args.out) if args.out else Path("runs") / f"{ir.name}-sweep"

    def progress(done: int, total: int, record: dict) -> None:
        if sys.stderr.isatty():
            state = "diverged" if record["diverged"] else f"loss {record['train_loss']:.4g}"
            print(f"\r  {done}/{total} runs; last: n={record['width']} lr={record['lr']:g} seed {record['seed']}: {state}    ",
                  end="", file=sys.stderr, flush=True)

    try:
        summary = run_sweep(
            ir,
            widths=args.widths,
            lrs=lrs,
            seeds=args.seeds,
            steps=args.steps,
            workers=args.workers,
            threads=args.threads,
            out=out,
            backend=args.backend,
            address=args.address,
            progress=progress,
        )
    except KeyboardInterrupt:
        if sys.stderr.isatty():
            print(file=sys.stderr)
        print(f"interrupted; finished runs are in {out / 'results.jsonl'}; rerun the same command to resume", file=sys.stderr)
        return 130
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
        print(f"results in {out}")
    if args.plot:
        from .runtime.plots import plot_sweep

        records = sweep.read_records(out / "results.jsonl", summary["config"])
        plot_sweep(Path(args.plot), records, [w["width"] for w in summary["widths"]], summary["lrs"], f"{ir.name} learning-rate sweep")
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0

