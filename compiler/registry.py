"""Closed option sets of the spec language, in one place.

Validation, error messages, the printed help and the docs all read these tables, so adding
an activation or a rule setting means editing one entry here (and, for runtime behaviour,
the matching runtime code).
"""

from __future__ import annotations

from typing import Any

import attrs

ACTIVATIONS = ("identity", "relu", "tanh", "gelu", "sigmoid")
LOSSES = ("mse", "xent")
LAYER_KINDS = ("input", "dense", "add")
RULES = ("bp", "pc", "tp")
PRESETS = ("sp", "ntk", "mup", "mf")
OPTIMIZERS = ("sgd", "adam")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "float64")

# Parameter roles by which of fan-in and fan-out grow with the width n. A bias is a vector
# with fan-in 1, so it is input-like ("bias") when its layer is width-sized and scalar-like
# otherwise (the readout bias).
ROLES = ("input", "hidden", "output", "bias", "scalar")

# Words that can never name a layer: the statement keywords and the value keywords.
STATEMENT_KEYWORDS = ("spec", "width", "graph", "rule", "param", "inverse", "optim", "train", "sweep", "coord", "output")
RESERVED_WORDS = STATEMENT_KEYWORDS + ("n", "inf", "true", "false")

# Statements that the IR builder accepts at most once (param and inverse may repeat).
SINGLE_STATEMENTS = ("spec", "width", "graph", "rule", "optim", "train", "sweep", "coord")
REQUIRED_STATEMENTS = ("spec", "width", "graph", "rule", "optim")

# Datasets and the arguments each accepts; the runtime keeps the same names
# (localmup.runtime.data.DATASETS, checked equal by a test).
DATASETS = {
    "digits": (),
    "mnist": ("path",),
    "fashion_mnist": ("path",),
    "cifar10": ("path",),
    "teacher": ("samples", "dim", "classes", "seed"),
}
DATASET_PATH_ARGUMENT = {"mnist", "fashion_mnist", "cifar10"}


@attrs.frozen
class Setting:
    """One key of a block: the kind of value it takes, its default and a one-line help.

    Kinds: "int" (an integer literal), "number" (a plain number or ratio), "scaled" (a number
    or `V * n^E`), "bool", "enum" (a name from `options`), "pair" (a tuple of two numbers),
    "widths" (a list of positive integers), "lrs" (a list of numbers or `2^[a..b]`),
    "exponent" (a number, ratio or `inf`, for the a, b, c of `param`), "data" (a dataset name
    or call).
    """

    kind: str
    default: Any = None
    options: tuple[str, ...] = ()
    minimum: float | None = None
    exclusive_minimum: bool = False
    maximum: float | None = None
    exclusive_maximum: bool = False
    required: bool = False
    help: str = ""


# Limits on the numbers of a spec and of command-line options, shared by the compiler and
# the runtime. Nonzero numbers stay within float32's range (about 1e-38 to 3e38) with room
# for the width factors m^(+-c) that multiply them.
SMALLEST_MAGNITUDE, LARGEST_MAGNITUDE = 1e-30, 1e30
# The magnitude range as a spec writes it, for messages.
MAGNITUDE_RANGE = f"{SMALLEST_MAGNITUDE:g} and {LARGEST_MAGNITUDE:g}".replace("e+", "e")
# Learning-rate ranges 2^[low..high] stay within 2^-99 .. 2^99 (about 1.6e-30 .. 6.3e29).
LARGEST_LR_EXPONENT = 99
# Seeds go to numpy's generators, which take unsigned 32-bit seeds.
LARGEST_SEED = 2**32 - 1


def _positive_int(default, help):
    return Setting("int", default, minimum=1, help=help)


WIDTH_SETTINGS = {
    "base": Setting("int", minimum=1, required=True, help="base width n0 at which every constant is given"),
}

DENSE_ARGUMENTS = {
    "act": Setting("enum", "identity", ACTIVATIONS, help="activation applied after the affine map"),
    "bias": Setting("bool", True, help="whether the layer has a bias"),
}

OUTPUT_SETTINGS = {
    "loss": Setting("enum", "mse", LOSSES, help="mse: 1/2 |f - onehot(y)|^2 per sample; xent: cross-entropy"),
}

RULE_SETTINGS: dict[str, dict[str, Setting]] = {
    "bp": {},
    "pc": {
        "steps": _positive_int(20, "inference iterations per training step"),
        "state_lr": Setting("scaled", 0.1, minimum=0, exclusive_minimum=True, help="inference step size kappa"),
        "init": Setting("enum", "forward", ("forward", "zero", "random"), help="initial states before inference"),
        "fpa": Setting("bool", False, help="fixed prediction assumption: freeze predictions and phi' at forward values"),
        "schedule": Setting("enum", "parallel", ("parallel", "sequential"), help="update all states at once, or sweep from the output down"),
        "update": Setting("enum", "raw", ("raw", "energy"), help="weights descend 1/2|eps_l|^2 (raw) or the energy F (energy)"),
    },
    "tp": {
        "variant": Setting("enum", "dtp", ("dtp", "tp"), help="difference target propagation or plain target propagation"),
        "target_step": Setting("scaled", 0.5, minimum=0, exclusive_minimum=True, help="output target step beta: tau = f - beta dl/df"),
    },
}

# Named items per rule: `precision NODE = value`.
RULE_NAMED_SETTINGS: dict[str, dict[str, Setting]] = {
    "bp": {},
    "pc": {"precision": Setting("scaled", 1, minimum=0, exclusive_minimum=True, help="precision gamma of a node's error")},
    "tp": {},
}

# Sub-blocks per rule: `feedback { ... }`.
RULE_SUB_BLOCKS: dict[str, dict[str, dict[str, Setting]]] = {
    "bp": {},
    "pc": {},
    "tp": {
        "feedback": {
            "act": Setting("enum", "tanh", ACTIVATIONS, help="feedback nonlinearity psi in g(v) = psi(Q v)"),
            "lr": Setting("scaled", 0.01, minimum=0, help="learning rate of the feedback weights"),
            "noise": Setting("scaled", 0.1, minimum=0, help="std of the noise in the reconstruction loss"),
            "steps": Setting("int", 1, minimum=0, help="feedback updates per training step"),
        }
    },
}

OPTIM_SETTINGS: dict[str, dict[str, Setting]] = {
    "sgd": {
        "lr": Setting("scaled", minimum=0, exclusive_minimum=True, required=True, help="global learning rate eta"),
        "momentum": Setting("scaled", 0, minimum=0, maximum=1, exclusive_maximum=True, help="heavy-ball momentum"),
        "weight_decay": Setting("scaled", 0, minimum=0, help="L2 penalty added to the gradient"),
    },
    "adam": {
        "lr": Setting("scaled", minimum=0, exclusive_minimum=True, required=True, help="global learning rate eta"),
        "betas": Setting("pair", (0.9, 0.999), minimum=0, maximum=1, exclusive_maximum=True, help="moment decay rates"),
        "eps": Setting("scaled", 1e-8, minimum=0, exclusive_minimum=True, help="denominator epsilon"),
        "weight_decay": Setting("scaled", 0, minimum=0, help="L2 penalty added to the gradient"),
    },
}

PARAM_SETTINGS = {
    "a": Setting("exponent", help="multiplier exponent: W = mult * m^-a * w"),
    "b": Setting("exponent", help="init exponent: w ~ N(0, (std * m^-b)^2); inf means zero init"),
    "c": Setting("exponent", help="learning-rate exponent: lr = eta * lr_factor * m^-c"),
    "mult": Setting("scaled", help="multiplier alpha at the base width"),
    "std": Setting("scaled", minimum=0, help="init std sigma at the base width"),
    "lr": Setting("scaled", minimum=0, help="learning-rate factor lambda"),
}

TRAIN_SETTINGS = {
    "data": Setting("data", "digits", tuple(DATASETS), help="dataset"),
    "batch": _positive_int(64, "batch size"),
    "steps": _positive_int(None, "training steps (default 600 unless epochs is given)"),
    "epochs": _positive_int(None, "passes over the training set (instead of steps)"),
    "seed": Setting("int", 0, minimum=0, maximum=LARGEST_SEED, help="seed of init, data split and batch order"),
    "eval_every": _positive_int(None, "steps between test evaluations (default: steps / 10)"),
    "device": Setting("enum", "auto", DEVICES, help="auto uses cuda when available"),
    "dtype": Setting("enum", "float32", DTYPES, help="floating-point type of parameters and data"),
}
DEFAULT_TRAIN_STEPS = 600

SWEEP_SETTINGS = {
    "widths": Setting("widths", (64, 128, 256, 512, 1024), help="widths n to sweep"),
    "lr": Setting("lrs", tuple(2.0**k for k in range(-8, 7)), help="global learning rates eta"),
    "seeds": _positive_int(3, "seeds per (width, lr)"),
    "steps": _positive_int(300, "training steps per run"),
}

COORD_SETTINGS = {
    "widths": Setting("widths", (256, 512, 1024, 2048), help="widths n (at least 4, factor 2)"),
    "steps": _positive_int(3, "training steps T; t = 0..T are measured"),
    "seeds": _positive_int(4, "seeds averaged before the fit"),
    "lr": Setting("number", 0.1, minimum=0, exclusive_minimum=True, help="global learning rate eta at the base width; small enough that a step does not fit the batch"),
    "batch": _positive_int(64, "size of the fixed training batch"),
    "probe": _positive_int(256, "size of the fixed probe batch"),
}

BLOCK_SETTINGS = {"train": TRAIN_SETTINGS, "sweep": SWEEP_SETTINGS, "coord": COORD_SETTINGS}
