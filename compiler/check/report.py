"""The checker's result: verdicts, per-parameter exponents, per-node predictions, diagnostics.

`CheckReport.to_json` is the `localmup check --json` document and `format_text` the human
table. Exponents are exact fraction strings ("1/2", "-1", "inf").
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from ..errors import ERROR, NOTE, WARNING, Diagnostic
from ..ir import SpecIR
from .exponents import Calculus
from .params import Parameter
from .verdicts import fmt


@attrs.frozen
class Prediction:
    """Predicted width exponent of one measured tensor at one step class.

    `kind` is "exact" (the slope should equal `exponent`), "zero" (the tensor is exactly 0),
    "grows" (after a blow-up upstream: only a positive slope can be asserted) or "unknown"
    (after a blow-up elsewhere: nothing is asserted).
    """

    exponent: Any
    kind: str

    @classmethod
    def of(cls, exponent, bound: bool, unknown: bool = False) -> "Prediction":
        if unknown:
            return cls(exponent, "unknown")
        if exponent == -math.inf:
            return cls(exponent, "zero")
        if bound:
            return cls(exponent, "grows")
        return cls(exponent, "exact")

    def to_json(self) -> dict:
        return {"exponent": fmt(self.exponent), "kind": self.kind}


@attrs.frozen
class NodePredictions:
    """Predictions for one node: its init scale, change since init and own contribution,
    for step 1 (`*_first`) and steps >= 2."""

    node: str
    kind: str
    init: Prediction
    delta_first: Prediction
    delta: Prediction
    own_first: Prediction | None
    own: Prediction | None
    propagated_first: Any = -math.inf
    propagated: Any = -math.inf
    own_low_first: Any = -math.inf
    own_low: Any = -math.inf
    delta_low_first: Any = -math.inf
    delta_low: Any = -math.inf

    def to_json(self) -> dict:
        result = {
            "node": self.node,
            "kind": self.kind,
            "init": self.init.to_json(),
            "delta_first": self.delta_first.to_json(),
            "delta": self.delta.to_json(),
        }
        if self.own is not None:
            result["own_first"] = self.own_first.to_json()
            result["own"] = self.own.to_json()
        return result


@attrs.frozen
class CheckReport:
    """Everything `localmup check` reports about one spec."""

    ir: SpecIR
    parameters: tuple[Parameter, ...]
    calculus: Calculus
    stable: bool
    nontrivial: bool
    regime: str
    mup: bool
    diagnostics: tuple[Diagnostic, ...]
    predictions: tuple[NodePredictions, ...]

    @property
    def passed(self) -> bool:
        """Whether the verdict passes: stable and nontrivial (exit status 0)."""
        return self.stable and self.nontrivial

    def prediction(self, node: str) -> NodePredictions:
        return next(p for p in self.predictions if p.node == node)

    def layer_rows(self) -> list[dict]:
        rows = []
        for parameter in self.parameters:
            exps = self.calculus.params.get(parameter.name)
            rows.append(
                {
                    "name": parameter.name,
                    "node": parameter.node,
                    "kind": parameter.kind,
                    "role": parameter.role,
                    "a": fmt(parameter.a_eff),
                    "b": fmt(parameter.b_eff),
                    "c": fmt(parameter.c_eff),
                    "s": fmt(exps.s) if exps else None,
                    "u": fmt(exps.u) if exps else None,
                    "r": fmt(exps.r) if exps else None,
                    "r_first": fmt(exps.r_first) if exps else None,
                    "mult": float(parameter.mult.value),
                    "std": float(parameter.std.value),
                    "lr": float(parameter.lr.value),
                    "source": parameter.source,
                }
            )
        return rows

    def to_json(self) -> dict:
        c = self.calculus
        return {
            "spec": self.ir.name,
            "path": self.ir.path,
            "rule": self.ir.rule,
            "optimizer": self.ir.optimizer,
            "width": self.ir.width,
            "base": self.ir.base,
            "stable": self.stable,
            "nontrivial": self.nontrivial,
            "regime": self.regime,
            "mup": self.mup,
            "r": fmt(c.r),
            "rho_update": fmt(c.rho_update),
            "rho_init": fmt(c.rho_init),
            "layers": self.layer_rows(),
            "predictions": [p.to_json() for p in self.predictions],
            "diagnostics": [
                {
                    "code": d.code,
                    "severity": d.severity,
                    "layer": d.layer,
                    "message": d.message,
                    "condition": d.condition,
                    "fix": d.fix,
                    "line": d.span.line or None,
                    "column": d.span.column or None,
                }
                for d in self.diagnostics
            ],
        }

    def format_text(self) -> str:
        """Render the report as tables and diagnostics for a terminal."""
        ir = self.ir
        lines = [
            f"{ir.name}: rule {ir.rule}, optimizer {ir.optimizer}, width n = {ir.width}, base {ir.base} (m = n / {ir.base})",
            "",
            "parameters (effective exponents: W = mult m^-a w, w ~ N(0, (std m^-b)^2), lr = eta lr m^-c)",
        ]
        header = ["parameter", "role", "a", "b", "c", "r(t=1)", "r", "dWx", "source"]
        rows = []
        for row in self.layer_rows():
            rows.append(
                [
                    row["name"],
                    row["role"],
                    row["a"],
                    row["b"],
                    row["c"],
                    row["r_first"],
                    row["r"],
                    _neg(row["r"]),
                    row["source"],
                ]
            )
        lines.extend(_table(header, rows))
        lines.append("")
        lines.append("predicted width exponents (coordinate rms ~ m^e; '0!' exactly zero, '>' grows at least, '?' not predicted)")
        header = ["node", "h_0", "dh t=1", "dh t>=2", "own dWx t>=2"]
        rows = []
        for p in self.predictions:
            rows.append([p.node, _show(p.init), _show(p.delta_first), _show(p.delta), _show(p.own) if p.own else "-"])
        lines.extend(_table(header, rows))
        lines.append("")
        c = self.calculus
        lines.append(f"r = {fmt(c.r)}, readout update term rho_upd = {fmt(c.rho_update)}, readout init term rho_init = {fmt(c.rho_init)}")
        if self.stable:
            verdict = f"stable, {'nontrivial' if self.nontrivial else 'TRIVIAL'}, regime {self.regime}, {'muP' if self.mup else 'not muP'}"
        else:
            verdict = "UNSTABLE at large width, not muP"
        lines.append(f"verdict: {verdict}")
        ordered = sorted(self.diagnostics, key=lambda d: {ERROR: 0, WARNING: 1, NOTE: 2}[d.severity])
        if ordered:
            lines.append("")
            lines.extend(d.format(ir.path, ir.source) for d in ordered)
        return "\n".join(lines)


def _neg(text: str | None) -> str:
    if text is None:
        return "-"
    if text == "inf":
        return "-inf"
    if text == "-inf":
        return "inf"
    if text == "0":
        return "0"
    return text[1:] if text.startswith("-") else "-" + text


def _show(prediction: Prediction) -> str:
    if prediction.kind == "unknown":
        return "?"
    if prediction.kind == "zero":
        return "0!"
    if prediction.kind == "grows":
        return ">" + fmt(prediction.exponent)
    return fmt(prediction.exponent)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    out = ["  " + "  ".join(str(h).ljust(w) for h, w in zip(header, widths)).rstrip()]
    for row in rows:
        out.append("  " + "  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    return out
