"""`localmup coord`: measured width-scaling slopes beside the checker's predictions.

Every measured row (a tensor at a step) gets a predicted range of slopes [low, high]:

- a single term has low = high = its exponent;
- a sum of two terms with different exponents (h_t = h_0 + change, or a change made of a
  node's own update and the change arriving from its sources) has the two exponents as its
  range, because at finite width the fitted slope lies between them;
- every update is proportional to the output error dl/df for SGD, and at finite width that
  error still shrinks with width where the output starts small but nonzero (f_0 ~ m^-1/2 in
  muP adds |f_0|^2 to |y|^2). The measured slopes of the error (the "error drift", about
  -0.1 over widths 256 to 2048 with 10 outputs, down to -0.3 with relu features) are added
  to the predicted slopes of changes. Two slopes are measured: of the rms of the
  per-sample error, and of the rms of its batch mean, which sums coherently where features
  share a mean (relu). A change made of both parts drifts by an amount between the two.

A row passes when its slope lies in [low - tolerance, high + tolerance] (0.10; 0.15 for the
output and where two terms cross over), when a predicted exact zero is zero to machine
precision, or, after a predicted blow-up upstream, when the slope is positive. Independently
of the predictions, a slope above 0.2 means the tensor blows up with width; the check then
fails and names the layer.
"""

from __future__ import annotations

import json
import math
import sys

import attrs
import numpy as np
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
    """One measured tensor at one step, with its prediction and verdict.

    `low` and `high` are the predicted exponents (equal for a single term), and `drift` is
    the measured error drift added to them. `kind` is exact, between, zero, grows or unknown.
    """

    node: str
    quantity: str
    step: int
    low: float
    high: float
    kind: str
    drift: tuple[float, float]
    tolerance: float
    measured: coord.Slope
    agrees: bool
    blows_up: bool

    @property
    def predicted(self) -> float:
        return self.high

    def to_json(self) -> dict:
        return {
            "node": self.node,
            "tensor": LABELS[self.quantity],
            "step": self.step,
            "predicted": None if self.kind == "unknown" else fmt(self.high),
            "predicted_low": None if self.kind == "unknown" else fmt(self.low),
            "kind": self.kind,
            "error_drift": list(self.drift),
            "tolerance": self.tolerance,
            "measured": None if self.measured.zero else _finite(self.measured.slope),
            "interval": None if self.measured.zero else [_finite(self.measured.low), _finite(self.measured.high)],
            "zero": self.measured.zero,
            "agrees": self.agrees,
            "blows_up": self.blows_up,
        }


def _finite(value: float):
    return value if math.isfinite(value) else None


@attrs.frozen
class Expectation:
    """Predicted exponents of one row: [low, high], its kind, and whether terms cross over."""

    low: float
    high: float
    kind: str
    crossover: bool
    change: bool  # whether the row measures a change driven by updates


def predicted(report: CheckReport, node: str, quantity: str, step: int) -> Expectation:
    """Return what the checker predicts for one row (before the error drift)."""
    prediction = report.prediction(node)
    if quantity == "h":
        init = prediction.init
        if step == 0:
            return Expectation(init.exponent, init.exponent, init.kind, False, False)
        change = prediction.delta_first if step == 1 else prediction.delta
        if change.kind in ("unknown", "grows") and change.exponent >= init.exponent:
            return Expectation(change.exponent, change.exponent, change.kind, False, True)
        if change.kind == "zero" or change.exponent == init.exponent:
            return Expectation(init.exponent, init.exponent, init.kind, False, False)
        low, high = sorted((init.exponent, change.exponent))
        return Expectation(low, high, "between", True, True)

    first, later = (prediction.delta_first, prediction.delta) if quantity == "delta" else (prediction.own_first, prediction.own)
    chosen = first if step == 1 else later
    # A readout that starts small changes the exponent between step 1 and later steps.
    crossover = step >= 2 and first.exponent != later.exponent
    if chosen.kind != "exact" or prediction.own is None:
        return Expectation(chosen.exponent, chosen.exponent, chosen.kind, crossover, True)
    # The row is a sum of terms: the weight's and the bias's update (dW x + db), and for dh
    # also the changes arriving from upstream. Its slope lies between the smallest and the
    # largest of their exponents.
    terms = [(prediction.own_first if step == 1 else prediction.own).exponent]
    terms.append(prediction.own_low_first if step == 1 else prediction.own_low)
    if quantity == "delta":
        terms.append(prediction.propagated_first if step == 1 else prediction.propagated)
        terms.append(prediction.delta_low_first if step == 1 else prediction.delta_low)
    finite = [t for t in terms if t > -math.inf]
    if finite and min(finite) < max(finite):
        return Expectation(min(finite), max(finite), "between", True, True)
    return Expectation(chosen.exponent, chosen.exponent, chosen.kind, crossover, True)


def error_drift(report: CheckReport, measurements: coord.Measurements, step: int) -> tuple[float, float]:
    """Return the lowest and highest measured slope of the output error that drives the
    updates of steps 1..step: of its per-sample rms and of its batch mean.

    SGD updates (and the targets of pc and tp) are linear in the output error; Adam's are
    not, so it has no drift. The error of several steps is combined as their rms.
    """
    if report.ir.optimizer != "sgd" or step < 1:
        return (0.0, 0.0)
    slopes = []
    for errors in (measurements.errors, measurements.mean_errors):
        combined = np.sqrt((errors[:, :, :step] ** 2).mean(axis=2))
        slope = coord.fit_slope(measurements.widths, combined).slope
        slopes.append(slope if math.isfinite(slope) else 0.0)
    return (min(slopes), max(slopes))


def judge(report: CheckReport, measurements: coord.Measurements) -> list[Row]:
    """Compare every measured slope with its prediction."""
    rows = []
    order = report.ir.topological_nodes()
    for (node, quantity), values in measurements.values.items():
        first_step = 0 if quantity == "h" else 1
        for step in range(first_step, measurements.steps + 1):
            expected = predicted(report, node, quantity, step)
            driven = expected.change and expected.kind in ("exact", "between")
            drift = error_drift(report, measurements, step) if driven else (0.0, 0.0)
            low, high = float(expected.low), float(expected.high)
            if expected.kind == "between" and quantity == "h":
                # Only the change term of h_t = h_0 + change is driven by the error.
                init = float(report.prediction(node).init.exponent)
                change = high if low == init else low
                accept = (min(init, change + drift[0]), max(init, change + drift[1]))
            else:
                accept = (low + drift[0], high + drift[1])
            slope = coord.fit_slope(measurements.widths, values[:, :, step])
            tolerance = OUTPUT_TOLERANCE if (node == report.ir.output or expected.crossover) else TOLERANCE
            blows_up = (not slope.zero) and slope.slope > BLOWUP_SLOPE
            agrees = _agrees(expected.kind, slope, accept[0], accept[1], tolerance, values, measurements, node, quantity)
            rows.append(Row(node, quantity, step, low, high, expected.kind, drift, tolerance, slope, agrees, blows_up))
    rows.sort(key=lambda r: (r.step, order.index(r.node), ("h", "delta", "own").index(r.quantity)))
    return rows


def _agrees(kind, slope, low, high, tolerance, values, measurements, node, quantity) -> bool:
    if kind == "unknown":
        return True
    if kind == "zero":
        reference = float(measurements.values[(node, "h")].max()) or 1.0
        return slope.zero or slope.max_value <= 1e-10 * reference
    if slope.zero or not math.isfinite(slope.slope):
        return False
    if kind == "grows":
        return slope.slope > 0
    return low - tolerance <= slope.slope <= high + tolerance


def format_rows(rows: list[Row]) -> str:
    header = ["t", "node", "tensor", "predicted", "error drift", "measured", "90% interval", "verdict"]
    table = []
    for row in rows:
        if row.kind == "unknown":
            predicted_text = "- (after a blow-up)"
        elif row.kind == "zero":
            predicted_text = "0 exactly"
        elif row.kind == "grows":
            predicted_text = f"> 0 (>= {fmt(row.high)})"
        elif row.kind == "between":
            predicted_text = f"in [{fmt(row.low)}, {fmt(row.high)}] +- {row.tolerance:.2f}"
        else:
            predicted_text = f"{fmt(row.high)} +- {row.tolerance:.2f}"
        if row.drift == (0.0, 0.0):
            drift = ""
        elif abs(row.drift[0] - row.drift[1]) < 0.0005:
            drift = f"{row.drift[0]:+.3f}"
        else:
            drift = f"{row.drift[0]:+.3f}..{row.drift[1]:+.3f}"
        if row.measured.zero:
            measured_text, interval = "0 exactly", ""
        else:
            measured_text = f"{row.measured.slope:+.3f}"
            interval = f"[{row.measured.low:+.3f}, {row.measured.high:+.3f}]"
        verdict = "ok" if row.agrees else "DISAGREES"
        if row.blows_up:
            verdict += ", BLOWS UP"
        table.append([str(row.step), row.node, LABELS[row.quantity], predicted_text, drift, measured_text, interval, verdict])
    widths = [max(len(r[i]) for r in [header] + table) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in table]
    return "\n".join(lines)


def scale_rows(report: CheckReport, module, widths, lr: float) -> list[dict]:
    """Compare the init std, multiplier and learning rate each parameter really gets with
    the checker's std m^-b, mult m^-a and eta lr m^-c, at every width."""
    parameters = {p.name: p for p in report.parameters}
    feedback_eta = float(report.ir.feedback_settings["lr"].value) if report.ir.rule == "tp" else None
    rows = []
    for width in widths:
        m = width / report.ir.base
        for applied in coord.applied_scales(module, width, lr=lr):
            parameter = parameters[applied["name"]]
            eta = feedback_eta if parameter.kind == "feedback" else lr
            expected = {
                "std": 0.0 if parameter.zero_init else float(parameter.std.value) * m ** -float(parameter.b_eff),
                "multiplier": float(parameter.mult.value) * m ** -float(parameter.a_eff),
                "lr": eta * float(parameter.lr.value) * m ** -float(parameter.c_eff),
            }
            # The rms of N Gaussian entries has a relative spread of about 1 / sqrt(2N).
            std_tolerance = 5 / math.sqrt(2 * applied["entries"]) + 1e-6
            checks = {
                "std": _close(applied["std"], expected["std"], std_tolerance),
                "multiplier": _close(applied["multiplier"], expected["multiplier"], 1e-9),
                "lr": _close(applied["lr"], expected["lr"], 1e-9),
            }
            rows.append({**applied, "expected": expected, "agrees": all(checks.values()), "checks": checks})
    return rows


def _close(value: float, expected: float, relative: float) -> bool:
    if expected == 0:
        return value == 0
    return abs(value - expected) <= relative * abs(expected)


def format_scales(rows: list[dict], everything: bool) -> str:
    shown = rows if everything else [r for r in rows if not r["agrees"]]
    lines = []
    if shown:
        header = ["parameter", "n", "std applied", "checker", "mult applied", "checker", "lr applied", "checker", "verdict"]
        table = []
        for row in shown:
            e = row["expected"]
            wrong = [k for k, v in row["checks"].items() if not v]
            table.append(
                [row["name"], str(row["width"]), f"{row['std']:.4g}", f"{e['std']:.4g}", f"{row['multiplier']:.4g}",
                 f"{e['multiplier']:.4g}", f"{row['lr']:.4g}", f"{e['lr']:.4g}", "ok" if not wrong else "DISAGREES: " + ", ".join(wrong)]
            )
        widths = [max(len(r[i]) for r in [header] + table) for i in range(len(header))]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in table]
    agreeing = sum(r["agrees"] for r in rows)
    lines.append(f"applied scales: {agreeing} of {len(rows)} (parameter, width) pairs get the checker's std, multiplier and learning rate")
    return "\n".join(lines)


def grid_warnings(widths, seeds: int, steps: int) -> list[str]:
    """Check the measurement grid: raise for one that cannot be fitted, and return warnings
    where it is smaller than the protocol (at least 4 widths, factor 2, spanning 8x or more;
    at least 4 seeds; at least 3 steps)."""
    from .runtime.errors import ConfigurationError

    if len(set(widths)) != len(widths):
        raise ConfigurationError(f"coordinate-check widths repeat: {sorted(widths)}; give each width once")
    if len(widths) < 2:
        raise ConfigurationError(f"a slope needs at least 2 widths, got {list(widths)}")
    warnings = []
    ordered = sorted(widths)
    if len(widths) < 4 or ordered[-1] < 8 * ordered[0]:
        warnings.append(f"widths {ordered} are fewer than 4 or span less than 8x: slopes are unreliable")
    if any(b != 2 * a for a, b in zip(ordered, ordered[1:])):
        warnings.append("widths are not spaced by factors of 2")
    if ordered[0] < 256:
        warnings.append(f"widths below 256 (here {ordered[0]}) carry visible 1/sqrt(n) corrections")
    if seeds < 4:
        warnings.append(f"{seeds} seed(s): the 90% intervals need at least 4")
    if steps < 3:
        warnings.append(f"{steps} step(s): a readout that starts small shows its regime only from step 2 on; use 3 or more")
    return warnings


@attrs.frozen
class CoordResult:
    report: CheckReport
    measurements: coord.Measurements
    rows: list[Row]
    settings: dict
    scales: list[dict] = attrs.Factory(list)
    warnings: list[str] = attrs.Factory(list)

    @property
    def passed(self) -> bool:
        slopes_ok = all(r.agrees for r in self.rows) and not any(r.blows_up for r in self.rows)
        return slopes_ok and all(r["agrees"] for r in self.scales)

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
            "scales": self.scales,
            "warnings": self.warnings,
        }


def run_coord(ir: SpecIR, module, *, widths=None, steps=None, seeds=None, lr=None, device="cpu", dtype="float32", progress=None) -> CoordResult:
    """Measure a spec's coordinate scaling and judge it against the checker's predictions."""
    settings = dict(ir.coord)
    widths = tuple(widths or settings["widths"])
    steps = steps or settings["steps"]
    seeds = seeds or settings["seeds"]
    warnings = grid_warnings(widths, seeds, steps)
    lr_value = lr if lr is not None else float(settings["lr"])
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
    scales = scale_rows(report, module, widths, lr_value)
    used = {"widths": list(widths), "steps": steps, "seeds": seeds, "lr": lr_value, "batch": batch_size, "probe": int(probe.shape[0]), "dtype": dtype}
    return CoordResult(report, measurements, rows, used, scales, warnings)


def print_result(result: CoordResult, as_json: bool, all_scales: bool = False) -> None:
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
        return
    ir = result.report.ir
    s = result.settings
    print(
        f"{ir.name}: coordinate check over widths {s['widths']}, {s['seeds']} seeds, steps 0..{s['steps']}, "
        f"lr {s['lr']}, {s['probe']} probe samples ({result.measurements.seconds:.1f} s)"
    )
    for warning in result.warnings:
        print(f"warning: {warning}")
    print("slopes of log(rms) against log(n); h: pre-activation, dh: change since init, dWx: own update")
    print(format_rows(result.rows))
    print(format_scales(result.scales, all_scales))
    if result.passed:
        print(f"passed: every slope agrees with the checker ({result.report.regime}, {'muP' if result.report.mup else 'not muP'})")
    else:
        disagreeing = sorted({f"{r.node} {LABELS[r.quantity]} t={r.step}" for r in result.rows if not r.agrees})
        if result.blowing_up():
            print("FAILED: blows up with width at " + ", ".join(f"`{n}`" for n in result.blowing_up()))
        if disagreeing:
            print("FAILED: measured slopes disagree with the predictions at " + ", ".join(disagreeing))
        wrong_scales = sorted({r["name"] for r in result.scales if not r["agrees"]})
        if wrong_scales:
            print("FAILED: the generated trainer does not apply the checker's scales to " + ", ".join(wrong_scales))


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
            expected = predicted(result.report, node, quantity, step)
            exact = expected.kind == "exact" and math.isfinite(expected.high)
            slope = float(expected.high) + sum(error_drift(result.report, measurements, step)) / 2 * expected.change if exact else None
            series.append({"label": node, "values": measurements.values[key][:, :, step], "slope": slope})
        panels.append({"title": f"t = {step}: {'h' if step == 0 else 'h_t - h_0'}", "series": series})
    plot_coordinates(path, measurements.widths, panels, f"{result.report.ir.name} coordinate check")
