"""Width-exponent calculus of abc-parameterizations on a spec's graph.

Every quantity is a coordinate-size exponent e, meaning "scales like m^e" with m = n / base;
-inf means identically zero. Exponents are exact fractions (floats only for +-inf).

For each parameter p the calculus computes
    s_p = a + b                                   (forward scale)
    u_p = 2a + c (SGD) or a + c (Adam)            (update scale)
    sigma_p                                       (the error that drives its update ~ m^-sigma)
    r_p = sigma_p + u_p - kappa_p (SGD), u_p - kappa_p (Adam)
where kappa_p is 1 when the fan-in grows. -r_p is the exponent of the layer's own update
contribution dW x. The driving error is the backprop delta (bp), the prediction error
(pc, gamma_L / gamma_l times the backprop delta at equilibrium) or the target shift
tau - h (tp, sent down through the feedback weights). Step 1 is computed with the weights
at init, steps >= 2 with their updated scales, which differ when the readout starts small.

For each node the calculus propagates the init scale forward, the driving errors backward,
and the feature changes dh forward again. docs/theory.md states the rules and their sources.
"""

from __future__ import annotations

import math
from fractions import Fraction

import attrs
import networkx as nx

from ..ir import SpecIR
from .params import Parameter, precision_exponents

Exponent = Fraction | float

NEG_INF = -math.inf
POS_INF = math.inf
FIRST, LATER = "first", "later"  # step 1 and steps >= 2


@attrs.frozen
class ParamExponents:
    """Exponents of one parameter; `*_first` hold step 1, the others steps >= 2."""

    s: Exponent
    u: Exponent
    kappa: int
    signal_first: Exponent
    signal: Exponent
    r_first: Exponent
    r: Exponent


@attrs.frozen
class NodeExponents:
    """Predicted exponents at one node; `*_first` hold step 1, the others steps >= 2.

    `init` is the pre-activation (dense) or value (add, input) at init, and `delta` the
    change of that tensor since init. The change is the larger of `own`, the node's own
    update contribution dW x + db, and `propagated`, the change arriving from its sources. Where `bound` is
    true, a blow-up upstream makes the prediction a lower bound only; where `unknown` is
    true, a blow-up elsewhere at step 1 changes the backward signal of later steps in a way
    the calculus does not follow.
    """

    init: Exponent
    value: Exponent
    driver_first: Exponent
    driver: Exponent
    own_first: Exponent
    own: Exponent
    delta_first: Exponent
    delta: Exponent
    bound_first: bool
    bound: bool
    propagated_first: Exponent = NEG_INF
    propagated: Exponent = NEG_INF
    unknown: bool = False
    own_low_first: Exponent = NEG_INF  # the smallest finite term of dW x + db (weight or bias)
    own_low: Exponent = NEG_INF
    delta_low_first: Exponent = NEG_INF  # the smallest finite term in the change, upstream ones included
    delta_low: Exponent = NEG_INF


@attrs.frozen
class Calculus:
    """The whole calculus of a spec: per parameter, per node, and the output's terms."""

    params: dict[str, ParamExponents]
    nodes: dict[str, NodeExponents]
    r: Exponent  # min r_p over non-output forward parameters (steps >= 2)
    r_first: Exponent
    rho_update: Exponent  # readout update term, exponent of dW_out x
    rho_init: Exponent  # readout init term, exponent of W_out,0 dx
    rho_update_first: Exponent
    rho_init_first: Exponent
    init_gain: Exponent  # exponent gain of the readout on its input's change
    aligned_readout: bool
    inference_curvature: Exponent | None  # pc: exponent of the state Hessian's largest eigenvalue
    unreached: tuple[str, ...]  # pc: nodes that parallel inference never reaches


def activation_exponent(activation: str, exponent: Exponent) -> Exponent:
    """Exponent of phi(h) given the exponent of h: saturating activations clip at 0."""
    if activation == "tanh":
        return min(exponent, Fraction(0))
    if activation == "sigmoid":
        return Fraction(0)
    return exponent


def _plus(*terms: Exponent) -> Exponent:
    if any(t == NEG_INF for t in terms):
        return NEG_INF
    total: Exponent = Fraction(0)
    for term in terms:
        total = total + term
    return total


def _max(values, default: Exponent = NEG_INF) -> Exponent:
    values = list(values)
    return max(values) if values else default


def compute(ir: SpecIR, parameters: list[Parameter]) -> Calculus:
    """Run the exponent calculus on a spec whose parameters are resolved."""
    return _Calculator(ir, parameters).run()


class _Calculator:
    def __init__(self, ir: SpecIR, parameters: list[Parameter]):
        self.ir = ir
        self.graph: nx.DiGraph = ir.graph
        self.sgd = ir.optimizer == "sgd"
        self.by_name = {p.name: p for p in parameters}
        self.order = [n for n in ir.topological_nodes() if n in nx.ancestors(ir.graph, ir.output) | {ir.output}]
        self.precision = precision_exponents(ir) if ir.rule == "pc" else {n: Fraction(0) for n in ir.dense_nodes()}
        self.s = {p.name: _plus(p.a_eff, p.b_eff) for p in parameters}
        self.u = {p.name: (2 * p.a_eff + p.c_eff) if self.sgd else (p.a_eff + p.c_eff) for p in parameters}

    # --- helpers ---

    def weight(self, node: str) -> Parameter:
        return self.by_name[f"{node}.weight"]

    def node_params(self, node: str) -> list[Parameter]:
        names = [f"{node}.weight", f"{node}.bias"]
        return [self.by_name[n] for n in names if n in self.by_name]

    def dense_consumers(self, node: str) -> list[str]:
        """Dense nodes that read `node`, directly or through add nodes."""
        result = []
        for child in self.graph.successors(node):
            if child not in self.order:
                continue
            if self.graph.nodes[child]["kind"] == "dense":
                result.append(child)
            else:
                result.extend(self.dense_consumers(child))
        return result

    # --- forward scale at init ---

    def init_exponents(self) -> tuple[dict[str, Exponent], dict[str, Exponent]]:
        init, value = {}, {}
        for node in self.order:
            data = self.graph.nodes[node]
            if data["kind"] == "input":
                init[node] = value[node] = Fraction(0)
            elif data["kind"] == "add":
                init[node] = value[node] = _max(value[s] for s in data["sources"])
            else:
                weight = self.weight(node)
                terms = [_plus(value[data["sources"][0]], Fraction(weight.fan_in_exponent, 2), -self.s[weight.name])]
                bias = self.by_name.get(f"{node}.bias")
                if bias is not None:
                    terms.append(-self.s[bias.name])
                init[node] = _max(terms)
                value[node] = activation_exponent(data["activation"], init[node])
        return init, value

    # --- driving errors, backward ---

    def _transfer(self, child: str, weighted: Exponent, driver: Exponent, step: str) -> Exponent:
        """Exponent of W_child^T v for v ~ m^weighted, at init (step 1) or after updates.

        Only a layer with a fixed fan-out (the readout) changes the backward scale by its
        updates: dW^T v then sums a fixed number of terms, m^(-u) each. For a width-sized
        fan-out the update term exceeds the init term only when the layer itself blows up
        (r < 0), where predictions are lower bounds anyway.
        """
        weight = self.weight(child)
        kappa_out = weight.fan_out_exponent
        at_init = _plus(weighted, Fraction(kappa_out, 2), -self.s[weight.name])
        if step == FIRST or kappa_out:
            return at_init
        if not self.sgd:
            driver = Fraction(0) if driver > NEG_INF else NEG_INF
        updated = _plus(-self.u[weight.name], weighted, driver)
        return max(at_init, updated)

    def errors(self, step: str, unreached: set[str]) -> dict[str, Exponent]:
        """Exponent of the error that drives each dense node's update (bp and pc)."""
        energy = self.ir.rule == "pc" and self.ir.rule_settings.get("update") == "energy"
        output = self.ir.output
        raw = {output: Fraction(0)}
        weighted = {output: self.precision[output]}
        driver = {output: weighted[output] if energy else raw[output]}
        incoming: dict[str, Exponent] = {}
        for node in reversed(self.order):
            data = self.graph.nodes[node]
            if node == output or data["kind"] == "input":
                continue
            contributions = []
            for child in self.graph.successors(node):
                if child not in self.order:
                    continue
                if self.graph.nodes[child]["kind"] == "dense":
                    contributions.append(self._transfer(child, weighted[child], driver[child], step))
                else:
                    contributions.append(incoming[child])
            incoming[node] = _max(contributions)
            if data["kind"] == "dense":
                if node in unreached:
                    raw[node] = weighted[node] = driver[node] = NEG_INF
                    continue
                weighted[node] = incoming[node]
                raw[node] = _plus(incoming[node], -self.precision[node])
                driver[node] = weighted[node] if energy else raw[node]
        return driver

    def target_shifts(self, step: str, value: dict[str, Exponent]) -> dict[str, Exponent]:
        """Exponent of the target shift tau - h at each node (tp)."""
        output = self.ir.output
        shift = {output: Fraction(0)}
        plain = self.ir.rule_settings.get("variant") == "tp"
        feedback_trained = self.ir.feedback_settings.get("steps", 0) > 0
        for node in reversed(self.order):
            data = self.graph.nodes[node]
            if node == output or data["kind"] == "input":
                continue
            contributions = []
            for child in self.graph.successors(node):
                if child not in self.order:
                    continue
                if self.graph.nodes[child]["kind"] == "add":
                    contributions.append(shift[child])
                    continue
                feedback = self.by_name[f"{child}.feedback"]
                kappa_in = Fraction(feedback.fan_in_exponent, 2)
                term = _plus(shift[child], kappa_in, -self.s[feedback.name])
                # As in _transfer: trained feedback weights with a fixed fan-in (the readout's
                # Q) change the target scale to m^(-u) once they have been updated.
                if step == LATER and feedback_trained and not feedback.fan_in_exponent:
                    term = max(term, _plus(shift[child], -self.u[feedback.name]))
                contributions.append(term)
            shift[node] = _max(contributions)
            if plain:
                # Plain TP sets tau = g(tau_child), which also carries the inverse's
                # reconstruction error, of the size of h itself.
                shift[node] = max(shift[node], value[node])
        return shift

    # --- update exponents ---

    def r_of(self, parameter: Parameter, signal: Exponent) -> Exponent:
        if signal == POS_INF:
            return POS_INF
        kappa = parameter.fan_in_exponent if parameter.kind != "bias" else 0
        if self.sgd:
            return _plus(signal, self.u[parameter.name], -kappa)
        return _plus(self.u[parameter.name], -kappa)

    def unreached_nodes(self) -> set[str]:
        """Nodes whose error stays 0 because parallel inference stops before reaching them."""
        settings = self.ir.rule_settings
        if self.ir.rule != "pc" or settings.get("schedule") != "parallel" or settings.get("init") != "forward":
            return set()
        distance = {self.ir.output: 0}
        for node in reversed(self.order):
            if self.graph.nodes[node]["kind"] != "dense" or node == self.ir.output:
                continue
            consumers = self.dense_consumers(node)
            distance[node] = 1 + min(distance[c] for c in consumers) if consumers else math.inf
        return {n for n, d in distance.items() if d > settings["steps"]}

    def inference_curvature(self) -> Exponent | None:
        """Exponent of the largest eigenvalue of the pc state Hessian."""
        if self.ir.rule != "pc":
            return None
        terms = []
        for node in self.order:
            if self.graph.nodes[node]["kind"] != "dense" or node == self.ir.output:
                continue
            terms.append(self.precision[node])
            for child in self.dense_consumers(node):
                weight = self.weight(child)
                norm = max(weight.fan_in_exponent, weight.fan_out_exponent)
                terms.append(_plus(self.precision[child], Fraction(norm), -2 * self.s[weight.name]))
        return _max(terms, Fraction(0))

    # --- feature changes, forward ---

    def gain(self, node: str, aligned: bool) -> Exponent:
        weight = self.weight(node)
        kappa_in = weight.fan_in_exponent
        if aligned and weight.fan_out_exponent == 0:
            return _plus(Fraction(kappa_in), -self.s[weight.name])
        return _plus(Fraction(kappa_in, 2), -self.s[weight.name])

    def deltas(self, r: dict[str, Exponent], aligned: bool):
        """Exponents of each node's own update contribution, of the change arriving from its
        sources, and of its change since init."""
        own, own_low, propagated, delta, delta_low = {}, {}, {}, {}, {}
        for node in self.order:
            data = self.graph.nodes[node]
            sources = data["sources"]
            if data["kind"] == "input":
                delta[node] = delta_low[node] = NEG_INF
            elif data["kind"] == "add":
                delta[node] = _max(delta[s] for s in sources)
                delta_low[node] = _min_finite(delta_low[s] for s in sources)
            else:
                terms = [-r[p.name] for p in self.node_params(node)]
                own[node] = _max(terms)
                finite = [t for t in terms if t > NEG_INF]
                own_low[node] = min(finite) if finite else NEG_INF
                gain = self.gain(node, aligned)
                propagated[node] = _plus(delta[sources[0]], gain)
                delta[node] = max(own[node], propagated[node])
                delta_low[node] = _min_finite([own_low[node], own[node], _plus(delta_low[sources[0]], gain)])
        return own, own_low, propagated, delta, delta_low

    def bounds(self, blown: set[str], itself: set[str]) -> dict[str, bool]:
        """Mark nodes whose prediction is only a lower bound: downstream of a blow-up in
        `blown`, or a node of `itself` (a blow-up that compounds on later steps)."""
        return {
            node: node in itself or any(a in blown for a in nx.ancestors(self.graph, node))
            for node in self.order
        }

    # --- everything ---

    def run(self) -> Calculus:
        ir = self.ir
        init, value = self.init_exponents()
        unreached = self.unreached_nodes()

        drivers = {}
        for step in (FIRST, LATER):
            if ir.rule == "tp":
                drivers[step] = self.target_shifts(step, value)
            else:
                drivers[step] = self.errors(step, unreached)

        param_exponents = {}
        r = {FIRST: {}, LATER: {}}
        for parameter in self.by_name.values():
            if parameter.node not in self.order:
                continue  # a node that does not reach the output never trains (warning W201)
            signals = {}
            for step in (FIRST, LATER):
                if parameter.kind == "feedback":
                    # The reconstruction error that trains Q is of the size of h: Theta(1).
                    signals[step] = Fraction(0)
                else:
                    driver = drivers[step][parameter.node]
                    signals[step] = -driver
                r[step][parameter.name] = self.r_of(parameter, signals[step])
            param_exponents[parameter.name] = ParamExponents(
                s=self.s[parameter.name],
                u=self.u[parameter.name],
                kappa=parameter.fan_in_exponent if parameter.kind != "bias" else 0,
                signal_first=signals[FIRST],
                signal=signals[LATER],
                r_first=r[FIRST][parameter.name],
                r=r[LATER][parameter.name],
            )

        aligned = ir.rule in ("bp", "pc")
        own_first, own_low_first, propagated_first, delta_first, delta_low_first = self.deltas(r[FIRST], aligned)
        own, own_low, propagated, delta, delta_low = self.deltas(r[LATER], aligned)
        dense = [n for n in self.order if self.graph.nodes[n]["kind"] == "dense"]
        blown_first = {n for n in dense if own_first[n] > 0 or (init[n] > 0 and n != ir.output)}
        blown_later = blown_first | {n for n in dense if own[n] > 0}
        bound_first = self.bounds(blown_first, set())
        bound = self.bounds(blown_later, blown_first)
        # After a blow-up at step 1 the backward signal of every later step is out of scale,
        # so only nodes at or below a blow-up keep a prediction (that they grow).
        unknown = {node: bool(blown_first) and not bound[node] for node in self.order}

        nodes = {}
        for node in self.order:
            data = self.graph.nodes[node]
            dense = data["kind"] == "dense"
            nodes[node] = NodeExponents(
                init=init[node],
                value=value[node],
                driver_first=drivers[FIRST].get(node, NEG_INF) if dense else NEG_INF,
                driver=drivers[LATER].get(node, NEG_INF) if dense else NEG_INF,
                own_first=own_first.get(node, NEG_INF),
                own=own.get(node, NEG_INF),
                delta_first=delta_first[node],
                delta=delta[node],
                bound_first=bound_first[node],
                bound=bound[node],
                propagated_first=propagated_first.get(node, NEG_INF),
                propagated=propagated.get(node, NEG_INF),
                unknown=unknown[node],
                own_low_first=own_low_first.get(node, NEG_INF),
                own_low=own_low.get(node, NEG_INF),
                delta_low_first=delta_low_first[node],
                delta_low=delta_low[node],
            )

        output = ir.output
        source = self.graph.nodes[output]["sources"][0]
        hidden = [
            p for p in self.by_name.values()
            if p.kind != "feedback" and p.node != output and p.node in self.order
        ]
        init_gain = self.gain(output, aligned)
        return Calculus(
            params=param_exponents,
            nodes=nodes,
            r=_min_r(r[LATER], hidden),
            r_first=_min_r(r[FIRST], hidden),
            rho_update=own[output],
            rho_init=_plus(delta[source], init_gain),
            rho_update_first=own_first[output],
            rho_init_first=_plus(delta_first[source], init_gain),
            init_gain=init_gain,
            aligned_readout=aligned,
            inference_curvature=self.inference_curvature(),
            unreached=tuple(n for n in self.order if n in unreached),
        )


def _min_finite(values) -> Exponent:
    finite = [v for v in values if v > NEG_INF]
    return min(finite) if finite else NEG_INF


def _min_r(r: dict[str, Exponent], parameters: list[Parameter]) -> Exponent:
    values = [r[p.name] for p in parameters]
    return min(values) if values else POS_INF
