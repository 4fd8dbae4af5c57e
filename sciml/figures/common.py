"""Shared figure plumbing: headless backend, one style, PNG + PDF output without timestamps."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are written by batch jobs without a display

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib import patheffects  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from sciml.atomic import atomic_path  # noqa: E402
from sciml.results.regimes import OVER_TRAINED, REGIME_NAMES, UNDER_TRAINED, WELL_TRAINED  # noqa: E402

sns.set_theme(context="paper", style="white")

#: one colour per regime in every figure (regime maps, curvature maps, sharpening curves)
REGIME_COLOURS = {WELL_TRAINED: "tab:green", UNDER_TRAINED: "tab:red", OVER_TRAINED: "tab:orange"}
REGIME_WORDS = {WELL_TRAINED: "well-trained", UNDER_TRAINED: "under-trained", OVER_TRAINED: "over-trained"}
DAGGER_NOTE = "\u2020k/n: k of n seeds finished, the rest diverged"


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


def text_colour(rgba) -> str:
    """Black or white, whichever contrasts more with a background colour (WCAG relative luminance: the two
    contrasts are equal at luminance 0.179), so numbers stay legible on dark cells of any colormap."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3]]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "black" if luminance > 0.179 else "white"


def cell_text(ax, image, i: int, j: int, text: str, **options) -> None:
    """``text`` at cell (i, j) of ``image`` in the colour that contrasts with the cell, on a halo of the cell's
    own colour, which hides hatching under the glyphs."""
    background = image.cmap(image.norm(image.get_array()[i, j]))
    ax.text(j, i, text, ha="center", va="center", color=text_colour(background),
            path_effects=[patheffects.withStroke(linewidth=2.5, foreground=background)], **options)


def regime_label(ax, i: int, j: int, regime: int, suffix: str = "") -> None:
    """A cell's regime numeral in a box edged in the regime's colour."""
    ax.text(j, i, REGIME_NAMES[regime] + suffix, ha="center", va="center", fontsize=9, color="black",
            bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": REGIME_COLOURS[regime],
                  "linewidth": 1.5})


def regime_badge(ax, i: int, j: int, regime: int, suffix: str = "") -> None:
    """A cell's regime: its numeral (:func:`regime_label`) inside a frame of the regime's colour."""
    ax.add_patch(plt.Rectangle((j - 0.45, i - 0.45), 0.9, 0.9, fill=False, edgecolor=REGIME_COLOURS[regime],
                               linewidth=3))
    regime_label(ax, i, j, regime, suffix)


def regime_legend(figure: plt.Figure, diverged: bool = False) -> None:
    """The figure's key to the regime colours below its panels, with the dagger when some cell has one."""
    handles = [Patch(facecolor="white", edgecolor=REGIME_COLOURS[code], linewidth=3,
                     label=f"{name} {REGIME_WORDS[code]}") for code, name in REGIME_NAMES.items()]
    if diverged:
        handles.append(Line2D([], [], linestyle="none", label=DAGGER_NOTE))  # the label carries its own symbol
    figure.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
