"""Preset exponents (a, b, c) per parameter role, learning rule and optimizer.

All tables are in the a = 0 form of the literature except where a preset is defined by its
multipliers (ntk, mf). Backprop rows are those of Yang & Hu 2021 and Yang et al. 2022. The
predictive-coding and target-propagation rows are reconstructed from the stability
conditions, whose limits Ishikawa, Yokota & Karakida 2025 state, and `localmup coord`
measures them; docs/theory.md lists the rules.
"""

from __future__ import annotations

from fractions import Fraction as F

# (a, b, c for SGD, c for Adam) per role. Biases of width-sized layers follow the input
# layer, and scalar-like parameters (the readout bias) keep every scale fixed.
_ZERO = (F(0), F(0), F(0), F(0))

BACKPROP = {
    "sp": {
        "input": (F(0), F(0), F(0), F(0)),
        "hidden": (F(0), F(1, 2), F(0), F(0)),
        "output": (F(0), F(1, 2), F(0), F(0)),
        "bias": (F(0), F(0), F(0), F(0)),
        "scalar": _ZERO,
    },
    "ntk": {
        "input": (F(0), F(0), F(0), F(1, 2)),
        "hidden": (F(1, 2), F(0), F(0), F(1)),
        "output": (F(1, 2), F(0), F(0), F(1, 2)),
        "bias": (F(0), F(0), F(0), F(1, 2)),
        "scalar": _ZERO,
    },
    "mup": {
        "input": (F(0), F(0), F(-1), F(0)),
        "hidden": (F(0), F(1, 2), F(0), F(1)),
        "output": (F(0), F(1), F(1), F(1)),
        "bias": (F(0), F(0), F(-1), F(0)),
        "scalar": _ZERO,
    },
}

# Target propagation: hidden targets arrive through the feedback weights, so the readout
# keeps b = 1/2 and every layer is maximally updated with c = (0, 1, 1), SGD and Adam alike.
TARGET_PROPAGATION_MUP = {
    "input": (F(0), F(0), F(0), F(0)),
    "hidden": (F(0), F(1, 2), F(1), F(1)),
    "output": (F(0), F(1, 2), F(1), F(1)),
    "bias": (F(0), F(0), F(0), F(0)),
    "scalar": _ZERO,
}

# Feedback weights Q of target propagation, by the role of Q itself: Q of the readout maps
# the fixed output size back to the width ("input" role), Q of a hidden layer is n x n.
FEEDBACK = {
    "sp": {
        "input": (F(0), F(0), F(0), F(0)),
        "hidden": (F(0), F(1, 2), F(0), F(0)),
        "output": (F(0), F(1, 2), F(0), F(0)),
        "scalar": _ZERO,
    },
    "mup": {
        "input": (F(0), F(0), F(0), F(0)),
        "hidden": (F(0), F(1, 2), F(1), F(1)),
        "output": (F(0), F(1, 2), F(1), F(1)),
        "scalar": _ZERO,
    },
}


def move_to_zero_b(a: F, b: F, c: F, optimizer: str) -> tuple[F, F, F]:
    """Apply the abc symmetry with theta = b, which keeps the dynamics and makes b = 0.

    SGD: (a, b, c) -> (a + t, b - t, c - 2t); Adam: (a + t, b - t, c - t).
    """
    shift = b
    return a + shift, b - shift, c - (2 * shift if optimizer == "sgd" else shift)


def preset_row(
    preset: str,
    role: str,
    rule: str,
    optimizer: str,
    *,
    feedback: bool = False,
    pc_shift: F = F(0),
) -> tuple[F, F, F]:
    """Return (a, b, c) of one parameter under a preset.

    `pc_shift` is how much predictive coding raises the SGD learning-rate exponent c of
    this parameter in the `mup` and `mf` presets. A hidden error is gamma_L / gamma_l times
    the backprop signal, so c moves by p_L - p_l for the raw update and by p_L for the
    energy update, which carries gamma_l. The readout moves by p_L for the energy update
    only. The caller computes the shift because it depends on the parameter's node.
    """
    if feedback:
        table = FEEDBACK["mup" if preset in ("mup", "mf") else preset]
        a, b, c_sgd, c_adam = table[role]
        c = c_sgd if optimizer == "sgd" else c_adam
        if preset == "mf":
            return move_to_zero_b(a, b, c, optimizer)
        return a, b, c

    if preset in ("sp", "ntk"):
        a, b, c_sgd, c_adam = BACKPROP[preset][role]
        return a, b, c_sgd if optimizer == "sgd" else c_adam

    # mup, and mf as the rule's mup moved to b = 0.
    if rule == "tp":
        a, b, c_sgd, c_adam = TARGET_PROPAGATION_MUP[role]
        c = c_sgd if optimizer == "sgd" else c_adam
    else:
        a, b, c_sgd, c_adam = BACKPROP["mup"][role]
        c = c_sgd if optimizer == "sgd" else c_adam
        if rule == "pc" and optimizer == "sgd":
            c = c + pc_shift
    if preset == "mf" and role != "scalar":
        return move_to_zero_b(a, b, c, optimizer)
    return a, b, c
