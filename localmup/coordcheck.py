"""`localmup coord`: measured width-scaling slopes beside the checker's predictions.

A row passes when its measured slope lies within the tolerance of the predicted exponent
(0.10; 0.15 for the output and where two terms cross over), when a predicted exact zero is
zero to machine precision, or, after a predicted blow-up upstream, when the slope is
positive. Independently of the predictions, a slope above 0.2 means the tensor blows up
with width; the check then fails and names the layer.
"""

from __future__ import annotations

import json
import math
import sys

import attrs
import torch

from .compiler.check import CheckReport, check
from .compiler.check.verdicts import fmt
from .compiler.ir import SpecIR
from .runtime import coord
from .runtime.trainer import load_data, resolve_device

TOLERANCE = 0.10
OUTPUT_TOLERANCE = 0.15
BLOWUP_SLOPE = 0.2
LABELS = {"h": "h", "delta": "dh", "own": "dWx"}


@attrs.frozen
class Row:
    """One measured tensor at one step, with its prediction and verdict."""

    node: str
    quantity: str
    step: int
    predicted: float
    kind: str  # exact | zero | grows | between
    upper: float
    tolerance: float
    measured: coord.Slope
    agrees: bool
    blows_up: bool

    def to_json(self) -> dict:
        return {
            "node": self.node,
            "tensor": self.quantity,
            "step": self.step,
            "predicted": fmt(self.predicted),
            "kind": self.kind,
            "upper": fmt(self.upper),
            "tolerance": self.tolerance,
            "measured": None if self.measured.zero else _finite(self.measured.slope),
            "interval": None if self.measured.zero else [_finite(self.measured.low), _finite(self.measured.high)],
            "zero": self.measured.zero,
            "agrees": self.agrees,
            "blows_up": self.blows_up,
        }


def _finite(value: float):
    return value if math.isfinite(value) else None


def predicted(report: CheckReport, node: str, quantity: str, step: int) -> tuple[float, str, bool, float]:
    """Return (exponent, kind, crossover, upper) that the checker predicts for one row.

    h_t = h_0 + (h_t - h_0) is a sum of two terms. Where their exponents differ (the output
    of muP starts at m^(-1/2) and moves by m^0), no single power law fits at finite width:
    the kind is then "between", `exponent` and `upper` are the two exponents, and the row
    passes when its slope lies between them. Elsewhere `upper` equals `exponent`.
    """
    prediction = report.prediction(node)
    if quantity == "h":
        init = prediction.init
        if step == 0:
            return init.exponent, init.kind, False, init.exponent
        change = prediction.delta_first if step == 1 else prediction.delta
        if change.kind == "unknown":
            return change.exponent, "unknown", False, change.exponent
        if change.kind == "zero" or change.exponent == init.exponent:
            return init.exponent, init.kind, False, init.exponent
        if change.kind == "grows" and change.exponent > init.exponent:
            return change.exponent, "grows", False, change.exponent
        low, high = sorted((init.exponent, change.exponent))
        return low, "between", True, high
    first, later = (prediction.delta_first, prediction.delta) if quantity == "delta" else (prediction.own_first, prediction.own)
    chosen = first if step == 1 else later
    # Two terms cross over when the exponent changes between steps (a readout that starts
    # small), or when a node's own update and the change from its sources scale differently.
    crossover = step >= 2 and first.exponent != later.exponent
    if quantity == "delta" and prediction.own is not None:
        own = prediction.own_first if step == 1 else prediction.own
        arriving = prediction.propagated_first if step == 1 else prediction.propagated
        crossover = crossover or (own.exponent != arriving and min(own.exponent, arriving) > -math.inf)
    return chosen.exponent, chosen.kind, crossover, chosen.exponent


def judge(report: CheckReport, measurements: coord.Measurements) -> list[Row]:
    """Compare every measured slope with its prediction."""
    rows = []
    for (node, quantity), values in measurements.values.items():
        first_step = 0 if quantity == "h" else 1
        for step in range(first_step, measurements.steps + 1):
            exponent, kind, crossover, upper = predicted(report, node, quantity, step)
            slope = coord.fit_slope(measurements.widths, values[:, :, step])
            tolerance = OUTPUT_TOLERANCE if (node == report.ir.output or crossover) else TOLERANCE
            blows_up = (not slope.zero) and slope.slope > BLOWUP_SLOPE
            if kind == "unknown":
                agrees = True
            elif kind == "zero":
                scale = float(values.max()) if quantity != "h" else 1.0
                reference = float(measurements.values[(node, "h")].max()) or 1.0
                agrees = slope.zero or slope.max_value <= 1e-10 * max(reference, scale)
            elif slope.zero:
                agrees = False
            elif kind == "grows":
                agrees = slope.slope > 0
            elif kind == "between":
                low, high = float(exponent), float(upper)
                agrees = math.isfinite(slope.slope) and low - tolerance <= slope.slope <= high + tolerance
            else:
                agrees = math.isfinite(slope.slope) and abs(slope.slope - float(exponent)) <= tolerance
            rows.append(Row(node, quantity, step, exponent, kind, upper, tolerance, slope, agrees, blows_up))
    rows.sort(key=lambda r: (r.step, list(report.ir.topological_nodes()).index(r.node), ("h", "delta", "own").index(r.quantity)))
    return rows


def format_rows(rows: list[Row]) -> str:
    header = ["t", "node", "tensor", "predicted", "measured", "90% interval", "verdict"]
    table = []
    for row in rows:
        if row.kind == "unknown":
            predicted_text = "- (after a blow-up)"
        elif row.kind == "zero":
            predicted_text = "0 exactly"
        elif row.kind == "grows":
            predicted_text = f"> 0 (>= {fmt(row.predicted)})"
        elif row.kind == "between":
            predicted_text = f"in [{fmt(row.predicted)}, {fmt(row.upper)}]"
        else:
            predicted_text = f"{fmt(row.predicted)} +- {row.tolerance:.2f}"
        if row.measured.zero:
            measured_text, interval = "0 exactly", ""
        else:
            measured_text = f"{row.measured.slope:+.3f}"
            interval = f"[{row.measured.low:+.3f}, {row.measured.high:+.3f}]"
        verdict = "ok" if row.agrees else "DISAGREES"
        if row.blows_up:
            verdict += ", BLOWS UP"
        table.append([str(row.step), row.node, LABELS[row.quantity], predicted_text, measured_text, interval, verdict])
    widths = [max(len(r[i]) for r in [header] + table) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in table]
    return "\n".join(lines)


@attrs.frozen
class CoordResult:
    report: CheckReport
    measurements: coord.Measurements
    rows: list[Row]
    settings: dict

    @property
    def passed(self) -> bool:
        return all(r.agrees for r in self.rows) and not any(r.blows_up for r in self.rows)

    def blowing_up(self) -> list[str]:
        names = []
        for row in self.rows:
            if row.blows_up and row.node not in names:
                names.append(row.node)
        return names

    def to_json(self) -> dict:
        return {
            "spec": self.report.ir.name,
            "rule": self.report.ir.rule,
            "optimizer": self.report.ir.optimizer,
            "settings": self.settings,
            "checker": {"stable": self.report.stable, "regime": self.report.regime, "mup": self.report.mup},
            "passed": self.passed,
            "blows_up": self.blowing_up(),
            "seconds": self.measurements.seconds,
            "rows": [r.to_json() for r in self.rows],
        }


def run_coord(ir: SpecIR, module, *, widths=None, steps=None, seeds=None, lr=None, device="cpu", dtype="float32", progress=None) -> CoordResult:
    """Measure a spec's coordinate scaling and judge it against the checker's predictions."""
    settings = dict(ir.coord)
    widths = tuple(widths or settings["widths"])
    steps = steps or settings["steps"]
    seeds = seeds or settings["seeds"]
    lr_value = lr if lr is not None else float(settings["lr"].value)
    report = check(ir)
    torch_dtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    data = load_data(module, seed=0, dtype=torch_dtype)
    batch_size, probe_size = settings["batch"], settings["probe"]
    batch = (data.train_x[:batch_size], data.train_y[:batch_size])
    probe = data.test_x[:probe_size]
    if probe.shape[0] < probe_size:
        extra = data.train_x[batch_size : batch_size + probe_size - probe.shape[0]]
        probe = torch.cat([probe, extra])
    measurements = coord.measure(
        module, widths, steps=steps, seeds=seeds, lr=lr_value, batch=batch, probe=probe,
        device=resolve_device(device), dtype=torch_dtype, progress=progress,
    )
    rows = judge(report, measurements)
    used = {"widths": list(widths), "steps": steps, "seeds": seeds, "lr": lr_value, "batch": batch_size, "probe": int(probe.shape[0]), "dtype": dtype}
    return CoordResult(report, measurements, rows, used)


def print_result(result: CoordResult, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
        return
    ir = result.report.ir
    s = result.settings
    print(
        f"{ir.name}: coordinate check over widths {s['widths']}, {s['seeds']} seeds, steps 0..{s['steps']}, "
        f"lr {s['lr']}, {s['probe']} probe samples ({result.measurements.seconds:.1f} s)"
    )
    print("slopes of log(rms) against log(n); h: pre-activation, dh: change since init, dWx: own update")
    print(format_rows(result.rows))
    if result.passed:
        print(f"passed: every slope agrees with the checker ({result.report.regime}, {'muP' if result.report.mup else 'not muP'})")
    else:
        disagreeing = sorted({f"{r.node} {LABELS[r.quantity]} t={r.step}" for r in result.rows if not r.agrees})
        if result.blowing_up():
            print("FAILED: blows up with width at " + ", ".join(f"`{n}`" for n in result.blowing_up()))
        if disagreeing:
            print("FAILED: measured slopes disagree with the predictions at " + ", ".join(disagreeing))


def plot_result(result: CoordResult, path) -> None:
    """Plot one panel per step: h at t = 0, the change dh at t >= 1, with predicted slopes."""
    from .runtime.plots import plot_coordinates

    measurements = result.measurements
    panels = []
    for step in range(measurements.steps + 1):
        quantity = "h" if step == 0 else "delta"
        series = []
        for node in result.report.ir.topological_nodes():
            key = (node, quantity)
            if key not in measurements.values:
                continue
            exponent, kind, _, _ = predicted(result.report, node, quantity, step)
            slope = float(exponent) if kind == "exact" and math.isfinite(exponent) else None
            series.append({"label": f"{node} {LABELS[quantity]}", "values": measurements.values[key][:, :, step], "slope": slope})
        panels.append({"title": f"t = {step}: {'h' if step == 0 else 'h_t - h_0'}", "series": series})
    plot_coordinates(path, measurements.widths, panels, f"{result.report.ir.name} coordinate check")
