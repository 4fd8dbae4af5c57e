"""Regime-aware guidance: across every study, which strategy beats the baseline in each regime, by how much
and how surely.

A cell's regime is the one the *baseline* strategy puts it in: the advice reads "where your baseline run is
in regime X, switch to Y". Evidence per (model, problem, strategy, regime, metric) pools the paired seeds of
every cell in that regime: each pair is log10(baseline / strategy) of one seed where both runs finished
(positive: the strategy lowers the metric).

* effect: the median pair (``median_log10_ratio``; ``fold_improvement`` = 10**median), the median over cells of
  the cell's relative improvement of the seed means, and the share of pairs the strategy improved;
* test: a two-sided Wilcoxon signed-rank test of the pooled pairs (pairs from different cells are independent
  runs), Holm-adjusted within its family. Two families: every per-problem row of the table (all problems,
  strategies, regimes and metrics together), and every row pooled over the problems on which the strategy was
  compared, when there are at least two (``problem`` = ``all``);
* cells: the per-cell Wilcoxon p-values of the comparisons, Benjamini–Hochberg-adjusted over every cell of
  every comparison and both metrics; ``cells_better`` / ``cells_worse`` count the cells significant at the
  configured level with the strategy better / worse;
* ``recommended``: in each (family, model, problem, regime, metric) the row with the largest median effect among
  those significant *and* of practical size, a median fold improvement of at least ``MIN_FOLD_IMPROVEMENT``;
  a significant gain below it is the verdict ``small improvement``, never a recommendation.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from sciml.results.compare import METRICS, paired, signed_rank_test
from sciml.results.regimes import REGIME_NAMES

ALL_PROBLEMS = "all"
#: the smallest median fold improvement (baseline / strategy) worth switching strategy for. Significance alone
#: is not enough: pooled over many cells, a 1.05x median gain is "significant" yet no reason to change
#: optimiser. 1.5x (0.18 decades: the typical seed ends a third lower) is above the seed-to-seed spread of one
#: strategy (the two seeds of a smoke-study cell differ by a median 1.33x in final training loss, over its 28
#: cells of 7 strategies) and well below the decades the regime maps span (docs/PAPER.md §1).
MIN_FOLD_IMPROVEMENT = 1.5
SMALL_IMPROVEMENT = "small improvement"
FAMILY_PROBLEM, FAMILY_ACROSS = "problem", "across problems"


def _ranked(p_values: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The p-values, an all-NaN array for the adjusted ones, and the indices of the tests (finite p) in
    ascending order of p: what both corrections start from."""
    p = np.asarray(p_values, float)
    tested = np.flatnonzero(np.isfinite(p))
    return p, np.full(p.shape, np.nan), tested[np.argsort(p[tested], kind="stable")]


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error); NaN entries are not tests and stay NaN."""
    p, adjusted, order = _ranked(p_values)
    m = order.size
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini–Hochberg step-up adjusted p-values (false discovery rate); NaN entries stay NaN."""
    p, adjusted, order = _ranked(p_values)
    m = order.size
    running = 1.0
    for rank in range(m - 1, -1, -1):
        running = min(running, m * p[order[rank]] / (rank + 1))
        adjusted[order[rank]] = running
    return adjusted


def cell_evidence(regimes: Sequence[xr.Dataset], comparisons: Sequence[xr.Dataset]) -> pd.DataFrame:
    """One row per (comparison, metric, cell): the baseline's regime, the paired log ratios, the cell test."""
    by_name = {(ds.attrs["model"], ds.attrs["problem"], ds.attrs["strategy"]): ds for ds in regimes}
    rows = []
    for comparison in comparisons:
        model, problem = comparison.attrs["model"], comparison.attrs["problem"]
        strategy, baseline_name = comparison.attrs["strategy"], comparison.attrs["baseline"]
        axes = comparison.attrs["axes"].split()
        try:
            baseline, other = by_name[model, problem, baseline_name], by_name[model, problem, strategy]
        except KeyError as missing:
            raise KeyError(f"guidance: the regime dataset of {missing.args[0]} is not among the inputs") from None
        baseline, other, both_ok = paired(baseline, other)
        grid = {axis: comparison[axis].values for axis in axes}
        names = [" ".join(f"{axis}={value:g}" for axis, value in zip(axes, values))
                 for values in itertools.product(*grid.values())]  # the C order of ravel()
        regime = baseline["regime"].sel(grid).transpose(*axes).values.ravel()
        for metric in METRICS:
            ratios = np.log10(baseline[metric] / other[metric]).where(both_ok).sel(grid).transpose(*axes, "seed")
            ratios = ratios.values.reshape(len(names), -1)
            improvement = comparison[f"{metric}_relative_improvement"].transpose(*axes).values.ravel()
            p_values = comparison[f"{metric}_p_value"].transpose(*axes).values.ravel()
            for i, name in enumerate(names):
                rows.append({
                    "model": model, "problem": problem, "strategy": strategy, "baseline": baseline_name,
                    "metric": metric, "regime": REGIME_NAMES[int(regime[i])], "cell": name,
                    "relative_improvement": float(improvement[i]), "p_value": float(p_values[i]),
                    "log_ratios": ratios[i][np.isfinite(ratios[i])],
                })
    return pd.DataFrame(rows)


def summarise(group: pd.DataFrame, significance: float) -> dict[str, Any]:
    pairs = np.concatenate(list(group["log_ratios"])) if len(group) else np.empty(0)
    significant = group["p_bh"] <= significance
    return {
        "n_cells": len(group),
        "n_pairs": pairs.size,
        "median_log10_ratio": float(np.median(pairs)) if pairs.size else np.nan,
        "fold_improvement": float(10 ** np.median(pairs)) if pairs.size else np.nan,
        "median_relative_improvement": float(group["relative_improvement"].median()) if len(group) else np.nan,
        "share_pairs_improved": float(np.mean(pairs > 0)) if pairs.size else np.nan,
        **dict(zip(("p_value", "test_method"), signed_rank_test(pairs))),
        "cells_better": int((significant & (group["relative_improvement"] > 0)).sum()),
        "cells_worse": int((significant & (group["relative_improvement"] < 0)).sum()),
    }


def guidance(regimes: Sequence[xr.Dataset], comparisons: Sequence[xr.Dataset], spec: Mapping[str, Any]) -> pd.DataFrame:
    """The guidance table: one row per (family, model, problem, strategy, baseline, regime, metric)."""
    significance = float(spec["significance"])
    cells = cell_evidence(regimes, comparisons)
    if cells.empty:
        raise KeyError("guidance: no comparison cells among the inputs (does any study name a baseline?)")
    cells["p_bh"] = benjamini_hochberg(cells["p_value"])
    rows = []
    for (model, problem, strategy, baseline, metric), study in cells.groupby(
            ["model", "problem", "strategy", "baseline", "metric"], sort=True):
        for regime in REGIME_NAMES.values():
            rows.append({"family": FAMILY_PROBLEM, "model": model, "problem": problem, "problems": problem,
                         "strategy": strategy, "baseline": baseline, "regime": regime, "metric": metric,
                         **summarise(study[study["regime"] == regime], significance)})
    for (model, strategy, baseline, metric), pooled in cells.groupby(
            ["model", "strategy", "baseline", "metric"], sort=True):
        problems = sorted(pooled["problem"].unique())
        if len(problems) < 2:  # pooled over one problem: a copy of its rows, one more test to adjust for
            continue
        for regime in REGIME_NAMES.values():
            rows.append({"family": FAMILY_ACROSS, "model": model, "problem": ALL_PROBLEMS, "problems": " ".join(problems),
                         "strategy": strategy, "baseline": baseline, "regime": regime, "metric": metric,
                         **summarise(pooled[pooled["regime"] == regime], significance)})
    table = pd.DataFrame(rows)
    table["p_holm"] = np.nan
    for _, family in table.groupby("family"):
        table.loc[family.index, "p_holm"] = holm(family["p_value"])
    table["significant"] = table["p_holm"] <= significance
    table["verdict"] = [verdict(row) for row in table.itertuples()]
    table["recommended"] = False
    for _, group in table.groupby(["family", "model", "problem", "regime", "metric"]):
        winners = group[group["verdict"] == "better"]
        if len(winners):
            table.loc[winners["median_log10_ratio"].idxmax(), "recommended"] = True
    return table


def verdict(row) -> str:
    if row.n_cells == 0:
        return "no cells"
    if not np.isfinite(row.p_value):
        return "too few pairs"
    if not row.significant:
        return "not significant"
    if row.median_log10_ratio <= 0:
        return "worse"
    return "better" if row.median_log10_ratio >= np.log10(MIN_FOLD_IMPROVEMENT) else SMALL_IMPROVEMENT


def to_dataset(table: pd.DataFrame, spec: Mapping[str, Any]) -> xr.Dataset:
    """The table as NetCDF: one ``row`` dimension, booleans as int8 (NetCDF has no boolean type)."""
    columns = {name: table[name].astype(np.int8) if table[name].dtype == bool else table[name] for name in table}
    ds = xr.Dataset({name: ("row", np.asarray(values)) for name, values in columns.items()},
                    coords={"row": np.arange(len(table))})
    ds.attrs.update({
        "significance": float(spec["significance"]),
        "min_fold_improvement": MIN_FOLD_IMPROVEMENT,
        "regime_of_a_cell": "the baseline strategy's stored label",
        "pair": "log10(baseline / strategy) of one seed where both runs finished",
        "test": "two-sided Wilcoxon signed-rank over the pooled pairs, Holm-adjusted within its family",
        "cell_test": "per-cell Wilcoxon p-values, Benjamini-Hochberg-adjusted over all cells and metrics",
    })
    return ds


def read_table(ds: xr.Dataset) -> pd.DataFrame:
    """The guidance table back from its NetCDF dataset."""
    table = ds.drop_vars("row").to_dataframe().reset_index(drop=True)
    for name in ("significant", "recommended"):
        table[name] = table[name].astype(bool)
    return table
