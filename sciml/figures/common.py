"""Shared figure plumbing: headless backend, one style, PNG + PDF output without timestamps."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are written by batch jobs without a display

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from sciml.atomic import atomic_path  # noqa: E402

sns.set_theme(context="paper", style="white")


def save(figure: plt.Figure, stem: str | Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf``, each atomically (a killed job leaves no figure that looks complete);
    metadata without dates keeps reruns byte-stable."""
    stem = Path(stem)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    options = [{"format": "png", "dpi": 150, "metadata": {"Software": None}},
               {"format": "pdf", "metadata": {"CreationDate": None, "Creator": None, "Producer": None}}]
    for path, option in zip(paths, options):
        with atomic_path(path) as temporary:
            figure.savefig(temporary, bbox_inches="tight", **option)
    plt.close(figure)
    return paths


def tick_labels(values) -> list[str]:
    return [f"{v:g}" for v in values]
