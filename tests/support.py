"""What the test modules share: an indefinite quadratic with a closed form, tiny PINN cells and their specs, and
hand-made regime datasets and comparisons with exactly known labels, resamples and p-values."""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from torch import nn

from sciml import naming
from sciml.models.build import build_model
from sciml.problems import get_problem
from sciml.results.analysis import run_guidance, run_robustness
from sciml.results.compare import compare
from sciml.results.regimes import label
from sciml.results.store import write_csv, write_netcdf
from sciml.training.objective import Objective
from sciml.training.params import flatten
from sciml.training.records import STATUS_OK


class Quadratic(Objective):
    """½ θᵀAθ − cᵀθ in float64, θ = [weight (4, 5) row-major; bias (n − 20)]: two parameters of different
    shapes exercise flattening, and the weight's rows are filters for filter normalisation."""

    def __init__(self, matrix: np.ndarray, seed: int = 0):
        n = matrix.shape[0]
        rng = np.random.default_rng(seed)
        model = nn.Module()
        model.weight = nn.Parameter(torch.as_tensor(rng.standard_normal((4, 5))))
        model.bias = nn.Parameter(torch.as_tensor(rng.standard_normal(n - 20)))
        super().__init__(model)
        self.matrix = np.asarray(matrix, dtype=np.float64)
        self.linear = rng.standard_normal(n)
        self._matrix, self._linear = torch.as_tensor(self.matrix), torch.as_tensor(self.linear)

    def residuals(self):
        raise NotImplementedError("an indefinite quadratic is not a sum of squares")

    def test_error(self) -> float:
        """Stands in for a test metric: any function of the parameters that paths can be scanned with."""
        return float(flatten(self.parameters()).norm())

    def loss(self):
        theta = torch.cat([p.reshape(-1) for p in self.parameters()])
        return 0.5 * theta @ self._matrix @ theta - self._linear @ theta, {}

    def closed_form(self, theta: np.ndarray) -> float:
        return float(0.5 * theta @ self.matrix @ theta - self.linear @ theta)


def convection_data(beta: float, n_f: int, **overrides):
    """Problem settings and data products of a PINN convection cell."""
    problem = get_problem("convection")
    settings = problem.settings(overrides)
    return settings, {"reference": problem.generate("reference", settings, beta),
                      "collocation": problem.generate("collocation", settings, n_f)}


def convection_objective(model: nn.Module | None = None, *, data=None, beta: float = 5.0, n_f: int = 64,
                         hidden=(8, 8), seed: int = 0, settings=None):
    """A tiny PINN convection objective; by default a fresh [8, 8] tanh MLP initialised with ``seed``."""
    problem = get_problem("convection")
    if data is None:
        settings, data = convection_data(beta, n_f, **(settings or {}))
    settings = problem.settings(settings or {})
    if model is None:
        torch.manual_seed(seed)
        model = build_model({"architecture": "mlp", "hidden": list(hidden), "activation": "tanh"}, 2, 1)
    return problem.objective(settings, {"beta": beta, "n_f": n_f}, data, model, torch.device("cpu"))


def small_pinn_objective(name: str, seed: int = 0, coefficient: float = 3.0, n_points: int = 40):
    """A PINN objective of problem ``name`` with a [12, 12, 12] tanh MLP in float64, initialised with ``seed``."""
    problem = get_problem(name)
    settings = problem.settings()
    data = {"reference": problem.generate("reference", settings, coefficient),
            "collocation": problem.generate("collocation", settings, n_points)}
    torch.manual_seed(seed)
    model = build_model({"architecture": "mlp", "hidden": [12, 12, 12], "activation": "tanh"}, 2, 1).to(torch.float64)
    return problem.objective(settings, {problem.difficulty_axis: coefficient, problem.data_axis: n_points}, data,
                             model, torch.device("cpu"))


PINN = {"architecture": "mlp", "hidden": [50, 50, 50], "activation": "tanh", "dtype": "float32"}


def cell_spec(beta, n_f, strategy, seeds=(0,)):
    return {
        "model": "pinn", "model_settings": PINN, "problem": "convection", "problem_settings": {},
        "strategy": strategy["method"], "strategy_settings": strategy,
        "axes": {"beta": beta, "n_f": n_f}, "seeds": list(seeds),
    }


def cell_data(beta, n_f, **settings):
    problem = get_problem("convection")
    s = problem.settings(settings)
    return {"reference": problem.generate("reference", s, beta), "collocation": problem.generate("collocation", s, n_f)}


TAU_LOSS, TAU_ERROR = 1e-2, 0.1
ROBUSTNESS_SPEC = {"threshold_factors": [0.5, 1.0, 2.0], "smoothing_sigmas": [0.0, 0.7], "bootstrap_replicates": 100,
                   "bootstrap_seed": 0}
SIGNIFICANCE = 0.1


def regime_dataset(loss, error, status=None, *, axes=("beta", "n_f"), grid=((1.0, 2.0), (10.0, 20.0)),
                   model="m", problem="p1", strategy="lbfgs") -> xr.Dataset:
    """A regime dataset as sciml.results.regimes builds it: per-seed values, seed means over finished seeds, labels."""
    loss, error = np.asarray(loss, float), np.asarray(error, float)
    status = np.zeros(loss.shape, np.int8) if status is None else np.asarray(status, np.int8)
    dims = (*axes, "seed")
    ds = xr.Dataset({"train_loss": (dims, loss), "test_error": (dims, error), "status": (dims, status)},
                    coords={axes[0]: list(grid[0]), axes[1]: list(grid[1]), "seed": np.arange(loss.shape[-1])})
    ok = ds["status"] == STATUS_OK
    ds["n_seeds"] = ds["status"].notnull().sum("seed")
    ds["n_seeds_ok"] = ok.sum("seed")
    ds["train_loss_mean"] = ds["train_loss"].where(ok).mean("seed")
    ds["test_error_mean"] = ds["test_error"].where(ok).mean("seed")
    ds["regime"] = (axes, label(ds["train_loss_mean"].values, ds["test_error_mean"].values, TAU_LOSS, TAU_ERROR))
    ds.attrs.update({"model": model, "problem": problem, "strategy": strategy, "axes": " ".join(axes),
                     "threshold_train_loss": TAU_LOSS, "threshold_test_error": TAU_ERROR, "smoothing_sigma": 0.7})
    return ds


def bootstrap_study() -> xr.Dataset:
    """Two seeds on a 2 x 2 grid; the four cells and their exact bootstrap (4 draws) in tests/test_analysis.py."""
    loss = [[[1e-4, 1e-4], [1e-4, 1.0]],
            [[1e-3, 1e-3], [6e-3, np.nan]]]
    error = [[[0.01, 0.01], [0.05, 0.05]],
             [[0.3, 0.01], [0.02, np.nan]]]
    status = [[[0, 0], [0, 0]], [[0, 0], [0, 1]]]
    return regime_dataset(loss, error, status)


def guidance_studies() -> tuple[list[xr.Dataset], list[xr.Dataset]]:
    """Baseline lbfgs on problems p1 and p2 (8 seeds, grid 1 x 2); strategy a better in regime II on both,
    strategy b worse in regime II on p1; every other pair identical (log ratio 0)."""
    seeds = 8
    factors = np.arange(2.0, 2.0 + seeds)  # distinct ratios: the exact signed-rank distribution applies
    flat = np.ones(seeds)
    # p1: cell n_f=10 is II (loss 1 > tau_L), cell n_f=20 is III (loss 1e-3, error 0.5)
    p1_loss = np.array([[flat, 1e-3 * flat]])
    p1_error = np.array([[0.9 * flat, 0.5 * flat]])
    # p2: cell n_f=10 is II, cell n_f=20 is I
    p2_loss = np.array([[flat, 1e-3 * flat]])
    p2_error = np.array([[0.9 * flat, 0.01 * flat]])
    p1_grid, p2_grid = ((1.0,), (10.0, 20.0)), ((1.0,), (10.0, 20.0))
    a_p1, b_p1, a_p2 = p1_loss.copy(), p1_loss.copy(), p2_loss.copy()
    a_p1[0, 0] /= factors
    b_p1[0, 0] *= factors
    a_p2[0, 0] /= factors + seeds  # distinct from p1's ratios, so the pooled pairs have no ties either
    regimes = [
        regime_dataset(p1_loss, p1_error, grid=p1_grid, problem="p1", strategy="lbfgs"),
        regime_dataset(a_p1, p1_error, grid=p1_grid, problem="p1", strategy="a"),
        regime_dataset(b_p1, p1_error, grid=p1_grid, problem="p1", strategy="b"),
        regime_dataset(p2_loss, p2_error, grid=p2_grid, axes=("rho", "n_f"), problem="p2", strategy="lbfgs"),
        regime_dataset(a_p2, p2_error, grid=p2_grid, axes=("rho", "n_f"), problem="p2", strategy="a"),
    ]
    by_name = {(ds.attrs["problem"], ds.attrs["strategy"]): ds for ds in regimes}
    comparisons = []
    for problem, strategy in (("p1", "a"), ("p1", "b"), ("p2", "a")):
        baseline, other = by_name[problem, "lbfgs"], by_name[problem, strategy]
        spec = {"model": "m", "problem": problem, "strategy": strategy, "baseline": "lbfgs",
                "significance": SIGNIFICANCE}
        comparisons.append(compare(baseline, other, baseline.attrs["axes"].split(), spec))
    return regimes, comparisons


def write_results(root: str) -> None:
    """A results folder as the workflow leaves it: regime datasets, comparisons, robustness and guidance."""
    regimes, comparisons = guidance_studies()
    for ds in regimes:
        write_netcdf(ds, naming.regime_path(root, "m", ds.attrs["problem"], ds.attrs["strategy"]))
        robust, table = run_robustness([ds], ROBUSTNESS_SPEC)
        path = naming.robustness_path(root, "m", ds.attrs["problem"], ds.attrs["strategy"])
        write_netcdf(robust, path)
        write_csv(table, path.removesuffix(".nc") + ".csv")
    for ds in comparisons:
        write_netcdf(ds, naming.comparison_path(root, "m", ds.attrs["problem"], ds.attrs["strategy"], "lbfgs"))
    guidance, table = run_guidance([*regimes, *comparisons], {"significance": SIGNIFICANCE})
    write_netcdf(guidance, naming.guidance_path(root))
    write_csv(table, naming.guidance_path(root).removesuffix(".nc") + ".csv")
    # a problem studied with its baseline alone: no guidance of its own
    write_netcdf(bootstrap_study().assign_attrs(problem="p3"), naming.regime_path(root, "m", "p3", "lbfgs"))
