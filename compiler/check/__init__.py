"""Parameterization checker: stability, regime and muP verdicts with predicted exponents.

    report = check(ir)
    report.stable, report.regime, report.mup, report.diagnostics

The checker resolves every parameter (params.py), runs the width-exponent calculus on the
graph (exponents.py), applies one small rule per diagnostic code (verdicts.py) and collects
the result in a `CheckReport` (report.py).
"""

from __future__ import annotations

from ..ir import SpecIR
from . import exponents
from .params import Parameter, resolve_parameters
from .report import CheckReport, NodePredictions, Prediction
from .verdicts import CODES, Rules, regime_diagnostic, trivial_diagnostic, verdicts

__all__ = ["check", "CheckReport", "Parameter", "CODES"]


def check(ir: SpecIR) -> CheckReport:
    """Check the parameterization of a spec and predict how every tensor scales with width."""
    parameters = resolve_parameters(ir)
    calculus = exponents.compute(ir, parameters)
    diagnostics = Rules(ir, parameters, calculus).run()
    result = verdicts(ir, parameters, calculus, diagnostics)
    if result["stable"] and not result["nontrivial"]:
        diagnostics.append(trivial_diagnostic(ir, parameters, calculus))
    if result["stable"] and result["nontrivial"]:
        diagnostics.append(regime_diagnostic(ir, parameters, calculus, result["regime"]))
    return CheckReport(
        ir=ir,
        parameters=tuple(parameters),
        calculus=calculus,
        diagnostics=tuple(diagnostics),
        predictions=tuple(_predictions(ir, calculus)),
        **result,
    )


def _predictions(ir: SpecIR, calculus: exponents.Calculus) -> list[NodePredictions]:
    result = []
    for node, exps in calculus.nodes.items():
        kind = ir.graph.nodes[node]["kind"]
        if kind == "input":
            continue
        dense = kind == "dense"
        result.append(
            NodePredictions(
                node=node,
                kind=kind,
                init=Prediction.of(exps.init, False),
                delta_first=Prediction.of(exps.delta_first, exps.bound_first),
                propagated_first=exps.propagated_first,
                propagated=exps.propagated,
                own_low_first=exps.own_low_first,
                own_low=exps.own_low,
                delta_low_first=exps.delta_low_first,
                delta_low=exps.delta_low,
                delta=Prediction.of(exps.delta, exps.bound, exps.unknown),
                own_first=Prediction.of(exps.own_first, exps.bound_first) if dense else None,
                own=Prediction.of(exps.own, exps.bound, exps.unknown) if dense else None,
            )
        )
    return result
