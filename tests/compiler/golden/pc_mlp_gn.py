"""Trainer for `pc_mlp_gn`, generated from specs/pc_mlp_gn.lmu by localmup 0.1.0.

Do not edit: change the spec and run `localmup compile` again.
Run it as `python FILE.py --width 256 --steps S --device cpu`.
"""

import torch

from localmup.runtime import GraphNetwork, Node, Scale, Scaled, trainer

SPEC = "pc_mlp_gn"
SPEC_PATH = "specs/pc_mlp_gn.lmu"  # relative paths are relative to this file
WIDTH = 256  # default width n
BASE_WIDTH = 64  # the width at which every constant is given; m = n / BASE_WIDTH

# Graph nodes in topological order: name, kind, sources, activation, size.
NODES = (
    Node("x", "input", (), "identity", "64"),  # line 8
    Node("h1", "dense", ("x",), "tanh", "n"),  # line 9
    Node("h2", "dense", ("h1",), "tanh", "n"),  # line 10
    Node("h3", "dense", ("h2",), "tanh", "n"),  # line 11
    Node("y", "dense", ("h3",), "identity", "10"),  # line 12
)
OUTPUT = "y"
LOSS = "mse"

# Parameterization for rule pc with sgd: W = mult * m^-a * w with
# w ~ N(0, (std * m^-b)^2), trained with learning rate eta * lr * m^-c. The exponents
# include any `* n^E` scaling of the constants; b = inf means zero init.
# h1.weight: param mup (line 20)
H1_WEIGHT = Scale(role="input", a=0, b=0, c=0, mult=1.0, std=64 ** -0.5, lr=1.0)
# h1.bias: param mup (line 20)
H1_BIAS = Scale(role="bias", a=0, b=float("inf"), c=0, mult=1.0, std=0.0, lr=1.0)
# h2.weight: param mup (line 20)
H2_WEIGHT = Scale(role="hidden", a=0, b=0.5, c=1, mult=1.0, std=64 ** -0.5, lr=1.0)
# h2.bias: param mup (line 20)
H2_BIAS = Scale(role="bias", a=0, b=float("inf"), c=0, mult=1.0, std=0.0, lr=1.0)
# h3.weight: param mup (line 20)
H3_WEIGHT = Scale(role="hidden", a=0, b=0.5, c=1, mult=1.0, std=64 ** -0.5, lr=1.0)
# h3.bias: param mup (line 20)
H3_BIAS = Scale(role="bias", a=0, b=float("inf"), c=0, mult=1.0, std=0.0, lr=1.0)
# y.weight: param mup (line 20)
Y_WEIGHT = Scale(role="output", a=0, b=1, c=1, mult=1.0, std=64 ** -0.5, lr=1.0)
# y.bias: param mup (line 20)
Y_BIAS = Scale(role="scalar", a=0, b=float("inf"), c=0, mult=1.0, std=0.0, lr=1.0)
SCALES = {
    "h1.weight": H1_WEIGHT,
    "h1.bias": H1_BIAS,
    "h2.weight": H2_WEIGHT,
    "h2.bias": H2_BIAS,
    "h3.weight": H3_WEIGHT,
    "h3.bias": H3_BIAS,
    "y.weight": Y_WEIGHT,
    "y.bias": Y_BIAS,
}

RULE = "pc"
RULE_SETTINGS = {
    "steps": 20,
    "state_lr": Scaled(0.1, 0),
    "init": "forward",
    "schedule": "parallel",
    "fpa": False,
    "update": "raw",
}
PRECISIONS = {
    "y": Scaled(1.0, 1),
}
FEEDBACK_SETTINGS = {}
OPTIMIZER = "sgd"
OPTIMIZER_SETTINGS = {
    "lr": Scaled(0.5, 0),
    "momentum": Scaled(0.0, 0),
    "weight_decay": Scaled(0.0, 0),
}
TRAIN = {
    "data": {"name": "digits", "path": None, "options": {}},
    "batch": 64,
    "steps": 600,
    "seed": 0,
    "epochs": None,
    "eval_every": None,
    "device": "auto",
    "dtype": "float32",
}


class Network(GraphNetwork):
    """`pc_mlp_gn` at width n: x -> h1 -> h2 -> h3 -> y."""

    nodes = NODES
    output = OUTPUT
    scales = SCALES

    def __init__(self, width: int = WIDTH, generator: torch.Generator | None = None):
        super().__init__(width, BASE_WIDTH)
        n, m = self.width, self.m

        # h1 = dense(x, n, act = tanh)  [line 9]
        self.h1_weight = self.normal((n, 64), H1_WEIGHT.std * m ** -H1_WEIGHT.b, generator)  # (n, 64)
        self.multipliers["h1.weight"] = H1_WEIGHT.mult * m ** -H1_WEIGHT.a
        self.h1_bias = self.zeros((n,))  # (n,), zero init
        self.multipliers["h1.bias"] = H1_BIAS.mult * m ** -H1_BIAS.a

        # h2 = dense(h1, n, act = tanh)  [line 10]
        self.h2_weight = self.normal((n, n), H2_WEIGHT.std * m ** -H2_WEIGHT.b, generator)  # (n, n)
        self.multipliers["h2.weight"] = H2_WEIGHT.mult * m ** -H2_WEIGHT.a
        self.h2_bias = self.zeros((n,))  # (n,), zero init
        self.multipliers["h2.bias"] = H2_BIAS.mult * m ** -H2_BIAS.a

        # h3 = dense(h2, n, act = tanh)  [line 11]
        self.h3_weight = self.normal((n, n), H3_WEIGHT.std * m ** -H3_WEIGHT.b, generator)  # (n, n)
        self.multipliers["h3.weight"] = H3_WEIGHT.mult * m ** -H3_WEIGHT.a
        self.h3_bias = self.zeros((n,))  # (n,), zero init
        self.multipliers["h3.bias"] = H3_BIAS.mult * m ** -H3_BIAS.a

        # y = dense(h3, 10)  [line 12]
        self.y_weight = self.normal((10, n), Y_WEIGHT.std * m ** -Y_WEIGHT.b, generator)  # (10, n)
        self.multipliers["y.weight"] = Y_WEIGHT.mult * m ** -Y_WEIGHT.a
        self.y_bias = self.zeros((10,))  # (10,), zero init
        self.multipliers["y.bias"] = Y_BIAS.mult * m ** -Y_BIAS.a

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return every dense node's pre-activation and every add node's value."""
        u = {}
        u["h1"] = self.dense("h1", x)  # (batch, n)
        u["h2"] = self.dense("h2", torch.tanh(u["h1"]))  # (batch, n)
        u["h3"] = self.dense("h3", torch.tanh(u["h2"]))  # (batch, n)
        u["y"] = self.dense("y", torch.tanh(u["h3"]))  # (batch, 10)
        return u


def parameter_groups(network: Network, eta: float) -> list[dict]:
    """Return optimizer groups in which each parameter trains with eta * lr * m^-c."""
    m = network.m
    return [
        {"name": "h1.weight", "params": [network.parameter("h1.weight")], "lr": eta * H1_WEIGHT.lr * m ** -H1_WEIGHT.c},
        {"name": "h1.bias", "params": [network.parameter("h1.bias")], "lr": eta * H1_BIAS.lr * m ** -H1_BIAS.c},
        {"name": "h2.weight", "params": [network.parameter("h2.weight")], "lr": eta * H2_WEIGHT.lr * m ** -H2_WEIGHT.c},
        {"name": "h2.bias", "params": [network.parameter("h2.bias")], "lr": eta * H2_BIAS.lr * m ** -H2_BIAS.c},
        {"name": "h3.weight", "params": [network.parameter("h3.weight")], "lr": eta * H3_WEIGHT.lr * m ** -H3_WEIGHT.c},
        {"name": "h3.bias", "params": [network.parameter("h3.bias")], "lr": eta * H3_BIAS.lr * m ** -H3_BIAS.c},
        {"name": "y.weight", "params": [network.parameter("y.weight")], "lr": eta * Y_WEIGHT.lr * m ** -Y_WEIGHT.c},
        {"name": "y.bias", "params": [network.parameter("y.bias")], "lr": eta * Y_BIAS.lr * m ** -Y_BIAS.c},
    ]


def feedback_groups(network: Network, eta: float) -> list[dict]:
    """Return optimizer groups of the feedback weights (target propagation only)."""
    return []


if __name__ == "__main__":
    raise SystemExit(trainer.main(__import__(__name__)))
