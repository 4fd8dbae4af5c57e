"""Canonical names for numbers, cells and result paths.

Every path and every NetCDF coordinate is derived from the config through these functions, so that the
value 2 written as ``2`` or ``2.0`` names the same file and the same coordinate everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import PurePosixPath

CELL_SEPARATOR = "__"


def canonical_number(value: float | int) -> int | float:
    """Integral values become ``int``; everything else a ``float`` (bit-identical across readers)."""
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got the boolean {value!r}")
    if isinstance(value, int):
        return value
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"grid values must be finite, got {value!r}")
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def format_number(value: float | int) -> str:
    """Shortest text that reads back to the same number: 2 and 2.0 both give '2', 1e-3 gives '0.001'."""
    return repr(canonical_number(value))


def cell_id(axes: Mapping[str, float | int]) -> str:
    """File stem of one grid cell, axes in the given order: ``beta=5__n_f=1000``."""
    return CELL_SEPARATOR.join(f"{name}={format_number(value)}" for name, value in axes.items())


def parse_cell_id(text: str) -> dict[str, int | float]:
    axes: dict[str, int | float] = {}
    for part in text.split(CELL_SEPARATOR):
        name, sep, value = part.partition("=")
        if not sep or not name:
            raise ValueError(f"malformed cell id {text!r}: expected name=value parts joined by {CELL_SEPARATOR!r}")
        number = float(value)
        axes[name] = canonical_number(number)
    return axes


def study_key(model: str, problem: str) -> str:
    return f"{model}/{problem}"


def data_path(results: str, problem: str, product: str, axis: str, value: float | int) -> str:
    """One data product of a problem (a reference solution, a collocation set, a sample pool) for one axis value."""
    return str(PurePosixPath(results, "data", problem, product, f"{cell_id({axis: value})}.nc"))


def cell_path(results: str, model: str, problem: str, strategy: str, axes: Mapping[str, float | int]) -> str:
    return str(PurePosixPath(results, "cells", model, problem, strategy, f"{cell_id(axes)}.nc"))


def batch_path(results: str, model: str, problem: str, strategy: str, name: str) -> str:
    """Cells of one shape trained together (``cells_together``): every member's results in one file."""
    return str(PurePosixPath(results, "batches", model, problem, strategy, f"{name}.nc"))


def regime_path(results: str, model: str, problem: str, strategy: str) -> str:
    return str(PurePosixPath(results, "regimes", model, problem, f"{strategy}.nc"))


def comparison_path(results: str, model: str, problem: str, strategy: str, baseline: str) -> str:
    return str(PurePosixPath(results, "comparisons", model, problem, f"{strategy}_vs_{baseline}.nc"))


def figure_stem(results: str, family: str, name: str) -> str:
    """Output path of a figure without its suffix (each figure is written as PNG and PDF)."""
    return str(PurePosixPath(results, "figures", family, name))


def robustness_path(results: str, model: str, problem: str, strategy: str) -> str:
    """Robustness of one regime dataset's labels (NetCDF; the same stem with ``.csv`` holds its cell table)."""
    return str(PurePosixPath(results, "analysis", "robustness", model, problem, f"{strategy}.nc"))


def guidance_path(results: str) -> str:
    """Regime-aware guidance across every study (NetCDF; the same stem with ``.csv`` holds the table)."""
    return str(PurePosixPath(results, "analysis", "guidance.nc"))


def diagnostic_path(results: str, diagnostic: str, model: str, problem: str, strategy: str,
                    axes: Mapping[str, float | int]) -> str:
    """One diagnostic's result for one cell (``strategy`` is ``A_vs_B`` for a two-strategy diagnostic)."""
    return str(PurePosixPath(results, "diagnostics", diagnostic, model, problem, strategy, f"{cell_id(axes)}.nc"))


def diagnostic_set_path(results: str, diagnostic: str, model: str, problem: str, strategy: str) -> str:
    """One diagnostic's results combined over a study's grid, beside the regime labels."""
    return str(PurePosixPath(results, "diagnostics", diagnostic, model, problem, f"{strategy}.nc"))
