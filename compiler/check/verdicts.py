"""Checker rules: each function tests one condition and returns its diagnostics.

Codes are stable: C1xx init scale, C2xx training stability, C3xx triviality and regime,
C4xx maximal updates (muP), C5xx rule-specific notes, C6xx optimizer, C7xx presets and
scope. Errors make a spec unstable or trivial (exit 1); warnings and notes do not.
Each docstring states the condition, with exponents of m = n / base as in exponents.py.
"""

from __future__ import annotations

import math
from fractions import Fraction

import attrs

from ..errors import ERROR, NOTE, WARNING, Diagnostic
from ..ir import SpecIR
from .exponents import Calculus
from .params import Parameter

CODES = {
    "C101": "activations blow up or vanish at init",
    "C102": "output blows up at init",
    "C201": "feature updates blow up",
    "C202": "output update blows up",
    "C203": "output change through the features blows up",
    "C204": "feedback updates blow up",
    "C205": "targets blow up",
    "C206": "predictive-coding inference diverges at large width",
    "C301": "output does not move (trivial)",
    "C302": "regime",
    "C401": "parameter not updated maximally",
    "C402": "readout not updated maximally",
    "C403": "readout init not maximal",
    "C404": "feedback weights not updated maximally",
    "C405": "layer never receives an error",
    "C501": "predictions assume forward initialization",
    "C502": "output precision outside the analysed range",
    "C503": "reconstructed theory",
    "C504": "plain target propagation",
    "C601": "Adam epsilon larger than the gradients at large width",
    "C701": "default parameterization",
    "C702": "default feedback parameterization",
    "C703": "graph outside the theory",
}


def fmt(value) -> str:
    """Format an exponent as an exact string: "1/2", "-1", "inf"."""
    if value == math.inf:
        return "inf"
    if value == -math.inf:
        return "-inf"
    return str(Fraction(value))


def power(value) -> str:
    """Format m^value for a message."""
    if value == -math.inf:
        return "0 (exactly)"
    return f"m^{fmt(value)}" if Fraction(value).denominator == 1 else f"m^({fmt(value)})"


class Rules:
    """The checker rules of one spec; `run` returns every diagnostic in a stable order."""

    def __init__(self, ir: SpecIR, parameters: list[Parameter], calculus: Calculus, joint: bool = True):
        self.ir = ir
        self.joint = joint
        self._pending_fix: tuple | None = None
        self._structured: dict[int, tuple] = {}
        self.fixes: dict[int, tuple[str, str, object]] = {}  # diagnostic index -> (parameter, key, value)
        self.parameters = parameters
        self.calculus = calculus
        self.sgd = ir.optimizer == "sgd"
        self.output = ir.output
        self.forward = [p for p in parameters if p.kind != "feedback" and p.node in calculus.nodes]
        self.hidden = [p for p in self.forward if p.node != self.output]
        self.readout = [p for p in self.forward if p.node == self.output]
        self.feedback = [p for p in parameters if p.kind == "feedback" and p.node in calculus.nodes]

    def run(self) -> list[Diagnostic]:
        found: list[Diagnostic] = []
        for rule in (
            self.init_scale,
            self.output_init,
            self.feature_blowup,
            self.output_update_blowup,
            self.output_init_blowup,
            self.feedback_blowup,
            self.target_blowup,
            self.inference_divergence,
            self.not_maximal,
            self.readout_update_not_maximal,
            self.readout_init_not_maximal,
            self.feedback_not_maximal,
            self.unreached_layers,
            self.adam_epsilon,
            self.pc_notes,
            self.tp_notes,
            self.preset_notes,
            self.topology,
        ):
            for diagnostic in rule():
                structured = self._structured.get(id(diagnostic))
                found.append(diagnostic)
                if structured is not None:
                    self.fixes[len(found) - 1] = structured
        if self.joint:
            found = self._apply_joint_fixes(found)
        return found

    def _apply_joint_fixes(self, found: list[Diagnostic]) -> list[Diagnostic]:
        """Replace the per-layer fixes of stability errors by one consistent set.

        Each per-layer fix assumes every other layer stays as it is, but fixing the readout
        changes the backward signal of every hidden layer. The fixes are applied together
        and the calculus rerun until no stability error is left (at most 8 rounds).
        """
        from .exponents import compute

        unstable = [i for i, d in enumerate(found) if d.severity == ERROR and d.code[1] in "12" and i in self.fixes]
        if len(unstable) < 2:
            return found
        parameters = {p.name: p for p in self.parameters}
        final: dict[tuple[str, str], object] = {}
        for _ in range(8):
            calculus = compute(self.ir, list(parameters.values()))
            rules = Rules(self.ir, list(parameters.values()), calculus, joint=False)
            round_found = rules.run()
            errors = [j for j, d in enumerate(round_found) if d.severity == ERROR and d.code[1] in "12" and j in rules.fixes]
            if not errors:
                break
            # Fix root causes first: an init or feedback scale, then the readout, then hidden
            # learning rates, whose fixes depend on the readout's.
            first_code = min((round_found[j].code for j in errors), key=_FIX_ORDER.index)
            for j in [j for j in errors if round_found[j].code == first_code]:
                name, key, value = rules.fixes[j]
                parameters[name] = _with_exponent(parameters[name], key, value)
                final[(name, key)] = value
        else:
            return found
        result = list(found)
        changes = ", ".join(f"`{_statement(parameters[n])}: {k} = {fmt(v)}`" for (n, k), v in final.items())
        alternative = "" if self.parameters[0].source.startswith("param mup") else ", or `param mup` for every layer"
        for i in unstable:
            name, key, _ = self.fixes[i]
            if (name, key) in final:
                fix = f"together with the other layers: {changes}{alternative}"
            else:
                fix = f"none needed here: this follows from the other errors, which {changes} removes{alternative}"
            result[i] = attrs.evolve(result[i], fix=fix)
        return result

    # --- helpers ---

    def _diagnostic(self, severity, code, message, parameter=None, node=None, condition=None, fix=None):
        if parameter is not None:
            span, layer = parameter.span, parameter.name
        elif node is not None:
            span, layer = self.ir.graph.nodes[node]["span"], node
        else:
            span, layer = self.ir.graph.nodes[self.output]["span"], None
        diagnostic = Diagnostic(severity, code, message, span, fix=fix, layer=layer, condition=condition)
        if fix is not None and self._pending_fix is not None:
            self._structured[id(diagnostic)] = self._pending_fix
        self._pending_fix = None
        return diagnostic

    def _override(self, parameter: Parameter, key: str, value) -> str:
        self._pending_fix = (parameter.name, key, value)
        keyword = "inverse" if parameter.kind == "feedback" else "param"
        text = f"`{_statement(parameter)}: {key} = {fmt(value)}`"
        if not parameter.source.startswith(f"{keyword} mup"):
            text += f", or `{keyword} mup` for every layer"
        return text

    def _r_formula(self, parameter: Parameter, r) -> str:
        exps = self.calculus.params[parameter.name]
        signal = exps.signal if r == exps.r else exps.signal_first
        name = parameter.name
        if self.sgd and parameter.kind != "feedback":
            return f"r({name}) = sigma + u - kappa = {_terms(signal, exps.u, -exps.kappa)} = {fmt(r)}"
        return f"r({name}) = u - kappa = {_terms(exps.u, -exps.kappa)} = {fmt(r)}"

    # --- C1xx: init ---

    def init_scale(self) -> list[Diagnostic]:
        """C101: every non-output dense node has init exponent 0: s = kappa/2 for its weight
        (input layer s = 0, hidden s = 1/2) and s >= 0 for its bias."""
        found = []
        nodes = self.calculus.nodes
        for node in self.ir.dense_nodes():
            if node == self.output or node not in nodes:
                continue
            exponent = nodes[node].init
            source = self.ir.graph.nodes[node]["sources"][0]
            if exponent == 0 or nodes[source].value != 0:
                continue  # fine, or a consequence of an earlier node
            weight = next(p for p in self.forward if p.name == f"{node}.weight")
            s = self.calculus.params[weight.name].s
            target = Fraction(weight.fan_in_exponent, 2)
            verb = "blow up" if exponent > 0 else "vanish"
            bias = next((p for p in self.forward if p.name == f"{node}.bias"), None)
            if bias is not None and exponent > 0 and -self.calculus.params[bias.name].s == exponent:
                condition = f"s({bias.name}) = a + b = {fmt(self.calculus.params[bias.name].s)} < 0"
                fix = self._override(bias, "b", bias.b + exponent)
                culprit = bias
            else:
                growing = "grows" if weight.fan_in_exponent else "is fixed"
                condition = f"s({weight.name}) = a + b = {fmt(s)}, but a layer whose fan-in {growing} needs s = {fmt(target)}"
                fix = self._override(weight, "b", weight.b + exponent) if weight.b != math.inf else None
                culprit = weight
            found.append(
                self._diagnostic(ERROR, "C101", f"pre-activations of `{node}` {verb} at init like {power(exponent)}", culprit, condition=condition, fix=fix)
            )
        return found

    def output_init(self) -> list[Diagnostic]:
        """C102: output at init f_0 ~ m^(kappa/2 - s_out) needs exponent <= 0 (s_out >= 1/2)."""
        node = self.calculus.nodes[self.output]
        exponent = node.init
        source = self.ir.graph.nodes[self.output]["sources"][0]
        if exponent <= 0 or self.calculus.nodes[source].value > 0:
            return []
        weight = self.readout[0]
        s = self.calculus.params[weight.name].s
        return [
            self._diagnostic(
                ERROR,
                "C102",
                f"output `{self.output}` blows up at init like {power(exponent)}",
                weight,
                condition=f"s({weight.name}) = {fmt(s)} < 1/2",
                fix=self._override(weight, "b", weight.b + exponent),
            )
        ]

    # --- C2xx: training stability ---

    def feature_blowup(self) -> list[Diagnostic]:
        """C201: every non-output parameter has r >= 0 at every step (dW x = O(1))."""
        found = []
        for parameter in self.hidden:
            exps = self.calculus.params[parameter.name]
            r = min(exps.r, exps.r_first)
            if r >= 0:
                continue
            if exps.r_first < 0 and exps.r_first != exps.r:
                growth = f"from step 1: its contribution dW x grows like {power(-exps.r_first)} at step 1 and {power(-exps.r)} after"
            elif exps.r_first < 0:
                growth = f"from step 1: its contribution dW x grows like {power(-r)}"
            else:
                growth = f"from step 2: its contribution dW x grows like {power(-r)}"
            found.append(
                self._diagnostic(
                    ERROR,
                    "C201",
                    f"updates of `{parameter.name}` blow up {growth}",
                    parameter,
                    condition=self._r_formula(parameter, r) + " < 0",
                    fix=self._override(parameter, "c", parameter.c - r),
                )
            )
        return found

    def output_update_blowup(self) -> list[Diagnostic]:
        """C202: readout update term rho_upd = -r_out <= 0 (SGD r_out = sigma + u - kappa)."""
        found = []
        for parameter in self.readout:
            exps = self.calculus.params[parameter.name]
            r = min(exps.r, exps.r_first)
            if r >= 0:
                continue
            found.append(
                self._diagnostic(
                    ERROR,
                    "C202",
                    f"updates of `{parameter.name}` move the output like {power(-r)}",
                    parameter,
                    condition=self._r_formula(parameter, r) + " < 0",
                    fix=self._override(parameter, "c", parameter.c - r),
                )
            )
        return found

    def output_init_blowup(self) -> list[Diagnostic]:
        """C203: readout init term rho_init = gain - r <= 0, where gain = kappa - s_out when the
        features' change is aligned with W_out (bp, pc) and kappa/2 - s_out otherwise (tp)."""
        c = self.calculus
        rho = max(c.rho_init, c.rho_init_first)
        if rho <= 0 or any(self.calculus.params[p.name].r < 0 for p in self.hidden):
            return []
        weight = self.readout[0]
        s = c.params[weight.name].s
        gain = "kappa - s" if c.aligned_readout else "kappa/2 - s"
        return [
            self._diagnostic(
                ERROR,
                "C203",
                f"the initial readout `{weight.name}` turns feature changes into output changes that grow like {power(rho)}",
                weight,
                condition=f"rho_init = {gain} - r = {fmt(c.init_gain)} - {fmt(c.r)} = {fmt(rho)} > 0 (s = {fmt(s)})",
                fix=self._override(weight, "b", weight.b + rho) + " (or lower the hidden learning rates)",
            )
        ]

    def feedback_blowup(self) -> list[Diagnostic]:
        """C204: feedback weights have r_Q = u_Q - kappa_Q >= 0."""
        found = []
        for parameter in self.feedback:
            r = self.calculus.params[parameter.name].r
            if r >= 0:
                continue
            found.append(
                self._diagnostic(
                    ERROR,
                    "C204",
                    f"feedback updates of `{parameter.name}` blow up like {power(-r)}",
                    parameter,
                    condition=self._r_formula(parameter, r) + " < 0",
                    fix=self._override(parameter, "c", parameter.c - r),
                )
            )
        return found

    def target_blowup(self) -> list[Diagnostic]:
        """C205: target shifts tau - h stay O(1): the feedback weights Q have s = kappa_Q / 2."""
        if self.ir.rule != "tp":
            return []
        found = []
        for parameter in self.feedback:
            exps = self.calculus.params[parameter.name]
            target = Fraction(parameter.fan_in_exponent, 2)
            if exps.s >= target:
                continue
            found.append(
                self._diagnostic(
                    ERROR,
                    "C205",
                    f"targets sent down through `{parameter.name}` grow like {power(target - exps.s)}",
                    parameter,
                    condition=f"s({parameter.name}) = {fmt(exps.s)} < kappa/2 = {fmt(target)}",
                    fix=self._override(parameter, "b", parameter.b + target - exps.s),
                )
            )
        return found

    def inference_divergence(self) -> list[Diagnostic]:
        """C206: state_lr * lambda_max of the pc state Hessian stays O(1): e_lambda + e_kappa <= 0."""
        curvature = self.calculus.inference_curvature
        if curvature is None:
            return []
        step_exponent = self.ir.rule_settings["state_lr"].exponent
        total = curvature + step_exponent
        if total <= 0:
            return []
        return [
            self._diagnostic(
                ERROR,
                "C206",
                f"state_lr times the largest curvature of the energy grows like {power(total)}, so inference diverges at large width",
                node=self.output,
                condition=f"lambda_max ~ {power(curvature)} (precisions and readout scale), state_lr ~ {power(step_exponent)}",
                fix=f"scale the inference step down: `state_lr = {self.ir.rule_settings['state_lr'].value} * n^({fmt(step_exponent - total)})`, or keep the output precision exponent <= 1",
            )
        ]

    # --- C4xx: maximal updates ---

    def not_maximal(self) -> list[Diagnostic]:
        """C401: muP needs r = 0 for every input, hidden and bias parameter."""
        found = []
        for parameter in self.hidden:
            exps = self.calculus.params[parameter.name]
            if exps.r <= 0 or exps.r == math.inf or exps.r_first < 0:
                continue
            found.append(
                self._diagnostic(
                    WARNING,
                    "C401",
                    f"`{parameter.name}` is not updated maximally: its contribution dW x shrinks like {power(-exps.r)}",
                    parameter,
                    condition=self._r_formula(parameter, exps.r) + " > 0",
                    fix=self._override(parameter, "c", parameter.c - exps.r),
                )
            )
        return found

    def readout_update_not_maximal(self) -> list[Diagnostic]:
        """C402: muP updates the readout weight maximally: rho_upd = -r_out = 0."""
        weight = self.readout[0]
        exps = self.calculus.params[weight.name]
        if exps.r <= 0 or exps.r == math.inf:
            return []
        return [
            self._diagnostic(
                WARNING,
                "C402",
                f"the readout `{weight.name}` is not updated maximally: its updates move the output like {power(-exps.r)}",
                weight,
                condition=self._r_formula(weight, exps.r) + " > 0",
                fix=self._override(weight, "c", weight.c - exps.r),
            )
        ]

    def readout_init_not_maximal(self) -> list[Diagnostic]:
        """C403: muP initializes the readout maximally (rho_init = 0) or at zero."""
        c = self.calculus
        weight = self.readout[0]
        if weight.zero_init or c.rho_init >= 0 or c.r != 0:
            return []
        expected = "1/2" if not c.aligned_readout else "1"
        return [
            self._diagnostic(
                WARNING,
                "C403",
                f"the readout `{weight.name}` starts smaller than muP: feature changes reach the output only like {power(c.rho_init)}",
                weight,
                condition=f"s({weight.name}) = {fmt(c.params[weight.name].s)}, muP has s = {expected} (or zero init)",
                fix=self._override(weight, "b", weight.b + c.rho_init),
            )
        ]

    def feedback_not_maximal(self) -> list[Diagnostic]:
        """C404: muP for tp also trains the feedback weights maximally: r_Q = 0."""
        found = []
        for parameter in self.feedback:
            r = self.calculus.params[parameter.name].r
            if r <= 0 or r == math.inf:
                continue
            found.append(
                self._diagnostic(
                    WARNING,
                    "C404",
                    f"feedback weights `{parameter.name}` are not updated maximally (shrink like {power(-r)})",
                    parameter,
                    condition=self._r_formula(parameter, r) + " > 0",
                    fix=self._override(parameter, "c", parameter.c - r),
                )
            )
        return found

    def unreached_layers(self) -> list[Diagnostic]:
        """C405: with forward init and parallel inference, the error moves one layer per
        step, so a layer more than `steps` layers below the output never learns."""
        found = []
        steps = self.ir.rule_settings.get("steps")
        for node in self.calculus.unreached:
            found.append(
                self._diagnostic(
                    WARNING,
                    "C405",
                    f"`{node}` never receives an error: {steps} parallel inference steps do not reach it from the output",
                    node=node,
                    condition="parallel inference from forward init moves the error one layer per step",
                    fix="raise `steps` to the depth of the graph or use `schedule = sequential`",
                )
            )
        return found

    # --- C5xx: rule notes ---

    def pc_notes(self) -> list[Diagnostic]:
        """C501-C503: notes on the predictive-coding theory behind the predictions."""
        if self.ir.rule != "pc":
            return []
        found = []
        settings = self.ir.rule_settings
        if settings["init"] != "forward":
            found.append(
                self._diagnostic(
                    NOTE,
                    "C501",
                    f"`init = {settings['init']}` starts states away from the forward pass; the predictions assume the errors near their forward-init equilibrium",
                    node=self.output,
                )
            )
        p = self.ir.precisions.get(self.output)
        exponent = p.exponent if p is not None else Fraction(0)
        if not 0 <= exponent <= 1:
            found.append(
                self._diagnostic(
                    NOTE,
                    "C502",
                    f"output precision exponent p = {fmt(exponent)} lies outside [0, 1], the range where the predictive-coding muP is derived",
                    node=self.output,
                )
            )
        found.append(
            self._diagnostic(
                NOTE,
                "C503",
                "the predictive-coding exponents are reconstructed from the stability conditions; `localmup coord` measures them",
                node=self.output,
            )
        )
        return found

    def tp_notes(self) -> list[Diagnostic]:
        """C503-C504: notes on the target-propagation theory behind the predictions."""
        if self.ir.rule != "tp":
            return []
        found = [
            self._diagnostic(
                NOTE,
                "C503",
                "the target-propagation exponents are reconstructed (b = 1/2 at the readout is from the literature); `localmup coord` measures them",
                node=self.output,
            )
        ]
        if self.ir.rule_settings["variant"] == "tp":
            found.append(
                self._diagnostic(
                    NOTE,
                    "C504",
                    "plain target propagation sets hidden targets to g(tau), which also carries the inverse's reconstruction error of the size of h",
                    node=self.output,
                )
            )
        return found

    # --- C6xx: optimizer ---

    def adam_epsilon(self) -> list[Diagnostic]:
        """C601: Adam stays scale-invariant only while eps shrinks at least as fast as the
        gradient entries, which scale like m^-(a + sigma). Otherwise the layer acts like SGD."""
        if self.sgd:
            return []
        eps = self.ir.optim_settings["eps"]
        eps_decay = -eps.exponent
        affected = []
        for parameter in self.forward:
            exps = self.calculus.params[parameter.name]
            # The signal of steps >= 2 persists; step 1 differs only when the readout starts
            # small (zero readout: no hidden gradient at all at step 1).
            signal = exps.signal if exps.signal != math.inf else exps.signal_first
            decay = parameter.a_eff + signal
            if signal != math.inf and eps_decay < decay:
                affected.append((parameter, decay))
        if not affected:
            return []
        names = ", ".join(f"`{p.name}` (~{power(-d)})" for p, d in affected)
        fastest = max(d for _, d in affected)
        return [
            self._diagnostic(
                WARNING,
                "C601",
                f"at large width the gradients of {names} fall below Adam's eps (~{power(-eps_decay)}), and those layers train like SGD with learning rate eta m^-c / eps",
                affected[0][0],
                condition=f"eps shrinks like {power(-eps_decay)}, slower than the gradients",
                fix=f"scale eps with the width: `eps = {float(eps.value):g} * n^{fmt(-fastest) if Fraction(fastest).denominator == 1 else '(' + fmt(-fastest) + ')'}`",
            )
        ]

    # --- C7xx: presets and scope ---

    def preset_notes(self) -> list[Diagnostic]:
        """C701-C702: note a parameterization left at the default, the standard one."""
        found = []
        statements = self.ir.param_statements
        if not any(not s.feedback for s in statements):
            found.append(
                self._diagnostic(
                    NOTE,
                    "C701",
                    "no `param` statement: every parameter uses `sp`, the standard parameterization of a plain PyTorch model",
                    node=self.output,
                    fix="add `param mup` for width-independent training",
                )
            )
        if self.ir.rule == "tp" and not any(s.feedback for s in statements):
            found.append(
                self._diagnostic(
                    NOTE,
                    "C702",
                    "no `inverse` statement: the feedback weights use `sp`",
                    node=self.output,
                    fix="add `inverse mup`",
                )
            )
        return found

    def topology(self) -> list[Diagnostic]:
        """C703: the calculus covers graphs whose only fixed-size layers are the input and
        the readout; a fixed-size layer inside the network is outside it."""
        found = []
        graph = self.ir.graph
        for node in self.ir.dense_nodes():
            if node == self.output or node not in self.calculus.nodes:
                continue
            if not graph.nodes[node]["dim"].grows:
                found.append(
                    self._diagnostic(
                        WARNING,
                        "C703",
                        f"`{node}` has a fixed size ({graph.nodes[node]['dim']}) inside the network; the exponents around it are extrapolated",
                        node=node,
                        condition="the calculus assumes that only the input and the readout have fixed sizes",
                        fix=f"give `{node}` a width-sized dimension (`n`, `k*n` or `n/k`), or confirm with `localmup coord`",
                    )
                )
        return found


def verdicts(ir: SpecIR, parameters: list[Parameter], calculus: Calculus, diagnostics: list[Diagnostic]) -> dict:
    """Return stable, nontrivial, regime and mup from the calculus and the diagnostics.

    stable     <=> no C1xx or C2xx error
    nontrivial <=> stable and (rho_upd = 0 or rho_init = 0)
    regime     feature_learning if r = 0, else kernel (SGD) or operator (Adam)
    mup        <=> stable and r_p = 0 for every non-output parameter (and feedback weight)
               and rho_upd = 0 and (rho_init = 0 or zero-initialized readout)
    """
    stable = not any(d.severity == ERROR and d.code[1] in "12" for d in diagnostics)
    rho_update, rho_init = calculus.rho_update, calculus.rho_init
    nontrivial = stable and (rho_update == 0 or rho_init == 0)
    if not stable:
        regime = "unstable"
    elif not nontrivial:
        regime = "trivial"
    elif calculus.r == 0:
        regime = "feature_learning"
    else:
        regime = "kernel" if ir.optimizer == "sgd" else "operator"
    forward = [p for p in parameters if p.kind != "feedback" and p.node in calculus.nodes]
    readout = [p for p in forward if p.node == ir.output]
    hidden = [p for p in forward if p.node != ir.output]
    feedback = [p for p in parameters if p.kind == "feedback" and p.node in calculus.nodes]
    maximal = all(calculus.params[p.name].r == 0 for p in hidden + feedback)
    readout_weight = readout[0]
    mup = stable and nontrivial and maximal and rho_update == 0 and (rho_init == 0 or readout_weight.zero_init)
    return {"stable": stable, "nontrivial": nontrivial, "regime": regime, "mup": mup}


def trivial_diagnostic(ir: SpecIR, parameters: list[Parameter], calculus: Calculus) -> Diagnostic:
    """C301: a stable spec is nontrivial when the output moves: rho_upd = 0 or rho_init = 0."""
    span = ir.graph.nodes[ir.output]["span"]
    change = max(calculus.rho_update, calculus.rho_init)
    readout = next(p for p in parameters if p.name == f"{ir.output}.weight")
    # Lowering c by -rho_upd makes the readout's own update Theta(1).
    fix = f"`param {ir.output}: c = {fmt(readout.c + calculus.rho_update)}` (a readout updated maximally)"
    return Diagnostic(
        ERROR,
        "C301",
        f"the output does not move at large width: its change shrinks like {power(change)}",
        span,
        layer=ir.output,
        condition=f"rho_upd = {fmt(calculus.rho_update)} < 0 and rho_init = {fmt(calculus.rho_init)} < 0",
        fix=fix,
    )


def regime_diagnostic(ir: SpecIR, parameters: list[Parameter], calculus: Calculus, regime: str) -> Diagnostic:
    """C302: a note naming the regime and the exponent r that decides it (r = 0: feature
    learning; r > 0: kernel regime for SGD, operator regime for Adam)."""
    span = ir.graph.nodes[ir.output]["span"]
    hidden = [p for p in parameters if p.kind != "feedback" and p.node != ir.output and p.name in calculus.params]
    deciding = min(hidden, key=lambda p: calculus.params[p.name].r).name if hidden else None
    condition = f"r = min over non-output parameters of r_p = {fmt(calculus.r)}" + (f", reached at `{deciding}`" if deciding else "")
    if regime == "feature_learning":
        message = "feature learning: hidden features move by Theta(1) as width grows (r = 0)"
    elif ir.rule == "tp":
        # Target propagation has no kernel regime in the backprop sense: its hidden changes
        # reach the output through W_out without alignment, so with r > 0 they vanish there.
        message = (
            f"kernel regime of target propagation: hidden features move like {power(-calculus.r)} and their "
            "effect on the output vanishes, so at large width only the readout learns, on random features"
        )
    else:
        name = "kernel" if ir.optimizer == "sgd" else "operator"
        message = f"{name} regime: r = {fmt(calculus.r)} > 0, hidden features move like {power(-calculus.r)}"
    return Diagnostic(NOTE, "C302", message, span, layer=deciding, condition=condition)


_FIX_ORDER = ["C101", "C102", "C205", "C204", "C202", "C203", "C201"]


def _statement(parameter: Parameter) -> str:
    """Return the start of the override statement of a parameter: `param h1.bias`."""
    keyword = "inverse" if parameter.kind == "feedback" else "param"
    return f"{keyword} {parameter.node}" + (".bias" if parameter.kind == "bias" else "")


def _with_exponent(parameter: Parameter, key: str, value) -> Parameter:
    """Return a parameter whose exponent `key` (b or c) is set to `value`, effective one too."""
    if key == "c":
        return attrs.evolve(parameter, c=value, c_eff=parameter.c_eff + (value - parameter.c))
    if value == math.inf:
        return attrs.evolve(parameter, b=value, b_eff=math.inf)
    shift = parameter.b_eff - parameter.b if parameter.b != math.inf else 0
    return attrs.evolve(parameter, b=value, b_eff=value + shift)


def _terms(*values) -> str:
    """Write a sum of exponents with signs: `3/2 - 1 - 0`."""
    text = fmt(values[0])
    for value in values[1:]:
        if value == -math.inf or (value != math.inf and value < 0):
            text += f" - {fmt(-value)}"
        else:
            text += f" + {fmt(value)}"
    return text

