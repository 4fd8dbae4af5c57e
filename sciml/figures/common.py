"""Shared figure plumbing: headless backend, one style, PNG + PDF output without timestamps."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are written by batch jobs without a display

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

sns.set_theme(context="paper", style="white")


def save(figure: plt.Figure, stem: str | Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf``, each atomically (a killed job leaves no figure that looks complete);
    metadata without dates keeps reruns byte-stable."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    options = [{"format": "png", "dpi": 150, "metadata": {"Software": None}},
               {"format": "pdf", "metadata": {"CreationDate": None, "Creator": None, "Producer": None}}]
    for path, option in zip(paths, options):
        temporary = path.with_name(f".{path.name}.tmp")
        try:
            figure.savefig(temporary, bbox_inches="tight", **option)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    plt.close(figure)
    return paths


def tick_labels(values) -> list[str]:
    return [f"{v:g}" for v in values]
