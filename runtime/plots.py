"""Plots of coordinate checks and learning-rate sweeps (matplotlib, written to files)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_coordinates(path: Path, widths, panels: list[dict], title: str) -> None:
    """Draw one log-log panel per step: measured rms per node with the predicted slope.

    Each panel is {"title": str, "series": [{"label", "values" (widths, seeds), "slope"}]};
    the predicted line passes through the measured mean at the geometric middle width, and
    series that are exactly zero are left out (they have no logarithm).
    """
    plt = _pyplot()
    columns = len(panels)
    figure, axes = plt.subplots(1, columns, figsize=(3.6 * columns, 3.4), sharey=False, squeeze=False)
    widths = np.asarray(widths, dtype=float)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, panel in zip(axes[0], panels):
        for index, series in enumerate(panel["series"]):
            values = np.asarray(series["values"], dtype=float)
            means = values.mean(axis=1)
            if not np.all(means > 0):
                continue
            color = colors[index % len(colors)]
            low, high = values.min(axis=1), values.max(axis=1)
            axis.errorbar(widths, means, yerr=[means - low, high - means], fmt="o", ms=4, color=color, label=series["label"])
            slope = series.get("slope")
            if slope is not None and math.isfinite(slope):
                center = math.exp(np.log(widths).mean())
                anchor = math.exp(np.interp(np.log(center), np.log(widths), np.log(means)))
                line = anchor * (widths / center) ** slope
                axis.plot(widths, line, "--", color=color, linewidth=1)
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_title(panel["title"], fontsize=9)
        axis.set_xlabel("width n")
    axes[0][0].set_ylabel("rms over coordinates")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, fontsize=7, loc="center right")
    figure.suptitle(title + "  (points: measured mean, bars: seed range, dashed: predicted slope with the error drift)", fontsize=10)
    figure.tight_layout(rect=(0, 0, 0.9, 1))
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_sweep(path: Path, records: list[dict], widths, lrs, title: str) -> None:
    """Draw final training loss against learning rate, one curve per width (mean over
    seeds, band from the lowest to the highest seed), diverged runs as crosses at the top."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    colors = plt.cm.viridis(np.linspace(0.1, 0.9, len(widths)))
    lrs = sorted(lrs)
    top = 0.0
    diverged_marks = []
    for width, color in zip(sorted(widths), colors):
        means, lows, highs, xs, crosses = [], [], [], [], []
        for lr in lrs:
            runs = [r for r in records if r["width"] == width and math.isclose(r["lr"], lr, rel_tol=1e-9)]
            losses = [r["train_loss"] for r in runs if not r["diverged"] and r["train_loss"] is not None]
            if any(r["diverged"] for r in runs):
                crosses.append(lr)
            if losses and len(losses) == len(runs):
                xs.append(lr)
                means.append(float(np.mean(losses)))
                lows.append(min(losses))
                highs.append(max(losses))
        if xs:
            axis.plot(xs, means, "o-", color=color, ms=3, label=f"n = {width}")
            axis.fill_between(xs, lows, highs, color=color, alpha=0.2)
            best = int(np.argmin(means))
            axis.plot([xs[best]], [means[best]], "*", color=color, ms=11, markeredgecolor="black")
            top = max(top, max(highs))
        diverged_marks.append((crosses, color))
    # Diverged runs sit above the curves, one row per width, so that no width hides another.
    for index, (crosses, color) in enumerate(diverged_marks):
        if crosses:
            height = (top if top else 1.0) * 1.3 * 1.15**index
            axis.plot(crosses, [height] * len(crosses), "x", color=color, ms=6)
    axis.set_xscale("log", base=2)
    axis.set_yscale("log")
    axis.set_xlabel("learning rate eta (at the base width)")
    axis.set_ylabel("final training loss")
    axis.set_title(title + "\n(stars: best per width; crosses: diverged)", fontsize=9)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
