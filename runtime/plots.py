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
    figure.suptitle(title + "  (points: measured mean, bars: seed range, dashed: predicted slope)", fontsize=10)
    figure.tight_layout(rect=(0, 0, 0.9, 1))
    figure.savefig(path, dpi=120)
    plt.close(figure)
