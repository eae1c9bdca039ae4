"""Tests for localmup.runtime.pc: predictive-coding inference, weight gradients and curvature.

Memory is measured by `LiveTensorBytes`, a torch dispatch mode that intercepts every tensor
an operator returns and tracks the bytes of those still referenced. Its peak over a call does
not depend on the number of inference steps unless something keeps per-step tensors alive.
`test_live_bytes_detect_retained_graph` shows that the measurement catches such a leak: an
inference that takes state gradients with autograd and `create_graph=True` keeps every
step's graph, and its peak grows with the steps.
"""

from __future__ import annotations

import math
import weakref

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from localmup.runtime.losses import loss_value
from localmup.runtime.pc import _Energy

ACTIVATIONS = ("identity", "relu", "tanh", "gelu", "sigmoid")

# A readout with an activation, so the output error carries phi'(mu_out).
SIGMOID_READOUT = """
  x  = input(64)
  h1 = dense(x, n, act = tanh)
  h2 = dense(h1, n, act = gelu)
  y  = dense(h2, 10, act = sigmoid)
  output y, loss = {loss}
"""

# Graph bodies by name: the two of conftest.GRAPHS and the one above.
GRAPHS = {"mlp": "mlp", "residual": "residual", "sigmoid_readout": SIGMOID_READOUT}

# Dense nodes of each graph, which are the nodes a precision can name.
DENSE_NODES = {"mlp": ("h1", "h2", "h3", "y"), "residual": ("h1", "f1", "h3", "y"), "sigmoid_readout": ("h1", "h2", "y")}

# Distinct precisions, so that a gamma applied to the wrong node changes the result.
UNEQUAL_PRECISIONS = (0.5, 2.0, 1.5, 3.0)


def pc_rule(
    *,
    steps: int = 20,
    state_lr: float = 0.1,
    init: str = "forward",
    fpa: bool = False,
    schedule: str = "parallel",
    update: str = "raw",
    precisions: dict[str, str] | None = None,
) -> str:
    """Return a `rule pc { ... }` statement. `precisions` maps node names to scaled values."""
    lines = [
        f"steps = {steps}, state_lr = {state_lr}, init = {init}, fpa = {str(fpa).lower()}",
        f"schedule = {schedule}, update = {update}",
    ]
    lines += [f"precision {name} = {value}" for name, value in (precisions or {}).items()]
    return "rule pc {\n  " + "\n  ".join(lines) + "\n}"


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual - expected).norm() / expected.norm()).item()


def backprop_gradients(network, loss: str, inputs, labels) -> dict[str, torch.Tensor]:
    """Return d(batch-mean loss)/dw of every forward parameter, through autograd."""
    names = network.parameter_names()
    parameters = [network.parameter(name) for name in names]
    value = loss_value(loss, network.output_of(inputs), labels)
    return dict(zip(names, torch.autograd.grad(value, parameters)))


def rule_gradients(trainer, inputs, labels) -> dict[str, torch.Tensor]:
    """Run the rule's `gradients` and return a copy of every forward parameter's .grad."""
    network = trainer.network
    network.zero_grad(set_to_none=True)
    trainer.rule.gradients(inputs, labels)
    return {name: network.parameter(name).grad.clone() for name in network.parameter_names()}


# --- fixed prediction assumption reproduces backprop ---


@pytest.mark.parametrize("graph", sorted(GRAPHS))
@pytest.mark.parametrize("loss", ["mse", "xent"])
@pytest.mark.parametrize("precision, state_lr", [(1.0, 1.0), (2.0, 0.5)])
def test_fpa_sweep_matches_backprop(graph, loss, precision, state_lr, spec_text, build_spec, batch_for, randomize):
    precisions = {name: str(precision) for name in DENSE_NODES[graph]}
    rule = pc_rule(steps=1, state_lr=state_lr, fpa=True, schedule="sequential", precisions=precisions)
    # A multiplier other than 1 checks that the gradient is taken with respect to w, not W.
    param = "param mup\nparam h1: mult = 2.0"
    source = spec_text(rule, graph=GRAPHS[graph], loss=loss, param=param, width="width n = 16, base = 8")
    trainer = build_spec(source, width=16)
    randomize(trainer.network)
    inputs, labels = batch_for(trainer)

    expected = backprop_gradients(trainer.network, loss, inputs, labels)
    actual = rule_gradients(trainer, inputs, labels)

    errors = {name: relative_error(actual[name], expected[name]) for name in expected}
    assert {name: error for name, error in errors.items() if error > 1e-6} == {}


def test_fpa_sweep_needs_unit_step(spec_text, build_spec, batch_for, randomize):
    """With state_lr * precision = 1/2 the sweep carries half the error to each layer below."""
    rule = pc_rule(steps=1, state_lr=0.5, fpa=True, schedule="sequential")
    trainer = build_spec(spec_text(rule), width=16)
    randomize(trainer.network)
    inputs, labels = batch_for(trainer)

    expected = backprop_gradients(trainer.network, "mse", inputs, labels)
    actual = rule_gradients(trainer, inputs, labels)

    assert relative_error(actual["y.weight"], expected["y.weight"]) < 1e-12
    assert relative_error(actual["h3.weight"], expected["h3.weight"]) == pytest.approx(0.5)
    assert relative_error(actual["h1.weight"], expected["h1.weight"]) == pytest.approx(0.875)


# --- inference keeps no autograd graph ---


class LiveTensorBytes(TorchDispatchMode):
    """Track the storage bytes of tensors returned by operators while the mode is active.

    A tensor counts from the operator call that returns it until its Python object is freed.
    Views count their whole storage again. That overstates memory, but by the same amount in
    every inference step.
    """

    def __init__(self):
        super().__init__()
        self.live = 0
        self.peak = 0
        self._tracked: set[int] = set()

    def _release(self, key: int, size: int) -> None:
        self.live -= size
        self._tracked.discard(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        for tensor in tree_leaves(result):
            if isinstance(tensor, torch.Tensor) and id(tensor) not in self._tracked:
                size = tensor.untyped_storage().nbytes()
                self._tracked.add(id(tensor))
                self.live += size
                weakref.finalize(tensor, self._release, id(tensor), size)
        self.peak = max(self.peak, self.live)
        return result


def peak_bytes(function, *args) -> int:
    with LiveTensorBytes() as mode:
        function(*args)
    return mode.peak


def count_saved_tensors(function, *args) -> int:
    """Return how many tensors autograd saves for backward while `function` runs."""
    saved = []

    def pack(tensor):
        saved.append(1)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        function(*args)
    return len(saved)


def autograd_inference(rule, inputs, labels, steps: int) -> dict[str, torch.Tensor]:
    """Run inference with autograd state gradients and create_graph=True: a deliberate leak.

    Every step's graph stays reachable from the latest states, so memory grows with `steps`.
    """
    with torch.enable_grad():
        forward = rule.network.forward(inputs)
        states = {node.name: forward[node.name].detach().requires_grad_(True) for node in rule.states_order}
        for _ in range(steps):
            energy = rule.energy(inputs, labels, states)
            gradients = torch.autograd.grad(energy, list(states.values()), create_graph=True)
            states = {name: state - rule.state_lr * gradient for (name, state), gradient in zip(states.items(), gradients)}
    return states


@pytest.fixture
def pc_trainer(spec_text, build_spec):
    return build_spec(spec_text("pc"), width=32, dtype="float32")


def test_live_bytes_detect_retained_graph(pc_trainer, batch_for):
    inputs, labels = batch_for(pc_trainer, samples=16)
    rule = pc_trainer.rule

    short = peak_bytes(autograd_inference, rule, inputs, labels, 5)
    long = peak_bytes(autograd_inference, rule, inputs, labels, 100)

    assert long > 5 * short


def test_saved_tensors_count_retained_graph(pc_trainer, batch_for):
    inputs, labels = batch_for(pc_trainer, samples=16)

    assert count_saved_tensors(autograd_inference, pc_trainer.rule, inputs, labels, 3) > 0


@pytest.mark.parametrize("schedule", ["parallel", "sequential"])
@pytest.mark.parametrize("fpa", [False, True])
def test_gradients_save_no_tensors(schedule, fpa, spec_text, build_spec, batch_for):
    trainer = build_spec(spec_text(pc_rule(steps=10, schedule=schedule, fpa=fpa)), dtype="float32")
    inputs, labels = batch_for(trainer, samples=16)

    assert count_saved_tensors(trainer.rule.gradients, inputs, labels) == 0


@pytest.mark.parametrize("schedule", ["parallel", "sequential"])
@pytest.mark.parametrize("fpa", [False, True])
def test_inference_memory_flat_in_steps(schedule, fpa, spec_text, build_spec, batch_for):
    trainer = build_spec(spec_text(pc_rule(schedule=schedule, fpa=fpa)), dtype="float32")
    inputs, labels = batch_for(trainer, samples=16)
    rule = trainer.rule

    rule.steps = 5
    short = peak_bytes(rule.gradients, inputs, labels)
    rule.steps = 200
    long = peak_bytes(rule.gradients, inputs, labels)

    assert long <= 1.1 * short


# --- state gradients and the energy ---


def unequal_precisions(graph: str) -> dict[str, str]:
    return {name: str(value) for name, value in zip(DENSE_NODES[graph], UNEQUAL_PRECISIONS)}


def random_states(rule, samples: int, seed: int = 3) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    network = rule.network
    return {
        node.name: torch.randn(samples, node.size_at(network.width), generator=generator, dtype=torch.float64)
        for node in rule.states_order
    }


@pytest.mark.parametrize(
    "graph, loss, act",
    [("mlp", "mse", act) for act in ACTIVATIONS]
    + [("mlp", "xent", "tanh"), ("residual", "mse", "tanh"), ("residual", "xent", "relu"), ("sigmoid_readout", "xent", "tanh")],
)
def test_state_gradient_matches_autograd(graph, loss, act, spec_text, build_spec, batch_for, randomize):
    source = spec_text(pc_rule(precisions=unequal_precisions(graph)), graph=GRAPHS[graph], loss=loss, act=act)
    trainer = build_spec(source)
    randomize(trainer.network)
    inputs, labels = batch_for(trainer)
    rule = trainer.rule
    states = random_states(rule, inputs.shape[0])

    energy = _Energy(rule, inputs, labels)
    errors, _, derivatives = energy.errors(states)
    analytic = energy.state_gradients(states, errors, derivatives)

    leaves = {name: state.clone().requires_grad_(True) for name, state in states.items()}
    # energy() averages over the batch, and the state gradient is per sample.
    total = rule.energy(inputs, labels, leaves) * inputs.shape[0]
    expected = dict(zip(leaves, torch.autograd.grad(total, list(leaves.values()))))

    errors_by_node = {name: relative_error(analytic[name], expected[name]) for name in expected}
    assert {name: error for name, error in errors_by_node.items() if error > 1e-10} == {}


@pytest.mark.parametrize("schedule", ["parallel", "sequential"])
def test_inference_lowers_energy(schedule, spec_text, build_spec, batch_for):
    trainer = build_spec(spec_text(pc_rule(state_lr=0.05, schedule=schedule, precisions=unequal_precisions("mlp"))))
    inputs, labels = batch_for(trainer)
    rule = trainer.rule

    energies = []
    for steps in range(11):
        rule.steps = steps
        states, _, _, _ = rule.infer(inputs, labels)
        energies.append(rule.energy(inputs, labels, states).item())

    increases = [(step, before, after) for step, (before, after) in enumerate(zip(energies, energies[1:])) if after > before]
    assert increases == []
    assert energies[-1] < 0.9 * energies[0]


def test_forward_init_energy_is_output_loss(spec_text, build_spec, batch_for):
    """At the feed-forward states only the output term gamma_out * loss is left."""
    trainer = build_spec(spec_text(pc_rule(precisions={"y": "3.0"})))
    inputs, labels = batch_for(trainer)
    rule = trainer.rule
    rule.steps = 0

    states, _, _, loss = rule.infer(inputs, labels)

    assert rule.energy(inputs, labels, states).item() == pytest.approx(3.0 * loss.item(), rel=1e-12)


# --- initial states and the weight update ---


def test_zero_init_starts_at_zero(spec_text, build_spec, batch_for):
    trainer = build_spec(spec_text(pc_rule(init="zero")))
    inputs, labels = batch_for(trainer)
    trainer.rule.steps = 0

    states, _, _, _ = trainer.rule.infer(inputs, labels)

    assert {name: state.abs().max().item() for name, state in states.items()} == {"h1": 0.0, "h2": 0.0, "h3": 0.0}


def test_random_init_draws_unit_gaussians(spec_text, build_spec, batch_for):
    trainer = build_spec(spec_text(pc_rule(init="random")), width=256)
    inputs, labels = batch_for(trainer, samples=32)
    trainer.rule.steps = 0

    states, _, _, _ = trainer.rule.infer(inputs, labels)
    forward = trainer.network.forward(inputs)

    for name, state in states.items():
        assert state.std().item() == pytest.approx(1.0, abs=0.05), name
        assert not torch.allclose(state, forward[name]), name


@pytest.mark.parametrize("init", ["forward", "zero", "random"])
@pytest.mark.parametrize("update", ["raw", "energy"])
def test_training_steps_stay_finite(init, update, spec_text, build_spec, batch_for):
    trainer = build_spec(spec_text(pc_rule(steps=5, init=init, update=update)))
    inputs, labels = batch_for(trainer, samples=16)
    before = trainer.network.parameter("h2.weight").detach().clone()

    losses = [trainer.step(inputs, labels) for _ in range(3)]

    assert all(math.isfinite(loss) for loss in losses)
    assert not torch.equal(trainer.network.parameter("h2.weight"), before)


def test_energy_update_scales_raw_by_precision(spec_text, build_spec, batch_for):
    precisions = unequal_precisions("mlp")
    raw = build_spec(spec_text(pc_rule(precisions=precisions, update="raw")))
    energy = build_spec(spec_text(pc_rule(precisions=precisions, update="energy")))
    inputs, labels = batch_for(raw)

    raw_gradients = rule_gradients(raw, inputs, labels)
    energy_gradients = rule_gradients(energy, inputs, labels)

    for name, gradient in raw_gradients.items():
        gamma = float(precisions[name.split(".")[0]])
        assert torch.allclose(energy_gradients[name], gamma * gradient, rtol=1e-12, atol=0), name


@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_energy_update_is_energy_gradient(graph, spec_text, build_spec, batch_for, randomize):
    """update = energy descends F at the final states: -dW = dF/dw with F the batch mean."""
    source = spec_text(pc_rule(steps=5, precisions=unequal_precisions(graph), update="energy"), graph=GRAPHS[graph])
    trainer = build_spec(source)
    randomize(trainer.network)
    inputs, labels = batch_for(trainer)
    network = trainer.network
    names = network.parameter_names()

    actual = rule_gradients(trainer, inputs, labels)
    states, _, _, _ = trainer.rule.infer(inputs, labels)
    energy = trainer.rule.energy(inputs, labels, states)
    expected = dict(zip(names, torch.autograd.grad(energy, [network.parameter(name) for name in names])))

    errors = {name: relative_error(actual[name], expected[name]) for name in names}
    assert {name: error for name, error in errors.items() if error > 1e-10} == {}


# --- curvature of the state energy ---


@pytest.fixture
def curvatures(spec_text, build_spec, batch_for):
    """Return a function of the output precision exponent p: curvature() at widths 64 to 512."""

    def measure(output_exponent: int) -> list[float]:
        rule = pc_rule(precisions={"y": f"1.0 * n^{output_exponent}"})
        source = spec_text(rule, width="width n = 64, base = 32")
        values = []
        for width in (64, 128, 256, 512):
            trainer = build_spec(source, width=width, dtype="float32")
            inputs, labels = batch_for(trainer, samples=32)
            values.append(trainer.rule.curvature(inputs, labels))
        return values

    return measure


def test_curvature_grows_with_output_precision(curvatures):
    """Output precision m^2: the largest state-Hessian eigenvalue grows like m^(p - 1) = m."""
    values = curvatures(2)

    assert values == sorted(values)
    assert values[-1] > 2 * values[0]


def test_curvature_bounded_without_precision_growth(curvatures):
    values = curvatures(0)

    assert max(values) < 1.25 * min(values)


def reference_sweep(energy, states, state_lr: float) -> None:
    """One sequential sweep that recomputes every error before each node's update."""
    for node in reversed(energy.rule.states_order):
        eps, _, derivatives = energy.errors(states)
        gradient = energy.state_gradients(states, eps, derivatives)[node.name]
        states[node.name] = states[node.name] - state_lr * gradient


@pytest.mark.parametrize("graph", sorted(GRAPHS))
@pytest.mark.parametrize("fpa", [False, True])
def test_sequential_sweep_matches_full_recomputation(graph, fpa, spec_text, build_spec, batch_for, randomize):
    source = spec_text(pc_rule(precisions=unequal_precisions(graph), schedule="sequential", fpa=fpa), graph=GRAPHS[graph])
    trainer = build_spec(source)
    randomize(trainer.network)
    inputs, labels = batch_for(trainer)
    rule = trainer.rule
    with torch.no_grad():
        energy = _Energy(rule, inputs, labels)
        fast = random_states(rule, inputs.shape[0])
        slow = {name: state.clone() for name, state in fast.items()}
        for _ in range(3):
            energy.sequential_sweep(fast, 0.1)
            reference_sweep(energy, slow, 0.1)

    for name in fast:
        assert relative_error(fast[name], slow[name]) < 1e-12, name
