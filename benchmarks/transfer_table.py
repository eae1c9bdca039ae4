"""Print the markdown tables of docs/transfer.md from the sweeps' summary.json files.

    python benchmarks/transfer_table.py runs/transfer
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path


def lr_text(value) -> str:
    if value is None:
        return "-"
    return f"2^{round(math.log2(value))}"


def main(root: str) -> None:
    summaries = sorted(Path(root).glob("*/summary.json"))
    widths = sorted({entry["width"] for path in summaries for entry in json.loads(path.read_text())["widths"]})
    header = "| sweep | " + " | ".join(f"n={w}" for w in widths) + " | drift (grid steps, end to end) | fitted slope [90% interval] |"
    print(header)
    print("|" + "---|" * (len(widths) + 3))
    for path in summaries:
        summary = json.loads(path.read_text())
        best = {entry["width"]: entry["best_lr"] for entry in summary["widths"]}
        drift = summary["drift"]
        if drift is None:
            drift_text, slope_text = "-", "-"
        else:
            drift_text = f"{drift['endpoint_steps']:+.0f}"
            slope, low, high = (0.0 if abs(v) < 0.005 else v for v in (drift["slope"], *drift["interval"]))
            slope_text = f"{slope:+.2f} [{low:+.2f}, {high:+.2f}]"
        cells = " | ".join(lr_text(best.get(w)) for w in widths)
        incomplete = "" if summary["complete"] else " (incomplete)"
        print(f"| {path.parent.name}{incomplete} | {cells} | {drift_text} | {slope_text} |")




def loss_table(root: str) -> None:
    """Print the final training loss at the best learning rate, per sweep and width."""
    summaries = sorted(Path(root).glob("*/summary.json"))
    widths = sorted({entry["width"] for path in summaries for entry in json.loads(path.read_text())["widths"]})
    print("| sweep | " + " | ".join(f"n={w}" for w in widths) + " |")
    print("|" + "---|" * (len(widths) + 1))
    for path in summaries:
        losses = {entry["width"]: entry["best_loss"] for entry in json.loads(path.read_text())["widths"]}
        cells = " | ".join("-" if losses.get(w) is None else f"{losses[w]:.4f}" for w in widths)
        print(f"| {path.parent.name} | {cells} |")


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else "runs/transfer"
    main(root)
    print()
    loss_table(root)
