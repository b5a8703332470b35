"""Tumour volume found against the reference, per volume: a scatter on log axes and a
Bland-Altman plot of the relative difference (Bland & Altman 1999, for measurements whose
spread grows with their size)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from livseg.viz.figures import new_figure, save_figure

#: Found volumes below this (ml) are drawn at it on the log axis (a missed tumour is 0 ml).
FLOOR_ML = 0.01


def volume_agreement_figure(rows: list[dict], path: Path, title: str) -> Path | None:
    """Draw the benchmark ``rows`` that hold tumour (``tumour_ml_reference`` > 0) to
    ``path``; None (nothing drawn) when none does."""
    rows = [row for row in rows if row["tumour_ml_reference"] > 0]
    if not rows:
        return None
    reference = np.array([row["tumour_ml_reference"] for row in rows], float)
    found = np.array([row["tumour_ml"] for row in rows], float)
    figure = new_figure((10, 4.4))
    scatter, agreement = figure.subplots(1, 2)
    shown = np.maximum(found, FLOOR_ML)
    scatter.scatter(reference, shown, s=18, color="tab:red")
    for row, x, y in zip(rows, reference, shown, strict=True):
        scatter.annotate(row["case"], (x, y), fontsize=6, xytext=(3, 2),
                         textcoords="offset points")
    low = min(reference.min(), shown.min()) / 2
    high = max(reference.max(), shown.max()) * 2
    scatter.plot([low, high], [low, high], "k--", linewidth=0.8, label="equal")
    scatter.set(xscale="log", yscale="log", xlim=(low, high), ylim=(low, high),
                xlabel="reference tumour volume (ml)", ylabel="found tumour volume (ml)",
                title="found against reference")
    scatter.legend(loc="upper left", fontsize=7)
    mean = (found + reference) / 2
    difference = 100 * (found - reference) / mean  # % of the pair's mean, in [-200, 200]
    bias = float(difference.mean())
    spread = 1.96 * float(difference.std(ddof=1)) if len(rows) > 1 else 0.0
    agreement.scatter(mean, difference, s=18, color="tab:red")
    for level, style, label in ((bias, "-", "mean"), (bias + spread, "--", "+1.96 SD"),
                                (bias - spread, "--", "-1.96 SD")):
        agreement.axhline(level, color="k", linestyle=style, linewidth=0.8,
                          label=f"{label} {level:+.0f} %")
    agreement.axhline(0, color="0.6", linewidth=0.6)
    agreement.set(xscale="log", ylim=(-210, 210), xlabel="mean of found and reference (ml)",
                  ylabel="(found - reference) / mean (%)", title="Bland-Altman")
    agreement.legend(loc="lower right", fontsize=7)
    figure.suptitle(title)
    return save_figure(figure, path)
