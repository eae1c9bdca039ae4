"""Shared fixtures: inline specs compiled into trainer modules, and paths of the repository.

Test files sit in folders without `__init__.py`, so they cannot import each other's helpers.
The helpers here are therefore handed out as fixtures that return functions.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from localmup.commands import trainer_module
from localmup.compiler.ir import compile_source
from localmup.runtime.trainer import build_trainer

REPOSITORY = Path(__file__).resolve().parents[1]

# Graph bodies by name. `make_spec` fills in `{loss}` and `{act}`.
GRAPHS = {
    # Three hidden layers, the shape of the example specs.
    "mlp": """
  x  = input(64)
  h1 = dense(x, n, act = {act})
  h2 = dense(h1, n, act = {act})
  h3 = dense(h2, n, act = {act})
  y  = dense(h3, 10)
  output y, loss = {loss}
""",
    # A residual block: h1 reaches the add node directly and through f1.
    "residual": """
  x  = input(64)
  h1 = dense(x, n, act = {act})
  f1 = dense(h1, n, act = {act})
  h2 = add(h1, f1)
  h3 = dense(h2, n, act = {act})
  y  = dense(h3, 10)
  output y, loss = {loss}
""",
}

DEFAULT_RULES = {
    "bp": "rule bp",
    "pc": "rule pc { steps = 20, state_lr = 0.1, init = forward, fpa = false, schedule = parallel }",
    "tp": (
        "rule tp {\n  variant = dtp, target_step = 0.5\n"
        "  feedback { act = tanh, lr = 0.05, noise = 0.1, steps = 1 }\n}\ninverse mup"
    ),
}


def make_spec(
    rule: str = "bp",
    *,
    graph: str = "mlp",
    loss: str = "mse",
    act: str = "tanh",
    optim: str = "optim sgd { lr = 0.5 }",
    param: str = "param mup",
    width: str = "width n = 32, base = 16",
    train: str = "train { data = digits, batch = 64, steps = 20, seed = 0 }",
    name: str = "t",
) -> str:
    """Return spec text. `rule` is "bp", "pc", "tp" or a whole `rule ...` statement, and
    `graph` a key of GRAPHS or a graph body with `{loss}` where the loss goes."""
    rule_text = DEFAULT_RULES.get(rule, rule)
    body = GRAPHS.get(graph, graph).format(loss=loss, act=act)
    return f"spec {name}\n{width}\n\ngraph {{{body}}}\n\n{rule_text}\n{param}\n{optim}\n{train}\n"


def compile_module(source: str, path: str = "inline.lmu"):
    """Check spec text and return its generated trainer as an in-memory module."""
    return trainer_module(compile_source(source, path))


def build(source: str, width: int = 32, dtype: str = "float64", seed: int = 0, **options):
    """Compile spec text and build its trainer at `width` on the CPU."""
    return build_trainer(compile_module(source), width, dtype=dtype, seed=seed, device="cpu", **options)


def random_batch(trainer, samples: int = 8, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Return Gaussian inputs and random class labels that fit the trainer's network."""
    network = trainer.network
    generator = torch.Generator().manual_seed(seed)
    input_node = next(node for node in network.nodes if node.kind == "input")
    inputs = torch.randn(samples, input_node.size_at(network.width), generator=generator, dtype=trainer.dtype)
    classes = network.node[network.output].size_at(network.width)
    labels = torch.randint(0, classes, (samples,), generator=generator)
    return inputs, labels


def randomize_parameters(network, scale: float = 0.5, seed: int = 2) -> None:
    """Overwrite every parameter, biases and zero-initialized readouts included, with N(0, scale^2)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype) * scale)


@pytest.fixture(autouse=True)
def single_thread(request):
    """Run torch on one thread in tests not marked slow.

    The tensors in these tests are tiny, and on a machine with two cores and other load, two
    intra-op threads made a 200-step inference 30 times slower than one thread (torch 2.13,
    CPU build). Slow tests keep torch's default, which is what a user's run gets.
    """
    if request.node.get_closest_marker("slow"):
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def spec_text():
    return make_spec


@pytest.fixture
def compile_spec():
    return compile_module


@pytest.fixture
def build_spec():
    return build


@pytest.fixture
def batch_for():
    return random_batch


@pytest.fixture
def randomize():
    return randomize_parameters


@pytest.fixture
def repository() -> Path:
    return REPOSITORY


@pytest.fixture
def console_script() -> Path:
    """Path of the `localmup` entry point installed beside the running interpreter."""
    return Path(sys.executable).parent / "localmup"
