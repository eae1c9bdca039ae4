"""Errors raised while running a trainer; the command line maps them to exit statuses."""

from __future__ import annotations


class RunError(Exception):
    """A run failed at run time (exit status 3)."""


class NonFiniteError(RunError):
    """Training produced a NaN or infinity; names the step and the first non-finite tensor."""

    def __init__(self, step: int, tensor: str, loss: float):
        self.step = step
        self.tensor = tensor
        self.loss = loss
        super().__init__(f"non-finite loss ({loss}) at step {step}; first non-finite tensor: {tensor}")


class ConfigurationError(Exception):
    """The trainer and its data or options do not fit together (exit status 2).

    `node` names the graph node at fault, when there is one, so that the command line can
    point at its line in the spec.
    """

    def __init__(self, message: str, node: str | None = None):
        super().__init__(message)
        self.node = node


def out_of_memory_message(error: BaseException) -> str | None:
    """Return a one-line message when `error` is a failed allocation, else None.

    torch reports a failed allocation as a RuntimeError on the CPU and as OutOfMemoryError
    (a RuntimeError) on a GPU; Python code raises MemoryError.
    """
    if isinstance(error, MemoryError):
        return "out of memory; try a smaller width or batch"
    text = str(error)
    if isinstance(error, RuntimeError) and ("alloc" in text or "out of memory" in text):
        first_line = text.splitlines()[0] if text else ""
        return f"out of memory ({first_line}); try a smaller width or batch"
    return None
