"""Tests for localmup.runtime.tp: target propagation's targets, local losses and feedback training."""

from __future__ import annotations

import pytest
import torch

from localmup.runtime.losses import loss_value
from localmup.runtime.network import activation

# A linear network of square layers, so exact inverses of the forward weights exist.
LINEAR_SQUARE = """
  x  = input(8)
  h1 = dense(x, 8)
  h2 = dense(h1, 8)
  h3 = dense(h2, 8)
  y  = dense(h3, 8)
  output y, loss = {loss}
"""

# Two branches from the input joined by an add node, which alone feeds the readout.
TWO_BRANCHES = """
  x = input(64)
  a = dense(x, n, act = tanh)
  b = dense(x, n, act = tanh)
  s = add(a, b)
  y = dense(s, 10)
  output y, loss = {loss}
"""


def tp_rule(variant: str = "dtp", target_step: float = 0.5, feedback_act: str = "tanh", noise: float = 0.1) -> str:
    return (
        f"rule tp {{\n  variant = {variant}, target_step = {target_step}\n"
        f"  feedback {{ act = {feedback_act}, lr = 0.05, noise = {noise}, steps = 1 }}\n}}\ninverse mup"
    )


def set_exact_inverses(network) -> None:
    """Set every feedback weight so that the effective Q_v is the inverse of the effective W_v."""
    with torch.no_grad():
        for name in network.parameter_names(feedback=True):
            node = name.split(".")[0]
            inverse = torch.linalg.inv(network.weight(node))
            network.parameter(name).copy_(inverse / network.multipliers[name])


def shifts(rule, inputs, labels) -> dict[str, torch.Tensor]:
    """Return target minus value of every node with a target."""
    targets, values, _ = rule.targets(inputs, labels)
    return {name: targets[name] - values[name] for name in targets}


@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_output_target_descends_loss(loss, spec_text, build_spec, batch_for):
    trainer = build_spec(spec_text(tp_rule(target_step=0.3), loss=loss))
    inputs, labels = batch_for(trainer)
    output = trainer.network.output_of(inputs).detach().requires_grad_(True)
    # The batch mean's gradient times the batch size is the per-sample dl/df.
    per_sample_gradient = torch.autograd.grad(loss_value(loss, output, labels), output)[0] * inputs.shape[0]

    targets, _, _ = trainer.rule.targets(inputs, labels)

    assert torch.allclose(targets["y"], output.detach() - 0.3 * per_sample_gradient, rtol=1e-12, atol=1e-14)


def test_dtp_exact_inverse_targets(spec_text, build_spec, batch_for, randomize):
    """With identity activations and Q_v = W_v^-1, DTP sends tau_s = h_s + W_v^-1 (tau_v - h_v)."""
    trainer = build_spec(spec_text(tp_rule(feedback_act="identity"), graph=LINEAR_SQUARE, act="identity"), width=8)
    network = trainer.network
    randomize(network)
    set_exact_inverses(network)
    inputs, labels = batch_for(trainer)

    targets, values, _ = trainer.rule.targets(inputs, labels)

    for source, node in [("h3", "y"), ("h2", "h3"), ("h1", "h2")]:
        step_back = torch.linalg.solve(network.weight(node), (targets[node] - values[node]).T).T
        assert torch.allclose(targets[source], values[source] + step_back, rtol=1e-9, atol=1e-12), source


def test_dtp_exact_inverse_matches_product(spec_text, build_spec, batch_for, randomize):
    """Layer by layer, the exact inverses compose to tau_h1 = h1 + (W_y W_h3 W_h2)^-1 (tau_y - f)."""
    trainer = build_spec(spec_text(tp_rule(feedback_act="identity"), graph=LINEAR_SQUARE, act="identity"), width=8)
    network = trainer.network
    randomize(network)
    set_exact_inverses(network)
    inputs, labels = batch_for(trainer)

    targets, values, _ = trainer.rule.targets(inputs, labels)

    product = network.weight("y") @ network.weight("h3") @ network.weight("h2")
    step_back = torch.linalg.solve(product, (targets["y"] - values["y"]).T).T
    assert torch.allclose(targets["h1"], values["h1"] + step_back, rtol=1e-9, atol=1e-12)


def test_tp_target_is_inverse_of_child_target(spec_text, build_spec, batch_for, randomize):
    trainer = build_spec(spec_text(tp_rule(variant="tp")))
    network = trainer.network
    randomize(network)
    inputs, labels = batch_for(trainer)

    targets, _, _ = trainer.rule.targets(inputs, labels)

    for source, node in [("h3", "y"), ("h2", "h3"), ("h1", "h2")]:
        expected = torch.tanh(targets[node] @ network.feedback(node).T)
        assert torch.allclose(targets[source], expected, rtol=1e-12, atol=1e-14), source


def test_input_has_no_target(spec_text, build_spec, batch_for):
    trainer = build_spec(spec_text("tp"))
    inputs, labels = batch_for(trainer)

    targets, _, _ = trainer.rule.targets(inputs, labels)

    assert sorted(targets) == ["h1", "h2", "h3", "y"]


def test_add_node_shifts_both_summands(spec_text, build_spec, batch_for, randomize):
    trainer = build_spec(spec_text(tp_rule(), graph=TWO_BRANCHES))
    randomize(trainer.network)
    inputs, labels = batch_for(trainer)

    shift = shifts(trainer.rule, inputs, labels)

    assert shift["s"].abs().max() > 0
    assert torch.allclose(shift["a"], shift["s"], rtol=1e-12, atol=1e-14)
    assert torch.allclose(shift["b"], shift["s"], rtol=1e-12, atol=1e-14)


def test_shared_source_sums_consumer_shifts(spec_text, build_spec, batch_for, randomize):
    """In the residual graph h1 feeds f1 and the add node h2, so it gets both shifts."""
    trainer = build_spec(spec_text(tp_rule(), graph="residual"))
    randomize(trainer.network)
    inputs, labels = batch_for(trainer)
    rule = trainer.rule

    targets, values, _ = rule.targets(inputs, labels)

    through_f1 = rule.inverse("f1", targets["f1"]) - rule.inverse("f1", values["f1"])
    through_add = targets["h2"] - values["h2"]
    assert torch.allclose(targets["h1"] - values["h1"], through_f1 + through_add, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("graph", ["mlp", "residual"])
def test_layer_gradient_is_own_local_loss(graph, spec_text, build_spec, batch_for, randomize):
    """Each layer's .grad is the gradient of its own loss 1/2 |h_v - tau_v|^2 and of nothing else."""
    trainer = build_spec(spec_text(tp_rule(), graph=graph))
    network = trainer.network
    randomize(network)
    inputs, labels = batch_for(trainer)
    targets, values, _ = trainer.rule.targets(inputs, labels)

    trainer.rule.gradients(inputs, labels)

    for node in network.dense_nodes():
        h = activation(node.activation)(network.dense(node.name, values[node.sources[0]]))
        local = 0.5 * ((h - targets[node.name]) ** 2).sum(dim=1).mean()
        names = [f"{node.name}.weight", f"{node.name}.bias"]
        expected = torch.autograd.grad(local, [network.parameter(name) for name in names])
        for name, gradient in zip(names, expected):
            assert torch.allclose(network.parameter(name).grad, gradient, rtol=1e-10, atol=1e-14), name


def test_local_losses_leave_feedback_alone(spec_text, build_spec, batch_for):
    trainer = build_spec(spec_text("tp"))
    inputs, labels = batch_for(trainer)

    trainer.rule.gradients(inputs, labels)

    network = trainer.network
    assert {name: network.parameter(name).grad for name in network.parameter_names(feedback=True)} == {
        "h2.feedback": None,
        "h3.feedback": None,
        "y.feedback": None,
    }


def test_feedback_training_lowers_reconstruction(spec_text, build_spec, batch_for):
    trainer = build_spec(spec_text("tp"))
    inputs, _ = batch_for(trainer, samples=32)
    rule = trainer.rule

    losses = []
    for _ in range(50):
        losses.append(rule.feedback_gradients(inputs).item())
        trainer.feedback_optimizer.step()

    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.8 * first


def test_feedback_training_keeps_forward_weights(spec_text, build_spec, batch_for):
    trainer = build_spec(spec_text("tp"))
    inputs, _ = batch_for(trainer, samples=32)
    network = trainer.network
    forward = {name: network.parameter(name).detach().clone() for name in network.parameter_names()}
    feedback = {name: network.parameter(name).detach().clone() for name in network.parameter_names(feedback=True)}

    trainer.rule.after_update(inputs)

    changed = {name for name, before in forward.items() if not torch.equal(network.parameter(name), before)}
    assert changed == set()
    unchanged = {name for name, before in feedback.items() if torch.equal(network.parameter(name), before)}
    assert unchanged == set()


def test_feedback_loss_is_noisy_reconstruction(spec_text, build_spec, batch_for):
    """With noise 0 the feedback loss is 1/2 |g_v(f_v(h_s)) - h_s|^2, summed over layers."""
    trainer = build_spec(spec_text(tp_rule(noise=0.0)))
    network = trainer.network
    inputs, _ = batch_for(trainer)
    rule = trainer.rule
    values = network.values(inputs, network.forward(inputs))

    expected = 0.0
    for node in ("h2", "h3", "y"):
        source = values[network.node[node].sources[0]]
        reconstruction = rule.inverse(node, values[node])
        expected += (0.5 * ((reconstruction - source) ** 2).sum(dim=1).mean()).item()

    assert rule.feedback_gradients(inputs).item() == pytest.approx(expected, rel=1e-12)
