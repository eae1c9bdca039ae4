"""Diagnostics: one type for every message about a spec, with its source position.

A diagnostic prints as

    specs/net.lmu:7:17: error[E201]: unknown node `h3`; did you mean `h2`?
        y  = dense(h3, 10)
                   ^^

the format of C compilers, so editors and terminals can jump to the position.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import attrs

from .ast import NO_SPAN, Span

ERROR = "error"
WARNING = "warning"
NOTE = "note"


@attrs.frozen
class Diagnostic:
    """A message about a spec: severity, stable code, position and an optional fix."""

    severity: str
    code: str
    message: str
    span: Span = NO_SPAN
    fix: str | None = None
    layer: str | None = None
    condition: str | None = None

    def format(self, path: str, source: str | None) -> str:
        """Render as `path:line:col: severity[CODE]: message`, the source line and a caret."""
        if self.span.line:
            head = f"{path}:{self.span.line}:{self.span.column}: "
        else:
            head = f"{path}: "
        lines = [f"{head}{self.severity}[{self.code}]: {self.message}"]
        if source is not None and self.span.line:
            lines.extend(_source_excerpt(source, self.span))
        if self.condition:
            lines.append(f"    = because: {self.condition}")
        if self.fix:
            lines.append(f"    = fix: {self.fix}")
        return "\n".join(lines)


# Excerpts of longer lines show this many characters on each side of the caret.
EXCERPT_CONTEXT = 60


def _source_excerpt(source: str, span: Span) -> list[str]:
    source_lines = source.splitlines()
    if not 1 <= span.line <= len(source_lines):
        return []
    text = source_lines[span.line - 1].expandtabs(1)
    if span.end_line == span.line and span.end_column > span.column:
        width = span.end_column - span.column
    else:
        width = 1
    width = max(1, min(width, len(text) - span.column + 1, 2 * EXCERPT_CONTEXT))
    column = span.column
    if len(text) > 2 * EXCERPT_CONTEXT + 20:
        start = max(0, column - 1 - EXCERPT_CONTEXT)
        end = min(len(text), column - 1 + width + EXCERPT_CONTEXT)
        prefix = "..." if start > 0 else ""
        suffix = "..." if end < len(text) else ""
        text = prefix + text[start:end] + suffix
        column = column - start + len(prefix)
    return ["    " + text, "    " + " " * (column - 1) + "^" * width]


# A spec with more errors than this reports the first ones and a count of the rest.
MAX_REPORTED = 50


class SpecError(Exception):
    """Raised when a spec is invalid; carries every error found, not only the first."""

    def __init__(self, diagnostics: Sequence[Diagnostic], path: str = "<spec>", source: str | None = None):
        self.diagnostics = tuple(diagnostics)
        self.path = path
        self.source = source
        super().__init__(path)

    def __str__(self) -> str:
        return self.format()

    def format(self) -> str:
        """Render the first MAX_REPORTED diagnostics, and a count of any others."""
        shown = [d.format(self.path, self.source) for d in self.diagnostics[:MAX_REPORTED]]
        hidden = len(self.diagnostics) - MAX_REPORTED
        if hidden > 0:
            shown.append(f"{self.path}: {hidden} more errors not shown")
        return "\n".join(shown)


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return `; did you mean `x`?` for the closest candidate, or an empty string.

    Short names such as `h3` differ from `h2` in half their characters, so closeness is the
    edit distance, allowed up to a third of the name (at least 1), with difflib as fallback.
    """
    import difflib

    pool = sorted(set(candidates))
    limit = max(1, len(name) // 3)
    scored = sorted((edit_distance(name, c), c) for c in pool)
    if scored and scored[0][0] <= limit:
        best = [c for d, c in scored if d == scored[0][0]][:3]
        return "; did you mean " + " or ".join(f"`{c}`" for c in best) + "?"
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def edit_distance(first: str, second: str) -> int:
    """Return the Levenshtein distance between two strings."""
    previous = list(range(len(second) + 1))
    for i, a in enumerate(first, 1):
        current = [i]
        for j, b in enumerate(second, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1]


def one_of(options: Iterable[str]) -> str:
    """Format a closed option set for a message: `a`, `b` or `c`."""
    quoted = [f"`{o}`" for o in options]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]
