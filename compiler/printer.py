"""Print a syntax tree back as spec text.

The output is canonical (one statement per line, blocks on one line, single spaces) and
parses back to an equal tree: `parse(print_spec(tree)) == tree` up to spans.
"""

from __future__ import annotations

from . import ast


def print_value(value: ast.Value) -> str:
    """Return the source spelling of a value."""
    match value:
        case ast.Number(text=text):
            return text
        case ast.Rational(numerator=p, denominator=q):
            return f"{p}/{q}"
        case ast.Scaled(coefficient=coefficient, exponent=exponent):
            if isinstance(exponent, ast.Rational):
                power = f"({print_value(exponent)})"
            else:
                power = print_value(exponent)
            return f"{print_value(coefficient)} * n^{power}"
        case ast.Dimension(multiple=1, divisor=1):
            return "n"
        case ast.Dimension(multiple=k, divisor=1):
            return f"{k}*n"
        case ast.Dimension(multiple=1, divisor=k):
            return f"n/{k}"
        case ast.Inf(negative=negative):
            return "-inf" if negative else "inf"
        case ast.ListValue(items=items):
            return "[" + ", ".join(print_value(v) for v in items) + "]"
        case ast.Pow2Range(base=base, low=low, high=high):
            return f"{base}^[{low}..{high}]"
        case ast.TupleValue(items=items):
            return "(" + ", ".join(print_value(v) for v in items) + ")"
        case ast.Bool(value=flag):
            return "true" if flag else "false"
        case ast.String(value=text):
            return f'"{text}"'
        case ast.Name(name=name):
            return name
        case ast.Call(func=func, arguments=arguments):
            return f"{func}(" + ", ".join(_print_argument(a) for a in arguments) + ")"
    raise TypeError(f"not a spec value: {value!r}")


def _print_argument(argument) -> str:
    if isinstance(argument, ast.KeyValue):
        return _print_key_value(argument)
    return print_value(argument)


def _print_key_value(item: ast.KeyValue) -> str:
    return f"{item.key} = {print_value(item.value)}"


def _print_block_item(item: ast.BlockItem) -> str:
    match item:
        case ast.KeyValue():
            return _print_key_value(item)
        case ast.NamedValue(key=key, target=target, value=value):
            return f"{key} {target} = {print_value(value)}"
        case ast.SubBlock(name=name, items=items):
            return f"{name} {_print_block(items)}"
    raise TypeError(f"not a block item: {item!r}")


def _print_block(items) -> str:
    if not items:
        return "{ }"
    return "{ " + ", ".join(_print_block_item(i) for i in items) + " }"


def _print_target(target: ast.Target) -> str:
    return target.node if target.suffix is None else f"{target.node}.{target.suffix}"


def print_statement(statement: ast.Statement) -> str:
    """Return one statement as spec text (a graph spans several lines)."""
    match statement:
        case ast.SpecStmt(name=name):
            return f"spec {name}"
        case ast.WidthStmt(default=default, options=options):
            return ", ".join([f"width n = {print_value(default)}"] + [_print_key_value(o) for o in options])
        case ast.GraphStmt(items=items):
            lines = ["graph {"]
            for item in items:
                if isinstance(item, ast.Binding):
                    lines.append(f"  {item.name} = {print_value(item.call)}")
                else:
                    parts = [f"output {item.name}"] + [_print_key_value(o) for o in item.options]
                    lines.append("  " + ", ".join(parts))
            lines.append("}")
            return "\n".join(lines)
        case ast.RuleStmt(name=name, items=items):
            return f"rule {name}" if items is None else f"rule {name} {_print_block(items)}"
        case ast.ParamPreset(preset=preset, feedback=feedback):
            return f"{'inverse' if feedback else 'param'} {preset}"
        case ast.ParamOverride(target=target, items=items, feedback=feedback):
            keyword = "inverse" if feedback else "param"
            return f"{keyword} {_print_target(target)}: " + ", ".join(_print_key_value(i) for i in items)
        case ast.OptimStmt(name=name, items=items):
            return f"optim {name}" if items is None else f"optim {name} {_print_block(items)}"
        case ast.BlockStmt(keyword=keyword, items=items):
            return f"{keyword} {_print_block(items)}"
    raise TypeError(f"not a statement: {statement!r}")


def print_spec(spec: ast.Spec) -> str:
    """Return the whole spec as text, one statement per line."""
    return "".join(print_statement(s) + "\n" for s in spec.statements)
