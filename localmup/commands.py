"""One function per command of the command line, above both the compiler and the runtime.

Each function takes parsed options, writes its results, and returns the exit status:
0 success, 1 the verdict or measurement fails, 2 invalid spec or usage, 3 a run failed at
run time. Errors the user can fix become messages, never tracebacks.
"""

from __future__ import annotations

import contextlib
import json
import linecache
import logging
import os
import shutil
import signal
import sys
import types
from pathlib import Path

from .compiler import codegen
from .compiler.check import check
from .compiler.errors import ERROR, Diagnostic, SpecError
from .compiler.ir import SpecIR, load_spec
from .runtime import trainer as runtime_trainer
from .runtime.data import DataError
from .runtime.errors import ConfigurationError, NonFiniteError, RunError

logger = logging.getLogger("localmup")

OK, FAILED, INVALID, RUN_FAILED = 0, 1, 2, 3


def load(path: str, width: int | None = None) -> SpecIR:
    """Read and check a spec file, at another width when `width` is given."""
    return load_spec(path, width=width)


def trainer_module(ir: SpecIR, source: str | None = None) -> types.ModuleType:
    """Compile a spec's trainer into an in-memory module.

    The source is registered with linecache, so tracebacks through generated code show its
    lines as if it were a file.
    """
    source = source if source is not None else codegen.generate(ir)
    filename = f"<localmup trainer {ir.name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(f"localmup_trainer_{ir.name}")
    module.__file__ = filename
    exec(compile(source, filename, "exec"), module.__dict__)
    return module


@contextlib.contextmanager
def located(ir: SpecIR):
    """Turn a ConfigurationError about a graph node into a spec error at that node's line."""
    try:
        yield
    except ConfigurationError as error:
        if error.node is None or error.node not in ir.graph:
            raise
        span = ir.graph.nodes[error.node]["span"]
        raise SpecError([Diagnostic(ERROR, "E215", str(error), span)], ir.path, ir.source) from None


def print_warnings(ir: SpecIR) -> None:
    for warning in ir.warnings:
        print(warning.format(ir.path, ir.source), file=sys.stderr)


# --- check ---


def check_command(spec: str, width: int | None, as_json: bool) -> int:
    ir = load(spec, width)
    report = check(ir)
    if as_json:
        document = report.to_json()
        document["warnings"] = [
            {"code": w.code, "severity": w.severity, "message": w.message, "line": w.span.line or None}
            for w in ir.warnings
        ]
        print(json.dumps(document, indent=2))
    else:
        print_warnings(ir)
        print(report.format_text())
    return OK if report.passed else FAILED


# --- compile ---


def compile_command(spec: str, width: int | None, output: str | None) -> int:
    ir = load(spec, width)
    print_warnings(ir)
    if output is None:
        sys.stdout.write(codegen.generate(ir))
        return OK
    target = Path(output)
    # The trainer names a relative spec path relative to where it is written, so it runs from
    # any directory; an absolute path stays as given.
    spec_path = spec if os.path.isabs(spec) else os.path.relpath(os.path.abspath(spec), os.path.abspath(target.parent))
    target.write_text(codegen.generate(ir, spec_path=spec_path), encoding="utf-8")
    print(f"wrote {output}", file=sys.stderr)
    return OK


# --- train ---


def train_command(spec: str, options: runtime_trainer.RunOptions) -> int:
    ir = load(spec, options.width)
    print_warnings(ir)
    report = check(ir)
    if not report.passed:
        logger.warning("the checker calls %s %s at large width; training anyway at n = %d", ir.name, report.regime, ir.width)
    source = codegen.generate(ir)
    module = trainer_module(ir, source)
    out = options.out or Path("runs") / f"{ir.name}-n{ir.width}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "trainer.py").write_text(source, encoding="utf-8")
    shutil.copyfile(spec, out / "spec.lmu")
    options = _evolve(options, out=out, width=ir.width)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with located(ir):
            summary = runtime_trainer.run(module, options)
    except NonFiniteError as error:
        print(f"error: training diverged: {error}; partial metrics in {out}", file=sys.stderr)
        return RUN_FAILED
    except KeyboardInterrupt:
        print(f"interrupted; metrics so far and the summary are in {out}", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(
        f"{ir.name} n={ir.width}: train loss {summary['train_loss']:.4f}, "
        f"test accuracy {summary['test_accuracy']:.4f}, {summary['train_seconds']:.1f} s training; results in {out}"
    )
    return OK


def _interrupt(signum, frame):
    """Turn SIGTERM into KeyboardInterrupt, so `kill` stops a run as cleanly as Ctrl-C."""
    # NOTE: an exception raised in a handler is dropped if it lands in a finalizer, and the
    # run goes on. Sweeps poll a stop flag instead; train and coord have no such loop yet.
    raise KeyboardInterrupt


def _evolve(options: runtime_trainer.RunOptions, **changes) -> runtime_trainer.RunOptions:
    import attrs

    return attrs.evolve(options, **changes)


# --- coord ---


def coord_command(spec: str, width_override: int | None, widths, steps, seeds, lr, as_json, plot, device, dtype, all_scales=False) -> int:
    from . import coordcheck

    ir = load(spec, width_override)
    print_warnings(ir)
    ir.check_widths(widths or ir.coord["widths"])
    module = trainer_module(ir)
    progress = None
    if sys.stderr.isatty() and not as_json:
        def progress(width, seed):
            print(f"\r  measured n = {width}, seed {seed}   ", end="", file=sys.stderr, flush=True)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with located(ir):
            result = coordcheck.run_coord(ir, module, widths=widths, steps=steps, seeds=seeds, lr=lr, device=device, dtype=dtype, progress=progress)
    except KeyboardInterrupt:
        print("\ninterrupted; a coordinate check keeps no partial results", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    if progress is not None:
        print("\r" + " " * 40 + "\r", end="", file=sys.stderr)
    coordcheck.print_result(result, as_json, all_scales)
    if plot:
        coordcheck.plot_result(result, Path(plot))
        print(f"wrote {plot}", file=sys.stderr)
    return OK if result.passed else FAILED


# --- sweep ---


def sweep_command(args) -> int:
    from . import sweepcmd

    ir = load(args.spec, args.width)
    print_warnings(ir)
    with located(ir):
        return sweepcmd.sweep_command(args.spec, ir, args)


# --- graph ---


def graph_document(ir: SpecIR) -> dict:
    """Return the IR graph as node-link JSON with plain values."""
    nodes = []
    for name in ir.topological_nodes():
        data = ir.graph.nodes[name]
        entry = {
            "id": name,
            "kind": data["kind"],
            "size": str(data["dim"]),
            "size_coefficient": str(data["dim"].coefficient),
            "size_exponent": data["dim"].exponent,
            "activation": data["activation"],
            "line": data["line"],
            "output": name == ir.output,
        }
        if data["kind"] == "dense":
            entry.update(bias=data["bias"], role=data["role"], bias_role=data["bias_role"], feedback=data.get("feedback", False))
        nodes.append(entry)
    edges = [
        {"source": s, "target": t, "position": d["position"]}
        for s, t, d in sorted(ir.graph.edges(data=True), key=lambda e: (ir.graph.nodes[e[1]]["line"], e[2]["position"]))
    ]
    return {"spec": ir.name, "width": ir.width, "base": ir.base, "output": ir.output, "loss": ir.loss, "nodes": nodes, "edges": edges}


def graph_dot(ir: SpecIR) -> str:
    """Return the IR graph in Graphviz DOT."""
    lines = [f'digraph "{ir.name}" {{', "  rankdir=LR;", '  node [shape=box, fontname="monospace"];']
    for name in ir.topological_nodes():
        data = ir.graph.nodes[name]
        label = f"{name}\\n{data['kind']}({data['dim']})"
        if data["kind"] == "dense":
            label += f"\\n{data['activation']}, {data['role']}"
        if data["kind"] == "input":
            shape = ", shape=ellipse"
        elif name == ir.output:
            shape = ", peripheries=2"
        else:
            shape = ""
        lines.append(f'  "{name}" [label="{label}"{shape}];')
    for source, target in sorted(ir.graph.edges, key=lambda edge: (ir.graph.nodes[edge[1]]["line"], edge[0])):
        lines.append(f'  "{source}" -> "{target}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def graph_command(spec: str, width: int | None, fmt: str) -> int:
    ir = load(spec, width)
    print_warnings(ir)
    if fmt == "json":
        print(json.dumps(graph_document(ir), indent=2))
    else:
        sys.stdout.write(graph_dot(ir))
    return OK


__all__ = [
    "check_command",
    "compile_command",
    "train_command",
    "graph_command",
    "trainer_module",
    "load",
    "ConfigurationError",
    "DataError",
    "RunError",
]
