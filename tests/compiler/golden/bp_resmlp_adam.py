"""Trainer for `bp_resmlp_adam`, generated from specs/bp_resmlp_adam.lmu by localmup 0.1.0.

Do not edit: change the spec and run `localmup compile` again.
Run it as `python FILE.py --width 512 --steps S --device cpu`.
"""

import torch

from localmup.runtime import GraphNetwork, Node, Scale, Scaled, trainer

SPEC = "bp_resmlp_adam"
SPEC_PATH = "specs/bp_resmlp_adam.lmu"  # relative paths are relative to this file
WIDTH = 512  # default width n
BASE_WIDTH = 128  # the width at which every constant is given; m = n / BASE_WIDTH

# Graph nodes in topological order: name, kind, sources, activation, size.
NODES = (
    Node("x", "input", (), "identity", "784"),  # line 7
    Node("h1", "dense", ("x",), "relu", "n"),  # line 8
    Node("f1", "dense", ("h1",), "relu", "n"),  # line 9
    Node("h2", "add", ("h1", "f1",), "identity", "n"),  # line 10
    Node("y", "dense", ("h2",), "identity", "10"),  # line 11
)
OUTPUT = "y"
LOSS = "xent"

# Parameterization for rule bp with adam: W = mult * m^-a * w with
# w ~ N(0, (std * m^-b)^2), trained with learning rate eta * lr * m^-c. The exponents
# include any `* n^E` scaling of the constants; b = inf means zero init.
# h1.weight: param sp (line 15), override line 16
H1_WEIGHT = Scale(role="input", a=0, b=0, c=0, mult=1.0, std=784 ** -0.5, lr=1.0)
# h1.bias: param sp (line 15)
H1_BIAS = Scale(role="bias", a=0, b=float("inf"), c=0, mult=1.0, std=0.0, lr=1.0)
# f1.weight: param sp (line 15), override line 17
F1_WEIGHT = Scale(role="hidden", a=0, b=0.5, c=1, mult=1.0, std=128 ** -0.5, lr=1.0)
# f1.bias: param sp (line 15)
F1_BIAS = Scale(role="bias", a=0, b=float("inf"), c=0, mult=1.0, std=0.0, lr=1.0)
# y.weight: param sp (line 15), override line 18
Y_WEIGHT = Scale(role="output", a=0, b=float("inf"), c=1, mult=1.0, std=128 ** -0.5, lr=1.0)
SCALES = {
    "h1.weight": H1_WEIGHT,
    "h1.bias": H1_BIAS,
    "f1.weight": F1_WEIGHT,
    "f1.bias": F1_BIAS,
    "y.weight": Y_WEIGHT,
}

RULE = "bp"
RULE_SETTINGS = {}
PRECISIONS = {}
FEEDBACK_SETTINGS = {}
OPTIMIZER = "adam"
OPTIMIZER_SETTINGS = {
    "lr": Scaled(0.001, 0),
    "eps": Scaled(1e-08, -1),
    "betas": (0.9, 0.999),
    "weight_decay": Scaled(0.0, 0),
}
TRAIN = {
    "data": {"name": "fashion_mnist", "path": "data/fashion", "options": {}},
    "batch": 128,
    "epochs": 1,
    "seed": 1,
    "steps": None,
    "eval_every": None,
    "device": "auto",
    "dtype": "float32",
}


class Network(GraphNetwork):
    """`bp_resmlp_adam` at width n: 5 nodes, output y."""

    nodes = NODES
    output = OUTPUT
    scales = SCALES

    def __init__(self, width: int = WIDTH, generator: torch.Generator | None = None):
        super().__init__(width, BASE_WIDTH)
        n, m = self.width, self.m

        # h1 = dense(x, n, act = relu)  [line 8]
        self.h1_weight = self.normal((n, 784), H1_WEIGHT.std * m ** -H1_WEIGHT.b, generator)  # (n, 784)
        self.multipliers["h1.weight"] = H1_WEIGHT.mult * m ** -H1_WEIGHT.a
        self.h1_bias = self.zeros((n,))  # (n,), zero init
        self.multipliers["h1.bias"] = H1_BIAS.mult * m ** -H1_BIAS.a

        # f1 = dense(h1, n, act = relu)  [line 9]
        self.f1_weight = self.normal((n, n), F1_WEIGHT.std * m ** -F1_WEIGHT.b, generator)  # (n, n)
        self.multipliers["f1.weight"] = F1_WEIGHT.mult * m ** -F1_WEIGHT.a
        self.f1_bias = self.zeros((n,))  # (n,), zero init
        self.multipliers["f1.bias"] = F1_BIAS.mult * m ** -F1_BIAS.a

        # y = dense(h2, 10, bias = false)  [line 11]
        self.y_weight = self.zeros((10, n))  # (10, n), zero init
        self.multipliers["y.weight"] = Y_WEIGHT.mult * m ** -Y_WEIGHT.a

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return every dense node's pre-activation and every add node's value."""
        u = {}
        u["h1"] = self.dense("h1", x)  # (batch, n)
        u["f1"] = self.dense("f1", torch.relu(u["h1"]))  # (batch, n)
        u["h2"] = torch.relu(u["h1"]) + torch.relu(u["f1"])  # (batch, n)
        u["y"] = self.dense("y", u["h2"])  # (batch, 10)
        return u


def parameter_groups(network: Network, eta: float) -> list[dict]:
    """Return optimizer groups in which each parameter trains with eta * lr * m^-c."""
    m = network.m
    return [
        {"name": "h1.weight", "params": [network.parameter("h1.weight")], "lr": eta * H1_WEIGHT.lr * m ** -H1_WEIGHT.c},
        {"name": "h1.bias", "params": [network.parameter("h1.bias")], "lr": eta * H1_BIAS.lr * m ** -H1_BIAS.c},
        {"name": "f1.weight", "params": [network.parameter("f1.weight")], "lr": eta * F1_WEIGHT.lr * m ** -F1_WEIGHT.c},
        {"name": "f1.bias", "params": [network.parameter("f1.bias")], "lr": eta * F1_BIAS.lr * m ** -F1_BIAS.c},
        {"name": "y.weight", "params": [network.parameter("y.weight")], "lr": eta * Y_WEIGHT.lr * m ** -Y_WEIGHT.c},
    ]


def feedback_groups(network: Network, eta: float) -> list[dict]:
    """Return optimizer groups of the feedback weights (target propagation only)."""
    return []


if __name__ == "__main__":
    raise SystemExit(trainer.main(__import__(__name__)))
