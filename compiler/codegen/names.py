"""Python identifiers and literals for generated code."""

from __future__ import annotations

import keyword
import math
from fractions import Fraction


class ConstantNames:
    """Allocate unique upper-case constant names: nodes `h1` and `H1` get H1_WEIGHT, H1_WEIGHT_2."""

    def __init__(self, taken: set[str] = frozenset()):
        self.taken = set(taken)

    def allocate(self, *parts: str) -> str:
        base = "_".join(p.upper() for p in parts).lstrip("_") or "CONSTANT"
        if base[0].isdigit() or keyword.iskeyword(base):
            base = "P_" + base
        name, counter = base, 2
        while name in self.taken:
            name = f"{base}_{counter}"
            counter += 1
        self.taken.add(name)
        return name


def mangled(attribute: str) -> bool:
    """Return whether `self.<attribute>` would be name-mangled inside a class body."""
    return attribute.startswith("__") and not attribute.endswith("__")


def exponent_literal(value) -> str:
    """Write an exponent as a Python expression: 0, -1, 0.5, 1 / 3, or float("inf")."""
    if value == math.inf:
        return 'float("inf")'
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    denominator = value.denominator
    while denominator % 2 == 0:
        denominator //= 2
    while denominator % 5 == 0:
        denominator //= 5
    if denominator == 1:
        return repr(float(value))
    return f"{value.numerator} / {value.denominator}"


def number_literal(value) -> str:
    """Write a base-width constant as a float literal (exact for decimals as written)."""
    return repr(float(value))
