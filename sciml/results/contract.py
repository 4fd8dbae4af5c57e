"""The data contract of every kind of result file (docs/DATA.md), checked when a file is read.

One :class:`Contract` per kind of file: the variables it must hold, their dimensions (after the study's
axes, which every file but a data product carries first) and their dtypes, and the attributes its readers
use. :func:`violations` lists what a dataset lacks; :func:`sciml.results.store.read_netcdf` raises
:class:`~sciml.results.store.ResultFileError` naming the file and each problem, so a file missing ``train_loss``
fails where it is read instead of turning into a NaN and a confident label downstream.

The kind of a file is told by its attributes (:func:`detect`): every job writes its spec as ``config``,
and the code building each kind sets attributes only that kind has.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import xarray as xr

#: dtype kinds (numpy ``dtype.kind``) and how a message names them
FLOAT, INT, NUMBER, FLAG, TEXT = "f", "i", "fiu", "bi", "USO"
KIND_WORDS = {FLOAT: "floating point", INT: "integer", NUMBER: "numeric", FLAG: "boolean or integer",
              TEXT: "string", "fi": "numeric"}

#: kinds of result file, as :func:`detect` names them
DATA, CELL, REGIMES, COMPARISON, ROBUSTNESS, GUIDANCE = ("data product", "cell file", "regime dataset",
                                                        "comparison", "robustness dataset", "guidance table")
DIAGNOSTIC, DIAGNOSTIC_SET = "diagnostic", "combined diagnostic"
KINDS = (DATA, CELL, REGIMES, COMPARISON, ROBUSTNESS, GUIDANCE, DIAGNOSTIC, DIAGNOSTIC_SET)


@dataclass(frozen=True)
class Var:
    """A variable: its dimensions after the axes, its dtype kinds, and whether it carries the axes at all."""

    dims: tuple[str, ...] = ()
    dtype: str = NUMBER
    axes: bool = True


@dataclass(frozen=True)
class Contract:
    variables: Mapping[str, Var]
    attrs: tuple[str, ...] = ()
    #: prefixes of variable families (``loss_<term>``): checked wherever they occur, at least one required
    families: Mapping[str, Var] = field(default_factory=dict)
    required_families: tuple[str, ...] = ()


def _vars(dims: tuple[str, ...], names, dtype: str = NUMBER, axes: bool = True) -> dict[str, Var]:
    return {name: Var(dims, dtype, axes) for name in (names.split() if isinstance(names, str) else names)}


SEED, SEED_STEP = ("seed",), ("seed", "step")
CELL_CONTRACT = Contract(
    variables={
        **_vars(SEED, "train_loss test_error wall_time", FLOAT),
        "status": Var(SEED, INT),
        "stop_step": Var(SEED, INT),
        **_vars(SEED_STEP, "history_train_loss history_test_error", FLOAT),
        "params": Var(("seed", "param"), "f"),
        "snapshot_params": Var(("seed", "snapshot", "param"), FLOAT),
        "seed": Var(SEED, INT, axes=False),
        "step": Var(("step",), INT, axes=False),
        "snapshot_step": Var(("snapshot",), INT, axes=False),
    },
    attrs=("config",),
    families={"loss_": Var(SEED, FLOAT), "history_loss_": Var(SEED_STEP, FLOAT), "strategy_": Var(SEED, NUMBER)},
    required_families=("loss_", "history_loss_"),
)

AXES_ATTRS = ("model", "problem", "strategy", "axes")
THRESHOLD_ATTRS = ("threshold_train_loss", "threshold_test_error", "smoothing_sigma")
REGIME_VARIABLES = {
    **_vars((), "train_loss_mean test_error_mean", FLOAT),
    **_vars((), "n_seeds n_seeds_ok regime", INT),
}
REGIMES_CONTRACT = Contract(
    variables={
        **_vars(SEED, "train_loss test_error", FLOAT),
        "status": Var(SEED, "fi"),  # float where a missing cell is NaN
        **REGIME_VARIABLES,
    },
    attrs=(*AXES_ATTRS, *THRESHOLD_ATTRS),
)

COMPARISON_CONTRACT = Contract(
    variables={
        "n_pairs": Var((), INT),
        **{f"{metric}_{name}": Var((), FLOAT) for metric in ("train_loss", "test_error")
           for name in ("relative_improvement", "share_improved", "p_value")},
        **{f"{metric}_significant": Var((), FLAG) for metric in ("train_loss", "test_error")},
    },
    attrs=(*AXES_ATTRS, "baseline", "min_attainable_p_value"),
)

GRID_ONLY = ("factor_train_loss", "factor_test_error")
ROBUSTNESS_CONTRACT = Contract(
    variables={
        "regime": Var((), INT),
        "threshold_regime": Var(GRID_ONLY, INT),
        "threshold_share_changed": Var(GRID_ONLY, FLOAT, axes=False),
        "smoothed_regime": Var(("sigma",), INT),
        "smoothing_share_changed": Var(("sigma",), FLOAT, axes=False),
        "bootstrap_regime_share": Var(("regime_label",), FLOAT),
        "confidence": Var((), FLOAT),
        "regime_confidence": Var(("regime_label",), FLOAT, axes=False),
        "bootstrap_share_changed": Var(("replicate",), FLOAT, axes=False),
    },
    attrs=(*AXES_ATTRS, *THRESHOLD_ATTRS, "n_seeds", "bootstrap_resamples", "bootstrap_exact"),
)

ROW = ("row",)
GUIDANCE_CONTRACT = Contract(
    variables={
        **_vars(ROW, "family model problem problems strategy baseline regime metric verdict", TEXT, axes=False),
        **_vars(ROW, "n_cells n_pairs cells_better cells_worse", INT, axes=False),
        **_vars(ROW, "median_log10_ratio fold_improvement median_relative_improvement share_pairs_improved "
                     "p_value p_holm", FLOAT, axes=False),
        **_vars(ROW, "significant recommended", FLAG, axes=False),
    },
    attrs=("significance", "min_fold_improvement"),
)

#: a diagnostic's own variables, per diagnostic kind (docs/DATA.md, "Diagnostic datasets")
SNAP = ("seed", "snapshot")
DIAGNOSTIC_VARIABLES: dict[str, dict[str, Var]] = {
    "curvature": _vars(SNAP, "lambda_max lambda_min largest_magnitude trace trace_standard_error loss test_error "
                             "lambda_max_converged lambda_min_converged largest_magnitude_converged eigen_converged "
                             "trace_converged trace_probes matvecs seconds"),
    "density": {**_vars((*SNAP, "run", "node"), "slq_nodes slq_weights"), "slq_steps": Var((*SNAP, "run")),
                **_vars(SNAP, "loss seconds")},
    "landscape": {"surface_loss": Var(("seed", "direction", "a", "b")),
                  "direction_eigenvalue": Var(("seed", "direction", "axis")),
                  "seconds": Var(("seed", "direction")), "span": Var(("direction",))},
    "connectivity": {**_vars(("seed", "path", "t"), "path_loss path_test_error"),
                     **_vars(("seed", "path"), "mc t_star seconds"), "endpoint_cka": Var(SEED)},
    "similarity": {"cka": Var(("seed", "seed_other")), "cka_mean": Var(())},
    "tail_alpha": {"step_length": Var(("seed", "learning_rate", "extra_step")),
                   **_vars(("seed", "learning_rate"), "alpha alpha_standard_error x_min n_tail ks_distance seconds")},
}
#: the regime dataset's per-cell numbers a combined diagnostic carries (sciml/diagnostic_jobs/combine.py)
DIAGNOSTIC_SET_VARIABLES = {**_vars((), "train_loss_mean test_error_mean", FLOAT),
                            **_vars((), "n_seeds n_seeds_ok regime", "fi")}

#: a data product's variables, per product; `pool` also per problem
DATA_VARIABLES: dict[str, dict[str, Var]] = {
    "reference": {"u": Var(("t", "x"), FLOAT, axes=False)},
    "collocation": _vars(("point",), "x t", FLOAT, axes=False),
    "trajectory": {"train_state": Var(("train_time", "component"), FLOAT, axes=False),
                   "test_state": Var(("test_time", "component"), FLOAT, axes=False)},
    "train": {"image": Var(("sample", "pixel"), FLOAT, axes=False), "label": Var(("sample",), INT, axes=False)},
    "test": {"image": Var(("sample", "pixel"), FLOAT, axes=False), "label": Var(("sample",), INT, axes=False)},
}
FIELD, PER_SAMPLE = ("sample", "x", "y"), ("sample",)
POOL_VARIABLES: dict[str, dict[str, Var]] = {
    "poisson": {**_vars(FIELD, "f u", FLOAT, axes=False), **_vars(PER_SAMPLE, "angle eigenvalue", FLOAT, axes=False)},
    "advection_diffusion": {
        **_vars(FIELD, "f u", FLOAT, axes=False),
        **_vars(PER_SAMPLE, "angle eigenvalue velocity_angle advection_ratio advection_weight draws", NUMBER,
                axes=False)},
    "darcy": _vars(FIELD, "grf a u", FLOAT, axes=False),
}


def job_spec(ds: xr.Dataset) -> dict[str, Any]:
    """The spec of the job that wrote the file (its ``config`` attribute), or {} if it has none."""
    try:
        spec = json.loads(ds.attrs.get("config", "{}"))
    except (TypeError, ValueError):
        return {}
    return spec if isinstance(spec, dict) else {}


def detect(ds: xr.Dataset) -> str | None:
    """The kind of result file ``ds`` is, from its attributes; None if nothing says."""
    attrs, spec = ds.attrs, job_spec(ds)
    if "product" in attrs or "product" in spec:
        return DATA
    if "diagnostic" in attrs or "flags" in spec:
        return DIAGNOSTIC_SET
    if "diagnostic" in spec:
        return DIAGNOSTIC
    if spec.get("analysis") == "robustness" or "bootstrap_resamples" in attrs:
        return ROBUSTNESS
    if spec.get("analysis") == "guidance" or "regime_of_a_cell" in attrs:
        return GUIDANCE
    if "baseline" in attrs or ("baseline" in spec and "significance" in spec):
        return COMPARISON
    if "thresholds" in spec or "threshold_train_loss" in attrs:
        return REGIMES
    if "strategy_settings" in spec or "seed_batching" in attrs:
        return CELL
    return None


def contract_of(ds: xr.Dataset, kind: str) -> Contract:
    """The contract of ``kind``; data products and diagnostics also depend on which product / diagnostic."""
    if kind == DATA:
        product = ds.attrs.get("product", job_spec(ds).get("product"))
        if product == "pool":
            problem = ds.attrs.get("problem", job_spec(ds).get("problem"))
            return Contract(POOL_VARIABLES.get(problem, {"u": Var(FIELD, FLOAT, axes=False)}),
                            attrs=("product", "channels"))
        return Contract(DATA_VARIABLES.get(product, {}), attrs=("product",))
    if kind in (DIAGNOSTIC, DIAGNOSTIC_SET):
        which = ds.attrs.get("kind", job_spec(ds).get("kind"))
        variables = dict(DIAGNOSTIC_VARIABLES.get(which, {}))
        if kind == DIAGNOSTIC_SET:
            variables.update(DIAGNOSTIC_SET_VARIABLES)
            return Contract(variables, attrs=(*AXES_ATTRS, "diagnostic", "kind", *THRESHOLD_ATTRS))
        return Contract(variables, attrs=("config",))
    return {CELL: CELL_CONTRACT, REGIMES: REGIMES_CONTRACT, COMPARISON: COMPARISON_CONTRACT,
            ROBUSTNESS: ROBUSTNESS_CONTRACT, GUIDANCE: GUIDANCE_CONTRACT}[kind]


def axes_of(ds: xr.Dataset, kind: str, contract: Contract) -> list[str]:
    """The study axes the file's variables carry first: from its ``axes`` attribute, its spec, or the
    dimensions no variable of the contract names."""
    if kind == DATA:
        return []
    if isinstance(ds.attrs.get("axes"), str):
        return ds.attrs["axes"].split()
    axes = job_spec(ds).get("axes")
    if isinstance(axes, Mapping):
        return list(axes)
    own = {dim for var in [*contract.variables.values(), *contract.families.values()] for dim in var.dims}
    return [dim for dim in ds.dims if dim not in own]


def violations(ds: xr.Dataset, kind: str) -> list[str]:
    """What ``ds`` lacks or has wrong for the contract of ``kind``: one phrase per problem."""
    contract = contract_of(ds, kind)
    problems = [f"attribute {name!r} is missing" for name in contract.attrs if name not in ds.attrs]
    axes = axes_of(ds, kind, contract)
    missing = [name for name in contract.variables if name not in ds.variables]
    if missing:
        problems.append(f"missing variable(s) {', '.join(missing)}")
    for prefix in contract.required_families:
        if not any(str(name).startswith(prefix) for name in ds.data_vars):
            problems.append(f"no {prefix}<term> variable")
    expected = {name: var for name, var in contract.variables.items() if name in ds.variables}
    for prefix, var in contract.families.items():
        expected.update({str(name): var for name in ds.data_vars
                         if str(name).startswith(prefix) and str(name) not in expected})
    for name, var in expected.items():
        have = ds[name]
        dims = (*axes, *var.dims) if var.axes else var.dims
        if set(have.dims) != set(dims):
            problems.append(f"{name} has dimensions {tuple(have.dims)}, expected {dims}")
        if have.dtype.kind not in var.dtype:
            problems.append(f"{name} is {have.dtype}, expected {KIND_WORDS.get(var.dtype, var.dtype)}")
    return problems


def describe(kind: str, ds: xr.Dataset) -> str:
    """The kind of file in words, with its product or diagnostic kind where that decides the contract."""
    if kind == DATA:
        return f"data product {ds.attrs.get('product', job_spec(ds).get('product', '?'))!r}"
    if kind in (DIAGNOSTIC, DIAGNOSTIC_SET):
        return f"{kind} ({ds.attrs.get('kind', job_spec(ds).get('kind', '?'))})"
    return kind
