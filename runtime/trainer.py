"""Build a trainer from a generated module and run it on its data.

A generated module (see `localmup compile`) defines the network, the parameterization
constants, `parameter_groups` and the rule and optimizer settings. `build_trainer` turns it
into a `Trainer` at a given width, and `run` trains it with `loop.fit` and writes results.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import torch

from . import arguments
from . import data as datasets
from .bp import Backprop
from .errors import ConfigurationError, NonFiniteError, RunError, out_of_memory_message
from .loop import fit
from .losses import accuracy, loss_value
from .network import GraphNetwork, Scaled
from .pc import PredictiveCoding
from .tp import TargetPropagation

logger = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(name: str) -> torch.device:
    """Return the torch device for "auto", "cpu" or "cuda"; "auto" picks cuda when present."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError("device cuda requested, but torch finds no CUDA device; use --device cpu")
    if name not in ("cpu", "cuda"):
        raise ConfigurationError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def _value(setting: Any, m: float) -> Any:
    return setting.at(m) if isinstance(setting, Scaled) else setting


def make_optimizer(kind: str, groups: list[dict], settings: dict, m: float) -> torch.optim.Optimizer:
    """Return torch.optim.SGD or Adam over per-parameter groups, with width-scaled settings."""
    if kind == "sgd":
        return torch.optim.SGD(
            groups,
            lr=groups[0]["lr"] if groups else 0.0,
            momentum=_value(settings.get("momentum", 0.0), m),
            weight_decay=_value(settings.get("weight_decay", 0.0), m),
        )
    if kind == "adam":
        betas = tuple(settings.get("betas", (0.9, 0.999)))
        return torch.optim.Adam(
            groups,
            lr=groups[0]["lr"] if groups else 0.0,
            betas=betas,
            eps=_value(settings.get("eps", 1e-8), m),
            weight_decay=_value(settings.get("weight_decay", 0.0), m),
        )
    raise ConfigurationError(f"unknown optimizer {kind!r}; expected sgd or adam")


@attrs.define
class Trainer:
    """A network with its learning rule and optimizers, ready to step on batches."""

    module: ModuleType
    network: GraphNetwork
    rule: Any
    optimizer: torch.optim.Optimizer
    feedback_optimizer: torch.optim.Optimizer | None
    eta: float
    device: torch.device
    dtype: torch.dtype

    def step(self, x: torch.Tensor, labels: torch.Tensor) -> float:
        """Run one training step; return the feed-forward loss on the batch before the update.

        A non-finite loss skips the update, so the tensors that caused it stay inspectable.
        """
        loss = float(self.rule.gradients(x, labels))
        if not math.isfinite(loss):
            return loss
        self.optimizer.step()
        self.rule.after_update(x)
        return loss

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, labels: torch.Tensor, chunk: int = 4096) -> tuple[float, float]:
        """Return (mean loss, accuracy) on a whole split."""
        total_loss, total_correct = 0.0, 0.0
        for start in range(0, x.shape[0], chunk):
            xs, ys = x[start : start + chunk], labels[start : start + chunk]
            output = self.network.output_of(xs)
            total_loss += loss_value(self.module.LOSS, output, ys).item() * xs.shape[0]
            total_correct += accuracy(output, ys) * xs.shape[0]
        return total_loss / x.shape[0], total_correct / x.shape[0]

    def diagnostics(self, x: torch.Tensor, labels: torch.Tensor) -> dict:
        """Return rule-specific measurements for the metrics file (pc: inference curvature)."""
        if isinstance(self.rule, PredictiveCoding):
            return {"inference_curvature": self.rule.curvature(x, labels)}
        return {}

    def named_tensors(self, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        """List the tensors to search for the first non-finite value, in computation order:
        per node its parameters and pre-activation, then the gradients from the output down
        (the order in which backward computes them)."""
        network = self.network
        with torch.no_grad():
            forward = network.forward(x)
        tensors, gradients = [], []
        for node in network.nodes:
            for kind in ("weight", "bias", "feedback"):
                name = f"{node.name}.{kind}"
                if network.has_parameter(name):
                    parameter = network.parameter(name)
                    tensors.append((name, parameter))
                    gradients.append((f"{name} gradient", parameter.grad))
            if node.name in forward:
                label = "pre-activation" if node.kind == "dense" else "value"
                tensors.append((f"{node.name} {label}", forward[node.name]))
        return tensors + gradients[::-1]


def build_trainer(
    module: ModuleType,
    width: int,
    *,
    lr: float | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = "float32",
) -> Trainer:
    """Build the network of a generated module at `width` with its rule and optimizers.

    `lr` overrides the global learning rate eta at the base width. A width exponent of the
    spec's learning rate (`lr = 0.5 * n^-1`) is already folded into every parameter's c, so
    eta here is the value at the base width and `parameter_groups` applies m^-c.
    """
    device = device if isinstance(device, torch.device) else resolve_device(device)
    dtype = DTYPES[dtype] if isinstance(dtype, str) else dtype
    generator = torch.Generator().manual_seed(seed)
    try:
        network = module.Network(width, generator)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    network = network.to(device=device, dtype=dtype)
    m = network.m

    settings = dict(module.OPTIMIZER_SETTINGS)
    lr_setting: Scaled = settings["lr"]
    eta = lr if lr is not None else lr_setting.value
    optimizer = make_optimizer(module.OPTIMIZER, module.parameter_groups(network, eta), settings, m)

    rule_settings = module.RULE_SETTINGS
    noise_generator = torch.Generator().manual_seed(seed + 1)
    feedback_optimizer = None
    if module.RULE == "bp":
        rule = Backprop(network, module.LOSS, optimizer)
    elif module.RULE == "pc":
        rule = PredictiveCoding(
            network,
            module.LOSS,
            optimizer,
            steps=rule_settings["steps"],
            state_lr=_value(rule_settings["state_lr"], m),
            init=rule_settings["init"],
            fpa=rule_settings["fpa"],
            schedule=rule_settings["schedule"],
            update=rule_settings["update"],
            precisions={name: value.at(m) for name, value in module.PRECISIONS.items()},
            generator=noise_generator,
        )
    elif module.RULE == "tp":
        feedback = module.FEEDBACK_SETTINGS
        # As for eta, the width exponent of the feedback learning rate is in each Q's c.
        groups = module.feedback_groups(network, feedback["lr"].value)
        if groups and feedback["steps"] > 0:
            feedback_optimizer = make_optimizer(module.OPTIMIZER, groups, settings, m)
        rule = TargetPropagation(
            network,
            module.LOSS,
            optimizer,
            feedback_optimizer,
            variant=rule_settings["variant"],
            target_step=_value(rule_settings["target_step"], m),
            feedback_activation=feedback["act"],
            noise=_value(feedback["noise"], m),
            feedback_steps=feedback["steps"],
            generator=noise_generator,
        )
    else:
        raise ConfigurationError(f"unknown rule {module.RULE!r}")
    return Trainer(module, network, rule, optimizer, feedback_optimizer, eta, device, dtype)


def load_data(module: ModuleType, seed: int, dtype: torch.dtype, search_dirs=()) -> datasets.Dataset:
    """Load the module's dataset and check that it fits the graph's input and output sizes."""
    spec_path = Path(getattr(module, "SPEC_PATH", "."))
    spec_dirs = [spec_path.parent]
    module_file = getattr(module, "__file__", None)
    if module_file and not spec_path.is_absolute() and Path(module_file).exists():
        # A trainer written by `localmup compile -o` names its spec relative to itself.
        spec_dirs.insert(0, (Path(module_file).parent / spec_path).parent)
    data = module.TRAIN["data"]
    dataset = datasets.load_dataset(
        data["name"],
        seed=seed,
        dtype=dtype,
        path=data.get("path"),
        search_dirs=(*search_dirs, *spec_dirs),
        options=data.get("options", {}),
    )
    input_node = next(node for node in module.NODES if node.kind == "input")
    output_node = next(node for node in module.NODES if node.name == module.OUTPUT)
    if input_node.size_at(1) != dataset.input_dim:
        raise ConfigurationError(
            f"input `{input_node.name}` has size {input_node.size} but {dataset.name} samples have "
            f"{dataset.input_dim} features; write `{input_node.name} = input({dataset.input_dim})`",
            node=input_node.name,
        )
    if output_node.size_at(1) != dataset.classes:
        raise ConfigurationError(
            f"output `{output_node.name}` has size {output_node.size} but {dataset.name} has "
            f"{dataset.classes} classes; give the output layer size {dataset.classes}",
            node=output_node.name,
        )
    return dataset


@attrs.frozen
class RunOptions:
    """Options of one training run; None means the spec's value."""

    width: int | None = None
    steps: int | None = None
    epochs: int | None = None
    batch: int | None = None
    seed: int | None = None
    lr: float | None = None
    device: str | None = None
    dtype: str | None = None
    eval_every: int | None = None
    out: Path | None = None
    progress: bool = False


def run(module: ModuleType, options: RunOptions = RunOptions(), write=None) -> dict:
    """Train a generated module on its data; return the summary (also written to `out`).

    Raises NonFiniteError on a NaN or infinite loss, after writing a summary with status
    "diverged"; datasets.DataError when data files are missing.
    """
    train = module.TRAIN
    width = options.width or module.WIDTH
    seed = train["seed"] if options.seed is None else options.seed
    device = resolve_device(options.device or train["device"])
    dtype = DTYPES[options.dtype or train["dtype"]]
    batch = options.batch or train["batch"]

    started = time.perf_counter()
    dataset = load_data(module, seed, dtype)
    if batch > dataset.train_x.shape[0]:
        logger.warning("batch %d exceeds the %d training samples; using %d", batch, dataset.train_x.shape[0], dataset.train_x.shape[0])
        batch = dataset.train_x.shape[0]
    logger.info("%s: %d training and %d test samples, %d features, %d classes", dataset.name, dataset.train_x.shape[0],
                dataset.test_x.shape[0], dataset.input_dim, dataset.classes)
    trainer = build_trainer(module, width, lr=options.lr, seed=seed, device=device, dtype=dtype)
    logger.info("built %s at width %d on %s: %d parameters, eta %g", module.SPEC, width, device,
                sum(p.numel() for p in trainer.network.parameters()), trainer.eta)
    if options.steps is not None:
        steps = options.steps
    elif options.epochs is not None or train.get("epochs"):
        epochs = options.epochs or train["epochs"]
        steps = epochs * -(-dataset.train_x.shape[0] // batch)
    else:
        steps = train["steps"]
    eval_every = options.eval_every or train.get("eval_every") or max(1, steps // 10)

    summary = {
        "spec": module.SPEC,
        "rule": module.RULE,
        "optimizer": module.OPTIMIZER,
        "width": width,
        "lr": trainer.eta,
        "seed": seed,
        "steps": steps,
        "batch": batch,
        "data": dataset.name,
        "device": str(device),
        "dtype": str(dtype).replace("torch.", ""),
        "parameters": sum(p.numel() for p in trainer.network.parameters()),
    }
    out = options.out
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    progress_state = {"steps_completed": 0}
    try:
        result = fit(
            trainer,
            dataset,
            steps=steps,
            batch=batch,
            seed=seed,
            eval_every=eval_every,
            metrics_path=None if out is None else out / "metrics.jsonl",
            progress=options.progress,
            description=f"{module.SPEC} n={width}",
            progress_state=progress_state,
        )
        summary.update(result)
        summary["status"] = "completed"
    except NonFiniteError as error:
        summary.update(status="diverged", diverged_at=error.step, nonfinite_tensor=error.tensor)
        raise
    except KeyboardInterrupt:
        summary["status"] = "interrupted"
        raise
    finally:
        summary["total_seconds"] = time.perf_counter() - started
        if summary.get("status") != "completed":
            summary.update(progress_state)
        if out is not None:
            _write_json(out / "summary.json", summary)
    return summary


def _write_json(path: Path, document: dict) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    temporary.replace(path)


def main(module: ModuleType, argv: list[str] | None = None) -> int:
    """Command line of a generated trainer: `python trainer.py --width N --steps S --device D`."""
    parser = argparse.ArgumentParser(description=f"Train {module.SPEC} (generated by localmup).")
    parser.add_argument("--width", type=arguments.positive_int, default=None, help=f"width n (default {module.WIDTH})")
    arguments.add_run_options(parser, out_help="directory for metrics.jsonl and summary.json")
    args = parser.parse_args(argv)
    arguments.check_run_options(parser, args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    options = RunOptions(
        width=args.width,
        steps=args.steps,
        epochs=args.epochs,
        batch=args.batch,
        seed=args.seed,
        lr=args.lr,
        device=args.device,
        dtype=args.dtype,
        out=None if args.out is None else Path(args.out),
        progress=sys.stderr.isatty(),
    )
    try:
        summary = run(module, options)
    except (ConfigurationError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (RunError, datasets.DataError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except (MemoryError, RuntimeError) as error:
        message = out_of_memory_message(error)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 3
    print(
        f"{module.SPEC} n={summary['width']}: train loss {summary['train_loss']:.4f}, "
        f"test accuracy {summary['test_accuracy']:.4f}, {summary['train_seconds']:.1f} s"
    )
    return 0
