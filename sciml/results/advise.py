"""``sciml advise``: the regime a model is in and the strategy the stored evidence recommends there.

The regime of a grid cell is read from its regime dataset; a measured (loss, error) pair is labelled with that
dataset's thresholds. The recommendation comes from the guidance table (sciml/results/guidance.py): the significant
strategy with the largest median improvement, at least MIN_FOLD_IMPROVEMENT, in that regime on this model and
problem, else the evidence pooled across problems, and says plainly when there is none.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sciml import naming
from sciml.errors import ConfigError
from sciml.results.contract import COMPARISON, GUIDANCE, REGIMES, ROBUSTNESS
from sciml.results.guidance import (
    ALL_PROBLEMS,
    FAMILY_ACROSS,
    FAMILY_PROBLEM,
    MIN_FOLD_IMPROVEMENT,
    SMALL_IMPROVEMENT,
    read_table,
)
from sciml.results.regimes import REGIME_NAMES, label
from sciml.results.store import read_netcdf

DESCRIPTIONS = {"I": "well-trained", "II": "under-trained", "III": "over-trained"}
METRIC_WORDS = {"test_error": "test error", "train_loss": "training loss"}


def parse_cell(parts: list[str]) -> dict[str, float]:
    cell = {}
    for part in parts:
        name, sep, value = part.partition("=")
        try:
            cell[name] = float(naming.canonical_number(float(value)))
        except ValueError:
            sep = ""
        if not sep or not name:
            raise ConfigError(f"--cell: expected AXIS=VALUE, got {part!r}")
    return cell


def load_guidance(results: str) -> pd.DataFrame | None:
    path = naming.guidance_path(results)
    return read_table(read_netcdf(path, GUIDANCE)) if Path(path).exists() else None


def regime_dataset_path(results: str, model: str, problem: str, strategy: str | None,
                        table: pd.DataFrame | None) -> str:
    """The regime dataset to label with: the given strategy's, else the guidance baseline's, else the only one."""
    if strategy is None and table is not None:
        baselines = table[(table["model"] == model) & (table["problem"] == problem)]["baseline"].unique()
        if len(baselines) == 1:
            strategy = str(baselines[0])
    folder = Path(naming.regime_path(results, model, problem, "x")).parent
    if strategy is None:
        found = sorted(path.stem for path in folder.glob("*.nc"))
        if len(found) != 1:
            raise ConfigError(f"{folder}: give --strategy, one of {found}" if found else
                              f"{folder}: no regime datasets for model {model!r} on problem {problem!r}")
        strategy = found[0]
    return naming.regime_path(results, model, problem, strategy)


def advise(results: str, model: str, problem: str, strategy: str | None, metric: str, *,
           cell: Mapping[str, float] | None = None, measured: tuple[float, float] | None = None) -> str:
    table = load_guidance(results)
    path = regime_dataset_path(results, model, problem, strategy, table)
    ds = read_netcdf(path, REGIMES)
    strategy = ds.attrs["strategy"]
    lines = [f"{model} / {problem}, labelled with {strategy} (tau_L = {ds.attrs['threshold_train_loss']:g}, "
             f"tau_E = {ds.attrs['threshold_test_error']:g}; {path})"]
    robustness_file = naming.robustness_path(results, model, problem, strategy)
    robust = read_netcdf(robustness_file, ROBUSTNESS) if Path(robustness_file).exists() else None
    if cell is not None:
        regime = _place_cell(ds, cell, robust, robustness_file, lines)
    else:
        regime = _place_measurement(ds, *measured, robust, lines)
    lines += _recommend(table, results, model, problem, strategy, regime, metric, cell)
    return "\n".join(lines)


def _place_cell(ds: xr.Dataset, cell: Mapping[str, float], robust: xr.Dataset | None, robustness_file: str,
                lines: list[str]) -> str:
    axes = ds.attrs["axes"].split()
    if sorted(cell) != sorted(axes):
        raise ConfigError(f"--cell: the grid's axes are {axes}, got {sorted(cell)}")
    for axis in axes:
        if cell[axis] not in ds[axis].values:
            raise ConfigError(f"--cell: {axis}={cell[axis]:g} is not in the grid; {axis} is one of "
                              f"{[float(v) for v in ds[axis].values]}")
    at = ds.sel({axis: cell[axis] for axis in axes})
    regime = REGIME_NAMES[int(at["regime"])]
    name = " ".join(f"{axis}={cell[axis]:g}" for axis in axes)
    lines.append(f"cell {name}: regime {regime} ({DESCRIPTIONS[regime]}); seed means: training loss "
                 f"{float(at['train_loss_mean']):.3g}, test error {float(at['test_error_mean']):.3g} "
                 f"({int(at['n_seeds_ok'])} of {int(at['n_seeds'])} seeds finished)")
    if robust is None:
        lines.append(f"confidence: unknown (no robustness analysis at {robustness_file}; run snakemake)")
        return regime
    here = robust.sel({axis: cell[axis] for axis in axes})
    resamples = int(robust.attrs["bootstrap_resamples"])
    resamples_text = f"all {resamples}" if robust.attrs["bootstrap_exact"] else f"{resamples} random"
    n_seeds = int(robust.attrs["n_seeds"])
    text = (f"confidence: {float(here['confidence']):.2f}, the share of {resamples_text} resamples of the "
            f"{n_seeds} seeds that keep this label")
    if n_seeds < 2:
        text += " (one seed: seed variability cannot be measured)"
    changed = (here["threshold_regime"] != here["regime"]).values
    factors = robust["factor_train_loss"].values
    lines.append(text)
    lines.append(f"thresholds: the label holds under {int((~changed).sum())} of {changed.size} scalings of "
                 f"(tau_L, tau_E) by factors {factors.min():g} to {factors.max():g}")
    return regime


def _place_measurement(ds: xr.Dataset, loss: float, error: float, robust: xr.Dataset | None,
                       lines: list[str]) -> str:
    tau_loss, tau_error = float(ds.attrs["threshold_train_loss"]), float(ds.attrs["threshold_test_error"])
    regime = REGIME_NAMES[int(label(np.array([loss]), np.array([error]), tau_loss, tau_error)[0])]
    lines.append(f"measured training loss {loss:.3g}, test error {error:.3g}: regime {regime} ({DESCRIPTIONS[regime]})")
    loss_margin, error_margin = np.log10(loss / tau_loss), np.log10(error / tau_error)
    lines.append(f"margins: the loss is {abs(loss_margin):.2f} decades {'above' if loss_margin > 0 else 'below'} "
                 f"tau_L, the error {abs(error_margin):.2f} decades {'above' if error_margin > 0 else 'below'} tau_E "
                 "(a single measurement has no seed-resampling confidence)")
    if robust is not None:
        per_regime = robust["regime_confidence"].sel(regime_label=int(_code(regime)))
        if np.isfinite(per_regime):
            lines.append(f"cells of this study labelled {regime} keep their label in {float(per_regime):.2f} of "
                         "seed resamples on average")
    return regime


def _code(regime: str) -> int:
    return next(code for code, name in REGIME_NAMES.items() if name == regime)


def _recommend(table: pd.DataFrame | None, results: str, model: str, problem: str, strategy: str, regime: str,
               metric: str, cell: Mapping[str, float] | None) -> list[str]:
    words = METRIC_WORDS[metric]
    if table is None:
        return [f"recommendation: no evidence (no guidance table at {naming.guidance_path(results)}: no study "
                "compares strategies with a baseline, or snakemake has not computed it)"]
    select = (table["model"] == model) & (table["regime"] == regime) & (table["metric"] == metric)
    rows = table[select & (table["family"] == FAMILY_PROBLEM) & (table["problem"] == problem)]
    lines = []
    if len(rows):
        baseline = rows["baseline"].iloc[0]
        note = "" if baseline == strategy else f" (guidance regimes are {baseline}'s labels; this one is {strategy}'s)"
        lines.append(f"evidence on {model} / {problem}, cells where {baseline} is in regime {regime}{note}:")
        found = _evidence(rows, baseline, regime, words, lines)
        if found is not None:
            if cell is not None:
                lines.append(_at_cell(results, model, problem, found, baseline, metric, cell))
            return lines
    else:
        lines.append(f"evidence on {model} / {problem}: none (no strategy was compared with a baseline here)")
    pooled = table[select & (table["family"] == FAMILY_ACROSS) & (table["problem"] == ALL_PROBLEMS)]
    if not len(pooled):
        lines.append("evidence across problems: none")
        return lines
    for baseline, rows in pooled.groupby("baseline"):
        lines.append(f"evidence across problems ({rows['problems'].iloc[0]}), cells where {baseline} is in "
                     f"regime {regime}:")
        _evidence(rows, baseline, regime, words, lines)
    return lines


def _evidence(rows: pd.DataFrame, baseline: str, regime: str, words: str, lines: list[str]) -> str | None:
    """Append the recommendation (or why there is none); return the recommended strategy."""
    if (rows["n_cells"] == 0).all():
        lines.append(f"  no cell is in regime {regime}: no evidence")
        return None
    chosen = rows[rows["recommended"]]
    for row in rows[rows["verdict"] == "worse"].itertuples():
        lines.append(f"  avoid {row.strategy}: {_effect(row, baseline, words)}")
    if len(chosen):
        row = next(chosen.itertuples())
        lines.append(f"  recommended: {row.strategy}: {_effect(row, baseline, words)}")
        return row.strategy
    lines.append(_why_none(rows, baseline, words))
    return None


def _why_none(rows: pd.DataFrame, baseline: str, words: str) -> str:
    """Why no strategy is recommended: its gain is significant but too small, not significant, or untested."""
    small = rows[rows["verdict"] == SMALL_IMPROVEMENT]
    if len(small):
        best = small.loc[small["median_log10_ratio"].idxmax()]
        return (f"  no strategy lowers the {words} by the practical threshold of {MIN_FOLD_IMPROVEMENT:g}x; keep "
                f"{baseline} (largest significant gain: {best['strategy']}: {_effect(best, baseline, words)})")
    tested = rows[np.isfinite(rows["median_log10_ratio"])]
    if not len(tested):
        return f"  no strategy has paired seeds here: no evidence; keep {baseline}"
    best = tested.loc[tested["median_log10_ratio"].idxmax()]
    return (f"  no strategy lowers the {words} significantly below {baseline}; keep {baseline} or add seeds "
            f"(best observed: {best['strategy']}: {_effect(best, baseline, words)})")


def _effect(row, baseline: str, words: str) -> str:
    get = row.get if isinstance(row, pd.Series) else lambda name: getattr(row, name)
    fold = get("fold_improvement")
    if fold == 1:
        change = f"median {words} the same as {baseline}'s"
    else:
        change = f"median {fold:.3g}x lower" if fold > 1 else f"median {1 / fold:.3g}x higher"
        change += f" {words} than {baseline}"
    p_holm = get("p_holm")
    p_text = f"Holm-adjusted p = {p_holm:.2g}" if np.isfinite(p_holm) else "too few pairs to test"
    cells = f"{get('n_cells')} cell" + ("s" if get("n_cells") != 1 else "")
    return (f"{change} over {get('n_pairs')} seed pairs in {cells}, "
            f"{get('share_pairs_improved'):.0%} of pairs improved, {p_text}; cells significant on their own "
            f"(BH): {get('cells_better')} better, {get('cells_worse')} worse")


def _at_cell(results: str, model: str, problem: str, strategy: str, baseline: str, metric: str,
             cell: Mapping[str, float]) -> str:
    path = naming.comparison_path(results, model, problem, strategy, baseline)
    if not Path(path).exists():
        return f"  at this cell: no comparison of {strategy} with {baseline} ({path})"
    comparison = read_netcdf(path, COMPARISON)  # a file that breaks the contract is an error, not an absence
    try:
        here = comparison.sel(dict(cell))
    except KeyError:
        return f"  at this cell: no comparison of {strategy} with {baseline} ({path})"
    return (f"  at this cell: {strategy} changes the seed-mean {METRIC_WORDS[metric]} by "
            f"{-float(here[f'{metric}_relative_improvement']):+.0%} over {int(here['n_pairs'])} seed pairs, "
            f"Wilcoxon p = {float(here[f'{metric}_p_value']):.2g} "
            f"(smallest attainable {comparison.attrs['min_attainable_p_value']:.2g})")
